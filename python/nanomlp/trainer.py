"""Training and inference: ``Trainer`` runs an ``MLP`` on the native engine or the NumPy reference."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _defaults
from ._checks import (
    check_bool,
    check_features,
    check_fraction,
    check_int,
    check_labels,
    check_nonnegative_float,
    check_positive_float,
    check_verbose,
)
from .backends import make_backend, resolve_threads
from .callbacks import Callback, CallbackList, History, ProgressBar, TerminateOnNaN
from .model import MLP


class SGD:
    """The optimiser's settings and state: PyTorch's SGD (momentum, Nesterov, weight decay).

    ``velocity`` (laid out as the model's ``params``) holds the momentum buffers; it lives as
    long as the Trainer, so successive ``fit`` calls continue with it, as in Keras.
    """

    def __init__(self, model: MLP, momentum: float, nesterov: bool, weight_decay: float) -> None:
        self.momentum = check_fraction(momentum, "momentum")
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
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
        lr: float = _defaults.LR,
        batch_size: int = _defaults.BATCH_SIZE,
        epochs: int = _defaults.EPOCHS,
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
        self.threads = resolve_threads(threads)
        self._engine = make_backend(backend, model, self.threads)
        self.backend = backend
        self.optimizer = SGD(model, momentum, nesterov, weight_decay)
        self.stop_training = False

    @property
    def kernel(self) -> str:
        """The code path that computes: ``"avx512"``, ``"avx2"`` or ``"generic"`` (the native
        engine's instruction set, chosen at run time or by NANOMLP_KERNEL), or ``"numpy"``."""
        return self._engine.kernel

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
                raise ValueError(
                    f"velocity must have shape {self.optimizer.velocity.shape}, got {v.shape}"
                )
            self.optimizer.velocity[...] = v

    def _features(self, x: Any, name: str = "x", assume_finite: bool = False) -> np.ndarray:
        return check_features(
            x, self.model.n_features, name, check_bool(assume_finite, "assume_finite")
        )

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
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None,
        verbose: int,
        callbacks: Sequence[Callback] | None,
        epochs: int | None,
        initial_epoch: int,
    ) -> History:
        x = self._features(x)
        labels = self._labels(y, len(x))
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            x_val = self._features(validation_data[0], "validation_data[0]")
            val = (x_val, self._labels(validation_data[1], len(x_val), "validation_data[1]"))
        verbose = check_verbose(verbose)
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
        params = {
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "samples": len(x),
            "batch_size": self.batch_size,
        }
        hooks = CallbackList([*all_callbacks, history], self, params)

        self.stop_training = False
        rng = self.model.random_state
        hooks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            hooks.on_epoch_begin(epoch)
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
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        hooks.on_train_end()
        return history

    def train_epoch(self, x: Any, y: Any, order: Any = None, *, assume_finite: bool = False) -> int:
        """Optimisation steps over the rows of ``x`` taken in ``order`` (default: each row
        once, as they are), in batches of ``batch_size``; no metrics, no callbacks, no shuffle.
        ``order`` holds row indices: a permutation, or any sample of rows.

        The building block of ``fit``, for a loop of your own. ``assume_finite=True`` skips
        the scan of ``x`` for NaN and infinity (as scikit-learn's ``assume_finite``): for
        data already checked once. Returns the number of steps taken.
        """
        x = self._features(x, assume_finite=assume_finite)
        labels = self._labels(y, len(x))
        if order is None:
            order = np.arange(len(x), dtype=np.int64)
        else:
            order = np.asarray(order)
            if order.dtype.kind not in "iu" or order.ndim != 1 or len(order) == 0:
                raise ValueError(f"order must be a 1-D array of row indices, got {order!r:.60}")
            if order.min() < 0 or order.max() >= len(x):
                raise ValueError(f"order must hold row indices in [0, {len(x)})")
            order = np.ascontiguousarray(order, dtype=np.int64)
        with self.model._training():
            return self._engine.train_epoch(
                x, labels, order, self.batch_size, self.lr, self.optimizer
            )

    def evaluate(self, x: Any, y: Any, *, assume_finite: bool = False) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) over the rows of ``x``; ``assume_finite`` as in
        ``train_epoch``."""
        x = self._features(x, assume_finite=assume_finite)
        return self._metrics(x, self._labels(y, len(x)))

    def predict_proba(self, x: Any, *, assume_finite: bool = False) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes), in the model's dtype."""
        x = self._features(x, assume_finite=assume_finite)
        return self._engine.evaluate(x, None, return_proba=True)[2]

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class of each row, int64."""
        return np.argmax(self.predict_proba(x), axis=1).astype(np.int64)
