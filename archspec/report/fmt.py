"""AST → source text: a spec written out as .arch or as YAML (`archspec fmt SPEC --to yaml|arch`).

The two forms have the same meaning (docs/yaml.md), so any spec converts either way and back to the same
graph. Comments inside the spec are not kept (the AST has none); the comment lines that open the file are.
Simple statements are written as .arch lines in both forms; in YAML, blocks, repeats, conditions, frozen
parts and merges become mappings.
"""

from __future__ import annotations

from typing import Any

import yaml

from archspec.diagnostics import Diagnostic, SpecError
from archspec.kinds import REGISTRY
from archspec.lang import ast
from archspec.lang.load import parse_any, read_text, resolve_spec_path

INDENT = "    "


def convert(text: str, name: str, to: str | None = None) -> str:
    """The spec in `text` (named `name`, whose suffix says its form) written as `to`: "arch" or "yaml"
    (default: its own form, reformatted)."""
    spec = parse_any(text, name)
    if to is None:
        to = "yaml" if name.endswith((".yaml", ".yml")) else "arch"
    body = to_yaml(spec) if to == "yaml" else to_arch(spec)
    return _header(text) + body


def convert_file(spec: str, to: str | None = None) -> str:
    """`convert` for a spec file given by path or by a shipped spec's name."""
    path = resolve_spec_path(spec)
    if path is None:
        raise SpecError(Diagnostic("E500", f"no spec file `{spec}`",
                                   hint="give a path to a .arch or .yaml file, or a shipped spec's name"))
    return convert(read_text(path), str(path), to)


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            break
        lines.append(line.strip() + "\n")
    return "".join(lines)


# -- expressions ---------------------------------------------------------------------------------
# Precedence levels, loosest first, as in archspec.lark: if-else, or, and, not, comparisons, + -,
# * / // %, unary + -, **, indexing, atoms.
_IFEXP, _OR, _AND, _NOT, _COMPARE, _SUM, _TERM, _UNARY, _POW, _POSTFIX, _ATOM = range(1, 12)


def expr(e: Any) -> str:
    """An expression as .arch source."""
    return _expr(e)[0]


def _wrap(e: Any, least: int) -> str:
    text, prec = _expr(e)
    return text if prec >= least else f"({text})"


def _expr(e: Any) -> tuple[str, int]:
    if isinstance(e, ast.Num):
        return repr(e.value), _UNARY if e.value < 0 else _ATOM
    if isinstance(e, ast.Bool):
        return ("true" if e.value else "false"), _ATOM
    if isinstance(e, ast.Str):
        return (f"'{e.value}'" if '"' in e.value else f'"{e.value}"'), _ATOM
    if isinstance(e, ast.Dims):
        return "x".join(str(v) for v in e.values), _ATOM
    if isinstance(e, ast.Name):
        return e.id, _ATOM
    if isinstance(e, ast.Seq):
        return "[" + ", ".join(_wrap(i, _IFEXP) for i in e.items) + "]", _ATOM
    if isinstance(e, ast.Comp):
        gens = "".join(f" for {', '.join(g.vars)} in {_wrap(g.iter, _OR)}" + "".join(f" if {_wrap(c, _OR)}" for c in g.conds)
                       for g in e.gens)
        return f"[{_wrap(e.elt, _IFEXP)}{gens}]", _ATOM
    if isinstance(e, ast.DictExpr):
        return "{" + ", ".join(f"{_wrap(k, _IFEXP)}: {_wrap(v, _IFEXP)}" for k, v in zip(e.keys, e.values)) + "}", _ATOM
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(_arg(a) for a in e.args)})", _ATOM
    if isinstance(e, ast.Slice):
        parts = ["" if b is None else expr(b) for b in (e.lower, e.upper)]
        step = "" if e.step is None else ":" + expr(e.step)
        return f"{_wrap(e.value, _POSTFIX)}[{parts[0]}:{parts[1]}{step}]", _POSTFIX
    if isinstance(e, ast.Index):
        return f"{_wrap(e.value, _POSTFIX)}[{expr(e.index)}]", _POSTFIX
    if isinstance(e, ast.BinOp):
        if e.op == "**":
            return f"{_wrap(e.left, _POSTFIX)} ** {_wrap(e.right, _UNARY)}", _POW
        prec = _SUM if e.op in "+-" else _TERM
        return f"{_wrap(e.left, prec)} {e.op} {_wrap(e.right, prec + 1)}", prec
    if isinstance(e, ast.Unary):
        if e.op == "not":
            return f"not {_wrap(e.operand, _NOT)}", _NOT
        return f"{e.op}{_wrap(e.operand, _UNARY)}", _UNARY
    if isinstance(e, ast.Compare):
        parts = [_wrap(e.operands[0], _SUM)]
        for op, operand in zip(e.ops, e.operands[1:]):
            parts += [op, _wrap(operand, _SUM)]
        return " ".join(parts), _COMPARE
    if isinstance(e, ast.BoolOp):
        prec = _OR if e.op == "or" else _AND
        return f" {e.op} ".join(_wrap(v, prec + 1) for v in e.values), prec
    if isinstance(e, ast.IfExp):
        return f"{_wrap(e.then, _OR)} if {_wrap(e.cond, _OR)} else {_wrap(e.orelse, _IFEXP)}", _IFEXP
    raise TypeError(f"not an expression: {type(e).__name__}")


def _arg(a: ast.Arg) -> str:
    return f"{a.name}={expr(a.value)}" if a.name else expr(a.value)


def _spaced_arg(a: ast.Arg) -> str:
    """An argument in `conv 64 3x3` form, bracketed where it would run into its neighbours."""
    text, prec = _expr(a.value)
    if isinstance(a.value, ast.Seq) and a.value.items:  # a tuple: `conv 64 (3, 5)`
        text = "(" + text[1:-1] + ("," if len(a.value.items) == 1 else "") + ")"
    elif a.name is None and (prec <= _COMPARE or text[0] in "+-["):
        text = f"({text})"
    return f"{a.name}={text}" if a.name else text


# -- .arch ---------------------------------------------------------------------------------------

def to_arch(spec: ast.SpecFile) -> str:
    parts = ["".join(f'use "{u.path}"\n' for u in spec.uses)]
    parts += ["".join(line + "\n" for line in _stmt(b, "")) for b in spec.blocks]
    if spec.network is not None:
        n = spec.network
        parts.append("".join(line + "\n" for line in [f"network {n.name}{_params(n.params)}:", *_body(n.body, INDENT)]))
    return "\n".join(p for p in parts if p)


def _params(ps: list[ast.Param]) -> str:
    if not ps:
        return ""
    return "(" + ", ".join(p.name + (f" = {expr(p.default)}" if p.default is not None else "") for p in ps) + ")"


def _body(stmts: list[Any], ind: str) -> list[str]:
    return [line for s in stmts for line in _stmt(s, ind)]


def simple(s: Any) -> str:
    """A simple statement as one .arch line (without indentation)."""
    if isinstance(s, ast.Let):
        return f"let {s.name} = {expr(s.value)}"
    if isinstance(s, ast.From):
        return f"from {s.name}"
    if isinstance(s, ast.Register):
        return "register " + ", ".join(s.names)
    if isinstance(s, ast.Output):
        return " ".join(["output", *(_spaced_arg(a) for a in s.args)])
    return _head(s)


def _is_simple(s: Any) -> bool:
    return isinstance(s, (ast.Layer, ast.Let, ast.From, ast.Output, ast.Register))


def _head(s: ast.Layer | ast.Merge) -> str:
    target = f"{s.target} = " if s.target else ""
    if s.kind in REGISTRY or s.kind in ("_", "reuse"):  # `reuse fc`: a statement, not a block call
        return target + " ".join([s.kind, *(_spaced_arg(a) for a in s.args)])
    return f"{target}{s.kind}({', '.join(_arg(a) for a in s.args)})"  # a block call


def _stmt(s: Any, ind: str) -> list[str]:
    inner = ind + INDENT
    if isinstance(s, ast.BlockDef):
        return [f"{ind}block {s.name}{_params(s.params)}:", *_body(s.body, inner)]
    if isinstance(s, ast.Repeat):
        var = f" as {s.var}" if s.var else ""
        return [f"{ind}repeat {expr(s.count)}{var}:", *_body(s.body, inner)]
    if isinstance(s, ast.Frozen):
        cond = f" {expr(s.cond)}" if s.cond is not None else ""
        return [f"{ind}frozen{cond}:", *_body(s.body, inner)]
    if isinstance(s, ast.If):
        out, word = [], "if"
        while True:
            out += [f"{ind}{word} {expr(s.cond)}:", *_body(s.body, inner)]
            if len(s.orelse) == 1 and isinstance(s.orelse[0], ast.If):
                s, word = s.orelse[0], "elif"
                continue
            if s.orelse:
                out += [f"{ind}else:", *_body(s.orelse, inner)]
            return out
    if isinstance(s, ast.Merge):
        out = [f"{ind}{_head(s)}:"]
        for b in s.branches:
            head = f"{inner}branch{' ' + b.name if b.name else ''}:"
            line = "; ".join(simple(x) for x in b.body if _is_simple(x))
            if len(line) + len(head) < 100 and all(_is_simple(x) for x in b.body):
                out.append(f"{head} {line}")  # `branch: conv 64 1x1 relu`
            else:
                out += [head, *_body(b.body, inner + INDENT)]
        return out
    return [ind + simple(s)]


# -- YAML ----------------------------------------------------------------------------------------

class _FlowList(list):
    """A list written on one line (`[c, n]`)."""


class _FlowDict(dict):
    """A mapping written on one line (`{depth: 16}`)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key


_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))


def to_yaml(spec: ast.SpecFile) -> str:
    doc: dict[str, Any] = {}
    if spec.network is not None:
        doc["network"] = spec.network.name
        if spec.network.params:
            doc["params"] = _yaml_params(spec.network.params)
    if spec.uses:
        doc["use"] = _FlowList(u.path for u in spec.uses)
    if spec.blocks:
        doc["blocks"] = {b.name: _yaml_block(b) for b in spec.blocks}
    if spec.network is not None:
        doc["body"] = _yaml_body(spec.network.body)
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31 - 1)
    return text


def _value(e: Any) -> Any:
    """An expression as a YAML value: numbers and booleans as such, lists of them as lists, else a string."""
    if isinstance(e, (ast.Num, ast.Bool)):
        return e.value
    if isinstance(e, ast.Seq) and e.items:
        return _FlowList(_value(i) for i in e.items)
    return expr(e)


def _yaml_params(ps: list[ast.Param]) -> Any:
    if all(p.default is None for p in ps):
        return _FlowList(p.name for p in ps)
    return _FlowDict((p.name, None if p.default is None else _value(p.default)) for p in ps)


def _yaml_block(b: ast.BlockDef) -> dict[str, Any]:
    return {**({"params": _yaml_params(b.params)} if b.params else {}), "body": _yaml_body(b.body)}


def _yaml_body(stmts: list[Any]) -> list[Any]:
    return [_yaml_stmt(s) for s in stmts]


def _yaml_branch(stmts: list[Any]) -> list[Any]:
    body = _yaml_body(stmts)
    short = all(isinstance(x, str) for x in body) and sum(len(x) + 2 for x in body) < 80
    return _FlowList(body) if short else body  # `[conv 64 1x1 relu]`


def _yaml_stmt(s: Any) -> Any:
    if isinstance(s, ast.BlockDef):
        return {"block": s.name, **_yaml_block(s)}
    if isinstance(s, ast.Repeat):
        return {"repeat": _value(s.count), **({"as": s.var} if s.var else {}), "body": _yaml_body(s.body)}
    if isinstance(s, ast.Frozen):
        if s.cond is None:
            return {"frozen": _yaml_body(s.body)}
        return {"frozen": _value(s.cond), "body": _yaml_body(s.body)}
    if isinstance(s, ast.If):
        return {"if": _value(s.cond), "then": _yaml_body(s.body), **({"else": _yaml_body(s.orelse)} if s.orelse else {})}
    if isinstance(s, ast.Merge):
        branches = [{"branch": b.name, "body": _yaml_branch(b.body)} if b.name else _yaml_branch(b.body)
                    for b in s.branches]
        pos = [a for a in s.args if a.name is None]
        if not s.target and not s.args:
            return {s.kind: branches}
        args: dict[str, Any] = {"args": _FlowList(_value(a.value) for a in pos)} if pos else {}
        args.update((a.name, _value(a.value)) for a in s.args if a.name is not None)
        return {s.kind: {**args, **({"name": s.target} if s.target else {}), "branches": branches}}
    return simple(s)
