"""Files written whole or not at all, and JSON that understands NumPy."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Callable, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# mkstemp creates files readable by the owner only; a saved model should get the usual
# permissions. Read once, at import, because reading the umask means setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(
    path: PathLike,
    mode: str = "wb",
    encoding: str | None = None,
    *,
    suffix: str = ".tmp",
    verify: Callable[[Path], None] | None = None,
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    The temporary file (``.NAME.XXXX`` + ``suffix``) lives in the same folder so the final
    ``os.replace`` is a rename within one file system, which POSIX and Windows make atomic.
    ``verify(temporary_path)``, if given, runs on the complete file before the rename and
    may raise to keep it out. If the block or ``verify`` raises (or the process is killed) the
    previous ``path`` is left untouched; on an exception the temporary file is removed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    existed = path.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(Path(tmp))
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            # A full disk or a failing device: say what happened to the file the user cares about.
            raise _say_what_was_kept(err, path, existed) from err
        raise
    fsync_dir(folder)


def _say_what_was_kept(err: OSError, path: Path, existed: bool) -> OSError:
    kept = "the previous file is left intact" if existed else "no file was written"
    message = f"cannot write {path} ({err.strerror or err}); {kept}"
    args = (err.errno, message) if err.errno is not None else (message,)
    try:
        return type(err)(*args)
    except Exception:  # a subclass with another signature
        return OSError(*args)


def fsync_dir(folder: PathLike) -> None:
    """Make a rename in ``folder`` durable: it is on disk only once the folder's entry is."""
    with contextlib.suppress(OSError, AttributeError):  # Windows cannot open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def json_default(value: Any) -> Any:
    """NumPy scalars and arrays and paths (a history's floats, a config's folders) as JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def write_json(path: PathLike, data: Any) -> None:
    """``data`` as indented JSON, written atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=json_default)
        f.write("\n")
