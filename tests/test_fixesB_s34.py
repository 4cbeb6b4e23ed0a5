"""Session 34's fresh reader's findings on compare-releases and the run-start checks (fixesB).

Light tests on the session fixture and test_pipeline_rerun's toy config: no stage runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline_rerun import _config

from trd_spark.config import load_config


@pytest.mark.parametrize("key", ["spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles"])
def test_compare_releases_refuses_a_session_that_skips_unreadable_files(spark, tmp_path, monkeypatch, key):
    """compare-releases reads both releases' scores through Spark's file sources (n_both, the
    correlations): with a skipping setting from spark-defaults.conf or --conf, which the config
    never sees, a part it could not read was left out with no count. Refused before anything is
    compared or written, as the run is (``pipeline.run_stages``)."""
    from trd_spark.errors import ConfigError
    from trd_spark.report import compare

    cfg = load_config(_config(tmp_path))
    compared = []
    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", lambda *args: compared.append(args))
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)
    spark.conf.set(key, "true")
    try:
        with pytest.raises(ConfigError, match=f"{key}: true in the Spark session, set in .* is refused"):
            compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
    finally:
        spark.conf.unset(key)
    assert compared == []
    assert not (Path(cfg.output_root) / "compare").exists()


def test_which_scored_persons_a_report_shows_is_read_through_the_checked_record(tmp_path):
    """``scored_persons_shown`` parsed the report manifest's hidden_counts by hand (entries of 6
    fields), so a record of a newer format read as "shows none" with no word. It now goes through
    ``tables.checked_hidden_counts``: a format this version does not know is one InputDataError
    naming the manifest; a known one reads as before (the datasets whose scored persons are shown
    as a number, whatever else the record holds)."""
    import json

    from trd_spark.errors import InputDataError
    from trd_spark.layout import Layout
    from trd_spark.releases import LocalFs
    from trd_spark.report.compare import scored_persons_shown
    from trd_spark.report.tables import HIDDEN_COUNTS_FORMAT

    cfg = load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    lay = Layout.of(cfg)
    folder = tmp_path / "r1" / "report"
    folder.mkdir(parents=True)
    entries = [["flow", "all", "genotyped", 1290],
               ["report_shows", "dflow", "discovery", "all", "genotyped persons with PGS", "1290"],
               ["report_shows", "dflow", "tiny", "all", "genotyped persons with PGS", "<20"],
               ["report_shows", "dflow", "other", "all", "after removing related persons", "1026"]]
    for version, expected in ((None, {"discovery"}), (HIDDEN_COUNTS_FORMAT, {"discovery"}),
                              (HIDDEN_COUNTS_FORMAT + 1, None)):
        notes = {"hidden_counts": entries, **({} if version is None else {"hidden_counts_format": version})}
        (folder / "_manifest.json").write_text(json.dumps({"notes": notes}))
        if expected is None:
            with pytest.raises(InputDataError, match=f"format {version}") as err:
                scored_persons_shown(LocalFs(), lay)
            assert str(folder / "_manifest.json") in str(err.value)
        else:
            assert scored_persons_shown(LocalFs(), lay) == expected


class _ObjectStore:
    """A gs:// bucket for ``check_audit_roots(uris=True)``: ``gs://bucket/...`` served from a local
    folder through ``LocalFs`` (what ``layout.audit_root_problem`` reads: exists, listdirs), every
    path asked recorded; a local path asked of it is a fault (URIs only, once Spark is up)."""

    def __init__(self, folder):
        from trd_spark.releases import LocalFs

        self.folder, self.local, self.asked = folder, LocalFs(), []

    def _path(self, path: str) -> str:
        assert path.startswith("gs://bucket"), f"asked a local path of the object store: {path}"
        self.asked.append(path)
        return str(self.folder) + path[len("gs://bucket"):]

    def exists(self, path: str) -> bool:
        return self.local.exists(self._path(path))

    def listdirs(self, path: str) -> list[str]:
        return self.local.listdirs(self._path(path))


def test_uri_audit_roots_are_checked_once_spark_is_up_and_local_ones_before(tmp_path):
    """``check_audit_roots(uris=True)`` (``pipeline.run_stages``, on the session's file system)
    checks the gs:// / hdfs:// roots only: a missing bucket folder or one holding no export is one
    ConfigError naming it; one holding a release's complete export passes. ``uris=False``
    (``check_inputs``, before Spark: a LocalFs) checks the local roots only, never asking the
    object store. No report among the stages: nothing is checked."""
    from trd_spark.errors import ConfigError
    from trd_spark.preflight import check_audit_roots
    from trd_spark.releases import LocalFs

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    local_root = tmp_path / "local_outputs"
    (local_root / "r0" / "export").mkdir(parents=True)
    (local_root / "r0" / "export" / "_SUCCESS").write_text("")
    base = load_config(_config(tmp_path / "cfg"))

    def with_roots(*roots: str):
        return base.model_copy(update={"report": base.report.model_copy(update={"audit_output_roots": list(roots)})})

    store = _ObjectStore(bucket)
    cfg = with_roots(str(local_root), "gs://bucket/outputs")
    with pytest.raises(ConfigError, match="report.audit_output_roots: gs://bucket/outputs does not exist"):
        check_audit_roots(cfg, ["report"], store, uris=True)
    (bucket / "outputs" / "r1" / "report").mkdir(parents=True)
    with pytest.raises(ConfigError, match="gs://bucket/outputs holds no export"):
        check_audit_roots(cfg, ["report"], store, uris=True)
    (bucket / "outputs" / "r1" / "export").mkdir()
    (bucket / "outputs" / "r1" / "export" / "_SUCCESS").write_text("")
    check_audit_roots(cfg, ["report"], store, uris=True)
    assert store.asked and all(p.startswith("gs://bucket/outputs") for p in store.asked)

    # Before Spark: the local roots only (the gs:// one is not asked of a LocalFs).
    check_audit_roots(cfg, ["report"], LocalFs())
    with pytest.raises(ConfigError, match=f"{tmp_path / 'absent'} does not exist"):
        check_audit_roots(with_roots(str(tmp_path / "absent"), "gs://bucket/outputs"), ["report"], LocalFs())
    store.asked.clear()
    check_audit_roots(with_roots("gs://bucket/absent"), ["pgs", "cohort"], store, uris=True)
    assert store.asked == []


def test_the_duckdb_twin_refuses_an_export_without_the_configured_death_table(tmp_path):
    """The DuckDB oracle (benchmarks/duckdb_phenotypes.py) reads deaths from ``omop.death_table``:
    an export without the configured ``aou_death`` is one FileNotFoundError naming the folder, the
    table and the setting, not a run with no deaths (its answer would then silently differ from
    the pipeline's, which refuses such an export: test_field_cases_round25_omop); nothing is
    written. With the CDM's ``death`` configured and absent, no deaths (a CDM may have none)."""
    from test_field_cases_round25_omop import _write_omop
    from test_phenotypes_support import toy_config

    from benchmarks.duckdb_phenotypes import duckdb_phenotypes

    bare = tmp_path / "bare"
    bare.mkdir()
    _write_omop(bare, with_aou_death=False)
    out = tmp_path / "duck.parquet"
    with pytest.raises(FileNotFoundError, match=r"bare: no aou_death table \(omop.death_table\)"):
        duckdb_phenotypes(str(bare), toy_config(path=str(bare), death_table="aou_death"), str(out))
    assert not out.exists()
    (bare / "death.parquet").unlink()
    assert duckdb_phenotypes(str(bare), toy_config(path=str(bare), death_table="death"), str(out)) > 0
