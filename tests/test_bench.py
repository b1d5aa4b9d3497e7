"""The benchmark script: its quick mode writes the three promised outputs, with sane numbers."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    from nanomlp import bench

    return bench


def test_flop_counts_follow_the_layer_sizes(bench: ModuleType) -> None:
    flops = bench.flop_counts((784, 128, 64, 10))
    assert flops == {"forward_per_image": 218_368, "train_step_per_image": 454_400}
    # The notebook's epoch: 55,000 training steps and 60,000 forward passes, ~38 GFLOP.
    assert round(bench.epoch_flop(flops, 55_000, 5_000) / 1e9) == 38
    assert bench.flop_counts((3, 2)) == {"forward_per_image": 12, "train_step_per_image": 24}


def test_max_weight_difference_sees_a_disagreement(bench: ModuleType) -> None:
    weights = [np.zeros((3, 2)), np.ones(4)]
    assert bench.max_weight_difference(weights, weights) == 0.0
    assert bench.max_weight_difference(weights, [np.zeros((3, 2)), np.full(4, 1.5)]) == 0.5
    assert bench.max_weight_difference([np.full((3, 2), np.nan), np.ones(4)], weights) == math.inf
    with pytest.raises(ValueError, match="shape"):
        bench.max_weight_difference(weights, [np.zeros((2, 3)), np.ones(4)])


def test_bad_options_exit_with_status_2(bench: ModuleType, tmp_path: Path, capsys) -> None:
    assert bench.main(["--quick", "--repeats", "0", "--out", str(tmp_path)]) == 2
    assert "repeats must be >= 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_quick_run_writes_json_markdown_and_chart(
    bench: ModuleType, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    assert bench.main(["--quick", "--data", str(mnist_dir), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())
    assert files["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = json.loads(files["json"].read_text())
    machine = report["machine"]
    assert machine["cpu_model"] and machine["logical_cpus"] >= 1
    assert report["date"]
    assert report["versions"]["numpy"] == np.__version__
    assert report["versions"]["nanomlp"]
    assert "torch" in report["versions"]
    assert any(lib["user_api"] == "blas" for lib in report["blas"])
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(report["env"])
    assert report["flops"]["forward_per_image"] == 218_368
    assert report["flops"]["train_step_per_image"] == 454_400
    assert report["data"] == {"n_train": 2000, "n_val": 500, "n_inference": 2500}

    parity = report["parity"]
    assert "native@1" in parity["max_abs_weight_diff"]
    assert all(0 <= d <= parity["tolerance"] for d in parity["max_abs_weight_diff"].values())
    assert set(report["peak"]) == {"1", "2"}
    assert all(p["gflops_median"] > 0 for p in report["peak"].values())
    assert all(len(report["load_average"][when]) == 3 for when in ("start", "end"))
    # Each peak names the engine's path and the BLAS kernel that measured it.
    assert report["engine_kernel"] in {"avx512", "avx2", "neon", "generic"}
    for peak in report["peak"].values():
        assert peak["engine_kernel"] == report["engine_kernel"] and peak["blas"]

    backends = report["backends"]
    assert backends[:3] == ["native", "numpy64", "numpy32"]
    cells = {(r["case"], r["batch_size"], r["threads"], r["backend"]) for r in report["results"]}
    for threads in (1, 2):
        for backend in backends:
            assert ("inference", None, threads, backend) in cells
            for batch_size in (32, 128, 256):
                assert ("epoch", batch_size, threads, backend) in cells
                assert ("train", batch_size, threads, backend) in cells
    assert len(cells) == len(report["results"]) == 2 * 7 * len(backends)
    for record in report["results"]:
        assert record["min_s"] <= record["median_s"] <= record["max_s"]
        assert record["min_s"] > 0 and record["images_per_s_median"] > 0
        assert record["gflops_median"] > 0
        assert 1 <= record["threads_effective"] <= record["threads"]
    for record in report["results"]:
        if record["case"] == "epoch":
            assert 0 < record["metrics"]["train_loss"] < 3 and 0 < record["metrics"]["val_acc"] <= 1

    assert len(report["ratios"]) == 2 * 7
    for row in report["ratios"]:
        assert row["native_vs_numpy64"] > 0 and row["native_vs_numpy32"] > 0
        assert 0 < row["native_of_peak"]

    # The targets, each judged from the measured ratios of this report.
    checks = {t["target"]: t for t in report["targets"]}
    ratio = {(r["case"], r["batch_size"], r["threads"]): r for r in report["ratios"]}
    assert (
        checks["train batch 32, 1 thread: native/peak"]["value"]
        == (ratio[("train", 32, 1)]["native_of_peak"])
    )
    # Thread scaling from 1 and 2 threads timed back to back: the median per-repeat ratio.
    scaling = checks["epoch batch 128: 2 threads / 1"]
    (paired,) = [
        r for r in report["thread_scaling"] if (r["case"], r["batch_size"]) == ("epoch", 128)
    ]
    assert len(paired["seconds"]) == len(paired["seconds_1_thread"]) == report["config"]["repeats"]
    assert scaling["min"] == 1.8 and scaling["value"] == pytest.approx(
        statistics.median(a / b for a, b in zip(paired["seconds_1_thread"], paired["seconds"]))
    )
    assert len(report["thread_scaling"]) == 7
    least = min(r["native_vs_numpy32"] for r in report["ratios"] if r["threads"] == 2)
    assert [t["value"] for t in checks.values() if "2 thread(s)" in t["target"]] == [least]
    assert all(t["met"] == (t["value"] >= t["min"]) for t in report["targets"])
    assert len(checks) == 4 + 6 + 2

    table = files["markdown"].read_text()
    assert "Targets (written for the AVX2 path" in table and "Load average" in table
    assert "| case | batch | threads | native f32 | NumPy f64 | NumPy f32 |" in table
    assert table.count("\n| epoch |") == 6 and table.count("\n| inference |") == 2
    assert "OPENBLAS_CORETYPE=" in table and "218.4 kFLOP" in table
    assert table in stdout
