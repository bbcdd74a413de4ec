"""Faults during training (issue 7): a run killed at any moment resumes from a complete checkpoint and
ends with the same weights, bit for bit, as an uninterrupted run with the same seed on the CPU; a full
disk or an unwritable output folder is reported before training starts.

Kill-and-resume trials run `archspec train` in a subprocess and SIGKILL it: right after a checkpoint
appears, at random moments, and at two moments forced by a pause injected into the subprocess (halfway
through writing a checkpoint, and between writing it and renaming it into place). The number of random
trials follows the hypothesis profile (one by default, 25 with `--hypothesis-profile=long`).
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fuzz_helpers import examples
from rich.console import Console

from archspec.diagnostics import SpecError

pytestmark = pytest.mark.slow  # fault injection: killed processes, full disks

torch = pytest.importorskip("torch")
pytest.importorskip("numpy")
train_run = pytest.importorskip("archspec.pytorch.train.run")

SPEC = """network tiny(classes = 4, training = {"epochs": 4, "batch_size": 32, "lr": 0.01}):
    input 1x12x12
    conv 8 3x3 pad=1 relu
    maxpool 2
    flatten
    dropout 0.2
    dense classes softmax
"""
# random augmentation, dropout and a schedule: every random generator's state must survive the kill
RECIPE = ["--data", "synthetic:600", "--threads", "1", "--seed", "3", "--device", "cpu", "--schedule", "cosine",
          "--flip", "--crop", "1"]

# The subprocess: `archspec train`, optionally pausing (and saying so in a file) at the Nth write of
# last.pt, either halfway through the bytes or after the whole temporary file, before its rename.
RUNNER = textwrap.dedent("""
    import os, sys, time
    pause = os.environ.get("FAULT_PAUSE")  # "write:N" or "replace:N"
    if pause:
        where, nth = pause.split(":")
        nth, seen = int(nth), [0]
        flag = os.environ.get("FAULT_FLAG", "")
        def hold():
            open(flag, "w").close()
            time.sleep(600)
        if where == "enospc":  # the disk fills up at the Nth checkpoint
            import errno
            import archspec.files as files
            real_write = files.write_atomic
            def write_atomic(path, data):
                if str(path).endswith("last.pt"):
                    seen[0] += 1
                    if seen[0] == nth:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                return real_write(path, data)
            files.write_atomic = write_atomic
        elif where == "replace":
            real_replace = os.replace
            def replace(src, dst, *a, **k):
                if str(dst).endswith("last.pt"):
                    seen[0] += 1
                    if seen[0] == nth:
                        hold()
                return real_replace(src, dst, *a, **k)
            os.replace = replace
        else:
            real_fdopen = os.fdopen
            class Torn:
                def __init__(self, f):
                    self.f = f
                def __enter__(self):
                    return self
                def __exit__(self, *exc):
                    return self.f.__exit__(*exc)
                def write(self, data):
                    self.f.write(data[: len(data) // 2])
                    self.f.flush()
                    hold()
                    return self.f.write(data[len(data) // 2:])
            def fdopen(fd, *a, **k):
                f = real_fdopen(fd, *a, **k)
                caller = sys._getframe(1)
                if caller.f_code.co_name == "write_atomic" and str(caller.f_locals.get("path", "")).endswith("last.pt"):
                    seen[0] += 1
                    if seen[0] == nth:
                        return Torn(f)
                return f
            os.fdopen = fdopen
    from archspec.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _train(folder: Path, out: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(folder / "runner.py"), "--no-color", "train", "net.arch",
                             "--out", out, *RECIPE, *extra], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1", **(env or {})})


def _finish(p: subprocess.Popen[bytes]) -> None:
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()[-3000:]


def _kill(p: subprocess.Popen[bytes]) -> None:
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An uninterrupted run (its folder, and how long it took)."""
    folder = tmp_path_factory.mktemp("faults")
    (folder / "net.arch").write_text(SPEC)
    (folder / "runner.py").write_text(RUNNER)
    t = time.perf_counter()
    _finish(_train(folder, "whole"))
    return folder, time.perf_counter() - t


def _checkpoint_epoch(out: Path) -> int | None:
    """The epoch of the checkpoint in `out`, which must load whole (None when there is none yet)."""
    if not (out / "last.pt").exists():
        return None
    ckpt = torch.load(out / "last.pt", weights_only=True)  # a torn file would fail here
    assert set(ckpt["model"]) == set(_weights(out.parent / "whole" / "last.pt"))
    return int(ckpt["epoch"])


def _resume_to_the_end(folder: Path, out: str, rng: random.Random | None = None, kills: int = 0) -> None:
    """Continue the run (killing the continuation `kills` more times at random), and check that it ends
    with the uninterrupted run's weights and a metrics file of one line per epoch."""
    for attempt in range(kills + 1):
        epoch = _checkpoint_epoch(folder / out)
        p = _train(folder, out, *(["--resume"] if epoch is not None else []))
        if attempt < kills and rng is not None:
            time.sleep(rng.uniform(0, 4))
            if p.poll() is None:
                _kill(p)
                continue
        _finish(p)
        break
    a, b = _weights(folder / "whole" / "last.pt"), _weights(folder / out / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "weights differ after resuming"
    rows = [json.loads(line) for line in (folder / out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert json.loads((folder / out / "test.json").read_text()) == json.loads((folder / "whole" / "test.json").read_text())
    left = [p.name for p in (folder / out).iterdir() if p.name.startswith(".")]
    assert not left, f"temporary files left in the run folder after resuming: {left}"  # issue 18, item 3
    best, last = _weights(folder / out / "best.pt"), torch.load(folder / out / "last.pt", weights_only=True)
    assert torch.load(folder / out / "best.pt", weights_only=True)["epoch"] == last["best"]["epoch"]
    assert best.keys() == last["model"].keys()


RANDOM_TRIALS = max(1, examples(0.05))


@pytest.mark.parametrize("trial", range(RANDOM_TRIALS))
def test_killed_at_random_moments_and_resumed(reference: tuple[Path, float], trial: int) -> None:
    """Killed once (right after a checkpoint appears, or at a random moment), then the continuation
    killed again at a random moment, then resumed to the end."""
    folder, seconds = reference
    rng = random.Random(trial)
    out = f"random{trial}"
    p = _train(folder, out)
    if trial % 2 == 0:  # right after a checkpoint appears, a few milliseconds into what follows it
        deadline = time.monotonic() + 120
        while not (folder / out / "last.pt").exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
    else:
        time.sleep(rng.uniform(0.2, seconds))
    if p.poll() is None:
        _kill(p)
    else:  # it finished first
        p.communicate()
    _checkpoint_epoch(folder / out)
    _resume_to_the_end(folder, out, rng, kills=1)


def test_killed_while_writing_a_checkpoint(reference: tuple[Path, float]) -> None:
    """Killed halfway through the bytes of epoch 2's checkpoint; then the continuation killed after
    writing it again but before its rename: last.pt is still epoch 1's, whole, each time."""
    folder, _ = reference
    out = "torn"
    for pause in ("write:2", "replace:1"):
        flag = folder / f"paused-{pause.replace(':', '-')}"
        resume = ["--resume"] if (folder / out / "last.pt").exists() else []
        p = _train(folder, out, *resume, env={"FAULT_PAUSE": pause, "FAULT_FLAG": str(flag)})
        deadline = time.monotonic() + 120
        while not flag.exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.01)
        assert flag.exists(), f"the run never reached the pause at {pause}"
        _kill(p)
        assert _checkpoint_epoch(folder / out) == 1
        assert list((folder / out).glob(".last.pt.*")), "the temporary file should be left behind"
    _resume_to_the_end(folder, out)


def test_a_disk_that_fills_up_during_the_run(reference: tuple[Path, float]) -> None:
    """No space left for epoch 2's checkpoint: a diagnostic (it was an internal error, exit 70) naming
    the last complete checkpoint; once there is space, --resume ends as the uninterrupted run."""
    folder, _ = reference
    p = _train(folder, "full", env={"FAULT_PAUSE": "enospc:2"})
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2, err.decode()[-3000:]
    assert "error[E202]: cannot write the checkpoint of epoch 2" in err.decode() and "--resume" in err.decode()
    assert "Traceback" not in err.decode()
    assert _checkpoint_epoch(folder / "full") == 1
    _resume_to_the_end(folder, "full")


# -- the output folder ---------------------------------------------------------------------------------

def _quiet_train(path: Path, **kw: object) -> object:
    return train_run.train(path, progress=False, console=Console(quiet=True), data="synthetic:64", threads=1,
                           epochs=1, **kw)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if an epoch starts: the problem must be reported before training."""
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(train_run.loop, "train_epoch", refuse)


def test_a_full_disk_is_reported_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 no_training: None) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**40, 2**40 - 2**20, 2**20))  # 1 MiB free
    (tmp_path / "net.arch").write_text(SPEC)
    with pytest.raises(SpecError) as e:
        _quiet_train(tmp_path / "net.arch", out=tmp_path / "run")
    d = e.value.diagnostic
    assert d.code == "E202" and "MiB free" in d.message and "--out" in (d.hint or "")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_read_only_output_folder_is_reported_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               no_training: None) -> None:
    (tmp_path / "net.arch").write_text(SPEC)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anywhere: make the folder refuse writes as a read-only mount does
            import tempfile

            real = tempfile.mkstemp

            def mkstemp(*a: object, dir: object = None, **k: object) -> tuple[int, str]:
                if dir is not None and Path(str(dir)).is_relative_to(ro):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS))
                return real(*a, dir=dir, **k)  # type: ignore[arg-type]

            monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        with pytest.raises(SpecError) as e:
            _quiet_train(tmp_path / "net.arch", out=ro / "run")
        assert "cannot write to the output folder" in e.value.diagnostic.message
    finally:
        ro.chmod(0o755)


def test_the_command_line_reports_them_with_exit_status_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], no_training: None) -> None:
    import shutil
    from collections import namedtuple

    from archspec.cli import main

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**40, 2**40, 0))
    (tmp_path / "net.arch").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    rc = main(["--no-color", "train", "net.arch", "--out", "run", "--data", "synthetic:64", "--epochs", "1",
               "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "error[E202]" in err and "Traceback" not in err
