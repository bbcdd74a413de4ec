"""Several networks side by side (`archspec compare`), the shipped specs (`archspec zoo`), and the chart of
MACs against parameters that the course shows after Canziani et al. (2016), as SVG, PNG or PDF
(described by `chart()`, drawn by `archspec.draw.chart`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.kinds.base import fmt_shape
from archspec.report.analysis import Analysis, analyze, human_bytes

if TYPE_CHECKING:
    from archspec.report.chart import Chart


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


def compare(items: list[tuple[Any, dict[str, Any]]] | list[tuple[Any, dict[str, Any], Any]], *,
            convention: str = "archspec", batch: int = 1) -> Comparison:
    """Analyse each (spec, network parameters[, input]) and arrange the totals side by side."""
    from archspec.lang.load import resolve_spec_path

    entries = []
    for item in items:
        spec, params = item[0], item[1]
        inp = item[2] if len(item) > 2 else None
        a = analyze(spec, params=params, input=inp, convention=convention, batch=batch)
        if not isinstance(spec, str):  # a loaded spec (a model imported on the fly): its label
            spec = str(getattr(spec, "label", None) or getattr(spec, "name", "spec"))
            path = None
        else:
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
    CHART_COLUMNS = ("params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops",
                     "activations", "activation_bytes", "param_bytes", "memory", "layers", "depth", "receptive_field")

    def points(self, x: str = "macs", y: str = "params") -> list[tuple[str, float, float]]:
        """(label, x, y) of every network with both figures (and both above zero on a log axis)."""
        out = []
        for e in self.entries:
            r = self._chart_record(e)
            if r.get(x) is not None and r.get(y) is not None:
                out.append((e.label, float(r[x]), float(r[y])))
        return out

    def _chart_record(self, e: Entry) -> dict[str, Any]:
        r = self.record(e)
        r["memory"] = r["activation_bytes"] + r["param_bytes"]
        r["receptive_field"] = max(r["receptive_field"]) if r["receptive_field"] else None
        return r

    def chart(self, x: str = "macs", y: str = "params", colour: str | None = None, front: bool = True) -> Chart:
        """MACs (x) against parameters (y) by default, one labelled point per network, the Pareto front
        (fewest x for most y) marked; any two figures, and a third as colour."""
        from archspec.report.chart import Chart, figure_title, short_name
        from archspec.report.sweep import pareto_front

        for key, what in ((x, "--x"), (y, "--y"), (colour, "--color")):
            if key is not None and key not in self.CHART_COLUMNS:
                from archspec.diagnostics import Diagnostic, SpecError, did_you_mean

                raise SpecError(Diagnostic("E205", f"{what}: `{key}` is not a figure of compare",
                                           expected=", ".join(self.CHART_COLUMNS),
                                           hint=did_you_mean(key, self.CHART_COLUMNS)))
        recs = [(e, self._chart_record(e)) for e in self.entries]
        recs = [(e, r) for e, r in recs if r.get(x) is not None and r.get(y) is not None]
        xs = [float(r[x]) for _, r in recs]
        ys = [float(r[y]) for _, r in recs]
        highlight = pareto_front(list(zip(xs, ys)), ["minimize", "maximize"]) if front and len(recs) > 1 else []
        per = "" if self.batch == 1 else f" (batch {self.batch})"
        title = f"{short_name(y, True)} against {short_name(x)}{per}"
        subtitle = f"{len(recs)} network{'s' if len(recs) != 1 else ''}" + \
            ("" if self.convention == "archspec" else f", MACs as {self.convention} counts them")
        return Chart(x=xs, y=ys, labels=[e.label for e, _ in recs], x_key=x, y_key=y,
                     x_title=figure_title(x, self.convention, self.batch),
                     y_title=figure_title(y, self.convention, self.batch), title=title, subtitle=subtitle,
                     colour=[r.get(colour) for _, r in recs] if colour else None, colour_key=colour or "",
                     highlight=highlight, front=True,
                     highlight_title=f"Pareto front: fewest {short_name(x)}, most {short_name(y)}")


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
