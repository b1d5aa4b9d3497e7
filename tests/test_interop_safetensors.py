"""safetensors under PyTorch's names: bit-exact round trips, a real torch.nn.Sequential loading
the file, and hostile files refused with a ValueError naming them."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from nanomlp import MLP, Trainer
from nanomlp._activations import ACTIVATIONS
from nanomlp.interop.safetensors import load_safetensors, save_safetensors
from nanomlp.interop.torch import to_torch
from nanomlp.losses import LOSSES


def _header(path):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def _write(path, header, body):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_round_trip_is_bit_exact(tmp_path, activation, loss):
    model = MLP((6, 5, 4, 3), activation=activation, loss=loss, negative_slope=0.2, init="torch")
    model.save(tmp_path / "m.safetensors")
    back = MLP.load(tmp_path / "m.safetensors")
    assert back.params.tobytes() == model.params.tobytes()
    assert (back.layer_sizes, back.activations, back.loss) == (
        model.layer_sizes,
        model.activations,
        model.loss,
    )
    assert back.negative_slope == 0.2 and back.dtype == model.dtype


def test_names_shapes_and_metadata(tmp_path):
    model = MLP((6, 5, 4, 3), activation=["identity", "gelu"], dtype="float64", seed=0)
    save_safetensors(model, tmp_path / "m.safetensors")
    header, _ = _header(tmp_path / "m.safetensors")
    meta = header.pop("__metadata__")
    assert {k: (v["dtype"], v["shape"]) for k, v in header.items()} == {
        "0.weight": ("F64", [5, 6]),
        "0.bias": ("F64", [5]),
        "2.weight": ("F64", [4, 5]),
        "2.bias": ("F64", [4]),
        "4.weight": ("F64", [3, 4]),
        "4.bias": ("F64", [3]),
    }
    assert json.loads(meta["layer_sizes"]) == [6, 5, 4, 3]
    assert json.loads(meta["activations"]) == ["identity", "gelu"]
    assert meta["output"] == "softmax" and meta["loss"] == "cross_entropy"
    assert meta["nanomlp_version"]
    tensors = safetensors.numpy.load_file(str(tmp_path / "m.safetensors"))
    assert np.array_equal(tensors["2.weight"], model.weights[1].T)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_sequential_loads_the_file_and_agrees(tmp_path, mnist, activation):
    _, (x_test, _) = mnist
    model = MLP((784, 32, 16, 10), activation=activation, init="torch", seed=4)
    model.save(tmp_path / "m.safetensors")
    net = to_torch(MLP((784, 32, 16, 10), activation=activation, seed=9), probabilities=True)
    net.load_state_dict(safetensors.torch.load_file(str(tmp_path / "m.safetensors")))
    with torch.no_grad():
        out = net(torch.tensor(x_test[:2000])).numpy()
    assert np.abs(out - Trainer(model).predict_proba(x_test[:2000])).max() <= 1e-5


def test_file_saved_by_torch_needs_the_activation(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(3, 2)
    )
    safetensors.torch.save_file(net.state_dict(), str(tmp_path / "t.safetensors"))
    with pytest.raises(ValueError, match="no nanomlp metadata.*activation"):
        MLP.load(tmp_path / "t.safetensors")
    model = load_safetensors(tmp_path / "t.safetensors", activation="tanh", loss="mse")
    assert model.layer_sizes == (4, 3, 2) and model.loss == "mse"
    assert np.array_equal(model.weights[1], net[3].weight.detach().numpy().T)


def _saved(tmp_path):
    path = tmp_path / "m.safetensors"
    MLP((6, 5, 3), seed=0).save(path)
    return path


def test_truncated_file(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (0, 5, 8, 40, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=str(path)):
            MLP.load(path)


def test_header_lying_about_offsets_or_shapes(tmp_path):
    path = _saved(tmp_path)
    header, body = _header(path)
    lies = []
    h = json.loads(json.dumps(header))
    h["0.weight"]["data_offsets"][1] += 4  # overlaps the next tensor
    lies.append(h)
    h = json.loads(json.dumps(header))
    h["2.bias"]["data_offsets"] = [0, 10**12]  # beyond the file
    lies.append(h)
    h = json.loads(json.dumps(header))
    h["0.weight"]["shape"] = [5, 7]  # more values than its bytes
    lies.append(h)
    h = json.loads(json.dumps(header))
    h["0.weight"]["shape"], h["0.bias"]["shape"] = [6, 5], [6]  # consistent bytes, wrong chain
    h["0.weight"]["data_offsets"] = header["0.weight"]["data_offsets"]
    lies.append(h)
    h = json.loads(json.dumps(header))
    h["__metadata__"]["layer_sizes"] = "[6, 4, 3]"
    lies.append(h)
    for lie in lies:
        _write(path, lie, body)
        with pytest.raises(ValueError, match=str(path)):
            MLP.load(path)


def test_header_that_is_not_json_or_too_long(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{]" + b"\0" * 16)
    with pytest.raises(ValueError, match="not JSON"):
        MLP.load(path)
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(ValueError, match="truncated"):
        MLP.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop("2.bias"), "'2.bias' is missing"),
        (lambda t: t.update({"extra": np.zeros(3, np.float32)}), "unexpected tensors extra"),
        (lambda t: t.update({"4.weight": np.zeros((3, 3), np.float32)}), "'4.bias' is missing"),
        (lambda t: t.update({"0.bias": t["0.bias"].astype(np.float16)}), "float16"),
        (lambda t: t.update({"0.bias": t["0.bias"].astype(np.int32)}), "int32"),
        (lambda t: t.update({"0.bias": t["0.bias"].astype(np.float64)}), "mix float32"),
        (lambda t: t["2.weight"].__setitem__((0, 0), np.inf), "NaN or infinity"),
        (lambda t: t["0.bias"].__setitem__(1, np.nan), "NaN or infinity"),
    ],
)
def test_missing_extra_wrong_dtype_or_non_finite_tensors(tmp_path, change, message):
    path = _saved(tmp_path)
    header, _ = _header(path)
    tensors = {k: v.copy() for k, v in safetensors.numpy.load_file(str(path)).items()}
    change(tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=header["__metadata__"]))
    with pytest.raises(ValueError, match=message):
        MLP.load(path)


def test_missing_file_and_not_safetensors(tmp_path):
    with pytest.raises(FileNotFoundError):
        MLP.load(tmp_path / "none.safetensors")
    npz = tmp_path / "m.npz"
    MLP((4, 3, 2)).save(npz)
    (tmp_path / "m.safetensors").write_bytes(npz.read_bytes())
    with pytest.raises(ValueError, match="m.safetensors"):
        MLP.load(tmp_path / "m.safetensors")


def test_saving_is_atomic_and_refuses_non_finite(tmp_path):
    path = _saved(tmp_path)
    before = path.read_bytes()
    model = MLP((6, 5, 3), seed=1)
    model.params[3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.save(path)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="does not exist"):
        MLP((4, 3, 2)).save(tmp_path / "missing" / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_without_safetensors_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"nanomlp\[safetensors\]"):
        MLP((4, 3, 2)).save(tmp_path / "m.safetensors")
    MLP((4, 3, 2)).save(tmp_path / "m.npz")  # the .npz needs nothing more
