"""What each dataset is: its files, where other tools keep it, its mirrors; and the environment
that decides where nanomlp caches it and whether it may download."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

#: The IDX files of a dataset, per split: (images, labels).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: Download order: smallest first, so a broken mirror fails fast.
FETCH_ORDER = (
    "t10k-labels-idx1-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "train-images-idx3-ubyte",
)

MirrorsArg = Union[None, str, "os.PathLike[str]", Iterable[str]]


@dataclass(frozen=True)
class Spec:
    """One dataset: its names, its folders here and in other tools' caches, its mirrors."""

    name: str  # "mnist"
    title: str  # "MNIST"
    loader: str  # "load_mnist"
    subdir: str  # folder in the cache and under a data root
    torchvision: str  # torchvision's class name: ROOT/<torchvision>/raw
    npz_name: str | None  # Keras's single-file copy, in ~/.keras/datasets
    keras_dir: str | None  # Keras's folder of IDX files, in ~/.keras/datasets
    mirror_env: str
    mirrors: tuple[str, ...]
    system: tuple[str, ...] = ()


SPECS = {
    "mnist": Spec(
        name="mnist",
        title="MNIST",
        loader="load_mnist",
        subdir="mnist",
        torchvision="MNIST",
        npz_name="mnist.npz",
        keras_dir=None,
        mirror_env="NANOMLP_MNIST_MIRROR",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        ),
    ),
    "fashion-mnist": Spec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        loader="load_fashion_mnist",
        subdir="fashion-mnist",
        torchvision="FashionMNIST",
        npz_name=None,
        keras_dir="fashion-mnist",
        mirror_env="NANOMLP_FASHION_MNIST_MIRROR",
        mirrors=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
        system=("/usr/share/datasets/fashion-mnist",),
    ),
}
DATASETS = tuple(SPECS)


def spec(name: str) -> Spec:
    """The dataset called ``name`` ("mnist", "fashion-mnist", "fashion_mnist", "fashion", ...)."""
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist"}.get(key, key)
    if key not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return SPECS[key]


def offline() -> bool:
    """Whether ``NANOMLP_OFFLINE`` forbids downloads."""
    return (os.environ.get("NANOMLP_OFFLINE") or "").strip().lower() in ("1", "true", "yes", "on")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """nanomlp's cache: ``cache_dir``, else ``$NANOMLP_CACHE``, else ``$XDG_CACHE_HOME/nanomlp``,
    else ``~/.cache/nanomlp``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("NANOMLP_CACHE"):
        return Path(os.environ["NANOMLP_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nanomlp"
    return Path.home() / ".cache" / "nanomlp"


def keras_datasets() -> Path:
    """Where Keras keeps what it downloaded: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "datasets"


def mirror_urls(spec: Spec, mirrors: MirrorsArg) -> tuple[str, ...]:
    """``mirrors`` as a tuple of URLs; None means ``$<mirror_env>`` (space- or comma-separated),
    else the dataset's own."""
    if mirrors is None:
        env = os.environ.get(spec.mirror_env, "")
        mirrors = env.replace(",", " ").split() or spec.mirrors
    elif isinstance(mirrors, (str, os.PathLike)):
        mirrors = [mirrors]
    out = tuple(str(m) for m in mirrors)
    if not out:
        raise ValueError("mirrors is empty: give at least one URL")
    return out
