"""The ``nanomlp`` command, end to end in subprocesses on a slice of the real MNIST."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanomlp import MLP, Trainer
from nanomlp.cli import build_parser, main

PNG = b"\x89PNG\r\n\x1a\n"
EPOCH_LINE = re.compile(
    r"^Epoch (\d+)/2 - Train Loss: \d+\.\d{4}, Acc: \d\.\d{4} \| Val Loss: \d+\.\d{4}, Acc: \d\.\d{4}$"
)
QUICK = [
    "--limit",
    "1500",
    "--val-size",
    "500",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--lr",
    "0.05",
]


def run(*args: str, data: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env}
    if data is not None:
        environ["NANOMLP_DATA"] = str(data)
    return subprocess.run(
        [sys.executable, "-m", "nanomlp", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def one_line_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def trained(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    done = run("train", *QUICK, "--out", str(out), data=mnist_dir)
    return done, out


def test_train_prints_the_notebooks_lines_and_writes_every_file(trained, mnist):
    done, out = trained
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [EPOCH_LINE.match(line).group(1) for line in lines[:2]] == ["1", "2"]
    assert re.fullmatch(r"Test Loss: \d\.\d{4}, Test Accuracy: 0\.\d{4}", lines[2])
    assert lines[3].startswith(f"Saved to {out}/")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "confusion.png",
        "curves.png",
        "history.json",
        "model.npz",
        "predictions.png",
    ]
    for name in ("curves.png", "predictions.png", "confusion.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000

    config = json.loads((out / "config.json").read_text())
    assert config["layer_sizes"] == [784, 128, 64, 10]
    assert (config["lr"], config["batch_size"], config["epochs"], config["seed"]) == (
        0.05,
        16,
        2,
        42,
    )
    assert (config["n_train"], config["n_val"], config["n_test"]) == (1000, 500, 10000)
    assert config["backend"] == "native" and config["dataset"] == "mnist"

    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["val_acc"]) == 2

    # The saved model is the trained one: the same run in Python gives the same weights.
    model = MLP.load(out / "model.npz")
    assert model.metadata["config"] == config and model.metadata["history"] == history
    (x, y), (x_test, y_test) = mnist
    again = MLP(seed=42)
    Trainer(again, lr=0.05, batch_size=16, epochs=2).fit(
        x[:1000], y[:1000], (x[1000:1500], y[1000:1500])
    )
    assert np.array_equal(again.params, model.params)
    test_loss, test_acc = Trainer(model).evaluate(x_test, y_test)
    assert lines[2] == f"Test Loss: {test_loss:.4f}, Test Accuracy: {test_acc:.4f}"
    assert history["test_acc"] == test_acc


def test_evaluate_prints_per_class_accuracy(trained, mnist_dir, mnist):
    _, out = trained
    done = run("evaluate", str(out / "model.npz"), data=mnist_dir)
    assert done.returncode == 0, done.stderr
    history = json.loads((out / "history.json").read_text())
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"Test Loss: {history['test_loss']:.4f}, Test Accuracy: {history['test_acc']:.4f}"
        "  (mnist, 10000 images)"
    )
    assert lines[1] == "Per-class accuracy:" and len(lines) == 12
    _, (_, y_test) = mnist
    rows = [
        re.fullmatch(r"\s+(\d): (\d\.\d{4})  \((\d+)/(\d+)\)", line).groups() for line in lines[2:]
    ]
    assert [int(r[0]) for r in rows] == list(range(10))
    assert [int(r[3]) for r in rows] == np.bincount(y_test).tolist()
    assert sum(int(r[2]) for r in rows) == round(history["test_acc"] * 10000)


def test_predict_png_and_npy(trained, mnist, tmp_path):
    import matplotlib.image as mpimg

    _, out = trained
    _, (x_test, _) = mnist
    model = MLP.load(out / "model.npz")
    trainer = Trainer(model)
    expected = trainer.predict(x_test[:3])

    mpimg.imsave(tmp_path / "digit.png", x_test[0].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    mpimg.imsave(tmp_path / "paper.png", 1 - x_test[1].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    np.save(tmp_path / "three.npy", (x_test[:3] * 255).round().astype(np.uint8).reshape(3, 28, 28))
    done = run(
        "predict",
        str(out / "model.npz"),
        str(tmp_path / "digit.png"),
        str(tmp_path / "paper.png"),
        str(tmp_path / "three.npy"),
        "--top",
        "2",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    pattern = r"(\S+): (\d) \((\d+\.\d)%\)  \[(\d) \d+\.\d%, \d \d+\.\d%\](.*)"
    parsed = [re.fullmatch(pattern, line).groups() for line in lines]
    assert [p[0] for p in parsed] == [str(tmp_path / "digit.png"), str(tmp_path / "paper.png")] + [
        f"{tmp_path / 'three.npy'}[{i}]" for i in range(3)
    ]
    assert [int(p[1]) for p in parsed] == [expected[0], expected[1], *expected]
    assert [p[4] for p in parsed][:2] == ["", " (inverted: dark digit on light background)"]
    assert all(p[1] == p[3] for p in parsed)

    np.save(tmp_path / "wrong.npy", np.zeros((2, 30)))
    one_line_error(
        run("predict", str(out / "model.npz"), str(tmp_path / "wrong.npy")),
        r"^nanomlp: error: .*wrong\.npy: shape \(2, 30\); expected",
    )


def test_help_on_every_command(capsys):
    for command in (
        ["--help"],
        ["train", "--help"],
        ["evaluate", "--help"],
        ["predict", "--help"],
        ["data", "--help"],
        ["data", "download", "--help"],
        ["data", "info", "--help"],
        ["bench", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(command)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith("usage: nanomlp") and len(text.splitlines()) > 3
    assert {"train", "evaluate", "predict", "data", "bench"} <= set(
        build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    )


def test_bench_passes_its_options_through():
    done = run("bench", "--", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: nanomlp bench") and "--quick" in done.stdout


def test_console_script_and_module_entry_point():
    done = subprocess.run(["nanomlp", "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (
        0,
        f"nanomlp {__import__('nanomlp').__version__}",
    )
    done = run("train", "--help")
    assert done.returncode == 0 and "--hidden" in done.stdout and "--momentum" in done.stdout


@pytest.mark.parametrize(
    "args, pattern",
    [
        (
            ["train", "--lr", "-0.1"],
            r"^nanomlp train: error: argument --lr: must be a finite number > 0, got -0.1",
        ),
        (
            ["train", "--dataset", "cifar10"],
            r"^nanomlp train: error: argument --dataset: invalid choice: 'cifar10'",
        ),
        (["train", "--epochs", "0"], r"argument --epochs: must be an integer >= 1, got 0"),
        (
            ["train", "--batch-size", "ten"],
            r"argument --batch-size: expected an integer, got 'ten'",
        ),
        (["train", "--momentum", "1.5"], r"argument --momentum: must be in \[0, 1\), got 1.5"),
        (["train", "--nesterov"], r"--nesterov needs --momentum > 0"),
        (["train", "--dtype", "float64"], r"--dtype float64 needs --backend numpy"),
        (["train", "--limit", "100"], r"--limit \(100\) must be larger than --val-size \(5000\)"),
        (["frobnicate"], r"^nanomlp: error: argument COMMAND: invalid choice: 'frobnicate'"),
        (["evaluate", "m.npz", "--bogus"], r"^nanomlp: error: unrecognized arguments: --bogus"),
        ([], r"^nanomlp: error: the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, pattern):
    done = run(*args)
    assert done.returncode == 2
    one_line_error(done, pattern)


def test_runtime_errors_exit_1_with_one_line(tmp_path, mnist_dir):
    one_line_error(
        run("evaluate", str(tmp_path / "missing.npz")),
        r"^nanomlp: error: .*missing\.npz: no such model file$",
    )
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    done = run("predict", str(tmp_path / "junk.npz"), str(tmp_path / "x.png"))
    assert done.returncode == 1
    one_line_error(done, r"junk\.npz: not a nanomlp model file")
    done = run("evaluate", str(tmp_path / "missing.npz"), "--debug")
    assert (
        done.returncode == 1 and "Traceback" in done.stderr and "FileNotFoundError" in done.stderr
    )
    done = run("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    one_line_error(done, r"^nanomlp: error: MNIST not found at the path given")
    assert not (tmp_path / "out").exists()


def test_diverging_run_fails_cleanly(mnist_dir, tmp_path):
    out = tmp_path / "diverged"
    done = run(
        "train",
        "--limit",
        "600",
        "--val-size",
        "100",
        "--epochs",
        "3",
        "--lr",
        "1e4",
        "--quiet",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "nanomlp: warning: training diverged at epoch 1: train_loss is nan; stopped (try a smaller learning rate than 10000)",
        "nanomlp: error: training diverged at epoch 1 (loss is NaN or infinite); nothing saved; try a smaller --lr than 10000",
    ]
    assert not out.exists()


def test_ctrl_c_exits_130_and_writes_nothing(mnist_dir, tmp_path):
    out = tmp_path / "interrupted"
    env = {**os.environ, "NANOMLP_DATA": str(mnist_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanomlp",
            "train",
            "--limit",
            "20000",
            "--epochs",
            "50",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()  # training is under way once epoch 1 is reported
        assert first.startswith("Epoch 1/50"), first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert stderr.strip() == "nanomlp: interrupted" and "Traceback" not in stderr
    assert "Test Loss" not in stdout
    assert not out.exists()


def test_data_info_and_download(mnist_dir, tmp_path):
    done = run("data", "info", "mnist", "--data", str(mnist_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(f"MNIST: {mnist_dir}")
    done = run("data", "info", "--json", "--data", str(mnist_dir))
    infos = json.loads(done.stdout)
    assert [i["name"] for i in infos] == ["mnist", "fashion-mnist"] and infos[0]["found"]
    done = run(
        "data", "download", "fashion-mnist", NANOMLP_OFFLINE="1", NANOMLP_CACHE=str(tmp_path)
    )
    assert done.returncode == 1
    one_line_error(done, r"^nanomlp: error: Fashion-MNIST not downloaded: NANOMLP_OFFLINE=1")
