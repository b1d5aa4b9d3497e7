"""Learning-rate schedules: closed-form formulas (no torch), and torch.optim.lr_scheduler.

Against PyTorch every schedule is stepped once per batch for 300 steps and agrees within
rtol 1e-12. Observed: OneCycleLR equal to the bit (PyTorch computes it in closed form too);
the schedules whose PyTorch ``step()`` is recursive differ by accumulated rounding, at most
2.3e-15 relative, but 8.1e-14 for the cosine with T_max=30 that runs through ten half-periods
(relative to the small rates near its troughs). The plain-Python formulas agree to the bit.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nanomlp import schedules as S

BASE_LR, N = 0.1, 300

CASES = [
    S.Constant(),
    S.StepLR(30, gamma=0.5),
    S.StepLR(7),
    S.MultiStepLR([250, 50, 120, 120], gamma=0.3),
    S.ExponentialLR(0.99),
    S.CosineAnnealingLR(100),  # 300 steps: past T_max the cosine rises again, as in PyTorch
    S.CosineAnnealingLR(200, eta_min=1e-4),
    S.CosineAnnealingLR(250, eta_min=1e-3, warmup_steps=50, warmup_start_factor=0.1),
    S.CosineAnnealingLR(30, warmup_steps=5),
    S.OneCycleLR(0.5, N),
    S.OneCycleLR(0.5, N, pct_start=0.25, anneal_strategy="linear", three_phase=True),
    S.OneCycleLR(1.0, N, pct_start=0.4, div_factor=10.0, final_div_factor=100.0),
]
IDS = [repr(c) for c in CASES]


def closed_form(schedule: S.Schedule, base: float, k: int) -> float:
    """Each schedule's formula, written out again in plain Python, one step at a time."""
    c = schedule.get_config()
    name = c["name"]
    if name == "constant":
        return base
    if name == "step":
        return base * c["gamma"] ** (k // c["step_size"])
    if name == "multistep":
        return base * c["gamma"] ** sum(m <= k for m in c["milestones"])
    if name == "exponential":
        return base * c["gamma"] ** k
    if name == "cosine":
        w, f = c["warmup_steps"], c["warmup_start_factor"]
        if k < w:
            return base * (f + (1 - f) * k / w)
        return (
            c["eta_min"]
            + (base - c["eta_min"]) * (1 + math.cos(math.pi * (k - w) / c["T_max"])) / 2
        )
    assert name == "onecycle"
    total, pct = c["total_steps"], c["pct_start"]
    lo, hi = c["max_lr"] / c["div_factor"], c["max_lr"]
    end = lo / c["final_div_factor"]
    if c["three_phase"]:
        phases = [(pct * total - 1, lo, hi), (2 * pct * total - 2, hi, lo), (total - 1, lo, end)]
    else:
        phases = [(pct * total - 1, lo, hi), (total - 1, hi, end)]
    start = 0.0
    for i, (stop, a, b) in enumerate(phases):
        if k <= stop or i == len(phases) - 1:
            t = (k - start) / (stop - start)
            if c["anneal_strategy"] == "cos":
                return b + (a - b) / 2 * (math.cos(math.pi * t) + 1)
            return (b - a) * t + a
        start = stop
    raise AssertionError


def torch_rates(schedule: S.Schedule, base: float, n: int) -> np.ndarray:
    """The rate of each of n optimizer steps, the scheduler stepped after each one."""
    torch = pytest.importorskip("torch")
    lrs = torch.optim.lr_scheduler
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    c = schedule.get_config()
    name = c.pop("name")
    if name == "constant":
        sched = lrs.ConstantLR(opt, factor=1.0, total_iters=0)
    elif name == "step":
        sched = lrs.StepLR(opt, **c)
    elif name == "multistep":
        sched = lrs.MultiStepLR(opt, **c)
    elif name == "exponential":
        sched = lrs.ExponentialLR(opt, **c)
    elif name == "cosine" and c["warmup_steps"] == 0:
        sched = lrs.CosineAnnealingLR(opt, T_max=c["T_max"], eta_min=c["eta_min"])
    elif name == "cosine":
        warm = lrs.LinearLR(
            opt,
            start_factor=c["warmup_start_factor"],
            end_factor=1.0,
            total_iters=c["warmup_steps"],
        )
        cos = lrs.CosineAnnealingLR(opt, T_max=c["T_max"], eta_min=c["eta_min"])
        sched = lrs.SequentialLR(opt, [warm, cos], milestones=[c["warmup_steps"]])
    else:
        sched = lrs.OneCycleLR(opt, cycle_momentum=False, **c)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("schedule", CASES, ids=IDS)
def test_matches_torch_stepped_per_batch(schedule):
    ours = schedule.values(BASE_LR, 0, N)
    theirs = torch_rates(schedule, BASE_LR, N)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("schedule", CASES, ids=IDS)
def test_matches_closed_form(schedule):
    values = schedule.values(BASE_LR, 0, N)
    assert values.dtype == np.float64 and values.shape == (N,)
    expected = [closed_form(schedule, BASE_LR, k) for k in range(N)]
    np.testing.assert_allclose(values, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("schedule", CASES, ids=IDS)
def test_any_window_is_a_slice_of_the_whole_run(schedule):
    """Epoch by epoch (any first step, any length) gives the same rates to the bit."""
    whole = schedule.values(BASE_LR, 0, N)
    for first, n in [(0, 1), (1, 63), (63, 63), (126, 174), (299, 1), (10, 0)]:
        assert schedule.values(BASE_LR, first, n).tobytes() == whole[first : first + n].tobytes()


def test_landmarks():
    cos = S.CosineAnnealingLR(100, eta_min=0.002, warmup_steps=10, warmup_start_factor=0.25)
    v = cos.values(0.2, 0, 211)
    assert v[0] == 0.2 * 0.25 and v[10] == 0.2 and v[110] == 0.002 and v[210] == pytest.approx(0.2)
    assert np.all(np.diff(v[:11]) > 0) and np.all(np.diff(v[10:111]) < 0)
    one = S.OneCycleLR(2.0, 100, pct_start=0.3, div_factor=20.0, final_div_factor=50.0)
    v = one.values(123.0, 0, 100)  # base_lr is not used
    assert v[0] == pytest.approx(2.0 / 20, rel=1e-15) and v[29] == 2.0
    assert v[99] == pytest.approx(2.0 / 20 / 50, rel=1e-15)
    assert v.argmax() == 29
    step = S.StepLR(3, gamma=0.5).values(1.0, 0, 9)
    assert step.tolist() == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert S.MultiStepLR([2, 2, 4], gamma=0.1).values(1.0, 0, 5).tolist() == pytest.approx(
        [1, 1, 0.01, 0.01, 0.001]
    )
    assert S.Constant().values(0.3, 5, 4).tolist() == [0.3] * 4


def test_onecycle_refuses_steps_past_its_end():
    one = S.OneCycleLR(0.1, 50)
    assert len(one.values(1.0, 40, 10)) == 10
    with pytest.raises(ValueError, match="total_steps"):
        one.values(1.0, 40, 11)


@pytest.mark.parametrize("schedule", CASES, ids=IDS)
def test_config_round_trips_through_json(schedule):
    config = json.loads(json.dumps(schedule.get_config()))
    again = S.Schedule.from_config(config)
    assert again == schedule and type(again) is type(schedule)
    assert type(schedule).from_config(config) == schedule
    assert (
        S.get_schedule(config).values(BASE_LR, 0, N).tobytes()
        == schedule.values(BASE_LR, 0, N).tobytes()
    )


def test_get_schedule():
    assert S.get_schedule(None) == S.Constant() == S.get_schedule("constant")
    assert S.get_schedule("Cosine", T_max=10, warmup_steps=2) == S.CosineAnnealingLR(
        10, warmup_steps=2
    )
    assert S.get_schedule("step", step_size=4) == S.StepLR(4)
    one = S.OneCycleLR(0.1, 100)
    assert S.get_schedule(one) is one
    with pytest.raises(
        ValueError, match="unknown schedule 'linear'; known: constant, step, multistep"
    ):
        S.get_schedule("linear")
    with pytest.raises(TypeError, match="schedule must be"):
        S.get_schedule(0.1)
    with pytest.raises(TypeError, match="keyword"):
        S.get_schedule(one, total_steps=5)
    with pytest.raises(ValueError, match="config of StepLR"):
        S.ExponentialLR.from_config(S.StepLR(3).get_config())


BAD = [
    (S.StepLR, {"step_size": 0}, ValueError, "step_size"),
    (S.StepLR, {"step_size": 2.5}, TypeError, "step_size"),
    (S.StepLR, {"step_size": 3, "gamma": 0.0}, ValueError, "gamma"),
    (S.StepLR, {"step_size": 3, "gamma": float("nan")}, ValueError, "gamma"),
    (S.MultiStepLR, {"milestones": [10, -1]}, ValueError, r"milestones\[1\]"),
    (S.MultiStepLR, {"milestones": 10}, TypeError, "milestones"),
    (S.MultiStepLR, {"milestones": [1.5]}, TypeError, r"milestones\[0\]"),
    (S.MultiStepLR, {"milestones": [3], "gamma": -0.1}, ValueError, "gamma"),
    (S.ExponentialLR, {"gamma": float("inf")}, ValueError, "gamma"),
    (S.ExponentialLR, {"gamma": "0.9"}, TypeError, "gamma"),
    (S.CosineAnnealingLR, {"T_max": 0}, ValueError, "T_max"),
    (S.CosineAnnealingLR, {"T_max": 10, "eta_min": -1e-3}, ValueError, "eta_min"),
    (S.CosineAnnealingLR, {"T_max": 10, "warmup_steps": -1}, ValueError, "warmup_steps"),
    (
        S.CosineAnnealingLR,
        {"T_max": 10, "warmup_start_factor": 0.0},
        ValueError,
        "warmup_start_factor",
    ),
    (
        S.CosineAnnealingLR,
        {"T_max": 10, "warmup_start_factor": 1.5},
        ValueError,
        "warmup_start_factor",
    ),
    (S.OneCycleLR, {"max_lr": 0.0, "total_steps": 10}, ValueError, "max_lr"),
    (S.OneCycleLR, {"max_lr": 0.1, "total_steps": 0}, ValueError, "total_steps"),
    (S.OneCycleLR, {"max_lr": 0.1, "total_steps": 10, "pct_start": 1.0}, ValueError, "pct_start"),
    (S.OneCycleLR, {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.1}, ValueError, "pct_start"),
    (
        S.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.55, "three_phase": True},
        ValueError,
        "pct_start",
    ),
    (
        S.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "exp"},
        ValueError,
        "anneal_strategy",
    ),
    (S.OneCycleLR, {"max_lr": 0.1, "total_steps": 10, "div_factor": 0}, ValueError, "div_factor"),
    (
        S.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "final_div_factor": -1.0},
        ValueError,
        "final_div_factor",
    ),
    (
        S.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "three_phase": "no"},
        TypeError,
        "three_phase",
    ),
]


@pytest.mark.parametrize(
    "kind, kwargs, error, name", BAD, ids=[f"{k.__name__}-{kw}" for k, kw, _, _ in BAD]
)
def test_bad_arguments(kind, kwargs, error, name):
    with pytest.raises(error, match=name):
        kind(**kwargs)


@pytest.mark.parametrize(
    "args, error, name",
    [
        ((0.0, 0, 5), ValueError, "base_lr"),
        ((float("nan"), 0, 5), ValueError, "base_lr"),
        ((0.1, -1, 5), ValueError, "first_step"),
        ((0.1, 0, -5), ValueError, "n_steps"),
        ((0.1, 0.5, 5), TypeError, "first_step"),
    ],
)
def test_bad_values_arguments(args, error, name):
    with pytest.raises(error, match=name):
        S.StepLR(3).values(*args)
