"""nanomlp.datasets: local reading, the search order, downloads from a loopback mirror, bad files.

No test reaches the internet: every download goes to an ``http.server`` on 127.0.0.1 (a guard
in the ``isolated`` fixture refuses any other address), and the environment (HOME, caches,
NANOMLP_*) points into tmp_path so the user's real caches are never read or written.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nanomlp import datasets
from nanomlp.datasets import (
    ChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    DownloadError,
    dataset_info,
    download,
    fetch,
    load_fashion_mnist,
    load_mnist,
    npz,
    specs,
)
from support.data import (
    check_arrays,
    data_files,
    idx_bytes,
    no_system_copies,
    synthetic,
    trust,
    write_idx,
)
from support.mirror import refused_url

IDX = datasets.IDX_FILES
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="session")
def mnist_gz(mnist_dir) -> dict:
    """The real .gz files, as a mirror serves them."""
    return {base + ".gz": (mnist_dir / (base + ".gz")).read_bytes() for base in IDX}


@pytest.fixture
def no_network(monkeypatch):
    """Fail if anything opens a URL."""

    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ============================================================================ local reading
def test_memory_and_speed(mnist_dir):
    """At most ~3x the final arrays in memory, and well under a second beyond decompression."""
    t0 = time.perf_counter()
    for base in IDX:
        gzip.decompress((mnist_dir / (base + ".gz")).read_bytes())
    decompress = time.perf_counter() - t0
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        result = load_mnist(mnist_dir)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = sum(a.nbytes for pair in result for a in pair)
    assert peak < 1.5 * final, (peak, final)  # 1.2x here: gzip bytes + raw bytes + the result
    # About 0.1 s beyond decompression on an idle machine; the bound leaves room for a busy one
    # and still catches Python-level parsing (tens of seconds).
    assert elapsed - decompress < 3.0, (elapsed, decompress)


def test_real_mnist_from_gzip(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    for x, y in mnist:
        assert x.dtype == np.float32 and x.flags.c_contiguous and 0.0 <= x.min() and x.max() == 1.0
        assert y.dtype == np.int64 and y.flags.c_contiguous
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(y_train)) == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert list(np.bincount(y_test)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    np.testing.assert_array_equal(x_test * np.float32(255), np.round(x_test * np.float32(255)))


def test_uint8_and_28x28(mnist_dir, mnist):
    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_dir, dtype="uint8", flatten=False)
    assert (
        x_train.shape == (60000, 28, 28)
        and x_train.dtype == np.uint8
        and x_train.flags.c_contiguous
    )
    assert x_train.flags.writeable and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_test.reshape(10000, 784) / np.float32(255), mnist[1][0])
    with pytest.raises(ValueError, match="dtype must be"):
        load_mnist(mnist_dir, dtype="float64")


def test_raw_idx_and_torchvision_folder(mnist_dir, mnist, isolated):
    """Decompressed IDX files in torchvision's ROOT/MNIST/raw layout, found from path=ROOT and
    from ./data (torchvision's usual root) with nothing given."""
    raw = isolated / "cwd" / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for base in IDX:
        (raw / base).write_bytes(gzip.decompress((mnist_dir / (base + ".gz")).read_bytes()))
    (x_train, y_train), (x_test, y_test) = load_mnist(isolated / "cwd" / "data")
    np.testing.assert_array_equal(x_test, mnist[1][0])
    np.testing.assert_array_equal(y_train, mnist[0][1])
    info = dataset_info("mnist")
    assert (
        info.found
        and info.source == "torchvision folder"
        and info.location == raw
        and info.format == "idx"
    )
    (_, _), (x2, _) = load_mnist(download=False)
    np.testing.assert_array_equal(x2, x_test)


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory, mnist_dir) -> Path:
    """A Keras-style mnist.npz made from the IDX files (not Keras's bytes: verified by content)."""
    arrays = {}
    for key, base in npz.NPZ_TO_IDX.items():
        data = gzip.decompress((mnist_dir / (base + ".gz")).read_bytes())
        offset = 16 if key.startswith("x") else 8
        arr = np.frombuffer(data, np.uint8, offset=offset)
        arrays[key] = arr.reshape(-1, 28, 28) if key.startswith("x") else arr
    path = tmp_path_factory.mktemp("keras") / "mnist.npz"
    np.savez(path, **arrays)
    return path


def test_keras_npz_by_path_and_in_keras_home(mnist_npz, mnist, isolated, monkeypatch):
    result = load_mnist(mnist_npz)
    np.testing.assert_array_equal(result[0][0], mnist[0][0])
    np.testing.assert_array_equal(result[1][1], mnist[1][1])
    keras_home = isolated / "keras"
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "mnist.npz").symlink_to(mnist_npz)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    info = dataset_info("mnist")
    assert info.source == "Keras cache" and info.format == "npz"
    assert info.location == keras_home / "datasets" / "mnist.npz"
    (_, _), (x_test, _) = load_mnist(download=False, dtype="uint8")
    assert x_test.dtype == np.uint8 and x_test.shape == (10000, 784) and x_test.flags.c_contiguous
    np.testing.assert_array_equal(x_test / np.float32(255), mnist[1][0])


def test_npz_with_other_content_fails_verification(tmp_path):
    raw, arrays = synthetic()
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    with pytest.raises(ChecksumError) as err:
        load_mnist(path)
    msg = str(err.value)
    assert (
        str(path) in msg
        and "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1" in msg
    )
    assert (
        "x_train (as train-images-idx3-ubyte): expected ba891046" in msg and "verify=False" in msg
    )
    check_arrays(load_mnist(path, verify=False), arrays)


def test_search_order_and_cache_location(mnist_dir, isolated, monkeypatch):
    home = isolated / "home"
    assert datasets.cache_root() == isolated / "xdg" / "nanomlp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.cache_root() == home / ".cache" / "nanomlp"
    monkeypatch.setenv("NANOMLP_CACHE", str(isolated / "c"))
    assert datasets.cache_root() == isolated / "c"

    # The cache holds a copy, NANOMLP_DATA another: NANOMLP_DATA comes first.
    (isolated / "c").mkdir()
    (isolated / "c" / "mnist").symlink_to(mnist_dir)
    assert dataset_info("mnist").source == "nanomlp cache"
    monkeypatch.setenv("NANOMLP_DATA", str(mnist_dir))
    info = dataset_info("mnist")
    assert (info.source, info.location) == ("NANOMLP_DATA", mnist_dir)
    # A root with per-dataset sub-folders works too.
    root = isolated / "root"
    root.mkdir()
    (root / "mnist").symlink_to(mnist_dir)
    monkeypatch.setenv("NANOMLP_DATA", str(root))
    info = dataset_info("mnist")
    assert (info.source, info.location) == ("NANOMLP_DATA", root / "mnist")
    assert set(dataset_info()) == {"mnist", "fashion-mnist"}
    assert info.as_dict()["searched"][0]["source"] == "NANOMLP_DATA"


def test_explicit_path_is_the_only_place_looked_at(mnist_dir, isolated, monkeypatch, mirror):
    monkeypatch.setenv("NANOMLP_DATA", str(mnist_dir))
    url = mirror.mount("/mnist/", {})
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist(isolated / "typo", mirrors=[url])
    msg = str(err.value)
    assert str(isolated / "typo") in msg and "Nothing else is searched when path= is given" in msg
    assert mirror.requests == []


def test_fashion_mnist_skips_a_folder_of_mnist(mnist_dir, monkeypatch):
    """NANOMLP_DATA pointing at MNIST (the files have the same names) is not taken for Fashion-MNIST."""
    no_system_copies(monkeypatch)
    monkeypatch.setenv("NANOMLP_DATA", str(mnist_dir))
    monkeypatch.setenv("NANOMLP_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="skipped: holds MNIST, not Fashion-MNIST"):
        load_fashion_mnist()
    # Given explicitly, it is read, and the checksum error says what it is.
    with pytest.raises(ChecksumError, match="that is MNIST's train-images-idx3-ubyte"):
        load_fashion_mnist(mnist_dir)


def test_fashion_mnist_system_and_keras_copies(isolated, monkeypatch):
    raw, arrays = synthetic(seed=1)
    trust(monkeypatch, "fashion-mnist", raw)
    system = write_idx(isolated / "usr-share" / "fashion-mnist", raw)
    spec = specs.SPECS["fashion-mnist"]
    monkeypatch.setitem(
        specs.SPECS, "fashion-mnist", dataclasses.replace(spec, system=(str(system),))
    )
    info = dataset_info("fashion_mnist")
    assert (info.source, info.location) == ("system copy", system)
    check_arrays(load_fashion_mnist(download=False), arrays)

    keras = write_idx(isolated / "home" / ".keras" / "datasets" / "fashion-mnist", raw, gz=False)
    assert dataset_info("fashion-mnist").source == "Keras cache"
    check_arrays(load_fashion_mnist(download=False), arrays)
    assert dataset_info("fashion-mnist").location == keras


# ---------------------------------------------------------------------------- bad local files
def _wrong_magic(folder, raw):
    (folder / "train-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x01" + raw["train-images-idx3-ubyte"][4:]
    )


def _truncated(folder, raw):
    (folder / "t10k-images-idx3-ubyte").write_bytes(raw["t10k-images-idx3-ubyte"][:-100])


def _short_header(folder, raw):
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")


def _count_mismatch(folder, raw):
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29, np.uint8), 0x801))


def _bad_gzip(folder, raw):
    (folder / "train-labels-idx1-ubyte").unlink()
    good = gzip.compress(raw["train-labels-idx1-ubyte"])
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(good[: len(good) // 2])


def _missing(folder, raw):
    (folder / "t10k-labels-idx1-ubyte").unlink()


def _no_pixels(folder, raw):
    (folder / "train-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((30, 0, 28), np.uint8), 0x803)
    )


def _no_images(folder, raw):
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((0, 28, 28), np.uint8), 0x803)
    )
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(0, np.uint8), 0x801))


BAD_IDX = {
    "wrong magic": (
        _wrong_magic,
        DatasetFormatError,
        r"train-images-idx3-ubyte: wrong magic number 0x00000801 \(that of IDX labels\), expected 0x00000803",
    ),
    "truncated": (
        _truncated,
        DatasetFormatError,
        r"t10k-images-idx3-ubyte: truncated: its header says 12 x 28 x 28 = 9408 bytes of data, but the file holds 9308",
    ),
    "short header": (
        _short_header,
        DatasetFormatError,
        r"t10k-labels-idx1-ubyte: truncated: 5 bytes, shorter than the 8-byte header",
    ),
    "count mismatch": (
        _count_mismatch,
        DatasetFormatError,
        r"count mismatch: .*train-images-idx3-ubyte holds 30 images but .*train-labels-idx1-ubyte holds 29 labels",
    ),
    "bad gzip": (
        _bad_gzip,
        DatasetFormatError,
        r"train-labels-idx1-ubyte.gz: not a valid gzip file",
    ),
    "missing file": (
        _missing,
        DatasetNotFoundError,
        r"incomplete: missing t10k-labels-idx1-ubyte\[.gz\]",
    ),
    "no pixels": (
        _no_pixels,
        DatasetFormatError,
        r"train-images-idx3-ubyte: bad header: dimensions 30 x 0 x 28 declare images of 0 x 28 pixels",
    ),
    "no images": (
        _no_images,
        DatasetFormatError,
        r"t10k-images-idx3-ubyte: bad header: dimensions 0 x 28 x 28 declare no images",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IDX))
def test_bad_idx_files(case, tmp_path):
    make_bad, error, pattern = BAD_IDX[case]
    raw, arrays = synthetic()
    folder = write_idx(tmp_path / "data", raw, gz=False)
    check_arrays(load_mnist(folder, verify=False), arrays)
    make_bad(folder, raw)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(error, match=pattern):
        load_mnist(folder, verify=False)
    assert {
        p.name: p.read_bytes() for p in folder.iterdir()
    } == before  # a user's file is left alone


def test_checksum_mismatch_names_file_and_hashes_and_leaves_it(tmp_path):
    raw, _ = synthetic()
    folder = write_idx(tmp_path / "data", raw)
    with pytest.raises(ChecksumError) as err:
        load_mnist(folder)
    actual = hashlib.sha256(raw["train-images-idx3-ubyte"]).hexdigest()
    assert str(err.value) == (
        f"{folder / 'train-images-idx3-ubyte.gz'}: SHA-256 mismatch for MNIST train-images-idx3-ubyte:\n"
        "  expected ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db\n"
        f"  actual   {actual}\n"
        "The file was left as it is. If it is damaged, replace it with a good copy; "
        "if it is your own data on purpose, pass verify=False."
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(b + ".gz" for b in IDX)


def _npz_missing_key(path, arrays):
    np.savez(path, **{k: v for k, v in arrays.items() if k != "y_test"})


def _npz_not_zip(path, arrays):
    path.write_bytes(b"PK\x03\x04 this is not a zip")


def _npz_count(path, arrays):
    np.savez(path, **{**arrays, "y_train": arrays["y_train"][:-1]})


def _npz_empty(path, arrays):
    np.savez(
        path,
        **{**arrays, "x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.uint8)},
    )


BAD_NPZ = {
    "missing key": (
        _npz_missing_key,
        r"the npz lacks the key\(s\) y_test \(it has: x_train, y_train, x_test\)",
    ),
    "not a zip": (_npz_not_zip, r"not a readable npz file"),
    "count mismatch": (
        _npz_count,
        r"count mismatch: x_train holds 30 images but y_train holds 29 labels",
    ),
    "no images": (_npz_empty, r"x_test of shape \(0, 28, 28\) holds no images"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz(case, tmp_path):
    make_bad, pattern = BAD_NPZ[case]
    _, arrays = synthetic()
    path = tmp_path / "mnist.npz"
    make_bad(path, arrays)
    with pytest.raises(DatasetFormatError, match=pattern):
        load_mnist(path, verify=False)


# ============================================================================ downloads
def test_download_verifies_caches_and_second_call_uses_no_network(
    mnist_gz, mnist, mirror, cache, monkeypatch
):
    url = mirror.mount("/mnist/", mnist_gz)
    (x_train, y_train), (x_test, y_test) = load_mnist(mirrors=[url], timeout=10)
    assert sorted(mirror.requests) == sorted("/mnist/" + name for name in mnist_gz)
    np.testing.assert_array_equal(x_train, mnist[0][0])
    np.testing.assert_array_equal(y_test, mnist[1][1])
    assert data_files(cache / "mnist") == sorted(mnist_gz)
    for name, data in mnist_gz.items():
        assert (cache / "mnist" / name).read_bytes() == data
    info = dataset_info("mnist")
    assert (info.source, info.location) == ("nanomlp cache", cache / "mnist")

    monkeypatch.setattr(
        urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was used")
    )
    (_, _), (x_test2, _) = load_mnist(mirrors=[url])
    np.testing.assert_array_equal(x_test2, x_test)
    assert len(mirror.requests) == 4


def test_env_mirror_and_fall_through_404_and_refused(mirror, cache, monkeypatch):
    raw, arrays = synthetic()
    trust(monkeypatch, "mnist", raw)
    gz = {b + ".gz": gzip.compress(d) for b, d in raw.items()}
    missing = mirror.mount("/gone/", gz, mode="404")
    good = mirror.mount("/mnist/", gz)
    refused = refused_url()
    monkeypatch.setenv("NANOMLP_MNIST_MIRROR", f"{refused} {missing},{good}")
    assert dataset_info("mnist").mirrors == (refused, missing, good)
    check_arrays(load_mnist(timeout=5), arrays)
    assert "/gone/t10k-labels-idx1-ubyte.gz" in mirror.requests
    assert data_files(cache / "mnist") == sorted(gz)


def test_fall_through_to_keras_npz(mirror, cache, monkeypatch, tmp_path):
    raw, arrays = synthetic()
    np.savez(tmp_path / "m.npz", **arrays)
    npz = (tmp_path / "m.npz").read_bytes()
    trust(monkeypatch, "mnist", raw, npz=npz)
    dead = mirror.mount("/dead/", {})  # answers 404 to everything
    keras = mirror.mount("/keras/", {"mnist.npz": npz}) + "mnist.npz"
    check_arrays(load_mnist(mirrors=[dead, keras], timeout=5), arrays)
    assert data_files(cache / "mnist") == ["mnist.npz"]
    assert dataset_info("mnist").format == "npz"


FAILURES = {
    "corrupted": (
        "corrupt",
        r"SHA-256 mismatch of the decompressed content: expected ff7bcfd4\w+, actual \w+; "
        r"the download was deleted",
    ),
    "truncated": ("truncate", r"truncated download: got 2271 of 4542 bytes"),
    "truncated, no length": (
        "truncate-nolength",
        r"not a valid gzip file: the stream ends early \(truncated download\)",
    ),
    "stalled before answering": ("stall-headers", r"timed out \(no data for 0.3 s\)"),
    "stalled mid-file": ("stall-body", r"timed out \(no data for 0.3 s\) after 1024 bytes"),
    "not found": ("404", r"HTTP 404 Not Found"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failed_download_is_a_clear_error_and_leaves_nothing(case, mnist_gz, mirror, cache):
    mode, pattern = FAILURES[case]
    files = dict(mnist_gz)
    first = "t10k-labels-idx1-ubyte.gz"  # the smallest, fetched first
    if mode == "corrupt":
        labels = bytearray(gzip.decompress(files[first]))
        labels[-1] = (labels[-1] + 1) % 10
        files[first] = gzip.compress(bytes(labels))
        mode = None
    url = mirror.mount("/mnist/", {first: files[first]}, mode=mode)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as err:
        load_mnist(mirrors=[url], timeout=0.3)
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert msg.startswith(f"MNIST could not be downloaded: every mirror failed:\n  {url}{first}: ")
    assert re.search(pattern, msg), msg
    assert f"Nothing partial was left in the cache ({cache / 'mnist'})." in msg
    assert "set NANOMLP_MNIST_MIRROR to mirrors you can reach" in msg
    assert data_files(cache / "mnist") == []


def test_exception_mid_download_leaves_no_partial_file(mnist_gz, mirror, cache):
    url = mirror.mount("/mnist/", mnist_gz)
    seen = []

    def interrupt(name, done, total):
        seen.append((name, done, total))
        if name == "train-images-idx3-ubyte.gz" and done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_mnist(mirrors=[url], progress=interrupt)
    # The three smaller files were complete and verified; the interrupted one left nothing.
    assert data_files(cache / "mnist") == sorted(
        n for n in mnist_gz if n != "train-images-idx3-ubyte.gz"
    )
    assert seen[-1][2] == len(mnist_gz["train-images-idx3-ubyte.gz"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_a_real_process_leaves_no_partial_file(mirror, cache, monkeypatch):
    """SIGINT while a file is half received (the server stalls): no .part file stays."""
    labels = idx_bytes(np.random.default_rng(0).integers(0, 10, 10000), 0x801)
    url = mirror.mount(
        "/mnist/", {"t10k-labels-idx1-ubyte.gz": gzip.compress(labels)}, mode="stall-body"
    )
    code = f"from nanomlp.datasets import load_mnist; load_mnist(mirrors=[{url!r}], verify=False, timeout=20)"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    folder = cache / "mnist"
    deadline = time.monotonic() + 15
    while not (folder.exists() and any(p.suffix == ".part" for p in folder.iterdir())):
        assert time.monotonic() < deadline and proc.poll() is None, "the download never started"
        time.sleep(0.02)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
    assert data_files(folder) == []


def test_two_processes_at_once_download_once(mnist_gz, mirror, cache):
    """Both load; the lock makes the second wait, then read what the first cached."""
    url = mirror.mount("/mnist/", mnist_gz, mode="slow")
    mirror.delay = 0.2  # per file: both processes are surely loading while the first downloads
    (cache / "mnist").mkdir(parents=True)
    stale = cache / "mnist" / ".train-images-idx3-ubyte.gz.k1lled.part"  # from a killed process
    stale.write_bytes(b"half a file")
    code = textwrap.dedent(f"""
        import hashlib
        from nanomlp.datasets import load_mnist
        (a, b), (c, d) = load_mnist(mirrors=[{url!r}], timeout=10)
        print(hashlib.sha256(a.tobytes() + b.tobytes() + c.tobytes() + d.tobytes()).hexdigest())
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert outs[0][0] == outs[1][0] and len(outs[0][0].strip()) == 64
    assert sorted(mirror.requests) == sorted("/mnist/" + n for n in mnist_gz)  # each file once
    assert data_files(cache / "mnist") == sorted(mnist_gz)  # the stale .part is gone
    for name, data in mnist_gz.items():
        assert (cache / "mnist" / name).read_bytes() == data


def test_offline_with_empty_cache_names_every_place_and_the_fix(mirror, isolated, monkeypatch):
    url = mirror.mount("/mnist/", {})
    monkeypatch.setenv("NANOMLP_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist(mirrors=[url])
    home = isolated / "home"
    assert str(err.value) == (
        "MNIST not found, and not downloaded (NANOMLP_OFFLINE=1). Searched, in order:\n"
        "  1. NANOMLP_DATA (not set)\n"
        f"  2. nanomlp cache: {isolated / 'xdg' / 'nanomlp' / 'mnist'} (no such folder)\n"
        f"  3. Keras cache: {home / '.keras' / 'datasets' / 'mnist.npz'} (no such file)\n"
        f"  4. torchvision folder: {isolated / 'cwd' / 'data' / 'MNIST' / 'raw'} (no such folder)\n"
        "  5. download (skipped: NANOMLP_OFFLINE=1)\n"
        "To fix it, either:\n"
        "  - if this machine may use the network: unset NANOMLP_OFFLINE, and it downloads into the cache;\n"
        "  - on a machine with internet access, run: python -c \"import nanomlp.datasets as d; d.download('mnist')\"\n"
        f"    (it fills {isolated / 'xdg' / 'nanomlp' / 'mnist'}; copy that folder to the same place, "
        "or to $NANOMLP_CACHE/mnist, on an offline machine);\n"
        "  - or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) or mnist.npz in a folder and pass "
        "path=FOLDER or set NANOMLP_DATA=FOLDER."
    )
    with pytest.raises(DownloadError, match="NANOMLP_OFFLINE=1 forbids downloads"):
        download("mnist", mirrors=[url])
    monkeypatch.delenv("NANOMLP_OFFLINE")
    with pytest.raises(DatasetNotFoundError, match=r"5. download \(skipped: download=False\)"):
        load_mnist(mirrors=[url], download=False)
    assert mirror.requests == []
    assert not (isolated / "xdg").exists()
    assert "Fashion-MNIST: not found" in str(dataset_info("fashion-mnist"))


def test_all_mirrors_failing_lists_each_and_what_was_searched(mirror, cache):
    dead = mirror.mount("/dead/", {})
    refused = refused_url()
    keras_npz = mirror.url("/keras/mnist.npz")
    with pytest.raises(DownloadError) as err:
        load_mnist(mirrors=[refused, dead, keras_npz], timeout=2)
    msg = str(err.value)
    assert f"  {refused}t10k-labels-idx1-ubyte.gz: connection refused\n" in msg
    assert f"  {dead}t10k-labels-idx1-ubyte.gz: HTTP 404 Not Found\n" in msg
    assert f"  {keras_npz}: HTTP 404 Not Found\n" in msg
    assert "Searched first, in order:\n  1. NANOMLP_DATA (not set)\n" in msg
    assert data_files(cache / "mnist") == []


def test_custom_data_needs_verify_false_never_silently(mirror, cache):
    raw, arrays = synthetic()
    url = mirror.mount("/custom/", {b + ".gz": gzip.compress(d) for b, d in raw.items()})
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        load_mnist(mirrors=[url])
    assert data_files(cache / "mnist") == []
    check_arrays(load_mnist(mirrors=[url], verify=False), arrays)
    # A structurally bad download is refused even without verification, and not cached.
    bad = dict(raw)
    bad["t10k-labels-idx1-ubyte"] = b"\x00\x00\x08\x03" + raw["t10k-labels-idx1-ubyte"][4:]
    url2 = mirror.mount("/bad/", {b + ".gz": gzip.compress(d) for b, d in bad.items()})
    with pytest.raises(
        DownloadError, match=r"t10k-labels-idx1-ubyte.gz: wrong magic number 0x00000803"
    ):
        download("fashion-mnist", mirrors=[url2], verify=False)
    assert data_files(cache / "fashion-mnist") == []


def test_fashion_mnist_download_and_download_function(mirror, cache, monkeypatch):
    raw, arrays = synthetic(seed=3)
    trust(monkeypatch, "fashion-mnist", raw)
    # multi-member gzip (as some tools write it) still verifies
    gz = {b + ".gz": gzip.compress(d[:100]) + gzip.compress(d[100:]) for b, d in raw.items()}
    url = mirror.mount("/fashion/", gz)
    folder = download("fashion-mnist", mirrors=url)
    assert folder == cache / "fashion-mnist" and data_files(folder) == sorted(gz)
    assert len(mirror.requests) == 4
    assert download("fashion-mnist", mirrors=url) == folder and len(mirror.requests) == 4  # cached
    download("fashion-mnist", mirrors=url, force=True)
    assert len(mirror.requests) == 8
    check_arrays(load_fashion_mnist(download=False), arrays)
    monkeypatch.setenv("NANOMLP_FASHION_MNIST_MIRROR", url)
    assert dataset_info("fashion-mnist").mirrors == (url,)


def test_progress_bar(mirror, cache, monkeypatch, capsys):
    raw, _ = synthetic()
    trust(monkeypatch, "mnist", raw)
    url = mirror.mount("/mnist/", {b + ".gz": gzip.compress(d) for b, d in raw.items()})
    load_mnist(mirrors=[url], progress=True)
    err = capsys.readouterr().err
    assert err.startswith(f"nanomlp: downloading MNIST from {url} into {cache / 'mnist'}\n")
    size = len(gzip.compress(raw["t10k-labels-idx1-ubyte"]))
    # Off a terminal nothing is redrawn: one finished line per file.
    assert (
        f"\nt10k-labels-idx1-ubyte.gz: [{'=' * 30}] 100% of {size} B\n" in err and "\r" not in err
    )
    download("mnist", mirrors=[url], force=True)  # stderr is not a terminal here: no bar
    assert capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    download("mnist", mirrors=[url], force=True)  # a terminal: the bar by default, redrawn in place
    err = sys.stderr.getvalue()
    assert f"\r\x1b[Kt10k-labels-idx1-ubyte.gz: [{'=' * 30}] 100% of {size} B\n" in err


def test_describe_certificate_failure():
    import ssl
    import urllib.error

    exc = urllib.error.URLError(
        ssl.SSLCertVerificationError(
            1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
        )
    )
    assert "TLS certificate verification failed" in fetch.describe(exc, 30)
    assert "SSL_CERT_FILE" in fetch.describe(exc, 30)
