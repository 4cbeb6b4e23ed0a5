"""The HTML report: an inline SVG forest plot, escaped tables, nothing fetched from a network."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trd_spark.report.html import (
    distribution_svg, forest_plot_svg, html_table, km_svg, render_page, scatter_svg, significance_svg,
)


def forest_input() -> pd.DataFrame:
    return pd.DataFrame({
        "pgs_id": ["PGS1", "PGS2", "PGS3", "PGS4"],
        "trait": ["Insomnia", "Educational attainment", "Neuroticism", "Height & <weight>"],
        "domain": ["sleep", "education", "personality", "physical"],
        "odds_ratio": [1.11, 0.88, 1.11, np.nan],
        "ci_low": [1.07, 0.85, 1.07, np.nan],
        "ci_high": [1.15, 0.91, 1.16, np.nan],
        "converged": [True, True, True, False],
    })


def test_forest_plot_marks_converged_fits_and_lists_failures():
    svg = forest_plot_svg(forest_input(), domains=["education", "personality", "sleep", "physical"], title="TRD")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 3  # one point per converged PGS
    assert svg.count("not estimated") == 1
    assert "1.11 (1.07-1.15)" in svg and "0.88 (0.85-0.91)" in svg
    assert "Height &amp; &lt;weight&gt;" in svg  # labels are escaped
    # domains drawn in the configured order
    pos = [svg.index(f">{d}<") for d in ("education", "personality", "sleep", "physical")]
    assert pos == sorted(pos)


def test_forest_plot_points_are_on_a_log_scale():
    """OR 1 is the midpoint between OR 0.5 and OR 2 (log scale)."""
    df = pd.DataFrame({
        "pgs_id": ["a", "b", "c"], "trait": ["A", "B", "C"], "domain": ["d", "d", "d"],
        "odds_ratio": [0.5, 1.0, 2.0], "ci_low": [0.5, 1.0, 2.0], "ci_high": [0.5, 1.0, 2.0],
        "converged": [True, True, True],
    })
    xs = [float(v) + 3 for v in re.findall(r'<rect x="([-0-9.]+)"', forest_plot_svg(df, domains=["d"], title="t"))]
    assert abs((xs[0] + xs[2]) / 2 - xs[1]) < 0.2


def test_table_escapes_suppressed_counts_and_formats_numbers():
    df = pd.DataFrame({"n": ["<20", 35], "p": [1.234e-5, 0.5], "beta": [0.12345, np.nan]})
    out = html_table(df, "caption")
    assert "&lt;20" in out and "<20" not in out.replace("<td", "").replace("</td", "")
    assert "1.23e-05" in out and "0.123" in out


def test_report_is_self_contained():
    svg = forest_plot_svg(forest_input(), domains=["sleep"], title="t")
    page = render_page(release="r1", sections=[("forest", "Forest", svg), ("t", "Table", html_table(
        pd.DataFrame({"a": []}), "empty"))], meta={"config hash": "abc"}, threshold=20)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert '<a href="#forest">Forest</a>' in page and '<section id="forest">' in page
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page)


def test_significance_overview_draws_every_estimate_and_the_bonferroni_line():
    res = pd.DataFrame({"pgs_id": ["a", "b", "a", "b"], "trait": ["A", "B", "A", "B"], "domain": ["x", "y", "x", "y"],
                        "contrast": ["c1", "c1", "c2", "c2"], "p": [1e-6, 0.5, 0.01, np.nan]})
    svg = significance_svg(res, domains=["x", "y"], contrasts=["c1", "c2"], bonferroni_p=0.025, title="t")
    assert svg.count("<circle") == 3  # the missing p is not drawn
    y_line = float(re.search(r'class="bonferroni" x1="[-0-9.]+" y1="([-0-9.]+)"', svg).group(1))
    ys = {float(v) for v in re.findall(r'<circle cx="[-0-9.]+" cy="([-0-9.]+)"', svg)}
    assert min(ys) < y_line < max(ys)  # p=1e-6 above the line (smaller y), p=0.5 below


def test_other_figures_render_aggregates():
    dist = pd.DataFrame({"pgs_id": ["a", "a"], "ancestry": ["eur", "afr"], "p05": [-1.6, -1.7], "p25": [-.7, -.6],
                         "p50": [0., .1], "p75": [.7, .8], "p95": [1.6, 1.7]})
    svg = distribution_svg(dist, title="d", traits={"a": "A"})
    assert svg.count('fill-opacity="0.35"') == 2 and ">eur<" in svg and ">afr<" in svg
    sc = scatter_svg(np.array([.1, -.1, np.nan]), np.array([.12, -.08, .3]), labels=["A", "B", "C"],
                     x_label="x", y_label="y", r2=0.81, title="a vs b")
    assert sc.count("<circle") == 2 and "R\u00b2 = 0.81" in sc
    km = pd.DataFrame({"tertile": [1, 1, 2, 2], "time_days": [0, 30, 0, 30], "survival": [1, .9, 1, .8]})
    assert km_svg(km, title="k").count("<polyline") == 2
