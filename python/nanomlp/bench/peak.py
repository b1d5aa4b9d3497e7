"""The GEMM peak measured in a fresh process, so that the environment chooses OpenBLAS's
kernel: ``OPENBLAS_CORETYPE=Haswell python -m nanomlp.bench.peak SIZE THREADS REPEATS``
prints one JSON line, ``gemm_peak``'s record and the BLAS libraries threadpoolctl saw."""

from __future__ import annotations

import json
import sys
from typing import Any


def main(argv: list[str]) -> dict[str, Any]:
    """``gemm_peak(size, threads, repeats)`` and the BLAS it ran on."""
    from threadpoolctl import threadpool_info

    from .machine import gemm_peak

    size, threads, repeats = (int(a) for a in argv[:3])
    peak = gemm_peak(size, threads, repeats)
    blas = [
        {k: lib.get(k) for k in ("internal_api", "architecture", "version")}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    return {**peak, "blas": blas}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
