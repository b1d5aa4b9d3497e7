"""The ``nanomlp`` command line: ``main(argv)`` runs it, ``build_parser()`` describes it."""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["main", "build_parser"]
