"""The published SHA-256 of every file, and what a mismatch says."""

from __future__ import annotations

import hashlib
import os

from .errors import ChecksumError
from .specs import SPECS, Spec

#: SHA-256 of each *decompressed* IDX file (so a recompressed copy still verifies), and of
#: Keras's mnist.npz (the file itself).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as f:
        if hasattr(hashlib, "file_digest"):  # Python 3.11+
            return hashlib.file_digest(f, "sha256").hexdigest()
        return sha256(f.read())


def identify(digest: str) -> str:
    """' (that is MNIST's train-images-idx3-ubyte)' when a hash belongs to a known file."""
    for name, table in SHA256.items():
        for file, known in table.items():
            if known == digest:
                return f" (that is {SPECS[name].title}'s {file})"
    return ""


def local_hint(spec: Spec, source: str) -> str:
    """What to do about a local file that fails its check: only the cache is ours to replace."""
    if source == "nanomlp cache":
        return (
            f"The cached copy is damaged: delete it, or run nanomlp.datasets.download('{spec.name}', force=True).\n"
            "If it is your own data on purpose, pass verify=False."
        )
    return (
        "The file was left as it is. If it is damaged, replace it with a good copy; "
        "if it is your own data on purpose, pass verify=False."
    )


def verify_file(spec: Spec, path: os.PathLike[str], base: str, data: bytes, source: str) -> None:
    """Check the decompressed ``data`` of ``path``, the dataset's file ``base``, against its hash."""
    expected = SHA256.get(spec.name, {}).get(base)
    if expected is None:
        raise ChecksumError(
            f"{path}: no known SHA-256 for {spec.title} {base}; pass verify=False to load custom data"
        )
    actual = sha256(data)
    if actual != expected:
        raise ChecksumError(
            f"{path}: SHA-256 mismatch for {spec.title} {base}:\n"
            f"  expected {expected}\n"
            f"  actual   {actual}{identify(actual)}\n"
            f"{local_hint(spec, source)}"
        )
