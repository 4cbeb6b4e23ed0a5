"""Session 38 flatbed helper (issue 16): a gated native pass's score-row totals are computed
while its tasks run, not before the gate lets them go on.

``pgen_engine.score`` builds the stage's deferred weights (``matching.DeferredWeights``) while the
pass's tasks wait at ``native_task.WeightsGate``; the score rows' totals (per score the offsets'
and n_vars' column sums: ``WeightMatrices.offset_total``) are not read by the tasks, so they are
summed after the gate opened (``_collect_while``'s ``then``), off the tasks' wait. Real passes on
the native engine's toy fileset (test_pgs_native_engine's fixtures), real Spark tasks.
"""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from test_pgs_native_engine import GATED, _first_score_pass, files, scoring_files  # noqa: F401 (fixtures)

from trd_spark.pgs import pgen_engine
from trd_spark.pgs.matching import WeightMatrices
from trd_spark.pgs.native_task import WEIGHTS_READY, WeightsGate


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_score_row_totals_are_summed_after_the_gate_lets_the_tasks_go(hl, spark, scoring_files, files,  # noqa: F811
                                                                      monkeypatch, missing_genotypes):
    """In a gated pass the gate opens (the weights' files written, the ready mark made) before
    any offset total is summed, and the rows equal those of the weights built first in memory,
    exactly. On 5f00ae0 the totals were summed inside the build, before the gate opened."""
    events: list[tuple[str, bool]] = []
    opened = WeightsGate.open
    total = WeightMatrices.offset_total

    def open_(self):
        opened(self)
        events.append(("open", True))

    def offset_total(self, order=None):
        ready = self.directory is not None and os.path.exists(os.path.join(self.directory, "weights", WEIGHTS_READY))
        events.append(("offset_total", ready))
        return total(self, order)

    with pgen_engine.pass_directory(spark) as directory:
        fileset, samples, ids, n_matched, in_memory, deferred = _first_score_pass(hl, spark, scoring_files, files,
                                                                                  directory)
        want = pd.DataFrame(pgen_engine.score(spark, hl, fileset, "GRCh38", in_memory, samples, ids, n_matched,
                                              missing_genotypes=missing_genotypes, settings=GATED).columns())
        monkeypatch.setattr(WeightsGate, "open", open_)
        monkeypatch.setattr(WeightMatrices, "offset_total", offset_total)
        got = pd.DataFrame(pgen_engine.score(spark, hl, fileset, "GRCh38", deferred, samples, ids, n_matched,
                                             missing_genotypes=missing_genotypes, settings=GATED).columns())
    names = [name for name, _ in events]
    assert names and names[0] == "open" and "offset_total" in names, events
    assert all(ready for name, ready in events if name == "offset_total"), events
    pd.testing.assert_frame_equal(got, want)


def _slow(seconds: float):
    def task(it):
        time.sleep(seconds)
        return list(it)
    return task


def test_a_failure_after_the_gate_opened_cancels_the_job_and_propagates(spark, tmp_path):
    """``_collect_while``'s ``then`` (the totals, computed while the tasks run) raising: its own
    error propagates, the job's group is cancelled and the call returns only after the job
    ended, so the caller's cleanup never removes the pass's directory under running tasks.
    On 5f00ae0 ``_collect_while`` took no ``then`` (TypeError)."""
    sc = spark.sparkContext
    tracker = sc.statusTracker()
    assert not tracker.getActiveJobsIds()
    rdd = sc.parallelize(range(2), 2).mapPartitions(_slow(60.0))

    def then():
        # The job is out and its tasks run (the gate is open) when the totals fail.
        for _ in range(1000):
            if tracker.getActiveJobsIds():
                break
            time.sleep(0.02)
        raise ValueError("the totals failed")

    started = time.monotonic()
    try:
        with pytest.raises(ValueError, match="the totals failed"):
            pgen_engine._collect_while(sc, rdd, str(tmp_path), lambda: None, then)
        assert os.path.exists(tmp_path / WEIGHTS_READY)  # the gate had opened
        while tracker.getActiveJobsIds() and time.monotonic() - started < 20:
            time.sleep(0.2)  # (the tracker learns of the job's end through the listener bus: a little late)
        assert not tracker.getActiveJobsIds()
        assert time.monotonic() - started < 40  # cancelled, not waited out (its tasks sleep 60 s)
    finally:
        sc.cancelAllJobs()  # (always; it matters on a failure: the job would keep the workers for a minute)
