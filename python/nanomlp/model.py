"""The multilayer perceptron: layer sizes, parameters and their initialisation."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import _defaults
from ._activations import ACTIVATIONS, ALIASES, DEFAULT_NEGATIVE_SLOPE, canonical_name
from ._checks import check_float, check_fraction, check_int, check_layer_sizes
from ._model_file import FILE_FORMAT, FILE_VERSION, read_model, write_model  # noqa: F401
from .losses import OUTPUTS, check_delta, check_loss

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The initialisations MLP(init=...) knows; see MLP.
INITS = ("notebook", "he", "glorot", "sklearn", "torch")


def parameter_layout(layer_sizes: Sequence[int]) -> list[tuple[int, int, int]]:
    """(weight offset, bias offset, end) of each layer in the flat parameter buffer.

    Layer by layer, the weights [fan_in × fan_out] row-major, then the biases [fan_out]:
    the order the native engine reads them in.
    """
    layout, offset = [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        bias = offset + fan_in * fan_out
        layout.append((offset, bias, bias + fan_out))
        offset = bias + fan_out
    return layout


def parameter_views(
    flat: np.ndarray, layer_sizes: Sequence[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-layer views (weights [fan_in × fan_out], biases [fan_out]) of a flat buffer laid out
    as ``parameter_layout`` says: the parameters, or anything shaped like them (velocities)."""
    weights, biases = [], []
    layout = parameter_layout(layer_sizes)
    for (w, b, end), fan_in, fan_out in zip(layout, layer_sizes, layer_sizes[1:]):
        weights.append(flat[w:b].reshape(fan_in, fan_out))
        biases.append(flat[b:end])
    return weights, biases


class MLP:
    """A multilayer perceptron: Linear → activation → … → Linear → output over ``layer_sizes``.

    All parameters live in one contiguous array, ``params``; ``weights[l]`` (fan_in × fan_out)
    and ``biases[l]`` (fan_out,) are views into it, so writing to them changes the model.
    ``init`` draws the parameters from ``numpy.random.RandomState(seed)``, layer by layer; the
    same ``random_state`` then draws each epoch's shuffle during training. NumPy's global random
    state is never touched.

    Parameters
    ----------
    layer_sizes : sequence of int, default (784, 128, 64, 10)
        The input width, each hidden layer's width, and the number of outputs.
    seed : int or None, default 42
        Seed of the initialisation and of the shuffles, in [0, 2**32); None draws one.
    dtype : {"float32", "float64"}, default "float32"
        The parameters' dtype. The native engine trains float32; the NumPy reference both.
    dropout : float or sequence of float, default 0.0
        Inverted dropout rate in [0, 1) for every hidden layer, or one per hidden layer.
    activation : str or sequence of str, default "relu"
        The hidden layers' activation, one name for all or one per hidden layer: "identity",
        "relu", "leaky_relu", "tanh", "sigmoid" (or "logistic"), "gelu" or "gelu_tanh".
        ``activations`` holds them, one per hidden layer, by canonical name.
    negative_slope : float, default 0.01
        The slope of ``leaky_relu`` below zero.
    init : {"notebook", "he", "glorot", "sklearn", "torch"}, default "notebook"
        "notebook": the classic notebook's, to the bit, ``randn(fan_in, fan_out) *
        sqrt(1 / fan_in)`` (LeCun normal) and zero biases; "he": ``randn * sqrt(2 / fan_in)``,
        zero biases; "glorot": ``uniform(±sqrt(6 / (fan_in + fan_out)))``, zero biases;
        "sklearn": scikit-learn's MLP, weights then biases from ``uniform(±sqrt(f / (fan_in +
        fan_out)))``, f = 2 next to a sigmoid layer, else 6; "torch": ``nn.Linear``'s, weights
        then biases from ``uniform(±1 / sqrt(fan_in))``.
    loss : {"cross_entropy", "binary_cross_entropy", "mse", "huber"}, default "cross_entropy"
        Fixes the output layer and what it predicts: softmax, a sigmoid per output, or raw values
        (identity). It is saved with the model, so a loaded model predicts as it was trained.
    delta : float, default 1.0
        Huber's delta, for ``loss="huber"``.

    Raises
    ------
    ValueError
        For a value out of range or unknown (the message names the argument), or a network too
        large for the machine (``MemoryError`` when it cannot be allocated).
    TypeError
        For an argument of the wrong type, such as a non-integer layer size.

    Examples
    --------
    >>> from nanomlp import MLP
    >>> model = MLP((4, 8, 3), seed=0)
    >>> model
    MLP(layer_sizes=(4, 8, 3), seed=0, dtype='float32')
    >>> [w.shape for w in model.weights], model.params.size
    ([(4, 8), (8, 3)], 67)
    >>> MLP((4, 8, 1), loss="mse", activation="tanh").activations
    ('tanh',)
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = _defaults.LAYER_SIZES,
        seed: int | None = _defaults.SEED,
        dtype: str | np.dtype = "float32",
        dropout: float | Sequence[float] = 0.0,
        activation: str | Sequence[str] = "relu",
        negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
        init: str = "notebook",
        loss: str = "cross_entropy",
        delta: float = 1.0,
    ) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        self.loss = check_loss(loss)
        self.delta = check_delta(delta)
        self.dropout = _check_dropout(dropout, len(self.layer_sizes) - 2)
        self.activations = check_activations(activation, len(self.layer_sizes) - 2)
        self.negative_slope = check_negative_slope(negative_slope)
        if not isinstance(init, str) or init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        self.init = init
        self._training_lock = threading.RLock()
        if seed is not None:
            seed = check_int(seed, "seed", 0)
            if seed >= 2**32:
                raise ValueError(f"seed must be < 2**32, got {seed}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as err:
            raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from err
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.seed = seed
        self.random_state = np.random.RandomState(seed)
        # Dropout masks are a hash of this key and (layer, step, row, unit), not draws from
        # random_state: any thread count, resumed run or backend gets the same masks.
        self.dropout_seed = seed if seed is not None else secrets.randbits(32)
        self.params = np.zeros(parameter_layout(self.layer_sizes)[-1][2], dtype=self.dtype)
        self._bind_views()
        self._initialise()
        # Where the training shuffle stands: the composed permutation of the training rows
        # after the last epoch (see Trainer.fit). With random_state it is all a resumed run
        # needs to draw the same shuffles as an uninterrupted one.
        self.shuffle_order: np.ndarray | None = None
        # Free-form JSON-able information saved with the model (training config, history ...).
        self.metadata: dict[str, Any] = {}
        # The optimizer's state (its arrays, laid out as params, and "step") and settings,
        # kept here by Trainer so that a saved model resumes its optimizer too.
        self.optimizer_state: dict[str, Any] | None = None
        self.optimizer_config: dict[str, Any] | None = None

    def _initialise(self) -> None:
        """Draw the parameters as ``init`` says (see the class docstring)."""
        rng, acts = self.random_state, self.activations
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            fan_in, fan_out = w.shape
            if self.init == "notebook":
                w[...] = rng.randn(fan_in, fan_out) * np.sqrt(1.0 / fan_in)
            elif self.init == "he":
                w[...] = rng.randn(fan_in, fan_out) * np.sqrt(2.0 / fan_in)
            elif self.init == "glorot":
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                w[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            else:
                if self.init == "sklearn":
                    # sklearn's _init_coef: factor 2 for logistic. The activation after the
                    # layer, or the one before it for the output layer.
                    near = acts[layer] if layer < len(acts) else acts[-1] if acts else None
                    factor = 2.0 if near == "sigmoid" else 6.0
                    bound = np.sqrt(factor / (fan_in + fan_out))
                else:  # torch: kaiming_uniform(a=√5) gives the same bound as the bias
                    bound = 1.0 / np.sqrt(fan_in)
                w[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
                b[...] = rng.uniform(-bound, bound, fan_out)

    def _bind_views(self) -> None:
        """``weights`` and ``biases`` as views of ``params``."""
        self.weights, self.biases = parameter_views(self.params, self.layer_sizes)

    @contextlib.contextmanager
    def _training(self) -> Iterator[None]:
        """Held while something writes the parameters; refused if another thread holds it.

        Two threads stepping the same parameters would race on them: the second is refused
        at once rather than made to wait. The holding thread may enter again (a callback
        that fits the model it is called from).
        """
        if not self._training_lock.acquire(blocking=False):
            raise RuntimeError(
                f"{self!r} is being trained in another thread; train one model from one thread "
                "at a time (give each thread its own MLP, or wait for the other fit to end)"
            )
        try:
            yield
        finally:
            self._training_lock.release()

    # Pickling would copy each view on its own; the views are rebuilt from params instead.
    # The lock cannot be pickled, and a copy is trained on its own anyway.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["weights"], state["biases"], state["_training_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._training_lock = threading.RLock()
        self._bind_views()

    @property
    def n_features(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    @property
    def output_activation(self) -> str:
        """The output layer's activation: "softmax", "sigmoid" or "identity"."""
        return OUTPUTS[self.loss]

    def save(self, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> None:
        """Write the model to an ``.npz`` file, atomically; ``MLP.load`` reads it back.

        The file holds a format version, the layer sizes, the dtype, the flat parameters, the
        state of ``random_state``, ``shuffle_order``, the optimizer's state and ``metadata`` as
        JSON with the nanomlp version added. No pickle: any NumPy can read it. The file is written
        beside ``path`` under a temporary name, flushed, fsynced and then renamed, so a crash during
        a save leaves the previous file intact.
        A path ending in ``.safetensors`` writes the weights under PyTorch's names instead
        (architecture in the header; ``interop.safetensors``; ``metadata`` is not kept there).

        Parameters
        ----------
        path : str or os.PathLike
            Where to write; ``.npz`` is the usual suffix.
        metadata : mapping, optional
            JSON-able information to keep with the model (default: the model's own ``metadata``).

        Raises
        ------
        ValueError
            When the parameters hold NaN or infinity (such a model could not be loaded back), or
            ``metadata`` is not JSON-able.
        OSError
            When the file cannot be written; the previous file at ``path`` is left intact.

        Examples
        --------
        >>> import os, tempfile
        >>> from nanomlp import MLP
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> MLP((4, 8, 3), seed=0).save(path, metadata={"note": "untrained"})
        >>> MLP.load(path).metadata["note"]
        'untrained'
        """
        if str(path).endswith(".safetensors"):
            from .interop.safetensors import save_safetensors

            save_safetensors(self, path)
        else:
            write_model(self, path, metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLP:
        """Read a model written by ``save``: same parameters to the bit, same random stream.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file that ``save`` wrote, or a ``.safetensors`` file
            (``interop.safetensors.load_safetensors``).

        Returns
        -------
        MLP
            The model, with its optimizer state, dropout rates, activations and loss.

        Raises
        ------
        FileNotFoundError
            For a missing file.
        ValueError
            Naming the file, for one that is truncated, corrupted, from another program or from a
            newer nanomlp. Loading never executes code from the file.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from nanomlp import MLP
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> model = MLP((4, 8, 3), seed=0)
        >>> model.save(path)
        >>> np.array_equal(MLP.load(path).params, model.params)
        True
        """
        if str(path).endswith(".safetensors"):
            from .interop.safetensors import load_safetensors

            return load_safetensors(path)
        return read_model(cls, path)

    def to_onnx(
        self, path: str | os.PathLike[str], opset: int = 17, probabilities: bool = True
    ) -> None:
        """Write the network as an ONNX file, atomically (``interop.onnx.to_onnx``).

        Parameters
        ----------
        path : str or os.PathLike
            The file; its folder must exist.
        opset : int, default 17
            ONNX opset; 17 with IR version 8 loads in onnxruntime >= 1.13.
        probabilities : bool, default True
            Output ``output`` as probabilities (a regression's values), else the logits.

        Returns
        -------
        None

        Raises
        ------
        ImportError
            Without ``nanomlp[onnx]``.
        ValueError
            For a bad opset, a missing folder or non-finite parameters.

        Examples
        --------
        >>> import os, tempfile
        >>> MLP((4, 3, 2)).to_onnx(os.path.join(tempfile.mkdtemp(), "model.onnx"))
        """
        from .interop.onnx import to_onnx

        to_onnx(self, path, opset=opset, probabilities=probabilities)

    @classmethod
    def from_torch(cls, module_or_state_dict: Any, **kwargs: Any) -> MLP:
        """The model of a PyTorch ``nn.Sequential`` or ``state_dict`` (``interop.torch``).

        Parameters
        ----------
        module_or_state_dict : torch.nn.Sequential or mapping
            Linear layers and supported activations, or their tensors.
        **kwargs
            ``activation``, ``loss``, ``negative_slope`` of ``interop.torch.from_torch``.

        Returns
        -------
        MLP

        Raises
        ------
        ValueError
            For an unsupported layer (named), bad tensors, or a state dict without activation.

        Examples
        --------
        >>> import numpy as np
        >>> state = {"0.weight": np.zeros((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
        >>> MLP.from_torch(state, activation="relu").layer_sizes
        (3, 2)
        """
        from .interop.torch import from_torch

        return from_torch(module_or_state_dict, **kwargs)

    @classmethod
    def from_sklearn(cls, estimator: Any) -> MLP:
        """The model of a fitted scikit-learn MLP (``interop.sklearn.from_sklearn``).

        Parameters
        ----------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            Fitted.

        Returns
        -------
        MLP

        Raises
        ------
        TypeError, ValueError
            For another estimator, or one not fitted.

        Examples
        --------
        >>> MLP.from_sklearn(MLP((4, 3, 2)).to_sklearn()).layer_sizes
        (4, 3, 2)
        """
        from .interop.sklearn import from_sklearn

        return from_sklearn(estimator)

    def to_sklearn(self) -> Any:
        """A fitted scikit-learn MLP computing the same (``interop.sklearn.to_sklearn``).

        Returns
        -------
        sklearn.neural_network.MLPClassifier or MLPRegressor

        Raises
        ------
        ValueError
            For an activation scikit-learn lacks, or several activations.

        Examples
        --------
        >>> MLP((4, 3, 2), loss="mse").to_sklearn().n_outputs_
        2
        """
        from .interop.sklearn import to_sklearn

        return to_sklearn(self)

    def __repr__(self) -> str:
        acts = set(self.activations)
        act = f", activation={self.activations!r}" if acts - {"relu"} else ""
        if len(acts) == 1 and act:
            act = f", activation='{self.activations[0]}'"
        if self.loss != "cross_entropy":
            act += f", loss='{self.loss}'" + (
                f", delta={self.delta}" if self.loss == "huber" else ""
            )
        return f"MLP(layer_sizes={self.layer_sizes}, seed={self.seed}, dtype='{self.dtype}'{act})"


def check_activations(activation: Any, n_hidden: int) -> tuple[str, ...]:
    """One canonical activation name per hidden layer, from one name for all or a sequence."""
    known = ", ".join([*ACTIVATIONS, *ALIASES])

    def one(name: Any, label: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"{label} must be an activation name, got {name!r}")
        try:
            return canonical_name(name)
        except ValueError:
            raise ValueError(
                f"{label}: unknown activation {name!r}, expected one of {known}"
            ) from None

    if isinstance(activation, str):
        return (one(activation, "activation"),) * n_hidden
    if not isinstance(activation, (Sequence, np.ndarray)):
        raise TypeError(f"activation must be a name or a sequence of names, got {activation!r}")
    names = tuple(one(a, f"activation[{i}]") for i, a in enumerate(activation))
    if len(names) != n_hidden:
        raise ValueError(
            f"activation must be one name or one per hidden layer ({n_hidden}), got {len(names)}"
        )
    return names


def check_negative_slope(negative_slope: Any) -> float:
    """leaky_relu's slope: a real number, finite in float32 too (the engine's type)."""
    value = check_float(negative_slope, "negative_slope")
    if abs(value) > float(np.finfo(np.float32).max):
        raise ValueError(f"negative_slope must be finite in float32, got {value}")
    return value


def _check_dropout(dropout: Any, n_hidden: int) -> tuple[float, ...]:
    """One dropout rate in [0, 1) per hidden layer, from one rate for all or a sequence."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        rates = tuple(check_fraction(p, f"dropout[{i}]") for i, p in enumerate(dropout))
        if len(rates) != n_hidden:
            raise ValueError(
                f"dropout must be one rate or one per hidden layer ({n_hidden}), got {len(rates)}"
            )
        return rates
    return (check_fraction(dropout, "dropout"),) * n_hidden
