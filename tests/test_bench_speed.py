"""The benchmark's speed sections (latency, the wide network, the peak of the engine's path)
and the interleaved timing they share with the optimizer and activation sections: structure,
and ratios that are those of the measured times. No speed is asserted."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    from nanomlp import bench

    return bench


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_interleaved_ratios_take_turns_and_divide_by_the_baseline(bench: ModuleType) -> None:
    calls = []
    cost = {"a": 1.0, "b": 2.0, "c": 3.0}

    def epoch(name: str, split, batch_size: int, threads: int) -> float:
        calls.append((name, len(split.x_train), batch_size, threads))
        return cost[name] * batch_size

    x = np.zeros((600, 3), np.float32)
    split = bench.Split(x, np.zeros(600, np.int32), x[:0], np.zeros(0, np.int32))
    config = SimpleNamespace(threads=(2,), batch_sizes=(4,), repeats=3)
    rows = bench.interleaved_ratios(
        ["a", "b", "c"], "a", epoch, split, config, lambda m: None,
        group="things", checked=("b", "c"), limit=2.5,
    )  # fmt: skip
    # Warm-up on 512 rows at batch 32, then each repeat starting one further along.
    assert calls[:3] == [(n, 512, 32, 2) for n in "abc"]
    assert [c[0] for c in calls[3:]] == list("abcbcacab")
    assert all(c[1:] == (600, 4, 2) for c in calls[3:])
    (row,) = rows
    assert (row["batch_size"], row["threads"], row["images"]) == (4, 2, 600)
    timed = row["things"]
    assert [timed[n]["ratio_to_a"] for n in "abc"] == [1.0, 2.0, 3.0]
    assert timed["b"]["seconds"] == [8.0] * 3 and timed["c"]["ratio_of_medians"] == 3.0
    assert row["target_missed"] == ["c"]


def test_seconds_per_call_times_many_calls(bench: ModuleType) -> None:
    from nanomlp.bench.latency import seconds_per_call

    count = [0]

    def predict(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        time.sleep(0.001)
        return x

    seconds = seconds_per_call(predict, np.zeros(1), 0.02)
    # Every call sleeps at least 1 ms, and one call alone cannot fill 20 ms.
    assert 0.001 <= seconds < 0.02 and count[0] > 2


def test_peak_coretype_matches_the_path(bench: ModuleType) -> None:
    from nanomlp.bench.machine import peak_coretype

    assert peak_coretype("avx2", ["avx2", "fma", "avx512f"]) == "Haswell"
    assert peak_coretype("avx2", ["avx2", "fma"]) is None
    assert peak_coretype("avx512", ["avx2", "avx512f"]) is None
    assert peak_coretype("generic", ["avx512f"]) is None


def test_path_peak_runs_the_avx2_paths_blas_kernel(bench: ModuleType) -> None:
    from nanomlp.bench.machine import _cpuinfo, path_peak

    peak = path_peak(128, 1, 1, "avx2")
    assert finite_positive(peak["gflops_median"]) and peak["engine_kernel"] == "avx2"
    openblas = [lib for lib in peak["blas"] if lib["internal_api"] == "openblas"]
    if "avx512f" in _cpuinfo()["flags"] and openblas:
        # The fresh process's OpenBLAS took the coretype: its AVX2 kernel, not SkylakeX.
        assert peak["openblas_coretype"] == "Haswell"
        assert [lib["architecture"] for lib in openblas] == ["Haswell"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--latency", "--repeats", "0"], "bench_latency: repeats must be >= 1"),
        (["--latency", "--threads", "0"], "bench_latency: threads must be >= 1"),
        (["--wide", "--batch-sizes", "0"], "bench_wide: batch_sizes must be >= 1"),
    ],
)
def test_bad_options_exit_with_status_2(
    bench: ModuleType, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    assert bench.main(["--quick", *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_quick_latency_writes_json_and_markdown(
    bench: ModuleType, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    argv = ["--latency", "--quick", "--threads", "1", "--batch-sizes", "1", "8"]
    assert bench.main([*argv, "--data", str(mnist_dir), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.LATENCY_OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())

    report = json.loads(files["json"].read_text())
    assert report["engine_kernel"] in {"avx512", "avx2", "neon", "generic"}
    assert all(len(report["load_average"][when]) == 3 for when in ("start", "end"))
    # scikit-learn and PyTorch are in the test extra: every implementation is timed.
    names = ["trainer", "estimator", "sklearn", "torch"]
    diffs = report["agreement"]["1"]
    assert sorted(diffs) == sorted(names) and diffs["trainer"] == 0.0
    assert all(0 <= d <= report["config"]["parity_tol"] for d in diffs.values())
    rows = report["results"]
    assert [(r["batch_size"], r["threads"]) for r in rows] == [(1, 1), (8, 1)]
    for row in rows:
        calls = row["calls"]
        assert sorted(calls) == sorted(names)
        for timed in calls.values():
            assert len(timed["us"]) == 1 and finite_positive(timed["median_us"])
            assert timed["min_us"] <= timed["median_us"] <= timed["max_us"]
        for key, ratio in row["ratios"].items():
            slow, fast = key.split("_to_")
            pairs = zip(calls[slow]["us"], calls[fast]["us"])
            assert ratio == pytest.approx(statistics.median(s / f for s, f in pairs))
        met = row["targets_met"]
        limit = {1: 10.0, 8: 15.0}[row["batch_size"]]
        assert met["trainer_us"] == (calls["trainer"]["median_us"] <= limit)
        if row["batch_size"] == 1:
            assert met["sklearn_to_trainer"] == (row["ratios"]["sklearn_to_trainer"] >= 20)
        else:
            assert "sklearn_to_trainer" not in met

    table = files["markdown"].read_text()
    assert (
        "| batch | threads | `Trainer.predict_proba` µs | `MLPClassifier.predict_proba` µs" in table
    )
    assert sum(line.startswith(("| 1 | 1 |", "| 8 | 1 |")) for line in table.splitlines()) == 2
    assert "Engine path: " in table and "QUICK" in table and "Load average" in table
    assert table in stdout


def test_quick_wide_writes_json_and_markdown(
    bench: ModuleType, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    argv = ["--wide", "--quick", "--data", str(mnist_dir), "--out", str(out)]
    assert bench.main(argv) == 0
    stdout = capsys.readouterr().out
    files = {kind: out / name for kind, name in bench.WIDE_OUTPUT_NAMES.items()}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())

    report = json.loads(files["json"].read_text())
    assert report["config"]["layer_sizes"] == [784, 1024, 1024, 10]
    assert report["data"] == {"n_train": 500}
    step = report["flops"]["train_step_per_image"]
    assert step == 2 * (2 * (784 * 1024 + 1024 * 1024 + 1024 * 10) + 1024 * 1024 + 1024 * 10)
    assert report["backends"] == ["native", "numpy32", "torch"]
    assert set(report["peak"]) == {"1", "2"}
    for peak in report["peak"].values():
        assert finite_positive(peak["gflops_median"])
        assert peak["engine_kernel"] == report["engine_kernel"] and peak["blas"]
    median = {(r["backend"], r["threads"]): r["median_s"] for r in report["results"]}
    assert len(median) == len(report["results"]) == 6
    for r in report["results"]:
        assert r["batch_size"] == 128 and r["images"] == 500 and r["flop"] == 500 * step
        assert r["images_per_s_median"] == pytest.approx(500 / r["median_s"])
    for row in report["ratios"]:
        t = row["threads"]
        native = median[("native", t)]
        assert row["native_vs_numpy32"] == pytest.approx(median[("numpy32", t)] / native)
        assert row["native_vs_torch"] == pytest.approx(median[("torch", t)] / native)
        gflops = 500 * step / native / 1e9
        assert row["native_of_peak"] == pytest.approx(
            gflops / report["peak"][str(t)]["gflops_median"]
        )
    (scaling,) = report["thread_scaling"]
    assert scaling["threads"] == 2 and len(scaling["seconds"]) == report["config"]["repeats"]
    ratios = [a / b for a, b in zip(scaling["seconds_1_thread"], scaling["seconds"])]
    assert scaling["speedup"] == pytest.approx(statistics.median(ratios))

    table = files["markdown"].read_text()
    assert "| batch | threads | native f32 | NumPy f32 | PyTorch f32 |" in table
    assert sum(line.startswith("| 128 |") for line in table.splitlines()) == 2
    assert "Peak of the engine's path" in table and "thread scaling" in table
    assert table in stdout
