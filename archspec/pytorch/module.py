"""`archspec.compile`: a spec as a `torch.nn.Module` whose parameters, shapes and MACs are the analysis's.

The network is written as Python source from each layer's PyTorch form (archspec/pytorch/codegen.py) and
that source is run: the module in memory is the file `archspec compile -o` writes. Parameters are
registered in the spec's layer order; nothing interprets the graph at run time, and the module works with
`torch.compile`, `torch.jit.script`, `torch.export`, `channels_last`, autocast and `.to(device)`.

    model = archspec.compile("resnet", depth=50)
    model = archspec.compile("vgg16", input="3x32x32", freeze=["stage1", "stage2"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import Graph
from archspec.lang.expr import show
from archspec.pipeline import analyzed
from archspec.pytorch.codegen import CodegenError, Plan, comment, source
from archspec.pytorch.compile import instantiate


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


def compile(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None, freeze: Sequence[str] = (),
            device: str | torch.device | None = None, class_name: str | None = None, **kw: Any) -> nn.Module:
    """Compile a spec to a `torch.nn.Module`.

    `spec`: a path, a shipped spec's name (`"vgg16"`), a loaded `archspec.Spec` or a built graph.
    Network parameters are keywords (`depth=50`) or `params={...}`; `input` overrides the input shape
    (`"3x32x32"`); `freeze` names layers or blocks (node ids or scope prefixes such as `stage1`) whose
    parameters get `requires_grad=False`, on top of the spec's `frozen:` blocks; `device="meta"` builds
    without allocating weights. With several outputs, the module returns a named tuple of all of them in
    training mode and the first (main) output in evaluation mode; `model.loss_weights` maps each output
    to its loss weight."""
    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    return build(g, device=device, class_name=class_name)[0]


def generate_code(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None,
                  freeze: Sequence[str] = (), class_name: str | None = None, **kw: Any) -> str:
    """The standalone Python file of a compiled spec (it imports only torch): the text `archspec compile
    SPEC -o FILE` writes."""
    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    _, plan = build(g, device="meta", class_name=class_name)
    return source(plan, _header(g, plan), [g[n].meta.shape for _, n in plan.inputs],
                  [token_bound(g, n) if g[n].meta.dtype == "int64" else 0 for _, n in plan.inputs])


def export_onnx(spec: Any, path: str | Path, *, input: Any = None, params: dict[str, Any] | None = None,
                freeze: Sequence[str] = (), **kw: Any) -> None:
    """Export the compiled spec (evaluation mode: the main output) to an ONNX file; needs the `onnx`
    package. Uses PyTorch's TorchScript-based exporter, which needs nothing else."""
    import tempfile
    import warnings

    from archspec.files import write_atomic

    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    model, plan = build(g)
    model.eval()
    args = tuple(sample_input(g, n, 1, zeros=True) for _, n in plan.inputs)
    with tempfile.TemporaryDirectory() as folder:  # not beside `path`: it may be /dev/null or a link
        tmp = Path(folder) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notice and constant-folding remarks
            torch.onnx.export(model, args, str(tmp), dynamo=False, input_names=[p for p, _ in plan.inputs],
                              output_names=[plan.outputs[0][0]])
        write_atomic(path, tmp.read_bytes())


def build(g: Graph, *, device: str | torch.device | None = None,
          class_name: str | None = None) -> tuple[nn.Module, Plan]:
    """The module of an analysed graph, and the plan its source was written from (paths of nodes, classes)."""
    try:
        return instantiate(g, device=device, class_name=class_name)
    except CodegenError as e:
        node = g[e.node] if e.node is not None and e.node in g else None
        raise CompileError(Diagnostic("E200", str(e), node.span if node else None,
                                      hint="`archspec analyze` works for it; the compiler needs the kind's "
                                           "`pytorch` rule (archspec/kinds/)")) from None


def token_bound(g: Graph, node: str) -> int:
    """How many distinct ids an input of token ids takes: its `vocab=`, else the smallest vocabulary of
    the embeddings in the network (ids beyond it would fail the lookup), else 2."""
    vocab = getattr(g[node].args, "vocab", None)
    if vocab is not None:
        return int(vocab)
    sizes = [n.args.vocab for n in g.nodes.values() if n.kind == "embedding"]
    return min(sizes) if sizes else 2


def sample_input(g: Graph, node: str, batch: int, *, device: str | torch.device | None = None,
                 zeros: bool = False) -> torch.Tensor:
    """A batch for one input node: random values (normal), or random token ids (int64) for `input ... tokens`;
    zeros with `zeros=True`."""
    shape = (batch, *g[node].meta.shape)
    if g[node].meta.dtype == "int64":
        if zeros or device == "meta":
            return torch.zeros(shape, dtype=torch.int64, device=device)
        return torch.randint(0, token_bound(g, node), shape, device=device)
    if device == "meta":
        return torch.empty(shape, device=device)
    return torch.zeros(shape, device=device) if zeros else torch.randn(shape, device=device)


def module_for(model: nn.Module, plan: Plan, node: str) -> nn.Module:
    """The module of a layer node."""
    return model.get_submodule(plan.paths[node])


def _header(g: Graph, plan: Plan) -> list[str]:
    from archspec.version import __version__

    name = comment(g.name)
    source = comment(Path(str(g.source or "")).name)
    params = ", ".join(f"{comment(k)}={comment(show(v))}" for k, v in g.params.items())
    ins = ", ".join("x".join(map(str, g[n].meta.shape)) for _, n in plan.inputs)
    outs = ", ".join(f"{f} " + "x".join(map(str, g[s].meta.shape)) for f, s, _ in plan.outputs)
    total = sum(c.params + c.fixed for n in plan.paths for c in [g[n].meta.cost] if c is not None)
    return [f"{name}" + (f"({params})" if params else "") + f", generated by archspec {__version__} from {source}.",
            "",
            f"Input {ins} (channels first, without the batch); output {outs}; {total:,} parameters.",
            "This file needs only PyTorch. Load weights with `model.load_state_dict(...)`."]
