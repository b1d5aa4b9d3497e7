"""What the interop modules share: optional imports and the torch.nn.Sequential naming."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_write

if TYPE_CHECKING:
    from ..model import MLP


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or ImportError saying which extra of nanomlp installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f'this needs the {module.split(".")[0]!r} package: pip install "nanomlp[{extra}]"'
        ) from err


def sequential_names(n_layers: int) -> list[tuple[str, str]]:
    """("i.weight", "i.bias") of each Linear of the equivalent ``torch.nn.Sequential``.

    Every hidden layer is a Linear followed by one activation module (``nn.Identity`` for the
    identity), so the Linear layers are the modules 0, 2, 4, …; the output activation, if
    any, comes after the last Linear and holds no tensors.
    """
    return [(f"{2 * i}.weight", f"{2 * i}.bias") for i in range(n_layers)]


def describe_sizes(sizes: Sequence[int]) -> str:
    return "-".join(str(s) for s in sizes)


def check_target(path: Any) -> str:
    """``path`` as a string, refused (ValueError) when its folder is missing or it is a folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"path {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder, not a file")
    return path


def write_bytes(path: str, data: bytes) -> None:
    """``data`` to ``path``, atomically; an OSError names ``path`` and says what was kept."""
    try:
        with atomic_write(path, "wb") as f:
            f.write(data)
    except OSError as err:
        if path in str(err):
            raise
        # The temporary file could not even be created (a read-only or foreign folder).
        raise type(err)(err.errno, f"cannot write {path} ({err.strerror or err})") from err


_LINEAR = re.compile(r"^(\d+)\.(weight|bias)$")


def linear_layers(
    tensors: Mapping[str, np.ndarray], source: str
) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """The Linear layers of a ``torch.nn.Sequential``'s state dict, in module order.

    Returns the module indices, the weights ``[out, in]`` and the biases ``[out]``; every
    other entry, a weight without its bias, a dtype other than float32 or float64, a shape
    that does not chain or a value that is not finite is a ValueError naming ``source``.
    """
    found: dict[int, dict[str, np.ndarray]] = {}
    extra = []
    for name, value in tensors.items():
        match = _LINEAR.match(str(name))
        if match is None:
            extra.append(str(name))
        else:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if extra:
        raise ValueError(
            f"{source}: unexpected tensors {', '.join(sorted(extra))} (expected only "
            "'<index>.weight' and '<index>.bias' of Linear layers)"
        )
    if not found:
        raise ValueError(f"{source}: no Linear layer ('0.weight', '0.bias', ...) found")
    indices = sorted(found)
    weights, biases = [], []
    dtypes = set()
    for index in indices:
        parts = found[index]
        for part in ("weight", "bias"):
            if part not in parts:
                raise ValueError(f"{source}: tensor '{index}.{part}' is missing")
        w, b = np.asarray(parts["weight"]), np.asarray(parts["bias"])
        for name, array, ndim in ((f"{index}.weight", w, 2), (f"{index}.bias", b, 1)):
            if array.dtype not in (np.float32, np.float64):
                raise ValueError(
                    f"{source}: tensor '{name}' is {array.dtype}, expected float32 or float64"
                )
            if array.ndim != ndim or 0 in array.shape:
                raise ValueError(
                    f"{source}: tensor '{name}' has shape {list(array.shape)}, expected "
                    f"{'[out, in]' if ndim == 2 else '[out]'}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{source}: tensor '{name}' holds NaN or infinity")
            dtypes.add(array.dtype)
        if b.shape[0] != w.shape[0]:
            raise ValueError(
                f"{source}: '{index}.bias' has {b.shape[0]} values for the {w.shape[0]} "
                f"outputs of '{index}.weight'"
            )
        if weights and w.shape[1] != weights[-1].shape[0]:
            raise ValueError(
                f"{source}: '{index}.weight' takes {w.shape[1]} inputs, but the layer "
                f"before it gives {weights[-1].shape[0]}"
            )
        weights.append(w)
        biases.append(b)
    if len(dtypes) > 1:
        raise ValueError(f"{source}: the tensors mix float32 and float64")
    return indices, weights, biases


def build_model(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activation: Any,
    loss: str,
    negative_slope: float,
    dropout: Any = 0.0,
) -> MLP:
    """An ``MLP`` holding the given weights ``[out, in]`` and biases, bit for bit."""
    from ..model import MLP

    sizes = [int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights)]
    dtype = np.asarray(weights[0]).dtype
    model = MLP(
        sizes,
        seed=None,
        dtype=dtype,
        activation=activation,
        loss=loss,
        negative_slope=negative_slope,
        dropout=dropout,
    )
    for layer, (w, b) in enumerate(zip(weights, biases)):
        model.weights[layer][...] = np.asarray(w, dtype=dtype).T
        model.biases[layer][...] = np.asarray(b, dtype=dtype)
    return model
