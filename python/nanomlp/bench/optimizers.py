"""The benchmark's optimizer section: each optimizer's train-only epoch against plain SGD's,
``train --preset fast``'s time to 98% against PyTorch and the notebook's best recipe, and
``MLPClassifier`` against scikit-learn's."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Any, Callable

from .config import (
    NOTEBOOK_RECIPE,
    TARGETS,
    Log,
    OptimizerBenchConfig,
    Split,
    load_split,
    spread,
)
from .machine import machine_info
from .runners import (
    RecipeRunner,
    TorchRecipeRunner,
    fit_estimator,
    import_torch,
    optimizer_epoch,
)
from .timing import interleaved_ratios, load_average, paired_ratio, rotated


def import_sklearn(wanted: bool) -> str | None:
    """scikit-learn's version if wanted and importable, else None: it is optional."""
    if not wanted:
        return None
    try:
        import sklearn
    except ImportError:
        return None
    return str(sklearn.__version__)


def run_optimizers(config: OptimizerBenchConfig, log: Log | None = None) -> dict[str, Any]:
    """Run the three parts of the section and return its report (``write_optimizer_outputs``)."""
    config.validate()
    log = log or (lambda message: None)
    wall_start = time.perf_counter()
    torch = import_torch(config.use_torch)
    sklearn_version = import_sklearn(config.use_sklearn)
    split = load_split(config)

    report: dict[str, Any] = machine_info(torch)
    report["versions"]["scikit-learn"] = sklearn_version
    # On a shared machine the load says how much of the CPU the run had to itself.
    report["load_average"] = {"start": load_average()}
    notes = []
    if torch is None:
        notes.append("PyTorch was not importable (or --no-torch): no PyTorch recipe.")
    if sklearn_version is None:
        notes.append(
            "scikit-learn was not importable (or --no-sklearn): no MLPClassifier comparison."
        )
    report.update(
        {
            "config": asdict(config),
            "data": {"n_train": len(split.x_train), "n_test": len(split.x_test)},
            "targets": TARGETS,
            "notes": notes,
        }
    )
    report["epoch_ratios"] = epoch_ratios(config, split, log)
    report["time_to_accuracy"] = time_to_accuracy(config, split, torch, log)
    report["sklearn"] = sklearn_comparison(config, split, log) if sklearn_version else None
    report["load_average"]["end"] = load_average()
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report


def epoch_ratios(config: OptimizerBenchConfig, split: Split, log: Log) -> list[dict[str, Any]]:
    """Per batch size and thread count: each optimizer's train-only epoch, and its ratio to
    plain SGD's; the optimizers take turns within every repeat."""

    def epoch(name: str, data: Split, batch_size: int, threads: int) -> float:
        return optimizer_epoch(name, data, batch_size, threads, config)

    return interleaved_ratios(
        config.optimizers,
        "sgd",
        epoch,
        split,
        config,
        log,
        group="optimizers",
        checked=TARGETS["epoch_ratio_optimizers"],
        limit=TARGETS["epoch_ratio_max"],
    )


def time_to_accuracy(
    config: OptimizerBenchConfig, split: Split, torch: Any | None, log: Log
) -> dict[str, Any]:
    """``train --preset fast``, the same recipe in PyTorch and the notebook's best recipe,
    from each seed: training seconds (median of ``fit_repeats`` runs, the recipes taking
    turns) and test accuracy."""
    from ..cli._options import PRESETS

    preset = dict(PRESETS["fast"])
    runners: dict[str, Any] = {"preset_fast": RecipeRunner(preset, config)}
    if torch is not None:
        runners["torch_fast"] = TorchRecipeRunner(torch, preset, config)
    runners["notebook"] = RecipeRunner(NOTEBOOK_RECIPE, config)
    names = list(runners)
    runs: dict[str, dict[int, dict[str, list[float]]]] = {
        name: {seed: {"seconds": [], "test_acc": []} for seed in config.seeds} for name in names
    }
    torch_threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(config.fit_threads)
        warm = Split(split.x_train[:2048], split.y_train[:2048], split.x_test, split.y_test)
        for runner in runners.values():
            runner.run(warm, config.seeds[0])
        for seed in config.seeds:
            for repeat in range(config.fit_repeats):
                for name in rotated(names, repeat):
                    seconds, accuracy = runners[name].run(split, seed)
                    runs[name][seed]["seconds"].append(seconds)
                    runs[name][seed]["test_acc"].append(accuracy)
            log(
                f"seed {seed}: "
                + ", ".join(
                    f"{name} {statistics.median(runs[name][seed]['seconds']):.2f}s "
                    f"acc {statistics.median(runs[name][seed]['test_acc']):.4f}"
                    for name in names
                )
            )
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)

    recipes: dict[str, Any] = {}
    for name in names:
        per_seed = [
            {
                "seed": seed,
                **spread(runs[name][seed]["seconds"]),
                # Every run of a seed gives the same accuracy on a deterministic engine.
                "test_acc": statistics.median(runs[name][seed]["test_acc"]),
                "test_acc_runs": runs[name][seed]["test_acc"],
            }
            for seed in config.seeds
        ]
        recipes[name] = {
            "settings": preset if name != "notebook" else NOTEBOOK_RECIPE,
            "seeds": per_seed,
            "median_s": statistics.median(r["median_s"] for r in per_seed),
            "mean_test_acc": statistics.fmean(r["test_acc"] for r in per_seed),
            "median_test_acc": statistics.median(r["test_acc"] for r in per_seed),
        }

    def ratio(a: str, b: str) -> dict[str, Any]:
        per_seed = [
            x["median_s"] / y["median_s"] for x, y in zip(recipes[a]["seeds"], recipes[b]["seeds"])
        ]
        return {
            "median_s_ratio": recipes[a]["median_s"] / recipes[b]["median_s"],
            "per_seed": per_seed,
        }

    result: dict[str, Any] = {
        "threads": config.fit_threads,
        "seeds": list(config.seeds),
        "recipes": recipes,
        "preset_vs_notebook": ratio("preset_fast", "notebook"),
    }
    if "torch_fast" in recipes:
        result["torch_vs_preset"] = ratio("torch_fast", "preset_fast")
    result["targets_met"] = {
        "preset_vs_notebook": result["preset_vs_notebook"]["median_s_ratio"]
        <= TARGETS["preset_vs_notebook_max"],
        "preset_mean_accuracy": recipes["preset_fast"]["mean_test_acc"]
        >= TARGETS["preset_mean_accuracy_min"],
    }
    return result


def sklearn_comparison(config: OptimizerBenchConfig, split: Split, log: Log) -> dict[str, Any]:
    """``nanomlp.MLPClassifier`` and ``sklearn.neural_network.MLPClassifier``, both at their
    defaults but ``max_iter`` and ``random_state``, on ``fit_threads`` threads (the engine's
    and BLAS's): fit seconds (``fit_repeats`` fits each, taking turns) and test accuracy."""
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
    from threadpoolctl import threadpool_limits

    from ..estimator import MLPClassifier

    common = {"max_iter": config.sklearn_max_iter, "random_state": config.sklearn_random_state}
    makers: dict[str, Callable[[], Any]] = {
        "nanomlp": lambda: MLPClassifier(**common, threads=config.fit_threads),
        "sklearn": lambda: SklearnMLPClassifier(**common),
    }
    fits: dict[str, list[dict[str, Any]]] = {name: [] for name in makers}
    with threadpool_limits(limits=config.fit_threads):
        warm = Split(split.x_train[:1000], split.y_train[:1000], split.x_test, split.y_test)
        for make in makers.values():
            fit_estimator(make(), warm)
        for repeat in range(config.fit_repeats):
            for name in rotated(list(makers), repeat):
                fits[name].append(fit_estimator(makers[name](), split))
    estimators = {
        name: {
            **spread([f["seconds"] for f in runs]),
            "test_acc": statistics.median(f["test_acc"] for f in runs),
            "test_acc_runs": [f["test_acc"] for f in runs],
            "n_iter": runs[0]["n_iter"],
        }
        for name, runs in fits.items()
    }
    speedup = paired_ratio(
        [f["seconds"] for f in fits["sklearn"]], [f["seconds"] for f in fits["nanomlp"]]
    )
    gap = estimators["nanomlp"]["test_acc"] - estimators["sklearn"]["test_acc"]
    log(
        f"MLPClassifier: nanomlp {estimators['nanomlp']['median_s']:.2f}s acc "
        f"{estimators['nanomlp']['test_acc']:.4f}, scikit-learn "
        f"{estimators['sklearn']['median_s']:.2f}s acc {estimators['sklearn']['test_acc']:.4f}"
        f" ({speedup:.2f}x)"
    )
    return {
        "params": {**common, "threads": config.fit_threads},
        "estimators": estimators,
        "speedup": speedup,
        "accuracy_gap": gap,
        "targets_met": {
            "accuracy_gap": abs(gap) <= TARGETS["sklearn_accuracy_gap_max"],
            "speedup": speedup >= TARGETS["sklearn_speedup_min"],
        },
    }
