"""Training and inference: ``Trainer`` runs an ``MLP`` on the native engine or the NumPy reference."""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np

from . import _core, reference
from ._checks import check_features, check_int, check_labels, check_positive_float
from .callbacks import Callback, History, ProgressBar, TerminateOnNaN
from .model import MLP, parameter_views

BACKENDS = ("native", "numpy")


def resolve_threads(threads: Any = None) -> int:
    """``threads`` (>= 1); by default NANOMLP_NUM_THREADS, else the cores this process may use."""
    if threads is not None:
        return check_int(threads, "threads", 1)
    env = os.environ.get("NANOMLP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"NANOMLP_NUM_THREADS must be an integer >= 1, got {env!r}") from None
        return check_int(value, "NANOMLP_NUM_THREADS", 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class NativeBackend:
    """The C++ engine, on the model's float32 parameters in place."""

    def __init__(self, model: MLP, threads: int = 1) -> None:
        if model.dtype != np.float32:
            raise ValueError(
                f"backend='native' trains float32 parameters, but the model is {model.dtype}; "
                "use MLP(dtype='float32') or backend='numpy'"
            )
        self.model = model
        self.threads = threads
        self._networks: dict[int, Any] = {}

    def _network(self, batch_size: int) -> Any:
        # Workspaces are sized once per batch size and reused for every epoch.
        if batch_size not in self._networks:
            self._networks[batch_size] = _core.Network(
                list(self.model.layer_sizes), batch_size, threads=self.threads
            )
        return self._networks[batch_size]

    def train_epoch(
        self, x: np.ndarray, labels: np.ndarray, order: np.ndarray, batch_size: int, lr: float,
        optimizer: "SGD",
    ) -> int:
        net = self._network(min(batch_size, len(order)))
        return net.train_epoch(
            self.model.params, x, labels, order, lr, momentum=optimizer.momentum,
            nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay,
            velocity=optimizer.velocity,
        )

    def evaluate(
        self, x: np.ndarray, labels: np.ndarray | None, return_proba: bool = False
    ) -> tuple[float, int, np.ndarray | None]:
        return self._network(1).evaluate(self.model.params, x, labels, return_proba)


class NumpyBackend:
    """The NumPy reference, in the model's dtype (float64 reproduces the notebook)."""

    def __init__(self, model: MLP) -> None:
        self.model = model

    def train_epoch(
        self, x: np.ndarray, labels: np.ndarray, order: np.ndarray, batch_size: int, lr: float,
        optimizer: "SGD",
    ) -> int:
        m = self.model
        velocities = None
        if optimizer.velocity is not None:
            weights, biases = parameter_views(optimizer.velocity, m.layer_sizes)
            velocities = weights + biases
        return reference.train_epoch(
            m.weights, m.biases, x, labels, order, batch_size, lr, momentum=optimizer.momentum,
            nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay, velocities=velocities,
        )

    def evaluate(
        self, x: np.ndarray, labels: np.ndarray | None, return_proba: bool = False
    ) -> tuple[float, int, np.ndarray | None]:
        return reference.evaluate(self.model.weights, self.model.biases, x, labels, return_proba)


class SGD:
    """The optimiser's settings and state: PyTorch's SGD (momentum, Nesterov, weight decay).

    ``velocity`` (laid out as the model's ``params``) holds the momentum buffers; it lives as
    long as the Trainer, so successive ``fit`` calls continue with it, as in Keras.
    """

    def __init__(self, model: MLP, momentum: float, nesterov: bool, weight_decay: float) -> None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating, np.integer)):
            raise TypeError(f"momentum must be a real number, got {momentum!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float, np.floating, np.integer)):
            raise TypeError(f"weight_decay must be a real number, got {weight_decay!r}")
        if not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.velocity = np.zeros_like(model.params) if self.momentum else None


class Trainer:
    """Minibatch SGD on an ``MLP``, the classic notebook's algorithm.

    Each epoch shuffles the training rows with the model's ``random_state`` (as the notebook's
    ``np.random.shuffle`` did), steps through them in batches of ``batch_size`` (the last one
    short) with ``W -= lr * dW``, then measures loss and accuracy with a full pass over the
    training set and the validation set.

    ``backend="native"`` runs the C++ engine on a float32 model; ``backend="numpy"`` runs the
    NumPy reference in the model's dtype. ``threads`` is the native engine's thread count
    (default: NANOMLP_NUM_THREADS, else the available cores); its results are bit-identical for
    any count. ``momentum``, ``nesterov`` and ``weight_decay`` turn plain SGD into PyTorch's
    ``optim.SGD`` with those settings (weight decay applies to weights, not biases); the
    defaults keep the notebook's ``W -= lr * dW`` bit for bit.
    """

    def __init__(
        self,
        model: MLP,
        lr: float = 0.01,
        batch_size: int = 32,
        epochs: int = 10,
        backend: str = "native",
        threads: int | None = None,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"model must be an nanomlp.MLP, got {type(model).__name__}")
        self.model = model
        self.lr = check_positive_float(lr, "lr")
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.epochs = check_int(epochs, "epochs", 0)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.threads = resolve_threads(threads)
        self._engine = (
            NativeBackend(model, self.threads) if backend == "native" else NumpyBackend(model)
        )
        self.optimizer = SGD(model, momentum, nesterov, weight_decay)
        self.stop_training = False

    def get_optimizer_state(self) -> dict[str, Any]:
        """A copy of the optimiser's state (the momentum buffers), for ``set_optimizer_state``."""
        v = self.optimizer.velocity
        return {"velocity": None if v is None else v.copy()}

    def set_optimizer_state(self, state: dict[str, Any]) -> None:
        """Continue from a state that ``get_optimizer_state`` returned."""
        v = state.get("velocity")
        if (v is None) != (self.optimizer.velocity is None):
            raise ValueError("the optimizer state does not match this trainer's momentum setting")
        if v is not None:
            v = np.asarray(v)
            if v.shape != self.optimizer.velocity.shape:
                raise ValueError(f"velocity must have shape {self.optimizer.velocity.shape}, got {v.shape}")
            self.optimizer.velocity[...] = v

    def _features(self, x: Any, name: str = "x") -> np.ndarray:
        return check_features(x, self.model.n_features, name)

    def _labels(self, y: Any, n_rows: int, name: str = "y") -> np.ndarray:
        return check_labels(y, n_rows, self.model.n_classes, name)

    def _metrics(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        loss_sum, correct, _ = self._engine.evaluate(x, labels)
        return loss_sum / len(x), correct / len(x)

    def fit(
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None = None,
        verbose: int = 0,
        callbacks: Sequence[Callback] | None = None,
        epochs: int | None = None,
        initial_epoch: int = 0,
    ) -> History:
        """Train from the model's current weights; returns the ``History`` of per-epoch metrics.

        ``x`` is (n_samples, n_features), converted to C-contiguous float32 if it is not
        already; ``y`` is class ids (n_samples,) or one-hot rows (n_samples, n_classes).
        ``verbose=0`` prints nothing, ``1`` a progress bar, ``2`` one line per epoch (see
        ``ProgressBar``). ``callbacks`` run at the end of every epoch, before ``History``; a
        ``TerminateOnNaN`` always runs too.

        ``epochs`` (default: the trainer's) is the number of the last epoch, and training
        starts at ``initial_epoch``, as in Keras. ``initial_epoch=0`` starts a new shuffle
        stream from the rows in order; ``initial_epoch > 0`` resumes a run: it continues the
        composed shuffle saved in ``model.shuffle_order`` (which ``fit`` keeps up to date and
        ``MLP.save`` stores), so ``fit(epochs=2)``, save, load, ``fit(initial_epoch=2,
        epochs=4)`` gives bit for bit the weights of ``fit(epochs=4)``.

        A model is trained from one thread at a time: ``fit`` on a model that another thread
        is training raises ``RuntimeError``.
        """
        with self.model._training():
            return self._fit(x, y, validation_data, verbose, callbacks, epochs, initial_epoch)

    def _fit(
        self, x: Any, y: Any, validation_data: tuple[Any, Any] | None, verbose: int,
        callbacks: Sequence[Callback] | None, epochs: int | None, initial_epoch: int,
    ) -> History:
        x = self._features(x)
        labels = self._labels(y, len(x))
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            x_val = self._features(validation_data[0], "validation_data[0]")
            val = (x_val, self._labels(validation_data[1], len(x_val), "validation_data[1]"))
        verbose = check_int(verbose, "verbose", 0)
        if verbose > 2:
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", 0)
        initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
        if initial_epoch > epochs:
            raise ValueError(f"initial_epoch must be <= epochs ({epochs}), got {initial_epoch}")
        if initial_epoch == 0:
            order = np.arange(len(x), dtype=np.int64)
        else:
            order = self.model.shuffle_order
            if order is None or len(order) != len(x):
                found = "none" if order is None else f"one of {len(order)} rows"
                raise ValueError(
                    f"initial_epoch={initial_epoch} resumes a run, which needs the model's "
                    f"shuffle_order for the {len(x)} training rows (found {found}); train the "
                    "model with fit first (or load one saved after it), or pass initial_epoch=0"
                )
            order = np.array(order, dtype=np.int64)

        history = History()
        all_callbacks = [*(callbacks or [])]
        if not any(isinstance(c, TerminateOnNaN) for c in all_callbacks):
            all_callbacks.append(TerminateOnNaN())
        if verbose:
            all_callbacks.insert(0, ProgressBar(verbose))
        # Last, so it records what the other callbacks add to the logs (a scheduler's lr).
        all_callbacks.append(history)
        params = {
            "epochs": epochs, "initial_epoch": initial_epoch,
            "samples": len(x), "batch_size": self.batch_size,
        }
        for callback in all_callbacks:
            callback.trainer = self
            callback.params = params

        self.stop_training = False
        rng = self.model.random_state
        for callback in all_callbacks:
            callback.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for callback in all_callbacks:
                callback.on_epoch_begin(epoch)
            start = time.perf_counter()
            # The notebook permutes its already shuffled array, so the permutations compose.
            order = order[rng.permutation(len(x))]
            self.model.shuffle_order = order
            self._engine.train_epoch(x, labels, order, self.batch_size, self.lr, self.optimizer)
            logs: dict[str, float] = {}
            logs["train_loss"], logs["train_acc"] = self._metrics(x, labels)
            if val is not None:
                logs["val_loss"], logs["val_acc"] = self._metrics(*val)
            logs["epoch_seconds"] = time.perf_counter() - start
            for callback in all_callbacks:
                callback.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for callback in all_callbacks:
            callback.on_train_end()
        return history

    def evaluate(self, x: Any, y: Any) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) over the rows of ``x``."""
        x = self._features(x)
        return self._metrics(x, self._labels(y, len(x)))

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes), in the model's dtype."""
        return self._engine.evaluate(self._features(x), None, return_proba=True)[2]

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class of each row, int64."""
        return np.argmax(self.predict_proba(x), axis=1).astype(np.int64)
