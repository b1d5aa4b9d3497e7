"""``python -m nanomlp``: the ``nanomlp`` command."""

import sys

from .cli import main

sys.exit(main())
