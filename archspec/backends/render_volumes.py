"""The volumes style: feature maps as 3D boxes along the network's main path, as in the LeNet, AlexNet
and VGG papers' figures.

Each drawn tensor is a box whose front face is its spatial map (height × width) and whose depth,
receding up and to the right at half scale (a cabinet projection), is its channels. Sizes follow the
shapes on compressed scales (a square root of the spatial size, a logarithm of the channels), so that
3×224×224 and 512×7×7 both read; a vector (or a C×1×1 map) is a thin bar. Consecutive maps of one
shape stand together under one label. Activations, normalisations, dropout and reshapes are not
drawn (they make no new map of interest); a block whose body branches is one box (its output), so
a branching network shows its stage outputs; `depth` and `expand` work as in the graph view. Edges
that skip along the path (U-Net's copies) are drawn as arcs above the boxes.

graphviz has no 3D boxes: each face is a `polygon` node (sides=4 with `skew` and `orientation`),
pinned in place for `neato`. `parallelogram()` inverts graphviz's polygon geometry to find the
attributes that draw a given parallelogram.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec.backends.render_view import Box, View, build_view, category_color
from archspec.graph.ir import scope_chain
from archspec.layers import KINDS
from archspec.layers.base import Shape, fmt_shape

if TYPE_CHECKING:
    import graphviz

    from archspec.analysis import Analysis

FONT = "Helvetica"
SKIPPED = ("activation", "norm", "regularization")
RECEDE = 0.5  # depth is drawn at half length, at 45°
_A = 0.5 * math.sqrt(0.5)  # graphviz's unit square for sides=4: corners at (±A·…, ±A)


# -- sizes ---------------------------------------------------------------------------------------

def spatial_pt(n: int) -> float:
    return 12.0 + 7.0 * math.sqrt(n)


def channels_pt(c: int) -> float:
    return 2.0 + 14.0 * math.log2(max(c, 1))


def vector_pt(n: int) -> float:
    return 10.0 + 11.0 * math.log2(max(n, 1))


@dataclass
class Volume:
    """One drawn box: front face w × h (points) centred at (x, 0), its depth drawn as the offset
    (dx, dy) of the back face (None when graphviz could not draw the slanted faces)."""

    box: Box
    w: int
    h: int
    dx: float
    dy: float
    faces: bool = True
    x: float = 0.0


def _is_vector(s: Shape) -> bool:
    return len(s) == 1 or all(x == 1 for x in s[1:])


def _volume(b: Box, vector_scale: float = 1.0) -> Volume:
    s = b.shape
    if _is_vector(s):
        w, h, d = 8, round(vector_pt(s[0]) * vector_scale), 8.0
    else:
        w = 8 if len(s) == 2 else round(spatial_pt(s[-1]))
        h = round(spatial_pt(s[-1] if len(s) == 2 else s[-2]))
        limit = 1.8 * min(w, h) / (RECEDE * math.sqrt(0.5))  # graphviz can draw the faces up to this depth
        d = min(channels_pt(s[0]), limit)
    off = d * RECEDE * math.sqrt(0.5)
    fitted = fit(round(off, 2), w, h)
    if fitted is None:
        return Volume(b, w, h, 0.0, 0.0, faces=False)
    w, h, dx, dy = fitted
    return Volume(b, w, h, dx, dy)


# -- graphviz polygons ----------------------------------------------------------------------------

def _unit(s: float) -> list[tuple[float, float]]:
    sd, g = math.hypot(s, 1.0), s / 2
    return [(_A * sd + _A * g, _A), (-_A * sd + _A * g, _A), (-_A * sd - _A * g, -_A), (_A * sd - _A * g, -_A)]


@dataclass(frozen=True)
class Polygon:
    """graphviz attributes of a `sides=4` polygon: skew, orientation (degrees), width and height
    (whole points, as graphviz rounds them), and how far its corners land from the ones asked for."""

    skew: float
    orientation: float
    width: int
    height: int
    error: float


def _extent(size: int, e: float) -> float:
    """The extent graphviz draws for a polygon whose unit shape spans `e` on this axis, given `size`
    points: the shape is scaled to the bounding box B = size·max(1, e), then by B / round(B) again
    when the box is drawn (graphviz's poly_init and poly_gencode)."""
    b = size * max(1.0, e)
    return b * b / max(round(b), 1)


def _size(target: float, e: float) -> tuple[int, float]:
    """The whole-point size whose drawn extent comes closest to `target`, and the extent."""
    guess = target / max(1.0, e)
    best = min({max(1, math.floor(guess) + k) for k in (-1, 0, 1, 2)}, key=lambda n: abs(_extent(n, e) - target))
    return best, _extent(best, e)


def parallelogram(u: tuple[float, float], v: tuple[float, float]) -> Polygon | None:
    """The `sides=4` polygon whose edges are the vectors u and v (y up), or None if graphviz cannot
    draw it.

    graphviz draws the unit square sheared by `skew` (K = [[√(s²+1), s/2], [0, 1]]), rotated by
    `orientation`, then scaled on x and y to the node's size; so [u v] = diag(fx, fy)·R(θ)·K·2A and
    the rows of [u v]·K⁻¹ must be orthogonal: a quadratic in t = s / (2√(s²+1))."""
    for p, q in ((u, v), (v, u), (u, _neg(v)), (v, _neg(u)), (_neg(u), v), (_neg(v), u)):
        (ux, uy), (vx, vy) = p, q
        a, b, c = -3 * ux * uy, -(vx * uy + ux * vy), ux * uy + vx * vy
        if abs(a) < 1e-12:
            roots = [-c / b] if abs(b) > 1e-12 else []
        else:
            disc = b * b - 4 * a * c
            roots = [(-b + r) / (2 * a) for r in (math.sqrt(disc), -math.sqrt(disc))] if disc >= 0 else []
        for t in sorted(roots, key=abs):
            if abs(t) >= 0.49:
                continue
            s = 2 * t / math.sqrt(1 - 4 * t * t)
            sd = math.hypot(s, 1.0)
            n11, n12 = ux / sd / (2 * _A), (vx - ux * s / (2 * sd)) / (2 * _A)
            n21, n22 = uy / sd / (2 * _A), (vy - uy * s / (2 * sd)) / (2 * _A)
            if n11 * n22 - n12 * n21 <= 0:
                continue
            fx, fy = math.hypot(n11, n12), math.hypot(n21, n22)
            th = math.atan2(n21 / fy, n11 / fx)
            pts = [(math.cos(th) * x - math.sin(th) * y, math.sin(th) * x + math.cos(th) * y) for x, y in _unit(s)]
            ex, ey = 2 * max(abs(x) for x, _ in pts), 2 * max(abs(y) for _, y in pts)
            (w, dw), (h, dh) = _size(fx * ex, ex), _size(fy * ey, ey)
            err = max(abs(dw - fx * ex), abs(dh - fy * ey)) / 2
            return Polygon(s, math.degrees(th), w, h, err)
    return None


def _neg(v: tuple[float, float]) -> tuple[float, float]:
    return -v[0], -v[1]


def _misfit(w: float, h: float, dx: float, dy: float) -> float | None:
    top, side = parallelogram((w, 0), (dx, dy)), parallelogram((0, h), (dx, dy))
    if top is None or side is None:
        return None
    return max(top.error, side.error)


def _search(w: int, h: int, cx: float, cy: float, step: float, n: int,
            best: tuple[float, int, int, float, float] | None) -> tuple[float, int, int, float, float] | None:
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            e = _misfit(w, h, cx + i * step, cy + j * step)
            if e is not None and (best is None or e < best[0]):
                best = (e, w, h, cx + i * step, cy + j * step)
    return best


@functools.lru_cache(maxsize=4096)
def fit(d: float, w: int, h: int) -> tuple[int, int, float, float] | None:
    """A front face (w, h) and depth offset (dx, dy) near (w, h) and (d, d) for which the slanted
    faces have whole-point sizes: graphviz rounds every node's size to whole points, which would
    otherwise open seams between the faces."""
    best: tuple[float, int, int, float, float] | None = None
    for dw, dh in ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, -1)):
        b = _search(w + dw, h + dh, d, d, 0.25, 4, None)
        if b is None:
            continue
        b = _search(b[1], b[2], b[3], b[4], 0.05, 3, b)
        if b is not None and (best is None or b[0] < best[0]):
            best = b
        if best is not None and best[0] < 0.05:
            break
    return None if best is None else best[1:]


# -- the picture ---------------------------------------------------------------------------------

def _branchy_blocks(a: Analysis) -> set[str]:
    """Block instances whose body has a merge: drawn as one box (their output)."""
    scopes = a.scopes
    out: set[str] = set()
    for _, d in a.graph.nodes(data=True):
        if d["role"] == "merge":
            out.update(c for c in scope_chain(d["scope"]) if scopes[c].kind == "block")
    return out


def volumes(a: Analysis, *, depth: int | None = None, expand: Sequence[str] = (), legend: bool = True,
            title: str = "") -> graphviz.Digraph:
    import graphviz

    closed = _branchy_blocks(a) if depth is None else set()
    view = build_view(a.graph, depth=depth, expand=expand, closed=closed)
    path = [view.boxes[i] for i in view.main_path()]
    drawn = [b for b in path if _drawn(b)]
    groups = _groups(drawn)
    max_h = max((_volume(b).h for b in drawn if not _is_vector(b.shape)), default=120.0)
    longest = max((vector_pt(b.shape[0]) for b in drawn if _is_vector(b.shape)), default=1.0)
    vector_scale = min(1.0, max_h / longest)  # bars no taller than the tallest map, in proportion

    dg = graphviz.Digraph(name=view.name, engine="neato")
    dg.attr(inputscale="72", overlap="true", splines="curved", pad="0.3", fontname=FONT, labelloc="t")
    dg.attr("node", label="", fixedsize="true", style="filled", penwidth="0.6", color="#333333", regular="false")
    dg.attr("edge", color="#888888", penwidth="0.8", arrowsize="0.5")
    x = 0.0
    vols: dict[str, Volume] = {}
    label_y = -max_h / 2 - 18
    for gi, g in enumerate(groups):
        vs = [_volume(b, vector_scale) for b in g]
        text = _group_label(g)
        text_w = max(len(line) for line in text) * 5.6
        step = vs[0].w + 4  # maps of one shape stand side by side, 4 pt apart
        width = vs[0].w + step * (len(vs) - 1) + vs[-1].dx
        start = x + max(0.0, (text_w - width) / 2)
        for i, v in enumerate(vs):
            v.x = start + v.w / 2 + i * step
            vols[v.box.id] = v
            _draw(dg, v)
        mid = start + (width - vs[-1].dx) / 2
        lines = "<BR/>".join(_esc(t) for t in text[:-1]) + f'<BR/><FONT COLOR="#555555">{_esc(text[-1])}</FONT>'
        dg.node(f"label{gi}", label=f"<{lines}>", shape="plaintext", style="", fixedsize="false", fontsize="10",
                fontname=FONT, width="0", height="0", margin="0", pos=f"{mid:.2f},{label_y:.2f}!")
        x = max(start + width, x + text_w) + 22
    _arcs(dg, view, drawn, vols, max_h)
    from archspec.backends.render import legend_label, title_label

    if title:
        dg.attr(label=title_label(title))
    if legend and drawn:
        cats: list[str] = []
        for b in drawn:
            if b.category not in cats:
                cats.append(b.category)
        dg.node("legend", label=legend_label(cats, columns=6), shape="plaintext", style="", fixedsize="false", fontname=FONT,
                width="0", height="0", margin="0", pos=f"{(x - 22) / 2:.2f},{label_y - 34:.2f}!")
    return dg


def _drawn(b: Box) -> bool:
    if b.role in ("input", "block", "merge"):
        return True
    if b.role == "output":
        return False
    return b.category not in SKIPPED and not KINDS[b.kind].view


def _groups(boxes: list[Box]) -> list[list[Box]]:
    out: list[list[Box]] = []
    for b in boxes:
        last = out[-1][-1] if out else None
        if last is not None and last.shape == b.shape and _op(last) == _op(b) and "input" not in (last.role, b.role):
            out[-1].append(b)
        else:
            out.append([b])
    return out


def _op(b: Box) -> str:
    if b.role in ("input", "block"):
        return b.title  # an instance's own name (`inception3a`), or the block's label
    detail = re.sub(r" pad \S+| no bias", "", b.detail)
    return f"{b.title} {detail}".strip()


def _group_label(g: list[Box]) -> list[str]:
    lines: list[str] = []
    runs: list[tuple[str, int]] = []
    for b in g:
        op = _op(b)
        if runs and runs[-1][0] == op:
            runs[-1] = (op, runs[-1][1] + 1)
        else:
            runs.append((op, 1))
    lines = [op + (f" ×{n}" if n > 1 else "") for op, n in runs]
    return [*lines, fmt_shape(g[-1].shape)]


def _shade(color: str, f: float) -> str:
    """Mix a colour with white (f > 0) or black (f < 0)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    t = 255 if f > 0 else 0
    return "#" + "".join(f"{round(c + (t - c) * abs(f)):02x}" for c in rgb)


def _draw(dg: graphviz.Digraph, v: Volume) -> None:
    color = category_color(v.box.category)
    name = f"v_{_slug(v.box.id)}"
    tip = f"{v.box.tooltip or v.box.id}: {fmt_shape(v.box.shape)}"
    if v.faces:
        left, bottom = v.x - v.w / 2, -v.h / 2
        for face, (u, center, fill) in {
            "side": ((0.0, float(v.h)), (left + v.w + v.dx / 2, v.dy / 2), _shade(color, -0.18)),
            "top": ((float(v.w), 0.0), (v.x + v.dx / 2, bottom + v.h + v.dy / 2), _shade(color, 0.45)),
        }.items():
            p = parallelogram(u, (v.dx, v.dy))
            assert p is not None
            dg.node(f"{name}_{face}", shape="polygon", sides="4", skew=f"{p.skew:.6f}", orientation=f"{p.orientation:.5f}",
                    width=f"{p.width / 72:.6f}", height=f"{p.height / 72:.6f}", fillcolor=fill,
                    pos=f"{center[0]:.2f},{center[1]:.2f}!", tooltip=tip)
    dg.node(f"{name}_front", shape="box", width=f"{v.w / 72:.5f}", height=f"{v.h / 72:.5f}", fillcolor=color,
            pos=f"{v.x:.2f},0!", tooltip=tip)


def _arcs(dg: graphviz.Digraph, view: View, drawn: list[Box], vols: dict[str, Volume], max_h: float) -> None:
    """Edges between drawn maps that are not neighbours on the path (skips, U-Net's copies)."""
    index = {b.id: i for i, b in enumerate(drawn)}
    anchors: set[str] = set()
    for e in view.edges:
        s, t = _drawn_source(view, e.src, index), e.dst
        if s is None or t not in index or index[t] - index[s] <= 1:
            continue
        for b in (s, t):
            if b not in anchors:
                anchors.add(b)
                v = vols[b]
                dg.node(f"a_{_slug(b)}", shape="point", width="0.01", height="0.01", style="invis",
                        pos=f"{v.x + v.dx / 2:.2f},{v.h / 2 + v.dy + 4:.2f}!")
        dg.edge(f"a_{_slug(s)}", f"a_{_slug(t)}", style="dashed", tooltip=f"{s} → {t}: {fmt_shape(e.shape)}")


def _drawn_source(view: View, src: str, index: dict[str, int]) -> str | None:
    """The drawn map a tensor comes from: the box itself, or the nearest drawn box before it."""
    seen = 0
    while src not in index and seen < 64:
        preds = [e.src for e in view.edges if e.dst == src]
        if len(preds) != 1:
            return None
        src, seen = preds[0], seen + 1
    return src if src in index else None


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def _esc(s: str) -> str:
    import html

    return html.escape(s, quote=False)
