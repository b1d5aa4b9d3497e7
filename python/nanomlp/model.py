"""The multilayer perceptron: layer sizes, parameters and their initialisation."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._checks import check_int, check_layer_sizes

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def parameter_layout(layer_sizes: Sequence[int]) -> list[tuple[int, int, int]]:
    """(weight offset, bias offset, end) of each layer in the flat parameter buffer.

    Layer by layer, the weights [fan_in × fan_out] row-major, then the biases [fan_out]:
    the order the native engine reads them in.
    """
    layout, offset = [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        bias = offset + fan_in * fan_out
        layout.append((offset, bias, bias + fan_out))
        offset = bias + fan_out
    return layout


class MLP:
    """Linear → ReLU → … → Linear → softmax over ``layer_sizes``.

    All parameters live in one contiguous array, ``params``; ``weights[l]`` (fan_in × fan_out)
    and ``biases[l]`` (fan_out,) are views into it, so writing to them changes the model.

    The initialisation is the classic notebook's, to the bit: from
    ``numpy.random.RandomState(seed)``, layer by layer, ``randn(fan_in, fan_out) *
    sqrt(1 / fan_in)`` and zero biases. The same ``random_state`` then draws each epoch's
    shuffle during training; NumPy's global random state is never touched.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (784, 128, 64, 10),
        seed: int | None = 42,
        dtype: str | np.dtype = "float32",
    ) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        if seed is not None:
            seed = check_int(seed, "seed", 0)
            if seed >= 2**32:
                raise ValueError(f"seed must be < 2**32, got {seed}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as err:
            raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from err
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.seed = seed
        self.random_state = np.random.RandomState(seed)
        layout = parameter_layout(self.layer_sizes)
        self.params = np.zeros(layout[-1][2], dtype=self.dtype)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for (w, b, end), fan_in, fan_out in zip(layout, self.layer_sizes, self.layer_sizes[1:]):
            self.weights.append(self.params[w:b].reshape(fan_in, fan_out))
            self.biases.append(self.params[b:end])
        for weights, fan_in in zip(self.weights, self.layer_sizes):
            weights[...] = self.random_state.randn(*weights.shape) * np.sqrt(1.0 / fan_in)

    @property
    def n_features(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    def __repr__(self) -> str:
        return f"MLP(layer_sizes={self.layer_sizes}, seed={self.seed}, dtype='{self.dtype}')"
