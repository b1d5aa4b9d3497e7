"""The hidden-layer activations of the native engine, in NumPy.

In float32 these repeat ``cpp/include/nanomlp/activation_rules.inc`` operation by operation:
every NumPy float32 operation is one IEEE operation rounded to float32, as the engine's, so the
results agree to the bit on every input (NaN and ±inf included). In float64 they are the exact
formulas (PyTorch's definitions), for gradient checks.

The engine's min and max are x86's: the second operand when either is NaN, written here as
``np.where(a < b, a, b)``. ``exp``, ``tanh`` and the normal CDF are the engine's polynomial and
rational approximations (coefficients from ``cpp/tools/fit_activations.py``). NaN: ``relu`` gives 0,
``identity`` and ``leaky_relu`` pass it through, the others (and ``leaky_relu``'s derivative, whose
signalling NaNs compilers would quiet or not as they please) return the default NaN 0x7FC00000.
"""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "gelu_tanh")
ALIASES = {"logistic": "sigmoid"}
DEFAULT_NEGATIVE_SLOPE = 0.01

f32 = np.float32
_ROUND = f32(12582912.0)  # 1.5·2^23: x + _ROUND − _ROUND rounds to an integer, ties to even
_LOG2E = f32(1.44269502)
_LN2_HI, _LN2_LO = f32(0.693359375), f32(-2.12194442e-4)
_FLOAT_MAX = f32(3.40282347e38)
_TWO_BETA, _KAPPA, _TWO_BETA_THREE_KAPPA = f32(1.59576917), f32(0.044715), f32(0.214064449)
_DEFAULT_NAN = np.array(0x7FC00000, dtype=np.uint32).view(np.float32)

_EXP_P = (0.00138131203, 0.00836940482, 0.041668456, 0.166665152, 0.49999994)
_TANH_P = (1.34193412e-08, 2.06609511e-05, 0.00349897915, 0.133839667, 1.0)
_TANH_Q = (7.80454229e-07, 0.000329100934, 0.0258901455, 0.467172891, 1.0)
_LOGIT_P = (2.63158381e-06, 0.000638445723, 0.0195321776, 0.229287729, 1.59576893)
_LOGIT_Q = (8.63357243e-08, 0.00011275267, 0.00781880226, 0.0981436595, 1.0)
_SLOPE_P = (0.00172022951, 0.0356866159, 0.36127919, 1.5957669)
_SLOPE_Q = (-3.08740283e-07, 0.00012377344, 0.0103592109, 0.089762412, 1.0)


def canonical_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: expected one of {', '.join(ACTIVATIONS)}")
    return name


def backward_takes_output(name: str) -> bool:
    """Whether the backward takes the output a = f(z) (tanh, sigmoid) rather than z."""
    return canonical_name(name) in ("tanh", "sigmoid")


# ---- The engine's operations, in float32 --------------------------------------------------


def _min(a, b):
    return np.where(a < b, a, b).astype(np.float32)


def _max(a, b):
    return np.where(a > b, a, b).astype(np.float32)


def _neg_abs(x):
    return (x.view(np.uint32) | np.uint32(0x80000000)).view(np.float32)


def _pow2(n):
    """2^n for an integral float32 n in [−127, 127], via the exponent bits (−127: +0)."""
    i = np.where(n == n, n, f32(0)).astype(np.int32)
    return ((i + np.int32(127)).astype(np.uint32) << np.uint32(23)).view(np.float32)


def _horner(coefs, s):
    p = np.full_like(s, f32(coefs[0]))
    for c in coefs[1:]:
        p = p * s + f32(c)
    return p


def _canonical_nan(y):
    return np.where(y != y, _DEFAULT_NAN, y).astype(np.float32)


def _exp_nonpositive(x):
    x = _max(f32(-88.0), x)
    n = (x * _LOG2E + _ROUND) - _ROUND
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    p = _horner(_EXP_P, r)
    p = ((r * r) * p + r) + f32(1.0)
    return p * _pow2(n)


def _sigmoid(x):
    e = _exp_nonpositive(_neg_abs(x))
    num = np.where(x > f32(0), f32(1.0), e).astype(np.float32)
    return num / (f32(1.0) + e)


def _sigmoid_pair(x):
    e = _exp_nonpositive(_neg_abs(x))
    d = f32(1.0) + e
    big, small = f32(1.0) / d, e / d
    pos = x > f32(0)
    return np.where(pos, big, small), np.where(pos, small, big)


def _tanh(x):
    x = _min(f32(9.0), _max(f32(-9.0), x))
    s = x * x
    y = (x * _horner(_TANH_P, s)) / _horner(_TANH_Q, s)
    return _min(f32(1.0), _max(f32(-1.0), y))


def _normal_logit(x, s):
    s = _min(f32(36.0), s)
    return x * (_horner(_LOGIT_P, s) / _horner(_LOGIT_Q, s))


def _normal_logit_slope(s):
    s = _min(f32(36.0), s)
    return _horner(_SLOPE_P, s) / _horner(_SLOPE_Q, s)


def _gelu_tanh_logit(x):
    return _TWO_BETA * (x + _KAPPA * ((x * x) * x))


def _forward32(name: str, z: np.ndarray, slope: np.float32) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "relu":
        return _max(z, f32(0))
    if name == "leaky_relu":
        return np.where(z > f32(0), z, z * slope).astype(np.float32)
    if name == "tanh":
        return _canonical_nan(_tanh(z))
    if name == "sigmoid":
        return _canonical_nan(_sigmoid(z))
    logit = _normal_logit(z, z * z) if name == "gelu" else _gelu_tanh_logit(z)
    return _canonical_nan(_max(-_FLOAT_MAX, z) * _sigmoid(logit))


def _backward32(name: str, g: np.ndarray, saved: np.ndarray, slope: np.float32) -> np.ndarray:
    if name == "identity":
        return g.copy()
    if name == "relu":
        return np.where(saved > f32(0), g, f32(0)).astype(np.float32)
    if name == "leaky_relu":
        return _canonical_nan(np.where(saved > f32(0), g, g * slope))
    if name == "tanh":
        return _canonical_nan(g * (f32(1) - saved * saved))
    if name == "sigmoid":
        return _canonical_nan((g * (f32(1) - saved)) * saved)
    z = _min(f32(10.0), _max(f32(-10.0), saved))
    z2 = z * z
    if name == "gelu":
        logit, slope_of_logit = _normal_logit(z, z2), _normal_logit_slope(z2)
    else:
        logit = _gelu_tanh_logit(z)
        slope_of_logit = _TWO_BETA + _TWO_BETA_THREE_KAPPA * z2
    s, rest = _sigmoid_pair(logit)
    return _canonical_nan(g * (s + ((z * s) * rest) * slope_of_logit))


# ---- The exact formulas, in float64 ---------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _forward64(name: str, z: np.ndarray, slope: float) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z * slope)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z > 0, 1.0, e) / (1.0 + e)
    if name == "gelu":
        return z * 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    beta = math.sqrt(2.0 / math.pi)
    return 0.5 * z * (1.0 + np.tanh(beta * (z + 0.044715 * z**3)))


def _backward64(name: str, g: np.ndarray, saved: np.ndarray, slope: float) -> np.ndarray:
    if name == "identity":
        return g.copy()
    if name == "relu":
        return np.where(saved > 0, g, 0.0)
    if name == "leaky_relu":
        return np.where(saved > 0, g, g * slope)
    if name == "tanh":
        return g * (1.0 - saved * saved)
    if name == "sigmoid":
        return g * (1.0 - saved) * saved
    z = saved
    if name == "gelu":
        cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
        return g * (cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))
    beta, kappa = math.sqrt(2.0 / math.pi), 0.044715
    t = np.tanh(beta * (z + kappa * z**3))
    return g * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * beta * (1.0 + 3.0 * kappa * z * z))


# ---- The API ----------------------------------------------------------------------------------


def _dtype_of(*arrays: np.ndarray) -> np.dtype:
    dtype = arrays[0].dtype
    if dtype not in (np.float32, np.float64) or any(a.dtype != dtype for a in arrays):
        raise TypeError("the arrays must all be float32 or all float64")
    return dtype


def activation_forward(
    name: str, z: np.ndarray, negative_slope: float = DEFAULT_NEGATIVE_SLOPE
) -> np.ndarray:
    """a = f(z): the engine's bits in float32, the exact formula in float64."""
    name = canonical_name(name)
    z = np.asarray(z)
    with np.errstate(all="ignore"):
        if _dtype_of(z) == np.float32:
            return _forward32(name, z, f32(negative_slope))
        return _forward64(name, z, negative_slope)


def activation_backward(
    name: str, g: np.ndarray, saved: np.ndarray, negative_slope: float = DEFAULT_NEGATIVE_SLOPE
) -> np.ndarray:
    """dL/dz from the upstream gradient g and the saved value: the output a where
    ``backward_takes_output(name)``, else the pre-activation z."""
    name = canonical_name(name)
    g, saved = np.asarray(g), np.asarray(saved)
    if g.shape != saved.shape:
        raise ValueError(f"g and saved have different shapes {g.shape} and {saved.shape}")
    with np.errstate(all="ignore"):
        if _dtype_of(g, saved) == np.float32:
            return _backward32(name, g, saved, f32(negative_slope))
        return _backward64(name, g, saved, negative_slope)
