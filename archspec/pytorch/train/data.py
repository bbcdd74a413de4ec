"""Datasets for training: where the data comes from (`--data KIND[:PATH]`), its test split, and its
samples fitted to the spec's input shape, each change stated in a note.

    synthetic[:N]      the built-in glyphs (synthetic.py), N training samples (default 5000) and N/5 for testing;
                       for an input of token ids, the built-in sequence task (which key token is in the majority)
    mnist:DIR          IDX files: MNIST, Fashion-MNIST, KMNIST, EMNIST (gz or not)
    cifar10:DIR        CIFAR-10, binary or python batches
    folder:DIR         one sub-folder of images per class (or train/ and test/ folders of those); needs Pillow
    npz:FILE           arrays x and y (and x_test, y_test)

A dataset without a test split is split: `holdout` samples at the end (a count, or a fraction below 1;
default a fifth) are held out for testing. Samples of another size are resized (or padded/cropped at the
centre, `fit="pad"`), one channel is repeated to three, three are averaged to one (ITU-R 601 luma),
and images are flattened for a network with a flat input of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archspec.diagnostics import Diagnostic, SpecError
from archspec.pytorch.train import formats, synthetic, validate
from archspec.pytorch.train.formats import Split

KINDS = ("synthetic", "mnist", "cifar10", "folder", "npz")
ALIASES = {"fashion-mnist": "mnist", "fashion_mnist": "mnist", "fashionmnist": "mnist", "kmnist": "mnist",
           "emnist": "mnist", "idx": "mnist", "cifar": "cifar10", "cifar-10": "cifar10", "images": "folder"}
SYNTHETIC_TRAIN = 5000
DEFAULT_HOLDOUT = 0.2
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: list[str]
    notes: list[str] = field(default_factory=list)
    scale: float = 1 / 255  # multiply the stored values by this, then normalise with mean and std
    mean: list[float] = field(default_factory=list)  # per channel, after scaling (one value for flat inputs)
    std: list[float] = field(default_factory=list)
    loader: str = "memory"  # or "stream" (stream.py): the splits are then FileSplits of image files, or arrays
    tokens: int = 0  # samples of token ids below this vocabulary (int64, not normalised); 0: values

    @property
    def sample_shape(self) -> tuple[int, ...]:
        shape = getattr(self.train, "shape", None)
        return tuple(shape) if shape is not None else tuple(self.train.x.shape[1:])

    @property
    def segmentation(self) -> bool:
        return self.train.y.ndim > 1

    def describe(self) -> str:
        return f"{self.name}: {len(self.train):,} training and {len(self.test):,} test samples, " \
               f"{len(self.classes)} classes, samples {'×'.join(map(str, self.sample_shape))}"


def parse_source(text: str) -> tuple[str, str]:
    """`mnist:data/mnist` → ("mnist", "data/mnist"); `synthetic` → ("synthetic", "")."""
    kind, _, path = text.partition(":")
    kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if kind not in KINDS:
        from archspec.diagnostics import did_you_mean

        raise SpecError(Diagnostic("E202", f"unknown data source `{text}`",
                                   hint=did_you_mean(kind, KINDS) or
                                   "one of synthetic[:N], mnist:DIR, cifar10:DIR, folder:DIR, npz:FILE"))
    if kind != "synthetic" and not path:
        raise SpecError(Diagnostic("E202", f"--data {kind} needs a path", hint=f"for example --data {kind}:DIR"))
    return kind, path


def load(text: str, input_shape: tuple[int, ...], *, classes: int, segmentation: bool = False,
         holdout: float | None = None, limit: int = 0, fit: str = "resize", seed: int = 0,
         loader: str = "auto", per_image: bool = False, vocab: int = 0, next_token: bool = False) -> Dataset:
    """The dataset `text` names, fitted to `input_shape`. `classes` and `segmentation` describe the
    network's main output (the synthetic data is made to match them). `loader`: "memory", "stream" or
    "auto" (stream.choose; `per_image`: the recipe augments decoded images, which streaming does).
    `vocab`: the input is token ids below it (the synthetic data is then the sequence task, an npz's `x`
    ids checked against it; always in memory). `next_token`: the output gives every position a score per
    token id (a language model): the synthetic data is then the built-in text (corpus.py), each position
    labelled with the next character."""
    from archspec.pytorch.train import stream

    kind, path = parse_source(text)
    if vocab:
        return _load_tokens(text, kind, path, input_shape, classes, holdout, limit, seed, vocab, next_token)
    notes: list[str] = []
    if kind == "synthetic":
        raw = _synthetic(path, input_shape, classes, segmentation, seed)
    elif kind == "mnist":
        raw = formats.read_mnist(Path(path))
    elif kind == "cifar10":
        raw = formats.read_cifar10(Path(path))
    elif kind == "folder":
        train_files, test_files, names = formats.list_folder(Path(path), input_shape)
        count = len(train_files) + len(test_files or [])
        chosen, why = stream.choose(loader, count * int(np.prod(input_shape)), per_image, True)
        if chosen == "stream":
            return _streamed_folder(text, input_shape, train_files, test_files, names, holdout, limit, fit, why)
        validate.check_images(Path(path), count, input_shape)
        image = formats.pil()
        raw = formats.Raw(formats._read_images(image, train_files, input_shape),
                          formats._read_images(image, test_files, input_shape) if test_files is not None else None,
                          names)
    else:
        raw = formats.read_npz(Path(path))
    notes += raw.notes
    train, test = raw.train, raw.test
    if test is None:
        train, test, note = split_holdout(train, holdout)
        notes.append(note)
    elif holdout is not None:
        notes.append(f"the data has its own test split: --holdout {holdout:g} is not used")
    if limit and limit < len(train):
        train = train.take(slice(0, limit))
        notes.append(f"training on the first {limit:,} samples (--limit)")
    for name, split in (("training", train), ("test", test)):
        if split.x.dtype != np.uint8 and not np.isfinite(split.x).all():
            raise SpecError(Diagnostic("E102", f"the {name} samples of {text} hold NaN or infinite values",
                                       hint="clean the data (numpy.nan_to_num) before training"))
    if len(train) == 0:
        raise SpecError(Diagnostic("E202", "no training samples are left", hint="lower --holdout or raise --limit"))
    x_train, n1 = fit_samples(train.x, input_shape, fit)
    x_test, _ = fit_samples(test.x, input_shape, fit)
    notes += n1
    y_train, y_test = train.y, test.y
    if y_train.ndim > 1:
        y_train, y_test = fit_masks(y_train, input_shape), fit_masks(y_test, input_shape)
    if kind == "folder":
        chosen, why = "memory", stream.choose(loader, x_train.nbytes + x_test.nbytes, per_image, True)[1]
    else:
        chosen, why = stream.choose(loader, x_train.nbytes + x_test.nbytes, per_image, False)
    if chosen == "stream" and y_train.ndim > 1:
        raise SpecError(Diagnostic("E202", "the streaming loader takes class labels; per-position labels "
                                           "(segmentation) are trained in memory",
                                   hint="--loader memory, without resized_crop, scale_jitter and color_jitter"))
    if chosen == "stream" and x_train.dtype != np.uint8:
        raise SpecError(Diagnostic("E202", "the streaming loader reads images of bytes (0-255); these samples "
                                           f"are {x_train.dtype}", hint="--loader memory"))
    ds = Dataset(text if kind != "synthetic" else f"synthetic glyphs (seed {seed})",
                 Split(x_train, y_train), Split(x_test, y_test), raw.classes, [*notes, f"data: {why}"])
    ds.loader = chosen
    ds.scale = 1 / 255 if x_train.dtype == np.uint8 else 1.0
    ds.mean, ds.std = channel_stats(x_train, ds.scale)
    return ds


def _streamed_folder(text: str, shape: tuple[int, ...], train_files: list[tuple[Path, int]],
                     test_files: list[tuple[Path, int]] | None, classes: list[str], holdout: float | None,
                     limit: int, fit: str, why: str) -> Dataset:
    """A folder of images read batch by batch (stream.py): the files, their labels, and the normalisation
    from a sample of the training images."""
    from archspec.pytorch.train.stream import FileSplit

    if fit != "resize":
        raise SpecError(Diagnostic("E202", "the streaming loader resizes images to the input (--fit pad is not "
                                           "streamed)", hint="--fit resize, or --loader memory"))

    def split(files: list[tuple[Path, int]]) -> FileSplit:
        return FileSplit([p for p, _ in files], np.asarray([label for _, label in files], dtype=np.int64), shape)

    notes: list[str] = []
    train = split(train_files)
    if test_files is None:
        train, test, note = split_holdout(train, holdout)
        notes.append(note)
    else:
        test = split(test_files)
        if holdout is not None:
            notes.append(f"the data has its own test split: --holdout {holdout:g} is not used")
    if limit and limit < len(train):
        train = train.take(slice(0, limit))
        notes.append(f"training on the first {limit:,} samples (--limit)")
    mean, std, k = folder_stats(train, shape)
    notes.append(f"data: {why}; normalised with the statistics of {k:,} of the {len(train):,} training images")
    ds = Dataset(text, train, test, classes, notes)  # type: ignore[arg-type]
    ds.loader, ds.scale, ds.mean, ds.std = "stream", 1 / 255, mean, std
    return ds


def _synthetic(arg: str, shape: tuple[int, ...], classes: int, segmentation: bool, seed: int) -> formats.Raw:
    try:
        n = int(arg) if arg else SYNTHETIC_TRAIN
    except ValueError:
        raise SpecError(Diagnostic("E202", f"--data synthetic:N takes a number of samples, got {arg!r}")) from None
    if n < 1:
        raise SpecError(Diagnostic("E202", "--data synthetic:N needs at least one sample"))
    total = n + max(1, n // 5)
    per_sample = int(np.prod(shape, dtype=object)) + 8 * (int(np.prod(shape[1:], dtype=object)) if segmentation else 1)
    if total * per_sample > validate.MAX_BYTES:
        raise validate.over(f"synthetic:{arg}", f"asks for {total:,} samples of {_fmt(shape)}: "
                            f"{validate.size_text(total * per_sample)}", validate.size_text(validate.MAX_BYTES),
                            f"at most synthetic:{validate.MAX_BYTES // per_sample * 5 // 6} for this input")
    glyph_classes = classes - 1 if segmentation else classes
    if glyph_classes < 1:
        raise SpecError(Diagnostic("E300", f"the network's output has {classes} classes: too few to train on",
                                   hint="a segmenter needs at least 2 output channels (background and a class)"))
    try:
        synthetic.native_shape(shape)
    except ValueError as e:
        raise SpecError(Diagnostic("E300", str(e))) from None
    x, y = synthetic.make(total, shape, glyph_classes, seed, masks=segmentation)
    names = (["background"] if segmentation else []) + [str(i) for i in range(glyph_classes)]
    return formats.Raw(Split(x[:n], y[:n]), Split(x[n:], y[n:]), names)


def _load_tokens(text: str, kind: str, path: str, shape: tuple[int, ...], classes: int, holdout: float | None,
                 limit: int, seed: int, vocab: int, next_token: bool = False) -> Dataset:
    """A dataset of token ids: the synthetic sequence task (the built-in text for a language model), or an
    npz of integer ids of the input's shape."""
    if kind == "synthetic" and next_token:
        from archspec.pytorch.train import corpus

        n = _synthetic_count(path, shape)
        try:
            x, y, xt, yt, chars = corpus.windows(n, int(np.prod(shape)), vocab, seed)
        except ValueError as e:
            raise SpecError(Diagnostic("E300", str(e), hint=f"--set vocab={corpus.ASCII} (the characters' codes) "
                                                             "where the spec has it, or a shorter context")) from None
        shape_y = (len(y), *shape)
        raw = formats.Raw(Split(x.reshape(shape_y), y.reshape(shape_y)),
                          Split(xt.reshape((len(yt), *shape)), yt.reshape((len(yt), *shape))), chars)
        raw.notes.append(f"next-token prediction on the built-in text: {corpus.TITLE}")
        name = f"the built-in text, {len(corpus.TEXT):,} characters (next token, seed {seed})"
    elif kind == "synthetic":
        n = _synthetic_count(path, shape)
        try:
            x, y = synthetic.sequences(n + max(1, n // 5), shape, vocab, classes, seed)
        except ValueError as e:
            raise SpecError(Diagnostic("E300", str(e), hint="--set vocab=N or classes=N where the spec has them")) \
                from None
        raw = formats.Raw(Split(x[:n], y[:n]), Split(x[n:], y[n:]), [str(i) for i in range(classes)])
        name = f"synthetic token sequences (majority key, seed {seed})"
    elif kind == "npz":
        raw, name = formats.read_npz(Path(path), tokens=True), text
    else:
        raise SpecError(Diagnostic("E710", f"--data {kind} holds images, but the network's input is token ids",
                                   hint="--data synthetic (a sequence task), or npz:FILE with integer ids x"))
    for split, key in ((raw.train, "x"), (raw.test, "x_test")):
        if split is None:
            continue
        if split.x.shape[1:] != shape:
            raise SpecError(Diagnostic("E710", f"{text}: `{key}` holds sequences of {_fmt(split.x.shape[1:])} ids, "
                                               f"the network's input is {_fmt(shape)}",
                                       hint="--input N (or --set) to build the network for the data's length"))
        if split.x.dtype.kind not in "iu":
            raise SpecError(Diagnostic("E710", f"{text}: `{key}` holds {split.x.dtype} values, not token ids",
                                       expected="integers from 0 to the vocabulary − 1"))
        if split.x.size and (int(split.x.min()) < 0 or int(split.x.max()) >= vocab):
            bad = int(split.x.max()) if int(split.x.max()) >= vocab else int(split.x.min())
            raise SpecError(Diagnostic("E710", f"{text}: `{key}` holds the token id {bad}, outside the network's "
                                               f"vocabulary of {vocab:,}", expected=f"ids from 0 to {vocab - 1:,}",
                                       hint="--set vocab=N (where the spec has it) to cover every id"))
    notes = list(raw.notes)
    train, test = raw.train, raw.test
    if test is None:
        train, test, note = split_holdout(train, holdout)
        notes.append(note)
    if limit and limit < len(train):
        train = train.take(slice(0, limit))
        notes.append(f"training on the first {limit:,} samples (--limit)")
    ds = Dataset(name, Split(train.x.astype(np.int64), train.y), Split(test.x.astype(np.int64), test.y),
                 raw.classes, notes, scale=1.0, mean=[0.0], std=[1.0], tokens=vocab)
    return ds


def _synthetic_count(arg: str, shape: tuple[int, ...]) -> int:
    """N of synthetic:N for token ids (8 bytes each)."""
    try:
        n = int(arg) if arg else SYNTHETIC_TRAIN
    except ValueError:
        raise SpecError(Diagnostic("E202", f"--data synthetic:N takes a number of samples, got {arg!r}")) from None
    if n < 1:
        raise SpecError(Diagnostic("E202", "--data synthetic:N needs at least one sample"))
    per_sample = 8 * int(np.prod(shape, dtype=object)) + 8
    total = n + max(1, n // 5)
    if total * per_sample > validate.MAX_BYTES:
        raise validate.over(f"synthetic:{arg}", f"asks for {total:,} sequences of {_fmt(shape)} ids: "
                            f"{validate.size_text(total * per_sample)}", validate.size_text(validate.MAX_BYTES),
                            f"at most synthetic:{validate.MAX_BYTES // per_sample * 5 // 6} for this input")
    return n


def split_holdout(data: Any, holdout: float | None) -> tuple[Any, Any, str]:
    """The last `holdout` samples (a count, or a fraction below 1) held out for testing (of a Split, or of
    a stream.FileSplit)."""
    h = DEFAULT_HOLDOUT if holdout is None else holdout
    k = round(h * len(data)) if h < 1 else int(h)
    if not 0 < k < len(data):
        raise SpecError(Diagnostic("E202", f"--holdout {h:g} leaves no {'test' if k <= 0 else 'training'} samples "
                                           f"out of {len(data):,}", hint="for example --holdout 2000 or --holdout 0.2"))
    note = (f"testing on the last {k:,} of {len(data):,} samples" +
            (" (the default fifth; --holdout N to choose)" if holdout is None else " (--holdout)"))
    return data.take(slice(0, len(data) - k)), data.take(slice(len(data) - k, None)), note


def _fmt(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def fit_samples(x: np.ndarray, shape: tuple[int, ...], fit: str = "resize") -> tuple[np.ndarray, list[str]]:
    """Samples `x` (N, ...) made to `shape` (channels first), with notes of what changed."""
    notes: list[str] = []
    have = tuple(x.shape[1:])
    if have == shape:
        return x, notes
    size = int(np.prod(have))
    if len(shape) == 1:  # a flat input: flatten samples of the same size
        if size == shape[0]:
            return x.reshape(len(x), -1), [f"samples of {_fmt(have)} are flattened to the spec's input {shape[0]}"]
        raise _mismatch(have, shape, "a flat input takes samples of exactly its size")
    if len(have) == 1 and size == int(np.prod(shape)):  # flat samples of an image's size
        return x.reshape(len(x), *shape), [f"flat samples of {size} are reshaped to the spec's input {_fmt(shape)}"]
    if len(have) == len(shape) - 1:  # no channel axis (N, H, W)
        x, have = x[:, None], (1, *have)
    elif len(have) == len(shape) and have[0] != shape[0] and have[-1] == shape[0]:  # channels last
        x = np.moveaxis(x, -1, 1)
        notes.append(f"samples of {_fmt(have)} are read as channels last")
        have = tuple(x.shape[1:])
    if len(have) != len(shape):
        raise _mismatch(have, shape, "the data and the network have a different number of dimensions")
    if have[0] != shape[0]:
        x = _channels(x, shape[0], have)
        notes.append(f"{have[0]} channel{'s' if have[0] != 1 else ''} converted to {shape[0]} "
                     f"({'repeated' if have[0] == 1 else 'luma' if shape[0] == 1 else 'alpha dropped'})")
    if tuple(x.shape[2:]) != tuple(shape[1:]):
        x = _resize(x, shape[1:]) if fit == "resize" else _pad_crop(x, shape[1:])
        how = "resized" if fit == "resize" else "padded/cropped at the centre"
        other = "--fit pad to pad or crop them instead" if fit == "resize" else "--fit resize to resize them instead"
        notes.append(f"samples of {_fmt(tuple(have[1:]))} are {how} to the spec's input {_fmt(shape)} ({other})")
    return np.ascontiguousarray(x), notes


def _mismatch(have: tuple[int, ...], shape: tuple[int, ...], why: str) -> SpecError:
    return SpecError(Diagnostic("E300", f"the data's samples are {_fmt(have)}, the spec's input is {_fmt(shape)}",
                                expected=f"samples of {_fmt(shape)}", received=_fmt(have),
                                hint=f"{why}; --input SHAPE sets the network's input"))


def _channels(x: np.ndarray, want: int, have: tuple[int, ...]) -> np.ndarray:
    c = have[0]
    if c == 1:
        return np.repeat(x, want, axis=1)
    if c in (3, 4) and want == 3:
        return x[:, :3]
    if c in (3, 4) and want == 1:
        luma = np.tensordot(LUMA, x[:, :3].astype(np.float32), axes=([0], [1]))[:, None]
        return np.rint(luma).astype(x.dtype) if x.dtype == np.uint8 else luma.astype(x.dtype)
    raise _mismatch(have, (want, *have[1:]), f"{c} channels cannot be converted to {want}")


def _resize(x: np.ndarray, size: tuple[int, ...], chunk: int = 4096) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(len(size))
    if mode is None:
        raise SpecError(Diagnostic("E300", f"cannot resize samples with {len(size)} spatial dimensions"))
    out = []
    for i in range(0, len(x), chunk):
        t = torch.from_numpy(np.ascontiguousarray(x[i:i + chunk])).float()
        r = F.interpolate(t, size=tuple(size), mode=mode, align_corners=False, antialias=mode == "bilinear")
        out.append(r.round().clamp(0, 255).to(torch.uint8).numpy() if x.dtype == np.uint8 else r.numpy())
    return np.concatenate(out)


def _pad_crop(x: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Zero-pad (or crop) every spatial axis to `size`, centred."""
    for axis, want in enumerate(size, start=2):
        have = x.shape[axis]
        if have > want:
            start = (have - want) // 2
            x = np.take(x, np.arange(start, start + want), axis=axis)
        elif have < want:
            pad = [(0, 0)] * x.ndim
            pad[axis] = ((want - have) // 2, want - have - (want - have) // 2)
            x = np.pad(x, pad)
    return x


def fit_masks(y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-position labels resized (nearest) to the input's spatial size."""
    size = tuple(shape[1:])
    if tuple(y.shape[1:]) == size:
        return y
    if y.ndim - 1 != len(size):
        raise _mismatch(tuple(y.shape[1:]), size, "the label masks and the input have a different rank")
    for axis, want in enumerate(size, start=1):
        idx = np.minimum((np.arange(want) + 0.5) * y.shape[axis] / want, y.shape[axis] - 1).astype(np.int64)
        y = np.take(y, idx, axis=axis)
    return y


def channel_stats(x: np.ndarray, scale: float, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Mean and standard deviation per channel (axis 1; one value for flat samples), after `scale`."""
    flat = x.ndim == 2
    c = 1 if flat else x.shape[1]
    s = np.zeros(c)
    s2 = np.zeros(c)
    count = 0
    for i in range(0, len(x), chunk):
        v = x[i:i + chunk].astype(np.float64) * scale
        v = v.reshape(len(v), 1, -1) if flat else v.reshape(len(v), c, -1)
        s += v.sum(axis=(0, 2))
        s2 += (v * v).sum(axis=(0, 2))
        count += v.shape[0] * v.shape[2]
    mean = s / max(count, 1)
    std = np.sqrt(np.maximum(s2 / max(count, 1) - mean * mean, 0))
    return [float(m) for m in mean], [float(d) if d > 1e-6 else 1.0 for d in std]


def info(ds: Dataset) -> dict[str, Any]:
    """What a checkpoint keeps about its data, to normalise new samples the same way."""
    return {"name": ds.name, "classes": list(ds.classes), "scale": ds.scale, "mean": list(ds.mean),
            "std": list(ds.std), "train": len(ds.train), "test": len(ds.test),
            **({"tokens": ds.tokens} if ds.tokens else {})}


def folder_stats(split: Any, shape: tuple[int, ...]) -> tuple[list[float], list[float], int]:
    """Mean and standard deviation per channel (after scaling by 1/255) of up to STATS_SAMPLES training
    images, evenly spaced; and how many were read."""
    from archspec.pytorch.train.stream import STATS_SAMPLES, Recipe, Samples

    n = len(split)
    idx = sorted({int(i) for i in np.linspace(0, n - 1, min(n, STATS_SAMPLES))})
    samples = Samples(split, shape, Recipe())
    xs = np.stack([samples._sample(i, None) for i in idx])
    mean, std = channel_stats(xs, 1 / 255)
    return mean, std, len(idx)
