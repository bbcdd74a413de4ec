"""The command line: a thin client of the library. Each command parses its options and calls archspec.

Exit status: 0 on success, 2 for a mistake in the spec or the command line (one diagnostic, no
traceback unless --debug), 1 when a check finds a disagreement, 70 for an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError, render, render_rich

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

def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a .arch or .yaml file, or a shipped spec's name (see `archspec zoo`)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a network parameter, e.g. --set depth=50 (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="SHAPE",
                   help="override the input shape, e.g. 3x299x299 (or NAME=SHAPE for one of several inputs)")


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    from archspec.lang.expr import Evaluator, TensorRef
    from archspec.lang.parser import parse_expr

    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise SpecError(Diagnostic("E207", f"--set takes NAME=VALUE, got {item!r}",
                                       hint="for example --set depth=50 or --set variant=torchvision"))
        v = Evaluator({})(parse_expr(value.strip(), f"--set {name}"))
        out[name] = v.name if isinstance(v, TensorRef) else v
    return out


def parse_inputs(items: Sequence[str]) -> dict[str, tuple[int, ...]] | None:
    from archspec.analysis import parse_shape

    if not items:
        return None
    out: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, eq, shape = item.rpartition("=")
        try:
            out[name if eq else "*"] = parse_shape(shape)
        except ValueError as e:
            raise SpecError(Diagnostic("E202", f"--input: {e}", hint="for example --input 3x299x299")) from None
    return out


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write a file whole or not at all: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


# -- analyze --------------------------------------------------------------------------------------

@command("analyze", "shapes, parameters, MACs, FLOPs, memory and receptive field of every layer")
def _analyze_options(p: argparse.ArgumentParser) -> None:
    from archspec.layers.base import CONVENTIONS

    _spec_options(p)
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for MACs, FLOPs and memory")
    p.add_argument("--depth", type=int, default=None, metavar="N", help="collapse blocks nested deeper than N")
    p.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    p.add_argument("--convention", choices=CONVENTIONS, default="archspec",
                   help="how MACs are counted: ours, or as torchinfo, fvcore, thop or ptflops count them")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


def run_analyze(args: argparse.Namespace) -> int:
    import archspec

    if args.batch < 1:
        raise SpecError(Diagnostic("E202", f"--batch must be at least 1, got {args.batch}"))
    a = archspec.analyze(args.spec, params=parse_sets(args.set), input=parse_inputs(args.input), batch=args.batch,
                         convention=args.convention, partial=True)
    if args.format == "json":
        text = a.to_json()
    elif args.format == "csv":
        text = a.to_csv()
    elif args.format == "markdown":
        text = a.to_markdown(args.depth)
    else:
        text = None
    if args.output:
        if text is None:
            from archspec.backends.table import plain

            text = plain(a, args.depth)
        if a.error is None:
            write_atomic(args.output, text)
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        _console().print(a.table(args.depth))
    if a.error is not None:
        _console(stderr=True).print("\nThe analysis stopped at this mistake; the table shows the layers before it.",
                                    style="yellow")
        raise a.error
    return 0


# -- layers ---------------------------------------------------------------------------------------

@command("layers", "list the layer kinds with their arguments and formulas")
def _layers_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", help="show one kind in full")


def run_layers(args: argparse.Namespace) -> int:
    from archspec.docs_gen import kind_markdown, kinds_table
    from archspec.layers import KINDS, REGISTRY

    if args.kind:
        kind = REGISTRY.get(args.kind)
        if kind is None:
            from archspec.diagnostics import did_you_mean

            raise SpecError(Diagnostic("E200", f"unknown layer kind `{args.kind}`", hint=did_you_mean(args.kind, REGISTRY)))
        sys.stdout.write(kind_markdown(kind))
        return 0
    del KINDS
    _console().print(kinds_table())
    return 0


# -- main -----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from archspec import __version__

    p = argparse.ArgumentParser(prog="archspec", description="Describe, check, draw, cost and train neural-network "
                                "architectures from declarative specs.")
    p.add_argument("--version", action="version", version=f"archspec {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--no-color", action="store_true", help="plain diagnostics")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help, options) in COMMANDS.items():
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        options(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    debug = getattr(args, "debug", False)
    try:
        run: Callable[[argparse.Namespace], int] = globals()["run_" + args.command.replace("-", "_")]
        return run(args)
    except SpecError as e:
        if debug:
            raise
        _print_diagnostic(e.diagnostic, plain=args.no_color)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in archspec: one line, and the traceback with --debug
        if debug:
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
