"""Sample and class weights: the weighted mean loss of the reference, and class_weight's rows."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import reference
from nanomlp.weighting import check_sample_weight, class_weight_to_sample_weight


def _net(dtype, seed=0):
    rng = np.random.RandomState(seed)
    weights = [(rng.randn(8, 6) * 0.5).astype(dtype), (rng.randn(6, 4) * 0.5).astype(dtype)]
    biases = [(rng.randn(6) * 0.1).astype(dtype), (rng.randn(4) * 0.1).astype(dtype)]
    x = rng.rand(10, 8).astype(np.float32)
    y = rng.randint(0, 4, 10)
    return weights, biases, x, y


def _grads(weights, biases, x, y, sample_weight=None, masks=None):
    probs, inputs = reference.forward(weights, biases, x, masks)
    dws, dbs = reference.backward(weights, inputs, probs, y, sample_weight, masks)
    return [g for pair in zip(dws, dbs) for g in pair]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unit_weights_are_the_unweighted_gradient_bit_for_bit(dtype):
    weights, biases, x, y = _net(dtype)
    plain = _grads(weights, biases, x, y)
    ones = _grads(weights, biases, x, y, np.ones(len(y)))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(plain, ones))
    twos = _grads(weights, biases, x, y, np.full(len(y), 2.0))  # a constant factor changes nothing
    assert all(a.tobytes() == b.tobytes() for a, b in zip(plain, twos))


def test_integer_weights_are_repeated_rows():
    weights, biases, x, y = _net(np.float64)
    w = np.array([1, 2, 0, 3, 1, 1, 1, 4, 1, 2])
    weighted = _grads(weights, biases, x, y, w.astype(float))
    repeated = _grads(weights, biases, np.repeat(x, w, axis=0), np.repeat(y, w))
    for a, b in zip(weighted, repeated):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    probs = reference.forward(weights, biases, x)[0]
    assert reference.batch_loss(probs, y, w) == pytest.approx(
        reference.batch_loss(np.repeat(probs, w, axis=0), np.repeat(y, w)), rel=1e-12
    )


def test_weights_of_zero_give_zero_gradients():
    weights, biases, x, y = _net(np.float32)
    assert not any(g.any() for g in _grads(weights, biases, x, y, np.zeros(len(y))))
    assert (
        reference.batch_loss(reference.forward(weights, biases, x)[0], y, np.zeros(len(y))) == 0.0
    )


def test_weighted_gradients_and_dropout_match_torch_autograd():
    """Σ w_i·l_i / Σ w_i through Linear → ReLU → dropout mask → Linear, by torch's autograd."""
    torch = pytest.importorskip("torch")
    weights, biases, x, y = _net(np.float64, seed=3)
    w = np.random.RandomState(4).rand(len(y)) * 3
    from nanomlp.dropout import dropout_mask

    mask = dropout_mask(9, 2, np.arange(100, 110), 6, 0.4, 0, np.float64)
    ours = _grads(weights, biases, x, y, w, [mask])
    tw = [
        torch.tensor(a, requires_grad=True) for a in (weights[0], biases[0], weights[1], biases[1])
    ]
    hidden = torch.relu(torch.tensor(x, dtype=torch.float64) @ tw[0] + tw[1]) * torch.tensor(mask)
    losses = torch.nn.functional.cross_entropy(
        hidden @ tw[2] + tw[3], torch.tensor(y), reduction="none"
    )
    tweight = torch.tensor(w)
    ((losses * tweight).sum() / tweight.sum()).backward()
    for a, t in zip(ours, tw):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_class_weight_balanced_is_scikit_learns():
    sklearn = pytest.importorskip("sklearn.utils.class_weight")
    y = np.array([0, 0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 3, 5])  # class 4 absent
    classes = np.unique(y)
    per_class = sklearn.compute_class_weight("balanced", classes=classes, y=y)
    expected = per_class[np.searchsorted(classes, y)]
    np.testing.assert_allclose(class_weight_to_sample_weight(y, "balanced"), expected, rtol=1e-15)
    np.testing.assert_allclose(
        class_weight_to_sample_weight(y, {0: 2.0, 3: 0.5}),
        sklearn.compute_sample_weight({0: 2.0, 1: 1.0, 2: 1.0, 3: 0.5, 5: 1.0}, y),
        rtol=0,
    )


def test_class_weight_dict_and_none():
    y = np.array([2, 0, 1, 2])
    assert class_weight_to_sample_weight(y, None).tolist() == [1, 1, 1, 1]
    assert class_weight_to_sample_weight(y, {2: 3.0, 0: 0}).tolist() == [3, 0, 1, 3]
    assert class_weight_to_sample_weight(y, {7: 5.0}).tolist() == [1, 1, 1, 1]  # a class y lacks
    assert class_weight_to_sample_weight(
        y, {np.int64(1): np.float32(0.5)}, n_classes=3
    ).tolist() == [1, 1, 0.5, 1]


@pytest.mark.parametrize(
    "y, class_weight, kwargs, error, name",
    [
        ([0, 1], {0: -1.0}, {}, ValueError, r"class_weight\[0\]"),
        ([0, 1], {1: float("nan")}, {}, ValueError, r"class_weight\[1\]"),
        ([0, 1], {1: "2"}, {}, TypeError, r"class_weight\[1\]"),
        ([0, 1], {"a": 1.0}, {}, TypeError, "class_weight keys"),
        ([0, 1], {0: 0.0, 1: 0.0}, {}, ValueError, "class_weight"),
        ([0, 1], {5: 1.0}, {"n_classes": 3}, ValueError, "class_weight"),
        ([0, 1], "balance", {}, ValueError, "class_weight"),
        ([0, 1], [1.0, 2.0], {}, TypeError, "class_weight"),
        ([0, 3], None, {"n_classes": 3}, ValueError, "y"),
        ([0, -1], None, {}, ValueError, "y"),
        ([0.0, 1.0], None, {}, TypeError, "y"),
        ([], "balanced", {}, ValueError, "y"),
    ],
)
def test_bad_class_weight(y, class_weight, kwargs, error, name):
    with pytest.raises(error, match=name):
        class_weight_to_sample_weight(
            np.array(y, dtype=np.asarray(y).dtype if len(y) else int), class_weight, **kwargs
        )


def test_check_sample_weight():
    assert check_sample_weight([1, 2, 0], 3).tolist() == [1.0, 2.0, 0.0]
    assert check_sample_weight(np.ones(2, np.float32), 2).dtype == np.float64


@pytest.mark.parametrize(
    "value, error, match",
    [
        ([1.0, 2.0], ValueError, "shape"),
        ([[1.0, 2.0, 3.0]], ValueError, "shape"),
        ([1.0, -2.0, 1.0], ValueError, r"sample_weight\[1\]"),
        ([1.0, np.nan, 1.0], ValueError, r"sample_weight\[1\]"),
        ([np.inf, 1.0, 1.0], ValueError, r"sample_weight\[0\]"),
        ([0.0, 0.0, 0.0], ValueError, "all zero"),
        (["a", "b", "c"], TypeError, "sample_weight"),
        ([True, False, True], TypeError, "sample_weight"),
    ],
)
def test_bad_sample_weight(value, error, match):
    with pytest.raises(error, match=match):
        check_sample_weight(value, 3)
