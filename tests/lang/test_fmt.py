"""`archspec fmt`: every spec converts to YAML and to .arch and back to the same AST and the same graph,
and formatting is idempotent."""

from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.lang.load import parse_any
from archspec.lang.parser import parse_expr
from archspec.report.fmt import convert, expr

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FILES = [*sorted((ROOT / "archspec" / "specs").rglob("*.arch")), *sorted((ROOT / "archspec" / "stdlib").glob("*.arch")),
         *sorted(DATA.glob("*.arch")), *sorted(DATA.glob("*.yaml"))]


def without_spans(node):
    """An AST as plain data, without spans and file names."""
    if isinstance(node, dict):
        return {k: without_spans(v) for k, v in node.items() if k not in ("span", "kind_span", "var_span", "path")}
    if isinstance(node, list):
        return [without_spans(v) for v in node]
    return node


def facts(spec):
    try:
        g = archspec.load(spec).graph()
    except archspec.SpecError as e:
        return e.diagnostic.code
    nodes = [(n.id, n.op, n.kind, n.args, n.inputs, n.scope_id, n.frozen, n.fused, n.meta.shape) for n in g]
    plain = {k: (s.kind, s.name, {a: getattr(v, "name", v) for a, v in s.args.items()})  # TensorRef → its name
             for k, s in g.scopes.items()}
    return nodes, g.outputs, plain


@pytest.mark.parametrize("to", ["arch", "yaml"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip(path, to):
    text = path.read_text(encoding="utf-8")
    out = convert(text, str(path), to)
    twin = path.with_suffix("." + to)  # beside the original, so that `use` finds the same files
    assert without_spans(parse_any(out, str(twin)).model_dump()) == without_spans(parse_any(text, str(path)).model_dump())
    assert convert(out, str(twin), to) == out  # idempotent
    assert out.startswith(text[: text.index("\n") + 1] if text.startswith("#") else "")  # the opening comment
    if "network" in text:
        assert facts(archspec.load(str(twin), text=out)) == facts(archspec.load(str(path), text=text))


@pytest.mark.parametrize("source", [
    "a if b else c", "(a if b else c) + 1", "-(a + b) * c", "-a ** 2", "(-a) ** 2", "a ** -1", "2 ** 3 ** 2",
    "a - (b - c)", "a - b - c", "a // (b * c)", "not a == b", "(not a) == b", "a or b and c", "(a or b) and c",
    "{16: [3, 4], 19: (1,)}[depth][0]", 'f(1, x="s", y=2x3)', "[]", "1e-05", "a < b <= c", "(a < b) == c",
])
def test_expressions_keep_their_meaning(source):
    e = parse_expr(source)
    assert without_spans(parse_expr(expr(e)).model_dump()) == without_spans(e.model_dump())


def test_cli_fmt(tmp_path, capsys):
    out = tmp_path / "vgg16.yaml"
    assert main(["fmt", "vgg16", "-o", str(out)]) == 0  # the suffix says YAML
    assert out.read_text().splitlines()[1] == "network: vgg16"
    assert archspec.analyze(out).totals.params == 138_357_544
    assert main(["fmt", str(out), "--to", "arch"]) == 0
    assert "network vgg16(depth = 16, classes = 1000):" in capsys.readouterr().out
