"""The stage end to end: OMOP Parquet on disk -> published phenotypes stage with a manifest."""

from __future__ import annotations

import json

from test_phenotypes_support import toy_config
from test_phenotypes_trd import trd_omop

from trd_spark.layout import Layout
from trd_spark.phenotypes.stage import run


def test_run_publishes_the_four_tables(spark, tmp_path):
    omop_dir = tmp_path / "omop"
    for name, df in trd_omop(spark).items():
        df.coalesce(1).write.parquet(str(omop_dir / f"{name}.parquet"))
    cfg = toy_config(path=str(omop_dir)).model_copy(update={"output_root": str(tmp_path / "results")})

    run(spark, cfg)

    stage = Layout.of(cfg).stage_dir("phenotypes")
    manifest = json.loads((tmp_path / "results" / cfg.release / "phenotypes" / "_manifest.json").read_text())
    # trials: person 1 four, 2 two, 4 one, 5 one, 6 two (the third is after the cutoff)
    assert manifest["tables"] == {"persons": 8, "antidepressant_trials": 10, "phenotypes": 24, "cohort_flow": 33}
    assert manifest["inputs"]["omop"]["exists"] is True
    # study drug records: 13 rows, one (citalopram, 2023-08-01) after the cutoff
    drug_dates = manifest["notes"]["study_event_dates"]["drug"]
    assert (drug_dates["n_records"], drug_dates["n_after_followup_end"], drug_dates["n_kept"]) == (13, 1, 12)
    flow = spark.read.parquet(f"{stage}/cohort_flow.parquet")
    assert flow.where("definition = 'ad3' and step = 'TRD'").first().n == 1
    assert flow.where("definition = 'all' and step = 'all_persons'").first().n == 8
