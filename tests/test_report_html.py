"""The HTML report: an inline SVG forest plot, escaped tables, nothing fetched from a network."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trd_spark.report.html import forest_plot_svg, html_table, render_report


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
    empty = pd.DataFrame({"a": []})
    page = render_report(release="r1", forest_title="t", forest_svg=svg, results=empty, cox=None,
                         cohort_flow=empty, match_summary=empty, threshold=20)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert not re.search(r"<script|<link|<img|src=|@import|url\(", page)
