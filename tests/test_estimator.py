"""MLPClassifier as scikit-learn expects an estimator to behave, with scikit-learn's names,
defaults and definitions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from nanomlp import MLP, MLPClassifier, Trainer
from nanomlp.optim import SGD

# A fit that uses up max_iter warns, as scikit-learn's does; tests that train for a few
# epochs on purpose say so.
few_epochs = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits(mnist):
    (x, y), (x_test, y_test) = mnist
    return x[:3000], y[:3000], x_test[:1000], y_test[:1000]


@pytest.fixture(scope="module")
def small_digits():
    """scikit-learn's bundled 8×8 digits, scaled to [0, 1] and split 70/30."""
    x, y = load_digits(return_X_y=True)
    return train_test_split(x / 16.0, y, random_state=0, test_size=0.3)


@few_epochs
# Multi-label y is supported, so scikit-learn checks the format of every output method; like
# scikit-learn's MLPClassifier this one has no decision_function, whose check says it skips.
@pytest.mark.filterwarnings(
    "ignore:Skipping check check_classifiers_multilabel_output_format_decision_function"
    ":sklearn.exceptions.SkipTestWarning"
)
def test_check_estimator():
    # At the defaults: 200 epochs of Adam on scikit-learn's small check data.
    check_estimator(
        MLPClassifier(random_state=0),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": (
                "minibatch training: repeating a row puts it in other batches than "
                "doubling its weight does (scikit-learn checks its own with lbfgs only)"
            )
        },
    )


def test_defaults_are_scikit_learns():
    ours = MLPClassifier().get_params()
    theirs = SklearnMLPClassifier().get_params()
    assert set(ours) - set(theirs) == {"class_weight", "threads"}
    assert set(theirs) <= set(ours)
    assert {name: ours[name] for name in theirs} == theirs


def test_matches_the_trainer_with_the_same_seed(digits):
    # Plain SGD without weight decay is the Trainer's default recipe, to the bit.
    x, y, x_test, y_test = digits
    est = MLPClassifier(
        (128, 64),
        solver="sgd",
        momentum=0.0,
        alpha=0.0,
        batch_size=32,
        learning_rate_init=0.01,
        random_state=42,
        max_iter=2,
    )
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(x, y)
    model = MLP((784, 128, 64, 10), seed=42, init="sklearn")
    Trainer(model, epochs=2).fit(x, y)
    np.testing.assert_array_equal(est.coefs_[0], model.weights[0])
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2 and est.t_ == 2 * len(x)
    assert est.score(x_test, y_test) == Trainer(model).evaluate(x_test, y_test)[1]
    assert est._predictor() is est._engine  # predict reuses the fit's engine


@few_epochs
def test_fitted_attributes_as_scikit_learn_defines_them(small_digits):
    x, _, y, _ = small_digits
    est = MLPClassifier((32, 16), max_iter=5, alpha=0.01, random_state=0).fit(x, y)
    theirs = SklearnMLPClassifier((32, 16), max_iter=5, alpha=0.01, random_state=0).fit(x, y)
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(est, name) == getattr(theirs, name), name
    assert [c.shape for c in est.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in est.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert len(est.loss_curve_) == 5 and est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.validation_scores_ is None and est.best_validation_score_ is None


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_is_the_epochs_batch_losses_before_their_updates(small_digits, weighted):
    """loss_ is scikit-learn's: the (weighted) mean over the epoch of each batch's log loss
    under the weights before the batch's update, plus the L2 penalty of the last weights
    over the batch size. Replayed here batch by batch with predict_proba and one-step
    epochs from the estimator's initial weights."""
    x, _, y, _ = small_digits
    x, y = x[:430], y[:430]
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(x)) if weighted else None
    settings = dict(solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=50)
    est = MLPClassifier((16,), max_iter=1, shuffle=False, alpha=0.01, random_state=0, **settings)
    with pytest.warns(ConvergenceWarning):
        est.fit(x, y, sample_weight=weights)
    model = MLP((64, 16, 10), seed=0, init="sklearn")
    decay = 0.01 / (50 * (1.0 if weights is None else float(np.mean(weights))))
    trainer = Trainer(model, optimizer=SGD(lr=0.05, weight_decay=decay), batch_size=50)
    total = weight_total = 0.0
    for start in range(0, len(x), 50):
        rows = np.arange(start, min(start + 50, len(x)))
        proba = trainer.predict_proba(x[rows]).astype(np.float64)
        row_weights = np.ones(len(rows)) if weights is None else weights[rows]
        total += float(np.dot(row_weights, -np.log(proba[np.arange(len(rows)), y[rows]])))
        weight_total += float(row_weights.sum())
        trainer.train_epoch(x, y, rows, sample_weight=weights)
    np.testing.assert_array_equal(est.model_.params, model.params)
    # The penalty over the batch size, times the mean weight: the decay above.
    penalty = 0.5 * 0.01 * sum(float((w.astype(np.float64) ** 2).sum()) for w in est.coefs_)
    penalty *= decay / 0.01
    assert est.loss_ == pytest.approx(total / weight_total + penalty, rel=1e-6)
    # Not the loss of the last weights: the running mean is what is reported.
    assert est.loss_ != pytest.approx(Trainer(model).evaluate(x, y)[0] + penalty, rel=1e-6)


def test_converges_by_tol_as_scikit_learn_does(small_digits):
    x, _, y, _ = small_digits
    # Every epoch "fails" to improve by tol: the third one stops training (more than
    # n_iter_no_change=1 such epochs), without a ConvergenceWarning.
    est = MLPClassifier((16,), tol=1e6, n_iter_no_change=1, random_state=0).fit(x, y)
    assert est.n_iter_ == 3
    theirs = SklearnMLPClassifier((16,), tol=1e6, n_iter_no_change=1, random_state=0).fit(x, y)
    assert theirs.n_iter_ == 3


@few_epochs
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_accuracy_matches_scikit_learn_on_digits(small_digits, solver):
    x, x_test, y, y_test = small_digits
    params = dict(hidden_layer_sizes=(64,), max_iter=50, solver=solver)
    if solver == "sgd":
        params["learning_rate_init"] = 0.05
    ours, theirs = [], []
    with threadpool_limits(1):
        for seed in range(3):
            ours.append(MLPClassifier(random_state=seed, **params).fit(x, y).score(x_test, y_test))
            theirs.append(
                SklearnMLPClassifier(random_state=seed, **params).fit(x, y).score(x_test, y_test)
            )
    assert np.mean(ours) > 0.93
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.02, (ours, theirs)


def _sgd_by_hand(x, y, seed, lrs, batch, alpha):
    """The estimator's sgd recipe as a Trainer loop, one learning rate per epoch."""
    model = MLP((x.shape[1], 16, 10), seed=seed, init="sklearn")
    optimizer = SGD(lr=lrs[0], momentum=0.9, nesterov=True, weight_decay=alpha / batch)
    trainer = Trainer(model, optimizer=optimizer, batch_size=batch)
    order = np.arange(len(x))
    for lr in lrs:
        order = order[model.random_state.permutation(len(x))]
        trainer.lr = lr
        trainer.train_epoch(x, y, order)
    return model


@few_epochs
def test_invscaling_sets_the_rate_after_each_epoch(small_digits):
    x, _, y, _ = small_digits
    x = x.astype(np.float32)
    params = dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.25)
    est = MLPClassifier((16,), max_iter=3, random_state=3, **params).fit(x, y)
    n = len(x)
    lrs = [0.5] + [0.5 / (k * n + 1) ** 0.25 for k in (1, 2)]
    model = _sgd_by_hand(x, y, 3, lrs, 200, 1e-4)
    np.testing.assert_array_equal(est.model_.params, model.params)
    # the rate of a next epoch, as scikit-learn's optimizer holds it
    theirs = SklearnMLPClassifier((16,), max_iter=3, random_state=3, **params).fit(x, y)
    assert est._learning_rate == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
    assert est._learning_rate == pytest.approx(0.5 / (3 * n + 1) ** 0.25, rel=1e-12)


def test_adaptive_divides_the_rate_by_five(small_digits):
    x, _, y, _ = small_digits
    x = x.astype(np.float32)
    # No epoch improves by tol: every second epoch from the third divides the rate by 5,
    # until it is <= 1e-6, then training stops (no ConvergenceWarning).
    params = dict(
        solver="sgd", learning_rate="adaptive", learning_rate_init=0.1, tol=1e6, n_iter_no_change=1
    )
    est = MLPClassifier((16,), random_state=1, **params).fit(x, y)
    theirs = SklearnMLPClassifier((16,), random_state=1, **params).fit(x, y)
    assert est.n_iter_ == theirs.n_iter_ == 19
    assert est._learning_rate == pytest.approx(0.1 / 5**8) == theirs._optimizer.learning_rate
    lrs = [0.1 / 5 ** max(0, (epoch - 2) // 2) for epoch in range(1, 8)]
    assert lrs[:5] == [0.1, 0.1, 0.1, 0.02, 0.02]
    with pytest.warns(ConvergenceWarning):
        short = MLPClassifier((16,), random_state=1, **{**params, "max_iter": 7}).fit(x, y)
    np.testing.assert_array_equal(short.model_.params, _sgd_by_hand(x, y, 1, lrs, 200, 1e-4).params)


@few_epochs
def test_zero_sample_weight_is_like_dropping_the_rows(small_digits):
    x, x_test, y, y_test = small_digits
    keep = np.random.default_rng(0).random(len(x)) > 0.3
    weights = keep.astype(float)
    params = dict(hidden_layer_sizes=(64,), max_iter=40, random_state=0)
    weighted = MLPClassifier(**params).fit(x, y, sample_weight=weights)
    dropped = MLPClassifier(**params).fit(x[keep], y[keep])
    assert abs(weighted.score(x_test, y_test) - dropped.score(x_test, y_test)) < 0.03
    assert np.mean(weighted.predict(x_test) == dropped.predict(x_test)) > 0.93
    # weights of one: the unweighted fit, to the bit
    ones = MLPClassifier(**params).fit(x, y, sample_weight=np.ones(len(x)))
    np.testing.assert_array_equal(
        ones.model_.params, MLPClassifier(**params).fit(x, y).model_.params
    )


@few_epochs
def test_class_weight_maps_labels_to_classes(small_digits):
    x, _, y, _ = small_digits
    names = np.array([f"digit {d}" for d in range(10)])
    params = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    by_class = MLPClassifier(class_weight={"digit 3": 0.0, "digit 7": 2.5}, **params)
    by_class.fit(x, names[y])
    by_row = np.where(y == 3, 0.0, np.where(y == 7, 2.5, 1.0))
    by_sample = MLPClassifier(**params).fit(x, names[y], sample_weight=by_row)
    np.testing.assert_array_equal(by_class.model_.params, by_sample.model_.params)
    MLPClassifier(class_weight="balanced", **params).fit(x, names[y])
    with pytest.raises(ValueError, match="class_weight"):
        MLPClassifier(class_weight={"digit 10": 1.0}, **params).fit(x, names[y])


@few_epochs
def test_warm_start_continues_from_the_weights(small_digits):
    x, _, y, _ = small_digits
    est = MLPClassifier((16,), max_iter=3, random_state=0, warm_start=True).fit(x, y)
    first = est.model_
    est.fit(x, y)
    assert est.model_ is first and est.n_iter_ == 3 and est.t_ == 6 * len(x)
    assert len(est.loss_curve_) == 6 and est.loss_curve_[5] < est.loss_curve_[0]
    with pytest.raises(ValueError, match="warm_start"):
        est.fit(x[y < 5], y[y < 5])
    cold = MLPClassifier((16,), max_iter=3, random_state=0).fit(x, y)
    cold.fit(x, y)
    assert cold.model_ is not first and len(cold.loss_curve_) == 3


@few_epochs
def test_predict_proba_of_arrays_and_other_inputs(small_digits):
    x, x_test, y, _ = small_digits
    est = MLPClassifier((16,), max_iter=2, random_state=0).fit(x, y)
    proba = est.predict_proba(x_test[:3])
    np.testing.assert_array_equal(proba, est.predict_proba(x_test[:3].tolist()))
    np.testing.assert_array_equal(proba, est.predict_proba(x_test[:3].astype(np.float32)))
    bad = x_test[:3].copy()
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict_proba(bad)
    with pytest.raises(ValueError, match="features"):
        est.predict_proba(x_test[:3, :10])


@few_epochs
def test_string_labels_map_through_classes(digits):
    x, y, x_test, y_test = digits
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    est = MLPClassifier(random_state=0, max_iter=3, learning_rate_init=0.01).fit(x, names[y])
    assert list(est.classes_) == sorted(names)
    predicted = est.predict(x_test)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    assert np.mean(predicted == names[y_test]) > 0.8
    assert est.predict_proba(x_test).shape == (1000, 10)


@few_epochs
def test_grid_search_and_pipeline(digits):
    x, y, x_test, y_test = digits
    search = GridSearchCV(
        MLPClassifier((32,), solver="sgd", momentum=0.0, batch_size=32, random_state=0, max_iter=2),
        {"learning_rate_init": [0.1, 0.0001]},
        cv=2,
    ).fit(x, y)
    assert search.best_params_ == {"learning_rate_init": 0.1}
    assert search.score(x_test, y_test) > 0.8
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(random_state=0, max_iter=3))
    assert pipeline.fit(x, y).score(x_test, y_test) > 0.7  # chance is 0.1


def test_partial_fit_and_early_stopping(digits):
    x, y, x_test, y_test = digits
    est = MLPClassifier(random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(x[:100], y[:100])
    for start in range(0, 3000, 1000):
        est.partial_fit(x[start : start + 1000], y[start : start + 1000], classes=np.arange(10))
    # scikit-learn's definitions: n_iter_ counts the epochs of the last call, t_ every row
    assert est.n_iter_ == 1 and est.t_ == 3000 and len(est.loss_curve_) == 3
    assert est.score(x_test, y_test) > 0.7  # one pass over 3,000 images
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(x[:100], y[:100], classes=np.arange(10))
    stopped = MLPClassifier(
        random_state=0, max_iter=200, early_stopping=True, n_iter_no_change=2
    ).fit(x, y)
    assert stopped.n_iter_ < 200 and len(stopped.validation_scores_) == stopped.n_iter_
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert stopped.best_loss_ is None


@pytest.mark.parametrize(
    "name, value",
    [
        ("hidden_layer_sizes", (10, 0)),
        ("hidden_layer_sizes", "ten"),
        ("activation", "softplus"),
        ("activation", "gelu"),
        ("solver", "lbfgs"),
        ("solver", "rmsprop"),
        ("alpha", -1.0),
        ("batch_size", 0),
        ("batch_size", "big"),
        ("learning_rate", "cyclic"),
        ("learning_rate_init", 0.0),
        ("power_t", -0.5),
        ("max_iter", 0),
        ("max_iter", 1.5),
        ("shuffle", "yes"),
        ("tol", -1.0),
        ("verbose", -1),
        ("warm_start", 1),
        ("momentum", 1.5),
        ("nesterovs_momentum", None),
        ("early_stopping", "no"),
        ("validation_fraction", 1.0),
        ("beta_1", 1.0),
        ("beta_2", -0.1),
        ("epsilon", 0.0),
        ("n_iter_no_change", 0),
        ("max_fun", 0),
        ("class_weight", "auto"),
        ("threads", 0),
    ],
)
def test_bad_parameters_raise_value_errors_naming_them(name, value):
    x, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 2
    with pytest.raises(ValueError, match=name):
        MLPClassifier(**{name: value}).fit(x, y)


def test_not_supported_yet_is_said():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="solver='lbfgs' is not supported"):
        MLPClassifier(solver="lbfgs").fit(x, y)


def test_importing_nanomlp_does_not_import_sklearn():
    import subprocess
    import sys

    code = (
        "import sys, nanomlp; nanomlp.MLP; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
