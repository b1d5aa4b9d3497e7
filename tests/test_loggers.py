"""CSVLogger and TensorBoard: the files they write hold each epoch's logs, read back."""

from __future__ import annotations

import csv
import json
import struct
import sys

import pytest
from tensorboardX.proto import event_pb2

from nanomlp import MLP, CSVLogger, TensorBoard, Trainer, schedules
from nanomlp.cli import main


def _events(log_dir):
    """Every Event record of the event files in ``log_dir`` (TFRecord framing: length, its
    CRC, the record, its CRC)."""
    events = []
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            record = data[pos + 12 : pos + 12 + length]
            assert len(record) == length
            events.append(event_pb2.Event.FromString(record))
            pos += 12 + length + 4
    return events


def _scalars(log_dir):
    found: dict[str, dict[int, float]] = {}
    for event in _events(log_dir):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, {})[event.step] = value.simple_value
    return found


def _fit(data, callbacks, epochs=3, **kwargs):
    x, y = data
    model = MLP((784, 16, 10), seed=0)
    trainer = Trainer(model, epochs=epochs, batch_size=64, **kwargs)
    history = trainer.fit(
        x[:1500], y[:1500], validation_data=(x[1500:], y[1500:]), callbacks=callbacks
    )
    return trainer, history


def test_csv_logger_rows_equal_history(tmp_path, mnist_subset):
    path = tmp_path / "log.csv"
    _, history = _fit(mnist_subset, [CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert [float(r[key]) for r in rows] == history.history[key]
    assert [float(r["lr"]) for r in rows] == [0.01] * 3


def test_csv_logger_append_separator_and_atomic(tmp_path, mnist_subset):
    path = tmp_path / "log.tsv"
    _fit(mnist_subset, [CSVLogger(path, separator="\t")], epochs=2)
    _fit(mnist_subset, [CSVLogger(path, separator="\t", append=True)], epochs=2)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["epoch", "epoch_seconds", "lr"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["0", "1", "0", "1"]
    _fit(mnist_subset, [CSVLogger(path, separator="\t")], epochs=1)  # no append: afresh
    assert len(path.read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.tsv"]  # no temporary left


def test_csv_logger_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        CSVLogger(tmp_path / "missing" / "log.csv")
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(tmp_path / "log.csv", separator=";;")
    with pytest.raises(TypeError, match="path"):
        CSVLogger(None)
    with pytest.raises(TypeError, match="append"):
        CSVLogger(tmp_path / "log.csv", append="yes")


def test_tensorboard_scalars_and_histograms(tmp_path, mnist_subset):
    schedule = schedules.StepLR(step_size=24, gamma=0.5)
    trainer, history = _fit(
        mnist_subset,
        [TensorBoard(tmp_path / "tb", histogram_freq=2)],
        epochs=4,
        lr_schedule=schedule,
    )
    scalars = _scalars(tmp_path / "tb")
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert scalars[key] == pytest.approx(dict(enumerate(history.history[key], 1)), rel=1e-6)
    # 24 steps per epoch (1500 rows, batch 64): the epoch's last step is at rate 0.01·0.5^e.
    assert scalars["lr"] == pytest.approx({1: 0.01, 2: 0.005, 3: 0.0025, 4: 0.00125})
    tags = {
        (v.tag, e.step)
        for e in _events(tmp_path / "tb")
        for v in e.summary.value
        if v.HasField("histo")
    }
    assert tags == {
        (f"layer{i}/{p}", s) for i in (0, 1) for p in ("weight", "bias") for s in (2, 4)
    }
    histo = next(
        v.histo
        for e in _events(tmp_path / "tb")
        for v in e.summary.value
        if v.tag == "layer1/bias" and e.step == 4
    )
    assert histo.num == 10 and histo.sum == pytest.approx(
        float(trainer.model.biases[1].sum()), abs=1e-5
    )


def test_tensorboard_bad_arguments_and_missing_package(tmp_path, mnist_subset, monkeypatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        TensorBoard(tmp_path / "file")
    with pytest.raises(ValueError, match="histogram_freq must be >= 0"):
        TensorBoard(tmp_path, histogram_freq=-1)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"nanomlp\[tensorboard\]"):
        _fit(mnist_subset, [TensorBoard(tmp_path / "tb")], epochs=1)


def test_train_command_writes_both_logs(tmp_path, mnist_dir, capsys):
    code = main(
        [
            "train",
            "--data",
            str(mnist_dir),
            "--limit",
            "2000",
            "--val-size",
            "500",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
            "--tensorboard",
            str(tmp_path / "tb"),
            "--csv-log",
            str(tmp_path / "log.csv"),
        ]
    )
    assert code == 0

    record = json.loads((tmp_path / "run" / "history.json").read_text())
    assert _scalars(tmp_path / "tb")["val_loss"] == pytest.approx(
        dict(zip(record["epoch"], record["val_loss"])), rel=1e-6
    )
    with open(tmp_path / "log.csv", newline="") as f:
        assert [float(r["train_loss"]) for r in csv.DictReader(f)] == record["train_loss"]
    with pytest.raises(SystemExit) as stop:  # a usage error, before any data is read
        main(["train", "--csv-log", str(tmp_path / "no" / "log.csv"), "--data", str(tmp_path)])
    assert stop.value.code == 2
    assert "argument --csv-log" in capsys.readouterr().err
