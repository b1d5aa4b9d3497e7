"""
The original notebook, step by step
===================================

nanomlp grew out of a NumPy notebook that trained a 784-128-64-10 network on MNIST with plain
minibatch SGD (learning rate 0.01, batch 32, ten epochs, seed 42), held out the last 5,000
training images for validation, printed one line per epoch, then drew its loss and accuracy
curves and its predictions on the first test digits. Here is the same experiment, one notebook
cell at a time, on nanomlp's C++ engine.
"""

# %%
# Load MNIST
# ----------
# The notebook loaded MNIST through Keras, scaled the pixels to [0, 1] and flattened each image
# to 784 values. ``load_mnist`` returns exactly that: float32 (N, 784) in [0, 1] and int64
# labels. (The notebook also one-hot encoded the labels; nanomlp takes class ids or one-hot
# rows alike.)
from nanomlp import MLP, Trainer
from nanomlp.datasets import load_mnist
from nanomlp.plotting import plot_history, plot_predictions

(x_train, y_train), (x_test, y_test) = load_mnist()
print(x_train.shape, x_train.dtype, y_train[:10])

# %%
# Split off a validation set
# --------------------------
# The last 5,000 training images, as the notebook did.
x_val, y_val = x_train[-5000:], y_train[-5000:]
x_train_sub, y_train_sub = x_train[:-5000], y_train[:-5000]

# %%
# Initialise the weights
# ----------------------
# ``np.random.seed(42)`` then ``randn(fan_in, fan_out) * sqrt(1 / fan_in)`` per layer and zero
# biases: ``init="notebook"``, the default.
model = MLP(layer_sizes=(784, 128, 64, 10), seed=42)
print([w.shape for w in model.weights])

# %%
# Train
# -----
# Ten epochs of plain SGD at 0.01 with batches of 32, one line per epoch (``verbose=2``) in
# the notebook's format. Each epoch is one native call.
trainer = Trainer(model, lr=0.01, batch_size=32, epochs=10)
history = trainer.fit(x_train_sub, y_train_sub, validation_data=(x_val, y_val), verbose=2)

# %%
# Evaluate on the test set
# ------------------------
# The notebook printed ``Test Loss: 0.1362, Test Accuracy: 0.9611`` from float64 NumPy. The
# engine computes in float32, so the last digits drift; ``Trainer(model, backend="numpy")``
# with ``MLP(..., dtype="float64")`` reproduces the notebook's numbers to the digit.
test_loss, test_acc = trainer.evaluate(x_test, y_test)
print(f"Test Loss: {test_loss:.4f}, Test Accuracy: {test_acc:.4f}")

# %%
# The curves
# ----------
# The notebook's ``plot_metrics``: loss and accuracy over the epochs, training and validation.
fig = plot_history(history)

# %%
# The predictions
# ---------------
# The notebook's ``visualize_predictions`` drew the first ten test digits one by one, titled
# with the predicted and the true label; here they share one figure, a mistake drawn in red.
fig = plot_predictions(model, x_test, y_test, n=10)
