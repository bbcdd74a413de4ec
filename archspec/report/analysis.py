"""The analysis: a spec's graph with every pass run, as rows and totals a program can read.

    >>> import archspec
    >>> a = archspec.analyze("vgg16")
    >>> a.totals.params, a.totals.macs
    (138357544, 15470264320)

`Analysis.to_dict()` is the JSON interface (docs/json.md); `table()`, `to_csv()` and `to_markdown()`
are the other formats; in Jupyter it shows itself as a table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import GLOBAL, Graph, Node, Output, Scope, Shape, fmt_shape, scope_chain
from archspec.kinds import KINDS
from archspec.kinds.base import CONVENTIONS
from archspec.passes import costs
from archspec.pipeline import Spec, analyzed, load, no_gc
from archspec.report.units import BYTES_PER_ELEMENT, human, human_bytes

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Analysis", "Row", "Spec", "Totals", "analyze", "load"]

JSON_VERSION = 1


@dataclass(slots=True)
class Row:
    """One layer instance (a graph node)."""

    name: str
    kind: str
    args: str
    block: str
    output_shape: Shape
    dtype: str  # the output's element type: "float32", or "int64" for token ids
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


class _Counted(dict[str, bool]):
    """Whether a kind's layers count in the depth (a layer with weights, not a norm or an activation):
    worked out once per kind, when first met."""

    def __missing__(self, kind: str) -> bool:
        value = self[kind] = KINDS[kind].category not in ("norm", "activation")
        return value


_COUNTED = _Counted()


class Analysis:
    """Shapes and costs of every layer of a network, and their totals."""

    def __init__(self, ir: Graph, *, batch: int = 1, convention: str = "archspec",
                 error: SpecError | None = None) -> None:
        """The rows and totals of an analysed IR (`archspec.pipeline.analyzed`: every pass run)."""
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
        _check_batch(batch)
        self.ir = ir
        self.batch = batch
        self.convention = convention
        self.error = error  # set when the analysis stopped at a mistake: rows cover what was built
        self.name: str = ir.name
        self.training: Any = None  # a report.training.TrainingMemory, after `with_training`
        with no_gc():
            self.totals = self._totals()

    def with_training(self, optimizer: str = "adam") -> Analysis:
        """Add what a training step holds (report/training.py) to the summary and the JSON; returns self."""
        from archspec.report.training import training_memory

        self.training = training_memory(self, optimizer)
        return self

    @cached_property
    def rows(self) -> list[Row]:
        """One row per layer (every node but the outputs), in build order; made when first read."""
        described: dict[int, str] = {}
        with no_gc():
            return [self._row(n, described) for n in self.ir if n.op != "output"]

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The network as a networkx graph (node data: `{"node": Node}`), for graph algorithms."""
        return self.ir.to_networkx()

    # -- rows and totals -----------------------------------------------------------------------
    def _row(self, n: Node, described: dict[int, str]) -> Row:
        m = n.meta
        c = m.cost
        assert c is not None and m.peer_macs is not None, "run the passes first (archspec.pipeline)"
        rf = m.rf if m.rf != GLOBAL else None
        args = described.get(id(n.args))
        if args is None:
            args = described[id(n.args)] = KINDS[n.kind].describe(n.args)
        if (n.shares and not n.fused) or n.ties:
            args = shared_note(n, args)
        return Row(
            name=n.id, kind=n.kind, args=args, block=n.scope.id if n.scope is not None else "",
            output_shape=m.shape, dtype=m.dtype, params=c.params + c.fixed, trainable_params=c.params, non_trainable_params=c.fixed,
            buffers=c.buffers, macs=m.peer_macs[self.convention] * self.batch, flops=c.flops * self.batch,
            connections=c.connections, activations=m.activations * self.batch,
            receptive_field=[f.size for f in rf] if rf else None,
            effective_stride=[_num(f.stride) for f in rf] if rf else None,
            receptive_offset=[_num(f.start) for f in rf] if rf else None,
            fused=n.fused, frozen=n.frozen, line=n.span.line if n.span else None)

    def _totals(self) -> Totals:
        """Sums over the nodes (the rows' sums, without making the rows), the depth and the widest field.

        The sums are taken over the distinct cost records, each times the nodes that share it: the cost
        pass gives every node of the same kind, arguments and shapes the same record (ResNet-152's 563
        nodes share about 50), so the loop over the nodes only follows what varies node by node, the
        depth and the widest receptive field."""
        t = Totals()
        batch, convention = self.batch, self.convention
        counted = _COUNTED
        groups: dict[int, list[Any]] = {}  # → [a node, how many, its depth step]
        depth: dict[str, int] = {}
        deepest = 0
        widest: Any = None
        widest_size = -1
        last_rf: Any = None
        for n in self.ir:
            m = n.meta
            # the cost pass gives each of its records (a kind, arguments, shapes and freezing) a `peer_macs`
            # mapping of its own, shared by the nodes of that record: its identity is the record's
            key = id(m.peer_macs)
            group = groups.get(key)
            if group is None:
                c = m.cost
                assert c is not None and m.peer_macs is not None, "run the passes first (archspec.pipeline)"
                here = 1 if n.op != "output" and (c.params or c.fixed) and counted[n.kind] else 0
                group = groups[key] = [n, 1, here]
            else:
                group[1] += 1
            ins = n.inputs
            d = group[2] + (depth[ins[0]] if len(ins) == 1 else max([depth[i] for i in ins], default=0))
            depth[n.id] = d
            if d > deepest:
                deepest = d
            rf = m.rf
            if rf is not last_rf:  # the nodes after a pooling-free layer (a norm, an activation) share its field
                last_rf = rf
                if rf and rf != GLOBAL:
                    size = max(rf)[0]  # the largest size: fields compare by their size first
                    if size > widest_size:
                        widest, widest_size = rf, size
        params = trainable = fixed = buffers = macs = flops = connections = activations = layers = 0
        by_kind: dict[str, int] = {}
        by_conv = dict.fromkeys(CONVENTIONS, 0)
        for n, k, here in groups.values():  # in the order of their first nodes: `flops_by_kind` keeps its order
            m = n.meta
            c, peers = m.cost, m.peer_macs
            for conv, v in peers.items():
                by_conv[conv] += v * k
            if n.op == "output":
                continue
            params += (c.params + c.fixed) * k
            trainable += c.params * k
            fixed += c.fixed * k
            buffers += c.buffers * k
            macs += peers[convention] * k
            flops += c.flops * k
            connections += c.connections * k
            activations += m.activations * k
            if c.flops:
                by_kind[n.kind] = by_kind.get(n.kind, 0) + c.flops * k
            layers += here * k
        t.params, t.trainable_params, t.non_trainable_params, t.buffers = params, trainable, fixed, buffers
        t.macs, t.flops = macs * batch, flops * batch
        t.connections, t.activations = connections, activations * batch
        t.flops_by_kind = {k: v * batch for k, v in by_kind.items()}
        t.activation_bytes = t.activations * BYTES_PER_ELEMENT
        t.param_bytes = (t.params + t.buffers) * BYTES_PER_ELEMENT
        t.macs_by_convention = {conv: v * batch for conv, v in by_conv.items()}
        if convention == "torchinfo":
            t.torchinfo_memory = costs.torchinfo_memory(self.ir, batch)
        t.layers = layers
        t.depth = deepest
        if widest:
            t.receptive_field = [f.size for f in widest]
            t.effective_stride = [_num(f.stride) for f in widest]
            t.receptive_offset = [_num(f.start) for f in widest]
        return t

    # -- views -----------------------------------------------------------------------------
    @property
    def title(self) -> str:
        """The network's name and its parameters: `resnet  (depth=50, variant="paper", ...)`."""
        from archspec.lang.expr import show

        ps = self.ir.params
        return self.name + ("  (" + ", ".join(f"{k}={show(v)}" for k, v in ps.items()) + ")" if ps else "")

    @property
    def inputs(self) -> dict[str, Shape]:
        return {n: self.ir[n].meta.shape for n in self.ir.inputs}

    @property
    def outputs(self) -> dict[str, Shape]:
        return {o.name: self.ir[o.node].meta.shape for o in self.ir.outputs}

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.ir.warnings)

    @property
    def output_infos(self) -> list[Output]:
        return list(self.ir.outputs)

    @property
    def scopes(self) -> dict[str, Scope]:
        return dict(self.ir.scopes)

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
        nodes = self.ir.nodes
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
                for i in nodes[r.name].inputs:  # the tensors the block reads from outside it
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
            "source": self.ir.source,
            "params": dict(self.ir.params),
            "convention": self.convention, "batch": self.batch,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "outputs": {k: list(v) for k, v in self.outputs.items()},
            "totals": asdict(t),
            "layers": [r.to_dict() for r in self.rows],
            "blocks": [{"name": s.id, "kind": s.kind, "label": s.label} for s in self.scopes.values()],
        }
        if self.training is not None:
            d["training_memory"] = self.training.to_dict()
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
            ("Inputs", ", ".join(f"{k} {fmt_shape(v)}" + (" token ids" if self.ir[k].meta.dtype == "int64" else "")
                                 for k, v in self.inputs.items())),
            ("Outputs", ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.outputs.items())),
            ("Depth", f"{t.depth} weight layers on the longest path"),
        ]
        if t.torchinfo_memory is not None:  # as torchinfo prints them: decimal MB (docs/conventions.md)
            m = t.torchinfo_memory
            at = next((i + 1 for i, (k, _) in enumerate(lines) if k == "Parameter memory"), len(lines))
            lines[at:at] = [(label, f"{m[key] / 1e6:0.2f}  (torchinfo)") for label, key in (
                ("Input size (MB)", "input_bytes"), ("Forward/backward pass size (MB)", "forward_backward_bytes"),
                ("Params size (MB)", "params_bytes"), ("Estimated Total Size (MB)", "total_bytes"))]
        if self.training is not None:
            lines += self.training.lines()
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


# -- the library's entry point ------------------------------------------------------------------

def shared_note(n: Node, args: str) -> str:
    """A layer's arguments with the weights it shares: `32 (reuses fc)`, `50257 no bias (weight tied to wte)`."""
    note = f"reuses {n.shares}" if n.shares else ", ".join(f"{p} tied to {o}" for p, o in n.ties)
    return f"{args} ({note})".strip()


def analyze(spec: str | Path | Spec | Graph, *, input: Any = None, batch: int = 1, convention: str = "archspec",
            params: dict[str, Any] | None = None, partial: bool = False, freeze: list[str] | tuple[str, ...] = (),
            **kw: Any) -> Analysis:
    """Analyse a spec without running it. Network parameters can be given as keywords
    (`analyze("resnet", depth=50)`) or as `params={...}`; `input` overrides the input shape
    (`"3x299x299"`, `(3, 299, 299)` or `{"name": shape}` for several inputs).

    With `partial=True`, a shape error returns the analysis of what was built before it (with
    `.error` set) instead of raising. `freeze` names layers or blocks (`stage1`, `stage2.conv1`) whose
    parameters count as non-trainable, as in a `frozen:` block."""
    _check_batch(batch)
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    with no_gc():  # one stretch without the collector, not one per stage: each end of one runs a collection
        g, error = analyzed(spec, params={**(params or {}), **kw}, input=input, freeze=freeze, partial=partial)
        return Analysis(g, batch=batch, convention=convention, error=error)  # over every object made since
