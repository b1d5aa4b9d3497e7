"""Trainer with the optimizers, schedules, dropout, clipping and weights: resumed runs, thread
counts, the reference, and the errors a user sees."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, Trainer, optim, schedules


def _fit(model, x, y, epochs=2, initial_epoch=0, threads=1, backend="native", **options):
    trainer = Trainer(model, batch_size=64, threads=threads, backend=backend, **options)
    return trainer, trainer.fit(x, y, epochs=epochs, initial_epoch=initial_epoch)


OPTIONS = {
    "adam+onecycle+dropout": dict(
        optimizer=optim.Adam(lr=1e-3),
        lr_schedule=schedules.OneCycleLR(max_lr=3e-3, total_steps=4 * 32),
    ),
    "rmsprop+clip": dict(optimizer="rmsprop", lr=1e-3, clip_norm=1.0, clip_value=0.05),
    "adamw+cosine": dict(
        optimizer=optim.AdamW(lr=2e-3, amsgrad=True),
        lr_schedule=schedules.CosineAnnealingLR(T_max=100, warmup_steps=10),
    ),
    "sgd-nesterov+step": dict(
        lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4, lr_schedule=schedules.StepLR(20)
    ),
}


@pytest.mark.parametrize("name", OPTIONS)
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, mnist_subset, name):
    """The optimizer's state, the schedule's step and the dropout masks all resume."""
    x, y = mnist_subset
    dropout = 0.2 if "dropout" in name else 0.0
    whole, _ = _fit(MLP(seed=3, dropout=dropout), x, y, epochs=4, **OPTIONS[name])
    first = MLP(seed=3, dropout=dropout)
    _fit(first, x, y, epochs=2, **OPTIONS[name])
    first.save(tmp_path / "m.npz")
    resumed = MLP.load(tmp_path / "m.npz")
    assert resumed.optimizer_state["step"] == 2 * 32
    _fit(resumed, x, y, epochs=4, initial_epoch=2, **OPTIONS[name])
    assert np.array_equal(resumed.params, whole.model.params)
    for key, value in whole.model.optimizer_state.items():
        assert np.array_equal(resumed.optimizer_state[key], value), key


@pytest.mark.parametrize("name", OPTIONS)
def test_any_thread_count_gives_the_same_bits(mnist_subset, name):
    x, y = mnist_subset
    dropout = (0.3, 0.1)
    results = [
        _fit(MLP(seed=5, dropout=dropout), x, y, threads=t, **OPTIONS[name])[0].model.params
        for t in (1, 2, 3)
    ]
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


@pytest.mark.parametrize("name", OPTIONS)
def test_native_follows_the_reference(mnist_subset, name):
    """One epoch on 2,000 images, float32 engine against the float64 reference."""
    x, y = mnist_subset
    native, _ = _fit(MLP(seed=7, dropout=0.1), x, y, epochs=1, **OPTIONS[name])
    ref_model = MLP(seed=7, dtype="float64", dropout=0.1)
    reference, _ = _fit(ref_model, x, y, epochs=1, backend="numpy", **OPTIONS[name])
    assert np.abs(native.model.params - reference.model.params).max() < 2e-4
    assert not np.array_equal(native.model.params, MLP(seed=7).params)


def test_adam_learns_faster_than_the_notebooks_sgd(mnist_subset):
    x, y = mnist_subset
    _, sgd = _fit(MLP(seed=1), x, y, epochs=2)
    _, adam = _fit(MLP(seed=1), x, y, epochs=2, optimizer="adam")
    assert adam.history["train_loss"][-1] < 0.8 * sgd.history["train_loss"][-1]


def test_balanced_class_weight_is_the_sample_weight_it_stands_for(mnist_subset):
    x, y = mnist_subset
    counts = np.bincount(y, minlength=10)
    per_row = (len(y) / (10 * counts))[y]
    a = Trainer(MLP(seed=2), optimizer="adam", batch_size=64, epochs=1)
    a.fit(x, y, class_weight="balanced")
    b = Trainer(MLP(seed=2), optimizer="adam", batch_size=64, epochs=1)
    b.fit(x, y, sample_weight=per_row)
    c = Trainer(MLP(seed=2), optimizer="adam", batch_size=64, epochs=1)
    c.fit(x, y)
    assert np.array_equal(a.model.params, b.model.params)
    assert not np.array_equal(a.model.params, c.model.params)


def test_a_row_of_weight_zero_is_not_learnt_from(mnist_subset):
    """Batches of (row, row of weight 0) take the steps of batches of the first row alone."""
    x, y = mnist_subset
    alone = Trainer(MLP(seed=2), optimizer="adam", batch_size=1)
    alone.train_epoch(x[:40], y[:40])
    paired = Trainer(MLP(seed=2), optimizer="adam", batch_size=2)
    order = np.stack([np.arange(40), np.arange(40, 80)], axis=1).ravel()
    weights = np.r_[np.ones(40), np.zeros(40)]
    paired.train_epoch(x[:80], y[:80], order, sample_weight=weights)
    assert np.abs(alone.model.params - paired.model.params).max() < 1e-6
    assert not np.array_equal(alone.model.params, MLP(seed=2).params)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(optimizer="adamx"), ValueError, "adamx"),
        (dict(optimizer=optim.Adam(), lr=0.1), ValueError, "lr"),
        (dict(optimizer="adam", momentum=0.9), ValueError, "momentum"),
        (dict(optimizer=3), TypeError, "optimizer"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(optimizer="adam", lr=float("nan")), ValueError, "lr"),
        (dict(lr_schedule="sometimes"), ValueError, "sometimes"),
        (dict(clip_norm=0.0), ValueError, "clip_norm"),
        (dict(clip_value=-1.0), ValueError, "clip_value"),
    ],
)
def test_bad_training_options(kwargs, error, name):
    with pytest.raises(error, match=name):
        Trainer(MLP([4, 3, 2]), **kwargs)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, -0.1), (0.9, float("nan"))])
def test_bad_betas(betas):
    with pytest.raises(ValueError, match="beta"):
        Trainer(MLP([4, 3, 2]), optimizer=optim.Adam(betas=betas))


@pytest.mark.parametrize("dropout", [1.0, -0.1, float("nan"), (0.1,), (0.1, 0.2, 0.3)])
def test_bad_dropout(dropout):
    with pytest.raises(ValueError, match="dropout"):
        MLP([4, 3, 3, 2], dropout=dropout)


@pytest.mark.parametrize(
    "weights, message",
    [
        (dict(sample_weight=np.ones(5)), "sample_weight"),
        (dict(sample_weight=-np.ones(6)), "sample_weight"),
        (dict(sample_weight=np.zeros(6)), "sample_weight"),
        (dict(sample_weight=np.full(6, np.nan)), "sample_weight"),
        (dict(class_weight="even"), "class_weight"),
        (dict(class_weight={0: -1.0}), "class_weight"),
        (dict(class_weight={0: 0.0, 1: 0.0}), "class_weight"),
    ],
)
def test_bad_weights(weights, message):
    x = np.zeros((6, 4), np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        Trainer(MLP([4, 3, 2])).fit(x, y, **weights)


def test_a_model_file_keeps_dropout_and_the_optimizer(tmp_path, mnist_subset):
    x, y = mnist_subset
    model = MLP(seed=4, dropout=(0.5, 0.25))
    Trainer(model, optimizer="adam", epochs=1).fit(x[:200], y[:200])
    model.save(tmp_path / "m.npz")
    back = MLP.load(tmp_path / "m.npz")
    assert back.dropout == (0.5, 0.25) and back.dropout_seed == model.dropout_seed
    assert back.optimizer_config == optim.Adam().get_config()
    assert back.optimizer_state["step"] == model.optimizer_state["step"] == 7
    # Another optimizer starts its own state; the same one continues.
    assert Trainer(back, optimizer="adam").get_optimizer_state()["step"] == 7
    assert Trainer(back, optimizer="rmsprop").get_optimizer_state()["step"] == 0
