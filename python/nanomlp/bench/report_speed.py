"""The speed sections' reports as files: the JSON record and the Markdown tables of
``--latency`` and ``--wide``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import BACKEND_LABELS
from .latency import LATENCY_LABELS, LATENCY_OUTPUT_NAMES
from .report import _context, _load_line, _met, peak_line
from .report_networks import _end, _write
from .wide import WIDE_OUTPUT_NAMES


def _us(timed: dict[str, Any]) -> str:
    return f"{timed['median_us']:.1f} ({timed['min_us']:.1f}–{timed['max_us']:.1f})"


def _latency_targets(row: dict[str, Any], targets: dict[str, Any]) -> str:
    """A row's targets, e.g. ``Trainer ≤ 10 µs met; Trainer ≥ 20× faster than scikit-learn
    **missed**``."""
    met = row["targets_met"]
    names = {"trainer": "Trainer", "estimator": "MLPClassifier"}
    limit = targets["max_us"].get(str(row["batch_size"]))
    parts = [f"{names[n]} ≤ {limit:g} µs {_met(met[f'{n}_us'])}" for n in names if f"{n}_us" in met]
    parts += [
        f"{names[n]} ≥ {targets['sklearn_ratio_min']:g}× faster than scikit-learn "
        f"{_met(met[f'sklearn_to_{n}'])}"
        for n in names
        if f"sklearn_to_{n}" in met
    ]
    return "; ".join(parts) or "–"


def latency_markdown(report: dict[str, Any]) -> str:
    """The latency section's report as a Markdown page: context, the table, the targets."""
    config, targets = report["config"], report["targets"]
    net = "-".join(map(str, config["layer_sizes"]))
    lines = _context(report, "nanomlp benchmark: predict_proba latency")
    lines += _load_line(report)
    agreement = "; ".join(
        f"{t} thread(s): " + ", ".join(f"{n} {d:.1g}" for n, d in diffs.items() if n != "trainer")
        for t, diffs in report["agreement"].items()
    )
    lines += [
        f"- Engine path: {report['engine_kernel']}.",
        "",
        f"Microseconds per `predict_proba` call on {net}, every implementation holding the same "
        f"weights (`MLP(seed={config['seed']})`'s; both estimators fitted for one epoch on "
        f"{config['fit_rows']:,} images first, then given those weights), called on the first "
        "1, 8 or 64 MNIST test images (C-contiguous float32): nanomlp's `Trainer` and "
        "`MLPClassifier`, scikit-learn's `MLPClassifier`, and PyTorch's `nn.Sequential` under "
        "`torch.inference_mode()` (NumPy in, softmax, NumPy out). Each cell: calls in a loop "
        f"until {config['min_seconds']:g} s have passed, {config['repeats']} repeat(s), the "
        "implementations taking turns; median (min–max). Ratios: the median of the per-repeat "
        f"ratios. Largest difference from `Trainer`'s probabilities: {agreement}.",
        "",
    ]
    names = [n for n in LATENCY_LABELS if n in report["results"][0]["calls"]]
    ratio_names = list(report["results"][0]["ratios"])
    ratio_labels = {
        "sklearn_to_trainer": "scikit-learn / `Trainer`",
        "sklearn_to_estimator": "scikit-learn / `MLPClassifier`",
        "torch_to_trainer": "PyTorch / `Trainer`",
    }
    head = ["batch", "threads", *(LATENCY_LABELS[n] + " µs" for n in names)]
    head += [ratio_labels[r] for r in ratio_names] + ["targets"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---:"] * (len(head) - 1) + ["---"]) + "|")
    for row in report["results"]:
        cells = [str(row["batch_size"]), str(row["threads"])]
        cells += [_us(row["calls"][n]) for n in names]
        cells += [f"{row['ratios'][r]:.1f}×" for r in ratio_names]
        cells.append(_latency_targets(row, targets))
        lines.append("| " + " | ".join(cells) + " |")
    limits = ", ".join(f"batch {b} ≤ {us:g} µs" for b, us in targets["max_us"].items())
    lines += [
        "",
        f"Targets: nanomlp's calls {limits}; at one row, scikit-learn's call at least "
        f"{targets['sklearn_ratio_min']:g}× nanomlp's.",
    ]
    return "\n".join(lines + _end(report))


def wide_markdown(report: dict[str, Any]) -> str:
    """The wide-network section's report as a Markdown page: context, the table, scaling."""
    config, targets = report["config"], report["targets"]
    net = "-".join(map(str, config["layer_sizes"]))
    n_train = report["data"]["n_train"]
    backends = report["backends"]
    lines = _context(report, f"nanomlp benchmark: the wide network {net}")
    lines += _load_line(report)
    lines += [
        peak_line(report),
        "",
        f"One train-only epoch (`Trainer.train_epoch`, plain SGD) of {net} on the first "
        f"{n_train:,} MNIST training images "
        f"({report['flops']['train_step_per_image'] / 1e6:.2f} MFLOP per image), every backend "
        f"from the same initial weights in the same shuffle, {config['repeats']} repeat(s) "
        "taking turns: thousands of images per second, median (min–max). Speedup: the other "
        "backend's median time / native's. Targets: native at least "
        f"{100 * targets['of_peak_min_1_thread']:.0f}% of the peak on one thread, and ahead of "
        "NumPy f32 and PyTorch.",
        "",
    ]
    head = ["batch", "threads", *(BACKEND_LABELS[b] for b in backends)]
    head += [f"native vs {BACKEND_LABELS[b]}" for b in backends[1:]]
    head += ["native GFLOP/s", "native/peak", "targets"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---:"] * (len(head) - 1) + ["---"]) + "|")
    for row in report["ratios"]:
        key = (row["batch_size"], row["threads"])
        here = {
            r["backend"]: r for r in report["results"] if (r["batch_size"], r["threads"]) == key
        }
        cells = [str(row["batch_size"]), str(row["threads"])]
        for b in backends:
            r = here[b]
            cells.append(
                f"{r['images'] / r['median_s'] / 1e3:,.1f}k "
                f"({r['images'] / r['max_s'] / 1e3:,.1f}–{r['images'] / r['min_s'] / 1e3:,.1f})"
            )
        cells += [f"{row[f'native_vs_{b}']:.2f}×" for b in backends[1:]]
        cells += [f"{here['native']['gflops_median']:.1f}", f"{100 * row['native_of_peak']:.1f}%"]
        met = [f"ahead {_met(all(row[f'native_vs_{b}'] > 1 for b in backends[1:]))}"]
        if row["threads"] == 1:
            met.insert(0, f"peak {_met(row['native_of_peak'] >= targets['of_peak_min_1_thread'])}")
        cells.append(", ".join(met))
        lines.append("| " + " | ".join(cells) + " |")
    if report["thread_scaling"]:
        lines += [
            "",
            "Native thread scaling (1 and N threads timed back to back in each repeat; the "
            "median of the per-repeat ratios time on 1 thread / on N): "
            + "; ".join(
                f"batch {r['batch_size']} ×{r['speedup']:.2f} on {r['threads']}"
                for r in report["thread_scaling"]
            )
            + ".",
        ]
    return "\n".join(lines + _end(report))


def write_latency_outputs(
    report: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Path]:
    """The JSON and Markdown files of the latency section's ``report`` in ``out_dir``."""
    return _write(report, out_dir, LATENCY_OUTPUT_NAMES, latency_markdown(report))


def write_wide_outputs(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The JSON and Markdown files of the wide-network section's ``report`` in ``out_dir``."""
    return _write(report, out_dir, WIDE_OUTPUT_NAMES, wide_markdown(report))
