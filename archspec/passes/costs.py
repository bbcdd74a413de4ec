"""Pass: parameters, buffers, MACs, FLOPs, connections and memory of every node (`meta["cost"]`).

Each kind's `cost` rule gives the figures (conventions in `archspec.layers.base`); this pass applies
freezing (a frozen layer's parameters count as non-trainable) and the per-peer MAC counts.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from archspec.layers import KINDS
from archspec.layers.base import CONVENTIONS, Cost, prod


def run(g: nx.DiGraph, conventions: tuple[str, ...] = CONVENTIONS) -> None:
    cache: dict[tuple[Any, ...], tuple[Cost, int, dict[str, int]]] = {}
    for _, d in g.nodes(data=True):
        meta: dict[str, Any] = d["meta"]
        ins = [g.nodes[i]["meta"]["shape"] for i in d["inputs"]]
        key = (d["kind"], id(d["args"]), d["frozen"], meta["shape"], *ins)
        hit = cache.get(key)
        if hit is None:
            kind = KINDS[d["kind"]]
            out = meta["shape"]
            c: Cost = kind.cost(d["args"], ins, out)
            if d["frozen"]:
                c = Cost(params=0, fixed=c.params + c.fixed, buffers=c.buffers, macs=c.macs, flops=c.flops,
                         connections=c.connections)
            hit = cache[key] = (c, 0 if kind.view else prod(out),
                                {conv: kind.peer_macs(conv, d["args"], ins, out, c) for conv in conventions})
        meta["cost"], meta["activations"], meta["peer_macs"] = hit
