"""Cohort transforms on hand-made inputs: PC parsing, unrelated set, PGS per SD, the join."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import pytest

from trd_spark.cohort.frame import (
    derive_analysis_frame,
    derive_ancestry,
    derive_pgs_wide,
    derive_unrelated,
    standardise_pgs,
)
from trd_spark.schemas import ANALYSIS_FRAME_FIXED, PERSONS, PHENOTYPES


@pytest.fixture()
def inputs(spark):
    scores = spark.createDataFrame(
        [("discovery", pid, pgs, float(v), 4, float(v) / 4, 0)
         for pid, a, b in [(1, 1.0, 10.0), (2, 2.0, 20.0), (3, 3.0, 60.0), (4, 100.0, 0.0)]
         for pgs, v in (("PGS1", a), ("PGS2", b))]
        + [("other", 9, "PGS1", 5.0, 4, 1.25, 0), ("other", 9, "PGS2", 5.0, 4, 1.25, 0)],
        "dataset string, person_id long, pgs_id string, score_sum double, allele_count long, score_avg double, n_missing long",
    )
    ancestry = spark.createDataFrame(
        [(str(i), "eur" if i < 3 else "afr", f"[{i}.5, -{i}.25, 0.0]") for i in (1, 2, 3, 4, 9)],
        "research_id string, ancestry_pred string, pca_features string",
    )
    flagged = spark.createDataFrame([("4",)], "sample_id string")
    d = dt.date(2020, 1, 1)
    persons = spark.createDataFrame(
        [(1, "female", 1960, d, d, True, 60.0), (2, "male", 1970, d, d, True, 50.0),
         (3, "other", 1980, d, d, True, 40.0), (4, "female", 1990, d, d, False, 30.0)],
        PERSONS.struct,
    )
    sex = {1: "female", 2: "male", 3: "other"}
    phenotypes = spark.createDataFrame(
        [row + (sex[row[0]], 55.5 if row[2] in ("TRD", "trMDD") else None, 60.0) for row in [
            (1, "ad3", "TRD", None, d, d, d, d, 100, 1, 3), (2, "ad3", "excluded", "bipolar", None, None, d, None, None,
                                                                  None, 0),
            (1, "somatic", "trMDD", None, d, None, d, d, 400, 0, 1),
            (3, "ad3", "non_MDD", None, None, None, d, None, None, None, 0),
            (2, "somatic", "non_MDD", None, None, None, d, None, None, None, 0)]],
        PHENOTYPES.struct,
    )
    return scores, ancestry, flagged, persons, phenotypes


def test_derive_ancestry_parses_pcs(inputs):
    ancestry = derive_ancestry(inputs[1], n_pcs=2)
    row = ancestry.where("person_id = 3").first()
    assert (row.person_id, row.ancestry, row.pc1, row.pc2) == (3, "afr", 3.5, -3.25)
    assert ancestry.columns == ["person_id", "ancestry", "pc1", "pc2"]


def test_unrelated_and_standardised(inputs):
    scores, _, flagged, _, _ = inputs
    wide = derive_pgs_wide(scores, "discovery", ["PGS1", "PGS2"])
    unrelated = derive_unrelated(wide, flagged)
    assert sorted(r.person_id for r in unrelated.collect()) == [1, 2, 3]
    per_sd = {r.person_id: r for r in standardise_pgs(unrelated, ["PGS1", "PGS2"]).collect()}
    # PGS1 over persons 1..3 = 1, 2, 3: mean 2, sample SD 1.
    assert [per_sd[i].PGS1 for i in (1, 2, 3)] == pytest.approx([-1.0, 0.0, 1.0])
    # PGS2 = 10, 20, 60: mean 30, SD sqrt(700).
    assert per_sd[3].PGS2 == pytest.approx(30 / math.sqrt(700))


def test_zero_variance_score_becomes_null(spark):
    df = spark.createDataFrame([(1, 2.0), (2, 2.0)], "person_id long, PGS1 double")
    assert [r.PGS1 for r in standardise_pgs(df, ["PGS1"]).collect()] == [None, None]


def test_standardise_within_groups(spark):
    df = spark.createDataFrame([(1, "a", 1.0), (2, "a", 3.0), (3, "b", 10.0), (4, "b", 30.0)],
                               "person_id long, ancestry string, PGS1 double")
    got = {r.person_id: r.PGS1 for r in standardise_pgs(df, ["PGS1"], ["ancestry"]).collect()}
    s = 1 / math.sqrt(2)
    assert got == pytest.approx({1: -s, 2: s, 3: -s, 4: s})


def test_analysis_frame_join(inputs):
    scores, ancestry_raw, flagged, persons, phenotypes = inputs
    wide = derive_unrelated(derive_pgs_wide(scores, "discovery", ["PGS1", "PGS2"]), flagged)
    per_sd = standardise_pgs(wide, ["PGS1", "PGS2"])
    frame = derive_analysis_frame(per_sd, derive_ancestry(ancestry_raw, 2), persons, phenotypes,
                                  "discovery", 2, ["PGS1", "PGS2"])
    assert frame.columns == ANALYSIS_FRAME_FIXED.names + ["pc1", "pc2", "PGS1", "PGS2"]
    rows = sorted(frame.collect(), key=lambda r: (r.person_id, r.definition))
    # Person 2 is excluded under ad3 but a control under somatic; person 3 has sex "other";
    # person 4 is flagged as related; person 9 belongs to another dataset.
    assert [(r.person_id, r.definition, r.status) for r in rows] == [
        (1, "ad3", "TRD"), (1, "somatic", "trMDD"), (2, "somatic", "non_MDD")]
    assert (rows[0].sex_female, rows[2].sex_female, rows[0].age) == (1, 0, 60.0)
    assert (rows[0].age_at_index, rows[2].age_at_index) == (55.5, None)  # MDD only: the Cox models' age
    assert (rows[0].time_to_trd_days, rows[0].trd_event, rows[0].pc1) == (100, 1, 1.5)
    assert rows[0].PGS1 == pytest.approx(-1.0)


def test_genotyped_persons_absent_from_person_are_counted_and_gated(spark, caplog):
    """Issue 12: genotyped persons without an OMOP person row are counted, warned, or an error;
    every count of a dataset's way into the cohort comes from one job (``dataset_counts``)."""
    from trd_spark.cohort.stage import dataset_counts, genotyped_without_person_gate
    from trd_spark.config import GateThreshold
    from trd_spark.errors import InputDataError

    genotyped = spark.createDataFrame([(i,) for i in range(1, 13)], "person_id long")
    unrelated = genotyped.where("person_id <= 11")  # 12 is related
    ancestry = spark.createDataFrame([(i,) for i in range(2, 13)], "person_id long")  # 1 has no ancestry
    persons = spark.createDataFrame([(i, 1980) for i in range(1, 11)], "person_id long, year_of_birth int")
    counts = dataset_counts(genotyped, unrelated, ancestry, persons)
    # With ancestry and unrelated: 2..11 (10 persons); of them 11 has no person row.
    assert counts == {"n_genotyped": 12, "n_missing_ancestry": 1, "n_unrelated": 11, "n_with_ancestry": 10,
                      "n_without_group": 0, "n_without_pcs": 0, "n_without_person": 1}
    quiet = genotyped_without_person_gate(0, 10, "d1", GateThreshold(warn=0.01, error=0.5))
    assert quiet == {"n": 0, "total": 10, "share": 0.0, "level": "ok"}
    with caplog.at_level("WARNING"):
        warned = genotyped_without_person_gate(counts["n_without_person"], counts["n_with_ancestry"], "d1",
                                               GateThreshold(warn=0.05, error=0.5))
    assert warned == {"n": 1, "total": 10, "share": 0.1, "level": "warning"}
    assert "1 of 10 unrelated genotyped persons of dataset d1 absent from OMOP person" in caplog.text
    with pytest.raises(InputDataError, match=r"genotyped_without_person: 1 of 10 .*\(error at >= 10%\)"):
        genotyped_without_person_gate(1, 10, "d1", GateThreshold(warn=0.01, error=0.1))


def test_persons_in_two_datasets_are_counted_per_pair(spark):
    """The datasets are meta-analysed as independent samples: ``dataset_overlaps`` counts the
    persons each pair of datasets shares, in one job, and ``check_disjoint_datasets`` stops
    the stage naming the pairs, small counts as "<20" (no identifier)."""
    from trd_spark.cohort.stage import check_disjoint_datasets, dataset_overlaps
    from trd_spark.errors import InputDataError

    def ids(values):
        return spark.createDataFrame([(i,) for i in values], "person_id long")

    a, b, c = ids(range(1, 31)), ids([*range(1, 26), 100]), ids([1, 29, 30, 200])
    assert dataset_overlaps({"disc": a, "rep_wgs": b, "rep_array": c}) == {
        ("disc", "rep_wgs"): 25, ("disc", "rep_array"): 3, ("rep_wgs", "rep_array"): 1}
    assert dataset_overlaps({"disc": a, "other": ids([100, 200])}) == {}
    assert dataset_overlaps({"disc": a}) == {}
    check_disjoint_datasets({})  # disjoint datasets: nothing to say
    with pytest.raises(InputDataError, match=r"^datasets: unrelated genotyped persons in more than one dataset "
                       r"\(20\+ in both disc and rep_wgs; <20 in both disc and rep_array\); the datasets are "
                       r"meta-analysed as independent samples"):
        check_disjoint_datasets({("disc", "rep_wgs"): 25, ("disc", "rep_array"): 3}, persons_below=20)


@pytest.mark.parametrize(("n_missing", "shown"), [(1, "<20"), (19, "<20"), (20, r"20\+"), (1234, r"20\+")])
def test_samples_without_ancestry_are_one_error_counting_persons_as_the_exports(n_missing, shown):
    """The cohort stage's missing-ancestry error counted persons as they are ("1 sample(s)",
    new-user trial, session 16); its counts follow the rule of every log line: 1-19 read "<20", 20 or more "20+"."""
    from trd_spark.cohort.stage import check_ancestry_coverage
    from trd_spark.errors import InputDataError

    check_ancestry_coverage(0, "disc", "/x/ancestry_preds.tsv", persons_below=20)
    with pytest.raises(InputDataError, match=rf"^ancestry.path /x/ancestry_preds.tsv: {shown} sample\(s\) of dataset "
                       r"disc are missing from the ancestry file \(column research_id\)"):
        check_ancestry_coverage(n_missing, "disc", "/x/ancestry_preds.tsv", persons_below=20)


def test_cohort_stage_refuses_a_person_in_two_datasets(spark, tmp_path, caplog):
    """The stage (``pipeline.run_stage``) stops with exit 3 before any standardisation when the
    same person was scored in two datasets (e.g. All of Us' srWGS and microarray callsets, both
    whole), instead of analysing and meta-analysing them twice; nothing is published."""
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.errors import InputDataError
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage

    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n"
                   + "".join(f"{i}\teur\t[0.{i}, -0.{i}]\n" for i in range(1, 41)))
    # Two datasets (fewer Spark jobs); their genotypes are not read by this stage.
    datasets = [{"name": n, "role": r, "genotypes": {"format": "vcf", "path": f"{n}.vcf.bgz"}}
                for n, r in (("discovery", "discovery"), ("replication_wgs", "replication"))]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets)
    # discovery 1..20, replication_wgs 11..40: persons 11..20 are in both.
    members = {"discovery": range(1, 21), "replication_wgs": range(11, 41)}
    publish_cohort_inputs(spark, cfg, [(ds, i, "PGS900001", i) for ds, people in members.items() for i in people],
                          range(1, 41), [])
    caplog.set_level(logging.INFO, logger="trd_spark")
    with pytest.raises(InputDataError, match=r"^datasets: .*\(<20 in both discovery and replication_wgs\)") as e:
        run_stage(spark, cfg, "cohort")
    assert e.value.exit_code == 3
    # The stage's first progress line, before the driver's quiet stretch (the heartbeat repeats it).
    assert ("cohort: 1 score(s) x 2 dataset(s); reading the ancestry files and counting each dataset's steps"
            in [r.getMessage() for r in caplog.records])
    assert not (Path(Layout.of(cfg).stage_dir("cohort")) / "_SUCCESS").exists()
