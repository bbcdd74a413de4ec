"""The command-line side of training: the options of `archspec train` (also `archspec compile SPEC
--train`) and `archspec evaluate`, and their bodies. Imported when the CLI builds its parser, so it
imports neither torch nor numpy at module level.

Exit status of `train`: 0 when the run finished, 2 for a mistake in the spec, the settings or the data,
3 when the loss became NaN or infinite (the last good checkpoint stays), 130 when interrupted (Ctrl-C;
`--resume` continues).
"""

from __future__ import annotations

import argparse
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError
from archspec.pytorch.train.config import DEVICES, FITS, LOADERS, LOSSES, OPTIMIZERS, SCHEDULES

EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130

# (flags, config key or None, argparse keywords); the key is the option's `dest`
_RECIPE: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--epochs",), {"type": int, "metavar": "N", "help": "epochs to train (default 5)"}),
    (("--batch-size",), {"type": int, "metavar": "N", "help": "samples per step over all processes (default 64)"}),
    (("--optimizer",), {"choices": OPTIMIZERS, "help": "default adam"}),
    (("--lr",), {"type": float, "metavar": "LR", "help": "learning rate (default: sgd 0.01, adam/adamw 0.001)"}),
    (("--momentum",), {"type": float, "metavar": "M", "help": "sgd's momentum (default 0.9)"}),
    (("--nesterov",), {"action": argparse.BooleanOptionalAction, "default": None, "help": "Nesterov momentum (sgd)"}),
    (("--weight-decay",), {"type": float, "metavar": "WD", "help": "default: adamw 0.01, others 0"}),
    (("--schedule",), {"choices": SCHEDULES, "help": "learning-rate schedule (default constant)"}),
    (("--step-epochs",), {"type": int, "metavar": "N", "help": "step schedule: lr × gamma every N epochs"}),
    (("--gamma",), {"type": float, "metavar": "G", "help": "step schedule's factor (default 0.1)"}),
    (("--loss",), {"choices": LOSSES, "help": "auto (default): cross-entropy, or BCE for a one-unit output"}),
    (("--label-smoothing",), {"type": float, "metavar": "E", "help": "default 0"}),
    (("--flip",), {"action": argparse.BooleanOptionalAction, "default": None, "help": "random horizontal flips"}),
    (("--crop",), {"type": int, "metavar": "PAD", "help": "random crops after padding each side by PAD pixels"}),
    (("--resized-crop",), {"type": float, "metavar": "R", "help": "random resized crops of area fraction R..1, "
                                                                "e.g. 0.08 (streaming)"}),
    (("--scale-jitter",), {"type": float, "metavar": "J", "help": "scale jittering: images scaled by 1..1+J over "
                                                                "the input, random crops (streaming)"}),
    (("--color-jitter",), {"type": float, "metavar": "C", "help": "brightness, contrast, saturation by 1±C "
                                                                "(streaming)"}),
    (("--aux-weight",), {"action": "append", "metavar": "OUTPUT=W", "dest": "aux_weight",
                         "help": "the loss weight of an output, e.g. --aux-weight aux1=0.3 (repeatable)"}),
    (("--grad-clip",), {"type": float, "metavar": "NORM", "help": "clip the gradients' norm (default: off)"}),
    (("--seed",), {"type": int, "metavar": "N", "help": "seed of the weights, data order and augmentation"}),
]
_DATA: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--data",), {"metavar": "SOURCE", "help": "synthetic[:N] (default), mnist:DIR, cifar10:DIR, folder:DIR, "
                                                "npz:FILE"}),
    (("--holdout",), {"type": float, "metavar": "N", "help": "for data without a test split: test on the last N "
                                                             "samples (or a fraction < 1; default 0.2)"}),
    (("--limit",), {"type": int, "metavar": "N", "help": "train on the first N samples only"}),
    (("--fit",), {"choices": FITS, "help": "samples of another size: resize (default) or pad/crop at the centre"}),
    (("--loader",), {"choices": LOADERS, "help": "auto (default): in memory when the data fit, else streamed "
                                                "from the files by worker processes; or force either"}),
    (("--workers",), {"type": int, "metavar": "N", "help": "the streaming loader's processes (default: the cores, "
                                                          "at most 8; 0 reads in the training process)"}),
]
_RUN: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--device",), {"choices": DEVICES, "help": "auto (default): CUDA, else MPS, else the CPU"}),
    (("--amp",), {"action": argparse.BooleanOptionalAction, "default": None,
                  "help": "mixed precision (default: on with CUDA)"}),
    (("--compile",), {"action": "store_const", "const": True, "dest": "compile", "help": "torch.compile the model"}),
    (("--threads",), {"type": int, "metavar": "N", "help": "CPU threads (default: all cores of this process)"}),
    (("--eval-every",), {"type": int, "metavar": "N", "help": "test every N epochs (default 1)"}),
    (("--tensorboard",), {"action": "store_const", "const": True, "dest": "tensorboard",
                          "help": "also write TensorBoard logs to RUN/tensorboard (needs the tensorboard package)"}),
]


def _add(p: argparse.ArgumentParser | Any, table: list[tuple[tuple[str, ...], dict[str, Any]]],
         taken: set[str]) -> None:
    for flags, kw in table:
        if not any(f in taken for f in flags):
            p.add_argument(*flags, **kw)


def train_options(p: argparse.ArgumentParser, *, flag: bool = False) -> None:
    """The options of training. With `flag`, also `--train` (for `archspec compile SPEC --train`);
    options the parser already has are left out."""
    taken = set(p._option_string_actions)
    g = p.add_argument_group("training" if flag else "recipe (also settable in the spec and --config)")
    if flag:
        g.add_argument("--train", action="store_true", help="train the network (see `archspec train --help`)")
    _add(g, _RECIPE, taken)
    d = g if flag else p.add_argument_group("data")
    _add(d, _DATA, taken)
    r = g if flag else p.add_argument_group("run")
    _add(r, _RUN, taken)
    extra: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("--config",), {"metavar": "FILE", "help": "settings file (.json, .yaml, .toml)"}),
        (("--out",), {"metavar": "DIR", "help": "run folder (default runs/NETWORK, -2, -3 ... if taken)"}),
        (("--resume",), {"action": "store_true", "help": "continue the interrupted run in --out"}),
        (("--init",), {"metavar": "CHECKPOINT", "help": "start from these weights (fine-tuning)"}),
        (("--freeze",), {"action": "append", "default": [], "metavar": "NAME",
                         "help": "freeze a layer or block by name, besides the spec's frozen: blocks (repeatable)"}),
        (("--progress",), {"action": argparse.BooleanOptionalAction, "default": None,
                           "help": "progress bars (default: on a terminal)"}),
    ]
    _add(r, extra, taken)


_RUN_FOLDER = [(("--config",), "config"), (("--out",), "out"), (("--progress",), "progress")]


def given_training_options(args: argparse.Namespace) -> list[str]:
    """The training options given on the command line (flags as written in --help), for `archspec compile`
    without --train, which refuses them rather than ignore them."""
    given = []
    table = [(flags, kw.get("dest") or flags[0].lstrip("-").replace("-", "_")) for flags, kw in _RECIPE + _DATA + _RUN]
    for flags, dest in table + _RUN_FOLDER:
        value = getattr(args, dest, None)
        if value is not None:  # every one defaults to None (--no-flip is False)
            given.append(flags[0].replace("--", "--no-", 1) if value is False else flags[0])
    if getattr(args, "resume", False):
        given.append("--resume")
    return given


def evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint of `archspec train` (last.pt, best.pt)")
    taken = set(p._option_string_actions)
    _add(p, _DATA, taken)
    _add(p, [(("--device",), _RUN[0][1]), (("--threads",), _RUN[3][1])], taken)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given on the command line (None for those not given)."""
    keys = [kw.get("dest") or flags[0].lstrip("-").replace("-", "_") for flags, kw in _RECIPE + _DATA + _RUN]
    out = {k: getattr(args, k, None) for k in keys if k != "aux_weight"}
    items = getattr(args, "aux_weight", None)
    if items:
        weights: dict[str, Any] = {}
        for item in items:
            name, eq, value = item.partition("=")
            if not eq or not name.strip():
                raise SpecError(Diagnostic("E202", f"--aux-weight takes OUTPUT=WEIGHT, got {item!r}",
                                           hint="for example --aux-weight aux1=0.3"))
            weights[name.strip()] = value.strip()
        out["aux_weights"] = weights
    return out


def train_result(args: argparse.Namespace) -> Any:
    """Train as the options say; the `Result` of archspec.train.train."""
    from archspec.files import parse_inputs
    from archspec.lang.sets import parse_sets
    from archspec.pytorch.train.run import train

    return train(args.spec, params=parse_sets(args.set), input=parse_inputs(args.input), freeze=args.freeze,
                 config=args.config, out=args.out, resume=args.resume, init=args.init, progress=args.progress,
                 **overrides(args))


def status_of(result: Any) -> int:
    if result.status == "diverged":
        return EXIT_DIVERGED
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return 0


def run_train(args: argparse.Namespace) -> int:
    return status_of(train_result(args))


def run_evaluate(args: argparse.Namespace) -> int:
    from archspec.files import parse_inputs
    from archspec.lang.sets import parse_sets
    from archspec.pytorch.train.score import evaluate

    evaluate(args.spec, args.checkpoint, params=parse_sets(args.set), input=parse_inputs(args.input),
             data=args.data, holdout=args.holdout, limit=args.limit, fit=args.fit, device=args.device,
             threads=args.threads, loader=args.loader, workers=args.workers)
    return 0
