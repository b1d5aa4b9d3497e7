"""``nanomlp bench``: the benchmark of ``nanomlp.bench``, its options passed through."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    # No help of its own: --help passes through, so the benchmark's parser lists its options.
    bench = commands.add_parser(
        "bench",
        parents=parents,
        add_help=False,
        help="time an epoch: native engine vs NumPy reference",
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
