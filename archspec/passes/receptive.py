"""Pass: receptive field of every node (`node.meta.rf`), per spatial axis of the network's input.

For each axis: `size` (input pixels one output unit sees), `stride` (input pixels between neighbouring
output units, the effective stride or "jump") and `start` (the centre of the first unit's field, in
input pixels, 0-based). The recurrence, from the input outward, for a step of kernel k, stride s and
left padding p:  size += (k − 1)·jump;  start += ((k − 1)/2 − p)·jump;  jump *= s.
Where paths merge, each axis takes the largest field over the paths. A dense layer or global pooling
makes the field global (`"global"`); a gate that multiplies a map by a channel vector computed from global
pooling (squeeze-and-excitation) keeps the map's field: its global context is not a wider field (else every
layer after the first gate would count as seeing the whole input).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archspec.ir import GLOBAL, RF, Field, Graph, Num
from archspec.kinds import KINDS
from archspec.kinds.base import LayerKind

_UNIT = Field(1, 1, 0)


def run(g: Graph, steps: dict[tuple[object, ...], Any] | None = None) -> None:
    """Fill every node's `meta.rf`. `steps` (kept between runs by a sweep) caches each kind's step by its
    arguments' identity and its input shapes."""
    steps = {} if steps is None else steps
    nodes = g.nodes
    through = _Through()
    for n in nodes.values():
        meta = n.meta
        if n.op == "input":
            meta.rf = (_UNIT,) * (len(meta.shape) - 1)
            continue
        inputs = n.inputs
        widest: Any
        if len(inputs) == 1:  # most nodes: one input, its field the one to step from (no widest to find)
            src = nodes[inputs[0]].meta
            widest = src.rf
            if widest == GLOBAL:
                meta.rf = GLOBAL
                continue
            if through[n.kind]:
                meta.rf = widest
                continue
            key: tuple[object, ...] = (n.kind, id(n.args), src.shape)
        else:
            ins = [nodes[i].meta for i in inputs]
            fields = [m.rf for m in ins]
            if any(f == GLOBAL for f in fields):
                # a gate (squeeze-and-excitation: a channel vector broadcast over the map) scales the map's
                # units without widening where they look: the field is the map's
                rank = len(meta.shape)
                maps = [m for m in ins if len(m.shape) == rank]
                if maps and len(maps) < len(ins):
                    ins = maps
                    fields = [m.rf for m in ins]
                if any(f == GLOBAL for f in fields):
                    meta.rf = GLOBAL
                    continue
            widest = fields[0] if len(fields) == 1 else _widest(fields)  # type: ignore[arg-type]
            if through[n.kind]:
                meta.rf = widest
                continue
            key = (n.kind, id(n.args), *[m.shape for m in ins])
        entry = steps.get(key)
        if entry is None:  # (the arguments kept with the step: their id, in the key, cannot become another's)
            entry = steps[key] = (KINDS[n.kind].receptive(n.args, list(key[2:])), n.args)  # type: ignore[arg-type]
        step = entry[0]
        if step == GLOBAL:
            meta.rf = GLOBAL
        elif step is None or not widest:
            meta.rf = widest
        else:
            meta.rf = _steps(widest, step)


class _Through(dict[str, bool]):
    """Whether a kind passes the field through whatever its arguments: it keeps the default rule (no step),
    as norms, activations and additions do. Their nodes need no step looked up: about half of a network's."""

    def __missing__(self, kind: str) -> bool:
        value = self[kind] = type(KINDS[kind]).receptive is LayerKind.receptive
        return value


def _steps(widest: tuple[Field, ...], step: list[RF]) -> tuple[Field, ...]:
    """The field after a layer's step, axis by axis."""
    out = []
    for f, s in zip(widest, step):
        k, st, p = s.kernel, s.stride, s.pad
        if k == 1 and st == 1 and p == 0:
            out.append(f)
            continue
        fs, start = f.stride, f.start
        if type(fs) is int and type(st) is int and type(start) is int:  # whole numbers: the common case, inline
            whole = (k - 1 - 2 * p) * fs
            if whole % 2 == 0:
                out.append(_field(Field, (f.size + (k - 1) * fs, fs * st, start + whole // 2)))
                continue
        out.append(_step(f, s))
    return tuple(out)


def _step(f: Field, s: RF) -> Field:
    k, st, p = s.kernel, s.stride, s.pad
    if k == 1 and st == 1 and p == 0:
        return f
    fs, start = f.stride, f.start
    if type(fs) is int and type(st) is int and type(start) is int:  # whole numbers: the common case, fast
        whole = (k - 1 - 2 * p) * fs
        if whole % 2 == 0:
            return _field(Field, (f.size + (k - 1) * fs, fs * st, start + whole // 2))
    stride = f.stride * s.stride
    shift = (s.kernel - 1 - 2 * s.pad) * f.stride  # twice the move of the centre
    half = shift // 2 if isinstance(shift, int) and shift % 2 == 0 else Fraction(shift) / 2
    return Field(f.size + (s.kernel - 1) * _ceil(f.stride), _exact(stride), _exact(f.start + half))


_field = tuple.__new__  # a Field made without its constructor's keyword handling: this is the hot path


def _exact(x: Num) -> Num:
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def _ceil(x: Num) -> int:
    return x if isinstance(x, int) else -(-x.numerator // x.denominator)


def _widest(fields: list[tuple[Field, ...]]) -> tuple[Field, ...]:
    if not fields:
        return ()
    if len(fields) == 2 and len(fields[0]) == len(fields[1]):  # two paths (a residual addition): most merges,
        # compared inline; the first of equal fields wins, as with `max`
        return tuple([a if (a.size, a.stride) >= (b.size, b.stride) else b for a, b in zip(*fields)])
    rank = max(len(f) for f in fields)
    out = []
    for axis in range(rank):
        cands = [f[axis] for f in fields if len(f) > axis]
        out.append(max(cands, key=lambda x: (x.size, x.stride)))
    return tuple(out)
