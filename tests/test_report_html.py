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
    assert format_p(0.00099) == "9.9e-04" and format_p(1.0) == "1" and format_p(0.0) == "<1e-300"
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


def _dataset_flow_release(statuses: dict[str, int]):
    from trd_spark.cohort.flow import dataset_flow_rows
    from trd_spark.report.tables import ReleaseCounts
    from trd_spark.schemas import DATASET_FLOW
    from trd_spark.vocabulary import ALL_DEFINITIONS, FlowStep

    rows = dataset_flow_rows({"disc": [3000, 2995, 2900]}, [("disc", "def1", s, n) for s, n in statuses.items()])
    return ReleaseCounts(
        cohort_flow=pd.DataFrame([(ALL_DEFINITIONS, 1, str(FlowStep.ALL_PERSONS), 5000)],
                                 columns=["definition", "step_order", "step", "n"]),
        cohort_counts=pd.DataFrame([("disc", "def1", s, n) for s, n in statuses.items()],
                                   columns=["dataset", "definition", "status", "n"]),
        logistic=pd.DataFrame(columns=LOGISTIC_RESULTS_COLUMNS), cox=None, pgs_distribution=None,
        primary_definition="def1", dataset_flow=pd.DataFrame(rows, columns=DATASET_FLOW.names))


def test_dataset_flow_table_shows_genotyped_to_analysed_with_the_audited_suppression():
    """The per-dataset genotyped -> analysed step (cohort.flow rows) in the report, through the
    release's one audit (tables.suppress_release): a removed count of 5 (3,000 with PGS, 2,995
    unrelated) is "<20" and not recoverable from the two counts beside it; a status row is the
    cohort_counts cell itself (the same text in both tables); the analysis frame (the sum of
    its statuses) is shown only when they all are, so an 18-person status hides the frame and
    the count removed into it, not another status (before: non_MDD 70 of the toy's
    replication_array was suppressed, and 30 result rows' estimates with it)."""
    from trd_spark.report.stage import dataset_flow_html
    from trd_spark.report.tables import suppress_release
    from trd_spark.vocabulary import status_step

    frame = "in the analysis frame (sex male/female, analysed status)"
    statuses = {"TRD": 300, "trMDD": 500, "MDD_other": 18, "non_MDD": 2062}
    safe = suppress_release(_dataset_flow_release(statuses), 20)
    shown = safe["dataset_flow"].set_index("step")
    assert shown.loc["after removing related persons", "removed"] == "<20"
    with_pgs, unrelated = shown.loc["genotyped persons with PGS", "n"], shown.loc["after removing related persons", "n"]
    assert not (isinstance(with_pgs, int) and isinstance(unrelated, int)), (with_pgs, unrelated)
    assert shown.loc["with genetic ancestry and PCs", ["n", "removed"]].tolist() == [2900, 95]
    assert shown.loc[status_step("MDD_other"), "n"] == "<20"
    assert [shown.loc[status_step(s), "n"] for s in ("TRD", "trMDD", "non_MDD")] == [300, 500, 2062]
    assert shown.loc[frame, ["n", "removed"]].tolist() == ["suppressed", "suppressed"]
    counts = safe["cohort_counts"].set_index("status")["n"]
    assert all(counts[s] == shown.loc[status_step(s), "n"] for s in statuses)
    html = dataset_flow_html(safe["dataset_flow"], "def1", 20)
    assert "removed by the step" in html and "&lt;20" in html and "genotyped persons with PGS" in html
    # Every status shown: the frame is their sum and the count removed into it the difference.
    safe = suppress_release(_dataset_flow_release({**statuses, "MDD_other": 38}), 20)
    assert safe["dataset_flow"].set_index("step").loc[frame, ["n", "removed"]].tolist() == [2900, 0]


@pytest.mark.parametrize(("models", "words"), [
    ({}, ["Benjamini-Hochberg q (q_fdr) &lt; 0.05", "uncorrected p &lt; 0.05"]),
    ({"discovery_significance": "p_bonferroni", "alpha": 0.01, "replication_alpha": 0.001},
     ["Bonferroni-corrected p (p_bonferroni) &lt; 0.01", "uncorrected p &lt; 0.001"]),
])
def test_methods_state_the_replication_rule_and_each_models_covariates(models, words):
    """Methods name the replication rule (which p, direction, datasets) and the covariates of
    the logistic and the Cox models, generated from the config and models.covariates (the Cox
    age is COX_AGE, age at the MDD index), so the text follows a changed setting."""
    from trd_spark.config import load_config
    from trd_spark.report.stage import methods_html

    cfg = load_config()
    cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update=models)})
    html = methods_html(cfg, {}, 20)
    replication = ", ".join(d.name for d in cfg.datasets if d.role == "replication")
    assert f"each replication dataset ({replication}) and replicated there when the log OR has the same direction" in html
    for w in words:
        assert w in html
    n = cfg.covariates.n_pcs
    assert (f"adjusted for age at the end of observation, sex, genetic PCs 1-{n}; Bonferroni" in html
            and f"Cox proportional hazards from MDD index to TRD per SD of PGS, adjusted for age at the MDD index "
                f"(the time origin), sex, genetic PCs 1-{n}" in html), html


def test_methods_describe_the_cox_models_and_contrasts_as_a_paper_needs():
    """An epidemiologist reading the report (new-user trial, session 20) found no censoring rule,
    ties method, PH test, Cox population or day-0 rule in Methods, nor which statuses each
    contrast compares (is other MDD in 'MDD'?) or which persons set the PGS SD; all of them
    come from the config and the code's constants, so a changed setting changes the text."""
    from trd_spark.config import load_config
    from trd_spark.report.stage import methods_html

    cfg = load_config()
    html = methods_html(cfg, {}, 20)
    assert ("<dt>Progression (Cox)</dt><dd>persons with MDD (TRD, trMDD, MDD_other) of each dataset and TRD "
            "definition; time in days from the MDD index (the first MDD diagnosis) to the TRD onset date" in html)
    for words in ("censored at the end of follow-up, the earliest of the last observation period's end, death and "
                  "the EHR data cutoff", "on the index day counted at day 1;", "Efron's method for tied event times",
                  "scaled Schoenfeld residuals against rank-transformed time",
                  "mdd_vs_nonmdd (TRD, trMDD, MDD_other vs non_MDD)", "trd_vs_trmdd (TRD vs trMDD)",
                  "followed &ge; 180 days after the MDD index",
                  "every unrelated genotyped person of the dataset with genetic PCs, whatever their phenotype status",
                  "variants at multi-allelic sites scored, as plink2 --score scores them, where pgsc_calc's default",
                  "<dt>Sources</dt><dd>TRD as at least 2 failed adequate antidepressant trials (Gaynes et al.",
                  # the control rule's drugs: the trials' antidepressants and its own sets (esketamine)
                  # and its procedure sets (esketamine in clinic, a procedure or observation record; session 36)
                  "controls: no depression_spectrum, bipolar, schizophrenia_spectrum diagnosis and no antidepressant "
                  "(antidepressants, esketamine; as a procedure or observation record: esketamine_clinic) ever",
                  # the expansion rule of every set (concepts.load_vocabulary; docs/phenotypes.md "Concepts")
                  "descendants whose concept row has an invalid_reason (deprecated or upgraded) are left out, as "
                  "OHDSI's ATLAS expands a set; records are read by their standard concept only"):
        assert words in html, words
    trials = cfg.phenotypes.trials.model_copy(update={"pre_index_window_days": 30})
    models = cfg.models.model_copy(update={"ph_time_transform": "km"})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials}), "models": models})
    html = methods_html(cfg, {}, 20)
    assert "on the index day (or an onset up to 30 days before it) counted at day 1" in html
    assert "against km-transformed time" in html


def test_km_reasons_say_why_a_curve_or_its_end_is_not_shown():
    """Each PGS without Kaplan-Meier curves in the report, or with a curve cut short, gets its
    reason: one text for curves left out (a third under the threshold, curves not computed
    (models.km.coarsen_km) or the audit's drop, not which), a third ending before the end of follow-up (not which count stopped it:
    tests/test_privacy_km_reasons.py); complete curves get none."""
    from trd_spark.models.km import coarsen_km
    from trd_spark.report.stage import km_reasons

    at_risk = {"ok": [100, 80, 60, 40], "cut": [100, 80, 15, 5], "small": [10, 8, 6, 4], "audit": [100, 80, 60, 40]}
    events_after = {"ok": [60, 40, 20, 0], "cut": [60, 40, 5, 0], "small": [4, 2, 1, 0], "audit": [60, 40, 20, 0]}
    rows = [("disc", "def1", p, "trait", k, day, n if (p != "small" or k == 1) else n * 10, e, 1.0, 1.0, 1.0)
            for p in at_risk for k in (1, 2, 3)
            for day, n, e in zip((0, 30, 60, 90), at_risk[p], events_after[p])]
    internal = pd.DataFrame(rows, columns=["dataset", "definition", "pgs_id", "trait", "tertile", "time_days",
                                           "n_at_risk", "n_events_after", "survival", "ci_low", "ci_high"])
    coarse = coarsen_km(internal, 20)
    shown = coarse[coarse["pgs_id"] != "audit"].drop(columns="n_events_after")
    reasons = km_reasons(internal, coarse, shown, ["absent", "audit", "cut", "ok", "small"], 20)
    assert set(reasons) == {"absent", "audit", "cut", "small"}
    # Not computed (< 3 persons) reads as the small-thirds reason: its own text would narrow 1..2.
    # One text for curves left out, whichever step did (tests/test_privacy_km_reasons.py).
    assert reasons["absent"] == reasons["small"] == reasons["audit"]
    assert reasons["small"] == ("not shown: a PGS third starts with fewer than 20 persons, or with the other "
                                "exported counts its numbers would give away a count under 20 (disclosure control)")
    assert reasons["cut"] == "thirds 1, 2, 3 end at day 30 (no later day meets the publication rule)"
