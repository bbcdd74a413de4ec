"""The command line: formats, options, exit statuses, `python -m archspec`."""

import csv
import io
import json
import subprocess
import sys

import pytest

from archspec.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_table(capsys):
    status, out, _ = run(capsys, "analyze", "vgg16")
    assert status == 0
    assert "138,357,544" in out and "15,470,264,320" in out
    assert "stage(64, 2)" in out


def test_json(capsys):
    status, out, _ = run(capsys, "analyze", "lenet5", "--format", "json")
    d = json.loads(out)
    assert status == 0
    for key in ("params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops", "activations"):
        assert key in d["totals"]
    assert d["totals"]["params"] == 61_706
    first = d["layers"][1]
    for key in ("name", "kind", "output_shape", "params", "macs"):
        assert key in first
    assert first["output_shape"] == [6, 28, 28]


def test_csv_and_markdown(capsys):
    _, out, _ = run(capsys, "analyze", "lenet5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[1]["name"] == "conv1" and rows[1]["params"] == "156" and rows[1]["output_shape"] == "6x28x28"
    _, out, _ = run(capsys, "analyze", "lenet5", "--format", "markdown")
    assert out.startswith("### lenet5") and "| conv1 |" in out


def test_set_input_batch(capsys):
    _, out, _ = run(capsys, "analyze", "vgg16", "--set", "depth=19", "--format", "json")
    assert json.loads(out)["totals"]["params"] == 143_667_240
    _, out, _ = run(capsys, "analyze", "mnist_cnn", "--input", "1x32x32", "--batch", "4", "--format", "json")
    d = json.loads(out)
    assert d["inputs"]["input"] == [1, 32, 32]
    assert d["batch"] == 4
    single = json.loads(run(capsys, "analyze", "mnist_cnn", "--input", "1x32x32", "--format", "json")[1])
    assert d["totals"]["macs"] == 4 * single["totals"]["macs"]
    assert d["totals"]["params"] == single["totals"]["params"]


def test_depth_collapses_blocks(capsys):
    _, out, _ = run(capsys, "analyze", "vgg16", "--depth", "0")
    assert "3 layers" in out and "conv2" not in out


def test_conventions(capsys):
    for conv, macs in [("torchinfo", 15_483_821_032), ("fvcore", 15_470_264_320)]:
        _, out, _ = run(capsys, "analyze", "vgg16", "--convention", conv, "--format", "json")
        assert json.loads(out)["totals"]["macs"] == macs


def test_output_file_is_written_whole(capsys, tmp_path):
    target = tmp_path / "out" / "vgg.json"
    status, out, _ = run(capsys, "analyze", "vgg16", "--format", "json", "-o", str(target))
    assert status == 0 and out == ""
    assert json.loads(target.read_text())["network"] == "vgg16"


def test_shape_error_prints_partial_table_then_diagnostic(capsys, tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text("network bad:\n    input 3x32x32\n    conv 8 3x3\n    dense 10\n")
    status, out, err = run(capsys, "analyze", str(spec))
    assert status == 2
    assert "conv1" in out  # the layers before the mistake
    assert "error[E300]" in err and "bad.arch:4:5" in err and "Traceback" not in err


def test_unknown_spec_and_bad_options(capsys, tmp_path):
    status, _, err = run(capsys, "analyze", "no_such_spec")
    assert status == 2 and "E500" in err
    status, _, err = run(capsys, "analyze", "vgg16", "--set", "depht=19")
    assert status == 2 and "did you mean `depth`" in err
    status, _, err = run(capsys, "analyze", "vgg16", "--input", "3xbad")
    assert status == 2 and "E202" in err and "3xbad" in err


def test_debug_shows_traceback(tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text("network bad:\n    input 3x32x32\n    dense 10\n")
    from archspec.diagnostics import SpecError

    with pytest.raises(SpecError):
        main(["--debug", "analyze", str(spec)])


def test_layers_command(capsys):
    status, out, _ = run(capsys, "layers")
    assert status == 0 and "conv" in out and "maxpool" in out
    status, out, _ = run(capsys, "layers", "conv")
    assert "filters" in out and "C_out" in out


def test_python_dash_m():
    p = subprocess.run([sys.executable, "-m", "archspec", "analyze", "lenet5", "--format", "json"],
                       capture_output=True, text=True, check=True)
    assert json.loads(p.stdout)["totals"]["params"] == 61_706


def test_analysis_never_imports_torch():
    code = ("import sys, archspec; archspec.analyze('vgg16').to_json(); str(archspec.analyze('lenet5'));"
            "assert 'torch' not in sys.modules, 'analysis imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_names_with_markup_characters(capsys, tmp_path):
    spec = tmp_path / "m.arch"
    spec.write_text('network n:\n    input 3x8x8\n    conv 4 3x3\n    output name="[/]x[bold]"\n')
    status, out, _ = run(capsys, "analyze", str(spec))
    assert status == 0 and "[/]x[bold]" in out
