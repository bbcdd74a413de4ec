"""Convolutions: conv (1D/2D/3D by the input's rank), depthwise conv, transposed conv."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    RF,
    Args,
    Cost,
    LayerKind,
    Padding,
    Receptive,
    Shape,
    ShapeError,
    Size,
    fmt_shape,
    norm_size,
    prod,
    register,
    resolve_pad,
    spatial_rank,
    window_out,
)
from archspec.kinds.torchspec import Helper, Opt, Torch, call, one, pad


class ConvArgs(Args):
    filters: PositiveInt
    kernel: Size
    stride: Size = 1
    pad: Padding = 0
    dilation: Size = 1
    groups: PositiveInt = 1
    depthwise: bool = False
    bias: bool = True
    table: tuple[tuple[int, ...], ...] | None = None  # output map j reads input maps table[j] (LeNet-5's C3)

    @field_validator("table")
    @classmethod
    def _table(cls, v: tuple[tuple[int, ...], ...] | None) -> tuple[tuple[int, ...], ...] | None:
        if v is None:
            return v
        for j, t in enumerate(v):
            if not t or min(t) < 0 or len(set(t)) != len(t):
                raise ValueError(f"entry {j} of a connection table must list distinct input maps (0, 1, ...), "
                                 f"got {tuple(t)}")
        return v


def _geometry(a: Any, x: Shape, name: str, ranks: tuple[int, ...]) -> tuple[int, tuple[int, ...], tuple[int, ...],
                                                                            tuple[int, ...], list[tuple[int, int]]]:
    nd = spatial_rank(x, name, ranks)
    k = norm_size(a.kernel, nd, "kernel")
    s = norm_size(a.stride, nd, "stride")
    d = norm_size(a.dilation, nd, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ShapeError(f"kernel, stride and dilation must be at least 1, got kernel {fmt_shape(k)}, "
                         f"stride {fmt_shape(s)}, dilation {fmt_shape(d)}", code="E202")
    pads = resolve_pad(a.pad, x[1:], k, s, d)
    return nd, k, s, d, pads


def conv_spatial(name: str, x: Shape, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...],
                 pads: list[tuple[int, int]]) -> tuple[int, ...]:
    out = tuple(window_out(n, ki, si, b, e, di) for n, ki, si, di, (b, e) in zip(x[1:], k, s, d, pads))
    if min(out) < 1:
        eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        padded = tuple(n + b + e for n, (b, e) in zip(x[1:], pads))
        raise ShapeError(
            f"`{name}` kernel {fmt_shape(k)} does not fit the {fmt_shape(x[1:])} input"
            + (f" (padded to {fmt_shape(padded)})" if padded != x[1:] else ""),
            expected=f"an input of at least {fmt_shape(eff)} after padding",
            hint="pad the input (`pad=same`), use a smaller kernel, or remove a downsampling layer before it")
    return out


def _channels(a: ConvArgs, cin: int) -> tuple[int, int]:
    if a.table is not None:
        return _check_table(a, cin), cin
    groups = cin if a.depthwise else a.groups
    if cin % groups:
        raise ShapeError(f"`in_channels` (={cin}) must be divisible by `groups` (={groups})",
                         expected=f"a multiple of {groups} input channels")
    if a.filters % groups:
        raise ShapeError(f"`filters` (={a.filters}) must be divisible by `groups` (={groups})",
                         expected=f"a multiple of {groups} filters", code="E202")
    return groups, cin // groups


def _check_table(a: ConvArgs, cin: int) -> int:
    """A connection table replaces groups: one entry per output map, naming the input maps it reads."""
    assert a.table is not None
    if a.depthwise or a.groups != 1:
        raise ShapeError("a connection table (`table=`) cannot be combined with `groups` or `depthwise`", code="E202")
    if len(a.table) != a.filters:
        raise ShapeError(f"the connection table has {len(a.table)} entries but the convolution has "
                         f"{a.filters} filters", expected=f"one entry per output map ({a.filters})", code="E202")
    wrong = sorted({i for t in a.table for i in t if i >= cin})
    if wrong:
        raise ShapeError(f"the connection table reads input map {wrong[0]} but the input has {cin} maps",
                         expected=f"input maps 0 to {cin - 1}")
    return 1


def table_links(a: ConvArgs, cin: int) -> int:
    """Input maps read, summed over output maps: Σ_j |table_j| (C_out · C_in/groups without a table)."""
    if a.table is not None:
        return sum(len(t) for t in a.table)
    groups = cin if a.depthwise else a.groups
    return a.filters * (cin // groups)


class _ConvBase(LayerKind[ConvArgs]):
    Args = ConvArgs
    category = "conv"
    positional = ("filters", "kernel")
    flags = ("depthwise",)
    ranks: tuple[int, ...] = (1, 2, 3)
    shape_rule = "C_out × ⌊(n + p − d·(k−1) − 1)/s⌋ + 1 per spatial axis; pad `same` → ⌈n/s⌉, `full` → n + d·(k−1)"
    params_rule = ("C_out · C_in/groups · ∏k + C_out (bias); with a connection table "
                   "Σ_j |table_j| · ∏k + C_out")
    macs_rule = "out elements · ∏k · C_in/groups; with a table out positions · Σ_j |table_j| · ∏k"
    flops_rule = "2 · MACs + out elements (bias)"

    def shape(self, a: ConvArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        _, k, s, d, pads = _geometry(a, x, self.name, self.ranks)
        _channels(a, x[0])
        return (a.filters, *conv_spatial(self.name, x, k, s, d, pads))

    def cost(self, a: ConvArgs, ins: list[Shape], out: Shape) -> Cost:
        x = ins[0]
        nd = len(x) - 1
        _channels(a, x[0])
        k = norm_size(a.kernel, nd, "kernel")
        weights = table_links(a, x[0]) * prod(k)  # = C_out · fan-in without a table
        bias = a.filters if a.bias else 0
        n_out = prod(out)
        macs = prod(out[1:]) * weights
        return Cost(params=weights + bias, macs=macs, flops=2 * macs + (n_out if a.bias else 0),
                    connections=macs + (n_out if a.bias else 0))

    def receptive(self, a: ConvArgs, ins: list[Shape]) -> Receptive:
        _, k, s, d, pads = _geometry(a, ins[0], self.name, self.ranks)
        return [RF(di * (ki - 1) + 1, si, b) for ki, si, di, (b, _) in zip(k, s, d, pads)]

    def describe(self, a: ConvArgs) -> str:
        k = a.kernel if isinstance(a.kernel, tuple) else (a.kernel, a.kernel)
        parts = [str(a.filters), "×".join(map(str, k))]
        s = a.stride if isinstance(a.stride, tuple) else (a.stride,)
        if max(s) > 1:
            parts.append("/" + "×".join(map(str, sorted(set(s)))))
        if a.pad not in (0, "valid"):
            parts.append(f"pad {a.pad if isinstance(a.pad, str) else fmt_shape(a.pad if isinstance(a.pad, tuple) else (a.pad,))}")
        d = a.dilation if isinstance(a.dilation, tuple) else (a.dilation,)
        if max(d) > 1:
            parts.append("dil " + "×".join(map(str, sorted(set(d)))))
        if a.depthwise:
            parts.append("depthwise")
        elif a.groups > 1:
            parts.append(f"g{a.groups}")
        if a.table is not None:
            parts.append(f"table ({sum(len(t) for t in a.table)} links)")
        if not a.bias:
            parts.append("no bias")
        return " ".join(parts)

    def pytorch(self, a: ConvArgs, ins: list[Shape], out: Shape) -> Torch:
        x = ins[0]
        nd, k, s, d, pads = _geometry(a, x, self.name, self.ranks)
        groups, _ = _channels(a, x[0])
        if a.table is not None:
            return call("TableConv", x[0], tuple(tuple(t) for t in a.table), k, s, tuple(pads), d,
                        names=("in_channels", "table", "kernel", "stride", "pads", "dilation"),
                        helper=TABLE_CONV, use_bias=Opt(a.bias, True))
        symmetric = all(b == e for b, e in pads)
        padding = one(tuple(b for b, _ in pads)) if symmetric else 0
        conv = call(f"nn.Conv{nd}d", x[0], a.filters, one(k), names=("in_channels", "out_channels", "kernel_size"),
                    stride=Opt(one(s), 1), padding=Opt(padding, 0), dilation=Opt(one(d), 1), groups=Opt(groups, 1), bias=Opt(a.bias, True))
        return conv if symmetric else call("nn.Sequential", pad(pads), conv)


@register
class Conv(_ConvBase):
    name = "conv"
    summary = "Convolution; 1D, 2D or 3D by the rank of its input (C×L, C×H×W, C×D×H×W)."


@register
class Conv1d(_ConvBase):
    name = "conv1d"
    ranks = (1,)
    summary = "Convolution over C×L inputs (`conv` checked to be 1D)."


@register
class Conv2d(_ConvBase):
    name = "conv2d"
    ranks = (2,)
    summary = "Convolution over C×H×W inputs (`conv` checked to be 2D)."


@register
class Conv3d(_ConvBase):
    name = "conv3d"
    ranks = (3,)
    summary = "Convolution over C×D×H×W inputs (`conv` checked to be 3D)."


class DwConvArgs(Args):
    kernel: Size
    stride: Size = 1
    pad: Padding = 0
    dilation: Size = 1
    multiplier: PositiveInt = 1
    bias: bool = True


@register
class DwConv(LayerKind[DwConvArgs]):
    name = "dwconv"
    aliases = ("depthwise",)
    Args = DwConvArgs
    category = "conv"
    positional = ("kernel",)
    summary = "Depthwise convolution: each input channel filtered on its own (groups = C_in), `multiplier` filters each."
    shape_rule = "C_in·multiplier × spatial as `conv`"
    params_rule = "C_in · multiplier · ∏k + C_in · multiplier (bias)"
    macs_rule = "out elements · ∏k"
    flops_rule = "2 · MACs + out elements (bias)"

    def _as_conv(self, a: DwConvArgs, cin: int) -> ConvArgs:
        return ConvArgs(filters=cin * a.multiplier, kernel=a.kernel, stride=a.stride, pad=a.pad,
                        dilation=a.dilation, groups=cin, bias=a.bias)

    def shape(self, a: DwConvArgs, ins: list[Shape]) -> Shape:
        return Conv().shape(self._as_conv(a, ins[0][0]), ins)

    def cost(self, a: DwConvArgs, ins: list[Shape], out: Shape) -> Cost:
        return Conv().cost(self._as_conv(a, ins[0][0]), ins, out)

    def receptive(self, a: DwConvArgs, ins: list[Shape]) -> Receptive:
        return Conv().receptive(self._as_conv(a, ins[0][0]), ins)

    def describe(self, a: DwConvArgs) -> str:
        c = Conv().describe(ConvArgs(filters=1, kernel=a.kernel, stride=a.stride, pad=a.pad, dilation=a.dilation,
                                     bias=a.bias))
        return c.split(" ", 1)[1] + (f" ×{a.multiplier}" if a.multiplier > 1 else "")

    def pytorch(self, a: DwConvArgs, ins: list[Shape], out: Shape) -> Torch:
        return Conv().pytorch(self._as_conv(a, ins[0][0]), ins, out)


class ConvTransposeArgs(Args):
    filters: PositiveInt
    kernel: Size
    stride: Size = 1
    pad: Size = 0
    output_padding: Size = 0
    dilation: Size = 1
    groups: PositiveInt = 1
    bias: bool = True


@register
class ConvTranspose(LayerKind[ConvTransposeArgs]):
    name = "convtranspose"
    aliases = ("upconv", "deconv")
    Args = ConvTransposeArgs
    category = "conv"
    positional = ("filters", "kernel")
    summary = "Transposed convolution (up-convolution), 1D/2D/3D by the input's rank."
    shape_rule = "C_out × (n − 1)·s − 2p + d·(k − 1) + output_padding + 1 per spatial axis"
    params_rule = "C_in · C_out/groups · ∏k + C_out (bias)"
    macs_rule = "in elements · C_out/groups · ∏k (every input pixel scatters a kernel)"
    flops_rule = "2 · MACs + out elements (bias)"

    def _geo(self, a: ConvTransposeArgs, x: Shape) -> tuple[tuple[int, ...], ...]:
        nd = spatial_rank(x, self.name)
        return tuple(norm_size(v, nd, w) for v, w in ((a.kernel, "kernel"), (a.stride, "stride"), (a.pad, "padding"),
                                                     (a.output_padding, "output_padding"), (a.dilation, "dilation")))

    def shape(self, a: ConvTransposeArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        k, s, p, op, d = self._geo(a, x)
        if min(k) < 1 or min(s) < 1 or min(d) < 1:
            raise ShapeError(f"kernel, stride and dilation must be at least 1, got kernel {fmt_shape(k)}, "
                             f"stride {fmt_shape(s)}, dilation {fmt_shape(d)}", code="E202")
        if any(opi >= max(si, di) for opi, si, di in zip(op, s, d)):
            raise ShapeError(f"`output_padding` {fmt_shape(op)} must be smaller than the stride ({fmt_shape(s)}) "
                             f"or the dilation ({fmt_shape(d)})", code="E202",
                             expected="output_padding < max(stride, dilation) on every axis",
                             hint="output_padding picks one of the `stride` output sizes that map to the same "
                                  "input size; with stride 1 it must be 0")
        if x[0] % a.groups or a.filters % a.groups:
            raise ShapeError(f"`in_channels` (={x[0]}) and `filters` (={a.filters}) must be divisible by "
                             f"`groups` (={a.groups})")
        out = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
                    for n, ki, si, pi, opi, di in zip(x[1:], k, s, p, op, d))
        if min(out) < 1:
            raise ShapeError(f"`{self.name}` output would be {fmt_shape(out)}",
                             expected="an output of at least 1 per axis: (n − 1)·s − 2p + d·(k − 1) + output_padding + 1",
                             hint="use less padding (`pad`), or a larger kernel or stride")
        return (a.filters, *out)

    def cost(self, a: ConvTransposeArgs, ins: list[Shape], out: Shape) -> Cost:
        x = ins[0]
        k = self._geo(a, x)[0]
        weights = x[0] * (a.filters // a.groups) * prod(k)
        bias = a.filters if a.bias else 0
        macs = prod(x) * (a.filters // a.groups) * prod(k)
        n_out = prod(out)
        # each output unit reads about in·k/s of the inputs; LeCun's count: the weights each unit uses
        conn = macs + (n_out if a.bias else 0)
        return Cost(params=weights + bias, macs=macs, flops=2 * macs + (n_out if a.bias else 0), connections=conn)

    def receptive(self, a: ConvTransposeArgs, ins: list[Shape]) -> Receptive:
        k, s, _, _, d = self._geo(a, ins[0])
        # An up-convolution: each output sees ⌈k/s⌉ inputs; its step is 1/s of the input's.
        return [RF(-(-(di * (ki - 1) + 1) // si), Fraction(1, si), 0) for ki, si, di in zip(k, s, d)]

    def describe(self, a: ConvTransposeArgs) -> str:
        k = a.kernel if isinstance(a.kernel, tuple) else (a.kernel, a.kernel)
        s = a.stride if isinstance(a.stride, tuple) else (a.stride,)
        return f"{a.filters} {'×'.join(map(str, k))}" + (f" ↑{max(s)}" if max(s) > 1 else "")

    def pytorch(self, a: ConvTransposeArgs, ins: list[Shape], out: Shape) -> Torch:
        nd = len(ins[0]) - 1
        k, s, p, op, d = self._geo(a, ins[0])
        return call(f"nn.ConvTranspose{nd}d", ins[0][0], a.filters, one(k),
                    names=("in_channels", "out_channels", "kernel_size"),
                    stride=Opt(one(s), 1), padding=Opt(one(p), 0), output_padding=Opt(one(op), 0), groups=Opt(a.groups, 1), bias=Opt(a.bias, True), dilation=Opt(one(d), 1))


# -- the PyTorch form of a connection table: a module torch.nn does not have, as source (torchspec.py) -----

TABLE_CONV = Helper("TableConv", '''\
class TableConv(nn.Module):
    """A convolution whose output map j reads only the input maps `table[j]` (LeCun et al. 1998, C3).

    `weight` holds one kernel per link, in table order. The output maps whose entries have the same
    length run as one grouped convolution on the gathered input maps, so the multiply-adds done are
    exactly those of the links.
    """

    def __init__(self, in_channels: int, table: List[List[int]], kernel: List[int], stride: List[int],
                 pads: List[List[int]], dilation: List[int], use_bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, len(table)
        self.table = [[int(c) for c in t] for t in table]
        self.kernel, self.stride, self.dilation = list(kernel), list(stride), list(dilation)
        self.flat = [int(v) for b, e in reversed(list(pads)) for v in (b, e)]
        self.weight = nn.Parameter(torch.empty(sum(len(t) for t in self.table), *self.kernel))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if use_bias else None
        starts = [0]
        for t in self.table:
            starts.append(starts[-1] + len(t))
        by_size: Dict[int, List[int]] = {}
        for j, t in enumerate(self.table):
            by_size.setdefault(len(t), []).append(j)
        self.group_sizes = list(by_size)
        self.group_rows = [[starts[j] + i for j in outs for i in range(size)] for size, outs in by_size.items()]
        self.group_maps = [[c for j in outs for c in self.table[j]] for outs in by_size.values()]
        order = [j for outs in by_size.values() for j in outs]
        self.inverse = sorted(range(len(order)), key=order.__getitem__)  # back to table order
        k = math.prod(self.kernel)
        row = 0
        with torch.no_grad():
            for j, t in enumerate(self.table):
                bound = 1 / math.sqrt(len(t) * k)  # as nn.Conv's default, with this map's fan-in
                self.weight[row:row + len(t)].uniform_(-bound, bound)
                row += len(t)
                if self.bias is not None:
                    self.bias[j].uniform_(-bound, bound)

    def dense_weight(self) -> Tensor:
        """The equivalent C_out × C_in × k kernel, zeros where the table has no link."""
        w = self.weight.new_zeros([self.out_channels, self.in_channels] + self.kernel)
        row = 0
        for j, t in enumerate(self.table):
            for c in t:
                w[j, c] = self.weight[row]
                row += 1
        return w

    def conv(self, x: Tensor, w: Tensor, groups: int) -> Tensor:
        if len(self.stride) == 1:
            return F.conv1d(x, w, None, self.stride, 0, self.dilation, groups)
        if len(self.stride) == 2:
            return F.conv2d(x, w, None, self.stride, 0, self.dilation, groups)
        return F.conv3d(x, w, None, self.stride, 0, self.dilation, groups)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.flat)
        outs: List[Tensor] = []
        for g in range(len(self.group_sizes)):
            size = self.group_sizes[g]
            n = len(self.group_rows[g]) // size
            rows = torch.tensor(self.group_rows[g], device=x.device)
            maps = torch.tensor(self.group_maps[g], device=x.device)
            w = self.weight.index_select(0, rows).reshape([n, size] + self.kernel)
            outs.append(self.conv(x.index_select(1, maps), w, n))
        y = torch.cat(outs, 1).index_select(1, torch.tensor(self.inverse, device=x.device))
        b = self.bias
        if b is not None:
            y = y + b.reshape([1, -1] + [1] * len(self.kernel))
        return y
''')
