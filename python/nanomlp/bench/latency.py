"""The latency section, ``nanomlp bench --latency``: microseconds per ``predict_proba`` call
at small batches, nanomlp's two calls against scikit-learn's and PyTorch's, all holding the
same weights and given the same MNIST test rows."""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .. import _checks, _defaults
from ..datasets import load_mnist
from ..model import MLP
from ..trainer import Trainer
from .config import LAYER_SIZES, Log, ParityError, check_grid
from .machine import engine_kernel, machine_info
from .optimizers import import_sklearn
from .runners import import_torch, torch_network
from .timing import library_threads, load_average, paired_ratio, rotated

LATENCY_OUTPUT_NAMES = {"json": "bench_latency.json", "markdown": "bench_latency.md"}
LATENCY_LABELS = {
    "trainer": "`Trainer.predict_proba`",
    "estimator": "`MLPClassifier.predict_proba`",
    "sklearn": "scikit-learn",
    "torch": "PyTorch",
}
# The goals: µs per call by batch size, and scikit-learn's time over nanomlp's at one row.
LATENCY_TARGETS = {"max_us": {"1": 10.0, "8": 15.0}, "sklearn_ratio_min": 20.0}
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class LatencyBenchConfig:
    """What the latency section runs: each call timed ``repeats`` times per batch size and
    thread count (the calls taking turns), each time over as many calls as fill
    ``min_seconds``."""

    data: str | None = None  # MNIST folder or mnist.npz; None reads $NANOMLP_DATA
    repeats: int = 5
    batch_sizes: tuple[int, ...] = (1, 8, 64)
    threads: tuple[int, ...] = (1, 2)
    min_seconds: float = 0.2
    seed: int = _defaults.SEED  # the weights every implementation holds
    # The brief fit that makes both estimators fitted (MNIST's first 100 rows hold every digit).
    fit_rows: int = 1000
    use_torch: bool = True
    use_sklearn: bool = True
    parity_tol: float = 1e-5
    quick: bool = False
    layer_sizes: tuple[int, ...] = field(default=LAYER_SIZES)

    @classmethod
    def quick_config(cls, **overrides: Any) -> LatencyBenchConfig:
        """A smoke run: one repeat of 10 ms per cell."""
        values: dict[str, Any] = dict(repeats=1, min_seconds=0.01, fit_rows=200, quick=True)
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        """Raise ``ValueError`` or ``TypeError`` naming the first bad setting."""
        check_grid(self)
        _checks.check_positive_float(self.min_seconds, "min_seconds")
        _checks.check_positive_float(self.parity_tol, "parity_tol")
        _checks.check_int(self.fit_rows, "fit_rows", 100)


def seconds_per_call(predict: Predict, x: np.ndarray, min_seconds: float) -> float:
    """Seconds per ``predict(x)``: calls in a loop, as many as fill ``min_seconds``, the
    count grown from what the previous loop took."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            predict(x)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls
        calls = max(2 * calls, int(calls * 1.2 * min_seconds / max(elapsed, 1e-9)))


def predictors(
    config: LatencyBenchConfig,
    threads: int,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    torch: Any | None,
    sklearn: bool,
) -> dict[str, Predict]:
    """Every implementation's ``predict_proba`` on ``threads`` threads, all holding the
    weights of ``MLP(layer_sizes, seed)``; the estimators fitted for one epoch first."""
    model = MLP(config.layer_sizes, seed=config.seed, dtype="float32")
    calls: dict[str, Predict] = {"trainer": Trainer(model, threads=threads).predict_proba}
    if sklearn:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

        from ..estimator import MLPClassifier

        hidden = tuple(config.layer_sizes[1:-1])
        ours = MLPClassifier(hidden_layer_sizes=hidden, max_iter=1, random_state=0, threads=threads)
        theirs = SklearnMLPClassifier(hidden_layer_sizes=hidden, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(x_fit, y_fit)
            theirs.fit(x_fit, y_fit)
        ours.model_.params[...] = model.params
        theirs.coefs_ = [np.array(w) for w in model.weights]
        theirs.intercepts_ = [np.array(b) for b in model.biases]
        calls["estimator"] = ours.predict_proba
        calls["sklearn"] = theirs.predict_proba
    if torch is not None:
        net, _ = torch_network(torch, config.layer_sizes, config.seed)
        net.eval()

        def torch_proba(x: np.ndarray) -> np.ndarray:
            # NumPy in and out, as the others: the conversions are part of a call.
            with torch.inference_mode():
                return torch.softmax(net(torch.from_numpy(x)), dim=1).numpy()

        calls["torch"] = torch_proba
    return calls


def _agreement(calls: dict[str, Predict], x: np.ndarray, tol: float) -> dict[str, float]:
    """Each call's largest difference from ``Trainer.predict_proba`` on ``x``; a larger one
    than ``tol`` stops the run: the calls would not be doing the same work."""
    expected = np.asarray(calls["trainer"](x), np.float64)
    diffs = {}
    for name, predict in calls.items():
        diffs[name] = float(np.max(np.abs(np.asarray(predict(x), np.float64) - expected)))
        if not diffs[name] <= tol:
            raise ParityError(
                f"{name} predict_proba differs from Trainer's by {diffs[name]:.3g} > {tol:g}"
            )
    return diffs


def run_latency(config: LatencyBenchConfig, log: Log | None = None) -> dict[str, Any]:
    """Per thread count and batch size, µs per call of every implementation and the ratios
    to nanomlp's; returns the report (``write_latency_outputs``)."""
    config.validate()
    log = log or (lambda message: None)
    wall_start = time.perf_counter()
    torch = import_torch(config.use_torch)
    sklearn_version = import_sklearn(config.use_sklearn)
    (x, y), (x_test, _) = load_mnist(config.data)
    x_fit = np.ascontiguousarray(x[: config.fit_rows], dtype=np.float32)
    y_fit = np.asarray(y[: config.fit_rows])
    report: dict[str, Any] = machine_info(torch)
    report["versions"]["scikit-learn"] = sklearn_version
    report["engine_kernel"] = engine_kernel()
    report["load_average"] = {"start": load_average()}
    notes = []
    if torch is None:
        notes.append("PyTorch was not importable (or --no-torch): no PyTorch column.")
    if sklearn_version is None:
        notes.append("scikit-learn was not importable (or --no-sklearn): no estimator columns.")
    report.update({"config": asdict(config), "targets": LATENCY_TARGETS, "notes": notes})
    rows, agreement = [], {}
    for threads in config.threads:
        with library_threads(torch, threads):
            calls = predictors(config, threads, x_fit, y_fit, torch, sklearn_version is not None)
            check_rows = np.ascontiguousarray(x_test[: max(config.batch_sizes)], np.float32)
            agreement[str(threads)] = _agreement(calls, check_rows, config.parity_tol)
            for batch_size in config.batch_sizes:
                rows.append(_time_batch(calls, x_test, batch_size, threads, config, log))
    report["agreement"] = agreement
    report["results"] = rows
    report["load_average"]["end"] = load_average()
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report


def _time_batch(
    calls: dict[str, Predict],
    x_test: np.ndarray,
    batch_size: int,
    threads: int,
    config: LatencyBenchConfig,
    log: Log,
) -> dict[str, Any]:
    """One row of the report: every call timed on the first ``batch_size`` test rows."""
    x = np.ascontiguousarray(x_test[:batch_size], dtype=np.float32)
    names = list(calls)
    for name in names:  # first calls: allocations, caches
        seconds_per_call(calls[name], x, config.min_seconds / 10)
    us: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(config.repeats):
        for name in rotated(names, repeat):
            us[name].append(1e6 * seconds_per_call(calls[name], x, config.min_seconds))
    timed = {
        name: {"us": v, "median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)}
        for name, v in us.items()
    }
    ratios = {
        f"{slow}_to_{fast}": paired_ratio(us[slow], us[fast])
        for slow, fast in (("sklearn", "trainer"), ("sklearn", "estimator"), ("torch", "trainer"))
        if slow in us and fast in us
    }
    limit = LATENCY_TARGETS["max_us"].get(str(batch_size))
    targets: dict[str, bool] = {}
    for name in ("trainer", "estimator"):
        if limit is not None and name in timed:
            targets[f"{name}_us"] = timed[name]["median_us"] <= limit
        if batch_size == 1 and f"sklearn_to_{name}" in ratios:
            ratio = ratios[f"sklearn_to_{name}"]
            targets[f"sklearn_to_{name}"] = ratio >= LATENCY_TARGETS["sklearn_ratio_min"]
    log(
        f"latency batch {batch_size:>2} threads {threads}: "
        + ", ".join(f"{name} {t['median_us']:.1f} us" for name, t in timed.items())
    )
    return {
        "batch_size": batch_size,
        "threads": threads,
        "calls": timed,
        "ratios": ratios,
        "targets_met": targets,
    }
