"""The classic notebook, reproduced: seed 42, lr 0.01, batch 32, last 5,000 images held out."""

from __future__ import annotations

import numpy as np
import pytest

from nanomlp import MLP, Trainer
from nanomlp.callbacks import format_epoch

# What the notebook printed for its first two epochs.
SEED_LINES = [
    "Epoch 1/2 - Train Loss: 0.3826, Acc: 0.8915 | Val Loss: 0.3095, Acc: 0.9176",
    "Epoch 2/2 - Train Loss: 0.3014, Acc: 0.9132 | Val Loss: 0.2409, Acc: 0.9334",
]
SEED_VALUES = [(0.3826, 0.8915, 0.3095, 0.9176), (0.3014, 0.9132, 0.2409, 0.9334)]
KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def run_seed(mnist, backend: str, dtype: str) -> dict:
    (x_train, y_train), _ = mnist
    x_val, y_val = x_train[-5000:], y_train[-5000:]
    x_sub, y_sub = x_train[:-5000], y_train[:-5000]
    # The notebook passes one-hot labels; so do we, to take the same path a user of it would.
    eye = np.eye(10)
    model = MLP((784, 128, 64, 10), seed=42, dtype=dtype)
    trainer = Trainer(model, lr=0.01, batch_size=32, epochs=2, backend=backend)
    return trainer.fit(x_sub, eye[y_sub], validation_data=(x_val, eye[y_val])).history


@pytest.fixture(scope="module")
def numpy_history(mnist):
    return run_seed(mnist, "numpy", "float64")


@pytest.fixture(scope="module")
def native_history(mnist):
    return run_seed(mnist, "native", "float32")


def test_numpy_float64_prints_the_seeds_numbers(numpy_history, capsys):
    lines = [format_epoch(e, 2, {k: numpy_history[k][e] for k in KEYS}) for e in range(2)]
    with capsys.disabled():
        print("\n" + "\n".join(f"numpy float64: {line}" for line in lines))
    assert lines == SEED_LINES


def test_native_is_within_0_003_of_the_seed(native_history, capsys):
    lines = [format_epoch(e, 2, {k: native_history[k][e] for k in KEYS}) for e in range(2)]
    with capsys.disabled():
        print("\n" + "\n".join(f"native float32: {line}" for line in lines))
    for epoch, expected in enumerate(SEED_VALUES):
        got = [native_history[k][epoch] for k in KEYS]
        np.testing.assert_allclose(got, expected, rtol=0, atol=0.003, err_msg=f"epoch {epoch + 1}")
    assert len(native_history["epoch_seconds"]) == 2
    assert all(s > 0 for s in native_history["epoch_seconds"])
