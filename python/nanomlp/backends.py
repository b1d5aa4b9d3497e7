"""Where an epoch runs: the C++ engine or the NumPy reference, chosen by name.

A backend trains one epoch over rows taken in a given order and evaluates rows in chunks; it
knows nothing of callbacks, validation data or epochs. Both read and write the model's
parameters (and the optimiser's buffers) in place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from . import _core, optim, reference
from ._checks import check_int
from ._system import usable_cores
from .model import MLP


def resolve_threads(threads: Any = None) -> int:
    """``threads`` (>= 1); by default NANOMLP_NUM_THREADS, else the cores this process may use."""
    if threads is not None:
        return check_int(threads, "threads", 1)
    env = os.environ.get("NANOMLP_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"NANOMLP_NUM_THREADS must be an integer >= 1, got {env!r}") from None
        return check_int(value, "NANOMLP_NUM_THREADS", 1)
    return usable_cores()


class Backend(Protocol):
    """What ``Trainer`` needs of a backend."""

    kernel: str

    def train_epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        lrs: np.ndarray,
        optimizer: optim.Optimizer,
        state: dict[str, Any],
        *,
        sample_weight: np.ndarray | None = None,
        dropout: float | Sequence[float] | None = None,
        dropout_seed: int = 0,
        first_step: int = 0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
    ) -> int: ...

    def evaluate(
        self, x: np.ndarray, labels: np.ndarray | None, return_proba: bool = False
    ) -> tuple[float, int, np.ndarray | None]: ...


class NativeBackend:
    """The C++ engine, on the model's float32 parameters in place."""

    def __init__(self, model: MLP, threads: int, label_smoothing: float = 0.0) -> None:
        if model.dtype != np.float32:
            raise ValueError(
                f"backend='native' trains float32 parameters, but the model is {model.dtype}; "
                "use MLP(dtype='float32') or backend='numpy'"
            )
        self.model = model
        self.threads = threads
        self.label_smoothing = label_smoothing
        # The model's loss when the backend was made: a backend serves one output layer.
        self.loss, self.delta = model.loss, model.delta
        self._networks: dict[int, Any] = {}
        self.kernel: str = self._network(1).kernel

    def _network(self, batch_size: int) -> Any:
        # Workspaces are sized once per batch size and reused for every epoch.
        if batch_size not in self._networks:
            self._networks[batch_size] = _core.Network(
                list(self.model.layer_sizes),
                batch_size,
                threads=self.threads,
                activations=list(self.model.activations),
                negative_slope=self.model.negative_slope,
                label_smoothing=self.label_smoothing,
                loss=self.loss,
                delta=self.delta,
            )
        return self._networks[batch_size]

    def train_epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        lrs: Any,
        optimizer: Any,
        state: dict[str, Any] | None = None,
        *,
        sample_weight: np.ndarray | None = None,
        dropout: float | Sequence[float] | None = None,
        dropout_seed: int = 0,
        first_step: int = 0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        track_loss: bool = False,
    ) -> int | tuple[int, float]:
        """One epoch over x[order] in batches of ``batch_size``, the step i at ``lrs[i]``, with
        ``optimizer`` (an ``optim.Optimizer``) and its ``state`` (``init_state``'s dict; for SGD
        without momentum ``{"step": n}`` will do), whose arrays and step count are updated in
        place. Returns the number of steps. The arguments are the validated ones: only what
        would crash the engine is checked below this. ``track_loss``: return (steps, the mean
        loss of the rows as their steps' forward passes saw them, weighted by
        ``sample_weight``) instead."""
        net = self._network(min(batch_size, len(order)))
        step = int(state["step"])
        result = net.train_epoch(
            self.model.params,
            x,
            labels,
            order,
            _native_lrs(lrs),
            **_native_settings(optimizer),
            state=state,
            step=step,
            sample_weight=None
            if sample_weight is None
            else np.ascontiguousarray(sample_weight, dtype=np.float32),
            dropout=_dropout_rates(dropout, len(self.model.layer_sizes) - 2),
            dropout_seed=dropout_seed,
            first_step=first_step,
            clip_value=clip_value or 0.0,
            clip_norm=clip_norm or 0.0,
            track_loss=track_loss,
        )
        steps, loss_sum, weight_sum = result if track_loss else (result, 0.0, 0.0)
        state["step"] = step + steps
        if not track_loss:
            return steps
        return steps, loss_sum / weight_sum if weight_sum > 0 else float("nan")

    def evaluate(
        self, x: np.ndarray, labels: np.ndarray | None, return_proba: bool = False
    ) -> tuple[float, int, np.ndarray | None]:
        return self._network(1).evaluate(self.model.params, x, labels, return_proba)


class NumpyBackend:
    """The NumPy reference, in the model's dtype (float64 reproduces the notebook)."""

    kernel = "numpy"

    def __init__(self, model: MLP, threads: int, label_smoothing: float = 0.0) -> None:
        self.model = model  # NumPy's BLAS picks its own threads: ``threads`` is the engine's
        self.label_smoothing = label_smoothing
        self.loss, self.delta = model.loss, model.delta

    def train_epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        lrs: Any,
        optimizer: Any,
        state: dict[str, Any] | None = None,
        *,
        sample_weight: np.ndarray | None = None,
        dropout: float | Sequence[float] | None = None,
        dropout_seed: int = 0,
        first_step: int = 0,
        clip_value: float | None = None,
        clip_norm: float | None = None,
    ) -> int:
        """As ``NativeBackend.train_epoch``, through ``reference.train_epoch``."""
        m = self.model
        return reference.train_epoch(
            m.weights,
            m.biases,
            x,
            labels,
            order,
            batch_size,
            lrs,
            optimizer=optimizer,
            state=state,
            sample_weight=sample_weight,
            dropout=0.0 if dropout is None else dropout,
            dropout_seed=dropout_seed,
            first_step=first_step,
            clip_value=clip_value,
            clip_norm=clip_norm,
            activations=m.activations,
            negative_slope=m.negative_slope,
            label_smoothing=self.label_smoothing,
            loss=self.loss,
            delta=self.delta,
        )

    def evaluate(
        self, x: np.ndarray, labels: np.ndarray | None, return_proba: bool = False
    ) -> tuple[float, int, np.ndarray | None]:
        m = self.model
        return reference.evaluate(
            m.weights,
            m.biases,
            x,
            labels,
            return_proba,
            m.activations,
            m.negative_slope,
            self.label_smoothing,
            self.loss,
            self.delta,
        )


def _native_lrs(lrs: Any) -> Any:
    """One float64 per step, contiguous, or one number."""
    return float(lrs) if np.ndim(lrs) == 0 else np.ascontiguousarray(lrs, dtype=np.float64)


def _native_settings(optimizer: optim.Optimizer) -> dict[str, Any]:
    """The engine's keywords for an optimizer's settings (its lr is the per-step ``lrs``)."""
    config = optimizer.get_config()
    settings = {k: v for k, v in config.items() if k not in ("name", "lr")}
    if "betas" in settings:
        settings["betas"] = tuple(settings["betas"])
    return {"optimizer": config["name"], **settings}


def _dropout_rates(dropout: Any, hidden: int) -> list[float] | None:
    """One rate per hidden layer (a single rate applies to each), or None for no dropout."""
    if dropout is None:
        return None
    rates = [float(dropout)] * hidden if np.ndim(dropout) == 0 else [float(p) for p in dropout]
    return rates if any(rates) else None


BACKENDS: dict[str, type] = {"native": NativeBackend, "numpy": NumpyBackend}


def make_backend(name: Any, model: MLP, threads: int, label_smoothing: float = 0.0) -> Backend:
    """The backend registered under ``name``, for ``model`` and its loss (cross-entropy with
    ``label_smoothing``, validated by the caller)."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {name!r}")
    return BACKENDS[name](model, threads, label_smoothing)
