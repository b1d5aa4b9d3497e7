"""``MLPClassifier``: nanomlp's engine behind scikit-learn's classifier interface.

Importing this module imports scikit-learn (the ``sklearn`` extra); importing nanomlp does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from sklearn.base import ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        'nanomlp.MLPClassifier needs scikit-learn: pip install "nanomlp[sklearn]"'
    ) from err

from ..weighting import check_sample_weight, class_weight_to_sample_weight
from ._base import _BaseMLP, _InvalidParameter


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's ``MLPClassifier`` (same parameters, defaults and fitted attributes),
    trained on nanomlp's native engine.

    ``sklearn.neural_network.MLPClassifier(...)`` and ``nanomlp.MLPClassifier(...)`` take the
    same recipe: hidden layers ``hidden_layer_sizes`` of ``activation`` ("identity",
    "logistic", "tanh" or "relu"), scikit-learn's initialisation, a softmax output, the log loss plus
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

    - Initialisation: scikit-learn's formula (``nanomlp.MLP(init="sklearn")``: Glorot
      uniform weights and biases, the bound for logistic smaller), drawn from
      ``numpy.random.RandomState(seed)``. With ``random_state`` an int the initial weights are
      scikit-learn's, rounded to float32; the same random state then draws the shuffles.
    - ``solver="lbfgs"`` is not supported (``max_fun`` is accepted and unused, as it is for
      adam and sgd in scikit-learn).
    - Two classes get two softmax outputs (``n_outputs_ == 2``, ``out_activation_ ==
      "softmax"``) where scikit-learn has one logistic output: the same model family, and
      ``predict_proba`` has scikit-learn's shape (n_samples, 2).
    - A multi-label indicator matrix y gets scikit-learn's logistic outputs (nanomlp's
      "binary_cross_entropy", the mean over labels: the decay and SGD's rate are scaled so
      the steps are those of scikit-learn's sum over labels); ``predict`` returns the
      indicator matrix, ``score`` the exact-match accuracy.
    - ``loss_curve_`` holds the loss over the whole training set after each epoch;
      scikit-learn averages the losses of the minibatches as the epoch goes.
    - float32 throughout, whatever the input dtype.
    - ``early_stopping`` stratifies the validation split whenever every class has two rows.

    nanomlp's additions: ``class_weight`` (``"balanced"`` or a dict ``{label: weight}`` over
    ``classes_``; scikit-learn's MLPClassifier has none) weighs each row's loss, times its
    ``sample_weight``; ``threads`` is the engine's thread count (default: NANOMLP_NUM_THREADS,
    else the available cores), with bit-identical results for any count.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        scikit-learn's, with its defaults; how each reaches the engine is above.
    class_weight : dict, "balanced" or None, default None
        Weights of the classes (an addition to scikit-learn's parameters), multiplied with
        ``fit``'s ``sample_weight``.
    threads : int or None, default None
        The engine's thread count (default: NANOMLP_NUM_THREADS, else the available cores).

    Raises
    ------
    ValueError, TypeError
        From ``fit``, for a bad parameter value (as scikit-learn's ``InvalidParameterError``,
        which both of these are) or bad data.

    Examples
    --------
    >>> from nanomlp import MLPClassifier
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, n_features=8, class_sep=2.0, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0, threads=1)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf.predict_proba(X[:2]).shape, clf.classes_
    ((2, 2), array([0, 1]))
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

    # -- parameters ------------------------------------------------------------------------
    def _check_task_params(self) -> None:
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
            raise _InvalidParameter(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}"
            )

    # -- training --------------------------------------------------------------------------
    def _check_fit_call(self, first_pass: bool, incremental: bool, classes: Any = None) -> None:
        if incremental and first_pass and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")

    def _prepare_fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        first_pass: bool,
        incremental: bool,
        classes: Any = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate ``X`` and ``y``, set ``classes_`` on a first pass (else check ``y``'s
        labels against it), and encode ``y`` as indices into ``classes_`` (a multi-label
        indicator matrix: as float32 0/1 targets)."""
        X, y = validate_data(
            self, X, y, dtype=np.float32, order="C", multi_output=True, reset=first_pass
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if y.ndim == 2:
            targets = self._multilabel_targets(X, y, first_pass)
            return X, targets, self._row_weights(sample_weight, targets)
        if first_pass:
            labels = np.unique(np.asarray(classes)) if incremental else np.unique(y)
            self._engine_loss = "cross_entropy"
            self._initialise(X.shape[1], max(len(labels), 1))
            self.classes_ = labels
            self.out_activation_ = "softmax"
        elif self._multilabel:
            raise ValueError("y is one label per row, but the model was fitted on multi-label y")
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
        return X, labels, weights

    def _multilabel_targets(self, X: np.ndarray, y: np.ndarray, first_pass: bool) -> np.ndarray:
        """A multi-label indicator matrix as float32 targets of the logistic outputs."""
        if type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                "a 2-D y must be a multi-label indicator matrix of 0s and 1s "
                f"(multiclass-multioutput is not supported), got {type_of_target(y)}"
            )
        if self.class_weight is not None:
            raise ValueError("class_weight is for one label per row, not multi-label y")
        if first_pass:
            self._engine_loss = "binary_cross_entropy"
            self._initialise(X.shape[1], y.shape[1])
            self.classes_ = np.arange(y.shape[1])
            self.out_activation_ = "logistic"
        elif not self._multilabel or y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} labels per row, the fitted model "
                f"{self.n_outputs_ if self._multilabel else 'one'}"
            )
        return np.ascontiguousarray(y, dtype=np.float32)

    @property
    def _multilabel(self) -> bool:
        return self.model_.loss == "binary_cross_entropy"

    def _gradient_scale(self) -> float:
        # The engine's binary cross-entropy is the mean over the k labels, scikit-learn's
        # their sum.
        return 1.0 / self.n_outputs_ if self._multilabel else 1.0

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

    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch on (X, y), continuing the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training rows.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multi-label indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            One weight >= 0 per row.
        classes : array-like, optional
            Every label there may be; required on the first call.

        Returns
        -------
        MLPClassifier
            The estimator itself.

        Raises
        ------
        ValueError
            When ``classes`` is missing on the first call, a label is not in it, or the data is bad.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPClassifier
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> y = (X[:, 0] > 0.5).astype(int)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        >>> clf = clf.partial_fit(X, y, classes=[0, 1]).partial_fit(X, y)
        >>> len(clf.loss_curve_)
        2
        """
        self._best_params = None
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return y if y.ndim == 1 and np.bincount(y).min() >= 2 else None

    def _data_loss(self, engine_loss: float) -> float:
        """The log loss; for multi-label y its sum over the labels (the engine's mean)."""
        return engine_loss * self.n_outputs_ if self._multilabel else engine_loss

    def _validation_score(
        self, trainer: Any, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None
    ) -> float:
        """The (weighted) accuracy; for multi-label y, of rows with every label right."""
        if weights is None:
            return trainer.evaluate(x, y, assume_finite=True)[1]
        hits = trainer.predict(x) == y
        if hits.ndim == 2:
            hits = hits.all(axis=1)
        return float(np.average(hits, weights=weights)) if weights.any() else 0.0

    # -- inference -------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of each class, in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to predict.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Each row sums to 1; for multi-label y, each label's probability, (n_samples, n_labels).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            For ``X`` of the wrong width, or holding NaN or infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPClassifier
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), tol=0.01, random_state=0)
        >>> proba = clf.fit(X, X[:, 0] > 0.5).predict_proba(X[:3])
        >>> proba.shape, np.allclose(proba.sum(axis=1), 1)
        ((3, 2), True)
        """
        if "model_" not in self.__dict__:  # scikit-learn's check costs more than the forward pass
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
        """``log(predict_proba(X))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to predict.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The natural logarithm of ``predict_proba(X)``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            For bad ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPClassifier
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), tol=0.01, random_state=0)
        >>> clf = clf.fit(X, X[:, 0] > 0.5)
        >>> np.allclose(np.exp(clf.predict_log_proba(X[:3])), clf.predict_proba(X[:3]))
        True
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to predict.

        Returns
        -------
        ndarray
            Labels from ``classes_``, (n_samples,); for multi-label y, the indicator matrix of the
            labels with probability ≥ 0.5.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            For bad ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from nanomlp import MLPClassifier
        >>> X = np.random.default_rng(0).random((60, 3))
        >>> y = np.where(X[:, 0] > 0.5, "big", "small")
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), tol=0.01, random_state=0).fit(X, y)
        >>> clf.classes_.tolist(), clf.predict(X[:3]).tolist()
        (['big', 'small'], ['big', 'big', 'big'])
        """
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba >= 0.5).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        return tags
