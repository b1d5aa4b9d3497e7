"""The benchmark's optimizer section: it times what ``nanomlp train`` trains, and its quick
mode writes the promised tables with sane numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from nanomlp import MLP
from nanomlp.cli._options import PRESETS
from test_cli import run


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    from nanomlp import bench

    return bench


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_paired_ratio_is_the_median_of_the_per_repeat_ratios(bench: ModuleType) -> None:
    assert bench.paired_ratio([2.0, 3.0, 10.0], [1.0, 1.0, 1.0]) == 3.0
    # A slow spell that hits both runs of a repeat leaves its ratio alone.
    assert bench.paired_ratio([1.2, 12.0, 1.2], [1.0, 10.0, 1.0]) == pytest.approx(1.2)
    from nanomlp.bench.optimizers import rotated

    assert [rotated("abc", r) for r in range(4)] == [
        list("abc"),
        list("bca"),
        list("cab"),
        list("abc"),
    ]


def test_epoch_orders_are_the_shuffles_of_fit(bench: ModuleType) -> None:
    orders = bench.epoch_orders(MLP(seed=3), 50, 3)
    rng = MLP(seed=3).random_state
    order = np.arange(50)
    for drawn in orders:
        order = order[rng.permutation(50)]
        np.testing.assert_array_equal(drawn, order)
    assert bench.epoch_orders(MLP(seed=3), 50, 1)[0].tolist() == orders[0].tolist()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--repeats", "0"], "repeats must be >= 1"),
        (["--seeds", "-1"], "seeds must be >= 0"),
        (["--batch-sizes", "0"], "batch_sizes must be >= 1"),
    ],
)
def test_bad_options_exit_with_status_2(
    bench: ModuleType, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    assert bench.main(["--optimizers", "--quick", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_optimizers:") and message in err
    assert not list(tmp_path.iterdir())


def test_config_refuses_an_unknown_optimizer_or_a_missing_baseline(bench: ModuleType) -> None:
    with pytest.raises(ValueError, match="among"):
        bench.OptimizerBenchConfig(optimizers=("sgd", "lion")).validate()
    with pytest.raises(ValueError, match="start with 'sgd'"):
        bench.OptimizerBenchConfig(optimizers=("adam", "sgd")).validate()


def test_the_timed_preset_run_trains_the_weights_of_train_preset_fast(
    bench: ModuleType, mnist_dir: Path, mnist, tmp_path: Path
) -> None:
    # The command fits on the first 1,000 images (500 more held out for validation).
    out = tmp_path / "fast"
    done = run(
        "train",
        "--preset",
        "fast",
        "--limit",
        "1500",
        "--val-size",
        "500",
        "--seed",
        "1",
        "--quiet",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 0, done.stderr
    trained_by_cli = MLP.load(out / "model.npz")

    (x, y), _ = mnist
    config = bench.OptimizerBenchConfig.quick_config(fit_threads=1)
    runner = bench.RecipeRunner(dict(PRESETS["fast"]), config)
    trainer, seconds = runner.train(x[:1000], y[:1000], seed=1)
    assert finite_positive(seconds)
    for mine, theirs in zip(trainer.model.weights, trained_by_cli.weights):
        np.testing.assert_array_equal(mine, theirs)
    assert trainer.model.optimizer_config == trained_by_cli.optimizer_config


def test_the_pytorch_recipe_follows_nanomlps(bench: ModuleType, mnist_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    config = bench.OptimizerBenchConfig.quick_config(data=str(mnist_dir), n_train=1000)
    split = bench.load_split(config)
    nanomlp_s, nanomlp_acc = bench.RecipeRunner(dict(PRESETS["fast"]), config).run(split, 0)
    torch_s, torch_acc = bench.TorchRecipeRunner(torch, dict(PRESETS["fast"]), config).run(split, 0)
    assert finite_positive(nanomlp_s) and finite_positive(torch_s)
    # The same weights, shuffles and rates: float32 rounding may flip a digit or two.
    assert nanomlp_acc > 0.5 and abs(nanomlp_acc - torch_acc) <= 0.01
    with pytest.raises(ValueError, match="SGD"):
        bench.TorchRecipeRunner(torch, {**PRESETS["fast"], "optimizer": "adam"}, config)


def test_quick_run_writes_json_and_markdown(
    bench: ModuleType, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    argv = ["--optimizers", "--quick", "--data", str(mnist_dir), "--out", str(out)]
    assert bench.main(argv) == 0
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.OPTIMIZER_OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())

    report = json.loads(files["json"].read_text())
    assert report["machine"]["cpu_model"] and report["machine"]["logical_cpus"] >= 1
    assert report["versions"]["numpy"] == np.__version__
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(report["env"])
    assert report["data"] == {"n_train": 2000, "n_test": 500}
    assert all(len(report["load_average"][when]) == 3 for when in ("start", "end"))
    has_torch = report["versions"]["torch"] is not None
    has_sklearn = report["versions"]["scikit-learn"] is not None

    # Every optimizer at every batch size and thread count, SGD the baseline.
    rows = report["epoch_ratios"]
    assert [(r["batch_size"], r["threads"]) for r in rows] == [(32, 1), (256, 1), (32, 2), (256, 2)]
    for row in rows:
        assert list(row["optimizers"]) == list(bench.OPTIMIZERS)
        assert row["optimizers"]["sgd"]["ratio_to_sgd"] == 1.0
        for timed in row["optimizers"].values():
            assert finite_positive(timed["ratio_to_sgd"]) and finite_positive(timed["median_s"])
            assert timed["min_s"] <= timed["median_s"] <= timed["max_s"]
            assert len(timed["seconds"]) == 1
        assert set(row["target_missed"]) <= {"adam", "rmsprop"}

    tta = report["time_to_accuracy"]
    expected = (
        ["preset_fast", "torch_fast", "notebook"] if has_torch else ["preset_fast", "notebook"]
    )
    assert list(tta["recipes"]) == expected
    assert tta["seeds"] == [0] and tta["threads"] == 2
    for recipe in tta["recipes"].values():
        assert [r["seed"] for r in recipe["seeds"]] == [0]
        for r in recipe["seeds"]:
            assert finite_positive(r["median_s"])
            # 2,000 images are enough to learn well beyond chance (0.1).
            assert 0.5 < r["test_acc"] <= 1
        assert recipe["mean_test_acc"] == recipe["seeds"][0]["test_acc"]
    assert tta["recipes"]["preset_fast"]["settings"] == PRESETS["fast"]
    assert tta["recipes"]["notebook"]["settings"]["lr"] == 0.1
    assert finite_positive(tta["preset_vs_notebook"]["median_s_ratio"])
    assert isinstance(tta["targets_met"]["preset_vs_notebook"], bool)

    sk = report["sklearn"]
    if has_sklearn:
        assert set(sk["estimators"]) == {"nanomlp", "sklearn"}
        for estimator in sk["estimators"].values():
            assert 0.5 < estimator["test_acc"] <= 1 and estimator["n_iter"] == 10
            assert finite_positive(estimator["median_s"])
        assert finite_positive(sk["speedup"]) and abs(sk["accuracy_gap"]) < 0.5
        assert sk["params"] == {"max_iter": 10, "random_state": 0, "threads": 2}
    else:
        assert sk is None

    table = files["markdown"].read_text()
    assert "| batch | threads | SGD | SGD momentum 0.9 | Adam | AdamW | RMSprop | target |" in table
    assert sum(line.startswith(("| 32 |", "| 256 |")) for line in table.splitlines()) == 4
    assert "| nanomlp `train --preset fast` |" in table
    assert ("| PyTorch, the same recipe |" in table) == has_torch
    assert ("| scikit-learn |" in table) == has_sklearn
    assert "Machine: " in table and "QUICK" in table and "Load average" in table
    assert table in stdout
