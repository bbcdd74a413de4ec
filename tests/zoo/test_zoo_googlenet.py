"""GoogLeNet, the paper's Table 1 (ACCEPTANCE.md): main path, auxiliary heads, stage sizes."""

import pytest
from zoo_helpers import output_of, params_in

import archspec

MAIN_PARAMS = 6_998_552
MAIN_MACS = 1_582_671_872


@pytest.fixture(scope="module")
def full():
    return archspec.analyze("googlenet")


def test_main_path_only():
    a = archspec.analyze("googlenet", aux=False)
    assert a.totals.params == MAIN_PARAMS
    assert a.totals.trainable_params == MAIN_PARAMS
    assert a.totals.buffers == 0  # no batch norm
    assert a.totals.macs == MAIN_MACS
    assert a.outputs == {"out": (1000,)}


def test_with_both_heads(full):
    assert full.totals.params == 13_378_280
    assert full.totals.macs == 1_591_044_096
    assert params_in(full, "aux1") == 3_188_840
    assert params_in(full, "aux2") == 3_190_888
    assert full.totals.params - params_in(full, "aux1") - params_in(full, "aux2") == MAIN_PARAMS


def test_heads_are_weighted_outputs(full):
    assert full.outputs == {"out": (1000,), "aux1": (1000,), "aux2": (1000,)}
    weights = {o.name: o.weight for o in full.output_infos}
    assert weights == {"out": None, "aux1": 0.3, "aux2": 0.3}
    assert full.row("aux1.avgpool1").output_shape == (512, 4, 4)  # 5×5/3 average pooling on 4a
    assert full.row("aux2.avgpool1").output_shape == (528, 4, 4)  # and on 4d


def test_stage_sizes_and_table1(full):
    pools = [r.output_shape for r in full.rows if r.kind == "maxpool" and r.block == ""]
    assert [s[1:] for s in pools] == [(56, 56), (28, 28), (14, 14), (7, 7)]
    assert full.row("conv1").output_shape == (64, 112, 112)
    table1 = {"inception3a": (256, 28), "inception3b": (480, 28), "inception4a": (512, 14),
              "inception4b": (512, 14), "inception4c": (512, 14), "inception4d": (528, 14),
              "inception4e": (832, 14), "inception5a": (832, 7), "inception5b": (1024, 7)}
    for name, (c, n) in table1.items():
        assert output_of(full, name) == (c, n, n), name
    assert full.row("avgpool1").output_shape == (1024, 1, 1)


def test_lrn_and_ceil_pools_have_no_params(full):
    assert [r.params for r in full.rows if r.kind in ("lrn", "maxpool")] == [0] * 15
    assert sum(1 for r in full.rows if r.kind == "lrn") == 2
