"""Training settings: one dataclass, filled from four layers, each overriding the one before.

1. built-in defaults (below);
2. the spec: a network parameter named `training` whose default is a mapping,
   `network lenet5(classes = 10, training = {"epochs": 10, "lr": 0.01})`;
3. a settings file, `--config FILE` (.json, .yaml/.yml or .toml), a mapping of the same keys;
4. command-line options (`--epochs 3`, `--lr 0.1`, ...), one per setting.

The spec holds the recipe (optimizer, schedule, epochs, loss, augmentation); where the data comes from,
the device and the output folder are properties of a run (settings file or command line only).
Pure Python: nothing here imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from archspec.diagnostics import Diagnostic, SpecError, did_you_mean

SPEC_PARAM = "training"  # the network parameter that holds the spec's training settings

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
LOSSES = ("auto", "ce", "bce")
DEVICES = ("auto", "cpu", "cuda", "mps")
FITS = ("resize", "pad")
LOADERS = ("auto", "memory", "stream")  # as archspec.pytorch.train.stream.LOADERS (that module imports torch)
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3}


@dataclass
class TrainConfig:
    """Every training setting. `None` means "the default for the other settings" (see `resolved`)."""

    # -- the recipe: allowed in the spec, a settings file and on the command line
    epochs: int = 5
    batch_size: int = 64  # the global batch: with N processes (DDP) each takes batch_size / N
    optimizer: str = "adam"
    lr: float | None = None  # sgd 0.01, adam and adamw 0.001
    momentum: float = 0.9  # sgd only
    nesterov: bool = False
    weight_decay: float | None = None  # adamw 0.01, others 0
    schedule: str = "constant"
    step_epochs: int | None = None  # step schedule: multiply the lr by `gamma` every this many epochs (epochs // 3)
    gamma: float = 0.1
    loss: str = "auto"  # auto: from each output's shape and final activation
    label_smoothing: float = 0.0
    flip: bool = False  # random horizontal flips
    crop: int = 0  # random crops after zero-padding each side by this many pixels
    resized_crop: float = 0.0  # random resized crops of area fraction [R, 1] (0: off; streaming, stream.py)
    scale_jitter: float = 0.0  # scale jittering: the image covers the input by [1, 1 + J], random crop (streaming)
    color_jitter: float = 0.0  # brightness, contrast, saturation by [1 - C, 1 + C] (streaming)
    aux_weights: dict[str, float] = field(default_factory=dict)  # output name -> loss weight (else the spec's)
    grad_clip: float = 0.0  # clip the gradients' global norm to this (0: off)
    seed: int = 0
    # -- the run: a settings file or the command line only
    data: str = "synthetic"
    holdout: float | None = None  # a single-split dataset: the last N samples (or a fraction < 1) for testing
    limit: int = 0  # use only the first N training samples (0: all)
    fit: str = "resize"  # images of another size: resize them, or pad/crop them at the centre
    loader: str = "auto"  # in memory, streaming through worker processes, or auto (stream.py)
    workers: int | None = None  # the streaming loader's worker processes (default: the cores, at most 8)
    device: str = "auto"
    amp: bool | None = None  # mixed precision: on for CUDA unless turned off
    compile: bool = False  # torch.compile
    threads: int = 0  # CPU threads (0: every core available to this process)
    eval_every: int = 1  # evaluate on the test split every N epochs (and always after the last)
    tensorboard: bool = False  # also write RUN/tensorboard/ (tboard.py)

    def resolved_lr(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0

    def resolved_step_epochs(self) -> int:
        return self.step_epochs or max(1, self.epochs // 3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_record(self) -> dict[str, Any]:
        """The settings as a run records them (settings.json, checkpoints): the data's path absolute."""
        return {**asdict(self), "data": absolute_data(self.data)}


RUN_KEYS = frozenset({"data", "holdout", "limit", "fit", "device", "amp", "compile", "threads", "eval_every",
                      "loader", "workers", "tensorboard"})
KEYS = {f.name: f for f in fields(TrainConfig)}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES, "device": DEVICES, "fit": FITS,
            "loader": LOADERS}


def _bad(message: str, origin: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic("E202", f"{message} ({origin})", hint=hint))


def _coerce(key: str, value: Any, origin: str) -> Any:
    """A setting's value checked and converted to its field's type."""
    kind = str(KEYS[key].type)
    if type(value).__name__ == "TensorRef":  # a bare word in a spec (`"schedule": cosine`) reads as its name
        value = value.name
    if key == "aux_weights":
        if not isinstance(value, dict):
            raise _bad(f"`aux_weights` is a mapping of output names to loss weights, got {value!r}", origin,
                       'for example {"aux1": 0.3}')
        return {str(k): float(_coerce("gamma", v, origin)) for k, v in value.items()}
    if value is None and "None" in kind:
        return None
    if kind.startswith("bool"):
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        if not isinstance(value, bool):
            raise _bad(f"`{key}` is true or false, got {value!r}", origin)
        return value
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _bad(f"`{key}` is a whole number, got {value!r}", origin)
        try:
            number = float(value)
        except ValueError:
            raise _bad(f"`{key}` is a whole number, got {value!r}", origin) from None
        if number != int(number) or number < 0:
            raise _bad(f"`{key}` is a whole number ≥ 0, got {value!r}", origin)
        return int(number)
    if kind.startswith("float"):
        if isinstance(value, bool):
            raise _bad(f"`{key}` is a number, got {value!r}", origin)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad(f"`{key}` is a number, got {value!r}", origin) from None
        if not number >= 0 or number == float("inf"):
            raise _bad(f"`{key}` is a finite number ≥ 0, got {value!r}", origin)
        return number
    if not isinstance(value, str):
        raise _bad(f"`{key}` is a word, got {value!r}", origin)
    choices = _CHOICES.get(key)
    if choices and value.lower() not in choices:
        raise _bad(f"`{key}` is one of {', '.join(choices)}, got {value!r}", origin, did_you_mean(value, choices))
    return value.lower() if choices else value


def _normalise_key(key: Any, origin: str, allow_run: bool) -> str:
    k = str(key).replace("-", "_")
    if k not in KEYS:
        raise _bad(f"unknown training setting `{key}`", origin,
                   did_you_mean(k, KEYS) or "the settings are listed in docs/training.md")
    if k in RUN_KEYS and not allow_run:
        raise _bad(f"`{key}` belongs to a run, not to the spec", origin,
                   f"give it on the command line (--{k.replace('_', '-')}) or in a --config file")
    return k


def apply(cfg: TrainConfig, values: dict[str, Any], origin: str, sources: dict[str, str], *,
          allow_run: bool = True) -> None:
    """Set `values` (a mapping of setting names, `-` or `_`) on `cfg`, recording where each came from."""
    for key, value in values.items():
        k = _normalise_key(key, origin, allow_run)
        setattr(cfg, k, _coerce(k, value, origin))
        sources[k] = origin
    check(cfg)


def check(cfg: TrainConfig) -> None:
    """Rules that involve more than one setting or a range."""
    if cfg.epochs < 1:
        raise _bad("`epochs` must be at least 1", "settings")
    if cfg.batch_size < 1:
        raise _bad("`batch_size` must be at least 1", "settings")
    if cfg.label_smoothing >= 1:
        raise _bad(f"`label_smoothing` is below 1, got {cfg.label_smoothing}", "settings")
    if cfg.holdout is not None and cfg.holdout <= 0:
        raise _bad("`holdout` is a count of samples (or a fraction below 1) above 0", "settings")
    if cfg.eval_every < 1:
        raise _bad("`eval_every` must be at least 1", "settings")
    if cfg.resized_crop > 1:
        raise _bad(f"`resized_crop` is the smallest area fraction of a crop, at most 1, got {cfg.resized_crop}",
                   "settings", "for example 0.08 (the Inception and ResNet recipes) or 0.35")
    if cfg.color_jitter > 1:
        raise _bad(f"`color_jitter` is at most 1, got {cfg.color_jitter}", "settings", "for example 0.4")


def spec_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The `training` mapping among a built network's parameters (empty when there is none)."""
    value = params.get(SPEC_PARAM)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"the network parameter `{SPEC_PARAM}` is a mapping of training settings, got {value!r}",
                   "spec", 'for example training = {"epochs": 10, "lr": 0.01}')
    return dict(value)


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """A settings file: a JSON, YAML or TOML mapping."""
    p = Path(path)
    if p.exists() and not p.is_file():  # a FIFO would block the read, a device never end it
        raise SpecError(Diagnostic("E102", f"the settings file {p} is not a regular file"))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(Diagnostic("E500" if isinstance(e, FileNotFoundError) else "E102",
                                   f"cannot read the settings file {p}: {e.strerror}")) from None
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # each parser has its own error type; all mean an unreadable file
        raise SpecError(Diagnostic("E102", f"the settings file {p} does not parse: {e}",
                                   hint="a mapping of settings in JSON, YAML (.yaml) or TOML (.toml)")) from None
    if isinstance(data, dict) and isinstance(data.get("train"), dict) and len(data) == 1:
        data = data["train"]  # `[train]` table in TOML, `train:` in YAML
    if not isinstance(data, dict):
        raise SpecError(Diagnostic("E102", f"the settings file {p} does not hold a mapping of settings"))
    return data


def build_config(spec_params: dict[str, Any], file: str | Path | None = None,
                 overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, dict[str, str]]:
    """Defaults, then the spec's `training` parameter, then a settings file, then `overrides` (the command
    line). Returns the settings and where each non-default one came from."""
    cfg = TrainConfig()
    sources: dict[str, str] = {}
    apply(cfg, spec_settings(spec_params), "spec", sources, allow_run=False)
    if file is not None:
        apply(cfg, read_settings_file(file), str(file), sources)
    apply(cfg, {k: v for k, v in (overrides or {}).items() if v is not None}, "command line", sources)
    return cfg, sources


def absolute_data(source: str) -> str:
    """A data source with its path made absolute (`mnist:../data` → `mnist:/home/me/data`), so that the
    checkpoints and settings.json of a run name the same data from any folder."""
    kind, sep, path = source.partition(":")
    if not sep or not path.strip() or kind.strip().lower() == "synthetic":
        return source
    return f"{kind}:{os.path.abspath(os.path.expanduser(path))}"
