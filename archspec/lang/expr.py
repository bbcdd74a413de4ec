"""archspec's own evaluator for the arithmetic in specs: no Python `eval`, no attribute access.

Values are ints, floats, strings, bools, tuples, dicts, and `TensorRef`s (a bare name that is no
parameter: it may name a tensor, resolved by the graph builder). Integers are bounded so that a spec
cannot ask for astronomically large numbers.
"""

from __future__ import annotations

import math
import operator
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from archspec.diagnostics import Diagnostic, Span, SpecError, did_you_mean
from archspec.lang import ast

MAX_INT = 2**62  # larger integers in a spec are refused (E600)
MAX_ITEMS = 100_000  # items in a tuple, list or mapping (nested ones counted), characters in a string
MAX_DEPTH = 64  # tuples in tuples
MAX_STEPS = 1_000_000  # iterations of the list comprehensions of one expression (nested ones counted)


@dataclass(frozen=True)
class TensorRef:
    """A bare name that is not a parameter: a named tensor, or a keyword such as `relu` or `same`."""

    name: str
    span: Span | None = None
    scope: Any = None  # the builder's tensor namespace where the name was written

    def __repr__(self) -> str:
        return self.name


Value = Any  # int | float | str | bool | tuple | dict | TensorRef


def type_name(v: Value) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, tuple):
        return "a tuple"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, TensorRef):
        return f"the name `{v.name}`"
    return type(v).__name__


def show(v: Value, nested: bool = False) -> str:
    """A value as a spec would write it: a tuple of two or more integers as a size (`3x3`), except inside
    another tuple, where it is a tuple (`((0, 1), (1, 2))`, a connection table); `(0,)` and `()` as such."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, tuple):
        if not nested and len(v) > 1 and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
            return "x".join(map(str, v))
        if len(v) == 1:
            return f"({show(v[0], True)},)"
        return "(" + ", ".join(show(i, True) for i in v) + ")"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, dict):
        return "{" + ", ".join(f"{show(k, True)}: {show(x, True)}" for k, x in v.items()) + "}"
    return str(v)


def _err(msg: str, span: Span | None, **kw: Any) -> SpecError:
    return SpecError(Diagnostic("E206", msg, span, **kw))


def _digits(v: int) -> str:
    """The number of decimal digits of `v`, without `str()` for huge ones (a ValueError past 4,300 digits)."""
    d = int(v.bit_length() * math.log10(2)) + 1
    return f"{d - 1 if abs(v) < 10 ** (d - 1) else d:,}"


def _check_int(v: Value, span: Span | None) -> Value:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
        raise SpecError(Diagnostic("E600", f"number too large ({_digits(v)} digits)", span,
                                   expected=f"at most {MAX_INT:,} in magnitude"))
    if isinstance(v, float) and not math.isfinite(v):
        raise _err("the result is not a finite number", span)
    if isinstance(v, complex):  # (-8) ** 0.5
        raise _err("the result is not a real number", span)
    return v


def _check_size(v: Value, span: Span | None) -> Value:
    """Refuse values too big to be a network's description: a spec like `let a = (a, a)` written 60 times
    (or `a + a`) would otherwise double its way to astronomical sizes."""
    if isinstance(v, str):
        if len(v) > MAX_ITEMS:
            raise SpecError(Diagnostic("E600", f"string too long ({len(v):,} characters)", span,
                                       expected=f"at most {MAX_ITEMS:,}"))
        return v
    count, stack = 0, [(v, 0)]
    while stack:
        x, depth = stack.pop()
        if isinstance(x, dict):
            x = (*x.keys(), *x.values())
        if isinstance(x, tuple):
            if depth >= MAX_DEPTH:
                raise SpecError(Diagnostic("E600", f"value nested deeper than {MAX_DEPTH} levels", span))
            count += len(x)
            if count > MAX_ITEMS:
                raise SpecError(Diagnostic("E600", "value too large", span,
                                           expected=f"at most {MAX_ITEMS:,} items, nested ones included"))
            stack.extend((i, depth + 1) for i in x if isinstance(i, (tuple, dict)))
        elif isinstance(x, str) and len(x) > MAX_ITEMS:
            _check_size(x, span)
    return v


def _items(v: Value, limit: int) -> int:
    """The items nested in a value (as `_check_size` counts them), counted up to just past `limit`."""
    count, stack = 0, [v]
    while stack and count <= limit:
        x = stack.pop()
        if isinstance(x, dict):
            x = (*x.keys(), *x.values())
        if isinstance(x, tuple):
            count += len(x)
            stack.extend(i for i in x if isinstance(i, (tuple, dict)))
    return count


def _num(v: Value, span: Span | None, what: str) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(f"{what} needs numbers, got {type_name(v)} ({show(v)})", span)
    return v


def _div(a: Value, b: Value) -> Value:
    return a / b


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow,
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
}


def _fn_int(x: Value) -> int:
    return int(x)


def _fn_round(x: Value, nd: Value = None) -> Value:
    if nd is None:
        return round(x)
    if isinstance(nd, int) and nd < -400:
        # round(10**18, -10**9) computes 10**(10**9): minutes. Any precision below -400 rounds every
        # value a spec can hold (integers below 2**62, floats below 1.8e308) to zero, as -400 does.
        nd = -400
    return round(x, nd)


def _fn_sum(items: Value, start: Value = 0) -> Value:
    """The sum of numbers (Python's `sum` also concatenates tuples, in quadratic time)."""
    if not isinstance(items, (tuple, dict)):
        raise TypeError(f"sum takes a tuple of numbers, not {type_name(items)}")
    total = start
    for x in (start, *items):
        if not isinstance(x, (int, float)):
            raise TypeError(f"sum adds numbers, not {type_name(x)} ({show(x)})")
    for x in items:
        total += x
        if isinstance(total, int) and abs(total) > MAX_INT:
            break  # the caller reports it; adding 100,000 huge numbers would only grow it
    return total


def _fn_make_divisible(v: Value, divisor: Value = 8) -> int:
    """Round a channel count to a multiple of `divisor`, never below 90% of `v` (MobileNet's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * v else new)


def _fn_log(x: Value, base: Value = None) -> float:
    """The natural logarithm, or `log(x, base)` (RegNet's `round(log(w / w0) / log(wm))`)."""
    for v in (x, base):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise TypeError(f"log takes numbers, not {type_name(v)} ({show(v)})")
    if x <= 0:
        raise ValueError(f"the logarithm of {show(x)} is not defined: it needs a number above 0")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise ValueError(f"a logarithm's base is a positive number other than 1, not {show(base)}")
    return math.log(x, base)


def _fn_zip(*seqs: Value) -> tuple[tuple[Value, ...], ...]:
    """Python's `zip` over tuples (stops at the shortest): `[a * b for a, b in zip(xs, ys)]`."""
    for s in seqs:
        if not isinstance(s, tuple):
            raise TypeError(f"zip takes tuples or lists, not {type_name(s)} ({show(s)})")
    return tuple(zip(*seqs))


def _fn_enumerate(seq: Value, start: Value = 0) -> tuple[tuple[Value, Value], ...]:
    """Python's `enumerate` over a tuple: `[(i, w) for i, w in enumerate(widths)]`."""
    if not isinstance(seq, tuple):
        raise TypeError(f"enumerate takes a tuple or a list, not {type_name(seq)} ({show(seq)})")
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(f"enumerate counts from an integer, not {type_name(start)}")
    return tuple(enumerate(seq, start))


def _fn_len(v: Value) -> int:
    if not isinstance(v, (tuple, dict, str)):
        raise TypeError(f"len takes a tuple, a list, a mapping or a string, not {type_name(v)} ({show(v)})")
    return len(v)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "int": _fn_int, "round": _fn_round, "float": float,
    "floor": math.floor, "ceil": math.ceil, "len": _fn_len, "sum": _fn_sum, "make_divisible": _fn_make_divisible,
    "range": lambda *a: tuple(range(*a)), "log": _fn_log, "zip": _fn_zip, "enumerate": _fn_enumerate,
}


_EXPR_TYPES = ("num", "str", "bool", "dims", "name", "seq", "comp", "dict", "binop", "unary", "compare", "boolop",
               "ifexp", "call", "slice", "index")
_CHECKED = frozenset({str, bool, tuple, dict, TensorRef, type(None)})  # `_check_int` passes these as they are


class Evaluator:
    """Evaluates AST expressions against an environment of parameters."""

    def __init__(self, env: Mapping[str, Value], scope: Any = None) -> None:
        self.env = env
        self.scope = scope
        self.steps = [0]  # comprehension iterations so far, shared with the evaluators of their bodies
        self.explain: Callable[[str], list[str]] | None = None  # notes on an undefined name (the builder's)

    # an expression's method by its type, looked up in one dict (not a string joined and an attribute
    # found per expression: they are evaluated by the thousand); a subclass gets its own table
    _by_type: dict[str, Callable[[Any, Any], Value]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._by_type = {t: getattr(cls, "_" + t) for t in _EXPR_TYPES}

    def eval(self, e: ast.Expr) -> Value:
        v = self._by_type[e.type](self, e)
        t = type(v)
        # most values need no check: an int within the limit, a string, a tuple (checked as it was made)
        if (t is int and -MAX_INT <= v <= MAX_INT) or t in _CHECKED:
            return v
        return _check_int(v, e.span)

    __call__ = eval  # `ev(e)`: the same method, without a call more (expressions are evaluated by the thousand)

    def _num(self, e: ast.Num) -> Value:
        return e.value

    def _str(self, e: ast.Str) -> Value:
        return e.value

    def _bool(self, e: ast.Bool) -> Value:
        return e.value

    def _dims(self, e: ast.Dims) -> Value:
        return e.values

    def _name(self, e: ast.Name) -> Value:
        if e.id in self.env:
            return self.env[e.id]
        return TensorRef(e.id, e.span, self.scope)

    def _seq(self, e: ast.Seq) -> Value:
        return _check_size(tuple(self.eval(i) for i in e.items), e.span)

    def _comp(self, e: ast.Comp) -> Value:
        """`[elt for j in xs if cond for k in ys]`: the `for`s nest left to right, as in Python. The loop
        names are local to the comprehension; they hide an outer name of the same spelling inside it only."""
        out: list[Value] = []
        size = [0]  # items so far, nested ones counted: `[range(100000) for i in range(100000)]` stops early

        def run(k: int, ev: Evaluator) -> None:
            if k == len(e.gens):
                v = ev.eval(e.elt)
                out.append(v)
                size[0] += 1 + _items(v, MAX_ITEMS - size[0])
                if size[0] > MAX_ITEMS:
                    raise SpecError(Diagnostic("E600", "list comprehension too long", e.span,
                                               expected=f"at most {MAX_ITEMS:,} items, nested ones included"))
                return
            g = e.gens[k]
            var = ", ".join(g.vars)
            items = ev.eval(g.iter)
            if isinstance(items, TensorRef):
                raise ev.undefined(items)
            if isinstance(items, dict):
                items = tuple(items)
            if not isinstance(items, tuple):
                raise _err(f"`for {var} in` runs over a tuple or a list, not {type_name(items)} ({show(items)})",
                           g.iter.span, expected="a tuple, a list, a mapping (its keys) or `range(...)`",
                           hint=f"`for {var} in range({show(items)})` counts from 0"
                           if isinstance(items, int) and not isinstance(items, bool) else None)
            local: dict[str, Value] = {}
            inner = self._child(ChainMap(local, cast(MutableMapping[str, Value], ev.env)))  # read only
            for item in items:
                self.steps[0] += 1
                if self.steps[0] > MAX_STEPS:
                    raise SpecError(Diagnostic("E600", "list comprehension takes too many steps", e.span,
                                               expected=f"at most {MAX_STEPS:,} iterations in one expression, "
                                                        "nested loops multiplied"))
                if len(g.vars) == 1:
                    local[g.vars[0]] = item
                elif isinstance(item, tuple) and len(item) == len(g.vars):
                    local.update(zip(g.vars, item))
                else:
                    raise _err(f"`for {var} in` needs entries of {len(g.vars)} values; this one is {show(item)}",
                               g.iter.span, expected=f"a tuple of {len(g.vars)}-tuples, e.g. `zip(a, b)`")
                if all(inner.truth(inner.eval(c), c.span) for c in g.conds):
                    run(k + 1, inner)

        run(0, self)
        return _check_size(tuple(out), e.span)

    def _child(self, env: Mapping[str, Value]) -> Evaluator:
        ev = type(self)(env, self.scope)
        ev.steps, ev.explain = self.steps, self.explain
        return ev

    def _dict(self, e: ast.DictExpr) -> Value:
        out = {}
        for k, v in zip(e.keys, e.values):
            key = self.eval(k)
            if isinstance(key, TensorRef):  # {paper: 1} reads like a string key
                key = key.name
            value = self.eval(v)
            try:
                out[key] = value
            except TypeError:
                raise _err(f"{type_name(key)} cannot be a mapping's key", k.span,
                           expected="a number, a string, a boolean or a tuple of them") from None
        return _check_size(out, e.span)

    def _binop(self, e: ast.BinOp) -> Value:
        # `1 + 2 + ... + n` is a left-leaning tree as deep as the chain is long: walk its spine iteratively
        spine = [e]
        while isinstance(spine[-1].left, ast.BinOp):
            spine.append(spine[-1].left)
        a = self.eval(spine[-1].left)
        for node in reversed(spine):
            a = _check_int(self._apply(node, a, self.eval(node.right)), node.span)
        return a

    def _apply(self, e: ast.BinOp, a: Value, b: Value) -> Value:
        if e.op == "+" and isinstance(a, tuple) and isinstance(b, tuple):
            if len(a) + len(b) > MAX_ITEMS:
                raise SpecError(Diagnostic("E600", "tuple too long", e.span, expected=f"at most {MAX_ITEMS:,} items"))
            return _check_size(a + b, e.span)
        if e.op == "*" and isinstance(a, tuple) and isinstance(b, int) and not isinstance(b, bool):
            if len(a) * b > MAX_ITEMS:
                raise SpecError(Diagnostic("E600", "tuple too long", e.span, expected=f"at most {MAX_ITEMS:,} items"))
            return _check_size(a * b, e.span)
        if e.op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_ITEMS:
                raise SpecError(Diagnostic("E600", "string too long", e.span, expected=f"at most {MAX_ITEMS:,} characters"))
            return a + b
        for v in (a, b):
            if isinstance(v, TensorRef):
                raise self.undefined(v)
        _num(a, e.left.span, f"`{e.op}`")
        _num(b, e.right.span, f"`{e.op}`")
        if e.op in ("/", "//", "%") and b == 0:
            raise _err("division by zero", e.span)
        if e.op == "**":
            if isinstance(b, int) and isinstance(a, int) and (abs(b) > 256 or (abs(a) > 1 and b > 62)):
                raise SpecError(Diagnostic("E600", "exponent too large", e.span, expected="a result below 2**62"))
            if a == 0 and b < 0:
                raise _err("zero to a negative power", e.span)
        try:
            return _BINOPS[e.op](a, b)
        except (OverflowError, ValueError) as ex:
            raise _err(f"`{e.op}` failed: {ex}", e.span) from None

    def _unary(self, e: ast.Unary) -> Value:
        v = self.eval(e.operand)
        if e.op == "not":
            return not self.truth(v, e.operand.span)
        if isinstance(v, TensorRef):
            raise self.undefined(v)
        n = _num(v, e.operand.span, f"unary `{e.op}`")
        return -n if e.op == "-" else n

    def truth(self, v: Value, span: Span | None) -> bool:
        if isinstance(v, TensorRef):
            raise self.undefined(v)
        if isinstance(v, (bool, int, float, str, tuple, dict)):
            return bool(v)
        raise _err(f"cannot use {type_name(v)} as a condition", span)

    def _compare(self, e: ast.Compare) -> Value:
        vals = [self.eval(o) for o in e.operands]
        for v in vals:
            if isinstance(v, TensorRef):
                raise self.undefined(v)
        for op, a, b in zip(e.ops, vals, vals[1:]):
            try:
                if not _CMP[op](a, b):
                    return False
            except TypeError:
                if op in ("in", "not in"):
                    raise _err(f"`{op}` looks for a value in a tuple, a list, a mapping or a string, not in "
                               f"{type_name(b)} ({show(b)})", e.operands[-1].span,
                               expected="`j in (0, 2)`, `k in widths`, `\"a\" in name`") from None
                raise _err(f"cannot compare {type_name(a)} with {type_name(b)} using `{op}`", e.span) from None
        return True

    def _boolop(self, e: ast.BoolOp) -> Value:
        result: Value = e.op == "and"
        for item in e.values:
            result = self.eval(item)
            t = self.truth(result, item.span)
            if (e.op == "and" and not t) or (e.op == "or" and t):
                return result
        return result

    def _ifexp(self, e: ast.IfExp) -> Value:
        return self.eval(e.then) if self.truth(self.eval(e.cond), e.cond.span) else self.eval(e.orelse)

    def _call(self, e: ast.Call) -> Value:
        fn = FUNCTIONS.get(e.func)
        if fn is None:
            raise SpecError(Diagnostic("E205", f"unknown function `{e.func}`", e.span,
                                       expected="one of " + ", ".join(sorted(FUNCTIONS)),
                                       hint=did_you_mean(e.func, FUNCTIONS)))
        if any(a.name for a in e.args):
            raise _err(f"`{e.func}` takes positional arguments only", e.span)
        args = [self.eval(a.value) for a in e.args]
        for a in args:
            if isinstance(a, TensorRef):
                raise self.undefined(a)
        if e.func == "range":
            try:
                n = len(range(*args))
            except OverflowError:
                n = MAX_ITEMS + 1
            except (TypeError, ValueError):
                n = 0  # the call below reports the mistake
            if n > MAX_ITEMS:
                raise SpecError(Diagnostic("E600", "range too long", e.span, expected=f"at most {MAX_ITEMS:,} items"))
        try:
            return _check_size(fn(*args), e.span)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as ex:
            raise _err(f"`{e.func}` failed: {ex}", e.span) from None

    def _slice(self, e: ast.Slice) -> Value:
        v = self.eval(e.value)
        if isinstance(v, TensorRef):
            raise self.undefined(v)
        bounds: list[int | None] = []
        for b in (e.lower, e.upper, e.step):
            x = None if b is None else self.eval(b)
            if isinstance(x, TensorRef):
                raise self.undefined(x)
            if x is not None and (isinstance(x, bool) or not isinstance(x, int)):
                raise _err(f"a slice's bounds are whole numbers, not {type_name(x)} ({show(x)})", b.span if b else e.span)
            bounds.append(x)
        if bounds[2] == 0:
            raise _err("a slice's step cannot be zero", e.step.span if e.step else e.span)
        if not isinstance(v, (tuple, str)):
            raise _err(f"cannot slice {type_name(v)} ({show(v)})", e.value.span, expected="a tuple, a list or a string")
        return v[slice(*bounds)]

    def _index(self, e: ast.Index) -> Value:
        v, i = self.eval(e.value), self.eval(e.index)
        if isinstance(i, TensorRef):
            i = i.name if isinstance(v, dict) else i
        if isinstance(v, TensorRef):
            raise self.undefined(v)
        try:
            return v[i]
        except (KeyError, IndexError):
            keys = f"keys {', '.join(show(k) for k in v)}" if isinstance(v, dict) else f"indices 0 to {len(v) - 1}"
            raise _err(f"{show(i)} is not in {show(v)}", e.index.span, expected=keys) from None
        except TypeError:
            raise _err(f"cannot index {type_name(v)} with {type_name(i)}", e.span) from None

    def undefined(self, ref: TensorRef) -> SpecError:
        return SpecError(Diagnostic("E205", f"`{ref.name}` is not defined", ref.span,
                                    expected="a parameter, a `let` name or a number",
                                    hint=did_you_mean(ref.name, self.env),
                                    notes=self.explain(ref.name) if self.explain else []))


Evaluator._by_type = {t: getattr(Evaluator, "_" + t) for t in _EXPR_TYPES}
