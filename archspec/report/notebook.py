"""How analyses and check reports show themselves in a notebook: static HTML tables (`_repr_html_`).

An `Analysis` is collapsed to a readable depth, as `archspec analyze` collapses its table
(`Analysis.auto_depth` and `display_rows`), with every layer one click away in a `<details>` when the
network is not huge, and its totals; `archspec.view(...)` is the interactive page. A check report
(`archspec.check`) lists the totals, the layers that disagree, and every layer in a `<details>`.
No script: these render wherever a notebook renders HTML (Jupyter, VS Code, GitHub's viewer).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from archspec.kinds.base import fmt_shape

if TYPE_CHECKING:
    from archspec.pytorch.check import CheckReport
    from archspec.report.analysis import Analysis

NOTEBOOK_ROWS = 60  # the collapsed table has at most about this many rows
FULL_TABLE_ROWS = 2000  # below this many layers, the full table is included (folded)

_STYLE = ("<style>.archspec-t{border-collapse:collapse;font-size:12px;margin:4px 0}"
          ".archspec-t th,.archspec-t td{padding:2px 8px;text-align:left;border-bottom:1px solid #e5e5e5}"
          ".archspec-t td.n,.archspec-t th.n{text-align:right;font-variant-numeric:tabular-nums}"
          ".archspec-t tr.b td{font-weight:600;background:#f6f6f6}.archspec-t tr.c td{color:#6a3d9a}"
          ".archspec-t tr.d td{color:#888}.archspec-bad{color:#c62828;font-weight:600}"
          ".archspec-ok{color:#2e7d32;font-weight:600}.archspec-note{color:#666;font-size:12px}</style>")


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _n(v: int) -> str:
    return f"{v:,}" if v else ""


def layer_table(a: Analysis, depth: int | None) -> str:
    """The table of `archspec analyze` as HTML: block headers, collapsed blocks, layers (indented)."""
    conv = "" if a.convention == "archspec" else f" ({_e(a.convention)})"
    out = ['<table class="archspec-t"><thead><tr><th>Layer</th><th>Kind</th><th>Arguments</th><th>Output</th>'
           f'<th class="n">Params</th><th class="n">MACs{conv}</th></tr></thead><tbody>']
    for typ, item in a.display_rows(depth):
        if typ == "block":
            pad = 8 + 14 * item.id.count(".")
            out.append(f'<tr class="b"><td style="padding-left:{pad}px">{_e(item.id.rpartition(".")[2])}</td>'
                       f'<td colspan="5">{_e(item.label)}</td></tr>')
        elif typ == "collapsed":
            s = item["scope"]
            pad = 8 + 14 * s.id.count(".")
            out.append(f'<tr class="c"><td style="padding-left:{pad}px">▸ {_e(s.id.rpartition(".")[2])}</td>'
                       f'<td>{_e(s.label)}</td><td>{item["layers"]} layers</td><td>{_e(fmt_shape(item["shape"]))}</td>'
                       f'<td class="n">{_n(item["params"])}</td><td class="n">{_n(item["macs"])}</td></tr>')
        else:
            r = item
            pad = 8 + 14 * r.name.count(".")
            dim = ' class="d"' if not (r.params or r.macs) else ""
            out.append(f'<tr{dim}><td style="padding-left:{pad}px">{_e(r.name.rpartition(".")[2])}</td>'
                       f'<td>{_e(r.kind)}{" ❄" if r.frozen else ""}</td><td>{_e(r.args)}</td>'
                       f'<td>{_e(fmt_shape(r.output_shape))}</td><td class="n">{_n(r.params)}</td>'
                       f'<td class="n">{_n(r.macs)}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def analysis_html(a: Analysis, depth: int | None = None, max_rows: int = NOTEBOOK_ROWS) -> str:
    """An analysis as a notebook shows it: the table collapsed to a readable depth, then the totals."""
    if depth is None:
        depth = a.auto_depth(max_rows)
    t = a.totals
    head = (f'<div class="archspec"><p><b>{_e(_title(a))}</b>: {t.params:,} parameters · {t.macs:,} MACs · '
            f"{len(a.rows):,} layers</p>")
    parts = [_STYLE, head, layer_table(a, depth)]
    if depth is not None:
        parts.append(f'<p class="archspec-note">Blocks below depth {depth} are collapsed: '
                     f"<code>a.table(depth={depth + 1})</code> shows more, <code>archspec.view(a)</code> "
                     f"draws the network and lists every layer.</p>")
        if len(a.rows) <= FULL_TABLE_ROWS:
            parts.append(f"<details><summary>every layer ({len(a.rows):,})</summary>{layer_table(a, None)}</details>")
    totals = "".join(f"<tr><td>{_e(k.strip())}</td><td>{_e(v)}</td></tr>" for k, v in a.summary_lines())
    parts.append(f'<table class="archspec-t"><tbody>{totals}</tbody></table>')
    if a.error is not None:
        from archspec.diagnostics import render

        parts.append(f'<p class="archspec-bad">The analysis stopped at a mistake; the table shows the layers before it:</p>'
                     f"<pre>{_e(render(a.error.diagnostic))}</pre>")
    parts.append("</div>")
    return "".join(parts)


def _title(a: Analysis) -> str:
    return a.title


def check_html(report: CheckReport) -> str:
    """A check report: the verdict, the totals (analysis against PyTorch), the layers that disagree, and
    every layer folded in a `<details>`."""
    verdict = (f'<span class="archspec-ok">✓ {_e(report.network)}: PyTorch agrees with the analysis</span>' if report.ok
               else f'<span class="archspec-bad">✗ {_e(report.network)}: PyTorch disagrees with the analysis</span>')
    parts = [_STYLE, f'<div class="archspec"><p>{verdict} (batch {report.batch})</p>']

    def fmt(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else _e(v)

    rows = "".join(f'<tr><td>{_e(t.name)}</td><td class="n">{fmt(t.spec)}</td><td class="n">{fmt(t.torch)}</td>'
                   f'<td>{"✓" if t.ok else "<span class=archspec-bad>✗</span>"}</td></tr>' for t in report.totals)
    parts.append('<table class="archspec-t"><thead><tr><th></th><th class="n">Analysis</th><th class="n">PyTorch</th>'
                 f"<th></th></tr></thead><tbody>{rows}</tbody></table>")
    for p in report.problems:
        parts.append(f'<p class="archspec-bad">{_e(p)}</p>')
    if report.cpu:
        parts.append(f'<p class="archspec-note">CPU forward: {_e(report.cpu)}</p>')

    def layers(items: list[Any]) -> str:
        def cell(spec: Any, got: Any, show: Any = fmt) -> str:
            if spec == got:
                return f'<td class="n">{show(spec) if spec else ""}</td>'
            return f'<td class="n archspec-bad">{show(spec)} ≠ {show(got) if got is not None else "none"}</td>'

        def shape(s: Any) -> str:
            return _e(fmt_shape(s)) if s else "?"

        body = "".join(
            f"<tr><td>{_e(r.name)}</td><td>{_e(r.kind)}</td>{cell(r.shape, r.torch_shape, shape)}"
            f"{cell(r.params, r.torch_params)}{cell(r.trainable, r.torch_trainable)}{cell(r.buffers, r.torch_buffers)}"
            f'{cell(r.macs, r.torch_macs)}<td>{"✓" if r.ok else "<span class=archspec-bad>✗</span>"}</td></tr>'
            for r in items)
        return ('<table class="archspec-t"><thead><tr><th>Layer</th><th>Kind</th><th class="n">Output</th>'
                '<th class="n">Params</th><th class="n">Trainable</th><th class="n">Buffers</th><th class="n">MACs</th>'
                f"<th></th></tr></thead><tbody>{body}</tbody></table>")

    bad = [r for r in report.layers if not r.ok]
    if bad:
        parts.append(f"<p>Layers that disagree (analysis ≠ PyTorch): {len(bad)} of {len(report.layers)}</p>{layers(bad)}")
    else:
        parts.append(f'<p class="archspec-note">All {len(report.layers)} layers agree (shape, parameters, buffers, MACs).</p>')
    parts.append(f"<details><summary>every layer ({len(report.layers):,})</summary>{layers(report.layers)}</details></div>")
    return "".join(parts)
