"""Scatter charts of networks' figures (`compare --plot`, `sweep --plot`): any two columns, a third as
colour, the Pareto front (or the configurations a sweep picked) marked, as SVG, PNG or PDF.

The chart is described as data (`Chart`), then drawn with matplotlib (the optional extra `[plot]`), so
that the three formats are one drawing: the same axes, gridlines, labels and colour bar in each.
Axes are logarithmic where the values span a wide range (parameters, MACs, memory usually do).

    >>> from archspec.draw.chart import Chart, render   # Chart: archspec/report/chart.py
    >>> c = Chart(x=[1.8e9, 3.6e9], y=[11.7e6, 21.8e6], labels=["ResNet-18", "ResNet-34"],
    ...           x_key="macs", y_key="params", title="Parameters against MACs")
    >>> render(c, "svg")[:5]                                        # doctest: +SKIP
    b'<?xml'
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from typing import Any, cast

from archspec.diagnostics import Diagnostic, SpecError
from archspec.report.chart import Chart, figure_kind, show_value

__all__ = ["Chart", "output_format", "render", "require_matplotlib"]

FORMATS = ("svg", "png", "pdf")
DEFAULT_DPI = 150
SIZE = (9.0, 6.0)  # inches: 1350×900 pixels at the default 150 dpi, a 3:2 slide

def require_matplotlib() -> None:
    """One diagnostic, with the command that installs it, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpecError(Diagnostic("E209", "--plot needs matplotlib, which is not installed: "
                                           "pip install 'archspec[plot]'")) from None


def output_format(path: str) -> str:
    """`chart.svg` → "svg"; anything but .svg, .png or .pdf is a diagnostic."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if suffix not in FORMATS:
        raise SpecError(Diagnostic("E202", f"--plot writes .svg, .png or .pdf, not {path!r}",
                                   hint="for example --plot chart.svg"))
    return suffix


# -- drawing -------------------------------------------------------------------------------------

_STYLE: dict[str, Any] = {
    "font.size": 12, "axes.titlesize": 15, "axes.labelsize": 13, "xtick.labelsize": 11.5,
    "ytick.labelsize": 11.5, "legend.fontsize": 11, "legend.title_fontsize": 11.5,
    "font.family": "DejaVu Sans", "svg.hashsalt": "archspec", "axes.titlepad": 10,
}
POINT = "#1f77b4"
MUTED = "#c8c8c8"


def render(chart: Chart, fmt: str = "svg", dpi: int = DEFAULT_DPI) -> bytes:
    """The chart as the bytes of an SVG, PNG or PDF file (the same drawing in each)."""
    if fmt not in FORMATS:
        raise ValueError(f"a chart is drawn as {', '.join(FORMATS)}, not {fmt!r}")
    require_matplotlib()
    import matplotlib

    with matplotlib.rc_context(cast(Any, _STYLE)):
        fig = _figure(chart, dpi)
        buf = io.BytesIO()
        metadata: dict[str, Any] = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
                                    "png": {}}[fmt]
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    return buf.getvalue()


def _wide(values: Sequence[float]) -> bool:
    """A log axis: every value positive, spanning 20× or more."""
    pos = [v for v in values if v is not None]
    return bool(pos) and min(pos) > 0 and max(pos) / min(pos) >= 20


def _figure(chart: Chart, dpi: int) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)  # text is measured with Agg's metrics, for every format
    ax = fig.add_subplot()
    n = len(chart.x)
    muted = chart.muted or [False] * n
    shown = [i for i in range(n) if not muted[i]]
    hidden = [i for i in range(n) if muted[i]]
    for axis, values, kind in ((ax.xaxis, chart.x, figure_kind(chart.x_key)), (ax.yaxis, chart.y, figure_kind(chart.y_key))):
        _scale(ax, axis, values, kind)
    ax.grid(True, which="major", color="#d9d9d9", linewidth=0.8)
    ax.grid(True, which="minor", color="#eeeeee", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_xlabel(chart.x_title)
    ax.set_ylabel(chart.y_title)
    if chart.title:  # over the whole figure: a colour bar or legend beside the axes leaves it room
        fig.suptitle(chart.title, fontsize=_STYLE["axes.titlesize"])
    if chart.subtitle:
        sub = chart.subtitle if len(chart.subtitle) <= 100 else chart.subtitle[:99] + "…"
        ax.set_title(sub, fontsize=11.5, color="#555555")
    size = 55 if n <= 60 else 30 if n <= 600 else 12
    marks = []  # the legend inside the axes: points left out, points picked
    if hidden:
        marks.append(ax.scatter([chart.x[i] for i in hidden], [chart.y[i] for i in hidden], s=size * 0.6, c=MUTED,
                                linewidths=0, label=chart.muted_title, zorder=2))
    categories = _colour_points(fig, ax, chart, shown, size)
    if chart.highlight:
        hx = [chart.x[i] for i in chart.highlight]
        hy = [chart.y[i] for i in chart.highlight]
        if chart.front and len(chart.highlight) > 1:
            order = sorted(range(len(hx)), key=lambda k: (hx[k], hy[k]))
            ax.plot([hx[k] for k in order], [hy[k] for k in order], color="#222222", linewidth=1.2,
                    linestyle="--", zorder=3)
        marks.append(ax.scatter(hx, hy, s=size * 2.6, facecolors="none", edgecolors="#111111", linewidths=1.6,
                                label=chart.highlight_title or "Pareto front", zorder=5))
    if marks:
        legend = ax.legend(handles=marks, loc="best", framealpha=0.92)
        if categories:
            ax.add_artist(legend)  # the next legend replaces the axes' own: keep this one drawn
    if categories:  # colours that are categories: a legend beside the axes, where a colour bar would be
        ax.legend(handles=categories, title=chart.colour_title, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, borderaxespad=0)
    fig.draw_without_rendering()  # settle the layout, so that labels are placed in final pixels
    _place_labels(fig, ax, chart, size)
    return fig


def _colour_points(fig: Any, ax: Any, chart: Chart, shown: list[int], size: float) -> list[Any]:
    """Draw the points, coloured; return the legend's entries when the colours are categories."""
    xs = [chart.x[i] for i in shown]
    ys = [chart.y[i] for i in shown]
    if chart.colour is None:
        ax.scatter(xs, ys, s=size, c=POINT, alpha=0.85, linewidths=0.4, edgecolors="white", zorder=4)
        return []
    values = [chart.colour[i] for i in shown]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    distinct = list(dict.fromkeys(values))
    if numeric and len(distinct) > 8:
        from matplotlib.colors import LogNorm, Normalize

        norm = LogNorm() if _wide(values) else Normalize()
        sc = ax.scatter(xs, ys, s=size, c=values, cmap="viridis", norm=norm, alpha=0.9, linewidths=0.4,
                        edgecolors="white", zorder=4)
        bar = fig.colorbar(sc, ax=ax, pad=0.01)
        bar.set_label(chart.colour_title)
        if _wide(values):
            _formatter(bar.ax.yaxis, figure_kind(chart.colour_key), log=True)
        return []
    if numeric:
        distinct.sort()
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(distinct) <= 10 else "tab20"]
    handles = []
    for k, v in enumerate(distinct):
        idx = [j for j, w in enumerate(values) if w == v]
        handles.append(ax.scatter([xs[j] for j in idx], [ys[j] for j in idx], s=size, color=cmap(k % cmap.N),
                                  alpha=0.9, linewidths=0.4, edgecolors="white", label=show_value(v), zorder=4))
    return handles


def _scale(ax: Any, axis: Any, values: Sequence[float], kind: str) -> None:
    log = _wide(values)
    if log:
        (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
        lo, hi = min(values), max(values)
        # pad by a seventh of a decade, so that points and their labels keep off the frame
        (ax.set_xlim if axis is ax.xaxis else ax.set_ylim)(lo / 10 ** 0.15, hi * 10 ** 0.15)
        if math.log10(hi / lo) <= 2.5:  # up to two decades and a half: 2 and 5 of each are labelled too
            from matplotlib.ticker import LogLocator

            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        lo, hi = (min(values), max(values)) if values else (0, 1)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1
        (ax.set_xlim if axis is ax.xaxis else ax.set_ylim)(lo - pad, hi + pad)
    _formatter(axis, kind, log)


def _formatter(axis: Any, kind: str, log: bool) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if kind == "count":
        axis.set_major_formatter(FuncFormatter(lambda v, _: human_count(v)))
    elif kind == "bytes":
        axis.set_major_formatter(FuncFormatter(lambda v, _: human_size(v)))
    elif log:
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if log:
        axis.set_minor_formatter(NullFormatter())


def human_count(v: float) -> str:
    """Tick text: 1 K, 2.5 M, 100 G."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g}"


def human_size(v: float) -> str:
    """Tick text in bytes: 512 KiB, 1.5 GiB."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g} B"


# -- labels --------------------------------------------------------------------------------------

# Where a label may go, in points from its dot: right, left, above, below, the diagonals, then farther.
_OFFSETS = ((7, 0, "left", "center"), (-7, 0, "right", "center"), (0, 8, "center", "bottom"),
            (0, -8, "center", "top"), (6, 6, "left", "bottom"), (-6, 6, "right", "bottom"),
            (6, -6, "left", "top"), (-6, -6, "right", "top"), (0, 22, "center", "bottom"),
            (0, -22, "center", "top"), (10, 16, "left", "bottom"), (-10, 16, "right", "bottom"),
            (10, -16, "left", "top"), (-10, -16, "right", "top"))


def _place_labels(fig: Any, ax: Any, chart: Chart, size: float) -> None:
    """Greedy placement in display pixels: each label takes the first spot around its dot that overlaps
    no dot, no label placed before and stays inside the axes; failing that, the least crowded spot (when
    every point is labelled) or none (a dense sweep, where the table names the points)."""
    todo = chart.labelled()
    if not todo:
        return
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    pts = to_px(list(zip(chart.x, chart.y)))
    radius = math.sqrt(size) / 2 * fig.dpi / 72 + 1
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    cell = 24.0
    for px, py in pts:
        cells.setdefault((int(px // cell), int(py // cell)), []).append((px, py))
    if chart.front and len(chart.highlight) > 1:  # the front's line: labels keep off it too
        line = sorted((pts[i][0], pts[i][1]) for i in chart.highlight)
        for (x0, y0), (x1, y1) in itertools.pairwise(line):
            steps = int(math.hypot(x1 - x0, y1 - y0) // 6)
            for k in range(1, steps):
                qx, qy = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
                cells.setdefault((int(qx // cell), int(qy // cell)), []).append((qx, qy))
    placed: list[tuple[float, float, float, float]] = []
    fontsize = 10.5 if len(todo) <= 12 else 9.5
    scale = fig.dpi / 72
    muted = chart.muted or [False] * len(chart.x)
    all_points = len(todo) == sum(1 for i, m in enumerate(muted) if not m and chart.labels[i])

    def crowding(b: tuple[float, float, float, float]) -> float:
        x0, y0, x1, y1 = b
        bad = 0.0
        if x0 < box.x0 + 4 or x1 > box.x1 - 4 or y0 < box.y0 + 4 or y1 > box.y1 - 4:  # off the frame
            bad += 1000
        for q in placed:
            w = min(x1, q[2]) - max(x0, q[0])
            h = min(y1, q[3]) - max(y0, q[1])
            if w > 0 and h > 0:
                bad += w * h
        for cx in range(int((x0 - radius) // cell), int((x1 + radius) // cell) + 1):
            for cy in range(int((y0 - radius) // cell), int((y1 + radius) // cell) + 1):
                for px, py in cells.get((cx, cy), ()):
                    if x0 - radius < px < x1 + radius and y0 - radius < py < y1 + radius:
                        bad += 50
        return bad

    ringed = set(chart.highlight)
    for i in todo:
        text = chart.labels[i]
        w, h, _ = renderer.get_text_width_height_descent(text, _font(fontsize), ismath=False)
        px, py = pts[i]
        best = None
        grow = math.sqrt(size * (2.6 if i in ringed else 1)) / 2 - 2  # points beyond the dot's default gap
        for dx0, dy0, ha, va in _OFFSETS:
            dx = dx0 + math.copysign(grow, dx0) if dx0 else 0.0
            dy = dy0 + math.copysign(grow, dy0) if dy0 else 0.0
            ox, oy = px + dx * scale, py + dy * scale
            x0 = ox if ha == "left" else ox - w if ha == "right" else ox - w / 2
            y0 = oy if va == "bottom" else oy - h if va == "top" else oy - h / 2
            b = (x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
            bad = crowding(b)
            if best is None or bad < best[0]:
                best = (bad, dx, dy, ha, va, b)
            if bad == 0:
                break
        assert best is not None
        if best[0] > 0 and not (all_points or i in ringed):  # a crowded sweep: only its picked points
            continue
        placed.append(best[5])
        far = abs(best[1]) > 12 or abs(best[2]) > 12  # a label set apart gets a leader line to its point
        ann = ax.annotate(text, (chart.x[i], chart.y[i]), xytext=(best[1], best[2]), textcoords="offset points",
                          ha=best[3], va=best[4], fontsize=fontsize, color="#222222", zorder=6,
                          annotation_clip=False, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                                       "edgecolor": "none", "alpha": 0.7},
                          arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.7,
                                      "shrinkA": 1, "shrinkB": 3} if far else None)
        ann.set_in_layout(False)


def _font(size: float) -> Any:
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size)
