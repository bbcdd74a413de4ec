"""U-Net (Ronneberger et al. 2015) and V-Net (Milletari et al. 2016)."""

from zoo_helpers import output_of, params_in

import archspec


def test_unet():
    a = archspec.analyze("unet")
    assert a.totals.params == 31_030_658
    assert a.outputs == {"out": (2, 388, 388)}
    assert a.inputs == {"input": (1, 572, 572)}
    # the contracting path's sizes (Fig. 1) and the crops of the skips
    assert [output_of(a, s) for s in ("e1", "e2", "e3", "e4", "down1")] == [
        (64, 568, 568), (128, 280, 280), (256, 136, 136), (512, 64, 64), (1024, 28, 28)]
    assert [a.row(f"up{i}.concat1").output_shape for i in range(1, 5)] == [
        (1024, 56, 56), (512, 104, 104), (256, 200, 200), (128, 392, 392)]
    assert a.row("up1.convtranspose1").params == 1024 * 512 * 4 + 512


def test_unet_other_tile():
    a = archspec.analyze("unet", input="1x476x476")  # a smaller valid tile
    assert a.outputs == {"out": (2, 292, 292)}


def test_vnet_volume_in_volume_out():
    a = archspec.analyze("vnet")
    assert a.inputs == {"input": (1, 128, 128, 64)}
    assert a.outputs == {"out": (2, 128, 128, 64)}
    b = archspec.analyze("vnet", input="1x64x64x32")
    assert b.outputs == {"out": (2, 64, 64, 32)}
    assert b.totals.params == a.totals.params  # fully convolutional


def test_vnet_stages():
    a = archspec.analyze("vnet")
    left = [output_of(a, s) for s in ("s1", "s2", "s3", "s4", "down1")]
    assert left == [(16, 128, 128, 64), (32, 64, 64, 32), (64, 32, 32, 16), (128, 16, 16, 8), (256, 8, 8, 4)]
    right = [output_of(a, f"up{i}") for i in range(1, 5)]
    assert right == [(256, 16, 16, 8), (128, 32, 32, 16), (64, 64, 64, 32), (32, 128, 128, 64)]


def test_vnet_one_stage_by_hand():
    a = archspec.analyze("vnet")
    # stage 2: a 2×2×2 stride-2 convolution 16 → 32 with PReLU, then two 5×5×5 convolutions 32 → 32 with PReLU
    down = 16 * 32 * 2**3 + 32 + 32
    conv = 32 * 32 * 5**3 + 32 + 32
    assert params_in(a, "s2") == down + 2 * conv == 260_288
    # stage 1: one 5×5×5 convolution 1 → 16 and its PReLU; the residual adds the broadcast input
    assert params_in(a, "s1") == 1 * 16 * 125 + 16 + 16
    assert a.row("s1.add1").output_shape == (16, 128, 128, 64)
    # an up stage: up-convolution 256 → 128, concat with the 128 maps of s4, three 5×5×5 convolutions at 256
    assert a.row("up1.concat1").output_shape == (256, 16, 16, 8)
    assert params_in(a, "up1") == (256 * 128 * 8 + 128 + 128) + 3 * (256 * 256 * 125 + 256 + 256)
