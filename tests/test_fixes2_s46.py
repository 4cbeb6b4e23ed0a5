"""Session 46's new-user trial, wording of the report and of ``--help`` (findings 1, 5, 6): pure
functions, no Spark."""

from __future__ import annotations

import re


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


def test_cohort_flow_labels_read_as_words_and_say_the_configured_age():
    """The attrition diagram and flow table made labels from the reason ids with underscores as
    spaces: "controls excluded: depression not mdd", "antidepressant no mdd", "no ehr data",
    "bipolar without mdd", and "after excluding under 18 at index" also when the config's
    ``phenotypes.mdd.min_age_at_index`` was another age (the id is named for the default 18).
    The labels are words now; the step ids (cohort_flow.tsv's keys) are unchanged."""
    from trd_spark.config import load_config
    from trd_spark.report.stage import flow_labels
    from trd_spark.vocabulary import ExclusionReason, after_exclusion_step, excluded_step

    cfg = load_config()
    mdd = cfg.phenotypes.mdd.model_copy(update={"min_age_at_index": 21, "exclude_concept_sets": ["bipolar"]})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"mdd": mdd})})
    steps = [after_exclusion_step("bipolar"), after_exclusion_step(ExclusionReason.UNDER_AGE),
             excluded_step(ExclusionReason.DEPRESSION_NOT_MDD), excluded_step("bipolar"),
             excluded_step(ExclusionReason.ANTIDEPRESSANT_NO_MDD), excluded_step(ExclusionReason.NO_EHR_DATA),
             excluded_step("my_set")]
    assert steps[1] == "after_exclusion_under_18_at_index" and steps[3] == "excluded_bipolar_without_mdd"
    chain, labels = flow_labels(cfg, steps)
    assert [labels[s] for s in steps] == [
        "after excluding bipolar", "after excluding age < 21 at the MDD index",
        "controls excluded: depression, not MDD", "controls excluded: bipolar without MDD",
        "controls excluded: antidepressant without MDD", "controls excluded: no EHR data",
        "controls excluded: my set without mdd"]  # a set the config does not list: its id, spaced
    assert chain[-3:] == [*steps[:2], "mdd_included"]


def test_every_exit_code_line_of_help_reads_as_a_sentence():
    """Every ``--help`` ended the StorageError line with "...read-only file system): where is the
    path" (the docstring's "``where`` is the path" with its backticks removed: a question to a
    reader), and two lines kept single backticks (`min_overlap`, `run --release latest`), shown
    as such in a terminal. Each line is the first sentence of its class's docstring."""
    from trd_spark.cli import exit_codes_help

    lines = exit_codes_help().splitlines()
    storage = next(line for line in lines if "StorageError:" in line)
    assert storage.endswith("read-only file system); the error names the path"), storage
    assert not [line for line in lines if "`" in line or "where is" in line], lines
    match = next(line for line in lines if "MatchRateError:" in line)
    assert match.endswith("below pgs.min_overlap in some dataset"), match
    # one line per code, each a statement that ends as one (no dangling clause or colon)
    assert all(re.fullmatch(r"  \S+ +(\w+: )?[A-Za-z(].*[^:;,]", line) for line in lines[1:]), lines
