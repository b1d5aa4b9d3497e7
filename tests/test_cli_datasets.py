"""The command line and the datasets beyond MNIST: class names in the plots it writes, the
scikit-learn digits, the binary, multi-label and regression tasks with their losses, and a
clear refusal of what does not fit."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from nanomlp.cli import _common, main
from nanomlp.datasets import class_names
from support.data import synthetic, trust, write_idx

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def figures(monkeypatch):
    """What each saved figure shows: its file name → the Axes' titles and x tick labels."""
    seen: dict[str, dict[str, list[str]]] = {}
    save = _common.save_figure

    def record(fig, path):
        seen[path.name] = {
            "titles": [ax.get_title() for ax in fig.axes if ax.get_visible()],
            "xticks": [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()],
        }
        save(fig, path)

    monkeypatch.setattr(_common, "save_figure", record)
    return seen


def test_train_plots_show_the_class_names(tmp_path, monkeypatch, figures, capsys):
    raw, arrays = synthetic(n_train=60, n_test=40, seed=1)
    trust(monkeypatch, "fashion-mnist", raw)
    folder = write_idx(tmp_path / "fashion", raw)
    out = tmp_path / "run"
    args = ["train", "--dataset", "fashion-mnist", "--data", str(folder), "--val-size", "10"]
    assert main([*args, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    names = list(class_names("fashion-mnist"))
    k = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    confusion = figures["confusion.png"]
    assert confusion["xticks"] == names[:k] and k >= 2
    titles = figures["predictions.png"]["titles"]
    assert len(titles) == 10
    for title, label in zip(titles, arrays["y_test"]):
        pred, true = re.fullmatch(r"Pred: (.+) \(\d+%\)\nTrue: (.+)", title).groups()
        assert true == names[label] and pred in names
    assert json.loads((out / "config.json").read_text())["dataset"] == "fashion-mnist"
    capsys.readouterr()


def test_train_on_scikit_learns_digits(tmp_path, figures, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "digits"
    args = ["train", "--dataset", "digits", "--val-size", "200", "--epochs", "8", "--lr", "0.1"]
    assert main([*args, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10  # a line per epoch, the test result, where it was saved
    accuracy = float(
        re.fullmatch(r"Test Loss: \d+\.\d{4}, Test Accuracy: (\d\.\d{4})", lines[8])[1]
    )
    assert accuracy > 0.85  # 0.92 on this split; a broken pipeline would be near 0.1
    config = json.loads((out / "config.json").read_text())
    assert config["layer_sizes"][0] == 64 and config["layer_sizes"][-1] == 10
    assert (config["n_train"], config["n_val"], config["n_test"]) == (1238, 200, 359)
    assert config["data_found"].startswith("bundled with scikit-learn ")
    assert figures["confusion.png"]["xticks"] == [str(d) for d in range(10)]


@pytest.mark.parametrize(
    "command, name, pattern",
    [
        (
            "sweep",
            "diabetes",
            r"diabetes is a regression task: this command takes classification datasets only; "
            r"'nanomlp train --dataset diabetes' trains it, .* nanomlp\.datasets\.load_diabetes\(\)",
        ),
        ("sweep", "mnist-multilabel", r"mnist-multilabel is a multilabel task: this command"),
    ],
)
def test_sweep_refuses_the_tasks_it_cannot_rank(command, name, pattern, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nanomlp", command, "--dataset", name, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert re.search(pattern, line), line
    assert line.startswith("nanomlp: error: ")
    assert not (tmp_path / "o").exists()


def test_data_commands_keep_to_the_downloadable_datasets(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "download", "digits"])
    assert exit_.value.code == 2
    assert "invalid choice: 'digits'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, extra, loss, files, metric",
    [
        ("diabetes", [], "mse", {"regression.png"}, "r2"),
        ("diabetes", ["--loss", "huber", "--delta", "50"], "huber", {"regression.png"}, "r2"),
        ("breast-cancer", [], "binary_cross_entropy", {"confusion.png"}, "acc"),
        (
            "breast-cancer",
            ["--loss", "cross_entropy", "--label-smoothing", "0.1"],
            "cross_entropy",
            {"confusion.png"},
            "acc",
        ),
    ],
)
def test_train_picks_the_tasks_loss(tmp_path, figures, capsys, name, extra, loss, files, metric):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    args = ["train", "--dataset", name, "--val-size", "50", "--epochs", "3", "--quiet"]
    assert main([*args, *extra, "--optimizer", "adam", "--lr", "0.01", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    label = "R²" if metric == "r2" else "Accuracy"
    assert re.fullmatch(rf"Test Loss: \d+\.\d{{4}}, Test {label}: -?\d+\.\d{{4}}", lines[0])
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == loss and set(figures) == {"curves.png", *files}
    assert f"test_{metric}" in json.loads((out / "history.json").read_text())
    assert config["layer_sizes"][-1] == (2 if loss == "cross_entropy" else 1)
    if "--delta" in extra:
        assert config["delta"] == 50.0


def test_train_mnist_multilabel(tmp_path, mnist_dir, figures, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist-multilabel", "--data", str(mnist_dir), "--limit", "6000"]
    args += ["--val-size", "1000", "--epochs", "2", "--optimizer", "adam", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    accuracy = float(re.fullmatch(r"Test Loss: \d\.\d{4}, Test Accuracy: (\d\.\d{4})", line)[1])
    assert accuracy > 0.85  # both labels right; observed 0.91
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "binary_cross_entropy" and config["layer_sizes"][-1] == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--dataset", "diabetes", "--loss", "cross_entropy"],
            "cross_entropy does not fit diabetes",
        ),
        (["--dataset", "mnist-multilabel", "--loss", "mse"], "mse does not fit mnist-multilabel"),
        (["--dataset", "diabetes", "--label-smoothing", "0.1"], "--label-smoothing: applies to"),
        (["--dataset", "digits", "--delta", "2"], "--delta: applies to --loss huber only"),
        (["--dataset", "digits", "--label-smoothing", "2"], "must be a number in \\[0, 1\\]"),
    ],
)
def test_losses_that_do_not_fit_are_usage_errors(extra, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", *extra])
    assert exit_.value.code == 2
    assert re.search(message, capsys.readouterr().err)
