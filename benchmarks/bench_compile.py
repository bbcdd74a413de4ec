"""Compiled module against hand-written PyTorch: forward and forward+backward time on the CPU (issue 5).

    python benchmarks/bench_compile.py            # the full run (a few minutes)
    python benchmarks/bench_compile.py --quick    # a smoke run in seconds (CI runs this)

For each network, `archspec.compile(spec)` and the same network written by hand below (as torchvision
writes them) are built, the hand-written weights are loaded into the compiled module by position
(`archspec.port_weights`), and their outputs are checked equal before anything is timed. Both are then
timed in the same process, alternately, and the median of the runs is reported; ratio = compiled /
hand-written (1.00: the same speed). Prints Markdown for docs/benchmarks.md ("compiled module vs
hand-written").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import archspec

# -- the hand-written networks -------------------------------------------------------------------


class LeNet5(nn.Module):
    """specs/lenet5.arch: tanh convolutions, average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(16, 120, 5), nn.Tanh())
        self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10), nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class VGG16(nn.Module):
    """specs/vgg16.arch (configuration D), torchvision's layout without its adaptive pool."""

    def __init__(self, size: int = 224, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        side = size // 32
        self.classifier = nn.Sequential(
            nn.Linear(512 * side * side, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, classes), nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.downsample = None
        if stride != 1 or c_in != c:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """specs/resnet.arch with depth=18, as torchvision's resnet.py writes it."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, c_in = [], 64
        for c, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c)))
            c_in = c
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.softmax(self.fc(torch.flatten(torch.mean(x, (2, 3)), 1)), 1)


# -- timing -------------------------------------------------------------------------------------------


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def forward(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return model(x)
    return run


def train_step(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        model.zero_grad(set_to_none=True)
        y = model(x)
        y.log().mean().backward()  # the outputs are softmax probabilities
        return y
    return run


def bench(label: str, hand: nn.Module, spec: str, params: dict, shape: tuple[int, ...], batch: int,
          runs: int, warmup: int) -> dict:
    torch.manual_seed(0)
    compiled = archspec.compile(spec, input=shape, **params)
    archspec.port_weights(compiled, hand)
    x = torch.randn(batch, *shape)
    hand.eval()
    compiled.eval()
    with torch.no_grad():
        same = torch.allclose(compiled(x), hand(x), rtol=1e-4, atol=1e-6)
    if not same:
        raise SystemExit(f"{label}: the compiled module and the hand-written one disagree")
    row = {"network": label, "input": f"{batch}×" + "×".join(map(str, shape))}
    for mode, make, train in (("forward", forward, False), ("forward+backward", train_step, True)):
        fns = []
        for m in (compiled, hand):
            m.train(train)
            fns.append(make(m, x))
        for _ in range(warmup):
            for fn in fns:
                fn()
        a, b = [], []
        for _ in range(runs):  # alternate, so that the machine's noise falls on both
            a.append(median_ms(fns[0], 1))
            b.append(median_ms(fns[1], 1))
        row[mode] = (statistics.median(a), statistics.median(b))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small inputs and few runs: a smoke test in seconds")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.quick:
        warmup = 1
        cases = [("LeNet-5", LeNet5(), "lenet5", {}, (1, 32, 32), 16, 3),
                 ("VGG-16", VGG16(32), "vgg16", {}, (3, 32, 32), 1, 1),
                 ("ResNet-18", ResNet18(), "resnet", {"depth": 18}, (3, 32, 32), 2, 2)]
    else:
        warmup = 3
        cases = [("LeNet-5", LeNet5(), "lenet5", {}, (1, 32, 32), 256, 30),
                 ("VGG-16", VGG16(224), "vgg16", {}, (3, 224, 224), 2, 7),
                 ("ResNet-18", ResNet18(), "resnet", {"depth": 18}, (3, 224, 224), 8, 7)]
    rows = [bench(label, hand, spec, params, shape, batch, runs, warmup)
            for label, hand, spec, params, shape, batch, runs in cases]
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}"
          + (" — quick run" if args.quick else ""))
    print()
    print("| network | batch × input | forward: compiled | hand-written | ratio | forward+backward: compiled "
          "| hand-written | ratio |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        f, t = r["forward"], r["forward+backward"]
        print(f"| {r['network']} | {r['input']} | {f[0]:.2f} ms | {f[1]:.2f} ms | {f[0] / f[1]:.2f} "
              f"| {t[0]:.2f} ms | {t[1]:.2f} ms | {t[0] / t[1]:.2f} |")


if __name__ == "__main__":
    main()
