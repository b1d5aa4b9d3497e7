"""Momentum, Nesterov and weight decay: native against the reference, and against PyTorch's rule."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, Trainer, reference

CASES = [
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 1e-3},
    {"momentum": 0.5, "nesterov": True, "weight_decay": 5e-4},
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("ref_dtype", ["float32", "float64"])
def test_native_matches_reference(mnist_subset, options, ref_dtype):
    """Two epochs (the velocity carried across them), same tolerance as plain SGD's epoch parity
    (1e-5: rounding differences of sums, see test_parity)."""
    x, y = mnist_subset
    models = [MLP((784, 64, 32, 10), seed=42), MLP((784, 64, 32, 10), seed=42, dtype=ref_dtype)]
    trainers = [
        Trainer(m, lr=0.01, batch_size=32, epochs=2, backend=b, **options)
        for m, b in zip(models, ("native", "numpy"))
    ]
    for trainer in trainers:
        trainer.fit(x, y)
    native, ref = (m.params for m in models)
    np.testing.assert_allclose(native, ref, rtol=0, atol=2e-5)
    assert not np.array_equal(native, MLP((784, 64, 32, 10), seed=42).params)
    if "momentum" in options:
        np.testing.assert_allclose(
            trainers[0].model.optimizer_state["momentum_buffer"],
            trainers[1].model.optimizer_state["momentum_buffer"],
            rtol=0,
            atol=2e-4,
        )


def test_rule_is_pytorchs_sgd():
    """One parameter by hand: torch.optim.SGD's update, written out."""
    w, g, v = (np.array([0.5], np.float64) for _ in range(3))
    w[:], g[:], v[:] = 0.5, 0.2, 0.1
    reference.sgd_step(
        [w.reshape(1, 1)],
        [np.zeros(1)],
        [g.reshape(1, 1)],
        [np.zeros(1)],
        lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=0.01,
        velocities=[v.reshape(1, 1), np.zeros(1)],
    )
    g_decayed = 0.2 + 0.01 * 0.5
    buf = 0.9 * 0.1 + g_decayed
    assert v[0] == pytest.approx(buf)
    assert w[0] == pytest.approx(0.5 - 0.1 * (g_decayed + 0.9 * buf))


def test_defaults_are_plain_sgd_bit_for_bit(mnist_subset):
    x, y = mnist_subset
    a, b = MLP((784, 32, 10), seed=1), MLP((784, 32, 10), seed=1)
    Trainer(a, epochs=1).fit(x, y)
    Trainer(b, epochs=1, momentum=0.0, nesterov=False, weight_decay=0.0).fit(x, y)
    assert a.params.tobytes() == b.params.tobytes()


def test_momentum_state_carries_over_between_fits(mnist_subset):
    x, y = mnist_subset
    a, b = MLP((784, 32, 10), seed=1), MLP((784, 32, 10), seed=1)
    Trainer(a, epochs=2, momentum=0.9).fit(x, y)
    tb = Trainer(b, epochs=2, momentum=0.9)
    tb.fit(x, y, epochs=1)
    tb.fit(x, y, epochs=2, initial_epoch=1)
    assert a.params.tobytes() == b.params.tobytes()


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"momentum": -0.1}, ValueError, "momentum"),
        ({"momentum": "0.9"}, TypeError, "momentum"),
        ({"nesterov": True}, ValueError, "nesterov"),
        ({"nesterov": 1, "momentum": 0.9}, TypeError, "nesterov"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay"),
        ({"weight_decay": float("nan")}, ValueError, "weight_decay"),
    ],
)
def test_bad_optimizer_settings(kwargs, error, name):
    with pytest.raises(error, match=name):
        Trainer(MLP((784, 8, 10)), **kwargs)


def _momentum_run(x, y, monkeypatch, kernel: str, threads: int) -> bytes:
    monkeypatch.setenv("NANOMLP_KERNEL", kernel)
    model = MLP((784, 64, 32, 10), seed=5)
    Trainer(model, epochs=1, momentum=0.9, nesterov=True, weight_decay=1e-4, threads=threads).fit(
        x, y
    )
    return model.params.tobytes()


@pytest.mark.parametrize("kernel", ["avx512", "avx2", "generic"])
def test_momentum_is_bit_identical_for_any_thread_count(mnist_subset, monkeypatch, kernel):
    from nanomlp import _core

    if kernel not in _core.testing.available_kernels():
        pytest.skip(f"this CPU cannot run the {kernel} kernels")
    x, y = mnist_subset
    assert _momentum_run(x, y, monkeypatch, kernel, 1) == _momentum_run(
        x, y, monkeypatch, kernel, 2
    )


def test_momentum_is_bit_identical_across_simd_kernels(mnist_subset, monkeypatch):
    from nanomlp import _core

    simd = [k for k in ("avx512", "avx2") if k in _core.testing.available_kernels()]
    if len(simd) < 2:
        pytest.skip("this CPU runs fewer than two SIMD kernel paths")
    x, y = mnist_subset
    assert len({_momentum_run(x, y, monkeypatch, k, 2) for k in simd}) == 1
