"""What a traced model is while it is imported: its nodes as archspec layers (shared by importer.py, layers.py,
blocks.py and onnx_import.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import fx, nn

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import Shape


@dataclass
class Layer:
    """One statement of the imported spec: a layer kind and its arguments, or a merge, on fx nodes."""

    kind: str
    args: dict[str, Any]
    inputs: list[fx.Node]
    node: fx.Node
    name: str  # the module's own name (its last path component) or "" for a function
    scope: tuple[str, ...]  # the module instances it is inside, outermost first (keys of nn_module_stack)
    weights: str | None = None  # the module path whose parameters and buffers this layer owns
    within: tuple[fx.Node, ...] = ()  # nodes folded into this one (nn.MultiheadAttention's call, its [0] the layer)
    reuses: fx.Node | None = None  # a module called again: the node of its first call (`reuse NAME`)
    tie: fx.Node | None = None  # its weight is another module's (`tie=NAME`): that module's node


@dataclass
class Traced:
    model: nn.Module
    gm: fx.GraphModule
    input: Shape
    layers: list[Layer]
    outputs: list[fx.Node]
    classes: dict[str, str] = field(default_factory=dict)  # scope key → module class name
    unsupported: SpecError | None = None
    title: str = ""  # what the header names: the model's class, or the ONNX file
    weights: dict[str, list[Any]] = field(default_factory=dict)  # ONNX: a layer's weights, by its `weights` key
    vocab: int | None = None  # token ids 0 … vocab − 1 as the input (the model starts with an nn.Embedding)


class Unsupported(Exception):
    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


def import_error(message: str, hint: str | None = None, code: str = "E801") -> SpecError:
    return SpecError(Diagnostic(code, message, hint=hint))


def shape_of(n: Any) -> Shape | None:
    """The shape of a node's tensor without the batch (None when it is not a tensor)."""
    meta = getattr(n, "meta", None)  # a torch.fx node, or an ONNX tensor standing in for one
    tm = meta.get("tensor_meta") if isinstance(meta, dict) else None
    if tm is None or not hasattr(tm, "shape"):
        return None
    return tuple(int(s) for s in tm.shape[1:])


__all__ = ["Layer", "Traced", "Unsupported", "import_error", "shape_of"]
