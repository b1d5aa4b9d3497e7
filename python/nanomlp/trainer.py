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
    check_float,
    check_int,
    check_labels,
    check_positive_float,
    check_verbose,
)
from .backends import make_backend, resolve_threads
from .callbacks import Callback, CallbackList, History, ProgressBar, TerminateOnNaN
from .losses import REGRESSION, check_delta, check_loss, check_targets, r2_score
from .model import MLP
from .optim import SGD, Optimizer, get_optimizer
from .schedules import get_schedule
from .weighting import check_sample_weight, class_weight_to_sample_weight


class Trainer:
    """Minibatch training of an ``MLP``: by default the classic notebook's plain SGD.

    Each epoch shuffles the training rows with the model's ``random_state`` (as the notebook's
    ``np.random.shuffle`` did), steps through them in batches of ``batch_size`` (the last one
    short), then measures loss and accuracy with a full pass over the training set and the
    validation set. The optimizer's state (moments, step count) lives on the model
    (``model.optimizer_state``), so successive fits continue it, as in Keras, and ``MLP.save``
    keeps it for a resumed run. Classification reports (loss, accuracy), logged as ``*_loss``
    and ``*_acc``; regression reports (loss, R²), logged as ``*_loss`` and ``*_r2``.

    Parameters
    ----------
    model : MLP
        The model to train, in place.
    lr : float, optional
        The learning rate (default: the optimizer's own, 0.01 for SGD).
    batch_size : int, default 32
        Rows per optimisation step.
    epochs : int, default 10
        The number of the last epoch that ``fit`` trains.
    backend : {"native", "numpy"}, default "native"
        "native" runs the C++ engine on a float32 model; "numpy" runs the NumPy reference in
        the model's dtype.
    threads : int, optional
        The native engine's thread count (default: NANOMLP_NUM_THREADS, else the available
        cores); results are bit-identical for any count.
    momentum, nesterov, weight_decay : float, bool, float
        PyTorch's SGD settings, used when ``optimizer`` is None (weight decay applies to
        weights, not biases; the defaults keep the notebook's ``W -= lr * dW`` bit for bit).
    optimizer : nanomlp.optim.Optimizer or str, optional
        An ``nanomlp.optim`` object (``Adam(lr=1e-3)``) or a name ("sgd", "adam", "adamw",
        "rmsprop", with its defaults and ``lr`` if given).
    lr_schedule : nanomlp.schedules.Schedule or str, optional
        Sets the learning rate of every optimisation step (default: constant).
    clip_norm, clip_value : float, optional
        Clip the gradients' global 2-norm, or each gradient, as ``torch.nn.utils`` does.
    loss : str, optional
        One of ``losses.LOSSES`` (default: the model's); a loss given here becomes the
        model's (with ``delta``), since the output layer is part of the model.
    label_smoothing : float, default 0.0
        ε in [0, 1] for cross-entropy: trains against ``(1 − ε)·onehot + ε/C``, as PyTorch's
        ``CrossEntropyLoss(label_smoothing=ε)``.
    delta : float, optional
        Huber's delta, for ``loss="huber"``.

    Raises
    ------
    TypeError
        When ``model`` is not an ``MLP``, or an argument has the wrong type.
    ValueError
        For a value out of range, or a setting that the optimizer, schedule or loss does not
        take (the message names it).

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP, Trainer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 4), dtype=np.float32)
    >>> y = (x[:, 0] > x[:, 1]).astype(np.int64)
    >>> trainer = Trainer(MLP((4, 16, 2), seed=0), lr=0.5, batch_size=16, epochs=30, threads=1)
    >>> history = trainer.fit(x, y)
    >>> trainer.evaluate(x, y)[1] > 0.9
    True
    >>> Trainer(MLP((4, 16, 2)), optimizer="adam").optimizer
    Adam(lr=0.001, betas=[0.9, 0.999], eps=1e-08, weight_decay=0.0, amsgrad=False)
    """

    def __init__(
        self,
        model: MLP,
        lr: float | None = None,
        batch_size: int = _defaults.BATCH_SIZE,
        epochs: int = _defaults.EPOCHS,
        backend: str = "native",
        threads: int | None = None,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        optimizer: Any = None,
        lr_schedule: Any = None,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        loss: str | None = None,
        label_smoothing: float = 0.0,
        delta: float | None = None,
    ) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"model must be an nanomlp.MLP, got {type(model).__name__}")
        self.model = model
        self.optimizer = _make_optimizer(optimizer, lr, momentum, nesterov, weight_decay)
        self.lr_schedule = get_schedule(lr_schedule)
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.clip_value = (
            None if clip_value is None else check_positive_float(clip_value, "clip_value")
        )
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.epochs = check_int(epochs, "epochs", 0)
        self.threads = resolve_threads(threads)
        loss = model.loss if loss is None else check_loss(loss)
        delta = model.delta if delta is None else check_delta(delta)
        self.label_smoothing = check_float(label_smoothing, "label_smoothing", 0.0, 1.0)
        if self.label_smoothing and loss != "cross_entropy":
            raise ValueError(f"label_smoothing is cross-entropy's; loss={loss!r} has none")
        model.loss, model.delta = loss, delta
        self.loss, self.delta = loss, delta
        self._engine = make_backend(backend, model, self.threads, self.label_smoothing)
        self.backend = backend
        self.stop_training = False

    @property
    def metric(self) -> str:
        """The second figure of ``evaluate`` and the logs: "acc", or "r2" for regression."""
        return "r2" if self.loss in REGRESSION else "acc"

    @property
    def lr(self) -> float:
        """The optimizer's learning rate: the base rate that ``lr_schedule`` scales."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = check_positive_float(value, "lr")

    @property
    def kernel(self) -> str:
        """The code path that computes: ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"generic"``
        (the native engine's instruction set, chosen at run time or by NANOMLP_KERNEL), or
        ``"numpy"``."""
        return self._engine.kernel

    def _optimizer_state(self) -> dict[str, Any]:
        """The model's optimizer state, begun afresh unless it is this optimizer's."""
        m = self.model
        config = self.optimizer.get_config()
        if m.optimizer_state is None or not _same_optimizer(m.optimizer_config, config):
            m.optimizer_state = self.optimizer.init_state(len(m.params), m.params.dtype)
            m.optimizer_config = config
        return m.optimizer_state

    def get_optimizer_state(self) -> dict[str, Any]:
        """A copy of the optimizer's state (its arrays and ``step``), for ``set_optimizer_state``.

        Returns
        -------
        dict
            The state's arrays (copies) and its ``step`` count.

        Examples
        --------
        >>> from nanomlp import MLP, Trainer
        >>> state = Trainer(MLP((4, 8, 2), seed=0), momentum=0.9).get_optimizer_state()
        >>> sorted(state), state["step"]
        (['momentum_buffer', 'step'], 0)
        """
        state = self._optimizer_state()
        return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}

    def set_optimizer_state(self, state: dict[str, Any]) -> None:
        """Continue from a state that ``get_optimizer_state`` returned.

        Parameters
        ----------
        state : dict
            The optimizer's state, as ``get_optimizer_state`` returns it.

        Raises
        ------
        ValueError
            When the state does not fit the optimizer or the model (names, shapes, dtypes).

        Examples
        --------
        >>> from nanomlp import MLP, Trainer
        >>> trainer = Trainer(MLP((4, 8, 2), seed=0), momentum=0.9)
        >>> state = trainer.get_optimizer_state()
        >>> trainer.set_optimizer_state(state)
        """
        m = self.model
        state = {k: np.array(v) if k != "step" else v for k, v in dict(state).items()}
        self.optimizer.check_state(state, len(m.params), m.params.dtype)
        m.optimizer_state = state
        m.optimizer_config = self.optimizer.get_config()

    def _features(self, x: Any, name: str = "x", assume_finite: bool = False) -> np.ndarray:
        return check_features(
            x, self.model.n_features, name, check_bool(assume_finite, "assume_finite")
        )

    def _labels(self, y: Any, n_rows: int, name: str = "y") -> np.ndarray:
        """The engine's targets: int32 class ids for cross-entropy, else float32 [n, k]."""
        if self.loss == "cross_entropy":
            return check_labels(y, n_rows, self.model.n_classes, name)
        return check_targets(y, n_rows, self.model.n_outputs, self.loss, name)

    def _metrics(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        regression = self.loss in REGRESSION
        loss_sum, correct, out = self._engine.evaluate(x, labels, return_proba=regression)
        if regression:
            return loss_sum / len(x), r2_score(labels, out)
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
        sample_weight: Any = None,
        class_weight: Any = None,
    ) -> History:
        """Train from the model's current weights.

        ``callbacks`` run at the end of every epoch, before ``History``; a ``TerminateOnNaN``
        always runs too. ``initial_epoch=0`` starts a new shuffle stream from the rows in order;
        ``initial_epoch > 0`` resumes a run: it continues the composed shuffle saved in
        ``model.shuffle_order`` (which ``fit`` keeps up to date and ``MLP.save`` stores), so
        ``fit(epochs=2)``, save, load, ``fit(initial_epoch=2, epochs=4)`` gives bit for bit the
        weights of ``fit(epochs=4)``. With weights, a batch's loss is ``sum(w * loss) / sum(w)``,
        as scikit-learn and PyTorch's weighted cross-entropy define it; the reported metrics stay
        unweighted.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features)
            Converted to C-contiguous float32 if it is not already.
        y : array-like
            Class ids (n_samples,) or one-hot rows (n_samples, n_classes) for cross-entropy; a 0/1
            indicator matrix (n_samples, n_labels) for binary cross-entropy; real values
            (n_samples,) or (n_samples, n_outputs) for regression.
        validation_data : tuple (x_val, y_val), optional
            Measured after every epoch, logged as ``val_*``.
        verbose : {0, 1, 2}, default 0
            0 prints nothing, 1 a progress bar, 2 one line per epoch (see ``ProgressBar``).
        callbacks : sequence of Callback, optional
            Run at the end of every epoch.
        epochs : int, optional
            The number of the last epoch (default: the trainer's), as in Keras.
        initial_epoch : int, default 0
            The epoch to start at: above 0, resumes a run.
        sample_weight : array-like of shape (n_samples,), optional
            One weight >= 0 per row.
        class_weight : dict or "balanced", optional
            ``{class id: weight}`` or scikit-learn's "balanced"; with ``sample_weight``, a row's
            weight is the product.

        Returns
        -------
        History
            The per-epoch metrics, in ``history.history``.

        Raises
        ------
        ValueError, TypeError
            For bad data (shape, dtype, NaN, labels out of range) or arguments, naming them.
        RuntimeError
            When another thread is training the same model.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLP, Trainer
        >>> rng = np.random.default_rng(0)
        >>> x = rng.random((200, 4), dtype=np.float32)
        >>> y = (x[:, 0] > x[:, 1]).astype(np.int64)
        >>> trainer = Trainer(MLP((4, 16, 2), seed=0), lr=0.5, batch_size=16, epochs=3, threads=1)
        >>> history = trainer.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]))
        >>> sorted(history.history)
        ['epoch_seconds', 'train_acc', 'train_loss', 'val_acc', 'val_loss']
        >>> len(history.history["train_loss"])
        3
        """
        with self.model._training():
            return self._fit(
                x,
                y,
                validation_data,
                verbose,
                callbacks,
                epochs,
                initial_epoch,
                sample_weight,
                class_weight,
            )

    def _fit(
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None,
        verbose: int,
        callbacks: Sequence[Callback] | None,
        epochs: int | None,
        initial_epoch: int,
        sample_weight: Any = None,
        class_weight: Any = None,
    ) -> History:
        x = self._features(x)
        labels = self._labels(y, len(x))
        weights = self._row_weights(labels, sample_weight, class_weight)
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
            self._train_steps(x, labels, order, weights)
            logs: dict[str, float] = {}
            metric = self.metric
            logs["train_loss"], logs[f"train_{metric}"] = self._metrics(x, labels)
            if val is not None:
                logs["val_loss"], logs[f"val_{metric}"] = self._metrics(*val)
            logs["epoch_seconds"] = time.perf_counter() - start
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        hooks.on_train_end()
        return history

    def train_epoch(
        self,
        x: Any,
        y: Any,
        order: Any = None,
        *,
        sample_weight: Any = None,
        class_weight: Any = None,
        assume_finite: bool = False,
    ) -> int:
        """Optimisation steps over the rows of ``x`` taken in ``order``; no metrics, no callbacks.

        The building block of ``fit``, for a loop of your own: batches of ``batch_size`` through
        the rows in ``order`` (default: each row once, as they are), with no shuffle.

        Parameters
        ----------
        x, y : array-like
            As in ``fit``.
        order : array-like of int, optional
            Row indices: a permutation, or any sample of rows.
        sample_weight, class_weight : optional
            As in ``fit``.
        assume_finite : bool, default False
            Skip the scan of ``x`` for NaN and infinity (as scikit-learn's ``assume_finite``), for
            data already checked once.

        Returns
        -------
        int
            The number of optimisation steps taken.

        Raises
        ------
        ValueError, TypeError
            For bad data, indices or weights, naming the argument.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLP, Trainer
        >>> x = np.random.default_rng(0).random((100, 4), dtype=np.float32)
        >>> y = (x[:, 0] > 0.5).astype(np.int64)
        >>> trainer = Trainer(MLP((4, 8, 2), seed=0), batch_size=32)
        >>> trainer.train_epoch(x, y), trainer.train_epoch(x, y, order=np.arange(10))
        (4, 1)
        """
        return self._epoch(x, y, order, sample_weight, class_weight, assume_finite)

    def _epoch(
        self,
        x: Any,
        y: Any,
        order: Any,
        sample_weight: Any,
        class_weight: Any,
        assume_finite: bool,
        track_loss: bool = False,
    ) -> Any:
        """``train_epoch``; with ``track_loss`` (native backend), (steps, the rows' mean loss
        as their steps' forward passes saw them): scikit-learn's running ``loss_``."""
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
        weights = self._row_weights(labels, sample_weight, class_weight)
        with self.model._training():
            return self._train_steps(x, labels, order, weights, track_loss)

    def _row_weights(
        self, labels: np.ndarray, sample_weight: Any, class_weight: Any
    ) -> np.ndarray | None:
        """Per-row weights (float32, as the engine takes them), or None for equal weights."""
        if sample_weight is None and class_weight is None:
            return None
        weights = np.ones(len(labels))
        if sample_weight is not None:
            weights *= check_sample_weight(sample_weight, len(labels))
        if class_weight is not None:
            if self.loss != "cross_entropy":
                raise ValueError(
                    f"class_weight needs class ids (loss='cross_entropy'); with loss="
                    f"{self.loss!r} weigh the rows with sample_weight"
                )
            weights *= class_weight_to_sample_weight(labels, class_weight, self.model.n_classes)
        if not weights.any():
            raise ValueError(
                "sample_weight × class_weight is zero for every row: no row would count"
            )
        return weights.astype(self.model.dtype)

    def _train_steps(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        weights: np.ndarray | None,
        track_loss: bool = False,
    ) -> Any:
        """One pass over ``x[order]`` on the backend, every step at its scheduled rate; with
        ``track_loss`` (native backend), (steps, the rows' mean loss as their steps saw them)."""
        state = self._optimizer_state()
        first_step = int(state["step"])
        n_steps = -(-len(order) // self.batch_size)
        lrs = self.lr_schedule.values(self.lr, first_step, n_steps)
        return self._engine.train_epoch(
            x,
            labels,
            order,
            self.batch_size,
            lrs,
            self.optimizer,
            state,
            sample_weight=weights,
            dropout=self.model.dropout or None,
            dropout_seed=self.model.dropout_seed,
            first_step=first_step,
            clip_value=self.clip_value,
            clip_norm=self.clip_norm,
            **({"track_loss": True} if track_loss else {}),
        )

    def evaluate(self, x: Any, y: Any, *, assume_finite: bool = False) -> tuple[float, float]:
        """Mean loss and accuracy (R² for regression) over the rows of ``x``.

        Parameters
        ----------
        x, y : array-like
            As in ``fit``.
        assume_finite : bool, default False
            As in ``train_epoch``.

        Returns
        -------
        tuple of float
            (mean loss, accuracy) for classification (the exact match of every label for binary
            cross-entropy); (mean loss, R²) for regression (scikit-learn's ``r2_score``, averaged
            over outputs).

        Raises
        ------
        ValueError, TypeError
            For bad data, naming the argument.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLP, Trainer
        >>> x = np.zeros((4, 3), dtype=np.float32)
        >>> loss, acc = Trainer(MLP((3, 5, 2), seed=0)).evaluate(x, np.array([0, 1, 0, 1]))
        >>> round(loss, 4), acc  # zero inputs, zero biases: equal probabilities
        (0.6931, 0.5)
        """
        x = self._features(x, assume_finite=assume_finite)
        return self._metrics(x, self._labels(y, len(x)))

    def _outputs(self, x: Any, assume_finite: bool) -> np.ndarray:
        x = self._features(x, assume_finite=assume_finite)
        return self._engine.evaluate(x, None, return_proba=True)[2]

    def predict_proba(self, x: Any, *, assume_finite: bool = False) -> np.ndarray:
        """Class probabilities, or each label's probability for binary cross-entropy.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features)
            The rows to predict.
        assume_finite : bool, default False
            As in ``train_epoch``.

        Returns
        -------
        ndarray
            (n_samples, n_classes) for cross-entropy, (n_samples, n_labels) for binary
            cross-entropy; in the model's dtype.

        Raises
        ------
        ValueError
            For a regression model (use ``predict``), or bad ``x``.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLP, Trainer
        >>> proba = Trainer(MLP((3, 5, 4), seed=0)).predict_proba(np.zeros((2, 3), np.float32))
        >>> proba
        array([[0.25, 0.25, 0.25, 0.25],
               [0.25, 0.25, 0.25, 0.25]], dtype=float32)
        """
        if self.loss in REGRESSION:
            raise ValueError(
                f"predict_proba is for classification; loss={self.loss!r} is a regression: "
                "use predict for its values"
            )
        return self._outputs(x, assume_finite)

    def predict(self, x: Any, *, assume_finite: bool = False) -> np.ndarray:
        """The predicted class, labels or values of each row.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features)
            The rows to predict.
        assume_finite : bool, default False
            As in ``train_epoch``.

        Returns
        -------
        ndarray
            The most probable class (int64, (n,)) for cross-entropy; the 0/1 labels with
            probability ≥ 0.5 (int64, (n, k)) for binary cross-entropy; the values for regression,
            (n,) when the model has one output, else (n, k).

        Raises
        ------
        ValueError, TypeError
            For bad ``x``, naming it.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLP, Trainer
        >>> trainer = Trainer(MLP((3, 5, 1), loss="mse", seed=0))
        >>> trainer.predict(np.zeros((2, 3), np.float32))
        array([0., 0.], dtype=float32)
        """
        out = self._outputs(x, assume_finite)
        if self.loss == "cross_entropy":
            return np.argmax(out, axis=1).astype(np.int64)
        if self.loss == "binary_cross_entropy":
            return (out >= 0.5).astype(np.int64)
        return out[:, 0] if out.shape[1] == 1 else out


def _make_optimizer(
    optimizer: Any, lr: Any, momentum: Any, nesterov: Any, weight_decay: Any
) -> Optimizer:
    """``optimizer`` as an ``Optimizer``; None means SGD with the Trainer's own settings."""
    if optimizer is None:
        return SGD(
            lr=_defaults.LR if lr is None else lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
        )
    if momentum != 0.0 or nesterov or weight_decay != 0.0:
        raise ValueError(
            "momentum, nesterov and weight_decay are the settings of the default SGD; "
            "with optimizer=, set them on the optimizer (optim.SGD(momentum=0.9), ...)"
        )
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ValueError(
                f"lr is given twice: lr={lr!r} and the optimizer's lr={optimizer.lr!r}; "
                "set it on the optimizer"
            )
        return optimizer
    if isinstance(optimizer, str):
        return get_optimizer(optimizer, **({} if lr is None else {"lr": lr}))
    raise TypeError(
        f"optimizer must be an nanomlp.optim optimizer, a name or None, got {optimizer!r}"
    )


def _same_optimizer(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Whether two optimizer configs share their state's meaning: all settings but the rate."""
    if a is None:
        return False
    return {k: v for k, v in a.items() if k != "lr"} == {k: v for k, v in b.items() if k != "lr"}
