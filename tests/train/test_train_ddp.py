"""`archspec train` under torchrun: two processes on the CPU (gloo), each on its share of the data, the
first one alone writing the run folder (issue 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_train_run import TINY

pytestmark = pytest.mark.slow  # two training processes


def test_two_processes_with_gloo(tmp_path):
    spec = tmp_path / "tiny.arch"
    spec.write_text(TINY)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "archspec", "train", str(spec), "--data", "synthetic:256", "--epochs", "2", "--out", str(out),
           "--threads", "1", "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("Test accuracy") == 1  # only the first process prints
    assert "process 1 of 2" in p.stdout
    settings = json.loads((out / "settings.json").read_text())
    assert settings["runtime"]["processes"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]  # written once per epoch, not once per process
    last = torch.load(out / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in last["model"])  # the plain module's weights, not DDP's
    test = json.loads((out / "test.json").read_text())
    assert test["samples"] == 51  # the whole test split, shared between the processes and summed
