"""The benchmark's report as files: the JSON record, a Markdown table, a PNG chart; and the
optimizer section's JSON record and Markdown tables."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from .config import (
    BACKEND_LABELS,
    OPTIMIZER_LABELS,
    OPTIMIZER_OUTPUT_NAMES,
    OUTPUT_NAMES,
    RECIPE_LABELS,
)
from .machine import blas_kernels, openblas_kernel


def _other_env(env: dict[str, Any]) -> str:
    """The other recorded variables that were set, e.g. ``, NANOMLP_KERNEL=avx2``."""
    shown = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    return "".join(f", {k}={v}" for k, v in env.items() if v is not None and k not in shown)


def _torch(versions: dict[str, Any]) -> str:
    """PyTorch's version, and the instruction set of its CPU kernels where recorded."""
    if not versions.get("torch"):
        return "not installed"
    capability = versions.get("torch_cpu_capability")
    return f"{versions['torch']} ({capability})" if capability else str(versions["torch"])


def _spread(record: dict[str, Any], case: str) -> str:
    if case == "epoch":
        return f"{record['median_s']:.3g} s ({record['min_s']:.3g}–{record['max_s']:.3g})"
    images = record["images"]
    return (
        f"{images / record['median_s'] / 1e3:,.0f}k "
        f"({images / record['max_s'] / 1e3:,.0f}–{images / record['min_s'] / 1e3:,.0f})"
    )


def peak_line(report: dict[str, Any]) -> str:
    """The peak of each thread count, with the BLAS kernel that measured it."""
    parts = [
        f"{threads} thread(s) {peak['gflops_median']:.1f} GFLOP/s "
        f"({blas_kernels(peak.get('blas', []))}, OPENBLAS_CORETYPE="
        f"{peak.get('openblas_coretype') or 'unset'})"
        for threads, peak in report["peak"].items()
    ]
    return (
        f"- Peak of the engine's path ({report.get('engine_kernel', '?')}): a float32 "
        f"{report['config']['gemm_size']}² GEMM through NumPy, in a fresh process whose "
        "OpenBLAS runs the same instruction set: " + "; ".join(parts) + "."
    )


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page: context, the table, the notes."""
    versions, machine, env = report["versions"], report["machine"], report["env"]
    flops, data = report["flops"], report["data"]
    backends = report["backends"]
    lines = [
        "# nanomlp benchmark: one epoch, native vs NumPy vs PyTorch",
        "",
        f"- Date: {report['date']}; {report['config']['repeats']} repeat(s) per cell, "
        f"median (min–max){'; QUICK smoke run on subsets' if report['config']['quick'] else ''}.",
        f"- Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} logical CPU(s)"
        f" ({machine.get('physical_cores', '?')} physical), flags {' '.join(machine.get('flags', []))}.",
        f"- Versions: nanomlp {versions['nanomlp']}, numpy {versions['numpy']}, "
        f"torch {_torch(versions)}; BLAS: OpenBLAS {openblas_kernel(report['blas'])}.",
        f"- Environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or '(unset)'}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE'] or '(unset)'}{_other_env(env)}.",
        f"- Network {'-'.join(map(str, report['config']['layer_sizes']))}: "
        f"{flops['forward_per_image'] / 1e3:.1f} kFLOP per image forward, "
        f"{flops['train_step_per_image'] / 1e3:.1f} kFLOP per image per training step "
        f"({flops['counting']}).",
        f"- Epoch (the notebook's protocol): train on {data['n_train']:,} images, then a forward "
        f"pass over the {data['n_train']:,} training and {data['n_val']:,} validation images: "
        f"{flops['epoch'] / 1e9:.1f} GFLOP. Training only: {flops['train_epoch'] / 1e9:.1f} GFLOP; "
        f"inference over {data['n_inference']:,} images: {flops['inference'] / 1e9:.1f} GFLOP.",
        "- Parity before timing (one epoch on {rows:,} images, batch {batch}, max |ΔW| against "
        "NumPy f32): {diffs}.".format(
            rows=report["parity"]["rows"],
            batch=report["parity"]["batch_size"],
            diffs=", ".join(
                f"{k} {v:.2g}" for k, v in report["parity"]["max_abs_weight_diff"].items()
            ),
        ),
        *_load_line(report),
        peak_line(report),
        "",
        "Epoch rows: seconds per epoch. Train and inference rows: thousands of images per second. "
        "Speedup = the other backend's median time / native's (above 1: native is faster). "
        "Peak = native's GFLOP/s / the GEMM peak on the same thread count.",
        "",
    ]
    head = ["case", "batch", "threads"] + [BACKEND_LABELS[b] for b in backends]
    head += [f"native vs {BACKEND_LABELS[b]}" for b in backends[1:]] + [
        "native GFLOP/s",
        "native/peak",
    ]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
    for row in report["ratios"]:
        key = (row["case"], row["batch_size"], row["threads"])
        here = {
            r["backend"]: r
            for r in report["results"]
            if (r["case"], r["batch_size"], r["threads"]) == key
        }
        native = here["native"]
        cells = [row["case"], str(row["batch_size"] or "–"), str(row["threads"])]
        for b in backends:
            cell = _spread(here[b], row["case"])
            if b == "native" and native["threads_effective"] != row["threads"]:
                cell += f" [{native['threads_effective']} thr]"
            cells.append(cell)
        cells += [f"{row[f'native_vs_{b}']:.2f}×" for b in backends[1:]]
        cells += [f"{native['gflops_median']:.1f}", f"{100 * row['native_of_peak']:.1f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    scaling = report.get("thread_scaling")
    if scaling:
        lines += [
            "",
            "Native thread scaling (1 and N threads timed back to back in each repeat; the "
            "median of the per-repeat ratios time on 1 thread / on N): "
            + "; ".join(
                f"{r['case']}{' batch ' + str(r['batch_size']) if r['batch_size'] else ''} "
                f"×{r['speedup']:.2f} on {r['threads']}"
                for r in scaling
            )
            + ".",
        ]
    if report.get("targets"):
        lines += ["", "Targets (written for the AVX2 path, each path judged against its own peak):"]
        lines += [
            f"- {t['target']}: {t['value']:.2f} (at least {t['min']:g}): {_met(t['met'])}."
            for t in report["targets"]
        ]
    if "memory" in report:
        mem = report["memory"]
        lines += [
            "",
            f"Peak memory of a 10-epoch MNIST fit (max RSS of a fresh process, interpreter "
            f"included): {mem['max_rss_mb']:.1f} MB = the input arrays {mem['inputs_mb']:.1f} MB "
            f"+ {mem['excess_mb']:.1f} MB.",
        ]
    if report["notes"]:
        lines += ["", *(f"- {note}" for note in report["notes"])]
    lines += ["", f"Wall time of this run: {report['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def _load_line(report: dict[str, Any]) -> list[str]:
    """The load average at the start and the end, where the system told it."""
    load = report.get("load_average") or {}
    if not (load.get("start") and load.get("end")):
        return []
    return [
        f"- Load average (1 min) at the start and the end: {load['start'][0]:.1f}, "
        f"{load['end'][0]:.1f} on {report['machine'].get('usable_cpus')} usable CPU(s) "
        "(above that count, other processes shared the CPUs)."
    ]


def _context(report: dict[str, Any], title: str) -> list[str]:
    """The heading and the lines naming the date, machine, versions and BLAS environment."""
    versions, machine, env = report["versions"], report["machine"], report["env"]
    return [
        f"# {title}",
        "",
        f"- Date: {report['date']}"
        f"{'; QUICK smoke run on subsets' if report['config']['quick'] else ''}.",
        f"- Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} logical CPU(s)"
        f" ({machine.get('physical_cores', '?')} physical), flags {' '.join(machine.get('flags', []))}.",
        f"- Versions: nanomlp {versions['nanomlp']}, numpy {versions['numpy']}, "
        f"torch {_torch(versions)}, "
        f"scikit-learn {versions.get('scikit-learn') or 'not installed'}; "
        f"BLAS: OpenBLAS {openblas_kernel(report['blas'])}.",
        f"- Environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or '(unset)'}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE'] or '(unset)'}{_other_env(env)}.",
    ]


def _met(met: bool) -> str:
    return "met" if met else "**missed**"


def optimizers_markdown(report: dict[str, Any]) -> str:
    """The optimizer section's report as a Markdown page: context, its three tables, notes."""
    config, data, targets = report["config"], report["data"], report["targets"]
    net = "-".join(map(str, config["layer_sizes"]))
    lines = _context(report, "nanomlp benchmark: the optimizers")
    load = report.get("load_average") or {}
    if load.get("start") and load.get("end"):
        lines.append(
            f"- Load average (1 min) at the start and the end: {load['start'][0]:.1f}, "
            f"{load['end'][0]:.1f} on {report['machine'].get('usable_cpus')} usable CPU(s) "
            "(above that count, other processes shared the CPUs)."
        )
    lines += [
        f"- Data: train on the first {data['n_train']:,} MNIST training images, test on "
        f"{data['n_test']:,} test images.",
        "",
        "## Epoch time against plain SGD",
        "",
        f"One train-only epoch of the native engine ({net}, {data['n_train']:,} images, "
        f"`Trainer.train_epoch`), each optimizer at its default rate from the same initial "
        f"weights and shuffle, {config['repeats']} repeat(s), the optimizers taking turns "
        "within each repeat. SGD: seconds, median (min–max); the others: the median of the "
        "per-repeat ratios to plain SGD's epoch (their median seconds in brackets). Target: "
        f"Adam and RMSprop at most {targets['epoch_ratio_max']:.2f}× SGD.",
        "",
    ]
    names = config["optimizers"]
    head = ["batch", "threads"] + [OPTIMIZER_LABELS[n] for n in names] + ["target"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---:"] * (len(head) - 1) + ["---"]) + "|")
    for row in report["epoch_ratios"]:
        cells = [str(row["batch_size"]), str(row["threads"])]
        for name in names:
            t = row["optimizers"][name]
            if name == "sgd":
                cells.append(f"{t['median_s']:.3g} s ({t['min_s']:.3g}–{t['max_s']:.3g})")
            else:
                cells.append(f"{t['ratio_to_sgd']:.2f}× ({t['median_s']:.3g} s)")
        missed = row["target_missed"]
        cells.append(
            "met" if not missed else "**missed**: " + ", ".join(OPTIMIZER_LABELS[n] for n in missed)
        )
        lines.append("| " + " | ".join(cells) + " |")

    tta = report["time_to_accuracy"]
    recipes = tta["recipes"]
    seeds = " / ".join(map(str, tta["seeds"]))
    lines += [
        "",
        "## Time to 98%: `--preset fast` against PyTorch and the notebook's recipe",
        "",
        f"Training time: the training epochs alone (no data loading, no evaluation), "
        f"{tta['threads']} thread(s), median of {config['fit_repeats']} run(s) per seed, the "
        "recipes taking turns; test accuracy on the test images after the last epoch. "
        "`--preset fast`: SGD with Nesterov momentum 0.9, OneCycleLR up to 0.15, batch 128, "
        "4 epochs; PyTorch runs it with `torch.optim.SGD(nesterov=True)` and "
        "`lr_scheduler.OneCycleLR` stepped per batch (momentum not cycled, as nanomlp's), from "
        "the same initial weights in the same shuffles.",
        "",
        f"| recipe | test acc, seeds {seeds} | mean acc | training s, seeds {seeds} | median s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, recipe in recipes.items():
        lines.append(
            f"| {RECIPE_LABELS[name]} | "
            + " / ".join(f"{r['test_acc']:.4f}" for r in recipe["seeds"])
            + f" | {recipe['mean_test_acc']:.4f} | "
            + " / ".join(f"{r['median_s']:.2f}" for r in recipe["seeds"])
            + f" | {recipe['median_s']:.2f} |"
        )
    ratio = tta["preset_vs_notebook"]
    met = tta["targets_met"]
    lines += [
        "",
        f"- `--preset fast` / the notebook's recipe, training time: "
        f"{ratio['median_s_ratio']:.2f}× (per seed "
        + ", ".join(f"{r:.2f}×" for r in ratio["per_seed"])
        + f"); target ≤ {targets['preset_vs_notebook_max']}×: {_met(met['preset_vs_notebook'])}.",
        f"- `--preset fast` mean test accuracy: {recipes['preset_fast']['mean_test_acc']:.4f}; "
        f"target ≥ {targets['preset_mean_accuracy_min']}: {_met(met['preset_mean_accuracy'])}.",
    ]
    if "torch_vs_preset" in tta:
        lines.append(
            f"- PyTorch / nanomlp, the same recipe: {tta['torch_vs_preset']['median_s_ratio']:.2f}× "
            "the training time."
        )

    sk = report["sklearn"]
    if sk is not None:
        est = sk["estimators"]
        params = sk["params"]
        lines += [
            "",
            "## `MLPClassifier` against scikit-learn's",
            "",
            f"`nanomlp.MLPClassifier(max_iter={params['max_iter']}, "
            f"random_state={params['random_state']})` and "
            f"`sklearn.neural_network.MLPClassifier(max_iter={params['max_iter']}, "
            f"random_state={params['random_state']})`, every other parameter at its default "
            f"(one hidden layer of 100, Adam, batches of 200), {params['threads']} threads "
            "(the engine's; BLAS limited by threadpoolctl); fit seconds: median (min–max) of "
            f"{config['fit_repeats']} fit(s), the two taking turns.",
            "",
            "| estimator | test acc | epochs | fit s |",
            "|---|---:|---:|---:|",
        ]
        for name, label in (("nanomlp", "nanomlp"), ("sklearn", "scikit-learn")):
            e = est[name]
            lines.append(
                f"| {label} | {e['test_acc']:.4f} | {e['n_iter']} | "
                f"{e['median_s']:.2f} ({e['min_s']:.2f}–{e['max_s']:.2f}) |"
            )
        lines += [
            "",
            f"- nanomlp is {sk['speedup']:.2f}× faster (median of the per-fit ratios); target "
            f"≥ {targets['sklearn_speedup_min']:g}×: {_met(sk['targets_met']['speedup'])}.",
            f"- Accuracy difference: {100 * sk['accuracy_gap']:+.2f} points; target within "
            f"{100 * targets['sklearn_accuracy_gap_max']:.1f}: "
            f"{_met(sk['targets_met']['accuracy_gap'])}.",
        ]
    if report["notes"]:
        lines += ["", *(f"- {note}" for note in report["notes"])]
    lines += ["", f"Wall time of this run: {report['wall_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def write_optimizer_outputs(
    report: dict[str, Any], out_dir: str | os.PathLike[str]
) -> dict[str, Path]:
    """The JSON and Markdown files of the optimizer section's ``report`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in OPTIMIZER_OUTPUT_NAMES.items()}
    payloads = {
        "json": json.dumps(report, indent=1) + "\n",
        "markdown": optimizers_markdown(report),
    }
    for kind, payload in payloads.items():
        with atomic_write(paths[kind], "wb") as f:
            f.write(payload.encode())
    return paths


def chart_png(report: dict[str, Any]) -> bytes:
    """Achieved GFLOP/s per case and backend, one panel per thread count, the peak as a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    threads_list = list(report["peak"])
    backends = report["backends"]
    fig = Figure(
        figsize=(6 + 2.2 * len(report["config"]["batch_sizes"]), 4.2 * len(threads_list)),
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(threads_list), 1, squeeze=False)[:, 0]
    width = 0.8 / len(backends)
    records = {
        (r["backend"], r["case"], r["batch_size"], r["threads"]): r for r in report["results"]
    }
    for ax, threads in zip(axes, threads_list):
        rows = [r for r in report["ratios"] if str(r["threads"]) == threads]
        labels = [
            f"{r['case']}\nbatch {r['batch_size']}" if r["batch_size"] else r["case"] for r in rows
        ]
        for i, backend in enumerate(backends):
            medians, low, high = [], [], []
            for row in rows:
                rec = records[(backend, row["case"], row["batch_size"], row["threads"])]
                g = rec["flop"] / 1e9
                medians.append(g / rec["median_s"])
                low.append(g / rec["median_s"] - g / rec["max_s"])
                high.append(g / rec["min_s"] - g / rec["median_s"])
            xs = np.arange(len(rows)) + (i - (len(backends) - 1) / 2) * width
            ax.bar(xs, medians, width, yerr=[low, high], capsize=2, label=BACKEND_LABELS[backend])
        peak = report["peak"][threads]["gflops_median"]
        ax.axhline(
            peak,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"float32 GEMM peak {peak:.0f} GFLOP/s",
        )
        ax.set_ylim(bottom=0)
        ax.set_xticks(np.arange(len(rows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("GFLOP/s (median, min–max)")
        ax.set_title(f"{threads} thread(s)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    env = report["env"]
    fig.suptitle(
        f"nanomlp {report['versions']['nanomlp']} on {report['machine'].get('cpu_model')}; "
        f"OpenBLAS {openblas_kernel(report['blas'])}, "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or 'unset'}",
        fontsize=9,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def write_outputs(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The JSON, Markdown and PNG files of ``report`` in ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in OUTPUT_NAMES.items()}
    payloads = {
        "json": (json.dumps(report, indent=1) + "\n").encode(),
        "markdown": markdown(report).encode(),
        "chart": chart_png(report),
    }
    for kind, payload in payloads.items():
        with atomic_write(paths[kind], "wb") as f:
            f.write(payload)
    return paths
