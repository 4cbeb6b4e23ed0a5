"""A self-contained HTML page: inline CSS, inline SVG figures, result tables.

Pure functions from (already suppressed) pandas frames to text: no reading, no network
(no external fonts, scripts or images). Every value is HTML-escaped. Tables show readable
column names (``COLUMN_LABELS``) and numbers in the field's formats: p-values as ``0.042`` or
``3.2e-05`` (never ``0.000``), estimates to 3 decimals, counts with thousands separators.
"""

from __future__ import annotations

import html
import math

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


def format_p(value: object) -> str:
    """A p-value as a reader expects it: two significant digits, scientific below 0.001
    (``0.042``, ``3.2e-05``); never ``0.000``. Empty for a missing value."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return ""
    p = float(value)
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
    """Text for one table cell: p-values by ``format_p``, counts by ``format_count``, other
    floats to 3 decimals, booleans as yes/no."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return format_p(value) if is_p_column(column) else f"{value:.3f}"
    if isinstance(value, (int, np.integer)):
        return format_count(value)
    return str(value)


def column_label(column: str) -> str:
    """The header shown for a column id (``COLUMN_LABELS``, else underscores as spaces)."""
    return COLUMN_LABELS.get(column, str(column).replace("_", " "))


def html_table(df: pd.DataFrame, caption: str) -> str:
    """An HTML table of ``df`` (columns in order, numbers right-aligned, text left)."""
    if df.empty:
        return f"<p><b>{_esc(caption)}</b>: no rows.</p>"
    head = "".join(f'<th title="{_esc(c)}">{_esc(column_label(c))}</th>' for c in df.columns)
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


def _svg_open(cls: str, width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">'
            f'<text x="10" y="18" font-size="13" font-weight="bold">{_esc(title)}</text>')


def _legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    out = []
    for i, (label, colour) in enumerate(items):
        out.append(f'<rect x="{x:.0f}" y="{y + 14 * i - 8:.0f}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14:.0f}" y="{y + 14 * i + 1:.0f}" font-size="11">{_esc(label)}</text>')
    return "".join(out)


def significance_svg(
    results: pd.DataFrame, *, domains: list[str], contrasts: list[str], bonferroni_p: float, title: str,
    width: int = 900,
) -> str:
    """-log10(p) of every PGS (x, grouped by domain) for each contrast (colour), with a dashed
    Bonferroni line at -log10(``bonferroni_p``). ``results``: pgs_id, trait, domain, contrast, p."""
    res = results[results["p"].notna()].copy()
    res["_d"] = res["domain"].map(lambda d: domains.index(d) if d in domains else len(domains))
    pgs = res.drop_duplicates("pgs_id").sort_values(["_d", "domain", "trait", "pgs_id"])[["pgs_id", "trait", "domain"]]
    left, top, bottom = 80, 40, 110
    plot_w = width - left - 170
    height = top + 260 + bottom
    ymax = max(float((-np.log10(res["p"].clip(lower=1e-300))).max()) if len(res) else 1.0,
               -math.log10(bonferroni_p)) * 1.1
    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(contrasts)}
    step = plot_w / max(len(pgs), 1)
    xs = {p: left + step * (i + 0.5) for i, p in enumerate(pgs["pgs_id"])}

    def y(v: float) -> float:
        return top + 260 - v / ymax * 260

    parts = [_svg_open("significance", width, height, title)]
    # Domain bands.
    for i, (domain, grp) in enumerate(pgs.groupby("domain", sort=False)):
        x0 = min(xs[p] for p in grp["pgs_id"]) - step / 2
        x1 = max(xs[p] for p in grp["pgs_id"]) + step / 2
        if i % 2 == 0:
            parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="260" fill="#f2f2f2"/>')
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{top + 12}" font-size="10" text-anchor="middle" '
                     f'fill="#555">{_esc(domain)}</text>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + 260}" stroke="#333"/>'
                 f'<line x1="{left}" y1="{top + 260}" x2="{left + plot_w}" y2="{top + 260}" stroke="#333"/>')
    for t in range(0, int(ymax) + 1, max(1, int(ymax) // 6)):
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" font-size="10" text-anchor="end">{t}</text>')
    parts.append(f'<text x="14" y="{top + 130}" font-size="11" transform="rotate(-90 14 {top + 130})" '
                 'text-anchor="middle">-log10(p)</text>')
    by = y(-math.log10(bonferroni_p))
    parts.append(f'<line class="bonferroni" x1="{left}" y1="{by:.1f}" x2="{left + plot_w}" y2="{by:.1f}" '
                 f'stroke="#a00" stroke-dasharray="5,4"/><text x="{left + plot_w - 4}" y="{by - 4:.1f}" '
                 f'font-size="10" fill="#a00" text-anchor="end">Bonferroni p = {bonferroni_p:.2g}</text>')
    offsets = {c: (i - (len(contrasts) - 1) / 2) * min(6.0, step / (len(contrasts) + 1)) for i, c in enumerate(contrasts)}
    for r in res.itertuples(index=False):
        cx = xs[r.pgs_id] + offsets.get(r.contrast, 0)
        cy = y(-math.log10(max(r.p, 1e-300)))
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colours.get(r.contrast, "#000")}">'
                     f'<title>{_esc(r.trait)} {_esc(r.contrast)} p={r.p:.2g}</title></circle>')
    for p in pgs.itertuples(index=False):
        x0 = xs[p.pgs_id]
        parts.append(f'<text x="{x0:.1f}" y="{top + 270}" font-size="10" text-anchor="end" '
                     f'transform="rotate(-45 {x0:.1f} {top + 270})">{_esc(p.trait)}</text>')
    parts.append(_legend([(c, colours[c]) for c in contrasts], left + plot_w + 10, top + 20))
    parts.append("</svg>")
    return "".join(parts)


def distribution_svg(dist: pd.DataFrame, *, title: str, traits: dict[str, str], width: int = 760) -> str:
    """Box plots of the PGS (per SD) by ancestry group: whiskers p05-p95, box p25-p75, median.

    ``dist``: pgs_id, ancestry, p05, p25, p50, p75, p95 (aggregates only; rows without
    quantiles, i.e. groups too small to show, are left out)."""
    d = dist.dropna(subset=["p50"])
    groups = sorted(d["ancestry"].unique())
    pgs_ids = list(dict.fromkeys(d["pgs_id"]))
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    left, right, top = 190, width - 110, 40
    row_h = max(14, 8 * len(groups) + 6)
    height = top + row_h * len(pgs_ids) + 40
    lo = float(min(d["p05"].min(), -2.0)) if len(d) else -2.0
    hi = float(max(d["p95"].max(), 2.0)) if len(d) else 2.0

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    parts = [_svg_open("distribution", width, height, title)]
    for i, p in enumerate(pgs_ids):
        y0 = top + i * row_h
        if i % 2 == 0:
            parts.append(f'<rect x="{left}" y="{y0}" width="{right - left}" height="{row_h}" fill="#f6f6f6"/>')
        parts.append(f'<text x="{left - 6}" y="{y0 + row_h / 2 + 4:.1f}" font-size="11" text-anchor="end">'
                     f'{_esc(traits.get(p, p))}</text>')
        for j, g in enumerate(groups):
            r = d[(d["pgs_id"] == p) & (d["ancestry"] == g)]
            if r.empty:
                continue
            r = r.iloc[0]
            cy = y0 + 5 + j * 8
            c = colours[g]
            parts.append(
                f'<line x1="{x(r.p05):.1f}" y1="{cy}" x2="{x(r.p95):.1f}" y2="{cy}" stroke="{c}"/>'
                f'<rect x="{x(r.p25):.1f}" y="{cy - 3}" width="{max(x(r.p75) - x(r.p25), 1):.1f}" height="6" '
                f'fill="{c}" fill-opacity="0.35" stroke="{c}"/>'
                f'<line x1="{x(r.p50):.1f}" y1="{cy - 3}" x2="{x(r.p50):.1f}" y2="{cy + 3}" stroke="#000"/>')
    axis_y = top + row_h * len(pgs_ids)
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#333"/>')
    for t in range(math.ceil(lo), math.floor(hi) + 1):
        parts.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{axis_y}" stroke="#ddd"/>'
                     f'<text x="{x(t):.1f}" y="{axis_y + 14}" font-size="10" text-anchor="middle">{t}</text>')
    parts.append(f'<text x="{(left + right) / 2:.0f}" y="{axis_y + 28}" font-size="11" text-anchor="middle">'
                 "PGS per SD (whiskers 5th-95th, box 25th-75th percentile, line median)</text>")
    parts.append(_legend([(g, colours[g]) for g in groups], right + 10, top + 10))
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(xv: np.ndarray, yv: np.ndarray, *, labels: list[str], x_label: str, y_label: str,
                r2: float | None, title: str, size: int = 330) -> str:
    """Scatter of effect sizes (log OR) under two definitions, identity line, R^2 in the title."""
    xv, yv = np.asarray(xv, float), np.asarray(yv, float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    vals = np.concatenate([xv[ok], yv[ok]]) if ok.any() else np.array([-0.1, 0.1])
    m = max(float(np.abs(vals).max()) * 1.15, 0.05)
    pad, top = 45, 30
    w = size - pad - 10

    def sx(v: float) -> float:
        return pad + (v + m) / (2 * m) * w

    def sy(v: float) -> float:
        return top + w - (v + m) / (2 * m) * w

    head = title + (f" (R\u00b2 = {r2:.2f})" if r2 is not None and np.isfinite(r2) else "")
    parts = [_svg_open("scatter", size, top + w + 40, head)]
    parts.append(f'<rect x="{pad}" y="{top}" width="{w}" height="{w}" fill="none" stroke="#333"/>'
                 f'<line x1="{sx(-m):.1f}" y1="{sy(-m):.1f}" x2="{sx(m):.1f}" y2="{sy(m):.1f}" stroke="#bbb" stroke-dasharray="3,3"/>'
                 f'<line x1="{sx(0):.1f}" y1="{top}" x2="{sx(0):.1f}" y2="{top + w}" stroke="#eee"/>'
                 f'<line x1="{pad}" y1="{sy(0):.1f}" x2="{pad + w}" y2="{sy(0):.1f}" stroke="#eee"/>')
    for xi, yi, lab in zip(xv[ok], yv[ok], np.asarray(labels, dtype=object)[ok]):
        parts.append(f'<circle cx="{sx(xi):.1f}" cy="{sy(yi):.1f}" r="3.5" fill="#1f5fa8">'
                     f'<title>{_esc(lab)}</title></circle>')
    parts.append(f'<text x="{pad + w / 2:.0f}" y="{top + w + 16}" font-size="10" text-anchor="middle">'
                 f'{_esc(x_label)}</text><text x="12" y="{top + w / 2:.0f}" font-size="10" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + w / 2:.0f})">{_esc(y_label)}</text>'
                 f'<text x="{pad}" y="{top + w + 30}" font-size="9" fill="#555">axes: log OR per SD, '
                 f'{-m:.2f} to {m:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


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
