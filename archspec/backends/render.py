"""Diagrams with graphviz: `archspec.render(spec, **options)` returns a `graphviz.Digraph`.

Two styles, both drawn from the analysed graph (they only read it; see `render_view.py` for what is
drawn and how blocks collapse):

- `graph` (default): one box per layer with its kind, key arguments and output shape, fused
  activations folded in, edges labelled with tensor shapes, blocks as clusters, colours by layer
  category with a legend; `costs` adds parameters and MACs and shades the boxes by one of them.
- `volumes`: feature maps as 3D boxes along the main path (`render_volumes.py`).

`write(digraph, path)` renders to svg, png or pdf (with graphviz's `dot` program) or writes the DOT
text, atomically. Nothing here imports torch.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.backends.render_view import CATEGORY_NAMES, Box, Edge, View, build_view, category_color
from archspec.diagnostics import Diagnostic, SpecError
from archspec.layers.base import fmt_shape

if TYPE_CHECKING:
    import graphviz

    from archspec.analysis import Analysis, Spec

STYLES = ("graph", "volumes")
FORMATS = ("svg", "png", "pdf", "dot", "html")  # html: the interactive page (html_view.py), not a Digraph
RANKDIRS = ("TB", "LR", "BT", "RL")
COST_METRICS = ("macs", "params")
FONT = "Helvetica"
INSTALL_HINT = "install it with `apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS)"


class DotNotFound(RuntimeError):
    """graphviz's `dot` program is not installed (the DOT text can still be written)."""

    def __init__(self) -> None:
        super().__init__(f"graphviz's `dot` program was not found on PATH: {INSTALL_HINT}")


def render(spec: str | Path | Spec | Analysis, *, style: str = "graph", depth: int | None = None,
           expand: Sequence[str] = (), rankdir: str = "TB", costs: str | None = None, legend: bool = True,
           edge_labels: bool = True, title: str | bool = True, input: Any = None,
           params: dict[str, Any] | None = None) -> graphviz.Digraph:
    """Draw a network. `spec` is what `archspec.analyze` takes, or an `Analysis`; network parameters
    go in `params` (`render("resnet", params={"depth": 152}, depth=1)`: here `depth=1` is the
    drawing's collapse depth). Options:

    style        "graph" or "volumes" (feature maps as 3D boxes)
    depth        draw blocks nested deeper than this many block levels as one box each
    expand       block instances (`stage3.bottleneck2`) or block names to draw open anyway
    rankdir      "TB" (top to bottom) or "LR" (left to right)
    costs        "macs" or "params": print parameters and MACs and shade boxes by this one
    legend       draw the colour legend
    edge_labels  label edges with tensor shapes
    title        True for the network's name, a string for your own, False for none
    """
    from archspec.analysis import Analysis, analyze

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if rankdir.upper() not in RANKDIRS:
        raise ValueError(f"unknown rankdir {rankdir!r}; choose one of {', '.join(RANKDIRS)}")
    if costs is not None and costs not in COST_METRICS:
        raise ValueError(f"unknown cost metric {costs!r}; choose one of {', '.join(COST_METRICS)}")
    a = spec if isinstance(spec, Analysis) else analyze(spec, input=input, params=params)
    heading = _title(a) if title is True else (title or "")
    if style == "volumes":
        from archspec.backends.render_volumes import volumes

        extra = [o for o, on in (("costs", costs), ("rankdir", rankdir.upper() != "TB"),
                                 ("no edge labels", not edge_labels)) if on]
        if extra:
            raise SpecError(Diagnostic("E202", f"{', '.join(extra)}: only for the graph style, not for volumes",
                                       hint="drop the option, or draw with --style graph"))

        return volumes(a, depth=depth, expand=expand, legend=legend, title=heading)
    view = build_view(a.graph, depth=depth, expand=expand)
    return graph_digraph(view, rankdir=rankdir.upper(), costs=costs, legend=legend, edge_labels=edge_labels,
                         title=heading)


def _title(a: Analysis) -> str:
    ps = a.graph.graph.get("params", {})
    from archspec.lang.expr import show

    return a.name + ("  (" + ", ".join(f"{k}={show(v)}" for k, v in ps.items()) + ")" if ps else "")


# -- the graph view ------------------------------------------------------------------------------

def graph_digraph(view: View, *, rankdir: str = "TB", costs: str | None = None, legend: bool = True,
                  edge_labels: bool = True, title: str = "") -> graphviz.Digraph:
    import graphviz

    dg = graphviz.Digraph(name=view.name, engine="dot")
    dg.attr(rankdir=rankdir, fontname=FONT, fontsize="11", nodesep="0.22", ranksep="0.28", newrank="true",
            labelloc="t", labeljust="c", pad="0.2")
    top = max((getattr(b, costs) for b in view.boxes.values()), default=0) if costs else 0
    if title:
        dg.attr(label=title_label(title))
    dg.attr("node", shape="box", style="filled,rounded", fontname=FONT, fontsize="10", penwidth="0.8",
            margin="0.10,0.04", height="0.3", color="#555555")
    dg.attr("edge", fontname=FONT, fontsize="8", fontcolor="#555555", color="#444444", arrowsize="0.6",
            penwidth="0.8")
    spine = set(view.main_path())

    children: dict[str, list[str]] = {}
    for cid, c in view.clusters.items():
        children.setdefault(c.parent, []).append(cid)
    members: dict[str, list[Box]] = {}
    for bid in view.order:
        b = view.boxes[bid]
        members.setdefault(b.cluster, []).append(b)

    def fill(g: Any, scope: str, level: int) -> None:
        for b in members.get(scope, []):
            g.node(dot_id(b.id), **_node_attrs(b, costs, top), **({"group": "spine"} if b.id in spine else {}))
        for cid in children.get(scope, []):
            c = view.clusters[cid]
            with g.subgraph(name="cluster_" + dot_id(cid)) as sub:
                if c.kind == "block":
                    sub.attr(label=f"<<B>{_esc(c.label)}</B>>", style="rounded,filled",
                             fillcolor="#f7f7f7" if level % 2 == 0 else "#ededed", color="#9a9a9a",
                             fontsize="10", labeljust="l", tooltip=c.tooltip, penwidth="0.8")
                else:
                    sub.attr(label=f"<<I>{_esc(c.label)}</I>>" if c.label else "", style="dashed,rounded",
                             color="#c4c4c4", fontsize="9", fontcolor="#666666", labeljust="l",
                             tooltip=c.tooltip, penwidth="0.6")
                fill(sub, cid, level + 1)

    fill(dg, "", 0)
    # a tensor read by several boxes is labelled once, on the edge along the main path if there is one
    path = view.main_path()
    along = set(itertools.pairwise(path))
    labelled: dict[tuple[str, Any], Edge] = {}
    for e in view.edges:
        key = (e.src, e.shape)
        if key not in labelled or (e.src, e.dst) in along:
            labelled[key] = e
    for e in view.edges:
        show = edge_labels and labelled[(e.src, e.shape)] is e
        dg.edge(dot_id(e.src), dot_id(e.dst), **({"label": " " + fmt_shape(e.shape) + " "} if show else {}))
    if legend:
        with dg.subgraph(name="legend_rank") as r:
            r.attr(rank="sink")
            r.node("legend", label=legend_label(_categories(view), costs, top, 4 if rankdir in ("TB", "BT") else 1),
                   shape="plaintext", style="", margin="0")
    return dg


def dot_id(s: str) -> str:
    """A node id that DOT's edge syntax cannot mistake for a port (`output:out`)."""
    return s.replace(":", "__")


def _esc(s: str) -> str:
    return html.escape(s, quote=False)


def _node_attrs(b: Box, costs: str | None, top: int) -> dict[str, str]:
    color = category_color(b.category)
    attrs: dict[str, str] = {"fillcolor": color, "tooltip": b.tooltip or b.id}
    shape_line = f'<FONT POINT-SIZE="8" COLOR="#444444">{_esc(fmt_shape(b.shape))}</FONT>'
    if b.role == "merge" and b.kind in ("add", "mul"):
        attrs.update(shape="circle", label="+" if b.kind == "add" else "×", width="0.3", height="0.3",
                     fixedsize="true", fontsize="14", style="filled", margin="0")
        attrs["tooltip"] = f"{b.id}: {b.kind} → {fmt_shape(b.shape)}"
    else:
        head = f"<B>{_esc(b.title)}</B>"
        if b.detail:
            head += " " + _esc(b.detail)
        if b.fused:
            head += " + " + " + ".join(_esc(f) for f in b.fused)
        lines = [head]
        if b.role == "block":
            attrs.update(shape="box3d", style="filled")
            what = f"{b.layers} layer" + ("s" if b.layers != 1 else "")
            lines.append(f'<FONT POINT-SIZE="8" COLOR="#444444">{what} · {_esc(fmt_shape(b.shape))}</FONT>')
        else:
            lines.append(shape_line)
        if b.frozen:
            lines[-1] += ' <FONT POINT-SIZE="8" COLOR="#1f78b4">frozen</FONT>'
            attrs["style"] = attrs.get("style", "filled,rounded") + ",dashed"
        if costs and (b.params or b.macs):
            parts = ([f"{compact(b.params)} params"] if b.params else []) + ([f"{compact(b.macs)} MACs"] if b.macs else [])
            lines.append(f'<FONT POINT-SIZE="8">{" · ".join(parts)}</FONT>')
        attrs["label"] = "<" + "<BR/>".join(lines) + ">"
    if costs:
        attrs.update(fillcolor=heat(getattr(b, costs), top), color=color, penwidth="2.5")
    return attrs


HEAT_DECADES = 4  # the shading spans four orders of magnitude below the largest value


def heat(value: int, top: int) -> str:
    """White to red on a log scale over four decades below `top`, so that the heavy layers differ."""
    if top <= 0 or value <= 0:
        return "#ffffff"
    t = min(max(1 + math.log10(value / top) / HEAT_DECADES, 0.0), 1.0)
    lo, hi = (255, 245, 240), (251, 106, 74)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(lo, hi))


def compact(n: float) -> str:
    """Three significant digits and a unit: 1.85 G, 86.7 M, 1.79 K, 120."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g}"


def _categories(view: View) -> list[str]:
    seen: list[str] = []
    for bid in view.order:
        c = view.boxes[bid].category
        if c not in seen:
            seen.append(c)
    known = list(CATEGORY_NAMES)
    return sorted(seen, key=lambda c: known.index(c) if c in known else len(known))


def title_label(title: str) -> str:
    return f'<<FONT POINT-SIZE="14"><B>{_esc(title)}</B></FONT>>'


def legend_label(cats: list[str], costs: str | None = None, top: int = 0, columns: int = 4) -> str:
    """The legend, an HTML table for a `plaintext` node: a swatch and a name per category, and with
    costs the shading's scale."""
    cells = [f'<TD BGCOLOR="{category_color(c)}" WIDTH="16" HEIGHT="10" BORDER="1"></TD>'
             f'<TD ALIGN="LEFT">{_esc(CATEGORY_NAMES.get(c, c))}</TD><TD WIDTH="6"></TD>' for c in cats]
    grid = "".join("<TR>" + "".join(cells[i:i + columns]) + "</TR>" for i in range(0, len(cells), columns))
    if costs and top:
        ramp = "".join(f'<TD BGCOLOR="{heat(round(top * 10 ** (HEAT_DECADES * (i / 5 - 1))), top)}" WIDTH="8" '
                       f'HEIGHT="10" BORDER="1"></TD>' for i in range(6))
        name = "MACs" if costs == "macs" else "parameters"
        grid += (f'<TR><TD COLSPAN="{3 * columns}" ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0">'
                 f'<TR><TD>fill: {name}&nbsp;&nbsp;≤{compact(top / 10 ** HEAT_DECADES)}&nbsp;</TD>{ramp}'
                 f'<TD>&nbsp;{compact(top)} (log scale)</TD></TR></TABLE></TD></TR>')
    return ('<<FONT POINT-SIZE="9"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
            f"{grid}</TABLE></FONT>>")


# -- output ------------------------------------------------------------------------------------

def output_format(path: str | Path | None, fmt: str | None) -> str:
    """The format asked for with `--format`, else the file's extension (`.gv` is DOT), else svg."""
    if fmt:
        if fmt not in FORMATS:
            raise SpecError(Diagnostic("E202", f"unknown format `{fmt}`", expected=", ".join(FORMATS)))
        return fmt
    ext = Path(path).suffix.lower().lstrip(".") if path else ""
    if ext == "gv":
        return "dot"
    if ext == "htm":
        return "html"
    if ext in FORMATS:
        return ext
    if ext:
        raise SpecError(Diagnostic("E202", f"cannot tell the format of `{path}` from its extension",
                                   expected="a file ending in " + ", ".join("." + f for f in FORMATS),
                                   hint="or give --format"))
    return "svg"


def to_bytes(dg: graphviz.Digraph, fmt: str, dpi: int = 150) -> bytes:
    """The picture in `fmt` (svg, png, pdf) or the DOT text ("dot"). Raises `DotNotFound`."""
    import graphviz

    if fmt == "dot":
        return dg.source.encode()
    if fmt == "html":
        raise ValueError("the HTML view is made from the analysis, not from a Digraph: archspec.view(spec).save(path)")
    g = dg.copy()
    if fmt == "png":
        g.attr(dpi=str(dpi))
    try:
        data: bytes = g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise DotNotFound() from None
    return data


def write(dg: graphviz.Digraph, path: str | Path, fmt: str | None = None, dpi: int = 150) -> str:
    """Write the picture (or DOT text) whole or not at all; returns the format used."""
    from archspec.cli import write_atomic

    fmt = output_format(path, fmt)
    write_atomic(path, to_bytes(dg, fmt, dpi))
    return fmt
