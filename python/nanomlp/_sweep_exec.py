"""Where a sweep's runs execute when not in this process: local worker processes, or a Dask
cluster. Both survive the loss of a worker: the runs it held are run again elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections import deque
from concurrent.futures import CancelledError
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable

Finished = Callable[[int, dict], None]
RunOne = Callable[[dict, Any, int], dict]

# How often one run may go down with its worker before the sweep gives up on it: a run that
# kills every process it lands on (a crash in the engine, memory) must not loop for ever.
LOST_RUN_LIMIT = 5


class WorkersLost(RuntimeError):
    """No worker to run on, or a run that takes down every worker it is given."""


# ----------------------------------------------------------------------------- local processes
def _serve(conn: Any, run_one: RunOne, data: Any, threads: int) -> None:
    """A worker process: run what arrives until told to stop or the sweep's end goes away."""
    # Ctrl-C reaches the whole process group; the sweep decides what stops, not each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the sweep's process is gone: nothing to report to
            return
        if task is None:
            return
        index, settings = task
        try:
            reply = (index, run_one(settings, data, threads), None)
        except Exception as err:
            reply = (index, None, err)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


class _Worker:
    def __init__(self, context: Any, run_one: RunOne, data: Any, threads: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, run_one, data, threads), daemon=True
        )
        self.process.start()
        child.close()
        self.index: int | None = None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def on_processes(
    run_one: RunOne,
    configs: dict[int, dict],
    data: Any,
    threads: int,
    jobs: int,
    finished: Finished,
) -> None:
    """Run ``configs`` (index: settings) on ``jobs`` worker processes; a worker that dies is
    replaced and the run it held is run again."""
    # spawn: the parent may hold threads (the engine's, a Dask client's) that fork would copy
    # mid-state; each worker receives the data once, when it starts.
    context = multiprocessing.get_context("spawn")
    todo = deque(configs)
    lost = dict.fromkeys(configs, 0)
    workers: list[_Worker] = []
    try:
        while todo or any(w.index is not None for w in workers):
            while todo and len(workers) < jobs:
                workers.append(_Worker(context, run_one, data, threads))
            for worker in workers:
                if worker.index is None and todo:
                    worker.index = todo.popleft()
                    try:
                        worker.conn.send((worker.index, configs[worker.index]))
                    except OSError:  # died before its first task: the sentinel tells below
                        pass
            busy = [w for w in workers if w.index is not None]
            wait_any([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                reply = _reply(worker)
                if reply is None and worker.process.is_alive():
                    continue  # still running
                index = worker.index
                worker.index = None
                if reply is not None:
                    _, record, error = reply
                    if error is not None:
                        raise error
                    finished(index, record)
                    continue
                workers.remove(worker)
                worker.stop()
                lost[index] += 1
                if lost[index] >= LOST_RUN_LIMIT:
                    raise WorkersLost(
                        f"run {index} ({configs[index]}) took down its worker process "
                        f"{lost[index]} times; giving up on it"
                    )
                todo.appendleft(index)
    finally:
        for worker in workers:
            worker.stop()


def _reply(worker: _Worker) -> tuple | None:
    """The worker's answer if one is waiting; None if it has none (yet, or ever: died)."""
    try:
        if worker.conn.poll():
            return worker.conn.recv()
    except (EOFError, OSError):
        pass
    return None


# ---------------------------------------------------------------------------------------- Dask
def on_dask(
    client: Any,
    run_one: RunOne,
    configs: dict[int, dict],
    data: Any,
    threads: int,
    finished: Finished,
    worker_wait: float,
) -> None:
    """Run ``configs`` on the cluster behind ``client``, the data sent to the cluster once. A run lost with a worker (while the data is scattered, while it runs, while its
    record comes back) is submitted again; with no worker for ``worker_wait`` seconds, fail."""
    try:
        from distributed import wait
    except ImportError as err:
        raise ImportError(
            'sweeps on Dask need it installed: pip install "nanomlp[distributed]"'
        ) from err

    shared = _scatter(client, data, worker_wait)

    def submit(index: int) -> Any:
        # pure=False: each run is its own task, even for equal settings.
        return client.submit(run_one, configs[index], shared, threads, pure=False)

    futures = {submit(i): i for i in configs}
    lost = dict.fromkeys(configs, 0)
    idle_since: float | None = None
    try:
        while futures:
            try:
                done = wait(list(futures), timeout=_DASK_POLL, return_when="FIRST_COMPLETED").done
            except _TIMEOUTS:
                done = set()
            except CancelledError:  # runs whose scattered data was lost: handled below
                done = {f for f in futures if f.done()}
            if not done:
                idle_since = _check_workers(client, idle_since, worker_wait)
                continue
            idle_since = None
            for future in done:
                index = futures.pop(future)
                record = _record(future)
                if record is not None:
                    finished(index, record)
                    continue
                lost[index] += 1
                if lost[index] >= LOST_RUN_LIMIT:
                    raise WorkersLost(
                        f"run {index} ({configs[index]}) was lost with a Dask worker "
                        f"{lost[index]} times; giving up on it"
                    )
                # The scattered data went down with its last holder: send it again.
                if shared.status != "finished" or future.status == "cancelled":
                    shared = _scatter(client, data, worker_wait)
                futures[submit(index)] = index
    finally:
        # Pending runs stop on Ctrl-C or an error; a scheduler already gone needs no telling.
        with contextlib.suppress(OSError, TimeoutError):
            client.cancel(list(futures) + [shared])


def _record(future: Any) -> dict | None:
    """The run's record; None if it was lost with a worker; the run's own error raised."""
    from distributed import KilledWorker

    if future.status == "error":
        error = future.exception()
        if isinstance(error, (KilledWorker, OSError)):
            return None
        future.result()  # raises the run's own error, with its traceback
    if future.status != "finished":  # cancelled: its scattered data was lost
        return None
    try:
        return future.result(timeout=_DASK_RESULT_SECONDS)
    except (OSError, CancelledError, *_TIMEOUTS):  # the worker died as its record was fetched
        return None


def _scatter(client: Any, data: Any, worker_wait: float) -> Any:
    """The data on the cluster, as one future: tried again while workers die under it."""
    deadline = time.monotonic() + worker_wait
    while True:
        try:
            client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 0.1))
        except _TIMEOUTS as err:
            raise WorkersLost(_no_worker(worker_wait)) from err
        try:
            # One future for the whole tuple (a bare tuple scatters as a tuple of futures).
            # hash=False: a fresh key each time, never one the scheduler is still releasing.
            # No broadcast: Dask's replication insists on a copy for every worker it counted
            # at the start, and retries one that died for ever; workers copy the data from each
            # other as their first run needs it, and a copy lost with every holder is sent again.
            return client.scatter([data], hash=False, timeout=worker_wait)[0]
        except (OSError, KeyError, ValueError, *_TIMEOUTS) as err:
            # A worker that died mid-scatter closes its stream (CommClosedError, an OSError),
            # or leaves the scheduler's list as it is sent to (KeyError) or as the copies are
            # counted (ValueError from replicate): again, with the workers left.
            if time.monotonic() >= deadline:
                raise WorkersLost(
                    f"could not send the data to the Dask workers within {worker_wait:g} s: {err}"
                ) from err
            time.sleep(_DASK_POLL / 4)


def _no_worker(worker_wait: float) -> str:
    return f"no Dask worker for {worker_wait:g} s: the sweep stops; its finished runs are kept"


def _check_workers(client: Any, idle_since: float | None, worker_wait: float) -> float | None:
    """Since when the cluster has had no worker (None: it has some); fail past the limit."""
    try:
        n_workers = len(client.nthreads())
    except OSError:
        n_workers = 0  # the scheduler itself is out of reach: no worker either
    if n_workers:
        return None
    now = time.monotonic()
    if idle_since is None:
        return now
    if now - idle_since > worker_wait:
        raise WorkersLost(_no_worker(worker_wait))
    return idle_since


# asyncio's TimeoutError is the builtin one only from Python 3.11 on.
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
# How often the sweep looks at the cluster while no run finishes, in seconds.
_DASK_POLL = 1.0
# A record still not fetched by then is treated as lost with its worker and run again.
_DASK_RESULT_SECONDS = 60
