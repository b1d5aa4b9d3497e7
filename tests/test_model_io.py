"""MLP.save / MLP.load: bit-identical round trips, refusal of bad files, atomic writes, resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nanomlp
from nanomlp import MLP, Trainer
from nanomlp.model import FILE_VERSION
from support.processes import kill_while_saving


def _bits(arr: np.ndarray) -> np.ndarray:
    return arr.view(np.uint64 if arr.dtype == np.float64 else np.uint32)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_identical(tmp_path, dtype):
    model = MLP((20, 7, 5, 3), seed=3, dtype=dtype)
    model.params[...] += np.linspace(-1, 1, model.params.size).astype(dtype) * 1e-3
    model.metadata = {"note": "héllo", "lr": np.float32(0.5), "sizes": np.arange(3)}
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = MLP.load(path)

    assert loaded.layer_sizes == model.layer_sizes
    assert loaded.dtype == model.dtype and loaded.seed == 3
    assert np.array_equal(_bits(loaded.params), _bits(model.params))
    for w, w2, b, b2 in zip(model.weights, loaded.weights, model.biases, loaded.biases):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
        assert np.shares_memory(w2, loaded.params) and np.shares_memory(b2, loaded.params)
    assert loaded.metadata == {
        "note": "héllo",
        "lr": 0.5,
        "sizes": [0, 1, 2],
        "nanomlp_version": nanomlp.__version__,
    }
    x = np.random.RandomState(0).rand(9, 20)
    backend = "native" if dtype == "float32" else "numpy"
    assert np.array_equal(
        Trainer(model, backend=backend).predict_proba(x),
        Trainer(loaded, backend=backend).predict_proba(x),
    )
    # The random stream continues where the saved model's stood.
    assert np.array_equal(model.random_state.randn(50), loaded.random_state.randn(50))


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "m.npz"
    model = MLP((4, 3, 2), seed=None)
    model.save(path, metadata={"epoch": 3})
    with np.load(path, allow_pickle=False) as z:
        assert str(z["format"]) == "nanomlp.MLP" and int(z["format_version"]) == FILE_VERSION
        assert z["layer_sizes"].tolist() == [4, 3, 2] and str(z["dtype"]) == "float32"
        assert json.loads(str(z["metadata"]))["epoch"] == 3
        assert "shuffle_order" not in z.files
    assert MLP.load(path).seed is None


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    first = MLP((4, 3, 2), seed=1)
    first.save(path)
    before = path.read_bytes()

    def broken(file, **entries):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        MLP((4, 3, 2), seed=2).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_refuses_what_could_not_be_loaded(tmp_path):
    model = MLP((4, 3, 2))
    with pytest.raises(TypeError, match="JSON"):
        model.save(tmp_path / "a.npz", metadata={"f": object()})
    model.params[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.save(tmp_path / "b.npz")
    assert list(tmp_path.iterdir()) == []


def _entries(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "good.npz"
    MLP((6, 4, 3), seed=0).save(path)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.update(format_version=np.array(5)), "format version 5 .*newer nanomlp"),
        (lambda e: e.update(loss=np.array("hinge")), "bad loss"),
        (lambda e: e.update(delta=np.array(-1.0)), "bad loss"),
        (lambda e: e.update(format=np.array("keras")), "not a nanomlp model file"),
        (lambda e: e.pop("params"), "missing params"),
        (lambda e: e.update(params=e["params"][:-1]), r"params must be float32 of shape \(43,\)"),
        (lambda e: e.update(params=e["params"].astype(np.float64)), "params must be float32"),
        (
            lambda e: e.update(
                params=np.where(np.arange(43) == 5, np.inf, e["params"]).astype(np.float32)
            ),
            "NaN or infinity",
        ),
        (lambda e: e.update(dtype=np.array("int8")), "dtype must be"),
        (lambda e: e.update(layer_sizes=np.array([6, 0, 3])), "layer_sizes"),
        (lambda e: e.update(metadata=np.array("{not json")), "metadata is not valid JSON"),
        (lambda e: e.update(rng_keys=e["rng_keys"][:10]), "rng_keys"),
        (
            lambda e: e.update(shuffle_order=np.array([0, 0, 1])),
            "shuffle_order must be a permutation",
        ),
    ],
)
def test_load_refuses_inconsistent_files(saved, change, message):
    entries = _entries(saved)
    change(entries)
    np.savez(saved, **entries)
    with pytest.raises(ValueError, match=message) as info:
        MLP.load(saved)
    assert str(saved) in str(info.value)


def test_load_refuses_damaged_and_foreign_files(saved, tmp_path):
    data = saved.read_bytes()
    params_at = data.index(b"params.npy")
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "empty.npz": b"",
        "flipped.npz": data[: params_at + 400]
        + bytes([data[params_at + 400] ^ 0x10])
        + data[params_at + 401 :],
        "text.npz": b"these are not the weights you are looking for\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=f"{path}: .*(truncated|corrupted)"):
            MLP.load(path)
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="a single .npy array"):
        MLP.load(tmp_path / "array.npy")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(
        ValueError, match=r"not a nanomlp model file \(no 'format' entry; it holds: weights\)"
    ):
        MLP.load(tmp_path / "other.npz")
    with zipfile.ZipFile(tmp_path / "pickled.npz", "w") as z:
        z.writestr("format.npy", b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="pickled.npz"):
        MLP.load(tmp_path / "pickled.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz: no such model file"):
        MLP.load(tmp_path / "missing.npz")


_SAVE_LOOP = textwrap.dedent(
    """
    import sys
    from nanomlp import MLP
    model = MLP((784, 1024, 10), seed=0)  # ~3 MB, so a kill lands mid-write often
    for k in range(1, 100000):
        model.params[...] = k
        model.metadata = {"k": k}
        model.save(sys.argv[1])
        print(k, flush=True)
    """
)


def test_checkpoint_killed_mid_write_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVE_LOOP, str(path)], stdout=subprocess.PIPE, text=True
    )
    kill_while_saving(proc, tmp_path, saves=3, seconds=10)
    assert proc.returncode == -signal.SIGKILL
    model = MLP.load(path)
    k = model.metadata["k"]
    assert k >= 3 and np.all(model.params == k)
    # Whatever the kill left is a temporary file beside it, never the checkpoint itself.
    assert all(p.name.startswith(".ckpt.npz.") for p in tmp_path.iterdir() if p != path)


@pytest.fixture(scope="module")
def small(mnist):
    (x, y), _ = mnist
    return (x[:400], y[:400]), (x[400:600], y[400:600])


@pytest.mark.parametrize("backend, dtype", [("native", "float32"), ("numpy", "float64")])
def test_resuming_equals_one_uninterrupted_run(tmp_path, small, backend, dtype):
    (x, y), val = small
    whole = MLP(seed=7, dtype=dtype)
    full = Trainer(whole, lr=0.05, batch_size=32, epochs=4, backend=backend).fit(x, y, val)

    first = MLP(seed=7, dtype=dtype)
    Trainer(first, lr=0.05, batch_size=32, epochs=2, backend=backend).fit(x, y, val)
    first.save(tmp_path / "half.npz")
    resumed = MLP.load(tmp_path / "half.npz")
    rest = Trainer(resumed, lr=0.05, batch_size=32, backend=backend).fit(
        x, y, val, initial_epoch=2, epochs=4
    )

    assert np.array_equal(_bits(resumed.params), _bits(whole.params))
    assert np.array_equal(resumed.shuffle_order, whole.shuffle_order)
    assert rest.epoch == [2, 3]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert rest.history[key] == full.history[key][2:]


def test_resuming_needs_the_shuffle_state(small):
    (x, y), _ = small
    with pytest.raises(ValueError, match="initial_epoch=1 resumes a run.*found none"):
        Trainer(MLP(), epochs=2).fit(x, y, initial_epoch=1)
    model = MLP()
    Trainer(model, epochs=1).fit(x, y)
    with pytest.raises(ValueError, match="found one of 400 rows"):
        Trainer(model, epochs=2).fit(x[:300], y[:300], initial_epoch=1)
    with pytest.raises(ValueError, match="initial_epoch must be <= epochs"):
        Trainer(model, epochs=2).fit(x, y, initial_epoch=3)


def test_fit_continues_from_current_weights(small):
    (x, y), _ = small
    model = MLP(seed=1)
    trainer = Trainer(model, epochs=1)
    first = trainer.fit(x, y).history["train_loss"][0]
    after = model.params.copy()
    second = trainer.fit(x, y).history["train_loss"][0]
    assert second < first
    assert not np.array_equal(model.params, after)


def test_atomic_write_keeps_permissions_usual(tmp_path):
    path = tmp_path / "m.npz"
    MLP((3, 2)).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_pickle_keeps_weights_as_views_of_params():
    import pickle

    model = MLP((784, 16, 10), seed=3)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.params, model.params)
    clone.weights[1][0, 0] = 7.0
    assert clone.params[model.weights[0].size + 16] == 7.0
    assert clone.random_state.randint(1000) == model.random_state.randint(1000)
