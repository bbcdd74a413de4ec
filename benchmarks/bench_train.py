"""Training on real data, and the trainer's speed against a minimal hand-written PyTorch loop (issue 6).

    python benchmarks/bench_train.py            # the full profile (a few minutes on a laptop CPU)
    python benchmarks/bench_train.py --quick    # a smoke run in seconds, 1 thread, no targets (CI runs this)

1. accuracy: LeNet-5 (specs/lenet5.arch) trained by `archspec.train.train` on the real MNIST images in
   ../shared/data/mnist (the 10,000 test images: the first 8,000 for training, the last 2,000 for
   testing), resized from 28×28 to the spec's 32×32. Must reach 97 % test accuracy.
2. throughput: the trainer's epoch (`archspec.pytorch.train.loop.train_epoch`, what `archspec train` runs)
   against a hand-written loop (index a normalised tensor, forward, cross-entropy, backward, Adam
   step) on the same model, data, batch size, optimizer and threads, in short alternating epochs (the
   machine is shared and noisy: neighbouring epochs see the same load). The trainer must reach 95 % of
   the hand-written loop's images/s (the median of the neighbours' ratios).

The data is found at $ARCHSPEC_MNIST, else $ARCHSPEC_SHARED/data/mnist, else ../shared/data/mnist beside
the repository; nothing is downloaded. Prints Markdown for docs/benchmarks.md ("Training").
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCURACY_TARGET = 0.97
SPEED_TARGET = 0.95
# The recipe of the accuracy run (everything else is the trainer's default).
RECIPE = {"epochs": 15, "batch_size": 64, "optimizer": "adam", "lr": 0.003, "schedule": "onecycle", "crop": 2}


def mnist_dir() -> Path:
    if os.environ.get("ARCHSPEC_MNIST"):
        return Path(os.environ["ARCHSPEC_MNIST"])
    shared = Path(os.environ.get("ARCHSPEC_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "mnist"


def accuracy(data: Path, quick: bool, threads: int) -> dict[str, float]:
    from rich.console import Console

    from archspec.train import train

    recipe = dict(RECIPE, epochs=1, limit=500) if quick else dict(RECIPE)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        r = train(ROOT / "specs" / "lenet5.arch", data=f"mnist:{data}", holdout=2000, out=Path(out) / "run",
                  progress=False, threads=threads, console=Console(quiet=True), **recipe)
        seconds = time.perf_counter() - t
    assert r.test_acc is not None
    return {"acc": r.test_acc, "seconds": seconds, "epochs": r.epochs,
            "train_s": sum(row["train_s"] for row in r.history), "train": 500 if quick else 8000}


def throughput(data: Path, threads: int, rounds: int, chunk: int = 2560) -> dict[str, float]:
    """Images/s of the trainer's epoch and of a hand-written loop on the same `chunk` samples, in
    alternating short epochs (the two see the same load on a shared machine); the ratio is the median
    of the ratios of neighbouring epochs."""
    import statistics

    import torch
    import torch.nn.functional as F

    from archspec.pytorch.module import build, spec_graph
    from archspec.pytorch.train import data as datasets
    from archspec.pytorch.train import heads, loop
    from archspec.pytorch.train.batches import DeviceData
    from archspec.pytorch.train.config import TrainConfig
    from archspec.pytorch.train.device import setup

    cfg = TrainConfig(batch_size=64, optimizer="adam", lr=1e-3, threads=threads, seed=0)
    rt = setup("cpu", False, threads)
    ds = datasets.load(f"mnist:{data}", (1, 32, 32), classes=10, holdout=2000, limit=chunk)
    g = spec_graph(ROOT / "specs" / "lenet5.arch")
    torch.manual_seed(0)
    model, plan = build(g)
    hs = heads.prepare(model, plan, g)  # the final softmax becomes the identity: the model gives logits
    hand_model = copy.deepcopy(model)

    # the trainer's epoch, as `archspec train` runs it
    train_data = DeviceData(ds.train, rt, ds.scale, ds.mean, ds.std)
    opt = loop.make_optimizer(list(model.parameters()), cfg, rt.device)
    fit = loop.Fit(model, model, model, hs, opt, None, rt, cfg, train_data, train_data, classes=10)

    # the hand-written loop: a normalised float tensor, indexed by a permutation
    x = (torch.from_numpy(ds.train.x).float() / 255 - ds.mean[0]) / ds.std[0]
    y = torch.from_numpy(ds.train.y)
    hand_opt = torch.optim.Adam(hand_model.parameters(), lr=1e-3)

    def hand_epoch(epoch: int) -> float:
        hand_model.train()
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        t = time.perf_counter()
        for i in range(0, len(y), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(hand_model(x[idx]), y[idx])
            hand_opt.zero_grad(set_to_none=True)
            loss.backward()
            hand_opt.step()
        return len(y) / (time.perf_counter() - t)

    ours, hand, ratios = [], [], []
    for epoch in range(rounds + 1):  # the first round warms up both and is not counted
        if epoch % 2:
            o = loop.train_epoch(fit, epoch)["images_per_s"]
            h = hand_epoch(epoch)
        else:
            h = hand_epoch(epoch)
            o = loop.train_epoch(fit, epoch)["images_per_s"]
        if epoch:
            ours.append(o)
            hand.append(h)
            ratios.append(o / h)
    return {"ours": statistics.median(ours), "hand": statistics.median(hand), "ratio": statistics.median(ratios),
            "samples": len(y), "rounds": rounds}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds, not minutes (a smoke test)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: every core; 1 with --quick)")
    p.add_argument("--rounds", type=int, default=0, help="alternating epochs of the throughput test")
    args = p.parse_args()
    data = mnist_dir()
    if not (data / "t10k-images-idx3-ubyte.gz").exists():
        print(f"bench_train: no MNIST files in {data} (set ARCHSPEC_MNIST); nothing is downloaded", file=sys.stderr)
        return 2
    import torch

    from archspec.pytorch.train.device import cpu_cores

    threads = args.threads or (1 if args.quick else cpu_cores())
    print(f"archspec training benchmark: {platform.processor() or platform.machine()}, {cpu_cores()} cores, "
          f"{threads} thread{'s' if threads > 1 else ''}, torch {torch.__version__}, python "
          f"{platform.python_version()}{' (quick)' if args.quick else ''}\n")
    a = accuracy(data, args.quick, threads)
    recipe = ", ".join(f"{k} {v}" for k, v in (dict(RECIPE, epochs=a["epochs"])).items())
    print("| Network | Data | Recipe | Test accuracy | Time (training only) |")
    print("|---|---|---|--:|--:|")
    print(f"| LeNet-5 (specs/lenet5.arch) | MNIST, {a['train']:,.0f} train / 2,000 test, 28×28 resized to 32×32 "
          f"| {recipe} | {a['acc']:.2%} | {a['seconds']:.0f} s ({a['train_s']:.0f} s) |\n")
    t = throughput(data, threads, args.rounds or (2 if args.quick else 20), chunk=640 if args.quick else 2560)
    print("| Loop | Images/s (median epoch) |")
    print("|---|--:|")
    print(f"| hand-written PyTorch loop | {t['hand']:,.0f} |")
    print(f"| archspec trainer | {t['ours']:,.0f} |")
    print(f"\nthroughput ratio archspec / hand-written: {t['ratio']:.3f} (LeNet-5, batch 64, Adam; median of "
          f"{t['rounds']:.0f} pairs of alternating epochs of {t['samples']:,.0f} samples)")
    failed = []
    if not args.quick and a["acc"] < ACCURACY_TARGET:
        failed.append(f"test accuracy {a['acc']:.2%} is below {ACCURACY_TARGET:.0%}")
    if not args.quick and t["ratio"] < SPEED_TARGET:
        failed.append(f"throughput ratio {t['ratio']:.3f} is below {SPEED_TARGET}")
    for f in failed:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
