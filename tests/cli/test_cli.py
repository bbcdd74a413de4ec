"""The command line: formats, options, exit statuses, `python -m archspec`."""

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

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


# -- issue 11: diagnostics instead of internal errors -----------------------------------------------------

def test_an_empty_spec_name_is_a_diagnostic(capsys):
    status, _, err = run(capsys, "--no-color", "analyze", "")
    assert status == 2
    assert err.startswith("error[E500]: no spec given: the spec's name is empty\n") and "internal error" not in err


def test_an_unknown_shipped_spec_suggests_the_closest(capsys):
    status, _, err = run(capsys, "--no-color", "analyze", "resnett")
    assert status == 2
    assert err.startswith("error[E500]: no spec file `resnett`\n   = hint: did you mean `resnet`")


@pytest.mark.parametrize("command", [["analyze", "lenet5"], ["render", "lenet5", "--format", "dot"]])
def test_a_negative_depth_is_a_diagnostic(capsys, command):
    status, out, err = run(capsys, "--no-color", *command, "--depth", "-1")
    assert status == 2 and out == ""
    assert err.startswith("error[E202]: --depth must be 0 or more, got -1\n")


def test_the_api_refuses_a_negative_depth_and_a_batch_below_one():
    import archspec

    a = archspec.analyze("lenet5")
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        a.table(-1)
    for batch in (0, -2, 1.5):
        with pytest.raises(ValueError, match=f"batch must be a whole number of at least 1, got {batch}"):
            archspec.analyze("lenet5", batch=batch)


OUTPUT_COMMANDS = [
    ["analyze", "lenet5", "-o"],
    ["analyze", "lenet5", "--format", "json", "-o"],
    ["render", "lenet5", "--format", "svg", "-o"],
    ["fmt", "lenet5", "-o"],
    ["compare", "lenet5", "-o"],
    ["zoo", "-o"],
    ["compile", "lenet5", "-o"],
]


@pytest.mark.parametrize("command", OUTPUT_COMMANDS, ids=lambda c: " ".join(c))
def test_an_output_that_is_a_folder_is_a_diagnostic(capsys, tmp_path, command):
    folder = tmp_path / "out"
    folder.mkdir()
    status, _, err = run(capsys, "--no-color", *command, str(folder))
    assert status == 2
    assert err.startswith(f"error[E510]: cannot write -o {folder}: it is a folder\n")
    assert list(folder.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary file left


def test_a_plot_onto_a_folder_is_a_diagnostic(capsys, tmp_path):
    folder = tmp_path / "chart.svg"
    folder.mkdir()
    status, out, err = run(capsys, "--no-color", "compare", "lenet5", "--plot", str(folder))
    assert status == 2 and out == ""
    assert err.startswith(f"error[E510]: cannot write --plot {folder}: it is a folder\n")


def test_a_png_diagram_without_graphviz_is_one_diagnostic(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot`
    picture = tmp_path / "net.png"
    status, out, err = run(capsys, "--no-color", "render", "lenet5", "-o", str(picture))
    assert status == 2 and out == ""  # nothing printed or written before the mistake
    assert err.strip().splitlines() == [
        "error[E209]: graphviz's `dot` program was not found on PATH: install it with "
        "`apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS)"]
    assert not picture.exists()
    assert run(capsys, "render", "lenet5", "--format", "dot", "-o", str(tmp_path / "net.dot"))[0] == 0  # DOT needs none
    assert run(capsys, "compare", "lenet5", "--plot", str(tmp_path / "chart.png"))[0] == 0  # charts: matplotlib


TORCH_LINE = ("needs PyTorch, which is not installed; install it with "
              "`pip install torch --index-url https://download.pytorch.org/whl/cpu` (CPU only), "
              "or `pip install torch` (with CUDA)")


def test_every_torch_command_without_torch_is_one_diagnostic(tmp_path):
    """As after `pip install -e .` (the README's first command): torch cannot be imported at all."""
    commands = [["check", "lenet5"], ["train", "lenet5", "--epochs", "1"], ["evaluate", "lenet5", "last.pt"],
                ["compile", "lenet5", "--train"], ["compile", "lenet5", "--onnx", "m.onnx"],
                ["compile", "lenet5", "--init", "last.pt", "-o", "m.py"], ["export", "runs/lenet5"]]
    code = textwrap.dedent("""
        import contextlib, io, json, sys
        sys.modules["torch"] = None  # `import torch` raises ModuleNotFoundError, as when it is not installed
        from archspec.cli import main
        results = []
        for argv in json.loads(sys.argv[1]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status = main(["--no-color", *argv])
            results.append([status, err.getvalue()])
        print(json.dumps(results))
    """)
    p = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    for argv, (status, err) in zip(commands, json.loads(p.stdout), strict=True):
        assert status == 2, (argv, err)
        assert err == f"error[E209]: `archspec {argv[0]}` {TORCH_LINE}\n", argv
    assert list(tmp_path.iterdir()) == []


def test_training_without_numpy_is_one_diagnostic(tmp_path):
    code = textwrap.dedent("""
        import contextlib, io, json, sys
        sys.modules["numpy"] = None
        from archspec.cli import main
        results = []
        for argv in (["train", "lenet5"], ["compile", "lenet5", "--train"], ["evaluate", "lenet5", "x.pt"]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                results.append([main(["--no-color", *argv]), err.getvalue()])
        print(json.dumps(results))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    for (status, err), command in zip(json.loads(p.stdout), ("train", "compile", "evaluate")):
        assert status == 2 and err == (f"error[E209]: `archspec {command}` needs numpy to read data, which is not "
                                       "installed; install it with `pip install 'archspec[train]'` (torch is there)\n")
    assert list(tmp_path.iterdir()) == []


def test_writing_the_python_file_needs_no_torch(tmp_path):
    """`compile -o` only writes text: without torch it writes the same bytes as with it."""
    code = ("import sys; sys.modules['torch'] = None; from archspec.cli import main; "
            "sys.exit(main(['compile', 'resnet', '--set', 'depth=18', '-o', 'r.py']) "
            "or main(['compile', 'googlenet', '-o', 'g.py']))")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import archspec

    assert (tmp_path / "r.py").read_text() == archspec.generate_code("resnet", depth=18)
    assert (tmp_path / "g.py").read_text() == archspec.generate_code("googlenet")


def test_analysis_and_rendering_need_no_torch(tmp_path):
    code = ("import sys; sys.modules['torch'] = None; from archspec.cli import main; "
            "sys.exit(main(['analyze', 'lenet5', '-o', 'a.txt']) or main(['render', 'lenet5', '--format', 'dot', "
            "'-o', 'l.dot']))")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "a.txt").read_text().startswith("lenet5")


def test_global_options_work_after_the_command(capsys, tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text("network bad:\n    input 3x8x8\n    dense 10\n")
    for argv in (["analyze", str(spec), "--no-color"], ["compare", str(spec), "--no-color"],
                 ["render", str(spec), "--no-color", "--format", "dot"]):
        status, _, err = run(capsys, *argv)
        assert status == 2 and "error[E300]" in err and "usage:" not in err, (argv, err)
    from archspec.diagnostics import SpecError

    with pytest.raises(SpecError):
        main(["compare", str(spec), "--debug"])


def test_a_channels_last_input_gets_a_hint(capsys):
    status, _, err = run(capsys, "--no-color", "analyze", "vgg16", "--input", "224x224x3")
    assert status == 2 and "error[E300]" in err
    assert ("   = note: the input 224×224×3 looks channels-last: its last axis is 3, and this spec's own input "
            "`input` is 3×224×224, channels first\n") in err
    assert err.rstrip().endswith("   = hint: give the shape channels first: --input 3x224x224")
    status, _, err = run(capsys, "--no-color", "analyze", "mnist_cnn", "--input", "28x28x1")
    assert status == 2 and "hint: give the shape channels first: --input 1x28x28" in err
    status, _, err = run(capsys, "--no-color", "analyze", "lenet5", "--input", "1x5x5")  # channels first: no such hint
    assert status == 2 and "channels" not in err


def test_layers_of_a_kind_renders_markdown_on_a_terminal(capsys, monkeypatch):
    status, out, _ = run(capsys, "layers", "conv")  # piped: the Markdown itself
    assert status == 0 and out.startswith("### `conv`\n") and "|---|" in out

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["layers", "conv"]) == 0
    shown = screen.getvalue()
    assert "filters" in shown and "C_out" in shown
    assert "###" not in shown and "|---|" not in shown and "| `filters` |" not in shown


# -- issue 11 (18): row names and the README's examples ---------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def test_row_of_a_missing_name_says_which_names_are_close():
    import archspec

    a = archspec.analyze("resnet", depth=50)
    with pytest.raises(KeyError) as e:
        a.row("stage3.bottleneck1.conv1")
    message = e.value.args[0]
    assert message.startswith("no layer named 'stage3.bottleneck1.conv1'; did you mean ")
    assert "'stage3.bottleneck1.residual.conv1'" in message
    with pytest.raises(KeyError) as e:
        a.row("nothing_like_it")
    assert e.value.args[0] == "no layer named 'nothing_like_it'"


def test_the_readme_row_example_works():
    import archspec

    text = README.read_text()
    names = re.findall(r'a\.row\("([^"]+)"\)', text)
    assert names, "the README shows Analysis.row"
    a = archspec.analyze("resnet", depth=50)
    for name in names:
        # ResNet-50's conv4_x (stage3) on a 224 input: 14×14, its first bottleneck's 1×1 reduces to 256
        assert a.row(name).output_shape == (256, 14, 14)


def test_the_readme_depth_example_collapses(capsys):
    line = next(ln for ln in README.read_text().splitlines() if ln.startswith("archspec analyze googlenet --depth"))
    argv = line.split("#")[0].split()[1:]
    status, out, _ = run(capsys, *argv)
    full = run(capsys, "analyze", "googlenet")[1]
    assert status == 0 and out != full
    assert "b1x1" not in out and "b1x1" in full  # the inception modules' branches are inside the collapsed rows
    assert re.search(r"│inception3a\s*│ inception\(64, 96, 128, 16, 32, 32\)\s*│ 8 layers\s*│\s*256×28×28 │", out)


def test_depth_counts_block_levels_as_render_does(capsys):
    """GoogLeNet: inception modules are its only block level; their branches open with them."""
    out0 = run(capsys, "analyze", "googlenet", "--depth", "0")[1]
    out1 = run(capsys, "analyze", "googlenet", "--depth", "1")[1]
    assert "b5x5" not in out0 and "b5x5" in out1
    assert out1 == run(capsys, "analyze", "googlenet")[1]


# -- issue 11 (20): the table's columns -------------------------------------------------------------------

def test_analyze_help_lists_the_columns(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = capsys.readouterr().out
    assert "shapes, parameters and MACs of every layer, with FLOPs, memory, receptive" in out
    for name in ("input", "kernel", "params%", "trainable", "flops", "memory", "rf", "connected"):
        assert name in out.split("--columns", 1)[1]


def test_every_command_has_a_help(capsys):
    from archspec.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
    capsys.readouterr()


def test_columns_in_csv_figures_of_lenet5(capsys):
    # LeNet-5 (Keras): 61,706 parameters; C1 has 156 and makes 6×28×28 from 1×32×32 with a 5×5 kernel
    status, out, _ = run(capsys, "analyze", "lenet5", "--format", "csv", "--columns",
                         "input,kernel,params,params%,memory,flops,rf,connected,trainable")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and list(rows[0]) == ["name", "kind", "input_shape", "kernel", "params", "params_percent",
                                             "memory_bytes", "flops", "receptive_field", "connected_to", "trainable"]
    conv1 = next(r for r in rows if r["name"] == "conv1")
    assert conv1["input_shape"] == "1x32x32" and conv1["kernel"] == "5x5" and conv1["params"] == "156"
    assert conv1["params_percent"] == f"{100 * 156 / 61_706:.4f}"
    assert conv1["memory_bytes"] == str(6 * 28 * 28 * 4)  # float32
    assert conv1["flops"] == str(2 * 28 * 28 * 6 * 25 + 6 * 28 * 28)  # 2 × MACs + the bias adds
    assert conv1["receptive_field"] == "5x5" and conv1["connected_to"] == "input" and conv1["trainable"] == "yes"
    tanh = rows[rows.index(conv1) + 1]
    assert tanh["kind"] == "tanh" and tanh["connected_to"] == "conv1" and tanh["trainable"] == ""


def test_receptive_field_column_of_stacked_convolutions(capsys, tmp_path):
    # seed 003: two stacked 3×3 convolutions see 5×5, three see 7×7
    spec = tmp_path / "s.arch"
    spec.write_text("network s:\n    input 1x32x32\n    conv 4 3x3\n    conv 4 3x3\n    conv 4 3x3\n")
    status, out, _ = run(capsys, "analyze", str(spec), "--format", "markdown", "--columns", "rf")
    assert status == 0
    assert "| Layer | Kind | Receptive field |\n|---|---|--:|\n" in out
    assert "| conv1 | conv | 3×3 |\n| conv2 | conv | 5×5 |\n| conv3 | conv | 7×7 |\n" in out


def test_columns_of_a_branching_network_and_collapsed_blocks(capsys):
    # GoogLeNet (paper, Table 1): inception 3a reads 192×28×28 and gives 256×28×28; its auxiliary heads have
    # 3,188,840 and 3,190,888 parameters of 13,378,280
    status, out, _ = run(capsys, "analyze", "googlenet", "--depth", "0", "--format", "markdown", "--columns",
                         "input,output,params,params%,connected")
    assert status == 0
    assert "| Layer | Kind | Input | Output | Params | Params % | Connected to |\n" in out
    assert "| inception3b | inception(128, 128, 192, 32, 96, 64) | 256×28×28 | 480×28×28 |" in out
    assert f"| aux1 | aux_head() | 512×14×14 | 1000 | 3,188,840 | {100 * 3_188_840 / 13_378_280:.2f}% " \
           "| inception4a.concat1 |" in out
    _, out, _ = run(capsys, "analyze", "googlenet", "--format", "markdown", "--columns", "connected")
    assert "| inception3a.concat1 | concat | inception3a.b1x1.conv1, inception3a.b3x3.conv2, " \
           "inception3a.b5x5.conv2, inception3a.pool.conv1 |" in out  # the fused ReLUs shown on their convs


def test_trainable_column_of_a_frozen_base(capsys):
    # seed 004: VGG-16's convolutional base frozen (14,714,688 parameters), a new head trained
    _, out, _ = run(capsys, "analyze", "vgg16_transfer", "--set", "frozen_stages=5", "--depth", "0",
                    "--format", "csv", "--columns", "params,trainable")
    rows = list(csv.DictReader(io.StringIO(out)))
    frozen = [r for r in rows if r["trainable"] == "no"]
    assert sum(int(r["params"]) for r in frozen) == 14_714_688
    assert {r["trainable"] for r in rows if r not in frozen and r["params"] != "0"} == {"yes"}


def test_columns_options(capsys):
    base = run(capsys, "analyze", "lenet5", "--format", "markdown")[1]
    assert "| Layer | Kind | Arguments | Output | Params | MACs |" in base
    plus = run(capsys, "analyze", "lenet5", "--format", "markdown", "--columns", "+flops,memory")[1]
    assert "| Layer | Kind | Arguments | Output | Params | MACs | FLOPs | Memory |" in plus
    torchinfo = run(capsys, "analyze", "lenet5", "--format", "markdown", "--columns",
                    "input_size,output_size,num_params,kernel_size,mult_adds")[1]
    assert "| Layer | Kind | Input | Output | Params | Kernel | MACs |" in torchinfo
    status, _, err = run(capsys, "--no-color", "analyze", "lenet5", "--columns", "flop")
    assert status == 2 and err.startswith("error[E202]: --columns: unknown column `flop`; did you mean `flops`?")
    status, _, err = run(capsys, "--no-color", "analyze", "lenet5", "--columns", "rf", "--format", "json")
    assert status == 2 and err.startswith("error[E202]: --columns chooses the columns of a table")


def test_a_wide_table_is_not_cut(capsys, tmp_path):
    """Every column with every figure whole, piped or written to a file (no column squeezed out)."""
    status, out, _ = run(capsys, "analyze", "resnet", "--set", "depth=18", "--depth", "1", "--columns", "all")
    assert status == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("│conv1 "))
    cells = [c.strip() for c in line.strip("│").split("│")]
    assert cells[:5] == ["conv1", "conv", "64 7×7 /2 pad 3 no bias", "3×224×224", "64×112×112"]
    assert "9,408" in cells and "118,013,952" in cells and "input" in cells  # torchvision's conv1: 64·3·7·7
    target = tmp_path / "t.txt"
    assert run(capsys, "analyze", "resnet", "--set", "depth=18", "--depth", "1", "--columns", "all",
               "-o", str(target))[0] == 0
    assert line.rstrip() in target.read_text()
