"""A self-contained HTML page: inline CSS, inline SVG figures (``trd_spark.report.figures``), result tables.

Pure functions from (already suppressed) pandas frames to text: no reading, no network
(no external fonts, scripts or images). Every value is HTML-escaped. Tables show readable
column names (``COLUMN_LABELS``) and numbers in the field's formats: p-values as ``0.042`` or
``3.2e-05`` (never ``0.000``; an underflow to 0 as ``<1e-300``), I² in percent (``70.5%``), estimates
to 3 decimals, counts with thousands separators.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

# Column id -> table header. Ids not listed are shown with spaces for underscores.
COLUMN_LABELS = {
    "dataset": "Dataset", "definition": "TRD definition", "contrast": "Contrast", "pgs_id": "PGS",
    "trait": "Trait", "domain": "Domain", "n": "N", "n_cases": "Cases", "n_events": "TRD events",
    "beta": "log OR", "se": "SE", "odds_ratio": "OR", "hazard_ratio": "HR", "ci_low": "95% CI low",
    "ci_high": "95% CI high", "p": "p", "p_bonferroni": "p (Bonferroni)", "q_fdr": "q (FDR)",
    "converged": "Converged", "note": "Note", "step_order": "#", "step": "Step", "status": "Status",
    "ph_statistic": "PH test chi2", "ph_p": "PH test p", "method": "Method", "k": "Datasets (k)",
    "cochran_q": "Cochran's Q", "q_p": "Q p", "i2": "I\u00b2", "tau2": "\u03c4\u00b2", "datasets": "Datasets pooled",
    "beta_discovery": "log OR (discovery)", "p_adjusted_discovery": "p adjusted (discovery)",
    "same_direction": "Same direction", "replicated": "Replicated", "beta_trd": "log OR TRD",
    "se_trd": "SE TRD", "beta_trmdd": "log OR trMDD", "se_trmdd": "SE trMDD", "beta_diff": "Difference",
    "se_diff": "SE difference", "z": "z", "beta_trd_vs_trmdd": "log OR TRD vs trMDD",
    "p_trd_vs_trmdd": "p TRD vs trMDD", "ancestry": "Ancestry group", "mean": "Mean", "sd": "SD",
    "p05": "5th pct", "p25": "25th pct", "p50": "Median", "p75": "75th pct", "p95": "95th pct",
    "n_variants": "Variants", "n_matched": "Matched", "matched_fraction": "Matched fraction",
    "definition_a": "Definition A", "definition_b": "Definition B", "n_pgs": "PGS", "r2": "R\u00b2",
    "tertile": "PGS third", "time_days": "Day", "n_at_risk": "At risk", "survival": "Survival",
}
# Quantile columns hold PGS values, not probabilities.
_NOT_P = {"p05", "p25", "p50", "p75", "p95"}
# Fractions 0..1 the field reads in percent: I² (Higgins & Thompson 2002, Stat Med 21:1539, define
# and report it as a percentage; a meta-analysis table's "I² 0.705" reads as 0.7%). The tables
# (meta.tsv, models/meta.parquet) keep the fraction: schemas.META's description says so.
PERCENT_COLUMNS = {"i2"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
.tbl{overflow-x:auto;max-width:100%}
th{background:#f3f3f3}td.t{text-align:left}
caption{text-align:left;font-weight:bold;padding:4px 0}
.meta{color:#555;font-size:.9em}.fail{color:#a00}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif}
figure svg{max-width:100%;height:auto}
nav{background:#f7f7f7;border:1px solid #ddd;padding:.5em 1em;font-size:.9em;display:flex;flex-wrap:wrap;gap:.3em 1.2em}
nav a{white-space:nowrap}
.figs{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0 0 1em 0}figcaption{font-size:.85em;color:#555;max-width:760px}
.note{color:#555;font-size:.85em}
.warning{color:#8a1c00;background:#fff3e8;border-left:4px solid #d95f02;padding:.4em .7em}
dl.methods dt{font-weight:bold;margin-top:.4em}dl.methods dd{margin-left:1.5em}
"""
PALETTE = ["#1f5fa8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def is_p_column(column: str) -> bool:
    """p-value / q-value columns by the schemas' naming: ``p``, ``p_*``, ``*_p``, ``q_*``."""
    if column in _NOT_P:
        return False
    return column in ("p", "q_fdr") or column.startswith(("p_", "q_")) or column.endswith("_p")


# A p-value of exactly 0 is a tail probability below the range of a double: scipy's normal and
# chi-square tails (statsmodels' and lifelines' Wald p, the meta-analysis, Cochran's Q, the PH
# test) return 0 from |z| of about 37.7 on, where p is about 1e-310. A strong score reaches it
# at All of Us scale (log OR 0.2 per SD with an SE of 0.005 in the meta-analysis: z = 40). The
# tables keep the 0.0 they were given; the report shows the bound it means, as the significance
# figure draws it (-log10 p at 300).
P_UNDERFLOW_TEXT = "<1e-300"


def format_p(value: Any) -> str:
    """A p-value as a reader expects it: two significant digits, scientific below 0.001
    (``0.042``, ``3.2e-05``); never ``0.000``, and 0 (an underflow) as ``<1e-300``
    (``P_UNDERFLOW_TEXT``), never ``0``. Empty for a missing value."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return ""
    p = float(value)
    if p == 0:
        return P_UNDERFLOW_TEXT
    return f"{p:.1e}" if 0 < p < 1e-3 else f"{p:.2g}"


def format_count(value: object) -> str:
    """A (suppressed) count: integers with thousands separators, labels ("<20",
    "suppressed") as they are, empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return f"{int(value):,}"
    return str(value)


def format_cell(column: str, value: object) -> str:
    """Text for one table cell: p-values by ``format_p``, counts by ``format_count``, fractions
    of ``PERCENT_COLUMNS`` in percent to 1 decimal (0.705 as ``70.5%``), other floats to 3
    decimals, booleans as yes/no."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if column in PERCENT_COLUMNS:
            return f"{100 * float(value):.1f}%"
        return format_p(value) if is_p_column(column) else f"{value:.3f}"
    if isinstance(value, (int, np.integer)):
        return format_count(value)
    return str(value)


def column_label(column: str) -> str:
    """The header shown for a column id (``COLUMN_LABELS``, else underscores as spaces)."""
    return COLUMN_LABELS.get(column, str(column).replace("_", " "))


def html_table(df: pd.DataFrame, caption: str) -> str:
    """An HTML table of ``df`` (columns in order, numbers right-aligned, text left); headers
    by ``column_label``, except ``beta`` of a table with ``hazard_ratio`` (Cox): ``log HR``."""
    if df.empty:
        return f"<p><b>{_esc(caption)}</b>: no rows.</p>"
    # A Cox table's beta is a log hazard ratio (schemas: models/cox.parquet), not a log OR.
    cox = "hazard_ratio" in df.columns
    head = "".join(f'<th title="{_esc(c)}">{_esc("log HR" if cox and c == "beta" else column_label(c))}</th>'
                   for c in df.columns)
    text_cols = {c for c in df.columns if df[c].dtype == object and not df[c].map(
        lambda v: isinstance(v, (int, np.integer)) or (isinstance(v, str) and v.startswith("<"))).all()}
    body = []
    for rec in df.itertuples(index=False, name=None):
        cells = "".join(
            f'<td{" class=t" if c in text_cols else ""}>{_esc(format_cell(c, v))}</td>'
            for c, v in zip(df.columns, rec)
        )
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="tbl"><table><caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def warning(text: str) -> str:
    """A visible warning paragraph (escaped text): something the reader must know to read the results."""
    return f'<p class="warning">{_esc(text)}</p>'


def figure(svg: str, caption: str) -> str:
    """A ``<figure>`` with inline SVG markup and an escaped caption."""
    return f"<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>"


def render_page(*, release: str, sections: list[tuple[str, str, str]], meta: dict[str, str], threshold: int) -> str:
    """The whole report page: header, table of contents, then each (id, title, html) section."""
    meta_items = "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in meta.items())
    nav = "".join(f'<a href="#{_esc(sid)}">{_esc(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{_esc(sid)}"><h2>{_esc(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>trd-spark report {_esc(release)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Polygenic scores and treatment-resistant depression: release {_esc(release)}</h1>",
        f'<ul class="meta">{meta_items}<li>counts from 1 to {threshold - 1} are shown as '
        f"&lt;{threshold}; further counts that would reveal one are shown as &quot;suppressed&quot; "
        "(dissemination policy); no participant identifier or individual date is shown</li></ul>",
        f"<nav>{nav}</nav>", body, "</body></html>\n",
    ])
