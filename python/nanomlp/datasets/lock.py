"""One download into a cache folder at a time, across processes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .._progress import is_terminal
from .errors import DownloadError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked(folder: Path, title: str) -> Iterator[bool]:
    """An exclusive lock on ``folder/.lock`` for the time of a download; yields whether it is held.

    It stops two processes from downloading the same files at once, and lets the one that waited
    find the files the other cached. Every file appears by an atomic rename of a verified copy,
    so readers need no lock.
    """
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DownloadError(
            f"cannot write in the cache folder {folder} ({exc}); set NANOMLP_CACHE to a writable folder"
        ) from exc
    held = False
    try:
        try:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = f"waiting for another process that is downloading {title} into {folder}"
                log.info(message)
                if is_terminal(sys.stderr):
                    print(message, file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        except ImportError:  # Windows
            try:
                import msvcrt

                while True:
                    try:
                        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                        held = True
                        break
                    except OSError:
                        time.sleep(0.1)
            except ImportError:
                pass
        except OSError as exc:  # a file system without locks: go on, unlocked
            log.warning("cannot lock %s (%s): going on without the lock", folder / ".lock", exc)
        yield held
    finally:
        os.close(fd)  # releases the lock
