"""One row per layer kind: what the analysis says of a layer against what PyTorch says of the same layer.

For every kind in the registry (a test below fails when a kind has no row), one small network: the
analysis's output shape, parameters (trainable and not) and floating-point buffers are compared with a
PyTorch module built here by hand from the layer's arguments (not by archspec's compiler); the MACs are
hand-computed literals, and where PyTorch's FlopCounterMode counts the operation (convolutions and matrix
products) its count halved must give the same figure. Last, the compiled layer, with the hand-built
module's weights ported by position, must give PyTorch's outputs.

The formulas behind the literals are the ones in docs/layers.md and ../shared/ACCEPTANCE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import archspec
from archspec.kinds import REGISTRY

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


class Fn(nn.Module):
    """A parameter-free layer written as a function of its inputs."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)


class Local2d(nn.Module):
    """A locally connected layer (Keras's LocallyConnected2D): unshared filters and biases per position."""

    def __init__(self, c_in: int, filters: int, k: int, out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.k, self.out_hw = k, out_hw
        positions = out_hw[0] * out_hw[1]
        self.weight = nn.Parameter(torch.randn(positions, filters, c_in * k * k))
        self.bias = nn.Parameter(torch.randn(filters, *out_hw))

    def forward(self, x: Any) -> Any:
        cols = F.unfold(x, self.k)  # N × (C·k·k) × P
        y = torch.einsum("ncp,pfc->nfp", cols, self.weight)
        return y.reshape(x.shape[0], -1, *self.out_hw) + self.bias


class Subsample(nn.Module):
    """LeNet-5's trainable subsampling: each window's sum × a coefficient + a bias, per map."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.randn(c))
        self.bias = nn.Parameter(torch.randn(c))

    def forward(self, x: Any) -> Any:
        s = F.avg_pool2d(x, self.k) * (self.k * self.k)
        return s * self.weight[:, None, None] + self.bias[:, None, None]


class RBF(nn.Module):
    """LeNet-5's Euclidean RBF outputs: y_i = Σ_j (x_j − w_ij)², fixed weights."""

    def __init__(self, n_in: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(units, n_in), requires_grad=False)

    def forward(self, x: Any) -> Any:
        return ((x[:, None, :] - self.weight) ** 2).sum(-1)


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: layer norm over the channels at each position of N×C×H×W."""

    def forward(self, x: Any) -> Any:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Scale(nn.Module):
    """A learned scale per channel, as torchvision's CNBlock holds it (`layer_scale`, C×1×1)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, 0.5))

    def forward(self, x: Any) -> Any:
        return x * self.weight


class Token(nn.Module):
    """A learned tensor repeated along the batch (ViT's class token: a 1×1×D parameter, expanded)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, *shape))

    def forward(self, x: Any) -> Any:
        return self.weight.expand(x.shape[0], *self.weight.shape[1:])


class SelfAttention(nn.Module):
    """torchvision's ViT EncoderBlock calls nn.MultiheadAttention(x, x, x, need_weights=False)."""

    def __init__(self, d: int, heads: int, **kw: Any) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(d, heads, batch_first=True, **kw)

    def forward(self, x: Any) -> Any:
        return self.mha(x, x, x, need_weights=False)[0]


class CausalSelfAttention(SelfAttention):
    """The same with PyTorch's causal mask (nn.Transformer.generate_square_subsequent_mask)."""

    def forward(self, x: Any) -> Any:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.mha(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]


class ShiftedWindowAttention(nn.Module):
    """After torchvision.models.swin_transformer (ShiftedWindowAttention and shifted_window_attention),
    square windows: the map padded to whole windows, cyclically shifted, attention inside each window with
    a relative position bias and the shifted windows' mask, then shifted back and cropped."""

    def __init__(self, dim: int, window: int, shift: int, heads: int) -> None:
        super().__init__()
        self.window, self.shift, self.heads = window, shift, heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.flatten(torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                                          indexing="ij")), 1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window - 1
        rel[:, :, 1] += window - 1
        rel[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rel.sum(-1).flatten())

    def forward(self, inp: Any) -> Any:
        w, heads = self.window, self.heads
        n = w * w
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1)
        bias = bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        b, h, wd, c = inp.shape
        x = F.pad(inp, (0, 0, 0, (w - wd % w) % w, 0, (w - h % w) % w))
        _, ph, pw, _ = x.shape
        sh = [0 if w >= ph else self.shift, 0 if w >= pw else self.shift]
        if sum(sh) > 0:
            x = torch.roll(x, shifts=(-sh[0], -sh[1]), dims=(1, 2))
        nw = (ph // w) * (pw // w)
        x = x.view(b, ph // w, w, pw // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, n, c)
        qkv = self.qkv(x).reshape(x.size(0), n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
        attn = q.matmul(k.transpose(-2, -1)) + bias
        if sum(sh) > 0:
            mask = x.new_zeros((ph, pw))
            count = 0
            for hs in ((0, -w), (-w, -sh[0]), (-sh[0], None)):
                for ws in ((0, -w), (-w, -sh[1]), (-sh[1], None)):
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                    count += 1
            mask = mask.view(ph // w, w, pw // w, w).permute(0, 2, 1, 3).reshape(nw, n)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = (attn.view(b, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
        x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(b * nw, n, c)
        x = self.proj(x).view(b, ph // w, pw // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sum(sh) > 0:
            x = torch.roll(x, shifts=(sh[0], sh[1]), dims=(1, 2))
        return x[:, :h, :wd, :].contiguous()


@dataclass(frozen=True)
class Case:
    kind: str  # the registry's name of the kind this row covers
    inputs: tuple[tuple[int, ...], ...]
    stmt: str
    module: Callable[[], Any]
    macs: int  # hand-computed
    counted: bool = False  # FlopCounterMode counts this operation: its FLOPs / 2 must equal `macs`


def conv(*a: Any, **k: Any) -> Callable[[], Any]:
    return lambda: nn.Conv2d(*a, **k)


CASES = [
    # convolution: out elements · ∏k · C_in/groups
    Case("conv", ((3, 8, 8),), "conv 4 3", conv(3, 4, 3), 4 * 6 * 6 * 9 * 3, True),
    Case("conv1d", ((3, 16),), "conv1d 5 3 stride=2 pad=1", lambda: nn.Conv1d(3, 5, 3, 2, 1), 5 * 8 * 3 * 3, True),
    Case("conv2d", ((3, 8, 8),), "conv2d 6 3 groups=3 pad=1 bias=false",
         conv(3, 6, 3, padding=1, groups=3, bias=False), 6 * 8 * 8 * 9 * 1, True),
    Case("conv3d", ((2, 4, 6, 6),), "conv3d 4 3", lambda: nn.Conv3d(2, 4, 3), 4 * 2 * 4 * 4 * 27 * 2, True),
    Case("dwconv", ((4, 8, 8),), "dwconv 3 stride=2 pad=1 multiplier=2",
         conv(4, 8, 3, stride=2, padding=1, groups=4), 8 * 4 * 4 * 9, True),
    # transposed: in elements · C_out/groups · ∏k
    Case("convtranspose", ((3, 5, 5),), "convtranspose 4 2 stride=2",
         lambda: nn.ConvTranspose2d(3, 4, 2, stride=2), 3 * 5 * 5 * 4 * 4, True),
    # locally connected: P · F · C_in · ∏k, P = 4×4 positions
    Case("local", ((2, 6, 6),), "local 4 3", lambda: Local2d(2, 4, 3, (4, 4)), 16 * 4 * 2 * 9, True),
    Case("dense", ((20,),), "dense 10", lambda: nn.Linear(20, 10), 20 * 10, True),
    Case("rbf", ((20,),), "rbf 10", lambda: RBF(20, 10), 20 * 10),
    Case("flatten", ((3, 4, 4),), "flatten", lambda: nn.Flatten(), 0),
    Case("identity", ((3, 4, 4),), "identity", lambda: nn.Identity(), 0),
    Case("dropout", ((3, 4, 4),), "dropout 0.5", lambda: nn.Dropout(0.5), 0),
    Case("zeropad", ((3, 4, 4),), "zeropad ((0, 1), (2, 0))", lambda: nn.ZeroPad2d((2, 0, 0, 1)), 0),
    Case("crop", ((3, 6, 6),), "crop ((0, 1), (2, 2))", lambda: Fn(lambda x: x[:, :, 0:5, 2:4]), 0),
    Case("padchannels", ((4, 6, 6),), "padchannels 8 stride=2",
         lambda: Fn(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 4))), 0),
    Case("upsample", ((3, 4, 4),), "upsample 2", lambda: nn.Upsample(scale_factor=2), 0),
    Case("concat", ((4, 6, 6), (2, 6, 6)), "concat x0 x1", lambda: Fn(lambda a, b: torch.cat([a, b], 1)), 0),
    Case("add", ((4, 6, 6), (4, 6, 6)), "add x0 x1", lambda: Fn(torch.add), 0),
    Case("mul", ((4, 6, 6), (4,)), "mul x0 x1", lambda: Fn(lambda a, b: a * b[:, :, None, None]), 0),
    Case("batchnorm", ((4, 6, 6),), "batchnorm", lambda: nn.BatchNorm2d(4), 0),
    Case("lrn", ((8, 6, 6),), "lrn 5", lambda: nn.LocalResponseNorm(5), 0),
    Case("maxpool", ((3, 8, 8),), "maxpool 3 stride=2 pad=1 ceil", lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), 0),
    Case("avgpool", ((3, 8, 8),), "avgpool 3 stride=2 pad=1", lambda: nn.AvgPool2d(3, 2, 1), 0),
    Case("globalavgpool", ((3, 5, 5),), "globalavgpool", lambda: Fn(lambda x: x.mean((2, 3))), 0),
    Case("globalmaxpool", ((3, 5, 5),), "globalmaxpool", lambda: Fn(lambda x: x.amax((2, 3))), 0),
    Case("adaptiveavgpool", ((3, 7, 7),), "adaptiveavgpool 3", lambda: nn.AdaptiveAvgPool2d(3), 0),
    Case("adaptivemaxpool", ((3, 7, 7),), "adaptivemaxpool (2, 3)", lambda: nn.AdaptiveMaxPool2d((2, 3)), 0),
    # one multiply by the coefficient per output unit
    Case("subsample", ((3, 8, 8),), "subsample 2", lambda: Subsample(3, 2), 3 * 4 * 4),
    Case("relu", ((3, 4, 4),), "relu", lambda: nn.ReLU(), 0),
    Case("relu6", ((3, 4, 4),), "relu6", lambda: nn.ReLU6(), 0),
    Case("gelu", ((3, 4, 4),), "gelu", lambda: nn.GELU(), 0),
    Case("silu", ((3, 4, 4),), "silu", lambda: nn.SiLU(), 0),
    Case("tanh", ((3, 4, 4),), "tanh", lambda: nn.Tanh(), 0),
    Case("sigmoid", ((3, 4, 4),), "sigmoid", lambda: nn.Sigmoid(), 0),
    Case("hardswish", ((3, 4, 4),), "hardswish", lambda: nn.Hardswish(), 0),
    Case("hardsigmoid", ((3, 4, 4),), "hardsigmoid", lambda: nn.Hardsigmoid(), 0),
    Case("leakyrelu", ((3, 4, 4),), "leakyrelu 0.2", lambda: nn.LeakyReLU(0.2), 0),
    Case("elu", ((3, 4, 4),), "elu 0.5", lambda: nn.ELU(0.5), 0),
    Case("prelu", ((3, 4, 4),), "prelu", lambda: nn.PReLU(3), 0),
    Case("softmax", ((10,),), "softmax", lambda: nn.Softmax(1), 0),
    # the same kinds in other ranks and modes, and by their other names
    Case("conv", ((3, 7, 7),), "conv 4 3 pad=same dilation=2", conv(3, 4, 3, padding="same", dilation=2),
         4 * 7 * 7 * 9 * 3, True),
    Case("dense", ((7,),), "fc 5 bias=false", lambda: nn.Linear(7, 5, bias=False), 7 * 5, True),
    Case("rbf", ((6,),), "rbf 4 trainable", lambda: RBF(6, 4).requires_grad_(True), 6 * 4),
    Case("batchnorm", ((4, 10),), "bn", lambda: nn.BatchNorm1d(4), 0),
    Case("batchnorm", ((2, 3, 4, 4),), "bn affine=false", lambda: nn.BatchNorm3d(2, affine=False), 0),
    Case("maxpool", ((3, 9),), "maxpool 3", lambda: nn.MaxPool1d(3), 0),
    Case("avgpool", ((2, 6, 6, 6),), "avgpool 2", lambda: nn.AvgPool3d(2), 0),
    Case("globalavgpool", ((3, 5, 5),), "gap keepdims", lambda: nn.AdaptiveAvgPool2d(1), 0),
    Case("upsample", ((3, 4, 4),), "upsample 2 mode=bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), 0),
    Case("convtranspose", ((3, 5),), "deconv 2 3 stride=2 pad=1 output_padding=1",
         lambda: nn.ConvTranspose1d(3, 2, 3, 2, 1, 1), 3 * 5 * 2 * 3, True),
    # tensors that are not images: tokens (L×D), any rank, and the layers that reshape them
    Case("reshape", ((3, 4, 4),), "reshape 12x4", lambda: Fn(lambda x: torch.reshape(x, (x.shape[0], 12, 4))), 0),
    Case("reshape", ((3, 4, 4),), "reshape (-1, 8)", lambda: Fn(lambda x: x.reshape(x.shape[0], 6, 8)), 0),
    Case("flatten", ((3, 4, 4),), "flatten start=1", lambda: nn.Flatten(2), 0),
    Case("flatten", ((2, 3, 4, 5),), "flatten start=0 end=1", lambda: nn.Flatten(1, 2), 0),
    Case("transpose", ((3, 16),), "transpose", lambda: Fn(lambda x: x.transpose(1, 2)), 0),
    Case("permute", ((3, 4, 5),), "permute (1, 2, 0)", lambda: Fn(lambda x: x.permute(0, 2, 3, 1)), 0),
    Case("chunk", ((6, 4, 4),), "chunk 2 1", lambda: Fn(lambda x: x.chunk(2, 1)[1]), 0),
    Case("split", ((5, 12),), "split (4, 6, 2) 1 axis=-1", lambda: Fn(lambda x: torch.split(x, [4, 6, 2], -1)[1]), 0),
    Case("channel_shuffle", ((6, 4, 4),), "channel_shuffle 3", lambda: nn.ChannelShuffle(3), 0),
    Case("select", ((5, 8),), "select 0", lambda: Fn(lambda x: x[:, 0]), 0),
    Case("select", ((5, 8),), "token 2 axis=-1", lambda: Fn(lambda x: x[:, :, 2]), 0),
    Case("mean", ((5, 8),), "mean 0", lambda: Fn(lambda x: x.mean(1)), 0),
    Case("mean", ((3, 4, 4),), "mean -1 keep", lambda: Fn(lambda x: x.mean(-1, keepdim=True)), 0),
    Case("param", ((3, 4, 4),), "param 1x4", lambda: Token(1, 4), 0),
    # dense on the last axis: tokens · in · units
    Case("dense", ((5, 8),), "dense 6 axis=-1", lambda: nn.Linear(8, 6), 5 * 8 * 6, True),
    Case("dense", ((3, 4, 8),), "linear 6 axis=-1 bias=false", lambda: nn.Linear(8, 6, bias=False),
         3 * 4 * 8 * 6, True),
    Case("layernorm", ((5, 8),), "layernorm", lambda: nn.LayerNorm(8), 0),
    Case("layernorm", ((4, 3, 3),), "ln axes=2 eps=1e-6", lambda: nn.LayerNorm((3, 3), eps=1e-6), 0),
    Case("layernorm", ((4, 3, 3),), "layernorm channels_first eps=1e-6", lambda: LayerNorm2d(4, eps=1e-6), 0),
    Case("groupnorm", ((4, 3, 3),), "groupnorm 2", lambda: nn.GroupNorm(2, 4), 0),
    Case("groupnorm", ((6, 5),), "gn 3 affine=false", lambda: nn.GroupNorm(3, 6, affine=False), 0),
    Case("layerscale", ((4, 3, 3),), "layerscale 0.5", lambda: Scale(4, 1, 1), 0),
    Case("layerscale", ((5, 8),), "layerscale 0.5 axis=-1", lambda: Scale(8), 0),
    Case("stochasticdepth", ((4, 3, 3),), "stochasticdepth 0.2", lambda: Fn(lambda x: x), 0),  # identity in eval
    Case("resize", ((3, 4, 4),), "resize 7x7", lambda: Fn(lambda x: F.interpolate(x, size=(7, 7), mode="bilinear")), 0),
    Case("resize_like", ((3, 4, 4), (1, 9, 9)), "resize_like x0 x1",
         lambda: Fn(lambda a, b: F.interpolate(a, size=b.shape[-2:], mode="bilinear")), 0),
    # attention: projections 4·L·D² + QKᵀ and AV 2·L²·D (FlopCounterMode misses the fused products)
    Case("attention", ((6, 8),), "attention 2", lambda: SelfAttention(8, 2), 4 * 6 * 8 * 8 + 2 * 6 * 6 * 8),
    Case("attention", ((5, 12),), "mha 3 bias=false", lambda: SelfAttention(12, 3, bias=False),
         4 * 5 * 12 * 12 + 2 * 5 * 5 * 12),
    # causal: the same count, the full L×L products as the dense kernels compute them
    Case("attention", ((6, 8),), "attention 2 causal", lambda: CausalSelfAttention(8, 2),
         4 * 6 * 8 * 8 + 2 * 6 * 6 * 8),
    # windows: L the padded positions (6×6), window² = 9 tokens: 4·L·C² + 2·L·9·C
    Case("window_attention", ((5, 5, 8),), "window_attention 2 window=3 shift=1",
         lambda: ShiftedWindowAttention(8, 3, 1, 2), 4 * 36 * 8 * 8 + 2 * 36 * 9 * 8, True),
    Case("window_attention", ((4, 4, 8),), "window_attention 4 window=2",
         lambda: ShiftedWindowAttention(8, 2, 0, 4), 4 * 16 * 8 * 8 + 2 * 16 * 4 * 8, True),
    # products of two tensors: torch.matmul / torch.einsum on each sample; the output's elements × k
    Case("matmul", ((6, 8), (8, 5)), "matmul x0 x1", lambda: Fn(torch.matmul), 6 * 8 * 5, True),
    Case("matmul", ((3, 6, 8), (8, 5)), "matmul x0 x1",
         lambda: Fn(lambda a, b: torch.stack([torch.matmul(x, y) for x, y in zip(a, b)])), 3 * 6 * 8 * 5, True),
    Case("matmul", ((8,), (2, 8, 5)), "bmm x0 x1",
         lambda: Fn(lambda a, b: torch.stack([torch.matmul(x, y) for x, y in zip(a, b)])), 2 * 8 * 5, True),
    Case("einsum", ((4, 6, 8), (4, 5, 8)), 'einsum "hqd,hkd->hqk" x0 x1',
         lambda: Fn(lambda a, b: torch.einsum("bhqd,bhkd->bhqk", a, b)), 4 * 6 * 5 * 8, True),
    Case("einsum", ((6, 8), (8, 5)), 'einsum "ij,jk" x0 x1',
         lambda: Fn(lambda a, b: torch.stack([torch.einsum("ij,jk", x, y) for x, y in zip(a, b)])), 6 * 8 * 5, True),
]
ENDS = {"input", "output"}  # a network's ends, not layers
IDS = [f"{c.kind}:{c.stmt}" for c in CASES]


def spec(c: Case) -> str:
    lines = [f"    x{i} = input {'x'.join(map(str, s))}" for i, s in enumerate(c.inputs)]
    if len(c.inputs) == 1:
        lines = [f"    input {'x'.join(map(str, c.inputs[0]))}"]
    return "network t:\n" + "\n".join(lines) + f"\n    {c.stmt}\n"


def layer(c: Case) -> archspec.Row:
    rows = [r for r in archspec.analyze(spec(c)).rows if r.kind not in ENDS]
    assert len(rows) == 1, rows
    return rows[0]


def float_buffers(m: Any) -> int:
    return sum(b.numel() for b in m.buffers() if b.is_floating_point())


def test_every_kind_has_a_row() -> None:
    from test_kinds_table_sequence import CASES as SEQUENCE  # the rows of kinds that read token ids

    kinds = {k.name for k in REGISTRY.values()} - ENDS
    assert kinds - {c.kind for c in CASES} - {c.kind for c in SEQUENCE} == set()
    for c in CASES:
        assert REGISTRY[c.stmt.split()[0]].name == c.kind, c


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_shape_parameters_and_buffers_agree_with_pytorch(c: Case) -> None:
    torch.manual_seed(0)
    ref = c.module()
    xs = [torch.randn(2, *s) for s in c.inputs]
    row = layer(c)
    assert row.kind == c.kind
    assert row.output_shape == tuple(ref.eval()(*xs).shape[1:])
    assert row.params == sum(p.numel() for p in ref.parameters())
    assert row.trainable_params == sum(p.numel() for p in ref.parameters() if p.requires_grad)
    assert row.buffers == float_buffers(ref)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_macs(c: Case) -> None:
    assert layer(c).macs == c.macs
    if c.counted:
        from torch.utils.flop_counter import FlopCounterMode

        ref = c.module().eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            ref(*[torch.randn(1, *s) for s in c.inputs])
        assert counter.get_total_flops() == 2 * c.macs


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_compiled_layer_gives_pytorchs_outputs_on_ported_weights(c: Case) -> None:
    torch.manual_seed(1)
    ref = c.module().eval()
    for p in ref.parameters():  # not the initial values (PReLU's 0.25, ones and zeros of batch norm)
        p.data.normal_()
    for b in ref.buffers():
        if b.is_floating_point():
            b.data.uniform_(0.5, 1.5)
    model = archspec.compile(spec(c)).eval()
    archspec.port_weights(model, ref)
    xs = [torch.randn(2, *s) for s in c.inputs]
    with torch.no_grad():
        torch.testing.assert_close(model(*xs), ref(*xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool", ["gap", "globalmaxpool", "adaptiveavgpool 1", "adaptivemaxpool (1, 1)"])
def test_pooling_to_one_unit_ends_the_field_as_global_pooling_does(pool: str) -> None:
    # ACCEPTANCE.md (seed 003): two stacked 3×3 convolutions see 5×5; pooling each map to one unit makes the
    # network global, whichever kind writes it (adaptive pooling to 1×1 reported 9×9 before)
    a = archspec.analyze(f"network t:\n    input 3x9x9\n    conv 4 3\n    conv 4 3\n    {pool}\n")
    assert a.totals.receptive_field == [5, 5]
