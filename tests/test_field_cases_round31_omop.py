"""Field cases, round 31 (session 39, helper "omop31"): timestamps and time zones, ISO 8601 text
of an instant in forms Spark's timestamp cast refuses.

- A Java exporter writes date columns as ``OffsetDateTime.toString()`` text, which leaves out zero
  seconds (``2019-01-10T04:00Z``, ``2019-01-10T00:00+05:30``: valid ISO 8601). On 30297c6 the chain
  stopped the run at the first such cell ("value(s) are not dates"); the DuckDB twin read it. The
  twin in turn failed on forms the chain read (a one-digit offset hour ``+5:30``, a zone name glued
  to the time ``00:00:00GMT+05:30``, a blank before a lower-case ``z``). Both now read every zoned
  form either read, to the same date: also Java's ``ZonedDateTime.toString()`` (``+01:00[Europe/Paris]``),
  ``utc`` / ``gmt`` in lower case and a fraction after a comma (ISO 8601's own separator: on
  30297c6 ``2019-01-10T00:00:00,5+05:30`` was not seen as zoned at all, read as its written date
  even without ``omop.time_zone``). The twin also read naive text by its first ten characters,
  failing on '2019-1-9 23:00:00' (a one-digit month, which the chain reads).

The case is tests/data/field_cases_round31/zoned-text-without-seconds (expected.tsv by hand, its '#'
lines explain each person), read by the stage's own reader with ``omop.time_zone``
America/New_York (toy config: cutoff 2023-07-01).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import case_rows_chain_and_twin, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round31" / "zoned-text-without-seconds"


def test_offset_date_time_text_without_seconds_dates_every_table(spark, tmp_path, caplog):
    """expected.tsv by hand: condition, drug start/end, death, a condition_start_datetime partner and
    a birth_datetime written without seconds are their New York dates (3101's index 01-09 from
    04:00Z, 3102's third trial 06-30 from 03:30Z, 3103's death 05-31, 3105 18 on the index by a
    03-15 birth). On 30297c6 the chain stopped with "value(s) are not dates". The twin agrees."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog, time_zone="America/New_York")
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected


# Date text that one of chain and twin refused on 30297c6, read with omop.time_zone UTC: the UTC
# calendar date of a zoned one, the written date of a naive one, by hand.
DATE_TEXT = [("2019-1-9 23:00:00", "2019-01-09"),
             ("2019-01-10T00:00+05:30", "2019-01-09"), ("2019-01-10 00:00+05:30", "2019-01-09"),
             ("2019-01-10T23:30-05:00", "2019-01-11"), ("2019-01-10T00:00Z", "2019-01-10"),
             ("2019-01-10T00:00:00+5:30", "2019-01-09"), ("2019-01-10T00:00:00GMT+05:30", "2019-01-09"),
             ("2019-01-10T00:00:00 z", "2019-01-10"), ("2019-01-09T20:00:00 utc", "2019-01-09"),
             ("2019-01-10T00:00+01:00[Europe/Paris]", "2019-01-09"), ("2019-01-10T00:00:00,5+05:30", "2019-01-09"),
             ("2019-01-09T23:00:00,123-05:00", "2019-01-10"), ("2019-01-10T00:00:00 America/La_Paz", "2019-01-10")]


def dates_by_chain_and_twin(spark, values: list[str], time_zone: str) -> tuple[list, list]:
    """Each text value and its death_date, sorted, by the chain's ``to_omop_date`` and by the
    DuckDB twin's ``_as_date`` (benchmarks/duckdb_phenotypes.py) in ``time_zone``."""
    import duckdb
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from trd_spark.phenotypes.omop import to_omop_date

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import _as_date

    df = spark.createDataFrame([(v,) for v in values], "s string")
    chain = df.select("s", to_omop_date(F.col("s"), T.StringType(), "death", "death_date", time_zone=time_zone,
                                        session_zone=spark.conf.get("spark.sql.session.timeZone"),
                                        where="death").alias("d")).collect()
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (s VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
        twin = con.execute(f"SELECT s, {_as_date('s', 'VARCHAR', None, 'death', time_zone)} FROM t").fetchall()
    finally:
        con.close()
    return sorted((r.s, r.d) for r in chain), sorted(twin)


def test_zoned_text_forms_chain_and_twin_read_alike(spark):
    """Each form of DATE_TEXT is its date by the chain's ``to_omop_date`` and by the twin's
    ``_as_date`` (on 30297c6 the chain gave null, an error in ``check_text_values``, for the forms
    without seconds, with a comma or a Java zone suffix; the twin failed on '+5:30', 'GMT+05:30', ' z',
    and on a one-digit month before a time, '2019-1-9 23:00:00', whose first ten characters it cast;
    on 69bf660 the chain made the zone id America/La_Paz's final z a Z, La_PaZ, and stopped on it)."""
    expected = sorted((v, dt.date.fromisoformat(d)) for v, d in DATE_TEXT)
    chain, twin = dates_by_chain_and_twin(spark, [v for v, _ in DATE_TEXT], "UTC")
    assert chain == expected
    assert twin == expected


def test_comma_fraction_zoned_text_needs_a_time_zone(spark, tmp_path):
    """death_date '2019-01-10T00:00:00,5+05:30' without omop.time_zone: the InputDataError asking for
    it, as for any zoned text (30297c6 read the written date 2019-01-10 without a word)."""
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array(["2019-01-10T00:00:00,5+05:30"], pa.string())}),
                   tmp_path / "death.parquet")
    with pytest.raises(InputDataError, match=r"death_date: .*date-times with a time zone.*set omop\.time_zone"):
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death").collect()


def test_a_fixed_offset_declared_zone_dates_alike_in_chain_and_twin(spark, tmp_path):
    """death_date written by pandas from a fixed-offset column (``tz_localize(datetime.timezone(+5:30))``:
    Arrow ``timestamp[us, tz=+05:30]``), local midnight 2019-01-10, read with omop.time_zone UTC: the
    chain and the twin both 2019-01-10, its declared zone's date (on 30297c6 the twin failed with
    "Unknown TimeZone '+05:30'": a UTC offset is no zone name to DuckDB)."""
    import duckdb
    import pandas as pd

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import _dated

    offset = dt.timezone(dt.timedelta(hours=5, minutes=30))
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([pd.Timestamp("2019-01-10").tz_localize(offset)],
                                                    pa.timestamp("us", tz="+05:30"))}), tmp_path / "death.parquet")
    chain = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death").collect()
    assert [r.death_date for r in chain] == [dt.date(2019, 1, 10)]
    source = f"read_parquet('{tmp_path / 'death.parquet'}')"
    con = duckdb.connect()
    try:
        twin = con.execute(f"SELECT death_date FROM ({_dated(con, source, 'death', 'UTC')})").fetchall()
    finally:
        con.close()
    assert twin == [(dt.date(2019, 1, 10),)]
