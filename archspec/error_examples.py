"""One minimal spec per diagnostic code: the source of docs/errors.md and of its test.

`python -m archspec.error_examples > docs/errors.md` regenerates the catalogue with the exact messages;
tests/test_errors.py checks that the committed file is current and that every example fails with its
code and exit status 2.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Example:
    code: str
    what: str
    files: dict[str, str]  # file name → text; the first is the spec analysed
    args: list[str] = field(default_factory=list)


EXAMPLES = [
    Example("E100", "a syntax error", {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 pad=\n"}),
    Example("E100", "a missing colon", {"spec.arch": "network net\n    input 3x32x32\n"}),
    Example("E101", "an indentation that matches no enclosing block",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 8 3x3\n  relu\n"}),
    Example("E101", "a tab after spaces (its width would decide the block the line is in)",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 2:\n        conv 8 3x3 pad=1\n    \trelu\n"}),
    Example("E102", "a file that is not text", {"spec.arch": "network net:\n    input 3x32x32\x00\n"}),
    Example("E110", "a mistake in a YAML spec", {"spec.yaml": "network: net\nbody:\n  - input 3x32x32\n"
                                                             "  - repeat: 2\n    bdy: [relu]\n"}),
    Example("E200", "an unknown layer, with the closest names",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv2 64 3x3\n    maxpol 2\n"}),
    Example("E201", "an unknown argument, with the closest names",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 strides=2\n"}),
    Example("E202", "an argument value of the wrong kind",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 pad=sane\n"}),
    Example("E203", "a missing block argument",
            {"spec.arch": "network net:\n    input 3x32x32\n    block stage(c, n):\n        repeat n:\n"
                          "            conv c 3x3 pad=1 relu\n    stage(64)\n"}),
    Example("E204", "too many positional arguments",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 2\n"}),
    Example("E205", "an undefined name", {"spec.arch": "network net(classes = 10):\n    input 784\n    dense clases\n"}),
    Example("E206", "an expression that cannot be evaluated",
            {"spec.arch": "network net(groups = 0):\n    input 3x32x32\n    conv 64 // groups 3x3\n"}),
    Example("E207", "`--set` of a parameter the network does not have",
            {"spec.arch": "network net(depth = 18):\n    input 3x32x32\n    conv 64 3x3\n"}, ["--set", "deph=50"]),
    Example("E208", "a block defined twice",
            {"spec.arch": "network net:\n    input 3x32x32\n    block b():\n        relu\n    block b():\n        tanh\n    b()\n"}),
    Example("E300", "a kernel larger than its input",
            {"spec.arch": "network net:\n    input 3x5x5\n    conv 64 7x7\n"}),
    Example("E300", "a dense layer on maps", {"spec.arch": "network net:\n    input 3x32x32\n    dense 10\n"}),
    Example("E301", "a concat of 28×28 and 27×27 maps",
            {"spec.arch": "network net:\n    input 3x28x28\n    concat:\n        branch: conv 16 3x3 pad=1\n"
                          "        branch: conv 16 2x2\n"}),
    Example("E301", "an add of 64 and 128 channels",
            {"spec.arch": "network net:\n    input 64x56x56\n    add:\n        branch: conv 128 3x3 pad=1\n"
                          "        branch: identity\n"}),
    Example("E302", "a layer before any input", {"spec.arch": "network net:\n    conv 64 3x3\n"}),
    Example("E400", "an undefined named tensor",
            {"spec.arch": "network net:\n    input 3x32x32\n    skip = conv 16 3x3 pad=1\n    conv 16 3x3 pad=1\n"
                          "    add skp _\n"}),
    Example("E401", "a cycle: reading a tensor before it is defined",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 16 3x3 pad=1\n    add later _\n"
                          "    later = conv 16 3x3 pad=1\n"}),
    Example("E401", "a cycle: a block that calls itself",
            {"spec.arch": "network net:\n    input 3x32x32\n    block a():\n        conv 8 3x3 pad=1\n        b()\n"
                          "    block b():\n        a()\n    a()\n"}),
    Example("E402", "a file with blocks but no network", {"spec.arch": "block b(c):\n    conv c 3x3\n"}),
    Example("E500", "a `use` of a file that is not there",
            {"spec.arch": "use \"blocks.arch\"\nnetwork net:\n    input 3x32x32\n"}),
    Example("E501", "a cyclic `use`",
            {"spec.arch": "use \"a.arch\"\nnetwork net:\n    input 3x32x32\n",
             "a.arch": "use \"b.arch\"\nblock a():\n    relu\n", "b.arch": "use \"a.arch\"\nblock b():\n    relu\n"}),
    Example("W100", "a warning: a side path that reaches no output (the analysis goes on, exit status 0)",
            {"spec.arch": "network net:\n    input 3x32x32\n    x = conv 8 3x3\n    side = conv 4 1x1\n    from x\n"
                          "    gap\n    dense 10\n"}),
    Example("E600", "a limit: a huge repeat count",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 10**9:\n        relu\n"}),
    Example("E600", "a limit: an expansion past the layer limit, refused before it is built",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 100000:\n        repeat 100000:\n"
                          "            relu\n"}),
]


def run_example(ex: Example) -> tuple[int, str]:
    """Run `archspec analyze` on the example in a temporary folder; return (exit status, stderr)."""
    from archspec.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        for name, text in ex.files.items():
            Path(tmp, name).write_bytes(text.encode("utf-8"))
        old = os.getcwd()
        err, out = io.StringIO(), io.StringIO()
        try:
            os.chdir(tmp)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                status = main(["analyze", "--format", "json", next(iter(ex.files)), *ex.args])
        finally:
            os.chdir(old)
    lines = [ln for ln in err.getvalue().splitlines() if not ln.startswith("The analysis stopped")]
    return status, "\n".join(lines).strip() + "\n"


def markdown() -> str:
    from archspec.diagnostics import CODES

    out = ["# Error catalogue", "",
           "Every mistake in a spec or a command line gets one diagnostic: a stable code, the file, line and column, "
           "the offending text with a caret, what was expected and what was received, and a hint. `archspec` exits "
           "with status 2 and shows no traceback (unless `--debug`). When a shape error stops the analysis, the "
           "table of the layers before it is printed first. Warnings (`W` codes) are printed and the analysis goes on.",
           "",
           "Each example below is run by the test suite (`tests/test_errors.py`); the messages are the exact output. "
           "Regenerate with `python -m archspec.error_examples > docs/errors.md`.", "",
           "| code | meaning |", "|---|---|"]
    out += [f"| {c} | {t} |" for c, t in CODES.items()]
    out.append("")
    for ex in EXAMPLES:
        _, msg = run_example(ex)
        out += [f"## {ex.code}: {ex.what}", ""]
        for name, text in ex.files.items():
            shown = text.replace("\x00", "\\x00")
            label = f"`{name}`" + (f", run with `{' '.join(ex.args)}`" if ex.args and name == next(iter(ex.files)) else "")
            out += [label + ":", "", "```", shown.rstrip("\n"), "```", ""]
        out += ["```text", msg.rstrip("\n"), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
