"""The reference's backward pass against central finite differences of its loss, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, reference


def mean_loss(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    probs, _ = reference.forward(model.weights, model.biases, x)
    return float(reference.cross_entropy(probs, y).mean())


@pytest.mark.parametrize("sizes", [(784, 16, 12, 10), (784, 10), (784, 9, 7, 5, 3, 10)])
def test_backward_matches_finite_differences(mnist_subset, sizes):
    x, y = mnist_subset
    x, y = x[:8], y[:8].astype(np.int64)
    model = MLP(sizes, seed=3, dtype="float64")
    # Nonzero biases, so their gradients are tested away from the symmetric start.
    for b in model.biases:
        b[:] = model.random_state.uniform(-0.1, 0.1, size=b.shape)
    probs, inputs = reference.forward(model.weights, model.biases, x)
    dws, dbs = reference.backward(model.weights, inputs, probs, y)
    analytic = np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(dws, dbs)])

    rng = np.random.RandomState(0)
    # Every parameter past the first layer, and 300 of the first layer's weights.
    first = sizes[0] * sizes[1]
    indices = np.concatenate(
        [rng.choice(first, 300, replace=False), np.arange(first, len(analytic))]
    )
    eps = 1e-6
    numeric = np.empty(len(indices))
    for n, i in enumerate(indices):
        saved = model.params[i]
        model.params[i] = saved + eps
        up = mean_loss(model, x, y)
        model.params[i] = saved - eps
        down = mean_loss(model, x, y)
        model.params[i] = saved
        numeric[n] = (up - down) / (2 * eps)
    # Central differences err by O(eps^2 * f''') ~ 1e-12 plus rounding ~ 1e-16 / eps = 1e-10.
    np.testing.assert_allclose(
        analytic[indices], numeric, rtol=0, atol=1e-7 * np.abs(numeric).max() + 1e-9
    )
    assert np.abs(numeric).max() > 1e-3, "the check must see real gradients"
