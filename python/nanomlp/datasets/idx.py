"""IDX files (LeCun's format of MNIST), raw or gzip: header checks, parsing, reading a dataset."""

from __future__ import annotations

import gzip
import math
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from .arrays import Split, convert
from .checksums import verify_file
from .errors import DatasetError, DatasetFormatError
from .specs import SPLIT_FILES, Spec

IMAGE_MAGIC = 0x00000803  # uint8, 3-D: (images, rows, columns)
LABEL_MAGIC = 0x00000801  # uint8, 1-D: (labels,)


def decompress(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFormatError(
            f"{name}: not a valid gzip file ({exc}); it is damaged or incomplete: delete it or replace it with a good copy"
        ) from exc


def read_bytes(path: Path) -> bytes:
    """The whole file, decompressed if it is gzip (told by its magic bytes, not by its name)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if data[:2] == b"\x1f\x8b":
        data = decompress(data, str(path))
    return data


def unusable(shape: Sequence[int], kind: str) -> str | None:
    """Why no dataset has ``kind`` ("images" or "labels") of this shape, or None when one may:
    a split holds at least one item, an image at least one row and one column."""
    if kind == "images" and 0 in shape[1:]:
        return f"images of {shape[1]} x {shape[2]} pixels; an image needs at least one row and one column"
    if shape[0] == 0:
        return f"no {kind}; each split of a dataset needs at least one"
    return None


def parse_idx(data: bytes, magic: int, ndim: int, name: str) -> np.ndarray:
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
        other = {IMAGE_MAGIC: " (that of IDX images)", LABEL_MAGIC: " (that of IDX labels)"}.get(
            got, ""
        )
        raise DatasetFormatError(
            f"{name}: wrong magic number 0x{got:08X}{other}, expected 0x{magic:08X} for IDX {kind} "
            f"(uint8, {ndim}-D): not an IDX {kind} file, or a mix-up of file names"
        )
    dims = tuple(int(d) for d in head[1:])
    shown = " x ".join(map(str, dims))
    expected = math.prod(dims)  # Python ints: np.prod would wrap at 2**63 and let a bad header pass
    if math.prod(d for d in dims if d) > sys.maxsize:  # even with no data, no array has that shape
        raise DatasetFormatError(
            f"{name}: corrupted header: dimensions {shown} are beyond any array's size"
        )
    why = unusable(dims, kind)
    if why is not None:
        raise DatasetFormatError(f"{name}: bad header: dimensions {shown} declare {why}")
    payload = len(data) - header
    if payload != expected:
        what = "truncated" if payload < expected else "too long"
        raise DatasetFormatError(
            f"{name}: {what}: its header says {shown} = {expected} bytes of data, but the file holds {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def idx_header(magic: int, dims: Sequence[int]) -> bytes:
    return np.array([magic, *dims], dtype=">u4").tobytes()


def magic_and_ndim(base: str) -> tuple[int, int]:
    """The magic number and dimensions of the IDX file ``base`` ("...-images-..." or labels)."""
    return (IMAGE_MAGIC, 3) if "images" in base else (LABEL_MAGIC, 1)


def structure_check(base: str) -> Callable[[Path], None]:
    """A check that a file is a well-formed IDX file ``base``: for downloads without a known hash."""
    magic, ndim = magic_and_ndim(base)

    def check(path: Path) -> None:
        parse_idx(read_bytes(path), magic, ndim, str(path))

    return check


def read_idx(
    files: Mapping[str, Path],
    spec: Spec,
    source: str,
    *,
    verify: bool,
    dtype: np.dtype,
    flatten: bool,
) -> tuple[Split, Split]:
    """The train and test splits from the four IDX files, one split at a time to bound memory."""
    out = []
    for split in ("train", "test"):
        arrays = []
        for base in SPLIT_FILES[split]:
            path = files[base]
            data = read_bytes(path)
            if verify:
                verify_file(spec, path, base, data, source)
            arrays.append(parse_idx(data, *magic_and_ndim(base), str(path)))
            del data
        x, y = arrays
        images, labels = (files[b] for b in SPLIT_FILES[split])
        if x.shape[0] != y.shape[0]:
            raise DatasetFormatError(
                f"count mismatch: {images} holds {x.shape[0]} images but {labels} holds {y.shape[0]} labels"
            )
        out.append(convert(x, y, dtype=dtype, flatten=flatten))
        del x, y, arrays
    return out[0], out[1]
