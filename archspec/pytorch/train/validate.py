"""Checks of dataset files, in one place for every reader (formats.py) and for what reads data next:
what a file is (a regular file, not a FIFO or a device), what its header announces (counted in Python
integers, so no size overflows), and the limits below, each checked before the memory is taken.

Every problem is one diagnostic naming the file: E710 for an invalid dataset (a header that does not
add up, no samples, an image of height 0, a negative label, a folder with one class), E711 for a
dataset over a limit (the limit is in the message).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspec.diagnostics import Diagnostic, SpecError

MAX_BYTES = 2 * 2**30  # the samples (or labels) of one file, or of one folder of images, in memory
MAX_CLASSES = 100_000  # labels 0 .. MAX_CLASSES - 1
MAX_IMAGE_PIXELS = 2**26  # one image of a folder (8192 × 8192), as its header declares it, before decoding


def invalid(path: str | Path, what: str, hint: str | None = None) -> SpecError:
    """E710: `path` is not a valid dataset file (`what`)."""
    return SpecError(Diagnostic("E710", f"{path} {what}", hint=hint))


def over(path: str | Path, what: str, limit: str, hint: str | None = None) -> SpecError:
    """E711: `path` is over a limit (`what`; `limit` says the limit)."""
    return SpecError(Diagnostic("E711", f"{path} {what}; the limit is {limit}", hint=hint))


def size_text(n: int) -> str:
    for unit, k in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= k:
            return f"{n / k:,.1f} {unit}"
    return f"{n:,} bytes"


def regular_file(path: Path) -> os.stat_result:
    """The file's status; a FIFO, a device, a socket (or a link to one) is refused before it is opened:
    opening a FIFO blocks until something writes to it, and a device can be endless."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise SpecError(Diagnostic("E102", f"cannot read {path}: {e.strerror or e}")) from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise invalid(path, f"is {kind}, not a file of data", "datasets are read from regular files only")
    return st


def check_bytes(path: str | Path, n: int, what: str) -> None:
    """E711 when `what` (n bytes) is over MAX_BYTES."""
    if n > MAX_BYTES:
        raise over(path, f"{what}: {size_text(n)}", f"{size_text(MAX_BYTES)} per file",
                   "split the data into smaller files, or train on a part of it")


def check_shape(path: str | Path, dims: Sequence[int], itemsize: int, what: str = "samples") -> int:
    """The bytes of an array of `dims` (Python integers: no overflow), checked against MAX_BYTES; E710
    when it holds no samples or a sample of size 0."""
    dims = [int(d) for d in dims]
    if not dims or dims[0] == 0:
        raise invalid(path, f"holds no {what} (its header announces {_fmt(dims)})")
    if any(d == 0 for d in dims[1:]):
        raise invalid(path, f"holds {what} of size {_fmt(dims[1:])}: a dimension is 0")
    n = itemsize
    for d in dims:
        n *= d
    check_bytes(path, n, f"its header announces {_fmt(dims)} values")
    return n


def _fmt(dims: Sequence[int]) -> str:
    return "×".join(f"{d:,}" for d in dims) if dims else "nothing"


def check_labels(path: str | Path, y: np.ndarray, name: str = "labels") -> int:
    """Integer labels 0 .. MAX_CLASSES - 1 (E710 for others, E711 beyond the limit); returns the number
    of classes they imply (the largest + 1; 0 when there are none)."""
    if y.size == 0:
        return 0
    whole = np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and bool(np.all(np.isfinite(y)))
                                                   and bool(np.all(np.mod(y, 1) == 0)))
    if not whole:
        raise invalid(path, f"holds {name} of type {y.dtype}; labels are whole numbers 0, 1, ...")
    lo, hi = y.min(), y.max()
    if lo < 0:
        at = int(np.argmax(y.reshape(-1) < 0))
        raise invalid(path, f"holds a negative label ({_int(lo)}, at {name} item {at:,}); labels are 0, 1, ...")
    if hi >= MAX_CLASSES:
        at = int(np.argmax(y.reshape(-1) >= MAX_CLASSES))
        raise over(path, f"holds the label {_int(hi)} (at {name} item {at:,}), which makes {_int(hi)} + 1 classes",
                   f"{MAX_CLASSES:,} classes (labels 0 to {MAX_CLASSES - 1:,})",
                   "labels are class numbers 0, 1, ...: is this the labels file?")
    return int(hi) + 1


def _int(v: Any) -> str:
    return f"{int(v):,}"


def check_images(path: str | Path, count: int, shape: Sequence[int]) -> None:
    """`count` images stored as uint8 `shape` (C, H, W) fit MAX_BYTES."""
    n = count
    for d in shape:
        n *= int(d)
    check_bytes(path, n, f"{count:,} images of {'×'.join(map(str, shape))}")


def check_pixels(path: str | Path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise over(path, f"is an image of {width:,}×{height:,} pixels",
                   f"{MAX_IMAGE_PIXELS:,} pixels ({int(MAX_IMAGE_PIXELS ** 0.5):,}×{int(MAX_IMAGE_PIXELS ** 0.5):,})",
                   "resize the image; the network's input is much smaller")


# -- IDX headers (MNIST) -------------------------------------------------------------------------------------

IDX_TYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
                                       0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def idx_header(path: str | Path, head: bytes, rank: int | None = None) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """An IDX header (magic 0x0000TTNN, then NN big-endian 32-bit sizes): its dtype, dimensions and the
    bytes of data it announces, checked (`rank`: the number of dimensions the file must have)."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES:
        raise invalid(path, f"is not an IDX file (its first bytes are {head[:4].hex() or 'none'})",
                      "MNIST's files are IDX files: train-images-idx3-ubyte[.gz] and the like")
    n = head[3]
    if len(head) < 4 + 4 * n:
        raise invalid(path, f"is cut short (its header needs {4 + 4 * n} bytes)")
    if rank is not None and n != rank:
        raise invalid(path, f"holds an array of {n} dimensions, expected {rank} "
                            f"({'N×H×W images' if rank == 3 else 'N labels'})")
    dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(n))
    dtype = IDX_TYPES[head[2]]
    what = "images" if rank == 3 else "labels" if rank == 1 else "values"
    return dtype, dims, check_shape(path, dims, dtype.itemsize, what)


# -- npy headers (npz members) --------------------------------------------------------------------------------

def npy_header(path: str | Path, name: str, f: Any) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """The shape, dtype and bytes of an .npy member `name` of an npz, from its header (nothing more is read)."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(f)
        else:
            raise ValueError(f"version {version[0]}.{version[1]} of the .npy format")
    except (ValueError, OSError, EOFError) as e:
        raise invalid(path, f"has an array `{name}` whose header does not read: {e}") from None
    if dtype.hasobject:
        raise invalid(path, f"has an array `{name}` of Python objects (a pickle), which archspec does not load",
                      "save numbers: numpy.savez(FILE, x=x.astype('float32'), y=y.astype('int64'))")
    n = dtype.itemsize
    for d in shape:
        n *= int(d)
    check_bytes(path, n, f"its array `{name}` is {_fmt(shape) if shape else 'a single value'} of {dtype}")
    return tuple(int(d) for d in shape), dtype, n
