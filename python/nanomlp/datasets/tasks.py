"""What each dataset's targets mean: its task type, its class (or target) names.

``describe(name)`` answers without loading anything (and without scikit-learn); every loader
returns a ``TrainTest``, the usual ``(x_train, y_train), (x_test, y_test)`` pair that also
carries the same description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The task types: what the targets ``y`` hold, and so which loss a network needs.
#: classification: int64 class ids (n,), softmax + cross-entropy;
#: binary: int64 class ids in {0, 1} (n,), one sigmoid output + binary cross-entropy;
#: multilabel: float32 indicators (n, k), k sigmoids + binary cross-entropy;
#: regression: float32 values (n,) or (n, k), mean squared error.
TASKS = ("classification", "binary", "multilabel", "regression")

DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MULTILABEL = ("digit ≥ 5", "odd")


@dataclass(frozen=True)
class Description:
    """A dataset's task: ``target_names`` name the classes (classification, binary), the
    labels (multilabel) or the predicted values (regression).

    Parameters
    ----------
    name : str
        The registry's name ("mnist", "breast-cancer", ...).
    title : str
        The name to print ("MNIST").
    task : {"classification", "binary", "multilabel", "regression"}
        What the targets are.
    target_names : tuple of str
        The classes, the labels or the predicted values.
    loader : str
        The function of ``nanomlp.datasets`` that loads it.
    source : {"download", "scikit-learn"}
        Found or fetched as ``load_mnist`` does, or bundled with scikit-learn.

    Raises
    ------
    TypeError
        For a missing field (it is a frozen dataclass).

    Examples
    --------
    >>> from nanomlp.datasets import describe
    >>> d = describe("breast_cancer")
    >>> d.name, d.task, d.target_names, d.source
    ('breast-cancer', 'binary', ('malignant', 'benign'), 'scikit-learn')
    """

    name: str
    title: str
    task: str
    target_names: tuple[str, ...]
    loader: str  # the function of nanomlp.datasets that loads it
    source: str  # "download" (found or fetched as load_mnist does) or "scikit-learn" (bundled)

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The names of the class ids, for the tasks whose targets are class ids."""
        return self.target_names if self.task in ("classification", "binary") else None


DESCRIPTIONS = {
    d.name: d
    for d in (
        Description("mnist", "MNIST", "classification", DIGITS, "load_mnist", "download"),
        Description(
            "fashion-mnist",
            "Fashion-MNIST",
            "classification",
            FASHION,
            "load_fashion_mnist",
            "download",
        ),
        Description(
            "mnist-multilabel",
            "MNIST (multi-label)",
            "multilabel",
            MULTILABEL,
            "load_mnist_multilabel",
            "download",
        ),
        Description(
            "digits", "Digits (8×8)", "classification", DIGITS, "load_digits", "scikit-learn"
        ),
        Description(
            "breast-cancer",
            "Breast cancer (Wisconsin)",
            "binary",
            ("malignant", "benign"),
            "load_breast_cancer",
            "scikit-learn",
        ),
        Description(
            "diabetes",
            "Diabetes",
            "regression",
            ("disease progression",),
            "load_diabetes",
            "scikit-learn",
        ),
    )
}
ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist"}


def canonical(name: str) -> str:
    """``name`` as the registry spells it: lower case, dashes ("breast_cancer" → "breast-cancer")."""
    key = str(name).strip().lower().replace("_", "-")
    return ALIASES.get(key, key)


def describe(name: str) -> Description:
    """The task type and target names of the dataset ``name``; loads nothing.

    Parameters
    ----------
    name : str
        Any case, dashes or underscores ("fashion_mnist").

    Returns
    -------
    Description
        The dataset's task and names.

    Raises
    ------
    ValueError
        For an unknown dataset.

    Examples
    --------
    >>> from nanomlp.datasets import describe
    >>> describe("Fashion-MNIST").task
    'classification'
    """
    key = canonical(name)
    if key not in DESCRIPTIONS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DESCRIPTIONS)}")
    return DESCRIPTIONS[key]


def class_names(name: str) -> tuple[str, ...] | None:
    """The names of the dataset's class ids, in id order; loads nothing.

    Parameters
    ----------
    name : str
        Any case, dashes or underscores.

    Returns
    -------
    tuple of str or None
        None for regression and multi-label datasets.

    Raises
    ------
    ValueError
        For an unknown dataset.

    Examples
    --------
    >>> from nanomlp.datasets import class_names
    >>> class_names("fashion-mnist")[-1], class_names("diabetes")
    ('Ankle boot', None)
    """
    return describe(name).class_names


class TrainTest(tuple):
    """``((x_train, y_train), (x_test, y_test))`` that also knows what ``y`` means.

    It is a plain 2-tuple to unpack, index or compare; ``.description`` (and its shortcuts
    ``.task``, ``.target_names``, ``.class_names``) say what the targets are.

    Parameters
    ----------
    train, test : pair of arrays
        ``(x_train, y_train)`` and ``(x_test, y_test)``.
    description : Description
        What the targets mean.

    Raises
    ------
    TypeError
        When ``train`` or ``test`` is not iterable.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp.datasets import load_mnist
    >>> data = load_mnist(path, verify=False)
    >>> (x_train, y_train), (x_test, y_test) = data  # a plain 2-tuple
    >>> data.name, data.task, data.class_names[:3]
    ('mnist', 'classification', ('0', '1', '2'))
    """

    description: Description

    def __new__(cls, train: Any, test: Any, description: Description) -> TrainTest:
        self = super().__new__(cls, (tuple(train), tuple(test)))
        self.description = description
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self[0], self[1], self.description))

    @property
    def name(self) -> str:
        return self.description.name

    @property
    def task(self) -> str:
        return self.description.task

    @property
    def target_names(self) -> tuple[str, ...]:
        return self.description.target_names

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return self.description.class_names


def with_description(pair: tuple[Any, Any], name: str) -> TrainTest:
    """The loaded ``(train, test)`` pair, labelled as the dataset ``name``."""
    train, test = pair
    return TrainTest(train, test, describe(name))
