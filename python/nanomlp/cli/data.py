"""``nanomlp data``: download datasets ahead of going offline, show where they are found."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import _common as c


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    data = commands.add_parser(
        "data",
        parents=parents,
        help="download datasets, show where they are",
        description="Fetch datasets into nanomlp's cache ahead of going offline, or show where "
        "each dataset is found on this machine.",
    )
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    download = actions.add_parser(
        "download",
        parents=parents,
        help="download into nanomlp's cache",
        description="Download a dataset into nanomlp's cache (nothing is fetched if it is there).",
    )
    download.add_argument(
        "name", nargs="?", choices=c.DOWNLOADABLE, default="mnist", help="(default: %(default)s)"
    )
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.set_defaults(handler=run_download, command_parser=download)
    info = actions.add_parser(
        "info",
        parents=parents,
        help="where each dataset is found",
        description="Show where each dataset is found, and every place searched.",
    )
    info.add_argument("name", nargs="?", choices=c.DOWNLOADABLE, help="(default: all)")
    info.add_argument("--data", metavar="DIR", help="look only there, as train --data would")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=run_info, command_parser=info)
    return data


def run_download(args: argparse.Namespace) -> int:
    from .. import datasets

    folder = datasets.download(args.name, force=args.force)
    c.echo(f"{args.name}: in {folder}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from .. import datasets

    names = [args.name] if args.name else list(datasets.DATASETS)
    infos = [datasets.dataset_info(name, path=args.data) for name in names]
    if args.json:
        c.echo(json.dumps([info.as_dict() for info in infos], indent=2))
    else:
        c.echo("\n".join(str(info) for info in infos))
    return 0
