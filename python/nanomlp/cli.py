"""The ``nanomlp`` command: train, evaluate, predict, data, bench.

Exit codes: 0 success, 1 runtime error (one line on stderr; ``--debug`` shows the traceback),
2 usage error, 130 interrupted (Ctrl-C). Every file is written atomically, so an interrupted
run leaves complete files or none.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import __version__
from ._io import atomic_write, write_json

DATASET_CHOICES = ("mnist", "fashion-mnist")
# The notebook's experiment, the defaults of `nanomlp train`.
DEFAULT_HIDDEN = (128, 64)
DEFAULT_VAL_SIZE = 5000
# bench/bench_epoch.py of a source checkout: the benchmark is not part of the installed package.

class CommandError(Exception):
    """A runtime failure the user can act on: printed as one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (and exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------------ argument types
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _int_at_least(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text}")
        return value

    parse.__name__ = "integer"  # what argparse calls the type in its messages
    return parse


# ------------------------------------------------------------------------------------- parser
def _add_data_options(parser: argparse.ArgumentParser, min_val_size: int) -> None:
    """Which data, and how the training set is split: shared by train and sweep."""
    parser.add_argument("--dataset", choices=DATASET_CHOICES, default="mnist", help="(default: %(default)s)")
    parser.add_argument("--data", metavar="DIR", help="dataset folder or .npz (default: $NANOMLP_DATA, "
                        "the cache, else a download; see 'nanomlp data info')")
    parser.add_argument("--val-size", type=_int_at_least(min_val_size), default=DEFAULT_VAL_SIZE,
                        help="last training images held out for validation (default: %(default)s)")
    parser.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                        help="use only the first N training images (validation included), for quick runs")


def _split_data(args: argparse.Namespace) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(fit, validation, test) pairs as the options say: the last --val-size training images
    (of the first --limit) held out, as the notebook holds out its last 5,000."""
    if args.limit is not None and args.limit <= args.val_size:
        args.command_parser.error(f"--limit ({args.limit}) must be larger than --val-size ({args.val_size})")
    (x_train, y_train), (x_test, y_test) = _load_dataset(args.dataset, args.data)
    if args.limit is not None:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    if args.val_size >= len(x_train):
        raise CommandError(f"--val-size {args.val_size} leaves no training images out of {len(x_train)}")
    n_fit = len(x_train) - args.val_size
    return (x_train[:n_fit], y_train[:n_fit]), (x_train[n_fit:], y_train[n_fit:]), (x_test, y_test)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, for ``main`` and for documentation."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")

    parser = _Parser(
        prog="nanomlp",
        description="Train small multilayer perceptrons on MNIST-like data, on the CPU.",
        epilog="Run 'nanomlp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"nanomlp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train", parents=[common], help="train a network, evaluate it, save the model and plots",
        description="Train a network on MNIST or Fashion-MNIST: one line per epoch, then the "
        "test loss and accuracy; writes history.json, model.npz, config.json, curves.png, "
        "predictions.png and confusion.png to --out. The defaults are the classic notebook's: "
        "784-128-64-10, lr 0.01, batch 32, 10 epochs, the last 5,000 training images for "
        "validation, seed 42.",
    )
    train.add_argument("--hidden", type=_int_at_least(1), nargs="*", default=list(DEFAULT_HIDDEN),
                       metavar="N", help="hidden layer widths (default: 128 64; none: softmax regression)")
    train.add_argument("--lr", type=_positive_float, default=0.01, help="learning rate (default: %(default)s)")
    train.add_argument("--batch-size", type=_int_at_least(1), default=32, help="minibatch size (default: %(default)s)")
    train.add_argument("--epochs", type=_int_at_least(1), default=10, help="epochs (default: %(default)s)")
    train.add_argument("--momentum", type=_nonnegative_float, default=0.0,
                       help="SGD momentum in [0, 1) (default: 0, plain SGD)")
    train.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    train.add_argument("--weight-decay", type=_nonnegative_float, default=0.0,
                       help="L2 weight decay on the weights (default: 0)")
    train.add_argument("--backend", choices=("native", "numpy"), default="native",
                       help="native: the C++ engine; numpy: the NumPy reference (default: %(default)s)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="parameter precision; float64 needs --backend numpy and reproduces the "
                       "notebook's numbers (default: %(default)s)")
    train.add_argument("--threads", type=_int_at_least(1), default=None,
                       help="threads of the native engine (default: the engine's choice)")
    train.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=42,
                       help="seed of the initial weights and the shuffles (default: %(default)s)")
    _add_data_options(train, min_val_size=0)
    train.add_argument("--out", metavar="DIR", help="output folder (default: runs/<date-time>/)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines, only the results")
    train.set_defaults(handler=_train, command_parser=train)

    sweep = commands.add_parser(
        "sweep", parents=[common], help="train every combination of settings, compare them",
        description="A grid search: every combination of the listed values, each run from the "
        "same seed, on MNIST or Fashion-MNIST. Prints one summary line per run in the notebook's "
        "format and writes results.csv, results.json and heatmap.png to --out. Runs go to "
        "--jobs local processes, or to the Dask cluster at --scheduler.",
    )
    sweep.add_argument("--lr", type=_positive_float, nargs="+", default=[0.01], metavar="LR",
                       help="learning rates (default: 0.01)")
    sweep.add_argument("--batch-size", type=_int_at_least(1), nargs="+", default=[32], metavar="N",
                       help="batch sizes (default: 32)")
    sweep.add_argument("--epochs", type=_int_at_least(1), nargs="+", default=[10], metavar="N",
                       help="epochs (default: 10)")
    sweep.add_argument("--hidden", type=_hidden_spec, nargs="+", default=[DEFAULT_HIDDEN], metavar="W,W",
                       help="hidden layer widths, comma-separated, one network per value (default: 128,64)")
    sweep.add_argument("--momentum", type=_nonnegative_float, nargs="+", default=[0.0], metavar="M",
                       help="momentum values in [0, 1) (default: 0)")
    sweep.add_argument("--weight-decay", type=_nonnegative_float, nargs="+", default=[0.0], metavar="D",
                       help="weight decay values (default: 0)")
    sweep.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=42, help="(default: %(default)s)")
    _add_data_options(sweep, min_val_size=1)
    sweep.add_argument("--test-limit", type=_int_at_least(1), default=None, metavar="N",
                       help="use only the first N test images")
    sweep.add_argument("--jobs", type=_int_at_least(1), default=1,
                       help="local worker processes (default: %(default)s)")
    sweep.add_argument("--threads", type=_int_at_least(1), default=None,
                       help="engine threads per run (default: the cores divided among the jobs)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:port)")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default: runs/<date-time>/)")
    sweep.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    sweep.set_defaults(handler=_sweep, command_parser=sweep)

    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="test loss, accuracy and per-class accuracy of a saved model",
        description="Evaluate a model saved by 'nanomlp train' (or MLP.save) on a test set.",
    )
    evaluate.add_argument("model", metavar="MODEL.npz", help="the model file")
    evaluate.add_argument("--dataset", choices=DATASET_CHOICES, default=None,
                          help="(default: the one the model was trained on, else mnist)")
    evaluate.add_argument("--data", metavar="DIR", help="dataset folder or .npz (default: as for train)")
    evaluate.set_defaults(handler=_evaluate, command_parser=evaluate)

    predict = commands.add_parser(
        "predict", parents=[common], help="predicted classes of images, with probabilities",
        description="Predict the class of each image: a 28×28 PNG (a digit drawn dark on light "
        "is inverted to MNIST's light on dark) or a .npy of one or more images, shape (28, 28), "
        "(N, 28, 28), (784,) or (N, 784), values in [0, 1] or 0..255.",
    )
    predict.add_argument("model", metavar="MODEL.npz", help="the model file")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="IMAGE.png or IMAGES.npy")
    predict.add_argument("--top", type=_int_at_least(1), default=3, help="probabilities shown per image (default: %(default)s)")
    predict.set_defaults(handler=_predict, command_parser=predict)

    data = commands.add_parser(
        "data", parents=[common], help="download datasets, show where they are",
        description="Fetch datasets into nanomlp's cache ahead of going offline, or show where "
        "each dataset is found on this machine.",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    download = data_commands.add_parser(
        "download", parents=[common], help="download into nanomlp's cache",
        description="Download a dataset into nanomlp's cache (nothing is fetched if it is there).",
    )
    download.add_argument("name", nargs="?", choices=DATASET_CHOICES, default="mnist", help="(default: %(default)s)")
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.set_defaults(handler=_data_download, command_parser=download)
    info = data_commands.add_parser(
        "info", parents=[common], help="where each dataset is found",
        description="Show where each dataset is found, and every place searched.",
    )
    info.add_argument("name", nargs="?", choices=DATASET_CHOICES, help="(default: all)")
    info.add_argument("--data", metavar="DIR", help="look only there, as train --data would")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_data_info, command_parser=info)

    bench = commands.add_parser(
        "bench", parents=[common], help="time an epoch: native engine vs NumPy reference",
        description="Run the benchmark of a source checkout (bench/bench_epoch.py). Options after "
        "'--' go to it, e.g. 'nanomlp bench -- --quick'; 'nanomlp bench -- --help' lists them.",
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    bench.set_defaults(handler=_bench, command_parser=bench)
    return parser


# -------------------------------------------------------------------------------------- helpers
def _hidden_spec(text: str) -> tuple[int, ...]:
    """``128,64`` → (128, 64); ``none`` → () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    parse = _int_at_least(1)
    return tuple(parse(part) for part in text.split(","))


def _echo(*parts: Any) -> None:
    print(*parts, flush=True)


def _datasets() -> Any:
    from . import datasets

    return datasets


def _load_dataset(name: str, path: str | None) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return _datasets().load(name, path)


def _data_location(name: str, path: str | None) -> str | None:
    """Where the data just loaded came from, for the record."""
    info = _datasets().dataset_info(name, path=path)
    return f"{info.location} ({info.source})" if info.found else None


def _backend_for(model: Any) -> str:
    return "native" if model.dtype == np.float32 else "numpy"


def _load_model(path: str) -> Any:
    from .model import MLP

    return MLP.load(path)


def _save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


def _use_agg() -> None:
    """Files only: no window, whatever the machine's display."""
    from .plotting import require_matplotlib

    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")


def _default_out() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, n = Path("runs") / stamp, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[Path]:
    """Create ``out``; remove it again if the command fails before writing anything into it."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create the output folder {out}: {err.strerror or err}") from err
    try:
        yield out
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only succeeds while it is empty
        raise


# ---------------------------------------------------------------------------------------- train
def _train(args: argparse.Namespace) -> int:
    from .callbacks import TerminateOnNaN
    from .model import MLP
    from .trainer import Trainer

    sub = args.command_parser
    if args.dtype == "float64" and args.backend == "native":
        sub.error("--dtype float64 needs --backend numpy (the native engine trains float32)")
    if args.momentum >= 1:
        sub.error(f"argument --momentum: must be in [0, 1), got {args.momentum:g}")
    if args.nesterov and not args.momentum:
        sub.error("--nesterov needs --momentum > 0")
    trainer_options = {"momentum": args.momentum, "nesterov": args.nesterov,
                       "weight_decay": args.weight_decay, "threads": args.threads}
    _use_agg()  # fail now, not after training, if matplotlib is missing

    (x_fit, y_fit), (x_val, y_val), (x_test, y_test) = _split_data(args)
    validation = (x_val, y_val) if args.val_size else None

    layer_sizes = [x_fit.shape[1], *args.hidden, int(max(y_fit.max(), y_val.max(initial=0), y_test.max())) + 1]
    model = MLP(layer_sizes, seed=args.seed, dtype=args.dtype)
    trainer = Trainer(model, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
                      backend=args.backend, **trainer_options)
    out = Path(args.out) if args.out else _default_out()
    config = {
        "command": "nanomlp train",
        "argv": args.argv,
        "nanomlp_version": __version__,
        "dataset": args.dataset,
        "data": args.data,
        "data_found": _data_location(args.dataset, args.data),
        "layer_sizes": layer_sizes,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "momentum": args.momentum,
        "nesterov": args.nesterov,
        "weight_decay": args.weight_decay,
        "backend": args.backend,
        "dtype": args.dtype,
        "threads": args.threads,
        "seed": args.seed,
        "val_size": args.val_size,
        "limit": args.limit,
        "n_train": len(x_fit),
        "n_val": args.val_size,
        "n_test": len(x_test),
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }

    with _output_folder(out):
        terminate = TerminateOnNaN()
        history = trainer.fit(x_fit, y_fit, validation_data=validation, verbose=0 if args.quiet else 1,
                              callbacks=[terminate])
        if terminate.stopped_epoch is not None:
            raise CommandError(
                f"training diverged at epoch {terminate.stopped_epoch + 1} (loss is NaN or infinite); "
                f"nothing saved; try a smaller --lr than {args.lr:g}"
            )
        test_loss, test_acc = trainer.evaluate(x_test, y_test)
        _echo(f"Test Loss: {test_loss:.4f}, Test Accuracy: {test_acc:.4f}")

        record = {"epoch": [e + 1 for e in history.epoch], **history.history,
                  "test_loss": test_loss, "test_acc": test_acc}
        model.metadata = {"config": config, "history": record}
        write_json(out / "config.json", config)
        write_json(out / "history.json", record)
        model.save(out / "model.npz")
        from . import plotting

        _save_figure(plotting.plot_history(history), out / "curves.png")
        _save_figure(plotting.plot_predictions(trainer, x_test, y_test, n=10), out / "predictions.png")
        _save_figure(plotting.plot_confusion_matrix(y_test, trainer.predict(x_test), n_classes=layer_sizes[-1]),
                     out / "confusion.png")
    _echo(f"Saved to {out}/: config.json history.json model.npz curves.png predictions.png confusion.png")
    return 0


# ---------------------------------------------------------------------------------------- sweep
def _sweep(args: argparse.Namespace) -> int:
    from . import sweep as sw

    sub = args.command_parser
    if any(m >= 1 for m in args.momentum):
        sub.error("argument --momentum: every value must be in [0, 1)")
    _use_agg()
    axes: dict[str, list[Any]] = {"lr": args.lr, "batch_size": args.batch_size}
    # Only the axes the user varied or moved off the default appear in the records.
    for name, values, default in (("epochs", args.epochs, [10]), ("hidden", args.hidden, [DEFAULT_HIDDEN]),
                                  ("momentum", args.momentum, [0.0]), ("weight_decay", args.weight_decay, [0.0])):
        if list(values) != list(default):
            axes[name] = list(values)
    configs = [{**c, "seed": args.seed} for c in sw.grid(**axes)] if args.seed != 42 else sw.grid(**axes)

    fit, val, (x_test, y_test) = _split_data(args)
    if args.test_limit is not None:
        x_test, y_test = x_test[: args.test_limit], y_test[: args.test_limit]
    data = (fit, val, (x_test, y_test))

    client = sw.connect(args.scheduler) if args.scheduler else None
    out = Path(args.out) if args.out else _default_out()
    done: dict[int, dict[str, Any]] = {}
    start = time.perf_counter()
    with _output_folder(out):
        try:
            sw.sweep(configs, data, jobs=args.jobs, client=client, threads=args.threads,
                     on_record=done.__setitem__, progress=not args.quiet)
        finally:
            # Finished runs are kept, also when the sweep is interrupted.
            records = [done[i] for i in sorted(done)]
            if records:
                _write_sweep_results(out, records, time.perf_counter() - start, configs, args)
            if client is not None:
                client.close()
    _echo("\nSummary of Hyperparameter Tuning:")
    for record in records:
        _echo(sw.format_record(record))
    _echo(f"Wall time: {time.perf_counter() - start:.1f} s for {len(records)} runs "
          f"({'Dask at ' + args.scheduler if args.scheduler else f'--jobs {args.jobs}'})")
    _echo(f"Saved to {out}/: results.csv results.json heatmap.png")
    return 0


def _write_sweep_results(out: Path, records: list[dict], seconds: float, configs: list[dict],
                         args: argparse.Namespace) -> None:
    import csv
    import io

    from . import plotting

    columns = [k for k in records[0] if k != "history"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: (",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in record.items()})
    with atomic_write(out / "results.csv", "w", encoding="utf-8") as f:
        f.write(text.getvalue())
    write_json(out / "results.json", {
        "argv": args.argv, "nanomlp_version": __version__, "dataset": args.dataset,
        "runs_planned": len(configs), "runs_finished": len(records), "wall_seconds": seconds,
        "jobs": args.jobs, "scheduler": args.scheduler, "records": records,
    })
    # One cell per (lr, batch size): with other axes swept too, the cell shows their best run.
    best: dict[tuple, dict] = {}
    for record in records:
        key = (record["lr"], record["batch_size"])
        if key not in best or record["test_acc"] > best[key]["test_acc"]:
            best[key] = record
    _save_figure(plotting.plot_sweep(list(best.values())), out / "heatmap.png")


# ------------------------------------------------------------------------------------- evaluate
def _evaluate(args: argparse.Namespace) -> int:
    from .trainer import Trainer

    model = _load_model(args.model)
    config = model.metadata.get("config")
    trained_on = config.get("dataset") if isinstance(config, dict) else None
    name = args.dataset or trained_on or "mnist"
    _, (x_test, y_test) = _load_dataset(name, args.data)
    if x_test.shape[1] != model.n_features:
        raise CommandError(
            f"{args.model} takes {model.n_features} inputs, but {name} images have {x_test.shape[1]}"
        )
    trainer = Trainer(model, backend=_backend_for(model))
    loss, accuracy = trainer.evaluate(x_test, y_test)
    predicted = trainer.predict(x_test)
    _echo(f"Test Loss: {loss:.4f}, Test Accuracy: {accuracy:.4f}  ({name}, {len(x_test)} images)")
    _echo("Per-class accuracy:")
    for label in range(model.n_classes):
        rows = y_test == label
        total = int(rows.sum())
        right = int((predicted[rows] == label).sum())
        share = f"{right / total:.4f}" if total else "   -  "
        _echo(f"  {label:>2}: {share}  ({right}/{total})")
    return 0


# -------------------------------------------------------------------------------------- predict
def _read_png(path: Path, side: int) -> tuple[np.ndarray, str]:
    """A grayscale image as one row in [0, 1], light digit on dark as in MNIST."""
    import matplotlib.image as mpimg

    try:
        image = np.asarray(mpimg.imread(path), dtype=np.float64)
    except Exception as err:  # PIL's and matplotlib's errors for unreadable images
        raise CommandError(f"{path}: not a readable image ({err})") from err
    if image.dtype.kind in "iu" or image.max() > 1.0:
        image = image / 255.0
    if image.ndim == 3:
        if image.shape[2] == 4:
            # A transparent background counts as white paper.
            alpha = image[..., 3:]
            image = image[..., :3] * alpha + (1.0 - alpha)
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114]) if image.shape[2] >= 3 else image[..., 0]
    if image.shape != (side, side):
        raise CommandError(
            f"{path}: the image is {image.shape[1]}×{image.shape[0]} pixels; the model takes "
            f"{side}×{side} grayscale images (resize it first)"
        )
    note = ""
    if image.mean() > 0.5:
        image = 1.0 - image
        note = " (inverted: dark digit on light background)"
    return image.reshape(1, -1), note


def _read_npy(path: Path, n_features: int) -> np.ndarray:
    try:
        images = np.load(path, allow_pickle=False)
    except Exception as err:
        raise CommandError(f"{path}: not a readable .npy array ({err})") from err
    if not isinstance(images, np.ndarray) or images.dtype.kind not in "fiu":
        raise CommandError(f"{path}: expected a numeric .npy array")
    side = int(round(n_features ** 0.5))
    if images.shape in ((n_features,), (side, side)):
        images = images.reshape(1, n_features)
    elif images.ndim == 3 and images.shape[1:] == (side, side):
        images = images.reshape(len(images), n_features)
    elif not (images.ndim == 2 and images.shape[1] == n_features):
        raise CommandError(
            f"{path}: shape {images.shape}; expected ({side}, {side}), (N, {side}, {side}), "
            f"({n_features},) or (N, {n_features})"
        )
    images = images.astype(np.float64)
    if images.size and images.max() > 1.0:
        images = images / 255.0
    return images


def _predict(args: argparse.Namespace) -> int:
    from .trainer import Trainer

    model = _load_model(args.model)
    trainer = Trainer(model, backend=_backend_for(model))
    side = int(round(model.n_features ** 0.5))
    top = min(args.top, model.n_classes)
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if path.suffix.lower() == ".npy":
            images, notes = _read_npy(path, model.n_features), ""
            labels = [f"{path}[{i}]" for i in range(len(images))] if len(images) > 1 else [str(path)]
        else:
            if side * side != model.n_features:
                raise CommandError(f"{args.model} takes {model.n_features} inputs, not a square image")
            images, notes = _read_png(path, side)
            labels = [str(path)]
        proba = trainer.predict_proba(images)
        for label, p in zip(labels, proba):
            best = np.argsort(-p, kind="stable")[:top]
            ranked = ", ".join(f"{k} {p[k]:.1%}" for k in best)
            _echo(f"{label}: {best[0]} ({p[best[0]]:.1%})  [{ranked}]{notes}")
    return 0


# ----------------------------------------------------------------------------------------- data
def _data_download(args: argparse.Namespace) -> int:
    datasets = _datasets()
    folder = datasets.download(args.name, force=args.force)
    _echo(f"{args.name}: in {folder}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    datasets = _datasets()
    names = [args.name] if args.name else list(datasets.DATASETS)
    infos = [datasets.dataset_info(name, path=args.data) for name in names]
    if args.json:
        _echo(json.dumps([info.as_dict() for info in infos], indent=2))
    else:
        _echo("\n".join(str(info) for info in infos))
    return 0


# ---------------------------------------------------------------------------------------- bench
def _bench(args: argparse.Namespace) -> int:
    from . import benchmark

    bench_args = list(args.bench_args)
    if bench_args[:1] == ["--"]:
        bench_args = bench_args[1:]
    return int(benchmark.main(bench_args) or 0)


# ----------------------------------------------------------------------------------------- main
def _one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"nanomlp: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # The benchmark's own options pass through; argparse's REMAINDER alone would refuse
    # those that come first and start with "-".
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "bench":
        args.bench_args = extra + list(args.bench_args)
    args.argv = argv
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        warnings.simplefilter("default")
        try:
            return args.handler(args)
        except KeyboardInterrupt:
            print("\nnanomlp: interrupted", file=sys.stderr, flush=True)
            return 130
        except SystemExit:
            raise
        except Exception as err:
            if debug:
                raise
            # One line, whatever the exception: a multi-line message is joined, not cut.
            message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            message = message or type(err).__name__
            if isinstance(err, ImportError) and "pip install" not in message:
                message = f"{type(err).__name__}: {message}"
            if type(err).__module__.endswith(".datasets") and "nanomlp data info" not in message:
                message += " (see 'nanomlp data info')"
            print(f"nanomlp: error: {message}", file=sys.stderr, flush=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())
