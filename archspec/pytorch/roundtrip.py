"""The proof of an import (`archspec import --check`): the spec's analysis and compiled module against the original.

Figures: the analysis's parameters, buffers and MACs against PyTorch's own counts of the original model
(`numel`, and `FlopCounterMode`'s FLOPs / 2 per sample, the convention of docs/conventions.md). Outputs: the
spec compiled, the original's weights ported by position (the order in which the trace first uses each
module), both run in evaluation mode on the same random inputs.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archspec.pytorch.check import TotalCheck as Figure  # a figure of the spec against PyTorch's
from archspec.pytorch.importer import Imported, sample

BATCH = 2
RTOL, ATOL = 1e-5, 1e-6


@dataclass
class RoundTrip:
    network: str
    figures: list[Figure] = field(default_factory=list)
    max_difference: float = 0.0
    identical: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.figures) and not self.problems

    def lines(self) -> list[str]:
        out = [f"{f.name:<12} spec {f.spec:>16,}  PyTorch {f.torch:>16,}  {'✓' if f.ok else '✗'}" for f in self.figures]
        if not self.problems:
            out.append("outputs      " + ("identical" if self.identical else
                                          f"equal within {RTOL:g} (largest difference {self.max_difference:.3g})") + " ✓")
        out += [f"problem: {p}" for p in self.problems]
        out.append("OK: the spec reproduces the model." if self.ok else "DIFFERENT: the spec does not reproduce the model.")
        return out


def _numel(ts: Any) -> int:
    return sum(t.numel() for t in ts)


def torch_figures(model: nn.Module, input: tuple[int, ...], vocab: int | None = None) -> tuple[int, int, int]:
    """Parameters, floating-point buffers and MACs per sample, as PyTorch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    params = _numel(model.parameters())
    # state that is not a parameter: running statistics; integer tables (`num_batches_tracked`, Swin's
    # relative position index) are constants of the structure, not counted (as tests/zoo count them)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    counter = FlopCounterMode(display=False)
    model.eval()
    x = sample(input, vocab, BATCH)
    if any(isinstance(m, (nn.RNNBase, nn.MultiheadAttention)) for m in model.modules()):
        # the CPU's fused LSTM/GRU/RNN and attention kernels hide their products from FlopCounterMode; on
        # the meta device they run as matrix products and are counted (docs/conventions.md)
        model, x = copy.deepcopy(model).to("meta"), x.to("meta")
    with counter, torch.no_grad():
        model(x)
    flops = counter.get_total_flops()
    return params, buffers, flops // 2 // BATCH


def ordered_state(imported: Imported) -> OrderedDict[str, torch.Tensor]:
    """The original's weights in the order the trace first uses each module."""
    model = imported.traced.gm
    out: list[tuple[str, torch.Tensor]] = []
    own: set[str] = set()
    seen: set[str] = set()
    for layer in imported.traced.layers:
        if layer.weights and layer.weights not in seen:
            seen.add(layer.weights)
            try:
                sub = model.get_submodule(layer.weights)
            except AttributeError:  # a module's own parameter (a layer scale): listed before its layers,
                owner = layer.weights.rpartition(".")[0]  # as a compiled block registers it
                at = next((i for i, (k, _) in enumerate(out) if k not in own and (
                    not owner or k.startswith(owner + "."))), len(out))
                out.insert(at, (layer.weights, model.get_parameter(layer.weights).detach()))
                own.add(layer.weights)
                continue
            for k, v in sub.state_dict().items():
                out.append((f"{layer.weights}.{k}", v))
    return OrderedDict(out)


def round_trip(imported: Imported, seed: int = 0) -> RoundTrip:
    from archspec.pytorch.module import compile
    from archspec.pytorch.weights import WeightMismatchError, port_weights
    from archspec.report.analysis import analyze

    shape = imported.traced.input
    report = RoundTrip(imported.name)
    a = analyze(imported.arch)
    params, buffers, macs = torch_figures(imported.traced.model, shape, imported.traced.vocab)
    report.figures = [Figure("parameters", a.totals.params, params), Figure("buffers", a.totals.buffers, buffers),
                      Figure("MACs", a.totals.macs, macs)]
    compiled = compile(imported.arch)
    try:
        port_weights(compiled, ordered_state(imported))
    except WeightMismatchError as e:
        report.problems.append(f"the weights do not port: {e}")
        return report
    original = imported.traced.model.eval()
    compiled.eval()
    compiled.training = True  # the root alone: every output (its layers stay in evaluation mode)
    torch.manual_seed(seed)
    x = sample(shape, imported.traced.vocab, BATCH)
    with torch.no_grad():
        want, got = _flat(original(x)), _flat(compiled(x))
    if len(want) != len(got):
        report.problems.append(f"the model gives {len(want)} outputs, the spec {len(got)}")
        return report
    for w, g in zip(want, got):
        if w.shape != g.shape:
            report.problems.append(f"an output is {tuple(w.shape)} in the model, {tuple(g.shape)} from the spec")
            return report
        report.max_difference = max(report.max_difference, float((w - g).abs().max()) if w.numel() else 0.0)
        if not torch.allclose(w, g, rtol=RTOL, atol=ATOL):
            report.problems.append(f"the outputs differ by up to {report.max_difference:.3g}")
            return report
    report.identical = all(torch.equal(w, g) for w, g in zip(want, got))
    return report


def _flat(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in out for t in _flat(o)]


__all__ = ["RoundTrip", "round_trip", "torch_figures"]
