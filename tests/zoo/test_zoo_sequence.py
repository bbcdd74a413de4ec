"""lstm_classifier.arch (issue 14): ../shared/ACCEPTANCE.md's figures, and a plain-PyTorch build of the same
network (nn.Embedding, nn.LSTM batch first, nn.Linear on the last step): the same parameter count (numel),
and with its random weights ported, the same outputs; the GRU and RNN variants likewise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec

PARAMS, MACS = 2_202_885, 91_751_680  # ACCEPTANCE.md
PARTS = (1_280_000, 395_264, 526_336, 1_285)  # embedding, LSTM layers 1 and 2, dense: ACCEPTANCE.md
LAYER_MACS = (393_216 * 100, 524_288 * 100, 1_280)


class Classifier(nn.Module):
    def __init__(self, vocab=10_000, dim=128, hidden=256, layers=2, classes=5, cell=nn.LSTM, bidirectional=False):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.rnn = cell(dim, hidden, layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        out, _ = self.rnn(self.embedding(x))
        return self.fc(out[:, -1])


def test_figures():
    a = archspec.analyze("lstm_classifier")
    assert (a.totals.params, a.totals.macs, a.totals.buffers) == (PARAMS, MACS, 0)
    assert a.inputs == {"input": (100,)} and a.outputs == {"out": (5,)}
    rows = {r.kind: r for r in a.rows}
    assert (rows["embedding"].params, rows["lstm"].params, rows["dense"].params) == (PARTS[0], PARTS[1] + PARTS[2],
                                                                                     PARTS[3])
    assert (rows["embedding"].macs, rows["lstm"].macs, rows["dense"].macs) == (0, sum(LAYER_MACS[:2]), LAYER_MACS[2])
    assert a.ir["input"].meta.dtype == "int64"


def test_as_plain_pytorch():
    hand = Classifier()
    assert sum(p.numel() for p in hand.parameters()) == PARAMS
    _compare({}, hand, torch.randint(0, 10_000, (3, 100)))


@pytest.mark.parametrize("params,cell", [({"cell": "gru"}, nn.GRU), ({"cell": "rnn", "bidirectional": True}, nn.RNN)])
def test_variants_as_plain_pytorch(params, cell):
    small = {"steps": 30, "vocab": 500, "dim": 32, "hidden": 48}
    hand = Classifier(500, 32, 48, cell=cell, bidirectional=params.get("bidirectional", False))
    a = archspec.analyze("lstm_classifier", **small, **params)
    assert a.totals.params == sum(p.numel() for p in hand.parameters())
    _compare({**small, **params}, hand, torch.randint(0, 500, (2, 30)))


def _compare(params, hand, x):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in hand.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    model = archspec.compile("lstm_classifier", **params).eval()
    archspec.port_weights(model, hand.state_dict())
    hand.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), hand(x), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_check_agrees_and_renders():
    report = archspec.check("lstm_classifier")
    assert report.ok, report.problems
    assert {t.name: t.torch for t in report.totals}["parameters"] == PARAMS
    dot = archspec.render("lstm_classifier").source  # every shipped spec renders to SVG: tests/test_render.py
    assert "lstm" in dot and "embedding" in dot


def test_in_the_zoo():
    from archspec.report.compare import zoo

    c, failed = zoo()
    assert not failed
    e = next(e for e in c.entries if e.label == "lstm_classifier")
    assert (e.analysis.totals.params, e.analysis.totals.macs) == (PARAMS, MACS)


@pytest.mark.parametrize("params,cell,figures", [  # docs/zoo.md's families: numel of the plain-PyTorch build
    ({"cell": "gru"}, nn.GRU, (1_972_485, 100 * (3 * 256 * 384 + 3 * 256 * 512) + 1_280)),
    ({"cell": "rnn"}, nn.RNN, (1_511_685, 100 * (256 * 384 + 256 * 512) + 1_280)),
    ({"bidirectional": True}, nn.LSTM, (3_650_053, 100 * 2 * (4 * 256 * 384 + 4 * 256 * 768) + 2_560)),
])
def test_family_figures(params, cell, figures):
    hand = Classifier(cell=cell, bidirectional=params.get("bidirectional", False))
    assert sum(p.numel() for p in hand.parameters()) == figures[0]
    a = archspec.analyze("lstm_classifier", **params)
    assert (a.totals.params, a.totals.macs) == figures
