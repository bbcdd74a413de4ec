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

import bisect
import html
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.draw.fit import (
    Fit,
    Layout,
    fit_ratio,
    measure,
    scale_for,
    size_attr,
    text_width,
)
from archspec.draw.view import CATEGORY_NAMES, Box, Edge, View, category_color
from archspec.ir import scope_chain
from archspec.kinds.base import fmt_shape

if TYPE_CHECKING:
    import graphviz

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


# -- the graph view ------------------------------------------------------------------------------

# Text sizes (points, before `font_scale`): the smallest, SMALL_PT, is what a fitted figure keeps
# at MIN_FONT_PT or more.
TITLE_PT, NAME_PT, CLUSTER_PT, LEGEND_PT, SMALL_PT = 14.0, 10.0, 10.0, 9.0, 9.0
NODESEP, RANKSEP, PAD = 0.22, 0.28, 0.2  # inches
# An empty label on the main path's edge out of a fork keeps dot's order of the branches as written (the
# paper's order of an inception module's 1×1, 3×3, 5×5 and pool); it costs some height: dot makes room
# for edge labels between every two ranks.
FORK_LABELS = True
SPLIT_COST = 1.6  # a wrap between blocks is taken over one inside a block while the rows stay this even
FAR = 0.5  # a graph whose best wrapping is estimated to need shrinking below this is not measured further


def graph_digraph(view: View, *, rankdir: str = "TB", costs: str | None = None, legend: bool = True,
                  edge_labels: bool = True, title: str = "", fit: Fit | None = None) -> tuple[graphviz.Digraph, Layout]:
    """The graph view, wrapped into rows (columns when drawn top to bottom) to fit `fit`'s frame,
    and how it came out."""
    fit = fit or Fit()
    fs = fit.font_scale
    top = max((getattr(b, costs) for b in view.boxes.values()), default=0) if costs else 0
    plan = _Plan(view, rankdir, costs, fs)
    header = _Header(title, _categories(view) if legend else [], costs, top, fs)
    cache: dict[int, tuple[float, float] | None] = {}

    def build(n: int, label: str) -> graphviz.Digraph:
        return _graph(view, plan, plan.cuts(n), rankdir=rankdir, costs=costs, top=top, edge_labels=edge_labels,
                      header=label, fs=fs)

    def bare(n: int) -> tuple[float, float] | None:
        """The measured size (inches) wrapped into n rows, without the title and legend."""
        if n not in cache:
            cache[n] = measure(build(n, ""), PAD)
        return cache[n]

    most = plan.max_rows()
    if fit.wrap is not None or fit.width is None:
        rows = min(fit.wrap or 1, most)
    else:
        rows = _choose_rows(plan, header, fit, most, bare)
    width = ((bare(rows) if fit.width is not None else None) or plan.estimate(rows))[0]
    min_font = SMALL_PT * fs
    dg = build(rows, header.label(width * 72))
    natural = measure(dg, PAD) if fit.width is not None else None
    layout = Layout(len(plan.cuts(rows)) + 1, natural, scale_for(natural, fit, min_font) if natural else 1.0,
                    min_font, fit)
    if fit.wrap is None and natural is not None and not layout.fits() and rows < most and fit_ratio(natural, fit) > FAR:
        # the title and legend were estimated: one row more may fit where this one does not
        more = (bare(rows + 1) or (0.0, 0.0))[0]
        dg2 = build(rows + 1, header.label(more * 72))
        natural2 = measure(dg2, PAD)
        if natural2 is not None:
            layout2 = Layout(len(plan.cuts(rows + 1)) + 1, natural2, scale_for(natural2, fit, min_font), min_font, fit)
            if layout2.fits() or layout2.scale > layout.scale + 1e-3:
                dg, layout = dg2, layout2
    size = size_attr(layout)
    if size:
        dg.attr(size=size)
    return dg, layout


def _choose_rows(plan: _Plan, header: _Header, fit: Fit, most: int,
                 measured: Callable[[int], tuple[float, float] | None]) -> int:
    """The number of rows (columns) whose figure fits the frame at the largest scale, the fewest
    among equals: estimated for every count, then measured around the best estimate."""

    def score(n: int, size: tuple[float, float] | None) -> float:
        if size is None:
            return 0.0
        w, h = size
        hw, hh = header.size(w * 72)
        natural = (max(w, hw / 72), h + hh / 72)
        return fit_ratio(natural, fit)

    estimates = {n: score(n, plan.estimate(n)) for n in range(1, most + 1)}
    best = max(estimates, key=lambda n: (round(estimates[n], 3), -n))
    if estimates[best] < FAR:
        return best  # far too big to fit however it wraps: measuring would not change that
    cache: dict[int, float] = {}

    def real(n: int) -> float:
        if n not in cache:
            size = measured(n)
            cache[n] = score(n, size) if size is not None else estimates[n]
        return cache[n]

    real(best)
    n = best
    while n > 1 and len(cache) < 5 and real(n - 1) >= real(n) - 1e-3:  # fewer rows, while they fit as well
        n -= 1
    n = best
    while n < most and len(cache) < 5 and real(n + 1) > real(n) + 1e-3:  # more rows, while they fit better
        n += 1
    return max(cache, key=lambda n: (round(cache[n], 3), -n))


class _Plan:
    """Where the graph view can wrap, and how big its rows or columns would be (estimated from the
    boxes' text; `dot` measures the real thing).

    A wrap is a cut of the main path between two boxes that only the main path's edge crosses: every
    box belongs to the main-path box it hangs from (a branch to the box it leaves from, an auxiliary
    head with its trunk), so blocks and branches are never split from what they join, except that a
    block cut in the middle is drawn as two clusters (the second one `(continued)`)."""

    def __init__(self, view: View, rankdir: str, costs: str | None, fs: float) -> None:
        self.view, self.fs = view, fs
        self._cuts: dict[int, list[int]] = {}
        self.rows_across = rankdir in ("LR", "RL")  # wrapped into rows (else columns)
        self.path = path = view.main_path()
        at = {b: i for i, b in enumerate(path)}
        preds: dict[str, list[str]] = {}
        succs: dict[str, list[str]] = {}
        for e in view.edges:
            preds.setdefault(e.dst, []).append(e.src)
            succs.setdefault(e.src, []).append(e.dst)
        key: dict[str, int | None] = {}
        for b in view.order:
            ks = [k for p in preds.get(b, []) if (k := key.get(p)) is not None]
            key[b] = at[b] if b in at else (max(ks) if ks else None)
        for b in reversed(view.order):
            if key[b] is None:
                ks = [k for s in succs.get(b, []) if (k := key.get(s)) is not None]
                key[b] = min(ks) if ks else 0
        self.key: dict[str, int] = {b: k or 0 for b, k in key.items()}
        spine = set(itertools.pairwise(path))
        across = [0] * (len(path) + 1)
        for e in view.edges:
            if (e.src, e.dst) in spine:
                continue
            lo, hi = sorted((self.key[e.src], self.key[e.dst]))
            across[lo] += 1
            across[hi] -= 1
        running, self.valid = 0, []
        for i in range(len(path) - 1):
            running += across[i]
            if running == 0:
                self.valid.append(i)  # a wrap may come after path[i]
        chains = [set(scope_chain(view.boxes[b].cluster)) if view.boxes[b].cluster else set() for b in path]
        self.splits = {i: len(chains[i] & chains[i + 1]) for i in self.valid}  # blocks a wrap would split

        sizes = {b: _box_size(view.boxes[b], costs, fs) for b in view.order}
        rank: dict[str, int] = {}
        for b in view.order:
            rank[b] = max((rank[p] + 1 for p in preds.get(b, []) if p in rank), default=0)
        self.rank = rank
        depth = {b: len([c for c in scope_chain(view.boxes[b].cluster) if c in view.clusters]) if view.boxes[b].cluster
                 else 0 for b in view.order}
        along, cross = (0, 1) if self.rows_across else (1, 0)
        self.along_rank: dict[int, float] = {}
        self.cross_rank: dict[int, float] = {}
        self.nest_rank: dict[int, int] = {}
        for b in view.order:
            r = rank[b]
            self.along_rank[r] = max(self.along_rank.get(r, 0.0), sizes[b][along])
            self.cross_rank[r] = self.cross_rank.get(r, -NODESEP * 72) + sizes[b][cross] + NODESEP * 72
            self.nest_rank[r] = max(self.nest_rank.get(r, 0), depth[b])
        label = (CLUSTER_PT * fs * 1.3 + 8) if not self.rows_across else 8.0
        self.step: list[float] = []  # each main-path box's length along the layout, with what opens there
        before: set[str] = set()
        for b in path:
            chain = {c for c in scope_chain(view.boxes[b].cluster) if c in view.clusters} if view.boxes[b].cluster else set()
            self.step.append(self.along_rank[rank[b]] + RANKSEP * 72 + label * len(chain - before) + 8 * len(before - chain))
            before = chain

    def max_rows(self) -> int:
        return min(len(self.valid) + 1, 16)

    def cuts(self, n: int) -> list[int]:
        """Where to wrap into (at most) n rows of about equal length: main-path indices to cut after.
        Cuts that split fewer blocks are preferred while the longest row stays within SPLIT_COST
        times the shortest possible."""
        if n <= 1 or not self.valid:
            return []
        if n not in self._cuts:
            best = self._partition(self.valid, n)
            self._cuts[n] = best
            for t in sorted(set(self.splits.values())):
                allowed = [i for i in self.valid if self.splits[i] <= t]
                cuts = self._partition(allowed, n)
                if len(cuts) + 1 >= min(n, len(self.valid) + 1) and self._longest(cuts) <= SPLIT_COST * self._longest(best):
                    self._cuts[n] = cuts
                    break
        return list(self._cuts[n])

    def _longest(self, cuts: list[int]) -> float:
        bounds = [-1, *cuts, len(self.path) - 1]
        return max(sum(self.step[a + 1:b + 1]) for a, b in itertools.pairwise(bounds))

    def _partition(self, allowed: list[int], n: int) -> list[int]:
        """At most n - 1 of the allowed cuts, making rows as even as can be (the least sum of squared
        row lengths)."""
        if not allowed or n <= 1:
            return []
        bounds = [*(i + 1 for i in allowed), len(self.path)]
        pieces, start = [], 0
        for end in bounds:
            pieces.append(sum(self.step[start:end]))
            start = end
        prefix = [0.0, *itertools.accumulate(pieces)]
        count = len(pieces)
        rows = min(n, count)
        # cost[k][j]: the best sum of squares for the first j pieces in k rows; back[k][j]: where the last row starts
        inf = float("inf")
        cost = [[inf] * (count + 1) for _ in range(rows + 1)]
        back = [[0] * (count + 1) for _ in range(rows + 1)]
        cost[0][0] = 0.0
        for k in range(1, rows + 1):
            for j in range(k, count + 1):
                best, arg = inf, 0
                for i in range(k - 1, j):
                    c = cost[k - 1][i] + (prefix[j] - prefix[i]) ** 2
                    if c < best:
                        best, arg = c, i
                cost[k][j], back[k][j] = best, arg
        cuts, j = [], count
        for k in range(rows, 0, -1):
            j = back[k][j]
            if j > 0:
                cuts.append(j - 1)
        return sorted(allowed[i] for i in cuts)

    def segment(self, box: str, cuts: list[int]) -> int:
        return bisect.bisect_left(cuts, self.key[box])

    def estimate(self, n: int) -> tuple[float, float]:
        """The figure's size (inches, without title and legend) wrapped into n rows (or columns)."""
        cuts = self.cuts(n)
        bounds = [-1, *cuts, len(self.path) - 1]
        alongs, crosses = [], []
        for s in range(len(bounds) - 1):
            alongs.append(sum(self.step[bounds[s] + 1:bounds[s + 1] + 1]))
            ranks = {self.rank[b] for b in self.view.order if self.segment(b, cuts) == s}
            crosses.append(max((self.cross_rank[r] + 16 * self.nest_rank[r] for r in ranks), default=0.0))
        gap = NODESEP * 72 + 24
        along, cross = max(alongs), sum(crosses) + gap * (len(crosses) - 1)
        w, h = (along, cross) if self.rows_across else (cross, along)
        return w / 72 + 2 * PAD, h / 72 + 2 * PAD


def _box_size(b: Box, costs: str | None, fs: float) -> tuple[float, float]:
    """A box's estimated width and height in points (as graphviz sizes it: text, margins, minimum height)."""
    if _is_circle(b):
        return 0.3 * 72 * fs, 0.3 * 72 * fs
    lines = [(text_width(b.title, NAME_PT * fs, bold=True) + text_width(_head_rest(b), NAME_PT * fs), NAME_PT * fs)]
    second = _second_line(b)
    if second:
        lines.append((text_width(second, SMALL_PT * fs), SMALL_PT * fs))
    if costs and (b.params or b.macs):
        lines.append((text_width(_cost_text(b), SMALL_PT * fs), SMALL_PT * fs))
    w = max(x for x, _ in lines) + 2 * 0.10 * 72 + 2
    h = sum(pt * 1.2 for _, pt in lines) + 2 * 0.04 * 72 + 2
    return w, max(h, 0.3 * 72)


class _Header:
    """The title and the legend, above the picture: the legend in as many columns as fit its width."""

    def __init__(self, title: str, cats: list[str], costs: str | None, top: int, fs: float) -> None:
        self.title, self.cats, self.costs, self.top, self.fs = title, cats, costs, top, fs

    def columns(self, width_pt: float) -> int:
        room = max(width_pt, text_width(self.title, TITLE_PT * self.fs, bold=True), 200 * self.fs)
        best = 1
        for c in range(1, len(self.cats) + 1):
            if legend_width(self.cats, c, self.fs) <= room:
                best = c
        return best

    def size(self, width_pt: float) -> tuple[float, float]:
        """Width and height in points."""
        w = text_width(self.title, TITLE_PT * self.fs, bold=True) if self.title else 0.0
        h = TITLE_PT * self.fs * 1.5 + 4 if self.title else 0.0
        if self.cats:
            c = self.columns(width_pt)
            w = max(w, legend_width(self.cats, c, self.fs))
            rows = -(-len(self.cats) // c) + (1 if self.costs and self.top else 0)
            h += rows * (LEGEND_PT * self.fs * 1.35 + 6) + 8
        return w, h

    def label(self, width_pt: float) -> str:
        parts = []
        if self.title:
            parts.append(f'<TR><TD>{_title_html(self.title, self.fs)}</TD></TR>')
        if self.cats:
            parts.append(f"<TR><TD>{legend_html(self.cats, self.costs, self.top, self.columns(width_pt), self.fs)}</TD></TR>")
        if not parts:
            return ""
        return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{"".join(parts)}</TABLE>>'


def _graph(view: View, plan: _Plan, cuts: list[int], *, rankdir: str, costs: str | None, top: int,
           edge_labels: bool, header: str, fs: float) -> graphviz.Digraph:
    import graphviz

    def pt(x: float) -> str:
        return f"{x * fs:g}"

    dg = graphviz.Digraph(name=view.name, engine="dot")
    dg.attr(rankdir=rankdir, fontname=FONT, fontsize=pt(11), nodesep=str(NODESEP), ranksep=str(RANKSEP),
            newrank="true", labelloc="t", labeljust="c", pad=str(PAD))
    if header:
        dg.attr(label=header)
    dg.attr("node", shape="box", style="filled,rounded", fontname=FONT, fontsize=pt(NAME_PT), penwidth="0.8",
            margin="0.10,0.04", height="0.3", color="#555555")
    dg.attr("edge", fontname=FONT, fontsize=pt(SMALL_PT), fontcolor="#555555", color="#444444", arrowsize="0.6",
            penwidth="0.8")
    path = plan.path
    spine = set(path)
    seg = {b: plan.segment(b, cuts) for b in view.order}

    children: dict[str, list[str]] = {}
    for cid, c in view.clusters.items():
        children.setdefault(c.parent, []).append(cid)
    members: dict[str, list[Box]] = {}
    for bid in view.order:
        b = view.boxes[bid]
        members.setdefault(b.cluster, []).append(b)
    spans: dict[str, list[int]] = {}  # cluster → the segments it has boxes in
    for bid in view.order:
        for sc in scope_chain(view.boxes[bid].cluster) if view.boxes[bid].cluster else []:
            if sc in view.clusters and seg[bid] not in spans.setdefault(sc, []):
                spans[sc].append(seg[bid])

    def fill(g: Any, scope: str, s: int, level: int) -> None:
        for b in members.get(scope, []):
            if seg[b.id] == s:
                g.node(dot_id(b.id), **_node_attrs(b, costs, top, fs),
                       **({"group": f"spine{s}"} if b.id in spine else {}))
        for cid in children.get(scope, []):
            if s not in spans.get(cid, []):
                continue
            c = view.clusters[cid]
            whole = len(spans[cid]) == 1
            label = c.label if whole or s == spans[cid][0] else f"{c.label} (continued)" if c.label else ""
            with g.subgraph(name="cluster_" + dot_id(cid if whole else f"{cid}~{s}")) as sub:
                if c.kind == "block":
                    sub.attr(label=f"<<B>{_esc(label)}</B>>", style="rounded,filled",
                             fillcolor="#f7f7f7" if level % 2 == 0 else "#ededed", color="#9a9a9a",
                             fontsize=pt(CLUSTER_PT), labeljust="l", tooltip=c.tooltip, penwidth="0.8")
                else:
                    sub.attr(label=f"<<I>{_esc(label)}</I>>" if label else "", style="dashed,rounded",
                             color="#c4c4c4", fontsize=pt(CLUSTER_PT - 1), fontcolor="#666666", labeljust="l",
                             tooltip=c.tooltip, penwidth="0.6")
                fill(sub, cid, s, level + 1)

    for s in range(len(cuts) + 1):
        fill(dg, "", s, 0)
    # each shape is printed once: in its box, or (a merge circle's, or a tensor from inside a collapsed
    # block) on one edge, the one along the main path if there is one
    along = set(itertools.pairwise(path))
    labelled: dict[tuple[str, Any], Edge] = {}
    for e in view.edges:
        key = (e.src, e.shape)
        if key not in labelled or (e.src, e.dst) in along:
            labelled[key] = e
    wraps = {(path[c], path[c + 1]): k for k, c in enumerate(cuts)}
    forks: dict[str, int] = {}
    for e in view.edges:
        forks[e.src] = forks.get(e.src, 0) + 1
    for e in view.edges:
        src = view.boxes[e.src]
        show = edge_labels and labelled[(e.src, e.shape)] is e and (_is_circle(src) or e.shape != src.shape)
        attrs = {"label": " " + fmt_shape(e.shape) + " "} if show else {}
        if FORK_LABELS and not show and (e.src, e.dst) in along and forks.get(e.src, 0) > 1:
            attrs["label"] = " "  # see FORK_LABELS
        k = wraps.get((e.src, e.dst))
        if k is None:
            dg.edge(dot_id(e.src), dot_id(e.dst), **attrs)
            continue
        # a wrap: the row ends in a connector, and the next row starts from the same one
        letter = _connector_name(k)
        for end, s in (("out", k), ("in", k + 1)):
            dg.node(f"wrap~{k}~{end}", label=letter, shape="circle", style="filled", fillcolor="#ffffff",
                    color="#777777", fontcolor="#444444", fontsize=pt(SMALL_PT), width=f"{0.24 * fs:g}",
                    height=f"{0.24 * fs:g}", fixedsize="true", margin="0", group=f"spine{s}",
                    tooltip=f"continued: {e.src} → {e.dst}")
        dg.edge(dot_id(e.src), f"wrap~{k}~out", **attrs)
        dg.edge(f"wrap~{k}~in", dot_id(e.dst))
    if cuts:  # the rows (columns) in order
        with dg.subgraph(name="wrap_order") as r:
            r.attr(rank="same")
            heads = [dot_id(path[0]), *(f"wrap~{k}~in" for k in range(len(cuts)))]
            for u, v in itertools.pairwise(heads):
                r.edge(u, v, style="invis")
    return dg


def _connector_name(k: int) -> str:
    """A, B, ..., Z, AA, AB, ...: the connectors of the k-th wrap."""
    name = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        name = chr(65 + r) + name
    return name


def dot_id(s: str) -> str:
    """A node id that DOT's edge syntax cannot mistake for a port (`output:out`)."""
    return s.replace(":", "__")


def _esc(s: str) -> str:
    return html.escape(s, quote=False)


def _is_circle(b: Box) -> bool:
    return b.role == "merge" and b.kind in ("add", "mul")


def _head_rest(b: Box) -> str:
    """What follows the bold kind on a box's first line."""
    rest = (" " + b.detail) if b.detail else ""
    if b.fused:
        rest += " + " + " + ".join(b.fused)
    return rest


def _second_line(b: Box) -> str:
    """A box's shape line: the shape, `12 layers · shape` for a collapsed block, nothing for an output
    (its shape is the box before it)."""
    if b.role == "output":
        return ""
    if b.role == "block":
        return f"{b.layers} layer" + ("s" if b.layers != 1 else "") + " · " + fmt_shape(b.shape)
    return fmt_shape(b.shape)


def _cost_text(b: Box) -> str:
    return " · ".join(([f"{compact(b.params)} params"] if b.params else []) + ([f"{compact(b.macs)} MACs"] if b.macs else []))


def _node_attrs(b: Box, costs: str | None, top: int, fs: float = 1.0) -> dict[str, str]:
    color = category_color(b.category)
    attrs: dict[str, str] = {"fillcolor": color, "tooltip": b.tooltip or b.id}
    small = f'POINT-SIZE="{html_pt(SMALL_PT, fs)}"'
    if _is_circle(b):
        attrs.update(shape="circle", label="+" if b.kind == "add" else "×", width=f"{0.3 * fs:g}",
                     height=f"{0.3 * fs:g}", fixedsize="true", fontsize=f"{14 * fs:g}", style="filled", margin="0")
        attrs["tooltip"] = f"{b.id}: {b.kind} → {fmt_shape(b.shape)}"
    else:
        lines = [f"<B>{_esc(b.title)}</B>{_esc(_head_rest(b))}"]
        second = _second_line(b)
        if second:
            lines.append(f'<FONT {small} COLOR="#444444">{_esc(second)}</FONT>')
        if b.role == "block":
            attrs.update(shape="box3d", style="filled")
        if b.frozen:
            lines[-1] += f' <FONT {small} COLOR="#1f78b4">frozen</FONT>'
            attrs["style"] = attrs.get("style", "filled,rounded") + ",dashed"
        if costs and (b.params or b.macs):
            lines.append(f"<FONT {small}>{_cost_text(b)}</FONT>")
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


def html_pt(size: float, fs: float = 1.0) -> int:
    """A text size for an HTML label, which graphviz reads as whole points: rounded up, never smaller."""
    return math.ceil(size * fs - 1e-9)


def _title_html(title: str, fs: float = 1.0) -> str:
    return f'<FONT POINT-SIZE="{html_pt(TITLE_PT, fs)}"><B>{_esc(title)}</B></FONT>'


def title_label(title: str, fs: float = 1.0) -> str:
    return f"<{_title_html(title, fs)}>"


def legend_width(cats: list[str], columns: int, fs: float = 1.0) -> float:
    """The legend's width in points, laid out in `columns`."""
    total = 0.0
    for j in range(columns):
        names = [CATEGORY_NAMES.get(c, c) for c in cats[j::columns]]
        if names:
            total += 16 * fs + 6 * fs + 12 + max(text_width(n, LEGEND_PT * fs) for n in names) + 6
    return total


def legend_html(cats: list[str], costs: str | None = None, top: int = 0, columns: int = 4, fs: float = 1.0) -> str:
    """The legend, an HTML table: a swatch and a name per category, and with costs the shading's scale."""
    sw, sh = round(16 * fs), round(10 * fs)
    cells = [f'<TD BGCOLOR="{category_color(c)}" WIDTH="{sw}" HEIGHT="{sh}" BORDER="1"></TD>'
             f'<TD ALIGN="LEFT">{_esc(CATEGORY_NAMES.get(c, c))}</TD><TD WIDTH="{round(6 * fs)}"></TD>' for c in cats]
    grid = "".join("<TR>" + "".join(cells[i:i + columns]) + "</TR>" for i in range(0, len(cells), columns))
    if costs and top:
        ramp = "".join(f'<TD BGCOLOR="{heat(round(top * 10 ** (HEAT_DECADES * (i / 5 - 1))), top)}" '
                       f'WIDTH="{round(8 * fs)}" HEIGHT="{sh}" BORDER="1"></TD>' for i in range(6))
        name = "MACs" if costs == "macs" else "parameters"
        grid += (f'<TR><TD COLSPAN="{3 * columns}" ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0">'
                 f'<TR><TD>fill: {name}&nbsp;&nbsp;≤{compact(top / 10 ** HEAT_DECADES)}&nbsp;</TD>{ramp}'
                 f'<TD>&nbsp;{compact(top)} (log scale)</TD></TR></TABLE></TD></TR>')
    return (f'<FONT POINT-SIZE="{html_pt(LEGEND_PT, fs)}"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
            f"{grid}</TABLE></FONT>")


def legend_label(cats: list[str], costs: str | None = None, top: int = 0, columns: int = 4, fs: float = 1.0) -> str:
    """The legend as the label of a `plaintext` node."""
    return f"<{legend_html(cats, costs, top, columns, fs)}>"


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
    from archspec.files import write_atomic

    fmt = output_format(path, fmt)
    write_atomic(path, to_bytes(dg, fmt, dpi))
    return fmt
