"""Batches without a DataLoader: a dataset that fits is held on the device as one uint8 tensor (a
quarter of float32's memory), and each batch is an index, a gather, and one fused scale-and-normalise
(on the CPU, a dataset of up to 1 GiB in float32 is normalised once instead). A dataset too big for the
GPU stays in pinned host memory and each batch is copied without blocking.

The order is a function of (seed, epoch): a resumed run sees the same batches as an uninterrupted one,
and the processes of a distributed run share one permutation and take equal, disjoint shares of it.
Augmentations (random flips, random crops after zero-padding) draw from the same seeded generator.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from archspec.pytorch.train.config import TrainConfig
from archspec.pytorch.train.device import Runtime
from archspec.pytorch.train.formats import Split

DEVICE_FRACTION = 0.25  # hold a dataset on the GPU when it takes at most this share of the free memory
CPU_FLOAT_BYTES = 2**30  # on the CPU, keep a dataset normalised in float32 up to this size (else uint8)


def mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (seed, epoch, rank), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for n in numbers:
        h = (h ^ (int(n) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class DeviceData:
    """A split's samples and labels where training reads them, and how to normalise them."""

    def __init__(self, split: Split, rt: Runtime, scale: float, mean: list[float], std: list[float],
                 tokens: bool = False) -> None:
        self.rt = rt
        x = torch.from_numpy(np.ascontiguousarray(split.x))
        if tokens:  # token ids: int64 as they are, never normalised
            x = x.long()
        y = torch.from_numpy(np.ascontiguousarray(split.y))
        dev = rt.device
        self.on_device = dev.type == "cpu" or _fits(dev, x.nbytes + y.nbytes)
        if self.on_device:
            x, y = x.to(dev), y.to(dev)
        elif dev.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        self.x, self.y = x, y
        view = (1, -1) + (1,) * (x.dim() - 2) if x.dim() > 2 else (1, -1)
        m = torch.tensor(mean, dtype=torch.float32)
        s = torch.tensor(std, dtype=torch.float32)
        self.mul = (scale / s).view(view).to(dev)  # x · scale / std − mean / std in one multiply-add
        self.add = (-m / s).view(view).to(dev)
        self.normalised = tokens or (dev.type == "cpu" and x.numel() * 4 <= CPU_FLOAT_BYTES)
        if self.normalised and not tokens:  # on the CPU, memory allowing: normalise once, not every batch
            self.x = torch.cat([torch.addcmul(self.add, c.float(), self.mul) for c in x.split(8192)])

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, epoch: int, cfg: TrainConfig) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], int]:
        """The batches of a training epoch (this process's share, augmented) and their count."""
        batches, g = train_order(len(self), cfg.batch_size, cfg.seed, epoch, self.rt.rank, self.rt.world)
        augment = Augment(g, cfg.flip, cfg.crop) if cfg.flip or cfg.crop else None
        return (self.batch(idx, augment) for idx in batches), len(batches)

    def eval_batches(self, batch: int, rank: int = 0, world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's share of the split in order (every sample once over the processes)."""
        for idx in eval_order(len(self), batch, rank, world):
            yield self.batch(idx)

    def batch(self, idx: torch.Tensor, augment: Augment | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples `idx`, normalised, augmented, on the device (channels last for 2D images on CUDA)."""
        dev = self.rt.device
        if self.on_device:
            idx = idx.to(dev, non_blocking=True)
            xb, yb = self.x[idx], self.y[idx]
        else:
            xb = self.x[idx].pin_memory() if dev.type == "cuda" else self.x[idx]
            yb = self.y[idx]
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        if not self.normalised:
            xb = torch.addcmul(self.add, xb.float(), self.mul)
        if augment is not None:
            xb, yb = augment(xb, yb)
        if self.rt.channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, yb


def _fits(dev: torch.device, nbytes: int) -> bool:
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return nbytes <= DEVICE_FRACTION * free
    return True  # MPS shares the host's memory


def train_order(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1
                ) -> tuple[list[torch.Tensor], torch.Generator]:
    """This process's batches of an epoch (index tensors), and the generator for its augmentations.
    `batch_size` is global: each of `world` processes takes batch_size / world samples a step, and
    every process takes the same number of steps."""
    g = torch.Generator().manual_seed(mix(seed, epoch))
    perm = torch.randperm(n, generator=g)
    share = n // world
    mine = perm[rank * share:(rank + 1) * share]
    local = max(1, batch_size // world)
    batches = list(torch.split(mine, local))
    if len(batches) > 1 and len(batches[-1]) == 1:  # a batch of one breaks batch norm
        batches.pop()
    return batches, torch.Generator().manual_seed(mix(seed, epoch, rank, 1))


def eval_order(n: int, batch_size: int, rank: int = 0, world: int = 1) -> Iterator[torch.Tensor]:
    """This process's share of a split, in order (every sample counted once over the processes)."""
    mine = torch.arange(rank, n, world)
    yield from torch.split(mine, batch_size)


class Augment:
    """Random horizontal flips (of the last axis; per-position labels flip with their images) and random
    crops: each image shifted by up to `crop` pixels, the mean (zero after normalisation) filling in.
    Per sample, drawn from the epoch's generator `g`."""

    def __init__(self, g: torch.Generator, flip: bool, crop: int) -> None:
        self.g, self.flip, self.crop = g, flip, crop

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        if self.flip and x.dim() >= 3:
            mask = (torch.rand(n, generator=self.g) < 0.5).to(x.device)
            x = torch.where(mask.view((n,) + (1,) * (x.dim() - 1)), x.flip(-1), x)
            if y.dim() > 1:
                y = torch.where(mask.view((n,) + (1,) * (y.dim() - 1)), y.flip(-1), y)
        if self.crop and x.dim() == 4:
            x = random_crop(x, self.crop, self.g)
        return x, y


def random_crop(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Every image shifted by its own random offset in [-pad, pad] on both axes, zeros filling in."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=g).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = (offsets[0].view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (offsets[1].view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, c, h, w)
    return xp.gather(3, cols)
