"""``MLPClassifier``: nanomlp's engine behind scikit-learn's estimator interface.

Importing this module imports scikit-learn (the ``sklearn`` extra); importing nanomlp does not.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'nanomlp.MLPClassifier needs scikit-learn: pip install "nanomlp[sklearn]"'
    ) from err

from ._checks import check_bool, check_float, check_int
from .backends import resolve_threads
from .model import MLP
from .optim import SGD, Adam, Optimizer
from .trainer import Trainer
from .weighting import check_sample_weight, class_weight_to_sample_weight

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SOLVERS = ("lbfgs", "sgd", "adam")
_LEARNING_RATES = ("constant", "invscaling", "adaptive")


class _InvalidParameter(ValueError, TypeError):
    """A constructor parameter that ``fit`` refuses (a ValueError, as scikit-learn's)."""


def _param(check: Any, *args: Any, **kwargs: Any) -> Any:
    """``check(*args)``, its TypeError turned into ``_InvalidParameter`` (a ValueError)."""
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise _InvalidParameter(str(err)) from err


def _option(value: Any, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise _InvalidParameter(
            f"{name} must be one of {', '.join(repr(o) for o in options)}, got {value!r}"
        )
    return value


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn's ``MLPClassifier`` (same parameters, defaults and fitted attributes),
    trained on nanomlp's native engine.

    ``sklearn.neural_network.MLPClassifier(...)`` and ``nanomlp.MLPClassifier(...)`` take the
    same recipe: ReLU hidden layers ``hidden_layer_sizes``, a softmax output, the log loss plus
    ``alpha``'s L2 penalty, minibatches of ``batch_size`` (``"auto"``: ``min(200,
    n_samples)``) drawn in a new order each epoch (``shuffle``), ``solver="adam"`` or
    ``"sgd"``, up to ``max_iter`` epochs, stopping once the training loss (with
    ``early_stopping``: the accuracy on a held-out ``validation_fraction``) has not improved
    by ``tol`` for more than ``n_iter_no_change`` epochs, with a ``ConvergenceWarning`` when
    ``max_iter`` is reached first. ``warm_start`` makes ``fit`` continue from the current
    weights; ``partial_fit`` makes one epoch and keeps the optimizer's state.

    How each parameter reaches the engine:

    - ``alpha``: scikit-learn adds ``alpha * W`` to a batch's summed gradient before dividing
      by the batch's size (its weight sum with ``sample_weight``); that is a weight decay of
      ``alpha / batch_size`` on the weights, not the biases, which is what the optimizer gets.
      The short last batch of an epoch gets the full batch's factor, and with sample weights
      the divisor is ``batch_size`` times the mean weight (the expected weight sum of a batch).
      ``loss_`` includes the penalty ``0.5 * alpha * sum(W**2)`` over the same divisor.
    - ``solver="adam"``: ``nanomlp.optim.Adam(lr=learning_rate_init, betas=(beta_1, beta_2),
      eps=epsilon)``, PyTorch's formula: it adds ``epsilon`` to the bias-corrected
      ``sqrt(v)`` where scikit-learn adds it before the correction (a difference of order
      ``epsilon``).
    - ``solver="sgd"``: ``nanomlp.optim.SGD(lr, momentum, nesterov=nesterovs_momentum)``
      (Nesterov only with ``momentum > 0``). PyTorch's momentum buffer accumulates gradients
      and scales them by the current rate, scikit-learn's velocity accumulates rate-scaled
      steps: the same updates at a constant rate, different ones once the rate changes.
    - ``learning_rate`` (sgd only, as in scikit-learn): ``"constant"``; ``"invscaling"``,
      after each epoch ``learning_rate_init / (t_ + 1) ** power_t`` with ``t_`` the samples
      seen (scikit-learn changes it at the same points, once per epoch); ``"adaptive"``,
      where scikit-learn would stop for lack of improvement the rate is divided by 5 instead
      (its code's rule: after more than ``n_iter_no_change`` epochs, not two as its docstring
      says), and training stops once the rate is at most 1e-6.

    Known differences from scikit-learn:

    - Initialisation: nanomlp's (the classic notebook's), ``randn * sqrt(1 / fan_in)`` and
      zero biases, drawn from ``numpy.random.RandomState(seed)``; scikit-learn draws Glorot
      uniform weights and biases. With ``random_state`` an int the weights are
      ``nanomlp.MLP(seed=random_state)``'s; the same random state then draws the shuffles.
    - ``activation``: only ``"relu"`` so far; ``solver="lbfgs"`` is not supported
      (``max_fun`` is accepted and unused, as it is for adam and sgd in scikit-learn).
    - Two classes get two softmax outputs (``n_outputs_ == 2``, ``out_activation_ ==
      "softmax"``) where scikit-learn has one logistic output: the same model family.
    - ``loss_curve_`` holds the loss over the whole training set after each epoch;
      scikit-learn averages the losses of the minibatches as the epoch goes.
    - float32 throughout, whatever the input dtype.
    - ``early_stopping`` stratifies the validation split whenever every class has two rows.

    nanomlp's additions: ``class_weight`` (``"balanced"`` or a dict ``{label: weight}`` over
    ``classes_``; scikit-learn's MLPClassifier has none) weighs each row's loss, times its
    ``sample_weight``; ``threads`` is the engine's thread count (default: NANOMLP_NUM_THREADS,
    else the available cores), with bit-identical results for any count.
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        class_weight: Any = None,
        threads: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight
        self.threads = threads

    # -- fitted attributes that are views of the model -------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights of each layer, (fan_in, fan_out): views of the model's parameters."""
        check_is_fitted(self, "model_")
        return self.model_.weights

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases of each layer, (fan_out,): views of the model's parameters."""
        check_is_fitted(self, "model_")
        return self.model_.biases

    # -- parameters ------------------------------------------------------------------------
    def _hidden(self) -> tuple[int, ...]:
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise _InvalidParameter(
                f"hidden_layer_sizes must be an integer or a sequence of integers, got {hidden!r}"
            )
        hidden = list(hidden)
        return tuple(
            _param(check_int, h, f"hidden_layer_sizes[{i}]", 1) for i, h in enumerate(hidden)
        )

    def _check_params(self) -> None:
        """scikit-learn's checks of every parameter: ValueError naming the one at fault."""
        self._hidden()
        activation = _option(self.activation, "activation", _ACTIVATIONS)
        if activation != "relu":
            raise _InvalidParameter(
                f"activation={activation!r} is not supported yet: nanomlp's hidden layers are "
                "ReLU (activation='relu')"
            )
        if _option(self.solver, "solver", _SOLVERS) == "lbfgs":
            raise _InvalidParameter(
                "solver='lbfgs' is not supported: nanomlp trains by minibatch gradient "
                "steps; use solver='adam' or 'sgd'"
            )
        _param(check_float, self.alpha, "alpha", 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if isinstance(self.batch_size, str):
                raise _InvalidParameter(
                    f"batch_size must be 'auto' or an integer >= 1, got {self.batch_size!r}"
                )
            _param(check_int, self.batch_size, "batch_size", 1)
        _option(self.learning_rate, "learning_rate", _LEARNING_RATES)
        _param(check_float, self.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
        _param(check_float, self.power_t, "power_t", 0.0)
        _param(check_int, self.max_iter, "max_iter", 1)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            _param(check_bool, getattr(self, name), name)
        _param(check_float, self.tol, "tol", 0.0)
        if not isinstance(self.verbose, (bool, np.bool_)):
            _param(check_int, self.verbose, "verbose", 0)
        # scikit-learn allows momentum=1, which never lets a velocity decay; PyTorch's and
        # nanomlp's SGD stop below it.
        _param(check_float, self.momentum, "momentum", 0.0, 1.0, high_open=True)
        _param(check_float, self.validation_fraction, "validation_fraction", 0, 1, high_open=True)
        _param(check_float, self.beta_1, "beta_1", 0.0, 1.0, high_open=True)
        _param(check_float, self.beta_2, "beta_2", 0.0, 1.0, high_open=True)
        _param(check_float, self.epsilon, "epsilon", 0.0, low_open=True)
        if not (isinstance(self.n_iter_no_change, float) and self.n_iter_no_change == np.inf):
            _param(check_int, self.n_iter_no_change, "n_iter_no_change", 1)
        _param(check_int, self.max_fun, "max_fun", 1)
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
            raise _InvalidParameter(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}"
            )
        if self.threads is not None:
            _param(resolve_threads, self.threads)

    # -- training --------------------------------------------------------------------------
    def _initialise(self, n_features: int, classes: np.ndarray) -> None:
        """A new model and scikit-learn's fitted attributes for a first fit."""
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(2**32, dtype=np.uint64))
        self.classes_ = classes
        self.n_features_in_ = n_features
        n_outputs = max(len(classes), 1)
        self.model_ = MLP((n_features, *self._hidden(), n_outputs), seed=seed)
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self.model_.layer_sizes)
        self.out_activation_ = "softmax"
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

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

    def _row_weights(self, sample_weight: Any, labels: np.ndarray) -> np.ndarray | None:
        """sample_weight × class_weight per row, or None when every row weighs 1."""
        weights = np.ones(len(labels))
        if sample_weight is not None:
            weights *= check_sample_weight(sample_weight, len(labels))
        cw = self.class_weight
        if cw is not None:
            if isinstance(cw, dict):
                by_index = {}
                for label, weight in cw.items():
                    found = np.flatnonzero(self.classes_ == label)
                    if len(found) == 0:
                        raise ValueError(
                            f"class_weight has the label {label!r}, not one of classes_ "
                            f"{self.classes_.tolist()}"
                        )
                    by_index[int(found[0])] = weight
                cw = by_index
            weights *= class_weight_to_sample_weight(labels, cw, len(self.classes_))
        if not weights.any():
            raise ValueError("sample_weight × class_weight is zero for every row: no row counts")
        return None if np.all(weights == 1.0) else weights

    def _optimizer(self, weight_decay: float) -> Optimizer:
        if self.solver == "adam":
            return Adam(
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
                weight_decay=weight_decay,
            )
        return SGD(
            lr=self._learning_rate,
            momentum=self.momentum,
            nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
            weight_decay=weight_decay,
        )

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None
    ) -> MLPClassifier:
        self._check_params()
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        if incremental and first_pass and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, y = validate_data(self, X, y, dtype=np.float32, order="C", reset=first_pass)
        check_classification_targets(y)
        if first_pass:
            labels = np.unique(np.asarray(classes)) if incremental else np.unique(y)
            self._initialise(X.shape[1], labels)
        elif self.warm_start and not incremental and set(np.unique(y)) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {np.unique(y)}"
            )
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes {classes!r} differs from the first call's {self.classes_.tolist()}"
            )
        labels = self._encode(y)
        weights = self._row_weights(sample_weight, labels)
        self._run(X, labels, weights, incremental)
        if not np.isfinite(self.model_.params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )
        return self

    def _run(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, incremental: bool
    ) -> None:
        """scikit-learn's ``_fit_stochastic`` on the engine: up to ``max_iter`` epochs (one
        with ``incremental``), each an engine pass, then the loss and the stopping rule."""
        model = self.model_
        x_val = y_val = w_val = None
        if self.early_stopping:
            stratify = y if np.bincount(y).min() >= 2 else None
            arrays = (x, y) if weights is None else (x, y, weights)
            split = train_test_split(
                *arrays,
                test_size=self.validation_fraction,
                random_state=model.seed,
                stratify=stratify,
            )
            x, x_val, y, y_val = split[:4]
            if weights is not None:
                weights, w_val = split[4:]
            if len(x_val) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
        n = len(x)
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to "
                    "be clipped",
                    stacklevel=3,
                )
            batch = int(np.clip(self.batch_size, 1, n))
        divisor = batch * (1.0 if weights is None else float(np.mean(weights)))
        decay = float(self.alpha) / divisor if divisor > 0 else 0.0

        # A new optimizer for fit (warm or not), the same one across partial_fit calls.
        state = model.optimizer_state if incremental else None
        if not incremental:
            self._learning_rate = float(self.learning_rate_init)
        trainer = Trainer(
            model, optimizer=self._optimizer(decay), batch_size=batch, threads=self.threads
        )
        try:
            if state is None:
                raise ValueError("a new optimizer")
            trainer.set_optimizer_state(state)
        except ValueError:  # a first call, or the solver changed since the state was made
            model.optimizer_state = None
        self._engine = trainer

        sgd = self.solver == "sgd"
        order = np.arange(n, dtype=np.int64)
        rng = model.random_state
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:
                # As Trainer.fit: each epoch permutes the previous order, with the model's
                # random state.
                order = order[rng.permutation(n)]
            if sgd:
                trainer.lr = self._learning_rate
            trainer.train_epoch(x, y, order, sample_weight=weights, assume_finite=True)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = self._loss(trainer, x, y, weights, divisor)
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if not np.isfinite(self.loss_):
                break  # non-finite weights: _fit says so
            self._update_no_improvement_count(trainer, x_val, y_val, w_val)
            if sgd and self.learning_rate == "invscaling":
                self._learning_rate = float(self.learning_rate_init) / (self.t_ + 1) ** float(
                    self.power_t
                )
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if self.early_stopping else "Training loss"
                msg = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs."
                )
                if not (sgd and self.learning_rate == "adaptive") or self._learning_rate <= 1e-6:
                    if self.verbose:
                        print(msg + " Stopping.")
                    break
                self._learning_rate /= 5.0
                self._no_improvement_count = 0
                if self.verbose:
                    print(msg + f" Setting learning rate to {self._learning_rate:f}")
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        if self.early_stopping and self._best_params is not None:
            model.params[:] = self._best_params
        self._best_params = None

    def _loss(
        self,
        trainer: Trainer,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None,
        divisor: float,
    ) -> float:
        """The (weighted) mean log loss over the training rows, plus the L2 penalty."""
        if weights is None:
            loss = trainer.evaluate(x, y, assume_finite=True)[0]
        else:
            proba = trainer.predict_proba(x, assume_finite=True)
            eps = np.finfo(proba.dtype).eps
            p = np.clip(proba[np.arange(len(y)), y], eps, 1 - eps).astype(np.float64)
            loss = float(np.average(-np.log(p), weights=weights))
        squares = sum(float(np.dot(w.ravel(), w.ravel())) for w in self.model_.weights)
        return float(loss + 0.5 * float(self.alpha) * squares / divisor)

    def _update_no_improvement_count(
        self,
        trainer: Trainer,
        x_val: np.ndarray | None,
        y_val: np.ndarray | None,
        w_val: np.ndarray | None,
    ) -> None:
        tol = float(self.tol)
        if self.early_stopping:
            if w_val is None:
                score = trainer.evaluate(x_val, y_val, assume_finite=True)[1]
            else:
                hits = trainer.predict(x_val) == y_val
                score = float(np.average(hits, weights=w_val)) if w_val.any() else 0.0
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.model_.params.copy()
        else:
            loss = self.loss_curve_[-1]
            if loss > self.best_loss_ - tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if loss < self.best_loss_:
                self.best_loss_ = loss

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train for up to ``max_iter`` epochs: from new weights, or with ``warm_start`` from
        the current ones; ``sample_weight`` weighs each row's loss."""
        self._best_params = None
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch on (X, y), continuing the optimizer's state; the first call needs
        ``classes``, every label there may be."""
        self._best_params = None
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    # -- inference -------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of each class in ``classes_`` order, (n_samples, n_classes)."""
        check_is_fitted(self, "model_")
        if not (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype.kind in "fiu"
            and X.shape[0] >= 1
            and X.shape[1] == self.n_features_in_
            and "feature_names_in_" not in self.__dict__
        ):
            X = validate_data(self, X, dtype=np.float32, order="C", reset=False)
        # else a plain array of the right width: the engine's own checks (dtype, finite
        # values) suffice, and a one-row call skips scikit-learn's validation, which costs
        # ten times the forward pass.
        return self._predictor().predict_proba(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

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
