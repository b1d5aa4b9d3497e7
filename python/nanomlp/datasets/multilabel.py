"""MNIST as a multi-label problem: two yes/no labels per image, "digit ≥ 5" and "odd"."""

from __future__ import annotations

from typing import Any

import numpy as np

from .tasks import MULTILABEL, TrainTest, describe

LABEL_NAMES = MULTILABEL


def multilabel_targets(y: Any) -> np.ndarray:
    """Digit labels (N,) as float32 indicators (N, 2): column 0 "digit ≥ 5", column 1 "odd".

    Parameters
    ----------
    y : array-like of int
        Digit labels 0..9, 1-D.

    Returns
    -------
    ndarray of float32, shape (N, 2)
        The 0/1 targets.

    Raises
    ------
    ValueError
        For labels that are not 1-D integers in 0..9.

    Examples
    --------
    >>> from nanomlp.datasets import multilabel_targets
    >>> multilabel_targets([0, 5, 7])
    array([[0., 0.],
           [1., 1.],
           [1., 1.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() > 9)):
        raise ValueError(
            f"y must be 1-D digit labels 0..9, got dtype {y.dtype} and shape {y.shape}"
        )
    out = np.empty((len(y), 2), dtype=np.float32)
    out[:, 0] = y >= 5
    out[:, 1] = y % 2
    return out


def relabel(pair: Any) -> TrainTest:
    """A loaded MNIST ``(x_train, y_train), (x_test, y_test)`` with multi-label targets."""
    (x_train, y_train), (x_test, y_test) = pair
    return TrainTest(
        (x_train, multilabel_targets(y_train)),
        (x_test, multilabel_targets(y_test)),
        describe("mnist-multilabel"),
    )
