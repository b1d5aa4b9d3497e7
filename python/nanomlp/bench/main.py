"""``nanomlp bench`` (and ``python bench/bench_epoch.py``): the benchmark's command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..datasets import DatasetError
from .config import DEFAULT_OUT, BenchConfig, ParityError

# The command that leaves OpenBLAS free to pick its own kernel.
FAIR_COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE nanomlp bench"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="nanomlp bench",
        description="Time one MNIST epoch, training only and inference: nanomlp's native engine "
        "vs the NumPy reference (and PyTorch, if installed), against the machine's float32 GEMM "
        "peak. Writes bench_epoch.json, bench_epoch.md and bench_epoch.png to --out.",
        epilog=f"Fair numbers: {FAIR_COMMAND}",
    )
    parser.add_argument("--data", help="MNIST folder or mnist.npz (default: $NANOMLP_DATA)")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repetitions per cell (default 5; 1 with --quick)"
    )
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=list(BenchConfig.batch_sizes), metavar="B"
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=list(BenchConfig.threads), metavar="N"
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="leave PyTorch out even if installed"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 training and 500 validation images, 1 repeat",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 parity failure, 2 bad data or input)."""
    # Here, not at the top: importing the package (as the memory workload does) stays light.
    from .report import markdown, write_outputs
    from .run import run_benchmark

    args = build_parser().parse_args(argv)
    options: dict[str, Any] = dict(
        data=args.data,
        batch_sizes=tuple(args.batch_sizes),
        threads=tuple(args.threads),
        use_torch=not args.no_torch,
    )
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
