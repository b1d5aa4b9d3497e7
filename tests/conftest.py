"""Shared fixtures: the real MNIST from NANOMLP_DATA (../shared/data/mnist beside the repo).

A test that needs MNIST fails when the data is missing under CI=true, and is skipped (with the
reason) only on a developer's machine without the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Fixtures shared by several test modules: ``isolated`` and ``cache`` (support/data.py),
# ``mirror`` (support/mirror.py). tests/ is on sys.path: pytest puts a conftest's folder there.
pytest_plugins = ("support.data", "support.mirror")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"


def _mnist_dir() -> Path | None:
    path = Path(os.environ.get("NANOMLP_DATA", DEFAULT_DATA))
    return path if (path / "train-images-idx3-ubyte.gz").exists() else None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = _mnist_dir()
    if path is None:
        message = f"MNIST not found: set NANOMLP_DATA to the folder of its IDX files (tried {DEFAULT_DATA})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path):
    """((x_train, y_train), (x_test, y_test)): float32 (N, 784) in [0, 1], int64 labels."""
    from nanomlp.datasets import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_dir)
    for arr in (x_train, y_train, x_test, y_test):
        arr.setflags(write=False)  # shared by every test: nobody may change it
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="session")
def mnist_subset(mnist):
    """The first 2,000 training images: big enough to be real, small enough to be quick."""
    (x_train, y_train), _ = mnist
    return x_train[:2000], y_train[:2000]
