"""Merges: several tensors into one, by concatenation (channel axis), addition or multiplication."""

from __future__ import annotations

from typing import Literal

from archspec.kinds.base import (
    Args,
    Cost,
    LayerKind,
    Shape,
    ShapeError,
    fmt_shape,
    prod,
    register,
)
from archspec.kinds.torchspec import Expr, Helper, Torch, crop


class ConcatArgs(Args):
    axis: int = 0  # channels
    crop: Literal["none", "center"] = "none"  # centre-crop every input to the smallest (U-Net's skips)


def _fmt_all(ins: list[Shape]) -> str:
    return " and ".join(fmt_shape(s) for s in ins)


def center_crops(ins: list[Shape]) -> list[list[tuple[int, int]]]:
    """(before, after) crop per spatial axis that brings each input to the smallest spatial size."""
    target = [min(s[i] for s in ins) for i in range(1, len(ins[0]))]
    return [[((n - t) // 2, n - t - (n - t) // 2) for n, t in zip(s[1:], target)] for s in ins]


@register
class Concat(LayerKind[ConcatArgs]):
    name = "concat"
    takes = "any"
    op = "merge"
    Args = ConcatArgs
    category = "merge"
    summary = "Concatenates its inputs along the channel axis (`axis`); `crop=center` crops them to a common size."
    shape_rule = "Σ C_i × the common spatial size"

    def shape(self, a: ConcatArgs, ins: list[Shape]) -> Shape:
        ranks = {len(s) for s in ins}
        if len(ranks) > 1:
            raise ShapeError(f"`concat` of tensors of different ranks: {_fmt_all(ins)}", code="E301")
        rank = ranks.pop()
        if not 0 <= a.axis < rank:
            raise ShapeError(f"`concat` axis {a.axis} is outside the {rank} axes of its inputs", code="E202")
        shapes = ins
        if a.crop == "center":
            if a.axis != 0:
                raise ShapeError("`crop=center` concatenates along channels (axis 0)", code="E202")
            shapes = [(s[0], *(min(t[i] for t in ins) for i in range(1, rank))) for s in ins]
        rest = {s[:a.axis] + s[a.axis + 1:] for s in shapes}
        if len(rest) > 1:
            raise ShapeError(f"`concat` of {_fmt_all(ins)}: the sizes off the concatenation axis differ",
                             expected="inputs that differ only along axis " + str(a.axis), code="E301",
                             hint="crop or pad the larger input, or write `crop=center` (U-Net's crop-and-concat)")
        first = shapes[0]
        return (*first[:a.axis], sum(s[a.axis] for s in shapes), *first[a.axis + 1:])

    def describe(self, a: ConcatArgs) -> str:
        return "crop" if a.crop == "center" else ""

    def pytorch(self, a: ConcatArgs, ins: list[Shape], out: Shape) -> Torch:
        if a.crop == "center":
            smallest = next((i for i, s in enumerate(ins) if s[1:] == out[1:]), None)
            if smallest is not None:  # crop the others to it, whatever the sizes: one expression for every size
                parts = [f"{{{i}}}" if s[1:] == out[1:] else f"center_crop({{{i}}}, {{{smallest}}})"
                         for i, s in enumerate(ins)]
                return Expr(f"torch.cat([{', '.join(parts)}], {a.axis + 1})", CENTER_CROP)
        crops = center_crops(ins) if a.crop == "center" else [[] for _ in ins]
        parts = [crop(f"{{{i}}}", s[1:], c) if c else f"{{{i}}}" for i, (s, c) in enumerate(zip(ins, crops))]
        return Expr(f"torch.cat([{', '.join(parts)}], {a.axis + 1})")


CENTER_CROP = Helper("center_crop", '''\
def center_crop(x: Tensor, like: Tensor) -> Tensor:
    """`x` cut to the spatial size of `like`, centred (U-Net's crop-and-concat)."""
    for axis in range(2, x.dim()):
        x = x.narrow(axis, (x.shape[axis] - like.shape[axis]) // 2, like.shape[axis])
    return x
''')


class ElementwiseArgs(Args):
    pass


def broadcast(name: str, ins: list[Shape]) -> Shape:
    """Channel-first broadcasting: a shorter shape gets trailing 1s (C → C×1×1); then sizes must match or be 1."""
    rank = max(len(s) for s in ins)
    padded = [s + (1,) * (rank - len(s)) for s in ins]
    out = []
    for i in range(rank):
        sizes = {s[i] for s in padded} - {1}
        if len(sizes) > 1:
            what = "channels" if i == 0 else f"axis {i}"
            hint = ("a projection on the shortcut (`conv C 1x1`) makes the channels match" if i == 0
                    else "give both paths the same stride and padding")
            raise ShapeError(f"`{name}` of {_fmt_all(ins)}: the {what} differ", code="E301",
                             expected="equal shapes (or 1 along an axis, to broadcast)", hint=hint)
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class _Elementwise(LayerKind[ElementwiseArgs]):
    op = "merge"
    Args = ElementwiseArgs
    category = "merge"
    shape_rule = "the common shape (channel-first broadcasting: C matches C×H×W)"
    flops_rule = "(inputs − 1) · out elements"

    def shape(self, a: ElementwiseArgs, ins: list[Shape]) -> Shape:
        return broadcast(self.name, ins)

    def cost(self, a: ElementwiseArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=(len(ins) - 1) * prod(out))

    def pytorch(self, a: ElementwiseArgs, ins: list[Shape], out: Shape) -> Torch:
        op = " + " if self.name == "add" else " * "
        return Expr(op.join(f"{{{i}}}" + ("[" + ", ".join([":"] * (len(s) + 1) + ["None"] * (len(out) - len(s))) + "]"
                                          if len(s) < len(out) else "") for i, s in enumerate(ins)))


@register
class Add(_Elementwise):
    name = "add"
    summary = "Elementwise sum of its inputs (residual connections)."


@register
class Mul(_Elementwise):
    name = "mul"
    summary = "Elementwise product of its inputs (squeeze-and-excitation gates); C broadcasts over C×H×W."
