"""The benchmark's report as files: the JSON record, a Markdown table, a PNG chart."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from .config import BACKEND_LABELS, OUTPUT_NAMES
from .machine import openblas_kernel
from .run import thread_scaling


def _spread(record: dict[str, Any], case: str) -> str:
    if case == "epoch":
        return f"{record['median_s']:.3g} s ({record['min_s']:.3g}–{record['max_s']:.3g})"
    images = record["images"]
    return (
        f"{images / record['median_s'] / 1e3:,.0f}k "
        f"({images / record['max_s'] / 1e3:,.0f}–{images / record['min_s'] / 1e3:,.0f})"
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
        f"torch {versions['torch'] or 'not installed'}; BLAS: OpenBLAS {openblas_kernel(report['blas'])}.",
        f"- Environment: OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or '(unset)'}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE'] or '(unset)'}.",
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
        "- Peak: float32 {n}×{n} GEMM through NumPy: {peaks}.".format(
            n=report["config"]["gemm_size"],
            peaks=", ".join(
                f"{t} thread(s) {p['gflops_median']:.1f} GFLOP/s" for t, p in report["peak"].items()
            ),
        ),
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
    scaling = thread_scaling(report["results"])
    if scaling:
        lines += [
            "",
            "Native thread scaling (median time on 1 thread / on N threads): "
            + "; ".join(
                f"{r['case']}{' batch ' + str(r['batch_size']) if r['batch_size'] else ''} "
                f"×{r['speedup']:.2f} on {r['threads']}"
                for r in scaling
            )
            + ".",
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
