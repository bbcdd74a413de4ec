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

from archspec.ir import Graph
from archspec.pytorch.codegen import CodegenError, Plan
from archspec.pytorch.compile import instantiate
from archspec.pytorch.source import CompileError as CompileError
from archspec.pytorch.source import compile_error, file_text, token_bound
from archspec.pytorch.source import spec_graph as spec_graph


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
    SPEC -o FILE` writes (`source.generate_source`, which needs no torch), checked by building the
    module on the meta device."""
    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    _, plan = build(g, device="meta", class_name=class_name)
    return file_text(g, plan)


def export_onnx(spec: Any, path: str | Path, *, input: Any = None, params: dict[str, Any] | None = None,
                freeze: Sequence[str] = (), **kw: Any) -> None:
    """Export the compiled spec (evaluation mode: the main output) to an ONNX file, with freshly
    initialised weights (the architecture); a trained run's weights go out with `archspec export RUN
    --format onnx` (`archspec.pytorch.export.export`). Needs the `onnx` package; uses PyTorch's TorchScript-based exporter."""
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
        raise compile_error(g, e) from None


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
