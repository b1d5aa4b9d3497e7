"""The benchmark's network sections: each hidden activation's train-only epoch against ReLU's
(``--activations``), and ``MLPRegressor`` against scikit-learn's (``--regression``)."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Any, Callable

from .. import _checks
from ..datasets import load_mnist
from .config import (
    ACTIVATION_TARGETS,
    DIABETES_PARAMS,
    N_VALIDATION,
    REGRESSION_TARGETS,
    ActivationBenchConfig,
    Log,
    RegressionBenchConfig,
    Split,
    spread,
)
from .machine import machine_info
from .optimizers import import_sklearn
from .runners import activation_epoch, fit_estimator
from .timing import interleaved_ratios, load_average, paired_ratio, rotated


def load_train(config: ActivationBenchConfig) -> Split:
    """The first 55,000 MNIST training images (or ``n_train``), validated once; no test rows."""
    (x, y), _ = load_mnist(config.data)
    n_train = len(x) - N_VALIDATION if config.n_train is None else config.n_train
    x_fit = _checks.check_features(x[:n_train], config.layer_sizes[0], "x_train")
    y_fit = _checks.check_labels(y[:n_train], len(x_fit), config.layer_sizes[-1], "y_train")
    return Split(x_fit, y_fit, x_fit[:0], y_fit[:0])


def run_activations(config: ActivationBenchConfig, log: Log | None = None) -> dict[str, Any]:
    """Per batch size and thread count, each activation's train-only epoch and its ratio to
    ReLU's; returns the report (``write_activation_outputs``)."""
    config.validate()
    log = log or (lambda message: None)
    wall_start = time.perf_counter()
    split = load_train(config)
    report: dict[str, Any] = machine_info(None)
    report["versions"].update({"torch": "not used", "scikit-learn": "not used"})
    report["load_average"] = {"start": load_average()}
    report.update(
        {
            "config": asdict(config),
            "data": {"n_train": len(split.x_train)},
            "targets": ACTIVATION_TARGETS,
            "notes": [],
        }
    )

    def epoch(name: str, data: Split, batch_size: int, threads: int) -> float:
        return activation_epoch(name, data, batch_size, threads, config)

    report["epoch_ratios"] = interleaved_ratios(
        config.activations,
        "relu",
        epoch,
        split,
        config,
        log,
        group="activations",
        checked=ACTIVATION_TARGETS["epoch_ratio_activations"],
        limit=ACTIVATION_TARGETS["epoch_ratio_max"],
    )
    report["load_average"]["end"] = load_average()
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report


def run_regression(config: RegressionBenchConfig, log: Log | None = None) -> dict[str, Any]:
    """``nanomlp.MLPRegressor`` against scikit-learn's on diabetes and ``make_friedman1``;
    returns the report (``write_regression_outputs``). Needs scikit-learn."""
    config.validate()
    log = log or (lambda message: None)
    sklearn_version = import_sklearn(True)
    if sklearn_version is None:
        raise ImportError("the regression section needs scikit-learn: pip install scikit-learn")
    from threadpoolctl import threadpool_limits

    wall_start = time.perf_counter()
    report: dict[str, Any] = machine_info(None)
    report["versions"].update({"torch": "not used", "scikit-learn": sklearn_version})
    report["load_average"] = {"start": load_average()}
    report.update({"config": asdict(config), "targets": REGRESSION_TARGETS, "notes": []})
    # BLAS (scikit-learn's matrix products) gets the threads nanomlp's engine gets.
    with threadpool_limits(limits=config.fit_threads):
        report["diabetes"] = diabetes_comparison(config, log)
        report["friedman"] = friedman_comparison(config, log)
    report["load_average"]["end"] = load_average()
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report


def _makers(params: dict[str, Any], threads: int) -> dict[str, Callable[..., Any]]:
    """Both libraries' estimators with ``params``, by name; called with ``random_state``."""
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

    from ..estimator import MLPRegressor

    return {
        "nanomlp": lambda **extra: MLPRegressor(**params, **extra, threads=threads),
        "sklearn": lambda **extra: SklearnMLPRegressor(**params, **extra),
    }


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def diabetes_comparison(config: RegressionBenchConfig, log: Log) -> list[dict[str, Any]]:
    """Per setting of ``DIABETES_PARAMS``: each library's test R² from every seed and their
    mean, on the same split (``nanomlp.datasets.load_diabetes``, the progression over 100)."""
    from ..datasets import load_diabetes

    (x, y), (x_test, y_test) = load_diabetes()
    split = Split(x, y / 100, x_test, y_test / 100)
    rows = []
    for params in DIABETES_PARAMS:
        makers = _makers(params, config.fit_threads)
        scores: dict[str, list[float]] = {name: [] for name in makers}
        for i, seed in enumerate(config.seeds):
            for name in rotated(list(makers), i):
                fit = fit_estimator(makers[name](random_state=seed), split)
                scores[name].append(fit["score"])
        means = {name: statistics.fmean(s) for name, s in scores.items()}
        gap = means["nanomlp"] - means["sklearn"]
        rows.append(
            {
                "params": _jsonable(params),
                "r2": scores,
                "mean_r2": means,
                "r2_gap": gap,
                "target_met": abs(gap) <= REGRESSION_TARGETS["r2_gap_max"],
            }
        )
        log(
            f"diabetes {params.get('solver', 'adam')}: R² nanomlp {means['nanomlp']:.4f}, "
            f"scikit-learn {means['sklearn']:.4f}"
        )
    return rows


def friedman_split(config: RegressionBenchConfig) -> Split:
    """``make_friedman1(friedman_rows, noise, random_state=0)`` split ``1 - test_size`` /
    ``test_size`` (shuffled by ``random_state`` 0), as float64 arrays both libraries take."""
    from sklearn.datasets import make_friedman1
    from sklearn.model_selection import train_test_split

    x, y = make_friedman1(
        n_samples=config.friedman_rows, noise=config.friedman_noise, random_state=0
    )
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=config.test_size, random_state=0
    )
    return Split(x_train, y_train, x_test, y_test)


def friedman_comparison(config: RegressionBenchConfig, log: Log) -> dict[str, Any]:
    """Fit time, test R² and epochs of both libraries on ``make_friedman1``: with
    ``max_iter`` epochs (``n_iter_no_change`` as large, so both run them all), then at both
    estimators' defaults (but ``hidden_layer_sizes`` and ``random_state``)."""
    split = friedman_split(config)
    common = {
        "hidden_layer_sizes": tuple(config.hidden_layer_sizes),
        "random_state": config.random_state,
    }
    settings = {
        "max_iter": {**common, "max_iter": config.max_iter, "n_iter_no_change": config.max_iter},
        "defaults": common,
    }
    warm = Split(split.x_train[:1000], split.y_train[:1000], split.x_test, split.y_test)
    rows = {}
    for label, params in settings.items():
        makers = _makers(params, config.fit_threads)
        for make in makers.values():
            fit_estimator(make(), warm)
        fits: dict[str, list[dict[str, Any]]] = {name: [] for name in makers}
        for repeat in range(config.fit_repeats):
            for name in rotated(list(makers), repeat):
                fits[name].append(fit_estimator(makers[name](), split))
        estimators = {
            name: {
                **spread([f["seconds"] for f in runs]),
                "r2": statistics.median(f["score"] for f in runs),
                "r2_runs": [f["score"] for f in runs],
                "n_iter": runs[0]["n_iter"],
            }
            for name, runs in fits.items()
        }
        speedup = paired_ratio(
            [f["seconds"] for f in fits["sklearn"]], [f["seconds"] for f in fits["nanomlp"]]
        )
        gap = estimators["nanomlp"]["r2"] - estimators["sklearn"]["r2"]
        rows[label] = {
            "params": _jsonable(params),
            "estimators": estimators,
            "speedup": speedup,
            "r2_gap": gap,
            "targets_met": {
                "r2_gap": abs(gap) <= REGRESSION_TARGETS["r2_gap_max"],
                "speedup": speedup >= REGRESSION_TARGETS["friedman_speedup_min"],
            },
        }
        log(
            f"friedman {label}: nanomlp {estimators['nanomlp']['median_s']:.2f}s R² "
            f"{estimators['nanomlp']['r2']:.4f} ({estimators['nanomlp']['n_iter']} epochs), "
            f"scikit-learn {estimators['sklearn']['median_s']:.2f}s R² "
            f"{estimators['sklearn']['r2']:.4f} ({estimators['sklearn']['n_iter']} epochs), "
            f"{speedup:.2f}x"
        )
    return {
        "n_train": len(split.x_train),
        "n_test": len(split.x_test),
        "threads": config.fit_threads,
        "settings": rows,
    }
