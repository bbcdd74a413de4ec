"""Normalisation and friends (issue 13): layer norm over the last axes and over the channels of a map
(ConvNeXt's LayerNorm2d), group norm, layer scale, stochastic depth, learned tensors (class token,
position embedding), resizing. Each compared with PyTorch's own modules, or torchvision's code written
out here, on random inputs with the same (random) weights; parameters with numel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


def _spec(shape: str, body: str) -> str:
    return f"network t:\n    input {shape}\n" + "".join(f"    {line}\n" for line in body.splitlines())


def _randomise(m: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p))
    return m


def _same(body: str, shape: str, ref: nn.Module, x: torch.Tensor, train: bool = False) -> archspec.Analysis:
    src = _spec(shape, body)
    a = archspec.analyze(src)
    m = archspec.compile(src)
    _randomise(ref)
    archspec.port_weights(m, ref)
    m.train(train)
    ref.train(train)
    with torch.no_grad():
        torch.manual_seed(3)
        y = m(x)
        torch.manual_seed(3)
        assert torch.equal(y, ref(x))
    assert tuple(y.shape[1:]) == a.outputs["out"]
    assert a.totals.params == sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in m.parameters())
    return a


class LayerNorm2d(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d, as written there."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Lambda(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def stochastic_depth(x, p, mode, training=True):
    """torchvision.ops.stochastic_depth, as written there."""
    if not training or p == 0.0:
        return x
    survival_rate = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return x * noise


class LayerScaled(nn.Module):
    """ConvNeXt's CNBlock's scale: a C×1×1 parameter."""

    def __init__(self, dim, layer_scale=1e-6):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        return self.layer_scale * x


def test_layernorm_last_axis():
    _same("layernorm eps=1e-6", "7x12", nn.LayerNorm(12, eps=1e-6), torch.randn(2, 7, 12))


def test_layernorm_last_two_axes():
    _same("layernorm axes=2", "3x7x12", nn.LayerNorm((7, 12)), torch.randn(2, 3, 7, 12))


def test_layernorm_without_bias_and_affine():
    a = _same("layernorm bias=false", "7x12", nn.LayerNorm(12, bias=False), torch.randn(2, 7, 12))
    assert a.totals.params == 12
    assert archspec.analyze(_spec("7x12", "layernorm affine=false")).totals.params == 0


def test_layernorm_over_channels_is_convnext_layernorm2d():
    _same("layernorm channels_first eps=1e-6", "16x5x6", LayerNorm2d(16, eps=1e-6), torch.randn(2, 16, 5, 6))


def test_groupnorm():
    _same("groupnorm 4", "16x5x6", nn.GroupNorm(4, 16), torch.randn(2, 16, 5, 6))


def test_layerscale_per_channel_of_a_map():
    a = _same("layerscale 1e-6", "16x5x6", LayerScaled(16), torch.randn(2, 16, 5, 6))
    assert a.totals.params == 16
    m = archspec.compile(_spec("16x5x6", "layerscale 0.5"))
    (p,) = m.parameters()
    assert p.shape == (16, 1, 1) and torch.equal(p, torch.full((16, 1, 1), 0.5))


def test_layerscale_on_tokens():
    m = archspec.compile(_spec("7x12", "layerscale 0.1 axis=-1"))
    (p,) = m.parameters()
    assert p.shape == (12,)
    x = torch.randn(2, 7, 12)
    assert torch.equal(m(x), x * p)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_as_torchvision(mode):
    x = torch.randn(64, 4, 3, 3)
    a = _same(f"stochasticdepth 0.3 mode={mode}", "4x3x3", Lambda(lambda t: stochastic_depth(t, 0.3, mode)),
              x, train=True)
    assert a.totals.params == a.totals.macs == 0
    m = archspec.compile(_spec("4x3x3", f"stochasticdepth 0.3 mode={mode}")).eval()
    assert torch.equal(m(x), x)  # identity at inference


def test_class_token_and_position_embedding_as_vit():
    """torchvision's VisionTransformer: a 1×1×D class token expanded along the batch and put first, then
    a 1×(L+1)×D position embedding added."""

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.class_token = nn.Parameter(torch.zeros(1, 1, 12))
            self.pos_embedding = nn.Parameter(torch.empty(1, 8, 12).normal_(std=0.02))

        def forward(self, x):
            batch_class_token = self.class_token.expand(x.shape[0], -1, -1)
            x = torch.cat([batch_class_token, x], dim=1)
            return x + self.pos_embedding

    body = "tokens = _\ncls = param 1x12\nseq = concat cls tokens\npos = param 8x12 init=normal\nadd seq pos"
    a = _same(body, "7x12", Ref(), torch.randn(3, 7, 12))
    assert a.totals.params == 12 + 8 * 12
    assert a.row("cls").params == 12


def test_resize_to_a_size_and_to_another_tensor():
    x = torch.randn(2, 5, 7, 9)
    y, _ = _run_plain("resize 13x10", "5x7x9", x)
    assert torch.equal(y, F.interpolate(x, size=(13, 10), mode="bilinear", align_corners=False))
    body = "image = _\nconv 4 3x3 stride=2\nresize_like _ image"
    src = _spec("5x7x9", body)
    m = archspec.compile(src).eval()
    conv = next(mod for mod in m.modules() if isinstance(mod, nn.Conv2d))
    with torch.no_grad():
        assert torch.equal(m(x), F.interpolate(conv(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
    assert archspec.analyze(src).outputs["out"] == (4, 7, 9)


def _run_plain(body: str, shape: str, x: torch.Tensor):
    src = _spec(shape, body)
    m = archspec.compile(src).eval()
    with torch.no_grad():
        return m(x), archspec.analyze(src)


@pytest.mark.parametrize(("shape", "body", "words"), [
    ("16x5x6", "groupnorm 5", "5 groups"),
    ("7x12", "layernorm axes=3", "last 3 axes"),
    ("12", "layernorm channels_first", "channels-first map"),
    ("4x5x6", "resize_like _ _ _", "two tensors"),
])
def test_diagnostics(shape, body, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(_spec(shape, body))
    assert words in e.value.diagnostic.message and e.value.diagnostic.span is not None
