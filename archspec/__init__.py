"""archspec: declarative neural-network architecture specs.

Write a network once (a `.arch` file or YAML); archspec parses it, builds its graph, and computes every
tensor's shape, the parameters, MACs, FLOPs, memory and receptive field without running anything.

    import archspec
    a = archspec.analyze("specs/vgg16.arch")        # or a shipped spec's name: "vgg16"
    print(a.totals.params, a.totals.macs)           # 138357544 15470264320
    archspec.render("vgg16", style="volumes")       # a graphviz.Digraph (shows itself in Jupyter)
    archspec.view("resnet", params={"depth": 50})   # the interactive page (in Jupyter, in an iframe)

The public names are gathered in `archspec/api.py`; the pipeline's packages, in the order data flows
through them, are lang → ir → kinds → build → passes → pipeline → report → draw → pytorch (README,
docs/architecture.md).
"""

from typing import TYPE_CHECKING, Any

from archspec import api
from archspec.api import Analysis, Diagnostic, Graph, Row, Spec, SpecError, Totals, __version__, analyze, load

if TYPE_CHECKING:
    from archspec.api import CompileError as CompileError
    from archspec.api import WeightMismatchError as WeightMismatchError
    from archspec.api import check as check
    from archspec.api import compile as compile
    from archspec.api import generate_code as generate_code
    from archspec.api import port_weights as port_weights
    from archspec.api import render as render
    from archspec.api import sweep as sweep
    from archspec.api import view as view


def __getattr__(name: str) -> Any:
    return getattr(api, name)  # the lazy ones: drawing, compiling, checking, sweeping


__all__ = ["Analysis", "CompileError", "Diagnostic", "Graph", "Row", "Spec", "SpecError", "Totals",
           "WeightMismatchError", "__version__", "analyze", "check", "compile", "generate_code", "load",
           "port_weights", "render", "sweep", "view"]
