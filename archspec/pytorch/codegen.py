"""Code generation: a network's IR as PyTorch source that reads like torchvision's models.

Every layer node's kind gives its PyTorch form as a value (`torchspec.py`): a constructor call, an
expression over its inputs, or nothing (the tensor passes through). From those and the IR's scopes this
module writes one Python file that imports only torch; `archspec.compile` runs that same source, so the
module in memory and the file `archspec compile -o` writes cannot differ.

How the spec's scopes (block instances and branches) become modules:

- a scope whose layers form a chain (each reads the one before; one tensor in, one out) is an
  `nn.Sequential` of them, written where it is used (`self.stage1 = nn.Sequential(OrderedDict(basic1=Basic(64,
  64), ...))`), as torchvision writes `layer1` and `downsample`, its layers named as the spec names them;
- a scope with one tensor out and any structure inside (a residual block, an inception block) is a class
  with its own straight-line `forward`. The instances of one block share a class: values that differ
  become constructor parameters (named after the block's parameters where they match), and a branch that is
  empty in some instances (an identity shortcut) and layers in others (a projection) is an optional
  submodule, `self.shortcut: Optional[nn.Module]`, as torchvision's BasicBlock's `downsample`;
- merges are Python in `forward` (`x = residual + shortcut`, `torch.cat([a, b], 1)`), not modules;
- a scope that cannot be called as one (it gives back several tensors: a U-Net encoder's skip and its
  output) holds its layers, which the enclosing `forward` calls one by one (`self.enc1.conv1(x)`).

Parameters are registered in the spec's layer order, so that weights port by position from hand-written
equivalents (`archspec.port_weights`). Learned tensors (`param`, `layerscale`) are the exception, as they
are in PyTorch: they are the own `nn.Parameter`s of the block whose `forward` uses them (`self.cls`), and
PyTorch lists a module's own parameters before its children's (torchvision's ViT `class_token`, ConvNeXt's
`layer_scale`); see docs/compile.md. Nothing from a spec reaches the source unescaped: names become ASCII
identifiers, text goes into comments and string literals through `repr`.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archspec.ir import Graph, Scope
from archspec.kinds import KINDS
from archspec.kinds.torchspec import Expr, Helper, Module, Own, Torch, literal, same
from archspec.lang.expr import TensorRef


class CodegenError(Exception):
    """A network that cannot be written as PyTorch (a kind without a PyTorch form, two helpers of one name)."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


# -- names --------------------------------------------------------------------------------------

MODULE_ATTRS = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "smart_apply", "state_dict", "to", "to_empty", "train", "training", "type", "xpu", "zero_grad",
    "loss_weights", "eager_outputs",
})
VAR_RESERVED = frozenset(dir(builtins)) | {"self", "torch", "nn", "F", "Tensor", "Dict", "List", "NamedTuple",
                                           "Optional", "Union", "outputs", "math"}


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


# -- the plan ---------------------------------------------------------------------------------------

@dataclass(eq=False)
class Box:
    """A scope as a module (the network itself when `scope` is None)."""

    scope: Scope | None
    parent: Box | None
    attr: str = ""  # its attribute in the parent
    items: list[Box | str] = field(default_factory=list)  # child boxes and layer/merge nodes, in order
    nodes: list[str] = field(default_factory=list)  # every layer/merge node inside, in order
    entries: list[str] = field(default_factory=list)  # values from outside that it reads
    exit: str | None = None  # the one value it gives back
    form: str = "holder"  # "root" | "seq" | "class" | "holder" | "empty" (passes its input) | "inline" (no module)
    pinned: bool = False  # holds an input: never called as one
    path: str = ""  # module path from the root ("stage1.0")
    slots: list[Slot] = field(default_factory=list)  # its attributes, in registration order
    steps: list[Step] = field(default_factory=list)  # a class's forward
    cls: ClassDef | None = None
    ctor: list[Any] = field(default_factory=list)  # the values of its class's constructor parameters

    @property
    def name(self) -> str:
        return self.scope.name if self.scope is not None else ""


@dataclass(eq=False)
class Slot:
    """An attribute: a layer's module, a child box, or an empty child (an identity branch)."""

    attr: str
    item: Box | str


@dataclass(eq=False)
class Step:
    """One line of a forward: a call of a module or child box, an expression, or a pass-through."""

    op: str  # "call" | "expr" | "pass"
    value: str  # the value it produces
    reads: list[str]  # the nodes read
    covers: list[str]  # the nodes whose tensor it is (a child box's nodes read from outside)
    target: str  # attribute path called ("residual", "holder.conv1"), or the expression's template
    label: str  # what its value is called in the source


@dataclass(eq=False)
class ClassDef:
    name: str
    instances: list[Box]
    sig: Any
    params: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The design of the generated source: boxes, classes, and where each layer's module lives."""

    graph: Graph
    root: Box
    boxes: list[Box]  # parents before children
    classes: list[ClassDef]  # children's classes before their parents', the network's last
    forms: dict[str, Torch]  # node → its PyTorch form
    paths: dict[str, str]  # node → module path ("stage1.0.residual.0"), for the nodes that are modules
    own: dict[str, str]  # node → parameter path ("encoder.pos"), for learned tensors (`Own`)
    inputs: list[tuple[str, str]]  # (forward parameter, input node)
    outputs: list[tuple[str, str, float]]  # (field name, source value, loss weight)
    output_class: str | None
    helpers: list[Helper]
    value: Callable[[str], str]  # a node → the node whose tensor it is (through identities)
    labels: dict[str, str]  # a value → the outermost scope that gives it back (`e4`)

    @property
    def root_class(self) -> str:
        return self.classes[-1].name


def make_plan(g: Graph, class_name: str | None = None) -> Plan:
    """The module tree, its classes and their source, from the IR."""
    forms = _forms(g)
    alias = {n.id: n.inputs[0] for n in g if n.op in ("layer", "merge") and forms[n.id] is None and n.inputs}

    def value(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    root, boxes = _boxes(g)
    order = {n: i for i, n in enumerate(g.nodes)}
    readers: dict[str, list[str]] = {}
    for n in g:
        for i in dict.fromkeys(n.inputs):
            readers.setdefault(i, []).append(n.id)
    for b in boxes[1:]:
        _interface(g, b, value, readers, order)
    shared = _shared(g, forms)
    for b in reversed(boxes[1:]):  # children first: a chain is made of callable children
        _form(g, b, forms, value, shared)
    root.form = "root"
    _slots(g, root, forms, shared)
    reserved = set(VAR_RESERVED)
    helpers = _helpers(forms, reserved)
    root_name = ident(class_name, reserved) if class_name and class_name.isidentifier() and class_name.isascii() \
        else camel(g.name, reserved)
    reserved.add(root_name)
    inputs: list[tuple[str, str]] = []
    for nid in g.inputs:
        name = "x" if len(g.inputs) == 1 else unique(ident(g[nid].name, VAR_RESERVED), {p for p, _ in inputs})
        inputs.append((name, nid))
    outputs: list[tuple[str, str, float]] = []
    taken: set[str] = set()
    for o in g.outputs:
        name = unique(ident(o.name, {"count", "index"}, "out"), taken)
        taken.add(name)
        outputs.append((name, value(o.source), 1.0 if o.weight is None else float(o.weight)))
    output_class = camel(root_name + "Outputs", reserved) if len(outputs) > 1 else None
    if output_class:
        reserved.add(output_class)
    labels: dict[str, str] = {}
    for b in boxes[1:]:  # parents first: a value is called after the outermost scope that gives it back
        if b.exit is not None and b.scope is not None and b.exit not in b.entries:
            labels.setdefault(b.exit, b.scope.local)
    plan = Plan(g, root, boxes, [], forms, {}, {}, inputs, outputs, output_class, helpers, value, labels)
    _paths(root, plan)
    for b in boxes:  # after the paths: a layer used again calls its first use's module (`reuse`)
        if b.form in ("root", "class"):
            b.steps = _steps(g, b, forms, value, "", (shared, plan, b.path))
    plan.classes = _classes(plan, root_name, reserved)
    return plan


def _forms(g: Graph) -> dict[str, Torch]:
    forms: dict[str, Torch] = {}
    for n in g:
        if n.op in ("layer", "merge"):
            try:
                forms[n.id] = KINDS[n.kind].pytorch(n.args, g.input_shapes(n), n.meta.shape)
            except NotImplementedError as e:
                raise CodegenError(f"layer `{n.id}` cannot be compiled to PyTorch: {e}", n.id) from None
    return forms


def _boxes(g: Graph) -> tuple[Box, list[Box]]:
    root = Box(None, None)
    by_scope: dict[str, Box] = {}
    boxes = [root]

    def box(s: Scope) -> Box:
        b = by_scope.get(s.id)
        if b is None:
            parent = box(s.parent) if s.parent is not None else root
            b = by_scope[s.id] = Box(s, parent)
            boxes.append(b)
        return b

    for n in g:
        if n.op == "input" and n.scope is not None:  # a scope holding an input cannot be called as one
            for s in n.scope.chain:
                box(s).pinned = True
        if n.op not in ("layer", "merge"):
            continue
        b = root
        root.nodes.append(n.id)
        for s in n.scope.chain if n.scope is not None else []:
            child = box(s)
            if not b.items or b.items[-1] is not child:
                b.items.append(child)
            b = child
            b.nodes.append(n.id)
        b.items.append(n.id)
    return root, boxes


def _interface(g: Graph, b: Box, value: Callable[[str], str], readers: dict[str, list[str]],
               order: dict[str, int]) -> None:
    """What a scope reads from outside, and the value it gives back when it gives back one."""
    inside = set(b.nodes)
    made = {n for n in b.nodes if value(n) == n}
    for n in b.nodes:
        for i in g[n].inputs:
            v = value(i)
            if v not in made and v not in b.entries:
                b.entries.append(v)
    out = {value(n) for n in b.nodes if any(r not in inside for r in readers.get(n, ()))}
    out |= {value(o.source) for o in g.outputs if o.source in inside}
    last = order[b.nodes[-1]]
    later = all(order[r] > last for n in b.nodes for r in readers.get(n, ()) if r not in inside)
    if len(out) == 1 and later and not b.pinned:
        b.exit = out.pop()


def _shared(g: Graph, forms: dict[str, Torch]) -> dict[str, str]:
    """The layers used again (`reuse`) that hold weights: node → the node whose module it calls."""
    return {n.id: n.shares for n in g if n.shares is not None and isinstance(forms.get(n.id), (Module, Own))}


def _form(g: Graph, b: Box, forms: dict[str, Torch], value: Callable[[str], str],
          shared: dict[str, str] | None = None) -> None:
    shared = shared or {}
    if not any(isinstance(forms[n], (Module, Own)) and n not in shared for n in b.nodes):
        # no module of its own: its lines go to the enclosing forward (a block used again calls its first's)
        b.form = "empty" if b.exit is not None and b.exit in b.entries and all(forms[n] is None for n in b.nodes) \
            else "inline"
        return
    inside = set(b.nodes)
    if b.exit is None or not b.entries or b.exit in b.entries \
            or any(shared[n] not in inside for n in b.nodes if n in shared):
        b.form = "holder"  # reusing a module it does not hold: the forward that holds both calls it
        return
    current, chain = b.entries[0], len(b.entries) == 1
    for item in b.items:
        if not chain:
            break
        if isinstance(item, Box):
            if item.form == "empty":
                continue
            chain = item.form in ("seq", "class") and item.entries == [current]
            current = item.exit or ""
            continue
        f = forms[item]
        if f is None:
            continue
        chain = isinstance(f, Module) and [value(i) for i in g[item].inputs] == [current]
        current = item
    # a block that orders its registration (`register`) is a class: nn.Sequential runs in registration order
    # a module called twice is a class's forward, not an nn.Sequential (which would list it twice)
    b.form = "seq" if chain and current == b.exit and not (b.scope and b.scope.register) \
        and not any(n in shared for n in b.nodes) else "class"


def _slots(g: Graph, b: Box, forms: dict[str, Torch], shared: dict[str, str] | None = None) -> None:
    """The attributes of every box: its layers' modules and its children, named and in order."""
    taken: set[str] = set()
    for item in b.items:
        if isinstance(item, Box):
            assert item.scope is not None
            if item.form == "inline":
                continue
            item.attr = unique(ident(item.scope.local, MODULE_ATTRS, "block"), taken)
            taken.add(item.attr)
            b.slots.append(Slot(item.attr, item))
            _slots(g, item, forms, shared)
        elif isinstance(forms[item], (Module, Own)) and item not in (shared or {}):
            attr = unique(ident(g[item].name, MODULE_ATTRS, "layer"), taken)
            taken.add(attr)
            b.slots.append(Slot(attr, item))
    if b.scope is not None and b.scope.register:  # `register a, b`: those first, in that order (docs/compile.md)
        def name(s: Slot) -> str:
            return s.item.scope.local if isinstance(s.item, Box) and s.item.scope else g[str(s.item)].name
        first = [s for n in b.scope.register for s in b.slots if name(s) == n]
        b.slots = first + [s for s in b.slots if s not in first]


def _steps(g: Graph, b: Box, forms: dict[str, Torch], value: Callable[[str], str], prefix: str,
           reuse: tuple[dict[str, str], Plan, str] | None = None) -> list[Step]:
    """A forward's lines; `reuse`: the layers used again, the plan (its module paths) and the path of the
    module whose forward it is (a layer used again calls its first use's module, by the path from there)."""
    steps: list[Step] = []
    attr = {id(s.item): s.attr for s in b.slots}
    shared = reuse[0] if reuse else {}

    def owner_path(n: str) -> str:
        assert reuse is not None
        path = reuse[1].paths.get(shared[n]) or reuse[1].own[shared[n]]
        base = reuse[2]
        assert not base or path.startswith(base + "."), (n, path, base)
        return path[len(base) + 1:] if base else path

    for item in b.items:
        if isinstance(item, Box):
            assert item.scope is not None
            first = _reused_box(g, item, reuse)
            if first is not None:  # `reuse enc` of a block: its first instance's module called again
                assert item.exit is not None and first.path
                covers = [n for n in item.nodes if value(n) == item.exit]
                base = reuse[2] if reuse else ""
                steps.append(Step("call", item.exit, list(item.entries), covers,
                                  _code_path(first.path[len(base) + 1:] if base else first.path), item.scope.local))
                continue
            if item.form in ("holder", "inline"):
                steps += _steps(g, item, forms, value, f"{prefix}{item.attr}." if item.form == "holder" else prefix,
                                reuse)
            else:
                assert item.exit is not None
                op = "pass" if item.form == "empty" else "call"
                covers = [n for n in item.nodes if value(n) == item.exit]
                steps.append(Step(op, item.exit, list(item.entries), covers, prefix + item.attr, item.scope.local))
            continue
        f = forms[item]
        reads = list(g[item].inputs)
        if isinstance(f, Module):
            target = _code_path(owner_path(item)) if item in shared else prefix + attr[id(item)]
            steps.append(Step("call", item, reads, [item], target, g[item].name))
        elif isinstance(f, Expr):
            steps.append(Step("expr", item, reads, [item], f.template, g[item].name))
        elif isinstance(f, Own):  # Python over the block's own parameter
            where = owner_path(item) if item in shared else prefix + attr[id(item)]
            template = f.template.replace("{p}", f"self.{_code_path(where)}")
            steps.append(Step("expr", item, reads, [item], template, g[item].name))
    return steps


def _reused_box(g: Graph, b: Box, reuse: tuple[dict[str, str], Plan, str] | None) -> Box | None:
    """The box of a block's first instance when `b` is that block used again (`reuse enc`) and the first
    can be called as one module from the forward being written; else None."""
    if reuse is None or b.form != "inline" or b.exit is None or b.scope is None or b.scope.shares is None:
        return None
    first = next((x for x in reuse[1].boxes if x.scope is not None and x.scope.id == b.scope.shares), None)
    if first is None or first.form not in ("seq", "class") or len(first.nodes) != len(b.nodes) \
            or len(first.entries) != len(b.entries) or not first.path:
        return None
    if any(g[m].shares != (g[o].shares or o) for m, o in zip(b.nodes, first.nodes)):
        return None
    base = reuse[2]
    return first if not base or first.path.startswith(base + ".") else None


def _positions(b: Box, entries: list[str], value: Callable[[str], str]) -> tuple[list[list[Any]], dict[str, Any]]:
    """The values each step of `b` reads, as positions: ("in", k) for the k-th entry, ("s", j) for the
    result of step j; and the position of every node read."""
    pos: dict[str, Any] = {e: ("in", k) for k, e in enumerate(entries)}

    def at(n: str) -> Any:
        return pos[n] if n in pos else pos.get(value(n), ("?", value(n)))

    reads = []
    for j, s in enumerate(b.steps):
        reads.append([at(r) for r in s.reads])
        for n in s.covers:
            pos[n] = ("s", j)
        if s.op != "pass":
            pos[s.value] = ("s", j)
    return reads, pos


def _helpers(forms: dict[str, Torch], reserved: set[str]) -> list[Helper]:
    out: dict[str, Helper] = {}
    for n, f in forms.items():
        if f is not None:
            for h in f.helpers() if isinstance(f, Module) else [f.helper] if isinstance(f, Expr) and f.helper else []:
                if out.setdefault(h.name, h).source != h.source:
                    raise CodegenError(f"two helper modules are named `{h.name}`", n)
    reserved.update(out)
    return list(out.values())


def _paths(b: Box, plan: Plan) -> None:
    for s in _registered(b):
        path = f"{b.path}.{s.attr}".lstrip(".")
        if isinstance(s.item, Box):
            s.item.path = path
            _paths(s.item, plan)
        elif isinstance(plan.forms[s.item], Own):
            plan.own[s.item] = path
        else:
            plan.paths[s.item] = path


def _registered(b: Box) -> list[Slot]:
    """The slots that hold a module (an empty branch holds none)."""
    return [s for s in b.slots if not (isinstance(s.item, Box) and s.item.form == "empty")]


# -- classes ----------------------------------------------------------------------------------------

WILD = object()  # a value an instance does not have (its optional submodule is absent)


def _classes(plan: Plan, root_name: str, reserved: set[str]) -> list[ClassDef]:
    """One class per block whose instances agree (values aside, and optional submodules); children first."""
    by_base: dict[str, list[ClassDef]] = {}
    made: list[ClassDef] = []
    for b in reversed(plan.boxes):  # children first: a parent's signature names its children's classes
        if b.form not in ("class", "holder", "root"):
            continue
        if b.form == "root":
            b.cls = ClassDef(root_name, [b], None)
            continue
        sig = _sig(b, plan)
        for cd in by_base.setdefault(b.name, []):
            merged = _merge(cd.sig, sig)
            if merged is not None:
                cd.sig = merged
                cd.instances.append(b)
                b.cls = cd
                break
        else:
            base = camel(b.name, fallback="Block")
            name, k = base, 1
            while name in reserved:
                k += 1
                name = f"{base}{k}"
            reserved.add(name)
            b.cls = ClassDef(name, [b], sig)
            by_base[b.name].append(b.cls)
            made.append(b.cls)
    # constructors need the children's constructor values: children's classes first
    out: list[ClassDef] = []
    for cd in made:
        _write_class(plan, cd)
        out.append(cd)
    root = plan.root
    assert root.cls is not None
    _write_class(plan, root.cls)
    return [*out, root.cls]


def _item_sig(item: Box | str, plan: Plan) -> Any:
    if isinstance(item, Box):
        if item.form == "seq":
            return ("seq", tuple(_item_sig(s.item, plan) for s in _registered(item)))
        if item.form == "empty":
            return ("empty",)
        return ("cls", id(item.cls))
    f = plan.forms[item]
    assert isinstance(f, (Module, Own))
    return ("mod", f.structure())


def _sig(b: Box, plan: Plan) -> Any:
    """What the instances of one class share: their attributes' structures and their forward's shape."""
    slots = tuple((s.attr, _item_sig(s.item, plan)) for s in b.slots)
    if b.form == "holder":
        return ("holder", slots, ())
    reads, pos = _positions(b, b.entries, plan.value)
    steps = tuple((s.op, s.target, tuple(r)) for s, r in zip(b.steps, reads))
    assert b.exit is not None
    return ("class", slots, steps, len(b.entries), pos.get(b.exit))


def _merge(a: Any, b: Any) -> Any:
    """The signature of one class for instances of signatures `a` and `b`, or None when they differ in
    more than values and optional submodules."""
    if a[0] != b[0] or len(a[1]) != len(b[1]) or a[3:] != b[3:] or len(a[2]) != len(b[2]):
        return None
    slots = []
    for (attr_a, sa), (attr_b, sb) in zip(a[1], b[1]):
        if attr_a != attr_b:
            return None
        merged = _merge_slot(sa, sb)
        if merged is None:
            return None
        slots.append((attr_a, merged))
    steps = []
    for sa, sb in zip(a[2], b[2]):
        if sa == sb:
            steps.append(sa)
        elif sa[1:] == sb[1:] and {sa[0], sb[0]} <= {"call", "pass", "opt"}:
            steps.append(("opt", *sa[1:]))
        else:
            return None
    return (a[0], tuple(slots), tuple(steps), *a[3:])


def _merge_slot(a: Any, b: Any) -> Any:
    """A slot that holds a submodule in some instances and is empty (an identity branch) in others is optional."""
    if a == b:
        return a
    if "empty" not in (a[0], b[0]) and "opt" not in (a[0], b[0]):
        return None
    inner = {repr(s): s for s in (x[1] if x[0] == "opt" else x for x in (a, b) if x[0] != "empty")}
    return ("opt", *inner.values()) if len(inner) == 1 else None


# -- constructors -----------------------------------------------------------------------------------

class _Lifter:
    """A class's constructor parameters: values that differ between its instances."""

    def __init__(self, cd: ClassDef) -> None:
        self.cd = cd
        self.params: list[tuple[str, list[Any]]] = []

    def value(self, values: list[Any], pname: str) -> str:
        defined = [v for v in values if v is not WILD]
        if all(same(defined[0], v) for v in defined):
            return literal(defined[0])
        for name, known in self.params:
            if all(v is WILD or k is WILD or same(v, k) for v, k in zip(values, known)):
                for i, v in enumerate(values):
                    if known[i] is WILD:
                        known[i] = v
                return name
        name = self._name(values, pname)
        self.params.append((name, list(values)))
        return name

    def _name(self, values: list[Any], pname: str) -> str:
        taken = {n for n, _ in self.params}
        for arg in self.cd.instances[0].scope.args if self.cd.instances[0].scope else {}:
            if all(v is WILD or (b.scope is not None and arg in b.scope.args and same(b.scope.args[arg], v))
                   for b, v in zip(self.cd.instances, values)):
                name = ident(arg, VAR_RESERVED)
                if name not in taken:
                    return name
        return unique(ident(pname, VAR_RESERVED), taken)

    def module(self, mods: list[Any]) -> str:
        first = next(m for m in mods if m is not WILD)
        parts = []
        for j, a in enumerate(first.args):
            vals = [m.args[j] if m is not WILD else WILD for m in mods]
            if isinstance(a, Module):
                parts.append(self.module(vals))
            else:
                parts.append(self.value(vals, first.names[j] if j < len(first.names) else f"arg{j}"))
        for k, (key, v) in enumerate(first.kwargs):
            vals = [m.kwargs[k][1] if m is not WILD else WILD for m in mods]
            default = first.default(key)
            if all(v is WILD or same(v, default) for v in vals):
                continue
            parts.append(f"{key}={self.module(vals) if isinstance(v, Module) else self.value(vals, key)}")
        text = f"{first.cls}({', '.join(parts)})"
        if first.cls == "nn.Sequential" and len(text) > 90:  # one layer a line, as one writes it
            text = "nn.Sequential(\n" + "".join(f"    {p},\n" for p in parts) + ")"
        return text

    def own(self, owns: list[Any]) -> str:
        """`nn.Parameter(torch.zeros(1, 1, 768))`: a learned tensor, its sizes and initial value lifted."""
        first = next(o for o in owns if o is not WILD)
        dims = [self.value([o.shape[j] if o is not WILD else WILD for o in owns], "size" if j else "channels")
                for j in range(len(first.shape))]
        value = self.value([o.value if o is not WILD else WILD for o in owns], "init" if first.init == "full" else "std")
        shape = ", ".join(dims)
        make = {"zeros": f"torch.zeros({shape})", "ones": f"torch.ones({shape})",
                "full": f"torch.full(({shape}{',' if len(dims) == 1 else ''}), {value})",
                "normal": f"torch.empty({shape}).normal_(std={value})"}[first.init]
        return f"nn.Parameter({make})"

    def item(self, items: list[Any], plan: Plan) -> str:
        """The module of a slot across the instances: a layer's call, a chain, or a child class."""
        first = next(i for i in items if i is not WILD)
        if isinstance(first, str) and isinstance(plan.forms[first], Own):
            return self.own([plan.forms[i] if i is not WILD else WILD for i in items])
        if isinstance(first, str):
            return self.module([plan.forms[i] if i is not WILD else WILD for i in items])
        if first.form == "seq":
            rows = [_registered(b) if b is not WILD else None for b in items]
            names = [s.attr for s in _registered(first)]
            parts = [f"{name}={self.item([r[k].item if r is not None else WILD for r in rows], plan)}"
                     for k, name in enumerate(names)]
            text = f"nn.Sequential(OrderedDict({', '.join(parts)}))"
            if len(text) > 90:  # one layer a line, as one writes it
                text = "nn.Sequential(OrderedDict(\n" + "".join("    " + p.replace("\n", "\n    ") + ",\n"
                                                                for p in parts) + "))"
            return text
        assert first.cls is not None
        args = [self.value([b.ctor[k] if b is not WILD else WILD for b in items], p)
                for k, p in enumerate(first.cls.params)]
        return f"{first.cls.name}({', '.join(args)})"


def _write_class(plan: Plan, cd: ClassDef) -> None:
    lift = _Lifter(cd)
    init: list[str] = []
    slots = cd.instances[0].slots
    for k, slot in enumerate(slots):
        items = [b.slots[k].item for b in cd.instances]
        present = [not (isinstance(i, Box) and i.form == "empty") for i in items]
        if not any(present):
            continue
        text = lift.item([i if p else WILD for i, p in zip(items, present)], plan)
        if all(present):
            init.append(f"self.{slot.attr} = {text}")
        else:
            flag = lift.value(present, slot.attr)
            init += [f"self.{slot.attr}: Optional[nn.Module] = None", f"if {flag}:",
                     "    " + f"self.{slot.attr} = {text}".replace("\n", "\n    ")]
    cd.params = [n for n, _ in lift.params]
    for b in cd.instances:
        b.ctor = []
    for _, values in lift.params:
        fill = next(v for v in values if v is not WILD)
        for b, v in zip(cd.instances, values):
            b.ctor.append(fill if v is WILD else v)
    cd.annotations = []
    for _, values in lift.params:
        types = {type(v) for v in values if v is not WILD}
        t = types.pop() if len(types) == 1 else None
        cd.annotations.append(f": {t.__name__}" if t in (int, float, bool, str, tuple, list) else "")
    if cd.instances[0] is plan.root:
        init += _root_extras(plan)
    cd.init = init
    cd.forward = _forward(plan, cd) if cd.instances[0].form in ("class", "root") else []


def _root_extras(plan: Plan) -> list[str]:
    """Frozen layers, and the outputs' loss weights."""
    g = plan.graph

    def weighted(n: str) -> bool:
        c = g[n].meta.cost
        return c is None or c.params + c.fixed > 0

    lines: list[str] = []
    covered: set[str] = set()
    for b in plan.boxes[1:]:  # parents before children: the outermost frozen block, once
        mods = [n for n in b.nodes if n in plan.paths]
        if b.form != "empty" and any(weighted(n) for n in mods) and all(g[n].frozen for n in mods) \
                and not covered.intersection(mods):
            lines.append(f"self.{_code_path(b.path)}.requires_grad_(False)")
            covered.update(mods)
    lines += [f"self.{_code_path(p)}.requires_grad_(False)" for n, p in plan.paths.items()
              if n not in covered and g[n].frozen and weighted(n)]
    for n, p in plan.paths.items():  # `freeze=bias`: the parameters named bias (bias_ih_l0, in_proj_bias), or the others
        if n not in covered and not g[n].frozen and g[n].freeze:
            test: dict[tuple[str, ...], str] = {("bias",): "'bias' in name.rsplit('.', 1)[-1]", ("weight",): "'bias' not in name.rsplit('.', 1)[-1]"}
            if g[n].freeze not in test:  # both
                lines.append(f"self.{_code_path(p)}.requires_grad_(False)")
                continue
            lines += [f"for name, param in self.{_code_path(p)}.named_parameters():",
                      f"    if {test[g[n].freeze]}:", "        param.requires_grad_(False)"]
    if lines:
        lines.insert(0, "# frozen in the spec: not trained")
    inits = [line.format(m=f"self.{_code_path(p)}") for n, p in plan.paths.items()
             for form in [plan.forms.get(n)] if isinstance(form, Module) for line in form.then]
    if inits:  # `embedding ... std=0.02`: drawn as the spec says, not as PyTorch's default
        lines += ["# initialised as the spec says (`std=`)", *inits]
    ties = [(n, p, owner) for n, p in plan.paths.items() for p_name, owner in g[n].ties if p_name == "weight"
            and owner in plan.paths]
    if ties:  # `tie=wte`: one parameter, registered where it is made (as nanoGPT and Hugging Face tie them)
        lines.append("# tied weights (`tie=` in the spec): one parameter, counted once")
        lines += [f"self.{_code_path(p)}.weight = self.{_code_path(plan.paths[owner])}.weight" for n, p, owner in ties]
    weights = ", ".join(f"{literal(f)}: {literal(w)}" for f, _, w in plan.outputs)
    lines += ["# the loss weight of each output (auxiliary heads)" if len(plan.outputs) > 1 else
              "# the loss weight of the output", f"self.loss_weights = {{{weights}}}"]
    return lines


def _code_path(path: str) -> str:
    """`stage1.0.conv1` → `stage1[0].conv1` (a module path as Python: nn.Sequential's own children are numbered)."""
    return re.sub(r"\.(\d+)", r"[\1]", path)


# -- forward ----------------------------------------------------------------------------------------

def _forward(plan: Plan, cd: ClassDef) -> list[str]:
    """A class's straight-line forward, from its first instance's steps (optional calls as `if`)."""
    b = cd.instances[0]
    root = b is plan.root
    sig_steps = cd.sig[2] if not root else tuple((s.op, s.target, ()) for s in b.steps)
    # a representative for each step: an instance where an optional step is a call
    rep = [next((i.steps[j] for i in cd.instances if i.steps[j].op == "call"), b.steps[j])
           for j in range(len(b.steps))]
    reserved = {*VAR_RESERVED, *(h.name for h in plan.helpers), *(c.name for c in plan.classes)}
    if root:
        params = list(plan.inputs)
    else:
        passed = {v.name: k for k, v in (b.scope.args.items() if b.scope else []) if isinstance(v, TensorRef)}
        params, used0 = [], {"x"}
        for k, e in enumerate(b.entries):
            label = plan.labels.get(e) or plan.graph[e].name
            name = "x" if k == 0 else unique(ident(passed.get(label, label), reserved), used0)
            used0.add(name)
            params.append((name, e))
    # values are positions: ("in", k) for the k-th parameter, ("s", j) for step j's result
    var: dict[Any, str] = {("in", k): name for k, (name, _) in enumerate(params)}
    reads_at, pos = _positions(b, [e for _, e in params], plan.value)
    steps: list[tuple[str, Any, list[Any], str, str]] = []  # (op, value, reads, target, label)
    canon: dict[Any, Any] = {}  # a pass-through's position → the position of the tensor it passes
    for j, s in enumerate(b.steps):
        op = sig_steps[j][0] if not root else s.op
        reads = [canon.get(x, x) for x in reads_at[j]]
        if op == "pass":
            canon[("s", j)] = reads[0]
            continue
        steps.append((op, ("s", j), reads, s.target, rep[j].label))
    if root:
        results = [canon.get(pos[src], pos[src]) for _, src, _ in plan.outputs]
    else:
        assert b.exit is not None
        exit_pos = cd.sig[4] if cd.sig[4] is not None else pos[b.exit]
        results = [canon.get(exit_pos, exit_pos)]
    readers: dict[Any, list[int]] = {}
    for i, (_, _, reads, _, _) in enumerate(steps):
        for x in dict.fromkeys(reads):
            readers.setdefault(x, []).append(i)
    for x in results:
        readers.setdefault(x, []).append(len(steps))
    holder: dict[str, Any] = {v: k for k, v in var.items()}  # variable → value it holds
    used = set(var.values())
    lines: list[str] = []
    for i, (op, value, reads, target, label) in enumerate(steps):
        args = [var[x] for x in reads]
        held = holder.get("x")
        free = held is None or readers.get(held, [-1])[-1] <= i
        uses = readers.get(value, [])
        if free and uses == list(range(i + 1, i + 1 + len(uses))):
            name = "x"
        else:
            name = unique(ident(label, reserved), used | {"x"})
        holder[name] = value
        var[value] = name
        used.add(name)
        if op == "expr":
            lines.append(f"{name} = {target.format(*args)}")
        elif op == "call":
            lines.append(f"{name} = self.{target}({', '.join(args)})")
        else:  # an optional submodule: the tensor passes through where it is absent
            if name != args[0]:
                lines.append(f"{name} = {args[0]}")
            lines += [f"if self.{target} is not None:", f"    {name} = self.{target}({', '.join(args)})"]
    sig = ", ".join(f"{p}: Tensor" for p, _ in params)
    if not root or len(plan.outputs) == 1:
        ret = var[results[0]] if results else "x"
        return [f"def forward(self, {sig}) -> Tensor:", *("    " + ln for ln in lines), f"    return {ret}"]
    oc = plan.output_class
    fields = ", ".join(f"{f}={var[x]}" for (f, _, _), x in zip(plan.outputs, results))
    return [f"def forward(self, {sig}) -> {oc}:", *("    " + ln for ln in lines),
            f"    outputs = {oc}({fields})",
            "    # training: every output, for the weighted losses of the auxiliary heads; evaluation: the main one",
            "    if torch.jit.is_scripting():",
            "        return outputs",
            "    return self.eager_outputs(outputs)",
            "",
            "@torch.jit.unused",
            f"def eager_outputs(self, outputs: {oc}) -> Union[Tensor, {oc}]:",
            f"    return outputs if self.training else outputs.{plan.outputs[0][0]}"]


# -- the source ---------------------------------------------------------------------------------------

def source(plan: Plan, header: list[str] | None = None, example_inputs: list[tuple[int, ...]] | None = None,
           token_ids: list[int] | None = None) -> str:
    """The Python file: imports, helper modules, the network's classes; with a docstring `header` and a
    `__main__` block that runs the model on `example_inputs` when given."""
    typing = {"Optional"} if any("Optional[" in ln for cd in plan.classes for ln in cd.init) else set()
    if plan.output_class:
        typing |= {"NamedTuple", "Union"}
    helper_src = "\n".join(h.source for h in plan.helpers)
    typing |= {t for t in ("Dict", "List", "Optional") if t + "[" in helper_src}
    lines = ['"""' + "\n".join(header) + '\n"""', ""] if header else []
    if "math." in helper_src:
        lines.append("import math")
    if any("OrderedDict(" in ln for cd in plan.classes for ln in cd.init):
        lines.append("from collections import OrderedDict")
    if typing:
        lines.append(f"from typing import {', '.join(sorted(typing))}")
    if lines and lines[-1] != "":
        lines.append("")
    lines += ["import torch", *(["import torch.nn.functional as F"] if _uses_f(plan, helper_src) else []),
              "from torch import Tensor, nn", ""]
    for h in plan.helpers:
        lines += ["", h.source.rstrip("\n"), ""]
    if plan.output_class:
        lines += ["", f"class {plan.output_class}(NamedTuple):", *(f"    {f}: Tensor" for f, _, _ in plan.outputs), ""]
    for cd in plan.classes:
        params = "".join(f", {p}{a}" for p, a in zip(cd.params, cd.annotations))
        lines += ["", f"class {cd.name}(nn.Module):", f"    def __init__(self{params}) -> None:",
                  "        super().__init__()"]
        lines += ["        " + ln for text in cd.init for ln in text.split("\n")]
        if cd.forward:
            lines.append("")
            lines += ["    " + ln if ln else "" for ln in cd.forward]
        lines.append("")
    if example_inputs is not None:
        ids = token_ids or [0] * len(example_inputs)  # an input of token ids: the number of distinct ids
        shapes = ", ".join(f"torch.randint(0, {v}, ({', '.join(map(str, (1, *s)))}))" if v else
                           f"torch.randn({', '.join(map(str, (1, *s)))})" for s, v in zip(example_inputs, ids))
        lines += ["", 'if __name__ == "__main__":', f"    model = {plan.root_class}().eval()",
                  "    with torch.no_grad():", f"        y = model({shapes})",
                  f'    print("{plan.root_class}:", sum(p.numel() for p in model.parameters()), "parameters, output",'
                  ' tuple(y.shape))', ""]
    return "\n".join(lines)


def _uses_f(plan: Plan, helper_src: str) -> bool:
    return "F." in helper_src or any(isinstance(f, Expr) and "F." in f.template for f in plan.forms.values())
