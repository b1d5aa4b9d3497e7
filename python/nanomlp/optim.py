"""Optimizers: PyTorch's SGD, Adam, AdamW and RMSprop, with their names, defaults and formulas.

An optimizer object holds settings only: ``init_state`` makes its state (arrays laid out like
the model's flat ``params``, plus the step count), ``update`` applies one step through the
NumPy reference (``reference.sgd_update`` and friends, which the native engine mirrors), and
``get_config`` / ``from_config`` turn it into a JSON-able dict and back, for model files.

Where these differ from PyTorch, all far below float32's resolution of any weight but one:

- weight decay applies to the weights, never to the biases (as if the biases sat in a parameter
  group with ``weight_decay=0``); every ``update`` takes a ``decay`` mask for that, which
  ``weight_decay_mask`` makes for a model;
- state entries below 2^-100 in magnitude are stored as zero (``reference.TINY_STATE``):
  the decaying averages of inputs that stay blank would otherwise crawl through the subnormal
  range, where every product costs the CPU a hundred cycles and more;
- Adam multiplies ``sqrt(v)`` by ``1 / sqrt(1 - β2^t)`` where PyTorch divides by its inverse,
  one division per element fewer (it may round an ulp apart).

Options of PyTorch's that are not here: SGD's dampening, ``maximize``, and the
``foreach``/``fused``/``capturable``/``differentiable`` implementation switches. Validation is
stricter than PyTorch's: ``lr`` > 0, and momentum and RMSprop's ``alpha`` below 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from . import reference
from ._checks import check_bool, check_config, check_float, check_int
from .model import parameter_layout

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "weight_decay_mask"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _lr(value: Any) -> float:
    return check_float(value, "lr", 0.0, low_open=True)


def _unit(value: Any, name: str) -> float:
    """A rate in [0, 1): momentum, a beta, RMSprop's alpha."""
    return check_float(value, name, 0.0, 1.0, high_open=True)


def _eps(value: Any) -> float:
    return check_float(value, "eps", 0.0, low_open=True)


def _weight_decay(value: Any) -> float:
    return check_float(value, "weight_decay", 0.0)


def weight_decay_mask(layer_sizes: Sequence[int]) -> np.ndarray:
    """True on the weights, False on the biases, laid out like the model's flat ``params``.

    Parameters
    ----------
    layer_sizes : sequence of int
        The model's layer sizes.

    Returns
    -------
    ndarray of bool
        One entry per parameter: the ``decay`` mask that ``Optimizer.update`` takes.

    Raises
    ------
    ValueError, TypeError
        For layer sizes that are not at least two integers >= 1.

    Examples
    --------
    >>> from nanomlp.optim import weight_decay_mask
    >>> weight_decay_mask((2, 1)).tolist()  # two weights, then one bias
    [True, True, False]
    """
    layout = parameter_layout(layer_sizes)
    mask = np.zeros(layout[-1][2] if layout else 0, dtype=bool)
    for w, b, _ in layout:
        mask[w:b] = True
    return mask


class Optimizer:
    """Base class: the settings of one optimizer, its state's layout and its update rule.

    An optimizer object holds settings only: ``init_state`` makes its state (arrays laid out
    like the model's flat ``params``, plus the step count), ``update`` applies one step through
    the NumPy reference (which the native engine mirrors), and ``get_config`` / ``from_config``
    turn it into a JSON-able dict and back, for model files.

    Examples
    --------
    >>> from nanomlp.optim import Optimizer, SGD
    >>> config = SGD(lr=0.1, momentum=0.9).get_config()
    >>> config
    {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9, 'nesterov': False, 'weight_decay': 0.0}
    >>> Optimizer.from_config(config)
    SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
    """

    name: ClassVar[str] = ""
    lr: float

    def get_config(self) -> dict[str, Any]:
        """``{"name": ..., **settings}``: plain JSON types, what ``from_config`` takes back."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """The optimizer a ``get_config`` dict describes; on ``Optimizer`` itself any known name."""
        klass, kwargs = check_config(config, "optimizer", OPTIMIZERS)
        if cls is not Optimizer and klass is not cls:
            raise ValueError(f"{cls.__name__}.from_config got a config of {klass.__name__}")
        return klass(**kwargs)

    @property
    def state_names(self) -> tuple[str, ...]:
        """The names of the state arrays, each shaped like the parameters."""
        raise NotImplementedError

    def init_state(self, n_params: int, dtype: Any = np.float32) -> dict[str, Any]:
        """A fresh state: a zero array of ``n_params`` per name in ``state_names``, and
        ``"step": 0`` (the number of updates made)."""
        n_params = check_int(n_params, "n_params", 0)
        dtype = np.dtype(dtype)
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        state: dict[str, Any] = {name: np.zeros(n_params, dtype) for name in self.state_names}
        state["step"] = 0
        return state

    def check_state(self, state: Any, n_params: int, dtype: Any = np.float32) -> None:
        """ValueError unless ``state`` has this optimizer's arrays, shaped (n_params,) in
        ``dtype``, and a step count >= 0 (say, a state read back from a file)."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        expected = set(self.state_names) | {"step"}
        if set(state) != expected:
            raise ValueError(f"{self.name} state must hold {sorted(expected)}, got {sorted(state)}")
        check_int(state["step"], "state['step']", 0)
        for name in self.state_names:
            arr = state[name]
            if (
                not isinstance(arr, np.ndarray)
                or arr.shape != (n_params,)
                or arr.dtype != np.dtype(dtype)
            ):
                got = (
                    f"{arr.dtype} of shape {arr.shape}"
                    if isinstance(arr, np.ndarray)
                    else type(arr).__name__
                )
                raise ValueError(
                    f"state[{name!r}] must be {np.dtype(dtype)} of shape ({n_params},), got {got}"
                )

    def update(
        self,
        params: np.ndarray,
        grads: np.ndarray,
        state: dict[str, Any],
        lr: float | None = None,
        decay: Any = True,
    ) -> None:
        """One step on ``params`` in place (and ``state``), with this optimizer's settings and
        ``lr`` (default: ``self.lr``; a schedule passes each step's). ``decay``: where weight
        decay applies, True, False or a mask such as ``weight_decay_mask``."""
        self._rule(
            params,
            grads,
            state,
            self.lr if lr is None else lr,
            decay=decay,
            **self._rule_settings(),
        )

    # The reference's update function of this optimizer, and the settings it takes.
    _rule: ClassVar[Any] = None

    def _rule_settings(self) -> dict[str, Any]:
        return self._settings()

    def _settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_config().items() if k not in ("name", "lr")}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """``torch.optim.SGD``: ``lr`` > 0, ``momentum`` in [0, 1), ``nesterov`` (needs momentum),
    ``weight_decay`` >= 0 (weights only). The defaults are plain ``W -= lr * dW`` with the
    notebook's and ``Trainer``'s ``lr=0.01`` (PyTorch's SGD defaults to 1e-3).

    State: ``"momentum_buffer"`` when momentum > 0.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate, > 0.
    momentum : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum`` > 0).
    weight_decay : float, default 0.0
        L2 weight decay, >= 0, on the weights only.

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it; ``nesterov=True`` without
        momentum.

    Examples
    --------
    >>> from nanomlp import MLP, Trainer, optim
    >>> opt = optim.SGD(lr=0.1, momentum=0.9, nesterov=True)
    >>> opt.state_names
    ('momentum_buffer',)
    >>> trainer = Trainer(MLP((4, 8, 2)), optimizer=opt)
    """

    name = "sgd"

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.lr = _lr(lr)
        self.momentum = _unit(momentum, "momentum")
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.weight_decay = _weight_decay(weight_decay)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    _rule = staticmethod(reference.sgd_update)


class Adam(Optimizer):
    """``torch.optim.Adam``: ``lr`` > 0, ``betas`` each in [0, 1), ``eps`` > 0,
    ``weight_decay`` >= 0 (L2, added to the weights' gradients), ``amsgrad``.

    State: ``"exp_avg"``, ``"exp_avg_sq"``, and ``"max_exp_avg_sq"`` with amsgrad.

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate, > 0.
    betas : pair of float, default (0.9, 0.999)
        The decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0.0
        L2 penalty, >= 0, added to the weights' gradients.
    amsgrad : bool, default False
        Use the maximum of the second-moment estimates.

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it.

    Examples
    --------
    >>> from nanomlp import optim
    >>> optim.Adam(lr=3e-4, amsgrad=True).state_names
    ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')
    """

    name = "adam"
    decoupled_weight_decay: ClassVar[bool] = False

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        self.lr = _lr(lr)
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers (beta1, beta2), got {betas!r}")
        self.betas = (_unit(betas[0], "betas[0]"), _unit(betas[1], "betas[1]"))
        self.eps = _eps(eps)
        self.weight_decay = _weight_decay(weight_decay)
        self.amsgrad = check_bool(amsgrad, "amsgrad")

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lr": self.lr,
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": self.amsgrad,
        }

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    _rule = staticmethod(reference.adam_update)

    def _rule_settings(self) -> dict[str, Any]:
        settings = self._settings()
        settings["betas"] = self.betas
        return {**settings, "decoupled_weight_decay": self.decoupled_weight_decay}


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam whose weight decay shrinks the weights directly,
    ``W *= 1 - lr * weight_decay`` before the step, rather than adding to the gradient.
    Same arguments as ``Adam``, ``weight_decay=1e-2`` by default.

    Parameters
    ----------
    lr, betas, eps, amsgrad
        As in ``Adam``.
    weight_decay : float, default 1e-2
        Decoupled weight decay, >= 0.

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it.

    Examples
    --------
    >>> from nanomlp import optim
    >>> optim.AdamW().weight_decay
    0.01
    """

    name = "adamw"
    decoupled_weight_decay = True

    def __init__(
        self,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: ``lr`` > 0, ``alpha`` in [0, 1), ``eps`` > 0,
    ``weight_decay`` >= 0, ``momentum`` in [0, 1), ``centered``.

    State: ``"square_avg"``, ``"momentum_buffer"`` when momentum > 0, ``"grad_avg"`` when centered.

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate, > 0.
    alpha : float, default 0.99
        The smoothing constant, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0.0
        L2 penalty, >= 0.
    momentum : float, default 0.0
        In [0, 1).
    centered : bool, default False
        Normalise by the estimated variance of the gradient.

    Raises
    ------
    ValueError, TypeError
        For a value out of range or of the wrong type, naming it.

    Examples
    --------
    >>> from nanomlp import optim
    >>> optim.RMSprop(momentum=0.9, centered=True).state_names
    ('square_avg', 'momentum_buffer', 'grad_avg')
    """

    name = "rmsprop"

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        self.lr = _lr(lr)
        self.alpha = _unit(alpha, "alpha")
        self.eps = _eps(eps)
        self.weight_decay = _weight_decay(weight_decay)
        self.momentum = _unit(momentum, "momentum")
        self.centered = check_bool(centered, "centered")

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "centered": self.centered,
        }

    @property
    def state_names(self) -> tuple[str, ...]:
        return (
            ("square_avg",)
            + (("momentum_buffer",) if self.momentum else ())
            + (("grad_avg",) if self.centered else ())
        )

    _rule = staticmethod(reference.rmsprop_update)


OPTIMIZERS: dict[str, type[Optimizer]] = {k.name: k for k in (SGD, Adam, AdamW, RMSprop)}


def get_optimizer(name_or_obj: Any = "sgd", **kwargs: Any) -> Optimizer:
    """An optimizer from a name, a ``get_config`` dict, or an ``Optimizer`` returned as is.

    Parameters
    ----------
    name_or_obj : str, dict or Optimizer, default "sgd"
        "sgd", "adam", "adamw" or "rmsprop" (any case), a config dict, or an optimizer.
    **kwargs
        The optimizer's arguments, with a name only.

    Returns
    -------
    Optimizer
        The optimizer.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For keyword arguments given with a dict or an object, or another type.

    Examples
    --------
    >>> from nanomlp.optim import get_optimizer
    >>> get_optimizer("Adam", lr=0.01)
    Adam(lr=0.01, betas=[0.9, 0.999], eps=1e-08, weight_decay=0.0, amsgrad=False)
    """
    if isinstance(name_or_obj, Optimizer):
        if kwargs:
            raise TypeError(
                "keyword arguments go with an optimizer's name, not with an Optimizer object"
            )
        return name_or_obj
    if isinstance(name_or_obj, dict):
        if kwargs:
            raise TypeError("keyword arguments go with an optimizer's name, not with a config dict")
        return Optimizer.from_config(name_or_obj)
    if not isinstance(name_or_obj, str):
        raise TypeError(
            f"optimizer must be a name, a config dict or an Optimizer, got {type(name_or_obj).__name__}"
        )
    key = name_or_obj.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name_or_obj!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](**kwargs)
