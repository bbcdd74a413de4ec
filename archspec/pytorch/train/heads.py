"""The network's outputs as loss terms: which loss, on what, with what weight.

Every graph output (`Analysis.output_infos`; the compiled model's `loss_weights`) is a head. Its loss,
with `loss="auto"`:
- a vector of several units (`dense classes softmax`): cross-entropy;
- one unit (`dense 1 sigmoid`): binary cross-entropy;
- a map with a spatial extent (`conv classes 1x1`, a segmenter such as U-Net): cross-entropy per
  position, against per-position labels centre-cropped to the output's size (U-Net's valid convolutions
  give an output smaller than the input);
- a score per token id at every position of an input of token ids (L ids → L×vocab, a language model
  such as gpt2.arch): cross-entropy per position over the last axis, against the next token's id.

A final `softmax` (over channels) or `sigmoid` that only feeds the output is replaced by the identity
in the model being trained, so that the losses see logits (`cross_entropy` and
`binary_cross_entropy_with_logits` are exact where log(softmax) is not); predictions are the same.
Where the activation cannot be removed, the loss takes the log of the probabilities.

Weights: the spec's (`output aux1 weight=0.3`), else 1; `aux_weights` overrides them by output name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean
from archspec.ir import Graph


@dataclass
class Head:
    name: str  # the output's name ("out", "aux1")
    node: str  # the graph node whose tensor it is
    weight: float
    loss: str  # "ce" or "bce"
    shape: tuple[int, ...]  # without the batch
    logits: bool  # False: the tensor holds probabilities (a softmax or sigmoid that stayed)
    last: bool = False  # the classes are on the last axis: a language model's L×vocab scores

    @property
    def units(self) -> int:
        return self.shape[-1] if self.last else self.shape[0]

    def target(self, y: torch.Tensor) -> torch.Tensor:
        """The labels as the output's positions hold them (a segmenter's centre-cropped)."""
        return y if not self.spatial or self.last else crop_target(y, self.shape)

    @property
    def spatial(self) -> bool:
        return len(self.shape) > 1


def prepare(model: nn.Module, plan: Any, g: Graph, loss: str = "auto",
            aux_weights: dict[str, float] | None = None) -> list[Head]:
    """The heads of a compiled model, main output first; final softmax/sigmoid layers that only feed an
    output become `nn.Identity` in `model`."""
    aux_weights = dict(aux_weights or {})
    names = [name for name, _, _ in plan.outputs]
    for name in aux_weights:
        if name not in names:
            raise SpecError(Diagnostic("E202", f"aux_weights names `{name}`, which is not an output of the network",
                                       hint=did_you_mean(name, names) or f"the outputs are {', '.join(names)}"))
    heads = []
    for name, source, weight in plan.outputs:
        d = g[source]
        shape = tuple(d.meta.shape)
        if next_token(g, source):
            heads.append(Head(name, source, float(aux_weights.get(name, weight)), "ce", shape, True, last=True))
            continue
        act = d.kind if d.kind in ("softmax", "sigmoid") else None
        logits = True
        if act is not None:
            logits = _strip(model, plan, g, source)
        kind = loss if loss != "auto" else ("bce" if act == "sigmoid" or shape[0] == 1 else "ce")
        if kind == "ce" and shape[0] == 1:
            raise SpecError(Diagnostic("E202", f"the output `{name}` has one unit: cross-entropy needs several",
                                       hint="--loss bce (or auto) for a one-unit output"))
        heads.append(Head(name, source, float(aux_weights.get(name, weight)), kind, shape, logits))
    return heads


def next_token(g: Graph, node: str) -> bool:
    """Whether an output scores every position of the network's one input of token ids per token id
    (L ids → L×vocab): a language model, trained to predict each next token."""
    if len(g.inputs) != 1 or g[g.inputs[0]].meta.dtype != "int64":
        return False
    ins, out = tuple(g[g.inputs[0]].meta.shape), tuple(g[node].meta.shape)
    return len(out) == len(ins) + 1 and out[:-1] == ins and out[-1] > 1


def _strip(model: nn.Module, plan: Any, g: Graph, node: str) -> bool:
    """Replace the activation module of `node` by the identity if only outputs read it; True if done."""
    d = g[node]
    if d.kind == "softmax" and int(getattr(d.args, "axis", 0)) != 0:
        return False
    if any(g[s].op != "output" for s in g.users(node)):
        return False
    path = plan.paths.get(node)
    if not path:
        return False
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if not isinstance(getattr(parent, attr, None), (nn.Softmax, nn.Sigmoid)):
        return False
    setattr(parent, attr, nn.Identity())
    return True


def outputs_of(heads: list[Head], out: Any) -> list[torch.Tensor]:
    """The model's result as one tensor per head (a named tuple or dict in training mode, or a tensor)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [out[h.name] for h in heads]
    return list(out)


def crop_target(y: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Per-position labels centre-cropped to an output's spatial size."""
    size = shape[1:]
    if tuple(y.shape[1:]) == tuple(size):
        return y
    index: list[slice] = [slice(None)]
    for have, want in zip(y.shape[1:], size):
        if have < want:
            raise SpecError(Diagnostic("E300", f"the labels are {tuple(y.shape[1:])} per sample, smaller than the "
                                               f"network's output {tuple(size)}"))
        start = (have - want) // 2
        index.append(slice(start, start + want))
    return y[tuple(index)]


def head_loss(h: Head, out: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    out = out.float()
    if h.last:  # N×L×vocab: the classes to axis 1, as cross_entropy wants them
        return F.cross_entropy(out.movedim(-1, 1), y, label_smoothing=label_smoothing)
    if h.spatial:
        y = crop_target(y, h.shape)
    if h.loss == "ce":
        if h.logits:
            return F.cross_entropy(out, y, label_smoothing=label_smoothing)
        logp = torch.log(out.clamp_min(1e-12))
        nll = F.nll_loss(logp, y)
        return nll if not label_smoothing else (1 - label_smoothing) * nll - label_smoothing * logp.mean(1).mean()
    if h.units == 1:
        target = y.float().unsqueeze(1)
    else:
        target = F.one_hot(y, h.units).float()
        if h.spatial:
            target = target.movedim(-1, 1)
    if label_smoothing:
        target = target * (1 - label_smoothing) + 0.5 * label_smoothing
    if h.logits:
        return F.binary_cross_entropy_with_logits(out, target)
    return F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target)


def total_loss(heads: list[Head], outs: list[torch.Tensor], y: torch.Tensor, label_smoothing: float = 0.0
               ) -> torch.Tensor:
    loss = head_loss(heads[0], outs[0], y, label_smoothing)
    if heads[0].weight != 1:
        loss = heads[0].weight * loss
    for h, o in zip(heads[1:], outs[1:]):
        if h.weight:
            loss = loss + h.weight * head_loss(h, o, y, label_smoothing)
    return loss


def predict(h: Head, out: torch.Tensor) -> torch.Tensor:
    """Class indices: per sample (N,), or per position for a segmenter."""
    if h.units == 1:
        return (out > (0 if h.logits else 0.5)).long().squeeze(1)
    return out.argmax(-1 if h.last else 1)
