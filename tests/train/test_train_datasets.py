"""Hostile and damaged dataset files (issue 18, item 13): each is one diagnostic naming the file (E710
invalid dataset, E711 over a limit, with the limit), found before any large allocation: every case runs
under tracemalloc (numpy's buffers are traced too) and must stay under PEAK bytes, and a FIFO under an
alarm. The files are crafted here, small: a 3 GB gzip bomb is 3,000 copies of one compressed MiB of
zeros (3 MB on disk), a 20000×20000 PNG is its header."""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from archspec.diagnostics import SpecError
from archspec.pytorch.train import data, validate

PEAK = 64 * 2**20  # the most a refused dataset may make the loader allocate


def idx_head(type_code: int, *dims: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def mnist(folder: Path, images: bytes | None = None, labels: bytes | None = None, gz: bool = False,
          compress: bool = True) -> Path:
    """An MNIST folder of one split (t10k); each file valid unless given (10 images of 28×28); with `gz`,
    .gz files (the images compressed here unless `compress` is false: given as they are)."""
    folder.mkdir(exist_ok=True)
    x = images if images is not None else idx_head(0x08, 10, 28, 28) + bytes(10 * 28 * 28)
    y = labels if labels is not None else idx_head(0x08, 10) + bytes(range(10))
    suffix = ".gz" if gz else ""
    (folder / f"t10k-images-idx3-ubyte{suffix}").write_bytes(gzip.compress(x) if gz and compress else x)
    (folder / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(gzip.compress(y) if gz else y)
    return folder


def gzip_bomb(head: bytes, gib: int) -> bytes:
    """`head`, then `gib` × 1024 MiB of zeros, as concatenated gzip members (gzip reads them as one stream)."""
    mib = gzip.compress(bytes(2**20), compresslevel=9)
    return gzip.compress(head) + mib * (gib * 1024)


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def image_folder(root: Path, files: dict[str, bytes | None]) -> Path:
    """Class folders of images: `cls/name` → bytes (None: a small valid PNG)."""
    pil = pytest.importorskip("PIL.Image", reason="Pillow is the optional `train` extra")
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            pil.new("L", (8, 8), 128).save(p)
        else:
            p.write_bytes(content)
    return root


def npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def npz_with_header(path: Path, name: str, shape: tuple[int, ...]) -> Path:
    """An npz whose array `name` announces `shape` (float64) but holds 16 bytes."""
    import io
    import zipfile

    from numpy.lib import format as npy

    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}.npy", buf.getvalue() + bytes(16))
        y = io.BytesIO()
        np.save(y, np.zeros(2, dtype=np.int64))
        z.writestr("y.npy", y.getvalue())
    return path


# (id, make the data in tmp_path → the --data source and the file the message names, code, words)
Case = tuple[str, Callable[[Path], tuple[str, Path]], str, str]
IMG = "t10k-images-idx3-ubyte"
LBL = "t10k-labels-idx1-ubyte"


def _m(images: bytes | None = None, labels: bytes | None = None, gz: bool = False, named: str = IMG,
       compress: bool = True) -> Callable[[Path], tuple[str, Path]]:
    def make(tmp: Path) -> tuple[str, Path]:
        folder = mnist(tmp / "mnist", images, labels, gz, compress)
        return f"mnist:{folder}", folder / (named + (".gz" if gz else ""))
    return make


def _f(files: dict[str, bytes | None], named: str) -> Callable[[Path], tuple[str, Path]]:
    def make(tmp: Path) -> tuple[str, Path]:
        root = image_folder(tmp / "imgs", files)
        return f"folder:{root}", root / named if named else root
    return make


def _n(make_file: Callable[[Path], Path]) -> Callable[[Path], tuple[str, Path]]:
    def make(tmp: Path) -> tuple[str, Path]:
        p = make_file(tmp / "d.npz")
        return f"npz:{p}", p
    return make


def _bad_zip(p: Path) -> Path:
    p.write_bytes(b"PK\x03\x04" + os.urandom(300))
    return p


def _bmp_width(width: int) -> bytes:
    """An 8×8 BMP whose header's width field says `width` (a damaged header: a huge image)."""
    import io

    pil = pytest.importorskip("PIL.Image", reason="Pillow is the optional `train` extra")
    buf = io.BytesIO()
    pil.new("RGB", (8, 8), (1, 2, 3)).save(buf, "BMP")
    b = bytearray(buf.getvalue())
    b[18:22] = struct.pack("<i", width)
    return bytes(b)


def _symlink_to_zero(tmp: Path) -> tuple[str, Path]:
    root = image_folder(tmp / "imgs", {"a/1.png": None, "b/1.png": None})
    (root / "b" / "z.png").symlink_to("/dev/zero")
    return f"folder:{root}", root / "b" / "z.png"


def _fifo(tmp: Path) -> tuple[str, Path]:
    root = image_folder(tmp / "imgs", {"a/1.png": None, "b/1.png": None})
    os.mkfifo(root / "b" / "f.png")
    return f"folder:{root}", root / "b" / "f.png"


CASES: list[Case] = [
    ("idx: sizes that overflow int64", _m(idx_head(0x08, 2**32 - 1, 2**32 - 1, 2**32 - 1)), "E711",
     "announces 4,294,967,295×4,294,967,295×4,294,967,295 values"),
    ("idx: 0 images", _m(idx_head(0x08, 0, 28, 28)), "E710", "holds no images"),
    ("idx: height 0", _m(idx_head(0x08, 10, 0, 28)), "E710", "holds images of size 0×28: a dimension is 0"),
    ("idx: a negative int8 label", _m(labels=idx_head(0x09, 10) + bytes([0, 1, 2, 255, 4, 5, 6, 7, 8, 9]), named=LBL),
     "E710", "holds a negative label (-1, at labels item 3)"),
    ("idx: a label of 2**31 - 1", _m(labels=idx_head(0x0C, 10) + struct.pack(">10i", *range(9), 2**31 - 1), named=LBL),
     "E711", "holds the label 2,147,483,647 (at labels item 9)"),
    ("idx: a label of 10**6", _m(labels=idx_head(0x0C, 10) + struct.pack(">10i", 10**6, *range(9)), named=LBL),
     "E711", "holds the label 1,000,000 (at labels item 0)"),
    ("idx: a gzip that inflates to 3 GiB", _m(gzip_bomb(idx_head(0x08, 3_900_000, 28, 28), 3), gz=True, compress=False), "E711",
     "the limit is 2.0 GiB per file"),
    ("idx: 3 GiB of zeros after a small header", _m(gzip_bomb(idx_head(0x08, 10, 28, 28), 3), gz=True, compress=False), "E710",
     "holds more data than its header announces (7,840 bytes)"),
    ("idx: cut short", _m(idx_head(0x08, 10, 28, 28) + bytes(100)), "E710", "is cut short"),
    ("idx: not gzip", _m(b"not gzip at all", gz=True, compress=False), "E710", "is not a valid gzip file"),
    ("idx: float labels", _m(labels=idx_head(0x0D, 10) + bytes(40), named=LBL), "E710", "labels of type float32"),
    ("idx: images and labels differ", _m(labels=idx_head(0x08, 9) + bytes(9), named=IMG), "E710",
     "holds 10 images, t10k-labels-idx1-ubyte 9 labels"),
    ("folder: a 20000×20000 PNG", _f({"a/1.png": None, "b/big.png": png_header(20000, 20000)}, "b/big.png"), "E711",
     "67,108,864 pixels"),
    ("folder: a 10000×10000 PNG", _f({"a/1.png": None, "b/big.png": png_header(10000, 10000)}, "b/big.png"), "E711",
     "is an image of 10,000×10,000 pixels"),
    ("folder: a corrupt BMP header", _f({"a/1.png": None, "b/x.bmp": b"BM" + bytes(12) + b"\xff" * 40}, "b/x.bmp"),
     "E710", "cannot read the image"),
    ("folder: a BMP header whose width is damaged", _f({"a/1.png": None, "b/x.bmp": _bmp_width(0x7FFF0008)}, "b/x.bmp"),
     "E711", "is too large an image to decode"),
    ("folder: a PPM claiming 10**5×10**5", _f({"a/1.png": None, "b/x.ppm": b"P5\n100000 100000\n255\n" + bytes(64)},
                                              "b/x.ppm"), "E711", "pixels"),
    ("folder: a FIFO named f.png", _fifo, "E710", "is a FIFO (named pipe), not a file of data"),
    ("folder: a link to /dev/zero", _symlink_to_zero, "E710", "is a device, not a file of data"),
    ("folder: one class", _f({"cat/1.png": None}, ""), "E710", "has one class folder (cat)"),
    ("folder: an empty class folder", _f({"cat/1.png": None, "dog/notes.txt": b"x"}, "dog"), "E710",
     "holds no images"),
    ("npz: a label of 2**40", _n(lambda p: npz(p, x=np.zeros((3, 4), np.float32), y=np.array([0, 1, 2**40]))), "E711",
     "holds the label 1,099,511,627,776 (at y item 2)"),
    ("npz: a negative label", _n(lambda p: npz(p, x=np.zeros((3, 4), np.float32), y=np.array([0, -1, 1]))), "E710",
     "holds a negative label (-1, at y item 1)"),
    ("npz: a 0-d x", _n(lambda p: npz(p, x=np.float32(1.0), y=np.array([0]))), "E710", "x is a single value"),
    ("npz: no samples", _n(lambda p: npz(p, x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))), "E710",
     "x holds no samples"),
    ("npz: a bad zip", _n(_bad_zip), "E710", "is not a readable .npz file"),
    ("npz: a header announcing 8 TB", _n(lambda p: npz_with_header(p, "x", (10**6, 10**6))), "E711",
     "its array `x` is 1,000,000×1,000,000 of float64: 7.3 TiB"),
    ("npz: Python objects", _n(lambda p: npz(p, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))), "E710",
     "of Python objects (a pickle)"),
]


class _Alarm(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise _Alarm


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_dataset_is_one_diagnostic_before_any_large_allocation(case: Case, tmp_path: Path) -> None:
    _, make, code, words = case
    source, named = make(tmp_path)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)  # a hang guard (a FIFO that is opened blocks until a writer comes)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as e:
            data.load(source, (1, 28, 28), classes=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    d = e.value.diagnostic
    assert (d.code, words in d.message) == (code, True), d.message
    assert str(named) in d.message, d.message
    if code == "E711":
        assert "the limit is" in d.message
    assert peak < PEAK, f"the loader allocated {peak / 2**20:.0f} MiB before refusing"


def test_the_gzip_bomb_is_3_gib_in_3_mb() -> None:
    bomb = gzip_bomb(idx_head(0x08, 3_900_000, 28, 28), 3)
    assert len(bomb) < 4 * 2**20  # its 3,072 members of 1 MiB of zeros inflate to 3 GiB
    with gzip.GzipFile(fileobj=__import__("io").BytesIO(bomb)) as f:
        assert f.read(16) == idx_head(0x08, 3_900_000, 28, 28) and len(f.read(2**20)) == 2**20
    assert 3_900_000 * 28 * 28 > 3 * 10**9 > validate.MAX_BYTES  # the header's data is over the limit


def test_synthetic_data_of_873_tib_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        data.load("synthetic:99999999999999", (1, 28, 28), classes=10)
    d = e.value.diagnostic
    assert d.code == "E711" and d.message.startswith("synthetic:99999999999999 asks for 119,999,999,999,998 samples")
    assert "the limit is 2.0 GiB" in d.message and "at most synthetic:" in (d.hint or "")


def test_an_empty_cifar_batch_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data_batch_1.bin").write_bytes(b"")
    with pytest.raises(SpecError) as e:
        data.load(f"cifar10:{tmp_path}", (3, 32, 32), classes=10)
    assert e.value.diagnostic.code == "E710" and "data_batch_1.bin holds no images" in e.value.diagnostic.message


def test_the_command_line_reports_a_bad_label_with_exit_status_2(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from archspec.cli import main

    folder = mnist(tmp_path / "m", labels=idx_head(0x09, 10) + bytes([0, 1, 2, 255, 4, 5, 6, 7, 8, 9]))
    code = main(["--no-color", "train", "lenet5", "--data", f"mnist:{folder}", "--out", str(tmp_path / "o"),
                 "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 2 and f"error[E710]: {folder / LBL} holds a negative label (-1, at labels item 3)" in err
    assert "Traceback" not in err and not (tmp_path / "o" / "last.pt").exists()


def test_more_classes_than_a_confusion_matrix_holds(tmp_path: Path) -> None:
    """1,501 classes: the run trains and reports, without a 1,501 × 1,501 confusion matrix (at the
    100,000 classes allowed, the matrix would be 80 GB)."""
    from rich.console import Console

    from archspec.train import train

    rng = np.random.default_rng(0)
    p = npz(tmp_path / "many.npz", x=rng.normal(size=(1600, 4)).astype(np.float32), y=np.arange(1600) % 1501)
    (tmp_path / "n.arch").write_text("network n(classes = 2):\n    input 4\n    dense classes softmax\n")
    r = train(tmp_path / "n.arch", out=tmp_path / "o", data=f"npz:{p}", epochs=1, threads=1, progress=False,
              console=Console(quiet=True))
    assert r.status == "done" and r.confusion is None and len(r.classes) == 1501
    assert json.loads((tmp_path / "o" / "test.json").read_text())["confusion"] is None
