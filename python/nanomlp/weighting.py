"""Sample weights and class weights: validation, and class weights turned into per-row weights.

Training with weights minimises, per batch, the weighted mean ``Σ w_i·l_i / Σ w_i`` (see
``reference.backward``), as scikit-learn's MLP does: multiplying every weight by one constant
changes nothing, so a learning rate tuned without weights stays right with them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["check_sample_weight", "class_weight_to_sample_weight"]


def check_sample_weight(
    sample_weight: Any, n_samples: int, name: str = "sample_weight"
) -> np.ndarray:
    """Per-row weights as float64: real numbers, finite, >= 0, not all 0.

    Parameters
    ----------
    sample_weight : array-like
        One weight per row.
    n_samples : int
        The number of rows.
    name : str, default "sample_weight"
        The argument's name, for the error messages.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        The weights.

    Raises
    ------
    TypeError
        For a dtype that is not of real numbers.
    ValueError
        For a wrong shape or length, NaN, infinity, a negative weight, or weights all zero.

    Examples
    --------
    >>> from nanomlp.weighting import check_sample_weight
    >>> check_sample_weight([1, 0, 2], 3)
    array([1., 0., 2.])
    >>> check_sample_weight([1, -1], 2)
    Traceback (most recent call last):
    ...
    ValueError: sample_weight must be >= 0; sample_weight[1] is -1.0
    """
    arr = np.asarray(sample_weight)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold numbers, not booleans")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have shape ({n_samples},), one weight per row, got shape {arr.shape}"
        )
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite; {name}[{i}] is {arr[i]}")
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"{name} must be >= 0; {name}[{i}] is {arr[i]}")
    if n_samples and not arr.any():
        raise ValueError(f"{name} must not be all zero: no row would count")
    return arr


def _check_class_ids(y: Any, n_classes: int | None) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(
            f"y must be a 1-D array of integer class ids, got {arr.dtype} of shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError("y must hold at least one class id")
    if arr.min() < 0 or (n_classes is not None and arr.max() >= n_classes):
        top = "" if n_classes is None else f" and < n_classes = {n_classes}"
        raise ValueError(
            f"y must hold class ids >= 0{top}, got values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def class_weight_to_sample_weight(
    y: Any, class_weight: Mapping[int, float] | str | None, n_classes: int | None = None
) -> np.ndarray:
    """The weight of each row's class, float64 of shape ``(len(y),)``.

    ``class_weight`` is None (every row 1), a dict ``{class id: weight}`` (classes it leaves
    out weigh 1, as in scikit-learn; weights finite and >= 0), or ``"balanced"``:
    scikit-learn's ``n_samples / (n_classes * count of the class)``, where ``n_classes``
    counts the classes present in ``y``. ``n_classes``, if given, bounds the class ids of
    ``y`` and of the dict. ValueError, naming the argument, for weights that are negative, NaN
    or infinite, class ids out of range, an unknown string, or rows whose weights are all 0.

    Parameters
    ----------
    y : array-like of int
        Class ids, one per row.
    class_weight : dict, "balanced" or None
        The classes' weights.
    n_classes : int, optional
        Bounds the class ids of ``y`` and of the dict.

    Returns
    -------
    ndarray of float64, shape (len(y),)
        The weight of each row.

    Raises
    ------
    ValueError
        As above, naming the argument.

    Examples
    --------
    >>> from nanomlp.weighting import class_weight_to_sample_weight
    >>> class_weight_to_sample_weight([0, 0, 0, 1], "balanced")
    array([0.66666667, 0.66666667, 0.66666667, 2.        ])
    >>> class_weight_to_sample_weight([0, 1], {1: 3.0})
    array([1., 3.])
    """
    labels = _check_class_ids(y, n_classes)
    if class_weight is None:
        return np.ones(len(labels))
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight must be a dict, 'balanced' or None, got {class_weight!r}"
            )
        counts = np.bincount(labels)
        present = np.count_nonzero(counts)
        with np.errstate(divide="ignore"):
            per_class = len(labels) / (present * counts.astype(np.float64))
        return per_class[labels]
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            f"class_weight must be a dict, 'balanced' or None, got {type(class_weight).__name__}"
        )
    per_class = np.ones(int(labels.max()) + 1)  # classes beyond those of y weigh nothing here
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral):
            raise TypeError(f"class_weight keys must be integer class ids, got {key!r}")
        if key < 0 or (n_classes is not None and key >= n_classes):
            top = "" if n_classes is None else f" and < n_classes = {n_classes}"
            raise ValueError(f"class_weight has class id {key}; class ids are >= 0{top}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"class_weight[{key}] must be a real number, got {value!r}")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"class_weight[{key}] must be a finite number >= 0, got {value}")
        if key < len(per_class):
            per_class[int(key)] = float(value)
    weights = per_class[labels]
    if not weights.any():
        raise ValueError("class_weight gives every row of y the weight 0: no row would count")
    return weights
