"""Attention: multi-head self-attention on a sequence of tokens (L×D), as PyTorch's nn.MultiheadAttention
computes it (batch first; the sequence is query, key and value).

Its multiply-accumulates are its four projections (queries, keys, values and the output: 4·L·D²) and its
two matrix products, QKᵀ and AV, each L²·D summed over the heads: 2·L²·D (../shared/ACCEPTANCE.md).
PyTorch's FlopCounterMode sees those products only where attention is not run by a fused kernel (on the
meta device, or without `scaled_dot_product_attention`'s CPU and GPU kernels): docs/conventions.md.
"""

from __future__ import annotations

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    GLOBAL,
    Args,
    Cost,
    LayerKind,
    Receptive,
    Shape,
    ShapeError,
    fmt_shape,
    register,
)
from archspec.kinds.torchspec import Helper, Opt, Torch, call


class AttentionArgs(Args):
    heads: PositiveInt
    dropout: float = 0.0  # on the attention weights, in training
    bias: bool = True  # biases of the query, key, value and output projections

    @field_validator("dropout")
    @classmethod
    def _prob(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError("a dropout rate is at least 0 and below 1")
        return v


def tokens(name: str, x: Shape, heads: int) -> tuple[int, int]:
    """(L, D) of an L×D sequence whose width the heads divide; otherwise a diagnostic."""
    if len(x) != 2:
        got = f"a flat vector of {x[0]}" if len(x) == 1 else fmt_shape(x)
        raise ShapeError(f"`{name}` needs a sequence of tokens, L×D, got {got}", expected="L×D (tokens × width)",
                         hint="make patches tokens with `flatten start=1` and `transpose` (C×H×W → H·W×C)")
    n, d = x
    if d % heads:
        raise ShapeError(f"`{name}`: {heads} heads do not divide the width {d}",
                         expected=f"a number of heads that divides {d}" + (f", e.g. {_divisor(d, heads)}"
                                                                           if _divisor(d, heads) else ""),
                         hint="each head attends over width / heads features")
    return n, d


def _divisor(d: int, near: int) -> int | None:
    cands = [h for h in range(1, d + 1) if d % h == 0 and h != near]
    return min(cands, key=lambda h: (abs(h - near), h)) if cands else None


SELF_ATTENTION = Helper("SelfAttention", '''\
class SelfAttention(nn.Module):
    """Multi-head self-attention: nn.MultiheadAttention (batch first) with the sequence as query, key and
    value, as torchvision's ViT calls it (its weights port as they are)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x, x, x, need_weights=False)[0]
''')


@register
class Attention(LayerKind[AttentionArgs]):
    name = "attention"
    aliases = ("mha", "self_attention")
    Args = AttentionArgs
    category = "attention"
    positional = ("heads",)
    summary = ("Multi-head self-attention on L×D tokens (PyTorch's nn.MultiheadAttention, batch first): "
               "queries, keys and values projected from the sequence, softmax(QKᵀ/√(D/heads))·V per head, "
               "the heads concatenated and projected. `bias` for the projections, `dropout` on the weights.")
    shape_rule = "output = input (L×D; heads must divide D)"
    params_rule = "4·D² + 4·D (bias): the query, key, value and output projections"
    macs_rule = "4·L·D² (projections) + 2·L²·D (QKᵀ and AV, summed over the heads)"
    flops_rule = "2 · MACs + 4·L·D (biases) + 4 · heads · L² (scaling, softmax)"

    def shape(self, a: AttentionArgs, ins: list[Shape]) -> Shape:
        tokens(self.name, ins[0], a.heads)
        return ins[0]

    def cost(self, a: AttentionArgs, ins: list[Shape], out: Shape) -> Cost:
        n, d = tokens(self.name, ins[0], a.heads)
        macs = 4 * n * d * d + 2 * n * n * d
        bias = 4 * n * d if a.bias else 0
        return Cost(params=4 * d * d + (4 * d if a.bias else 0), macs=macs,
                    flops=2 * macs + bias + 4 * a.heads * n * n, connections=macs + bias)

    def receptive(self, a: AttentionArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: AttentionArgs) -> str:
        return f"{a.heads} heads" + ("" if a.bias else " no bias") + (f" dropout {a.dropout:g}" if a.dropout else "")

    def pytorch(self, a: AttentionArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("SelfAttention", ins[0][1], a.heads, names=("embed_dim", "num_heads"), helper=SELF_ATTENTION,
                    dropout=Opt(a.dropout, 0.0), bias=Opt(a.bias, True))
