"""VGG: the figures of ../shared/ACCEPTANCE.md (and the VGG paper's configuration E)."""

import archspec


def test_vgg16_params_and_macs():
    a = archspec.analyze("vgg16")
    assert a.totals.params == 138_357_544
    assert a.totals.trainable_params == 138_357_544
    assert a.totals.macs == 15_470_264_320
    assert a.outputs == {"out": (1000,)}


def test_vgg19_by_parameter():
    a = archspec.analyze("vgg16", depth=19)
    assert a.totals.params == 143_667_240  # the paper's 144 M; torchvision's vgg19 counts the same


def test_vgg16_torchinfo_convention():
    a = archspec.analyze("vgg16", convention="torchinfo")
    assert round(a.totals.macs / 1e9, 6) == 15.483821  # torchinfo's "Total mult-adds (G)"
