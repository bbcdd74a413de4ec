"""Normalisation: batch norm and local response norm."""

from __future__ import annotations

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import Args, Cost, LayerKind, Shape, register, spatial_rank
from archspec.kinds.torchspec import Opt, Torch, call


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
