"""The interactive HTML view: one self-contained page with the diagram, a card per layer and the table.

`archspec render SPEC -o model.html`, `archspec serve SPEC` and `archspec.view(SPEC)` (in a notebook)
all show this page. It carries, inlined (no network access, nothing fetched):

- the *view model* (`view_model`): every graph node with the box that draws it, every block with its
  collapsed box and its run of like siblings, the table's rows (a layer with its fused activations
  folded in, as `archspec analyze` folds them), the totals and the spec's source lines; gzip-compressed
  and base64-encoded;
- Graphviz compiled to WebAssembly (`assets/graphviz-wasm.js`, the npm package `@hpcc-js/wasm-graphviz`),
  which lays the diagram out in the browser, in a Web Worker, with the same `dot` layout and the same
  boxes as `archspec render` (the boxes' labels and colours come from `render.py`);
- the page's script and style (`assets/view.js`, `assets/view.css`).

Opening or closing a block lays out again only the diagram as it now is (a few dozen to a few hundred
boxes), so that ResNet-1202 and DenseNet-201 stay responsive: a run of like blocks (`basic(16) ×199`)
opens first into its blocks, each of which opens on its own. docs/render.md explains the choice.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import render as render_diagnostic
from archspec.draw.view import CATEGORY_NAMES, View, build_view, category_color, check_expand
from archspec.ir import scope_chain
from archspec.kinds.base import fmt_shape

if TYPE_CHECKING:
    from archspec.report.analysis import Analysis, Spec

ASSETS = Path(__file__).with_name("assets")
MODEL_FORMAT = "archspec-view"
MODEL_VERSION = 1
DEFAULT_BOXES = 120  # the page opens blocks down to the deepest level whose diagram has at most this many boxes
BYTES_PER_ELEMENT = 4  # float32, as Analysis counts activation memory
# a run's box is a template: the page puts in the number of blocks, of layers, and the output shape
_MARK = {"n": "@@N@@", "layers": "@@L@@", "shape": "@@S@@"}
_SENTINEL_LAYERS, _SENTINEL_SHAPE = 987654321, 987654322


# -- the view model --------------------------------------------------------------------------------

def view_model(a: Analysis, *, depth: int | None = None, expand: Sequence[str] = (), costs: str | None = None,
               rankdir: str = "TB", edge_labels: bool = True, title: str | bool = True) -> dict[str, Any]:
    """What the page draws and lists, as JSON-ready data (docs/render.md describes the page).

    depth    open blocks down to this many block levels (default: the deepest level whose diagram has
             at most DEFAULT_BOXES boxes)
    expand   block instances or block names to open as well
    costs    shade the boxes by "params", "macs" or "memory" from the start
    """
    from archspec.draw.fit import Fit
    from archspec.draw.render import COST_METRICS, RANKDIRS, graph_digraph

    if rankdir.upper() not in RANKDIRS:
        raise ValueError(f"unknown rankdir {rankdir!r}; choose one of {', '.join(RANKDIRS)}")
    if costs is not None and costs not in (*COST_METRICS, "memory"):
        raise ValueError(f"unknown cost metric {costs!r}; choose one of {', '.join((*COST_METRICS, 'memory'))}")
    check_expand(expand, a.scopes)
    if depth is not None and depth < 0:
        from archspec.diagnostics import Diagnostic, SpecError

        raise SpecError(Diagnostic("E202", f"--depth must be 0 or more, got {depth}"))
    m = _Model(a)
    boxes, entries = m.layer_boxes()
    scopes = m.scope_items()
    groups = m.closed_boxes(scopes)
    counts = [len(v.boxes) for v in m.grouped] + [len(m.full.boxes)]
    if depth is None:
        fits = [d for d, n in enumerate(counts) if n <= DEFAULT_BOXES]
        depth = max(fits) if fits else 0
    dg, _ = graph_digraph(View(m.full.name, {}, [], {}, []), rankdir=rankdir.upper(), legend=False,
                          edge_labels=edge_labels, title="", fit=Fit(width=None, wrap=1))
    files = sorted({f for f in [*(e["file"] for e in entries), *(sc["file"] for sc in scopes)] if f})
    return {
        "format": MODEL_FORMAT, "version": MODEL_VERSION, "network": a.name,
        "title": a.title if title is True else (title or a.name),
        "summary": [[k.strip(), v] for k, v in a.summary_lines()],
        "warnings": [render_diagnostic(w) for w in a.warnings],
        "totals": {"params": a.totals.params, "macs": a.totals.macs, "flops": a.totals.flops,
                   "memory": a.totals.activation_bytes, "param_bytes": a.totals.param_bytes,
                   "layers": len(entries), "convention": a.convention, "batch": a.batch},
        "dot": {"prelude": _prelude(dg.source), "edge_labels": edge_labels},
        "categories": {c: [CATEGORY_NAMES.get(c, c), category_color(c)] for c in
                       dict.fromkeys([*(b["cat"] for b in boxes), *(["block"] if m.deepest else [])])},
        "nodes": m.node_items(), "boxes": boxes, "scopes": scopes, "groups": groups, "entries": entries,
        "levels": {"deepest": m.deepest, "boxes": counts, "default": None if expand else min(depth, m.deepest)},
        "open": m.initially_open(depth, expand), "costs": costs,
        "sources": {f: {"name": short_path(f), "lines": _lines(f)} for f in files},
    }


class _Model:
    """Builds the parts of the view model from an analysis and the static renderer's views."""

    def __init__(self, a: Analysis) -> None:
        self.a = a
        self.g = a.ir
        self.scopes = a.scopes
        self.nodes = list(self.g.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.rows = {r.name: r for r in a.rows}
        self.sindex = {s: i for i, s in enumerate(self.scopes)}
        self.deepest = max((self.level(s) for s in self.scopes if self.scopes[s].kind == "block"), default=0)
        self.full = build_view(self.g, depth=None)
        # each level's blocks closed (and runs of like blocks grouped): their boxes as the static diagram draws them
        self.grouped = [build_view(self.g, depth=d) for d in range(self.deepest)]
        self.box_of: dict[str, int] = {}
        self.entry_of: dict[str, int] = {}
        self.totals, self.first, self.last = self._scope_totals()

    def level(self, sid: str) -> int:
        return sum(1 for c in scope_chain(sid) if self.scopes[c].kind == "block")

    @staticmethod
    def attrs(b: Any) -> dict[str, str]:
        from archspec.draw.render import _node_attrs

        out = _node_attrs(b, None, 0)
        out.pop("tooltip", None)  # the page shows its own hover card
        return out

    def cost(self, ns: Sequence[str]) -> dict[str, int]:
        rs = [self.rows[n] for n in ns if n in self.rows]
        return {"p": sum(r.params for r in rs), "m": sum(r.macs for r in rs),
                "mem": sum(r.activations for r in rs) * BYTES_PER_ELEMENT}

    def layer_boxes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The boxes of the open diagram, and the table's rows: a layer with its folded activations."""
        full, g = self.full, self.g
        boxes: list[dict[str, Any]] = []
        for bid in full.order:
            b = full.boxes[bid]
            self.box_of.update((n, len(boxes)) for n in b.nodes)
            boxes.append({"id": bid, "role": b.role, "title": b.title, "s": self.sindex.get(b.cluster, -1),
                          "a": self.attrs(b), "cat": b.category, **self.cost(b.nodes), "e": None})
        entries: list[dict[str, Any]] = []
        for r in self.a.rows:
            bi = self.box_of.get(r.name)
            if bi is not None and full.boxes[boxes[bi]["id"]].nodes[0] != r.name:  # folded into its producer
                e = entries[boxes[bi]["e"]]
                e["kind"] += "+" + r.kind
                for k, v in (("p", r.params), ("tp", r.trainable_params), ("fp", r.non_trainable_params),
                             ("buf", r.buffers), ("m", r.macs), ("f", r.flops), ("c", r.connections),
                             ("mem", r.activations * BYTES_PER_ELEMENT)):
                    e[k] += v
                e["sh"] = fmt_shape(r.output_shape)
                e["rf"], e["st"], e["off"] = r.receptive_field, r.effective_stride, r.receptive_offset
                e["nodes"].append(r.name)
                self.entry_of[r.name] = boxes[bi]["e"]
                continue
            d = g[r.name]
            span = d.span
            self.entry_of[r.name] = len(entries)
            if bi is not None:
                boxes[bi]["e"] = len(entries)
            entries.append({
                "name": r.name, "kind": r.kind, "args": r.args, "s": self.sindex.get(r.block, -1),
                "sh": fmt_shape(r.output_shape), "el": _elements(r.output_shape),
                "dt": r.dtype if r.dtype != "float32" else None,  # token ids say so (int64)
                "p": r.params, "tp": r.trainable_params, "fp": r.non_trainable_params, "buf": r.buffers,
                "m": r.macs, "f": r.flops, "c": r.connections, "mem": r.activations * BYTES_PER_ELEMENT,
                "rf": r.receptive_field, "st": r.effective_stride, "off": r.receptive_offset,
                "frozen": r.frozen, "file": span.file if span else None, "line": span.line if span else None,
                "in": [[i, fmt_shape(g[i].meta.shape)] for i in d.inputs],
                "b": bi, "nodes": [r.name], "cat": _category(d.kind)})
        return boxes, entries

    def node_items(self) -> list[dict[str, Any]]:
        """Every graph node: its scope, the open diagram's box that draws it (or, for an identity, the
        node whose tensor it passes on), its inputs, its shape and its table row."""
        g, index = self.g, self.index
        return [{"id": n, "s": self.sindex.get(g[n].scope_id, -1), "b": self.box_of.get(n),
                 "al": index[g[n].inputs[0]] if n not in self.box_of and g[n].inputs else None,
                 "in": [index[i] for i in g[n].inputs], "sh": fmt_shape(g[n].meta.shape),
                 "e": self.entry_of.get(n)} for n in self.nodes]

    def _scope_totals(self) -> tuple[dict[str, dict[str, int]], dict[str, str], dict[str, str]]:
        totals = {s: {"p": 0, "tp": 0, "m": 0, "f": 0, "mem": 0, "layers": 0} for s in self.scopes}
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for n in self.nodes:
            row = self.rows.get(n)
            for sc in scope_chain(self.g[n].scope_id):
                first.setdefault(sc, n)
                last[sc] = n
                if row is not None:
                    t = totals[sc]
                    t["p"] += row.params
                    t["tp"] += row.trainable_params
                    t["m"] += row.macs
                    t["f"] += row.flops
                    t["mem"] += row.activations * BYTES_PER_ELEMENT
                    t["layers"] += 0 if (row.fused or row.kind == "identity") else 1
        return totals, first, last

    def scope_items(self) -> list[dict[str, Any]]:
        """Blocks and branches: their totals, and the cluster each draws when open."""
        g, rows = self.g, self.rows
        out: list[dict[str, Any]] = []
        for sid, info in self.scopes.items():
            c = self.full.clusters.get(sid)
            lst = self.last.get(sid)
            out.append({
                "id": sid, "k": info.kind, "name": info.name, "label": info.label, "lvl": self.level(sid),
                "parent": self.sindex.get(sid.rpartition(".")[0], -1), "g": None, "box": None,
                "cl": _cluster_attrs(c.kind, c.label) if c else None, "title": c.label if c else info.label,
                "first": self.index[self.first[sid]] if sid in self.first else None,
                "last": self.index[lst] if lst else None,
                "sh": fmt_shape(g[lst].meta.shape) if lst else "",
                "rf": rows[lst].receptive_field if lst in rows else None,
                "in": _scope_inputs(g, sid, self.first, self.last, self.nodes, self.index),
                "file": info.span.file if info.span else None, "line": info.span.line if info.span else None,
                **self.totals[sid]})
        return out

    def closed_boxes(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each block's box when closed (into `items`), and the runs of like sibling blocks
        (`basic(16) ×199`): the page draws any stretch of a run whose blocks are all closed as one box,
        from a template of the run's box."""
        g, scopes, sindex = self.g, self.scopes, self.sindex
        groups: list[dict[str, Any]] = []
        for d, view in enumerate(self.grouped):
            for b in view.boxes.values():
                if b.role != "block":
                    continue
                if b.count < 2:
                    items[sindex[b.id]]["box"] = {"a": self.attrs(b), "title": b.title}
                    continue
                members: dict[str, list[str]] = {}
                for n in b.nodes:
                    m = [c for c in scope_chain(g[n].scope_id) if scopes[c].kind == "block"][d]
                    members.setdefault(m, []).append(n)
                base = b.title.rsplit(" ×", 1)[0]
                template = self.attrs(replace(b, title=f"{base} ×{_MARK['n']}", layers=_SENTINEL_LAYERS,
                                              shape=(_SENTINEL_SHAPE,)))
                template = {k: v.replace(str(_SENTINEL_LAYERS), _MARK["layers"]).replace(str(_SENTINEL_SHAPE),
                                                                                         _MARK["shape"])
                            for k, v in template.items()}
                for m, inside in members.items():
                    t = self.totals[m]
                    one = replace(b, id=m, title=base, count=1, nodes=inside, layers=t["layers"], params=t["p"],
                                  macs=t["m"], shape=g[inside[-1]].meta.shape,
                                  frozen=all(g[n].frozen for n in inside))
                    items[sindex[m]]["box"] = {"a": self.attrs(one), "title": base}
                    items[sindex[m]]["g"] = len(groups)
                groups.append({"members": [sindex[m] for m in members], "base": base, "a": template})
        return groups

    def initially_open(self, depth: int, expand: Sequence[str]) -> list[str]:
        """The blocks the page opens with: down to `depth` levels, and the expanded ones with their parents."""
        scopes = self.scopes
        opened = {sid for sid in scopes if scopes[sid].kind == "block" and self.level(sid) <= depth}
        for sid, s in scopes.items():
            if s.kind == "block" and (sid in expand or s.name in expand):
                opened.update(c for c in scope_chain(sid) if scopes[c].kind == "block")
        return sorted(opened, key=lambda s: self.sindex[s])


def _prelude(source: str) -> str:
    """The statements of an empty diagram of `render.graph_digraph`: its graph, node and edge defaults."""
    body = source.split("{", 1)[1].rsplit("}", 1)[0]
    return "\n".join(line.strip() for line in body.splitlines() if line.strip())


def _elements(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _category(kind: str) -> str:
    from archspec.kinds import KINDS

    return KINDS[kind].category


def _scope_inputs(g: Any, sid: str, first: dict[str, str], last: dict[str, str], nodes: list[str],
                  index: dict[str, int]) -> list[list[str]]:
    """The tensors a scope reads from outside it: [producer, shape] pairs."""
    if sid not in first:
        return []
    inside = range(index[first[sid]], index[last[sid]] + 1)
    prefix = sid + "."
    out: dict[str, str] = {}
    for i in inside:
        n = nodes[i]
        if not g[n].scope_id.startswith(prefix) and g[n].scope_id != sid:
            continue
        for src in g[n].inputs:
            ss = g[src].scope_id
            if ss != sid and not ss.startswith(prefix) and src not in out:
                out[src] = fmt_shape(g[src].meta.shape)
    return [[k, v] for k, v in out.items()]


def _cluster_attrs(kind: str, label: str) -> dict[str, str]:
    """A cluster's attributes as `render.graph_digraph` draws it (the fill alternates with nesting)."""
    esc = html.escape(label, quote=False)
    if kind == "block":
        return {"label": f"<<B>{esc}</B>>", "style": "rounded,filled", "color": "#9a9a9a", "fontsize": "10",
                "labeljust": "l", "penwidth": "0.8"}
    return {"label": f"<<I>{esc}</I>>" if label else "", "style": "dashed,rounded", "color": "#c4c4c4",
            "fontsize": "9", "fontcolor": "#666666", "labeljust": "l", "penwidth": "0.6"}


def short_path(file: str) -> str:
    """A spec file's name as the page shows it: shipped specs and the standard library by their short
    names (`resnet.arch`, `std/resnet.arch`), other files relative to the current folder if inside it."""
    from archspec.lang.load import shipped_specs_dir, stdlib_dir

    p = Path(file)
    for base, prefix in ((stdlib_dir(), "std/"), (shipped_specs_dir(), "")):
        try:
            return prefix + p.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            pass
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return p.name if p.is_absolute() else file


def _lines(file: str) -> list[str]:
    from archspec.diagnostics import _SOURCES

    known = _SOURCES.get(file)
    text = known[0] if known else None
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
    return text.splitlines()


# -- the page --------------------------------------------------------------------------------------

@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


@cache
def graphviz_script() -> str:
    """The vendored @hpcc-js/wasm-graphviz module as a classic script that sets `ArchspecGraphviz`."""
    src = _asset("graphviz-wasm.js")
    src = re.sub(r"//# sourceMappingURL=\S*\s*$", "", src)
    m = re.search(r"export\s*\{([^}]*)\};?\s*$", src)
    if m is None:
        raise RuntimeError("assets/graphviz-wasm.js does not end in an `export {...}` (see assets/README.md)")
    names = [p.strip().split(" as ") for p in m.group(1).split(",")]
    body = src[:m.start()] + "globalThis.ArchspecGraphviz={" + ",".join(f"{b[-1]}:{b[0]}" for b in names) + "};"
    _check_inlinable(body, "graphviz-wasm.js")
    return body


def _check_inlinable(text: str, what: str) -> None:
    low = text.lower()
    if "</script" in low or "<!--" in low:
        raise RuntimeError(f"{what} cannot be inlined in a <script> element")


def encode_model(model: dict[str, Any]) -> str:
    """The model as base64 of gzip of compact JSON (the page decompresses it with DecompressionStream)."""
    data = json.dumps(model, separators=(",", ":"), ensure_ascii=False, default=_jsonable).encode()
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def _jsonable(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    if hasattr(o, "denominator"):
        return float(o)
    return str(o)


def page(model: dict[str, Any] | None, *, serve: bool = False, title: str | None = None) -> str:
    """The whole page. With `serve`, the page fetches its model from the server and follows its changes
    (`archspec serve`); otherwise the model is inlined."""
    script = _asset("view.js")
    _check_inlinable(script, "view.js")
    data = "" if model is None else encode_model(model)
    name = title or (model["title"] if model else "archspec")
    return (_asset("page.html")
            .replace("@@TITLE@@", html.escape(name))
            .replace("@@CSS@@", _asset("view.css"))
            .replace("@@MODE@@", "serve" if serve else "static")
            .replace("@@MODEL@@", data)
            .replace("@@GRAPHVIZ@@", graphviz_script())
            .replace("@@SCRIPT@@", script))


def human_size(n: int) -> str:
    """`412 KB`, `1.3 MB`: the size `render -o x.html` reports."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{max(1, round(n / 1e3))} KB"


# -- the library's entry point ------------------------------------------------------------------------

class HtmlView:
    """The interactive view of a network: `archspec.view(spec)`. In a notebook that runs scripts it shows
    itself as the page, in an iframe; `.html` is the page's text and `.save(path)` writes it."""

    def __init__(self, analysis: Analysis, model: dict[str, Any]) -> None:
        self.analysis = analysis
        self.model = model
        self._html: str | None = None

    @property
    def html(self) -> str:
        if self._html is None:
            self._html = page(self.model)
        return self._html

    def save(self, path: str | Path) -> int:
        """Write the page whole or not at all; returns its size in bytes."""
        from archspec.files import write_atomic

        data = self.html.encode()
        write_atomic(Path(path), data)
        return len(data)

    def _repr_html_(self) -> str:
        height = 640
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:{height}px;'
                f'border:1px solid #ddd;border-radius:4px" title="archspec: {html.escape(self.model["title"])}"></iframe>')

    def __repr__(self) -> str:
        return f"<HtmlView {self.model['title']}: {len(self.model['entries'])} layers>"


def view(spec: str | Path | Spec | Analysis, *, depth: int | None = None, expand: Sequence[str] = (),
         costs: str | None = None, rankdir: str = "TB", edge_labels: bool = True, title: str | bool = True,
         input: Any = None, params: dict[str, Any] | None = None) -> HtmlView:
    """The interactive view of a network (`HtmlView`): what `archspec render SPEC -o x.html` writes.
    `spec` is what `archspec.render` takes; so are the options (`costs` may also be "memory")."""
    from archspec.report.analysis import Analysis, analyze

    a = spec if isinstance(spec, Analysis) else analyze(spec, input=input, params=params)
    return HtmlView(a, view_model(a, depth=depth, expand=expand, costs=costs, rankdir=rankdir,
                                  edge_labels=edge_labels, title=title))


__all__ = ["HtmlView", "page", "view", "view_model"]
