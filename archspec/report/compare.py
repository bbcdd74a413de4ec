"""Several networks side by side (`archspec compare`), the shipped specs (`archspec zoo`), and the chart of
MACs against parameters that the course shows after Canziani et al. (2016), as SVG or PNG.

The figures are the analysis totals (`archspec.report.analysis.Totals`); this module only arranges them:

    >>> from archspec.report.compare import compare
    >>> c = compare([("vgg16", {}), ("resnet", {"depth": 50})])
    >>> [e.label for e in c.entries]
    ['vgg16', 'resnet depth=50']
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspec.kinds.base import fmt_shape
from archspec.report.analysis import Analysis, analyze, human, human_bytes


@dataclass
class Entry:
    """One compared network: what was asked for, and its analysis."""

    label: str
    spec: str
    params: dict[str, Any]
    analysis: Analysis
    description: str = ""


# (key, title): the columns the table and Markdown show, in order; JSON and CSV have every total.
COLUMNS = (("model", "Model"), ("params", "Params"), ("macs", "MACs"), ("param_bytes", "Param memory"),
           ("activation_bytes", "Activations"), ("depth", "Depth"), ("receptive_field", "Receptive field"),
           ("outputs", "Output"))
ZOO_COLUMNS = (("model", "Spec"), ("description", "Description"), ("params", "Params"), ("macs", "MACs"))


def _label(spec: str, params: dict[str, Any]) -> str:
    from archspec.lang.expr import show

    name = Path(spec).stem if spec.endswith((".arch", ".yaml", ".yml")) else spec
    return " ".join([name, *(f"{k}={show(v) if not isinstance(v, str) else v}" for k, v in params.items())])


def compare(items: list[tuple[str, dict[str, Any]]] | list[tuple[str, dict[str, Any], Any]], *,
            convention: str = "archspec", batch: int = 1) -> Comparison:
    """Analyse each (spec, network parameters[, input]) and arrange the totals side by side."""
    from archspec.lang.load import resolve_spec_path

    entries = []
    for item in items:
        spec, params = item[0], item[1]
        inp = item[2] if len(item) > 2 else None
        a = analyze(spec, params=params, input=inp, convention=convention, batch=batch)
        path = resolve_spec_path(spec)
        entries.append(Entry(_label(spec, params), spec, dict(params), a, description(path) if path else ""))
    return Comparison(entries, convention, batch)


class Comparison:
    def __init__(self, entries: list[Entry], convention: str = "archspec", batch: int = 1,
                 columns: tuple[tuple[str, str], ...] = COLUMNS) -> None:
        self.entries = entries
        self.convention = convention
        self.batch = batch
        self.columns = columns

    # -- values ----------------------------------------------------------------------------------
    def record(self, e: Entry) -> dict[str, Any]:
        """Every figure of one network, as JSON gives it."""
        t = e.analysis.totals
        return {
            "model": e.label, "spec": e.spec, "network": e.analysis.name, "params_set": e.params,
            "description": e.description,
            "params": t.params, "trainable_params": t.trainable_params, "non_trainable_params": t.non_trainable_params,
            "buffers": t.buffers, "macs": t.macs, "flops": t.flops, "activations": t.activations,
            "activation_bytes": t.activation_bytes, "param_bytes": t.param_bytes, "layers": t.layers,
            "depth": t.depth, "receptive_field": t.receptive_field, "effective_stride": t.effective_stride,
            "inputs": {k: list(v) for k, v in e.analysis.inputs.items()},
            "outputs": {k: list(v) for k, v in e.analysis.outputs.items()},
        }

    def cell(self, e: Entry, key: str) -> str:
        """One cell of the table, formatted."""
        t = e.analysis.totals
        if key == "model":
            return e.label
        if key == "description":
            return e.description
        if key in ("param_bytes", "activation_bytes"):
            return human_bytes(getattr(t, key))
        if key == "receptive_field":
            return "×".join(map(str, t.receptive_field)) if t.receptive_field else "—"
        if key == "outputs":
            return ", ".join(fmt_shape(s) for s in e.analysis.outputs.values())
        return f"{getattr(t, key):,}"

    def cells(self, e: Entry) -> list[str]:
        return [self.cell(e, key) for key, _ in self.columns]

    def _titles(self) -> list[str]:
        conv = "" if self.convention == "archspec" else f" ({self.convention})"
        return [title + (conv if key == "macs" else "") for key, title in self.columns]

    # -- formats ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": "archspec-compare", "version": 1, "convention": self.convention, "batch": self.batch,
                "models": [self.record(e) for e in self.entries]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        buf = io.StringIO()
        cols = ["model", "spec", "description", "params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops",
                "activations", "activation_bytes", "param_bytes", "layers", "depth", "receptive_field", "outputs"]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for e in self.entries:
            r = self.record(e)
            r["receptive_field"] = "x".join(map(str, r["receptive_field"])) if r["receptive_field"] else "global"
            r["outputs"] = " ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in r["outputs"].items())
            w.writerow([r[c] for c in cols])
        return buf.getvalue()

    def to_markdown(self) -> str:
        titles = self._titles()
        align = ["---" if key in ("model", "description") else "--:" for key, _ in self.columns]
        lines = ["| " + " | ".join(titles) + " |", "|" + "|".join(align) + "|"]
        for e in self.entries:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in self.cells(e)) + " |")
        return "\n".join(lines) + "\n"

    def table(self) -> Any:
        from rich.table import Table

        conv = "" if self.convention == "archspec" else f", MACs as {self.convention} counts them"
        t = Table(title=f"{len(self.entries)} networks{conv}", title_justify="left", header_style="bold")
        for key, title in zip((k for k, _ in self.columns), self._titles()):
            text = key in ("model", "description")
            t.add_column(title, justify="left" if text else "right", no_wrap=key != "description",
                         overflow="fold")
        for e in self.entries:
            t.add_row(*self.cells(e))
        return t

    # -- the chart -------------------------------------------------------------------------------
    def points(self) -> list[tuple[str, int, int]]:
        """(label, MACs, parameters) of every network with both above zero (a log-log chart)."""
        return [(e.label, e.analysis.totals.macs, e.analysis.totals.params) for e in self.entries
                if e.analysis.totals.macs > 0 and e.analysis.totals.params > 0]

    def plot_svg(self) -> str:
        return chart_svg(self.points(), self.convention)

    def plot_dot(self) -> str:
        return chart_dot(self.points(), self.convention)

    def render_plot(self, suffix: str) -> str | bytes:
        """The chart as `.svg` text (written by hand) or `.png` bytes (Graphviz's neato, positions pinned;
        `archspec.draw.render.DotNotFound` when Graphviz is not installed)."""
        if suffix.lower() == ".svg":
            return self.plot_svg()
        if suffix.lower() == ".png":
            import graphviz

            from archspec.draw.render import DotNotFound

            try:
                data: bytes = graphviz.Source(self.plot_dot()).pipe(format="png", engine="neato", neato_no_op=2)
            except graphviz.ExecutableNotFound:
                raise DotNotFound() from None
            return data
        raise ValueError(f"a chart is written as .svg or .png, not {suffix or 'a file without a suffix'}")


# -- chart geometry ------------------------------------------------------------------------------

W, H = 720, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 40, 60


def _decades(lo: float, hi: float) -> tuple[int, int]:
    """Whole powers of ten around [lo, hi], at least one decade apart."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if b <= a:
        b = a + 1
    return a, b


def _layout(points: list[tuple[str, int, int]]) -> tuple[list[tuple[str, float, float]], tuple[int, int],
                                                          tuple[int, int]]:
    """Pixel positions (SVG coordinates: y grows downwards) on log-log axes, and the axes' decades."""
    xs = _decades(min(p[1] for p in points), max(p[1] for p in points)) if points else (8, 10)
    ys = _decades(min(p[2] for p in points), max(p[2] for p in points)) if points else (6, 8)

    def px(v: float, d: tuple[int, int], size: int) -> float:
        return (math.log10(v) - d[0]) / (d[1] - d[0]) * size

    out = [(label, LEFT + px(m, xs, W - LEFT - RIGHT), H - BOTTOM - px(p, ys, H - TOP - BOTTOM))
           for label, m, p in points]
    return out, xs, ys


def _labels(placed: list[tuple[str, float, float]]) -> list[tuple[float, float, str]]:
    """Where each dot's label goes (x, baseline y, "start" or "end"): right of the dot when that spot is
    free, else below, left, or left below; greedy, in the order of the dots. Text is about 6.5 px a letter."""
    boxes: list[tuple[float, float, float, float]] = [(x - 5, y - 5, x + 5, y + 5) for _, x, y in placed]
    out = []
    for label, x, y in placed:
        w = 6.5 * len(label)
        best = None
        for dx, dy, anchor in ((8, -6, "start"), (8, 16, "start"), (-8, -6, "end"), (-8, 16, "end")):
            x0 = x + dx if anchor == "start" else x + dx - w
            box = (x0, y + dy - 11, x0 + w, y + dy + 2)
            if best is None:
                best = (x + dx, y + dy, anchor, box)
            if not any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in boxes):
                best = (x + dx, y + dy, anchor, box)
                break
        assert best is not None
        boxes.append(best[3])
        out.append(best[:3])
    return out


def _power(e: int) -> str:
    return human(10**e).replace(".00", "")


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def chart_svg(points: list[tuple[str, int, int]], convention: str = "archspec") -> str:
    """A log-log scatter of MACs (x) against parameters (y), one labelled dot per network."""
    placed, xs, ys = _layout(points)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="Helvetica, Arial, sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">Parameters against MACs '
         f'({_esc(convention)})</text>']
    for i, e in enumerate(range(xs[0], xs[1] + 1)):
        x = LEFT + i / (xs[1] - xs[0]) * pw
        o.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{_power(e)}</text>')
    for i, e in enumerate(range(ys[0], ys[1] + 1)):
        y = H - BOTTOM - i / (ys[1] - ys[0]) * ph
        o.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_power(e)}</text>')
    o.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    o.append(f'<text x="{LEFT + pw / 2}" y="{H - 18}" text-anchor="middle">MACs per sample (log scale)</text>')
    o.append(f'<text transform="translate(20 {TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
             'Parameters (log scale)</text>')
    for (label, x, y), (_, m, p), (lx, ly, anchor) in zip(placed, points, _labels(placed)):
        o.append(f'<g><title>{_esc(label)}: {p:,} parameters, {m:,} MACs</title>'
                 f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#1f77b4" fill-opacity="0.8"/>'
                 f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">{_esc(label)}</text></g>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def chart_dot(points: list[tuple[str, int, int]], convention: str = "archspec") -> str:
    """The same chart for Graphviz: every node pinned (`neato -n2`), positions in points (y up)."""
    placed, xs, ys = _layout(points)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def at(x: float, y: float) -> str:
        return f'pos="{x:.1f},{H - y:.1f}!"'

    o = ["graph chart {", f'  graph [bb="0,0,{W},{H}", bgcolor=white, fontname=Helvetica];',
         '  node [fontname=Helvetica, fontsize=10, shape=plaintext, width=0, height=0, margin=0];',
         f'  title [label={q(f"Parameters against MACs ({convention})")}, fontsize=14, {at(W / 2, 22)}];',
         f'  xlabel [label="MACs per sample (log scale)", {at(LEFT + pw / 2, H - 18)}];',
         f'  ylabel [label="Parameters (log scale)", {at(36, TOP - 16)}];']
    corners: dict[str, tuple[float, float]] = {"c00": (LEFT, TOP), "c10": (W - RIGHT, TOP), "c11": (W - RIGHT, H - BOTTOM), "c01": (LEFT, H - BOTTOM)}
    for name, (x, y) in corners.items():
        o.append(f'  {name} [label="", shape=point, width=0.01, {at(x, y)}];')
    o.append("  c00 -- c10 -- c11 -- c01 -- c00 [color=\"#333333\"];")
    for i, e in enumerate(range(xs[0], xs[1] + 1)):
        x = LEFT + i / (xs[1] - xs[0]) * pw
        o.append(f'  xt{i} [label={q(_power(e))}, {at(x, H - BOTTOM + 14)}];')
    for i, e in enumerate(range(ys[0], ys[1] + 1)):
        y = H - BOTTOM - i / (ys[1] - ys[0]) * ph
        o.append(f'  yt{i} [label={q(_power(e))}, {at(LEFT - 22, y)}];')
    for i, ((label, x, y), (lx, ly, anchor)) in enumerate(zip(placed, _labels(placed))):
        o.append(f'  p{i} [label="", shape=circle, style=filled, fillcolor="#1f77b4", color="#1f77b4", '
                 f'width=0.14, {at(x, y)}];')
        half = 3.25 * len(label)  # a node's position is its centre
        o.append(f'  l{i} [label={q(label)}, {at(lx + half if anchor == "start" else lx - half, ly - 4)}];')
    o.append("}")
    return "\n".join(o) + "\n"


# -- the zoo -------------------------------------------------------------------------------------

def description(path: Path, limit: int = 120) -> str:
    """A spec's one-line description: the first clause of its header comment, up to the first `:`, `;` or
    end of sentence outside quotes and parentheses (`GoogLeNet (Szegedy et al. 2015), the paper's Table 1`)."""
    header: list[str] = []
    try:
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                s = line.strip()
                if not s.startswith("#"):
                    if header or (s and not s.startswith("---")):
                        break
                    continue
                header.append(s.lstrip("#").strip())
    except (OSError, UnicodeDecodeError):
        return ""
    text = " ".join(header)
    depth, quoted, end = 0, False, len(text)
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0 and _clause_ends(text, i):
            end = i
            break
    text = text[:end].strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _clause_ends(text: str, i: int) -> bool:
    """A `:` or `;` before a space, or a full stop at the end or before a capital (not `et al. 2015`)."""
    after = text[i + 1:i + 3]
    if text[i] in ":;":
        return after[:1] == " "
    return text[i] == "." and (after == "" or (after[:1] == " " and after[1:].isupper()))


def shipped_specs() -> list[Path]:
    from archspec.lang.load import SPEC_SUFFIXES, shipped_specs_dir

    return sorted(p for p in shipped_specs_dir().iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def zoo(convention: str = "archspec") -> tuple[Comparison, list[tuple[str, str]]]:
    """Every shipped spec with its default parameters; the specs that fail are listed apart (name, error)."""
    from archspec.diagnostics import SpecError

    entries, failed = [], []
    for p in shipped_specs():
        try:
            a = analyze(p, convention=convention)
        except SpecError as e:
            failed.append((p.stem, e.diagnostic.message))
            continue
        entries.append(Entry(p.stem, p.name, {}, a, description(p)))
    return Comparison(entries, convention, columns=ZOO_COLUMNS), failed
