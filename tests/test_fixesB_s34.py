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
