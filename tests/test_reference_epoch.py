"""The reference's epoch with the new options: per-step rates, weights, dropout, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, optim, reference, schedules

SIZES = (6, 5, 4, 3)


def _data():
    rng = np.random.RandomState(0)
    x = rng.rand(90, 6).astype(np.float32)
    return x, np.argmax(x[:, :3], axis=1), rng.permutation(90)  # labels a network can learn


def _epoch(dtype="float32", opt=None, **options) -> np.ndarray:
    x, y, order = _data()
    model = MLP(SIZES, seed=3, dtype=dtype)
    opt = opt or optim.Adam(lr=0.01)
    state = opt.init_state(len(model.params), model.params.dtype)
    options.setdefault("lr", 0.01)
    steps = reference.train_epoch(
        model.weights, model.biases, x, y, order, 16, optimizer=opt, state=state, **options
    )
    assert steps == 6 and state["step"] == 6
    return model.params.copy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_neutral_options_change_nothing_bit_for_bit(dtype):
    plain = _epoch(dtype)
    assert not np.array_equal(plain, MLP(SIZES, seed=3, dtype=dtype).params)
    for options in [
        {"lr": np.full(6, 0.01)},
        {"sample_weight": np.ones(90)},
        {"clip_norm": 1e6},
        {"clip_value": 1e6},
        {"dropout": 0.0, "dropout_seed": 5},
    ]:
        assert _epoch(dtype, **options).tobytes() == plain.tobytes(), options


def test_each_option_changes_the_result():
    plain = _epoch()
    weights = np.random.RandomState(1).rand(90)
    for options in [
        {"lr": schedules.ExponentialLR(0.5).values(0.01, 0, 6)},
        {"sample_weight": weights},
        {"clip_norm": 1e-3},
        {"clip_value": 1e-3},
        {"dropout": 0.5},
    ]:
        assert not np.array_equal(_epoch(**options), plain), options


def test_dropout_epoch_is_deterministic_and_depends_on_seed_and_first_step():
    a = _epoch(dropout=0.3, dropout_seed=1)
    assert _epoch(dropout=0.3, dropout_seed=1).tobytes() == a.tobytes()
    assert not np.array_equal(_epoch(dropout=0.3, dropout_seed=2), a)
    assert not np.array_equal(_epoch(dropout=0.3, dropout_seed=1, first_step=6), a)


def test_every_optimizer_trains():
    x, y, _ = _data()
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        model = MLP(SIZES, seed=3, dtype="float64")
        opt = optim.get_optimizer(
            name, **({"lr": 0.05, "momentum": 0.9} if name == "sgd" else {"lr": 0.01})
        )
        state = opt.init_state(len(model.params), model.params.dtype)
        before = reference.evaluate(model.weights, model.biases, x, y)[0]
        for _ in range(20):
            reference.train_epoch(
                model.weights,
                model.biases,
                x,
                y,
                np.arange(90),
                16,
                opt.lr,
                optimizer=opt,
                state=state,
            )
        assert reference.evaluate(model.weights, model.biases, x, y)[0] < 0.5 * before, name


def test_bad_epoch_options():
    x, y, order = _data()
    model = MLP(SIZES, seed=3)
    opt = optim.SGD(momentum=0.9)
    state = opt.init_state(len(model.params))
    with pytest.raises(ValueError, match="lr holds 5"):
        reference.train_epoch(
            model.weights, model.biases, x, y, order, 16, np.ones(5), optimizer=opt, state=state
        )
    with pytest.raises(TypeError, match="momentum"):
        reference.train_epoch(
            model.weights,
            model.biases,
            x,
            y,
            order,
            16,
            0.1,
            optimizer=opt,
            state=state,
            momentum=0.9,
        )
