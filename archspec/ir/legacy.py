"""TEMPORARY: the networkx graph of the old builder as the typed IR (removed when the builder makes the IR)."""

from __future__ import annotations

from typing import Any

from archspec.ir.graph import Graph, Meta, Node, Output, Scope


def from_nx(g: Any) -> Graph:
    out = Graph(g.graph.get("name", "network"), g.graph.get("source"), g.graph.get("params", {}))
    for sid, s in g.graph.get("scopes", {}).items():
        parent = out.scopes.get(sid.rpartition(".")[0]) if "." in sid else None
        out.scopes[sid] = Scope(sid, s.kind, s.name, parent, dict(s.args), s.span)
    for n, d in g.nodes(data=True):
        m = d["meta"]
        scope = out.scopes.get(d["scope"]) if d["scope"] else None
        name = n.partition(":")[2] if d["role"] == "output" else n.rpartition(".")[2]
        out.add(Node(n, d["role"], d["kind"], d["args"], tuple(d["inputs"]), name, scope, d["span"], d["frozen"],
                     d["fused"], Meta(m["shape"], m.get("cost"), m.get("activations", 0), m.get("peer_macs"))))
    out.outputs = [Output(o.name, o.node, o.source, o.weight) for o in g.graph.get("outputs", [])]
    return out
