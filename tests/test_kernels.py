"""The engine's fast kernels against the naive reference, on every path this CPU runs.

Each output element of a fast product is one chain of fused multiply-adds over k in order, so
every SIMD path equals the fused reference bit for bit, on any thread count; the generic path
equals it too where the target has FMA, and the unfused reference (a multiply then an add per
term) elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import _core
from nanomlp.backends import resolve_threads
from nanomlp.model import MLP
from nanomlp.trainer import Trainer

testing = _core.testing
KERNELS = testing.available_kernels()
SIMD = [k for k in KERNELS if k != "generic"]
THREADS = (1, 2)
# (M, N, K) of the products: odd sizes around the register tiles, the MNIST layers, and 785.
SIZES = [
    (1, 1, 1),
    (7, 33, 785),
    (33, 785, 7),
    (785, 7, 33),
    (33, 33, 33),
    (32, 128, 784),
    (17, 10, 64),
    (256, 64, 128),
]
SHAPES = ("nn", "tn", "nt")
LAYERS = [784, 128, 64, 10]


def operands(shape: str, m: int, n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a_shape = (k, m) if shape == "tn" else (m, k)
    b_shape = (n, k) if shape == "nt" else (k, n)
    return (
        rng.standard_normal(a_shape, dtype=np.float32),
        rng.standard_normal(b_shape, dtype=np.float32),
    )


def fuses(kernel: str) -> bool:
    """Whether the path sums with fused multiply-adds (else a multiply, then an add)."""
    return kernel != "generic" or testing.generic_fuses


def test_the_best_paths_are_available() -> None:
    assert KERNELS[-1] == "generic"
    assert len(set(KERNELS)) == len(KERNELS)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_kernel_matches_reference(kernel: str, shape: str, size: tuple[int, int, int]) -> None:
    a, b = operands(shape, *size)
    c1 = testing.gemm(shape, a, b, kernel, threads=1)
    np.testing.assert_array_equal(c1, testing.reference_gemm(shape, a, b, fused=fuses(kernel)))
    for threads in THREADS[1:] + (3,):
        # Any thread count computes every element whole, in the same order.
        np.testing.assert_array_equal(testing.gemm(shape, a, b, kernel, threads=threads), c1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_paths_agree_bit_for_bit(shape: str, size: tuple[int, int, int]) -> None:
    a, b = operands(shape, *size, seed=1)
    results = {k: testing.gemm(shape, a, b, k) for k in KERNELS}
    for kernel in SIMD:
        np.testing.assert_array_equal(results[kernel], results[SIMD[0]])
    # The generic path fuses like the SIMD paths where the target has FMA, and otherwise
    # rounds each product and each sum as the reference does.
    if testing.generic_fuses:
        for kernel in SIMD:
            np.testing.assert_array_equal(results["generic"], results[kernel])
    else:
        np.testing.assert_array_equal(results["generic"], testing.reference_gemm(shape, a, b))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_rows_read_in_place_equal_rows_copied(kernel: str, shape: str) -> None:
    # The engine reads a batch where it lies, through pointers to the rows of the dataset.
    m, n, k = 33, 70, 785
    a, b = operands(shape, m, n, k, seed=5)
    idx = np.random.default_rng(6).permutation(len(a))[: len(a) - 3].astype(np.int64)
    if shape == "tn":
        b = b[: len(idx)].copy()
    for threads in THREADS:
        np.testing.assert_array_equal(
            testing.gemm(shape, a, b, kernel, threads, rows=idx),
            testing.gemm(shape, np.ascontiguousarray(a[idx]), b, kernel, threads),
        )


def test_the_engine_runs_the_best_path(monkeypatch) -> None:
    monkeypatch.delenv("NANOMLP_KERNEL", raising=False)
    assert _core.Network(LAYERS, 32).kernel == KERNELS[0]


def test_the_fused_and_unfused_references_differ_only_by_rounding() -> None:
    a, b = operands("nn", 33, 17, 129, seed=2)
    fused, unfused = (testing.reference_gemm("nn", a, b, fused=f) for f in (True, False))
    # Sums of k terms of size ~1 with float32 rounding at each step.
    tol = 4 * 129 * np.finfo(np.float32).eps * (1 + np.abs(unfused))
    assert np.all(np.abs(fused - unfused) <= tol)
    assert not np.array_equal(fused, unfused)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", THREADS)
def test_epilogues_round_as_separate_passes(kernel: str, threads: int) -> None:
    m, n, k = 37, 45, 70
    a, b = operands("nn", m, n, k, seed=3)
    rng = np.random.default_rng(4)
    bias = rng.standard_normal(n, dtype=np.float32)
    mask = np.maximum(rng.standard_normal((m, n), dtype=np.float32), 0)
    c = rng.standard_normal((m, n), dtype=np.float32)
    lr = 0.05
    plain = testing.gemm("nn", a, b, kernel, threads)
    np.testing.assert_array_equal(
        testing.gemm("nn", a, b, kernel, threads, bias=bias, relu=True),
        np.maximum(plain + bias, np.float32(0)),
    )
    np.testing.assert_array_equal(
        testing.gemm("nn", a, b, kernel, threads, bias=bias), plain + bias
    )
    np.testing.assert_array_equal(
        testing.gemm("nn", a, b, kernel, threads, mask=mask), np.where(mask > 0, plain, 0)
    )
    np.testing.assert_array_equal(
        testing.gemm("nn", a, b, kernel, threads, c=c, lr=lr), c - np.float32(lr) * plain
    )


def test_gemm_hook_refuses_bad_input() -> None:
    a, b = operands("nn", 3, 4, 5)
    with pytest.raises(ValueError, match="unknown kernel"):
        testing.gemm("nn", a, b, "sse9")
    with pytest.raises(ValueError, match="do not chain"):
        testing.gemm("nn", a, b.T.copy(), KERNELS[0])
    with pytest.raises(ValueError, match="shape"):
        testing.gemm("tt", a, b, KERNELS[0])


def _train(x: np.ndarray, y: np.ndarray, threads: int, batch_size: int) -> np.ndarray:
    model = MLP(LAYERS, seed=42, dtype="float32")
    net = _core.Network(LAYERS, batch_size, threads=threads)
    order = np.random.RandomState(0).permutation(len(x)).astype(np.int64)
    for _ in range(2):
        net.train_epoch(model.params, x, y, order, 0.05)
    return model.params


def _subset(mnist_subset) -> tuple[np.ndarray, np.ndarray]:
    x, y = mnist_subset
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int32)


@pytest.mark.parametrize("batch_size", [32, 256])
def test_trained_weights_do_not_depend_on_the_thread_count(mnist_subset, batch_size: int) -> None:
    x, y = _subset(mnist_subset)
    one = _train(x, y, 1, batch_size)
    np.testing.assert_array_equal(_train(x, y, 2, batch_size), one)
    np.testing.assert_array_equal(_train(x, y, 3, batch_size), one)


def test_trained_weights_do_not_depend_on_the_simd_path(mnist_subset, monkeypatch) -> None:
    x, y = _subset(mnist_subset)
    results = {}
    for kernel in KERNELS:
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)
        assert _core.Network(LAYERS, 32).kernel == kernel
        results[kernel] = _train(x, y, 2, 32)
    for kernel in SIMD:
        np.testing.assert_array_equal(results[kernel], results[SIMD[0]])
    if SIMD:
        np.testing.assert_allclose(results["generic"], results[SIMD[0]], rtol=0, atol=1e-4)


@pytest.mark.parametrize("threads", THREADS)
def test_fused_update_equals_gradients_then_sgd(mnist_subset, threads: int) -> None:
    x, y = _subset(mnist_subset)
    model = MLP(LAYERS, seed=1, dtype="float32")
    net = _core.Network(LAYERS, 64, threads=threads)
    order = np.arange(100, 164, dtype=np.int64)
    lr = 0.1
    grads, loss = net.gradients(model.params, x[order], y[order])
    assert np.isfinite(loss) and loss > 0
    expected = model.params - np.float32(lr) * grads
    params = model.params.copy()
    assert net.train_epoch(params, x, y, order, lr) == 1
    np.testing.assert_array_equal(params, expected)


def test_evaluation_does_not_depend_on_the_thread_count(mnist_subset) -> None:
    x, y = _subset(mnist_subset)
    model = MLP(LAYERS, seed=3, dtype="float32")
    one = _core.Network(LAYERS, 1, threads=1).evaluate(model.params, x, y, True)
    two = _core.Network(LAYERS, 1, threads=2).evaluate(model.params, x, y, True)
    assert one[0] == two[0] and one[1] == two[1]
    np.testing.assert_array_equal(one[2], two[2])


def test_network_refuses_bad_threads_and_kernels(monkeypatch) -> None:
    with pytest.raises(ValueError, match="threads"):
        _core.Network(LAYERS, 32, threads=0)
    monkeypatch.setenv("NANOMLP_KERNEL", "sse9")
    with pytest.raises(ValueError, match="NANOMLP_KERNEL"):
        _core.Network(LAYERS, 32)


def test_trainer_threads_default_and_override(monkeypatch) -> None:
    monkeypatch.delenv("NANOMLP_NUM_THREADS", raising=False)
    assert resolve_threads() >= 1
    assert resolve_threads(3) == 3
    monkeypatch.setenv("NANOMLP_NUM_THREADS", "2")
    assert resolve_threads() == 2
    assert Trainer(MLP(LAYERS), threads=1).threads == 1
    assert Trainer(MLP(LAYERS)).threads == 2
    monkeypatch.setenv("NANOMLP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="NANOMLP_NUM_THREADS"):
        Trainer(MLP(LAYERS))
    monkeypatch.setenv("NANOMLP_NUM_THREADS", "0")
    with pytest.raises(ValueError, match="NANOMLP_NUM_THREADS"):
        Trainer(MLP(LAYERS))
    with pytest.raises(ValueError, match="threads"):
        Trainer(MLP(LAYERS), threads=0)
    with pytest.raises(TypeError, match="threads"):
        Trainer(MLP(LAYERS), threads=1.5)
