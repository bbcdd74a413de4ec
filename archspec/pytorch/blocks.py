"""The traced layers written as spec text, the module hierarchy recovered as blocks.

Every module instance with one input and one output becomes a block call. Instances of the same module class
whose bodies have the same structure (the same statements, the same blocks called, the same names) share one
block; the numbers that differ between them become its parameters (equal columns share a parameter, a column
that is a whole multiple of another is written as `4 * c`). Runs of identical calls become `repeat n:`, so a
torchvision-style ResNet stage reads `bottleneck(...)` then `repeat n: bottleneck(...)`. Names follow the
modules' (`conv1 = conv ...` where archspec's own numbering would name it otherwise); a module with several
inputs or outputs is written inline in its parent.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any

from torch import fx

from archspec.kinds import REGISTRY
from archspec.pytorch.traced import Layer, Traced

RESERVED = {"and", "as", "block", "branch", "elif", "else", "false", "from", "frozen", "if", "let", "network",
            "not", "or", "output", "repeat", "true", "use", "channels", "shape", "min", "max", "abs", "int",
            "round", "float", "floor", "ceil", "len", "sum", "range", "make_divisible", "x"}
PARAM_NAMES = {"filters": "c", "units": "units", "kernel": "k", "multiplier": "m", "size": "size"}
MERGES = ("add", "mul", "concat", "resize_like", "matmul", "einsum")  # kinds of several tensors: `add a b`


@dataclass
class Instance:
    key: str  # nn_module_stack key ("" for the network)
    cls: str
    local: str  # the attribute name in its parent
    items: list[Layer | Instance] = field(default_factory=list)
    entry: fx.Node | None = None  # its one input
    exit: fx.Node | None = None  # its one output
    height: int = 0
    stmts: list[Any] = field(default_factory=list)
    sig: Any = None
    group: Group | None = None
    values: list[Any] = field(default_factory=list)  # its call's arguments (the group's parameters' values)
    reuses: Instance | None = None  # a module called again: its first call (written `reuse NAME`)

    def layers(self) -> list[Layer]:
        out: list[Layer] = []
        for i in self.items:
            out += i.layers() if isinstance(i, Instance) else [i]
        return out


@dataclass
class Group:
    name: str
    instances: list[Instance]
    params: list[str] = field(default_factory=list)
    holes: dict[int, str] = field(default_factory=dict)  # value position → parameter name or expression
    positions: list[int] = field(default_factory=list)  # the value positions that are parameters, in order
    text: list[str] = field(default_factory=list)


# -- statements: structure + values ---------------------------------------------------------------------------

@dataclass
class St:
    """One statement: `name = head values...` with its structure (`sig`) and its values (`vals`)."""

    sig: Any
    vals: list[Any]
    render: Any  # (values iterator, indent) → lines


def _tree(traced: Traced, blocks: bool) -> Instance:
    root = Instance("", traced.title or type(traced.model).__name__, "")
    for layer in traced.layers:
        cur = root
        for key in (layer.scope if blocks else ()):
            last = cur.items[-1] if cur.items else None
            if isinstance(last, Instance) and last.key == key:
                cur = last
            else:
                child = Instance(key, traced.classes.get(key, "Module"), key.split("@")[0].rsplit("/", 1)[-1].rsplit(".", 1)[-1])
                cur.items.append(child)
                cur = child
        cur.items.append(layer)
    return root


def _boundaries(inst: Instance, outputs: set[fx.Node]) -> None:
    """An instance's one input and one output; one with several is dissolved into its parent."""
    new: list[Layer | Instance] = []
    for item in inst.items:
        if isinstance(item, Instance):
            _boundaries(item, outputs)
            inside = {ly.node for ly in item.layers()} | {w for ly in item.layers() for w in ly.within}
            ins = {a for ly in item.layers() for a in ly.inputs if a not in inside}
            outs = {ly.node for ly in item.layers() if ly.node in outputs or any(u not in inside for u in ly.node.users)}
            if len(ins) == 1 and len(outs) == 1:
                item.entry, item.exit = ins.pop(), outs.pop()
                item.height = 1 + max((i.height for i in item.items if isinstance(i, Instance)), default=0)
                new.append(item)
                continue
            new += item.items
        else:
            new.append(item)
    inst.items = new
    inst.height = 1 + max((i.height for i in inst.items if isinstance(i, Instance)), default=0)


def _reused(inst: Instance) -> None:
    """Mark each instance that calls again, layer for layer, the modules of an earlier sibling (the same
    block called twice: torch.fx sees its layers under `enc@1`); a layer that calls a module of another
    block without that is E801."""
    earlier: list[Instance] = []
    for item in inst.items:
        if not isinstance(item, Instance):
            continue
        mine = item.layers()
        for y in earlier:
            theirs = y.layers()
            if len(theirs) == len(mine) and all(
                    (a.reuses is (b.reuses or b.node)) if b.weights else (a.reuses is None and a.kind == b.kind)
                    for a, b in zip(mine, theirs)) and any(a.reuses is not None for a in mine):
                item.reuses = y
                break
        else:
            _reused(item)
        earlier.append(item)
    for item in inst.items:  # a layer's reuse must be of a module of this body
        if isinstance(item, Layer) and item.reuses is not None and item.reuses not in {
                i.node for i in inst.items if isinstance(i, Layer)}:
            from archspec.pytorch.traced import import_error

            raise import_error(f"archspec cannot express `{item.node.target} called from another module than the "
                               f"one that first calls it`, in `{item.node.target}`",
                               hint="a module used again is written `reuse NAME` where both calls are in one "
                                    "forward, or a whole block called again")


def _under_reuse(root: Instance) -> set[int]:
    """The instances inside a block called again (written `reuse NAME`, no body of their own)."""
    out: set[int] = set()

    def walk(i: Instance, inside: bool) -> None:
        if inside:
            out.add(id(i))
        for c in i.items:
            if isinstance(c, Instance):
                walk(c, inside or c.reuses is not None)

    walk(root, False)
    return out


def _all(inst: Instance) -> list[Instance]:
    out = []
    for i in inst.items:
        if isinstance(i, Instance):
            out += _all(i)
    return [*out, inst]


# -- one body ---------------------------------------------------------------------------------------------------

def _value_text(v: Any, top: bool = True) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v.isidentifier() else f'"{v}"'
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        if top and v and all(isinstance(i, int) and not isinstance(i, bool) for i in v) and len(v) > 1:
            return "x".join(map(str, v))
        return "(" + ", ".join(_value_text(i, False) for i in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def _args_of(layer: Layer) -> list[tuple[str, Any, bool]]:
    """(argument, value, positional) in the kind's order; every argument given, defaults included."""
    kind = REGISTRY[layer.kind]
    fields = kind.Args.model_fields
    out = []
    for k in list(kind.positional) + [k for k in fields if k not in kind.positional]:
        if k in layer.args:
            out.append((k, layer.args[k], k in kind.positional))
    return out


def _default(kind: str, arg: str) -> Any:
    f = REGISTRY[kind].Args.model_fields[arg]
    return None if f.is_required() else f.default


class Body:
    """Writes the items of one instance (or the network) as statements."""

    def __init__(self, inst: Instance, is_root: bool, outputs: list[fx.Node]) -> None:
        self.inst, self.is_root, self.outputs = inst, is_root, outputs
        self.taken: set[str] = set()
        self.names: dict[Any, str] = {}

    def _auto(self, base: str) -> str:
        n = 1
        while f"{base}{n}" in self.taken:
            n += 1
        return f"{base}{n}"

    def build(self) -> list[St]:
        items = self.inst.items
        outs = [(it.exit if isinstance(it, Instance) else it.node) for it in items]
        current = self.inst.entry
        refs: set[Any] = set()
        for it, out in zip(items, outs):  # which tensors are read other than as the current one
            ins = [it.entry] if isinstance(it, Instance) else it.inputs
            if isinstance(it, Layer) and it.kind in MERGES:
                refs |= {a for a in ins if a is not current}
            elif ins and ins[0] is not current:
                refs.add(ins[0])
            current = out
        final = current
        refs |= {it.reuses or it.tie for it in items if isinstance(it, Layer) and (it.reuses or it.tie)}  # named
        refs |= {it.reuses.exit for it in items if isinstance(it, Instance) and it.reuses is not None}
        extra_outputs = [o for o in self.outputs if o is not final or len(self.outputs) > 1] if self.is_root else []
        refs |= set(extra_outputs)
        stmts: list[St] = []
        entry = self.inst.entry
        if entry is not None and entry in refs and not self.is_root:
            name = "x_in" if "x_in" not in self.taken else self._auto("x_in")
            self.taken.add(name)
            self.names[entry] = name
            stmts.append(St(("alias", name), [], lambda vals, name=name: [f"{name} = _"]))
        current = entry
        for it, out in zip(items, outs):
            ins = [it.entry] if isinstance(it, Instance) else it.inputs
            if isinstance(it, Layer) and it.kind == "input":
                shape = "x".join(map(str, it.args["shape"]))
                if it.args.get("vocab"):
                    shape += f" tokens vocab={it.args['vocab']}"
                stmts.append(St(("input", shape), [], lambda vals, shape=shape: [f"input {shape}"]))
                if it.node in refs:
                    self.taken.add("x_in")
                    self.names[it.node] = "x_in"
                    stmts.append(St(("alias", "x_in"), [], lambda vals: ["x_in = _"]))
                current = out
                continue
            merge = isinstance(it, Layer) and it.kind in MERGES
            if not merge and ins and ins[0] is not current:
                ref = self.names[ins[0]]
                stmts.append(St(("from", ref), [], lambda vals, ref=ref: [f"from {ref}"]))
            first = it.reuses if isinstance(it, Instance) and it.reuses is not None else it
            base = first.group.name if isinstance(first, Instance) and first.group else (
                it.kind if isinstance(it, Layer) else "block")
            auto = self._auto(base)
            local = it.local if isinstance(it, Instance) else it.name
            ok = (local.isidentifier() and local.isascii() and local not in self.taken and local not in REGISTRY
                  and local not in RESERVED and not keyword.iskeyword(local) and not local.startswith("_"))
            name = local if ok else auto
            self.taken.add(name)
            self.names[out] = name
            explicit = name if (name != auto or out in refs) else None
            lhs = f"{explicit} = " if explicit else ""
            if isinstance(it, Instance) and it.reuses is not None:  # a block called again
                ref = self.names[it.reuses.exit]
                stmts.append(St(("reuse", ref, explicit), [], lambda vals, lhs=lhs, ref=ref: [f"{lhs}reuse {ref}"]))
            elif isinstance(it, Layer) and it.reuses is not None:  # a module called again
                ref = self.names[it.reuses]
                stmts.append(St(("reuse", ref, explicit), [], lambda vals, lhs=lhs, ref=ref: [f"{lhs}reuse {ref}"]))
            elif isinstance(it, Instance):
                assert it.group is not None
                g = it.group
                stmts.append(St(("call", g.name, explicit), list(it.values),
                                lambda vals, g=g, lhs=lhs: [f"{lhs}{g.name}({', '.join(vals)})"]))
            else:
                merge_refs = " ".join("_" if a is current else self.names[a] for a in ins) if merge else ""
                args = _args_of(it)
                keys = tuple(k for k, _, _ in args)
                tie = f" tie={self.names[it.tie]}" if it.tie is not None else ""  # its weight is that layer's
                stmts.append(St(("layer", it.kind, explicit, merge_refs, keys, tie), [v for _, v, _ in args],
                                lambda vals, it=it, lhs=lhs, mr=merge_refs, args=args, tie=tie:
                                [f"{lhs}{_layer_text(it.kind, args, vals, mr)}{tie}"]))
            current = out
        if self.is_root and (len(self.outputs) > 1 or (self.outputs and self.outputs[0] is not final)):
            for i, o in enumerate(self.outputs):
                ref = self.names[o]
                nm = "out" if i == 0 else f"out{i + 1}"
                stmts.append(St(("output", ref, nm), [], lambda vals, ref=ref, nm=nm: [f"output {ref} name={nm}"]))
        return _compress(stmts)


def _layer_text(kind: str, args: list[tuple[str, Any, bool]], vals: list[str | None], merge_refs: str) -> str:
    """`conv 64 3x3 stride=2`; the tensors of a merge after its positional arguments: `einsum "ij,jk->ik" a b`."""
    parts, named = [kind], []
    positional = True
    for (k, _v, pos), text in zip(args, vals):
        if text is None:  # a literal equal to the default
            positional = positional and not pos
            continue
        if pos and positional:
            parts.append(text)
        else:
            positional = False
            named.append(f"{k}={text}")
    return " ".join([*parts, *([merge_refs] if merge_refs else []), *named])


def _compress(stmts: list[St]) -> list[St]:
    """Runs of identical, unnamed block calls → `repeat n:`."""
    out: list[St] = []
    i = 0
    while i < len(stmts):
        s = stmts[i]
        j = i + 1
        if s.sig[0] == "call" and s.sig[2] is None:
            while j < len(stmts) and stmts[j].sig == s.sig and stmts[j].vals == s.vals:
                j += 1
        if j - i >= 2:
            inner = s

            def render(vals: list[Any], inner: St = inner) -> list[str]:
                return [f"repeat {vals[0]}:"] + ["    " + line for line in inner.render(vals[1:])]

            out.append(St(("repeat", s.sig), [j - i, *s.vals], render))
        else:
            out.append(s)
        i = j
    return out


# -- blocks ---------------------------------------------------------------------------------------------------

def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() and i and not name[i - 1].isupper() else c.lower()
                  for i, c in enumerate(name) if c.isalnum() or c == "_")
    return out.strip("_")


def _block_name(g: list[Instance], used: set[str]) -> str:
    first = g[0]
    if first.cls in ("Sequential", "ModuleList", "ModuleDict"):
        base = first.local.rstrip("0123456789_") if first.local.rstrip("0123456789") else "seq"
    else:
        base = _snake(first.cls)
    base = base or "block"
    if not base[0].isalpha():
        base = "b_" + base
    if base in REGISTRY or base in RESERVED or keyword.iskeyword(base):
        base += "_block"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def _param_base(st: St, index: int) -> str:
    """A parameter's name, from the argument it fills."""
    if st.sig[0] == "layer":
        arg = st.sig[4][index]
        return PARAM_NAMES.get(arg, arg)
    if st.sig[0] == "repeat":
        return "n" if index == 0 else _param_base_call(st.sig[1], index - 1)
    if st.sig[0] == "call":
        return _param_base_call(st.sig, index)
    return "v"


_GROUP_PARAMS: dict[str, list[str]] = {}


def _param_base_call(sig: Any, index: int) -> str:
    params = _GROUP_PARAMS.get(sig[1], [])
    return params[index].rstrip("0123456789") if index < len(params) else "v"


def _parameterise(g: Group) -> None:
    """The values that differ between the group's instances become its parameters."""
    vectors = [_flat_values(inst.stmts) for inst in g.instances]
    n = len(vectors[0])
    named: list[tuple[str, list[Any]]] = []
    holes: dict[int, str] = {}
    for pos in range(n):
        column = [v[pos][1] for v in vectors]
        if all(c == column[0] and type(c) is type(column[0]) for c in column):
            continue
        expr = None
        for pname, pcol in named:
            if pcol == column:
                expr = pname
                break
        if expr is None:
            for pname, pcol in named:
                if all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in pcol + column):
                    ratios = {c // p if c % p == 0 else None for c, p in zip(column, pcol)}
                    if len(ratios) == 1 and None not in ratios and ratios != {1}:
                        expr = f"{ratios.pop()} * {pname}"
                        break
        if expr is None:
            st, index = vectors[0][pos][0]
            base = _param_base(st, index)
            name, k = base, 2
            taken = {p for p, _ in named}
            while name in taken or name in RESERVED or keyword.iskeyword(name):
                name, k = f"{base}{k}", k + 1
            named.append((name, column))
            expr = name
        holes[pos] = expr
    g.params = [p for p, _ in named]
    g.holes = holes
    _GROUP_PARAMS[g.name] = g.params
    for i, inst in enumerate(g.instances):
        inst.values = [col[i] for _, col in named]


def _flat_values(stmts: list[St]) -> list[tuple[tuple[St, int], Any]]:
    return [((s, i), v) for s in stmts for i, v in enumerate(s.vals)]


def _render(stmts: list[St], holes: dict[int, str]) -> list[str]:
    lines: list[str] = []
    pos = 0
    for s in stmts:
        texts: list[Any] = []
        for i, v in enumerate(s.vals):
            if pos in holes:
                texts.append(holes[pos])
            elif s.sig[0] == "layer" and v == _default(s.sig[1], s.sig[4][i]) and type(v) is type(
                    _default(s.sig[1], s.sig[4][i])):
                texts.append(None)
            else:
                texts.append(_value_text(v))
            pos += 1
        lines += s.render(texts)
    return lines


def spec_text(traced: Traced, net: str, blocks: bool = True) -> str:
    root = _tree(traced, blocks)
    _boundaries(root, set(traced.outputs))
    _reused(root)
    root.entry = None
    hidden = _under_reuse(root)
    instances = [i for i in _all(root) if i is not root and id(i) not in hidden]
    groups: list[Group] = []
    used: set[str] = set()
    _GROUP_PARAMS.clear()
    for height in sorted({i.height for i in instances}):
        level = [i for i in instances if i.height == height]
        for inst in level:
            inst.stmts = Body(inst, False, []).build()
            inst.sig = (inst.cls, tuple(s.sig for s in inst.stmts))
        by_sig: dict[Any, list[Instance]] = {}
        for inst in level:
            by_sig.setdefault(inst.sig, []).append(inst)
        for members in by_sig.values():
            g = Group(_block_name(members, used), members)
            for m in members:
                m.group = g
            _parameterise(g)
            head = f"block {g.name}({', '.join(g.params)}):" if g.params else f"block {g.name}:"
            g.text = [head] + ["    " + line for line in _render(members[0].stmts, g.holes)]
            groups.append(g)
    body = Body(root, True, traced.outputs).build()
    lines = [f"# {traced.title or type(traced.model).__name__}, imported by `archspec import` ({len(traced.layers) - 1} layers)"]
    for g in groups:
        lines += g.text
    lines.append(f"network {net}:")
    lines += ["    " + line for line in _render(body, {})]
    return "\n".join(lines) + "\n"


__all__ = ["spec_text"]
