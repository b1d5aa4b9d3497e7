"""Trainer and MLP under every loss: targets, predictions, metrics, weights, callbacks and
model files (the engine's losses themselves are checked in test_losses.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, EarlyStopping, Trainer
from nanomlp.losses import r2_score


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 2))).astype(np.float32)
    labels = (x[:, :3] > 0).astype(np.float32)
    return x, y, labels


def fitted(loss, n_out, x, y, backend="native", **kwargs):
    trainer = Trainer(
        MLP((5, 16, n_out), seed=0),
        loss=loss,
        optimizer="adam",
        lr=1e-2,
        epochs=15,
        backend=backend,
        **kwargs,
    )
    history = trainer.fit(x, y, validation_data=(x, y))
    return trainer, history


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_regression_fits_and_reports_r2(data, loss, backend):
    x, y, _ = data
    trainer, history = fitted(loss, 2, x, y, backend)
    assert set(history.history) == {"train_loss", "train_r2", "val_loss", "val_r2", "epoch_seconds"}
    loss_value, r2 = trainer.evaluate(x, y)
    assert r2 > 0.9 and r2 == pytest.approx(r2_score(y, trainer.predict(x)), abs=1e-9)
    assert history.history["train_r2"][-1] == pytest.approx(r2)
    assert trainer.predict(x).shape == (400, 2)
    with pytest.raises(ValueError, match="predict_proba is for classification.*regression"):
        trainer.predict_proba(x)


def test_one_target_takes_and_gives_1d(data):
    x, y, _ = data
    trainer, _ = fitted("mse", 1, x, y[:, 0])
    assert trainer.predict(x).shape == (400,)
    assert trainer.evaluate(x, y[:, 0]) == trainer.evaluate(x, y[:, :1])


def test_native_and_numpy_agree(data):
    x, y, labels = data
    for loss, target in (("huber", y), ("binary_cross_entropy", labels)):
        a, _ = fitted(
            loss, target.shape[1], x, target, "native", delta=0.5 if loss == "huber" else None
        )
        b, _ = fitted(
            loss, target.shape[1], x, target, "numpy", delta=0.5 if loss == "huber" else None
        )
        np.testing.assert_allclose(a.model.params, b.model.params, rtol=1e-4, atol=1e-5)


def test_binary_cross_entropy_multilabel(data):
    x, _, labels = data
    trainer, history = fitted("binary_cross_entropy", 3, x, labels)
    assert "train_acc" in history.history
    proba = trainer.predict_proba(x)
    assert proba.shape == (400, 3) and ((proba >= 0) & (proba <= 1)).all()
    pred = trainer.predict(x)
    assert pred.dtype == np.int64 and np.array_equal(pred, (proba >= 0.5).astype(np.int64))
    _, accuracy = trainer.evaluate(x, labels)
    assert accuracy == pytest.approx(np.mean(np.all(pred == labels, axis=1)))
    assert accuracy > 0.9


def test_binary_with_one_output_takes_1d_labels(data):
    x, _, labels = data
    trainer, _ = fitted("binary_cross_entropy", 1, x, labels[:, 0].astype(np.int64))
    assert trainer.predict_proba(x).shape == (400, 1) and trainer.evaluate(x, labels[:, 0])[1] > 0.9


@pytest.mark.parametrize(
    "loss, y, message",
    [
        ("mse", np.zeros((400, 3)), r"y must have shape \(400, 2\)"),
        ("mse", np.full((400, 2), np.nan), "y must be finite"),
        ("huber", np.full((400, 2), np.inf), "y must be finite"),
        ("binary_cross_entropy", np.full((400, 2), 0.5), "y must hold only 0 and 1"),
        ("binary_cross_entropy", np.zeros(400), r"y must have shape \(400, 2\)"),
    ],
)
def test_bad_targets_are_refused(data, loss, y, message):
    x = data[0]
    trainer = Trainer(MLP((5, 4, 2), seed=0), loss=loss)
    for call in (trainer.fit, trainer.evaluate, trainer.train_epoch):
        with pytest.raises(ValueError, match=message):
            call(x, y)


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="loss must be one of"):
        Trainer(MLP((5, 4, 2)), loss="hinge")
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        Trainer(MLP((5, 4, 2)), loss="huber", delta=0.0)
    with pytest.raises(ValueError, match="label_smoothing is cross-entropy's"):
        Trainer(MLP((5, 4, 2)), loss="mse", label_smoothing=0.1)
    with pytest.raises(ValueError, match="class_weight needs class ids"):
        Trainer(MLP((5, 4, 2)), loss="mse").fit(
            np.zeros((3, 5)), np.zeros((3, 2)), class_weight="balanced"
        )


def test_sample_weight_zero_rows_do_not_count(data):
    x, y, _ = data
    weights = np.r_[np.ones(200), np.zeros(200)]
    a = Trainer(MLP((5, 8, 2), seed=0), loss="mse", epochs=2, batch_size=400)
    a.fit(x, y, sample_weight=weights)
    y_noise = y.copy()
    y_noise[200:] = 100.0
    b = Trainer(MLP((5, 8, 2), seed=0), loss="mse", epochs=2, batch_size=400)
    b.fit(x, y_noise, sample_weight=weights)
    np.testing.assert_array_equal(a.model.params, b.model.params)


def test_early_stopping_on_val_loss_and_r2(data):
    x, y, _ = data
    for monitor in ("val_loss", "val_r2"):
        trainer = Trainer(MLP((5, 8, 2), seed=0), loss="mse", epochs=200, lr=1e-3)
        history = trainer.fit(
            x,
            y,
            validation_data=(x, y),
            callbacks=[EarlyStopping(monitor, patience=0, min_delta=10.0)],
        )
        assert len(history.epoch) == 2


def test_model_carries_its_loss(data, tmp_path):
    x, y, _ = data
    model = MLP((5, 8, 2), seed=0, loss="huber", delta=0.25)
    trainer = Trainer(model, epochs=2)
    assert (
        trainer.loss == "huber" and trainer.delta == 0.25 and model.output_activation == "identity"
    )
    trainer.fit(x, y)
    model.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    assert loaded.loss == "huber" and loaded.delta == 0.25 and "loss='huber'" in repr(loaded)
    np.testing.assert_array_equal(Trainer(loaded).predict(x), trainer.predict(x))
    # A loss given to the Trainer becomes the model's.
    other = MLP((5, 8, 2), seed=0)
    Trainer(other, loss="mse")
    assert other.loss == "mse"


def test_older_files_load_as_cross_entropy(tmp_path):
    path = tmp_path / "m.npz"
    MLP((4, 3, 2), seed=0, loss="mse").save(path)
    with np.load(path) as z:
        entries = {k: z[k] for k in z.files if k not in ("loss", "delta")}
    entries["format_version"] = np.array(3)
    np.savez(path, **entries)
    assert MLP.load(path).loss == "cross_entropy"
