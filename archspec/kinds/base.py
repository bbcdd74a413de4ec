"""The layer-kind protocol and the registry.

Each layer kind is defined once, as a small class: its arguments (a pydantic model), its shape rule,
its parameter, MAC and FLOP formulas, its receptive-field rule and its PyTorch form, as a value
(`torchspec.py`: nothing here imports torch). How the peer tools count each kind (`--convention`) is
one table beside them, `conventions.py`. The analyzer, the renderer, the compiler and the generated docs
all read `REGISTRY`.

Counting conventions (see docs/conventions.md and ../shared/ACCEPTANCE.md):
  params       weights and biases a layer owns; `fixed` are non-trainable by nature (e.g. RBF units)
  buffers      state that is not a parameter (batch-norm running mean and variance)
  MACs         multiply-accumulates of layers with weights, bias excluded
  FLOPs        2 × MACs plus the elementwise work of each kind, as its `flops_rule` says
  connections  LeCun's count: per output unit, the inputs it reads plus one for its bias
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from archspec.ir import GLOBAL, RF, Cost, Op, Receptive, Shape, fmt_shape, prod

if TYPE_CHECKING:
    from archspec.kinds.torchspec import Torch

PositiveInt = int
Size = int | tuple[int, ...]
Padding = int | tuple[int, ...] | Literal["valid", "same", "full"]

CONVENTIONS = ("archspec", "torchinfo", "fvcore", "thop", "ptflops")


class Args(BaseModel):
    """Base of every layer kind's arguments: unknown arguments are refused, values are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)


class NoArgs(Args):
    pass


class ShapeError(Exception):
    """Raised by a shape rule; the builder adds the span and the input shapes."""

    def __init__(self, message: str, expected: str | None = None, hint: str | None = None,
                 code: str = "E300") -> None:
        super().__init__(message)
        self.message, self.expected, self.hint, self.code = message, expected, hint, code


A = TypeVar("A", bound=Args)


class Part(NamedTuple):
    """One step of a layer drawn open (`archspec render --expand attention`): its title, key arguments,
    output shape and its share of the layer's parameters and MACs (the parts sum to the layer's)."""

    title: str
    detail: str
    shape: Shape
    params: int = 0
    macs: int = 0


class LayerKind(Generic[A]):
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    op: ClassVar[Op] = "layer"  # the IR op of its nodes: "input" | "layer" | "merge" (| "output")
    category: ClassVar[str] = "other"  # for colours and grouping: conv, pool, dense, norm, activation, ...
    summary: ClassVar[str] = ""
    Args: type[A]
    positional: ClassVar[tuple[str, ...]] = ()  # argument names that may be given by position
    flags: ClassVar[tuple[str, ...]] = ()  # boolean arguments that a bare word sets (`depthwise`)
    view: ClassVar[bool] = False  # no new activation memory (flatten, dropout, identity)
    # The element type of its inputs: "float" (values: most kinds), "int" (token ids: `embedding`), or
    # "any" (moves of axes, identity, concat: the output has its inputs' type). A float kind fed token ids
    # (`input 100 tokens`) is diagnostic E303.
    takes: ClassVar[Literal["float", "int", "any"]] = "float"
    # Formulas, as text for the generated reference (docs/layers.md):
    shape_rule: ClassVar[str] = "output = input"
    params_rule: ClassVar[str] = "0"
    macs_rule: ClassVar[str] = "0"
    flops_rule: ClassVar[str] = "0"

    # -- analysis ------------------------------------------------------------------------------
    def shape(self, a: A, ins: list[Shape]) -> Shape:
        return ins[0]

    def cost(self, a: A, ins: list[Shape], out: Shape) -> Cost:
        return Cost()

    def receptive(self, a: A, ins: list[Shape]) -> Receptive:
        return None

    def dtype(self, a: A, ins: list[str]) -> str:
        """The output's element type ("float32" or "int64") from the inputs' (already checked against `takes`)."""
        if self.takes == "any" and ins:
            return ins[0]
        return "float32"

    def weight(self, a: A, ins: list[Shape]) -> Shape | None:
        """The shape of its parameter `weight` as PyTorch holds it, for `tie=` (None: no weight to tie)."""
        return None

    def describe(self, a: A) -> str:
        """Key arguments, as a table or a diagram shows them (`64 3×3 /2`)."""
        return ""

    def parts(self, a: A, ins: list[Shape], out: Shape) -> list[Part]:
        """The steps a diagram draws when the layer is expanded (attention); [] for one box only."""
        return []

    # -- PyTorch -------------------------------------------------------------------------------
    def pytorch(self, a: A, ins: list[Shape], out: Shape) -> Torch:
        """The layer's PyTorch form (`torchspec.py`): a constructor call, an expression over the inputs,
        or None where the tensor passes through. `NotImplementedError` when PyTorch cannot do it."""
        raise NotImplementedError(f"`{self.name}` has no PyTorch form yet")


REGISTRY: dict[str, LayerKind[Any]] = {}  # every name and alias → kind
KINDS: dict[str, LayerKind[Any]] = {}  # canonical names only, in registration order


def register(cls: type[LayerKind[Any]]) -> type[LayerKind[Any]]:
    kind = cls()
    for n in (cls.name, *cls.aliases):
        if n in REGISTRY:
            raise RuntimeError(f"layer name {n!r} registered twice")
        REGISTRY[n] = kind
    KINDS[cls.name] = kind
    return cls


# -- shape arithmetic: pure functions ----------------------------------------------------------

def spatial_rank(shape: Shape, layer: str, allowed: tuple[int, ...] = (1, 2, 3)) -> int:
    nd = len(shape) - 1
    if nd not in allowed:
        wants = " or ".join({1: "C×L", 2: "C×H×W", 3: "C×D×H×W"}[n] for n in allowed)
        got = f"a flat vector of {shape[0]}" if len(shape) == 1 else fmt_shape(shape)
        raise ShapeError(f"`{layer}` needs a {wants} input, got {got}", expected=wants,
                         hint="`flatten` turns maps into vectors; a spatial layer cannot follow it")
    return nd


def flat_size(layer: str, x: Shape) -> int:
    """The size of a flat (C) input; any other shape is a diagnostic."""
    if len(x) != 1:
        raise ShapeError(f"`{layer}` needs a flat vector, got {fmt_shape(x)}", expected="a C-sized vector",
                         hint="add `flatten` (or `globalavgpool`) before it")
    return x[0]


def norm_size(v: Size, nd: int, what: str) -> tuple[int, ...]:
    """`3` → (3, 3) in 2D; a tuple must have one entry per spatial axis."""
    t = (v,) * nd if isinstance(v, int) else tuple(v)
    if len(t) == 1 and nd > 1:
        t = t * nd
    if len(t) != nd:
        raise ShapeError(f"{what} {fmt_shape(t)} has {len(t)} axes but the input has {nd} spatial axes",
                         expected=f"{nd} values, e.g. {'x'.join(['3'] * nd)}")
    if any(x < 0 for x in t):
        raise ShapeError(f"{what} must not be negative, got {fmt_shape(t)}", code="E202")
    return t


def resolve_pad(pad: Padding, n: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                d: tuple[int, ...]) -> list[tuple[int, int]]:
    """Padding per spatial axis as (before, after).

    `valid` is 0; `full` is d·(k−1) on both sides (output = input + k − 1); `same` gives
    output = ceil(input / stride), the extra pixel after when the total is odd (as TensorFlow does).
    """
    nd = len(n)
    if pad == "valid":
        return [(0, 0)] * nd
    if pad == "full":
        return [(di * (ki - 1), di * (ki - 1)) for ki, di in zip(k, d)]
    if pad == "same":
        out = []
        for ni, ki, si, di in zip(n, k, s, d):
            total = max((-(-ni // si) - 1) * si + di * (ki - 1) + 1 - ni, 0)
            out.append((total // 2, total - total // 2))
        return out
    p = norm_size(pad, nd, "padding")
    return [(pi, pi) for pi in p]


def window_out(n: int, k: int, s: int, before: int, after: int, d: int = 1, ceil: bool = False) -> int:
    """⌊(n + p − d·(k−1) − 1) / s⌋ + 1, or with ceil mode as PyTorch computes it."""
    span = n + before + after - d * (k - 1) - 1
    if not ceil:
        return max(span // s + 1, 0)
    # ceil mode: a window may overhang the end (even a window larger than the input, as PyTorch allows)
    out = -(-span // s) + 1
    if (out - 1) * s >= n + before:  # the last window must start inside the input or left padding
        out -= 1
    return max(out, 0)


Field = Field  # re-exported for kind modules
__all__ = ["GLOBAL", "RF", "Args", "Cost", "Field", "LayerKind", "NoArgs", "Receptive", "Shape", "ShapeError",
           "fmt_shape", "prod"]
