"""Validation of everything a user passes, done once in Python before the engine sees it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core

_REAL_KINDS = "fiu"  # float, signed and unsigned integer


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """An integer (not bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_positive_float(value: Any, name: str) -> float:
    """A finite real number greater than zero."""
    return check_float(value, name, 0.0, low_open=True)


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    """Input width, hidden widths, class count: at least two integers, each >= 1."""
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}")
    sizes = tuple(check_int(s, f"layer_sizes[{i}]", 1) for i, s in enumerate(layer_sizes))
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes needs at least two entries (inputs, classes), got {layer_sizes!r}"
        )
    return sizes


def check_features(
    x: Any, n_features: int, name: str = "x", assume_finite: bool = False
) -> np.ndarray:
    """Rows of features as C-contiguous float32.

    Any real dtype is accepted; other dtypes, other layouts and other strides are converted
    (a copy) and float32 C-contiguous input is used as is. Refused: bool, complex, object and
    string dtypes, a shape other than ``(n_rows >= 1, n_features)``, and, unless
    ``assume_finite``, NaN and infinity.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (n_samples, {n_features}), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    # float32 C-contiguous input is used as is: skipping the conversion and its errstate keeps
    # a one-row prediction's checks to about a microsecond.
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        with np.errstate(over="ignore"):  # out-of-range values become inf, refused just below
            arr = np.ascontiguousarray(arr, dtype=np.float32)
    if assume_finite:  # the caller checked already; NaN gives NaN out, never a crash
        return arr
    bad = _core.first_nonfinite_row(arr)
    if bad >= 0:
        raise ValueError(
            f"{name} must be finite in float32; row {bad} holds NaN or infinity "
            f"(or a value beyond float32's range)"
        )
    return arr


def check_labels(y: Any, n_rows: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Class ids in ``[0, n_classes)`` as C-contiguous int32.

    Accepts integer class ids of shape ``(n_rows,)`` or one-hot rows of shape
    ``(n_rows, n_classes)`` (any real dtype, each row all zeros but a single one).
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(
            f"{name} must hold integer class ids or one-hot rows, got dtype {arr.dtype}"
        )
    if arr.ndim == 2:
        if arr.shape != (n_rows, n_classes):
            raise ValueError(
                f"{name} as one-hot rows must have shape ({n_rows}, {n_classes}), got {arr.shape}"
            )
        is_one = arr == 1
        if not (((arr == 0) | is_one).all() and (is_one.sum(axis=1) == 1).all()):
            raise ValueError(
                f"{name} as a 2-D array must be one-hot: one 1 per row, zeros elsewhere"
            )
        return np.ascontiguousarray(is_one.argmax(axis=1), dtype=np.int32)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must have shape ({n_rows},) or ({n_rows}, {n_classes}), got {arr.shape}"
        )
    if arr.dtype.kind == "f":
        raise TypeError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have {n_rows} entries (one per row of x), got {arr.shape[0]}"
        )
    if n_rows and (arr.min() < 0 or arr.max() >= n_classes):
        bad = int(np.flatnonzero((arr < 0) | (arr >= n_classes))[0])
        raise ValueError(f"{name}[{bad}] = {arr[bad]} is not a class id in [0, {n_classes})")
    return np.ascontiguousarray(arr, dtype=np.int32)


def check_nonnegative_float(value: Any, name: str) -> float:
    """A finite real number >= 0."""
    return check_float(value, name, 0.0)


def check_fraction(value: Any, name: str) -> float:
    """A real number in [0, 1): a momentum (1 would never let the velocity decay), a decay
    rate, a dropout rate."""
    return check_float(value, name, 0.0, 1.0, high_open=True)


def check_bool(value: Any, name: str) -> bool:
    """``True`` or ``False`` (NumPy's bool too); TypeError for anything else, 0 and 1 included."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_verbose(verbose: Any) -> int:
    """0 (silent), 1 (progress bar) or 2 (one line per epoch)."""
    verbose = check_int(verbose, "verbose", 0)
    if verbose > 2:
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
    return verbose


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
        raise ValueError(f"unknown {name} {key!r} in config; known: {', '.join(sorted(known))}")
    return known[key], kwargs
