"""The native engine's optimizers, sample weights, dropout and clipping against the NumPy reference.

Both backends run the same epoch through ``backends.train_epoch``: the native engine in float32,
the reference in float32 too, so the two differ only by the rounding of the gradients (the
products' summation order and fused multiply-adds), which the optimizers then carry.
- SGD: tests/test_parity.py's tolerances, atol 1e-6 after one step, 1e-5 after one epoch on
  2,000 images (63 steps); observed up to 3e-8 and 1.8e-7.
- Adam, AdamW, RMSprop divide each gradient by the root of its running square: the first
  steps move every weight by about ±lr (Adam) or ±10·lr (RMSprop) whatever the gradient's
  size, so a weight whose gradient is within a rounding error of zero moves by up to that much
  on one side and not the other. Rounding differences of 1e-7 thus become differences of up
  to a few percent of lr: atol 5e-5 after one step and 2e-4 after one epoch, lr being 1e-3
  (observed up to 3.6e-5 and 1.4e-4). The reference in float32 and float64 differ from each
  other as much (test_adaptive_tolerance_is_the_references_own_spread).
The update formulas themselves are checked to the bit: a native step equals the reference's
update applied to the native gradients. And the results are bit-identical across thread counts
and SIMD paths, dropout included.
"""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, _core, optim, reference
from nanomlp.backends import NativeBackend, NumpyBackend
from nanomlp.model import parameter_layout

SIZES = (784, 128, 64, 10)
BATCH = 32
STEP_ATOL = {"sgd": 1e-6, "adaptive": 5e-5}
EPOCH_ATOL = {"sgd": 1e-5, "adaptive": 2e-4}

OPTIMIZERS = {
    "sgd": optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": optim.Adam(lr=1e-3, weight_decay=1e-3),
    "adam-amsgrad": optim.Adam(lr=1e-3, betas=(0.8, 0.99), amsgrad=True),
    "adamw": optim.AdamW(lr=1e-3, weight_decay=1e-2),
    "rmsprop": optim.RMSprop(lr=1e-3),
    "rmsprop-centered": optim.RMSprop(lr=1e-3, momentum=0.5, centered=True, weight_decay=1e-3),
}
FEATURES = {
    "plain": {},
    "sample_weight": {"sample_weight": True},
    "dropout": {"dropout": [0.2, 0.35]},
    "clip_value": {"clip_value": 0.01},
    "clip_norm": {"clip_norm": 0.5},
}


@pytest.fixture(scope="module")
def data(mnist_subset):
    x, y = mnist_subset
    weights = np.random.RandomState(3).uniform(0.0, 2.0, len(x)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int32), weights


def run(
    backend_class, dtype, opt, x, y, order, features, sample_weight, threads=1, epochs=1, seed=42
):
    """Parameters and state after ``epochs`` epochs over x[order] through a backend."""
    model = MLP(SIZES, seed=seed, dtype=dtype)
    backend = backend_class(model, threads)
    state = opt.init_state(model.params.size, dtype)
    n_steps = -(-len(order) // BATCH)
    kw = dict(features)
    kw["sample_weight"] = sample_weight if kw.pop("sample_weight", False) else None
    for epoch in range(epochs):
        # A decaying schedule: a different learning rate for every step.
        lrs = opt.lr * np.linspace(1.0, 0.5, n_steps) / (1 + epoch)
        steps = backend.train_epoch(
            x, y, order, BATCH, lrs, opt, state, dropout_seed=11, first_step=epoch * n_steps, **kw
        )
        assert steps == n_steps
    assert state["step"] == epochs * n_steps
    return model.params.copy(), state


def max_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_step(data, name, feature):
    x, y, w = data
    opt = OPTIMIZERS[name]
    order = np.arange(64, 64 + BATCH, dtype=np.int64)
    native, _ = run(NativeBackend, "float32", opt, x, y, order, FEATURES[feature], w)
    ref, _ = run(NumpyBackend, "float32", opt, x, y, order, FEATURES[feature], w)
    assert not np.array_equal(native, MLP(SIZES, seed=42).params), (
        "the step must change the weights"
    )
    assert max_difference(native, ref) <= STEP_ATOL["sgd" if opt.name == "sgd" else "adaptive"]


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_epoch_on_2000_images(data, name, feature):
    x, y, w = data
    opt = OPTIMIZERS[name]
    order = np.random.RandomState(7).permutation(len(x)).astype(np.int64)
    native, native_state = run(NativeBackend, "float32", opt, x, y, order, FEATURES[feature], w)
    ref, ref_state = run(NumpyBackend, "float32", opt, x, y, order, FEATURES[feature], w)
    atol = EPOCH_ATOL["sgd" if opt.name == "sgd" else "adaptive"]
    assert max_difference(native, ref) <= atol
    for key in opt.state_names:
        scale = max(1.0, float(np.abs(ref_state[key]).max()))
        assert max_difference(native_state[key], ref_state[key]) <= atol * scale, key


def test_adaptive_tolerance_is_the_references_own_spread(data):
    """One step of centered RMSprop: the reference in float32 and in float64 differ by more
    than SGD's tolerance, as native and reference do."""
    x, y, _ = data
    opt = OPTIMIZERS["rmsprop-centered"]
    order = np.arange(64, 64 + BATCH, dtype=np.int64)
    ref32, _ = run(NumpyBackend, "float32", opt, x, y, order, {}, None)
    ref64, _ = run(NumpyBackend, "float64", opt, x, y, order, {}, None)
    assert STEP_ATOL["sgd"] < max_difference(ref32, ref64) <= STEP_ATOL["adaptive"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_update_is_the_references_to_the_bit(data, name):
    """One native step = the reference's update of the native gradients, bit for bit, at the
    optimizer's second step (state carried) as at its first."""
    x, y, _ = data
    opt = OPTIMIZERS[name]
    model = MLP(SIZES, seed=5)
    net = _core.Network(list(SIZES), BATCH)
    backend = NativeBackend(model, 1)
    state = opt.init_state(model.params.size)
    mask = optim.weight_decay_mask(SIZES)
    for step, start in enumerate((0, 500)):
        order = np.arange(start, start + BATCH, dtype=np.int64)
        lr = opt.lr / (step + 1)
        grads, _ = net.gradients(model.params, x[order], y[order])
        expected = model.params.copy()
        expected_state = {
            k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()
        }
        opt.update(expected, grads, expected_state, lr, decay=mask)
        backend.train_epoch(x, y, order, BATCH, np.array([lr]), opt, state)
        assert model.params.tobytes() == expected.tobytes()
        for key in opt.state_names:
            assert state[key].tobytes() == expected_state[key].tobytes(), key
        assert state["step"] == expected_state["step"] == step + 1


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "sgd"] + ["sgd-momentum"])
def test_tiny_state_is_flushed_to_zero_as_the_reference_does(data, name):
    """State entries near and below reference.TINY_STATE (subnormals included) go through one
    native step as through the reference's, bit for bit; afterwards no state entry is non-zero
    and below TINY_STATE, and some were flushed."""
    x, y, _ = data
    opt = OPTIMIZERS["sgd"] if name == "sgd-momentum" else OPTIMIZERS[name]
    model = MLP(SIZES, seed=5)
    net = _core.Network(list(SIZES), BATCH)
    state = opt.init_state(model.params.size)
    state["step"] = 3
    rng = np.random.default_rng(0)
    for key in opt.state_names:
        scale = rng.choice([2.0**-90, 2.0**-100, 2.0**-130], size=state[key].size)
        magnitude = (scale * rng.uniform(0.5, 2.0, state[key].size)).astype(np.float32)
        # Squared averages are never negative.
        sign = (
            1.0 if "sq" in key or key == "square_avg" else rng.choice([-1.0, 1.0], state[key].size)
        )
        state[key][...] = magnitude * np.float32(sign)
    order = np.arange(BATCH, dtype=np.int64)
    grads, _ = net.gradients(model.params, x[order], y[order])
    expected = model.params.copy()
    expected_state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    opt.update(expected, grads, expected_state, opt.lr, decay=optim.weight_decay_mask(SIZES))
    NativeBackend(model, 1).train_epoch(x, y, order, BATCH, np.array([opt.lr]), opt, state)
    assert model.params.tobytes() == expected.tobytes()
    flushed = 0
    for key in opt.state_names:
        assert state[key].tobytes() == expected_state[key].tobytes(), key
        magnitude = np.abs(state[key])
        assert not np.any((magnitude > 0) & (magnitude < reference.TINY_STATE)), key
        flushed += int(np.count_nonzero(magnitude == 0))
    assert flushed > 0


def test_unweighted_and_no_dropout_are_plain_sgd_to_the_bit(data):
    """Sample weights all 1 and dropout rates all 0 change nothing: the original SGD epoch."""
    x, y, _ = data
    order = np.random.RandomState(1).permutation(600).astype(np.int64)
    plain = MLP(SIZES, seed=3)
    _core.Network(list(SIZES), BATCH).train_epoch(plain.params, x, y, order, 0.05)
    for kw in ({"sample_weight": np.ones(len(x), np.float32)}, {"dropout": [0.0, 0.0]}):
        model = MLP(SIZES, seed=3)
        _core.Network(list(SIZES), BATCH).train_epoch(model.params, x, y, order, 0.05, **kw)
        assert model.params.tobytes() == plain.params.tobytes(), kw


def test_dropout_and_weights_change_the_result(data):
    """The features are really applied: each changes the trained weights."""
    x, y, w = data
    order = np.arange(256, dtype=np.int64)
    opt = OPTIMIZERS["adam"]
    base, _ = run(NativeBackend, "float32", opt, x, y, order, {}, w)
    for feature in ("sample_weight", "dropout", "clip_value", "clip_norm"):
        changed, _ = run(NativeBackend, "float32", opt, x, y, order, FEATURES[feature], w)
        assert not np.array_equal(changed, base), feature


ADAM_DROPOUT = {"dropout": [0.3, 0.1], "clip_norm": 1.0, "sample_weight": True}


@pytest.mark.parametrize("batch_size", [32, 256])
def test_adam_with_dropout_does_not_depend_on_the_thread_count(data, batch_size):
    x, y, w = data
    global BATCH
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    opt = OPTIMIZERS["adamw"]
    saved, BATCH = BATCH, batch_size
    try:
        results = [
            run(NativeBackend, "float32", opt, x, y, order, ADAM_DROPOUT, w, threads=t, epochs=2)
            for t in (1, 2, 3)
        ]
    finally:
        BATCH = saved
    for params, state in results[1:]:
        assert params.tobytes() == results[0][0].tobytes()
        for key in opt.state_names:
            assert state[key].tobytes() == results[0][1][key].tobytes()


def test_adam_with_dropout_does_not_depend_on_the_simd_path(data, monkeypatch):
    kernels = [k for k in _core.testing.available_kernels() if k != "generic"]
    if len(kernels) < 2:
        pytest.skip(f"one SIMD path on this CPU ({kernels})")
    x, y, w = data
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    opt = OPTIMIZERS["adam"]
    results = {}
    for kernel in kernels:
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)
        assert _core.Network(list(SIZES), BATCH).kernel == kernel
        for features in (ADAM_DROPOUT, {"dropout": [0.3, 0.1]}):  # unfused and fused updates
            results[kernel, len(features)] = run(
                NativeBackend, "float32", opt, x, y, order, features, w, threads=2
            )[0]
    for (kernel, n), params in results.items():
        assert params.tobytes() == results[kernels[0], n].tobytes(), kernel


def test_state_arrays_are_checked(data):
    x, y, _ = data
    model = MLP(SIZES, seed=0)
    net = _core.Network(list(SIZES), BATCH)
    order = np.arange(BATCH, dtype=np.int64)
    n = model.params.size
    with pytest.raises(ValueError, match="exp_avg_sq"):
        net.train_epoch(
            model.params,
            x,
            y,
            order,
            0.01,
            optimizer="adam",
            state={"exp_avg": np.zeros(n, np.float32)},
        )
    with pytest.raises(ValueError, match="elements"):
        net.train_epoch(
            model.params,
            x,
            y,
            order,
            0.01,
            optimizer="rmsprop",
            state={"square_avg": np.zeros(n - 1, np.float32)},
        )
    with pytest.raises(TypeError, match="float32"):
        net.train_epoch(
            model.params, x, y, order, 0.01, optimizer="rmsprop", state={"square_avg": np.zeros(n)}
        )
    with pytest.raises(ValueError, match="learning rates"):
        net.train_epoch(model.params, x, y, np.arange(2 * BATCH, dtype=np.int64), np.array([0.1]))
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        net.train_epoch(model.params, x, y, order, 0.01, dropout=[0.5])
    with pytest.raises(ValueError, match="sample_weight"):
        net.train_epoch(model.params, x, y, order, 0.01, sample_weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="optimizer"):
        net.train_epoch(model.params, x, y, order, 0.01, optimizer="lamb")
    assert parameter_layout(SIZES)[-1][2] == n
