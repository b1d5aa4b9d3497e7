"""Label smoothing (PyTorch's ``CrossEntropyLoss(label_smoothing=ε)``): engine and reference.

Tolerances are test_parity's (one step 1e-6, one epoch 1e-5, gradients 1e-5 of the largest,
loss rtol 1e-5): the smoothed targets are rounded once from float64 on both sides, so the two
differ only by the summation order of the products, as without smoothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanomlp import MLP, Trainer, _core, reference
from nanomlp.backends import NativeBackend, NumpyBackend

SIZES = (784, 32, 16, 10)
EPS = 0.1


@pytest.fixture(scope="module")
def data(mnist_subset):
    x, y = mnist_subset
    return np.ascontiguousarray(x), y.astype(np.int32)


def flat(weights: list[np.ndarray], biases: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(weights, biases)])


@pytest.mark.parametrize("ref_dtype", ["float32", "float64"])
def test_loss_and_gradients_match_the_reference(data, ref_dtype):
    x, y = data
    native, ref = MLP(SIZES, seed=42), MLP(SIZES, seed=42, dtype=ref_dtype)
    net = _core.Network(list(SIZES), 32, label_smoothing=EPS)
    grads, loss = net.gradients(native.params, x[:32], y[:32])
    probs, inputs = reference.forward(ref.weights, ref.biases, x[:32])
    dws, dbs = reference.backward(ref.weights, inputs, probs, y[:32], label_smoothing=EPS)
    expected = flat(dws, dbs)
    assert loss == pytest.approx(reference.batch_loss(probs, y[:32], None, EPS), rel=1e-5)
    assert np.abs(grads - expected).max() <= 1e-5 * np.abs(expected).max()
    # and smoothing changes them: the test would not see a dropped ε
    plain, plain_loss = _core.Network(list(SIZES), 32).gradients(native.params, x[:32], y[:32])
    assert np.abs(plain - grads).max() > 1e-3 * np.abs(expected).max()
    assert abs(plain_loss - loss) > 1e-3


@pytest.mark.parametrize("ref_dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_step_and_one_epoch_match_the_reference(data, ref_dtype, weighted):
    x, y = data
    w = np.random.RandomState(5).uniform(0, 2, len(x)).astype(np.float32) if weighted else None
    for order, atol in (
        (np.arange(32, 64, dtype=np.int64), 1e-6),
        (np.random.RandomState(7).permutation(len(x)).astype(np.int64), 1e-5),
    ):
        native, ref = MLP(SIZES, seed=42), MLP(SIZES, seed=42, dtype=ref_dtype)
        net = _core.Network(list(SIZES), 32, label_smoothing=EPS)
        net.train_epoch(native.params, x, y, order, 0.05, sample_weight=w)
        reference.train_epoch(
            ref.weights, ref.biases, x, y, order, 32, 0.05, sample_weight=w, label_smoothing=EPS
        )
        np.testing.assert_allclose(native.params, ref.params, rtol=0, atol=atol)


def test_zero_smoothing_is_the_plain_cross_entropy_to_the_bit(data):
    x, y = data
    order = np.random.RandomState(1).permutation(512).astype(np.int64)
    a, b = MLP(SIZES, seed=4), MLP(SIZES, seed=4)
    _core.Network(list(SIZES), 32).train_epoch(a.params, x, y, order, 0.05)
    _core.Network(list(SIZES), 32, label_smoothing=0.0).train_epoch(b.params, x, y, order, 0.05)
    assert a.params.tobytes() == b.params.tobytes()
    ref = MLP(SIZES, seed=4)
    probs, inputs = reference.forward(ref.weights, ref.biases, x[:8])
    plain = reference.backward(ref.weights, inputs, probs, y[:8])
    zero = reference.backward(ref.weights, inputs, probs, y[:8], label_smoothing=0.0)
    assert all(np.array_equal(p, q) for p, q in zip(plain[0] + plain[1], zero[0] + zero[1]))


@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
def test_loss_and_gradient_match_torch(data, eps):
    """The engine against autograd through the same network: loss and every gradient."""
    x, y = data
    model = MLP(SIZES, seed=42, activation="tanh")
    net = _core.Network(list(SIZES), 64, activations=["tanh", "tanh"], label_smoothing=eps)
    grads, loss = net.gradients(model.params, x[:64], y[:64])
    ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in model.biases]
    a = torch.tensor(x[:64], dtype=torch.float64)
    for layer, (w, b) in enumerate(zip(ws, bs)):
        a = a @ w + b
        if layer < len(ws) - 1:
            a = torch.tanh(a)
    expected = torch.nn.CrossEntropyLoss(label_smoothing=eps)(a, torch.tensor(y[:64]).long())
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    torch_grads = np.concatenate(
        [np.concatenate([w.grad.numpy().ravel(), b.grad.numpy().ravel()]) for w, b in zip(ws, bs)]
    )
    assert np.abs(grads - torch_grads).max() <= 1e-5 * np.abs(torch_grads).max()


def test_reference_backward_matches_finite_differences():
    """float64: the smoothed gradient against central differences of the smoothed loss."""
    rng = np.random.RandomState(0)
    x, y = rng.uniform(-1, 1, (6, 12)), rng.randint(0, 5, 6)
    w = rng.uniform(0.5, 2.0, 6)
    model = MLP((12, 9, 5), seed=3, dtype="float64", activation="tanh", init="torch")
    acts = model.activations

    def loss() -> float:
        probs, _ = reference.forward(model.weights, model.biases, x, None, acts)
        return reference.batch_loss(probs, y, w, 0.3)

    probs, inputs, saved = reference.forward_saved(model.weights, model.biases, x, None, acts)
    dws, dbs = reference.backward(
        model.weights, inputs, probs, y, w, None, acts, saved, label_smoothing=0.3
    )
    analytic = flat(dws, dbs)
    h, numeric = 1e-6, np.empty(model.params.size)
    for i in range(model.params.size):
        keep = model.params[i]
        model.params[i] = keep + h
        up = loss()
        model.params[i] = keep - h
        down = loss()
        model.params[i] = keep
        numeric[i] = (up - down) / (2 * h)
    err = np.abs(analytic - numeric).max()
    assert err <= 1e-7 * np.abs(numeric).max() + 1e-9, f"{err:.3g}"
    assert np.abs(numeric).max() > 1e-3


def test_bit_identical_across_threads_and_simd_paths(data, monkeypatch):
    x, y = data
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    weights = np.random.RandomState(3).uniform(0, 2, len(x)).astype(np.float32)
    kernels = _core.testing.available_kernels()
    results = {}
    for kernel in kernels:
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)
        for threads in (1, 2, 3) if kernel == kernels[0] else (2,):
            model = MLP(SIZES, seed=42)
            net = _core.Network(list(SIZES), 32, threads=threads, label_smoothing=0.2)
            net.train_epoch(model.params, x, y, order, 0.05, sample_weight=weights)
            loss = net.evaluate(model.params, x, y, False)[0]
            results[kernel, threads] = (model.params.tobytes(), loss)
    monkeypatch.delenv("NANOMLP_KERNEL")
    first = results[kernels[0], 1]
    fuses = [k for k in kernels if k != "generic" or _core.testing.generic_fuses]
    for (kernel, threads), result in results.items():
        if kernel in fuses:  # the unfused generic path rounds its products differently
            assert result == first, (kernel, threads)


def test_trainer_backends_agree(data):
    x, y = data
    histories = []
    for backend, dtype in (("native", "float32"), ("numpy", "float32")):
        model = MLP((784, 16, 10), seed=42, dtype=dtype)
        trainer = Trainer(model, epochs=2, backend=backend, label_smoothing=0.2, threads=2)
        histories.append(trainer.fit(x[:500], y[:500]).history)
        assert trainer.evaluate(x[:100], y[:100])[0] == pytest.approx(
            reference.evaluate(model.weights, model.biases, x[:100], y[:100], label_smoothing=0.2)[
                0
            ]
            / 100,
            rel=1e-5,
        )
    for key in ("train_loss", "train_acc"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5)


def test_backends_take_the_smoothing(data):
    model = MLP((784, 8, 10), seed=0)
    assert NativeBackend(model, 1, 0.3)._network(4).label_smoothing == 0.3
    assert NumpyBackend(model, 1, 0.3).label_smoothing == 0.3


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
def test_smoothing_outside_0_1_is_a_value_error(value):
    with pytest.raises(ValueError, match="label_smoothing"):
        Trainer(MLP((4, 3, 2)), label_smoothing=value)
    with pytest.raises(ValueError, match="label_smoothing"):
        _core.Network([4, 3, 2], 8, label_smoothing=value)


def test_unknown_loss_is_a_value_error():
    with pytest.raises(ValueError, match="loss"):
        Trainer(MLP((4, 3, 2)), loss="hinge")
    # None is the model's loss.
    assert Trainer(MLP((4, 3, 2), loss="mse"), loss=None).loss == "mse"
