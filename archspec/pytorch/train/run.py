"""`archspec.train.train`: from a spec to a trained model, its checkpoints, metrics and curves.

    from archspec.train import train
    result = train("lenet5", data="mnist:../shared/data/mnist", holdout=2000, epochs=10, out="runs/lenet5")
    result.test_acc

The steps: settings (config.py), the runtime (device.py), the data fitted to the spec's input (data.py),
the compiled model (archspec.pytorch.module) with its losses (heads.py), the run folder
(outdir.py), then epochs (loop.py) with a checkpoint after each (checkpoint.py) and the report
(report.py). Under torchrun every process runs this, and only the first writes files or prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from archspec.diagnostics import Diagnostic, SpecError
from archspec.ir import Graph
from archspec.pipeline import run_passes
from archspec.pytorch.module import sample_input
from archspec.pytorch.train import checkpoint, data, heads, loop, outdir, report
from archspec.pytorch.train.config import TrainConfig, absolute_data, build_config
from archspec.pytorch.train.device import Runtime, setup, teardown
from archspec.pytorch.train.stream import make_data, recipe_of

RUNTIME_KEYS = frozenset({"device", "amp", "compile", "threads", "workers", "tensorboard"})  # may change when resuming


@dataclass
class Result:
    status: str  # "done", "diverged", "interrupted"
    out: Path | None
    epochs: int
    test_acc: float | None = None
    test_loss: float | None = None
    best_acc: float | None = None
    best_epoch: int | None = None
    confusion: list[list[int]] | None = None
    classes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    message: str = ""
    model: nn.Module | None = None


@dataclass
class Prepared:
    """A network and its data, ready to train or evaluate."""

    graph: Graph
    params: dict[str, Any]
    input_shape: tuple[int, ...]
    ds: data.Dataset
    model: nn.Module
    heads: list[heads.Head]
    notes: list[str]


def spec_text(spec: Any) -> tuple[str, str]:
    """The text of a loaded spec and its file suffix (for the run folder's copy)."""
    path = Path(str(spec.path))
    try:
        return path.read_text(encoding="utf-8"), path.suffix or ".arch"
    except OSError:
        return "", ".arch"


def main_io(g: Graph) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of the network's one input and of its main output."""
    ins = [g[n].meta.shape for n in g.inputs]
    if len(ins) != 1:
        raise SpecError(Diagnostic("E202", f"training takes a network with one input; this one has {len(ins)}"))
    return tuple(ins[0]), tuple(g[g.outputs[0].source].meta.shape)


def vocab_of(g: Graph) -> int:
    """The number of token ids the network's input takes (0 for an input of values)."""
    from archspec.pytorch.module import token_bound

    n = g.inputs[0]
    return token_bound(g, n) if g[n].meta.dtype == "int64" else 0


def prepare(spec: Any, params: dict[str, Any], input: Any, freeze: Sequence[str], cfg: TrainConfig,
            user_params: Sequence[str], stats: dict[str, Any] | None = None,
            data_origin: Path | None = None, resuming: bool = False, graph: Graph | None = None) -> Prepared:
    """Data, graph and model. `params` are the network's parameters to build with; when the data's
    classes differ from the output's units and the spec has a `classes` parameter the user did not set,
    it is set to the data's count. `stats`: the normalisation to use instead of the data's own.
    `data_origin`: the checkpoint that named the data source (said in a data error's notes; `resuming`:
    by --resume, else by evaluate). `graph`: the spec already built with `params` (a run builds it once)."""
    from archspec.pytorch.module import build

    notes: list[str] = []
    g = graph if graph is not None else spec.graph(params, input)
    input_shape, out_shape = main_io(g)
    seg = len(out_shape) > 1
    lm = heads.next_token(g, g.outputs[0].source)  # a language model: each position's next token
    try:
        ds = data.load(cfg.data, input_shape, classes=out_shape[-1] if lm else out_shape[0], segmentation=seg,
                       holdout=cfg.holdout, limit=cfg.limit, fit=cfg.fit, seed=cfg.seed, loader=cfg.loader,
                       per_image=recipe_of(cfg).per_image, vocab=vocab_of(g), next_token=lm)
    except SpecError as e:
        if data_origin is not None:
            d = e.diagnostic
            d.notes.append(f"the data source `{cfg.data}` is the one recorded in the checkpoint {data_origin}")
            kind, path = data.parse_source(cfg.data)
            relative = bool(path) and not Path(path).is_absolute()
            if relative:
                d.notes.append("its path is relative to the folder the run was started from (archspec writes "
                               "absolute paths since checkpoint version 2)")
            if resuming:
                d.hint = ("run --resume from the folder the run was started from" if relative else
                          "put the data back where the run read it") + ", or start a new run"
            else:
                d.hint = f"give the data with --data {kind}:PATH"
        raise
    if stats:
        ds.scale, ds.mean, ds.std = stats["scale"], stats["mean"], stats["std"]
        ds.classes = list(stats.get("classes", ds.classes))
    k = len(ds.classes)
    binary = out_shape[0] == 1 and k <= 2
    if k != out_shape[0] and not binary and not lm and "classes" in spec.params and "classes" not in user_params:
        params = {**params, "classes": k}
        g = spec.graph(params, input)
        input_shape, out_shape = main_io(g)
        notes.append(f"the data has {k} classes: the network is built with classes={k} (--set classes=N to choose)")
    check_labels(ds, out_shape[-1:] if lm else out_shape)
    run_passes(g, freeze=freeze)
    model, plan = build(g)
    hs = heads.prepare(model, plan, g, cfg.loss, cfg.aux_weights)
    return Prepared(g, params, input_shape, ds, model, hs, notes + ds.notes)


def check_labels(ds: data.Dataset, out_shape: tuple[int, ...]) -> None:
    units = out_shape[0]
    top = max(int(ds.train.y.max(initial=0)), int(ds.test.y.max(initial=0)))
    limit = 2 if units == 1 else units
    if top >= limit:
        raise SpecError(Diagnostic(
            "E300", f"the data has labels up to {top}, the network's output has {units} unit{'s' if units > 1 else ''}",
            expected=f"labels 0..{limit - 1}", received=f"{len(ds.classes)} classes",
            hint=f"--set classes={top + 1} if the spec has a `classes` parameter, or change its last layer"))


def _settings_json(cfg: TrainConfig, sources: dict[str, str], p: Prepared, rt: Runtime, spec_name: str,
                   started: str) -> dict[str, Any]:
    return checkpoint.plain({
        "format": "archspec-run", "version": 1, "network": spec_name, "started": started,
        "settings": cfg.to_record(), "sources": sources, "params": p.params, "input": list(p.input_shape),
        "outputs": [{"name": h.name, "loss": h.loss, "weight": h.weight, "shape": list(h.shape)} for h in p.heads],
        "data": data.info(p.ds), "notes": p.notes,
        "runtime": {"device": rt.describe(), "processes": rt.world, "torch": torch.__version__,
                    "python": platform.python_version()},
    })


def _state_bytes(model: nn.Module, cfg: TrainConfig) -> int:
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    slots = 2 if cfg.optimizer in ("adam", "adamw") else 1
    return 2 * (params * (1 + slots) + buffers) + params + buffers  # last (with optimizer), best, a temporary


def _resume_settings(ckpt: dict[str, Any], overrides: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """The interrupted run's settings; options given now must agree with them (device and threads aside)."""
    cfg = checkpoint.config_of(ckpt)
    differ = []
    probe, _ = build_config({}, None, {k: v for k, v in overrides.items() if v is not None})
    for k, v in overrides.items():
        if v is None or k in RUNTIME_KEYS:
            continue
        now, then = getattr(probe, k), getattr(cfg, k)
        if k == "data" and absolute_data(now) == absolute_data(then):
            continue
        if now != then:
            differ.append(f"{k}: {then!r} in the run, {now!r} now")
    saved_params = ckpt["params"]
    for k, v in params.items():
        if checkpoint.plain(v) != saved_params.get(k):
            differ.append(f"--set {k}: {saved_params.get(k)!r} in the run, {v!r} now")
    if differ:
        raise SpecError(Diagnostic("E202", "--resume continues a run with its own settings; these differ",
                                   notes=differ, hint="leave them out, or start a new run without --resume"))
    for k in RUNTIME_KEYS:
        if overrides.get(k) is not None:
            setattr(cfg, k, overrides[k])
    return cfg


def train(spec: Any, *, params: dict[str, Any] | None = None, input: Any = None, freeze: Sequence[str] = (),
          config: str | Path | None = None, out: str | Path | None = None, resume: bool = False,
          init: str | Path | None = None, progress: bool | None = None, console: Console | None = None,
          on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None, **settings: Any) -> Result:
    """Train a spec (a path, a shipped spec's name, or a loaded `archspec.Spec`). `settings` are training
    settings (`epochs=3`, `lr=0.1`, `data="mnist:DIR"`, ...; see config.py), over those of `config` (a
    file) and of the spec's `training` parameter. `on_epoch_end(epoch, metrics)` is called after each
    epoch (raising KeyboardInterrupt there interrupts the run as Ctrl-C would)."""
    from archspec.pipeline import load

    s = load(spec)
    user_params = dict(params or {})
    ckpt = None
    out_path = Path(out) if out is not None else None
    notes: list[str] = []
    g0: Graph | None = None  # built once: for the settings the spec carries, then trained
    if resume:
        folder = outdir.choose(None if out is None else str(out), s.name, resume=True)
        notes += _cleaned(folder)
        last = folder / outdir.LAST
        ckpt = checkpoint.load(last, "resume")
        text, suffix = spec_text(s)
        if ckpt["spec_sha256"] != _sha(text):
            raise SpecError(Diagnostic("E701", f"--resume: the spec {s.path} changed since the run started "
                                               f"(the checkpoint {last} records another text)",
                                       hint=f"restore it to continue the run (the run's copy is "
                                            f"{folder / ('spec' + suffix)}), or start a new run with --init {last}"))
        cfg = _resume_settings(ckpt, settings, user_params)
        sources = {"(all)": f"resumed from {folder}"}
        build_params = dict(ckpt["params"])
        out_path = folder
    else:
        g0 = s.graph(user_params, input)
        cfg, sources = build_config(g0.params, config, settings)
        build_params = user_params
        if out is not None:
            out_path = outdir.choose(str(out), s.name, resume=False)  # refuses a folder that holds a run
            notes += _cleaned(out_path)
    if cfg.tensorboard:
        from archspec.pytorch.train import tboard

        tboard.require()  # before anything is written
    rt = setup(cfg.device, cfg.amp, cfg.threads)
    console = console or report.make_console()
    if not rt.main:
        console = Console(quiet=True)
    try:
        return _train(s, cfg, sources, rt, console, build_params, user_params, input, freeze, out_path, ckpt,
                      init, progress, on_epoch_end, notes, g0)
    finally:
        teardown(rt)


def _cleaned(folder: Path) -> list[str]:
    removed = outdir.clean_temporaries(folder)
    if not removed:
        return []
    return [f"removed {len(removed)} temporary file{'s' if len(removed) > 1 else ''} that an interrupted write left "
            f"in {folder}: {', '.join(removed)}"]


@contextlib.contextmanager
def _writing(out: Path, what: str, hint: str | None = None) -> Iterator[None]:
    """A context in which an OSError (a full disk, a folder gone) writing `what` in `out` is a diagnostic."""
    try:
        yield
    except OSError as e:
        raise SpecError(Diagnostic("E202", f"cannot write {what} to {out}: {e.strerror or e}",
                                   hint=hint or "free some space or choose another folder with --out")) from None


def _train(s: Any, cfg: TrainConfig, sources: dict[str, str], rt: Runtime, console: Console,
           params: dict[str, Any], user_params: dict[str, Any], input: Any, freeze: Sequence[str],
           out: Path | None, ckpt: dict[str, Any] | None, init: str | Path | None, progress: bool | None,
           on_epoch_end: Callable[[int, dict[str, Any]], None] | None, notes: list[str],
           graph: Graph | None = None) -> Result:
    torch.manual_seed(cfg.seed)
    last = out / outdir.LAST if out is not None else None
    p = prepare(s, params, input, freeze, cfg, list(user_params) + (list(params) if ckpt else []),
                data_origin=last if ckpt is not None else None, resuming=True, graph=graph)
    p.notes[:0] = notes
    model = p.model
    if init is not None and ckpt is None:
        loaded, init_notes = checkpoint.init_weights(model, checkpoint.load(init, "init")["model"])
        if not loaded:
            raise SpecError(Diagnostic("E701", f"--init: no tensor of the checkpoint {init} fits this network",
                                       hint="the tensors are matched by name and shape: give a checkpoint of this "
                                            "network (or of one that shares layers with it)"))
        p.notes.append(f"--init: {loaded} tensors loaded from {init}")
        p.notes.extend(init_notes)
    model.to(rt.device)
    if rt.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    trainable = [q for q in model.parameters() if q.requires_grad]
    if not trainable:
        raise SpecError(Diagnostic("E202", "every parameter of the network is frozen: there is nothing to train",
                                   hint="unfreeze some layers (the spec's `frozen:` blocks, --freeze)"))
    frozen = sum(q.numel() for q in model.parameters() if not q.requires_grad)
    if frozen:
        p.notes.append(f"{frozen:,} frozen parameters are not trained")
    train_data = make_data(p.ds, p.ds.train, rt, cfg, p.input_shape, train=True)
    test_data = make_data(p.ds, p.ds.test, rt, cfg, p.input_shape, train=False)
    if p.ds.loader == "stream":
        p.notes.append(f"streaming with {train_data.workers} worker process{'es' if train_data.workers != 1 else ''}"
                       + (" (--workers N)" if cfg.workers is None else ""))
    steps = loop.steps_per_epoch(len(train_data), cfg.batch_size, rt.world)
    optimizer = loop.make_optimizer(trainable, cfg, rt.device)
    scheduler = loop.make_scheduler(optimizer, cfg, steps)
    text, suffix = spec_text(s)
    if out is None:
        out = outdir.choose(None, s.name, resume=False)
        if rt.distributed:  # every process must agree on the folder that the first one picked
            import torch.distributed as dist

            box = [str(out)]
            dist.broadcast_object_list(box, src=0)
            out = Path(box[0])
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    history: list[dict[str, Any]] = []
    best = {"acc": -1.0, "epoch": 0}
    start_epoch = 0
    if ckpt is not None:
        assert last is not None
        _restore(last, ckpt, model, optimizer, scheduler, rt)
        history = list(ckpt["history"])
        start_epoch = ckpt["epoch"]
        best = _reconcile_best(out, ckpt, p.notes)
        started = ckpt["started"]
        p.notes.append(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
    settings_doc = _settings_json(cfg, sources, p, rt, s.name, started)
    if rt.main:
        outdir.check_writable(out, _state_bytes(model, cfg))
        from archspec.files import write_atomic

        with _writing(out, "the run's first files"):
            if ckpt is None:
                write_atomic(out / f"spec{suffix}", text)
                write_atomic(out / "settings.json", json.dumps(settings_doc, indent=2) + "\n")
            else:
                report.rewrite_metrics(out, history)
    core = model
    train_model: nn.Module = model
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if rt.device.type == "cuda":  # batch statistics over every process's share of the batch
            model = core = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        unused = any(w.code == "W100" for w in p.graph.warnings)
        train_model = DDP(model, device_ids=[rt.device] if rt.device.type == "cuda" else None,
                          find_unused_parameters=unused)
    eval_model: nn.Module = model
    if cfg.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
        eval_model = torch.compile(model)  # type: ignore[assignment]
    f = loop.Fit(train_model, core, eval_model, p.heads, optimizer, scheduler, rt, cfg, train_data, test_data,
                 classes=len(p.ds.classes), frozen_norms=loop.frozen_norms(model))
    board = None
    if cfg.tensorboard and rt.main:
        from archspec.pytorch.train import tboard

        board = tboard.Board(out, start_epoch)
        note = board.graph(core, sample_input(p.graph, p.graph.inputs[0], 1, device=rt.device, zeros=True))
        if note:
            p.notes.append(note)
    _intro(console, s.name, cfg, p, rt, out, trainable)
    meta = {"started": started, "settings": cfg.to_record(), "params": p.params, "input": list(p.input_shape),
            "data": data.info(p.ds), "spec_name": s.name, "spec_sha256": _sha(text)}
    result = Result("done", out, start_epoch, classes=list(p.ds.classes), history=history, notes=p.notes,
                    model=core)
    t0 = time.perf_counter() - (history[-1]["elapsed_s"] if history else 0.0)
    try:
        unit = "seq/s" if p.graph[p.graph.inputs[0]].meta.dtype == "int64" else "img/s"
        with report.Progress(console, progress if rt.main else False, unit) as bar:
            for epoch in range(start_epoch, cfg.epochs):
                bar.start_epoch(epoch + 1, cfg.epochs, steps)
                row: dict[str, Any] = {"epoch": epoch + 1, "epochs": cfg.epochs}
                row.update(loop.train_epoch(f, epoch, bar.update))
                row["lr"] = optimizer.param_groups[0]["lr"]
                if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                    ev = loop.evaluate(f, test_data, confusion=cfg.tensorboard)
                    row["test_loss"], row["test_acc"] = ev["loss"], ev["acc"]
                row["epoch_s"] = row["train_s"]
                row["elapsed_s"] = time.perf_counter() - t0
                history.append(row)
                result.epochs = epoch + 1
                improved = row.get("test_acc") is not None and row["test_acc"] > best["acc"]
                if improved:
                    best = {"acc": row["test_acc"], "epoch": epoch + 1}
                if rt.main:
                    try:
                        _save_epoch(out, f, epoch + 1, history, best, improved, meta)
                    except OSError as e:  # the disk filled up, or the folder went away, during the run
                        raise SpecError(Diagnostic(
                            "E202", f"cannot write the checkpoint of epoch {epoch + 1} to {out}: {e.strerror or e}",
                            hint=f"the last complete checkpoint is {out / outdir.LAST} (if any): free some space, "
                                 f"then continue with --resume --out {out}")) from None
                if board is not None:
                    board.epoch(row, ev["confusion"] if "test_acc" in row else None)
                bar.end_epoch(row)
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, row)
    except loop.Diverged as e:
        if board is not None:
            board.close()
        result.status = "diverged"
        good = (f"{out / outdir.LAST} (epoch {result.epochs})" if result.epochs else "none: no epoch finished")
        result.message = (f"{e}; training stopped. The last good checkpoint is {good}. Try a lower learning "
                          f"rate (--lr), --grad-clip, or another optimizer.")
        console.print(f"[bold red]diverged:[/] {result.message}", soft_wrap=True)
        return result
    except KeyboardInterrupt:
        if board is not None:
            board.close()
        result.status = "interrupted"
        result.message = (f"interrupted after epoch {result.epochs} of {cfg.epochs}; continue with --resume "
                          f"--out {out}")
        console.print(f"[yellow]{result.message}[/]", soft_wrap=True)
        return result
    if board is not None:
        board.close()
    _finish(console, f, result, best, out, s.name, p)
    return result


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _restore(path: Path, ckpt: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             rt: Runtime) -> None:
    """Load a checked `last.pt` into the run: each state is compared with this run's before it is loaded,
    and the random generators are restored last."""
    checkpoint.check_model(path, ckpt["model"], model, "resume")
    model.load_state_dict(ckpt["model"])
    checkpoint.check_optimizer(path, ckpt["optimizer"], optimizer)
    checkpoint.check_like(path, "scheduler", ckpt["scheduler"], scheduler.state_dict() if scheduler else None)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise checkpoint.damaged(path, f"holds an optimizer or schedule state that does not load: {e}", "resume",
                                 "optimizer") from None
    if rt.scaler is not None and ckpt["scaler"]:  # a run continued on the CPU leaves the scaler out
        checkpoint.check_like(path, "scaler", ckpt["scaler"], rt.scaler.state_dict())
        rt.scaler.load_state_dict(ckpt["scaler"])
    checkpoint.restore_rng(path, ckpt["rng"])


def _reconcile_best(out: Path, ckpt: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The best epoch so far, as best.pt holds it: best.pt is written before last.pt, so a kill between
    the two leaves best.pt one epoch ahead (and a run of an older archspec, which wrote last.pt first,
    could leave it behind); best.pt is the truth, and a note says when last.pt recorded another epoch."""
    recorded = dict(ckpt["best"])
    path = out / outdir.BEST
    if not path.exists():
        if recorded["epoch"]:
            notes.append(f"{path} is missing (last.pt recorded epoch {recorded['epoch']} as the best): the next "
                         "epoch that improves on the test accuracy writes it")
        return {"acc": -1.0, "epoch": 0}
    b = checkpoint.load(path, "best")
    if {k: tuple(v.shape) for k, v in b["model"].items()} != {k: tuple(v.shape) for k, v in ckpt["model"].items()}:
        raise checkpoint.damaged(path, "holds the weights of another network than last.pt", "best", "model")
    if b["epoch"] != recorded["epoch"] or b["test_acc"] != recorded["acc"]:
        notes.append(f"best.pt holds epoch {b['epoch']} (test accuracy {b['test_acc']:.2%}), last.pt recorded epoch "
                     f"{recorded['epoch']}: a write was interrupted; best.pt is kept as the best so far")
        return {"acc": float(b["test_acc"]), "epoch": b["epoch"]}
    return recorded


def _save_epoch(out: Path, f: loop.Fit, epoch: int, history: list[dict[str, Any]], best: dict[str, Any],
                improved: bool, meta: dict[str, Any]) -> None:
    state = f.core.state_dict()
    payload = {"epoch": epoch, "model": state, "optimizer": f.optimizer.state_dict(),
               "scheduler": f.scheduler.state_dict() if f.scheduler is not None else None,
               "scaler": f.rt.scaler.state_dict() if f.rt.scaler is not None else None,
               "rng": checkpoint.rng_state(), "history": checkpoint.plain(history), "best": dict(best),
               **checkpoint.plain(meta)}
    if improved:  # best.pt first: last.pt never records a best that is not on the disk
        checkpoint.save(out / outdir.BEST, {"epoch": epoch, "model": state, "test_acc": best["acc"],
                                            **checkpoint.plain(meta)})
    checkpoint.save(out / outdir.LAST, payload)
    report.append_metrics(out, history[-1])
    from archspec.files import write_atomic

    write_atomic(out / "curves.svg", report.curves_svg(history, f"{meta['spec_name']}: {epoch} epochs"))


def _intro(console: Console, name: str, cfg: TrainConfig, p: Prepared, rt: Runtime, out: Path,
           trainable: list[nn.Parameter]) -> None:
    n = sum(q.numel() for q in trainable)
    console.print(f"[bold]Training {name}[/] on {p.ds.describe()}")
    console.print(f"  {n:,} trainable parameters; {rt.describe()}; {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} "
                  f"of batch {cfg.batch_size}, "
                  f"{cfg.optimizer} lr {cfg.resolved_lr():g}" +
                  (f", {cfg.schedule} schedule" if cfg.schedule != "constant" else "") + f"; output {out}")
    losses = ", ".join(f"{h.name}: {h.loss}" + (f" × {h.weight:g}" if len(p.heads) > 1 else "") for h in p.heads)
    console.print(f"  loss {losses}")
    for note in p.notes:
        console.print(f"  [dim]note:[/] {note}")


def _finish(console: Console, f: loop.Fit, result: Result, best: dict[str, Any], out: Path, name: str,
            p: Prepared) -> None:
    ev = loop.evaluate(f, f.test, confusion=True)
    result.test_acc, result.test_loss, result.confusion = ev["acc"], ev["loss"], ev["confusion"]
    result.best_acc = best["acc"] if best["acc"] >= 0 else None
    result.best_epoch = best["epoch"] or None
    names = report.class_names(p.ds.classes, ev["confusion"])
    if f.rt.main:
        from archspec.files import write_atomic

        doc = {"network": name, "epochs": result.epochs, "test_loss": ev["loss"], "test_acc": ev["acc"],
               "samples": ev["samples"], "best_acc": result.best_acc, "best_epoch": result.best_epoch,
               "classes": names, "confusion": ev["confusion"]}
        with _writing(out, "the test results (test.json)",
                      f"the checkpoints are complete: free some space, then `--resume --out {out}` writes the test "
                      "results without training again"):
            write_atomic(out / "test.json", json.dumps(doc, indent=1) + "\n")
        console.print(report.confusion_table(ev["confusion"], names) if ev["confusion"] is not None
                      else report.no_confusion(len(names)))
        console.print(f"[bold]Test accuracy {ev['acc']:.2%}[/] (loss {ev['loss']:.4f}, {ev['samples']:,} samples"
                      + (", per position" if p.heads[0].spatial else "") + ")"
                      + (f"; best {result.best_acc:.2%} after epoch {result.best_epoch}" if result.best_acc else ""))
        console.print(f"Wrote {out}/: last.pt, best.pt, metrics.jsonl, metrics.csv, curves.svg, test.json, "
                      "settings.json")

