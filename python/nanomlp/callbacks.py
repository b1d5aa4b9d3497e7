"""Hooks called by ``Trainer.fit`` at epoch granularity, in the shape Keras made familiar.

``fit`` sets ``callback.trainer`` (the running ``Trainer``; ``trainer.model`` is the model) and
``callback.params`` (``epochs``, ``initial_epoch``, ``samples``, ``batch_size``) before
``on_train_begin``. Epochs are numbered from 0 in the hooks, as in Keras; a callback stops
training by setting ``trainer.stop_training = True``.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from typing import Any, Callable, TextIO

import numpy as np

from ._checks import check_int, check_positive_float, check_verbose
from ._progress import StatusLine, bar, duration

__all__ = [
    "Callback",
    "History",
    "ProgressBar",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "format_epoch",
]


class Callback:
    """Override any of the hooks; ``trainer`` and ``params`` are set before training starts.

    Hooks, each a no-op unless overridden: ``on_train_begin(logs)``, ``on_epoch_begin(epoch,
    logs)``, ``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``; ``epoch`` is 0-based and
    ``logs`` holds the epoch's metrics. Setting ``self.trainer.stop_training = True`` stops
    training after the current epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP, Callback, Trainer
    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, sorted(logs))
    >>> x = np.zeros((8, 3), np.float32)
    >>> _ = Trainer(MLP((3, 4, 2), seed=0), epochs=1).fit(x, np.zeros(8, int), callbacks=[PrintLoss()])
    0 ['epoch_seconds', 'train_acc', 'train_loss']
    """

    trainer: Any = None
    params: dict[str, Any] = {}

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...


class CallbackList:
    """The callbacks of one ``fit``, called in order: ``History`` last, so it records what the
    others add to the logs (a scheduler's ``lr``)."""

    def __init__(self, callbacks: list[Callback], trainer: Any, params: dict[str, Any]) -> None:
        self.callbacks = callbacks
        for callback in callbacks:
            callback.trainer = trainer
            callback.params = params

    def on_train_begin(self) -> None:
        for callback in self.callbacks:
            callback.on_train_begin()

    def on_epoch_begin(self, epoch: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self) -> None:
        for callback in self.callbacks:
            callback.on_train_end()


class History(Callback):
    """Per-epoch metrics: ``history.history[key]`` is a list with one value per epoch.

    Keys: ``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc`` (with validation data;
    ``train_r2`` and ``val_r2`` instead of the accuracies for a regression)
    and ``epoch_seconds`` (wall time of the epoch, training and metrics); ``lr`` with a
    ``LearningRateScheduler``. ``epoch`` lists the (0-based) epoch numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP, Trainer
    >>> history = Trainer(MLP((3, 4, 2), seed=0), epochs=2).fit(np.zeros((8, 3)), np.zeros(8, int))
    >>> history
    History(epochs=2, keys=['epoch_seconds', 'train_acc', 'train_loss'])
    >>> history.epoch, history.history["train_acc"]
    ([0, 1], [1.0, 1.0])
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def format_epoch(epoch: int, epochs: int, logs: dict) -> str:
    """The classic notebook's line: ``Epoch 1/10 - Train Loss: …, Acc: … | Val Loss: …, Acc: …``.

    Parameters
    ----------
    epoch : int
        The 0-based epoch (printed 1-based).
    epochs : int
        The number of epochs of the run.
    logs : dict
        The epoch's metrics: ``train_loss`` and ``train_acc`` (or ``train_r2``), and the
        ``val_`` ones when present.

    Returns
    -------
    str
        The line, without a newline.

    Raises
    ------
    KeyError
        When ``logs`` lacks ``train_loss`` or the training accuracy (or R²).

    Examples
    --------
    >>> from nanomlp.callbacks import format_epoch
    >>> format_epoch(0, 10, {"train_loss": 0.38261, "train_acc": 0.8915})
    'Epoch 1/10 - Train Loss: 0.3826, Acc: 0.8915'
    """
    key, name = ("r2", "R²") if "train_r2" in logs else ("acc", "Acc")
    line = f"Epoch {epoch + 1}/{epochs} - Train Loss: {logs['train_loss']:.4f}, {name}: {logs[f'train_{key}']:.4f}"
    if "val_loss" in logs:
        line += f" | Val Loss: {logs['val_loss']:.4f}, {name}: {logs[f'val_{key}']:.4f}"
    return line


class ProgressBar(Callback):
    """Reports progress: ``verbose=0`` silent, ``1`` progress bar, ``2`` one line per epoch.

    With ``verbose=1`` each epoch prints the notebook's line and, on a terminal, a bar below it
    (epochs done of the total, elapsed time, ETA) that is redrawn in place and erased at the
    end. Off a terminal (a log file, a pipe) there is nothing to redraw, so ``1`` prints the
    same lines as ``2``. ``Trainer.fit(verbose=...)`` adds one of these for you.

    Parameters
    ----------
    verbose : {0, 1, 2}, default 1
        0 silent, 1 a progress bar, 2 one line per epoch.
    stream : file-like, optional
        Where to write (default: ``sys.stdout`` at the time of writing).
    width : int, default 30
        The bar's width in characters.

    Raises
    ------
    ValueError, TypeError
        For ``verbose`` not 0, 1 or 2, or ``width`` not an integer >= 1.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from nanomlp import MLP, ProgressBar, Trainer
    >>> out = io.StringIO()
    >>> trainer = Trainer(MLP((3, 4, 2), seed=0), epochs=1)
    >>> _ = trainer.fit(np.zeros((8, 3)), np.zeros(8, int), callbacks=[ProgressBar(2, stream=out)])
    >>> print(out.getvalue(), end="")
    Epoch 1/1 - Train Loss: 0.6882, Acc: 1.0000
    """

    def __init__(self, verbose: int = 1, stream: TextIO | None = None, width: int = 30) -> None:
        self.verbose = check_verbose(verbose)
        self.stream = stream
        self.width = check_int(width, "width", 1)
        self._start = 0.0
        self._line = StatusLine(stream, to_stdout=True)

    def _redraws(self) -> bool:
        return self.verbose == 1 and self._line.redraws()

    def _epochs(self) -> tuple[int, int]:
        return int(self.params.get("initial_epoch", 0)), int(self.params.get("epochs", 0))

    def _bar(self, done: int) -> str:
        first, total = self._epochs()
        elapsed = time.perf_counter() - self._start
        text = f"{bar((done - first) / max(total - first, 1), self.width)} {done}/{total} epochs"
        text += f" - {duration(elapsed)} elapsed"
        if done > first:
            text += f" - ETA {duration(elapsed / (done - first) * (total - done))}"
        return text

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._line = StatusLine(self.stream, to_stdout=True)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._redraws() and not self._line.shown:  # later bars are drawn at each epoch's end
            self._line.show(self._bar(epoch))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.verbose:
            return
        self._line.write(format_epoch(epoch, self._epochs()[1], logs or {}))
        if self._redraws() and epoch + 1 < self._epochs()[1]:
            self._line.show(self._bar(epoch + 1))

    def on_train_end(self, logs: dict | None = None) -> None:
        self._line.clear()


def _improvement_test(monitor: str, mode: str, min_delta: float) -> Callable[[float, float], bool]:
    """``better(value, best)`` for a metric: lower is better for losses, higher for accuracies
    and R²."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "acc" in monitor or "r2" in monitor else "min"
    if mode == "min":
        return lambda value, best: value < best - min_delta
    return lambda value, best: value > best + min_delta


def _monitored(callback: str, monitor: str, logs: dict | None) -> float:
    if not logs or monitor not in logs:
        available = ", ".join(sorted(logs or {})) or "none"
        hint = " (pass validation_data to fit)" if monitor.startswith("val_") else ""
        raise ValueError(
            f"{callback} monitors {monitor!r}, which is not in the epoch's logs{hint}; "
            f"available: {available}"
        )
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stops training once ``monitor`` has gone ``patience`` epochs in a row without improving
    by more than ``min_delta``.

    With ``restore_best_weights=True`` the model ends with the parameters of its best epoch
    (when that was not the last). ``best``, ``best_epoch`` and ``stopped_epoch`` (``None``
    if it never stopped training) tell what happened.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The logged metric to watch.
    patience : int, default 0
        Epochs in a row without improvement before stopping.
    min_delta : float, default 0.0
        The least change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; "auto" decides from the name (accuracies and R²
        grow, losses shrink).
    restore_best_weights : bool, default False
        End with the parameters of the best epoch.

    Raises
    ------
    ValueError, TypeError
        For a negative ``patience`` or ``min_delta``, or an unknown ``mode``; during training,
        ``ValueError`` when ``monitor`` is not logged.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP, EarlyStopping, Trainer
    >>> x = np.random.default_rng(0).random((64, 3), dtype=np.float32)
    >>> stop = EarlyStopping(monitor="train_loss", patience=0, min_delta=10.0)
    >>> history = Trainer(MLP((3, 4, 2), seed=0), epochs=10).fit(x, (x[:, 0] > 0.5).astype(int), callbacks=[stop])
    >>> stop.stopped_epoch, len(history.epoch)
    (1, 2)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        self.monitor = monitor
        self.patience = check_int(patience, "patience", 0)
        if (
            isinstance(min_delta, bool)
            or not isinstance(min_delta, (int, float))
            or not min_delta >= 0
        ):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self._better = _improvement_test(monitor, mode, self.min_delta)
        self.restore_best_weights = bool(restore_best_weights)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_params: np.ndarray | None = None
        self._last_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = _monitored("EarlyStopping", self.monitor, logs)
        self._last_epoch = epoch
        # NaN never counts as an improvement: a diverged epoch only uses up patience.
        if (
            self.best is None
            and math.isfinite(value)
            or self.best is not None
            and self._better(value, self.best)
        ):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = self.trainer.model.params.copy()
            return
        self.wait += 1
        # As Keras: patience 0 and 1 both stop at the first epoch without improvement.
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._best_params is not None and self.best_epoch != self._last_epoch:
            # In place: weights and biases are views of params, and the engine reads params.
            self.trainer.model.params[...] = self._best_params


class ModelCheckpoint(Callback):
    """Saves the model after each epoch with ``MLP.save`` (atomic: a kill mid-save leaves the
    previous file whole).

    ``path`` may hold ``str.format`` fields: ``{epoch}`` (1-based, as printed) and any key
    of the logs, e.g. ``"ckpt-{epoch:02d}-{val_loss:.4f}.npz"``. With ``save_best_only`` it
    saves only when ``monitor`` improved. The file's metadata holds the epoch, the logs and
    the trainer's settings, so ``fit(initial_epoch=metadata["epoch"])`` resumes from it. A
    model whose parameters went NaN is never saved over a good file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, possibly with ``str.format`` fields.
    monitor : str, default "val_loss"
        The logged metric that ``save_best_only`` watches.
    save_best_only : bool, default False
        Save only when ``monitor`` improved.
    mode : {"auto", "min", "max"}, default "auto"
        As in ``EarlyStopping``.

    Raises
    ------
    ValueError
        For an unknown ``mode``; during training, when ``monitor`` is not logged or ``path``
        names a field that is not.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from nanomlp import MLP, ModelCheckpoint, Trainer
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt-{epoch}.npz")
    >>> checkpoint = ModelCheckpoint(path, monitor="train_loss")
    >>> _ = Trainer(MLP((3, 4, 2), seed=0), epochs=2).fit(np.zeros((8, 3)), np.zeros(8, int), callbacks=[checkpoint])
    >>> [os.path.basename(p) for p in checkpoint.saved]
    ['ckpt-1.npz', 'ckpt-2.npz']
    """

    def __init__(
        self,
        path: str,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ) -> None:
        self.path = str(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self._better = _improvement_test(monitor, mode, 0.0)
        self.best: float | None = None
        self.saved: list[str] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        model = self.trainer.model
        if not np.isfinite(model.params).all():
            return
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            if (
                not math.isfinite(value)
                or self.best is not None
                and not self._better(value, self.best)
            ):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        trainer = self.trainer
        metadata = {
            **model.metadata,
            "epoch": epoch + 1,
            "logs": logs,
            "trainer": {
                "lr": trainer.lr,
                "batch_size": trainer.batch_size,
                "backend": trainer.backend,
            },
        }
        model.save(path, metadata=metadata)
        self.saved.append(path)


class TerminateOnNaN(Callback):
    """Stops training, with a ``RuntimeWarning``, once a loss or a parameter is NaN or infinite.

    ``Trainer.fit`` always runs one: a diverging run (too high a learning rate, say) stops at
    the first bad epoch instead of training on NaN. ``stopped_epoch`` is that epoch, or None.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from nanomlp import MLP, TerminateOnNaN, Trainer
    >>> model = MLP((3, 4, 2), seed=0)
    >>> model.params[0] = np.nan  # as after a diverging step
    >>> nan_stop = TerminateOnNaN()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     history = Trainer(model, epochs=5).fit(
    ...         np.ones((8, 3)), np.zeros(8, int), callbacks=[nan_stop])
    >>> nan_stop.stopped_epoch, caught[0].category.__name__
    (0, 'RuntimeWarning')
    """

    def __init__(self) -> None:
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        bad = [k for k, v in (logs or {}).items() if k.endswith("loss") and not math.isfinite(v)]
        if not bad and np.isfinite(self.trainer.model.params).all():
            return
        what = f"{bad[0]} is {logs[bad[0]]}" if bad else "the parameters hold NaN or infinity"
        self.stopped_epoch = epoch
        self.trainer.stop_training = True
        warnings.warn(
            f"training diverged at epoch {epoch + 1}: {what}; stopped "
            f"(try a smaller learning rate than {self.trainer.lr:g})",
            RuntimeWarning,
            stacklevel=2,
        )


class LearningRateScheduler(Callback):
    """Sets the trainer's learning rate at the start of each epoch from ``schedule``.

    ``schedule(epoch)`` or ``schedule(epoch, lr)`` (0-based epoch, current rate) returns the
    rate for that epoch, a finite number > 0. The rate used is logged as ``lr``.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch)`` or ``schedule(epoch, lr)``, returning the epoch's rate.

    Raises
    ------
    TypeError
        When ``schedule`` is not callable, or takes neither one nor two positional arguments.
    ValueError
        During training, when it returns a rate that is not a finite number > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP, LearningRateScheduler, Trainer
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch else lr)
    >>> history = Trainer(MLP((3, 4, 2), seed=0), lr=0.1, epochs=3).fit(
    ...     np.zeros((8, 3)), np.zeros(8, int), callbacks=[halve])
    >>> history.history["lr"]
    [0.1, 0.05, 0.025]
    """

    def __init__(self, schedule: Callable[..., float]) -> None:
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        try:
            positional = [
                p
                for p in inspect.signature(schedule).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            ]
            self._takes_lr = len(positional) >= 2 or any(
                p.kind == p.VAR_POSITIONAL for p in positional
            )
        except (TypeError, ValueError):  # builtins without a signature
            self._takes_lr = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        trainer = self.trainer
        lr = self.schedule(epoch, trainer.lr) if self._takes_lr else self.schedule(epoch)
        trainer.lr = check_positive_float(
            lr, f"the learning rate schedule's value for epoch {epoch}"
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["lr"] = self.trainer.lr
