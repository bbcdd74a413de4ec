"""Damaged and invalid checkpoints (issue 11, item 24; issue 18, items 3, 7, 8, 22): each kind of damage
is one diagnostic naming the file and what is wrong with it, for each use of a checkpoint (`--resume`,
`archspec evaluate`, `--init`), never an internal error, and nothing is trained on or written.

The table's damaged files are made from a real run's `last.pt`: bytes cut, flipped inside a tensor's
data, replaced; or entries changed and the file written again with valid checksums (a crafted file, which
only the structure checks can catch), or as a version-1 file (no checksums)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from rich.console import Console  # noqa: E402

from archspec.cli import main  # noqa: E402
from archspec.diagnostics import SpecError  # noqa: E402
from archspec.pytorch.train import checkpoint  # noqa: E402
from archspec.train import evaluate, train  # noqa: E402

SPEC = """network tiny(classes = 4, training = {"epochs": 2, "batch_size": 32, "lr": 0.01}):
    input 1x12x12
    conv 8 3x3 pad=1 relu
    maxpool 2
    flatten
    dense classes softmax
"""
QUIET = {"progress": False, "console": Console(quiet=True), "threads": 1}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch run: base/net.arch and base/run/ (last.pt, best.pt, ...)."""
    folder = tmp_path_factory.mktemp("ckpt")
    (folder / "net.arch").write_text(SPEC)
    r = train(folder / "net.arch", out=folder / "run", data="synthetic:200", **QUIET)
    assert r.status == "done"
    return folder


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)  # type: ignore[no-any-return]


# -- how each damaged file is made from last.pt ---------------------------------------------------------

Maker = Callable[[Path, Path], None]


def raw(change: Callable[[bytes, dict[str, Any]], bytes]) -> Maker:
    """The file's bytes changed."""
    def make(src: Path, dst: Path) -> None:
        dst.write_bytes(change(src.read_bytes(), _load(src)))
    return make


def resaved(change: Callable[[dict[str, Any]], Any]) -> Maker:
    """An entry changed, then written again as archspec writes it, with checksums that match (crafted)."""
    def make(src: Path, dst: Path) -> None:
        ck = _load(src)
        change(ck)
        for key in ("format", "version", "checksums"):
            ck.pop(key, None)
        checkpoint.save(dst, ck)
    return make


def version1(change: Callable[[dict[str, Any]], Any] = lambda ck: None) -> Maker:
    """An entry changed, written as a version-1 checkpoint (before checksums)."""
    def make(src: Path, dst: Path) -> None:
        ck = _load(src)
        change(ck)
        ck.pop("checksums")
        ck["version"] = 1
        torch.save(ck, dst)
    return make


def saved(value: Callable[[dict[str, Any]], Any]) -> Maker:
    """Something else saved with torch.save."""
    def make(src: Path, dst: Path) -> None:
        torch.save(value(_load(src)), dst)
    return make


def flip_inside(tensor: Callable[[dict[str, Any]], torch.Tensor]) -> Maker:
    """One byte flipped in the middle of a tensor's data (found verbatim: torch.save stores it uncompressed)."""
    def change(data: bytes, ck: dict[str, Any]) -> bytes:
        t = tensor(ck).contiguous()
        needle = t.numpy().tobytes()
        at = data.find(needle)
        assert at > 0 and data.find(needle, at + 1) < 0
        i = at + len(needle) // 2
        return data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]
    return raw(change)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set an entry by a path of keys separated by `/` (numbers index lists and the optimizer's state);
    the value DELETE removes it, a function maps the old value."""
    def key(d: Any, k: str) -> Any:
        return int(k) if isinstance(d, list) or (k.isdigit() and int(k) in d) else k

    def change(ck: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        d: Any = ck
        for p in parents:
            d = d[key(d, p)]
        k = key(d, last)
        if value is DELETE:
            del d[k]
        else:
            d[k] = value(d[k]) if callable(value) else value
    return change


DELETE = object()
FIRST = "conv1.weight"  # the first layer's weight, as the compiler names it (checked in the fixture test)

# (id, how the file is made, {use: (code, words of the message)}); a use left out works
OK = None
TABLE: list[tuple[str, Maker, dict[str, tuple[str, str] | None]]] = [
    ("empty", raw(lambda b, ck: b""), {u: ("E700", "is empty (0 bytes)") for u in ("resume", "evaluate", "init")}),
    ("truncated", raw(lambda b, ck: b[: len(b) // 2]),
     {u: ("E700", "is damaged or not a checkpoint") for u in ("resume", "evaluate", "init")}),
    ("random bytes", raw(lambda b, ck: os.urandom(4096)),
     {u: ("E700", "is damaged or not a checkpoint") for u in ("resume", "evaluate", "init")}),
    ("flipped weights", flip_inside(lambda ck: ck["model"][FIRST]),
     {u: ("E700", "model's weights do not match the checksum") for u in ("resume", "evaluate", "init")}),
    ("flipped optimizer state", flip_inside(lambda ck: ck["optimizer"]["state"][0]["exp_avg"]),
     {"resume": ("E700", "`optimizer` entry does not match the checksum"), "evaluate": OK, "init": OK}),
    ("code in a pickle", saved(lambda ck: {**ck, "extra": _Evil()}),
     {u: ("E700", "holds objects other than tensors") for u in ("resume", "evaluate", "init")}),
    ("a list", saved(lambda ck: [1, 2, 3]), {u: ("E700", "holds a list") for u in ("resume", "evaluate", "init")}),
    ("plain state dict", saved(lambda ck: ck["model"]),
     {"resume": ("E700", "holds a plain state dict"), "evaluate": ("E700", "holds a plain state dict"), "init": OK}),
    ("lightning-style state dict", saved(lambda ck: {"state_dict": ck["model"], "epoch": 3}),
     {"resume": ("E700", "holds a plain state dict"), "evaluate": ("E700", "holds a plain state dict"), "init": OK}),
    ("no weights at all", saved(lambda ck: {"epoch": 3, "note": "x"}),
     {"resume": ("E700", "not a checkpoint of `archspec train`"), "evaluate": ("E700", "not a checkpoint of"),
      "init": ("E700", "holds no model weights")}),
    ("newer version", saved(lambda ck: {**ck, "version": 99}),
     {u: ("E700", "has version 99") for u in ("resume", "evaluate", "init")}),
    ("no checksums", saved(lambda ck: {k: v for k, v in ck.items() if k != "checksums"}),
     {u: ("E700", "has no checksums") for u in ("resume", "evaluate", "init")}),
    ("no settings", resaved(_set("settings", DELETE)),
     {"resume": ("E700", "has no `settings` entry"), "evaluate": ("E700", "has no `settings` entry"), "init": OK}),
    ("no rng", resaved(_set("rng", DELETE)), {"resume": ("E700", "has no `rng` entry"), "evaluate": OK, "init": OK}),
    ("no optimizer", resaved(_set("optimizer", DELETE)),
     {"resume": ("E700", "has no `optimizer` entry"), "evaluate": OK, "init": OK}),
    ("epoch is text", resaved(_set("epoch", "2")),
     {"resume": ("E700", "`epoch` entry: '2' is not a whole number"), "evaluate": OK, "init": OK}),
    ("epoch -5", resaved(_set("epoch", -5)), {"resume": ("E700", "epoch -5"), "evaluate": OK, "init": OK}),
    ("epoch beyond the run", resaved(_set("epoch", 99)),
     {"resume": ("E700", "epoch 99 is beyond the run's 2 epochs"), "evaluate": OK, "init": OK}),
    ("unknown setting", resaved(_set("settings/warp_speed", 9)),
     {"resume": ("E700", "unknown training setting `warp_speed`"),
      "evaluate": ("E700", "unknown training setting `warp_speed`"), "init": OK}),
    ("negative learning rate", resaved(_set("settings/lr", -1.0)),
     {"resume": ("E700", "`lr` is a finite number ≥ 0, got -1.0"),
      "evaluate": ("E700", "`lr` is a finite number ≥ 0, got -1.0"), "init": OK}),
    ("settings not a mapping", resaved(_set("settings", [1, 2])),
     {"resume": ("E700", "`settings` entry: a list"), "evaluate": ("E700", "`settings` entry: a list"), "init": OK}),
    ("torch generator state cut", resaved(_set("rng/torch", lambda t: t[:100])),
     {"resume": ("E700", "the `torch` state is not 5,056 bytes"), "evaluate": OK, "init": OK}),
    ("python generator state bad", resaved(_set("rng/python", (3, (1, 2, 3), None))),
     {"resume": ("E700", "the `python` state is not Python's"), "evaluate": OK, "init": OK}),
    ("other parameter groups", resaved(_set("optimizer/param_groups", lambda gs: [
        {**gs[0], "params": gs[0]["params"][:2]}, {**gs[0], "params": gs[0]["params"][2:]}])),
     {"resume": ("E700", "parameter groups of [2, 2] tensors; this run's optimizer has [4]"), "evaluate": OK,
      "init": OK}),
    ("optimizer state of another shape", resaved(_set("optimizer/state/0/exp_avg", lambda t: t[:1])),
     {"resume": ("E700", "optimizer state `exp_avg` of parameter 0 of shape"), "evaluate": OK, "init": OK}),
    ("optimizer state without exp_avg_sq", resaved(_set("optimizer/state/1/exp_avg_sq", DELETE)),
     {"resume": ("E700", "optimizer state of parameter 1 without exp_avg_sq"), "evaluate": OK, "init": OK}),
    ("optimizer learning rate -1", resaved(_set("optimizer/param_groups/0/lr", -1.0)),
     {"resume": ("E700", "`lr` is -1.0, below 0"), "evaluate": OK, "init": OK}),
    ("a schedule the run has not", resaved(_set("scheduler", {"last_epoch": 3})),
     {"resume": ("E700", "has a `scheduler` state, this run has none"), "evaluate": OK, "init": OK}),
    ("history too short", resaved(_set("history", lambda h: h[:1])),
     {"resume": ("E700", "not a list of one row per epoch (2 epochs)"), "evaluate": OK, "init": OK}),
    ("history with text", resaved(_set("history/1/train_loss", "low")),
     {"resume": ("E700", "row 2 has no number `train_loss`"), "evaluate": OK, "init": OK}),
    ("best after a later epoch", resaved(_set("best/epoch", 7)),
     {"resume": ("E700", "its epoch 7 is not one of the run's epochs so far"), "evaluate": OK, "init": OK}),
    ("bad normalisation", resaved(_set("data/std", lambda s: [0.0] * len(s))),
     {"resume": ("E700", "`std` one that is not above 0"), "evaluate": ("E700", "`std` one that is not above 0"),
      "init": OK}),
    ("a weight that is text", resaved(_set(f"model/{FIRST}", "w")),
     {u: ("E700", f"`{FIRST}` is a str, not a tensor") for u in ("resume", "evaluate", "init")}),
    ("a missing weight", resaved(_set(f"model/{FIRST}", DELETE)),
     {"resume": ("E701", "does not fit this network"), "evaluate": ("E701", "does not fit this network"),
      "init": OK}),
    ("a weight of another shape", resaved(_set(f"model/{FIRST}", lambda t: t[:4])),
     {"resume": ("E701", "does not fit this network"), "evaluate": ("E701", "does not fit this network"),
      "init": OK}),
    ("parameters changed since the run", resaved(_set("params", {"classes": 5})),
     {"resume": ("E701", "does not fit this network"), "evaluate": ("E701", "does not fit this network"),
      "init": OK}),
    ("version 1, whole", version1(), {"resume": OK, "evaluate": OK, "init": OK}),
    ("version 1, epoch -5", version1(_set("epoch", -5)), {"resume": ("E700", "epoch -5"), "evaluate": OK, "init": OK}),
    ("version 1, no optimizer", version1(_set("optimizer", DELETE)),
     {"resume": ("E700", "has no `optimizer` entry"), "evaluate": OK, "init": OK}),
]
USES = ("resume", "evaluate", "init")


def test_the_fixture_names_the_first_layer_as_the_table_does(base: Path) -> None:
    assert FIRST in _load(base / "run" / "last.pt")["model"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("case", TABLE, ids=[c[0] for c in TABLE])
def test_a_damaged_checkpoint_is_one_diagnostic_naming_the_file(base: Path, tmp_path: Path, case: Any, use: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    name, make, expect = case
    outcome = expect.get(use)
    spec = base / "net.arch"
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    target = run / "last.pt"
    make(base / "run" / "last.pt", target)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(run)
    try:
        if use == "resume":
            train(spec, out=run, resume=True, **QUIET)
        elif use == "evaluate":
            evaluate(spec, target, threads=1, console=Console(quiet=True))
        else:
            r = train(spec, out=tmp_path / "new", init=target, epochs=1, data="synthetic:64", **QUIET)
            assert r.status == "done"
    except SpecError as e:
        d = e.diagnostic
        assert outcome is not None, f"{name} / {use}: refused, expected to work: {d.message}"
        code, words = outcome
        assert (d.code, str(target) in d.message, words in d.message) == (code, True, True), d.message
        assert d.hint, "a damaged checkpoint's diagnostic says what to do"
        assert _snapshot(run) == before, "nothing is written when the checkpoint is refused"
        if use == "resume" and code == "E700" and "model" not in d.message:
            assert f"--init {target}" in d.hint or "start a new run" in d.hint
    else:
        assert outcome is None, f"{name} / {use}: accepted, expected {outcome}"
    assert not (tmp_path / "PWNED").exists()


def test_a_directory_in_place_of_a_checkpoint(base: Path, tmp_path: Path) -> None:
    (tmp_path / "ckpt.pt").mkdir()
    with pytest.raises(SpecError) as e:
        evaluate(base / "net.arch", tmp_path / "ckpt.pt", threads=1, console=Console(quiet=True))
    assert e.value.diagnostic.code == "E700" and "is not a regular file" in e.value.diagnostic.message


def test_the_command_line_shows_the_diagnostic_with_exit_status_2(base: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    (run / "last.pt").write_bytes(b"")
    assert main(["--no-color", "train", str(base / "net.arch"), "--out", str(run), "--resume", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert f"error[E700]: the checkpoint {run / 'last.pt'} is empty (0 bytes)" in err and "Traceback" not in err
    assert "start a new run" in err


def test_a_changed_spec_is_refused_on_resume_naming_the_checkpoint(base: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    changed = tmp_path / "net.arch"
    changed.write_text(SPEC.replace("conv 8", "conv 6"))
    with pytest.raises(SpecError) as e:
        train(changed, out=run, resume=True, **QUIET)
    d = e.value.diagnostic
    assert d.code == "E701" and "changed since the run started" in d.message and str(run / "last.pt") in d.message
    assert f"--init {run / 'last.pt'}" in (d.hint or "")


def test_checkpoints_carry_a_checksum_of_every_entry(base: Path) -> None:
    """sha256 of each tensor's bytes in state-dict order (with its name, dtype and shape): recomputed here
    with hashlib from the loaded tensors."""
    import hashlib

    ck = _load(base / "run" / "best.pt")
    assert ck["version"] == 2 and set(ck["checksums"]) == set(ck) - {"format", "version", "checksums"}
    h = hashlib.sha256()
    h.update(f"{{{len(ck['model'])}".encode())
    for k, t in ck["model"].items():
        h.update(repr(("str", k)).encode())
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.contiguous().numpy().tobytes())
    assert ck["checksums"]["model"] == h.hexdigest()


# -- best.pt and last.pt (issue 18, item 3) -------------------------------------------------------------------

THREE = SPEC.replace('"epochs": 2', '"epochs": 3')


def _three_epochs(tmp_path: Path) -> tuple[Path, Any]:
    spec = tmp_path / "net3.arch"
    spec.write_text(THREE)
    whole = train(spec, out=tmp_path / "whole", data="synthetic:200", seed=3, **QUIET)
    accs = [row["test_acc"] for row in whole.history]
    assert accs[2] > max(accs[:2]), accs  # the run's third epoch is its best: a best.pt is written at the end
    return spec, whole


def test_killed_between_best_and_last_at_the_final_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """best.pt of epoch 3 written, then the run killed before last.pt (a KeyboardInterrupt in the write, which
    leaves the files a kill leaves): the resumed run reports the best that best.pt holds, and ends as the
    uninterrupted run did."""
    spec, whole = _three_epochs(tmp_path)
    real_save = checkpoint.save
    writes: list[str] = []

    def save(path: Any, payload: dict[str, Any]) -> None:
        writes.append(f"{Path(path).name}:{payload['epoch']}")
        if Path(path).name == "last.pt" and payload["epoch"] == 3:
            raise KeyboardInterrupt
        real_save(path, payload)

    monkeypatch.setattr(checkpoint, "save", save)
    cut = train(spec, out=tmp_path / "cut", data="synthetic:200", seed=3, **QUIET)
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert cut.status == "interrupted" and writes[-2:] == ["best.pt:3", "last.pt:3"]  # best first
    assert (_load(tmp_path / "cut" / "best.pt")["epoch"], _load(tmp_path / "cut" / "last.pt")["epoch"]) == (3, 2)
    resumed = train(spec, out=tmp_path / "cut", resume=True, **QUIET)
    assert any("best.pt holds epoch 3" in n for n in resumed.notes)
    assert (resumed.best_epoch, resumed.best_acc) == (3, whole.best_acc) == (_load(tmp_path / "cut" / "best.pt")["epoch"],
                                                                            whole.best_acc)
    a, b = _load(tmp_path / "whole" / "best.pt")["model"], _load(tmp_path / "cut" / "best.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "cut" / "test.json").read_text()) == json.loads((tmp_path / "whole" / "test.json").read_text())


def test_a_run_whose_best_pt_lags_behind_last_pt_reports_best_pt(tmp_path: Path) -> None:
    """The state an older archspec left when killed between last.pt and best.pt at the final epoch:
    last.pt says "best after epoch 3", best.pt holds epoch 2. The resumed run says what best.pt holds."""
    spec = tmp_path / "net3.arch"
    spec.write_text(THREE)
    kept: dict[int, bytes] = {}

    def keep(epoch: int, row: dict[str, Any]) -> None:
        kept[epoch] = (tmp_path / "old" / "best.pt").read_bytes()

    old = train(spec, out=tmp_path / "old", data="synthetic:200", seed=3, on_epoch_end=keep, **QUIET)
    assert old.best_epoch == 3
    (tmp_path / "old" / "best.pt").write_bytes(kept[2])
    epoch2 = _load(tmp_path / "old" / "best.pt")
    assert epoch2["epoch"] == 2 and _load(tmp_path / "old" / "last.pt")["best"]["epoch"] == 3
    resumed = train(spec, out=tmp_path / "old", resume=True, **QUIET)
    assert (resumed.best_epoch, resumed.best_acc) == (2, epoch2["test_acc"])
    assert json.loads((tmp_path / "old" / "test.json").read_text())["best_epoch"] == 2


def test_a_damaged_best_pt_is_named_on_resume(base: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    (run / "best.pt").write_bytes((run / "best.pt").read_bytes()[:1000])
    with pytest.raises(SpecError) as e:
        train(base / "net.arch", out=run, resume=True, **QUIET)
    d = e.value.diagnostic
    assert d.code == "E700" and str(run / "best.pt") in d.message and "delete it" in (d.hint or "")


def test_resume_removes_the_temporary_files_of_an_interrupted_write(base: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    (run / ".last.pt.k3x_9qa2").write_bytes(b"\0" * 1000)
    (run / ".metrics.jsonl.abcdefgh").write_text("")
    (run / ".last.pt.notours").write_text("kept: not a name that mkstemp makes")
    r = train(base / "net.arch", out=run, resume=True, **QUIET)
    assert not (run / ".last.pt.k3x_9qa2").exists() and not (run / ".metrics.jsonl.abcdefgh").exists()
    assert (run / ".last.pt.notours").exists()
    assert any("removed 2 temporary files" in n for n in r.notes)


# -- paths (issue 18, item 22) ---------------------------------------------------------------------------------

def test_the_data_path_is_stored_absolute_and_evaluate_works_from_another_folder(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    here = tmp_path / "project"
    (here / "data").mkdir(parents=True)
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    np.savez(here / "data" / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    (here / "n.arch").write_text("network n:\n    input 4\n    dense 2 softmax\n")
    monkeypatch.chdir(here)
    train("n.arch", out="run", data="npz:data/d.npz", epochs=1, **QUIET)
    ck = _load(here / "run" / "best.pt")
    assert ck["settings"]["data"] == f"npz:{here / 'data' / 'd.npz'}"
    assert json.loads((here / "run" / "settings.json").read_text())["settings"]["data"] == ck["settings"]["data"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ev = evaluate(here / "n.arch", here / "run" / "best.pt", threads=1, console=Console(quiet=True))
    assert ev["samples"] == 12


def test_a_relative_data_path_from_an_old_checkpoint_is_said_to_come_from_it(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    here = tmp_path / "project"
    (here / "data").mkdir(parents=True)
    np.savez(here / "data" / "d.npz", x=np.zeros((30, 4), np.float32), y=np.arange(30) % 2)
    (here / "n.arch").write_text("network n:\n    input 4\n    dense 2 softmax\n")
    monkeypatch.chdir(here)
    train("n.arch", out="run", data="npz:data/d.npz", epochs=1, **QUIET)
    version1(_set("settings/data", "npz:data/d.npz"))(here / "run" / "best.pt", here / "run" / "old.pt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as e:
        evaluate(here / "n.arch", here / "run" / "old.pt", threads=1, console=Console(quiet=True))
    d = e.value.diagnostic
    assert d.code == "E500" and "no file data/d.npz" in d.message
    assert any(f"recorded in the checkpoint {here / 'run' / 'old.pt'}" in n for n in d.notes)
    assert any("relative to the folder the run was started from" in n for n in d.notes)
    assert d.hint == "give the data with --data npz:PATH"
    last = here / "run" / "last.pt"
    version1(_set("settings/data", "npz:data/d.npz"))(last, last)
    with pytest.raises(SpecError) as e:
        train(here / "n.arch", out=here / "run", resume=True, **QUIET)
    d = e.value.diagnostic
    assert d.code == "E500" and any(f"recorded in the checkpoint {last}" in n for n in d.notes)
    assert (d.hint or "").startswith("run --resume from the folder the run was started from")


def test_an_empty_out_is_refused(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as e:
        train(base / "net.arch", out="", data="synthetic:64", epochs=1, **QUIET)
    assert e.value.diagnostic.code == "E202" and "--out is empty" in e.value.diagnostic.message
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_writing_test_json_is_a_diagnostic(base: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import archspec.files as cli

    real = cli.write_atomic

    def write_atomic(path: Any, data: Any) -> None:
        if Path(path).name == "test.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(cli, "write_atomic", write_atomic)
    with pytest.raises(SpecError) as e:
        train(base / "net.arch", out=tmp_path / "run", data="synthetic:64", epochs=1, **QUIET)
    d = e.value.diagnostic
    assert d.code == "E202" and "cannot write the test results (test.json)" in d.message
    assert "No space left on device" in d.message and "--resume" in (d.hint or "")
    monkeypatch.setattr(cli, "write_atomic", real)
    r = train(base / "net.arch", out=tmp_path / "run", resume=True, **QUIET)  # space again: the results only
    assert r.status == "done" and (tmp_path / "run" / "test.json").exists()
