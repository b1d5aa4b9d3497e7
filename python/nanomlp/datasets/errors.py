"""The exceptions of ``nanomlp.datasets``: each is also the built-in error a caller may expect."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error of ``nanomlp.datasets``."""


class DatasetFormatError(DatasetError, ValueError):
    """A file is not what it should be: wrong magic number, bad header, truncated, bad gzip, bad npz."""


class ChecksumError(DatasetError, ValueError):
    """A file's SHA-256 is not the published one."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset is in none of the places searched, and was not downloaded."""


class DownloadError(DatasetError, OSError):
    """Every mirror failed."""
