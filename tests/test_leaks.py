"""No leaks, no drift: many create-fit-predict-delete cycles leave memory, files and threads flat.

Resident memory is read from /proc/self/status after a warm-up (allocator pools, import-time
caches and NumPy's first calls settle in the first cycles); open files from /proc/self/fd;
threads from ``threading`` and from /proc/self/task, which also counts the engine's pool
threads (they must end when their Network is freed).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from nanomlp import MLP, Trainer, _core

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")

WARM_UP = 20
CYCLES = 200
RSS_SLACK_KB = 8 * 1024  # a few MB: allocator noise; leaking one model a cycle would be ~80 MB


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def snapshot() -> dict[str, int]:
    gc.collect()
    return {
        "rss_kb": rss_kb(),
        "fds": open_fds(),
        "threads": threading.active_count(),
        "tasks": os_threads(),
    }


def test_create_fit_predict_delete_cycles_stay_flat(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    path = tmp_path / "m.npz"
    seen = {}
    for cycle in range(1, CYCLES + 1):
        model = MLP((784, 128, 64, 10), seed=cycle)
        trainer = Trainer(model, lr=0.1, batch_size=16, epochs=1, threads=2, momentum=0.9)
        trainer.fit(x, y, validation_data=(x[:16], y[:16]))
        predicted = trainer.predict(x)
        model.save(path)
        loaded = MLP.load(path)
        assert predicted.shape == (64,)
        np.testing.assert_array_equal(loaded.params, model.params)
        del model, trainer, loaded, predicted
        if cycle in (WARM_UP, CYCLES):
            seen[cycle] = snapshot()
    first, last = seen[WARM_UP], seen[CYCLES]
    print(f"after {WARM_UP} cycles: {first}; after {CYCLES}: {last}")
    assert last["rss_kb"] - first["rss_kb"] < RSS_SLACK_KB, (first, last)
    assert last["fds"] == first["fds"]
    assert last["threads"] == first["threads"]
    assert last["tasks"] == first["tasks"]


def test_the_engines_threads_end_with_their_network():
    before = snapshot()
    nets = [_core.Network([8, 4, 2], 4, threads=4) for _ in range(5)]
    assert os_threads() == before["tasks"] + 5 * 3  # each pool: its caller plus three workers
    del nets
    after = snapshot()
    assert after["tasks"] == before["tasks"]
    for _ in range(100):
        _core.Network([8, 4, 2], 4, threads=3)
    assert snapshot()["tasks"] == before["tasks"]


def test_refused_calls_leak_nothing():
    """Errors raised at the boundary free what the call had built."""
    net = _core.Network([8, 4, 2], 4, threads=2)
    params = np.zeros(net.num_params, np.float32)
    x = np.zeros((32, 8), np.float32)
    bad_labels = np.full(32, 7, np.int32)
    order = np.arange(32, dtype=np.int64)
    for _ in range(WARM_UP):
        with pytest.raises(ValueError):
            net.train_epoch(params, x, bad_labels, order, 0.1)
    first = snapshot()
    for _ in range(2000):
        with pytest.raises(ValueError):
            net.train_epoch(params, x, bad_labels, order, 0.1)
        with pytest.raises(MemoryError):
            _core.Network([2**40, 2**40], 1)
        with pytest.raises(TypeError):
            net.evaluate(params.astype(np.float64), x)
    last = snapshot()
    assert last["rss_kb"] - first["rss_kb"] < RSS_SLACK_KB, (first, last)
    assert (last["fds"], last["tasks"]) == (first["fds"], first["tasks"])
