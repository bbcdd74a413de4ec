"""Trained weights that leave archspec: `archspec export RUN_OR_CHECKPOINT` and `compile --init`.

    archspec export runs/lenet5                  # runs/lenet5/export/: lenet5.py + lenet5.pt, .safetensors, .onnx
    archspec export runs/lenet5/last.pt --format onnx --opset 17 -o out/
    archspec compile lenet5 --init runs/lenet5/best.pt -o model.py   # model.py + model.pt

The network is rebuilt from the spec the run folder keeps (spec.arch or spec.yaml; else the shipped spec
the checkpoint names; else `--spec`), with the network parameters and the input shape the checkpoint
records; the weights are checked against it (every tensor, by name and shape) before anything is written.

- **py**: the standalone file (it imports only torch) with a `load()` that reads the weights file beside
  it, NAME.pt, a plain state dict (`torch.load(..., weights_only=True)`).
- **safetensors**: the state dict, with the network, its parameters and the input normalisation in the
  file's metadata (needs the `safetensors` package: `pip install 'archspec[onnx]'`).
- **onnx**: the evaluation-mode network (main output), batch dimension dynamic; checked with onnx's
  checker, and run by onnxruntime (where installed) on random input against PyTorch's outputs.

export.json records what was written: the checkpoint, epoch, network and parameters, the normalisation
the network expects its input in, each file's SHA-256, the ONNX opset and onnxruntime's difference.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.diagnostics import Diagnostic, SpecError
from archspec.files import write_atomic
from archspec.ir import Graph
from archspec.pytorch.codegen import Plan, ident
from archspec.pytorch.module import build, sample_input
from archspec.pytorch.source import file_text, spec_graph

FORMATS = ("py", "safetensors", "onnx")
PACKAGES = {"safetensors": ("safetensors",), "onnx": ("onnx",)}
DEFAULT_OPSET = 17
ONNX_RTOL, ONNX_ATOL = 1e-4, 1e-5  # onnxruntime against PyTorch, float32
SPEC_COPIES = ("spec.arch", "spec.yaml", "spec.yml")


@dataclass
class Trained:
    """A network rebuilt from a checkpoint, its weights loaded, in evaluation mode."""

    model: nn.Module
    graph: Graph
    plan: Plan
    checkpoint: Path
    state: dict[str, torch.Tensor]
    info: dict[str, Any] = field(default_factory=dict)  # epoch, normalisation, params, input (when recorded)


def checkpoint_of(source: str | Path) -> Path:
    """The checkpoint a run folder or a file names: a run folder's best.pt, else its last.pt."""
    from archspec.pytorch.train import outdir

    p = Path(source)
    if p.is_dir():
        for name in (outdir.BEST, outdir.LAST):
            if (p / name).is_file():
                return p / name
        raise SpecError(Diagnostic("E500", f"{p} holds no checkpoint ({outdir.BEST} or {outdir.LAST})",
                                   hint="give a run folder of `archspec train` or a checkpoint file"))
    if not p.exists():
        raise SpecError(Diagnostic("E500", f"no run folder or checkpoint {p}"))
    return p


def load_trained(source: str | Path, *, spec: Any = None, params: dict[str, Any] | None = None,
                 input: Any = None, freeze: Sequence[str] = (), class_name: str | None = None) -> Trained:
    """Rebuild the network of a run folder or checkpoint and load its weights (checked first)."""
    from archspec.pytorch.train import checkpoint

    path = checkpoint_of(source)
    ckpt = checkpoint.load(path, "init")  # a checkpoint of `archspec train`, or a plain state dict
    state = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()}
    recorded = ckpt.get("format") == checkpoint.FORMAT
    build_params = dict(ckpt["params"]) if recorded and isinstance(ckpt.get("params"), dict) else {}
    build_params.update(params or {})
    shape = ckpt.get("input") if recorded else None
    if input is None and isinstance(shape, list) and shape and all(type(n) is int and n > 0 for n in shape):
        input = "x".join(map(str, shape))
    g = spec_graph(_spec_for(path, ckpt if recorded else None, spec), input=input, params=build_params,
                   freeze=freeze)
    model, plan = build(g, class_name=class_name)
    checkpoint.check_model(path, state, model, "evaluate")
    model.load_state_dict(state)
    model.eval()
    info: dict[str, Any] = {"params": {k: _plain(v) for k, v in g.params.items()},
                            "input": [list(g[n].meta.shape) for _, n in plan.inputs]}
    if recorded:
        info["epoch"] = ckpt.get("epoch")
        d = ckpt.get("data")
        if isinstance(d, dict) and {"scale", "mean", "std"} <= set(d):
            info["normalisation"] = {"scale": d["scale"], "mean": d["mean"], "std": d["std"]}
            info["classes"] = list(d.get("classes", []))
    return Trained(model, g, plan, path, state, info)


def _plain(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _spec_for(path: Path, ckpt: dict[str, Any] | None, spec: Any) -> Any:
    if spec is not None:
        return spec
    for copy in SPEC_COPIES:
        if (path.parent / copy).is_file():
            return str(path.parent / copy)
    name = ckpt.get("spec_name") if ckpt else None
    if isinstance(name, str):
        from archspec.lang.load import resolve_spec_path

        if resolve_spec_path(name) is not None:
            return name
    raise SpecError(Diagnostic("E202", f"the spec of {path} is not known: there is no spec.arch beside it"
                                       + ("" if ckpt else ", and it is a plain state dict"),
                               hint="give the spec with --spec SPEC (and its --set values)"))


# -- the Python file with its weights -------------------------------------------------------------

def _notes(t: Trained) -> list[str]:
    notes = [f"Trained weights from {t.checkpoint.name}" + (f" (epoch {t.info['epoch']})" if t.info.get("epoch") else "")
             + "."]
    norm = t.info.get("normalisation")
    if norm:
        mean = ", ".join(f"{m:.4g}" for m in norm["mean"])
        std = ", ".join(f"{s:.4g}" for s in norm["std"])
        notes.append(f"Input as in training: values x {norm['scale']:.6g}, then per channel (x - mean) / std, "
                     f"mean [{mean}], std [{std}].")
    return notes


def write_py(t: Trained, py: Path) -> list[Path]:
    """The standalone file at `py` and its weights beside it (the same name, .pt); returns both paths."""
    weights = py.with_suffix(".pt")
    if weights == py:
        raise SpecError(Diagnostic("E511", f"-o {py}: the weights go beside the Python file with the suffix .pt",
                                   hint="give the Python file's name ending in .py"))
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in t.model.state_dict().items()}, buf)
    write_atomic(weights, buf.getvalue())
    write_atomic(py, file_text(t.graph, t.plan, weights.name, _notes(t)))
    return [py, weights]


def compile_with_weights(spec: Any, source: str | Path, output: str | Path, *, params: dict[str, Any] | None = None,
                         input: Any = None, freeze: Sequence[str] = (), class_name: str | None = None) -> list[str]:
    """`compile SPEC --init CKPT -o FILE` (and `compile --train -o FILE`, with the run folder as `source`):
    FILE with the weights beside it. Returns the lines to print."""
    t = load_trained(source, spec=spec, params=params, input=input, freeze=freeze, class_name=class_name)
    try:
        files = write_py(t, Path(output))
    except OSError as e:
        raise SpecError(Diagnostic("E513", f"cannot write -o {output}: {e.strerror or e}")) from None
    return [f"wrote {files[0]} and its weights {files[1]} (from {t.checkpoint})"]


# -- export ----------------------------------------------------------------------------------------

@dataclass
class Exported:
    folder: Path
    files: dict[str, list[Path]]
    manifest: dict[str, Any]
    lines: list[str]


def available(fmt: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in PACKAGES.get(fmt, ()))


def export(source: str | Path, *, out: str | Path | None = None, formats: Sequence[str] | None = None,
           spec: Any = None, params: dict[str, Any] | None = None, input: Any = None,
           opset: int = DEFAULT_OPSET, class_name: str | None = None) -> Exported:
    """Write a trained network's files (see the module's docstring). `formats`: of FORMATS; by default
    every one whose package is installed (the others are named in the lines returned)."""
    lines: list[str] = []
    if formats is None:
        chosen = [f for f in FORMATS if available(f)]
        for f in FORMATS:
            if f not in chosen:
                lines.append(f"{f}: skipped, the `{'`, `'.join(PACKAGES[f])}` package is not installed "
                             "(pip install 'archspec[onnx]')")
    else:
        chosen = list(dict.fromkeys(formats))
        for f in chosen:
            if f not in FORMATS:
                raise SpecError(Diagnostic("E202", f"--format {f}: not a format of export",
                                           expected=", ".join(FORMATS)))
            if not available(f):
                raise SpecError(Diagnostic("E209", f"--format {f} needs the `{'`, `'.join(PACKAGES[f])}` package, "
                                                   "which is not installed: pip install 'archspec[onnx]'"))
    if not 7 <= opset <= 25:
        raise SpecError(Diagnostic("E202", f"--opset must be between 7 and 25, got {opset}"))
    t = load_trained(source, spec=spec, params=params, input=input, class_name=class_name)
    folder = Path(out) if out is not None else t.checkpoint.parent / "export"
    stem = ident(t.graph.name, fallback="model")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpecError(Diagnostic("E513", f"cannot create the folder {folder}: {e.strerror or e}")) from None
    if not folder.is_dir():
        raise SpecError(Diagnostic("E510", f"{folder} is not a folder"))
    manifest: dict[str, Any] = {"format": "archspec-export", "version": 1, "network": t.graph.name,
                                "checkpoint": str(t.checkpoint.resolve()), **t.info, "files": {}}
    files: dict[str, list[Path]] = {}
    try:
        if "py" in chosen:
            files["py"] = write_py(t, folder / f"{stem}.py")
        if "safetensors" in chosen:
            files["safetensors"] = [write_safetensors(t, folder / f"{stem}.safetensors")]
        if "onnx" in chosen:
            path = folder / f"{stem}.onnx"
            manifest["onnx"] = write_onnx(t, path, opset)
            files["onnx"] = [path]
    except OSError as e:
        raise SpecError(Diagnostic("E513", f"cannot write to {folder}: {e.strerror or e}")) from None
    for fmt, paths in files.items():
        manifest["files"][fmt] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    write_atomic(folder / "export.json", json.dumps(manifest, indent=2) + "\n")
    for fmt, paths in files.items():
        extra = ""
        if fmt == "onnx":
            o = manifest["onnx"]
            extra = f" (opset {o['opset']}, onnx checker passed" + (
                f"; onnxruntime max difference {o['onnxruntime']['max_abs_diff']:.2g}" if o.get("onnxruntime") else
                "; onnxruntime not installed, not run") + ")"
        lines.append(f"{fmt}: {', '.join(str(p) for p in paths)}{extra}")
    lines.insert(0, f"exported {t.graph.name} from {t.checkpoint} to {folder}/")
    return Exported(folder, files, manifest, lines)


def write_safetensors(t: Trained, path: Path) -> Path:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in t.model.state_dict().items()}
    meta = {"format": "pt", "network": t.graph.name, "params": json.dumps(t.info.get("params", {})),
            "input": json.dumps(t.info.get("input"))}
    if "normalisation" in t.info:
        meta["normalisation"] = json.dumps(t.info["normalisation"])
    write_atomic(path, save(state, metadata=meta))
    return path


def example_inputs(t: Trained, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A seeded batch for each input: random values, or random token ids for an input of tokens."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return tuple(sample_input(t.graph, n, batch) for _, n in t.plan.inputs)


def write_onnx(t: Trained, path: Path, opset: int = DEFAULT_OPSET) -> dict[str, Any]:
    """The ONNX file, checked; returns {"opset", "onnxruntime": {"max_abs_diff", ...} or None}."""
    import onnx

    names = [p for p, _ in t.plan.inputs]
    out_name = t.plan.outputs[0][0]
    args = example_inputs(t, batch=1)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(t.model, args, str(file), dynamo=False, opset_version=opset, input_names=names,
                              output_names=[out_name],
                              dynamic_axes={n: {0: "batch"} for n in [*names, out_name]})
        data = file.read_bytes()
    m = onnx.load_from_string(data)
    onnx.checker.check_model(m)
    got = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=opset)
    write_atomic(path, data)
    return {"opset": got, "onnxruntime": run_onnxruntime(t, data)}


def run_onnxruntime(t: Trained, data: bytes) -> dict[str, Any] | None:
    """onnxruntime's output against PyTorch's on a random batch of two (None without onnxruntime)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import numpy as np
    import onnxruntime as ort

    xs = example_inputs(t, batch=2, seed=1)
    with torch.no_grad():
        ref = t.model(*xs)
    ref_np = ref.numpy() if isinstance(ref, torch.Tensor) else ref[0].numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)}
    got = session.run(None, feed)[0]
    diff = float(np.max(np.abs(got - ref_np))) if ref_np.size else 0.0
    ok = bool(np.allclose(got, ref_np, rtol=ONNX_RTOL, atol=ONNX_ATOL)) and not math.isnan(diff)
    if not ok:
        raise RuntimeError(f"onnxruntime's output differs from PyTorch's by up to {diff:.3g} "
                           f"(tolerance rtol {ONNX_RTOL}, atol {ONNX_ATOL})")
    return {"max_abs_diff": diff, "rtol": ONNX_RTOL, "atol": ONNX_ATOL, "version": ort.__version__}
