"""nanomlp.plotting: panels, titles, legends and image counts; headless; matplotlib optional."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import matplotlib  # noqa: E402  (a dependency of the tests: the "test" extra)
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nanomlp import MLP, Trainer  # noqa: E402
from nanomlp.plotting import (  # noqa: E402
    plot_confusion_matrix,
    plot_history,
    plot_predictions,
    plot_regression,
    plot_sweep,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    """Library code never calls plt.show(); every figure a test made is closed after it."""

    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() called by library code")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


HISTORY = {
    "train_loss": [0.38, 0.30, 0.27],
    "val_loss": [0.31, 0.24, 0.22],
    "train_acc": [0.89, 0.91, 0.92],
    "val_acc": [0.92, 0.93, 0.94],
    "epoch_seconds": [1, 1, 1],
}


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_history_has_the_notebooks_two_panels():
    fig = plot_history(HISTORY)
    loss, acc = fig.axes
    assert loss.get_title() == "Loss over Epochs" and acc.get_title() == "Accuracy over Epochs"
    assert _legend(loss) == ["Train Loss", "Val Loss"] and _legend(acc) == [
        "Train Accuracy",
        "Val Accuracy",
    ]
    assert loss.get_xlabel() == "Epochs" and acc.get_ylabel() == "Accuracy"
    assert (
        list(loss.lines[1].get_xdata()) == [1, 2, 3]
        and list(loss.lines[1].get_ydata()) == HISTORY["val_loss"]
    )
    assert _png(fig).startswith(PNG)


def test_plot_history_from_a_history_object_and_into_given_axes(mnist_subset):
    x, y = mnist_subset
    history = Trainer(MLP(), epochs=2).fit(x[:300], y[:300])  # no validation data
    fig = plot_history(history)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    assert _legend(fig.axes[0]) == ["Train Loss"]

    own, (left, right) = plt.subplots(1, 2)
    assert plot_history(HISTORY, ax=right, metrics=("acc",)) is own
    assert len(left.lines) == 0 and right.get_title() == "Accuracy over Epochs"
    with pytest.raises(ValueError, match="at least 2 Axes"):
        plot_history(HISTORY, ax=left)
    with pytest.raises(ValueError, match="metrics must be drawn from"):
        plot_history(HISTORY, metrics=("f1",))
    with pytest.raises(ValueError, match="history has no 'train_loss'"):
        plot_history({"val_loss": [1.0]})


def test_plot_predictions_one_grid_with_mistakes_marked(mnist):
    _, (x_test, y_test) = mnist
    model = MLP()
    Trainer(model, epochs=1).fit(x_test[:2000], y_test[:2000])
    predicted = Trainer(model).predict(x_test[:12])
    labels = predicted.copy()
    labels[[1, 4]] = (labels[[1, 4]] + 1) % 10  # two sure mistakes, whatever the model learnt

    fig = plot_predictions(model, x_test, labels, n=12)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 12 and len(fig.axes) == 15  # a 3 × 5 grid, three cells hidden
    assert all(len(ax.images) == 1 and ax.images[0].get_array().shape == (28, 28) for ax in shown)
    for i, ax in enumerate(shown):
        assert re.fullmatch(rf"Pred: {predicted[i]} \(\d+%\)\nTrue: {labels[i]}", ax.get_title())
    red = [i for i, ax in enumerate(shown) if ax.title.get_color() == "tab:red"]
    assert red == [1, 4]
    assert all(ax.spines["left"].get_visible() == (i in red) for i, ax in enumerate(shown))
    assert fig._suptitle.get_text() == "Predictions: 10 of 12 right (mistakes in red)"
    assert _png(fig).startswith(PNG)

    own, axes = plt.subplots(2, 2)
    assert plot_predictions(Trainer(model), x_test, y_test, n=4, ax=axes) is own
    assert sum(len(ax.images) for ax in own.axes) == 4
    with pytest.raises(ValueError, match="at least n=20 rows"):
        plot_predictions(model, x_test[:5], y_test[:5], n=20)


def test_plot_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    fig = plot_confusion_matrix(y_true, y_pred)
    ax = fig.axes[0]
    assert ax.images[0].get_array().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert ax.get_title() == "Confusion matrix (accuracy 71.43%)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted", "True")
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "1", "2", "2"]
    assert _png(fig).startswith(PNG)
    fig = plot_confusion_matrix(y_true, y_pred, n_classes=4, labels=list("abcd"))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcd")
    with pytest.raises(ValueError, match="same length"):
        plot_confusion_matrix(y_true, y_pred[:3])


def test_plot_sweep_heatmap():
    results = [
        {"lr": lr, "batch_size": bs, "test_acc": acc}
        for lr, bs, acc in [
            (0.1, 32, 0.9805),
            (0.1, 64, 0.9735),
            (0.01, 32, 0.9611),
            (0.01, 64, 0.9419),
            (0.001, 32, 0.9001),
        ]
    ]
    fig = plot_sweep(results)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (3, 2) and grid.mask.tolist() == [
        [False, False],
        [False, False],
        [False, True],
    ]
    assert grid[0].tolist() == [0.9805, 0.9735]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.1", "0.01", "0.001"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "64"]
    assert ax.get_title() == "Test accuracy over learning rate × batch size"
    assert len(ax.texts) == 5 and _png(fig).startswith(PNG)
    with pytest.raises(ValueError, match="twice"):
        plot_sweep(results + results[:1])
    with pytest.raises(ValueError, match=r"results\[0\] lacks test_acc"):
        plot_sweep([{"lr": 0.1, "batch_size": 32}])


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_nanomlp_never_imports_matplotlib():
    done = _run(
        "import sys, nanomlp, nanomlp.plotting, nanomlp.cli, nanomlp.callbacks\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    assert done.returncode == 0, done.stderr


def test_missing_matplotlib_says_how_to_install_it():
    done = _run(
        "import sys; sys.modules['matplotlib'] = None\n"
        "from nanomlp.plotting import plot_history\n"
        "try:\n"
        "    plot_history({'train_loss': [1.0], 'train_acc': [0.5]})\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nanomlp.plotting needs matplotlib: pip install matplotlib"


def test_plots_show_class_names(mnist):
    from nanomlp.datasets import class_names

    _, (x_test, y_test) = mnist
    model = MLP()
    Trainer(model, epochs=1).fit(x_test[:1000], y_test[:1000])
    predicted = Trainer(model).predict(x_test[:6])
    names = class_names("fashion-mnist")
    fig = plot_predictions(model, x_test, y_test, n=6, class_names=names)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0].startswith(f"Pred: {names[predicted[0]]} (")
    for i, title in enumerate(titles):
        assert re.fullmatch(
            rf"Pred: {re.escape(names[predicted[i]])} \(\d+%\)\nTrue: {re.escape(names[y_test[i]])}",
            title,
        )
    with pytest.raises(ValueError, match="class_names must name 10 classes, got 2"):
        plot_predictions(model, x_test, y_test, n=2, class_names=["a", "b"])

    fig = plot_confusion_matrix(y_test[:50], predicted.repeat(9)[:50], n_classes=10, labels=names)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(names)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(names)
    assert ax.get_xticklabels()[0].get_rotation() == 45  # long names are slanted
    digits = plot_confusion_matrix(y_test[:50], y_test[:50], labels=class_names("mnist")).axes[0]
    assert [t.get_text() for t in digits.get_xticklabels()] == [str(d) for d in range(10)]
    assert digits.get_xticklabels()[0].get_rotation() == 0
    assert _png(fig).startswith(PNG)


def test_plot_regression_scatter_identity_line_and_r2():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(200, 3)).astype(np.float32)
    y_pred = (y_true * 0.8 + rng.normal(scale=0.4, size=y_true.shape)).astype(np.float32)
    fig = plot_regression(y_true, y_pred, target_names=["a", "b", "c"])
    assert len(fig.axes) == 3
    for j, ax in enumerate(fig.axes):
        name, r2 = re.fullmatch(r"(\w): R² = (-?\d+\.\d{4})", ax.get_title()).groups()
        assert name == "abc"[j]
        assert float(r2) == pytest.approx(r2_score(y_true[:, j], y_pred[:, j]), abs=5e-5)
        points = ax.collections[0].get_offsets()
        np.testing.assert_array_equal(points, np.column_stack([y_true[:, j], y_pred[:, j]]))
        (identity,) = ax.lines
        assert list(identity.get_xdata()) == list(identity.get_ydata())  # the line y = x
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("True", "Predicted")
    assert _png(fig).startswith(PNG)

    # One target (N,): one panel; a perfect prediction has R² 1.
    y = np.linspace(25, 346, 50)
    fig = plot_regression(y, y, target_names=["disease progression"])
    assert [ax.get_title() for ax in fig.axes] == ["disease progression: R² = 1.0000"]
    fig = plot_regression(y_true[:, 0], -y_true[:, 0])
    expected = r2_score(y_true[:, 0], -y_true[:, 0])
    assert fig.axes[0].get_title() == f"target 0: R² = {expected:.4f}"

    # Many targets: the first max_panels, said so; into the caller's axes.
    wide = rng.normal(size=(30, 6))
    fig = plot_regression(wide, wide, max_panels=2)
    assert len(fig.axes) == 2 and fig._suptitle.get_text() == "The first 2 of 6 targets"
    own, axes = plt.subplots(1, 3)
    assert plot_regression(y_true, y_pred, ax=axes) is own
    assert all(len(ax.collections) == 1 for ax in axes)
    with pytest.raises(ValueError, match="same shape"):
        plot_regression(y_true, y_pred[:, :2])
    with pytest.raises(ValueError, match="target_names must name 3 targets, got 1"):
        plot_regression(y_true, y_pred, target_names=["a"])
