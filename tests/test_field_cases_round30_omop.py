"""Field cases, round 30 (session 38, helper "omop30"): age and birth, and an export's text for an
empty vocabulary field.

- Age and birth: a person whose ``year_of_birth`` is empty and whose ``birth_datetime`` is filled (an
  ETL that wrote the birth date alone). The CDM's year_of_birth is "extracted from the date of
  birth" and OHDSI's conventions (Themis #92, CommonDataModel #629) leave a person out only when no
  year of birth can be derived; on 5f00ae0 one such person stopped the whole run with
  "age cannot be derived". Now the year, and the month and day where empty, come from
  birth_datetime (one WARNING, no count); a person with neither stays the error. The DuckDB twin
  does the same.
- concept.invalid_reason written as text meaning no value ('NULL' from SQL Server Management
  Studio, 'NA' from R's write.csv, blank): the chain reads it as the CDM's NULL since d43d4ca
  (session 37); the DuckDB twin, the chain's oracle, still read every such concept as invalid, so
  no descendant was a member of a set and its answers differed from the chain's on any such export.

The case is tests/data/field_cases_round30/birth-year-from-birth-datetime (expected.tsv by hand, its
'#' lines explain each person), read by the stage's own reader (toy config: cutoff 2023-07-01).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import case_rows_chain_and_twin, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round30" / "birth-year-from-birth-datetime"


def test_birth_year_from_birth_datetime_and_null_spelled_invalid_reason(spark, tmp_path, caplog):
    """expected.tsv by hand: 3001 and 3002 (year/month/day empty, birth_datetime filled) are aged
    from birth_datetime (3002 is 18 on the index only with its month and day: a year alone puts
    the birth on 1 July, under 18); 3003's MDD codes and 3001/3003's sertraline tablet are
    descendants whose invalid_reason reads 'NULL' / 'NA'. On 5f00ae0 the chain stopped with
    'person(s) without a birth year' and the twin found no MDD for 3003 and no sertraline trial.
    The chain and the twin give expected.tsv; one WARNING naming the person file, no count."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog)
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected
    warned = [m for m in caplog.messages if "empty year_of_birth and a filled birth_datetime" in m]
    assert len(warned) == 1 and "person.parquet" in warned[0]
    assert not any(ch.isdigit() for ch in warned[0].split("person.parquet", 1)[1])  # no count of persons


def test_a_person_without_year_and_birth_datetime_is_still_the_error(spark, tmp_path):
    """person table only: year_of_birth and birth_datetime both empty: the InputDataError naming
    both (no birth year can be derived); beside it a filled birth_datetime of a 29 February (2000)
    gives year 2000, month 2, day 29 and a given month_of_birth (5) is kept."""
    rows = {"person_id": pa.array([1, 2], pa.int64()), "gender_concept_id": pa.array([8532, 8507], pa.int64()),
            "year_of_birth": pa.array([None, None], pa.int32()), "month_of_birth": pa.array([None, 5], pa.int32()),
            "day_of_birth": pa.array([None, None], pa.int32()),
            "birth_datetime": pa.array([dt.datetime(2000, 2, 29), dt.datetime(1980, 6, 3)], pa.timestamp("us"))}
    pq.write_table(pa.table(rows), tmp_path / "person.parquet")
    got = sorted(tuple(r) for r in read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "person")
                 .select("person_id", "year_of_birth", "month_of_birth", "day_of_birth").collect())
    assert got == [(1, 2000, 2, 29), (2, 1980, 5, 3)]
    rows["birth_datetime"] = pa.array([dt.datetime(2000, 2, 29), None], pa.timestamp("us"))
    pq.write_table(pa.table(rows), tmp_path / "person.parquet")
    with pytest.raises(InputDataError, match=r"person\.parquet.*year_of_birth: person\(s\) without a birth year "
                                             r"and without a birth_datetime"):
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "person")


# Zoned ISO text as exporters write it (Python's str(datetime), R's %z, Java's ISO offset, a zone
# name), read with omop.time_zone UTC: the UTC calendar date, by hand.
ZONED_TEXT = [("2019-01-10T00:00:00+05:30", "2019-01-09"), ("2019-01-10 00:00:00+0530", "2019-01-09"),
              ("2019-01-10T00:00:00.000+05:30", "2019-01-09"), ("2019-01-10T00:00:00 +05:30", "2019-01-09"),
              ("2019-01-09T23:00:00 -05:00", "2019-01-10"), ("2019-01-09 20:00:00-0500", "2019-01-10"),
              ("2019-01-10 00:00:00 Asia/Kolkata", "2019-01-09"), ("2019-01-09T20:00:00z", "2019-01-09")]


def test_fixed_offset_zone_text_twin_and_chain_agree(spark):
    """Timestamps and time zones: the chain's ``to_omop_date`` and the DuckDB twin's ``_as_date``
    date each spelling of ZONED_TEXT (fixed UTC offsets with and without a colon, a blank before
    the offset, a zone name) as its UTC date. On 5f00ae0 the twin failed on a blank before the
    offset ('Unknown TimeZone'), which the chain reads (a twin that cannot read what the chain
    reads checks nothing there)."""
    import sys

    import duckdb
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from trd_spark.phenotypes.omop import to_omop_date

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import _as_date

    expected = [(v, dt.date.fromisoformat(d)) for v, d in ZONED_TEXT]
    df = spark.createDataFrame([(v,) for v, _ in ZONED_TEXT], "s string")
    chain = df.select("s", to_omop_date(F.col("s"), T.StringType(), "death", "death_date", time_zone="UTC",
                                        session_zone=spark.conf.get("spark.sql.session.timeZone"),
                                        where="death").alias("d")).collect()
    assert sorted((r.s, r.d) for r in chain) == sorted(expected)
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (s VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[v] for v, _ in ZONED_TEXT])
        twin = con.execute(f"SELECT s, {_as_date('s', 'VARCHAR', None, 'death', 'UTC')} FROM t").fetchall()
    finally:
        con.close()
    assert sorted(twin) == sorted(expected)
