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
the in-memory module runs (`torch_module.py`); `pyfile.py` writes the standalone file (`archspec compile -o`)
and `constructors.py` spells each layer module as the call that rebuilds it.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from archspec.backends.constructors import Call, CodegenError, render_module
from archspec.lang.expr import TensorRef

__all__ = ["Call", "ClassDef", "CodegenError", "Container", "Plan", "forward_source", "make_plan"]

MODULE_ROLES = ("layer", "merge")


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
    lines = [*import_lines(plan, {}), ""]
    lines += output_class_lines(plan)
    for cd in plan.classes:
        lines += ["", f"class {cd.name}(nn.Module):"]
        body = cd.instances[0].forward
        lines += ["    " + ln if ln else "" for ln in body] if body else ["    pass"]
        lines.append("")
    return "\n".join(lines) + "\n"


def output_class_lines(plan: Plan) -> list[str]:
    if plan.output_class is None:
        return []
    lines = ["", f"class {plan.output_class}(NamedTuple):"]
    lines += [f"    {f}: Tensor" for f, _, _ in plan.outputs]
    return [*lines, ""]


def import_lines(plan: Plan, helper_imports: dict[str, str]) -> list[str]:
    typing = ["NamedTuple", "Union"] if plan.output_class else []
    lines = [f"from typing import {', '.join(typing)}"] if typing else []
    std = sorted({s for s in helper_imports.values() if not s.startswith(("import torch", "from torch"))})
    lines = sorted(set(lines + std))
    torch_lines = {"import torch", "from torch import Tensor, nn"}
    torch_lines |= {s for s in helper_imports.values() if s.startswith(("import torch", "from torch"))}
    torch_lines.discard("from torch import nn")
    ordered = sorted(torch_lines, key=lambda s: (s.startswith("from"), s))
    return [*lines, "", *ordered] if lines else ordered
