"""The library's face: what `import archspec` offers, gathered from the packages of the pipeline.

Analysis is imported at once (it needs neither torch nor graphviz); drawing, compiling, checking and
sweeping on first use, so that `import archspec` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import Graph
from archspec.pipeline import Spec, load
from archspec.report.analysis import Analysis, Row, Totals, analyze
from archspec.version import __version__

LAZY = {
    "render": "archspec.draw.figures",  # a graphviz.Digraph of a spec
    "view": "archspec.draw.html",  # the interactive HTML view of a spec (a notebook shows it)
    "compile": "archspec.pytorch.module",  # a spec as a torch.nn.Module
    "generate_code": "archspec.pytorch.module",  # the standalone Python file of a compiled spec
    "CompileError": "archspec.pytorch.module",
    "port_weights": "archspec.pytorch.weights",  # load a hand-written model's weights by position
    "WeightMismatchError": "archspec.pytorch.weights",
    "check": "archspec.pytorch.check",  # compare the compiled module with the analysis
    "sweep": "archspec.report.sweep",  # a grid of parameters and inputs, one row of figures each
}

if TYPE_CHECKING:
    from archspec.draw.figures import render as render
    from archspec.draw.html import view as view
    from archspec.pytorch.check import check as check
    from archspec.pytorch.module import CompileError as CompileError
    from archspec.pytorch.module import compile as compile
    from archspec.pytorch.module import generate_code as generate_code
    from archspec.pytorch.weights import WeightMismatchError as WeightMismatchError
    from archspec.pytorch.weights import port_weights as port_weights
    from archspec.report.sweep import sweep as sweep


def __getattr__(name: str) -> Any:
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Analysis", "CompileError", "Diagnostic", "Graph", "Row", "Spec", "SpecError", "Totals",
           "WeightMismatchError", "__version__", "analyze", "check", "compile", "generate_code", "load",
           "port_weights", "render", "sweep", "view"]
