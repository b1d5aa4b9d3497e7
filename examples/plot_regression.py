"""
Regression: diabetes
====================

scikit-learn's diabetes data (442 patients, ten standardized features, the disease's
progression after a year) with nanomlp's own seeded 80/20 split. A regression network has a
linear output and a squared-error (``"mse"``) or Huber loss; ``evaluate`` returns the loss
and R². ``MLPRegressor`` is scikit-learn's estimator of the same name on the engine.
Needs scikit-learn (``pip install "nanomlp[sklearn]"``) for the data and the estimator.
"""

# %%
# With the Trainer
# ----------------
# The progression (about 25 to 346) is divided by 100, so the targets are of order one.
from nanomlp import MLP, MLPRegressor, Trainer
from nanomlp.datasets import load_diabetes
from nanomlp.plotting import plot_history, plot_regression

(x, y), (x_test, y_test) = data = load_diabetes()
print(data.task, x.shape, y.dtype)

trainer = Trainer(MLP((10, 32, 1), loss="mse", seed=0), optimizer="adam", lr=1e-3, epochs=100)
history = trainer.fit(x, y / 100, validation_data=(x_test, y_test / 100))
mse, r2 = trainer.evaluate(x_test, y_test / 100)
print(f"test mean squared error {mse:.4f}, R² {r2:.3f}")
fig = plot_history(history, metrics=("loss", "r2"))

# %%
# With the scikit-learn estimator
# -------------------------------
# The parameters scikit-learn's ``MLPRegressor`` takes, with its defaults; ``score`` is R².
reg = MLPRegressor(
    hidden_layer_sizes=(32,), alpha=3.0, learning_rate_init=3e-3, max_iter=400, random_state=0
)
reg.fit(x, y / 100)
print(f"MLPRegressor: test R² {reg.score(x_test, y_test / 100):.3f} after {reg.n_iter_} epochs")

# %%
# Predicted against true
# ----------------------
# The identity line is a perfect prediction.
fig = plot_regression(y_test / 100, reg.predict(x_test))
