"""Helpers for the zoo tests: figures of a block instance (all the rows in its scope)."""

from __future__ import annotations

from archspec.report.analysis import Analysis, Row


def rows_in(a: Analysis, scope: str) -> list[Row]:
    """The rows of a block instance or branch, nested ones included, in build order."""
    return [r for r in a.rows if r.block == scope or r.block.startswith(scope + ".")]


def params_in(a: Analysis, scope: str) -> int:
    return sum(r.params for r in rows_in(a, scope))


def output_of(a: Analysis, scope: str) -> tuple[int, ...]:
    """The output shape of a block instance: the shape of its last row."""
    rows = rows_in(a, scope)
    assert rows, f"no rows in scope {scope!r}"
    return rows[-1].output_shape


def input_of(a: Analysis, node: str) -> tuple[int, ...]:
    g = a.ir
    return g[g[node].inputs[0]].meta.shape
