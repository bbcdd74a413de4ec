"""Input, dense, and the layers that only move data: dropout, stochastic depth, identity, upsample, resize,
zero padding, crop, output."""

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
from archspec.kinds.torchspec import Expr, Helper, Opt, Torch, call, crop, pad

MAX_ELEMENTS = 2**40  # a tensor larger than this (per sample) is refused: E600


class InputArgs(Args):
    shape: Size
    tokens: bool = False  # integer token ids (int64), not values: `input 100 tokens vocab=10000`
    vocab: int | None = None  # the ids are 0 … vocab − 1 (implies `tokens`)

    @field_validator("vocab")
    @classmethod
    def _vocab(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("a vocabulary holds at least one token")
        return v

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
    flags = ("tokens",)
    takes = "any"
    summary = ("A network input, channels first without the batch: `input 3x224x224`, `input 784`; "
               "`input 100 tokens vocab=10000` is a sequence of 100 integer token ids from 0 to 9,999 "
               "(int64; `embedding` looks them up).")
    shape_rule = "the given shape"
    view = True

    def dtype(self, a: InputArgs, ins: list[str]) -> str:
        return "int64" if a.tokens or a.vocab is not None else "float32"

    def shape(self, a: InputArgs, ins: list[Shape]) -> Shape:
        s = (a.shape,) if isinstance(a.shape, int) else tuple(a.shape)
        if prod(s) > MAX_ELEMENTS:
            raise ShapeError(f"input of {prod(s):,} elements is beyond archspec's limit", code="E600",
                             expected=f"at most {MAX_ELEMENTS:,} elements per sample")
        return s

    def describe(self, a: InputArgs) -> str:
        if a.tokens or a.vocab is not None:
            return "token ids" + (f" < {a.vocab:,}" if a.vocab is not None else "")
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

    def weight(self, a: DenseArgs, ins: list[Shape]) -> Shape | None:
        return (a.units, ins[0][-1])  # nn.Linear's: out × in

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


class StochasticDepthArgs(Args):
    p: float
    mode: Literal["row", "batch"] = "row"

    @field_validator("p")
    @classmethod
    def _prob(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError("a drop rate from 0 to 1")
        return v


@register
class StochasticDepth(LayerKind[StochasticDepthArgs]):
    name = "stochasticdepth"
    aliases = ("droppath",)
    Args = StochasticDepthArgs
    category = "regularization"
    positional = ("p",)
    summary = ("Stochastic depth (Huang et al. 2016) on a residual branch: in training it drops the whole "
               "branch with rate p, per sample (`mode=row`, torchvision's StochasticDepth) or for the batch, "
               "and scales the kept ones by 1/(1 − p); identity at inference.")
    view = True

    def describe(self, a: StochasticDepthArgs) -> str:
        return f"{a.p:.4g}" + ("" if a.mode == "row" else " batch")

    def pytorch(self, a: StochasticDepthArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("StochasticDepth", a.p, names=("p",), helper=STOCHASTIC_DEPTH, mode=Opt(a.mode, "row"))


STOCHASTIC_DEPTH = Helper("StochasticDepth", '''\
class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero the input with probability p per sample
    ("row") or for the whole batch ("batch") and scale what is kept by 1/(1 − p); identity otherwise."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise
''')


@register
class Identity(LayerKind[NoArgs]):
    name = "identity"
    takes = "any"
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


class ResizeArgs(Args):
    size: Size
    mode: Literal["nearest", "bilinear"] = "bilinear"  # `bilinear` is linear or trilinear in 1D and 3D
    align_corners: bool = False


def _interpolate(a: ResizeArgs, x: Shape, size: tuple[int, ...], like: str | None = None) -> Expr:
    nd = len(x) - 1
    mode = a.mode if a.mode == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
    target = f"{like}.shape[2:]" if like else "(" + ", ".join(map(str, size)) + ("," if nd == 1 else "") + ")"
    corners = "" if mode == "nearest" else f", align_corners={a.align_corners}"
    return Expr(f'F.interpolate({{0}}, size={target}, mode="{mode}"{corners})')


def _resize_cost(a: ResizeArgs, out: Shape) -> Cost:
    return Cost(flops=0 if a.mode == "nearest" else prod(out) * 2 ** (len(out) - 1))


def _resize_rf(x: Shape, size: tuple[int, ...], a: ResizeArgs) -> Receptive:
    return [RF(1 if a.mode == "nearest" else 2, Fraction(n, o), 0) for n, o in zip(x[1:], size)]


@register
class Resize(LayerKind[ResizeArgs]):
    name = "resize"
    Args = ResizeArgs
    category = "resample"
    positional = ("size",)
    summary = ("Resizes the spatial axes to `size` by interpolation (PyTorch's `F.interpolate`), bilinear by "
               "default (DeepLab's head): `resize 520x520`. `resize_like` takes the size of another tensor.")
    shape_rule = "C × size"
    flops_rule = "0 for nearest; 2^d per output element for (bi/tri)linear"

    def _size(self, a: ResizeArgs, x: Shape) -> tuple[int, ...]:
        size = norm_size(a.size, spatial_rank(x, self.name), "size")
        if min(size) < 1:
            raise ShapeError(f"`resize` to {fmt_shape(size)}", code="E202", expected="sizes of at least 1")
        return size

    def shape(self, a: ResizeArgs, ins: list[Shape]) -> Shape:
        return (ins[0][0], *self._size(a, ins[0]))

    def cost(self, a: ResizeArgs, ins: list[Shape], out: Shape) -> Cost:
        return _resize_cost(a, out)

    def receptive(self, a: ResizeArgs, ins: list[Shape]) -> Receptive:
        return _resize_rf(ins[0], self._size(a, ins[0]), a)

    def describe(self, a: ResizeArgs) -> str:
        return f"to {fmt_shape(a.size if isinstance(a.size, tuple) else (a.size,))} {a.mode}"

    def pytorch(self, a: ResizeArgs, ins: list[Shape], out: Shape) -> Torch:
        return _interpolate(a, ins[0], self._size(a, ins[0]))


class ResizeLikeArgs(Args):
    mode: Literal["nearest", "bilinear"] = "bilinear"
    align_corners: bool = False


@register
class ResizeLike(LayerKind[ResizeLikeArgs]):
    name = "resize_like"
    op = "merge"
    Args = ResizeLikeArgs
    category = "resample"
    summary = ("Resizes its first tensor to the spatial size of its second, by interpolation: `resize_like _ image` "
               "(DeepLab's head returns to the input's size). Only the second's shape is read.")
    shape_rule = "C of the first × the spatial size of the second"
    flops_rule = "0 for nearest; 2^d per output element for (bi/tri)linear"

    def _resize(self, a: ResizeLikeArgs) -> ResizeArgs:
        return ResizeArgs(size=1, mode=a.mode, align_corners=a.align_corners)

    def shape(self, a: ResizeLikeArgs, ins: list[Shape]) -> Shape:
        if len(ins) != 2:
            raise ShapeError(f"`resize_like` takes two tensors, got {len(ins)}", code="E203",
                             expected="`resize_like x like`: the tensor, then the one whose size it takes")
        x, like = ins
        spatial_rank(x, self.name)
        if len(like) != len(x):
            raise ShapeError(f"`resize_like` of a {fmt_shape(x)} tensor to the size of a {fmt_shape(like)} one",
                             code="E301", expected="two tensors with the same number of spatial axes")
        return (x[0], *like[1:])

    def cost(self, a: ResizeLikeArgs, ins: list[Shape], out: Shape) -> Cost:
        return _resize_cost(self._resize(a), out)

    def receptive(self, a: ResizeLikeArgs, ins: list[Shape]) -> Receptive:
        return _resize_rf(ins[0], ins[1][1:], self._resize(a))

    def describe(self, a: ResizeLikeArgs) -> str:
        return a.mode

    def pytorch(self, a: ResizeLikeArgs, ins: list[Shape], out: Shape) -> Torch:
        return _interpolate(self._resize(a), ins[0], out[1:], like="{1}")


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
    takes = "any"
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
