"""ONNX export: onnxruntime's outputs on real MNIST rows against the engine's, every activation
and every output; the graph's checks, its pinned opset and IR version, and bad input."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nanomlp import MLP, Trainer
from nanomlp._activations import ACTIVATIONS
from nanomlp.interop.onnx import INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, build_onnx, to_onnx
from nanomlp.losses import LOSSES

# (loss, outputs): softmax over 10 classes, 2 sigmoid labels, 3 regression values.
OUTPUTS = {"cross_entropy": 10, "binary_cross_entropy": 2, "mse": 3, "huber": 3}


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    assert [o.name for o in session.get_outputs()] == [OUTPUT_NAME]
    return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def _engine_outputs(model, x):
    trainer = Trainer(model)
    return (
        trainer.predict(x).reshape(len(x), -1)
        if model.loss in ("mse", "huber")
        else (trainer.predict_proba(x))
    )


@pytest.fixture(scope="module")
def rows(mnist):
    _, (x_test, _) = mnist
    return np.ascontiguousarray(x_test[:2000])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnxruntime_equals_predict_proba(tmp_path, rows, activation, loss):
    model = MLP(
        (784, 32, 16, OUTPUTS[loss]), activation=activation, loss=loss, init="torch", seed=3
    )
    path = tmp_path / "model.onnx"
    model.to_onnx(path)
    out = _run(path, rows)
    expected = _engine_outputs(model, rows)
    assert out.shape == expected.shape == (len(rows), OUTPUTS[loss])
    assert np.abs(out - expected).max() <= 1e-5
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def test_trained_model_equals_on_the_whole_test_set(tmp_path, mnist):
    (x_train, y_train), (x_test, _) = mnist
    model = MLP((784, 64, 10), activation="gelu", seed=0)
    Trainer(model, optimizer="adam", epochs=1, batch_size=128).fit(x_train[:10000], y_train[:10000])
    model.to_onnx(tmp_path / "m.onnx")
    diff = np.abs(_run(tmp_path / "m.onnx", x_test) - Trainer(model).predict_proba(x_test)).max()
    assert diff <= 1e-5


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_logits_option(tmp_path, rows, loss):
    model = MLP((784, 16, 4), loss=loss, init="torch", seed=1)
    model.to_onnx(tmp_path / "logits.onnx", probabilities=False)
    logits = _run(tmp_path / "logits.onnx", rows[:50])
    h = np.maximum(rows[:50] @ model.weights[0] + model.biases[0], 0)
    assert np.allclose(logits, h @ model.weights[1] + model.biases[1], atol=1e-5)
    proto = onnx.load(str(tmp_path / "logits.onnx"))
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert {p.key: p.value for p in proto.metadata_props}["output"] == "logits"


def test_graph_structure_opset_ir_and_dynamic_batch(tmp_path, rows):
    model = MLP((784, 8, 10), seed=0)
    to_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert (OPSET, IR_VERSION) == (17, 8)
    assert proto.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET)]
    gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
    assert [a.i for n in gemms for a in n.attribute if a.name == "transB"] == [1, 1]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert np.array_equal(weights["0.weight_1"], model.weights[0].T)  # [out, in]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 784
    for n in (1, 7, 333):
        assert _run(tmp_path / "m.onnx", rows[:n]).shape == (n, 10)


def test_other_opset_and_float64_model(tmp_path, rows):
    model = MLP((784, 8, 3), dtype="float64", activation="gelu_tanh", init="torch", seed=2)
    model.to_onnx(tmp_path / "m.onnx", opset=19)
    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == 19
    expected = Trainer(model, backend="numpy").predict_proba(rows[:100].astype(np.float64))
    assert np.abs(_run(tmp_path / "m.onnx", rows[:100]) - expected).max() <= 1e-5


def test_bad_arguments(tmp_path):
    model = MLP((4, 3, 2))
    with pytest.raises(ValueError, match="opset must be >= 13"):
        model.to_onnx(tmp_path / "m.onnx", opset=12)
    with pytest.raises(ValueError, match="opset must be at most"):
        model.to_onnx(tmp_path / "m.onnx", opset=10_000)
    with pytest.raises(TypeError, match="opset must be an integer"):
        model.to_onnx(tmp_path / "m.onnx", opset="17")
    with pytest.raises(TypeError, match="probabilities"):
        model.to_onnx(tmp_path / "m.onnx", probabilities="yes")
    with pytest.raises(TypeError, match="path must be"):
        model.to_onnx(3)
    with pytest.raises(ValueError, match="does not exist"):
        model.to_onnx(tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match="is a folder"):
        model.to_onnx(tmp_path)
    assert os.listdir(tmp_path) == []


def test_unwritable_target_and_atomic_write(tmp_path):
    model = MLP((4, 3, 2), seed=0)
    # /proc accepts no new files, whoever runs the test (root included).
    with pytest.raises(OSError, match="cannot write /proc/model.onnx"):
        model.to_onnx("/proc/model.onnx")
    path = tmp_path / "m.onnx"
    model.to_onnx(path)
    before = path.read_bytes()
    model.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.to_onnx(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_without_onnx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"nanomlp\[onnx\]"):
        MLP((4, 3, 2)).to_onnx(tmp_path / "m.onnx")
    model = build_onnx  # the module itself imported fine without onnx
    assert callable(model)
