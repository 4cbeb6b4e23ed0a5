"""The HTML report: readable headers and number formats, escaped tables, nothing fetched from a network."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trd_spark.report.html import (
    column_label, distribution_svg, format_cell, format_count, format_p, html_table, render_page, scatter_svg,
    significance_svg,
)


def test_table_escapes_suppressed_counts_and_formats_numbers():
    df = pd.DataFrame({"n": ["<20", 35], "p": [1.234e-5, 0.5], "beta": [0.12345, np.nan]})
    out = html_table(df, "caption")
    assert "&lt;20" in out and "<20" not in out.replace("<td", "").replace("</td", "")
    assert "1.2e-05" in out and "0.123" in out
    assert "<th title=\"n\">N</th>" in out and "<th title=\"beta\">log OR</th>" in out


def test_p_values_are_never_shown_as_zero():
    assert format_p(3.2e-5) == "3.2e-05" and format_p(0.042) == "0.042" and format_p(0.5) == "0.5"
    assert format_p(0.00099) == "9.9e-04" and format_p(1.0) == "1" and format_p(0.0) == "0"
    assert format_p(float("nan")) == "" and format_p(None) == ""
    # Every p / q column of the schemas is formatted as a p-value, quantiles are not.
    for col in ("p", "p_bonferroni", "q_fdr", "ph_p", "q_p", "p_adjusted_discovery", "p_trd_vs_trmdd"):
        assert format_cell(col, 1.5e-6) == "1.5e-06", col
    assert format_cell("p05", -1.2345) == "-1.234" and format_cell("beta", 0.00001) == "0.000"


def test_counts_and_headers_are_readable():
    assert format_count(123456) == "123,456" and format_count("<20") == "<20" and format_count(None) == ""
    assert format_count(np.int64(20)) == "20" and format_count(1500.0) == "1,500"
    assert column_label("n_cases") == "Cases" and column_label("p_bonferroni") == "p (Bonferroni)"
    assert column_label("some_new_column") == "some new column"


def test_report_is_self_contained():
    svg = scatter_svg(np.array([.1]), np.array([.2]), labels=["A"], x_label="x", y_label="y", r2=None, title="t")
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
