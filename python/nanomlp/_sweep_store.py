"""A sweep's results on disk: rewritten whole after every finished run, read back to resume.

``results.json`` holds every record (with its history) and is what a resumed sweep reads;
``results.csv`` is the table, one row per run in the order of the grid. A record is reused
only when its settings, its data fingerprint and its nanomlp version all equal the run's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, json_default, write_json

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"


def fingerprint(data: Any) -> str:
    """A short hash of every array of the sweep's data: dtype, shape and bytes."""
    digest = hashlib.sha256()
    for array in _arrays(data):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()[:16]


def _arrays(data: Any) -> list[np.ndarray]:
    if isinstance(data, (tuple, list)):
        return [a for item in data for a in _arrays(item)]
    return [np.asarray(data)]


def plain(record: dict[str, Any], settings: Sequence[str]) -> dict[str, Any]:
    """``record`` as it reads back from JSON: NumPy scalars as Python numbers, and the
    settings' sequences as tuples, so a fresh record equals, and prints as, a reused one."""
    out = json.loads(json.dumps(record, default=json_default))
    for name in settings:
        if isinstance(out.get(name), list):
            out[name] = tuple(out[name])
    return out


def key(record: dict[str, Any], defaults: dict[str, Any]) -> str:
    """What identifies a run: its settings (defaults filled in), data fingerprint and version."""
    settings = {name: record.get(name, value) for name, value in defaults.items()}
    identity = {
        "settings": settings,
        "data_fingerprint": record.get("data_fingerprint"),
        "nanomlp_version": record.get("nanomlp_version"),
    }
    return json.dumps(identity, sort_keys=True, default=json_default)


def load(out: Path, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """The records a previous sweep left in ``out`` (none if it has no results yet)."""
    path = Path(out) / RESULTS_JSON
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        report = json.loads(text)
        records = list(report["records"]) + list(report.get("other_records", []))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"cannot resume from {path}: not the results of a sweep ({err}); move it away"
        ) from err
    return [plain(r, list(defaults)) for r in records if isinstance(r, dict)]


def save(
    out: Path,
    records: list[dict[str, Any]],
    others: list[dict[str, Any]],
    about: dict[str, Any],
) -> None:
    """Rewrite ``results.csv`` (the table of ``records``) and ``results.json`` (``about``, the
    records, and ``others``: earlier records of runs no longer in the grid, kept for a later
    resume), each atomically: a kill leaves the previous complete pair of files."""
    out = Path(out)
    with atomic_write(out / RESULTS_CSV, "w", encoding="utf-8") as f:
        f.write(table(records))
    report = {**about, "runs_finished": len(records), "records": records}
    if others:
        report["other_records"] = others
    write_json(out / RESULTS_JSON, report)


def table(records: list[dict[str, Any]]) -> str:
    """The records as CSV: every column any record has, in order of first appearance."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(k for k in record if k != "history"))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: (",".join(map(str, v)) if isinstance(v, (tuple, list)) else v)
                for k, v in record.items()
                if k != "history"
            }
        )
    return text.getvalue()
