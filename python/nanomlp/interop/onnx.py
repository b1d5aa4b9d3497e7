"""ONNX export: the network as one Gemm per layer, its activation, and its output layer.

The file loads in onnxruntime 1.13 (October 2022) and every later release: it is stamped with
``OPSET`` 17 and ``IR_VERSION`` 8, the pair onnxruntime 1.13 introduced. Higher opsets may be
asked for (``opset=``), up to what the installed ``onnx`` package knows.

The graph reads ``input`` (float32, ``[batch, n_features]``, the batch dimension dynamic) and
writes ``output`` (float32, ``[batch, n_outputs]``): the probabilities (softmax for
cross-entropy, a sigmoid per label for binary cross-entropy), the values of a regression, or
with ``probabilities=False`` the logits. Each layer is ``Gemm(x, W, b, transB=1)`` with ``W``
stored ``[out, in]``, as PyTorch's exporter writes it. GELU is written with ``Erf`` and
GELU (tanh) with its tanh formula, since the ``Gelu`` operator only exists from opset 20.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import check_int
from ._common import check_target, require, write_bytes

if TYPE_CHECKING:
    from ..model import MLP

__all__ = ["OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME", "to_onnx"]

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "output"
# Gelu is an operator from opset 20; below it the formula is spelled out.
_MIN_OPSET = 13


class _Graph:
    """Nodes and initializers, each name made unique by a counter."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, value: np.ndarray | float, stem: str) -> str:
        name = self.name(stem)
        array = np.asarray(value, dtype=np.float32)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, output: str | None = None, **attrs):
        out = output or self.name(stem)
        self.nodes.append(
            self.helper.make_node(op, inputs, [out], name=self.name(op.lower()), **attrs)
        )
        return out


def _activation(graph: _Graph, name: str, x: str, negative_slope: float) -> str:
    if name == "identity":
        return x
    if name == "relu":
        return graph.node("Relu", [x], "relu")
    if name == "leaky_relu":
        return graph.node("LeakyRelu", [x], "leaky_relu", alpha=float(negative_slope))
    if name == "tanh":
        return graph.node("Tanh", [x], "tanh")
    if name == "sigmoid":
        return graph.node("Sigmoid", [x], "sigmoid")
    if name == "gelu":  # 0.5·x·(1 + erf(x/√2))
        scaled = graph.node("Mul", [x, graph.constant(1 / math.sqrt(2), "inv_sqrt2")], "gelu")
        inner = graph.node("Erf", [scaled], "gelu")
    else:  # gelu_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        cube = graph.node("Mul", [graph.node("Mul", [x, x], "gelu"), x], "gelu")
        cubic = graph.node("Mul", [cube, graph.constant(0.044715, "kappa")], "gelu")
        beta = graph.constant(math.sqrt(2 / math.pi), "beta")
        inner = graph.node(
            "Tanh",
            [graph.node("Mul", [graph.node("Add", [x, cubic], "gelu"), beta], "gelu")],
            "gelu",
        )
    one_plus = graph.node("Add", [inner, graph.constant(1.0, "one")], "gelu")
    half_x = graph.node("Mul", [x, graph.constant(0.5, "half")], "gelu")
    return graph.node("Mul", [half_x, one_plus], "gelu")


def build_onnx(model: MLP, opset: int = OPSET, probabilities: bool = True) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (see ``to_onnx``), checked by ``onnx.checker``.

    Parameters
    ----------
    model : MLP
        The network to export.
    opset : int, default 17
        The ONNX opset to stamp, at least 13.
    probabilities : bool, default True
        Whether ``output`` holds the output layer's activation (else the logits).

    Returns
    -------
    onnx.ModelProto
        The model, in memory.

    Raises
    ------
    ImportError
        Without the ``onnx`` package (``pip install "nanomlp[onnx]"``).
    ValueError
        For an opset below 13 or beyond the installed ``onnx``'s, or parameters that are
        not finite.

    Examples
    --------
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.onnx import build_onnx
    >>> proto = build_onnx(MLP((4, 3, 2)))
    >>> [node.op_type for node in proto.graph.node]
    ['Gemm', 'Relu', 'Gemm', 'Softmax']
    """
    onnx = require("onnx", "onnx")
    opset = check_int(opset, "opset", _MIN_OPSET)
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ValueError(f"opset must be at most {newest} (the installed onnx's), got {opset}")
    if not isinstance(probabilities, (bool, np.bool_)):
        raise TypeError(f"probabilities must be True or False, got {probabilities!r}")
    if not np.isfinite(model.params).all():
        raise ValueError("cannot export: the parameters hold NaN or infinity")
    from onnx import TensorProto, helper, numpy_helper

    graph = _Graph(helper, numpy_helper)
    x = INPUT_NAME
    last = len(model.weights) - 1
    output = model.output_activation if probabilities else "identity"
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        weight = graph.constant(np.ascontiguousarray(w.T), f"{2 * layer}.weight")
        bias = graph.constant(b, f"{2 * layer}.bias")
        done = layer == last and output == "identity"
        x = graph.node("Gemm", [x, weight, bias], "linear", OUTPUT_NAME if done else None, transB=1)
        if layer < last:
            x = _activation(graph, model.activations[layer], x, model.negative_slope)
    if output == "softmax":
        graph.node("Softmax", [x], "softmax", OUTPUT_NAME, axis=1)
    elif output == "sigmoid":
        graph.node("Sigmoid", [x], "sigmoid", OUTPUT_NAME)

    from .. import __version__

    what = "logits" if output == "identity" and model.output_activation != "identity" else output
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "nanomlp_mlp",
            [
                helper.make_tensor_value_info(
                    INPUT_NAME, TensorProto.FLOAT, ["batch", model.n_features]
                )
            ],
            [
                helper.make_tensor_value_info(
                    OUTPUT_NAME, TensorProto.FLOAT, ["batch", model.n_outputs]
                )
            ],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="nanomlp",
        producer_version=__version__,
        ir_version=IR_VERSION,
        doc_string=f"nanomlp MLP {list(model.layer_sizes)}, output: {what}",
    )
    helper.set_model_props(
        proto,
        {
            "layer_sizes": ",".join(map(str, model.layer_sizes)),
            "activations": ",".join(model.activations),
            "loss": model.loss,
            "output": "logits" if what == "logits" else model.output_activation,
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(
    model: MLP, path: str | os.PathLike[str], opset: int = OPSET, probabilities: bool = True
) -> None:
    """Write ``model`` as an ONNX file, atomically.

    Parameters
    ----------
    model : MLP
        The network to export (a float64 model is exported in float32).
    path : str or os.PathLike
        The ``.onnx`` file to write; its folder must exist.
    opset : int, default 17
        The ONNX opset (``OPSET``: loads in onnxruntime >= 1.13); at least 13.
    probabilities : bool, default True
        ``output`` holds the probabilities (or a regression's values); False: the logits.

    Returns
    -------
    None

    Raises
    ------
    ImportError
        Without the ``onnx`` package (``pip install "nanomlp[onnx]"``).
    ValueError
        For a bad opset, non-finite parameters, or a path whose folder does not exist.
    OSError
        When the file cannot be written (the previous file, if any, is left intact).

    Examples
    --------
    >>> import os, tempfile
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.onnx import to_onnx
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> to_onnx(MLP((4, 3, 2)), path)
    >>> os.path.getsize(path) > 0
    True
    """
    target = check_target(path)
    write_bytes(
        target, build_onnx(model, opset=opset, probabilities=probabilities).SerializeToString()
    )
