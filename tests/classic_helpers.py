"""Cross-checks of an analysis against PyTorch: compile a graph node by node with each kind's `build`,
count parameters and buffers, run a forward pass, and count MACs with FlopCounterMode."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.layers import KINDS


class GraphModule(nn.Module):
    """The analysis's graph run in build order; each layer node's module comes from its kind's `build`.

    `archspec.compile` is the product's compiler; this small interpreter checks the builders on their own."""

    def __init__(self, a: archspec.Analysis) -> None:
        super().__init__()
        g = a.graph
        self.steps: list[tuple[str, str, list[str], bool]] = []
        self.mods = nn.ModuleDict()
        self.outputs = [o.source for o in g.graph["outputs"]]
        for n, d in g.nodes(data=True):
            if d["role"] == "output":
                continue
            ins = [g.nodes[i]["meta"]["shape"] for i in d["inputs"]]
            m = KINDS[d["kind"]].build(d["args"], ins, d["meta"]["shape"])
            if d["frozen"]:
                m.requires_grad_(False)
            key = n.replace(".", "__")
            self.mods[key] = m
            self.steps.append((n, key, d["inputs"], d["role"] == "merge" and _takes_list(m)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values: dict[str, torch.Tensor] = {}
        for n, key, inputs, as_list in self.steps:
            m = self.mods[key]
            if not inputs:
                values[n] = m(x)
            elif as_list:
                values[n] = m([values[i] for i in inputs])
            else:
                values[n] = m(*[values[i] for i in inputs])
        return [values[o] for o in self.outputs]


def _takes_list(m: nn.Module) -> bool:
    params = list(inspect.signature(m.forward).parameters.values())
    return not any(p.kind is p.VAR_POSITIONAL for p in params)


@dataclass
class Measured:
    params: int
    trainable: int
    buffers: int
    macs: int
    shapes: list[tuple[int, ...]]
    module: Any


def measure(module: nn.Module, in_shape: tuple[int, ...], batch: int = 2) -> Measured:
    """numel of parameters (all, trainable) and buffers (without `num_batches_tracked`), MACs per sample
    (FlopCounterMode's total / 2 / batch, in eval mode) and the output shapes without the batch."""
    module.eval()
    x = torch.randn(batch, *in_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = module(x)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return Measured(
        params=sum(p.numel() for p in module.parameters()),
        trainable=sum(p.numel() for p in module.parameters() if p.requires_grad),
        buffers=sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked")),
        macs=fc.get_total_flops() // 2 // batch,
        shapes=[tuple(o.shape[1:]) for o in outs],
        module=module)
