"""The wide-network section, ``nanomlp bench --wide``: training 784-1024-1024-10 (images/s,
GFLOP/s and the fraction of the peak of the engine's own instruction set), native against the
NumPy reference in float32 and PyTorch, with the epoch benchmark's protocol and runners."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from .config import BenchConfig, Log, flop_counts, load_data, timing_stats
from .machine import engine_kernel, machine_info, path_peak
from .run import paired_scaling, ratios, time_case
from .runners import NanomlpRunner, TorchRunner, import_torch
from .timing import library_threads, load_average

WIDE_OUTPUT_NAMES = {"json": "bench_wide.json", "markdown": "bench_wide.md"}
WIDE_LAYER_SIZES = (784, 1024, 1024, 10)
# The goals for this network: of the peak on one thread, and ahead of both others.
WIDE_TARGETS = {"of_peak_min_1_thread": 0.85, "ahead_of": ("numpy32", "torch")}


@dataclass
class WideBenchConfig(BenchConfig):
    """The epoch benchmark's settings with the wide network's defaults: batch 128 and the
    first 10,000 training images (a 95-GFLOP epoch; 55,000 would take minutes per cell in
    NumPy)."""

    batch_sizes: tuple[int, ...] = (128,)
    n_train: int | None = 10_000
    n_val: int | None = 100  # unused by the train case; load_data wants some
    layer_sizes: tuple[int, ...] = WIDE_LAYER_SIZES

    @classmethod
    def quick_config(cls, **overrides: Any) -> WideBenchConfig:
        """A smoke run: 500 images, one repeat, a smaller GEMM."""
        values: dict[str, Any] = dict(repeats=1, n_train=500, gemm_size=512, quick=True)
        values.update(overrides)
        return cls(**values)


def run_wide(config: WideBenchConfig, log: Log | None = None) -> dict[str, Any]:
    """The train case on the wide network for every batch size and thread count, and each
    thread count's GEMM peak on the engine's path; returns the report (``write_wide_outputs``)."""
    config.validate()
    log = log or (lambda message: None)
    wall_start = time.perf_counter()
    torch = import_torch(config.use_torch)
    data = load_data(config)
    n_train = len(data.x_train)
    flop = n_train * flop_counts(config.layer_sizes)["train_step_per_image"]
    runners: dict[str, Any] = {name: NanomlpRunner(name, config) for name in ("native", "numpy32")}
    if torch is not None:
        runners["torch"] = TorchRunner(torch, config)
    report: dict[str, Any] = machine_info(torch)
    report["versions"]["scikit-learn"] = "not used"
    kernel = engine_kernel()
    report["engine_kernel"] = kernel
    report["load_average"] = {"start": load_average()}
    notes = [] if torch is not None else ["PyTorch was not importable (or --no-torch)."]
    report.update(
        {
            "config": asdict(config),
            "data": {"n_train": n_train},
            "flops": {"train_epoch": flop, **flop_counts(config.layer_sizes)},
            "backends": list(runners),
            "targets": WIDE_TARGETS,
            "notes": notes,
        }
    )
    for runner in runners.values():  # warm-up: first calls, thread pools, allocations
        runner.trained_weights(data.x_train[:256], data.y_train[:256], 32, 1)
    report["peak"] = {}
    for threads in config.threads:
        peak = path_peak(config.gemm_size, threads, config.repeats, kernel)
        report["peak"][str(threads)] = peak
        log(f"peak ({kernel} path), {threads} thread(s): {peak['gflops_median']:.1f} GFLOP/s")
    results = []
    for threads in config.threads:
        with library_threads(torch, threads):
            for batch_size in config.batch_sizes:
                timed = time_case(
                    list(runners.values()), "train", batch_size, threads, data, config.repeats
                )
                for name, record in timed.items():
                    stats = timing_stats(record["seconds"], flop)
                    results.append(
                        {
                            "case": "train",
                            "batch_size": batch_size,
                            "threads": threads,
                            "backend": name,
                            "images": n_train,
                            "flop": flop,
                            "images_per_s_median": n_train / stats["median_s"],
                            **stats,
                        }
                    )
                log(
                    f"wide train batch {batch_size} threads {threads}: "
                    + ", ".join(
                        f"{n} {statistics.median(r['seconds']):.3f}s" for n, r in timed.items()
                    )
                )
    report["results"] = results
    report["ratios"] = ratios(results, report["peak"])
    report["thread_scaling"] = paired_scaling(
        runners["native"],
        [("train", b) for b in config.batch_sizes],
        config.threads,
        data,
        config.repeats,
    )
    report["load_average"]["end"] = load_average()
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report
