"""Small PyTorch modules that the layer builders use where torch.nn has no exact equivalent.

Imported only when a spec is compiled: analysis never imports torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _flat_pads(pads: list[tuple[int, int]]) -> list[int]:
    """[(before, after) per axis, first spatial axis first] → F.pad's order (last axis first)."""
    out: list[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


class Pad(nn.Module):
    """Constant padding, (before, after) per spatial axis (zeros by default)."""

    def __init__(self, pads: list[tuple[int, int]], value: float = 0.0) -> None:
        super().__init__()
        self.pads = _flat_pads(pads)
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads, value=self.value)

    def extra_repr(self) -> str:
        return f"pads={self.pads}" + (f", value={self.value}" if self.value else "")


class Crop(nn.Module):
    """Removes (before, after) per spatial axis."""

    def __init__(self, crops: list[tuple[int, int]]) -> None:
        super().__init__()
        self.crops = [(b, e) for b, e in crops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, (b, e) in enumerate(self.crops, start=2):
            x = x.narrow(axis, b, x.shape[axis] - b - e)
        return x

    def extra_repr(self) -> str:
        return f"crops={self.crops}"


class Concat(nn.Module):
    """torch.cat along `dim`, each input first centre-cropped when `crops` is given (U-Net)."""

    def __init__(self, dim: int = 1, crops: list[list[tuple[int, int]]] | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.crops = nn.ModuleList([Crop(c) for c in crops]) if crops else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.crops is not None:
            xs = tuple(c(x) for c, x in zip(self.crops, xs))
        return torch.cat(xs, self.dim)


class Elementwise(nn.Module):
    """Sum or product of the inputs, shorter shapes broadcast channel-first (C → C×1×1)."""

    def __init__(self, op: str, extra_dims: list[int]) -> None:
        super().__init__()
        self.op = op
        self.extra_dims = extra_dims

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = self._expand(xs[0], self.extra_dims[0])
        for x, n in zip(xs[1:], self.extra_dims[1:]):
            x = self._expand(x, n)
            out = out + x if self.op == "add" else out * x
        return out

    @staticmethod
    def _expand(x: torch.Tensor, n: int) -> torch.Tensor:
        for _ in range(n):
            x = x.unsqueeze(-1)
        return x

    def extra_repr(self) -> str:
        return self.op


class GlobalPool(nn.Module):
    """Mean or max over all spatial axes."""

    def __init__(self, use_max: bool, spatial: int, keepdims: bool) -> None:
        super().__init__()
        self.use_max = use_max
        self.dims = tuple(range(2, 2 + spatial))
        self.keepdims = keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_max:
            return torch.amax(x, dim=self.dims, keepdim=self.keepdims)
        return torch.mean(x, dim=self.dims, keepdim=self.keepdims)
