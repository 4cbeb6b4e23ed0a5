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
