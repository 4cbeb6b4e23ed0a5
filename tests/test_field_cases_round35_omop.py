"""Field cases, round 35 (session 43, helper "omop35"): time-zone text, abbreviations and offsets.

- A zone written as a three-letter abbreviation that is no tzdb zone (``2019-07-10 00:30:00 BST``, as
  R's ``format(x, usetz = TRUE)``, strftime's ``%Z``, PostgreSQL's ``to_char(.., 'TZ')`` and Oracle's
  ``TZD`` write a local time) was read by Java's legacy three-letter IDs (``java.time.ZoneId.SHORT_IDS``,
  Spark's cast) and by DuckDB's ICU alike: BST as Asia/Dhaka (+06:00), not British Summer Time
  (+01:00); IST as India (not Ireland or Israel), CST as Chicago (not China), AST as Alaska (not
  Atlantic, Puerto Rico): a London time of 00:30 BST was dated the day before, silently, in the chain
  and the twin. Java's own documentation deprecates these IDs "because the same abbreviation is
  often used for multiple time zones" (java.util.TimeZone). Now such text is one error naming table,
  column and the abbreviation, in the chain (a date column and a datetime partner) and in the twin;
  tzdb zone names (``EST``, ``Europe/London``) are read as before. Session 43 (helper fixesA): tzdb's
  ``CET``, ``EET``, ``MET``, ``WET`` have summer time (a July ``00:30 CET`` was read as +02:00 where a
  fixed label means +01:00): refused the same way; the error gives the count and the CSV file:line.
- UTC offsets the other rounds did not write (+14:00, -12:00, +05:45, the hour alone ``+02`` as
  PostgreSQL writes a timestamptz, a blank then ``+0200``, the day summer time ends, an IANA name): right
  on 22c6515 in the chain and the twin, pinned by the case
  tests/data/field_cases_round35/zoned-offsets (expected.tsv by hand, its '#' lines explain each
  person; omop.time_zone Europe/London, toy config: cutoff 2023-07-01).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyspark.sql import types as T
from test_phenotypes_support import case_rows_chain_and_twin, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import check_text_values, datetime_fallback, read_omop_table

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round35" / "zoned-offsets"


def test_utc_offsets_of_every_size_and_form_date_an_instant_in_omop_time_zone(spark, tmp_path, caplog):
    """expected.tsv by hand: each person's MDD index is the London date of the first diagnosis'
    instant (+14:00 and +05:45 the day before the written date, -12:00 the written date, ``+02`` /
    `` +0200`` in summer the day before, ``Europe/Paris`` in January the day before): chain and twin."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog, time_zone="Europe/London")
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected


# (value, refused): Java legacy IDs that are no tzdb zone, tzdb zones with summer time (July), and
# EST, tzdb's fixed -05:00 (kept: its literal meaning; README says a summer time labelled EST is -05:00).
VALUES = [("2019-07-10 00:30:00 BST", "BST"), ("2019-07-10T00:30:00IST", "IST"), ("2019-07-10 00:30:00 CET", "CET"),
          ("2019-07-10 00:30:00 wet", "WET"), ("2019-07-10 00:30 EET", "EET"), ("2019-07-10 00:30:00 MET", "MET"),
          ("2019-07-10 00:30:00 EST", None)]


def test_zone_abbreviations_that_name_several_zones_or_have_summer_time_stop_the_chain(spark):
    """check_text_values on one small in-memory frame per value (no file): the refused ones are one
    error naming table, column, the abbreviation and the count; EST is read (its date is checked by
    the zoned-offsets style arithmetic: 00:30 EST = 05:30 UTC, no error). On 22c6515 CET/WET/EET/MET
    were read silently (CET in July as +02:00)."""
    for value, refused in VALUES:
        df = spark.createDataFrame([(1, value), (2, "2019-11-20")], "person_id bigint, condition_start_date string")
        columns = [("person_id", T.LongType()), ("condition_start_date", T.DateType())]
        if refused is None:
            check_text_values(df, "condition_occurrence", columns, where="mem", time_zone="Europe/London")
            continue
        with pytest.raises(InputDataError, match=rf"condition_occurrence column condition_start_date: <20 value\(s\) "
                                                 rf"are date-times with the time-zone abbreviation '{refused}'.*IANA"):
            check_text_values(df, "condition_occurrence", columns, where="mem", time_zone="Europe/London")


def test_a_refused_abbreviation_in_a_csv_names_its_file_and_line_and_a_partner_stops_the_query(spark, tmp_path):
    """death.csv with the BST row on line 3: the error names death.csv:3 (on 22c6515: no error; on
    45141da: the table's path, no line). A datetime partner read where death_date is empty
    (datetime_fallback): CST and CET fail the query naming the abbreviation."""
    (tmp_path / "death.csv").write_text("person_id,death_date\n1,2019-07-09\n2,2019-07-10 00:30:00 BST\n")
    with pytest.raises(InputDataError, match=r"death\.csv:3\b.*death column death_date: value\(s\) .*'BST'"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="Europe/London", format="csv").omop, "death")
    for value, abbreviation in (("2019-01-10 00:30:00 CST", "CST"), ("2019-07-10 00:30:00 CET", "CET")):
        df = spark.createDataFrame([(1, None, value)], "person_id bigint, death_date string, death_datetime string")
        date = datetime_fallback(df, "death", "death_date", "death_datetime", time_zone="Europe/London",
                                 session_zone="UTC", where="mem")
        with pytest.raises(Exception, match=rf"death_datetime is a date-time with the time-zone abbreviation "
                                            rf"'{abbreviation}'"):
            df.select(date).collect()


def test_the_twin_refuses_the_same_abbreviations():
    """benchmarks/duckdb_phenotypes._dated on an in-memory VALUES source: the refused values (date
    column, and a partner where the date is empty) are one error naming table.column and the
    abbreviation; EST is read (2019-07-10 00:30 EST = 05:30 UTC = 06:30 BST: 2019-07-10)."""
    import duckdb

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import duckdb_phenotypes

    con = duckdb.connect()
    try:
        for value, refused in VALUES:
            for partner in (False, True):
                date, dt = ("NULL", f"'{value}'") if partner else (f"'{value}'", "NULL")
                source = (f"(SELECT 1::BIGINT AS person_id, CAST({date} AS VARCHAR) AS death_date, "
                          f"CAST({dt} AS VARCHAR) AS death_datetime)")
                query = f"SELECT death_date FROM ({duckdb_phenotypes._dated(con, source, 'death', 'Europe/London')})"
                if refused is None:
                    assert str(con.execute(query).fetchone()[0]) == "2019-07-10"
                    continue
                column = "death_datetime" if partner else "death_date"
                with pytest.raises(duckdb.Error, match=rf"death\.{column}: .*zone abbreviation {refused}"):
                    con.execute(query).fetchall()
    finally:
        con.close()
