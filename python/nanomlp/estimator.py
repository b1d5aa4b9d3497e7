"""``MLPClassifier``: nanomlp's engine behind scikit-learn's estimator interface.

Importing this module imports scikit-learn (the ``sklearn`` extra); importing nanomlp does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'nanomlp.MLPClassifier needs scikit-learn: pip install "nanomlp[sklearn]"'
    ) from err

from ._checks import check_int
from .backends import resolve_threads
from .callbacks import Callback
from .model import MLP
from .trainer import Trainer


class _NoImprovementStop(Callback):
    """scikit-learn's rule: stop after ``patience`` epochs without improving by ``tol``."""

    def __init__(self, estimator: MLPClassifier, monitor: str, patience: int, tol: float):
        self.estimator, self.monitor, self.patience, self.tol = estimator, monitor, patience, tol

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        est, logs = self.estimator, logs or {}
        est.loss_curve_.append(logs["train_loss"])
        if self.monitor == "val_acc":
            est.validation_scores_.append(logs["val_acc"])
            score = -logs["val_acc"]  # higher accuracy is better: compare as a loss
        else:
            score = logs["train_loss"]
        if score < est._best_score - self.tol:
            est._no_improvement = 0
        else:
            est._no_improvement += 1
        if score < est._best_score:
            est._best_score = score
            if self.monitor == "val_acc":
                est._best_params = est.model_.params.copy()
        if est._no_improvement >= self.patience:
            self.trainer.stop_training = True


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A ReLU multilayer perceptron trained by minibatch SGD on nanomlp's native engine.

    The defaults are the classic MNIST notebook's (two hidden layers of 128 and 64, learning
    rate 0.01, batch 32, ten epochs). ``alpha`` is an L2 weight decay on the weights (added to
    their gradient as ``alpha * W``, as PyTorch's ``weight_decay``); ``momentum`` and
    ``nesterovs_momentum`` follow PyTorch's SGD. With ``random_state`` an int, the initial
    weights are ``nanomlp.MLP(seed=random_state)``'s. Class labels of any type map through
    ``classes_``.
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (128, 64),
        learning_rate_init: float = 0.01,
        batch_size: int = 32,
        max_iter: int = 10,
        momentum: float = 0.0,
        nesterovs_momentum: bool = False,
        alpha: float = 0.0,
        random_state: Any = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        verbose: int = 0,
        threads: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.alpha = alpha
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.threads = threads

    # -- fitted attributes that are views of the model -------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights of each layer, (fan_in, fan_out): views of the model's parameters."""
        check_is_fitted(self, "model_")
        return self.model_.weights

    @property
    def intercepts_(self) -> list[np.ndarray]:
        check_is_fitted(self, "model_")
        return self.model_.biases

    # -- training --------------------------------------------------------------------------
    def _trainer(self, epochs: int) -> Trainer:
        kwargs = dict(
            lr=self.learning_rate_init,
            batch_size=self.batch_size,
            epochs=epochs,
            momentum=self.momentum,
            nesterov=self.nesterovs_momentum,
            weight_decay=self.alpha,
            threads=self.threads,
        )
        trainer = Trainer(self.model_, **kwargs)
        # Momentum buffers carry over between partial_fit calls, as the optimizer's state.
        if getattr(self, "_optimizer_state", None) is not None:
            trainer.set_optimizer_state(self._optimizer_state)
        return trainer

    def _initialise(self, n_features: int, classes: np.ndarray) -> None:
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(
            self.random_state, bool
        ):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(2**32, dtype=np.uint64))
        self.classes_ = classes
        self.n_features_in_ = n_features
        self.model_ = MLP((n_features, *hidden, max(len(classes), 1)), seed=seed)
        self.loss_curve_: list[float] = []
        self.validation_scores_: list[float] = []
        self.n_iter_ = 0
        self._optimizer_state = None
        self._best_score = np.inf
        self._no_improvement = 0
        self._best_params = None

    def _encode(self, y: np.ndarray) -> np.ndarray:
        indices = np.searchsorted(self.classes_, y)
        indices = np.clip(indices, 0, len(self.classes_) - 1)
        unknown = self.classes_[indices] != y
        if unknown.any():
            raise ValueError(
                f"y holds labels not in classes_ {self.classes_.tolist()}: "
                f"{np.unique(y[unknown]).tolist()}"
            )
        return indices

    def _run(self, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
        monitor = "train_loss"
        validation = None
        if self.early_stopping:
            monitor = "val_acc"
            stratify = y if np.bincount(y).min() >= 2 else None
            x, x_val, y, y_val = train_test_split(
                x,
                y,
                test_size=self.validation_fraction,
                random_state=self.model_.seed,
                stratify=stratify,
            )
            validation = (x_val, y_val)
        trainer = self._trainer(epochs)
        stop = _NoImprovementStop(
            self, monitor, check_int(self.n_iter_no_change, "n_iter_no_change", 1), float(self.tol)
        )
        history = trainer.fit(
            x, y, validation_data=validation, callbacks=[stop], verbose=int(self.verbose)
        )
        self.n_iter_ += len(history.history.get("train_loss", []))
        self._optimizer_state = trainer.get_optimizer_state()
        self._engine = trainer
        if self.early_stopping and self._best_params is not None:
            self.model_.params[:] = self._best_params
        if self.loss_curve_:
            self.loss_ = self.loss_curve_[-1]
            self.best_loss_ = None if self.early_stopping else float(np.min(self.loss_curve_))

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train from scratch for up to ``max_iter`` epochs."""
        X, y = validate_data(self, X, y, dtype=np.float32, order="C", reset=True)
        check_classification_targets(y)
        classes = np.unique(y)
        self._initialise(X.shape[1], classes)
        self._run(X, self._encode(y), check_int(self.max_iter, "max_iter", 1))
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch on (X, y); the first call needs ``classes``, every label there may be."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=np.float32, order="C", reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._initialise(X.shape[1], np.unique(np.asarray(classes)))
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes {classes!r} differs from the first call's {self.classes_.tolist()}"
            )
        self._run(X, self._encode(y), 1)
        return self

    # -- inference -------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of each class in ``classes_`` order, (n_samples, n_classes)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, order="C", reset=False)
        return self._predictor().predict_proba(X)

    def _predictor(self) -> Trainer:
        # The engine of the last fit (workspaces, thread pool), not a new one per call; predict
        # may not change the estimator, so a stale one is replaced for this call only.
        cached = self.__dict__.get("_engine")
        if (
            cached is not None
            and cached.model is self.model_
            and cached.threads == resolve_threads(self.threads)
        ):
            return cached
        return Trainer(self.model_, threads=self.threads)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_engine", None)  # it holds threads
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "model_" in state:
            self._engine = Trainer(self.model_, threads=self.threads)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
