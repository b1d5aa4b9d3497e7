"""The native engine against the NumPy reference, in float32 and float64.

Tolerances, and why they are right. Both sides compute the same algorithm in float32 (native)
and float32 or float64 (reference); they differ only in summation order (and, in the fast
kernels, fused multiply-adds), so each value differs by a few float32 rounding errors of the
sums that make it (eps32 = 1.2e-7, sums over at most 784 terms of magnitude below 1):
- probabilities: atol 1e-6 (observed up to 6e-8: < 1 ulp of values <= 1);
- mean loss of a batch: rtol 1e-5 (observed up to 2.4e-7 absolute on losses ~ 2.3);
- every gradient: 1e-5 of the largest gradient entry (observed up to 2.1e-7);
- weights after one step: atol 1e-6 (observed 3e-8; weights are < 1, their ulp 6e-8);
- weights after one epoch (63 steps): atol 1e-5 (observed up to 4.7e-7 against float64).
One thing is not a rounding error: a ReLU input within a rounding error of zero flips the unit
between the two sides and changes a weight by ~lr * gradient (~1e-4). The epoch tests use the
seed 42, whose runs meet no such tie; a failure here is a real difference, not bad luck.
"""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, _core, reference
from nanomlp.model import parameter_layout

SHAPES = [
    (784, 128, 64, 10),  # the seed's network
    (784, 32, 10),  # one hidden layer
    (784, 37, 23, 19, 11, 10),  # four hidden layers, odd sizes
]
REFERENCE_DTYPES = ["float32", "float64"]


def flat(weights: list[np.ndarray], biases: list[np.ndarray]) -> np.ndarray:
    """Parameters in the engine's layout (per layer: weights, then biases) as float64."""
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(weights, biases)])


def models(sizes, ref_dtype):
    return MLP(sizes, seed=42), MLP(sizes, seed=42, dtype=ref_dtype)


@pytest.fixture(scope="module")
def data(mnist_subset):
    x, y = mnist_subset
    return np.ascontiguousarray(x), y.astype(np.int32)


@pytest.mark.parametrize("sizes", SHAPES)
def test_layout_matches_engine(sizes):
    net = _core.Network(list(sizes), 8)
    layout = parameter_layout(sizes)
    assert net.num_params == layout[-1][2]
    for layer, (w, b, _) in enumerate(layout):
        assert (net.weight_offset(layer), net.bias_offset(layer)) == (w, b)


def test_initialisation_is_the_seeds():
    """np.random.seed(42); randn(784, 128) * sqrt(1/784) … biases zero, as the notebook."""
    rng = np.random.RandomState(42)
    expected = [rng.randn(i, o) * np.sqrt(1.0 / i) for i, o in [(784, 128), (128, 64), (64, 10)]]
    m64, m32 = MLP(seed=42, dtype="float64"), MLP(seed=42)
    for w64, w32, e in zip(m64.weights, m32.weights, expected):
        np.testing.assert_array_equal(w64, e)
        np.testing.assert_array_equal(w32, e.astype(np.float32))
    assert all(not b.any() for b in m64.biases + m32.biases)


def test_weights_are_views_of_the_engines_memory(data):
    x, y = data
    model = MLP((784, 16, 10), seed=0)
    model.weights[0][0, 0] = 5.0
    assert model.params[0] == 5.0
    before = model.weights[1].copy()
    _core.Network([784, 16, 10], 32).train_epoch(model.params, x[:64], y[:64], np.arange(64), 0.1)
    assert not np.array_equal(model.weights[1], before), "training must change the viewed weights"


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("sizes", SHAPES)
def test_forward_probabilities(data, sizes, ref_dtype):
    x, _ = data
    native, ref = models(sizes, ref_dtype)
    probs = _core.Network(list(sizes), 32).evaluate(native.params, x[:600], None, True)[2]
    expected, _ = reference.forward(ref.weights, ref.biases, x[:600])
    assert probs.shape == expected.shape == (600, sizes[-1])
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("sizes", SHAPES)
def test_loss_and_every_gradient(data, sizes, ref_dtype):
    x, y = data
    native, ref = models(sizes, ref_dtype)
    grads, loss = _core.Network(list(sizes), 32).gradients(native.params, x[:32], y[:32])
    probs, inputs = reference.forward(ref.weights, ref.biases, x[:32])
    dws, dbs = reference.backward(ref.weights, inputs, probs, y[:32])
    expected = flat(dws, dbs)
    assert loss == pytest.approx(float(reference.cross_entropy(probs, y[:32]).mean()), rel=1e-5)
    scale = np.abs(expected).max()
    for layer, (w, b, end) in enumerate(parameter_layout(sizes)):
        for name, lo, hi in (("dW", w, b), ("db", b, end)):
            err = np.abs(grads[lo:hi] - expected[lo:hi]).max()
            assert err <= 1e-5 * scale, f"{name}{layer}: max difference {err:.3g}"


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("sizes", SHAPES)
def test_one_step(data, sizes, ref_dtype):
    x, y = data
    native, ref = models(sizes, ref_dtype)
    order = np.arange(32, 64, dtype=np.int64)  # rows gathered by index, not from the start
    steps = _core.Network(list(sizes), 32).train_epoch(native.params, x, y, order, 0.01)
    assert steps == 1
    reference.train_epoch(ref.weights, ref.biases, x, y, order, 32, 0.01)
    np.testing.assert_allclose(native.params, ref.params, rtol=0, atol=1e-6)
    assert not np.array_equal(native.params, MLP(sizes, seed=42).params)


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("sizes", SHAPES)
def test_one_epoch_on_2000_images(data, sizes, ref_dtype):
    x, y = data
    native, ref = models(sizes, ref_dtype)
    order = np.random.RandomState(7).permutation(len(x)).astype(np.int64)
    # 2,000 rows at batch 32: 62 full batches and a short one of 16, as the notebook steps.
    steps = _core.Network(list(sizes), 32).train_epoch(native.params, x, y, order, 0.01)
    assert steps == reference.train_epoch(ref.weights, ref.biases, x, y, order, 32, 0.01) == 63
    np.testing.assert_allclose(native.params, ref.params, rtol=0, atol=1e-5)


@pytest.mark.parametrize("sizes", SHAPES)
def test_trainer_backends_agree(data, sizes):
    """The public path: Trainer.fit on both backends gives the same history and weights."""
    from nanomlp import Trainer

    x, y = data
    histories = []
    for backend, dtype in (("native", "float32"), ("numpy", "float64")):
        model = MLP(sizes, seed=42, dtype=dtype)
        history = Trainer(model, lr=0.05, batch_size=50, epochs=2, backend=backend).fit(
            x[:1500], y[:1500], validation_data=(x[1500:], y[1500:])
        )
        histories.append((history.history, model.params))
    (h_native, p_native), (h_ref, p_ref) = histories
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(h_native[key], h_ref[key], rtol=1e-5)
    for key in ("train_acc", "val_acc"):
        np.testing.assert_allclose(h_native[key], h_ref[key], atol=1.5 / 500)  # one image
    np.testing.assert_allclose(p_native, p_ref, rtol=0, atol=1e-5)
