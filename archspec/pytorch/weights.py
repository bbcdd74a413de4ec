"""Weight porting: load a hand-written model's weights into a compiled spec by position.

A compiled module registers its parameters in the spec's layer order, so a hand-written equivalent's
`state_dict` lines up entry by entry even though the names differ (`features.0.weight` and
`stage1.conv1.weight`). Every shape is checked before anything is copied; the first mismatch is reported
with both names. `num_batches_tracked` counters are left out on both sides (some sources have none).

    archspec.port_weights(model, torchvision.models.vgg16(weights=...))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class WeightMismatchError(ValueError):
    """The source's weights do not line up with the model's: a shape or a count differs."""


def _entries(sd: Mapping[str, Any]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in sd.items()
            if isinstance(v, torch.Tensor) and not k.endswith("num_batches_tracked")]


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) if t.dim() else "a scalar"


def port_weights(model: nn.Module, source: nn.Module | Mapping[str, Any]) -> dict[str, str]:
    """Copy `source`'s parameters and buffers (a module or a state dict) into `model` by position.

    Returns {model's name: source's name} for every entry copied. Raises `WeightMismatchError`, before
    copying anything, at the first entry whose shape differs or when the counts differ."""
    target = _entries(model.state_dict(keep_vars=True))
    src = _entries(source.state_dict() if isinstance(source, nn.Module) else source)
    for i, ((tn, t), (sn, s)) in enumerate(zip(target, src)):
        if t.shape != s.shape:
            raise WeightMismatchError(
                f"entry {i}: the model's `{tn}` is {_shape(t)} but the source's `{sn}` is {_shape(s)}"
                + _context(target, src, i))
    if len(target) != len(src):
        i = min(len(target), len(src))
        extra = (f"the model's `{target[i][0]}` ({_shape(target[i][1])}) has no counterpart in the source"
                 if len(target) > len(src) else
                 f"the source's `{src[i][0]}` ({_shape(src[i][1])}) has no counterpart in the model")
        raise WeightMismatchError(f"the model has {len(target)} weight tensors and the source {len(src)}: {extra}"
                                  + _context(target, src, i))
    with torch.no_grad():
        for (_, t), (_, s) in zip(target, src):
            t.copy_(s)
    return {tn: sn for (tn, _), (sn, _) in zip(target, src)}


def _context(target: list[tuple[str, torch.Tensor]], src: list[tuple[str, torch.Tensor]], i: int) -> str:
    if i == 0:
        return ""
    return f" (the entries before it match; the last was `{target[i - 1][0]}` ← `{src[i - 1][0]}`)"
