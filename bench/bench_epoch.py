"""Native vs NumPy vs PyTorch, one epoch: ``python bench/bench_epoch.py --help``.

The benchmark lives in the package (``nanomlp.benchmark``) so that ``nanomlp bench`` runs it
from an installed copy too.
"""
import sys

from nanomlp.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
