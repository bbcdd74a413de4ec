"""AST → IR: the builder elaborates blocks, repeats, branches, conditions and named tensors into the typed
graph (`archspec.ir.Graph`), inferring every node's shape as it goes (elaborate.py)."""

from archspec.build.elaborate import BuildCache, build_graph

__all__ = ["BuildCache", "build_graph"]
