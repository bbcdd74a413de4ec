"""Freezing one parameter of a layer (issue 14): `freeze=bias` (or `weight`) counts that parameter as
non-trainable, and the compiled module sets requires_grad=False on it, as a PyTorch model whose bias is
frozen by hand: trainable counts by numel, and a training step leaves the frozen tensor as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


def _trainable(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def _spec(shape: str, *lines: str) -> str:
    return f"network t:\n    input {shape}\n" + "".join(f"    {line}\n" for line in lines)


@pytest.mark.parametrize(("shape", "stmt", "ref", "frozen_names"), [
    ("3x8x8", "conv 4 3 freeze=bias", lambda: nn.Conv2d(3, 4, 3), ["bias"]),
    ("10", "dense 5 freeze=bias", lambda: nn.Linear(10, 5), ["bias"]),
    ("10", "dense 5 freeze=weight", lambda: nn.Linear(10, 5), ["weight"]),
    ("10", "dense 5 freeze=(weight, bias)", lambda: nn.Linear(10, 5), ["weight", "bias"]),
    ("7x5", "lstm 6 layers=2 freeze=bias", lambda: nn.LSTM(5, 6, 2, batch_first=True),
     ["bias_ih_l0", "bias_hh_l0", "bias_ih_l1", "bias_hh_l1"]),
    ("6x8", "attention 2 freeze=bias", lambda: nn.MultiheadAttention(8, 2, batch_first=True),
     ["in_proj_bias", "out_proj.bias"]),
])
def test_a_frozen_parameter_is_pytorchs_requires_grad_false(shape, stmt, ref, frozen_names):
    r = ref()
    for name, p in r.named_parameters():
        p.requires_grad_(name not in frozen_names)
    a = archspec.analyze(_spec(shape, stmt))
    assert a.totals.params == sum(p.numel() for p in r.parameters())
    assert a.totals.trainable_params == _trainable(r) < a.totals.params
    m = archspec.compile(_spec(shape, stmt))
    assert _trainable(m) == _trainable(r)
    ours = sorted(p.numel() for p in m.parameters() if not p.requires_grad)
    assert ours == sorted(p.numel() for p in r.parameters() if not p.requires_grad)


def test_a_training_step_leaves_the_frozen_bias_as_it_was():
    torch.manual_seed(0)
    m = archspec.compile(_spec("10", "dense 8 relu freeze=bias", "dense 3"))
    (layer,) = [x for x in m.modules() if isinstance(x, nn.Linear) and x.out_features == 8]
    bias, weight = layer.bias.detach().clone(), layer.weight.detach().clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m(torch.randn(4, 10)).pow(2).sum().backward()
    opt.step()
    assert torch.equal(layer.bias, bias) and layer.bias.grad is None
    assert not torch.equal(layer.weight, weight)


def test_in_a_block_called_twice():
    src = """network t:
    input 16
    block mlp(c):
        dense c relu freeze=bias
    mlp(8)
    mlp(4)
"""
    a = archspec.analyze(src)
    assert (a.totals.params, a.totals.trainable_params) == (16 * 8 + 8 + 8 * 4 + 4, 16 * 8 + 8 * 4)
    assert _trainable(archspec.compile(src)) == 16 * 8 + 8 * 4


def test_a_frozen_block_freezes_everything_still():
    src = _spec("10", "frozen:", "    dense 5 freeze=bias")
    assert archspec.analyze(src).totals.trainable_params == 0 == _trainable(archspec.compile(src))


@pytest.mark.parametrize(("stmt", "words"), [
    ("dense 5 bias=false freeze=bias", "`dense` has no bias to freeze (`bias=false`)"),
    ("dense 5 freeze=gamma", "names the parameters `weight` or `bias`"),
    ("relu freeze=bias", "`relu` has no bias: freeze the whole layer"),
])
def test_diagnostics(stmt, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(_spec("10", stmt))
    d = e.value.diagnostic
    assert d.code == "E202" and words in d.message and d.span is not None and d.expected
