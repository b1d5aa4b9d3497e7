"""A training run's settings as flat names (the command line's and the sweeps'), turned into
the optimizer, the learning-rate schedule and the checks of which setting goes with which.

A setting is given when its value is not None; what is not given takes the library's
default (the optimizer's own learning rate and weight decay among them). The names are the
command line's options without their dashes: ``rmsprop_alpha`` is ``--rmsprop-alpha``.
"""

from __future__ import annotations

import re
from typing import Any

from .optim import OPTIMIZERS, Optimizer, get_optimizer
from .schedules import SCHEDULES, Schedule, get_schedule

# Per optimizer: its settings, each with the optimizer's argument name.
OPTIMIZER_SETTINGS: dict[str, dict[str, str]] = {
    "sgd": {"momentum": "momentum", "nesterov": "nesterov", "weight_decay": "weight_decay"},
    "adam": {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"},
    "adamw": {"betas": "betas", "eps": "eps", "weight_decay": "weight_decay"},
    "rmsprop": {
        "rmsprop_alpha": "alpha",
        "eps": "eps",
        "momentum": "momentum",
        "weight_decay": "weight_decay",
    },
}
# Per schedule: its settings, each with the schedule's argument name. Counts are
# optimisation steps (batches), as the schedules count them.
SCHEDULE_SETTINGS: dict[str, dict[str, str]] = {
    "constant": {},
    "step": {"step_size": "step_size", "gamma": "gamma"},
    "multistep": {"milestones": "milestones", "gamma": "gamma"},
    "exponential": {"gamma": "gamma"},
    "cosine": {"warmup": "warmup_steps", "min_lr": "eta_min"},
    "onecycle": {"max_lr": "max_lr", "pct_start": "pct_start"},
}
# The settings a schedule cannot do without (its class has no default for them).
REQUIRED: dict[str, tuple[str, ...]] = {
    "step": ("step_size",),
    "multistep": ("milestones",),
    "exponential": ("gamma",),
}
assert set(OPTIMIZER_SETTINGS) == set(OPTIMIZERS) and set(SCHEDULE_SETTINGS) == set(SCHEDULES)

# The library's argument names that are not the setting's own.
_ALIASES = {
    "alpha": "rmsprop_alpha",
    "eta_min": "min_lr",
    "warmup_steps": "warmup",
    "T_max": "warmup",  # the steps after the warm-up
    "total_steps": "epochs",
}


class SettingError(ValueError):
    """A bad value, or a setting that does not go with the others: ``setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.message = message


def _blame(err: Exception, names: dict[str, str], fallback: str) -> SettingError:
    """The library's error, with the setting it names (``betas[0]`` is ``betas``) and the
    message less that leading name: "must be in [0, 1), got 1.5"."""
    text = str(err)
    match = re.match(r"(\w+)(\[\d+\])?(=\S+)?", text)
    word = match.group(1) if match else ""
    setting = {**_ALIASES, **{v: k for k, v in names.items()}}.get(word, word)
    if setting not in names and setting not in _ALIASES.values():
        return SettingError(fallback, text)
    if match and match.group(2) is None and match.group(3) is None:
        text = text[match.end() :].lstrip()
    return SettingError(setting, text)


def _given(settings: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[k]: v for k, v in settings.items() if k in names and v is not None}


def not_applicable(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(setting, why) for each given setting that the optimizer or the schedule does not take."""
    optimizer = settings.get("optimizer") or "sgd"
    schedule = settings.get("schedule") or "constant"
    found = []
    for table, chosen, kind in (
        (OPTIMIZER_SETTINGS, optimizer, "optimizer"),
        (SCHEDULE_SETTINGS, schedule, "schedule"),
    ):
        for name, value in settings.items():
            owners = [k for k, v in table.items() if name in v]
            if owners and chosen not in owners and value is not None and value is not False:
                if name == "warmup" and chosen == "onecycle":
                    why = "onecycle warms up over its first pct_start of the steps"
                else:
                    why = f"it goes with the {kind} {' or '.join(owners)}, not {chosen}"
                found.append((name, why))
    return found


def make_optimizer(settings: dict[str, Any]) -> Optimizer:
    """The optimizer of ``settings["optimizer"]`` (default sgd) with the given ``lr`` and
    the settings it takes; SettingError names a bad one."""
    name = settings.get("optimizer") or "sgd"
    names = {"lr": "lr", **OPTIMIZER_SETTINGS[name]}
    kwargs = _given(settings, names)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return get_optimizer(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise _blame(err, names, "optimizer") from None


def make_schedule(
    settings: dict[str, Any], steps_per_epoch: int, epochs: int, lr: float
) -> Schedule:
    """The schedule of ``settings["schedule"]`` (default constant) for a run of ``epochs``
    epochs of ``steps_per_epoch`` steps: cosine anneals to ``min_lr`` over the steps after the
    warm-up, onecycle spans the run and peaks at ``max_lr`` (default ``lr``)."""
    name = settings.get("schedule") or "constant"
    names = SCHEDULE_SETTINGS[name]
    for needed in REQUIRED.get(name, ()):
        if settings.get(needed) is None:
            raise SettingError(needed, f"is needed by the {name} schedule")
    kwargs = _given(settings, names)
    total = steps_per_epoch * epochs
    if name == "cosine":
        warmup = kwargs.get("warmup_steps", 0)
        if isinstance(warmup, int) and warmup >= total:
            raise SettingError(
                "warmup", f"must be fewer than the run's {total} optimisation steps, got {warmup}"
            )
        kwargs["T_max"] = total - warmup if isinstance(warmup, int) else total
    elif name == "onecycle":
        kwargs.setdefault("max_lr", lr)
        kwargs["total_steps"] = total
    try:
        return get_schedule(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise _blame(err, names, "schedule") from None
