"""The hidden layers' activations end to end: engine against reference, gradients against
finite differences, reproducibility, the model file, the API's checks.

Tolerances of the native/reference parity, as tests/test_parity.py's and why they still hold:
the float32 reference applies the engine's own element rules (``_activations``' replica, equal
to the bit), so the two sides differ only by the products' summation order and fused
multiply-adds, as for ReLU: atol 1e-6 after one step, 1e-5 after one epoch of 63 steps on
2,000 images. Against the float64 reference (the exact formulas) the activations' own error,
a few float32 ulp of each activation, adds a rounding error of the same size as the products',
so the same tolerances apply. Observed over the seven activations (lr 0.05): one step up to
1.5e-8 (float32 reference) and 2.9e-8 (float64); one epoch up to 1.2e-7 and 1.9e-7. A ReLU or
leaky_relu unit within a rounding error of zero would flip between the sides; seed 42 meets
none. The float64 finite-difference check errs by at most 2e-9 of the largest gradient.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nanomlp import MLP, Trainer, _core, reference
from nanomlp._activations import ACTIVATIONS
from nanomlp.backends import NativeBackend, NumpyBackend
from nanomlp.model import FILE_VERSION

SIZES = (784, 128, 64, 10)
BATCH = 32
REFERENCE_DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def data(mnist_subset):
    x, y = mnist_subset
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int32)


def max_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def epoch(backend_class, model, x, y, order, threads=1, dropout=None, lr=0.05):
    """One SGD epoch of ``model`` in place through a backend; returns the steps."""
    from nanomlp import optim

    opt = optim.SGD(lr=lr)
    state = opt.init_state(model.params.size, model.dtype)
    n_steps = -(-len(order) // BATCH)
    return backend_class(model, threads).train_epoch(
        x, y, order, BATCH, np.full(n_steps, lr), opt, state, dropout=dropout, dropout_seed=5
    )


def models(activation, ref_dtype):
    kw = dict(seed=42, activation=activation, negative_slope=0.05)
    return MLP(SIZES, **kw), MLP(SIZES, dtype=ref_dtype, **kw)


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_step_matches_the_reference(data, activation, ref_dtype):
    x, y = data
    native, ref = models(activation, ref_dtype)
    start = native.params.copy()
    order = np.arange(32, 64, dtype=np.int64)
    assert epoch(NativeBackend, native, x, y, order) == epoch(NumpyBackend, ref, x, y, order) == 1
    assert not np.array_equal(native.params, start), "the step must change the weights"
    assert max_difference(native.params, ref.params) <= 1e-6


@pytest.mark.parametrize("ref_dtype", REFERENCE_DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_epoch_on_2000_images_matches_the_reference(data, activation, ref_dtype):
    x, y = data
    native, ref = models(activation, ref_dtype)
    order = np.random.RandomState(7).permutation(len(x)).astype(np.int64)
    assert epoch(NativeBackend, native, x, y, order) == 63
    assert epoch(NumpyBackend, ref, x, y, order) == 63
    assert max_difference(native.params, ref.params) <= 1e-5


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "leaky_relu"])
def test_gradients_and_probabilities_match_the_reference(data, activation):
    x, y = data
    native, ref = models(activation, "float32")
    net = _core.Network(
        list(SIZES), BATCH, activations=list(native.activations), negative_slope=0.05
    )
    grads, loss = net.gradients(native.params, x[:BATCH], y[:BATCH])
    probs, inputs, saved = reference.forward_saved(
        ref.weights, ref.biases, x[:BATCH], None, ref.activations, 0.05
    )
    dws, dbs = reference.backward(
        ref.weights, inputs, probs, y[:BATCH], None, None, ref.activations, saved, 0.05
    )
    expected = np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(dws, dbs)])
    assert max_difference(grads, expected) <= 1e-5 * np.abs(expected).max()
    assert loss == pytest.approx(float(reference.cross_entropy(probs, y[:BATCH]).mean()), rel=1e-5)
    evaluated = net.evaluate(native.params, x[:600], None, True)[2]
    expected_probs, _ = reference.forward(
        ref.weights, ref.biases, x[:600], None, ref.activations, 0.05
    )
    assert max_difference(evaluated, expected_probs) <= 1e-6


def test_mixed_activations_match_the_reference(data):
    x, y = data
    sizes = (784, 37, 23, 19, 11, 10)
    kw = dict(seed=42, activation=["gelu_tanh", "identity", "sigmoid", "leaky_relu"])
    native, ref = MLP(sizes, **kw), MLP(sizes, dtype="float64", **kw)
    order = np.random.RandomState(1).permutation(len(x)).astype(np.int64)
    epoch(NativeBackend, native, x, y, order, dropout=[0.1, 0.0, 0.2, 0.3])
    epoch(NumpyBackend, ref, x, y, order, dropout=[0.1, 0.0, 0.2, 0.3])
    assert max_difference(native.params, ref.params) <= 1e-5


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_finite_differences(activation):
    """float64: the reference's backward against central differences of its loss."""
    rng = np.random.RandomState(0)
    x, y = rng.uniform(-1, 1, (6, 12)), rng.randint(0, 5, 6)
    model = MLP((12, 9, 7, 5), seed=3, dtype="float64", activation=activation, init="torch")
    acts, slope = model.activations, 0.1

    def loss() -> float:
        probs, _ = reference.forward(model.weights, model.biases, x, None, acts, slope)
        return float(reference.cross_entropy(probs, y).mean())

    probs, inputs, saved = reference.forward_saved(
        model.weights, model.biases, x, None, acts, slope
    )
    dws, dbs = reference.backward(model.weights, inputs, probs, y, None, None, acts, saved, slope)
    analytic = np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(dws, dbs)])
    eps, numeric = 1e-6, np.empty(model.params.size)
    for i in range(model.params.size):
        keep = model.params[i]
        model.params[i] = keep + eps
        up = loss()
        model.params[i] = keep - eps
        down = loss()
        model.params[i] = keep
        numeric[i] = (up - down) / (2 * eps)
    # Central differences err by O(eps² f''') ~ 1e-12, rounding by ~1e-16 / eps = 1e-10. A
    # ReLU kink within eps of a pre-activation would break this; none is met with seed 3.
    err = np.abs(analytic - numeric).max()
    assert err <= 1e-7 * np.abs(numeric).max() + 1e-9, f"{activation}: {err:.3g}"
    assert np.abs(numeric).max() > 1e-3, "the check must see real gradients"


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_bit_identical_across_threads_and_simd_paths(data, activation, monkeypatch):
    x, y = data
    order = np.random.RandomState(2).permutation(len(x)).astype(np.int64)
    results = {}
    kernels = _core.testing.available_kernels()
    for kernel in kernels:
        monkeypatch.setenv("NANOMLP_KERNEL", kernel)
        for threads in (1, 2, 3) if kernel == kernels[0] else (2,):
            model = MLP(SIZES, seed=42, activation=activation)
            epoch(NativeBackend, model, x, y, order, threads, dropout=[0.2, 0.35])
            results[kernel, threads] = model.params.tobytes()
    first = results[kernels[0], 1]
    assert first != MLP(SIZES, seed=42).params.tobytes()
    fuses = [k for k in kernels if k != "generic" or _core.testing.generic_fuses]
    for (kernel, threads), params in results.items():
        if kernel in fuses:  # the unfused generic path rounds its products differently
            assert params == first, (kernel, threads)
    monkeypatch.delenv("NANOMLP_KERNEL")


def test_dropout_with_tanh_keeps_the_output_before_dropout(data):
    """tanh's derivative reads its output before dropout scales it: the engine keeps a copy."""
    x, y = data
    order = np.random.RandomState(4).permutation(len(x)).astype(np.int64)[:320]
    native, ref = models("tanh", "float32")
    epoch(NativeBackend, native, x, y, order, dropout=[0.5, 0.5])
    epoch(NumpyBackend, ref, x, y, order, dropout=[0.5, 0.5])
    assert max_difference(native.params, ref.params) <= 1e-6


def test_the_network_reports_its_activations():
    net = _core.Network([4, 3, 3, 2], 8, activations=["logistic", "gelu"], negative_slope=0.2)
    assert net.activations == ["sigmoid", "gelu"]
    assert net.negative_slope == pytest.approx(0.2)
    assert _core.Network([4, 3, 3, 2], 8).activations == ["relu", "relu"]


def test_relu_by_name_is_the_default_to_the_bit(data):
    x, y = data
    order = np.arange(256, dtype=np.int64)
    a, b = MLP(SIZES, seed=1), MLP(SIZES, seed=1, activation=["relu", "relu"])
    epoch(NativeBackend, a, x, y, order, dropout=[0.2, 0.1])
    epoch(NativeBackend, b, x, y, order, dropout=[0.2, 0.1])
    assert a.params.tobytes() == b.params.tobytes()


def test_save_and_load_keep_the_activations(tmp_path, data):
    x, _ = data
    model = MLP((784, 20, 16, 10), seed=0, activation=["gelu", "leaky_relu"], negative_slope=0.3)
    model.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    assert loaded.activations == ("gelu", "leaky_relu") and loaded.negative_slope == 0.3
    with np.load(tmp_path / "m.npz") as z:
        assert int(z["format_version"]) == FILE_VERSION == 4
    probs = [Trainer(m).predict_proba(x[:50]) for m in (model, loaded)]
    assert probs[0].tobytes() == probs[1].tobytes()
    relu = Trainer(MLP((784, 20, 16, 10), seed=0)).predict_proba(x[:50])
    assert not np.allclose(probs[0], relu), "the activations must change the outputs"


def test_version_2_files_load_as_relu(tmp_path):
    model = MLP((6, 5, 3), seed=0)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        entries = {k: z[k] for k in z.files if k not in ("activations", "negative_slope")}
    entries["format_version"] = np.array(2, dtype=np.int64)
    np.savez(tmp_path / "old.npz", **entries)
    loaded = MLP.load(tmp_path / "old.npz")
    assert loaded.activations == ("relu",)
    np.testing.assert_array_equal(loaded.params, model.params)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"activation": "softplus"}, "activation"),
        ({"activation": ["relu", "swish"]}, r"activation\[1\]"),
        ({"activation": ["relu"]}, "activation"),
        ({"activation": ["relu", "tanh", "gelu"]}, "activation"),
        ({"negative_slope": float("nan")}, "negative_slope"),
        ({"negative_slope": float("inf")}, "negative_slope"),
        ({"negative_slope": 1e39}, "negative_slope"),
        ({"init": "xavier"}, "init"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLP((4, 3, 3, 2), **kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"activations": ["relu", "softplus"]}, "activation"),
        ({"activations": ["relu"]}, "activations"),
        ({"negative_slope": float("inf")}, "negative_slope"),
    ],
)
def test_the_engine_checks_its_arguments_too(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _core.Network([4, 3, 3, 2], 8, **kwargs)


def test_inits_follow_their_definitions():
    sizes = (30, 20, 10)
    for init, check in {
        "notebook": lambda w, b, i, o: np.isclose(w.std(), np.sqrt(1 / i), rtol=0.1),
        "he": lambda w, b, i, o: np.isclose(w.std(), np.sqrt(2 / i), rtol=0.1),
        "glorot": lambda w, b, i, o: (
            np.abs(w).max() <= np.sqrt(6 / (i + o)) < 1.1 * np.abs(w).max()
        ),
        "torch": lambda w, b, i, o: max(np.abs(w).max(), np.abs(b).max()) <= 1 / np.sqrt(i),
    }.items():
        model = MLP(sizes, seed=0, dtype="float64", init=init)
        for w, b in zip(model.weights, model.biases):
            assert check(w, b, *w.shape), init
            assert b.any() == (init == "torch"), init
    # scikit-learn's _init_coef, from the same RandomState: its weights and biases exactly.
    for activation, factor in (("relu", 6.0), ("logistic", 2.0)):
        model = MLP(sizes, seed=7, dtype="float64", activation=activation, init="sklearn")
        rng = np.random.RandomState(7)
        for w, b in zip(model.weights, model.biases):
            bound = np.sqrt(factor / sum(w.shape))
            np.testing.assert_array_equal(w, rng.uniform(-bound, bound, w.shape))
            np.testing.assert_array_equal(b, rng.uniform(-bound, bound, b.shape))


def test_the_default_init_is_still_the_notebooks():
    a, b = MLP(seed=42), MLP(seed=42, init="notebook", activation="tanh")
    assert a.params.tobytes() == b.params.tobytes()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_classifier_takes_scikit_learns_activations(activation):
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    from nanomlp import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    ours = MLPClassifier((32,), activation=activation, max_iter=30, random_state=3).fit(x, y)
    assert ours.model_.activations == (("sigmoid",) if activation == "logistic" else (activation,))
    # The first weights are scikit-learn's initial ones: compare with its own, before training.
    theirs = SklearnMLPClassifier((32,), activation=activation, max_iter=30, random_state=3)
    theirs._random_state = np.random.RandomState(3)
    fresh = MLP((64, 32, 10), seed=3, activation=activation, init="sklearn")
    for w, b in zip(fresh.weights, fresh.biases):
        coef, intercept = theirs._init_coef(*w.shape, np.float64)
        np.testing.assert_array_equal(w, coef.astype(np.float32))
        np.testing.assert_array_equal(b, intercept.astype(np.float32))
    # Same start, same recipe: scikit-learn's accuracy after 30 epochs (0.83 to 0.94 here).
    assert abs(ours.score(x, y) - theirs.fit(x, y).score(x, y)) < 0.02
    assert ours.score(x, y) > 0.8


def test_cli_records_the_activation(tmp_path, mnist_dir):
    from test_cli import run

    out = tmp_path / "run"
    done = run(
        "train",
        "--limit",
        "600",
        "--val-size",
        "100",
        "--epochs",
        "1",
        "--quiet",
        "--activation",
        "tanh",
        "gelu",
        "--out",
        str(out),
        data=mnist_dir,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["activation"] == ["tanh", "gelu"]
    assert MLP.load(out / "model.npz").activations == ("tanh", "gelu")
    bad = run("train", "--activation", "swish", "--out", str(tmp_path / "bad"), data=mnist_dir)
    assert bad.returncode == 2 and "--activation" in bad.stderr
