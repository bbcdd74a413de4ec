"""Differential testing (issue 7): the static analysis always equals what PyTorch does.

Random valid architectures (tests/netgen.py) are analysed and compiled; a forward pass on a tiny batch
under `torch.utils.flop_counter.FlopCounterMode` then gives, for every layer, the output shape, the
parameters (all, trainable) and buffers of its module, and its FLOPs. Each must equal the analysis:
shapes exactly, parameters and buffers by `numel`, MACs as FlopCounterMode's total / 2 (the convention of
../shared/ACCEPTANCE.md, for the layers it counts: convolutions, transposed convolutions, dense). Every
disagreement found became a named regression test below. Example counts follow the hypothesis profile.
"""

from __future__ import annotations

import pytest
from fuzz_helpers import budget, check_diagnostic, examples
from hypothesis import event, given, reject
from hypothesis import settings as hsettings
from netgen import networks

import archspec

torch = pytest.importorskip("torch")
torch_module = pytest.importorskip("archspec.pytorch.module")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# Kinds whose multiply-accumulates FlopCounterMode sees (aten convolution and matrix products). The
# classic kinds' MACs (subsample, rbf, local, connection tables) are LeCun's counts of operations that
# PyTorch spells as elementwise products or masked weights; their parameters and shapes are compared.
FLOP_COUNTED = {"conv", "conv1d", "conv2d", "conv3d", "dwconv", "convtranspose", "dense"}


def disagreements(src: str, batch: int = 2) -> list[str]:
    """Every way in which the compiled module disagrees with the analysis of `src`."""
    spec = archspec.load("g.arch", text=src)
    a = archspec.analyze(spec)
    g = torch_module.spec_graph(spec)
    model, plan = torch_module.build(g)
    model.eval()
    rows = {r.name: r for r in a.rows}
    seen: dict[str, tuple[int, ...]] = {}
    hooks = []
    for node, path in plan.paths.items():
        def hook(mod: object, ins: object, out: object, node: str = node) -> None:
            assert isinstance(out, torch.Tensor)
            seen[node] = tuple(out.shape)
        hooks.append(model.get_submodule(path).register_forward_hook(hook))
    xs = [torch.randn(batch, *g[n].meta.shape) for _, n in plan.inputs]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = model(*xs)
    for h in hooks:
        h.remove()
    flops = fc.get_flop_counts()
    root = type(model).__name__
    out: list[str] = []

    def differ(what: str, node: str, ours: object, theirs: object) -> None:
        if ours != theirs:
            out.append(f"{node} ({g[node].kind}): {what} {ours} in the analysis, {theirs} in PyTorch")

    for node, path in plan.paths.items():
        r, m = rows[node], model.get_submodule(path)
        differ("shape", node, (batch, *r.output_shape), seen.get(node))
        differ("params", node, r.params, sum(p.numel() for p in m.parameters()))
        differ("trainable", node, r.trainable_params, sum(p.numel() for p in m.parameters() if p.requires_grad))
        differ("buffers", node, r.buffers, sum(b.numel() for n, b in m.named_buffers()
                                               if not n.endswith("num_batches_tracked")))
        if r.kind in FLOP_COUNTED and not getattr(g[node].args, "table", None):
            differ("MACs", node, r.macs * batch, sum(flops.get(f"{root}.{path}", {}).values()) // 2)
    t = a.totals
    if t.params != sum(p.numel() for p in model.parameters()):
        out.append(f"total params {t.params} in the analysis, {sum(p.numel() for p in model.parameters())} in PyTorch")
    counted = sum(r.macs for r in a.rows if r.kind in FLOP_COUNTED and not getattr(g[r.name].args, "table", None))
    if counted * batch != sum(sum(flops.get(f"{root}.{plan.paths[r.name]}", {}).values()) for r in a.rows
                              if r.name in plan.paths and r.kind in FLOP_COUNTED
                              and not getattr(g[r.name].args, "table", None)) // 2:
        out.append("total MACs differ")
    main = next(iter(a.outputs.values()))
    y0 = y if isinstance(y, torch.Tensor) else y[0]
    if tuple(y0.shape) != (batch, *main):
        out.append(f"output {tuple(y0.shape)} from PyTorch, {(batch, *main)} in the analysis")
    return out


def assert_agrees(src: str) -> None:
    problems = disagreements(src)
    assert not problems, "\n".join(problems) + "\n\n" + src


@pytest.mark.slow  # property test over random networks
@hsettings(max_examples=examples(6))
@given(networks())
def test_random_networks_agree_with_pytorch(src: str) -> None:
    with budget(60):
        try:
            assert_agrees(src)
        except torch_module.CompileError as e:  # a spec PyTorch has no module for: said so, with a location
            check_diagnostic(e)
            event("not compilable: " + e.diagnostic.message.split(": ", 1)[-1][:60])
            reject()
        event("compared")



@hsettings(max_examples=examples(2))
@given(networks())
def test_random_networks_generated_file_equals_the_module(src: str) -> None:
    """The standalone file `archspec compile` writes, executed, with the compiled module's weights, gives
    the same outputs as the module (codegen: names, lifted constructor arguments, helper modules)."""
    with budget(60):
        spec = archspec.load("g.arch", text=src)
        try:
            model = archspec.compile(spec).eval()
            code = archspec.generate_code(spec)
        except torch_module.CompileError as e:
            check_diagnostic(e)
            reject()
        namespace: dict[str, object] = {"__name__": "generated"}
        exec(compile(code, "<generated>", "exec"), namespace)  # the file, as `python model.py` would import it
        other = namespace[type(model).__name__]().eval()  # type: ignore[operator]
        other.load_state_dict(model.state_dict())
        xs = [torch.randn(2, *shape) for shape in archspec.analyze(spec).inputs.values()]
        with torch.no_grad():
            a, b = model(*xs), other(*xs)
        assert torch.equal(a, b), code

# -- regressions: each a disagreement the random networks found ---------------------------------------

def test_avgpool3d_on_an_input_smaller_than_its_window() -> None:
    # PyTorch's AvgPool3d refuses an input smaller than its window even when padding makes it fit
    # (AvgPool1d/2d and MaxPool3d accept it): the analysis was right, the forward raised a RuntimeError.
    # Compiled now as explicit zero padding and an unpadded pool, the same computation.
    assert_agrees("network g:\n    input 1x1x1x1\n    avgpool 3 pad=1\n")
    assert_agrees("network g:\n    input 2x1x2x1\n    avgpool 3 stride=1 pad=1 ceil\n")
    # without that equivalence (padding not counted, or a partial window), a diagnostic, not a crash
    with pytest.raises(torch_module.CompileError, match="AvgPool3d"):
        archspec.compile(archspec.load("g.arch", text="network g:\n    input 1x1x1x1\n"
                                                      "    avgpool 3 pad=same ceil count_include_pad=false\n"))


def test_lrn_on_a_flat_vector_is_refused() -> None:
    # accepted by the analysis, then PyTorch's LocalResponseNorm raised a ValueError (it needs N×C×...)
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze("network g:\n    input 5\n    lrn 3\n")
    assert e.value.diagnostic.code == "E300" and e.value.diagnostic.span is not None
    assert_agrees("network g:\n    input 5x4\n    lrn 3\n")
