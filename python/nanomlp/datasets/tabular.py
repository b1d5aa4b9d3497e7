"""scikit-learn's bundled datasets (no download): digits, breast cancer, diabetes.

Each loader returns a ``TrainTest``: ``(x_train, y_train), (x_test, y_test)`` with x float32
(N, n_features), C-contiguous, and the task type and target names attached. The split is
nanomlp's own (a NumPy permutation from ``seed``), so it is the same on every machine and
every scikit-learn version; the classification splits are stratified. scikit-learn is an
optional dependency (``pip install nanomlp[sklearn]``), imported only when a loader is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tasks import TrainTest, describe

DEFAULT_TEST_SIZE = 0.2
DEFAULT_SEED = 0


def _sklearn_datasets() -> Any:
    try:
        import sklearn.datasets
    except ImportError as err:
        raise ImportError(
            "this dataset is bundled with scikit-learn, which is not installed: "
            "pip install 'nanomlp[sklearn]' (or pip install scikit-learn)"
        ) from err
    return sklearn.datasets


def split_indices(
    n: int, test_size: float, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, test) row indices; with ``strata``, each class is split in proportion.

    The test part of each stratum is ``round(test_size * its size)`` rows, at least one row
    for a non-empty test split of a class with two rows or more.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if strata is None
        else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    )
    train, test = [], []
    for group in groups:
        group = rng.permutation(group)
        k = int(round(test_size * len(group)))
        k = min(max(k, 1 if len(group) > 1 else 0), len(group) - 1)
        test.append(group[:k])
        train.append(group[k:])
    # Shuffled again so that the classes are interleaved, as a minibatch trainer wants them.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both parts scaled with the training part's mean and standard deviation (a constant
    column is only centred), computed in float64, returned as float32."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return (
        np.ascontiguousarray((x_train - mean) / std, dtype=np.float32),
        np.ascontiguousarray((x_test - mean) / std, dtype=np.float32),
    )


def _assemble(
    name: str,
    x_train: np.ndarray,
    x_test: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
) -> TrainTest:
    return TrainTest(
        (x_train, np.ascontiguousarray(y[train])),
        (x_test, np.ascontiguousarray(y[test])),
        describe(name),
    )


def load_digits(*, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED) -> TrainTest:
    """scikit-learn's 1,797 handwritten digits, 8×8 pixels: a 10-class "classification" task.

    x is float32 in [0, 1] of shape (N, 64): the pixel counts 0..16 divided by 16 (not
    standardized, so the rows still show as images, as MNIST's do); y is int64 in 0..9.
    ``test_size`` of each class (default 20%) is held out, chosen by ``seed``.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction of each class held out for testing, in (0, 1).
    seed : int, default 0
        Chooses the held-out rows.

    Returns
    -------
    TrainTest
        ``(x_train, y_train), (x_test, y_test)``.

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install "nanomlp[sklearn]"``).
    ValueError, TypeError
        For a bad ``test_size`` or ``seed``.

    Examples
    --------
    >>> from nanomlp.datasets import load_digits
    >>> (x, y), (x_test, y_test) = data = load_digits()
    >>> x.shape, x_test.shape, float(x.max()), data.task
    ((1438, 64), (359, 64), 1.0, 'classification')
    """
    bunch = _sklearn_datasets().load_digits()
    train, test = split_indices(len(bunch.target), test_size, seed, strata=bunch.target)
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return _assemble("digits", x[train], x[test], y, train, test)


def load_breast_cancer(
    *, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED
) -> TrainTest:
    """scikit-learn's Wisconsin breast cancer data: 569 tumours, 30 features; a "binary" task.

    x is float32 (N, 30), standardized with the training part's mean and standard deviation;
    y is int64: 0 "malignant", 1 "benign" (scikit-learn's coding). ``test_size`` of each class
    (default 20%) is held out, chosen by ``seed``.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction of each class held out for testing, in (0, 1).
    seed : int, default 0
        Chooses the held-out rows.

    Returns
    -------
    TrainTest
        ``(x_train, y_train), (x_test, y_test)``.

    Raises
    ------
    ImportError
        Without scikit-learn.
    ValueError, TypeError
        For a bad ``test_size`` or ``seed``.

    Examples
    --------
    >>> from nanomlp.datasets import load_breast_cancer
    >>> (x, y), (x_test, y_test) = data = load_breast_cancer()
    >>> x.shape, data.task, data.class_names
    ((456, 30), 'binary', ('malignant', 'benign'))
    """
    bunch = _sklearn_datasets().load_breast_cancer()
    train, test = split_indices(len(bunch.target), test_size, seed, strata=bunch.target)
    x_train, x_test = standardize(bunch.data[train], bunch.data[test])
    return _assemble("breast-cancer", x_train, x_test, bunch.target.astype(np.int64), train, test)


def load_diabetes(*, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED) -> TrainTest:
    """scikit-learn's diabetes data: 442 patients, 10 features; a "regression" task.

    x is float32 (N, 10): the raw features (age, sex, BMI, blood pressure, six blood serum
    measurements) standardized with the training part's mean and standard deviation; y is
    float32 (N,), the disease progression one year later, unscaled (about 25..346).
    ``test_size`` (default 20%) is held out, chosen by ``seed``.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction held out for testing, in (0, 1).
    seed : int, default 0
        Chooses the held-out rows.

    Returns
    -------
    TrainTest
        ``(x_train, y_train), (x_test, y_test)``.

    Raises
    ------
    ImportError
        Without scikit-learn.
    ValueError, TypeError
        For a bad ``test_size`` or ``seed``.

    Examples
    --------
    >>> from nanomlp.datasets import load_diabetes
    >>> (x, y), (x_test, y_test) = data = load_diabetes(test_size=0.25)
    >>> x.shape, y.dtype, data.task
    ((332, 10), dtype('float32'), 'regression')
    """
    bunch = _sklearn_datasets().load_diabetes(scaled=False)
    train, test = split_indices(len(bunch.target), test_size, seed)
    x_train, x_test = standardize(bunch.data[train], bunch.data[test])
    return _assemble("diabetes", x_train, x_test, bunch.target.astype(np.float32), train, test)
