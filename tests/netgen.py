"""Random valid architectures as .arch source, for the differential tests (tests/pytorch/test_differential.py).

A hypothesis strategy writes a network statement by statement: chains and DAGs of every layer kind
(convolutions 1D/2D/3D with strides, dilations, groups, connection tables, padding valid/same/full/ints;
transposed convolutions; pools with ceil mode and padding; global and adaptive pools; dense; flatten;
batch norm and LRN; every activation; upsampling; zero padding; cropping; the classic kinds), merges
(`concat`, `add`, `mul`, with branches or named tensors, `crop=center`), blocks with parameters,
`repeat`, `frozen`, `channels`, auxiliary outputs, and odd sizes.

To keep most drafts valid, each candidate layer is first tried on the current shape with the layer
kind's own shape rule, and dropped if it does not fit. That only steers the drawing: the test compares
the analysis with what PyTorch does, which the steering cannot influence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from archspec.kinds import REGISTRY
from archspec.kinds.base import ShapeError, prod

Shape = tuple[int, ...]
MAX_ELEMENTS = 2_000  # per sample and tensor: the forward passes stay tiny
ACTIVATIONS = ["relu", "relu6", "gelu", "silu", "swish", "tanh", "sigmoid", "hardswish", "hardsigmoid"]


@dataclass(frozen=True)
class Word:
    """A bare word in the source (`same`, `channels`), with the value it stands for."""

    text: str
    value: Any


def fmt(v: Any) -> str:
    """A value as .arch source."""
    if isinstance(v, Word):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return v if v.isidentifier() else f'"{v}"'
    if isinstance(v, tuple):
        if len(v) > 1 and all(type(i) is int and i >= 0 for i in v):
            return "x".join(map(str, v))
        return "(" + ", ".join(fmt(i) for i in v) + ("," if len(v) == 1 else "") + ")"
    raise TypeError(v)


def value(v: Any) -> Any:
    if isinstance(v, Word):
        return v.value
    if isinstance(v, tuple):
        return tuple(value(i) for i in v)
    return v


def out_shape(kind: str, args: dict[str, Any], ins: list[Shape]) -> Shape | None:
    """The shape the kind's own rule gives, or None when the layer does not fit (steering only)."""
    k = REGISTRY[kind]
    try:
        a = k.Args(**{n: value(v) for n, v in args.items()})
        out = k.shape(a, ins)
    except (ShapeError, ValidationError, ValueError, TypeError, ZeroDivisionError):
        return None
    return out if prod(out) <= MAX_ELEMENTS else None


@dataclass
class Layer:
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    act: str | None = None  # the activation shorthand after it
    target: str | None = None
    positional: int = 0  # how many of the kind's positional arguments are written by position

    def render(self) -> str:
        k = REGISTRY[self.kind]
        parts = [f"{self.target} = {self.kind}" if self.target else self.kind]
        rest = dict(self.args)
        for name in k.positional[: self.positional]:
            if name not in rest:
                break
            parts.append(fmt(rest.pop(name)))
        for name, v in rest.items():
            if name in k.flags and v is True:
                parts.append(name)
            else:
                parts.append(f"{name}={fmt(v)}")
        if self.act:
            parts.append(self.act)
        return " ".join(parts)


class Gen:
    """Draws a network; `lines` collects the source, `shape` follows the current tensor."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.lines: list[str] = []
        self.blocks: list[str] = []
        self.saved: dict[str, Shape] = {}
        self.outputs: list[str] = []
        self.n_names = 0

    # -- drawing helpers ---------------------------------------------------------------------------
    def d(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.draw(strategy)

    def int_(self, lo: int, hi: int) -> int:
        return int(self.d(st.integers(lo, hi)))

    def chance(self, p: float = 0.5) -> bool:
        return bool(self.d(st.floats(0, 1)) < p)

    def size(self, nd: int, lo: int, hi: int) -> int | tuple[int, ...]:
        if nd == 1 or self.chance(0.6):
            return self.int_(lo, hi)
        return tuple(self.int_(lo, hi) for _ in range(nd))

    def pad(self, nd: int, hi: int = 2) -> Any:
        choice = self.d(st.sampled_from(["valid", "same", "full", "int", "tuple"]))
        if choice in ("valid", "same", "full"):
            return Word(choice, choice)
        if choice == "int" or nd == 1:
            return self.int_(0, hi)
        return tuple(self.int_(0, hi) for _ in range(nd))

    # -- layers ------------------------------------------------------------------------------------
    def candidates(self, x: Shape, preserve: bool = False) -> list[Layer]:
        """Layers to try on shape x (preserve: only those that keep the shape)."""
        c, nd = x[0], len(x) - 1
        if preserve:
            return self.preserving(x)
        if nd == 0:
            return [self.dense(c), self.dense(c), self.act_layer(x), Layer("dropout", {"p": 0.5}),
                    Layer("bn", {"affine": self.chance(0.8)}), Layer("rbf", {"units": self.int_(1, 6),
                                                                            "trainable": self.chance()}),
                    Layer("identity"), Layer("lrn", {"size": 3})]  # lrn: refused on vectors
        kinds = ["conv", "conv", "conv", "dwconv", "convtranspose", "pool", "pool", "bn", "act", "gpool",
                 "adaptive", "upsample", "zeropad", "crop", "flatten", "padchannels", "subsample", "dropout",
                 "lrn", "table"] + (["local"] if nd <= 2 else [])
        kind = self.d(st.sampled_from(kinds))
        return [getattr(self, "l_" + kind)(x)]

    def dense(self, c: int) -> Layer:
        units = self.int_(1, 10)
        return Layer("dense", {"units": Word("channels", c) if self.chance(0.1) else units, "bias": self.chance(0.8)},
                     act=self.act_name(), positional=1)

    def act_name(self) -> str | None:
        return self.d(st.sampled_from(ACTIVATIONS)) if self.chance(0.4) else None

    def act_layer(self, x: Shape) -> Layer:
        kind = self.d(st.sampled_from([*ACTIVATIONS, "leakyrelu", "elu", "prelu", "softmax"]))
        args: dict[str, Any] = {}
        if kind == "leakyrelu":
            args["slope"] = 0.2
        elif kind == "prelu":
            args["shared"] = self.chance()
        elif kind == "softmax":
            args["axis"] = self.int_(0, len(x) - 1)
        return Layer(kind, args)

    def l_act(self, x: Shape) -> Layer:
        return self.act_layer(x)

    def l_conv(self, x: Shape) -> Layer:
        c, nd = x[0], len(x) - 1
        groups = self.d(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        args: dict[str, Any] = {"filters": groups * self.int_(1, max(1, 6 // groups)), "kernel": self.size(nd, 1, 3)}
        if self.chance(0.3):
            args["stride"] = self.size(nd, 1, 3)
        if self.chance(0.4):
            args["pad"] = self.pad(nd)
        if self.chance(0.2):
            args["dilation"] = self.size(nd, 1, 2)
        if groups > 1:
            if groups == c and args["filters"] % c == 0 and self.chance(0.3):
                args["depthwise"] = True
            else:
                args["groups"] = groups
        if self.chance(0.2):
            args["bias"] = False
        kind = self.d(st.sampled_from(["conv", f"conv{nd}d"]))
        return Layer(kind, args, act=self.act_name(), positional=self.int_(0, 2))

    def l_table(self, x: Shape) -> Layer:
        c, nd = x[0], len(x) - 1
        filters = self.int_(1, 4)
        table = tuple(tuple(sorted(self.d(st.sets(st.integers(0, c - 1), min_size=1, max_size=c))))
                      for _ in range(filters))
        return Layer("conv", {"filters": filters, "kernel": self.size(nd, 1, 3), "pad": self.pad(nd), "table": table},
                     positional=2)

    def l_dwconv(self, x: Shape) -> Layer:
        nd = len(x) - 1
        args: dict[str, Any] = {"kernel": self.size(nd, 1, 3), "multiplier": self.int_(1, 2)}
        if self.chance(0.3):
            args["stride"] = self.size(nd, 1, 2)
        if self.chance(0.5):
            args["pad"] = self.pad(nd)
        return Layer(self.d(st.sampled_from(["dwconv", "depthwise"])), args, act=self.act_name(), positional=1)

    def l_convtranspose(self, x: Shape) -> Layer:
        c, nd = x[0], len(x) - 1
        groups = self.d(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        stride = self.int_(1, 3)
        kernel = self.size(nd, 1, 3)
        args: dict[str, Any] = {"filters": groups * self.int_(1, 2), "kernel": kernel, "stride": stride}
        if self.chance(0.3):
            args["pad"] = self.int_(0, 1)
        if stride > 1 and self.chance(0.3):
            args["output_padding"] = self.int_(0, stride - 1)
        if self.chance(0.2):
            args["dilation"] = self.int_(1, 2)
        if groups > 1:
            args["groups"] = groups
        if self.chance(0.2):
            args["bias"] = False
        return Layer(self.d(st.sampled_from(["convtranspose", "upconv", "deconv"])), args, positional=2)

    def l_pool(self, x: Shape) -> Layer:
        nd = len(x) - 1
        kind = self.d(st.sampled_from(["maxpool", "avgpool"]))
        kernel = self.size(nd, 1, 3)
        args: dict[str, Any] = {"kernel": kernel}
        if self.chance(0.5):
            args["stride"] = self.size(nd, 1, 3)
        if self.chance(0.4):
            k = kernel if isinstance(kernel, int) else min(kernel)
            args["pad"] = Word("same", "same") if self.chance(0.3) else self.int_(0, k // 2)
        if self.chance(0.4):
            args["ceil"] = True
        if kind == "avgpool" and self.chance(0.3):
            args["count_include_pad"] = False
        return Layer(kind, args, positional=1)

    def l_gpool(self, x: Shape) -> Layer:
        kind = self.d(st.sampled_from(["globalavgpool", "gap", "globalmaxpool"]))
        return Layer(kind, {"keepdims": True} if self.chance(0.3) else {})

    def l_adaptive(self, x: Shape) -> Layer:
        kind = self.d(st.sampled_from(["adaptiveavgpool", "adaptivemaxpool"]))
        return Layer(kind, {"size": self.size(len(x) - 1, 1, 3)}, positional=1)

    def l_bn(self, x: Shape) -> Layer:
        return Layer(self.d(st.sampled_from(["bn", "batchnorm"])), {} if self.chance(0.8) else {"affine": False})

    def l_lrn(self, x: Shape) -> Layer:
        return Layer("lrn", {"size": self.int_(1, 5)}, positional=1)

    def l_dropout(self, x: Shape) -> Layer:
        return Layer("dropout", {"p": self.d(st.sampled_from([0.0, 0.25, 0.5]))}, positional=1)

    def l_upsample(self, x: Shape) -> Layer:
        nd = len(x) - 1
        mode = self.d(st.sampled_from(["nearest", "nearest", "linear", "bilinear", "trilinear"]))
        return Layer("upsample", {"scale": self.size(nd, 1, 2), "mode": Word(mode, mode)}, positional=1)

    def l_zeropad(self, x: Shape) -> Layer:
        nd = len(x) - 1
        if self.chance(0.3):
            pad: Any = tuple((self.int_(0, 2), self.int_(0, 2)) for _ in range(nd))
        else:
            pad = self.size(nd, 0, 2)
        return Layer("zeropad", {"pad": pad}, positional=1)

    def l_crop(self, x: Shape) -> Layer:
        nd = len(x) - 1
        if self.chance(0.3):
            return Layer("crop", {"size": tuple(self.int_(1, n) for n in x[1:])})
        if self.chance(0.3):
            return Layer("crop", {"crop": tuple((self.int_(0, 1), self.int_(0, 1)) for _ in range(nd))}, positional=1)
        return Layer("crop", {"crop": self.size(nd, 0, 1)}, positional=1)

    def l_flatten(self, x: Shape) -> Layer:
        return Layer("flatten")

    def l_padchannels(self, x: Shape) -> Layer:
        args: dict[str, Any] = {"channels": x[0] + self.int_(0, 3)}
        if self.chance(0.5):
            args["stride"] = self.size(len(x) - 1, 1, 2)
        if self.chance(0.3):
            args["side"] = Word("both", "both")
        return Layer("padchannels", args, positional=1)

    def l_subsample(self, x: Shape) -> Layer:
        nd = len(x) - 1
        args: dict[str, Any] = {"kernel": self.size(nd, 1, 2)}
        if self.chance(0.3):
            args["stride"] = self.size(nd, 1, 2)
        return Layer("subsample", args, act=self.act_name(), positional=1)

    def l_local(self, x: Shape) -> Layer:
        nd = len(x) - 1
        args: dict[str, Any] = {"filters": self.int_(1, 3), "kernel": self.size(nd, 1, 3)}
        if self.chance(0.3):
            args["stride"] = self.size(nd, 1, 2)
        if self.chance(0.3):
            args["pad"] = self.pad(nd, 1)
        if self.chance(0.2):
            args["bias"] = False
        return Layer("local", args, positional=2)

    def preserving(self, x: Shape) -> list[Layer]:
        """Layers that keep shape x (for residual branches, repeat bodies and blocks)."""
        c, nd = x[0], len(x) - 1
        if nd == 0:
            return [Layer("dense", {"units": Word("channels", c) if self.chance() else c}, act=self.act_name(),
                          positional=1), Layer("bn"), self.act_layer(x), Layer("identity"), Layer("dropout")]
        conv: dict[str, Any] = {"filters": Word("channels", c) if self.chance(0.3) else c,
                                "kernel": self.size(nd, 1, 3), "pad": Word("same", "same")}
        if self.chance(0.2):
            conv["dilation"] = self.size(nd, 1, 2)
        options = [Layer("conv", conv, act=self.act_name(), positional=2), Layer("bn"), self.act_layer(x),
                   Layer("identity"), Layer("maxpool", {"kernel": 3, "stride": 1, "pad": 1}, positional=1),
                   Layer("dwconv", {"kernel": self.size(nd, 1, 3), "pad": Word("same", "same")}, positional=1),
                   Layer("lrn", {"size": 3})]
        return [self.d(st.sampled_from(options))]

    # -- statements ------------------------------------------------------------------------------
    def emit(self, line: str, indent: int) -> None:
        self.lines.append("    " * indent + line)

    def chain(self, x: Shape, indent: int, n: int, preserve: bool = False, into: list[str] | None = None) -> Shape:
        """Up to n layers from shape x; returns the shape after them."""
        for _ in range(n):
            for layer in self.candidates(x, preserve):
                y = out_shape(layer.kind, layer.args, [x])
                if y is not None and (not preserve or y == x):
                    if layer.act:
                        y2 = out_shape(layer.act, {}, [y])
                        if y2 is None:
                            layer.act = None
                    (into if into is not None else self.lines).append("    " * indent + layer.render())
                    x = y
                    break
        return x

    def statement(self, x: Shape, indent: int, depth: int) -> Shape:
        kinds = ["chain", "chain", "chain", "merge", "named", "repeat", "call", "frozen", "aux"] if depth < 2 else ["chain"]
        kind = self.d(st.sampled_from(kinds))
        return getattr(self, "s_" + kind)(x, indent, depth)

    def s_chain(self, x: Shape, indent: int, depth: int) -> Shape:
        return self.chain(x, indent, self.int_(1, 3))

    def s_merge(self, x: Shape, indent: int, depth: int) -> Shape:
        kind = self.d(st.sampled_from(["add", "mul", "concat", "concat"]))
        crop = kind == "concat" and len(x) > 1 and self.chance(0.3)
        branches: list[tuple[list[str], Shape]] = []
        for _ in range(self.int_(2, 3)):
            body: list[str] = []
            if kind == "mul" and len(x) > 1 and self.chance(0.3):  # a squeeze-and-excitation gate
                body = ["gap", f"dense {max(1, x[0] // 2)} relu", f"dense {x[0]} sigmoid"]
                y: Shape = (x[0],)
            else:
                y = self.chain(x, 0, self.int_(0, 2), preserve=kind != "concat", into=body)
            if kind == "concat" and not crop and y[1:] != x[1:]:
                continue
            branches.append((body or ["identity"], y))
        if len(branches) < 2:
            return x
        merge_args = {"crop": Word("center", "center")} if crop else {}
        out = out_shape(kind, merge_args, [y for _, y in branches])
        if out is None:
            return x
        self.emit(f"{kind}{' crop=center' if crop else ''}:", indent)
        for body, _ in branches:
            if len(body) == 1:
                self.emit(f"branch: {body[0].strip()}", indent + 1)
            else:
                self.emit("branch:", indent + 1)
                for ln in body:
                    self.emit(ln.strip(), indent + 2)
        return out

    def s_named(self, x: Shape, indent: int, depth: int) -> Shape:
        self.n_names += 1
        name = f"t{self.n_names}"
        self.emit(f"{name} = _", indent)
        y = self.chain(x, indent, self.int_(1, 3))
        kind = self.d(st.sampled_from(["add", "mul", "concat"]))
        args: dict[str, Any] = {}
        if kind == "concat" and len(x) > 1 and self.chance(0.5):
            args["crop"] = Word("center", "center")
        elif kind == "concat" and self.chance(0.3):
            args["axis"] = self.int_(0, len(x) - 1)
        out = out_shape(kind, args, [x, y])
        if out is None:
            return y
        extra = "".join(f" {k}={fmt(v)}" for k, v in args.items())
        if self.chance():
            self.emit(f"{kind} {name} _{extra}", indent)
        else:
            self.emit(f"{kind}({name}, _{extra.replace(' ', ', ')})", indent)
        return out

    def s_repeat(self, x: Shape, indent: int, depth: int) -> Shape:
        body: list[str] = []
        y = self.chain(x, indent + 1, self.int_(1, 2), preserve=True, into=body)
        assert y == x
        n = self.int_(0, 3)
        var = " as i" if self.chance(0.3) else ""
        self.emit(f"repeat {n}{var}:", indent)
        self.lines.extend(body)
        return x

    def s_call(self, x: Shape, indent: int, depth: int) -> Shape:
        """A block `unitK(c)`: conv c, then shape-keeping layers; called once or twice."""
        nd = len(x) - 1
        c = self.int_(1, 5)
        if prod((c, *x[1:])) > MAX_ELEMENTS:
            return x
        name = f"unit{len(self.blocks) + 1}"
        body: list[str] = []
        body.append(f"conv c {fmt(self.size(nd, 1, 3))} pad=same" if nd > 0 else "dense c")
        self.chain((c, *x[1:]), 2, self.int_(0, 2), preserve=True, into=body)
        self.blocks.append(f"    block {name}(c, unused = 1):\n" + "\n".join(
            "        " + ln.strip() for ln in body))
        for _ in range(self.int_(1, 2)):
            self.emit(f"{name}({c})" if self.chance() else f"{name}(c = {c})", indent)
        return (c, *x[1:])

    def s_frozen(self, x: Shape, indent: int, depth: int) -> Shape:
        self.emit("frozen:", indent)
        before = len(self.lines)
        y = self.chain(x, indent + 1, self.int_(1, 2))
        if len(self.lines) == before:
            self.emit("identity", indent + 1)
        return y

    def s_aux(self, x: Shape, indent: int, depth: int) -> Shape:
        """An auxiliary head: a side path whose end is an output, then the main path resumes."""
        self.n_names += 1
        name = f"t{self.n_names}"
        self.emit(f"{name} = _", indent)
        self.chain(x, indent, self.int_(1, 2))
        self.emit(f"aux{self.n_names} = _", indent)
        self.emit(f"from {name}", indent)
        self.outputs.append(f"output aux{self.n_names} weight=0.{self.int_(1, 9)}")
        return x


@st.composite
def networks(draw: st.DrawFn, max_statements: int = 6) -> str:
    """A random network as .arch source (most of them valid)."""
    g = Gen(draw)
    nd = g.d(st.sampled_from([0, 1, 2, 2, 2, 3]))
    hi = {0: 12, 1: 16, 2: 9, 3: 5}[nd]
    x: Shape = (g.int_(1, 12),) if nd == 0 else (g.int_(1, 4), *(g.int_(1, hi) for _ in range(nd)))
    head = ["network g:", f"    input {fmt(x) if len(x) > 1 else x[0]}"]
    for _ in range(g.int_(1, max_statements)):
        x = g.statement(x, 1, 0)
    tail = ["    output", *("    " + o for o in g.outputs)] if g.outputs else []
    return "\n".join(head + g.blocks + g.lines + tail) + "\n"
