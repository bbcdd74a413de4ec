"""Training: a spec, data and settings in; checkpoints, metrics, curves and a test score out.

    from archspec.train import train
    result = train("lenet5", data="mnist:../shared/data/mnist", holdout=2000, epochs=10)

The command line is `archspec train SPEC` (also `archspec compile SPEC --train`) and `archspec evaluate
SPEC CHECKPOINT`; the guide is docs/training.md. The modules, in the order a run uses them:

    config.py      the settings: defaults < the spec's `training` parameter < --config FILE < options
    data.py        --data sources, the test split, samples fitted to the spec's input (formats.py reads
                   files, checked by validate.py before their data is read; synthetic.py draws the
                   built-in glyphs)
    device.py      CUDA / MPS / CPU, mixed precision, threads, the processes of a torchrun
    heads.py       the outputs as weighted losses
    batches.py     batches from tensors held on the device, the data order, augmentation
    loop.py        epochs, evaluation, optimizers and schedules
    checkpoint.py  atomic, weights-only checkpoints with checksums, checked before use
    outdir.py      the run folder
    report.py      progress bars, metrics files, confusion matrix, SVG curves
    run.py         `train`, which puts them together; score.py `evaluate`
    commands.py    the command-line options

Importing this package imports neither torch nor numpy; `train` and `evaluate` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.pytorch.train.config import TrainConfig

if TYPE_CHECKING:
    from archspec.pytorch.train.run import Result as Result
    from archspec.pytorch.train.run import train as train
    from archspec.pytorch.train.score import evaluate as evaluate

_LAZY = {"train": "archspec.pytorch.train.run", "Result": "archspec.pytorch.train.run", "evaluate": "archspec.pytorch.train.score"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["Result", "TrainConfig", "evaluate", "train"]
