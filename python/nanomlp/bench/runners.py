"""The backends the benchmark times, each behind the same four calls: epoch, train, infer,
trained_weights. nanomlp's native engine and NumPy reference run through ``Trainer``; PyTorch,
optional, runs the same network from the same initial weights in the same order.

The optimizer section's runners: one train-only epoch per optimizer (``optimizer_epoch``),
a training recipe of ``nanomlp train`` (``RecipeRunner``) and the same recipe in PyTorch
(``TorchRecipeRunner``), and a scikit-learn estimator's fit (``fit_estimator``). The
activation section's: one train-only epoch per hidden activation (``activation_epoch``).
"""

from __future__ import annotations

import inspect
import time
import warnings
from typing import Any

import numpy as np

from .. import _defaults, _recipe, optim
from ..model import MLP
from ..trainer import Trainer
from .config import (
    INFERENCE_CHUNK,
    ActivationBenchConfig,
    BenchConfig,
    Data,
    OptimizerBenchConfig,
    Split,
    epoch_orders,
    first_order,
)


def native_threads_supported() -> bool:
    """Whether ``Trainer`` takes ``threads=`` (else the native engine runs on one thread)."""
    return "threads" in inspect.signature(Trainer).parameters


# The benchmark's data are checked once when loaded, so the timed calls skip the scan for
# NaN (about a fifth of an inference pass), as PyTorch's calls never scan.
def _train_only(trainer: Trainer, x: np.ndarray, labels: np.ndarray, order: np.ndarray) -> None:
    trainer.train_epoch(x, labels, order, assume_finite=True)


def _infer_only(trainer: Trainer, x: np.ndarray, labels: np.ndarray) -> None:
    trainer.evaluate(x, labels, assume_finite=True)


class NanomlpRunner:
    """The native engine or the NumPy reference, through ``Trainer``."""

    def __init__(self, name: str, config: BenchConfig) -> None:
        self.name = name
        self.config = config
        self.backend = "native" if name == "native" else "numpy"
        self.dtype = "float64" if name == "numpy64" else "float32"
        self.passes_threads = self.backend == "native" and native_threads_supported()

    def effective_threads(self, threads: int) -> int:
        # The reference's threads are OpenBLAS's, limited around the call; the native engine
        # is single-threaded unless its Trainer takes threads=.
        if self.backend == "native" and not self.passes_threads:
            return 1
        return threads

    def trainer(self, batch_size: int, threads: int) -> Trainer:
        model = MLP(self.config.layer_sizes, seed=self.config.seed, dtype=self.dtype)
        kwargs: dict[str, Any] = {"threads": threads} if self.passes_threads else {}
        return Trainer(
            model,
            lr=self.config.lr,
            batch_size=batch_size,
            epochs=1,
            backend=self.backend,
            **kwargs,
        )

    def epoch(self, data: Data, batch_size: int, threads: int) -> tuple[float, dict[str, float]]:
        trainer = self.trainer(batch_size, threads)
        history = trainer.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val))
        logs = {key: values[-1] for key, values in history.history.items()}
        return logs.pop("epoch_seconds"), logs

    def train(self, data: Data, batch_size: int, threads: int) -> float:
        # Trainer.fit always adds the metrics pass, so training alone goes to the engine.
        trainer = self.trainer(batch_size, threads)
        order = first_order(trainer.model, len(data.x_train))
        start = time.perf_counter()
        _train_only(trainer, data.x_train, data.y_train, order)
        return time.perf_counter() - start

    def infer(self, data: Data, threads: int) -> float:
        trainer = self.trainer(1, threads)
        start = time.perf_counter()
        _infer_only(trainer, data.x_all, data.y_all)
        return time.perf_counter() - start

    def trained_weights(
        self, x: np.ndarray, labels: np.ndarray, batch_size: int, threads: int
    ) -> list[np.ndarray]:
        trainer = self.trainer(batch_size, threads)
        trainer.fit(x, labels)
        return [np.array(w, dtype=np.float64) for w in trainer.model.weights]


class TorchRunner:
    """The same network in PyTorch: Linear/ReLU, SGD, mean cross-entropy, the same order."""

    name = "torch"

    def __init__(self, torch_module: Any, config: BenchConfig) -> None:
        self.torch = torch_module
        self.config = config

    def effective_threads(self, threads: int) -> int:
        return threads

    def network(self) -> tuple[Any, MLP]:
        """A Sequential holding the initial weights of ``MLP(seed)``, and that MLP."""
        return torch_network(self.torch, self.config.layer_sizes, self.config.seed)

    def _train(self, net: Any, x: Any, labels: Any, order: Any, batch_size: int) -> None:
        optimizer = self.torch.optim.SGD(net.parameters(), lr=self.config.lr)
        loss_fn = self.torch.nn.CrossEntropyLoss()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x.index_select(0, rows)), labels.index_select(0, rows))
            loss.backward()
            optimizer.step()

    def _evaluate(self, net: Any, x: Any, labels: Any) -> tuple[float, int]:
        functional = self.torch.nn.functional
        loss_sum, correct = 0.0, 0
        with self.torch.no_grad():
            for start in range(0, len(x), INFERENCE_CHUNK):
                logits = net(x[start : start + INFERENCE_CHUNK])
                y = labels[start : start + INFERENCE_CHUNK]
                loss_sum += float(functional.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(dim=1) == y).sum())
        return loss_sum, correct

    def _tensors(self, x: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(labels.astype(np.int64))

    def epoch(self, data: Data, batch_size: int, threads: int) -> tuple[float, dict[str, float]]:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(data.x_train)))
        x, y = self._tensors(data.x_train, data.y_train)
        x_val, y_val = self._tensors(data.x_val, data.y_val)
        start = time.perf_counter()
        self._train(net, x, y, order, batch_size)
        train_loss, train_correct = self._evaluate(net, x, y)
        val_loss, val_correct = self._evaluate(net, x_val, y_val)
        seconds = time.perf_counter() - start
        return seconds, {
            "train_loss": train_loss / len(x),
            "train_acc": train_correct / len(x),
            "val_loss": val_loss / len(x_val),
            "val_acc": val_correct / len(x_val),
        }

    def train(self, data: Data, batch_size: int, threads: int) -> float:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(data.x_train)))
        x, y = self._tensors(data.x_train, data.y_train)
        start = time.perf_counter()
        self._train(net, x, y, order, batch_size)
        return time.perf_counter() - start

    def infer(self, data: Data, threads: int) -> float:
        net, _ = self.network()
        x, y = self._tensors(data.x_all, data.y_all)
        start = time.perf_counter()
        self._evaluate(net, x, y)
        return time.perf_counter() - start

    def trained_weights(
        self, x: np.ndarray, labels: np.ndarray, batch_size: int, threads: int
    ) -> list[np.ndarray]:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(x)))
        self._train(net, *self._tensors(x, labels), order, batch_size)
        linears = [m for m in net if isinstance(m, self.torch.nn.Linear)]
        return [lin.weight.detach().numpy().T.astype(np.float64) for lin in linears]


def torch_network(torch: Any, layer_sizes: tuple[int, ...], seed: int) -> tuple[Any, MLP]:
    """A Linear/ReLU ``Sequential`` holding the initial weights of ``MLP(layer_sizes, seed)``,
    and that MLP (whose random state then draws the shuffles)."""
    nn = torch.nn
    model = MLP(layer_sizes, seed=seed, dtype="float32")
    layers: list[Any] = []
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        linear = nn.Linear(*w.shape)
        with torch.no_grad():
            # nanomlp stores W as [fan_in × fan_out]; Linear.weight is [out × in].
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(linear)
        if i < len(model.weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers), model


def import_torch(wanted: bool) -> Any | None:
    """PyTorch if wanted and importable, else None: it is optional."""
    if not wanted:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------------------------
# The optimizer section


def make_optimizer(name: str) -> optim.Optimizer:
    """An optimizer of the epoch timings at its default rate: ``sgd`` is the notebook's plain
    SGD, ``sgd_momentum`` PyTorch's SGD with momentum 0.9."""
    if name == "sgd":
        return optim.SGD(lr=_defaults.LR)
    if name == "sgd_momentum":
        return optim.SGD(lr=_defaults.LR, momentum=0.9)
    return optim.get_optimizer(name)


def optimizer_epoch(
    name: str, split: Split, batch_size: int, threads: int, config: OptimizerBenchConfig
) -> float:
    """Seconds of one train-only epoch of the native engine with the optimizer ``name``, from
    the initial weights of ``MLP(seed)`` and a fresh optimizer state, in its first shuffle."""
    model = MLP(config.layer_sizes, seed=config.seed, dtype="float32")
    trainer = Trainer(
        model, optimizer=make_optimizer(name), batch_size=batch_size, epochs=1, threads=threads
    )
    order = first_order(model, len(split.x_train))
    start = time.perf_counter()
    _train_only(trainer, split.x_train, split.y_train, order)
    return time.perf_counter() - start


def activation_epoch(
    name: str, split: Split, batch_size: int, threads: int, config: ActivationBenchConfig
) -> float:
    """Seconds of one train-only epoch of the native engine, plain SGD, every hidden layer
    activated by ``name``, from the initial weights of ``MLP(seed)`` in its first shuffle."""
    model = MLP(config.layer_sizes, seed=config.seed, dtype="float32", activation=name)
    trainer = Trainer(
        model, optimizer=make_optimizer("sgd"), batch_size=batch_size, epochs=1, threads=threads
    )
    order = first_order(model, len(split.x_train))
    start = time.perf_counter()
    _train_only(trainer, split.x_train, split.y_train, order)
    return time.perf_counter() - start


def _recipe_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Every training setting of ``nanomlp train`` (None: not given), then ``settings``."""
    from ..cli._options import TRAINING_SETTINGS

    return {**dict.fromkeys(TRAINING_SETTINGS), **settings}


class RecipeRunner:
    """A recipe of ``nanomlp train`` (its preset's or its options' settings) on the native
    engine: the optimizer and schedule made as ``train`` makes them, the shuffles drawn as
    ``Trainer.fit`` draws them, and only the training steps timed (no metrics passes)."""

    def __init__(self, settings: dict[str, Any], config: OptimizerBenchConfig) -> None:
        self.settings = _recipe_settings(settings)
        self.config = config
        self.batch_size = int(self.settings["batch_size"])
        self.epochs = int(self.settings["epochs"])
        sizes = config.layer_sizes
        self.layer_sizes = (sizes[0], *self.settings["hidden"], sizes[-1])

    def trainer(self, seed: int, n_train: int) -> Trainer:
        """A fresh ``Trainer`` of the recipe, from ``MLP(seed)``'s initial weights."""
        optimizer = _recipe.make_optimizer(self.settings)
        steps_per_epoch = -(-n_train // self.batch_size)
        schedule = _recipe.make_schedule(self.settings, steps_per_epoch, self.epochs, optimizer.lr)
        return Trainer(
            MLP(self.layer_sizes, seed=seed),
            batch_size=self.batch_size,
            epochs=self.epochs,
            optimizer=optimizer,
            lr_schedule=schedule,
            threads=self.config.fit_threads,
        )

    def train(self, x: np.ndarray, labels: np.ndarray, seed: int) -> tuple[Trainer, float]:
        """The trained ``Trainer`` (the weights ``Trainer.fit`` gives) and the training seconds."""
        trainer = self.trainer(seed, len(x))
        seconds = 0.0
        for order in epoch_orders(trainer.model, len(x), self.epochs):
            start = time.perf_counter()
            _train_only(trainer, x, labels, order)
            seconds += time.perf_counter() - start
        return trainer, seconds

    def run(self, split: Split, seed: int) -> tuple[float, float]:
        """(training seconds, test accuracy) of one run from ``seed``."""
        trainer, seconds = self.train(split.x_train, split.y_train, seed)
        _, accuracy = trainer.evaluate(split.x_test, split.y_test, assume_finite=True)
        return seconds, accuracy


class TorchRecipeRunner:
    """A recipe of ``RecipeRunner`` written in PyTorch: ``optim.SGD`` (momentum, Nesterov)
    and ``lr_scheduler.OneCycleLR`` stepped per batch, mean cross-entropy, from the same
    initial weights in the same shuffles."""

    def __init__(
        self, torch_module: Any, settings: dict[str, Any], config: OptimizerBenchConfig
    ) -> None:
        self.torch = torch_module
        self.nanomlp = RecipeRunner(settings, config)
        s = self.nanomlp.settings
        if (s["optimizer"] or "sgd") != "sgd" or (s["schedule"] or "constant") not in (
            "constant",
            "onecycle",
        ):
            raise ValueError("the PyTorch recipe is SGD with a constant or onecycle schedule")
        unsupported = [
            name
            for name in (
                "weight_decay",
                "warmup",
                "pct_start",
                "dropout",
                "clip_norm",
                "clip_value",
            )
            if s[name] is not None
        ]
        if unsupported:
            raise ValueError(f"the PyTorch recipe does not take {', '.join(unsupported)}")
        self.settings = s

    def run(self, split: Split, seed: int) -> tuple[float, float]:
        """(training seconds, test accuracy) of one run from ``MLP(seed)``'s initial weights."""
        torch, s = self.torch, self.settings
        batch_size, epochs = self.nanomlp.batch_size, self.nanomlp.epochs
        net, model = torch_network(torch, self.nanomlp.layer_sizes, seed)
        n = len(split.x_train)
        orders = [torch.from_numpy(o) for o in epoch_orders(model, n, epochs)]
        x = torch.from_numpy(split.x_train)
        labels = torch.from_numpy(split.y_train.astype(np.int64))
        momentum = s["momentum"] or 0.0
        lr = s["lr"] if s["lr"] is not None else _defaults.LR
        optimizer = torch.optim.SGD(
            net.parameters(), lr=lr, momentum=momentum, nesterov=bool(s["nesterov"])
        )
        scheduler = None
        if s["schedule"] == "onecycle":
            # nanomlp's OneCycleLR keeps momentum fixed; PyTorch's would cycle it by default.
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=s["max_lr"] if s["max_lr"] is not None else lr,
                total_steps=-(-n // batch_size) * epochs,
                cycle_momentum=False,
            )
        loss_fn = torch.nn.CrossEntropyLoss()
        seconds = 0.0
        for order in orders:
            start = time.perf_counter()
            for first in range(0, n, batch_size):
                rows = order[first : first + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(x.index_select(0, rows)), labels.index_select(0, rows))
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            seconds += time.perf_counter() - start
        return seconds, self._accuracy(net, split.x_test, split.y_test)

    def _accuracy(self, net: Any, x: np.ndarray, labels: np.ndarray) -> float:
        torch = self.torch
        correct = 0
        with torch.no_grad():
            for first in range(0, len(x), INFERENCE_CHUNK):
                logits = net(torch.from_numpy(x[first : first + INFERENCE_CHUNK]))
                y = torch.from_numpy(labels[first : first + INFERENCE_CHUNK].astype(np.int64))
                correct += int((logits.argmax(dim=1) == y).sum())
        return correct / len(x)


def fit_estimator(estimator: Any, split: Split) -> dict[str, Any]:
    """Seconds of ``estimator.fit`` on the training rows, its epochs and its test score
    (accuracy for a classifier, R² for a regressor; ``test_acc`` and ``score``).

    A ``ConvergenceWarning`` is expected (the epochs are capped on purpose) and silenced here.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(split.x_train, split.y_train)
        seconds = time.perf_counter() - start
    score = float(estimator.score(split.x_test, split.y_test))
    return {"seconds": seconds, "n_iter": int(estimator.n_iter_), "test_acc": score, "score": score}
