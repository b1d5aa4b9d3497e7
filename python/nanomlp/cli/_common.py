"""What the commands share: the data and output options, data, models and output files."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import _defaults
from .._io import atomic_write
from ._types import int_at_least

# What train, sweep and evaluate accept (train every task; sweep and evaluate classification
# only, the others fail with a message), and what ``nanomlp data`` finds on disk or downloads.
DATASET_CHOICES = (
    "mnist",
    "fashion-mnist",
    "digits",
    "breast-cancer",
    "diabetes",
    "mnist-multilabel",
)
DOWNLOADABLE = ("mnist", "fashion-mnist")
TASKS = ("classification", "binary", "multilabel", "regression")
# (fit, validation, test): each a pair of images and labels.
Split = tuple[tuple[np.ndarray, np.ndarray], ...]


class CommandError(Exception):
    """A runtime failure the user can act on: printed as one line, exit code 1."""


def echo(*parts: Any) -> None:
    """A line of the command's output, flushed so it interleaves with progress on stderr."""
    print(*parts, flush=True)


def add_data_options(parser: argparse.ArgumentParser, min_val_size: int) -> None:
    """Which data, and how the training set is split: shared by train and sweep."""
    parser.add_argument(
        "--dataset", choices=DATASET_CHOICES, default="mnist", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="dataset folder or .npz (default: $NANOMLP_DATA, "
        "the cache, else a download; see 'nanomlp data info')",
    )
    parser.add_argument(
        "--val-size",
        type=int_at_least(min_val_size),
        default=_defaults.VAL_SIZE,
        help="last training images held out for validation (default: %(default)s)",
    )
    parser.add_argument(
        "--limit",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="use only the first N training images (validation included), for quick runs",
    )


def add_output_options(parser: argparse.ArgumentParser, quiet_help: str) -> None:
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/<date-time>/)")
    parser.add_argument("--quiet", action="store_true", help=quiet_help)


# ---------------------------------------------------------------------------------------- data
def load_dataset(
    name: str, path: str | None, tasks: tuple[str, ...] = ("classification",)
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The dataset's (train, test) pair; refused (before loading) unless its task is one of
    ``tasks``."""
    from .. import datasets

    about = datasets.describe(name)
    if about.task not in tasks:
        raise CommandError(
            f"{name} is a {about.task} task: this command takes "
            f"{' or '.join(tasks)} datasets only; 'nanomlp train --dataset {name}' trains it, "
            f"and in Python nanomlp.datasets.{about.loader}() loads it"
        )
    if about.source == "scikit-learn" and path is not None:
        raise CommandError(f"{name} is bundled with scikit-learn: --data does not apply to it")
    return datasets.load(name, path)


def data_location(name: str, path: str | None) -> str | None:
    """Where the data just loaded came from, for the record."""
    from .. import datasets

    if datasets.describe(name).source == "scikit-learn":
        import sklearn

        return f"bundled with scikit-learn {sklearn.__version__}"
    # The multi-label view reads MNIST's files.
    files = "mnist" if datasets.describe(name).name == "mnist-multilabel" else name
    info = datasets.dataset_info(files, path=path)
    return f"{info.location} ({info.source})" if info.found else None


def split_data(args: argparse.Namespace, tasks: tuple[str, ...] = ("classification",)) -> Split:
    """(fit, validation, test) pairs as the options say: the last --val-size training images
    (of the first --limit) held out, as the notebook holds out its last 5,000; ``tasks`` as
    ``load_dataset``'s."""
    if args.limit is not None and args.limit <= args.val_size:
        args.command_parser.error(
            f"--limit ({args.limit}) must be larger than --val-size ({args.val_size})"
        )
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset, args.data, tasks)
    if args.limit is not None:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    if args.val_size >= len(x_train):
        raise CommandError(
            f"--val-size {args.val_size} leaves no training images out of {len(x_train)}"
        )
    n_fit = len(x_train) - args.val_size
    return (x_train[:n_fit], y_train[:n_fit]), (x_train[n_fit:], y_train[n_fit:]), (x_test, y_test)


# -------------------------------------------------------------------------------------- models
def load_model(path: str) -> Any:
    from ..model import MLP

    return MLP.load(path)


def backend_for(model: Any) -> str:
    return "native" if model.dtype == np.float32 else "numpy"


# ------------------------------------------------------------------------------------- outputs
def use_agg() -> None:
    """Files only: no window, whatever the machine's display."""
    from ..plotting import require_matplotlib

    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")


def save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


def default_out() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, n = Path("runs") / stamp, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


@contextlib.contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """Create ``out``; remove it again if the command fails before writing anything into it."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create the output folder {out}: {err.strerror or err}") from err
    try:
        yield out
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only succeeds while it is empty
        raise
