"""The analysis as a terminal table (rich), grouped by block, with totals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.layers.base import fmt_shape

if TYPE_CHECKING:
    from archspec.analysis import Analysis


def _indent(name: str) -> str:
    depth = name.count(".")
    return "  " * depth + name.rsplit(".", 1)[-1]


def rich_table(a: Analysis, depth: int | None = None) -> Any:
    from rich.console import Group
    from rich.markup import escape as esc
    from rich.table import Table

    conv = "" if a.convention == "archspec" else f" ({a.convention})"
    t = Table(title=esc(a.name), title_justify="left", header_style="bold", show_lines=False, pad_edge=False)
    t.add_column("Layer", no_wrap=True)
    t.add_column("Kind", style="cyan", no_wrap=True)
    t.add_column("Arguments", overflow="fold")
    t.add_column("Output", justify="right", no_wrap=True)
    t.add_column("Params", justify="right", no_wrap=True)
    t.add_column("MACs" + conv, justify="right", no_wrap=True)
    for typ, item in a.display_rows(depth):
        if typ == "block":
            label = esc(item.label) if item else ""
            t.add_row(f"[bold]{esc(_indent(item.id))}[/]", f"[bold magenta]{label}[/]", "", "", "", "")
        elif typ == "collapsed":
            s = item["scope"]
            t.add_row(esc(_indent(s.id)), f"[magenta]{esc(s.label)}[/]", f"{item['layers']} layers", fmt_shape(item["shape"]),
                      f"{item['params']:,}", f"{item['macs']:,}")
        else:
            r = item
            style = "dim" if not (r.params or r.macs) else ""
            t.add_row(esc(_indent(r.name)), r.kind + (" ❄" if r.frozen else ""), esc(r.args), fmt_shape(r.output_shape),
                      f"{r.params:,}" if r.params else "", f"{r.macs:,}" if r.macs else "", style=style)
    s = Table.grid(padding=(0, 2))
    s.add_column(style="bold")
    s.add_column(justify="left")
    for k, v in a.summary_lines():
        s.add_row(k, esc(v))
    return Group(t, s)


def plain(a: Analysis, depth: int | None = None) -> str:
    import io

    from rich.console import Console

    console = Console(width=140, record=True, color_system=None, force_terminal=False, file=io.StringIO())
    console.print(rich_table(a, depth))
    return console.export_text()
