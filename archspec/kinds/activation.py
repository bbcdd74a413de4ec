"""Activations, usable as layers (`relu`) and as a shorthand after a conv or dense (`conv 64 3x3 relu`)."""

from __future__ import annotations

from typing import Any, ClassVar

from archspec.kinds.base import Args, Cost, LayerKind, NoArgs, Shape, ShapeError, prod, register
from archspec.kinds.torchspec import Opt, Torch, call


class _Activation(LayerKind[Any]):
    category = "activation"
    flops_rule = "1 · elements"
    ops_per_element: ClassVar[int] = 1
    torch_name: ClassVar[str]

    def cost(self, a: Any, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=self.ops_per_element * prod(out))

    def pytorch(self, a: Any, ins: list[Shape], out: Shape) -> Torch:
        return call("nn." + self.torch_name)


def _simple(name: str, torch_name: str, summary: str, aliases: tuple[str, ...] = ()) -> None:
    cls = type(name.capitalize(), (_Activation,), {
        "name": name, "aliases": aliases, "Args": NoArgs, "torch_name": torch_name, "summary": summary,
        "__module__": __name__})
    register(cls)


_simple("relu", "ReLU", "max(0, x)")
_simple("relu6", "ReLU6", "min(max(0, x), 6) (MobileNet)")
_simple("gelu", "GELU", "x · Φ(x)")
_simple("silu", "SiLU", "x · σ(x)", ("swish",))
_simple("tanh", "Tanh", "hyperbolic tangent")
_simple("sigmoid", "Sigmoid", "1 / (1 + e^−x)")
_simple("hardswish", "Hardswish", "x · relu6(x + 3) / 6 (MobileNet v3)")
_simple("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6")


class LeakyArgs(Args):
    slope: float = 0.01


@register
class LeakyReLU(_Activation):
    name = "leakyrelu"
    aliases = ("leaky_relu",)
    Args = LeakyArgs
    positional = ("slope",)
    summary = "max(0, x) + slope · min(0, x)"

    def pytorch(self, a: LeakyArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.LeakyReLU", negative_slope=Opt(a.slope, 0.01))


class EluArgs(Args):
    alpha: float = 1.0


@register
class ELU(_Activation):
    name = "elu"
    Args = EluArgs
    positional = ("alpha",)
    summary = "x if x > 0 else alpha · (e^x − 1)"

    def pytorch(self, a: EluArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.ELU", alpha=Opt(a.alpha, 1.0))


class PReluArgs(Args):
    shared: bool = False  # one slope for all channels instead of one per channel
    init: float = 0.25


@register
class PReLU(_Activation):
    name = "prelu"
    Args = PReluArgs
    flags = ("shared",)
    summary = "max(0, x) + a · min(0, x) with a learned slope a per channel (one for all with `shared`)"
    params_rule = "C (1 with `shared`)"

    def cost(self, a: PReluArgs, ins: list[Shape], out: Shape) -> Cost:
        c = super().cost(a, ins, out)
        c.params = 1 if a.shared else ins[0][0]
        return c

    def pytorch(self, a: PReluArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.PReLU", num_parameters=Opt(1 if a.shared else ins[0][0], 1), init=Opt(a.init, 0.25))


class SoftmaxArgs(Args):
    axis: int = 0  # the channel axis, without the batch


@register
class Softmax(_Activation):
    name = "softmax"
    Args = SoftmaxArgs
    ops_per_element = 3
    flops_rule = "3 · elements (exponential, sum, division)"
    summary = "Softmax over the channel axis (or `axis`)."

    def shape(self, a: SoftmaxArgs, ins: list[Shape]) -> Shape:
        if not 0 <= a.axis < len(ins[0]):
            raise ShapeError(f"`softmax` axis {a.axis} is outside the {len(ins[0])} axes of its input", code="E202",
                             expected=f"an axis from 0 (channels) to {len(ins[0]) - 1}")
        return ins[0]

    def pytorch(self, a: SoftmaxArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.Softmax", dim=a.axis + 1)


