"""Figures of an experiment: learning curves, predictions, confusion matrix, sweep heatmap,
and predicted against true values for regression.

matplotlib (a dependency of nanomlp) is imported only when a function here is called. Every
function returns the ``Figure``; pass ``ax`` to draw into axes of your own figure instead of a
new one. Nothing here calls ``plt.show()``: in a notebook the figure shows itself, in a script
call ``plt.show()`` or ``fig.savefig(...)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "plot_history",
    "plot_predictions",
    "plot_confusion_matrix",
    "plot_sweep",
    "plot_regression",
]

_TITLES = {"loss": "Loss over Epochs", "acc": "Accuracy over Epochs", "r2": "R² over Epochs"}
_NAMES = {"loss": "Loss", "acc": "Accuracy", "r2": "R²"}
_WRONG = "tab:red"


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("nanomlp.plotting needs matplotlib: pip install matplotlib") from err
    return plt


def require_matplotlib() -> None:
    """Raise the ImportError that names the install command if matplotlib is missing."""
    _pyplot()


def _axes_list(ax: Any, count: int, name: str = "ax") -> list[Any]:
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < count:
        raise ValueError(f"{name} must hold at least {count} Axes, got {len(axes)}")
    return axes[:count]


def plot_history(history: Any, ax: Any = None, metrics: Sequence[str] = ("loss", "acc")) -> Any:
    """The notebook's two panels: loss and accuracy over epochs, train and validation.

    Parameters
    ----------
    history : History or dict
        What ``Trainer.fit`` returns, or its ``history`` dict (``train_loss``, ``val_loss``,
        ``train_acc``, ``val_acc``; validation curves are drawn when present).
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per metric; by default a new figure.
    metrics : sequence of str, default ("loss", "acc")
        The panels: "loss", "acc" and/or "r2".

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown).

    Raises
    ------
    TypeError
        When ``history`` is neither a ``History`` nor a dict.
    ValueError
        For an unknown metric, one the history lacks, or too few Axes.
    ImportError
        Without matplotlib.

    Examples
    --------
    >>> from nanomlp.plotting import plot_history
    >>> fig = plot_history({"train_loss": [0.5, 0.3], "train_acc": [0.8, 0.9]})
    >>> [ax.get_title() for ax in fig.axes]
    ['Loss over Epochs', 'Accuracy over Epochs']
    """
    curves: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not isinstance(curves, Mapping):
        raise TypeError(
            f"history must be a History or a dict of lists, got {type(history).__name__}"
        )
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in _TITLES:
            raise ValueError(f"metrics must be drawn from {tuple(_TITLES)}, got {metric!r}")
        if f"train_{metric}" not in curves:
            raise ValueError(f"history has no 'train_{metric}' (keys: {', '.join(sorted(curves))})")
    n = len(curves[f"train_{metrics[0]}"]) if metrics else 0
    # A resumed run's History numbers its epochs from initial_epoch.
    first = getattr(history, "epoch", None)
    epochs = np.arange(n) + (first[0] + 1 if first else 1)

    plt = _pyplot()
    if ax is None:
        fig, axes = plt.subplots(
            1, len(metrics), figsize=(6 * len(metrics), 5), squeeze=False, layout="constrained"
        )
        axes = list(axes[0])
    else:
        axes = _axes_list(ax, len(metrics))
        fig = axes[0].figure
    for axis, metric in zip(axes, metrics):
        name = _NAMES[metric]
        for split, label in (("train", "Train"), ("val", "Val")):
            values = curves.get(f"{split}_{metric}")
            if values is not None:
                axis.plot(epochs, values, marker="o", markersize=3, label=f"{label} {name}")
        axis.set_xlabel("Epochs")
        axis.set_ylabel(name)
        axis.set_title(_TITLES[metric])
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.grid(True, alpha=0.3)
        axis.legend()
    return fig


def _predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities from a Trainer, or from an MLP on the backend its dtype needs."""
    from .model import MLP
    from .trainer import Trainer

    if isinstance(model, Trainer):
        return model.predict_proba(x)
    if isinstance(model, MLP):
        backend = "native" if model.dtype == np.float32 else "numpy"
        return Trainer(model, backend=backend).predict_proba(x)
    raise TypeError(f"model must be an nanomlp.MLP or Trainer, got {type(model).__name__}")


def _image_shape(n_features: int) -> tuple[int, int]:
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(
            f"x rows must be square images (28×28 = 784 values), got {n_features} values"
        )
    return side, side


def _class_names(names: Sequence[str] | None, k: int, what: str) -> list[str]:
    if names is None:
        return [str(c) for c in range(k)]
    names = [str(s) for s in names]
    if len(names) < k:
        raise ValueError(f"{what} must name {k} classes, got {len(names)}")
    return names


def plot_predictions(
    model: Any,
    x: Any,
    y: Any,
    n: int = 10,
    ax: Any = None,
    ncols: int = 5,
    class_names: Sequence[str] | None = None,
) -> Any:
    """The first ``n`` images of ``x`` in one grid, titled with their true and predicted labels.

    Mistakes are drawn in red with a red frame.

    Parameters
    ----------
    model : MLP or Trainer
        The model that predicts.
    x : array-like of shape (n_samples, side * side)
        Square images, one per row.
    y : array-like of int
        The true class ids.
    n : int, default 10
        How many images.
    ax : sequence of Axes, optional
        At least ``n`` Axes, one per image; by default a new figure of ``ncols`` columns.
    ncols : int, default 5
        Columns of the new figure.
    class_names : sequence of str, optional
        Titles the images with names instead of ids (such as
        ``datasets.class_names("fashion-mnist")``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown).

    Raises
    ------
    ValueError
        For rows that are not square images, too few names or Axes, or a bad ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLP
    >>> from nanomlp.plotting import plot_predictions
    >>> x = np.zeros((2, 16), np.float32)
    >>> fig = plot_predictions(MLP((16, 4, 2), seed=0), x, np.array([0, 1]), n=2)
    >>> print(fig.axes[1].get_title())
    Pred: 0 (50%)
    True: 1
    """
    from ._checks import check_int

    n = check_int(n, "n", 1)
    ncols = check_int(ncols, "ncols", 1)
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or len(x) < n:
        raise ValueError(f"x must be 2-D with at least n={n} rows, got shape {x.shape}")
    if y.ndim != 1 or len(y) < n:
        raise ValueError(
            f"y must be 1-D class ids with at least n={n} entries, got shape {y.shape}"
        )
    shape = _image_shape(x.shape[1])
    proba = _predict_proba(model, x[:n])
    predicted = proba.argmax(axis=1)
    names = _class_names(class_names, max(proba.shape[1], int(y[:n].max()) + 1), "class_names")

    plt = _pyplot()
    if ax is None:
        cols = min(ncols, n)
        rows = math.ceil(n / cols)
        fig, grid = plt.subplots(
            rows, cols, figsize=(1.9 * cols, 2.3 * rows + 0.4), squeeze=False, layout="constrained"
        )
        axes = list(grid.ravel())
        for spare in axes[n:]:
            spare.set_visible(False)
        axes = axes[:n]
    else:
        axes = _axes_list(ax, n)
        fig = axes[0].figure
    wrong = 0
    for i, axis in enumerate(axes):
        true, pred = int(y[i]), int(predicted[i])
        ok = true == pred
        wrong += not ok
        axis.imshow(x[i].reshape(shape), cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(
            f"Pred: {names[pred]} ({proba[i, pred]:.0%})\nTrue: {names[true]}",
            fontsize=9,
            color="black" if ok else _WRONG,
        )
        axis.set_xticks([])
        axis.set_yticks([])
        for spine in axis.spines.values():
            spine.set_visible(not ok)
            spine.set_color(_WRONG)
            spine.set_linewidth(2.5)
    if ax is None:
        fig.suptitle(f"Predictions: {n - wrong} of {n} right (mistakes in red)")
    return fig


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    ax: Any = None,
    n_classes: int | None = None,
    labels: Sequence[str] | None = None,
) -> Any:
    """Counts of (true class, predicted class), with the accuracy in the title.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        Class ids, 1-D, of the same length.
    ax : matplotlib Axes, optional
        By default a new figure.
    n_classes : int, optional
        Defaults to the largest class id seen plus one.
    labels : sequence of str, optional
        Names of the classes on both axes.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown).

    Raises
    ------
    ValueError
        For arrays of different lengths or shapes, negative ids, or too few labels.

    Examples
    --------
    >>> from nanomlp.plotting import plot_confusion_matrix
    >>> fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=["a", "b", "c"])
    >>> fig.axes[0].get_title()
    'Confusion matrix (accuracy 75.00%)'
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be 1-D class ids of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.dtype.kind not in "iu" or arr.min() < 0:
            raise ValueError(f"{name} must hold class ids (integers >= 0), got dtype {arr.dtype}")
    k = int(max(y_true.max(), y_pred.max())) + 1 if n_classes is None else int(n_classes)
    if k <= max(y_true.max(), y_pred.max()):
        raise ValueError(
            f"n_classes={k} is too small for class id {max(y_true.max(), y_pred.max())}"
        )
    names = [str(c) for c in range(k)] if labels is None else [str(s) for s in labels]
    if len(names) != k:
        raise ValueError(f"labels must name {k} classes, got {len(names)}")
    counts = np.bincount(y_true.astype(np.int64) * k + y_pred, minlength=k * k).reshape(k, k)
    accuracy = np.trace(counts) / counts.sum()

    plt = _pyplot()
    if ax is None:
        size = max(5.0, 0.55 * k + 2)
        fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    else:
        fig = ax.figure
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = counts.max() / 2
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if counts[i, j] > threshold else "black",
                )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    if any(len(name) > 2 for name in names):
        # Names longer than a digit or two would run into each other on the x axis.
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.2%})")
    return fig


def plot_sweep(results: Sequence[Mapping[str, Any]], ax: Any = None) -> Any:
    """Heatmap of test accuracy over learning rate (rows) × batch size (columns).

    Parameters
    ----------
    results : list of dict
        Records with keys ``lr``, ``batch_size`` and ``test_acc`` (what ``sweep.sweep``
        returns); a cell with no result stays blank.
    ax : matplotlib Axes, optional
        By default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown).

    Raises
    ------
    ValueError
        For an empty list, a record lacking a key, or a repeated (lr, batch size).

    Examples
    --------
    >>> from nanomlp.plotting import plot_sweep
    >>> records = [{"lr": 0.1, "batch_size": 32, "test_acc": 0.97},
    ...            {"lr": 0.01, "batch_size": 32, "test_acc": 0.96}]
    >>> fig = plot_sweep(records)
    >>> fig.axes[0].get_ylabel()
    'Learning rate'
    """
    if isinstance(results, Mapping) or not isinstance(results, Sequence) or not results:
        raise ValueError(
            "results must be a non-empty list of dicts with keys lr, batch_size, test_acc"
        )
    for i, result in enumerate(results):
        missing = [
            k
            for k in ("lr", "batch_size", "test_acc")
            if not isinstance(result, Mapping) or k not in result
        ]
        if missing:
            raise ValueError(f"results[{i}] lacks {', '.join(missing)}")
    lrs = sorted({float(r["lr"]) for r in results}, reverse=True)
    batches = sorted({int(r["batch_size"]) for r in results})
    grid = np.full((len(lrs), len(batches)), np.nan)
    for r in results:
        i, j = lrs.index(float(r["lr"])), batches.index(int(r["batch_size"]))
        if not np.isnan(grid[i, j]):
            raise ValueError(f"results hold lr={r['lr']}, batch_size={r['batch_size']} twice")
        grid[i, j] = float(r["test_acc"])

    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(1.4 * len(batches) + 3, 1.0 * len(lrs) + 2), layout="constrained"
        )
    else:
        fig = ax.figure
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="Test accuracy")
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(len(lrs)):
        for j in range(len(batches)):
            if np.isfinite(grid[i, j]):
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:.4f}",
                    ha="center",
                    va="center",
                    color="black" if grid[i, j] > middle else "white",
                )
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_xlabel("Batch size")
    ax.set_ylabel("Learning rate")
    ax.set_title("Test accuracy over learning rate × batch size")
    return fig


def _r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The coefficient of determination, 1 - SS_res / SS_tot, in float64; as scikit-learn's
    ``r2_score``, 1.0 for a constant target predicted exactly and 0.0 otherwise."""
    y_true = np.asarray(y_true, dtype=np.float64)
    residual = np.sum((y_true - np.asarray(y_pred, dtype=np.float64)) ** 2)
    total = np.sum((y_true - y_true.mean()) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1.0 - residual / total)


def plot_regression(
    y_true: Any,
    y_pred: Any,
    ax: Any = None,
    target_names: Sequence[str] | None = None,
    max_panels: int = 4,
) -> Any:
    """Predicted against true values, one panel per target, with R² in each title.

    The identity line is a perfect prediction.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (N,) or (N, k)
        True and predicted values.
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per panel drawn; by default a new figure.
    target_names : sequence of str, optional
        Titles the panels (such as a regression dataset's ``.target_names``).
    max_panels : int, default 4
        The first ``max_panels`` targets are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (never shown).

    Raises
    ------
    ValueError
        For shapes that differ, non-finite values, or too few Axes or names.

    Examples
    --------
    >>> from nanomlp.plotting import plot_regression
    >>> fig = plot_regression([1.0, 2.0, 3.0], [1.0, 2.5, 2.5], target_names=["y"])
    >>> fig.axes[0].get_title()
    'y: R² = 0.7500'
    """
    from ._checks import check_int

    max_panels = check_int(max_panels, "max_panels", 1)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim not in (1, 2) or len(y_true) == 0:
        raise ValueError(
            f"y_true and y_pred must have the same shape, (N,) or (N, k) with N > 0, got "
            f"{y_true.shape} and {y_pred.shape}"
        )
    true2 = y_true.reshape(len(y_true), -1).astype(np.float64)
    pred2 = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    count = min(true2.shape[1], max_panels)
    names = (
        [f"target {j}" for j in range(true2.shape[1])]
        if target_names is None
        else [str(s) for s in target_names]
    )
    if len(names) != true2.shape[1]:
        raise ValueError(f"target_names must name {true2.shape[1]} targets, got {len(names)}")

    plt = _pyplot()
    if ax is None:
        fig, axes = plt.subplots(
            1, count, figsize=(4.5 * count, 4.5), squeeze=False, layout="constrained"
        )
        axes = list(axes[0])
    else:
        axes = _axes_list(ax, count)
        fig = axes[0].figure
    for j, axis in enumerate(axes):
        t, p = true2[:, j], pred2[:, j]
        low = float(min(t.min(), p.min()))
        high = float(max(t.max(), p.max()))
        axis.scatter(t, p, s=12, alpha=0.6, edgecolors="none")
        axis.plot([low, high], [low, high], color="black", linewidth=1, linestyle="--")
        axis.set_xlabel("True")
        axis.set_ylabel("Predicted")
        axis.set_title(f"{names[j]}: R² = {_r2_score(t, p):.4f}")
        axis.grid(True, alpha=0.3)
        axis.set_aspect("equal", adjustable="datalim")
    if ax is None and true2.shape[1] > count:
        fig.suptitle(f"The first {count} of {true2.shape[1]} targets")
    return fig
