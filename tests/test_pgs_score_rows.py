"""The native pass's score rows without Hail (``pgen_engine.SummedScores``): the stage's Parquet
rows from the numpy sums are the hand-computed ones, row for row and in the schema of the Hail
route's (``scoring.scores_frame``, how the stage publishes Hail's pass), and
``scoring.check_score_rows`` refuses what ``check_score_table`` refuses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.matching import pandas_to_spark
from trd_spark.pgs.scoring import check_score_rows, scores_frame
from trd_spark.schemas import PGS_SCORES


def summed(n_matched: list[int]) -> pgen_engine.SummedScores:
    """3 persons x 2 scores, summed on the driver; pgs_ids out of sorted order, as a scoring-file
    glob may give them."""
    rows = pgen_engine._ScoreRows(np.array(["103", "101", "102"], dtype=object), ["PGS2", "PGS1"],
                                  np.array(n_matched, dtype=np.int64), offset_total=np.array([0.5, -1.0]),
                                  n_vars_total=np.array([4.0, 3.0]), sample_slice=3)
    part = np.array([[1.25, -0.5, 0.0], [2.0, 0.75, -3.5]])  # k x n: slope x dosage
    missing_vars = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])  # n_vars of the missing calls
    return pgen_engine.SummedScores(rows, part, missing_vars)


# summed([2, 0])'s rows by hand: score_sum = part + offset_total; called = n_vars_total -
# missing_vars; allele_count = 2 x called; n_missing = n_matched - called (what the sums say,
# unchecked here); score_avg = score_sum / (2 n_matched), null for PGS1 (matched nothing).
# (person_id, pgs_id): (score_sum, allele_count, score_avg, n_missing, n_matched)
HAND_ROWS = {
    (103, "PGS2"): (1.75, 8, 0.4375, -2, 2), (101, "PGS2"): (0.0, 6, 0.0, -1, 2),
    (102, "PGS2"): (0.5, 8, 0.125, -2, 2),
    (103, "PGS1"): (1.0, 2, None, -1, 0), (101, "PGS1"): (-0.25, 6, None, -3, 0),
    (102, "PGS1"): (-4.5, 6, None, -3, 0),
}


def test_parquet_rows_from_numpy_are_the_hand_computed_rows_in_the_hail_routes_schema(spark, hl):
    """Every column of every row as computed by hand (score_avg null where the score matched
    nothing, as Hail's or_missing gives it), in file order, sample-major; the schema the Hail
    route's rows (``scoring.scores_frame`` of the same rows as a Hail Table) have: the stage
    publishes either into one table."""
    scores = summed([2, 0])
    got = pandas_to_spark(spark, scores.frame("ds")[PGS_SCORES.names], PGS_SCORES.struct)
    hail_rows = hl.Table.parallelize(
        [{"s": str(p), "pgs_id": g, "score_sum": v[0], "allele_count": v[1], "score_avg": v[2], "n_missing": v[3],
          "n_matched": v[4]} for (p, g), v in HAND_ROWS.items()],
        hl.tstruct(s=hl.tstr, pgs_id=hl.tstr, score_sum=hl.tfloat64, allele_count=hl.tint64, score_avg=hl.tfloat64,
                   n_missing=hl.tint64, n_matched=hl.tint64))
    assert got.schema == scores_frame(hl, hail_rows, "ds").schema
    rows = got.collect()
    assert [(r.person_id, r.pgs_id) for r in rows] == [(103, "PGS2"), (103, "PGS1"), (101, "PGS2"), (101, "PGS1"),
                                                       (102, "PGS2"), (102, "PGS1")]
    assert {r.dataset for r in rows} == {"ds"}
    assert {(r.person_id, r.pgs_id): (r.score_sum, r.allele_count, r.score_avg, r.n_missing, r.n_matched)
            for r in rows} == HAND_ROWS


@pytest.mark.parametrize(("change", "problem"), [
    (lambda f: pd.concat([f, f.iloc[[0]]]), "repeated (sample, pgs_id) rows"),
    (lambda f: f.assign(n_missing=f["n_missing"].where(f.index != 2, -1)), "rows with n_missing < 0"),
    (lambda f: f.assign(allele_count=f["allele_count"].where(f.index != 3, 99)), "rows with allele_count > 2 x n_matched"),
    (lambda f: f.assign(score_sum=f["score_sum"].where(f.index != 1, math.inf)), "rows with a non-finite score_sum"),
    (lambda f: f.assign(score_sum=f["score_sum"].where(f.index != 1, math.nan)), "rows with a non-finite score_sum"),
], ids=["repeated", "negative-missing", "too-many-alleles", "inf", "nan"])
def test_check_score_rows_refuses_what_the_hail_check_refuses(change, problem):
    frame = summed([4, 3]).frame("ds")
    check_score_rows(frame, "pgs scores of dataset ds")  # as built: in range
    with pytest.raises(InputDataError) as e:
        check_score_rows(change(frame), "pgs scores of dataset ds")
    assert str(e.value).splitlines()[0].endswith(
        f"score table invariants violated (a genotype or variant counted twice?): {problem}")
    assert "pgs scores of dataset ds" in str(e.value) and "101" not in str(e.value)
