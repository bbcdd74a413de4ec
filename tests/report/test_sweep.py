"""`archspec sweep` and `archspec.sweep` (issue 19): grids of parameters and input sizes, budgets, objectives,
the Pareto front, formats, processes, mistakes; and the chart module shared with `compare --plot` (issue 16).

Expected figures come from outside archspec: ../shared/ACCEPTANCE.md (ResNet-18..152, MobileNet v1), the
MobileNet paper's Tables 6 and 7 (Howard et al. 2017), and the receptive fields tabulated by Araujo, Norris
and Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
"""

import csv
import io
import json
import struct
import sys
from pathlib import Path

import pytest

import archspec
from archspec.build.elaborate import BuildCache
from archspec.cli import main, split_sweep_args
from archspec.draw.chart import Chart, render
from archspec.pipeline import run_passes
from archspec.report.sweep import pareto_front, parse_axis, sweep

ROOT = Path(__file__).resolve().parents[2]
COMPOUND = str(ROOT / "docs" / "examples" / "mobilenet_compound.arch")

# ACCEPTANCE.md: ResNet-18, -34, -50, -101, -152 (paper's variant)
RESNET = {18: (11_689_512, 1_814_073_344), 34: (21_797_672, 3_663_761_408), 50: (25_557_032, 3_857_973_248),
          101: (44_549_160, 7_570_194_432), 152: (60_192_808, 11_282_415_616)}


def run(capsys, *argv):
    status = main(["--no-color", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def records(capsys, *argv):
    status, out, err = run(capsys, "sweep", *argv, "--format", "json")
    assert status == 0, err
    return json.loads(out), err


# -- the papers' figures appear in the sweep ------------------------------------------------------

def test_resnet_depths_give_the_papers_figures(capsys):
    status, out, _ = run(capsys, "sweep", "resnet", "--set", "depth=18,34,50,101,152")
    assert status == 0
    for params, macs in RESNET.values():
        assert f"{params:,}" in out and f"{macs:,}" in out  # the table
    d, _ = records(capsys, "resnet", "--set", "depth=18,34,50,101,152")
    assert [(r["depth"], r["params"], r["macs"]) for r in d["rows"]] == [(k, *v) for k, v in RESNET.items()]
    assert [r["buffers"] for r in d["rows"]] == [9_600, 17_024, 53_120, 105_344, 151_424]


def test_mobilenet_width_and_resolution_as_in_the_paper(capsys):
    # Howard et al. 2017, Table 6 (width multiplier at 224) and Table 7 (resolution at width 1): million
    # mult-adds and million parameters
    d, _ = records(capsys, "mobilenet_v1", "--set", "alpha=1.0,0.75,0.5,0.25", "--set", "r=224,192,160,128",
                   "--input", "3x{r}x{r}")
    by = {(r["alpha"], r["r"]): r for r in d["rows"]}
    assert len(by) == 16
    for alpha, macs_m, params_m in ((1.0, 569, 4.2), (0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)):
        r = by[(alpha, 224)]
        assert (round(r["macs"] / 1e6), round(r["params"] / 1e6, 1)) == (macs_m, params_m)
    for res, macs_m in ((224, 569), (192, 418), (160, 290), (128, 186)):
        r = by[(1.0, res)]
        assert r["input"] == f"3x{res}x{res}" and r["params"] == 4_231_976
        assert abs(r["macs"] / 1e6 - macs_m) < 1  # the paper's 290 for 160 is 290.7 M here
    assert by[(1.0, 224)]["macs"] == 568_740_352  # ACCEPTANCE.md
    assert by[(0.5, 224)]["params"] == 1_331_592


def test_receptive_fields_and_where_they_cover_the_input(capsys):
    # Araujo et al. 2019 (Distill), Table 1: ResNet-50 483, -101 1027, -152 1507; VGG-16 212; MobileNet v1 315
    d, _ = records(capsys, "resnet", "--set", "depth=50,101,152", "vgg16", "mobilenet_v1")
    assert [r["receptive_field"] for r in d["rows"]] == [483, 1027, 1507, 212, 315]
    # "where does ResNet's receptive field cover the input": ResNet-50's 483 covers 480×480, not 496×496
    d, _ = records(capsys, "resnet", "--set", "depth=50", "--set", "r=464:512:16", "--input", "3x{r}x{r}",
                   "--where", "receptive_field >= input[1]")
    assert [r["r"] for r in d["rows"]] == [464, 480]


def test_compound_example_is_mobilenet_at_one():
    t = sweep(COMPOUND, {"d": 1.0, "w": 1.0})
    (r,) = t.to_records()
    assert (r["params"], r["buffers"], r["macs"]) == (4_231_976, 21_888, 568_740_352)  # ACCEPTANCE.md


# -- the grid ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "values"), [
    ("18,34,50", [18, 34, 50]),
    ("0.5:2:0.25", [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]),
    ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),  # not 0.30000000000000004, and the end is reached
    ("18:21", [18, 19, 20, 21]),
    ("224:128:-32", [224, 192, 160, 128]),
    ("64:100:16", [64, 80, 96]),
    ("paper,torchvision", ["paper", "torchvision"]),
    ("2**3", [8]),
    ("(1, 2),3x3", [(1, 2), (3, 3)]),
])
def test_values(text, values):
    assert parse_axis(f"v={text}").values({}) == values


def test_expressions_over_earlier_axes(capsys):
    d, _ = records(capsys, "mobilenet_v1", "--set", "phi=0:2", "--set", "alpha=0.25 * 2**phi",
                   "--set", "r=128 + 32 * phi", "--input", "3x{r}x{r}")
    assert [(r["phi"], r["alpha"], r["input"]) for r in d["rows"]] == \
        [(0, 0.25, "3x128x128"), (1, 0.5, "3x160x160"), (2, 1.0, "3x192x192")]
    assert d["rows"][1]["params"] == 1_331_592 and d["rows"][0]["params"] == 470_072  # MobileNet 0.5 and 0.25


def test_configurations_that_give_the_same_network_each_get_a_row():
    t = sweep("mobilenet_v1", ["phi=0:1:0.25", "r=round(128 * 1.1**phi / 32) * 32"], input="3x{r}x{r}")
    recs = t.to_records()
    assert [r["r"] for r in recs] == [128, 128, 128, 128, 128]
    assert len({r["macs"] for r in recs}) == 1 and round(recs[0]["macs"] / 1e6) == 186  # the paper's MobileNet-128


def test_cartesian_product_first_axis_slowest():
    t = sweep("mobilenet_v1", {"alpha": [0.5, 1.0], "classes": [10, 100, 1000]})
    assert [(r["alpha"], r["classes"]) for r in t.to_records()] == \
        [(0.5, 10), (0.5, 100), (0.5, 1000), (1.0, 10), (1.0, 100), (1.0, 1000)]
    assert t.configurations == 6 and t.invalid == 0


def test_invalid_configurations_are_counted_not_fatal(capsys):
    status, out, err = run(capsys, "sweep", "resnet", "--set", "depth=18,42,50,43")
    assert status == 0
    assert "11,689,512" in out and "25,557,032" in out
    assert "2 of 4 configurations of resnet are invalid; the first (depth=42):" in err
    assert "error[E206]: 42 is not in" in err and "resnet.arch:19:" in err
    d, _ = records(capsys, "resnet", "--set", "depth=18,42,50,43")
    (spec,) = d["specs"]
    assert (spec["configurations"], spec["valid"], spec["invalid"]) == (4, 2, 2)
    assert spec["first_error"]["configuration"] == {"depth": 42}
    assert spec["first_error"]["diagnostic"]["code"] == "E206"
    assert spec["first_error"]["diagnostic"]["location"]["line"] == 19


def test_every_configuration_invalid_is_the_diagnostic(capsys):
    status, _, err = run(capsys, "sweep", "resnet", "--set", "depth=42,43")
    assert status == 2
    assert err.startswith("error[E206]: 42 is not in")


def test_several_specs_each_its_own_grid(capsys):
    d, _ = records(capsys, "resnet", "--set", "depth=18,34", "mobilenet_v1", "--set", "alpha=0.5,1.0")
    assert [r["spec"] for r in d["rows"]] == ["resnet", "resnet", "mobilenet_v1", "mobilenet_v1"]
    assert [r["depth"] for r in d["rows"]] == [18, 34, None, None]
    assert [r["alpha"] for r in d["rows"]] == [None, None, 0.5, 1.0]
    assert d["rows"][3]["macs"] == 568_740_352
    assert [s["spec"] for s in d["specs"]] == ["resnet", "mobilenet_v1"]


def test_swept_name_that_is_a_figure_keeps_its_column():
    t = sweep("resnet_cifar", {"n": [3, 18]})
    r = t.to_records()
    assert [(x["n"], x["depth"]) for x in r] == [(3, 20), (18, 110)]  # ResNet-20 and -110: 6n + 2 layers
    t = sweep("resnet", {"depth": [18]})
    assert t.to_records()[0]["depth"] == 18 and t.to_records()[0]["depth_figure"] == 18


# -- budgets, objectives, the front ----------------------------------------------------------------

MOBILENET = ["mobilenet_v1", "--set", "alpha=1.0,0.75,0.5,0.25", "--set", "r=224,192,160,128", "--input", "3x{r}x{r}"]


def test_where_keeps_the_budget(capsys):
    d, err = records(capsys, *MOBILENET, "--where", "macs <= 300e6 and alpha >= 0.75")
    assert {(r["alpha"], r["r"]) for r in d["rows"]} == {(1.0, 160), (1.0, 128), (0.75, 192), (0.75, 160),
                                                         (0.75, 128)}
    assert all(r["macs"] <= 300e6 for r in d["rows"])
    assert d["where"] == "macs <= 300e6 and alpha >= 0.75"
    assert "16 configurations analysed" in err and "5 shown" in err


def test_maximize_picks_the_best_and_its_ties(capsys):
    d, _ = records(capsys, *MOBILENET, "--where", "macs <= 300e6", "--maximize", "params")
    assert [(r["alpha"], r["r"]) for r in d["rows"]] == [(1.0, 160), (1.0, 128)]  # 4,231,976 both
    d, _ = records(capsys, *MOBILENET, "--where", "macs <= 300e6", "--maximize", "macs", "--top", "3")
    assert [r["macs"] for r in d["rows"]] == sorted((r["macs"] for r in d["rows"]), reverse=True)
    assert [(r["alpha"], r["r"]) for r in d["rows"]] == [(1.0, 160), (0.75, 192), (1.0, 128)]
    # an expression: the closest to 300 M mult-adds is 1.0 MobileNet-160 (the paper's 290 M; 0.75 at 224: 325 M)
    d, _ = records(capsys, *MOBILENET, "--minimize", "abs(macs - 300e6)")
    assert [(r["alpha"], r["r"]) for r in d["rows"]] == [(1.0, 160)]


def test_two_objectives_give_the_pareto_front(capsys):
    d, _ = records(capsys, *MOBILENET, "--maximize", "params", "--minimize", "macs")
    # at each width the smallest input: the same parameters for the fewest MACs
    assert [(r["alpha"], r["r"]) for r in d["rows"]] == [(1.0, 128), (0.75, 128), (0.5, 128), (0.25, 128)]
    assert d["objectives"] == [{"maximize": "params"}, {"minimize": "macs"}]
    d, _ = records(capsys, *MOBILENET, "--maximize", "params", "--minimize", "macs", "--top", "2")
    assert len(d["rows"]) == 2


def test_pareto_front():
    pts = [(1, 1), (2, 3), (3, 2), (4, 4), (2, 3), (5, 1)]
    assert pareto_front(pts, ["minimize", "maximize"]) == [0, 1, 4, 3]  # (3, 2) and (5, 1) are beaten
    assert pareto_front(pts, ["maximize", "maximize"]) == [5, 3]
    assert pareto_front([], ["minimize"]) == []


def test_budget_search_over_compound_scaling(capsys):
    d, _ = records(capsys, COMPOUND, "--set", "d=1:2:0.5", "--set", "w=0.5:1:0.25", "--set", "r=128:224:32",
                   "--input", "3x{r}x{r}", "--where", "macs <= 400e6 and params <= 5e6",
                   "--maximize", "macs", "--maximize", "params")
    assert d["specs"][0]["configurations"] == 3 * 3 * 4
    assert d["rows"] and all(r["macs"] <= 400e6 and r["params"] <= 5e6 for r in d["rows"])
    front = [(r["macs"], r["params"]) for r in d["rows"]]
    assert front == sorted(front, reverse=True)  # best first by the first objective
    for a in front:  # no row of the front beats another on both objectives
        assert not any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in front)


# -- formats and the Python API ----------------------------------------------------------------------

def test_csv(capsys):
    status, out, _ = run(capsys, "sweep", "resnet", "--set", "depth=18,50", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert [(r["depth"], r["params"], r["macs"], r["receptive_field"]) for r in rows] == \
        [("18", "11689512", "1814073344", "435"), ("50", "25557032", "3857973248", "483")]
    assert list(rows[0])[:4] == ["spec", "depth", "input", "output"]


def test_markdown_and_output_file(capsys, tmp_path):
    path = tmp_path / "sweep.md"
    status, out, _ = run(capsys, "sweep", "resnet", "--set", "depth=18,34", "--format", "markdown", "-o", str(path))
    assert status == 0 and out == ""
    text = path.read_text()
    assert "| depth | Params | MACs |" in text and "| 18 | 11,689,512 | 1,814,073,344 |" in text


def test_to_records_is_plain_python():
    t = archspec.sweep("resnet", {"depth": range(18, 35, 16)}, convention="torchinfo")
    recs = t.to_records()
    assert isinstance(recs, list) and all(type(r) is dict for r in recs)
    assert [r["depth"] for r in recs] == [18, 34]
    assert recs[0]["macs"] == 1_814_083_944  # torchinfo's 1.814084 G (ACCEPTANCE.md)
    json.dumps(recs)  # nothing a DataFrame (or JSON) cannot take
    assert "pandas" not in sys.modules


def test_api_where_best_and_progress():
    seen = []
    t = archspec.sweep("mobilenet_v1", {"alpha": "0.25:1:0.25"}, where="macs < 400e6", maximize="params",
                       progress=lambda done, total: seen.append((done, total)))
    assert [r["alpha"] for r in t] == [0.75]
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert len(t.base) == 4 and t.base.where("alpha > 0.5").to_records()[0]["alpha"] == 0.75


def test_jobs_give_the_same_rows(capsys):
    argv = ["resnet", "--set", "depth=18,34,42,50", "--set", "r=64:160:32", "--input", "3x{r}x{r}",
            "mobilenet_v1", "--set", "alpha=0.25:1:0.25"]
    _, one, _ = run(capsys, "sweep", *argv, "--format", "json")
    status, two, _ = run(capsys, "sweep", *argv, "--format", "json", "--jobs", "2")
    assert status == 0 and one == two
    assert json.loads(one)["specs"][0]["invalid"] == 4


def test_long_tables_are_cut_with_a_note(capsys):
    status, out, err = run(capsys, "sweep", "mnist_mlp", "--set", "hidden=1:600")
    assert status == 0
    assert "the table shows the first 500 of 600 rows" in err
    assert sum(1 for line in out.splitlines() if line.startswith("│")) == 500
    d, _ = records(capsys, "mnist_mlp", "--set", "hidden=1:600")
    assert d["count"] == 600 and d["rows"][511]["params"] == 669_706  # hidden=512: ACCEPTANCE.md


# -- mistakes: one diagnostic each, exit status 2 --------------------------------------------------

@pytest.mark.parametrize(("argv", "code", "where"), [
    (["resnet", "--set", "depth=18,34", "--where", "mac <= 4e9"], "E205", "--where:1:1"),
    (["resnet", "--set", "depth=18,34", "--where", "params < 1e7 and mac <= 4e9"], "E205", "--where:1:18"),
    (["resnet", "--set", "depth=18,34", "--where", "macs <= "], "E100", "--where:1:9"),
    (["resnet", "--set", "depth=18,34", "--where", "macs <= 4e9 +* 2"], "E100", "--where:1:14"),
    (["resnet", "--set", "depth=18,,34"], "E206", "--set depth:1:4"),
    (["resnet", "--set", "depth=18:50:0"], "E202", "--set depth:1:7"),
    (["resnet", "--set", "depth=50:18:2"], "E202", "--set depth:1:7"),
    (["resnet", "--set", "depth=1:10000000"], "E600", "--set depth:1:1"),
    (["resnet", "--set", "depth=a:b"], "E206", "--set depth:1:1"),
    (["resnet", "--set", "depth=foo(1)"], "E205", "--set depth:1:1"),
    (["resnet", "--set", "dept=18,34"], "E207", None),
    (["resnet", "--set", "depth=18", "--set", "depth=34"], "E208", None),
    (["resnet", "--set", "w=1.2**phi", "--set", "phi=0:3"], "E205", None),
    (["resnet", "--set", "r=64,128", "--input", "3x{r}x{s}"], "E205", "--input:1:1"),
    (["resnet", "--set", "r=64,128", "--input", "3x{64,128}x{r}"], "E206", "--input:1:3"),
    (["resnet", "--set", "r=64,128.5", "--input", "3x{r}x{r}"], "E202", "--input:1:3"),
    (["resnet", "--set", "r=64", "--input", "3xfoo"], "E202", "--input:1:3"),
    (["resnet", "--set", "depth=18,34", "--maximize", "variant"], "E205", "--maximize:1:1"),
    (["resnet", "--set", "variant=paper,torchvision", "--maximize", "variant"], "E206", "--maximize:1:1"),
    (["resnet", "--set", "depth=18", "--top", "0"], "E202", None),
    (["resnet", "--set", "depth=18", "--jobs", "0"], "E202", None),
    (["resnet", "--set", "depth=18", "--plot", "c.gif"], "E202", None),
    (["resnet", "--set", "depth=18", "--plot", "c.png", "--x", "mac"], "E205", None),
    (["resnet", "--set", "depth=18", "--plot", "c.png", "--y", "output"], "E202", None),
    (["resnet", "--set", "input=1,2"], "E207", None),
])
def test_mistakes(capsys, tmp_path, monkeypatch, argv, code, where):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "sweep", *argv)
    assert out == ""
    assert status == 2, err
    assert err.startswith(f"error[{code}]"), err
    assert err.count("error[") == 1 and "Traceback" not in err
    if where:
        assert f"--> {where}\n" in err, err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_caret_points_into_the_option(capsys):
    _, _, err = run(capsys, "sweep", "resnet", "--set", "depth=18,34", "--where", "params < 1e7 and mac <= 4e9")
    assert " 1 | params < 1e7 and mac <= 4e9\n" in err
    assert "   |                  ^^^\n" in err
    assert "did you mean `macs`?" in err


def test_options_before_and_after_specs():
    specs, rest = split_sweep_args(["resnet", "--set", "depth=18,34", "--minimize", "-params", "mobilenet_v1",
                                    "--input=3x{r}x{r}", "--set=r=128", "-j", "2", "--where", "macs < 1e9"])
    assert specs == [("resnet", ["depth=18,34"], []), ("mobilenet_v1", ["r=128"], ["3x{r}x{r}"])]
    assert rest == ["--minimize=-params", "-j2", "--where=macs < 1e9"]


# -- the layer caches a sweep shares between configurations ------------------------------------------

def test_shared_cache_gives_the_same_figures_as_fresh_analyses():
    """Interned arguments and shapes are pure functions of their keys: a cache warmed by other depths and
    input sizes (whose argument objects come and go) must not change any figure."""
    spec = archspec.load("resnet")
    cache = BuildCache()

    def figures(depth, size):  # as a sweep keeps them: the graph is gone when the next one is built
        g = spec.graph({"depth": depth}, f"3x{size}x{size}" if size else None, cache)
        a = archspec.report.analysis.Analysis(run_passes(g, cache=cache))
        return a.totals, [r.output_shape for r in a.rows]

    for depth, size in [(18, 64), (50, 96), (18, 128), (152, 64), (50, 224), (34, 160), (50, 96), (18, 224),
                        (18, 32), (18, 48), (18, 64), (18, 80)]:
        fresh = archspec.analyze("resnet", depth=depth, input=f"3x{size}x{size}")
        assert figures(depth, size) == (fresh.totals, [r.output_shape for r in fresh.rows])
    assert figures(18, None)[0].macs == RESNET[18][1]
    # the invariant that makes this safe: every arguments object whose id keys a shape lives in the cache
    # (an input override's arguments included), so that no id is reused by other arguments
    alive = {id(a) for a in cache.args.values()}
    assert {key[1] for key in cache.shapes} <= alive


def test_block_templates_shared_between_configurations_follow_what_the_blocks_read(tmp_path):
    """A sweep copies a block call built in an earlier configuration when nothing it reads changed. `inner`
    reads the network's `width` (which `outer`'s parameter of the same name does not change for it), `tail`
    a network-level `let`: each configuration must still have its own figures. Parameters by hand:
    see the comment."""
    spec = tmp_path / "t.arch"
    spec.write_text(
        "block inner:\n    conv width 3x3\n\n"
        "block outer(width):\n    conv width 1x1\n    inner\n\n"
        "block tail:\n    conv k 1x1\n\n"
        "network t(width=4, m=1):\n    input 2x8x8\n    outer(8)\n    let k = 3 * m\n    tail\n")
    rows = archspec.sweep(str(spec), {"width": [4, 8, 4], "m": [1, 2]}).to_records()
    # outer: conv 2→8 1×1 = 24; inner: conv 8→w 3×3 = 73w; tail: conv w→3m 1×1 = (w + 1)·3m
    expect = [24 + 73 * w + (w + 1) * 3 * m for w in (4, 8, 4) for m in (1, 2)]
    assert [r["params"] for r in rows] == expect == [331, 346, 635, 662, 331, 346]


# -- the chart (compare --plot and sweep --plot) -------------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf"])
def test_sweep_plot_in_every_format(capsys, tmp_path, suffix):
    path = tmp_path / f"chart.{suffix}"
    status, _, err = run(capsys, "sweep", *MOBILENET, "--where", "macs <= 300e6", "--plot", str(path))
    assert status == 0 and f"wrote {path}" in err
    data = path.read_bytes()
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}[suffix]
    assert data.startswith(magic)


def test_plot_dpi_sets_the_png_size(capsys, tmp_path):
    path = tmp_path / "c.png"
    status, _, _ = run(capsys, "compare", "vgg16", "resnet", "--plot", str(path), "--dpi", "100")
    assert status == 0
    assert _png_size(path.read_bytes()) == (900, 600)  # 9 × 6 inches at 100 dots an inch
    status, _, _ = run(capsys, "compare", "vgg16", "resnet", "--plot", str(path))
    assert _png_size(path.read_bytes()) == (1350, 900)  # the default, 150 dpi


def test_sweep_chart_says_what_is_plotted():
    t = sweep("mobilenet_v1", ["alpha=1.0,0.75,0.5,0.25", "r=224,192,160,128"], input="3x{r}x{r}",
              convention="torchinfo", where="macs <= 300e6", maximize="params")
    c = t.chart()
    assert c.title == "Parameters against MACs"
    assert c.subtitle == "mobilenet_v1: 16 configurations, 13 within --where"
    assert c.x_title == "MACs per sample, as torchinfo counts them" and c.y_title == "Parameters"
    assert c.colour_key == "alpha" and sorted(set(c.colour or [])) == [0.25, 0.5, 0.75, 1.0]
    assert sum(c.muted or []) == 3  # outside the budget: drawn grey
    assert [c.labels[i] for i in c.highlight] == ["r=160", "r=128"]  # the best, ringed
    assert c.highlight_title == "best: maximize params"
    c = t.chart(x="r", y="macs", colour="alpha")
    assert c.x_title == "r" and c.highlight  # the objectives' picks, whatever the axes


def test_compare_chart_marks_the_front(capsys):
    from archspec.report.compare import compare

    c = compare([("vgg16", {}), ("resnet", {"depth": 18}), ("mobilenet_v1", {}), ("squeezenet", {})],
                convention="torchinfo", batch=2).chart()
    assert c.labels == ["vgg16", "resnet depth=18", "mobilenet_v1", "squeezenet"]
    assert c.x[1] == 2 * 1_814_083_944  # torchinfo's ResNet-18 (ACCEPTANCE.md: 1.814084 G), batch 2
    assert c.y[:2] == [138_357_544, 11_689_512]
    assert c.title == "Parameters against MACs (batch 2)"
    assert c.subtitle == "4 networks, MACs as torchinfo counts them"
    assert c.x_title == "MACs per batch of 2, as torchinfo counts them"
    # fewest MACs for most parameters: SqueezeNet is beaten by MobileNet (fewer MACs, more parameters)
    assert [c.labels[i] for i in c.highlight] == ["mobilenet_v1", "resnet depth=18", "vgg16"]


def test_compare_plot_other_columns(capsys, tmp_path):
    path = tmp_path / "c.svg"
    status, _, _ = run(capsys, "compare", "vgg16", "alexnet", "--plot", str(path), "--x", "memory",
                       "--y", "receptive_field", "--color", "depth")
    assert status == 0 and path.read_bytes().startswith(b"<?xml")
    status, _, err = run(capsys, "compare", "vgg16", "--plot", str(path), "--x", "mac")
    assert status == 2 and "did you mean `macs`?" in err


def test_chart_render_is_the_same_drawing_in_each_format():
    c = Chart(x=[1.8e9, 3.6e9, 11.3e9], y=[11.7e6, 21.8e6, 60.2e6], labels=["a", "b", "c"], highlight=[0, 2],
              colour=["x", "y", "x"], colour_key="spec")
    svg, png, pdf = render(c, "svg"), render(c, "png", dpi=72), render(c, "pdf")
    assert b'<g id="xtick_1">' in svg and b'<g id="legend_1">' in svg  # ticks and legends, drawn
    assert b'id="line2d_' in svg  # the gridlines and the front's line
    assert _png_size(png) == (648, 432) and pdf.startswith(b"%PDF")
    assert render(c, "svg") == svg  # deterministic: no date, fixed ids
    with pytest.raises(ValueError):
        Chart(x=[1.0], y=[], labels=["a"])


def test_missing_matplotlib_is_one_diagnostic(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    path = tmp_path / "c.png"
    status, out, err = run(capsys, "compare", "vgg16", "--plot", str(path))
    assert status == 2 and out == ""
    assert err.strip() == "error[E209]: --plot needs matplotlib, which is not installed: pip install 'archspec[plot]'"
    assert not path.exists()
    status, _, err = run(capsys, "sweep", "resnet", "--set", "depth=18,34", "--plot", str(path))
    assert status == 2 and "pip install 'archspec[plot]'" in err
