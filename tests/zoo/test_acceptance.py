"""The figures of ../shared/ACCEPTANCE.md for the issue-2 specs and the course exercises, asserted exactly."""

import pytest

import archspec

EX = "archspec/specs/exercises/"


@pytest.mark.parametrize(("spec", "params", "trainable", "macs", "output"), [
    ("lenet5", 61_706, 61_706, 416_520, (10,)),
    ("mnist_mlp", 669_706, 669_706, 668_672, (10,)),
    ("mnist_cnn", 1_199_882, 1_199_882, 11_992_448, (10,)),
    ("catsdogs_cnn", 1_212_513, 1_212_513, 89_192_000, (1,)),
    ("vgg16", 138_357_544, 138_357_544, 15_470_264_320, (1000,)),
    ("alexnet", 60_965_224, 60_965_224, 724_406_816, (1000,)),
    ("mobilenet_v1", 4_231_976, 4_231_976, 568_740_352, (1000,)),
])
def test_seed_zoo(spec, params, trainable, macs, output):
    a = archspec.analyze(spec)
    assert a.totals.params == params
    assert a.totals.trainable_params == trainable
    assert a.totals.macs == macs
    assert a.outputs == {"out": output}


def test_mobilenet_buffers_and_keras_total():
    t = archspec.analyze("mobilenet_v1").totals
    assert t.buffers == 21_888
    assert t.params + t.buffers == 4_253_864  # Keras counts the moving statistics as non-trainable


def test_flatten_sizes():
    assert archspec.analyze("mnist_cnn").row("flatten1").output_shape == (9216,)
    assert archspec.analyze("catsdogs_cnn").row("flatten1").output_shape == (18_496,)


def test_vgg16_transfer():
    a = archspec.analyze("vgg16_transfer")
    assert a.totals.params == 15_239_105
    base = [r for r in a.rows if r.block.startswith("stage")]
    assert sum(r.params for r in base) == 14_714_688
    assert a.row("stage5.maxpool1").output_shape == (512, 4, 4)
    frozen = archspec.analyze("vgg16_transfer", frozen_stages=5).totals
    assert (frozen.trainable_params, frozen.non_trainable_params) == (524_417, 14_714_688)  # seed 004's head


def test_vgg16_stage_sizes():
    a = archspec.analyze("vgg16")
    assert [a.row(f"stage{i}.maxpool1").output_shape[1] for i in range(1, 6)] == [112, 56, 28, 14, 7]


def test_alexnet_shapes():
    a = archspec.analyze("alexnet")
    assert a.row("conv1").output_shape == (96, 55, 55)
    assert a.row("maxpool3").output_shape == (256, 6, 6)


def test_dense_vs_conv_exercise():
    dense = archspec.analyze(EX + "dense_vs_conv.arch", layer="dense")
    conv = archspec.analyze(EX + "dense_vs_conv.arch", layer="conv")
    assert dense.totals.params == 25_166_336
    assert conv.totals.params == 14_336
    assert conv.outputs["out"] == (512, 126, 126)


def test_inception_reduction_exercise():
    plain = archspec.analyze(EX + "inception_reduction.arch")
    reduced = archspec.analyze(EX + "inception_reduction.arch", reduce=16)
    assert (plain.totals.macs, plain.totals.params) == (120_422_400, 153_600)
    assert reduced.totals.macs == 12_443_648
    assert [r.params for r in reduced.rows if r.kind == "conv"] == [3_072, 12_800]


def test_bottleneck_weights_exercise():
    assert archspec.analyze(EX + "bottleneck_weights.arch").totals.params == 221_184
    assert archspec.analyze(EX + "bottleneck_weights.arch", reduce=16).totals.params == 21_504


def test_fully_connected_exercises():
    assert archspec.analyze(EX + "fully_connected.arch").totals.params == 615_440
    big = archspec.analyze(EX + "fully_connected.arch", side=200, units=40_000, bias=False)
    assert big.totals.params == 1_600_000_000


@pytest.mark.parametrize(("side", "f", "s", "pad", "out"), [
    (32, 5, 1, "valid", 28), (32, 5, 1, "same", 32), (32, 5, 1, "full", 36),
    (7, 3, 2, 1, 4), (224, 7, 2, 3, 112), (227, 11, 4, 0, 55), (5, 3, 2, "same", 3),
])
def test_output_size_formula(side, f, s, pad, out):
    # ⌊(h + 2p − f)/s⌋ + 1, and seed 002's valid/same/full
    a = archspec.analyze(EX + "output_size.arch", side=side, f=f, s=s, pad=pad)
    assert a.outputs["out"] == (1, out, out)
