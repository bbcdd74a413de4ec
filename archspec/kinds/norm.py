"""Normalisation: batch norm, local response norm, layer norm (over the last axes or the channels),
group norm, and layer scale (a learned scale per channel)."""

from __future__ import annotations

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    Args,
    Cost,
    LayerKind,
    Shape,
    ShapeError,
    fmt_shape,
    prod,
    register,
    spatial_rank,
)
from archspec.kinds.torchspec import Helper, Opt, Own, Torch, call


class BatchNormArgs(Args):
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    @field_validator("eps")
    @classmethod
    def _eps(cls, v: float) -> float:
        if not v > 0:  # PyTorch: "batch_norm eps must be positive during training" (non-negative in eval)
            raise ValueError("a positive number (PyTorch refuses eps ≤ 0 in training)")
        return v


@register
class BatchNorm(LayerKind[BatchNormArgs]):
    name = "batchnorm"
    aliases = ("bn",)
    Args = BatchNormArgs
    category = "norm"
    summary = "Batch normalisation over the channel axis (1D, 2D or 3D)."
    params_rule = "2·C (scale and shift; 0 without `affine`); buffers 2·C (running mean and variance)"
    flops_rule = "2 · elements (a scale and a shift at inference)"

    def cost(self, a: BatchNormArgs, ins: list[Shape], out: Shape) -> Cost:
        c = ins[0][0]
        n = 1
        for s in out:
            n *= s
        return Cost(params=2 * c if a.affine else 0, buffers=2 * c, flops=2 * n)

    def describe(self, a: BatchNormArgs) -> str:
        return "" if a.affine else "no affine"

    def pytorch(self, a: BatchNormArgs, ins: list[Shape], out: Shape) -> Torch:
        nd = max(len(ins[0]) - 1, 1)
        return call(f"nn.BatchNorm{nd}d", ins[0][0], names=("num_features",),
                    eps=Opt(a.eps, 1e-5), momentum=Opt(a.momentum, 0.1), affine=Opt(a.affine, True))


class LRNArgs(Args):
    size: PositiveInt = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@register
class LRN(LayerKind[LRNArgs]):
    name = "lrn"
    Args = LRNArgs
    category = "norm"
    positional = ("size",)
    summary = ("Local response normalisation across `size` neighbouring channels (AlexNet, GoogLeNet); "
               "as in Caffe and PyTorch, `alpha` is divided by `size`.")
    flops_rule = "(size + 3) · elements (squares summed over the window, scale, power, divide)"

    def shape(self, a: LRNArgs, ins: list[Shape]) -> Shape:
        spatial_rank(ins[0], self.name)  # channels of maps, as PyTorch's LocalResponseNorm needs
        return ins[0]

    def cost(self, a: LRNArgs, ins: list[Shape], out: Shape) -> Cost:
        n = 1
        for s in out:
            n *= s
        return Cost(flops=(a.size + 3) * n)

    def describe(self, a: LRNArgs) -> str:
        return f"size {a.size}"

    def pytorch(self, a: LRNArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.LocalResponseNorm", a.size, names=("size",),
                    alpha=Opt(a.alpha, 1e-4), beta=Opt(a.beta, 0.75), k=Opt(a.k, 1.0))


def _norm_eps(v: float) -> float:
    if not v > 0:
        raise ValueError("a positive number")
    return v


class LayerNormArgs(Args):
    axes: PositiveInt = 1  # the last `axes` axes are normalised together (nn.LayerNorm's normalized_shape)
    channels_first: bool = False  # over the channels (axis 0) at each position of a C×H×W map (ConvNeXt's LayerNorm2d)
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True

    @field_validator("eps")
    @classmethod
    def _eps(cls, v: float) -> float:
        return _norm_eps(v)


@register
class LayerNorm(LayerKind[LayerNormArgs]):
    name = "layernorm"
    aliases = ("ln",)
    Args = LayerNormArgs
    category = "norm"
    flags = ("channels_first",)
    summary = ("Layer normalisation over the last `axes` axes (PyTorch's `nn.LayerNorm`: the features of each "
               "token of L×D), or with `channels_first` over the channels at each position of a channels-first map "
               "(ConvNeXt's LayerNorm2d).")
    shape_rule = "output = input"
    params_rule = "2 · ∏ normalised axes (scale and shift; no shift without `bias`, none without `affine`)"
    flops_rule = "5 · elements (mean, variance, normalisation, scale, shift)"

    def _normalised(self, a: LayerNormArgs, x: Shape) -> tuple[int, ...]:
        if a.channels_first:
            if len(x) < 2:
                raise ShapeError(f"`layernorm channels_first` needs a channels-first map, got {fmt_shape(x)}",
                                 expected="C×L, C×H×W or C×D×H×W", hint="without `channels_first` it normalises the last axis")
            return (x[0],)
        if a.axes > len(x):
            raise ShapeError(f"`layernorm` over the last {a.axes} axes of a {fmt_shape(x)} input", code="E202",
                             expected=f"at most {len(x)} axes")
        return x[len(x) - a.axes:]

    def shape(self, a: LayerNormArgs, ins: list[Shape]) -> Shape:
        self._normalised(a, ins[0])
        return ins[0]

    def cost(self, a: LayerNormArgs, ins: list[Shape], out: Shape) -> Cost:
        n = prod(self._normalised(a, ins[0]))
        params = (n + (n if a.bias else 0)) if a.affine else 0
        return Cost(params=params, flops=5 * prod(out))

    def describe(self, a: LayerNormArgs) -> str:
        parts = ["channels first"] if a.channels_first else ([f"last {a.axes} axes"] if a.axes > 1 else [])
        if a.eps != 1e-5:
            parts.append(f"eps {a.eps:g}")
        return " ".join(parts)

    def pytorch(self, a: LayerNormArgs, ins: list[Shape], out: Shape) -> Torch:
        shape = self._normalised(a, ins[0])
        norm = shape[0] if len(shape) == 1 else shape
        return call("LayerNorm2d" if a.channels_first else "nn.LayerNorm", norm, names=("normalized_shape",),
                    helper=LAYER_NORM_2D if a.channels_first else None, eps=Opt(a.eps, 1e-5),
                    elementwise_affine=Opt(a.affine, True), bias=Opt(a.bias, True))


LAYER_NORM_2D = Helper("LayerNorm2d", '''\
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of a channels-first map (torchvision's ConvNeXt
    LayerNorm2d; any number of spatial axes)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.movedim(1, -1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)
''')


class GroupNormArgs(Args):
    groups: PositiveInt
    eps: float = 1e-5
    affine: bool = True

    @field_validator("eps")
    @classmethod
    def _eps(cls, v: float) -> float:
        return _norm_eps(v)


@register
class GroupNorm(LayerKind[GroupNormArgs]):
    name = "groupnorm"
    aliases = ("gn",)
    Args = GroupNormArgs
    category = "norm"
    positional = ("groups",)
    summary = "Group normalisation: the channels in `groups` groups, each normalised over its channels and positions."
    params_rule = "2·C (scale and shift; 0 without `affine`)"
    flops_rule = "5 · elements (mean, variance, normalisation, scale, shift)"

    def shape(self, a: GroupNormArgs, ins: list[Shape]) -> Shape:
        c = ins[0][0]
        if len(ins[0]) < 2 or c % a.groups:
            raise ShapeError(f"`groupnorm` of {fmt_shape(ins[0])} in {a.groups} groups",
                             expected=f"a channels-first input whose channels divide into {a.groups} groups")
        return ins[0]

    def cost(self, a: GroupNormArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(params=2 * ins[0][0] if a.affine else 0, flops=5 * prod(out))

    def describe(self, a: GroupNormArgs) -> str:
        return f"{a.groups} groups"

    def pytorch(self, a: GroupNormArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.GroupNorm", a.groups, ins[0][0], names=("num_groups", "num_channels"),
                    eps=Opt(a.eps, 1e-5), affine=Opt(a.affine, True))


class LayerScaleArgs(Args):
    init: float = 1e-6
    axis: int = 0  # the channels of a channels-first map; −1 for the features of L×D tokens


@register
class LayerScale(LayerKind[LayerScaleArgs]):
    name = "layerscale"
    Args = LayerScaleArgs
    category = "norm"
    positional = ("init",)
    summary = ("A learned scale per channel (ConvNeXt, CaiT), initialised to `init`: along axis 0 of a "
               "channels-first map (a C×1×1 parameter, as torchvision's), `axis=-1` for tokens. Compiled, "
               "it is its block's own parameter (listed before the block's layers, as torchvision's).")
    params_rule = "the size of `axis`"
    flops_rule = "1 · elements"

    def _shape(self, a: LayerScaleArgs, x: Shape) -> tuple[int, ...]:
        rank = len(x)
        if not -rank <= a.axis < rank:
            raise ShapeError(f"`layerscale` axis {a.axis} is outside the {rank} axes of {fmt_shape(x)}", code="E202",
                             expected=f"an axis from 0 to {rank - 1}")
        ax = a.axis % rank
        return (x[ax],) + (1,) * (rank - ax - 1)

    def shape(self, a: LayerScaleArgs, ins: list[Shape]) -> Shape:
        self._shape(a, ins[0])
        return ins[0]

    def cost(self, a: LayerScaleArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(params=self._shape(a, ins[0])[0], flops=prod(out))

    def describe(self, a: LayerScaleArgs) -> str:
        return f"init {a.init:g}"

    def pytorch(self, a: LayerScaleArgs, ins: list[Shape], out: Shape) -> Torch:
        # the enclosing block's own parameter, as torchvision's CNBlock holds `layer_scale`
        return Own(self._shape(a, ins[0]), "full", a.init, "{p} * {0}")
