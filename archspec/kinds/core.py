"""Input, dense, and the layers that only move data: dropout, identity, upsample, zero padding,
crop, output."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    GLOBAL,
    RF,
    Args,
    Cost,
    LayerKind,
    NoArgs,
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
)
from archspec.kinds.torchspec import Expr, Opt, Torch, call, crop, pad

MAX_ELEMENTS = 2**40  # a tensor larger than this (per sample) is refused: E600


class InputArgs(Args):
    shape: Size

    @field_validator("shape")
    @classmethod
    def _positive(cls, v: Size) -> Size:
        t = (v,) if isinstance(v, int) else v
        if not t or min(t) < 1 or len(t) > 4:
            raise ValueError("an input shape is 1 to 4 positive sizes, channels first: C, C×L, C×H×W or C×D×H×W")
        return v


@register
class Input(LayerKind[InputArgs]):
    name = "input"
    op = "input"
    category = "io"
    Args = InputArgs
    positional = ("shape",)
    summary = "A network input, channels first without the batch: `input 3x224x224`, `input 784`."
    shape_rule = "the given shape"
    view = True

    def shape(self, a: InputArgs, ins: list[Shape]) -> Shape:
        s = (a.shape,) if isinstance(a.shape, int) else tuple(a.shape)
        if prod(s) > MAX_ELEMENTS:
            raise ShapeError(f"input of {prod(s):,} elements is beyond archspec's limit", code="E600",
                             expected=f"at most {MAX_ELEMENTS:,} elements per sample")
        return s

    def describe(self, a: InputArgs) -> str:
        return ""

    def pytorch(self, a: InputArgs, ins: list[Shape], out: Shape) -> Torch:
        return None


@register
class Output(LayerKind[NoArgs]):
    name = "output"
    op = "output"
    category = "io"
    Args = NoArgs
    summary = "A network output (written with the `output` statement)."
    view = True


class DenseArgs(Args):
    units: PositiveInt
    bias: bool = True
    axis: int | None = None  # None: a flat vector; −1 (the last axis): any tensor, as nn.Linear


@register
class Dense(LayerKind[DenseArgs]):
    name = "dense"
    aliases = ("linear", "fc")
    Args = DenseArgs
    category = "dense"
    positional = ("units",)
    summary = ("Fully connected layer on a flat vector; with `axis=-1`, on the last axis of any tensor "
               "(PyTorch's `nn.Linear`: each token of an L×D sequence, each position of an H×W×C map).")
    shape_rule = "units (the input must be flat: C); with `axis=-1`, the last axis becomes units"
    params_rule = "in · units + units (bias), `in` the size of the last axis"
    macs_rule = "in · units per vector (× the other axes with `axis=-1`)"
    flops_rule = "2 · MACs + output elements (bias)"

    def shape(self, a: DenseArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        if a.axis is None:
            flat_size(self.name, x)
            return (a.units,)
        if a.axis not in (-1, len(x) - 1):
            raise ShapeError(f"`dense` works on the last axis (−1); axis {a.axis} of {fmt_shape(x)} is not it",
                             code="E202", expected="`axis=-1`",
                             hint="`transpose` or `permute` the axis to the end first (as MLP-Mixer's token MLP)")
        return (*x[:-1], a.units)

    def cost(self, a: DenseArgs, ins: list[Shape], out: Shape) -> Cost:
        x = ins[0]
        n_in = x[-1]
        vectors = prod(x[:-1])
        weights = n_in * a.units
        macs = weights * vectors
        b = prod(out) if a.bias else 0
        return Cost(params=weights + (a.units if a.bias else 0), macs=macs, flops=2 * macs + b,
                    connections=macs + b)

    def receptive(self, a: DenseArgs, ins: list[Shape]) -> Receptive:
        # on the last axis of a sequence or a channels-last map each vector is mixed on its own: the
        # field passes through (a dense over the token axis, MLP-Mixer's token MLP, is not seen as global)
        return GLOBAL if a.axis is None else None

    def describe(self, a: DenseArgs) -> str:
        return str(a.units) + ("" if a.bias else " no bias") + ("" if a.axis is None else " last axis")

    def pytorch(self, a: DenseArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.Linear", ins[0][-1], a.units, names=("in_features", "out_features"),
                    bias=Opt(a.bias, True))


class DropoutArgs(Args):
    p: float = 0.5

    @field_validator("p")
    @classmethod
    def _prob(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError("a dropout rate is at least 0 and below 1")
        return v


@register
class Dropout(LayerKind[DropoutArgs]):
    name = "dropout"
    Args = DropoutArgs
    category = "regularization"
    positional = ("p",)
    summary = "Dropout with rate p (no cost at inference)."
    view = True

    def describe(self, a: DropoutArgs) -> str:
        return f"{a.p:g}"

    def pytorch(self, a: DropoutArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.Dropout", a.p, names=("p",))


@register
class Identity(LayerKind[NoArgs]):
    name = "identity"
    Args = NoArgs
    category = "reshape"
    summary = "Passes its input through (an identity shortcut, a placeholder)."
    view = True

    def pytorch(self, a: NoArgs, ins: list[Shape], out: Shape) -> Torch:
        return None


class UpsampleArgs(Args):
    scale: Size = 2
    mode: Literal["nearest", "linear", "bilinear", "trilinear"] = "nearest"


@register
class Upsample(LayerKind[UpsampleArgs]):
    name = "upsample"
    Args = UpsampleArgs
    category = "resample"
    positional = ("scale",)
    summary = "Upsampling by an integer factor per axis, nearest or (bi/tri)linear."
    shape_rule = "C × n·scale per spatial axis"
    flops_rule = "0 for nearest; 2^d per output element for linear modes"

    def shape(self, a: UpsampleArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        nd = spatial_rank(x, self.name)
        s = norm_size(a.scale, nd, "scale")
        if min(s) < 1:
            raise ShapeError("upsampling scale must be at least 1", code="E202")
        return (x[0], *(n * si for n, si in zip(x[1:], s)))

    def cost(self, a: UpsampleArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=0 if a.mode == "nearest" else prod(out) * 2 ** (len(out) - 1))

    def receptive(self, a: UpsampleArgs, ins: list[Shape]) -> Receptive:
        s = norm_size(a.scale, len(ins[0]) - 1, "scale")
        return [RF(1 if a.mode == "nearest" else 2, Fraction(1, si), 0) for si in s]

    def describe(self, a: UpsampleArgs) -> str:
        s = a.scale if isinstance(a.scale, int) else max(a.scale)
        return f"×{s} {a.mode}"

    def pytorch(self, a: UpsampleArgs, ins: list[Shape], out: Shape) -> Torch:
        nd = len(ins[0]) - 1
        mode = a.mode if a.mode == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
        s = norm_size(a.scale, nd, "scale")
        scale = float(s[0]) if len(set(s)) == 1 else tuple(float(v) for v in s)
        return call("nn.Upsample", scale_factor=Opt(scale, None), mode=Opt(mode, "nearest"))


PadSpec = int | tuple[int | tuple[int, int], ...]


def pairs(v: PadSpec, nd: int, what: str) -> list[tuple[int, int]]:
    """`1` → (1, 1) on every axis; `(1, 2)` → per axis; `((1, 2), (3, 4))` → (before, after) per axis."""
    if isinstance(v, int):
        out = [(v, v)] * nd
    else:
        items = list(v)
        if len(items) == 1 and nd > 1:
            items = items * nd
        if len(items) != nd:
            raise ShapeError(f"{what} gives {len(items)} axes but the input has {nd} spatial axes",
                             expected=f"{nd} values or (before, after) pairs")
        out = [(i, i) if isinstance(i, int) else (int(i[0]), int(i[1])) for i in items]
    if any(b < 0 or e < 0 for b, e in out):
        raise ShapeError(f"{what} must not be negative", code="E202")
    return out


class ZeroPadArgs(Args):
    pad: PadSpec


@register
class ZeroPad(LayerKind[ZeroPadArgs]):
    name = "zeropad"
    Args = ZeroPadArgs
    category = "reshape"
    positional = ("pad",)
    summary = "Pads with zeros: `zeropad 1`, `zeropad (1, 2)`, `zeropad ((0, 1), (0, 1))` as (before, after) per axis."
    shape_rule = "C × n + before + after per spatial axis"

    def shape(self, a: ZeroPadArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        p = pairs(a.pad, spatial_rank(x, self.name), "padding")
        return (x[0], *(n + b + e for n, (b, e) in zip(x[1:], p)))

    def receptive(self, a: ZeroPadArgs, ins: list[Shape]) -> Receptive:
        p = pairs(a.pad, len(ins[0]) - 1, "padding")
        return [RF(1, 1, b) for b, _ in p]

    def describe(self, a: ZeroPadArgs) -> str:
        return str(a.pad)

    def pytorch(self, a: ZeroPadArgs, ins: list[Shape], out: Shape) -> Torch:
        return pad(pairs(a.pad, len(ins[0]) - 1, "padding"))


class CropArgs(Args):
    crop: PadSpec | None = None
    size: Size | None = None  # crop to this size, centred


@register
class Crop(LayerKind[CropArgs]):
    name = "crop"
    Args = CropArgs
    category = "reshape"
    positional = ("crop",)
    summary = "Crops borders: `crop 4` (4 from each side), `crop ((0, 1), (2, 2))`, or `crop size=28x28` (centred)."
    shape_rule = "C × n − before − after per spatial axis"

    def _pairs(self, a: CropArgs, x: Shape) -> list[tuple[int, int]]:
        nd = spatial_rank(x, self.name)
        if (a.crop is None) == (a.size is None):
            raise ShapeError("`crop` takes either an amount or `size=`", code="E202",
                             expected="`crop 4` or `crop size=28x28`")
        if a.size is not None:
            target = norm_size(a.size, nd, "size")
            if min(target) < 1:
                raise ShapeError(f"`crop` size must be at least 1 on every axis, got {fmt_shape(target)}", code="E202")
            if any(t > n for t, n in zip(target, x[1:])):
                raise ShapeError(f"cannot crop {fmt_shape(x[1:])} to the larger {fmt_shape(target)}")
            return [((n - t) // 2, n - t - (n - t) // 2) for n, t in zip(x[1:], target)]
        assert a.crop is not None
        return pairs(a.crop, nd, "crop")

    def shape(self, a: CropArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        p = self._pairs(a, x)
        out = tuple(n - b - e for n, (b, e) in zip(x[1:], p))
        if min(out) < 1:
            raise ShapeError(f"cropping {fmt_shape(x[1:])} by {p} leaves nothing")
        return (x[0], *out)

    def receptive(self, a: CropArgs, ins: list[Shape]) -> Receptive:
        return [RF(1, 1, -b) for b, _ in self._pairs(a, ins[0])]

    def describe(self, a: CropArgs) -> str:
        return f"to {a.size}" if a.size is not None else str(a.crop)

    def pytorch(self, a: CropArgs, ins: list[Shape], out: Shape) -> Torch:
        return Expr(crop("{0}", ins[0][1:], self._pairs(a, ins[0])))
