"""Hooks called by ``Trainer.fit`` at epoch granularity, in the shape Keras made familiar."""
from __future__ import annotations

import sys
from typing import Any, TextIO


class Callback:
    """Override any of the hooks; ``trainer`` is set before training starts."""

    trainer: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...


class History(Callback):
    """Per-epoch metrics: ``history.history[key]`` is a list with one value per epoch.

    Keys: ``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc`` (with validation data)
    and ``epoch_seconds`` (wall time of the epoch, training and metrics).
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
    """The classic notebook's line: ``Epoch 1/10 - Train Loss: …, Acc: … | Val Loss: …, Acc: …``."""
    line = f"Epoch {epoch + 1}/{epochs} - Train Loss: {logs['train_loss']:.4f}, Acc: {logs['train_acc']:.4f}"
    if "val_loss" in logs:
        line += f" | Val Loss: {logs['val_loss']:.4f}, Acc: {logs['val_acc']:.4f}"
    return line


class EpochLogger(Callback):
    """Prints one notebook-format line per epoch."""

    def __init__(self, epochs: int, stream: TextIO | None = None) -> None:
        self.epochs = epochs
        self.stream = stream

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        print(format_epoch(epoch, self.epochs, logs or {}), file=self.stream or sys.stdout, flush=True)
