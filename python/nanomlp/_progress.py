"""One status line, redrawn in place on a terminal: the progress of a fit, a download, a sweep.

Off a terminal (a log file, a pipe) nothing can be redrawn, so only finished lines are
written there. A small module of our own rather than tqdm: the notebook's per-epoch lines
must interleave with the bar exactly, and the base package stays at two dependencies.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is an interactive terminal (False for closed or odd streams)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return callable(isatty) and bool(isatty())
    except (ValueError, OSError):  # a closed file
        return False


def bar(fraction: float, width: int = 30) -> str:
    """``[=========>          ]`` for a fraction in [0, 1]."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = int(round(fraction * width))
    arrow = ">" if 0 < filled < width else ""
    return "[" + "=" * max(filled - len(arrow), 0) + arrow + " " * (width - filled) + "]"


def duration(seconds: float) -> str:
    """``M:SS``, or ``H:MM:SS`` from an hour up."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{rest // 60}:{rest % 60:02d}"


def size(n_bytes: int) -> str:
    """A byte count the way a person reads it: ``812 B``, ``45 kB``, ``9.9 MB``."""
    if n_bytes >= 1e6:
        return f"{n_bytes / 1e6:.1f} MB"
    return f"{n_bytes / 1e3:.0f} kB" if n_bytes >= 1e3 else f"{n_bytes} B"


class StatusLine:
    """A line on ``stream`` (looked up at each write when None: ``sys.stderr`` or ``sys.stdout``).

    ``show(text)`` redraws the line, at most every ``min_interval`` seconds, and only on a
    terminal; ``clear()`` erases it; ``write(line)`` prints a finished line above it.
    """

    def __init__(
        self, stream: TextIO | None = None, *, to_stdout: bool = False, min_interval: float = 0.0
    ) -> None:
        self.stream = stream
        self.to_stdout = to_stdout
        self.min_interval = min_interval
        self.shown = False
        self._last = -float("inf")

    def out(self) -> TextIO:
        # Looked up at each write, so redirecting sys.stdout after construction works.
        if self.stream is not None:
            return self.stream
        return sys.stdout if self.to_stdout else sys.stderr

    def redraws(self) -> bool:
        return is_terminal(self.out())

    def show(self, text: str, force: bool = False) -> None:
        if not self.redraws():
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        out = self.out()
        out.write("\r\x1b[K" + text)
        out.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.out().write("\r\x1b[K")
            self.shown = False
        self.out().flush()

    def write(self, line: str) -> None:
        self.clear()
        out = self.out()
        out.write(line + "\n")
        out.flush()
