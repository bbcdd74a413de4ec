"""Readers of dataset files, each returning numpy arrays: images channels first (N, C, H, W), uint8 as
stored, and integer labels (N,). Nothing here downloads anything, and nothing runs code from a file:
the CIFAR-10 python format (pickle) is read with an unpickler that builds numpy arrays, lists, dicts and
strings only.

- IDX (MNIST, Fashion-MNIST, KMNIST, EMNIST): `*-images-idx3-ubyte[.gz]` with `*-labels-idx1-ubyte[.gz]`.
- CIFAR-10: the binary batches (`data_batch_1.bin` ... `test_batch.bin`) or the python ones.
- a folder of images, one sub-folder per class (Pillow); or `train/` and `test/` folders of those.
- `.npz`: arrays `x` and `y`, and optionally `x_test` and `y_test`.
"""

from __future__ import annotations

import gzip
import io
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspec.diagnostics import Diagnostic, SpecError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class Split:
    x: np.ndarray  # (N, C, ...) channels first; uint8 (0-255) or float
    y: np.ndarray  # (N,) class labels, or (N, ...) per-position labels

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: Any) -> Split:
        return Split(self.x[index], self.y[index])


@dataclass
class Raw:
    """What a reader found: a train split, maybe a test split, class names."""

    train: Split
    test: Split | None
    classes: list[str]
    notes: list[str] = field(default_factory=list)


def unreadable(message: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic("E102", message, hint=hint))


def missing(message: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic("E500", message, hint=hint))


def _folder(path: Path, what: str, example: str) -> Path:
    if not path.exists():
        raise missing(f"no {what} at {path}", f"for example --data {example}")
    if not path.is_dir():
        raise unreadable(f"{path} is a file; {what} is a folder", f"for example --data {example}")
    return path


def _open(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise unreadable(f"{path} is not a valid gzip file: {e}") from None
    return data


# -- IDX ------------------------------------------------------------------------------------------

_IDX_TYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
                                        0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): magic 0x0000TTNN, then NN big-endian 32-bit sizes, then the data."""
    data = _open(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise unreadable(f"{path} is not an IDX file (its first bytes are {data[:4].hex()})")
    rank = data[3]
    head = 4 + 4 * rank
    if len(data) < head:
        raise unreadable(f"{path} is cut short (its header needs {head} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=rank, offset=4))
    dtype = _IDX_TYPES[data[2]]
    count = int(np.prod(dims, dtype=np.int64))
    if len(data) - head < count * dtype.itemsize:
        raise unreadable(f"{path} is cut short: its header announces {count:,} values of shape {dims}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_files(folder: Path) -> dict[str, tuple[Path, Path]]:
    """The images and labels files of each split found: `train` and `test` (`t10k`), gz or not."""
    out: dict[str, tuple[Path, Path]] = {}
    for img in sorted(folder.iterdir()):
        name = img.name.lower()
        if "images" not in name or "idx3" not in name or not img.is_file():
            continue
        split = "train" if "train" in name else "test" if ("t10k" in name or "test" in name) else None
        if split is None or split in out:
            continue
        base = img.name.replace("images", "labels").replace("idx3", "idx1")
        found = [c for c in (folder / base, folder / (base + ".gz"), folder / base.removesuffix(".gz")) if c.is_file()]
        if not found:
            raise missing(f"{folder} has {img.name} but not its labels, {base}")
        out[split] = (img, found[0])
    return out


def read_mnist(folder: Path) -> Raw:
    folder = _folder(folder, "MNIST folder", "mnist:data/mnist")
    splits: dict[str, Split] = {}
    for split, pair in _idx_files(folder).items():
        x, y = read_idx(pair[0]), read_idx(pair[1])
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise unreadable(f"{pair[0].name} holds {x.shape}, {pair[1].name} {y.shape}: expected N×H×W images "
                             "and N labels")
        splits[split] = Split(x[:, None], y.astype(np.int64))
    if not splits:
        raise missing(f"no IDX files in {folder}",
                      "MNIST's files are train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                      "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gz or not)")
    train, test = splits.get("train"), splits.get("test")
    notes = []
    if train is None:
        notes.append(f"{folder} holds only the test files (t10k): they are split for training and testing")
        train, test = splits["test"], None
    n = int(max(int(train.y.max()), int(test.y.max()) if test is not None else 0)) + 1
    return Raw(train, test, [str(i) for i in range(n)], notes)


# -- CIFAR-10 -------------------------------------------------------------------------------------

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_CIFAR_RECORD = 1 + 3 * 32 * 32


class SafeUnpickler(pickle.Unpickler):
    """Builds numpy arrays and plain containers only; any other class or function is refused."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "dict"),
               ("builtins", "bytes"), ("__builtin__", "list"), ("__builtin__", "dict"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 renamed it (CIFAR: numpy 1)
                module = "numpy._core." + module.removeprefix("numpy.core.")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def safe_unpickle(data: bytes) -> Any:
    return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()


def _cifar_python(path: Path) -> Split:
    try:
        d = safe_unpickle(path.read_bytes())
    except Exception as e:  # a pickle can fail in many ways; all mean "not a CIFAR batch we accept"
        raise unreadable(f"{path} is not a CIFAR-10 python batch: {e}") from None
    if not isinstance(d, dict):
        raise unreadable(f"{path} is not a CIFAR-10 python batch (no dictionary)")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    x, y = d.get("data"), d.get("labels")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y is None:
        raise unreadable(f"{path} is not a CIFAR-10 python batch (expected `data` N×3072 uint8 and `labels`)")
    labels = np.asarray(y)
    if labels.dtype == object or labels.shape != (len(x),):
        raise unreadable(f"{path}: `labels` is not a list of {len(x)} integers")
    return Split(x.reshape(-1, 3, 32, 32), labels.astype(np.int64))


def _cifar_binary(path: Path) -> Split:
    data = path.read_bytes()
    if len(data) % _CIFAR_RECORD:
        raise unreadable(f"{path} is not a CIFAR-10 binary batch: {len(data):,} bytes is not a whole number of "
                         f"{_CIFAR_RECORD}-byte records")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    return Split(rec[:, 1:].reshape(-1, 3, 32, 32).copy(), rec[:, 0].astype(np.int64))


def read_cifar10(folder: Path) -> Raw:
    folder = _folder(folder, "CIFAR-10 folder", "cifar10:data/cifar-10-batches-bin")
    for sub in ("cifar-10-batches-bin", "cifar-10-batches-py"):
        if (folder / sub).is_dir():
            folder = folder / sub
    binary = sorted(folder.glob("data_batch_*.bin")), sorted(folder.glob("test_batch.bin"))
    python = ([p for p in sorted(folder.glob("data_batch_*")) if p.suffix == ""],
              [p for p in folder.glob("test_batch") if p.suffix == ""])
    reader: Callable[[Path], Split]
    if binary[0] or binary[1]:
        (train_files, test_files), reader = binary, _cifar_binary
    elif python[0] or python[1]:
        (train_files, test_files), reader = python, _cifar_python
    else:
        raise missing(f"no CIFAR-10 batches in {folder}",
                      "the binary version has data_batch_1.bin ... data_batch_5.bin and test_batch.bin; "
                      "the python version data_batch_1 ... and test_batch")
    train = _concat([reader(p) for p in train_files])
    test = _concat([reader(p) for p in test_files]) if test_files else None
    notes = []
    if train is None:
        notes.append(f"{folder} holds only the test batch: it is split for training and testing")
        train, test = test, None
    assert train is not None
    return Raw(train, test, _cifar_names(folder), notes)


def _cifar_names(folder: Path) -> list[str]:
    meta = folder / "batches.meta.txt"
    if meta.is_file():
        names = [line.strip() for line in meta.read_text(errors="replace").splitlines() if line.strip()]
        if len(names) == 10:
            return names
    return list(CIFAR10_CLASSES)


def _concat(splits: Sequence[Split]) -> Split | None:
    if not splits:
        return None
    return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))


# -- image folders --------------------------------------------------------------------------------

def pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise SpecError(Diagnostic("E202", "reading a folder of images needs Pillow, which is not installed",
                                   hint="pip install 'archspec[train]' (or pip install pillow); or convert "
                                        "the images to an .npz file (arrays x and y) and use --data npz:FILE")) \
            from None
    return Image


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(folder: Path, shape: Sequence[int]) -> Raw:
    """Images in one sub-folder per class, converted to the channels of `shape` (C, H, W) and resized to
    its size; `train/` and `test/` (or `val/`) sub-folders, each of class folders, give two splits."""
    folder = _folder(folder, "image folder", "folder:data/pets")
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise SpecError(Diagnostic("E300", f"a folder of images trains a network whose input is 1×H×W or 3×H×W, "
                                           f"not {'×'.join(map(str, shape))}"))
    image = pil()
    subs = {p.name.lower(): p for p in _class_folders(folder)}
    test_dir = subs.get("test") or subs.get("val") or subs.get("validation")
    if "train" in subs and test_dir is not None:
        classes = [p.name for p in _class_folders(subs["train"])]
        train = _read_images(image, subs["train"], classes, shape)
        return Raw(train, _read_images(image, test_dir, classes, shape), classes)
    classes = [p.name for p in _class_folders(folder)]
    return Raw(_read_images(image, folder, classes, shape), None, classes)


def _read_images(image: Any, folder: Path, classes: list[str], shape: Sequence[int]) -> Split:
    if not classes:
        raise missing(f"{folder} has no class sub-folders", "put the images of each class in a folder named "
                      "after the class: DIR/cat/1.jpg, DIR/dog/1.jpg, ...")
    mode = "L" if shape[0] == 1 else "RGB"
    size = (int(shape[2]), int(shape[1]))  # PIL: width, height
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            raise missing(f"{folder} has no folder for the class `{name}`, which the training folder has")
        for p in sorted(sub.rglob("*")):
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with image.open(p) as im:
                    im = im.convert(mode)
                    if im.size != size:
                        im = im.resize(size, image.Resampling.BILINEAR)
                    arr = np.asarray(im, dtype=np.uint8)
            except (OSError, ValueError) as e:
                raise unreadable(f"cannot read the image {p}: {e}") from None
            xs.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
            ys.append(label)
    if not xs:
        raise missing(f"no images in the class folders of {folder}",
                      f"images are files ending in {', '.join(IMAGE_SUFFIXES)}")
    return Split(np.stack(xs), np.asarray(ys, dtype=np.int64))


# -- npz ------------------------------------------------------------------------------------------

def read_npz(path: Path) -> Raw:
    if not path.is_file():
        raise missing(f"no file {path}", "for example --data npz:data.npz, a numpy .npz with arrays x and y")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise unreadable(f"{path} is not a readable .npz file: {e}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise unreadable(f"{path} has no array `{key}` (it has {', '.join(arrays) or 'none'})",
                             "an .npz for training holds x (samples) and y (labels), and optionally x_test, y_test")
    train = _npz_split(arrays["x"], arrays["y"], path, "")
    test = _npz_split(arrays["x_test"], arrays["y_test"], path, "_test") if "x_test" in arrays else None
    ys = [train.y] + ([test.y] if test is not None else [])
    n = int(max(int(y.max()) for y in ys)) + 1 if train.y.size else 0
    names = [str(c) for c in arrays["classes"]] if "classes" in arrays and len(arrays["classes"]) >= n else \
        [str(i) for i in range(n)]
    return Raw(train, test, names)


def _npz_split(x: np.ndarray, y: np.ndarray, path: Path, suffix: str) -> Split:
    if len(x) != len(y):
        raise unreadable(f"{path}: x{suffix} has {len(x)} samples but y{suffix} {len(y)}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise unreadable(f"{path}: x{suffix} holds {x.dtype}, not numbers")
    if not np.issubdtype(y.dtype, np.integer) and not (np.issubdtype(y.dtype, np.floating) and
                                                       np.all(np.mod(y, 1) == 0)):
        raise unreadable(f"{path}: y{suffix} holds {y.dtype}; labels are integers 0, 1, ...")
    if y.size and y.min() < 0:
        raise unreadable(f"{path}: y{suffix} has negative labels; labels are 0, 1, ...")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
    return Split(x, y.astype(np.int64))
