"""`archspec train --tensorboard` (issue 15, item 4): scalars, the graph and a confusion-matrix image per
epoch in RUN/tensorboard, read back with TensorBoard's own reader; the JSONL stays."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from rich.console import Console

from archspec.cli import main
from archspec.train import train

TINY = """network tiny(classes = 3):
    input 1x8x8
    conv 4 3x3 pad=1 relu
    flatten
    dense classes softmax
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="the `tensorboard` package is not installed")
def test_tensorboard_gets_scalars_graph_and_a_confusion_image_per_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = tmp_path / "tiny.arch"
    spec.write_text(TINY)
    out = tmp_path / "run"
    r = train(spec, data="synthetic:120", epochs=3, batch_size=16, out=out, threads=1, tensorboard=True,
              progress=False, console=Console(quiet=True))
    assert r.status == "done"
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert set(tags["scalars"]) == {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr", "images_per_s"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for tag, key in (("loss/train", "train_loss"), ("accuracy/test", "test_acc"), ("lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        assert [e.value for e in events] == pytest.approx([row[key] for row in rows], rel=1e-6)
    assert tags["graph"] is True
    images = acc.Images("confusion/test")
    assert [i.step for i in images] == [1, 2, 3]
    assert images[0].width == images[0].height == 255  # 3 classes, 85 pixels each


def test_confusion_image_rows_are_scaled():
    from archspec.pytorch.train.tboard import confusion_image

    img = confusion_image([[4, 0], [1, 3]])
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (8, 48, 107) and tuple(img[0, 200]) == (255, 255, 255)  # row 0: 4 → dark, 0 → white
    assert tuple(img[200, 200]) == (8, 48, 107)  # row 1's largest


def test_tensorboard_missing_is_one_diagnostic(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    status = main(["--no-color", "train", "lenet5", "--tensorboard", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error[E209]: --tensorboard needs the `tensorboard` package, which is not "
                                          "installed: pip install 'archspec[tensorboard]'")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="the `tensorboard` package is not installed")
def test_the_graph_of_a_network_of_token_ids_is_traced(tmp_path):
    """The graph is traced on token ids (it was traced on floats, which an embedding refuses)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    r = train("lstm_classifier", params={"steps": 10, "vocab": 30, "dim": 8, "hidden": 8, "layers": 1},
              data="synthetic:100", epochs=1, out=out, threads=1, tensorboard=True, progress=False,
              console=Console(quiet=True))
    assert r.status == "done" and not [n for n in r.notes if "could not be traced" in n]
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert acc.Tags()["graph"] is True
