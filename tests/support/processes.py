"""Killing a child process at the worst moment: while it writes a file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def _writing(folder: Path) -> bool:
    """Whether a temporary file beside the checkpoint already holds bytes."""
    for p in folder.iterdir():
        try:
            if p.name.endswith(".tmp") and p.stat().st_size > 0:
                return True
        except FileNotFoundError:  # renamed into place between listing and stat
            pass
    return False


def kill_while_saving(proc: subprocess.Popen, folder: Path, saves: int, seconds: float) -> None:
    """SIGKILL ``proc`` once it has printed ``saves`` lines (one per finished save) and a
    temporary file in ``folder`` is being filled: the next save is under way."""
    try:
        for _ in range(saves):
            assert proc.stdout.readline(), "the process ended before it was killed"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not _writing(folder):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
