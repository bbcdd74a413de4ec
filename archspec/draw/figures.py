"""Figures of a network: `archspec.render(spec, **options)` returns a `graphviz.Digraph` in either style,
the graph view (render.py) or feature maps as boxes (volumes.py), fitted to a frame (fit.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.draw.fit import (
    SLIDE_WIDTH_IN,
    Fit,
    Layout,
    check_font_scale,
    parse_aspect,
    parse_width,
    parse_wrap,
)
from archspec.draw.render import COST_METRICS, RANKDIRS, STYLES, graph_digraph
from archspec.draw.view import build_view
from archspec.draw.volumes import volumes
from archspec.pipeline import Spec
from archspec.report.analysis import Analysis, analyze

if TYPE_CHECKING:
    import graphviz


def render(spec: str | Path | Spec | Analysis, *, style: str = "graph", depth: int | None = None,
           expand: Sequence[str] = (), rankdir: str = "TB", costs: str | None = None, legend: bool = True,
           edge_labels: bool = True, title: str | bool = True, input: Any = None,
           params: dict[str, Any] | None = None, width: str | float | None = SLIDE_WIDTH_IN,
           aspect: str | float = "16:9", wrap: int | str | None = None, font_scale: float = 1.0,
           dpi: int = 150) -> graphviz.Digraph:
    """Draw a network. `spec` is what `archspec.analyze` takes, or an `Analysis`; network parameters
    go in `params` (`render("resnet", params={"depth": 152}, depth=1)`: here `depth=1` is the
    drawing's collapse depth). Options:

    style        "graph" or "volumes" (feature maps as 3D boxes)
    depth        draw blocks nested deeper than this many block levels as one box each
    expand       block instances (`stage3.bottleneck2`) or block names to draw open anyway
    rankdir      "TB" (top to bottom) or "LR" (left to right)
    costs        "macs" or "params": print parameters and MACs and shade boxes by this one
    legend       draw the colour legend
    edge_labels  label edges with the tensor shapes that no box prints
    title        True for the network's name, a string for your own, False for none
    width        the frame the figure is made for: inches, or "13.33in", "30cm", "1920px" (at `dpi`);
                 None for the natural size (see `render_fit.py`)
    aspect       the frame's width:height, "16:9" (a slide) by default
    wrap         rows (columns, top to bottom): None or "auto" to fit the frame, 1 for none
    font_scale   all text this many times its default size
    dpi          the resolution a width in px is counted at (as for png output)
    """
    return figure(spec, style=style, depth=depth, expand=expand, rankdir=rankdir, costs=costs, legend=legend,
                  edge_labels=edge_labels, title=title, input=input, params=params, width=width, aspect=aspect,
                  wrap=wrap, font_scale=font_scale, dpi=dpi)[0]


def figure(spec: str | Path | Spec | Analysis, *, style: str = "graph", depth: int | None = None,
           expand: Sequence[str] = (), rankdir: str = "TB", costs: str | None = None, legend: bool = True,
           edge_labels: bool = True, title: str | bool = True, input: Any = None,
           params: dict[str, Any] | None = None, width: str | float | None = SLIDE_WIDTH_IN,
           aspect: str | float = "16:9", wrap: int | str | None = None, font_scale: float = 1.0,
           dpi: int = 150) -> tuple[graphviz.Digraph, Layout]:
    """`render`, and how the figure came out (`render_fit.Layout`: rows, size, scale, smallest text)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if rankdir.upper() not in RANKDIRS:
        raise ValueError(f"unknown rankdir {rankdir!r}; choose one of {', '.join(RANKDIRS)}")
    if costs is not None and costs not in COST_METRICS:
        raise ValueError(f"unknown cost metric {costs!r}; choose one of {', '.join(COST_METRICS)}")
    fit = Fit(parse_width(width, dpi), parse_aspect(aspect), check_font_scale(font_scale), parse_wrap(wrap))
    a = spec if isinstance(spec, Analysis) else analyze(spec, input=input, params=params)
    heading = a.title if title is True else (title or "")
    if style == "volumes":
        extra = [o for o, on in (("costs", costs), ("rankdir", rankdir.upper() != "TB"),
                                 ("no edge labels", not edge_labels)) if on]
        if extra:
            raise SpecError(Diagnostic("E202", f"{', '.join(extra)}: only for the graph style, not for volumes",
                                       hint="drop the option, or draw with --style graph"))

        return volumes(a, depth=depth, expand=expand, legend=legend, title=heading, fit=fit)
    view = build_view(a.ir, depth=depth, expand=expand)
    return graph_digraph(view, rankdir=rankdir.upper(), costs=costs, legend=legend, edge_labels=edge_labels,
                         title=heading, fit=fit)
