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
3. streaming: a generated folder of JPEGs (10 classes, 64×64, 1,000 → 5,000 → 20,000 images; 128 with
   --quick) trained through the streaming loader (`--loader stream`, docs/training.md) for one epoch,
   against a plain `torch.utils.data` loop (a Dataset that opens, converts and resizes each image with
   Pillow, a DataLoader with the same workers and batch) on the same model. Each size runs in its own
   process: images/s of both, the ratio (target 0.95), and the peak resident memory of the training
   process and of its largest worker, which must not grow with the folder.

The data is found at $ARCHSPEC_MNIST, else $ARCHSPEC_SHARED/data/mnist, else ../shared/data/mnist beside
the repository; nothing is downloaded. Prints Markdown for docs/benchmarks.md ("Training").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
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


STREAM_SIZES = (1000, 5000, 20000)
STREAM_NET = """network streamnet(classes = 10):
    input 3x64x64
    conv 16 3x3 stride=2 pad=1; bn; relu
    conv 32 3x3 stride=2 pad=1; bn; relu
    globalavgpool
    flatten
    dense classes softmax
"""


def stream_case(folder: Path, workers: int, threads: int, batch: int = 64) -> dict[str, float]:
    """One epoch of the streaming loader and one of a plain torch.utils.data loop (in this process);
    images/s of each, and the peak RSS of this process and of its largest worker (MiB)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from archspec.pytorch.module import build, spec_graph
    from archspec.pytorch.train import data as datasets
    from archspec.pytorch.train import heads, loop
    from archspec.pytorch.train.config import TrainConfig
    from archspec.pytorch.train.device import setup
    from archspec.pytorch.train.stream import make_data

    cfg = TrainConfig(batch_size=batch, optimizer="adam", lr=1e-3, threads=threads, seed=0, loader="stream",
                      workers=workers, flip=True)
    rt = setup("cpu", False, threads)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "streamnet.arch"
        spec.write_text(STREAM_NET)
        g = spec_graph(spec)
    torch.manual_seed(0)
    model, plan = build(g)
    hs = heads.prepare(model, plan, g)
    hand_model = copy.deepcopy(model)
    ds = datasets.load(f"folder:{folder}", (3, 64, 64), classes=10, holdout=0.1, loader="stream")
    train_data = make_data(ds, ds.train, rt, cfg, (3, 64, 64), train=True)
    opt = loop.make_optimizer(list(model.parameters()), cfg, rt.device)
    fit = loop.Fit(model, model, model, hs, opt, None, rt, cfg, train_data, train_data, classes=10)
    files, labels = list(ds.train.files), ds.train.y
    mean, std = torch.tensor(ds.mean).view(1, 3, 1, 1), torch.tensor(ds.std).view(1, 3, 1, 1)

    class Plain(Dataset[tuple[torch.Tensor, int]]):  # what anyone writes for a folder of images
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            with Image.open(files[i]) as im:
                a = torch.from_numpy(np.asarray(im.convert("RGB").resize((64, 64))).copy())
            x = a.permute(2, 0, 1)
            if torch.rand(1) < 0.5:
                x = x.flip(-1)
            return x, int(labels[i])

    hand_opt = torch.optim.Adam(hand_model.parameters(), lr=1e-3)
    loaders = {"plain": DataLoader(Plain(), batch_size=batch, shuffle=True, num_workers=workers,
                       prefetch_factor=4 if workers else None, persistent_workers=workers > 0, drop_last=True)}

    def hand_epoch() -> float:
        hand_model.train()
        t = time.perf_counter()
        n = 0
        for xb, yb in loaders["plain"]:
            x = (xb.float() / 255 - mean) / std
            loss = F.cross_entropy(hand_model(x), yb)
            hand_opt.zero_grad(set_to_none=True)
            loss.backward()
            hand_opt.step()
            n += len(yb)
        return n / (time.perf_counter() - t)

    ours, hand = [], []
    for epoch in range(3):  # the first epoch of each starts its workers: a warm-up, not counted
        if epoch % 2:  # alternating which goes first: neighbouring epochs see the same load
            hand.append(hand_epoch())
            ours.append(loop.train_epoch(fit, epoch)["images_per_s"])
        else:
            ours.append(loop.train_epoch(fit, epoch)["images_per_s"])
            hand.append(hand_epoch())
    loaders.clear()
    del train_data, fit  # the workers end: their peak memory is counted in RUSAGE_CHILDREN
    import gc

    gc.collect()
    ratios = sorted(o / h for o, h in zip(ours[1:], hand[1:]))
    return {"images": len(files), "ours": max(ours[1:]), "hand": max(hand[1:]), "ratio": ratios[len(ratios) // 2],
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def streaming(quick: bool, threads: int) -> list[dict[str, float]]:
    sizes = (128,) if quick else STREAM_SIZES
    workers = 1 if quick else 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        made = 0
        root = Path(tmp) / "jpegs"
        for n in sizes:
            make_jpegs_more(root, made, n)
            made = n
            p = subprocess.run([sys.executable, __file__, "--stream-case", str(root), "--workers", str(workers),
                                "--threads", str(threads)], capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(f"the streaming case of {n} images failed:\n{p.stderr[-3000:]}")
            rows.append({**json.loads(p.stdout.strip().splitlines()[-1]), "workers": workers})
    return rows


def make_jpegs_more(root: Path, have: int, want: int) -> None:
    """Grow the folder from `have` to `want` images (the same images as make_jpegs(root, want))."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(have)
    colours = np.random.default_rng(0).integers(0, 256, (10, 3))
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(have, want):
        c = i % 10
        a = rng.integers(0, 96, (64, 64, 3)) + colours[c] * 0.6
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(root / f"class{c}" / f"{i:06d}.jpg", quality=85)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds, not minutes (a smoke test)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: every core; 1 with --quick)")
    p.add_argument("--rounds", type=int, default=0, help="alternating epochs of the throughput test")
    p.add_argument("--stream-case", metavar="DIR", help=argparse.SUPPRESS)  # one size of the streaming case
    p.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--no-stream", action="store_true", help="leave out the streaming case")
    args = p.parse_args()
    if args.stream_case:
        print(json.dumps(stream_case(Path(args.stream_case), args.workers, args.threads or 1)))
        return 0
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
    if not args.no_stream:
        rows = streaming(args.quick, threads)
        print("\n| Images (64×64 JPEG) | Workers | Streaming loader, images/s | Plain DataLoader loop, images/s | Ratio "
              "| Peak RSS, training process | Peak RSS, largest worker |")
        print("|--:|--:|--:|--:|--:|--:|--:|")
        for r in rows:
            print(f"| {r['images']:,.0f} | {r['workers']:.0f} | {r['ours']:,.0f} | {r['hand']:,.0f} | "
                  f"{r['ratio']:.3f} | {r['rss_mib']:,.0f} MiB | {r['worker_rss_mib']:,.0f} MiB |")
        if not args.quick:
            worst = min(r["ratio"] for r in rows)
            if worst < SPEED_TARGET:
                failed.append(f"streaming ratio {worst:.3f} is below {SPEED_TARGET}")
            growth = rows[-1]["rss_mib"] / rows[0]["rss_mib"]
            if growth > 1.25:
                failed.append(f"the training process's peak memory grew {growth:.2f}× from {rows[0]['images']:,.0f} "
                              f"to {rows[-1]['images']:,.0f} images")
    if not args.quick and a["acc"] < ACCURACY_TARGET:
        failed.append(f"test accuracy {a['acc']:.2%} is below {ACCURACY_TARGET:.0%}")
    if not args.quick and t["ratio"] < SPEED_TARGET:
        failed.append(f"throughput ratio {t['ratio']:.3f} is below {SPEED_TARGET}")
    for f in failed:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
