"""The command line's optimizer, schedule, dropout and clipping options, and ``--preset``:
each reaches the Trainer and the MLP (seen in config.json and the saved model), bad values
are usage errors naming the option, and a sweep ranges over them."""

from __future__ import annotations

import csv
import json

import pytest

from nanomlp import MLP
from nanomlp.cli._options import PRESETS
from test_cli import one_line_error, run

SMALL = ["--limit", "1500", "--val-size", "500", "--epochs", "2", "--quiet"]


def train(tmp_path, *args, data):
    out = tmp_path / "run"
    done = run("train", *SMALL, *args, "--out", str(out), data=data)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "config.json").read_text()), MLP.load(out / "model.npz")


def test_defaults_record_the_notebooks_sgd(tmp_path, mnist_dir):
    config, model = train(tmp_path, data=mnist_dir)
    assert config["preset"] is None
    assert (config["optimizer"], config["schedule"], config["lr"]) == ("sgd", "constant", 0.01)
    assert config["optimizer_config"] == {
        "name": "sgd",
        "lr": 0.01,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
    }
    assert config["schedule_config"] == {"name": "constant"}
    assert config["dropout"] == [0.0, 0.0] and config["clip_norm"] is None
    assert model.optimizer_config == config["optimizer_config"]


def test_every_option_reaches_the_trainer_and_the_model(tmp_path, mnist_dir):
    config, model = train(
        tmp_path,
        "--optimizer",
        "adamw",
        "--betas",
        "0.8",
        "0.99",
        "--eps",
        "1e-7",
        "--weight-decay",
        "0.001",
        "--schedule",
        "cosine",
        "--warmup",
        "10",
        "--min-lr",
        "1e-5",
        "--dropout",
        "0.1",
        "0.2",
        "--clip-norm",
        "2",
        "--clip-value",
        "0.5",
        data=mnist_dir,
    )
    steps = 2 * -(-1000 // 32)
    assert config["optimizer_config"] == {
        "name": "adamw",
        "lr": 0.001,  # AdamW's own default rate
        "betas": [0.8, 0.99],
        "eps": 1e-7,
        "weight_decay": 0.001,
        "amsgrad": False,
    }
    assert config["schedule_config"] == {
        "name": "cosine",
        "T_max": steps - 10,
        "eta_min": 1e-5,
        "warmup_steps": 10,
        "warmup_start_factor": 1 / 3,
    }
    assert (config["warmup"], config["clip_norm"], config["clip_value"]) == (10, 2.0, 0.5)
    assert model.dropout == (0.1, 0.2) and config["dropout"] == [0.1, 0.2]
    assert model.optimizer_config == config["optimizer_config"]
    assert model.optimizer_state["step"] == steps


@pytest.mark.parametrize(
    "args, schedule",
    [
        (
            ["--optimizer", "rmsprop", "--rmsprop-alpha", "0.9", "--momentum", "0.5"],
            {"name": "constant"},
        ),
        (
            ["--schedule", "step", "--step-size", "20", "--gamma", "0.5"],
            {"name": "step", "step_size": 20, "gamma": 0.5},
        ),
        (
            ["--schedule", "multistep", "--milestones", "40", "10"],
            {"name": "multistep", "milestones": [10, 40], "gamma": 0.1},
        ),
        (["--schedule", "exponential", "--gamma", "0.99"], {"name": "exponential", "gamma": 0.99}),
    ],
)
def test_the_other_optimizers_and_schedules(tmp_path, mnist_dir, args, schedule):
    config, _ = train(tmp_path, *args, data=mnist_dir)
    assert config["schedule_config"] == schedule
    if "rmsprop" in args:
        assert config["optimizer_config"]["alpha"] == 0.9
        assert config["optimizer_config"]["momentum"] == 0.5


def test_preset_fast_sets_the_recipe_and_options_override_it(tmp_path, mnist_dir):
    recipe = PRESETS["fast"]
    out = tmp_path / "fast"
    done = run(
        "train",
        "--preset",
        "fast",
        "--limit",
        "1500",
        "--val-size",
        "500",
        "--quiet",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "fast"
    assert config["layer_sizes"] == [784, *recipe["hidden"], 10]
    for name in ("optimizer", "schedule", "batch_size", "epochs"):
        assert config[name] == recipe[name]
    assert config["schedule_config"]["max_lr"] == recipe["max_lr"]
    steps = recipe["epochs"] * -(-1000 // recipe["batch_size"])
    assert config["schedule_config"]["total_steps"] == steps
    assert len(json.loads((out / "history.json").read_text())["epoch"]) == recipe["epochs"]

    assert config["optimizer_config"] == {
        "name": "sgd",
        "lr": 0.01,  # the base rate, which onecycle does not use
        "momentum": recipe["momentum"],
        "nesterov": recipe["nesterov"],
        "weight_decay": 0.0,
    }

    config, model = train(
        tmp_path, "--preset", "fast", "--epochs", "1", "--hidden", "32", data=mnist_dir
    )
    assert (config["preset"], config["epochs"], config["layer_sizes"]) == ("fast", 1, [784, 32, 10])
    assert config["optimizer"] == recipe["optimizer"]
    assert config["batch_size"] == recipe["batch_size"]
    # Another optimizer given: the preset's momentum, which it does not take, goes.
    config, _ = train(tmp_path, "--preset", "fast", "--optimizer", "adam", data=mnist_dir)
    assert config["optimizer_config"]["name"] == "adam" and config["momentum"] is None
    assert config["schedule"] == "onecycle"


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--optimizer", "nadam"], r"argument --optimizer: invalid choice: 'nadam'"),
        (["--schedule", "linear"], r"argument --schedule: invalid choice: 'linear'"),
        (
            ["--optimizer", "adam", "--betas", "0.9", "1.5"],
            r"argument --betas: betas\[1\] must be in \[0, 1\), got 1.5",
        ),
        (["--optimizer", "adam", "--eps", "0"], r"argument --eps: must be .*> 0, got 0"),
        (
            ["--optimizer", "rmsprop", "--rmsprop-alpha", "1"],
            r"argument --rmsprop-alpha: must be in \[0, 1\)",
        ),
        (
            ["--optimizer", "adam", "--momentum", "0.9"],
            r"--momentum does not apply: .*sgd or rmsprop, not adam",
        ),
        (["--optimizer", "sgd", "--betas", "0.9", "0.99"], r"--betas does not apply"),
        (["--warmup", "10"], r"--warmup does not apply: .*cosine, not constant"),
        (
            ["--schedule", "onecycle", "--warmup", "10"],
            r"--warmup does not apply: onecycle warms up",
        ),
        (["--schedule", "cosine", "--warmup", "-1"], r"argument --warmup: must be >= 0, got -1"),
        (
            ["--schedule", "cosine", "--warmup", "5000"],
            r"argument --warmup: must be fewer than the run's 64 optimisation steps",
        ),
        (["--schedule", "step"], r"argument --step-size: is needed by the step schedule"),
        (["--schedule", "step", "--step-size", "0"], r"argument --step-size: must be >= 1, got 0"),
        (
            ["--schedule", "multistep", "--milestones", "-3"],
            r"argument --milestones: milestones\[0\] must be >= 0",
        ),
        (["--schedule", "exponential"], r"argument --gamma: is needed by the exponential schedule"),
        (["--schedule", "exponential", "--gamma", "0"], r"argument --gamma: must be .*> 0, got 0"),
        (["--schedule", "cosine", "--min-lr", "-1"], r"argument --min-lr: must be .*>= 0"),
        (["--schedule", "onecycle", "--max-lr", "0"], r"argument --max-lr: must be .*> 0"),
        (
            ["--schedule", "onecycle", "--pct-start", "1"],
            r"argument --pct-start: must be in \(0, 1\)",
        ),
        (["--max-lr", "0.1"], r"--max-lr does not apply"),
        (["--dropout", "1"], r"argument --dropout: dropout\[0\] must be in \[0, 1\)"),
        (
            ["--dropout", "0.1", "0.2", "0.3"],
            r"argument --dropout: dropout must be one rate or one per hidden layer \(2\), got 3",
        ),
        (["--clip-norm", "0"], r"argument --clip-norm: must be .*> 0, got 0"),
        (["--clip-value", "-1"], r"argument --clip-value: must be .*> 0, got -1"),
        (["--preset", "slow"], r"argument --preset: invalid choice: 'slow'"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(tmp_path, mnist_dir, args, pattern):
    done = run("train", *SMALL, *args, "--out", str(tmp_path / "out"), data=mnist_dir)
    assert done.returncode == 2, done.stderr
    one_line_error(done, r"^nanomlp train: error: " + ".*" + pattern)
    assert not (tmp_path / "out").exists()


def test_sweep_ranges_over_the_optimizer_and_more(tmp_path, mnist_dir):
    out = tmp_path / "sweep"
    done = run(
        "sweep",
        "--optimizer",
        "sgd",
        "adam",
        "--momentum",
        "0.9",
        "--clip-norm",
        "none",
        "1",
        "--epochs",
        "1",
        "--limit",
        "1500",
        "--val-size",
        "500",
        "--test-limit",
        "200",
        "--quiet",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads((out / "results.json").read_text())["records"]
    settings = [
        {k: r.get(k) for k in ("optimizer", "lr", "momentum", "clip_norm")} for r in records
    ]
    # The momentum goes to the SGD runs only; each optimizer at its own default rate.
    assert settings == [
        {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "clip_norm": None},
        {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "clip_norm": 1.0},
        {"optimizer": "adam", "lr": 0.001, "momentum": None, "clip_norm": None},
        {"optimizer": "adam", "lr": 0.001, "momentum": None, "clip_norm": 1.0},
    ]
    with open(out / "results.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [row["optimizer"] for row in rows] == ["sgd", "sgd", "adam", "adam"]
    assert "optimizer=adam" in done.stdout


def test_sweep_of_two_optimizers_gives_two_records(tmp_path, mnist_dir):
    out = tmp_path / "sweep"
    done = run(
        "sweep",
        "--optimizer",
        "sgd",
        "adam",
        "--schedule",
        "cosine",
        "--dropout",
        "0.1,0.2",
        "--epochs",
        "1",
        "--limit",
        "1500",
        "--val-size",
        "500",
        "--test-limit",
        "200",
        "--quiet",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads((out / "results.json").read_text())["records"]
    assert [(r["optimizer"], r["schedule"], r["dropout"]) for r in records] == [
        ("sgd", "cosine", [0.1, 0.2]),
        ("adam", "cosine", [0.1, 0.2]),
    ]
    assert records[0]["test_acc"] != records[1]["test_acc"]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--optimizer", "adam", "--momentum", "0.9"], r"--momentum does not apply to any run"),
        (["--schedule", "step", "cosine"], r"argument --step-size: is needed by the step schedule"),
        (["--dropout", "1"], r"argument --dropout: dropout must be in \[0, 1\)"),
        (["--clip-norm", "-1"], r"argument --clip-norm: must be .*> 0"),
    ],
)
def test_sweep_usage_errors(tmp_path, mnist_dir, args, pattern):
    done = run("sweep", "--limit", "1500", "--val-size", "500", *args, data=mnist_dir)
    assert done.returncode == 2, done.stderr
    one_line_error(done, r"^nanomlp sweep: error: .*" + pattern)
