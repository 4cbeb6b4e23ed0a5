"""Field cases, round 32 (session 40, helper "omop32"): timestamps and time zones, date text the chain
(Spark) and the DuckDB twin read differently, one of them stopping where the other read a value.

- A date alone with a zone designator, XML Schema's ``xs:date`` as Java's ``DateTimeFormatter.ISO_DATE``
  writes it (``2019-01-05Z``, ``2019-01-05+05:30``): a day, no instant, so its written date in both
  (on 958d6e4 the chain stopped, "not dates", while the twin read the written date).
- A time with the hour alone (``2019-07-01T03Z``, ISO 8601 reduced precision): an instant, dated in
  ``omop.time_zone`` (on 958d6e4 both read its written date, 07-01, where New York's is 06-30).
- ISO 8601's end of day ``24:00`` (``2020-05-31T24:00-04:00``): the end of its written day, dated to
  that day, as naive ``...T24:00`` text is by its written date (on 958d6e4 the chain stopped: Spark
  refuses hour 24; the twin read the next day's 00:00, 06-01 for a New York date of 05-31 24:00).
- Text that is no ISO date (``2019/01/05``, ``20190105``), in a date column or a datetime partner: one
  error naming table and column in both (on 958d6e4 DuckDB's cast read slashes, and the twin's partner
  read any text that failed as empty, where the chain stopped).
- A Parquet timestamp column whose Arrow zone is neither an IANA name nor an offset (``UTC+05:30``,
  whose sign POSIX reads west and ICU east): an error in both (on 958d6e4 the twin's ICU dated it).

The case is tests/data/field_cases_round32/zoned-dates-and-end-of-day (expected.tsv by hand, its '#'
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

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round32" / "zoned-dates-and-end-of-day"


def _twin():
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import duckdb_phenotypes

    return duckdb_phenotypes


def _twin_death_dates(folder: Path, time_zone: str | None) -> list:
    import duckdb

    con = duckdb.connect()
    try:
        source = f"read_parquet('{folder / 'death.parquet'}')"
        return [r[0] for r in con.execute(
            f"SELECT death_date FROM ({_twin()._dated(con, source, 'death', time_zone)})").fetchall()]
    finally:
        con.close()


def test_zoned_dates_hour_only_and_end_of_day_date_every_table(spark, tmp_path, caplog):
    """expected.tsv by hand: xs:date text in condition, drug start/end and birth_datetime is its
    written date (3201's index 01-09, 3205 18 on the index); bupropion '2019-07-01T03Z' starts on
    New York's 06-30 (3202's ad3 TRD 171 d, not 172); a death at '2020-05-31T24:00-04:00' ends
    follow-up on 05-31 (3203: 507 d) and a condition_start_datetime '2019-03-01T24:00Z' partner is
    03-01 (3204). On 958d6e4 the chain stopped ("not dates"). The twin agrees."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog, time_zone="America/New_York")
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected


@pytest.mark.parametrize("partner", [False, True], ids=["date", "partner"])
def test_text_that_is_no_iso_date_stops_chain_and_twin(spark, tmp_path, partner):
    """'2019/01/05' (and '20190105' as a partner) in death_date, or in death_datetime with
    death_date empty: an error naming table and column in the chain and in the twin, with the
    value's shape only (on 958d6e4 the twin read 2019-01-05 from the slashes, and a partner that is
    no date as empty)."""
    import duckdb

    for i, value in enumerate(("2019/01/05", "20190105") if partner else ("2019/01/05",)):
        folder = tmp_path / f"form{i}"
        folder.mkdir()
        columns = {"person_id": pa.array([1], pa.int64()), "death_date": pa.array([None if partner else value], pa.string())}
        if partner:
            columns["death_datetime"] = pa.array([value], pa.string())
        pq.write_table(pa.table(columns), folder / "death.parquet")
        with pytest.raises(Exception, match=r"death_date.*(not dates|is text that is no date)") as chain:
            read_omop_table(spark, toy_config(path=str(folder), time_zone="UTC").omop, "death").collect()
        assert value not in str(chain.value)
        with pytest.raises(duckdb.Error, match=r"death\.death(_date)?(time)?: value\(s\) are not dates") as twin:
            _twin_death_dates(folder, "UTC")
        assert "####" in str(twin.value)


def test_an_arrow_zone_that_is_no_iana_zone_or_offset_stops_chain_and_twin(spark, tmp_path):
    """death_date written by pyarrow as ``timestamp[us, tz=UTC+05:30]`` (no IANA name; POSIX TZ reads
    the sign as west of UTC, ICU and Java as east): the chain's InputDataError and the twin's error,
    both naming the zone (on 958d6e4 the twin dated it 2019-01-10 in +05:30)."""
    instant = dt.datetime(2019, 1, 9, 20, 0, tzinfo=dt.UTC)
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([instant], pa.timestamp("us", tz="UTC+05:30"))}),
                   tmp_path / "death.parquet")
    with pytest.raises(InputDataError, match=r"death_date: this file declares time zone 'UTC\+05:30'"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death").collect()
    with pytest.raises(ValueError, match=r"death_date declares time zone 'UTC\+05:30', which is no IANA"):
        _twin_death_dates(tmp_path, "UTC")


def test_a_year_month_birth_datetime_is_empty_in_chain_and_twin(spark, tmp_path):
    """person.birth_datetime '1990-03' (a masked export): empty in the chain (PARTIAL_DATE_AS_EMPTY,
    one WARNING; year_of_birth and month_of_birth give the birth date) and now in the twin (on
    958d6e4 DuckDB's cast failed on it: "invalid date field format")."""
    import duckdb

    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "gender_concept_id": pa.array([8532], pa.int64()),
                             "year_of_birth": pa.array([1990], pa.int32()), "month_of_birth": pa.array([3], pa.int32()),
                             "day_of_birth": pa.array([None], pa.int32()),
                             "birth_datetime": pa.array(["1990-03"], pa.string())}), tmp_path / "person.parquet")
    chain = read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "person").collect()
    assert [r.birth_datetime for r in chain] == [None]
    con = duckdb.connect()
    try:
        source = f"read_parquet('{tmp_path / 'person.parquet'}')"
        twin = con.execute(f"SELECT birth_datetime FROM ({_twin()._dated(con, source, 'person', None)})").fetchall()
    finally:
        con.close()
    assert twin == [(None,)]
