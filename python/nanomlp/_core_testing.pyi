"""Typed interface of ``nanomlp._core.testing``: the matrix kernels one by one, for the tests."""

import numpy as np
import numpy.typing as npt

generic_fuses: bool

def available_kernels() -> list[str]: ...
def gemm(
    shape: str,
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    kernel: str,
    threads: int = 1,
    bias: npt.NDArray[np.float32] | None = None,
    relu: bool = False,
    mask: npt.NDArray[np.float32] | None = None,
    c: npt.NDArray[np.float32] | None = None,
    lr: float = 0.0,
    rows: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float32]: ...
def reference_gemm(
    shape: str, a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], fused: bool = False
) -> npt.NDArray[np.float32]: ...
def activation_forward(
    name: str, z: npt.NDArray[np.float32], kernel: str, negative_slope: float = 0.01
) -> npt.NDArray[np.float32]: ...
def activation_backward(
    name: str,
    g: npt.NDArray[np.float32],
    saved: npt.NDArray[np.float32],
    kernel: str,
    negative_slope: float = 0.01,
) -> npt.NDArray[np.float32]: ...
