"""The language reference's layer section, generated from the registry so that it cannot drift.

`python -m archspec.kinds.docs > docs/layers.md` writes it; a test checks the committed file is current.
"""

from __future__ import annotations

import typing
from typing import Any

from archspec.kinds import KINDS
from archspec.kinds.base import LayerKind


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in typing.get_args(t))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in typing.get_args(t) if a is not type(None))
    if origin is tuple:
        return "tuple"
    if origin is typing.Annotated:  # PositiveFloat: float with a constraint
        return _type_name(typing.get_args(t)[0])
    if t is None or t is type(None):
        return "none"
    return getattr(t, "__name__", str(t))


def _default(f: Any) -> str:
    from archspec.lang.expr import show

    if f.is_required():
        return "required"
    return "none" if f.default is None else show(f.default)


def kind_markdown(kind: LayerKind[Any]) -> str:
    out = [f"### `{kind.name}`", ""]
    if kind.aliases:
        out += ["Also: " + ", ".join(f"`{a}`" for a in kind.aliases), ""]
    out += [kind.summary, ""]
    fields = kind.Args.model_fields
    if fields:
        out += ["| argument | type | default | |", "|---|---|---|---|"]
        for name, f in fields.items():
            how = "positional" if name in kind.positional else ("flag" if name in kind.flags else "")
            if name in kind.positional:
                how = f"positional {kind.positional.index(name) + 1}"
            cell = _type_name(f.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {cell} | {_default(f)} | {how} |")
        out.append("")
    out += [f"- shape: {kind.shape_rule}", f"- parameters: {kind.params_rule}", f"- MACs: {kind.macs_rule}",
            f"- FLOPs: {kind.flops_rule}", ""]
    return "\n".join(out) + "\n"


def layers_markdown() -> str:
    head = ["# Layer kinds", "",
            "Generated from archspec's layer registry (`python -m archspec.kinds.docs > docs/layers.md`); "
            "every kind's arguments, defaults, shape rule and cost formulas. Shapes are channels first, "
            "without the batch. Conventions: [conventions.md](conventions.md).", ""]
    by_cat: dict[str, list[LayerKind[Any]]] = {}
    for k in KINDS.values():
        if k.op != "output":
            by_cat.setdefault(k.category, []).append(k)
    body = []
    for cat, kinds in by_cat.items():
        body += [f"## {cat}", ""]
        body += [kind_markdown(k) for k in kinds]
    return "\n".join(head + body)


def markdown_renderable(text: str) -> Any:
    """Markdown (a kind's page) as rich renders it on a terminal: headings, tables and lists drawn, not
    written as Markdown source."""
    from rich.markdown import Markdown

    return Markdown(text)


def kinds_table() -> Any:
    from rich.table import Table

    t = Table(title="Layer kinds", title_justify="left", header_style="bold")
    t.add_column("kind", style="cyan", no_wrap=True)
    t.add_column("positional")
    t.add_column("summary")
    for k in KINDS.values():
        if k.op != "output":
            t.add_row(k.name + (f" ({', '.join(k.aliases)})" if k.aliases else ""), " ".join(k.positional), k.summary)
    return t


if __name__ == "__main__":
    import sys

    sys.stdout.write(layers_markdown())
