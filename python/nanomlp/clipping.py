"""Gradient clipping, as PyTorch's ``torch.nn.utils`` defines it; part of the NumPy reference.

``grads`` is a flat array or a list of arrays, in the engine's flat layout (per layer the
weights, then the biases); ``clip_grad_norm`` and ``clip_grad_value`` change them in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._checks import check_float

__all__ = ["grad_norm", "clip_grad_norm", "clip_grad_value"]

# The norm's fixed order. Each gradient entry is converted to float64 and squared there.
# Entry i (counting through all the gradients in the order given) goes to accumulator
# i % NORM_LANES; each accumulator, starting from 0.0, adds its entries from first to last;
# then the accumulators are added, 0.0 + lane 0 + lane 1 + ... + lane 7, and the square root
# taken (all in float64). One AVX-512 register, two AVX2 ones or eight scalars hold the lanes,
# so every kernel and thread count can reproduce the sum to the bit.
NORM_LANES = 8


def _as_list(grads: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    return [grads] if isinstance(grads, np.ndarray) else list(grads)


def grad_norm(grads: np.ndarray | Sequence[np.ndarray]) -> float:
    """The 2-norm of all the gradients together, in float64, in the engine's fixed order.

    Parameters
    ----------
    grads : ndarray or sequence of ndarray
        The gradients, flat or one array per parameter.

    Returns
    -------
    float
        The norm, bit for bit the engine's on every path and thread count.

    Raises
    ------
    ValueError, TypeError
        From NumPy, for gradients that are not arrays of numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.clipping import grad_norm
    >>> grad_norm([np.array([3.0]), np.array([4.0])])
    5.0
    """
    flat = np.concatenate(
        [np.asarray(g, dtype=np.float64).ravel() for g in _as_list(grads)] + [np.zeros(0)]
    )
    squares = np.zeros(max(1, -(-len(flat) // NORM_LANES)) * NORM_LANES)
    squares[: len(flat)] = flat * flat
    total = 0.0  # cumsum adds strictly in order: each lane from its first row to its last
    for lane in np.cumsum(squares.reshape(-1, NORM_LANES), axis=0)[-1].tolist():
        total += lane
    return math.sqrt(total)


def clip_grad_norm(grads: np.ndarray | Sequence[np.ndarray], max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_``: scale the gradients in place to a norm of at most ``max_norm``.

    The factor is ``min(1, max_norm / (total_norm + 1e-6))``. The norm is ``grad_norm``'s and
    the coefficient is computed in float64, then rounded to the gradients' dtype (PyTorch
    computes both in that dtype). As in PyTorch the gradients are always multiplied, by 1 when
    the norm is small, so a NaN or infinite norm spreads.

    Parameters
    ----------
    grads : ndarray or sequence of ndarray
        The gradients, changed in place.
    max_norm : float
        The largest norm, > 0.

    Returns
    -------
    float
        The total norm before clipping.

    Raises
    ------
    ValueError, TypeError
        For ``max_norm`` <= 0 or not a number.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.clipping import clip_grad_norm
    >>> g = np.array([3.0, 4.0])
    >>> clip_grad_norm(g, 1.0), g.round(4)
    (5.0, array([0.6, 0.8]))
    """
    max_norm = check_float(max_norm, "max_norm", 0.0, low_open=True)
    arrays = _as_list(grads)
    total = grad_norm(arrays)
    coef = max_norm / (total + 1e-6)
    if coef > 1.0:
        coef = 1.0
    for g in arrays:
        g *= g.dtype.type(coef)
    return total


def clip_grad_value(grads: np.ndarray | Sequence[np.ndarray], clip_value: float) -> None:
    """``torch.nn.utils.clip_grad_value_``: clamp each gradient entry to ``[-clip_value, clip_value]``.

    In place, ``clip_value`` rounded to the gradients' dtype; NaN stays NaN.

    Parameters
    ----------
    grads : ndarray or sequence of ndarray
        The gradients, changed in place.
    clip_value : float
        The largest magnitude, > 0.

    Raises
    ------
    ValueError, TypeError
        For ``clip_value`` <= 0 or not a number.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.clipping import clip_grad_value
    >>> g = np.array([-3.0, 0.5, np.nan])
    >>> clip_grad_value(g, 1.0)
    >>> g
    array([-1. ,  0.5,  nan])
    """
    clip_value = check_float(clip_value, "clip_value", 0.0, low_open=True)
    for g in _as_list(grads):
        c = g.dtype.type(clip_value)
        np.clip(g, -c, c, out=g)
