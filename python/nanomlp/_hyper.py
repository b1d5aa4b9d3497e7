"""Validation of hyperparameters (learning rates, decay rates, factors), shared by the optimizers
and the learning-rate schedules. Each check names the argument and what was expected."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def check_float(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (not a bool) within the given bounds, as a Python float.

    Raises TypeError for anything that is not a real number, ValueError for NaN, infinity
    or a value out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be {_describe(low, high, low_open, high_open)}, got {value}")
    return value


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def check_bool(value: Any, name: str) -> bool:
    """``True`` or ``False`` (NumPy's bool too); TypeError for anything else, 0 and 1 included."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_config(config: Any, name: str, known: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    """The class a ``{"name": ..., **arguments}`` config names, and its arguments.

    ``known`` maps names to classes. TypeError when ``config`` is not a dict, ValueError when
    its name is missing or unknown.
    """
    if not isinstance(config, dict):
        raise TypeError(f"a {name} config must be a dict, got {type(config).__name__}")
    kwargs = dict(config)
    key = kwargs.pop("name", None)
    if key not in known:
        raise ValueError(
            f"unknown {name} {key!r} in config; known: {', '.join(sorted(known))}"
        )
    return known[key], kwargs
