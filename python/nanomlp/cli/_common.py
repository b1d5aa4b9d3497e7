"""What the commands share: argument types, the training and data options, output helpers."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import _defaults
from .._checks import check_fraction
from .._io import atomic_write

DATASET_CHOICES = ("mnist", "fashion-mnist")
DEFAULT_HIDDEN = tuple(_defaults.LAYER_SIZES[1:-1])
# (fit, validation, test): each a pair of images and labels.
Split = tuple[tuple[np.ndarray, np.ndarray], ...]


class CommandError(Exception):
    """A runtime failure the user can act on: printed as one line, exit code 1."""


def echo(*parts: Any) -> None:
    """A line of the command's output, flushed so it interleaves with progress on stderr."""
    print(*parts, flush=True)


# ------------------------------------------------------------------------------ argument types
def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    value = _number(text)
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def momentum(text: str) -> float:
    """SGD momentum, range-checked by the validator that the library's users meet too."""
    try:
        return check_fraction(_number(text), "value")
    except ValueError as err:
        # argparse prefixes "argument --momentum: ", so the validator's own name goes.
        raise argparse.ArgumentTypeError(str(err).removeprefix("value ")) from None


def nonnegative_float(text: str) -> float:
    value = _number(text)
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text}")
        return value

    parse.__name__ = "integer"  # what argparse calls the type in its messages
    return parse


def hidden_spec(text: str) -> tuple[int, ...]:
    """``128,64`` → (128, 64); ``none`` → () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    parse = int_at_least(1)
    return tuple(parse(part) for part in text.split(","))


# ------------------------------------------------------------------------------------- options
def add_training_options(parser: argparse.ArgumentParser, grid: bool) -> None:
    """The settings of a training run, declared once for ``train`` and ``sweep``.

    With ``grid``, the swept settings take one or more values each (every combination is
    run), ``--hidden`` takes comma-separated widths per network, and the settings a sweep does
    not vary (Nesterov, backend, dtype) are left out.
    """
    d = _defaults
    widths = " ".join(map(str, DEFAULT_HIDDEN))

    def add(flag: str, kind: Callable, default: Any, metavar: str, one: str, many: str) -> None:
        if grid:
            parser.add_argument(
                flag,
                type=kind,
                nargs="+",
                default=[default],
                metavar=metavar,
                help=f"{many} (default: {default:g})",
            )
        else:
            parser.add_argument(
                flag, type=kind, default=default, help=f"{one} (default: %(default)s)"
            )

    if grid:
        parser.add_argument(
            "--hidden",
            type=hidden_spec,
            nargs="+",
            default=[DEFAULT_HIDDEN],
            metavar="W,W",
            help="hidden layer widths, comma-separated, one network "
            f"per value (default: {widths.replace(' ', ',')})",
        )
    else:
        parser.add_argument(
            "--hidden",
            type=int_at_least(1),
            nargs="*",
            default=list(DEFAULT_HIDDEN),
            metavar="N",
            help=f"hidden layer widths (default: {widths}; none: softmax regression)",
        )
    add("--lr", positive_float, d.LR, "LR", "learning rate", "learning rates")
    add("--batch-size", int_at_least(1), d.BATCH_SIZE, "N", "minibatch size", "batch sizes")
    add("--epochs", int_at_least(1), d.EPOCHS, "N", "epochs", "epochs")
    if grid:
        parser.add_argument(
            "--momentum",
            type=momentum,
            nargs="+",
            default=[0.0],
            metavar="M",
            help="momentum values in [0, 1) (default: 0)",
        )
        parser.add_argument(
            "--weight-decay",
            type=nonnegative_float,
            nargs="+",
            default=[0.0],
            metavar="D",
            help="weight decay values (default: 0)",
        )
    else:
        parser.add_argument(
            "--momentum",
            type=momentum,
            default=0.0,
            help="SGD momentum in [0, 1) (default: 0, plain SGD)",
        )
        parser.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
        parser.add_argument(
            "--weight-decay",
            type=nonnegative_float,
            default=0.0,
            help="L2 weight decay on the weights (default: 0)",
        )
        parser.add_argument(
            "--backend",
            choices=("native", "numpy"),
            default="native",
            help="native: the C++ engine; numpy: the NumPy reference (default: %(default)s)",
        )
        parser.add_argument(
            "--dtype",
            choices=("float32", "float64"),
            default="float32",
            help="parameter precision; float64 needs --backend numpy and reproduces the "
            "notebook's numbers (default: %(default)s)",
        )
    threads_default = "the cores divided among the jobs" if grid else "the engine's choice"
    parser.add_argument(
        "--threads",
        type=int_at_least(1),
        default=None,
        help=f"{'engine threads per run' if grid else 'threads of the native engine'} "
        f"(default: {threads_default})",
    )
    parser.add_argument(
        "--seed",
        type=int_at_least(0, 2**32 - 1),
        default=d.SEED,
        help="seed of the initial weights and the shuffles (default: %(default)s)",
    )


def check_training_options(args: argparse.Namespace) -> None:
    """What no single option can check: settings that only make sense together."""
    sub = args.command_parser
    if args.dtype == "float64" and args.backend == "native":
        sub.error("--dtype float64 needs --backend numpy (the native engine trains float32)")
    if args.nesterov and not args.momentum:
        sub.error("--nesterov needs --momentum > 0")


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
    name: str, path: str | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from .. import datasets

    return datasets.load(name, path)


def data_location(name: str, path: str | None) -> str | None:
    """Where the data just loaded came from, for the record."""
    from .. import datasets

    info = datasets.dataset_info(name, path=path)
    return f"{info.location} ({info.source})" if info.found else None


def split_data(args: argparse.Namespace) -> Split:
    """(fit, validation, test) pairs as the options say: the last --val-size training images
    (of the first --limit) held out, as the notebook holds out its last 5,000."""
    if args.limit is not None and args.limit <= args.val_size:
        args.command_parser.error(
            f"--limit ({args.limit}) must be larger than --val-size ({args.val_size})"
        )
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset, args.data)
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
