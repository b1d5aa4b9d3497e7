"""Experiment loggers as callbacks: ``CSVLogger`` (a CSV file) and ``TensorBoard`` (event files).

``TensorBoard`` writes with ``tensorboardX`` (``pip install "nanomlp[tensorboard]"``): a small,
maintained writer of TensorBoard's event files that needs neither TensorFlow nor the
``tensorboard`` server package (which is only needed to view them).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
from pathlib import Path
from typing import Any

from ._checks import check_bool, check_int
from ._io import atomic_write
from .callbacks import Callback

__all__ = ["CSVLogger", "TensorBoard"]


def _current_lr(trainer: Any) -> float | None:
    """The learning rate of the epoch's last step (a schedule's, else the base rate)."""
    try:
        state = trainer.model.optimizer_state or {}
        step = int(state.get("step", 0))
        if step > 0:
            return float(trainer.lr_schedule.values(trainer.lr, step - 1, 1)[0])
        return float(trainer.lr)
    except (AttributeError, TypeError, ValueError, IndexError):
        return None


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` (0-based, as Keras) and every log value.

    The columns are fixed at the first epoch (the logs' keys, sorted, and ``lr``). The whole
    file is rewritten atomically after each epoch (it is small): a crash or a kill leaves the
    previous complete file, never a torn row.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; its folder must exist.
    separator : str, default ","
        The field separator, one character.
    append : bool, default False
        Keep the rows already in the file (a resumed run), else start it afresh.

    Raises
    ------
    TypeError, ValueError
        For a bad separator or ``append``, or a path whose folder does not exist.

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> import numpy as np
    >>> from nanomlp import MLP, Trainer, CSVLogger
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> x, y = np.random.RandomState(0).rand(32, 4).astype("float32"), np.arange(32) % 2
    >>> _ = Trainer(MLP((4, 3, 2)), epochs=2).fit(x, y, callbacks=[CSVLogger(path)])
    >>> pathlib.Path(path).read_text().splitlines()[0]
    'epoch,epoch_seconds,lr,train_acc,train_loss'
    """

    def __init__(
        self, path: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = Path(path)
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise ValueError(f"path {str(self.path)!r}: the folder {str(folder)!r} does not exist")
        if not isinstance(separator, str) or len(separator) != 1 or separator in '\r\n"':
            raise ValueError(
                f"separator must be one character (not a quote or newline), got {separator!r}"
            )
        self.separator = separator
        self.append = check_bool(append, "append")
        self._rows: list[list[str]] = []
        self._columns: list[str] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._rows, self._columns = [], None
        if self.append and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f, delimiter=self.separator))
            if rows:
                self._columns, self._rows = rows[0], rows[1:]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = {"epoch": epoch, **(logs or {})}
        if "lr" not in values:
            lr = _current_lr(self.trainer)
            if lr is not None:
                values["lr"] = lr
        if self._columns is None:
            self._columns = ["epoch", *sorted(k for k in values if k != "epoch")]
        self._rows.append([_cell(values.get(column, "NA")) for column in self._columns])
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.separator, lineterminator="\n")
        writer.writerow(self._columns)
        writer.writerows(self._rows)
        with atomic_write(self.path, "w", encoding="utf-8") as f:
            f.write(text.getvalue())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


class TensorBoard(Callback):
    """Writes TensorBoard event files: every epoch's scalars, and optionally weight histograms.

    Each log value (``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``train_r2``,
    ``epoch_seconds``, …) is a scalar under its own name, with the learning rate as ``lr``; the
    step is the 1-based epoch. With ``histogram_freq=N``, every N-th epoch adds each layer's
    weights and biases as histograms (``layer0/weight``, ``layer0/bias``, …).

    Parameters
    ----------
    log_dir : str or os.PathLike
        The folder of the event files (created if missing); ``tensorboard --logdir`` shows it.
    histogram_freq : int, default 0
        Epochs between weight histograms; 0: none.

    Raises
    ------
    ImportError
        Without ``tensorboardX`` (``pip install "nanomlp[tensorboard]"``), when training starts.
    TypeError, ValueError
        For a bad ``log_dir`` or ``histogram_freq``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from nanomlp import MLP, Trainer, TensorBoard
    >>> log_dir = tempfile.mkdtemp()
    >>> x, y = np.random.RandomState(0).rand(32, 4).astype("float32"), np.arange(32) % 2
    >>> _ = Trainer(MLP((4, 3, 2)), epochs=2).fit(x, y, callbacks=[TensorBoard(log_dir)])
    >>> any(name.startswith("events.out.tfevents") for name in os.listdir(log_dir))
    True
    """

    def __init__(self, log_dir: str | os.PathLike[str], histogram_freq: int = 0) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir must be a str or os.PathLike, got {type(log_dir).__name__}")
        self.log_dir = Path(log_dir)
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise ValueError(f"log_dir {str(self.log_dir)!r} is a file, not a folder")
        self.histogram_freq = check_int(histogram_freq, "histogram_freq", 0)
        self._writer: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        from .interop._common import require

        tensorboardx = require("tensorboardX", "tensorboard")
        self._writer = tensorboardx.SummaryWriter(logdir=str(self.log_dir))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        writer = self._writer
        if writer is None:
            return
        values = dict(logs or {})
        if "lr" not in values:
            lr = _current_lr(self.trainer)
            if lr is not None:
                values["lr"] = lr
        for key, value in values.items():
            if isinstance(value, numbers.Real) and math.isfinite(float(value)):
                writer.add_scalar(key, float(value), global_step=epoch + 1)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            model = self.trainer.model
            for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
                writer.add_histogram(f"layer{layer}/weight", w, global_step=epoch + 1)
                writer.add_histogram(f"layer{layer}/bias", b, global_step=epoch + 1)
        writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
