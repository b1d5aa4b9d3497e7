"""The NumPy reference: the classic notebook's algorithm, written plainly.

It runs in the parameters' dtype: float64 reproduces the notebook's numbers (its weights were
float64 and NumPy promoted each float32 batch to them), float32 is what the native engine
computes. It is the oracle of the parity tests and the baseline of the benchmarks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

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


def forward(weights: Arrays, biases: Arrays, x: np.ndarray) -> tuple[np.ndarray, Arrays]:
    """Probabilities [B×C] and the input of every layer (x, then each ReLU output)."""
    x = x.astype(weights[0].dtype, copy=False)
    inputs = [x]
    for w, b in zip(weights[:-1], biases[:-1]):
        inputs.append(relu(np.dot(inputs[-1], w) + b))
    return softmax(np.dot(inputs[-1], weights[-1]) + biases[-1]), inputs


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row −log p[label], with p clipped as the notebook clips it."""
    p = np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1 - EPSILON)
    return -np.log(p)


def one_hot(labels: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    return np.eye(n_classes, dtype=dtype)[labels]


def backward(
    weights: Arrays, inputs: Arrays, probs: np.ndarray, labels: np.ndarray
) -> tuple[Arrays, Arrays]:
    """Gradients (dW per layer, db per layer) of the batch's mean cross-entropy."""
    dz = (probs - one_hot(labels, probs.shape[1], probs.dtype)) / labels.shape[0]
    dws: Arrays = [None] * len(weights)  # type: ignore[list-item]
    dbs: Arrays = [None] * len(weights)  # type: ignore[list-item]
    for layer in range(len(weights) - 1, -1, -1):
        a = inputs[layer]
        dws[layer] = np.dot(a.T, dz)
        dbs[layer] = np.sum(dz, axis=0)
        if layer > 0:
            # a > 0 exactly where the pre-activation z > 0, the notebook's relu_derivative.
            dz = np.dot(dz, weights[layer].T) * (a > 0)
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
            g = g + momentum * v if nesterov else v
        p -= lr * g


def train_epoch(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    lr: float,
    **optimizer: Any,
) -> int:
    """One epoch of minibatch SGD over x[order], the last batch short; returns the steps.

    ``optimizer`` holds ``sgd_step``'s momentum, nesterov, weight_decay and velocities."""
    steps = 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        probs, inputs = forward(weights, biases, x[rows])
        dws, dbs = backward(weights, inputs, probs, labels[rows])
        sgd_step(weights, biases, dws, dbs, lr, **optimizer)
        steps += 1
    return steps


def evaluate(
    weights: Arrays,
    biases: Arrays,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    return_proba: bool = False,
) -> tuple[float, int, np.ndarray | None]:
    """(loss sum, correct count, probabilities or None) over x, in chunks."""
    loss_sum, correct = 0.0, 0
    probs_out = np.empty((len(x), weights[-1].shape[1]), weights[-1].dtype) if return_proba else None
    for start in range(0, len(x), INFERENCE_CHUNK):
        stop = start + INFERENCE_CHUNK
        probs, _ = forward(weights, biases, x[start:stop])
        if probs_out is not None:
            probs_out[start:stop] = probs
        if labels is not None:
            loss_sum += float(np.sum(cross_entropy(probs, labels[start:stop]), dtype=np.float64))
            correct += int(np.sum(np.argmax(probs, axis=1) == labels[start:stop]))
    return loss_sum, correct, probs_out
