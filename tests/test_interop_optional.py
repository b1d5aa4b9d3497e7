"""The optional packages stay optional, and the interop modules' examples run as written."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
import textwrap

import pytest

MODULES = [
    "nanomlp.model",
    "nanomlp.loggers",
    "nanomlp.interop.onnx",
    "nanomlp.interop.safetensors",
    "nanomlp.interop.torch",
    "nanomlp.interop.sklearn",
    "nanomlp.estimator._base",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_base_package_without_the_extras(tmp_path):
    # In a fresh interpreter where none of the optional packages can be imported.
    code = textwrap.dedent(
        """
        import sys
        for name in ("onnx", "onnxruntime", "safetensors", "safetensors.numpy", "tensorboardX",
                     "torch", "torch.nn", "sklearn"):
            sys.modules[name] = None
        import numpy as np
        import nanomlp
        from nanomlp import MLP, Trainer, CSVLogger, TensorBoard
        from nanomlp.interop import onnx, safetensors, sklearn, torch
        model = MLP((4, 3, 2))
        model.save("m.npz")
        calls = {
            "onnx": lambda: model.to_onnx("m.onnx"),
            "safetensors": lambda: model.save("m.safetensors"),
            "sklearn": model.to_sklearn,
            "torch": lambda: torch.to_torch(model),
            "tensorboard": lambda: Trainer(model, epochs=1).fit(
                np.zeros((4, 4), np.float32), np.arange(4) % 2, callbacks=[TensorBoard("tb")]
            ),
        }
        for extra, call in calls.items():
            try:
                call()
            except ImportError as err:
                assert f'nanomlp[{extra}]' in str(err), err
            else:
                raise AssertionError(extra + " did not raise")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
