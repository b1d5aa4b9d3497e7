"""MNIST and Fashion-MNIST, online and offline; scikit-learn's bundled datasets.

``load_mnist()`` and ``load_fashion_mnist()`` return ``(x_train, y_train), (x_test, y_test)``:
x float32 in [0, 1] of shape (N, 784) (or uint8, or (N, 28, 28)), y int64, all C-contiguous.
The pair is a ``TrainTest``, a tuple that also says what y means: ``.task``
("classification", "binary", "multilabel" or "regression"), ``.class_names``,
``.target_names``; ``describe(name)`` and ``class_names(name)`` say the same without loading.
``load_mnist_multilabel()`` gives MNIST with two yes/no labels per image; ``load_digits()``,
``load_breast_cancer()`` and ``load_diabetes()`` (module ``tabular``) need scikit-learn.

Where the data is looked for, in order (``dataset_info()`` shows it for this machine):

1. ``path=``: a folder of the four IDX files (gzip or raw), a root holding ``mnist/``,
   ``fashion-mnist/`` or torchvision's ``MNIST/raw/``, or an ``.npz`` file. When ``path`` is given
   it is the only place looked at: a typo never silently loads another copy.
2. ``$NANOMLP_DATA``, the same kinds of folder.
3. nanomlp's cache: ``$NANOMLP_CACHE``, else ``$XDG_CACHE_HOME/nanomlp``, else
   ``~/.cache/nanomlp``; one sub-folder per dataset.
4. What other tools downloaded: Keras (``$KERAS_HOME/datasets``, else ``~/.keras/datasets``) and a
   torchvision-style ``./data/MNIST/raw`` (``./data/FashionMNIST/raw``).
5. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
6. A download into the cache, unless ``download=False`` or ``NANOMLP_OFFLINE=1``.

Every file is checked against the SHA-256 of its decompressed content (so a recompressed copy
still verifies); ``verify=False`` skips that for custom data. A download is written to a temporary
name in the cache folder, verified, then renamed into place, under a lock file, so an interrupted
or failed download never leaves a file that a later call would trust.

The modules: ``specs`` (the datasets, the cache, the environment), ``checksums``, ``idx`` and
``npz`` (the two file formats), ``arrays`` (what a loader returns), ``locate`` (the search order),
``lock`` and ``fetch`` (downloads), ``info`` (``dataset_info``), ``errors``; ``tasks`` (what the
targets mean), ``multilabel`` and ``tabular`` (the derived and the bundled datasets).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .arrays import Split, check_dtype

# Also importable from here: the file names, the formats' magic numbers, the published hashes.
from .checksums import SHA256  # noqa: F401
from .errors import (
    ChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    DownloadError,
)
from .fetch import DEFAULT_TIMEOUT, ProgressArg, fill_cache
from .idx import IMAGE_MAGIC, LABEL_MAGIC, read_idx  # noqa: F401
from .info import DatasetInfo, dataset_info
from .locate import Found, format_searched, locate
from .multilabel import LABEL_NAMES, multilabel_targets, relabel
from .npz import read_npz
from .specs import (
    DATASETS,
    IDX_FILES,
    SPLIT_FILES,  # noqa: F401
    MirrorsArg,
    Spec,
    cache_root,
    offline,
)
from .specs import spec as find_spec
from .tabular import load_breast_cancer, load_diabetes, load_digits
from .tasks import (
    DESCRIPTIONS,
    TASKS,
    Description,
    TrainTest,
    class_names,
    describe,
    with_description,
)

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist_multilabel",
    "load_digits",
    "load_breast_cancer",
    "load_diabetes",
    "load",
    "download",
    "describe",
    "class_names",
    "multilabel_targets",
    "Description",
    "TrainTest",
    "TASKS",
    "ALL_DATASETS",
    "LABEL_NAMES",
    "dataset_info",
    "DatasetInfo",
    "DatasetError",
    "DatasetFormatError",
    "ChecksumError",
    "DatasetNotFoundError",
    "DownloadError",
    "DATASETS",
]

# Shown, pickled and recognised (the command line adds a hint to these errors) as this module's.
for _public in (
    DatasetInfo,
    Description,
    TrainTest,
    DatasetError,
    DatasetFormatError,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
):
    _public.__module__ = __name__
del _public

log = logging.getLogger(__name__)

#: Every dataset ``load`` knows; ``DATASETS`` are those found on disk or downloaded.
ALL_DATASETS = tuple(DESCRIPTIONS)
_BUNDLED = {"digits": load_digits, "breast-cancer": load_breast_cancer, "diabetes": load_diabetes}


def _read(
    found: Found, spec: Spec, verify: bool, dtype: np.dtype, flatten: bool
) -> tuple[Split, Split]:
    if found.kind == "npz":
        return read_npz(
            found.files["npz"], spec, found.source, verify=verify, dtype=dtype, flatten=flatten
        )
    return read_idx(found.files, spec, found.source, verify=verify, dtype=dtype, flatten=flatten)


def _how_to_fix(spec: Spec, cache: Path, why: str) -> str:
    files = ", ".join(b + ".gz" for b in IDX_FILES)
    npz = f" or {spec.npz_name}" if spec.npz_name else ""
    if "NANOMLP_OFFLINE" in why:
        allow = "  - if this machine may use the network: unset NANOMLP_OFFLINE, and it downloads into the cache;\n"
    else:
        allow = "  - if this machine may use the network: call without download=False, and it downloads into the cache;\n"
    return (
        "To fix it, either:\n"
        + allow
        + f"  - on a machine with internet access, run: python -c \"import nanomlp.datasets as d; d.download('{spec.name}')\"\n"
        f"    (it fills {cache}; copy that folder to the same place, or to $NANOMLP_CACHE/{spec.subdir}, on an offline machine);\n"
        f"  - or put the four IDX files ({files}){npz} in a folder and pass path=FOLDER or set NANOMLP_DATA=FOLDER."
    )


def load(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    dtype="float32",
    flatten: bool = True,
    download: bool = True,
    mirrors: MirrorsArg = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressArg = None,
) -> TrainTest:
    """Load the dataset ``name``, one of ``ALL_DATASETS``.

    "mnist", "fashion-mnist" and "mnist-multilabel" take the arguments of ``load_mnist``; the
    scikit-learn datasets ("digits", "breast-cancer", "diabetes") take none of them and come
    with their default split.

    Parameters
    ----------
    name : str
        The dataset, as ``describe`` spells it (any case, dashes or underscores).
    path, dtype, flatten, download, mirrors, cache_dir, verify, timeout, progress
        As in ``load_mnist``.

    Returns
    -------
    TrainTest
        ``(x_train, y_train), (x_test, y_test)``, knowing its task and target names.

    Raises
    ------
    ValueError
        For an unknown name, or ``path`` with a bundled dataset.
    DatasetNotFoundError, DownloadError, DatasetFormatError, ChecksumError
        As in ``load_mnist``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp import datasets
    >>> data = datasets.load("mnist-multilabel", path, verify=False)
    >>> data.task, data[0][1][:3]
    ('multilabel', array([[0., 0.],
           [0., 1.],
           [0., 0.]], dtype=float32))
    """
    key = describe(name).name
    if key in _BUNDLED:
        if path is not None:
            raise ValueError(f"{key} is bundled with scikit-learn: path= does not apply to it")
        return _BUNDLED[key]()
    files = "mnist" if key == "mnist-multilabel" else key
    pair = _load_files(
        files,
        path,
        dtype=dtype,
        flatten=flatten,
        download=download,
        mirrors=mirrors,
        cache_dir=cache_dir,
        verify=verify,
        timeout=timeout,
        progress=progress,
    )
    return relabel(pair) if key == "mnist-multilabel" else with_description(pair, key)


def _load_files(
    name: str,
    path: str | os.PathLike[str] | None,
    *,
    dtype: object,
    flatten: bool,
    download: bool,
    mirrors: MirrorsArg,
    cache_dir: str | os.PathLike[str] | None,
    verify: bool,
    timeout: float,
    progress: ProgressArg,
) -> tuple[Split, Split]:
    spec = find_spec(name)
    dt = check_dtype(dtype)
    found, searched = locate(spec, path, cache_dir)
    if found is None:
        cache = cache_root(cache_dir) / spec.subdir
        if path is not None:
            raise DatasetNotFoundError(
                f"{spec.title} not found at the path given:\n{format_searched(searched)}\n"
                f"Expected there: the four IDX files ({', '.join(b + '[.gz]' for b in IDX_FILES)})"
                + (f", or {spec.npz_name}" if spec.npz_name else "")
                + f", directly or in {spec.subdir}/ or {spec.torchvision}/raw/. "
                "Nothing else is searched when path= is given: leave it out to use the cache or a download."
            )
        why = None
        if offline():
            why = "skipped: NANOMLP_OFFLINE=1"
        elif not download:
            why = "skipped: download=False"
        if why is not None:
            searched.append(("download", None, why))
            raise DatasetNotFoundError(
                f"{spec.title} not found, and not downloaded ({why.split(': ', 1)[1]}). Searched, in order:\n"
                f"{format_searched(searched)}\n{_how_to_fix(spec, cache, why)}"
            )
        # Verified as downloaded, and again as read below (0.1 s): the files may come from
        # another process that filled the cache while this one waited for the lock.
        found = fill_cache(
            spec,
            mirrors=mirrors,
            cache_dir=cache_dir,
            verify=verify,
            timeout=timeout,
            progress=progress,
            searched=searched,
        )
    try:
        return _read(found, spec, verify, dt, flatten)
    except (ChecksumError, DatasetFormatError) as damaged:
        # Only a cache this module filled is replaced: files the user points at are theirs.
        if found.source != "nanomlp cache" or not verify or not download or offline():
            raise
        log.warning("%s; downloading %s again", damaged, spec.title)
        try:
            found = fill_cache(
                spec,
                mirrors=mirrors,
                cache_dir=cache_dir,
                verify=verify,
                timeout=timeout,
                progress=progress,
                force=True,
                searched=searched,
            )
        except DownloadError as failed:
            raise type(damaged)(f"{damaged}\nDownloading it again failed too: {failed}") from failed
        return _read(found, spec, verify, dt, flatten)


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    dtype="float32",
    flatten: bool = True,
    download: bool = True,
    mirrors: MirrorsArg = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressArg = None,
) -> TrainTest:
    """MNIST as ``(x_train, y_train), (x_test, y_test)``: 60,000 and 10,000 digits.

    x is float32 in [0, 1] of shape (N, 784), or uint8 with ``dtype="uint8"``, or (N, 28, 28)
    with ``flatten=False``; y is int64; all are C-contiguous and writable. Class names
    "0".."9" (``.class_names`` of the result). Without ``path``, the data is looked for in
    ``$NANOMLP_DATA``, the cache, Keras's and torchvision's copies, then downloaded into the
    cache (unless ``download=False`` or ``NANOMLP_OFFLINE=1``).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A folder of the four IDX files (gzip or raw), a folder holding ``mnist/`` or
        ``MNIST/raw/``, or a Keras-style ``mnist.npz``; only that place is read.
    dtype : {"float32", "float64", "uint8"}, default "float32"
        The images' dtype: floats are scaled to [0, 1].
    flatten : bool, default True
        Rows of 784 values, else (N, 28, 28).
    download : bool, default True
        Download when the data is nowhere to be found.
    mirrors : str or sequence of str, optional
        Base URLs to download from (default: ``$NANOMLP_MNIST_MIRROR``, else the mirror
        torchvision uses, then Keras's).
    cache_dir : str or os.PathLike, optional
        The cache (default: ``$NANOMLP_CACHE``, else ``$XDG_CACHE_HOME/nanomlp``, else
        ``~/.cache/nanomlp``).
    verify : bool, default True
        Check every file against its published SHA-256; False for custom data.
    timeout : float, default 30
        Seconds allowed to each download request.
    progress : bool or callable, optional
        A bar on stderr (default: when it is a terminal), or a callable ``(file_name,
        bytes_done, bytes_total_or_None)``.

    Returns
    -------
    TrainTest
        ``(x_train, y_train), (x_test, y_test)``, with ``.task`` and ``.class_names``.

    Raises
    ------
    DatasetNotFoundError
        When the data is nowhere and is not downloaded; the message lists the places searched.
    DownloadError
        When every mirror fails.
    DatasetFormatError, ChecksumError
        For a damaged file (both are ValueErrors).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp.datasets import load_mnist
    >>> (x_train, y_train), (x_test, y_test) = data = load_mnist(path, verify=False)
    >>> x_train.shape, x_train.dtype, y_train.dtype, data.task
    ((8, 784), dtype('float32'), dtype('int64'), 'classification')
    >>> load_mnist(path, verify=False, dtype="uint8", flatten=False)[1][0].shape
    (4, 28, 28)
    """
    return load(
        "mnist",
        path,
        dtype=dtype,
        flatten=flatten,
        download=download,
        mirrors=mirrors,
        cache_dir=cache_dir,
        verify=verify,
        timeout=timeout,
        progress=progress,
    )


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    dtype="float32",
    flatten: bool = True,
    download: bool = True,
    mirrors: MirrorsArg = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressArg = None,
) -> TrainTest:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like ``load_mnist``.

    Also found in Keras's ``~/.keras/datasets/fashion-mnist`` and in Debian's
    ``/usr/share/datasets/fashion-mnist``; downloaded from ``$NANOMLP_FASHION_MNIST_MIRROR``,
    else the folder Keras uses.

    Parameters
    ----------
    path, dtype, flatten, download, mirrors, cache_dir, verify, timeout, progress
        As in ``load_mnist``.

    Returns
    -------
    TrainTest
        The data, with the class names "T-shirt/top", "Trouser", ..., "Ankle boot".

    Raises
    ------
    DatasetNotFoundError, DownloadError, DatasetFormatError, ChecksumError
        As in ``load_mnist``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp.datasets import load_fashion_mnist
    >>> data = load_fashion_mnist(path, verify=False)
    >>> data.class_names[:3], data[0][1][:3]
    (('T-shirt/top', 'Trouser', 'Pullover'), array([0, 1, 2]))
    """
    return load(
        "fashion-mnist",
        path,
        dtype=dtype,
        flatten=flatten,
        download=download,
        mirrors=mirrors,
        cache_dir=cache_dir,
        verify=verify,
        timeout=timeout,
        progress=progress,
    )


def load_mnist_multilabel(
    path: str | os.PathLike[str] | None = None,
    *,
    dtype="float32",
    flatten: bool = True,
    download: bool = True,
    mirrors: MirrorsArg = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressArg = None,
) -> TrainTest:
    """MNIST's images, found as ``load_mnist`` finds them, with "multilabel" targets.

    y is float32 (N, 2) of 0/1 indicators: column 0 "digit ≥ 5", column 1 "odd" (the
    ``.target_names``); ``multilabel_targets(y)`` makes them from digit labels.

    Parameters
    ----------
    path, dtype, flatten, download, mirrors, cache_dir, verify, timeout, progress
        As in ``load_mnist``.

    Returns
    -------
    TrainTest
        The images and their (N, 2) targets.

    Raises
    ------
    DatasetNotFoundError, DownloadError, DatasetFormatError, ChecksumError
        As in ``load_mnist``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")  # Keras's layout, 12 random images
    >>> images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    >>> labels = np.arange(12, dtype=np.uint8) % 10
    >>> np.savez(path, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    >>> from nanomlp.datasets import load_mnist_multilabel
    >>> data = load_mnist_multilabel(path, verify=False)
    >>> data.target_names, data[1][1][:2]
    (('digit ≥ 5', 'odd'), array([[1., 0.],
           [1., 1.]], dtype=float32))
    """
    return load(
        "mnist-multilabel",
        path,
        dtype=dtype,
        flatten=flatten,
        download=download,
        mirrors=mirrors,
        cache_dir=cache_dir,
        verify=verify,
        timeout=timeout,
        progress=progress,
    )


def download(
    name: str = "mnist",
    *,
    mirrors: MirrorsArg = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressArg = None,
    force: bool = False,
) -> Path:
    """Fill nanomlp's cache with the dataset ``name`` and return its folder.

    Nothing is fetched when the cache already holds it, unless ``force``.

    Parameters
    ----------
    name : str, default "mnist"
        "mnist" or "fashion-mnist".
    mirrors, cache_dir, verify, timeout, progress
        As in ``load_mnist``.
    force : bool, default False
        Download again even when the cache holds the files.

    Returns
    -------
    pathlib.Path
        The folder holding the files.

    Raises
    ------
    DownloadError
        When every mirror fails, and when ``NANOMLP_OFFLINE=1``; nothing partial is left.
    ValueError
        For an unknown dataset.

    Examples
    --------
    >>> import tempfile
    >>> from nanomlp.datasets import download
    >>> download("mnist", mirrors=["http://127.0.0.1:9/"], cache_dir=tempfile.mkdtemp(), timeout=2)
    Traceback (most recent call last):
    ...
    nanomlp.datasets.DownloadError: MNIST ...
    """
    spec = find_spec(name)
    if offline():
        raise DownloadError(
            f"{spec.title} not downloaded: NANOMLP_OFFLINE=1 forbids downloads (unset it to download)"
        )
    found = fill_cache(
        spec,
        mirrors=mirrors,
        cache_dir=cache_dir,
        verify=verify,
        timeout=timeout,
        progress=progress,
        force=force,
    )
    return found.location if found.kind == "idx" else found.location.parent
