"""`archspec check`: compile a spec and compare the PyTorch module with the static analysis, layer by layer.

The module is built and run on the meta device (no weights allocated, no arithmetic done), under
`torch.utils.flop_counter.FlopCounterMode`; per layer, the output shape, the parameters (all, trainable,
and floating-point buffers: not `num_batches_tracked`) and the MACs per sample (FlopCounterMode's
FLOPs / 2 / batch, the convention of ../shared/ACCEPTANCE.md) must equal the analysis's. The meta run is in training mode (every
output, auxiliary heads included) at a batch of at least 2 (`META_MIN_BATCH`): batch norm in training mode
refuses one value per channel, which a batch of 1 gives after global pooling. A small real forward on the
CPU (batch 1, evaluation mode, random weights and input) then checks that the module runs and gives finite
outputs of the analysed shapes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from archspec.kinds.base import fmt_shape
from archspec.pytorch.module import build, module_for, sample_input, spec_graph
from archspec.report.analysis import Analysis

META_MIN_BATCH = 2  # batch norm in training mode needs more than one value per channel
CPU_LIMIT_BYTES = 2 * 2**30  # the CPU forward is skipped for a network larger than this (weights + activations)


@dataclass
class LayerCheck:
    name: str
    kind: str
    shape: tuple[int, ...]
    torch_shape: tuple[int, ...] | None
    params: int
    torch_params: int
    trainable: int
    torch_trainable: int
    buffers: int
    torch_buffers: int
    macs: int
    torch_macs: int

    # False for a layer written as an expression in `forward` (a merge, `matmul`): no module to hook, so its
    # shape and MACs are checked in the totals only (FlopCounterMode counts a product there)
    observed: bool = True

    @property
    def differences(self) -> list[str]:
        out = []
        if self.observed and self.torch_shape != self.shape:
            out.append("shape")
        for what in ("params", "trainable", "buffers", "macs"):
            if what == "macs" and not self.observed:
                continue
            if getattr(self, what) != getattr(self, "torch_" + what):
                out.append(what)
        return out

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass
class TotalCheck:
    name: str
    spec: Any
    torch: Any

    @property
    def ok(self) -> bool:
        return bool(self.spec == self.torch)


@dataclass
class CheckReport:
    network: str
    batch: int
    layers: list[LayerCheck] = field(default_factory=list)
    totals: list[TotalCheck] = field(default_factory=list)
    cpu: str = ""  # what the CPU forward did
    problems: list[str] = field(default_factory=list)  # failures that are not a number: a crash, NaN

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.layers) and all(t.ok for t in self.totals) and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "ok": self.ok, "batch": self.batch, "cpu": self.cpu,
                "problems": self.problems,
                "totals": [{**asdict(t), "ok": t.ok} for t in self.totals],
                "layers": [{**asdict(r), "ok": r.ok, "differences": r.differences} for r in self.layers]}

    def table(self, everything: bool = False) -> Any:
        """A rich table of the layers that disagree (all of them with `everything`), then the totals."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        def cell(spec: Any, got: Any, fmt: Any = lambda v: f"{v:,}") -> Text:
            if spec == got:
                return Text(fmt(spec) if spec else "")
            return Text(f"{fmt(spec)} ≠ {fmt(got) if got is not None else 'none'}", style="bold red")

        rows = [r for r in self.layers if everything or not r.ok]
        parts: list[Any] = []
        if rows:
            t = Table(title=f"{self.network}: layers" + ("" if everything else " that disagree (spec ≠ PyTorch)"),
                      title_justify="left")
            for col in ("Layer", "Kind", "Output", "Params", "Trainable", "Buffers", "MACs", ""):
                t.add_column(col, justify="right" if col in ("Params", "Trainable", "Buffers", "MACs") else "left")
            for r in rows:
                t.add_row(Text(r.name), Text(r.kind), cell(r.shape, r.torch_shape if r.observed else r.shape, lambda s: fmt_shape(s) if s else "?"),
                          cell(r.params, r.torch_params), cell(r.trainable, r.torch_trainable),
                          cell(r.buffers, r.torch_buffers), cell(r.macs, r.torch_macs if r.observed else r.macs),
                          Text("✓", style="green") if r.ok else Text("✗", style="bold red"))
            parts.append(t)
        else:
            parts.append(Text(f"{self.network}: all {len(self.layers)} layers agree with the analysis "
                              f"(shape, parameters, buffers, MACs).", style="green"))
        t = Table(title=f"{self.network}: totals per sample (meta run at batch {self.batch})", title_justify="left")
        for col in ("", "Analysis", "PyTorch", ""):
            t.add_column(col, justify="right" if col in ("Analysis", "PyTorch") else "left")
        for tc in self.totals:
            fmt = (lambda v: f"{v:,}") if isinstance(tc.spec, int) else str
            t.add_row(Text(tc.name), Text(fmt(tc.spec)), Text(fmt(tc.torch), style="" if tc.ok else "bold red"),
                      Text("✓", style="green") if tc.ok else Text("✗", style="bold red"))
        parts.append(t)
        if self.cpu:
            parts.append(Text("CPU forward: " + self.cpu))
        parts += [Text("problem: " + p, style="bold red") for p in self.problems]
        parts.append(Text("OK: the compiled module matches the analysis." if self.ok else
                          "DIFFERENT: the compiled module disagrees with the analysis.",
                          style="bold green" if self.ok else "bold red"))
        return Group(*parts)

    def _repr_html_(self) -> str:
        """In a notebook: the totals, the layers that disagree, every layer folded (report/notebook.py)."""
        from archspec.report.notebook import check_html

        return check_html(self)


def check(spec: Any, *, input: Any = None, params: dict[str, Any] | None = None, freeze: Sequence[str] = (),
          batch: int = 1, cpu: bool = True, **kw: Any) -> CheckReport:
    """Compile `spec` and compare the module with the analysis (see the module's docstring).
    `batch`: the batch of the meta run (at least `META_MIN_BATCH`; the figures compared are per sample).
    `cpu=False` leaves out the real forward on the CPU."""
    from torch.utils.flop_counter import FlopCounterMode

    g = spec_graph(spec, input=input, params=params, freeze=freeze, **kw)
    a = Analysis(g)  # spec_graph ran the passes
    model, plan = build(g, device="meta")
    batch = max(batch, META_MIN_BATCH)
    report = CheckReport(a.name, batch)
    shapes: dict[str, tuple[int, ...]] = {}
    for n in plan.paths:
        def hook(m: nn.Module, i: Any, o: Any, n: str = n) -> None:
            shapes[n] = tuple(o.shape[1:])

        module_for(model, plan, n).register_forward_hook(hook)
    inputs = [sample_input(g, n, batch, device="meta") for _, n in plan.inputs]
    model.train()  # every output, auxiliary heads included
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(*inputs)
    flops = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    root = type(model).__name__
    uses: dict[str, int] = {}  # a module called again (`reuse`): its MACs at every use, as FlopCounterMode counts them
    for node in g:
        if node.shares is not None and node.meta.cost is not None:
            uses[node.shares] = uses.get(node.shares, 0) + node.meta.cost.macs
    for r in a.rows:
        d = g[r.name]
        observed = True
        if d.op == "input":
            shapes[r.name] = tuple(d.meta.shape)
            m: nn.Module = nn.Identity()
        elif r.name in plan.paths:
            m = module_for(model, plan, r.name)
            if d.ties:  # `tie=`: the tied weight is its owner's, counted there
                m = _without(m, [model.get_submodule(plan.paths[o]) for _, o in d.ties if o in plan.paths])
        elif r.name in plan.own:  # a learned tensor: its block's own parameter, Python in forward
            m, observed = nn.Module(), False
            m.register_parameter("weight", model.get_parameter(plan.own[r.name]))
        else:  # a merge, a crop, global pooling: Python in forward, no module of its own
            m, observed = nn.Identity(), False
        report.layers.append(LayerCheck(
            r.name, r.kind + (" (fused)" if r.fused else ""), tuple(r.output_shape), shapes.get(r.name),
            r.params, _numel(m.parameters()), r.trainable_params, _numel(p for p in m.parameters() if p.requires_grad),
            r.buffers, _buffers(m), r.macs + uses.get(r.name, 0), _macs(flops.get(f"{root}.{plan.paths[r.name]}", 0), batch)
            if r.name in plan.paths else 0, observed))
    t = a.totals
    outs = _output_shapes(out, a)
    report.totals = [
        TotalCheck("parameters", t.params, _numel(model.parameters())),
        TotalCheck("trainable", t.trainable_params, _numel(p for p in model.parameters() if p.requires_grad)),
        TotalCheck("non-trainable", t.non_trainable_params,
                   _numel(p for p in model.parameters() if not p.requires_grad)),
        TotalCheck("buffers", t.buffers, _buffers(model)),
        TotalCheck("MACs (FlopCounterMode / 2)", t.macs, _macs(counter.get_total_flops(), batch)),
        TotalCheck("outputs", _fmt_outputs({k: tuple(v) for k, v in a.outputs.items()}), _fmt_outputs(outs)),
    ]
    if cpu:
        _cpu_forward(g, a, report)
    return report


def _without(m: nn.Module, owners: list[nn.Module]) -> nn.Module:
    """`m`'s parameters less those it shares with `owners` (tied weights), as a module of them."""
    theirs = {id(p) for o in owners for p in o.parameters()}
    out = nn.Module()
    for k, p in enumerate(m.parameters()):
        if id(p) not in theirs:
            out.register_parameter(f"p{k}", p)
    for k, b in enumerate(m.buffers()):
        out.register_buffer(f"b{k}", b)
    return out


def _numel(ps: Any) -> int:
    return sum(p.numel() for p in ps)


def _buffers(m: nn.Module) -> int:
    """Floating-point buffers, as ACCEPTANCE.md counts them: not `num_batches_tracked`, nor an index table
    (Swin's relative_position_index)."""
    return sum(b.numel() for b in m.buffers() if b.is_floating_point())


def _macs(flops: int, batch: int) -> int:
    macs = flops / 2 / batch
    return int(macs) if macs == int(macs) else macs  # type: ignore[return-value]


def _output_shapes(out: Any, a: Analysis) -> dict[str, tuple[int, ...]]:
    """The module's outputs under the spec's output names (the module's fields are those made identifiers)."""
    if isinstance(out, torch.Tensor):
        out = (out,)
    return {o.name: tuple(t.shape[1:]) for o, t in zip(a.output_infos, out)}


def _fmt_outputs(outs: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{k} {fmt_shape(v)}" for k, v in outs.items())


def _cpu_forward(g: Any, a: Analysis, report: CheckReport) -> None:
    batch = 1
    t = a.totals
    need = (t.params + t.buffers) * 4 + t.activations * 4 * batch
    if need > CPU_LIMIT_BYTES:
        report.cpu = f"skipped: {need / 2**30:.1f} GiB of weights and activations (limit {CPU_LIMIT_BYTES / 2**30:.0f} GiB)"
        return
    torch.manual_seed(0)
    start = time.perf_counter()
    try:
        model, plan = build(g)
        model.eval()
        inputs = [sample_input(g, n, batch) for _, n in plan.inputs]
        with torch.no_grad():
            out = model(*inputs)
    except Exception as e:  # the module crashed: that is the finding
        report.problems.append(f"the CPU forward failed: {type(e).__name__}: {e}")
        report.cpu = "failed"
        return
    secs = time.perf_counter() - start
    main = plan.outputs[0][1]
    want = tuple(g[main].meta.shape)
    got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
    if got != want:
        report.problems.append(f"the CPU forward gave {got}, the analysis {want}")
    if isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
        report.problems.append("the CPU forward gave values that are not finite (NaN or infinity)")
    report.cpu = f"ran in {secs:.2f} s (batch {batch}, evaluation mode), output {fmt_shape(got or ())}" + (
        "" if report.problems else ", finite")


__all__ = ["CheckReport", "LayerCheck", "TotalCheck", "check"]
