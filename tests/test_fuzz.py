"""Random input at the Python boundary: every call gives a correct result or a clear exception.

The targets are the public API (``MLP``, ``Trainer``, ``MLP.load``, the dataset readers) and
the native engine itself (``nanomlp._core.Network`` and its methods). Arrays come in every
dtype, shape (zero and one included), memory order, stride and writability, with NaN and
infinity, and sizes no memory holds. Calls into ``_core`` run in a child process, so a crash
there fails one example (with the input that caused it) instead of killing the test run.

Example counts: NANOMLP_FUZZ_EXAMPLES (default 60, derandomized, as CI runs it); e.g.
``NANOMLP_FUZZ_EXAMPLES=10000 pytest tests/test_fuzz.py --hypothesis-show-statistics`` for a
long run with fresh random examples.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from nanomlp import MLP, Trainer, _core, reference
from nanomlp import datasets as ds
from nanomlp.datasets.idx import parse_idx
from nanomlp.model import parameter_layout, parameter_views

_EXAMPLES = int(os.environ.get("NANOMLP_FUZZ_EXAMPLES", "60"))
settings.register_profile(
    "nanomlp-fuzz",
    max_examples=_EXAMPLES,
    derandomize=_EXAMPLES <= 60,  # CI: the same examples every run
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)
FUZZ = settings.get_profile("nanomlp-fuzz")

DTYPES = (
    "float32",
    "float64",
    "float16",
    "int8",
    "int32",
    "int64",
    "uint8",
    "bool",
    "complex64",
    "object",
)
LAYOUTS = ("C", "F", "strided", "reversed")
CLEAR = (TypeError, ValueError, MemoryError)


# ------------------------------------------------------------------------------ array recipes
# An array is described by plain data (a recipe) and built where it is used: a view, its
# strides and its read-only flag would not survive being pickled to the child process.
def build(r: dict) -> np.ndarray:
    """The array a recipe describes."""
    rng = np.random.default_rng(r["seed"])
    shape = tuple(r["shape"])
    full = shape[:-1] + (2 * shape[-1],) if r["layout"] == "strided" and shape else shape
    lo, hi = r["range"]
    if r["dtype"] in ("float16", "float32", "float64", "complex64"):
        base = rng.uniform(lo, hi, size=full)
    else:
        base = rng.integers(lo, hi, size=full, endpoint=True)
    arr = base.astype(r["dtype"]) if r["dtype"] != "object" else base.astype(object)
    if r["fill"] and arr.size and arr.dtype.kind in "fc":
        arr.flat[int(rng.integers(arr.size))] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[
            r["fill"]
        ]
    if r["layout"] == "F":
        arr = np.asfortranarray(arr)
    elif r["layout"] == "strided" and shape:
        arr = arr[..., ::2]
    elif r["layout"] == "reversed" and arr.ndim:
        arr = arr[::-1]
    if r["readonly"]:
        arr.flags.writeable = False
    return arr


def recipes(
    shape: Any, dtype: Any = None, value_range: tuple[int, int] = (-2, 2), clean: bool = False
) -> st.SearchStrategy:
    """Recipes of arrays of ``shape`` (a strategy or a tuple) and mostly ``dtype``.

    ``clean``: exactly ``dtype``, C-contiguous and writable (NaN or infinity still possible),
    so that a case reaches the engine's arithmetic rather than its checks."""
    shapes = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    if clean:
        return st.fixed_dictionaries(
            {
                "shape": shapes,
                "dtype": st.just(dtype),
                "layout": st.just("C"),
                "readonly": st.just(False),
                "fill": st.sampled_from((None,) * 7 + ("nan",)),
                "range": st.just(value_range),
                "seed": st.integers(0, 2**32 - 1),
            }
        )
    dtypes = (
        st.sampled_from(DTYPES)
        if dtype is None
        else st.one_of(st.just(dtype), st.just(dtype), st.just(dtype), st.sampled_from(DTYPES))
    )
    return st.fixed_dictionaries(
        {
            "shape": shapes,
            "dtype": dtypes,
            "layout": st.sampled_from(LAYOUTS + ("C", "C", "C")),
            "readonly": st.booleans(),
            "fill": st.sampled_from((None, None, None, "nan", "inf", "-inf")),
            "range": st.just(value_range),
            "seed": st.integers(0, 2**32 - 1),
        }
    )


def near(shape: tuple[int, ...]) -> st.SearchStrategy:
    """``shape`` most of the time; otherwise a neighbour (one off, zero, another rank)."""

    def vary(s: tuple[int, ...]) -> st.SearchStrategy:
        return st.one_of(
            st.just(s),
            st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple),
            st.just(s[:-1] + (max(0, s[-1] + 1),)) if s else st.just((1,)),
        )

    return st.one_of(st.just(shape), st.just(shape), vary(shape))


def is_canonical(arr: np.ndarray, dtype: str) -> bool:
    return arr.dtype == np.dtype(dtype) and arr.flags.c_contiguous


# ------------------------------------------------------------------ the native engine, isolated
def finite(*arrays: Any) -> bool:
    """Whether the inputs are finite: the engine's result on NaN (which the public API
    refuses) is unspecified, only its not crashing is."""
    flat = [
        a
        for item in arrays
        if item is not None
        for a in (item if isinstance(item, list) else [item])
    ]
    return all(np.isfinite(a).all() for a in flat)


def valid_hyperparameters(c: dict) -> bool:
    """Whether the Trainer would pass these on: the engine checks only what could crash it,
    and its result on others (lr = NaN, momentum = 2, …) is unspecified, only its not
    crashing is."""
    return (
        math.isfinite(c["lr"])
        and c["lr"] > 0
        and 0 <= c["momentum"] < 1
        and math.isfinite(c["weight_decay"])
        and c["weight_decay"] >= 0
    )


def _network_case(c: dict) -> Any:
    net = _core.Network(c["sizes"], c["batch"], threads=c["threads"])
    return net.num_params


def _train_epoch_case(c: dict) -> Any:
    net = _core.Network(c["sizes"], c["batch"], threads=c["threads"])
    params, x, labels, order = (build(c[k]) for k in ("params", "x", "labels", "order"))
    velocity = None if c["velocity"] is None else build(c["velocity"])
    before = params.copy()
    v_before = None if velocity is None else velocity.copy()
    steps = net.train_epoch(
        params,
        x,
        labels,
        order,
        c["lr"],
        momentum=c["momentum"],
        nesterov=c["nesterov"],
        weight_decay=c["weight_decay"],
        velocity=velocity,
    )
    # Accepted, so every array had the engine's dtype and layout: the reference must agree,
    # given the settings as the float32 engine sees them (a momentum of 1e-300 is 0 there).
    weights, biases = parameter_views(before, c["sizes"])
    momentum = float(np.float32(c["momentum"]))
    velocities = None
    if v_before is not None and momentum != 0:  # without momentum it is not read
        vw, vb = parameter_views(v_before, c["sizes"])
        velocities = vw + vb
    with np.errstate(all="ignore"):
        ref_steps = reference.train_epoch(
            weights,
            biases,
            x,
            labels,
            order,
            c["batch"],
            np.float32(c["lr"]),
            momentum=momentum,
            nesterov=c["nesterov"],
            weight_decay=c["weight_decay"],
            velocities=velocities,
        )
    assert steps == ref_steps == math.ceil(len(order) / c["batch"])
    if finite(x, weights, v_before) and valid_hyperparameters(c):
        np.testing.assert_allclose(params, before, rtol=1e-4, atol=1e-5)
    return steps


def _gradients_case(c: dict) -> Any:
    net = _core.Network(c["sizes"], c["batch"], threads=c["threads"])
    params, x, labels = (build(c[k]) for k in ("params", "x", "labels"))
    before = params.copy()
    grads, loss = net.gradients(params, x, labels)
    np.testing.assert_array_equal(params, before)  # not written
    weights, biases = parameter_views(params, c["sizes"])
    with np.errstate(all="ignore"):
        probs, inputs = reference.forward(weights, biases, x)
        dws, dbs = reference.backward(weights, inputs, probs, labels.astype(np.int64))
        ref_loss = float(np.mean(reference.cross_entropy(probs, labels.astype(np.int64))))
    expected = np.empty_like(grads)
    ew, eb = parameter_views(expected, c["sizes"])
    for dst, src in zip(ew + eb, dws + dbs):
        dst[...] = src
    if not finite(params, x):
        return None
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-6)
    if math.isfinite(ref_loss):
        assert loss == pytest.approx(ref_loss, rel=1e-4, abs=1e-6)
    return loss


def _evaluate_case(c: dict) -> Any:
    net = _core.Network(c["sizes"], c["batch"], threads=c["threads"])
    params, x = build(c["params"]), build(c["x"])
    labels = None if c["labels"] is None else build(c["labels"])
    loss_sum, correct, probs = net.evaluate(params, x, labels, c["return_proba"])
    weights, biases = parameter_views(params, c["sizes"])
    with np.errstate(all="ignore"):
        ref_loss, ref_correct, ref_probs = reference.evaluate(
            weights, biases, x, None if labels is None else labels.astype(np.int64), True
        )
    if c["return_proba"]:
        assert probs.shape == (len(x), c["sizes"][-1])
    if not finite(params, x):
        return None
    if c["return_proba"]:
        np.testing.assert_allclose(probs, ref_probs, rtol=0, atol=1e-5)
    else:
        assert probs is None
    if labels is not None and np.isfinite(ref_loss):
        assert loss_sum == pytest.approx(ref_loss, rel=1e-4, abs=1e-5)
    return loss_sum


CORE_CASES = {
    "network": _network_case,
    "train_epoch": _train_epoch_case,
    "gradients": _gradients_case,
    "evaluate": _evaluate_case,
}


def _serve() -> None:
    """The child's loop: a pickled case in, ("ok" | "raised", ...) out, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            case = pickle.load(stdin)
        except EOFError:
            return
        try:
            outcome = ("ok", CORE_CASES[case["target"]](case))
        except AssertionError as err:
            outcome = ("wrong", str(err))
        except Exception as err:  # judged by the parent
            outcome = ("raised", type(err).__name__, str(err))
        pickle.dump(outcome, stdout)
        stdout.flush()


class Child:
    """A worker process that runs the engine's cases; restarted after a crash."""

    proc: subprocess.Popen | None = None

    @classmethod
    def run(cls, case: dict) -> tuple:
        if cls.proc is not None and cls.proc.poll() is not None:
            cls.stop()
        if cls.proc is None:
            code = (
                "import runpy, sys; runpy.run_path(sys.argv[1], run_name='fuzz_child')['_serve']()"
            )
            cls.proc = subprocess.Popen(
                [sys.executable, "-c", code, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        try:
            pickle.dump(case, cls.proc.stdin)
            cls.proc.stdin.flush()
            return pickle.load(cls.proc.stdout)
        except (EOFError, BrokenPipeError):
            code = cls.proc.wait()
            cls.stop()
            pytest.fail(f"the engine crashed (exit status {code}) on {case!r}")

    @classmethod
    def stop(cls) -> None:
        if cls.proc is not None:
            with contextlib.suppress(BrokenPipeError):
                cls.proc.stdin.close()
            cls.proc.wait(30)
            cls.proc.stdout.close()
            cls.proc = None


@pytest.fixture(scope="module", autouse=True)
def child():
    yield
    Child.stop()


def judge(outcome: tuple, names: tuple[str, ...]) -> None:
    """A correct result, or a clear TypeError/ValueError/MemoryError naming what was wrong."""
    event(
        "accepted"
        if outcome[0] == "ok"
        else f"refused: {outcome[1]}"
        if outcome[0] == "raised"
        else "wrong"
    )
    if outcome[0] == "wrong":
        pytest.fail(f"wrong result: {outcome[1]}")
    if outcome[0] == "raised":
        kind, message = outcome[1], outcome[2]
        assert kind in ("TypeError", "ValueError", "MemoryError"), f"{kind}: {message}"
        # pybind11's own refusal of a Python type lists the signature, which names them all.
        assert any(n in message for n in names) or "incompatible function arguments" in message, (
            message
        )


sizes_st = st.lists(st.integers(1, 5), min_size=2, max_size=4)
engine_settings = st.fixed_dictionaries({"batch": st.integers(1, 6), "threads": st.integers(1, 3)})


@FUZZ
@given(
    sizes=st.one_of(
        st.lists(st.integers(1, 6), min_size=2, max_size=4),
        st.lists(
            st.one_of(
                st.integers(1, 6),
                st.integers(-2, 6),
                st.integers(2**30, 2**63 - 1),
                st.sampled_from([2**40, 2**32, 2**31, 2**62]),
            ),
            min_size=0,
            max_size=4,
        ),
    ),
    batch=st.one_of(st.integers(1, 300), st.integers(-1, 300), st.integers(2**40, 2**63 - 1)),
    threads=st.one_of(st.integers(1, 3), st.integers(-1, 4), st.sampled_from([1025, 2**31 - 1])),
)
def test_core_network_sizes(sizes, batch, threads):
    """Any sizes: a Network, or a ValueError, or a MemoryError (never a wrapped size or abort)."""
    outcome = Child.run({"target": "network", "sizes": sizes, "batch": batch, "threads": threads})
    judge(outcome, ("layer", "batch", "threads", "memory"))
    if outcome[0] == "ok":
        assert outcome[1] == parameter_layout(sizes)[-1][2]
    elif all(1 <= s for s in sizes) and len(sizes) >= 2 and batch >= 1 and 1 <= threads <= 1024:
        assert outcome[1] == "MemoryError", outcome


def test_core_huge_network_is_a_memory_error():
    for sizes, batch in (
        ([2**40, 2**40], 1),
        ([2**62, 4], 1),
        ([2**32, 2**32], 1),
        ([3, 3], 2**62),
    ):
        outcome = Child.run({"target": "network", "sizes": sizes, "batch": batch, "threads": 1})
        assert outcome[:2] == ("raised", "MemoryError"), outcome
        assert "memory" in outcome[2]


@st.composite
def train_cases(draw, target: str) -> dict:
    sizes = draw(sizes_st)
    case = {"target": target, "sizes": sizes, **draw(engine_settings)}
    n_params = parameter_layout(sizes)[-1][2]
    # Half the cases have arrays the engine takes, so its results are checked as often as
    # its refusals.
    clean = draw(st.booleans())
    if target == "gradients":
        rows = draw(st.integers(1, case["batch"]) if clean else st.integers(0, case["batch"] + 1))
    else:
        rows = draw(st.integers(0, 12))
    near_ = (lambda s: st.just(s)) if clean else near
    case["params"] = draw(recipes(near_((n_params,)), "float32", (-1, 1), clean))
    case["x"] = draw(recipes(near_((rows, sizes[0])), "float32", (-2, 2), clean))
    classes = sizes[-1]
    case["labels"] = draw(
        recipes(
            near_((rows,)),
            "int32",
            (0, classes - 1) if clean or draw(st.integers(0, 4)) else (-1, classes),
            clean,
        )
    )
    if target == "train_epoch":
        case["order"] = draw(
            recipes(
                st.one_of(st.just((rows,)), st.integers(0, 14).map(lambda n: (n,)))
                if not clean or rows == 0
                else st.just((rows,)),
                "int64",
                (0, max(rows - 1, 0)) if clean or draw(st.integers(0, 4)) else (-1, rows),
                clean,
            )
        )
        case["lr"] = draw(
            st.one_of(st.floats(1e-4, 0.1), st.floats(allow_nan=True, allow_infinity=True))
        )
        case["momentum"] = draw(st.one_of(st.just(0.0), st.floats(0, 0.95), st.floats(-1, 2)))
        case["nesterov"] = draw(st.booleans())
        case["weight_decay"] = draw(
            st.one_of(
                st.just(0.0), st.floats(0, 0.1), st.floats(allow_nan=True, allow_infinity=True)
            )
        )
        case["velocity"] = draw(
            st.one_of(st.none(), recipes(near_((n_params,)), "float32", (-1, 1), clean))
        )
        if clean:
            case["lr"] = draw(st.floats(1e-4, 0.1))
            case["momentum"] = draw(st.sampled_from((0.0, 0.5, 0.9)))
            case["nesterov"] = case["momentum"] > 0 and draw(st.booleans())
            case["weight_decay"] = draw(st.sampled_from((0.0, 1e-3)))
            if case["momentum"] > 0 and case["velocity"] is None:
                case["velocity"] = draw(recipes(st.just((n_params,)), "float32", (-1, 1), True))
    if target == "evaluate":
        case["return_proba"] = draw(st.booleans())
        if draw(st.booleans()):
            case["labels"] = None
    return case


NAMES = ("params", "x", "labels", "order", "lr", "momentum", "nesterov", "weight_decay", "velocity")


def _array_recipe(shape: tuple, dtype: str, value_range: tuple) -> dict:
    return {
        "shape": shape,
        "dtype": dtype,
        "layout": "C",
        "readonly": False,
        "fill": None,
        "range": value_range,
        "seed": 0,
    }


def _one_weight_epoch(momentum: float, velocity: dict | None) -> dict:
    """A train_epoch case on a 1-1 network, one row, with this momentum and velocity."""
    return {
        "target": "train_epoch",
        "sizes": [1, 1],
        "batch": 1,
        "threads": 1,
        "params": _array_recipe((2,), "float32", (-1, 1)),
        "x": _array_recipe((1, 1), "float32", (-2, 2)),
        "labels": _array_recipe((1,), "int32", (0, 0)),
        "order": _array_recipe((1,), "int64", (0, 0)),
        "lr": 0.0625,
        "momentum": momentum,
        "nesterov": False,
        "weight_decay": 0.0,
        "velocity": velocity,
    }


@FUZZ
@given(case=train_cases("train_epoch"))
# A momentum that float32 rounds to 0, with no velocity: plain SGD to the engine.
@example(case=_one_weight_epoch(2.6070122250455657e-257, None))
# A negative momentum (refused by the Trainer, not the engine) with its velocity.
@example(case=_one_weight_epoch(-1.0, _array_recipe((2,), "float32", (-1, 1))))
def test_core_train_epoch(case):
    judge(Child.run(case), NAMES)


@FUZZ
@given(case=train_cases("gradients"))
def test_core_gradients(case):
    judge(Child.run(case), NAMES)


@FUZZ
@given(case=train_cases("evaluate"))
def test_core_evaluate(case):
    judge(Child.run(case), NAMES)


def test_core_accepts_a_canonical_case_and_matches_the_reference():
    """The fuzzed checks of a correct result do run: one case that must be accepted."""
    canon = {"layout": "C", "readonly": False, "fill": None, "seed": 1}
    case = {
        "target": "train_epoch",
        "sizes": [4, 3, 2],
        "batch": 2,
        "threads": 2,
        "params": {
            **canon,
            "shape": (parameter_layout([4, 3, 2])[-1][2],),
            "dtype": "float32",
            "range": (-1, 1),
        },
        "x": {**canon, "shape": (5, 4), "dtype": "float32", "range": (-2, 2)},
        "labels": {**canon, "shape": (5,), "dtype": "int32", "range": (0, 1)},
        "order": {**canon, "shape": (5,), "dtype": "int64", "range": (0, 4)},
        "lr": 0.05,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 0.01,
        "velocity": {
            **canon,
            "shape": (parameter_layout([4, 3, 2])[-1][2],),
            "dtype": "float32",
            "range": (-1, 1),
        },
    }
    assert Child.run(case) == ("ok", 3)


def test_core_arrays_freed_by_their_owner_while_training(tmp_path):
    """The engine keeps the arrays alive: dropping every other reference mid-epoch is safe."""
    script = tmp_path / "drop.py"
    script.write_text(
        "import gc, threading, numpy as np\n"
        "from nanomlp import _core, MLP, Trainer\n"
        "net = _core.Network([64, 32, 4], 8, threads=2)\n"
        "rng = np.random.default_rng(0)\n"
        "arrays = [np.zeros(net.num_params, np.float32), rng.random((4000, 64), dtype=np.float32),\n"
        "          rng.integers(0, 4, 4000).astype(np.int32), rng.permutation(4000)]\n"
        "t = threading.Thread(target=net.train_epoch, args=(*arrays, 0.01))\n"
        "t.start(); del arrays; gc.collect(); t.join()\n"
        "model = MLP((64, 8, 4))\n"
        "x = rng.random((2000, 64)); y = rng.integers(0, 4, 2000)\n"
        "t = threading.Thread(target=Trainer(model, epochs=2, threads=2).fit, args=(x, y))\n"
        "t.start(); del x, y; gc.collect(); t.join()\n"
        "print('done')\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr


# ------------------------------------------------------------------------------ the public API
@FUZZ
@given(
    layer_sizes=st.one_of(
        st.lists(
            st.one_of(st.integers(-1, 6), st.sampled_from([2**40, 2**62, 2**64, 2**80])), max_size=4
        ),
        st.lists(st.one_of(st.floats(), st.booleans(), st.text(max_size=2), st.none()), max_size=3),
        st.text(max_size=3),
        st.none(),
        st.integers(),
    ),
    seed=st.one_of(st.none(), st.integers(-2, 2**33), st.floats(), st.text(max_size=2)),
    dtype=st.one_of(st.sampled_from(DTYPES + ("float32", "float64", "f4", "nonsense")), st.none()),
)
def test_mlp_constructor(layer_sizes, seed, dtype):
    try:
        model = MLP(layer_sizes, seed=seed, dtype=dtype)
    except MemoryError as err:
        event("refused: MemoryError")
        assert "allocate" in str(err) or "memory" in str(err)
    except (TypeError, ValueError) as err:
        event(f"refused: {type(err).__name__}")
        assert any(n in str(err) for n in ("layer_sizes", "seed", "dtype", "dimension")), str(err)
    else:
        event("accepted")
        assert model.params.shape == (parameter_layout(model.layer_sizes)[-1][2],)
        assert np.isfinite(model.params).all()


@st.composite
def fit_cases(draw) -> dict:
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=3))
    rows = draw(st.integers(0, 10))
    classes = sizes[-1]
    one_hot = draw(st.integers(0, 3)) == 0
    y_shape = near((rows, classes) if one_hot else (rows,))
    return {
        "sizes": sizes,
        "x": draw(recipes(near((rows, sizes[0])), "float32", (-3, 3))),
        "y": draw(
            recipes(
                y_shape,
                "int64",
                (0, 1)
                if one_hot
                else ((0, classes - 1) if draw(st.integers(0, 4)) else (-1, classes)),
            )
        ),
        "batch_size": draw(st.integers(1, 4)),
        "backend": draw(st.sampled_from(("native", "numpy"))),
        "threads": draw(st.integers(1, 2)),
    }


@FUZZ
@given(case=fit_cases())
def test_fit_and_predict(case):
    """Any layout or dtype of real numbers trains exactly as its C-contiguous float32 copy."""
    x, y = build(case["x"]), build(case["y"])

    def trained(x: Any, y: Any) -> tuple[MLP, Trainer]:
        model = MLP(case["sizes"], seed=0)
        trainer = Trainer(
            model,
            lr=0.05,
            batch_size=case["batch_size"],
            epochs=1,
            backend=case["backend"],
            threads=case["threads"],
        )
        with np.errstate(all="ignore"):
            trainer.fit(x, y, callbacks=[])
        return model, trainer

    try:
        model, trainer = trained(x, y)
    except (TypeError, ValueError) as err:
        event(f"refused: {type(err).__name__}")
        assert any(n in str(err) for n in ("x ", "y", "x[", "x must")), str(err)
        return
    event("accepted")
    canonical_x = np.ascontiguousarray(x, dtype=np.float32)
    labels = np.asarray(y)
    labels = labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)
    expected, _ = trained(canonical_x, labels)
    np.testing.assert_array_equal(model.params, expected.params)
    try:
        predicted = trainer.predict(x)
    except ValueError as err:  # training diverged: the parameters hold NaN
        assert not np.isfinite(model.params).all(), str(err)
        return
    assert predicted.shape == (len(canonical_x),) and predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, trainer.predict(canonical_x))


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("model") / "m.npz"
    model = MLP((3, 4, 2), seed=1)
    model.shuffle_order = np.arange(5, dtype=np.int64)
    model.save(path, metadata={"note": "fuzz"})
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_load_damaged_or_foreign_files(data, saved_model, tmp_path):
    """A damaged file is refused with a ValueError naming it, never another error or a crash."""
    kind = data.draw(st.sampled_from(("random", "flip", "truncate", "entry")))
    blob = bytearray(saved_model)
    if kind == "random":
        blob = bytearray(data.draw(st.binary(max_size=600)))
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:  # a well-formed archive whose entries are random arrays
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(saved_model)) as src, zipfile.ZipFile(buf, "w") as dst:
            victim = data.draw(st.sampled_from(src.namelist()))
            for name in src.namelist():
                if name == victim:
                    arr = build(
                        data.draw(recipes(st.lists(st.integers(0, 3), max_size=2).map(tuple)))
                    )
                    if arr.dtype == object:
                        arr = arr.astype(str)
                    entry = io.BytesIO()
                    np.save(entry, arr, allow_pickle=False)
                    dst.writestr(name, entry.getvalue())
                else:
                    dst.writestr(name, src.read(name))
        blob = bytearray(buf.getvalue())
    path = tmp_path / f"fuzz-{kind}.npz"
    path.write_bytes(bytes(blob))
    try:
        model = MLP.load(path)
    except ValueError as err:
        event(f"refused ({kind})")
        assert str(path) in str(err)
    else:
        event(f"loaded ({kind})")
        assert np.isfinite(model.params).all()
        assert model.params.shape == (parameter_layout(model.layer_sizes)[-1][2],)


# ------------------------------------------------------------------------------ dataset readers
@st.composite
def idx_blobs(draw) -> tuple[bytes, int, int]:
    magic, ndim = draw(st.sampled_from(((ds.IMAGE_MAGIC, 3), (ds.LABEL_MAGIC, 1))))
    header_magic = draw(st.one_of(st.just(magic), st.just(magic), st.integers(0, 2**32 - 1)))
    small = st.integers(0, 4)
    dims = draw(
        st.lists(
            st.one_of(small, small, st.sampled_from([2**31, 2**32 - 1, 2**16])),
            min_size=ndim,
            max_size=ndim,
        )
    )
    expected = math.prod(dims)
    payload = (
        draw(st.one_of(st.just(expected), st.integers(0, 80)))
        if expected <= 80
        else draw(st.integers(0, 80))
    )
    blob = struct.pack(f">I{ndim}I", header_magic, *dims) + bytes(
        draw(st.binary(min_size=payload, max_size=payload))
    )
    if draw(st.integers(0, 5)) == 0:
        blob = blob[: draw(st.integers(0, len(blob)))]
    return blob, magic, ndim


@FUZZ
@given(case=idx_blobs())
def test_idx_parser(case):
    blob, magic, ndim = case
    try:
        arr = parse_idx(blob, magic, ndim, "f")
    except ds.DatasetFormatError as err:
        event("refused")
        assert str(err).startswith("f: ")
    else:
        event("accepted")
        dims = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
        assert arr.shape == dims and arr.dtype == np.uint8
        assert 0 not in dims  # no items, or images without pixels: refused
        assert arr.tobytes() == blob[4 + 4 * ndim :]


def test_idx_header_whose_size_overflows_int64_is_refused():
    """2**31 x 2**31 x 4 bytes wraps to 0 in int64: the empty payload must not pass for it."""
    blob = struct.pack(">4I", ds.IMAGE_MAGIC, 2**31, 2**31, 4)
    with pytest.raises(
        ds.DatasetFormatError, match="^f: corrupted header: dimensions 2147483648 x"
    ):
        parse_idx(blob, ds.IMAGE_MAGIC, 3, "f")


def test_idx_header_beyond_any_array_is_refused():
    """0 x (2**32-1) x (2**32-1) holds no data, but no array has that shape."""
    blob = struct.pack(">4I", ds.IMAGE_MAGIC, 0, 2**32 - 1, 2**32 - 1)
    with pytest.raises(
        ds.DatasetFormatError, match="^f: corrupted header: dimensions 0 x 4294967295"
    ):
        parse_idx(blob, ds.IMAGE_MAGIC, 3, "f")


def _images(n: int, rows: int, cols: int) -> tuple[bytes, int, int]:
    return (
        struct.pack(">4I", ds.IMAGE_MAGIC, n, rows, cols) + bytes(n * rows * cols),
        ds.IMAGE_MAGIC,
        3,
    )


def _labels(n: int) -> tuple[bytes, int, int]:
    return struct.pack(">2I", ds.LABEL_MAGIC, n) + bytes(n), ds.LABEL_MAGIC, 1


@FUZZ
@given(
    files=st.lists(idx_blobs(), min_size=4, max_size=4),
    compress=st.lists(st.booleans(), min_size=4, max_size=4),
    dtype=st.sampled_from(("float32", "uint8")),
)
# Found with NANOMLP_FUZZ_EXAMPLES=10000: 0 images of 0 x 0 pixels beside matching labels ended in
# numpy's "cannot reshape array of size 0"; the other degenerate headers loaded as empty arrays.
@example(
    files=[_images(0, 0, 0), _labels(0), _images(1, 1, 1), _labels(1)],
    compress=[False] * 4,
    dtype="float32",
)
@example(
    files=[_images(2, 2, 2), _labels(2), _images(0, 28, 28), _labels(0)],
    compress=[True] * 4,
    dtype="uint8",
)
@example(
    files=[_images(2, 0, 3), _labels(2), _images(1, 1, 1), _labels(1)],
    compress=[False] * 4,
    dtype="float32",
)
@example(
    files=[_images(1, 1, 1), _labels(1), _images(1, 3, 0), _labels(1)],
    compress=[False] * 4,
    dtype="uint8",
)
def test_load_mnist_on_random_files(files, compress, dtype, tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    names = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    for name, (blob, _, _), gz in zip(names, files, compress):
        (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(blob) if gz else blob)
    try:
        (x, y), (xt, yt) = ds.load_mnist(folder, dtype=dtype, verify=False, download=False)
    except ds.DatasetError as err:
        event(f"refused: {type(err).__name__}")
        assert str(folder) in str(err) or "count mismatch" in str(err), str(err)
    else:
        event("accepted")
        assert x.ndim == 2 and len(x) == len(y) and len(xt) == len(yt)
        assert min(x.shape + xt.shape) >= 1  # at least one image of at least one pixel
