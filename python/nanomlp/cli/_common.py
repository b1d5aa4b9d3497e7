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
from .._checks import check_fraction, check_positive_float
from .._io import atomic_write

DATASET_CHOICES = ("mnist", "fashion-mnist")
OPTIMIZER_CHOICES = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULE_CHOICES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle")
# Recipes for ``train --preset``: the settings each sets, the options given overriding them.
PRESETS: dict[str, dict[str, Any]] = {
    # The least training time to 98% MNIST test accuracy (mean of seeds 0, 1, 2) found on
    # 2 threads: see the README's "Command line".
    "fast": {
        "hidden": [128, 64],
        "optimizer": "sgd",
        "momentum": 0.9,
        "nesterov": True,
        "schedule": "onecycle",
        "max_lr": 0.15,
        "batch_size": 128,
        "epochs": 4,
    },
}
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


def number(text: str) -> float:
    """Any number; its range is the library's to check (see ``training_settings``)."""
    return _number(text)


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def number_or_none(text: str) -> float | None:
    """A number, or ``none`` for no value (no clipping in a sweep's list)."""
    return None if text.strip().lower() == "none" else _number(text)


def rates_spec(text: str) -> float | tuple[float, ...]:
    """A sweep's dropout value: ``0.2`` (every hidden layer) or ``0.2,0.1`` (one per layer)."""
    parts = [_number(part) for part in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


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
    run), ``--hidden`` and ``--dropout`` take comma-separated values per network, and the
    settings a sweep does not vary (Nesterov, backend, dtype) are left out. The optimizer's
    and the schedule's own settings take one value, for every run they apply to. A setting
    left out is None here: ``resolve_training_options`` fills in the defaults (and
    ``train``'s ``--preset``); the library checks the ranges (``training_settings``).
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
            parser.add_argument(flag, type=kind, default=None, help=f"{one} (default: {default})")

    def swept(flag: str, kind: Callable, default: Any, metavar: str, text: str, **extra) -> None:
        """A setting a sweep can range over: one value in train, one or more in a sweep."""
        parser.add_argument(
            flag,
            type=kind,
            nargs="+" if grid else None,
            default=[default] if grid else None,
            metavar=metavar,
            help=text.format(s="s, one run per value" if grid else ""),
            **extra,
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
            "--preset",
            choices=tuple(PRESETS),
            default=None,
            help="a recipe: fast is "
            + ", ".join(f"{k.replace('_', '-')} {_show(v)}" for k, v in PRESETS["fast"].items())
            + "; options given with it override its values",
        )
        parser.add_argument(
            "--hidden",
            type=int_at_least(1),
            nargs="*",
            default=None,
            metavar="N",
            help=f"hidden layer widths (default: {widths}; none: softmax regression)",
        )
    lr_default = "the optimizer's: 0.01 for sgd and rmsprop, 0.001 for adam and adamw"
    if grid:
        parser.add_argument(
            "--lr",
            type=positive_float,
            nargs="+",
            default=[None],
            metavar="LR",
            help=f"learning rates, the base rate of a schedule (default: {lr_default})",
        )
    else:
        parser.add_argument(
            "--lr",
            type=positive_float,
            default=None,
            help=f"learning rate, the base rate of a schedule (default: {lr_default})",
        )
    add("--batch-size", int_at_least(1), d.BATCH_SIZE, "N", "minibatch size", "batch sizes")
    add("--epochs", int_at_least(1), d.EPOCHS, "N", "epochs", "epochs")

    # ---- the optimizer
    swept(
        "--optimizer",
        str,
        "sgd",
        "NAME",
        "optimizer{s}: sgd (PyTorch's SGD, the notebook's plain SGD by default), adam, adamw "
        "or rmsprop (default: sgd)",
        choices=OPTIMIZER_CHOICES,
    )
    if grid:
        parser.add_argument(
            "--momentum",
            type=momentum,
            nargs="+",
            default=[0.0],
            metavar="M",
            help="momentum values in [0, 1), for sgd and rmsprop (default: 0)",
        )
        parser.add_argument(
            "--weight-decay",
            type=nonnegative_float,
            nargs="+",
            default=[0.0],
            metavar="D",
            help="weight decay values (default: the optimizer's: 0, 0.01 for adamw)",
        )
    else:
        parser.add_argument(
            "--momentum",
            type=momentum,
            default=None,
            help="momentum in [0, 1), for sgd and rmsprop (default: 0)",
        )
        parser.add_argument(
            "--nesterov", action="store_true", default=None, help="Nesterov momentum (sgd)"
        )
        parser.add_argument(
            "--weight-decay",
            type=nonnegative_float,
            default=None,
            help="weight decay on the weights, not the biases: L2 for sgd, adam and rmsprop, "
            "decoupled for adamw (default: the optimizer's: 0, 0.01 for adamw)",
        )
    parser.add_argument(
        "--betas",
        type=number,
        nargs=2,
        default=None,
        metavar=("B1", "B2"),
        help="adam and adamw's moment decay rates, each in [0, 1) (default: 0.9 0.999)",
    )
    parser.add_argument(
        "--eps", type=number, default=None, help="adam, adamw and rmsprop's epsilon (default: 1e-8)"
    )
    parser.add_argument(
        "--rmsprop-alpha",
        type=number,
        default=None,
        metavar="ALPHA",
        help="rmsprop's squared-gradient decay rate in [0, 1) (default: 0.99)",
    )

    # ---- the learning-rate schedule, per optimisation step (batch)
    swept(
        "--schedule",
        str,
        "constant",
        "NAME",
        "learning-rate schedule{s}, per step: constant, step (times --gamma every --step-size "
        "steps), multistep (times --gamma at each of --milestones), exponential (times "
        "--gamma every step), cosine (down to --min-lr at the end, after --warmup), onecycle "
        "(up to --max-lr, then down; PyTorch's OneCycleLR) (default: constant)",
        choices=SCHEDULE_CHOICES,
    )
    parser.add_argument(
        "--warmup",
        type=integer,
        default=None,
        metavar="STEPS",
        help="cosine only: a linear warm-up over the first STEPS steps, from a third of --lr "
        "(default: 0; onecycle warms up over its --pct-start)",
    )
    parser.add_argument(
        "--step-size",
        type=integer,
        default=None,
        metavar="STEPS",
        help="step: steps between two decays (needed)",
    )
    parser.add_argument(
        "--milestones",
        type=integer,
        nargs="+",
        default=None,
        metavar="STEP",
        help="multistep: the steps at which the rate decays (needed)",
    )
    parser.add_argument(
        "--gamma",
        type=number,
        default=None,
        help="step, multistep: the decay factor (default: 0.1); exponential: the factor per "
        "step (needed)",
    )
    parser.add_argument(
        "--min-lr", type=number, default=None, help="cosine: the final rate (default: 0)"
    )
    parser.add_argument(
        "--max-lr", type=number, default=None, help="onecycle: the peak rate (default: --lr)"
    )
    parser.add_argument(
        "--pct-start",
        type=number,
        default=None,
        metavar="F",
        help="onecycle: the fraction of the steps spent rising (default: 0.3)",
    )

    # ---- regularisation and clipping
    if grid:
        swept(
            "--dropout",
            rates_spec,
            0.0,
            "P",
            "dropout rate{s} in [0, 1) after each hidden layer, or comma-separated rates, one "
            "per hidden layer (default: 0)",
        )
    else:
        parser.add_argument(
            "--dropout",
            type=number,
            nargs="+",
            default=None,
            metavar="P",
            help="dropout rate in [0, 1) after every hidden layer, or one rate per hidden "
            "layer (default: 0)",
        )
    swept(
        "--clip-norm",
        number_or_none if grid else number,
        None,
        "N",
        "clip{s} the gradients' global 2-norm to N > 0"
        + (", none for no clipping" if grid else "")
        + " (default: none)",
    )
    parser.add_argument(
        "--clip-value",
        type=number,
        default=None,
        metavar="V",
        help="clip each gradient to [-V, V], V > 0 (default: none)",
    )
    if not grid:
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


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def resolve_training_options(args: argparse.Namespace) -> None:
    """``train``'s settings left out: the preset's value if ``--preset`` has one, else the
    default. The optimizer's and the schedule's own settings stay None (their defaults)."""
    d = _defaults
    preset = PRESETS[args.preset] if args.preset else {}
    for name, default in (
        ("hidden", list(DEFAULT_HIDDEN)),
        ("batch_size", d.BATCH_SIZE),
        ("epochs", d.EPOCHS),
        ("optimizer", "sgd"),
        ("schedule", "constant"),
    ):
        if getattr(args, name) is None:
            setattr(args, name, preset.get(name, default))
    from .._recipe import not_applicable

    taken = [name for name, value in preset.items() if getattr(args, name) is None]
    for name in taken:
        setattr(args, name, preset[name])
    # A preset's setting that the optimizer or schedule given instead does not take is dropped.
    settings = {name: getattr(args, name) for name in TRAINING_SETTINGS}
    for name, _ in not_applicable(settings):
        if name in taken:
            setattr(args, name, None)


# The settings of the optimizer, the schedule, dropout and clipping, as ``args`` names them.
TRAINING_SETTINGS = (
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "betas",
    "eps",
    "rmsprop_alpha",
    "schedule",
    "warmup",
    "step_size",
    "milestones",
    "gamma",
    "min_lr",
    "max_lr",
    "pct_start",
    "dropout",
    "clip_norm",
    "clip_value",
)


def option(setting: str) -> str:
    """The command-line option of a setting: ``rmsprop_alpha`` → ``--rmsprop-alpha``."""
    return "--" + setting.replace("_", "-")


def training_settings(
    parser: argparse.ArgumentParser,
    settings: dict[str, Any],
    n_train: int,
    n_hidden: int,
) -> tuple[Any, Any]:
    """(optimizer, schedule) of one run, its settings checked by the library's own validators:
    a bad value or a setting that does not go with the others is a usage error naming the
    option. ``settings`` holds the given values (None: not given)."""
    from .. import _recipe
    from ..model import MLP

    for name, why in _recipe.not_applicable(settings):
        parser.error(f"{option(name)} does not apply: {why}")
    try:
        optimizer = _recipe.make_optimizer(settings)
        steps_per_epoch = -(-n_train // settings["batch_size"])
        schedule = _recipe.make_schedule(
            settings, steps_per_epoch, settings["epochs"], optimizer.lr
        )
    except _recipe.SettingError as err:
        parser.error(f"argument {option(err.setting)}: {err.message}")
    dropout = settings.get("dropout")
    if dropout is not None:
        try:
            MLP([1, *([1] * n_hidden), 2], seed=0, dropout=dropout)
        except (TypeError, ValueError) as err:
            parser.error(f"argument --dropout: {err}")
    for name in ("clip_norm", "clip_value"):
        if settings.get(name) is not None:
            try:
                check_positive_float(settings[name], name)  # as Trainer checks it
            except ValueError as err:
                parser.error(f"argument {option(name)}: {str(err).removeprefix(name + ' ')}")
    return optimizer, schedule


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
