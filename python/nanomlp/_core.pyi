"""Typed interface of nanomlp's native engine (the ``_core`` extension)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__version__: str

def first_nonfinite_row(x: npt.NDArray[np.float32]) -> int: ...

class Network:
    """An MLP's workspaces and threads; parameters stay in the caller's float32 array."""

    def __init__(
        self,
        layer_sizes: list[int],
        batch_size: int,
        threads: int = 1,
        activations: Sequence[str] | None = None,
        negative_slope: float = 0.01,
        label_smoothing: float = 0.0,
        loss: str = "cross_entropy",
        delta: float = 1.0,
    ) -> None: ...
    @property
    def activations(self) -> list[str]: ...
    @property
    def negative_slope(self) -> float: ...
    @property
    def label_smoothing(self) -> float: ...
    @property
    def loss(self) -> str: ...
    @property
    def delta(self) -> float: ...
    @property
    def threads(self) -> int: ...
    @property
    def kernel(self) -> str: ...
    @property
    def layer_sizes(self) -> list[int]: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def num_params(self) -> int: ...
    def weight_offset(self, layer: int) -> int: ...
    def bias_offset(self, layer: int) -> int: ...
    def train_epoch(
        self,
        params: npt.NDArray[np.float32],
        x: npt.NDArray[np.float32],
        labels: npt.NDArray[np.int32],
        order: npt.NDArray[np.int64],
        lr: float | npt.NDArray[np.float64],
        *,
        optimizer: str = "sgd",
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        amsgrad: bool = False,
        alpha: float = 0.99,
        centered: bool = False,
        state: dict[str, npt.NDArray[np.float32]] | None = None,
        step: int = 0,
        sample_weight: npt.NDArray[np.float32] | None = None,
        dropout: Sequence[float] | None = None,
        dropout_seed: int = 0,
        first_step: int = 0,
        clip_value: float = 0.0,
        clip_norm: float = 0.0,
        velocity: npt.NDArray[np.float32] | None = None,
        track_loss: bool = False,
    ) -> int | tuple[int, float, float]: ...
    def gradients(
        self,
        params: npt.NDArray[np.float32],
        x: npt.NDArray[np.float32],
        labels: npt.NDArray[np.int32],
    ) -> tuple[npt.NDArray[np.float32], float]: ...
    def evaluate(
        self,
        params: npt.NDArray[np.float32],
        x: npt.NDArray[np.float32],
        labels: npt.NDArray[np.int32] | None = None,
        return_proba: bool = False,
    ) -> tuple[float, int, npt.NDArray[np.float32] | None]: ...
