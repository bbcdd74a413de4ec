"""The training loop: epochs of steps, evaluation, and the optimizer and schedule they use.

A step: a batch (batches.py), the forward pass under autocast, the weighted loss of every output
(heads.py), backward (through the gradient scaler in float16), optional gradient clipping, the
optimizer's step and the schedule's (every schedule advances once per step). Loss and accuracy are
summed on the device and read every few steps (a read waits for the device): that is when the progress
bar moves and when a loss that is no longer finite stops the run (`Diverged`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archspec.pytorch.train.batches import DeviceData, mix, train_order
from archspec.pytorch.train.config import TrainConfig
from archspec.pytorch.train.device import Runtime, all_sum
from archspec.pytorch.train.heads import Head, head_loss, outputs_of, predict, total_loss
from archspec.pytorch.train.report import CONFUSION_MAX
from archspec.pytorch.train.stream import StreamData

EVAL_BATCH = 2  # evaluation batches: this many training batches (no gradients: less memory per sample)
READS_PER_EPOCH = 20  # how often an epoch reads its running loss (progress, divergence check) ...
READ_EVERY_MIN = 8  # ... but at most every this many steps


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, value: float) -> None:
        super().__init__(f"the training loss became {value} in epoch {epoch}, by step {step}")
        self.epoch, self.step, self.value = epoch, step, value


@dataclass
class Fit:
    """Everything an epoch needs."""

    model: nn.Module  # what training calls: the module, or its DDP / torch.compile wrapper
    core: nn.Module  # the plain module: its state dict is the checkpoint's
    eval_model: nn.Module  # what evaluation calls (never the DDP wrapper: processes may have unequal shares)
    heads: list[Head]
    optimizer: torch.optim.Optimizer
    scheduler: Any  # torch.optim.lr_scheduler.LRScheduler or None
    rt: Runtime
    cfg: TrainConfig
    train: DeviceData | StreamData
    test: DeviceData | StreamData
    classes: int
    frozen_norms: list[nn.Module] = field(default_factory=list)


def steps_per_epoch(n: int, batch_size: int, world: int) -> int:
    return len(train_order(n, batch_size, 0, 0, 0, world)[0])


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    lr, wd = cfg.resolved_lr(), cfg.resolved_weight_decay()
    fused: dict[str, Any] = {"fused": True} if device.type == "cuda" else {}  # one kernel for all parameters
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=wd)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps: int) -> Any:
    """The learning-rate schedule, advanced once per step (`steps` per epoch)."""
    from torch.optim import lr_scheduler

    total = max(1, cfg.epochs * steps)
    if cfg.schedule == "step":
        return lr_scheduler.StepLR(opt, step_size=max(1, cfg.resolved_step_epochs() * steps), gamma=cfg.gamma)
    if cfg.schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "onecycle":
        return lr_scheduler.OneCycleLR(opt, max_lr=cfg.resolved_lr(), total_steps=total)
    return None


def frozen_norms(model: nn.Module) -> list[nn.Module]:
    """Batch-norm layers whose parameters are all frozen: they keep their running statistics too."""
    out: list[nn.Module] = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                out.append(m)
    return out


def train_epoch(f: Fit, epoch: int, on_step: Callable[[int, float, float | None, int], None] | None = None
                ) -> dict[str, float]:
    """One epoch (0-based `epoch`); returns the mean training loss, accuracy and throughput."""
    cfg, rt = f.cfg, f.rt
    f.model.train()
    for m in f.frozen_norms:
        m.eval()
    batches, steps = f.train.epoch(epoch, cfg)
    torch.manual_seed(mix(cfg.seed, epoch, rt.rank, 2))  # dropout and the like: the same after a resume
    main = f.heads[0]
    dev = rt.device
    losses: list[torch.Tensor] = []  # per step, on the device: read every `every` steps
    hits: list[torch.Tensor] = []
    sizes: list[int] = []
    positions = 0
    total = [0.0, 0.0, 0.0, 0.0]  # loss · samples, correct, samples, positions: over every process
    every = max(READ_EVERY_MIN, steps // READS_PER_EPOCH)
    opt, scaler = f.optimizer, rt.scaler
    start = time.perf_counter()
    loss_mean, acc = 0.0, None
    for step, (x, y) in enumerate(batches, 1):
        with rt.autocast():
            outs = outputs_of(f.heads, f.model(x))
            loss = total_loss(f.heads, outs, y, cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_([p for grp in opt.param_groups for p in grp["params"]], cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_([p for grp in opt.param_groups for p in grp["params"]], cfg.grad_clip)
            opt.step()
        if f.scheduler is not None:
            f.scheduler.step()
        with torch.no_grad():
            target = main.target(y)
            losses.append(loss.detach())
            hits.append((predict(main, outs[0].detach()) == target).sum())
            sizes.append(len(y))
            positions += target.numel()
        if step % every == 0 or step == steps:
            weights = torch.tensor(sizes, dtype=torch.float64, device=dev)
            local = torch.stack([(torch.stack(losses).double() * weights).sum(), torch.stack(hits).sum().double(),
                                 weights.sum(), torch.tensor(float(positions), dtype=torch.float64, device=dev)])
            total = all_sum(rt, local).tolist()
            loss_mean = total[0] / max(total[2], 1)
            acc = total[1] / max(total[3], 1)
            if not math.isfinite(loss_mean):
                raise Diverged(epoch + 1, step, loss_mean)
            if on_step is not None:
                on_step(step, loss_mean, acc, int(total[2]))
    seconds = time.perf_counter() - start
    return {"train_loss": loss_mean, "train_acc": acc if acc is not None else float("nan"),
            "images_per_s": total[2] / max(seconds, 1e-9), "train_s": seconds}


@torch.no_grad()
def evaluate(f: Fit, data: DeviceData | StreamData, confusion: bool = False) -> dict[str, Any]:
    """Loss and accuracy of the main output on `data`, shared between the processes; with `confusion`,
    the confusion matrix (rows: true class, columns: predicted), None above CONFUSION_MAX classes."""
    rt, main = f.rt, f.heads[0]
    f.eval_model.eval()
    k = max(f.classes, main.units if main.units > 1 else 2)
    confusion = confusion and k <= CONFUSION_MAX
    sums = torch.zeros(4, device=rt.device, dtype=torch.float64)
    matrix = torch.zeros(k * k if confusion else 1, device=rt.device, dtype=torch.int64)
    batch = max(1, EVAL_BATCH * f.cfg.batch_size // rt.world)
    for x, y in data.eval_batches(batch, rt.rank, rt.world):
        with rt.autocast():
            out = outputs_of(f.heads[:1], f.eval_model(x))[0]
            loss = head_loss(main, out, y)
        target = main.target(y)
        pred = predict(main, out)
        sums[0] += loss.double() * len(y)
        sums[1] += (pred == target).sum()
        sums[2] += len(y)
        sums[3] += target.numel()
        if confusion:
            matrix += torch.bincount((target.reshape(-1) * k + pred.reshape(-1)).clamp(0, k * k - 1), minlength=k * k)
    total = all_sum(rt, sums).tolist()
    result: dict[str, Any] = {"loss": total[0] / max(total[2], 1), "acc": total[1] / max(total[3], 1),
                              "samples": int(total[2])}
    result["confusion"] = all_sum(rt, matrix).view(k, k).tolist() if confusion else None
    return result
