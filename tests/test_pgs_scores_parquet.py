"""The published ``scores`` table from a native pass without a Spark job (session 25, issue 16):
``scoring.score_rows_arrow`` builds the rows from the numpy sums, ``scoring.check_score_arrow``
checks them, ``stage.write_scores`` writes them with pyarrow (``io.write_arrow``) when every
dataset's rows are on the driver, through Spark when one is a Spark DataFrame (a dataset on
Hail's route: ``scoring.scores_frame``). Spark reads the file with the declared types and every
value, null score_avg included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import types as T

from trd_spark.errors import InputDataError
from trd_spark.io import Fs, write_arrow
from trd_spark.layout import StageWriter
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.scoring import check_score_arrow, score_rows_arrow, scores_frame
from trd_spark.pgs.stage import write_scores
from trd_spark.schemas import PGS_SCORES

SAMPLES = ["103", "101", "102"]
PGS_IDS = ["PGS2", "PGS1"]  # out of sorted order, as a scoring-file glob may give them
OFFSET = np.array([0.5, -1.0])
N_VARS = np.array([4.0, 3.0])
PART = np.array([[1.25, -0.5, 0.0], [2.0, 0.75, -3.5]])  # k x n: slope x dosage
MISSING = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])  # n_vars of the missing calls


def summed(n_matched: list[int]) -> pgen_engine.SummedScores:
    """3 persons x 2 scores summed on the driver (the native pass's result)."""
    rows = pgen_engine._ScoreRows(np.array(SAMPLES, dtype=object), PGS_IDS, np.array(n_matched, dtype=np.int64),
                                  offset_total=OFFSET, n_vars_total=N_VARS, sample_slice=3)
    return pgen_engine.SummedScores(rows, PART, MISSING)


def expected(dataset: str, n_matched: list[int]) -> set[tuple]:
    """plink2's columns for ``summed(n_matched)`` computed value by value (the rule in
    scoring's module doc): SUM = offset + part, ALLELE_CT = 2 x called, AVG = SUM / (2 x
    n_matched), null without a matched variant."""
    out = set()
    for i, s in enumerate(SAMPLES):
        for j, pgs in enumerate(PGS_IDS):
            total, called = float(PART[j, i] + OFFSET[j]), int(N_VARS[j] - MISSING[j, i])
            avg = total / (2 * n_matched[j]) if n_matched[j] else None
            out.add((dataset, int(s), pgs, total, 2 * called, avg, n_matched[j] - called, n_matched[j]))
    return out


def read_rows(spark, path: str) -> tuple[T.StructType, set[tuple]]:
    df = spark.read.parquet(path)
    return df.schema, {tuple(r) for r in df.collect()}


# What Spark reads from a Parquet table of PGS_SCORES' columns, its own files or pyarrow's:
# the declared types, every column nullable.
READ_SCHEMA = T.StructType([T.StructField(f.name, f.dataType, True) for f in PGS_SCORES.struct.fields])


def test_native_rows_written_without_spark_read_back_exactly(spark, tmp_path):
    """Two datasets' rows (dictionaries of their own) in one file: every value as plink2's rule
    gives it, score_avg null where the score matched nothing; one Parquet part and _SUCCESS,
    and the row count recorded for the manifest. A second write replaces the first."""
    writer = StageWriter(spark, Fs(spark), "pgs", str(tmp_path / "stage"))
    parts = [score_rows_arrow(summed([4, 3]), "ds"), score_rows_arrow(summed([2, 0]), "ds2")]
    check_score_arrow(parts[0], "pgs scores of dataset ds")  # as built: in range
    assert write_scores(writer, parts) == 12 and writer.tables == {"scores": 12}
    written = tmp_path / "stage" / "scores.parquet"
    assert sorted(p.name.split("-")[0] for p in written.iterdir() if not p.name.startswith(".")) == ["_SUCCESS", "part"]
    schema, rows = read_rows(spark, str(written))
    assert schema == READ_SCHEMA
    assert rows == expected("ds", [4, 3]) | expected("ds2", [2, 0])
    # hand-checked: person 101 (file column 1), PGS2 = -0.5 + 0.5 with 3 of 4 variants called.
    assert ("ds", 101, "PGS2", 0.0, 6, 0.0, 1, 4) in rows and ("ds2", 102, "PGS1", -4.5, 6, None, -3, 0) in rows
    assert write_scores(writer, parts[:1]) == 6 and read_rows(spark, str(written))[1] == expected("ds", [4, 3])


# summed([2, 0])'s rows by hand: score_sum = part + offset; called = n_vars - missing;
# allele_count = 2 x called; n_missing = n_matched - called (what the sums say, unchecked here);
# score_avg = score_sum / (2 n_matched), null for PGS1 (matched nothing).
# (person_id, pgs_id): (score_sum, allele_count, score_avg, n_missing, n_matched)
HAND_ROWS = {
    (103, "PGS2"): (1.75, 8, 0.4375, -2, 2), (101, "PGS2"): (0.0, 6, 0.0, -1, 2),
    (102, "PGS2"): (0.5, 8, 0.125, -2, 2),
    (103, "PGS1"): (1.0, 2, None, -1, 0), (101, "PGS1"): (-0.25, 6, None, -3, 0),
    (102, "PGS1"): (-4.5, 6, None, -3, 0),
}


def test_native_rows_are_the_hand_computed_rows_in_file_order():
    """Every column of every row as computed by hand (score_avg null where the score matched
    nothing), sample-major in the file's sample order, scores in the pass's order."""
    rows = score_rows_arrow(summed([2, 0]), "ds").to_pylist()
    assert [(r["person_id"], r["pgs_id"]) for r in rows] == [(103, "PGS2"), (103, "PGS1"), (101, "PGS2"),
                                                            (101, "PGS1"), (102, "PGS2"), (102, "PGS1")]
    assert {r["dataset"] for r in rows} == {"ds"}
    assert {(r["person_id"], r["pgs_id"]): (r["score_sum"], r["allele_count"], r["score_avg"], r["n_missing"],
                                            r["n_matched"]) for r in rows} == HAND_ROWS


def test_a_hail_route_part_sends_every_part_through_spark_in_its_schema(spark, hl, tmp_path):
    """A dataset scored by Hail's route (``scoring.scores_frame`` of a Hail Table, as the stage
    publishes it) beside a native one: ``write_scores`` sends the native rows through Spark in
    exactly that part's schema (one schema in the union, not a widened one) and publishes both
    datasets' rows."""
    assert expected("ds2", [2, 0]) == {("ds2", p, g, *v) for (p, g), v in HAND_ROWS.items()}
    hail_rows = hl.Table.parallelize(
        [{"s": str(p), "pgs_id": g, "score_sum": v[0], "allele_count": v[1], "score_avg": v[2], "n_missing": v[3],
          "n_matched": v[4]} for (p, g), v in HAND_ROWS.items()],
        hl.tstruct(s=hl.tstr, pgs_id=hl.tstr, score_sum=hl.tfloat64, allele_count=hl.tint64, score_avg=hl.tfloat64,
                   n_missing=hl.tint64, n_matched=hl.tint64))
    hail_route = scores_frame(hl, hail_rows, "ds2")
    writer = StageWriter(spark, Fs(spark), "pgs", str(tmp_path / "stage"))
    unions = []
    real_write_table = writer.write_table

    def write_table(name, df, schema):
        unions.append(df)
        return real_write_table(name, df, schema)

    writer.write_table = write_table  # type: ignore[method-assign]
    assert write_scores(writer, [score_rows_arrow(summed([4, 3]), "ds"), hail_route]) == 12
    assert [u.schema for u in unions] == [hail_route.schema]
    schema, rows = read_rows(spark, str(tmp_path / "stage" / "scores.parquet"))
    assert schema == READ_SCHEMA and rows == expected("ds", [4, 3]) | expected("ds2", [2, 0])


def test_write_arrow_to_a_uri_copies_through_hadoop(spark, tmp_path):
    """A Hadoop FS URI (file:// here, gs:// in production) gets the same file through
    copyFromLocalFile; nothing is left in the local temporary directory."""
    table = score_rows_arrow(summed([4, 3]), "ds")
    assert write_arrow(spark, table, f"file://{tmp_path}/uri/scores.parquet") == 6
    assert read_rows(spark, str(tmp_path / "uri" / "scores.parquet"))[1] == expected("ds", [4, 3])


@pytest.mark.parametrize(("change", "problem"), [
    (lambda t: pa.concat_tables([t, t.slice(0, 1)]), "repeated (sample, pgs_id) rows"),
    (lambda t: t.set_column(6, "n_missing", pa.array([0, 0, -1, 0, 0, 0])), "rows with n_missing < 0"),
    (lambda t: t.set_column(4, "allele_count", pa.array([8, 99, 8, 6, 8, 6])), "rows with allele_count > 2 x n_matched"),
    (lambda t: t.set_column(3, "score_sum", pa.array([1.0, np.inf, 0.0, 0.0, 0.0, 0.0])), "rows with a non-finite score_sum"),
    (lambda t: t.set_column(3, "score_sum", pa.array([1.0, np.nan, 0.0, 0.0, 0.0, 0.0])), "rows with a non-finite score_sum"),
], ids=["repeated", "negative-missing", "too-many-alleles", "inf", "nan"])
def test_check_score_arrow_refuses(change, problem):
    table = score_rows_arrow(summed([4, 3]), "ds")
    check_score_arrow(table, "pgs scores of dataset ds")  # as built: in range
    with pytest.raises(InputDataError) as e:
        check_score_arrow(change(table), "pgs scores of dataset ds")
    assert str(e.value).splitlines()[0].endswith(
        f"score table invariants violated (a genotype or variant counted twice?): {problem}")
    assert "pgs scores of dataset ds" in str(e.value) and "101" not in str(e.value)
