"""The run folder: where it is, whether it may be written, and what it holds.

    runs/NAME/
        last.pt          the checkpoint after the last finished epoch (the final one when the run is done)
        best.pt          the weights of the epoch with the best test accuracy
        metrics.jsonl    one line per epoch; metrics.csv the same as a table
        settings.json    every setting used and where it came from, the network's parameters, the data
        spec.arch        the spec's text (spec.yaml for a YAML spec)
        curves.svg       loss and accuracy against the epoch
        test.json        the final test loss, accuracy and confusion matrix
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from archspec.diagnostics import Diagnostic, SpecError

LAST, BEST = "last.pt", "best.pt"
MARGIN = 16 * 2**20


def holds_run(folder: Path) -> bool:
    return (folder / LAST).is_file()


def choose(out: str | None, name: str, resume: bool, root: str | Path = "runs") -> Path:
    """The run folder: `out`, else runs/NAME (runs/NAME-2, -3, ... when taken); with `resume`, the
    folder to continue (`out`, else the most recent runs/NAME* holding a checkpoint)."""
    if out is not None:
        if not str(out).strip():
            raise SpecError(Diagnostic("E202", "--out is empty: it would train into the current folder",
                                       hint="give the run's folder, for example --out runs/NAME (or --out . to mean "
                                            "the current folder)"))
        folder = Path(out)
        if resume and not holds_run(folder):
            raise SpecError(Diagnostic("E500", f"--resume: {folder} holds no run to continue (no {LAST})",
                                       hint="give the --out folder of the interrupted run"))
        if not resume and holds_run(folder):
            raise SpecError(Diagnostic("E202", f"{folder} already holds a run",
                                       hint="--resume continues it; or choose another --out"))
        return folder
    base = Path(root)
    numbered = [p for p in base.glob(f"{name}-*") if p.name.rsplit("-", 1)[1].isdigit()]
    candidates = [base / name, *sorted(numbered, key=lambda p: int(p.name.rsplit("-", 1)[1]))]
    if resume:
        runs = [p for p in candidates if holds_run(p)]
        if not runs:
            raise SpecError(Diagnostic("E500", f"--resume: no run of {name} in {base}/",
                                       hint="give the run's folder with --out"))
        return max(runs, key=lambda p: (p / LAST).stat().st_mtime)
    k = 1
    folder = base / name
    while folder.exists() and any(folder.iterdir()):
        k += 1
        folder = base / f"{name}-{k}"
    return folder


FILES = (LAST, BEST, "metrics.jsonl", "metrics.csv", "settings.json", "spec.arch", "spec.yaml", "spec.yml",
         "curves.svg", "test.json")
# write_atomic's temporary files (tempfile.mkstemp: `.NAME.` and 8 characters), and check_writable's probe
_TEMPORARY = re.compile(r"\.(?:" + "|".join(re.escape(f) for f in FILES) + r"|probe)\.[a-z0-9_]{8}")


def clean_temporaries(folder: Path) -> list[str]:
    """Remove the temporary files that a write interrupted by a kill left in a run folder; returns their
    names."""
    removed = []
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if _TEMPORARY.fullmatch(p.name) and p.is_file() and not p.is_symlink():
                try:
                    p.unlink()
                except OSError:
                    continue
                removed.append(p.name)
    return removed


def check_writable(folder: Path, need_bytes: int) -> None:
    """Create the folder, write a probe file, and check the free space before training starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SpecError(Diagnostic("E202", f"cannot write to the output folder {folder}: {e.strerror or e}",
                                   hint="choose another folder with --out")) from None
    free = shutil.disk_usage(folder).free
    if free < need_bytes + MARGIN:
        raise SpecError(Diagnostic("E202", f"{folder} has {free / 2**20:,.1f} MiB free; checkpoints need about "
                                           f"{(need_bytes + MARGIN) / 2**20:,.1f} MiB",
                                   hint="free some space or choose another folder with --out"))
