"""Streaming data: samples read, decoded and augmented by `torch.utils.data` worker processes, batch by
batch, so that memory does not grow with the dataset (a folder of 100,000 photos trains in the memory of
a few batches).

    --loader auto      (default) in memory when the data fit (MEMORY_SHARE of this machine's memory, at most
                       validate.MAX_BYTES) and the recipe needs no per-image augmentation; else streaming
    --loader memory    batches.py: the whole split as one tensor (the faster path on small data)
    --loader stream    this module, with --workers N processes (default: the cores, at most 8)

Image folders stream from their files (JPEG, PNG, WebP, ... as Pillow reads them); the other formats
stream from their arrays. Each process of a distributed run reads its share through a
`DistributedSampler` (drop_last: each sample once per epoch, every process the same number of steps);
on CUDA batches are copied from pinned memory, the workers prefetching PREFETCH batches each.

The augmentations, decoded images in the workers, each drawn from a generator seeded by (seed, epoch,
sample), so that a run is the same with any number of workers and after a resume:

    resized_crop  R   random resized crops (area fraction in [R, 1], aspect ratio in [3/4, 4/3]), as in
                      the Inception and ResNet recipes
    scale_jitter  J   the image scaled to cover the input by a factor in [1, 1 + J], then a random crop
                      (VGG's scale jittering: 224 crops of images whose shorter side is 256 to 512, J = 1.3)
    color_jitter  C   brightness, contrast and saturation each by a factor in [1 - C, 1 + C]
    flip, crop        as in memory: horizontal flips, shifts after padding by `crop` pixels
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data.distributed import DistributedSampler

from archspec.diagnostics import Diagnostic, SpecError
from archspec.pytorch.train.batches import mix
from archspec.pytorch.train.device import Runtime
from archspec.pytorch.train.formats import Split

LOADERS = ("auto", "memory", "stream")
MEMORY_SHARE = 0.25  # auto: hold a dataset in memory when it takes at most this share of the machine's memory
MAX_WORKERS = 8
PREFETCH = 4  # batches each worker prepares ahead
STATS_SAMPLES = 512  # a streamed folder's normalisation: from this many training images, evenly spaced


@dataclass
class FileSplit:
    """A split of image files, read when a batch needs them."""

    files: list[Path]
    y: np.ndarray  # (N,) class labels
    shape: tuple[int, ...]  # (C, H, W) the network's input

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: Any) -> FileSplit:
        return FileSplit(self.files[index], self.y[index], self.shape)


@dataclass(frozen=True)
class Recipe:
    """The augmentations of training (all off: evaluation)."""

    flip: bool = False
    crop: int = 0
    resized_crop: float = 0.0
    scale_jitter: float = 0.0
    color_jitter: float = 0.0
    fill: tuple[int, ...] = (0,)  # the pixel padding fills in with (the data's mean)

    @property
    def per_image(self) -> bool:
        """Augmentations that need the decoded image (the in-memory path has none of them)."""
        return bool(self.resized_crop or self.scale_jitter or self.color_jitter)


def recipe_of(cfg: Any) -> Recipe:
    return Recipe(cfg.flip, cfg.crop, cfg.resized_crop, cfg.scale_jitter, cfg.color_jitter)


def memory_budget() -> int:
    """The bytes a dataset may take in memory under --loader auto."""
    from archspec.pytorch.train.validate import MAX_BYTES

    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 4 * MAX_BYTES
    return int(min(MAX_BYTES, MEMORY_SHARE * total))


def default_workers(world: int = 1) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores // max(1, world)))


def choose(loader: str, nbytes: int, per_image: bool, image_data: bool) -> tuple[str, str]:
    """The loader to use ("memory" or "stream") and the reason, as printed."""
    from archspec.pytorch.train.validate import size_text

    budget = memory_budget()
    if loader == "memory":
        if per_image:
            raise SpecError(Diagnostic("E202", "--loader memory: resized_crop, scale_jitter and color_jitter work on "
                                               "decoded images, which only the streaming loader has",
                                       hint="--loader stream (or auto), or leave those augmentations out"))
        return "memory", "in memory (--loader memory)"
    if loader == "stream":
        return "stream", "streaming (--loader stream)"
    if per_image:
        return "stream", "streaming: the recipe augments decoded images (--loader memory needs none of " \
                         "resized_crop, scale_jitter, color_jitter)"
    if image_data and nbytes > budget:
        return "stream", f"streaming: the images take {size_text(nbytes)} decoded, over the {size_text(budget)} " \
                         "held in memory (--loader memory to hold them anyway)"
    return "memory", f"in memory: {size_text(nbytes)}, within {size_text(budget)} (--loader stream to stream)"


# -- the samples, in the workers ---------------------------------------------------------------------------

class Samples(TorchDataset[tuple[torch.Tensor, int, str]]):
    """Samples as uint8 tensors (C, H, W) with their labels. An item is an index (evaluation: the image
    resized to the input) or (index, seed) (training: augmented by `recipe` with that seed). A sample that
    cannot be read comes back with label -1 and the message, for the main process to report."""

    def __init__(self, split: FileSplit | Split, shape: tuple[int, ...], recipe: Recipe) -> None:
        self.split, self.shape, self.recipe = split, tuple(int(d) for d in shape), recipe

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, item: Any) -> tuple[torch.Tensor, int, str]:
        i, seed = item if isinstance(item, tuple) else (item, None)
        rng = np.random.default_rng(seed) if seed is not None else None
        try:
            x = self._sample(int(i), rng)
        except SpecError as e:
            d = e.diagnostic
            return torch.zeros(self.shape, dtype=torch.uint8), -1, "\n".join([d.code, d.message, d.hint or ""])
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.split.y[i]), ""

    def _sample(self, i: int, rng: np.random.Generator | None) -> np.ndarray:
        r = self.recipe if rng is not None else Recipe()
        if isinstance(self.split, FileSplit):
            x = self._decode(self.split.files[i], rng, r)
        else:
            x = self.split.x[i]
            if rng is not None and (r.resized_crop or r.scale_jitter) and x.ndim == 3 and x.shape[0] in (1, 3):
                from PIL import Image

                im = Image.fromarray(x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0))
                x = _chw(_geometry(im, self.shape, rng, r))
        if rng is not None:
            x = _photometric(x, rng, r)
        return x

    def _decode(self, path: Path, rng: np.random.Generator | None, r: Recipe) -> np.ndarray:
        import warnings

        from archspec.pytorch.train import validate
        from archspec.pytorch.train.formats import pil, unreadable

        image = pil()
        mode = "L" if self.shape[0] == 1 else "RGB"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", image.DecompressionBombWarning)
                with image.open(path) as im:
                    validate.check_pixels(path, *im.size)
                    if rng is None or not (r.resized_crop or r.scale_jitter):
                        im.draft(mode, (self.shape[2], self.shape[1]))  # JPEG: decode at a reduced scale
                    im = im.convert(mode)
                    im = _geometry(im, self.shape, rng, r) if rng is not None else _resize(im, self.shape)
                    return _chw(im)
        except SpecError:
            raise
        except Exception as e:  # a damaged image raises what its decoder raises
            raise unreadable(f"cannot read the image {path}: {e or type(e).__name__}",
                             "remove it or replace it with a whole image") from None


def _chw(im: Any) -> np.ndarray:
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _resize(im: Any, shape: tuple[int, ...], box: tuple[float, float, float, float] | None = None) -> Any:
    from PIL import Image

    size = (shape[2], shape[1])
    if im.size == size and box is None:
        return im
    return im.resize(size, Image.Resampling.BILINEAR, box=box)


def _geometry(im: Any, shape: tuple[int, ...], rng: np.random.Generator, r: Recipe) -> Any:
    """Scale jittering, else a random resized crop, else the image resized to the input."""
    w0, h0 = im.size
    H, W = shape[1], shape[2]
    if r.scale_jitter:
        f = max(H / h0, W / w0) * rng.uniform(1.0, 1.0 + r.scale_jitter)
        cw, ch = W / f, H / f  # the input's window in the image's pixels
        x0, y0 = rng.uniform(0, max(0.0, w0 - cw)), rng.uniform(0, max(0.0, h0 - ch))
        return _resize(im, shape, (x0, y0, min(w0, x0 + cw), min(h0, y0 + ch)))
    if r.resized_crop:
        area = w0 * h0
        for _ in range(10):
            s = rng.uniform(r.resized_crop, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = math.sqrt(s * area * ratio), math.sqrt(s * area / ratio)
            if cw <= w0 and ch <= h0:
                x0, y0 = rng.uniform(0, w0 - cw), rng.uniform(0, h0 - ch)
                return _resize(im, shape, (x0, y0, x0 + cw, y0 + ch))
        return _resize(im, shape)
    return _resize(im, shape)


LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _photometric(x: np.ndarray, rng: np.random.Generator, r: Recipe) -> np.ndarray:
    """Colour jitter, flips and padded shifts of a (C, H, W) uint8 sample."""
    if r.color_jitter:
        j = r.color_jitter
        b, c, s = (rng.uniform(max(0.0, 1 - j), 1 + j) for _ in range(3))
        f = x.astype(np.float32) * b
        gray = np.tensordot(LUMA, f, axes=([0], [0])) if f.shape[0] == 3 else f[0]
        f = (f - gray.mean()) * c + gray.mean()
        if f.shape[0] == 3:
            gray = np.tensordot(LUMA, f, axes=([0], [0]))
            f = (f - gray) * s + gray
        x = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if r.flip and x.ndim >= 3 and rng.random() < 0.5:
        x = x[..., ::-1]
    if r.crop and x.ndim == 3:
        p = r.crop
        dy, dx = rng.integers(0, 2 * p + 1, size=2)
        padded = np.empty((x.shape[0], x.shape[1] + 2 * p, x.shape[2] + 2 * p), dtype=x.dtype)
        padded[:] = np.asarray(r.fill[: x.shape[0]] if len(r.fill) >= x.shape[0] else r.fill[:1],
                               dtype=x.dtype).reshape(-1, 1, 1)
        padded[:, p:p + x.shape[1], p:p + x.shape[2]] = x
        x = padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2]]
    return x


def _collate(items: list[tuple[torch.Tensor, int, str]]) -> tuple[torch.Tensor, torch.Tensor, str]:
    errors = [e for _, _, e in items if e]
    x = torch.stack([t for t, _, _ in items])
    y = torch.tensor([label for _, label, _ in items], dtype=torch.int64)
    return x, y, errors[0] if errors else ""


# -- batches, in the training process ----------------------------------------------------------------------

class _EpochBatches:
    """The batch sampler of a training epoch: this process's share (DistributedSampler), in batches of
    batch_size / world, each index with the seed of its augmentations. `set_epoch` before iterating."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world: int) -> None:
        indices: Any = range(n)  # DistributedSampler reads only its length
        self.sampler: DistributedSampler[int] = DistributedSampler(indices, num_replicas=world, rank=rank,
                                                                   shuffle=True, seed=seed, drop_last=True)
        self.local = max(1, batch_size // world)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def batches(self) -> list[list[int]]:
        idx = list(self.sampler)
        out = [idx[i:i + self.local] for i in range(0, len(idx), self.local)]
        if len(out) > 1 and len(out[-1]) == 1:  # a batch of one breaks batch norm
            out.pop()
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for b in self.batches():
            yield [(i, mix(self.seed, self.epoch, i, 3)) for i in b]

    def __len__(self) -> int:
        return len(self.batches())


class StreamData:
    """A split read through a DataLoader: the same interface as batches.DeviceData (`len`, `epoch`,
    `eval_batches`), normalising each batch on the device."""

    streaming = True

    def __init__(self, split: FileSplit | Split, shape: tuple[int, ...], rt: Runtime, scale: float,
                 mean: list[float], std: list[float], recipe: Recipe | None = None, workers: int | None = None,
                 batch_size: int = 64, seed: int = 0) -> None:
        self.rt, self.split = rt, split
        fill = tuple(min(255, max(0, round(m / scale))) for m in mean) if scale else (0,)
        recipe = replace(recipe or Recipe(), fill=fill)
        self.samples = Samples(split, shape, recipe)
        self.eval_samples = Samples(split, shape, Recipe())
        self.workers = default_workers(rt.world) if workers is None else workers
        self.cuda = rt.device.type == "cuda"
        x_dims = len(shape)
        view = (1, -1) + (1,) * (x_dims - 1) if x_dims > 1 else (1, -1)
        m, s = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
        self.mul = (scale / s).view(view).to(rt.device)
        self.add = (-m / s).view(view).to(rt.device)
        self.sampler = _EpochBatches(len(split), batch_size, seed, rt.rank, rt.world)
        self._train_loader: DataLoader[Any] | None = None

    def __len__(self) -> int:
        return len(self.split)

    def _loader(self, dataset: Samples, batch_sampler: Any, persistent: bool) -> DataLoader[Any]:
        w = self.workers
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=w, collate_fn=_collate,
                          pin_memory=self.cuda, prefetch_factor=PREFETCH if w else None,
                          persistent_workers=persistent and w > 0)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor, error: str) -> tuple[torch.Tensor, torch.Tensor]:
        if error:
            code, message, hint = error.split("\n", 2)
            raise SpecError(Diagnostic(code, message, hint=hint or None))
        dev = self.rt.device
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        x = torch.addcmul(self.add, x.float(), self.mul)
        if self.rt.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def epoch(self, epoch: int, cfg: Any = None) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], int]:
        """The batches of a training epoch (augmented, normalised, on the device) and their count; the
        recipe, batch size and seed are those given when made (`cfg` is for DeviceData's signature)."""
        self.sampler.set_epoch(epoch)
        if self._train_loader is None:
            self._train_loader = self._loader(self.samples, self.sampler, persistent=True)
        loader = self._train_loader
        return (self._to_device(*b) for b in loader), len(self.sampler)

    def eval_batches(self, batch: int, rank: int = 0, world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's share of the split in order (every sample once over the processes)."""
        mine = list(range(rank, len(self.split), world))
        batches = [mine[i:i + batch] for i in range(0, len(mine), batch)]
        for b in self._loader(self.eval_samples, batches, persistent=False):
            yield self._to_device(*b)


def make_data(ds: Any, split: Any, rt: Runtime, cfg: Any, shape: tuple[int, ...], train: bool) -> Any:
    """The batches of a split as the dataset's loader reads them: batches.DeviceData or StreamData."""
    from archspec.pytorch.train.batches import DeviceData

    if ds.loader != "stream":
        return DeviceData(split, rt, ds.scale, ds.mean, ds.std, tokens=bool(getattr(ds, "tokens", 0)))
    return StreamData(split, shape, rt, ds.scale, ds.mean, ds.std, recipe_of(cfg) if train else None, cfg.workers,
                      cfg.batch_size, cfg.seed)
