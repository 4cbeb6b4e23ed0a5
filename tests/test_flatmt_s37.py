"""Session 37 flatmt (issue 16, hail-mt route): a local MatrixTable scored from its own entry
files gets the stage's weights deferred, as a bed/pgen pass does: ``stage.score_dataset`` hands
``engine.score`` a ``matching.DeferredWeights``, ``engine._score_entries`` places its rows without
building it, and ``pgen_engine.score`` submits the job on the rows alone and builds the matrices
while the tasks open the part files and read their first block (``native_task.WeightsGate``).
Before, the MatrixTable's weights were built before the job (~50 ms of the 2.5k score phase's
~0.1 s before its job; benchmarks/RESULTS.md, session 37 flatmt), and ``_score_entries`` could
not take a ``DeferredWeights`` at all (``dataclasses.replace`` of it raised TypeError).

Real Spark and Hail on the 3-sample MatrixTable of tests/test_pgs_genotypes.py
(``UNPHASED_MT_VCF``: its calls read by ``mt_entries``, nothing exported)."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from test_pgs_genotypes import AUTOSOMAL_SCORE, DECODED, UNPHASED_MT_VCF, _export_config

from trd_spark.pgs.matching import DeferredWeights


@pytest.fixture(scope="module")
def mt_case(hl, spark, tmp_path_factory):
    """The MatrixTable dataset's config and its matched rows (``stage.match_dataset``)."""
    from trd_spark.config import load_config
    from trd_spark.pgs import stage

    cfg = load_config(_export_config(tmp_path_factory.mktemp("mt37"), UNPHASED_MT_VCF, AUTOSOMAL_SCORE, hl=hl))
    return cfg, stage.match_dataset(hl, spark, cfg, "export_vcf", stage.load_scoring_files(spark, cfg, "GRCh38"))


@pytest.fixture(scope="module")
def plain_rows(hl, spark, mt_case):
    """The MatrixTable's score rows with its weights built before the pass (never deferred)."""
    cfg, r = mt_case
    with pytest.MonkeyPatch.context() as monkeypatch:
        rows = _scored(hl, spark, cfg, r, monkeypatch, False)
    assert len(rows) == 2 * 3
    return rows


def _scored(hl, spark, cfg, r, monkeypatch, defer: bool | None, watch: dict | None = None) -> pd.DataFrame:
    """``stage.score_dataset`` of the MatrixTable with a scratch dir (its entry files read by the
    native pass) as the score rows' columns; ``defer`` None: as the stage decides, else forced.
    ``watch``: filled with the weights the stage built and, during their build, whether a pass
    task was running and whether the gate's ready mark existed."""
    from trd_spark.pgs import pgen_engine, stage
    from trd_spark.pgs.native_task import WEIGHTS_READY

    real = stage.weight_matrices
    tracker = spark.sparkContext.statusTracker()

    def recorded(*a, **k):
        if defer is not None:
            k["defer"] = defer
        weights = real(*a, **k)
        if watch is not None:
            watch["weights"] = weights
            if isinstance(weights, DeferredWeights):
                build = weights._build
                assert build is not None

                def watched():
                    # Until a task of the pass runs (they wait at the gate for this build), at most 60 s.
                    running = 0
                    for _ in range(3000):
                        running = sum(info.numActiveTasks for info in
                                      map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None)
                        if running:
                            break
                        time.sleep(0.02)
                    watch["running"] = running
                    watch["ready"] = os.path.exists(os.path.join(weights.directory or "", "weights", WEIGHTS_READY))
                    return build()

                object.__setattr__(weights, "_build", watched)
        return weights

    monkeypatch.setattr(stage, "weight_matrices", recorded)
    try:
        with stage.scoring_scratch(hl, spark, cfg) as scratch:
            scored = stage.score_dataset(hl, cfg, r, scratch)
    finally:
        monkeypatch.setattr(stage, "weight_matrices", real)
    assert isinstance(scored, pgen_engine.SummedScores)
    return pd.DataFrame(scored.columns())


def test_a_matrixtables_weights_are_built_while_its_entry_pass_runs(hl, spark, mt_case, plain_rows, monkeypatch,
                                                                    caplog):
    """The stage defers a local MatrixTable's weights when its entry files may be read
    (``stage.entry_files_scored``); the pass over them builds the matrices while its tasks are
    running (held by the gate: no ready mark yet), reads the calls from the entry files (no
    export), and its rows equal those of the same pass with the weights built first, exactly.
    Fails on 45f9cc3: the stage built them first (a ``WeightMatrices``, no task running)."""
    import logging

    cfg, r = mt_case
    watch: dict = {}
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.engine"):
        got = _scored(hl, spark, cfg, r, monkeypatch, None, watch)
    assert DECODED in caplog.text  # the entry files' pass, not the export
    assert isinstance(watch["weights"], DeferredWeights) and watch["weights"].is_built
    assert watch["running"] >= 1 and watch["ready"] is False, watch
    pd.testing.assert_frame_equal(got, plain_rows)


def test_the_entry_pass_takes_deferred_weights_already_built(hl, spark, mt_case, plain_rows, monkeypatch):
    """``engine._score_entries`` given a ``DeferredWeights`` whose matrices are built already (a
    reader looked at one first) places its rows on the built matrices: the same rows as weights
    never deferred. Fails on 45f9cc3 (``dataclasses.replace`` of a DeferredWeights: TypeError)."""
    from trd_spark.pgs import stage

    cfg, r = mt_case
    real = stage.weight_matrices

    def built_first(*a, **k):
        weights = real(*a, **{**k, "defer": True})
        assert isinstance(weights, DeferredWeights)
        weights.built()
        return weights

    monkeypatch.setattr(stage, "weight_matrices", built_first)
    with stage.scoring_scratch(hl, spark, cfg) as scratch:
        got = pd.DataFrame(stage.score_dataset(hl, cfg, r, scratch).columns())
    pd.testing.assert_frame_equal(got, plain_rows)
