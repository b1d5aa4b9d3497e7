"""The output layer's losses beyond softmax cross-entropy, in NumPy, as the engine computes them.

Each loss fixes the output layer's activation and its targets:

- ``cross_entropy``: softmax over int class labels (``reference.cross_entropy``);
- ``binary_cross_entropy``: sigmoid, an indicator matrix [n, k] of 0s and 1s; the loss from
  the logits, ``max(z, 0) − z·y + log1p(exp(−|z|))`` (PyTorch's ``BCEWithLogitsLoss``), the
  mean over labels and rows;
- ``mse``: identity, real targets [n] or [n, k]; PyTorch's ``MSELoss``, the mean over all;
- ``huber``: identity, as mse; PyTorch's ``HuberLoss(delta)``.

The gradient of the mean loss with respect to the logits is ``g / (B·k)`` per entry, or
``g·w / (Σw·k)`` with sample weights, ``g`` being ``σ(z) − y``, ``2·(z − y)`` or
``clamp(z − y, −δ, δ)``: each operation rounded in the array's dtype, as the engine rounds it
in float32. Loss values are computed in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LOSSES", "output", "row_losses", "output_gradient", "r2_score", "sigmoid"]

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "huber")
# The output layer's activation under each loss.
OUTPUTS = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
    "mse": "identity",
    "huber": "identity",
}
REGRESSION = ("mse", "huber")


def check_loss(loss: Any) -> str:
    """A loss name among ``LOSSES``, else ValueError naming ``loss``."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return loss


def check_delta(delta: Any) -> float:
    """Huber's delta: a finite number > 0 (in float32 too, the engine's type)."""
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)):
        raise TypeError(f"delta must be a number, got {delta!r}")
    value = float(delta)
    if not (0.0 < value <= float(np.finfo(np.float32).max)):
        raise ValueError(f"delta must be finite and > 0, got {delta!r}")
    return value


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) in z's dtype, computing exp of non-positive numbers only (no overflow).

    Parameters
    ----------
    z : ndarray of float
        Any shape.

    Returns
    -------
    ndarray
        ``1 / (1 + exp(-z))``, in z's dtype and shape.

    Raises
    ------
    AttributeError
        When ``z`` is not a NumPy array (it has no ``dtype``).

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.losses import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    e = np.exp(-np.abs(z))
    one = z.dtype.type(1)
    return np.where(z >= 0, one / (one + e), e / (one + e))


def output(z: np.ndarray, loss: str) -> np.ndarray:
    """The output layer's activation of the logits under ``loss``.

    Parameters
    ----------
    z : ndarray of shape (B, k)
        The logits.
    loss : str
        One of ``LOSSES``: softmax for "cross_entropy", a sigmoid per output for
        "binary_cross_entropy", the identity for "mse" and "huber".

    Returns
    -------
    ndarray of shape (B, k)
        Probabilities, or the values themselves.

    Raises
    ------
    KeyError
        For a loss not in ``LOSSES`` (this NumPy reference does not check its arguments).

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.losses import output
    >>> output(np.zeros((1, 4)), "cross_entropy")
    array([[0.25, 0.25, 0.25, 0.25]])
    >>> output(np.zeros((1, 2)), "binary_cross_entropy")
    array([[0.5, 0.5]])
    """
    kind = OUTPUTS[loss]
    if kind == "softmax":
        shifted = np.exp(z - np.max(z, axis=1, keepdims=True))
        return shifted / np.sum(shifted, axis=1, keepdims=True)
    return sigmoid(z) if kind == "sigmoid" else z


def row_losses(z: np.ndarray, targets: np.ndarray, loss: str, delta: float = 1.0) -> np.ndarray:
    """Per-row loss (the mean over the row's k outputs) in float64, from the logits.

    The residual ``z − y`` is rounded in z's dtype first, as the engine does. Not for
    cross-entropy, which ``reference.cross_entropy`` computes.

    Parameters
    ----------
    z : ndarray of shape (B, k)
        The logits.
    targets : ndarray of shape (B, k)
        0/1 for "binary_cross_entropy", real values for "mse" and "huber".
    loss : {"binary_cross_entropy", "mse", "huber"}
        The loss.
    delta : float, default 1.0
        Huber's delta.

    Returns
    -------
    ndarray of float64, shape (B,)
        Each row's loss.

    Raises
    ------
    ValueError
        From NumPy, when ``targets`` does not broadcast against ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.losses import row_losses
    >>> z = np.array([[1.0, 3.0]], np.float32)
    >>> row_losses(z, np.zeros((1, 2)), "mse"), row_losses(z, np.zeros((1, 2)), "huber")
    (array([5.]), array([1.5]))
    """
    if loss == "binary_cross_entropy":
        z64, y = z.astype(np.float64), targets.astype(np.float64)
        per = np.maximum(z64, 0.0) - z64 * y + np.log1p(np.exp(-np.abs(z64)))
    else:
        r = (z - targets.astype(z.dtype)).astype(np.float64)
        if loss == "mse":
            per = r * r
        else:
            a = np.abs(r)
            per = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    return per.mean(axis=1)


def output_gradient(
    out: np.ndarray,
    targets: np.ndarray,
    loss: str,
    weights: np.ndarray | None = None,
    total: float | None = None,
    delta: float = 1.0,
) -> np.ndarray:
    """dLoss/dz of the batch's (weighted) mean loss, from the outputs.

    Parameters
    ----------
    out : ndarray of shape (B, k)
        The output layer's values (``output(z, loss)``).
    targets : ndarray of shape (B, k)
        The targets.
    loss : str
        "binary_cross_entropy", "mse" or "huber" (cross-entropy's is that of
        "binary_cross_entropy": ``out − y``).
    weights : ndarray of shape (B,), optional
        The rows' weights, in the dtype.
    total : float, optional
        The weights' sum (``reference.weight_sum``); required with ``weights``.
    delta : float, default 1.0
        Huber's delta.

    Returns
    -------
    ndarray of shape (B, k)
        ``g / (B·k)``, or ``g·w / (Σw·k)`` with weights, in ``out``'s dtype.

    Raises
    ------
    ValueError
        From NumPy, when the shapes do not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.losses import output_gradient
    >>> output_gradient(np.array([[1.0, 3.0]]), np.zeros((1, 2)), "mse")
    array([[1., 3.]])
    """
    dt = out.dtype.type
    y = targets.astype(out.dtype)
    r = out - y
    if loss == "mse":
        g = dt(2) * r
    elif loss == "huber":
        g = np.clip(r, -dt(delta), dt(delta))
    else:
        g = r
    k = dt(out.shape[1])
    if weights is None:
        return g / (dt(out.shape[0]) * k)
    if not total:
        return np.zeros_like(g)
    return g * weights[:, None] / (dt(total) * k)


def check_targets(y: Any, n_rows: int, n_outputs: int, loss: str, name: str = "y") -> np.ndarray:
    """Float32 targets [n_rows, n_outputs] for a loss other than cross-entropy (ValueError
    naming ``name`` otherwise): binary cross-entropy's must be 0 or 1, the regressions'
    finite; a 1-D y is one output's column."""
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers ({err})") from err
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape != (n_rows, n_outputs):
        raise ValueError(
            f"{name} must have shape ({n_rows}, {n_outputs}) for loss={loss!r} "
            f"(one column per output), got {arr.shape}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if loss == "binary_cross_entropy":
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1 for binary_cross_entropy")
    elif not np.isfinite(out).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity) in float32")
    return out


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """scikit-learn's ``r2_score``, the uniform average over the columns.

    A constant column scores 1 if predicted exactly, else 0.

    Parameters
    ----------
    y : array-like of shape (N,) or (N, k)
        The true values.
    pred : array-like of shape (N,) or (N, k)
        The predictions.

    Returns
    -------
    float
        R², at most 1.

    Raises
    ------
    ValueError
        From NumPy, when the shapes do not match.

    Examples
    --------
    >>> from nanomlp.losses import r2_score
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.5, 2.5])
    0.75
    """
    y64, p64 = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    if y64.ndim == 1:
        y64, p64 = y64[:, None], p64.reshape(len(p64), -1)
    num = ((y64 - p64) ** 2).sum(axis=0)
    den = ((y64 - y64.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.where(den != 0, 1.0 - num / np.where(den != 0, den, 1.0), (num == 0) * 1.0)
    return float(scores.mean())
