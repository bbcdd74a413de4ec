"""PyTorch modules for the classic layer kinds (archspec/layers/classic.py and conv's `table=`).

Each module owns exactly the parameters the analysis counts (the sum of `numel()` equals the spec's
params, fixed weights included), and does the multiply-adds the analysis counts through convolutions
and matrix products, so that `torch.utils.flop_counter.FlopCounterMode` agrees: its total divided by
two is the layer's MACs. As the modules of `torch_ops`, each keeps its constructor arguments as
attributes of the same names (`use_bias` is the flag, `bias` the parameter) and is TorchScript-compatible.

Imported only when a spec is compiled: analysis never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_unfold: Any = F.unfold  # typed loosely: TorchScript passes sizes as lists, torch's stubs want tuples


def _flat(pads: Sequence[tuple[int, int]]) -> list[int]:
    """(before, after) per spatial axis, first axis first → F.pad's order (last axis first)."""
    return [v for b, e in reversed(list(pads)) for v in (int(b), int(e))]


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: list[int], dilation: list[int],
          groups: int) -> torch.Tensor:
    nd = len(stride)
    if nd == 1:
        return F.conv1d(x, w, b, stride, 0, dilation, groups)
    if nd == 2:
        return F.conv2d(x, w, b, stride, 0, dilation, groups)
    return F.conv3d(x, w, b, stride, 0, dilation, groups)


class TableConv(nn.Module):
    """A convolution whose output map j reads only the input maps `table[j]` (LeCun et al. 1998, C3).

    `weight` holds one kernel per link, in table order: Σ_j |table_j| kernels, none for the links the
    table leaves out. The output maps whose entries have the same length run as one grouped convolution
    on the gathered input maps, so the multiply-adds done are exactly Σ_j |table_j| · ∏k per output
    position.
    """

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel: Sequence[int],
                 stride: Sequence[int], pads: Sequence[tuple[int, int]], dilation: Sequence[int],
                 use_bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, len(table)
        self.table = [[int(c) for c in t] for t in table]
        self.kernel, self.stride, self.dilation = list(kernel), list(stride), list(dilation)
        self.pads = [(int(b), int(e)) for b, e in pads]
        self.use_bias = use_bias
        self.flat = _flat(self.pads)
        self.weight = nn.Parameter(torch.empty(sum(len(t) for t in self.table), *self.kernel))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if use_bias else None
        starts = [0]
        for t in self.table:
            starts.append(starts[-1] + len(t))
        by_size: dict[int, list[int]] = {}
        for j, t in enumerate(self.table):
            by_size.setdefault(len(t), []).append(j)
        # one grouped convolution per entry length: its weight rows and the input maps it gathers
        self.group_sizes = list(by_size)
        self.group_rows = [[starts[j] + i for j in outs for i in range(size)] for size, outs in by_size.items()]
        self.group_maps = [[c for j in outs for c in self.table[j]] for outs in by_size.values()]
        order = [j for outs in by_size.values() for j in outs]
        self.inverse = sorted(range(len(order)), key=order.__getitem__)  # back to table order
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = math.prod(self.kernel)
        row = 0
        with torch.no_grad():
            for j, t in enumerate(self.table):
                bound = 1 / math.sqrt(len(t) * k)  # as nn.Conv's default, with this map's fan-in
                self.weight[row:row + len(t)].uniform_(-bound, bound)
                row += len(t)
                if self.bias is not None:
                    self.bias[j].uniform_(-bound, bound)

    def dense_weight(self) -> torch.Tensor:
        """The equivalent C_out × C_in × k kernel, zeros where the table has no link."""
        w = self.weight.new_zeros(self.out_channels, self.in_channels, *self.kernel)
        row = 0
        for j, t in enumerate(self.table):
            for c in t:
                w[j, c] = self.weight[row]
                row += 1
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.flat)
        outs: list[torch.Tensor] = []
        for g in range(len(self.group_sizes)):
            size = self.group_sizes[g]
            n = len(self.group_rows[g]) // size
            rows = torch.tensor(self.group_rows[g], device=x.device)
            maps = torch.tensor(self.group_maps[g], device=x.device)
            w = self.weight.index_select(0, rows).reshape([n, size] + self.kernel)  # noqa: RUF005 (TorchScript: no *)
            outs.append(_conv(x.index_select(1, maps), w, None, self.stride, self.dilation, n))
        y = torch.cat(outs, 1).index_select(1, torch.tensor(self.inverse, device=x.device))
        b = self.bias
        if b is not None:
            y = y + b.reshape([1, -1] + [1] * len(self.kernel))
        return y

    def extra_repr(self) -> str:
        links = sum(len(t) for t in self.table)
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={tuple(self.kernel)}, "
                f"stride={tuple(self.stride)}, links={links}/{self.in_channels * self.out_channels}, "
                f"use_bias={self.use_bias}")


class Subsample(nn.Module):
    """LeCun's trainable subsampling: each window's sum × a trainable coefficient + a trainable bias, per map.

    The coefficient multiplies as a 1×1 depthwise convolution: one multiply per output unit, what the
    analysis counts as the layer's MACs. It starts at 1/∏k, so that the layer starts as an average.
    """

    def __init__(self, channels: int, kernel: Sequence[int], stride: Sequence[int], use_bias: bool = True) -> None:
        super().__init__()
        self.channels, self.kernel, self.stride = channels, list(kernel), list(stride)
        self.use_bias = use_bias
        self.weight = nn.Parameter(torch.full((channels,), 1 / math.prod(self.kernel)))
        self.bias = nn.Parameter(torch.zeros(channels)) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = len(self.kernel)
        if nd == 1:
            s = F.avg_pool1d(x, self.kernel, self.stride) * float(self.kernel[0])
        elif nd == 2:
            s = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        else:
            s = F.avg_pool3d(x, self.kernel, self.stride, divisor_override=1)
        w = self.weight.reshape([self.channels, 1] + [1] * nd)
        return _conv(s, w, self.bias, [1] * nd, [1] * nd, self.channels)

    def extra_repr(self) -> str:
        return (f"{self.channels}, kernel_size={tuple(self.kernel)}, stride={tuple(self.stride)}, "
                f"use_bias={self.use_bias}")


class RBF(nn.Module):
    """Euclidean radial-basis-function units: y_i = Σ_j (x_j − w_ij)² (LeNet-5's output layer).

    The weights are a parameter that is not trained by default (`requires_grad=False`), initialised to
    ±1 as LeCun's 7×12 bitmaps of the characters are. The distance is computed as |x|² − 2·x·wᵀ + |w|²,
    so that its in·units multiply-adds run as one matrix product.
    """

    def __init__(self, in_features: int, units: int, trainable: bool = False) -> None:
        super().__init__()
        self.in_features, self.units, self.trainable = in_features, units, trainable
        bits = torch.randint(0, 2, (units, in_features)).float() * 2 - 1
        self.weight = nn.Parameter(bits, requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        d = (x * x).sum(-1, keepdim=True) - 2 * torch.matmul(x, w.t()) + (w * w).sum(-1)
        return d.clamp_min(0.0)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.units}, trainable={self.trainable}"


class LocallyConnected(nn.Module):
    """A convolution without weight sharing (Keras's LocallyConnected1D/2D): every output position has
    its own filters and biases. `weight` is P × F × C·∏k (P output positions), `bias` F × output size.
    1D inputs run as 2D with a height of 1."""

    def __init__(self, in_channels: int, filters: int, kernel: Sequence[int], stride: Sequence[int],
                 pads: Sequence[tuple[int, int]], dilation: Sequence[int], out_size: Sequence[int],
                 use_bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.filters, self.use_bias = in_channels, filters, use_bias
        self.kernel, self.stride, self.dilation = list(kernel), list(stride), list(dilation)
        self.pads, self.out_size = [(int(b), int(e)) for b, e in pads], list(out_size)
        self.flat = _flat(self.pads)
        positions, fan_in = math.prod(self.out_size), in_channels * math.prod(self.kernel)
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(positions, filters, fan_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(filters, *self.out_size).uniform_(-bound, bound)) if use_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.flat)
        k, s, d = self.kernel, self.stride, self.dilation
        if len(k) == 1:
            x, k, s, d = x.unsqueeze(2), [1, k[0]], [1, s[0]], [1, d[0]]
        cols = _unfold(x, k, d, 0, s)  # B × C·∏k × P
        y = torch.einsum("bkp,pfk->bfp", [cols, self.weight])
        y = y.reshape([x.shape[0], self.filters] + self.out_size)  # noqa: RUF005 (TorchScript: no *)
        b = self.bias
        if b is not None:
            y = y + b
        return y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.filters}, kernel_size={tuple(self.kernel)}, stride={tuple(self.stride)}, "
                f"out_size={tuple(self.out_size)}, use_bias={self.use_bias}")


class PadChannels(nn.Module):
    """ResNet's option-A shortcut: keep every s-th position (`stride`), then pad the channels with zero
    maps (`before` in front, `after` behind). No parameters."""

    def __init__(self, before: int, after: int, stride: Sequence[int]) -> None:
        super().__init__()
        self.before, self.after, self.stride = before, after, list(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        if len(s) == 1:
            x = x[:, :, ::s[0]]
        elif len(s) == 2:
            x = x[:, :, ::s[0], ::s[1]]
        else:
            x = x[:, :, ::s[0], ::s[1], ::s[2]]
        return F.pad(x, [0, 0] * len(s) + [self.before, self.after])

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}, stride={tuple(self.stride)}"
