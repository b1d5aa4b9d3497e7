"""MLPRegressor, and MLPClassifier on binary and multi-label y, against scikit-learn's on real
data: diabetes (regression), breast cancer (binary) and MNIST as two yes/no labels."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.utils.estimator_checks import check_estimator

from nanomlp import MLP, MLPClassifier, MLPRegressor, Trainer
from nanomlp.datasets import load_breast_cancer, load_diabetes
from nanomlp.datasets.multilabel import multilabel_targets

few_epochs = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def diabetes():
    # Progression over 100, so that both libraries' default scales suit it.
    (x, y), (x_test, y_test) = load_diabetes()
    return x, y / 100, x_test, y_test / 100


@few_epochs
def test_check_estimator():
    check_estimator(
        MLPRegressor(random_state=0),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": (
                "minibatch training: repeating a row puts it in other batches than "
                "doubling its weight does (scikit-learn checks its own with lbfgs only)"
            )
        },
    )


def test_defaults_are_scikit_learns():
    ours = MLPRegressor().get_params()
    theirs = SklearnMLPRegressor().get_params()
    assert set(ours) - set(theirs) == {"threads"}
    assert {name: ours[name] for name in theirs} == theirs


@few_epochs
@pytest.mark.parametrize(
    "params",
    [
        dict(hidden_layer_sizes=(32,), max_iter=400, learning_rate_init=3e-3, alpha=3.0),
        dict(
            hidden_layer_sizes=(16,), max_iter=200, solver="sgd", learning_rate_init=1e-2, alpha=1.0
        ),
    ],
)
def test_r2_matches_scikit_learn_on_diabetes(diabetes, params):
    x, y, x_test, y_test = diabetes
    ours, theirs = [], []
    for seed in range(3):
        ours.append(MLPRegressor(random_state=seed, **params).fit(x, y).score(x_test, y_test))
        theirs.append(
            SklearnMLPRegressor(random_state=seed, **params).fit(x, y).score(x_test, y_test)
        )
    # Observed (means of the 3 seeds): adam 0.506 against 0.516, sgd 0.505 against 0.506.
    assert np.mean(ours) == pytest.approx(np.mean(theirs), abs=0.02)
    assert np.mean(ours) > 0.45


@few_epochs
def test_loss_is_scikit_learns_definition(diabetes):
    x, y, _, _ = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, alpha=0.5, batch_size=50).fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == (len(x),) and pred.dtype == np.float64
    assert reg.loss_curve_[-1] == reg.loss_ and reg.out_activation_ == "identity"
    # Half the squared error, as the epoch's batches saw it before their updates (replayed
    # here from the initial weights, one step at a time), plus the penalty of the last weights.
    weights = np.r_[np.ones(200), np.full(len(x) - 200, 3.0)]
    reg = MLPRegressor(
        hidden_layer_sizes=(8,),
        max_iter=1,
        alpha=0.5,
        batch_size=50,
        shuffle=False,
        solver="sgd",
        momentum=0.0,
        learning_rate_init=1e-3,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        reg.fit(x, y, weights)
    model = MLP((x.shape[1], 8, 1), seed=0, init="sklearn", loss="mse")
    # The fit's own optimizer settings (its rate and decay scaled to the engine's MSE).
    trainer = Trainer(model, optimizer=reg._engine.optimizer, batch_size=50)
    total = weight_total = 0.0
    for start in range(0, len(x), 50):
        rows = np.arange(start, min(start + 50, len(x)))
        pred = trainer.predict(x[rows]).astype(np.float64)
        total += float(np.dot(weights[rows], (y[rows] - pred) ** 2))
        weight_total += float(weights[rows].sum())
        trainer.train_epoch(x, y, rows, sample_weight=weights)
    np.testing.assert_array_equal(reg.model_.params, model.params)
    penalty = 0.5 * 0.5 * sum(float((w.astype(np.float64) ** 2).sum()) for w in reg.coefs_)
    penalty /= 50 * float(np.mean(weights))
    assert reg.loss_ == pytest.approx(0.5 * total / weight_total + penalty, rel=1e-5)


@few_epochs
def test_two_outputs_early_stopping_and_pickle(diabetes, tmp_path):
    x, y, x_test, y_test = diabetes
    y2 = np.c_[y, 2 * y]
    reg = MLPRegressor(hidden_layer_sizes=(16,), early_stopping=True, random_state=0)
    reg.fit(x, y2)
    assert reg.predict(x_test).shape == (len(x_test), 2) and reg.n_outputs_ == 2
    assert reg.validation_scores_ and max(reg.validation_scores_) == reg.best_validation_score_
    assert reg.score(x_test, np.c_[y_test, 2 * y_test]) == pytest.approx(
        r2_score(np.c_[y_test, 2 * y_test], reg.predict(x_test))
    )
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(x_test), reg.predict(x_test))
    # The model file keeps the identity outputs: a loaded model predicts values.
    reg.model_.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    assert loaded.loss == "mse"
    np.testing.assert_array_equal(Trainer(loaded).predict(x_test), reg.predict(x_test))
    with pytest.raises(ValueError, match="y has 1 outputs, the fitted model 2"):
        reg.set_params(early_stopping=False).partial_fit(x, y)


def test_poisson_is_refused():
    with pytest.raises(ValueError, match="loss must be 'squared_error'"):
        MLPRegressor(loss="poisson").fit(np.zeros((4, 2)), np.zeros(4))


@few_epochs
def test_binary_matches_scikit_learn_on_breast_cancer():
    (x, y), (x_test, y_test) = load_breast_cancer()
    params = dict(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    ours = MLPClassifier(**params).fit(x, y)
    theirs = SklearnMLPClassifier(**params).fit(x, y)
    # Two softmax outputs where scikit-learn has one logistic: the same shape of proba.
    assert (
        ours.predict_proba(x_test).shape == theirs.predict_proba(x_test).shape == (len(x_test), 2)
    )
    assert ours.score(x_test, y_test) > 0.95
    assert abs(ours.score(x_test, y_test) - theirs.score(x_test, y_test)) <= 0.03
    assert np.mean(ours.predict(x_test) == theirs.predict(x_test)) > 0.95


@few_epochs
def test_multilabel_matches_scikit_learn_on_mnist(mnist):
    (x, digits), (x_test, digits_test) = mnist
    x, y = x[:3000], multilabel_targets(digits[:3000]).astype(np.int64)
    x_test, y_test = x_test[:1000], multilabel_targets(digits_test[:1000]).astype(np.int64)
    params = dict(hidden_layer_sizes=(64,), max_iter=15, random_state=0)
    ours = MLPClassifier(**params).fit(x, y)
    theirs = SklearnMLPClassifier(**params).fit(x, y)
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    assert ours.classes_.tolist() == theirs.classes_.tolist() == [0, 1]
    pred = ours.predict(x_test)
    assert pred.shape == (1000, 2) and set(np.unique(pred)) <= {0, 1}
    assert ours.predict_proba(x_test).shape == (1000, 2)
    assert ours.score(x_test, y_test) == np.mean(np.all(pred == y_test, axis=1))
    assert ours.score(x_test, y_test) > 0.85
    assert abs(ours.score(x_test, y_test) - theirs.score(x_test, y_test)) <= 0.03
    # loss_ is scikit-learn's: the log loss summed over the labels.
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.3)
    with pytest.raises(ValueError, match="class_weight is for one label per row"):
        MLPClassifier(class_weight="balanced").fit(x[:50], y[:50])


def test_trainer_binary_cross_entropy_on_mnist_multilabel(mnist):
    (x, digits), (x_test, digits_test) = mnist
    y, y_test = multilabel_targets(digits[:20000]), multilabel_targets(digits_test)
    trainer = Trainer(
        MLP((784, 128, 2), seed=0), loss="binary_cross_entropy", optimizer="adam", epochs=3
    )
    history = trainer.fit(x[:20000], y, validation_data=(x_test, y_test))
    loss, exact_match = trainer.evaluate(x_test, y_test)
    # Observed: about 0.95 of test images with both labels right after 3 epochs.
    assert exact_match > 0.92 and history.history["val_acc"][-1] == exact_match
    assert loss < 0.15
