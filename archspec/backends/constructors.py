"""Constructor calls: a built layer module as the Python call that rebuilds it (`nn.Conv2d(3, 64, 3,
padding=1)`), for the standalone file. torch.nn classes and archspec's helper modules are spelt from the
constructor's signature and the attributes of the same names; anything else cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class CodegenError(Exception):
    """A network that compiles in memory but cannot be written as source (a module archspec cannot spell)."""


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Call:
    """`func(args)`; each argument is (keyword or None, Lit or Call). `params` names the positional ones."""

    func: str
    args: tuple[tuple[str | None, Lit | Call], ...]
    params: tuple[str, ...] = ()  # the parameter name of each argument, for naming lifted values

    def shape(self) -> Any:
        return (self.func, tuple((k, v.shape() if isinstance(v, Call) else None) for k, v in self.args))


_SCALAR_WHEN_EQUAL = {"kernel_size", "stride", "padding", "dilation", "output_padding"}


def render_module(m: Any, helpers: dict[str, type]) -> Call:
    """The constructor call that rebuilds module `m` (its weights aside): torch.nn classes and archspec's
    helper modules, whose constructor arguments are kept as attributes of the same names."""
    import inspect

    import torch
    from torch import nn

    cls = type(m)
    if cls is nn.Sequential:
        return Call("nn.Sequential", tuple((None, render_module(c, helpers)) for c in m))
    if getattr(nn, cls.__name__, None) is cls:
        func = "nn." + cls.__name__
    elif cls.__module__.startswith("archspec."):
        func = cls.__name__
        if helpers.setdefault(func, cls) is not cls:
            raise CodegenError(f"two helper modules are named `{func}`")
    else:
        raise CodegenError(f"cannot write source for a `{cls.__module__}.{cls.__qualname__}` module")
    args: list[tuple[str | None, Lit | Call]] = []
    names: list[str] = []
    conv = isinstance(m, nn.modules.conv._ConvNd)  # stores `3` as (3, 3): either spelling rebuilds it
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
            continue
        if not hasattr(m, p.name):
            raise CodegenError(f"cannot write source for `{func}`: its argument `{p.name}` is not kept as an "
                               f"attribute of the same name")
        v = getattr(m, p.name)
        if p.name == "bias" and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None
        v = _plain(v, func, p.name)
        if conv and p.name in _SCALAR_WHEN_EQUAL and isinstance(v, tuple) and v and len(set(v)) == 1:
            v = v[0]
        required = p.default is p.empty
        if not required and type(v) is type(p.default) and v == p.default:
            continue
        if not required and v == [] and p.default is None:
            continue
        positional = required and not isinstance(v, bool) and all(k is None for k, _ in args)  # no bare True
        args.append((None if positional else p.name, Lit(v)))
        names.append(p.name)
    return Call(func, tuple(args), tuple(names))


def _plain(v: Any, func: str, name: str) -> Any:
    import torch

    if isinstance(v, torch.Size):
        return tuple(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (tuple, list)):
        items = [_plain(x, func, name) for x in v]
        return tuple(items) if isinstance(v, tuple) else items
    raise CodegenError(f"cannot write source for `{func}`: argument `{name}` is a {type(v).__name__}")


def literal(v: Any) -> str:
    """Python source for a plain value (floats that repr cannot spell included)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return f'float("{v}")'
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    return repr(v)
