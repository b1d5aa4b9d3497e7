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

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_epoch.py

Programmatic use: ``main(argv)`` is the command line; ``run_benchmark(BenchConfig(...))``
returns the report dict and ``write_outputs(report, out_dir)`` writes the three files.
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import io
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import nanomlp
from nanomlp import _checks
from nanomlp._io import atomic_write
from nanomlp.datasets import DatasetError, load_mnist

DEFAULT_OUT = Path("bench") / "results"
LAYER_SIZES = (784, 128, 64, 10)
# The notebook validates on the last 5,000 training images and trains on the rest.
N_VALIDATION = 5000
BACKENDS = ("native", "numpy64", "numpy32", "torch")
BACKEND_LABELS = {
    "native": "native f32",
    "numpy64": "NumPy f64",
    "numpy32": "NumPy f32",
    "torch": "PyTorch f32",
}
# Rows per forward pass at inference, the reference's chunk, so every backend sees the same.
INFERENCE_CHUNK = 4096
OUTPUT_NAMES = {"json": "bench_epoch.json", "markdown": "bench_epoch.md", "chart": "bench_epoch.png"}

Log = Callable[[str], None]


class ParityError(RuntimeError):
    """The native engine and the float32 reference disagree: the timings would mean nothing."""


@dataclass
class BenchConfig:
    """What to run; the defaults are the full benchmark."""

    data: str | None = None  # MNIST folder or mnist.npz; None reads $NANOMLP_DATA
    repeats: int = 5
    batch_sizes: tuple[int, ...] = (32, 128, 256)
    threads: tuple[int, ...] = (1, 2)
    lr: float = 0.01
    seed: int = 42
    n_train: int | None = None  # None: all 55,000 training images of the notebook's split
    n_val: int | None = None  # None: all 5,000 validation images
    parity_rows: int = 2000
    parity_tol: float = 1e-5
    gemm_size: int = 2048
    use_torch: bool = True
    quick: bool = False
    layer_sizes: tuple[int, ...] = field(default=LAYER_SIZES)

    @classmethod
    def quick_config(cls, **overrides: Any) -> "BenchConfig":
        """A smoke run: small subsets, one repeat, a smaller GEMM."""
        values: dict[str, Any] = dict(
            repeats=1, n_train=2000, n_val=500, parity_rows=500, gemm_size=512, quick=True
        )
        values.update(overrides)
        return cls(**values)

    def validate(self) -> None:
        _checks.check_int(self.repeats, "repeats", 1)
        for b in self.batch_sizes:
            _checks.check_int(b, "batch_sizes", 1)
        for t in self.threads:
            _checks.check_int(t, "threads", 1)
        if not self.batch_sizes or not self.threads:
            raise ValueError("batch_sizes and threads must each name at least one value")
        _checks.check_positive_float(self.lr, "lr")
        _checks.check_positive_float(self.parity_tol, "parity_tol")
        _checks.check_int(self.parity_rows, "parity_rows", 1)
        _checks.check_int(self.gemm_size, "gemm_size", 1)
        for name in ("n_train", "n_val"):
            if getattr(self, name) is not None:
                _checks.check_int(getattr(self, name), name, 1)


# ---------------------------------------------------------------------------------------------
# FLOP accounting

def flop_counts(layer_sizes: Sequence[int]) -> dict[str, int]:
    """Multiply-adds (2 FLOP each) of the dense layers per image; element-wise work is ignored.

    Forward: x·W for every layer. Training step: the forward, dW = Aᵀ·dZ for every layer, and
    dA = dZ·Wᵀ for every layer but the first (nobody needs the gradient of the input).
    """
    products = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    forward = 2 * sum(products)
    backward = 2 * sum(products) + 2 * sum(products[1:])
    return {"forward_per_image": forward, "train_step_per_image": forward + backward}


def epoch_flop(flops: dict[str, int], n_train: int, n_val: int) -> int:
    """The notebook's epoch: a training step per training image, a forward pass per image."""
    return n_train * flops["train_step_per_image"] + (n_train + n_val) * flops["forward_per_image"]


# ---------------------------------------------------------------------------------------------
# Machine description

def _cpuinfo() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu_model": None, "flags": []}
    cores: set[tuple[str, str]] = set()
    physical = core = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return {"cpu_model": platform.processor() or platform.machine(), "flags": []}
    for line in lines:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and info["cpu_model"] is None:
            info["cpu_model"] = value
        elif key == "flags" and not info["flags"]:
            wanted = ("avx", "avx2", "fma", "avx512f", "avx512vl", "avx512_bf16", "amx_tile")
            info["flags"] = [flag for flag in value.split() if flag in wanted]
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not line.strip() and physical is not None and core is not None:
            cores.add((physical, core))
            physical = core = None
    if physical is not None and core is not None:
        cores.add((physical, core))
    if cores:
        info["physical_cores"] = len(cores)
    return info


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def machine_info(torch_module: Any | None) -> dict[str, Any]:
    """CPU, versions, the BLAS libraries loaded (with OpenBLAS's kernel) and the BLAS environment."""
    from threadpoolctl import threadpool_info

    machine = _cpuinfo()
    machine["logical_cpus"] = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        machine["usable_cpus"] = len(os.sched_getaffinity(0))
    machine["platform"] = platform.platform()
    machine["python"] = platform.python_version()
    blas = [
        {k: v for k, v in lib.items() if k != "filepath"} | {"library": Path(lib.get("filepath", "")).name}
        for lib in threadpool_info()
    ]
    env_names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                 "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NANOMLP_THREADS")
    return {
        "machine": machine,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "nanomlp": nanomlp.__version__,
            "numpy": np.__version__,
            "torch": getattr(torch_module, "__version__", None),
            "threadpoolctl": _version("threadpoolctl"),
            "matplotlib": _version("matplotlib"),
        },
        "blas": blas,
        # None means unset: OpenBLAS then detects the CPU itself.
        "env": {name: os.environ.get(name) for name in env_names},
    }


def openblas_kernel(blas: list[dict[str, Any]]) -> str:
    kernels = [f"{lib.get('version')} {lib.get('architecture')}" for lib in blas
               if lib.get("internal_api") == "openblas"]
    return ", ".join(kernels) or "no OpenBLAS loaded"


# ---------------------------------------------------------------------------------------------
# Data

@dataclass
class Data:
    """The notebook's split, validated once the way ``Trainer`` validates it."""

    x_train: np.ndarray
    y_train: np.ndarray  # int32 class ids, what the engines take
    x_val: np.ndarray
    y_val: np.ndarray
    x_all: np.ndarray  # training then validation rows: the inference workload
    y_all: np.ndarray


def load_data(config: BenchConfig) -> Data:
    (x, y), _ = load_mnist(config.data)
    n_classes = config.layer_sizes[-1]
    x_train, y_train = x[:-N_VALIDATION], y[:-N_VALIDATION]
    x_val, y_val = x[-N_VALIDATION:], y[-N_VALIDATION:]
    if config.n_train is not None:
        x_train, y_train = x_train[: config.n_train], y_train[: config.n_train]
    if config.n_val is not None:
        x_val, y_val = x_val[: config.n_val], y_val[: config.n_val]
    x_train = _checks.check_features(x_train, config.layer_sizes[0], "x_train")
    x_val = _checks.check_features(x_val, config.layer_sizes[0], "x_val")
    y_train = _checks.check_labels(y_train, len(x_train), n_classes, "y_train")
    y_val = _checks.check_labels(y_val, len(x_val), n_classes, "y_val")
    return Data(x_train, y_train, x_val, y_val,
                np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]))


def first_order(model: nanomlp.MLP, n_rows: int) -> np.ndarray:
    """The first epoch's shuffle, drawn from the model's random state as ``Trainer.fit`` draws it."""
    return np.arange(n_rows, dtype=np.int64)[model.random_state.permutation(n_rows)]


# ---------------------------------------------------------------------------------------------
# Backends

def native_threads_supported() -> bool:
    return "threads" in inspect.signature(nanomlp.Trainer).parameters


class NanomlpRunner:
    """The native engine or the NumPy reference, through ``Trainer``."""

    def __init__(self, name: str, config: BenchConfig) -> None:
        self.name = name
        self.config = config
        self.backend = "native" if name == "native" else "numpy"
        self.dtype = "float64" if name == "numpy64" else "float32"
        self.passes_threads = self.backend == "native" and native_threads_supported()

    def effective_threads(self, threads: int) -> int:
        # The reference's threads are OpenBLAS's, limited around the call; the native engine
        # is single-threaded unless its Trainer takes threads=.
        if self.backend == "native" and not self.passes_threads:
            return 1
        return threads

    def trainer(self, batch_size: int, threads: int) -> nanomlp.Trainer:
        model = nanomlp.MLP(self.config.layer_sizes, seed=self.config.seed, dtype=self.dtype)
        kwargs: dict[str, Any] = {"threads": threads} if self.passes_threads else {}
        return nanomlp.Trainer(model, lr=self.config.lr, batch_size=batch_size, epochs=1,
                               backend=self.backend, **kwargs)

    def epoch(self, data: Data, batch_size: int, threads: int) -> tuple[float, dict[str, float]]:
        trainer = self.trainer(batch_size, threads)
        history = trainer.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val))
        logs = {key: values[-1] for key, values in history.history.items()}
        return logs.pop("epoch_seconds"), logs

    def train(self, data: Data, batch_size: int, threads: int) -> float:
        # Trainer.fit always adds the metrics pass, so training alone goes to the engine.
        trainer = self.trainer(batch_size, threads)
        order = first_order(trainer.model, len(data.x_train))
        start = time.perf_counter()
        trainer._engine.train_epoch(data.x_train, data.y_train, order, batch_size, self.config.lr,
                                    trainer.optimizer)
        return time.perf_counter() - start

    def infer(self, data: Data, threads: int) -> float:
        trainer = self.trainer(1, threads)
        start = time.perf_counter()
        trainer._engine.evaluate(data.x_all, data.y_all, False)
        return time.perf_counter() - start

    def trained_weights(self, x: np.ndarray, labels: np.ndarray, batch_size: int,
                        threads: int) -> list[np.ndarray]:
        trainer = self.trainer(batch_size, threads)
        trainer.fit(x, labels)
        return [np.array(w, dtype=np.float64) for w in trainer.model.weights]


class TorchRunner:
    """The same network in PyTorch: Linear/ReLU, SGD, mean cross-entropy, the same order."""

    name = "torch"

    def __init__(self, torch_module: Any, config: BenchConfig) -> None:
        self.torch = torch_module
        self.config = config

    def effective_threads(self, threads: int) -> int:
        return threads

    def network(self) -> tuple[Any, nanomlp.MLP]:
        """A Sequential holding the initial weights of ``MLP(seed)``, and that MLP."""
        nn = self.torch.nn
        model = nanomlp.MLP(self.config.layer_sizes, seed=self.config.seed, dtype="float32")
        layers: list[Any] = []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            linear = nn.Linear(*w.shape)
            with self.torch.no_grad():
                # nanomlp stores W as [fan_in × fan_out]; Linear.weight is [out × in].
                linear.weight.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T)))
                linear.bias.copy_(self.torch.from_numpy(b.copy()))
            layers.append(linear)
            if i < len(model.weights) - 1:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers), model

    def _train(self, net: Any, x: Any, labels: Any, order: Any, batch_size: int) -> None:
        optimizer = self.torch.optim.SGD(net.parameters(), lr=self.config.lr)
        loss_fn = self.torch.nn.CrossEntropyLoss()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x.index_select(0, rows)), labels.index_select(0, rows))
            loss.backward()
            optimizer.step()

    def _evaluate(self, net: Any, x: Any, labels: Any) -> tuple[float, int]:
        functional = self.torch.nn.functional
        loss_sum, correct = 0.0, 0
        with self.torch.no_grad():
            for start in range(0, len(x), INFERENCE_CHUNK):
                logits = net(x[start : start + INFERENCE_CHUNK])
                y = labels[start : start + INFERENCE_CHUNK]
                loss_sum += float(functional.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(dim=1) == y).sum())
        return loss_sum, correct

    def _tensors(self, x: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
        return self.torch.from_numpy(x), self.torch.from_numpy(labels.astype(np.int64))

    def epoch(self, data: Data, batch_size: int, threads: int) -> tuple[float, dict[str, float]]:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(data.x_train)))
        x, y = self._tensors(data.x_train, data.y_train)
        x_val, y_val = self._tensors(data.x_val, data.y_val)
        start = time.perf_counter()
        self._train(net, x, y, order, batch_size)
        train_loss, train_correct = self._evaluate(net, x, y)
        val_loss, val_correct = self._evaluate(net, x_val, y_val)
        seconds = time.perf_counter() - start
        return seconds, {
            "train_loss": train_loss / len(x), "train_acc": train_correct / len(x),
            "val_loss": val_loss / len(x_val), "val_acc": val_correct / len(x_val),
        }

    def train(self, data: Data, batch_size: int, threads: int) -> float:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(data.x_train)))
        x, y = self._tensors(data.x_train, data.y_train)
        start = time.perf_counter()
        self._train(net, x, y, order, batch_size)
        return time.perf_counter() - start

    def infer(self, data: Data, threads: int) -> float:
        net, _ = self.network()
        x, y = self._tensors(data.x_all, data.y_all)
        start = time.perf_counter()
        self._evaluate(net, x, y)
        return time.perf_counter() - start

    def trained_weights(self, x: np.ndarray, labels: np.ndarray, batch_size: int,
                        threads: int) -> list[np.ndarray]:
        net, model = self.network()
        order = self.torch.from_numpy(first_order(model, len(x)))
        self._train(net, *self._tensors(x, labels), order, batch_size)
        linears = [m for m in net if isinstance(m, self.torch.nn.Linear)]
        return [lin.weight.detach().numpy().T.astype(np.float64) for lin in linears]


def import_torch(wanted: bool) -> Any | None:
    if not wanted:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------------------------
# Parity and peak

def max_weight_difference(weights: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """The largest absolute difference between two lists of weight matrices (inf if NaN)."""
    if len(weights) != len(reference):
        raise ValueError(f"weights has {len(weights)} layers, reference has {len(reference)}")
    diff = 0.0
    for w, r in zip(weights, reference):
        if np.shape(w) != np.shape(r):
            raise ValueError(f"weights of shape {np.shape(w)} against reference {np.shape(r)}")
        d = np.abs(np.asarray(w, np.float64) - np.asarray(r, np.float64))
        diff = max(diff, float(np.max(d)) if np.isfinite(d).all() else float("inf"))
    return diff


def check_parity(config: BenchConfig, data: Data, runners: dict[str, Any],
                 log: Log) -> dict[str, Any]:
    """One epoch on a subset: each backend's float32 weights against the float32 reference."""
    from threadpoolctl import threadpool_limits

    rows = min(config.parity_rows, len(data.x_train))
    x, y = data.x_train[:rows], data.y_train[:rows]
    batch_size = 32
    reference = runners["numpy32"].trained_weights(x, y, batch_size, 1)
    result: dict[str, Any] = {"rows": rows, "batch_size": batch_size, "tolerance": config.parity_tol,
                              "against": "numpy32", "max_abs_weight_diff": {}}
    checked = ["native"] + (["torch"] if "torch" in runners else [])
    for name in checked:
        runner = runners[name]
        for threads in sorted({runner.effective_threads(t) for t in config.threads}):
            with threadpool_limits(limits=threads, user_api="blas"):
                diff = max_weight_difference(
                    runner.trained_weights(x, y, batch_size, threads), reference)
            result["max_abs_weight_diff"][f"{name}@{threads}"] = diff
            log(f"parity {name} ({threads} thread(s)) vs numpy32: max |dW| = {diff:.3g}")
            if not diff <= config.parity_tol:
                raise ParityError(
                    f"{name} with {threads} thread(s) disagrees with the float32 reference after "
                    f"one epoch on {rows} images: max |dW| = {diff:.3g} > {config.parity_tol:g}")
    return result


def gemm_peak(size: int, threads: int, repeats: int) -> dict[str, Any]:
    """float32 size×size×size GEMM through NumPy on ``threads`` BLAS threads, in GFLOP/s."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    c = np.empty((size, size), dtype=np.float32)
    flop = 2 * size**3
    seconds = []
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=c)  # warm-up: threads started, pages touched
        for _ in range(max(repeats, 3)):
            start = time.perf_counter()
            np.matmul(a, b, out=c)
            seconds.append(time.perf_counter() - start)
    return {"size": size, "threads": threads, "flop": flop, **_stats(seconds, flop)}


def _stats(seconds: list[float], flop: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "seconds": seconds,
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "gflops_median": flop / median / 1e9,
        "gflops_best": flop / min(seconds) / 1e9,
    }


# ---------------------------------------------------------------------------------------------
# The run

def time_case(runners: Sequence[Any], case: str, batch_size: int | None, threads: int,
              data: Data, repeats: int) -> dict[str, dict[str, Any]]:
    """Seconds of each runner on one case (plus the epoch's metrics), ``repeats`` times each.

    Round robin, so that a noisy neighbour on a shared machine slows every backend alike.
    """
    timed: dict[str, dict[str, Any]] = {r.name: {"seconds": []} for r in runners}
    for _ in range(repeats):
        for r in runners:
            if case == "epoch":
                elapsed, timed[r.name]["metrics"] = r.epoch(data, batch_size, threads)
            elif case == "train":
                elapsed = r.train(data, batch_size, threads)
            else:
                elapsed = r.infer(data, threads)
            timed[r.name]["seconds"].append(elapsed)
    return timed


def run_benchmark(config: BenchConfig, log: Log | None = None) -> dict[str, Any]:
    """Run every case and return the report (what ``write_outputs`` writes)."""
    from threadpoolctl import threadpool_limits

    config.validate()
    log = log or (lambda message: None)
    wall_start = time.perf_counter()
    torch = import_torch(config.use_torch)
    data = load_data(config)
    n_train, n_val = len(data.x_train), len(data.x_val)
    flops = flop_counts(config.layer_sizes)
    runners: dict[str, Any] = {name: NanomlpRunner(name, config)
                               for name in ("native", "numpy64", "numpy32")}
    if torch is not None:
        runners["torch"] = TorchRunner(torch, config)
    torch_threads = torch.get_num_threads() if torch is not None else None

    report: dict[str, Any] = machine_info(torch)
    notes = []
    if not runners["native"].passes_threads:
        notes.append("This Trainer takes no threads= argument: the native engine ran on one "
                     "thread in every row; its multi-thread figures repeat the 1-thread ones.")
    if torch is None:
        notes.append("PyTorch was not importable (or --no-torch): no PyTorch column.")
    report.update({
        "config": asdict(config),
        "data": {"n_train": n_train, "n_val": n_val, "n_inference": len(data.x_all)},
        "flops": {**flops, "epoch": epoch_flop(flops, n_train, n_val),
                  "train_epoch": n_train * flops["train_step_per_image"],
                  "inference": len(data.x_all) * flops["forward_per_image"],
                  "counting": "2 FLOP per multiply-add of the dense layers; element-wise work "
                              "ignored; no gradient of the input layer"},
        "native_threads_supported": runners["native"].passes_threads,
        "backends": list(runners),
        "notes": notes,
    })

    try:
        for runner in runners.values():  # warm-up: first calls, thread pools, allocations
            runner.trained_weights(data.x_train[:256], data.y_train[:256], 32, 1)
        report["parity"] = check_parity(config, data, runners, log)

        report["peak"] = {}
        for threads in config.threads:
            peak = gemm_peak(config.gemm_size, threads, config.repeats)
            report["peak"][str(threads)] = peak
            log(f"peak GEMM {config.gemm_size}^3 float32, {threads} thread(s): "
                f"{peak['gflops_median']:.1f} GFLOP/s")

        cases: list[tuple[str, int | None]] = [("epoch", b) for b in config.batch_sizes]
        cases += [("train", b) for b in config.batch_sizes] + [("inference", None)]
        case_flop = {"epoch": report["flops"]["epoch"], "train": report["flops"]["train_epoch"],
                     "inference": report["flops"]["inference"]}
        case_images = {"epoch": n_train, "train": n_train, "inference": len(data.x_all)}
        measured: dict[tuple[str, str, int | None, int], dict[str, Any]] = {}
        results = []
        for threads in config.threads:
            if torch is not None:
                torch.set_num_threads(threads)
            with threadpool_limits(limits=threads, user_api="blas"):
                for case, batch_size in cases:
                    keys = {r.name: (r.name, case, batch_size, r.effective_threads(threads))
                            for r in runners.values()}
                    todo = [r for r in runners.values() if keys[r.name] not in measured]
                    timed = time_case(todo, case, batch_size, threads, data, config.repeats)
                    for name, record in timed.items():
                        measured[keys[name]] = {**record, **_stats(record["seconds"], case_flop[case])}
                    for r in runners.values():
                        record = measured[keys[r.name]]
                        results.append({
                            "case": case, "batch_size": batch_size, "threads": threads,
                            "backend": r.name, "threads_effective": keys[r.name][3],
                            "reused": r not in todo, "images": case_images[case],
                            "flop": case_flop[case],
                            "images_per_s_median": case_images[case] / record["median_s"],
                            **record,
                        })
                    medians = ", ".join(f"{name} {measured[key]['median_s']:.3f}s"
                                        for name, key in keys.items())
                    log(f"{case:9s} batch {batch_size or '-':>3} threads {threads}: {medians}")
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)
    report["results"] = results
    report["ratios"] = ratios(results, report["peak"])
    if not config.quick:
        report["memory"] = fit_memory(config)
        log(f"memory: max RSS {report['memory']['max_rss_mb']:.1f} MB = input arrays "
            f"{report['memory']['inputs_mb']:.1f} MB + {report['memory']['excess_mb']:.1f} MB")
    report["wall_seconds"] = time.perf_counter() - wall_start
    return report


# A fresh process, so that its max RSS is the fit's alone: load MNIST, one 10-epoch fit.
_MEMORY_SCRIPT = """
import json, sys
from nanomlp import MLP, Trainer
from nanomlp.datasets import load_mnist
(x, y), (x_test, y_test) = load_mnist(sys.argv[1] or None)
inputs = sum(a.nbytes for a in (x, y, x_test, y_test))
Trainer(MLP(seed=42), epochs=10).fit(x[:-5000], y[:-5000], validation_data=(x[-5000:], y[-5000:]))
# VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak across fork and exec
# into ru_maxrss, while VmHWM is this process's own memory's high-water mark.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"inputs": inputs, "max_rss_kb": int(hwm.split()[1])}))
"""


def fit_memory(config: BenchConfig) -> dict[str, Any]:
    """Peak memory (max RSS, interpreter included) of a 10-epoch MNIST fit in a new process
    (Linux: it reads /proc/self/status)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, config.data or ""],
                          capture_output=True, text=True, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    inputs_mb = measured["inputs"] / 2**20
    rss_mb = measured["max_rss_kb"] / 1024
    return {"inputs_mb": inputs_mb, "max_rss_mb": rss_mb, "excess_mb": rss_mb - inputs_mb}


def ratios(results: list[dict[str, Any]], peak: dict[str, Any]) -> list[dict[str, Any]]:
    """Per case: other backend's median time / native's (above 1: native is faster), and
    native's achieved GFLOP/s as a fraction of the GEMM peak on the same thread count."""
    rows = []
    keys = sorted({(r["case"], r["batch_size"] or 0, r["threads"]) for r in results},
                  key=lambda k: (k[2], ("epoch", "train", "inference").index(k[0]), k[1]))
    for case, batch_size, threads in keys:
        here = {r["backend"]: r for r in results if (r["case"], r["batch_size"] or 0, r["threads"])
                == (case, batch_size, threads)}
        native = here["native"]
        row: dict[str, Any] = {"case": case, "batch_size": batch_size or None, "threads": threads}
        for other in BACKENDS[1:]:
            if other in here:
                row[f"native_vs_{other}"] = here[other]["median_s"] / native["median_s"]
        row["native_of_peak"] = native["gflops_median"] / peak[str(threads)]["gflops_median"]
        rows.append(row)
    return rows


def thread_scaling(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Native's speedup on each thread count over one thread, per case and batch size."""
    native = {(r["case"], r["batch_size"], r["threads"]): r["median_s"]
              for r in results if r["backend"] == "native"}
    return [{"case": case, "batch_size": batch, "threads": threads,
             "speedup": native[(case, batch, 1)] / seconds}
            for (case, batch, threads), seconds in native.items()
            if threads != 1 and (case, batch, 1) in native]


# ---------------------------------------------------------------------------------------------
# Outputs

def _spread(record: dict[str, Any], case: str) -> str:
    if case == "epoch":
        return f"{record['median_s']:.3g} s ({record['min_s']:.3g}–{record['max_s']:.3g})"
    images = record["images"]
    return (f"{images / record['median_s'] / 1e3:,.0f}k "
            f"({images / record['max_s'] / 1e3:,.0f}–{images / record['min_s'] / 1e3:,.0f})")


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page: context, the table, the notes."""
    versions, machine, env = report["versions"], report["machine"], report["env"]
    flops, data = report["flops"], report["data"]
    backends = report["backends"]
    lines = [
        "# nanomlp benchmark: one epoch, native vs NumPy vs PyTorch",
        "",
        f"- Date: {report['date']}; {report['config']['repeats']} repeat(s) per cell, "
        f"median (min–max){'; QUICK smoke run on subsets' if report['config']['quick'] else ''}.",
        f"- Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} logical CPU(s)"
        f" ({machine.get('physical_cores', '?')} physical), flags {' '.join(machine.get('flags', []))}.",
        f"- Versions: nanomlp {versions['nanomlp']}, numpy {versions['numpy']}, "
        f"torch {versions['torch'] or 'not installed'}; BLAS: OpenBLAS {openblas_kernel(report['blas'])}.",
        f"- Environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or '(unset)'}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE'] or '(unset)'}.",
        f"- Network {'-'.join(map(str, report['config']['layer_sizes']))}: "
        f"{flops['forward_per_image'] / 1e3:.1f} kFLOP per image forward, "
        f"{flops['train_step_per_image'] / 1e3:.1f} kFLOP per image per training step "
        f"({flops['counting']}).",
        f"- Epoch (the notebook's protocol): train on {data['n_train']:,} images, then a forward "
        f"pass over the {data['n_train']:,} training and {data['n_val']:,} validation images: "
        f"{flops['epoch'] / 1e9:.1f} GFLOP. Training only: {flops['train_epoch'] / 1e9:.1f} GFLOP; "
        f"inference over {data['n_inference']:,} images: {flops['inference'] / 1e9:.1f} GFLOP.",
        "- Parity before timing (one epoch on {rows:,} images, batch {batch}, max |ΔW| against "
        "NumPy f32): {diffs}.".format(
            rows=report["parity"]["rows"], batch=report["parity"]["batch_size"],
            diffs=", ".join(f"{k} {v:.2g}" for k, v in report["parity"]["max_abs_weight_diff"].items())),
        "- Peak: float32 {n}×{n} GEMM through NumPy: {peaks}.".format(
            n=report["config"]["gemm_size"],
            peaks=", ".join(f"{t} thread(s) {p['gflops_median']:.1f} GFLOP/s"
                            for t, p in report["peak"].items())),
        "",
        "Epoch rows: seconds per epoch. Train and inference rows: thousands of images per second. "
        "Speedup = the other backend's median time / native's (above 1: native is faster). "
        "Peak = native's GFLOP/s / the GEMM peak on the same thread count.",
        "",
    ]
    head = ["case", "batch", "threads"] + [BACKEND_LABELS[b] for b in backends]
    head += [f"native vs {BACKEND_LABELS[b]}" for b in backends[1:]] + ["native GFLOP/s", "native/peak"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
    for row in report["ratios"]:
        key = (row["case"], row["batch_size"], row["threads"])
        here = {r["backend"]: r for r in report["results"]
                if (r["case"], r["batch_size"], r["threads"]) == key}
        native = here["native"]
        cells = [row["case"], str(row["batch_size"] or "–"), str(row["threads"])]
        for b in backends:
            cell = _spread(here[b], row["case"])
            if b == "native" and native["threads_effective"] != row["threads"]:
                cell += f" [{native['threads_effective']} thr]"
            cells.append(cell)
        cells += [f"{row[f'native_vs_{b}']:.2f}×" for b in backends[1:]]
        cells += [f"{native['gflops_median']:.1f}", f"{100 * row['native_of_peak']:.1f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    scaling = thread_scaling(report["results"])
    if scaling:
        lines += ["", "Native thread scaling (median time on 1 thread / on N threads): " + "; ".join(
            f"{r['case']}{' batch ' + str(r['batch_size']) if r['batch_size'] else ''} "
            f"×{r['speedup']:.2f} on {r['threads']}" for r in scaling) + "."]
    if "memory" in report:
        mem = report["memory"]
        lines += ["", f"Peak memory of a 10-epoch MNIST fit (max RSS of a fresh process, interpreter "
                      f"included): {mem['max_rss_mb']:.1f} MB = the input arrays {mem['inputs_mb']:.1f} MB "
                      f"+ {mem['excess_mb']:.1f} MB."]
    if report["notes"]:
        lines += ["", *(f"- {note}" for note in report["notes"])]
    lines += ["", f"Wall time of this run: {report['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def chart_png(report: dict[str, Any]) -> bytes:
    """Achieved GFLOP/s per case and backend, one panel per thread count, the peak as a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    threads_list = list(report["peak"])
    backends = report["backends"]
    fig = Figure(figsize=(6 + 2.2 * len(report["config"]["batch_sizes"]), 4.2 * len(threads_list)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(threads_list), 1, squeeze=False)[:, 0]
    width = 0.8 / len(backends)
    records = {(r["backend"], r["case"], r["batch_size"], r["threads"]): r for r in report["results"]}
    for ax, threads in zip(axes, threads_list):
        rows = [r for r in report["ratios"] if str(r["threads"]) == threads]
        labels = [f"{r['case']}\nbatch {r['batch_size']}" if r["batch_size"] else r["case"]
                  for r in rows]
        for i, backend in enumerate(backends):
            medians, low, high = [], [], []
            for row in rows:
                rec = records[(backend, row["case"], row["batch_size"], row["threads"])]
                g = rec["flop"] / 1e9
                medians.append(g / rec["median_s"])
                low.append(g / rec["median_s"] - g / rec["max_s"])
                high.append(g / rec["min_s"] - g / rec["median_s"])
            xs = np.arange(len(rows)) + (i - (len(backends) - 1) / 2) * width
            ax.bar(xs, medians, width, yerr=[low, high], capsize=2, label=BACKEND_LABELS[backend])
        peak = report["peak"][threads]["gflops_median"]
        ax.axhline(peak, color="black", linestyle="--", linewidth=1,
                   label=f"float32 GEMM peak {peak:.0f} GFLOP/s")
        ax.set_ylim(bottom=0)
        ax.set_xticks(np.arange(len(rows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("GFLOP/s (median, min–max)")
        ax.set_title(f"{threads} thread(s)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    env = report["env"]
    fig.suptitle(f"nanomlp {report['versions']['nanomlp']} on {report['machine'].get('cpu_model')}; "
                 f"OpenBLAS {openblas_kernel(report['blas'])}, "
                 f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or 'unset'}", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def write_outputs(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The JSON, Markdown and PNG files of ``report`` in ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in OUTPUT_NAMES.items()}
    payloads = {
        "json": (json.dumps(report, indent=1) + "\n").encode(),
        "markdown": markdown(report).encode(),
        "chart": chart_png(report),
    }
    for kind, payload in payloads.items():
        with atomic_write(paths[kind], "wb") as f:
            f.write(payload)
    return paths


# ---------------------------------------------------------------------------------------------
# Command line

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanomlp bench",
        description="Time one MNIST epoch: nanomlp native vs the NumPy reference vs PyTorch.",
        epilog="Fair numbers: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_epoch.py",
    )
    parser.add_argument("--data", help="MNIST folder or mnist.npz (default: $NANOMLP_DATA)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    parser.add_argument("--repeats", type=int, help="timed repetitions per cell (default 5; 1 with --quick)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256], metavar="B")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], metavar="N")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 training and 500 validation images, 1 repeat")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 parity failure, 2 bad data or input)."""
    args = build_parser().parse_args(argv)
    options: dict[str, Any] = dict(data=args.data, batch_sizes=tuple(args.batch_sizes),
                                   threads=tuple(args.threads), use_torch=not args.no_torch)
    if args.repeats is not None:
        options["repeats"] = args.repeats
    config = BenchConfig.quick_config(**options) if args.quick else BenchConfig(**options)
    try:
        config.validate()
    except (ValueError, TypeError) as err:
        print(f"bench_epoch: {err}", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        report = run_benchmark(config, log)
    except ParityError as err:
        print(f"bench_epoch: parity check failed, nothing timed: {err}", file=sys.stderr)
        return 1
    except DatasetError as err:
        print(f"bench_epoch: cannot load MNIST: {err}", file=sys.stderr)
        return 2
    paths = write_outputs(report, args.out)
    print(markdown(report))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
