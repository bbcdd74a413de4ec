"""The classic networks' layer kinds: LeCun's trainable subsampling and RBF output units (LeNet-5, 1998),
locally connected layers (unshared weights), and ResNet-CIFAR's zero-padding shortcut.

(Connection tables, LeNet-5's C3, are the `table=` argument of `conv`: archspec/kinds/conv.py.)

How the peers count these kinds (`--convention`): each compiles to a module of
archspec's own (helper classes written into the generated file) that the peers do not know by name. torchinfo then counts its
parameters once per sample; thop and ptflops (module hooks only, `count_functional=False`) count an
unknown module as zero; fvcore is given the analysis's MACs (it traces the convolutions and matrix
products these modules run, which are exactly those MACs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import PositiveInt

from archspec.kinds.base import (
    GLOBAL,
    RF,
    Args,
    Cost,
    LayerKind,
    Padding,
    Receptive,
    Shape,
    ShapeError,
    Size,
    flat_size,
    fmt_shape,
    norm_size,
    prod,
    register,
    spatial_rank,
    window_out,
)
from archspec.kinds.conv import _geometry, conv_spatial
from archspec.kinds.torchspec import Expr, Helper, Opt, Torch, call


class _Compiled(LayerKind[Any]):
    """Peer counts of a kind that compiles to one of archspec's own modules (see the module docstring)."""

def _sizes(v: Size) -> tuple[int, ...]:
    return (v,) if isinstance(v, int) else tuple(v)


def _show(v: Size) -> str:
    t = _sizes(v)
    return "×".join(map(str, t))


# -- trainable subsampling -----------------------------------------------------------------------

class SubsampleArgs(Args):
    kernel: Size
    stride: Size | None = None  # defaults to the kernel (non-overlapping windows)
    bias: bool = True


@register
class Subsample(_Compiled):
    name = "subsample"
    Args = SubsampleArgs
    category = "pool"
    positional = ("kernel",)
    summary = ("LeCun's trainable subsampling (LeNet-5, 1998): the sum of each window × a trainable "
               "coefficient + a trainable bias, per map (2 parameters per map); the activation follows as a "
               "shorthand (`subsample 2 tanh`).")
    shape_rule = "C × ⌊(n − k)/s⌋ + 1 per spatial axis; stride defaults to the kernel"
    params_rule = "2 · C (a coefficient and a bias per map; C without `bias`)"
    macs_rule = "out elements (one multiply by the coefficient per output unit; the window sum is additions)"
    flops_rule = "2 · MACs + out elements · (∏k − 1) (the window's additions)"

    def _geo(self, a: SubsampleArgs, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        nd = spatial_rank(x, self.name)
        k = norm_size(a.kernel, nd, "kernel")
        s = norm_size(a.stride if a.stride is not None else a.kernel, nd, "stride")
        if min(k) < 1 or min(s) < 1:
            raise ShapeError("subsampling kernel and stride must be at least 1", code="E202")
        return k, s

    def shape(self, a: SubsampleArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        k, s = self._geo(a, x)
        out = tuple(window_out(n, ki, si, 0, 0) for n, ki, si in zip(x[1:], k, s))
        if min(out) < 1:
            raise ShapeError(f"`subsample` window {fmt_shape(k)} does not fit the {fmt_shape(x[1:])} input",
                             expected=f"an input of at least {fmt_shape(k)}")
        return (x[0], *out)

    def cost(self, a: SubsampleArgs, ins: list[Shape], out: Shape) -> Cost:
        k, _ = self._geo(a, ins[0])
        n_out = prod(out)
        bias = 1 if a.bias else 0
        return Cost(params=ins[0][0] * (1 + bias), macs=n_out, flops=2 * n_out + n_out * (prod(k) - 1),
                    connections=n_out * (prod(k) + bias))

    def receptive(self, a: SubsampleArgs, ins: list[Shape]) -> Receptive:
        k, s = self._geo(a, ins[0])
        return [RF(ki, si, 0) for ki, si in zip(k, s)]

    def describe(self, a: SubsampleArgs) -> str:
        text = _show(a.kernel)
        if a.stride is not None and _sizes(a.stride) != _sizes(a.kernel):
            text += "/" + _show(a.stride)
        return text + ("" if a.bias else " no bias")

    def pytorch(self, a: SubsampleArgs, ins: list[Shape], out: Shape) -> Torch:
        k, s = self._geo(a, ins[0])
        return call("Subsample", ins[0][0], k, s, names=("channels", "kernel", "stride"),
                    helper=SUBSAMPLE, use_bias=Opt(a.bias, True))


# -- RBF output units ----------------------------------------------------------------------------

class RBFArgs(Args):
    units: PositiveInt
    trainable: bool = False  # LeNet-5's weights are fixed by hand (7×12 bitmaps of the characters)


@register
class RBF(_Compiled):
    name = "rbf"
    Args = RBFArgs
    category = "dense"
    positional = ("units",)
    flags = ("trainable",)
    summary = ("Euclidean radial-basis-function units on a flat vector (LeNet-5's output): "
               "y_i = Σ_j (x_j − w_ij)². The weights are fixed (non-trainable) unless `trainable`.")
    shape_rule = "units (the input must be flat: C)"
    params_rule = "in · units, non-trainable (trainable with `trainable`); no bias"
    macs_rule = "in · units (a square and a sum per weight)"
    flops_rule = "2 · MACs + in · units (the subtractions)"

    def shape(self, a: RBFArgs, ins: list[Shape]) -> Shape:
        flat_size(self.name, ins[0])
        return (a.units,)

    def cost(self, a: RBFArgs, ins: list[Shape], out: Shape) -> Cost:
        w = ins[0][0] * a.units
        return Cost(params=w if a.trainable else 0, fixed=0 if a.trainable else w, macs=w, flops=3 * w,
                    connections=w)

    def receptive(self, a: RBFArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: RBFArgs) -> str:
        return f"{a.units}" + (" trainable" if a.trainable else " fixed")

    def pytorch(self, a: RBFArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("RBF", ins[0][0], a.units, names=("in_features", "units"), helper=RBF_UNITS,
                    trainable=Opt(a.trainable, False))


# -- locally connected ---------------------------------------------------------------------------

class LocalArgs(Args):
    filters: PositiveInt
    kernel: Size
    stride: Size = 1
    pad: Padding = 0
    dilation: Size = 1
    bias: bool = True  # one bias per output unit (F × output positions), as Keras


@register
class Local(_Compiled):
    name = "local"
    aliases = ("locally_connected",)
    Args = LocalArgs
    category = "conv"
    positional = ("filters", "kernel")
    summary = ("Locally connected layer (unshared weights, Keras's LocallyConnected1D/2D): a convolution "
               "whose every output position has its own filters and biases. 1D or 2D.")
    shape_rule = "as `conv`: F × ⌊(n + p − d·(k−1) − 1)/s⌋ + 1 per spatial axis"
    params_rule = "P · F · C_in · ∏k + P · F (bias), P = output positions"
    macs_rule = "P · F · C_in · ∏k (as the convolution of the same shape)"
    flops_rule = "2 · MACs + out elements (bias)"

    def _geo(self, a: LocalArgs, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...],
                                                    list[tuple[int, int]]]:
        _, k, s, d, pads = _geometry(a, x, self.name, (1, 2))
        return k, s, d, pads

    def shape(self, a: LocalArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        k, s, d, pads = self._geo(a, x)
        return (a.filters, *conv_spatial(self.name, x, k, s, d, pads))

    def cost(self, a: LocalArgs, ins: list[Shape], out: Shape) -> Cost:
        k, _, _, _ = self._geo(a, ins[0])
        n_out = prod(out)
        macs = n_out * ins[0][0] * prod(k)
        bias = n_out if a.bias else 0
        return Cost(params=macs + bias, macs=macs, flops=2 * macs + bias, connections=macs + bias)

    def receptive(self, a: LocalArgs, ins: list[Shape]) -> Receptive:
        k, s, d, pads = self._geo(a, ins[0])
        return [RF(di * (ki - 1) + 1, si, b) for ki, si, di, (b, _) in zip(k, s, d, pads)]

    def describe(self, a: LocalArgs) -> str:
        k = _sizes(a.kernel)
        parts = [str(a.filters), "×".join(map(str, k if len(k) > 1 else k * 2))]
        if max(_sizes(a.stride)) > 1:
            parts.append("/" + _show(a.stride))
        if a.pad not in (0, "valid"):
            parts.append(f"pad {a.pad if isinstance(a.pad, str) else _show(a.pad)}")
        if max(_sizes(a.dilation)) > 1:
            parts.append("dil " + _show(a.dilation))
        parts.append("unshared")
        if not a.bias:
            parts.append("no bias")
        return " ".join(parts)

    def pytorch(self, a: LocalArgs, ins: list[Shape], out: Shape) -> Torch:
        k, s, d, pads = self._geo(a, ins[0])
        return call("LocallyConnected", ins[0][0], a.filters, k, s, tuple(pads), d, out[1:],
                    names=("in_channels", "filters", "kernel", "stride", "pads", "dilation", "out_size"),
                    helper=LOCALLY_CONNECTED, use_bias=Opt(a.bias, True))


# -- ResNet's zero-padding shortcut (option A) -------------------------------------------------

class PadChannelsArgs(Args):
    channels: PositiveInt
    stride: Size = 1
    side: Literal["after", "both"] = "after"  # new zero maps behind the old ones, or split before/after


@register
class PadChannels(LayerKind[PadChannelsArgs]):
    name = "padchannels"
    Args = PadChannelsArgs
    category = "reshape"
    positional = ("channels",)
    summary = ("ResNet's parameter-free shortcut (option A, He et al. 2016): keeps every s-th position "
               "(`stride`) and pads the channels with zero maps up to `channels` (behind the input's maps, "
               "or split before and after with `side=both`).")
    shape_rule = "channels × ⌈n/s⌉ per spatial axis"
    params_rule = "0"
    macs_rule = "0"
    flops_rule = "0"

    def _stride(self, a: PadChannelsArgs, x: Shape) -> tuple[int, ...]:
        s = norm_size(a.stride, spatial_rank(x, self.name), "stride")
        if min(s) < 1:
            raise ShapeError("`padchannels` stride must be at least 1", code="E202")
        return s

    def shape(self, a: PadChannelsArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        s = self._stride(a, x)
        if a.channels < x[0]:
            raise ShapeError(f"`padchannels {a.channels}` cannot pad {x[0]} maps down to {a.channels}",
                             expected=f"at least {x[0]} channels",
                             hint="a projection (`conv C 1x1`) reduces channels")
        return (a.channels, *(-(-n // si) for n, si in zip(x[1:], s)))

    def receptive(self, a: PadChannelsArgs, ins: list[Shape]) -> Receptive:
        return [RF(1, si, 0) for si in self._stride(a, ins[0])]

    def describe(self, a: PadChannelsArgs) -> str:
        s = _sizes(a.stride)
        return f"→ {a.channels}" + (f" /{max(s)}" if max(s) > 1 else "") + (" both sides" if a.side == "both" else "")

    def pytorch(self, a: PadChannelsArgs, ins: list[Shape], out: Shape) -> Torch:
        extra = a.channels - ins[0][0]
        before = extra // 2 if a.side == "both" else 0
        s = self._stride(a, ins[0])
        x = "{0}" if max(s) == 1 else "{0}[:, :, " + ", ".join(f"::{si}" for si in s) + "]"
        return Expr(f"F.pad({x}, {[0, 0] * len(s) + [before, extra - before]})")


# -- PyTorch forms: modules torch.nn does not have, as source (archspec/kinds/torchspec.py) ------------
# Each module owns exactly the parameters the analysis counts and does the multiply-adds it counts through
# convolutions and matrix products (so that FlopCounterMode agrees); each is TorchScript-compatible.

SUBSAMPLE = Helper("Subsample", '''\
class Subsample(nn.Module):
    """LeCun's trainable subsampling: each window's sum × a trainable coefficient + a trainable bias, per map.

    The coefficient multiplies as a 1×1 depthwise convolution: one multiply per output unit. It starts
    at 1/∏k, so that the layer starts as an average.
    """

    def __init__(self, channels: int, kernel: List[int], stride: List[int], use_bias: bool = True) -> None:
        super().__init__()
        self.channels, self.kernel, self.stride = channels, list(kernel), list(stride)
        self.weight = nn.Parameter(torch.full((channels,), 1 / math.prod(self.kernel)))
        self.bias = nn.Parameter(torch.zeros(channels)) if use_bias else None

    def forward(self, x: Tensor) -> Tensor:
        nd = len(self.kernel)
        w = self.weight.reshape([self.channels, 1] + [1] * nd)
        if nd == 1:
            s = F.avg_pool1d(x, self.kernel, self.stride) * float(self.kernel[0])
            return F.conv1d(s, w, self.bias, 1, 0, 1, self.channels)
        if nd == 2:
            s = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
            return F.conv2d(s, w, self.bias, 1, 0, 1, self.channels)
        s = F.avg_pool3d(x, self.kernel, self.stride, divisor_override=1)
        return F.conv3d(s, w, self.bias, 1, 0, 1, self.channels)
''')

RBF_UNITS = Helper("RBF", '''\
class RBF(nn.Module):
    """Euclidean radial-basis-function units: y_i = Σ_j (x_j − w_ij)² (LeNet-5's output layer).

    The weights are not trained unless `trainable`, initialised to ±1 as LeCun's bitmaps of the
    characters are; the distance is |x|² − 2·x·wᵀ + |w|², its multiply-adds one matrix product.
    """

    def __init__(self, in_features: int, units: int, trainable: bool = False) -> None:
        super().__init__()
        bits = torch.randint(0, 2, (units, in_features)).float() * 2 - 1
        self.weight = nn.Parameter(bits, requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        d = (x * x).sum(-1, keepdim=True) - 2 * torch.matmul(x, w.t()) + (w * w).sum(-1)
        return d.clamp_min(0.0)
''')

LOCALLY_CONNECTED = Helper("LocallyConnected", '''\
class LocallyConnected(nn.Module):
    """A convolution without weight sharing (Keras's LocallyConnected1D/2D): every output position has its
    own filters and biases. `weight` is P × F × C·∏k (P output positions), `bias` F × output size."""

    def __init__(self, in_channels: int, filters: int, kernel: List[int], stride: List[int], pads: List[List[int]],
                 dilation: List[int], out_size: List[int], use_bias: bool = True) -> None:
        super().__init__()
        self.filters = filters
        self.kernel, self.stride, self.dilation = list(kernel), list(stride), list(dilation)
        self.out_size = list(out_size)
        self.flat = [int(v) for b, e in reversed(list(pads)) for v in (b, e)]
        positions, fan_in = math.prod(self.out_size), in_channels * math.prod(self.kernel)
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(positions, filters, fan_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(filters, *self.out_size).uniform_(-bound, bound)) if use_bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.flat)
        k, s, d = self.kernel, self.stride, self.dilation
        if len(k) == 1:
            x, k, s, d = x.unsqueeze(2), [1, k[0]], [1, s[0]], [1, d[0]]
        cols = F.unfold(x, k, d, 0, s)  # B × C·∏k × P
        y = torch.einsum("bkp,pfk->bfp", [cols, self.weight])
        y = y.reshape([x.shape[0], self.filters] + self.out_size)
        b = self.bias
        if b is not None:
            y = y + b
        return y
''')
