"""Source text → AST, for the .arch language (grammar: `archspec.lark`, shipped as package data)."""

from __future__ import annotations

import gc
import re
from functools import cache
from importlib.resources import files
from typing import Any, ClassVar

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter

from archspec.diagnostics import Diagnostic, Span, SpecError, line_col, remember_source, split_lines
from archspec.lang import ast

MAX_NESTING = 64  # open brackets or indentation levels; deeper input is refused with a diagnostic


class _Indenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = ["LPAR", "LSQB", "LBRACE", "CALL"]
    CLOSE_PAREN_types: ClassVar[list[str]] = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def __init__(self) -> None:
        super().__init__()
        self.alt_level = [0]

    def handle_NL(self, token: Token) -> Any:
        """As lark's, with Python's rule for tabs: a tab advances to the next multiple of 8 columns, and
        an indentation whose comparison with the enclosing ones depends on the width of a tab (spaces
        then a tab, or a tab where the block used spaces) is an error, as Python's TabError."""
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        col, alt = _columns(indent_str)
        if col > self.indent_level[-1]:
            if alt <= self.alt_level[-1]:
                raise _TabError(token, indent_str)
            self.indent_level.append(col)
            self.alt_level.append(alt)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        while col < self.indent_level[-1]:
            self.indent_level.pop()
            self.alt_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if col != self.indent_level[-1]:
            raise DedentError(f"Unexpected dedent to column {col}. Expected dedent to {self.indent_level[-1]}")
        if alt != self.alt_level[-1]:
            raise _TabError(token, indent_str)

    def process(self, stream: Any) -> Any:
        self.alt_level = [0]
        return super().process(stream)

    def _process(self, stream: Any) -> Any:
        for token in super()._process(self._guard(stream)):
            if len(self.indent_level) > MAX_NESTING or self.paren_level > MAX_NESTING:
                raise _TooDeep(token)
            yield token

    def _guard(self, stream: Any) -> Any:
        # An unbalanced `)` would trip the base class's assertion: let the parser report it instead.
        for token in stream:
            if token.type in self.CLOSE_PAREN_types and self.paren_level == 0:
                self.paren_level = 1
            yield token


def _columns(indent: str) -> tuple[int, int]:
    """The width of an indentation with tabs to the next multiple of 8, and with tabs as one column."""
    col = 0
    for ch in indent:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col, len(indent)


class _TabError(Exception):
    def __init__(self, token: Token, indent: str) -> None:
        self.line = token.end_line or 1
        self.column = (indent.find("\t") if "\t" in indent else 0) + 1
        self.indent = indent


class _TooDeep(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


@cache
def _parser() -> Lark:
    grammar = files("archspec.lang").joinpath("archspec.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", postlex=_Indenter(), propagate_positions=True,
                maybe_placeholders=True, cache=True)


# The language's keywords (the quoted words of archspec.lark): none of them names a layer, block or parameter.
KEYWORDS = frozenset({"network", "block", "use", "repeat", "if", "elif", "else", "frozen", "let", "from", "output",
                      "register", "branch", "as", "true", "false", "and", "or", "not", "for", "in"})

# Human names for the grammar's terminals, used in "expected ..." lists.
_TOKEN_NAMES = {
    "NAME": "a name", "CALL": "a call like `f(`", "INT": "an integer", "FLOAT": "a number",
    "DIMS": "a size like `3x3`", "STRING": "a string", "_NL": "end of line", "_INDENT": "an indented block",
    "_DEDENT": "end of the indented block", "COLON": "`:`", "SEMICOLON": "`;`", "COMMA": "`,`",
    "EQUAL": "`=`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`",
    "RBRACE": "`}`", "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`",
    "POW": "`**`", "$END": "end of file", "IN": "`in`", "NOT_IN": "`not in`",
}


def _describe_expected(expected: set[str]) -> str:
    names: list[str] = []
    for t in sorted(expected):
        if t.isupper() and t.lower() in KEYWORDS:
            names.append(f"`{t.lower()}`")
        else:
            names.append(_TOKEN_NAMES.get(t, t))
    names = sorted(set(names))
    if len(names) > 8:
        names = [*names[:8], "…"]
    return ", ".join(names)


def _span_at(file: str, line: int, column: int, width: int = 1) -> Span:
    return Span(file, line, column, line, column + max(width, 1))


_FOR_STATEMENT = re.compile(r"^([ \t]*)for[ \t]+([A-Za-z_]\w*)[ \t]+in[ \t]+(.*?)[ \t]*:")


def _for_statement(file: str, text: str, line: int) -> SpecError | None:
    """Python's `for i in range(n):` as a statement, on the failing line or just above it: archspec's loop
    is `repeat n as i:` (a `for` inside brackets is a comprehension, and its line does not end in `:`)."""
    lines = split_lines(text)
    for i in range(min(line, len(lines)), max(0, line - 3), -1):
        m = _FOR_STATEMENT.match(lines[i - 1])
        if m:
            count = m.group(3)
            r = re.fullmatch(r"range\(\s*([^,()]+?)\s*\)", count)
            xs = count if re.fullmatch(r"[A-Za-z_]\w*", count) else "xs"
            example = f"repeat {r.group(1)} as {m.group(2)}:" if r else f"repeat len({xs}) as k:` and `{xs}[k]"
            return SpecError(Diagnostic(
                "E100", "archspec has no `for` statement: a loop is a `repeat`", _span_at(file, i, len(m.group(1)) + 1, 3),
                expected="`repeat n:` or `repeat n as i:` (i = 0, 1, ..., n-1)",
                hint=f"write `{example}`; `for` appears inside brackets only, in a list comprehension"))
    return None


def _keyword_before(text: str, tok: Token) -> tuple[str, int] | None:
    """`if = conv 6 5x5`: the keyword that stands alone before `tok` on its line, and its column."""
    lines = split_lines(text)
    if not tok.line or tok.line > len(lines) or not tok.column:
        return None
    m = re.fullmatch(r"([ \t]*)([A-Za-z_]\w*)[ \t]*", lines[tok.line - 1][: tok.column - 1])
    if m is None or m.group(2) not in KEYWORDS:
        return None
    return m.group(2), len(m.group(1)) + 1


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> SpecError:
    line, col = max(e.line or 1, 1), max(e.column or 1, 1)
    loop = _for_statement(file, text, line)
    if loop is not None:
        return loop
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        return SpecError(Diagnostic(
            "E100", f"unexpected character {ch!r}", _span_at(file, line, col),
            expected=_describe_expected(set(e.allowed or ())) or None,
            hint="names are letters, digits and `_`; sizes are written like `3x3`; comments start with `#`"))
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = split_lines(text.rstrip("\r\n")) or [""]
        return SpecError(Diagnostic("E100", "unexpected end of file",
                                    _span_at(file, len(lines), len(lines[-1]) + 1),
                                    expected=_describe_expected(set(getattr(e, "expected", ()) or ())),
                                    hint="a block or network header ending in `:` needs an indented body"))
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = set(e.expected or ())
    received = _TOKEN_NAMES.get(tok.type, f"`{tok}`") if tok.type.startswith("_") else f"`{tok}`"
    hint = None
    notes = []
    if tok.type == "_INDENT":
        msg, hint = "unexpected indentation", "indent only the body of a `block`, `repeat`, `if`, `branch` or merge"
        if "\t" in str(tok):
            msg = "unexpected indentation (the line is indented with a tab)"
            notes.append("a tab advances to the next multiple of 8 columns")
    elif tok.type == "_NL" and "COLON" in expected:
        msg, hint = "missing `:`", "a `block`, `network`, `repeat`, `if` or `branch` header ends with `:`"
    elif tok.type == "_NL" and "_INDENT" in expected:
        msg, hint = "expected an indented block", "indent the body under the line ending in `:`"
    elif tok.type == "_NL":
        msg = "unexpected end of line"
    elif tok.type == "COLON" and "_NL" in expected:
        msg = "unexpected `:`"
        hint = "only `block`, `network`, `repeat`, `if`, `else`, `frozen`, `branch` and merges (`concat:`, `add:`) take a body"
    elif tok.type == "EQUAL" and (kw := _keyword_before(text, tok)) is not None:
        word, column = kw
        return SpecError(Diagnostic(
            "E100", f"`{word}` is a keyword: it cannot name a layer", _span_at(file, tok.line or line, column, len(word)),
            expected="a name that is not a keyword (docs/language.md lists them)", received=f"`{word}`",
            hint=f"choose another name, e.g. `{word}_`"))
    else:
        msg = f"unexpected {received}"
        if tok.type in ("INT", "FLOAT", "DIMS") and "NAME" in expected:
            hint = "a statement starts with a layer or block name, e.g. `conv 64 3x3`"
    width = len(str(tok)) if not tok.type.startswith("_") else 1
    if tok.type in ("_INDENT", "_DEDENT"):  # positioned on the newline before: point at the indented line
        span = _span_at(file, tok.end_line or line, 1, max(1, (tok.end_column or 1) - 1))
    else:
        span = _span_at(file, tok.line or line, tok.column or col, width)
    return SpecError(Diagnostic("E100", msg, span, expected=_describe_expected(expected), received=received,
                                hint=hint, notes=notes))


def parse(text: str, file: str = "<string>") -> ast.SpecFile:
    """Parse .arch source text into an `ast.SpecFile`; raise `SpecError` on a syntax error."""
    was = gc.isenabled()
    gc.disable()  # many small objects and no cycles: the collector would only cost time (2-3× on big files)
    try:
        return _parse(text, file)
    finally:
        if was:
            gc.enable()


def _parse(text: str, file: str) -> ast.SpecFile:
    remember_source(file, text)
    if "\x00" in text:
        line, col = line_col(text, text.index("\x00"))
        raise SpecError(Diagnostic("E102", "the file holds binary data (a NUL byte)", _span_at(file, line, col),
                                   hint="archspec reads UTF-8 text (.arch) or YAML specs"))
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except DedentError:
        line, levels = _dedent_line(text)
        raise SpecError(Diagnostic("E101", "this line's indentation matches no enclosing block",
                                   _span_at(file, line, 1, _indent_width(text, line)),
                                   expected="an indentation of " + " or ".join(map(str, levels)) + " columns",
                                   received=f"{_indent_columns(text, line)} columns",
                                   hint="indent by the same amount as an earlier line of the enclosing block")) from None
    except _TabError as e:
        raise SpecError(Diagnostic("E101", "inconsistent use of tabs and spaces in the indentation",
                                   _span_at(file, e.line, e.column),
                                   expected="an indentation that means the same whatever the width of a tab: "
                                            "spaces only, or tabs only",
                                   received=_show_indent(e.indent),
                                   hint="indent with spaces (a tab after spaces lands at column 8, whatever "
                                        "your editor shows)")) from None
    except _TooDeep as e:
        raise SpecError(Diagnostic("E600", f"nesting deeper than {MAX_NESTING} levels",
                                   _span_at(file, e.token.line or 1, e.token.column or 1),
                                   hint="flatten the spec with blocks")) from None
    except RecursionError:
        raise SpecError(Diagnostic("E600", "expression nested too deeply", _span_at(file, 1, 1))) from None
    try:
        return _ToAst(file, text).transform(tree)
    except VisitError as e:  # lark wraps what a transformer method raises
        if isinstance(e.orig_exc, SpecError):
            raise e.orig_exc from None
        if isinstance(e.orig_exc, RecursionError):
            raise SpecError(Diagnostic("E600", "expression nested too deeply", _span_at(file, 1, 1))) from None
        raise
    except RecursionError:
        raise SpecError(Diagnostic("E600", "expression nested too deeply", _span_at(file, 1, 1))) from None


def parse_expr(text: str, file: str = "<option>") -> ast.Expr:
    """Parse one expression (used for `--set name=value` and YAML values)."""
    spec = parse(f"network _(_={text}):\n    _\n", file)
    assert spec.network is not None
    default = spec.network.params[0].default
    assert default is not None
    return default


def _show_indent(indent: str) -> str:
    """`4 spaces then 1 tab`."""
    parts: list[tuple[int, str]] = []
    for ch in indent:
        word = "tab" if ch == "\t" else "space"
        if parts and parts[-1][1] == word:
            parts[-1] = (parts[-1][0] + 1, word)
        else:
            parts.append((1, word))
    return " then ".join(f"{n} {w}{'s' if n > 1 else ''}" for n, w in parts) or "no indentation"


def _indent_width(text: str, line: int) -> int:
    lines = split_lines(text)
    if 1 <= line <= len(lines):
        s = lines[line - 1]
        return max(1, len(s) - len(s.lstrip(" \t")))
    return 1


def _indent_columns(text: str, line: int) -> int:
    lines = split_lines(text)
    s = lines[line - 1] if 1 <= line <= len(lines) else ""
    return _columns(s[:len(s) - len(s.lstrip(" \t"))])[0]


def _dedent_line(text: str) -> tuple[int, list[int]]:
    """The first line whose indentation matches no open level (the line DedentError complains of),
    with the levels that were open there."""
    stack = [0]
    for i, raw in enumerate(split_lines(text), 1):
        s = raw.split("#", 1)[0]
        if not s.strip(" \t\f"):
            continue
        ind = _columns(s[:len(s) - len(s.lstrip(" \t"))])[0]
        if ind > stack[-1]:
            stack.append(ind)
        else:
            levels = list(stack)
            while ind < stack[-1]:
                stack.pop()
            if ind != stack[-1]:
                return i, levels
    return 1, [0]


# -- tree → AST --------------------------------------------------------------------------------

def _tok_span(file: str, t: Token) -> Span:
    return Span(file, t.line or 1, t.column or 1, t.end_line or t.line or 1, t.end_column or (t.column or 1) + 1)


@v_args(meta=True, inline=True)
class _ToAst(Transformer[Token, Any]):
    def __init__(self, file: str, text: str = "") -> None:
        super().__init__()
        self.file = file
        self.text = text
        # subtractions written `a -b` (a space before the minus, none after): in a layer's arguments, two
        # arguments (`transpose 0 -1` is 0 and -1), as a shell reads them; the operator's token for its span
        self.arg_minus: dict[int, tuple[ast.BinOp, Token]] = {}

    def _span(self, meta: Any) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # file structure
    def start(self, meta: Any, *items: Any) -> ast.SpecFile:
        uses = [i for i in items if isinstance(i, ast.Use)]
        blocks = [i for i in items if isinstance(i, ast.BlockDef)]
        nets = [i for i in items if isinstance(i, ast.Network)]
        if len(nets) > 1:
            raise SpecError(Diagnostic("E208", f"a file defines one network; this one defines {len(nets)}",
                                       nets[1].span, hint="move the second network to a file of its own"))
        return ast.SpecFile.model_construct(path=self.file, uses=uses, blocks=blocks, network=nets[0] if nets else None,
                            span=self._span(meta))

    def use(self, meta: Any, path: Token) -> ast.Use:
        return ast.Use.model_construct(path=str(path)[1:-1], span=self._span(meta))

    def network_def(self, meta: Any, name: Token, params: list[ast.Param] | None, body: list[Any]) -> ast.Network:
        return ast.Network.model_construct(name=str(name), params=params or [], body=body, span=self._span(meta))

    def block_def(self, meta: Any, name: Token, params: list[ast.Param] | None, body: list[Any]) -> ast.BlockDef:
        return ast.BlockDef.model_construct(name=str(name), params=params or [], body=body, span=self._span(meta))

    def params(self, meta: Any, *ps: ast.Param | None) -> list[ast.Param]:
        return [p for p in ps if p is not None]

    def param(self, meta: Any, name: Token, default: Any) -> ast.Param:
        return ast.Param.model_construct(name=str(name), default=default, span=_tok_span(self.file, name))

    def suite(self, meta: Any, *stmts: Any) -> list[Any]:
        out: list[Any] = []
        for s in stmts:
            out.extend(s if isinstance(s, list) else [s])
        return out

    def simple_stmts(self, meta: Any, *stmts: Any) -> list[Any]:
        return [s for s in stmts if s is not None]

    # statements
    def layer(self, meta: Any, target: Token | None, kind: Token, args: list[ast.Arg]) -> ast.Layer:
        return ast.Layer.model_construct(target=str(target) if target else None, kind=str(kind), args=args,
                         kind_span=_tok_span(self.file, kind), span=self._span(meta))

    def layer_call(self, meta: Any, target: Token | None, call: Token, callargs: list[ast.Arg],
                   args: list[ast.Arg]) -> ast.Layer:
        return ast.Layer.model_construct(target=str(target) if target else None, kind=str(call)[:-1], args=callargs + args,
                         kind_span=self._call_span(call), span=self._span(meta))

    def _call_span(self, call: Token) -> Span:
        s = _tok_span(self.file, call)
        return Span(s.file, s.line, s.column, s.end_line, s.end_column - 1)

    def merge(self, meta: Any, target: Token | None, kind: Token, args: list[ast.Arg], *branches: ast.Branch) -> ast.Merge:
        return ast.Merge.model_construct(target=str(target) if target else None, kind=str(kind), args=args, branches=list(branches),
                         kind_span=_tok_span(self.file, kind), span=self._span(meta))

    def merge_call(self, meta: Any, target: Token | None, call: Token, callargs: list[ast.Arg], args: list[ast.Arg],
                   *branches: ast.Branch) -> ast.Merge:
        return ast.Merge.model_construct(target=str(target) if target else None, kind=str(call)[:-1], args=callargs + args,
                         branches=list(branches), kind_span=self._call_span(call), span=self._span(meta))

    def branch(self, meta: Any, name: Token | None, body: list[Any]) -> ast.Branch:
        return ast.Branch.model_construct(name=str(name) if name else None, body=body, span=self._span(meta))

    def repeat(self, meta: Any, count: Any, var: Token | None, body: list[Any]) -> ast.Repeat:
        return ast.Repeat.model_construct(count=count, var=str(var) if var else None, body=body, span=self._span(meta),
                                          var_span=_tok_span(self.file, var) if var else None)

    def if_(self, meta: Any, cond: Any, body: list[Any], *rest: Any) -> ast.If:
        *elifs, orelse = rest
        tail: list[Any] = orelse or []
        for e in reversed(elifs):
            tail = [ast.If.model_construct(cond=e[0], body=e[1], orelse=tail, span=e[2])]
        return ast.If.model_construct(cond=cond, body=body, orelse=tail, span=self._span(meta))

    def elif_(self, meta: Any, cond: Any, body: list[Any]) -> tuple[Any, list[Any], Span | None]:
        return (cond, body, self._span(meta))

    def frozen(self, meta: Any, cond: Any, body: list[Any]) -> ast.Frozen:
        return ast.Frozen.model_construct(cond=cond, body=body, span=self._span(meta))

    def let(self, meta: Any, name: Token, value: Any) -> ast.Let:
        return ast.Let.model_construct(name=str(name), value=value, span=self._span(meta))

    def from_(self, meta: Any, name: Token) -> ast.From:
        return ast.From.model_construct(name=str(name), span=self._span(meta))

    def register(self, meta: Any, *names: Token) -> ast.Register:
        return ast.Register.model_construct(names=[str(n) for n in names], span=self._span(meta))

    def output(self, meta: Any, args: list[ast.Arg]) -> ast.Output:
        return ast.Output.model_construct(args=args, span=self._span(meta))

    def args(self, meta: Any, *args: ast.Arg) -> list[ast.Arg]:
        if not self.arg_minus:
            return list(args)
        out: list[ast.Arg] = []
        for a in args:
            values = self._split_minus(a.value) if a.name is None else [a.value]
            out.extend([a] if len(values) == 1 else [ast.Arg.model_construct(value=v, span=v.span) for v in values])
        return out

    def _split_minus(self, e: Any) -> list[Any]:
        """`0 -1` → [0, -1]; `a - 1 -2 + b` → [a - 1, -2 + b]: a sum is cut before each `-` written `a -b`."""
        if not (isinstance(e, ast.BinOp) and e.op in ("+", "-")):
            return [e]
        parts = self._split_minus(e.left)
        found = self.arg_minus.get(id(e))
        if found is not None and found[0] is e:
            op, end = found[1], e.right.span
            span = _tok_span(self.file, op) if end is None else Span(self.file, op.line or 1, op.column or 1,
                                                                       end.end_line, end.end_column)
            return [*parts, ast.Unary.model_construct(op="-", operand=e.right, span=span)]
        if len(parts) == 1:
            return [e]
        last = parts[-1]
        joined: Span | None = None
        if last.span and e.right.span:
            joined = Span(self.file, last.span.line, last.span.column, e.right.span.end_line, e.right.span.end_column)
        return [*parts[:-1], ast.BinOp.model_construct(op=e.op, left=last, right=e.right, span=joined)]

    def callargs(self, meta: Any, *args: ast.Arg | None) -> list[ast.Arg]:
        return [a for a in args if a is not None]

    def posarg(self, meta: Any, value: Any) -> ast.Arg:
        return ast.Arg.model_construct(value=value, span=value.span)

    def kwarg(self, meta: Any, name: Token, value: Any) -> ast.Arg:
        return ast.Arg.model_construct(name=str(name), value=value, span=self._span(meta))

    # expressions
    def ifexp(self, meta: Any, then: Any, cond: Any, orelse: Any) -> ast.IfExp:
        return ast.IfExp.model_construct(cond=cond, then=then, orelse=orelse, span=self._span(meta))

    def or_(self, meta: Any, *values: Any) -> Any:
        return values[0] if len(values) == 1 else ast.BoolOp.model_construct(op="or", values=list(values), span=self._span(meta))

    def and_(self, meta: Any, *values: Any) -> Any:
        return values[0] if len(values) == 1 else ast.BoolOp.model_construct(op="and", values=list(values), span=self._span(meta))

    def not_(self, meta: Any, operand: Any) -> ast.Unary:
        return ast.Unary.model_construct(op="not", operand=operand, span=self._span(meta))

    def compare(self, meta: Any, first: Any, *rest: Any) -> Any:
        if not rest:
            return first
        return ast.Compare.model_construct(ops=[" ".join(str(t).split()) for t in rest[0::2]], operands=[first, *rest[1::2]],
                                           span=self._span(meta))

    def binops(self, meta: Any, first: Any, *rest: Any) -> Any:
        left = first
        for op, right in zip(rest[0::2], rest[1::2]):
            span = None
            if left.span and right.span:
                span = Span(self.file, left.span.line, left.span.column, right.span.end_line, right.span.end_column)
            left = ast.BinOp.model_construct(op=str(op), left=left, right=right, span=span)
            if op == "-" and self._spaced_before_only(op):
                self.arg_minus[id(left)] = (left, op)
        return left

    def _spaced_before_only(self, op: Token) -> bool:
        start, end = op.start_pos, op.end_pos
        if start is None or end is None or start <= 0 or end >= len(self.text):
            return False
        if self.text[start - 1] not in " \t" or self.text[end] in " \t\r\n\\":
            return False
        line = self.text[self.text.rfind("\n", 0, start) + 1:start]  # not inside brackets: `(a -1)` subtracts
        return sum(line.count(c) for c in "([{") == sum(line.count(c) for c in ")]}")

    def unary(self, meta: Any, op: Token, operand: Any) -> ast.Unary:
        return ast.Unary.model_construct(op=str(op), operand=operand, span=self._span(meta))

    def pow(self, meta: Any, base: Any, _op: Token, exp: Any) -> ast.BinOp:
        return ast.BinOp.model_construct(op="**", left=base, right=exp, span=self._span(meta))

    def slice_(self, meta: Any, value: Any, lower: Any, upper: Any, step: Any) -> ast.Slice:
        return ast.Slice.model_construct(value=value, lower=lower, upper=upper, step=step, span=self._span(meta))

    def index(self, meta: Any, value: Any, idx: Any) -> ast.Index:
        return ast.Index.model_construct(value=value, index=idx, span=self._span(meta))

    def _int(self, text: str, t: Token) -> int:
        if len(text) > 40:  # far beyond any limit, and beyond what `int()` converts (4,300 digits)
            raise SpecError(Diagnostic("E600", f"number too large ({len(text):,} digits)", _tok_span(self.file, t),
                                       expected="at most 2**62 in magnitude"))
        return int(text)

    def int_(self, meta: Any, t: Token) -> ast.Num:
        return ast.Num.model_construct(value=self._int(str(t), t), span=_tok_span(self.file, t))

    def float_(self, meta: Any, t: Token) -> ast.Num:
        return ast.Num.model_construct(value=float(t), span=_tok_span(self.file, t))

    def string(self, meta: Any, t: Token) -> ast.Str:
        return ast.Str.model_construct(value=str(t)[1:-1], span=_tok_span(self.file, t))

    def dims(self, meta: Any, t: Token) -> ast.Dims:
        return ast.Dims.model_construct(values=tuple(self._int(v, t) for v in str(t).split("x")),
                                        span=_tok_span(self.file, t))

    def true(self, meta: Any) -> ast.Bool:
        return ast.Bool.model_construct(value=True, span=self._span(meta))

    def false(self, meta: Any) -> ast.Bool:
        return ast.Bool.model_construct(value=False, span=self._span(meta))

    def name(self, meta: Any, t: Token) -> ast.Name:
        return ast.Name.model_construct(id=str(t), span=_tok_span(self.file, t))

    def call(self, meta: Any, func: Token, args: list[ast.Arg]) -> ast.Call:
        return ast.Call.model_construct(func=str(func)[:-1], args=args, span=self._span(meta))

    def tuple_(self, meta: Any, *items: Any) -> ast.Seq:
        return ast.Seq.model_construct(items=[i for i in items if i is not None], span=self._span(meta))

    def list_(self, meta: Any, *items: Any) -> ast.Seq:
        return ast.Seq.model_construct(items=[i for i in items if i is not None], span=self._span(meta))

    def listcomp(self, meta: Any, elt: Any, *gens: ast.CompFor) -> ast.Comp:
        return ast.Comp.model_construct(elt=elt, gens=list(gens), span=self._span(meta))

    def call_comp(self, meta: Any, func: Token, elt: Any, *gens: ast.CompFor) -> ast.Call:
        """`sum(x for x in xs)`: the call of one list comprehension."""
        first, last = gens[0].span, gens[-1].span
        span = Span(self.file, elt.span.line, elt.span.column, last.end_line, last.end_column) \
            if elt.span is not None and first is not None and last is not None else self._span(meta)
        comp = ast.Comp.model_construct(elt=elt, gens=list(gens), span=span)
        return ast.Call.model_construct(func=str(func)[:-1], args=[ast.Arg.model_construct(value=comp, span=span)],
                                        span=self._span(meta))

    def comp_for(self, meta: Any, *parts: Any) -> ast.CompFor:
        names = [str(p) for p in parts if isinstance(p, Token) and p.type == "NAME"]
        it, *conds = [p for p in parts if not isinstance(p, Token)]
        return ast.CompFor.model_construct(vars=names, iter=it, conds=list(conds), span=self._span(meta))

    def comp_if(self, meta: Any, cond: Any) -> Any:
        return cond

    def dict_(self, meta: Any, *pairs: Any) -> ast.DictExpr:
        ps = [p for p in pairs if p is not None]
        return ast.DictExpr.model_construct(keys=[k for k, _ in ps], values=[v for _, v in ps], span=self._span(meta))

    def pair(self, meta: Any, k: Any, v: Any) -> tuple[Any, Any]:
        return (k, v)

    def __default__(self, data: Any, children: Any, meta: Any) -> Any:  # pragma: no cover - grammar guard
        return Tree(data, children, meta)
