"""PyTorch in and out: an nn.Sequential (or its state_dict) as an MLP with equal outputs on MNIST
rows, fine-tuned by the engine; unsupported layers named by index and type."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nanomlp import MLP, Trainer
from nanomlp.interop.torch import from_torch, to_torch

MODULES = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "identity": nn.Identity,
}


def _net(activation, out=None):
    torch.manual_seed(0)
    layers = [nn.Linear(784, 32), MODULES[activation](), nn.Linear(32, 16)]
    layers += [MODULES[activation](), nn.Linear(16, 10)]
    return nn.Sequential(*layers, *([out] if out is not None else []))


def _torch_out(net, x):
    with torch.no_grad():
        return net(torch.tensor(x)).numpy()


@pytest.mark.parametrize("activation", sorted(MODULES))
def test_sequential_round_trip_equal_outputs(mnist, activation):
    _, (x_test, _) = mnist
    x = x_test[:2000]
    net = _net(activation, nn.Softmax(dim=1))
    model = MLP.from_torch(net)
    assert model.activations == (activation,) * 2 and model.loss == "cross_entropy"
    if activation == "leaky_relu":
        assert model.negative_slope == pytest.approx(0.1)
    assert np.abs(Trainer(model).predict_proba(x) - _torch_out(net, x)).max() <= 1e-5
    # The same from the state_dict, given the activation.
    plain = MLP.from_torch(
        net.state_dict(),
        activation=activation,
        negative_slope=0.1 if "leaky" in activation else None,
    )
    assert plain.params.tobytes() == model.params.tobytes()
    # And back: the Sequential nanomlp builds computes the same.
    back = to_torch(model, probabilities=True)
    assert np.abs(_torch_out(back, x) - _torch_out(net, x)).max() <= 1e-6


@pytest.mark.parametrize(
    ("out", "loss", "proba"),
    [
        (None, "cross_entropy", lambda z: torch.softmax(z, 1)),
        (nn.Sigmoid(), "binary_cross_entropy", torch.sigmoid),
        (nn.LogSoftmax(dim=1), "cross_entropy", lambda z: torch.softmax(z, 1)),
    ],
)
def test_final_module_decides_the_loss(mnist, out, loss, proba):
    _, (x_test, _) = mnist
    net = _net("tanh", out)
    model = from_torch(net)
    assert model.loss == loss
    logits = _torch_out(net[:5], x_test[:500])
    expected = proba(torch.tensor(logits)).numpy()
    assert np.abs(Trainer(model).predict_proba(x_test[:500]) - expected).max() <= 1e-5
    assert from_torch(_net("tanh"), loss="mse").loss == "mse"
    with pytest.raises(ValueError, match="ends with a sigmoid output"):
        from_torch(_net("tanh", nn.Sigmoid()), loss="cross_entropy")


def test_dropout_becomes_the_layers_training_rate():
    net = nn.Sequential(
        nn.Linear(4, 5),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(5, 3),
        nn.Dropout(0.5),
        nn.Linear(3, 2),
    )
    model = from_torch(net)
    assert model.dropout == (0.25, 0.5)
    assert model.activations == ("relu", "identity")
    assert model.layer_sizes == (4, 5, 3, 2)


def test_imported_model_fine_tunes_on_the_engine(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    net = _net("relu")
    model = MLP.from_torch(net)
    trainer = Trainer(model, optimizer="adam", epochs=2, batch_size=128)
    before = trainer.evaluate(x_test[:2000], y_test[:2000])
    history = trainer.fit(x_train[:5000], y_train[:5000])
    after = trainer.evaluate(x_test[:2000], y_test[:2000])
    assert len(history.history["train_loss"]) == 2
    assert after[0] < before[0] and after[1] > before[1] + 0.3
    # The network did change: the imported weights were the starting point, not kept.
    assert not np.array_equal(model.weights[0], net[0].weight.detach().numpy().T)


def test_float64_sequential():
    net = nn.Sequential(
        nn.Linear(3, 4, dtype=torch.float64), nn.GELU(), nn.Linear(4, 2, dtype=torch.float64)
    )
    model = from_torch(net)
    assert model.dtype == np.float64
    x = np.random.RandomState(0).rand(9, 3)
    expected = torch.softmax(net(torch.tensor(x)), 1).detach().numpy()
    # PyTorch's float64 erf differs from math.erf by a few 1e-9 (measured: 3e-9).
    assert np.abs(Trainer(model, backend="numpy").predict_proba(x) - expected).max() <= 1e-8


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)], r"layer 1 \(BatchNorm1d\)"),
        ([nn.Linear(4, 4), nn.ReLU(), nn.ELU(), nn.Linear(4, 2)], r"layer 2 \(ELU\)"),
        ([nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2), nn.Tanh()], r"layer 3 \(Tanh\)"),
        ([nn.Conv2d(1, 2, 3), nn.Linear(4, 2)], r"layer 0 \(Conv2d\)"),
        ([nn.Linear(4, 4), nn.Softmax(dim=1), nn.Linear(4, 2)], r"layer 1 \(Softmax\)"),
        ([nn.Linear(4, 4, bias=False), nn.Linear(4, 2)], "without bias"),
        (
            [
                nn.Linear(4, 4),
                nn.LeakyReLU(0.1),
                nn.Linear(4, 4),
                nn.LeakyReLU(0.2),
                nn.Linear(4, 2),
            ],
            "different slopes",
        ),
        ([nn.Linear(4, 3), nn.ReLU(), nn.Linear(4, 2)], "takes 4 inputs"),
        ([nn.ReLU()], "no Linear"),
    ],
)
def test_unsupported_layers_are_named(layers, message):
    with pytest.raises(ValueError, match=message):
        from_torch(nn.Sequential(*layers))


def test_bad_arguments():
    state = _net("relu").state_dict()
    with pytest.raises(ValueError, match="activation="):
        from_torch(state)
    with pytest.raises(TypeError, match="nn.Sequential or a state_dict"):
        from_torch(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="nn.Sequential or a state_dict"):
        from_torch([1, 2])
    with pytest.raises(ValueError, match="for a state_dict"):
        from_torch(_net("relu"), activation="tanh")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        from_torch(state, activation="swish")
    half = {k: v.half() for k, v in state.items()}
    with pytest.raises(ValueError, match="float16"):
        from_torch(half, activation="relu")
    del state["2.bias"]
    with pytest.raises(ValueError, match="'2.bias' is missing"):
        from_torch(state, activation="relu")
