"""Pass: mark layers frozen by name (`--freeze stage1`, `archspec.compile(..., freeze=["stage1"])`).

A name is a layer's id (`stage2.conv1`) or a scope prefix (`stage2`, every layer inside it). This is the
same mark as the language's `frozen:` blocks (`Node.frozen`): the analysis counts those
parameters as non-trainable, the compiler gives them `requires_grad=False`.
"""

from __future__ import annotations

from collections.abc import Sequence

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean
from archspec.ir import Graph


def run(g: Graph, names: Sequence[str]) -> None:
    if isinstance(names, str):
        names = [names]
    layers = [n.id for n in g if n.op in ("layer", "merge")]
    for name in names:
        prefix = name.rstrip(".") + "."
        hits = [n for n in layers if n == name or n.startswith(prefix)]
        if not hits:
            known = set(layers) | set(g.scopes)
            raise SpecError(Diagnostic(
                "E205", f"--freeze {name}: the network has no layer or block named `{name}`",
                expected="a layer (`stage2.conv1`) or a block instance (`stage2`), as `archspec analyze` lists them",
                hint=did_you_mean(name, known)))
        for n in hits:
            if not g[n].frozen:
                g.replace(n, frozen=True)
