"""Small PyTorch modules that the layer builders use where torch.nn has no exact equivalent.

Imported only when a spec is compiled: analysis never imports torch. Each module keeps its constructor
arguments as attributes of the same names (so that `archspec compile -o` can write the call that rebuilds
it), and is TorchScript-compatible. Merges take a list of tensors: `self.concat1([a, b])`.
"""

import torch
import torch.nn.functional as F
from torch import nn


def _flat_pads(pads: list[tuple[int, int]]) -> list[int]:
    """[(before, after) per axis, first spatial axis first] → F.pad's order (last axis first)."""
    out: list[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


def _crop(x: torch.Tensor, crops: list[tuple[int, int]]) -> torch.Tensor:
    axis = 2
    for b, e in crops:
        x = x.narrow(axis, b, x.shape[axis] - b - e)
        axis += 1
    return x


class Pad(nn.Module):
    """Constant padding, (before, after) per spatial axis (zeros by default)."""

    def __init__(self, pads: list[tuple[int, int]], value: float = 0.0) -> None:
        super().__init__()
        self.pads = [(int(b), int(e)) for b, e in pads]
        self.value = float(value)
        self.flat = _flat_pads(self.pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.flat, value=self.value)

    def extra_repr(self) -> str:
        return f"pads={self.pads}" + (f", value={self.value}" if self.value else "")


class Crop(nn.Module):
    """Removes (before, after) per spatial axis."""

    def __init__(self, crops: list[tuple[int, int]]) -> None:
        super().__init__()
        self.crops = [(int(b), int(e)) for b, e in crops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _crop(x, self.crops)

    def extra_repr(self) -> str:
        return f"crops={self.crops}"


class Concat(nn.Module):
    """torch.cat of a list of tensors along `dim`, each first centre-cropped when `crops` is given (U-Net)."""

    crops: list[list[tuple[int, int]]]

    def __init__(self, dim: int = 1, crops: list[list[tuple[int, int]]] | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.crops = [[(int(b), int(e)) for b, e in c] for c in crops] if crops else []

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(self.crops) > 0:
            xs = [_crop(x, c) for x, c in zip(xs, self.crops)]
        return torch.cat(xs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}" + (f", crops={self.crops}" if self.crops else "")


class Elementwise(nn.Module):
    """Sum or product of a list of tensors, shorter shapes broadcast channel-first (C → C×1×1)."""

    def __init__(self, op: str, extra_dims: list[int]) -> None:
        super().__init__()
        if op not in ("add", "mul"):
            raise ValueError(f"op is 'add' or 'mul', got {op!r}")
        self.op = op
        self.extra_dims = list(extra_dims)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = self._expand(xs[0], self.extra_dims[0])
        for i in range(1, len(xs)):
            x = self._expand(xs[i], self.extra_dims[i])
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
        self.spatial = spatial
        self.keepdims = keepdims
        self.dims = list(range(2, 2 + spatial))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_max:
            return torch.amax(x, dim=self.dims, keepdim=self.keepdims)
        return torch.mean(x, dim=self.dims, keepdim=self.keepdims)

    def extra_repr(self) -> str:
        return ("max" if self.use_max else "mean") + (", keepdims" if self.keepdims else "")
