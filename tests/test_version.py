"""The version: set once, in pyproject.toml, and the same wherever it shows."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import nanomlp
from nanomlp import _core

ROOT = Path(__file__).resolve().parent.parent


def declared_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert match, "pyproject.toml declares no version"
    return match.group(1)


def test_every_version_is_pyproject_s() -> None:
    # The extension's (passed by the build), the package's and the installed metadata's.
    assert nanomlp.__version__ == _core.__version__ == version("nanomlp") == declared_version()


def test_the_changelog_has_a_section_for_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(declared_version())}\]", changelog, re.MULTILINE)
