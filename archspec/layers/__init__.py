"""The layer registry: every layer kind, defined once. Importing this package registers them all."""

from archspec.layers import activation, conv, core, merge, norm, pool
from archspec.layers.base import KINDS, REGISTRY, Cost, LayerKind, ShapeError

__all__ = ["KINDS", "REGISTRY", "Cost", "LayerKind", "ShapeError", "activation", "conv", "core", "merge", "norm", "pool"]
