"""Sphinx configuration of nanomlp's documentation site.

Build: ``pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html``. The build
needs no network: no intersphinx, the theme's assets are in its package, the datasets are read
offline (``NANOMLP_OFFLINE=1``) and the gallery reads MNIST from ``$NANOMLP_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nanomlp

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

# The gallery's examples run during the build: they read MNIST from NANOMLP_DATA (by default
# the shared copy beside the repository, as the tests do) and must never download anything.
os.environ.setdefault("NANOMLP_DATA", str(REPO.parent / "shared" / "data" / "mnist"))
os.environ["NANOMLP_OFFLINE"] = "1"
os.environ["MPLBACKEND"] = "Agg"

project = "nanomlp"
author = "the nanomlp developers"
copyright = "nanomlp developers"
release = nanomlp.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "**.md5", "**.py", "**.zip"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters say the types
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_validation_checks: set[str] = set()  # tests/test_docstrings.py checks the sections

# No intersphinx: the build must not fetch inventories.

html_theme = "pydata_sphinx_theme"
html_title = f"nanomlp {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # Every plot_*.py runs (and its figures are captured) on every build.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "show_memory": False,
    "reference_url": {"nanomlp": None},
}


def _benchmark_pages(app: object) -> None:
    """One page per ``bench/results/*.md``, including it (and its figure, if any) whole.

    Written at every build, so a new result file gets its page without editing the docs.
    """
    out = DOCS / "benchmarks"
    out.mkdir(exist_ok=True)
    for md in sorted((REPO / "bench" / "results").glob("*.md")):
        text = f"```{{include}} ../../bench/results/{md.name}\n```\n"
        png = md.with_suffix(".png")
        if png.exists():
            text += f"\n![{md.stem}](../../bench/results/{png.name})\n"
        target = out / md.name
        # Rewritten only when changed, so an incremental build does not reread every page.
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def setup(app: object) -> None:
    app.connect("builder-inited", _benchmark_pages)
