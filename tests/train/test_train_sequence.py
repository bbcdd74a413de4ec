"""Training on token ids (issue 14): the built-in sequence task, npz files of ids checked against the
vocabulary, and lstm_classifier trained from the command line at a reduced size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rich.console import Console

from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.pytorch.train import data, synthetic
from archspec.train import evaluate, train

SMALL = ["--set", "steps=20", "--set", "vocab=60", "--set", "dim=16", "--set", "hidden=32"]


def test_the_sequence_task_labels_the_majority_key():
    x, y = synthetic.sequences(500, (40,), 100, 5, seed=3)
    assert x.shape == (500, 40) and x.dtype == np.int64 and y.shape == (500,)
    assert x.min() >= 0 and x.max() < 100 and set(np.unique(y)) == set(range(5))
    counts = np.stack([(x == k).sum(axis=1) for k in range(5)], axis=1)
    assert (counts[np.arange(500), y] == counts.max(axis=1)).all()  # the label's key is seen most often
    again, _ = synthetic.sequences(500, (40,), 100, 5, seed=3)
    assert np.array_equal(x, again)


def test_load_gives_token_ids_not_normalised():
    ds = data.load("synthetic:200", (30,), classes=4, vocab=50)
    assert ds.tokens == 50 and ds.train.x.dtype == np.int64 and ds.train.x.shape == (200, 30)
    assert len(ds.test) == 40 and (ds.scale, ds.mean, ds.std) == (1.0, [0.0], [1.0])


def test_a_vocabulary_too_small_for_the_task_is_a_diagnostic():
    with pytest.raises(SpecError) as e:
        data.load("synthetic:50", (10,), classes=5, vocab=4)
    assert e.value.diagnostic.code == "E300" and "vocabulary of at least 6" in e.value.diagnostic.message


def test_npz_ids_beyond_the_vocabulary_are_one_diagnostic(tmp_path):
    f = tmp_path / "ids.npz"
    x = np.random.default_rng(0).integers(0, 20, (30, 8))
    x[4, 2] = 57
    np.savez(f, x=x, y=np.arange(30) % 3)
    with pytest.raises(SpecError) as e:
        data.load(f"npz:{f}", (8,), classes=3, vocab=20)
    d = e.value.diagnostic
    assert d.code == "E710" and "token id 57" in d.message and "vocabulary of 20" in d.message
    ds = data.load(f"npz:{f}", (8,), classes=3, vocab=60)
    assert ds.train.x.dtype == np.int64 and len(ds.train) + len(ds.test) == 30


def test_images_for_token_ids_are_refused():
    with pytest.raises(SpecError) as e:
        data.load("mnist:/nonexistent", (10,), classes=3, vocab=20)
    assert e.value.diagnostic.code == "E710" and "token ids" in e.value.diagnostic.message


def test_lstm_classifier_trains_on_the_sequence_task(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "lstm_classifier", *SMALL, "--epochs", "3", "--data", "synthetic:1500", "--out", str(out),
                 "--threads", "1", "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "synthetic token sequences" in text and "Test accuracy" in text
    assert " seq/s " in text and "img/s" not in text  # sequences a second
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["test_acc"] > 0.5  # 5 classes: chance is 0.2
    params = {"steps": 20, "vocab": 60, "dim": 16, "hidden": 32}
    ev = evaluate("lstm_classifier", out / "best.pt", params=params, data="synthetic:1500", threads=1,
                  console=Console(quiet=True))
    assert ev["acc"] == pytest.approx(best["test_acc"])


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_other_cells_train_too(tmp_path, cell):
    r = train("lstm_classifier", params={"steps": 12, "vocab": 40, "dim": 8, "hidden": 16, "layers": 1, "cell": cell},
              out=tmp_path / cell, epochs=1, data="synthetic:300", threads=1, progress=False,
              console=Console(quiet=True))
    assert r.status == "done" and r.test_acc is not None


# -- next-token prediction on the built-in text (gpt2.arch at a reduced size) ----------------------------

def test_the_built_in_text_gives_next_token_windows():
    from archspec.pytorch.train import corpus

    ds = data.load("synthetic:300", (24,), classes=128, vocab=128, next_token=True)
    assert ds.train.x.shape == ds.train.y.shape == (300, 24) and len(ds.test) == 60
    assert (ds.train.x[:, 1:] == ds.train.y[:, :-1]).all()  # each label is the next character
    text = "".join(chr(i) for i in ds.train.x[0])
    assert text in corpus.TEXT
    small = data.load("synthetic:50", (16,), classes=60, vocab=60, next_token=True)  # the text's own characters
    assert small.train.x.max() < 60 and len(small.classes) == len(set(corpus.TEXT))
    with pytest.raises(SpecError) as e:
        data.load("synthetic:50", (16,), classes=20, vocab=20, next_token=True)
    assert e.value.diagnostic.code == "E300" and "distinct characters" in e.value.diagnostic.message


GPT_SMALL = ["--set", "layers=1", "--set", "width=32", "--set", "heads=2", "--set", "context=32", "--set", "vocab=128",
             "--set", "dropout=0.0"]


def test_reduced_gpt2_learns_the_built_in_text(tmp_path, capsys):
    out = tmp_path / "gpt"
    code = main(["train", "gpt2", *GPT_SMALL, "--epochs", "2", "--data", "synthetic:1000", "--optimizer", "adamw",
                 "--lr", "0.003", "--out", str(out), "--threads", "1", "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "the built-in text" in text and "per position" in text
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["test_acc"] > 0.15  # the most frequent character (a space) is about 0.17; chance 1/128
    history = [float(line.split('"test_loss": ')[1].split(",")[0]) for line in (out / "metrics.jsonl").read_text()
               .splitlines() if '"test_loss"' in line]
    assert history[-1] < np.log(128)  # below a uniform guess
