"""`archspec compare` and `archspec zoo`: every format, `--set` per spec, the chart, the mistakes."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

import archspec
from archspec.cli import main, split_compare_args
from archspec.report.compare import compare, description, shipped_specs


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_set_applies_to_the_spec_before_it():
    specs, rest = split_compare_args(["vgg16", "resnet", "--set", "depth=50", "--set=variant=torchvision",
                                      "googlenet", "--format", "json", "--input", "3x256x256"])
    assert specs == [("vgg16", [], []), ("resnet", ["depth=50", "variant=torchvision"], []),
                     ("googlenet", [], ["3x256x256"])]
    assert rest == ["--format", "json"]


def test_table(capsys):
    status, out, _ = run(capsys, "compare", "vgg16", "resnet", "--set", "depth=50", "googlenet", "--set", "aux=false")
    assert status == 0
    for text in ("vgg16", "resnet depth=50", "googlenet aux=false", "138,357,544", "15,470,264,320",
                 "25,557,032", "3,857,973,248", "6,998,552", "1,582,671,872", "Receptive field"):
        assert text in out


def test_json_has_every_total(capsys):
    status, out, _ = run(capsys, "compare", "--format", "json", "resnet", "--set", "depth=18",
                         "resnet", "--set", "depth=50", "--set", "variant=torchvision")
    d = json.loads(out)
    assert status == 0 and d["format"] == "archspec-compare"
    r18, r50 = d["models"]
    assert (r18["params"], r18["buffers"], r18["macs"], r18["depth"]) == (11_689_512, 9_600, 1_814_073_344, 18)
    assert (r50["params"], r50["macs"], r50["depth"]) == (25_557_032, 4_089_184_256, 50)
    assert r50["params_set"] == {"depth": 50, "variant": "torchvision"}
    assert r50["description"].startswith("ResNet-18, -34, -50, -101 and -152")
    assert r18["param_bytes"] == (11_689_512 + 9_600) * 4
    assert r18["receptive_field"] and r18["outputs"] == {"out": [1000]}
    for key in ("trainable_params", "non_trainable_params", "flops", "activations", "activation_bytes", "layers"):
        assert key in r18


def test_csv_and_markdown(capsys):
    status, out, _ = run(capsys, "compare", "mobilenet_v1", "--set", "alpha=0.5", "squeezenet", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert [r["model"] for r in rows] == ["mobilenet_v1 alpha=0.5", "squeezenet"]
    assert rows[0]["params"] == "1331592" and rows[1]["params"] == "1248424"
    status, out, _ = run(capsys, "compare", "densenet", "--set", "depth=201", "unet", "--format", "markdown")
    assert status == 0
    assert "| densenet depth=201 | 20,013,928 | 4,291,365,888 |" in out
    assert "2×388×388" in out


def test_input_and_convention(capsys):
    status, out, _ = run(capsys, "compare", "resnet", "--set", "depth=18", "--convention", "torchinfo",
                         "--format", "json", "vnet", "--input", "1x64x64x32")
    d = json.loads(out)
    assert status == 0 and d["convention"] == "torchinfo"
    assert d["models"][0]["macs"] == 1_814_083_944
    assert d["models"][1]["outputs"] == {"out": [2, 64, 64, 32]}


def test_plot_svg(capsys, tmp_path):
    path = tmp_path / "chart.svg"
    status, _, err = run(capsys, "compare", "vgg16", "resnet", "--set", "depth=152", "mobilenet_v1", "--plot", str(path))
    assert status == 0 and f"wrote {path}" in err
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    c = compare([("vgg16", {}), ("resnet", {"depth": 152}), ("mobilenet_v1", {})]).chart()
    assert c.labels == ["vgg16", "resnet depth=152", "mobilenet_v1"]
    assert (c.x[1], c.y[1]) == (11_282_415_616, 60_192_808)


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_plot_png_and_pdf(capsys, tmp_path, suffix):
    path = tmp_path / f"chart.{suffix}"
    status, _, _ = run(capsys, "compare", "alexnet", "zfnet", "--plot", str(path))
    assert status == 0
    assert path.read_bytes()[:4] == {"png": b"\x89PNG", "pdf": b"%PDF"}[suffix]


def test_chart_axes_are_log_scaled_where_the_range_is_wide():
    from archspec.draw.chart import _wide

    c = compare([("vgg16", {}), ("lenet5", {})]).chart()
    assert c.x == [15_470_264_320, 416_520] and c.y == [138_357_544, 61_706]
    assert _wide(c.x) and _wide(c.y)  # 5 and 3 decades: log axes
    assert not _wide([25_557_032, 44_549_160])


def test_mistakes(capsys, tmp_path):
    status, _, err = run(capsys, "compare", "resnet", "--set", "depth=42")
    assert status == 2 and "E206" in err
    status, _, err = run(capsys, "compare", "resnet", "--plot", str(tmp_path / "chart.gif"))
    assert status == 2 and ".svg, .png or .pdf" in err
    status, _, err = run(capsys, "compare")
    assert status == 2 and "at least one spec" in err
    status, _, err = run(capsys, "compare", "vgg16", "--set", "nope=1")
    assert status == 2 and "E207" in err


def test_output_file(capsys, tmp_path):
    path = tmp_path / "cmp.md"
    status, out, _ = run(capsys, "compare", "lenet5", "mnist_mlp", "--format", "markdown", "-o", str(path))
    assert status == 0 and out == ""
    assert "| lenet5 | 61,706 | 416,520 |" in path.read_text()


def test_zoo_lists_every_shipped_spec(capsys):
    status, out, _ = run(capsys, "zoo", "--format", "json")
    d = json.loads(out)
    assert status == 0
    names = [m["model"] for m in d["models"]]
    assert names == sorted(p.stem for p in shipped_specs())
    by = {m["model"]: m for m in d["models"]}
    assert (by["googlenet"]["params"], by["googlenet"]["macs"]) == (13_378_280, 1_591_044_096)
    assert (by["resnet"]["params"], by["resnet"]["macs"]) == (25_557_032, 3_857_973_248)
    assert by["vgg16"]["description"] == "VGG-16 (Simonyan & Zisserman 2015, configuration D)"
    assert by["googlenet"]["description"] == "GoogLeNet (Szegedy et al. 2015), the paper's Table 1"
    assert all(m["description"] for m in d["models"])


def test_zoo_table_and_markdown(capsys):
    status, out, _ = run(capsys, "zoo")
    assert status == 0
    assert "densenet" in out and "7,978,856" in out and "Description" in out
    status, out, _ = run(capsys, "zoo", "--format", "markdown")
    assert "| xception | Xception (Chollet 2017, Fig. 5) as Keras' `Xception(include_top=True)` builds it | " \
           "22,855,952 | 8,357,403,496 |" in out


def test_description_is_the_header_clause(tmp_path):
    p = tmp_path / "net.arch"
    p.write_text('# U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks", Fig. 1): a tile; more.\n'
                 "# Second line.\nnetwork net:\n    input 3\n")
    assert description(p) == 'U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks", Fig. 1)'
    q = tmp_path / "bare.arch"
    q.write_text("network net:\n    input 3\n")
    assert description(q) == ""


def test_weight_layer_depth():
    # the papers' depths: batch norm and activations are not layers
    depths = {("resnet", 18): 18, ("resnet", 50): 50, ("resnet", 152): 152, ("densenet", 121): 121,
              ("densenet", 201): 201}
    for (spec, d), want in depths.items():
        assert archspec.analyze(spec, depth=d).totals.depth == want
    assert archspec.analyze("googlenet").totals.depth == 22
    assert archspec.analyze("mobilenet_v1").totals.depth == 28
    assert archspec.analyze("vgg16").totals.depth == 16


def _doc_rows(title):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "zoo.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("| `")]
    return [[c.strip() for c in row] for row in rows]


def _num(cell):
    return int(cell.replace(",", "")) if cell else None


def test_docs_zoo_table_is_current():
    from archspec.report.compare import zoo

    c, failed = zoo()
    assert not failed
    figures = {e.label: (e.analysis.totals.params, e.analysis.totals.macs) for e in c.entries}
    rows = {row[0].strip("`"): (_num(row[3]), _num(row[4])) for row in _doc_rows("Default parameters")}
    assert rows == figures


def test_docs_zoo_families_are_current():
    from archspec.cli import parse_sets

    for row in _doc_rows("Families: one spec, several networks"):
        spec, *sets = row[0].strip("`").split(" --set ")
        a = archspec.analyze(spec, params=parse_sets(sets))
        params, buffers, macs = (_num(x) for x in row[1:4])
        assert a.totals.params == params, row
        assert a.totals.buffers == (buffers or 0), row
        if macs is not None:
            assert a.totals.macs == macs, row


def test_specs_by_path(capsys, specs_dir):
    status, out, _ = run(capsys, "compare", str(specs_dir / "vgg16.arch"), str(specs_dir / "resnet.arch"),
                         "--set", "depth=50", str(specs_dir / "googlenet.arch"), "--format", "markdown")
    assert status == 0
    assert "| resnet depth=50 | 25,557,032 | 3,857,973,248 |" in out
    assert "| googlenet | 13,378,280 | 1,591,044,096 |" in out
    assert "1000, 1000, 1000" in out  # GoogLeNet's three outputs
