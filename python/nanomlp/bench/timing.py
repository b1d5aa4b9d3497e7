"""How the benchmark's sections time things that share a noisy machine: variants taking turns
within each repeat, ratios of runs made back to back, and the load the machine was under."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

from .config import Log, Split, spread

T = TypeVar("T")
# One timed epoch: (variant name, data, batch size, threads) -> seconds.
EpochFn = Callable[[str, Split, int, int], float]


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` started at ``shift`` (modulo their count): over the repeats each one runs in
    each position, so that nothing is always first after a pause or last in a warm cache."""
    k = shift % len(items)
    return [*items[k:], *items[:k]]


def paired_ratio(seconds: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of the per-repeat ratios ``seconds / baseline``: each ratio is of two runs
    made back to back, so a slow spell of a shared machine touches both of its terms."""
    return statistics.median(s / b for s, b in zip(seconds, baseline))


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, where the system tells them."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


@contextmanager
def library_threads(torch: Any | None, threads: int) -> Iterator[None]:
    """Inside: BLAS (threadpoolctl) and PyTorch, if given, on ``threads`` threads; PyTorch's
    own count is restored on the way out."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def interleaved_ratios(
    variants: Sequence[str],
    baseline: str,
    epoch_fn: EpochFn,
    split: Split,
    config: Any,
    log: Log,
    *,
    group: str,
    checked: Sequence[str],
    limit: float,
) -> list[dict[str, Any]]:
    """Per thread count and batch size of ``config``: each variant's epoch and its ratio to
    ``baseline``'s (``ratio_to_<baseline>``), the variants taking turns in every repeat.

    Parameters
    ----------
    variants : sequence of str
        The names ``epoch_fn`` takes, ``baseline`` among them.
    baseline : str
        The variant every ratio divides by.
    epoch_fn : callable
        ``epoch_fn(name, split, batch_size, threads)``: seconds of one epoch.
    split : Split
        The timed data; its first 512 rows warm every variant up first.
    config : object
        Its ``threads``, ``batch_sizes`` and ``repeats``.
    log : callable
        Receives one line per row.
    group : str
        The key of a row's per-variant timings (``"optimizers"``, ``"activations"``).
    checked, limit
        The variants whose ratio must stay at most ``limit``; those above it are listed in
        a row's ``target_missed``.

    Returns
    -------
    list of dict
        One row per (threads, batch size): ``batch_size``, ``threads``, ``images``,
        ``group`` (per variant: seconds, median, min, max, the paired ratio, the ratio of
        medians) and ``target_missed``.
    """
    ratio_key = f"ratio_to_{baseline}"
    warm = Split(split.x_train[:512], split.y_train[:512], split.x_test, split.y_test)
    rows = []
    for threads in config.threads:
        for name in variants:  # first calls, thread pools, allocations
            epoch_fn(name, warm, 32, threads)
        for batch_size in config.batch_sizes:
            seconds: dict[str, list[float]] = {name: [] for name in variants}
            for repeat in range(config.repeats):
                for name in rotated(variants, repeat):
                    seconds[name].append(epoch_fn(name, split, batch_size, threads))
            base = seconds[baseline]
            timed = {
                name: {
                    **spread(s),
                    ratio_key: paired_ratio(s, base),
                    "ratio_of_medians": statistics.median(s) / statistics.median(base),
                }
                for name, s in seconds.items()
            }
            in_target = [n for n in checked if n in timed]
            rows.append(
                {
                    "batch_size": batch_size,
                    "threads": threads,
                    "images": len(split.x_train),
                    group: timed,
                    "target_missed": [n for n in in_target if timed[n][ratio_key] > limit],
                }
            )
            log(
                f"epoch batch {batch_size:>3} threads {threads}: "
                + ", ".join(
                    f"{name} {t['median_s']:.3f}s ({t[ratio_key]:.2f}x)"
                    for name, t in timed.items()
                )
            )
    return rows
