"""What a run shows and writes: a progress bar per epoch, the metrics of each epoch (JSON lines and
CSV), the confusion matrix as a table, and the loss and accuracy curves as an SVG drawn here (no
plotting library)."""

from __future__ import annotations

import csv
import json
import time
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

CONFUSION_MAX = 1000  # no confusion matrix above this many classes (k² counts: 8 MB here, 80 GB at 100,000)
CSV_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s", "epoch_s",
               "elapsed_s"]


def make_console() -> Console:
    """The report's console: standard output, lines kept whole when it is not a terminal."""
    c = Console(highlight=False)
    if not c.is_terminal:
        c.width = max(c.width, 120)
    return c


class Progress:
    """A rich progress bar per epoch (loss, accuracy, images/s, time left) on a terminal, replaced by
    the epoch's line when it ends; only the lines when not on a terminal (a pipe, a file, a test)."""

    def __init__(self, console: Console, enabled: bool | None = None, unit: str = "img/s") -> None:
        self.console = console
        self.unit = unit  # samples a second: "img/s", or "seq/s" for a network of token ids
        self.live = console.is_terminal if enabled is None else enabled
        self.bar: Any = None
        self.task: Any = None
        self.epoch_start = 0.0

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=self.console)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.epoch_start = time.perf_counter()
        if self.bar is not None:
            self.task = self.bar.add_task(f"epoch {epoch}/{epochs}", total=steps, stats="")

    def update(self, step: int, loss: float, acc: float | None, seen: int) -> None:
        if self.bar is not None:
            rate = seen / max(time.perf_counter() - self.epoch_start, 1e-9)
            self.bar.update(self.task, completed=step, stats=stats_text(loss, acc, rate, self.unit))

    def end_epoch(self, row: dict[str, Any]) -> None:
        if self.bar is not None:  # the epoch's line goes above the live bar, which starts again
            self.bar.remove_task(self.task)
        self.console.print(epoch_text(row, self.unit), highlight=False, soft_wrap=True)


def stats_text(loss: float, acc: float | None, rate: float, unit: str = "img/s") -> str:
    return f"loss {loss:.4f}" + (f"  acc {acc:.2%}" if acc is not None else "") + f"  {rate:,.0f} {unit}"


def epoch_text(row: dict[str, Any], unit: str = "img/s") -> str:
    text = f"epoch {row['epoch']}/{row['epochs']}  " + stats_text(row["train_loss"], row.get("train_acc"),
                                                                     row["images_per_s"], unit)
    if row.get("test_acc") is not None:
        text += f"  test loss {row['test_loss']:.4f}  test acc {row['test_acc']:.2%}"
    return text + f"  {row['epoch_s']:.1f} s"


def append_metrics(folder: Path, row: dict[str, Any]) -> None:
    """One line of metrics.jsonl and of metrics.csv (with its header when new)."""
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    path = folder / "metrics.csv"
    new = not path.exists()
    with open(path, "a", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if new:
            w.writerow(CSV_COLUMNS)
        w.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])


def rewrite_metrics(folder: Path, history: list[dict[str, Any]]) -> None:
    """The metrics files made equal to `history` (a resumed run drops lines of epochs it redoes)."""
    for name in ("metrics.jsonl", "metrics.csv"):
        (folder / name).unlink(missing_ok=True)
    for row in history:
        append_metrics(folder, row)


def class_names(classes: list[str], confusion: list[list[int]] | None) -> list[str]:
    """The data's class names, and `unitN` for the output's units beyond them (the confusion matrix's rows)."""
    return list(classes) + [f"unit{i}" for i in range(len(classes), len(confusion or []))]


def no_confusion(classes: int) -> str:
    return f"(no confusion matrix: {classes:,} classes, more than {CONFUSION_MAX:,})"


def confusion_table(matrix: list[list[int]], classes: list[str], limit: int = 20) -> Table:
    """Rows: the true class; columns: the predicted one; the diagonal in green. More than `limit` classes:
    the per-class recall of the `limit` worst instead."""
    n = len(matrix)
    totals = [sum(r) for r in matrix]
    if n > limit:
        seen = [i for i in range(n) if totals[i]]  # classes the test data holds (a text uses few of 128 codes)
        t = Table(title=f"Recall of the {min(limit, len(seen))} weakest of {len(seen)} classes in the test data")
        t.add_column("class")
        t.add_column("recall", justify="right")
        t.add_column("samples", justify="right")
        worst = sorted(seen, key=lambda i: matrix[i][i] / totals[i])[:limit]
        for i in worst:
            t.add_row(classes[i], f"{matrix[i][i] / max(totals[i], 1):.1%}", f"{totals[i]:,}")
        return t
    t = Table(title="Confusion matrix (rows: true class, columns: predicted)")
    t.add_column("true")
    for c in classes:
        t.add_column(c[:10], justify="right")
    t.add_column("recall", justify="right")
    for i, row in enumerate(matrix):
        cells = [f"[bold green]{v}[/]" if i == j else (f"[red]{v}[/]" if v else "[dim]0[/]") for j, v in enumerate(row)]
        t.add_row(classes[i], *cells, f"{row[i] / max(totals[i], 1):.1%}")
    return t


# -- curves ---------------------------------------------------------------------------------------

_W, _H, _PAD = 360, 240, 48
_COLOURS = {"train": "#1f77b4", "test": "#d62728"}


def curves_svg(history: list[dict[str, Any]], title: str = "") -> str:
    """Two panels, loss and accuracy against the epoch, training and test; polylines with axes."""
    panels = [_panel(history, "loss", "Loss", 0, percent=False), _panel(history, "acc", "Accuracy", 1, percent=True)]
    width, height = 2 * _W + _PAD, _H + 2 * _PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
             *panels]
    for k, (name, colour) in enumerate(_COLOURS.items()):
        x = width / 2 - 60 + k * 80
        parts.append(f'<line x1="{x}" y1="{height - 12}" x2="{x + 20}" y2="{height - 12}" stroke="{colour}" '
                     f'stroke-width="2"/><text x="{x + 24}" y="{height - 8}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(history: list[dict[str, Any]], key: str, label: str, index: int, percent: bool) -> str:
    x0 = _PAD + index * (_W + _PAD // 2)
    y0 = _PAD
    w, h = _W - _PAD, _H - _PAD // 2
    series = {s: [(r["epoch"], r[f"{s}_{key}"]) for r in history if r.get(f"{s}_{key}") is not None]
              for s in _COLOURS}
    values = [v for pts in series.values() for _, v in pts if v == v and abs(v) != float("inf")]
    epochs = [e for pts in series.values() for e, _ in pts] or [1]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    yticks = nice_ticks(lo, hi)
    lo, hi = yticks[0], yticks[-1]
    e0, e1 = min(epochs), max(epochs)
    span = max(e1 - e0, 1)

    def sx(e: float) -> float:
        return x0 + (e - e0) / span * w

    def sy(v: float) -> float:
        return y0 + h - (v - lo) / (hi - lo) * h

    out = [f'<text x="{x0 + w / 2}" y="{y0 - 10}" text-anchor="middle" font-size="12">{label}</text>',
           f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="black"/>',
           f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="black"/>']
    for v in yticks:
        y = sy(v)
        text = f"{v * 100:g}%" if percent else f"{v:g}"
        out.append(f'<line x1="{x0 - 4}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    step = max(1, round(nice_ticks(0, span)[1]))
    ticks = [e for e in range(e0, e1 + 1) if (e - e0) % step == 0]
    for e in ticks:
        out.append(f'<text x="{sx(e):.1f}" y="{y0 + h + 14}" text-anchor="middle">{e}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 30}" text-anchor="middle">epoch</text>')
    for s, pts in series.items():
        pts = [(e, v) for e, v in pts if v == v and abs(v) != float("inf")]
        if not pts:
            continue
        line = " ".join(f"{sx(e):.1f},{sy(v):.1f}" for e, v in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="{_COLOURS[s]}" stroke-width="2"/>')
        out += [f'<circle cx="{sx(e):.1f}" cy="{sy(v):.1f}" r="2.5" fill="{_COLOURS[s]}"/>' for e, v in pts]
    return "\n".join(out)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round values (steps of 1, 2 or 5 × 10^k) covering [lo, hi]."""
    import math

    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = [first]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks if len(ticks) > 1 else [first, first + step]

