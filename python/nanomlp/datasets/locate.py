"""Where a dataset is: path= alone when given, else $NANOMLP_DATA, nanomlp's cache, Keras's
and torchvision's copies, a system copy, in that order. Looks only: reads no file but one
label file, to tell MNIST from Fashion-MNIST where both could be."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .checksums import SHA256, sha256
from .errors import DatasetError
from .idx import read_bytes
from .specs import IDX_FILES, SPECS, Spec, cache_root, keras_datasets

#: One place looked at: (source, path or None, status).
Searched = list[tuple[str, Optional[Path], str]]


@dataclass(frozen=True)
class Found:
    """A dataset found: four IDX files, or one npz."""

    kind: str  # "idx" | "npz"
    files: dict  # base name -> Path ("idx"), or {"npz": Path}
    source: str  # "path", "NANOMLP_DATA", "nanomlp cache", "Keras cache", "torchvision folder", "system copy"
    location: Path


def find_file(folder: Path, base: str) -> Path | None:
    """``base`` or ``base.gz`` in ``folder``."""
    # The raw file reads faster than the gzip when both are there (as torchvision leaves them).
    for candidate in (folder / base, folder / (base + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _holds_other(files: dict, spec: Spec) -> str | None:
    """The title of another known dataset when these test labels are that dataset's."""
    try:
        digest = sha256(read_bytes(files["t10k-labels-idx1-ubyte"]))
    except DatasetError:
        return None
    for name, table in SHA256.items():
        if name != spec.name and table.get("t10k-labels-idx1-ubyte") == digest:
            return SPECS[name].title
    return None


def probe_folder(
    folder: Path, spec: Spec, source: str, *, check_identity: bool = False
) -> tuple[Found | None, str]:
    """(Found or None, status) for one folder of IDX files or an npz."""
    if not folder.is_dir():
        return None, "no such folder"
    files = {base: find_file(folder, base) for base in IDX_FILES}
    missing = [b for b, p in files.items() if p is None]
    if not missing:
        if check_identity:
            other = _holds_other(files, spec)
            if other:
                return None, f"skipped: holds {other}, not {spec.title}"
        return Found("idx", files, source, folder), "found"
    if spec.npz_name and (folder / spec.npz_name).is_file():
        npz = folder / spec.npz_name
        return Found("npz", {"npz": npz}, source, npz), "found"
    if len(missing) < len(IDX_FILES):
        return None, "incomplete: missing " + ", ".join(m + "[.gz]" for m in missing)
    return None, "no dataset files"


def _probe_root(
    root: Path, spec: Spec, source: str, searched: Searched, *, explicit: bool
) -> Found | None:
    """A data root: the dataset's own folder, a folder with ``<subdir>/`` or ``<Torchvision>/raw``,
    or an ``.npz`` file."""
    if root.is_file():
        searched.append((source, root, "found"))
        return Found("npz", {"npz": root}, source, root)
    if not root.is_dir():
        searched.append((source, root, "no such file or folder"))
        return None
    for folder in (root, root / spec.subdir, root / spec.torchvision / "raw"):
        # A bare folder of IDX files may hold the other dataset (both use the same names).
        found, status = probe_folder(
            folder, spec, source, check_identity=folder == root and not explicit
        )
        if found is not None or status != "no such folder" or folder == root:
            searched.append((source, folder, status))
        if found is not None:
            return found
    return None


def locate(
    spec: Spec, path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None
) -> tuple[Found | None, Searched]:
    """Search in order; also returns every place looked at, for messages and ``dataset_info``."""
    searched: Searched = []
    if path is not None:
        return _probe_root(Path(path).expanduser(), spec, "path", searched, explicit=True), searched

    data = os.environ.get("NANOMLP_DATA")
    if data:
        found = _probe_root(Path(data).expanduser(), spec, "NANOMLP_DATA", searched, explicit=False)
        if found:
            return found, searched
    else:
        searched.append(("NANOMLP_DATA", None, "not set"))

    places = [("nanomlp cache", cache_root(cache_dir) / spec.subdir)]
    keras = keras_datasets()
    if spec.npz_name:
        places.append(("Keras cache", keras / spec.npz_name))
    if spec.keras_dir:
        places.append(("Keras cache", keras / spec.keras_dir))
    places.append(("torchvision folder", Path.cwd() / "data" / spec.torchvision / "raw"))
    places.extend(("system copy", Path(p)) for p in spec.system)
    for source, place in places:
        if place.suffix == ".npz":
            status = "found" if place.is_file() else "no such file"
            searched.append((source, place, status))
            if place.is_file():
                return Found("npz", {"npz": place}, source, place), searched
            continue
        found, status = probe_folder(place, spec, source)
        searched.append((source, place, status))
        if found:
            return found, searched
    return None, searched


def format_searched(searched: Searched) -> str:
    """The places looked at, numbered, one a line."""
    lines = []
    for i, (source, place, status) in enumerate(searched, 1):
        where = f": {place}" if place is not None else ""
        lines.append(f"  {i}. {source}{where} ({status})")
    return "\n".join(lines)
