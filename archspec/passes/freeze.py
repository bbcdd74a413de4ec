"""Pass: mark layers frozen by name (`--freeze stage1`, `archspec.compile(..., freeze=["stage1"])`).

A name is a layer's id (`stage2.conv1`) or a scope prefix (`stage2`, every layer inside it). This is the
same mark as the language's `frozen:` blocks (node attribute `frozen`): the analysis counts those
parameters as non-trainable, the compiler gives them `requires_grad=False`.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean


def run(g: nx.DiGraph, names: Sequence[str]) -> None:
    if isinstance(names, str):
        names = [names]
    layers = [n for n, d in g.nodes(data=True) if d["role"] in ("layer", "merge")]
    for name in names:
        prefix = name.rstrip(".") + "."
        hits = [n for n in layers if n == name or n.startswith(prefix)]
        if not hits:
            known = set(layers) | set(g.graph.get("scopes", {}))
            raise SpecError(Diagnostic(
                "E205", f"--freeze {name}: the network has no layer or block named `{name}`",
                expected="a layer (`stage2.conv1`) or a block instance (`stage2`), as `archspec analyze` lists them",
                hint=did_you_mean(name, known)))
        for n in hits:
            g.nodes[n]["frozen"] = True
