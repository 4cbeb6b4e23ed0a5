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
