"""Training runs end to end on tiny networks and data (issue 6): the built-in data, the run folder,
resuming (bitwise equal to an uninterrupted run), a diverging loss, fine-tuning with a frozen part,
auxiliary heads, one-unit and per-pixel losses, evaluation, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.train import evaluate, train

TINY = """network tiny(classes = 4, training = {"epochs": 3, "batch_size": 32, "lr": 0.01}):
    input 1x12x12
    conv 8 3x3 pad=1 relu
    maxpool 2
    flatten
    dropout 0.2
    dense classes softmax
"""

FINETUNE = """network ft(classes = 3, freeze_base = true):
    input 1x12x12
    frozen freeze_base:
        conv 4 3x3 relu
        maxpool 2
    flatten
    dense classes softmax
"""

AUX = """network aux(classes = 3):
    input 1x8x8
    flatten
    h = dense 16 relu
    dense classes softmax
    output
    from h
    dense classes softmax
    output weight=0.3 name=aux
"""


def spec(tmp_path: Path, text: str = TINY, name: str = "net.arch") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run(path: Path, **kw):
    kw.setdefault("data", "synthetic:400")
    kw.setdefault("threads", 1)
    return train(path, progress=False, console=Console(quiet=True), **kw)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_trains_on_builtin_data_and_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    r = run(spec(tmp_path), out=out, seed=1)
    assert r.status == "done" and r.epochs == 3
    assert r.test_acc is not None and r.test_acc > 0.5  # 4 classes: chance is 0.25
    assert {p.name for p in out.iterdir()} == {"last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "settings.json",
                                               "spec.arch", "curves.svg", "test.json"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["test_acc"] == pytest.approx(r.history[-1]["test_acc"])
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss,train_acc,test_loss")
    settings = json.loads((out / "settings.json").read_text())
    assert settings["settings"]["epochs"] == 3 and settings["sources"]["lr"] == "spec"
    assert settings["sources"]["seed"] == "command line" and settings["outputs"][0]["loss"] == "ce"
    assert (out / "spec.arch").read_text() == TINY
    svg = ET.fromstring((out / "curves.svg").read_text())
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}polyline")) == 4  # loss and accuracy, train and test
    test = json.loads((out / "test.json").read_text())
    assert np.trace(np.array(test["confusion"])) / 80 == pytest.approx(r.test_acc)
    last = torch.load(out / "last.pt", weights_only=True)  # tensors and plain containers only
    assert last["epoch"] == 3 and last["data"]["classes"] == ["0", "1", "2", "3"]
    assert torch.load(out / "best.pt", weights_only=True)["test_acc"] == r.best_acc


def test_resume_ends_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    path = spec(tmp_path)
    recipe = {"schedule": "cosine", "flip": True, "crop": 1, "seed": 3}  # random augmentation, dropout, a schedule
    whole = run(path, out=tmp_path / "whole", **recipe)

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    cut = run(path, out=tmp_path / "cut", on_epoch_end=interrupt, **recipe)
    assert cut.status == "interrupted" and cut.epochs == 2
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 2
    resumed = run(path, out=tmp_path / "cut", resume=True)
    assert resumed.status == "done" and resumed.epochs == 3
    a, b = weights(tmp_path / "whole" / "last.pt"), weights(tmp_path / "cut" / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.test_acc == whole.test_acc
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 3


def test_resume_keeps_the_runs_settings(tmp_path):
    path = spec(tmp_path)
    run(path, out=tmp_path / "r", epochs=1)
    with pytest.raises(SpecError) as e:
        run(path, out=tmp_path / "r", resume=True, lr=0.5)
    assert "--resume continues a run with its own settings" in e.value.diagnostic.message
    assert any("lr" in n for n in e.value.diagnostic.notes)
    with pytest.raises(SpecError) as e:
        run(path, out=tmp_path / "r")  # a run is there: start another elsewhere, or resume
    assert "already holds a run" in e.value.diagnostic.message
    with pytest.raises(SpecError) as e:
        run(path, out=tmp_path / "empty", resume=True)
    assert e.value.diagnostic.code == "E500"


def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import archspec.pytorch.train.run as run_module

    fits: list = []
    make_fit = run_module.loop.Fit
    monkeypatch.setattr(run_module.loop, "Fit", lambda *a, **kw: fits.append(make_fit(*a, **kw)) or fits[-1])

    def poison(epoch: int, row: dict) -> None:  # after a good first epoch, the weights go bad
        if epoch == 1:
            for p in fits[0].core.parameters():
                p.data.fill_(float("nan"))

    r = run(spec(tmp_path), out=tmp_path / "nan", on_epoch_end=poison)
    assert r.status == "diverged" and r.epochs == 1
    assert "became nan in epoch 2" in r.message and "last.pt (epoch 1)" in r.message
    last = torch.load(tmp_path / "nan" / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and all(torch.isfinite(t).all() for t in last["model"].values())


def test_cli_exit_status_3_when_the_loss_is_not_finite_from_the_start(tmp_path, capsys):
    path = spec(tmp_path, "network n:\n    input 4\n    dense 2 softmax\n")
    code = main(["train", str(path), "--data", "synthetic:100", "--out", str(tmp_path / "o"), "--threads", "1",
                 "--no-progress", "--optimizer", "sgd", "--lr", "1e38"])
    assert code == 3
    assert "no epoch finished" in capsys.readouterr().out


def test_fine_tuning_loads_weights_and_trains_only_the_unfrozen_part(tmp_path):
    path = spec(tmp_path, FINETUNE)
    base = run(path, out=tmp_path / "base", params={"freeze_base": False}, epochs=1)
    assert base.status == "done"
    tuned = run(path, out=tmp_path / "tuned", params={"classes": 5}, init=tmp_path / "base" / "last.pt", epochs=2)
    assert tuned.status == "done"
    assert any("2 tensors loaded" in n for n in tuned.notes)
    assert any("another shape keep their fresh values" in n for n in tuned.notes)  # the 5-class head
    a, b = weights(tmp_path / "base" / "last.pt"), weights(tmp_path / "tuned" / "last.pt")
    conv = [k for k in a if k.startswith("conv")]
    assert conv and all(torch.equal(a[k], b[k]) for k in conv)  # frozen: loaded, never changed
    opt = torch.load(tmp_path / "tuned" / "last.pt", weights_only=True)["optimizer"]
    assert len(opt["param_groups"][0]["params"]) == 2  # only the dense layer's weight and bias


def test_everything_frozen_is_refused(tmp_path):
    path = spec(tmp_path, "network n:\n    input 4\n    frozen:\n        dense 2 softmax\n")
    with pytest.raises(SpecError) as e:
        run(path, out=tmp_path / "o", epochs=1)
    assert "nothing to train" in e.value.diagnostic.message


def test_auxiliary_heads_take_the_specs_weights_or_the_settings(tmp_path):
    path = spec(tmp_path, AUX)
    r = run(path, out=tmp_path / "a", epochs=1, data="synthetic:200")
    outputs = json.loads((tmp_path / "a" / "settings.json").read_text())["outputs"]
    assert [(o["name"], o["weight"]) for o in outputs] == [("out", 1.0), ("aux", 0.3)] and r.status == "done"
    run(path, out=tmp_path / "b", epochs=1, data="synthetic:200", aux_weights={"aux": 0.0})
    assert json.loads((tmp_path / "b" / "settings.json").read_text())["outputs"][1]["weight"] == 0.0
    with pytest.raises(SpecError) as e:
        run(path, out=tmp_path / "c", epochs=1, aux_weights={"aux2": 1})
    assert "`aux`" in (e.value.diagnostic.hint or "")


def test_one_sigmoid_unit_trains_with_binary_cross_entropy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    np.savez(tmp_path / "b.npz", x=x, y=(x[:, 0] + x[:, 1] > 0).astype(np.int64))
    path = spec(tmp_path, "network b:\n    input 6\n    dense 8 relu\n    dense 1 sigmoid\n")
    r = run(path, out=tmp_path / "o", data=f"npz:{tmp_path / 'b.npz'}", epochs=4, lr=0.03, holdout=100)
    outputs = json.loads((tmp_path / "o" / "settings.json").read_text())["outputs"]
    assert outputs[0]["loss"] == "bce" and r.test_acc is not None and r.test_acc > 0.8


def test_a_segmenter_trains_per_pixel_against_cropped_masks(tmp_path):
    # valid convolutions: the 10×10 output is centred in the 12×12 input, as U-Net's is
    path = spec(tmp_path, "network seg(classes = 3):\n    input 1x12x12\n    conv 8 3x3 relu\n    conv classes 1x1\n")
    r = run(path, out=tmp_path / "o", data="synthetic:200", epochs=2, lr=0.01, flip=True)
    assert r.status == "done" and r.classes == ["background", "0", "1"]
    assert r.confusion is not None and np.array(r.confusion).sum() == 40 * 10 * 10  # every output pixel
    assert r.test_acc is not None and r.test_acc > 0.6


def test_classes_follow_the_data_unless_set(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32),
             y=np.arange(60) % 3)
    path = spec(tmp_path, "network n(classes = 10):\n    input 4\n    dense classes softmax\n")
    r = run(path, out=tmp_path / "o", data=f"npz:{tmp_path / 'd.npz'}", epochs=1)
    assert any("built with classes=3" in n for n in r.notes) and np.array(r.confusion).shape == (3, 3)
    fixed = spec(tmp_path, "network n:\n    input 4\n    dense 2 softmax\n", "fixed.arch")
    with pytest.raises(SpecError) as e:
        run(fixed, out=tmp_path / "p", data=f"npz:{tmp_path / 'd.npz'}", epochs=1)
    assert e.value.diagnostic.code == "E300" and "labels up to 2" in e.value.diagnostic.message


def test_evaluate_scores_a_checkpoint(tmp_path, capsys):
    path = spec(tmp_path)
    r = run(path, out=tmp_path / "o", epochs=1)
    ev = evaluate(path, tmp_path / "o" / "last.pt", threads=1, console=Console(quiet=True))
    assert ev["acc"] == pytest.approx(r.test_acc) and ev["confusion"] == r.confusion
    assert main(["evaluate", str(path), str(tmp_path / "o" / "best.pt"), "--threads", "1"]) == 0
    assert "Test accuracy" in capsys.readouterr().out


def test_compile_train_on_the_command_line(tmp_path, capsys):
    path = spec(tmp_path)
    code = main(["compile", str(path), "--train", "--epochs", "1", "--data", "synthetic:100", "--out",
                 str(tmp_path / "o"), "--threads", "1", "--no-progress", "--optimizer", "sgd", "--schedule", "onecycle"])
    assert code == 0
    settings = json.loads((tmp_path / "o" / "settings.json").read_text())
    assert settings["settings"]["optimizer"] == "sgd" and settings["sources"]["epochs"] == "command line"
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "Test accuracy" in out


def test_an_unwritable_output_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpecError) as e:
        run(spec(tmp_path), out=blocker / "run", epochs=1)
    assert "cannot write to the output folder" in e.value.diagnostic.message


def test_importing_the_training_package_imports_no_torch():
    code = ("import sys, archspec, archspec.train, archspec.cli; archspec.cli.build_parser(); "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
