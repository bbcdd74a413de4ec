"""How the peer tools count MACs, as one table: for each tool, a rule per layer kind and a default.

`--convention torchinfo|fvcore|thop|ptflops` reports MACs as that tool would on the compiled network
(the versions and what each counts: docs/conventions.md, whose table of rules is generated from
`RULES`). A rule sees the layer's arguments, shapes and its own cost before freezing (the peers count a
frozen layer's work as any other), and gives its MACs per sample. archspec's own convention is the cost
rule of each kind (`cost.macs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archspec.ir import Cost, Shape, prod
from archspec.kinds.base import KINDS, LayerKind, norm_size

TOOLS = ("torchinfo", "fvcore", "thop", "ptflops")


@dataclass(frozen=True, slots=True)
class Layer:
    """What a rule sees of a layer."""

    kind: LayerKind[Any]
    a: Any  # its arguments
    ins: list[Shape]
    out: Shape
    cost: Cost  # before freezing

    @property
    def weights(self) -> int:
        """Every parameter, trainable or not."""
        return self.cost.params + self.cost.fixed

    @property
    def positions(self) -> int:
        """Output positions: the output's elements per channel."""
        return prod(self.out[1:])

    @property
    def bias(self) -> int:
        """One per output element where the layer has a bias."""
        return prod(self.out) if getattr(self.a, "bias", False) else 0


@dataclass(frozen=True, slots=True)
class Rule:
    text: str  # for the docs
    macs: Callable[[Layer], int]


def _geo(x: Layer) -> Any:
    return x.kind._geo(x.a, x.ins[0])  # type: ignore[attr-defined]


def _pool_input(x: Layer) -> int:
    """A pooling module's input: padded first where the padding is uneven (ptflops counts that tensor)."""
    _, _, pads = _geo(x)
    if all(b == e for b, e in pads):
        return prod(x.ins[0])
    return x.ins[0][0] * prod(tuple(n + b + e for n, (b, e) in zip(x.ins[0][1:], pads)))


def _adaptive_thop(x: Layer) -> int:
    """thop's count_adap_avgpool: (∏ in/out, in floating point, + 1) × output, truncated."""
    ratio = 1.0
    for n, o in zip(x.ins[0][1:], x.out[1:]):
        ratio *= n / o
    return int((ratio + 1) * prod(x.out))


def _convtranspose_thop(x: Layer) -> int:
    k = norm_size(x.a.kernel, len(x.ins[0]) - 1, "kernel")
    return x.ins[0][0] * (x.a.filters // x.a.groups) * prod(k) * x.positions


def _bn_scale(x: Layer) -> int:
    return 2 if x.a.affine else 1


def _attention_ptflops(x: Layer) -> int:
    """ptflops's multihead_attention_counter_hook: the query scaling, the projections (the output's bias
    counted always), the products and the softmax of every head."""
    n, d = x.ins[0]
    return 4 * n * d * d + 2 * n * n * d + 2 * n * d + x.a.heads * n * n + (3 * n * d if x.a.bias else 0)


def _window(x: Layer) -> tuple[int, int, int]:
    """(padded positions, windows, channels) of a window attention's H×W×C input."""
    h, w, c = x.ins[0]
    k = x.a.window
    n = -(-h // k) * k * (-(-w // k) * k)
    return n, n // (k * k), c


def _ln_plain(x: Layer) -> bool:
    """An `nn.LayerNorm` itself (not the LayerNorm2d subclass of `channels_first`, which thop and ptflops do
    not know: they look modules up by their exact type)."""
    return not x.a.channels_first


ZERO = Rule("0", lambda x: 0)
MACS = Rule("our MACs", lambda x: x.cost.macs)
PARAMS = Rule("its parameters", lambda x: x.weights)
ELEMENTS = Rule("1 × output elements", lambda x: prod(x.out))
INPUT = Rule("1 × input elements", lambda x: prod(x.ins[0]))
UNKNOWN = Rule("0 (a module it does not know)", lambda x: 0)
CONV_ACTIVATIONS = ("relu", "relu6", "gelu", "leakyrelu", "elu", "prelu")  # the ones ptflops 0.7.5 hooks
ACTIVATIONS = ("relu", "relu6", "gelu", "silu", "tanh", "sigmoid", "hardswish", "hardsigmoid", "leakyrelu", "elu",
               "prelu", "softmax")
CONVS = ("conv", "conv1d", "conv2d", "conv3d", "dwconv")
CLASSIC = ("subsample", "rbf", "local")  # compiled to modules of archspec's own, which the peers do not know

RECURRENT = ("lstm", "gru", "rnn")
_CELL_EXTRA = {  # per step, layer and direction: elementwise work the tool adds (× H), without and with biases
    "thop": {"lstm": (8, 16), "gru": (7, 13), "rnn": (1, 3)},
    "ptflops": {"lstm": (10, 18), "gru": (7, 13), "rnn": (1, 3)},
}


def _recurrent(tool: str) -> Rule:
    """thop's and ptflops's RNN hooks: our gate products plus their count of the gates' sums, products and
    biases, per step, layer and direction."""
    def rule(x: Layer) -> int:
        per = _CELL_EXTRA[tool][x.kind.name][1 if x.a.bias else 0]
        return x.cost.macs + per * x.a.hidden * x.ins[0][0] * x.a.layers * (2 if x.a.bidirectional else 1)
    extra = ", ".join(f"{k} {a}H ({b}H with bias)" for k, (a, b) in _CELL_EXTRA[tool].items())
    return Rule(f"our MACs + per step, layer and direction: {extra}", rule)


PRODUCTS = ("matmul", "einsum")  # torch.matmul / torch.einsum in forward: functions, not modules
FUNCTION = Rule("0 (a function in forward, not a module)", lambda x: 0)


def _einsum_fvcore(x: Layer) -> int:
    """fvcore's einsum handle: numpy's einsum_path FLOPs halved, which are 2 × ours where an axis is summed
    and ours (halved: 1 × ours / 2) where none is (an outer or elementwise product)."""
    ops, _, out = x.a.equation.replace(" ", "").partition("->")
    letters = set(ops) - {","}
    summed = bool(letters - set(out)) if _ else any(ops.count(c) > 1 for c in letters)
    return x.cost.macs if summed else x.cost.macs // 2


# tool → (default rule, {kind: rule})
RULES: dict[str, tuple[Rule, dict[tuple[str, ...], Rule]]] = {
    "torchinfo": (PARAMS, {  # torchinfo 1.8: a module's parameters once per output position of a conv
        (*CONVS, "convtranspose"): Rule("(weights + bias) × output positions", lambda x: x.weights * x.positions),
        ("dense",): Rule("its parameters (once per sample: not per token of `axis=-1`)", lambda x: x.weights),
        RECURRENT: Rule("its parameters × steps", lambda x: x.weights * x.ins[0][0]),
        ("layerscale", "param"): Rule("0 (a parameter of the enclosing block, not a module of its own)",
                                      lambda x: 0),
        ("attention",): Rule("0 (nn.MultiheadAttention runs its projections as functionals)", lambda x: 0),
        PRODUCTS: FUNCTION,
        ("window_attention",): Rule("windows × the projections' parameters (a batch of windows)",
                                    lambda x: _window(x)[1] * (4 * _window(x)[2] ** 2 + (4 if x.a.bias else 1)
                                                               * _window(x)[2])),
    }),
    "fvcore": (MACS, {  # fvcore 0.1.5: the aten ops it has handles for
        (*ACTIVATIONS, "add", "mul", "maxpool", "avgpool", "globalmaxpool", "adaptivemaxpool", "lrn"): ZERO,
        ("batchnorm",): Rule("1 × elements, 2 × with affine (inference)", lambda x: _bn_scale(x) * prod(x.out)),
        ("globalavgpool", "adaptiveavgpool"): Rule("1 × input elements, 2D only",
                                                   lambda x: prod(x.ins[0]) if len(x.ins[0]) == 3 else 0),
        ("upsample", "resize", "resize_like"): Rule(
            "1 × output (nearest), 4 × (bilinear), 2D only",
            lambda x: prod(x.out) * (1 if x.a.mode == "nearest" else 4) if len(x.out) == 3 else 0),
        ("layernorm", "groupnorm"): Rule("5 × elements with affine, 4 × without",
                                         lambda x: (5 if x.a.affine else 4) * prod(x.out)),
        ("attention",): Rule("4·L·D²: the projections (not QKᵀ and AV, run by a kernel it has no handle for)",
                             lambda x: 4 * x.ins[0][0] * x.ins[0][1] ** 2),
        RECURRENT: Rule("0 (no handle for the fused RNN ops)", lambda x: 0),
        ("matmul",): Rule("the first input's elements × m (not its broadcast over the second's batch axes)",
                          lambda x: prod(x.ins[0]) * (x.ins[1][-1] if len(x.ins[1]) > 1 else 1)),
        ("einsum",): Rule("our MACs where an axis is summed, half of them where none is (numpy's einsum_path)",
                          _einsum_fvcore),
    }),
    "thop": (MACS, {  # thop 0.1.1: the modules it has counters for
        (*ACTIVATIONS, "add", "mul", "maxpool", "globalmaxpool", "adaptivemaxpool", "lrn"): ZERO,
        ("prelu",): ELEMENTS,
        ("softmax",): Rule("(3n − 1) per slice of n along its axis",
                           lambda x: (prod(x.out) // x.out[x.a.axis]) * (3 * x.out[x.a.axis] - 1)),
        ("conv", "conv1d", "conv2d", "conv3d"): Rule("our MACs; 0 with a connection table",
                                                    lambda x: 0 if x.a.table is not None else x.cost.macs),
        ("convtranspose",): Rule("weights × output positions, as a convolution", _convtranspose_thop),
        ("batchnorm",): Rule("2 × elements, 4 × with affine", lambda x: 2 * _bn_scale(x) * prod(x.out)),
        ("avgpool",): ELEMENTS,
        ("globalavgpool",): Rule("(input positions + 1) × output", lambda x: (prod(x.ins[0][1:]) + 1) * prod(x.out)),
        ("adaptiveavgpool",): Rule("(∏ input/output + 1) × output, truncated", _adaptive_thop),
        ("upsample",): Rule("1 × output (nearest), 5 × (linear), 11 × (bilinear), 0 (trilinear)",
                            lambda x: prod(x.out) * (1 if x.a.mode == "nearest" else {2: 5, 3: 11, 4: 0}[len(x.out)])),
        CLASSIC: UNKNOWN,
        ("layernorm",): Rule("4 × elements with affine, 2 × without; 0 with `channels_first` (a module it does not "
                             "know)", lambda x: (4 if x.a.affine else 2) * prod(x.out) if _ln_plain(x) else 0),
        ("groupnorm", "attention"): UNKNOWN,
        ("window_attention",): Rule("4·L·C²: its two nn.Linear (L the padded positions)",
                                    lambda x: 4 * _window(x)[0] * _window(x)[2] ** 2),
        RECURRENT: _recurrent("thop"),
        PRODUCTS: FUNCTION,
    }),
    "ptflops": (MACS, {  # ptflops 0.7.5, backend="pytorch", count_functional=False: its module hooks
        (*ACTIVATIONS, "add", "mul", "lrn"): ZERO,
        CONV_ACTIVATIONS: ELEMENTS,
        ("conv", "conv1d", "conv2d", "conv3d"): Rule("our MACs + bias × output elements; 0 with a connection table",
                                                    lambda x: 0 if x.a.table is not None else x.cost.macs + x.bias),
        ("dwconv", "convtranspose"): Rule("our MACs + bias × output elements", lambda x: x.cost.macs + x.bias),
        ("dense",): Rule("our MACs + bias × output elements", lambda x: x.cost.macs + x.bias),
        ("batchnorm", "groupnorm"): Rule("1 × elements, 2 × with affine", lambda x: _bn_scale(x) * prod(x.out)),
        ("layernorm",): Rule("1 × elements; 0 with `channels_first` (a module it does not know)",
                             lambda x: prod(x.out) if _ln_plain(x) else 0),
        ("attention",): Rule("our MACs + 2·L·D + heads·L² (+ 3·L·D with bias): scaling, softmax, biases",
                             _attention_ptflops),
        ("window_attention",): Rule("4·L·C² + biases (L the padded positions): its two nn.Linear",
                                    lambda x: 4 * _window(x)[0] * _window(x)[2] ** 2
                                    + (4 if x.a.bias else 1) * _window(x)[0] * _window(x)[2]),
        RECURRENT: _recurrent("ptflops"),
        ("maxpool", "avgpool"): Rule("1 × input elements (padded where the padding is uneven)", _pool_input),
        ("globalavgpool", "globalmaxpool", "adaptiveavgpool", "adaptivemaxpool"): INPUT,
        ("upsample",): ELEMENTS,
        CLASSIC: UNKNOWN,
        PRODUCTS: Rule("0 (a function: counted only with count_functional, which archspec's figures leave off)",
                       lambda x: 0),
    }),
}

_TABLE: dict[tuple[str, str], Rule] = {}
for _tool, (_, _rules) in RULES.items():
    for _kinds, _rule in _rules.items():
        for _k in _kinds:
            _TABLE[(_k, _tool)] = _rule  # later entries win: ptflops's activations after ACTIVATIONS


def rule(kind: str, tool: str) -> Rule:
    return _TABLE.get((kind, tool)) or RULES[tool][0]


def peer_macs(kind: LayerKind[Any], tool: str, a: Any, ins: list[Shape], out: Shape, cost: Cost) -> int:
    """MACs per sample as `tool` counts this layer (`cost` before freezing); archspec's are `cost.macs`."""
    if tool == "archspec":
        return cost.macs
    return rule(kind.name, tool).macs(Layer(kind, a, ins, out, cost))


def all_peer_macs(kind: LayerKind[Any], tools: tuple[str, ...], a: Any, ins: list[Shape], out: Shape,
                  cost: Cost) -> dict[str, int]:
    """`peer_macs` for each of `tools`, in their order (the layer as the rules see it made once)."""
    x = Layer(kind, a, ins, out, cost)
    return {t: cost.macs if t == "archspec" else rule(kind.name, t).macs(x) for t in tools}


def markdown() -> str:
    """The rules as a table for docs/conventions.md: one row per group of kinds counted alike."""
    rows: dict[tuple[str, ...], list[str]] = {}
    for name in KINDS:
        if KINDS[name].op in ("input", "output"):
            continue
        texts = tuple(rule(name, t).text for t in TOOLS)
        rows.setdefault(texts, []).append(name)
    out = ["| kinds | " + " | ".join(TOOLS) + " |", "|---|" + "---|" * len(TOOLS)]
    for texts, names in rows.items():
        out.append("| " + ", ".join(f"`{n}`" for n in names) + " | " + " | ".join(texts) + " |")
    return "\n".join(out) + "\n"
