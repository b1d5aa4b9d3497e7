"""The backends the benchmark times, each behind the same four calls: epoch, train, infer,
trained_weights. nanomlp's native engine and NumPy reference run through ``Trainer``; PyTorch,
optional, runs the same network from the same initial weights in the same order."""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np

from ..model import MLP
from ..trainer import Trainer
from .config import INFERENCE_CHUNK, BenchConfig, Data, first_order


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
        nn = self.torch.nn
        model = MLP(self.config.layer_sizes, seed=self.config.seed, dtype="float32")
        layers: list[Any] = []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            linear = nn.Linear(*w.shape)
            with self.torch.no_grad():
                # nanomlp stores W as [fan_in × fan_out]; Linear.weight is [out × in].
                linear.weight.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T)))
                linear.bias.copy_(self.torch.from_numpy(b.copy()))
            layers.append(linear)
            if i < len(model.weights) - 1:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers), model

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


def import_torch(wanted: bool) -> Any | None:
    """PyTorch if wanted and importable, else None: it is optional."""
    if not wanted:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch
