"""The GPU check (issue 15): one command that runs the paths of `archspec train` that only a GPU takes, the
first time a GPU is available, and prints one summary table.

    python benchmarks/gpu_check.py            # everything: under ten minutes on one modern GPU
    python benchmarks/gpu_check.py --quick    # fewer steps (CI runs this on its CPU-only machine)

On the GPU (each a row of the table):
  cuda          LeNet-5 trained by `archspec.train.train(device="cuda")` on the MNIST images (or the built-in
                data when ../shared/data/mnist is absent): it must learn (test accuracy above 90 %)
  amp bf16      a fixed number of steps of the trainer's loop under autocast in bfloat16 (where supported)
  amp fp16      the same in float16 with the gradient scaler
  channels-last the same steps with the model and batches in channels-last memory format
  torch.compile LeNet-5 trained with `compile=True`
  pinned        the streaming loader on CUDA: batches from pinned memory, copied without blocking
  ddp nccl      torchrun on every visible GPU (NCCL, synchronised batch norm): two epochs of LeNet-5
  resnet-18     synthetic 3×224×224 data, fixed steps, AMP: the trainer's images/s against a hand-written
                loop on the same GPU, and `torch.cuda.max_memory_allocated` against `analyze --training`
On the CPU (always): LeNet-5's trainer against a hand-written loop, the training-memory estimate
against autograd's saved tensors, and the streaming loader with one worker.

Without a GPU it says so plainly, runs the CPU parts and exits 0; a check that fails exits 1.
"""

from __future__ import annotations

import argparse
import copy
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

Row = tuple[str, str, str, float]  # check, status, detail, seconds


def mnist_or_synthetic() -> str:
    from bench_train import mnist_dir

    d = mnist_dir()
    return f"mnist:{d}" if (d / "t10k-images-idx3-ubyte.gz").exists() else "synthetic:5000"


def quiet() -> Any:
    from rich.console import Console

    return Console(quiet=True)


def run(name: str, fn: Callable[[], str], rows: list[Row]) -> None:
    t = time.perf_counter()
    try:
        detail = fn()
        status = "ok"
    except Exception as e:  # a check that fails is a row, and the others still run
        detail = f"{type(e).__name__}: {e}".splitlines()[0][:160]
        status = "FAILED"
        traceback.print_exc(file=sys.stderr)
    rows.append((name, status, detail, time.perf_counter() - t))
    print(f"  {name}: {status} ({detail})", file=sys.stderr, flush=True)


# -- steps of the trainer's loop and of a hand-written loop ----------------------------------------------

def loop_steps(spec: str, shape: tuple[int, ...], device: str, steps: int, batch: int, *, amp: Any = None,
               scaler: bool = False, channels_last: bool = False, params: dict[str, Any] | None = None,
               classes: int = 10) -> dict[str, float]:
    """`steps` steps of archspec's loop (loop.train_epoch on synthetic tensors held on the device) and the
    same of a hand-written loop; images/s of each (the second of two epochs), the final loss, and the
    peak CUDA memory of archspec's epoch."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from archspec.pytorch.module import build, spec_graph
    from archspec.pytorch.train import heads, loop
    from archspec.pytorch.train.batches import DeviceData
    from archspec.pytorch.train.config import TrainConfig
    from archspec.pytorch.train.device import Runtime
    from archspec.pytorch.train.formats import Split

    dev = torch.device(device)
    rt = Runtime(dev, amp, torch.amp.GradScaler("cuda") if scaler else None, channels_last=channels_last)
    cfg = TrainConfig(batch_size=batch, optimizer="sgd", lr=0.01, seed=0)
    g = spec_graph(spec, input="x".join(map(str, shape)), **(params or {}))
    torch.manual_seed(0)
    model, plan = build(g)
    hs = heads.prepare(model, plan, g)
    hand = copy.deepcopy(model).to(dev)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        hand.to(memory_format=torch.channels_last)
    n = steps * batch
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, n).astype(np.int64)
    data = DeviceData(Split(x, y), rt, 1 / 255, [0.5] * shape[0], [0.25] * shape[0])
    opt = loop.make_optimizer(list(model.parameters()), cfg, dev)
    fit = loop.Fit(model, model, model, hs, opt, None, rt, cfg, data, data, classes=classes)
    hand_opt = torch.optim.SGD(hand.parameters(), lr=0.01, momentum=0.9)
    xt = ((torch.from_numpy(x).float() / 255 - 0.5) / 0.25).to(dev)
    yt = torch.from_numpy(y).to(dev)
    hand_scaler = torch.amp.GradScaler("cuda") if scaler else None

    def hand_epoch() -> float:
        hand.train()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(0, n, batch):
            xb = xt[i:i + batch]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(hand(xb), yt[i:i + batch])
            hand_opt.zero_grad(set_to_none=True)
            if hand_scaler is not None:
                hand_scaler.scale(loss).backward()
                hand_scaler.step(hand_opt)
                hand_scaler.update()
            else:
                loss.backward()
                hand_opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t)

    ours = theirs = 0.0
    last: dict[str, float] = {}
    for epoch in range(2):  # the first warms up (cuDNN's autotuning, allocator)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        last = loop.train_epoch(fit, epoch)
        peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else 0
        ours = last["images_per_s"]
        theirs = hand_epoch()
    if not np.isfinite(last["train_loss"]):
        raise RuntimeError(f"the loss is {last['train_loss']}")
    return {"ours": ours, "hand": theirs, "loss": last["train_loss"], "peak": float(peak)}


# -- the checks ----------------------------------------------------------------------------------------

def cpu_checks(quick: bool, rows: list[Row]) -> None:
    def lenet() -> str:
        r = loop_steps("lenet5", (1, 32, 32), "cpu", 8 if quick else 60, 64)
        return f"archspec {r['ours']:,.0f} img/s, hand-written {r['hand']:,.0f} img/s, ratio {r['ours'] / r['hand']:.2f}"

    def memory() -> str:
        import torch
        from test_training_memory import saved_bytes  # type: ignore[import-not-found]

        import archspec
        from archspec.report.training import training_memory

        a = archspec.analyze("resnet", depth=18, input="3x64x64", batch=4)
        model = archspec.compile("resnet", depth=18, input="3x64x64").train()
        measured = saved_bytes(model, torch.randn(4, 3, 64, 64))
        estimate = training_memory(a).activations
        if abs(estimate - measured) > 0.05 * measured:
            raise AssertionError(f"estimate {estimate:,} B, autograd saved {measured:,} B")
        return f"ResNet-18 3×64×64 batch 4: activations estimated {estimate / 2**20:.1f} MiB, autograd {measured / 2**20:.1f} MiB"

    def streaming() -> str:
        from bench_train import make_jpegs_more

        from archspec.train import train

        with tempfile.TemporaryDirectory() as tmp:
            make_jpegs_more(Path(tmp) / "jpegs", 0, 60)
            r = train(ROOT / "specs" / "lenet5.arch", data=f"folder:{Path(tmp) / 'jpegs'}", input="3x32x32",
                      loader="stream", workers=1, epochs=1, batch_size=16, out=Path(tmp) / "run", threads=1,
                      progress=False, console=quiet())
        if r.status != "done":
            raise RuntimeError(r.message)
        return f"1 epoch of 54 JPEGs, 1 worker: {r.history[-1]['images_per_s']:,.0f} img/s"

    sys.path.insert(0, str(ROOT / "tests" / "report"))  # test_training_memory measures what PyTorch saves
    run("cpu: lenet-5 loop", lenet, rows)
    run("cpu: training memory", memory, rows)
    run("cpu: streaming", streaming, rows)


def gpu_checks(quick: bool, rows: list[Row]) -> None:
    import torch

    from archspec.train import train

    steps = 20 if quick else 200
    data = mnist_or_synthetic()

    def cuda() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            r = train(ROOT / "specs" / "lenet5.arch", data=data, holdout=2000, epochs=2 if quick else 5, device="cuda",
                      out=Path(tmp) / "run", progress=False, console=quiet())
        if r.test_acc is None or r.test_acc < 0.9:
            raise AssertionError(f"test accuracy {r.test_acc}")
        return f"LeNet-5 on {data.split(':')[0]}: test accuracy {r.test_acc:.2%}, {r.history[-1]['images_per_s']:,.0f} img/s"

    def amp(dtype: Any, scaler: bool) -> Callable[[], str]:
        def check() -> str:
            r = loop_steps("lenet5", (1, 32, 32), "cuda", steps, 128, amp=dtype, scaler=scaler)
            return f"loss {r['loss']:.3f}; archspec {r['ours']:,.0f} img/s, hand-written {r['hand']:,.0f} img/s"
        return check

    def channels_last() -> str:
        r = loop_steps("resnet", (3, 64, 64), "cuda", steps, 64, channels_last=True, params={"depth": 18})
        return f"ResNet-18 3×64×64: archspec {r['ours']:,.0f} img/s, hand-written {r['hand']:,.0f} img/s"

    def compiled() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            r = train(ROOT / "specs" / "lenet5.arch", data="synthetic:2000", epochs=1, device="cuda", compile=True,
                      out=Path(tmp) / "run", progress=False, console=quiet())
        return f"test accuracy {r.test_acc:.2%}, {r.history[-1]['images_per_s']:,.0f} img/s"

    def pinned() -> str:
        from bench_train import make_jpegs_more

        with tempfile.TemporaryDirectory() as tmp:
            make_jpegs_more(Path(tmp) / "jpegs", 0, 500 if quick else 5000)
            r = train(ROOT / "specs" / "lenet5.arch", data=f"folder:{Path(tmp) / 'jpegs'}", input="3x32x32",
                      loader="stream", epochs=1, device="cuda", out=Path(tmp) / "run", progress=False,
                      console=quiet())
        return f"streaming from pinned memory: {r.history[-1]['images_per_s']:,.0f} img/s"

    def ddp() -> str:
        n = torch.cuda.device_count()
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), "-m",
                   "archspec", "train", str(ROOT / "specs" / "lenet5.arch"), "--data", data, "--holdout", "2000",
                   "--epochs", "2", "--device", "cuda", "--out", str(Path(tmp) / "run"), "--no-progress"]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError((p.stdout + p.stderr)[-500:])
        return f"{n} GPU{'s' if n > 1 else ''} (NCCL): " + next(
            (ln.strip() for ln in p.stdout.splitlines() if ln.startswith("Test accuracy")), "done")

    def resnet() -> str:
        import archspec
        from archspec.report.training import training_memory

        batch = 64
        r = loop_steps("resnet", (3, 224, 224), "cuda", 10 if quick else 50, batch, amp=torch.bfloat16
                       if torch.cuda.is_bf16_supported() else torch.float16, channels_last=True,
                       scaler=not torch.cuda.is_bf16_supported(), params={"depth": 18}, classes=1000)
        est = training_memory(archspec.analyze("resnet", depth=18, batch=batch), "sgd").total
        return (f"archspec {r['ours']:,.0f} img/s, hand-written {r['hand']:,.0f} img/s (ratio "
                f"{r['ours'] / r['hand']:.2f}); peak memory {r['peak'] / 2**30:.2f} GiB, float32 estimate "
                f"{est / 2**30:.2f} GiB (AMP halves the activations)")

    run("cuda", cuda, rows)
    if torch.cuda.is_bf16_supported():
        run("amp bf16", amp(torch.bfloat16, False), rows)
    else:
        rows.append(("amp bf16", "skipped", "this GPU has no bfloat16", 0.0))
    run("amp fp16 + scaler", amp(torch.float16, True), rows)
    run("channels-last", channels_last, rows)
    run("torch.compile", compiled, rows)
    run("pinned memory", pinned, rows)
    run("ddp nccl", ddp, rows)
    run("resnet-18 224", resnet, rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)  # the CPU parts: one thread (a machine shared with other jobs runs them fastest so)
    print(f"archspec GPU check: torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}), python "
          f"{platform.python_version()}{' (quick)' if args.quick else ''}")
    rows: list[Row] = []
    cpu_checks(args.quick, rows)
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        print(f"GPUs: {names}")
        gpu_checks(args.quick, rows)
    else:
        print("No GPU is present: torch.cuda.is_available() is False on this machine. The GPU checks (CUDA, AMP "
              "bf16/fp16, channels-last, torch.compile, pinned memory, NCCL DDP, ResNet-18 at 224) were not run; "
              "the CPU parts were.")
    print("\n| Check | Status | Detail | Seconds |")
    print("|---|---|---|--:|")
    for name, status, detail, seconds in rows:
        print(f"| {name} | {status} | {detail} | {seconds:.1f} |")
    failed = [r for r in rows if r[1] == "FAILED"]
    if failed:
        print(f"\nFAILED: {', '.join(r[0] for r in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
