"""
Multi-label: two yes/no questions per digit
===========================================

``load_mnist_multilabel`` gives MNIST with two labels per image, "digit ≥ 5" and "odd", as a
float32 (N, 2) matrix of 0s and 1s. The network ends in one sigmoid per label and trains with
binary cross-entropy; ``evaluate`` reports the exact-match accuracy (both labels right), and
``predict`` returns 0/1 per label.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np

from nanomlp import MLP, Trainer
from nanomlp.datasets import load_mnist, load_mnist_multilabel
from nanomlp.plotting import plot_history

(x, y), (x_test, y_test) = data = load_mnist_multilabel()
print(data.task, data.target_names, y[:4])

# %%
# Train
# -----
model = MLP((784, 128, 2), loss="binary_cross_entropy", seed=0)
trainer = Trainer(model, optimizer="adam", epochs=3)
history = trainer.fit(x[:-5000], y[:-5000], validation_data=(x[-5000:], y[-5000:]), verbose=2)
loss, exact = trainer.evaluate(x_test, y_test)
print(f"test loss {loss:.4f}, exact-match accuracy {exact:.4f}")
fig = plot_history(history)

# %%
# Each label on its own
# ---------------------
# ``predict_proba`` gives each label's probability; a label is 1 when it is above 0.5.
predicted = trainer.predict(x_test)
for j, name in enumerate(data.target_names):
    print(f"{name!r}: accuracy {np.mean(predicted[:, j] == y_test[:, j]):.4f}")

# %%
# The first test digits, with both answers
# ----------------------------------------
_, (_, digits) = load_mnist()
fig, axes = plt.subplots(2, 5, figsize=(8, 3.8))
for i, ax in enumerate(axes.flat):
    ax.imshow(x_test[i].reshape(28, 28), cmap="gray")
    wrong = not np.array_equal(predicted[i], y_test[i])
    ge5, odd = (bool(v) for v in predicted[i])
    ax.set_title(f"{digits[i]}: ≥5 {ge5:d}, odd {odd:d}", color="tab:red" if wrong else "black")
    ax.axis("off")
fig.tight_layout()
