"""``_BaseMLP``: what nanomlp's scikit-learn estimators share, whatever the task: parameters
and their checks, optimizer and learning rate, epoch loop, stopping rules, the fitted model and
the engine kept for prediction. A task's estimator (``classifier.py``, ``regressor.py``) adds
its targets, its loss and its validation score."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'nanomlp\'s estimators need scikit-learn: pip install "nanomlp[sklearn]"'
    ) from err

from .._checks import check_bool, check_float, check_int
from ..backends import resolve_threads
from ..model import MLP
from ..optim import SGD, Adam, Optimizer
from ..trainer import Trainer

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


class _BaseMLP(BaseEstimator):
    """The task-independent part of nanomlp's scikit-learn estimators (not for direct use).

    A subclass's ``__init__`` names every parameter, as scikit-learn reads them from its
    signature, and stores each under its name; the subclass implements ``_prepare_fit``,
    ``_data_loss`` and ``_validation_score`` and sets ``_engine_loss``.
    """

    # The model's loss (nanomlp.losses.LOSSES) that trains the task's loss.
    _engine_loss = "cross_entropy"

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
        _option(self.activation, "activation", _ACTIVATIONS)
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
        self._check_task_params()
        if self.threads is not None:
            _param(resolve_threads, self.threads)

    def _check_task_params(self) -> None:
        """A subclass's checks of its own parameters (after ``max_fun``'s, before ``threads``')."""

    # -- training --------------------------------------------------------------------------
    def _gradient_scale(self) -> float:
        """The engine's gradient of the model's loss over scikit-learn's, per batch: 1 when
        they agree. The L2 decay is scaled by it and SGD's rate divided by it, so that the
        steps are scikit-learn's."""
        return 1.0

    def _initialise(self, n_features: int, n_outputs: int) -> None:
        """A new model and scikit-learn's fitted attributes for a first fit."""
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(2**32, dtype=np.uint64))
        self.n_features_in_ = n_features
        self.model_ = MLP(
            (n_features, *self._hidden(), n_outputs),
            seed=seed,
            activation=self.activation,
            init="sklearn",
            loss=self._engine_loss,
        )
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self.model_.layer_sizes)
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

    def _optimizer(self, weight_decay: float) -> Optimizer:
        if self.solver == "adam":
            return Adam(
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
                weight_decay=weight_decay,
            )
        return SGD(
            lr=self._learning_rate / self._gradient_scale(),
            momentum=self.momentum,
            nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
            weight_decay=weight_decay,
        )

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, incremental: bool, **fit_params: Any
    ) -> _BaseMLP:
        self._check_params()
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        self._check_fit_call(first_pass, incremental, **fit_params)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X, targets, weights = self._prepare_fit(
            X, y, sample_weight, first_pass, incremental, **fit_params
        )
        self._run(X, targets, weights, incremental)
        if not np.isfinite(self.model_.params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            )
        return self

    def _check_fit_call(self, first_pass: bool, incremental: bool, **fit_params: Any) -> None:
        """A subclass's checks of a fit or partial_fit call, before its data are read."""

    def _prepare_fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        first_pass: bool,
        incremental: bool,
        **fit_params: Any,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The task's part of a fit: validate ``X`` and ``y`` (``reset=first_pass``), call
        ``_initialise`` on a first pass, and return the float32 rows, the engine's targets and
        the row weights (None when every row weighs 1)."""
        raise NotImplementedError

    def _run(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, incremental: bool
    ) -> None:
        """scikit-learn's ``_fit_stochastic`` on the engine: up to ``max_iter`` epochs (one
        with ``incremental``), each an engine pass, then the loss and the stopping rule."""
        model = self.model_
        x_val = y_val = w_val = None
        if self.early_stopping:
            stratify = self._stratify(y)
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
        decay = self._gradient_scale() * float(self.alpha) / divisor if divisor > 0 else 0.0

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
                trainer.lr = self._learning_rate / self._gradient_scale()
            _, running_loss = trainer._epoch(x, y, order, weights, None, True, track_loss=True)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = self._loss(running_loss, divisor)
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

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        """The labels that early stopping's split keeps the proportions of, or None."""
        return None

    def _data_loss(self, engine_loss: float) -> float:
        """scikit-learn's loss, without the penalty, from the engine's mean loss of a row."""
        raise NotImplementedError

    def _validation_score(
        self, trainer: Trainer, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None
    ) -> float:
        """The score that early stopping watches: the task's ``score``."""
        raise NotImplementedError

    def _loss(self, engine_loss: float, divisor: float) -> float:
        """scikit-learn's ``loss_``: the (weighted) mean of the batches' losses over the epoch,
        each taken before its batch's update, plus the L2 penalty (of the epoch's last
        weights, where scikit-learn adds each batch's)."""
        loss = self._data_loss(engine_loss)
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
            score = self._validation_score(trainer, x_val, y_val, w_val)
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

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseMLP:
        """Train for up to ``max_iter`` epochs, from new weights or, with ``warm_start``, the current ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training rows.
        y : array-like
            Class labels or a multi-label indicator matrix (``MLPClassifier``); the targets
            (``MLPRegressor``).
        sample_weight : array-like of shape (n_samples,), optional
            Weighs each row's loss.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError, TypeError
            For a bad parameter value or bad data.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPClassifier
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), tol=0.01, random_state=0)
        >>> clf.fit(X, X[:, 0] > 0.5).n_iter_
        12
        """
        self._best_params = None
        return self._fit(X, y, sample_weight, incremental=False)

    @classmethod
    def from_sklearn(cls, estimator: Any) -> _BaseMLP:
        """A fitted nanomlp estimator from a fitted scikit-learn one of the same task.

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            Fitted; its parameters, weights (as float32) and ``classes_`` are copied.

        Returns
        -------
        MLPClassifier or MLPRegressor
            nanomlp's estimator, fitted: its predictions equal scikit-learn's.

        Raises
        ------
        TypeError
            For an estimator of the other task, or not an MLP.
        ValueError
            For an estimator that is not fitted.

        Examples
        --------
        >>> import numpy as np, warnings
        >>> from sklearn.neural_network import MLPRegressor as SkRegressor
        >>> from nanomlp import MLPRegressor
        >>> x, y = np.random.RandomState(0).rand(20, 3), np.arange(20.0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     sk = SkRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(x, y)
        >>> MLPRegressor.from_sklearn(sk).n_layers_
        3
        """
        from ..interop.sklearn import estimator_from_sklearn

        return estimator_from_sklearn(cls, estimator)

    # -- inference -------------------------------------------------------------------------
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
