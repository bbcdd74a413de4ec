"""Shared pieces of the property tests (issue 7): example counts, a per-example time budget, the corpus
of shipped specs, mutation strategies, and the check that an outcome is acceptable.

The only acceptable outcomes of any input are a valid analysis, or one `SpecError` whose diagnostic has
a catalogued code, renders, and points into the input when a place in it makes sense (exit status 2 at
the command line). Anything else (another exception, exit 70, a hang) is a bug in archspec.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import archspec
from archspec.diagnostics import CODES, SpecError, render

ROOT = Path(__file__).resolve().parents[1]

# Diagnostics about a whole file or a command line, where no line of the input is to blame.
NO_SPAN_CODES = {"E102", "E207", "E402", "E500", "E600"}


def examples(k: float = 1.0) -> int:
    """`k` times the profile's example count (`default` or `long`, tests/conftest.py)."""
    return max(1, int(settings.default.max_examples * k))


# -- a time budget per example -----------------------------------------------------------------------

class Hang(BaseException):
    """An example ran past its time budget."""


@contextlib.contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Interrupt the block with `Hang` after `seconds` (SIGALRM: the main thread of a POSIX process)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- the corpus --------------------------------------------------------------------------------------

def _corpus() -> list[tuple[str, str]]:
    paths = sorted((ROOT / "archspec" / "specs").rglob("*.arch")) + sorted((ROOT / "archspec" / "stdlib").glob("*.arch"))
    paths += sorted((ROOT / "tests" / "data").glob("*.arch")) + sorted((ROOT / "tests" / "data").glob("*.yaml"))
    return [(str(p), p.read_text(encoding="utf-8")) for p in paths]


CORPUS = _corpus()
ARCH_CORPUS = [(p, t) for p, t in CORPUS if p.endswith(".arch")]
YAML_CORPUS = [(p, t) for p, t in CORPUS if p.endswith(".yaml")]

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:x\d+)*|\*\*|//|[=!<>]=|\S|\s+")
WORDS = sorted({w for _, t in CORPUS for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t)})
KEYWORDS = ["network", "block", "use", "repeat", "as", "if", "elif", "else", "frozen", "let", "from", "output",
            "branch", "true", "false", "and", "or", "not", "for", "in", "_", "channels", "shape", "concat", "add",
            "mul"]
HOSTILE_NUMBERS = ["0", "-1", "-0", "1", "2", "99999999999", "4611686018427387904", "9" * 40, "10**9", "2**62",
                   "1e400", "-1e400", "0.0", "1e-400", "99999x99999x99999", "0x0", "1x0x1", "3x3x3x3x3",
                   "nan", "inf", "(1, 2)", "[]", "{}", "\"same\""]
PUNCTUATION = [*list("()[]{}:;,=+-*/%<>#\"'\\._"), "**", "//", "==", "!=", "<=", ">=", "x"]
ODD_CHARS = [*list("\t\n\r\x0b\x0c\x00\xa0\ufeff\u2028é×→😀"), "\r\n", "\\\n"]


# -- mutations ---------------------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@st.composite
def mutated(draw: st.DrawFn, corpus: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    """A shipped spec (path, text) with one to four random edits: characters or tokens deleted, inserted,
    replaced or swapped, lines duplicated, dropped or re-indented, numbers made huge, zero or negative."""
    path, text = draw(st.sampled_from(corpus or CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(_edit(text))
    return path, text


def _edit(text: str) -> st.SearchStrategy[str]:
    return st.one_of(
        _delete_chars(text), _insert_chars(text), _replace_token(text), _swap_tokens(text), _delete_tokens(text),
        _line_edit(text), _indent_edit(text))


@st.composite
def _delete_chars(draw: st.DrawFn, text: str) -> str:
    i = draw(st.integers(0, len(text)))
    return text[:i] + text[i + draw(st.integers(1, 12)):]


@st.composite
def _insert_chars(draw: st.DrawFn, text: str) -> str:
    i = draw(st.integers(0, len(text)))
    piece = draw(st.one_of(st.sampled_from(ODD_CHARS + PUNCTUATION),
                           st.text(st.sampled_from(list("()[]:;,= \n\tx0123456789abcz_#\"")), min_size=1, max_size=6),
                           st.text(max_size=4)))
    return text[:i] + piece + text[i:]


@st.composite
def _replace_token(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    if not toks:
        return text
    i = draw(st.integers(0, len(toks) - 1))
    toks[i] = draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(KEYWORDS), st.sampled_from(WORDS),
                             st.sampled_from(PUNCTUATION)))
    return "".join(toks)


@st.composite
def _swap_tokens(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    if len(toks) < 2:
        return text
    i = draw(st.integers(0, len(toks) - 1))
    j = draw(st.integers(max(0, i - 8), min(len(toks) - 1, i + 8)))
    toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


@st.composite
def _delete_tokens(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    if not toks:
        return text
    i = draw(st.integers(0, len(toks) - 1))
    del toks[i:i + draw(st.integers(1, 3))]
    return "".join(toks)


@st.composite
def _line_edit(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["dup", "drop", "swap", "repeat"]))
    if op == "dup":
        lines.insert(i, lines[i])
    elif op == "drop":
        del lines[i]
    elif op == "swap" and len(lines) > 1:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "repeat":
        lines[i:i + 1] = [lines[i]] * draw(st.integers(2, 40))
    return "\n".join(lines)


@st.composite
def _indent_edit(draw: st.DrawFn, text: str) -> str:
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    body = lines[i].lstrip(" \t")
    indent = lines[i][: len(lines[i]) - len(body)]
    new = draw(st.one_of(st.text(st.sampled_from(" \t"), max_size=12), st.just(indent + " "), st.just(indent[:-1]),
                         st.just(indent.replace("    ", "\t")), st.just(indent * 2)))
    lines[i] = new + body
    return "\n".join(lines)


# -- outcomes ----------------------------------------------------------------------------------------

def check_diagnostic(e: SpecError, text: str | None = None, file: str | None = None) -> None:
    """A diagnostic from a catalogued code, that renders, and that points into the input."""
    d = e.diagnostic
    assert d.code in CODES, f"uncatalogued code {d.code}: {d.message}"
    assert d.message.strip(), d
    out = render(d)
    assert out.startswith(f"error[{d.code}]"), out
    if d.span is None:
        assert d.code in NO_SPAN_CODES, f"{d.code} without a location: {d.message}"
        return
    s = d.span
    assert s.line >= 1 and s.column >= 1, s
    assert (s.end_line, s.end_column) >= (s.line, s.column), s
    if text is not None and s.file == file:
        n_lines = len(text.splitlines()) or 1
        assert s.line <= n_lines + 1, f"line {s.line} beyond the {n_lines} lines of the input: {d.message}"


def _event(what: str) -> None:
    """Tally outcomes in hypothesis's statistics (`pytest --hypothesis-show-statistics`)."""
    if currently_in_test_context():
        event(what)


def analyse_text(text: str, name: str, seconds: float = 20.0) -> archspec.Analysis | SpecError:
    """Load and analyse source text: an analysis, or a SpecError with a good diagnostic. Any other
    exception, or a run past `seconds`, fails the test."""
    with budget(seconds):
        try:
            a = archspec.analyze(archspec.load(name, text=text))
        except SpecError as e:
            check_diagnostic(e, text, name)
            _event(f"diagnostic {e.diagnostic.code}")
            return e
        _event("valid analysis")
        # every view of a valid analysis works too
        a.to_json()
        a.to_csv()
        a.to_markdown()
        str(a)
        return a


def run_cli(argv: list[str], seconds: float = 30.0) -> tuple[int, str, str]:
    """`archspec ARGV` in this process: (exit status, stdout, stderr)."""
    from archspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with budget(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse's own usage errors
            rc = e.code if isinstance(e.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def check_cli(argv: list[str], seconds: float = 30.0) -> tuple[int, str, str]:
    """The command succeeds (0) or reports one diagnostic (2); never an internal error (70)."""
    rc, out, err = run_cli(argv, seconds)
    assert rc in (0, 2), f"exit {rc} for archspec {' '.join(argv)}:\n{err[-3000:]}"
    if rc == 2:
        assert re.search(r"^error\[E\d{3}\]", err, re.M) or err.startswith("usage:"), err[-2000:]
        assert "Traceback" not in err
    return rc, out, err
