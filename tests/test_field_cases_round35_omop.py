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
  tzdb zone names (``CET``, ``EST``, ``Europe/London``) are read as before.
- UTC offsets the other rounds did not write (+14:00, -12:00, +05:45, the hour alone ``+02`` as
  PostgreSQL writes a timestamptz, a blank then ``+0200``, the day summer time ends, ``CET``): right
  on 22c6515 in the chain and the twin, pinned by the case
  tests/data/field_cases_round35/zoned-offsets (expected.tsv by hand, its '#' lines explain each
  person; omop.time_zone Europe/London, toy config: cutoff 2023-07-01).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import case_rows_chain_and_twin, expected_statuses, toy_config

from trd_spark.phenotypes.omop import read_omop_table

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round35" / "zoned-offsets"


def test_utc_offsets_of_every_size_and_form_date_an_instant_in_omop_time_zone(spark, tmp_path, caplog):
    """expected.tsv by hand: each person's MDD index is the London date of the first diagnosis'
    instant (+14:00 and +05:45 the day before the written date, -12:00 the written date, ``+02`` /
    `` +0200`` in summer the day before, ``CET`` the day before): chain and twin."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog, time_zone="Europe/London")
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected


@pytest.mark.parametrize("value,partner", [("2019-07-10 00:30:00 BST", False), ("2019-07-10T00:30:00IST", False),
                                           ("2019-01-10 00:30:00 CST", True)], ids=["BST", "IST-glued", "CST-partner"])
def test_a_zone_abbreviation_that_is_no_tzdb_zone_stops_chain_and_twin(spark, tmp_path, value, partner):
    """death_date (or, with death_date empty, death_datetime) holding a local time with a Java legacy
    zone abbreviation: one error naming table, column and the abbreviation in the chain and in the
    twin (on 22c6515 both dated '2019-07-10 00:30:00 BST' 2019-07-09: Asia/Dhaka's 00:30 is 18:30
    UTC the day before, 19:30 in London)."""
    import duckdb

    abbreviation = value[-3:]
    columns = {"person_id": pa.array([1], pa.int64()), "death_date": pa.array([None if partner else value], pa.string())}
    if partner:
        columns["death_datetime"] = pa.array([value], pa.string())
    pq.write_table(pa.table(columns), tmp_path / "death.parquet")
    column = "death_datetime" if partner else "death_date"
    with pytest.raises(Exception, match=rf"death.*{column}.*zone abbreviation '{abbreviation}'"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="Europe/London").omop, "death").collect()
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import duckdb_phenotypes

    con = duckdb.connect()
    try:
        source = f"read_parquet('{tmp_path / 'death.parquet'}')"
        with pytest.raises(duckdb.Error, match=rf"death\.{column}: .*zone abbreviation"):
            con.execute(f"SELECT death_date FROM ({duckdb_phenotypes._dated(con, source, 'death', 'Europe/London')})"
                        ).fetchall()
    finally:
        con.close()
