"""DenseNet-BC 121 and 201 (Huang et al. 2017): k = 32, bottleneck 4k, compression 0.5."""

import pytest
from zoo_helpers import input_of, output_of

import archspec

FIGURES = {121: (7_978_856, 83_648, 2_834_161_664), 201: (20_013_928, 229_056, 4_291_365_888)}


@pytest.mark.parametrize("depth", sorted(FIGURES))
def test_figures(depth):
    params, buffers, macs = FIGURES[depth]
    a = archspec.analyze("densenet", depth=depth)
    assert (a.totals.params, a.totals.buffers, a.totals.macs) == (params, buffers, macs)
    assert a.outputs == {"out": (1000,)}


def test_blocks_and_transitions():
    a = archspec.analyze("densenet", depth=121)
    # channels: 64 + 6·32 = 256 → 128; 128 + 12·32 = 512 → 256; 256 + 24·32 = 1024 → 512; 512 + 16·32 = 1024
    assert [output_of(a, f"dense_block{i}") for i in range(1, 5)] == [
        (256, 56, 56), (512, 28, 28), (1024, 14, 14), (1024, 7, 7)]
    assert [output_of(a, f"transition{i}") for i in range(1, 4)] == [(128, 28, 28), (256, 14, 14), (512, 7, 7)]
    # a dense layer reads every earlier map: its bottleneck conv sees 64 + 5·32 maps in the sixth layer
    assert input_of(a, "dense_block1.dense_layer6.new.conv1") == (224, 56, 56)
    assert a.row("dense_block1.dense_layer6.new.conv1").params == 224 * 128
    assert sum(1 for r in a.rows if r.kind == "conv") == 121 - 1  # 120 convolutions and the classifier


def test_bn_relu_conv_order_and_final_bn():
    a = archspec.analyze("densenet", depth=121)
    kinds = [r.kind for r in a.rows if r.block == "dense_block1.dense_layer1.new"]
    assert kinds == ["batchnorm", "relu", "conv", "batchnorm", "relu", "conv"]
    assert [r.kind for r in a.rows if r.block == ""][-5:] == ["batchnorm", "relu", "globalavgpool", "dense", "softmax"]
