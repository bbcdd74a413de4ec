"""Registration order: compiled modules list their weights as PyTorch lists a hand-written model's, so that
weights port by position (`archspec.port_weights`); docs/compile.md.

- learned tensors (`param`, `layerscale`) are their block's own parameters, which PyTorch lists before
  the block's submodules (torchvision's ViT `class_token`, ConvNeXt CNBlock's `layer_scale`);
- `register a, b` in a block: its module registers those layers first (Swin's PatchMerging registers
  `reduction` before `norm`, though `norm` runs first).
"""

from __future__ import annotations

import pytest

import archspec
from archspec.diagnostics import SpecError

torch = pytest.importorskip("torch")
nn = torch.nn


class Block(nn.Module):  # as torchvision's CNBlock: the scale is the block's own parameter
    def __init__(self, c: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.layer_scale = nn.Parameter(torch.randn(c, 1, 1))

    def forward(self, x):  # type: ignore[no-untyped-def]
        return x + self.layer_scale * self.block(x)


class Merge(nn.Module):  # as torchvision's PatchMerging: `reduction` registered before `norm`
    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(c, 2 * c, bias=False)
        self.norm = nn.LayerNorm(c)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.reduction(self.norm(x))


class Hand(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.randn(1, 1, 4))
        self.blocks = nn.Sequential(Block(4), Block(4))
        self.merge = Merge(4)

    def forward(self, x):  # type: ignore[no-untyped-def]
        x = self.blocks(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1)
        return self.merge(x)


SPEC = """network t:
    input 4x3x3
    block blk():
        add:
            branch residual:
                conv 4 3 pad=1 relu
                layerscale
            branch: identity
    block merge():
        norm = layernorm
        reduction = dense 8 axis=-1 bias=false
        register reduction, norm
    blk(); blk()
    flatten start=1
    transpose
    tokens = _
    cls = param (1, 4)
    concat cls tokens
    merge()
"""


def test_weights_port_by_position_from_pytorchs_own_order() -> None:
    torch.manual_seed(0)
    hand = Hand().eval()
    model = archspec.compile(SPEC).eval()
    pairs = archspec.port_weights(model, hand)
    assert list(pairs.values()) == list(hand.state_dict())
    assert next(iter(pairs)) == "cls"
    assert list(pairs)[-3:] == ["merge1.reduction.weight", "merge1.norm.weight", "merge1.norm.bias"]
    x = torch.randn(2, 4, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), hand(x))


def test_learned_tensors_are_their_blocks_own_parameters() -> None:
    model = archspec.compile(SPEC)
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "cls"
    assert "blk1.residual.layerscale1" in names
    assert names.index("blk1.residual.layerscale1") < names.index("blk1.residual.conv1.weight")
    assert archspec.analyze(SPEC).totals.params == sum(p.numel() for p in model.parameters())


def test_register_names_a_layer_of_its_block() -> None:
    bad = SPEC.replace("register reduction, norm", "register reduction, nrom")
    with pytest.raises(SpecError) as e:
        archspec.analyze(bad)
    assert e.value.diagnostic.code == "E205" and "nrom" in e.value.diagnostic.message


def test_register_only_at_a_blocks_top_level() -> None:
    with pytest.raises(SpecError) as e:
        archspec.analyze("network t:\n    input 4\n    a = dense 3\n    register a\n")
    assert e.value.diagnostic.code == "E201"


def test_register_is_formatted_back() -> None:
    from archspec.report.fmt import convert

    assert "        register reduction, norm\n" in convert(SPEC, "t.arch", "arch")
