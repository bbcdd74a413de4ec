"""The volumes style: feature maps as 3D boxes along the network's main path, as in the LeNet, AlexNet
and VGG papers' figures.

Each drawn tensor is a box whose front face is its spatial map (height × width) and whose depth,
receding up and to the right at half scale (a cabinet projection), is its channels. Sizes follow the
shapes on compressed scales (a square root of the spatial size, a logarithm of the channels), so that
3×224×224 and 512×7×7 both read; a vector (or a C×1×1 map) is a thin bar. Consecutive maps of one
shape stand together under one label. Activations, normalisations, dropout and reshapes are not
drawn (they make no new map of interest); a block whose body branches is one box (its output), so
a branching network shows its stage outputs; `depth` and `expand` work as in the graph view.

The picture is fitted to a frame (`render_fit.py`: a 16:9 slide by default): a long network wraps into
rows read like text, and an encoder-decoder (resolution going down then back up, with a skip joining the
two sides at one resolution: U-Net, V-Net) is drawn as a U, a row per resolution level, each skip a
straight dashed line across its level. The boxes shrink (down to 0.3 of their size) to fit while the
text keeps its size; other skips are dashed brackets above a row. Every line is a chain of invisible
pinned points, so the picture needs no routing.

graphviz has no 3D boxes: each face is a `polygon` node (sides=4 with `skew` and `orientation`),
pinned in place for `neato`. `parallelogram()` inverts graphviz's polygon geometry to find the
attributes that draw a given parallelogram.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec.draw.fit import Fit, Layout, fit_ratio, measure, scale_for, size_attr, text_width
from archspec.draw.view import Box, View, build_view, category_color
from archspec.ir import scope_chain
from archspec.kinds import KINDS
from archspec.kinds.base import Shape, fmt_shape

if TYPE_CHECKING:
    import graphviz

    from archspec.report.analysis import Analysis

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
    """One drawn box: front face w × h (points) centred at (x, y), its depth drawn as the offset
    (dx, dy) of the back face (faces=False when graphviz could not draw the slanted faces)."""

    box: Box
    w: int
    h: int
    dx: float
    dy: float
    faces: bool = True
    x: float = 0.0
    y: float = 0.0


def _is_vector(s: Shape) -> bool:
    return len(s) == 1 or all(x == 1 for x in s[1:])


def _volume(b: Box, vector_scale: float = 1.0, scale: float = 1.0, exact: bool = True) -> Volume:
    """The box of a map at `scale` times the sizes above (bars keep their 8-point thickness). With
    `exact`, sizes are nudged so that graphviz draws the faces without seams (see `fit`)."""
    s = b.shape
    thin = max(4, round(8 * min(1.0, 0.5 + scale / 2)))
    if _is_vector(s):
        w, h, d = thin, max(4, round(vector_pt(s[0]) * vector_scale * scale)), float(thin)
    else:
        w = thin if len(s) == 2 else max(4, round(spatial_pt(s[-1]) * scale))
        h = max(4, round(spatial_pt(s[-1] if len(s) == 2 else s[-2]) * scale))
        limit = 1.8 * min(w, h) / (RECEDE * math.sqrt(0.5))  # graphviz can draw the faces up to this depth
        d = min(channels_pt(s[0]) * scale, limit)
    off = d * RECEDE * math.sqrt(0.5)
    if not exact:
        return Volume(b, w, h, off, off)
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

LABEL_PT, LEGEND_PT, TITLE_PT = 10.0, 9.0, 14.0  # text sizes (points, before the font scale)
GAP = 14.0  # between the maps of a row
ROW_GAP = 22.0  # between rows: room for the line that carries the network on
SKIP_GAP = 48.0  # in a U, between the contracting and the expanding side of a level
PAD = 0.15  # inches around the picture
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3)  # box sizes tried, largest first
MAX_ROWS = 8
ROW_COST = 0.9  # a row more is worth it if the boxes grow by more than this factor


def _branchy_blocks(a: Analysis) -> set[str]:
    """Block instances whose body has a merge: drawn as one box (their output)."""
    scopes = a.scopes
    out: set[str] = set()
    for n in a.ir:
        if n.op == "merge":
            out.update(c for c in scope_chain(n.scope_id) if scopes[c].kind == "block")
    return out


@dataclass
class Cell:
    """A run of maps of one shape made by the same operation, with its label under it: its left
    edge x0, and the row's axis y (where the front faces are centred)."""

    boxes: list[Box]
    vols: list[Volume]
    text: list[str]
    text_w: float
    text_h: float
    level: int = 0
    x0: float = 0.0
    y: float = 0.0
    drop: float = 0.0  # from the axis down to the label: the row's lowest front face

    @property
    def label_top(self) -> float:
        return self.y - self.drop - 4

    @property
    def fronts(self) -> float:
        """The width of the front faces side by side (4 points apart)."""
        return self.vols[0].w + (self.vols[0].w + 4) * (len(self.vols) - 1)

    @property
    def width(self) -> float:
        return max(self.fronts, self.text_w) + self.vols[-1].dx

    @property
    def centre(self) -> float:
        """Where the front faces (and the label) are centred."""
        return self.x0 + max(self.fronts, self.text_w) / 2

    @property
    def up(self) -> float:
        return max(v.h / 2 + v.dy for v in self.vols)

    @property
    def down(self) -> float:
        return max(v.h / 2 for v in self.vols)

    def place(self) -> None:
        start = self.centre - self.fronts / 2
        for i, v in enumerate(self.vols):
            v.x, v.y = start + v.w / 2 + i * (self.vols[0].w + 4), self.y


@dataclass
class Picture:
    """Where everything goes: cells, the rows' axes and extents, and the lines between maps."""

    cells: list[Cell]
    rows: list[list[Cell]]
    ups: list[float]
    downs: list[float]  # below the axis, labels included
    u_shape: bool
    lines: list[tuple[str, list[tuple[float, float]], bool]]  # (name, points, dashed): skips are dashed

    def bbox(self) -> tuple[float, float, float, float]:
        xs = [c.x0 for c in self.cells] + [c.x0 + c.width for c in self.cells]
        ys = [c.y + c.up for c in self.cells] + [c.y - self._down(c) for c in self.cells]
        for _, pts, _ in self.lines:
            xs += [x for x, _ in pts]
            ys += [y for _, y in pts]
        return min(xs), min(ys), max(xs), max(ys)

    @staticmethod
    def _down(c: Cell) -> float:
        return (c.drop or c.down) + 4 + c.text_h


def volumes(a: Analysis, *, depth: int | None = None, expand: Sequence[str] = (), legend: bool = True,
            title: str = "", fit: Fit | None = None) -> tuple[graphviz.Digraph, Layout]:
    """The volumes view, wrapped into rows, or drawn as a U for an encoder-decoder, to fit `fit`'s frame."""
    import graphviz

    from archspec.draw.render import legend_label, legend_width, title_label

    frame = fit or Fit()
    fs = frame.font_scale
    closed = _branchy_blocks(a) if depth is None else set()
    view = build_view(a.ir, depth=depth, expand=expand, closed=closed)
    path = [view.boxes[i] for i in view.main_path()]
    drawn = [b for b in path if _drawn(b)]
    groups = _groups(drawn)
    skips = _skips(view, drawn)
    levels = _levels(groups)
    u_shape = _is_u(groups, levels, skips)
    cats: list[str] = []
    for b in drawn:
        if b.category not in cats:
            cats.append(b.category)
    cats = cats if legend else []

    def picture(scale: float, rows: int, exact: bool) -> Picture:
        return _picture(groups, levels, skips, scale, rows, u_shape, fs, exact)

    def natural(p: Picture) -> tuple[float, float]:
        x0, y0, x1, y1 = p.bbox()
        w, h = x1 - x0, y1 - y0
        if title:
            w = max(w, text_width(title, TITLE_PT * fs, bold=True))
            h += TITLE_PT * fs * 1.5
        if cats:
            columns = _legend_columns(cats, w, fs, legend_width)
            w = max(w, legend_width(cats, columns, fs))
            h += 8 + -(-len(cats) // columns) * (LEGEND_PT * fs * 1.25 + 4)
        return w / 72 + 2 * PAD, h / 72 + 2 * PAD

    min_font = min(LABEL_PT, LEGEND_PT if cats else LABEL_PT) * fs
    most = 1 if u_shape else min(len(groups), MAX_ROWS)
    counts = [min(frame.wrap, most)] if frame.wrap is not None else ([1] if frame.width is None else range(1, most + 1))
    if frame.width is None:
        scale, rows = 1.0, counts[0]
    else:
        scale, rows = _choose(counts, lambda s, n: fit_ratio(natural(picture(s, n, False)), frame))
    pic = picture(scale, rows, True)

    dg = graphviz.Digraph(name=view.name, engine="neato")
    dg.attr(inputscale="72", overlap="true", splines="line", pad=str(PAD), fontname=FONT, labelloc="t")
    dg.attr("node", label="", fixedsize="true", style="filled", penwidth="0.6", color="#333333", regular="false")
    dg.attr("edge", color="#888888", penwidth="0.8", arrowsize="0.5")
    for c in pic.cells:
        for v in c.vols:
            _draw(dg, v)
        lines = "<BR/>".join(_esc(t) for t in c.text[:-1]) + f'<BR/><FONT COLOR="#555555">{_esc(c.text[-1])}</FONT>'
        dg.node(f"label_{_slug(c.boxes[0].id)}", label=f"<{lines}>", shape="plaintext", style="", fixedsize="false",
                fontsize=f"{LABEL_PT * fs:g}", fontname=FONT, width="0", height="0", margin="0",
                pos=f"{c.centre:.2f},{c.label_top - c.text_h / 2:.2f}!")
    for line, pts, dashed in pic.lines:
        names = [f"{line}_{j}" for j in range(len(pts))]
        for name, (x, y) in zip(names, pts):
            dg.node(name, shape="point", width="0.01", height="0.01", style="invis", pos=f"{x:.2f},{y:.2f}!")
        for j, (tail, head) in enumerate(itertools.pairwise(names)):
            last = j == len(names) - 2
            dg.edge(tail, head, **({"style": "dashed"} if dashed else {}), **({} if last else {"arrowhead": "none"}))
    if title:
        dg.attr(label=title_label(title, fs))
    if cats:
        x0, y0, x1, _ = pic.bbox()
        columns = _legend_columns(cats, x1 - x0, fs, legend_width)
        rows_h = -(-len(cats) // columns) * (LEGEND_PT * fs * 1.25 + 4)
        dg.node("legend", label=legend_label(cats, columns=columns, fs=fs), shape="plaintext", style="",
                fixedsize="false", fontname=FONT, width="0", height="0", margin="0",
                pos=f"{(x0 + x1) / 2:.2f},{y0 - 8 - rows_h / 2:.2f}!")
    size = (measure(dg, PAD) or natural(pic)) if frame.width is not None else natural(pic)
    layout = Layout(len(pic.rows), size, scale_for(size, frame, min_font), min_font, frame)
    size_text = size_attr(layout)
    if size_text:
        dg.attr(size=size_text)
    return dg, layout


def _legend_columns(cats: list[str], width: float, fs: float, legend_width: Callable[[list[str], int, float], float]) -> int:
    best = 1
    for c in range(1, len(cats) + 1):
        if legend_width(cats, c, fs) <= max(width, 200 * fs):
            best = c
    return best


def _choose(counts: Sequence[int], score: Callable[[float, int], float]) -> tuple[float, int]:
    """The box scale and row count to draw at: the largest boxes (a row more only if it makes them
    grow by more than 1 / ROW_COST) that fit the frame with the text at full size; else the
    arrangement that needs the least shrinking."""
    best: tuple[float, float, int] | None = None
    for n in counts:
        for s in SCALES:
            if score(s, n) >= 0.9999:
                value = s * ROW_COST ** (n - 1)
                if best is None or value > best[0] + 1e-9:
                    best = (value, s, n)
                break
    if best is not None:
        return best[1], best[2]
    least = SCALES[-1]
    n = max(counts, key=lambda n: (round(score(least, n), 4), -n))
    return least, n


def _picture(groups: list[list[Box]], levels: list[int], skips: list[tuple[str, str]], scale: float, rows: int,
             u_shape: bool, fs: float, exact: bool) -> Picture:
    maps = [b for g in groups for b in g if not _is_vector(b.shape)]
    max_h = max((_volume(b, 1.0, scale, False).h for b in maps), default=120.0 * scale)
    longest = max((vector_pt(b.shape[0]) * scale for g in groups for b in g if _is_vector(b.shape)), default=1.0)
    vector_scale = min(1.0, 0.75 * max_h / longest)  # bars at most 3/4 as tall as the tallest map, in proportion
    cells = []
    for g, level in zip(groups, levels):
        text = _group_label(g)
        cells.append(Cell(g, [_volume(b, vector_scale, scale, exact) for b in g], text,
                          max(text_width(t, LABEL_PT * fs) for t in text) + 6 * fs, len(text) * LABEL_PT * fs * 1.2,
                          level))
    if u_shape:
        return _u(cells, skips)
    return _rows(cells, skips, rows)


def _rows(cells: list[Cell], skips: list[tuple[str, str]], n: int) -> Picture:
    """The maps left to right, wrapped into n rows of about equal width; a line carries the network
    from the end of a row to the start of the next, and skips are brackets above the maps."""
    bounds = _balance([c.width + GAP for c in cells], n)
    rows = [cells[a:b] for a, b in itertools.pairwise([0, *bounds, len(cells)])]
    where = {b.id: c for c in cells for b in c.boxes}
    lines: list[tuple[str, list[tuple[float, float]], bool]] = []
    arcs: list[tuple[Cell, Cell]] = []
    names: dict[tuple[int, int], str] = {}
    for s, t in skips:
        arcs.append((where[s], where[t]))
        names[id(where[s]), id(where[t])] = _skip_name(s, t)
    ups: list[float] = []
    downs: list[float] = []
    y = 0.0
    for r, row in enumerate(rows):
        inside = [(sa, ta) for sa, ta in arcs if sa in row and ta in row]
        up = max(c.up for c in row) + (10 + 8 * len(inside) if inside else 0)
        for c in row:
            c.drop = max(c.down for c in row)
        down = max(Picture._down(c) for c in row)
        if r > 0:
            y -= downs[-1] + ROW_GAP + up
        x = 0.0
        for c in row:
            c.x0, c.y = x, y
            c.place()
            x += c.width + GAP
        ups.append(up)
        downs.append(down)
        top = y + max(c.up for c in row) + 10
        for k, (sa, ta) in enumerate(sorted(inside, key=lambda p: cells.index(p[1]) - cells.index(p[0]))):
            a, b = _top(sa), _top(ta)
            lines.append((names[id(sa), id(ta)], [a, (a[0], top + 8 * k), (b[0], top + 8 * k), b], True))
    for sa, ta in arcs:
        if not any(sa in row and ta in row for row in rows):
            lines.append((names[id(sa), id(ta)], [_top(sa), _top(ta)], True))
    for r in range(len(rows) - 1):
        last, first = rows[r][-1], rows[r + 1][0]
        mid = rows[r][0].y - downs[r] - ROW_GAP / 2
        lines.append((f"wrap{r + 1}", [(last.centre, last.y - Picture._down(last)), (last.centre, mid),
                                       (_top(first)[0], mid), _top(first)], False))
    return Picture(cells, rows, ups, downs, False, lines)


def _top(c: Cell) -> tuple[float, float]:
    """The middle of a cell's top: where lines come in from above."""
    v = c.vols[0] if len(c.vols) == 1 else c.vols[len(c.vols) // 2]
    return v.x + v.dx / 2, c.y + v.h / 2 + v.dy


def _balance(widths: list[float], n: int) -> list[int]:
    """Where to start rows 2..n so that the rows are as even as can be (the least sum of squares)."""
    count = len(widths)
    n = max(1, min(n, count))
    prefix = [0.0, *itertools.accumulate(widths)]
    inf = float("inf")
    cost = [[inf] * (count + 1) for _ in range(n + 1)]
    back = [[0] * (count + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, count + 1):
            for i in range(k - 1, j):
                c = cost[k - 1][i] + (prefix[j] - prefix[i]) ** 2
                if c < cost[k][j]:
                    cost[k][j], back[k][j] = c, i
    starts, j = [], count
    for k in range(n, 0, -1):
        j = back[k][j]
        if j > 0:
            starts.append(j)
    return sorted(starts)


def _u(cells: list[Cell], skips: list[tuple[str, str]]) -> Picture:
    """An encoder-decoder as a U: a row per resolution level, the contracting side going down on the
    left, the expanding side coming up on the right, each skip a straight line across its level."""
    bottom = max(c.level for c in cells)
    last = max(i for i, c in enumerate(cells) if c.level == bottom)
    enc: dict[int, list[Cell]] = {}
    dec: dict[int, list[Cell]] = {}
    for i, c in enumerate(cells):
        (dec if i > last else enc).setdefault(c.level, []).append(c)

    def run_w(run: list[Cell]) -> float:
        return sum(c.width for c in run) + GAP * (len(run) - 1) if run else 0.0

    indent = 0.5 * min(c.width for c in cells)
    widths = [2 * lv * indent + run_w(enc.get(lv, [])) + (SKIP_GAP + run_w(dec[lv]) if dec.get(lv) else 0)
              for lv in range(bottom + 1)]
    total = max(widths)
    ups: list[float] = []
    downs: list[float] = []
    y = 0.0
    for lv in range(bottom + 1):
        row = enc.get(lv, []) + dec.get(lv, [])
        up = max((c.up for c in row), default=0.0)
        for c in row:
            c.drop = max(c.down for c in row)
        down = max((Picture._down(c) for c in row), default=0.0)
        if lv > 0:
            y -= downs[-1] + ROW_GAP + up
        ups.append(up)
        downs.append(down)
        runs = [(enc.get(lv, []), lv * indent), (dec.get(lv, []), total - lv * indent - run_w(dec.get(lv, [])))]
        if lv == bottom and not dec.get(lv):
            runs = [(enc.get(lv, []), (total - run_w(enc.get(lv, []))) / 2)]
        for run, x in runs:
            for c in run:
                c.x0, c.y = x, y
                c.place()
                x += c.width + GAP
    rows = [enc.get(lv, []) + dec.get(lv, []) for lv in range(bottom + 1)]
    lines: list[tuple[str, list[tuple[float, float]], bool]] = []
    where = {b.id: c for c in cells for b in c.boxes}
    for s, t in skips:
        a, b = where[s], where[t]
        between = [c for c in cells if c.y == a.y and a.x0 < c.x0 < b.x0]
        if a.y == b.y and not between:
            v, w = a.vols[-1], b.vols[0]
            lines.append((_skip_name(s, t), [(v.x + v.w / 2 + v.dx / 2, a.y), (w.x - w.w / 2, b.y)], True))
        else:
            over = a.y + ups[a.level] + 8
            lines.append((_skip_name(s, t), [_top(a), (_top(a)[0], over), (_top(b)[0], over), _top(b)], True))
    for k, (p, q) in enumerate(itertools.pairwise(cells)):
        if p.level == q.level:
            continue
        if q.level > p.level:  # down: from under the label to the top of the next map
            mid = p.y - downs[p.level] - ROW_GAP * 0.35
            lines.append((f"down{k}", [(p.centre, p.y - Picture._down(p)), (p.centre, mid), (_top(q)[0], mid), _top(q)],
                          False))
        else:  # up: from the top of the map to under the next one's label (below the lines going down)
            mid = q.y - downs[q.level] - ROW_GAP * 0.7
            lines.append((f"up{k}", [_top(p), (_top(p)[0], mid), (q.centre, mid), (q.centre, q.y - Picture._down(q))],
                          False))
    return Picture(cells, rows, ups, downs, True, lines)


def _skip_name(s: str, t: str) -> str:
    return f"skip_{_slug(s)}__{_slug(t)}"


def _skips(view: View, drawn: list[Box]) -> list[tuple[str, str]]:
    """Edges between drawn maps that are not neighbours on the path (skips, U-Net's copies)."""
    index = {b.id: i for i, b in enumerate(drawn)}
    out: list[tuple[str, str]] = []
    for e in view.edges:
        s, t = _drawn_source(view, e.src, index), e.dst
        if s is None or t not in index or index[t] - index[s] <= 1 or (s, t) in out:
            continue
        out.append((s, t))
    return out


def _side(s: Shape) -> float:
    """A map's linear size: the geometric mean of its spatial sides (1 for a vector)."""
    if _is_vector(s) or len(s) < 2:
        return 1.0
    sides = s[1:]
    return math.prod(sides) ** (1 / len(sides))


def _levels(groups: list[list[Box]]) -> list[int]:
    """Each group's resolution level: 0 at the input, one more for each halving of the maps'
    size along the path (a valid convolution's few pixels are not a level), one less for each doubling."""
    levels, level, prev = [], 0, None
    for g in groups:
        side = _side(g[-1].shape)
        if prev is not None and side > 1 and prev > 1:
            steps = round(math.log2(prev / side))
            if abs(math.log2(prev / side)) >= 0.6:
                level += steps if steps else (1 if prev > side else -1)
        levels.append(level)
        if side > 1:
            prev = side
    return levels


def _is_u(groups: list[list[Box]], levels: list[int], skips: list[tuple[str, str]]) -> bool:
    """An encoder-decoder: the levels go down then come back up, and a skip joins the two sides at
    the same level (U-Net's and V-Net's copies)."""
    if len(groups) < 3 or not skips:
        return False
    bottom = max(levels)
    first = levels.index(bottom)
    last = len(levels) - 1 - levels[::-1].index(bottom)
    down, up = levels[:first + 1], levels[last:]
    if bottom <= 0 or any(b < a for a, b in itertools.pairwise(down)) or any(b > a for a, b in itertools.pairwise(up)):
        return False
    level = {b.id: lv for g, lv in zip(groups, levels) for b in g}
    position = {b.id: i for i, g in enumerate(groups) for b in g}
    return any(level[s] == level[t] < bottom and position[s] < first and position[t] > last for s, t in skips)


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
        left, bottom = v.x - v.w / 2, v.y - v.h / 2
        for face, (u, center, fill) in {
            "side": ((0.0, float(v.h)), (left + v.w + v.dx / 2, v.y + v.dy / 2), _shade(color, -0.18)),
            "top": ((float(v.w), 0.0), (v.x + v.dx / 2, bottom + v.h + v.dy / 2), _shade(color, 0.45)),
        }.items():
            p = parallelogram(u, (v.dx, v.dy))
            assert p is not None
            dg.node(f"{name}_{face}", shape="polygon", sides="4", skew=f"{p.skew:.6f}", orientation=f"{p.orientation:.5f}",
                    width=f"{p.width / 72:.6f}", height=f"{p.height / 72:.6f}", fillcolor=fill,
                    pos=f"{center[0]:.2f},{center[1]:.2f}!", tooltip=tip)
    dg.node(f"{name}_front", shape="box", width=f"{v.w / 72:.5f}", height=f"{v.h / 72:.5f}", fillcolor=color,
            pos=f"{v.x:.2f},{v.y:.2f}!", tooltip=tip)


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
