"""Expressions (issue 13): list comprehensions, `range`, `()` and `(0,)`, `len`/`min`/`max`, `log`/`round`,
the scoping of `let` in blocks and repeats, and their diagnostics.

The outside references: Python itself evaluates the same expressions; RegNet's widths come from a port of
torchvision's `BlockParams.from_init_params` in plain Python and from the published stage tables;
parameter counts are worked out by hand and checked against the compiled PyTorch module's `numel`.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

import archspec
from archspec.diagnostics import SpecError
from archspec.lang.expr import Evaluator, show
from archspec.lang.parser import parse_expr


def value(text: str, **env: object) -> object:
    return Evaluator(env)(parse_expr(text))


def as_tuples(v: object) -> object:
    """Python's lists as archspec's tuples (a list and a tuple are one value in a spec)."""
    if isinstance(v, (list, tuple)):
        return tuple(as_tuples(x) for x in v)
    return v


# (archspec, Python) where they differ in spelling; a single string is the same text in both
SAME = [
    "[j * 2 for j in range(3)]",
    "[j for j in range(10) if j % 3 == 0]",
    "[j for j in range(20) if j % 2 if j % 3]",
    "[(i, j) for i in range(4) for j in range(i) if (i + j) % 2 == 1]",
    "[[i * j for j in range(3)] for i in range(4)]",
    "[j for j in range(3)][2]",
    "[k for k in {1: 2, 3: 4}]",
    "[x + y for x in [1, 2] for y in (10, 20)]",
    "[i * 2 for i in [j + 1 for j in range(4)] if i > 2]",
    "sum(j * j for j in range(5))",
    "max(x % 7 for x in range(20))",
    "min([3, 1, 2])",
    "max(3, 9, 4)",
    "len([j for j in range(10) if j > 6])",
    "len(())",
    "len({1: 2})",
    "()",
    "(0,)",
    "(0)",
    "[]",
    "[0]",
    "round(2.5)",
    "round(3.5)",
    "round(2.675, 2)",
    "[(j, (j + 1) % 6, (j + 2) % 6) for j in range(6)]",
    ("range(5)", "tuple(range(5))"),
    ("range(2, 11, 3)", "tuple(range(2, 11, 3))"),
    ("range(10, 0, -4)", "tuple(range(10, 0, -4))"),
    ("(j for j in range(3))", "tuple(j for j in range(3))"),
    ("zip((1, 2, 3), [4, 5])", "tuple(zip((1, 2, 3), [4, 5]))"),
    ("enumerate([7, 8], 1)", "tuple(enumerate([7, 8], 1))"),
    "[a * b for a, b in zip(range(4), range(10, 14))]",
    "[(i, w) for i, w in enumerate([48, 104, 208]) if i != 1]",
    "[k for k, v in [(1, 2), (3, 4)]]",
    "[j for j in range(8) if j not in (2, 5)]",
    "[j in (1,) for j in range(3)]",
    "not 3 in (3,)",
    "1 < 2 in (True,)",
    "'ab' in 'xaby'",
    "3 in {3: 4}",
    "[1, 2, 3, 4][1:]",
    "[1, 2, 3, 4][:-1]",
    "[1, 2, 3, 4][::2]",
    "[1, 2, 3, 4][3:0:-1]",
    "(5, 6, 7)[:]",
    "'abcd'[1:3]",
    "[b - a for a, b in zip([0, 1, 4, 10][:-1], [0, 1, 4, 10][1:])]",
    ("log(10)", "math.log(10)"),
    ("log(8, 2)", "math.log(8, 2)"),
    ("log(1000, 10)", "math.log(1000, 10)"),
    ("round(log(48 * 2.09 ** 3 / 48) / log(2.09))", "round(math.log(48 * 2.09 ** 3 / 48) / math.log(2.09))"),
]


@pytest.mark.parametrize("pair", SAME, ids=lambda p: p if isinstance(p, str) else p[0])
def test_values_are_pythons(pair: str | tuple[str, str]) -> None:
    spec_text, python_text = (pair, pair) if isinstance(pair, str) else pair
    expected = as_tuples(eval(python_text, {"math": math}))  # fixed test strings: Python is the reference
    got = value(spec_text)
    assert got == expected
    assert type(got) is type(expected)


def test_comprehension_names_are_local_and_read_the_environment() -> None:
    assert value("[j * w for j in range(3)]", w=10) == (0, 10, 20)
    assert value("[j for j in range(2)] + (j,)", j=7) == (0, 1, 7)  # the outer `j` is untouched


def test_show_writes_tuples_as_a_spec_does() -> None:
    assert show((3, 3)) == "3x3"  # a size
    assert show(((0, 1), (1, 2))) == "((0, 1), (1, 2))"  # a table: the pairs are tuples, not sizes
    assert show((0,)) == "(0,)"
    assert show(()) == "()"
    assert show((0, (1, 2), 3)) == "(0, (1, 2), 3)"


# -- RegNet's family formulas ---------------------------------------------------------------------

REGNET = """network regnet(depth = 16, w0 = 48, wa = 27.89, wm = 2.09, g = 8):
    input 3x8x8
    let ws = [int(round(w0 * wm ** round(log((wa * j + w0) / w0, wm)) / 8) * 8) for j in range(depth)]
    let widths = [ws[j] for j in range(depth) if j == 0 or ws[j] != ws[j - 1]]
    let depths = [len([w for w in ws if w == s]) for s in widths]
    let groups = [min(g, w) for w in widths]
    let adjusted = [make_divisible(w, min(g, w)) for w in widths]
    repeat len(widths) as i:
        conv adjusted[i] 1x1
        repeat depths[i]:
            conv adjusted[i] 3x3 pad=1 groups=adjusted[i] // groups[i] bias=false
"""


def torchvision_regnet(depth: int, w_0: float, w_a: float, w_m: float, group_width: int) -> tuple[list[int], list[int]]:
    """torchvision's `BlockParams.from_init_params` (models/regnet.py), in plain Python: stage widths (adjusted
    for group compatibility, bottleneck multiplier 1) and depths."""
    widths_cont = [j * w_a + w_0 for j in range(depth)]
    capacity = [round(math.log(w / w_0) / math.log(w_m)) for w in widths_cont]
    block_widths = [int(round(w_0 * w_m ** c / 8) * 8) for c in capacity]
    splits = [w != wp for w, wp in zip([*block_widths, 0], [0, *block_widths])]
    stage_widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
    starts = [d for d, t in enumerate(splits) if t]
    stage_depths = [b - a for a, b in itertools.pairwise(starts)]

    def make_divisible(v: float, divisor: int) -> int:
        new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
        return new_v + divisor if new_v < 0.9 * v else new_v

    return [make_divisible(w, min(group_width, w)) for w in stage_widths], stage_depths


@pytest.mark.parametrize(("params", "widths", "depths"), [
    ({}, [48, 104, 208, 440], [1, 3, 6, 6]),  # RegNetY-400MF (Radosavovic et al. 2020, Table; torchvision)
    ({"depth": 22, "w0": 24, "wa": 24.48, "wm": 2.54, "g": 16}, None, None),  # RegNetX-400MF: the port only
    ({"depth": 13, "w0": 24, "wa": 36.44, "wm": 2.49, "g": 8}, None, None),  # RegNetX-200MF: the port only
])
def test_regnet_stages_from_the_family_formulas(params: dict[str, float], widths: list[int] | None,
                                                depths: list[int] | None) -> None:
    a = archspec.analyze(REGNET, **params)
    p = {"depth": 16, "w0": 48, "wa": 27.89, "wm": 2.09, "g": 8, **params}
    ref_w, ref_d = torchvision_regnet(int(p["depth"]), p["w0"], p["wa"], p["wm"], int(p["g"]))
    if widths is not None:
        assert (ref_w, ref_d) == (widths, depths)
    convs = [n for n in a.ir if n.kind == "conv"]
    stage_convs = [n for n in convs if n.args.kernel in (1, (1, 1))]
    assert [n.meta.shape[0] for n in stage_convs] == ref_w
    grouped = [n for n in convs if n not in stage_convs]
    assert len(grouped) == sum(ref_d)
    assert [n.args.groups for n in grouped] == [w // min(int(p["g"]), w) for w, d in zip(ref_w, ref_d) for _ in range(d)]


# -- whole specs: connection tables built by comprehensions ----------------------------------------

TABLE_ARCH = """network ring(maps = 6, reach = 3):
    input 6x12x12
    let table = [((j + k) % maps for k in range(reach)) for j in range(maps)]
    C = conv maps 5x5 table=table tanh
    let skip = [(j,) for j in range(maps) if j % 2 == 0]
    D = conv len(skip) 1x1 table=skip bias=false
"""


@pytest.mark.slow  # imports torch
def test_a_connection_table_built_by_a_comprehension() -> None:
    a = archspec.analyze(TABLE_ARCH)
    # C: 6 output maps, each reads 3 input maps with a 5x5 kernel, plus 6 biases; D: maps 0, 2, 4, one weight each
    assert a.row("C").params == 6 * 3 * 25 + 6 == 456
    assert a.row("D").params == 3
    assert a.totals.params == 459
    assert a.ir["C"].args.table == ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1))
    assert a.ir["D"].args.table == ((0,), (2,), (4,))
    torch = pytest.importorskip("torch")
    module = archspec.compile(a.ir)
    assert sum(p.numel() for p in module.parameters()) == 459
    assert module(torch.randn(2, 6, 12, 12)).shape == (2, 3, 8, 8)
    b = archspec.analyze(TABLE_ARCH.replace("reach = 3", "reach = 4"))
    assert b.totals.params == 6 * 4 * 25 + 6 + 3


def test_the_same_tables_in_yaml(tmp_path) -> None:
    spec = tmp_path / "ring.yaml"
    spec.write_text("""network: ring
params: {maps: 6, reach: 3}
body:
  - input 6x12x12
  - let: {table: "[((j + k) % maps for k in range(reach)) for j in range(maps)]"}
  - conv: {args: [maps, 5x5], table: table, name: C}
  - tanh
  - conv: {args: [3, 1x1], table: "[(j,) for j in range(maps) if j % 2 == 0]", bias: false, name: D}
""")
    a = archspec.analyze(spec)
    assert a.totals.params == 459
    assert a.ir["D"].args.table == ((0,), (2,), (4,))


def test_fmt_writes_comprehensions_back(tmp_path) -> None:
    from archspec.report.fmt import convert

    for to in ("arch", "yaml"):
        out = convert(TABLE_ARCH, "ring.arch", to)
        assert "for j in range(maps)" in out
        (tmp_path / f"ring.{to}").write_text(out)
        assert archspec.analyze(tmp_path / f"ring.{to}").totals.params == 459


# -- scopes ---------------------------------------------------------------------------------------

def net(body: str, params: str = "") -> str:
    return f"network t({params}):\n    input 3x16x16\n" + body


def diag(src: str) -> archspec.Diagnostic:
    with pytest.raises(SpecError) as e:
        archspec.analyze(src)
    return e.value.diagnostic


def widths(a: archspec.Analysis) -> list[int]:
    return [r.output_shape[0] for r in a.rows if r.kind == "conv"]


def test_a_let_in_a_repeat_is_visible_after_and_carries_between_iterations() -> None:
    a = archspec.analyze(net("    let c = 4\n    repeat 3 as i:\n        let c = c * 2\n        conv c + i 1x1\n"
                             "    conv c 1x1\n"))
    assert widths(a) == [8, 17, 34, 32]
    # conv 1x1 parameters: c_in * c_out + c_out, by hand
    assert a.totals.params == (3 * 8 + 8) + (8 * 17 + 17) + (17 * 34 + 34) + (34 * 32 + 32)


def test_a_let_in_if_frozen_and_branches_is_visible_after() -> None:
    a = archspec.analyze(net("    if true:\n        let a = 5\n    frozen:\n        let b = a + 1\n"
                             "    add:\n        branch:\n            let d = b + 1\n            conv d 1x1\n"
                             "        branch: conv 7 1x1\n    conv a + b + d 1x1\n"))
    assert widths(a) == [7, 7, 18]


def test_a_block_call_is_a_scope_of_its_own() -> None:
    src = net("    let w = 4\n    block b():\n        let w = 9\n        conv w 1x1\n    b()\n    conv w 1x1\n")
    assert widths(archspec.analyze(src)) == [9, 4]


def test_the_loop_variable_lives_in_its_body_only() -> None:
    a = archspec.analyze(net("    let i = 7\n    repeat 2 as i:\n        conv i + 1 1x1\n    conv i 1x1\n"))
    assert widths(a) == [1, 2, 7]  # the outer `i` is hidden in the body, visible again after
    d = diag(net("    repeat 2 as i:\n        relu\n    conv i + 1 1x1\n"))
    assert d.code == "E205" and d.message == "`i` is not defined"
    assert (d.span.line, d.span.column) == (5, 10)
    assert d.notes and "loop variable of the `repeat` at <string>:3:17" in d.notes[0]


def test_rebinding_the_loop_variable_is_e210() -> None:
    d = diag(net("    repeat 3 as i:\n        let i = i + 1\n        conv i 1x1\n"))
    assert d.code == "E210"
    assert d.message == "`let i` would rebind the loop variable of the `repeat` at line 3"
    assert (d.span.line, d.span.column, d.span.end_column) == (4, 9, 22)
    assert d.hint and "another name" in d.hint
    d = diag(net("    repeat 2 as i:\n        repeat 2 as i:\n            relu\n"))
    assert d.code == "E210"
    assert d.message == "`i` is already the loop variable of the `repeat` at line 3"
    assert (d.span.line, d.span.column, d.span.end_column) == (4, 21, 22)
    # a block called in the loop has its own scope: its `let i` and its `repeat ... as i` are its own
    a = archspec.analyze(net("    block b():\n        let i = 2\n        repeat i as i:\n            conv 4 1x1\n"
                             "    repeat 2 as i:\n        b()\n"))
    assert widths(a) == [4, 4, 4, 4]


def test_a_let_that_did_not_run_is_explained() -> None:
    d = diag(net("    repeat 0:\n        let w = 5\n    conv w * 2 1x1\n"))
    assert d.code == "E205" and (d.span.line, d.span.column) == (5, 10)
    assert "`w` is bound by the `let` at <string>:4:9" in d.notes[0]
    d = diag(net("    block b():\n        let w = 5\n        relu\n    b()\n    conv w 1x1\n"))
    assert d.code == "E205" and (d.span.line, d.span.column) == (7, 10)
    assert "local to each call of the block" in d.notes[0]


def test_comprehension_names_do_not_leak() -> None:
    d = diag(net("    let t = [j for j in range(3)]\n    conv j + 1 1x1\n"))
    assert d.code == "E205" and (d.span.line, d.span.column) == (4, 10)


# -- diagnostics ------------------------------------------------------------------------------------

def test_a_table_entry_written_0_in_brackets_points_at_it() -> None:
    d = diag("network t:\n    input 4x16x16\n    conv 4 3x3 table=((0, 1), (1, 2), (0), (2, 3))\n")
    assert d.code == "E202"
    assert d.message == "invalid `table` for `conv`: `table[2]` is an integer (0), not a tuple"
    assert (d.span.line, d.span.column, d.span.end_column) == (3, 40, 41)
    assert d.expected == "`table` is a tuple of tuples of integers"
    assert d.received == "((0, 1), (1, 2), 0, (2, 3))"
    assert d.hint == "a tuple of one entry is written `(0,)`; `(0)` is the number 0"
    a = archspec.analyze("network t:\n    input 4x16x16\n    conv 4 3x3 table=((0, 1), (1, 2), (0,), (2, 3))\n")
    assert a.totals.params == (2 + 2 + 1 + 2) * 9 + 4


def test_a_table_entry_from_a_let_names_the_entry() -> None:
    d = diag("network t:\n    input 4x16x16\n    let tab = ((0, 1), ((1, 2), 3), (0,), (2, 3))\n"
             "    conv 4 3x3 table=tab\n")
    assert d.code == "E202"
    assert d.message == "invalid `table` for `conv`: `table[1][0]` is a tuple ((1, 2)), not an integer"
    assert (d.span.line, d.span.column) == (4, 16)


@pytest.mark.parametrize(("expr", "code", "message", "column"), [
    ("[j for j in 4]", "E206", "`for j in` runs over a tuple or a list, not an integer (4)", 25),
    ("log(0)", "E206", "`log` failed: the logarithm of 0 is not defined: it needs a number above 0", 13),
    ("log(8, 1)", "E206", "`log` failed: a logarithm's base is a positive number other than 1, not 1", 13),
    ("len(3)", "E206", "`len` failed: len takes a tuple, a list, a mapping or a string, not an integer (3)", 13),
    ("[0 for i in range(400) for j in range(1000) if false]", "E600", "list comprehension takes too many steps", 13),
    ("[j for j in range(100000) for k in range(2)]", "E600", "list comprehension too long", 13),
    ("[range(100000) for i in range(100000)]", "E600", "list comprehension too long", 13),  # nested items count
    ("[q * 2 for j in range(3)]", "E205", "`q` is not defined", 14),
    ("[a for a, b in [(1, 2), 3]]", "E206", "`for a, b in` needs entries of 2 values; this one is 3", 28),
    ("zip(1, 2)", "E206", "`zip` failed: zip takes tuples or lists, not an integer (1)", 13),
    ("[1, 2][::0]", "E206", "a slice's step cannot be zero", 22),
    ("[1, 2][0.5:]", "E206", "a slice's bounds are whole numbers, not a number (0.5)", 20),
    ("3[1:]", "E206", "cannot slice an integer (3)", 13),
    ("[j for j in range(3) if j in 2]", "E206",
     "`in` looks for a value in a tuple, a list, a mapping or a string, not in an integer (2)", 42),
])
def test_expression_diagnostics(expr: str, code: str, message: str, column: int, monkeypatch) -> None:
    monkeypatch.setattr("archspec.lang.expr.MAX_STEPS", 300_000)  # the same diagnostics, in less time
    d = diag(f"network t:\n    input 4x8x8\n    let x = {expr}\n")
    assert (d.code, d.message) == (code, message)
    assert (d.span.line, d.span.column) == (3, column)


def test_a_comprehension_over_a_number_hints_range() -> None:
    d = diag("network t:\n    input 4x8x8\n    let x = [j for j in 4]\n")
    assert d.hint == "`for j in range(4)` counts from 0"
    assert d.expected == "a tuple, a list, a mapping (its keys) or `range(...)`"


def test_syntax_errors_in_comprehensions() -> None:
    d = diag("network t:\n    input 4x8x8\n    let x = [j for j range(3)]\n")
    assert d.code == "E100" and (d.span.line, d.span.column) == (3, 22)
    assert "`in`" in (d.expected or "")


def test_an_unquoted_comprehension_in_a_yaml_list_says_to_quote_it(tmp_path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text("network: t\nbody:\n  - input 4x8x8\n  - conv: {args: [2, 1x1], table: [j for j in range(2)]}\n")
    with pytest.raises(SpecError) as e:
        archspec.analyze(spec)
    d = e.value.diagnostic
    assert (d.code, d.message) == ("E110", "a list comprehension in a YAML list")
    assert (d.span.line, d.span.column) == (4, 35)
    assert d.hint == 'quote it: "[j for j in range(2)]" (YAML reads an unquoted `[...]` as a list of its own)'


def test_exit_status_2_on_the_command_line(tmp_path) -> None:
    from archspec.cli.app import main

    spec = tmp_path / "t.arch"
    spec.write_text(net("    repeat 3 as i:\n        let i = i + 1\n"))
    assert main(["analyze", str(spec)]) == 2


# -- RegNet as one file: torchvision's published parameter counts ----------------------------------

REGNET_FILE = Path(__file__).resolve().parents[1] / "data" / "regnet.arch"


@pytest.mark.parametrize(("name", "params", "expected"), [
    # torchvision.models.regnet: BlockParams.from_init_params(...) and the weights' meta["num_params"]
    ("RegNetY-400MF", {}, 4_344_144),
    ("RegNetY-800MF", {"depth": 14, "w0": 56, "wa": 38.84, "wm": 2.4, "g": 16}, 6_432_512),
    ("RegNetY-1.6GF", {"depth": 27, "w0": 48, "wa": 20.71, "wm": 2.65, "g": 24}, 11_202_430),
    ("RegNetX-400MF", {"depth": 22, "w0": 24, "wa": 24.48, "wm": 2.54, "g": 16, "se": 0}, 5_495_976),
    ("RegNetX-800MF", {"depth": 16, "w0": 56, "wa": 35.73, "wm": 2.28, "g": 16, "se": 0}, 7_259_656),
], ids=lambda x: x if isinstance(x, str) else "")
def test_regnet_family_in_one_file(name: str, params: dict[str, float], expected: int) -> None:
    a = archspec.analyze(REGNET_FILE, **params)
    assert a.totals.params == expected, name


@pytest.mark.slow  # imports torch, builds a 4.3 M parameter module
def test_regnet_y_400mf_compiles_to_the_same_count() -> None:
    pytest.importorskip("torch")
    a = archspec.analyze(REGNET_FILE)
    module = archspec.compile(a.ir)
    assert sum(p.numel() for p in module.parameters()) == 4_344_144


def test_e210_in_yaml_points_at_the_loop_variable(tmp_path) -> None:
    spec = tmp_path / "r.yaml"
    spec.write_text("network: t\nbody:\n  - input 3x8x8\n  - repeat: 2\n    as: i\n    body:\n"
                    "      - repeat: 2\n        as: i\n        body: [relu]\n")
    with pytest.raises(SpecError) as e:
        archspec.analyze(spec)
    d = e.value.diagnostic
    assert (d.code, d.message) == ("E210", "`i` is already the loop variable of the `repeat` at line 5")
    assert (d.span.line, d.span.column) == (8, 13)


def test_pythons_for_statement_says_repeat() -> None:
    d = diag(net("    for i in range(3):\n        conv 4 3x3\n"))
    assert (d.code, d.message) == ("E100", "archspec has no `for` statement: a loop is a `repeat`")
    assert (d.span.line, d.span.column, d.span.end_column) == (3, 5, 8)
    assert d.hint == "write `repeat 3 as i:`; `for` appears inside brackets only, in a list comprehension"
    d = diag(net("    let ws = [8, 16]\n    for w in ws: conv w 3x3\n"))
    assert d.hint is not None and d.hint.startswith("write `repeat len(ws) as k:` and `ws[k]`")


def test_a_comprehension_over_several_lines_is_no_for_statement() -> None:
    a = archspec.analyze(net("    let t = [j\n             for j in range(3)]\n    conv len(t) 1x1\n"))
    assert widths(a) == [3]
    d = diag(net("    let t = [j\n             for j in range(3)]\n    conv len(t) 1x1 +\n"))
    assert d.code == "E100" and "`for`" not in d.message
