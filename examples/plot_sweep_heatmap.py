"""
Learning rate × batch size
==========================

The notebook's hyperparameter grid: learning rates 0.1, 0.01 and 0.001 against batch sizes 32,
64 and 128, every run from seed 42, and the test accuracy of each as a heatmap.

The notebook trained each run for ten epochs; to keep this example under a minute, it trains
for three (``nanomlp sweep --lr 0.1 0.01 0.001 --batch-size 32 64 128 --epochs 10`` runs the
full grid in about ten seconds on two cores: the README has its table).
"""

# %%
# The data: training, validation and test sets
# --------------------------------------------
from nanomlp import sweep
from nanomlp.datasets import load_mnist
from nanomlp.plotting import plot_sweep

(x_train, y_train), (x_test, y_test) = load_mnist()
data = (
    (x_train[:-5000], y_train[:-5000]),
    (x_train[-5000:], y_train[-5000:]),
    (x_test, y_test),
)

# %%
# The grid, and the runs
# ----------------------
# ``sweep.grid`` makes every combination, the first axis varying slowest; ``sweep.sweep``
# runs them (here in this process; ``jobs=2`` would use two worker processes, ``client=`` a
# Dask cluster) and returns one record per run. A record does not depend on where or in which
# order its run executed.
configs = sweep.grid(lr=[0.1, 0.01, 0.001], batch_size=[32, 64, 128], epochs=[3])
records = sweep.sweep(configs, data)
for record in records:
    print(sweep.format_record(record))

# %%
# The heatmap
# -----------
# Test accuracy over learning rate (rows) and batch size (columns). As in the notebook, the
# largest rate with the smallest batches learns most in a fixed number of epochs.
fig = plot_sweep(records)
