"""The pipeline, chained in one place: source → AST → IR → passes.

    spec = load("resnet")                       # lang: the file, its `use`s, parsed (and cached)
    g = spec.graph({"depth": 50})               # build: the IR, every node's shape inferred
    run_passes(g, freeze=["stage1"])            # passes: freezing, costs, receptive field
    g = analyzed("resnet", params={"depth": 50})    # all of it

`archspec.analyze` (report/analysis.py), `render`, `compile`, `check`, `sweep` and `train` all start
here, so a training run builds its graph once and every command sees the same figures. Passes are
explicit calls: nothing runs as a side effect of constructing a report.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archspec.build.elaborate import LAYERS, BuildCache, build_graph
from archspec.diagnostics import SpecError
from archspec.files import parse_shape
from archspec.ir import Graph, Shape, fmt_shape
from archspec.lang.expr import Value
from archspec.lang.load import Source, load_source
from archspec.passes import costs, receptive
from archspec.passes import freeze as freeze_pass

LINT = False  # check the IR's invariants after building and after every pass (the test suite turns it on)


def _lint(g: Graph, stage: str) -> None:
    if LINT:
        from archspec.kinds import KINDS

        try:
            g.lint(KINDS)
        except AssertionError as e:
            raise AssertionError(f"the IR is broken after {stage}: {e}") from None


class Spec:
    """A loaded spec (source and imports), ready to be built with parameters."""

    def __init__(self, source: Source) -> None:
        self.source = source

    @property
    def name(self) -> str:
        net = self.source.spec.network
        return net.name if net else Path(self.source.spec.path).stem

    @property
    def path(self) -> str:
        return self.source.spec.path

    @property
    def params(self) -> dict[str, Any]:
        net = self.source.spec.network
        return {p.name: p.default for p in net.params} if net else {}

    def graph(self, params: dict[str, Value] | None = None, input: Any = None,
              cache: BuildCache | None = None) -> Graph:
        """The IR with these parameters and input, shapes inferred (no other pass run); a `cache` shared
        between calls skips validating and shaping the layers an earlier call has seen (a sweep)."""
        inputs = coerce_input(input)
        try:
            g = build_graph(self.source, coerce_params(params), inputs, cache=cache)
            _lint(g, "building")
            return g
        except SpecError as e:
            if inputs:
                _hint_channels_last(e, self, params, inputs)
            raise

    def __repr__(self) -> str:
        return f"<Spec {self.name} from {self.path}>"


def load(spec: str | Path | Spec, *, text: str | None = None) -> Spec:
    """Load a spec: a path, a shipped spec's name (`"vgg16"`), or source text. A string holding a newline
    is source text; a `Path` (or `archspec.lang.load.SpecPath`, the command line's argument) is always a
    path, whatever it holds; `text=` gives source text with a name (`load("net.arch", text=src)`)."""
    if isinstance(spec, Spec):
        return spec
    return Spec(load_source(spec, text=text))


def run_passes(g: Graph, *, freeze: Sequence[str] = (), cache: BuildCache | None = None) -> Graph:
    """Freezing by name, then the cost and receptive-field passes, on a built graph (in place)."""
    if freeze:
        freeze_pass.run(g, freeze)
        _lint(g, "freezing")
    with no_gc():
        layers = cache if cache is not None else LAYERS  # the process's layer caches, unless given others
        costs.run(g, cache=layers.costs)
        _lint(g, "the cost pass")
        receptive.run(g, layers.steps)
        _lint(g, "the receptive-field pass")
    return g


def analyzed(spec: str | Path | Spec | Graph, *, params: dict[str, Any] | None = None, input: Any = None,
             freeze: Sequence[str] = (), partial: bool = False,
             cache: BuildCache | None = None) -> tuple[Graph, SpecError | None]:
    """A spec's IR with every pass run. With `partial`, a mistake met while building gives the graph
    built before it and the error (with `None` otherwise); a graph given is only run through the passes."""
    if isinstance(spec, Graph):
        if params or input is not None:
            raise TypeError("a built graph takes no `input` or network parameters")
        return run_passes(spec, freeze=freeze), None
    s = load(spec)
    with no_gc():
        try:
            g = s.graph(params, input, cache)
        except SpecError as e:
            if partial and isinstance(e.partial, Graph) and len(e.partial):
                return run_passes(e.partial, cache=cache), e
            raise
        return run_passes(g, freeze=freeze, cache=cache), None


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Millions of small objects and no cycles: the garbage collector would only cost time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


CHANNELS = (1, 3, 4)  # grey, RGB, RGBA: the channel counts an image's last axis gives away


def _hint_channels_last(e: SpecError, spec: Spec, params: dict[str, Value] | None,
                        given: dict[str, Shape]) -> None:
    """A given input shape that failed and looks channels-last (224×224×3) where the spec's own input
    is channels first (3×224×224): say so in the diagnostic."""
    if not any(len(v) >= 2 and v[-1] in CHANNELS and v[0] != v[-1] for v in given.values()):
        return
    try:
        g0 = build_graph(spec.source, coerce_params(params), None)
    except SpecError:
        return
    for name in g0.inputs:
        own = g0[name].meta.shape
        shape = given.get(name) or given.get("*")
        if (shape is None or len(shape) != len(own) or shape[-1] not in CHANNELS or shape[0] == shape[-1]
                or own[0] != shape[-1]):
            continue
        first = "x".join(map(str, (shape[-1], *shape[:-1])))
        d = e.diagnostic
        d.notes.append(f"the input {fmt_shape(shape)} looks channels-last: its last axis is {shape[-1]}, and this "
                       f"spec's own input `{name}` is {fmt_shape(own)}, channels first")
        if d.hint:
            d.notes.append(f"if the shape is meant: {d.hint}")
        d.hint = (f"give the shape channels first: --input {first}" if name == "input" or "*" in given
                  else f"give the shape channels first: --input {name}={first}")
        return


def coerce_input(input: Any) -> dict[str, Shape] | None:
    """`"3x224x224"`, `(3, 224, 224)` or `{"name": shape}` → {input name or "*": shape}."""
    if input is None:
        return None
    if isinstance(input, dict):
        return {k: parse_shape(v) if isinstance(v, str) else tuple(v) for k, v in input.items()}
    if isinstance(input, str):
        return {"*": parse_shape(input)}
    return {"*": tuple(input)}


def coerce_params(params: dict[str, Any] | None) -> dict[str, Value] | None:
    if not params:
        return None
    out: dict[str, Value] = {}
    for k, v in params.items():
        out[k] = tuple(v) if isinstance(v, list) else v
    return out
