"""Binary cross-entropy, MSE and Huber outputs: the engine against the reference and PyTorch.

Tolerances are test_parity's (one step 1e-6, one epoch 1e-5, gradients 1e-5 of the largest
entry, loss rtol 1e-5): both sides round each operation of the output gradient in float32 in
the same order; they differ by the products' summation order and by exp's last bit (sigmoid).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanomlp import MLP, _core, losses, reference

LOSSES = ["binary_cross_entropy", "mse", "huber"]
SIZES = (784, 32, 16, 5)
DELTA = 0.5


@pytest.fixture(scope="module")
def data(mnist_subset):
    x, y = mnist_subset
    x = np.ascontiguousarray(x)
    indicator = np.stack([y % 2 == 0, y < 5, y == 0, y >= 7, y % 3 == 1], axis=1)
    rng = np.random.RandomState(0)
    real = (y[:, None] / 9.0 + rng.normal(0, 0.3, (len(y), 5))).astype(np.float32)
    return x, indicator.astype(np.float32), real


def targets(data, loss):
    x, indicator, real = data
    return x, indicator if loss == "binary_cross_entropy" else real


def network(loss, batch=32, threads=1, sizes=SIZES):
    return _core.Network(list(sizes), batch, threads=threads, loss=loss, delta=DELTA)


def flat(weights, biases):
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(weights, biases)])


@pytest.mark.parametrize("ref_dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_and_gradients_match_the_reference(data, loss, ref_dtype):
    x, t = targets(data, loss)
    native, ref = MLP(SIZES, seed=42), MLP(SIZES, seed=42, dtype=ref_dtype)
    grads, value = network(loss).gradients(native.params, x[:32], t[:32])
    out, inputs, saved = reference.forward_saved(ref.weights, ref.biases, x[:32], loss=loss)
    dws, dbs = reference.backward(ref.weights, inputs, out, t[:32], loss=loss, delta=DELTA)
    expected = flat(dws, dbs)
    z = reference.logits(ref.weights, ref.biases, x[:32])
    assert value == pytest.approx(losses.row_losses(z, t[:32], loss, DELTA).mean(), rel=1e-5)
    assert np.abs(grads - expected).max() <= 1e-5 * np.abs(expected).max()
    outputs = network(loss).evaluate(native.params, x[:300], None, True)[2]
    ref_out, _ = reference.forward(ref.weights, ref.biases, x[:300])
    np.testing.assert_allclose(
        outputs, losses.output(reference.logits(ref.weights, ref.biases, x[:300]), loss), atol=1e-5
    )
    assert ref_out.shape == outputs.shape


@pytest.mark.parametrize("ref_dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
def test_one_step_and_one_epoch_match_the_reference(data, loss, ref_dtype, weighted):
    x, t = targets(data, loss)
    w = np.random.RandomState(5).uniform(0, 2, len(x)).astype(np.float32) if weighted else None
    for order, atol in (
        (np.arange(32, 64, dtype=np.int64), 1e-6),
        (np.random.RandomState(7).permutation(len(x)).astype(np.int64), 1e-5),
    ):
        native, ref = MLP(SIZES, seed=42), MLP(SIZES, seed=42, dtype=ref_dtype)
        network(loss).train_epoch(native.params, x, t, order, 0.05, sample_weight=w)
        reference.train_epoch(
            ref.weights, ref.biases, x, t, order, 32, 0.05, sample_weight=w, loss=loss, delta=DELTA
        )
        np.testing.assert_allclose(native.params, ref.params, rtol=0, atol=atol)
        assert not np.array_equal(native.params, MLP(SIZES, seed=42).params)


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_and_gradient_match_torch(data, loss):
    x, t = targets(data, loss)
    model = MLP(SIZES, seed=42, activation="tanh")
    net = _core.Network(list(SIZES), 64, activations=["tanh", "tanh"], loss=loss, delta=DELTA)
    grads, value = net.gradients(model.params, x[:64], t[:64])
    ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in model.biases]
    a = torch.tensor(x[:64], dtype=torch.float64)
    for layer, (w, b) in enumerate(zip(ws, bs)):
        a = a @ w + b
        if layer < len(ws) - 1:
            a = torch.tanh(a)
    criterion = {
        "binary_cross_entropy": torch.nn.BCEWithLogitsLoss(),
        "mse": torch.nn.MSELoss(),
        "huber": torch.nn.HuberLoss(delta=DELTA),
    }[loss]
    expected = criterion(a, torch.tensor(t[:64], dtype=torch.float64))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-5)
    torch_grads = flat([w.grad.numpy() for w in ws], [b.grad.numpy() for b in bs])
    assert np.abs(grads - torch_grads).max() <= 1e-5 * np.abs(torch_grads).max()


@pytest.mark.parametrize("loss", LOSSES)
def test_reference_backward_matches_finite_differences(loss):
    """float64, with sample weights: the gradient against central differences of the loss."""
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (6, 12))
    if loss == "binary_cross_entropy":
        t = rng.randint(0, 2, (6, 4)).astype(np.float64)
    else:
        t = rng.normal(0, 1, (6, 4))
    w = rng.uniform(0.5, 2.0, 6)
    model = MLP((12, 9, 4), seed=3, dtype="float64", activation="tanh", init="torch")
    acts = model.activations

    def value() -> float:
        z = reference.logits(model.weights, model.biases, x, acts)
        return float(np.dot(w, losses.row_losses(z, t, loss, DELTA)) / w.sum())

    out, inputs, saved = reference.forward_saved(
        model.weights, model.biases, x, None, acts, loss=loss
    )
    dws, dbs = reference.backward(
        model.weights, inputs, out, t, w, None, acts, saved, loss=loss, delta=DELTA
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
    # Huber's kink at |r| = δ is met by no residual of seed 0 within h.
    err = np.abs(analytic - numeric).max()
    assert err <= 1e-7 * np.abs(numeric).max() + 1e-9, f"{loss}: {err:.3g}"
    assert np.abs(numeric).max() > 1e-3


@pytest.mark.parametrize("loss", LOSSES)
def test_bit_identical_across_threads_and_simd_paths(data, loss, monkeypatch):
    x, t = targets(data, loss)
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    weights = np.random.RandomState(3).uniform(0, 2, len(x)).astype(np.float32)
    kernels = _core.testing.available_kernels()
    results = {}
    for kernel in kernels:
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)
        for threads in (1, 2, 3) if kernel == kernels[0] else (2,):
            model = MLP(SIZES, seed=42)
            net = network(loss, threads=threads)
            net.train_epoch(model.params, x, t, order, 0.05, sample_weight=weights)
            loss_sum, hits, out = net.evaluate(model.params, x, t, True)
            results[kernel, threads] = (model.params.tobytes(), loss_sum, hits, out.tobytes())
    monkeypatch.delenv("NANOMLP_KERNEL")
    first = results[kernels[0], 1]
    fuses = [k for k in kernels if k != "generic" or _core.testing.generic_fuses]
    for (kernel, threads), result in results.items():
        if kernel in fuses:  # the unfused generic path rounds its products differently
            assert result == first, (kernel, threads)


def test_evaluate_counts_exact_matches_for_binary_cross_entropy(data):
    x, t = targets(data, "binary_cross_entropy")
    model = MLP(SIZES, seed=1)
    loss_sum, hits, out = network("binary_cross_entropy").evaluate(model.params, x, t, True)
    assert hits == int(np.all((out >= 0.5) == (t == 1), axis=1).sum())
    ref = reference.evaluate(model.weights, model.biases, x, t, loss="binary_cross_entropy")
    assert loss_sum == pytest.approx(ref[0], rel=1e-5)
    assert hits == ref[1]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"loss": "hinge"}, "loss"),
        ({"loss": "mse", "delta": 0.0}, "delta"),
        ({"loss": "huber", "delta": float("nan")}, "delta"),
    ],
)
def test_the_engine_rejects_bad_losses(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _core.Network([4, 3, 2], 8, **kwargs)


def test_the_engine_rejects_targets_of_the_wrong_kind():
    model = MLP((4, 3, 2), seed=0)
    x = np.zeros((5, 4), np.float32)
    # a wrong dtype is a TypeError, as for every array the engine reads
    with pytest.raises(TypeError, match="targets"):
        network("mse", sizes=(4, 3, 2)).gradients(model.params, x, np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="targets"):
        network("mse", sizes=(4, 3, 2)).evaluate(model.params, x, np.zeros((5, 3), np.float32))
    with pytest.raises(TypeError, match="labels"):
        _core.Network([4, 3, 2], 8).gradients(model.params, x, np.zeros((5, 2), np.float32))


@pytest.mark.parametrize(
    ("y", "loss", "message"),
    [
        (np.array([[0, 2]] * 3), "binary_cross_entropy", "0 and 1"),
        (np.array([[0.5, 1]] * 3), "binary_cross_entropy", "0 and 1"),
        (np.array([[np.nan, 1]] * 3), "mse", "finite"),
        (np.array([[np.inf, 1]] * 3), "huber", "finite"),
        (np.zeros((3, 3)), "mse", "shape"),
        (np.zeros(3), "binary_cross_entropy", "shape"),
        (np.array([["a", "b"]] * 3), "mse", "numbers"),
    ],
)
def test_bad_targets_are_value_errors_naming_y(y, loss, message):
    with pytest.raises(ValueError, match=f"y .*{message}|y must .*{message}"):
        losses.check_targets(y, 3, 2, loss)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="loss"):
        losses.check_loss("l1")


def test_r2_is_scikit_learns():
    from sklearn.metrics import r2_score

    rng = np.random.RandomState(0)
    y, p = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert losses.r2_score(y, p) == pytest.approx(r2_score(y, p))
    assert losses.r2_score(y[:, 0], p[:, 0]) == pytest.approx(r2_score(y[:, 0], p[:, 0]))
