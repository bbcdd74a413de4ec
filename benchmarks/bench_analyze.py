"""Analysis speed against the peers, measured side by side in one run (issue 8).

    python benchmarks/bench_analyze.py            # the full profile (a few minutes)
    python benchmarks/bench_analyze.py --quick    # a smoke run in seconds (CI runs this)

Prints Markdown tables for docs/benchmarks.md:
1. whole command: `archspec analyze` as a process, start to exit, against a process that builds the same
   model in PyTorch (compiled by archspec) and prints torchinfo's summary, and one for fvcore;
2. in process: `archspec.analyze` against `torchinfo.summary` and fvcore's `FlopCountAnalysis` on the
   same networks (models built beforehand, not timed); archspec again with its layer caches emptied before
   each run (the first analysis of those layers in a process);
3. scaling: analysis time against the number of layers (deep chains, CIFAR ResNets, DenseNets);
4. peak memory of analysing the largest network; rendering a 1,000-layer network collapsed by block.
Times are the best of several runs (the machine is shared and noisy; in process, archspec's best of 50,
the peers' of 2); ratios are peer / archspec. The peers
run PyTorch with one thread (with two, a busy second core slows them by up to 10×, which would flatter us).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

NETWORKS = [  # (label, spec, params, input)
    ("VGG-16", "vgg16", {}, (3, 224, 224)),
    ("ResNet-50", "resnet", {"depth": 50}, (3, 224, 224)),
    ("ResNet-152", "resnet", {"depth": 152}, (3, 224, 224)),
    ("DenseNet-201", "densenet", {"depth": 201}, (3, 224, 224)),
]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_of_first(fn: Callable[[], object], repeat: int) -> float:
    """`best_of`, with the process's layer caches emptied before each run: the first analysis of those
    layers in the process (the validated arguments, shapes, costs and fields all worked out)."""
    from archspec.build.elaborate import LAYERS

    times = []
    for _ in range(repeat):
        LAYERS.clear()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def process_time(argv: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return best_of(lambda: subprocess.run(argv, check=True, capture_output=True, env=env), repeat)


def _sets(params: dict[str, int]) -> list[str]:
    return [a for k, v in params.items() for a in ("--set", f"{k}={v}")]


PEER_SCRIPT = """
import sys, archspec, torch
torch.set_num_threads(1)
spec, shape, params = sys.argv[1], tuple(map(int, sys.argv[2].split("x"))), eval(sys.argv[3])
model = archspec.compile(spec, **params).eval()
if sys.argv[4] == "torchinfo":
    import torchinfo
    print(torchinfo.summary(model, input_size=(1, *shape), verbose=0))
else:
    from fvcore.nn import FlopCountAnalysis, flop_count_table
    fca = FlopCountAnalysis(model, torch.zeros(1, *shape))
    fca.unsupported_ops_warnings(False); fca.uncalled_modules_warnings(False)
    print(flop_count_table(fca))
"""


def whole_command(repeat: int, networks: list[tuple[str, str, dict[str, int], tuple[int, ...]]]) -> list[str]:
    archspec_cli = [PY, "-m", "archspec", "analyze"]
    lines = ["| network | archspec analyze | torch + torchinfo | ratio | torch + fvcore | ratio |", "|---|--:|--:|--:|--:|--:|"]
    for label, spec, params, shape in networks:
        ours = process_time([*archspec_cli, spec, *_sets(params)], repeat)
        peers = []
        for peer in ("torchinfo", "fvcore"):
            argv = [PY, "-c", PEER_SCRIPT, spec, "x".join(map(str, shape)), repr(params), peer]
            peers.append(process_time(argv, max(1, repeat // 2)))
        lines.append(f"| {label} | {ours:.3f} s | {peers[0]:.3f} s | {peers[0] / ours:.1f}× | {peers[1]:.3f} s "
                     f"| {peers[1] / ours:.1f}× |")
    return lines


def in_process(repeat: int, networks: list[tuple[str, str, dict[str, int], tuple[int, ...]]]) -> list[str]:
    import torch
    import torchinfo
    from fvcore.nn import FlopCountAnalysis

    import archspec

    torch.set_num_threads(1)  # stable on a shared machine: two OpenMP threads lose badly when a core is busy
    lines = ["| network | archspec.analyze | its layers first seen | torchinfo.summary | ratio | fvcore | ratio |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for label, spec, params, shape in networks:
        # archspec's runs are milliseconds: ten times `repeat` of them (the peers' take a second each, and get
        # half of `repeat`), so that a burst of the shared machine's noise does not decide the figure
        first = best_of_first(lambda s=spec, p=params: archspec.analyze(s, **p), 10 * repeat)
        ours = best_of(lambda s=spec, p=params: archspec.analyze(s, **p), 10 * repeat)
        model = archspec.compile(spec, **params).eval()
        x = torch.zeros(1, *shape)
        with torch.no_grad():
            info = best_of(lambda m=model, s=shape: torchinfo.summary(m, input_size=(1, *s), verbose=0),
                           max(1, repeat // 2))

            def fv(model: torch.nn.Module = model, x: torch.Tensor = x) -> None:
                f = FlopCountAnalysis(model, x)
                f.unsupported_ops_warnings(False)
                f.uncalled_modules_warnings(False)
                f.total()

            fvc = best_of(fv, max(1, repeat // 2))
        lines.append(f"| {label} | {ours * 1e3:.1f} ms | {first * 1e3:.1f} ms | {info * 1e3:.0f} ms | {info / ours:.0f}× "
                     f"| {fvc * 1e3:.0f} ms "
                     f"| {fvc / ours:.0f}× |")
    return lines


def chain_spec(n: int) -> str:
    return f"network chain{n}:\n    input 16x32x32\n    repeat {n}:\n        conv 16 3x3 pad=1 bias=false\n"


def scaling(sizes: list[int], repeat: int) -> list[str]:
    import archspec

    lines = ["| network | layers | analysis | per layer |", "|---|--:|--:|--:|"]
    cases: list[tuple[str, Callable[[], object], Callable[[], int]]] = []
    for n in sizes:
        text = chain_spec(n)
        cases.append((f"deep chain of {n:,} convs", lambda t=text: archspec.analyze(t), lambda n=n: n + 1))
    for n in [3, 18, 200] + ([2000] if max(sizes) >= 100_000 else []):
        cases.append((f"CIFAR ResNet n={n}", lambda n=n: archspec.analyze("resnet_cifar", n=n), lambda n=n: 0))
    for depth in (121, 201):
        cases.append((f"DenseNet-{depth}", lambda d=depth: archspec.analyze("densenet", depth=d), lambda: 0))
    for label, fn, _ in cases:
        t = best_of(fn, repeat)
        layers = len(fn().rows)  # type: ignore[attr-defined]
        lines.append(f"| {label} | {layers:,} | {t * 1e3:.1f} ms | {t / layers * 1e6:.1f} µs |")
    return lines


HWM = "print([int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0])"


def memory(n: int) -> list[str]:
    # VmHWM, the process's own peak (ru_maxrss would carry the parent's over fork and exec on Linux)
    code = "import archspec; a = archspec.analyze(" + repr(chain_spec(n)) + "); " + HWM
    base = "import archspec; " + HWM
    peak = int(subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True).stdout)
    idle = int(subprocess.run([PY, "-c", base], check=True, capture_output=True, text=True).stdout)
    return ["| network | layers | peak RSS | of which the analysis |", "|---|--:|--:|--:|",
            f"| deep chain | {n + 1:,} | {peak / 1024:.0f} MiB | {(peak - idle) / 1024:.0f} MiB "
            f"({(peak - idle) * 1024 / (n + 1):.0f} bytes a layer) |"]


def render_big(repeat: int) -> list[str]:
    import archspec

    def go() -> None:
        g = archspec.render("resnet_cifar", params={"n": 166}, depth=1)
        with tempfile.TemporaryDirectory() as tmp:
            g.render(str(Path(tmp) / "r"), format="svg", cleanup=True)

    t = best_of(go, repeat)
    layers = len(archspec.analyze("resnet_cifar", n=166).rows)
    return [f"Rendering CIFAR ResNet n=166 ({layers:,} layers) collapsed to depth 1, to SVG: {t:.2f} s"]


def startup() -> list[str]:
    out = subprocess.run([PY, "-X", "importtime", "-c", "import archspec.cli"], capture_output=True, text=True).stderr
    rows = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = [r for r in rows if r[1].strip() in ("archspec.cli", "archspec", "networkx", "pydantic", "lark", "rich",
                                               "archspec.kinds", "archspec.lang.ast", "graphviz")]
    lines = ["| module (cumulative import) | ms |", "|---|--:|"]
    lines += [f"| `{name.strip()}` | {us / 1000:.0f} |" for us, name in sorted(top, reverse=True)]
    torch_free = subprocess.run([PY, "-c", "import sys, archspec; archspec.analyze('vgg16'); print('torch' in sys.modules)"],
                                capture_output=True, text=True).stdout.strip()
    lines.append(f"\nImports torch during analysis: {torch_free}")
    return lines


def machine() -> str:
    import importlib.metadata as md

    vers = []
    for pkg in ("torch", "torchinfo", "fvcore", "networkx", "pydantic", "lark"):
        with contextlib.suppress(md.PackageNotFoundError):
            vers.append(f"{pkg} {md.version(pkg)}")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            + ", ".join(vers))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="seconds, not minutes (a smoke test)")
    args = p.parse_args()
    quick = args.quick
    repeat = 1 if quick else 5
    nets = NETWORKS[:1] if quick else NETWORKS
    print(f"Machine: {machine()}\n")
    print("### Start-up\n")
    print("\n".join(startup()) + "\n")
    print("### Whole command (process start to exit)\n")
    print("\n".join(whole_command(repeat, nets)) + "\n")
    print("### In process\n")
    print("\n".join(in_process(repeat, nets)) + "\n")
    print("### Scaling\n")
    print("\n".join(scaling([10, 100, 1000] if quick else [10, 100, 1_000, 10_000, 100_000], 1 if quick else 3)) + "\n")
    print("### Memory\n")
    print("\n".join(memory(1_000 if quick else 100_000)) + "\n")
    print("### Rendering\n")
    print("\n".join(render_big(1)) + "\n")


if __name__ == "__main__":
    main()
