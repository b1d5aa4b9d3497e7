"""nanomlp: train small multilayer perceptrons on the CPU, fast and bit-for-bit reproducible."""

from . import optim, schedules
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
from .loggers import CSVLogger, TensorBoard
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
    "CSVLogger",
    "TensorBoard",
    "MLPClassifier",
    "MLPRegressor",
    "optim",
    "schedules",
    "__version__",
]


def __getattr__(name: str):
    # scikit-learn is optional and heavy: imported only when an estimator is asked for.
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'nanomlp' has no attribute {name!r}")
