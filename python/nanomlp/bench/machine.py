"""The machine a benchmark ran on: CPU, BLAS, versions, environment, and its GEMM peak."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._system import usable_cores
from .config import timing_stats


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


def _torch_capability(torch_module: Any | None) -> str | None:
    """The instruction set of PyTorch's CPU kernels (``AVX512``, ``AVX2``...), if it says."""
    try:
        return str(torch_module.backends.cpu.get_cpu_capability())
    except AttributeError:
        return None


def machine_info(torch_module: Any | None) -> dict[str, Any]:
    """CPU, versions, the BLAS libraries loaded (with OpenBLAS's kernel) and the BLAS environment."""
    from threadpoolctl import threadpool_info

    machine = _cpuinfo()
    machine["logical_cpus"] = os.cpu_count()
    machine["usable_cpus"] = usable_cores()
    machine["platform"] = platform.platform()
    machine["python"] = platform.python_version()
    blas = [
        {k: v for k, v in lib.items() if k != "filepath"}
        | {"library": Path(lib.get("filepath", "")).name}
        for lib in threadpool_info()
    ]
    env_names = (
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NANOMLP_NUM_THREADS",
        "NANOMLP_KERNEL",
        # PyTorch's own kernels' instruction sets: ATen's, MKL's (its GEMM), oneDNN's.
        "ATEN_CPU_CAPABILITY",
        "MKL_ENABLE_INSTRUCTIONS",
        "ONEDNN_MAX_CPU_ISA",
    )
    return {
        "machine": machine,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "nanomlp": __version__,
            "numpy": np.__version__,
            "torch": getattr(torch_module, "__version__", None),
            "torch_cpu_capability": _torch_capability(torch_module),
            "threadpoolctl": _version("threadpoolctl"),
            "matplotlib": _version("matplotlib"),
        },
        "blas": blas,
        # None means unset: OpenBLAS then detects the CPU itself.
        "env": {name: os.environ.get(name) for name in env_names},
    }


def openblas_kernel(blas: list[dict[str, Any]]) -> str:
    """OpenBLAS's version and the CPU kernel it picked, from ``machine_info``'s BLAS list."""
    kernels = [
        f"{lib.get('version')} {lib.get('architecture')}"
        for lib in blas
        if lib.get("internal_api") == "openblas"
    ]
    return ", ".join(kernels) or "no OpenBLAS loaded"


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
    return {"size": size, "threads": threads, "flop": flop, **timing_stats(seconds, flop)}


def engine_kernel() -> str:
    """The native engine's code path here (``avx512``, ``avx2``, ``neon``, ``generic``): the
    CPU's best, or the one ``NANOMLP_KERNEL`` forces."""
    from ..model import MLP
    from ..trainer import Trainer

    return Trainer(MLP((2, 2), seed=0)).kernel


def peak_coretype(kernel: str, flags: list[str]) -> str | None:
    """The ``OPENBLAS_CORETYPE`` that gives a GEMM of the same instruction set as the engine's
    path ``kernel``, where OpenBLAS would otherwise pick a wider one; None: OpenBLAS's own
    choice (or the environment's) already matches."""
    # OpenBLAS's Haswell kernel is its AVX2+FMA one; on an AVX-512 CPU it would pick SkylakeX.
    if kernel == "avx2" and "avx512f" in flags:
        return "Haswell"
    return None


def path_peak(size: int, threads: int, repeats: int, kernel: str) -> dict[str, Any]:
    """``gemm_peak`` in a fresh process whose OpenBLAS runs the instruction set of the engine's
    path ``kernel`` (``peak_coretype``); with the BLAS kernel it used and the coretype set.

    OpenBLAS reads ``OPENBLAS_CORETYPE`` once, when NumPy loads it: only a new process can
    measure another kernel's peak.
    """
    env = dict(os.environ)
    coretype = peak_coretype(kernel, _cpuinfo()["flags"])
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    done = subprocess.run(
        [sys.executable, "-m", "nanomlp.bench.peak", str(size), str(threads), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {**measured, "engine_kernel": kernel, "openblas_coretype": env.get("OPENBLAS_CORETYPE")}


def blas_kernels(blas: list[dict[str, Any]]) -> str:
    """The BLAS libraries' APIs and CPU kernels, e.g. ``openblas Haswell``."""
    names = [f"{lib.get('internal_api')} {lib.get('architecture')}" for lib in blas]
    return ", ".join(names) or "no BLAS loaded"
