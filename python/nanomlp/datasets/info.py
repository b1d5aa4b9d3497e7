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
    """Where a dataset is on this machine: what ``nanomlp data info`` prints.

    Parameters
    ----------
    name, title : str
        The dataset's registry name and printed name.
    found : bool
        Whether it was found.
    source : str or None
        Where: "path", "NANOMLP_DATA", "nanomlp cache", "Keras cache", "torchvision folder" or
        "system copy".
    location : pathlib.Path or None
        The folder or file found.
    format : {"idx", "npz"} or None
        The files' format.
    files : tuple
        The files found.
    searched : tuple
        (source, path or None, status) of each place, in search order.
    cache_dir : pathlib.Path or None
        nanomlp's cache folder.
    mirrors : tuple
        The download mirrors in force.
    offline : bool
        Whether ``NANOMLP_OFFLINE=1`` forbids downloads.

    Raises
    ------
    TypeError
        For a missing field (it is a dataclass).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp.datasets import dataset_info
    >>> info = dataset_info("mnist", path=path)
    >>> info.found, info.source, info.format
    (True, 'path', 'npz')
    """

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
    """Where ``name`` is found, or where every dataset is; looks only.

    Nothing is read, verified or downloaded: this is what ``nanomlp data info`` prints.

    Parameters
    ----------
    name : str, optional
        A dataset; None for all of them.
    path : str or os.PathLike, optional
        A place to look first, as ``load_mnist``'s ``path``.
    cache_dir : str or os.PathLike, optional
        nanomlp's cache, as in ``load_mnist``.

    Returns
    -------
    DatasetInfo or dict of str to DatasetInfo
        One dataset's, or every downloadable dataset's by name.

    Raises
    ------
    ValueError
        For an unknown dataset.

    Examples
    --------
    >>> import tempfile
    >>> from nanomlp.datasets import dataset_info
    >>> info = dataset_info("mnist", path=tempfile.mkdtemp())
    >>> info.found, info.searched[0][2]
    (False, 'no dataset files')
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
