"""The hidden-layer activations: the engine's bits against the NumPy float32 replica on every
kernel path, the values and gradients against PyTorch, and the float64 formulas against finite
differences.

NaN and inf, as documented in ``nanomlp._activations``: relu(NaN) = 0 (the engine's ReLU
epilogue), identity and leaky_relu pass NaN through, the others give the default NaN
0x7FC00000, forward and backward; at ±inf the activations take their limits (tanh ±1,
sigmoid 1 and 0, gelu and gelu_tanh inf and −0) and the derivatives those of the limits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nanomlp import _activations as act
from nanomlp import _core
from nanomlp.reference import activation_backward, activation_forward

testing = _core.testing
KERNELS = testing.available_kernels()
NAMES = act.ACTIVATIONS
SMOOTH = ("tanh", "sigmoid", "gelu", "gelu_tanh")
DEFAULT_NAN = 0x7FC00000
INF = np.float32(np.inf)


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def sweep() -> np.ndarray:
    """Special values, every 65537th bit pattern, a fine grid and the regime changes."""
    special = np.array(
        [0.0, np.inf, np.nan, 1e-45, 1.1754944e-38, 3.4028235e38, 1e-30, 1.0], dtype=np.float32
    )
    nan_payloads = np.array([0x7FA00001, 0x7FC12345], dtype=np.uint32).view(np.float32)
    patterns = np.arange(0, 2**31, 65537, dtype=np.uint32).view(np.float32)
    grid = np.arange(0, 120001, dtype=np.float32) * np.float32(1e-4)
    edges = []
    for edge in (9.0, 6.0, 10.0, 88.0, 87.68, 87.34, 44.0, 43.84):
        e = np.float32(edge)
        for _ in range(8):
            e = np.nextafter(e, np.float32(0))
        for _ in range(17):
            edges.append(e)
            e = np.nextafter(e, INF)
    x = np.concatenate([special, nan_payloads, patterns, grid, np.array(edges, np.float32)])
    return np.concatenate([x, -x])


Z = sweep()
G = np.random.default_rng(0).uniform(-2, 2, Z.size).astype(np.float32)
G[::101] = Z[(np.arange(0, Z.size, 101) * 7919) % Z.size]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", NAMES)
def test_engine_equals_the_numpy_replica_bit_for_bit(kernel: str, name: str) -> None:
    for slope in (0.01, 0.0, -0.5) if name == "leaky_relu" else (0.01,):
        a = testing.activation_forward(name, Z, kernel, slope)
        np.testing.assert_array_equal(bits(a), bits(activation_forward(name, Z, slope)))
        for saved in (a if act.backward_takes_output(name) else Z, Z):
            dz = testing.activation_backward(name, G, saved, kernel, slope)
            want = activation_backward(name, G, saved, slope)
            np.testing.assert_array_equal(bits(dz), bits(want))


@pytest.mark.parametrize("kernel", KERNELS)
def test_any_shape_and_odd_lengths(kernel: str) -> None:
    z = np.random.default_rng(1).normal(size=(3, 5, 7)).astype(np.float32)
    for n in (0, 1, 7, 15, 17, 31, 33):
        x = z.ravel()[:n]
        np.testing.assert_array_equal(
            bits(testing.activation_forward("gelu", x, kernel)), bits(activation_forward("gelu", x))
        )
    a = testing.activation_forward("tanh", z, kernel)
    assert a.shape == z.shape
    np.testing.assert_array_equal(bits(a), bits(activation_forward("tanh", z)))


def torch_forward(torch, name: str, x, slope: float = 0.01):
    f = torch.nn.functional
    return {
        "identity": lambda: x * 1,
        "relu": lambda: f.relu(x),
        "leaky_relu": lambda: f.leaky_relu(x, slope),
        "tanh": lambda: torch.tanh(x),
        "sigmoid": lambda: torch.sigmoid(x),
        "gelu": lambda: f.gelu(x),
        "gelu_tanh": lambda: f.gelu(x, approximate="tanh"),
    }[name]()


GRID = np.arange(-100000, 100001, dtype=np.float32) * np.float32(1e-4)  # [−10, 10]


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_gradient_match_torch(name: str) -> None:
    """Within 1e-6 of PyTorch's float64 (the exact formulas), values and gradients; against
    its float32 the margin adds PyTorch's own error (1.1e-6 for gelu's values, 1.0e-6 for
    gelu_tanh's gradients)."""
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(2).uniform(-1, 1, GRID.size).astype(np.float32)
    a = activation_forward(name, GRID)
    saved = a if act.backward_takes_output(name) else GRID
    dz = activation_backward(name, g, saved)
    for dtype, tolerance in ((torch.float64, 1e-6), (torch.float32, 2e-6)):
        x = torch.tensor(GRID, dtype=dtype, requires_grad=True)
        y = torch_forward(torch, name, x)
        y.backward(torch.tensor(g, dtype=dtype))
        assert np.abs(a - y.detach().numpy()).max() <= tolerance
        assert np.abs(dz - x.grad.numpy()).max() <= tolerance


@pytest.mark.parametrize("name", SMOOTH)
def test_relative_accuracy_against_the_exact_formula(name: str) -> None:
    """Relative errors in ulp on |x| ≤ 5.5, tiny x included (beyond, the float64 formulas of
    gelu lose their own lower tail to 1 + erf cancelling). tanh's rational form costs a few
    ulp near ±1; gelu's lower tail inherits the logit's relative error, times |logit|."""
    x = np.concatenate([GRID, np.geomspace(1e-30, 5.5, 20000, dtype=np.float32)])
    x = np.concatenate([x, -x])
    x = x[np.abs(x) <= 5.5]
    a = activation_forward(name, x).astype(np.float64)
    exact = activation_forward(name, x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    keep = np.abs(exact) > 1e-30
    limit = {"tanh": 6, "sigmoid": 3, "gelu": 100, "gelu_tanh": 60}[name]
    assert (np.abs(a - exact)[keep] / ulp[keep]).max() <= limit


@pytest.mark.parametrize("name", NAMES)
def test_float64_derivatives_match_finite_differences(name: str) -> None:
    x = np.linspace(-8, 8, 1601) + 1e-3  # off the kink of relu at 0
    h = 1e-6
    numeric = (activation_forward(name, x + h) - activation_forward(name, x - h)) / (2 * h)
    saved = activation_forward(name, x) if act.backward_takes_output(name) else x
    analytic = activation_backward(name, np.ones_like(x), saved)
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf(name: str) -> None:
    nan_in = np.array([0x7FC12345, 0xFFA00001], dtype=np.uint32).view(np.float32)
    a = activation_forward(name, nan_in)
    if name == "relu":
        assert (a == 0).all()
    elif name in ("identity", "leaky_relu"):
        assert np.isnan(a).all()
    else:
        assert (bits(a) == DEFAULT_NAN).all()
    limits = {
        "tanh": (1.0, -1.0),
        "sigmoid": (1.0, 0.0),
        "gelu": (np.inf, -0.0),
        "gelu_tanh": (np.inf, -0.0),
        "relu": (np.inf, 0.0),
        "identity": (np.inf, -np.inf),
        "leaky_relu": (np.inf, -np.inf),
    }[name]
    a = activation_forward(name, np.array([INF, -INF]))
    np.testing.assert_array_equal(bits(a), bits(np.array(limits, np.float32)))
    saved = a if act.backward_takes_output(name) else np.array([INF, -INF])
    d = activation_backward(name, np.ones(2, np.float32), saved)
    assert not np.isnan(d).any()
    if name in SMOOTH:
        both_nan = activation_backward(name, nan_in[:1], nan_in[1:])
        assert (bits(both_nan) == DEFAULT_NAN).all()


def test_names_and_argument_checks() -> None:
    z = np.zeros(4, np.float32)
    kernel = KERNELS[0]
    np.testing.assert_array_equal(
        testing.activation_forward("logistic", z, kernel),
        testing.activation_forward("sigmoid", z, kernel),
    )
    with pytest.raises(ValueError, match="unknown activation"):
        testing.activation_forward("swish", z, kernel)
    with pytest.raises(ValueError, match="unknown kernel"):
        testing.activation_forward("tanh", z, "sse9")
    with pytest.raises(TypeError, match="float32"):
        testing.activation_forward("tanh", z.astype(np.float64), kernel)
    with pytest.raises(ValueError, match="contiguous"):
        testing.activation_forward("tanh", np.zeros((4, 4), np.float32)[:, 1], kernel)
    with pytest.raises(ValueError, match="same shape"):
        testing.activation_backward("tanh", z, np.zeros(5, np.float32), kernel)
    with pytest.raises(ValueError, match="unknown activation"):
        activation_forward("swish", z)
    with pytest.raises(TypeError):
        activation_backward("tanh", z, z.astype(np.float64))
    assert math.isclose(float(activation_forward("gelu", np.float64(1.0))), 0.8413447460685429)
