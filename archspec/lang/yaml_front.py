"""YAML → AST: the YAML form of the archspec language, with the same meaning (docs/yaml.md).

The text is composed with PyYAML's safe loader into nodes that keep their line and column; it is never
constructed into Python objects, aliases are refused and nesting is bounded. The nodes are then read into
the `archspec.lang.ast` models the .arch parser produces. Strings are archspec source: a statement item
(`- conv 64 3x3 relu`) goes through the .arch parser, a value (`c * 4`, `3x3`, `same`) through its
expression grammar, and the spans of what they hold are moved back to the string's place in the YAML file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import yaml
from pydantic import BaseModel
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from archspec.diagnostics import (
    Diagnostic,
    Span,
    SpecError,
    did_you_mean,
    line_col,
    remember_source,
    split_lines,
)
from archspec.lang import ast
from archspec.lang.parser import KEYWORDS, MAX_NESTING, parse

MAX_DEPTH = 2 * MAX_NESTING  # nested YAML collections; an .arch level is two (a statement and its body)
_SNIPPET = "<yaml string>"  # the name under which strings are handed to the .arch parser
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_COMP = re.compile(r"\bfor\s+[A-Za-z_][A-Za-z0-9_]*\s+in\b")  # `j for j in range(3)`
_KWARG = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)")  # `pad=1` where a value belongs
_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP = (_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))
_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP}

_TOP = ("network", "params", "use", "blocks", "body")
_HEADS = {  # statement items other than layers: head key → the keys such an item may have
    "repeat": ("repeat", "as", "body"),
    "if": ("if", "then", "else"),
    "frozen": ("frozen", "body"),
    "let": ("let",),
    "from": ("from",),
    "output": ("output", "weight", "name"),
    "block": ("block", "params", "body"),
}
_STMT = "a string of .arch statements (`conv 64 3x3 relu`) or a mapping (`maxpool: {kernel: 2, stride: 2}`)"
_QUOTE_HINT = ("quote values that hold `: ` or ` #`, or that start with `{`, `[`, `*`, `&`, `!`, `|` or `>` "
               "(`let: {deep: \"{16: 3, 19: 4}[depth]\"}`); indent with spaces")


def parse_yaml(text: str, file: str = "<string>") -> ast.SpecFile:
    """Parse a YAML spec into an `ast.SpecFile`; raise `SpecError` (mostly E110) on a mistake."""
    remember_source(file, text, yaml=True)
    return _Reader(file, text).spec(_compose(text, file))


# -- YAML text → nodes ---------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Composes nodes only (no Python objects); refuses aliases, unusual tags and deep nesting."""

    file = "<string>"
    depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise SpecError(Diagnostic("E110", "YAML aliases (`*name`) are not supported", _mark_span(self.file, mark),
                                       hint="write the value out; for a repeated piece of network, define a block"))
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise SpecError(Diagnostic("E600", f"YAML nested deeper than {MAX_DEPTH} levels",
                                           _mark_span(self.file, mark), hint="flatten the spec with blocks"))
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is not None and node.tag not in _TAGS:
            explicit = getattr(event, "tag", None) is not None
            what = (f"YAML tags (`{node.tag}`) are not supported" if explicit else
                    f"a YAML value of type `{node.tag.removeprefix(_TAG)}` has no meaning in a spec")
            raise SpecError(Diagnostic("E110", what, _mark_span(self.file, mark),
                                       expected="a string, number, boolean, list or mapping",
                                       hint=None if explicit else "quote it to write archspec source"))
        return node


def _mark_span(file: str, mark: Any, width: int = 1) -> Span:
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 1 + width)


def _compose(text: str, file: str) -> Node | None:
    loader = None
    try:
        loader = _Loader(text)
        loader.file = file
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise _yaml_error(e, file, text) from None
    except yaml.reader.ReaderError as e:
        line, col = line_col(text, e.position, yaml=True)
        char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise SpecError(Diagnostic("E102", f"the file holds a character YAML does not allow ({char})",
                                   Span(file, line, col, line, col + 1), hint="archspec reads UTF-8 text")) from None
    except RecursionError:
        raise SpecError(Diagnostic("E600", "YAML nested too deeply", Span(file, 1, 1, 1, 2))) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_error(e: yaml.MarkedYAMLError, file: str, text: str) -> SpecError:
    mark, problem = e.problem_mark or e.context_mark, e.problem or e.context or "invalid YAML"
    if mark is not None and e.context_mark is not None and mark.index >= len(text.rstrip()):
        mark, problem = e.context_mark, f"{problem} ({e.context})"  # an unclosed bracket or quote: where it opens
    span = _mark_span(file, mark) if mark else None
    hint, notes = _QUOTE_HINT, []
    if mark is not None and mark.index < len(text) and text[mark.index] == "\t":
        problem, hint = "a tab", "YAML indents with spaces, not tabs"
    elif "another document" in problem:
        problem, hint = "a second document", "a YAML spec is one document: remove the second `---`"
    if e.context and e.context_mark is not None and e.context_mark is not mark:
        notes.append(f"{e.context} at {_mark_span(file, e.context_mark)}")
    return SpecError(Diagnostic("E110", f"invalid YAML: {problem}", span, hint=hint, notes=notes))


# -- nodes → AST ---------------------------------------------------------------------------------

def _end(node: Node) -> Any:
    """Where a node's text ends (a block collection's own end mark is the start of the next line)."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node.end_mark


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        keys = ", ".join(f"`{k.value}`" for k, _ in node.value[:6] if isinstance(k, ScalarNode))
        return f"a mapping ({keys})" if keys else "an empty mapping"
    if isinstance(node, SequenceNode):
        return f"a list of {len(node.value)}"
    if node.tag == _NULL:
        return "nothing (null)"
    value = node.value if len(node.value) <= 40 else node.value[:39] + "…"
    kind = {_STR: "a string", _INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean"}.get(node.tag, "a value")
    return f"{kind} `{value}`"


def _relocate(root: Any, fix: Callable[[Span], Span]) -> Any:
    """A copy of an AST (sub)tree with every span passed through `fix`. Iterative: `1 + 2 + ... + n` is
    a tree as deep as the chain is long."""
    done: dict[int, Any] = {}

    def get(x: Any) -> Any:
        return fix(x) if isinstance(x, Span) else done.get(id(x), x)

    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if not isinstance(node, (list, BaseModel)) or id(node) in done:
            continue
        fields = list(type(node).model_fields) if isinstance(node, BaseModel) else []
        if not ready:
            stack.append((node, True))
            stack.extend((x, False) for x in (node if isinstance(node, list) else (getattr(node, k) for k in fields)))
        elif isinstance(node, list):
            done[id(node)] = [get(x) for x in node]
        else:
            done[id(node)] = node.model_copy(update={k: get(getattr(node, k)) for k in fields})
    return get(root)


Items = dict[str, tuple[ScalarNode, Node]]  # a mapping's entries by key: (key node, value node)


class _Reader:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = split_lines(text, yaml=True)
        self.scalars = SafeConstructor()
        self.parsed: dict[str, list[Any]] = {}  # wrapped source → statements: strings repeat (`bn`, `3x3`)

    # helpers
    def span(self, node: Node, last: Node | None = None) -> Span:
        s, e = node.start_mark, _end(last or node)
        return Span(self.file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)

    def error(self, node: Node, message: str, expected: str | None = None, hint: str | None = None,
              received: str | None = None, describe: bool = True) -> SpecError:
        received = received or (_describe(node) if describe else None)
        return SpecError(Diagnostic("E110", message, self.span(node), expected=expected, received=received, hint=hint))

    def is_str(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _STR

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _NULL

    def name(self, node: Node, what: str) -> str:
        if not (self.is_str(node) and _NAME.match(node.value)):
            raise self.error(node, f"{what} must be a name", expected="letters, digits and `_`, e.g. `stage`")
        return str(node.value)

    def ident(self, node: Node, what: str) -> str:
        """A name the user chooses (a layer's, a block's, a parameter's): not one of the language's keywords,
        which `archspec fmt` could not write back as .arch text."""
        name = self.name(node, what)
        if name in KEYWORDS:
            raise self.error(node, f"{what} cannot be `{name}`: it is a keyword of the language",
                             expected="a name that is not a keyword (docs/language.md lists them)",
                             received=f"`{name}`", hint=f"choose another name, e.g. `{name}_`")
        return name

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...] | None = None) -> Items:
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} is a mapping", expected="`key: value` lines")
        out: Items = {}
        for k, v in node.value:
            key = self.name(k, "a key")
            if key in out:
                raise self.error(k, f"`{key}` is given twice in {what}", describe=False)
            if allowed is not None and key not in allowed:
                raise self.error(k, f"{what} has no key `{key}`", expected=", ".join(f"`{a}`" for a in allowed),
                                 hint=did_you_mean(key, allowed), describe=False)
            out[key] = (k, v)
        return out

    def need(self, node: Node, items: Items, key: str, what: str) -> Node:
        if key not in items:
            raise self.error(node, f"{what} needs `{key}:`")
        return items[key][1]

    # strings of archspec source
    def arch(self, node: Node, prefix: str = "") -> list[Any]:
        """Statements written in a string, parsed by the .arch parser (`prefix` goes before the text)."""
        assert isinstance(node, ScalarNode)
        if not node.value.strip():
            raise self.error(node, "an empty string", expected=_STMT)
        lines = node.value.rstrip("\n").split("\n")
        src = "network _:\n" + "".join(f"    {prefix if i == 0 else ''}{ln}\n" for i, ln in enumerate(lines))
        at = self.locator(node, len(prefix), len(lines))

        def fix(s: Span) -> Span:
            return Span(self.file, *at(s.line, s.column), *at(s.end_line, s.end_column))

        body = self.parsed.get(src)
        if body is None:
            try:
                spec = parse(src, _SNIPPET)
            except SpecError as e:
                d = e.diagnostic
                raise SpecError(replace(d, span=fix(d.span) if d.span else self.span(node))) from None
            assert spec.network is not None
            body = self.parsed[src] = spec.network.body
        return [_relocate(s, fix) for s in body]

    def locator(self, node: ScalarNode, prefix: int, count: int) -> Callable[[int, int], tuple[int, int]]:
        """Maps a line and column of the wrapped source to the YAML file (exactly for one-line plain
        strings and `|` blocks; by line for other multi-line strings)."""
        block = node.style in ("|", ">")
        first = node.start_mark.line + (1 if block else 0)  # 0-based line of the string's first line
        if block:
            col0 = next((len(ln) - len(ln.lstrip(" ")) for ln in self.lines[first:] if ln.strip()), 0)
        else:
            col0 = node.start_mark.column + (1 if node.style in ("'", '"') else 0)

        def at(line: int, column: int) -> tuple[int, int]:
            i = min(max(line - 2, 0), count - 1)  # the string's line (the wrapper's header is line 1)
            col = column - 4 - (prefix if i == 0 else 0)
            return first + i + 1, max(1, col + (col0 if block or i == 0 else 0))

        return at

    # expressions
    def expr(self, node: Node) -> Any:
        if isinstance(node, SequenceNode):
            for item in node.value:
                if self.is_str(item) and _COMP.search(item.value):
                    raise self.error(node, "a list comprehension in a YAML list", expected="a quoted string",
                                     hint=f'quote it: "[{item.value}]" (YAML reads an unquoted `[...]` as a list '
                                          "of its own)", describe=False)
            return ast.Seq(items=[self.expr(i) for i in node.value], span=self.span(node))
        if isinstance(node, MappingNode):
            return ast.DictExpr(keys=[self.expr(k) for k, _ in node.value],
                                values=[self.expr(v) for _, v in node.value], span=self.span(node))
        if node.tag == _STR:
            if _KWARG.match(node.value):
                raise self.error(node, f"`{node.value}` is not a value", expected="e.g. `c * 4`, `3x3`, `same`",
                                 hint="write keyword arguments as keys: `conv: {args: [64, 3x3], pad: 1}`")
            stmts = self.arch(node, "let _ = ")
            if len(stmts) != 1 or not isinstance(stmts[0], ast.Let):
                raise self.error(node, "a value is one expression", expected="e.g. `c * 4`, `3x3`, `same`")
            return stmts[0].value
        if node.tag == _BOOL:
            return ast.Bool(value=self.scalars.construct_object(node), span=self.span(node))
        if node.tag == _INT and len(node.value) > 40:  # far beyond any limit, and beyond what `int()` converts
            raise SpecError(Diagnostic("E600", f"number too large ({len(node.value):,} characters)", self.span(node),
                                       expected="at most 2**62 in magnitude"))
        if node.tag in (_INT, _FLOAT):
            return ast.Num(value=self.scalars.construct_object(node), span=self.span(node))
        raise self.error(node, "a value is missing", expected="a number, a size like `3x3`, a name or an expression")

    def arg(self, node: Node, key: ScalarNode | None = None) -> ast.Arg:
        span = self.span(key, node) if key else self.span(node)
        return ast.Arg(name=str(key.value) if key else None, value=self.expr(node), span=span)

    def params(self, node: Node) -> list[ast.Param]:
        if self.is_null(node):
            return []
        if isinstance(node, SequenceNode):
            return [ast.Param(name=self.ident(p, "a parameter"), span=self.span(p)) for p in node.value]
        items = self.mapping(node, "`params` (a list of names, or a mapping of names to defaults)")
        return [ast.Param(name=k, default=None if self.is_null(v) else self.expr(v), span=self.span(kn, v))
                for k, (kn, v) in items.items()]

    # the file
    def spec(self, root: Node | None) -> ast.SpecFile:
        if root is None:
            raise SpecError(Diagnostic("E110", "the YAML spec is empty", Span(self.file, 1, 1, 1, 2),
                                       expected="a mapping with `network:`, `params:`, `blocks:` and `body:`"))
        top = self.mapping(root, "a YAML spec", _TOP)
        uses: list[ast.Use] = []
        if "use" in top:
            node = top["use"][1]
            for u in node.value if isinstance(node, SequenceNode) else [node]:
                if not self.is_str(u):
                    raise self.error(u, "`use` names files", expected='"blocks.arch" or a list of such paths')
                uses.append(ast.Use(path=u.value, span=self.span(u)))
        blocks = []
        if "blocks" in top:
            for name, (kn, v) in self.mapping(top["blocks"][1], "`blocks`").items():
                blocks.append(self.blockdef(name, kn, v, self.mapping(v, f"block `{name}`", ("params", "body"))))
        network = None
        if "network" in top or "body" in top or "params" in top:
            if "network" not in top:
                raise self.error(root, "a spec with a `body` needs `network: NAME`", received="no `network:`")
            key, value = top["network"]
            name = self.ident(value, "`network`")
            network = ast.Network(name=name, params=self.params(top["params"][1]) if "params" in top else [],
                                  body=self.body(self.need(root, top, "body", f"network `{name}`"), "`body`"),
                                  span=self.span(key, value))
        return ast.SpecFile(path=self.file, uses=uses, blocks=blocks, network=network, span=self.span(root))

    def blockdef(self, name: str, key: Node, node: Node, items: Items) -> ast.BlockDef:
        return ast.BlockDef(name=name, params=self.params(items["params"][1]) if "params" in items else [],
                            body=self.body(self.need(node, items, "body", f"block `{name}`"), f"the body of `{name}`"),
                            span=self.span(key, node))

    # statements
    def body(self, node: Node, what: str) -> list[Any]:
        if self.is_str(node):
            return self.arch(node)
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.error(node, f"{what} is a list of statements", expected=f"`- ` items, each {_STMT}",
                             hint="write `identity` for a body that passes its input through"
                             if isinstance(node, SequenceNode) else None)
        out: list[Any] = []
        for item in node.value:
            out.extend(self.stmt(item))
        return out

    def stmt(self, node: Node) -> list[Any]:
        if self.is_str(node):
            return self.arch(node)
        if not isinstance(node, MappingNode) or not node.value:
            raise self.error(node, "a statement is a string or a mapping", expected=_STMT)
        keys = [self.name(k, "a key") for k, _ in node.value]
        heads = [k for k in keys if k in _HEADS]
        if len(heads) > 1:
            raise self.error(node, f"one item holds two statements, `{heads[0]}` and `{heads[1]}`",
                             hint="write each as its own `- ` item")
        if heads:
            items = self.mapping(node, f"a `{heads[0]}` item", _HEADS[heads[0]])
            handler: Callable[[Node, Items], list[Any]] = getattr(self, "_" + heads[0])
            return handler(node, items)
        if len(keys) != 1:
            hint = ("put a layer's arguments under its kind: `conv: {filters: 64, kernel: 3x3, name: x}`"
                    if "body" not in keys else "a `body` belongs to `repeat:`, `frozen:` or `block:`")
            raise self.error(node, "a layer item is a mapping with one key, the layer kind", hint=hint,
                             expected="`conv: [64, 3x3]`, `maxpool: {kernel: 2, stride: 2}`, `flatten:`, "
                                      "or an item starting with " + ", ".join(f"`{h}:`" for h in _HEADS))
        key, value = node.value[0]
        return [self.layer(node, key, value)]

    def layer(self, node: Node, key: ScalarNode, value: Node) -> ast.Layer | ast.Merge:
        kind = self.name(key, "a layer kind")
        target, pos, kw, act, branches = None, [], [], [], None
        if isinstance(value, SequenceNode) and value.value and all(self.is_branch(b) for b in value.value):
            branches = self.branches(value, kind)
        elif isinstance(value, SequenceNode):
            pos = [self.arg(v) for v in value.value]
        elif isinstance(value, MappingNode):
            for k, (kn, v) in self.mapping(value, f"the arguments of `{kind}`").items():
                if k == "args":
                    pos = [self.arg(a) for a in (v.value if isinstance(v, SequenceNode) else [v])]
                elif k == "name":
                    target = self.ident(v, "`name`")
                elif k == "activation":
                    act = [ast.Arg(value=ast.Name(id=self.name(v, "`activation`"), span=self.span(v)),
                                   span=self.span(v))]
                elif k == "branches":
                    branches = self.branches(v, kind)
                else:
                    kw.append(self.arg(v, kn))
        elif not self.is_null(value):
            pos = [self.arg(value)]
        common: dict[str, Any] = dict(target=target, kind=kind, kind_span=self.span(key), args=pos + kw + act,
                                      span=self.span(node))
        return ast.Merge(**common, branches=branches) if branches is not None else ast.Layer(**common)

    def is_branch(self, node: Node) -> bool:
        return isinstance(node, SequenceNode) or (
            isinstance(node, MappingNode) and any(k.value in ("branch", "body") for k, _ in node.value))

    def branches(self, node: Node, kind: str) -> list[ast.Branch]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.error(node, f"the `branches` of `{kind}` are a list of branches",
                             expected="each branch a list of statements, or `{branch: NAME, body: [...]}`")
        out = []
        for b in node.value:
            name = None
            if isinstance(b, MappingNode):
                items = self.mapping(b, "a branch", ("branch", "body"))
                if "branch" in items and not self.is_null(items["branch"][1]):
                    name = self.ident(items["branch"][1], "a branch's name")
                body = self.body(self.need(b, items, "body", "a branch"), "a branch's `body`")
            else:
                body = self.body(b, "a branch")
            out.append(ast.Branch(name=name, body=body, span=self.span(b)))
        return out

    def _repeat(self, node: Node, it: Items) -> list[Any]:
        return [ast.Repeat(count=self.expr(it["repeat"][1]),
                           var=self.ident(it["as"][1], "`as`") if "as" in it else None,
                           var_span=self.span(it["as"][1]) if "as" in it else None,
                           body=self.body(self.need(node, it, "body", "a `repeat`"), "the body of `repeat`"),
                           span=self.span(node))]

    def _if(self, node: Node, it: Items) -> list[Any]:
        return [ast.If(cond=self.expr(it["if"][1]),
                       body=self.body(self.need(node, it, "then", "an `if`"), "`then`"),
                       orelse=self.body(it["else"][1], "`else`") if "else" in it else [],
                       span=self.span(node))]

    def _frozen(self, node: Node, it: Items) -> list[Any]:
        value = it["frozen"][1]
        if isinstance(value, SequenceNode) and "body" not in it:
            return [ast.Frozen(body=self.body(value, "the body of `frozen`"), span=self.span(node))]
        cond = None if self.is_null(value) else self.expr(value)
        body = self.body(self.need(node, it, "body", "`frozen: CONDITION`"), "the body of `frozen`")
        return [ast.Frozen(cond=cond, body=body, span=self.span(node))]

    def _let(self, node: Node, it: Items) -> list[Any]:
        items = self.mapping(it["let"][1], "`let` (a mapping of names to values)")
        if not items:
            raise self.error(it["let"][1], "`let` names nothing", expected="`let: {width: 64 * alpha}`")
        return [ast.Let(name=self.ident(kn, "a `let` name"), value=self.expr(v), span=self.span(kn, v))
                for k, (kn, v) in items.items()]

    def _from(self, node: Node, it: Items) -> list[Any]:
        return [ast.From(name=self.name(it["from"][1], "`from`"), span=self.span(node))]

    def _output(self, node: Node, it: Items) -> list[Any]:
        value = it["output"][1]
        refs = [] if self.is_null(value) else value.value if isinstance(value, SequenceNode) else [value]
        args = [self.arg(r) for r in refs] + [self.arg(v, kn) for k, (kn, v) in it.items() if k != "output"]
        return [ast.Output(args=args, span=self.span(node))]

    def _block(self, node: Node, it: Items) -> list[Any]:
        return [self.blockdef(self.ident(it["block"][1], "`block`"), node, node, it)]
