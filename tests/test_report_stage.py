"""The report stage (``pipeline.run_stage``): suppressed TSVs and a self-contained report.html from published stages."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from models_sim import PGS_IDS, make_config, simulate_frame, to_spark

from trd_spark.layout import Layout, publish_stage
from trd_spark.pipeline import run_stage
from trd_spark.report import stage as report_stage
from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS_COLUMNS, PGS_MATCH_SUMMARY

FLOW = [
    ("all", 1, "persons with EHR and genomes", 1000),
    ("ad3", 2, "TRD", 12),
    ("ad3", 3, "trMDD", 0),
    ("ad3", 4, "non_MDD", 20),
]


@pytest.fixture(scope="module")
def report(spark, tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("report_stage"))
    big = simulate_frame(seed=8, n=300, datasets=("discovery",))
    small = simulate_frame(seed=9, n=70, datasets=("replication_wgs",))  # gives counts < 20
    frame = pd.concat([big, small], ignore_index=True)
    frame["person_id"] = frame["person_id"].iloc[0] + frame.index.to_numpy() * 7
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, frame))
        # As cohort.stage records it: the replication's PC adjustment failed for one score.
        w.notes["pgs_standardisation_fallback"] = {"replication_wgs": {PGS_IDS[1]: "collinear_pcs"}}
    run_stage(spark, cfg, "models")
    with publish_stage(spark, cfg, "phenotypes") as w:
        w.write_table("cohort_flow", spark.createDataFrame(FLOW, COHORT_FLOW.struct), COHORT_FLOW)
        # As phenotypes.stage records it: the Methods state the controls' EHR evidence rule from it.
        w.notes["ehr_evidence"] = {"rule": "any_record", "n_persons_without_ehr_data": 0}
    match = [
        (ds, p, "trait", "sleep", 100, 90, 80, 10, 0, 5, 5, 0, 0.9, 0)  # n_unreadable 0, n_matched_multiallelic 0
        for ds in ("discovery", "replication_wgs") for p in PGS_IDS
    ]
    with publish_stage(spark, cfg, "pgs") as w:
        w.write_table("match_summary", spark.createDataFrame(match, PGS_MATCH_SUMMARY.struct), PGS_MATCH_SUMMARY)
    files = run_stage(spark, cfg, "report")
    logistic = spark.read.parquet(Layout.of(cfg).table("models", "logistic")).toPandas()
    return cfg, frame, files, logistic


def _text(files, name):
    return open(files[name]).read()


def test_all_files_published(report):
    cfg, _, files, _ = report
    assert {"results.tsv", "cox.tsv", "cohort_flow.tsv", "match_rates.tsv", "pgs_distribution.tsv",
            "report.html"} <= set(files)
    assert Layout.of(cfg).stage_dir("report") + "/report.html" == files["report.html"]
    for stage in ("report", "export"):
        assert open(Layout.of(cfg).file(stage, "_SUCCESS")).read() == ""
        for name in files:  # the export holds the same files
            assert open(Layout.of(cfg).file(stage, name)).read() == open(files[name]).read()


def test_export_holds_only_what_may_leave(report):
    """export/: the report files, a manifest with relative names and SHA-256 (no path), an
    empty _SUCCESS; no hidden .crc files."""
    import hashlib
    import json
    import os

    cfg, _, files, _ = report
    exp = Layout.of(cfg).stage_dir("export")
    names = sorted(os.listdir(exp))
    assert names == sorted([*files, "_SUCCESS", "_manifest.json"])
    m = json.loads(open(f"{exp}/_manifest.json").read())
    assert set(m["files"]) == set(files) and m["small_count_threshold"] == 20
    assert m["run_id"] == json.loads(open(Layout.of(cfg).file("report", "_manifest.json")).read())["run_id"]
    for name, entry in m["files"].items():
        assert entry["sha256"] == hashlib.sha256(open(f"{exp}/{name}", "rb").read()).hexdigest()
    assert cfg.output_root not in json.dumps(m) and "/" not in "".join(m["files"])


def test_results_counts_are_suppressed(report):
    _, _, files, logistic = report
    tsv = pd.read_csv(files["results.tsv"], sep="\t", dtype={"n": str, "n_cases": str})
    # The table's columns, then the provenance every exported TSV ends with (report.stage.PROVENANCE_COLUMNS).
    assert list(tsv.columns) == [*LOGISTIC_RESULTS_COLUMNS, "release", "config_hash"]
    small = logistic["n_cases"].between(1, 19)
    assert small.any()  # the small dataset must exercise suppression
    assert (tsv.loc[small, "n_cases"] == "<20").all()
    big = logistic["n_cases"] >= 20
    # A count of 20 or more is shown as it is, or hidden by the audit as a secondary cell
    # ("suppressed": the contrasts of one dataset count the same persons, d1cac1b); never
    # another number, never "<20", and most stay shown.
    exact = tsv.loc[big, "n_cases"] == logistic.loc[big, "n_cases"].astype(str)
    assert (exact | (tsv.loc[big, "n_cases"] == "suppressed")).all()
    assert exact.mean() > 0.5, exact.mean()
    # A small number of controls is never recoverable: n and n_cases are not both shown.
    controls = logistic["n"] - logistic["n_cases"]
    both_shown = tsv["n"].str.isdigit() & tsv["n_cases"].str.isdigit()
    assert not (controls.between(1, 19) & both_shown).any()


def test_cohort_flow_is_suppressed(report):
    _, _, files, _ = report
    flow = pd.read_csv(files["cohort_flow.tsv"], sep="\t", dtype={"n": str})
    assert flow["n"].tolist() == ["1000", "<20", "0", "20"]


def test_html_has_forest_plots_across_datasets(report):
    """One forest per contrast; every converged primary-definition estimate of every dataset is
    drawn with its OR (95% CI) text; suppressed counts appear as labels."""
    import xml.etree.ElementTree as ET

    cfg, _, files, logistic = report
    page = _text(files, "report.html")
    svgs = re.findall(r'<svg class="forest".*?</svg>', page, flags=re.S)
    assert len(svgs) == logistic["contrast"].nunique()
    texts = ["".join(t.itertext()) for svg in svgs for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    # Estimates of a model whose n or cases are hidden are not exported (tables.hide_estimates_of_hidden_counts).
    tsv = pd.read_csv(files["results.tsv"], sep="\t", dtype={"n": str, "n_cases": str})
    counts_shown = (tsv["n"].str.isdigit() & tsv["n_cases"].str.isdigit()).to_numpy()
    shown = logistic[(logistic.definition == cfg.phenotypes.primary_definition) & logistic.converged & counts_shown]
    # The small replication dataset's primary models all have a hidden count (its TRD 8 and
    # trMDD 12 persons; the audit links the contrasts, d1cac1b): only discovery's are drawn.
    assert set(shown["dataset"]) == {"discovery"} and len(shown) >= 10
    for r in shown.itertuples():
        assert f"{r.odds_ratio:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})" in texts
    hidden = logistic[(logistic.definition == cfg.phenotypes.primary_definition) & logistic.converged & ~counts_shown]
    assert len(hidden) > 0  # the small dataset must exercise it
    for r in hidden.itertuples():  # its standard error would give the hidden count back
        assert f"{r.odds_ratio:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})" not in texts
    assert "<20" in texts
    assert "&lt;20" in page  # suppressed counts in tables appear, escaped
    # The phenotype stage's EHR evidence rule reaches the Methods (session 47 specaudit: it was in no word).
    assert "and a record in condition_occurrence, drug_exposure, procedure_occurrence or device_exposure" in page


def test_pgs_distributions_say_whose_they_are(report):
    """The PGS distribution figures and table name their persons (the primary definition's
    analysed persons, every status) and that the SD was set on the dataset's unrelated
    genotyped persons with PCs: a mean or SD away from 0 / 1 there is no error (new-user trial,
    session 20: the captions said only 'PGS per SD by ancestry group')."""
    cfg, _, files, _ = report
    page = _text(files, "report.html")
    who = (f"analysed persons (definition {cfg.phenotypes.primary_definition}, every status; the SD is that of "
           "all unrelated genotyped persons of the dataset with PCs, see Methods)")
    assert f"discovery: PGS per SD by ancestry group, {who}" in page
    assert f"Quantiles of the PGS per SD, {who}" in page


def test_html_flags_the_standardisation_fallback(report):
    """The cohort manifest's fallback (a score whose PC-adjusted standardisation could not be
    fitted) is a visible warning naming the dataset, the score, the reason and the fix."""
    _, _, files, _ = report
    page = _text(files, "report.html")
    warnings = re.findall(r'<p class="warning">(.*?)</p>', page, flags=re.S)
    assert len(warnings) == 1
    assert f"dataset replication_wgs: {PGS_IDS[1]} (collinear_pcs)" in warnings[0]
    assert "overall z-score" in warnings[0] and "pgs.standardisation_n_pcs" in warnings[0]
    assert "discovery" not in warnings[0] and PGS_IDS[0] not in warnings[0]
    assert '<a href="#standardisation">' in page  # listed in the table of contents


def test_standardisation_fallback_note_is_empty_without_fallback():
    note_of = report_stage.standardisation_fallback_note
    assert note_of({}, pcs_set_floor=False) == ""
    assert note_of({"discovery": {}}, pcs_set_floor=False) == ""
    note = note_of({"b": {"PGS2": "too_few_samples"}, "a": {"PGS1": "x<y"}}, pcs_set_floor=False)
    assert note.index("dataset a") < note.index("dataset b") and "x&lt;y" in note  # sorted, escaped
    assert "lower pgs.standardisation_n_pcs" in note  # a fit failure fewer PCs may mend
    # A dataset under the small-count threshold is never fitted: fewer PCs would not help.
    small = note_of({"b": {"PGS2": "too_few_samples"}}, pcs_set_floor=False)
    assert "standardisation_n_pcs" not in small and "pgs.standardisation: overall" in small
    # Unless the PCs + 2 set the floor (more PCs than the threshold - 2): then fewer PCs can
    # (93c1e64's note said "never fitted" here, the log's WARNING named fewer PCs).
    floor_by_pcs = note_of({"b": {"PGS2": "too_few_samples"}}, pcs_set_floor=True)
    assert "lower pgs.standardisation_n_pcs" in floor_by_pcs and "never fitted" not in floor_by_pcs


def test_no_person_id_in_any_output(report):
    _, frame, files, _ = report
    texts = [_text(files, name) for name in files]
    leaked = [pid for pid in frame["person_id"].astype(str) for t in texts if pid in t]
    assert leaked == []
