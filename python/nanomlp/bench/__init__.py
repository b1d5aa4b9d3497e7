"""Speed of one training epoch: nanomlp's native engine vs the NumPy reference vs PyTorch.

The same 784-128-64-10 network, the same MNIST data, the same initial weights, the same
shuffle order and the same thread counts for every backend:

- native: ``Trainer(MLP(dtype="float32"), backend="native")``;
- numpy64: the NumPy reference in float64, the classic notebook's code path;
- numpy32: the NumPy reference in float32;
- torch: ``nn.Sequential`` of Linear/ReLU with ``optim.SGD`` and ``CrossEntropyLoss``
  (when PyTorch is importable).

Cases, each at every thread count: the notebook's epoch (train on 55,000 images, then a forward
pass over the 55,000 training and 5,000 validation images for the metrics) at each batch size,
training only (images/s) at each batch size, and inference (images/s). The machine's own peak
is measured in the same run: a float32 GEMM through NumPy. Before any timing, native and
reference must agree after one epoch on a subset, or the run stops.

Outputs (written atomically to ``--out``, default ``bench/results/``): ``bench_epoch.json``
(every timing plus the machine, versions, BLAS kernel and OpenBLAS environment),
``bench_epoch.md`` (the table) and ``bench_epoch.png`` (achieved GFLOP/s against the peak).

The fair command leaves OpenBLAS free to pick its own kernel::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE nanomlp bench

The optimizer section, ``nanomlp bench --optimizers``, on the notebook's split (the first
55,000 training images; the 10,000 test images):

- each optimizer's train-only epoch of the native engine (SGD with momentum, Adam, AdamW,
  RMSprop) as a ratio to plain SGD's, at batch 32 and 256, on 1 and 2 threads, the optimizers
  taking turns within each repeat;
- ``nanomlp train --preset fast``'s training time and test accuracy from seeds 0, 1 and 2,
  against the same recipe in PyTorch and the notebook's best recipe (lr 0.1, batch 32, 10
  epochs), on 2 threads;
- ``nanomlp.MLPClassifier`` against ``sklearn.neural_network.MLPClassifier``, both at their
  defaults but ``max_iter=10``: fit time and test accuracy, on 2 threads.

It writes ``bench_optimizers.json`` and ``bench_optimizers.md``.

The network sections: ``nanomlp bench --activations`` times each hidden activation's
train-only epoch (relu, tanh, sigmoid, gelu, gelu_tanh, leaky_relu) as a ratio to ReLU's, at
batch 32 and 256, on 1 and 2 threads, and writes ``bench_activations.json`` and ``.md``;
``nanomlp bench --regression`` compares ``nanomlp.MLPRegressor`` with scikit-learn's (test R²
on diabetes; fit time, test R² and epochs on 50,000 rows of ``make_friedman1``, on 2 threads)
and writes ``bench_regression.json`` and ``.md``.

The speed sections: ``nanomlp bench --latency`` times ``predict_proba`` per call at batch 1,
8 and 64 on 784-128-64-10 (``Trainer``, ``MLPClassifier``, scikit-learn's ``MLPClassifier``
and PyTorch under ``torch.inference_mode()``, all holding the same weights) and writes
``bench_latency.json`` and ``.md``; ``nanomlp bench --wide`` times training 784-1024-1024-10
at batch 128 (native, NumPy float32, PyTorch) against the peak and writes ``bench_wide.json``
and ``.md``.

Every peak is that of the engine's own instruction set: the GEMM runs in a fresh process,
with ``OPENBLAS_CORETYPE=Haswell`` (OpenBLAS's AVX2 kernel) when the engine runs its avx2
path on a CPU with AVX-512 (``NANOMLP_KERNEL=avx2``), since OpenBLAS reads the variable only
when it loads. The NumPy and PyTorch columns use the libraries as this process loaded them:
for a like-for-like AVX2 table, hold them to AVX2 for the whole run too (OpenBLAS, and
PyTorch's ATen, MKL and oneDNN kernels)::

    AVX2="NANOMLP_KERNEL=avx2 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2"
    AVX2="$AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"
    env -u OPENBLAS_L2_SIZE $AVX2 nanomlp bench --wide

Programmatic use: ``main(argv)`` is the command line; ``run_benchmark(BenchConfig(...))``
returns the report dict and ``write_outputs(report, out_dir)`` writes the three files;
``run_optimizers(OptimizerBenchConfig(...))`` and ``write_optimizer_outputs`` do the same for
the optimizer section, ``run_activations`` / ``write_activation_outputs`` and
``run_regression`` / ``write_regression_outputs`` for the network sections.

Modules: ``config`` (settings, FLOP accounting, data), ``machine`` (CPU, BLAS, GEMM peak),
``runners`` (the backends), ``run`` (parity and timings), ``timing`` (variants taking
turns, paired ratios, the load average), ``optimizers`` (the optimizer section's timings),
``networks`` (the activation and regression sections), ``latency`` and ``wide`` (the speed
sections), ``memory`` and ``peak`` (the peak-memory workload and the GEMM peak, each run in
its own process), ``report`` (Markdown and PNG), ``report_networks`` and ``report_speed``
(the other sections' Markdown), ``main`` (command line).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .main import build_parser as build_parser
from .main import main as main

# Where the other public names live, loaded on first use: ``python -m nanomlp.bench.memory``
# imports this package first, and the peak memory it measures should be the fit's, not the
# harness's.
_EXPORTS = {
    "BenchConfig": "config",
    "OptimizerBenchConfig": "config",
    "Split": "config",
    "load_split": "config",
    "epoch_orders": "config",
    "OPTIMIZER_OUTPUT_NAMES": "config",
    "OPTIMIZERS": "config",
    "TARGETS": "config",
    "ParityError": "config",
    "Data": "config",
    "load_data": "config",
    "flop_counts": "config",
    "epoch_flop": "config",
    "OUTPUT_NAMES": "config",
    "BACKENDS": "config",
    "BACKEND_LABELS": "config",
    "LAYER_SIZES": "config",
    "machine_info": "machine",
    "gemm_peak": "machine",
    "NanomlpRunner": "runners",
    "TorchRunner": "runners",
    "RecipeRunner": "runners",
    "TorchRecipeRunner": "runners",
    "optimizer_epoch": "runners",
    "fit_estimator": "runners",
    "run_optimizers": "optimizers",
    "epoch_ratios": "optimizers",
    "time_to_accuracy": "optimizers",
    "sklearn_comparison": "optimizers",
    "paired_ratio": "timing",
    "rotated": "timing",
    "interleaved_ratios": "timing",
    "ActivationBenchConfig": "config",
    "RegressionBenchConfig": "config",
    "ACTIVATION_OUTPUT_NAMES": "config",
    "REGRESSION_OUTPUT_NAMES": "config",
    "ACTIVATION_NAMES": "config",
    "activation_epoch": "runners",
    "run_activations": "networks",
    "run_regression": "networks",
    "friedman_split": "networks",
    "activations_markdown": "report_networks",
    "regression_markdown": "report_networks",
    "write_activation_outputs": "report_networks",
    "write_regression_outputs": "report_networks",
    "LatencyBenchConfig": "latency",
    "LATENCY_OUTPUT_NAMES": "latency",
    "LATENCY_TARGETS": "latency",
    "run_latency": "latency",
    "seconds_per_call": "latency",
    "WideBenchConfig": "wide",
    "WIDE_OUTPUT_NAMES": "wide",
    "WIDE_LAYER_SIZES": "wide",
    "run_wide": "wide",
    "engine_kernel": "machine",
    "path_peak": "machine",
    "latency_markdown": "report_speed",
    "wide_markdown": "report_speed",
    "write_latency_outputs": "report_speed",
    "write_wide_outputs": "report_speed",
    "run_benchmark": "run",
    "check_parity": "run",
    "max_weight_difference": "run",
    "fit_memory": "run",
    "ratios": "run",
    "paired_scaling": "run",
    "markdown": "report",
    "chart_png": "report",
    "write_outputs": "report",
    "optimizers_markdown": "report",
    "write_optimizer_outputs": "report",
}
__all__ = sorted(["main", "build_parser", *_EXPORTS])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
