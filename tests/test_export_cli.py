"""``nanomlp export`` and ``nanomlp import``: the files they write, and their refusals."""

from __future__ import annotations

import pickle

import numpy as np
import onnxruntime as ort
import pytest
import safetensors.torch
import torch
from torch import nn

from nanomlp import MLP, Trainer
from nanomlp.cli import main


@pytest.fixture()
def saved(tmp_path):
    model = MLP((784, 16, 10), activation="gelu", init="torch", seed=5)
    model.save(tmp_path / "model.npz")
    return model, tmp_path


def test_export_onnx_and_safetensors(saved, mnist, capsys):
    model, tmp = saved
    _, (x_test, _) = mnist
    assert (
        main(["export", str(tmp / "model.npz"), "--format", "onnx", "-o", str(tmp / "m.onnx")]) == 0
    )
    assert "Wrote" in capsys.readouterr().out
    out = ort.InferenceSession(str(tmp / "m.onnx")).run(["output"], {"input": x_test[:1000]})[0]
    assert np.abs(out - Trainer(model).predict_proba(x_test[:1000])).max() <= 1e-5
    args = ["export", str(tmp / "model.npz"), "--format", "onnx", "--logits", "--opset", "18"]
    assert main([*args, "-o", str(tmp / "logits.onnx")]) == 0
    logits = ort.InferenceSession(str(tmp / "logits.onnx")).run(None, {"input": x_test[:10]})[0]
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), out[:10], atol=1e-5)
    args = [
        "export",
        str(tmp / "model.npz"),
        "--format",
        "safetensors",
        "-o",
        str(tmp / "m.safetensors"),
    ]
    assert main(args) == 0
    assert MLP.load(tmp / "m.safetensors").params.tobytes() == model.params.tobytes()


def test_export_errors(saved, capsys):
    _, tmp = saved
    assert (
        main(["export", str(tmp / "none.npz"), "--format", "onnx", "-o", str(tmp / "m.onnx")]) == 1
    )
    assert "no such model file" in capsys.readouterr().err
    bad = ["export", str(tmp / "model.npz"), "--format", "onnx", "-o", str(tmp / "no" / "m.onnx")]
    assert main(bad) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["export", str(tmp / "model.npz"), "--format", "safetensors", "--logits", "-o", "x"])
    assert stop.value.code == 2
    with pytest.raises(SystemExit) as stop:
        main(["export", str(tmp / "model.npz"), "--format", "onnx", "--opset", "9", "-o", "x"])
    assert stop.value.code == 2


def test_import_safetensors_and_state_dict(tmp_path, capsys):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    safetensors.torch.save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    x = np.random.RandomState(0).rand(8, 6).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(net(torch.tensor(x)), 1).numpy()
    for name in ("w.safetensors", "w.pt"):
        args = [
            "import",
            str(tmp_path / name),
            "--activation",
            "tanh",
            "-o",
            str(tmp_path / "m.npz"),
        ]
        assert main(args) == 0
        model = MLP.load(tmp_path / "m.npz")
        assert model.activations == ("tanh",)
        assert np.abs(Trainer(model).predict_proba(x) - expected).max() <= 1e-6
    assert main(["import", str(tmp_path / "w.pt"), "-o", str(tmp_path / "m.npz")]) == 1
    assert "--activation" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "w.safetensors"), "-o", str(tmp_path / "m.npz")]) == 1
    assert "activation" in capsys.readouterr().err


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_import_never_unpickles(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "est.pkl").write_bytes(pickle.dumps(_Boom()))
    assert main(["import", "est.pkl", "-o", "m.npz"]) == 1
    assert "unpickling runs code" in capsys.readouterr().err
    # A .pt file holding more than tensors is refused by torch.load(weights_only=True).
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Boom()))
    assert main(["import", "evil.pt", "--activation", "relu", "-o", "m.npz"]) == 1
    assert "not a PyTorch state_dict" in capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "m.npz").exists()
    (tmp_path / "w.onnx").write_bytes(b"")
    with pytest.raises(SystemExit):
        main(["import", "w.onnx", "-o", "m.npz"])
