"""The IR: typed nodes of a network's graph (`graph.py`) and the values passes attach to them (`types.py`)."""

from archspec.ir.graph import OPS, Graph, Meta, Node, Op, Output, Scope, scope_chain
from archspec.ir.types import GLOBAL, RF, Cost, Field, Num, Receptive, ReceptiveField, Shape, fmt_shape, prod

__all__ = ["GLOBAL", "OPS", "RF", "Cost", "Field", "Graph", "Meta", "Node", "Num", "Op", "Output", "Receptive",
           "ReceptiveField", "Scope", "Shape", "fmt_shape", "prod", "scope_chain"]
