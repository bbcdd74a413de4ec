"""Training settings: the spec's `training` parameter, a settings file and command-line options, in
that order of precedence (issue 6)."""

from __future__ import annotations

import json

import pytest

import archspec
from archspec.diagnostics import SpecError
from archspec.pytorch.train.config import TrainConfig, build_config, read_settings_file

SPEC = """network net(classes = 3, training = {"epochs": 7, "lr": 0.05, "optimizer": "sgd", "flip": true,
                                        "aux_weights": {"aux": 0.5}}):
    input 1x8x8
    flatten
    dense classes softmax
"""


def spec_params(text: str = SPEC) -> dict:
    return archspec.load(text).graph().params


def test_defaults():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.data) == (5, 64, "adam", "synthetic")
    assert cfg.resolved_lr() == 1e-3 and cfg.resolved_weight_decay() == 0
    assert TrainConfig(optimizer="sgd").resolved_lr() == 0.01
    assert TrainConfig(optimizer="adamw").resolved_weight_decay() == 0.01
    assert TrainConfig(epochs=9).resolved_step_epochs() == 3


def test_spec_then_file_then_command_line(tmp_path):
    f = tmp_path / "run.json"
    f.write_text(json.dumps({"epochs": 3, "batch-size": 16, "data": "synthetic:50"}))
    cfg, sources = build_config(spec_params(), f, {"epochs": 2, "lr": None, "seed": 4})
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.optimizer, cfg.flip, cfg.seed) == (2, 16, 0.05, "sgd", True, 4)
    assert cfg.aux_weights == {"aux": 0.5} and cfg.data == "synthetic:50"
    assert sources["epochs"] == "command line" and sources["batch_size"] == str(f) and sources["lr"] == "spec"
    assert "momentum" not in sources  # defaults are not listed


def test_bare_words_and_the_yaml_form(tmp_path):
    text = 'network n(training = {"schedule": cosine, "optimizer": sgd}):\n    input 4\n    dense 2\n'
    cfg, _ = build_config(spec_params(text))
    assert (cfg.schedule, cfg.optimizer) == ("cosine", "sgd")
    y = tmp_path / "n.yaml"
    y.write_text("network: n\nparams: {training: {epochs: 2, schedule: step}}\nbody:\n  - input 4\n  - dense 2\n")
    cfg, _ = build_config(archspec.load(y).graph().params)
    assert (cfg.epochs, cfg.schedule) == (2, "step")


def test_a_spec_without_training_settings():
    cfg, sources = build_config(spec_params("network n:\n    input 4\n    dense 2\n"))
    assert cfg == TrainConfig() and sources == {}


@pytest.mark.parametrize(("suffix", "text"), [
    (".toml", '[train]\nepochs = 4\nschedule = "cosine"\n'),
    (".yaml", "epochs: 4\nschedule: cosine\n"),
    (".yml", "train:\n  epochs: 4\n  schedule: cosine\n"),
])
def test_settings_files(tmp_path, suffix, text):
    f = tmp_path / f"s{suffix}"
    f.write_text(text)
    assert read_settings_file(f) == {"epochs": 4, "schedule": "cosine"}


@pytest.mark.parametrize(("values", "words"), [
    ({"epoch": 3}, ["unknown training setting `epoch`", "did you mean `epochs`"]),
    ({"optimizer": "adamm"}, ["one of sgd, adam, adamw", "`adam`"]),
    ({"epochs": 2.5}, ["whole number"]),
    ({"lr": "fast"}, ["is a number"]),
    ({"flip": 3}, ["true or false"]),
    ({"label_smoothing": 1.5}, ["below 1"]),
    ({"aux_weights": 0.3}, ["mapping of output names"]),
    ({"epochs": 0}, ["at least 1"]),
])
def test_bad_settings(values, words):
    with pytest.raises(SpecError) as e:
        build_config({}, None, values)
    d = e.value.diagnostic
    text = d.message + " " + (d.hint or "")
    assert d.code == "E202" and all(w in text for w in words), text


def test_run_settings_do_not_belong_in_the_spec():
    text = 'network n(training = {"device": "cuda"}):\n    input 4\n    dense 2\n'
    with pytest.raises(SpecError) as e:
        build_config(spec_params(text))
    assert "belongs to a run" in e.value.diagnostic.message and "--device" in (e.value.diagnostic.hint or "")


def test_training_parameter_must_be_a_mapping():
    with pytest.raises(SpecError) as e:
        build_config(spec_params("network n(training = 3):\n    input 4\n    dense 2\n"))
    assert "mapping of training settings" in e.value.diagnostic.message


def test_unreadable_settings_file(tmp_path):
    f = tmp_path / "s.json"
    f.write_text("{nope")
    with pytest.raises(SpecError) as e:
        build_config({}, f)
    assert e.value.diagnostic.code == "E102"
    with pytest.raises(SpecError) as e:
        build_config({}, tmp_path / "missing.json")
    assert e.value.diagnostic.code == "E500"
    import os

    os.mkfifo(tmp_path / "fifo.json")  # reading it would block until a writer comes
    with pytest.raises(SpecError) as e:
        build_config({}, tmp_path / "fifo.json")
    assert e.value.diagnostic.code == "E102" and "is not a regular file" in e.value.diagnostic.message


def test_the_guide_lists_every_setting_and_option():
    import argparse
    from dataclasses import fields
    from pathlib import Path

    from archspec.cli.train import train_options

    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text(encoding="utf-8")
    missing = [f.name for f in fields(TrainConfig) if f"| `{f.name}`" not in text]
    p = argparse.ArgumentParser()
    train_options(p)
    options = [o for a in p._actions for o in a.option_strings if o.startswith("--") and not o.startswith("--no-")]
    missing += [o for o in options if o != "--help" and f"`{o}" not in text]
    assert not missing, f"docs/training.md does not mention {missing}"
