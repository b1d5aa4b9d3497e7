"""MNIST and Fashion-MNIST, online and offline.

``load_mnist()`` and ``load_fashion_mnist()`` return ``(x_train, y_train), (x_test, y_test)``:
x float32 in [0, 1] of shape (N, 784) (or uint8, or (N, 28, 28)), y int64, all C-contiguous.

Where the data is looked for, in order (``dataset_info()`` shows it for this machine):

1. ``path=``: a folder of the four IDX files (gzip or raw), a root holding ``mnist/``,
   ``fashion-mnist/`` or torchvision's ``MNIST/raw/``, or an ``.npz`` file. When ``path`` is given
   it is the only place looked at: a typo never silently loads another copy.
2. ``$NANOMLP_DATA``, the same kinds of folder.
3. nanomlp's cache: ``$NANOMLP_CACHE``, else ``$XDG_CACHE_HOME/nanomlp``, else
   ``~/.cache/nanomlp``; one sub-folder per dataset.
4. What other tools downloaded: Keras (``$KERAS_HOME/datasets``, else ``~/.keras/datasets``) and a
   torchvision-style ``./data/MNIST/raw`` (``./data/FashionMNIST/raw``).
5. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
6. A download into the cache, unless ``download=False`` or ``NANOMLP_OFFLINE=1``.

Every file is checked against the SHA-256 of its decompressed content (so a recompressed copy
still verifies); ``verify=False`` skips that for custom data. A download is written to a temporary
name in the cache folder, verified, then renamed into place, under a lock file, so an interrupted
or failed download never leaves a file that a later call would trust.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import math
import os
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import numpy as np

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load",
    "download",
    "dataset_info",
    "DatasetInfo",
    "DatasetError",
    "DatasetFormatError",
    "ChecksumError",
    "DatasetNotFoundError",
    "DownloadError",
    "DATASETS",
]

log = logging.getLogger(__name__)

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801

#: The IDX files of a dataset, per split: (images, labels).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: Download order: smallest first, so a broken mirror fails fast.
_FETCH_ORDER = ("t10k-labels-idx1-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "train-images-idx3-ubyte")
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_TO_IDX = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of each *decompressed* IDX file, and of Keras's mnist.npz (the file itself).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


@dataclass(frozen=True)
class _Spec:
    name: str  # "mnist"
    title: str  # "MNIST"
    loader: str  # "load_mnist"
    subdir: str  # folder in the cache and under a data root
    torchvision: str  # torchvision's class name: ROOT/<torchvision>/raw
    npz_name: str | None  # Keras's single-file copy, in ~/.keras/datasets
    keras_dir: str | None  # Keras's folder of IDX files, in ~/.keras/datasets
    mirror_env: str
    mirrors: tuple[str, ...]
    system: tuple[str, ...] = ()


_SPECS = {
    "mnist": _Spec(
        name="mnist",
        title="MNIST",
        loader="load_mnist",
        subdir="mnist",
        torchvision="MNIST",
        npz_name="mnist.npz",
        keras_dir=None,
        mirror_env="NANOMLP_MNIST_MIRROR",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        ),
    ),
    "fashion-mnist": _Spec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        loader="load_fashion_mnist",
        subdir="fashion-mnist",
        torchvision="FashionMNIST",
        npz_name=None,
        keras_dir="fashion-mnist",
        mirror_env="NANOMLP_FASHION_MNIST_MIRROR",
        mirrors=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
        system=("/usr/share/datasets/fashion-mnist",),
    ),
}
DATASETS = tuple(_SPECS)
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_USER_AGENT = "nanomlp-datasets (Python urllib)"

ProgressArg = Union[None, bool, Callable[[str, int, "int | None"], None]]


# --------------------------------------------------------------------------------------- errors
class DatasetError(Exception):
    """Base class of every error of this module."""


class DatasetFormatError(DatasetError, ValueError):
    """A file is not what it should be: wrong magic number, truncated, bad gzip, bad npz."""


class ChecksumError(DatasetError, ValueError):
    """A file's SHA-256 is not the published one."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset is in none of the places searched, and was not downloaded."""


class DownloadError(DatasetError, OSError):
    """Every mirror failed."""


class _MirrorFailed(Exception):
    """One URL failed in a way that the next mirror may fix."""


# ----------------------------------------------------------------------------- environment
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _offline() -> bool:
    return _truthy(os.environ.get("NANOMLP_OFFLINE"))


def _spec(name: str) -> _Spec:
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist"}.get(key, key)
    if key not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return _SPECS[key]


def cache_root(cache_dir=None) -> Path:
    """nanomlp's cache: ``cache_dir``, else ``$NANOMLP_CACHE``, else ``$XDG_CACHE_HOME/nanomlp``,
    else ``~/.cache/nanomlp``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("NANOMLP_CACHE"):
        return Path(os.environ["NANOMLP_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nanomlp"
    return Path.home() / ".cache" / "nanomlp"


def _keras_datasets() -> Path:
    home = os.environ.get("KERAS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "datasets"


def _mirrors(spec: _Spec, mirrors) -> tuple[str, ...]:
    if mirrors is None:
        env = os.environ.get(spec.mirror_env, "")
        mirrors = env.replace(",", " ").split() or spec.mirrors
    elif isinstance(mirrors, (str, os.PathLike)):
        mirrors = [mirrors]
    out = tuple(str(m) for m in mirrors)
    if not out:
        raise ValueError("mirrors is empty: give at least one URL")
    return out


# ---------------------------------------------------------------------------------- parsing
def _decompress(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFormatError(
            f"{name}: not a valid gzip file ({exc}); it is damaged or incomplete: delete it or replace it with a good copy"
        ) from exc


def _read_bytes(path: Path) -> bytes:
    """The whole file, decompressed if it is gzip (told by its magic bytes, not by its name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if data[:2] == b"\x1f\x8b":
        data = _decompress(data, str(path))
    return data


def _parse_idx(data: bytes, magic: int, ndim: int, name: str) -> np.ndarray:
    """An IDX buffer as a uint8 array of ``ndim`` dimensions: a read-only view of ``data``."""
    header = 4 + 4 * ndim
    kind = "images" if magic == IMAGE_MAGIC else "labels"
    if len(data) < header:
        raise DatasetFormatError(
            f"{name}: truncated: {len(data)} bytes, shorter than the {header}-byte header of an IDX {kind} file"
        )
    head = np.frombuffer(data, dtype=">u4", count=1 + ndim)
    got = int(head[0])
    if got != magic:
        other = {IMAGE_MAGIC: " (that of IDX images)", LABEL_MAGIC: " (that of IDX labels)"}.get(got, "")
        raise DatasetFormatError(
            f"{name}: wrong magic number 0x{got:08X}{other}, expected 0x{magic:08X} for IDX {kind} "
            f"(uint8, {ndim}-D): not an IDX {kind} file, or a mix-up of file names"
        )
    dims = tuple(int(d) for d in head[1:])
    expected = math.prod(dims)  # Python ints: np.prod would wrap at 2**63 and let a bad header pass
    if math.prod(d for d in dims if d) > sys.maxsize:  # even with no data, no array has that shape
        raise DatasetFormatError(
            f"{name}: corrupted header: dimensions {' x '.join(map(str, dims))} are beyond any array's size"
        )
    payload = len(data) - header
    if payload != expected:
        what = "truncated" if payload < expected else "too long"
        raise DatasetFormatError(
            f"{name}: {what}: its header says {' x '.join(map(str, dims))} = {expected} bytes of data, "
            f"but the file holds {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_header(magic: int, dims: Sequence[int]) -> bytes:
    return np.array([magic, *dims], dtype=">u4").tobytes()


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _identify(digest: str, base: str) -> str:
    """' (that is MNIST's train-images-idx3-ubyte)' when a hash belongs to a known file."""
    for ds, table in SHA256.items():
        for fname, known in table.items():
            if known == digest:
                return f" (that is {_SPECS[ds].title}'s {fname})"
    return ""


def _checksum_error(spec: _Spec, path, base: str, expected: str, actual: str, hint: str) -> ChecksumError:
    return ChecksumError(
        f"{path}: SHA-256 mismatch for {spec.title} {base}:\n"
        f"  expected {expected}\n"
        f"  actual   {actual}{_identify(actual, base)}\n"
        f"{hint}"
    )


# ------------------------------------------------------------------------------- locating
@dataclass(frozen=True)
class _Found:
    kind: str  # "idx" | "npz"
    files: dict  # base name -> Path ("idx"), or {"npz": Path}
    source: str
    location: Path


def _find_file(folder: Path, base: str) -> Path | None:
    # The raw file reads faster than the gzip when both are there (as torchvision leaves them).
    for candidate in (folder / base, folder / (base + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _holds_other(folder: Path, files: dict, spec: _Spec) -> str | None:
    """The title of another known dataset when ``folder``'s test labels are that dataset's."""
    try:
        digest = _sha256(_read_bytes(files["t10k-labels-idx1-ubyte"]))
    except DatasetError:
        return None
    for ds, table in SHA256.items():
        if ds != spec.name and table.get("t10k-labels-idx1-ubyte") == digest:
            return _SPECS[ds].title
    return None


def _probe_folder(folder: Path, spec: _Spec, source: str, *, check_identity: bool = False):
    """(_Found or None, status) for one folder of IDX files or an npz."""
    if not folder.is_dir():
        return None, "no such folder"
    files = {base: _find_file(folder, base) for base in IDX_FILES}
    missing = [b for b, p in files.items() if p is None]
    if not missing:
        if check_identity:
            other = _holds_other(folder, files, spec)
            if other:
                return None, f"skipped: holds {other}, not {spec.title}"
        return _Found("idx", files, source, folder), "found"
    if spec.npz_name and (folder / spec.npz_name).is_file():
        npz = folder / spec.npz_name
        return _Found("npz", {"npz": npz}, source, npz), "found"
    if len(missing) < len(IDX_FILES):
        return None, "incomplete: missing " + ", ".join(m + "[.gz]" for m in missing)
    return None, "no dataset files"


def _probe_root(root: Path, spec: _Spec, source: str, searched: list, *, explicit: bool):
    """A data root: the dataset's own folder, a folder with ``<subdir>/`` or ``<Torchvision>/raw``,
    or an ``.npz`` file."""
    if root.is_file():
        searched.append((source, root, "found"))
        return _Found("npz", {"npz": root}, source, root)
    if not root.is_dir():
        searched.append((source, root, "no such file or folder"))
        return None
    for folder in (root, root / spec.subdir, root / spec.torchvision / "raw"):
        # A bare folder of IDX files may hold the other dataset (both use the same names).
        found, status = _probe_folder(folder, spec, source, check_identity=folder == root and not explicit)
        if found is not None or status != "no such folder" or folder == root:
            searched.append((source, folder, status))
        if found is not None:
            return found
    return None


def _locate(spec: _Spec, path, cache_dir) -> tuple[_Found | None, list]:
    """Search in order; ``searched`` is a list of (source, path, status)."""
    searched: list = []
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
    keras = _keras_datasets()
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
                return _Found("npz", {"npz": place}, source, place), searched
            continue
        found, status = _probe_folder(place, spec, source)
        searched.append((source, place, status))
        if found:
            return found, searched
    return None, searched


def _format_searched(searched: list) -> str:
    lines = []
    for i, (source, place, status) in enumerate(searched, 1):
        where = f": {place}" if place is not None else ""
        lines.append(f"  {i}. {source}{where} ({status})")
    return "\n".join(lines)


def _how_to_fix(spec: _Spec, cache: Path, why: str) -> str:
    files = ", ".join(b + ".gz" for b in IDX_FILES)
    npz = f" or {spec.npz_name}" if spec.npz_name else ""
    if "NANOMLP_OFFLINE" in why:
        allow = "  - if this machine may use the network: unset NANOMLP_OFFLINE, and it downloads into the cache;\n"
    else:
        allow = "  - if this machine may use the network: call without download=False, and it downloads into the cache;\n"
    return (
        "To fix it, either:\n" + allow +
        f"  - on a machine with internet access, run: python -c \"import nanomlp.datasets as d; d.download('{spec.name}')\"\n"
        f"    (it fills {cache}; copy that folder to the same place, or to $NANOMLP_CACHE/{spec.subdir}, on an offline machine);\n"
        f"  - or put the four IDX files ({files}){npz} in a folder and pass path=FOLDER or set NANOMLP_DATA=FOLDER."
    )


# ------------------------------------------------------------------------------------ reading
def _verify_idx(spec: _Spec, path: Path, base: str, data: bytes, source: str) -> None:
    expected = SHA256.get(spec.name, {}).get(base)
    if expected is None:
        raise ChecksumError(f"{path}: no known SHA-256 for {spec.title} {base}; pass verify=False to load custom data")
    actual = _sha256(data)
    if actual != expected:
        raise _checksum_error(spec, path, base, expected, actual, _bad_local_hint(spec, source))


def _bad_local_hint(spec: _Spec, source: str) -> str:
    if source == "nanomlp cache":
        return (
            f"The cached copy is damaged: delete it, or run nanomlp.datasets.download('{spec.name}', force=True).\n"
            "If it is your own data on purpose, pass verify=False."
        )
    return (
        "The file was left as it is. If it is damaged, replace it with a good copy; "
        "if it is your own data on purpose, pass verify=False."
    )


def _convert(x: np.ndarray, y: np.ndarray, *, dtype, flatten: bool):
    n = x.shape[0]
    if flatten:
        x = x.reshape(n, -1)
    if dtype == np.uint8:
        x = np.array(x, dtype=np.uint8, order="C", copy=True) if (not x.flags.writeable or not x.flags.c_contiguous) else x
    else:
        out = np.empty(x.shape, dtype=np.float32)
        np.divide(x, np.float32(255.0), out=out, dtype=np.float32)  # exactly x / 255 in float32
        x = out
    return x, np.ascontiguousarray(y, dtype=np.int64)


def _read_idx(found: _Found, spec: _Spec, verify: bool, dtype, flatten: bool):
    out = []
    for split in ("train", "test"):
        arrays = []
        for base, magic, ndim in zip(SPLIT_FILES[split], (IMAGE_MAGIC, LABEL_MAGIC), (3, 1)):
            path = found.files[base]
            data = _read_bytes(path)
            if verify:
                _verify_idx(spec, path, base, data, found.source)
            arrays.append(_parse_idx(data, magic, ndim, str(path)))
            del data
        x, y = arrays
        images, labels = (found.files[b] for b in SPLIT_FILES[split])
        if x.shape[0] != y.shape[0]:
            raise DatasetFormatError(
                f"count mismatch: {images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels"
            )
        out.append(_convert(x, y, dtype=dtype, flatten=flatten))
        del x, y, arrays
    return tuple(out)


def _read_npz_arrays(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DatasetFormatError(f"{path}: a single .npy array, not an npz archive with {', '.join(_NPZ_KEYS)}")
            missing = [k for k in _NPZ_KEYS if k not in z.files]
            if missing:
                raise DatasetFormatError(
                    f"{path}: the npz lacks the key(s) {', '.join(missing)} (it has: {', '.join(z.files) or 'none'}); "
                    f"expected {', '.join(_NPZ_KEYS)}, as in Keras's mnist.npz"
                )
            arrays = {k: z[k] for k in _NPZ_KEYS}
    except DatasetError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError, ...
        hint = ""
        if any(Path(path).name.startswith(base) for base in IDX_FILES):
            hint = "; to read IDX files, pass the folder that holds the four of them"
        raise DatasetFormatError(f"{path}: not a readable npz file ({type(exc).__name__}: {exc}){hint}") from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.dtype.kind not in "ui":
            raise DatasetFormatError(f"{path}: x_{split} is {x.dtype} of shape {x.shape}, expected uint8 (N, rows, cols)")
        if y.ndim != 1 or y.dtype.kind not in "ui":
            raise DatasetFormatError(f"{path}: y_{split} is {y.dtype} of shape {y.shape}, expected integers (N,)")
        if y.shape[0] != x.shape[0]:
            raise DatasetFormatError(
                f"{path}: count mismatch: x_{split} holds {x.shape[0]} images but y_{split} holds {y.shape[0]} labels"
            )
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DatasetFormatError(f"{path}: x_{split} has values outside 0..255")
    return arrays


def _verify_npz(spec: _Spec, path: Path, arrays: dict, source: str) -> None:
    """The file's own hash when it is Keras's copy, else the hash of the IDX file each array
    would be (so an npz rebuilt from the IDX files verifies too)."""
    with open(path, "rb") as f:
        file_digest = hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") else _sha256(f.read())
    table = SHA256.get(spec.name, {})
    if spec.npz_name and table.get(spec.npz_name) == file_digest:
        return
    bad = []
    for key, base in _NPZ_TO_IDX.items():
        arr = arrays[key]
        magic = IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC
        h = hashlib.sha256(_idx_header(magic, arr.shape))
        h.update(np.ascontiguousarray(arr, dtype=np.uint8).data)
        expected = table.get(base)
        if expected is None or h.hexdigest() != expected:
            bad.append(f"  {key} (as {base}): expected {expected}, actual {h.hexdigest()}{_identify(h.hexdigest(), base)}")
    if bad:
        npz_expected = table.get(spec.npz_name) if spec.npz_name else None
        first = (
            f"  file: expected {npz_expected} (Keras's {spec.npz_name}), actual {file_digest}\n" if npz_expected else ""
        )
        raise ChecksumError(
            f"{path}: SHA-256 mismatch: this npz is not {spec.title}:\n{first}" + "\n".join(bad) + "\n"
            + _bad_local_hint(spec, source)
        )


def _read_npz(found: _Found, spec: _Spec, verify: bool, dtype, flatten: bool):
    path = found.files["npz"]
    arrays = _read_npz_arrays(path)
    if verify:
        _verify_npz(spec, path, arrays, found.source)
    out = []
    for split in ("train", "test"):
        x, y = arrays.pop(f"x_{split}"), arrays.pop(f"y_{split}")
        if x.dtype != np.uint8:
            x = x.astype(np.uint8)
        out.append(_convert(x, y, dtype=dtype, flatten=flatten))
        del x, y
    return tuple(out)


# ------------------------------------------------------------------------------------ locking
@contextlib.contextmanager
def _locked(folder: Path, title: str) -> Iterator[bool]:
    """An exclusive lock on ``folder/.lock`` for the time of a download; yields whether it is held.

    It stops two processes from downloading the same files at once, and lets the one that waited
    find the files the other cached. Every file appears by an atomic rename of a verified copy,
    so readers need no lock.
    """
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DownloadError(
            f"cannot write in the cache folder {folder} ({exc}); set NANOMLP_CACHE to a writable folder"
        ) from exc
    held = False
    try:
        try:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = f"waiting for another process that is downloading {title} into {folder}"
                log.info(message)
                if _stderr_is_tty():
                    print(message, file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        except ImportError:  # Windows
            try:
                import msvcrt

                while True:
                    try:
                        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                        held = True
                        break
                    except OSError:
                        time.sleep(0.1)
            except ImportError:
                pass
        except OSError as exc:  # a file system without locks: go on, unlocked
            log.warning("cannot lock %s (%s): going on without the lock", folder / ".lock", exc)
        yield held
    finally:
        os.close(fd)  # releases the lock


# -------------------------------------------------------------------------------- downloading
class _Progress:
    """A progress bar on stderr (when it is a terminal), or the user's callback."""

    def __init__(self, progress: ProgressArg, name: str, total: int | None):
        self.callback = progress if callable(progress) else None
        self.bar = progress is True or (progress is None and _stderr_is_tty())
        self.name, self.total, self.last = name, total, 0.0

    def __call__(self, done: int, final: bool = False) -> None:
        if self.callback is not None:
            self.callback(self.name, done, self.total)
        if not self.bar:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        if self.total:
            frac = min(done / self.total, 1.0)
            filled = int(frac * 30)
            text = f"\r{self.name}: [{'#' * filled}{'.' * (30 - filled)}] {frac:4.0%} of {_size(self.total)}"
        else:
            text = f"\r{self.name}: {_size(done)}"
        sys.stderr.write(text + ("\n" if final else ""))
        sys.stderr.flush()


def _size(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n} B"


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Hasher:
    """SHA-256 of a stream, of its decompressed content when it is gzip (as ``gzip.decompress``
    reads it: one or more members, trailing zero bytes ignored)."""

    def __init__(self, decompress: bool):
        self.want_gzip = decompress
        self.sha = hashlib.sha256()
        self.head = b""
        self.decided = False
        self.decoder = None

    def update(self, chunk: bytes) -> None:
        if not self.decided:
            self.head += chunk
            if len(self.head) < 2:
                return
            chunk, self.head, self.decided = self.head, b"", True
            if self.want_gzip and chunk[:2] == b"\x1f\x8b":
                self.decoder = zlib.decompressobj(31)
        if self.decoder is None:
            self.sha.update(chunk)
            return
        while chunk:
            if self.decoder.eof:  # a member ended: another member follows, or zero padding
                chunk = chunk.lstrip(b"\x00")
                if not chunk:
                    return
                self.decoder = zlib.decompressobj(31)
            self.sha.update(self.decoder.decompress(chunk))
            chunk = self.decoder.unused_data if self.decoder.eof else b""

    def hexdigest(self) -> str:
        if not self.decided:  # fewer than two bytes in all
            self.sha.update(self.head)
        elif self.decoder is not None and not self.decoder.eof:
            raise _MirrorFailed("not a valid gzip file: the stream ends early (truncated download)")
        return self.sha.hexdigest()


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
        return (
            f"TLS certificate verification failed ({getattr(reason, 'verify_message', reason)}); "
            "behind a proxy that inspects TLS, point SSL_CERT_FILE at its CA bundle"
        )
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason}); is there a network?"
    return f"{type(reason).__name__}: {reason}"


def _fetch(url: str, dest: Path, *, expected: str | None, decompress: bool, timeout: float,
           progress: ProgressArg, check: Callable[[Path], None] | None) -> None:
    """Download ``url`` to ``dest``: a temporary name in the same folder, verified, then renamed.

    On any failure or interruption the temporary file is deleted and ``dest`` is untouched.
    ``expected`` is the SHA-256 (of the decompressed content when ``decompress``), or None to skip
    the check; ``check`` validates the file's structure before it is renamed into place.
    """
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            # Network errors are the mirror's fault (the next one is tried); disk errors are not.
            try:
                resp = urllib.request.urlopen(request, timeout=timeout)
            except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
                raise _MirrorFailed(_describe(exc, timeout)) from exc
            with resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                hasher = _Hasher(decompress)
                bar = _Progress(progress, dest.name, total)
                done = 0
                read = getattr(resp, "read1", resp.read)  # read1: what has arrived, not a full chunk
                while True:
                    try:
                        chunk = read(_CHUNK)
                    except (HTTPException, OSError, ValueError) as exc:
                        raise _MirrorFailed(_describe(exc, timeout) + f" after {done} bytes") from exc
                    if not chunk:
                        break
                    out.write(chunk)
                    try:
                        hasher.update(chunk)
                    except zlib.error as exc:
                        raise _MirrorFailed(f"not a valid gzip file ({exc})") from exc
                    done += len(chunk)
                    bar(done)
                bar(done, final=True)
            if total is not None and done < total:
                raise _MirrorFailed(f"truncated download: got {done} of {total} bytes")
            actual = hasher.hexdigest()
            if expected is not None and actual != expected:
                what = "decompressed content" if decompress else "file"
                raise _MirrorFailed(
                    f"SHA-256 mismatch of the {what}: expected {expected}, actual {actual}{_identify(actual, '')}; "
                    "the download was deleted"
                )
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            try:
                check(tmp)
            except DatasetError as exc:
                raise _MirrorFailed(str(exc).replace(str(tmp), dest.name)) from exc
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(dest.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_parts(folder: Path) -> None:
    """Temporary files left by a process that was killed (SIGKILL, power loss): only ever
    called under the lock, so no other process is writing them."""
    for part in folder.glob(".*.part"):
        with contextlib.suppress(OSError):
            part.unlink()


def _idx_check(base: str) -> Callable[[Path], None]:
    """The structural check of an IDX file, for downloads without a known hash."""
    magic, ndim = (IMAGE_MAGIC, 3) if "images" in base else (LABEL_MAGIC, 1)

    def check(path: Path) -> None:
        _parse_idx(_read_bytes(path), magic, ndim, str(path))

    return check


def _announce(spec: _Spec, url: str, folder: Path, progress: ProgressArg) -> None:
    log.info("downloading %s from %s into %s", spec.title, url, folder)
    if progress is True or (progress is None and _stderr_is_tty()):
        print(f"nanomlp: downloading {spec.title} from {url} into {folder}", file=sys.stderr, flush=True)


def _download(spec: _Spec, *, mirrors, cache_dir, verify: bool, timeout: float, progress: ProgressArg,
              force: bool = False, searched: list | None = None) -> _Found:
    folder = cache_root(cache_dir) / spec.subdir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({exc}); set NANOMLP_CACHE to a writable folder"
        ) from exc
    urls = _mirrors(spec, mirrors)
    table = SHA256.get(spec.name, {})
    with _locked(folder, spec.title) as held:
        if held:
            _remove_stale_parts(folder)
        if not force:  # another process may have filled the cache while we waited for the lock
            found, _ = _probe_folder(folder, spec, "nanomlp cache")
            if found is not None:
                return found
        failures = []
        for mirror in urls:
            if mirror.lower().endswith(".npz"):
                if not spec.npz_name:
                    failures.append((mirror, f"{spec.title} has no npz form"))
                    continue
                dest = folder / spec.npz_name
                expected = table.get(spec.npz_name) if verify else None
                try:
                    _announce(spec, mirror, folder, progress)
                    _fetch(mirror, dest, expected=expected, decompress=False, timeout=timeout, progress=progress,
                           check=None if verify else _read_npz_arrays)
                except _MirrorFailed as exc:
                    failures.append((mirror, str(exc)))
                    continue
                return _Found("npz", {"npz": dest}, "nanomlp cache", dest)
            base_url = mirror if mirror.endswith("/") else mirror + "/"
            _announce(spec, base_url, folder, progress)
            ok = True
            for base in _FETCH_ORDER:
                dest = folder / (base + ".gz")
                if not force and _find_file(folder, base) is not None:
                    continue  # fetched earlier from another mirror, verified then
                url = base_url + base + ".gz"
                expected = table.get(base) if verify else None
                if verify and expected is None:
                    raise ChecksumError(f"no known SHA-256 for {spec.title} {base}; pass verify=False for custom data")
                try:
                    _fetch(url, dest, expected=expected, decompress=True, timeout=timeout, progress=progress,
                           check=None if verify else _idx_check(base))
                except _MirrorFailed as exc:
                    failures.append((url, str(exc)))
                    ok = False
                    break
            if ok:
                files = {base: _find_file(folder, base) for base in IDX_FILES}
                return _Found("idx", files, "nanomlp cache", folder)
    lines = "\n".join(f"  {url}: {why}" for url, why in failures)
    where = f"Searched first, in order:\n{_format_searched(searched)}\n" if searched else ""
    raise DownloadError(
        f"{spec.title} could not be downloaded: every mirror failed:\n{lines}\n"
        f"Nothing partial was left in the cache ({folder}).\n{where}"
        f"To fix it: check the network (or proxy: HTTPS_PROXY), set {spec.mirror_env} to mirrors you can reach "
        f"(space-separated; a folder URL ending in / with the four IDX .gz files"
        f"{', or a URL of ' + spec.npz_name if spec.npz_name else ''}), or copy the files by hand and pass "
        "path=FOLDER or set NANOMLP_DATA=FOLDER."
    )


# ------------------------------------------------------------------------------------ public
def _check_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise ValueError(f"dtype must be 'float32' (scaled to [0, 1]) or 'uint8' (0..255), got {dtype!r}")
    return dt


def load(name: str, path=None, *, dtype="float32", flatten: bool = True, download: bool = True, mirrors=None,
         cache_dir=None, verify: bool = True, timeout: float = DEFAULT_TIMEOUT, progress: ProgressArg = None):
    """Load the dataset ``name`` ("mnist" or "fashion-mnist"): see ``load_mnist``."""
    spec = _spec(name)
    dt = _check_dtype(dtype)
    found, searched = _locate(spec, path, cache_dir)
    if found is None:
        cache = cache_root(cache_dir) / spec.subdir
        if path is not None:
            raise DatasetNotFoundError(
                f"{spec.title} not found at the path given:\n{_format_searched(searched)}\n"
                f"Expected there: the four IDX files ({', '.join(b + '[.gz]' for b in IDX_FILES)})"
                + (f", or {spec.npz_name}" if spec.npz_name else "")
                + f", directly or in {spec.subdir}/ or {spec.torchvision}/raw/. "
                "Nothing else is searched when path= is given: leave it out to use the cache or a download."
            )
        why = None
        if _offline():
            why = "skipped: NANOMLP_OFFLINE=1"
        elif not download:
            why = "skipped: download=False"
        if why is not None:
            searched.append(("download", None, why))
            raise DatasetNotFoundError(
                f"{spec.title} not found, and not downloaded ({why.split(': ', 1)[1]}). Searched, in order:\n"
                f"{_format_searched(searched)}\n{_how_to_fix(spec, cache, why)}"
            )
        # Verified as downloaded, and again as read below (0.1 s): the files may come from
        # another process that filled the cache while this one waited for the lock.
        found = _download(spec, mirrors=mirrors, cache_dir=cache_dir, verify=verify, timeout=timeout,
                          progress=progress, searched=searched)
    reader = _read_npz if found.kind == "npz" else _read_idx
    try:
        return reader(found, spec, verify, dt, flatten)
    except (ChecksumError, DatasetFormatError) as damaged:
        # Only a cache this module filled is replaced: files the user points at are theirs.
        if found.source != "nanomlp cache" or not verify or not download or _offline():
            raise
        log.warning("%s; downloading %s again", damaged, spec.title)
        try:
            found = _download(spec, mirrors=mirrors, cache_dir=cache_dir, verify=verify, timeout=timeout,
                              progress=progress, force=True, searched=searched)
        except DownloadError as failed:
            raise type(damaged)(f"{damaged}\nDownloading it again failed too: {failed}") from failed
        reader = _read_npz if found.kind == "npz" else _read_idx
        return reader(found, spec, verify, dt, flatten)


def load_mnist(path=None, *, dtype="float32", flatten: bool = True, download: bool = True, mirrors=None,
               cache_dir=None, verify: bool = True, timeout: float = DEFAULT_TIMEOUT, progress: ProgressArg = None):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: 60,000 and 10,000 digits.

    x is float32 in [0, 1] of shape (N, 784), or uint8 with ``dtype="uint8"``, or (N, 28, 28)
    with ``flatten=False``; y is int64; all are C-contiguous and writable.

    ``path``: a folder of the four IDX files (gzip or raw), a folder holding ``mnist/`` or
    ``MNIST/raw/``, or a Keras-style ``mnist.npz``; only that place is read. Without it:
    ``$NANOMLP_DATA``, the cache, Keras's and torchvision's copies, then a download into the cache
    (unless ``download=False`` or ``NANOMLP_OFFLINE=1``) from ``mirrors`` (default:
    ``$NANOMLP_MNIST_MIRROR``, else the mirror torchvision uses, then Keras's), each request with
    ``timeout`` seconds. ``progress``: a bar on stderr (default: when it is a terminal), or a
    callable ``(file_name, bytes_done, bytes_total_or_None)``. ``verify=False`` skips the SHA-256
    check, for custom data.
    """
    return load("mnist", path, dtype=dtype, flatten=flatten, download=download, mirrors=mirrors,
                cache_dir=cache_dir, verify=verify, timeout=timeout, progress=progress)


def load_fashion_mnist(path=None, *, dtype="float32", flatten: bool = True, download: bool = True, mirrors=None,
                       cache_dir=None, verify: bool = True, timeout: float = DEFAULT_TIMEOUT,
                       progress: ProgressArg = None):
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like ``load_mnist``.

    Also found in Keras's ``~/.keras/datasets/fashion-mnist`` and in Debian's
    ``/usr/share/datasets/fashion-mnist``; downloaded from ``$NANOMLP_FASHION_MNIST_MIRROR``, else
    the folder Keras uses.
    """
    return load("fashion-mnist", path, dtype=dtype, flatten=flatten, download=download, mirrors=mirrors,
                cache_dir=cache_dir, verify=verify, timeout=timeout, progress=progress)


def download(name: str = "mnist", *, mirrors=None, cache_dir=None, verify: bool = True,
             timeout: float = DEFAULT_TIMEOUT, progress: ProgressArg = None, force: bool = False) -> Path:
    """Fill nanomlp's cache with the dataset ``name`` and return its folder.

    Nothing is fetched when the cache already holds it, unless ``force``. Raises ``DownloadError``
    when every mirror fails, and when ``NANOMLP_OFFLINE=1``.
    """
    spec = _spec(name)
    if _offline():
        raise DownloadError(f"{spec.title} not downloaded: NANOMLP_OFFLINE=1 forbids downloads (unset it to download)")
    found = _download(spec, mirrors=mirrors, cache_dir=cache_dir, verify=verify, timeout=timeout,
                      progress=progress, force=force)
    return found.location if found.kind == "idx" else found.location.parent


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset is on this machine: what ``nanomlp data info`` prints."""

    name: str
    title: str
    found: bool
    source: str | None  # "path", "NANOMLP_DATA", "nanomlp cache", "Keras cache", "torchvision folder", "system copy"
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
            "searched": [{"source": s, "path": str(p) if p else None, "status": st} for s, p, st in self.searched],
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "mirrors": list(self.mirrors),
            "offline": self.offline,
        }

    def __str__(self) -> str:
        head = (
            f"{self.title}: {self.location} ({self.source}, {self.format})"
            if self.found
            else f"{self.title}: not found" + (" (offline)" if self.offline else "; would download into " + str(self.cache_dir))
        )
        lines = [head, "  searched:"] + ["  " + line for line in _format_searched(list(self.searched)).splitlines()]
        lines.append("  mirrors: " + " ".join(self.mirrors))
        return "\n".join(lines)


def dataset_info(name: str | None = None, *, path=None, cache_dir=None):
    """Where ``name`` is found (a ``DatasetInfo``), or a dict of them for every dataset.

    Looks only: nothing is read, verified or downloaded.
    """
    if name is None:
        return {ds: dataset_info(ds, path=path, cache_dir=cache_dir) for ds in DATASETS}
    spec = _spec(name)
    found, searched = _locate(spec, path, cache_dir)
    try:
        mirrors = _mirrors(spec, None)
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
        offline=_offline(),
    )
