"""The workload of the benchmark's memory figure, run in a fresh process so that its peak
memory is this fit's alone: ``python -m nanomlp.bench.memory [DATA]`` loads MNIST, trains the
notebook's network for the notebook's epochs, and prints one JSON line."""

from __future__ import annotations

import json
import sys

from nanomlp import MLP, Trainer, _defaults
from nanomlp.datasets import load_mnist


def peak_rss_kb() -> int:
    """This process's peak resident memory in kB (Linux).

    VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak across fork and exec
    into ru_maxrss, while VmHWM is this process's own memory's high-water mark.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    return int(hwm.split()[1])


def main(argv: list[str]) -> dict[str, int]:
    """Fit as the notebook does; the bytes of the loaded arrays and the peak RSS."""
    (x, y), (x_test, y_test) = load_mnist(argv[0] if argv and argv[0] else None)
    inputs = sum(a.nbytes for a in (x, y, x_test, y_test))
    val = _defaults.VAL_SIZE
    Trainer(MLP(seed=_defaults.SEED), epochs=_defaults.EPOCHS).fit(
        x[:-val], y[:-val], validation_data=(x[-val:], y[-val:])
    )
    return {"inputs": inputs, "max_rss_kb": peak_rss_kb()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
