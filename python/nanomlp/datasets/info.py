"""``dataset_info``: where each dataset is on this machine, and what would happen without it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .locate import format_searched, locate
from .specs import DATASETS, cache_root, mirror_urls, offline
from .specs import spec as find_spec


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset is on this machine: what ``nanomlp data info`` prints."""

    name: str
    title: str
    found: bool
    source: (
        str | None
    )  # "path", "NANOMLP_DATA", "nanomlp cache", "Keras cache", "torchvision folder", "system copy"
    location: Path | None
    format: str | None  # "idx" or "npz"
    files: tuple = ()
    searched: tuple = ()  # (source, path or None, status), in search order
    cache_dir: Path | None = None
    mirrors: tuple = ()
    offline: bool = False

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "found": self.found,
            "source": self.source,
            "location": str(self.location) if self.location else None,
            "format": self.format,
            "files": [str(f) for f in self.files],
            "searched": [
                {"source": s, "path": str(p) if p else None, "status": st}
                for s, p, st in self.searched
            ],
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "mirrors": list(self.mirrors),
            "offline": self.offline,
        }

    def __str__(self) -> str:
        head = (
            f"{self.title}: {self.location} ({self.source}, {self.format})"
            if self.found
            else f"{self.title}: not found"
            + (" (offline)" if self.offline else "; would download into " + str(self.cache_dir))
        )
        lines = [head, "  searched:"] + [
            "  " + line for line in format_searched(list(self.searched)).splitlines()
        ]
        lines.append("  mirrors: " + " ".join(self.mirrors))
        return "\n".join(lines)


def dataset_info(
    name: str | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
):
    """Where ``name`` is found (a ``DatasetInfo``), or a dict of them for every dataset.

    Looks only: nothing is read, verified or downloaded.
    """
    if name is None:
        return {ds: dataset_info(ds, path=path, cache_dir=cache_dir) for ds in DATASETS}
    spec = find_spec(name)
    found, searched = locate(spec, path, cache_dir)
    try:
        mirrors = mirror_urls(spec, None)
    except ValueError:
        mirrors = ()
    return DatasetInfo(
        name=spec.name,
        title=spec.title,
        found=found is not None,
        source=found.source if found else None,
        location=found.location if found else None,
        format=found.kind if found else None,
        files=tuple(found.files.values()) if found else (),
        searched=tuple(searched),
        cache_dir=cache_root(cache_dir) / spec.subdir,
        mirrors=mirrors,
        offline=offline(),
    )
