"""SqueezeNet, Xception and ZFNet: the course's "later networks" (seed 003)."""

import pytest
from zoo_helpers import output_of, params_in

import archspec


@pytest.mark.parametrize(("version", "params"), [(1.0, 1_248_424), (1.1, 1_235_496)])
def test_squeezenet(version, params):
    a = archspec.analyze("squeezenet", version=version)
    assert a.totals.params == params  # torchvision's squeezenet1_0 / squeezenet1_1
    assert a.outputs == {"out": (1000,)}
    assert a.totals.macs == {1.0: 818_924_576, 1.1: 349_151_936}[version]


def test_fire_module():
    a = archspec.analyze("squeezenet")
    # fire2: squeeze 96 → 16, expand 16 → 64 (1×1) and 16 → 64 (3×3)
    assert params_in(a, "fire1") == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 64 * 9 + 64)
    assert output_of(a, "fire1") == (128, 54, 54)
    assert output_of(a, "fire8") == (512, 13, 13)


def test_xception():
    a = archspec.analyze("xception")
    assert a.totals.params == 22_855_952  # Keras' trainable parameters
    assert a.totals.buffers == 54_528  # Keras' non-trainable ones (batch-norm moving statistics)
    assert a.totals.params + a.totals.buffers == 22_910_480
    assert a.outputs == {"out": (1000,)}
    assert [output_of(a, f"down{i}") for i in range(1, 5)] == [
        (128, 74, 74), (256, 37, 37), (728, 19, 19), (1024, 10, 10)]
    assert sum(1 for s in a.scopes if s.startswith("middle") and "." not in s) == 8
    # a separable convolution 728 → 728: depthwise 3·3·728, pointwise 728·728, no bias
    assert params_in(a, "middle1.residual.sepconv1") == 9 * 728 + 728 * 728


def test_zfnet():
    a = archspec.analyze("zfnet")
    sizes = [r.output_shape[1] for r in a.rows if r.kind in ("conv", "maxpool")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]  # Zeiler & Fergus, Fig. 3
    assert a.row("flatten1").output_shape == (9216,)
    assert a.totals.params == 62_357_608
    assert a.outputs == {"out": (1000,)}
