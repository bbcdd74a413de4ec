"""Trained weights that leave archspec (issue 15, item 2): `archspec export` to a standalone .py with its
weights, safetensors and ONNX; `compile --init` and `compile --train -o`; training options without --train
refused. Outputs are compared with PyTorch's own forward of the checkpoint's weights, in this process and in
a fresh one that imports only the written file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console

import archspec
from archspec.cli import main
from archspec.train import train

NET = """network small(classes = 3):
    input 3x12x12
    conv 6 3x3 pad=1 bias=false; bn; relu
    maxpool 2
    flatten
    dense classes softmax
"""

needs = {m: pytest.mark.skipif(importlib.util.find_spec(m) is None, reason=f"the `{m}` package is not installed")
         for m in ("safetensors", "onnx", "onnxruntime")}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    spec = tmp / "small.arch"
    spec.write_text(NET)
    out = tmp / "run"
    r = train(spec, out=out, epochs=1, data="synthetic:300", batch_size=32, threads=1, progress=False,
              console=Console(quiet=True))
    assert r.status == "done"
    return out


def reference(run_dir: Path, x: torch.Tensor, ckpt: str = "best.pt") -> torch.Tensor:
    """PyTorch's forward of the checkpoint's weights in the module archspec compiles (evaluation mode)."""
    model = archspec.compile(run_dir / "spec.arch", classes=3)
    model.load_state_dict(torch.load(run_dir / ckpt, weights_only=True)["model"])
    with torch.no_grad():
        return model.eval()(x)


def fresh_process_output(py: Path, x: torch.Tensor, tmp_path: Path) -> torch.Tensor:
    """Import the written file in a new interpreter (no archspec on the path), run `load()` on x."""
    torch.save(x, tmp_path / "x.pt")
    code = (f"import sys, torch; sys.path.insert(0, {str(py.parent)!r}); import {py.stem} as m; "
            f"x = torch.load({str(tmp_path / 'x.pt')!r}); "
            f"torch.save(m.load()(x).detach(), {str(tmp_path / 'y.pt')!r})")
    p = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    return torch.load(tmp_path / "y.pt")


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_export_writes_a_standalone_file_that_loads_its_weights(run_dir, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", str(run_dir), "--format", "py", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "small.pt", "small.py"]
    err = capsys.readouterr().err
    assert f"exported small from {run_dir / 'best.pt'}" in err
    x = torch.randn(4, 3, 12, 12)
    y = fresh_process_output(out / "small.py", x, tmp_path)
    assert torch.equal(y, reference(run_dir, x))
    text = (out / "small.py").read_text()
    assert "import archspec" not in text and "Input as in training: values x 0.00392157" in text
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["params"] == {"classes": 3} and manifest["input"] == [[3, 12, 12]] and manifest["epoch"] == 1
    assert set(manifest["files"]["py"]) == {"small.py", "small.pt"}


@needs["safetensors"]
def test_export_safetensors_holds_the_state_dict_and_the_normalisation(run_dir, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    assert main(["export", str(run_dir / "last.pt"), "--format", "safetensors", "-o", str(tmp_path)]) == 0
    loaded = load_file(tmp_path / "small.safetensors")
    saved = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)
    with safe_open(tmp_path / "small.safetensors", "pt") as f:
        meta = f.metadata()
    assert meta["network"] == "small" and json.loads(meta["normalisation"])["scale"] == pytest.approx(1 / 255)


@needs["onnx"]
def test_export_onnx_is_checked_and_runs_as_pytorch_does(run_dir, tmp_path):
    import onnx

    assert main(["export", str(run_dir), "--format", "onnx", "--opset", "13", "-o", str(tmp_path)]) == 0
    m = onnx.load(tmp_path / "small.onnx")
    onnx.checker.check_model(m)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [13]
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert manifest["onnx"]["opset"] == 13
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed: the ONNX file is checked, not run")
    import onnxruntime as ort

    x = torch.randn(5, 3, 12, 12)
    session = ort.InferenceSession(str(tmp_path / "small.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert torch.allclose(torch.from_numpy(got), reference(run_dir, x), rtol=1e-4, atol=1e-5)
    assert manifest["onnx"]["onnxruntime"]["max_abs_diff"] <= 1e-4


def test_export_of_a_missing_package_is_one_diagnostic(run_dir, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    assert main(["--no-color", "export", str(run_dir), "--format", "onnx", "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == ("error[E209]: --format onnx needs the `onnx` package, which is not "
                                               "installed: pip install 'archspec[onnx]'")
    assert not (tmp_path / "x").exists()
    assert main(["export", str(run_dir), "-o", str(tmp_path / "y")]) == 0  # by default: what is installed
    assert "onnx: skipped, the `onnx` package is not installed" in capsys.readouterr().err
    assert not (tmp_path / "y" / "small.onnx").exists() and (tmp_path / "y" / "small.py").exists()


def test_export_of_a_plain_state_dict_needs_the_spec(run_dir, tmp_path, capsys):
    state = tmp_path / "weights.pt"
    torch.save(torch.load(run_dir / "best.pt", weights_only=True)["model"], state)
    assert main(["--no-color", "export", str(state), "--format", "py"]) == 2
    err = capsys.readouterr().err
    assert "error[E202]: the spec of" in err and "--spec SPEC" in err
    assert main(["export", str(state), "--format", "py", "--spec", str(run_dir / "spec.arch"), "--set", "classes=3",
                 "-o", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "small.pt").exists()
    assert main(["--no-color", "export", str(state), "--format", "py", "--spec", str(run_dir / "spec.arch"),
                 "--set", "classes=5", "-o", str(tmp_path / "f")]) == 2
    assert "error[E701]" in capsys.readouterr().err and not (tmp_path / "f" / "small.py").exists()


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_compile_init_writes_the_weights_beside_the_file(run_dir, tmp_path, capsys):
    py = tmp_path / "model.py"
    assert main(["compile", str(run_dir / "spec.arch"), "--init", str(run_dir / "best.pt"), "-o", str(py)]) == 0
    assert (tmp_path / "model.pt").exists()
    x = torch.randn(2, 3, 12, 12)
    assert torch.equal(fresh_process_output(py, x, tmp_path), reference(run_dir, x))
    capsys.readouterr()
    assert main(["--no-color", "compile", str(run_dir / "spec.arch"), "--init", str(run_dir / "best.pt")]) == 2
    assert "--init writes the weights beside the generated file: give it with -o FILE" in capsys.readouterr().err


def test_training_options_without_train_are_refused(run_dir, tmp_path, capsys):
    py = tmp_path / "m.py"
    status = main(["--no-color", "compile", "lenet5", "--epochs", "3", "--lr", "0.1", "-o", str(py)])
    err = capsys.readouterr().err
    assert status == 2 and not py.exists()
    assert err.startswith("error[E202]: --epochs is an option of training, and this command does not train")
    assert "also given: --lr" in err and "add --train" in err
    for option in (["--data", "synthetic"], ["--resume"], ["--out", "x"], ["--no-flip"], ["--compile"]):
        assert main(["--no-color", "compile", "lenet5", *option]) == 2, option
        assert f"error[E202]: {option[0]} is an option of training" in capsys.readouterr().err


@pytest.mark.slow
def test_compile_train_honours_o(tmp_path, capsys):
    spec = tmp_path / "small.arch"
    spec.write_text(NET)
    py = tmp_path / "trained.py"
    assert main(["compile", str(spec), "--train", "--epochs", "1", "--data", "synthetic:200", "--threads", "1",
                 "--no-progress", "--out", str(tmp_path / "run"), "-o", str(py)]) == 0
    assert (tmp_path / "trained.pt").exists()
    x = torch.randn(2, 3, 12, 12)
    assert torch.equal(fresh_process_output(py, x, tmp_path), reference(tmp_path / "run", x, "last.pt"))
    capsys.readouterr()
    assert main(["--no-color", "compile", str(spec), "--train", "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "archspec export RUN --format onnx" in capsys.readouterr().err


def test_the_weights_beside_the_file_may_not_overwrite_the_checkpoint(run_dir, tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes((run_dir / "best.pt").read_bytes())
    before = ckpt.read_bytes()
    status = main(["--no-color", "compile", str(run_dir / "spec.arch"), "--init", str(ckpt), "-o",
                   str(tmp_path / "model.py")])
    assert status == 2 and ckpt.read_bytes() == before and not (tmp_path / "model.py").exists()
    assert capsys.readouterr().err.startswith(f"error[E511]: -o {tmp_path / 'model.py'}: its weights file {ckpt} is "
                                              "the checkpoint of --init, an input of this command")


@needs["onnx"]
@needs["onnxruntime"]
def test_compile_init_onnx_holds_the_checkpoints_weights(run_dir, tmp_path):
    """`compile --init CKPT -o FILE --onnx F`: the ONNX file has the checkpoint's weights, as the .py has."""
    import onnxruntime as ort

    onnx_file = tmp_path / "model.onnx"
    assert main(["compile", str(run_dir / "spec.arch"), "--init", str(run_dir / "best.pt"), "-o",
                 str(tmp_path / "model.py"), "--onnx", str(onnx_file)]) == 0
    x = torch.randn(4, 3, 12, 12)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert torch.allclose(torch.from_numpy(got), reference(run_dir, x), rtol=1e-4, atol=1e-5)


@needs["onnx"]
@needs["onnxruntime"]
def test_export_of_a_network_of_token_ids(tmp_path):
    """Its example inputs are token ids (int64), not values: the export traced an embedding on floats."""
    import onnxruntime as ort

    sets = {"steps": 12, "vocab": 40, "dim": 8, "hidden": 16}
    torch.manual_seed(0)
    model = archspec.compile("lstm_classifier", **sets).eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    assert main(["export", str(tmp_path / "weights.pt"), "--spec", "lstm_classifier", "--format", "onnx",
                 *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")], "-o", str(tmp_path / "e")]) == 0
    ids = torch.randint(0, 40, (3, 12))
    session = ort.InferenceSession(str(tmp_path / "e" / "lstm_classifier.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: ids.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model(ids), rtol=1e-4, atol=1e-5)
