"""Field cases, round 29 (session 37, helper "omop29"): time-zone-aware timestamps whose Parquet
files declare their zone.

- Dates as the export meant them (timestamps and time zones): pandas, pyarrow, R arrow and polars
  store a time-zone-aware column's zone in the file's Arrow schema (``timestamp[us,
  tz=Europe/Amsterdam]``: a ``tz_localize``-d local midnight is the instant 23:00 UTC the day
  before); Parquet itself keeps only isAdjustedToUTC, and Spark (like dask, fastparquet or DuckDB:
  dask#6347, fastparquet#257) reads it as a bare instant. On 45f9cc3 such a column was dated in
  ``omop.time_zone`` whatever its file said: with UTC (the README's setting for BigQuery TIMESTAMP
  columns, which an export's other tables may be) every local midnight east of Greenwich became
  the day before, silently, in every table: a trial starting on the index moved before it (no
  TRD), a follow-up of exactly the trMDD minimum one day short, a second MDD date (from its
  datetime partner) onto the first, a death a day early, an 18th birthday a day early. Now a
  column whose files declare a zone other than UTC is dated in that zone (one WARNING when it is
  not ``omop.time_zone``; a UTC tag says nothing of a local calendar and stays
  ``omop.time_zone``'s; part files declaring different zones are one error naming the part);
  without ``omop.time_zone`` the column stays the error asking for it (field case
  timezone-timestamps). The DuckDB twin reads the declared zone too.

The case is tests/data/field_cases_round29/timezone-timestamps-declared-zone (expected.tsv by hand,
its lines starting with '#' explain each person), read by the stage's own reader with
``omop.time_zone: UTC`` (toy config: cutoff 2023-07-01).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import case_rows_chain_and_twin, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round29" / "timezone-timestamps-declared-zone"


def test_declared_zones_date_every_table_as_written(spark, tmp_path, caplog):
    """expected.tsv by hand (its '#' lines): with omop.time_zone UTC, Amsterdam-declared drug,
    observation-period, condition-datetime and birth dates and a Tokyo-declared nanosecond death
    date are their local dates; the UTC-tagged condition_start_date its UTC date. On 45f9cc3 every
    person's answer differed (2901 trMDD under ad3, 2902 415 days, 2903 and 2904 MDD_other / excluded,
    2905 MDD). The DuckDB twin gives the same rows. One WARNING per declared column, none for the
    UTC-tagged one."""
    chain, twin = case_rows_chain_and_twin(spark, CASE, tmp_path, caplog, time_zone="UTC")
    expected = expected_statuses(CASE)
    assert chain == expected
    assert twin == expected
    warned = sorted((m.split("OMOP table ")[1].split(":")[0]) for m in caplog.messages if "declare time zone" in m)
    assert warned == ["condition_occurrence column condition_start_datetime", "death column death_date",
                      "drug_exposure column drug_exposure_end_date", "drug_exposure column drug_exposure_start_date",
                      "observation_period column observation_period_end_date",
                      "observation_period column observation_period_start_date", "person column birth_datetime"]
    assert all("omop.time_zone UTC" in m for m in caplog.messages if "declare time zone" in m)


def test_a_utc_tag_is_no_declaration_and_a_matching_zone_no_warning(spark, tmp_path, caplog):
    """death_date 2019-01-09 23:30 UTC tagged UTC, read with omop.time_zone Asia/Tokyo: 2019-01-10,
    the Tokyo date (the tag is how instants are stored, not a local calendar; unchanged). Tagged
    Asia/Tokyo at Tokyo midnight 2019-01-10 with omop.time_zone UTC: 2019-01-10 (45f9cc3: 2019-01-09)
    and one WARNING; with omop.time_zone Asia/Tokyo the same date and no WARNING."""
    instant = dt.datetime(2019, 1, 9, 23, 30, tzinfo=dt.UTC)
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([instant], pa.timestamp("us", tz="UTC"))}), tmp_path / "death.parquet")
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        got = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="Asia/Tokyo").omop, "death").collect()
    assert [r.death_date for r in got] == [dt.date(2019, 1, 10)]
    assert not [m for m in caplog.messages if "declare time zone" in m]
    tokyo = pa.array([pd.Timestamp("2019-01-10").tz_localize("Asia/Tokyo")], pa.timestamp("us", tz="Asia/Tokyo"))
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": tokyo}), tmp_path / "death.parquet")
    for zone, warnings in (("UTC", 1), ("Asia/Tokyo", 0)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
            got = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone=zone).omop, "death").collect()
        assert [r.death_date for r in got] == [dt.date(2019, 1, 10)], zone
        assert len([m for m in caplog.messages if "declare time zone Asia/Tokyo" in m]) == warnings, zone


def test_part_files_declaring_different_zones_are_one_error_naming_the_part(spark, tmp_path):
    """death/ with part-0 declaring Europe/Amsterdam and part-1 Asia/Tokyo (one column, two local
    calendars Spark would read as one): an InputDataError naming part-1, the column and both zones
    (45f9cc3 read both in omop.time_zone, a day early in each)."""
    folder = tmp_path / "death"
    folder.mkdir()
    for i, zone in enumerate(("Europe/Amsterdam", "Asia/Tokyo")):
        values = pa.array([pd.Timestamp("2019-01-10").tz_localize(zone)], pa.timestamp("us", tz=zone))
        pq.write_table(pa.table({"person_id": pa.array([i + 1], pa.int64()), "death_date": values}),
                       folder / f"part-{i}.parquet")
    with pytest.raises(InputDataError, match=r"part-1\.parquet: OMOP table death column death_date: this part file "
                                             r"declares time zone 'Asia/Tokyo' .*part-0\.parquet 'Europe/Amsterdam'"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death")
