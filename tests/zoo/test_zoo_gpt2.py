"""gpt2.arch (issue 14): ../shared/ACCEPTANCE.md's figures for GPT-2 small, and a plain-PyTorch GPT-2 written
here in nanoGPT's manner (token and position embeddings, pre-norm blocks with causal attention and a GELU
MLP, final layer norm, the output projection's weight assigned the token embedding's): the numel of its
unique parameters, and at a reduced size identical outputs with its random weights ported."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import archspec

PARAMS, MACS = 124_439_808, 145_824_153_600  # ACCEPTANCE.md
ATTENTION_PRODUCTS, PROJECTIONS = 19_327_352_832, 126_496_800_768  # ACCEPTANCE.md: QKᵀ and AV; the rest


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, layers=12, width=768, heads=12, context=1024, vocab=50257) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as nanoGPT

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def test_figures():
    a = archspec.analyze("gpt2")
    assert (a.totals.params, a.totals.macs, a.totals.buffers) == (PARAMS, MACS, 0)
    assert a.inputs == {"input": (1024,)} and a.outputs == {"out": (1024, 50257)}
    attention = [n for n in a.ir if n.kind == "attention"]
    products = sum(2 * 1024 * 1024 * 768 for _ in attention)  # the attention kind's QKᵀ and AV
    assert len(attention) == 12 and products == ATTENTION_PRODUCTS and MACS - products == PROJECTIONS
    rows = {r.name: r for r in a.rows}
    assert (rows["lm_head"].params, rows["lm_head"].macs) == (0, 1024 * 768 * 50257)  # tied: counted at wte


def test_plain_pytorch_count():
    with torch.device("meta"):
        hand = GPT()
    assert sum(p.numel() for p in hand.parameters()) == PARAMS  # parameters() lists the tied weight once


SMALL = {"layers": 2, "width": 32, "heads": 4, "context": 16, "vocab": 97}


def test_reduced_as_plain_pytorch():
    hand = GPT(2, 32, 4, 16, 97)
    a = archspec.analyze("gpt2", **SMALL)
    assert a.totals.params == sum(p.numel() for p in hand.parameters())
    torch.manual_seed(0)
    with torch.no_grad():
        for p in hand.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    model = archspec.compile("gpt2", **SMALL).eval()
    assert model.lm_head.weight is model.wte.weight
    sd = hand.state_dict()
    sd["wpe.weight"] = sd["wpe.weight"][None]  # the spec's position embedding is a 1×context×width tensor
    assert [v.shape for v in model.state_dict().values()] == [v.shape for v in sd.values()]
    assert list(model.state_dict())[-1] == "lm_head.weight"  # the tied weight, under both names, as PyTorch writes it
    archspec.port_weights(model, sd)
    x = torch.randint(0, 97, (3, 16))
    with torch.no_grad():
        torch.testing.assert_close(model(x), hand.eval()(x), rtol=1e-4, atol=1e-4)


def test_in_the_zoo_and_checks():
    report = archspec.check("gpt2", params=SMALL)
    assert report.ok, report.problems
    assert "attention" in archspec.render("gpt2", params=SMALL).source


@pytest.mark.slow  # GPT-2 small on the meta device, and a real forward of 124 M parameters
def test_check_at_full_size():
    report = archspec.check("gpt2")
    assert report.ok, report.problems
    assert {t.name: t.torch for t in report.totals}["parameters"] == PARAMS
