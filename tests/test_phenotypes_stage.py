"""The stage end to end: OMOP Parquet on disk -> published phenotypes stage with a manifest."""

from __future__ import annotations

import json

from test_phenotypes_support import SERTRALINE_TAB, drug, frame, obs, toy_config
from test_phenotypes_trd import trd_omop

from trd_spark.layout import Layout
from trd_spark.phenotypes.stage import WORK_DIR, derive_phenotype_tables, literal_frame, read_omop
from trd_spark.pipeline import run_stage


def test_run_publishes_the_four_tables(spark, tmp_path):
    """Also: no death table (optional), a duplicated exposure row and an overlapping period are counted."""
    omop_dir = tmp_path / "omop"
    tables = trd_omop(spark)
    tables["drug_exposure"] = tables["drug_exposure"].unionByName(
        frame(spark, "drug_exposure", [drug(1, SERTRALINE_TAB, "2015-03-01", days_supply=60)]))
    tables["observation_period"] = tables["observation_period"].unionByName(
        frame(spark, "observation_period", [obs(2, "2005-01-01", "2010-01-01")]))
    for name, df in tables.items():
        if name != "death":
            df.coalesce(1).write.parquet(str(omop_dir / f"{name}.parquet"))
    cfg = toy_config(path=str(omop_dir)).model_copy(update={"output_root": str(tmp_path / "results")})

    run_stage(spark, cfg, "phenotypes")

    stage = Layout.of(cfg).stage_dir("phenotypes")
    manifest = json.loads((tmp_path / "results" / cfg.release / "phenotypes" / "_manifest.json").read_text())
    # trials: person 1 four, 2 two, 4 one, 5 one, 6 two (the third is after the cutoff)
    assert manifest["tables"] == {"persons": 8, "antidepressant_trials": 10, "phenotypes": 24, "cohort_flow": 35}
    assert manifest["inputs"]["omop.path"]["exists"] is True
    # study drug records: 14 rows, one (citalopram, 2023-08-01) after the cutoff
    notes = manifest["notes"]
    drug_dates = notes["study_event_dates"]["drug"]
    assert (drug_dates["n_records"], drug_dates["n_after_followup_end"], drug_dates["n_kept"]) == (14, 1, 13)
    assert (drug_dates["n_after_cutoff"], drug_dates["n_after_death"]) == (1, 0)
    assert set(notes["study_event_dates"]) == {"condition", "drug", "procedure", "device"}
    assert notes["study_event_dates"]["device"]["n_records"] == 0
    assert notes["optional_tables_absent"] == ["death"]
    # 12 antidepressant rows (aripiprazole is not one), one duplicate of person 1's first fill
    assert notes["quirks"]["antidepressant_exposures"] == {"n_records": 12, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                                          "n_exposures": 11, "n_duplicates_removed": 1}
    assert notes["quirks"]["observation_periods"] == {"n_periods": 9, "n_overlapping_periods": 1,
                                                      "n_persons_with_overlap": 1}
    # the data-shape gates are measured and stay quiet on ordinary data
    assert {name: g["level"] for name, g in notes["gates"].items()} == {
        "sex_other": "ok", "records_after_cutoff": "ok", "records_before_birth": "ok",
        "implausible_drug_records": "ok", "no_observation_period": "ok"}
    assert notes["gates"]["sex_other"]["total"] == 8
    flow = spark.read.parquet(f"{stage}/cohort_flow.parquet")
    assert flow.where("definition = 'ad3' and step = 'TRD'").first().n == 1
    assert flow.where("definition = 'all' and step = 'all_persons'").first().n == 8
    # run() writes intermediate tables and builds each step on the files: the published
    # tables equal the lazy pure chain's, and no intermediate table is published.
    assert not (tmp_path / "results" / cfg.release / "phenotypes" / WORK_DIR).exists()
    pure = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    for name, df in (("persons", pure.persons), ("antidepressant_trials", pure.trials), ("phenotypes", pure.phenotypes)):
        published = spark.read.parquet(f"{stage}/{name}.parquet")
        ours = df.select(*published.columns)
        assert published.exceptAll(ours).count() == 0 and ours.exceptAll(published).count() == 0, name


def test_literal_frame_keeps_types_values_and_enum_values(spark):
    """literal_frame (the cohort_flow write, no Python worker): declared types, enum members as values, empty."""
    import enum

    from trd_spark.schemas import COHORT_FLOW

    class Status(str, enum.Enum):
        TRD = "TRD"

    rows = [("all", 1, "all_persons", 8), ("ad3", 2, Status.TRD, 3_000_000_000)]
    df = literal_frame(spark, rows, COHORT_FLOW.struct)
    assert [(f.name, f.dataType) for f in df.schema.fields] == [(f.name, f.dataType) for f in COHORT_FLOW.struct.fields]
    assert [tuple(r) for r in df.collect()] == [("all", 1, "all_persons", 8), ("ad3", 2, "TRD", 3_000_000_000)]
    empty = literal_frame(spark, [], COHORT_FLOW.struct)
    assert empty.count() == 0 and empty.schema == COHORT_FLOW.struct
