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

from archspec.analysis import Analysis, Row, Spec, Totals, analyze, load
from archspec.diagnostics import Diagnostic, SpecError

__version__ = "0.1.0"

# Imported on first use: `import archspec` (and the analysis) never imports torch, nor graphviz.
_LAZY = {
    "render": "archspec.backends.render",  # a graphviz.Digraph of a spec
    "view": "archspec.backends.html_view",  # the interactive HTML view of a spec (a notebook shows it)
    "compile": "archspec.backends.torch_module",  # a spec as a torch.nn.Module
    "generate_code": "archspec.backends.torch_module",  # the standalone Python file of a compiled spec
    "CompileError": "archspec.backends.torch_module",
    "port_weights": "archspec.backends.weights",  # load a hand-written model's weights by position
    "WeightMismatchError": "archspec.backends.weights",
    "check": "archspec.backends.check",  # compare the compiled module with the analysis
    "sweep": "archspec.backends.sweep",  # a grid of parameters and inputs, one row of figures each
}

if TYPE_CHECKING:
    from archspec.backends.check import check as check
    from archspec.backends.html_view import view as view
    from archspec.backends.render import render as render
    from archspec.backends.sweep import sweep as sweep
    from archspec.backends.torch_module import CompileError as CompileError
    from archspec.backends.torch_module import compile as compile
    from archspec.backends.torch_module import generate_code as generate_code
    from archspec.backends.weights import WeightMismatchError as WeightMismatchError
    from archspec.backends.weights import port_weights as port_weights


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = ["Analysis", "Diagnostic", "Row", "Spec", "SpecError", "Totals", "__version__", "analyze", "load", "render",
           "sweep", "view"]
