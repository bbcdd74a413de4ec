"""Checkpoints: one file of tensors and plain containers (`torch.load(..., weights_only=True)` reads it),
written whole or not at all (a temporary file in the same folder, then `os.replace`).

A checkpoint holds the model's weights, and for resuming the optimizer, the learning-rate schedule, the
gradient scaler, the random generators and the epoch; and what evaluating needs: the settings, the
network's parameters and the data's classes and normalisation.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import torch

from archspec.diagnostics import Diagnostic, SpecError

FORMAT = "archspec-checkpoint"
VERSION = 1


def plain(value: Any) -> Any:
    """Metadata as JSON-able primitives (what `weights_only` loading accepts)."""
    return json.loads(json.dumps(value, default=_fallback))


def _fallback(o: Any) -> Any:
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if hasattr(o, "numerator") and hasattr(o, "denominator"):
        return float(o)
    return str(o)


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


def save(path: str | Path, payload: dict[str, Any]) -> None:
    from archspec.files import write_atomic

    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buf)
    write_atomic(path, buf.getvalue())


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint (or a bare state dict, returned as {"model": ...}), on the CPU."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(Diagnostic("E500", f"no checkpoint {p}"))
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file; all mean "not a checkpoint we load"
        raise SpecError(Diagnostic("E102", f"{p} is not a checkpoint that loads safely: {str(e).splitlines()[0]}",
                                   hint="archspec loads tensors and plain containers only (weights_only=True)")) \
            from None
    if not isinstance(data, dict):
        raise SpecError(Diagnostic("E102", f"{p} holds a {type(data).__name__}, not a checkpoint or state dict"))
    if data.get("format") == FORMAT:
        return data
    if all(isinstance(v, torch.Tensor) for v in data.values()):
        return {"model": data}
    if isinstance(data.get("state_dict"), dict):  # Lightning and others
        return {"model": data["state_dict"]}
    if isinstance(data.get("model"), dict):
        return {"model": data["model"]}
    raise SpecError(Diagnostic("E102", f"{p} holds no model weights (neither a checkpoint nor a state dict)"))


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


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
