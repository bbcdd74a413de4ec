"""The language: expressions, blocks, control, named tensors, outputs, naming of layers."""

import pytest

import archspec
from archspec.diagnostics import SpecError


def analyze(body: str, **kw):
    return archspec.analyze("network net(n = 2, flag = true):\n" + body, **kw)


def test_expressions_and_builtins():
    a = analyze("    input 3x32x32\n    let w = max(8, int(16 * 0.5)) * 2 ** 2\n    conv w 3x3 pad=1\n"
                "    conv channels // 2 3x3 pad=(1, 1)\n    dense_in = _\n    flatten\n    dense [10, 20][n - 1]\n")
    assert a.row("conv1").output_shape == (32, 32, 32)
    assert a.row("conv2").output_shape == (16, 32, 32)
    assert a.outputs["out"] == (20,)


def test_repeat_if_let_and_frozen():
    a = analyze("    input 8\n    repeat n as i:\n        if i == 0:\n            dense 4\n        else:\n"
                "            dense 4 + i\n    frozen flag:\n        dense 3\n")
    assert [r.output_shape for r in a.rows if r.kind == "dense"] == [(4,), (5,), (3,)]
    assert a.totals.non_trainable_params == 5 * 3 + 3
    assert a.row("dense3").frozen


def test_blocks_defaults_keywords_and_naming():
    a = analyze("    input 3x32x32\n    block b(c, k = 3):\n        conv c k pad=k // 2\n"
                "    b(8); b(c = 4, k = 5); x = b(2)\n")
    assert [r.name for r in a.rows if r.kind == "conv"] == ["b1.conv1", "b2.conv1", "x.conv1"]
    assert a.row("b2.conv1").params == 4 * 8 * 25 + 4


def test_nested_blocks_see_definer_parameters():
    a = archspec.analyze("network net(width = 6):\n    input 3x8x8\n    block outer(n):\n        block inner():\n"
                         "            conv width 1x1\n        repeat n:\n            inner()\n    outer(3)\n")
    assert [r.name for r in a.rows if r.kind == "conv"] == ["outer1.inner1.conv1", "outer1.inner2.conv1",
                                                             "outer1.inner3.conv1"]


def test_branches_named_tensors_and_outputs():
    a = analyze("    input 16x8x8\n    skip = _\n    y = concat:\n        branch: conv 8 1x1\n"
                "        branch left: conv 8 3x3 pad=1\n    add(y, skip)\n    out2 = conv 4 1x1\n    from y\n"
                "    gap\n    output\n    output out2 weight=0.3\n")
    assert a.row("y").output_shape == (16, 8, 8)
    assert a.row("left.conv1").output_shape == (8, 8, 8)
    assert a.outputs == {"out": (16,), "out2": (4, 8, 8)}
    assert [o.weight for o in a.output_infos] == [None, 0.3]


def test_activation_shorthand_and_flags():
    a = analyze("    input 4x9x9\n    conv 8 3x3 depthwise relu\n    maxpool 2 ceil\n")
    assert [r.kind for r in a.rows] == ["input", "conv", "relu", "maxpool"]
    assert a.row("relu1").fused
    assert a.row("conv1").params == 8 * 9 + 8
    assert a.row("maxpool1").output_shape == (8, 4, 4)


def test_call_form_equals_space_form():
    a = analyze("    input 3x32x32\n    conv(16, 3x3, stride=2)\n    conv 16 (3, 5)\n")
    assert a.row("conv1").output_shape == (16, 15, 15)
    assert a.row("conv2").output_shape == (16, 13, 11)


def test_dimensionality_follows_the_input():
    a = archspec.analyze("network n3:\n    input 1x16x32x32\n    conv 4 3 pad=same\n    maxpool 2\n    bn\n"
                         "    upsample 2\n")
    assert a.outputs["out"] == (4, 16, 32, 32)
    b = archspec.analyze("network n1:\n    input 2x100\n    conv 4 5 stride=2\n    avgpool 2\n")
    assert b.outputs["out"] == (4, 24)


def test_receptive_field_of_stacked_convolutions():
    # seed 003: two stacked 3×3 convolutions see 5×5, three see 7×7
    for n, rf in [(1, 3), (2, 5), (3, 7)]:
        a = archspec.analyze(f"network s:\n    input 1x32x32\n    repeat {n}:\n        conv 1 3x3\n")
        assert a.totals.receptive_field == [rf, rf]
    a = archspec.analyze("network s:\n    input 1x64x64\n    conv 1 3x3 stride=2\n    conv 1 3x3\n")
    assert a.totals.receptive_field == [7, 7] and a.totals.effective_stride == [2, 2]


@pytest.mark.parametrize("src", [
    "    input 3x8x8\n    conv 4 3x3 pad=1 relu\n    relu\n",
    "    input 3x8x8 # a comment\n\n    # another\n    conv 4 3x3 \\\n        pad=1\n",
])
def test_layout(src):
    assert analyze(src).outputs["out"] == (4, 8, 8)


def test_limits_are_diagnostics():
    for body, code in [("    input 3x8x8\n    repeat 1000000:\n        relu\n", "E600"),
                       ("    input 99999999x99999999x9999\n", "E600"),
                       ("    input 3x8x8\n    conv 99999999999999999999999 3x3\n", "E600")]:
        with pytest.raises(SpecError) as e:
            analyze(body)
        assert e.value.diagnostic.code == code


def test_blocks_see_let_names_of_their_scope():
    a = archspec.analyze("network n:\n    input 3x8x8\n    block b():\n        conv w 1x1\n    let w = 5\n    b()\n")
    assert a.outputs["out"] == (5, 8, 8)
