"""MLPClassifier as scikit-learn expects an estimator to behave."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from nanomlp import MLP, MLPClassifier, Trainer


@pytest.fixture(scope="module")
def digits(mnist):
    (x, y), (x_test, y_test) = mnist
    return x[:3000], y[:3000], x_test[:1000], y_test[:1000]


def test_check_estimator():
    check_estimator(
        MLPClassifier(
            max_iter=20,
            batch_size=16,
            hidden_layer_sizes=(16,),
            learning_rate_init=0.1,
            random_state=0,
        )
    )


def test_matches_the_trainer_with_the_same_seed(digits):
    x, y, x_test, y_test = digits
    est = MLPClassifier(random_state=42, max_iter=2).fit(x, y)
    model = MLP((784, 128, 64, 10), seed=42)
    Trainer(model, epochs=2).fit(x, y)
    np.testing.assert_array_equal(est.coefs_[0], model.weights[0])
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    assert est.score(x_test, y_test) == Trainer(model).evaluate(x_test, y_test)[1]


def test_string_labels_map_through_classes(digits):
    x, y, x_test, y_test = digits
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    est = MLPClassifier(random_state=0, max_iter=3, learning_rate_init=0.1).fit(x, names[y])
    assert list(est.classes_) == sorted(names)
    predicted = est.predict(x_test)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    assert np.mean(predicted == names[y_test]) > 0.8
    assert est.predict_proba(x_test).shape == (1000, 10)


def test_grid_search_and_pipeline(digits):
    x, y, x_test, y_test = digits
    search = GridSearchCV(
        MLPClassifier(random_state=0, max_iter=2, hidden_layer_sizes=(32,)),
        {"learning_rate_init": [0.1, 0.0001]},
        cv=2,
    ).fit(x, y)
    assert search.best_params_ == {"learning_rate_init": 0.1}
    assert search.score(x_test, y_test) > 0.8
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier(random_state=0, max_iter=3, learning_rate_init=0.01)
    )
    assert pipeline.fit(x, y).score(x_test, y_test) > 0.7  # chance is 0.1


def test_partial_fit_and_early_stopping(digits):
    x, y, x_test, y_test = digits
    est = MLPClassifier(random_state=0, learning_rate_init=0.1)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(x[:100], y[:100])
    for start in range(0, 3000, 1000):
        est.partial_fit(x[start : start + 1000], y[start : start + 1000], classes=np.arange(10))
    assert est.n_iter_ == 3 and est.score(x_test, y_test) > 0.6  # one pass over 3,000 images
    stopped = MLPClassifier(
        random_state=0,
        max_iter=200,
        early_stopping=True,
        n_iter_no_change=2,
        learning_rate_init=0.1,
    ).fit(x, y)
    assert stopped.n_iter_ < 200 and len(stopped.validation_scores_) == stopped.n_iter_


def test_importing_nanomlp_does_not_import_sklearn():
    import subprocess
    import sys

    code = (
        "import sys, nanomlp; nanomlp.MLP; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
