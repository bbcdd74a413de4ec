"""The error catalogue: each example fails with its code, exit status 2, a location and no traceback;
docs/errors.md shows the exact current messages."""

from pathlib import Path

import pytest

from archspec.cli.examples import EXAMPLES, markdown, run_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


@pytest.mark.parametrize("ex", EXAMPLES, ids=[f"{e.code}-{i}" for i, e in enumerate(EXAMPLES)])
def test_example_gives_its_diagnostic(ex, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    status, err = run_example(ex)
    warning = ex.code.startswith("W")
    assert status == (0 if warning else 2)
    assert err.startswith(f"{'warning' if warning else 'error'}[{ex.code}]: ")
    assert "Traceback" not in err
    if ex.located:
        assert "  --> " in err and "^" in err  # file:line:col and a caret under the offending text


def test_every_code_has_an_example():
    from archspec.diagnostics import CODES

    missing = set(CODES) - {e.code for e in EXAMPLES}
    assert not missing


def test_catalogue_is_current(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert DOC.read_text(encoding="utf-8") == markdown(), "regenerate: python -m archspec.cli.examples > docs/errors.md"
