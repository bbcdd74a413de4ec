"""The analysis: a spec's graph with every pass run, as rows and totals a program can read.

    >>> import archspec
    >>> a = archspec.analyze("vgg16")
    >>> a.totals.params, a.totals.macs
    (138357544, 15470264320)

`Analysis.to_dict()` is the JSON interface (docs/json.md); `table()`, `to_csv()` and `to_markdown()`
are the other formats; in Jupyter it shows itself as a table.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from archspec.build.elaborate import BuildCache, build_graph
from archspec.build.scopes import OutputInfo, ScopeInfo, scope_chain
from archspec.diagnostics import Diagnostic, SpecError
from archspec.files import parse_shape
from archspec.kinds import KINDS
from archspec.kinds.base import CONVENTIONS, Cost, Shape, fmt_shape
from archspec.lang.expr import Value
from archspec.lang.load import Source, load_source
from archspec.passes import costs, receptive

JSON_VERSION = 1
BYTES_PER_ELEMENT = 4  # float32


@dataclass(slots=True)
class Row:
    """One layer instance (a graph node)."""

    name: str
    kind: str
    args: str
    block: str
    output_shape: Shape
    params: int
    trainable_params: int
    non_trainable_params: int
    buffers: int
    macs: int
    flops: int
    connections: int
    activations: int
    receptive_field: list[int] | None
    effective_stride: list[float] | None
    receptive_offset: list[float] | None
    fused: bool = False
    frozen: bool = False
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["output_shape"] = list(self.output_shape)
        return d


@dataclass
class Totals:
    params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    connections: int = 0
    activations: int = 0
    activation_bytes: int = 0
    param_bytes: int = 0
    layers: int = 0
    depth: int = 0
    flops_by_kind: dict[str, int] = field(default_factory=dict)
    macs_by_convention: dict[str, int] = field(default_factory=dict)
    receptive_field: list[int] | None = None
    effective_stride: list[float] | None = None
    receptive_offset: list[float] | None = None
    torchinfo_memory: dict[str, int] | None = None  # with convention="torchinfo": its memory figures, bytes


def _num(x: Any) -> float:
    return x if isinstance(x, int) else (float(x) if x.denominator != 1 else int(x))


class Analysis:
    """Shapes and costs of every layer of a network, and their totals."""

    def __init__(self, graph: nx.DiGraph, *, batch: int = 1, convention: str = "archspec",
                 spec_name: str | None = None, error: SpecError | None = None) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
        _check_batch(batch)
        self.graph = graph
        self.batch = batch
        self.convention = convention
        self.error = error  # set when the analysis stopped at a mistake: rows cover what was built
        self.name: str = graph.graph.get("name", spec_name or "network")
        with _no_gc():  # millions of small objects and no cycles: the collector would only cost time
            costs.run(graph)
            receptive.run(graph)
            self._described: dict[int, str] = {}
            self.rows = [self._row(n, d) for n, d in graph.nodes(data=True) if d["role"] != "output"]
            self.totals = self._totals()

    # -- rows and totals -----------------------------------------------------------------------
    def _row(self, n: str, d: dict[str, Any]) -> Row:
        m = d["meta"]
        c: Cost = m["cost"]
        rf = m.get("rf")
        args = self._described.get(id(d["args"]))
        if args is None:
            args = self._described[id(d["args"])] = KINDS[d["kind"]].describe(d["args"])
        return Row(
            name=n, kind=d["kind"], args=args, block=d["scope"], output_shape=m["shape"],
            params=c.params + c.fixed, trainable_params=c.params, non_trainable_params=c.fixed, buffers=c.buffers,
            macs=m["peer_macs"][self.convention] * self.batch, flops=c.flops * self.batch,
            connections=c.connections, activations=m["activations"] * self.batch,
            receptive_field=[f.size for f in rf] if rf else None,
            effective_stride=[_num(f.stride) for f in rf] if rf else None,
            receptive_offset=[_num(f.start) for f in rf] if rf else None,
            fused=d["fused"], frozen=d["frozen"], line=d["span"].line if d["span"] else None)

    def _totals(self) -> Totals:
        t = Totals()
        for r in self.rows:
            t.params += r.params
            t.trainable_params += r.trainable_params
            t.non_trainable_params += r.non_trainable_params
            t.buffers += r.buffers
            t.macs += r.macs
            t.flops += r.flops
            t.connections += r.connections
            t.activations += r.activations
            if r.flops:
                t.flops_by_kind[r.kind] = t.flops_by_kind.get(r.kind, 0) + r.flops
        t.activation_bytes = t.activations * BYTES_PER_ELEMENT
        t.param_bytes = (t.params + t.buffers) * BYTES_PER_ELEMENT
        by_conv = dict.fromkeys(CONVENTIONS, 0)
        for _, d in self.graph.nodes(data=True):
            for conv, n in d["meta"]["peer_macs"].items():
                by_conv[conv] += n
        t.macs_by_convention = {conv: n * self.batch for conv, n in by_conv.items()}
        if self.convention == "torchinfo":
            t.torchinfo_memory = costs.torchinfo_memory(self.graph, self.batch)
        t.layers = sum(1 for r in self.rows if r.params and KINDS[r.kind].category not in ("norm", "activation"))
        t.depth = self._depth()
        widest = None
        for _, d in self.graph.nodes(data=True):
            rf = d["meta"].get("rf")
            if rf and (widest is None or max(f.size for f in rf) > max(f.size for f in widest)):
                widest = rf
        if widest:
            t.receptive_field = [f.size for f in widest]
            t.effective_stride = [_num(f.stride) for f in widest]
            t.receptive_offset = [_num(f.start) for f in widest]
        return t

    def _depth(self) -> int:
        """Weight layers on the longest path, as the papers count them (VGG-16: 16, ResNet-50: 50):
        layers with parameters, except normalisation and activations (batch norm's scale and shift,
        PReLU's slopes), which the papers do not count as layers."""
        best: dict[str, int] = {}
        for n, d in self.graph.nodes(data=True):
            c = d["meta"]["cost"]
            here = 1 if (c.params + c.fixed) and KINDS[d["kind"]].category not in ("norm", "activation") else 0
            best[n] = here + max((best[i] for i in d["inputs"]), default=0)
        return max(best.values(), default=0)

    # -- views -----------------------------------------------------------------------------
    @property
    def inputs(self) -> dict[str, Shape]:
        return {n: d["meta"]["shape"] for n, d in self.graph.nodes(data=True) if d["role"] == "input"}

    @property
    def outputs(self) -> dict[str, Shape]:
        return {o.name: self.graph.nodes[o.node]["meta"]["shape"] for o in self.graph.graph.get("outputs", [])}

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.graph.graph.get("warnings", []))

    @property
    def output_infos(self) -> list[OutputInfo]:
        return list(self.graph.graph.get("outputs", []))

    @property
    def scopes(self) -> dict[str, ScopeInfo]:
        return dict(self.graph.graph.get("scopes", {}))

    def row(self, name: str) -> Row:
        """The row of a layer by its name (`stage3.bottleneck1.residual.conv1`); KeyError naming the
        closest names when there is none."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(_missing_row(name, [r.name for r in self.rows]))

    def auto_depth(self, max_rows: int = 250) -> int | None:
        """The deepest block level whose table fits in `max_rows` rows (None: everything fits)."""
        if len(self.rows) <= max_rows:
            return None
        deepest = max((s.count(".") + 1 for s in self.scopes), default=0)
        for depth in range(deepest, -1, -1):
            if len(self.display_rows(depth)) <= max_rows:
                return depth
        return 0

    def display_rows(self, depth: int | None = None) -> list[tuple[str, Any]]:
        """Rows as tables show them: ("block", ScopeInfo, aggregate) headers and ("layer", Row) rows,
        fused activations folded into their producer, blocks deeper than `depth` collapsed to one row.
        `depth` counts block levels, as in `archspec render --depth`: the branches of a merge open and
        close with the block that holds them (`googlenet` at depth 0: one row per inception module)."""
        if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
            raise ValueError(f"depth must be 0 or more (or None: every layer), got {depth!r}")
        scopes = self.scopes
        nodes = self.graph.nodes
        out: list[tuple[str, Any]] = []
        open_scopes: list[str] = []
        agg: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            chain = scope_chain(r.block)
            shown, collapsed = chain, None
            if depth is not None:  # depth counts block levels (branches open and close with their block)
                blocks = [s for s in chain if s in scopes and scopes[s].kind == "block"]
                if len(blocks) > depth:
                    collapsed = blocks[depth]
                    shown = chain[:chain.index(collapsed)]
            # close scopes we left, open the new ones
            while open_scopes and (len(open_scopes) > len(shown) or open_scopes[-1] != shown[len(open_scopes) - 1]):
                open_scopes.pop()
            for s in shown[len(open_scopes):]:
                open_scopes.append(s)
                out.append(("block", scopes.get(s)))
            if collapsed:
                a = agg.get(collapsed)
                if a is None:
                    a = agg[collapsed] = {"scope": scopes.get(collapsed), "params": 0, "macs": 0, "flops": 0,
                                          "shape": r.output_shape, "layers": 0, "activations": 0,
                                          "trainable_params": 0, "inputs": [], "receptive_field": None}
                    out.append(("collapsed", a))
                inside = collapsed + "."
                for i in nodes[r.name]["inputs"]:  # the tensors the block reads from outside it
                    if not i.startswith(inside) and i not in a["inputs"]:
                        a["inputs"].append(i)
                a["params"] += r.params
                a["trainable_params"] += r.trainable_params
                a["receptive_field"] = r.receptive_field
                a["macs"] += r.macs
                a["flops"] += r.flops
                a["activations"] += r.activations
                a["shape"] = r.output_shape
                a["layers"] += 0 if r.fused else 1
                continue
            if r.fused and out and out[-1][0] == "layer":
                out[-1] = ("layer", _fold(out[-1][1], r))
                continue
            out.append(("layer", r))
        return out

    # -- formats ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        d: dict[str, Any] = {
            "format": "archspec-analysis", "version": JSON_VERSION, "network": self.name,
            "source": self.graph.graph.get("source"),
            "params": {k: v for k, v in self.graph.graph.get("params", {}).items()},
            "convention": self.convention, "batch": self.batch,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "outputs": {k: list(v) for k, v in self.outputs.items()},
            "totals": asdict(t),
            "layers": [r.to_dict() for r in self.rows],
            "blocks": [{"name": s.id, "kind": s.kind, "label": s.label} for s in self.scopes.values()],
        }
        if self.error is not None:
            d["error"] = self.error.diagnostic.to_dict()
        return d

    def to_json(self, indent: int | None = 2) -> str:
        d = self.to_dict()
        if indent is not None and len(self.rows) > 2000:  # one layer a line: readable, and fast for huge networks
            layers = d.pop("layers")
            head = json.dumps(d, indent=indent, default=_jsonable)
            rows = ",\n".join("    " + json.dumps(r, default=_jsonable) for r in layers)
            return head[:-2] + ',\n  "layers": [\n' + rows + "\n  ]\n}"
        return json.dumps(d, indent=indent, default=_jsonable)

    def to_csv(self, columns: str | list[str] | tuple[str, ...] | None = None) -> str:
        """Every layer a row: the fixed columns of docs/json.md, or name, kind and `columns`
        (`"input,kernel,params"`, as `archspec analyze --columns`)."""
        from archspec.report.table import csv_text

        return csv_text(self, columns)

    def summary_lines(self) -> list[tuple[str, str]]:
        t = self.totals
        conv = "" if self.convention == "archspec" else f" ({self.convention}'s convention)"
        per = f" (batch {self.batch})" if self.batch != 1 else " per sample"
        lines = [
            ("Parameters", f"{t.params:,}"),
            ("  trainable", f"{t.trainable_params:,}"),
            ("  non-trainable", f"{t.non_trainable_params:,}"),
            ("Buffers", f"{t.buffers:,}" + (f"  (Keras total: {t.params + t.buffers:,})" if t.buffers else "")),
            ("MACs" + conv, f"{t.macs:,}  ({human(t.macs)})"),
            ("FLOPs", f"{t.flops:,}  ({human(t.flops)})"),
            ("Connections", f"{t.connections:,}"),
            ("Activations" + per, f"{t.activations:,}  ({human_bytes(t.activation_bytes)})"),
            ("Parameter memory", human_bytes(t.param_bytes) + " (float32, with buffers)"),
            ("Inputs", ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())),
            ("Outputs", ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.outputs.items())),
            ("Depth", f"{t.depth} weight layers on the longest path"),
        ]
        if t.torchinfo_memory is not None:  # as torchinfo prints them: decimal MB (docs/conventions.md)
            m = t.torchinfo_memory
            at = next((i + 1 for i, (k, _) in enumerate(lines) if k == "Parameter memory"), len(lines))
            lines[at:at] = [(label, f"{m[key] / 1e6:0.2f}  (torchinfo)") for label, key in (
                ("Input size (MB)", "input_bytes"), ("Forward/backward pass size (MB)", "forward_backward_bytes"),
                ("Params size (MB)", "params_bytes"), ("Estimated Total Size (MB)", "total_bytes"))]
        if t.receptive_field:
            lines.append(("Receptive field", "×".join(map(str, t.receptive_field)) + "  (stride " +
                          "×".join(f"{s:g}" for s in t.effective_stride or []) + ")"))
        return lines

    def to_markdown(self, depth: int | None = None, columns: str | list[str] | tuple[str, ...] | None = None) -> str:
        from archspec.report.table import markdown

        return markdown(self, depth, columns)

    def table(self, depth: int | None = None, columns: str | list[str] | tuple[str, ...] | None = None) -> Any:
        """A rich renderable: the layers (blocks deeper than `depth` collapsed) in the chosen `columns`
        (default: arguments, output, params, MACs; see `archspec.report.table.COLUMNS`), and the totals."""
        from archspec.report.table import rich_table

        return rich_table(self, depth, columns)

    def __rich__(self) -> Any:
        return self.table()

    def __str__(self) -> str:
        from archspec.report.table import plain

        return plain(self)

    def __repr__(self) -> str:
        t = self.totals
        return f"<Analysis {self.name}: {t.params:,} params, {t.macs:,} MACs>"

    def _repr_markdown_(self) -> str:
        from archspec.report.notebook import NOTEBOOK_ROWS

        return self.to_markdown(self.auto_depth(NOTEBOOK_ROWS))

    def _repr_html_(self) -> str:
        """In a notebook: the table collapsed to a readable depth, and the totals (report/notebook.py);
        `archspec.view(a)` is the interactive view."""
        from archspec.report.notebook import analysis_html

        return analysis_html(self)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _fold(r: Row, act: Row) -> Row:
    from dataclasses import replace

    return replace(r, kind=f"{r.kind}+{act.kind}", flops=r.flops + act.flops, params=r.params + act.params,
                   macs=r.macs + act.macs, output_shape=act.output_shape)


def _check_batch(batch: Any) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a whole number of at least 1, got {batch!r}")


def _missing_row(name: str, names: list[str]) -> str:
    """A KeyError's message for a layer name that is not there, with the closest names."""
    import difflib

    tail = "." + name.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, names, n=6, cutoff=0.6)
    close = sorted(close, key=lambda n: not n.endswith(tail))[:3]  # same last name first: a level left out
    message = f"no layer named {name!r}"
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message


def _jsonable(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:g} B"


# -- the library's entry points ------------------------------------------------------------------

class Spec:
    """A loaded spec (source and imports), ready to be built with parameters."""

    def __init__(self, source: Source) -> None:
        self.source = source

    @property
    def name(self) -> str:
        net = self.source.spec.network
        return net.name if net else Path(self.source.spec.path).stem

    @property
    def path(self) -> str:
        return self.source.spec.path

    @property
    def params(self) -> dict[str, Any]:
        net = self.source.spec.network
        return {p.name: p.default for p in net.params} if net else {}

    def graph(self, params: dict[str, Value] | None = None, input: Any = None,
              cache: BuildCache | None = None) -> nx.DiGraph:
        """The graph with these parameters and input; a `cache` shared between calls skips validating
        and shaping the layers an earlier call has seen (`archspec.sweep` builds thousands)."""
        inputs = _coerce_input(input)
        try:
            return build_graph(self.source, _coerce_params(params), inputs, cache=cache)
        except SpecError as e:
            if inputs:
                _hint_channels_last(e, self, params, inputs)
            raise

    def __repr__(self) -> str:
        return f"<Spec {self.name} from {self.path}>"


def load(spec: str | Path | Spec, *, text: str | None = None) -> Spec:
    """Load a spec: a path, a shipped spec's name (`"vgg16"`), or source text. A string holding a newline
    is source text; a `Path` (or `archspec.lang.load.SpecPath`, the command line's argument) is always a
    path, whatever it holds; `text=` gives source text with a name (`load("net.arch", text=src)`)."""
    if isinstance(spec, Spec):
        return spec
    return Spec(load_source(spec, text=text))


def analyze(spec: str | Path | Spec, *, input: Any = None, batch: int = 1, convention: str = "archspec",
            params: dict[str, Any] | None = None, partial: bool = False, freeze: list[str] | tuple[str, ...] = (),
            **kw: Any) -> Analysis:
    """Analyse a spec without running it. Network parameters can be given as keywords
    (`analyze("resnet", depth=50)`) or as `params={...}`; `input` overrides the input shape
    (`"3x299x299"`, `(3, 299, 299)` or `{"name": shape}` for several inputs).

    With `partial=True`, a shape error returns the analysis of what was built before it (with
    `.error` set) instead of raising. `freeze` names layers or blocks (`stage1`, `stage2.conv1`) whose
    parameters count as non-trainable, as in a `frozen:` block."""
    _check_batch(batch)
    s = load(spec)
    merged = {**(params or {}), **kw}
    try:
        with _no_gc():
            g = s.graph(merged, input)
    except SpecError as e:
        if partial and e.partial is not None and e.partial.number_of_nodes():
            return Analysis(e.partial, batch=batch, convention=convention, error=e)
        raise
    if freeze:
        from archspec.passes import freeze as freeze_pass

        freeze_pass.run(g, freeze)
    return Analysis(g, batch=batch, convention=convention)


CHANNELS = (1, 3, 4)  # grey, RGB, RGBA: the channel counts an image's last axis gives away


def _hint_channels_last(e: SpecError, spec: Spec, params: dict[str, Value] | None,
                        given: dict[str, Shape]) -> None:
    """A given input shape that failed and looks channels-last (224×224×3) where the spec's own input
    is channels first (3×224×224): say so in the diagnostic."""
    if not any(len(v) >= 2 and v[-1] in CHANNELS and v[0] != v[-1] for v in given.values()):
        return
    try:
        g0 = build_graph(spec.source, _coerce_params(params), None)
    except SpecError:
        return
    for name in g0.graph.get("inputs", []):
        own = g0.nodes[name]["meta"]["shape"]
        shape = given.get(name) or given.get("*")
        if (shape is None or len(shape) != len(own) or shape[-1] not in CHANNELS or shape[0] == shape[-1]
                or own[0] != shape[-1]):
            continue
        first = "x".join(map(str, (shape[-1], *shape[:-1])))
        d = e.diagnostic
        d.notes.append(f"the input {fmt_shape(shape)} looks channels-last: its last axis is {shape[-1]}, and this "
                       f"spec's own input `{name}` is {fmt_shape(own)}, channels first")
        if d.hint:
            d.notes.append(f"if the shape is meant: {d.hint}")
        d.hint = (f"give the shape channels first: --input {first}" if name == "input" or "*" in given
                  else f"give the shape channels first: --input {name}={first}")
        return


def _coerce_input(input: Any) -> dict[str, Shape] | None:
    if input is None:
        return None
    if isinstance(input, dict):
        return {k: parse_shape(v) if isinstance(v, str) else tuple(v) for k, v in input.items()}
    if isinstance(input, str):
        return {"*": parse_shape(input)}
    return {"*": tuple(input)}


def _coerce_params(params: dict[str, Any] | None) -> dict[str, Value] | None:
    if not params:
        return None
    out: dict[str, Value] = {}
    for k, v in params.items():
        out[k] = tuple(v) if isinstance(v, list) else v
    return out
