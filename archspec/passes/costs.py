"""Pass: parameters, buffers, MACs, FLOPs, connections and memory of every node (`node.meta.cost`,
`.activations`, `.peer_macs`).

Each kind's `cost` rule gives the figures (conventions in `archspec.kinds.base`); this pass applies
freezing (a frozen layer's parameters count as non-trainable) and the per-peer MAC counts (the table of
`archspec.kinds.conventions`), which do not depend on freezing.
"""

from __future__ import annotations

from typing import Any

from archspec.ir import Cost, Graph, prod
from archspec.kinds import KINDS
from archspec.kinds.base import CONVENTIONS
from archspec.kinds.conventions import all_peer_macs

CostCache = dict[tuple[Any, ...], tuple[Cost, int, dict[str, int], Any]]
_FLAGGED = ("frozen, freezing or shared",)  # (`run`'s keys)


def run(g: Graph, conventions: tuple[str, ...] = CONVENTIONS, cache: CostCache | None = None) -> None:
    """Fill every node's costs. `cache` (kept between runs by a sweep) maps a node's kind, arguments (by
    identity: the builder interns them), freezing and shapes to its figures."""
    cache = {} if cache is None or conventions != CONVENTIONS else cache  # (the key holds no conventions)
    nodes = g.nodes
    for n in nodes.values():
        meta = n.meta
        inputs = n.inputs
        # the key: the kind, the arguments, the output's and inputs' shapes; a node frozen, freezing a
        # parameter or sharing weights (a few, if any) has the flags before them, behind a marker that
        # no kind's name is
        if n.frozen or n.freeze or n.shares is not None or n.ties:
            key: tuple[Any, ...] = (_FLAGGED, n.frozen, n.freeze, n.shares is not None, n.ties, n.kind, id(n.args),
                                    meta.shape, *[nodes[i].meta.shape for i in inputs])
        elif len(inputs) == 1:  # most nodes
            key = (n.kind, id(n.args), meta.shape, nodes[inputs[0]].meta.shape)
        else:
            key = (n.kind, id(n.args), meta.shape, *[nodes[i].meta.shape for i in inputs])
        hit = cache.get(key)
        if hit is None:
            ins = list(key[8:] if key[0] is _FLAGGED else key[3:])  # the inputs' shapes
            kind = KINDS[n.kind]
            out = meta.shape
            c: Cost = kind.cost(n.args, ins, out)
            # the peers count a frozen layer's work as any other (torchinfo reads every parameter tensor,
            # `requires_grad` or not): their rules see the layer's own cost, before freezing
            peers = all_peer_macs(kind, conventions, n.args, ins, out, c)
            if n.frozen:
                c = Cost(params=0, fixed=c.params + c.fixed, buffers=c.buffers, macs=c.macs, flops=c.flops,
                         connections=c.connections)
            elif n.freeze:  # `freeze=bias`: the bias is what the layer has more than without one
                bias = c.params - kind.cost(n.args.model_copy(update={"bias": False}), ins, out).params
                off = (bias if "bias" in n.freeze else 0) + (c.params - bias if "weight" in n.freeze else 0)
                c = Cost(params=c.params - off, fixed=c.fixed + off, buffers=c.buffers, macs=c.macs, flops=c.flops,
                         connections=c.connections)
            if n.shares is not None:  # `reuse`: the weights are counted once, at their owner; the work at every use
                c = Cost(params=0, fixed=0, buffers=0, macs=c.macs, flops=c.flops, connections=c.connections)
            elif n.ties:  # `tie=wte`: the tied weight is the owner's, counted there
                tied = prod(kind.weight(n.args, ins) or ())
                if n.frozen or "weight" in n.freeze:
                    c = Cost(params=c.params, fixed=c.fixed - tied, buffers=c.buffers, macs=c.macs, flops=c.flops,
                             connections=c.connections)
                else:
                    c = Cost(params=c.params - tied, fixed=c.fixed, buffers=c.buffers, macs=c.macs, flops=c.flops,
                             connections=c.connections)
            hit = cache[key] = (c, 0 if kind.view else prod(out), peers, n.args)  # (the arguments kept: their
            # id, in the key, cannot become another's while the entry lives)
        meta.cost, meta.activations, meta.peer_macs, _ = hit


BYTES_PER_ELEMENT = 4  # float32


def torchinfo_memory(g: Graph, batch: int = 1) -> dict[str, int]:
    """torchinfo 1.8's memory estimate of the compiled network, in bytes (float32), from the graph:

    input_bytes             the inputs ("Input size")
    forward_backward_bytes  2 × the outputs of the layers that own parameters, frozen or not: one for the
                            output, one for its gradient ("Forward/backward pass size"); the outputs of
                            layers without parameters (activations, pooling, merges) are not counted
    params_bytes            every parameter, trainable or not; buffers are not counted ("Params size")
    total_bytes             their sum ("Estimated Total Size")

    Run the cost pass first.
    """
    inputs = outputs = params = 0
    for n in g:
        meta = n.meta
        if n.op == "input":
            inputs += prod(meta.shape)
            continue
        c = meta.cost
        assert c is not None, "run the cost pass first"
        owned = c.params + c.fixed
        if owned:
            outputs += 2 * prod(meta.shape)
            params += owned
    b = BYTES_PER_ELEMENT
    out = {"input_bytes": inputs * batch * b, "forward_backward_bytes": outputs * batch * b,
           "params_bytes": params * b}
    out["total_bytes"] = sum(out.values())
    return out
