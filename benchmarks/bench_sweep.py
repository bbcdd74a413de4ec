"""`archspec sweep` speed (issue 19): 10,000 ResNet configurations analysed in process, against torchinfo
building and summarising the same configurations, measured in the same run.

    python benchmarks/bench_sweep.py            # the full grid of 10,000 and a torchinfo sample of 20 (minutes)
    python benchmarks/bench_sweep.py --quick    # 40 configurations and a sample of 2 (seconds; CI runs it)

The grid: ResNet depth 18, 34, 50, 101, 152 × the paper's and torchvision's stride placement × without
and with squeeze-and-excitation (se=16) × input 64×64 to 262×262 in steps of 2 × 10, 100, 365, 1000 or
21841 classes. archspec analyses every configuration, on one process and then on two (`jobs=2`, whose rows
must be identical); for comparison, `archspec.analyze` is called on its own for a sample of them (what the
sweep's shared caches save). torchinfo cannot afford the grid: a random sample of configurations (seeded) is built
with `archspec.compile` and summarised with `torchinfo.summary` (PyTorch on one thread), each one's
parameters checked against archspec's row, and the mean time per configuration extrapolated to the grid.
The ratio is torchinfo's extrapolated time / archspec's measured time. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import time
from typing import Any

FULL = {"depth": [18, 34, 50, 101, 152], "variant": ["paper", "torchvision"], "se": [0, 16], "r": "64:262:2",
        "classes": [10, 100, 365, 1000, 21841]}
QUICK = {"depth": [18, 34], "variant": ["paper", "torchvision"], "r": "64:96:8", "classes": [10, 1000]}


def machine() -> str:
    import importlib.metadata as md

    vers = []
    for pkg in ("torch", "torchinfo", "networkx", "pydantic", "lark"):
        with contextlib.suppress(md.PackageNotFoundError):
            vers.append(f"{pkg} {md.version(pkg)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; " + ", ".join(vers) + f"; load average {load:.1f} at the start")


def run_archspec(grid: dict[str, Any], jobs: int) -> tuple[float, float, list[dict[str, Any]]]:
    """(wall seconds, CPU seconds of this process, rows)."""
    import archspec

    wall, cpu = time.perf_counter(), time.process_time()
    t = archspec.sweep("resnet", grid, input="3x{r}x{r}", jobs=jobs)
    return time.perf_counter() - wall, time.process_time() - cpu, t.to_records()


def run_analyze(rows: list[dict[str, Any]], n: int, seed: int = 0) -> float:
    """Mean seconds of `archspec.analyze` called on its own for each of a seeded sample of `n` rows (what a
    loop over configurations costs without the sweep's shared caches)."""
    import archspec

    spec = archspec.load("resnet")  # parsed once, as a careful loop would
    sample = random.Random(seed).sample(rows, n)
    t = time.perf_counter()
    for r in sample:
        params = {k: r[k] for k in ("depth", "variant", "se", "classes") if r.get(k) is not None}
        archspec.analyze(spec, input=f"3x{r['r']}x{r['r']}", **params)
    return (time.perf_counter() - t) / n


def run_torchinfo(rows: list[dict[str, Any]], n: int, seed: int = 0) -> tuple[float, int, int]:
    """Mean seconds to build and summarise a configuration, over a seeded sample of `n` rows; and how many
    of the sample's parameter counts agree with archspec's."""
    import torch
    import torchinfo

    import archspec

    torch.set_num_threads(1)  # stable on a shared machine (see bench_analyze.py)
    sample = random.Random(seed).sample(rows, n)
    times, agree = [], 0
    for r in sample:
        params = {k: r[k] for k in ("depth", "variant", "se", "classes") if r.get(k) is not None}
        res = r["r"]
        t = time.perf_counter()
        model = archspec.compile("resnet", input=f"3x{res}x{res}", **params).eval()
        with torch.no_grad():
            stats = torchinfo.summary(model, input_size=(1, 3, res, res), verbose=0)
        times.append(time.perf_counter() - t)
        agree += stats.total_params == r["params"]
    return sum(times) / len(times), agree, len(sample)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="seconds, not minutes (a smoke test)")
    p.add_argument("--sample", type=int, default=None, help="torchinfo's sample (default 20, or 2 with --quick)")
    args = p.parse_args()
    grid = QUICK if args.quick else FULL
    sample = args.sample or (2 if args.quick else 20)
    print(f"Machine: {machine()}\n")
    import archspec

    for depth in (18, 50):  # warm up: the layers' argument schemas are built on first use, once a process
        archspec.analyze("resnet", depth=depth, se=16)
    wall1, cpu1, rows = run_archspec(grid, 1)
    n = len(rows)
    wall2, _, rows2 = run_archspec(grid, 2)
    same = rows2 == rows
    loop = run_analyze(rows, min(n, 40 if args.quick else 1000))
    info, agree, k = run_torchinfo(rows, min(sample, n))
    print(f"{n:,} ResNet configurations (`{' × '.join(f'{a}={v}' for a, v in grid.items())}`, input 3×r×r)\n")
    print("| run | time | configurations a second | per configuration |")
    print("|---|--:|--:|--:|")
    print(f"| archspec, 1 process | {wall1:.1f} s ({cpu1:.1f} s CPU) | {n / wall1:,.0f} | {wall1 / n * 1e3:.2f} ms |")
    print(f"| archspec, `--jobs 2` | {wall2:.1f} s | {n / wall2:,.0f} | {wall2 / n * 1e3:.2f} ms |")
    print(f"| `archspec.analyze` in a loop, {min(n, 40 if args.quick else 1000):,} sampled, extrapolated | "
          f"{loop * n:.1f} s | {1 / loop:,.0f} | {loop * 1e3:.2f} ms |")
    print(f"| torchinfo (archspec.compile + torchinfo.summary), {k} sampled, extrapolated | {info * n:,.0f} s | "
          f"{1 / info:.1f} | {info * 1e3:.0f} ms |")
    print()
    print(f"torchinfo / archspec (1 process): {info * n / wall1:,.0f}×; a loop of `archspec.analyze` / the sweep: "
          f"{loop * n / wall1:.2f}×; `--jobs 2` rows identical to one process: "
          f"{same}; torchinfo's parameter counts equal archspec's on {agree} of {k} sampled configurations.")
    if not same or agree != k:
        raise SystemExit("the runs disagree")


if __name__ == "__main__":
    main()
