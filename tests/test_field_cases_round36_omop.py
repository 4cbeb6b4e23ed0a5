"""Field cases, round 36 (session 44, helper "omop36"): Parquet INT96 timestamps that pyarrow wrote from
naive pandas columns.

pyarrow's Spark flavour (``pq.write_table(..., flavor='spark')``, ``df.to_parquet(..., flavor='spark')``,
i.e. ``use_deprecated_int96_timestamps``: what a pandas user writes "for Spark") stores a naive
timestamp as Parquet INT96 holding the written wall clock as if UTC; the footer's Arrow schema declares
the column ``timestamp[ns]`` with no zone, and pyarrow reads it back as that wall clock. INT96 has no
isAdjustedToUTC flag, so Spark reads it as an instant, and the chain dated it in ``omop.time_zone`` (the
DuckDB twin alike): in a US zone every midnight was the day before, in every table, silently (an MDD
index on the 18th birthday became an under-18 exclusion); without ``omop.time_zone`` the run stopped
asking for a zone the data does not have. Now such a column is read by its written date, with or without
``omop.time_zone``, in the chain (``omop.WALL_CLOCK``) and the twin. Same kind: pyarrow's own reading of
an INT96 footer drops the zone its Arrow schema declares (``tz=Asia/Tokyo`` read as naive), so a
time-zone-aware pandas column written so was dated in ``omop.time_zone``, not its declared zone, where
the footer was read by pyarrow (the Hadoop reader's decoding kept it): the Arrow schema is decoded as
written now.

Case tests/data/field_cases_round36/int96-naive (expected.tsv by hand, its '#' lines explain each
person; written by pyarrow 26 with flavor='spark'; omop.time_zone America/New_York, toy config).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round36" / "int96-naive"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import duckdb_phenotypes as twin_module  # noqa: E402


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables) and the DuckDB twin, once:
    (chain rows, twin rows) as sorted tuples of STATUS_COLUMNS."""
    tmp = tmp_path_factory.mktemp("round36")
    omop_dir = tmp / "omop"
    shutil.copytree(CASE / "omop", omop_dir)
    cfg = toy_config(path=str(omop_dir), time_zone="America/New_York")
    rows = derive_phenotype_tables(read_omop(spark, cfg), cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    twin = duckdb_twin_rows(omop_dir, cfg, tmp / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    return sorted(tuple(r) for r in rows), sorted(twin)


def test_naive_int96_timestamps_are_their_written_dates_in_the_chain(case_run):
    """On de435dc: 3611 indexed 2019-01-09 (1634 d), 3612 excluded under_18_at_index, 3613's death 2020-06-29."""
    assert case_run[0] == expected_statuses(CASE)


def test_naive_int96_timestamps_are_their_written_dates_in_the_duckdb_twin(case_run):
    """On de435dc the twin read them as UTC instants too (the same wrong dates as the chain)."""
    assert case_run[1] == expected_statuses(CASE)


def test_naive_int96_needs_no_time_zone_and_says_how_it_is_read(spark, caplog):
    """Without omop.time_zone the death table reads (on de435dc: InputDataError asking for
    omop.time_zone), its date the written one, and one INFO line names the column."""
    cfg = toy_config(path=str(CASE / "omop"))
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        death = read_omop_table(spark, cfg.omop, "death")
    assert [(r.person_id, r.death_date) for r in death.collect()] == [(3613, dt.date(2020, 6, 30))]
    assert any("death_date" in r.message and "naive" in r.message and r.levelno == logging.INFO for r in caplog.records)


def test_a_zone_declared_for_an_int96_column_is_read_from_the_footer_as_written(spark, tmp_path):
    """A time-zone-aware pandas column (Asia/Tokyo) written as INT96: 2019-01-10 00:30 in Tokyo is
    stored as 2019-01-09T15:30Z. Its declared zone dates it (2019-01-10) in the chain and the twin, as
    round 29's rule says; on de435dc pyarrow's reading of the footer lost the zone and both dated it
    in omop.time_zone UTC: 2019-01-09."""
    stamp = dt.datetime(2019, 1, 10, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([stamp], pa.timestamp("us", tz="Asia/Tokyo"))}),
                   tmp_path / "death.parquet", flavor="spark")
    death = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death")
    assert [r.death_date for r in death.collect()] == [dt.date(2019, 1, 10)]
    con = duckdb.connect()
    try:
        source = f"read_parquet('{tmp_path / 'death.parquet'}')"
        dated = twin_module._dated(con, source, "death", "UTC")  # noqa: SLF001 - the twin's date reading
        assert con.execute(f"SELECT death_date FROM {dated}").fetchall() == [(dt.date(2019, 1, 10),)]
    finally:
        con.close()


def test_part_files_one_naive_int96_one_utc_instant_are_one_error_naming_the_part(spark, tmp_path):
    """death/ of two part files, both INT96: part-0 from a naive column (a wall clock), part-1 from a
    UTC-tagged one (an instant): their dates mean different things, one error naming the part and both
    readings (on de435dc both read as UTC instants, no error)."""
    folder = tmp_path / "death"
    folder.mkdir()
    for i, t in enumerate((pa.timestamp("ns"), pa.timestamp("ns", tz="UTC"))):
        pq.write_table(pa.table({"person_id": pa.array([i + 1], pa.int64()),
                                 "death_date": pa.array([dt.datetime(2019, 1, 10)], t)}),
                       folder / f"part-{i}.parquet", flavor="spark")
    with pytest.raises(InputDataError, match=r"part-1\.parquet.*death_date: this part file declares time zone "
                                             r"none \(UTC\).*part-0\.parquet none \(naive"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="America/New_York").omop, "death")
