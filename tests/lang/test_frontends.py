"""Differential testing of the two front ends (issue 7): a spec written as .arch, converted to YAML by
`archspec fmt` and back, analyses to the same rows (names, kinds, shapes, parameters, MACs, FLOPs,
receptive fields) and totals. Random valid networks (tests/netgen.py) and every shipped spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_helpers import CORPUS, budget, examples
from hypothesis import given
from hypothesis import settings as hsettings
from netgen import networks

import archspec
from archspec.report.fmt import convert


def _rows(text: str, name: str) -> tuple[list[tuple[object, ...]], object]:
    a = archspec.analyze(archspec.load(name, text=text))
    rows = [(r.name, r.kind, r.output_shape, r.params, r.trainable_params, r.buffers, r.macs, r.flops,
             r.receptive_field, r.frozen) for r in a.rows]
    return rows, a.totals


def assert_same_through_yaml(text: str, name: str) -> None:
    arch_rows, arch_totals = _rows(text, name)
    yaml_text = convert(text, name, "yaml")
    yaml_name = str(Path(name).with_suffix(".yaml"))
    yaml_rows, yaml_totals = _rows(yaml_text, yaml_name)
    assert yaml_rows == arch_rows, yaml_text
    assert yaml_totals == arch_totals
    back = convert(yaml_text, yaml_name, "arch")
    assert _rows(back, name) == (arch_rows, arch_totals), back


@hsettings(max_examples=examples(3))
@given(networks())
def test_random_networks_through_yaml_and_back(src: str) -> None:
    with budget(60):
        assert_same_through_yaml(src, "g.arch")


@pytest.mark.parametrize("path", [p for p, t in CORPUS if p.endswith(".arch") and "network" in t],
                         ids=lambda p: Path(p).name)
def test_shipped_specs_through_yaml_and_back(path: str) -> None:
    assert_same_through_yaml(Path(path).read_text(), path)
