"""``nanomlp sweep``: train every combination of settings, locally or on Dask, and compare."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .. import _defaults
from .. import sweep as sw
from . import _common as c
from . import _options as o
from . import _types as t

# The swept settings that appear in the records only when moved off their default.
_OPTIONAL_AXES = (
    "epochs",
    "hidden",
    "momentum",
    "weight_decay",
    "optimizer",
    "schedule",
    "dropout",
    "clip_norm",
)
# The optimizer's and the schedule's own settings: one value, for every run they apply to.
_SHARED = (
    "betas",
    "eps",
    "rmsprop_alpha",
    "warmup",
    "step_size",
    "milestones",
    "gamma",
    "min_lr",
    "max_lr",
    "pct_start",
    "clip_value",
)


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    sweep = commands.add_parser(
        "sweep",
        parents=parents,
        help="train every combination of settings, compare them",
        description="A grid search: every combination of the listed values, each run from the "
        "same seed, on MNIST or Fashion-MNIST. Prints one summary line per run in the notebook's "
        "format and writes results.csv, results.json and heatmap.png to --out, the results after "
        "every finished run: the same command again resumes, skipping the runs already there. "
        "Runs go to --jobs local processes, or to the Dask cluster at --scheduler.",
    )
    o.add_training_options(sweep, grid=True)
    c.add_data_options(sweep, min_val_size=1)
    sweep.add_argument(
        "--test-limit",
        type=t.int_at_least(1),
        default=None,
        metavar="N",
        help="use only the first N test images",
    )
    sweep.add_argument(
        "--jobs",
        type=t.int_at_least(1),
        default=1,
        help="local worker processes (default: %(default)s)",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:port)",
    )
    sweep.add_argument(
        "--worker-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="on Dask, how long to wait for a worker when none is left (default: %(default)s)",
    )
    c.add_output_options(sweep, quiet_help="no progress, only the summary")
    sweep.set_defaults(handler=run, command_parser=sweep)
    return sweep


def run(args: argparse.Namespace) -> int:
    c.use_agg()
    axes: dict[str, list[Any]] = {"lr": args.lr, "batch_size": args.batch_size}
    for name in _OPTIONAL_AXES:
        values = getattr(args, name)
        if list(values) != list(args.command_parser.get_default(name)):
            axes[name] = list(values)
    shared = {name: getattr(args, name) for name in _SHARED if getattr(args, name) is not None}
    configs = _configs(args, sw.grid(**axes), shared)
    if args.seed != _defaults.SEED:
        configs = [{**config, "seed": args.seed} for config in configs]

    fit, val, (x_test, y_test) = c.split_data(args)
    for config in configs:
        o.training_settings(
            args.command_parser,
            {"batch_size": sw.DEFAULTS["batch_size"], "epochs": sw.DEFAULTS["epochs"], **config},
            n_train=len(fit[0]),
            n_hidden=len(config.get("hidden", o.DEFAULT_HIDDEN)),
        )
    if args.test_limit is not None:
        x_test, y_test = x_test[: args.test_limit], y_test[: args.test_limit]
    data = (fit, val, (x_test, y_test))

    client = sw.connect(args.scheduler) if args.scheduler else None
    out = Path(args.out) if args.out else c.default_out()
    done: dict[int, dict[str, Any]] = {}
    start = time.perf_counter()
    about = {
        "argv": args.argv,
        "dataset": args.dataset,
        "jobs": args.jobs,
        "scheduler": args.scheduler,
    }
    with c.output_folder(out):
        try:
            sw.sweep(
                configs,
                data,
                jobs=args.jobs,
                client=client,
                threads=args.threads,
                on_record=done.__setitem__,
                progress=not args.quiet,
                out=out,
                worker_wait=args.worker_wait,
                about=about,
            )
        finally:
            # results.csv and results.json already hold every finished run, also when the
            # sweep is interrupted; the figure is drawn once, from what finished.
            records = [done[i] for i in sorted(done)]
            if records:
                _plot(out, records)
            if client is not None:
                client.close()
    seconds = time.perf_counter() - start
    c.echo("\nSummary of Hyperparameter Tuning:")
    for record in records:
        c.echo(sw.format_record(record))
    c.echo(
        f"Wall time: {seconds:.1f} s for {len(records)} runs "
        f"({'Dask at ' + args.scheduler if args.scheduler else f'--jobs {args.jobs}'})"
    )
    c.echo(f"Saved to {out}/: results.csv results.json heatmap.png")
    return 0


def _configs(
    args: argparse.Namespace, combos: list[dict[str, Any]], shared: dict[str, Any]
) -> list[dict[str, Any]]:
    """The runs of the grid: each with the shared settings its optimizer and schedule take,
    less the swept values they do not take (sgd's momentum in an adam run), duplicates
    dropped; a setting that no run takes is a usage error. A run without ``--lr`` gets its
    optimizer's default rate."""
    from .. import _recipe
    from ..optim import get_optimizer

    configs: list[dict[str, Any]] = []
    used: set[str] = set()
    refused: dict[str, str] = {}
    for combo in combos:
        config = {**combo, **{k: tuple(v) if isinstance(v, list) else v for k, v in shared.items()}}
        for name, why in _recipe.not_applicable(config):
            refused.setdefault(name, why)
            del config[name]
        used.update(config)
        if config.get("lr") is None:
            config["lr"] = get_optimizer(config.get("optimizer", "sgd")).lr
        if config not in configs:
            configs.append(config)
    for name, why in refused.items():
        if name not in used:
            args.command_parser.error(f"{o.option(name)} does not apply to any run: {why}")
    return configs


def _plot(out: Path, records: list[dict]) -> None:
    from .. import plotting

    # One cell per (lr, batch size): with other axes swept too, the cell shows their best run.
    best: dict[tuple, dict] = {}
    for record in records:
        key = (record["lr"], record["batch_size"])
        if key not in best or record["test_acc"] > best[key]["test_acc"]:
            best[key] = record
    c.save_figure(plotting.plot_sweep(list(best.values())), out / "heatmap.png")
