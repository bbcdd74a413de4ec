"""Multi-head self-attention (issue 13): PyTorch's nn.MultiheadAttention itself, its weights ported, gives
the same outputs; parameters by numel; MACs = 4·L·D² + 2·L²·D, as FlopCounterMode counts where attention
is not fused (the meta device), and what it misses on the CPU's fused kernel."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec


def _spec(shape: str, body: str) -> str:
    return f"network t:\n    input {shape}\n" + "".join(f"    {line}\n" for line in body.splitlines())


class Ref(nn.Module):
    def __init__(self, d, heads, bias=True, dropout=0.0):
        super().__init__()
        self.self_attention = nn.MultiheadAttention(d, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x):
        return self.self_attention(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize(("heads", "bias"), [(1, True), (4, True), (8, False)])
def test_attention_is_nn_multiheadattention(heads, bias):
    torch.manual_seed(0)
    src = _spec("9x32", f"attention {heads} bias={'true' if bias else 'false'}")
    a = archspec.analyze(src)
    m = archspec.compile(src).eval()
    ref = Ref(32, heads, bias).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    archspec.port_weights(m, ref)
    x = torch.randn(3, 9, 32)
    with torch.no_grad():
        assert torch.equal(m(x), ref(x))
    assert a.totals.params == sum(p.numel() for p in ref.parameters()) == 4 * 32 * 32 + (4 * 32 if bias else 0)
    assert a.totals.macs == 4 * 9 * 32 * 32 + 2 * 9 * 9 * 32
    assert a.outputs["out"] == (9, 32)


def test_macs_are_what_flopcountermode_sees_unfused():
    src = _spec("197x768", "attention 12")
    m = archspec.compile(src, device="meta")
    x = torch.empty(2, 197, 768, device="meta")
    with FlopCounterMode(display=False) as c:
        m(x)
    assert c.get_total_flops() // 2 // 2 == archspec.analyze(src).totals.macs == 464_781_312 + 59_610_624
    # on the CPU the fused kernel hides QKᵀ and AV: FlopCounterMode sees the projections only
    cpu = archspec.compile(_spec("197x64", "attention 4"))
    with FlopCounterMode(display=False) as c:
        cpu(torch.randn(1, 197, 64))
    assert c.get_total_flops() // 2 == 4 * 197 * 64 * 64


def test_attention_dropout_is_nn_multiheadattention_s():
    m = archspec.compile(_spec("5x16", "attention 2 dropout=0.1"))
    (attn,) = [x for x in m.modules() if isinstance(x, nn.MultiheadAttention)]
    assert attn.dropout == 0.1 and attn.batch_first


@pytest.mark.parametrize(("shape", "body", "words"), [
    ("9x30", "attention 4", "4 heads do not divide the width 30"),
    ("3x8x8", "attention 2", "sequence of tokens"),
    ("30", "attention 2", "sequence of tokens"),
])
def test_diagnostics(shape, body, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(_spec(shape, body))
    d = e.value.diagnostic
    assert words in d.message and d.span is not None and d.expected


def test_field_is_global():
    a = archspec.analyze(_spec("3x32x32", "conv 8 4x4 stride=4\nflatten start=1\ntranspose\nattention 2"))
    assert a.ir["attention1"].meta.rf == "global"


@pytest.mark.parametrize(("shape", "body", "words"), [
    ("14x14x12", "window_attention 5", "5 heads do not divide the width 12"),
    ("14x14x12", "window_attention 3 shift=7", "shift 7"),
    ("196x12", "window_attention 3", "H×W×C"),
])
def test_window_attention_diagnostics(shape, body, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(_spec(shape, body))
    assert words in e.value.diagnostic.message and e.value.diagnostic.span is not None


def test_window_attention_counts_padded_windows():
    # 10×9 positions padded to 12×12 for windows of 4: 9 windows of 16 tokens
    a = archspec.analyze(_spec("10x9x8", "window_attention 2 window=4"))
    assert a.totals.macs == 4 * 144 * 8 * 8 + 2 * 144 * 16 * 8
    assert a.totals.params == 4 * 8 * 8 + 4 * 8 + 7 * 7 * 2
    m = archspec.compile(_spec("10x9x8", "window_attention 2 window=4"), device="meta")
    with FlopCounterMode(display=False) as c:
        m(torch.empty(2, 10, 9, 8, device="meta"))
    assert c.get_total_flops() // 2 // 2 == a.totals.macs
    assert sum(p.numel() for p in m.parameters()) == a.totals.params


class CausalRef(Ref):
    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.self_attention(x, x, x, attn_mask=mask, need_weights=False)[0]


@pytest.mark.parametrize("heads", [1, 4])
def test_causal_attention_is_nn_multiheadattention_with_the_causal_mask(heads):
    torch.manual_seed(0)
    src = _spec("9x32", f"attention {heads} causal")
    m = archspec.compile(src).eval()
    ref = CausalRef(32, heads).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    archspec.port_weights(m, ref)
    x = torch.randn(3, 9, 32)
    with torch.no_grad():
        y = m(x)
        torch.testing.assert_close(y, ref(x), rtol=1e-6, atol=1e-6)
        # causal: changing a later token leaves the earlier outputs as they were
        x2 = x.clone()
        x2[:, 5:] = torch.randn(3, 4, 32)
        y2 = m(x2)
    assert torch.equal(y2[:, :5], y[:, :5]) and not torch.equal(y2[:, 5:], y[:, 5:])
    a = archspec.analyze(src)
    assert a.totals.params == sum(p.numel() for p in ref.parameters()) == 4 * 32 * 32 + 4 * 32
    # the full 9×9 products, as the dense kernels compute them (docs/conventions.md)
    assert a.totals.macs == 4 * 9 * 32 * 32 + 2 * 9 * 9 * 32


def test_causal_attention_matches_a_transformer_encoder_layer_with_a_causal_mask():
    torch.manual_seed(0)
    d, heads, ff, n = 16, 4, 32, 7
    ref = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True, norm_first=True).eval()
    src = _spec(f"{n}x{d}", f"""\
add:
    branch:
        layernorm
        attention {heads} causal
    branch: identity
add:
    branch:
        layernorm
        dense {ff} axis=-1 relu
        dense {d} axis=-1
    branch: identity""")
    m = archspec.compile(src).eval()
    # nn.TransformerEncoderLayer registers its attention before its norms: ported module by module
    (mha,) = [x for x in m.modules() if isinstance(x, nn.MultiheadAttention)]
    norms = [x for x in m.modules() if isinstance(x, nn.LayerNorm)]
    dense = [x for x in m.modules() if type(x) is nn.Linear]
    for mine, theirs in [(mha, ref.self_attn), (norms[0], ref.norm1), (norms[1], ref.norm2),
                         (dense[0], ref.linear1), (dense[1], ref.linear2)]:
        mine.load_state_dict(theirs.state_dict())
    x = torch.randn(2, n, d)
    mask = nn.Transformer.generate_square_subsequent_mask(n)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x, src_mask=mask, is_causal=True), rtol=1e-5, atol=1e-5)
    assert archspec.analyze(src).totals.params == sum(p.numel() for p in ref.parameters())


def test_causal_macs_are_what_flopcountermode_sees_unfused():
    src = _spec("64x32", "attention 4 causal")
    m = archspec.compile(src, device="meta")
    with FlopCounterMode(display=False) as c:
        m(torch.empty(2, 64, 32, device="meta"))
    assert c.get_total_flops() // 2 // 2 == archspec.analyze(src).totals.macs == 4 * 64 * 32 * 32 + 2 * 64 * 64 * 32
