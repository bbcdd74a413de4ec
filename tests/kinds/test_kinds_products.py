"""Products of two tensors (issue 14): `matmul` and `einsum` give torch.matmul's and torch.einsum's outputs
on each sample, their shapes; MACs are the output's elements × the contracted size (hand-computed, and
FlopCounterMode's count halved); mismatched sizes are one E300 diagnostic with the place."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archspec


def _spec(shapes: list[tuple[int, ...]], stmt: str) -> str:
    ins = "".join(f"    x{i} = input {'x'.join(map(str, s))}\n" for i, s in enumerate(shapes))
    return f"network t:\n{ins}    {stmt}\n"


def _per_sample(fn, xs):
    return torch.stack([fn(*s) for s in zip(*xs)])


@pytest.mark.parametrize(("a", "b", "macs"), [
    ((6, 8), (8, 5), 6 * 8 * 5),
    ((8,), (8, 5), 8 * 5),                        # a vector on the left: a row, its axis dropped
    ((6, 8), (8,), 6 * 8),                        # on the right: a column
    ((3, 6, 8), (3, 8, 5), 3 * 6 * 8 * 5),        # batched (heads)
    ((3, 1, 6, 8), (4, 8, 5), 3 * 4 * 6 * 8 * 5),  # batch axes broadcast, aligned on the right
    ((6, 8), (2, 3, 8, 5), 2 * 3 * 6 * 8 * 5),
    ((1, 6, 8), (3, 8, 1), 3 * 6 * 8),
])
def test_matmul_is_torch_matmul_on_each_sample(a, b, macs):
    src = _spec([a, b], "matmul x0 x1")
    an = archspec.analyze(src)
    m = archspec.compile(src)
    xs = [torch.randn(2, *a), torch.randn(2, *b)]
    want = _per_sample(torch.matmul, xs)
    got = m(*xs)
    torch.testing.assert_close(got, want)
    assert an.outputs["out"] == tuple(want.shape[1:])
    assert an.totals.macs == macs and an.totals.params == 0
    with FlopCounterMode(display=False) as c:
        m(*[x[:1] for x in xs])
    assert c.get_total_flops() == 2 * macs


@pytest.mark.parametrize(("eq", "a", "b", "macs"), [
    ("hqd,hkd->hqk", (4, 6, 8), (4, 5, 8), 4 * 6 * 5 * 8),     # QKᵀ per head
    ("hqk,hkd->qhd", (4, 6, 5), (4, 5, 8), 4 * 6 * 5 * 8),     # AV, heads moved
    ("ij,jk", (6, 8), (8, 5), 6 * 8 * 5),                       # implicit output: ik
    ("i,j->ij", (6,), (5,), 6 * 5),                             # outer product: no contraction
    ("ij,ij->i", (6, 8), (6, 8), 6 * 8),                        # rowwise dot products
    ("ij, jk -> ki", (6, 8), (8, 5), 6 * 8 * 5),               # spaces, as torch reads them
])
def test_einsum_is_torch_einsum_on_each_sample(eq, a, b, macs):
    src = _spec([a, b], f'einsum "{eq}" x0 x1')
    an = archspec.analyze(src)
    m = archspec.compile(src)
    xs = [torch.randn(2, *a), torch.randn(2, *b)]
    want = _per_sample(lambda x, y: torch.einsum(eq, x, y), xs)
    torch.testing.assert_close(m(*xs), want)
    assert an.outputs["out"] == tuple(want.shape[1:])
    assert an.totals.macs == macs
    if "->i" not in eq.replace(" ", "") and eq != "i,j->ij":  # FlopCounterMode counts einsum's bmm
        with FlopCounterMode(display=False) as c:
            m(*[x[:1] for x in xs])
        assert c.get_total_flops() == 2 * macs


def test_attention_written_with_products_is_scaled_dot_product_attention():
    # one head's attention from its products: softmax(QKᵀ)·V, as F.scaled_dot_product_attention computes it
    # (its scale 1/√d given as 1 here)
    src = """network t:
    q = input 6x8
    k = input 7x8
    v = input 7x8
    s = einsum "qd,kd->qk" q k
    p = softmax axis=1
    matmul p v
"""
    an = archspec.analyze(src)
    assert an.outputs["out"] == (6, 8)
    assert an.totals.macs == 6 * 7 * 8 + 6 * 7 * 8
    m = archspec.compile(src)
    q, k, v = torch.randn(2, 6, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)
    torch.testing.assert_close(m(q, k, v), want)


@pytest.mark.parametrize(("shapes", "stmt", "code", "words"), [
    ([(6, 8), (7, 5)], "matmul x0 x1", "E300", "the first's last axis (8) is not the second's second-to-last (7)"),
    ([(6, 8), (5,)], "matmul x0 x1", "E300", "is not the second's only axis (5)"),
    ([(3, 6, 8), (4, 8, 5)], "matmul x0 x1", "E300", "batch axes do not broadcast (3 against 4)"),
    ([(6, 8), (8, 5), (5, 2)], "matmul x0 x1 x2", "E203", "multiplies two tensors, got 3"),
    ([(8,), (8,)], "matmul x0 x1", "E300", "is one number per sample"),
    ([(8,), (8,)], 'einsum "i,i->" x0 x1', "E300", "sums every axis"),
    ([(6, 8), (7, 9)], 'einsum "ij,kj->ik" x0 x1', "E300", "axis `j` is 8 in the first tensor and 9 in the second"),
    ([(6, 8), (8, 5)], 'einsum "ijk,jk->ik" x0 x1', "E300", "names 3 axes of the first tensor, which has 2"),
    ([(6, 8), (8, 5)], 'einsum "ij,jk->iz" x0 x1', "E202", "`z`, an axis of neither tensor"),
    ([(6, 8), (8, 5)], 'einsum "...j,jk" x0 x1', "E202", "is not two operands of axis letters"),
    ([(6, 6), (6, 5)], 'einsum "ii,ik" x0 x1', "E202", "repeats a letter"),
])
def test_diagnostics(shapes, stmt, code, words):
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(_spec(shapes, stmt))
    d = e.value.diagnostic
    assert d.code == code and words in d.message and d.span is not None and d.expected


def test_token_ids_are_no_operand():
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze("network t:\n    a = input 5 tokens vocab=9\n    b = input 5x3\n    matmul a b\n")
    assert e.value.diagnostic.code == "E303"
