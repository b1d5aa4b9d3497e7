"""The optimizers' element updates of the NumPy reference (``reference`` re-exports them).

Each follows PyTorch's single-tensor (``foreach=False``) code operation by operation, each
operation rounded in the array's dtype: a port that rounds each operation in float32 (no fused
multiply-add) matches them to the bit, as the engine's update_rules.inc does. Their scalars
(bias corrections, step sizes, ``1 - lr * weight_decay``) are computed in float64 as Python
computes them, then rounded to the dtype once, as PyTorch converts a Python number for a kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# --- Optimizer updates: PyTorch's single-tensor code, one rounded operation at a time -------
#
# Each takes the flat parameters, their gradient (left unchanged), the state that
# ``optim.Optimizer.init_state`` made (updated in place, "step" included) and the step's lr.
# ``decay`` says which parameters weight decay applies to: True, False, or a boolean mask
# shaped like ``param`` (this project decays weights, never biases). ``a + s * b`` below is
# two roundings, a product then a sum, where PyTorch's vectorised loops fuse them (add with
# alpha, lerp_, addcmul_; not addcdiv_ or /): that is why torch's float32 results are close
# to these, not equal (see tests/test_optim_reference). A port must not contract them either.


def _with_weight_decay(
    param: np.ndarray, grad: np.ndarray, weight_decay: float, decay: Any
) -> np.ndarray:
    """``grad.add(param, alpha=weight_decay)`` where ``decay`` holds, else ``grad``."""
    if not weight_decay or decay is False:
        return grad
    decayed = grad + param.dtype.type(weight_decay) * param
    return decayed if decay is True else np.where(decay, decayed, grad)


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` for a scalar weight, PyTorch's two-sided formula."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (start.dtype.type(1) - w)


# Optimizer state below this magnitude is stored as zero, as in the engine (optim.h's
# kTinyState, where the reason is): a departure from PyTorch by at most 2^-100 per entry.
TINY_STATE = 2.0**-100


def _flush_tiny_(state: np.ndarray) -> None:
    """Zero the entries of ``state`` below ``TINY_STATE`` in magnitude (NaN stays)."""
    state[np.abs(state) < TINY_STATE] = 0


def _addcmul_(out: np.ndarray, t1: np.ndarray, t2: np.ndarray, value: float) -> None:
    """``out.addcmul_(t1, t2, value=value)``: ``out + value * t1 * t2``, left to right."""
    out += (out.dtype.type(value) * t1) * t2


def _addcdiv_(out: np.ndarray, t1: np.ndarray, t2: np.ndarray, value: float) -> None:
    """``out.addcdiv_(t1, t2, value=value)``: ``out + value * t1 / t2``, left to right."""
    out += (out.dtype.type(value) * t1) / t2


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: dict[str, Any],
    lr: float,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    decay: Any = True,
) -> None:
    """``torch.optim.SGD`` (dampening 0): ``g = grad + wd·param``; ``buf = momentum·buf + g``
    (``buf = g`` on the first step, as PyTorch clones it); ``g = g + momentum·buf`` (Nesterov)
    or ``buf``; ``param += (-lr)·g``."""
    dt = param.dtype.type
    g = _with_weight_decay(param, grad, weight_decay, decay)
    if momentum:
        buf = state["momentum_buffer"]
        if state["step"] == 0:
            buf[...] = g
        else:
            buf *= dt(momentum)
            buf += g
        _flush_tiny_(buf)
        g = g + dt(momentum) * buf if nesterov else buf
    param += dt(-lr) * g
    state["step"] += 1


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: dict[str, Any],
    lr: float,
    *,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
    decay: Any = True,
) -> None:
    """``torch.optim.Adam``, or ``AdamW`` with ``decoupled_weight_decay=True``.

    ``t += 1``; ``param *= 1 - lr·wd`` (AdamW) or ``g = grad + wd·param`` (Adam);
    ``m.lerp_(g, 1 - β1)``; ``v = v·β2 + (1 - β2)·g·g``; ``v̂ = max(v̂, v)`` (amsgrad);
    ``denom = sqrt(v or v̂) · (1 / sqrt(1 - β2^t)) + eps``; ``param += (-lr / (1 - β1^t))·m / denom``.
    """
    dt = param.dtype.type
    beta1, beta2 = betas
    state["step"] += 1
    step = float(state["step"])
    if weight_decay and decay is not False:
        if decoupled_weight_decay:
            param[...] = np.where(decay, param * dt(1 - lr * weight_decay), param)
        else:
            grad = _with_weight_decay(param, grad, weight_decay, decay)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    _lerp_(exp_avg, grad, 1 - beta1)
    _flush_tiny_(exp_avg)
    exp_avg_sq *= dt(beta2)
    _addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
    _flush_tiny_(exp_avg_sq)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    # One division per element, not PyTorch's two: sqrt(v) times the reciprocal of
    # sqrt(1 - β2^t) instead of divided by it. The same formula; it may round differently by an
    # ulp, and it spares the engine a division, the slowest operation of the update.
    inv_bias_correction2_sqrt = 1 / bias_correction2**0.5
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        _flush_tiny_(state["max_exp_avg_sq"])
        exp_avg_sq = state["max_exp_avg_sq"]
    denom = np.sqrt(exp_avg_sq) * dt(inv_bias_correction2_sqrt)
    denom += dt(eps)
    _addcdiv_(param, exp_avg, denom, -step_size)


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: dict[str, Any],
    lr: float,
    *,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    decay: Any = True,
) -> None:
    """``torch.optim.RMSprop``: ``g = grad + wd·param``; ``s = s·α + (1 - α)·g·g``;
    ``avg = sqrt(s - ḡ·ḡ)`` after ``ḡ.lerp_(g, 1 - α)`` (centered) or ``sqrt(s)``, plus eps;
    ``buf = momentum·buf + g / avg`` and ``param += (-lr)·buf``, or without momentum
    ``param += (-lr)·g / avg``."""
    dt = param.dtype.type
    state["step"] += 1
    g = _with_weight_decay(param, grad, weight_decay, decay)
    square_avg = state["square_avg"]
    square_avg *= dt(alpha)
    _addcmul_(square_avg, g, g, 1 - alpha)
    _flush_tiny_(square_avg)
    if centered:
        grad_avg = state["grad_avg"]
        _lerp_(grad_avg, g, 1 - alpha)
        _flush_tiny_(grad_avg)
        avg = square_avg + (dt(-1) * grad_avg) * grad_avg
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(square_avg)
    avg += dt(eps)
    if momentum > 0:
        buf = state["momentum_buffer"]
        buf *= dt(momentum)
        _addcdiv_(buf, g, avg, 1.0)
        _flush_tiny_(buf)
        param += dt(-lr) * buf
    else:
        _addcdiv_(param, g, avg, -lr)
