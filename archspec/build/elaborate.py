"""AST → graph: elaborates blocks, repeats, branches, conditions and named tensors into the IR.

Shapes are inferred node by node as the graph is built (each kind's pure shape rule), so that a spec
can read the current tensor's size (`channels`, `shape`) and so that a shape error stops at the
statement that caused it, with the graph built so far kept for a partial report.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from archspec.diagnostics import Diagnostic, Span, SpecError, did_you_mean
from archspec.ir import Graph, Meta, Node, Output, Scope
from archspec.kinds import REGISTRY
from archspec.kinds.base import Args, LayerKind, NoArgs, Shape, ShapeError, fmt_shape, prod
from archspec.kinds.core import MAX_ELEMENTS
from archspec.lang import ast
from archspec.lang.expr import Evaluator, TensorRef, Value, show, type_name
from archspec.lang.load import Source

MAX_NODES = 1_000_000  # layers in one network; ARCHSPEC_MAX_NODES (or `max_nodes=`) overrides it
WORK_PER_NODE = 10  # statements executed while expanding (lets, calls, layers...): at most 10 per allowed layer
MAX_REPEAT = 100_000
MAX_CALL_DEPTH = 64
NO_ARGS = NoArgs()  # an output node's arguments
ENV_MAX_NODES = "ARCHSPEC_MAX_NODES"
MAX_WARNINGS = 10  # W100 warnings listed one by one
BUILTINS = ("channels", "shape")  # names that read the current tensor


@dataclass(eq=False)
class Closure:
    """A block definition with the environment it was defined in (blocks see their definer's parameters)."""

    block: ast.BlockDef
    env: dict[str, Value]
    blocks: dict[str, Closure]
    key: tuple[Any, ...] | None = None  # `_closure_key`'s memo: (what it read, the key's number)


@dataclass(eq=False, slots=True)
class Namespace:
    """Named tensors of one block instance."""

    tensors: dict[str, str] = field(default_factory=dict)
    # layers and block instances named in it, for `reuse NAME`: ("layer", node id, its activations' ids)
    # or ("block", closure, the call's environment, the instance's scope)
    layers: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class Frame:
    env: dict[str, Value]
    blocks: dict[str, Closure]
    ns: Namespace
    scope: Scope | None  # the block instance or branch being built (None at the top)
    current: str | None
    frozen: bool = False
    loops: dict[str, Span | None] = field(default_factory=dict)  # loop variables of the repeats being run


    @property
    def path(self) -> str:
        return self.scope.id if self.scope is not None else ""

    def sub(self, scope: Scope | bool | None = False, frozen: bool | None = None) -> Frame:
        return Frame(self.env, self.blocks, self.ns, self.scope if scope is False else scope,  # type: ignore[arg-type]
                     self.current, self.frozen if frozen is None else frozen, self.loops)


@dataclass(eq=False)
class BuildCache:
    """Validated layer arguments and inferred shapes, kept between builds of a spec with other parameters
    (`archspec sweep` builds thousands). Both are pure functions of their keys; a shape (a cost, a
    receptive-field step) is keyed by the `id` of its arguments object, interned in `args`, and its entry
    holds the object too, so that the id cannot become another object's while the entry lives. `clear()`
    when it grows past what a sweep wants to hold."""

    args: dict[tuple[Any, ...], Args] = field(default_factory=dict)
    shapes: dict[tuple[Any, ...], tuple[Shape, Args]] = field(default_factory=dict)
    costs: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # the cost pass's, by the same keys
    bound: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # a layer statement's arguments, by its values
    steps: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # the receptive-field pass's
    templates: dict[Any, Any] = field(default_factory=dict)  # block calls as first built (`Builder._template_key`)
    conds: dict[int, Any] = field(default_factory=dict)  # an `if`'s last outcome (`Builder._if`)
    estimates: dict[Any, Any] = field(default_factory=dict)  # a block call's bounds, by its template key

    def __len__(self) -> int:
        return (len(self.args) + len(self.shapes) + len(self.costs) + len(self.steps) + len(self.bound)
                + len(self.templates) + len(self.conds) + len(self.estimates))

    def clear(self) -> None:
        for d in (self.shapes, self.costs, self.steps, self.bound, self.templates, self.conds, self.estimates):
            d.clear()
        self.args.clear()


_METHODS: dict[str, Any] = {}  # `Builder.run`'s table
# The layers' caches of the builds that bring none of their own: a layer's validated arguments by the
# values given, and its shape, costs and receptive-field step by its arguments and input shapes. They
# are pure functions of those (as `re` keeps its compiled patterns), so analysing networks one after
# another (a notebook, `compare`, a family's depths) works each distinct layer out once; so are a layer
# statement's bound arguments, an `if`'s outcome and a block call's bounds, by the values they read. Every
# entry keyed by an object's identity holds the object, whose id therefore cannot become another's. The
# templates of block calls (what a build copies) stay each build's own. A sweep brings a cache of its own.
LAYERS = BuildCache()
LAYERS_ENTRIES = 50_000  # entries in all (a few kB each at most): emptied past it
_MISSING = object()
_SEEN = ("seen once",)  # a template key met once: the call is built, not recorded
_NEVER = ("not copyable",)  # a call whose nodes cannot be copied (`Builder._record`)


@dataclass(eq=False)
class _Template:
    """A block call's nodes as built the first time: ids and scopes relative to the call's scope ("" is
    the call's scope itself), inputs as ("in", relative id) or ("out", k), the k-th tensor the call reads
    from outside (`Builder._sources`)."""

    # (id, op, kind, args, name, span, frozen, fused, shape, dtype, freeze, its scope, inputs): the node's
    # fields unpacked once, not read by name in every copy
    nodes: list[tuple[Any, ...]]
    scopes: list[tuple[str, str, Scope]]  # (id, parent's id, scope), parents first
    result: tuple[str, Any] | None
    work: int


# A node made as the tuple it is (`Node` is a named tuple), every field given: its constructor's handling of
# keywords and defaults costs more than the tuple itself, and the builder makes one per layer. The callers
# (`_add`, `_replay`) give all 14 fields, in order: a field added to `Node` must be added there too.
_node = tuple.__new__
assert len(Node._fields) == 14, "Node's fields changed: give every one where `_node` makes a node"
# Likewise a node's `Meta` is made with its fields given by position (keywords cost more than the rest of
# the call): (shape, cost, activations, peer_macs, rf, dtype).
assert [f.name for f in fields(Meta)] == ["shape", "cost", "activations", "peer_macs", "rf", "dtype"], \
    "Meta's fields changed: give every one where the builder makes one"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def node_limit(max_nodes: int | None = None) -> int:
    """The layer limit: `max_nodes` if given, else the environment's ARCHSPEC_MAX_NODES, else MAX_NODES."""
    if max_nodes is not None:
        return max_nodes
    text = os.environ.get(ENV_MAX_NODES, "").strip()
    if not text:
        return MAX_NODES
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if not 0 < value <= 10**12:
        raise SpecError(Diagnostic("E600", f"{ENV_MAX_NODES}={text[:40]} is not a layer limit",
                                   expected="a whole number from 1 to 10**12",
                                   hint=f"unset it for the default, {MAX_NODES:,} layers"))
    return value


class Builder:
    def __init__(self, source: Source, params: dict[str, Value] | None = None,
                 inputs: dict[str, Shape] | None = None, max_nodes: int | None = None,
                 cache: BuildCache | None = None) -> None:
        self.source = source
        self.max_nodes = node_limit(max_nodes)
        self.max_work = WORK_PER_NODE * self.max_nodes
        self.work = 0  # statements executed so far
        self.expanding: list[tuple[str, Span | None]] = []  # the repeats and block calls being expanded
        self.verified = False  # inside an expansion whose upper bounds are within the limits
        self.added: list[str] = []  # node ids in the order they were added (a block call's are a slice)
        self.scoped: list[str] = []  # scope ids likewise
        self.overrides = dict(params or {})
        self.input_overrides = dict(inputs or {})
        self.input_names: list[str] = []  # the network's inputs, to check the names of the overrides
        self.g = Graph(source.spec.network.name if source.spec.network else "network", source.spec.path)
        self.used: dict[str, dict[str, int]] = {}  # scope → local name → count (for unique names)
        self.calls: list[tuple[str, str, Span | None]] = []  # (block name, instance id, call span)
        self.calling: set[str] = set()  # the names of `calls`' blocks (each at most once: else E401)
        self.outputs = self.g.outputs
        self.scopes = self.g.scopes
        # A build of its own records a block call the second time it is made (most calls are made once:
        # a ResNet's stages), or the first time in a repeat's body (the next iterations make it again);
        # builds that share a cache (a sweep) record every call, for the builds to come.
        self.record_first = cache is not None
        self.repeating = 0  # the repeats being run
        self.ended_loops: dict[str, Span | None] = {}  # loop variables of the repeats that have ended
        self.sharing: list[tuple[str, str, Span | None]] = []  # `reuse` of a block: (new prefix, owner's prefix, span)
        if cache is None:  # a build of its own: the process's caches (`LAYERS`), but for the templates
            if len(LAYERS) > LAYERS_ENTRIES:
                LAYERS.clear()
            cache = replace(LAYERS, templates={})
        self._args_cache = cache.args
        self._shapes = cache.shapes
        self._bound = cache.bound
        self._conds = cache.conds
        self._estimates = cache.estimates
        self.templates: dict[Any, Any] = cache.templates  # block calls already built, by what they read

    @cached_property
    def all_targets(self) -> dict[str, str]:
        """Every tensor name the spec defines: read only to explain a name not found (a walk of the whole
        spec, which a build that goes well never needs)."""
        return _targets(self.source)

    # -- entry -------------------------------------------------------------------------------
    def build(self) -> Graph:
        net = self.source.spec.network
        if net is None:
            raise SpecError(Diagnostic("E402", f"{self.source.spec.path} defines no network", None,
                                       hint="a spec needs `network NAME:` with an `input` and layers; "
                                            "a file of blocks only is for `use`"))
        g = self.g
        env = self._network_params(net)
        g.params = dict(env)
        top = {name: Closure(b, env, {}) for name, b in self.source.blocks.items()}
        for c in top.values():
            c.blocks = top
        frame = Frame(env, top, Namespace(), None, None)
        try:
            self.run(net.body, frame)
        except RecursionError:
            raise SpecError(Diagnostic("E600", "the spec nests too deeply", net.span)) from None
        if not self.outputs:
            if frame.current is None:
                raise SpecError(Diagnostic("E302", f"network `{net.name}` has no layers", net.span,
                                           hint="start with `input 3x224x224`"), partial=g)
            self._add_output("out", frame.current, None, net.span)
        unknown = sorted(set(self.input_overrides) - {"*", *self.input_names})
        if unknown:
            raise SpecError(Diagnostic("E207", f"network `{net.name}` has no input named `{unknown[0]}`", net.span,
                                       expected="one of " + ", ".join(f"`{n}`" for n in self.input_names)
                                       + " (or a shape alone, for every input)",
                                       hint=did_you_mean(unknown[0], self.input_names)))
        g.warnings = self._dead_ends()
        return g

    def _dead_ends(self) -> list[Diagnostic]:
        """Layers whose result reaches no output: almost always a forgotten `output` or a stray `from`."""
        g = self.g
        read = {i for n in g.nodes.values() for i in n.inputs}
        dead = [nid for nid, n in g.nodes.items() if nid not in read and n.op != "output"]
        out = [Diagnostic("W100", f"`{n}` is computed but reaches no output", g[n].span,
                          severity="warning", hint=f"mark it with `output` (or `output {n.rsplit('.', 1)[-1]}`), "
                                                   "or remove it") for n in dead[:MAX_WARNINGS]]
        if len(dead) > MAX_WARNINGS:  # 100,000 side paths: ten warnings, and the count of the others
            out[-1].notes.append(f"and {len(dead) - MAX_WARNINGS:,} more layers that reach no output")
        return out

    def _network_params(self, net: ast.Network) -> dict[str, Value]:
        known = sorted({p.name for p in net.params})  # sorted: a diagnostic reads the same on every run
        for name in sorted(self.overrides):
            if name not in known:
                raise SpecError(Diagnostic(
                    "E207", f"network `{net.name}` has no parameter `{name}`", net.span,
                    expected="one of " + (", ".join(f"`{k}`" for k in known) if known else "none: it takes no parameters"),
                    hint=did_you_mean(name, known)))
        env: dict[str, Value] = {}
        for p in net.params:
            if p.name in self.overrides:
                env[p.name] = self.overrides[p.name]
            elif p.default is not None:
                env[p.name] = self._eval(p.default, env)
            else:
                raise SpecError(Diagnostic("E203", f"network parameter `{p.name}` has no default and no value",
                                           p.span, hint=f"give it with `--set {p.name}=...`"))
        return env

    # -- statements --------------------------------------------------------------------------
    def run(self, stmts: list[Any], f: Frame) -> None:
        defs = _defs(stmts)
        if defs:
            blocks = dict(f.blocks)
            seen: dict[str, ast.BlockDef] = {}
            for d in defs:
                if d.name in seen:
                    raise SpecError(Diagnostic("E208", f"block `{d.name}` is defined twice", d.span,
                                               notes=[f"first defined at {seen[d.name].span}"]))
                if d.name in REGISTRY:
                    raise SpecError(Diagnostic("E208", f"block `{d.name}` has the name of a layer kind", d.span,
                                               hint="choose another name"))
                seen[d.name] = d
                blocks[d.name] = Closure(d, f.env, blocks)
            f.blocks = blocks
        self.work += len(stmts)
        if self.work > self.max_work and stmts:
            outer = self._while_expanding()
            what, span = outer if outer else ("the spec", stmts[0].span)
            raise self._too_big(f"{what} takes more than {self.max_work:,} statements to expand", span,
                                layers=False)
        methods = _METHODS
        for s in stmts:
            method = methods.get(s.type)
            if method is None:  # each statement type's method (`_layer`), looked up once: the function, not
                method = methods[s.type] = getattr(Builder, "_" + s.type)  # a bound method (a cycle that
            method(self, s, f)  # would keep every builder and its graph until the collector runs)

    def _block(self, s: ast.BlockDef, f: Frame) -> None:
        pass  # hoisted by `run`

    def _let(self, s: ast.Let, f: Frame) -> None:
        # In place, as Python's assignments: the scope is the block call (or the network); `repeat`, `if`,
        # `frozen` and branch bodies share it. Blocks defined in this scope see the name when called.
        if s.name in f.loops:
            raise SpecError(Diagnostic("E210", f"`let {s.name}` would rebind the loop variable of the `repeat` "
                                               f"at {_line(f.loops[s.name])}", s.span,
                                       expected=f"a name other than `{s.name}`: the next iteration sets `{s.name}` "
                                                "again, and after the `repeat` it does not exist",
                                       hint=f"use another name: `let {s.name}2 = ...`"), partial=self.g)
        f.env[s.name] = self._eval(s.value, f.env, f)

    def _register(self, s: ast.Register, f: Frame) -> None:
        # read when the block is called (`_call`); anywhere but at a block's top level it would do nothing
        if f.scope is None or f.scope.kind != "block" or not set(s.names) <= set(f.scope.register):
            raise SpecError(Diagnostic("E201", "`register` orders the layers of a block's module", s.span,
                                       expected="`register` among the statements of a block's own body",
                                       hint="move it into the block whose layers it orders"), partial=self.g)

    def _from(self, s: ast.From, f: Frame) -> None:
        f.current = self._tensor(TensorRef(s.name, s.span, f.ns), f)

    def _if(self, s: ast.If, f: Frame) -> None:
        # A condition is a pure function of the names it reads: the last outcome of this `if` holds while
        # each of them is the same object (`if depth < 50` in a repeat's body, tested at every iteration).
        # One that reads the current tensor's size (`channels`) is worked out each time.
        names = _cond_names(s)
        env = f.env
        last = self._conds.get(id(s))
        if names is not None and last is not None and last[0] is s \
                and all(env.get(n, _ABSENT) is v for n, v in zip(names, last[1])):  # read in this frame's
            self._inline(s.body if last[2] else s.orelse, f)  # environment: another call has its own
            return
        ev = self._evaluator(env, f)
        taken = ev.truth(ev(s.cond), s.cond.span)
        if names is not None:
            self._conds[id(s)] = (s, tuple([env.get(n, _ABSENT) for n in names]), taken)
        self._inline(s.body if taken else s.orelse, f)

    def _frozen(self, s: ast.Frozen, f: Frame) -> None:
        on = True
        if s.cond is not None:
            ev = self._evaluator(f.env, f)
            on = ev.truth(ev(s.cond), s.cond.span)
        sub = f.sub(frozen=f.frozen or on)
        self.run(s.body, sub)
        f.current, f.env = sub.current, sub.env

    def _inline(self, body: list[Any], f: Frame) -> None:
        if not _defs(body):  # nothing the body could define for itself: it runs in the enclosing frame
            self.run(body, f)
            return
        sub = f.sub()
        self.run(body, sub)
        f.current, f.env = sub.current, sub.env

    def _repeat(self, s: ast.Repeat, f: Frame) -> None:
        n = self._eval(s.count, f.env, f)
        if isinstance(n, bool) or not isinstance(n, int):
            raise SpecError(Diagnostic("E202", f"`repeat` needs a whole number, got {type_name(n)} ({show(n)})",
                                       s.count.span))
        if n < 0 or n > MAX_REPEAT:
            raise SpecError(Diagnostic("E600" if n > 0 else "E202", f"`repeat {n}` is out of range", s.count.span,
                                       expected=f"0 to {MAX_REPEAT:,} repetitions"))
        verified = self.verified
        if n > 1 and not verified:  # the estimate of this very statement: its body n times
            env = self._evaluator(f.env, f).env
            verified = self._check_expansion(f"`repeat {n}`", s.span, _Estimate(self).body([s], dict(env), f.blocks))
        var = s.var
        if var is not None and var in f.loops:
            raise SpecError(Diagnostic("E210", f"`{var}` is already the loop variable of the `repeat` at "
                                               f"{_line(f.loops[var])}", s.var_span or s.span,
                                       expected="a loop variable of its own for each nested `repeat`",
                                       hint=f"name this one differently: `repeat {show(n)} as j:`"), partial=self.g)
        self.expanding.append((f"`repeat {n}`", s.span))
        self.repeating += 1
        outer, self.verified = self.verified, verified
        # The body runs in the enclosing scope (its `let`s stay visible after and carry from one iteration
        # to the next); the loop variable exists inside the body only, hiding an outer name of its spelling.
        hidden = f.env.get(var, _ABSENT) if var is not None else _ABSENT
        if var is not None:
            f.loops[var] = s.var_span or s.span
        try:
            sub = f.sub()  # one frame for every iteration, each started afresh from the enclosing one
            for i in range(n):
                sub.env, sub.blocks, sub.current = f.env, f.blocks, f.current
                if var is not None:
                    f.env[var] = i
                self.run(s.body, sub)
                f.current = sub.current
        finally:
            self.expanding.pop()
            self.repeating -= 1
            self.verified = outer
            if var is not None:
                del f.loops[var]
                if hidden is _ABSENT:
                    f.env.pop(var, None)
                    self.ended_loops.setdefault(var, s.var_span or s.span)
                else:
                    f.env[var] = hidden

    def _output(self, s: ast.Output, f: Frame) -> None:
        ev = self._evaluator(f.env, f)
        refs, weight, name = [], None, None
        for a in s.args:
            if a.name is None:
                v = a.value
                if not isinstance(v, ast.Name):
                    raise SpecError(Diagnostic("E202", "`output` takes tensor names", a.span,
                                               expected="`output`, `output x`, `output aux weight=0.3`"))
                refs.append(TensorRef(v.id, v.span, f.ns))
            elif a.name == "weight":
                weight = ev(a.value)
                if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                    raise SpecError(Diagnostic("E202", "an output `weight` is a number", a.span))
                weight = float(weight)
            elif a.name == "name":
                name = ev(a.value)
                name = name.name if isinstance(name, TensorRef) else str(name)
            else:
                raise SpecError(Diagnostic("E201", f"`output` has no argument `{a.name}`", a.span,
                                           expected="`weight=` or `name=`"))
        if not refs:
            refs = [TensorRef("_", s.span, f.ns)]
        if name is not None and len(refs) > 1:
            raise SpecError(Diagnostic("E202", "`name=` names one output", s.span))
        for r in refs:
            node = self._tensor(r, f)
            out_name = name or (r.name if r.name != "_" else ("out" if not self.outputs else f"out{len(self.outputs) + 1}"))
            if any(o.name == out_name for o in self.outputs):
                raise SpecError(Diagnostic("E208", f"two outputs named `{out_name}`", s.span, hint="give `name=`"))
            self._add_output(out_name, node, weight, s.span)

    def _add_output(self, name: str, source: str, weight: float | None, span: Span | None) -> None:
        nid = f"output:{name}"  # an id no layer can have; what it is, its fields say
        self.g.add(Node(nid, "output", "output", NO_ARGS, (source,), name, None, span, False, False,
                        Meta(self.g[source].meta.shape, dtype=self.g[source].meta.dtype)))
        self.added.append(nid)
        self.outputs.append(Output(name, nid, source, weight))

    # -- layers and block calls ---------------------------------------------------------------
    def _layer(self, s: ast.Layer, f: Frame) -> None:
        if s.kind == "_" and not s.args:  # `x = _` names the current tensor
            node = self._tensor(TensorRef("_", s.kind_span, f.ns), f)
            if s.target:
                f.ns.tensors[s.target] = node
            return
        closure = f.blocks.get(s.kind)
        if closure is not None:
            self._call(s, closure, f)
            return
        if s.kind == "reuse":
            self._reuse(s, f)
            return
        kind = self._kind(s.kind, s.kind_span, f)
        if kind.op == "merge":
            self._merge_inline(s, kind, f)
            return
        freeze_arg, tie, rest = _split_args(s)
        freeze = self._freeze(kind, freeze_arg, f) if freeze_arg is not None else None
        if freeze_arg is not None and freeze is None:  # a kind's own `freeze` argument (no kind has one today)
            rest = [a for a in s.args if a is not tie]
        args, acts = self._bind(kind, rest, f, s)
        if freeze and not getattr(args, "bias", False):
            assert freeze_arg is not None
            span = freeze_arg.span
            raise SpecError(Diagnostic("E202", f"`{s.kind}` has no bias to freeze" +
                                       (" (`bias=false`)" if "bias" in kind.Args.model_fields else ""),
                                       span, expected="`freeze=bias` or `freeze=weight` on a layer with a bias",
                                       hint="`frozen:` freezes every parameter of the layers in its body"))
        inputs: list[str] = []
        if kind.op != "input":
            if f.current is None:
                raise SpecError(Diagnostic("E302", f"`{s.kind}` has no input tensor", s.span,
                                           hint="start the network with `input 3x224x224` (or `from NAME`)"),
                                partial=self.g)
            inputs = [f.current]
        else:
            args = self._input_override(args, s, f)
        ties = self._tie(kind, args, inputs, tie, f) if tie is not None else ()
        if ties and freeze and "weight" in freeze:
            assert freeze_arg is not None and tie is not None
            owner = ties[0][1]
            raise SpecError(Diagnostic("E202", f"`freeze=weight`: this layer's weight is `{self.g[owner].name}`'s "
                                               "(`tie=`)", freeze_arg.span,
                                       expected="`freeze=bias` here, or the weight frozen where it is made",
                                       hint=f"freeze `{self.g[owner].name}` (in a `frozen:` block): a tied weight "
                                            "is one parameter, trained or not everywhere"), partial=self.g)
        node = first = self._add(kind, args, inputs, s, f, s.target, freeze=freeze or (), ties=ties)
        fused = []
        for act, _ in acts:
            node = self._add(REGISTRY[act], self._no_args(REGISTRY[act]), [node], s, f, None, fused=True)
            fused.append(node)
        f.current = node
        if s.target:
            f.ns.tensors[s.target] = node
            if kind.op != "input":
                f.ns.layers[s.target] = ("layer", first, tuple(fused))

    def _freeze(self, kind: LayerKind[Any], arg: ast.Arg, f: Frame) -> tuple[str, ...] | None:
        """`freeze=bias` / `freeze=weight` / `freeze=(weight, bias)`: the layer's parameters not trained
        (None when the kind has an argument of that name)."""
        if "freeze" in kind.Args.model_fields:
            return None
        ev = self._evaluator(f.env, f)

        def word(e: Any) -> Any:  # a bare word is its name (`freeze=bias`), unless a `let` binds it
            return e.id if isinstance(e, ast.Name) and e.id not in ev.env else ev(e)

        v: Any = tuple(word(e) for e in arg.value.items) if isinstance(arg.value, ast.Seq) else word(arg.value)
        words = (v,) if isinstance(v, str) else tuple(v) if isinstance(v, tuple) else (v,)
        if not words or any(w not in ("weight", "bias") for w in words) or "bias" not in kind.Args.model_fields:
            raise SpecError(Diagnostic("E202", f"`freeze={show(v)}`: " + (
                "names the parameters `weight` or `bias`" if "bias" in kind.Args.model_fields
                else f"`{kind.name}` has no bias: freeze the whole layer"), arg.span,
                expected="`freeze=bias`, `freeze=weight` or `freeze=(weight, bias)` on a layer with a bias",
                hint="`frozen:` freezes every parameter of the layers in its body"))
        return tuple(sorted(set(words), reverse=True))

    def _merge(self, s: ast.Merge, f: Frame) -> None:
        kind = self._kind(s.kind, s.kind_span, f)
        if kind.op != "merge":
            merges = sorted(n for n, k in REGISTRY.items() if k.op == "merge")
            raise SpecError(Diagnostic("E200", f"`{s.kind}` cannot take branches", s.kind_span,
                                       expected="a merge: " + ", ".join(f"`{m}`" for m in merges),
                                       hint="branches are written under `concat:`, `add:` or `mul:`"))
        if f.current is None:
            raise SpecError(Diagnostic("E302", f"`{s.kind}` has no input tensor to branch from", s.span,
                                       hint="start the network with `input ...`"), partial=self.g)
        args, _ = self._bind(kind, s.args, f, s, allow_positional=False)
        start, outs = f.current, []
        for br in s.branches:
            name = self._local(f.path, br.name or "branch", bool(br.name))
            path = _join(f.path, name)
            scope = self.scopes[path] = Scope(path, "branch", name, f.scope, span=br.span)
            self.scoped.append(path)
            sub = f.sub(scope=scope)
            sub.current = start
            self.run(br.body, sub)
            assert sub.current is not None
            outs.append(sub.current)
        f.current = self._add(kind, args, outs, s, f, s.target)
        if s.target:
            f.ns.tensors[s.target] = f.current

    def _merge_inline(self, s: ast.Layer, kind: LayerKind[Any], f: Frame) -> None:
        """`concat a, b` / `add(x, _)`: a merge of named tensors (after the kind's positional values, if it
        has any: `einsum "ij,jk->ik" a b`)."""
        pos = [a for a in s.args if a.name is None]
        kw = [a for a in s.args if a.name is not None]
        lead: list[Any] = []
        if kind.positional:
            ev0 = self._evaluator(f.env, f)
            while pos and len(lead) < len(kind.positional) and not isinstance(ev0(pos[0].value), TensorRef):
                lead.append(pos.pop(0))
        args, _ = self._bind(kind, lead + kw, f, s, allow_positional=bool(lead))
        if len(pos) < 2:
            raise SpecError(Diagnostic("E203", f"`{s.kind}` needs at least two tensors", s.span,
                                       expected=f"`{s.kind} a b` with named tensors (`_` is the current one), "
                                                f"or `{s.kind}:` with branches"))
        ev = self._evaluator(f.env, f)
        inputs = []
        for a in pos:
            v = ev(a.value)
            if not isinstance(v, TensorRef):
                raise SpecError(Diagnostic("E202", f"`{s.kind}` merges tensors; {show(v)} is {type_name(v)}",
                                           a.span, expected="a tensor name, or `_` for the current tensor"))
            inputs.append(self._tensor(v, f))
        f.current = self._add(kind, args, inputs, s, f, s.target)
        if s.target:
            f.ns.tensors[s.target] = f.current

    def _call(self, s: ast.Layer, c: Closure, f: Frame) -> None:
        b = c.block
        if b.name in self.calling:
            names = [name for name, _, _ in self.calls]
            chain = " → ".join([*names[names.index(b.name):], b.name])
            raise SpecError(Diagnostic("E401", f"block `{b.name}` calls itself: {chain}", s.span,
                                       hint="a network is acyclic: unroll the recursion with `repeat`"), partial=self.g)
        if len(self.calls) >= MAX_CALL_DEPTH:
            raise SpecError(Diagnostic("E600", f"blocks nested deeper than {MAX_CALL_DEPTH}", s.span))
        plan = _block_plan(b)
        ev = self._evaluator(f.env, f)
        env = dict(c.env)
        params = plan.params
        given: dict[str, Value] = {}
        npos = 0
        for a in s.args:
            if a.name is None:
                if npos >= len(params):
                    raise SpecError(Diagnostic("E204", f"block `{b.name}` takes {len(params)} arguments, got more",
                                               a.span, expected=_signature(b)))
                given[params[npos]] = ev(a.value)
                npos += 1
            else:
                if a.name not in params:
                    raise SpecError(Diagnostic("E201", f"block `{b.name}` has no parameter `{a.name}`", a.span,
                                               expected=_signature(b), hint=did_you_mean(a.name, params)))
                if a.name in given:
                    raise SpecError(Diagnostic("E202", f"parameter `{a.name}` given twice", a.span))
                given[a.name] = ev(a.value)
        for p, literal in plan.defaults:
            if p.name in given:
                env[p.name] = given[p.name]
            elif literal is not _NOT_LITERAL:
                env[p.name] = literal
            elif p.default is not None:
                env[p.name] = self._eval(p.default, env, f)
            else:
                raise SpecError(Diagnostic("E203", f"missing argument `{p.name}` of block `{b.name}`", s.span,
                                           expected=_signature(b), hint=f"call it as `{b.name}({', '.join(params)})`"),
                                partial=self.g)
        name = self._local(f.path, s.target or b.name, bool(s.target))
        path = _join(f.path, name)
        order = plan.register
        scope = self.scopes[path] = Scope(path, "block", b.name, f.scope, {p: env[p] for p in params}, s.span,
                                          order)
        self.scoped.append(path)
        if self.sharing and path.startswith(self.sharing[-1][0]):  # a block inside a block used again
            scope.shares = self.sharing[-1][1] + path[len(self.sharing[-1][0]):]
        what = plan.what
        key, entry = self._template_key(c, env, f) if not self.sharing else (None, None)
        template = entry if isinstance(entry, _Template) else None
        verified = self.verified
        if b.body and not verified and template is None:  # a copy is checked against the limits as it is made
            bounds: Any = self._estimates.get(key, _MISSING) if key is not None else _MISSING
            if bounds is _MISSING:  # the bounds depend on what the template key holds (the block, the values
                # it reads, its arguments, the input's size): the same key, the same bounds
                estimate_env = {**{k: ev.env[k] for k in BUILTINS if k in ev.env}, **env}
                bounds = _Estimate(self).body(b.body, estimate_env, c.blocks)
                if key is not None:
                    self._estimates[key] = bounds
            verified = self._check_expansion(what, s.span, bounds)
        self.calls.append((b.name, path, s.span))
        self.calling.add(b.name)
        self.expanding.append((what, s.span))
        outer, self.verified = self.verified, verified
        try:
            if template is not None:  # built before with the same arguments, shapes and freezing: copied
                result = self._replay(template, scope, f, c, env, s)
            else:
                start, scoped, work = len(self.added), len(self.scoped), self.work
                sub = Frame(env, c.blocks, Namespace(), scope, f.current, f.frozen)
                self.run(b.body, sub)
                result = sub.current
                if order:
                    self._check_register(b, scope, start, scoped)
                if key is not None and entry is None and not (self.record_first or self.repeating):  # seen once
                    self.templates[key] = _SEEN
                elif key is not None and entry is not _NEVER:  # recorded: copied from now on
                    self.templates[key] = self._record(start, scoped, work, scope, f, c, env, result) or _NEVER
        finally:
            self.calls.pop()
            self.calling.discard(b.name)
            self.expanding.pop()
            self.verified = outer
        f.current = result
        if s.target and result is not None:
            f.ns.tensors[s.target] = result
            f.ns.layers[s.target] = ("block", c, env, scope)

    # -- shared weights: `reuse NAME` and `tie=NAME` ----------------------------------------------
    def _layer_ref(self, arg: Any, f: Frame, what: str) -> tuple[str, tuple[Any, ...]]:
        """The layer or block instance a `reuse NAME` / `tie=NAME` names in this block's scope."""
        v = arg.value
        name = v.id if isinstance(v, ast.Name) else None
        rec = f.ns.layers.get(name) if name is not None else None
        passed = f.env.get(name) if name is not None and rec is None else None
        if isinstance(passed, TensorRef) and isinstance(passed.scope, Namespace):  # a block's argument: the
            rec = passed.scope.layers.get(passed.name)  # caller's layer (`block twice(fc): reuse fc`)
        if rec is not None and name is not None:
            return name, rec
        if name is not None and name in f.ns.tensors:
            msg = f"{what}: `{name}` names a tensor, not a layer"
            hint = f"name the layer where it is made: `{name} = dense 64`, or a block's call: `{name} = encoder(64)`"
        elif name is not None:
            msg = f"{what}: no layer named `{name}`"
            hint = did_you_mean(name, f.ns.layers) or f"name the layer where it is made: `{name} = dense 64`"
        else:
            msg = f"{what} takes the name of a layer"
            hint = "`reuse fc` applies the layer named `fc` again; `tie=wte` shares `wte`'s weight"
        raise SpecError(Diagnostic("E403", msg, arg.span,
                                   expected="a layer or block call named earlier in this block: `fc = dense 64`",
                                   hint=hint, notes=self._call_notes()), partial=self.g)

    def _reuse(self, s: ast.Layer, f: Frame) -> None:
        """`reuse fc`: the layer (and the activations written with it) or the block instance named `fc`,
        applied again to the current tensor with the same weights."""
        if len(s.args) != 1 or s.args[0].name is not None:
            raise SpecError(Diagnostic("E203" if not s.args else "E204", "`reuse` takes one layer's name", s.span,
                                       expected="`reuse fc`: the layer or block call named `fc`, applied again "
                                                "to the current tensor with the same weights"), partial=self.g)
        name, rec = self._layer_ref(s.args[0], f, "`reuse`")
        if f.current is None:
            raise SpecError(Diagnostic("E302", "`reuse` has no input tensor", s.span,
                                       hint="start the network with `input ...`"), partial=self.g)
        target = s.target or name
        if rec[0] == "layer":
            orig = self.g[rec[1]]
            owner = orig.shares or orig.id
            kind = REGISTRY[orig.kind]
            node = self._add(kind, orig.args, [f.current], s, f, target, shares=owner, freeze=orig.freeze)
            for act in rec[2]:  # the activations written with it, their modules called again too
                later = self.g[act]
                node = self._add(REGISTRY[later.kind], later.args, [node], s, f, None, fused=True,
                                 shares=later.shares or later.id)
        else:
            node = self._reuse_block(s, f, name, rec, target)
        f.current = node
        if s.target:
            f.ns.tensors[s.target] = node
            f.ns.layers[s.target] = rec  # `y = reuse fc`: `reuse y` is fc's weights again

    def _reuse_block(self, s: ast.Layer, f: Frame, name: str, rec: tuple[Any, ...], target: str) -> str:
        c, env, orig_scope = rec[1], rec[2], rec[3]
        b = c.block
        local = self._local(f.path, target, True)
        path = _join(f.path, local)
        scope = self.scopes[path] = Scope(path, "block", b.name, f.scope, dict(orig_scope.args), s.span,
                                          orig_scope.register, orig_scope.shares or orig_scope.id)
        self.scoped.append(path)
        sub = Frame(dict(env), c.blocks, Namespace(), scope, f.current, f.frozen)
        self.calls.append((b.name, path, s.span))
        self.expanding.append((f"`reuse {name}`", s.span))
        self.sharing.append((path + ".", orig_scope.id + ".", s.span))
        try:
            self.run(b.body, sub)
        finally:
            self.sharing.pop()
            self.calls.pop()
            self.expanding.pop()
        if sub.current is None:
            raise SpecError(Diagnostic("E302", f"`reuse {name}` gives no tensor", s.span), partial=self.g)
        return sub.current

    def _shared_owner(self, nid: str, kind: LayerKind[Any], span: Span | None) -> str | None:
        """Inside `reuse` of a block: the node of the first instance whose weights this node uses."""
        new, old, where = self.sharing[-1]
        if not nid.startswith(new):
            return None
        orig = self.g.nodes.get(old + nid[len(new):])
        if orig is None or orig.kind != kind.name:
            raise SpecError(Diagnostic(
                "E304", f"`{nid}` has no counterpart in the block's first instance "
                        f"(`{old + nid[len(new):]}` is " + (f"a `{orig.kind}`)" if orig is not None else "not there)"),
                where, expected="a block reused on an input like its first one's, building the same layers",
                hint="an `if` on `channels` or `shape` builds other layers for another input: call the block "
                     "again for new weights", notes=self._call_notes()), partial=self.g)
        return orig.shares or orig.id

    def _check_fit(self, kind: LayerKind[Any], owner: str, nid: str, span: Span | None) -> None:
        """A layer applied again must fit the weights it was made with: the same PyTorch module."""
        g = self.g
        a, b = g[owner], g[nid]
        a_ins, b_ins = g.input_shapes(a), g.input_shapes(b)
        try:
            fits = kind.pytorch(a.args, a_ins, a.meta.shape) == kind.pytorch(b.args, b_ins, b.meta.shape)
        except NotImplementedError:
            fits = kind.cost(a.args, a_ins, a.meta.shape).params == kind.cost(b.args, b_ins, b.meta.shape).params
        if not fits:
            made = " and ".join(fmt_shape(x) for x in a_ins)
            raise SpecError(Diagnostic(
                "E304", f"`{a.name}` ({kind.name} {kind.describe(a.args)}) was made for input {made}; its "
                        f"weights do not fit this input", span,
                expected=f"an input of {made}, as `{a.name}`'s first use",
                received="input " + " and ".join(fmt_shape(x) for x in b_ins),
                hint=f"write the layer again for new weights (`{kind.name} ...`), or reshape the input first",
                notes=[f"`{a.name}` is made at {a.span}", *self._call_notes()] if a.span else self._call_notes()),
                partial=g)

    def _tie(self, kind: LayerKind[Any], args: Args, inputs: list[str], arg: Any, f: Frame) -> tuple[tuple[str, str], ...]:
        """`tie=wte`: this layer's weight is the named layer's (GPT-2's output projection and its token
        embedding); both weights must have the same shape."""
        name, rec = self._layer_ref(arg, f, "`tie=`")
        if rec[0] != "layer":
            raise SpecError(Diagnostic("E403", f"`tie={name}`: `{name}` is a block's call, not a layer", arg.span,
                                       expected="a layer with a weight: `wte = embedding 50257 768`"), partial=self.g)
        other = self.g[rec[1]]
        owner = other.shares or other.id
        okind = REGISTRY[other.kind]
        mine = kind.weight(args, [self.g[i].meta.shape for i in inputs]) if inputs else None
        theirs = okind.weight(other.args, self.g.input_shapes(other))
        if mine is None or theirs is None:
            who = kind.name if mine is None else f"`{name}` ({okind.name})"
            raise SpecError(Diagnostic("E305", f"`tie={name}`: {who} has no weight to tie", arg.span,
                                       expected="`tie=` between layers with a weight matrix: dense, embedding"),
                            partial=self.g)
        if mine != theirs:
            raise SpecError(Diagnostic(
                "E305", f"`tie={name}`: this `{kind.name}`'s weight is {fmt_shape(mine)}, `{name}`'s is "
                        f"{fmt_shape(theirs)}", arg.span, expected=f"a weight of {fmt_shape(theirs)}",
                received=fmt_shape(mine),
                hint="as PyTorch stores them: nn.Linear's weight is out × in, nn.Embedding's vocab × dim; "
                     "a dense tied to `embedding V D` is `dense V` on D features",
                notes=[f"`{name}` is made at {other.span}"] if other.span else []), partial=self.g)
        return (("weight", owner),)

    def _check_register(self, b: ast.BlockDef, scope: Scope, start: int, scoped: int) -> None:
        """Every name of a block's `register` is one of its layers or child blocks."""
        names = {self.g[n].name for n in self.added[start:] if self.g[n].scope is scope}
        names |= {self.scopes[p].local for p in self.scoped[scoped:] if self.scopes[p].parent is scope}
        for st in b.body:
            for n in st.names if isinstance(st, ast.Register) else []:
                if n not in names:
                    raise SpecError(Diagnostic("E205", f"`register {n}`: block `{b.name}` has no layer `{n}`", st.span,
                                               expected="the names of its layers: " + ", ".join(sorted(names)),
                                               hint="name the layer where it is made: `norm = layernorm`"),
                                    partial=self.g)

    # -- block calls built once ------------------------------------------------------------------
    # A block's body depends only on its closure, its arguments, the shapes of the tensors it reads and
    # freezing: a call like one built before (the 35 identical bottlenecks of ResNet-152's third stage)
    # copies the nodes of the first, renamed, instead of evaluating its statements again.
    def _template_key(self, c: Closure, env: dict[str, Value], f: Frame) -> tuple[Any, Any]:
        """What a block call's nodes depend on, the same in every build of the spec (a sweep's builds share
        the templates): the block, the values of the outer names it and the blocks it calls read, its
        arguments, the shapes of the tensors it reads, and freezing; and what `templates` holds for it.
        (None, None) when a value cannot be keyed."""
        refs = []
        reads = [f.current]
        plain = []
        for p in c.block.params:
            v = env[p.name]
            if isinstance(v, TensorRef):
                node = v.scope.tensors.get(v.name) if isinstance(v.scope, Namespace) else None
                refs.append((p.name, v.name, self.g[node].meta.shape if node is not None else None,
                             self.g[node].meta.dtype if node is not None else None,
                             reads.index(node) if node in reads else len(reads)))
                reads.append(node)
            else:
                plain.append(v)
        try:
            cur = self.g[f.current].meta if f.current else None  # its shape and element type (token ids)
            key = (_closure_key(c), _hashable(plain), tuple(refs),
                   (cur.shape, cur.dtype) if cur is not None else None, f.frozen)
            return key, self.templates.get(key)  # a TypeError if a value cannot be hashed
        except (TypeError, _Unkeyed):
            return None, None

    def _sources(self, f: Frame, c: Closure, env: dict[str, Value]) -> list[str | None]:
        """The tensors a call can read from outside: the current one, then each tensor argument's, in the
        order of the block's parameters (a tensor its closure holds makes the call unkeyed: `_closure_key`)."""
        out: list[str | None] = [f.current]
        for p in c.block.params:
            v = env[p.name]
            if isinstance(v, TensorRef):
                out.append(v.scope.tensors.get(v.name) if isinstance(v.scope, Namespace) else None)
        return out

    def _record(self, start: int, scoped: int, work: int, scope: Scope, f: Frame, c: Closure, env: dict[str, Value],
                result: str | None) -> _Template | None:
        sources = self._sources(f, c, env)
        prefix = scope.id + "."
        cut = len(prefix)
        ids = self.added[start:]
        inside = set(ids)
        outside = {n: k for k, n in reversed(list(enumerate(sources))) if n is not None}
        nodes = self.g.nodes
        recorded: list[tuple[Any, ...]] = []
        for nid in ids:
            n = nodes[nid]
            if n.op == "input" or n.op == "output" or not nid.startswith(prefix) or n.shares or n.ties:
                return None  # a block with an input, an output or shared weights is built each time
            ins: list[tuple[str, Any]] = []
            for i in n.inputs:
                if i in inside:
                    ins.append(("in", i[cut:]))
                elif i in outside:
                    ins.append(("out", outside[i]))
                else:
                    return None
            sc = n.scope
            if sc is scope:
                owner = ""
            elif sc is not None and sc.id.startswith(prefix):
                owner = sc.id[cut:]
            else:
                return None
            m = n.meta
            recorded.append((nid[cut:], n.op, n.kind, n.args, n.name, n.span, n.frozen, n.fused, m.shape, m.dtype,
                             n.freeze, owner, tuple(ins)))
        scopes = []
        for sid in self.scoped[scoped:]:
            sc = self.scopes[sid]
            parent = sc.parent
            if parent is scope:
                scopes.append((sid[cut:], "", sc))
            elif parent is not None and parent.id.startswith(prefix):
                scopes.append((sid[cut:], parent.id[cut:], sc))
            else:
                return None
        res: tuple[str, Any] | None
        if result is None:
            res = None
        elif result in inside:
            res = ("in", result[cut:])
        elif result in outside:
            res = ("out", outside[result])
        else:
            return None
        return _Template(recorded, scopes, res, self.work - work)

    def _replay(self, t: _Template, scope: Scope, f: Frame, c: Closure, env: dict[str, Value], s: Any) -> str | None:
        g = self.g
        if len(g) + len(t.nodes) > self.max_nodes:
            outer = self._while_expanding()
            what, span = outer if outer else ("the network", s.span)
            raise self._too_big(f"{what} expands the network past {self.max_nodes:,} layers", span)
        self.work += t.work
        if self.work > self.max_work:
            outer = self._while_expanding()
            what, span = outer if outer else ("the spec", s.span)
            raise self._too_big(f"{what} takes more than {self.max_work:,} statements to expand", span, layers=False)
        sources = self._sources(f, c, env)
        prefix = scope.id + "."
        scopes = {"": scope}
        for rel, parent, sc in t.scopes:
            scopes[rel] = self.scopes[prefix + rel] = Scope(prefix + rel, sc.kind, sc.name, scopes[parent], sc.args,
                                                           sc.span, sc.register)
            self.scoped.append(prefix + rel)

        added = self.added
        nodes = g.nodes
        for rel, op, kind, args, name, span, frozen, fused, shape, dtype, freeze, owner, ins in t.nodes:
            nid = prefix + rel
            if len(ins) == 1:  # most nodes: no list made
                where, w = ins[0]
                inputs = (prefix + w,) if where == "in" else (sources[w],)
            else:
                inputs = tuple([prefix + w if where == "in" else sources[w] for where, w in ins])
            nodes[nid] = _node(Node, (nid, op, kind, args, inputs, name, scopes[owner], span, frozen, fused,
                                      Meta(shape, None, 0, None, None, dtype), freeze, None, ()))  # (no reuse or tie in
            # a recorded call: `_record` refuses one)
            added.append(nid)
        if t.result is None:
            return None
        where, w = t.result
        return prefix + w if where == "in" else sources[w]

    # -- limits --------------------------------------------------------------------------------
    def _check_expansion(self, what: str, span: Span | None, cost: Bounds | None) -> bool:
        """Refuse a repeat or block call whose expansion would cross the layer or the work limit, before
        building it. `cost` bounds its (layers, statements) from below, then from above (`_Estimate`): a
        refusal is never wrong. True when the upper bounds are within the limits (nothing inside can
        cross them)."""
        if cost is None:
            return False
        nodes, work, most_nodes, most_work = cost
        total = len(self.g) + nodes
        if total > self.max_nodes:
            raise self._too_big(f"{what} would expand the network to at least {_count(total)} layers", span)
        if self.work + work > self.max_work:
            raise self._too_big(f"{what} would take at least {_count(self.work + work)} statements to expand",
                                span, layers=False)
        return len(self.g) + most_nodes <= self.max_nodes and self.work + most_work <= self.max_work

    def _too_big(self, message: str, span: Span | None, layers: bool = True) -> SpecError:
        limit = (f"at most {self.max_nodes:,} layers" if layers else
                 f"at most {self.max_work:,} statements executed ({WORK_PER_NODE} per allowed layer)")
        return SpecError(Diagnostic(
            "E600", message, span, expected=limit, notes=self._call_notes(),
            hint=f"check the `repeat` counts and block calls; for a bigger network, raise the limit with "
                 f"{ENV_MAX_NODES}=N in the environment (docs/reliability.md)"), partial=self.g)

    def _while_expanding(self) -> tuple[str, Span | None] | None:
        """The outermost repeat or block call being expanded: what multiplies the rest."""
        return self.expanding[0] if self.expanding else None

    # -- helpers -------------------------------------------------------------------------------
    def _kind(self, name: str, span: Span | None, f: Frame) -> LayerKind[Any]:
        kind = REGISTRY.get(name)
        if kind is None or kind.op == "output":
            known = [*REGISTRY, *f.blocks]
            raise SpecError(Diagnostic("E200", f"unknown layer or block `{name}`", span,
                                       hint=did_you_mean(name, known) or "`archspec layers` lists the layer kinds",
                                       notes=self._call_notes()), partial=self.g)
        return kind

    def _evaluator(self, env: dict[str, Value], f: Frame | None = None) -> Evaluator:
        if f is not None and f.current is not None and ("channels" not in env or "shape" not in env):  # BUILTINS
            shape = self.g[f.current].meta.shape
            env = {"channels": shape[0], "shape": shape, **env}
        ev = Evaluator(env, f.ns if f else None)
        ev.explain = self._explain
        return ev

    def _explain(self, name: str) -> list[str]:
        """Why a name the spec binds somewhere is not defined where it is read."""
        if name in self.ended_loops:
            return [f"`{name}` is the loop variable of the `repeat` at {self.ended_loops[name]}: it exists "
                    "inside that `repeat`'s body only"]
        lets = _targets(self.source, lets=True)  # only when a diagnostic is being written
        if name in lets:
            return [f"`{name}` is bound by the `let` at {lets[name]}, which has not run in this scope "
                    "before this point (a `let` inside a block is local to each call of the block; one in a "
                    "`repeat` of 0 or an `if` not taken does not run)"]
        return []

    def _eval(self, e: ast.Expr, env: dict[str, Value], f: Frame | None = None) -> Value:
        return self._evaluator(env, f)(e)

    def _bind(self, kind: LayerKind[Any], args: list[ast.Arg], f: Frame, s: Any,
              allow_positional: bool = True) -> tuple[Args, list[tuple[str, Span | None]]]:
        """A statement's arguments validated, and the activations written after it. The same statement
        with the same values of the names it reads (`repeat 1000: conv c 3x3`) binds to the same result."""
        names = _free_names(args)
        env = f.env
        shape = self.g[f.current].meta.shape if f.current is not None and names and _reads_builtins(names) else None
        try:
            key = (id(args), allow_positional, shape, tuple([_hashable(env[n]) if n in env else _ABSENT for n in names]))
            hit = self._bound.get(key)
        except TypeError:
            key, hit = None, None
        if hit is not None:
            return hit[0]
        result = self._bind_values(kind, args, f, s, allow_positional)
        if key is not None:
            self._bound[key] = (result, args)  # (the statement's arguments kept: their id cannot be another's)
        return result

    def _bind_values(self, kind: LayerKind[Any], args: list[ast.Arg], f: Frame, s: Any,
                     allow_positional: bool) -> tuple[Args, list[tuple[str, Span | None]]]:
        ev = self._evaluator(f.env, f)
        values: dict[str, Value] = {}
        spans: dict[str, Span | None] = {}
        acts: list[tuple[str, Span | None]] = []
        pos = 0
        for a in args:
            if a.name is None and a.value.type == "name" and a.value.id not in ev.env:  # a bare word
                word = a.value.id
                if word in kind.flags:
                    values[word], spans[word] = True, a.span
                    continue
                act = REGISTRY.get(word)
                if act is not None and act.category == "activation" and kind.op == "layer" \
                        and kind.category != "activation":
                    acts.append((word, a.span))
                    continue
            if a.name is None:
                if not allow_positional or pos >= len(kind.positional):
                    names = ", ".join(kind.positional) or "none"
                    raise SpecError(Diagnostic(
                        "E204", f"`{kind.name}` takes {len(kind.positional)} positional argument"
                                f"{'s' if len(kind.positional) != 1 else ''} ({names}); this one is extra",
                        a.span, expected=_kind_signature(kind),
                        hint="write the others as `name=value`" if kind.positional else None))
                key = kind.positional[pos]
                pos += 1
            else:
                key = a.name
            if key in values:
                raise SpecError(Diagnostic("E202", f"argument `{key}` given twice", a.span))
            values[key], spans[key] = ev(a.value), a.span
        plain = {k: (v.name if isinstance(v, TensorRef) else v) for k, v in values.items()}
        cache_key = (kind.name, tuple(sorted((k, _hashable(v)) for k, v in plain.items())))
        cached = self._args_cache.get(cache_key)
        if cached is not None:
            return cached, acts
        try:
            result = kind.Args(**plain)
        except ValidationError as e:
            raise self._arg_error(kind, e, values, spans, s, dict(ev.env)) from None
        self._args_cache[cache_key] = result
        return result, acts

    def _no_args(self, kind: LayerKind[Any]) -> Args:
        """The arguments of a fused activation, interned as `_bind` interns the arguments it validates."""
        key = (kind.name, ())
        cached = self._args_cache.get(key)
        if cached is None:
            cached = self._args_cache[key] = kind.Args()
        return cached

    def _arg_error(self, kind: LayerKind[Any], e: ValidationError, values: dict[str, Value],
                   spans: dict[str, Span | None], s: Any, env: dict[str, Value]) -> SpecError:
        errors = e.errors()
        # an unknown argument explains a "missing" one (a misspelling): report it first
        err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        field_name = str(err["loc"][0]) if err["loc"] else ""
        fields = list(kind.Args.model_fields)
        if err["type"] == "extra_forbidden":
            return SpecError(Diagnostic("E201", f"`{kind.name}` has no argument `{field_name}`", spans.get(field_name),
                                        expected="one of " + ", ".join(f"`{n}`" for n in fields) if fields else "no arguments",
                                        hint=did_you_mean(field_name, fields)), partial=self.g)
        if err["type"] == "missing":
            return SpecError(Diagnostic("E203", f"`{kind.name}` needs `{field_name}`", s.span,
                                        expected=_kind_signature(kind)), partial=self.g)
        v = values.get(field_name)
        choices = self._choices(kind, field_name) if field_name in fields else []
        if isinstance(v, TensorRef) and not choices:
            return SpecError(Diagnostic("E205", f"`{v.name}` is not defined", v.span,
                                        expected=f"a value for `{field_name}` of `{kind.name}`",
                                        hint=did_you_mean(v.name, [*env, *self._scope_names(v)]),
                                        notes=self._explain(v.name)), partial=self.g)
        if len(err["loc"]) > 1 and field_name in fields and not isinstance(v, TensorRef):
            return self._item_error(kind, err, field_name, v, spans.get(field_name) or s.span, s)
        expected = err["msg"].replace("Input should be ", "")
        hint = None
        if isinstance(v, TensorRef) or err["type"] == "literal_error":
            expected = "one of " + ", ".join(choices) + (" or a number" if err["type"] != "literal_error" else "")
            hint = did_you_mean(v.name if isinstance(v, TensorRef) else str(v), choices)
        elif err["type"] == "value_error":
            expected = err["msg"].replace("Value error, ", "")
        return SpecError(Diagnostic("E202", f"invalid `{field_name}` for `{kind.name}`: {show(v)}",
                                    spans.get(field_name) or s.span, expected=expected,
                                    received=f"`{v.name}`" if isinstance(v, TensorRef) else f"{type_name(v)} ({show(v)})",
                                    hint=hint), partial=self.g)

    def _item_error(self, kind: LayerKind[Any], err: Any, field_name: str, v: Value, span: Span | None,
                    s: Any) -> SpecError:
        """An argument whose entry is wrong (`table=((0, 1), (0), ...)`: entry 1 is the number 0): the
        entry shown as written, the caret on it where the source writes it, and the argument's type."""
        path = [i for i in err["loc"][1:] if isinstance(i, int)]
        where = f"`{field_name}" + "".join(f"[{i}]" for i in path) + "`" if path else "an entry"
        wanted = {"tuple_type": "a tuple", "int_type": "an integer", "int_from_float": "an integer",
                  "int_parsing": "an integer", "float_type": "a number", "float_parsing": "a number",
                  "greater_than_equal": "not negative"}.get(err["type"])
        item = err.get("input")
        node = next((a.value for a in s.args if a.span == span), None) if span is not None else None
        for i in path:  # the entry's own span, when the source writes the tuple out
            if isinstance(node, ast.Seq) and 0 <= i < len(node.items):
                node = node.items[i]
            else:
                node = None
                break
        if node is not None and node.span is not None:
            span = node.span
        ann = kind.Args.model_fields[field_name].annotation
        hint = None
        if err["type"] == "tuple_type" and isinstance(item, int) and not isinstance(item, bool):
            hint = f"a tuple of one entry is written `({item},)`; `({item})` is the number {item}"
        got = f"{type_name(item)} ({show(item, True)})" if wanted != "not negative" else show(item, True)
        return SpecError(Diagnostic("E202", f"invalid `{field_name}` for `{kind.name}`: {where} is {got}"
                                            + (f", not {wanted}" if wanted and wanted != "not negative" else ""), span,
                                    expected=f"`{field_name}` is {describe_type(ann)}",
                                    received=f"{show(v)}" if len(show(v)) <= 80 else None,
                                    hint=hint), partial=self.g)

    def _scope_names(self, ref: TensorRef) -> list[str]:
        return list(ref.scope.tensors) if isinstance(ref.scope, Namespace) else []

    def _choices(self, kind: LayerKind[Any], field_name: str) -> list[str]:
        import typing

        ann = kind.Args.model_fields[field_name].annotation
        out: list[str] = []

        def walk(t: Any) -> None:
            if typing.get_origin(t) is typing.Literal:
                out.extend(str(a) for a in typing.get_args(t))
            for a in typing.get_args(t):
                walk(a)

        walk(ann)
        return out

    def _input_override(self, args: Args, s: ast.Layer, f: Frame) -> Args:
        name = s.target or "input"  # an unnamed input is the node `input`
        self.input_names.append(name)
        shape = self.input_overrides.get(name) or self.input_overrides.get("*")
        if shape is None:
            return args
        from archspec.kinds.core import InputArgs

        # interned: shapes are keyed by its id; token ids stay token ids (of the same vocabulary)
        tokens, vocab = getattr(args, "tokens", False), getattr(args, "vocab", None)
        key = ("input", (("shape", _hashable(tuple(shape))), ("tokens", tokens), ("vocab", vocab)))
        cached = self._args_cache.get(key)
        if cached is not None:
            return cached
        try:
            result = self._args_cache[key] = InputArgs(shape=tuple(shape), tokens=tokens, vocab=vocab)
            return result
        except ValidationError as e:  # a given shape of 5 axes, or of sizes below 1
            raise SpecError(Diagnostic("E202", f"invalid input shape {fmt_shape(tuple(shape))}", s.span,
                                       expected=e.errors()[0]["msg"].replace("Value error, ", ""),
                                       hint="give it with --input (the API's `input=`) as C, CxL, CxHxW or CxDxHxW"),
                            partial=self.g) from None

    def _tensor(self, ref: TensorRef, f: Frame) -> str:
        if ref.name == "_":
            if f.current is None:
                raise SpecError(Diagnostic("E302", "`_` (the current tensor) is not defined yet", ref.span),
                                partial=self.g)
            return f.current
        ns = ref.scope if isinstance(ref.scope, Namespace) else f.ns
        node = ns.tensors.get(ref.name)
        if node is not None:
            return node
        if ref.name in self.all_targets:
            line = self.all_targets[ref.name]
            return self._raise(Diagnostic(
                "E401", f"`{ref.name}` is read before it is defined", ref.span,
                expected="a tensor defined earlier",
                notes=[f"`{ref.name}` is defined at {line}", *self._call_notes()],
                hint="a layer can only read tensors defined before it: archspec graphs are acyclic"))
        return self._raise(Diagnostic("E400", f"no tensor named `{ref.name}`", ref.span,
                                      expected="a tensor named with `NAME = ...` earlier in this block",
                                      hint=did_you_mean(ref.name, ns.tensors) or (
                                          "the input has no name until it is given one: `x = input 3x224x224`"
                                          if ref.name == "input" else
                                          "name a tensor with `x = conv ...`; blocks see only their own names and "
                                          "arguments"),
                                      notes=self._call_notes()))

    def _raise(self, d: Diagnostic) -> Any:
        raise SpecError(d, partial=self.g)

    def _call_notes(self) -> list[str]:
        return [f"in `{inst}` ({name}), called at {span}" for name, inst, span in reversed(self.calls) if span]

    def _local(self, scope: str, base: str, explicit: bool) -> str:
        used = self.used.get(scope)
        if used is None:
            used = self.used[scope] = {}
        if explicit:
            name, k = base, 1
            while name in used:
                k += 1
                name = f"{base}_{k}"
        else:
            k = used.get("#" + base, 0)
            while True:
                k += 1
                name = base if (base == "input" and k == 1) else f"{base}{k}"
                if name not in used:
                    break
            used["#" + base] = k
        used[name] = 1
        return name

    def _add(self, kind: LayerKind[Any], args: Args, inputs: list[str], s: Any, f: Frame, target: str | None,
             fused: bool = False, freeze: tuple[str, ...] = (), shares: str | None = None,
             ties: tuple[tuple[str, str], ...] = ()) -> str:
        g = self.g
        nodes = g.nodes
        if len(nodes) >= self.max_nodes:
            outer = self._while_expanding()
            what, span = outer if outer else ("the network", s.span)
            raise self._too_big(f"{what} expands the network past {self.max_nodes:,} layers", span)
        if len(inputs) == 1:  # most layers: no lists to make but the shape rule's
            m = nodes[inputs[0]].meta
            dtypes = [m.dtype] if kind.takes != "float" or m.dtype == "int64" else None
            ins = [m.shape]
            key: tuple[Any, ...] = (kind.name, id(args), m.shape)  # args are interned by `_bind`: equal, same object
        else:
            metas = [nodes[i].meta for i in inputs]
            dtypes = [m.dtype for m in metas]
            ins = [m.shape for m in metas]
            key = (kind.name, id(args), *ins)
        # the element types are checked first: token ids fed to a conv is that, not a shape
        dtype = "float32" if dtypes is None or (kind.takes == "float" and "int64" not in dtypes) else \
            self._dtype(kind, args, inputs, dtypes, s)
        hit = self._shapes.get(key)
        if hit is not None:
            out = hit[0]
        else:
            try:
                out = kind.shape(args, ins)
            except ShapeError as e:
                received = "input " + " and ".join(fmt_shape(x) for x in ins) if ins else None
                raise SpecError(Diagnostic(e.code, e.message, s.span, expected=e.expected, received=received,
                                           hint=e.hint, notes=self._call_notes()), partial=g) from None
            if prod(out) > MAX_ELEMENTS:
                raise SpecError(Diagnostic("E600", f"`{kind.name}` would output {fmt_shape(out)}, "
                                                   f"{prod(out):,} elements per sample", s.span,
                                           expected=f"at most {MAX_ELEMENTS:,}"), partial=g)
            self._shapes[key] = (out, args)  # (the arguments kept with it: their id cannot be another's)
        scope = f.scope
        name = self._local(scope.id if scope is not None else "", target or kind.name, bool(target) and not fused)
        nid = f"{scope.id}.{name}" if scope is not None else name
        if self.sharing and kind.op != "input":
            shares = self._shared_owner(nid, kind, s.span) or shares
        nodes[nid] = _node(Node, (nid, kind.op, kind.name, args, tuple(inputs), name, scope, s.span, f.frozen, fused,
                                  Meta(out, None, 0, None, None, dtype), freeze, shares, ties))
        self.added.append(nid)
        if shares is not None:
            self._check_fit(kind, shares, nid, s.span)
        return nid

    def _dtype(self, kind: LayerKind[Any], args: Args, inputs: list[str], dtypes: list[str], s: Any) -> str:
        """The output's element type; token ids where a kind needs values (or the reverse) is E303."""
        want = {"float": "float32", "int": "int64"}.get(kind.takes)
        if kind.takes == "any" and len(set(dtypes)) > 1:
            want = "float32"
        for i, dt in zip(inputs, dtypes):
            if want is None or dt == want:
                continue
            src = self.g.nodes[i]
            where = f"`{src.name}`" + (" (the input)" if src.op == "input" else "")
            if dt == "int64":
                msg = f"`{kind.name}` needs values (floating point), but {where} gives token ids (integers)"
                hint = "look the ids up first: `embedding VOCAB DIM` turns token ids into vectors"
            else:
                msg = f"`{kind.name}` needs token ids (integers), but {where} gives values (floating point)"
                hint = "declare the input as token ids: `input 100 tokens vocab=10000`"
            raise SpecError(Diagnostic("E303", msg, s.span, expected=f"{want} input", received=f"{dt} from {where}",
                                       hint=hint, notes=self._call_notes()), partial=self.g)
        if kind.takes == "int":
            self._vocab_fits(kind, args, inputs[0], s)
        return kind.dtype(args, dtypes)

    def _vocab_fits(self, kind: LayerKind[Any], args: Args, source: str, s: Any) -> None:
        """A lookup table (`embedding`) smaller than the vocabulary of the input its ids come from is E300."""
        nodes = self.g.nodes
        node = nodes[source]
        while node.op != "input" and node.inputs:  # through the moves of axes that keep ids ids
            node = nodes[node.inputs[0]]
        vocab, table = getattr(node.args, "vocab", None), getattr(args, "vocab", None)
        if vocab is not None and table is not None and table < vocab:
            raise SpecError(Diagnostic("E300", f"`{kind.name}` holds {table:,} vectors, but `{node.name}` gives ids "
                                               f"up to {vocab - 1:,} (vocab={vocab:,})", s.span,
                                       expected=f"a table of at least {vocab:,}",
                                       hint=f"`{kind.name} {vocab} ...`, or a smaller vocab= on the input",
                                       notes=self._call_notes()), partial=self.g)


_T = TypeVar("_T")


def _per_node(fn: Callable[[Any], _T]) -> Callable[[Any], _T]:
    """A pure function of a piece of the AST (a statement, a body, a block definition: immutable once
    parsed), computed once per piece: remembered by the object's id, the object kept so that its id cannot
    become another's. A build runs the same statements over and over (`repeat`, block calls)."""
    memo: dict[int, tuple[Any, _T]] = {}

    def once(node: Any) -> _T:
        hit = memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        value = fn(node)
        if len(memo) > 100_000:
            memo.clear()
        memo[id(node)] = (node, value)
        return value

    return once


@_per_node
def _defs(stmts: list[Any]) -> list[Any]:
    """The block definitions among a body's statements."""
    return [s for s in stmts if isinstance(s, ast.BlockDef)]


_NOT_LITERAL = object()


@dataclass(frozen=True, eq=False)
class _BlockPlan:
    """What every call of a block definition needs and no call changes, worked out at its first call."""

    params: list[str]  # the parameters' names, in order
    defaults: list[tuple[ast.Param, Any]]  # each parameter with its default's value when a literal (`= 4`)
    register: tuple[str, ...]  # the names of its `register` statement
    what: str  # "the call of `b`", for the limits' diagnostics


@_per_node
def _block_plan(b: ast.BlockDef) -> _BlockPlan:
    """A block's plan."""
    defaults: list[tuple[ast.Param, Any]] = []
    for p in b.params:
        literal = _NOT_LITERAL
        if isinstance(p.default, (ast.Num, ast.Str, ast.Bool, ast.Dims)):  # its value whatever the call
            with contextlib.suppress(SpecError):  # a literal out of range: refused at each call, as any default
                literal = Evaluator({})(p.default)
        defaults.append((p, literal))
    return _BlockPlan([p.name for p in b.params], defaults,
                      tuple(n for st in b.body if isinstance(st, ast.Register) for n in st.names),
                      f"the call of `{b.name}`")


@_per_node
def _split_args(s: ast.Layer) -> tuple[ast.Arg | None, ast.Arg | None, list[ast.Arg]]:
    """A layer statement's `freeze=` and `tie=` arguments (or None) and its other arguments: one list for
    every run of the statement, so that `_bind` can key on it."""
    freeze = next((a for a in s.args if a.name == "freeze"), None)
    tie = next((a for a in s.args if a.name == "tie"), None)
    for first in (freeze, tie):
        again = next((a for a in s.args if first is not None and a is not first and a.name == first.name), None)
        if again is not None:
            raise SpecError(Diagnostic("E202", f"argument `{again.name}` given twice", again.span))
    rest = [a for a in s.args if a is not freeze and a is not tie] if freeze or tie else s.args
    return freeze, tie, rest


_ABSENT = ("absent",)  # a name the environment does not hold (a tensor's name, `relu`, `same`)
_FREE: dict[int, tuple[list[ast.Arg], tuple[str, ...]]] = {}


def _free_names(args: list[ast.Arg]) -> tuple[str, ...]:
    """The names a statement's arguments read, each once (cached by the argument list, immutable)."""
    hit = _FREE.get(id(args))
    if hit is not None and hit[0] is args:  # the list itself is kept: its id cannot be another's
        return hit[1]
    names = _names_in([a.value for a in args])
    if len(_FREE) > 100_000:
        _FREE.clear()
    _FREE[id(args)] = (args, names)
    return names


def _names_in(stack: list[Any]) -> tuple[str, ...]:
    """The names the expressions read, each once."""
    out: dict[str, None] = {}
    while stack:
        e = stack.pop()
        if isinstance(e, ast.Name):
            out[e.id] = None
        elif isinstance(e, BaseModel):
            for v in e.__dict__.values():
                if isinstance(v, BaseModel):
                    stack.append(v)
                elif isinstance(v, list):
                    stack.extend(x for x in v if isinstance(x, BaseModel))
    return tuple(out)


_BUILTINS = frozenset(BUILTINS)


@_per_node
def _cond_names(s: ast.If) -> tuple[str, ...] | None:
    """The names an `if`'s condition reads; None when it reads the current tensor's size."""
    names = _names_in([s.cond])
    return None if _reads_builtins(names) else names


def _reads_builtins(names: tuple[str, ...]) -> bool:
    """Whether names read (`_free_names`) include the current tensor's size (`channels`, `shape`)."""
    return not _BUILTINS.isdisjoint(names)


class _Unkeyed(Exception):
    """A block reads a tensor from its closure: its calls are built each time."""


_READS: dict[int, tuple[ast.BlockDef, tuple[str, ...], tuple[str, ...]]] = {}


def _block_reads(b: ast.BlockDef) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names a block's body (its parameters' defaults, nested blocks included) reads that are not its
    parameters, and the layer kinds it names (the blocks it may call); cached by the definition."""
    hit = _READS.get(id(b))
    if hit is not None and hit[0] is b:  # the definition itself is kept: its id cannot be another's
        return hit[1], hit[2]
    names: dict[str, None] = {}
    kinds: dict[str, None] = {}
    stack: list[Any] = [*b.params, *b.body]
    while stack:
        e = stack.pop()
        if isinstance(e, ast.Name):
            names[e.id] = None
        elif isinstance(e, (ast.Layer, ast.Merge)):
            kinds[e.kind] = None
        if isinstance(e, BaseModel):
            for v in e.__dict__.values():
                if isinstance(v, BaseModel):
                    stack.append(v)
                elif isinstance(v, list):
                    stack.extend(x for x in v if isinstance(x, BaseModel))
    own = {p.name for p in b.params}
    out = (tuple(n for n in names if n not in own), tuple(kinds))
    if len(_READS) > 100_000:
        _READS.clear()
    _READS[id(b)] = (b, *out)
    return out


def _unchanged(reads: tuple[tuple[dict[str, Any], str, Any], ...]) -> bool:
    """Whether each (environment, name, value) read before still reads the same object (values are never
    changed in place: the same object, the same value)."""
    return all(env.get(name, _ABSENT) is v for env, name, v in reads)


def _closure_key(c: Closure) -> int:
    """A block's definition with the values of the outer names it reads, and the same of every block it
    can call: all that its body's result depends on besides its arguments and inputs. Remembered on the
    closure with what it read (each environment, name and value object): while every one of those reads
    gives the same object again, the key is the same (values are never changed in place, a closure's
    `blocks` never after its definitions are hoisted), and a call in a repeat's body checks a handful of
    names instead of walking the blocks it calls."""
    memo = c.key
    if memo is not None and _unchanged(memo[0]):
        return memo[1]
    reads: list[tuple[dict[str, Any], str, Any]] = []
    seen: dict[int, ast.BlockDef] = {}
    full = _closure_key_of(c, seen, reads)
    # The key as a number, the same for an equal key (a template key hashes it cheaply). The entry holds
    # the definitions whose ids the key names, so that no other definition can take one of those ids;
    # numbers are never given twice (a cleared table only costs templates found again).
    hit = _TOKENS.get(full)
    if hit is None:
        if len(_TOKENS) > 100_000:
            _TOKENS.clear()
        hit = _TOKENS[full] = (next(_NEXT_TOKEN), tuple(seen.values()))
    c.key = (tuple(reads), hit[0])
    return hit[0]


_TOKENS: dict[tuple[Any, ...], tuple[int, tuple[ast.BlockDef, ...]]] = {}
_NEXT_TOKEN = itertools.count()


def _closure_key_of(c: Closure, seen: dict[int, ast.BlockDef], reads: list[tuple[dict[str, Any], str, Any]]
                    ) -> tuple[Any, ...]:
    if id(c) in seen:
        return ("cycle", id(c.block))  # a block calling itself: E401 when it is called
    seen[id(c)] = c.block
    names, kinds = _block_reads(c.block)
    values = []
    env = c.env
    for n in names:
        v = env.get(n, _ABSENT)
        if isinstance(v, TensorRef):
            raise _Unkeyed
        reads.append((env, n, v))
        values.append(v if v is _ABSENT else _hashable(v))  # absent: most names a block reads (`channels`)
    blocks = c.blocks  # (a closure's blocks are fixed once its body's definitions are hoisted: not read again)
    calls = tuple([_closure_key_of(blocks[k], seen, reads) for k in kinds if k in blocks])
    return (id(c.block), tuple(values), calls)


def _hashable(v: Value) -> Any:
    t = type(v)
    if t is int or t is str or t is bool or t is float:  # most values: first, without the checks below
        return (t.__name__, v)
    if isinstance(v, dict):
        return tuple(sorted(((_hashable(k), _hashable(x)) for k, x in v.items()), key=repr))  # keys of mixed types
    if isinstance(v, (list, tuple)):
        return tuple([_hashable(x) for x in v])
    return (type(v).__name__, v)


def describe_type(t: Any) -> str:
    """An argument's type in words: `tuple[tuple[int, ...], ...] | None` → "a tuple of tuples of integers"."""
    import types
    import typing

    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        return describe_type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin is tuple:
        inner = {describe_type(a) for a in args if a is not Ellipsis}
        return "a tuple of " + " or ".join(sorted(_plural(i) for i in inner)) if len(inner) == 1 or ... in args \
            else "a tuple"
    return {int: "an integer", float: "a number", bool: "a boolean", str: "a string"}.get(t, getattr(t, "__name__", str(t)))


def _plural(text: str) -> str:
    head, _, rest = text.removeprefix("a ").removeprefix("an ").partition(" ")
    return head + ("s" if not head.endswith("s") else "") + (" " + rest if rest else "")


def _line(span: Span | None) -> str:
    return f"line {span.line}" if span is not None else "an enclosing `repeat`"


def _signature(b: ast.BlockDef) -> str:
    return f"{b.name}(" + ", ".join(p.name + ("=…" if p.default is not None else "") for p in b.params) + ")"


def _kind_signature(kind: LayerKind[Any]) -> str:
    fields = kind.Args.model_fields
    parts = [n for n in kind.positional]
    parts += [f"{n}={show(fl.default)}" for n, fl in fields.items() if n not in kind.positional and not fl.is_required()]
    return f"{kind.name} " + " ".join(parts)


def _targets(source: Source, lets: bool = False) -> dict[str, str]:
    """Every tensor name the spec defines anywhere, with where (to explain reads before definitions); with
    `lets`, every name a `let` binds."""
    out: dict[str, str] = {}

    def walk(stmts: list[Any]) -> None:
        for s in stmts:
            t = (s.name if isinstance(s, ast.Let) else None) if lets else getattr(s, "target", None)
            if t and t not in out:
                out[t] = str(s.span) if s.span else "?"
            for attr in ("body", "orelse"):
                walk(getattr(s, attr, []) or [])
            for br in getattr(s, "branches", []) or []:
                walk(br.body)

    if source.spec.network:
        walk(source.spec.network.body)
    for b in source.blocks.values():
        walk(b.body)
    return out


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"10**{len(str(n)) - 1}"


_UNKNOWN = object()


class _GiveUp(Exception):
    pass


Bounds = tuple[int, int, int, int]  # layers and statements at least, then at most


def _add(a: Bounds, b: Bounds, extra: Bounds = (0, 0, 0, 0)) -> Bounds:
    return (min(a[0] + b[0] + extra[0], _Estimate.CAP), min(a[1] + b[1] + extra[1], _Estimate.CAP),
            min(a[2] + b[2] + extra[2], _Estimate.CAP), min(a[3] + b[3] + extra[3], _Estimate.CAP))


class _QuietEvaluator(Evaluator):
    """The estimate's evaluator: an undefined name only means "unknown", so no hint is worked out."""

    def undefined(self, ref: TensorRef) -> SpecError:
        return SpecError(Diagnostic("E205", "undefined"))


class _Estimate:
    """Bounds of the layers and of the statements a piece of spec expands to, read from the AST without
    building anything: repeat counts and block arguments are evaluated where they can be (literals,
    parameters, `let`s). For the lower bound, what cannot be known counts as little as it can (a count as
    0, a condition as the cheaper branch); for the upper bound, as much (an unknown count: no bound). The
    builder checks the lower bound before each repeat and block call, so `repeat 100000:` in `repeat
    100000:`, or blocks each calling the next twice, are refused before anything is built; what it cannot
    see is stopped as it is built (the layer and statement counters). When the upper bound is within the
    limits, nothing inside that expansion can cross them: the repeats and calls within it are not
    estimated again."""

    STEPS = 200_000  # statements visited per estimate; past it the estimate gives no verdict
    CAP = 10**40

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.steps = 0
        self.memo: dict[tuple[Any, ...], Bounds] = {}
        self.active: list[int] = []
        self.volatile: set[int] = set()

    def body(self, stmts: list[Any], env: dict[str, Value], blocks: dict[str, Closure],
             times: int = 1) -> Bounds | None:
        try:
            lo_n, lo_w, hi_n, hi_w = self.stmts(stmts, dict(env), blocks)
        except (_GiveUp, RecursionError):
            return None
        return (min(lo_n * times, self.CAP), min(lo_w * times, self.CAP), min(hi_n * times, self.CAP),
                min(hi_w * times, self.CAP))

    def value(self, e: Any, env: dict[str, Value]) -> Any:
        try:
            v = _QuietEvaluator(env)(e)
        except (SpecError, RecursionError, ArithmeticError, TypeError, ValueError):
            return _UNKNOWN
        return _UNKNOWN if isinstance(v, TensorRef) else v

    def stmts(self, stmts: list[Any], env: dict[str, Value], blocks: dict[str, Closure]) -> Bounds:
        defs = _defs(stmts)
        if defs:
            blocks = dict(blocks)
            for d in defs:
                c = blocks[d.name] = Closure(d, env, blocks)
                self.volatile.add(id(c))  # its env is the estimate's, which later `let`s change: no memo
        total = (0, 0, 0, 0)
        for s in stmts:
            self.steps += 1
            if self.steps > self.STEPS:
                raise _GiveUp
            total = _add(total, self.stmt(s, env, blocks), (0, 1, 0, 1))
        return total

    def stmt(self, s: Any, env: dict[str, Value], blocks: dict[str, Closure]) -> Bounds:
        """Bounds of (layers, statements) of one statement, from below and from above; `env` follows the
        `let`s as the builder's would, a name whose value the estimate cannot know is left out of it."""
        t = s.type
        if t == "let":
            v = self.value(s.value, env)
            if v is _UNKNOWN:
                env.pop(s.name, None)
            else:
                env[s.name] = v
            return (0, 0, 0, 0)
        if t == "output":  # an output node per tensor named (at most)
            return (0, 0, max(1, len(s.args)), 0)
        if t in ("from", "block", "register"):
            return (0, 0, 0, 0)
        if t == "frozen":
            return self.stmts(s.body, env, blocks)
        if t == "if":
            cond = self.value(s.cond, env)
            if cond is not _UNKNOWN:
                return self.stmts(s.body if cond else s.orelse, env, blocks)
            a = self.stmts(s.body, dict(env), blocks)
            b = self.stmts(s.orelse, dict(env), blocks)
            _forget(env, {*_assigned(s.body), *_assigned(s.orelse), *BUILTINS})
            return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
        _forget(env, BUILTINS)  # the statements below change the current tensor
        if t == "layer":
            c = blocks.get(s.kind)
            if c is not None:
                return self.call(s, c, env)
            n = 0 if s.kind == "_" and not s.args else 1
            words = _words(s)
            return (n, 0, n + words, 0)  # each fused activation (`conv 8 3x3 relu`) is a layer more
        if t == "merge":
            total = (1, 0, 1, 0)
            for br in s.branches:
                total = _add(total, self.stmts(br.body, env, blocks))
            _forget(env, BUILTINS)
            return total
        if t == "repeat":
            k = self.value(s.count, env)
            assigned = _assigned(s.body)
            known = not isinstance(k, bool) and isinstance(k, int) and 0 <= k <= MAX_REPEAT
            # in the body, the loop variable, the names the body assigns (read before their `let` they hold
            # another iteration's value) and the current tensor's size (another iteration's) are unknown
            inner = {n: v for n, v in env.items() if n != s.var and n not in assigned and n not in BUILTINS}
            body = self.stmts(s.body, inner, blocks) if not known or k else (0, 0, 0, 0)
            _forget(env, assigned)
            if not known:  # unknown, or refused by the repeat itself: at least nothing, at most anything
                return (0, 0, self.CAP, self.CAP)
            return tuple(min(v * k, self.CAP) for v in body)
        return (0, 0, 0, 0)

    def call(self, s: ast.Layer, c: Closure, env: dict[str, Value]) -> Bounds:
        b = c.block
        if id(b) in self.active or len(self.active) >= MAX_CALL_DEPTH:
            return (0, 0, self.CAP, self.CAP)  # the builder refuses a block calling itself, and calls nested too deeply
        params = [p.name for p in b.params]
        given: dict[str, Any] = {}
        for i, a in enumerate(s.args):
            name = a.name if a.name is not None else (params[i] if i < len(params) else None)
            if name is not None:
                given[name] = self.value(a.value, env)
        inner = dict(c.env)
        for p in b.params:
            v = given.get(p.name, _UNKNOWN)
            if p.name not in given and p.default is not None:
                v = self.value(p.default, inner)
            if v is _UNKNOWN:
                inner.pop(p.name, None)
            else:
                inner[p.name] = v
        key: tuple[Any, ...] | None = None
        if id(c) not in self.volatile:
            try:
                key = (id(c), tuple(sorted((k, _hashable(v)) for k, v in inner.items() if k in params)))
                hash(key)
            except TypeError:
                key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        self.active.append(id(b))
        try:
            cost = self.stmts(b.body, inner, c.blocks)
        finally:
            self.active.pop()
        if key is not None:
            self.memo[key] = cost
        return cost


@_per_node
def _assigned(stmts: list[Any]) -> frozenset[str]:
    """The names a body's `let`s assign, in nested statements too (not in block definitions)."""
    out: set[str] = set()
    for s in stmts:
        if isinstance(s, ast.Let):
            out.add(s.name)
        elif not isinstance(s, ast.BlockDef):
            for attr in ("body", "orelse"):
                body = getattr(s, attr, None)
                if body:
                    out |= _assigned(body)
            for br in getattr(s, "branches", None) or []:
                out |= _assigned(br.body)
    return frozenset(out)


@_per_node
def _words(s: ast.Layer) -> int:
    """The bare words among a layer statement's arguments (each may be a fused activation: a layer more)."""
    return sum(1 for a in s.args if a.name is None and a.value.type == "name")


def _forget(env: dict[str, Value], names: Any) -> None:
    for n in names:
        env.pop(n, None)


def build_graph(source: Source, params: dict[str, Value] | None = None,
                inputs: dict[str, Shape] | None = None, max_nodes: int | None = None,
                cache: BuildCache | None = None) -> Graph:
    """Elaborate a loaded spec into the graph IR, with every node's output shape. At most `max_nodes`
    layers (default: ARCHSPEC_MAX_NODES from the environment, else MAX_NODES) and ten statements executed
    per allowed layer; a spec that would expand past either is one E600 naming the repeat or call. A `cache`
    shared between builds of the same spec skips validating and shaping layers seen before."""
    return Builder(source, params, inputs, max_nodes, cache).build()
