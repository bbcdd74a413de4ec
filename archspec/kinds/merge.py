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


# -- products of two tensors --------------------------------------------------------------------------

class MatmulArgs(Args):
    pass


def _two(name: str, ins: list[Shape]) -> None:
    if len(ins) != 2:
        raise ShapeError(f"`{name}` multiplies two tensors, got {len(ins)}", code="E203",
                         expected=f"`{name} a b` with two named tensors (`_` is the current one)")


def _matmul(ins: list[Shape]) -> tuple[Shape, Shape, int, int, int]:
    """(broadcast batch axes, output, n, k, m) of torch.matmul on one sample's shapes: the last two axes
    multiplied (n×k by k×m; a vector is a row on the left, a column on the right, its axis dropped), the
    axes before them broadcast as torch does (aligned on the right, sizes equal or 1)."""
    _two("matmul", ins)
    a, b = ins
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    (n, k), (k2, m) = a2[-2:], b2[-2:]
    if k != k2:
        raise ShapeError(f"`matmul` of {fmt_shape(a)} and {fmt_shape(b)}: the first's last axis ({k}) is not "
                         f"the second's " + ("only axis" if len(b) == 1 else "second-to-last") + f" ({k2})",
                         expected=f"a second tensor of {k} rows (…×{k}×m)",
                         hint="`transpose` one of them, or `einsum` to name the axes to contract")
    ba, bb = a2[:-2], b2[:-2]
    rank = max(len(ba), len(bb))
    pa, pb = (1,) * (rank - len(ba)) + ba, (1,) * (rank - len(bb)) + bb
    batch = []
    for x, y in zip(pa, pb):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"`matmul` of {fmt_shape(a)} and {fmt_shape(b)}: their batch axes do not broadcast "
                             f"({x} against {y})", expected="batch axes of equal sizes, or 1 (aligned on the right)",
                             hint="the axes before the last two broadcast as torch.matmul's")
        batch.append(max(x, y))
    out = (*batch, *((n,) if len(a) > 1 else ()), *((m,) if len(b) > 1 else ()))
    if not out:
        raise ShapeError(f"`matmul` of two vectors ({fmt_shape(a)} and {fmt_shape(b)}) is one number per sample",
                         expected="a tensor with at least one axis per sample",
                         hint="`reshape 1x" + str(k) + "` the first: a 1×1 product")
    return tuple(batch), out, n, k, m


@register
class Matmul(LayerKind[MatmulArgs]):
    name = "matmul"
    aliases = ("bmm",)
    op = "merge"
    Args = MatmulArgs
    category = "merge"
    summary = ("The matrix product of two tensors, as torch.matmul on each sample: the last two axes multiplied "
               "(…×n×k by …×k×m; a vector is a row on the left, a column on the right), the axes before "
               "them (batched products: heads, windows) broadcast. Written `matmul a b`.")
    shape_rule = "…×n×k, …×k×m → broadcast(…)×n×m"
    macs_rule = "broadcast(…) · n · k · m (the output's elements × k)"
    flops_rule = "2 · MACs"

    def shape(self, a: MatmulArgs, ins: list[Shape]) -> Shape:
        return _matmul(ins)[1]

    def cost(self, a: MatmulArgs, ins: list[Shape], out: Shape) -> Cost:
        batch, _, n, k, m = _matmul(ins)
        macs = prod(batch) * n * k * m
        return Cost(macs=macs, flops=2 * macs, connections=macs)

    def pytorch(self, a: MatmulArgs, ins: list[Shape], out: Shape) -> Torch:
        x, y = ins
        rx, ry = max(len(x), 2), max(len(y), 2)  # the batch axis (first) must not broadcast against the others
        left = "{0}" + (".unsqueeze(-2)" if len(x) == 1 else "") + ("[:" + ", None" * (ry - rx) + "]" if ry > rx else "")
        right = "{1}" + (".unsqueeze(-1)" if len(y) == 1 else "") + ("[:" + ", None" * (rx - ry) + "]" if rx > ry else "")
        expr = f"torch.matmul({left}, {right})"
        if len(y) == 1:
            expr += ".squeeze(-1)"
        if len(x) == 1:
            expr += ".squeeze(-2)"
        return Expr(expr)


class EinsumArgs(Args):
    equation: str  # one sample's axes: "ij,jk->ik" (the batch axis is added)


def _einsum(eq: str, ins: list[Shape]) -> tuple[str, str, str, dict[str, int]]:
    """(first operand's letters, second's, output's, size of every letter) of a two-operand equation."""
    _two("einsum", ins)
    text = eq.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    ops = lhs.split(",")
    form = "two operands of letters and an output: \"ij,jk->ik\""
    if len(ops) != 2 or not all(o.isalpha() and o.isascii() for o in ops) or (arrow and rhs and not
                                                                              (rhs.isalpha() and rhs.isascii())):
        raise ShapeError(f"`einsum` equation {eq!r} is not two operands of axis letters", code="E202",
                         expected=form, hint="letters name one sample's axes; `...` is not supported")
    sizes: dict[str, int] = {}
    for o, s, which in zip(ops, ins, ("first", "second")):
        if len(o) != len(s):
            raise ShapeError(f"`einsum` {o!r} names {len(o)} axes of the {which} tensor, which has "
                             f"{len(s)}: {fmt_shape(s)}", expected=f"{len(s)} letters for {fmt_shape(s)}",
                             hint="letters name one sample's axes (the batch axis is not written)")
        if len(set(o)) != len(o):
            raise ShapeError(f"`einsum` {o!r} repeats a letter (a diagonal)", code="E202",
                             expected="distinct letters in each operand")
        for c, n in zip(o, s):
            if sizes.setdefault(c, n) != n:
                raise ShapeError(f"`einsum` {eq!r}: axis `{c}` is {sizes[c]} in the first tensor and {n} in "
                                 "the second", expected=f"the same size for `{c}` in both",
                                 hint="a letter names one axis: tensors that share it share its size")
    if arrow:
        out = rhs
        bad = [c for c in out if c not in sizes]
        if bad or len(set(out)) != len(out):
            raise ShapeError(f"`einsum` output {out!r} " + (f"names `{bad[0]}`, an axis of neither tensor" if bad
                                                             else "repeats a letter"), code="E202",
                             expected="distinct letters of the operands")
    else:  # as torch: the letters that appear once, in alphabetical order
        both = ops[0] + ops[1]
        out = "".join(sorted(c for c in sizes if both.count(c) == 1))
    if not out:
        raise ShapeError(f"`einsum` {eq!r} sums every axis: one number per sample",
                         expected="an output with at least one axis", hint="keep an axis of size 1 in the output")
    return ops[0], ops[1], out, sizes


@register
class Einsum(LayerKind[EinsumArgs]):
    name = "einsum"
    op = "merge"
    Args = EinsumArgs
    category = "merge"
    positional = ("equation",)
    summary = ("A product of two tensors written as an Einstein summation over one sample's axes, as "
               "torch.einsum: `einsum \"hqd,hkd->hqk\" q k` (the batch axis is added). Letters in both "
               "operands and not in the output are summed; without `->`, the output is the letters that "
               "appear once, in alphabetical order.")
    shape_rule = "the output letters' sizes"
    macs_rule = "∏ the sizes of every letter (the free and the contracted axes)"
    flops_rule = "2 · MACs"

    def shape(self, a: EinsumArgs, ins: list[Shape]) -> Shape:
        _, _, out, sizes = _einsum(a.equation, ins)
        return tuple(sizes[c] for c in out)

    def cost(self, a: EinsumArgs, ins: list[Shape], out: Shape) -> Cost:
        macs = prod(tuple(_einsum(a.equation, ins)[3].values()))
        return Cost(macs=macs, flops=2 * macs, connections=macs)

    def describe(self, a: EinsumArgs) -> str:
        return a.equation.replace(" ", "")

    def pytorch(self, a: EinsumArgs, ins: list[Shape], out: Shape) -> Torch:
        x, y, o, sizes = _einsum(a.equation, ins)
        n = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in sizes)
        return Expr(f'torch.einsum("{n}{x},{n}{y}->{n}{o}", {{0}}, {{1}})')
