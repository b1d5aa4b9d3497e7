"""
Fashion-MNIST, with class names
===============================

Fashion-MNIST has MNIST's shape (28×28 grey images, ten classes, 60,000 + 10,000) but its
classes are clothes, and harder to tell apart. Its loader returns the class names with the
data, and the plots use them.

The data is read offline, from wherever ``load_fashion_mnist`` finds it: ``$NANOMLP_DATA``,
nanomlp's cache, a Keras or torchvision copy, or Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``); the project's CI unpacks that package into the
build's own cache. ``nanomlp data download fashion-mnist`` fills the cache where there is a
network.
"""

# %%
# Load the data and its class names
# ---------------------------------
from nanomlp import MLP, Trainer, datasets
from nanomlp.plotting import plot_confusion_matrix, plot_history, plot_predictions

print(datasets.class_names("fashion-mnist"))  # known without loading anything
(x_train, y_train), (x_test, y_test) = data = datasets.load_fashion_mnist()
print(data.task, x_train.shape, y_train[:10])
names = data.class_names

# %%
# Train
# -----
# The notebook's network, with Adam and a few epochs.
model = MLP((784, 128, 64, 10), seed=0)
trainer = Trainer(model, optimizer="adam", batch_size=128, epochs=5)
history = trainer.fit(
    x_train[:-5000],
    y_train[:-5000],
    validation_data=(x_train[-5000:], y_train[-5000:]),
    verbose=2,
)
test_loss, test_acc = trainer.evaluate(x_test, y_test)
print(f"test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
fig = plot_history(history)

# %%
# Predictions, titled with the class names
# ----------------------------------------
fig = plot_predictions(model, x_test, y_test, n=10, class_names=names)

# %%
# Which classes are confused
# --------------------------
# Shirts, T-shirts, pullovers and coats are mistaken for one another far more than trousers or
# bags are.
fig = plot_confusion_matrix(y_test, trainer.predict(x_test), labels=names)
