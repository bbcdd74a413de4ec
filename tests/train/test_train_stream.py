"""Streaming data (issue 15, item 1): image folders read, decoded and augmented by torch.utils.data
workers; the loader chosen automatically and said; the same run with any number of workers; each sample
once per epoch over two processes under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.train import evaluate, train

NET = """network small(classes = 3):
    input 3x16x16
    conv 6 3x3 pad=1; bn; relu
    maxpool 2
    flatten
    dense classes softmax
"""
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def image_folder(root: Path, per_class: int = 24, size: tuple[int, int] = (16, 16), split: bool = True) -> Path:
    """JPEG images of three colours; train/ and test/ folders (the test images: every fourth)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in enumerate(COLOURS):
        for i in range(per_class):
            part = ("test" if i % 4 == 0 else "train") if split else ""
            d = root / part / f"c{c}"
            d.mkdir(parents=True, exist_ok=True)
            a = rng.integers(0, 60, (size[1], size[0], 3)) + np.array(colour) * rng.uniform(0.6, 1.0)
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(d / f"{i:03d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "small.arch"
    p.write_text(NET)
    return p


def run(spec: Path, folder: Path, out: Path, **kw):
    kw = {"epochs": 2, "batch_size": 16, "threads": 1, **kw}
    return train(spec, data=f"folder:{folder}", out=out, progress=False, console=Console(quiet=True), **kw)


def test_a_streamed_folder_trains_and_the_choice_is_said(spec, folder, tmp_path):
    r = run(spec, folder, tmp_path / "s", loader="stream", workers=0, flip=True, resized_crop=0.5, color_jitter=0.3)
    assert r.status == "done" and r.test_acc is not None and r.test_acc > 0.5  # three classes: chance is 1/3
    assert any(n.startswith("data: streaming (--loader stream)") for n in r.notes), r.notes
    assert "streaming with 0 worker processes" in r.notes
    m = run(spec, folder, tmp_path / "m")  # small and no decoded-image augmentation: in memory
    assert any(n.startswith("data: in memory: ") and "(--loader stream to stream)" in n for n in m.notes), m.notes
    a = run(spec, folder, tmp_path / "a", epochs=1, scale_jitter=0.5, workers=0)  # auto: the recipe needs streaming
    assert any(n.startswith("data: streaming: the recipe augments decoded images") for n in a.notes), a.notes


def test_memory_refuses_augmentations_of_decoded_images(spec, folder, tmp_path):
    with pytest.raises(SpecError) as e:
        run(spec, folder, tmp_path / "x", loader="memory", resized_crop=0.3)
    assert e.value.diagnostic.message.startswith("--loader memory: resized_crop, scale_jitter and color_jitter")


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_streamed_runs_are_the_same_with_any_number_of_workers(spec, folder, tmp_path):
    kw = {"loader": "stream", "flip": True, "crop": 2, "resized_crop": 0.4, "color_jitter": 0.2, "seed": 3}
    r0 = run(spec, folder, tmp_path / "w0", workers=0, **kw)
    r2 = run(spec, folder, tmp_path / "w2", workers=2, **kw)
    w0 = torch.load(tmp_path / "w0" / "last.pt", weights_only=True)["model"]
    w2 = torch.load(tmp_path / "w2" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(w0[k], w2[k]) for k in w0)
    assert r0.history[-1]["train_loss"] == r2.history[-1]["train_loss"]


@pytest.mark.slow
def test_a_resumed_streamed_run_equals_an_uninterrupted_one(spec, folder, tmp_path):
    kw = {"loader": "stream", "workers": 1, "flip": True, "resized_crop": 0.5, "epochs": 3}
    run(spec, folder, tmp_path / "whole", **kw)

    def stop(epoch: int, _row: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    assert run(spec, folder, tmp_path / "cut", on_epoch_end=stop, **kw).status == "interrupted"
    assert run(spec, folder, tmp_path / "cut", resume=True, **kw).status == "done"
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_streamed_evaluation_equals_the_in_memory_one(spec, folder, tmp_path):
    run(spec, folder, tmp_path / "r", loader="stream", workers=0)
    quiet = Console(quiet=True)
    ckpt = tmp_path / "r" / "best.pt"
    streamed = evaluate(spec, ckpt, loader="stream", workers=0, threads=1, console=quiet)
    held = evaluate(spec, ckpt, loader="memory", threads=1, console=quiet)
    assert streamed["confusion"] == held["confusion"] and streamed["samples"] == held["samples"] == 18
    assert streamed["loss"] == pytest.approx(held["loss"], rel=1e-5)


def test_augmentations_are_drawn_per_sample_and_seed(folder):
    from archspec.pytorch.train.stream import FileSplit, Recipe, Samples

    files = sorted((folder / "train").rglob("*.jpg"))
    split = FileSplit(files, np.zeros(len(files), dtype=np.int64), (3, 12, 12))
    for recipe in (Recipe(resized_crop=0.2), Recipe(scale_jitter=1.0), Recipe(color_jitter=0.5),
                   Recipe(flip=True, crop=3, fill=(10, 20, 30))):
        s = Samples(split, (3, 12, 12), recipe)
        a, b = s[(0, 1)], s[(0, 1)]
        assert a[0].shape == (3, 12, 12) and a[0].dtype == torch.uint8 and a[2] == ""
        assert torch.equal(a[0], b[0])
        assert any(not torch.equal(s[(0, k)][0], a[0]) for k in range(2, 12)), recipe  # other seeds differ
    plain = Samples(split, (3, 12, 12), Recipe())[0][0]
    from PIL import Image

    with Image.open(files[0]) as im:
        expected = np.asarray(im.convert("RGB").resize((12, 12), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(plain.numpy(), expected)  # evaluation: the image resized to the input, as in memory


def test_a_damaged_image_while_streaming_is_one_diagnostic(spec, tmp_path, capsys):
    root = image_folder(tmp_path / "imgs", per_class=8)
    bad = root / "test" / "c1" / "004.jpg"  # a test image: read by a worker (the statistics read training images)
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    status = main(["--no-color", "train", str(spec), "--data", f"folder:{root}", "--loader", "stream", "--workers", "1",
                   "--epochs", "1", "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith(f"error[E710]: cannot read the image {bad}: "), err
    assert err.count("error[") == 1 and "Traceback" not in err


WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch
    from archspec.pytorch.train.device import setup, teardown
    from archspec.pytorch.train.formats import Split
    from archspec.pytorch.train.stream import StreamData

    n, out = int(sys.argv[1]), sys.argv[2]
    rt = setup("cpu", False, 1)
    # sample i holds i in its first two pixels: what a batch holds tells which samples it read
    x = np.zeros((n, 1, 4, 4), dtype=np.uint8)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    data = StreamData(Split(x, np.zeros(n, dtype=np.int64)), (1, 4, 4), rt, 1.0, [0.0], [1.0], workers=2,
                      batch_size=10, seed=5)
    seen = {}
    for epoch in range(3):
        batches, steps = data.epoch(epoch)
        ids = []
        for xb, _ in batches:
            ids += (xb[:, 0, 0, 0].long() * 256 + xb[:, 0, 0, 1].long()).tolist()
        seen[epoch] = {"ids": ids, "steps": steps}
    seen["eval"] = [int(v) for xb, _ in data.eval_batches(7, rt.rank, rt.world)
                    for v in (xb[:, 0, 0, 0].long() * 256 + xb[:, 0, 0, 1].long()).tolist()]
    with open(f"{out}/rank{rt.rank}.json", "w") as f:
        json.dump({"world": rt.world, **{str(k): v for k, v in seen.items()}}, f)
    teardown(rt)
""")


@pytest.mark.slow
def test_two_processes_see_each_sample_once_per_epoch(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    n = 300
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(n), str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    orders = []
    for epoch in ("0", "1", "2"):
        a, b = ranks[0][epoch]["ids"], ranks[1][epoch]["ids"]
        assert ranks[0][epoch]["steps"] == ranks[1][epoch]["steps"] == 30  # 150 each, in batches of 10 / 2
        assert len(a) == len(b) == n // 2 and sorted(a + b) == list(range(n))  # each sample once, by one process
        orders.append(a)
    assert orders[0] != orders[1] != orders[2]  # a new order each epoch
    assert sorted(ranks[0]["eval"] + ranks[1]["eval"]) == list(range(n))


@pytest.mark.slow
def test_train_streams_under_torchrun(spec, folder, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "archspec", "train", str(spec), "--data", f"folder:{folder}", "--loader", "stream", "--workers", "1",
           "--epochs", "1", "--batch-size", "16", "--out", str(out), "--threads", "1", "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "data: streaming (--loader stream)" in p.stdout and p.stdout.count("Test accuracy") == 1
    assert json.loads((out / "test.json").read_text())["samples"] == 18
