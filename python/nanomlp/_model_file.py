"""The model file: what ``MLP.save`` writes and ``MLP.load`` reads back, and their checks.

An ``.npz`` archive of NumPy arrays and JSON text, no pickle: loading never runs code, and a
file that is truncated, corrupted, foreign or from a newer nanomlp is refused naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import check_layer_sizes
from ._core import __version__
from ._io import atomic_write, json_default
from .losses import check_delta, check_loss

if TYPE_CHECKING:
    from .model import MLP

# What `MLP.save` writes: an .npz whose "format" entry is FILE_FORMAT, read back by `MLP.load`.
# Bump FILE_VERSION whenever an entry changes meaning; `load` refuses versions it does not know.
FILE_FORMAT = "nanomlp.MLP"
FILE_VERSION = 4
# Version 1 had no dropout and no optimizer state: read as none of either. Versions 1 and 2
# had no activations: ReLU in every hidden layer. Versions 1 to 3 had no loss: cross-entropy.
_READABLE_VERSIONS = (1, 2, 3, 4)
_REQUIRED = (
    "format",
    "format_version",
    "layer_sizes",
    "dtype",
    "seed",
    "params",
    "metadata",
    "rng_keys",
    "rng_pos",
    "rng_has_gauss",
    "rng_cached_gaussian",
)


def write_model(
    model: MLP, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None
) -> None:
    """``MLP.save``: every entry, written atomically."""
    if not np.isfinite(model.params).all():
        raise ValueError(
            f"cannot save to {path}: the parameters hold NaN or infinity (did training "
            "diverge?); such a model could not be loaded back"
        )
    meta = dict(model.metadata if metadata is None else metadata)
    meta["nanomlp_version"] = __version__
    try:
        meta_json = json.dumps(meta, default=json_default)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable: {err}") from err
    kind, keys, pos, has_gauss, cached = model.random_state.get_state()
    entries: dict[str, np.ndarray] = {
        "format": np.array(FILE_FORMAT),
        "format_version": np.array(FILE_VERSION, dtype=np.int64),
        "layer_sizes": np.array(model.layer_sizes, dtype=np.int64),
        "dtype": np.array(model.dtype.name),
        "seed": np.array(-1 if model.seed is None else model.seed, dtype=np.int64),
        "params": model.params,
        "metadata": np.array(meta_json),
        "rng_keys": np.asarray(keys, dtype=np.uint32),
        "rng_pos": np.array(pos, dtype=np.int64),
        "rng_has_gauss": np.array(has_gauss, dtype=np.int64),
        "rng_cached_gaussian": np.array(cached, dtype=np.float64),
    }
    if model.shuffle_order is not None:
        entries["shuffle_order"] = np.asarray(model.shuffle_order, dtype=np.int64)
    entries["dropout"] = np.array(model.dropout, dtype=np.float64)
    entries["activations"] = np.array(model.activations, dtype=np.str_).reshape(-1)
    entries["negative_slope"] = np.array(model.negative_slope, dtype=np.float64)
    entries["dropout_seed"] = np.array(model.dropout_seed, dtype=np.int64)
    entries["loss"] = np.array(model.loss)
    entries["delta"] = np.array(model.delta, dtype=np.float64)
    if model.optimizer_state is not None and model.optimizer_config is not None:
        entries["optimizer_config"] = np.array(json.dumps(model.optimizer_config))
        entries["optimizer_step"] = np.array(model.optimizer_state["step"], dtype=np.int64)
        for name, array in model.optimizer_state.items():
            if name != "step":
                entries[f"optimizer.{name}"] = np.asarray(array)
    with atomic_write(path, "wb") as f:
        np.savez(f, **entries)


def read_model(cls: type[MLP], path: str | os.PathLike[str]) -> MLP:
    """``MLP.load``: the checked entries of the file at ``path``, as a ``cls``."""
    # Here, not at the top: the model module imports this one.
    from .model import _check_dropout, check_activations, check_negative_slope, parameter_layout

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")

    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: {what}")

    # Opened here, not by np.load: np.load leaves its file open when the archive is bad.
    with open(path, "rb") as file:
        try:
            npz = np.load(file, allow_pickle=False)
        except Exception as err:  # BadZipFile, EOFError, OSError, pickled data refused ...
            # np.load takes any unknown bytes for a pickle: say what the user needs to hear.
            reason = "not an .npz archive" if "pickle" in str(err) else str(err)
            raise bad(f"not a nanomlp model file, or truncated or corrupted ({reason})") from err
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise bad("not a nanomlp model file (a single .npy array, not an .npz)")
        try:
            with npz:
                # Reading every entry in full makes zipfile check each one's CRC.
                z = {key: npz[key] for key in npz.files}
        except Exception as err:  # BadZipFile (bad CRC), zlib.error, EOFError, ValueError ...
            raise bad(f"truncated or corrupted ({type(err).__name__}: {err})") from err
    # NpzFile hands back raw bytes for a member that is not an .npy array.
    odd = sorted(key for key, value in z.items() if not isinstance(value, np.ndarray))
    if odd:
        raise bad(f"not a nanomlp model file ({', '.join(odd)} not NumPy arrays)")

    if "format" not in z:
        raise bad(
            f"not a nanomlp model file (no 'format' entry; it holds: {', '.join(sorted(z)) or 'nothing'})"
        )
    if _text(z["format"]) != FILE_FORMAT:
        raise bad(
            f"not a nanomlp model file (format {_text(z['format'])!r}, expected {FILE_FORMAT!r})"
        )
    missing = [key for key in _REQUIRED if key not in z]
    if missing:
        raise bad(f"incomplete model file: missing {', '.join(missing)}")
    version = _int(z["format_version"], "format_version", bad)
    if version not in _READABLE_VERSIONS:
        newer = (
            " (written by a newer nanomlp; upgrade to read it)" if version > FILE_VERSION else ""
        )
        raise bad(f"format version {version} is not one this nanomlp reads ({FILE_VERSION}){newer}")

    sizes = z["layer_sizes"]
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu":
        raise bad(
            f"layer_sizes must be a 1-D integer array, found {sizes.dtype} of shape {sizes.shape}"
        )
    try:
        layer_sizes = check_layer_sizes([int(s) for s in sizes])
    except (TypeError, ValueError) as err:
        raise bad(f"bad layer_sizes: {err}") from err
    dtype_name = _text(z["dtype"])
    if dtype_name not in ("float32", "float64"):
        raise bad(f"dtype must be 'float32' or 'float64', found {dtype_name!r}")
    params = z["params"]
    n_params = parameter_layout(layer_sizes)[-1][2]
    if params.dtype != np.dtype(dtype_name) or params.shape != (n_params,):
        raise bad(
            f"params must be {dtype_name} of shape ({n_params},) for layer sizes "
            f"{layer_sizes}, found {params.dtype} of shape {params.shape}"
        )
    if not np.isfinite(params).all():
        raise bad("params hold NaN or infinity")
    seed = _int(z["seed"], "seed", bad)
    try:
        metadata = json.loads(_text(z["metadata"]))
    except ValueError as err:
        raise bad(f"metadata is not valid JSON ({err})") from err
    if not isinstance(metadata, dict):
        raise bad(f"metadata must be a JSON object, found {type(metadata).__name__}")

    model = cls(layer_sizes, seed=None, dtype=dtype_name)
    model.params[...] = params  # in place: weights and biases are views of params
    model.seed = None if seed < 0 else seed
    keys = z["rng_keys"]
    if keys.dtype != np.uint32 or keys.shape != (624,):
        raise bad(
            f"rng_keys must be uint32 of shape (624,), found {keys.dtype} of shape {keys.shape}"
        )
    try:
        model.random_state.set_state(
            (
                "MT19937",
                keys,
                _int(z["rng_pos"], "rng_pos", bad),
                _int(z["rng_has_gauss"], "rng_has_gauss", bad),
                float(z["rng_cached_gaussian"]),
            )
        )
    except (TypeError, ValueError) as err:
        raise bad(f"bad random state ({err})") from err
    if "shuffle_order" in z:
        order = z["shuffle_order"]
        if (
            order.ndim != 1
            or order.dtype != np.int64
            or not np.array_equal(np.sort(order), np.arange(len(order)))
        ):
            raise bad("shuffle_order must be a permutation of 0..n-1 (int64)")
        model.shuffle_order = order
    model.metadata = metadata
    if "dropout" in z:
        try:
            model.dropout = _check_dropout(z["dropout"].tolist(), len(layer_sizes) - 2)
        except (TypeError, ValueError) as err:
            raise bad(f"bad dropout ({err})") from err
    if "activations" in z:
        acts = z["activations"]
        if acts.ndim != 1 or acts.dtype.kind != "U":
            raise bad(f"activations must be a 1-D array of names, found {acts.dtype}")
        try:
            model.activations = check_activations(acts.tolist(), len(layer_sizes) - 2)
        except (TypeError, ValueError) as err:
            raise bad(f"bad activations ({err})") from err
    if "negative_slope" in z:
        try:
            model.negative_slope = check_negative_slope(z["negative_slope"].item())
        except (TypeError, ValueError) as err:
            raise bad(f"bad negative_slope ({err})") from err
    if "loss" in z:
        try:
            model.loss = check_loss(_text(z["loss"]))
            model.delta = check_delta(z["delta"].item() if "delta" in z else 1.0)
        except (TypeError, ValueError) as err:
            raise bad(f"bad loss ({err})") from err
    if "dropout_seed" in z:
        model.dropout_seed = _int(z["dropout_seed"], "dropout_seed", bad)
    if "optimizer_config" in z:
        model.optimizer_config, model.optimizer_state = _read_optimizer(z, n_params, bad)
    return model


def _text(entry: np.ndarray) -> str:
    return str(entry[()]) if entry.dtype.kind == "U" and entry.ndim == 0 else repr(entry)


def _int(entry: np.ndarray, name: str, bad: Any) -> int:
    if entry.ndim != 0 or entry.dtype.kind not in "iu":
        raise bad(f"{name} must be an integer scalar, found {entry.dtype} of shape {entry.shape}")
    return int(entry)


def _read_optimizer(z: dict[str, np.ndarray], n_params: int, bad: Any) -> tuple[dict, dict]:
    """The optimizer settings and state a model file holds, checked against each other."""
    from .optim import Optimizer  # here, not at the top: optim imports the model module

    try:
        config = json.loads(_text(z["optimizer_config"]))
        optimizer = Optimizer.from_config(config)
        state: dict[str, Any] = {
            key[len("optimizer.") :]: value
            for key, value in z.items()
            if key.startswith("optimizer.")
        }
        state["step"] = (
            _int(z["optimizer_step"], "optimizer_step", bad) if "optimizer_step" in z else -1
        )
        optimizer.check_state(state, n_params, z["params"].dtype)
    except (TypeError, ValueError) as err:
        raise bad(f"bad optimizer state ({err})") from err
    return optimizer.get_config(), state
