"""The report's figures, drawn with matplotlib and inlined as SVG (text kept as ``<text>``).

Every figure function takes tidy, already suppressed pandas frames and returns a ``Figure``:
the SVG markup plus the rows it drew (``data``), so tests check what is plotted rather than
markup. Only ``matplotlib.figure.Figure`` and the SVG canvas are used: no pyplot, no display
backend, no global state, nothing fetched (the page stays self-contained).

- ``forest_figure``: OR with 95% CI per PGS across the discovery dataset, each replication
  dataset and the fixed-effect meta-analysis, with N and cases per row, grouped by domain.
- ``km_figure``: Kaplan-Meier curves by PGS third with 95% CI bands, the numbers at risk and
  the Cox hazard ratio, from the coarsened curves (``trd_spark.models.km.coarsen_km``).
- ``attrition_figure``: a CONSORT-style diagram of the cohort-flow table.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FixedLocator, NullLocator

from trd_spark.report.html import PALETTE, format_count, format_p
from trd_spark.vocabulary import ALL_DEFINITIONS

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

META_COLOUR = "#000000"
META_SOURCE = "meta-analysis (fixed)"
TERTILE_NAMES = {1: "lowest third", 2: "middle third", 3: "highest third"}
DAYS_PER_YEAR = 365.25
# SVG ids and text are deterministic: one report, one byte sequence for the same inputs.
_RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "trd-spark", "font.size": 8,
       "font.family": ["DejaVu Sans", "Helvetica", "Arial", "sans-serif"]}
FIGURE_WIDTH_INCHES = 10.0  # wide figures fill the page's 1200 px column
FOREST_ROW_INCHES = 0.19  # one text line at 8 pt
FOREST_MARGIN_INCHES = 1.1  # title, column headers and the x axis
FOREST_COLUMNS = ["domain", "trait", "pgs_id", "source", "kind", "odds_ratio", "ci_low", "ci_high", "p", "n",
                  "n_cases"]


@dataclass(frozen=True)
class Figure:
    """One drawn figure: inline ``<svg>`` markup, the rows drawn (per layer), a caption."""

    svg: str
    data: dict[str, pd.DataFrame] = field(default_factory=dict)
    caption: str = ""


def _text(value: object) -> str:
    """Label text with matplotlib's mathtext switched off ("$" is literal)."""
    return str(value).replace("$", r"\$")


def _svg(fig: MplFigure, cls: str, title: str) -> str:
    """The figure as one inline ``<svg class=cls role=img aria-label=title>`` element."""
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):].strip()
    return text.replace("<svg ", f'<svg class="{cls}" role="img" aria-label="{html.escape(title, quote=True)}" ', 1)


def _new_figure(width: float, height: float) -> MplFigure:
    with matplotlib.rc_context(_RC):
        return MplFigure(figsize=(width, height))


def _log_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Round odds-ratio ticks inside [lo, hi], always 1, at least 1/``max_ticks`` of the log
    range apart (so labels do not collide)."""
    candidates = [0.1, 0.2, 0.25, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0]
    gap = (math.log(hi) - math.log(lo)) / max_ticks
    ticks = [1.0] if lo <= 1.0 <= hi else []
    for t in sorted((t for t in candidates if lo <= t <= hi), key=lambda t: abs(math.log(t))):
        if all(abs(math.log(t) - math.log(u)) >= gap for u in ticks):
            ticks.append(t)
    return sorted(ticks) if len(ticks) >= 2 else [lo, 1.0, hi]


# ------------------------------------------------------------------------------------ forest
def forest_data(
    logistic: pd.DataFrame, meta: pd.DataFrame | None, *, contrast: str, definition: str,
    datasets: list[str], domains: list[str],
) -> pd.DataFrame:
    """The rows of one contrast's forest plot, in drawing order.

    ``logistic``: the (suppressed) LOGISTIC_RESULTS rows (n / n_cases may be "<20" or
    "suppressed"); ``meta``: META rows or None (the fixed-effect estimate is drawn).
    ``datasets``: dataset names in display order (discovery first). Order: domains as given
    (unknown domains last), trait, then each dataset and the meta-analysis. Columns:
    FOREST_COLUMNS; ``kind`` is "dataset" or "meta"; a failed fit has NaN estimates; meta rows
    have no N or cases (pooled counts could undo the suppression of one dataset's counts).
    """
    rows = logistic[(logistic["contrast"] == contrast) & (logistic["definition"] == definition)
                    & logistic["dataset"].isin(datasets)]
    ok = rows["converged"].astype(bool)
    parts = [pd.DataFrame({
        "domain": rows["domain"], "trait": rows["trait"], "pgs_id": rows["pgs_id"], "source": rows["dataset"],
        "kind": "dataset", "odds_ratio": rows["odds_ratio"].where(ok), "ci_low": rows["ci_low"].where(ok),
        "ci_high": rows["ci_high"].where(ok), "p": rows["p"].where(ok), "n": rows["n"], "n_cases": rows["n_cases"],
    })]
    if meta is not None and len(meta):
        m = meta[(meta["method"] == "fixed") & (meta["contrast"] == contrast) & (meta["definition"] == definition)]
        parts.append(pd.DataFrame({
            "domain": m["domain"], "trait": m["trait"], "pgs_id": m["pgs_id"], "source": META_SOURCE, "kind": "meta",
            "odds_ratio": m["odds_ratio"], "ci_low": m["ci_low"], "ci_high": m["ci_high"], "p": m["p"],
            "n": None, "n_cases": None,
        }))
    out = pd.concat(parts, ignore_index=True)
    order = {d: i for i, d in enumerate(domains)}
    source_order = {s: i for i, s in enumerate([*datasets, META_SOURCE])}
    out = out.assign(_d=out["domain"].map(lambda d: order.get(d, len(order))),
                     _s=out["source"].map(lambda s: source_order.get(s, len(source_order))))
    out = out.sort_values(["_d", "domain", "trait", "pgs_id", "_s"], kind="mergesort")
    return out.drop(columns=["_d", "_s"]).reset_index(drop=True)[FOREST_COLUMNS]


def forest_figure(rows: pd.DataFrame, *, title: str) -> Figure:
    """A forest plot of ``forest_data`` rows: a bold domain header, a header per PGS, then one
    row per dataset / meta-analysis with N, cases, OR (95% CI) and p as text, the point (square;
    diamond for the meta-analysis) and CI on a log axis, a dashed line at OR 1. Rows without an
    estimate say "not estimated". ``data["rows"]`` holds the rows with their y position."""
    lines: list[tuple[str, Any]] = []  # ("domain", name) | ("pgs", row) | ("est", row)
    for domain, by_domain in rows.groupby("domain", sort=False):
        lines.append(("domain", domain))
        for _, by_pgs in by_domain.groupby(["trait", "pgs_id"], sort=False):
            lines.append(("pgs", by_pgs.iloc[0]))
            lines += [("est", r) for _, r in by_pgs.iterrows()]
    n_lines = max(len(lines), 1)
    height = FOREST_ROW_INCHES * n_lines + FOREST_MARGIN_INCHES
    fig = _new_figure(FIGURE_WIDTH_INCHES, height)
    # Text columns left (labels, N, cases) and right (OR, p) of the plot, in axes fractions.
    ax = fig.add_axes((0.40, FOREST_MARGIN_INCHES / 2 / height, 0.33, FOREST_ROW_INCHES * n_lines / height))
    est = rows[rows["odds_ratio"].notna()]
    lo = float(min(est["ci_low"].min(), 0.9)) / 1.05 if len(est) else 0.85
    hi = float(max(est["ci_high"].max(), 1.1)) * 1.05 if len(est) else 1.15
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(n_lines - 0.5, -0.5)
    ax.xaxis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.axvline(1.0, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xlabel("odds ratio per SD of PGS (95% CI, log scale)")
    label_t = ax.get_yaxis_transform()  # x in axes fraction, y in rows
    head_y = -0.9
    for x, text, ha in ((-1.20, "PGS / dataset", "left"), (-0.40, "N", "right"), (-0.05, "cases", "right"),
                        (1.04, "OR (95% CI)", "left"), (1.50, "p", "left")):
        ax.text(x, head_y, text, transform=label_t, ha=ha, va="center", fontweight="bold", clip_on=False)
    fig.suptitle(_text(title), x=0.02, ha="left", fontweight="bold", fontsize=10)
    drawn: list[dict] = []
    for y, (kind, item) in enumerate(lines):
        if kind == "domain":
            ax.text(-1.20, y, _text(item), transform=label_t, ha="left", va="center", fontweight="bold",
                    fontsize=9, clip_on=False)
            continue
        if kind == "pgs":
            ax.text(-1.17, y, _text(f"{item['trait']} ({item['pgs_id']})"), transform=label_t, ha="left",
                    va="center", clip_on=False)
            continue
        r = item
        is_meta = r["kind"] == "meta"
        ax.text(-1.12, y, _text(r["source"]), transform=label_t, ha="left", va="center", clip_on=False,
                fontstyle="italic" if is_meta else "normal")
        ax.text(-0.40, y, format_count(r["n"]), transform=label_t, ha="right", va="center", clip_on=False)
        ax.text(-0.05, y, format_count(r["n_cases"]), transform=label_t, ha="right", va="center", clip_on=False)
        if pd.notna(r["odds_ratio"]):
            colour = META_COLOUR if is_meta else PALETTE[0]
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, linewidth=1.0)
            ax.plot([r["odds_ratio"]], [y], marker="D" if is_meta else "s", markersize=5 if is_meta else 4,
                    color=colour, linestyle="none", gid=f"estimate-{y}")
            or_text = f"{r['odds_ratio']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})"
            ax.text(1.04, y, or_text, transform=label_t, ha="left", va="center", clip_on=False)
            ax.text(1.50, y, format_p(r["p"]), transform=label_t, ha="left", va="center", clip_on=False)
        else:
            ax.text(1.04, y, "not estimated", transform=label_t, ha="left", va="center", color="#aa0000",
                    clip_on=False)
        drawn.append({**r.to_dict(), "y": y})
    data = pd.DataFrame(drawn, columns=[*FOREST_COLUMNS, "y"])
    return Figure(_svg(fig, "forest", title), {"rows": data})


# ------------------------------------------------------------------------------- Kaplan-Meier
def at_risk_rows(curves: pd.DataFrame, ticks_days: list[float]) -> pd.DataFrame:
    """The numbers at risk printed under a KM plot: per tertile, the first published point in
    each interval [tick, next tick) (so labels do not overlap), at its own day. Only published
    points are used: between them the counts are not released. Columns: tertile, time_days,
    n_at_risk."""
    out = []
    bounds = [*ticks_days, math.inf]
    k: Any  # the tertile (pandas-stubs type groupby keys as any scalar)
    for k, g in curves.sort_values("time_days").groupby("tertile", sort=True):
        for a, b in zip(bounds[:-1], bounds[1:]):
            hit = g[(g["time_days"] >= a) & (g["time_days"] < b)]
            if len(hit):
                out.append({"tertile": int(k), "time_days": int(hit["time_days"].iloc[0]),
                            "n_at_risk": hit["n_at_risk"].iloc[0]})
    return pd.DataFrame(out, columns=["tertile", "time_days", "n_at_risk"])


def km_figure(curves: pd.DataFrame, *, title: str, cox: pd.Series | None = None) -> Figure:
    """Kaplan-Meier curves of staying TRD-free by PGS third for one PGS, with 95% CI bands,
    a number-at-risk table and the Cox hazard ratio per SD.

    ``curves``: the published (coarsened, audited) KM_CURVES points of one (dataset,
    definition, pgs_id): tertile, time_days, n_at_risk, survival, ci_low, ci_high; drawn as
    steps between published points, nothing interpolated. ``cox``: the COX_RESULTS row
    (hazard_ratio, ci_low, ci_high, p) or None. ``data``: "curves" (points drawn) and
    "at_risk" (numbers printed, see ``at_risk_rows``)."""
    fig = _new_figure(4.4, 3.7)
    ax = fig.add_axes((0.20, 0.42, 0.74, 0.46))
    table = fig.add_axes((0.20, 0.04, 0.74, 0.20), sharex=ax)
    tmax = float(curves["time_days"].max()) if len(curves) else DAYS_PER_YEAR
    years = max(int(math.ceil(tmax / DAYS_PER_YEAR)), 1)
    ticks = [y * DAYS_PER_YEAR for y in range(years + 1)]
    k: Any  # the tertile (pandas-stubs type groupby keys as any scalar)
    for k, g in curves.sort_values("time_days").groupby("tertile", sort=True):
        colour = PALETTE[(int(k) - 1) % len(PALETTE)]
        t = g["time_days"].to_numpy(float)
        ax.step(t, g["survival"], where="post", color=colour, linewidth=1.3,
                label=TERTILE_NAMES.get(int(k), f"group {k}"))
        ax.fill_between(t, g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float), step="post", color=colour,
                        alpha=0.18, linewidth=0)
    smin = float(curves["ci_low"].min()) if len(curves) else 0.9
    ax.set_ylim(max(math.floor(min(smin, 0.9) * 10) / 10, 0.0), 1.01)
    ax.set_xlim(0, ticks[-1])
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(y) for y in range(years + 1)])
    ax.set_xlabel("years since MDD index")
    ax.set_ylabel("TRD-free")
    ax.legend(loc="lower left", fontsize=7, frameon=False, title="PGS", title_fontsize=7)
    ax.set_title(_text(title), loc="left", fontweight="bold", fontsize=9, pad=14)
    if cox is not None and pd.notna(cox.get("hazard_ratio")):
        ax.text(0.0, 1.02, f"Cox HR per SD {cox['hazard_ratio']:.2f} ({cox['ci_low']:.2f}-{cox['ci_high']:.2f}), "
                f"p = {format_p(cox['p'])}", transform=ax.transAxes, ha="left", va="bottom", fontsize=7)
    risk = at_risk_rows(curves, ticks)
    groups = sorted(curves["tertile"].unique()) if len(curves) else []
    table.set_ylim(len(groups) - 0.5, -0.5)
    table.set_yticks(range(len(groups)))
    table.set_yticklabels([TERTILE_NAMES.get(int(k), str(k)).split()[0] for k in groups])
    table.tick_params(axis="both", length=0, labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        table.spines[side].set_visible(False)
    table.set_title("number at risk (at published points)", loc="left", fontsize=7)
    row_of = {k: i for i, k in enumerate(groups)}
    r: Any  # a row of risk (pandas-stubs type itertuples' fields as any scalar)
    for r in risk.itertuples(index=False):
        table.text(r.time_days, row_of[r.tertile], format_count(r.n_at_risk), ha="left", va="center", fontsize=7,
                   color=PALETTE[(r.tertile - 1) % len(PALETTE)], clip_on=False)
    return Figure(_svg(fig, "km", title), {"curves": curves.copy(), "at_risk": risk})


# ---------------------------------------------------------------------------------- attrition
def _box(ax, x: float, y: float, text: str, *, width: float = 3.4, colour: str = "#f3f6fb") -> None:
    ax.text(x, y, _text(text), ha="center", va="center", fontsize=8, wrap=True,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#555555", "linewidth": 0.8})


def _arrow(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops={"arrowstyle": "->", "color": "#555555", "linewidth": 0.8})


# The excluded box between two chain steps when one is hidden: no count, no bound.
NOT_SHOWN = "not shown"


def attrition_figure(flow: pd.DataFrame, *, main_steps: list[str], labels: dict[str, str],
                     definition_order: list[str]) -> Figure:
    """A CONSORT-style attrition diagram of the (suppressed) cohort-flow table.

    ``flow``: COHORT_FLOW rows (definition, step_order, step, n; n may be "<20" or
    "suppressed"). ``main_steps``: the ``all`` steps that form the inclusion chain, top to
    bottom; between two of them a side box gives the persons excluded (the difference, shown
    only when both counts are shown, else ``NOT_SHOWN``). The other ``all`` steps are listed in
    one box beside the chain; each TRD definition (``definition_order``) gets a box of its
    groups under the chain. ``labels``: step id -> readable text (the id with spaces
    otherwise). ``data``: "boxes" (kind, definition, step, label, n shown) and "excluded"
    (between, n_excluded)."""
    def label(step: str) -> str:
        return labels.get(step, step.replace("_", " "))

    shared = flow[flow["definition"] == ALL_DEFINITIONS].sort_values("step_order")
    n_of = dict(zip(shared["step"], shared["n"]))
    chain = [s for s in main_steps if s in n_of]
    others = [s for s in shared["step"] if s not in chain]
    defs = [d for d in definition_order if d in set(flow["definition"])]
    boxes, excluded = [], []
    height = 1.2 * len(chain) + 3.2
    fig = _new_figure(FIGURE_WIDTH_INCHES, 0.45 * height + 0.4)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(height, 0)
    ax.axis("off")
    y = 0.6
    for i, step in enumerate(chain):
        _box(ax, 3.0, y, f"{label(step)}\nn = {format_count(n_of[step])}")
        boxes.append({"kind": "chain", "definition": ALL_DEFINITIONS, "step": step, "label": label(step),
                      "n": format_count(n_of[step])})
        if i + 1 < len(chain):
            prev, cur = n_of[step], n_of[chain[i + 1]]
            # Not "suppressed": that label means >= T (report.suppression), which the audit never
            # checked here (1000, hidden 980, then 975: excluded >= 20 put the 5 persons between
            # the last two steps in 0..5, the audit left 0..25); the count is simply not shown.
            gone = (f"{int(prev) - int(cur):,}" if isinstance(prev, (int, np.integer))
                    and isinstance(cur, (int, np.integer)) else NOT_SHOWN)
            _arrow(ax, 3.0, y + 0.3, 3.0, y + 0.9)
            ax.annotate("", xy=(4.9, y + 0.6), xytext=(3.0, y + 0.6),
                        arrowprops={"arrowstyle": "->", "color": "#999999", "linewidth": 0.6})
            _box(ax, 5.6, y + 0.6, f"excluded: {gone}", colour="#fbf3f3")
            excluded.append({"between": f"{step} -> {chain[i + 1]}", "n_excluded": gone})
        y += 1.2
    if others:
        text = "\n".join(f"{label(s)}: {format_count(n_of[s])}" for s in others)
        ax.text(6.9, 0.3, _text(text), ha="left", va="top", fontsize=7,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f7f7f7", "edgecolor": "#999999", "linewidth": 0.6})
        boxes += [{"kind": "other", "definition": ALL_DEFINITIONS, "step": s, "label": label(s), "n": format_count(n_of[s])}
                  for s in others]
    width = 10.0 / max(len(defs), 1)
    for j, d in enumerate(defs):
        g = flow[flow["definition"] == d].sort_values("step_order")
        x = width * (j + 0.5)
        _arrow(ax, 3.0, y - 0.7, x, y + 0.1)
        text = f"TRD definition {d}\n" + "\n".join(f"{label(s)}: {format_count(n)}" for s, n in zip(g["step"], g["n"]))
        ax.text(x, y + 0.2, _text(text), ha="center", va="top", fontsize=7,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f3fbf5", "edgecolor": "#555555", "linewidth": 0.8})
        boxes += [{"kind": "definition", "definition": d, "step": s, "label": label(s), "n": format_count(n)}
                  for s, n in zip(g["step"], g["n"])]
    return Figure(_svg(fig, "attrition", "cohort attrition"), {"boxes": pd.DataFrame(boxes), "excluded": pd.DataFrame(excluded,
                                                                                      columns=["between", "n_excluded"])})


# ------------------------------------------------------------------------ overview figures
def significance_figure(results: pd.DataFrame, *, domains: list[str], contrasts: list[str], bonferroni_p: float,
                        title: str) -> Figure:
    """-log10(p) of every PGS (x, grouped by domain, shaded bands) for each contrast (colour),
    with a dashed Bonferroni line at -log10(``bonferroni_p``). ``results``: pgs_id, trait,
    domain, contrast, p (rows without p are not drawn). ``data["points"]``: pgs_id, trait,
    contrast, p, x, y (= -log10 p)."""
    res = results[results["p"].notna()].copy()
    order = {d: i for i, d in enumerate(domains)}
    res["_d"] = res["domain"].map(lambda d: order.get(d, len(order)))
    pgs = res.drop_duplicates("pgs_id").sort_values(["_d", "domain", "trait", "pgs_id"])[["pgs_id", "trait", "domain"]]
    xs = {p: i for i, p in enumerate(pgs["pgs_id"])}
    fig = _new_figure(FIGURE_WIDTH_INCHES, 4.2)
    ax = fig.add_axes((0.07, 0.38, 0.76, 0.52))
    for i, (domain, grp) in enumerate(pgs.groupby("domain", sort=False)):
        x0, x1 = min(xs[p] for p in grp["pgs_id"]) - 0.5, max(xs[p] for p in grp["pgs_id"]) + 0.5
        if i % 2 == 0:
            ax.axvspan(x0, x1, color="#f2f2f2", linewidth=0)
        ax.text((x0 + x1) / 2, 1.01, _text(domain), transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=7, color="#555555")
    width = min(0.6, 0.8 / max(len(contrasts), 1))
    points = []
    for j, c in enumerate(contrasts):
        sub = res[res["contrast"] == c]
        offset = (j - (len(contrasts) - 1) / 2) * width / max(len(contrasts), 1)
        x = sub["pgs_id"].map(xs).to_numpy(float) + offset
        y = -np.log10(sub["p"].clip(lower=1e-300).to_numpy(float))
        ax.plot(x, y, marker="o", linestyle="none", markersize=4, color=PALETTE[j % len(PALETTE)], label=_text(c))
        points += [{"pgs_id": p, "trait": t, "contrast": c, "p": pv, "x": xi, "y": yi}
                   for p, t, pv, xi, yi in zip(sub["pgs_id"], sub["trait"], sub["p"], x, y)]
    line = -math.log10(bonferroni_p)
    ax.axhline(line, color="#aa0000", linestyle="--", linewidth=0.8)
    ax.text(0.99, line, f"Bonferroni p = {bonferroni_p:.2g}", transform=ax.get_yaxis_transform(), ha="right",
            va="bottom", fontsize=7, color="#aa0000")
    top = max([line, *(pt["y"] for pt in points)]) * 1.1 if points else line * 1.1
    ax.set_ylim(0, top)
    # No score with a p-value: one empty column with a note (limits of (-0.5, -0.5) are singular,
    # a matplotlib warning and an axis of its own choosing).
    ax.set_xlim(-0.5, max(len(xs), 1) - 0.5)
    if not xs:
        ax.text(0.5, 0.5, "no score has a p-value to show", transform=ax.transAxes, ha="center", va="center",
                fontsize=8, color="#555555")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([_text(t) for t in pgs["trait"]], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("-log10(p)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    fig.suptitle(_text(title), x=0.02, ha="left", fontweight="bold", fontsize=10)
    return Figure(_svg(fig, "significance", title), {"points": pd.DataFrame(
        points, columns=["pgs_id", "trait", "contrast", "p", "x", "y"])})


NO_QUANTILES = "no ancestry group has enough persons for a quantile (disclosure control)"


def distribution_figure(dist: pd.DataFrame, *, title: str, traits: dict[str, str]) -> Figure:
    """Box plots of the PGS (per SD) by genetic ancestry group, from aggregates only: whiskers
    5th-95th, box 25th-75th percentile, line at the median. ``dist``: pgs_id, ancestry, p05,
    p25, p50, p75, p95 (rows without a median are left out, and a whisker or box whose
    quantiles are missing is not drawn: disclosure control, ``tables.quantile_shown``).
    ``data["boxes"]``: the rows drawn with their y position."""
    d = dist.dropna(subset=["p50"])
    groups = sorted(d["ancestry"].unique())
    pgs_ids = list(dict.fromkeys(d["pgs_id"]))
    step = 1.0 / (len(groups) + 1)
    fig = _new_figure(8.0, 0.28 * max(len(pgs_ids), 1) * max(len(groups), 1) * 0.5 + 1.2)
    ax = fig.add_axes((0.25, 0.12, 0.58, 0.78))
    drawn = []
    for i, p in enumerate(pgs_ids):
        if i % 2 == 0:
            ax.axhspan(i - 0.5, i + 0.5, color="#f6f6f6", linewidth=0)
        for j, g in enumerate(groups):
            r = d[(d["pgs_id"] == p) & (d["ancestry"] == g)]
            if r.empty:
                continue
            r = r.iloc[0]
            y = i - 0.5 + step * (j + 1)
            colour = PALETTE[j % len(PALETTE)]
            # A quantile the export leaves out (too few persons beyond it) is not drawn either.
            if np.isfinite([r.p05, r.p95]).all():
                ax.plot([r.p05, r.p95], [y, y], color=colour, linewidth=0.8)
            if np.isfinite([r.p25, r.p75]).all():
                ax.add_patch(matplotlib.patches.Rectangle((r.p25, y - step * 0.35), r.p75 - r.p25, step * 0.7,
                                                          facecolor=colour, alpha=0.35, edgecolor=colour))
            ax.plot([r.p50, r.p50], [y - step * 0.35, y + step * 0.35], color="#000000", linewidth=1.0)
            drawn.append({"pgs_id": p, "ancestry": g, "p05": r.p05, "p25": r.p25, "p50": r.p50, "p75": r.p75,
                          "p95": r.p95, "y": y})
    lo = float(np.nanmin([*d["p05"], *d["p25"], *d["p50"], -2.0]))
    hi = float(np.nanmax([*d["p95"], *d["p75"], *d["p50"], 2.0]))
    ax.set_xlim(lo - 0.2, hi + 0.2)
    ax.set_ylim(max(len(pgs_ids), 1) - 0.5, -0.5)
    if not drawn:  # every group too small for a median (``tables.quantile_shown``)
        ax.text(0.5, 0.5, NO_QUANTILES, transform=ax.transAxes, ha="center", va="center", fontsize=8)
    ax.set_yticks(range(len(pgs_ids)))
    ax.set_yticklabels([_text(traits.get(p, p)) for p in pgs_ids])
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_xlabel("PGS per SD (whiskers 5th-95th, box 25th-75th percentile, line median)")
    ax.legend(handles=[matplotlib.patches.Patch(facecolor=PALETTE[j % len(PALETTE)], alpha=0.6, label=_text(g))
                       for j, g in enumerate(groups)], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="ancestry group", fontsize=7, title_fontsize=7)
    fig.suptitle(_text(title), x=0.02, ha="left", fontweight="bold", fontsize=10)
    return Figure(_svg(fig, "distribution", title), {"boxes": pd.DataFrame(
        drawn, columns=["pgs_id", "ancestry", "p05", "p25", "p50", "p75", "p95", "y"])})


def scatter_figure(xv: npt.ArrayLike, yv: npt.ArrayLike, *, labels: list[str], x_label: str, y_label: str,
                   r2: float | None, title: str) -> Figure:
    """Effect sizes (log OR) under two definitions, one point per PGS with both estimates, the
    identity line, R² in the title. ``data["points"]``: label, x, y."""
    xv, yv = np.asarray(xv, float), np.asarray(yv, float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    vals = np.concatenate([xv[ok], yv[ok]]) if ok.any() else np.array([-0.1, 0.1])
    m = max(float(np.abs(vals).max()) * 1.15, 0.05)
    fig = _new_figure(3.4, 3.4)
    ax = fig.add_axes((0.2, 0.16, 0.74, 0.7))
    ax.plot([-m, m], [-m, m], color="#bbbbbb", linestyle="--", linewidth=0.8)
    ax.axhline(0, color="#eeeeee", linewidth=0.6)
    ax.axvline(0, color="#eeeeee", linewidth=0.6)
    ax.plot(xv[ok], yv[ok], marker="o", linestyle="none", markersize=4, color=PALETTE[0])
    ax.set_xlim(-m, m)
    ax.set_ylim(-m, m)
    ax.set_xlabel(_text(x_label))
    ax.set_ylabel(_text(y_label))
    head = title + (f" (R\u00b2 = {r2:.2f})" if r2 is not None and np.isfinite(r2) else "")
    ax.set_title(_text(head), loc="left", fontweight="bold", fontsize=9)
    points = pd.DataFrame({"label": np.asarray(labels, dtype=object)[ok], "x": xv[ok], "y": yv[ok]})
    return Figure(_svg(fig, "scatter", head), {"points": points})
