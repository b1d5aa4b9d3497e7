"""nanomlp: train small multilayer perceptrons on the CPU, fast and bit-for-bit reproducible."""
from ._core import __version__
from .callbacks import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from .model import MLP
from .trainer import Trainer

__all__ = [
    "MLP",
    "Trainer",
    "Callback",
    "History",
    "ProgressBar",
    "EarlyStopping",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "__version__",
]
