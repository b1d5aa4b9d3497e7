"""The network sections' reports as files: the JSON record and the Markdown tables of
``--activations`` and ``--regression``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write
from .config import ACTIVATION_OUTPUT_NAMES, REGRESSION_OUTPUT_NAMES
from .report import _context, _load_line, _met


def _end(report: dict[str, Any]) -> list[str]:
    lines = ["", *(f"- {note}" for note in report["notes"])] if report["notes"] else []
    return [*lines, "", f"Wall time of this run: {report['wall_seconds']:.0f} s.", ""]


def activations_markdown(report: dict[str, Any]) -> str:
    """The activation section's report as a Markdown page: context, the table, notes."""
    config, targets = report["config"], report["targets"]
    net = "-".join(map(str, config["layer_sizes"]))
    n_train = report["data"]["n_train"]
    checked = " and ".join(targets["epoch_ratio_activations"])
    lines = _context(report, "nanomlp benchmark: the hidden activations")
    lines += _load_line(report)
    lines += [
        f"- Data: the first {n_train:,} MNIST training images.",
        "",
        f"One train-only epoch of the native engine ({net}, `MLP(..., activation=NAME)`, "
        f"{n_train:,} images, `Trainer.train_epoch`, plain SGD), every activation from the "
        f"same initial weights and shuffle, {config['repeats']} repeat(s), the activations "
        "taking turns within each repeat (the first rotating). ReLU: seconds, median "
        "(min–max); the others: the median of the per-repeat ratios to ReLU's epoch (their "
        f"median seconds in brackets). Target: {checked} at most "
        f"{targets['epoch_ratio_max']:.1f}× ReLU.",
        "",
    ]
    names = config["activations"]
    head = ["batch", "threads", *names, "target"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---:"] * (len(head) - 1) + ["---"]) + "|")
    for row in report["epoch_ratios"]:
        cells = [str(row["batch_size"]), str(row["threads"])]
        for name in names:
            t = row["activations"][name]
            if name == "relu":
                cells.append(f"{t['median_s']:.3g} s ({t['min_s']:.3g}–{t['max_s']:.3g})")
            else:
                cells.append(f"{t['ratio_to_relu']:.2f}× ({t['median_s']:.3g} s)")
        missed = row["target_missed"]
        cells.append("met" if not missed else "**missed**: " + ", ".join(missed))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + _end(report))


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in params.items())


def regression_markdown(report: dict[str, Any]) -> str:
    """The regression section's report as a Markdown page: context, its two tables, notes."""
    config, targets = report["config"], report["targets"]
    seeds = " / ".join(map(str, config["seeds"]))
    gap_max = targets["r2_gap_max"]
    lines = _context(report, "nanomlp benchmark: MLPRegressor against scikit-learn's")
    lines += _load_line(report)
    lines += [
        "",
        "## Diabetes: test R²",
        "",
        "`nanomlp.MLPRegressor` and `sklearn.neural_network.MLPRegressor` with the same "
        "parameters, on the same split (`nanomlp.datasets.load_diabetes()`: 353 training and "
        "89 test patients, features standardized, the progression divided by 100), "
        f"{config['fit_threads']} threads; test R² from seeds {seeds} and their mean. Target: "
        f"the means within {gap_max}.",
        "",
        f"| parameters | nanomlp R², seeds {seeds} | mean | scikit-learn R², seeds {seeds} "
        "| mean | difference | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["diabetes"]:
        r2, mean = row["r2"], row["mean_r2"]
        lines.append(
            f"| `{_params(row['params'])}` | "
            + " / ".join(f"{v:.4f}" for v in r2["nanomlp"])
            + f" | {mean['nanomlp']:.4f} | "
            + " / ".join(f"{v:.4f}" for v in r2["sklearn"])
            + f" | {mean['sklearn']:.4f} | {row['r2_gap']:+.4f} | {_met(row['target_met'])} |"
        )
    fr = report["friedman"]
    lines += [
        "",
        "## make_friedman1: fit time and test R²",
        "",
        f"`sklearn.datasets.make_friedman1(n_samples={config['friedman_rows']:_}, "
        f"noise={config['friedman_noise']}, random_state=0)`, {fr['n_train']:,} training and "
        f"{fr['n_test']:,} test rows (`train_test_split(test_size={config['test_size']}, "
        f"random_state=0)`), {fr['threads']} threads (nanomlp `threads={fr['threads']}`, "
        f"scikit-learn under `threadpool_limits({fr['threads']})`); fit seconds: median "
        f"(min–max) of {config['fit_repeats']} fit(s), the two taking turns; speedup: the "
        "median of the per-fit ratios. Targets: R² within "
        f"{gap_max}, nanomlp at least {targets['friedman_speedup_min']:g}× faster.",
        "",
        "| parameters | estimator | test R² | epochs | fit s | speedup | R² target | speed target |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in fr["settings"].values():
        est, met = row["estimators"], row["targets_met"]
        for name, label in (("nanomlp", "nanomlp"), ("sklearn", "scikit-learn")):
            e = est[name]
            first = name == "nanomlp"
            lines.append(
                f"| {'`' + _params(row['params']) + '`' if first else ''} | {label} | "
                f"{e['r2']:.4f} | {e['n_iter']} | "
                f"{e['median_s']:.2f} ({e['min_s']:.2f}–{e['max_s']:.2f}) | "
                + (
                    f"{row['speedup']:.2f}× | {_met(met['r2_gap'])} | {_met(met['speedup'])} |"
                    if first
                    else " | | |"
                )
            )
    return "\n".join(lines + _end(report))


def _write(
    report: dict[str, Any], out_dir: str | os.PathLike[str], names: dict[str, str], markdown: str
) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in names.items()}
    payloads = {"json": json.dumps(report, indent=1) + "\n", "markdown": markdown}
    for kind, payload in payloads.items():
        with atomic_write(paths[kind], "wb") as f:
            f.write(payload.encode())
    return paths


def write_activation_outputs(
    report: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Path]:
    """The JSON and Markdown files of the activation section's ``report`` in ``out_dir``."""
    return _write(report, out_dir, ACTIVATION_OUTPUT_NAMES, activations_markdown(report))


def write_regression_outputs(
    report: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Path]:
    """The JSON and Markdown files of the regression section's ``report`` in ``out_dir``."""
    return _write(report, out_dir, REGRESSION_OUTPUT_NAMES, regression_markdown(report))
