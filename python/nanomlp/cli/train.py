"""``nanomlp train``: train a network, evaluate it, save the model, its record and plots."""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, _defaults
from .._io import write_json
from . import _common as c
from . import _options as o
from . import _tasks


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    d = _defaults
    train = commands.add_parser(
        "train",
        parents=parents,
        help="train a network, evaluate it, save the model and plots",
        description="Train a network on MNIST, Fashion-MNIST, scikit-learn's 8×8 digits, "
        "breast cancer (binary) or diabetes (regression) data, or MNIST's two yes/no labels "
        "(multi-label): one line per epoch, then the test loss and accuracy (R² for "
        "regression); writes history.json, model.npz, config.json, curves.png and, by task, "
        "predictions.png and confusion.png or regression.png to --out. The defaults are the classic notebook's: "
        f"{'-'.join(map(str, d.LAYER_SIZES))}, lr {d.LR:g}, batch {d.BATCH_SIZE}, {d.EPOCHS} epochs, "
        f"the last {d.VAL_SIZE:,} training images for validation, seed {d.SEED}.",
    )
    o.add_training_options(train, grid=False)
    c.add_data_options(train, min_val_size=0)
    c.add_output_options(train, quiet_help="no per-epoch lines, only the results")
    train.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write TensorBoard event files (losses, accuracies, learning rate) to DIR "
        "(needs nanomlp[tensorboard])",
    )
    train.add_argument("--csv-log", metavar="PATH", help="write one CSV row per epoch to PATH")
    train.set_defaults(handler=run, command_parser=train)
    return train


def run(args: argparse.Namespace) -> int:
    from ..callbacks import TerminateOnNaN
    from ..datasets import describe
    from ..model import MLP
    from ..trainer import Trainer

    o.resolve_training_options(args)
    o.check_training_options(args)
    about = describe(args.dataset)
    _tasks.resolve_loss(args, about.task)
    c.use_agg()  # fail now, not after training, if matplotlib is missing
    loggers = _loggers(args)

    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = c.split_data(args, c.TASKS)
    validation = (x_val, y_val) if args.val_size else None
    settings = {name: getattr(args, name) for name in o.TRAINING_SETTINGS}
    settings.update(batch_size=args.batch_size, epochs=args.epochs)
    optimizer, schedule = o.training_settings(
        args.command_parser, settings, n_train=len(x_fit), n_hidden=len(args.hidden)
    )

    layer_sizes = [
        x_fit.shape[1],
        *args.hidden,
        _tasks.output_width(args.loss, y_fit, y_val, y_test),
    ]
    rates = args.dropout or [0.0]
    activations = args.activation or ["relu"]
    try:
        model = MLP(
            layer_sizes,
            seed=args.seed,
            dtype=args.dtype,
            dropout=rates[0] if len(rates) == 1 else rates,
            activation=activations[0] if len(activations) == 1 else activations,
            loss=args.loss,
            delta=1.0 if args.delta is None else args.delta,
        )
    except ValueError as err:
        if "activation" not in str(err):
            raise
        args.command_parser.error(f"argument --activation: {err}")
    trainer = Trainer(
        model,
        batch_size=args.batch_size,
        epochs=args.epochs,
        backend=args.backend,
        optimizer=optimizer,
        lr_schedule=schedule,
        clip_norm=args.clip_norm,
        clip_value=args.clip_value,
        threads=args.threads,
        label_smoothing=args.label_smoothing or 0.0,
    )
    out = Path(args.out) if args.out else c.default_out()
    config = _config(args, layer_sizes, n_train=len(x_fit), n_test=len(x_test), trainer=trainer)

    with c.output_folder(out):
        terminate = TerminateOnNaN()
        history = trainer.fit(
            x_fit,
            y_fit,
            validation_data=validation,
            verbose=0 if args.quiet else 1,
            callbacks=[terminate, *loggers],
        )
        if terminate.stopped_epoch is not None:
            raise c.CommandError(
                f"training diverged at epoch {terminate.stopped_epoch + 1} (loss is NaN or infinite); "
                f"nothing saved; try a smaller --lr than {args.lr:g}"
            )
        test_loss, test_score = trainer.evaluate(x_test, y_test)
        name = "R²" if trainer.metric == "r2" else "Accuracy"
        c.echo(f"Test Loss: {test_loss:.4f}, Test {name}: {test_score:.4f}")

        record = {
            "epoch": [e + 1 for e in history.epoch],
            **history.history,
            "test_loss": test_loss,
            f"test_{trainer.metric}": test_score,
        }
        model.metadata = {"config": config, "history": record}
        write_json(out / "config.json", config)
        write_json(out / "history.json", record)
        model.save(out / "model.npz")
        figures = _tasks.save_figures(trainer, history, x_test, y_test, about, out)
    c.echo(f"Saved to {out}/: config.json history.json model.npz {' '.join(figures)}")
    return 0


def _loggers(args: argparse.Namespace) -> list[Any]:
    """The --tensorboard and --csv-log callbacks, checked before training starts."""
    from ..loggers import CSVLogger, TensorBoard

    loggers: list[Any] = []
    try:
        if args.tensorboard:
            from ..interop._common import require

            require("tensorboardX", "tensorboard")
            loggers.append(TensorBoard(args.tensorboard))
        if args.csv_log:
            loggers.append(CSVLogger(args.csv_log))
    except ValueError as err:
        option = "--tensorboard" if "log_dir" in str(err) else "--csv-log"
        args.command_parser.error(f"argument {option}: {err}")
    return loggers


def _config(
    args: argparse.Namespace, layer_sizes: list[int], n_train: int, n_test: int, trainer: Any
) -> dict[str, Any]:
    """The run's record: every setting, the data's origin and sizes, the software. The
    optimizer's and the schedule's settings as given (None: the default), then the optimizer
    and the schedule with every argument they were made with."""
    optimizer = trainer.optimizer
    return {
        "command": "nanomlp train",
        "argv": args.argv,
        "nanomlp_version": __version__,
        "dataset": args.dataset,
        "data": args.data,
        "data_found": c.data_location(args.dataset, args.data),
        "layer_sizes": layer_sizes,
        "preset": args.preset,
        "lr": optimizer.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "momentum": getattr(optimizer, "momentum", None),
        "nesterov": bool(getattr(optimizer, "nesterov", False)),
        "weight_decay": optimizer.weight_decay,
        "optimizer": args.optimizer,
        **{name: getattr(args, name) for name in ("betas", "eps", "rmsprop_alpha")},
        "schedule": args.schedule,
        **{
            name: getattr(args, name)
            for name in ("warmup", "step_size", "milestones", "gamma", "min_lr", "max_lr")
        },
        "pct_start": args.pct_start,
        "loss": trainer.loss,
        "label_smoothing": trainer.label_smoothing,
        "delta": trainer.delta,
        "dropout": list(trainer.model.dropout),
        "activation": list(trainer.model.activations),
        "clip_norm": args.clip_norm,
        "clip_value": args.clip_value,
        "optimizer_config": optimizer.get_config(),
        "schedule_config": trainer.lr_schedule.get_config(),
        "backend": args.backend,
        "dtype": args.dtype,
        "threads": args.threads,
        "seed": args.seed,
        "val_size": args.val_size,
        "limit": args.limit,
        "n_train": n_train,
        "n_val": args.val_size,
        "n_test": n_test,
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
