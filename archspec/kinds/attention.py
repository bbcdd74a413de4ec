"""Attention: multi-head self-attention on a sequence of tokens (L×D), as PyTorch's nn.MultiheadAttention
computes it (batch first; the sequence is query, key and value).

Its multiply-accumulates are its four projections (queries, keys, values and the output: 4·L·D²) and its
two matrix products, QKᵀ and AV, each L²·D summed over the heads: 2·L²·D (../shared/ACCEPTANCE.md).
PyTorch's FlopCounterMode sees those products only where attention is not run by a fused kernel (on the
meta device, or without `scaled_dot_product_attention`'s CPU and GPU kernels): docs/conventions.md.
A causal mask changes no count: the dense kernels compute the full L×L products and mask the scores.
"""

from __future__ import annotations

from pydantic import PositiveInt, field_validator

from archspec.kinds.base import (
    GLOBAL,
    Args,
    Cost,
    LayerKind,
    Part,
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
    causal: bool = False  # each token attends to itself and the tokens before it (GPT's mask)

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
    value, as torchvision's ViT calls it (its weights port as they are). `causal`: the upper-triangular
    mask of nn.Transformer.generate_square_subsequent_mask, each token attending to those before it."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        if not self.causal:
            return self.attn(x, x, x, need_weights=False)[0]
        n = x.size(1)  # nn.Transformer.generate_square_subsequent_mask(n), written so that it scripts
        mask = torch.triu(torch.full((n, n), float("-inf"), device=x.device, dtype=x.dtype), diagonal=1)
        return self.attn(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]
''')


@register
class Attention(LayerKind[AttentionArgs]):
    name = "attention"
    aliases = ("mha", "self_attention")
    Args = AttentionArgs
    category = "attention"
    positional = ("heads",)
    flags = ("causal",)
    summary = ("Multi-head self-attention on L×D tokens (PyTorch's nn.MultiheadAttention, batch first): "
               "queries, keys and values projected from the sequence, softmax(QKᵀ/√(D/heads))·V per head, "
               "the heads concatenated and projected. `bias` for the projections, `dropout` on the weights; "
               "`causal` masks each token's view to itself and the tokens before it (GPT), its MACs still "
               "the full L×L products, as the dense kernels compute them.")
    shape_rule = "output = input (L×D; heads must divide D)"
    params_rule = "4·D² + 4·D (bias): the query, key, value and output projections"
    macs_rule = ("4·L·D² (projections) + 2·L²·D (QKᵀ and AV, summed over the heads; `causal` too: the full "
                 "L×L products, as the dense kernels compute them)")
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
        return (f"{a.heads} heads" + (" causal" if a.causal else "") + ("" if a.bias else " no bias")
                + (f" dropout {a.dropout:g}" if a.dropout else ""))

    def parts(self, a: AttentionArgs, ins: list[Shape], out: Shape) -> list[Part]:
        n, d = tokens(self.name, ins[0], a.heads)
        b = 1 if a.bias else 0
        return [Part("q, k, v", f"3 × dense {d}", (n, 3 * d), 3 * d * d + 3 * d * b, 3 * n * d * d),
                Part("QKᵀ", f"{a.heads} heads, /√{d // a.heads}" + (", causal mask" if a.causal else ""), (a.heads, n, n), 0, n * n * d),
                Part("softmax", "", (a.heads, n, n)),
                Part("AV", "", (n, d), 0, n * n * d),
                Part("output", f"dense {d}", (n, d), d * d + d * b, n * d * d)]

    def pytorch(self, a: AttentionArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("SelfAttention", ins[0][1], a.heads, names=("embed_dim", "num_heads"), helper=SELF_ATTENTION,
                    dropout=Opt(a.dropout, 0.0), bias=Opt(a.bias, True), causal=Opt(a.causal, False))


class WindowAttentionArgs(Args):
    heads: PositiveInt
    window: PositiveInt = 7
    shift: int = 0  # cyclic shift of the windows (Swin's odd blocks: window // 2)
    dropout: float = 0.0  # on the attention weights
    bias: bool = True  # of the query, key and value projection

    @field_validator("dropout")
    @classmethod
    def _prob(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError("a dropout rate is at least 0 and below 1")
        return v


def _windows(a: WindowAttentionArgs, x: Shape) -> tuple[int, int, int]:
    """(padded positions, tokens per window, channels) of an H×W×C map."""
    if len(x) != 3:
        raise ShapeError(f"`window_attention` needs a channels-last H×W×C map, got {fmt_shape(x)}",
                         expected="H×W×C", hint="`permute (1, 2, 0)` makes a C×H×W map channels last")
    h, w, c = x
    if c % a.heads:
        raise ShapeError(f"`window_attention`: {a.heads} heads do not divide the width {c}",
                         expected=f"a number of heads that divides {c}")
    if not 0 <= a.shift < a.window:
        raise ShapeError(f"`window_attention` shift {a.shift} of windows of {a.window}", code="E202",
                         expected=f"a shift from 0 to {a.window - 1}")
    ph, pw = -(-h // a.window) * a.window, -(-w // a.window) * a.window
    return ph * pw, a.window * a.window, c


@register
class WindowAttention(LayerKind[WindowAttentionArgs]):
    name = "window_attention"
    Args = WindowAttentionArgs
    category = "attention"
    positional = ("heads",)
    summary = ("Multi-head self-attention inside windows of `window`×`window` positions of a channels-last "
               "H×W×C map, the windows cyclically shifted by `shift`, with a learned relative position bias "
               "(Swin; torchvision's ShiftedWindowAttention). The map is padded to whole windows.")
    shape_rule = "output = input (H×W×C; heads must divide C)"
    params_rule = "4·C² + 4·C (bias) + (2·window − 1)² · heads (the relative position bias table)"
    macs_rule = "4·L·C² (projections) + 2·L·window²·C (QKᵀ and AV in every window), L the padded H·W"
    flops_rule = "2 · MACs + 4·L·C (biases) + 5 · heads · L · window² (scaling, bias, mask, softmax)"

    def shape(self, a: WindowAttentionArgs, ins: list[Shape]) -> Shape:
        _windows(a, ins[0])
        return ins[0]

    def cost(self, a: WindowAttentionArgs, ins: list[Shape], out: Shape) -> Cost:
        n, t, c = _windows(a, ins[0])
        macs = 4 * n * c * c + 2 * n * t * c
        table = (2 * a.window - 1) ** 2 * a.heads
        bias = (3 * n * c if a.bias else 0) + n * c
        return Cost(params=4 * c * c + (3 * c if a.bias else 0) + c + table, macs=macs,
                    flops=2 * macs + bias + 5 * a.heads * n * t, connections=macs + bias)

    def receptive(self, a: WindowAttentionArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: WindowAttentionArgs) -> str:
        return f"{a.heads} heads {a.window}×{a.window}" + (f" shift {a.shift}" if a.shift else "")

    def parts(self, a: WindowAttentionArgs, ins: list[Shape], out: Shape) -> list[Part]:
        n, t, c = _windows(a, ins[0])
        b = 1 if a.bias else 0
        wins = (n // t, t, c)
        table = (2 * a.window - 1) ** 2 * a.heads
        return [Part("windows", f"{a.window}×{a.window}" + (f" shifted {a.shift}" if a.shift else ""), wins),
                Part("q, k, v", f"3 × dense {c}", (n // t, t, 3 * c), 3 * c * c + 3 * c * b, 3 * n * c * c),
                Part("QKᵀ + bias" + (" + mask" if a.shift else ""), f"{a.heads} heads, /√{c // a.heads}",
                     (n // t, a.heads, t, t), table, n * t * c),
                Part("softmax", "", (n // t, a.heads, t, t)),
                Part("AV", "", wins, 0, n * t * c),
                Part("output", f"dense {c}", wins, c * c + c, n * c * c),
                Part("merge windows", "", out)]

    def pytorch(self, a: WindowAttentionArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("ShiftedWindowAttention", ins[0][2], a.window, a.shift, a.heads,
                    names=("dim", "window_size", "shift_size", "num_heads"), helper=SHIFTED_WINDOW_ATTENTION,
                    qkv_bias=Opt(a.bias, True), attention_dropout=Opt(a.dropout, 0.0))


SHIFTED_WINDOW_ATTENTION = Helper("ShiftedWindowAttention", '''\
class ShiftedWindowAttention(nn.Module):
    """Swin's window attention, as torchvision writes it (torchvision.models.swin_transformer,
    ShiftedWindowAttention and shifted_window_attention): square windows, a cyclic shift, a relative
    position bias per head; the parameters registered in torchvision's order."""

    def __init__(self, dim: int, window_size: int, shift_size: int, num_heads: int, qkv_bias: bool = True,
                 attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
        coords = torch.flatten(coords, 1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += window_size - 1
        relative[:, :, 1] += window_size - 1
        relative[:, :, 0] *= 2 * window_size - 1
        self.register_buffer("relative_position_index", relative.sum(-1).flatten())

    def forward(self, x: Tensor) -> Tensor:
        w = self.window_size
        n_tokens = w * w
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(n_tokens, n_tokens, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        batch, height, width, channels = x.shape
        pad_r, pad_b = (w - width % w) % w, (w - height % w) % w
        x = F.pad(x, [0, 0, 0, pad_r, 0, pad_b])
        _, pad_h, pad_w, _ = x.shape
        shift_h = 0 if w >= pad_h else self.shift_size
        shift_w = 0 if w >= pad_w else self.shift_size
        if shift_h + shift_w > 0:
            x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))
        n_windows = (pad_h // w) * (pad_w // w)
        x = x.view(batch, pad_h // w, w, pad_w // w, w, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch * n_windows, n_tokens, channels)
        qkv = self.qkv(x).reshape(x.size(0), x.size(1), 3, self.num_heads, channels // self.num_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * (channels // self.num_heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1)) + bias
        if shift_h + shift_w > 0:
            mask = x.new_zeros((pad_h, pad_w))
            slices_h: List[List[int]] = [[0, pad_h - w], [pad_h - w, pad_h - shift_h], [pad_h - shift_h, pad_h]]
            slices_w: List[List[int]] = [[0, pad_w - w], [pad_w - w, pad_w - shift_w], [pad_w - shift_w, pad_w]]
            if shift_h == 0:
                slices_h = [[0, pad_h]]
            if shift_w == 0:
                slices_w = [[0, pad_w]]
            count = 0
            for hs in slices_h:
                for ws in slices_w:
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            mask = mask.view(pad_h // w, w, pad_w // w, w).permute(0, 2, 1, 3).reshape(n_windows, n_tokens)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(x.size(0) // n_windows, n_windows, self.num_heads, x.size(1), x.size(1))
            attn = attn + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, x.size(1), x.size(1))
        attn = F.softmax(attn, dim=-1)
        attn = F.dropout(attn, p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), channels)
        x = self.proj(x)
        x = x.view(batch, pad_h // w, pad_w // w, w, w, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, pad_h, pad_w, channels)
        if shift_h + shift_w > 0:
            x = torch.roll(x, shifts=(shift_h, shift_w), dims=(1, 2))
        return x[:, :height, :width, :].contiguous()
''')
