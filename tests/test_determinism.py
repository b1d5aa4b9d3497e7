"""Same seed, same data: the same weights, bit for bit."""

from __future__ import annotations

import numpy as np

from nanomlp import MLP, Trainer


def train(x, y, seed: int = 42) -> tuple[np.ndarray, dict]:
    model = MLP((784, 128, 64, 10), seed=seed)
    history = Trainer(model, lr=0.01, batch_size=32, epochs=2).fit(x, y)
    return model.params.copy(), history.history


def test_two_native_runs_are_bit_identical(mnist):
    (x, y), _ = mnist
    x, y = x[:6000], y[:6000]
    (p1, h1), (p2, h2) = train(x, y), train(x, y)
    assert p1.tobytes() == p2.tobytes()
    assert h1["train_loss"] == h2["train_loss"]
    p3, _ = train(x, y, seed=43)
    assert not np.array_equal(p1, p3), "a different seed must give different weights"


def test_global_random_state_is_untouched(mnist_subset):
    x, y = mnist_subset
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    Trainer(MLP((784, 8, 10), seed=1), epochs=1).fit(x[:200], y[:200])
    np.testing.assert_array_equal(np.random.rand(3), expected)
