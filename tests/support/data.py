"""An environment of the test's own for the dataset code, and small MNIST-shaped files."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from nanomlp.datasets import specs


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh HOME, cache, Keras home and working folder; no NANOMLP_* variable; loopback only.

    Not autouse: a module opts in with ``pytestmark = pytest.mark.usefixtures("isolated")``.
    """
    home = tmp_path / "home"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for var in (
        "NANOMLP_CACHE",
        "KERAS_HOME",
        "NANOMLP_DATA",
        "NANOMLP_OFFLINE",
        "NANOMLP_MNIST_MIRROR",
        "NANOMLP_FASHION_MNIST_MIRROR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(cwd)

    real = socket.create_connection

    def loopback_only(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {address}: tests must stay on loopback")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    no_system_copies(monkeypatch)
    return tmp_path


def no_system_copies(monkeypatch) -> None:
    """Hide the machine's own copies (a Debian package may have installed one)."""
    for name, spec in specs.SPECS.items():
        monkeypatch.setitem(specs.SPECS, name, dataclasses.replace(spec, system=()))


@pytest.fixture
def cache(isolated, tmp_path, monkeypatch) -> Path:
    """NANOMLP_CACHE in tmp_path (set after the isolation cleared it); returns it."""
    path = tmp_path / "cache"
    monkeypatch.setenv("NANOMLP_CACHE", str(path))
    return path


def data_files(folder: Path) -> list[str]:
    """What a later call could trust: everything but the (empty) lock file."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock")


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return np.array([magic, *arr.shape], dtype=">u4").tobytes() + arr.astype(np.uint8).tobytes()


def synthetic(n_train: int = 30, n_test: int = 12, seed: int = 0):
    """Small MNIST-shaped data: ({idx base name: raw IDX bytes}, arrays)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    raw = {
        "train-images-idx3-ubyte": idx_bytes(arrays["x_train"], 0x803),
        "train-labels-idx1-ubyte": idx_bytes(arrays["y_train"], 0x801),
        "t10k-images-idx3-ubyte": idx_bytes(arrays["x_test"], 0x803),
        "t10k-labels-idx1-ubyte": idx_bytes(arrays["y_test"], 0x801),
    }
    return raw, arrays


def write_idx(folder: Path, raw: dict, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for base, data in raw.items():
        if gz:
            (folder / (base + ".gz")).write_bytes(gzip.compress(data, compresslevel=1))
        else:
            (folder / base).write_bytes(data)
    return folder


def trust(monkeypatch, name: str, raw: dict, npz: bytes | None = None) -> None:
    """Make the synthetic files the ones whose hashes ``name`` expects."""
    from nanomlp import datasets

    table = {base: hashlib.sha256(data).hexdigest() for base, data in raw.items()}
    if npz is not None:
        table["mnist.npz"] = hashlib.sha256(npz).hexdigest()
    monkeypatch.setitem(datasets.SHA256, name, table)


def check_arrays(result, arrays) -> None:
    (x_train, y_train), (x_test, y_test) = result
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        n = arrays[f"x_{split}"].shape[0]
        assert x.shape == (n, 784) and x.dtype == np.float32 and x.flags.c_contiguous
        assert y.shape == (n,) and y.dtype == np.int64 and y.flags.c_contiguous
        np.testing.assert_array_equal(x, arrays[f"x_{split}"].reshape(n, 784) / np.float32(255))
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])
