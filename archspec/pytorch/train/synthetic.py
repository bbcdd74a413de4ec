"""The built-in dataset: glyphs (small random bitmaps, one per class) drawn at a random place and size
on a noisy background, in any number of channels, for 1D, 2D and 3D inputs. Deterministic from a seed,
made in a second with numpy, so that training works on a fresh machine with no data files.

Each class is a random pattern of 5×5 cells (8 cells in 1D, 4×4×4 in 3D), at least 3 cells away from
every other class's pattern. An image scales its class's pattern to 45-90 % of the image, at a random
offset, with random foreground and background intensities per channel and uniform noise: easy for a
small CNN, far from trivial for a linear model. For a segmenter (an output with a spatial extent), the
target is the mask of the glyph, its pixels labelled with the class + 1 and the background 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GLYPH_SEED = 20240601  # the patterns do not change with the data seed: a class is the same glyph in every split
CELLS = {1: 8, 2: 5, 3: 4}


def glyphs(classes: int, rank: int) -> np.ndarray:
    """`classes` distinct bit patterns of shape (cells,) * rank, as bools."""
    if rank not in CELLS:
        raise ValueError(f"synthetic data has 1, 2 or 3 spatial dimensions, not {rank}")
    cells = CELLS[rank]
    size = cells**rank
    rng = np.random.default_rng(GLYPH_SEED + rank)
    found: list[np.ndarray] = []
    distance = 3 if rank > 1 else 2
    tries = 0
    while len(found) < classes:
        cand = rng.random(size) < 0.5
        tries += 1
        if tries > 200 * classes + 1000:  # too many classes for the distance: accept closer patterns
            distance, tries = max(1, distance - 1), 0
        if not 0.3 * size <= cand.sum() <= 0.7 * size:
            continue
        if all(int((cand != f).sum()) >= distance for f in found):
            found.append(cand)
    return np.stack(found).reshape((classes, *(cells,) * rank))


CHUNK = 512  # samples drawn at a time (bounded memory for big images); each chunk has its own generator


def make(n: int, shape: Sequence[int], classes: int, seed: int, *, masks: bool = False
         ) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples of `shape` (channels first; a flat size is drawn as a square image or a 1D signal)
    with labels 0..classes-1, balanced. Returns x (uint8, shape (n, *shape)) and y: labels (n,), or with
    `masks` per-pixel labels (n, *spatial) where the glyph's pixels hold its class + 1."""
    native = native_shape(shape)
    spatial = native[1:]
    labels = np.random.default_rng(seed).permutation(np.arange(n) % classes)
    patterns = glyphs(classes, len(spatial))
    x = np.empty((n, *native), dtype=np.uint8)
    y = np.empty((n, *spatial) if masks else (n,), dtype=np.int64)
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([seed, start // CHUNK])
        part = labels[start:start + CHUNK]
        on = _draw(patterns[part], spatial, rng)
        x[start:start + len(part)] = _paint(on, native[0], rng)
        rank = len(spatial)
        y[start:start + len(part)] = np.where(on, part.reshape((-1,) + (1,) * rank) + 1, 0) if masks else part
    return x.reshape((n, *shape)), y


def _draw(pattern: np.ndarray, spatial: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Where each sample's glyph (`pattern`, (n, cells, ...)) covers the image: bools (n, *spatial)."""
    n, cells, rank = len(pattern), pattern.shape[1], len(spatial)
    frac = rng.uniform(0.45, 0.9, n)
    index: list[np.ndarray] = [np.arange(n).reshape((n,) + (1,) * rank)]
    fg = np.ones((n, *spatial), dtype=bool)
    for axis, size in enumerate(spatial):
        extent = np.clip(frac * rng.uniform(0.85, 1.15, n) * size, min(size, cells), size)
        offset = rng.uniform(0, 1, n) * (size - extent)
        u = np.floor((np.arange(size)[None, :] + 0.5 - offset[:, None]) / extent[:, None] * cells).astype(np.int64)
        view = [1] * (rank + 1)
        view[0], view[axis + 1] = n, size
        fg &= ((u >= 0) & (u < cells)).reshape(view)
        index.append(np.clip(u, 0, cells - 1).reshape(view))
    return fg & pattern[tuple(index)]  # the cell of the glyph under every position


def _paint(on: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Random foreground and background intensities per sample and channel, plus uniform noise (±40)."""
    n, rank = len(on), on.ndim - 1
    colour = (n, channels) + (1,) * rank
    lo = rng.integers(0, 90, (n, channels), dtype=np.int16).reshape(colour)
    hi = rng.integers(150, 256, (n, channels), dtype=np.int16).reshape(colour)
    img = np.where(on[:, None], hi, lo)
    img += rng.integers(-40, 41, img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def native_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The channels-first shape in which to draw samples of `shape`: a flat size is a square image when
    it is one (784 → 1×28×28), else a 1D signal."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        side = round(shape[0] ** 0.5)
        return (1, side, side) if side * side == shape[0] and side >= 5 else (1, shape[0])
    if len(shape) - 1 not in CELLS:
        raise ValueError(f"synthetic data is drawn in 1, 2 or 3 dimensions, not for inputs of shape {shape}")
    return shape


def sequences(n: int, shape: Sequence[int], vocab: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The built-in sequence task, for inputs of token ids: which key token is in the majority. Ids 0 …
    classes − 1 are the keys, the others noise; about 30 % of the positions hold a key, half of them the
    class's own, the rest any key at random. The label is the key seen most often (the class's key on a
    tie). Learnable only by reading the whole sequence; an LSTM solves it in an epoch or two. Returns ids
    (n, *shape) as int64 and labels (n,)."""
    if vocab < classes + 1:
        raise ValueError(f"the synthetic sequence task needs a vocabulary of at least {classes + 1} ids "
                         f"({classes} key tokens and noise), not {vocab}")
    rng = np.random.default_rng(seed)
    length = int(np.prod(shape))
    y = rng.integers(0, classes, n)
    x = rng.integers(classes, vocab, (n, length))
    is_key = rng.random((n, length)) < 0.3
    own = rng.random((n, length)) < 0.5
    keys = np.where(own, y[:, None], rng.integers(0, classes, (n, length)))
    x = np.where(is_key, keys, x)
    counts = 2 * np.stack([((x == k) & is_key).sum(axis=1) for k in range(classes)], axis=1)
    counts[np.arange(n), y] += 1  # a tie goes to the class's own key: the label is always a majority key
    return x.reshape((n, *shape)).astype(np.int64), counts.argmax(axis=1).astype(np.int64)
