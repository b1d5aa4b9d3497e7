"""Every public name has a numpydoc docstring, and every docstring example runs.

The public API is ``nanomlp.__all__`` and the ``__all__`` of the public submodules below, plus
the public methods of the main classes. Each function, method and class needs a summary, a
Parameters section naming every parameter of its signature, Returns (or Yields) unless it
returns None, Raises, and an Examples section with at least one ``>>>`` line; exception
classes need only a summary and Examples. The examples are then run as doctests, so the
output printed in the documentation is what the code prints.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import re
from pathlib import Path
from typing import Any

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

# The public submodules: docs/api.rst documents exactly these (checked below).
PUBLIC_MODULES = (
    "nanomlp",
    "nanomlp.optim",
    "nanomlp.schedules",
    "nanomlp.callbacks",
    "nanomlp.losses",
    "nanomlp.datasets",
    "nanomlp.plotting",
    "nanomlp.sweep",
    "nanomlp.estimator",
    "nanomlp.dropout",
    "nanomlp.clipping",
    "nanomlp.weighting",
)
# Classes whose public methods are documented one by one, as scikit-learn's are.
MAIN_CLASSES = ("MLP", "Trainer", "MLPClassifier", "MLPRegressor")

REPO = Path(__file__).resolve().parents[1]


def _public_objects() -> dict[str, Any]:
    """Qualified name -> function or class, each object once (under its first public name)."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert hasattr(module, "__all__"), f"{module_name} has no __all__"
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            found[f"{module_name}.{name}"] = obj
            if name in MAIN_CLASSES:
                # The methods nanomlp defines, inherited ones included (fit of the estimators'
                # base), not those of scikit-learn's mixins.
                for method_name, method in inspect.getmembers(obj, inspect.isroutine):
                    method = getattr(method, "__func__", method)
                    defined_in = getattr(method, "__module__", "") or ""
                    if not method_name.startswith("_") and defined_in.startswith("nanomlp"):
                        found[f"{module_name}.{name}.{method_name}"] = method
    return found


PUBLIC = _public_objects()


def _parameters(obj: Any) -> list[str]:
    func = obj.__init__ if inspect.isclass(obj) else obj
    if func is object.__init__:  # a class without an __init__ of its own takes nothing
        return []
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a C or builtin __init__: nothing to document
        return []
    names = [
        ("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + p.name
        for p in signature.parameters.values()
    ]
    return [n for n in names if n not in ("self", "cls")]


def _documented(section: list[Any]) -> set[str]:
    names: set[str] = set()
    for item in section:
        names.update(n.strip().lstrip("*") for n in item.name.split(","))
    return names


def docstring_problems(name: str, obj: Any) -> list[str]:
    """What the docstring of ``obj`` lacks, as short phrases (empty when it is complete)."""
    if not inspect.getdoc(obj):
        return ["no docstring"]
    is_class = inspect.isclass(obj)
    doc = ClassDoc(obj, config={"show_class_members": False}) if is_class else FunctionDoc(obj)
    problems = []
    if not doc["Summary"]:
        problems.append("no summary line")
    examples = "\n".join(doc["Examples"])
    if ">>>" not in examples:
        problems.append("no Examples with >>>")
    if is_class and issubclass(obj, BaseException):
        return problems
    parameters = [p.lstrip("*") for p in _parameters(obj)]
    if parameters:
        missing = [p for p in parameters if p not in _documented(doc["Parameters"])]
        if not doc["Parameters"]:
            problems.append("no Parameters")
        elif missing:
            problems.append(f"Parameters lacks {', '.join(missing)}")
        if not doc["Raises"]:
            problems.append("no Raises")
    if not is_class:
        returns = inspect.signature(obj).return_annotation
        if returns not in (None, "None") and not (doc["Returns"] or doc["Yields"]):
            problems.append("no Returns")
    return problems


def test_public_api_is_found():
    # A guard against a discovery that silently finds nothing.
    assert "nanomlp.MLP" in PUBLIC and "nanomlp.Trainer.fit" in PUBLIC
    assert "nanomlp.MLPClassifier.predict_proba" in PUBLIC
    assert len(PUBLIC) > 60


def test_every_public_name_has_a_numpydoc_docstring():
    offenders = {name: p for name, obj in PUBLIC.items() if (p := docstring_problems(name, obj))}
    listing = "\n".join(f"  {name}: {'; '.join(p)}" for name, p in sorted(offenders.items()))
    assert not offenders, f"{len(offenders)} public names lack numpydoc sections:\n{listing}"


def test_the_checker_finds_a_bare_docstring():
    def bare(x: int) -> int:
        """Double x."""
        return 2 * x

    assert docstring_problems("bare", bare) == [
        "no Examples with >>>",
        "no Parameters",
        "no Raises",
        "no Returns",
    ]


def test_the_api_reference_documents_every_public_module():
    api = (REPO / "docs" / "api.rst").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. (?:auto|current)module:: (\S+)", api, re.M))
    assert documented == set(PUBLIC_MODULES)
    listed = set(re.findall(r"^   (\w+)$", api, re.M)) | set(re.findall(r"`nanomlp\.(\w+) <", api))
    names = {name.split(".")[-1] for name in PUBLIC if name.split(".")[-2] not in MAIN_CLASSES}
    assert names <= listed, f"missing from docs/api.rst: {sorted(names - listed)}"


def _modules_with_examples() -> list[str]:
    # Doctest finds the docstrings of the objects a module defines: the modules to run are
    # those where the public objects are defined, and the public modules themselves.
    names = set(PUBLIC_MODULES)
    names.update(obj.__module__ for obj in PUBLIC.values())
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")  # the plotting examples draw figures, never shown
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    tests = [t for t in finder.find(module, module_name) if t.examples]
    for test in tests:
        runner.run(test, out=out.write)
    plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
