"""The standalone Python file of a spec, written without PyTorch: `archspec compile SPEC -o FILE` works
on an install without torch (the file needs it; writing it does not). `module.generate_code` is this
text, checked by building the module on the meta device when torch is there.

With `weights`, the file also gets a `load()` that reads the named weights file beside it (a plain state
dict, `torch.load(..., weights_only=True)`), as `archspec export` and `compile --init` write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import Graph
from archspec.lang.expr import show
from archspec.pipeline import analyzed
from archspec.pytorch.codegen import CodegenError, Plan, comment, make_plan, source


class CompileError(SpecError):
    """A spec that analyses but cannot become a PyTorch module (a layer kind without a PyTorch form)."""


def spec_graph(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None,
               freeze: Sequence[str] = (), **kw: Any) -> Graph:
    """The analysed IR of a spec (a path, a shipped spec's name, a `Spec`, spec text, an `Analysis`, or an
    IR `Graph` or its networkx form), with network parameters as keywords and `freeze` applied."""
    if hasattr(spec, "ir") and isinstance(spec.ir, Graph):  # an Analysis
        spec = spec.ir
    elif hasattr(spec, "graph") and isinstance(getattr(spec, "graph", None), dict) and "ir" in spec.graph:
        spec = spec.graph["ir"]  # `Analysis.graph`, the networkx view of the IR
    if isinstance(spec, Graph) and (input is not None or params or kw):
        raise TypeError("a built graph takes no `input` or network parameters")
    g, _ = analyzed(spec, params={**(params or {}), **kw}, input=input, freeze=freeze)
    return g


def plan_of(g: Graph, class_name: str | None = None) -> Plan:
    """The code plan of an analysed graph; a kind without a PyTorch form is a CompileError (E200)."""
    try:
        return make_plan(g, class_name)
    except CodegenError as e:
        raise compile_error(g, e) from None


def compile_error(g: Graph, e: CodegenError) -> CompileError:
    node = g[e.node] if e.node is not None and e.node in g else None
    return CompileError(Diagnostic("E200", str(e), node.span if node else None,
                                   hint="`archspec analyze` works for it; the compiler needs the kind's "
                                        "`pytorch` rule (archspec/kinds/)"))


def file_text(g: Graph, plan: Plan, weights: str | None = None, note: Sequence[str] = ()) -> str:
    """The Python file of a graph's plan; with `weights` (a file name), a `load()` reading it from beside
    the file, and a `__main__` that runs the loaded model."""
    header = _header(g, plan, weights, note)
    shapes = [g[n].meta.shape for _, n in plan.inputs]
    ids = [token_bound(g, n) if g[n].meta.dtype == "int64" else 0 for _, n in plan.inputs]
    if weights is None:
        return source(plan, header, shapes, ids)
    text = source(plan, header, None).rstrip("\n") + "\n"
    example = ", ".join(f"torch.randint(0, {k}, {(1, *s)})" if k else f"torch.randn({', '.join(map(str, (1, *s)))})"
                        for s, k in zip(shapes, ids))
    root = plan.root_class
    text += "\n".join([
        "", "",
        f"WEIGHTS = {weights!r}  # the trained weights, a state dict beside this file", "", "",
        f"def load(path: Optional[str] = None, map_location: str = \"cpu\") -> {root}:",
        f'    """{root} with the weights of WEIGHTS beside this file (or of `path`), in evaluation mode."""',
        "    import os", "",
        "    file = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS)",
        f"    model = {root}()",
        "    model.load_state_dict(torch.load(file, map_location=map_location, weights_only=True))",
        "    return model.eval()", "", "",
        'if __name__ == "__main__":',
        "    model = load()",
        "    with torch.no_grad():",
        f"        y = model({example})",
        f'    print("{root}:", sum(p.numel() for p in model.parameters()), "parameters, output", tuple(y.shape))',
        ""])
    if "from typing import" not in text:
        text = text.replace("\nimport torch\n", "\nfrom typing import Optional\n\nimport torch\n", 1)
    elif "Optional" not in text.split("from typing import", 1)[1].split("\n", 1)[0]:
        head, rest = text.split("from typing import ", 1)
        names, tail = rest.split("\n", 1)
        text = head + "from typing import " + ", ".join(sorted({*names.split(", "), "Optional"})) + "\n" + tail
    return text


def generate_source(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None,
                    freeze: Sequence[str] = (), class_name: str | None = None, **kw: Any) -> str:
    """The standalone Python file of a compiled spec, written without importing torch."""
    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    return file_text(g, plan_of(g, class_name))


def _header(g: Graph, plan: Plan, weights: str | None = None, note: Sequence[str] = ()) -> list[str]:
    from archspec.version import __version__

    name = comment(g.name)
    src = comment(Path(str(g.source or "")).name)
    params = ", ".join(f"{comment(k)}={comment(show(v))}" for k, v in g.params.items())
    ins = ", ".join("x".join(map(str, g[n].meta.shape)) for _, n in plan.inputs)
    outs = ", ".join(f"{f} " + "x".join(map(str, g[s].meta.shape)) for f, s, _ in plan.outputs)
    total = sum(c.params + c.fixed for n in plan.paths for c in [g[n].meta.cost] if c is not None)
    load = (f"`load()` returns it with the weights of {comment(weights)} (beside this file)." if weights else
            "Load weights with `model.load_state_dict(...)`.")
    return [f"{name}" + (f"({params})" if params else "") + f", generated by archspec {__version__} from {src}.",
            "",
            f"Input {ins} (channels first, without the batch); output {outs}; {total:,} parameters.",
            f"This file needs only PyTorch. {load}", *[comment(n) for n in note]]


def token_bound(g: Graph, node: str) -> int:
    """How many distinct ids an input of token ids takes: its `vocab=`, else the smallest vocabulary of
    the embeddings in the network (ids beyond it would fail the lookup), else 2."""
    vocab = getattr(g[node].args, "vocab", None)
    if vocab is not None:
        return int(vocab)
    sizes = [n.args.vocab for n in g.nodes.values() if n.kind == "embedding"]
    return min(sizes) if sizes else 2
