"""ResNet-18 to -152 from one spec (He et al. 2016), both stride placements, and SE-ResNet-50."""

import pytest
from zoo_helpers import output_of, params_in

import archspec

PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
BUFFERS = {18: 9_600, 34: 17_024, 50: 53_120, 101: 105_344, 152: 151_424}
MACS_PAPER = {18: 1_814_073_344, 34: 3_663_761_408, 50: 3_857_973_248, 101: 7_570_194_432,
              152: 11_282_415_616}
MACS_TORCHVISION = {18: 1_814_073_344, 34: 3_663_761_408, 50: 4_089_184_256, 101: 7_801_405_440,
                    152: 11_513_626_624}


@pytest.mark.parametrize("depth", sorted(PARAMS))
@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_figures(depth, variant):
    a = archspec.analyze("resnet", depth=depth, variant=variant)
    assert a.totals.params == PARAMS[depth]
    assert a.totals.trainable_params == PARAMS[depth]
    assert a.totals.buffers == BUFFERS[depth]
    assert a.totals.macs == (MACS_PAPER if variant == "paper" else MACS_TORCHVISION)[depth]
    assert a.outputs == {"out": (1000,)}


def test_paper_flops_are_multiply_adds():
    # He et al.'s Table 1 gives 1.8, 3.6, 3.8, 7.6, 11.3 ×10⁹ "FLOPs", which are multiply-adds; the paper
    # rounds 3.66 and 3.86 down
    paper = [1.8, 3.6, 3.8, 7.6, 11.3]
    for d, quoted in zip(sorted(PARAMS), paper):
        assert abs(archspec.analyze("resnet", depth=d).totals.macs / 1e9 - quoted) < 0.07


@pytest.mark.parametrize("depth", [18, 50])
def test_stage_sizes(depth):
    a = archspec.analyze("resnet", depth=depth)
    assert a.row("conv1").output_shape == (64, 112, 112)
    assert a.row("maxpool1").output_shape == (64, 56, 56)
    width = 1 if depth < 50 else 4
    assert [output_of(a, f"stage{i}") for i in range(1, 5)] == [
        (64 * width, 56, 56), (128 * width, 28, 28), (256 * width, 14, 14), (512 * width, 7, 7)]


def test_projection_shortcuts_only_where_the_shape_changes():
    a = archspec.analyze("resnet", depth=50)
    projections = sorted({r.block for r in a.rows if r.block.endswith(".shortcut") and r.kind == "conv"})
    assert projections == [f"stage{i}.bottleneck1.shortcut" for i in range(1, 5)]
    b = archspec.analyze("resnet", depth=18)
    projections = sorted({r.block for r in b.rows if r.block.endswith(".shortcut") and r.kind == "conv"})
    assert projections == [f"stage{i}.basic1.shortcut" for i in range(2, 5)]  # stage 1 keeps 64 maps


def test_stride_placement():
    paper = archspec.analyze("resnet", depth=50)
    tv = archspec.analyze("resnet", depth=50, variant="torchvision")
    assert paper.row("stage2.bottleneck1.residual.conv1").output_shape == (128, 28, 28)
    assert tv.row("stage2.bottleneck1.residual.conv1").output_shape == (128, 56, 56)
    assert tv.row("stage2.bottleneck1.residual.conv2").output_shape == (128, 28, 28)


def test_torchinfo_convention():
    a = archspec.analyze("resnet", depth=18, convention="torchinfo")
    assert round(a.totals.macs / 1e9, 6) == 1.814084  # torchinfo's "Total mult-adds (G)"


def test_unknown_variant_or_depth_is_a_diagnostic():
    from archspec.diagnostics import SpecError

    with pytest.raises(SpecError, match="not in"):
        archspec.analyze("resnet", variant="v2")
    with pytest.raises(SpecError, match="not in"):
        archspec.analyze("resnet", depth=42)


def test_se_resnet50():
    # SENet (Hu et al. 2018), reduction 16, gates with bias: 28,088,024 parameters as the authors' models
    a = archspec.analyze("resnet", depth=50, se=16)
    assert a.totals.params == 28_088_024
    assert a.totals.params - PARAMS[50] == 2_530_992
    # one gate on a 256-map block: 256·16 + 16 + 16·256 + 256
    assert params_in(a, "stage1.bottleneck1.residual.squeeze_excite1") == 8_464
    assert output_of(a, "stage1.bottleneck1.residual.squeeze_excite1") == (256, 56, 56)
    assert a.row("stage1.bottleneck1.residual.squeeze_excite1.gate.dense2").output_shape == (256,)


def test_se_resnet18():
    a = archspec.analyze("resnet", depth=18, se=16)
    extra = sum(2 * c * c // 16 + c // 16 + c for c, n in ((64, 2), (128, 2), (256, 2), (512, 2)) for _ in range(n))
    assert a.totals.params == PARAMS[18] + extra


@pytest.mark.parametrize(("depth", "field"), [(50, 483), (101, 1027), (152, 1507)])
def test_squeeze_and_excitation_gates_keep_the_receptive_field(depth: int, field: int) -> None:
    # Araujo et al. 2019 (Distill), Table 1: ResNet-50 483, -101 1027, -152 1507. An SE gate scales the map
    # by a vector from global pooling; the field of the map's units stays the convolutions' (before the fix,
    # every layer after the first gate counted as global and the network reported 19×19)
    for se in (0, 16):
        assert archspec.analyze("resnet", depth=depth, se=se).totals.receptive_field == [field, field]
