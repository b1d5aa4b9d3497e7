"""Dropout masks from a counter-based generator: the same mask for a row whatever the batch.

The mask entry of (seed, layer, step, row, unit) is a pure function of those five integers,
so it depends neither on the batch order, nor on the batch size, nor on the thread count, and
the native engine can recompute any entry with a few integer operations. ``row`` is the row's
index in the dataset, ``step`` the optimisation step counted from the start of training,
``layer`` the hidden layer (0 for the first).

The recipe, in uint64 arithmetic (all sums and products modulo 2**64)::

    GAMMA = 0x9E3779B97F4A7C15
    fmix(z):     z ^= z >> 30; z *= 0xBF58476D1CE4E5B9
                 z ^= z >> 27; z *= 0x94D049BB133111EB
                 z ^= z >> 31; return z
    absorb(k, v) = fmix(k + (v + 1) * GAMMA)

    key  = absorb(absorb(absorb(seed, layer), step), row)    # once per row
    bits = absorb(key, unit)                                 # once per entry
    u    = float32(bits >> 40) * 2**-24                      # top 24 bits: exact, in [0, 1)
    mask = 0 if u < float32(p) else float(1) / float(1 - p)  # in the dtype, 1 - p in float64

``absorb(k, v)`` is SplitMix64's ``v``-th output for the state ``k`` (Vigna's generator, its
finaliser from Stafford's "Mix13"): a row's units read the SplitMix64 stream of that row's key,
so the engine adds GAMMA and runs ``fmix`` per entry. The kept entries are scaled by
``1 / (1 - p)`` as in PyTorch, so the layer's expected output is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_float, check_int

__all__ = ["dropout_mask", "dropout_bits", "uniforms", "fmix", "absorb"]

GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
UINT64_LIMIT = 2**64


def fmix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (a new array).

    Parameters
    ----------
    z : ndarray of uint64
        Any shape.

    Returns
    -------
    ndarray of uint64
        The mixed values.

    Raises
    ------
    TypeError
        From NumPy, for an array that is not of unsigned integers.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.dropout import fmix
    >>> fmix(np.array([0, 1], dtype=np.uint64))
    array([                  0, 6238072747940578789], dtype=uint64)
    """
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(MIX1)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(MIX2)
        return z ^ (z >> np.uint64(31))


def absorb(key: np.ndarray, value: np.ndarray | int) -> np.ndarray:
    """``fmix(key + (value + 1) * GAMMA)`` in uint64: SplitMix64's ``value``-th output for ``key``.

    Parameters
    ----------
    key : ndarray of uint64
        The state.
    value : ndarray of uint64 or int
        Which output, broadcast against ``key``.

    Returns
    -------
    ndarray of uint64
        The outputs.

    Raises
    ------
    OverflowError, ValueError
        From NumPy, for a negative or too large ``value``.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.dropout import absorb
    >>> absorb(np.array([42], dtype=np.uint64), 0).dtype
    dtype('uint64')
    """
    with np.errstate(over="ignore"):
        v = np.asarray(value, dtype=np.uint64) + np.uint64(1)
        return fmix(np.asarray(key, dtype=np.uint64) + v * np.uint64(GAMMA))


def _check_counter(value: Any, name: str) -> int:
    value = check_int(value, name, 0)
    if value >= UINT64_LIMIT:
        raise ValueError(f"{name} must be < 2**64, got {value}")
    return value


def dropout_bits(seed: int, step: int, row_ids: Any, n_units: int, layer: int) -> np.ndarray:
    """The uint64 ``bits`` of the recipe, one per (row, unit).

    Parameters
    ----------
    seed, step, layer : int
        The counters of the recipe, each in [0, 2**64).
    row_ids : array-like of int
        The rows' indices in the dataset, 1-D, >= 0.
    n_units : int
        The layer's width.

    Returns
    -------
    ndarray of uint64, shape (len(row_ids), n_units)
        The bits.

    Raises
    ------
    ValueError
        For a counter out of range or a negative row index.
    TypeError
        For row indices that are not a 1-D integer array.

    Examples
    --------
    >>> from nanomlp.dropout import dropout_bits
    >>> bits = dropout_bits(seed=42, step=0, row_ids=[3, 7], n_units=4, layer=0)
    >>> bits.shape, (bits == dropout_bits(42, 0, [7], 4, 0)[0]).any(axis=1).tolist()
    ((2, 4), [False, True])
    """
    seed = _check_counter(seed, "seed")
    step = _check_counter(step, "step")
    layer = _check_counter(layer, "layer")
    n_units = check_int(n_units, "n_units", 0)
    rows = np.asarray(row_ids)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise TypeError(
            f"row_ids must be a 1-D array of integer row indices, got {rows.dtype} of shape {rows.shape}"
        )
    if rows.size and rows.min() < 0:
        raise ValueError(f"row_ids must be >= 0 (indices of rows in the dataset), got {rows.min()}")
    step_key = absorb(absorb(np.array([seed], dtype=np.uint64), layer), step)
    row_keys = absorb(step_key, rows.astype(np.uint64))
    return absorb(row_keys[:, None], np.arange(n_units, dtype=np.uint64)[None, :])


def uniforms(bits: np.ndarray) -> np.ndarray:
    """``float32(bits >> 40) * 2**-24``: the top 24 bits as a float32 in [0, 1), exactly.

    Parameters
    ----------
    bits : ndarray of uint64
        What ``dropout_bits`` returns.

    Returns
    -------
    ndarray of float32
        Uniform numbers in [0, 1), same shape.

    Raises
    ------
    TypeError
        From NumPy, for an array that is not of unsigned integers.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.dropout import uniforms
    >>> uniforms(np.array([0, 2**63, 2**64 - 1], dtype=np.uint64))
    array([0.        , 0.5       , 0.99999994], dtype=float32)
    """
    return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def dropout_mask(
    seed: int,
    step: int,
    row_ids: Any,
    n_units: int,
    p: float,
    layer: int,
    dtype: Any = np.float32,
) -> np.ndarray:
    """The dropout mask of one hidden layer for one batch.

    Each entry is 0 (dropped, probability ``p``) or ``1 / (1 - p)``, by the recipe in this
    module's docstring; the mask of a row does not depend on the batch it is in.

    Parameters
    ----------
    seed, step, layer : int
        The counters of the recipe, each in [0, 2**64).
    row_ids : array-like of int
        The rows' indices in the dataset.
    n_units : int
        The layer's width.
    p : float
        The dropout rate, in [0, 1); 0 keeps every unit (a mask of ones).
    dtype : {float32, float64}, default float32
        The mask's dtype.

    Returns
    -------
    ndarray of shape (len(row_ids), n_units)
        The mask.

    Raises
    ------
    ValueError, TypeError
        For ``p`` out of range, another dtype, or bad counters or row indices.

    Examples
    --------
    >>> from nanomlp.dropout import dropout_mask
    >>> mask = dropout_mask(seed=42, step=0, row_ids=[0, 1, 2], n_units=1000, p=0.5, layer=0)
    >>> sorted(set(mask.ravel().tolist())), bool(0.4 < (mask == 0).mean() < 0.6)
    ([0.0, 2.0], True)
    """
    p = check_float(p, "p", 0.0, 1.0, high_open=True)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    keep = uniforms(dropout_bits(seed, step, row_ids, n_units, layer)) >= np.float32(p)
    scale = dtype.type(1) / dtype.type(1 - p)
    return np.where(keep, scale, dtype.type(0)).astype(dtype, copy=False)
