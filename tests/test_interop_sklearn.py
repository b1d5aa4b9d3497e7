"""scikit-learn in and out: fitted MLPClassifier/MLPRegressor as an MLP and as nanomlp's own
estimators, and back, with equal outputs on real MNIST rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

import nanomlp
from nanomlp import MLP, Trainer
from nanomlp.interop.sklearn import from_sklearn, to_sklearn


def _fit(estimator, x, y):
    with warnings.catch_warnings():  # a few iterations: enough weights to compare
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y)


@pytest.fixture(scope="module")
def data(mnist):
    (x_train, y_train), (x_test, _) = mnist
    return x_train[:1500], y_train[:1500], np.ascontiguousarray(x_test[:2000])


def _task(kind, y):
    if kind == "multiclass":
        return SkClassifier, y
    if kind == "binary":
        return SkClassifier, (y >= 5).astype(int)
    if kind == "multilabel":
        return SkClassifier, np.stack([y >= 5, y % 2 == 1], axis=1).astype(int)
    return SkRegressor, np.stack([y / 9.0, (y % 2) * 1.0], axis=1)


def _sk_out(est, x):
    return est.predict_proba(x) if hasattr(est, "classes_") else est.predict(x)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_sklearn_to_nanomlp_to_sklearn(data, kind, activation):
    x, y, x_test = data
    cls, target = _task(kind, y)
    sk = _fit(
        cls(hidden_layer_sizes=(24, 12), activation=activation, max_iter=4, random_state=0),
        x,
        target,
    )
    model = MLP.from_sklearn(sk)
    assert model.activations == (("sigmoid" if activation == "logistic" else activation),) * 2
    expected = _sk_out(sk, x_test)
    # scikit-learn keeps float32 data in float32: so do its coefficients, and the model.
    assert sk.coefs_[0].dtype == model.dtype == np.float32
    trainer = Trainer(model)
    if kind == "regression":
        assert model.loss == "mse"
        ours = trainer.predict(x_test)
    else:
        ours = trainer.predict_proba(x_test)
        if kind == "binary":
            assert model.loss == "binary_cross_entropy" and model.n_outputs == 1
            ours = np.hstack([1 - ours, ours])
    assert np.abs(ours - expected).max() <= 1e-5
    back = model.to_sklearn()
    assert type(back) is cls and back.activation == activation
    assert np.array_equal(_sk_out(back, x_test), expected)  # the same coefficients, to the bit
    assert np.array_equal(back.predict(x_test), sk.predict(x_test))


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "mse", "huber"])
def test_nanomlp_to_sklearn_in_float32(data, loss):
    _, _, x_test = data
    k = 1 if loss == "binary_cross_entropy" else 10
    model = MLP((784, 32, k), activation="tanh", loss=loss, init="torch", seed=0)
    est = to_sklearn(model)
    assert est.coefs_[0].dtype == np.float32
    trainer = Trainer(model)
    if loss in ("mse", "huber"):
        diff = np.abs(est.predict(x_test) - trainer.predict(x_test)).max()
    else:
        theirs = est.predict_proba(x_test)
        ours = trainer.predict_proba(x_test)
        if k == 1:
            theirs = theirs[:, 1:]
            assert np.array_equal(est.predict(x_test), trainer.predict(x_test)[:, 0])
        else:
            assert np.array_equal(est.predict(x_test), trainer.predict(x_test))
        diff = np.abs(theirs - ours).max()
    assert diff <= 1e-5
    assert np.array_equal(from_sklearn(est).params, model.params)


def test_nanomlp_estimators_from_sklearn(data):
    x, y, x_test = data
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    sk = _fit(SkClassifier((32,), max_iter=5, random_state=0), x, names[y])
    ours = nanomlp.MLPClassifier.from_sklearn(sk)
    assert np.array_equal(ours.classes_, sk.classes_)
    assert ours.hidden_layer_sizes == (32,) and ours.n_layers_ == 3
    assert np.abs(ours.predict_proba(x_test) - sk.predict_proba(x_test)).max() <= 1e-5
    assert (ours.predict(x_test) == sk.predict(x_test)).mean() > 0.999
    ours.partial_fit(x[:200], names[y[:200]])  # fitted: it trains on from there

    binary = _fit(SkClassifier((16,), activation="tanh", max_iter=5, random_state=0), x, y >= 5)
    ours = nanomlp.MLPClassifier.from_sklearn(binary)
    assert ours.model_.loss == "cross_entropy" and ours.model_.n_outputs == 2
    assert np.abs(ours.predict_proba(x_test) - binary.predict_proba(x_test)).max() <= 1e-5
    assert np.array_equal(ours.classes_, [False, True])

    reg = _fit(SkRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0), x, y / 9.0)
    ours = nanomlp.MLPRegressor.from_sklearn(reg)
    assert np.abs(ours.predict(x_test) - reg.predict(x_test)).max() <= 1e-5
    with pytest.raises(TypeError, match="needs a fitted classifier"):
        nanomlp.MLPClassifier.from_sklearn(reg)


def test_bad_input():
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        from_sklearn(object())
    with pytest.raises(ValueError, match="not fitted"):
        from_sklearn(SkClassifier())
    with pytest.raises(ValueError, match="not fitted"):
        from_sklearn(nanomlp.MLPClassifier())
    with pytest.raises(ValueError, match="hidden layer 0: scikit-learn has no 'gelu'"):
        to_sklearn(MLP((4, 3, 2), activation="gelu"))
    with pytest.raises(ValueError, match="one activation for every hidden layer"):
        to_sklearn(MLP((4, 3, 3, 2), activation=["relu", "tanh"]))
    with pytest.raises(ValueError, match="softmax over one output"):
        to_sklearn(MLP((4, 3, 1)))
