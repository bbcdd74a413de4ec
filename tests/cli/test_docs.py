"""Docs generated from the code are current, and the README's commands name real things."""

from pathlib import Path

from archspec.kinds.docs import layers_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_layer_reference_is_current():
    assert (ROOT / "docs" / "layers.md").read_text(encoding="utf-8") == layers_markdown(), \
        "regenerate: python -m archspec.kinds.docs > docs/layers.md"


def test_every_kind_is_documented():
    from archspec.kinds import KINDS

    text = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        if kind.op != "output":
            assert f"### `{name}`" in text
            assert kind.summary, f"{name} has no summary"


def test_convention_rules_are_current():
    from archspec.kinds.conventions import markdown

    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    table = text.split("<!-- rules: generated from archspec/kinds/conventions.py -->\n", 1)[1].split("<!-- rules: end -->")[0]
    assert table == markdown(), "regenerate the table in docs/conventions.md from archspec.kinds.conventions.markdown()"
