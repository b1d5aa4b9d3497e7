"""What the datasets' targets mean: task types, class names, the multi-label MNIST targets and
scikit-learn's bundled datasets (split, scaling, determinism, the optional import)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from nanomlp import datasets
from nanomlp.datasets import (
    TrainTest,
    class_names,
    describe,
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_mnist,
    load_mnist_multilabel,
    multilabel_targets,
)
from nanomlp.datasets.tabular import split_indices

sklearn_datasets = pytest.importorskip("sklearn.datasets")

FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# ============================================================================= descriptions
def test_class_names_of_every_dataset():
    assert class_names("mnist") == tuple("0123456789")
    assert class_names("fashion-mnist") == FASHION
    assert class_names("Fashion_MNIST") == FASHION and class_names("fashion") == FASHION
    assert class_names("digits") == tuple("0123456789")
    assert class_names("breast_cancer") == ("malignant", "benign")
    # Targets that are not class ids have names, but no class names.
    assert class_names("diabetes") is None and class_names("mnist-multilabel") is None
    assert describe("diabetes").target_names == ("disease progression",)
    assert describe("mnist-multilabel").target_names == ("digit ≥ 5", "odd")
    assert datasets.ALL_DATASETS == (
        "mnist",
        "fashion-mnist",
        "mnist-multilabel",
        "digits",
        "breast-cancer",
        "diabetes",
    )
    assert datasets.DATASETS == ("mnist", "fashion-mnist")  # the downloadable ones, unchanged
    tasks = {name: describe(name).task for name in datasets.ALL_DATASETS}
    assert tasks == {
        "mnist": "classification",
        "fashion-mnist": "classification",
        "mnist-multilabel": "multilabel",
        "digits": "classification",
        "breast-cancer": "binary",
        "diabetes": "regression",
    }
    assert set(tasks.values()) <= set(datasets.TASKS)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; known: mnist, fashion-mnist"):
        describe("cifar10")


@pytest.mark.parametrize("name", ["digits", "breast-cancer"])
def test_class_names_match_scikit_learns(name):
    bunch = getattr(sklearn_datasets, "load_" + name.replace("-", "_"))()
    assert class_names(name) == tuple(str(t) for t in bunch.target_names)


def test_load_mnist_still_a_plain_pair_and_knows_its_classes(mnist_dir, mnist):
    loaded = load_mnist(mnist_dir)
    assert isinstance(loaded, tuple) and len(loaded) == 2
    (x_train, y_train), (x_test, y_test) = loaded
    (ref_x, ref_y), _ = mnist
    np.testing.assert_array_equal(x_train, ref_x)
    np.testing.assert_array_equal(y_train, ref_y)
    assert loaded[1][1] is y_test and len(loaded[0]) == 2
    assert loaded.name == "mnist" and loaded.task == "classification"
    assert loaded.class_names == tuple("0123456789")
    assert datasets.load("mnist", mnist_dir).class_names == tuple("0123456789")
    again = pickle.loads(pickle.dumps(loaded))
    assert type(again) is TrainTest and again.description == loaded.description
    np.testing.assert_array_equal(again[1][0], x_test)


# ============================================================================== multi-label
def test_multilabel_targets_agree_with_the_digits(mnist):
    (_, y_train), (_, y_test) = mnist
    for y in (y_train, y_test):
        targets = multilabel_targets(y)
        assert targets.shape == (len(y), 2) and targets.dtype == np.float32
        assert targets.flags.c_contiguous and set(np.unique(targets)) == {0.0, 1.0}
        np.testing.assert_array_equal(targets[:, 0] == 1, y >= 5)
        np.testing.assert_array_equal(targets[:, 1] == 1, y % 2 == 1)
    # Every one of the four combinations occurs: the labels are not one class in disguise.
    pairs = {tuple(row) for row in multilabel_targets(y_test).tolist()}
    assert pairs == {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    assert multilabel_targets(np.arange(10)).tolist() == [
        [0, 0],
        [0, 1],
        [0, 0],
        [0, 1],
        [0, 0],
        [1, 1],
        [1, 0],
        [1, 1],
        [1, 0],
        [1, 1],
    ]
    with pytest.raises(ValueError, match="digit labels 0..9"):
        multilabel_targets(np.array([3, 10]))
    with pytest.raises(ValueError, match="digit labels 0..9"):
        multilabel_targets(np.zeros((3, 2), dtype=np.int64))


def test_load_mnist_multilabel(mnist_dir, mnist):
    loaded = load_mnist_multilabel(mnist_dir)
    (x_train, y_train), (x_test, y_test) = loaded
    (ref_x, ref_y), (_, ref_y_test) = mnist
    np.testing.assert_array_equal(x_train, ref_x)
    np.testing.assert_array_equal(y_train, multilabel_targets(ref_y))
    np.testing.assert_array_equal(y_test, multilabel_targets(ref_y_test))
    assert loaded.task == "multilabel" and loaded.target_names == ("digit ≥ 5", "odd")
    assert loaded.class_names is None
    assert load_mnist_multilabel(mnist_dir, dtype="uint8")[1][0].dtype == np.uint8


# ============================================================================= scikit-learn
LOADERS = {
    "digits": (load_digits, 1797, 64, "classification"),
    "breast-cancer": (load_breast_cancer, 569, 30, "binary"),
    "diabetes": (load_diabetes, 442, 10, "regression"),
}


@pytest.mark.parametrize("name", list(LOADERS))
def test_sklearn_loader_shapes_dtypes_and_task(name):
    loader, n, n_features, task = LOADERS[name]
    loaded = loader()
    (x_train, y_train), (x_test, y_test) = loaded
    assert loaded.name == name and loaded.task == task
    assert loaded.target_names == describe(name).target_names
    # Each class is rounded on its own: the whole is within half a row per class of 20%.
    assert abs(len(x_test) - 0.2 * n) <= 5 and len(x_train) + len(x_test) == n
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.shape == (len(x), n_features) and x.dtype == np.float32
        assert x.flags.c_contiguous and y.flags.c_contiguous and x.flags.writeable
        assert np.isfinite(x).all()
        if task == "regression":
            assert y.shape == (len(x),) and y.dtype == np.float32
        else:
            assert y.shape == (len(x),) and y.dtype == np.int64
            assert set(np.unique(y)) == set(range(len(loaded.class_names)))
    assert datasets.load(name).description == loaded.description


@pytest.mark.parametrize("name", list(LOADERS))
def test_sklearn_split_is_deterministic_and_a_partition(name):
    loader = LOADERS[name][0]
    first, again, other = loader(), loader(seed=0), loader(seed=1)
    for a, b in zip(first, again):
        for arr_a, arr_b in zip(a, b):
            np.testing.assert_array_equal(arr_a, arr_b)
    assert not np.array_equal(first[0][1], other[0][1])
    bunch = getattr(sklearn_datasets, "load_" + name.replace("-", "_"))()
    # Every sample lands in exactly one part: the targets, counted, are the dataset's.
    (_, y_train), (_, y_test) = first
    both = np.sort(np.concatenate([y_train, y_test]).astype(np.float64))
    np.testing.assert_array_equal(both, np.sort(bunch.target.astype(np.float64)))
    assert abs(len(loader(test_size=0.5)[1][1]) - len(bunch.target) / 2) <= 5


def test_sklearn_scaling():
    (x_train, _), (x_test, _) = load_digits()
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() <= 1.0
    bunch = sklearn_datasets.load_digits()
    assert sorted(np.unique(x_train * 16).tolist()) == sorted(np.unique(bunch.data).tolist())
    for loader in (load_breast_cancer, load_diabetes):
        (x_train, _), (x_test, _) = loader()
        # Standardized with the training part's statistics only: exact there, close on test.
        np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-5)
        assert np.abs(x_test.mean(axis=0)).max() < 0.5
    (_, y_train), _ = load_diabetes()
    assert 25 <= y_train.min() and y_train.max() <= 346  # the target is left in its own units


def test_split_indices_stratifies():
    strata = np.repeat([0, 1, 2], [50, 30, 20])
    train, test = split_indices(100, 0.2, seed=3, strata=strata)
    assert np.bincount(strata[test]).tolist() == [10, 6, 4]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="test_size must be a fraction"):
        split_indices(10, 1.0, seed=0)
    with pytest.raises(ValueError, match="path= does not apply"):
        datasets.load("digits", "/somewhere")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_scikit_learn_is_optional_and_imported_only_when_needed():
    done = _run(
        "import sys, nanomlp.datasets\n"
        "assert 'sklearn' not in sys.modules, 'sklearn imported'\n"
        "sys.modules['sklearn'] = None\n"
        "try:\n"
        "    nanomlp.datasets.load_digits()\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'nanomlp[sklearn]'" in done.stdout
