"""Grid search over Trainer and MLP settings: in this process, in local worker processes, or
on a Dask cluster. Every run starts from the same seed, so a record does not
depend on where or in which order its run executed."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _defaults, _recipe
from . import _sweep_exec as _exec
from . import _sweep_store as _store
from ._checks import check_int
from ._core import __version__
from ._progress import StatusLine
from ._system import usable_cores
from .model import MLP
from .trainer import Trainer

__all__ = ["grid", "run", "sweep", "format_record", "connect"]

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

    Parameters
    ----------
    **axes : sequence
        One list of values per sweep setting (``lr``, ``batch_size``, ``epochs``, ``hidden``,
        ``seed``, ``optimizer``, ``schedule``, ``dropout``, ``clip_norm``, ...).

    Returns
    -------
    list of dict
        One settings dict per combination.

    Raises
    ------
    ValueError
        For an unknown setting.
    TypeError
        For values that are not a list (a string among them).

    Examples
    --------
    >>> from nanomlp.sweep import grid
    >>> grid(lr=[0.1, 0.01], batch_size=[32, 64])[1]
    {'lr': 0.1, 'batch_size': 64}
    >>> len(grid(lr=[0.1, 0.01, 0.001], batch_size=[32, 64, 128]))
    9
    """
    for name, values in axes.items():
        if name not in DEFAULTS:
            raise ValueError(f"unknown sweep setting {name!r}; known: {sorted(DEFAULTS)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"{name} must be a list of values, got {values!r}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def run(settings: dict[str, Any], data: Data, threads: int | None = 1) -> dict[str, Any]:
    """Train one configuration and return its record.

    Parameters
    ----------
    settings : dict
        One configuration, as ``grid`` makes them; the settings not given take the defaults.
    data : tuple
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.
    threads : int or None, default 1
        The engine's threads for this run.

    Returns
    -------
    dict
        The settings, the final ``train_*``, ``val_*`` and ``test_*`` metrics, the ``history``
        and the ``seconds`` the run took.

    Raises
    ------
    ValueError
        For an unknown setting, or one that does not apply (a schedule's setting without it).

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.sweep import format_record, run
    >>> x = np.random.default_rng(0).random((60, 4), dtype=np.float32)
    >>> y = (x[:, 0] > 0.5).astype(np.int64)
    >>> data = ((x[:40], y[:40]), (x[40:50], y[40:50]), (x[50:], y[50:]))
    >>> record = run({"lr": 0.1, "epochs": 2, "hidden": [8]}, data)
    >>> sorted(record["history"])
    ['train_acc', 'train_loss', 'val_acc', 'val_loss']
    """
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
    record.setdefault("seed", s["seed"])
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        record[key] = history[key][-1] if history.get(key) else float("nan")
    record.update(test_loss=test_loss, test_acc=test_acc, seconds=time.perf_counter() - start)
    record["history"] = {k: v for k, v in history.items() if k != "epoch_seconds"}
    return record


def format_record(record: dict[str, Any]) -> str:
    """The notebook's summary line of one record.

    Parameters
    ----------
    record : dict
        What ``run`` or ``sweep`` returns for one run.

    Returns
    -------
    str
        ``LR=0.1, Batch Size=32 → Test Acc: 0.9805, Test Loss: 0.0692``, with the other swept
        settings (and the seed, when it is not 42) after the batch size.

    Raises
    ------
    KeyError
        When the record lacks ``test_acc`` or ``test_loss``.

    Examples
    --------
    >>> from nanomlp.sweep import format_record
    >>> format_record({"lr": 0.1, "batch_size": 32, "test_acc": 0.9805, "test_loss": 0.0692})
    'LR=0.1, Batch Size=32 → Test Acc: 0.9805, Test Loss: 0.0692'
    """
    # The seed is in every record; the line names it only when it is not the usual one.
    others = [
        f"{k}={record[k]}"
        for k in record
        if k in DEFAULTS
        and k not in ("lr", "batch_size")
        and not (k == "seed" and record[k] == DEFAULTS["seed"])
    ]
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
    out: str | os.PathLike[str] | None = None,
    worker_wait: float = 600.0,
    about: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run every configuration; records come back in the order of ``configs``.

    A worker lost at any moment costs only the runs it held: they run again on the others; with
    no Dask worker for ``worker_wait`` seconds the sweep fails. Every run starts from its seed,
    so a record does not depend on where or in which order its run executed. On Ctrl-C, pending
    runs are cancelled and the finished ones have been seen, and saved, before
    ``KeyboardInterrupt`` propagates.

    Parameters
    ----------
    configs : sequence of dict
        The configurations, as ``grid`` makes them.
    data : tuple
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.
    jobs : int, default 1
        Local worker processes.
    client : dask.distributed.Client, optional
        Sends the runs to a Dask cluster instead, the data sent to the cluster once.
    threads : int, optional
        Engine threads per run (default: the cores divided among the local jobs; one per run on
        Dask).
    on_record : callable, optional
        ``on_record(index, record)`` sees each record as it finishes (reused ones included).
    progress : bool, default False
        Print a status line.
    out : str or os.PathLike, optional
        A folder where ``results.csv`` and ``results.json`` are rewritten (atomically) after
        every finished run; runs already recorded there with equal settings, data fingerprint
        and nanomlp version are not run again.
    worker_wait : float, default 600
        Seconds to wait for a Dask worker when none is left.
    about : dict, optional
        More fields for ``results.json``.

    Returns
    -------
    list of dict
        One record per configuration, as ``run`` makes them.

    Raises
    ------
    ValueError, TypeError
        For a bad configuration or argument.
    RuntimeError
        When a run takes down its worker five times, or no Dask worker comes back in time.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import sweep
    >>> x = np.random.default_rng(0).random((60, 4), dtype=np.float32)
    >>> y = (x[:, 0] > 0.5).astype(np.int64)
    >>> data = ((x[:40], y[:40]), (x[40:50], y[40:50]), (x[50:], y[50:]))
    >>> records = sweep.sweep(sweep.grid(lr=[0.1, 0.01], epochs=[2]), data, threads=1)
    >>> [(r["lr"], r["epochs"]) for r in records]
    [(0.1, 2), (0.01, 2)]
    """
    jobs = check_int(jobs, "jobs", 1)
    configs = list(configs)
    if threads is None:
        threads = 1 if client is not None else max(1, usable_cores() // jobs)
    threads = check_int(threads, "threads", 1)
    identity = {"data_fingerprint": _store.fingerprint(data), "nanomlp_version": __version__}
    records: list[dict[str, Any] | None] = [None] * len(configs)
    others: list[dict[str, Any]] = []
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        others = _reuse(Path(out), configs, identity, records)
    skipped = sum(r is not None for r in records)
    about = {**(about or {}), **identity, "runs_planned": len(configs)}
    status = StatusLine()

    def finished(index: int, record: dict[str, Any]) -> None:
        if records[index] is None:
            records[index] = _store.plain({**record, **identity}, list(DEFAULTS))
        if out is not None:
            done = [r for r in records if r is not None]
            _store.save(Path(out), done, others, about)
        if on_record is not None:
            on_record(index, records[index])
        if progress:
            done_n = sum(r is not None for r in records)
            text = f"[sweep] {done_n}/{len(configs)} runs"
            # Redrawn in place on a terminal; one line per run in a log.
            if done_n == len(configs) or not status.redraws():
                status.write(text)
            else:
                status.show(text)

    for index, record in enumerate(records):
        if record is not None and on_record is not None:
            on_record(index, record)
    if progress and skipped:
        status.write(f"[sweep] {skipped}/{len(configs)} runs already in {out}: skipped")
    todo = {i: c for i, c in enumerate(configs) if records[i] is None}
    if client is not None:
        _exec.on_dask(client, run, todo, data, threads, finished, worker_wait)
    elif jobs == 1 or len(todo) <= 1:
        for index, settings in todo.items():
            finished(index, run(settings, data, threads))
    else:
        _exec.on_processes(run, todo, data, threads, jobs, finished)
    return [r for r in records if r is not None]


def _reuse(
    out: Path, configs: list[dict[str, Any]], identity: dict[str, str], records: list
) -> list[dict[str, Any]]:
    """Fill ``records`` with what ``out`` already holds of these runs; return the records it
    holds of other runs (another grid, data or version), which stay in ``results.json``."""
    earlier = {_store.key(r, DEFAULTS): r for r in _store.load(out, DEFAULTS)}
    for index, settings in enumerate(configs):
        wanted = _store.key({**_store.plain(settings, list(DEFAULTS)), **identity}, DEFAULTS)
        records[index] = earlier.pop(wanted, None)
    return list(earlier.values())


def connect(address: str) -> Any:
    """A Dask client for the scheduler at ``address``.

    Parameters
    ----------
    address : str
        The scheduler's address, such as ``"tcp://scheduler:8786"``.

    Returns
    -------
    distributed.Client
        The client, for ``sweep(..., client=...)``.

    Raises
    ------
    ImportError
        Without Dask, saying how to install it (``pip install "nanomlp[distributed]"``).
    OSError
        When no scheduler answers at ``address`` (Dask's timeout).

    Examples
    --------
    >>> from distributed import LocalCluster
    >>> from nanomlp.sweep import connect
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
    ...     with connect(cluster.scheduler_address) as client:
    ...         print(len(client.scheduler_info()["workers"]))
    1
    """
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError(
            'sweeps on Dask need it installed: pip install "nanomlp[distributed]"'
        ) from err
    return Client(address)
