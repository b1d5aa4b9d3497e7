"""What the benchmark runs and on what: its settings, FLOP accounting, data and statistics."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import _checks, _defaults
from ..datasets import load_mnist
from ..model import MLP

DEFAULT_OUT = Path("bench") / "results"
LAYER_SIZES = tuple(_defaults.LAYER_SIZES)
# The notebook validates on the last 5,000 training images and trains on the rest.
N_VALIDATION = _defaults.VAL_SIZE
BACKENDS = ("native", "numpy64", "numpy32", "torch")
BACKEND_LABELS = {
    "native": "native f32",
    "numpy64": "NumPy f64",
    "numpy32": "NumPy f32",
    "torch": "PyTorch f32",
}
# Rows per forward pass at inference, the reference's chunk, so every backend sees the same.
INFERENCE_CHUNK = 4096
OUTPUT_NAMES = {
    "json": "bench_epoch.json",
    "markdown": "bench_epoch.md",
    "chart": "bench_epoch.png",
}
OPTIMIZER_OUTPUT_NAMES = {
    "json": "bench_optimizers.json",
    "markdown": "bench_optimizers.md",
}
# The optimizers timed against plain SGD, the first; each at its own default rate.
OPTIMIZERS = ("sgd", "sgd_momentum", "adam", "adamw", "rmsprop")
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "sgd_momentum": "SGD momentum 0.9",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
}
# The recipes timed to an accuracy, as ``nanomlp train``'s settings; the preset's come from
# ``PRESETS["fast"]`` when the section runs.
NOTEBOOK_RECIPE: dict[str, Any] = {
    "hidden": list(LAYER_SIZES[1:-1]),
    "optimizer": "sgd",
    "lr": 0.1,  # the best of the notebook's grid, with batch 32 and 10 epochs
    "batch_size": 32,
    "epochs": 10,
}
RECIPE_LABELS = {
    "preset_fast": "nanomlp `train --preset fast`",
    "torch_fast": "PyTorch, the same recipe",
    "notebook": "nanomlp, the notebook's best (SGD lr 0.1, batch 32, 10 epochs)",
}
# The goals the optimizer section reports against.
TARGETS = {
    "epoch_ratio_max": 1.15,  # Adam's and RMSprop's train-only epoch, times plain SGD's
    "epoch_ratio_optimizers": ("adam", "rmsprop"),
    "preset_vs_notebook_max": 0.4,  # --preset fast's training time, times the notebook recipe's
    "preset_mean_accuracy_min": 0.98,
    "sklearn_accuracy_gap_max": 0.005,
    "sklearn_speedup_min": 3.0,
}

ACTIVATION_OUTPUT_NAMES = {
    "json": "bench_activations.json",
    "markdown": "bench_activations.md",
}
REGRESSION_OUTPUT_NAMES = {
    "json": "bench_regression.json",
    "markdown": "bench_regression.md",
}
# The hidden activations timed against ReLU, the first.
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "leaky_relu")
ACTIVATION_TARGETS = {
    "epoch_ratio_max": 1.2,  # the train-only epoch, times ReLU's
    "epoch_ratio_activations": ("tanh", "gelu"),
}
# The diabetes settings of both libraries' estimators, each run from every seed; the
# progression is divided by 100 so that both libraries' default scales suit it.
DIABETES_PARAMS: tuple[dict[str, Any], ...] = (
    {"hidden_layer_sizes": (32,), "max_iter": 400, "learning_rate_init": 3e-3, "alpha": 3.0},
    {
        "hidden_layer_sizes": (16,),
        "max_iter": 200,
        "solver": "sgd",
        "learning_rate_init": 1e-2,
        "alpha": 1.0,
    },
)
REGRESSION_TARGETS = {
    "r2_gap_max": 0.02,  # |nanomlp's test R² - scikit-learn's|
    "friedman_speedup_min": 5.0,  # scikit-learn's fit time / nanomlp's, on make_friedman1
}

Log = Callable[[str], None]


class ParityError(RuntimeError):
    """The native engine and the float32 reference disagree: the timings would mean nothing."""


def check_grid(config: Any) -> None:
    """Check a timing section's ``repeats``, ``batch_sizes`` and ``threads``: whole numbers
    of at least 1, each tuple non-empty; raises ``ValueError`` or ``TypeError`` naming them."""
    _checks.check_int(config.repeats, "repeats", 1)
    for b in config.batch_sizes:
        _checks.check_int(b, "batch_sizes", 1)
    for t in config.threads:
        _checks.check_int(t, "threads", 1)
    if not config.batch_sizes or not config.threads:
        raise ValueError("batch_sizes and threads must each name at least one value")


@dataclass
class BenchConfig:
    """What to run; the defaults are the full benchmark."""

    data: str | None = None  # MNIST folder or mnist.npz; None reads $NANOMLP_DATA
    repeats: int = 5
    batch_sizes: tuple[int, ...] = (32, 128, 256)
    threads: tuple[int, ...] = (1, 2)
    lr: float = _defaults.LR
    seed: int = _defaults.SEED
    n_train: int | None = None  # None: all 55,000 training images of the notebook's split
    n_val: int | None = None  # None: all 5,000 validation images
    parity_rows: int = 2000
    parity_tol: float = 1e-5
    gemm_size: int = 2048
    use_torch: bool = True
    quick: bool = False
    layer_sizes: tuple[int, ...] = field(default=LAYER_SIZES)

    @classmethod
    def quick_config(cls, **overrides: Any) -> BenchConfig:
        """A smoke run: small subsets, one repeat, a smaller GEMM."""
        values: dict[str, Any] = dict(
            repeats=1, n_train=2000, n_val=500, parity_rows=500, gemm_size=512, quick=True
        )
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` or ``TypeError`` naming the first bad setting."""
        check_grid(self)
        _checks.check_positive_float(self.lr, "lr")
        _checks.check_positive_float(self.parity_tol, "parity_tol")
        _checks.check_int(self.parity_rows, "parity_rows", 1)
        _checks.check_int(self.gemm_size, "gemm_size", 1)
        for name in ("n_train", "n_val"):
            if getattr(self, name) is not None:
                _checks.check_int(getattr(self, name), name, 1)


@dataclass
class OptimizerBenchConfig:
    """What the optimizer section runs; the defaults are the full section.

    Three parts: each optimizer's train-only epoch against plain SGD's (``repeats`` rounds,
    the optimizers interleaved in each); ``nanomlp train --preset fast`` against the same
    recipe in PyTorch and against the notebook's best recipe (each of ``seeds``, every recipe
    ``fit_repeats`` times); ``MLPClassifier`` against scikit-learn's (``fit_repeats`` fits
    each, ``sklearn_max_iter`` epochs).
    """

    data: str | None = None  # MNIST folder or mnist.npz; None reads $NANOMLP_DATA
    repeats: int = 5
    batch_sizes: tuple[int, ...] = (32, 256)
    threads: tuple[int, ...] = (1, 2)
    optimizers: tuple[str, ...] = OPTIMIZERS
    seed: int = _defaults.SEED  # the epoch timings' initial weights and shuffle
    seeds: tuple[int, ...] = (0, 1, 2)
    fit_repeats: int = 3
    fit_threads: int = 2
    sklearn_max_iter: int = 10
    sklearn_random_state: int = 0
    n_train: int | None = None  # None: the first 55,000 training images
    n_test: int | None = None  # None: all 10,000 test images
    use_torch: bool = True
    use_sklearn: bool = True
    quick: bool = False
    layer_sizes: tuple[int, ...] = field(default=LAYER_SIZES)

    @classmethod
    def quick_config(cls, **overrides: Any) -> OptimizerBenchConfig:
        """A smoke run: small subsets, one repeat, one seed."""
        values: dict[str, Any] = dict(
            repeats=1, fit_repeats=1, seeds=(0,), n_train=2000, n_test=500, quick=True
        )
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` or ``TypeError`` naming the first bad setting."""
        check_grid(self)
        _checks.check_int(self.fit_repeats, "fit_repeats", 1)
        _checks.check_int(self.fit_threads, "fit_threads", 1)
        _checks.check_int(self.sklearn_max_iter, "sklearn_max_iter", 1)
        for s in self.seeds:
            _checks.check_int(s, "seeds", 0)
        if not self.seeds:
            raise ValueError("seeds must name at least one value")
        if not self.optimizers or self.optimizers[0] != "sgd":
            raise ValueError("optimizers must start with 'sgd', the baseline of the ratios")
        unknown = sorted(set(self.optimizers) - set(OPTIMIZERS))
        if unknown:
            raise ValueError(f"optimizers must be among {OPTIMIZERS}, got {unknown}")
        for name in ("n_train", "n_test"):
            if getattr(self, name) is not None:
                _checks.check_int(getattr(self, name), name, 1)


@dataclass
class ActivationBenchConfig:
    """What the activation section runs: each activation's train-only epoch against ReLU's
    (``repeats`` rounds, the activations taking turns in each, the first rotating)."""

    data: str | None = None  # MNIST folder or mnist.npz; None reads $NANOMLP_DATA
    repeats: int = 5
    batch_sizes: tuple[int, ...] = (32, 256)
    threads: tuple[int, ...] = (1, 2)
    activations: tuple[str, ...] = ACTIVATION_NAMES
    seed: int = _defaults.SEED  # the initial weights and the shuffle
    n_train: int | None = None  # None: the first 55,000 training images
    quick: bool = False
    layer_sizes: tuple[int, ...] = field(default=LAYER_SIZES)

    @classmethod
    def quick_config(cls, **overrides: Any) -> ActivationBenchConfig:
        """A smoke run: 2,000 images, one repeat."""
        values: dict[str, Any] = dict(repeats=1, n_train=2000, quick=True)
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` or ``TypeError`` naming the first bad setting."""
        check_grid(self)
        if not self.activations or self.activations[0] != "relu":
            raise ValueError("activations must start with 'relu', the baseline of the ratios")
        unknown = sorted(set(self.activations) - set(ACTIVATION_NAMES))
        if unknown:
            raise ValueError(f"activations must be among {ACTIVATION_NAMES}, got {unknown}")
        if self.n_train is not None:
            _checks.check_int(self.n_train, "n_train", 1)


@dataclass
class RegressionBenchConfig:
    """What the regression section runs: ``nanomlp.MLPRegressor`` against scikit-learn's on
    diabetes (test R², the mean over ``seeds``, each of ``DIABETES_PARAMS``) and on
    ``make_friedman1`` (fit time, test R², epochs: ``fit_repeats`` fits each, taking turns,
    with ``max_iter`` epochs and again at both estimators' defaults)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    fit_repeats: int = 3
    fit_threads: int = 2
    friedman_rows: int = 50_000
    friedman_noise: float = 1.0
    test_size: float = 0.2
    max_iter: int = 30
    hidden_layer_sizes: tuple[int, ...] = (100,)
    random_state: int = 0
    quick: bool = False

    @classmethod
    def quick_config(cls, **overrides: Any) -> RegressionBenchConfig:
        """A smoke run: 5,000 rows, one fit each, one seed."""
        values: dict[str, Any] = dict(fit_repeats=1, seeds=(0,), friedman_rows=5000, quick=True)
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` or ``TypeError`` naming the first bad setting."""
        _checks.check_int(self.fit_repeats, "fit_repeats", 1)
        _checks.check_int(self.fit_threads, "fit_threads", 1)
        _checks.check_int(self.max_iter, "max_iter", 1)
        _checks.check_int(self.friedman_rows, "friedman_rows", 10)
        for s in self.seeds:
            _checks.check_int(s, "seeds", 0)
        if not self.seeds:
            raise ValueError("seeds must name at least one value")
        if not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {self.test_size}")


# ---------------------------------------------------------------------------------------------
# FLOP accounting


def flop_counts(layer_sizes: Sequence[int]) -> dict[str, int]:
    """Multiply-adds (2 FLOP each) of the dense layers per image; element-wise work is ignored.

    Forward: x·W for every layer. Training step: the forward, dW = Aᵀ·dZ for every layer, and
    dA = dZ·Wᵀ for every layer but the first (nobody needs the gradient of the input).
    """
    products = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    forward = 2 * sum(products)
    backward = 2 * sum(products) + 2 * sum(products[1:])
    return {"forward_per_image": forward, "train_step_per_image": forward + backward}


def epoch_flop(flops: dict[str, int], n_train: int, n_val: int) -> int:
    """The notebook's epoch: a training step per training image, a forward pass per image."""
    return n_train * flops["train_step_per_image"] + (n_train + n_val) * flops["forward_per_image"]


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """The notebook's split, validated once the way ``Trainer`` validates it."""

    x_train: np.ndarray
    y_train: np.ndarray  # int32 class ids, what the engines take
    x_val: np.ndarray
    y_val: np.ndarray
    x_all: np.ndarray  # training then validation rows: the inference workload
    y_all: np.ndarray


def load_data(config: BenchConfig) -> Data:
    """MNIST's training images split as the notebook splits them, cut to the configured sizes."""
    (x, y), _ = load_mnist(config.data)
    n_classes = config.layer_sizes[-1]
    x_train, y_train = x[:-N_VALIDATION], y[:-N_VALIDATION]
    x_val, y_val = x[-N_VALIDATION:], y[-N_VALIDATION:]
    if config.n_train is not None:
        x_train, y_train = x_train[: config.n_train], y_train[: config.n_train]
    if config.n_val is not None:
        x_val, y_val = x_val[: config.n_val], y_val[: config.n_val]
    x_train = _checks.check_features(x_train, config.layer_sizes[0], "x_train")
    x_val = _checks.check_features(x_val, config.layer_sizes[0], "x_val")
    y_train = _checks.check_labels(y_train, len(x_train), n_classes, "y_train")
    y_val = _checks.check_labels(y_val, len(x_val), n_classes, "y_val")
    return Data(
        x_train,
        y_train,
        x_val,
        y_val,
        np.concatenate([x_train, x_val]),
        np.concatenate([y_train, y_val]),
    )


@dataclass
class Split:
    """Training and test rows: the notebook's training images (the validation ones left
    out) and MNIST's test images, validated once."""

    x_train: np.ndarray
    y_train: np.ndarray  # int32 class ids, what the engines take
    x_test: np.ndarray
    y_test: np.ndarray


def load_split(config: OptimizerBenchConfig) -> Split:
    """The first 55,000 training images (or ``n_train``) and the 10,000 test images (or the
    first ``n_test``), as ``nanomlp train`` trains and tests on them."""
    (x, y), (x_test, y_test) = load_mnist(config.data)
    n_train = len(x) - N_VALIDATION if config.n_train is None else config.n_train
    n_test = len(x_test) if config.n_test is None else config.n_test
    n_classes = config.layer_sizes[-1]
    x_fit = _checks.check_features(x[:n_train], config.layer_sizes[0], "x_train")
    x_test = _checks.check_features(x_test[:n_test], config.layer_sizes[0], "x_test")
    return Split(
        x_fit,
        _checks.check_labels(y[:n_train], len(x_fit), n_classes, "y_train"),
        x_test,
        _checks.check_labels(y_test[:n_test], len(x_test), n_classes, "y_test"),
    )


def first_order(model: MLP, n_rows: int) -> np.ndarray:
    """The first epoch's shuffle, drawn from the model's random state as ``Trainer.fit`` draws it."""
    return np.arange(n_rows, dtype=np.int64)[model.random_state.permutation(n_rows)]


def epoch_orders(model: MLP, n_rows: int, epochs: int) -> list[np.ndarray]:
    """Every epoch's shuffle, drawn from the model's random state as ``Trainer.fit`` draws
    them: each epoch permutes the previous epoch's order, as the notebook does."""
    order = np.arange(n_rows, dtype=np.int64)
    orders = []
    for _ in range(epochs):
        order = order[model.random_state.permutation(n_rows)]
        orders.append(order)
    return orders


# ---------------------------------------------------------------------------------------------
# Statistics


def timing_stats(seconds: list[float], flop: int) -> dict[str, Any]:
    """Median, min and max of repeated timings, and the GFLOP/s they mean for ``flop``."""
    median = statistics.median(seconds)
    return {
        "seconds": seconds,
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "gflops_median": flop / median / 1e9,
        "gflops_best": flop / min(seconds) / 1e9,
    }


def spread(seconds: list[float]) -> dict[str, Any]:
    """Median, min and max of repeated timings."""
    return {
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
    }
