"""Training data: the built-in glyphs, each file format on tiny files written here, fitting samples to a
spec's input, and the test split (issue 6). No training here: see test_train_run.py."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from archspec.diagnostics import SpecError
from archspec.pytorch.train import data, formats, synthetic


def write_idx(path: Path, array: np.ndarray) -> None:
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = head + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def images(n: int, *shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


# -- the built-in glyphs ------------------------------------------------------------------------

@pytest.mark.parametrize(("shape", "drawn"), [
    ((1, 32, 32), (1, 32, 32)), ((3, 16, 20), (3, 16, 20)), ((784,), (784,)), ((2, 40), (2, 40)),
    ((1, 8, 9, 10), (1, 8, 9, 10)), ((50,), (50,)),
])
def test_synthetic_any_shape_and_channels(shape, drawn):
    x, y = synthetic.make(30, shape, 5, seed=1)
    assert x.shape == (30, *drawn) and x.dtype == np.uint8
    assert y.shape == (30,) and set(y.tolist()) == set(range(5))


def test_synthetic_is_deterministic_and_balanced():
    a = synthetic.make(100, (1, 16, 16), 10, seed=3)
    b = synthetic.make(100, (1, 16, 16), 10, seed=3)
    c = synthetic.make(100, (1, 16, 16), 10, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert np.bincount(a[1]).tolist() == [10] * 10


def test_synthetic_glyphs_are_distinct_for_many_classes():
    g = synthetic.glyphs(300, 2).reshape(300, -1)
    assert len({row.tobytes() for row in g}) == 300


def test_synthetic_masks_label_the_glyph():
    x, y = synthetic.make(20, (1, 16, 16), 3, seed=0, masks=True)
    assert y.shape == (20, 16, 16)
    assert set(np.unique(y).tolist()) <= {0, 1, 2, 3} and (y > 0).any() and (y == 0).any()
    bright = x[:, 0] > 120  # the glyph is drawn brighter than the background (up to noise)
    assert ((y > 0) == bright).mean() > 0.8


def test_synthetic_source_sizes_and_names():
    ds = data.load("synthetic:100", (1, 12, 12), classes=4)
    assert (len(ds.train), len(ds.test)) == (100, 20)
    assert ds.classes == ["0", "1", "2", "3"]
    seg = data.load("synthetic:50", (1, 12, 12), classes=3, segmentation=True)
    assert seg.classes == ["background", "0", "1"] and seg.segmentation


# -- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------

@pytest.mark.parametrize("gz", [".gz", ""])
def test_idx_train_and_test_files(tmp_path, gz):
    write_idx(tmp_path / f"train-images-idx3-ubyte{gz}", images(30, 28, 28))
    write_idx(tmp_path / f"train-labels-idx1-ubyte{gz}", np.arange(30) % 10)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{gz}", images(10, 28, 28, seed=1))
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{gz}", np.arange(10))
    ds = data.load(f"mnist:{tmp_path}", (1, 28, 28), classes=10)
    assert (len(ds.train), len(ds.test)) == (30, 10)
    assert ds.train.x.shape == (30, 1, 28, 28) and ds.test.y.tolist() == list(range(10))
    assert np.array_equal(ds.train.x[:, 0], images(30, 28, 28))


def test_idx_test_files_only_are_split_by_holdout(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images(50, 28, 28))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(50) % 10)
    ds = data.load(f"fashion-mnist:{tmp_path}", (1, 28, 28), classes=10, holdout=20)
    assert (len(ds.train), len(ds.test)) == (30, 20)
    assert ds.test.y.tolist() == (np.arange(30, 50) % 10).tolist()  # the last 20
    assert any("last 20 of 50" in n for n in ds.notes)
    default = data.load(f"mnist:{tmp_path}", (1, 28, 28), classes=10)
    assert len(default.test) == 10 and any("default fifth" in n for n in default.notes)
    assert len(data.load(f"mnist:{tmp_path}", (1, 28, 28), classes=10, holdout=0.5).test) == 25


def test_idx_errors(tmp_path):
    with pytest.raises(SpecError) as e:
        data.load(f"mnist:{tmp_path}", (1, 28, 28), classes=10)
    assert e.value.diagnostic.code == "E500" and "IDX" in e.value.diagnostic.message
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(SpecError) as e:
        data.load(f"mnist:{tmp_path}", (1, 28, 28), classes=10)
    assert e.value.diagnostic.code == "E710"
    with pytest.raises(SpecError) as e:
        data.load(f"mnist:{tmp_path / 'nowhere'}", (1, 28, 28), classes=10)
    assert e.value.diagnostic.code == "E500"


# -- CIFAR-10 -------------------------------------------------------------------------------------

def cifar_records(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = images(n, 3, 32, 32, seed=seed)
    y = np.arange(n) % 10
    return x, y


def test_cifar_binary_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name, n, seed in (("data_batch_1.bin", 12, 0), ("data_batch_2.bin", 8, 1), ("test_batch.bin", 5, 2)):
        x, y = cifar_records(n, seed)
        rec = np.concatenate([y[:, None].astype(np.uint8), x.reshape(n, -1)], axis=1)
        (folder / name).write_bytes(rec.tobytes())
    ds = data.load(f"cifar10:{tmp_path}", (3, 32, 32), classes=10)
    assert (len(ds.train), len(ds.test)) == (20, 5)
    assert np.array_equal(ds.train.x[:12], cifar_records(12, 0)[0])
    assert ds.classes[0] == "airplane"


def test_cifar_python_batches_load_safely(tmp_path):
    for name, n, seed in (("data_batch_1", 6, 0), ("test_batch", 4, 1)):
        x, y = cifar_records(n, seed)
        d = {b"batch_label": b"x", b"labels": y.tolist(), b"data": x.reshape(n, -1), b"filenames": [b"a.png"] * n}
        (tmp_path / name).write_bytes(pickle.dumps(d, protocol=2))
        if name == "test_batch":  # as the published files name it (numpy 1): numpy.core, not numpy._core
            raw = (tmp_path / name).read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            assert b"numpy.core.multiarray" in raw
            (tmp_path / name).write_bytes(raw)
    ds = data.load(f"cifar10:{tmp_path}", (3, 32, 32), classes=10)
    assert (len(ds.train), len(ds.test)) == (6, 4)
    assert np.array_equal(ds.test.x, cifar_records(4, 1)[0])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_python_pickle_with_code_is_refused(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(SpecError) as e:
        data.load(f"cifar10:{tmp_path}", (3, 32, 32), classes=10)
    assert e.value.diagnostic.code == "E710" and "refusing to load posix.system" in e.value.diagnostic.message


# -- image folders ---------------------------------------------------------------------------------

def test_image_folder_any_size_resized(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow is the optional `train` extra")
    rng = np.random.default_rng(0)
    for cls, (w, h) in (("cat", (20, 14)), ("dog", (9, 11))):
        (tmp_path / cls).mkdir()
        for i in range(3):
            pil.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = data.load(f"folder:{tmp_path}", (1, 16, 16), classes=2, holdout=2)
    assert ds.classes == ["cat", "dog"]
    assert ds.train.x.shape == (4, 1, 16, 16) and ds.train.y.tolist() == [0, 1, 0, 1]
    assert ds.test.y.tolist() == [0, 1]  # the last image of each class, not the last two of the last class


def test_image_folder_holdout_and_limit_take_every_class(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow is the optional `train` extra")
    for cls, n in (("a", 10), ("b", 20), ("c", 5)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            pil.new("L", (4, 4), i).save(tmp_path / cls / f"{i:02}.png")
    ds = data.load(f"folder:{tmp_path}", (1, 4, 4), classes=3)  # the default holdout: a fifth, 7 of 35
    assert sorted(ds.test.y.tolist()) == [0, 0, 1, 1, 1, 1, 2]
    ds = data.load(f"folder:{tmp_path}", (1, 4, 4), classes=3, limit=6)
    assert sorted(ds.train.y.tolist()) == [0, 0, 1, 1, 1, 2]


def test_image_folder_with_train_and_test(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow is the optional `train` extra")
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            pil.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / split / cls / "0.png")
    ds = data.load(f"folder:{tmp_path}", (3, 8, 8), classes=2)
    assert (len(ds.train), len(ds.test)) == (2, 2) and ds.train.x[0, :, 0, 0].tolist() == [10, 200, 30]


# -- npz --------------------------------------------------------------------------------------------

def test_npz_channels_last_with_test_split(tmp_path):
    x = images(10, 8, 8, 3)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2, x_test=x[:4], y_test=np.arange(4) % 2)
    ds = data.load(f"npz:{tmp_path / 'd.npz'}", (3, 8, 8), classes=2)
    assert ds.train.x.shape == (10, 3, 8, 8) and np.array_equal(ds.train.x, x.transpose(0, 3, 1, 2))
    assert any("channels last" in n for n in ds.notes)


def test_npz_float_features_for_a_flat_input(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    ds = data.load(f"npz:{tmp_path / 'f.npz'}", (6,), classes=2, holdout=10)
    assert ds.scale == 1.0 and ds.train.x.dtype == np.float32 and len(ds.test) == 10


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 4)), labels=np.zeros(3))
    with pytest.raises(SpecError) as e:
        data.load(f"npz:{tmp_path / 'bad.npz'}", (4,), classes=2)
    assert e.value.diagnostic.code == "E710" and "no array `y`" in e.value.diagnostic.message
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(SpecError) as e:
        data.load(f"npz:{tmp_path / 'obj.npz'}", (4,), classes=2)
    assert e.value.diagnostic.code == "E710"


# -- fitting samples to the spec's input ---------------------------------------------------------

def test_fit_flatten_resize_pad_and_channels():
    x = images(4, 1, 28, 28)
    flat, notes = data.fit_samples(x, (784,))
    assert flat.shape == (4, 784) and "flattened" in notes[0]
    big, notes = data.fit_samples(x, (1, 32, 32))
    assert big.shape == (4, 1, 32, 32) and "resized" in notes[0]
    padded, notes = data.fit_samples(x, (1, 32, 32), fit="pad")
    assert np.array_equal(padded[:, :, 2:30, 2:30], x) and padded[:, :, :2].sum() == 0 and "padded" in notes[0]
    cropped, _ = data.fit_samples(x, (1, 24, 24), fit="pad")
    assert np.array_equal(cropped, x[:, :, 2:26, 2:26])
    rgb, notes = data.fit_samples(x, (3, 28, 28))
    assert rgb.shape == (4, 3, 28, 28) and np.array_equal(rgb[:, 2], x[:, 0]) and "repeated" in notes[0]
    grey, notes = data.fit_samples(images(2, 3, 8, 8), (1, 8, 8))
    assert grey.shape == (2, 1, 8, 8) and "luma" in notes[0]


def test_fit_refuses_what_cannot_be_converted():
    with pytest.raises(SpecError) as e:
        data.fit_samples(images(2, 3, 32, 32), (784,))
    d = e.value.diagnostic
    assert d.code == "E300" and "3×32×32" in d.message and "784" in d.message
    with pytest.raises(SpecError):
        data.fit_samples(images(2, 2, 8, 8), (3, 8, 8))  # two channels: neither grey nor colour


def test_masks_follow_a_resize():
    y = np.zeros((1, 4, 4), dtype=np.int64)
    y[0, :2, :2] = 1
    assert data.fit_masks(y, (1, 8, 8))[0, :4, :4].min() == 1


def test_unknown_source_and_bad_holdout():
    with pytest.raises(SpecError) as e:
        data.parse_source("minst:data")
    assert "`mnist`" in (e.value.diagnostic.hint or "")
    ds = data.load("synthetic:10", (1, 8, 8), classes=2, holdout=0.5)  # it has a test split: holdout unused
    assert any("is not used" in n for n in ds.notes)
    with pytest.raises(SpecError) as e:
        data.split_holdout(formats.Split(np.zeros((5, 1)), np.zeros(5, dtype=np.int64)), 5)
    assert "leaves no training samples" in e.value.diagnostic.message


def test_channel_statistics():
    x = np.stack([np.full((2, 2), 0, np.uint8), np.full((2, 2), 255, np.uint8)])[None].repeat(3, 0)
    mean, std = data.channel_stats(x, 1 / 255)
    assert mean == pytest.approx([0.0, 1.0]) and std == [1.0, 1.0]  # constant channels: std 1
