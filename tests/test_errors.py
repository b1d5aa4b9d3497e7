"""Bad input: a clear exception naming the argument, raised before the engine; never a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nanomlp import MLP, Trainer, _core

X = np.random.RandomState(0).rand(40, 784).astype(np.float32)
Y = np.arange(40) % 10


def fit(x=X, y=Y, **kwargs):
    return Trainer(MLP((784, 8, 10), seed=0), epochs=1).fit(x, y, **kwargs)


@pytest.mark.parametrize(
    "x, y, error, words",
    [
        (X[:, :783], Y, ValueError, ["x", "784"]),
        (X[0], Y[:1], ValueError, ["x", "shape"]),
        (X[:0], Y[:0], ValueError, ["x", "at least one row"]),
        (X, Y[:39], ValueError, ["y", "40"]),
        (X, np.where(Y == 3, 10, Y), ValueError, ["y[3]", "[0, 10)"]),
        (X, np.where(Y == 3, -1, Y), ValueError, ["y[3]", "[0, 10)"]),
        (X, Y.astype(np.float64), TypeError, ["y", "integer"]),
        (X, np.eye(10)[Y] * 0.5, ValueError, ["y", "one-hot"]),
        (X, np.eye(9)[Y % 9], ValueError, ["y", "(40, 10)"]),
        (np.where(X > 0.5, np.nan, X), Y, ValueError, ["x", "NaN"]),
        (np.where(X > 0.5, np.inf, X), Y, ValueError, ["x", "infinity"]),
        (X.astype(np.float64) * 1e39, Y, ValueError, ["x", "float32"]),
        (X.astype(np.complex64), Y, TypeError, ["x", "complex"]),
        (X.astype(bool), Y, TypeError, ["x", "bool"]),
        (X.astype(object), Y, TypeError, ["x", "object"]),
        (np.array([["a"] * 784] * 40), Y, TypeError, ["x", "<U1"]),
    ],
)
def test_fit_refuses_bad_data(x, y, error, words):
    with pytest.raises(error) as info:
        fit(x, y)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, np.float32(np.nan) * -1])
@pytest.mark.parametrize("row, col", [(0, 0), (17, 783), (39, 400)])
@pytest.mark.parametrize("layout", ["float32", "float64", "fortran"])
def test_the_first_nonfinite_row_is_named_for_any_layout(value, row, col, layout):
    x = X.copy()
    x[row, col] = value
    x[min(row + 3, 39), 5] = value  # a later bad row is not the one named
    x = {
        "float32": x,
        "float64": x.astype(np.float64),
        "fortran": np.asfortranarray(x),
    }[layout]
    trainer = Trainer(MLP((784, 8, 10), seed=0))
    with pytest.raises(ValueError, match=rf"x must be finite in float32; row {row} "):
        trainer.predict_proba(x)
    assert _core.first_nonfinite_row(np.ascontiguousarray(x, dtype=np.float32)) == row
    assert _core.first_nonfinite_row(X) == -1
    # The largest and smallest finite floats are finite.
    edge = X.copy()
    edge[row] = np.finfo(np.float32).max
    edge[0, :3] = [np.finfo(np.float32).min, np.finfo(np.float32).tiny / 2, -0.0]
    assert _core.first_nonfinite_row(edge) == -1


def test_validation_data_is_checked_and_named():
    with pytest.raises(ValueError, match=r"validation_data\[0\]"):
        fit(validation_data=(X[:, :10], Y))
    with pytest.raises(ValueError, match=r"validation_data\[1\]"):
        fit(validation_data=(X, Y + 10))
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        fit(validation_data=X)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -3}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -0.1}, ValueError, "lr"),
        ({"lr": math.nan}, ValueError, "lr"),
        ({"lr": math.inf}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"backend": "cuda"}, ValueError, "backend"),
    ],
)
def test_trainer_refuses_bad_hyperparameters(kwargs, error, name):
    with pytest.raises(error, match=name):
        Trainer(MLP((784, 8, 10)), **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"layer_sizes": (784, 0, 10)}, ValueError, r"layer_sizes\[1\]"),
        ({"layer_sizes": (784, -5, 10)}, ValueError, r"layer_sizes\[1\]"),
        ({"layer_sizes": (784,)}, ValueError, "layer_sizes"),
        ({"layer_sizes": (784, 12.0, 10)}, TypeError, r"layer_sizes\[1\]"),
        ({"layer_sizes": "784"}, TypeError, "layer_sizes"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**32}, ValueError, "seed"),
        ({"seed": "42"}, TypeError, "seed"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"dtype": "nonsense"}, TypeError, "dtype"),
    ],
)
def test_mlp_refuses_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        MLP(**kwargs)


def test_native_backend_needs_float32_model():
    with pytest.raises(ValueError, match="float32"):
        Trainer(MLP((784, 8, 10), dtype="float64"), backend="native")


def test_conversions_are_explicit_and_correct():
    """Documented conversions: any real dtype, any layout becomes C-contiguous float32."""
    model = MLP((784, 8, 10), seed=0)
    trainer = Trainer(model, epochs=0)
    expected = trainer.predict_proba(X)
    fortran = np.asfortranarray(X.astype(np.float64))
    strided = np.repeat(X, 2, axis=0)[::2]
    assert not strided.flags.c_contiguous
    for variant in (fortran, strided, X.tolist()):
        np.testing.assert_array_equal(trainer.predict_proba(variant), expected)
    images = (X * 255).astype(np.uint8)
    assert trainer.predict_proba(images).shape == (40, 10)
    np.testing.assert_array_equal(trainer.predict(X), expected.argmax(axis=1))
    assert trainer.evaluate(X, np.eye(10)[Y]) == trainer.evaluate(X, Y)


def test_batch_larger_than_the_data_is_one_batch():
    model_a, model_b = MLP((784, 8, 10), seed=0), MLP((784, 8, 10), seed=0)
    Trainer(model_a, batch_size=10**9, epochs=1).fit(X, Y)
    Trainer(model_b, batch_size=40, epochs=1).fit(X, Y)
    np.testing.assert_array_equal(model_a.params, model_b.params)


class TestEngineBoundary:
    """The last line of defence: _core itself refuses what Python would have caught."""

    net = _core.Network([784, 8, 10], 32)

    def params(self):
        return MLP((784, 8, 10), seed=0).params

    def test_wrong_dtypes(self):
        p, y, order = self.params(), Y.astype(np.int32), np.arange(40)
        with pytest.raises(TypeError, match="params"):
            self.net.train_epoch(p.astype(np.float64), X, y, order, 0.1)
        with pytest.raises(TypeError, match="x"):
            self.net.train_epoch(p, X.astype(np.float64), y, order, 0.1)
        with pytest.raises(TypeError, match="labels"):
            self.net.train_epoch(p, X, Y.astype(np.int64), order, 0.1)
        with pytest.raises(TypeError, match="order"):
            self.net.train_epoch(p, X, y, order.astype(np.int32), 0.1)

    def test_shapes_ranges_and_layouts(self):
        p, y, order = self.params(), Y.astype(np.int32), np.arange(40)
        with pytest.raises(ValueError, match="params must have"):
            self.net.train_epoch(p[:-1], X, y, order, 0.1)
        with pytest.raises(ValueError, match="x must have 784 columns"):
            self.net.train_epoch(p, X[:, :100].copy(), y, order, 0.1)
        with pytest.raises(ValueError, match="C-contiguous"):
            self.net.train_epoch(p, np.asfortranarray(X), y, order, 0.1)
        with pytest.raises(ValueError, match=r"order\[0\] = 40"):
            self.net.train_epoch(p, X, y, order + 40, 0.1)
        with pytest.raises(ValueError, match=r"order\[5\] = -1"):
            self.net.train_epoch(p, X, y, np.where(order == 5, -1, order), 0.1)
        with pytest.raises(ValueError, match=r"labels\[0\] = 10"):
            self.net.train_epoch(p, X, np.full(40, 10, np.int32), order, 0.1)
        with pytest.raises(ValueError, match="labels must have 40"):
            self.net.evaluate(p, X, y[:3])
        read_only = self.params()
        read_only.setflags(write=False)
        with pytest.raises(ValueError, match="params must be writable"):
            self.net.train_epoch(read_only, X, y, order, 0.1)

    def test_bad_network_sizes(self):
        with pytest.raises(ValueError, match="layer"):
            _core.Network([784], 8)
        with pytest.raises(ValueError, match="layer size"):
            _core.Network([784, 0, 10], 8)
        with pytest.raises(ValueError, match="batch_size"):
            _core.Network([784, 10], 0)


def test_an_equal_dtype_from_another_object_is_accepted():
    """A float32 dtype that is not NumPy's cached instance (as after unpickling) is float32."""
    import pickle

    model = pickle.loads(pickle.dumps(MLP((784, 8, 10), seed=0)))
    assert model.params.dtype == np.float32
    trainer = Trainer(model, epochs=1)
    trainer.fit(X, Y)
    assert np.isfinite(model.params).all()


def test_train_epoch_checks_its_order_and_steps_in_it():
    rng = np.random.default_rng(0)
    x = rng.random((40, 784), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    trainer = Trainer(MLP([784, 8, 10], seed=1), batch_size=16)
    for bad in ([0, 40], [-1], np.zeros((2, 2), int), [0.5], []):
        with pytest.raises(ValueError, match="order"):
            trainer.train_epoch(x, y, bad)
    assert trainer.train_epoch(x, y) == 3
    # The same steps as fit's engine call on the same order: the reference agrees.
    order = rng.permutation(40)
    a, b = MLP([784, 8, 10], seed=1), MLP([784, 8, 10], seed=1, dtype="float64")
    Trainer(a, batch_size=16).train_epoch(x, y, order)
    Trainer(b, batch_size=16, backend="numpy").train_epoch(x, y, order)
    assert np.allclose(a.params, b.params, atol=1e-6)
    assert not np.array_equal(a.params, MLP([784, 8, 10], seed=1).params)
