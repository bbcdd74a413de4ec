"""MobileNet v1 against the table of seed 000 (Howard et al. 2017, Table 1), row by row, and `alpha`."""

import re

import pytest
from conftest import SHARED

import archspec

# Seed 000's table: type / stride, filter shape, input size (H×W×C). "5×" rows repeat.
TABLE = """\
Conv / s2	$3 \\times 3 \\times 3 \\times 32$	$224 \\times 224 \\times 3$
Conv dw / s1	$3 \\times 3 \\times 32$ dw	$112 \\times 112 \\times 32$
Conv / s1	$1 \\times 1 \\times 32 \\times 64$	$112 \\times 112 \\times 32$
Conv dw / s2	$3 \\times 3 \\times 64$ dw	$112 \\times 112 \\times 64$
Conv / s1	$1 \\times 1 \\times 64 \\times 128$	$56 \\times 56 \\times 64$
Conv dw / s1	$3 \\times 3 \\times 128$ dw	$56 \\times 56 \\times 128$
Conv / s1	$1 \\times 1 \\times 128 \\times 128$	$56 \\times 56 \\times 128$
Conv dw / s2	$3 \\times 3 \\times 128$ dw	$56 \\times 56 \\times 128$
Conv / s1	$1 \\times 1 \\times 128 \\times 256$	$28 \\times 28 \\times 128$
Conv dw / s1	$3 \\times 3 \\times 256$ dw	$28 \\times 28 \\times 256$
Conv / s1	$1 \\times 1 \\times 256 \\times 256$	$28 \\times 28 \\times 256$
Conv dw / s2	$3 \\times 3 \\times 256$ dw	$28 \\times 28 \\times 256$
Conv / s1	$1 \\times 1 \\times 256 \\times 512$	$14 \\times 14 \\times 256$
5× Conv dw / s1	$3 \\times 3 \\times 512$ dw	$14 \\times 14 \\times 512$
5× Conv / s1	$1 \\times 1 \\times 512 \\times 512$	$14 \\times 14 \\times 512$
Conv dw / s2	$3 \\times 3 \\times 512$ dw	$14 \\times 14 \\times 512$
Conv / s1	$1 \\times 1 \\times 512 \\times 1024$	$7 \\times 7 \\times 512$
Conv dw / s2	$3 \\times 3 \\times 1024$ dw	$7 \\times 7 \\times 1024$
Conv / s1	$1 \\times 1 \\times 1024 \\times 1024$	$7 \\times 7 \\times 1024$
Avg Pool / s1	Pool 7×7	$7 \\times 7 \\times 1024$
FC / s1	1024×1000	$1 \\times 1 \\times 1024$
Softmax / s1	Classifier	$1 \\times 1 \\times 1000$
"""
# The paper's table says s2 for the last depthwise convolution, but its own input sizes (7×7 before
# and after) show stride 1; torchvision, Keras and this spec use 1.
ERRATUM_ROW = 25


def _nums(text):
    return tuple(int(x) for x in re.findall(r"\d+", text))


def table_rows():
    """Expand the table: (type, stride, filter numbers, input H×W×C) per layer."""
    rows = []
    for line in TABLE.splitlines():
        kind, filt, size = line.split("\t")
        times = 5 if kind.startswith("5×") else 1
        kind = kind.removeprefix("5× ")
        name, stride = kind.split(" / s")
        rows += [(name, int(stride), _nums(filt), _nums(size))] * times
    # "5×" rows alternate in the network: dw, pointwise, dw, pointwise, ...
    i = next(k for k, r in enumerate(rows) if r[3] == (14, 14, 512))
    dw, pw = rows[i], rows[i + 5]
    rows[i:i + 10] = [dw, pw] * 5
    return rows


def test_seed_table_is_the_one_quoted_here():
    seeds = sorted((SHARED / "seeds").glob("000_*.txt"))
    if not seeds:
        pytest.skip("seed 000 is not beside the project")
    text = seeds[0].read_text(encoding="utf-8")
    assert TABLE in text


def test_every_row_of_the_table():
    a = archspec.analyze("mobilenet_v1")
    g = a.ir
    nodes = [n.id for n in g if n.kind in ("conv", "dwconv", "globalavgpool", "dense", "softmax")]
    rows = table_rows()
    assert len(nodes) == len(rows) == 30
    for k, (node, (name, stride, filt, (h, w, c))) in enumerate(zip(nodes, rows)):
        d = g[node]
        x = g[d.inputs[0]].meta.shape
        assert x == ((c,) if h == w == 1 else (c, h, w)), (k, node)  # the input size of every layer
        args = d.args
        if name in ("Conv", "Conv dw"):
            kh, kw = args.kernel
            s = args.stride if isinstance(args.stride, int) else args.stride[0]
            assert s == (1 if k == ERRATUM_ROW else stride), (k, node)
            if name == "Conv":
                assert (d.kind, kh, kw, x[0], args.filters) == ("conv", *filt), (k, node)
            else:
                assert (d.kind, kh, kw, x[0]) == ("dwconv", *filt), (k, node)
        else:
            assert d.kind == {"Avg Pool": "globalavgpool", "FC": "dense", "Softmax": "softmax"}[name]
        if name == "FC":
            assert (x[0], args.units) == filt
    assert rows[ERRATUM_ROW][:2] == ("Conv dw", 2)


def test_figures():
    a = archspec.analyze("mobilenet_v1")
    assert a.totals.params == 4_231_976
    assert a.totals.buffers == 21_888
    assert a.totals.params + a.totals.buffers == 4_253_864  # Keras' total
    assert a.totals.macs == 568_740_352


@pytest.mark.parametrize(("alpha", "macs_m", "params_m"), [(1.0, 569, 4.2), (0.75, 325, 2.6), (0.5, 149, 1.3),
                                                          (0.25, 41, 0.5)])
def test_width_multiplier(alpha, macs_m, params_m):
    # Howard et al., Table 6: million mult-adds and million parameters at 224×224
    a = archspec.analyze("mobilenet_v1", alpha=alpha)
    assert round(a.totals.macs / 1e6) == macs_m
    assert round(a.totals.params / 1e6, 1) == params_m
    assert a.row("separable13.conv1").output_shape == (int(1024 * alpha), 7, 7)
    assert a.outputs == {"out": (1000,)}


def test_half_width_exactly():
    a = archspec.analyze("mobilenet_v1", alpha=0.5)
    assert (a.totals.params, a.totals.buffers, a.totals.macs) == (1_331_592, 10_944, 149_497_088)
    assert a.row("cbr1.conv1").output_shape == (16, 112, 112)
