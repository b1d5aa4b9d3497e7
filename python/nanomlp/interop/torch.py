"""PyTorch networks in and out: ``from_torch`` and ``to_torch``.

A network comes in as an ``nn.Sequential`` of ``Linear`` layers, each hidden one followed by
one supported activation module (``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``,
``GELU(approximate="none" | "tanh")``, ``Identity``, or none: the identity), optionally a
``Dropout`` after it (its rate becomes the layer's training dropout; at inference it is the
identity, as in PyTorch), and optionally a final ``Softmax``/``LogSoftmax`` (then
``loss="cross_entropy"``) or ``Sigmoid`` (then ``"binary_cross_entropy"``). Anything else (a
convolution, a batch norm, an unknown activation) is a ValueError naming the module's index
and type. A ``state_dict`` alone says nothing of the activations: ``activation=`` is required.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..losses import OUTPUTS
from ._common import build_model, linear_layers, require

if TYPE_CHECKING:
    from ..model import MLP

__all__ = ["from_torch", "to_torch"]

# Module class name → the hidden activation it is (GELU: by its ``approximate``).
_ACTIVATION_MODULES = {
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Identity": "identity",
}
_OUTPUT_MODULES = {"Softmax": "cross_entropy", "LogSoftmax": "cross_entropy"}


def _state_dict_arrays(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in state.items():
        if hasattr(value, "detach"):  # a torch.Tensor
            value = value.detach().cpu()
            if str(value.dtype) not in ("torch.float32", "torch.float64"):
                raise ValueError(
                    f"state_dict entry {name!r} is {value.dtype}, expected float32 or float64"
                )
            value = value.numpy()
        arrays[str(name)] = np.asarray(value)
    return arrays


def _read_sequential(module: Any, loss: str | None) -> tuple[dict, list, list, str | None, float]:
    """The Linear layers' tensors, activations, dropout rates, loss and slope of a Sequential."""
    nn = require("torch.nn", "torch")
    modules = list(module.named_children())
    linear_at = [i for i, (_, m) in enumerate(modules) if isinstance(m, nn.Linear)]
    if not linear_at:
        raise ValueError("the Sequential holds no Linear layer")
    activations, dropout, slopes = [], [], set()
    found_loss = None
    # What follows the current Linear layer: its activation and its dropout rate.
    activations_pending: list[str] = []
    rate_pending = 0.0
    for position, (name, m) in enumerate(modules):
        kind = type(m).__name__
        where = f"layer {name} ({kind})"
        if isinstance(m, nn.Linear):
            if m.bias is None:
                raise ValueError(f"{where}: a Linear without bias is not supported")
            if position != linear_at[0]:
                activations.append(activations_pending.pop() if activations_pending else "identity")
                dropout.append(rate_pending)
            activations_pending, rate_pending = [], 0.0
            continue
        if position < linear_at[0]:
            raise ValueError(f"{where}: only a Linear layer may come first")
        last = position > linear_at[-1]
        if last and kind in ("Softmax", "LogSoftmax", "Sigmoid") and position == len(modules) - 1:
            dim = getattr(m, "dim", None)
            if kind != "Sigmoid" and dim not in (None, 1, -1):
                raise ValueError(f"{where}: the output layer must act over dim 1, not {dim}")
            found_loss = _OUTPUT_MODULES.get(kind, "binary_cross_entropy")
            continue
        if last:
            raise ValueError(
                f"{where}: after the last Linear only Softmax, LogSoftmax or Sigmoid may come"
            )
        if isinstance(m, nn.Dropout) and type(m) is nn.Dropout:
            if rate_pending:
                raise ValueError(f"{where}: two Dropout modules between Linear layers")
            if not activations_pending:
                activations_pending.append("identity")
            rate_pending = float(m.p)
            continue
        if kind == "GELU":
            act = {"none": "gelu", "tanh": "gelu_tanh"}[m.approximate]
        elif kind in _ACTIVATION_MODULES and type(m).__module__.startswith("torch.nn"):
            act = _ACTIVATION_MODULES[kind]
        else:
            raise ValueError(
                f"{where} is not supported: nanomlp takes Linear layers, the activations "
                "ReLU, LeakyReLU, Tanh, Sigmoid, GELU and Identity, Dropout, and a final "
                "Softmax or Sigmoid"
            )
        if activations_pending or rate_pending:
            raise ValueError(f"{where}: one activation per hidden layer, before any Dropout")
        if act == "leaky_relu":
            slopes.add(float(m.negative_slope))
        activations_pending.append(act)
    if len(slopes) > 1:
        raise ValueError(f"the LeakyReLU layers have different slopes {sorted(slopes)}")
    if loss is not None and found_loss is not None and loss != found_loss:
        raise ValueError(
            f"loss={loss!r}, but the Sequential ends with a {OUTPUTS[found_loss]} output "
            f"({found_loss!r})"
        )
    state = {k: v for k, v in module.state_dict().items()}
    slope = slopes.pop() if slopes else 0.01
    return state, activations, dropout, loss or found_loss, slope


def from_torch(
    module_or_state_dict: Any,
    activation: Any = None,
    loss: str | None = None,
    negative_slope: float | None = None,
) -> MLP:
    """An ``MLP`` with the weights of a PyTorch ``nn.Sequential`` (or of its ``state_dict``).

    Parameters
    ----------
    module_or_state_dict : torch.nn.Sequential or mapping
        The network (see the module's docstring for what it may hold), or its ``state_dict``
        (``"0.weight"`` ``[out, in]``, ``"0.bias"``, …: only Linear layers' tensors).
    activation : str or sequence of str, optional
        The hidden activations: required for a state dict, refused with a module (which
        says which it uses).
    loss : str, optional
        The loss (output layer); default: from a final Softmax/Sigmoid, else "cross_entropy".
    negative_slope : float, optional
        leaky_relu's slope for a state dict (default 0.01); a module's LeakyReLU gives its own.

    Returns
    -------
    MLP
        The model, in the tensors' dtype (float32 or float64), ``seed`` None.

    Raises
    ------
    ImportError
        For a module, without PyTorch installed.
    TypeError
        If the argument is neither an ``nn.Sequential`` nor a mapping.
    ValueError
        For an unsupported layer (naming its index and type), missing, extra or
        non-finite tensors, or a state dict without ``activation``.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp.interop.torch import from_torch
    >>> state = {"0.weight": np.ones((3, 4), np.float32), "0.bias": np.zeros(3, np.float32),
    ...          "2.weight": np.ones((2, 3), np.float32), "2.bias": np.zeros(2, np.float32)}
    >>> from_torch(state, activation="tanh")
    MLP(layer_sizes=(4, 3, 2), seed=None, dtype='float32', activation='tanh')
    """
    dropout: Any = 0.0
    if isinstance(module_or_state_dict, Mapping):
        if activation is None:
            raise ValueError(
                "a state_dict does not say which activations the network uses: pass "
                "activation= (one name, or one per hidden layer)"
            )
        state = _state_dict_arrays(module_or_state_dict)
        source = "state_dict"
        slope = 0.01 if negative_slope is None else negative_slope
    else:
        nn = require("torch.nn", "torch")
        if not isinstance(module_or_state_dict, nn.Sequential):
            raise TypeError(
                "module_or_state_dict must be a torch.nn.Sequential or a state_dict, got "
                f"{type(module_or_state_dict).__name__}"
            )
        if activation is not None or negative_slope is not None:
            raise ValueError(
                "activation and negative_slope are for a state_dict: the Sequential's "
                "modules give them"
            )
        raw, activation, dropout, loss, slope = _read_sequential(module_or_state_dict, loss)
        state = _state_dict_arrays(raw)
        source = "the Sequential"
    _, weights, biases = linear_layers(state, source)
    return build_model(
        weights, biases, activation, loss or "cross_entropy", slope, dropout=dropout or 0.0
    )


def to_torch(model: MLP, probabilities: bool = False) -> Any:
    """The equivalent ``torch.nn.Sequential``, holding a copy of ``model``'s parameters.

    Parameters
    ----------
    model : MLP
        The network.
    probabilities : bool, default False
        Whether to end with the output layer's ``Softmax(dim=1)`` or ``Sigmoid`` (else
        the network gives the logits, as PyTorch's losses take them).

    Returns
    -------
    torch.nn.Sequential
        Linear layers (modules 0, 2, 4, …) each followed by its activation module
        (``nn.Identity`` for the identity), in the model's dtype; dropout is not carried.

    Raises
    ------
    ImportError
        Without PyTorch.

    Examples
    --------
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.torch import to_torch
    >>> to_torch(MLP((4, 3, 2), activation="gelu_tanh"))  # doctest: +NORMALIZE_WHITESPACE
    Sequential(
      (0): Linear(in_features=4, out_features=3, bias=True)
      (1): GELU(approximate='tanh')
      (2): Linear(in_features=3, out_features=2, bias=True)
    )
    """
    torch = require("torch", "torch")
    nn = torch.nn
    makers = {
        "identity": nn.Identity,
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(model.negative_slope),
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    }
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    layers: list[Any] = []
    for layer, (fan_in, fan_out) in enumerate(zip(model.layer_sizes, model.layer_sizes[1:])):
        if layer:
            layers.append(makers[model.activations[layer - 1]]())
        layers.append(nn.Linear(fan_in, fan_out, dtype=dtype))
    if probabilities and model.output_activation == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif probabilities and model.output_activation == "sigmoid":
        layers.append(nn.Sigmoid())
    net = nn.Sequential(*layers)
    state = {}
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        state[f"{2 * layer}.weight"] = torch.from_numpy(np.ascontiguousarray(w.T).copy())
        state[f"{2 * layer}.bias"] = torch.from_numpy(b.copy())
    net.load_state_dict(state)
    return net
