"""The training options, declared once for ``train`` and ``sweep``, and the presets."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from .. import _defaults
from .._activations import ACTIVATIONS, ALIASES
from .._checks import check_positive_float
from ..losses import LOSSES
from ._types import (
    hidden_spec,
    int_at_least,
    integer,
    momentum,
    nonnegative_float,
    number,
    number_or_none,
    positive_float,
    rates_spec,
    unit_float,
)

DEFAULT_HIDDEN = tuple(_defaults.LAYER_SIZES[1:-1])
ACTIVATION_CHOICES = (*ACTIVATIONS, *ALIASES)
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
            "--loss",
            choices=LOSSES,
            default=None,
            help="the output layer and its loss (default: the dataset's task's: cross_entropy "
            "for classes, binary_cross_entropy for binary and multilabel, mse for regression)",
        )
        parser.add_argument(
            "--label-smoothing",
            type=unit_float,
            default=None,
            metavar="EPS",
            help="cross_entropy's label smoothing in [0, 1] (default: 0)",
        )
        parser.add_argument(
            "--delta", type=positive_float, default=None, help="huber's delta (default: 1)"
        )
        parser.add_argument(
            "--activation",
            choices=ACTIVATION_CHOICES,
            nargs="+",
            default=None,
            metavar="NAME",
            help="the hidden layers' activation, or one per hidden layer: "
            f"{', '.join(ACTIVATION_CHOICES)} (default: relu)",
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
