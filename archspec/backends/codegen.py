"""Code generation: a spec's graph as PyTorch source, in the manner of torch.fx's `GraphModule.code`.

A compiled network is a tree of modules that follows the spec's block hierarchy: a node `stage3.conv2`
is the module `self.stage3.conv2`. A scope (block instance or branch) that reads tensors from outside and
gives back one tensor becomes a class with its own straight-line `forward` (`x = self.stage3(x)`), the
way torchvision writes `Bottleneck`; other scopes are plain containers whose layers the enclosing
`forward` calls directly. Instances of a block with the same forward share a class; their constructor
takes the values that differ between instances (named after the block's parameters where they match).

Nothing from a spec reaches the source unescaped: names become ASCII identifiers (keywords, builtins and
`nn.Module` attributes avoided), text goes into comments and string literals through `repr`.

`Plan` is the whole design, made from the graph and the built layer modules; `forward_source` is what
the in-memory module runs (`torch_module.py`), `file_source` the standalone file (`archspec compile -o`).
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from archspec.lang.expr import TensorRef

MODULE_ROLES = ("layer", "merge")


class CodegenError(Exception):
    """A network that compiles in memory but cannot be written as source (a module archspec cannot spell)."""


# -- names --------------------------------------------------------------------------------------

def ident(text: str, reserved: set[str] | frozenset[str] = frozenset(), fallback: str = "x") -> str:
    """An ASCII Python identifier for `text`: other characters become `_`, no leading underscore or
    digit, never a keyword or a reserved name (a `_` is appended)."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text).lstrip("_") or fallback
    if s[0].isdigit():
        s = f"{fallback}{s}"
    while keyword.iskeyword(s) or s in reserved:
        s += "_"
    return s


def camel(text: str, reserved: set[str] | frozenset[str] = frozenset(), fallback: str = "Net") -> str:
    """`vgg16_transfer` → `Vgg16Transfer` (a class name)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    s = "".join(p[0].upper() + p[1:] for p in parts) or fallback
    if s[0].isdigit():
        s = fallback + s
    while keyword.iskeyword(s) or s in reserved:
        s += "_"
    return s


def unique(name: str, taken: set[str] | dict[str, Any]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def comment(text: str) -> str:
    """Spec text made safe for a comment or docstring: one line, printable ASCII, no quotes that close."""
    return ascii(str(text))[1:-1].replace('"', "'")


def _module_attrs() -> frozenset[str]:
    from torch import nn

    return frozenset(dir(nn.Module())) | {"forward", "loss_weights", "eager_outputs"}


VAR_RESERVED = frozenset(dir(builtins)) | {"self", "torch", "nn", "F", "Tensor", "List", "NamedTuple", "Union",
                                           "outputs", "math"}


# -- constructor calls ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Call:
    """`func(args)`; each argument is (keyword or None, Lit or Call). `params` names the positional ones."""

    func: str
    args: tuple[tuple[str | None, Lit | Call], ...]
    params: tuple[str, ...] = ()  # the parameter name of each argument, for naming lifted values

    def shape(self) -> Any:
        return (self.func, tuple((k, v.shape() if isinstance(v, Call) else None) for k, v in self.args))


_SCALAR_WHEN_EQUAL = {"kernel_size", "stride", "padding", "dilation", "output_padding"}


def render_module(m: Any, helpers: dict[str, type]) -> Call:
    """The constructor call that rebuilds module `m` (its weights aside): torch.nn classes and archspec's
    helper modules, whose constructor arguments are kept as attributes of the same names."""
    import inspect

    import torch
    from torch import nn

    cls = type(m)
    if cls is nn.Sequential:
        return Call("nn.Sequential", tuple((None, render_module(c, helpers)) for c in m))
    if getattr(nn, cls.__name__, None) is cls:
        func = "nn." + cls.__name__
    elif cls.__module__.startswith("archspec."):
        func = cls.__name__
        if helpers.setdefault(func, cls) is not cls:
            raise CodegenError(f"two helper modules are named `{func}`")
    else:
        raise CodegenError(f"cannot write source for a `{cls.__module__}.{cls.__qualname__}` module")
    args: list[tuple[str | None, Lit | Call]] = []
    names: list[str] = []
    conv = isinstance(m, nn.modules.conv._ConvNd)  # stores `3` as (3, 3): either spelling rebuilds it
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
            continue
        if not hasattr(m, p.name):
            raise CodegenError(f"cannot write source for `{func}`: its argument `{p.name}` is not kept as an "
                               f"attribute of the same name")
        v = getattr(m, p.name)
        if p.name == "bias" and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None
        v = _plain(v, func, p.name)
        if conv and p.name in _SCALAR_WHEN_EQUAL and isinstance(v, tuple) and v and len(set(v)) == 1:
            v = v[0]
        required = p.default is p.empty
        if not required and type(v) is type(p.default) and v == p.default:
            continue
        if not required and v == [] and p.default is None:
            continue
        positional = required and not isinstance(v, bool) and all(k is None for k, _ in args)  # no bare True
        args.append((None if positional else p.name, Lit(v)))
        names.append(p.name)
    return Call(func, tuple(args), tuple(names))


def _plain(v: Any, func: str, name: str) -> Any:
    import torch

    if isinstance(v, torch.Size):
        return tuple(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (tuple, list)):
        items = [_plain(x, func, name) for x in v]
        return tuple(items) if isinstance(v, tuple) else items
    raise CodegenError(f"cannot write source for `{func}`: argument `{name}` is a {type(v).__name__}")


def literal(v: Any) -> str:
    """Python source for a plain value (floats that repr cannot spell included)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return f'float("{v}")'
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    return repr(v)


# -- the plan -------------------------------------------------------------------------------------

@dataclass(eq=False)
class Container:
    """A scope as a module: a block instance, a branch, or the network itself (raw == "")."""

    raw: str
    attr: str
    path: str
    parent: Container | None
    children: dict[str, Container | str] = field(default_factory=dict)  # attribute → container or node id
    nodes: list[str] = field(default_factory=list)  # every layer node under it, in graph order
    has_input: bool = False
    entries: list[str] = field(default_factory=list)
    exit: str | None = None
    method: bool = False  # has its own forward
    base: str = "Block"  # class name before numbering
    args: dict[str, Any] = field(default_factory=dict)  # the block's arguments
    forward: list[str] = field(default_factory=list)
    key: Any = None
    cls: str = ""
    ctor_args: list[Any] = field(default_factory=list)  # values for the class's constructor parameters

    def rel(self, path: str) -> str:
        return path[len(self.path) + 1:] if self.path else path


@dataclass
class ClassDef:
    name: str
    instances: list[Container]
    params: list[str] = field(default_factory=list)


@dataclass
class Plan:
    graph: nx.DiGraph
    root: Container
    paths: dict[str, str]  # node id → module path ("stage1.conv1")
    containers: list[Container]  # every container, parents before children
    classes: list[ClassDef]  # children's classes before their parents'
    inputs: list[tuple[str, str]]  # (forward parameter, input node)
    outputs: list[tuple[str, str, float]]  # (field name, source node, loss weight)
    output_class: str | None
    modules: dict[str, Any]  # node id → its built layer module
    calls: dict[str, Call | None]  # node id → constructor call (None where it cannot be written)
    errors: dict[str, str]  # node id → why its module cannot be written as source
    helpers: dict[str, type]  # archspec's helper module classes the calls use

    @property
    def root_class(self) -> str:
        return self.root.cls


def make_plan(g: nx.DiGraph, modules: dict[str, Any], class_name: str | None = None) -> Plan:
    """The module tree, each scope's forward and the classes, from the graph and its built layer modules."""
    attrs = _module_attrs()
    order = {n: i for i, n in enumerate(g.nodes)}
    root = Container("", "", "", None)
    by_raw: dict[str, Container] = {"": root}
    paths: dict[str, str] = {}
    scopes = g.graph.get("scopes", {})
    for n, d in g.nodes(data=True):
        if d["role"] not in MODULE_ROLES:
            continue
        parts = n.split(".")
        c = root
        c.nodes.append(n)
        for i in range(len(parts) - 1):
            raw = ".".join(parts[: i + 1])
            child = by_raw.get(raw)
            if child is None:
                attr = unique(ident(parts[i], attrs, "block"), c.children)
                child = Container(raw, attr, f"{c.path}.{attr}" if c.path else attr, c)
                info = scopes.get(raw)
                if info is not None:
                    child.base = re.sub(r"^branch\d+$", "branch", info.name)
                    child.args = dict(info.args)
                c.children[attr] = child
                by_raw[raw] = child
            c = child
            c.nodes.append(n)
        attr = unique(ident(parts[-1], attrs, "layer"), c.children)
        c.children[attr] = n
        paths[n] = f"{c.path}.{attr}" if c.path else attr
    containers = list(by_raw.values())
    input_nodes = list(g.graph.get("inputs", []))
    for n in input_nodes:  # a scope holding an input cannot be called as a block
        for c in _chain(by_raw, g.nodes[n]["scope"]):
            c.has_input = True
    for c in containers[1:]:
        _interface(g, c, order)

    root.method = True
    inputs: list[tuple[str, str]] = []
    for n in input_nodes:
        name = "x" if len(input_nodes) == 1 else unique(ident(n, VAR_RESERVED), {p for p, _ in inputs})
        inputs.append((name, n))
    fields: set[str] = set()
    outputs = []
    for o in g.graph.get("outputs", []):
        name = unique(ident(o.name, {"count", "index"}, "out"), fields)
        fields.add(name)
        outputs.append((name, o.source, 1.0 if o.weight is None else float(o.weight)))

    calls: dict[str, Call | None] = {}
    errors: dict[str, str] = {}
    helpers: dict[str, type] = {}
    for n, m in modules.items():
        try:
            calls[n] = render_module(m, helpers)
        except CodegenError as e:
            calls[n], errors[n] = None, str(e)

    reserved = {*VAR_RESERVED, *helpers}
    if class_name and class_name.isidentifier() and class_name.isascii():
        root.cls = ident(class_name, reserved)
    else:
        root.cls = camel(g.graph.get("name", "network"), reserved)
    reserved.add(root.cls)
    output_class = None
    if len(outputs) > 1:
        output_class = camel(root.cls + "Outputs", reserved)
        reserved.add(output_class)

    for c in reversed(containers):  # children first
        if c.method:
            c.forward = _forward(g, c, paths, by_raw, inputs if c is root else None,
                                 outputs if c is root else None, output_class, reserved)
        c.key = (c.base, tuple(c.forward), tuple((a, _key(ch, calls)) for a, ch in c.children.items()))
    classes = _classes(containers, root, reserved)
    return Plan(g, root, paths, containers, classes, inputs, outputs, output_class, modules, calls, errors, helpers)


def _key(child: Container | str, calls: dict[str, Call | None]) -> Any:
    """What two instances of a class must share: a child block's class, a layer's constructor (values aside)."""
    if isinstance(child, Container):
        return child.key
    call = calls[child]
    return call.shape() if call is not None else ("opaque", child)


def _chain(by_raw: dict[str, Container], scope: str) -> list[Container]:
    parts = scope.split(".") if scope else []
    return [by_raw[r] for r in (".".join(parts[: i + 1]) for i in range(len(parts))) if r in by_raw]


def _interface(g: nx.DiGraph, c: Container, order: dict[str, int]) -> None:
    """What a scope reads from outside and gives back; one tensor back makes it a callable block."""
    inside = set(c.nodes)
    exits = []
    for n in c.nodes:
        for i in g.nodes[n]["inputs"]:
            if i not in inside and i not in c.entries:
                c.entries.append(i)
        if any(s not in inside for s in g.successors(n)):
            exits.append(n)
    if len(exits) == 1:
        c.exit = exits[0]
        last = order[c.nodes[-1]]
        later = all(order[s] > last for s in g.successors(c.exit) if s not in inside)
        c.method = bool(c.entries) and not c.has_input and later


def _steps(c: Container, paths: dict[str, str], by_raw: dict[str, Container],
           g: nx.DiGraph) -> list[tuple[str, list[str], str, bool]]:
    """The calls of a forward, in order: (value, values read, callee path relative to c, takes a list)."""
    steps = []
    for n in c.nodes:
        scope = g.nodes[n]["scope"]
        chain = [x for x in _chain(by_raw, scope) if len(x.path) > len(c.path)]
        block = next((x for x in chain if x.method), None)
        if block is not None:
            if n == block.nodes[-1]:
                assert block.exit is not None
                steps.append((block.exit, list(block.entries), c.rel(block.path), False))
            continue
        d = g.nodes[n]
        steps.append((n, list(d["inputs"]), c.rel(paths[n]), d["role"] == "merge"))
    return steps


def _label(n: str, by_raw: dict[str, Container], g: nx.DiGraph) -> str:
    """A readable name for a value: the outermost scope that gives it back (`e1`), else its layer's name."""
    label = n.rpartition(".")[2]
    for c in reversed(_chain(by_raw, g.nodes[n]["scope"])):
        if c.exit != n:
            break
        label = c.raw.rpartition(".")[2]
    return label


def _forward(g: nx.DiGraph, c: Container, paths: dict[str, str], by_raw: dict[str, Container],
             inputs: list[tuple[str, str]] | None, outputs: list[tuple[str, str, float]] | None,
             output_class: str | None, reserved: set[str]) -> list[str]:
    steps = _steps(c, paths, by_raw, g)
    var: dict[str, str] = {}  # value → variable
    used: set[str] = set()
    if inputs is not None:
        params = inputs
    else:
        params = []
        passed = {v.name: k for k, v in c.args.items() if isinstance(v, TensorRef)}  # `up(512, skip=e4)`
        for k, e in enumerate(c.entries):
            label = _label(e, by_raw, g)
            name = "x" if k == 0 else unique(ident(passed.get(label, label), reserved), used | {"x"})
            params.append((name, e))
            used.add(name)
    for name, e in params:
        var[e] = name
        used.add(name)
    if outputs is not None:
        results = [o[1] for o in outputs]
    else:
        assert c.exit is not None
        results = [c.exit]
    readers: dict[str, list[int]] = {}
    for i, (_, reads, _, _) in enumerate(steps):
        for r in dict.fromkeys(reads):
            readers.setdefault(r, []).append(i)
    for r in results:
        readers.setdefault(r, []).append(len(steps))
    holder: dict[str, str] = {v: k for k, v in var.items()}  # variable → value it holds
    lines = []
    for i, (value, reads, callee, as_list) in enumerate(steps):
        args = ", ".join(var[r] for r in reads)
        call = f"self.{callee}([{args}])" if as_list else f"self.{callee}({args})"
        held = holder.get("x")
        free = held is None or readers.get(held, [-1])[-1] <= i
        uses = readers.get(value, [])
        if free and uses == list(range(i + 1, i + 1 + len(uses))):  # `x` is the tensor the next steps read
            name = "x"
        else:
            name = unique(ident(_label(value, by_raw, g), reserved), used | {"x"})
        holder[name] = value
        var[value] = name
        used.add(name)
        lines.append(f"{name} = {call}")
    sig = ", ".join(f"{p}: Tensor" for p, _ in params)
    if outputs is None or len(outputs) == 1:
        ret = var[results[0]] if results else "x"
        head = [f"def forward(self, {sig}) -> Tensor:"]
        return head + ["    " + ln for ln in lines] + [f"    return {ret}"]
    assert output_class is not None
    fields = ", ".join(f"{f}={var[s]}" for f, s, _ in outputs)
    return ([f"def forward(self, {sig}) -> {output_class}:"] + ["    " + ln for ln in lines] + [
        f"    outputs = {output_class}({fields})",
        "    # training: every output, for the weighted losses of the auxiliary heads; evaluation: the main one",
        "    if torch.jit.is_scripting():",
        "        return outputs",
        "    return self.eager_outputs(outputs)",
        "",
        "@torch.jit.unused",
        f"def eager_outputs(self, outputs: {output_class}) -> Union[Tensor, {output_class}]:",
        f"    return outputs if self.training else outputs.{outputs[0][0]}",
    ])


def _classes(containers: list[Container], root: Container, reserved: set[str]) -> list[ClassDef]:
    """One class per distinct (block, forward, structure), numbered in order of appearance when a block
    has several (`Stage`, `Stage2`)."""
    by_key: dict[Any, ClassDef] = {}
    for c in containers[1:]:
        cd = by_key.get(c.key)
        if cd is None:
            base = camel(c.base, fallback="Block")
            name, k = base, 1
            while name in reserved or keyword.iskeyword(name):
                k += 1
                name = f"{base}{k}"
            reserved.add(name)
            cd = by_key[c.key] = ClassDef(name, [])
        cd.instances.append(c)
        c.cls = cd.name
    out: list[ClassDef] = []

    def emit(cd: ClassDef) -> None:  # a class after the classes it uses, otherwise in order of appearance
        if cd in out:
            return
        for ch in cd.instances[0].children.values():
            if isinstance(ch, Container):
                emit(by_key[ch.key])
        out.append(cd)

    for cd in by_key.values():
        emit(cd)
    return [*out, ClassDef(root.cls, [root])]


# -- the standalone file ---------------------------------------------------------------------------

def forward_source(plan: Plan) -> str:
    """The classes with their forward methods only (what `archspec.compile` executes)."""
    lines = [*_imports(plan, {}), ""]
    lines += _output_class(plan)
    for cd in plan.classes:
        lines += ["", f"class {cd.name}(nn.Module):"]
        body = cd.instances[0].forward
        lines += ["    " + ln if ln else "" for ln in body] if body else ["    pass"]
        lines.append("")
    return "\n".join(lines) + "\n"


def _output_class(plan: Plan) -> list[str]:
    if plan.output_class is None:
        return []
    lines = ["", f"class {plan.output_class}(NamedTuple):"]
    lines += [f"    {f}: Tensor" for f, _, _ in plan.outputs]
    return [*lines, ""]


def _imports(plan: Plan, helper_imports: dict[str, str]) -> list[str]:
    typing = ["NamedTuple", "Union"] if plan.output_class else []
    lines = [f"from typing import {', '.join(typing)}"] if typing else []
    std = sorted({s for s in helper_imports.values() if not s.startswith(("import torch", "from torch"))})
    lines = sorted(set(lines + std))
    torch_lines = {"import torch", "from torch import Tensor, nn"}
    torch_lines |= {s for s in helper_imports.values() if s.startswith(("import torch", "from torch"))}
    torch_lines.discard("from torch import nn")
    ordered = sorted(torch_lines, key=lambda s: (s.startswith("from"), s))
    return [*lines, "", *ordered] if lines else ordered


def file_source(plan: Plan, header: list[str], example_inputs: list[tuple[int, ...]]) -> str:
    """A Python file that imports only torch and defines the network's classes, readable like torchvision."""
    for n, why in plan.errors.items():
        raise CodegenError(f"layer `{n}`: {why}")
    helper_imports, helper_code = helper_sources(plan.helpers)
    lines = ['"""' + "\n".join(header) + '\n"""', "", *_imports(plan, helper_imports), ""]
    for block in helper_code:
        lines += ["", block.rstrip("\n"), ""]
    lines += _output_class(plan)
    inits = _inits(plan)
    for cd in plan.classes:
        lines += ["", f"class {cd.name}(nn.Module):"]
        params = "".join(f", {p}{_annotation(cd, k)}" for k, p in enumerate(cd.params))
        lines.append(f"    def __init__(self{params}) -> None:")
        lines += ["        " + ln for ln in "\n".join(["super().__init__()", *inits[cd.name]]).split("\n")]
        body = cd.instances[0].forward
        if body:
            lines.append("")
            lines += ["    " + ln if ln else "" for ln in body]
        lines.append("")
    shapes = ", ".join(f"torch.randn({', '.join(map(str, (1, *s)))})" for s in example_inputs)
    lines += ["", 'if __name__ == "__main__":', f"    model = {plan.root_class}().eval()",
              "    with torch.no_grad():", f"        y = model({shapes})",
              f'    print("{plan.root_class}:", sum(p.numel() for p in model.parameters()), "parameters, output",'
              ' tuple(y.shape))', ""]
    return "\n".join(lines)


def _inits(plan: Plan) -> dict[str, list[str]]:
    """Each class's __init__ body; values that differ between a class's instances become its parameters."""
    out: dict[str, list[str]] = {}
    for cd in plan.classes:
        trees: list[list[tuple[str, Call]]] = []
        for c in cd.instances:
            row = []
            for attr, ch in c.children.items():
                if isinstance(ch, Container):
                    child_cd = next(x for x in plan.classes if x.name == ch.cls)
                    row.append((attr, Call(ch.cls, tuple((None, Lit(v)) for v in ch.ctor_args), tuple(child_cd.params))))
                else:
                    call = plan.calls[ch]
                    assert call is not None
                    row.append((attr, call))
            trees.append(row)
        slots: dict[tuple[Any, ...], str] = {}
        params: list[str] = []
        for c in cd.instances:
            c.ctor_args = []

        def lift(calls: list[Call], owner: str, _slots: dict[tuple[Any, ...], str] = slots,
                 _params: list[str] = params, _cd: ClassDef = cd) -> str:
            first = calls[0]
            parts = []
            for j, (kw, arg) in enumerate(first.args):
                pname = first.params[j] if j < len(first.params) else f"arg{j}"
                if isinstance(arg, Call):
                    text = lift([x.args[j][1] for x in calls], owner)  # type: ignore[misc]
                else:
                    values = tuple(x.args[j][1].value for x in calls)  # type: ignore[union-attr]
                    if len({_hashable(v) for v in values}) == 1:
                        text = literal(values[0])
                    else:
                        key = tuple(_hashable(v) for v in values)
                        name = _slots.get(key)
                        if name is None:
                            name = _param_name(_cd, values, pname, owner, _params)
                            _slots[key] = name
                            _params.append(name)
                            for inst, v in zip(_cd.instances, values):
                                inst.ctor_args.append(v)
                        text = name
                parts.append(text if kw is None else f"{kw}={text}")
            text = f"{first.func}({', '.join(parts)})"
            if first.func == "nn.Sequential" and len(text) > 80:  # one layer a line, as one writes it
                text = f"{first.func}(\n" + "".join(f"    {p},\n" for p in parts) + ")"
            return text

        body = []
        for k, (attr, _) in enumerate(trees[0]):
            body.append(f"self.{attr} = {lift([t[k][1] for t in trees], attr)}")
        cd.params = params
        if cd.instances[0] is plan.root:
            body += _root_extras(plan)
        out[cd.name] = body
    return out


def _annotation(cd: ClassDef, k: int) -> str:
    types = {type(c.ctor_args[k]) for c in cd.instances}
    if len(types) != 1:
        return ""
    t = types.pop()
    return f": {t.__name__}" if t in (int, float, bool, str, tuple, list) else ""


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_hashable(x) for x in v))
    return (type(v).__name__, v)


def _param_name(cd: ClassDef, values: tuple[Any, ...], pname: str, owner: str, taken: list[str]) -> str:
    for arg in cd.instances[0].args:
        if all(_hashable(inst.args.get(arg)) == _hashable(v) for inst, v in zip(cd.instances, values)):
            name = ident(arg, VAR_RESERVED)
            if name not in taken:
                return name
    name = ident(pname, VAR_RESERVED)
    if name in taken:
        name = unique(ident(f"{owner}_{pname}", VAR_RESERVED), set(taken))
    return name


def _root_extras(plan: Plan) -> list[str]:
    """Frozen layers, fixed weights and the outputs' loss weights."""
    g = plan.graph
    lines: list[str] = []
    frozen = [c for c in plan.containers[1:] if c.nodes and all(g.nodes[n]["frozen"] for n in c.nodes)]
    covered: set[str] = set()
    for c in frozen:
        if c.parent is not None and c.parent in frozen:
            continue
        lines.append(f"self.{c.path}.requires_grad_(False)")
        covered.update(c.nodes)
    for n, path in plan.paths.items():
        if n in covered:
            continue
        m = plan.modules[n]
        if g.nodes[n]["frozen"] and any(True for _ in m.parameters()):
            lines.append(f"self.{path}.requires_grad_(False)")
            continue
        for pname, p in m.named_parameters():
            if not p.requires_grad:
                lines.append(f"self.{path}.{pname}.requires_grad_(False)")
    if lines:
        lines.insert(0, "# not trained: frozen in the spec, or fixed weights")
    weights = ", ".join(f"{literal(f)}: {literal(w)}" for f, _, w in plan.outputs)
    lines += ["# the loss weight of each output (auxiliary heads)" if len(plan.outputs) > 1 else
              "# the loss weight of the output", f"self.loss_weights = {{{weights}}}"]
    return lines


# -- helper modules inlined into the file ----------------------------------------------------------

def helper_sources(helpers: dict[str, type]) -> tuple[dict[str, str], list[str]]:
    """The source of archspec's helper modules that a file needs, with the module-level functions,
    constants and imports they use: (bound name → import statement, definitions in source order)."""
    import ast
    import inspect
    import sys

    imports: dict[str, str] = {}
    code: list[str] = []
    by_module: dict[str, list[str]] = {}
    for name, cls in helpers.items():
        by_module.setdefault(cls.__module__, []).append(name)
    seen: dict[str, str] = {}  # definition → the file it comes from
    for modname, wanted in by_module.items():
        src = inspect.getsource(sys.modules[modname])
        tree = ast.parse(src)
        defs: dict[str, ast.stmt] = {}
        stmts: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        defs[t.id] = node
            elif isinstance(node, ast.Import):
                for a in node.names:
                    bound = a.asname or a.name.split(".")[0]
                    stmts[bound] = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for a in node.names:
                    stmts[a.asname or a.name] = f"from {node.module} import {a.name}" + (
                        f" as {a.asname}" if a.asname else "")
        need: set[str] = set()
        emitted: list[ast.stmt] = []
        todo = list(wanted)
        while todo:
            name = todo.pop()
            if name in need:
                continue
            need.add(name)
            for sub in ast.walk(defs[name]):
                if isinstance(sub, ast.Name):
                    if sub.id in defs and sub.id not in need:
                        todo.append(sub.id)
                    elif sub.id in stmts:
                        imports[sub.id] = stmts[sub.id]
        for name, node in defs.items():
            if name not in need or node in emitted:
                continue
            if seen.setdefault(name, modname) != modname:
                raise CodegenError(f"helper modules of two files both define `{name}`")
            emitted.append(node)
            segment = ast.get_source_segment(src, node)
            assert segment is not None
            code.append(segment)
    return _merge_imports(imports), code


def _merge_imports(imports: dict[str, str]) -> dict[str, str]:
    """`from torch import nn` + `from torch import Tensor` → one line per module."""
    froms: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for bound, stmt in imports.items():
        if stmt.startswith("from "):
            mod, _, what = stmt[5:].partition(" import ")
            froms.setdefault(mod, []).append(what)
        else:
            out[bound] = stmt
    for mod, names in froms.items():
        if mod == "torch":
            names = [n for n in names if n not in ("nn", "Tensor")]
            if not names:
                continue
        out["from " + mod] = f"from {mod} import {', '.join(sorted(set(names)))}"
    return out
