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
    rows = a.display_rows(depth)
    if len(rows) > FAST_ROWS:
        t: Any = _PlainTable(a.name, ["Layer", "Kind", "Arguments", "Output", "Params", "MACs" + conv],
                             [_cells(typ, item) for typ, item in rows])
        return Group(t, _summary(a))
    t = Table(title=esc(a.name), title_justify="left", header_style="bold", show_lines=False, pad_edge=False)
    t.add_column("Layer", no_wrap=True)
    t.add_column("Kind", style="cyan", no_wrap=True)
    t.add_column("Arguments", overflow="fold")
    t.add_column("Output", justify="right", no_wrap=True)
    t.add_column("Params", justify="right", no_wrap=True)
    t.add_column("MACs" + conv, justify="right", no_wrap=True)
    for typ, item in rows:
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
    return Group(t, _summary(a))


def _summary(a: Analysis) -> Any:
    from rich.markup import escape as esc
    from rich.table import Table

    s = Table.grid(padding=(0, 2))
    s.add_column(style="bold")
    s.add_column(justify="left")
    for k, v in a.summary_lines():
        s.add_row(k, esc(v))
    return s


# Past this many rows (a flat network of 100,000 layers that no `--depth` can shorten), rich's table
# takes a millisecond a row to measure and wrap: the rows are laid out here instead, plainly, in one pass.
FAST_ROWS = 2_000


def _cells(typ: str, item: Any) -> list[str]:
    if typ == "block":
        return [_indent(item.id), item.label if item else "", "", "", "", ""]
    if typ == "collapsed":
        s = item["scope"]
        return [_indent(s.id), s.label, f"{item['layers']} layers", fmt_shape(item["shape"]), f"{item['params']:,}",
                f"{item['macs']:,}"]
    r = item
    return [_indent(r.name), r.kind + (" ❄" if r.frozen else ""), r.args, fmt_shape(r.output_shape),
            f"{r.params:,}" if r.params else "", f"{r.macs:,}" if r.macs else ""]


class _PlainTable:
    """A table drawn as rich draws `rich_table`'s (same columns and borders), without per-cell layout."""

    RIGHT = (False, False, False, True, True, True)

    def __init__(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        self.title, self.header, self.rows = title, header, rows

    def lines(self) -> list[str]:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.header)]
        last = len(widths) - 1

        def row(cells: list[str], bar: str) -> str:
            parts = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, self.RIGHT)]
            return bar + f" {bar} ".join(parts) + bar

        def rule(left: str, mid: str, right: str, fill: str) -> str:
            return left + mid.join(fill * (w + (1 if i in (0, last) else 2)) for i, w in enumerate(widths)) + right

        return [self.title, rule("┏", "┳", "┓", "━"), row(self.header, "┃"), rule("┡", "╇", "┩", "━"),
                *(row(r, "│") for r in self.rows), rule("└", "┴", "┘", "─")]

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for line in self.lines():
            yield Segment(line)
            yield Segment.line()


def plain(a: Analysis, depth: int | None = None) -> str:
    import io

    from rich.console import Console

    console = Console(width=140, record=True, color_system=None, force_terminal=False, file=io.StringIO())
    console.print(rich_table(a, depth))
    return console.export_text()
