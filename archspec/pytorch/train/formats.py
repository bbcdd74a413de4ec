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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from archspec.diagnostics import Diagnostic, SpecError
from archspec.pytorch.train import validate

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
    """E710: a dataset file whose content is not what its format says."""
    return SpecError(Diagnostic("E710", message, hint=hint))


def missing(message: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic("E500", message, hint=hint))


def _folder(path: Path, what: str, example: str) -> Path:
    if not path.exists():
        raise missing(f"no {what} at {path}", f"for example --data {example}")
    if not path.is_dir():
        raise unreadable(f"{path} is a file; {what} is a folder", f"for example --data {example}")
    return path


def _read_body(f: Any, n: int) -> bytearray:
    """Exactly `n` bytes from the stream `f` (fewer: the file is cut short), read into one buffer."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:got + (1 << 24)])
        if not k:
            break
        got += k
    return buf if got == n else buf[:got]


def read_idx(path: Path, rank: int | None = None) -> np.ndarray:
    """An IDX file (the MNIST format), gz or not: the header is read and checked first
    (validate.idx_header), then exactly the data it announces, so that a gzip bomb or a header of
    impossible sizes costs nothing; bytes beyond the data are refused."""
    import zlib

    st = validate.regular_file(path)
    gz = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            head = f.read(4)
            if len(head) == 4 and head[0] == 0 and head[1] == 0:
                head += f.read(4 * head[3])
            dtype, dims, n = validate.idx_header(path, head, rank)
            if not gz and st.st_size != len(head) + n:
                raise unreadable(f"{path} is {'cut short' if st.st_size < len(head) + n else 'longer than its header says'}"
                                 f": its header announces {n:,} bytes of data after the header, the file has "
                                 f"{st.st_size - len(head):,}")
            body = _read_body(f, n)
            if len(body) < n:
                raise unreadable(f"{path} is cut short: its header announces {n:,} bytes of data, it holds {len(body):,}")
            if f.read(1):
                raise unreadable(f"{path} holds more data than its header announces ({n:,} bytes)")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise unreadable(f"{path} is not a valid gzip file: {e}") from None
    except OSError as e:
        raise SpecError(Diagnostic("E102", f"cannot read {path}: {e.strerror or e}")) from None
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


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
    for split, (images, labels) in _idx_files(folder).items():
        y = read_idx(labels, rank=1)
        if y.dtype.kind not in "iu":
            raise unreadable(f"{labels} holds labels of type {y.dtype}; labels are whole numbers 0, 1, ...")
        validate.check_labels(labels, y)
        x = read_idx(images, rank=3)
        if len(x) != len(y):
            raise unreadable(f"{images} holds {len(x):,} images, {labels.name} {len(y):,} labels",
                             "the images and labels files of a split hold the same number of samples")
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
    st = validate.regular_file(path)
    validate.check_bytes(path, st.st_size, "a CIFAR-10 batch of this size")
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
    if not len(x):
        raise unreadable(f"{path} holds no images")
    validate.check_labels(path, labels)
    return Split(x.reshape(-1, 3, 32, 32), labels.astype(np.int64))


def _cifar_binary(path: Path) -> Split:
    st = validate.regular_file(path)
    validate.check_bytes(path, st.st_size, "a CIFAR-10 batch of this size")
    data = path.read_bytes()
    if not data:
        raise unreadable(f"{path} holds no images (0 bytes)")
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
    train_files, test_files, classes = list_folder(folder, shape)
    validate.check_images(folder, len(train_files) + len(test_files or []), shape)
    image = pil()
    return Raw(_read_images(image, train_files, shape),
               _read_images(image, test_files, shape) if test_files is not None else None, classes)


def list_folder(folder: Path, shape: Sequence[int]) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]] | None,
                                                             list[str]]:
    """The image files of a folder (as `read_folder` takes it) with their labels, without opening them:
    the training files, the test files (None without train/ and test/ folders) and the class names."""
    folder = _folder(folder, "image folder", "folder:data/pets")
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise SpecError(Diagnostic("E300", f"a folder of images trains a network whose input is 1×H×W or 3×H×W, "
                                           f"not {'×'.join(map(str, shape))}"))
    pil()
    subs = {p.name.lower(): p for p in _class_folders(folder)}
    test_dir = subs.get("test") or subs.get("val") or subs.get("validation")
    if "train" in subs and test_dir is not None:
        classes = [p.name for p in _class_folders(subs["train"])]
        return _image_files(subs["train"], classes), _image_files(test_dir, classes), classes
    classes = [p.name for p in _class_folders(folder)]
    return _stratified(_image_files(folder, classes)), None, classes


def _stratified(files: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
    """One split's files (listed class after class) in the order of their place in their class: the last
    fifth of the list is the last fifth of each class's files (by name), so the default holdout tests every
    class, and `--limit N` trains on the first files of every class, not of the first classes."""
    count: dict[int, int] = {}
    for _, label in files:
        count[label] = count.get(label, 0) + 1
    seen: dict[int, int] = {}
    keyed = []
    for path, label in files:
        i = seen[label] = seen.get(label, -1) + 1
        keyed.append(((i + 0.5) / count[label], label, path))
    return [(path, label) for _, label, path in sorted(keyed)]


def _image_files(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """The image files of each class folder, with their labels; each class needs one, and there are at
    least two classes. Files that are not regular files (a FIFO named cat.png) are refused here, before
    anything opens them."""
    if not classes:
        raise missing(f"{folder} has no class sub-folders", "put the images of each class in a folder named "
                      "after the class: DIR/cat/1.jpg, DIR/dog/1.jpg, ...")
    if len(classes) < 2:
        raise unreadable(f"{folder} has one class folder ({classes[0]}): training to classify needs two classes "
                         "or more", "put the images of each class in a folder named after the class")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            raise missing(f"{folder} has no folder for the class `{name}`, which the training folder has")
        found = 0
        for p in sorted(sub.rglob("*")):
            if p.suffix.lower() not in IMAGE_SUFFIXES or p.is_dir():
                continue
            validate.regular_file(p)
            files.append((p, label))
            found += 1
        if not found:
            raise unreadable(f"the class folder {sub} holds no images",
                             f"images are files ending in {', '.join(IMAGE_SUFFIXES)}; remove the folder, or add "
                             "images of the class")
    return files


def _read_images(image: Any, files: list[tuple[Path, int]], shape: Sequence[int]) -> Split:
    mode = "L" if shape[0] == 1 else "RGB"
    size = (int(shape[2]), int(shape[1]))  # PIL: width, height
    x = np.empty((len(files), *(int(d) for d in shape)), dtype=np.uint8)
    for i, (p, _) in enumerate(files):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", image.DecompressionBombWarning)  # our limit is lower: check_pixels
                with image.open(p) as im:  # reads the header only: the size is known before decoding
                    validate.check_pixels(p, *im.size)
                    im = im.convert(mode)
                    if im.size != size:
                        im = im.resize(size, image.Resampling.BILINEAR)
                    arr = np.asarray(im, dtype=np.uint8)
        except SpecError:
            raise
        except (image.DecompressionBombError, image.DecompressionBombWarning) as e:
            raise validate.over(p, f"is too large an image to decode ({e})",
                                f"{validate.MAX_IMAGE_PIXELS:,} pixels") from None
        except Exception as e:  # a damaged image raises what its decoder raises (OSError, SyntaxError, ...)
            raise unreadable(f"cannot read the image {p}: {e or type(e).__name__}",
                             "remove it or replace it with a whole image") from None
        x[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return Split(x, np.asarray([label for _, label in files], dtype=np.int64))


# -- npz ------------------------------------------------------------------------------------------

NPZ_KEYS = ("x", "y", "x_test", "y_test", "classes")


def read_npz(path: Path, tokens: bool = False) -> Raw:
    """x and y (and x_test, y_test); `tokens`: x holds token ids, kept as integers."""
    if not path.exists():
        raise missing(f"no file {path}", "for example --data npz:data.npz, a numpy .npz with arrays x and y")
    arrays, names = _npz_arrays(path)
    for key in ("x", "y"):
        if key not in arrays:
            raise unreadable(f"{path} has no array `{key}` (it has {', '.join(names) or 'none'})",
                             "an .npz for training holds x (samples) and y (labels), and optionally x_test, y_test")
    train = _npz_split(arrays["x"], arrays["y"], path, "", tokens)
    test = _npz_split(arrays["x_test"], arrays["y_test"], path, "_test", tokens) if "x_test" in arrays else None
    n = max(validate.check_labels(path, train.y, "y"),
            validate.check_labels(path, test.y, "y_test") if test is not None else 0)
    names = [str(c) for c in arrays["classes"]] if "classes" in arrays and arrays["classes"].ndim == 1 and \
        len(arrays["classes"]) >= n else [str(i) for i in range(n)]
    return Raw(train, test, names)


def _npz_arrays(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of an npz that training reads (NPZ_KEYS), each header checked before its data is read;
    and the names of all its arrays."""
    import zipfile
    import zlib

    from numpy.lib import format as npy

    validate.regular_file(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            members = {i.filename.removesuffix(".npy"): i for i in z.infolist() if i.filename.endswith(".npy")}
            total = 0
            for key in NPZ_KEYS:
                if key in members:
                    with z.open(members[key]) as f:
                        total += validate.npy_header(path, key, f)[2]
                    validate.check_bytes(path, total, "its arrays together")
            for key in NPZ_KEYS:
                if key in members:
                    with z.open(members[key]) as f:
                        arrays[key] = npy.read_array(f, allow_pickle=False)
    except SpecError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise unreadable(f"{path} is not a readable .npz file: {e}",
                         "an .npz is a zip of .npy arrays, as numpy.savez writes it") from None
    except OSError as e:
        raise SpecError(Diagnostic("E102", f"cannot read {path}: {e.strerror or e}")) from None
    return arrays, list(members)


def _npz_split(x: np.ndarray, y: np.ndarray, path: Path, suffix: str, tokens: bool = False) -> Split:
    if x.ndim == 0:
        raise unreadable(f"{path}: x{suffix} is a single value; x holds N samples",
                         "for example x of shape N×784, or N×C×H×W")
    if y.ndim < 1:
        raise unreadable(f"{path}: y{suffix} is a single value; y holds one label per sample")
    if not len(x):
        raise unreadable(f"{path}: x{suffix} holds no samples")
    if len(x) != len(y):
        raise unreadable(f"{path}: x{suffix} has {len(x)} samples but y{suffix} {len(y)}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise unreadable(f"{path}: x{suffix} holds {x.dtype}, not numbers")
    if not np.issubdtype(y.dtype, np.integer) and not (np.issubdtype(y.dtype, np.floating) and
                                                       np.all(np.mod(y, 1) == 0)):
        raise unreadable(f"{path}: y{suffix} holds {y.dtype}; labels are integers 0, 1, ...")
    validate.check_labels(path, y, f"y{suffix}")
    if x.dtype != np.uint8 and not (tokens and np.issubdtype(x.dtype, np.integer)):
        x = x.astype(np.float32)
    return Split(x, y.astype(np.int64))
