"""The classic layer kinds (archspec/kinds/classic.py, conv's `table=`): shapes and counts as tables,
each cross-checked against its PyTorch module (numel, output shape, FlopCounterMode), and the course
exercises about locally connected layers, shared weights and receptive fields."""

import pytest
import torch
import torch.nn.functional as F
from classic_helpers import compiled, layer_module, measure

import archspec

EX = "archspec/specs/exercises/"


def net(shape: str, *layers: str) -> archspec.Analysis:
    body = "".join(f"    {line}\n" for line in layers)
    return archspec.analyze(f"network t:\n    input {shape}\n{body}")


def layer(a: archspec.Analysis) -> archspec.Row:
    return next(r for r in a.rows if r.kind != "input")


def built(a: archspec.Analysis) -> torch.nn.Module:
    return layer_module(a)


# shape, layer, output, params (trainable, fixed), MACs, connections
CASES = [
    # connection tables: params Σ|t_j|·∏k + bias, MACs out positions · Σ|t_j|·∏k
    ("6x14x14", "conv 3 5x5 table=((0, 1, 2), (3,), (0, 5))", (3, 10, 10), (153, 0), 15_000, 15_300),
    ("4x9x9", "conv 2 3x3 stride=2 pad=1 table=((0, 1), (2, 3)) bias=false", (2, 5, 5), (36, 0), 900, 900),
    ("3x20", "conv 4 5 table=((0,), (1,), (2,), (0, 1, 2))", (4, 16), (34, 0), 480, 544),
    ("2x6x6x6", "conv 3 3x3x3 pad=same table=((0,), (1,), (0, 1))", (3, 6, 6, 6), (111, 0), 23_328, 23_976),
    # trainable subsampling: 2 params per map, 1 MAC per output unit, (window + 1) connections per unit
    ("6x28x28", "subsample 2", (6, 14, 14), (12, 0), 1_176, 5_880),
    ("3x9x9", "subsample 3 stride=2", (3, 4, 4), (6, 0), 48, 480),
    ("4x10", "subsample 2 bias=false", (4, 5), (4, 0), 20, 40),
    ("2x4x4x4", "subsample 2", (2, 2, 2, 2), (4, 0), 16, 144),
    # RBF units: fixed weights by default
    ("84", "rbf 10", (10,), (0, 840), 840, 840),
    ("16", "rbf 4 trainable", (4,), (64, 0), 64, 64),
    # locally connected: out positions × (∏k·C_in·F) + bias per output unit
    ("1x28x28", "local 1 3x3 pad=same", (1, 28, 28), (7_840, 0), 7_056, 7_840),
    ("3x8x8", "local 4 3x3", (4, 6, 6), (4 * 36 * 27 + 144, 0), 3_888, 4_032),
    ("2x9x9", "local 2 3x3 stride=2 bias=false", (2, 4, 4), (576, 0), 576, 576),
    ("3x10", "local 5 3", (5, 8), (40 * 9 + 40, 0), 360, 400),
    ("2x12", "local 2 3 stride=2 pad=same dilation=2", (2, 6), (12 * 6 + 12, 0), 72, 84),
    # zero-padding shortcut: no parameters
    ("16x32x32", "padchannels 32 stride=2", (32, 16, 16), (0, 0), 0, 0),
    ("16x7x7", "padchannels 64 stride=2 side=both", (64, 4, 4), (0, 0), 0, 0),
    ("8x10", "padchannels 8", (8, 10), (0, 0), 0, 0),
]


@pytest.mark.parametrize(("shape", "text", "out", "params", "macs", "connections"), CASES)
def test_counts_and_pytorch_agree(shape, text, out, params, macs, connections):
    a = net(shape, text)
    r = layer(a)
    assert r.output_shape == out
    assert (r.trainable_params, r.non_trainable_params) == params
    assert r.macs == macs
    assert r.connections == connections
    m = measure(built(a), a.inputs["input"])
    assert m.shapes == [out]
    assert m.params == sum(params)
    assert m.trainable == params[0]
    assert m.macs == macs  # FlopCounterMode's total / 2


@pytest.mark.parametrize("text", [
    "conv 3 3x3 pad=1 table=((0, 1), (2,), (0, 1, 2))",
    "subsample 2 stride=1",
    "local 2 3x3 stride=2 pad=1",
    "padchannels 6 stride=2 side=both",
])
def test_modules_script(text):
    a = net("3x7x7", text)
    m = built(a)
    x = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(torch.jit.script(m)(x), m(x))


def test_table_conv_is_a_masked_convolution():
    m = built(net("6x14x14", "conv 4 5x5 pad=2 table=((0, 1, 2), (1, 2, 3), (5,), (0, 1, 2, 3, 4, 5))"))
    x = torch.randn(2, 6, 14, 14)
    dense = F.conv2d(x, m.dense_weight(), m.bias, padding=2)
    torch.testing.assert_close(m(x), dense, rtol=1e-4, atol=1e-5)
    w = m.dense_weight()
    assert (w[2, :5] == 0).all() and (w[2, 5] != 0).any()  # map 2 reads only map 5


def test_subsample_is_window_sum_times_coefficient_plus_bias():
    m = built(net("2x6x6", "subsample 2"))
    with torch.no_grad():
        m.weight.copy_(torch.tensor([0.5, -2.0]))
        m.bias.copy_(torch.tensor([1.0, 3.0]))
    x = torch.randn(1, 2, 6, 6)
    sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    torch.testing.assert_close(m(x), sums * m.weight.view(1, 2, 1, 1) + m.bias.view(1, 2, 1, 1))


def test_rbf_is_squared_euclidean_distance_to_fixed_weights():
    m = built(net("84", "rbf 10"))
    assert not m.weight.requires_grad
    assert set(m.weight.unique().tolist()) <= {-1.0, 1.0}
    x = torch.randn(3, 84)
    direct = ((x[:, None, :] - m.weight[None]) ** 2).sum(-1)
    torch.testing.assert_close(m(x), direct, rtol=1e-4, atol=1e-3)
    assert built(net("84", "rbf 10 trainable")).weight.requires_grad


def test_local_with_equal_weights_everywhere_is_a_convolution():
    m = built(net("3x8x8", "local 4 3x3 stride=2 pad=1"))
    conv = torch.nn.Conv2d(3, 4, 3, 2, 1)
    with torch.no_grad():
        m.weight.copy_(conv.weight.reshape(1, 4, 27).expand_as(m.weight))
        m.bias.copy_(conv.bias.view(4, 1, 1).expand_as(m.bias))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(m(x), conv(x), rtol=1e-4, atol=1e-5)


def test_local_1d_with_equal_weights_is_a_convolution():
    m = built(net("2x10", "local 3 3 stride=2"))
    conv = torch.nn.Conv1d(2, 3, 3, 2)
    with torch.no_grad():
        m.weight.copy_(conv.weight.reshape(1, 3, 6).expand_as(m.weight))
        m.bias.copy_(conv.bias.view(3, 1).expand_as(m.bias))
    x = torch.randn(2, 2, 10)
    torch.testing.assert_close(m(x), conv(x), rtol=1e-4, atol=1e-5)


def test_padchannels_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 4, 5, 5)
    after = built(net("4x5x5", "padchannels 8 stride=2"))(x)
    torch.testing.assert_close(after[:, :4], x[:, :, ::2, ::2])
    assert (after[:, 4:] == 0).all()
    both = built(net("4x5x5", "padchannels 8 stride=2 side=both"))(x)
    torch.testing.assert_close(both[:, 2:6], x[:, :, ::2, ::2])
    assert (both[:, :2] == 0).all() and (both[:, 6:] == 0).all()


@pytest.mark.parametrize(("shape", "text", "code", "words"), [
    ("6x14x14", "conv 2 5x5 table=((0, 1), (2, 6))", "E300", "reads input map 6"),
    ("6x14x14", "conv 3 5x5 table=((0, 1), (2, 3))", "E202", "2 entries but the convolution has 3 filters"),
    ("6x14x14", "conv 2 5x5 groups=2 table=((0, 1), (2, 3))", "E202", "cannot be combined"),
    ("6x14x14", "conv 2 5x5 table=((0, 0), (1,))", "E202", "distinct input maps"),
    ("16x8x8", "padchannels 8", "E300", "cannot pad 16 maps down to 8"),
    ("120", "subsample 2", "E300", "needs a C×L or C×H×W or C×D×H×W input"),
    ("6x5x5", "rbf 10", "E300", "needs a flat vector"),
    ("3x8x8x8", "local 2 3", "E300", "needs a C×L or C×H×W input"),
    ("3x4x4", "local 2 5x5", "E300", "does not fit"),
])
def test_mistakes_are_diagnostics(shape, text, code, words):
    with pytest.raises(archspec.SpecError) as e:
        net(shape, text)
    assert e.value.diagnostic.code == code
    assert words in e.value.diagnostic.message + str(e.value.diagnostic.expected)


def test_receptive_fields():
    assert net("1x32x32", "subsample 2", "conv 1 3x3").totals.receptive_field == [6, 6]
    assert net("1x32x32", "local 1 5x5", "local 1 3x3 stride=2").totals.receptive_field == [7, 7]
    assert net("1x32x32", "conv 1 3x3 table=((0,),)", "conv 1 3x3").totals.receptive_field == [5, 5]
    assert net("1x32x32", "padchannels 4 stride=2", "conv 1 3x3").totals.effective_stride == [2, 2]


def test_peer_conventions():
    text = "network t:\n    input 6x14x14\n    conv 16 5x5 table=((0, 1, 2),) * 16\n    subsample 2\n"
    # thop does not know archspec's modules: it counts them as zero
    assert archspec.analyze(text, convention="thop").totals.macs == 0
    torchinfo = archspec.analyze(text, convention="torchinfo").totals.macs
    assert torchinfo == (16 * 75 + 16) * 100 + 32  # a "Conv" module: (weight + bias) × positions; else params


def test_docs_list_the_classic_kinds():
    from archspec.kinds.docs import layers_markdown

    text = layers_markdown()
    for name in ("subsample", "rbf", "local", "padchannels"):
        assert f"### `{name}`" in text
    assert "`table`" in text


# -- course exercises (ACCEPTANCE.md): locally connected, shared weights, receptive fields ---------

@pytest.mark.parametrize(("params", "figure"), [
    ({}, 7_840),  # seed 000: 28×28 image, 3×3 fields, 784 units: 784 × 10
    ({"layer": "shared"}, 10),  # seed 000: a 3×3 convolution with one filter
    ({"side": 200, "field": 10, "bias": False}, 4_000_000),  # seed 003: 40,000 units, 10×10 fields
    ({"side": 200, "field": 10, "bias": False, "layer": "shared"}, 100),  # seed 003: shared 10×10 weights
    ({"side": 200, "field": 10, "bias": False, "layer": "shared", "maps": 10}, 1_000),  # seed 003: a filter bank
])
def test_locally_connected_exercises(params, figure):
    a = archspec.analyze(EX + "locally_connected.arch", **params)
    side = params.get("side", 28)
    assert a.totals.params == figure
    assert a.outputs["out"] == (params.get("maps", 1), side, side)  # one unit per pixel: 784, 40,000


def test_local_and_shared_make_the_same_connections():
    local = archspec.analyze(EX + "locally_connected.arch").totals
    shared = archspec.analyze(EX + "locally_connected.arch", layer="shared").totals
    assert local.connections == shared.connections == 7_840  # LeCun: weight sharing saves parameters only
    assert local.macs == shared.macs


def test_local_exercise_in_pytorch():
    a = archspec.analyze(EX + "locally_connected.arch")
    m = measure(compiled(a), (1, 28, 28))
    assert (m.params, m.macs, m.shapes) == (7_840, 7_056, [(1, 28, 28)])


@pytest.mark.parametrize(("n", "field", "weights"), [(1, 3, 9), (2, 5, 18), (3, 7, 27)])
def test_receptive_field_exercise(n, field, weights):
    a = archspec.analyze(EX + "receptive_field.arch", n=n)
    assert a.totals.receptive_field == [field, field]  # seed 003: 5×5 for two 3×3, 7×7 for three
    assert a.totals.params == weights
    single = archspec.analyze(EX + "receptive_field.arch", n=n, single=True)
    assert single.totals.receptive_field == [field, field]
    assert single.totals.params == field * field  # 3 × (3 × 3) = 27 against 7 × 7 = 49
