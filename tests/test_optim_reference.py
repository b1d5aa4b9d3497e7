"""The optimizers: their reference updates against torch.optim (foreach=False), and their objects.

Against PyTorch, 20 steps on 1,000 parameters (700 "weights" decayed, 300 "biases" not, as two
parameter groups), a different learning rate at every step, gradients over four decades with
some exact zeros; parameters and every state array compared after the last step:
- float64: each entry within 1e-12 relative (observed: up to 3.3e-13, on entries of RMSprop's
  grad_avg and Adam's exp_avg near zero, where lerp cancels; 3e-16 of the largest magnitude);
- float32: each entry within 5e-7 of the array's largest magnitude, about 4 ulps (observed: up
  to 1.3e-7; relative to the entry itself up to 7e-4, on entries near zero).
They are not equal because PyTorch's vectorised CPU loops fuse ``add(alpha=)``, ``lerp_`` and
``addcmul_`` into one fused multiply-add each (its ``/`` and ``addcdiv_`` are not fused),
where the reference rounds the product and the sum apart, as the engine will. With that fusion
emulated, the same operations in the same order reproduce torch's float32 SGD to the bit.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from nanomlp import MLP, optim, reference
from nanomlp.model import parameter_layout

N_WEIGHTS, N_BIASES, STEPS = 700, 300, 20
DTYPES = [np.float32, np.float64]
CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("sgd", {"weight_decay": 1e-2}),
    ("adam", {}),
    ("adam", {"weight_decay": 1e-2}),
    ("adam", {"amsgrad": True, "weight_decay": 1e-2}),
    ("adam", {"betas": (0.3, 0.4)}),  # lerp weight 0.7: PyTorch's other branch of lerp
    ("adamw", {}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {"weight_decay": 0.0}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "weight_decay": 1e-2}),
    ("rmsprop", {"alpha": 0.3, "centered": True}),
]
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]


def _inputs(dtype):
    rng = np.random.RandomState(1234)
    n = N_WEIGHTS + N_BIASES
    params = rng.randn(n).astype(dtype)
    grads = []
    for _ in range(STEPS):
        g = rng.randn(n) * 10.0 ** rng.uniform(-3, 1, n)
        g[rng.rand(n) < 0.05] = 0.0
        grads.append(g.astype(dtype))
    return params, grads


def _lrs(base: float) -> list[float]:
    return [base * (1 + 0.5 * np.sin(k)) for k in range(STEPS)]


def run_reference(opt: optim.Optimizer, dtype):
    params, grads = _inputs(dtype)
    state = opt.init_state(len(params), dtype)
    decay = np.arange(len(params)) < N_WEIGHTS
    for grad, lr in zip(grads, _lrs(opt.lr)):
        opt.update(params, grad, state, lr, decay)
    return params, state


def run_torch(opt: optim.Optimizer, dtype):
    torch = pytest.importorskip("torch")
    params, grads = _inputs(dtype)
    config = opt.get_config()
    kind = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }[config.pop("name")]
    if "betas" in config:
        config["betas"] = tuple(config["betas"])
    weights = torch.tensor(params[:N_WEIGHTS], requires_grad=True)
    biases = torch.tensor(params[N_WEIGHTS:], requires_grad=True)
    groups = [{"params": [weights]}, {"params": [biases], "weight_decay": 0.0}]
    topt = kind(groups, foreach=False, **config)
    for grad, lr in zip(grads, _lrs(opt.lr)):
        weights.grad = torch.tensor(grad[:N_WEIGHTS])
        biases.grad = torch.tensor(grad[N_WEIGHTS:])
        for group in topt.param_groups:
            group["lr"] = lr
        topt.step()
    state = {}
    for name in opt.state_names:
        state[name] = np.concatenate([topt.state[t][name].numpy() for t in (weights, biases)])
    state["step"] = int(topt.state[weights]["step"]) if "step" in topt.state[weights] else STEPS
    return np.concatenate([weights.detach().numpy(), biases.detach().numpy()]), state


def differences(opt: optim.Optimizer, dtype) -> dict[str, tuple[float, float]]:
    """Per array: (largest relative difference, largest difference / largest magnitude)."""
    (p_ref, s_ref), (p_torch, s_torch) = run_reference(opt, dtype), run_torch(opt, dtype)
    assert s_ref["step"] == s_torch["step"] == STEPS
    out = {}
    for name, a, b in [("params", p_ref, p_torch)] + [
        (n, s_ref[n], s_torch[n]) for n in opt.state_names
    ]:
        assert a.dtype == b.dtype == dtype
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, diff / np.abs(b.astype(np.float64)))
        out[name] = (float(rel.max()), float(diff.max() / np.abs(b).max()))
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_matches_torch(name, kwargs, dtype):
    opt = optim.get_optimizer(name, **kwargs)
    for array, (rel, normwise) in differences(opt, dtype).items():
        if dtype == np.float64:
            assert rel <= 1e-12, f"{array}: relative difference {rel:.3g}"
        else:
            assert normwise <= 5e-7, f"{array}: difference {normwise:.3g} of the largest magnitude"


def test_parameters_move_and_state_fills():
    """The comparison above is not vacuous: every optimizer changes every array."""
    for name, kwargs in CASES:
        opt = optim.get_optimizer(name, **kwargs)
        params, state = run_reference(opt, np.float64)
        assert not np.array_equal(params, _inputs(np.float64)[0])
        for key in opt.state_names:
            assert np.count_nonzero(state[key]) > 0.9 * len(params), (name, kwargs, key)


def test_first_steps_by_hand():
    """Without torch: one step of each rule, written out for a single parameter."""
    g, p, lr = 0.5, 2.0, 0.1
    for name, expected in [
        ("adam", p - lr * g / (abs(g) + 1e-8)),  # m̂ = g, v̂ = g²
        ("rmsprop", p - lr * g / (np.sqrt(0.01 * g * g) + 1e-8)),
        ("sgd", p - lr * g),
    ]:
        opt = optim.get_optimizer(name, lr=lr)
        params, state = np.array([p]), opt.init_state(1, np.float64)
        opt.update(params, np.array([g]), state)
        assert params[0] == pytest.approx(expected, rel=1e-12), name
        assert state["step"] == 1
    # AdamW with a zero gradient: the weight only shrinks by 1 - lr * wd, the bias stays.
    opt = optim.AdamW(lr=lr, weight_decay=0.5)
    params, state = np.array([p, p]), opt.init_state(2, np.float64)
    opt.update(params, np.zeros(2), state, decay=np.array([True, False]))
    assert params.tolist() == [p * (1 - lr * 0.5), p]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_weight_decay_skips_masked_out_entries(name):
    """A masked-out entry steps exactly as with weight_decay=0; a masked-in one does not."""
    params, grads = _inputs(np.float64)
    decay = np.arange(len(params)) < N_WEIGHTS
    with_wd, without = (
        optim.get_optimizer(name, weight_decay=0.1),
        optim.get_optimizer(name, weight_decay=0.0),
    )
    a, b = params.copy(), params.copy()
    sa, sb = with_wd.init_state(len(a), a.dtype), without.init_state(len(b), b.dtype)
    for grad in grads[:3]:
        with_wd.update(a, grad, sa, decay=decay)
        without.update(b, grad, sb, decay=decay)
    assert np.array_equal(a[~decay], b[~decay])
    assert not np.any(a[decay] == b[decay])


def test_weight_decay_mask_is_the_weights():
    sizes = (5, 4, 3)
    mask = optim.weight_decay_mask(sizes)
    model = MLP(sizes, seed=0)
    assert mask.shape == model.params.shape and mask.sum() == 5 * 4 + 4 * 3
    for w, b, end in parameter_layout(sizes):
        assert mask[w:b].all() and not mask[b:end].any()


def test_sgd_object_matches_the_legacy_epoch_bit_for_bit():
    """train_epoch with optim.SGD (flat update) = train_epoch with sgd_step (per tensor)."""
    rng = np.random.RandomState(0)
    x, y = rng.rand(100, 6).astype(np.float32), rng.randint(0, 3, 100)
    order = rng.permutation(100)
    for dtype in ("float32", "float64"):
        legacy, new = MLP((6, 5, 3), seed=1, dtype=dtype), MLP((6, 5, 3), seed=1, dtype=dtype)
        velocity = np.zeros_like(legacy.params)
        vw, vb = [], []
        for w, b, end in parameter_layout(legacy.layer_sizes):
            vw.append(velocity[w:b].reshape(legacy.weights[len(vw)].shape))
            vb.append(velocity[b:end])
        opt = optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
        state = opt.init_state(len(new.params), new.params.dtype)
        for _epoch in range(2):
            reference.train_epoch(
                legacy.weights,
                legacy.biases,
                x,
                y,
                order,
                16,
                0.1,
                momentum=0.9,
                nesterov=True,
                weight_decay=1e-2,
                velocities=vw + vb,
            )
            reference.train_epoch(
                new.weights, new.biases, x, y, order, 16, 0.1, optimizer=opt, state=state
            )
        assert legacy.params.tobytes() == new.params.tobytes()
        assert velocity.tobytes() == state["momentum_buffer"].tobytes()
        assert state["step"] == 14


def test_defaults_are_pytorchs():
    """Every default is PyTorch's, but SGD's lr: 0.01, the notebook's and Trainer's (torch: 1e-3)."""
    torch = pytest.importorskip("torch")
    for ours, theirs in [
        (optim.SGD, torch.optim.SGD),
        (optim.Adam, torch.optim.Adam),
        (optim.AdamW, torch.optim.AdamW),
        (optim.RMSprop, torch.optim.RMSprop),
    ]:
        torch_defaults = inspect.signature(theirs).parameters
        for name, parameter in inspect.signature(ours).parameters.items():
            expected = 0.01 if (ours, name) == (optim.SGD, "lr") else torch_defaults[name].default
            assert parameter.default == expected, (ours.__name__, name)


def test_state_names_and_init_state():
    assert optim.SGD().state_names == ()
    assert optim.SGD(momentum=0.5).state_names == ("momentum_buffer",)
    assert optim.Adam().state_names == ("exp_avg", "exp_avg_sq")
    assert optim.AdamW(amsgrad=True).state_names == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    assert optim.RMSprop().state_names == ("square_avg",)
    assert optim.RMSprop(momentum=0.9, centered=True).state_names == (
        "square_avg",
        "momentum_buffer",
        "grad_avg",
    )
    state = optim.Adam(amsgrad=True).init_state(7, "float64")
    assert set(state) == {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"} and state["step"] == 0
    assert all(
        state[k].dtype == np.float64 and state[k].shape == (7,) and not state[k].any()
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    )
    opt = optim.RMSprop(centered=True)
    opt.check_state(opt.init_state(4), 4)
    with pytest.raises(ValueError, match="grad_avg"):
        opt.check_state({"square_avg": np.zeros(4, np.float32), "step": 0}, 4)
    with pytest.raises(ValueError, match="shape"):
        opt.check_state(opt.init_state(5), 4)


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_config_round_trips_through_json(name, kwargs):
    opt = optim.get_optimizer(name, **kwargs)
    config = json.loads(json.dumps(opt.get_config()))
    assert config["name"] == name
    again = optim.Optimizer.from_config(config)
    assert again == opt and type(again) is type(opt)
    assert type(opt).from_config(config) == opt
    assert optim.get_optimizer(config) == opt


def test_get_optimizer():
    for name, kind in [
        ("sgd", optim.SGD),
        ("Adam", optim.Adam),
        ("ADAMW", optim.AdamW),
        ("rmsprop", optim.RMSprop),
    ]:
        opt = optim.get_optimizer(name)
        assert type(opt) is kind and opt == kind()
    adam = optim.Adam(lr=0.1)
    assert optim.get_optimizer(adam) is adam
    with pytest.raises(
        ValueError, match="unknown optimizer 'adagrad'; known: sgd, adam, adamw, rmsprop"
    ):
        optim.get_optimizer("adagrad")
    with pytest.raises(TypeError, match="optimizer must be"):
        optim.get_optimizer(3)
    with pytest.raises(TypeError, match="keyword"):
        optim.get_optimizer(adam, lr=0.1)
    with pytest.raises(ValueError, match="known"):
        optim.Optimizer.from_config({"name": "lbfgs"})
    with pytest.raises(ValueError, match="config of AdamW"):
        optim.Adam.from_config(optim.AdamW().get_config())


BAD = [
    (optim.SGD, {"lr": -0.1}, ValueError, "lr"),
    (optim.SGD, {"lr": float("nan")}, ValueError, "lr"),
    (optim.SGD, {"lr": 0.0}, ValueError, "lr"),
    (optim.SGD, {"lr": "0.1"}, TypeError, "lr"),
    (optim.SGD, {"momentum": 1.0}, ValueError, "momentum"),
    (optim.SGD, {"momentum": -0.5}, ValueError, "momentum"),
    (optim.SGD, {"nesterov": True}, ValueError, "nesterov"),
    (optim.SGD, {"nesterov": 1, "momentum": 0.9}, TypeError, "nesterov"),
    (optim.SGD, {"weight_decay": -1e-4}, ValueError, "weight_decay"),
    (optim.SGD, {"weight_decay": float("inf")}, ValueError, "weight_decay"),
    (optim.Adam, {"lr": float("nan")}, ValueError, "lr"),
    (optim.Adam, {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\]"),
    (optim.Adam, {"betas": (0.9, -0.1)}, ValueError, r"betas\[1\]"),
    (optim.Adam, {"betas": (0.9, float("nan"))}, ValueError, r"betas\[1\]"),
    (optim.Adam, {"betas": 0.9}, TypeError, "betas"),
    (optim.Adam, {"betas": (0.9, 0.99, 0.999)}, TypeError, "betas"),
    (optim.Adam, {"betas": ("0.9", 0.999)}, TypeError, r"betas\[0\]"),
    (optim.Adam, {"eps": 0.0}, ValueError, "eps"),
    (optim.Adam, {"eps": -1e-8}, ValueError, "eps"),
    (optim.Adam, {"weight_decay": -0.1}, ValueError, "weight_decay"),
    (optim.Adam, {"amsgrad": "yes"}, TypeError, "amsgrad"),
    (optim.AdamW, {"weight_decay": float("nan")}, ValueError, "weight_decay"),
    (optim.AdamW, {"betas": (0.9, 1.0)}, ValueError, r"betas\[1\]"),
    (optim.AdamW, {"lr": None}, TypeError, "lr"),
    (optim.RMSprop, {"alpha": 1.0}, ValueError, "alpha"),
    (optim.RMSprop, {"alpha": -0.01}, ValueError, "alpha"),
    (optim.RMSprop, {"eps": 0}, ValueError, "eps"),
    (optim.RMSprop, {"momentum": 1.5}, ValueError, "momentum"),
    (optim.RMSprop, {"weight_decay": -1.0}, ValueError, "weight_decay"),
    (optim.RMSprop, {"centered": 0}, TypeError, "centered"),
    (optim.RMSprop, {"lr": True}, TypeError, "lr"),
]


@pytest.mark.parametrize(
    "kind, kwargs, error, name", BAD, ids=[f"{k.__name__}-{kw}" for k, kw, _, _ in BAD]
)
def test_bad_settings(kind, kwargs, error, name):
    with pytest.raises(error, match=name):
        kind(**kwargs)


def test_bad_init_state_arguments():
    with pytest.raises(ValueError, match="n_params"):
        optim.Adam().init_state(-1)
    with pytest.raises(TypeError, match="n_params"):
        optim.Adam().init_state(3.0)
    with pytest.raises(ValueError, match="dtype"):
        optim.Adam().init_state(3, "float16")
