"""The CIFAR-10 ResNets of He et al. 2016 §4.2 (ResNet-20, -110, -1202 from one spec): ACCEPTANCE.md's
figures, the parameter-free shortcuts, speed on ResNet-1202, and PyTorch cross-checks."""

import time

import pytest
from classic_helpers import compiled, measure

import archspec

FIGURES = {3: (269_722, 40_551_040), 18: (1_727_962, 252_887_680), 200: (19_421_274, 2_829_238_912)}


@pytest.mark.parametrize("n", sorted(FIGURES))
def test_figures(n):
    a = archspec.analyze("resnet_cifar", n=n)
    params, macs = FIGURES[n]
    assert a.totals.params == a.totals.trainable_params == params
    assert a.totals.macs == macs
    assert sum(r.kind in ("conv", "dense") for r in a.rows) == 6 * n + 2  # ResNet-20, -110, -1202
    assert a.outputs == {"out": (10,)}


def test_stages_and_shortcuts():
    a = archspec.analyze("resnet_cifar")
    assert a.row("stage1.basic3.relu1").output_shape == (16, 32, 32)
    assert a.row("stage2.basic1.relu1").output_shape == (32, 16, 16)
    assert a.row("stage3.basic3.relu1").output_shape == (64, 8, 8)
    pads = [r for r in a.rows if r.kind == "padchannels"]
    assert [r.name for r in pads] == ["stage2.basic1.shortcut.padchannels1", "stage3.basic1.shortcut.padchannels1"]
    assert all(r.params == 0 and r.macs == 0 for r in pads)  # option A: zero padding, no parameters


def test_resnet1202_analysis_is_fast():
    start = time.perf_counter()
    archspec.analyze("resnet_cifar", n=200)
    assert time.perf_counter() - start < 3  # about 0.4 s on one core


def test_pytorch_agrees():
    a = archspec.analyze("resnet_cifar")
    m = measure(compiled(a), (3, 32, 32))
    assert m.params == m.trainable == 269_722
    assert m.buffers == a.totals.buffers == 1_376  # batch-norm running means and variances
    assert m.macs == 40_551_040
    assert m.shapes == [(10,)]


def test_pytorch_agrees_through_archspec_compile():
    m = measure(archspec.compile("resnet_cifar"), (3, 32, 32))
    assert (m.params, m.macs) == (269_722, 40_551_040)
