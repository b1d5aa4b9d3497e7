"""``nanomlp bench``: the benchmark of ``nanomlp.bench``, its options passed through."""
from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    bench = commands.add_parser(
        "bench", parents=parents, help="time an epoch: native engine vs NumPy reference",
        description="Time one MNIST epoch, training only and inference: the native engine vs "
        "the NumPy reference (and PyTorch, if installed), with the machine's GEMM peak; writes "
        "bench_epoch.json, .md and .png. Its options go after '--', e.g. "
        "'nanomlp bench -- --quick'; 'nanomlp bench -- --help' lists them.",
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    bench.set_defaults(handler=run, command_parser=bench)
    return bench


def run(args: argparse.Namespace) -> int:
    from ..bench import main

    bench_args = list(args.bench_args)
    if bench_args[:1] == ["--"]:
        bench_args = bench_args[1:]
    return int(main(bench_args) or 0)
