"""The benchmark's network sections: their quick modes write the promised tables, with sane
numbers; bad options are refused before anything runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    from nanomlp import bench

    return bench


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.mark.parametrize(
    "argv, prefix, message",
    [
        (["--activations", "--repeats", "0"], "bench_activations:", "repeats must be >= 1"),
        (["--activations", "--batch-sizes", "0"], "bench_activations:", "batch_sizes must be"),
        (["--regression", "--repeats", "0"], "bench_regression:", "fit_repeats must be >= 1"),
        (["--regression", "--seeds", "-1"], "bench_regression:", "seeds must be >= 0"),
    ],
)
def test_bad_options_exit_with_status_2(
    bench: ModuleType, tmp_path: Path, capsys, argv: list[str], prefix: str, message: str
) -> None:
    assert bench.main(["--quick", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(prefix) and message in err
    assert not list(tmp_path.iterdir())


def test_sections_are_exclusive(bench: ModuleType, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--activations", "--regression"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_activation_config_needs_relu_first(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match="start with 'relu'"):
        bench.ActivationBenchConfig(activations=("tanh", "relu")).validate()
    with pytest.raises(ValueError, match="among"):
        bench.ActivationBenchConfig(activations=("relu", "swish")).validate()


def test_the_timed_epoch_trains_the_named_activation(bench: ModuleType) -> None:
    # Different activations, same weights and shuffle: the timed work really differs.
    rng = np.random.default_rng(0)
    x = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300).astype(np.int32)
    split = bench.Split(x, y, x[:0], y[:0])
    config = bench.ActivationBenchConfig.quick_config()
    for name in bench.ACTIVATION_NAMES:
        assert finite_positive(bench.activation_epoch(name, split, 32, 1, config))


def test_friedman_split_is_80_20(bench: ModuleType) -> None:
    split = bench.friedman_split(bench.RegressionBenchConfig.quick_config(friedman_rows=1000))
    assert split.x_train.shape == (800, 10) and split.x_test.shape == (200, 10)
    assert split.y_train.shape == (800,) and np.isfinite(split.y_test).all()


def test_quick_activations_write_json_and_markdown(
    bench: ModuleType, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    assert (
        bench.main(["--activations", "--quick", "--data", str(mnist_dir), "--out", str(out)]) == 0
    )
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.ACTIVATION_OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())

    report = json.loads(files["json"].read_text())
    assert report["machine"]["cpu_model"] and report["machine"]["logical_cpus"] >= 1
    assert report["data"] == {"n_train": 2000}
    assert all(len(report["load_average"][when]) == 3 for when in ("start", "end"))
    rows = report["epoch_ratios"]
    assert [(r["batch_size"], r["threads"]) for r in rows] == [(32, 1), (256, 1), (32, 2), (256, 2)]
    for row in rows:
        assert list(row["activations"]) == list(bench.ACTIVATION_NAMES)
        assert row["activations"]["relu"]["ratio_to_relu"] == 1.0
        for timed in row["activations"].values():
            assert finite_positive(timed["ratio_to_relu"]) and finite_positive(timed["median_s"])
            assert timed["min_s"] <= timed["median_s"] <= timed["max_s"]
            assert len(timed["seconds"]) == 1
        assert set(row["target_missed"]) <= {"tanh", "gelu"}

    table = files["markdown"].read_text()
    head = "| batch | threads | relu | tanh | sigmoid | gelu | gelu_tanh | leaky_relu | target |"
    assert head in table
    assert sum(line.startswith(("| 32 |", "| 256 |")) for line in table.splitlines()) == 4
    assert "Machine: " in table and "QUICK" in table and "Load average" in table
    assert table in stdout


def test_quick_regression_writes_json_and_markdown(
    bench: ModuleType, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    assert bench.main(["--regression", "--quick", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.REGRESSION_OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())

    report = json.loads(files["json"].read_text())
    assert report["machine"]["cpu_model"] and report["versions"]["scikit-learn"]
    assert all(len(report["load_average"][when]) == 3 for when in ("start", "end"))

    diabetes = report["diabetes"]
    assert [row["params"].get("solver", "adam") for row in diabetes] == ["adam", "sgd"]
    for row in diabetes:
        assert set(row["r2"]) == {"nanomlp", "sklearn"}
        for name, scores in row["r2"].items():
            assert len(scores) == 1
            # Both libraries learn the progression well beyond the mean's R² of 0.
            assert 0.3 < row["mean_r2"][name] < 1
        assert isinstance(row["target_met"], bool)

    friedman = report["friedman"]
    assert (friedman["n_train"], friedman["n_test"], friedman["threads"]) == (4000, 1000, 2)
    assert list(friedman["settings"]) == ["max_iter", "defaults"]
    capped = friedman["settings"]["max_iter"]
    assert capped["params"]["n_iter_no_change"] == capped["params"]["max_iter"] == 30
    for label, row in friedman["settings"].items():
        for estimator in row["estimators"].values():
            assert finite_positive(estimator["median_s"])
            assert 0.3 < estimator["r2"] < 1
            if label == "max_iter":
                assert estimator["n_iter"] == 30
            else:
                assert 1 <= estimator["n_iter"] <= 200
        assert finite_positive(row["speedup"]) and abs(row["r2_gap"]) < 0.5
        assert set(row["targets_met"]) == {"r2_gap", "speedup"}

    table = files["markdown"].read_text()
    assert "## Diabetes: test R²" in table and "## make_friedman1: fit time and test R²" in table
    assert sum(line.startswith("| `hidden_layer_sizes") for line in table.splitlines()) == 4
    assert "| scikit-learn |" in table
    assert "Machine: " in table and "QUICK" in table and "Load average" in table
    assert table in stdout
