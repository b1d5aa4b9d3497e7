"""safetensors files under PyTorch's names: ``MLP.save("m.safetensors")`` and back.

The tensors are those of the equivalent ``torch.nn.Sequential`` of Linear layers, each hidden
one followed by its activation module (``nn.Identity`` for the identity, so the Linear layers
are always modules 0, 2, 4, …): ``0.weight`` ``[out, in]``, ``0.bias``, ``2.weight``, … in the
model's dtype. The header's metadata holds the architecture (``layer_sizes``, ``activations``,
``negative_slope``, ``loss``, ``output``, ``delta``, as JSON text) and ``nanomlp_version``, so
``MLP.load`` rebuilds the model to the bit; the random stream, the optimizer state and the
model's free-form metadata stay in nanomlp's own ``.npz`` only.

Loading parses the file with the ``safetensors`` package (no code runs, no pickle) and refuses,
with a ValueError naming the file, a truncated file, a header that lies about shapes or
offsets, missing or extra tensors, another dtype than float32/float64 and NaN or infinity.
A file without nanomlp's metadata (saved from PyTorch) loads given ``activation=``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..losses import OUTPUTS, check_loss
from ._common import build_model, check_target, linear_layers, require, write_bytes

if TYPE_CHECKING:
    from ..model import MLP

__all__ = ["FORMAT", "save_safetensors", "load_safetensors"]

FORMAT = "nanomlp.MLP"
_FORMAT_VERSION = "1"
# The header is JSON of at most this size: safetensors' own limit (100 MB).
_MAX_HEADER = 100_000_000


def save_safetensors(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s weights and biases as a safetensors file, atomically.

    Parameters
    ----------
    model : MLP
        The network to save.
    path : str or os.PathLike
        The file to write (its folder must exist).

    Returns
    -------
    None

    Raises
    ------
    ImportError
        Without the ``safetensors`` package (``pip install "nanomlp[safetensors]"``).
    ValueError
        If the parameters hold NaN or infinity, or the folder does not exist.
    OSError
        When the file cannot be written (the previous file, if any, is left intact).

    Examples
    --------
    >>> import os, tempfile
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.safetensors import save_safetensors, load_safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> model = MLP((4, 3, 2), activation="tanh")
    >>> save_safetensors(model, path)
    >>> (load_safetensors(path).params == model.params).all()
    np.True_
    """
    st = require("safetensors.numpy", "safetensors")
    from .. import __version__

    target = check_target(path)
    if not np.isfinite(model.params).all():
        raise ValueError(
            f"cannot save to {target}: the parameters hold NaN or infinity (did training diverge?)"
        )
    tensors = {}
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        tensors[f"{2 * layer}.weight"] = np.ascontiguousarray(w.T)
        tensors[f"{2 * layer}.bias"] = np.ascontiguousarray(b)
    metadata = {
        "format": FORMAT,
        "format_version": _FORMAT_VERSION,
        "layer_sizes": json.dumps(list(model.layer_sizes)),
        "activations": json.dumps(list(model.activations)),
        "negative_slope": repr(float(model.negative_slope)),
        "loss": model.loss,
        "output": model.output_activation,
        "delta": repr(float(model.delta)),
        "nanomlp_version": __version__,
    }
    write_bytes(target, st.save(tensors, metadata=metadata))


def load_safetensors(
    path: str | os.PathLike[str],
    activation: Any = None,
    loss: str | None = None,
    negative_slope: float | None = None,
) -> MLP:
    """Read an ``MLP`` from a safetensors file with PyTorch's ``nn.Sequential`` names.

    Parameters
    ----------
    path : str or os.PathLike
        The file: written by ``save_safetensors`` (``MLP.save``), or by PyTorch
        (``safetensors.torch.save_file(net.state_dict(), path)``) for an ``nn.Sequential`` of
        Linear layers and activations.
    activation : str or sequence of str, optional
        The hidden activations; required for a file without nanomlp's metadata, and
        overriding the metadata's when given.
    loss : str, optional
        The model's loss (its output layer); default: the metadata's, else "cross_entropy".
    negative_slope : float, optional
        leaky_relu's slope; default: the metadata's, else 0.01.

    Returns
    -------
    MLP
        The model, its parameters equal to the file's to the bit (``seed`` None).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ImportError
        Without the ``safetensors`` package (``pip install "nanomlp[safetensors]"``).
    ValueError
        Naming the file, for one that is truncated, corrupted, lies about its tensors,
        misses tensors or holds extra ones, holds another dtype than float32/float64 or
        non-finite values, or lacks the activations.

    Examples
    --------
    >>> import os, tempfile
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.safetensors import save_safetensors, load_safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> save_safetensors(MLP((4, 3, 2), loss="mse"), path)
    >>> load_safetensors(path)
    MLP(layer_sizes=(4, 3, 2), seed=None, dtype='float32', loss='mse')
    """
    st = require("safetensors.numpy", "safetensors")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such safetensors file")
    data = path.read_bytes()
    source = str(path)
    metadata = _header_metadata(data, source)
    try:
        tensors = st.load(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # SafetensorError, and pyo3's PanicException (a BaseException)
        raise ValueError(
            f"{source}: not a valid safetensors file, or truncated or corrupted ({err})"
        ) from err
    indices, weights, biases = linear_layers(tensors, source)
    ours = metadata.get("format") == FORMAT
    if ours:
        expected = [2 * i for i in range(len(indices))]
        if indices != expected:
            raise ValueError(f"{source}: Linear layers at modules {indices}, expected {expected}")
        sizes = [int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights)]
        if _json(metadata, "layer_sizes", source) != sizes:
            raise ValueError(
                f"{source}: the metadata's layer_sizes {metadata.get('layer_sizes')} do not "
                f"match the tensors' {sizes}"
            )
    if activation is None:
        if not ours:
            raise ValueError(
                f"{source} has no nanomlp metadata: say which activation its hidden layers "
                "use (activation=..., or 'nanomlp import --activation NAME')"
            )
        activation = _json(metadata, "activations", source)
    if loss is None:
        loss = metadata.get("loss", "cross_entropy") if ours else "cross_entropy"
    if negative_slope is None:
        negative_slope = float(metadata.get("negative_slope", 0.01)) if ours else 0.01
    try:
        model = build_model(weights, biases, activation, check_loss(loss), negative_slope)
        if ours and "delta" in metadata:
            from ..losses import check_delta

            model.delta = check_delta(float(metadata["delta"]))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from err
    if ours and metadata.get("output", OUTPUTS[model.loss]) != OUTPUTS[model.loss]:
        raise ValueError(
            f"{source}: the metadata's output {metadata['output']!r} is not that of "
            f"loss {model.loss!r} ({OUTPUTS[model.loss]!r})"
        )
    return model


def _header_metadata(data: bytes, source: str) -> dict[str, str]:
    """The header's ``__metadata__`` (empty if none); ValueError for a header that cannot be
    read at all (the tensors' offsets are checked by the ``safetensors`` package)."""
    if len(data) < 8:
        raise ValueError(f"{source}: not a safetensors file (only {len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(len(data) - 8, _MAX_HEADER):
        raise ValueError(
            f"{source}: truncated or not a safetensors file (header of {size} bytes, "
            f"{len(data) - 8} in the file)"
        )
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{source}: not a safetensors file (header is not JSON: {err})") from err
    if not isinstance(header, dict):
        raise ValueError(f"{source}: not a safetensors file (header is not a JSON object)")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{source}: __metadata__ must map names to strings")
    return metadata


def _json(metadata: dict[str, str], key: str, source: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (KeyError, ValueError) as err:
        raise ValueError(f"{source}: metadata entry {key!r} is missing or not JSON") from err
