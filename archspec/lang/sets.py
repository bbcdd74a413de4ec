"""`--set NAME=VALUE` options: each value is an expression of the language, evaluated with no names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.lang.expr import Evaluator, TensorRef
from archspec.lang.parser import parse_expr


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """`--set depth=50 --set variant=torchvision` → {"depth": 50, "variant": "torchvision"}."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise SpecError(Diagnostic("E207", f"--set takes NAME=VALUE, got {item!r}",
                                       hint="for example --set depth=50 or --set variant=torchvision"))
        v = Evaluator({})(parse_expr(value.strip(), f"--set {name}"))
        out[name] = v.name if isinstance(v, TensorRef) else v
    return out
