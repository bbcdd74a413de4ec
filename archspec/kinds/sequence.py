"""Sequence models: the embedding lookup of integer token ids, and the recurrent layers (LSTM, GRU, plain
RNN) as PyTorch's nn.Embedding, nn.LSTM, nn.GRU and nn.RNN compute them.

Conventions (docs/conventions.md, ../shared/ACCEPTANCE.md): a lookup costs no MACs; a recurrent layer costs
T·G·H·(I+H) MACs per layer and direction over T steps, the gate products (G = 4 gates for an LSTM, 3 for a
GRU, 1 for a plain RNN; I the layer's input width: the features for the first layer, D·H after it), and
holds G·H·(I+H) weights and two bias vectors of G·H (b_ih and b_hh), as PyTorch registers them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt, field_validator

from archspec.kinds.base import (
    GLOBAL,
    Args,
    Cost,
    LayerKind,
    Receptive,
    Shape,
    ShapeError,
    fmt_shape,
    register,
)
from archspec.kinds.torchspec import Helper, Opt, Torch, call


class EmbeddingArgs(Args):
    vocab: PositiveInt  # num_embeddings: the ids are 0 … vocab − 1
    dim: PositiveInt  # embedding_dim
    padding_idx: int | None = None  # an id whose vector is zero and not trained (as nn.Embedding)
    std: PositiveFloat | None = None  # vectors drawn from N(0, std²) (GPT-2: 0.02); PyTorch's N(0, 1) without



@register
class Embedding(LayerKind[EmbeddingArgs]):
    name = "embedding"
    aliases = ("embed",)
    Args = EmbeddingArgs
    category = "embedding"
    positional = ("vocab", "dim")
    takes = "int"
    summary = ("A lookup table of `vocab` learned vectors of `dim` (PyTorch's nn.Embedding): each token id of an "
               "integer input (`input 100 tokens vocab=10000`) becomes its vector, so L ids give L×dim.")
    shape_rule = "input + (dim,): L ids → L×dim"
    params_rule = "vocab · dim"
    macs_rule = "0 (a lookup)"
    flops_rule = "0"

    def shape(self, a: EmbeddingArgs, ins: list[Shape]) -> Shape:
        if a.padding_idx is not None and not -a.vocab <= a.padding_idx < a.vocab:
            raise ShapeError(f"`embedding` padding_idx {a.padding_idx} is not an id of a vocabulary of {a.vocab:,}",
                             code="E202", expected=f"an id from 0 to {a.vocab - 1}")
        return (*ins[0], a.dim)

    def cost(self, a: EmbeddingArgs, ins: list[Shape], out: Shape) -> Cost:
        return Cost(params=a.vocab * a.dim)

    def weight(self, a: EmbeddingArgs, ins: list[Shape]) -> Shape | None:
        return (a.vocab, a.dim)  # nn.Embedding's

    def describe(self, a: EmbeddingArgs) -> str:
        return f"{a.vocab:,}×{a.dim}" + (f" std {a.std:g}" if a.std is not None else "")

    def pytorch(self, a: EmbeddingArgs, ins: list[Shape], out: Shape) -> Torch:
        return call("nn.Embedding", a.vocab, a.dim, names=("num_embeddings", "embedding_dim"),
                    padding_idx=Opt(a.padding_idx, None), then=self._init(a))

    @staticmethod
    def _init(a: EmbeddingArgs) -> tuple[str, ...]:
        """`std=0.02`: the vectors drawn from N(0, std²), as GPT-2 and BERT initialise them (the padding id's
        vector zero again, as nn.Embedding makes it)."""
        if a.std is None:
            return ()
        zero = (f"nn.init.zeros_({{m}}.weight[{a.padding_idx}])",) if a.padding_idx is not None else ()
        return (f"nn.init.normal_({{m}}.weight, std={a.std!r})", *zero)


class RecurrentArgs(Args):
    hidden: PositiveInt  # hidden_size
    layers: PositiveInt = 1  # num_layers, stacked
    bidirectional: bool = False
    batch_first: bool = True  # as PyTorch's argument; archspec's tensors are batch first either way
    bias: bool = True  # b_ih and b_hh
    dropout: float = 0.0  # between stacked layers, in training
    output: Literal["sequence", "hidden", "cell"] = "sequence"  # which of the module's results to take

    @field_validator("dropout")
    @classmethod
    def _prob(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError("a dropout rate is at least 0 and below 1")
        return v


_RECURRENT = '''\
class {cls}(nn.Module):
    """nn.{torch} (its weights port as they are, under `rnn.`), taking one of its results: the last
    layer's outputs (N×T×D·H, batch first), or the final {states} of every layer
    and direction (N×D·layers×H, batch first)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 output: str = "sequence") -> None:
        super().__init__()
        self.rnn = nn.{torch}(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional)
        self.batch_first = batch_first
        self.output = output

    def forward(self, x: Tensor) -> Tensor:
        if not self.batch_first:
            x = x.transpose(0, 1)
        {unpack} = self.rnn(x)
{pick}        if self.batch_first:
            return seq
        return seq.transpose(0, 1)
'''


def _helper(cls: str, torch: str, lstm: bool) -> Helper:
    pick = ('        if self.output == "hidden":\n            return h.transpose(0, 1)\n')
    if lstm:
        pick += '        if self.output == "cell":\n            return c.transpose(0, 1)\n'
    return Helper(cls, _RECURRENT.format(cls=cls, torch=torch, states="hidden and cell states" if lstm else
                                         "hidden states", unpack="seq, (h, c)" if lstm else "seq, h", pick=pick))


class _Recurrent(LayerKind[RecurrentArgs]):
    Args = RecurrentArgs
    category = "recurrent"
    positional = ("hidden",)
    flags = ("bidirectional", "batch_first")
    gates: ClassVar[int]
    torch: ClassVar[str]
    helper: ClassVar[Helper]

    def __init_subclass__(cls, **kw: object) -> None:
        """The rules of LSTM, GRU and RNN differ only by their number of gates: written once, from `gates`."""
        super().__init_subclass__(**kw)
        if not hasattr(cls, "gates"):
            return
        g = "" if cls.gates == 1 else str(cls.gates)
        cell = " or cell" if cls.gates == 4 else ""
        cls.shape_rule = f"T×D·H (output=sequence); D·layers×H (output=hidden{cell})"
        cls.params_rule = f"per layer and direction: {g}H·(I+H) + {2 * cls.gates}H (b_ih and b_hh); I = features, then D·H"
        cls.macs_rule = f"per layer and direction: T · {g}H · (I + H)"
        cls.flops_rule = f"2 · MACs + {2 * cls.gates}H·T per layer and direction (biases)"

    def _sizes(self, a: RecurrentArgs, x: Shape) -> tuple[int, int, int]:
        """(steps T, input width I, directions D) of a T×I sequence."""
        if len(x) != 2:
            got = f"a flat vector of {x[0]}" if len(x) == 1 else fmt_shape(x)
            raise ShapeError(f"`{self.name}` needs a sequence, T×I (steps × features), got {got}",
                             expected="T×I", hint="token ids become a sequence with `embedding VOCAB DIM`; "
                                                  "maps with `flatten start=1` and `transpose`")
        if a.output == "cell" and self.gates != 4:
            raise ShapeError(f"`{self.name}` has no cell state: output=cell is an LSTM's", code="E202",
                             expected="output=sequence or output=hidden")
        return x[0], x[1], 2 if a.bidirectional else 1

    def shape(self, a: RecurrentArgs, ins: list[Shape]) -> Shape:
        t, _, d = self._sizes(a, ins[0])
        return (t, d * a.hidden) if a.output == "sequence" else (d * a.layers, a.hidden)

    def cost(self, a: RecurrentArgs, ins: list[Shape], out: Shape) -> Cost:
        t, i, d = self._sizes(a, ins[0])
        g, h = self.gates, a.hidden
        params = macs = 0
        for layer in range(a.layers):
            width = i if layer == 0 else d * h
            params += d * (g * h * (width + h) + (2 * g * h if a.bias else 0))
            macs += d * t * g * h * (width + h)
        bias = 2 * g * h * t * d * a.layers if a.bias else 0
        return Cost(params=params, macs=macs, flops=2 * macs + bias, connections=macs + bias)

    def receptive(self, a: RecurrentArgs, ins: list[Shape]) -> Receptive:
        return GLOBAL

    def describe(self, a: RecurrentArgs) -> str:
        out = f"{a.hidden}" + (f" ×{a.layers} layers" if a.layers > 1 else "")
        out += " bidirectional" if a.bidirectional else ""
        out += "" if a.bias else " no bias"
        return out + ("" if a.output == "sequence" else f" → {a.output}")

    def pytorch(self, a: RecurrentArgs, ins: list[Shape], out: Shape) -> Torch:
        return call(self.helper.name, ins[0][1], a.hidden, a.layers, names=("input_size", "hidden_size", "num_layers"),
                    helper=self.helper, bias=Opt(a.bias, True), batch_first=Opt(a.batch_first, True),
                    dropout=Opt(a.dropout, 0.0), bidirectional=Opt(a.bidirectional, False),
                    output=Opt(a.output, "sequence"))


_COMMON = (" on a T×I sequence (batch first): `{name} 256 layers=2` (stacked), `bidirectional`, `bias=false`, "
           "`dropout=` between layers. It outputs the last layer's sequence, T×D·H (D = 2 directions if "
           "bidirectional); `output=hidden` the final hidden states of every layer and direction instead, "
           "D·layers×H{cell}. `select -1` takes the sequence's last step.")


@register
class LSTM(_Recurrent):
    name = "lstm"
    gates = 4
    torch = "LSTM"
    helper = _helper("LSTMLayer", "LSTM", True)
    summary = "Long short-term memory (PyTorch's nn.LSTM)" + _COMMON.format(name="lstm", cell=" (`output=cell` the cell states)")


@register
class GRU(_Recurrent):
    name = "gru"
    gates = 3
    torch = "GRU"
    helper = _helper("GRULayer", "GRU", False)
    summary = "Gated recurrent unit (PyTorch's nn.GRU)" + _COMMON.format(name="gru", cell="")


@register
class RNN(_Recurrent):
    name = "rnn"
    gates = 1
    torch = "RNN"
    helper = _helper("RNNLayer", "RNN", False)
    summary = "Plain (Elman) recurrent layer with tanh (PyTorch's nn.RNN)" + _COMMON.format(name="rnn", cell="")


__all__ = ["GRU", "LSTM", "RNN", "Embedding"]
