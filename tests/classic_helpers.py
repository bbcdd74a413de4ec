"""Cross-checks of an analysis against PyTorch: compile the network, count parameters and buffers, run a
forward pass, and count MACs with FlopCounterMode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec


def compiled(a: archspec.Analysis) -> nn.Module:
    """The analysis's network compiled by `archspec.compile`; every output in a list, in evaluation mode too."""
    model = archspec.compile(a.ir)
    return _AllOutputs(model) if len(a.outputs) > 1 else model


class _AllOutputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        self.model.train()
        return list(self.model(x))


def layer_module(a: archspec.Analysis) -> nn.Module:
    """The module of the network's one layer (the whole network when the layer is an expression in
    `forward`, such as `padchannels`)."""
    from archspec.pytorch.module import build

    model, plan = build(a.ir)
    node = next(n.id for n in a.ir if n.op == "layer")
    return model.get_submodule(plan.paths[node]) if node in plan.paths else model


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
