"""``nanomlp predict``: the predicted class of images (PNG or .npy), with probabilities."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from . import _common as c
from . import _types as t


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    predict = commands.add_parser(
        "predict",
        parents=parents,
        help="predicted classes of images, with probabilities",
        description="Predict the class of each image: a 28×28 PNG (a digit drawn dark on light "
        "is inverted to MNIST's light on dark) or a .npy of one or more images, shape (28, 28), "
        "(N, 28, 28), (784,) or (N, 784), values in [0, 1] or 0..255.",
    )
    predict.add_argument("model", metavar="MODEL.npz", help="the model file")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="IMAGE.png or IMAGES.npy")
    predict.add_argument(
        "--top",
        type=t.int_at_least(1),
        default=3,
        help="probabilities shown per image (default: %(default)s)",
    )
    predict.set_defaults(handler=run, command_parser=predict)
    return predict


def read_png(path: Path, side: int) -> tuple[np.ndarray, str]:
    """A grayscale image as one row in [0, 1], light digit on dark as in MNIST."""
    import matplotlib.image as mpimg

    try:
        image = np.asarray(mpimg.imread(path), dtype=np.float64)
    except Exception as err:  # PIL's and matplotlib's errors for unreadable images
        raise c.CommandError(f"{path}: not a readable image ({err})") from err
    if image.dtype.kind in "iu" or image.max() > 1.0:
        image = image / 255.0
    if image.ndim == 3:
        if image.shape[2] == 4:
            # A transparent background counts as white paper.
            alpha = image[..., 3:]
            image = image[..., :3] * alpha + (1.0 - alpha)
        image = (
            image[..., :3] @ np.array([0.299, 0.587, 0.114])
            if image.shape[2] >= 3
            else image[..., 0]
        )
    if image.shape != (side, side):
        raise c.CommandError(
            f"{path}: the image is {image.shape[1]}×{image.shape[0]} pixels; the model takes "
            f"{side}×{side} grayscale images (resize it first)"
        )
    note = ""
    if image.mean() > 0.5:
        image = 1.0 - image
        note = " (inverted: dark digit on light background)"
    return image.reshape(1, -1), note


def read_npy(path: Path, n_features: int) -> np.ndarray:
    """Rows of ``n_features`` in [0, 1] from a .npy of one image or many, flat or square."""
    try:
        images = np.load(path, allow_pickle=False)
    except Exception as err:
        raise c.CommandError(f"{path}: not a readable .npy array ({err})") from err
    if not isinstance(images, np.ndarray) or images.dtype.kind not in "fiu":
        raise c.CommandError(f"{path}: expected a numeric .npy array")
    side = int(round(n_features**0.5))
    if images.shape in ((n_features,), (side, side)):
        images = images.reshape(1, n_features)
    elif images.ndim == 3 and images.shape[1:] == (side, side):
        images = images.reshape(len(images), n_features)
    elif not (images.ndim == 2 and images.shape[1] == n_features):
        raise c.CommandError(
            f"{path}: shape {images.shape}; expected ({side}, {side}), (N, {side}, {side}), "
            f"({n_features},) or (N, {n_features})"
        )
    images = images.astype(np.float64)
    if images.size and images.max() > 1.0:
        images = images / 255.0
    return images


def run(args: argparse.Namespace) -> int:
    from ..trainer import Trainer

    model = c.load_model(args.model)
    trainer = Trainer(model, backend=c.backend_for(model))
    side = int(round(model.n_features**0.5))
    top = min(args.top, model.n_classes)
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise c.CommandError(f"{path}: no such file")
        if path.suffix.lower() == ".npy":
            images, notes = read_npy(path, model.n_features), ""
            labels = (
                [f"{path}[{i}]" for i in range(len(images))] if len(images) > 1 else [str(path)]
            )
        else:
            if side * side != model.n_features:
                raise c.CommandError(
                    f"{args.model} takes {model.n_features} inputs, not a square image"
                )
            images, notes = read_png(path, side)
            labels = [str(path)]
        proba = trainer.predict_proba(images)
        for label, p in zip(labels, proba):
            best = np.argsort(-p, kind="stable")[:top]
            ranked = ", ".join(f"{k} {p[k]:.1%}" for k in best)
            c.echo(f"{label}: {best[0]} ({p[best[0]]:.1%})  [{ranked}]{notes}")
    return 0
