"""`archspec.compile`: a spec as a `torch.nn.Module` whose parameters, shapes and MACs are the analysis's.

Each layer node becomes the module its kind's `build` returns, at the node's path in the block
hierarchy (`stage3.bottleneck2.conv1`), registered in the spec's layer order. The `forward` methods are
generated straight-line Python (`codegen.py`), executed under a file-like name registered with
`linecache`, so tracebacks and TorchScript see the generated lines (as torch.fx's GraphModule does):
nothing interprets the graph at run time, and the module works with `torch.compile`,
`torch.jit.script`, `torch.export`, `channels_last`, autocast and `.to(device)`.

    model = archspec.compile("resnet", depth=50)
    model = archspec.compile("vgg16", input="3x32x32", freeze=["stage1", "stage2"])
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import linecache
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import torch
from torch import nn

from archspec.backends.codegen import CodegenError, Container, Plan, forward_source, make_plan
from archspec.backends.pyfile import file_source
from archspec.diagnostics import Diagnostic, SpecError
from archspec.layers import KINDS

_counter = itertools.count()


class CompileError(SpecError):
    """A spec that analyses but cannot become a PyTorch module (a layer kind without a builder)."""


def spec_graph(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None,
               freeze: Sequence[str] = (), **kw: Any) -> nx.DiGraph:
    """The graph of a spec (a path, a shipped spec's name, a `Spec`, or an already built graph), with
    network parameters as keywords and `freeze` applied."""
    from archspec.analysis import load
    from archspec.passes import freeze as freeze_pass

    if isinstance(spec, nx.DiGraph):
        if input is not None or params or kw:
            raise TypeError("a built graph takes no `input` or network parameters")
        g = spec
    else:
        g = load(spec).graph({**(params or {}), **kw}, input)
    freeze_pass.run(g, freeze)
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
    try:
        return file_source(plan, _header(g, plan), [g.nodes[n]["meta"]["shape"] for _, n in plan.inputs])
    except CodegenError as e:
        raise CompileError(Diagnostic("E200", f"cannot write the network as Python source: {e}",
                                      hint="`archspec.compile` builds it in memory all the same")) from None


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
    args = tuple(torch.zeros(1, *g.nodes[n]["meta"]["shape"]) for _, n in plan.inputs)
    with tempfile.TemporaryDirectory() as folder:  # not beside `path`: it may be /dev/null or a link
        tmp = Path(folder) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notice and constant-folding remarks
            torch.onnx.export(model, args, str(tmp), dynamo=False, input_names=[p for p, _ in plan.inputs],
                              output_names=[plan.outputs[0][0]])
        write_atomic(path, tmp.read_bytes())


def build(g: nx.DiGraph, *, device: str | torch.device | None = None,
          class_name: str | None = None) -> tuple[nn.Module, Plan]:
    """The module of a graph, and the plan it was generated from (paths of nodes, classes, source)."""
    ctx = torch.device(device) if device is not None else contextlib.nullcontext()
    with ctx:
        modules = _build_layers(g)
    plan = make_plan(g, modules, class_name)
    classes = _exec_classes(plan)
    return _instantiate(plan, classes), plan


def _build_layers(g: nx.DiGraph) -> dict[str, nn.Module]:
    modules: dict[str, nn.Module] = {}
    for n, d in g.nodes(data=True):
        if d["role"] not in ("layer", "merge"):
            continue
        kind = KINDS[d["kind"]]
        ins = [g.nodes[i]["meta"]["shape"] for i in d["inputs"]]
        try:
            m = kind.build(d["args"], ins, d["meta"]["shape"])
        except NotImplementedError as e:
            raise CompileError(Diagnostic("E200", f"layer `{n}` cannot be compiled to PyTorch: {e}", d["span"],
                                          hint="`archspec analyze` works for it; the compiler needs the kind's "
                                               "`build` method (archspec/layers/)")) from None
        if d["frozen"]:
            m.requires_grad_(False)
        modules[n] = m
    return modules


def _exec_classes(plan: Plan) -> dict[str, type]:
    ns = _namespace(forward_source(plan), plan.root_class)
    return {cd.name: ns[cd.name] for cd in plan.classes}


_NAMESPACES: dict[str, dict[str, Any]] = {}  # generated source → the namespace it was executed in


def _namespace(src: str, name: str) -> dict[str, Any]:
    """Execute generated classes under a file-like name that linecache knows (tracebacks, TorchScript);
    the classes pickle by their source, so `torch.save(model)` and `copy.deepcopy` work."""
    ns = _NAMESPACES.get(src)
    if ns is None:
        filename = f"<archspec:{name}:{next(_counter)}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(keepends=True), filename)
        ns = {"__name__": f"archspec.generated.{name}"}
        exec(builtins.compile(src, filename, "exec"), ns)
        for obj in list(ns.values()):
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == ns["__name__"]:
                obj._archspec_source = (src, name)  # type: ignore[attr-defined]
                obj.__reduce__ = _reduce  # type: ignore[method-assign,assignment]
        _NAMESPACES[src] = ns
    return ns


def _reduce(self: nn.Module) -> tuple[Any, ...]:
    src, name = type(self)._archspec_source  # type: ignore[attr-defined]
    return _restore, (src, name, type(self).__name__, self.__dict__)


def _restore(src: str, name: str, cls_name: str, state: dict[str, Any]) -> nn.Module:
    cls = _namespace(src, name)[cls_name]
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _instantiate(plan: Plan, classes: dict[str, type]) -> nn.Module:
    def make(c: Container) -> nn.Module:
        m = classes[c.cls]()
        for attr, ch in c.children.items():
            m.add_module(attr, make(ch) if isinstance(ch, Container) else plan.modules[ch])
        return m

    model = make(plan.root)
    model.loss_weights = {f: w for f, _, w in plan.outputs}  # type: ignore[assignment]
    return model


def module_for(model: nn.Module, plan: Plan, node: str) -> nn.Module:
    """The module of a layer node."""
    return model.get_submodule(plan.paths[node])


def _header(g: nx.DiGraph, plan: Plan) -> list[str]:
    from archspec import __version__
    from archspec.backends.codegen import comment
    from archspec.lang.expr import show

    name = comment(g.graph.get("name", "network"))
    source = comment(Path(str(g.graph.get("source") or "")).name)
    params = ", ".join(f"{comment(k)}={comment(show(v))}" for k, v in g.graph.get("params", {}).items())
    ins = ", ".join("x".join(map(str, g.nodes[n]["meta"]["shape"])) for _, n in plan.inputs)
    outs = ", ".join(f"{f} " + "x".join(map(str, g.nodes[s]["meta"]["shape"])) for f, s, _ in plan.outputs)
    total = sum(p.numel() for m in plan.modules.values() for p in m.parameters())
    return [f"{name}" + (f"({params})" if params else "") + f", generated by archspec {__version__} from {source}.",
            "",
            f"Input {ins} (channels first, without the batch); output {outs}; {total:,} parameters.",
            "This file needs only PyTorch. Load weights with `model.load_state_dict(...)`."]
