"""Sweeps give the same records wherever and in whatever order their runs execute."""

from __future__ import annotations

import os
import signal
import threading

import distributed
import numpy as np
import pytest

from nanomlp import sweep as sw

SEED_GRID = sw.grid(lr=[0.1, 0.01, 0.001], batch_size=[32, 64, 128])


@pytest.fixture(scope="module")
def small_data(mnist):
    (x, y), (x_test, y_test) = mnist
    return (x[:400], y[:400]), (x[-200:], y[-200:]), (x_test[:200], y_test[:200])


def comparable(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.fixture(scope="module")
def sequential(small_data):
    return sw.sweep(SEED_GRID, small_data, jobs=1, threads=1)


def test_grid_is_the_seeds_order():
    assert [(c["lr"], c["batch_size"]) for c in SEED_GRID] == [
        (lr, bs) for lr in (0.1, 0.01, 0.001) for bs in (32, 64, 128)
    ]
    with pytest.raises(ValueError, match="unknown sweep setting 'learning_rate'"):
        sw.grid(learning_rate=[0.1])


def test_records_hold_settings_metrics_and_history(sequential):
    assert len(sequential) == 9
    first = sequential[0]
    assert (first["lr"], first["batch_size"]) == (0.1, 32)
    for key in ("train_loss", "val_loss", "test_loss", "test_acc", "seconds"):
        assert np.isfinite(first[key])
    assert len(first["history"]["train_loss"]) == sw.DEFAULTS["epochs"]
    line = sw.format_record(first)
    assert line.startswith("LR=0.1, Batch Size=32 → Test Acc: ")
    # A larger learning rate learns faster on this budget: the sweep measures something real.
    by_lr = {r["lr"]: r["test_acc"] for r in sequential if r["batch_size"] == 32}
    assert by_lr[0.1] > by_lr[0.001]


def test_two_local_jobs_give_identical_records(small_data, sequential):
    assert comparable(sw.sweep(SEED_GRID, small_data, jobs=2)) == comparable(sequential)


@pytest.fixture(scope="module")
def dask_client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_cluster_gives_identical_records(dask_client, small_data, sequential):
    assert comparable(sw.sweep(SEED_GRID, small_data, client=dask_client)) == comparable(sequential)


def test_a_worker_killed_mid_sweep_loses_no_run(dask_client, small_data, sequential):
    pids = list(dask_client.run(os.getpid).values())
    killed = threading.Event()

    def kill_one_worker(index, record):
        if not killed.is_set():
            killed.set()
            os.kill(pids[0], signal.SIGKILL)

    records = sw.sweep(SEED_GRID, small_data, client=dask_client, on_record=kill_one_worker)
    assert killed.is_set()
    assert comparable(records) == comparable(sequential)


def _sweep_cli(mnist_dir, out, *extra):
    import subprocess
    import sys

    env = {**os.environ, "NANOMLP_DATA": str(mnist_dir)}
    argv = [
        sys.executable,
        "-m",
        "nanomlp",
        "sweep",
        "--limit",
        "900",
        "--val-size",
        "300",
        "--test-limit",
        "300",
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_cli_reproduces_the_seeds_grid_format(mnist_dir, tmp_path):
    import csv
    import json

    child = _sweep_cli(
        mnist_dir,
        tmp_path / "out",
        "--lr",
        "0.1",
        "0.01",
        "0.001",
        "--batch-size",
        "32",
        "64",
        "128",
        "--epochs",
        "2",
        "--jobs",
        "2",
    )
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    lines = [line for line in out.splitlines() if "→" in line]
    assert len(lines) == 9
    assert lines[0].startswith("LR=0.1, Batch Size=32, epochs=2 → Test Acc: ")
    with open(tmp_path / "out" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["lr"], r["batch_size"]) for r in rows] == [
        (lr, bs) for lr in ("0.1", "0.01", "0.001") for bs in ("32", "64", "128")
    ]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["runs_finished"] == 9 and len(report["records"][0]["history"]["val_acc"]) == 2
    assert (tmp_path / "out" / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_ctrl_c_keeps_the_finished_runs(mnist_dir, tmp_path):
    import csv

    child = _sweep_cli(
        mnist_dir,
        tmp_path / "out",
        "--lr",
        "0.1",
        "0.05",
        "0.01",
        "0.005",
        "0.001",
        "--batch-size",
        "8",
        "16",
        "--epochs",
        "20",
    )
    try:
        while "[sweep] 2/10 runs" not in child.stderr.readline():
            assert child.poll() is None, "the sweep ended before it was interrupted"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    with open(tmp_path / "out" / "results.csv") as f:
        finished = list(csv.DictReader(f))
    assert 2 <= len(finished) < 10
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in finished)
