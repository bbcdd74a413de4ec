"""A layer's PyTorch form as a value: what the compiler both instantiates and prints.

A kind's `pytorch` rule returns one of:

- `Module`: a constructor call, `nn.Conv2d(3, 64, 3, padding=1)` as
  `call("nn.Conv2d", 3, 64, 3, names=(...), padding=Opt(1, 0))`. The compiler writes the call into the
  generated source and runs that source: the module in memory and the file are the same code. `names`
  name the positional arguments, so that a value that differs between a block's instances becomes a
  constructor parameter of that name; a keyword given as `Opt(value, default)` is written only when the
  value is not the default. `helper` is the class's definition where torch.nn has no such module
  (LeNet-5's connection table): Python source that needs only torch, written into the file once.
- `Expr`: a parameterless operation written into `forward` as Python over the inputs (`{0} + {1}`,
  `torch.cat([{0}, {1}], 1)`): merges, crops, global pooling. No module, no attribute.
- `Own`: a learned tensor (a class token, a layer scale) held as its own `nn.Parameter` by the module whose
  `forward` uses it, as torchvision holds them (`self.class_token`, CNBlock's `self.layer_scale`), not as a
  module of one parameter: PyTorch lists a module's own parameters before its children's, so a model
  written this way lists them first, and the compiled one must too for weights to port by position.
  `template` is Python over the parameter `{p}` and the inputs `{0}`, ...
- `None`: the tensor passes through unchanged (`identity`).

Nothing here imports torch: analysis stays free of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Helper:
    """A module class that torch.nn lacks, or a function an expression calls, as source (`class NAME(nn.Module):
    ...`, `def NAME(...)`). Its code may use `torch`, `nn`, `F` (torch.nn.functional), `Tensor`, `Dict`,
    `List`, `Optional` and `math`."""

    name: str
    source: str


class Opt(NamedTuple):
    """A keyword argument's value and its default: written only when they differ."""

    value: Any
    default: Any


_NO_DEFAULT = object()


@dataclass(frozen=True)
class Module:
    cls: str  # "nn.Conv2d", "nn.Sequential", or a helper's class name
    args: tuple[Any, ...] = ()  # plain values (int, float, bool, str, None, tuples and lists of them) or Modules
    kwargs: tuple[tuple[str, Any], ...] = ()
    names: tuple[str, ...] = ()  # the parameter name of each positional argument
    helper: Helper | None = None
    defaults: tuple[tuple[str, Any], ...] = ()  # keywords left out when they have these values
    then: tuple[str, ...] = ()  # statements run once it is built, `{m}` the module: "nn.init.normal_({m}.weight, std=0.02)"

    def structure(self) -> Any:
        """What two calls must share to be written as one call with different values."""
        return (self.cls, tuple(a.structure() if isinstance(a, Module) else None for a in self.args),
                tuple((k, v.structure() if isinstance(v, Module) else None) for k, v in self.kwargs))

    def helpers(self) -> list[Helper]:
        out = [self.helper] if self.helper else []
        for v in (*self.args, *(v for _, v in self.kwargs)):
            if isinstance(v, Module):
                out += v.helpers()
        return out

    def default(self, key: str) -> Any:
        return next((v for k, v in self.defaults if k == key), _NO_DEFAULT)


@dataclass(frozen=True)
class Expr:
    """Python over the node's inputs, `{0}`, `{1}`, ...; it may use `torch`, `F` and its `helper` (a function)."""

    template: str
    helper: Helper | None = None

    def format(self, names: list[str]) -> str:
        return self.template.format(*names)


@dataclass(frozen=True)
class Own:
    """A learned tensor of the enclosing module: `nn.Parameter(<init>)` of `shape`, initialised with
    zeros, ones, `full` (every element `value`) or `normal` (standard deviation `value`), used in
    `forward` as `template` (`{p}`: the parameter, `{0}`: the input)."""

    shape: tuple[int, ...]
    init: str  # "zeros" | "ones" | "full" | "normal"
    value: float
    template: str

    def structure(self) -> Any:
        return ("own", len(self.shape), self.init, self.template)


Torch = Module | Expr | Own | None


def call(cls: str, *args: Any, names: tuple[str, ...] = (), helper: Helper | None = None,
         then: tuple[str, ...] = (), **kwargs: Any) -> Module:
    """`call("nn.Conv2d", 3, 64, 3, names=("in_channels", "out_channels", "kernel_size"), stride=Opt(2, 1))`;
    `then=("nn.init.normal_({m}.weight, std=0.02)",)`: statements run on the module (`{m}`) once it is built
    (a constructor argument named `then` would need a dict: none has one)."""
    plain = tuple((k, v.value if isinstance(v, Opt) else v) for k, v in kwargs.items())
    defaults = tuple((k, v.default) for k, v in kwargs.items() if isinstance(v, Opt))
    return Module(cls, tuple(args), plain, names, helper, defaults, then)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (`1` is neither `1.0` nor `True`), tuples and lists item by item."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def one(t: tuple[int, ...] | list[int]) -> int | tuple[int, ...]:
    """(3, 3) → 3, as one writes a square window to PyTorch (`nn.MaxPool2d(3, stride=2)`)."""
    return t[0] if len(set(t)) == 1 else tuple(t)


def literal(v: Any) -> str:
    """Python source for a plain value (floats that repr cannot spell included) or a call."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return f'float("{v}")'
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, Module):
        return source(v)
    return repr(v)


def source(m: Module) -> str:
    """The call as Python: `nn.Conv2d(3, 64, 3, padding=1)`."""
    parts = [literal(a) for a in m.args] + [f"{k}={literal(v)}" for k, v in m.kwargs if not same(v, m.default(k))]
    return f"{m.cls}({', '.join(parts)})"


def flat_pads(pads: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """(before, after) per spatial axis, first axis first → PyTorch's padding order (last axis first)."""
    return tuple(v for b, e in reversed(list(pads)) for v in (int(b), int(e)))


def pad(pads: list[tuple[int, int]], value: float = 0.0) -> Module:
    """`nn.ZeroPad2d((left, right, top, bottom))`, or `nn.ConstantPad2d(..., value)`."""
    nd = len(pads)
    if value == 0.0:
        return call(f"nn.ZeroPad{nd}d", flat_pads(pads), names=("padding",))
    return call(f"nn.ConstantPad{nd}d", flat_pads(pads), value, names=("padding", "value"))


def crop(x: str, sizes: tuple[int, ...], crops: list[tuple[int, int]]) -> str:
    """`{0}[:, :, 4:60, 4:60]`: the spatial axes of `x` (channels first) cut by (before, after)."""
    if not any(b or e for b, e in crops):
        return x
    parts = [":", ":"] + [f"{b}:{n - e}" if (b or e) else ":" for n, (b, e) in zip(sizes, crops)]
    while parts[-1] == ":":
        parts.pop()
    return f"{x}[{', '.join(parts)}]"
