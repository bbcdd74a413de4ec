"""archspec: declarative neural-network architecture specs.

Write a network once (a `.arch` file or YAML); archspec parses it, builds its graph, and computes every
tensor's shape, the parameters, MACs, FLOPs, memory and receptive field without running anything.

    import archspec
    a = archspec.analyze("specs/vgg16.arch")        # or a shipped spec's name: "vgg16"
    print(a.totals.params, a.totals.macs)           # 138357544 15470264320
    archspec.render("vgg16", style="volumes")       # a graphviz.Digraph (shows itself in Jupyter)
    archspec.view("resnet", params={"depth": 50})   # the interactive page (in Jupyter, in an iframe)
"""

from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.report.analysis import Analysis, Row, Spec, Totals, analyze, load

__version__ = "0.1.0"

# Imported on first use: `import archspec` (and the analysis) never imports torch, nor graphviz.
_LAZY = {
    "render": "archspec.draw.render",  # a graphviz.Digraph of a spec
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
    from archspec.draw.html import view as view
    from archspec.draw.render import render as render
    from archspec.pytorch.check import check as check
    from archspec.pytorch.module import CompileError as CompileError
    from archspec.pytorch.module import compile as compile
    from archspec.pytorch.module import generate_code as generate_code
    from archspec.pytorch.weights import WeightMismatchError as WeightMismatchError
    from archspec.pytorch.weights import port_weights as port_weights
    from archspec.report.sweep import sweep as sweep


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = ["Analysis", "Diagnostic", "Row", "Spec", "SpecError", "Totals", "__version__", "analyze", "load", "render",
           "sweep", "view"]
