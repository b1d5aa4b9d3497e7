"""The arrays a loader returns: x as float32 in [0, 1] or uint8, flat or 2-D; y as int64."""

from __future__ import annotations

import numpy as np

Split = tuple[np.ndarray, np.ndarray]  # (x, y)


def check_dtype(dtype: object) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise ValueError(
            f"dtype must be 'float32' (scaled to [0, 1]) or 'uint8' (0..255), got {dtype!r}"
        )
    return dt


def convert(x: np.ndarray, y: np.ndarray, *, dtype: np.dtype, flatten: bool) -> Split:
    """Images (N, rows, cols) of uint8 and labels (N,) as C-contiguous, writable arrays."""
    if flatten:
        x = x.reshape(x.shape[0], x.shape[1] * x.shape[2])
    if dtype == np.uint8:
        if not x.flags.writeable or not x.flags.c_contiguous:
            x = np.array(x, dtype=np.uint8, order="C", copy=True)
    else:
        out = np.empty(x.shape, dtype=np.float32)
        np.divide(x, np.float32(255.0), out=out, dtype=np.float32)  # exactly x / 255 in float32
        x = out
    return x, np.ascontiguousarray(y, dtype=np.int64)
