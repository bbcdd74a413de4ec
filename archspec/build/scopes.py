"""The graph IR: a networkx DiGraph, one node per layer instance.

Node ids are dotted paths in the block hierarchy (`stage3.bottleneck2.conv1`); edges run from a
tensor's producer to its readers. Node attributes:

    kind     canonical layer-kind name (a key of `archspec.kinds.KINDS`)
    role     "input" | "layer" | "merge" | "output"
    args     the kind's validated pydantic arguments
    inputs   ordered list of input node ids (the order matters for concat)
    scope    the id of the enclosing scope ("" at the top): a block instance or a branch
    span     the statement's source span
    frozen   parameters are not trained
    fused    an activation written as a shorthand (`conv 64 3x3 relu`): shown on its producer's row
    meta     filled by passes: shape (builder), cost, receptive field, ...

Graph attributes: name, params (resolved network parameters), inputs, outputs (list of `OutputInfo`),
scopes (id → `ScopeInfo`), source (file name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from archspec.diagnostics import Span

ROLES = ("input", "layer", "merge", "output")


@dataclass(slots=True)
class ScopeInfo:
    """A block instance (`stage1` = stage(64, 2)) or a branch of a merge."""

    id: str
    kind: str  # "block" | "branch"
    name: str  # block name, or branch name
    args: dict[str, Any] = field(default_factory=dict)
    span: Span | None = None

    @property
    def label(self) -> str:
        if self.kind == "branch":
            return self.name
        from archspec.lang.expr import show

        return f"{self.name}(" + ", ".join(show(v) for v in self.args.values()) + ")"


@dataclass(slots=True)
class OutputInfo:
    name: str
    node: str  # the id of the output node
    source: str  # the id of the node whose tensor it returns
    weight: float | None = None  # loss weight (auxiliary heads)


def scope_chain(scope: str) -> list[str]:
    """'a.b.c' → ['a', 'a.b', 'a.b.c']."""
    if not scope:
        return []
    parts = scope.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def parent_scope(node_id: str) -> str:
    return node_id.rpartition(".")[0]


def layer_nodes(g: nx.DiGraph) -> list[str]:
    """Node ids in topological (build) order; the builder adds them in that order."""
    return list(g.nodes)


def verify(g: nx.DiGraph) -> None:
    """Check the IR's invariants (a debugging aid between passes, like torch.fx's `Graph.lint`)."""
    from archspec.kinds import KINDS

    seen: set[str] = set()
    for n, d in g.nodes(data=True):
        assert d["kind"] in KINDS, f"{n}: unknown kind {d['kind']}"
        assert d["role"] in ROLES, f"{n}: unknown role {d['role']}"
        assert all(i in seen for i in d["inputs"]), f"{n}: reads a node that comes after it"
        assert list(g.predecessors(n)) == list(dict.fromkeys(d["inputs"])), f"{n}: edges differ from inputs"
        assert "shape" in d["meta"], f"{n}: no shape"
        seen.add(n)
    assert nx.is_directed_acyclic_graph(g)
