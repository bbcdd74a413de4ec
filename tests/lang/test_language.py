"""The language: expressions, blocks, control, named tensors, outputs, naming of layers."""

import pytest

import archspec
from archspec.diagnostics import SpecError


def analyze(body: str, **kw):
    return archspec.analyze("network net(n = 2, flag = true):\n" + body, **kw)


def test_expressions_and_builtins():
    a = analyze("    input 3x32x32\n    let w = max(8, int(16 * 0.5)) * 2 ** 2\n    conv w 3x3 pad=1\n"
                "    conv channels // 2 3x3 pad=(1, 1)\n    dense_in = _\n    flatten\n    dense [10, 20][n - 1]\n")
    assert a.row("conv1").output_shape == (32, 32, 32)
    assert a.row("conv2").output_shape == (16, 32, 32)
    assert a.outputs["out"] == (20,)


def test_repeat_if_let_and_frozen():
    a = analyze("    input 8\n    repeat n as i:\n        if i == 0:\n            dense 4\n        else:\n"
                "            dense 4 + i\n    frozen flag:\n        dense 3\n")
    assert [r.output_shape for r in a.rows if r.kind == "dense"] == [(4,), (5,), (3,)]
    assert a.totals.non_trainable_params == 5 * 3 + 3
    assert a.row("dense3").frozen


def test_a_condition_follows_the_names_it_reads():
    """An `if` met again (a repeat's body, the same spec with other parameters) takes the branch its names'
    values of that moment give: a `let` in the body changes them for the next iteration."""
    body = ("    input 3x8x8\n    let k = 1\n    repeat 3:\n        if k == 1 and n < 3:\n            conv 4 1x1\n"
            "        else:\n            conv 8 1x1\n        let k = 2\n")
    a = analyze(body)
    assert [r.output_shape[0] for r in a.rows if r.kind == "conv"] == [4, 8, 8]
    assert a.totals.params == (3 * 4 + 4) + (4 * 8 + 8) + (8 * 8 + 8)
    b = analyze(body, n=3)  # the same statements, another parameter: the other branch from the start
    assert [r.output_shape[0] for r in b.rows if r.kind == "conv"] == [8, 8, 8]
    c = analyze("    input 3x8x8\n    repeat 3:\n        if channels == 3:\n            conv 5 1x1\n"
                "        else:\n            conv channels + 1 1x1\n")  # the current tensor's size: each time
    assert [r.output_shape[0] for r in c.rows if r.kind == "conv"] == [5, 6, 7]
    d = analyze("    input 3x8x8\n    block b(wide):\n        if wide:\n            conv 8 1x1\n        else:\n"
                "            conv 2 1x1\n    b(true); b(false); b(true)\n")  # each call reads its own arguments
    assert [r.output_shape[0] for r in d.rows if r.kind == "conv"] == [8, 2, 8]


def test_blocks_defaults_keywords_and_naming():
    a = analyze("    input 3x32x32\n    block b(c, k = 3):\n        conv c k pad=k // 2\n"
                "    b(8); b(c = 4, k = 5); x = b(2)\n")
    assert [r.name for r in a.rows if r.kind == "conv"] == ["b1.conv1", "b2.conv1", "x.conv1"]
    assert a.row("b2.conv1").params == 4 * 8 * 25 + 4


def test_nested_blocks_see_definer_parameters():
    a = archspec.analyze("network net(width = 6):\n    input 3x8x8\n    block outer(n):\n        block inner():\n"
                         "            conv width 1x1\n        repeat n:\n            inner()\n    outer(3)\n")
    assert [r.name for r in a.rows if r.kind == "conv"] == ["outer1.inner1.conv1", "outer1.inner2.conv1",
                                                             "outer1.inner3.conv1"]


def test_branches_named_tensors_and_outputs():
    a = analyze("    input 16x8x8\n    skip = _\n    y = concat:\n        branch: conv 8 1x1\n"
                "        branch left: conv 8 3x3 pad=1\n    add(y, skip)\n    out2 = conv 4 1x1\n    from y\n"
                "    gap\n    output\n    output out2 weight=0.3\n")
    assert a.row("y").output_shape == (16, 8, 8)
    assert a.row("left.conv1").output_shape == (8, 8, 8)
    assert a.outputs == {"out": (16,), "out2": (4, 8, 8)}
    assert [o.weight for o in a.output_infos] == [None, 0.3]


def test_activation_shorthand_and_flags():
    a = analyze("    input 4x9x9\n    conv 8 3x3 depthwise relu\n    maxpool 2 ceil\n")
    assert [r.kind for r in a.rows] == ["input", "conv", "relu", "maxpool"]
    assert a.row("relu1").fused
    assert a.row("conv1").params == 8 * 9 + 8
    assert a.row("maxpool1").output_shape == (8, 4, 4)


def test_call_form_equals_space_form():
    a = analyze("    input 3x32x32\n    conv(16, 3x3, stride=2)\n    conv 16 (3, 5)\n")
    assert a.row("conv1").output_shape == (16, 15, 15)
    assert a.row("conv2").output_shape == (16, 13, 11)


def test_dimensionality_follows_the_input():
    a = archspec.analyze("network n3:\n    input 1x16x32x32\n    conv 4 3 pad=same\n    maxpool 2\n    bn\n"
                         "    upsample 2\n")
    assert a.outputs["out"] == (4, 16, 32, 32)
    b = archspec.analyze("network n1:\n    input 2x100\n    conv 4 5 stride=2\n    avgpool 2\n")
    assert b.outputs["out"] == (4, 24)


def test_receptive_field_of_stacked_convolutions():
    # seed 003: two stacked 3×3 convolutions see 5×5, three see 7×7
    for n, rf in [(1, 3), (2, 5), (3, 7)]:
        a = archspec.analyze(f"network s:\n    input 1x32x32\n    repeat {n}:\n        conv 1 3x3\n")
        assert a.totals.receptive_field == [rf, rf]
    a = archspec.analyze("network s:\n    input 1x64x64\n    conv 1 3x3 stride=2\n    conv 1 3x3\n")
    assert a.totals.receptive_field == [7, 7] and a.totals.effective_stride == [2, 2]


@pytest.mark.parametrize("src", [
    "    input 3x8x8\n    conv 4 3x3 pad=1 relu\n    relu\n",
    "    input 3x8x8 # a comment\n\n    # another\n    conv 4 3x3 \\\n        pad=1\n",
])
def test_layout(src):
    assert analyze(src).outputs["out"] == (4, 8, 8)


def test_limits_are_diagnostics():
    for body, code in [("    input 3x8x8\n    repeat 1000000:\n        relu\n", "E600"),
                       ("    input 99999999x99999999x9999\n", "E600"),
                       ("    input 3x8x8\n    conv 99999999999999999999999 3x3\n", "E600")]:
        with pytest.raises(SpecError) as e:
            analyze(body)
        assert e.value.diagnostic.code == code


def test_blocks_see_let_names_of_their_scope():
    a = archspec.analyze("network n:\n    input 3x8x8\n    block b():\n        conv w 1x1\n    let w = 5\n    b()\n")
    assert a.outputs["out"] == (5, 8, 8)


# -- indentation with tabs (issue 18.5, issue 11.23) -------------------------------------------------

def _diag(src: str) -> archspec.Diagnostic:
    with pytest.raises(SpecError) as e:
        archspec.analyze(src)
    return e.value.diagnostic


TABMIX = ("network t:\n    input 1x8x8\n    repeat 2:\n        conv 4 3x3 pad=1\n        repeat 3:\n"
          "            conv 4 3x3 pad=1\n    \tconv 8 3x3 pad=1\n")


def test_a_tab_after_spaces_is_inconsistent_indentation():
    # A tab counted as 8 columns put line 7 (4 spaces and a tab) into the inner `repeat 3` without a word;
    # as Python's TabError, an indentation whose meaning depends on the width of a tab is refused.
    d = _diag(TABMIX)
    assert (d.code, d.span.line, d.span.column, d.span.end_column) == ("E101", 7, 5, 6), d
    assert "tab" in d.message and d.received == "4 spaces then 1 tab"


def test_a_tab_where_the_block_uses_spaces_names_the_tab():
    d = _diag("network n:\n    input 3x8x8\n\tconv 3 3x3\n")
    assert (d.code, d.span.line, d.span.column) == ("E101", 3, 1), d
    assert "tabs and spaces" in d.message


def test_a_file_indented_with_tabs_only_is_valid():
    a = archspec.analyze("network t:\n\tinput 1x8x8\n\trepeat 2:\n\t\tconv 4 3x3 pad=1\n\t\trepeat 3:\n"
                         "\t\t\tconv 4 3x3 pad=1\n\tconv 8 3x3 pad=1\n")
    # by hand: conv 1→4 3×3 has 4·9 + 4 = 40 parameters, 4→4 has 4·36 + 4 = 148, 4→8 has 8·36 + 8 = 296;
    # 40 + 3·148, then 148 + 3·148, then the last conv at the outer level
    assert a.totals.params == 40 + 3 * 148 + 148 + 3 * 148 + 296 == 1372


def test_unexpected_indentation_with_a_tab_says_so():
    d = _diag("network n:\n\tinput 3x8x8\n\t\tconv 3 3x3\n")
    assert (d.code, d.span.line, d.span.column) == ("E100", 3, 1), d
    assert "tab" in d.message


# -- expansion limits (issue 11.11, issue 18.12): refused before anything is built ---------------------

NET = "network n:\n    input 3x8x8\n"


def _chain(last: str, levels: int = 40) -> str:
    """Blocks b0 … b{levels}, each calling the next twice: 2**levels calls of the last."""
    return "".join(f"    block b{i}():\n        b{i + 1}()\n        b{i + 1}()\n" for i in range(levels)) + \
        f"    block b{levels}():\n        {last}\n    b0()\n"


def _ychain(last: str, levels: int = 40) -> str:
    return "network: n\nblocks:\n" + "".join(f"  b{i}:\n    body: [b{i + 1}(), b{i + 1}()]\n" for i in range(levels)) + \
        f"  b{levels}:\n    body: [\"{last}\"]\nbody:\n  - input 3x8x8\n  - b0()\n"


NESTED = "    repeat 100000:\n        repeat 100000:\n            {}\n"
YNESTED = ("network: n\nbody:\n  - input 3x8x8\n  - repeat: 100000\n    body:\n      - repeat: 100000\n"
           "        body: [\"{}\"]\n")


@pytest.mark.parametrize(("src", "line", "column", "what"), [
    (NET + NESTED.format("relu"), 3, 5, "layers"),  # 10**10 layers
    (NET + NESTED.format("let a = 1"), 3, 5, "statements"),  # no layer at all: 10**10 statements
    (NET + _chain("relu"), 125, 5, "layers"),  # 2**40 layers
    (NET + _chain("let a = 1"), 125, 5, "statements"),
    (YNESTED.format("relu"), 4, 5, "layers"),  # the same in YAML
    (YNESTED.format("let a = 1"), 4, 5, "statements"),
    (_ychain("relu"), 87, 5, "layers"),
    (_ychain("let a = 1"), 87, 5, "statements"),
], ids=["repeats", "repeats of let", "chain", "chain of let", "yaml repeats", "yaml repeats of let", "yaml chain",
        "yaml chain of let"])
def test_an_expansion_past_the_limits_is_refused_before_it_is_built(src, line, column, what):
    from fuzz_helpers import budget

    with budget(20):  # a hang guard only: these ran for hours
        d = _diag(src)
    assert (d.code, d.span.line, d.span.column) == ("E600", line, column), d
    assert what in d.message and ("repeat 100000" in d.message or "`b0`" in d.message), d.message


def test_the_layer_limit_is_a_million_and_can_be_raised(monkeypatch):
    from archspec.build import elaborate as build

    assert build.MAX_NODES == 1_000_000
    d = _diag(NET + "    repeat 1000:\n        repeat 1000:\n            relu\n")  # 1,000,001 with the input
    assert (d.code, d.span.line) == ("E600", 3) and "1,000,001 layers" in d.message
    monkeypatch.setenv("ARCHSPEC_MAX_NODES", "50")
    assert len(archspec.analyze(NET + "    repeat 49:\n        relu\n").rows) == 50
    d = _diag(NET + "    repeat 50:\n        relu\n")
    assert (d.code, d.span.line, d.expected) == ("E600", 3, "at most 50 layers")
    monkeypatch.setenv("ARCHSPEC_MAX_NODES", "lots")
    assert _diag(NET).code == "E600"
    monkeypatch.delenv("ARCHSPEC_MAX_NODES")
    src = archspec.load(NET + "    repeat 20:\n        relu\n").source
    with pytest.raises(SpecError):
        build.build_graph(src, max_nodes=20)
    assert build.build_graph(src, max_nodes=21).__len__() == 21 + 1  # and the output


def test_an_expansion_the_estimate_cannot_see_is_stopped_as_it_runs(monkeypatch):
    # the count depends on the loop variable: known only while expanding; the statement counter stops it
    monkeypatch.setenv("ARCHSPEC_MAX_NODES", "100")  # 1,000 statements
    d = _diag(NET + "    block s(n):\n        repeat n:\n            let q = 1\n    repeat 1000 as i:\n        s(i)\n")
    assert (d.code, d.span.line) == ("E600", 6) and "statements" in d.message, d


def test_a_valid_network_is_not_refused_by_the_estimate(monkeypatch):
    # the estimate is a lower bound: a condition it cannot decide counts as its cheaper branch
    monkeypatch.setenv("ARCHSPEC_MAX_NODES", "1000")
    a = archspec.analyze(NET + "    repeat 100 as i:\n        if i == 99:\n            repeat 800:\n                relu\n"
                               "        else:\n            relu\n")
    assert len(a.rows) == 1 + 99 + 800


# -- `use` (issue 11.12): a file used along many paths is read once --------------------------------------

def test_a_dag_of_uses_reads_each_file_once(tmp_path, monkeypatch):
    from archspec.lang import load

    n = 12  # 22 took exponential time; 12 files each using the next two were read 2**12 times
    for i in range(n):
        uses = "".join(f'use "f{j}.arch"\n' for j in (i + 1, i + 2) if j < n)
        (tmp_path / f"f{i}.arch").write_text(uses + f"block b{i}():\n    relu\n")
    spec = tmp_path / "net.arch"
    spec.write_text('use "f0.arch"\n' + NET + "    b11()\n")
    reads = []
    real = load.read_text
    monkeypatch.setattr(load, "read_text", lambda p: reads.append(p) or real(p))
    a = archspec.analyze(str(spec))
    assert len(a.rows) == 2
    assert sorted(p.name for p in reads) == sorted([f"f{i}.arch" for i in range(n)] + ["net.arch"])


def test_the_estimate_never_refuses_a_network_within_the_limit():
    # every shipped spec analyses with the layer limit set to its own layer count, and not with one less
    from pathlib import Path

    from archspec.build import elaborate as build
    from archspec.lang.load import shipped_specs_dir

    for path in sorted(Path(shipped_specs_dir()).rglob("*.arch")):
        src = archspec.load(str(path)).source
        g = build.build_graph(src)
        n = sum(1 for node in g if node.op != "output")
        assert len(build.build_graph(src, max_nodes=n)) == len(g), path
        with pytest.raises(SpecError) as e:
            build.build_graph(src, max_nodes=n - 1)
        assert e.value.diagnostic.code == "E600", path


def test_many_dead_ends_give_ten_warnings_and_a_count():
    # 100,000 side paths printed 100,000 warnings (a third of the run's time)
    a = archspec.analyze("network n:\n    i = input 3x8x8\n    repeat 30:\n        relu\n        from i\n    relu\n")
    assert [w.code for w in a.warnings] == ["W100"] * 10
    assert a.warnings[-1].notes == ["and 20 more layers that reach no output"]


@pytest.mark.parametrize(("args", "shape"), [
    ("0 -1", (5, 3, 2)),                       # a minus after a space, before its operand, starts an argument
    ("2 - 2 2", (5, 3, 2)), ("1 3-1", (2, 5, 3)),  # spaced on both sides or unspaced: a subtraction
    ("(a -2) 2", (5, 3, 2)),                   # in brackets: a subtraction
    ("a - 2 -1", (5, 3, 2)), ("0 -3 + 1", (3, 2, 5)),  # a sum is cut before each such minus
])
def test_a_spaced_minus_starts_an_argument(args, shape):
    """`transpose 0 -1` is two arguments, as a shell reads them (it was one: 0 - 1 = -1)."""
    a = archspec.analyze(archspec.load("t", text=f"network t(a = 2):\n    input 2x3x5\n    transpose {args}\n"))
    assert a.outputs == {"out": shape}
