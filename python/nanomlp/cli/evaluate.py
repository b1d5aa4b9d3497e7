"""``nanomlp evaluate``: test loss, accuracy and per-class accuracy of a saved model."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common as c


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    evaluate = commands.add_parser(
        "evaluate",
        parents=parents,
        help="test loss, accuracy and per-class accuracy of a saved model",
        description="Evaluate a model saved by 'nanomlp train' (or MLP.save) on a test set.",
    )
    evaluate.add_argument("model", metavar="MODEL.npz", help="the model file")
    evaluate.add_argument(
        "--dataset",
        choices=c.DATASET_CHOICES,
        default=None,
        help="(default: the one the model was trained on, else mnist)",
    )
    evaluate.add_argument(
        "--data", metavar="DIR", help="dataset folder or .npz (default: as for train)"
    )
    evaluate.set_defaults(handler=run, command_parser=evaluate)
    return evaluate


def run(args: argparse.Namespace) -> int:
    from ..trainer import Trainer

    model = c.load_model(args.model)
    config = model.metadata.get("config")
    trained_on = config.get("dataset") if isinstance(config, dict) else None
    name = args.dataset or trained_on or "mnist"
    _, (x_test, y_test) = c.load_dataset(name, args.data)
    if x_test.shape[1] != model.n_features:
        raise c.CommandError(
            f"{args.model} takes {model.n_features} inputs, but {name} images have {x_test.shape[1]}"
        )
    trainer = Trainer(model, backend=c.backend_for(model))
    loss, accuracy = trainer.evaluate(x_test, y_test)
    predicted = trainer.predict(x_test)
    c.echo(f"Test Loss: {loss:.4f}, Test Accuracy: {accuracy:.4f}  ({name}, {len(x_test)} images)")
    c.echo("Per-class accuracy:")
    for label in range(model.n_classes):
        rows = y_test == label
        total = int(rows.sum())
        right = int((predicted[rows] == label).sum())
        share = f"{right / total:.4f}" if total else "   -  "
        c.echo(f"  {label:>2}: {share}  ({right}/{total})")
    return 0
