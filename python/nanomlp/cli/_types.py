"""Argument types of the command line: each parses one value or says what was expected."""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

from .._checks import check_fraction


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


def unit_float(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
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
