"""What a diagram shows: the analysed graph reduced to drawn boxes, clusters and edges.

Both diagram styles (`render.py`'s graph view and `render_volumes.py`'s feature-map boxes) draw from
this model; it only reads the graph and its `meta`. The reduction, in the manner of the table's
`Analysis.display_rows`:

- a fused activation (`conv 64 3x3 relu`) is folded into its producer's box, as the table folds it;
- an `identity` layer is not drawn: its reader takes the tensor from the identity's input (a residual
  block's shortcut becomes a plain edge);
- a block nested deeper than `depth` block levels is one box (branches are not levels: they open
  with their block), unless `expand` names it (a scope id such as `stage3.bottleneck2`, or a block
  name for every instance); consecutive sibling instances of the same block collapse to one box,
  `bottleneck(256) ×6`;
- an attention layer is one box, or, when `expand` names it (its id, or `attention` /
  `window_attention` for every such layer), a block of its steps (projections, QKᵀ, softmax, AV, output
  projection; Swin's windows), each with its share of the parameters and MACs (the kind's `parts`);
- each edge carries the shape of the tensor it moves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean
from archspec.ir import Graph, Meta, Scope, scope_chain
from archspec.kinds import KINDS
from archspec.kinds.base import Shape

# Fill colours by layer-kind category, the same in every diagram: Paul Tol's "light" scheme (made for
# cells with black text, and told apart with any common colour-vision deficiency) for nine categories,
# and a lavender and a pale green for the next two, chosen to stay as far from the others when
# protanopia, deuteranopia and tritanopia are simulated (every pair is at least ΔE 10 apart in CIELAB
# in all four visions; tests/draw/test_render.py checks it).
PALETTE: dict[str, str] = {
    "io": "#dddddd",  # pale grey
    "conv": "#77aadd",  # light blue
    "pool": "#ee8866",  # orange
    "dense": "#bbcc33",  # pear
    "norm": "#99ddff",  # light cyan
    "activation": "#eedd88",  # light yellow
    "merge": "#ffaabb",  # pink
    "resample": "#44bb99",  # mint
    "reshape": "#ccffcc",  # pale green
    "regularization": "#ffffff",  # white
    "block": "#aa88ff",  # lavender
    # the kinds of tokens and sequences: chosen by a search over light colours (L* ≥ 70, for black text)
    # for the largest distance to the colours above and to each other, in all four visions (≥ ΔE 11)
    "attention": "#88cc88",  # soft green
    "recurrent": "#99ff66",  # lime
    "embedding": "#ccaacc",  # mauve
    "learned": "#99aaff",  # periwinkle
}
_SPARE = ("#bbccee", "#cceeff", "#ccddaa", "#eeeebb", "#ffcccc", "#aaaa00", "#eecc66")  # Tol's pale scheme and more
CATEGORY_NAMES = {"io": "input / output", "conv": "convolution", "pool": "pooling", "dense": "dense",
                  "norm": "normalisation", "activation": "activation", "merge": "merge", "resample": "resampling",
                  "reshape": "reshape", "regularization": "regularisation", "block": "block (collapsed)"}


def category_color(category: str) -> str:
    """The fill of a category; a category added later gets a fixed spare colour from its name."""
    if category in PALETTE:
        return PALETTE[category]
    return _SPARE[sum(map(ord, category)) % len(_SPARE)]


@dataclass
class Box:
    """One drawn node: a layer (with its fused activations), a collapsed block (or run of blocks),
    a merge, an input or an output."""

    id: str  # a graph node id, or the first collapsed scope's id
    role: str  # "input" | "layer" | "merge" | "output" | "block"
    kind: str  # layer kind, or block name
    title: str  # "conv", "bottleneck(256) ×6", "output out"
    detail: str  # key arguments: "64 3×3 /2"
    shape: Shape
    category: str
    cluster: str  # the open scope it is drawn in ("" at the top)
    nodes: list[str] = field(default_factory=list)  # graph nodes it stands for
    fused: list[str] = field(default_factory=list)  # folded activation kinds
    params: int = 0
    macs: int = 0
    layers: int = 0  # layers inside a collapsed box
    count: int = 1  # block instances in a collapsed run
    frozen: bool = False
    tooltip: str = ""


@dataclass
class Edge:
    src: str
    dst: str
    shape: Shape


@dataclass
class Cluster:
    id: str
    kind: str  # "block" | "branch"
    label: str
    parent: str
    tooltip: str = ""


@dataclass
class View:
    name: str
    boxes: dict[str, Box]
    edges: list[Edge]
    clusters: dict[str, Cluster]  # open scopes that contain something, parents before children
    order: list[str]  # box ids in build (topological) order

    def main_path(self) -> list[str]:
        """The longest chain of boxes from an input to the first output (ties go to the earlier box):
        the spine a diagram keeps straight, and the feature maps the volumes style draws."""
        best: dict[str, tuple[int, str | None]] = {}
        preds: dict[str, list[str]] = {}
        for e in self.edges:
            preds.setdefault(e.dst, []).append(e.src)
        for bid in self.order:
            ps = [p for p in preds.get(bid, []) if p in best]
            if not ps:
                best[bid] = (1, None)
                continue
            top = max(ps, key=lambda p: (best[p][0], -self.order.index(p)))
            best[bid] = (best[top][0] + 1, top)
        outputs = [b for b in self.order if self.boxes[b].role == "output"]
        end: str | None = outputs[0] if outputs else (self.order[-1] if self.order else None)
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = best[end][1]
        return path[::-1]

    def box_of(self, node: str) -> Box | None:
        for b in self.boxes.values():
            if node in b.nodes:
                return b
        return None


_AUTO_BRANCH = re.compile(r"branch\d+")


def scope_labels(scopes: dict[str, Scope]) -> dict[str, str]:
    """Short block labels: an argument that every instance of a block gives the same value (when the
    block is used more than once) is left out: `bottleneck(64, 1)`, not `bottleneck(64, 1, 4, false, 0)`
    (unless that would leave out every argument)."""
    from archspec.lang.expr import show

    by_name: dict[str, list[Scope]] = {}
    for s in scopes.values():
        if s.kind == "block":
            by_name.setdefault(s.name, []).append(s)
    out: dict[str, str] = {}
    for s in scopes.values():
        if s.kind != "block":
            out[s.id] = s.name
            continue
        same = by_name[s.name]
        constant = {k for k, v in s.args.items() if len(same) > 1 and all(k in o.args and _same(o.args[k], v) for o in same)}
        if constant == set(s.args):
            constant = set()  # nothing would tell the instances apart: show everything
        parts: list[str] = []
        skipped = False
        for k, v in s.args.items():
            if k in constant:
                skipped = True
                continue
            text = _short(v) if isinstance(v, float) else show(v)
            parts.append(f"{k}={text}" if skipped else text)
        out[s.id] = f"{s.name}(" + ", ".join(parts) + ")"
    return out


def _short(v: float) -> str:
    """A float as a label shows it: four significant digits (`0.03636` for a drop rate computed as
    `0.2 * i / 11`); the spec keeps the exact value."""
    text = repr(v)
    return text if len(text) <= 6 else f"{v:.4g}"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _auto_named(scope: Scope) -> bool:
    last = scope.id.rpartition(".")[2]
    return re.fullmatch(re.escape(scope.name) + r"\d*", last) is not None


def check_expand(names: Iterable[str], scopes: dict[str, Scope], layers: Iterable[str] = ()) -> None:
    """Every name is a block instance or a block name, or one of `layers` (layers that open)."""
    blocks = {s.id for s in scopes.values() if s.kind == "block"} | {s.name for s in scopes.values() if s.kind == "block"}
    extra = set(layers)
    blocks |= extra
    for n in names:
        if n not in blocks:
            raise SpecError(Diagnostic(
                "E200", f"--expand {n}: the network has no block instance or block named `{n}`",
                expected="a block instance id such as `stage3.bottleneck2`, or a block name (every instance)"
                         + (", or an attention layer (`attention`, `window_attention`, or a layer id)" if extra else ""),
                hint=did_you_mean(n, blocks) or (f"its blocks: {', '.join(sorted(blocks)[:12])}" if blocks
                                                  else "this network has no blocks")))


def build_view(graph: Graph, *, depth: int | None = None, expand: Sequence[str] = (),
               group: bool = True, closed: set[str] | frozenset[str] = frozenset()) -> View:
    """Reduce an analysed graph to what a diagram draws (see the module's docstring). `closed` block
    instances are drawn as one box whatever the depth, unless expanded."""
    if depth is not None and depth < 0:
        raise SpecError(Diagnostic("E202", f"--depth must be 0 or more, got {depth}"))
    scopes: dict[str, Scope] = dict(graph.scopes)
    openable = [n for n in graph.nodes if KINDS[graph[n].kind].category == "attention"]
    check_expand(expand, scopes, {*openable, *(graph[n].kind for n in openable)})
    open_layers = {n for n in openable if n in expand or graph[n].kind in expand}
    expand = [e for e in expand if e in scopes or any(s.name == e for s in scopes.values())]
    labels = scope_labels(scopes)
    opened = _opened(scopes, depth, set(expand), closed)
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}

    rep: dict[str, str] = {}  # graph node → box id
    boxes: dict[str, Box] = {}
    order: list[str] = []
    collapsed_of: dict[str, str] = {}  # graph node → collapsed scope
    alias: dict[str, str] = {}  # an identity → its input
    entry: dict[str, str] = {}  # an open layer → its first part's box (its last part's is `rep`)
    inner: list[Edge] = []  # between the parts of open layers
    layer_clusters: dict[str, Cluster] = {}
    for n in nodes:
        d = graph[n]
        c = _collapsed(d.scope_id, scopes, opened)
        if c is not None:
            collapsed_of[n] = c
            continue
        kind = KINDS[d.kind]
        m = d.meta
        if d.fused and d.inputs and rep.get(d.inputs[0]) in boxes:
            b = boxes[rep[d.inputs[0]]]
            if b.role == "layer":
                rep[n] = b.id
                b.fused.append(d.kind)
                b.shape = m.shape
                _add_cost(b, m)
                b.nodes.append(n)
                continue
        if d.kind == "identity" and d.op == "layer" and d.inputs:
            alias[n] = d.inputs[0]
            continue
        role = d.op
        if role == "output":
            title, detail = "output", ("" if d.name == "out" else d.name)
        elif role == "input":
            title, detail = ("input" if d.name == "input" else f"input {d.name}"), ""
        else:
            title, detail = d.kind, kind.describe(d.args)
            if (d.shares and not d.fused) or d.ties:
                from archspec.report.analysis import shared_note

                detail = shared_note(d, detail)
        parts = kind.parts(d.args, graph.input_shapes(d), m.shape) if n in open_layers else []
        if parts:  # drawn open: a cluster of its steps
            layer_clusters[n] = Cluster(n, "block", f"{title} {detail}".strip(), d.scope_id, tooltip=n)
            prev: Box | None = None
            for k, p in enumerate(parts):
                pb = Box(f"{n}~{k}", role, d.kind, p.title, p.detail, p.shape, kind.category, n, nodes=[n],
                         frozen=d.frozen, tooltip=f"{n}: {p.title}", params=p.params, macs=p.macs)
                boxes[pb.id] = pb
                order.append(pb.id)
                if prev is None:
                    entry[n] = pb.id
                else:
                    inner.append(Edge(prev.id, pb.id, prev.shape))
                prev = pb
            assert prev is not None
            rep[n] = prev.id
            continue
        b = Box(n, role, d.kind, title, detail, m.shape, kind.category, d.scope_id, nodes=[n],
                frozen=d.frozen, tooltip=n)
        _add_cost(b, m)
        boxes[n] = b
        rep[n] = n
        order.append(n)

    # collapsed scopes: one box each, then runs of like siblings merged
    runs: list[list[str]] = []
    members: dict[str, list[str]] = {}
    for n in nodes:
        c = collapsed_of.get(n)
        if c is None:
            continue
        if c not in members:
            members[c] = []
            runs.append([c])
        members[c].append(n)
    if group:
        runs = _group_runs([r[0] for r in runs], members, scopes, labels, graph, index)
    for run in runs:
        first = scopes[run[0]]
        inside = [n for c in run for n in members[c]]
        last = inside[-1]
        label = labels[first.id]
        title = label if _auto_named(first) else first.id.rpartition(".")[2]
        detail = "" if _auto_named(first) else label
        if len(run) > 1:
            title += f" ×{len(run)}"
        b = Box(first.id, "block", first.name, title, detail, graph[last].meta.shape, "block",
                first.id.rpartition(".")[0], nodes=inside, count=len(run),
                tooltip=", ".join(run) + ": " + first.label)
        for n in inside:
            d = graph[n]
            _add_cost(b, d.meta)
            b.layers += 0 if (d.fused or d.kind == "identity") else 1
            rep[n] = b.id
        b.frozen = all(graph[n].frozen for n in inside)
        boxes[b.id] = b
        order.append(b.id)
    order.sort(key=lambda i: index[boxes[i].nodes[0]])

    edges: list[Edge] = list(inner)
    seen: set[tuple[str, str]] = {(e.src, e.dst) for e in inner}
    def find(n: str) -> str:
        while n in alias:
            n = alias[n]
        return rep[n]

    for n in nodes:
        for i in graph[n].inputs:
            u, v = find(i), entry.get(n) or find(n)
            if u == v or (u, v) in seen:
                continue
            seen.add((u, v))
            edges.append(Edge(u, v, graph[i].meta.shape))

    used = {b.cluster for b in boxes.values()}
    wanted: set[str] = set()
    for c in used:
        wanted.update(sid for sid in scope_chain(c) if sid in scopes)
    clusters = {}
    starts: dict[str, int] = {}  # a scope → the index of its first node
    for n in nodes:
        for sid in scope_chain(graph[n].scope_id):
            starts.setdefault(sid, index[n])
    for sid in sorted(wanted, key=lambda s: (s.count("."), starts.get(s, len(nodes)))):
        s = scopes[sid]
        label = "" if s.kind == "branch" and _AUTO_BRANCH.fullmatch(s.name) else labels[sid]
        if s.kind == "block" and not _auto_named(s):
            label = f"{sid.rpartition('.')[2]}: {label}"
        clusters[sid] = Cluster(sid, s.kind, label, sid.rpartition(".")[0], tooltip=f"{sid}: {s.label}")
    clusters.update(layer_clusters)  # the deepest: inside their layers' scopes
    return View(graph.name, boxes, edges, clusters, order)


def _add_cost(b: Box, meta: Meta) -> None:
    c = meta.cost
    if c is not None:
        b.params += c.params + c.fixed
        b.macs += c.macs


def _opened(scopes: dict[str, Scope], depth: int | None, expand: set[str],
            closed: set[str] | frozenset[str]) -> set[str]:
    """Block scopes drawn open: those within `depth` block levels and not `closed`, the expanded ones
    and their ancestors."""
    out: set[str] = set()
    for sid, s in scopes.items():
        if s.kind != "block":
            continue
        level = sum(1 for c in scope_chain(sid) if scopes[c].kind == "block")
        if ((depth is None or level <= depth) and sid not in closed) or sid in expand or s.name in expand:
            out.add(sid)
            if sid in expand or s.name in expand:
                out.update(c for c in scope_chain(sid) if scopes[c].kind == "block")
    return out


def _collapsed(scope: str, scopes: dict[str, Scope], opened: set[str]) -> str | None:
    """The outermost closed block around a node's scope, or None when every enclosing block is open."""
    for c in scope_chain(scope):
        if scopes[c].kind == "block" and c not in opened:
            return c
    return None


def _frozen(graph: Graph, nodes: list[str]) -> set[bool]:
    return {graph[n].frozen for n in nodes}


def _group_runs(order: list[str], members: dict[str, list[str]], scopes: dict[str, Scope],
                labels: dict[str, str], graph: Graph, index: dict[str, int]) -> list[list[str]]:
    """Consecutive sibling instances of one block with the same label (and frozen alike), each reading
    only the one before it, become one run."""
    runs: list[list[str]] = []
    for c in order:
        if runs:
            prev = runs[-1][-1]
            inside = set(members[c])
            outside_inputs = {i for n in members[c] for i in graph[n].inputs if i not in inside}
            if (prev.rpartition(".")[0] == c.rpartition(".")[0] and scopes[prev].name == scopes[c].name
                    and labels[prev] == labels[c] and _auto_named(scopes[c])
                    and index[members[c][0]] == index[members[prev][-1]] + 1
                    and outside_inputs <= set(members[prev])
                    and _frozen(graph, members[prev]) == _frozen(graph, members[c])):
                runs[-1].append(c)
                continue
        runs.append([c])
    return runs
