"""Fitting a diagram to a slide or a page: the frame, text widths, and measuring a layout.

A figure is made for a frame: `width` (13.33 in by default: the width of a 16:9 slide, which
PowerPoint, Keynote and Google Slides make 13.33 × 7.5 in) and `aspect` (16:9), so the frame is
13.33 × 7.5 in. Long networks wrap into rows (or columns, drawn top to bottom) so that the picture
comes out near the frame's proportions; the picture is then scaled down to fit inside the frame,
but never so far that its smallest text would be under `MIN_FONT_PT` (8 pt at the frame's size, or
the smallest text asked for if that is smaller): a network too big for that comes out larger than
the frame, and `Layout.note()` says so. `width=None` draws at the natural size (no frame, no
wrapping unless asked for).

Text widths are estimated with Helvetica's metrics (graphviz draws `Helvetica`, which fontconfig
maps to a metric-compatible font such as Liberation Sans or Nimbus Sans); a graph view's layout is
measured by running `dot` itself (`measure`). Nothing here imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    import graphviz

SLIDE_WIDTH_IN = 13.333  # a 16:9 slide: 13.333 × 7.5 in
SLIDE_ASPECT = 16 / 9
MIN_FONT_PT = 8.0  # the smallest text a fitted figure keeps, in points at the frame's size
CM_PER_IN = 2.54


def parse_width(value: str | float | None, dpi: int = 150) -> float | None:
    """A frame width in inches: a number (inches), or text with a unit: `13.33in`, `33.9cm`,
    `339mm`, `960pt`, `1920px` (pixels at `dpi`); `none` (or None) for the natural size."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        number, unit = float(value), "in"
    else:
        text = value.strip().lower()
        if text in ("none", "natural"):
            return None
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(in|cm|mm|pt|px|)", text)
        if m is None:
            raise SpecError(Diagnostic("E202", f"--width {value}: not a length",
                                       expected="a number with a unit: 13.33in, 33.9cm, 339mm, 960pt, 1920px, or none",
                                       hint="a 16:9 slide is 13.33in wide; px counts pixels at --dpi"))
        number, unit = float(m.group(1)), m.group(2) or "in"
    inches = number * {"in": 1.0, "cm": 1 / CM_PER_IN, "mm": 0.1 / CM_PER_IN, "pt": 1 / 72,
                       "px": 1 / max(dpi, 1)}[unit]
    if not 0.5 <= inches <= 200:
        raise SpecError(Diagnostic("E202", f"--width {value}: {inches:.3g} in is not a figure's width",
                                   expected="between 0.5 and 200 inches (1.27 cm to 5 m)"))
    return inches


def parse_aspect(value: str | float) -> float:
    """Width over height: `16:9`, `4:3`, `1.6`."""
    if isinstance(value, (int, float)):
        ratio = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(?:[:/x]\s*(\d+(?:\.\d*)?))?\s*", value)
        if m is None or (m.group(2) is not None and float(m.group(2)) == 0):
            raise SpecError(Diagnostic("E202", f"--aspect {value}: not an aspect ratio",
                                       expected="width:height such as 16:9 or 4:3, or a number such as 1.78"))
        ratio = float(m.group(1)) / float(m.group(2) or 1)
    if not 0.1 <= ratio <= 10:
        raise SpecError(Diagnostic("E202", f"--aspect {value}: {ratio:.3g} is not a figure's proportion",
                                   expected="a ratio between 1:10 and 10:1"))
    return ratio


def parse_wrap(value: str | int | None) -> int | None:
    """Rows (or columns): a count, or `auto` (None) to choose them to fit the frame."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise SpecError(Diagnostic("E202", f"--wrap {value}: not a count of rows",
                                   expected="auto, or a whole number of rows (columns top to bottom) from 1",
                                   hint="--wrap 1 draws one row: no wrapping"))
    return n


def check_font_scale(value: float) -> float:
    if not 0.25 <= value <= 8:
        raise SpecError(Diagnostic("E202", f"--font-scale {value:g}: out of range", expected="between 0.25 and 8"))
    return float(value)


@dataclass(frozen=True)
class Fit:
    """What a figure is made for: the frame's width (inches; None for the natural size) and aspect
    (width / height), text size (`font_scale` times the defaults), and rows (None: chosen to fit)."""

    width: float | None = SLIDE_WIDTH_IN
    aspect: float = SLIDE_ASPECT
    font_scale: float = 1.0
    wrap: int | None = None

    @property
    def height(self) -> float | None:
        return None if self.width is None else self.width / self.aspect


@dataclass
class Layout:
    """How a figure came out: rows (or columns), its natural size and the scale it is drawn at
    (inches), and the smallest text at that scale (points)."""

    rows: int
    natural: tuple[float, float] | None  # width, height in inches at scale 1 (None: not measured)
    scale: float
    min_font: float  # the smallest text asked for, in points at scale 1
    fit: Fit

    @property
    def size(self) -> tuple[float, float] | None:
        if self.natural is None:
            return None
        return self.natural[0] * self.scale, self.natural[1] * self.scale

    @property
    def smallest_text(self) -> float:
        return self.min_font * self.scale

    def fits(self) -> bool:
        if self.size is None or self.fit.width is None or self.fit.height is None:
            return True
        w, h = self.size
        return w <= self.fit.width * 1.001 and h <= self.fit.height * 1.001

    def note(self) -> str | None:
        """A line for the user when the figure does not fit its frame at a readable size."""
        if self.fits() or self.size is None or self.fit.width is None or self.fit.height is None:
            return None
        w, h = self.size
        return (f"the figure is {w:.1f} × {h:.1f} in, larger than the {self.fit.width:.2f} × {self.fit.height:.2f} in "
                f"frame: fitting it would make its text smaller than {MIN_FONT_PT:g} pt; collapse blocks into boxes "
                "(--depth 1, --depth 0) or give a larger --width")


def fit_ratio(natural: tuple[float, float], fit: Fit) -> float:
    """How far a figure of this natural size (inches) must shrink to fit the frame (1: it fits)."""
    if fit.width is None or fit.height is None:
        return 1.0
    return min(1.0, fit.width / max(natural[0], 1e-6), fit.height / max(natural[1], 1e-6))


def scale_for(natural: tuple[float, float], fit: Fit, min_font: float) -> float:
    """The scale a figure of this natural size (inches) is drawn at: down to fit the frame, but not
    below the point where its smallest text (`min_font` points at scale 1) would be under
    `MIN_FONT_PT` (or under itself, when it is smaller to begin with)."""
    want = fit_ratio(natural, fit)
    floor = min(1.0, MIN_FONT_PT / min_font) if min_font > 0 else 0.0
    return max(want, floor)


def size_attr(layout: Layout) -> str | None:
    """graphviz's `size` (inches; it only ever scales down) that draws the figure at `layout.scale`."""
    fit = layout.fit
    if fit.width is None or fit.height is None:
        return None
    if layout.natural is None:
        return f"{fit.width:.3f},{fit.height:.3f}"
    if layout.scale >= 0.9999:
        return None
    w, h = layout.size or layout.natural
    return f"{w:.3f},{h:.3f}"


def measure(dg: graphviz.Digraph, pad: float) -> tuple[float, float] | None:
    """The natural size (inches, with the graph's `pad` around it, as `size` counts it) of a graph as
    its engine lays it out (from `-Tplain`, with no `size` set); None without graphviz's programs."""
    import graphviz

    try:
        first = dg.pipe(format="plain").split(b"\n", 1)[0].split()
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return None
    return float(first[2]) + 2 * pad, float(first[3]) + 2 * pad


# -- text widths ---------------------------------------------------------------------------------

# Helvetica's advance widths (per 1000 units of the font size) for printable ASCII, from its AFM file.
_HELVETICA = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,  # space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,  # 0 to ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,  # @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,  # P to _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,  # ` to o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,  # p to ~
)
_OTHER = {"×": 584, "·": 278, "…": 1000, "≤": 549, "→": 1000, "↵": 1000}
BOLD = 1.08  # Helvetica-Bold is about this much wider


def text_width(text: str, pt: float, bold: bool = False) -> float:
    """The width of a line of text in points."""
    units = sum(_HELVETICA[ord(c) - 32] if 32 <= ord(c) < 127 else _OTHER.get(c, 600) for c in text)
    return units / 1000 * pt * (BOLD if bold else 1.0)
