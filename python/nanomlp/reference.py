"""The NumPy reference: the classic notebook's algorithm, written plainly.

It runs in the parameters' dtype: float64 reproduces the notebook's numbers (its weights were
float64 and NumPy promoted each float32 batch to them), float32 is what the native engine
computes. It is the oracle of the parity tests and the baseline of the benchmarks.

Beyond plain SGD it holds the optimizers (``sgd_update``, ``adam_update``, ``rmsprop_update``),
sample weights and dropout (``backward``, ``forward``), gradient clipping and dropout masks
(from the ``clipping`` and ``dropout`` modules), and the hidden-layer activations
(``activation_forward``, ``activation_backward``, from ``_activations``: the engine's bits in
float32, the exact formulas in float64). The optimizer updates, elementwise and PyTorch's
operation by operation, are in ``_update_rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._activations import (  # noqa: F401 (part of the reference)
    DEFAULT_NEGATIVE_SLOPE,
    activation_backward,
    activation_forward,
    backward_takes_output,
)
from ._update_rules import (  # noqa: F401 (part of the reference)
    TINY_STATE,
    _flush_tiny_,
    adam_update,
    rmsprop_update,
    sgd_update,
)
from .clipping import clip_grad_norm, clip_grad_value, grad_norm  # noqa: F401 (part of the reference)
from .dropout import dropout_mask
from .losses import output, output_gradient, row_losses

# The notebook clips probabilities to [EPSILON, 1 - EPSILON] before taking the log.
EPSILON = 1e-10
# Rows per forward pass when evaluating, so memory stays bounded on any number of rows.
INFERENCE_CHUNK = 4096

Arrays = list[np.ndarray]


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(0, z)


def softmax(z: np.ndarray) -> np.ndarray:
    exp_shifted = np.exp(z - np.max(z, axis=1, keepdims=True))
    return exp_shifted / np.sum(exp_shifted, axis=1, keepdims=True)


def _hidden_activations(activations: Sequence[str] | None, n_hidden: int) -> list[str]:
    """One activation name per hidden layer; None: ReLU everywhere."""
    if activations is None:
        return ["relu"] * n_hidden
    names = list(activations)
    if len(names) != n_hidden:
        raise ValueError(f"activations holds {len(names)} names for {n_hidden} hidden layers")
    return names


def forward_saved(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    masks: Sequence[np.ndarray | None] | None = None,
    activations: Sequence[str] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
    loss: str = "cross_entropy",
) -> tuple[np.ndarray, Arrays, list[np.ndarray | None]]:
    """As ``forward``, with what each hidden layer's derivative needs (``backward``'s ``saved``):
    its output before dropout for tanh and sigmoid, its pre-activation z for leaky_relu, gelu
    and gelu_tanh, None for relu (its output after dropout will do) and identity."""
    x = x.astype(weights[0].dtype, copy=False)
    names = _hidden_activations(activations, len(weights) - 1)
    inputs, saved = [x], []
    for layer, (w, b, name) in enumerate(zip(weights[:-1], biases[:-1], names)):
        z = np.dot(inputs[-1], w) + b
        if name == "relu":
            a, keep = relu(z), None
        else:
            a = activation_forward(name, z, negative_slope)
            keep = None if name == "identity" else a if backward_takes_output(name) else z
        if masks is not None and masks[layer] is not None:
            a = a * masks[layer]
        inputs.append(a)
        saved.append(keep)
    z = np.dot(inputs[-1], weights[-1]) + biases[-1]
    return (softmax(z) if loss == "cross_entropy" else output(z, loss)), inputs, saved


def logits(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    activations: Sequence[str] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
) -> np.ndarray:
    """The output layer's pre-activation z [B×k]: what binary cross-entropy's loss reads."""
    return forward_saved(weights, biases, x, None, activations, negative_slope, "mse")[0]


def forward(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    masks: Sequence[np.ndarray | None] | None = None,
    activations: Sequence[str] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
) -> tuple[np.ndarray, Arrays]:
    """Probabilities [B×C] and the input of every layer (x, then each hidden layer's output).

    ``activations``: one name per hidden layer (``_activations.ACTIVATIONS``; default relu),
    the engine's float32 bits in float32 and the exact formulas in float64; ``negative_slope``
    is leaky_relu's. ``masks`` (one per hidden layer, see ``dropout.dropout_mask``) multiply
    the activations' outputs: dropout, as ``Linear → activation → Dropout`` in PyTorch."""
    probs, inputs, _ = forward_saved(weights, biases, x, masks, activations, negative_slope)
    return probs, inputs


def cross_entropy(
    probs: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
) -> np.ndarray:
    """Per-row −log p[label], with p clipped as the notebook clips it; with label smoothing ε,
    ``(1 − ε)·(−log p[label]) + ε/C·Σ_j −log p_j`` (PyTorch's ``label_smoothing``), in float64
    from the clipped p (the engine caps each term at −log EPSILON likewise)."""
    p = np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1 - EPSILON)
    losses = -np.log(p)
    if not label_smoothing:
        return losses
    every = -np.log(np.clip(probs.astype(np.float64), EPSILON, 1.0)).sum(axis=1)
    eps = float(label_smoothing)
    return (1.0 - eps) * losses.astype(np.float64) + eps / probs.shape[1] * every


def one_hot(labels: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    return np.eye(n_classes, dtype=dtype)[labels]


def smoothed_targets(
    labels: np.ndarray, n_classes: int, dtype: np.dtype, label_smoothing: float = 0.0
) -> np.ndarray:
    """The target distribution ``(1 − ε)·onehot + ε/C``, each entry rounded once from float64
    to ``dtype`` (the engine's rounding): the one-hot itself when ε = 0."""
    eps = float(label_smoothing)
    on = np.asarray((1.0 - eps) + eps / n_classes, dtype=dtype)
    off = np.asarray(eps / n_classes, dtype=dtype)
    return np.where(one_hot(labels, n_classes, np.dtype(bool)), on, off)


def weight_sum(weights: np.ndarray) -> float:
    """Σ weights, accumulated in float64 from the first row to the last (a fixed order)."""
    return float(np.cumsum(weights, dtype=np.float64)[-1]) if len(weights) else 0.0


def batch_loss(
    probs: np.ndarray,
    labels: np.ndarray,
    sample_weight: np.ndarray | None = None,
    label_smoothing: float = 0.0,
) -> float:
    """The batch's mean cross-entropy in float64; ``Σ w_i·l_i / Σ w_i`` with weights (0 if Σ w = 0)."""
    losses = cross_entropy(probs, labels, label_smoothing).astype(np.float64)
    if sample_weight is None:
        return float(losses.mean())
    w = np.asarray(sample_weight, dtype=probs.dtype).astype(np.float64)
    total = weight_sum(w)
    return float(np.dot(w, losses) / total) if total else 0.0


def backward(
    weights: Arrays,
    inputs: Arrays,
    probs: np.ndarray,
    labels: np.ndarray,
    sample_weight: np.ndarray | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    activations: Sequence[str] | None = None,
    saved: Sequence[np.ndarray | None] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
    label_smoothing: float = 0.0,
    loss: str = "cross_entropy",
    delta: float = 1.0,
) -> tuple[Arrays, Arrays]:
    """Gradients (dW per layer, db per layer) of the batch's mean cross-entropy.

    With ``sample_weight`` (one per row of the batch) the loss is the weighted mean
    ``Σ w_i·l_i / Σ w_i``, as scikit-learn's MLP and PyTorch's class-weighted cross-entropy
    define it (Keras divides by the batch size instead): scaling every weight by a constant
    changes nothing. The weights are rounded to the dtype, Σ w is accumulated in float64 in row
    order (``weight_sum``) and rounded to the dtype, and ``dz = (probs - onehot) * w / Σ w``.
    With weights all 1 this is ``(probs - onehot) / B`` to the bit; a batch whose weights are
    all 0 gives zero gradients. ``masks`` are the dropout masks ``forward`` used;
    ``activations`` and ``negative_slope`` its activations, ``saved`` what ``forward_saved``
    returned for them (needed for any but relu and identity). ``label_smoothing`` ε replaces
    the one-hot by ``smoothed_targets``: ``dz = (probs − (1 − ε)·onehot − ε/C) / B``. Another
    ``loss`` (``losses.LOSSES``) reads ``probs`` as its outputs and ``labels`` as its targets
    [B×k], through ``losses.output_gradient`` (``delta``: Huber's).
    """
    names = _hidden_activations(activations, len(weights) - 1)
    w = None if sample_weight is None else np.asarray(sample_weight).astype(probs.dtype)
    total = None if w is None else weight_sum(w)
    if loss != "cross_entropy":
        dz = output_gradient(probs, labels, loss, w, total, delta)
    else:
        diff = probs - smoothed_targets(labels, probs.shape[1], probs.dtype, label_smoothing)
        if w is None:
            dz = diff / labels.shape[0]
        else:
            dz = diff * w[:, None] / probs.dtype.type(total) if total else np.zeros_like(diff)
    dws: Arrays = [None] * len(weights)  # type: ignore[list-item]
    dbs: Arrays = [None] * len(weights)  # type: ignore[list-item]
    for layer in range(len(weights) - 1, -1, -1):
        a = inputs[layer]
        dws[layer] = np.dot(a.T, dz)
        dbs[layer] = np.sum(dz, axis=0)
        if layer > 0:
            # a > 0 exactly where the pre-activation z > 0, the notebook's relu_derivative.
            g = np.dot(dz, weights[layer].T)
            if masks is not None and masks[layer - 1] is not None:
                g = g * masks[layer - 1]  # dropout's backward comes before the activation's
            name = names[layer - 1]
            if name == "relu":
                dz = g * (a > 0)
            elif name == "identity":
                dz = g
            else:
                if saved is None or saved[layer - 1] is None:
                    raise ValueError(f"backward of {name} needs forward_saved's saved values")
                dz = activation_backward(name, g, saved[layer - 1], negative_slope)
    return dws, dbs


def sgd_step(
    weights: Arrays,
    biases: Arrays,
    dws: Arrays,
    dbs: Arrays,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    velocities: Arrays | None = None,
) -> None:
    """``W -= lr * dW``; with momentum, PyTorch's SGD: ``v = momentum * v + g`` and a step
    along ``v`` (or ``g + momentum * v``, Nesterov). Weight decay adds ``weight_decay * W``
    to the weights' gradients, not the biases'. ``velocities`` pairs each weight, then each
    bias, with its buffer (weights first, then biases, like ``weights + biases``)."""
    params = weights + biases
    grads = [dw + weight_decay * w if weight_decay else dw for dw, w in zip(dws, weights)] + dbs
    for i, (p, g) in enumerate(zip(params, grads)):
        if momentum:
            v = velocities[i]
            v *= momentum
            v += g
            _flush_tiny_(v)
            g = g + momentum * v if nesterov else v
        p -= lr * g


# --- One epoch --------------------------------------------------------------------------------


def _layout_order(weights: Arrays, biases: Arrays) -> Arrays:
    """The engine's flat layout: per layer the weights, then the biases."""
    return [a for pair in zip(weights, biases) for a in pair]


def train_epoch(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    lr: float | np.ndarray,
    *,
    optimizer: Any = None,
    state: dict[str, Any] | None = None,
    sample_weight: np.ndarray | None = None,
    dropout: float | Sequence[float] = 0.0,
    dropout_seed: int = 0,
    first_step: int = 0,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    activations: Sequence[str] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
    label_smoothing: float = 0.0,
    loss: str = "cross_entropy",
    delta: float = 1.0,
    **sgd_options: Any,
) -> int:
    """One epoch of minibatch training over x[order], the last batch short; returns the steps.

    ``lr`` is one learning rate, or one per step of the epoch (a schedule's ``values``).
    Without ``optimizer``, plain SGD through ``sgd_step``, whose momentum, nesterov,
    weight_decay and velocities ``sgd_options`` holds. With ``optimizer`` (an
    ``optim.Optimizer``) and its ``state``, its update on the flat parameters, weights decayed
    and biases not. Per step, in this order: dropout masks of the hidden layers for step
    ``first_step + i`` and the batch's dataset rows; forward; backward with the batch's
    ``sample_weight`` (one per row of x); ``clip_grad_value``; ``clip_grad_norm``; the update.
    ``dropout`` is one rate for every hidden layer, or a sequence of one rate per hidden layer
    (0: no dropout on that layer). ``activations`` (one per hidden layer, default relu) and
    ``negative_slope`` as ``forward``; ``label_smoothing``, ``loss`` and ``delta`` as
    ``backward`` (``labels`` are then the targets [n×k]).
    """
    n_steps = -(-len(order) // batch_size)
    if np.ndim(lr) == 0:
        lrs = [lr] * n_steps
    else:
        lrs = np.asarray(lr, dtype=np.float64).tolist()
        if len(lrs) < n_steps:
            raise ValueError(f"lr holds {len(lrs)} learning rates for an epoch of {n_steps} steps")
    if optimizer is not None:
        if sgd_options:
            raise TypeError(f"{sorted(sgd_options)} are options of plain SGD, not of optimizer=")
        decay = np.concatenate(
            [np.full(a.size, i % 2 == 0) for i, a in enumerate(_layout_order(weights, biases))]
        )
    if np.ndim(dropout) == 0:
        rates = [dropout] * (len(weights) - 1)
    else:
        rates = [float(p) for p in dropout]
        if len(rates) != len(weights) - 1:
            raise ValueError(
                f"dropout holds {len(rates)} rates for {len(weights) - 1} hidden layers"
            )
    steps = 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        masks = None
        if any(rates):
            masks = [
                dropout_mask(dropout_seed, first_step + steps, rows, w.shape[1], p, layer, w.dtype)
                if p
                else None
                for layer, (w, p) in enumerate(zip(weights[:-1], rates))
            ]
        probs, inputs, saved = forward_saved(
            weights, biases, x[rows], masks, activations, negative_slope, loss
        )
        batch_weight = None if sample_weight is None else sample_weight[rows]
        dws, dbs = backward(
            weights,
            inputs,
            probs,
            labels[rows],
            batch_weight,
            masks,
            activations,
            saved,
            negative_slope,
            label_smoothing,
            loss,
            delta,
        )
        if clip_value is not None:
            clip_grad_value(_layout_order(dws, dbs), clip_value)
        if clip_norm is not None:
            clip_grad_norm(_layout_order(dws, dbs), clip_norm)
        if optimizer is None:
            sgd_step(weights, biases, dws, dbs, lrs[steps], **sgd_options)
        else:
            tensors = _layout_order(weights, biases)
            params = np.concatenate([a.ravel() for a in tensors])
            grads = np.concatenate([a.ravel() for a in _layout_order(dws, dbs)])
            optimizer.update(params, grads, state, lrs[steps], decay=decay)
            offset = 0
            for a in tensors:
                a[...] = params[offset : offset + a.size].reshape(a.shape)
                offset += a.size
        steps += 1
    return steps


def evaluate(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    return_proba: bool = False,
    activations: Sequence[str] | None = None,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
    label_smoothing: float = 0.0,
    loss: str = "cross_entropy",
    delta: float = 1.0,
) -> tuple[float, int, np.ndarray | None]:
    """(loss sum, correct count, outputs or None) over x, in chunks; the loss with
    ``label_smoothing`` as ``cross_entropy``. Other losses: ``labels`` are the targets [n×k];
    the count is of rows whose every (output ≥ 0.5) matches its 0/1 target for binary
    cross-entropy (exact match), 0 for the regressions."""
    loss_sum, correct = 0.0, 0
    probs_out = (
        np.empty((len(x), weights[-1].shape[1]), weights[-1].dtype) if return_proba else None
    )
    for start in range(0, len(x), INFERENCE_CHUNK):
        stop = start + INFERENCE_CHUNK
        if loss != "cross_entropy":
            z = logits(weights, biases, x[start:stop], activations, negative_slope)
            out = output(z, loss)
            if probs_out is not None:
                probs_out[start:stop] = out
            if labels is not None:
                y = labels[start:stop]
                loss_sum += float(np.sum(row_losses(z, y, loss, delta), dtype=np.float64))
                if loss == "binary_cross_entropy":
                    correct += int(np.sum(np.all((out >= 0.5) == (y != 0), axis=1)))
            continue
        probs, _ = forward(weights, biases, x[start:stop], None, activations, negative_slope)
        if probs_out is not None:
            probs_out[start:stop] = probs
        if labels is not None:
            losses = cross_entropy(probs, labels[start:stop], label_smoothing)
            loss_sum += float(np.sum(losses, dtype=np.float64))
            correct += int(np.sum(np.argmax(probs, axis=1) == labels[start:stop]))
    return loss_sum, correct, probs_out
