"""archspec: declarative neural-network architecture specs.

Write a network once (a `.arch` file or YAML); archspec parses it, builds its graph, and computes every
tensor's shape, the parameters, MACs, FLOPs, memory and receptive field without running anything.

    import archspec
    a = archspec.analyze("specs/vgg16.arch")        # or a shipped spec's name: "vgg16"
    print(a.totals.params, a.totals.macs)           # 138357544 15470264320
    archspec.render("vgg16", style="volumes")       # a graphviz.Digraph (shows itself in Jupyter)
"""

from archspec.analysis import Analysis, Row, Spec, Totals, analyze, load
from archspec.backends.render import render
from archspec.diagnostics import Diagnostic, SpecError

__version__ = "0.1.0"

__all__ = ["Analysis", "Diagnostic", "Row", "Spec", "SpecError", "Totals", "__version__", "analyze", "load", "render"]
