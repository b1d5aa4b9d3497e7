"""scikit-learn's fitted ``MLPClassifier`` and ``MLPRegressor``, in and out.

``from_sklearn`` copies ``coefs_`` (``[in, out]``, nanomlp's own layout) and ``intercepts_``
into an ``MLP``: the activation (``relu``, ``tanh``, ``logistic``, ``identity``) is kept, and
the output layer decides the loss: softmax → "cross_entropy", logistic (a binary classifier's
one unit, or a multi-label classifier's) → "binary_cross_entropy", identity → "mse".
``to_sklearn`` goes back, to an estimator scikit-learn fitted for one step on a few rows (so
that every fitted attribute is its own) whose weights are then replaced by the model's, kept in
the model's dtype: with float32 input it computes in float32 as nanomlp does.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import build_model, require

if TYPE_CHECKING:
    from ..model import MLP

__all__ = ["from_sklearn", "to_sklearn"]

_OUT_LOSS = {"softmax": "cross_entropy", "logistic": "binary_cross_entropy", "identity": "mse"}
_TO_SKLEARN = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "identity": "identity"}


def from_sklearn(estimator: Any) -> MLP:
    """An ``MLP`` with the weights of a fitted scikit-learn ``MLPClassifier``/``MLPRegressor``.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted estimator (scikit-learn's, or nanomlp's own estimators).

    Returns
    -------
    MLP
        The model, in the coefficients' dtype; ``Trainer(model).predict_proba`` equals the
        classifier's ``predict_proba`` (for a binary classifier, its second column).

    Raises
    ------
    TypeError
        If ``estimator`` is not one of these estimators.
    ValueError
        If it is not fitted, or its activation or output is one nanomlp lacks.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from sklearn.neural_network import MLPClassifier
    >>> from nanomlp.interop.sklearn import from_sklearn
    >>> x, y = np.random.RandomState(0).rand(20, 4), np.arange(20) % 3
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(x, y)
    >>> from_sklearn(clf)
    MLP(layer_sizes=(4, 5, 3), seed=None, dtype='float64')
    """
    coefs, intercepts = _fitted(estimator)
    activation = getattr(estimator, "activation", None)
    if activation not in ("relu", "tanh", "logistic", "identity"):
        raise ValueError(f"estimator.activation {activation!r} is not one nanomlp has")
    out = getattr(estimator, "out_activation_", None)
    if out not in _OUT_LOSS:
        raise ValueError(
            f"estimator.out_activation_ {out!r} is not one nanomlp has (softmax, logistic, "
            "identity)"
        )
    weights = [np.asarray(c).T for c in coefs]
    return build_model(weights, intercepts, activation, _OUT_LOSS[out], 0.01)


def _fitted(estimator: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    require("sklearn", "sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from ..estimator import MLPClassifier as OurClassifier
    from ..estimator import MLPRegressor as OurRegressor

    kinds = (MLPClassifier, MLPRegressor, OurClassifier, OurRegressor)
    if not isinstance(estimator, kinds):
        raise TypeError(
            "estimator must be a fitted scikit-learn MLPClassifier or MLPRegressor, got "
            f"{type(estimator).__name__}"
        )
    if isinstance(estimator, (OurClassifier, OurRegressor)):
        if not hasattr(estimator, "model_"):
            raise ValueError(f"this {type(estimator).__name__} is not fitted yet: call fit first")
        return list(estimator.coefs_), list(estimator.intercepts_)
    coefs, intercepts = getattr(estimator, "coefs_", None), getattr(estimator, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise ValueError(f"this {type(estimator).__name__} is not fitted yet: call fit first")
    return [np.asarray(c) for c in coefs], [np.asarray(b) for b in intercepts]


def to_sklearn(model: MLP) -> Any:
    """A fitted scikit-learn estimator computing what ``model`` computes.

    Parameters
    ----------
    model : MLP
        Every hidden layer with the same activation among relu, tanh, sigmoid and identity.

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        For "cross_entropy": a classifier over the classes ``0 … k-1``; for
        "binary_cross_entropy" with one output, a binary classifier over ``0, 1``, with more,
        a multi-label classifier; for "mse" and "huber", a regressor. Its ``coefs_`` are
        copies of the weights, in the model's dtype.

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install "nanomlp[sklearn]"``).
    ValueError
        For an activation scikit-learn lacks (leaky_relu, gelu, gelu_tanh), different
        activations per layer, or a softmax over one output.

    Examples
    --------
    >>> from nanomlp import MLP
    >>> from nanomlp.interop.sklearn import to_sklearn
    >>> clf = to_sklearn(MLP((4, 5, 3), activation="tanh"))
    >>> clf.classes_, clf.activation
    (array([0, 1, 2]), 'tanh')
    """
    require("sklearn", "sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    acts = set(model.activations) or {"relu"}
    if len(acts) > 1:
        raise ValueError(
            f"scikit-learn uses one activation for every hidden layer; the model has {model.activations}"
        )
    act = acts.pop()
    if act not in _TO_SKLEARN:
        layer = model.activations.index(act)
        raise ValueError(
            f"hidden layer {layer}: scikit-learn has no {act!r} activation (only relu, tanh, "
            "logistic and identity)"
        )
    hidden = tuple(model.layer_sizes[1:-1])
    k, n = model.n_outputs, model.n_features
    dtype = model.dtype
    x = np.zeros((max(k, 2), n), dtype=dtype)
    common = {"hidden_layer_sizes": hidden, "activation": _TO_SKLEARN[act], "random_state": 0}
    if model.loss in ("mse", "huber"):
        y = np.zeros(len(x)) if k == 1 else np.zeros((len(x), k))
        estimator = MLPRegressor(**common).partial_fit(x, y)
    elif model.loss == "cross_entropy":
        if k < 2:
            raise ValueError("a softmax over one output has no scikit-learn equivalent")
        classes = np.arange(k)
        estimator = MLPClassifier(**common).partial_fit(x[:k], classes, classes=classes)
    elif k == 1:
        classes = np.arange(2)
        estimator = MLPClassifier(**common).partial_fit(x[:2], classes, classes=classes)
    else:  # multi-label: an indicator matrix, every label seen both ways
        y = np.zeros((2, k), dtype=np.int64)
        y[1] = 1
        with warnings.catch_warnings():  # one step is all it needs: no convergence wanted
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator = MLPClassifier(**common, max_iter=1).fit(x[:2], y)
    estimator.coefs_ = [np.array(w, dtype=dtype) for w in model.weights]
    estimator.intercepts_ = [np.array(b, dtype=dtype) for b in model.biases]
    estimator.n_iter_ = 0
    estimator.t_ = 0
    estimator.loss_curve_ = []
    return estimator


def estimator_from_sklearn(cls: type, estimator: Any) -> Any:
    """``nanomlp.MLPClassifier.from_sklearn`` / ``MLPRegressor.from_sklearn``: a fitted nanomlp
    estimator (``cls``) with the weights, parameters and ``classes_`` of scikit-learn's.

    A binary classifier's single logistic unit ``z`` becomes a softmax over ``[0, z]``, which
    is ``[1 − σ(z), σ(z)]``: nanomlp's classifier has one output per class. ``solver="lbfgs"``
    (which nanomlp lacks) becomes "adam" for any later fit.
    """
    from ..estimator import MLPClassifier as OurClassifier

    coefs, intercepts = _fitted(estimator)
    is_classifier = hasattr(estimator, "classes_")
    if issubclass(cls, OurClassifier) != is_classifier:
        want = "classifier" if issubclass(cls, OurClassifier) else "regressor"
        raise TypeError(
            f"{cls.__name__}.from_sklearn needs a fitted {want}, got {type(estimator).__name__}"
        )
    params = {k: v for k, v in estimator.get_params().items() if k in cls._get_param_names()}
    if params.get("solver") == "lbfgs":
        params["solver"] = "adam"
    ours = cls(**params)
    ours._check_params()
    model = from_sklearn(estimator)
    if (
        is_classifier
        and model.loss == "binary_cross_entropy"
        and len(estimator.classes_) == 2
        and model.n_outputs == 1
    ):
        weights = [w.T for w in model.weights]
        biases = list(model.biases)
        zero_w = np.zeros_like(weights[-1])
        weights[-1] = np.concatenate([zero_w, weights[-1]])
        biases[-1] = np.concatenate([np.zeros_like(biases[-1]), biases[-1]])
        model = build_model(weights, biases, model.activations, "cross_entropy", 0.01)
    if is_classifier:
        ours._engine_loss = model.loss
    ours._initialise(int(coefs[0].shape[0]), model.n_outputs)
    ours.model_.params[...] = model.params.astype(np.float32)
    ours.n_iter_ = int(getattr(estimator, "n_iter_", 0))
    ours.t_ = int(getattr(estimator, "t_", 0))
    ours.loss_curve_ = list(getattr(estimator, "loss_curve_", []) or [])
    ours._best_params = None
    if is_classifier:
        ours.classes_ = np.asarray(estimator.classes_)
        ours.out_activation_ = "logistic" if model.loss == "binary_cross_entropy" else "softmax"
    else:
        ours.out_activation_ = "identity"
    if hasattr(estimator, "feature_names_in_"):
        ours.feature_names_in_ = np.asarray(estimator.feature_names_in_)
    return ours
