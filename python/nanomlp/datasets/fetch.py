# Ours, not pooch: pooch has one URL per file, hashes the bytes as sent (not decompressed), locks nothing.
"""Downloads into nanomlp's cache: mirrors in order, each file hashed as it arrives (its
decompressed content), written under a temporary ``.part`` name and renamed into place only once
verified, under a lock, so an interrupted or failed download never leaves a file a later call
would trust."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import IO, Callable, Union

from .._io import atomic_write
from .._progress import StatusLine, bar, is_terminal, size
from .checksums import SHA256, identify
from .errors import ChecksumError, DatasetError, DownloadError
from .idx import structure_check
from .locate import Found, Searched, find_file, format_searched, probe_folder
from .lock import locked
from .npz import read_npz_arrays
from .specs import FETCH_ORDER, IDX_FILES, MirrorsArg, Spec, cache_root, mirror_urls

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
PART_SUFFIX = ".part"  # of a file being downloaded: ".NAME.XXXX.part"
_CHUNK = 1 << 16
_USER_AGENT = "nanomlp-datasets (Python urllib)"

#: ``progress=``: None (a bar when stderr is a terminal), True (a bar), False, or a callable
#: ``(file_name, bytes_done, bytes_total_or_None)``.
ProgressArg = Union[None, bool, Callable[[str, int, "int | None"], None]]


class MirrorFailed(Exception):
    """One URL failed in a way that the next mirror may fix (not an OSError: a full disk is not
    the mirror's fault, and ``atomic_write`` reports those itself)."""


class _Progress:
    """One file's progress: to the user's callback, and as a bar on stderr."""

    def __init__(self, progress: ProgressArg, name: str, total: int | None):
        self.callback = progress if callable(progress) else None
        drawn = progress is True or (progress is None and is_terminal(sys.stderr))
        # Redrawn on a terminal; elsewhere only the finished line is written.
        self.line = StatusLine(min_interval=0.1) if drawn else None
        self.name, self.total = name, total

    def __call__(self, done: int, final: bool = False) -> None:
        if self.callback is not None:
            self.callback(self.name, done, self.total)
        if self.line is None:
            return
        if self.total:
            fraction = min(done / self.total, 1.0)
            text = f"{self.name}: {bar(fraction)} {fraction:4.0%} of {size(self.total)}"
        else:
            text = f"{self.name}: {size(done)}"
        if final:
            self.line.write(text)
        else:
            self.line.show(text)

    def abandon(self) -> None:
        if self.line is not None:
            self.line.clear()


class _Hasher:
    """SHA-256 of a stream, of its decompressed content when it is gzip (as ``gzip.decompress``
    reads it: one or more members, trailing zero bytes ignored)."""

    def __init__(self, decompress: bool):
        self.want_gzip = decompress
        self.sha = hashlib.sha256()
        self.head = b""
        self.decided = False
        self.decoder = None

    def update(self, chunk: bytes) -> None:
        if not self.decided:
            self.head += chunk
            if len(self.head) < 2:
                return
            chunk, self.head, self.decided = self.head, b"", True
            if self.want_gzip and chunk[:2] == b"\x1f\x8b":
                self.decoder = zlib.decompressobj(31)
        if self.decoder is None:
            self.sha.update(chunk)
            return
        while chunk:
            if self.decoder.eof:  # a member ended: another member follows, or zero padding
                chunk = chunk.lstrip(b"\x00")
                if not chunk:
                    return
                self.decoder = zlib.decompressobj(31)
            self.sha.update(self.decoder.decompress(chunk))
            chunk = self.decoder.unused_data if self.decoder.eof else b""

    def hexdigest(self) -> str:
        if not self.decided:  # fewer than two bytes in all
            self.sha.update(self.head)
        elif self.decoder is not None and not self.decoder.eof:
            raise MirrorFailed("not a valid gzip file: the stream ends early (truncated download)")
        return self.sha.hexdigest()


def describe(exc: BaseException, timeout: float) -> str:
    """A network error in a few words, with the fix when there is a usual one."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
        reason
    ):
        return (
            f"TLS certificate verification failed ({getattr(reason, 'verify_message', reason)}); "
            "behind a proxy that inspects TLS, point SSL_CERT_FILE at its CA bundle"
        )
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason}); is there a network?"
    return f"{type(reason).__name__}: {reason}"


def _receive(
    url: str,
    out: IO[bytes],
    name: str,
    *,
    expected: str | None,
    decompress: bool,
    timeout: float,
    progress: ProgressArg,
) -> None:
    """Stream ``url`` into ``out``, hashing as it arrives. Network errors are the mirror's fault
    (``MirrorFailed``: the next one is tried); errors writing ``out`` are not."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        raise MirrorFailed(describe(exc, timeout)) from exc
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        hasher = _Hasher(decompress)
        shown = _Progress(progress, name, total)
        done = 0
        read = getattr(resp, "read1", resp.read)  # read1: what has arrived, not a full chunk
        try:
            while True:
                try:
                    chunk = read(_CHUNK)
                except (HTTPException, OSError, ValueError) as exc:
                    raise MirrorFailed(describe(exc, timeout) + f" after {done} bytes") from exc
                if not chunk:
                    break
                out.write(chunk)
                try:
                    hasher.update(chunk)
                except zlib.error as exc:
                    raise MirrorFailed(f"not a valid gzip file ({exc})") from exc
                done += len(chunk)
                shown(done)
        except BaseException:
            shown.abandon()
            raise
        shown(done, final=True)
    if total is not None and done < total:
        raise MirrorFailed(f"truncated download: got {done} of {total} bytes")
    actual = hasher.hexdigest()
    if expected is not None and actual != expected:
        what = "decompressed content" if decompress else "file"
        raise MirrorFailed(
            f"SHA-256 mismatch of the {what}: expected {expected}, actual {actual}{identify(actual)}; "
            "the download was deleted"
        )


def fetch(
    url: str,
    dest: Path,
    *,
    expected: str | None,
    decompress: bool,
    timeout: float,
    progress: ProgressArg,
    check: Callable[[Path], None] | None,
) -> None:
    """Download ``url`` to ``dest``, whole and verified or not at all.

    ``expected`` is the SHA-256 (of the decompressed content when ``decompress``), or None to skip
    the check; ``check`` validates the file's structure before it is renamed into place.
    """

    def verify(tmp: Path) -> None:
        if check is not None:
            try:
                check(tmp)
            except DatasetError as exc:
                raise MirrorFailed(str(exc).replace(str(tmp), dest.name)) from exc

    with atomic_write(dest, "wb", suffix=PART_SUFFIX, verify=verify) as out:
        _receive(
            url,
            out,
            dest.name,
            expected=expected,
            decompress=decompress,
            timeout=timeout,
            progress=progress,
        )


def _remove_stale_parts(folder: Path) -> None:
    """Temporary files left by a process that was killed (SIGKILL, power loss): only ever
    called under the lock, so no other process is writing them."""
    for part in folder.glob(".*" + PART_SUFFIX):
        with contextlib.suppress(OSError):
            part.unlink()


def _announce(spec: Spec, url: str, folder: Path, progress: ProgressArg) -> None:
    log.info("downloading %s from %s into %s", spec.title, url, folder)
    if progress is True or (progress is None and is_terminal(sys.stderr)):
        print(
            f"nanomlp: downloading {spec.title} from {url} into {folder}",
            file=sys.stderr,
            flush=True,
        )


def fill_cache(
    spec: Spec,
    *,
    mirrors: MirrorsArg,
    cache_dir: str | os.PathLike[str] | None,
    verify: bool,
    timeout: float,
    progress: ProgressArg,
    force: bool = False,
    searched: Searched | None = None,
) -> Found:
    """Download ``spec`` into nanomlp's cache from the first mirror that works, unless another
    process did while this one waited for the lock (or ``force``)."""
    folder = cache_root(cache_dir) / spec.subdir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({exc}); set NANOMLP_CACHE to a writable folder"
        ) from exc
    urls = mirror_urls(spec, mirrors)
    table = SHA256.get(spec.name, {})
    with locked(folder, spec.title) as held:
        if held:
            _remove_stale_parts(folder)
        if not force:  # another process may have filled the cache while we waited for the lock
            found, _ = probe_folder(folder, spec, "nanomlp cache")
            if found is not None:
                return found
        failures = []
        for mirror in urls:
            if mirror.lower().endswith(".npz"):
                if not spec.npz_name:
                    failures.append((mirror, f"{spec.title} has no npz form"))
                    continue
                dest = folder / spec.npz_name
                expected = table.get(spec.npz_name) if verify else None
                try:
                    _announce(spec, mirror, folder, progress)
                    fetch(
                        mirror,
                        dest,
                        expected=expected,
                        decompress=False,
                        timeout=timeout,
                        progress=progress,
                        check=None if verify else read_npz_arrays,
                    )
                except MirrorFailed as exc:
                    failures.append((mirror, str(exc)))
                    continue
                return Found("npz", {"npz": dest}, "nanomlp cache", dest)
            base_url = mirror if mirror.endswith("/") else mirror + "/"
            _announce(spec, base_url, folder, progress)
            ok = True
            for base in FETCH_ORDER:
                dest = folder / (base + ".gz")
                if not force and find_file(folder, base) is not None:
                    continue  # fetched earlier from another mirror, verified then
                url = base_url + base + ".gz"
                expected = table.get(base) if verify else None
                if verify and expected is None:
                    raise ChecksumError(
                        f"no known SHA-256 for {spec.title} {base}; pass verify=False for custom data"
                    )
                try:
                    fetch(
                        url,
                        dest,
                        expected=expected,
                        decompress=True,
                        timeout=timeout,
                        progress=progress,
                        check=None if verify else structure_check(base),
                    )
                except MirrorFailed as exc:
                    failures.append((url, str(exc)))
                    ok = False
                    break
            if ok:
                files = {base: find_file(folder, base) for base in IDX_FILES}
                return Found("idx", files, "nanomlp cache", folder)
    lines = "\n".join(f"  {url}: {why}" for url, why in failures)
    where = f"Searched first, in order:\n{format_searched(searched)}\n" if searched else ""
    raise DownloadError(
        f"{spec.title} could not be downloaded: every mirror failed:\n{lines}\n"
        f"Nothing partial was left in the cache ({folder}).\n{where}"
        f"To fix it: check the network (or proxy: HTTPS_PROXY), set {spec.mirror_env} to mirrors you can reach "
        f"(space-separated; a folder URL ending in / with the four IDX .gz files"
        f"{', or a URL of ' + spec.npz_name if spec.npz_name else ''}), or copy the files by hand and pass "
        "path=FOLDER or set NANOMLP_DATA=FOLDER."
    )
