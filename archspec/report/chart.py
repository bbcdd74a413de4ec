"""A chart as data (`Chart`): the points, their labels and colours, what is marked, and the titles that say
what is plotted. `compare` and `sweep` describe their charts with it; archspec/draw/chart.py draws them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What each figure is, for an axis title, and how its ticks read: "count" (K, M, G), "bytes" (KiB, MiB,
# GiB) or "number". Columns not listed (a swept parameter such as `alpha`) are plain numbers named as written.
FIGURES: dict[str, tuple[str, str]] = {
    "params": ("Parameters", "count"),
    "trainable_params": ("Trainable parameters", "count"),
    "non_trainable_params": ("Non-trainable parameters", "count"),
    "buffers": ("Buffers", "count"),
    "macs": ("MACs", "count"),
    "flops": ("FLOPs", "count"),
    "connections": ("Connections", "count"),
    "activations": ("Activations (elements)", "count"),
    "activation_bytes": ("Activation memory", "bytes"),
    "param_bytes": ("Parameter memory", "bytes"),
    "memory": ("Memory (parameters and activations)", "bytes"),
    "layers": ("Weight layers", "number"),
    "depth": ("Depth (weight layers on the longest path)", "number"),
    "receptive_field": ("Receptive field (pixels)", "number"),
    "effective_stride": ("Effective stride", "number"),
}


def figure_title(key: str, convention: str = "archspec", batch: int = 1) -> str:
    """An axis title that says what is plotted: `MACs per sample, as torchinfo counts them`."""
    title = FIGURES.get(key, (key, "number"))[0]
    per = " per sample" if batch == 1 else f" per batch of {batch}"
    if key == "macs":
        title += per + ("" if convention == "archspec" else f", as {convention} counts them")
    elif key in ("flops", "activations", "activation_bytes", "memory"):
        title += per
    return title


def short_name(key: str, capital: bool = False) -> str:
    """A figure's name in a sentence: "parameters", "MACs", "activation memory" (`capital`: "Parameters")."""
    title = FIGURES.get(key, (key, ""))[0].split(" (")[0]
    if capital or key not in FIGURES or title[:2].isupper():  # MACs, FLOPs; a swept name as written
        return title[0].upper() + title[1:] if capital else title
    return title[0].lower() + title[1:]


def figure_kind(key: str) -> str:
    return FIGURES.get(key, (key, "number"))[1]


@dataclass
class Chart:
    """One scatter chart. `colour` holds a value per point (numbers: a colour bar, or a legend when there
    are few; strings: a legend). `highlight` indexes the points to mark (a Pareto front is joined by a
    line); `muted` points (outside a sweep's `--where`) are drawn grey, behind the others. Points are
    labelled when there are few; otherwise only the highlighted ones."""

    x: list[float]
    y: list[float]
    labels: list[str]
    x_key: str = "macs"
    y_key: str = "params"
    x_title: str = ""
    y_title: str = ""
    title: str = ""  # what is plotted: "Parameters against MACs"
    subtitle: str = ""  # of what: "resnet, 25 configurations, 12 within --where"
    colour: list[Any] | None = None
    colour_key: str = ""
    colour_title: str = ""
    highlight: list[int] = field(default_factory=list)
    highlight_title: str = ""
    front: bool = True  # the highlighted points are a Pareto front: join them with a line
    muted: list[bool] | None = None
    muted_title: str = "outside --where"
    max_labels: int = 30

    def __post_init__(self) -> None:
        n = len(self.x)
        if len(self.y) != n or len(self.labels) != n or (self.colour is not None and len(self.colour) != n) \
                or (self.muted is not None and len(self.muted) != n):
            raise ValueError("a chart's columns must have one value per point")
        self.x_title = self.x_title or figure_title(self.x_key)
        self.y_title = self.y_title or figure_title(self.y_key)
        if self.colour_key and not self.colour_title:
            self.colour_title = figure_title(self.colour_key)

    def labelled(self) -> list[int]:
        """The points that get a text label: every point when there are few, else the highlighted ones."""
        shown = [i for i in range(len(self.x)) if not (self.muted and self.muted[i]) and self.labels[i]]
        if len(shown) <= self.max_labels:
            return shown
        return [i for i in self.highlight if not (self.muted and self.muted[i]) and self.labels[i]][:self.max_labels]


def show_value(v: Any) -> str:
    """A value in a legend or label: 0.75, 1.0 (a float stays a float), 224, paper."""
    if isinstance(v, float):
        text = f"{v:g}"
        return text if any(c in text for c in ".en") else text + ".0"
    return str(v)
