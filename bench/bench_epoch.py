"""Native vs NumPy vs PyTorch, one epoch: ``python bench/bench_epoch.py --help``.

The benchmark lives in the package (``nanomlp.bench``) so that ``nanomlp bench`` runs it
from an installed copy too.
"""

import sys

from nanomlp.bench import main

if __name__ == "__main__":
    sys.exit(main())
