"""Grid search over Trainer and MLP settings: in this process, in a local process pool
(joblib), or on a Dask cluster. Every run starts from the same seed, so a record does not
depend on where or in which order its run executed."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable

import numpy as np

from . import _defaults, _recipe
from ._checks import check_int
from ._progress import StatusLine
from ._system import usable_cores
from .model import MLP
from .trainer import Trainer

# The settings a run understands, with the classic notebook's defaults. None: the library's
# default. ``lr``, ``momentum``, ``nesterov`` and ``weight_decay`` are SGD's defaults; the
# other optimizers take their own (Adam's lr 1e-3, AdamW's weight decay 1e-2) unless given.
# The optimizer's and the schedule's settings are those of the command line (see
# ``nanomlp train --help``): a run refuses one its optimizer or schedule does not take.
DEFAULTS: dict[str, Any] = {
    "hidden": tuple(_defaults.LAYER_SIZES[1:-1]),
    "lr": _defaults.LR,
    "batch_size": _defaults.BATCH_SIZE,
    "epochs": _defaults.EPOCHS,
    "momentum": 0.0,
    "nesterov": False,
    "weight_decay": 0.0,
    "seed": _defaults.SEED,
    "backend": "native",
    "optimizer": "sgd",
    "betas": None,
    "eps": None,
    "rmsprop_alpha": None,
    "schedule": "constant",
    "warmup": None,
    "step_size": None,
    "gamma": None,
    "milestones": None,
    "max_lr": None,
    "min_lr": None,
    "pct_start": None,
    "dropout": 0.0,
    "clip_norm": None,
    "clip_value": None,
}
# The data of a sweep: (x_train, y_train), (x_val, y_val), (x_test, y_test).
Data = tuple[
    tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values, the first axis varying slowest.

    >>> grid(lr=[0.1, 0.01], batch_size=[32, 64])[1]
    {'lr': 0.1, 'batch_size': 64}
    """
    for name, values in axes.items():
        if name not in DEFAULTS:
            raise ValueError(f"unknown sweep setting {name!r}; known: {sorted(DEFAULTS)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"{name} must be a list of values, got {values!r}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def run(settings: dict[str, Any], data: Data, threads: int | None = 1) -> dict[str, Any]:
    """Train one configuration; its record holds the settings, the final metrics, the history
    and the seconds it took."""
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown sweep settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **settings}
    for name, why in _recipe.not_applicable(settings):
        raise ValueError(f"{name}={settings[name]!r} does not apply: {why}")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    n_classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    start = time.perf_counter()
    model = MLP((x_train.shape[1], *s["hidden"], n_classes), seed=s["seed"], dropout=s["dropout"])
    optimizer = _recipe.make_optimizer(settings)
    steps_per_epoch = -(-len(x_train) // s["batch_size"])
    trainer = Trainer(
        model,
        batch_size=s["batch_size"],
        epochs=s["epochs"],
        optimizer=optimizer,
        lr_schedule=_recipe.make_schedule(settings, steps_per_epoch, s["epochs"], optimizer.lr),
        clip_norm=s["clip_norm"],
        clip_value=s["clip_value"],
        backend=s["backend"],
        threads=threads,
    )
    history = trainer.fit(x_train, y_train, validation_data=(x_val, y_val)).history
    test_loss, test_acc = trainer.evaluate(x_test, y_test)
    record: dict[str, Any] = dict(settings)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        record[key] = history[key][-1] if history.get(key) else float("nan")
    record.update(test_loss=test_loss, test_acc=test_acc, seconds=time.perf_counter() - start)
    record["history"] = {k: v for k, v in history.items() if k != "epoch_seconds"}
    return record


def format_record(record: dict[str, Any]) -> str:
    """The notebook's summary line: ``LR=0.1, Batch Size=32 → Test Acc: 0.9805, Test Loss: 0.0692``."""
    others = [f"{k}={record[k]}" for k in record if k in DEFAULTS and k not in ("lr", "batch_size")]
    head = ", ".join(
        [
            f"LR={record.get('lr', DEFAULTS['lr'])}",
            f"Batch Size={record.get('batch_size', DEFAULTS['batch_size'])}",
        ]
        + others
    )
    return f"{head} → Test Acc: {record['test_acc']:.4f}, Test Loss: {record['test_loss']:.4f}"


def sweep(
    configs: Sequence[dict[str, Any]],
    data: Data,
    jobs: int = 1,
    client: Any = None,
    threads: int | None = None,
    on_record: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run every configuration; records come back in the order of ``configs``.

    ``jobs`` runs that many local worker processes (joblib); ``client`` (a
    ``dask.distributed.Client``) sends the runs to a Dask cluster instead, the data scattered
    to the workers once. Each run gets ``threads`` engine threads, by default the cores
    divided among the local jobs (one per run on Dask). ``on_record(index, record)`` sees each
    record as it finishes: on Ctrl-C, pending runs are cancelled and the finished ones have
    been seen there before ``KeyboardInterrupt`` propagates.
    """
    jobs = check_int(jobs, "jobs", 1)
    configs = list(configs)
    if threads is None:
        threads = 1 if client is not None else max(1, usable_cores() // jobs)
    threads = check_int(threads, "threads", 1)
    records: list[dict[str, Any] | None] = [None] * len(configs)
    status = StatusLine()

    def finished(index: int, record: dict[str, Any]) -> None:
        records[index] = record
        if on_record is not None:
            on_record(index, record)
        if progress:
            done = sum(r is not None for r in records)
            text = f"[sweep] {done}/{len(configs)} runs"
            # Redrawn in place on a terminal; one line per run in a log.
            if done == len(configs) or not status.redraws():
                status.write(text)
            else:
                status.show(text)

    if client is not None:
        _on_dask(client, configs, data, threads, finished)
    elif jobs == 1:
        for index, settings in enumerate(configs):
            finished(index, run(settings, data, threads))
    else:
        from joblib import Parallel, delayed

        # Runs come back as they finish; joblib memory-maps the large arrays for the workers.
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        tasks = (delayed(_indexed_run)(i, s, data, threads) for i, s in enumerate(configs))
        for index, record in parallel(tasks):
            finished(index, record)
    return [r for r in records if r is not None]


def _indexed_run(
    index: int, settings: dict[str, Any], data: Data, threads: int
) -> tuple[int, dict]:
    return index, run(settings, data, threads)


def _on_dask(
    client: Any, configs: list[dict], data: Data, threads: int, finished: Callable
) -> None:
    try:
        from distributed import as_completed
    except ImportError as err:
        raise ImportError(
            'sweeps on Dask need it installed: pip install "nanomlp[distributed]"'
        ) from err

    # Shipped once, not once per run; one future for the whole tuple (a bare tuple would
    # scatter as a tuple of futures). hash=False: a fresh key each time, never one the
    # scheduler is still releasing from an earlier sweep of the same data or a lost worker.
    def scatter() -> Any:
        return client.scatter([data], broadcast=True, hash=False, timeout=_DASK_SCATTER_SECONDS)[0]

    shared = scatter()

    def submit(index: int) -> Any:
        # pure=False: each run is its own task, even for equal settings; retries cover a run
        # that raised on a worker, and the scheduler reruns the tasks of a worker that died.
        return client.submit(
            _indexed_run, index, configs[index], shared, threads, pure=False, retries=3
        )

    futures = {submit(i): (i, shared) for i in range(len(configs))}
    attempts = dict.fromkeys(range(len(configs)), 1)
    pending = as_completed(list(futures))
    try:
        for future in pending:
            index, used = futures.pop(future)
            if future.status == "finished":
                finished(*future.result())
                continue
            # A run whose scattered data went down with a worker is cancelled ("lost
            # dependencies") rather than rerun: scatter afresh, once per loss, and resubmit it,
            # a bounded number of times.
            if attempts[index] >= _DASK_ATTEMPTS:
                future.result()  # raises the run's own error
            attempts[index] += 1
            if used is shared:
                shared = scatter()
            retry = submit(index)
            futures[retry] = (index, shared)
            pending.add(retry)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


# How often a run is submitted to Dask before its failure is final.
_DASK_ATTEMPTS = 3
# A scatter that has not reached the workers by then fails instead of waiting for ever.
_DASK_SCATTER_SECONDS = 120


def connect(address: str) -> Any:
    """A Dask client for the scheduler at ``address``, or an error that says how to install Dask."""
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError(
            'sweeps on Dask need it installed: pip install "nanomlp[distributed]"'
        ) from err
    return Client(address)
