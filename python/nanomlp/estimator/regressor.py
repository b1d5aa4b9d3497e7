"""``MLPRegressor``: nanomlp's engine behind scikit-learn's regressor interface.

Importing this module imports scikit-learn (the ``sklearn`` extra); importing nanomlp does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from sklearn.base import RegressorMixin
    from sklearn.metrics import r2_score
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'nanomlp.MLPRegressor needs scikit-learn: pip install "nanomlp[sklearn]"'
    ) from err

from ..weighting import check_sample_weight
from ._base import _BaseMLP, _InvalidParameter


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's ``MLPRegressor`` (same parameters, defaults and fitted attributes),
    trained on nanomlp's native engine.

    The recipe is ``MLPClassifier``'s (see its docstring for how each parameter reaches the
    engine) with an identity output layer and ``loss="squared_error"``: ``loss_`` is
    scikit-learn's ``0.5 * mean((y - ŷ)²)`` (weighted over rows with ``sample_weight``, the
    mean over outputs) plus ``alpha``'s L2 penalty. The engine trains ``nanomlp``'s "mse"
    loss, whose gradient is ``2 / n_outputs`` times scikit-learn's; the L2 decay is scaled and
    SGD's rate divided by that factor, so the steps are scikit-learn's (Adam does not see the
    scale, but for its ``epsilon``). ``score`` is R² and ``early_stopping`` watches R² on the
    held-out rows. ``predict`` returns (n_samples,) for a model with one output.

    Differences from scikit-learn: as ``MLPClassifier``'s (no lbfgs, float32, loss curve
    measured after each epoch); ``loss="poisson"`` is not supported. ``threads`` is nanomlp's
    addition.

    Parameters
    ----------
    loss : {"squared_error"}, default "squared_error"
        scikit-learn's; "poisson" is not supported.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        scikit-learn's, with its defaults, as in ``MLPClassifier``.
    threads : int or None, default None
        The engine's thread count (default: NANOMLP_NUM_THREADS, else the available cores).

    Raises
    ------
    ValueError, TypeError
        From ``fit``, for a bad parameter value or bad data.

    Examples
    --------
    >>> import numpy as np
    >>> from nanomlp import MLPRegressor
    >>> X = np.random.default_rng(0).random((200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0, threads=1)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _engine_loss = "mse"

    def __init__(
        self,
        loss: str = "squared_error",
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
        threads: int | None = None,
    ) -> None:
        self.loss = loss
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
        self.threads = threads

    # -- parameters ------------------------------------------------------------------------
    def _check_task_params(self) -> None:
        if self.loss != "squared_error":
            raise _InvalidParameter(
                f"loss must be 'squared_error' (nanomlp has no 'poisson'), got {self.loss!r}"
            )

    def _gradient_scale(self) -> float:
        # d(mean of (ŷ − y)² over rows and outputs)/dŷ = 2(ŷ − y)/(B·k); scikit-learn's
        # squared-error step uses (ŷ − y)/B.
        return 2.0 / self.n_outputs_

    # -- training --------------------------------------------------------------------------
    def _prepare_fit(
        self, X: Any, y: Any, sample_weight: Any, first_pass: bool, incremental: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate ``X`` and ``y`` (1-D: one output), float32 targets [n, n_outputs]."""
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float32,
            order="C",
            multi_output=True,
            y_numeric=True,
            reset=first_pass,
        )
        targets = np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float32)
        if not np.isfinite(targets).all():
            raise ValueError("y must be finite in float32 (no value beyond ±3.4e38)")
        if first_pass:
            self._initialise(X.shape[1], targets.shape[1])
            self.out_activation_ = "identity"
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} outputs, the fitted model {self.n_outputs_}"
            )
        weights = None
        if sample_weight is not None:
            weights = check_sample_weight(sample_weight, len(targets))
            if not weights.any():
                raise ValueError("sample_weight is zero for every row: no row counts")
            if np.all(weights == 1.0):
                weights = None
        return X, targets, weights

    def _data_loss(self, engine_loss: float) -> float:
        """Half the mean squared error, as scikit-learn's ``squared_loss``."""
        return 0.5 * engine_loss

    def _validation_score(
        self, trainer: Any, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None
    ) -> float:
        pred = trainer.predict(x, assume_finite=True).reshape(y.shape)
        return float(r2_score(y, pred, sample_weight=weights))

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch on (X, y), continuing the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training rows.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), optional
            One weight >= 0 per row.

        Returns
        -------
        MLPRegressor
            The estimator itself.

        Raises
        ------
        ValueError
            For bad data or parameters.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPRegressor
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        >>> reg.partial_fit(X, X.sum(axis=1)).n_iter_
        1
        """
        self._best_params = None
        return self._fit(X, y, sample_weight, incremental=True)

    # -- inference -------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """The predicted values, float64 as scikit-learn's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to predict.

        Returns
        -------
        ndarray
            (n_samples,) for one output, else (n_samples, n_outputs).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            For bad ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPRegressor
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> Y = np.column_stack([X.sum(axis=1), X[:, 0]])
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=1000, random_state=0).fit(X, Y)
        >>> reg.predict(X[:4]).shape, reg.predict(X[:4]).dtype
        ((4, 2), dtype('float64'))
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, order="C", reset=False)
        return self._predictor().predict(X).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
