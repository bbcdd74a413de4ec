"""Sequence kinds (issue 14): token inputs, `embedding`, `lstm`, `gru`, `rnn`, each against PyTorch's own
module (nn.Embedding, nn.LSTM, nn.GRU, nn.RNN) on random inputs: its parameters counted by numel, and with
its weights ported, the same outputs. MACs are ACCEPTANCE.md's formulas, T·G·H·(I+H) per layer and
direction (G = 4, 3, 1), worked out here; a lookup costs none."""

from __future__ import annotations

import pytest

import archspec
from archspec.diagnostics import SpecError

torch = pytest.importorskip("torch")
nn = torch.nn

T, FEATURES = 7, 5  # steps and features of the test sequences
MODULES = {"lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3), "rnn": (nn.RNN, 1)}


def _spec(body: str, inp: str = f"{T}x{FEATURES}") -> str:
    return f"network n:\n    input {inp}\n" + "".join(f"    {ln}\n" for ln in body.split("\n"))


def _ported(spec: str, hand: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in hand.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    model = archspec.compile(spec).eval()
    archspec.port_weights(model, hand.state_dict())
    return model


def _macs(gates: int, hidden: int, layers: int, directions: int, steps: int = T, features: int = FEATURES) -> int:
    total = 0
    for layer in range(layers):
        width = features if layer == 0 else directions * hidden
        total += directions * steps * gates * hidden * (width + hidden)
    return total


CASES = [  # kind, hidden, layers, bidirectional, bias, output, batch_first
    ("lstm", 6, 1, False, True, "sequence", True),
    ("lstm", 6, 2, True, True, "sequence", True),
    ("lstm", 4, 3, False, False, "hidden", True),
    ("lstm", 4, 2, True, True, "cell", False),
    ("gru", 6, 1, False, True, "sequence", True),
    ("gru", 5, 2, True, False, "hidden", False),
    ("rnn", 6, 2, False, True, "sequence", True),
    ("rnn", 3, 1, True, True, "hidden", True),
]


@pytest.mark.parametrize("kind,hidden,layers,bidirectional,bias,output,batch_first", CASES)
def test_recurrent_kinds_are_pytorchs(kind, hidden, layers, bidirectional, bias, output, batch_first):
    cls, gates = MODULES[kind]
    hand = cls(FEATURES, hidden, layers, bias=bias, batch_first=True, bidirectional=bidirectional)
    line = (f"{kind} {hidden} layers={layers} bidirectional={str(bidirectional).lower()} bias={str(bias).lower()}"
            f" output={output} batch_first={str(batch_first).lower()}")
    spec = _spec(line)
    a = archspec.analyze(spec)
    d = 2 if bidirectional else 1
    assert a.totals.params == sum(p.numel() for p in hand.parameters())
    assert a.totals.macs == _macs(gates, hidden, layers, d)
    model = _ported(spec, hand)
    x = torch.randn(3, T, FEATURES)
    with torch.no_grad():
        seq, states = hand(x)
        want = {"sequence": seq, "hidden": (states[0] if kind == "lstm" else states).transpose(0, 1),
                "cell": states[1].transpose(0, 1) if kind == "lstm" else None}[output]
        got = model(x)
    assert tuple(got.shape[1:]) == a.outputs["out"]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_the_last_step_of_a_sequence_is_select_minus_one():
    """`select -1` on a one-way LSTM's sequence is its final hidden state (of the last layer)."""
    hand = nn.LSTM(FEATURES, 6, 2, batch_first=True)
    model = _ported(_spec("lstm 6 layers=2\nselect -1"), hand)
    x = torch.randn(2, T, FEATURES)
    with torch.no_grad():
        _, (h, _) = hand(x)
        torch.testing.assert_close(model(x), h[-1], rtol=1e-5, atol=1e-6)
    assert archspec.analyze(_spec("lstm 6 layers=2\nselect 3")).outputs == {"out": (6,)}


@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_is_nn_embedding(padding_idx):
    pad = "" if padding_idx is None else f" padding_idx={padding_idx}"
    spec = _spec(f"embedding 50 8{pad}", "12 tokens vocab=50")
    hand = nn.Embedding(50, 8, padding_idx=padding_idx)
    a = archspec.analyze(spec)
    assert (a.totals.params, a.totals.macs) == (sum(p.numel() for p in hand.parameters()), 0)
    assert a.outputs == {"out": (12, 8)} and a.inputs == {"input": (12,)}
    model = _ported(spec, hand)
    x = torch.randint(0, 50, (4, 12))
    x[0, 0] = 0
    with torch.no_grad():
        torch.testing.assert_close(model(x), hand(x), rtol=0, atol=0)


def test_token_ids_are_int64_through_the_graph():
    g = archspec.analyze(_spec("x = reshape (2, 6)\nflatten\nembedding 50 8\nlstm 4", "12 tokens vocab=50")).ir
    assert [g[n].meta.dtype for n in ("input", "x", "flatten1", "embedding1", "lstm1")] == \
        ["int64", "int64", "int64", "float32", "float32"]
    assert archspec.analyze(_spec("embedding 50 8", "3x4 vocab=50")).outputs == {"out": (3, 4, 8)}


def test_an_input_given_another_shape_stays_token_ids():
    a = archspec.analyze(_spec("embedding 50 8", "12 tokens vocab=50"), input="20")
    assert a.outputs == {"out": (20, 8)} and a.ir["input"].meta.dtype == "int64"


@pytest.mark.parametrize("body,inp,says", [
    ("reshape (3, 4)\nconv 4 3", "12 tokens", "`conv` needs values"),
    ("conv 4 3", "12 tokens vocab=50", "`input` (the input) gives token ids"),
    ("dense 4", "12 tokens", "`dense` needs values"),
    ("embedding 50 8", "12", "`embedding` needs token ids"),
    ("lstm 4", "12 tokens", "`lstm` needs values"),
])
def test_token_ids_where_values_are_needed_is_one_diagnostic(body, inp, says):
    with pytest.raises(SpecError) as e:
        archspec.analyze(_spec(body, inp))
    d = e.value.diagnostic
    assert d.code == "E303" and says in d.message
    assert d.span is not None and d.span.line == 2 + len(body.split("\n"))
    assert d.hint


@pytest.mark.parametrize("line,code", [
    ("gru 4 output=cell", "E202"),
    ("lstm 0", "E202"),
    ("lstm 4 dropout=1.5", "E202"),
])
def test_recurrent_argument_errors(line, code):
    with pytest.raises(SpecError) as e:
        archspec.analyze(_spec(line))
    assert e.value.diagnostic.code == code


def test_a_recurrent_layer_needs_a_sequence():
    with pytest.raises(SpecError) as e:
        archspec.analyze(_spec("lstm 4", "3x8x8"))
    assert e.value.diagnostic.code == "E300" and "T×I" in e.value.diagnostic.message


def test_an_embedding_smaller_than_the_inputs_vocabulary_is_a_diagnostic():
    with pytest.raises(SpecError) as e:
        archspec.analyze(_spec("reshape (3, 4)\nembedding 40 8", "12 tokens vocab=50"))
    d = e.value.diagnostic
    assert d.code == "E300" and "40 vectors" in d.message and "up to 49" in d.message and d.span.line == 4
    assert archspec.analyze(_spec("embedding 60 8", "12 tokens vocab=50")).outputs == {"out": (12, 8)}


def test_a_block_built_for_values_is_not_copied_for_token_ids():
    """The builder copies a block call like one built before only for inputs of the same element type."""
    spec = ("network n:\n    input 12 tokens vocab=50\n    block b():\n        reshape (3, 4)\n"
            "    ids = _\n    embedding 50 1\n    flatten\n    b()\n    from ids\n    b()\n")
    g = archspec.analyze(spec).ir
    assert [g[n].meta.dtype for n in g.inputs] == ["int64"]
    assert [n.meta.dtype for n in g.nodes.values() if n.kind == "reshape" and n.scope is not None] == \
        ["float32", "int64"]
    with pytest.raises(SpecError) as e:
        archspec.analyze(spec.replace("reshape (3, 4)\n", "reshape (3, 4)\n        conv 2 1\n"))
    assert e.value.diagnostic.code == "E303" and e.value.diagnostic.span.line == 5  # in the block, at its 2nd call
    assert "called at <string>:11" in str(e.value)
