"""Tensors that are not images: token sequences (L×D) and tensors of any rank, and the layers that move
their axes about: reshape, flatten of chosen axes, transpose, permute, a part along an axis (chunk,
split), channel shuffle, selecting one index along an axis (a class token), mean over an axis.

Axes are counted without the batch, as shapes are written: 0 is the first axis (the channels of a
C×H×W map, the tokens of an L×D sequence); a negative axis counts from the end (−1 is the last). A
shape stays in PyTorch's layout: maps are channels first, token sequences are L×D (features last).
"""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    GLOBAL,
    Args,
    Cost,
    LayerKind,
    Receptive,
    Shape,
    ShapeError,
    Size,
    fmt_shape,
    prod,
    register,
)
from archspec.kinds.torchspec import Expr, Helper, Own, Torch


def axis_of(axis: int, x: Shape, layer: str, what: str = "axis") -> int:
    """`axis` (negative from the end) as an index into `x`; outside its axes a diagnostic."""
    rank = len(x)
    if not -rank <= axis < rank:
        raise ShapeError(f"`{layer}` {what} {axis} is outside the {rank} axes of its {fmt_shape(x)} input",
                         code="E202", expected=f"an axis from 0 to {rank - 1} (or −1 for the last)",
                         hint="axes are counted without the batch: 0 is the channels of C×H×W, the tokens of L×D")
    return axis % rank


def _t(axis: int) -> int:
    """The axis in PyTorch, where the batch comes first."""
    return axis + 1


def _sizes(v: Size) -> tuple[int, ...]:
    return (v,) if isinstance(v, int) else tuple(v)


class ReshapeArgs(Args):
    shape: Size  # the new shape without the batch; one size may be −1 (inferred)

    @field_validator("shape")
    @classmethod
    def _ok(cls, v: Size) -> Size:
        t = _sizes(v)
        if not t or any(s == 0 or s < -1 for s in t) or t.count(-1) > 1:
            raise ValueError("a shape of positive sizes, at most one of them −1 (inferred)")
        return v


@register
class Reshape(LayerKind[ReshapeArgs]):
    name = "reshape"
    takes = "any"
    Args = ReshapeArgs
    category = "reshape"
    positional = ("shape",)
    summary = ("The same elements in a new shape, in PyTorch's (row-major) order: `reshape 196x768`; "
               "one size may be −1, inferred: `reshape (-1, 768)`.")
    shape_rule = "the given shape (∏ must equal ∏ input)"
    view = True

    def shape(self, a: ReshapeArgs, ins: list[Shape]) -> Shape:
        x, t = ins[0], _sizes(a.shape)
        n, known = prod(x), prod(tuple(s for s in t if s != -1))
        if -1 in t:
            if n % known:
                raise ShapeError(f"`reshape` cannot fit the {n:,} elements of {fmt_shape(x)} into "
                                 f"{fmt_shape(t)}: {n:,} is not a multiple of {known:,}",
                                 expected=f"sizes whose product divides {n:,}",
                                 hint="check the sizes against the input's shape")
            return tuple(n // known if s == -1 else s for s in t)
        if known != n:
            raise ShapeError(f"`reshape` to {fmt_shape(t)} ({known:,} elements) of a {fmt_shape(x)} input "
                             f"({n:,} elements): the sizes do not multiply out",
                             expected=f"sizes whose product is {n:,}",
                             hint="one size may be −1, inferred from the others")
        return t

    def describe(self, a: ReshapeArgs) -> str:
        return "→ " + fmt_shape(_sizes(a.shape))

    def pytorch(self, a: ReshapeArgs, ins: list[Shape], out: Shape) -> Torch:
        return Expr("{0}.reshape({0}.shape[0], " + ", ".join(map(str, out)) + ")")


class FlattenArgs(Args):
    start: int = 0  # the first axis flattened (without the batch)
    end: int = -1  # the last one, included


@register
class Flatten(LayerKind[FlattenArgs]):
    name = "flatten"
    takes = "any"
    Args = FlattenArgs
    category = "reshape"
    summary = ("Flattens axes `start` to `end` (all by default: C×H×W → C·H·W, channels-first order, as "
               "PyTorch flattens); `flatten start=1` makes C×H×W a C×(H·W) sequence.")
    shape_rule = "∏ input (axes start..end merged into one)"
    view = True

    def _axes(self, a: FlattenArgs, x: Shape) -> tuple[int, int]:
        s, e = axis_of(a.start, x, self.name, "start"), axis_of(a.end, x, self.name, "end")
        if s > e:
            raise ShapeError(f"`flatten` start axis {s} is after its end axis {e}", code="E202",
                             expected="start ≤ end")
        return s, e

    def shape(self, a: FlattenArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        s, e = self._axes(a, x)
        return (*x[:s], prod(x[s:e + 1]), *x[e + 1:])

    def describe(self, a: FlattenArgs) -> str:
        return "" if (a.start, a.end) == (0, -1) else f"axes {a.start}..{a.end}"

    def pytorch(self, a: FlattenArgs, ins: list[Shape], out: Shape) -> Torch:
        s, e = self._axes(a, ins[0])
        if e == len(ins[0]) - 1:
            return Expr(f"torch.flatten({{0}}, {_t(s)})")
        return Expr(f"torch.flatten({{0}}, {_t(s)}, {_t(e)})")


class TransposeArgs(Args):
    a: int = 0
    b: int = 1


@register
class Transpose(LayerKind[TransposeArgs]):
    name = "transpose"
    takes = "any"
    Args = TransposeArgs
    category = "reshape"
    positional = ("a", "b")
    summary = "Swaps two axes (0 and 1 by default: C×L ↔ L×C, tokens and features)."
    shape_rule = "input with axes a and b swapped"

    def shape(self, a: TransposeArgs, ins: list[Shape]) -> Shape:
        x = list(ins[0])
        i, j = axis_of(a.a, ins[0], self.name), axis_of(a.b, ins[0], self.name)
        x[i], x[j] = x[j], x[i]
        return tuple(x)

    def describe(self, a: TransposeArgs) -> str:
        return f"{a.a}↔{a.b}"

    def pytorch(self, a: TransposeArgs, ins: list[Shape], out: Shape) -> Torch:
        i, j = axis_of(a.a, ins[0], self.name), axis_of(a.b, ins[0], self.name)
        return Expr(f"{{0}}.transpose({_t(i)}, {_t(j)})")


class PermuteArgs(Args):
    order: tuple[int, ...]


@register
class Permute(LayerKind[PermuteArgs]):
    name = "permute"
    takes = "any"
    Args = PermuteArgs
    category = "reshape"
    positional = ("order",)
    summary = "Reorders the axes: `permute (1, 2, 0)` makes C×H×W an H×W×C map (ConvNeXt's channels-last block)."
    shape_rule = "input axes in the given order"

    def _order(self, a: PermuteArgs, x: Shape) -> tuple[int, ...]:
        order = tuple(axis_of(i, x, self.name) for i in a.order)
        if len(order) != len(x) or sorted(order) != list(range(len(x))):
            raise ShapeError(f"`permute` order {a.order} is not an order of the {len(x)} axes of {fmt_shape(x)}",
                             code="E202", expected=f"each of 0 to {len(x) - 1} once, e.g. "
                                                   f"{(*range(1, len(x)), 0)}")
        return order

    def shape(self, a: PermuteArgs, ins: list[Shape]) -> Shape:
        return tuple(ins[0][i] for i in self._order(a, ins[0]))

    def describe(self, a: PermuteArgs) -> str:
        return str(a.order)

    def pytorch(self, a: PermuteArgs, ins: list[Shape], out: Shape) -> Torch:
        order = self._order(a, ins[0])
        return Expr("{0}.permute(0, " + ", ".join(str(_t(i)) for i in order) + ")")


class ChunkArgs(Args):
    chunks: PositiveInt
    part: int  # which chunk this layer gives: 0, 1, ...
    axis: int = 0


@register
class Chunk(LayerKind[ChunkArgs]):
    name = "chunk"
    takes = "any"
    Args = ChunkArgs
    category = "reshape"
    positional = ("chunks", "part")
    summary = ("One of `chunks` equal parts along `axis` (channels by default), as PyTorch's `chunk`: "
               "`x1 = chunk 2 0`, `x2 = chunk 2 1` name the two halves (ShuffleNet v2's channel split).")
    shape_rule = "axis size / chunks"
    view = True

    def _geo(self, a: ChunkArgs, x: Shape) -> tuple[int, int, int]:
        ax = axis_of(a.axis, x, self.name)
        if x[ax] % a.chunks:
            raise ShapeError(f"`chunk` cannot cut axis {ax} of {fmt_shape(x)} ({x[ax]}) into {a.chunks} equal parts",
                             expected=f"a size divisible by {a.chunks}", hint="`split` takes unequal sizes")
        if not 0 <= a.part < a.chunks:
            raise ShapeError(f"`chunk` part {a.part} of {a.chunks}", code="E202",
                             expected=f"a part from 0 to {a.chunks - 1}")
        size = x[ax] // a.chunks
        return ax, a.part * size, size

    def shape(self, a: ChunkArgs, ins: list[Shape]) -> Shape:
        ax, _, size = self._geo(a, ins[0])
        return (*ins[0][:ax], size, *ins[0][ax + 1:])

    def describe(self, a: ChunkArgs) -> str:
        return f"{a.part + 1}/{a.chunks}" + (f" axis {a.axis}" if a.axis else "")

    def pytorch(self, a: ChunkArgs, ins: list[Shape], out: Shape) -> Torch:
        ax, _, _ = self._geo(a, ins[0])
        return Expr(f"{{0}}.chunk({a.chunks}, dim={_t(ax)})[{a.part}]")


class SplitArgs(Args):
    sizes: tuple[int, ...]
    part: int
    axis: int = 0


@register
class Split(LayerKind[SplitArgs]):
    name = "split"
    takes = "any"
    Args = SplitArgs
    category = "reshape"
    positional = ("sizes", "part")
    summary = "One part of a split along `axis` into the given sizes: `q = split (768, 768, 768) 0 axis=-1`."
    shape_rule = "sizes[part] along axis"
    view = True

    def _geo(self, a: SplitArgs, x: Shape) -> tuple[int, int, int]:
        ax = axis_of(a.axis, x, self.name)
        if sum(a.sizes) != x[ax] or min(a.sizes, default=0) < 1:
            raise ShapeError(f"`split` sizes {a.sizes} do not add up to axis {ax} of {fmt_shape(x)} ({x[ax]})",
                             expected=f"positive sizes that sum to {x[ax]}")
        if not 0 <= a.part < len(a.sizes):
            raise ShapeError(f"`split` part {a.part} of {len(a.sizes)}", code="E202",
                             expected=f"a part from 0 to {len(a.sizes) - 1}")
        return ax, sum(a.sizes[:a.part]), a.sizes[a.part]

    def shape(self, a: SplitArgs, ins: list[Shape]) -> Shape:
        ax, _, size = self._geo(a, ins[0])
        return (*ins[0][:ax], size, *ins[0][ax + 1:])

    def describe(self, a: SplitArgs) -> str:
        return f"part {a.part} of {a.sizes}"

    def pytorch(self, a: SplitArgs, ins: list[Shape], out: Shape) -> Torch:
        ax, start, size = self._geo(a, ins[0])
        return Expr(f"{{0}}.narrow({_t(ax)}, {start}, {size})")


class ShuffleArgs(Args):
    groups: PositiveInt


CHANNEL_SHUFFLE = Helper("channel_shuffle", '''\
def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle, as torchvision writes it: C = groups × n channels read as
    groups × n, transposed to n × groups."""
    batch, channels = x.shape[0], x.shape[1]
    x = x.view([batch, groups, channels // groups] + list(x.shape[2:]))
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view([batch, channels] + list(x.shape[3:]))
''')


@register
class ChannelShuffle(LayerKind[ShuffleArgs]):
    name = "channel_shuffle"
    takes = "any"
    aliases = ("shuffle",)
    Args = ShuffleArgs
    category = "reshape"
    positional = ("groups",)
    summary = "Interleaves the channels of `groups` groups (ShuffleNet): channel g·n + i moves to i·groups + g."
    shape_rule = "output = input (C divisible by groups)"

    def shape(self, a: ShuffleArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        if x[0] % a.groups:
            raise ShapeError(f"`channel_shuffle` of {x[0]} channels into {a.groups} groups",
                             expected=f"a multiple of {a.groups} channels")
        return x

    def describe(self, a: ShuffleArgs) -> str:
        return f"g{a.groups}"

    def pytorch(self, a: ShuffleArgs, ins: list[Shape], out: Shape) -> Torch:
        return Expr(f"channel_shuffle({{0}}, {a.groups})", CHANNEL_SHUFFLE)


class SelectArgs(Args):
    index: int = 0
    axis: int = 0


@register
class Select(LayerKind[SelectArgs]):
    name = "select"
    takes = "any"
    aliases = ("token",)
    Args = SelectArgs
    category = "reshape"
    positional = ("index",)
    summary = "One index along an axis, the axis removed: `select 0` takes the class token of an L×D sequence (ViT)."
    shape_rule = "input without `axis`"
    view = True

    def _geo(self, a: SelectArgs, x: Shape) -> tuple[int, int]:
        if len(x) < 2:
            raise ShapeError(f"`select` needs at least two axes, got {fmt_shape(x)}", expected="e.g. L×D tokens")
        ax = axis_of(a.axis, x, self.name)
        if not -x[ax] <= a.index < x[ax]:
            raise ShapeError(f"`select` index {a.index} is outside axis {ax} of {fmt_shape(x)} ({x[ax]})",
                             code="E202", expected=f"an index from 0 to {x[ax] - 1}")
        return ax, a.index % x[ax]

    def shape(self, a: SelectArgs, ins: list[Shape]) -> Shape:
        ax, _ = self._geo(a, ins[0])
        return ins[0][:ax] + ins[0][ax + 1:]

    def describe(self, a: SelectArgs) -> str:
        return f"[{a.index}]" + (f" axis {a.axis}" if a.axis else "")

    def pytorch(self, a: SelectArgs, ins: list[Shape], out: Shape) -> Torch:
        ax, i = self._geo(a, ins[0])
        return Expr(f"{{0}}[:, {i}]" if ax == 0 else f"{{0}}.select({_t(ax)}, {i})")


class MeanArgs(Args):
    axis: int = 0
    keep: bool = False  # keep the axis, of size 1


@register
class Mean(LayerKind[MeanArgs]):
    name = "mean"
    Args = MeanArgs
    category = "pool"
    positional = ("axis",)
    flags = ("keep",)
    summary = "Mean over one axis (MLP-Mixer's mean over tokens: `mean 0` on L×D gives D); `keep` keeps it, of size 1."
    shape_rule = "input without `axis` (size 1 with `keep`)"
    flops_rule = "input elements (sums and a division)"

    def shape(self, a: MeanArgs, ins: list[Shape]) -> Shape:
        x = ins[0]
        ax = axis_of(a.axis, x, self.name)
        if len(x) == 1 and not a.keep:
            raise ShapeError("`mean` over the only axis would leave a scalar", code="E202",
                             expected="a tensor of two or more axes, or `keep`")
        return (*x[:ax], 1, *x[ax + 1:]) if a.keep else x[:ax] + x[ax + 1:]

    def cost(self, a: MeanArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(flops=prod(ins[0]))

    def receptive(self, a: MeanArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: MeanArgs) -> str:
        return f"axis {a.axis}"

    def pytorch(self, a: MeanArgs, ins: list[Shape], out: Shape) -> Torch:
        ax = axis_of(a.axis, ins[0], self.name)
        return Expr(f"{{0}}.mean({_t(ax)}" + (", keepdim=True)" if a.keep else ")"))


class ParamArgs(Args):
    shape: Size
    init: Literal["zeros", "normal", "ones"] = "zeros"
    std: float = 0.02  # of the `normal` initialisation

    @field_validator("shape")
    @classmethod
    def _positive(cls, v: Size) -> Size:
        if min(_sizes(v), default=0) < 1:
            raise ValueError("positive sizes")
        return v




@register
class Param(LayerKind[ParamArgs]):
    name = "param"
    takes = "any"  # reads the current tensor for its batch size only
    Args = ParamArgs
    category = "learned"
    positional = ("shape",)
    summary = ("A learned tensor of the given shape, its parameters counted (ViT's class token, `cls = param 1x768`, "
               "and position embedding); it reads the current tensor only for its batch size. Compiled, it is its "
               "block's own parameter (listed before the block's layers, as torchvision's).")
    shape_rule = "the given shape"
    params_rule = "∏ shape"

    def shape(self, a: ParamArgs, ins: list[Shape]) -> Shape:
        return _sizes(a.shape)

    def cost(self, a: ParamArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(params=prod(out))

    def dtype(self, a: ParamArgs, ins: list[str]) -> str:
        return "float32"

    def describe(self, a: ParamArgs) -> str:
        return fmt_shape(_sizes(a.shape)) + ("" if a.init == "zeros" else f" {a.init}")

    def pytorch(self, a: ParamArgs, ins: list[Shape], out: Shape) -> Torch:
        # the enclosing block's own 1×shape parameter, as torchvision's ViT holds `class_token` and
        # `pos_embedding`, repeated along the batch of the tensor it reads
        return Own((1, *out), a.init, a.std, "{p}.expand({0}.shape[0]" + ", -1" * len(out) + ")")
