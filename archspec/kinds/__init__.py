"""The layer registry: every layer kind, defined once. Importing this package registers them all."""

from archspec.kinds import activation, attention, conv, core, merge, norm, pool, sequence, tensor
from archspec.kinds.base import KINDS, REGISTRY, Cost, LayerKind, ShapeError

# isort: split
# the classic networks' kinds (LeNet-5 1998, ...), registered (and listed) after the others
from archspec.kinds import classic

__all__ = ["KINDS", "REGISTRY", "Cost", "LayerKind", "ShapeError", "activation", "attention", "classic", "conv", "core", "merge", "norm", "pool", "sequence", "tensor"]
