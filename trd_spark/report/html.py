"""A self-contained HTML report: inline CSS, an inline SVG forest plot, result tables.

Pure functions from (already suppressed) pandas frames to text: no reading, no network
(no external fonts, scripts or images). Every value is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Iterable

import numpy as np
import pandas as pd

_P_COLUMNS = {"p", "p_bonferroni", "q_fdr"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}td.t{text-align:left}
caption{text-align:left;font-weight:bold;padding:4px 0}
.meta{color:#555;font-size:.9em}.fail{color:#a00}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def format_cell(column: str, value: object) -> str:
    """Text for one table cell: p-values in scientific notation, other floats to 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.2e}" if column in _P_COLUMNS else f"{value:.3f}"
    return str(value)


def html_table(df: pd.DataFrame, caption: str) -> str:
    """An HTML table of ``df`` (columns in order, numbers right-aligned, text left)."""
    if df.empty:
        return f"<p><b>{_esc(caption)}</b>: no rows.</p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    text_cols = {c for c in df.columns if df[c].dtype == object and not df[c].map(
        lambda v: isinstance(v, (int, np.integer)) or (isinstance(v, str) and v.startswith("<"))).all()}
    body = []
    for rec in df.itertuples(index=False, name=None):
        cells = "".join(
            f'<td{" class=t" if c in text_cols else ""}>{_esc(format_cell(c, v))}</td>'
            for c, v in zip(df.columns, rec)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _ticks(lo: float, hi: float) -> list[float]:
    candidates = [0.1, 0.2, 0.25, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0]
    inside = [t for t in candidates if lo <= t <= hi]
    return inside if len(inside) >= 2 else [lo, 1.0, hi]


def forest_plot_svg(
    results: pd.DataFrame, *, domains: Iterable[str], title: str, width: int = 760
) -> str:
    """An inline SVG forest plot of odds ratios with 95% CIs, grouped by domain (log x axis).

    ``results``: rows with trait, domain, pgs_id, odds_ratio, ci_low, ci_high, converged.
    Domains are drawn in the order given (unknown domains last); failed fits are listed as
    "not estimated". No counts are drawn.
    """
    order = list(domains)
    res = results.copy()
    res["_d"] = res["domain"].map(lambda d: order.index(d) if d in order else len(order))
    res = res.sort_values(["_d", "domain", "trait", "pgs_id"], kind="mergesort")
    ok = res[res["converged"].astype(bool)]
    lo = float(min(ok["ci_low"].min(), 0.9)) if len(ok) else 0.9
    hi = float(max(ok["ci_high"].max(), 1.1)) if len(ok) else 1.1
    lo, hi = lo / 1.05, hi * 1.05
    left, right, row_h, top = 300, width - 130, 18, 40
    n_rows = len(res) + res["domain"].nunique()
    height = top + row_h * (n_rows + 1) + 30

    def x(v: float) -> float:
        return left + (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) * (right - left)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="forest" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{_esc(title)}</text>',
        f'<text x="{right + 10}" y="{top - 8}" font-size="11">OR (95% CI)</text>',
    ]
    y = top
    for domain, grp in res.groupby("_d", sort=True):
        y += row_h
        parts.append(f'<text x="10" y="{y}" font-size="12" font-weight="bold">{_esc(grp["domain"].iloc[0])}</text>')
        for rec in grp.itertuples(index=False):
            y += row_h
            parts.append(f'<text x="24" y="{y}" font-size="11">{_esc(rec.trait)} ({_esc(rec.pgs_id)})</text>')
            if bool(rec.converged) and np.isfinite(rec.odds_ratio):
                cy = y - 4
                parts.append(
                    f'<line x1="{x(rec.ci_low):.1f}" y1="{cy}" x2="{x(rec.ci_high):.1f}" y2="{cy}" stroke="#333"/>'
                    f'<rect x="{x(rec.odds_ratio) - 3:.1f}" y="{cy - 3}" width="6" height="6" fill="#1f5fa8"/>'
                    f'<text x="{right + 10}" y="{y}" font-size="11">'
                    f"{rec.odds_ratio:.2f} ({rec.ci_low:.2f}-{rec.ci_high:.2f})</text>"
                )
            else:
                parts.append(f'<text x="{right + 10}" y="{y}" font-size="11" fill="#a00">not estimated</text>')
    axis_y = y + row_h
    parts.append(f'<line x1="{x(1.0):.1f}" y1="{top}" x2="{x(1.0):.1f}" y2="{axis_y}" stroke="#999" stroke-dasharray="3,3"/>')
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#333"/>')
    for t in _ticks(lo, hi):
        parts.append(
            f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + 4}" stroke="#333"/>'
            f'<text x="{x(t):.1f}" y="{axis_y + 16}" font-size="10" text-anchor="middle">{t:g}</text>'
        )
    parts.append(f'<text x="{(left + right) / 2:.0f}" y="{axis_y + 28}" font-size="11" text-anchor="middle">'
                 "odds ratio per SD of PGS (log scale)</text>")
    parts.append("</svg>")
    return "".join(parts)


def render_report(
    *,
    release: str,
    forest_title: str,
    forest_svg: str,
    results: pd.DataFrame,
    cox: pd.DataFrame | None,
    cohort_flow: pd.DataFrame,
    match_summary: pd.DataFrame,
    threshold: int,
    meta: dict[str, str] | None = None,
) -> str:
    """The whole report page. Count columns must already be suppressed by the caller."""
    meta_items = "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in (meta or {}).items())
    cox_html = html_table(cox, "Cox PH: time from MDD index to TRD, per SD of PGS") if cox is not None \
        else "<p>Cox models were not run (models.cox is false).</p>"
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>trd-spark report {_esc(release)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Polygenic scores and treatment-resistant depression: release {_esc(release)}</h1>",
        f'<ul class="meta">{meta_items}<li>counts from 1 to {threshold - 1} are shown as '
        f"&lt;{threshold} (dissemination policy); participant identifiers are never shown</li></ul>",
        f"<h2>{_esc(forest_title)}</h2>", forest_svg,
        "<h2>Logistic regression results</h2>",
        html_table(results, "PGS per SD vs case status (adjusted); corrections within dataset x definition x contrast"),
        "<h2>Progression from MDD to TRD</h2>", cox_html,
        "<h2>Cohort flow</h2>", html_table(cohort_flow, "Persons remaining after each step"),
        "<h2>PGS variant matching</h2>", html_table(match_summary, "Scoring-file variants matched per dataset (variant counts)"),
        "</body></html>\n",
    ])
