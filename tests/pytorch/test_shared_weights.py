"""Shared weights (issue 14): `reuse NAME` applies a named layer or block instance again with the same
weights, `tie=NAME` makes a layer's weight another's. Checked against plain PyTorch models that call one
module several times or assign one parameter to two modules: the unique parameters' numel, the state dict
PyTorch writes, and identical outputs on ported weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.diagnostics import SpecError

RECURSIVE = """network rec:
    input 32
    fc = dense 32 tanh
    repeat 3:
        reuse fc
    dense 10
"""

SIAMESE = """network siamese:
    a = input 64
    b = input 64
    block enc(c):
        dense c relu
        dense c
    from a
    fc = dense 32 relu
    e = enc(16)
    from b
    reuse fc
    f = reuse e
    add e f
"""


class Recursive(nn.Module):  # one Linear applied four times, as one writes it in PyTorch
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(4):
            x = torch.tanh(self.fc(x))
        return self.out(x)


class Siamese(nn.Module):  # both inputs through the same layers
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 32)
        self.enc = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 16))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(torch.relu(self.fc(x)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.branch(a) + self.branch(b)


def _randomise(m: nn.Module) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.2)


@pytest.mark.parametrize(("text", "hand", "inputs"), [
    (RECURSIVE, Recursive, lambda: [torch.randn(3, 32)]),
    (SIAMESE, Siamese, lambda: [torch.randn(3, 64), torch.randn(3, 64)]),
])
def test_reuse_as_plain_pytorch(text, hand, inputs, tmp_path):
    spec = tmp_path / "net.arch"
    spec.write_text(text)
    ref = hand()
    a = archspec.analyze(str(spec))
    assert a.totals.params == sum(p.numel() for p in ref.parameters())  # shared weights counted once
    model = archspec.compile(str(spec)).eval()
    assert [p.shape for p in model.parameters()] == [p.shape for p in ref.parameters()]
    assert len(model.state_dict()) == len(ref.state_dict())
    _randomise(ref)
    archspec.port_weights(model, ref)
    xs = inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(*xs), ref.eval()(*xs))


def test_reuse_counts_macs_at_every_use(tmp_path):
    spec = tmp_path / "rec.arch"
    spec.write_text(RECURSIVE)
    a = archspec.analyze(str(spec))
    assert a.totals.params == 32 * 32 + 32 + 32 * 10 + 10
    assert a.totals.macs == 4 * 32 * 32 + 32 * 10
    rows = {r.name: r for r in a.rows}
    assert (rows["fc"].params, rows["fc_2"].params, rows["fc_4"].macs) == (1_056, 0, 1_024)
    assert a.ir["fc_3"].shares == "fc"


def test_reused_module_is_one_module_in_the_emitted_code(tmp_path):
    spec = tmp_path / "s.arch"
    spec.write_text(SIAMESE)
    code = archspec.generate_code(str(spec))
    assert code.count("nn.Linear(64, 32)") == 1 and code.count("self.fc(") == 2
    assert code.count("= self.e(") == 2  # the block used again calls its first instance's module
    report = archspec.check(str(spec))
    assert report.ok, report.problems


def test_reuse_inside_a_block_and_of_a_residual_block(tmp_path):
    spec = tmp_path / "r.arch"
    spec.write_text("""network r:
    input 8x6x6
    block res(c):
        conv1 = conv c 3x3 pad=1 relu
        add:
            branch: reuse conv1; reuse conv1
            branch: identity
    r = res(8)
    reuse r
    add:
        branch: reuse r
        branch: identity
    gap
    dense 4
""")
    a = archspec.analyze(str(spec))
    assert a.totals.params == 8 * 8 * 9 + 8 + 8 * 4 + 4
    assert a.totals.macs == 9 * 8 * 8 * 9 * 36 + 32
    report = archspec.check(str(spec))
    assert report.ok, report.problems
    model = archspec.compile(str(spec))
    assert sum(p.numel() for p in model.parameters()) == a.totals.params


TIED = """network lm(vocab = 50, width = 16):
    input 12 tokens vocab=vocab
    wte = embedding vocab width
    layernorm
    head = dense vocab axis=-1 bias=false tie=wte
"""


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(50, 16)
        self.ln = nn.LayerNorm(16)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.wte.weight  # as nanoGPT and Hugging Face tie them

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln(self.wte(x)))


def test_tie_as_plain_pytorch(tmp_path):
    spec = tmp_path / "lm.arch"
    spec.write_text(TIED)
    ref = TiedLM()
    a = archspec.analyze(str(spec))
    assert a.totals.params == sum(p.numel() for p in ref.parameters()) == 50 * 16 + 32
    assert a.totals.macs == 12 * 16 * 50  # the tied layer's work is counted
    model = archspec.compile(str(spec)).eval()
    assert model.head.weight is model.wte.weight
    assert list(model.state_dict()) == ["wte.weight", "layernorm1.weight", "layernorm1.bias", "head.weight"]
    assert [v.shape for v in model.state_dict().values()] == [v.shape for v in ref.state_dict().values()]
    _randomise(ref)
    archspec.port_weights(model, ref)
    x = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.eval()(x))
    assert "self.head.weight = self.wte.weight" in archspec.generate_code(str(spec))
    assert archspec.check(str(spec)).ok


@pytest.mark.parametrize(("text", "code", "words"), [
    ("network n:\n    input 32\n    fc = dense 16\n    reuse fc\n", "E304", "weights do not fit"),
    ("network n:\n    input 32\n    reuse fc\n", "E403", "no layer named `fc`"),
    ("network n:\n    x = input 32\n    dense 8\n    reuse x\n", "E403", "names a tensor, not a layer"),
    ("network n:\n    input 4 tokens vocab=50\n    wte = embedding 50 16\n    dense 40 axis=-1 tie=wte\n", "E305",
     "40×16"),
    ("network n:\n    input 4 tokens vocab=50\n    wte = embedding 50 16\n    relu\n    r = relu\n"
     "    dense 50 axis=-1 tie=r\n", "E305", "no weight to tie"),
    # the tied weight is one parameter: frozen where it is made (compiled, the freeze was silently undone)
    ("network n:\n    input 4 tokens vocab=50\n    wte = embedding 50 16\n    dense 50 axis=-1 tie=wte freeze=weight\n",
     "E202", "weight is `wte`'s"),
    ("network n:\n    input 4x8\n    matmul input input\n", "E400", "no tensor named `input`"),
    ("network n:\n    input 4 tokens vocab=50\n    wte = embedding 50 16\n    dense 50 axis=-1 tie=wte tie=wte\n",
     "E202", "`tie` given twice"),  # it said `dense` has no argument `tie`
])
def test_diagnostics(text, code, words, tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text(text)
    with pytest.raises(SpecError) as e:
        archspec.analyze(str(spec))
    d = e.value.diagnostic
    assert d.code == code and words in d.message, d.message
    assert d.span is not None and d.span.line >= 3
    if code == "E400":
        assert "x = input" in (d.hint or "")


def test_reuse_and_tie_survive_formatting_and_yaml(tmp_path):
    from archspec.report.fmt import convert

    for name, text in (("rec", RECURSIVE), ("lm", TIED)):
        spec = tmp_path / f"{name}.arch"
        spec.write_text(text)
        want = archspec.analyze(str(spec)).totals
        arch = convert(text, f"{name}.arch", "arch")
        assert ("reuse fc" in arch) if name == "rec" else ("tie=wte" in arch)
        for suffix, body in ((".arch", arch), (".yaml", convert(text, f"{name}.arch", "yaml"))):
            again = tmp_path / f"{name}2{suffix}"
            again.write_text(body)
            got = archspec.analyze(str(again)).totals
            assert (got.params, got.macs) == (want.params, want.macs)


def test_a_learned_tensor_reused_is_one_parameter(tmp_path):
    spec = tmp_path / "p.arch"
    spec.write_text("network p:\n    input 4x8\n    x = _\n    pos = param (4, 8)\n    a = add x pos\n"
                    "    y = reuse pos\n    add a y\n")
    model = archspec.compile(str(spec))
    assert [n for n, _ in model.named_parameters()] == ["pos"] and archspec.analyze(str(spec)).totals.params == 32
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        model.pos.normal_()
        torch.testing.assert_close(model(x), x + 2 * model.pos)


def test_a_layer_passed_to_a_block_is_reused_there(tmp_path):
    spec = tmp_path / "arg.arch"
    spec.write_text("network arg:\n    input 16\n    block apply(layer, n):\n        repeat n:\n            reuse layer\n"
                    "    fc = dense 16 tanh\n    apply(fc, 2)\n    apply(fc, 3)\n    dense 4\n")
    a = archspec.analyze(str(spec))
    assert (a.totals.params, a.totals.macs) == (272 + 68, 6 * 256 + 64)
    model = archspec.compile(str(spec))
    assert sum(p.numel() for p in model.parameters()) == 340
    assert archspec.generate_code(str(spec)).count("self.fc(x)") == 6


def test_embedding_std_draws_the_vectors_as_gpt2_does():
    """`embedding ... std=0.02`: N(0, 0.02²) once built (PyTorch's default is N(0, 1)), the padding id's
    vector zero, in the compiled module and in the emitted file."""
    spec = "network n:\n    input 12 tokens vocab=500\n    wte = embedding 500 64 std=0.02 padding_idx=3\n"
    torch.manual_seed(0)
    w = archspec.compile(archspec.load("n", text=spec)).wte.weight.detach()
    assert 0.019 < float(w.std()) < 0.021 and float(w[3].abs().max()) == 0.0
    code = archspec.generate_code(archspec.load("n", text=spec))
    assert "nn.init.normal_(self.wte.weight, std=0.02)" in code and "nn.init.zeros_(self.wte.weight[3])" in code
    a = archspec.analyze(archspec.load("n", text=spec))
    assert a.totals.params == 500 * 64 and "std 0.02" in a.row("wte").args
