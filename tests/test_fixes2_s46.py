"""Session 46's new-user trial, wording of the report and of ``--help`` (findings 1, 5, 6): pure
functions, no Spark."""

from __future__ import annotations


def test_the_report_shows_i2_in_percent_and_the_tables_keep_the_fraction():
    """The meta-analysis table printed I² as a fraction (0.705) under the header "I²", which an
    epidemiologist reads in percent (Higgins & Thompson 2002): 0.705 read as 0.7%. The report
    shows 70.5%; meta.tsv and models/meta.parquet keep the fraction, and their column
    description (schemas, README) says so."""
    import pandas as pd

    from trd_spark.report.html import format_cell, html_table
    from trd_spark.schemas import META

    assert [format_cell("i2", v) for v in (0.705, 0.0, 1.0, 0.0004, float("nan"))] == \
        ["70.5%", "0.0%", "100.0%", "0.0%", ""]
    assert format_cell("tau2", 0.705) == "0.705" and format_cell("q_p", 0.705) == "0.7"
    page = html_table(pd.DataFrame({"k": [3], "cochran_q": [6.78], "i2": [0.705], "tau2": [0.012]}), "meta")
    assert '<th title="i2">I\u00b2</th>' in page and "<td>70.5%</td>" in page and "<td>0.012</td>" in page, page
    text = next(doc for name, _, doc in META.columns if name == "i2")
    assert "fraction 0..1" in text and "percent" in text, text
