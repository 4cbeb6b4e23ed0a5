"""Mutation review of session 30's code (session 31 helper "review"): each test here fails on a
hand mutant of session 30's code that every existing test let pass, and passes on HEAD.

The mutants (one each, in a copy of the tree) and the tests that now catch them:
- worker_daemon.main keeping the dropped archives' importers in ``sys.path_importer_cache``
  (each task's ``importlib.invalidate_caches()`` re-reads every cached zipimporter's archive
  directory, so the per-task cost 55f6c1f removed comes back with nothing on ``sys.path``):
  ``test_a_local_worker_caches_no_importer_of_sparks_archives``.
- covariates.check_age_ranges refusing from -1 or above 121 years only (9bbc0b8's bounds are
  0..120 inclusive): ``test_the_models_age_bounds_are_0_and_120_inclusive``.
- pgs stage check_ft_failed warning above ``pgs.ft_failed_warn`` only (the key and the message
  say "at or above"), or deciding a hidden count on the least count of its label (the WARNING
  must be decided on the largest share a count of the label leaves, as gates.py's person gates
  do, and say so): ``test_the_ft_warning_is_at_or_above_the_level`` and
  ``test_a_hidden_ft_count_warns_when_its_label_can_reach_the_level``.
"""

from __future__ import annotations

import logging
import os
import re
import types

import pytest

from trd_spark.errors import ModelError


def test_a_local_worker_caches_no_importer_of_sparks_archives(spark):
    """A task of the shared session (local master: ``trd_spark.worker_daemon``): no entry of the
    worker's ``sys.path_importer_cache`` is, or lies inside, an archive under SPARK_HOME.
    ``importlib.invalidate_caches()`` (pyspark's worker, before every task) calls every cached
    finder's ``invalidate_caches``, and Python 3.11's zipimporter re-reads its whole archive
    directory then: a zipimporter left in the cache costs the task what an archive on
    ``sys.path`` did, though ``sys.path`` no longer lists it (mutant: the daemon drops the
    archives from ``sys.path`` but keeps their cached importers)."""
    def worker_view(_):  # local: pickled by value (a worker cannot import this test module)
        import os
        import sys

        return list(sys.path_importer_cache), os.environ.get("SPARK_HOME")

    cached, spark_home = spark.sparkContext.parallelize([0], 1).map(worker_view).collect()[0]
    assert spark_home, "Spark gives its workers SPARK_HOME"
    home = os.path.realpath(spark_home) + os.sep
    # A zipimporter's key is its archive, or a package directory inside it (``.../pyspark.zip/pyspark``).
    archives = {m.group(1) for k in cached if (m := re.match(r"^(.*?\.(?:zip|jar))(?:/.*)?$", k))}
    assert sorted(a for a in archives if os.path.realpath(a).startswith(home)) == []


@pytest.mark.parametrize(("ranges", "refused"), [
    ({"age": (0.0, 120.0), "age_at_index": (18.0, 120.0)}, None),
    ({"age": (None, None)}, None),
    ({"age": (-0.01, 50.0)}, "age"),
    ({"age_at_index": (18.0, 120.01)}, "age_at_index"),
], ids=["bounds_inclusive", "no_value", "just_below_0", "just_above_120"])
def test_the_models_age_bounds_are_0_and_120_inclusive(ranges, refused):
    """``covariates.check_age_ranges``: an age of exactly 0 or 120 years is plausible (the
    phenotype stage keeps a person aged 120.0 at the end of observation, born 1903-07-01 at a
    2023-07-01 cutoff: test_phenotypes_implausible_birth's person 8); just below 0 or just above
    120 is one ModelError naming the analysis frame's column. The existing model test used -76
    and 219 only, which a bound moved by a year or more let through."""
    from trd_spark.models.covariates import check_age_ranges

    if refused is None:
        check_age_ranges(ranges)
        return
    with pytest.raises(ModelError, match=rf"^cohort/analysis_frame\.{refused}: age outside 0\.\.120 years"):
        check_age_ranges(ranges)


def _ft(failed: int, n_samples: int):
    """A dataset's matches as ``stage.check_ft_failed`` reads them: its name and FT count (one
    score of one matched variant: ``n_samples`` scored calls)."""
    from trd_spark.pgs.scoring import FtFailedCalls

    return types.SimpleNamespace(dataset="d", ft_failed=FtFailedCalls.of(["PGS000001"], [failed], [1], n_samples))


def _ft_records(caplog, r) -> list[logging.LogRecord]:
    from trd_spark.config import load_config
    from trd_spark.pgs import stage

    cfg = load_config()
    assert (cfg.pgs.ft_failed_warn, cfg.report.small_count_threshold) == (0.05, 20)
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, r)
    return [rec for rec in caplog.records if rec.name == "trd_spark.pgs.stage"]


@pytest.mark.parametrize(("failed", "level"), [(100, logging.WARNING), (99, logging.INFO)])
def test_the_ft_warning_is_at_or_above_the_level(caplog, failed, level):
    """100 FT-failed calls of 2,000 is exactly ``pgs.ft_failed_warn`` 0.05: a WARNING ("at or
    above", as the config key's comment and the message say); 99 (4.95%) an INFO line."""
    records = _ft_records(caplog, _ft(failed, 2000))
    assert [rec.levelno for rec in records] == [level]
    assert f"FT failed {100 * failed / 2000:.1f}% of the scored calls" in records[0].getMessage()


def test_a_hidden_ft_count_warns_when_its_label_can_reach_the_level(caplog):
    """3 FT-failed calls of 100: shown as its label (<20), whose counts 1..19 give 1%..19%. The
    WARNING is decided on the largest (19% >= 5%), never on the hidden count or the least of
    the label (1%: no warning), which would tell more of the count than its label; its text says
    that a count read as its label can reach the level, and gives no share."""
    records = _ft_records(caplog, _ft(3, 100))
    assert [rec.levelno for rec in records] == [logging.WARNING]
    text = records[0].getMessage()
    assert "FT failed <20 of the scored calls" in text
    assert "which a count read as its label can reach" in text
    assert "3.0%" not in text and "0.03" not in text
