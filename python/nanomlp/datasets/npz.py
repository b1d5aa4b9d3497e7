"""Keras's single-file form of MNIST (``mnist.npz``: x_train, y_train, x_test, y_test)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .arrays import Split, convert
from .checksums import SHA256, file_sha256, identify, local_hint
from .errors import ChecksumError, DatasetError, DatasetFormatError
from .idx import IMAGE_MAGIC, LABEL_MAGIC, idx_header, unusable
from .specs import IDX_FILES, Spec

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
#: The IDX file each array would be: an npz verifies against those files' hashes too.
NPZ_TO_IDX = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The four arrays, checked for keys, dtypes, shapes and counts."""
    try:
        # Opened here, not by np.load: np.load leaves its file open when the archive is bad.
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DatasetFormatError(
                    f"{path}: a single .npy array, not an npz archive with {', '.join(NPZ_KEYS)}"
                )
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise DatasetFormatError(
                    f"{path}: the npz lacks the key(s) {', '.join(missing)} (it has: {', '.join(z.files) or 'none'}); "
                    f"expected {', '.join(NPZ_KEYS)}, as in Keras's mnist.npz"
                )
            arrays = {k: z[k] for k in NPZ_KEYS}
    except DatasetError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError, ...
        hint = ""
        if any(Path(path).name.startswith(base) for base in IDX_FILES):
            hint = "; to read IDX files, pass the folder that holds the four of them"
        raise DatasetFormatError(
            f"{path}: not a readable npz file ({type(exc).__name__}: {exc}){hint}"
        ) from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.dtype.kind not in "ui":
            raise DatasetFormatError(
                f"{path}: x_{split} is {x.dtype} of shape {x.shape}, expected uint8 (N, rows, cols)"
            )
        why = unusable(x.shape, "images")
        if why is not None:
            raise DatasetFormatError(f"{path}: x_{split} of shape {x.shape} holds {why}")
        if y.ndim != 1 or y.dtype.kind not in "ui":
            raise DatasetFormatError(
                f"{path}: y_{split} is {y.dtype} of shape {y.shape}, expected integers (N,)"
            )
        if y.shape[0] != x.shape[0]:
            raise DatasetFormatError(
                f"{path}: count mismatch: x_{split} holds {x.shape[0]} images but y_{split} holds {y.shape[0]} labels"
            )
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DatasetFormatError(f"{path}: x_{split} has values outside 0..255")
    return arrays


def verify_npz(spec: Spec, path: Path, arrays: dict[str, np.ndarray], source: str) -> None:
    """The file's own hash when it is Keras's copy, else the hash of the IDX file each array
    would be (so an npz rebuilt from the IDX files verifies too)."""
    file_digest = file_sha256(path)
    table = SHA256.get(spec.name, {})
    if spec.npz_name and table.get(spec.npz_name) == file_digest:
        return
    bad = []
    for key, base in NPZ_TO_IDX.items():
        arr = arrays[key]
        magic = IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC
        h = hashlib.sha256(idx_header(magic, arr.shape))
        h.update(np.ascontiguousarray(arr, dtype=np.uint8).data)
        expected = table.get(base)
        if expected is None or h.hexdigest() != expected:
            bad.append(
                f"  {key} (as {base}): expected {expected}, actual {h.hexdigest()}{identify(h.hexdigest())}"
            )
    if bad:
        npz_expected = table.get(spec.npz_name) if spec.npz_name else None
        first = (
            f"  file: expected {npz_expected} (Keras's {spec.npz_name}), actual {file_digest}\n"
            if npz_expected
            else ""
        )
        raise ChecksumError(
            f"{path}: SHA-256 mismatch: this npz is not {spec.title}:\n{first}"
            + "\n".join(bad)
            + "\n"
            + local_hint(spec, source)
        )


def read_npz(
    path: Path, spec: Spec, source: str, *, verify: bool, dtype: np.dtype, flatten: bool
) -> tuple[Split, Split]:
    """The train and test splits of an npz file."""
    arrays = read_npz_arrays(path)
    if verify:
        verify_npz(spec, path, arrays, source)
    out = []
    for split in ("train", "test"):
        x, y = arrays.pop(f"x_{split}"), arrays.pop(f"y_{split}")
        if x.dtype != np.uint8:
            x = x.astype(np.uint8)
        out.append(convert(x, y, dtype=dtype, flatten=flatten))
        del x, y
    return out[0], out[1]
