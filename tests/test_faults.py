"""Faults from outside: a full disk, a kill mid-checkpoint, a damaged cache.

Covered elsewhere, not repeated here: SIGKILL in a loop of ``MLP.save`` and an exception in
the middle of one (test_model_io.py), SIGINT during training (test_interrupt.py), during a
download (test_datasets.py) and during a sweep (test_sweep.py).
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nanomlp import MLP, Trainer, _io, datasets
from nanomlp.callbacks import ModelCheckpoint
from support.data import synthetic, trust, write_idx
from support.mirror import refused_url
from support.processes import kill_while_saving

# The isolation of the download tests (no real network, a private cache), for every test here.
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def out(tmp_path) -> Path:
    """A folder of its own for the files a test writes."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------------------ a full disk
class FullDisk(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes."""

    room = 0

    def write(self, data) -> int:
        if FullDisk.room < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        FullDisk.room -= len(data)
        return super().write(data)


def fill_disk(monkeypatch, where: str) -> None:
    """Make the next atomic write fail with ENOSPC (or EIO for the rename) at ``where``."""
    real_fdopen = os.fdopen
    if where in ("write", "flush"):
        FullDisk.room = 0
        # "flush": the archive goes to a buffer larger than itself, the disk fills once that
        # buffer is written out.
        buffer = 1 << 24 if where == "flush" else io.DEFAULT_BUFFER_SIZE

        def fdopen(fd, mode="r", *args, **kwargs):
            if "b" in mode and "w" in mode:
                return io.BufferedWriter(FullDisk(fd, "wb"), buffer_size=buffer)
            return real_fdopen(fd, mode, *args, **kwargs)

        monkeypatch.setattr(_io.os, "fdopen", fdopen)
    elif where == "fsync":

        def fsync(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(_io.os, "fsync", fsync)
    else:

        def replace(src, dst):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(_io.os, "replace", replace)


# write: the disk is full from the first byte written; flush: when the buffered archive is
# written out; fsync: the device reports the loss; replace: the rename fails.
@pytest.mark.parametrize("where", ["write", "flush", "fsync", "replace"])
def test_full_disk_during_save_keeps_the_previous_file_and_says_so(where, out, monkeypatch):
    path = out / "m.npz"
    MLP((40, 30, 2), seed=1).save(path)
    before = path.read_bytes()
    fill_disk(monkeypatch, where)
    with pytest.raises(OSError) as info:
        MLP((40, 30, 2), seed=2).save(path)
    monkeypatch.undo()
    assert info.value.errno == (errno.EIO if where == "replace" else errno.ENOSPC)
    message = str(info.value)
    assert f"cannot write {path}" in message and "the previous file is left intact" in message
    assert path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["m.npz"]  # no temporary file left
    assert MLP.load(path).seed == 1


def test_full_disk_on_a_first_save_leaves_no_file(out, monkeypatch):
    path = out / "m.npz"
    fill_disk(monkeypatch, "write")
    with pytest.raises(OSError, match="no file was written") as info:
        MLP((4, 3, 2)).save(path)
    assert info.value.errno == errno.ENOSPC
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("where", ["write", "replace"])
def test_full_disk_during_a_download_is_no_mirror_failure_and_leaves_nothing(
    where, cache, mirror, monkeypatch
):
    raw, _ = synthetic()
    trust(monkeypatch, "mnist", raw)
    url = mirror.mount("/mnist/", {base + ".gz": gzip.compress(data) for base, data in raw.items()})
    fill_disk(monkeypatch, where)
    with pytest.raises(OSError) as info:
        datasets.load_mnist(mirrors=[url, url], timeout=10)
    assert not isinstance(info.value, datasets.DownloadError)  # the next mirror would not help
    assert info.value.errno == (errno.EIO if where == "replace" else errno.ENOSPC)
    folder = cache / "mnist"
    message = str(info.value)
    assert f"cannot write {folder / 't10k-labels-idx1-ubyte.gz'} (" in message and message.endswith(
        "; no file was written"
    )
    assert mirror.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert [p.name for p in folder.iterdir()] == [".lock"]


def test_full_disk_during_a_checkpoint_stops_training_and_keeps_the_last_one(out, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 10), dtype=np.float32), rng.integers(0, 3, 64)
    path = out / "ckpt.npz"

    class FillAfterFirstSave(ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                fill_disk(monkeypatch, "write")
            super().on_epoch_end(epoch, logs)

    model = MLP((10, 8, 3), seed=0)
    with pytest.raises(OSError, match="the previous file is left intact"):
        Trainer(model, epochs=4, threads=1).fit(
            x, y, callbacks=[FillAfterFirstSave(str(path), monitor="train_loss")]
        )
    monkeypatch.undo()
    saved = MLP.load(path)
    assert saved.metadata["epoch"] == 1
    # It holds the weights after one epoch, so training resumes from it.
    again = MLP((10, 8, 3), seed=0)
    Trainer(again, epochs=1, threads=1).fit(x, y)
    np.testing.assert_array_equal(saved.params, again.params)


# ----------------------------------------------------------------- a kill during a checkpoint
_TRAIN_WITH_CHECKPOINTS = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nanomlp import MLP, Trainer
    from nanomlp.callbacks import Callback, ModelCheckpoint

    class Announce(Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch + 1, flush=True)

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    model = MLP((784, 1024, 10), seed=0)  # ~3 MB per checkpoint, so a kill lands in a write
    Trainer(model, epochs=100000, batch_size=64, threads=1).fit(
        x, y, callbacks=[ModelCheckpoint(sys.argv[1], monitor="train_loss"), Announce()])
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigkill_during_a_model_checkpoint_in_fit_leaves_a_loadable_checkpoint(out):
    path = out / "ckpt.npz"
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRAIN_WITH_CHECKPOINTS, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    kill_while_saving(proc, out, saves=3, seconds=20)  # a few epochs, each checkpointed
    assert proc.returncode == -signal.SIGKILL
    model = MLP.load(path)
    assert model.metadata["epoch"] >= 3
    assert model.shuffle_order is not None and np.isfinite(model.params).all()
    assert all(p.name.startswith(".ckpt.npz.") for p in out.iterdir() if p != path)


# ------------------------------------------------------------------------ a damaged cache
def damage(file: Path) -> None:
    """Change one byte of a gzip file's content, keeping it a valid gzip file."""
    content = bytearray(gzip.decompress(file.read_bytes()))
    content[-1] ^= 0xFF
    file.write_bytes(gzip.compress(bytes(content)))


@pytest.fixture
def damaged_cache(cache, monkeypatch):
    raw, arrays = synthetic()
    trust(monkeypatch, "mnist", raw)
    folder = write_idx(cache / "mnist", raw)
    damage(folder / "t10k-labels-idx1-ubyte.gz")
    return raw, arrays, folder


def test_damaged_cache_is_reported_and_downloaded_again(damaged_cache, mirror, caplog):
    raw, arrays, folder = damaged_cache
    url = mirror.mount("/mnist/", {base + ".gz": gzip.compress(data) for base, data in raw.items()})
    with caplog.at_level(logging.WARNING, logger="nanomlp.datasets"):
        (x, y), (xt, yt) = datasets.load_mnist(mirrors=[url], timeout=10)
    np.testing.assert_array_equal(yt, arrays["y_test"])
    np.testing.assert_array_equal(x, arrays["x_train"].reshape(len(x), -1) / np.float32(255))
    report = caplog.text
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in report and "SHA-256" in report
    assert "downloading MNIST again" in report
    assert (
        gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
        == raw["t10k-labels-idx1-ubyte"]
    )
    # Repaired: the next load needs no mirror.
    mirror.requests.clear()
    datasets.load_mnist(mirrors=[url])
    assert mirror.requests == []


def test_damaged_cache_without_a_reachable_mirror_is_a_clear_error(damaged_cache):
    _, _, folder = damaged_cache
    damaged = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    with pytest.raises(datasets.ChecksumError) as info:
        datasets.load_mnist(mirrors=[refused_url()], timeout=2)
    message = str(info.value)
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in message and "SHA-256" in message
    assert "Downloading it again failed too" in message and "every mirror failed" in message
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == damaged  # left for inspection


@pytest.mark.parametrize("how", ["download=False", "NANOMLP_OFFLINE=1"])
def test_damaged_cache_is_not_downloaded_when_downloads_are_off(how, damaged_cache, monkeypatch):
    kwargs = {"download": False} if how == "download=False" else {}
    if how == "NANOMLP_OFFLINE=1":
        monkeypatch.setenv("NANOMLP_OFFLINE", "1")
    with pytest.raises(datasets.ChecksumError, match="The cached copy is damaged"):
        datasets.load_mnist(mirrors=[refused_url()], **kwargs)


def test_damaged_file_outside_the_cache_is_never_replaced(tmp_path, mirror, monkeypatch):
    raw, _ = synthetic()
    trust(monkeypatch, "mnist", raw)
    folder = write_idx(tmp_path / "mine", raw)
    damage(folder / "t10k-labels-idx1-ubyte.gz")
    url = mirror.mount("/mnist/", {base + ".gz": gzip.compress(data) for base, data in raw.items()})
    with pytest.raises(datasets.ChecksumError, match="The file was left as it is"):
        datasets.load_mnist(folder, mirrors=[url])
    assert mirror.requests == []
