"""Learning-rate schedules, evaluated per optimisation step.

A schedule maps a step number (0 for the first update of the training run) and the
optimizer's base learning rate to that step's learning rate. ``values(base_lr, first_step,
n_steps)`` returns the rates of ``n_steps`` consecutive steps as one float64 array, so that an
epoch's rates are computed once and handed to the engine whole.

Each schedule equals its PyTorch namesake stepped once per batch (``scheduler.step()`` after
every ``optimizer.step()``), written in PyTorch's closed form (``_get_closed_form_lr``):
PyTorch's ``step()`` mostly updates the rate recursively from the previous one, which
accumulates rounding, so the two differ by a few units in the last place, not more (see
tests/test_schedules.py). Arithmetic runs in NumPy (exactly rounded IEEE operations), and
``cos`` and ``**`` run through Python's ``math``, as PyTorch's schedulers compute them: NumPy's
SIMD ``power`` and ``cos`` may differ from them by an ulp, and from one CPU to another.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from ._checks import check_bool, check_config, check_float, check_int

__all__ = [
    "Schedule",
    "Constant",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "get_schedule",
]


def _math(func: Any, x: np.ndarray) -> np.ndarray:
    """``func`` (a ``math`` function) on each value of ``x``, through the platform's libm."""
    return np.fromiter(map(func, x.tolist()), dtype=np.float64, count=len(x))


def _powers(gamma: float, exponents: np.ndarray) -> np.ndarray:
    """``gamma ** e`` for each integer exponent, as Python computes it (float pow)."""
    unique, inverse = np.unique(exponents, return_inverse=True)
    return np.array([gamma ** float(e) for e in unique.tolist()], dtype=np.float64)[inverse.ravel()]


class Schedule:
    """Base class: a learning rate per optimisation step.

    ``values(base_lr, first_step, n_steps)`` returns the rates of ``n_steps`` consecutive steps
    as one float64 array (the trainer computes an epoch's at once); ``get_config`` and
    ``from_config`` turn a schedule into a JSON-able dict and back.

    Examples
    --------
    >>> from nanomlp.schedules import Schedule, StepLR
    >>> config = StepLR(step_size=2).get_config()
    >>> config
    {'name': 'step', 'step_size': 2, 'gamma': 0.1}
    >>> Schedule.from_config(config).values(1.0, 0, 5)
    array([1.  , 1.  , 0.1 , 0.1 , 0.01])
    """

    name: ClassVar[str] = ""

    def values(self, base_lr: float, first_step: int, n_steps: int) -> np.ndarray:
        """The learning rates of steps ``first_step`` .. ``first_step + n_steps - 1`` (float64)."""
        base_lr = check_float(base_lr, "base_lr", 0.0, low_open=True)
        first_step = check_int(first_step, "first_step", 0)
        n_steps = check_int(n_steps, "n_steps", 0)
        steps = np.arange(first_step, first_step + n_steps, dtype=np.int64)
        return self._values(base_lr, steps)

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **arguments}`` in plain JSON types, what ``from_config`` takes back."""
        return {"name": self.name, **self._arguments()}

    def _arguments(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """The schedule a ``get_config`` dict describes; on ``Schedule`` itself any known name."""
        klass, kwargs = check_config(config, "schedule", SCHEDULES)
        if cls is not Schedule and klass is not cls:
            raise ValueError(f"{cls.__name__}.from_config got a config of {klass.__name__}")
        return klass(**kwargs)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._arguments().items())})"


class Constant(Schedule):
    """The base learning rate at every step.

    Examples
    --------
    >>> from nanomlp.schedules import Constant
    >>> Constant().values(0.01, 0, 3)
    array([0.01, 0.01, 0.01])
    """

    name = "constant"

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        return np.full(len(steps), base_lr, dtype=np.float64)


class StepLR(Schedule):
    """``torch.optim.lr_scheduler.StepLR``: ``base_lr * gamma ** (step // step_size)``.
    ``step_size`` >= 1, ``gamma`` > 0.

    Parameters
    ----------
    step_size : int
        Steps between two decays, >= 1.
    gamma : float, default 0.1
        The factor of each decay, > 0.

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it.

    Examples
    --------
    >>> from nanomlp.schedules import StepLR
    >>> StepLR(step_size=2, gamma=0.5).values(0.1, 0, 5)
    array([0.1  , 0.1  , 0.05 , 0.05 , 0.025])
    """

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_float(gamma, "gamma", 0.0, low_open=True)

    def _arguments(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        return base_lr * _powers(self.gamma, steps // self.step_size)


class MultiStepLR(Schedule):
    """``torch.optim.lr_scheduler.MultiStepLR``: ``base_lr * gamma ** (milestones <= step)``,
    the count of milestones reached (a repeated milestone counts twice, as in PyTorch).
    ``milestones``: integers >= 0, any order; ``gamma`` > 0.

    Parameters
    ----------
    milestones : iterable of int
        The steps at which the rate is multiplied by ``gamma``, >= 0, any order.
    gamma : float, default 0.1
        The factor at each milestone, > 0.

    Raises
    ------
    ValueError, TypeError
        For a negative or non-integer milestone, or a bad ``gamma``.

    Examples
    --------
    >>> from nanomlp.schedules import MultiStepLR
    >>> MultiStepLR([1, 3], gamma=0.5).values(1.0, 0, 4)
    array([1.  , 0.5 , 0.5 , 0.25])
    """

    name = "multistep"

    def __init__(self, milestones: Iterable[int], gamma: float = 0.1) -> None:
        if isinstance(milestones, (str, bytes, dict)) or not isinstance(milestones, Iterable):
            raise TypeError(f"milestones must be a sequence of integers, got {milestones!r}")
        self.milestones = sorted(
            check_int(m, f"milestones[{i}]", 0) for i, m in enumerate(milestones)
        )
        self.gamma = check_float(gamma, "gamma", 0.0, low_open=True)

    def _arguments(self) -> dict[str, Any]:
        return {"milestones": list(self.milestones), "gamma": self.gamma}

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        reached = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), steps, side="right")
        return base_lr * _powers(self.gamma, reached)


class ExponentialLR(Schedule):
    """``torch.optim.lr_scheduler.ExponentialLR``: ``base_lr * gamma ** step``; ``gamma`` > 0.

    Parameters
    ----------
    gamma : float
        The factor per step, > 0.

    Raises
    ------
    ValueError, TypeError
        For ``gamma`` <= 0 or not a number.

    Examples
    --------
    >>> from nanomlp.schedules import ExponentialLR
    >>> ExponentialLR(0.5).values(1.0, 0, 4)
    array([1.   , 0.5  , 0.25 , 0.125])
    """

    name = "exponential"

    def __init__(self, gamma: float) -> None:
        self.gamma = check_float(gamma, "gamma", 0.0, low_open=True)

    def _arguments(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        return base_lr * _powers(self.gamma, steps)


class CosineAnnealingLR(Schedule):
    """Linear warm-up, then ``torch.optim.lr_scheduler.CosineAnnealingLR``.

    With ``warmup_steps = W`` it is PyTorch's ``SequentialLR([LinearLR(start_factor=
    warmup_start_factor, end_factor=1, total_iters=W), CosineAnnealingLR(T_max, eta_min)],
    milestones=[W])``: step ``s < W`` has ``base_lr * (f + (1 - f) * s / W)``, step ``s >= W``
    has ``eta_min + (base_lr - eta_min) * (1 + cos(pi * (s - W) / T_max)) / 2``. So ``T_max``
    counts the steps after the warm-up, the rate reaching ``eta_min`` at step ``W + T_max``;
    past it the cosine goes on (rising again), as in PyTorch. ``T_max`` >= 1, ``eta_min`` >= 0,
    ``warmup_steps`` >= 0, ``warmup_start_factor`` in (0, 1] (LinearLR's default, 1/3).

    Parameters
    ----------
    T_max : int
        Steps of the cosine after the warm-up, >= 1.
    eta_min : float, default 0.0
        The lowest rate, >= 0.
    warmup_steps : int, default 0
        Steps of linear warm-up, >= 0.
    warmup_start_factor : float, default 1/3
        The warm-up's first rate as a fraction of the base rate, in (0, 1].

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it.

    Examples
    --------
    >>> from nanomlp.schedules import CosineAnnealingLR
    >>> CosineAnnealingLR(T_max=4, warmup_steps=2, warmup_start_factor=0.5).values(1.0, 0, 7)
    array([0.5       , 0.75      , 1.        , 0.85355339, 0.5       , 0.14644661, 0.        ])
    """

    name = "cosine"

    def __init__(
        self,
        T_max: int,
        eta_min: float = 0.0,
        warmup_steps: int = 0,
        warmup_start_factor: float = 1.0 / 3,
    ) -> None:
        self.T_max = check_int(T_max, "T_max", 1)
        self.eta_min = check_float(eta_min, "eta_min", 0.0)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 0)
        self.warmup_start_factor = check_float(
            warmup_start_factor, "warmup_start_factor", 0.0, 1.0, low_open=True
        )

    def _arguments(self) -> dict[str, Any]:
        return {
            "T_max": self.T_max,
            "eta_min": self.eta_min,
            "warmup_steps": self.warmup_steps,
            "warmup_start_factor": self.warmup_start_factor,
        }

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        out = np.empty(len(steps), dtype=np.float64)
        w, f = self.warmup_steps, self.warmup_start_factor
        warm = steps < w
        if warm.any():  # LinearLR's closed form, with end_factor 1
            out[warm] = base_lr * (f + (1.0 - f) * steps[warm].astype(np.float64) / w)
        t = (steps[~warm] - w).astype(np.float64)
        out[~warm] = (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + _math(math.cos, math.pi * t / self.T_max)) / 2
        )
        return out


class OneCycleLR(Schedule):
    """``torch.optim.lr_scheduler.OneCycleLR``'s learning rates; ``base_lr`` is not used.

    From ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then down to ``max_lr / div_factor / final_div_factor`` (with
    ``three_phase``: back to the initial rate first, then down), each phase annealed by a
    cosine (``anneal_strategy="cos"``) or linearly (``"linear"``). Steps run from 0 to
    ``total_steps - 1``; asking for a later one is a ValueError, as PyTorch's is an error.
    PyTorch's momentum cycling (``cycle_momentum``) is not done: momentum or beta1 stay fixed.
    Stricter than PyTorch: every phase must span more than zero steps (PyTorch would divide by
    zero, or run a phase backwards, on the tiny ``total_steps`` this refuses).

    Parameters
    ----------
    max_lr : float
        The peak rate, > 0.
    total_steps : int
        The steps of the whole run, >= 1.
    pct_start : float, default 0.3
        The fraction of the steps spent rising, in (0, 1).
    anneal_strategy : {"cos", "linear"}, default "cos"
        The shape of each phase.
    div_factor : float, default 25.0
        The first rate is ``max_lr / div_factor``.
    final_div_factor : float, default 1e4
        The last rate is ``max_lr / div_factor / final_div_factor``.
    three_phase : bool, default False
        Come back to the first rate before the final descent.

    Raises
    ------
    ValueError, TypeError
        For a value out of range (a phase spanning no step among them), naming it; and from
        ``values``, for a step past ``total_steps - 1``.

    Examples
    --------
    >>> from nanomlp.schedules import OneCycleLR
    >>> rates = OneCycleLR(max_lr=0.15, total_steps=10).values(0.01, 0, 10)
    >>> float(rates.max()), int(rates.argmax()), bool(rates[-1] < rates[0])
    (0.15, 2, True)
    """

    name = "onecycle"

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        self.max_lr = check_float(max_lr, "max_lr", 0.0, low_open=True)
        self.total_steps = check_int(total_steps, "total_steps", 1)
        self.pct_start = check_float(
            pct_start, "pct_start", 0.0, 1.0, low_open=True, high_open=True
        )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.div_factor = check_float(div_factor, "div_factor", 0.0, low_open=True)
        self.final_div_factor = check_float(
            final_div_factor, "final_div_factor", 0.0, low_open=True
        )
        self.three_phase = check_bool(three_phase, "three_phase")
        initial = self.max_lr / self.div_factor
        end1 = float(self.pct_start * self.total_steps) - 1
        ends = (
            [end1, float(2 * self.pct_start * self.total_steps) - 2] if self.three_phase else [end1]
        )
        # (end step, start lr, end lr) per phase, PyTorch's _schedule_phases.
        lrs = [initial, self.max_lr, initial] if self.three_phase else [initial, self.max_lr]
        self._phases = list(
            zip(ends + [self.total_steps - 1.0], lrs, lrs[1:] + [initial / self.final_div_factor])
        )
        starts = [0.0] + [end for end, _, _ in self._phases[:-1]]
        if any(end <= start for start, (end, _, _) in zip(starts, self._phases)):
            raise ValueError(
                f"pct_start={self.pct_start} with total_steps={self.total_steps}"
                f"{' and three_phase' if self.three_phase else ''} leaves a phase of no steps: "
                "pct_start * total_steps must be > 1"
                f"{', and 2 * pct_start * total_steps < total_steps + 1' if self.three_phase else ''}"
            )

    def _arguments(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }

    def _values(self, base_lr: float, steps: np.ndarray) -> np.ndarray:
        if len(steps) and steps[-1] >= self.total_steps:
            raise ValueError(
                f"OneCycleLR covers steps 0 to {self.total_steps - 1} (total_steps={self.total_steps}), "
                f"asked for step {int(steps[-1])}: raise total_steps to the run's number of steps"
            )
        out = np.empty(len(steps), dtype=np.float64)
        step = steps.astype(np.float64)
        start_step, done = 0.0, np.zeros(len(steps), dtype=bool)
        for i, (end_step, start_lr, end_lr) in enumerate(self._phases):
            here = ~done & ((step <= end_step) | (i == len(self._phases) - 1))
            pct = (step[here] - start_step) / (end_step - start_step)
            if self.anneal_strategy == "cos":
                out[here] = end_lr + (start_lr - end_lr) / 2.0 * (
                    _math(math.cos, math.pi * pct) + 1
                )
            else:
                out[here] = (end_lr - start_lr) * pct + start_lr
            done |= here
            start_step = end_step
        return out


SCHEDULES: dict[str, type[Schedule]] = {
    k.name: k for k in (Constant, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR)
}


def get_schedule(name_or_obj: Any = "constant", **kwargs: Any) -> Schedule:
    """A schedule from a name and its arguments, from a ``get_config`` dict, or as is.

    Parameters
    ----------
    name_or_obj : str, dict, Schedule or None, default "constant"
        "constant", "step", "multistep", "exponential", "cosine" or "onecycle" (any case); a
        config dict; a schedule, returned as is; None for the constant schedule.
    **kwargs
        The schedule's arguments, with a name only.

    Returns
    -------
    Schedule
        The schedule.

    Raises
    ------
    ValueError
        For an unknown name, or a missing or bad argument.
    TypeError
        For keyword arguments given with a dict or an object, or another type.

    Examples
    --------
    >>> from nanomlp.schedules import get_schedule
    >>> get_schedule("step", step_size=100)
    StepLR(step_size=100, gamma=0.1)
    >>> get_schedule(None)
    Constant()
    """
    if name_or_obj is None:
        name_or_obj = "constant"
    if isinstance(name_or_obj, (Schedule, dict)):
        if kwargs:
            raise TypeError(
                "keyword arguments go with a schedule's name, not with a Schedule or a config dict"
            )
        return (
            name_or_obj if isinstance(name_or_obj, Schedule) else Schedule.from_config(name_or_obj)
        )
    if not isinstance(name_or_obj, str):
        raise TypeError(
            f"schedule must be a name, a config dict or a Schedule, got {type(name_or_obj).__name__}"
        )
    key = name_or_obj.lower()
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name_or_obj!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[key](**kwargs)
