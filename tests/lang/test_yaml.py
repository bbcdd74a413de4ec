"""The YAML form (docs/yaml.md): the same network written in .arch and in YAML gives the same graph, and every
mistake in a YAML spec is one diagnostic with a line number."""

from dataclasses import asdict
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.lang.yaml_front import parse_yaml

DATA = Path(__file__).resolve().parents[1] / "data"
SPECS = Path(__file__).resolve().parents[2] / "archspec" / "specs"

TWINS = [  # (.arch, .yaml, network parameters)
    (SPECS / "vgg16.arch", DATA / "vgg16.yaml", {}),
    (SPECS / "vgg16.arch", DATA / "vgg16.yaml", {"depth": 19, "classes": 10}),
    (DATA / "branchy.arch", DATA / "branchy.yaml", {}),
    (DATA / "control.arch", DATA / "control.yaml", {}),
    (DATA / "control.arch", DATA / "control.yaml", {"depth": 1, "freeze": False, "width": 0.5}),
]


def graph_facts(g):
    """Everything a graph says, except the source spans."""
    nodes = [(n.id, n.kind, n.op, n.args, n.inputs, n.scope_id, n.frozen, n.fused, n.meta.shape) for n in g]
    scopes = {k: (s.kind, s.name, s.args) for k, s in g.scopes.items()}
    return {"name": g.name, "params": g.params, "nodes": nodes, "scopes": scopes, "inputs": g.inputs,
            "outputs": g.outputs}


@pytest.mark.parametrize(("arch", "yaml", "params"), TWINS, ids=lambda x: x.name if isinstance(x, Path) else str(x))
def test_same_graph_and_totals(arch, yaml, params):
    a, y = archspec.analyze(arch, **params), archspec.analyze(yaml, **params)
    fa, fy = graph_facts(a.ir), graph_facts(y.ir)
    for key in fa:
        assert fa[key] == fy[key], key
    assert asdict(a.totals) == asdict(y.totals)


SMALL_ARCH = """network t:
    input 3x8x8
    block u(c):
        conv c 1x1; relu
    skip = conv 4 1x1
    conv 4 3x3 pad=1
    add skip _
    u(4)
    repeat 2:
        u(4)
        bn
    a = relu
    from skip
    b = flatten
    output a
    output b
"""
SMALL_YAML = """network: t
body:
  - input 3x8x8
  - block: u
    params: [c]
    body: conv c 1x1; relu
  - conv: {args: [4, 1x1], name: skip}
  - conv: {filters: 4, kernel: 3x3, pad: 1}
  - add: [skip, _]
  - u: 4
  - repeat: 2
    body: |
      u(4)
      bn
  - relu: {name: a}
  - from: skip
  - flatten: {name: b}
  - output: [a, b]
"""


def test_small_twin():
    a = archspec.analyze(archspec.load("t.arch", text=SMALL_ARCH))
    y = archspec.analyze(archspec.load("t.yaml", text=SMALL_YAML))
    assert graph_facts(a.ir) == graph_facts(y.ir)


def test_vgg16_yaml_figures():
    a = archspec.analyze(DATA / "vgg16.yaml")
    assert (a.totals.params, a.totals.macs) == (138_357_544, 15_470_264_320)
    assert archspec.analyze(DATA / "vgg16.yaml", depth=19).totals.params == 143_667_240


def test_cli_analyze_yaml(capsys):
    assert main(["analyze", str(DATA / "vgg16.yaml")]) == 0
    assert "138,357,544" in capsys.readouterr().out


def test_doc_example():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "yaml.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert archspec.analyze(archspec.load("doc.yaml", text=example)).totals.params == 138_357_544


def test_spans_point_into_the_yaml_file():
    g = archspec.analyze(DATA / "vgg16.yaml").ir
    conv = g["stage1.conv1"].span  # `- conv c 3x3 pad=same relu`, a string item parsed as .arch
    assert (conv.file, conv.line, conv.column, conv.end_column) == (str(DATA / "vgg16.yaml"), 10, 13, 37)
    pool = g["stage1.maxpool1"].span  # `- maxpool: {kernel: 2, stride: 2}`, the mapping form
    assert (pool.line, pool.column, pool.end_column) == (11, 9, 40)
    spec = parse_yaml((DATA / "vgg16.yaml").read_text(), "vgg16.yaml")
    assert spec.network is not None and spec.network.span is not None and spec.network.span.line == 2
    let = spec.network.body[1]  # `let: {deep: "{16: 3, 19: 4}[depth]"}`: the expression inside the quotes
    assert let.value.span.line == 14 and let.value.span.column == 18


def test_strings_in_block_scalars_keep_their_lines():
    text = "network: n\nbody:\n  - |\n    input 3x32x32\n    conv 8 3x3 pad=sane\n"
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(archspec.load("n.yaml", text=text))
    d = e.value.diagnostic
    assert (d.code, d.span.line, d.span.column) == ("E202", 5, 16)


def test_forms_are_interchangeable():
    """A layer as a string, in call form, with positional or keyword arguments: the same layers."""
    text = ("network: n\nbody:\n  - input 3x32x32\n  - conv 8 3x3 pad=1 relu\n  - conv(8, 3x3, pad=1) relu\n"
            "  - conv(8, 3x3, pad=1, relu)\n  - conv: {args: [8, 3x3], pad: 1, activation: relu}\n"
            "  - conv: {filters: 8, kernel: 3x3, pad: 1, activation: relu}\n")
    g = archspec.analyze(archspec.load("n.yaml", text=text)).ir
    args = [n.args for n in g if n.kind == "conv"]
    assert len(args) == 5 and all(a == args[0] for a in args)


NET = "network: n\nbody:\n  - input 3x32x32\n"
ERRORS = [  # (what, YAML text, code, line, a piece of the message)
    ("unknown top-level key", "netwrok: n\nbody: [input 3]\n", "E110", 1, "no key `netwrok`"),
    ("unknown key in an item", NET + "  - repeat: 2\n    boddy: [relu]\n", "E110", 5, "no key `boddy`"),
    ("body of the wrong type", "network: n\nbody: 3\n", "E110", 2, "is a list of statements"),
    ("empty body", "network: n\nbody: []\n", "E110", 2, "is a list of statements"),
    ("missing body", "network: n\nparams: {a: 1}\n", "E110", 1, "needs `body:`"),
    ("body without a network", "body: [input 3]\n", "E110", 1, "needs `network: NAME`"),
    ("repeat without body", NET + "  - repeat: 2\n", "E110", 4, "needs `body:`"),
    ("if without then", NET + "  - if: true\n    else: [relu]\n", "E110", 4, "needs `then:`"),
    ("two statements in one item", NET + "  - repeat: 2\n    if: true\n", "E110", 4, "two statements"),
    ("a layer mapping with two keys", NET + "  - conv: [8, 3x3]\n    pad: 1\n", "E110", 4, "one key"),
    ("a number as a statement", NET + "  - 64\n", "E110", 4, "a string or a mapping"),
    ("a missing value", NET + "  - dropout: {p: }\n", "E110", 4, "a value is missing"),
    ("a name that is not one", NET + "  - from: 3\n", "E110", 4, "must be a name"),
    ("a duplicate key", NET + "  - conv: {filters: 8, filters: 16}\n", "E110", 4, "given twice"),
    ("a YAML syntax error", NET + "  - conv: [8, 3x3\n", "E110", 4, "invalid YAML"),
    ("an unquoted mapping value", NET + "  - let: {deep: {16: 3}[depth]}\n", "E110", 4, "invalid YAML"),
    ("a tab", NET + "\t- relu\n", "E110", 4, "a tab"),
    ("an alias", "network: n\nparams: {a: &x 3}\nbody:\n  - input 3x32x32\n  - dense: *x\n", "E110", 5,
     "aliases"),
    ("a Python tag", NET + "  - dense: !!python/object/apply:os.system [ls]\n", "E110", 4, "python/object"),
    ("a date", NET + "  - dense: 2020-01-01\n", "E110", 4, "timestamp"),
    ("two documents", NET + "---\nnetwork: m\n", "E110", 4, "second document"),
    ("an empty file", "# nothing\n", "E110", 1, "empty"),
    ("a list at the top", "- input 3\n", "E110", 1, "a mapping"),
    ("deep nesting", "network: n\nbody: " + "[" * 5000 + "]" * 5000 + "\n", "E600", 2, "nested deeper"),
    (".arch syntax error in a string", NET + "  - conv 64 3x3 pad=\n", "E100", 4, "unexpected end of line"),
    ("expression syntax error in a value", NET + "  - dropout: 0.5 +\n", "E100", 4, "unexpected"),
    ("a keyword argument in a list", NET + "  - conv: [8, 3x3, pad=1]\n", "E110", 4, "`pad=1`"),
    ("two expressions in a value", NET + "  - dropout: 0.5; relu\n", "E110", 4, "one expression"),
    ("a control character", NET + "  - relu\x07\n", "E102", 4, "character"),
    ("empty branches", NET + "  - add: {branches: []}\n", "E110", 4, "list of branches"),
    ("an unknown key in a branch", NET + "  - add:\n      - {brunch: a, body: [relu]}\n      - [relu]\n",
     "E110", 5, "no key `brunch`"),
    ("an unknown block key", "blocks:\n  b:\n    parms: [c]\n    body: [relu]\n", "E110", 3, "no key `parms`"),
    ("use of a number", "use: 3\n" + NET, "E110", 1, "`use` names files"),
]


@pytest.mark.parametrize(("what", "text", "code", "line", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_yaml_mistakes(what, text, code, line, message):
    with pytest.raises(archspec.SpecError) as e:
        parse_yaml(text, "spec.yaml")
    d = e.value.diagnostic
    assert d.code == code, d
    assert d.span is not None and d.span.file == "spec.yaml" and d.span.line == line, d
    assert message in d.message, d


@pytest.mark.parametrize(("text", "code", "line", "column"), [
    (NET + "  - conv2 64 3x3\n", "E200", 4, 5),  # a string item: the kind's column in the YAML file
    (NET + "  - conv2: [64, 3x3]\n", "E200", 4, 5),  # the mapping form: the key
    (NET + "  - conv: {filters: 64, kernel: 3x3, strides: 2}\n", "E201", 4, 38),
    (NET + "  - conv: {filters: 64, kernel: 3x3, pad: \"sane\"}\n", "E202", 4, 38),
    (NET + "  - add: [[conv 16 3x3], [identity]]\n", "E301", 4, 5),
    (NET + "  - from: skip\n", "E400", 4, 5),
])
def test_graph_errors_point_into_the_yaml_file(text, code, line, column, capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(spec)
    d = e.value.diagnostic
    assert (d.code, d.span.line, d.span.column) == (code, line, column), d
    assert main(["--no-color", "analyze", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"--> {spec}:{line}:{column}" in err and "^" in err


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "-" + "1" * 4400, "0b" + "1" * 20000])
def test_a_huge_integer_is_a_located_limit(number):
    # int() refuses more than 4,300 digits: a ValueError came out as an internal error
    text = "network: n\nbody:\n  - input 3x8x8\n  - let: {a: " + number + "}\n  - relu\n"
    with pytest.raises(archspec.SpecError) as e:
        archspec.analyze(archspec.load("spec.yaml", text=text))
    d = e.value.diagnostic
    assert (d.code, d.span.file, d.span.line, d.span.column) == ("E600", "spec.yaml", 4, 14), d


@pytest.mark.parametrize(("body", "where"), [
    ("  - input: 1x8x8\n  - repeat: 2\n    as: for\n    body: [relu]\n", (5, 9)),
    ("  - input: 1x8x8\n  - conv: {args: [4, 3x3], name: if}\n", (4, 34)),
    ("  - input: 1x8x8\n  - let: {in: 3}\n", (4, 11)),
])
def test_keywords_name_nothing(body, where):
    """A keyword as a name would be written back by `archspec fmt` as text that does not parse."""
    with pytest.raises(SpecError) as e:
        archspec.load("t.yaml", text="network: t\nbody:\n" + body)
    d = e.value.diagnostic
    assert d.code == "E110" and "keyword" in d.message and (d.span.line, d.span.column) == where
