"""The AST: what a spec says, close to its source, every node with its span.

Both front ends (the .arch parser and the YAML loader) produce these pydantic models; the graph
builder (`archspec.build.elaborate`) is their only reader. Expressions stay unevaluated here: they are
evaluated by `archspec.lang.expr` while the graph is built, where parameters have values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from archspec.diagnostics import Span


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)
    span: Span | None = Field(default=None, repr=False)


# -- expressions -------------------------------------------------------------------------------

class Num(_Node):
    type: Literal["num"] = "num"
    value: int | float


class Str(_Node):
    type: Literal["str"] = "str"
    value: str


class Bool(_Node):
    type: Literal["bool"] = "bool"
    value: bool


class Dims(_Node):
    """A size written `3x224x224`."""

    type: Literal["dims"] = "dims"
    values: tuple[int, ...]


class Name(_Node):
    type: Literal["name"] = "name"
    id: str


class Seq(_Node):
    """A tuple `(a, b)` or list `[a, b]`: both evaluate to a tuple."""

    type: Literal["seq"] = "seq"
    items: list[Expr]


class DictExpr(_Node):
    type: Literal["dict"] = "dict"
    keys: list[Expr]
    values: list[Expr]


class BinOp(_Node):
    type: Literal["binop"] = "binop"
    op: str
    left: Expr
    right: Expr


class Unary(_Node):
    type: Literal["unary"] = "unary"
    op: str  # "-", "+" or "not"
    operand: Expr


class Compare(_Node):
    type: Literal["compare"] = "compare"
    ops: list[str]
    operands: list[Expr]


class BoolOp(_Node):
    type: Literal["boolop"] = "boolop"
    op: str  # "and" | "or"
    values: list[Expr]


class IfExp(_Node):
    type: Literal["ifexp"] = "ifexp"
    cond: Expr
    then: Expr
    orelse: Expr


class Call(_Node):
    type: Literal["call"] = "call"
    func: str
    args: list[Arg]


class Index(_Node):
    type: Literal["index"] = "index"
    value: Expr
    index: Expr


class Slice(_Node):
    """`xs[a:b:c]`, each bound optional: a tuple's items, as Python slices them."""

    type: Literal["slice"] = "slice"
    value: Expr
    lower: Expr | None = None
    upper: Expr | None = None
    step: Expr | None = None


class CompFor(_Node):
    """One `for NAME[, NAME...] in ITER [if COND]...` clause of a list comprehension."""

    vars: list[str]
    iter: Expr
    conds: list[Expr] = []


class Comp(_Node):
    """A list comprehension `[elt for j in range(n) if cond]`: evaluates to a tuple."""

    type: Literal["comp"] = "comp"
    elt: Expr
    gens: list[CompFor]


Expr = Annotated[
    Num | Str | Bool | Dims | Name | Seq | DictExpr | BinOp | Unary | Compare | BoolOp | IfExp | Call | Index
    | Comp | Slice,
    Field(discriminator="type"),
]


class Arg(_Node):
    """One argument: positional (`name` is None) or keyword (`pad=same`)."""

    name: str | None = None
    value: Expr


# -- statements --------------------------------------------------------------------------------

class Layer(_Node):
    """`[target =] kind args`: a layer, or a call of a block."""

    type: Literal["layer"] = "layer"
    target: str | None = None
    kind: str
    kind_span: Span | None = Field(default=None, repr=False)
    args: list[Arg] = []


class Branch(_Node):
    type: Literal["branch"] = "branch"
    name: str | None = None
    body: list[Stmt]


class Merge(_Node):
    """`[target =] concat|add|mul args:` with one `branch:` per path from the current tensor."""

    type: Literal["merge"] = "merge"
    target: str | None = None
    kind: str
    kind_span: Span | None = Field(default=None, repr=False)
    args: list[Arg] = []
    branches: list[Branch]


class Repeat(_Node):
    type: Literal["repeat"] = "repeat"
    count: Expr
    var: str | None = None
    var_span: Span | None = Field(default=None, repr=False)  # the loop variable's name after `as`
    body: list[Stmt]


class If(_Node):
    type: Literal["if"] = "if"
    cond: Expr
    body: list[Stmt]
    orelse: list[Stmt] = []


class Frozen(_Node):
    type: Literal["frozen"] = "frozen"
    cond: Expr | None = None
    body: list[Stmt]


class Let(_Node):
    type: Literal["let"] = "let"
    name: str
    value: Expr


class From(_Node):
    type: Literal["from"] = "from"
    name: str


class Register(_Node):
    """`register reduction, norm`: the block's module registers these layers (or child blocks) first, in
    this order, then the others in the spec's order (weights that port by position: docs/compile.md)."""

    type: Literal["register"] = "register"
    names: list[str]


class Output(_Node):
    type: Literal["output"] = "output"
    args: list[Arg] = []


class Param(_Node):
    name: str
    default: Expr | None = None


class BlockDef(_Node):
    type: Literal["block"] = "block"
    name: str
    params: list[Param] = []
    body: list[Stmt]


Stmt = Annotated[
    Layer | Merge | Repeat | If | Frozen | Let | From | Output | BlockDef | Register,
    Field(discriminator="type"),
]


class Network(_Node):
    name: str
    params: list[Param] = []
    body: list[Stmt]


class Use(_Node):
    path: str


class SpecFile(_Node):
    """One source file: its imports, its top-level blocks and at most one network."""

    path: str
    uses: list[Use] = []
    blocks: list[BlockDef] = []
    network: Network | None = None


