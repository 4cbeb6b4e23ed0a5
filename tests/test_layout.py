"""Stage outputs are published atomically with a manifest; a failed stage leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.io import Fs
from trd_spark.layout import Layout, publish_stage


@pytest.fixture()
def cfg(tmp_path):
    return load_config(overrides={"output_root": str(tmp_path / "results"), "release": "r1"})


def test_publish_writes_tables_manifest_and_marker(spark, cfg, tmp_path):
    with publish_stage(spark, cfg, "cohort") as out:
        out.write_table("numbers", spark.range(5))
        out.write_text("hello.txt", "hi\n")
        out.notes["k"] = "v"
    stage = Path(cfg.output_root) / "r1" / "cohort"
    assert (stage / "_SUCCESS").exists()
    manifest = json.loads((stage / "_manifest.json").read_text())
    assert manifest["tables"] == {"numbers": 5}
    assert manifest["files"] == ["hello.txt"]
    assert manifest["config_hash"] == cfg.fingerprint()
    assert manifest["versions"]["hail"].startswith("0.2.139")
    assert (stage / "hello.txt").read_text() == "hi\n"
    assert spark.read.parquet(str(stage / "numbers.parquet")).count() == 5
    assert Layout.of(cfg).is_complete(Fs(spark), "cohort")
    # Nothing left behind but the stage itself.
    assert sorted(p.name for p in (Path(cfg.output_root) / "r1").iterdir()) == ["cohort"]


def test_failed_stage_leaves_no_output_and_keeps_previous(spark, cfg):
    with publish_stage(spark, cfg, "models") as out:
        out.write_table("t", spark.range(3))
    with pytest.raises(RuntimeError, match="boom"):
        with publish_stage(spark, cfg, "models") as out:
            out.write_table("t", spark.range(7))
            raise RuntimeError("boom")
    release = Path(cfg.output_root) / "r1"
    assert sorted(p.name for p in release.iterdir()) == ["models"]
    assert spark.read.parquet(str(release / "models" / "t.parquet")).count() == 3


def test_republish_replaces_previous(spark, cfg):
    for n in (2, 4):
        with publish_stage(spark, cfg, "report") as out:
            out.write_table("t", spark.range(n))
    release = Path(cfg.output_root) / "r1"
    assert spark.read.parquet(str(release / "report" / "t.parquet")).count() == 4
    assert sorted(p.name for p in release.iterdir()) == ["report"]


def test_fingerprint_sees_changes(spark, tmp_path):
    fs = Fs(spark)
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.txt").write_text("x")
    before = fs.fingerprint(str(d))
    (d / "b.txt").write_text("yy")
    after = fs.fingerprint(str(d))
    assert before["files"] == 1 and after["files"] == 2 and after["bytes"] == 3
    assert fs.fingerprint(str(tmp_path / "absent")) == {"path": str(tmp_path / "absent"), "exists": False}


def test_progress_lines_hide_small_row_counts_of_person_tables_only(spark, cfg, caplog):
    """'wrote <table>, N rows': a table whose rows are persons (PERSONS has person_id) or that
    has no declared schema shows 1-19 rows as '<20'; a flow / count table (COHORT_FLOW) counts
    steps, not persons, and shows its row count plainly, as the run summary does."""
    import logging

    import pandas as pd

    from trd_spark.schemas import COHORT_FLOW, PERSONS

    caplog.set_level(logging.INFO, logger="trd_spark")
    flow = pd.DataFrame({c: pd.Series([None] * 3, dtype="object") for c in COHORT_FLOW.names})
    flow["n"] = [1, 2, 3]
    persons = pd.DataFrame({c: pd.Series([None] * 5, dtype="object") for c in PERSONS.names})
    persons["person_id"] = [1, 2, 3, 4, 5]
    with publish_stage(spark, cfg, "phenotypes") as out:
        out.write_pandas("cohort_flow", flow, COHORT_FLOW)
        out.write_pandas("persons", persons, PERSONS)
        out.write_table("undeclared", spark.range(7))
    wrote = [r.getMessage() for r in caplog.records if ": wrote " in r.getMessage()]
    assert any(m.startswith("phenotypes: wrote cohort_flow, 3 rows") for m in wrote), wrote
    assert any(m.startswith("phenotypes: wrote persons, <20 person-level rows, exact count not logged") for m in wrote), wrote
    assert any(m.startswith("phenotypes: wrote undeclared, <20 person-level rows") for m in wrote), wrote
