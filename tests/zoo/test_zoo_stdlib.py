"""The standard library of blocks (archspec/stdlib, `use "std/NAME"`), usable from any spec."""

import pytest

import archspec
from archspec.lang.load import stdlib_dir


def spec(body: str, uses: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f'use "std/{uses}"\nnetwork t:\n{lines}\n'


def test_every_library_file_loads():
    names = sorted(p.stem for p in stdlib_dir().glob("*.arch"))
    assert {"densenet", "fire", "inception", "mobilenet", "resnet", "se", "separable", "transformer"} <= set(names)
    for name in names:
        s = archspec.load("t", text=f'use "std/{name}"\nnetwork t:\n    input 3x8x8\n')
        assert s.source.blocks, name


def test_inception_module():
    a = archspec.analyze(archspec.load("t", text=spec("input 192x28x28\ninception(64, 96, 128, 16, 32, 32)",
                                                      "inception")))
    assert a.outputs == {"out": (256, 28, 28)}
    # GoogLeNet's 3a: 1×1 64; 1×1 96 → 3×3 128; 1×1 16 → 5×5 32; pool → 1×1 32 (with biases)
    assert a.totals.params == (192 * 64 + 64) + (192 * 96 + 96 + 96 * 128 * 9 + 128) + \
        (192 * 16 + 16 + 16 * 32 * 25 + 32) + (192 * 32 + 32)


def test_se_gate():
    a = archspec.analyze(archspec.load("t", text=spec("input 64x8x8\nsqueeze_excite(16)", "se")))
    assert a.outputs == {"out": (64, 8, 8)}
    assert a.totals.params == 64 * 4 + 4 + 4 * 64 + 64


def test_separable_and_fire():
    a = archspec.analyze(archspec.load("t", text=spec("input 32x10x10\nsepconv(64, stride=2)", "separable")))
    assert a.outputs == {"out": (64, 5, 5)}
    assert a.totals.params == 9 * 32 + 32 * 64
    b = archspec.analyze(archspec.load("t", text=spec("input 96x54x54\nfire(16, 64, 64)", "fire")))
    assert b.outputs == {"out": (128, 54, 54)}


@pytest.mark.parametrize(("call", "out"), [("basic(64)", (64, 8, 8)), ("basic(128, 2)", (128, 4, 4)),
                                           ("bottleneck(64)", (256, 8, 8)), ("bottleneck(64, 2, se=16)", (256, 4, 4))])
def test_residual_blocks(call, out):
    a = archspec.analyze(archspec.load("t", text=spec(f"input 64x8x8\n{call}", "resnet")))
    assert a.outputs == {"out": out}


def test_dense_layer_and_transition():
    a = archspec.analyze(archspec.load("t", text=spec("input 64x8x8\ndense_block(3)\ntransition()", "densenet")))
    assert a.outputs == {"out": (80, 4, 4)}  # 64 + 3·32 = 160 maps, halved


def test_unknown_library_file_lists_the_library():
    from archspec.diagnostics import SpecError

    with pytest.raises(SpecError) as e:
        archspec.load("t", text='use "std/nope"\nnetwork t:\n    input 3\n')
    assert "std/resnet" in str(e.value.diagnostic.expected)


# -- blocks written after torchvision's modules: the same parameters, and on ported weights the same outputs --

def _same_as(uses: str, body: str, shape: tuple[int, ...], hand):  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    src = archspec.load("t", text=spec(f"input {'x'.join(map(str, shape))}\n{body}", uses))
    a = archspec.analyze(src)
    assert a.totals.params == sum(p.numel() for p in hand.parameters())
    assert a.totals.buffers == sum(b.numel() for b in hand.buffers() if b.is_floating_point())
    torch.manual_seed(0)
    for p in hand.parameters():
        p.data.normal_(0, 0.2)
    for b in hand.buffers():
        if b.is_floating_point():
            b.data.uniform_(0.5, 1.5)
    model = archspec.compile(src).eval()
    archspec.port_weights(model, hand.eval())
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), hand(x), rtol=1e-5, atol=1e-5)


def _inverted_residual(inp: int, oup: int, stride: int, expand_ratio: int):  # type: ignore[no-untyped-def]
    """torchvision.models.mobilenetv2.InvertedResidual (Conv2dNormActivation written out)."""
    from torch import nn

    class InvertedResidual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            hidden_dim = int(round(inp * expand_ratio))  # noqa: RUF046 (torchvision's line)
            self.use_res_connect = stride == 1 and inp == oup
            layers: list[nn.Module] = []
            if expand_ratio != 1:
                layers += [nn.Sequential(nn.Conv2d(inp, hidden_dim, 1, bias=False), nn.BatchNorm2d(hidden_dim),
                                         nn.ReLU6(inplace=True))]
            layers += [nn.Sequential(nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1, groups=hidden_dim, bias=False),
                                     nn.BatchNorm2d(hidden_dim), nn.ReLU6(inplace=True)),
                       nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    return InvertedResidual()


@pytest.mark.parametrize(("args", "inp", "oup", "stride", "t"), [
    ("24, 2, 6", 16, 24, 2, 6), ("16", 16, 16, 1, 6), ("8, 1, 1", 16, 8, 1, 1), ("16, 1, 1", 16, 16, 1, 1)])
def test_inverted_residual_as_torchvision(args, inp, oup, stride, t):
    _same_as("mobilenet", f"inverted_residual({args})", (inp, 8, 8), _inverted_residual(inp, oup, stride, t))


def _squeeze_excitation(c: int, squeeze: int, hard: bool):  # type: ignore[no-untyped-def]
    """torchvision.ops.SqueezeExcitation."""
    from torch import nn

    class SqueezeExcitation(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, c, 1)
            self.activation = nn.ReLU()
            self.scale_activation = nn.Hardsigmoid() if hard else nn.Sigmoid()

        def forward(self, input):  # type: ignore[no-untyped-def]
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(input)))))
            return scale * input

    return SqueezeExcitation()


@pytest.mark.parametrize("hard", [False, True])
def test_squeeze_excite_conv_as_torchvision(hard):
    gate = ', gate="hardsigmoid"' if hard else ""
    _same_as("se", f"squeeze_excite_conv(8{gate})", (24, 5, 5), _squeeze_excitation(24, 8, hard))


def _encoder_block(heads: int, d: int, mlp_dim: int):  # type: ignore[no-untyped-def]
    """torchvision.models.vision_transformer.EncoderBlock (and its MLPBlock)."""
    from torch import nn

    class EncoderBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(d, eps=1e-6)
            self.self_attention = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
            self.dropout = nn.Dropout(0.0)
            self.ln_2 = nn.LayerNorm(d, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(d, mlp_dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp_dim, d),
                                     nn.Dropout(0.0))

        def forward(self, input):  # type: ignore[no-untyped-def]
            x = self.ln_1(input)
            x, _ = self.self_attention(x, x, x, need_weights=False)
            x = self.dropout(x) + input
            return x + self.mlp(self.ln_2(x))

    return EncoderBlock()


def test_transformer_encoder_block_as_torchvision():
    from torch import nn

    _same_as("transformer", "encoder_block(4, 64)\nencoder_block(4, 64, dropout=0.1)", (7, 32),
             nn.Sequential(_encoder_block(4, 32, 64), _encoder_block(4, 32, 64)))
