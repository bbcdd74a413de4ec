"""The analysis as a table: a terminal table (rich), Markdown or CSV, grouped by block, with totals.

The columns after Layer and Kind are chosen (`archspec analyze --columns`, as torchinfo's `col_names`):
by default the arguments, the output shape, the parameters and the MACs; `COLUMNS` lists them all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archspec.kinds.base import fmt_shape

if TYPE_CHECKING:
    from archspec.report.analysis import Analysis, Row


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    right: bool  # right-aligned (numbers, shapes)
    help: str


COLUMNS: dict[str, Column] = {c.key: c for c in [
    Column("args", "Arguments", False, "the layer's arguments as the spec wrote them (a block: its number of layers)"),
    Column("input", "Input", True, "the shapes of the layer's (or block's) inputs"),
    Column("output", "Output", True, "the output shape (channels first, without the batch)"),
    Column("kernel", "Kernel", True, "the kernel of a convolution or pooling"),
    Column("params", "Params", True, "parameters"),
    Column("params%", "Params %", True, "share of the network's parameters"),
    Column("trainable", "Trainable", False, "yes, no (frozen or fixed) or partly"),
    Column("macs", "MACs", True, "multiply-accumulates (in the chosen convention, times the batch)"),
    Column("flops", "FLOPs", True, "floating-point operations (times the batch)"),
    Column("memory", "Memory", True, "the output's size in float32, times the batch (a fused activation's too)"),
    Column("rf", "Receptive field", True, "the receptive field of one output unit, in input pixels (global: all)"),
    Column("connected", "Connected to", False, "the layers whose outputs it reads, as Keras shows them"),
]}
DEFAULT_COLUMNS = ("args", "output", "params", "macs")
ALIASES = {  # torchinfo's col_names and a few spellings
    "arguments": "args", "input_size": "input", "output_size": "output", "kernel_size": "kernel",
    "num_params": "params", "params_percent": "params%", "percent": "params%", "mult_adds": "macs",
    "receptive_field": "rf", "connected_to": "connected", "connections": "connected", "mem": "memory",
}


def parse_columns(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """The table's columns from `"input,kernel,params"` (exactly these, in this order), `"+flops,memory"`
    (a leading +: the default ones and these), `"all"` or a list of names; None gives the default.
    ValueError for an unknown name."""
    if spec is None:
        return DEFAULT_COLUMNS
    items = spec.split(",") if isinstance(spec, str) else [x for s in spec for x in s.split(",")]
    names = [x.strip().lower() for x in items if x.strip()]
    if not names:
        raise ValueError("no column named; choose from " + ", ".join(COLUMNS))
    out: list[str] = []
    added = any(n.startswith("+") for n in names)
    for n in names:
        key = n.lstrip("+")
        if key == "all":
            out += [k for k in COLUMNS if k not in out]
            continue
        key = ALIASES.get(key, key)
        if key not in COLUMNS:
            from archspec.diagnostics import did_you_mean

            close = did_you_mean(key, [*COLUMNS, "all"])
            raise ValueError(f"unknown column `{n}`" + (f"; {close}" if close else "") +
                             " (choose from " + ", ".join(COLUMNS) + ", all)")
        if key not in out:
            out.append(key)
    if added:
        out = [*DEFAULT_COLUMNS, *(k for k in out if k not in DEFAULT_COLUMNS)]
    return tuple(out)


def _shown_producer(a: Analysis, node: str) -> str:
    """The row that shows a node's output: a fused activation is shown on its producer's row."""
    g = a.ir
    while g[node].fused and g[node].inputs:
        node = g[node].inputs[0]
    return node


class _Cells:
    """The text of each chosen column for one entry of `Analysis.display_rows`."""

    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.total_params = a.totals.params

    def _inputs(self, nodes: list[str]) -> tuple[str, str]:
        g = self.a.ir
        shapes = ", ".join(fmt_shape(g[i].meta.shape) for i in nodes)
        names = ", ".join(_shown_producer(self.a, i) for i in nodes)
        return shapes, names

    def layer(self, r: Row, columns: Sequence[str]) -> list[str]:
        from archspec.report.units import BYTES_PER_ELEMENT, human_bytes

        d = self.a.ir[r.name]
        inputs = list(d.inputs)
        out = []
        for c in columns:
            if c == "args":
                out.append(r.args)
            elif c in ("input", "connected"):
                shapes, names = self._inputs(inputs)
                out.append(shapes if c == "input" else names)
            elif c == "output":
                out.append(fmt_shape(r.output_shape))
            elif c == "kernel":
                out.append(kernel(d.args, r.output_shape))
            elif c == "params":
                out.append(f"{r.params:,}" if r.params else "")
            elif c == "params%":
                out.append(percent(r.params, self.total_params) if r.params else "")
            elif c == "trainable":
                out.append(trainable(r.trainable_params, r.params))
            elif c == "macs":
                out.append(f"{r.macs:,}" if r.macs else "")
            elif c == "flops":
                out.append(f"{r.flops:,}" if r.flops else "")
            elif c == "memory":
                out.append(human_bytes(r.activations * BYTES_PER_ELEMENT) if r.activations else "")
            elif c == "rf":
                out.append(rf_text(r.receptive_field))
        return out

    def collapsed(self, item: dict[str, Any], columns: Sequence[str]) -> list[str]:
        from archspec.report.units import BYTES_PER_ELEMENT, human_bytes

        out = []
        for c in columns:
            if c == "args":
                out.append(f"{item['layers']} layers")
            elif c in ("input", "connected"):
                shapes, names = self._inputs(item["inputs"])
                out.append(shapes if c == "input" else names)
            elif c == "output":
                out.append(fmt_shape(item["shape"]))
            elif c == "kernel":
                out.append("")
            elif c == "params":
                out.append(f"{item['params']:,}")
            elif c == "params%":
                out.append(percent(item["params"], self.total_params) if item["params"] else "")
            elif c == "trainable":
                out.append(trainable(item["trainable_params"], item["params"]))
            elif c == "macs":
                out.append(f"{item['macs']:,}")
            elif c == "flops":
                out.append(f"{item['flops']:,}")
            elif c == "memory":
                out.append(human_bytes(item["activations"] * BYTES_PER_ELEMENT) if item["activations"] else "")
            elif c == "rf":
                out.append(rf_text(item["receptive_field"]))
        return out


def kernel(args: Any, output_shape: tuple[int, ...]) -> str:
    k = getattr(args, "kernel", None)
    if k is None:
        return ""
    if isinstance(k, int):
        k = (k,) * max(1, len(output_shape) - 1)
    return "×".join(str(x) for x in k)


def percent(part: int, whole: int) -> str:
    if not whole:
        return ""
    p = 100 * part / whole
    return f"{p:.2f}%" if p >= 0.01 else "<0.01%"


def trainable(trainable_params: int, params: int) -> str:
    if not params:
        return ""
    return "yes" if trainable_params == params else "no" if trainable_params == 0 else "partly"


def rf_text(rf: list[int] | None) -> str:
    return "×".join(map(str, rf)) if rf else "global"


def _indent(name: str) -> str:
    depth = name.count(".")
    return "  " * depth + name.rsplit(".", 1)[-1]


def rich_table(a: Analysis, depth: int | None = None, columns: Sequence[str] | str | None = None) -> Any:
    from rich.console import Group
    from rich.markup import escape as esc
    from rich.table import Table

    cols = parse_columns(columns)
    conv = "" if a.convention == "archspec" else f" ({a.convention})"
    headers = [COLUMNS[c].header + (conv if c == "macs" else "") for c in cols]
    rows = a.display_rows(depth)
    cells = _Cells(a)
    if len(rows) > FAST_ROWS:
        t: Any = _PlainTable(a.name, ["Layer", "Kind", *headers], [_plain_cells(typ, item, cells, cols) for typ, item in rows],
                             [False, False, *(COLUMNS[c].right for c in cols)])
        return Group(t, _summary(a))
    t = Table(title=esc(a.name), title_justify="left", header_style="bold", show_lines=False, pad_edge=False)
    t.add_column("Layer", no_wrap=True)
    t.add_column("Kind", style="cyan", no_wrap=True)
    for c, header in zip(cols, headers):
        t.add_column(header, justify="right" if COLUMNS[c].right else "left",
                     overflow="fold", no_wrap=c not in ("args", "connected", "input"))
    for typ, item in rows:
        if typ == "block":
            label = esc(item.label) if item else ""
            t.add_row(f"[bold]{esc(_indent(item.id))}[/]", f"[bold magenta]{label}[/]", *[""] * len(cols))
        elif typ == "collapsed":
            s = item["scope"]
            t.add_row(esc(_indent(s.id)), f"[magenta]{esc(s.label)}[/]", *map(esc, cells.collapsed(item, cols)))
        else:
            r = item
            style = "dim" if not (r.params or r.macs) else ""
            t.add_row(esc(_indent(r.name)), r.kind + (" ❄" if r.frozen else ""), *map(esc, cells.layer(r, cols)),
                      style=style)
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


def _plain_cells(typ: str, item: Any, cells: _Cells, cols: Sequence[str]) -> list[str]:
    if typ == "block":
        return [_indent(item.id), item.label if item else "", *[""] * len(cols)]
    if typ == "collapsed":
        s = item["scope"]
        return [_indent(s.id), s.label, *cells.collapsed(item, cols)]
    r = item
    return [_indent(r.name), r.kind + (" ❄" if r.frozen else ""), *cells.layer(r, cols)]


class _PlainTable:
    """A table drawn as rich draws `rich_table`'s (same columns and borders), without per-cell layout."""

    def __init__(self, title: str, header: list[str], rows: list[list[str]], right: list[bool]) -> None:
        self.title, self.header, self.rows, self.right = title, header, rows, right

    def lines(self) -> list[str]:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.header)]
        last = len(widths) - 1

        def row(cells: list[str], bar: str) -> str:
            parts = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, self.right)]
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

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        width = max(len(line) for line in self.lines())
        return Measurement(width, width)


WIDEST = 2000  # characters: the most a table is measured at


def print_fitted(console: Any, renderable: Any) -> None:
    """Print a table whole: on a console too narrow for it, as wide as it needs (a terminal then wraps
    its lines) rather than with columns squeezed out or numbers cut; piped, its rows on one line each."""
    from rich.measure import Measurement

    m = Measurement.get(console, console.options.update_width(WIDEST), renderable)
    need = m.minimum if console.is_terminal else m.maximum
    if need > console.width:
        console.width = need
        console.print(renderable, crop=False)
    else:
        console.print(renderable)


def plain(a: Analysis, depth: int | None = None, columns: Sequence[str] | str | None = None) -> str:
    """The table as text (no colour), at least 140 characters wide, wider when its columns need it."""
    from rich.console import Console
    from rich.measure import Measurement

    table = rich_table(a, depth, columns)
    console = Console(width=140, record=True, color_system=None, force_terminal=False, file=io.StringIO())
    console.width = max(140, Measurement.get(console, console.options.update_width(WIDEST), table).maximum)
    console.print(table)
    return console.export_text()


def _esc(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(a: Analysis, depth: int | None = None, columns: Sequence[str] | str | None = None) -> str:
    cols = parse_columns(columns)
    conv = "" if a.convention == "archspec" else f" ({a.convention})"
    heads = ["Layer", "Kind", *(COLUMNS[c].header + (conv if c == "macs" else "") for c in cols)]
    align = ["---", "---", *("--:" if COLUMNS[c].right else "---" for c in cols)]
    lines = [f"### {a.name}", "", "| " + " | ".join(heads) + " |", "|" + "|".join(align) + "|"]
    cells = _Cells(a)
    blank = " |" * len(cols)
    for typ, item in a.display_rows(depth):
        if typ == "block":
            lines.append(f"| **{_esc(item.id)}** | **{_esc(item.label)}** |{blank}")
        elif typ == "collapsed":
            row = [item["scope"].id, item["scope"].label, *cells.collapsed(item, cols)]
            lines.append("| " + " | ".join(map(_esc, row)) + " |")
        else:
            row = [item.name, item.kind, *cells.layer(item, cols)]
            lines.append("| " + " | ".join(map(_esc, row)) + " |")
    lines += ["", "| Total | |", "|---|--:|"] + [f"| {k.strip()} | {v} |" for k, v in a.summary_lines()]
    return "\n".join(lines) + "\n"


# The CSV's columns: every row of the analysis, numbers in full (no collapsing, no fused folding).
CSV_DEFAULT = ["name", "kind", "args", "block", "output_shape", "params", "trainable_params", "non_trainable_params",
               "buffers", "macs", "flops", "connections", "activations", "receptive_field"]
_CSV_NAMES = {"args": "args", "input": "input_shape", "output": "output_shape", "kernel": "kernel",
              "params": "params", "params%": "params_percent", "trainable": "trainable", "macs": "macs",
              "flops": "flops", "memory": "memory_bytes", "rf": "receptive_field", "connected": "connected_to"}


def csv_text(a: Analysis, columns: Sequence[str] | str | None = None) -> str:
    """Every layer a row. Without `columns`: the fixed set `CSV_DEFAULT`; with them: name, kind and the
    chosen columns, as numbers (bytes, percentages without the sign) and shapes written 3x224x224."""
    from archspec.report.units import BYTES_PER_ELEMENT

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    x = "x".join
    if columns is None:
        w.writerow(CSV_DEFAULT)
        for r in a.rows:
            d = r.to_dict()
            d["output_shape"] = x(map(str, r.output_shape))
            d["receptive_field"] = x(map(str, r.receptive_field)) if r.receptive_field else "global"
            w.writerow([d[c] for c in CSV_DEFAULT])
        return buf.getvalue()
    cols = parse_columns(columns)
    w.writerow(["name", "kind", *(_CSV_NAMES[c] for c in cols)])
    g = a.ir
    total = a.totals.params
    for r in a.rows:
        node = g[r.name]
        row: list[Any] = [r.name, r.kind]
        for c in cols:
            if c == "args":
                row.append(r.args)
            elif c == "input":
                row.append(" ".join(x(map(str, g[i].meta.shape)) for i in node.inputs))
            elif c == "output":
                row.append(x(map(str, r.output_shape)))
            elif c == "kernel":
                row.append(kernel(node.args, r.output_shape).replace("×", "x"))
            elif c == "params%":
                row.append(f"{100 * r.params / total:.4f}" if total else "")
            elif c == "trainable":
                row.append(trainable(r.trainable_params, r.params))
            elif c == "memory":
                row.append(r.activations * BYTES_PER_ELEMENT)
            elif c == "rf":
                row.append(x(map(str, r.receptive_field)) if r.receptive_field else "global")
            elif c == "connected":
                row.append(" ".join(node.inputs))
            else:
                row.append(getattr(r, c))
        w.writerow(row)
    return buf.getvalue()
