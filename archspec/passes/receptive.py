"""Pass: receptive field of every node (`meta["rf"]`), per spatial axis of the network's input.

For each axis: `size` (input pixels one output unit sees), `stride` (input pixels between neighbouring
output units, the effective stride or "jump") and `start` (the centre of the first unit's field, in
input pixels, 0-based). The recurrence, from the input outward, for a step of kernel k, stride s and
left padding p:  size += (k − 1)·jump;  start += ((k − 1)/2 − p)·jump;  jump *= s.
Where paths merge, each axis takes the largest field over the paths. A dense layer or global pooling
makes the field global (`None`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import networkx as nx

from archspec.layers import KINDS
from archspec.layers.base import GLOBAL


@dataclass(frozen=True, slots=True)
class Field:
    size: int
    stride: Fraction
    start: Fraction


RFValue = tuple[Field, ...] | None  # None: global (sees the whole input)


def run(g: nx.DiGraph) -> None:
    for _, d in g.nodes(data=True):
        meta = d["meta"]
        if d["role"] == "input":
            meta["rf"] = tuple(Field(1, Fraction(1), Fraction(0)) for _ in meta["shape"][1:])
            continue
        ins = [g.nodes[i]["meta"] for i in d["inputs"]]
        fields = [m["rf"] for m in ins]
        if any(f is None for f in fields):
            meta["rf"] = None
            continue
        widest = _widest([f for f in fields if f is not None])
        step = KINDS[d["kind"]].receptive(d["args"], [m["shape"] for m in ins])
        if step == GLOBAL:
            meta["rf"] = None
        elif step is None or not widest:
            meta["rf"] = widest
        else:
            meta["rf"] = tuple(
                Field(f.size + (s.kernel - 1) * _ceil(f.stride), f.stride * s.stride,
                      f.start + (Fraction(s.kernel - 1, 2) - s.pad) * f.stride)
                for f, s in zip(widest, step))


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def _widest(fields: list[tuple[Field, ...]]) -> tuple[Field, ...]:
    if not fields:
        return ()
    rank = max(len(f) for f in fields)
    out = []
    for axis in range(rank):
        cands = [f[axis] for f in fields if len(f) > axis]
        out.append(max(cands, key=lambda x: (x.size, x.stride)))
    return tuple(out)
