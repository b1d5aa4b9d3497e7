"""Every hidden activation with every loss: gradients, parity with the reference, reproducibility.

The activations (``_activations.ACTIVATIONS``, seven; leaky_relu's slope 0.05) and the losses
(cross-entropy, the same with label smoothing 0.1, binary cross-entropy, MSE, Huber with
δ = 0.5: five) are tested one pair at a time, in a 64-24-16-k network on scikit-learn's digits
(1,438 training rows). Targets per loss: class ids for cross-entropy (k = 10);
``multilabel_targets`` (digit ≥ 5, odd; k = 2) for binary cross-entropy; for MSE and Huber
k = 2 real columns, the mean pixel and a fixed projection of the label (``y/4.5 − 1``), so the
first batch's residuals fall on both sides of δ (asserted).

1. The float64 reference's backward against central differences (h = 1e-6) of its loss, in a
   12-9-7-k network: error ≤ 1e-7 of the largest gradient + 1e-9, tests/test_gradcheck.py's
   bound (central differences err by O(h² f''') ~ 1e-12, rounding by ~1e-16 / h = 1e-10). No
   ReLU/leaky_relu pre-activation lies within 1e-4 of its kink and no Huber residual within
   1e-4 of ±δ (asserted, so the bound cannot be broken by a kink); Huber's residuals fall on
   both sides of δ (asserted). Observed: at most 3.1e-9 of the largest gradient.
2. The native engine against the float32 reference: one step of 32 rows (atol 1e-6) and one
   epoch of 45 steps (atol 1e-5), tests/test_parity.py's tolerances; the float32 reference
   applies the engine's own element rules, so the sides differ only by summation order and
   fused multiply-adds. Observed maxima: one step 3.0e-8, one epoch 1.2e-7 (tanh, cross-entropy).
3. One epoch with dropout (0.2, 0.3) is bit-identical across 1, 2 and 3 threads, and across
   the avx512 and avx2 paths (skipped, with the reason, where the CPU lacks one). The epoch
   must change the weights, and differ from the same epoch without dropout (asserted). The
   generic path is not compared: on x86 it multiplies then adds where the SIMD paths fuse.

Observed per pair: gradcheck error / largest gradient (×1e-9), then the largest parameter
difference after one step and after one epoch (×1e-8); no pair needs a wider tolerance:

               CE             CE ε=0.1       BCE            MSE            Huber δ=0.5
    identity   1.7 3.00 6.0   2.2 3.00 6.0   3.0 1.50 3.7   0.7 1.50 6.0   1.0 1.50 6.0
    relu       1.4 1.50 6.0   2.0 1.50 3.0   2.2 0.19 6.0   0.9 0.75 3.0   1.7 0.19 3.0
    leaky_relu 1.7 0.75 3.0   1.9 0.37 6.0   1.8 0.75 3.0   0.8 1.50 3.0   1.6 0.75 3.0
    tanh       1.7 1.50 12.0  2.3 1.50 6.0   3.1 1.50 3.0   0.6 1.50 6.0   1.0 3.00 3.0
    sigmoid    1.8 0.75 3.0   1.7 1.50 3.0   1.6 0.19 1.5   0.4 1.50 3.0   0.5 0.19 6.0
    gelu       1.9 0.37 6.0   2.2 1.50 3.0   2.1 0.02 3.0   0.7 0.75 3.0   1.3 0.19 3.0
    gelu_tanh  2.0 3.00 6.0   2.0 1.50 3.0   2.6 0.05 3.0   0.6 3.00 3.0   1.5 1.50 6.0
"""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, _core, losses, reference
from nanomlp._activations import ACTIVATIONS
from nanomlp.datasets import load_digits, multilabel_targets

# test name: (loss, label_smoothing)
LOSSES = {
    "cross_entropy": ("cross_entropy", 0.0),
    "cross_entropy_ls": ("cross_entropy", 0.1),
    "binary_cross_entropy": ("binary_cross_entropy", 0.0),
    "mse": ("mse", 0.0),
    "huber": ("huber", 0.0),
}
PAIRS = [(a, name) for a in ACTIVATIONS for name in LOSSES]
DELTA = 0.5
SLOPE = 0.05
HIDDEN = (24, 16)
BATCH = 32
LR = 0.05
KINK_MARGIN = 1e-4


def outputs(name: str) -> int:
    return 10 if LOSSES[name][0] == "cross_entropy" else 2


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = load_digits()
    x = np.ascontiguousarray(x, dtype=np.float32)
    real = np.stack([x.mean(axis=1), y / 4.5 - 1.0], axis=1).astype(np.float32)
    return {
        "x": x,
        "labels": y.astype(np.int32),
        "indicators": multilabel_targets(y),
        "real": np.ascontiguousarray(real),
    }


def targets(digits, name: str) -> np.ndarray:
    loss = LOSSES[name][0]
    if loss == "cross_entropy":
        return digits["labels"]
    return digits["indicators"] if loss == "binary_cross_entropy" else digits["real"]


def sizes(name: str, n_inputs: int = 64) -> tuple[int, ...]:
    return (n_inputs, *HIDDEN, outputs(name))


def network(activation: str, name: str, threads: int = 1) -> _core.Network:
    loss, smoothing = LOSSES[name]
    return _core.Network(
        list(sizes(name)),
        BATCH,
        threads=threads,
        activations=[activation] * len(HIDDEN),
        negative_slope=SLOPE,
        label_smoothing=smoothing,
        loss=loss,
        delta=DELTA,
    )


def flat(weights, biases) -> np.ndarray:
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(weights, biases)])


@pytest.mark.parametrize(("activation", "name"), PAIRS)
def test_reference_backward_matches_finite_differences(activation, name):
    loss, smoothing = LOSSES[name]
    k = 5 if loss == "cross_entropy" else 4
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (6, 12))
    if loss == "cross_entropy":
        t = rng.randint(0, k, 6)
    elif loss == "binary_cross_entropy":
        t = rng.randint(0, 2, (6, k)).astype(np.float64)
    else:
        t = rng.normal(0, 1, (6, k))
    model = MLP((12, 9, 7, k), seed=3, dtype="float64", activation=activation, init="torch")
    acts = model.activations

    def value() -> float:
        if loss == "cross_entropy":
            probs, _ = reference.forward(model.weights, model.biases, x, None, acts, SLOPE)
            return reference.batch_loss(probs, t, None, smoothing)
        z = reference.logits(model.weights, model.biases, x, acts, SLOPE)
        return float(losses.row_losses(z, t, loss, DELTA).mean())

    out, inputs, saved = reference.forward_saved(
        model.weights, model.biases, x, None, acts, SLOPE, loss
    )
    if activation in ("relu", "leaky_relu"):  # no pre-activation at a kink
        pre = [np.dot(a, w) + b for a, w, b in zip(inputs[:-1], model.weights, model.biases)]
        assert min(np.abs(z).min() for z in pre) > KINK_MARGIN
    if loss == "huber":
        r = np.abs(out - t)
        assert np.abs(r - DELTA).min() > KINK_MARGIN
        assert (r < DELTA).any() and (r > DELTA).any(), "both of Huber's branches"
    dws, dbs = reference.backward(
        model.weights, inputs, out, t, None, None, acts, saved, SLOPE, smoothing, loss, DELTA
    )
    analytic = flat(dws, dbs)
    h, numeric = 1e-6, np.empty(model.params.size)
    for i in range(model.params.size):
        keep = model.params[i]
        model.params[i] = keep + h
        up = value()
        model.params[i] = keep - h
        down = value()
        model.params[i] = keep
        numeric[i] = (up - down) / (2 * h)
    err = np.abs(analytic - numeric).max()
    assert err <= 1e-7 * np.abs(numeric).max() + 1e-9, f"{activation}/{name}: {err:.3g}"
    assert np.abs(numeric).max() > 1e-3, "the check must see real gradients"


@pytest.mark.parametrize(("activation", "name"), PAIRS)
def test_one_step_and_one_epoch_match_the_float32_reference(digits, activation, name):
    loss, smoothing = LOSSES[name]
    x, t = digits["x"], targets(digits, name)
    first = MLP(sizes(name), seed=42, activation=activation)
    start = first.params.copy()
    if loss == "huber":  # the first batch's residuals fall on both sides of δ
        z = reference.logits(first.weights, first.biases, x[32:64], first.activations, SLOPE)
        r = np.abs(z - t[32:64])
        assert (r < DELTA).any() and (r > DELTA).any()
    for order, atol in (
        (np.arange(32, 64, dtype=np.int64), 1e-6),
        (np.random.RandomState(7).permutation(len(x)).astype(np.int64), 1e-5),
    ):
        native = MLP(sizes(name), seed=42, activation=activation)
        ref = MLP(sizes(name), seed=42, activation=activation)
        steps = network(activation, name).train_epoch(native.params, x, t, order, LR)
        assert steps == -(-len(order) // BATCH)
        assert steps == reference.train_epoch(
            ref.weights,
            ref.biases,
            x,
            t,
            order,
            BATCH,
            LR,
            activations=ref.activations,
            negative_slope=SLOPE,
            label_smoothing=smoothing,
            loss=loss,
            delta=DELTA,
        )
        assert not np.array_equal(native.params, start), "training must change the weights"
        np.testing.assert_allclose(native.params, ref.params, rtol=0, atol=atol)


def dropout_epoch(digits, activation, name, threads, dropout=(0.2, 0.3)) -> bytes:
    x, t = digits["x"], targets(digits, name)
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    model = MLP(sizes(name), seed=42, activation=activation)
    net = network(activation, name, threads)
    net.train_epoch(model.params, x, t, order, LR, dropout=list(dropout), dropout_seed=5)
    return model.params.tobytes()


@pytest.mark.parametrize(("activation", "name"), PAIRS)
def test_dropout_epoch_is_bit_identical_across_threads(digits, activation, name):
    one = dropout_epoch(digits, activation, name, 1)
    assert one != MLP(sizes(name), seed=42, activation=activation).params.tobytes()
    assert one != dropout_epoch(digits, activation, name, 1, (0.0, 0.0)), "dropout must act"
    for threads in (2, 3):
        assert dropout_epoch(digits, activation, name, threads) == one, threads


@pytest.mark.parametrize(("activation", "name"), PAIRS)
def test_dropout_epoch_is_bit_identical_across_simd_paths(digits, activation, name, monkeypatch):
    available = _core.testing.available_kernels()
    missing = [k for k in ("avx512", "avx2") if k not in available]
    if missing:
        pytest.skip(f"this CPU lacks the {' and '.join(missing)} path ({available} available)")
    results = {}
    for kernel in ("avx512", "avx2"):
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)  # read when the Network is built
        assert network(activation, name).kernel == kernel
        results[kernel] = dropout_epoch(digits, activation, name, 2)
    monkeypatch.delenv("NANOMLP_KERNEL")
    assert results["avx512"] == results["avx2"]
