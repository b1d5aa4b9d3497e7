"""Sweeps survive what long sweeps meet: workers killed at any moment (while the data is
scattered, while they run, as they answer), no worker left, the sweep itself killed and run
again. Every surviving sweep gives the records of an uninterrupted, sequential one."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
import threading
import time

import distributed
import psutil
import pytest

from nanomlp import sweep as sw

GRID = sw.grid(lr=[0.1, 0.03, 0.01, 0.003], batch_size=[32, 64], epochs=[2, 3])


@pytest.fixture(scope="module")
def small_data(mnist):
    (x, y), (x_test, y_test) = mnist
    return (x[:600], y[:600]), (x[-200:], y[-200:]), (x_test[:200], y_test[:200])


@pytest.fixture(scope="module")
def sequential(small_data):
    return sw.sweep(GRID, small_data, threads=1)


def comparable(records):
    """Records without the seconds each run took, the one field that depends on the machine."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def table_rows(path):
    with open(path, encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def descendants():
    return psutil.Process().children(recursive=True)


def wait_gone(pids, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and not _zombie(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def _zombie(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def no_temporary_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


@pytest.fixture
def cluster(request, tmp_path):
    """A LocalCluster of nanny-restarted worker processes; on exit, no process of it is left."""
    n_workers = getattr(request, "param", 3)
    before = {p.pid for p in descendants()}
    local = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: 8787 may be another cluster's, and Dask warns
        local_directory=str(tmp_path / "dask"),
    )
    # A worker killed while it starts can leave the scheduler before the cluster object heard
    # it join; Dask's bookkeeping then fails on the unknown address (KeyError) and the cluster
    # cannot close. Such a worker has nothing to forget: its nanny replaces it.
    update = local._update_worker_status

    def tolerant_update(op, msg):
        if op == "remove" and msg not in local.scheduler_info["workers"]:
            return
        update(op, msg)

    local._update_worker_status = tolerant_update
    client = distributed.Client(local)
    try:
        yield local, client
        seen = {ws.pid for ws in list(local.scheduler.workers.values())}
    finally:
        client.close()
        local.close()
    # The stdlib's resource tracker serves every later process of this one: not the cluster's.
    left = [
        p
        for p in descendants()
        if p.pid not in before and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    alive = wait_gone([p.pid for p in left] + sorted(seen))
    assert alive == [], [psutil.Process(p).cmdline() for p in alive]


def worker_pids(local):
    return [ws.pid for ws in list(local.scheduler.workers.values())]


def kill_during_scatter(local, kills):
    """SIGKILL a worker once the scheduler has begun to scatter the sweep's data, before it
    can notice: its event loop, busy in the scatter, hears of the death only afterwards."""
    scatter = local.scheduler.handlers["scatter"]

    async def killing_scatter(*args, **kwargs):
        if not kills:
            pid = worker_pids(local)[0]
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)
            time.sleep(0.3)  # blocks the scheduler's loop: the worker is gone when it resumes
        return await scatter(*args, **kwargs)

    local.scheduler.handlers["scatter"] = killing_scatter


@pytest.mark.parametrize("cluster", [2], indirect=True)
def test_a_worker_killed_during_the_scatter_costs_nothing(cluster, small_data, sequential):
    local, client = cluster
    kills = []
    kill_during_scatter(local, kills)
    records = sw.sweep(GRID, small_data, client=client)
    assert len(kills) == 1
    assert comparable(records) == comparable(sequential)


def test_chaos_workers_killed_at_random_moments(cluster, small_data, sequential, tmp_path):
    local, client = cluster
    rng = random.Random(20240601)
    kills = []
    kill_during_scatter(local, kills)
    stop = threading.Event()

    def killer():
        # Then a random worker at random moments, until the sweep is over; each is replaced by
        # its nanny, so the sweep sees workers vanish and join throughout.
        while len(kills) < 5 and not stop.wait(rng.uniform(0.2, 1.2)):
            pids = worker_pids(local)
            if pids:
                pid = rng.choice(pids)
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except ProcessLookupError:  # died already, its nanny has not said so yet
                    pass

    def kill_as_runs_finish(index, record):
        # Timers alone can miss a sweep that a quiet machine finishes in a second or two:
        # after every fourth record, a worker dies too, so that some deaths fall mid-sweep.
        if index % 4 == 1 and len(kills) < 5:
            pids = worker_pids(local)
            if pids:
                pid = rng.choice(pids)
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except ProcessLookupError:
                    pass

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        records = sw.sweep(
            GRID, small_data, client=client, out=tmp_path / "out", on_record=kill_as_runs_finish
        )
    finally:
        stop.set()
        thread.join()
    assert len(kills) >= 3, f"only {len(kills)} kills: the sweep ended too soon to test much"
    assert comparable(records) == comparable(sequential)
    assert table_rows(tmp_path / "out" / "results.csv") == [
        {k: v for k, v in row.items() if k != "seconds"}
        for row in csv.DictReader(io.StringIO(_table(sequential)))
    ]
    assert no_temporary_files(tmp_path / "out") == []


def _table(records):
    from nanomlp import _sweep_store

    return _sweep_store.table(records)


@pytest.mark.parametrize("cluster", [1], indirect=True)
def test_no_worker_left_fails_in_one_line_and_keeps_the_finished_runs(
    cluster, small_data, tmp_path
):
    local, client = cluster

    def retire_all(index, record):
        if index == 0:
            client.retire_workers(close_workers=True, remove=True)
            local.scale(0)

    with pytest.raises(RuntimeError, match=r"^no Dask worker for 2 s: the sweep stops") as err:
        sw.sweep(
            GRID[:3], small_data, client=client, out=tmp_path, worker_wait=2, on_record=retire_all
        )
    assert "\n" not in str(err.value)
    assert len(table_rows(tmp_path / "results.csv")) >= 1


def test_a_local_worker_killed_mid_run_is_replaced(small_data, sequential):
    import multiprocessing

    kills = []

    def kill_one(index, record):
        if not kills:
            pid = multiprocessing.active_children()[0].pid
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)

    records = sw.sweep(GRID, small_data, jobs=2, threads=1, on_record=kill_one)
    assert len(kills) == 1
    assert comparable(records) == comparable(sequential)
    assert wait_gone(kills) == []


def test_a_resumed_sweep_runs_only_what_is_missing(small_data, sequential, tmp_path, monkeypatch):
    ran = []
    real_run = sw.run
    monkeypatch.setattr(sw, "run", lambda s, d, t=1: ran.append(s) or real_run(s, d, t))

    def interrupt_after_three(index, record):
        if index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sw.sweep(GRID, small_data, threads=1, out=tmp_path, on_record=interrupt_after_three)
    assert len(table_rows(tmp_path / "results.csv")) == 3
    ran.clear()
    records = sw.sweep(GRID, small_data, threads=1, out=tmp_path)
    assert ran == GRID[3:]
    assert comparable(records) == comparable(sequential)
    assert (tmp_path / "results.csv").read_text().count("\n") == len(GRID) + 1

    # A wider grid runs only its new runs; the table is that of the new grid.
    ran.clear()
    wider = sw.grid(lr=[0.1, 0.03, 0.01, 0.003], batch_size=[32, 64], epochs=[2, 3, 1])
    records = sw.sweep(wider, small_data, threads=1, out=tmp_path)
    assert ran == [c for c in wider if c["epochs"] == 1]
    assert len(records) == len(wider)

    # Other data: nothing recorded applies.
    ran.clear()
    (x, y), val, test = small_data
    sw.sweep(GRID[:2], ((x[:500], y[:500]), val, test), threads=1, out=tmp_path)
    assert ran == GRID[:2]
    assert no_temporary_files(tmp_path) == []


def _sweep_cli(mnist_dir, out, *extra):
    env = {**os.environ, "NANOMLP_DATA": str(mnist_dir)}
    argv = [sys.executable, "-m", "nanomlp", "sweep", "--limit", "900", "--val-size", "300"]
    argv += ["--test-limit", "300", "--out", str(out), "--lr", "0.1", "0.01", "0.001"]
    argv += ["--batch-size", "32", "64", "128", "--epochs", "3", *extra]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_cli_killed_mid_sweep_resumes_to_the_uninterrupted_table(mnist_dir, tmp_path):
    child = _sweep_cli(mnist_dir, tmp_path / "killed")
    try:
        while "[sweep] 5/9 runs" not in child.stderr.readline():
            assert child.poll() is None, "the sweep ended before it was killed"
        child.kill()
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    kept = table_rows(tmp_path / "killed" / "results.csv")
    assert len(kept) >= 5
    assert no_temporary_files(tmp_path / "killed") == []

    again = _sweep_cli(mnist_dir, tmp_path / "killed")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"[sweep] {len(kept)}/9 runs already in {tmp_path / 'killed'}: skipped" in err
    whole = _sweep_cli(mnist_dir, tmp_path / "whole")
    whole_out, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err
    assert table_rows(tmp_path / "killed" / "results.csv") == table_rows(
        tmp_path / "whole" / "results.csv"
    )
    assert [line for line in out.splitlines() if "→" in line] == [
        line for line in whole_out.splitlines() if "→" in line
    ]
