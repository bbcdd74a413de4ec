"""One minimal spec per diagnostic code: the source of docs/errors.md and of its test.

`python -m archspec.cli.examples > docs/errors.md` regenerates the catalogue with the exact messages;
tests/cli/test_errors.py checks that the committed file is current and that every example fails with its
code and exit status 2.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Example:
    code: str
    what: str
    files: dict[str, str]  # file name → text (a path may have folders); the first is the spec analysed
    args: list[str] = field(default_factory=list)
    command: str = "analyze"  # or "train", "evaluate", "compare"...: `archspec COMMAND SPEC ARGS` (analyze with --format json)
    env: dict[str, str] = field(default_factory=dict)  # environment variables set for the run
    prepare: Callable[[Path], None] | None = None  # makes what `files` cannot (a socket) in the folder
    setting: str = ""  # what `prepare` or `env` does, for the catalogue
    place: bool = True  # the diagnostic points into the spec (a file:line:col and a caret)
    setup: list[list[str]] = field(default_factory=list)  # commands run first (their output is not shown)

    @property
    def located(self) -> bool:
        """Whether the diagnostic points at a place in the spec (file:line:col and a caret)."""
        return self.place and self.command == "analyze" and self.code not in ("E402", "E207")


def _socket(folder: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(folder / "out.sock"))  # the socket's node stays after it is closed
    finally:
        s.close()


NET = "network net:\n    input 3x32x32\n    conv 8 3x3\n"


_TOKENS = ("network net:\n    input 20 tokens vocab=10000\n    embedding 10000 16\n    lstm 16\n    select -1\n"
           "    dense 2\n")


def _token_ids(folder: Path) -> None:
    import numpy as np

    x = np.arange(40 * 20).reshape(40, 20) * 13 % 10_500
    np.savez(folder / "ids.npz", x=x, y=np.arange(40) % 2)


_TINY = "network net:\n    input 1x12x12\n    conv 4 3x3 relu\n    flatten\n    dense 4 softmax\n"

EXAMPLES = [
    Example("E100", "a syntax error", {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 pad=\n"}),
    Example("E100", "a missing colon", {"spec.arch": "network net\n    input 3x32x32\n"}),
    Example("E100", "Python's `for` statement (archspec's loop is `repeat n as i:`)",
            {"spec.arch": "network net:\n    input 3x32x32\n    for i in range(3):\n        conv 16 3x3 pad=1 relu\n"}),
    Example("E100", "a keyword as a layer's name",
            {"spec.arch": "network net:\n    input 3x32x32\n    if = conv 16 3x3\n"}),
    Example("E101", "an indentation that matches no enclosing block",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 8 3x3\n  relu\n"}),
    Example("E101", "a tab after spaces (its width would decide the block the line is in)",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 2:\n        conv 8 3x3 pad=1\n    \trelu\n"}),
    Example("E102", "a file that is not text", {"spec.arch": "network net:\n    input 3x32x32\x00\n"}),
    Example("E110", "a mistake in a YAML spec", {"spec.yaml": "network: net\nbody:\n  - input 3x32x32\n"
                                                             "  - repeat: 2\n    bdy: [relu]\n"}),
    Example("E110", "a keyword as a name in a YAML spec",
            {"spec.yaml": "network: net\nbody:\n  - input: 3x32x32\n  - repeat: 2\n    as: for\n    body: [relu]\n"}),
    Example("E200", "an unknown layer, with the closest names",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv2 64 3x3\n    maxpol 2\n"}),
    Example("E201", "an unknown argument, with the closest names",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 strides=2\n"}),
    Example("E202", "freezing the bias of a layer without one",
            {"spec.arch": "network net:\n    input 784\n    dense 128 bias=false freeze=bias\n"}),
    Example("E202", "an argument value of the wrong kind",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 pad=sane\n"}),
    Example("E202", "a connection table with `(0)`, the number 0, where a one-element tuple `(0,)` is meant",
            {"spec.arch": "network net:\n    input 4x16x16\n    conv 4 3x3 table=((0, 1), (1, 2), (0), (2, 3))\n"}),
    Example("E203", "a missing block argument",
            {"spec.arch": "network net:\n    input 3x32x32\n    block stage(c, n):\n        repeat n:\n"
                          "            conv c 3x3 pad=1 relu\n    stage(64)\n"}),
    Example("E204", "too many positional arguments",
            {"spec.arch": "network net:\n    input 3x32x32\n    conv 64 3x3 2\n"}),
    Example("E205", "an undefined name", {"spec.arch": "network net(classes = 10):\n    input 784\n    dense clases\n"}),
    Example("E205", "a `repeat`'s loop variable read after the `repeat` (it exists inside the body only)",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 3 as i:\n        conv 16 * 2 ** i 3x3 pad=1 relu\n"
                          "    conv 16 * 2 ** i 1x1\n"}),
    Example("E205", "a block's `register` naming a layer the block does not have",
            {"spec.arch": "network net:\n    input 8x16\n    block merge():\n        norm = layernorm\n"
                          "        reduction = dense 16 axis=-1 bias=false\n        register reduction, nrom\n"
                          "    merge()\n"}),
    Example("E206", "an expression that cannot be evaluated",
            {"spec.arch": "network net(groups = 0):\n    input 3x32x32\n    conv 64 // groups 3x3\n"}),
    Example("E206", "a list comprehension over a number instead of a range",
            {"spec.arch": "network net:\n    input 4x16x16\n    conv 4 3x3 table=[(j, (j + 1) % 4) for j in 4]\n"}),
    Example("E207", "`--set` of a parameter the network does not have",
            {"spec.arch": "network net(depth = 18):\n    input 3x32x32\n    conv 64 3x3\n"}, ["--set", "deph=50"]),
    Example("E208", "a block defined twice",
            {"spec.arch": "network net:\n    input 3x32x32\n    block b():\n        relu\n    block b():\n        tanh\n    b()\n"}),
    Example("E210", "a `let` that would rebind a `repeat`'s loop variable",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 3 as i:\n        let i = i + 1\n"
                          "        conv 16 * i 3x3 pad=1 relu\n"}),
    Example("E210", "nested `repeat`s with the same loop variable",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 2 as i:\n        repeat 2 as i:\n"
                          "            conv 16 3x3 pad=1 relu\n"}),
    Example("E300", "a kernel larger than its input",
            {"spec.arch": "network net:\n    input 3x5x5\n    conv 64 7x7\n"}),
    Example("E300", "a dense layer on maps", {"spec.arch": "network net:\n    input 3x32x32\n    dense 10\n"}),
    Example("E300", "a reshape whose sizes do not multiply out",
            {"spec.arch": "network net:\n    input 768x14x14\n    reshape 768x190\n"}),
    Example("E300", "a channel split into parts of unequal size",
            {"spec.arch": "network net:\n    input 116x28x28\n    chunk 3 0\n"}),
    Example("E300", "an embedding smaller than the input's vocabulary",
            {"spec.arch": "network net:\n    input 100 tokens vocab=10000\n    embedding 5000 128\n"}),
    Example("E300", "attention heads that do not divide the width",
            {"spec.arch": "network net:\n    input 197x768\n    attention 10\n"}),
    Example("E300", "a matrix product of sizes that do not match",
            {"spec.arch": "network net:\n    q = input 6x8\n    k = input 7x8\n    matmul q k\n"}),
    Example("E300", "an einsum whose shared axis differs in size",
            {"spec.arch": 'network net:\n    q = input 4x6x8\n    k = input 4x7x16\n'
                          '    einsum "hqd,hkd->hqk" q k\n'}),
    Example("E301", "a concat of 28×28 and 27×27 maps",
            {"spec.arch": "network net:\n    input 3x28x28\n    concat:\n        branch: conv 16 3x3 pad=1\n"
                          "        branch: conv 16 2x2\n"}),
    Example("E301", "an add of 64 and 128 channels",
            {"spec.arch": "network net:\n    input 64x56x56\n    add:\n        branch: conv 128 3x3 pad=1\n"
                          "        branch: identity\n"}),
    Example("E302", "a layer before any input", {"spec.arch": "network net:\n    conv 64 3x3\n"}),
    Example("E303", "token ids fed to a convolution",
            {"spec.arch": "network net:\n    input 100 tokens vocab=10000\n    reshape (1, 100)\n    conv 8 3\n"}),
    Example("E303", "an embedding of an input of values",
            {"spec.arch": "network net:\n    input 100\n    embedding 10000 128\n"}),
    Example("E304", "a layer reused on an input its weights do not fit",
            {"spec.arch": "network net:\n    input 784\n    fc = dense 64 relu\n    reuse fc\n"}),
    Example("E305", "an output projection tied to an embedding of another shape",
            {"spec.arch": "network net:\n    input 16 tokens vocab=1000\n    wte = embedding 1000 64\n"
                          "    dense 999 axis=-1 bias=false tie=wte\n"}),
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
    Example("E403", "`reuse` of a name that is not a layer",
            {"spec.arch": "network net:\n    input 32\n    fc = dense 32 relu\n    reuse fcc\n"}),
    Example("E500", "a `use` of a file that is not there",
            {"spec.arch": "use \"blocks.arch\"\nnetwork net:\n    input 3x32x32\n"}),
    Example("E501", "a cyclic `use`",
            {"spec.arch": "use \"a.arch\"\nnetwork net:\n    input 3x32x32\n",
             "a.arch": "use \"b.arch\"\nblock a():\n    relu\n", "b.arch": "use \"a.arch\"\nblock b():\n    relu\n"}),
    Example("W100", "a warning: a side path that reaches no output (the analysis goes on, exit status 0)",
            {"spec.arch": "network net:\n    input 3x32x32\n    x = conv 8 3x3\n    side = conv 4 1x1\n    from x\n"
                          "    gap\n    dense 10\n"}),
    Example("E209", "a program the command needs is not installed (here graphviz, for a .png diagram)",
            {"spec.arch": NET}, ["-o", "net.png"], command="render", env={"PATH": "/nonexistent"},
            setting="with no graphviz on PATH", place=False),
    Example("E510", "an output that is a folder", {"spec.arch": NET}, ["-o", "."], place=False),
    Example("E511", "an output onto the command's own spec", {"spec.arch": NET}, ["-o", "spec.arch"], place=False),
    Example("E512", "an output that is a socket", {"spec.arch": NET}, ["-o", "out.sock"], prepare=_socket,
            setting="where `out.sock` is a Unix socket", place=False),
    Example("E513", "an output that cannot be written (a folder on its way is a file)", {"spec.arch": NET},
            ["-o", "spec.arch/net.json"], place=False),
    Example("E600", "a limit: a huge repeat count",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 10**9:\n        relu\n"}),
    Example("E600", "a limit: an expansion past the layer limit, refused before it is built",
            {"spec.arch": "network net:\n    input 3x32x32\n    repeat 100000:\n        repeat 100000:\n"
                          "            relu\n"}),
    Example("E700", "`--resume` from a checkpoint cut to 0 bytes (a disk that filled up, a copy that failed)",
            {"spec.arch": _TINY, "run/last.pt": ""}, ["--out", "run", "--resume"], command="train"),
    Example("E701", "`evaluate` with a spec other than the checkpoint's: its weights do not fit",
            {"spec.arch": _TINY.replace("dense 4", "dense 8 relu\n    dense 4"), "trained.arch": _TINY},
            ["run/last.pt"], command="evaluate",
            setup=[["train", "trained.arch", "--out", "run", "--epochs", "1", "--data", "synthetic:40", "--threads",
                    "1"]]),
    Example("E710", "MNIST files that announce no samples",
            {"spec.arch": _TINY, "mnist/t10k-images-idx3-ubyte": "\x00\x00\x08\x03\x00\x00\x00\x00\x00\x00\x00\x0c"
                                                                "\x00\x00\x00\x0c",
             "mnist/t10k-labels-idx1-ubyte": "\x00\x00\x08\x01\x00\x00\x00\x00"},
            ["--data", "mnist:mnist", "--out", "run"], command="train"),
    Example("E710", "token ids in `--data` beyond the network's vocabulary",
            {"spec.arch": _TOKENS}, ["--data", "npz:ids.npz", "--out", "run"], command="train",
            prepare=_token_ids, setting="ids.npz holds ids above 9,999"),
    Example("E711", "built-in data of more samples than fit in memory",
            {"spec.arch": _TINY}, ["--data", "synthetic:99999999999999", "--out", "run"], command="train"),
    Example("E800", "`import` of a Python file that defines no model", {"model.py": "import torch\n"},
            ["--input", "3x32x32"], command="import", place=False),
    Example("E801", "`import` of a model with an operation that archspec cannot express",
            {"model.py": "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                         "    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(1, 4, 3)\n\n"
                         "    def forward(self, x):\n        return torch.sort(self.conv(x), dim=1).values\n"},
            ["--input", "1x8x8"], command="import", place=False),
]


def run_example(ex: Example) -> tuple[int, str]:
    """Run `archspec analyze` on the example in a temporary folder; return (exit status, stderr)."""
    from archspec.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        for name, text in ex.files.items():
            Path(tmp, name).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, name).write_bytes(text.encode("latin-1" if name.endswith("ubyte") else "utf-8"))
        if ex.prepare:
            ex.prepare(Path(tmp))
        old = os.getcwd()
        saved = {k: os.environ.get(k) for k in ex.env}
        err, out = io.StringIO(), io.StringIO()
        try:
            os.chdir(tmp)
            os.environ.update(ex.env)
            for command in ex.setup:
                with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                    if main(["--no-color", *command]) != 0:
                        raise RuntimeError(f"the setup of the example failed: {command}")
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                args = ["analyze", "--format", "json"] if ex.command == "analyze" else [ex.command]
                status = main([*args, next(iter(ex.files)), *ex.args])
        finally:
            os.chdir(old)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
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
           "Each example below is run by the test suite (`tests/cli/test_errors.py`); the messages are the exact output. "
           "Regenerate with `python -m archspec.cli.examples > docs/errors.md`.", "",
           "| code | meaning |", "|---|---|"]
    out += [f"| {c} | {t} |" for c, t in CODES.items()]
    out.append("")
    for ex in EXAMPLES:
        _, msg = run_example(ex)
        out += [f"## {ex.code}: {ex.what}", ""]
        for name, text in ex.files.items():
            shown = text.replace("\x00", "\\x00")
            if name.endswith("ubyte"):
                shown = "".join(f"\\x{ord(c):02x}" for c in text) + "   (bytes)"
            elif not text:
                shown = "(empty: 0 bytes)"
            first = name == next(iter(ex.files))
            if ex.command != "analyze" and first:
                label = f"`{name}`, run with `archspec {ex.command} {name} {' '.join(ex.args)}`"
                if ex.setup:
                    label += " after " + ", ".join(f"`archspec {' '.join(c)}`" for c in ex.setup)
            else:
                label = f"`{name}`" + (f", run with `{' '.join(ex.args)}`" if ex.args and first else "")
            if first and ex.setting:
                label += f" ({ex.setting})"
            out += [label + ":", "", "```", shown.rstrip("\n"), "```", ""]
        out += ["```text", msg.rstrip("\n"), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
