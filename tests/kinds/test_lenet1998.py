"""LeNet-5 as published (LeCun et al. 1998): ACCEPTANCE.md's figures, per layer and in total, and the
compiled network cross-checked in PyTorch."""

import pytest
from classic_helpers import compiled, measure

import archspec

# layer: (trainable params, fixed params, connections), LeCun et al. 1998 §II.B
PER_LAYER = {
    "C1": (156, 0, 122_304),
    "S2": (12, 0, 5_880),
    "C3": (1_516, 0, 151_600),
    "S4": (32, 0, 2_000),
    "C5": (48_120, 0, 48_120),
    "F6": (10_164, 0, 10_164),
    "RBF": (0, 840, 840),
}
SHAPES = {"C1": (6, 28, 28), "S2": (6, 14, 14), "C3": (16, 10, 10), "S4": (16, 5, 5), "C5": (120, 1, 1),
          "F6": (84,), "RBF": (10,)}
C3_TABLE = ["012", "123", "234", "345", "045", "015", "0123", "1234", "2345", "0345", "0145", "0125",
            "0134", "1245", "0235", "012345"]  # Table I, column j


@pytest.fixture(scope="module")
def lenet():
    return archspec.analyze("lenet5_1998")


def test_totals(lenet):
    t = lenet.totals
    assert t.trainable_params == 60_000
    assert t.non_trainable_params == 840
    assert t.params == 60_840
    assert t.connections == 340_908
    assert t.buffers == 0
    assert lenet.outputs == {"out": (10,)}


@pytest.mark.parametrize("name", sorted(PER_LAYER))
def test_per_layer(lenet, name):
    r = lenet.row(name)
    assert (r.trainable_params, r.non_trainable_params, r.connections) == PER_LAYER[name]
    assert r.output_shape == SHAPES[name]


def test_connections_come_from_the_general_rule(lenet):
    # every layer's connections: per output unit, the inputs it reads + 1 for its bias
    assert sum(r.connections for r in lenet.rows if r.name in PER_LAYER) == lenet.totals.connections
    assert all(r.connections == 0 for r in lenet.rows if r.name not in PER_LAYER)


def test_c3_reads_table_one(lenet):
    table = lenet.ir["C3"].args.table
    assert [tuple(int(c) for c in col) for col in C3_TABLE] == list(table)
    assert sum(map(len, table)) == 60  # 60 of the 96 possible links


def test_macs(lenet):
    # C1 117,600 + S2 1,176 + C3 150,000 + S4 400 + C5 48,000 + F6 10,080 + RBF 840
    assert lenet.totals.macs == 328_096


def test_pytorch_agrees(lenet):
    m = measure(compiled(lenet), (1, 32, 32))
    assert m.params == 60_840
    assert m.trainable == 60_000  # the RBF weights have requires_grad=False
    assert m.buffers == 0
    assert m.shapes == [(10,)]
    assert m.macs == lenet.totals.macs


def test_pytorch_agrees_through_archspec_compile(lenet):
    m = measure(archspec.compile("lenet5_1998"), (1, 32, 32))
    assert (m.params, m.trainable, m.macs) == (60_840, 60_000, 328_096)
