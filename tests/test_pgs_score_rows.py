"""The native pass's score rows without Hail (``pgen_engine.SummedScores``): the stage's Parquet
rows from the numpy sums equal the Hail Table route's (``score_table`` -> ``scoring.scores_frame``,
what the stage published through before session 24), and ``scoring.check_score_rows`` refuses
what ``check_score_table`` refuses."""

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
    return pgen_engine.SummedScores(rows, part, missing_vars, 1)


def test_parquet_rows_from_numpy_equal_the_hail_tables(spark, hl):
    """Every column of every row the same (score_avg null where the score matched nothing, as
    Hail's or_missing): the stage writes the first, the cross-engine tests compare the second."""
    scores = summed([2, 0])
    got = pandas_to_spark(spark, scores.frame("ds")[PGS_SCORES.names], PGS_SCORES.struct)
    want = scores_frame(hl, scores.table(spark, hl), "ds")
    assert got.schema == want.schema

    def rows(df):
        return sorted(tuple(r) for r in df.collect())

    assert rows(got) == rows(want)
    by_key = {(r.person_id, r.pgs_id): r for r in got.collect()}
    assert len(by_key) == 6
    # person 101 (file column 1): PGS2 = -0.5 + 0.5, 3 of 4 n_vars called; PGS1 matched nothing.
    assert by_key[(101, "PGS2")].score_sum == 0.0 and by_key[(101, "PGS2")].allele_count == 6
    assert by_key[(101, "PGS2")].n_missing == -1  # n_matched 2 - 3 called: what the sums say, unchecked here
    assert by_key[(101, "PGS1")].score_avg is None and by_key[(102, "PGS2")].score_avg == pytest.approx(0.125)


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
