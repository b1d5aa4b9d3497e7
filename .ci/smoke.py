"""A few training steps on random data: the check that a built wheel works, run where it is
installed (.ci/package, and cibuildwheel's test-command on every platform it builds for)."""

import numpy as np

import nanomlp
from nanomlp import MLP, Trainer

rng = np.random.default_rng(0)
x = rng.random((256, 20), dtype=np.float32)
y = (x[:, 0] > 0.5).astype(np.int64)
model = MLP((20, 16, 2), seed=0)
trainer = Trainer(model, lr=0.1, batch_size=32, epochs=3)
history = trainer.fit(x, y)
loss, accuracy = trainer.evaluate(x, y)
losses = history.history["train_loss"]
assert len(losses) == 3 and np.isfinite(losses).all(), losses
assert losses[-1] < losses[0], losses  # it learns
assert trainer.predict_proba(x[:4]).shape == (4, 2)
print(
    f"nanomlp {nanomlp.__version__}: loss {losses[0]:.4f} -> {losses[-1]:.4f}, accuracy {accuracy:.3f}"
)
