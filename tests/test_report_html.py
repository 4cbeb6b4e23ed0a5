"""The HTML report: readable headers and number formats, escaped tables, nothing fetched from a network."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from trd_spark.report.figures import scatter_figure
from trd_spark.report.html import column_label, format_cell, format_count, format_p, html_table, render_page
from trd_spark.schemas import COX_RESULTS_COLUMNS, LOGISTIC_RESULTS_COLUMNS


def test_table_escapes_suppressed_counts_and_formats_numbers():
    df = pd.DataFrame({"n": ["<20", 35], "p": [1.234e-5, 0.5], "beta": [0.12345, np.nan]})
    out = html_table(df, "caption")
    assert "&lt;20" in out and "<20" not in out.replace("<td", "").replace("</td", "")
    assert "1.2e-05" in out and "0.123" in out
    assert "<th title=\"n\">N</th>" in out and "<th title=\"beta\">log OR</th>" in out


@pytest.mark.parametrize(("columns", "beta_label"), [
    (LOGISTIC_RESULTS_COLUMNS, "log OR"),
    (COX_RESULTS_COLUMNS, "log HR"),  # the report's Cox tables said "log OR" (new-user trial, session 13)
], ids=["logistic", "cox"])
def test_beta_header_names_the_model_scale(columns, beta_label):
    """``beta`` is a log OR in models/logistic and a log hazard ratio in models/cox (schemas):
    the header of each table, as the report renders it, says which."""
    df = pd.DataFrame([[0.1 if c == "beta" else 1 for c in columns]], columns=columns)
    head = re.search(r"<thead>(.*)</thead>", html_table(df, "caption")).group(1)
    assert f'<th title="beta">{beta_label}</th>' in head
    assert head.count(" OR<") + head.count(" HR<") == 1  # no other column is called a log ratio


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
    svg = scatter_figure(np.array([.1]), np.array([.2]), labels=["A"], x_label="x", y_label="y", r2=None,
                         title="t").svg
    page = render_page(release="r1", sections=[("forest", "Forest", svg), ("t", "Table", html_table(
        pd.DataFrame({"a": []}), "empty"))], meta={"config hash": "abc"}, threshold=20)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert '<a href="#forest">Forest</a>' in page and '<section id="forest">' in page
    # Only in-document references (matplotlib clip paths: url(#id)); nothing fetched.
    assert not re.search(r"<script|<link|<img|src=|@import|url\((?!#)|href=\"(?!#)", page)
