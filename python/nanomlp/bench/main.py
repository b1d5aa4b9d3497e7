"""``nanomlp bench`` (and ``python bench/bench_epoch.py``): the benchmark's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from ..datasets import DatasetError
from .config import (
    DEFAULT_OUT,
    ActivationBenchConfig,
    BenchConfig,
    OptimizerBenchConfig,
    ParityError,
    RegressionBenchConfig,
)

# The command that leaves OpenBLAS free to pick its own kernel.
FAIR_COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE nanomlp bench"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="nanomlp bench",
        description="Time one MNIST epoch, training only and inference: nanomlp's native engine "
        "vs the NumPy reference (and PyTorch, if installed), against the machine's float32 GEMM "
        "peak. Writes bench_epoch.json, bench_epoch.md and bench_epoch.png to --out. With "
        "--optimizers, the optimizer section instead: each optimizer's epoch against plain "
        "SGD's, train --preset fast's time to 98% against PyTorch and the notebook's recipe, "
        "MLPClassifier against scikit-learn's; writes bench_optimizers.json and .md. With "
        "--activations, each hidden activation's epoch against ReLU's (bench_activations.*); "
        "with --regression, MLPRegressor against scikit-learn's (bench_regression.*); with "
        "--latency, predict_proba's microseconds per call at batch 1, 8 and 64 against "
        "scikit-learn's and PyTorch's (bench_latency.*); with --wide, training "
        "784-1024-1024-10 at batch 128 against NumPy float32, PyTorch and the peak "
        "(bench_wide.*). Every peak is that of the engine's own instruction set "
        "(NANOMLP_KERNEL=avx2 on an AVX-512 CPU: OpenBLAS's Haswell kernel).",
        epilog=f"Fair numbers: {FAIR_COMMAND}",
    )
    parser.add_argument("--data", help="MNIST folder or mnist.npz (default: $NANOMLP_DATA)")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)"
    )
    section = parser.add_mutually_exclusive_group()
    section.add_argument(
        "--optimizers",
        action="store_true",
        help="run the optimizer section instead of the epoch benchmark",
    )
    section.add_argument(
        "--activations",
        action="store_true",
        help="run the activation section instead of the epoch benchmark",
    )
    section.add_argument(
        "--latency",
        action="store_true",
        help="run the latency section (predict_proba at batch 1, 8, 64) instead of the epoch "
        "benchmark",
    )
    section.add_argument(
        "--wide",
        action="store_true",
        help="run the wide-network section (784-1024-1024-10, batch 128) instead of the epoch "
        "benchmark",
    )
    section.add_argument(
        "--regression",
        action="store_true",
        help="run the regression section (needs scikit-learn) instead of the epoch benchmark",
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repetitions per cell (default 5; 1 with --quick)"
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        metavar="B",
        help=f"default: {_show(BenchConfig.batch_sizes)}; "
        f"{_show(OptimizerBenchConfig.batch_sizes)} with --optimizers; 1 8 64 with --latency; "
        "128 with --wide",
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=list(BenchConfig.threads), metavar="N"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="S",
        help=f"--optimizers and --regression: the seeds of the recipes and of the diabetes fits "
        f"(default: {_show(OptimizerBenchConfig.seeds)}; 0 with --quick)",
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="leave PyTorch out even if installed"
    )
    parser.add_argument(
        "--no-sklearn",
        action="store_true",
        help="--optimizers and --latency: leave scikit-learn out even if installed",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 training and 500 validation (or test) images, 1 repeat",
    )
    return parser


def _show(values: tuple[int, ...]) -> str:
    return " ".join(map(str, values))


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 parity failure, 2 bad data or input)."""
    args = build_parser().parse_args(argv)
    if args.optimizers:
        return _optimizers(args)
    if args.activations:
        return _activations(args)
    if args.regression:
        return _regression(args)
    if args.latency or args.wide:
        return _speed(args)
    # Here, not at the top: importing the package (as the memory workload does) stays light.
    from .report import markdown, write_outputs
    from .run import run_benchmark

    options = _options(args, data=args.data, use_torch=not args.no_torch)
    config = BenchConfig.quick_config(**options) if args.quick else BenchConfig(**options)
    return _run_section("bench_epoch", config, run_benchmark, markdown, write_outputs, args.out)


def log(message: str) -> None:
    """Progress, on standard error: standard output is the report."""
    print(message, file=sys.stderr, flush=True)


def _options(
    args: argparse.Namespace, names: tuple[str, ...] = ("batch_sizes",), **options: Any
) -> dict[str, Any]:
    """``options``, ``threads``, ``repeats`` and those of ``names`` the command line gave."""
    options.setdefault("threads", tuple(args.threads))
    for name in names:
        if getattr(args, name) is not None:
            options[name] = tuple(getattr(args, name))
    if args.repeats is not None:
        options["repeats"] = args.repeats
    return options


def _run_section(
    label: str,
    config: Any,
    run: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
    write: Callable[..., dict[str, Path]],
    out: str,
) -> int:
    """Validate ``config``, run the section, write and print its report; the exit status."""
    try:
        config.validate()
    except (ValueError, TypeError) as err:
        print(f"{label}: {err}", file=sys.stderr)
        return 2
    try:
        report = run(config, log)
    except ParityError as err:
        print(f"{label}: parity check failed, nothing timed: {err}", file=sys.stderr)
        return 1
    except DatasetError as err:
        print(f"{label}: cannot load MNIST: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"{label}: {err}", file=sys.stderr)
        return 2
    paths = write(report, out)
    print(markdown(report))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _optimizers(args: argparse.Namespace) -> int:
    """``--optimizers``: the optimizer section, its report printed and written."""
    from .optimizers import run_optimizers
    from .report import optimizers_markdown, write_optimizer_outputs

    options = _options(
        args,
        ("batch_sizes", "seeds"),
        data=args.data,
        use_torch=not args.no_torch,
        use_sklearn=not args.no_sklearn,
    )
    make = OptimizerBenchConfig.quick_config if args.quick else OptimizerBenchConfig
    return _run_section(
        "bench_optimizers",
        make(**options),
        run_optimizers,
        optimizers_markdown,
        write_optimizer_outputs,
        args.out,
    )


def _activations(args: argparse.Namespace) -> int:
    """``--activations``: the activation section, its report printed and written."""
    from .networks import run_activations
    from .report_networks import activations_markdown, write_activation_outputs

    make = ActivationBenchConfig.quick_config if args.quick else ActivationBenchConfig
    return _run_section(
        "bench_activations",
        make(**_options(args, data=args.data)),
        run_activations,
        activations_markdown,
        write_activation_outputs,
        args.out,
    )


def _speed(args: argparse.Namespace) -> int:
    """``--latency`` or ``--wide``: a speed section, its report printed and written."""
    from .latency import LatencyBenchConfig, run_latency
    from .report_speed import (
        latency_markdown,
        wide_markdown,
        write_latency_outputs,
        write_wide_outputs,
    )
    from .wide import WideBenchConfig, run_wide

    options = _options(args, data=args.data, use_torch=not args.no_torch)
    if args.latency:
        options["use_sklearn"] = not args.no_sklearn
        make = LatencyBenchConfig.quick_config if args.quick else LatencyBenchConfig
        return _run_section(
            "bench_latency",
            make(**options),
            run_latency,
            latency_markdown,
            write_latency_outputs,
            args.out,
        )
    make = WideBenchConfig.quick_config if args.quick else WideBenchConfig
    return _run_section(
        "bench_wide", make(**options), run_wide, wide_markdown, write_wide_outputs, args.out
    )


def _regression(args: argparse.Namespace) -> int:
    """``--regression``: the regression section, its report printed and written."""
    from .networks import run_regression
    from .report_networks import regression_markdown, write_regression_outputs

    options: dict[str, Any] = {}
    if args.seeds is not None:
        options["seeds"] = tuple(args.seeds)
    if args.repeats is not None:
        options["fit_repeats"] = args.repeats
    make = RegressionBenchConfig.quick_config if args.quick else RegressionBenchConfig
    return _run_section(
        "bench_regression",
        make(**options),
        run_regression,
        regression_markdown,
        write_regression_outputs,
        args.out,
    )


if __name__ == "__main__":
    sys.exit(main())
