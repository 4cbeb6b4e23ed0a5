"""End to end: every stage on the default-size toy data (3000 persons x 2000 variants), checked
against the planted effects and counts in truth.json; reruns skip or redo exactly what changed.

The run is toy-r2 of conftest's session fixture ``toy_releases`` (tests/toy_releases.py: the
embedded toy config, run from the CLI with ``--release latest``), which test_privacy_export
checks for privacy: one run of the default-size data serves both (each costs minutes).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from person_count_guard import close_count_pairs, small_record_counts

from trd_spark.cli import main
from trd_spark.schemas import TABLES_BY_STAGE, check_spark

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
RISK = {"PGS900003": "Neuroticism", "PGS900004": "Insomnia"}
PROTECTIVE = {"PGS900001": "Educational attainment", "PGS900002": "Intelligence"}


RELEASE = "toy-r2"
RERUN_RELEASE = "toy-r1"  # test_threshold_and_master_rerun_...: the smaller shared release


@pytest.fixture(scope="module")
def toy_run(toy_releases):
    """(config, release directory, truth.json) of toy-r2; its run ended with exit code 0."""
    assert toy_releases.codes[0] == 0, toy_releases.logs[-3000:]
    release = toy_releases.tmp / "results" / RELEASE
    truth = json.loads((toy_releases.tmp / "inputs" / RELEASE / "truth.json").read_text())
    assert (truth["persons"], truth["variants"]) == (3000, 2000)  # the default toy size
    return toy_releases.config, release, truth


def test_every_stage_published_with_declared_columns(spark, toy_run):
    _, release, _ = toy_run
    for stage in ("pgs", "phenotypes", "cohort", "models", "report"):
        assert (release / stage / "_SUCCESS").exists(), stage
        manifest = json.loads((release / stage / "_manifest.json").read_text())
        assert manifest["stage"] == stage
    for stage, tables in TABLES_BY_STAGE.items():
        for schema in tables:
            df = spark.read.parquet(str(release / stage / f"{schema.name}.parquet"))
            check_spark(df, schema, extra_ok=(schema.name == "analysis_frame"))
            assert df.count() > 0, schema.name
    assert not [p.name for p in release.iterdir() if p.name.startswith(".")]


def test_planted_effects_recovered_in_discovery(toy_run):
    _, release, truth = toy_run
    res = pd.read_parquet(release / "models" / "logistic.parquet")
    sel = res[(res.dataset == "discovery") & (res.definition == "ad3") & (res.contrast == "trd_vs_nonmdd")]
    sel = sel.set_index("pgs_id")
    assert sel.converged.all()
    for pgs_id in {**RISK, **PROTECTIVE}:
        true_or = math.exp(truth["effects"][pgs_id]["log_or_trd_vs_nonmdd"])
        row = sel.loc[pgs_id]
        assert row.ci_low <= true_or <= row.ci_high, (pgs_id, row.ci_low, true_or, row.ci_high)
        assert (row.odds_ratio > 1) == (pgs_id in RISK), pgs_id
    nulls = [p for p, e in truth["effects"].items() if e["log_or_trd_vs_nonmdd"] == 0]
    covering = [p for p in nulls if sel.loc[p].ci_low <= 1 <= sel.loc[p].ci_high]
    # 95% intervals: most null traits cover OR = 1 (one miss in five happens by chance).
    assert len(covering) >= len(nulls) - 1, covering


def test_phenotype_counts_match_truth(toy_run):
    _, release, truth = toy_run
    ph = pd.read_parquet(release / "phenotypes" / "phenotypes.parquet")
    got = ph[ph.definition == "ad3"].status.value_counts().to_dict()
    for status in ("TRD", "trMDD", "MDD_other", "non_MDD"):
        assert got[status] == truth["status_counts"][status], status


def test_report_written_and_counts_suppressed(toy_run):
    _, release, _ = toy_run
    html = (release / "report" / "report.html").read_text()
    assert "<svg" in html and "Insomnia" in html
    results = pd.read_csv(release / "report" / "results.tsv", sep="\t", dtype=str)
    for col in ("n", "n_cases"):
        small = pd.to_numeric(results[col], errors="coerce").between(1, 19)
        assert not small.any(), col


def test_rerun_skips_complete_stages(toy_run, capsys):
    config, release, _ = toy_run
    before = (release / "models" / "_manifest.json").read_text()
    assert main(["run", "--config", str(config), "--release", RELEASE]) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") >= 5
    assert (release / "models" / "_manifest.json").read_text() == before


def test_match_counts_match_truth(toy_run):
    _, release, truth = toy_run
    summary = pd.read_parquet(release / "pgs" / "match_summary.parquet")
    assert set(summary.dataset) == {"discovery", "replication_wgs", "replication_array"}
    for row in summary.itertuples():
        t = truth["score_variants"][row.pgs_id]
        assert row.n_variants == t["variants"]
        # The multi-allelic variants' effect allele is the second ALT: ref_alt after splitting.
        assert row.n_matched_ref_alt == t["ref_alt"] + t["multiallelic"], row
        assert row.n_matched_alt_ref == t["alt_ref"], row
        assert row.n_matched_flipped == t["flipped"], row
        assert row.n_ambiguous_dropped == t["ambiguous"], row
        assert row.n_not_found == t["absent"], row
        assert row.n_matched == t["used_in_true_pgs"], row


def test_meta_analysis_reproduces_the_study_pattern(toy_run):
    """Across the three datasets: risk PGS raise TRD more than trMDD, protective ones lower
    it, nulls are not significant after correction, and definitions agree (R^2)."""
    _, release, truth = toy_run
    meta = pd.read_parquet(release / "models" / "meta.parquet")
    fixed = meta[(meta.definition == "ad3") & (meta.method == meta.method.iloc[0])].set_index(["contrast", "pgs_id"])
    nulls = [p for p, e in truth["effects"].items() if e["log_or_trd_vs_nonmdd"] == 0]
    for pgs_id in RISK:
        assert fixed.loc[("trd_vs_nonmdd", pgs_id)].odds_ratio > 1
        assert fixed.loc[("trd_vs_trmdd", pgs_id)].odds_ratio > 1
    for pgs_id in PROTECTIVE:
        assert fixed.loc[("trd_vs_nonmdd", pgs_id)].ci_high < 1
    for pgs_id in nulls:
        assert fixed.loc[("trd_vs_nonmdd", pgs_id)].p_bonferroni > 0.05, pgs_id
    consistency = pd.read_parquet(release / "models" / "consistency.parquet")
    # TRD vs non-MDD effects agree across definitions (the study: meta-analytic R^2 > 83%;
    # the toy's somatic definition has few cases, so its pairs agree less).
    primary = consistency[consistency.contrast == "trd_vs_nonmdd"]
    assert len(primary) >= 3 and (primary.r2 > 0.5).all(), primary


def test_threshold_and_master_rerun_every_stage_and_label_their_lines_under_it(toy_run, capsys, tmp_path):
    """Issue 15 and session 54 privacy11: the small-count threshold plus another --master rerun
    every stage: cohort for the floor of its PC standardisation fits (test_privacy_pc_fallback),
    and pgs and phenotypes too, whose log lines, gate decisions and label notes the threshold
    shapes (``stages.LABEL_KEYS``). Before that (a message key, in neither's slice) they were
    skipped as up to date and the release kept only their lines of the old threshold: record
    counts of 20..24 shown exactly, and pairs of them 20..24 apart, counts of 1..24 under T = 25
    (the assertion ``[1/5] pgs: running`` failed there: ``pgs: up to date, skipped``). The new run
    log holds every stage's lines under 25: no person count labelled for 20, no record count
    1..24, no two exact counts 1..24 apart. Run on a copy of
    the results (toy-r1, toy-r2, compare: the report audits against the other release's export),
    so the shared releases keep their own reports for test_privacy_export and need no second run
    back to their settings. The rerun is of toy-r1 (600 persons), not toy-r2: which stages rerun
    and why does not depend on the size, and every stage costs less on 600."""
    config, _, _ = toy_run
    raw = yaml.safe_load(config.read_text())
    results = tmp_path / "results"
    shutil.copytree(Path(raw["output_root"]), results, symlinks=True)
    shared_release = Path(raw["output_root"]) / RERUN_RELEASE
    release = results / RERUN_RELEASE
    raw["output_root"] = str(results)
    raw.setdefault("report", {})["small_count_threshold"] = 25
    changed = tmp_path / "toy_threshold25.yaml"
    changed.write_text(yaml.safe_dump(raw))
    stages = ("pgs", "phenotypes", "cohort", "models", "report", "export")

    def run_ids(release: Path) -> dict[str, str]:
        return {s: json.loads((release / s / "_manifest.json").read_text())["run_id"] for s in stages}

    before = run_ids(release)
    assert before == run_ids(shared_release)  # a faithful copy
    logs_before = set((release / "logs").glob("*.log"))
    capsys.readouterr()
    assert main(["run", "--config", str(changed), "--release", RERUN_RELEASE, "--master", "local[1]"]) == 0
    err = capsys.readouterr().err
    for i, stage in enumerate(("pgs", "phenotypes"), 1):
        assert f"[{i}/5] {stage}: running (config changed: report.small_count_threshold)" in err, err[-3000:]
    for i, stage in ((3, "cohort"), (5, "report")):
        reasons = err.split(f"[{i}/5] {stage}: running (")[1].split("\n")[0]
        assert "config changed: report.small_count_threshold" in reasons, reasons
    assert "[4/5] models: running (" in err
    after = run_ids(release)
    assert {s for s in before if before[s] != after[s]} == set(stages)
    # The new run's log: every stage's lines, each count labelled under 25.
    (log_path,) = set((release / "logs").glob("*.log")) - logs_before
    log_text = log_path.read_text()
    assert "phenotypes: " in log_text and "pgs: " in log_text
    assert "<25" in log_text and not re.search(r"(?<![\w.,])(?:<20|20\+)(?![\w.,])", log_text), log_text[-3000:]
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", log_text)
    small = [x for r in records if "# resolved config" not in r for x in small_record_counts(r, 25)]
    assert not small, small
    assert not close_count_pairs(log_text, 25), close_count_pairs(log_text, 25)
    manifest = json.loads((release / "report" / "_manifest.json").read_text())
    assert manifest["notes"]["small_count_threshold"] == 25
    # The shared release is untouched: its own run, its own threshold.
    assert run_ids(shared_release) == before
    manifest = json.loads((shared_release / "report" / "_manifest.json").read_text())
    assert manifest["notes"]["small_count_threshold"] == 20
    # The copy's comparison read toy-r1's export under 20: the report stage's run marked it not for
    # export in its _disclosure.json (pipeline.mark_comparisons), what it said when made kept for the
    # privacy audits; the run's WARNING names it (session 49: only the WARNING did, for_export stayed).
    name = f"{RERUN_RELEASE}_vs_toy-r2"
    made = json.loads((shared_release.parent / "compare" / name / "_disclosure.json").read_text())
    marked = json.loads((results / "compare" / name / "_disclosure.json").read_text())
    assert marked["for_export"] is False and marked["was_for_export"] is made["for_export"], marked
    # Its pgs stage reran first (the threshold is in every stage's slice) and marked it; the WARNING
    # names that and the new export.
    reasons = marked["out_of_date"]
    assert any(r.startswith(f"{RERUN_RELEASE}'s pgs stage was rerun since") for r in reasons), marked
    warned = [line for line in err.splitlines() if f"WARNING trd_spark: compare/{name}/ is out of date: " in line]
    assert len(warned) == 1 and all(r in warned[0] for r in reasons), (warned, reasons)
    assert f"{RERUN_RELEASE} was exported again since" in warned[0], warned
