"""Atomic file writes: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]

# mkstemp creates files readable by the owner only; a saved model should get the usual
# permissions. Read once, at import, because reading the umask means setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    The temporary file lives in the same folder so the final ``os.replace`` is a rename within
    one file system, which POSIX and Windows make atomic. If the block raises (or the process
    is killed) the previous ``path`` is left untouched; on an exception the temporary file is
    removed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    existed = path.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            # A full disk or a failing device: say what happened to the file the user cares about.
            kept = "the previous file is left intact" if existed else "no file was written"
            message = f"cannot write {path} ({err.strerror or err}); {kept}"
            args = (err.errno, message) if err.errno is not None else (message,)
            try:
                clear = type(err)(*args)
            except Exception:  # a subclass with another signature
                clear = OSError(*args)
            raise clear from err
        raise
    # The rename itself is durable only once the folder's entry is on disk.
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
