"""io.write_table counts the rows it writes during the write (an Observation), with no job of its
own; io.observed falls back when Spark never delivers an observation's metrics."""

from __future__ import annotations

import pyarrow.parquet as pq
from pyspark.sql import Observation
from pyspark.sql import functions as F
from test_phenotypes_support import spark_jobs

from trd_spark.io import observed, write_table


def _rows_on_disk(path) -> int:
    return pq.read_table(str(path)).num_rows


def test_row_count_comes_from_the_write_without_another_job(spark, tmp_path):
    """Several partitions, a filter, and an aggregation that adaptive execution coalesces: the
    count equals the rows in the written files (read by pyarrow), and the write runs exactly the
    jobs of a plain ``df.write`` of the same frame (the old read-back added two)."""
    frames = {
        "filtered": (spark.range(0, 1000, numPartitions=3).where("id % 7 != 0"), sum(1 for i in range(1000) if i % 7)),
        "aggregated": (spark.range(10_000).groupBy((F.col("id") % 37).alias("k")).count(), 37),
        "empty": (spark.range(0).select(F.lit(None).cast("long").alias("x")), 0),
    }
    n: dict[str, int] = {}
    for name, (df, expected) in frames.items():
        ours = spark_jobs(spark, lambda df=df, name=name: n.setdefault(name, write_table(df, str(tmp_path / f"{name}.parquet"))))
        plain = spark_jobs(spark, lambda df=df, name=name: df.write.mode("overwrite").parquet(str(tmp_path / f"{name}_plain.parquet")))
        assert n[name] == expected == _rows_on_disk(tmp_path / f"{name}.parquet"), name
        assert ours == plain, f"{name}: write_table ran {ours} job(s), a plain write {plain}"


def test_observed_falls_back_when_the_metrics_never_arrive(spark, tmp_path):
    """No metrics: ``observed`` returns the fallback instead of an empty dict or blocking forever.
    (a) the optimizer prunes the observed node (an always-false filter above it): Spark 3.5.9
    delivers an empty set; (b) the observed frame never runs: nothing is delivered, the wait ends."""
    fallback = {"n": "fallback"}
    obs = Observation()
    spark.range(5).observe(obs, F.count(F.lit(1)).alias("n")).where(F.lit(False)).write.mode("overwrite").parquet(
        str(tmp_path / "pruned.parquet"))
    assert observed(obs, spark, lambda: fallback) == fallback
    never = Observation()
    spark.range(5).observe(never, F.count(F.lit(1)).alias("n"))
    assert observed(never, spark, lambda: fallback, wait_s=0.2) == fallback
    # an observation that is fulfilled returns its own metrics, not the fallback
    kept = Observation()
    spark.range(5).observe(kept, F.count(F.lit(1)).alias("n")).write.mode("overwrite").parquet(str(tmp_path / "kept.parquet"))
    assert observed(kept, spark, lambda: fallback) == {"n": 5}


def test_declared_pandas_table_reads_back_as_spark_writes_it(spark, tmp_path):
    """``write_pandas`` with a declared schema (pyarrow, no Spark job): Spark reads the table back
    with exactly the declared types, NaN and None as null, enum members as their values, the same
    rows as Spark's own route (createDataFrame with the schema + write), no job run; a value of
    the wrong type is one error naming the path."""
    import datetime as dt
    from enum import Enum

    import pandas as pd
    import pytest
    from pyspark.sql import types as T

    from trd_spark.errors import TrdSparkError
    from trd_spark.io import write_pandas

    class Status(str, Enum):
        TRD = "TRD"

    struct = T.StructType([T.StructField("s", T.StringType()), T.StructField("n", T.LongType()),
                           T.StructField("k", T.IntegerType()), T.StructField("x", T.DoubleType()),
                           T.StructField("ok", T.BooleanType()), T.StructField("d", T.DateType())])
    pdf = pd.DataFrame({"s": [Status.TRD, "b", None], "n": [3, None, 2**40], "k": [1, 2, None],
                        "x": [0.5, float("nan"), None], "ok": [True, False, None],
                        "d": [dt.date(2020, 2, 29), None, dt.date(1900, 1, 1)], "extra": [1, 2, 3]})
    path = str(tmp_path / "t.parquet")
    jobs = spark_jobs(spark, lambda: write_pandas(spark, pdf, path, struct))
    assert jobs == 0
    got = spark.read.parquet(path)
    assert got.schema.simpleString() == struct.simpleString()
    rows = [tuple(r) for r in got.collect()]
    assert rows == [("TRD", 3, 1, 0.5, True, dt.date(2020, 2, 29)), ("b", None, 2, None, False, None),
                    (None, 2**40, None, None, None, dt.date(1900, 1, 1))]
    spark_route = spark.createDataFrame([tuple(r) for r in rows], struct)
    assert spark_route.exceptAll(got).count() == 0 and got.exceptAll(spark_route).count() == 0
    assert sorted(p.name for p in (tmp_path / "t.parquet").iterdir() if not p.name.startswith(".")) == [
        "_SUCCESS", next(p.name for p in (tmp_path / "t.parquet").glob("part-00000-*.snappy.parquet"))]
    write_pandas(spark, pdf.iloc[:1], path, struct)  # overwrite: the old part file is gone
    assert spark.read.parquet(path).count() == 1
    with pytest.raises(TrdSparkError, match="t.parquet.*declared schema"):
        write_pandas(spark, pdf.assign(n=["three", 1, 2]), path, struct)
