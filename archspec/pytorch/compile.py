"""The module of a network: its generated source (codegen.py), run.

The source is executed under a file-like name registered with `linecache`, as torch.fx's GraphModule is,
so that tracebacks and TorchScript see the generated lines; the classes pickle by their source, so
`torch.save(model)` and `copy.deepcopy` work.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import linecache
from typing import Any

import torch
from torch import nn

from archspec.ir import Graph
from archspec.pytorch.codegen import Plan, make_plan, source

_counter = itertools.count()
_NAMESPACES: dict[str, dict[str, Any]] = {}  # generated source → the namespace it was executed in


def instantiate(g: Graph, *, device: str | torch.device | None = None,
                class_name: str | None = None) -> tuple[nn.Module, Plan]:
    """The module of a graph, and the plan its source was written from."""
    plan = make_plan(g, class_name)
    ns = _namespace(source(plan), plan.root_class)
    ctx = torch.device(device) if device is not None else contextlib.nullcontext()
    with ctx:
        model = ns[plan.root_class]()
    return model, plan


def _namespace(src: str, name: str) -> dict[str, Any]:
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
