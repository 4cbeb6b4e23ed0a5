"""The models stage (``pipeline.run_stage``): analysis frame parquet in, logistic/cox parquet + TSV published."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from models_sim import PGS_IDS, make_config, simulate_frame, to_spark

from trd_spark.errors import InputDataError
from trd_spark.layout import Layout, publish_stage
from trd_spark.models.logistic import contrast_frame, fit_logistic
from trd_spark.pipeline import run_stage
from trd_spark.schemas import (
    CONSISTENCY,
    COX_RESULTS,
    COX_RESULTS_COLUMNS,
    DIFFERENCE,
    KM_CURVES,
    LOGISTIC_RESULTS,
    LOGISTIC_RESULTS_COLUMNS,
    META,
    REPLICATION,
    check_spark,
)


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("models_stage"))
    frame = simulate_frame(seed=5, n=250, datasets=("discovery", "replication_wgs"))
    # One PGS without variance in one dataset: its fits fail and must be stored as rows.
    frame.loc[frame.dataset == "replication_wgs", "PGS900010"] = 0.0
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, frame))
    written = run_stage(spark, cfg, "models")
    return cfg, frame, written


def test_tables_have_schema_columns_and_one_row_per_fit(spark, published):
    cfg, frame, written = published
    layout = Layout.of(cfg)
    logistic = spark.read.parquet(layout.table("models", "logistic")).toPandas()
    cox = spark.read.parquet(layout.table("models", "cox")).toPandas()
    assert list(logistic.columns) == LOGISTIC_RESULTS_COLUMNS
    assert list(cox.columns) == COX_RESULTS_COLUMNS
    assert written["logistic"] == 2 * 4 * len(PGS_IDS) and written["cox"] == 2 * len(PGS_IDS)
    assert written["difference"] == 2 * len(PGS_IDS) and written["meta"] == 4 * len(PGS_IDS)
    assert written["consistency"] == 0  # one definition: nothing to compare
    assert written["km_curves"] > 0
    assert len(logistic) == written["logistic"] and len(cox) == written["cox"]


def test_parquet_types_match_the_declared_schemas_and_failed_fits_are_null(spark, published):
    cfg, _, _ = published
    layout = Layout.of(cfg)
    logistic = check_spark(spark.read.parquet(layout.table("models", "logistic")), LOGISTIC_RESULTS)
    check_spark(spark.read.parquet(layout.table("models", "cox")), COX_RESULTS)
    failed = logistic.filter(~logistic.converged)
    assert failed.count() == 4  # PGS900010 in replication_wgs, one per contrast
    assert failed.filter(failed.pgs_id != "PGS900010").count() == 0
    assert failed.filter(failed.beta.isNull() & failed.p.isNull() & failed.q_fdr.isNull()).count() == 4
    assert {r.note for r in failed.select("note").collect()} == {"PGS has zero variance"}


def test_published_estimate_equals_the_direct_fit(spark, published):
    cfg, frame, _ = published
    logistic = spark.read.parquet(Layout.of(cfg).table("models", "logistic")).toPandas()
    row = logistic[(logistic.dataset == "replication_wgs") & (logistic.contrast == "trd_vs_nonmdd")
                   & (logistic.pgs_id == "PGS900004")]
    sub = contrast_frame(frame[frame.dataset == "replication_wgs"], "trd_vs_nonmdd")
    ref = fit_logistic(sub, "PGS900004", ["age", "sex_female", "pc1", "pc2"])
    assert row["beta"].item() == pytest.approx(ref["beta"], rel=1e-9)
    assert row["n_cases"].item() == ref["n_cases"]


def test_tsv_copies_and_manifest(published):
    cfg, _, _ = published
    layout = Layout.of(cfg)
    tsv = pd.read_csv(layout.file("models", "logistic.tsv"), sep="\t")
    assert list(tsv.columns) == LOGISTIC_RESULTS_COLUMNS and len(tsv) == 2 * 4 * len(PGS_IDS)
    assert list(pd.read_csv(layout.file("models", "cox.tsv"), sep="\t").columns) == COX_RESULTS_COLUMNS
    manifest = json.loads(open(layout.file("models", "_manifest.json")).read())
    assert set(manifest["tables"]) == {"logistic", "cox", "difference", "replication", "meta", "consistency",
                                       "km_curves"}
    assert manifest["notes"]["logistic_failed"] == int((~tsv["converged"]).sum())


def test_new_tables_have_the_declared_types(spark, published):
    cfg, _, written = published
    layout = Layout.of(cfg)
    for schema in (DIFFERENCE, REPLICATION, META, CONSISTENCY, KM_CURVES):
        df = check_spark(spark.read.parquet(layout.table("models", schema.name)), schema)
        assert df.count() == written[schema.name]
    rep = spark.read.parquet(layout.table("models", "replication")).toPandas()
    assert set(rep["dataset"]) <= {"replication_wgs"}


def test_missing_analysis_frame_is_an_input_error(spark, tmp_path):
    cfg = make_config(tmp_path)
    with pytest.raises(InputDataError, match="analysis frame not found"):
        run_stage(spark, cfg, "models")
