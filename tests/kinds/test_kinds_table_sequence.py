"""The kinds table's rows for the kinds that read token ids or sequences (issue 14): embedding, LSTM, GRU,
RNN, in the form of tests/kinds/test_kinds_table.py (whose every-kind check counts these rows): one small
network per row, output shape, parameters and buffers against a PyTorch module built here by hand, MACs as
hand-computed literals, the compiled layer on the hand-built module's ported weights giving PyTorch's
outputs. Its `Case` has a `tokens` field (an input of token ids below that vocabulary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import archspec
from archspec.kinds import REGISTRY

torch = pytest.importorskip("torch")
nn = torch.nn


class First(nn.Module):
    """A recurrent module's first result (the sequence), or `pick` applied to its results."""

    def __init__(self, m: Any, pick: Callable[[Any], Any] = lambda r: r[0]) -> None:
        super().__init__()
        self.m, self.pick = m, pick

    def forward(self, x: Any) -> Any:
        return self.pick(self.m(x))


@dataclass(frozen=True)
class Case:
    kind: str
    inputs: tuple[tuple[int, ...], ...]
    stmt: str
    module: Callable[[], Any]
    macs: int  # hand-computed: T·G·H·(I+H) per layer and direction (ACCEPTANCE.md), 0 for a lookup
    counted: bool = False
    tokens: int = 0  # the input is token ids below this vocabulary (int64)


CASES = [
    Case("embedding", ((12,),), "embedding 50 8", lambda: nn.Embedding(50, 8), 0, tokens=50),
    Case("embedding", ((3, 4),), "embed 50 6 padding_idx=0", lambda: nn.Embedding(50, 6, padding_idx=0), 0, tokens=50),
    # T = 7 steps of I = 5 features
    Case("lstm", ((7, 5),), "lstm 6", lambda: First(nn.LSTM(5, 6, batch_first=True)), 7 * 4 * 6 * (5 + 6)),
    Case("lstm", ((7, 5),), "lstm 4 layers=2 bidirectional",
         lambda: First(nn.LSTM(5, 4, 2, batch_first=True, bidirectional=True)),
         2 * 7 * 4 * 4 * (5 + 4) + 2 * 7 * 4 * 4 * (8 + 4)),
    Case("lstm", ((7, 5),), "lstm 3 output=cell bias=false",
         lambda: First(nn.LSTM(5, 3, batch_first=True, bias=False), lambda r: r[1][1].transpose(0, 1)),
         7 * 4 * 3 * (5 + 3)),
    Case("gru", ((7, 5),), "gru 6 layers=2", lambda: First(nn.GRU(5, 6, 2, batch_first=True)),
         7 * 3 * 6 * (5 + 6) + 7 * 3 * 6 * (6 + 6)),
    Case("gru", ((7, 5),), "gru 4 output=hidden bidirectional",
         lambda: First(nn.GRU(5, 4, batch_first=True, bidirectional=True), lambda r: r[1].transpose(0, 1)),
         2 * 7 * 3 * 4 * (5 + 4)),
    Case("rnn", ((7, 5),), "rnn 6", lambda: First(nn.RNN(5, 6, batch_first=True)), 7 * 6 * (5 + 6)),
    Case("rnn", ((7, 5),), "rnn 4 layers=3 batch_first=false",
         lambda: First(nn.RNN(5, 4, 3, batch_first=True)), 7 * 4 * (5 + 4) + 2 * 7 * 4 * (4 + 4)),
]
IDS = [f"{c.kind}:{c.stmt}" for c in CASES]
ENDS = {"input", "output"}


def spec(c: Case) -> str:
    shape = "x".join(map(str, c.inputs[0]))
    return f"network t:\n    input {shape}" + (f" tokens vocab={c.tokens}" if c.tokens else "") + f"\n    {c.stmt}\n"


def inputs(c: Case, batch: int) -> list[Any]:
    if c.tokens:
        return [torch.randint(0, c.tokens, (batch, *s)) for s in c.inputs]
    return [torch.randn(batch, *s) for s in c.inputs]


def layer(c: Case) -> archspec.Row:
    rows = [r for r in archspec.analyze(spec(c)).rows if r.kind not in ENDS]
    assert len(rows) == 1, rows
    return rows[0]


def test_every_sequence_kind_has_a_row() -> None:
    assert {"embedding", "lstm", "gru", "rnn"} - {c.kind for c in CASES} == set()
    for c in CASES:
        assert REGISTRY[c.stmt.split()[0]].name == c.kind, c


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_shape_parameters_and_buffers_agree_with_pytorch(c: Case) -> None:
    torch.manual_seed(0)
    ref = c.module()
    row = layer(c)
    assert row.kind == c.kind
    assert row.output_shape == tuple(ref.eval()(*inputs(c, 2)).shape[1:])
    assert row.params == sum(p.numel() for p in ref.parameters())
    assert row.trainable_params == sum(p.numel() for p in ref.parameters() if p.requires_grad)
    assert row.buffers == sum(b.numel() for b in ref.buffers() if b.is_floating_point())


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_macs(c: Case) -> None:
    assert layer(c).macs == c.macs


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_compiled_layer_gives_pytorchs_outputs_on_ported_weights(c: Case) -> None:
    torch.manual_seed(1)
    ref = c.module().eval()
    for p in ref.parameters():
        p.data.normal_()
    model = archspec.compile(spec(c)).eval()
    archspec.port_weights(model, ref)
    xs = inputs(c, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(*xs), ref(*xs), rtol=1e-5, atol=1e-5)
