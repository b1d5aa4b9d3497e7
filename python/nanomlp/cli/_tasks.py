"""What ``train`` makes of a dataset's task: its loss, the width of the output layer and the
figures that show the result."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from . import _common as c

# The loss a task trains with unless --loss says otherwise, and the losses that fit it.
DEFAULT_LOSS = {
    "classification": "cross_entropy",
    "binary": "binary_cross_entropy",
    "multilabel": "binary_cross_entropy",
    "regression": "mse",
}
FITTING = {
    "classification": ("cross_entropy",),
    "binary": ("binary_cross_entropy", "cross_entropy"),
    "multilabel": ("binary_cross_entropy",),
    "regression": ("mse", "huber"),
}


def resolve_loss(args: argparse.Namespace, task: str) -> None:
    """``args.loss`` from the task if not given; a usage error for a loss that does not fit
    the dataset's targets, or a setting of another loss."""
    sub = args.command_parser
    if args.loss is None:
        args.loss = DEFAULT_LOSS[task]
    elif args.loss not in FITTING[task]:
        sub.error(
            f"argument --loss: {args.loss} does not fit {args.dataset}, a {task} task "
            f"(use {' or '.join(FITTING[task])})"
        )
    if args.label_smoothing is not None and args.loss != "cross_entropy":
        sub.error("argument --label-smoothing: applies to --loss cross_entropy only")
    if args.delta is not None and args.loss != "huber":
        sub.error("argument --delta: applies to --loss huber only")


def output_width(loss: str, *targets: np.ndarray) -> int:
    """Classes seen for cross-entropy (a --limit can leave the last ones out), else the
    targets' columns (one for 1-D targets)."""
    if loss == "cross_entropy":
        return int(max(y.max(initial=0) for y in targets)) + 1
    y = targets[0]
    return 1 if y.ndim == 1 else int(y.shape[1])


def save_figures(
    trainer: Any, history: Any, x_test: np.ndarray, y_test: np.ndarray, about: Any, out: Path
) -> list[str]:
    """The run's figures, by task: the curves, then the predictions and the confusion matrix
    for classes, the scatter of predicted against true values for regression. Returns the
    names of the files written."""
    from .. import plotting

    loss, n_out = trainer.loss, trainer.model.n_outputs
    regression = loss in ("mse", "huber")
    c.save_figure(
        plotting.plot_history(history, metrics=("loss", "r2" if regression else "acc")),
        out / "curves.png",
    )
    written = ["curves.png"]
    if regression:
        c.save_figure(
            plotting.plot_regression(
                y_test, trainer.predict(x_test), target_names=about.target_names
            ),
            out / "regression.png",
        )
        return [*written, "regression.png"]
    if about.task == "multilabel":
        return written
    # A --limit can leave out the last classes: the names of those seen are kept.
    n_classes = n_out if loss == "cross_entropy" else 2
    names = list(about.class_names or ())[:n_classes] or None
    if x_test.shape[1] == round(np.sqrt(x_test.shape[1])) ** 2 and loss == "cross_entropy":
        c.save_figure(
            plotting.plot_predictions(trainer, x_test, y_test, n=10, class_names=names),
            out / "predictions.png",
        )
        written.append("predictions.png")
    c.save_figure(
        plotting.plot_confusion_matrix(
            y_test, trainer.predict(x_test).reshape(len(x_test)), n_classes=n_classes, labels=names
        ),
        out / "confusion.png",
    )
    return [*written, "confusion.png"]
