"""`archspec train --tensorboard`: the run as TensorBoard shows it, in RUN/tensorboard/ (the JSONL and CSV
metrics stay). Per epoch: the scalars loss/train, loss/test, accuracy/train, accuracy/test, lr and
images_per_s; the test confusion matrix as an image (rows: true class, columns: predicted; each row
scaled to its largest count, white 0 to dark blue); once: the model's graph. Needs the `tensorboard`
package (`pip install 'archspec[tensorboard]'`); only the first process of a torchrun writes.

    tensorboard --logdir runs/
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from archspec.diagnostics import Diagnostic, SpecError

FOLDER = "tensorboard"
SCALARS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_acc": "accuracy/train",
           "test_acc": "accuracy/test", "lr": "lr", "images_per_s": "images_per_s"}
CELL = 256  # the confusion image is at most this many pixels across (at least 1 pixel per class)


def require() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise SpecError(Diagnostic("E209", "--tensorboard needs the `tensorboard` package, which is not installed: "
                                           "pip install 'archspec[tensorboard]'",
                                   hint="or leave --tensorboard out: metrics.jsonl and metrics.csv have the same "
                                        "figures"))


class Board:
    """A SummaryWriter on RUN/tensorboard, resumed at `start_epoch` (later events of an interrupted run are
    purged)."""

    def __init__(self, out: Path, start_epoch: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / FOLDER), purge_step=start_epoch + 1 if start_epoch else None)

    def graph(self, model: nn.Module, example: torch.Tensor) -> str | None:
        """The model's graph (traced in evaluation mode); a note when it cannot be traced."""
        was = model.training
        model.eval()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, example)
        except Exception as e:  # tracing fails for some control flow; the scalars still work
            return f"--tensorboard: the graph could not be traced ({type(e).__name__}); the scalars are written"
        finally:
            model.train(was)
        return None

    def epoch(self, row: dict[str, Any], confusion: list[list[int]] | None) -> None:
        step = int(row["epoch"])
        for key, tag in SCALARS.items():
            value = row.get(key)
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, float(value), step)
        if confusion is not None:
            self.writer.add_image("confusion/test", confusion_image(confusion), step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def confusion_image(confusion: list[list[int]]) -> np.ndarray:
    """An RGB uint8 image (H, W, 3) of a confusion matrix: each row scaled to its largest count."""
    m = np.asarray(confusion, dtype=np.float64)
    k = len(m)
    scaled = m / np.maximum(m.max(axis=1, keepdims=True), 1)
    white, blue = np.array([255, 255, 255.0]), np.array([8, 48, 107.0])
    rgb = white + scaled[..., None] * (blue - white)
    cell = max(1, CELL // max(k, 1))
    return np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1).round().astype(np.uint8)
