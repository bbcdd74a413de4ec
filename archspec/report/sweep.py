"""Families of networks (`archspec sweep`): every configuration of a grid of network parameters and input
shapes analysed in process, one row of figures each; budgets (`where`), objectives and the Pareto front;
a table, CSV, JSON, records for pandas, and a chart.

    >>> import archspec
    >>> t = archspec.sweep("resnet", {"depth": [18, 34, 50, 101, 152]})
    >>> [(r["depth"], r["params"]) for r in t.to_records()][:2]
    [(18, 11689512), (34, 21797672)]

A grid is written as the command line writes it (`"18,34,50"`, `"0.5:2:0.25"`, `"round(224 * 1.15**phi)"`)
or given as Python values (a list, a range, a single value). Axes expand in the order given, the first
varying slowest; a value may be an expression over the axes before it (compound scaling:
`{"phi": "0:4", "depth": "1.2**phi"}`). An input shape may be swept too: `input="3x{r}x{r}"` with an axis
`r`. Every configuration is analysed as `archspec.analyze` would (the same figures), re-using the parse
and the layers' validated arguments and shapes between configurations; a configuration the spec refuses
is counted, with its first diagnostic, and left out of the rows.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.build.elaborate import BuildCache, _hashable
from archspec.diagnostics import Diagnostic, Span, SpecError, did_you_mean, remember_source
from archspec.kinds.base import CONVENTIONS, Shape
from archspec.lang import ast
from archspec.lang.expr import MAX_ITEMS, Evaluator, TensorRef, Value, show, type_name
from archspec.pipeline import run_passes
from archspec.report.analysis import Analysis, Spec, human_bytes, load

if TYPE_CHECKING:
    from archspec.report.chart import Chart

MAX_CONFIGURATIONS = 1_000_000  # a grid larger than this is refused (E600): hours of analysis
CACHE_ENTRIES = 200_000  # the layers' caches are emptied past this (a sweep over many input sizes)
TABLE_ROWS = 500  # rows a table (or Markdown) shows; CSV and JSON have them all
_WRAP = len("network _(_=")  # `parse_expr` parses an option's text inside this prefix

# The figures of every row, in the order CSV and JSON give them (after the spec and the swept values).
FIGURE_COLUMNS = ("input", "output", "params", "trainable_params", "non_trainable_params", "buffers", "macs",
                  "flops", "activations", "activation_bytes", "param_bytes", "memory", "layers", "depth",
                  "receptive_field", "effective_stride")


# -- expressions written in options: parsed and evaluated by archspec's own evaluator, never `eval` ------

def option_expr(text: str, what: str, offset: int = 0, full: str | None = None) -> ast.Expr:
    """Parse an expression given in an option (`--where`, a value of `--set`); a mistake is a diagnostic
    whose caret points into the option's own text (`full`, of which `text` starts at `offset`)."""
    from archspec.lang.parser import parse_expr

    if not text.strip():
        raise _at(what, full if full is not None else text, offset, max(1, len(text)),
                  "E206", "an empty value", expected="a number, a name or an expression")
    try:
        return parse_expr(text, what)
    except SpecError as e:
        raise moved(e, what, full if full is not None else text, offset) from None


def evaluate(e: ast.Expr, env: Mapping[str, Value], what: str, text: str, offset: int = 0) -> Value:
    """Evaluate an option's expression; a bare word that names nothing is a string (`variant=paper`)."""
    try:
        v = Evaluator(env)(e)
    except SpecError as err:
        raise moved(err, what, text, offset) from None
    return v.name if isinstance(v, TensorRef) else v


def moved(err: SpecError, what: str, text: str, offset: int = 0) -> SpecError:
    """The diagnostic of an option's expression, its span moved from the parser's wrapping to the option."""
    d = err.diagnostic
    s = d.span
    if s is None or s.file != what:
        return err
    remember_source(what, text, option=True)
    col = max(1, s.column - _WRAP + offset)
    end = max(col + 1, s.end_column - _WRAP + offset) if s.end_line == s.line else len(text) + 1
    if d.code == "E100" and col > len(text):  # the parser read the wrapping's `)`: the text ended too soon
        d = replace(d, message="the expression ends too soon", received="the end of the option")
    return SpecError(replace(d, span=Span(what, 1, col, 1, end)))


def _at(what: str, text: str, offset: int, width: int, code: str, message: str, **kw: Any) -> SpecError:
    remember_source(what, text, option=True)
    return SpecError(Diagnostic(code, message, Span(what, 1, offset + 1, 1, offset + 1 + max(1, width)), **kw))


def names(e: Any) -> set[str]:
    """Every name an expression reads."""
    out: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Name):
            out.add(x.id)
        elif isinstance(x, ast._Node):
            stack.extend(getattr(x, f) for f in type(x).model_fields if f != "span")
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
    return out


def split_top(text: str, sep: str) -> list[tuple[int, str]]:
    """Split at `sep` outside brackets, braces and quotes: (offset, part) pairs."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append((start, text[start:i]))
            start = i + len(sep)
    parts.append((start, text[start:]))
    return parts


# -- the grid ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One `--set NAME=VALUES`: a list (`18,34,50`), a range (`0.5:2:0.25`, the end included when the
    steps reach it) or one expression; each item may read the axes before it."""

    name: str
    text: str  # the values as written (for JSON and diagnostics)
    items: tuple[tuple[int, ast.Expr], ...]  # (offset in `text`, expression)
    is_range: bool = False
    given: tuple[Value, ...] | None = None  # values given in Python (no expressions)

    @property
    def what(self) -> str:
        return f"--set {self.name}"

    def reads(self) -> set[str]:
        return set().union(*(names(e) for _, e in self.items)) if self.items else set()

    def values(self, env: Mapping[str, Value]) -> list[Value]:
        if self.given is not None:
            return list(self.given)
        vals = [evaluate(e, env, self.what, self.text, off) for off, e in self.items]
        if not self.is_range:
            return vals
        return self._range(vals)

    def _range(self, vals: list[Value]) -> list[Value]:
        for (off, _), v in zip(self.items, vals):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _at(self.what, self.text, off, len(_src(self.text, off)), "E206",
                          f"a range takes numbers, got {type_name(v)} ({show(v)})",
                          expected="START:STOP or START:STOP:STEP, e.g. 0.5:2:0.25")
        start, stop = vals[0], vals[1]
        step = vals[2] if len(vals) > 2 else 1
        if step == 0 or (stop - start) * step < 0:
            off = self.items[2][0] if len(vals) > 2 else 0
            raise _at(self.what, self.text, off, len(_src(self.text, off)), "E202",
                      f"the range {self.text} gives no values" if step else "a range's step cannot be 0",
                      expected="a step that goes from START towards STOP, e.g. 18:152:1 or 2:0.5:-0.25")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_ITEMS:
            raise _at(self.what, self.text, 0, len(self.text), "E600", f"the range {self.text} has {count:,} values",
                      expected=f"at most {MAX_ITEMS:,} values on one axis")
        if all(isinstance(v, int) for v in (start, stop, step)):
            return list(range(start, start + count * step, step))
        return [float(f"{start + i * step:.12g}") for i in range(count)]


def _src(text: str, off: int) -> str:
    return next((p for o, p in split_top(text[off:], ":") if o == 0), text[off:])


def parse_axis(item: str) -> Axis:
    """`depth=18,34,50` / `width=0.5:2:0.25` / `depth=round(1.2**phi * 18)` → an axis."""
    name, eq, text = item.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise SpecError(Diagnostic("E207", f"--set takes NAME=VALUES, got {item!r}",
                                   hint="for example --set depth=18,34,50 or --set alpha=0.25:1:0.25"))
    what = f"--set {name}"
    parts = split_top(text, ",")
    if len(parts) > 1:
        return Axis(name, text, tuple((off, option_expr(p, what, off, text)) for off, p in parts))
    parts = split_top(text, ":")
    if len(parts) > 3:
        raise _at(what, text, 0, len(text), "E206", f"a range is START:STOP or START:STOP:STEP, got {text!r}")
    items = tuple((off, option_expr(p, what, off, text)) for off, p in parts)
    return Axis(name, text, items, is_range=len(parts) > 1)


def axis_from_python(name: str, values: Any) -> Axis:
    """An axis given in Python: a list, tuple or range of values, one value, or a string as on the command line."""
    if isinstance(values, str):
        return parse_axis(f"{name}={values}")
    if isinstance(values, range):
        values = list(values)
    if isinstance(values, list):
        if not values:
            raise SpecError(Diagnostic("E202", f"the values of `{name}` are an empty list"))
        return Axis(name, ",".join(show(v) if not isinstance(v, str) else v for v in values), (),
                    given=tuple(tuple(v) if isinstance(v, list) else v for v in values))
    return Axis(name, show(values) if not isinstance(values, str) else values, (), given=(values,))


@dataclass(frozen=True)
class InputTemplate:
    """An `--input` whose sizes may read the axes: `3x{r}x{r}`, `image=3x{2 * r}x{r}`."""

    name: str  # "*": every input
    text: str
    dims: tuple[int | tuple[int, ast.Expr], ...]  # a size, or (offset in `text`, expression)

    def reads(self) -> set[str]:
        return set().union(*(names(d[1]) for d in self.dims if isinstance(d, tuple)))

    def shape(self, env: Mapping[str, Value]) -> Shape:
        out = []
        for d in self.dims:
            if isinstance(d, int):
                out.append(d)
                continue
            off, e = d
            v = evaluate(e, env, "--input", self.text, off)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise _at("--input", self.text, off - 1, len(_brace(self.text, off)) + 2, "E202",
                          f"an input size must be a whole number of at least 1, got {type_name(v)} ({show(v)})",
                          hint="round it: {round(224 * s)}")
            out.append(v)
        return tuple(out)


def _brace(text: str, off: int) -> str:
    depth = 1
    for i in range(off, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[off:i]
    return text[off:]


def parse_input(item: str) -> InputTemplate:
    """`3x224x224`, `3x{r}x{r}` or `NAME=SHAPE`: sizes are numbers or `{expressions}` over the axes."""
    head = item.split("{", 1)[0]
    name, shape, base = "*", item, 0
    if "=" in head:
        name, _, shape = item.partition("=")
        base = len(name) + 1
        name = name.strip()
    dims: list[int | tuple[int, ast.Expr]] = []
    for off, part in split_top(shape.replace("×", "x"), "x"):
        p = part.strip()
        at = base + off + (len(part) - len(part.lstrip()))
        if p.isdigit() and int(p) >= 1:
            dims.append(int(p))
        elif p.startswith("{") and p.endswith("}") and len(p) > 2:
            inner = p[1:-1]
            if len(split_top(inner, ",")) > 1 or len(split_top(inner, ":")) > 1:
                raise _at("--input", item, at, len(p), "E206", "a size in braces is one expression, not a list",
                          hint="sweep it with --set: --set r=128,160,192,224 --input 3x{r}x{r}")
            dims.append((at + 1, option_expr(inner, "--input", at + 1, item)))
        else:
            raise _at("--input", item, at, max(1, len(p)), "E202", f"--input: {p!r} is not a size",
                      expected="sizes like 3x224x224, or expressions over the --set names in braces: 3x{r}x{r}")
    if not dims:
        raise _at("--input", item, 0, len(item), "E202", "--input needs a shape", hint="for example --input 3x{r}x{r}")
    return InputTemplate(name, item, tuple(dims))


@dataclass
class Grid:
    """One spec and its grid: axes (in order, the first slowest) and input templates."""

    spec: Spec
    label: str  # the spec as the user named it
    axes: list[Axis] = field(default_factory=list)
    inputs: list[InputTemplate] = field(default_factory=list)

    def check(self) -> None:
        """Each axis reads only axes before it; a name that is no parameter of the network is a helper
        variable only if another axis or an input reads it (else it is a misspelt parameter)."""
        params = self.spec.params
        seen: list[str] = []
        for k, axis in enumerate(self.axes):
            if axis.name in ("spec", "input", "output"):
                raise SpecError(Diagnostic("E207", f"`{axis.name}` names a column of the sweep's rows",
                                           hint="give the helper variable another name"))
            if axis.name in seen:
                raise SpecError(Diagnostic("E208", f"`{axis.name}` is swept twice for {self.label}",
                                           hint="give its values in one --set: --set depth=18,34,50"))
            later = sorted(axis.reads() & {a.name for a in self.axes[k + 1:]})
            if later:
                raise SpecError(Diagnostic("E205", f"--set {axis.name} reads `{later[0]}`, which is set after it",
                                           hint=f"write --set {later[0]}=... before --set {axis.name}=..."))
            seen.append(axis.name)
        read = set().union(*(a.reads() for a in self.axes), *(t.reads() for t in self.inputs)) \
            if (self.axes or self.inputs) else set()
        for axis in self.axes:
            if axis.name not in params and axis.name not in read:
                known = list(params)
                raise SpecError(Diagnostic(
                    "E207", f"network `{self.spec.name}` has no parameter `{axis.name}`",
                    expected="one of " + (", ".join(f"`{k}`" for k in known) if known else "none: it takes no parameters"),
                    hint=did_you_mean(axis.name, known) or
                    "a name that is not a parameter is a helper for other values: read it in another --set "
                    "or in --input, as in --set r=128,160 --input 3x{r}x{r}"))
        for t in self.inputs:
            unknown = sorted(t.reads() - set(seen))
            if unknown:
                raise _at("--input", t.text, 0, len(t.text), "E205", f"--input reads `{unknown[0]}`, which no --set gives",
                          hint=did_you_mean(unknown[0], seen) or f"sweep it: --set {unknown[0]}=...")

    def configurations(self, limit: int = MAX_CONFIGURATIONS) -> list[dict[str, Value]]:
        """Every combination of the axes' values, the first axis slowest."""
        out: list[dict[str, Value]] = []

        def walk(k: int, env: dict[str, Value]) -> None:
            if k == len(self.axes):
                if len(out) >= limit:
                    raise SpecError(Diagnostic("E600", f"the grid of {self.label} has more than {limit:,} configurations",
                                               hint="sweep fewer values, or split the sweep"))
                out.append(dict(env))
                return
            axis = self.axes[k]
            for v in axis.values(env):
                env[axis.name] = v
                walk(k + 1, env)
            env.pop(axis.name, None)

        walk(0, {})
        return out

    def job(self, env: Mapping[str, Value]) -> tuple[dict[str, Value], dict[str, Shape] | None]:
        """The network parameters and input shapes of one configuration."""
        params = self.spec.params
        sets = {k: v for k, v in env.items() if k in params}
        inputs = {t.name: t.shape(env) for t in self.inputs} if self.inputs else None
        return sets, inputs


# -- analysing configurations --------------------------------------------------------------------

def figures(a: Analysis) -> dict[str, Any]:
    """One configuration's figures: the analysis totals, as a row gives them."""
    t = a.totals
    return {
        "input": _shapes(a.inputs), "output": _shapes(a.outputs),
        "params": t.params, "trainable_params": t.trainable_params, "non_trainable_params": t.non_trainable_params,
        "buffers": t.buffers, "macs": t.macs, "flops": t.flops, "activations": t.activations,
        "activation_bytes": t.activation_bytes, "param_bytes": t.param_bytes,
        "memory": t.activation_bytes + t.param_bytes, "layers": t.layers, "depth": t.depth,
        "receptive_field": max(t.receptive_field) if t.receptive_field else None,
        "effective_stride": max(t.effective_stride) if t.effective_stride else None,
    }


def _shapes(shapes: Mapping[str, Shape]) -> str:
    if len(shapes) == 1:
        return "x".join(map(str, next(iter(shapes.values()))))
    return " ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in shapes.items())


def shape_of(text: str) -> tuple[int, ...]:
    """The first shape of a row's `input` or `output` text, as a tuple (for expressions: `input[1]`)."""
    first = text.split(" ", 1)[0]
    return tuple(int(x) for x in first.rsplit(":", 1)[-1].split("x"))


Result = tuple[str, Any]  # ("ok", figures) or ("error", Diagnostic)


class Worker:
    """Analyses configurations of some specs, with one layer cache per spec kept between them, and each
    distinct network once (helper axes can give the same parameters twice: `r=round(224 * 1.15**phi)`)."""

    def __init__(self, specs: Sequence[Spec], convention: str, batch: int) -> None:
        self.specs = list(specs)
        self.convention = convention
        self.batch = batch
        self.caches = [BuildCache() for _ in self.specs]
        self.done: dict[Any, Result] = {}
        self.runs = 0

    def run(self, k: int, sets: dict[str, Value], inputs: dict[str, Shape] | None) -> Result:
        key = (k, _hashable(sets), _hashable(inputs or {}))
        hit = self.done.get(key)
        if hit is not None:
            return hit
        cache = self.caches[k]
        if len(cache) > CACHE_ENTRIES:
            cache.clear()
        try:
            g = run_passes(self.specs[k].graph(sets, inputs, cache), cache=cache)
            result: Result = ("ok", figures(Analysis(g, batch=self.batch, convention=self.convention)))
        except SpecError as e:
            result = ("error", e.diagnostic)
        if len(self.done) < CACHE_ENTRIES:
            self.done[key] = result
        self.runs += 1
        if self.runs % 2000 == 0:  # the collector is off while analysing (see `_analyse`): the few cycles a
            gc.collect(1)  # build leaves (blocks' closures see each other) go; the older generation, which
        return result  # holds the caches, is not walked again

    def chunk(self, task: tuple[int, list[tuple[dict[str, Value], dict[str, Shape] | None]]]) -> list[Result]:
        k, jobs = task
        return [self.run(k, s, i) for s, i in jobs]


_WORKER: Worker | None = None


def _init_worker(specs: Sequence[Spec], convention: str, batch: int) -> None:
    global _WORKER
    _WORKER = Worker(specs, convention, batch)
    gc.disable()  # a worker only analyses: small objects without cycles


def _run_chunk(task: tuple[int, list[tuple[dict[str, Value], dict[str, Shape] | None]]]) -> list[Result]:
    assert _WORKER is not None
    return _WORKER.chunk(task)


Progress = Callable[[int, int], None]  # (configurations done, of how many)


def _analyse(grids: list[Grid], jobs: list[tuple[int, dict[str, Value], dict[str, Shape] | None]], *,
             convention: str, batch: int, processes: int, progress: Progress | None) -> list[Result]:
    total = len(jobs)
    if processes <= 1 or total < 2:
        if progress:
            progress(0, total)
        worker = Worker([g.spec for g in grids], convention, batch)
        out: list[Result] = []
        was = gc.isenabled()
        gc.disable()  # thousands of graphs of small objects without cycles: the collector only costs time
        try:
            for n, (k, sets, inputs) in enumerate(jobs, 1):
                out.append(worker.run(k, sets, inputs))
                if progress:
                    progress(n, total)
        finally:
            if was:
                gc.enable()
        return out
    import multiprocessing as mp

    # chunks of one spec each, small enough to balance the processes and to move the progress bar
    size = max(1, min(64, total // (processes * 8)))
    tasks: list[tuple[int, list[tuple[dict[str, Value], dict[str, Shape] | None]]]] = []
    for k, sets, inputs in jobs:
        if not tasks or tasks[-1][0] != k or len(tasks[-1][1]) >= size:
            tasks.append((k, []))
        tasks[-1][1].append((sets, inputs))
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    results: list[Result] = []
    with mp.get_context(method).Pool(min(processes, len(tasks)), _init_worker,
                                      ([g.spec for g in grids], convention, batch)) as pool:
        if progress:  # after the fork: a progress bar's thread must not be copied into the workers
            progress(0, total)
        for chunk in pool.imap(_run_chunk, tasks):
            results.extend(chunk)
            if progress:
                progress(len(results), total)
    return results


# -- the table -----------------------------------------------------------------------------------

@dataclass
class SpecRun:
    """What one spec's grid gave: how many configurations, how many were refused, and the first refusal."""

    label: str
    network: str
    grid: dict[str, str]
    inputs: list[str]
    configurations: int = 0
    invalid: int = 0
    first_error: Diagnostic | None = None
    first_error_at: dict[str, Value] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"spec": self.label, "network": self.network, "grid": self.grid, "inputs": self.inputs,
                             "configurations": self.configurations, "valid": self.configurations - self.invalid,
                             "invalid": self.invalid}
        if self.first_error is not None:
            d["first_error"] = {"configuration": {k: _plain(v) for k, v in self.first_error_at.items()},
                                "diagnostic": self.first_error.to_dict()}
        return d


@dataclass(frozen=True)
class Objective:
    sense: str  # "maximize" or "minimize"
    text: str
    expr: ast.Expr

    @property
    def what(self) -> str:
        return f"--{self.sense}"


def objective(sense: str, text: str) -> Objective:
    if sense not in ("maximize", "minimize"):
        raise ValueError(f"an objective is maximize or minimize, not {sense!r}")
    return Objective(sense, text, option_expr(text, f"--{sense}"))


class SweepTable:
    """The rows of a sweep (dicts of plain values: give `to_records()` to `pandas.DataFrame`), with what
    produced them. `where`, `best` and `front` return new tables; `base` is the table before them."""

    def __init__(self, rows: list[dict[str, Any]], *, swept: list[str], runs: list[SpecRun], convention: str,
                 batch: int, ids: list[int] | None = None, base: SweepTable | None = None,
                 where: str | None = None, objectives: tuple[Objective, ...] = (), top: int | None = None,
                 scores: list[tuple[float, ...]] | None = None, elapsed: float = 0.0) -> None:
        self.rows = rows
        self.swept = swept
        self.runs = runs
        self.convention = convention
        self.batch = batch
        self.ids = ids if ids is not None else list(range(len(rows)))
        self.base = base if base is not None else self
        self.where_text = where
        self.objectives = objectives
        self.top = top
        self.scores = scores
        self.elapsed = elapsed

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<SweepTable {len(self.rows):,} rows of {', '.join(r.label for r in self.runs)}>"

    @property
    def columns(self) -> list[str]:
        """spec, the swept names, then the figures (a figure named as a swept name gets `_figure`)."""
        return ["spec", *self.swept, *(f"{c}_figure" if c in self.swept else c for c in FIGURE_COLUMNS)]

    @property
    def invalid(self) -> int:
        return sum(r.invalid for r in self.runs)

    @property
    def configurations(self) -> int:
        return sum(r.configurations for r in self.runs)

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as a list of dicts, every column in each (None where a spec has no such axis)."""
        cols = self.columns
        return [{c: r.get(c) for c in cols} for r in self.rows]

    def _derive(self, keep: list[int], **kw: Any) -> SweepTable:
        opts = {"where": self.where_text, "objectives": self.objectives, "top": self.top, "scores": None, **kw}
        return SweepTable([self.rows[i] for i in keep], swept=self.swept, runs=self.runs, convention=self.convention,
                          batch=self.batch, ids=[self.ids[i] for i in keep], base=self.base, elapsed=self.elapsed,
                          **opts)

    # -- budgets and objectives -------------------------------------------------------------------
    def env(self, row: Mapping[str, Any]) -> dict[str, Value]:
        """A row as the names an expression reads: its columns, with `input` and `output` as tuples."""
        env = {k: v for k, v in row.items() if v is not None}
        for k in ("input", "output"):
            if isinstance(row.get(k), str):
                env[k] = shape_of(row[k])
        return env

    def _check_names(self, e: ast.Expr, what: str, text: str) -> None:
        """A name must be a column of every spec's rows (a name only some specs have is a mistake)."""
        for n in sorted(names(e)):
            missing = [run.label for run in self.runs if run.configurations > run.invalid and
                       not any(r.get(n) is not None for r in self.base.rows if r["spec"] == run.label)]
            if n not in self.base.columns or missing:
                msg = f"`{n}` is not a column" + (f" of {missing[0]}'s rows" if n in self.base.columns else "")
                loc = _find(text, n)
                figs = [c for c in self.base.columns[1 + len(self.swept):] if c not in ("input", "output")]
                raise _at(what, text, loc, len(n), "E205", msg,
                          expected="a figure (" + ", ".join(figs) + "), input, output" +
                          (f" or a swept name ({', '.join(self.swept)})" if self.swept else ""),
                          hint=did_you_mean(n, self.base.columns))

    def where(self, text: str | None) -> SweepTable:
        """The rows for which `text` holds: `"macs <= 400e6 and params <= 5e6"`."""
        if not text:
            return self
        e = option_expr(text, "--where")
        self._check_names(e, "--where", text)
        ev = Evaluator({})
        keep = []
        for i, r in enumerate(self.rows):
            ev.env = self.env(r)
            try:
                ok = ev.truth(ev(e), e.span)
            except SpecError as err:
                raise moved(err, "--where", text) from None
            if ok:
                keep.append(i)
        both = f"({self.where_text}) and ({text})" if self.where_text else text
        return self._derive(keep, where=both)

    def score(self, objectives: Sequence[Objective]) -> list[tuple[float, ...]]:
        ev = Evaluator({})
        out = []
        for o in objectives:
            self._check_names(o.expr, o.what, o.text)
        for r in self.rows:
            ev.env = self.env(r)
            vals = []
            for o in objectives:
                try:
                    v = ev(o.expr)
                except SpecError as err:
                    raise moved(err, o.what, o.text) from None
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise _at(o.what, o.text, 0, len(o.text), "E206",
                              f"{o.what} needs a number, got {type_name(v)} ({show(v)})")
                vals.append(v)
            out.append(tuple(vals))
        return out

    def best(self, objectives: Sequence[Objective] | Objective | str | None = None, *, maximize: str | None = None,
             minimize: str | None = None, top: int | None = None) -> SweepTable:
        """One objective: the best row (all that tie), or the `top` best. Several: the Pareto front (rows no
        other row beats on every objective), best first by the first objective, or its first `top`."""
        objs = _objectives(objectives, maximize, minimize)
        if top is not None and top < 1:
            raise SpecError(Diagnostic("E202", f"--top must be at least 1, got {top}"))
        if not objs:
            return self._derive(list(range(min(len(self.rows), top or len(self.rows)))), top=top)
        scores = self.score(objs)
        senses = [o.sense for o in objs]
        key = [tuple(-v if s == "maximize" else v for v, s in zip(sc, senses)) for sc in scores]
        if len(objs) == 1:
            order = sorted(range(len(scores)), key=lambda i: key[i])
            keep = order[:top] if top else [i for i in order if key[i] == key[order[0]]]
        else:
            keep = pareto_front(scores, senses)
            if top:
                keep = keep[:top]
        return self._derive(keep, objectives=tuple(objs), top=top, scores=[scores[i] for i in keep])

    # -- formats ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": "archspec-sweep", "version": 1, "convention": self.convention, "batch": self.batch,
            "specs": [r.to_dict() for r in self.runs], "where": self.where_text,
            "objectives": [{o.sense: o.text} for o in self.objectives], "top": self.top,
            "columns": self.columns, "count": len(self.rows),
            "rows": [{k: _plain(v) for k, v in r.items()} for r in self.to_records()],
        }
        return d

    def to_json(self, indent: int | None = 2) -> str:
        d = self.to_dict()
        if indent is None or len(self.rows) <= 50:
            return json.dumps(d, indent=indent)
        rows = d.pop("rows")  # one row a line: a long sweep stays readable
        head = json.dumps(d, indent=indent)
        return head[:-2] + ',\n  "rows": [\n' + ",\n".join("    " + json.dumps(r) for r in rows) + "\n  ]\n}"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.to_records():
            w.writerow(["" if v is None else show(v) if isinstance(v, (tuple, bool)) else v for v in r.values()])
        return buf.getvalue()

    def _shown(self) -> list[tuple[str, str, bool]]:
        """(key, title, numeric) of the table's columns: the spec when there are several, the swept
        names, the input when it is swept, the objectives' values, then the main figures."""
        cols: list[tuple[str, str, bool]] = []
        if len(self.runs) > 1:
            cols.append(("spec", "Spec", False))
        cols += [(n, n, all(_num(r.get(n)) or r.get(n) is None for r in self.rows)) for n in self.swept]
        if any(r.inputs for r in self.runs):
            cols.append(("input", "Input", False))
        for k, o in enumerate(self.objectives):
            if o.text not in self.columns:
                cols.append((f"#objective{k}", o.text, True))
        conv = "" if self.convention == "archspec" else f" ({self.convention})"
        for key, title in (("params", "Params"), ("macs", "MACs" + conv), ("param_bytes", "Param memory"),
                           ("activation_bytes", "Activations"), ("receptive_field", "Receptive field"),
                           ("depth", "Depth"), ("output", "Output")):
            col = self.column(key)
            if col != key and all(r.get(col) == r.get(key) for r in self.rows):
                continue  # resnet's swept `depth` is the figure's depth: one column says it
            cols.append((col, title, key != "output"))
        return cols

    def column(self, figure: str) -> str:
        """The column of a figure: its name, or NAME_figure when a swept name is the same."""
        return f"{figure}_figure" if figure in self.swept else figure

    def title(self, key: str) -> str:
        """An axis title for a column: a figure's (`MACs per sample`), or a swept name as written."""
        from archspec.report.chart import figure_title

        if key in self.swept or key == "spec":
            return key
        return figure_title(key.removesuffix("_figure"), self.convention, self.batch)

    def cell(self, i: int, key: str) -> str:
        r = self.rows[i]
        if key.startswith("#objective"):
            v: Any = self.scores[i][int(key[len("#objective"):])] if self.scores else None
            return _number(v)
        v = r.get(key)
        if v is None:
            return "—"
        if key in ("param_bytes", "activation_bytes", "memory"):
            return human_bytes(v)
        if key == "receptive_field":
            return f"{v}×{v}" if isinstance(r.get("input"), str) and len(shape_of(r["input"])) == 3 else str(v)
        if key in ("input", "output"):
            return re.sub(r"(?<=\d)x(?=\d)", "×", v)
        if isinstance(v, str):
            return v
        return _number(v)

    def table(self, limit: int = TABLE_ROWS) -> Any:
        from rich.table import Table

        t = Table(title=self._caption(), title_justify="left", header_style="bold")
        cols = self._shown()
        for _, title, numeric in cols:
            t.add_column(title, justify="right" if numeric else "left", no_wrap=True)
        for i in range(min(len(self.rows), limit)):
            t.add_row(*(self.cell(i, k) for k, _, _ in cols))
        return t

    def to_markdown(self, limit: int = TABLE_ROWS) -> str:
        cols = self._shown()
        lines = ["| " + " | ".join(t for _, t, _ in cols) + " |",
                 "|" + "|".join("--:" if n else "---" for _, _, n in cols) + "|"]
        for i in range(min(len(self.rows), limit)):
            lines.append("| " + " | ".join(self.cell(i, k).replace("|", "\\|") for k, _, _ in cols) + " |")
        return "\n".join(lines) + "\n"

    def _caption(self) -> str:
        specs = ", ".join(r.label for r in self.runs)
        what = f"{len(self.rows):,} of {self.configurations:,} configurations of {specs}"
        if self.objectives:
            kind = "best" if len(self.objectives) == 1 else "Pareto front"
            what += f" ({kind}: " + ", ".join(f"{o.sense} {o.text}" for o in self.objectives) + ")"
        if self.convention != "archspec":
            what += f", MACs as {self.convention} counts them"
        return what

    # -- the chart --------------------------------------------------------------------------------
    def chart(self, x: str = "macs", y: str = "params", colour: str | None = None, front: bool = True) -> Chart:
        """A `Chart` of every configuration of the sweep (grey where `where` left them out), this
        table's rows marked when objectives picked them, else (x and y both figures, not swept names)
        the Pareto front of fewest x and most y."""
        from archspec.report.chart import Chart

        base = self.base
        for key, what, numeric in ((x, "--x", True), (y, "--y", True), (colour, "--color", False)):
            if key is not None:
                _check_column(key, base.columns, what, numeric)
        if colour is None:
            colour = "spec" if len(self.runs) > 1 else next(
                (n for n in self.swept if n not in (x, y) and len({r.get(n) for r in base.rows}) > 1), None)
        kept = set(self.ids) if not self.objectives else set(self.where_ids())
        idx = [i for i, r in enumerate(base.rows) if _num(r.get(x)) and _num(r.get(y))]
        pos = {base.ids[i]: k for k, i in enumerate(idx)}
        xs = [float(base.rows[i][x]) for i in idx]
        ys = [float(base.rows[i][y]) for i in idx]
        muted = [base.ids[i] not in kept for i in idx]
        labels = [self.label(base.rows[i], skip=(x, y, colour if len(self.runs) == 1 else None)) for i in idx]
        if self.objectives:
            highlight = [pos[i] for i in self.ids if i in pos]
            htitle = ("best: " if len(self.objectives) == 1 else "Pareto front: ") + \
                ", ".join(f"{o.sense} {o.text}" for o in self.objectives)
            is_front = len(self.objectives) > 1
        elif front and x not in self.swept and y not in self.swept:  # a front of two figures (cost, capacity)
            live = [k for k in range(len(idx)) if not muted[k]]
            highlight = [live[j] for j in pareto_front([(xs[k], ys[k]) for k in live], ["minimize", "maximize"])]
            htitle = f"Pareto front: fewest {self._short(x)}, most {self._short(y)}"
            is_front = True
        else:
            highlight, htitle, is_front = [], "", False
        n_specs = ", ".join(r.label for r in self.runs) if len(self.runs) <= 3 else f"{len(self.runs)} specs"
        within = sum(1 for m in muted if not m)
        title = f"{self._short(y, True)} against {self._short(x)}"
        subtitle = f"{n_specs}: {len(idx):,} configurations" + (f", {within:,} within --where" if self.where_text else "")
        cvals = [base.rows[i].get(colour) for i in idx] if colour else None
        return Chart(x=xs, y=ys, labels=labels, x_key=x, y_key=y,
                     x_title=self.title(x), y_title=self.title(y), title=title, subtitle=subtitle,
                     colour=cvals, colour_key=colour or "",
                     colour_title=self.title(colour) if colour else "",
                     highlight=highlight, highlight_title=htitle, front=is_front,
                     muted=muted if any(muted) else None, muted_title=f"outside --where {self.where_text}"
                     if self.where_text else "outside --where")

    def _short(self, key: str, capital: bool = False) -> str:
        from archspec.report.chart import short_name

        return key if key in self.swept else short_name(key.removesuffix("_figure"), capital)

    def where_ids(self) -> list[int]:
        """The rows that passed `where`, before objectives picked among them."""
        if not self.where_text:
            return list(self.base.ids)
        return self.base.where(self.where_text).ids

    def label(self, row: Mapping[str, Any], skip: Sequence[str | None] = ()) -> str:
        """A point's label: the spec (when there are several) and the values that vary within its grid,
        but those in `skip` (the chart's axes and colour say them)."""
        run = next(r for r in self.runs if r.label == row["spec"])
        varying = [n for n in self.swept if n in run.grid and _varies(run.grid[n]) and n not in skip]
        parts = [row["spec"]] if len(self.runs) > 1 and "spec" not in skip else []
        parts += [f"{n}={_value(row.get(n))}" for n in varying]
        return " ".join(parts)


def _varies(text: str) -> bool:
    return "," in text or ":" in text or "**" in text or any(c.isalpha() for c in text)


def _value(v: Any) -> str:
    if isinstance(v, float):
        from archspec.report.chart import show_value as _show

        return _show(v)
    if isinstance(v, str):
        return v
    return show(v)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_column(key: str, columns: list[str], what: str, numeric: bool) -> None:
    if key not in columns:
        raise SpecError(Diagnostic("E205", f"{what}: `{key}` is not a column", expected=", ".join(columns),
                                   hint=did_you_mean(key, columns)))
    if numeric and key in ("spec", "input", "output"):
        raise SpecError(Diagnostic("E202", f"{what}: `{key}` is not a number to plot",
                                   expected="a figure such as params, macs, memory, or a swept number"))


def _find(text: str, name: str) -> int:
    m = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)
    return m.start() if m else 0


def _number(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return show(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return _value(v) if abs(v) < 1e6 else f"{v:,.0f}"
    return show(v) if isinstance(v, tuple) else str(v)


def _plain(v: Any) -> Any:
    """A value as JSON holds it (a tuple is a list)."""
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _objectives(objectives: Sequence[Objective] | Objective | str | None, maximize: str | None,
                minimize: str | None) -> list[Objective]:
    out: list[Objective] = []
    if isinstance(objectives, Objective):
        out.append(objectives)
    elif isinstance(objectives, str):
        out.append(objective("maximize", objectives))
    elif objectives:
        out.extend(objectives)
    if maximize:
        out.append(objective("maximize", maximize))
    if minimize:
        out.append(objective("minimize", minimize))
    return out


def pareto_front(scores: Sequence[Sequence[float]], senses: Sequence[str]) -> list[int]:
    """Indices of the points no other point beats: at least as good on every objective and better on one
    (`senses`: "maximize" or "minimize" per objective). Best first by the first objective; equal points
    are all on the front. O(n log n + n·front)."""
    keys = [tuple(-v if s == "maximize" else v for v, s in zip(sc, senses)) for sc in scores]
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    front: list[int] = []
    for i in order:  # in this order, no later point can beat an earlier one
        ki = keys[i]
        if not any(all(a <= b for a, b in zip(keys[j], ki)) and keys[j] != ki for j in front):
            front.append(i)
    return front


# -- the entry point -----------------------------------------------------------------------------

GridSpec = Mapping[str, Any] | Sequence[str] | None


def sweep(spec: str | Path | Spec | Sequence[Any], grid: GridSpec = None, *, input: str | Sequence[str] | None = None,
          convention: str = "archspec", batch: int = 1, where: str | None = None,
          maximize: str | None = None, minimize: str | None = None, objectives: Sequence[Objective] = (),
          top: int | None = None, jobs: int = 1, progress: Progress | None = None) -> SweepTable:
    """Analyse every configuration of a grid; return the rows (with `where`: those within the budget; with
    `maximize` / `minimize`: the best, or the Pareto front of several objectives; `top`: the first N).

    `spec` is a spec (a name, a path, a loaded `Spec`) with `grid` (a dict of name → values, or a list of
    "NAME=VALUES" strings) and `input` (a shape template or a list of them); or a list of such
    (spec, grid[, input]) tuples, each spec its own grid. `jobs` > 1 analyses in that many processes
    (the same rows). `progress(done, total)` is called as configurations finish."""
    items = [(spec, grid, input)] if isinstance(spec, (str, Path, Spec)) else [tuple(s) for s in spec]
    grids = [make_grid(*item) for item in items]
    return run_grids(grids, convention=convention, batch=batch, where=where,
                     objectives=[*objectives, *_objectives(None, maximize, minimize)], top=top, jobs=jobs,
                     progress=progress)


def make_grid(spec: str | Path | Spec, grid: GridSpec = None, input: str | Sequence[str] | None = None) -> Grid:
    s = load(spec)
    label = Path(spec).stem if isinstance(spec, (str, Path)) and str(spec).endswith((".arch", ".yaml", ".yml")) \
        else s.name if isinstance(spec, Spec) else str(spec)
    if grid is None:
        axes = []
    elif isinstance(grid, Mapping):
        axes = [axis_from_python(k, v) for k, v in grid.items()]
    else:
        axes = [parse_axis(item) for item in grid]
    inputs = [parse_input(t) for t in ([input] if isinstance(input, str) else list(input or []))]
    g = Grid(s, label, axes, inputs)
    g.check()
    return g


def run_grids(grids: list[Grid], *, convention: str = "archspec", batch: int = 1, where: str | None = None,
              objectives: Sequence[Objective] = (), top: int | None = None, jobs: int = 1,
              progress: Progress | None = None) -> SweepTable:
    """Expand the grids, analyse every configuration, and select rows."""
    if convention not in CONVENTIONS:
        raise SpecError(Diagnostic("E202", f"unknown convention {convention!r}", expected=", ".join(CONVENTIONS)))
    for name, value in (("--batch", batch), ("--jobs", jobs), ("--top", top)):
        if value is not None and value < 1:
            raise SpecError(Diagnostic("E202", f"{name} must be at least 1, got {value}"))
    started = time.perf_counter()
    envs: list[list[dict[str, Value]]] = []
    work: list[tuple[int, dict[str, Value], dict[str, Shape] | None]] = []
    for k, g in enumerate(grids):
        confs = g.configurations(MAX_CONFIGURATIONS - len(work))
        envs.append(confs)
        work += [(k, *g.job(env)) for env in confs]
    results = _analyse(grids, work, convention=convention, batch=batch, processes=jobs, progress=progress)
    swept: list[str] = []
    for g in grids:
        swept += [a.name for a in g.axes if a.name not in swept]
    shadowed = {n for n in swept if n in FIGURE_COLUMNS}  # resnet's `depth`: the figure becomes `depth_figure`
    rows: list[dict[str, Any]] = []
    runs: list[SpecRun] = []
    it = iter(results)
    for g, confs in zip(grids, envs):
        run = SpecRun(g.label, g.spec.name, {a.name: a.text for a in g.axes}, [t.text for t in g.inputs],
                      configurations=len(confs))
        for env in confs:
            kind, value = next(it)
            if kind == "ok":
                rows.append({"spec": g.label, **_rename(value, shadowed), **env})
            else:
                run.invalid += 1
                if run.first_error is None:
                    run.first_error, run.first_error_at = value, env
        runs.append(run)
    table = SweepTable(rows, swept=swept, runs=runs, convention=convention, batch=batch,
                       elapsed=time.perf_counter() - started)
    if not rows:
        first = next((r for r in runs if r.first_error is not None), None)
        if first is not None and first.first_error is not None:
            raise SpecError(first.first_error)  # every configuration refused: that is the mistake to show
    table = table.where(where)
    if objectives or top:
        table = table.best(list(objectives), top=top)
    return table


def _rename(figs: dict[str, Any], shadowed: set[str]) -> dict[str, Any]:
    return {f"{k}_figure" if k in shadowed else k: v for k, v in figs.items()} if shadowed else figs


def describe_config(env: Mapping[str, Value]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in env.items())


def summary(table: SweepTable) -> list[str]:
    """Lines for the standard error: the rate, and each spec's refused configurations with the first."""
    from archspec.diagnostics import render

    n = table.configurations
    rate = n / table.elapsed if table.elapsed > 0 else 0
    lines = [f"{n:,} configuration{'s' if n != 1 else ''} analysed in {table.elapsed:.2f} s "
             f"({rate:,.0f} a second)" + (f"; {len(table):,} shown" if len(table) != n - table.invalid else "")]
    for r in table.runs:
        if r.invalid:
            lines.append(f"{r.invalid:,} of {r.configurations:,} configurations of {r.label} are invalid; "
                         f"the first ({describe_config(r.first_error_at) or 'the defaults'}):")
            assert r.first_error is not None
            lines.append(render(r.first_error))
    return lines
