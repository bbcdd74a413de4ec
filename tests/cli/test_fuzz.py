"""Fuzzing (issue 7): whatever the input, archspec answers with an analysis or one diagnostic.

Mutated shipped specs (.arch and YAML), random text and bytes, random expressions, deep nesting, huge
numbers, zero and negative sizes, empty and binary files, other encodings and very long lines go through
the parser, the YAML reader, the analysis and the command line. Acceptable: a valid analysis, or a
`SpecError` with a catalogued code and a location (exit status 2). A traceback (exit 70), a hang or a
memory blow-up is a bug. Example counts follow the hypothesis profile (tests/conftest.py); the figures
are in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fuzz_helpers import (
    ARCH_CORPUS,
    HOSTILE_NUMBERS,
    KEYWORDS,
    PUNCTUATION,
    ROOT,
    YAML_CORPUS,
    analyse_text,
    budget,
    check_cli,
    examples,
    mutated,
)
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import archspec
from archspec.build import elaborate as build
from archspec.diagnostics import SpecError

pytestmark = pytest.mark.slow  # fuzzing

NET = "network n:\n    input 3x8x8\n"


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutations can turn `repeat 3` into `repeat 99999`: valid, but slow to build 500,000 layers. The
    fuzz runs with the same limits scaled down (the real ones are tested in test_limits_*)."""
    monkeypatch.setattr(build, "MAX_NODES", 5_000)
    monkeypatch.setattr(build, "MAX_REPEAT", 1_000)


def _err(text: str, code: str | None = None) -> SpecError:
    out = analyse_text(text, "<fuzz>")
    assert isinstance(out, SpecError), f"expected a diagnostic, got {out!r}"
    if code is not None:
        assert out.diagnostic.code == code, out
    return out


# -- regressions: each was a traceback (exit 70) found by this fuzzing --------------------------------

def test_two_networks_is_a_diagnostic_not_a_visit_error() -> None:
    # lark wrapped the E208 raised while building the AST in a VisitError
    e = _err("network a:\n    input 3\nnetwork b:\n    input 3\n", "E208")
    assert e.diagnostic.span is not None and e.diagnostic.span.line == 3


def test_long_power_chain_is_a_diagnostic() -> None:
    # `2**2**...` is right-recursive: a RecursionError inside the AST transformer came out as a VisitError
    _err(NET + "    let a = " + "2**" * 3000 + "1\n", "E600")


def test_long_sum_evaluates_without_recursion() -> None:
    # `1+1+...` builds a left-leaning tree as deep as the chain: evaluated iteratively now
    a = analyse_text(NET + "    let a = " + "1+" * 3000 + "1\n    conv a 1x1\n", "<fuzz>")
    assert isinstance(a, archspec.Analysis)
    assert a.rows[-1].output_shape == (3001, 8, 8)


def test_huge_range_is_a_diagnostic_not_a_memory_error() -> None:
    # only the last argument was checked: range(0, 10**15, 1) tried to build a 10**15-tuple
    _err(NET + "    let a = range(0, 10**15, 1)\n", "E600")
    _err(NET + "    let a = range(-2**62, 2**62)\n", "E600")


def test_make_divisible_by_zero_is_a_diagnostic() -> None:
    _err(NET + "    let a = make_divisible(10, 0)\n", "E206")


def test_values_cannot_double_their_way_to_astronomical_sizes() -> None:
    doubling = "".join("    let a = (a, a)\n" for _ in range(70))
    _err(NET + "    let a = (1, 2)\n" + doubling + "    conv 2 3x3 table=a\n", "E600")
    concat = "".join("    let a = a + a\n" for _ in range(70))
    _err(NET + "    let a = (1, 2)\n" + concat, "E600")
    _err(NET + '    let a = "ab"\n' + concat, "E600")


def test_unhashable_mapping_key_is_a_diagnostic() -> None:
    _err(NET + "    let a = {{1: 2}: 3}\n", "E206")


def test_softmax_axis_outside_the_input_is_a_diagnostic() -> None:
    # accepted by the analysis, then PyTorch failed (or, for a negative axis, took the softmax over the batch)
    _err(NET + "    softmax axis=3\n", "E202")
    _err(NET + "    softmax axis=-1\n", "E202")
    assert isinstance(analyse_text(NET + "    softmax axis=2\n", "<fuzz>"), archspec.Analysis)


def test_mapping_with_keys_of_mixed_types_as_an_argument() -> None:
    # the builder's argument cache sorted the mapping's keys: 0 < (1, 2) raised a TypeError
    _err(NET + "    conv {0: 0, 1x2: 0} 3x3\n", "E202")


def test_input_override_of_five_axes_is_a_diagnostic() -> None:
    # `--input 1x1x1x1x1` reached the input's argument model unchecked: a pydantic ValidationError (exit 70)
    rc, _, err = check_cli(["--no-color", "analyze", "vgg16", "--input", "1x1x1x1x1"])
    assert rc == 2 and "error[E202]: invalid input shape 1×1×1×1×1" in err


def test_input_override_names_an_input_of_the_network() -> None:
    # `--input NAME=SHAPE` with a name the network does not have was silently ignored, and the unnamed
    # input could not be named at all
    rc, _, err = check_cli(["--no-color", "analyze", "vgg16", "--input", "imgs=3x32x32"])
    assert rc == 2 and "has no input named `imgs`" in err
    assert archspec.analyze("vgg16", input={"input": "3x32x32"}).inputs == {"input": (3, 32, 32)}

# -- hypothesis: mutated specs, random text, random expressions --------------------------------------

@hsettings(max_examples=examples(4))
@given(mutated(ARCH_CORPUS))
def test_mutated_arch_specs(case: tuple[str, str]) -> None:
    path, text = case
    analyse_text(text, path)


@hsettings(max_examples=examples(2))
@given(mutated(YAML_CORPUS))
def test_mutated_yaml_specs(case: tuple[str, str]) -> None:
    path, text = case
    analyse_text(text, path)


@hsettings(max_examples=examples(1))
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    analyse_text(text, "<fuzz>.arch")
    analyse_text(text, "<fuzz>.yaml")


_LEAF = st.one_of(st.sampled_from([*HOSTILE_NUMBERS, "channels", "shape", "a", "x", "true", "false", '"s"', "3x3", "relu", "same"]),
                  st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=False).map(repr))
_FUNCS = ["min", "max", "abs", "int", "round", "float", "floor", "ceil", "len", "sum", "range", "make_divisible",
          "__import__", "eval", "open", "getattr"]


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binop = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "<", ">=", "and", "or"]),
                      inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
    call = st.tuples(st.sampled_from(_FUNCS), st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})")
    return st.one_of(
        binop, call,
        inner.map(lambda e: f"({e})"), inner.map(lambda e: f"-{e}"), inner.map(lambda e: f"not {e}"),
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, min_size=2, max_size=4).map(lambda xs: "(" + ", ".join(xs) + ")"),
        st.lists(st.tuples(inner, inner), max_size=3).map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
    )


EXPRESSIONS = st.recursive(_LEAF, _compound, max_leaves=12)
_USES = ["    let b = {e}\n", "    conv {e} 3x3\n", "    conv 4 {e}\n", "    conv 4 3x3 stride={e} pad={e}\n",
         "    repeat {e}:\n        relu\n", "    if {e}:\n        relu\n", "    maxpool {e}\n", "    dropout {e}\n",
         "    upsample {e}\n", "    zeropad {e}\n", "    crop {e}\n", "    output weight={e}\n",
         "    input {e}\n", "    conv 2 3x3 table={e}\n"]


@hsettings(max_examples=examples(4))
@given(EXPRESSIONS, st.sampled_from(_USES))
def test_random_expressions(expr: str, use: str) -> None:
    analyse_text(NET + "    let a = 2\n" + use.format(e=expr), "<fuzz>")


_STATEMENT_TOKENS = KEYWORDS + PUNCTUATION + HOSTILE_NUMBERS[:12] + ["conv", "dense", "relu", "maxpool", "bn",
                                                                      "flatten", "input", "\n", "\n    ", ":", " "]


@hsettings(max_examples=examples(2))
@given(st.lists(st.sampled_from(_STATEMENT_TOKENS), max_size=30))
def test_random_token_soup(tokens: list[str]) -> None:
    analyse_text(NET + "    " + " ".join(tokens) + "\n", "<fuzz>")


# -- the command line ----------------------------------------------------------------------------------

COMMANDS = [["analyze", "--format", "table"], ["analyze", "--format", "json"], ["analyze", "--format", "csv"],
            ["analyze", "--format", "markdown", "--depth", "1"], ["render", "--format", "dot"],
            ["render", "--format", "dot", "--style", "volumes"], ["compile"], ["fmt"]]


@hsettings(max_examples=examples(1.5))
@given(mutated(), st.sampled_from(COMMANDS))
def test_cli_commands_on_mutated_specs(tmp_path_factory: pytest.TempPathFactory, case: tuple[str, str],
                                       command: list[str]) -> None:
    """analyze in every format, render (graphviz source), compile (the generated PyTorch file) and fmt."""
    path, text = case
    folder = tmp_path_factory.mktemp("cli")
    spec = folder / Path(path).name
    spec.write_text(text, encoding="utf-8")
    for sibling in ("blocks.arch", "blocks.yaml"):  # what tests/data's specs `use`
        (folder / sibling).write_text((ROOT / "tests" / "data" / sibling).read_text())
    if command == ["compile"]:
        pytest.importorskip("torch")
    check_cli(["--no-color", command[0], str(spec), *command[1:]], seconds=60)


@hsettings(max_examples=examples(1))
@given(st.binary(max_size=400), st.sampled_from([".arch", ".yaml"]))
def test_cli_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str) -> None:
    spec = tmp_path_factory.mktemp("bytes") / f"spec{suffix}"
    spec.write_bytes(data)
    check_cli(["--no-color", "analyze", str(spec), "--format", "json"])


@hsettings(max_examples=examples(1))
@given(st.lists(st.sampled_from(["depth", "classes", "x", "1", "=", "==", "(", ")", "1e400", "9" * 30, "-", "a b",
                                 '"', "__import__('os')", "2**62", "99999999999999999999", "[1, 2]", "{1: 2}",
                                 "", ".", "nan", "1x1x1x1x1", "3x32x32", "0x1", "input=", "x=", "×"]),
                min_size=1, max_size=4),
       st.sampled_from(["--set", "--input", "--batch"]))
def test_cli_hostile_options(parts: list[str], option: str) -> None:
    check_cli(["--no-color", "analyze", "resnet", option, "".join(parts), "--format", "json"])


# -- deterministic hostile inputs ----------------------------------------------------------------------

def _nested_blocks(n: int) -> str:
    lines = ["network n:", "    input 3x8x8"]
    lines += [f"    block b{i}():\n        b{i + 1}()" for i in range(n)] + [f"    block b{n}():\n        relu", "    b0()"]
    return "\n".join(lines) + "\n"


def _indented(n: int) -> str:
    lines = ["network n:", "    input 3x8x8"]
    lines += ["    " * (i + 1) + "if true:" for i in range(n)] + ["    " * (n + 1) + "relu"]
    return "\n".join(lines) + "\n"


DEEP = {
    **{f"parens {n}": NET + "    let a = " + "(" * n + "1" + ")" * n + "\n" for n in (10, 60, 65, 1000, 100_000)},
    **{f"lists {n}": NET + "    let a = " + "[" * n + "1" + "]" * n + "\n" for n in (10, 65, 10_000)},
    **{f"mappings {n}": NET + "    let a = " + "{1: " * n + "1" + "}" * n + "\n" for n in (10, 65, 10_000)},
    **{f"unclosed {n}": NET + "    let a = " + "(" * n + "\n" for n in (10, 100_000)},
    **{f"unary minus {n}": NET + "    let a = " + "-" * n + "1\n" for n in (100, 10_000)},
    **{f"not {n}": NET + "    let a = " + "not " * n + "true\n" for n in (100, 10_000)},
    **{f"power {n}": NET + "    let a = " + "1**" * n + "1\n" for n in (100, 10_000)},
    **{f"index {n}": NET + "    let a = [0]" + "[0]" * n + "\n" for n in (100, 10_000)},
    **{f"sum {n}": NET + "    let a = " + "1+" * n + "1\n" for n in (100, 5_000)},
    **{f"indentation {n}": _indented(n) for n in (10, 63, 64, 65, 200)},
    **{f"block calls {n}": _nested_blocks(n) for n in (10, 63, 64, 65, 300)},
    "yaml lists": "network: n\nbody: " + "[" * 5000 + "]" * 5000 + "\n",
    "yaml mappings": "network: n\nbody:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300)),
    "yaml string nesting": "network: n\nbody:\n  - input 3x8x8\n  - let: {a: \"" + "(" * 500 + "1" + ")" * 500 + "\"}\n",
    "yaml long sum": "network: n\nbody:\n  - input 3x8x8\n  - let: {a: \"" + "1+" * 3000 + "1\"}\n",
}


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_deep_nesting(text: str) -> None:
    analyse_text(text, "<fuzz>.yaml" if text.startswith("network:") else "<fuzz>", seconds=30)


HUGE = [
    "conv 99999999999 3x3", "conv 3 99999999999x3", "conv 3 3x3 stride=99999999999", "conv 3 3x3 dilation=99999999999",
    "conv 3 3x3 pad=99999999999", "conv 3 3x3 groups=99999999999", "conv 3 3x3 dilation=4611686018427387903 pad=same",
    "conv 3000000000 1x1", "dense 99999999999", "flatten; dense 4611686018427387904", "repeat 10**9:\n        relu",
    "repeat 2**62:\n        relu", "repeat -1:\n        relu", "repeat 1e400:\n        relu", "maxpool 99999999999",
    "maxpool 2 stride=0", "avgpool 0", "upsample 99999999999", "upsample 0", "zeropad 4611686018427387903",
    "zeropad -1", "crop 4", "crop -1", "crop size=99x99", "upconv 3 3x3 stride=4611686018427387903",
    "upconv 3 3x3 pad=99", "upconv 3 1000000x1000000 pad=499999", "adaptiveavgpool 0", "adaptiveavgpool 99999999",
    "input 99999x99999x99999", "input 0x3x3", "input -3", "input 1x1x1x1x1x1", "conv 0 3x3", "conv -5 3x3",
    "conv 3 0x0", "conv 3 -1x3", "dense 0", "dense -1", "lrn 0", "dropout 1", "dropout -0.5", "dropout 1e400",
    "bn eps=1e400", "softmax axis=99999999999", "let a = 10**99", "let a = 2**62 + 2**62", "let a = 9" * 1 + "9" * 5000,
    "let a = 1e308 * 10", "let a = int(1e300)", "let a = round(1e300)", "let a = ceil(-1e300)", "let a = 1 // 0",
    "let a = 1.5 % 0", "let a = 0 ** -1", "let a = (-8) ** 0.5", "let a = 2 ** 0.5 ** 99999", "let a = (1,) * 10**9",
    "let a = sum(range(100000)) ** 5", "let a = len(range(2**62))", "conv 3 3x3 table=((0, 99999999999),)",
    "output weight=1e400", "output name=\"x\\ny\"", "concat _ _ axis=99999999999",
]


@pytest.mark.parametrize("stmt", HUGE)
def test_huge_zero_and_negative_numbers(stmt: str) -> None:
    analyse_text(NET + "    " + stmt + "\n", "<fuzz>", seconds=30)


def test_limits_are_diagnostics_at_their_real_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real limits, not the fuzz's
    e = _err(NET + f"    repeat {build.MAX_REPEAT + 1}:\n        relu\n", "E600")
    assert e.diagnostic.span is not None and e.diagnostic.span.line == 3
    e = _err(NET + "    repeat 1000:\n        repeat 1000:\n            relu\n", "E600")
    assert "layers" in e.diagnostic.message


ENCODED = {
    "empty": b"",
    "newlines only": b"\n\n\n",
    "utf-8 with a BOM": "\ufeffnetwork n:\n    input 3x8x8\n".encode(),
    "latin-1": "# r\xe9seau\nnetwork n:\n    input 3x8x8\n".encode("latin-1"),
    "utf-16": "network n:\n    input 3x8x8\n".encode("utf-16"),
    "utf-32": "network n:\n    input 3x8x8\n".encode("utf-32"),
    "crlf": b"network n:\r\n    input 3x8x8\r\n    relu\r\n",
    "cr only": b"network n:\r    input 3x8x8\r",
    "nul byte": b"network n:\n    input 3x8x8\x00\n",
    "png header": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "elf header": b"\x7fELF\x02\x01\x01" + bytes(200),
    "gzip": b"\x1f\x8b\x08\x00" + bytes(range(100)),
    "long comment line": b"network n:\n    input 3x8x8  # " + b"x" * 2_000_000 + b"\n",
    "long line of layers": b"network n:\n    input 3x8x8; " + b"relu; " * 3_000 + b"\n",
    "long name": b"network n:\n    input 3x8x8\n    " + b"a" * 100_000 + b" = relu\n",
    "long string": b"network n:\n    input 3x8x8\n    let a = \"" + b"s" * 1_000_000 + b"\"\n",
    "many lines": b"network n:\n    input 3x8x8\n" + b"    relu\n" * 3_000,
    "yaml latin-1": "network: r\xe9seau\nbody: [input 3x8x8]\n".encode("latin-1"),
    "yaml utf-16": "network: n\nbody: [input 3x8x8]\n".encode("utf-16"),
}


@pytest.mark.parametrize("data", ENCODED.values(), ids=ENCODED.keys())
def test_files_of_any_encoding(tmp_path: Path, data: bytes) -> None:
    for suffix in (".arch", ".yaml"):
        spec = tmp_path / f"spec{suffix}"
        spec.write_bytes(data)
        rc, _out, err = check_cli(["--no-color", "analyze", str(spec), "--format", "json"], seconds=60)
        if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x89PNG", b"\x7fELF", b"\x1f\x8b")) or b"\xe9" in data:
            assert rc == 2 and "E102" in err, err  # not UTF-8 text: said so, with the byte's place


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    check_cli(["analyze", str(tmp_path / "nope.arch")])
    check_cli(["analyze", str(tmp_path)])  # a folder
    spec = tmp_path / "secret.arch"
    spec.write_text(NET)
    spec.chmod(0)
    try:
        if not os.access(spec, os.R_OK):  # root reads everything
            rc, _, err = check_cli(["analyze", str(spec)])
            assert rc == 2 and "E102" in err
    finally:
        spec.chmod(0o644)


# -- memory: the hostile inputs under a hard address-space limit ------------------------------------

def test_hostile_inputs_stay_within_a_memory_limit(tmp_path: Path) -> None:
    """Each hostile input in a process limited to 1 GiB of address space: a blow-up would be a
    MemoryError, reported as an internal error (exit 70)."""
    texts = [NET + "    " + s + "\n" for s in HUGE] + list(DEEP.values())
    for i, t in enumerate(texts):
        (tmp_path / f"s{i}.{'yaml' if t.startswith('network:') else 'arch'}").write_text(t)
    script = textwrap.dedent(f"""
        import io, contextlib, resource, sys, pathlib
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
        from archspec.cli import main
        bad = []
        for p in sorted(pathlib.Path({str(tmp_path)!r}).iterdir()):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                rc = main(["--no-color", "analyze", str(p), "--format", "json"])
            if rc not in (0, 2):
                bad.append((p.name, rc, err.getvalue()[-500:]))
        print(bad)
        sys.exit(1 if bad else 0)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_files_over_the_size_limit(tmp_path: Path) -> None:
    """Parsing runs at tens of KB/s at worst: the limit (1 MiB) bounds the time a spec can take."""
    from archspec.lang.load import MAX_FILE_BYTES

    big = tmp_path / "big.arch"
    big.write_bytes(NET.encode() + b"#" * MAX_FILE_BYTES)
    rc, _, err = check_cli(["--no-color", "analyze", str(big)])
    assert rc == 2 and "error[E600]" in err
    e = _err(NET + "#" * MAX_FILE_BYTES, "E600")
    assert "limit" in e.diagnostic.message


def test_the_parse_cache_is_bounded_by_source_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """An AST weighs some 400 bytes per character of source: the cache of parsed specs keeps at most
    1 MiB of source (a count of entries alone let 256 specs of 1 MiB each hold ~100 GB)."""
    from archspec.lang import load

    assert load._PARSED_CHARS <= 2**20
    monkeypatch.setattr(load, "_PARSED", {})
    monkeypatch.setattr(load, "_PARSED_CHARS", 10_000)  # the same rule, at a size that parses quickly
    for i in range(6):
        archspec.load(f"big{i}.arch", text=NET + "    relu\n" * 600)
    assert sum(len(t) for _, t in load._PARSED) <= 10_000
    assert len(load._PARSED) == 1
    archspec.load("huge.arch", text=NET + "    relu\n" * 2_000)  # bigger than the whole cache: not kept
    assert [n for n, _ in load._PARSED] == ["big5.arch"]


# -- regressions of issues 11 and 18 -------------------------------------------------------------------

def test_use_of_a_very_long_file_name_is_a_diagnostic(tmp_path: Path) -> None:
    # an OSError (File name too long) surfaced as an internal error
    for name in ("a" * 300 + ".arch", "a/" * 2100 + "x.arch"):
        spec = tmp_path / "net.arch"
        spec.write_text(f'use "{name}"\n' + NET)
        rc, _, err = check_cli(["--no-color", "analyze", str(spec)])
        assert rc == 2 and "error[E500]" in err and "net.arch:1:1" in err, err
        assert len(err) < 2_000, err  # the name is cut, not printed whole


@pytest.mark.parametrize(("expr", "value"), [
    ("round(10**18, -10**9)", 0),  # computed 10**(10**9): minutes
    ("round(1, -10**9)", 0),
    ("round(-2**62, -10**18)", 0),
    ("round(1e308, -10**18)", 0),
    ("round(1234, -2)", 1200),
    ("round(1.5, 10**18)", 1.5),
    ("sum((2**50,) * 99999)", "E600"),  # (bounded: stops adding once past the bound)
    ("sum(((1,),) * 50000, (1,))", "E206"),  # sum concatenated tuples, in quadratic time
    ("sum((1, 2.5), 0.5)", 4.0),
    ("(-8) ** 0.5", "E206"),  # a complex number went through
    ("int(\"" + "9" * 4000 + "\")", "E600"),
    ("int(\"" + "9" * 5000 + "\")", "E206"),
    ("float(\"" + "9" * 99000 + "\")", "E206"),
    ("float(\"nan\")", "E206"),
    ("int(1e308)", "E600"),
    ("floor(-1e308)", "E600"),
    ("make_divisible(1e308, 1e-308)", "E206"),
    ("make_divisible(5, 1e308)", "E600"),
    ("len(range(-2**62, 2**62, 2**61))", 4),
    ("max(range(100000))", 99999),
])
def test_every_builtin_is_bounded(expr: str, value: object) -> None:
    out = analyse_text(NET + f"    let a = {expr}\n    output weight=1\n", "<fuzz>", seconds=10)
    if isinstance(value, str):
        assert isinstance(out, SpecError) and out.diagnostic.code == value, out
        assert out.diagnostic.span is not None and out.diagnostic.span.line == 3
    else:
        assert isinstance(out, archspec.Analysis), out
        from archspec.lang.expr import Evaluator
        from archspec.lang.parser import parse_expr

        with budget(10):
            assert Evaluator({})(parse_expr(expr)) == value


def test_set_of_round_with_a_huge_precision_is_fast() -> None:
    rc, out, err = check_cli(["analyze", "vgg16", "--set", "classes=7 + round(1, -10**9)", "--format", "json"],
                             seconds=30)
    assert rc == 0 and json.loads(out)["outputs"] == {"out": [7]}, err


@pytest.mark.parametrize("sep", ["\r", "\u2028", "\x85", "\x0c", "\x0b", "\x1c"])
def test_the_quoted_line_is_the_line_of_the_position(sep: str) -> None:
    # str.splitlines breaks lines at more characters than the lexer: the quoted line was another one
    text = NET + f"    relu  # a comment{sep}with a separator\n    conv 8 3x3 pad=\n"
    e = _err(text, "E100")
    assert (e.diagnostic.span.line, e.diagnostic.span.column) == (4, 20), e
    assert " 4 |     conv 8 3x3 pad=" in str(e), str(e)


def test_the_quoted_line_of_a_yaml_spec_breaks_lines_as_yaml_does() -> None:
    text = "network: n\rbody:\u2028  - input 3x8x8\n  - conv 8 3x3 pad=\n"
    e = _err(text, "E100")
    assert e.diagnostic.span.line == 4 and " 4 |   - conv 8 3x3 pad=" in str(e), str(e)


def test_a_spec_path_with_a_newline_is_a_path(tmp_path: Path) -> None:
    # the command line took any argument with a newline for spec text: `<string>:1:1 unexpected 'sp'`
    spec = tmp_path / "sp\nec.arch"
    spec.write_text(NET + "    conv 8 1x1\n")
    rc, out, err = check_cli(["analyze", str(spec), "--format", "json"])
    assert rc == 0 and '"params": 32' in out, err
    rc, _, err = check_cli(["--no-color", "analyze", str(tmp_path / "no\nsuch.arch")])
    assert rc == 2 and "error[E500]" in err and "<string>" not in err and "no\\nsuch.arch" in err, err


def test_a_huge_unknown_name_is_cut_in_the_diagnostic() -> None:
    for call in (lambda: archspec.analyze("x" * 500_000),
                 lambda: archspec.analyze("vgg16", **{"d" * 500_000: 1}),
                 lambda: archspec.analyze(NET + "    " + "q" * 500_000 + " 3\n")):
        with pytest.raises(SpecError) as e:
            call()
        shown = str(e.value)
        assert len(shown) < 3_000 and "characters)" in shown, shown[:300]


def test_the_valid_names_are_listed_in_the_same_order_on_every_run(tmp_path: Path) -> None:
    # they came from a set: `--set depht=50` listed them in a different order on every run
    spec = tmp_path / "net.arch"
    spec.write_text("network n(width = 1, depth = 2, classes = 3, alpha = 4, groups = 5):\n    input 3x8x8\n")
    outs = set()
    for seed in ("0", "1", "2", "3", "4"):
        r = subprocess.run([sys.executable, "-m", "archspec", "--no-color", "analyze", str(spec), "--set", "depht=50"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120)
        assert r.returncode == 2
        outs.add(r.stderr)
    assert len(outs) == 1
    assert "expected: one of `alpha`, `classes`, `depth`, `groups`, `width`" in outs.pop()


def test_a_flat_network_of_many_layers_is_laid_out_as_rich_lays_it_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100,001 relus took minutes in rich's table (a millisecond a row): past FAST_ROWS rows, one pass
    from archspec.report import table

    a = archspec.analyze(NET + "    repeat 30:\n        relu\n    conv 16 3x3 pad=1\n    flatten\n    frozen:\n        dense 5\n")
    slow = table.plain(a)
    monkeypatch.setattr(table, "FAST_ROWS", 10)
    fast = table.plain(a)
    assert [ln.rstrip() for ln in fast.splitlines()] == [ln.rstrip() for ln in slow.splitlines()]
