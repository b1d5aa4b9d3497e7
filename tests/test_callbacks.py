"""Callbacks: hooks and params, progress output, early stopping, checkpoints, NaN stop, schedules."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest

from nanomlp import (
    MLP,
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
    Trainer,
)
from nanomlp.callbacks import format_epoch

LINE = re.compile(
    r"^Epoch (\d+)/(\d+) - Train Loss: \d+\.\d{4}, Acc: \d\.\d{4} \| Val Loss: \d+\.\d{4}, Acc: \d\.\d{4}$"
)


@pytest.fixture(scope="module")
def data(mnist):
    (x, y), _ = mnist
    return (x[:600], y[:600]), (x[600:800], y[600:800])


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", dict(self.params)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


class Scripted(Callback):
    """Puts a made-up metric ``score`` in the logs and keeps a copy of the parameters."""

    def __init__(self, scores) -> None:
        self.scores = list(scores)
        self.params_at: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.params_at.append(self.trainer.model.params.copy())


def test_hooks_run_in_order_with_params(data):
    (x, y), val = data
    rec = Recorder()
    history = Trainer(MLP(), epochs=2).fit(x, y, val, callbacks=[rec])
    keys = ["epoch_seconds", "train_acc", "train_loss", "val_acc", "val_loss"]
    assert rec.calls == [
        ("train_begin", {"epochs": 2, "initial_epoch": 0, "samples": 600, "batch_size": 32}),
        ("epoch_begin", 0),
        ("epoch_end", 0, keys),
        ("epoch_begin", 1),
        ("epoch_end", 1, keys),
        ("train_end",),
    ]
    assert isinstance(history, History) and history.epoch == [0, 1]
    assert sorted(history.history) == keys and all(len(v) == 2 for v in history.history.values())
    assert rec.trainer is not None and rec.trainer.model is not None


def test_a_callback_can_stop_training(data):
    (x, y), _ = data

    class StopAfterFirst(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.trainer.stop_training = True

    history = Trainer(MLP(), epochs=5).fit(x, y, callbacks=[StopAfterFirst()])
    assert history.epoch == [0]


def test_format_epoch_is_the_notebooks_line():
    logs = {"train_loss": 0.38262, "train_acc": 0.8915, "val_loss": 0.30949, "val_acc": 0.9176}
    assert format_epoch(0, 10, logs) == (
        "Epoch 1/10 - Train Loss: 0.3826, Acc: 0.8915 | Val Loss: 0.3095, Acc: 0.9176"
    )
    assert (
        format_epoch(1, 10, {"train_loss": 1, "train_acc": 0.5})
        == "Epoch 2/10 - Train Loss: 1.0000, Acc: 0.5000"
    )


def test_verbose_0_prints_nothing(data, capsys):
    (x, y), val = data
    Trainer(MLP(), epochs=2).fit(x, y, val)
    assert capsys.readouterr() == ("", "")


def test_verbose_2_prints_one_line_per_epoch(data, capsys):
    (x, y), val = data
    Trainer(MLP(), epochs=3).fit(x, y, val, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [LINE.match(line).groups() for line in lines] == [("1", "3"), ("2", "3"), ("3", "3")]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verbose_1_draws_a_bar_only_on_a_terminal(data):
    (x, y), val = data
    piped = io.StringIO()
    Trainer(MLP(), epochs=3).fit(x, y, val, callbacks=[ProgressBar(1, stream=piped)])
    assert "\r" not in piped.getvalue() and len(piped.getvalue().splitlines()) == 3

    term = Terminal()
    Trainer(MLP(), epochs=3).fit(x, y, val, callbacks=[ProgressBar(1, stream=term)])
    out = term.getvalue()
    assert "[" + " " * 30 + "] 0/3 epochs" in out
    assert re.search(r"\[=+> +\] 1/3 epochs - \d+:\d\d elapsed - ETA \d+:\d\d", out)
    assert out.endswith("\n")  # no bar left behind after the last epoch
    # What stays on screen once the bar is erased: the notebook's lines.
    final = [re.sub(r".*\r\x1b\[K", "", line) for line in out.split("\n")]
    assert [LINE.match(line).group(1) for line in final[:-1]] == ["1", "2", "3"]
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        ProgressBar(3)


def test_progress_counts_from_initial_epoch(data):
    (x, y), val = data
    model = MLP()
    Trainer(model, epochs=1).fit(x, y, val)
    out = io.StringIO()
    Trainer(model, epochs=3).fit(x, y, val, initial_epoch=1, callbacks=[ProgressBar(2, stream=out)])
    assert [line.split(" - ")[0] for line in out.getvalue().splitlines()] == [
        "Epoch 2/3",
        "Epoch 3/3",
    ]


def test_early_stopping_restores_the_best_weights(data):
    (x, y), val = data
    script = Scripted([3.0, 1.0, 2.0, 2.5, 0.5, 0.1])
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    model = MLP()
    history = Trainer(model, epochs=6).fit(x, y, val, callbacks=[script, stop])
    assert history.epoch == [0, 1, 2, 3]  # epochs 2 and 3 did not improve on epoch 1
    assert (stop.best, stop.best_epoch, stop.stopped_epoch) == (1.0, 1, 3)
    assert np.array_equal(model.params, script.params_at[1])
    assert not np.array_equal(model.params, script.params_at[3])


def test_early_stopping_without_restore_keeps_last_weights_and_min_delta(data):
    (x, y), _ = data
    script = Scripted([1.0, 0.95, 0.92, 0.5])
    stop = EarlyStopping(monitor="score", patience=1, min_delta=0.1)
    model = MLP()
    history = Trainer(model, epochs=4).fit(x, y, callbacks=[script, stop])
    assert history.epoch == [0, 1] and stop.best_epoch == 0
    assert np.array_equal(model.params, script.params_at[-1])


def test_early_stopping_on_accuracy_and_real_val_loss(data):
    (x, y), val = data
    stop = EarlyStopping(monitor="score", patience=1)  # "auto": a score is minimised
    assert stop._better(0.5, 1.0)
    acc = EarlyStopping(monitor="val_acc")
    assert acc._better(0.9, 0.8) and not acc._better(0.8, 0.9)
    # A real run on the default monitor: val_loss falls every epoch, so all three run.
    history = Trainer(MLP(), lr=0.01, epochs=3).fit(
        x, y, val, callbacks=[EarlyStopping(patience=5)]
    )
    assert len(history.epoch) == 3
    with pytest.raises(ValueError, match="monitors 'val_loss'.*pass validation_data"):
        Trainer(MLP(), epochs=1).fit(x, y, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="largest")


def test_model_checkpoint_every_epoch_and_best_only(data, tmp_path):
    (x, y), val = data
    every = ModelCheckpoint(str(tmp_path / "e{epoch:02d}-{score:.1f}.npz"), monitor="score")
    best = ModelCheckpoint(str(tmp_path / "best.npz"), monitor="score", save_best_only=True)
    script = Scripted([2.0, 1.0, 3.0])
    model = MLP()
    Trainer(model, lr=0.02, batch_size=16, epochs=3).fit(x, y, val, callbacks=[script, every, best])

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.npz",
        "e01-2.0.npz",
        "e02-1.0.npz",
        "e03-3.0.npz",
    ]
    assert best.saved == [str(tmp_path / "best.npz")] * 2  # epochs 1 and 2, not 3
    kept = MLP.load(tmp_path / "best.npz")
    assert np.array_equal(kept.params, script.params_at[1])
    meta = kept.metadata
    assert meta["epoch"] == 2 and meta["logs"]["score"] == 1.0
    assert meta["trainer"] == {"lr": 0.02, "batch_size": 16, "backend": "native"}

    # A checkpoint resumes: load it and continue to epoch 3, as the uninterrupted run did.
    resumed = MLP.load(tmp_path / "e02-1.0.npz")
    Trainer(resumed, lr=0.02, batch_size=16).fit(x, y, val, initial_epoch=meta["epoch"], epochs=3)
    assert np.array_equal(resumed.params, model.params)


def test_diverging_run_stops_with_a_warning(data, tmp_path):
    (x, y), val = data
    model = MLP()
    checkpoint = ModelCheckpoint(str(tmp_path / "last.npz"))
    with pytest.warns(
        RuntimeWarning,
        match=r"training diverged at epoch 1: train_loss is nan; stopped \(try a smaller learning rate than 10000\)",
    ):
        history = Trainer(model, lr=1e4, epochs=5).fit(x, y, val, callbacks=[checkpoint])
    assert history.epoch == [0]
    assert np.isnan(history.history["train_loss"][0])
    assert not (tmp_path / "last.npz").exists()  # a NaN model never replaces a good file


def test_terminate_on_nan_is_on_by_default_and_not_doubled(data):
    (x, y), _ = data
    mine = TerminateOnNaN()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(MLP(), lr=1e4, epochs=3).fit(x, y, callbacks=[mine])
    assert mine.stopped_epoch == 0 and len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sane run warns nothing
        Trainer(MLP(), epochs=1).fit(x, y)


def test_learning_rate_scheduler_equals_changing_lr_by_hand(data):
    (x, y), val = data
    scheduled = MLP()
    trainer = Trainer(scheduled, lr=0.01, epochs=3)
    history = trainer.fit(
        x, y, val, callbacks=[LearningRateScheduler(lambda epoch: 0.01 if epoch == 0 else 0.05)]
    )
    assert history.history["lr"] == [0.01, 0.05, 0.05] and trainer.lr == 0.05

    by_hand = MLP()
    manual = Trainer(by_hand, lr=0.01, epochs=1)
    manual.fit(x, y, val)
    manual.lr = 0.05
    manual.fit(x, y, val, initial_epoch=1, epochs=3)
    assert np.array_equal(scheduled.params, by_hand.params)


def test_learning_rate_scheduler_with_current_rate(data):
    (x, y), _ = data
    trainer = Trainer(MLP(), lr=0.04, epochs=3)
    history = trainer.fit(x, y, callbacks=[LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert history.history["lr"] == [0.02, 0.01, 0.005]
    with pytest.raises(ValueError, match="schedule's value for epoch 0"):
        Trainer(MLP(), epochs=1).fit(x, y, callbacks=[LearningRateScheduler(lambda epoch: -1.0)])
    with pytest.raises(TypeError, match="schedule must be callable"):
        LearningRateScheduler(0.1)
