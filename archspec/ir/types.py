"""The value types of the IR's metadata: shapes, costs, receptive-field steps and fields.

Kinds compute them (a shape rule returns a `Shape`, a cost rule a `Cost`, a receptive-field rule `RF`
steps); passes store them on the nodes (`node.meta`). Plain, immutable where they can be, and free of
any archspec import: everything else builds on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, NamedTuple

Shape = tuple[int, ...]  # one sample's tensor shape, channels first, without the batch
Num = int | Fraction  # exact: a Fraction only where a field's geometry is fractional (upsampling)


@dataclass(slots=True)
class Cost:
    """What one layer costs per sample (conventions: docs/conventions.md)."""

    params: int = 0  # trainable unless the layer is frozen
    fixed: int = 0  # non-trainable: by nature (RBF units) or frozen
    buffers: int = 0  # state that is not a parameter (batch norm's running statistics)
    macs: int = 0  # multiply-accumulates of the weights, bias excluded
    flops: int = 0  # 2 × MACs plus the kind's elementwise work
    connections: int = 0  # LeCun's count: per output unit, the inputs it reads plus one for its bias


@dataclass(frozen=True, slots=True)
class RF:
    """One spatial axis of a layer's receptive-field step: kernel (dilated), stride, left padding."""

    kernel: int
    stride: int | Fraction  # a Fraction below 1 for upsampling
    pad: int


GLOBAL: Literal["global"] = "global"  # every output unit sees the whole input
Receptive = list[RF] | Literal["global"] | None  # a kind's step; None: elementwise, the field passes through


class Field(NamedTuple):
    """A receptive field along one input axis: `size` input pixels seen by one unit, `stride` pixels
    between neighbouring units (the effective stride), `start` the centre of the first unit's field."""

    size: int
    stride: Num
    start: Num


ReceptiveField = tuple[Field, ...] | Literal["global"]  # per spatial axis of the network's input


def prod(xs: tuple[int, ...] | list[int]) -> int:
    return math.prod(xs)


def fmt_shape(shape: Shape | tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)
