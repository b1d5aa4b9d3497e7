"""Dropout masks: the documented integer recipe, determinism whatever the batch, rate, independence."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import dropout, reference

M64 = (1 << 64) - 1


def py_fmix(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def py_splitmix64(seed: int, n: int) -> list[int]:
    """Vigna's SplitMix64, as usually written: the state advances by GAMMA before each output."""
    out, state = [], seed
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & M64
        out.append(py_fmix(state))
    return out


def py_absorb(key: int, value: int) -> int:
    return py_fmix((key + (value + 1) * 0x9E3779B97F4A7C15) & M64)


def py_mask_entry(seed, layer, step, row, unit, p) -> float:
    """The module docstring's recipe in Python integers and floats, one entry at a time."""
    bits = py_absorb(py_absorb(py_absorb(py_absorb(seed, layer), step), row), unit)
    u = np.float32(bits >> 40) * np.float32(2.0**-24)
    return 0.0 if u < np.float32(p) else float(np.float32(1) / np.float32(1 - p))


def test_absorb_is_splitmix64():
    assert py_splitmix64(0, 1) == [
        0xE220A8397B1DCDAF
    ]  # SplitMix64's published first output for seed 0
    for seed in (0, 1, 42, M64):
        stream = dropout.absorb(np.full(6, seed, dtype=np.uint64), np.arange(6))
        assert stream.tolist() == py_splitmix64(seed, 6)


def test_mask_follows_the_documented_recipe():
    rows = np.array([0, 7, 123456789, 2**40 + 3])
    for seed, step, layer, p in [(0, 0, 0, 0.5), (42, 1000, 2, 0.1), (2**63 + 5, 2**33, 7, 0.9)]:
        mask = dropout.dropout_mask(seed, step, rows, 9, p, layer)
        expected = [
            [py_mask_entry(seed, layer, step, int(r), u, p) for u in range(9)] for r in rows
        ]
        assert mask.dtype == np.float32 and mask.tolist() == expected


def test_same_mask_for_a_row_whatever_the_batch():
    rows = np.random.RandomState(0).permutation(1000)[:200]
    whole = dropout.dropout_mask(7, 3, rows, 50, 0.3, 1)
    perm = np.random.RandomState(1).permutation(200)
    assert np.array_equal(dropout.dropout_mask(7, 3, rows[perm], 50, 0.3, 1), whole[perm])
    halves = [dropout.dropout_mask(7, 3, part, 50, 0.3, 1) for part in (rows[:77], rows[77:])]
    assert np.array_equal(np.concatenate(halves), whole)
    assert np.array_equal(dropout.dropout_mask(7, 3, rows, 50, 0.3, 1), whole)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rate_and_values(p, dtype):
    mask = dropout.dropout_mask(11, 5, np.arange(2000), 500, p, 0, dtype)
    scale = dtype(1) / dtype(1 - p)
    assert mask.dtype == dtype and set(np.unique(mask).tolist()) == {0.0, float(scale)}
    sigma = np.sqrt(p * (1 - p) / mask.size)
    assert abs(np.mean(mask == 0) - p) < 5 * sigma
    assert abs(float(mask.mean(dtype=np.float64)) - 1.0) < 5 * sigma * float(scale)


def test_p_zero_keeps_everything():
    assert np.array_equal(
        dropout.dropout_mask(1, 2, np.arange(10), 4, 0.0, 0), np.ones((10, 4), np.float32)
    )


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a == 0) == (b == 0)))


def test_layer_step_row_seed_and_unit_give_independent_masks():
    """Changing any one counter gives a mask that agrees with the first as chance would:
    p² + (1-p)² of the entries (0.58 at p = 0.3), within 5 sigma."""
    p, rows, units = 0.3, np.arange(1000), 400
    base = dropout.dropout_mask(5, 10, rows, units, p, 0)
    chance = p * p + (1 - p) ** 2
    sigma = np.sqrt(chance * (1 - chance) / base.size)
    others = {
        "layer": dropout.dropout_mask(5, 10, rows, units, p, 1),
        "step": dropout.dropout_mask(5, 11, rows, units, p, 0),
        "row": dropout.dropout_mask(5, 10, rows + 1, units, p, 0),
        "seed": dropout.dropout_mask(6, 10, rows, units, p, 0),
        "unit": dropout.dropout_mask(5, 10, rows, units + 1, p, 0)[:, 1:],
        "layer/step swapped": dropout.dropout_mask(5, 0, rows, units, p, 10),
    }
    for name, other in others.items():
        assert abs(_agreement(base, other) - chance) < 5 * sigma, name
    # Neighbouring units and rows of one mask are uncorrelated too.
    assert abs(_agreement(base[:, :-1], base[:, 1:]) - chance) < 5 * sigma
    assert abs(_agreement(base[:-1], base[1:]) - chance) < 5 * sigma


def test_forward_and_backward_apply_the_masks():
    """Dropout in the reference equals the network with the dropped units' weights zeroed."""
    rng = np.random.RandomState(0)
    weights = [rng.randn(6, 5), rng.randn(5, 3)]
    biases = [rng.randn(5) * 0.1, np.zeros(3)]
    x, y = rng.rand(4, 6), np.array([0, 1, 2, 1])
    mask = np.array([[2.0, 0, 2, 2, 0]] * 4)  # the same units dropped in every row
    probs, inputs = reference.forward(weights, biases, x, [mask])
    dws, dbs = reference.backward(weights, inputs, probs, y, masks=[mask])
    keep = mask[0] > 0
    w2 = [weights[0], weights[1] * np.where(keep, 2.0, 0.0)[:, None]]
    probs2, inputs2 = reference.forward(w2, biases, x)
    dws2, dbs2 = reference.backward(w2, inputs2, probs2, y)
    np.testing.assert_allclose(probs, probs2, rtol=1e-14)
    np.testing.assert_allclose(dws[0], dws2[0], rtol=1e-12, atol=1e-15)
    assert not dws[0][:, ~keep].any() and not dbs[0][~keep].any()
    np.testing.assert_allclose(dbs[0], dbs2[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"p": 1.0}, ValueError, "p"),
        ({"p": -0.1}, ValueError, "p"),
        ({"p": float("nan")}, ValueError, "p"),
        ({"p": "0.5"}, TypeError, "p"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**64}, ValueError, "seed"),
        ({"step": 1.0}, TypeError, "step"),
        ({"layer": -2}, ValueError, "layer"),
        ({"n_units": -1}, ValueError, "n_units"),
        ({"row_ids": np.array([1.0, 2.0])}, TypeError, "row_ids"),
        ({"row_ids": np.array([3, -1])}, ValueError, "row_ids"),
        ({"row_ids": np.zeros((2, 2), int)}, TypeError, "row_ids"),
        ({"dtype": np.int32}, ValueError, "dtype"),
    ],
)
def test_bad_arguments(kwargs, error, name):
    args = {
        "seed": 0,
        "step": 0,
        "row_ids": np.arange(3),
        "n_units": 4,
        "p": 0.5,
        "layer": 0,
        **kwargs,
    }
    with pytest.raises(error, match=name):
        dropout.dropout_mask(**args)
