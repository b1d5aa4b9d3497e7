"""The ``nanomlp`` command: train, sweep, evaluate, predict, export, import, data, bench.

Exit codes: 0 success, 1 runtime error (one line on stderr; ``--debug`` shows the traceback),
2 usage error, 130 interrupted (Ctrl-C). Every file is written atomically, so an interrupted
run leaves complete files or none.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .. import __version__
from . import bench, data, evaluate, export, import_weights, predict, sweep, train

# In the order of `nanomlp --help`.
COMMANDS = (train, sweep, evaluate, predict, export, import_weights, data, bench)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, for ``main`` and for documentation."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )

    parser = _Parser(
        prog="nanomlp",
        description="Train small multilayer perceptrons on MNIST-like data, on the CPU.",
        epilog="Run 'nanomlp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"nanomlp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(commands, [common])
    return parser


def _one_line_warning(
    message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"nanomlp: warning: {message}", file=sys.stderr, flush=True)


def _one_line_error(err: Exception) -> str:
    """Any exception as one line, pointing to the command that explains it."""
    from ..datasets import DatasetError

    # A multi-line message is joined, not cut.
    message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    message = message or type(err).__name__
    if isinstance(err, ImportError) and "pip install" not in message:
        message = f"{type(err).__name__}: {message}"
    if isinstance(err, DatasetError) and "nanomlp data info" not in message:
        message += " (see 'nanomlp data info')"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # The benchmark's own options pass through; argparse's REMAINDER alone would refuse
    # those that come first and start with "-".
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "bench":
        args.bench_args = extra + list(args.bench_args)
    args.argv = argv
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        warnings.simplefilter("default")
        try:
            return args.handler(args)
        except KeyboardInterrupt:
            print("\nnanomlp: interrupted", file=sys.stderr, flush=True)
            return 130
        except SystemExit:
            raise
        except Exception as err:
            if debug:
                raise
            print(f"nanomlp: error: {_one_line_error(err)}", file=sys.stderr, flush=True)
            return 1
