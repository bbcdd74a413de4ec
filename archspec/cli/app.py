"""The command line: a thin client of the library. Each command parses its options and calls archspec.

Exit status: 0 on success, 2 for a mistake in the spec or the command line (one diagnostic, no
traceback unless --debug), 1 when a check finds a disagreement, 70 for an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError, render, render_rich
from archspec.files import check_output, parse_inputs, write_atomic
from archspec.lang.sets import parse_sets

EXIT_USAGE = 2
EXIT_INTERNAL = 70

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Any]:
    """Register `fn(parser)` as the options of a command whose body is the function `run_<name>`."""

    def deco(options: Callable[[argparse.ArgumentParser], None]) -> Any:
        COMMANDS[name] = (help, options)
        return options

    return deco


# -- shared options -------------------------------------------------------------------------------

def _spec_path(text: str) -> str:
    """The spec argument: always a path or a shipped spec's name, never source text (even with a newline)."""
    from archspec.lang.load import SpecPath

    return SpecPath(text)


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=_spec_path, help="a .arch or .yaml file, or a shipped spec's name (see `archspec zoo`)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a network parameter, e.g. --set depth=50 (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="SHAPE",
                   help="override the input shape, e.g. 3x299x299 (or NAME=SHAPE for one of several inputs)")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not c.is_terminal:  # piped or redirected: don't squeeze tables to 80 columns
        c.width = 160
    return c


# -- inputs and outputs ---------------------------------------------------------------------------

TORCH_COMMANDS = ("check", "train", "evaluate", "export", "import")  # and compile with --train, --init or --onnx
TORCH_INSTALL = ("`pip install torch --index-url https://download.pytorch.org/whl/cpu` (CPU only), "
                 "or `pip install torch` (with CUDA)")


def require_torch(command: str, data: bool = False) -> None:
    """The one check that PyTorch is there, before a command that needs it does anything."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # looked for, not imported: the command imports it
        raise SpecError(Diagnostic("E209", f"`archspec {command}` needs PyTorch, which is not installed; "
                                           f"install it with {TORCH_INSTALL}")) from None
    if (data or command in ("train", "evaluate")) and importlib.util.find_spec("numpy") is None:
        raise SpecError(Diagnostic("E209", f"`archspec {command}` needs numpy to read data, which is not installed; "
                                           "install it with `pip install 'archspec[train]'` (torch is there)"))


def _command_inputs(args: argparse.Namespace, specs: Sequence[str]) -> list[tuple[str, str]]:
    """The files a command reads, as (path, what it is): the specs and the files they `use`, a
    settings file, checkpoints, a data file."""
    from archspec.lang.load import load_source

    out: list[tuple[str, str]] = []
    for spec in specs:
        try:
            files = load_source(spec).files
        except SpecError:  # the command itself reports the mistake, before it writes anything
            continue
        out += [(f, f"the spec {spec}" if i == 0 else f"{Path(f).name}, a file the spec {spec} uses")
                for i, f in enumerate(files)]
    for attr, what in (("config", "the settings file (--config)"), ("init", "the checkpoint of --init"),
                       ("checkpoint", "the checkpoint")):
        value = getattr(args, attr, None)
        if isinstance(value, str) and value:
            out.append((value, what))
    data = getattr(args, "data", None)
    if isinstance(data, str):
        kind, colon, where = data.partition(":")
        if colon and kind != "synthetic":  # mnist:DIR, npz:FILE, ...; synthetic:N names no file
            out.append((where, "the data (--data)"))
    return out


def check_outputs(args: argparse.Namespace, specs: Sequence[str]) -> None:
    """Before any work: every output option (-o, --plot, --onnx) names a file that is none of the
    command's inputs and no other output, and not a folder, socket or block device."""
    outputs = [(opt, getattr(args, dest, None)) for opt, dest in (("-o", "output"), ("--plot", "plot"),
                                                                  ("--onnx", "onnx"))]
    given = [(opt, path) for opt, path in outputs if path is not None]
    if not given:
        return
    inputs = _command_inputs(args, specs)
    for i, (opt, path) in enumerate(given):
        check_output(path, opt, inputs)
        for o, p in given[:i]:
            if os.path.realpath(p) == os.path.realpath(path):
                raise SpecError(Diagnostic("E511", f"{opt} {path} is also the {o} output: one would overwrite the other",
                                           hint="give each output its own file"))


def write_output(option: str, path: str | Path, data: str | bytes) -> None:
    """Write an output file whole or not at all (archspec.files.write_atomic); a failure is a diagnostic."""
    try:
        write_atomic(path, data)
    except OSError as e:
        raise SpecError(Diagnostic("E513", f"cannot write {option} {path}: {_write_failure(path, e)}")) from None


def _write_failure(path: str | Path, e: OSError) -> str:
    for parent in Path(path).parents:  # `-o spec.arch/out.json`: a folder on the way is a file
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is not a folder"
            break
    return e.strerror or str(e)


def is_model_target(text: str) -> bool:
    """`module:factory` or `file.py[:Class]` (not a spec file, not a shipped spec's name)."""
    t = str(text)
    if "\n" in t or t.endswith((".arch", ".yaml", ".yml")):
        return False
    if t.endswith(".py") or ".py:" in t:
        return True
    head, colon, tail = t.partition(":")
    return bool(colon and tail and head and all(p.isidentifier() for p in head.split(".")) and "/" not in head)


def imported_spec(spec: str, inputs: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
    """A spec argument as given, or a PyTorch model (`module:factory`, `file.py:Class`) or an ONNX file
    imported on the fly (`archspec import`): then a loaded spec (labelled with the argument) and no input
    override (the import used it)."""
    if not (is_model_target(spec) or str(spec).endswith(".onnx")):
        return spec, inputs
    require_torch("import")
    from archspec.pipeline import load
    from archspec.pytorch.importer import import_any

    shape = None
    if inputs:
        if set(inputs) != {"*"}:
            raise SpecError(Diagnostic("E202", "an imported model takes one --input SHAPE"))
        shape = inputs["*"]
    result = import_any(str(spec), shape)
    loaded = load(f"{result.name}.arch", text=result.arch)
    loaded.label = str(spec)  # type: ignore[attr-defined]
    return loaded, None


def _depth_option(depth: int | None) -> None:
    if depth is not None and depth < 0:
        raise SpecError(Diagnostic("E202", f"--depth must be 0 or more, got {depth}",
                                   hint="--depth 0 shows the top level with every block as one row"))


# -- analyze --------------------------------------------------------------------------------------

@command("analyze", "shapes, parameters and MACs of every layer, with FLOPs, memory, receptive field and more "
                    "as --columns, and the totals")
def _analyze_options(p: argparse.ArgumentParser) -> None:
    from archspec.kinds.base import CONVENTIONS
    from archspec.report.table import COLUMNS, DEFAULT_COLUMNS

    _spec_options(p)
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for MACs, FLOPs and memory")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="show blocks nested deeper than N block levels as one row each (branches are not levels)")
    p.add_argument("--columns", action="append", default=None, metavar="NAMES",
                   help="the table's columns after Layer and Kind, comma-separated: " + ", ".join(COLUMNS).replace("%", "%%")
                        + f" (or all; default {','.join(DEFAULT_COLUMNS)}); +NAME adds to the default ones, "
                          "e.g. --columns +flops,memory,rf (table, markdown and csv)")
    p.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    p.add_argument("--convention", choices=CONVENTIONS, default="archspec",
                   help="how MACs are counted: ours, or as torchinfo, fvcore, thop or ptflops count them")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--training", action="store_true",
                   help="add what a training step holds at --batch: weights, gradients, optimizer state, "
                        "activations kept for backward, total")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "sgd-nomomentum"), default=None,
                   help="the optimizer of --training (default adam)")
    _freeze_option(p)


def run_analyze(args: argparse.Namespace) -> int:
    from archspec import api as archspec

    if args.batch < 1:
        raise SpecError(Diagnostic("E202", f"--batch must be at least 1, got {args.batch}"))
    _depth_option(args.depth)
    columns = _columns_option(args)
    check_outputs(args, [args.spec])
    if args.optimizer is not None and not args.training:
        raise SpecError(Diagnostic("E202", "--optimizer chooses the optimizer of --training",
                                   hint="add --training, or leave --optimizer out"))
    spec, inputs = imported_spec(args.spec, parse_inputs(args.input))
    a = archspec.analyze(spec, params=parse_sets(args.set), input=inputs, batch=args.batch,
                         convention=args.convention, partial=True, freeze=args.freeze)
    if args.training and a.error is None:
        a.with_training(args.optimizer or "adam")
    for w in a.warnings:
        _print_diagnostic(w, plain=args.no_color)
    if args.format == "json":
        text = a.to_json()
    elif args.format == "csv":
        text = a.to_csv(columns)
    elif args.format == "markdown":
        text = a.to_markdown(args.depth, columns)
    else:
        text = None
    if args.output:
        if text is None:
            from archspec.report.table import plain

            text = plain(a, args.depth, columns)
        if a.error is None:
            write_output("-o", args.output, text)
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        depth = args.depth
        if depth is None and a.error is None:
            depth = a.auto_depth()
            if depth is not None:
                _console(stderr=True).print(f"({len(a.rows):,} layers: blocks below depth {depth} are collapsed; "
                                            f"--depth {depth + 1} or more shows more)", style="dim")
        from archspec.report.table import print_fitted

        print_fitted(_console(), a.table(depth, columns))
    if a.error is not None:
        _console(stderr=True).print("\nThe analysis stopped at this mistake; the table shows the layers before it.",
                                    style="yellow")
        raise a.error
    return 0


def _columns_option(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--columns, checked: None when not given (each format's own columns)."""
    from archspec.report.table import COLUMNS, parse_columns

    if args.columns is None:
        return None
    if args.format == "json":
        raise SpecError(Diagnostic("E202", "--columns chooses the columns of a table, markdown or csv; "
                                           "the JSON output holds every figure",
                                   hint="leave out --columns, or give --format table, markdown or csv"))
    try:
        return parse_columns(args.columns)
    except ValueError as e:
        raise SpecError(Diagnostic("E202", f"--columns: {e}", expected=", ".join(COLUMNS) + ", all")) from None


# -- layers ---------------------------------------------------------------------------------------

@command("layers", "list the layer kinds with their arguments and formulas")
def _layers_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", help="show one kind in full")


def run_layers(args: argparse.Namespace) -> int:
    from archspec.kinds import KINDS, REGISTRY
    from archspec.kinds.docs import kind_markdown, kinds_table

    if args.kind:
        kind = REGISTRY.get(args.kind)
        if kind is None:
            from archspec.diagnostics import did_you_mean

            raise SpecError(Diagnostic("E200", f"unknown layer kind `{args.kind}`", hint=did_you_mean(args.kind, REGISTRY)))
        text = kind_markdown(kind)
        if sys.stdout.isatty():  # a terminal: the Markdown rendered (piped: the Markdown itself)
            from archspec.kinds.docs import markdown_renderable

            _console().print(markdown_renderable(text))
        else:
            sys.stdout.write(text)
        return 0
    del KINDS
    _console().print(kinds_table())
    return 0


# -- render ---------------------------------------------------------------------------------------

@command("render", "draw the network with graphviz: a layer graph, or feature maps as 3D boxes (svg, png, pdf, dot)")
def _render_options(p: argparse.ArgumentParser) -> None:
    from archspec.draw.render import COST_METRICS, FORMATS, STYLES

    _spec_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the picture to write; its extension gives the format (default: NETWORK.svg here)")
    p.add_argument("--format", choices=FORMATS, help="svg, png, pdf, dot (graphviz's text), or html (the interactive page)")
    p.add_argument("--style", choices=STYLES, default="graph", help="graph (default) or volumes (3D feature maps)")
    p.add_argument("--depth", type=int, default=None, metavar="N", help="draw blocks nested deeper than N as one box")
    p.add_argument("--expand", action="append", default=[], metavar="NAME",
                   help="draw this block open (an instance such as stage3.bottleneck2, or a block name), or "
                        "attention layers as their steps (`attention`, `window_attention`, or a layer id); repeatable")
    p.add_argument("--rankdir", choices=("TB", "LR"), default=None, help="top to bottom (graph default) or left to right")
    p.add_argument("--costs", nargs="?", const="macs", choices=COST_METRICS, default=None,
                   help="print parameters and MACs on the boxes and shade them by MACs (or by params)")
    p.add_argument("--no-legend", action="store_true", help="leave out the colour legend")
    p.add_argument("--no-edge-labels", action="store_true", help="do not label edges with tensor shapes")
    p.add_argument("--title", default=None, help="the diagram's title (default: the network's name and parameters)")
    p.add_argument("--dpi", type=int, default=150,
                   help="resolution of png output, and of a --width in px (default 150)")
    slide = p.add_argument_group("size", "the figure is made for a frame: a 16:9 slide, 13.33 × 7.5 in, by default")
    slide.add_argument("--width", default="13.33in", metavar="LENGTH",
                       help="the frame's width: 13.33in (default), 30cm, 1920px (at --dpi), or none (natural size)")
    slide.add_argument("--aspect", default="16:9", metavar="W:H", help="the frame's width:height (default 16:9)")
    slide.add_argument("--wrap", default="auto", metavar="N",
                       help="rows (columns, top to bottom): auto (default) to fit the frame, or a number; 1 for none")
    slide.add_argument("--font-scale", type=float, default=1.0, metavar="F",
                       help="all text F times its default size (default 1)")


def run_render(args: argparse.Namespace) -> int:
    from archspec.draw.figures import figure
    from archspec.draw.render import DotNotFound, output_format, to_bytes
    from archspec.report.analysis import analyze

    fmt = output_format(args.output, args.format)
    _depth_option(args.depth)
    check_outputs(args, [args.spec])
    a = analyze(args.spec, params=parse_sets(args.set), input=parse_inputs(args.input))
    if fmt == "html":
        return _render_html(a, args)
    dg, layout = figure(a, style=args.style, depth=args.depth, expand=args.expand, rankdir=args.rankdir or "TB",
                        costs=args.costs, legend=not args.no_legend, edge_labels=not args.no_edge_labels,
                        title=True if args.title is None else args.title, width=args.width, aspect=args.aspect,
                        wrap=args.wrap, font_scale=args.font_scale, dpi=args.dpi)
    if args.output is None and fmt == "dot":
        sys.stdout.write(dg.source)
        return 0
    path = args.output or f"{a.name}.{fmt}"
    try:
        data = to_bytes(dg, fmt, dpi=args.dpi)
    except DotNotFound as e:
        raise SpecError(Diagnostic("E209", str(e))) from None
    write_output("-o", path, data)
    print(f"wrote {path}", file=sys.stderr)
    if note := layout.note():
        print(f"archspec: note: {note}", file=sys.stderr)
    return 0


def _render_html(a: Any, args: argparse.Namespace) -> int:
    """`render -o x.html`: the interactive page (docs/render.md)."""
    from archspec.draw.html import human_size, view

    if args.style != "graph":
        raise SpecError(Diagnostic("E202", "--style volumes: the HTML view draws the graph style",
                                   hint="leave out --style, or write .svg, .png or .pdf for the volumes"))
    v = view(a, depth=args.depth, expand=args.expand, costs=args.costs, rankdir=args.rankdir or "TB",
             edge_labels=not args.no_edge_labels, title=True if args.title is None else args.title)
    path = args.output or f"{a.name}.html"
    data = v.html.encode()
    write_output("-o", path, data)
    print(f"wrote {path} ({human_size(len(data))})", file=sys.stderr)
    return 0


@command("serve", "the interactive view on a local web page, redrawn whenever the spec file is saved")
def _serve_options(p: argparse.ArgumentParser) -> None:
    from archspec.draw.render import COST_METRICS

    _spec_options(p)
    p.add_argument("--port", type=int, default=8000, metavar="N", help="the port on 127.0.0.1 (default 8000; 0: any free one)")
    p.add_argument("--open", action="store_true", help="open the page in the web browser")
    p.add_argument("--depth", type=int, default=None, metavar="N", help="open blocks down to N levels at first")
    p.add_argument("--expand", action="append", default=[], metavar="NAME", help="open this block at first; repeatable")
    p.add_argument("--costs", nargs="?", const="macs", choices=(*COST_METRICS, "memory"), default=None,
                   help="shade the boxes by MACs (or params, memory) at first")


def run_serve(args: argparse.Namespace) -> int:
    from archspec.draw.serve import serve

    if not 0 <= args.port <= 65535:
        raise SpecError(Diagnostic("E202", f"--port must be 0 to 65535, got {args.port}"))
    try:
        serve(args.spec, port=args.port, params=parse_sets(args.set), input=parse_inputs(args.input),
              depth=args.depth, expand=args.expand, costs=args.costs, open_browser=args.open,
              announce=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("archspec serve: stopped", file=sys.stderr)
    return 0


# -- compare and zoo ------------------------------------------------------------------------------

_SPEC_OPTIONS = ("--set", "--input")  # in `compare`, these apply to the spec written before them
_VALUE_OPTIONS = ("--format", "--convention", "--batch", "--plot", "-o", "--output", "--dpi", "--x", "--y", "--color",
                  "--colour")
_COMPARE_USAGE = "archspec compare SPEC [--set NAME=VALUE ...] [--input SHAPE] [SPEC ...] [options]"


def _table_options(p: argparse.ArgumentParser) -> None:
    from archspec.kinds.base import CONVENTIONS

    p.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    p.add_argument("--convention", choices=CONVENTIONS, default="archspec",
                   help="how MACs are counted: ours, or as torchinfo, fvcore, thop or ptflops count them")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def _compare_options(p: argparse.ArgumentParser) -> None:
    _table_options(p)
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for MACs and memory")
    _plot_options(p, "also draw a chart of the networks (MACs against parameters unless --x/--y say otherwise)")


def _plot_options(p: argparse.ArgumentParser, help: str, colour: str = "") -> None:
    """--plot and how the chart looks: shared by `compare` and `sweep` (archspec/draw/chart.py)."""
    p.add_argument("--plot", metavar="FILE", help=help + "; FILE.svg, FILE.png or FILE.pdf (needs matplotlib: "
                                                       "pip install 'archspec[plot]')")
    p.add_argument("--x", default="macs", metavar="COLUMN", help="the chart's x axis (default: macs)")
    p.add_argument("--y", default="params", metavar="COLUMN", help="the chart's y axis (default: params)")
    p.add_argument("--color", "--colour", dest="color", metavar="COLUMN", help="colour the points by this column"
                   + colour)
    p.add_argument("--dpi", type=int, default=150, metavar="N", help="resolution of a .png chart (default 150)")
    p.add_argument("--no-front", action="store_true", help="do not mark the Pareto front on the chart")


def _check_plot(args: argparse.Namespace) -> str | None:
    """The chart's format from --plot's suffix, checked (with matplotlib's presence) before any work."""
    if not args.plot:
        return None
    from archspec.draw.chart import output_format, require_matplotlib

    fmt = output_format(args.plot)
    if args.dpi < 10 or args.dpi > 2400:
        raise SpecError(Diagnostic("E202", f"--dpi must be between 10 and 2400, got {args.dpi}"))
    require_matplotlib()
    return fmt


@command("compare", "networks side by side: parameters, MACs, memory, depth, receptive field")
def _compare_command(p: argparse.ArgumentParser) -> None:
    p.usage = _COMPARE_USAGE
    p.add_argument("items", nargs=argparse.REMAINDER, metavar="SPEC [--set NAME=VALUE ...] [--input SHAPE]",
                   help="specs to compare; --set and --input apply to the spec written before them")
    _compare_options(p)


def split_compare_args(items: Sequence[str]) -> tuple[list[tuple[str, list[str], list[str]]], list[str]]:
    """`vgg16 resnet --set depth=50 --format json` → [(vgg16, [], []), (resnet, [depth=50], [])], [--format, json]."""
    specs: list[tuple[str, list[str], list[str]]] = []
    rest: list[str] = []
    it = iter(items)
    for tok in it:
        opt, eq, value = tok.partition("=")
        if opt in _SPEC_OPTIONS:
            if not eq:
                value = next(it, "")
            if not specs:
                raise SpecError(Diagnostic("E207", f"{opt} {value} comes before any spec",
                                           hint=f"write it after the spec it applies to: "
                                                f"`archspec compare resnet {opt} {value or '...'}`"))
            if not value:
                raise SpecError(Diagnostic("E207", f"{opt} needs a value", hint="for example --set depth=50"))
            _, sets, inputs = specs[-1]
            (sets if opt == "--set" else inputs).append(value)
        elif tok.startswith("-"):
            rest.append(tok)
            if opt in _VALUE_OPTIONS and not eq:
                rest.append(next(it, ""))
        else:
            specs.append((_spec_path(tok), [], []))
    return specs, rest


def run_compare(args: argparse.Namespace) -> int:
    from archspec.report.compare import compare

    specs, rest = split_compare_args(args.items)
    if rest:  # options written after the first spec
        p = argparse.ArgumentParser(prog="archspec compare", usage=_COMPARE_USAGE)
        _compare_options(p)
        _global_options(p, suppress=True)
        p.parse_args(rest, namespace=args)
    if not specs:
        raise SpecError(Diagnostic("E207", "`compare` needs at least one spec",
                                   hint="for example `archspec compare vgg16 resnet --set depth=50 googlenet`"))
    if args.batch < 1:
        raise SpecError(Diagnostic("E202", f"--batch must be at least 1, got {args.batch}"))
    fmt = _check_plot(args)
    check_outputs(args, [spec for spec, _, _ in specs])
    items = []
    for spec, sets, inputs in specs:
        source, shape = imported_spec(spec, parse_inputs(inputs))
        items.append((source, parse_sets(sets), shape))
    c = compare(items,
                convention=args.convention, batch=args.batch)
    chart = None
    if fmt:
        from archspec.draw.chart import render

        chart = render(c.chart(args.x, args.y, args.color, not args.no_front), fmt, args.dpi)
    _emit(c, args)  # the chart is drawn first: nothing is written when it cannot be
    if chart is not None:
        write_output("--plot", args.plot, chart)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


@command("zoo", "the shipped specs, with a line of description and their parameters and MACs")
def _zoo_options(p: argparse.ArgumentParser) -> None:
    _table_options(p)


def run_zoo(args: argparse.Namespace) -> int:
    from archspec.report.compare import zoo

    check_outputs(args, [])
    c, failed = zoo(args.convention)
    _emit(c, args)
    for name, message in failed:
        print(f"archspec zoo: {name} does not build: {message}", file=sys.stderr)
    return 1 if failed else 0


def _emit(c: Any, args: argparse.Namespace) -> None:
    """Write a comparison in the chosen format, to standard output or to --output."""
    text = {"json": c.to_json, "csv": c.to_csv, "markdown": c.to_markdown}.get(args.format, lambda: None)()
    if text is None and args.output:
        import io

        from rich.console import Console

        console = Console(width=160, color_system=None, file=io.StringIO(), record=True)
        console.print(c.table())
        text = console.export_text()
    if args.output:
        write_output("-o", args.output, text)
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        console = _console()
        if not console.is_terminal:  # a pipe or a file: no terminal width to fit, keep rows on one line
            console.width = max(console.width, 160)
        console.print(c.table())


# -- sweep ----------------------------------------------------------------------------------------

_SWEEP_USAGE = ("archspec sweep SPEC [--set NAME=VALUES ...] [--input SHAPE] [SPEC ...] [--where EXPR] "
                "[--maximize EXPR] [--minimize EXPR] [--top N] [options]")
_SWEEP_VALUE_OPTIONS = ("--format", "--convention", "--batch", "--plot", "-o", "--output", "--dpi", "--x", "--y",
                        "--color", "--colour", "--where", "--maximize", "--minimize", "--top", "--jobs", "-j")


class _Objective(argparse.Action):
    """--maximize / --minimize, kept in the order written (several make a Pareto front)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((self.const, values))
        setattr(namespace, self.dest, items)


def _sweep_options(p: argparse.ArgumentParser) -> None:
    from archspec.kinds.base import CONVENTIONS

    p.add_argument("--where", metavar="EXPR", help='keep the configurations within a budget, e.g. '
                   '"macs <= 400e6 and params <= 5e6" (columns: params, macs, flops, activations, memory, '
                   'param_bytes, activation_bytes, depth, layers, receptive_field, input, output, and the swept names)')
    p.add_argument("--maximize", action=_Objective, const="maximize", dest="objectives", default=[], metavar="EXPR",
                   help="show the best configuration by this column or expression (with another objective: "
                        "the Pareto front)")
    p.add_argument("--minimize", action=_Objective, const="minimize", dest="objectives", default=[], metavar="EXPR",
                   help="likewise, the smallest")
    p.add_argument("--top", type=int, metavar="N", help="show the N best configurations (or the first N of the front)")
    p.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--convention", choices=CONVENTIONS, default="archspec",
                   help="how MACs are counted: ours, or as torchinfo, fvcore, thop or ptflops count them")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for MACs, FLOPs and memory")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="analyse in N processes (the same rows; worth it from a few thousand configurations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on the terminal")
    _plot_options(p, "also draw every configuration", colour=" (default: the spec, or the first swept name)")


@command("sweep", "a family of networks: every configuration of a grid of parameters and input sizes, "
                  "with budgets, objectives, the Pareto front and a chart")
def _sweep_command(p: argparse.ArgumentParser) -> None:
    p.usage = _SWEEP_USAGE
    p.epilog = ("VALUES is a list (18,34,50), a range (0.5:2:0.25, the end included) or an expression over the "
                "names set before it (1.2**phi); --input 3x{r}x{r} sweeps the input with a name r. "
                "See docs/sweep.md.")
    p.add_argument("items", nargs=argparse.REMAINDER, metavar="SPEC [--set NAME=VALUES ...] [--input SHAPE]",
                   help="specs to sweep; --set and --input apply to the spec written before them")
    _sweep_options(p)


def split_sweep_args(items: Sequence[str]) -> tuple[list[tuple[str, list[str], list[str]]], list[str]]:
    """`resnet --set depth=18,34 --where "macs < 4e9"` → [(resnet, [depth=18,34], [])], [--where=macs < 4e9].
    Options with a value come back as one `--option=value` token (a value may start with `-`)."""
    specs: list[tuple[str, list[str], list[str]]] = []
    rest: list[str] = []
    it = iter(items)
    for tok in it:
        opt, eq, value = tok.partition("=")
        if opt in ("--set", "--input"):
            if not eq:
                value = next(it, "")
            if not specs:
                raise SpecError(Diagnostic("E207", f"{opt} {value} comes before any spec",
                                           hint=f"write it after the spec it applies to: "
                                                f"`archspec sweep resnet {opt} {value or '...'}`"))
            if not value:
                raise SpecError(Diagnostic("E207", f"{opt} needs a value", hint="for example --set depth=18,34,50"))
            _, sets, inputs = specs[-1]
            (sets if opt == "--set" else inputs).append(value)
        elif tok.startswith("-") and len(tok) > 1:
            if opt in _SWEEP_VALUE_OPTIONS and not eq:
                given = next(it, None)
                if given is None:
                    raise SpecError(Diagnostic("E207", f"{opt} needs a value"))
                rest.append(f"{opt}={given}" if opt.startswith("--") else opt + given)
            else:
                rest.append(tok)
        else:
            specs.append((tok, [], []))
    return specs, rest


class _ProgressBar:
    """A progress bar with the rate and time left on the terminal's standard error, shown once a sweep
    has run for half a second (short sweeps finish without one)."""

    def __init__(self, enabled: bool) -> None:
        import time

        self.enabled = enabled
        self.started = time.perf_counter()
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            import time

            if time.perf_counter() - self.started < 0.5 or done >= total:
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(), console=_console(stderr=True),
                                     transient=True)
            self.progress.start()
            self.task = self.progress.add_task("sweep", total=total)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def run_sweep(args: argparse.Namespace) -> int:
    from archspec.report.sweep import make_grid, objective, run_grids, summary

    specs, rest = split_sweep_args(args.items)
    if rest:  # options written after the first spec
        p = argparse.ArgumentParser(prog="archspec sweep", usage=_SWEEP_USAGE)
        _sweep_options(p)
        p.parse_args(rest, namespace=args)
    if not specs:
        raise SpecError(Diagnostic("E207", "`sweep` needs a spec",
                                   hint="for example `archspec sweep resnet --set depth=18,34,50,101,152`"))
    fmt = _check_plot(args)
    check_outputs(args, [spec for spec, _, _ in specs])
    objectives = [objective(sense, text) for sense, text in args.objectives]
    grids = [make_grid(spec, sets, inputs) for spec, sets, inputs in specs]
    bar = _ProgressBar(not args.no_progress and sys.stderr.isatty())
    try:
        table = run_grids(grids, convention=args.convention, batch=args.batch, where=args.where,
                          objectives=objectives, top=args.top, jobs=args.jobs, progress=bar)
    finally:
        bar.close()
    chart = None
    if fmt:
        from archspec.draw.chart import render

        chart = render(table.chart(args.x, args.y, args.color, not args.no_front), fmt, args.dpi)
    _emit(table, args)
    for line in summary(table):
        print(line, file=sys.stderr)
    if len(table) > 500 and args.format in ("table", "markdown"):
        print(f"(the table shows the first 500 of {len(table):,} rows: --format csv or json writes them all, "
              f"--top N picks the best)", file=sys.stderr)
    if not table.rows:
        print("no configuration is within --where" if args.where else "no configuration", file=sys.stderr)
    if chart is not None:
        write_output("--plot", args.plot, chart)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


@command("fmt", "write a spec out again, as .arch or as YAML: `archspec fmt vgg16 --to yaml`")
def _fmt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a .arch or .yaml file, or a shipped spec's name (see `archspec zoo`)")
    p.add_argument("--to", choices=("arch", "yaml"),
                   help="the form to write (default: the -o file's suffix, else the spec's own form)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def run_fmt(args: argparse.Namespace) -> int:
    from archspec.report.fmt import convert_file

    to = args.to
    if to is None and args.output:
        to = "yaml" if args.output.endswith((".yaml", ".yml")) else "arch" if args.output.endswith(".arch") else None
    check_outputs(args, [args.spec])
    text = convert_file(args.spec, to)
    if args.output:
        write_output("-o", args.output, text)
    else:
        sys.stdout.write(text)
    return 0


# -- compile and check -----------------------------------------------------------------------------

def _freeze_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--freeze", action="append", default=[], metavar="NAME",
                   help="freeze a layer or block (a name as the analysis lists it: stage1, stage2.conv1); "
                        "repeatable")


@command("compile", "compile a spec to PyTorch: a standalone Python file that imports only torch (or ONNX)")
def _compile_options(p: argparse.ArgumentParser) -> None:
    _spec_options(p)
    _freeze_option(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the Python file to FILE (default: standard output)")
    p.add_argument("--onnx", metavar="FILE", help="also export the model to ONNX (needs the `onnx` package)")
    p.add_argument("--class-name", metavar="NAME", help="the model class's name (default: from the network's name)")
    from archspec.cli.train import train_options

    train_options(p, flag=True)  # `archspec compile SPEC --train`: the options of `archspec train`


def run_compile(args: argparse.Namespace) -> int:
    import importlib.util

    from archspec.pytorch.source import generate_source

    if args.train:
        return _compile_train(args)
    from archspec.cli.train import given_training_options

    given = given_training_options(args)
    if given:
        raise SpecError(Diagnostic("E202", f"{given[0]} is an option of training, and this command does not train",
                                   notes=[f"also given: {', '.join(given[1:])}"] if len(given) > 1 else [],
                                   hint="add --train to train the network (`archspec train --help`), or leave "
                                        f"{'them' if len(given) > 1 else 'it'} out"))
    if args.init is not None and not args.output:
        raise SpecError(Diagnostic("E202", "--init writes the weights beside the generated file: give it with -o FILE",
                                   hint="for example -o model.py (the weights go to model.pt); `archspec export "
                                        "RUN` writes a trained run's files"))
    if args.onnx or args.init is not None:
        require_torch("compile")
    check_outputs(args, [args.spec])
    if args.init is not None:
        _check_weights_output(args)
    if args.onnx and importlib.util.find_spec("onnx") is None:
        raise SpecError(Diagnostic("E209", "--onnx needs the `onnx` package, which is not installed: "
                                           "pip install 'archspec[onnx]'"))
    if args.class_name is not None and (not args.class_name.isidentifier() or not args.class_name.isascii()):
        raise SpecError(Diagnostic("E202", f"--class-name must be a Python identifier, got {args.class_name!r}"))
    sets, inputs = parse_sets(args.set), parse_inputs(args.input)
    if args.init is not None:
        from archspec.pytorch.export import compile_with_weights

        for line in compile_with_weights(args.spec, args.init, args.output, params=sets, input=inputs,
                                         freeze=args.freeze, class_name=args.class_name):
            print(line, file=sys.stderr)
    else:
        code = generate_source(args.spec, params=sets, input=inputs, freeze=args.freeze, class_name=args.class_name)
        if args.output:
            write_output("-o", args.output, code)
            print(f"wrote {args.output}", file=sys.stderr)
        elif not args.onnx:
            sys.stdout.write(code)
    if args.onnx:
        from archspec.pytorch.module import export_onnx

        try:
            if args.init is not None:  # the ONNX file holds the same weights as the Python file
                from archspec.pytorch.export import load_trained, write_onnx

                write_onnx(load_trained(args.init, spec=args.spec, params=sets, input=inputs, freeze=args.freeze),
                           Path(args.onnx))
            else:
                export_onnx(args.spec, args.onnx, params=sets, input=inputs, freeze=args.freeze)
        except OSError as e:
            raise SpecError(Diagnostic("E513", f"cannot write --onnx {args.onnx}: {_write_failure(args.onnx, e)}")) from None
        print(f"wrote {args.onnx}", file=sys.stderr)
    return 0


def _check_weights_output(args: argparse.Namespace) -> None:
    """-o FILE with weights: they go to FILE with the suffix .pt, which must be no input either."""
    weights = Path(args.output).with_suffix(".pt")
    if weights == Path(args.output):
        raise SpecError(Diagnostic("E511", f"-o {args.output}: the weights go beside the Python file, with the "
                                           "suffix .pt, and would overwrite it", hint="give a name ending in .py"))
    check_output(weights, f"-o {args.output}: its weights file", _command_inputs(args, [args.spec]))


def _compile_train(args: argparse.Namespace) -> int:
    """`archspec compile SPEC --train [-o FILE]`: train, then write the Python file with the trained weights
    beside it (FILE with the suffix .pt)."""
    require_torch("compile", data=True)
    if args.onnx:
        raise SpecError(Diagnostic("E202", "--onnx with --train: the ONNX file of a trained network is written by "
                                           "`archspec export RUN --format onnx`",
                                   hint="leave --onnx out; after training, export the run folder"))
    if args.output:
        check_outputs(args, [args.spec])
        _check_weights_output(args)
    from archspec.cli.train import status_of, train_result

    result = train_result(args)
    status = status_of(result)
    if status == 0 and args.output and result.out is not None:
        from archspec.pytorch.export import compile_with_weights

        for line in compile_with_weights(None, result.out / "last.pt", args.output, class_name=args.class_name):
            print(line, file=sys.stderr)
    return status


@command("check", "compile a spec and compare the PyTorch module with the analysis, layer by layer")
def _check_options(p: argparse.ArgumentParser) -> None:
    _spec_options(p)
    _freeze_option(p)
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size of the meta-device run (at least 2; the figures are per sample)")
    p.add_argument("--no-cpu", action="store_true", help="leave out the small real forward on the CPU")
    p.add_argument("--all", action="store_true", help="list every layer, not only those that disagree")
    p.add_argument("--format", choices=("table", "json"), default="table")


def run_check(args: argparse.Namespace) -> int:
    from archspec import api as archspec

    if args.batch < 1:
        raise SpecError(Diagnostic("E202", f"--batch must be at least 1, got {args.batch}"))
    report = archspec.check(args.spec, params=parse_sets(args.set), input=parse_inputs(args.input),
                            freeze=args.freeze, batch=args.batch, cpu=not args.no_cpu)
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=list) + "\n")
    else:
        _console().print(report.table(everything=args.all))
    return 0 if report.ok else 1


# -- import (archspec/pytorch/importer.py) ----------------------------------------------------------------

@command("import", "a PyTorch model (`package.module:factory`, `file.py:Class`) or an ONNX file as a spec")
def _import_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="`package.module:factory`, `package.module:factory(depth=50)`, `file.py:ClassName` "
                                 "or `model.onnx`")
    p.add_argument("--input", metavar="SHAPE", help="the sample input, channels first without the batch: 3x224x224")
    p.add_argument("-o", "--output", metavar="FILE", help="write the spec to FILE (default: standard output)")
    p.add_argument("--to", choices=("arch", "yaml"), help="the form (default: the -o file's suffix, else .arch)")
    p.add_argument("--name", help="the network's name (default: from the class or factory)")
    p.add_argument("--partial", action="store_true",
                   help="write the spec up to an operation archspec cannot express (still exit status 2)")
    p.add_argument("--check", action="store_true",
                   help="prove the import: the spec's figures and outputs against the original's")


def run_import(args: argparse.Namespace) -> int:
    from archspec.files import parse_shape
    from archspec.pytorch.importer import import_any

    to = args.to
    if to is None:
        to = "yaml" if args.output and args.output.endswith((".yaml", ".yml")) else "arch"
    shape = None
    if args.input:
        try:
            shape = parse_shape(args.input)
        except ValueError as e:
            raise SpecError(Diagnostic("E202", f"--input: {e}", hint="for example --input 3x224x224")) from None
    check_outputs(args, [])
    if args.check and args.model.endswith(".onnx"):
        raise SpecError(Diagnostic("E202", "--check runs the original model, and archspec does not run ONNX files",
                                   hint="import the PyTorch model itself (`module:factory`) to check the round trip"))
    if args.output and os.path.realpath(args.output) == os.path.realpath(args.model.split(":")[0]):
        raise SpecError(Diagnostic("E511", f"-o {args.output} is the model being imported"))
    result = import_any(args.model, shape, to=to, partial=args.partial, name=args.name)
    if result.error is not None:  # --partial: the spec up to the operation, and the diagnostic
        if args.output:
            write_output("-o", args.output, result.text)
            print(f"wrote {args.output} (partial)", file=sys.stderr)
        else:
            sys.stdout.write(result.text)
        raise result.error
    if args.output:
        write_output("-o", args.output, result.text)
        print(f"wrote {args.output}", file=sys.stderr)
    elif not args.check:
        sys.stdout.write(result.text)
    if args.check:
        from archspec.pytorch.roundtrip import round_trip

        report = round_trip(result)
        for line in report.lines():
            print(line)
        return 0 if report.ok else 1
    return 0


# -- train and evaluate (archspec/pytorch/train/) ---------------------------------------------------------

@command("train", "train a spec on built-in synthetic data or real data (MNIST, CIFAR-10, image folders, npz)")
def _train_options(p: argparse.ArgumentParser) -> None:
    from archspec.cli.train import train_options

    _spec_options(p)
    train_options(p)


def run_train(args: argparse.Namespace) -> int:
    from archspec.cli.train import run_train as run

    return run(args)


@command("evaluate", "score a checkpoint of `archspec train`: test accuracy and confusion matrix")
def _evaluate_options(p: argparse.ArgumentParser) -> None:
    from archspec.cli.train import evaluate_options

    _spec_options(p)
    evaluate_options(p)


def run_evaluate(args: argparse.Namespace) -> int:
    from archspec.cli.train import run_evaluate as run

    return run(args)


@command("export", "write a trained network's files: the standalone .py with its weights, safetensors, ONNX")
def _export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="a run folder of `archspec train` (its best.pt, else "
                                                           "last.pt) or a checkpoint file")
    p.add_argument("--format", action="append", default=None, metavar="NAMES",
                   help="py, safetensors, onnx, comma-separated (default: every one whose package is installed)")
    p.add_argument("-o", "--out", metavar="DIR", help="the folder to write to (default: export/ beside the checkpoint)")
    p.add_argument("--spec", type=_spec_path, help="the spec (default: the run folder's copy, or the shipped "
                                                   "spec the checkpoint names)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a network parameter, over those the checkpoint records (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="SHAPE",
                   help="the input shape (default: the one the checkpoint records)")
    p.add_argument("--opset", type=int, default=None, metavar="N", help="the ONNX opset (default 17)")
    p.add_argument("--class-name", metavar="NAME", help="the model class's name in the .py file")


def run_export(args: argparse.Namespace) -> int:
    from archspec.pytorch.export import DEFAULT_OPSET, export

    formats = [f.strip() for item in args.format for f in item.split(",") if f.strip()] if args.format else None
    if args.class_name is not None and (not args.class_name.isidentifier() or not args.class_name.isascii()):
        raise SpecError(Diagnostic("E202", f"--class-name must be a Python identifier, got {args.class_name!r}"))
    result = export(args.run, out=args.out, formats=formats, spec=args.spec, params=parse_sets(args.set),
                    input=parse_inputs(args.input), opset=args.opset or DEFAULT_OPSET, class_name=args.class_name)
    for line in result.lines:
        print(line, file=sys.stderr)
    return 0


# -- main -----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from archspec.version import __version__

    p = argparse.ArgumentParser(prog="archspec", description="Describe, check, draw, cost and train neural-network "
                                "architectures from declarative specs.")
    p.add_argument("--version", action="version", version=f"archspec {__version__}")
    _global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help, options) in COMMANDS.items():
        sp = sub.add_parser(name, help=help, description=help)
        _global_options(sp, suppress=True)  # also after the command: `archspec analyze X --no-color`
        options(sp)
    return p


def _global_options(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("--debug", action="store_true", help="show tracebacks", **default)
    p.add_argument("--no-color", action="store_true", help="plain diagnostics", **default)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command in TORCH_COMMANDS:
            require_torch(args.command)
        run: Callable[[argparse.Namespace], int] = globals()["run_" + args.command.replace("-", "_")]
        return run(args)
    except SpecError as e:
        if getattr(args, "debug", False):
            raise
        _print_diagnostic(e.diagnostic, plain=getattr(args, "no_color", False))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in archspec: one line, and the traceback with --debug
        if getattr(args, "debug", False):
            raise
        print(f"archspec: internal error: {type(e).__name__}: {e}\n"
              f"  (run again with --debug for the traceback; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _print_diagnostic(d: Diagnostic, plain: bool = False) -> None:
    if plain or not sys.stderr.isatty() or os.environ.get("NO_COLOR"):
        print(render(d), file=sys.stderr)
    else:
        _console(stderr=True).print(render_rich(d))


if __name__ == "__main__":
    sys.exit(main())
