"""Stale reruns, session 45 (helper "rerun38"): a run of downstream stages only.

A stage run without its upstream stages (``trd-spark cohort``, ``run --stages cohort models
report``) compared its upstream's run id alone: an upstream stage out of date (an OMOP part
changed since phenotypes published; its code or config changed) keeps its run id, so the
downstream stages said "up to date, skipped" of results computed from the old data, while
``explain`` and ``releases`` said the release was outdated. Such a run is now refused naming the
stale stage (``pipeline._check_left_out_current``). Stages published with the real
``publish_stage`` on small inputs (test_pipeline_rerun's ``published_in``).
"""

from __future__ import annotations

import pytest
from test_pipeline_rerun import published_in

from trd_spark.errors import ConfigError
from trd_spark.pipeline import run_stages, skip_all_without_spark, upstream_closure


def test_a_downstream_only_run_refuses_an_upstream_stage_out_of_date(spark, tmp_path):
    """After an OMOP part changed (phenotypes out of date, its run id as before): ``run --stages
    cohort models report`` and ``trd-spark models`` (with and without Spark, ``--force`` too) stop
    with one error naming phenotypes and the changed input; a run including phenotypes goes on.
    On 163d5e1 the no-Spark path returned three "skipped" results (and Spark's, "skipped" too)."""
    cfg = published_in(spark, tmp_path)
    assert upstream_closure(["models"]) == ["pgs", "phenotypes", "cohort"]
    assert skip_all_without_spark(cfg, ["cohort", "models", "report"]) is not None  # all current: skipped
    (tmp_path / "inputs" / "omop" / "person.parquet").write_text("person, another export\n")
    for stages in (["cohort", "models", "report"], ["models"]):
        with pytest.raises(ConfigError, match=r"computed by the phenotypes stage, which is out of date \(input omop\.path"
                                              r" changed .*person\.parquet changed\)"):
            skip_all_without_spark(cfg, stages)
        with pytest.raises(ConfigError, match="phenotypes stage, which is out of date"):
            run_stages(spark, cfg, stages, force=True)
    assert skip_all_without_spark(cfg, ["phenotypes", "cohort", "models", "report"]) is None  # it must run
