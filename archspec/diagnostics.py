"""Diagnostics: every user mistake becomes one `Diagnostic`, rendered plain or with colour.

A diagnostic is data (code, message, span, expected, received, hint, notes), in the manner of
compiler diagnostics; `SpecError` carries one through the pipeline. The catalogue of codes with an
example each is `docs/errors.md` (a test runs every example there).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The catalogue: code -> short title. Codes are stable; docs/errors.md lists each with an example.
CODES: dict[str, str] = {
    "E100": "syntax error",
    "E101": "inconsistent indentation",
    "E102": "unreadable file",
    "E110": "invalid YAML spec",
    "E200": "unknown layer or block",
    "E201": "unknown argument",
    "E202": "invalid argument value",
    "E203": "missing argument",
    "E204": "too many positional arguments",
    "E205": "undefined name",
    "E206": "invalid expression",
    "E207": "unknown network parameter",
    "E208": "duplicate definition",
    "E209": "a package or program the command needs is not installed",
    "E210": "loop variable rebound",
    "E300": "shape does not fit",
    "E301": "merge of incompatible shapes",
    "E302": "no input tensor",
    "E303": "token ids where values are needed (or values where token ids are)",
    "E304": "a reused layer's weights do not fit its new input",
    "E305": "tied parameters of different shapes",
    "E400": "undefined tensor",
    "E401": "cycle",
    "E402": "no network in file",
    "E403": "no layer of that name to reuse or tie",
    "E500": "file not found",
    "E501": "cyclic import",
    "E510": "output is a folder",
    "E511": "output would overwrite an input",
    "E512": "output is not a file (socket, block device)",
    "E513": "output cannot be written",
    "E600": "limit exceeded",
    "E700": "damaged or invalid checkpoint",
    "E701": "checkpoint does not fit the network",
    "E710": "invalid dataset",
    "E711": "dataset over a limit",
    "E800": "model cannot be loaded for import",
    "E801": "model has an operation archspec cannot express",
    "W100": "a layer reaches no output (warning)",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file, 1-based lines and columns, end column exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    expected: str | None = None
    received: str | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    severity: str = "error"

    def __post_init__(self) -> None:
        # A name or path the user gave can be any length (a 500 KB name, a 300-character file name):
        # diagnostics echo at most MAX_NAME characters of each `quoted` piece.
        self.message = clip_names(self.message)
        self.expected = clip_names(self.expected) if self.expected else self.expected
        self.received = clip_names(self.received) if self.received else self.received
        self.hint = clip_names(self.hint) if self.hint else self.hint
        self.notes = [clip_names(n) for n in self.notes]

    @property
    def title(self) -> str:
        return CODES.get(self.code, "error")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.span:
            s = self.span
            d["location"] = {"file": s.file, "line": s.line, "column": s.column,
                             "end_line": s.end_line, "end_column": s.end_column}
        for key in ("expected", "received", "hint"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.notes:
            d["notes"] = self.notes
        return d


class SpecError(Exception):
    """A user mistake. `partial` may hold what was built before the mistake (a graph)."""

    def __init__(self, diagnostic: Diagnostic, partial: Any = None) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.partial = partial

    def __str__(self) -> str:
        return render(self.diagnostic, sources=None)


MAX_NAME = 240  # characters of a user-given name, path or value echoed in a diagnostic (a path fits whole)
MAX_FIELD = 2_000  # characters of a whole message, expected, received or hint
_QUOTED = re.compile(r"`([^`]*)`")
_CONTROLS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def clip(text: str, n: int = MAX_NAME) -> str:
    """`text` cut to `n` characters (the cut marked with `…` and the full length), control characters
    (a newline in a file name) written as escapes."""
    text = _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)
    if len(text) > n:  # at most n characters in all: clipping again changes nothing
        tail = f"… ({len(text):,} characters)"
        text = text[:max(0, n - len(tail))] + tail
    return text


def clip_names(text: str) -> str:
    """Every `quoted` piece of a diagnostic's text cut to MAX_NAME characters, the whole to MAX_FIELD."""
    text = _QUOTED.sub(lambda m: f"`{clip(m.group(1))}`", text)
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD - 1] + "…"


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str | None:
    """A hint naming the closest valid names, or None when nothing is close."""
    if len(word) > 4 * MAX_NAME:  # nothing is close to a name that long; difflib would take its time
        return None
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


# -- rendering ---------------------------------------------------------------------------------

_SOURCES: dict[str, tuple[str, bool]] = {}  # name → (text, is YAML)
_SOURCES_MAX = 64
MAX_QUOTED = 120  # characters of a source line quoted in a diagnostic

# Where lines break: the .arch lexer (lark) counts `\n` only (`\r\n` ends a line too, its `\r` is part of
# the line); PyYAML counts `\r\n`, `\r`, `\n`, U+0085, U+2028 and U+2029. Quoting a line splits the text
# the same way as the front end that computed the line number (str.splitlines breaks at more characters).
_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def split_lines(text: str, yaml: bool = False) -> list[str]:
    """The lines of a source text as its front end numbers them (line N is item N - 1)."""
    if yaml:
        return _YAML_BREAKS.split(text)
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def line_col(text: str, pos: int, yaml: bool = False) -> tuple[int, int]:
    """The 1-based line and column of character `pos`, lines broken as `split_lines` breaks them."""
    before = split_lines(text[:pos], yaml)
    return len(before), len(before[-1]) + 1


# A diagnostic quotes a line of a file only when the file starts like a spec: its first line that is not
# blank or a comment starts with `network`, `block` or `use` (.arch), or with a YAML spec's top-level key
# or `---`. Anything else (a password file reached through a link, /proc/self/environ, a binary) is shown
# by place only, so that a diagnostic never prints the content of a file that is not a spec.
_SPEC_START = re.compile(r"(?:network|block)[ \t]+[A-Za-z_]|use[ \t]*[\"']"
                         r"|[\"']?(?:network|params|use|blocks|body)[\"']?[ \t]*:"
                         r"|---|\{\s*[\"']?(?:network|params|use|blocks|body)\b")


def looks_like_spec(text: str) -> bool:
    """Whether the first line that is not blank or a comment starts like a spec (.arch or YAML)."""
    pos, n = 0, len(text)
    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        line = text[pos:end].strip(" \t\r\ufeff")
        if line and not line.startswith("#"):
            return _SPEC_START.match(line) is not None
        pos = end + 1
    return True  # blank: nothing to quote anyway


_OPTIONS: set[str] = set()  # sources that are command-line option text (`--where ...`): the user's own words


def remember_source(name: str, text: str, yaml: bool = False, option: bool = False) -> None:
    """Keep a source text so that diagnostics about it can quote the offending line. `option`: the text of
    a command-line option, quoted whatever it starts with (the rule for files is `looks_like_spec`)."""
    _SOURCES.pop(name, None)
    _SOURCES[name] = (text, yaml)
    if option:
        _OPTIONS.add(name)
    else:
        _OPTIONS.discard(name)
    while len(_SOURCES) > _SOURCES_MAX:  # the oldest go first; a diagnostic can still read a file from disk
        _SOURCES.pop(next(iter(_SOURCES)))


def _source_line(span: Span, sources: dict[str, str] | None) -> str | None:
    yaml = span.file.endswith((".yaml", ".yml"))
    text = (sources or {}).get(span.file)
    if text is None and span.file in _SOURCES:
        text, yaml = _SOURCES[span.file]
    if text is None:
        try:
            with open(span.file, encoding="utf-8", errors="replace") as f:
                text = f.read(2**20 + 1)
        except OSError:
            return None
    if span.file not in _OPTIONS and not looks_like_spec(text):
        return None
    lines = split_lines(text, yaml)
    if 1 <= span.line <= len(lines):
        return _CONTROL.sub("\ufffd", lines[span.line - 1])
    return None


def render(d: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """Plain-text rendering:

        error[E300]: conv kernel 7×7 does not fit the 5×5 input
          --> spec.arch:4:5
           |
         4 |     conv 64 7x7
           |     ^^^^^^^^^^^
           = expected: ...
    """
    out = [f"{d.severity}[{d.code}]: {d.message}"]
    if d.span:
        s = d.span
        out.append(f"  --> {s}")
        line = _source_line(s, sources)
        if line is not None:
            line = line.replace("\t", " ")
            num = str(s.line)
            pad = " " * len(num)
            width = (s.end_column - s.column) if s.end_line == s.line else len(line) - s.column + 1
            width = max(1, min(width, max(1, len(line) - s.column + 1)))
            column = s.column
            if len(line) > MAX_QUOTED:  # quote a window of a very long line around the caret
                start = max(0, column - 1 - MAX_QUOTED // 2)
                line = ("…" if start else "") + line[start:start + MAX_QUOTED] + "…"
                column = column - start + (1 if start else 0)
                width = min(width, MAX_QUOTED // 2)
            out.append(f" {pad} |")
            out.append(f" {num} | {line}")
            out.append(f" {pad} | {' ' * (column - 1)}{'^' * width}")
    for label, value in (("expected", d.expected), ("received", d.received)):
        if value:
            out.append(f"   = {label}: {value}")
    out.extend(f"   = note: {n}" for n in d.notes)
    if d.hint:
        out.append(f"   = hint: {d.hint}")
    return "\n".join(out)


def render_rich(d: Diagnostic, sources: dict[str, str] | None = None) -> Any:
    """The same text with colour, as a rich `Text`."""
    from rich.text import Text

    text = Text()
    colour = "bold red" if d.severity == "error" else "bold yellow"
    for i, line in enumerate(render(d, sources).splitlines()):
        if i:
            text.append("\n")
        if i == 0:
            head, _, rest = line.partition(": ")
            text.append(head, style=colour)
            text.append(": " + rest, style="bold")
        elif line.lstrip().startswith("-->"):
            text.append(line, style="cyan")
        elif set(line.split("|")[-1].strip()) == {"^"}:
            pre, _, carets = line.rpartition("|")
            text.append(pre + "|", style="cyan")
            text.append(carets, style=colour)
        elif line.lstrip().startswith("= hint"):
            text.append(line, style="green")
        elif line.lstrip().startswith("="):
            text.append(line, style="dim")
        else:
            text.append(line)
    return text
