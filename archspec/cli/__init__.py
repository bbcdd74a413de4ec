"""The command line, a thin client of the library: `archspec COMMAND ...` (app.py), the training
commands' options (train.py) and the error catalogue's examples (examples.py)."""

from archspec.cli.app import COMMANDS, build_parser, main, split_compare_args, split_sweep_args
from archspec.files import parse_inputs, write_atomic
from archspec.lang.sets import parse_sets

__all__ = ["COMMANDS", "build_parser", "main", "parse_inputs", "parse_sets", "split_compare_args", "split_sweep_args",
           "write_atomic"]
