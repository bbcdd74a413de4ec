"""Checkpoints: one file of tensors and plain containers (`torch.load(..., weights_only=True)` reads it),
written whole or not at all (a temporary file in the same folder, then `os.replace`).

A checkpoint holds the model's weights, and for resuming the optimizer, the learning-rate schedule, the
gradient scaler, the random generators and the epoch; and what evaluating needs: the settings, the
network's parameters and the data's classes and normalisation. Since version 2 it also holds a SHA-256
checksum of each entry (`checksums`; a tensor's dtype, shape and bytes, in state-dict order), so that
bytes damaged after the write are found rather than trained on.

Reading one (`load`) checks, before anything is used, in this order: the file (there, a regular file,
not empty), that it unpickles with `weights_only=True`, its kind (a checkpoint of `archspec train`, or a
plain state dict, which only `--init` takes), the entries the purpose needs ("resume", "evaluate",
"init", "best"), their checksums, and their structure (`SCHEMA`). What does not fit the network or the
run being built is checked against it (`check_model`, `check_optimizer`, `check_like`, `restore_rng`).
Every problem is one diagnostic naming the file: E700 for a damaged or invalid checkpoint, E701 for one
that does not fit this network, each with what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from archspec.diagnostics import Diagnostic, SpecError

FORMAT = "archspec-checkpoint"
VERSION = 2  # 1: no checksums (still read); 2: `checksums`
PURPOSES = ("resume", "evaluate", "init", "best")
MAX_CLASSES = 100_000  # as archspec.pytorch.train.formats.MAX_CLASSES (formats imports numpy; this module does not)

# the entries each use of a checkpoint needs (and whose checksums it verifies)
NEEDS: dict[str, tuple[str, ...]] = {
    "init": ("model",),
    "evaluate": ("model", "settings", "params", "data"),
    "best": ("model", "epoch", "test_acc"),
    "resume": ("model", "settings", "params", "data", "epoch", "optimizer", "scheduler", "scaler", "rng", "history",
               "best", "started", "spec_sha256"),
}


def plain(value: Any) -> Any:
    """Metadata as JSON-able primitives (what `weights_only` loading accepts)."""
    return json.loads(json.dumps(value, default=_fallback))


def _fallback(o: Any) -> Any:
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if hasattr(o, "numerator") and hasattr(o, "denominator"):
        return float(o)
    return str(o)


# -- checksums --------------------------------------------------------------------------------------

def digest(value: Any) -> str:
    """SHA-256 of a checkpoint entry: tensors by dtype, shape and bytes, containers in order, other values
    by type and repr (the same before saving and after loading)."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, v: Any) -> None:
    if isinstance(v, torch.Tensor):
        t = v.detach()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(v, dict):
        h.update(f"{{{len(v)}".encode())
        for k, x in v.items():
            _feed(h, k)
            _feed(h, x)
    elif isinstance(v, (list, tuple)):
        h.update(f"[{len(v)}".encode())
        for x in v:
            _feed(h, x)
    else:
        h.update(repr((type(v).__name__, v)).encode())


# -- random generators ---------------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "python" in state:
        v, internal, gauss = state["python"]
        random.setstate((v, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_rng(path: Path, state: dict[str, Any], purpose: str = "resume") -> None:
    """`set_rng_state` of a checked state; what the generators still refuse is a diagnostic."""
    try:
        set_rng_state(state)
    except (RuntimeError, ValueError, TypeError) as e:
        raise damaged(path, f"its random generators' state is invalid: {_first_line(e)}", purpose, "rng") from None


# -- writing ---------------------------------------------------------------------------------------------

def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically, with the checksum of each entry."""
    from archspec.files import write_atomic

    body: dict[str, Any] = {"format": FORMAT, "version": VERSION, **payload}
    body["checksums"] = {k: digest(v) for k, v in body.items() if k not in ("format", "version")}
    buf = io.BytesIO()
    torch.save(body, buf)
    write_atomic(path, buf.getvalue())


# -- reading -----------------------------------------------------------------------------------------------

_HINTS = {
    "resume": "the run cannot continue from this file: start a new run (without --resume, or with another --out)",
    "evaluate": "evaluate another checkpoint of the run (last.pt or best.pt), or train again",
    "init": "--init takes a checkpoint of `archspec train` or a state dict (torch.save(model.state_dict(), FILE))",
    "best": "delete it and run again: the next epoch that improves on the test accuracy writes it anew",
}


def damaged(path: str | Path, what: str, purpose: str, entry: str | None = None) -> SpecError:
    """E700: the checkpoint `path` is damaged or invalid (`what`); the hint says what to do. With
    `entry` outside the model's weights, a run can still start from its weights (--init)."""
    hint = _HINTS[purpose]
    if purpose == "resume" and entry not in (None, "model"):
        hint += f"; `--init {path}` starts it from this file's weights (the optimizer and schedule start afresh)"
    return SpecError(Diagnostic("E700", f"the checkpoint {path} {what}", hint=hint))


_BOILERPLATE = ("Weights only load failed", "In PyTorch 2.6", "Re-running `torch.load`", "Check the documentation",
                "Please file an issue", "WeightsUnpickler error")


def _reason(e: BaseException) -> tuple[str, bool]:
    """The informative line of torch.load's error, and whether it refused an object (a global)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported global" in line:
            return line, True
    useful = [line for line in lines if not line.startswith(_BOILERPLATE)]
    return (useful[0] if useful else lines[0] if lines else type(e).__name__), False


def _cut_zip(p: Path) -> bool:
    """A file that starts as a zip archive (torch.save's format) but has no directory at its end."""
    import zipfile

    try:
        with open(p, "rb") as f:
            start = f.read(4)
        return start == b"PK\x03\x04" and not zipfile.is_zipfile(p)
    except OSError:
        return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load(path: str | Path, purpose: str = "init") -> dict[str, Any]:
    """A checkpoint on the CPU, checked for `purpose` (see the module's docstring): "init" also takes a
    plain state dict (returned as {"model": ...}); the others take checkpoints of `archspec train`."""
    assert purpose in PURPOSES
    p = Path(path)
    if not p.exists():
        raise SpecError(Diagnostic("E500", f"no checkpoint {p}"))
    if not p.is_file():
        raise damaged(p, "is not a regular file", purpose)
    if p.stat().st_size == 0:
        raise damaged(p, "is empty (0 bytes): its write was cut short, or the file was truncated", purpose)
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise SpecError(Diagnostic("E102", f"cannot read the checkpoint {p}: {e.strerror or e}")) from None
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file; all mean "not a checkpoint we load"
        text, hostile = _reason(e)
        if hostile:
            raise SpecError(Diagnostic(
                "E700", f"the checkpoint {p} holds objects other than tensors and plain containers: {text}",
                hint="archspec loads tensors and plain containers only (weights_only=True): such objects could "
                     f"run code; {_HINTS[purpose]}")) from None
        if _cut_zip(p):
            text = f"a zip archive without its directory, after {p.stat().st_size:,} bytes: it was cut short"
        raise damaged(p, f"is damaged or not a checkpoint (it does not load: {text})", purpose) from None
    if not isinstance(data, dict):
        raise damaged(p, f"holds a {type(data).__name__}, not a checkpoint or state dict", purpose)
    if data.get("format") != FORMAT:
        state = _state_dict(data)
        if purpose != "init":
            what = ("holds a plain state dict (tensors by name), not a checkpoint of `archspec train`" if state else
                    "is not a checkpoint of `archspec train` (no `format` entry)")
            hint = {"resume": f"a run resumes from the last.pt that `archspec train` wrote; `--init {p}` starts a new "
                              "run from these weights",
                    "evaluate": "evaluate a checkpoint of `archspec train` (last.pt, best.pt): it records the network's "
                                "parameters and how the data was normalised",
                    "best": _HINTS["best"]}[purpose]
            raise SpecError(Diagnostic("E700", f"the checkpoint {p} {what}", hint=hint))
        if state is None:
            raise damaged(p, "holds no model weights (neither a checkpoint nor a state dict)", purpose)
        problem = _model(state, data)
        if problem:
            raise damaged(p, f"is not a state dict: {problem}", purpose)
        return {"model": state}
    version = data.get("version")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise damaged(p, f"has version {version!r}; this archspec reads versions 1 to {VERSION}", purpose)
    needs = NEEDS[purpose]
    for key in needs:
        if key not in data:
            raise damaged(p, f"has no `{key}` entry", purpose, key)
    if version >= 2:
        sums = data.get("checksums")
        if not isinstance(sums, dict):
            raise damaged(p, "has no checksums", purpose)
        for key in needs:
            if not isinstance(sums.get(key), str):
                raise damaged(p, f"has no checksum of its `{key}` entry", purpose, key)
            if digest(data[key]) != sums[key]:
                what = "model's weights do" if key == "model" else f"`{key}` entry does"
                raise damaged(p, f"is damaged: its {what} not match the checksum written with the file", purpose, key)
    for key in SCHEMA_ORDER:
        if key in needs:
            problem = SCHEMA[key](data[key], data)
            if problem:
                raise damaged(p, f"has an invalid `{key}` entry: {problem}", purpose, key)
    return data


def _state_dict(data: dict[Any, Any]) -> dict[str, torch.Tensor] | None:
    """The weights of a plain state dict, of a Lightning-style {"state_dict": ...} or of {"model": ...}."""
    if data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return data
    for key in ("state_dict", "model"):
        if isinstance(data.get(key), dict):
            return data[key]
    return None


def config_of(ckpt: dict[str, Any]) -> Any:
    """The TrainConfig of a checked checkpoint's settings."""
    from archspec.pytorch.train.config import TrainConfig, apply

    cfg = TrainConfig()
    apply(cfg, ckpt["settings"], "checkpoint", {})
    return cfg


# -- the schema: one check per entry, returning what is wrong (or None) ------------------------------------

def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _model(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict) or not v:
        return "the weights are not a non-empty mapping of names to tensors"
    for k, t in v.items():
        if not isinstance(k, str):
            return f"a weight's name is {k!r}, not a string"
        if not isinstance(t, torch.Tensor):
            return f"`{k}` is a {type(t).__name__}, not a tensor"
        if t.layout != torch.strided:
            return f"`{k}` is a {t.layout} tensor"
    return None


def _settings(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict):
        return f"a {type(v).__name__}, not a mapping of settings"
    from archspec.pytorch.train.config import TrainConfig, apply

    try:
        apply(TrainConfig(), v, "checkpoint", {})
    except SpecError as e:
        return e.diagnostic.message
    return None


def _params(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        return "not a mapping of the network's parameters by name"
    return None


def _data(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict):
        return "not a mapping (classes, scale, mean, std)"
    classes, mean, std, scale = v.get("classes"), v.get("mean"), v.get("std"), v.get("scale")
    if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES or \
            not all(isinstance(c, str) for c in classes):
        return f"`classes` is not a list of 1 to {MAX_CLASSES:,} names"
    if not _number(scale) or scale <= 0:  # type: ignore[operator]
        return f"`scale` is {scale!r}, not a number above 0"
    if not isinstance(mean, list) or not isinstance(std, list) or not mean or len(mean) != len(std):
        return "`mean` and `std` are not two lists of the same length"
    if not all(_number(m) for m in mean) or not all(_number(s) and s > 0 for s in std):
        return "`mean` holds a value that is not a finite number, or `std` one that is not above 0"
    return None


def _epoch(v: Any, ckpt: dict[str, Any]) -> str | None:
    if type(v) is not int:
        return f"{v!r} is not a whole number"
    settings = ckpt.get("settings")
    epochs = settings.get("epochs") if isinstance(settings, dict) else None
    if v < 1:
        return f"epoch {v}: a checkpoint is written after an epoch, the first is 1"
    if type(epochs) is int and v > epochs:
        return f"epoch {v} is beyond the run's {epochs} epochs"
    return None


def _test_acc(v: Any, ckpt: dict[str, Any]) -> str | None:
    return None if _number(v) and 0 <= v <= 1 else f"{v!r} is not an accuracy between 0 and 1"


def _history(v: Any, ckpt: dict[str, Any]) -> str | None:
    epoch = ckpt.get("epoch")
    if not isinstance(v, list) or len(v) != epoch:
        return f"not a list of one row per epoch ({epoch!r} epochs)"
    for i, row in enumerate(v, 1):
        if not isinstance(row, dict) or row.get("epoch") != i:
            return f"row {i} is not the metrics of epoch {i}"
        for key in ("train_loss", "train_acc", "lr", "epoch_s", "elapsed_s"):
            if not isinstance(row.get(key), (int, float)) or isinstance(row.get(key), bool):
                return f"row {i} has no number `{key}`"
        for key, x in row.items():
            if not isinstance(key, str) or not (x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))):
                return f"row {i}: `{key}` is {x!r}, not a number"
    return None


def _best(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict) or set(v) != {"acc", "epoch"}:
        return "not a mapping of `acc` and `epoch`"
    acc, epoch = v["acc"], v["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= ckpt.get("epoch", 0):
        return f"its epoch {epoch!r} is not one of the run's epochs so far"
    if not _number(acc) or not ((epoch == 0 and acc == -1) or (epoch > 0 and 0 <= acc <= 1)):
        return f"its accuracy {acc!r} is not between 0 and 1"
    return None


def _rng(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict) or "torch" not in v:
        return "not a mapping holding the `torch` generator's state"
    t = v["torch"]
    want = torch.get_rng_state()
    if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.shape != want.shape:
        return f"the `torch` state is not {want.numel():,} bytes"
    if "python" in v:
        py = v["python"]
        if not isinstance(py, (list, tuple)) or len(py) != 3 or type(py[0]) is not int or \
                not isinstance(py[1], (list, tuple)) or len(py[1]) != 625 or \
                not all(type(x) is int and 0 <= x < 2**32 for x in py[1]) or py[1][-1] > 624 or \
                not (py[2] is None or isinstance(py[2], float)):
            return "the `python` state is not Python's (version, 625 words, gauss)"
    if "cuda" in v and not (isinstance(v["cuda"], (list, tuple)) and
                            all(isinstance(c, torch.Tensor) and c.dtype == torch.uint8 for c in v["cuda"])):
        return "the `cuda` states are not byte tensors"
    return None


def _optimizer(v: Any, ckpt: dict[str, Any]) -> str | None:
    if not isinstance(v, dict) or not isinstance(v.get("state"), dict) or not isinstance(v.get("param_groups"), list):
        return "not an optimizer's state (`state` and `param_groups`)"
    if not v["param_groups"] or not all(isinstance(g, dict) and isinstance(g.get("params"), list) and
                                        all(type(i) is int for i in g["params"]) for g in v["param_groups"]):
        return "its parameter groups are not mappings with a list of parameter numbers"
    for k, s in v["state"].items():
        if type(k) is not int or not isinstance(s, dict):
            return f"its state of parameter {k!r} is not a mapping"
    return None


def _optional_mapping(v: Any, ckpt: dict[str, Any]) -> str | None:
    return None if v is None or (isinstance(v, dict) and all(isinstance(k, str) for k in v)) else "not a mapping"


def _text(v: Any, ckpt: dict[str, Any]) -> str | None:
    return None if isinstance(v, str) else f"{v!r} is not text"


SCHEMA: dict[str, Callable[[Any, dict[str, Any]], str | None]] = {
    "model": _model, "settings": _settings, "params": _params, "data": _data, "epoch": _epoch,
    "test_acc": _test_acc, "history": _history, "best": _best, "rng": _rng, "optimizer": _optimizer,
    "scheduler": _optional_mapping, "scaler": _optional_mapping, "started": _text, "spec_sha256": _text,
}
SCHEMA_ORDER = list(SCHEMA)  # settings before epoch (the run's epochs), epoch before history and best


# -- what must fit the network and the run being built ------------------------------------------------------

def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def check_model(path: str | Path, state: dict[str, torch.Tensor], model: torch.nn.Module, purpose: str) -> None:
    """E701 unless `state` has exactly the model's tensors, of the same shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unknown = [k for k in state if k not in own]
    other = [f"{k} {tuple(state[k].shape)} ≠ {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if not (missing or unknown or other):
        return
    notes = []
    if missing:
        notes.append(f"{len(missing)} of the network's tensors are not in the checkpoint: {_few(missing)}")
    if unknown:
        notes.append(f"{len(unknown)} of the checkpoint's tensors are not in the network: {_few(unknown)}")
    if other:
        notes.append(f"{len(other)} tensors have another shape (checkpoint ≠ network): {_few(other)}")
    hint = {"resume": f"the spec or its parameters changed since the run: restore them to continue, or start a new "
                      f"run with `--init {path}` (the tensors that fit are loaded)",
            "evaluate": "give the spec and the --set values the checkpoint was trained with"}.get(purpose, _HINTS[purpose])
    raise SpecError(Diagnostic("E701", f"the checkpoint {path} does not fit this network", notes=notes, hint=hint))


def check_optimizer(path: str | Path, saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """E700 unless the saved optimizer state has this optimizer's groups, hyperparameters and per-parameter
    state of the parameters' shapes."""
    fresh = optimizer.state_dict()
    groups = saved["param_groups"]
    shape = [len(g["params"]) for g in groups]
    want = [len(g["params"]) for g in fresh["param_groups"]]
    if shape != want:
        raise damaged(path, f"holds an optimizer state for parameter groups of {shape} tensors; this run's optimizer "
                            f"has {want}", "resume", "optimizer")
    for i, (g, f) in enumerate(zip(groups, fresh["param_groups"])):
        if g["params"] != f["params"]:
            raise damaged(path, f"has parameter group {i} of other parameters", "resume", "optimizer")
        problem = like({k: x for k, x in g.items() if k != "params"}, {k: x for k, x in f.items() if k != "params"})
        if problem:
            raise damaged(path, f"has an invalid optimizer setting in parameter group {i}: {problem}", "resume",
                          "optimizer")
    params = [q for grp in optimizer.param_groups for q in grp["params"]]
    needed = _STATE_KEYS.get(type(optimizer).__name__)
    for k, state in saved["state"].items():
        if not 0 <= k < len(params):
            raise damaged(path, f"holds optimizer state of parameter {k}, which this run does not have", "resume",
                          "optimizer")
        if state and needed is not None and not needed <= set(state):
            raise damaged(path, f"holds optimizer state of parameter {k} without {_few(sorted(needed - set(state)))}",
                          "resume", "optimizer")
        for name, x in state.items():
            if isinstance(x, torch.Tensor) and x.ndim > 0:
                if tuple(x.shape) != tuple(params[k].shape) or not x.is_floating_point():
                    raise damaged(path, f"holds optimizer state `{name}` of parameter {k} of shape {tuple(x.shape)}, "
                                        f"the parameter's is {tuple(params[k].shape)}", "resume", "optimizer")
            elif isinstance(x, torch.Tensor):
                if not math.isfinite(float(x)) or float(x) < 0:
                    raise damaged(path, f"holds optimizer state `{name}` = {float(x)} of parameter {k}", "resume",
                                  "optimizer")
            elif x is not None and not (_number(x) and x >= 0):
                raise damaged(path, f"holds optimizer state `{name}` = {x!r} of parameter {k}", "resume", "optimizer")


_STATE_KEYS = {"Adam": {"step", "exp_avg", "exp_avg_sq"}, "AdamW": {"step", "exp_avg", "exp_avg_sq"},
               "SGD": {"momentum_buffer"}}


def check_like(path: str | Path, entry: str, saved: Any, fresh: Any) -> None:
    """E700 unless `saved` (a scheduler's or a scaler's state) has the structure of this run's `fresh` one."""
    if (saved is None) != (fresh is None):
        raise damaged(path, f"has {'no' if saved is None else 'a'} `{entry}` state, this run "
                            f"{'has' if saved is None else 'has none'}", "resume", entry)
    problem = like(saved, fresh) if saved is not None else None
    if problem:
        raise damaged(path, f"has an invalid `{entry}` state: {problem}", "resume", entry)


def like(saved: Any, fresh: Any, where: str = "") -> str | None:
    """What in `saved` differs in structure from `fresh`: the same keys, lengths and kinds of value; a
    number that is not negative in `fresh` is a finite number, not negative, in `saved`."""
    at = f"`{where}`" if where else "it"
    if isinstance(fresh, bool) or fresh is None:
        return None if type(saved) is type(fresh) else f"{at} is {saved!r}, expected {fresh!r}'s kind"
    if isinstance(fresh, (int, float)):
        if not _number(saved):
            return f"{at} is {saved!r}, not a finite number"
        return f"{at} is {saved!r}, below 0" if fresh >= 0 > saved else None
    if isinstance(fresh, str):
        return None if isinstance(saved, str) else f"{at} is {saved!r}, not text"
    if isinstance(fresh, dict):
        if not isinstance(saved, dict) or set(saved) != set(fresh):
            return f"{at} is not a mapping of {_few(sorted(map(str, fresh)))}"
        for k in fresh:
            problem = like(saved[k], fresh[k], f"{where}.{k}" if where else str(k))
            if problem:
                return problem
        return None
    if isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            return f"{at} is not a list of {len(fresh)}"
        for i, (a, b) in enumerate(zip(saved, fresh)):
            problem = like(a, b, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(fresh, torch.Tensor):
        ok = isinstance(saved, torch.Tensor) and saved.shape == fresh.shape and saved.dtype == fresh.dtype
        return None if ok else f"{at} is not a tensor of shape {tuple(fresh.shape)}"
    return None


def init_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, list[str]]:
    """Load the weights whose names and shapes match; returns how many tensors were loaded, and notes
    about the others (a new head for other classes keeps its fresh weights)."""
    own = model.state_dict()
    state = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state.items()}
    take = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    other_shape = sorted(k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape))
    unknown = sorted(k for k in state if k not in own)
    fresh = sorted(k for k in own if k not in take)
    model.load_state_dict(take, strict=False)
    notes = []
    if other_shape:
        notes.append(f"{len(other_shape)} tensors of another shape keep their fresh values: {_few(other_shape)}")
    if unknown:
        notes.append(f"{len(unknown)} tensors of the checkpoint are not in this network: {_few(unknown)}")
    if fresh and not other_shape:
        notes.append(f"{len(fresh)} tensors are not in the checkpoint and keep their fresh values: {_few(fresh)}")
    return len(take), notes
