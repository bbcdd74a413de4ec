"""The graph IR: typed nodes in build (topological) order, in the manner of torch.fx's `Graph`.

A node is a frozen record: a closed set of ops (`input`, `layer`, `merge`, `output`), the layer kind and
its validated arguments, the ids of the nodes it reads (in order: the order matters for `concat`), its
scope (a block instance or a branch, as an object), its span in the source, and two marks (`frozen`,
`fused`). What passes compute goes into the node's `meta` (a `Meta`: shape, cost, peer costs, receptive
field), the only mutable part. Ids are dotted paths in the block hierarchy (`stage3.bottleneck2.conv1`):
unique names, never parsed for meaning; a node's scope, local name and op are fields.

    g = archspec.analyze("resnet", depth=18).ir
    print(g)                      # one line per node, as torch.fx prints a graph
    g["stage1.basic1.residual.conv1"].meta.shape
    g.to_networkx()               # an nx.DiGraph with the same nodes and edges (data: {"node": Node})

`Graph.lint()` checks the invariants (the tests run it after every pass).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from archspec.diagnostics import Diagnostic, Span
from archspec.ir.types import Cost, ReceptiveField, Shape, fmt_shape

if TYPE_CHECKING:
    import networkx as nx

Op = Literal["input", "layer", "merge", "output"]
OPS: tuple[Op, ...] = ("input", "layer", "merge", "output")
DTYPES = ("float32", "int64")  # a tensor's element type: values, or token ids (integers)


def scope_chain(scope_id: str) -> list[str]:
    """`a.b.c` → [`a`, `a.b`, `a.b.c`]: the ids of a scope and of the scopes around it, outermost first."""
    if not scope_id:
        return []
    parts = scope_id.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass(eq=False, slots=True)
class Scope:
    """A block instance (`stage1` = stage(64, 2)) or a branch of a merge (`stage1.basic1.residual`)."""

    id: str  # the dotted path of the scope; its nodes' ids start with it
    kind: Literal["block", "branch"]
    name: str  # the block's name (`stage`), or the branch's
    parent: Scope | None = None
    args: dict[str, Any] = field(default_factory=dict)  # a block's arguments, as the call resolved them
    span: Span | None = None
    register: tuple[str, ...] = ()  # a block's `register` statement: the layers its module registers first
    shares: str | None = None  # `reuse enc`: the id of the block instance whose weights this one applies again

    @property
    def local(self) -> str:
        """The scope's own name in its parent (`basic1`)."""
        return self.id.rpartition(".")[2]

    @property
    def chain(self) -> list[Scope]:
        """The scopes from the outermost down to this one."""
        out: list[Scope] = []
        s: Scope | None = self
        while s is not None:
            out.append(s)
            s = s.parent
        return out[::-1]

    @property
    def label(self) -> str:
        """`stage(64, 2)` for a block instance, the name for a branch."""
        if self.kind == "branch":
            return self.name
        from archspec.lang.expr import show

        return f"{self.name}(" + ", ".join(show(v) for v in self.args.values()) + ")"

    def __repr__(self) -> str:
        return f"<Scope {self.id}: {self.label}>"


@dataclass(slots=True)
class Meta:
    """What passes know of a node. The builder infers `shape`; the costs pass fills `cost`,
    `activations` and `peer_macs`; the receptive-field pass `rf`."""

    shape: Shape
    cost: Cost | None = None
    activations: int = 0  # elements of new activation memory per sample (0 for views: flatten, dropout)
    peer_macs: dict[str, int] | None = None  # MACs per sample as each convention counts them
    rf: ReceptiveField | None = None  # None until the pass runs; "global" once every input pixel is seen
    dtype: str = "float32"  # the element type: "float32", or "int64" for token ids (`input 100 tokens`)


class Node(NamedTuple):
    """A node: a frozen, typed record (a named tuple: cheap to make by the hundred thousand)."""

    id: str
    op: Op
    kind: str  # a layer kind's canonical name (`archspec.kinds.KINDS`)
    args: Any  # the kind's validated arguments (a frozen pydantic model)
    inputs: tuple[str, ...]  # ids of the nodes read, in order
    name: str  # the local name in its scope (`conv1`); an output node's is the output's name
    scope: Scope | None  # None at the top level
    span: Span | None
    frozen: bool  # its parameters are not trained
    fused: bool  # an activation written as a shorthand (`conv 64 3x3 relu`): shown with its producer
    meta: Meta  # what passes know of it: the one mutable part
    freeze: tuple[str, ...] = ()  # parameters of the layer not trained (`dense 10 freeze=bias`): "bias", "weight"
    shares: str | None = None  # `reuse fc`: the id of the node that owns the weights this use applies again
    ties: tuple[tuple[str, str], ...] = ()  # `tie=wte`: (own parameter, owner node id): ("weight", "wte")

    @property
    def scope_id(self) -> str:
        return self.scope.id if self.scope is not None else ""

    def __repr__(self) -> str:
        return f"<Node {self.id}: {self.op} {self.kind}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)


@dataclass(frozen=True, slots=True)
class Output:
    name: str  # the output's name (`out`, `aux1`)
    node: str  # the id of its output node
    source: str  # the id of the node whose tensor it returns
    weight: float | None = None  # loss weight (auxiliary heads)


class Graph:
    """A network's IR: nodes in build order (every node after the nodes it reads), its scopes, inputs
    and outputs, the network's resolved parameters and the builder's warnings."""

    def __init__(self, name: str, source: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.source = source
        self.params: dict[str, Any] = dict(params or {})
        self.nodes: dict[str, Node] = {}
        self.scopes: dict[str, Scope] = {}
        self.outputs: list[Output] = []
        self.warnings: list[Diagnostic] = []
        self._users: dict[str, list[str]] | None = None

    # -- building -----------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        self._users = None
        return node

    def replace(self, node_id: str, **changes: Any) -> Node:
        """A node with some fields changed (its `meta` kept): nodes are frozen records."""
        new = self.nodes[node_id]._replace(**changes)
        self.nodes[node_id] = new
        return new

    # -- reading ------------------------------------------------------------------------------
    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def inputs(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.op == "input"]

    def users(self, node_id: str) -> list[str]:
        """The nodes that read `node_id`'s tensor, in order, each once."""
        if self._users is None or len(self._users) != len(self.nodes):  # nodes added since: count again
            users: dict[str, list[str]] = {n: [] for n in self.nodes}
            for n in self.nodes.values():
                for i in dict.fromkeys(n.inputs):
                    users[i].append(n.id)
            self._users = users
        return self._users[node_id]

    def shape(self, node_id: str) -> Shape:
        return self.nodes[node_id].meta.shape

    def input_shapes(self, node: Node) -> list[Shape]:
        return [self.nodes[i].meta.shape for i in node.inputs]

    def to_networkx(self) -> nx.DiGraph:
        """The graph as networkx sees it: the same node ids and edges, each node's data `{"node": Node}`;
        graph attributes name, source, params, inputs, outputs, scopes, and `ir`, this graph."""
        import networkx as nx

        g = nx.DiGraph(name=self.name, source=self.source, params=dict(self.params), inputs=self.inputs,
                       outputs=list(self.outputs), scopes=dict(self.scopes), ir=self)
        g.add_nodes_from((n.id, {"node": n}) for n in self.nodes.values())
        g.add_edges_from((i, n.id) for n in self.nodes.values() for i in dict.fromkeys(n.inputs))
        return g

    def __str__(self) -> str:
        lines = [f"graph {self.name}:"]
        for n in self.nodes.values():
            ins = ", ".join(n.inputs)
            marks = "".join(f" [{m}]" for m, on in (("frozen", n.frozen), ("fused", n.fused)) if on)
            shape = fmt_shape(n.meta.shape) if n.meta.shape else "?"
            lines.append(f"    {n.id} = {n.op} {n.kind}({ins}) -> {shape}{marks}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.nodes)} nodes>"

    # -- invariants -----------------------------------------------------------------------------
    def lint(self, kinds: Mapping[str, Any] | None = None) -> None:
        """Check the IR's invariants, as torch.fx's `Graph.lint`; raise `AssertionError` at the first
        broken one. With the kind registry, also that each node's kind exists, its op is the kind's and
        its arguments are the kind's."""
        seen: set[str] = set()
        passes = {"cost": False, "rf": False}
        first = next(iter(self.nodes.values()), None)
        if first is not None:
            passes = {"cost": first.meta.cost is not None, "rf": first.meta.rf is not None}
        for key, n in self.nodes.items():
            where = f"node {key!r}"
            assert n.id == key, f"{where}: its id is {n.id!r}"
            assert n.op in OPS, f"{where}: unknown op {n.op!r}"
            assert isinstance(n.inputs, tuple), f"{where}: inputs are not a tuple"
            for i in n.inputs:
                assert i in seen, f"{where}: reads {i!r}, which is not an earlier node"
            if n.op == "input":
                assert not n.inputs, f"{where}: an input reads other nodes"
            elif n.op == "output":
                assert len(n.inputs) == 1, f"{where}: an output reads {len(n.inputs)} nodes"
            else:
                assert n.inputs, f"{where}: a {n.op} reads nothing"
            if n.scope is not None:
                assert self.scopes.get(n.scope.id) is n.scope, f"{where}: its scope is not the graph's"
                assert key.startswith(n.scope.id + "."), f"{where}: not inside its scope {n.scope.id!r}"
                assert key[len(n.scope.id) + 1:] == n.name, f"{where}: its local name is {n.name!r}"
            elif n.op != "output":
                assert key == n.name, f"{where}: a top-level node named {n.name!r}"
            if n.fused:
                assert n.op == "layer" and len(n.inputs) == 1, f"{where}: a fused node is a layer of one input"
            if n.shares is not None:  # the owner of the weights is an earlier layer of the same kind, itself an owner
                owner = self.nodes.get(n.shares)
                assert n.shares in seen and owner is not None and owner.kind == n.kind and owner.shares is None, \
                    f"{where}: shares the weights of {n.shares!r}, which is not an earlier owner of its kind"
            for _, owner_id in n.ties:
                assert owner_id in seen, f"{where}: tied to {owner_id!r}, which is not an earlier node"
            shape = n.meta.shape
            assert isinstance(shape, tuple) and shape and all(isinstance(s, int) and s >= 1 for s in shape), \
                f"{where}: shape {shape!r}"
            assert (n.meta.cost is not None) == passes["cost"], f"{where}: costs ran on some nodes only"
            assert (n.meta.rf is not None) == passes["rf"], f"{where}: the receptive field ran on some nodes only"
            assert n.meta.dtype in DTYPES, f"{where}: dtype {n.meta.dtype!r}"
            if n.op == "output":
                assert shape == self.nodes[n.inputs[0]].meta.shape, f"{where}: shape differs from its source"
                assert n.meta.dtype == self.nodes[n.inputs[0]].meta.dtype, f"{where}: dtype differs from its source"
            if kinds is not None:
                kind = kinds.get(n.kind)
                assert kind is not None, f"{where}: unknown kind {n.kind!r}"
                assert kind.op == n.op, f"{where}: op {n.op!r} but `{n.kind}` is a {kind.op}"
                assert isinstance(n.args, kind.Args), f"{where}: arguments of another kind"
            seen.add(key)
        for sid, s in self.scopes.items():
            assert s.id == sid, f"scope {sid!r}: its id is {s.id!r}"
            if s.parent is not None:
                assert self.scopes.get(s.parent.id) is s.parent and sid.startswith(s.parent.id + "."), \
                    f"scope {sid!r}: its parent {s.parent.id!r} is not the graph's"
        names: set[str] = set()
        for o in self.outputs:
            node = self.nodes.get(o.node)
            assert node is not None and node.op == "output", f"output {o.name!r}: no output node {o.node!r}"
            assert node.inputs == (o.source,), f"output {o.name!r}: its node reads {node.inputs}, not {o.source!r}"
            assert o.name not in names, f"two outputs named {o.name!r}"
            names.add(o.name)
        assert sum(1 for n in self.nodes.values() if n.op == "output") == len(self.outputs), \
            "output nodes and outputs differ"
