"""The exceptions of ``nanomlp.datasets``: each is also the built-in error a caller may expect."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error of ``nanomlp.datasets``.

    Examples
    --------
    >>> import tempfile
    >>> from nanomlp.datasets import DatasetError, load_mnist
    >>> try:
    ...     load_mnist(tempfile.mkdtemp())
    ... except DatasetError as err:
    ...     print(type(err).__name__)
    DatasetNotFoundError
    """


class DatasetFormatError(DatasetError, ValueError):
    """A file is not what it should be: wrong magic number, bad header, truncated, bad gzip, bad npz.

    Examples
    --------
    >>> import os, tempfile
    >>> from nanomlp.datasets import DatasetFormatError, load_mnist
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not an npz file")
    >>> try:
    ...     load_mnist(path)
    ... except DatasetFormatError as err:
    ...     print(isinstance(err, ValueError))
    True
    """


class ChecksumError(DatasetError, ValueError):
    """A file's SHA-256 is not the published one.

    Examples
    --------
    >>> from nanomlp.datasets import ChecksumError
    >>> issubclass(ChecksumError, ValueError)  # raised when verify=True finds a changed file
    True
    """


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset is in none of the places searched, and was not downloaded.

    Examples
    --------
    >>> import tempfile
    >>> from nanomlp.datasets import DatasetNotFoundError, load_mnist
    >>> try:
    ...     load_mnist(tempfile.mkdtemp(), download=False)
    ... except DatasetNotFoundError as err:
    ...     print(isinstance(err, FileNotFoundError), str(err).splitlines()[0])
    True MNIST not found at the path given:
    """


class DownloadError(DatasetError, OSError):
    """Every mirror failed.

    Examples
    --------
    >>> import tempfile
    >>> from nanomlp.datasets import DownloadError, download
    >>> try:
    ...     download("mnist", mirrors=["http://127.0.0.1:9/"], cache_dir=tempfile.mkdtemp(), timeout=2)
    ... except DownloadError as err:
    ...     print(isinstance(err, OSError))
    True
    """
