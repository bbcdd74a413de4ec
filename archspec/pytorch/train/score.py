"""`archspec evaluate SPEC CHECKPOINT`: a checkpoint's loss, accuracy and confusion matrix on the test
split of its data (or of `--data`), normalised as in training (the checkpoint keeps the statistics)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from archspec.pytorch.train import checkpoint, loop
from archspec.pytorch.train.batches import DeviceData
from archspec.pytorch.train.config import apply
from archspec.pytorch.train.device import setup, teardown


def evaluate(spec: Any, ckpt_path: str | Path, *, params: dict[str, Any] | None = None, input: Any = None,
             data: str | None = None, holdout: float | None = None, limit: int | None = None,
             fit: str | None = None, device: str | None = None, threads: int | None = None,
             console: Console | None = None) -> dict[str, Any]:
    """Score a checkpoint; returns {"loss", "acc", "samples", "confusion", "classes"}."""
    from archspec.pipeline import load
    from archspec.pytorch.train.report import class_names, confusion_table, make_console, no_confusion
    from archspec.pytorch.train.run import prepare

    console = console or make_console()
    ckpt = checkpoint.load(ckpt_path, "evaluate")
    s = load(spec)
    cfg = checkpoint.config_of(ckpt)
    given = {"data": data, "holdout": holdout, "limit": limit, "fit": fit, "device": device, "threads": threads}
    apply(cfg, {k: v for k, v in given.items() if v is not None}, "command line", {})
    if data is not None and holdout is None:
        cfg = replace(cfg, holdout=None)
    if data is not None and limit is None:
        cfg = replace(cfg, limit=0)
    build = {**ckpt["params"], **(params or {})}
    rt = setup(cfg.device, False, cfg.threads)
    try:
        p = prepare(s, build, input, (), cfg, list(build), stats=ckpt["data"],
                    data_origin=Path(ckpt_path) if data is None else None)
        checkpoint.check_model(ckpt_path, ckpt["model"], p.model, "evaluate")
        p.model.load_state_dict(ckpt["model"])
        p.model.to(rt.device)
        test = DeviceData(p.ds.test, rt, p.ds.scale, p.ds.mean, p.ds.std, tokens=bool(p.ds.tokens))
        f = loop.Fit(p.model, p.model, p.model, p.heads, torch.optim.SGD([torch.zeros(1, requires_grad=True)]),
                     None, rt, cfg, test, test, classes=len(p.ds.classes))
        ev = loop.evaluate(f, test, confusion=True)
    finally:
        teardown(rt)
    names = class_names(p.ds.classes, ev["confusion"])
    console.print(f"[bold]{s.name}[/] from {ckpt_path} (epoch {ckpt.get('epoch', '?')}) on {p.ds.describe()}")
    for note in p.notes:
        console.print(f"  [dim]note:[/] {note}")
    console.print(confusion_table(ev["confusion"], names) if ev["confusion"] is not None else no_confusion(len(names)))
    console.print(f"[bold]Test accuracy {ev['acc']:.2%}[/] (loss {ev['loss']:.4f}, {ev['samples']:,} samples)")
    return {**ev, "classes": names}
