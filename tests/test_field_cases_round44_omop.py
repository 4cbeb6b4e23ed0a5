"""Field cases, round 44 (session 50, helper "omop44"): Parquet nanosecond timestamps, each column by its own kind.

pandas writes ``datetime64[ns]`` columns as Parquet INT64 TIMESTAMP(NANOS): a naive one (``pd.to_datetime`` of a
DATE column) with isAdjustedToUTC false, a time-zone-aware one (a BigQuery TIMESTAMP through the client,
``datetime64[ns, UTC]``) with it true, side by side in one file. Spark 3.5 reads such columns only as ``long``
(``spark.sql.legacy.parquet.nanosAsLong``) and its refusal names one column: the reader took that column's flag for
the whole table. With the naive ``*_date`` first (the CDM's order) every UTC ``*_datetime`` that fills an empty
date was dated in UTC, not in ``omop.time_zone`` (a New York evening record the next day: a 42-day trial 41 days,
a death a day late, a second MDD diagnosis date that is the first's); with an instant column first and no Arrow
schema in the footer, every naive date was read as a UTC instant (the day before in New York); and any other
``long`` in a date column of such a table, a date written as the integer 20190110, was read as nanoseconds since
1970 (1970-01-01), silently. The DuckDB twin read each column by its own type. Now the chain reads each column's
own flag from the footer (``omop.nanosecond_timestamps``); a ``long`` that is no nanosecond timestamp is the error
of any other type.

Same kind, part files: Spark reads every part by the first part's types, and a naive nanosecond column in one
part and an instant one in another are both ``long``: the chain read both by the first part's flag (the
instants a day out), and the DuckDB twin, which casts every file of a glob to the first file's types, did the same
for any timestamp kinds (nanoseconds or not: a naive part read as UTC instants, an instant part as its UTC wall
clock). Now both stop naming the part (``omop.check_part_file_schemas``, the twin's ``_check_part_kinds``).

Case tests/data/field_cases_round44/nanosecond-timestamps (expected.tsv by hand, its '#' lines explain each person;
toy config plus ``omop.time_zone: America/New_York``). One module-scoped run of the chain and the twin; the
error cases are single tables read by ``read_omop_table`` (footers only, no Spark job, but for one table).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin, expected_statuses, toy_config

from trd_spark.config import OmopInput
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round44" / "nanosecond-timestamps"
ZONE = "America/New_York"
NAIVE, UTC = pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")




@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables) and the DuckDB twin, once, with
    omop.time_zone America/New_York: {"chain", "twin": sorted STATUS_COLUMNS tuples}."""
    out = tmp_path_factory.mktemp("round44") / "twin.parquet"
    cfg = toy_config(path=str(CASE / "omop"), time_zone=ZONE)
    rows = derive_phenotype_tables(read_omop(spark, cfg), cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    duckdb_twin().duckdb_phenotypes(str(CASE / "omop"), cfg, str(out), threads=1)
    con = duckdb.connect()
    try:
        twin = con.execute(f"SELECT {', '.join(STATUS_COLUMNS)} FROM read_parquet('{out}')").fetchall()
    finally:
        con.close()
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin)}


def test_each_nanosecond_column_is_dated_by_its_own_kind_in_the_chain(case_run):
    """On b1d6bac the UTC datetimes filling empty dates were read as naive (dated in UTC): 4401 ad3 TRD on
    2019-08-01, 203 d (not 07-31, 202 d); 4402 trMDD with 2 trials (its 42-day trial 41 days); 4403 ad3 TRD on
    2019-08-01, follow-up to 2019-09-11 (its death a day late: the clipped trial 42 days); 4406 MDD and ad3
    TRD (its second diagnosis on 01-11, not 01-10)."""
    assert case_run["chain"] == sorted(expected_statuses(CASE))


def test_each_nanosecond_column_is_dated_by_its_own_kind_in_the_duckdb_twin(case_run):
    """The twin read each column by its own DuckDB type (TIMESTAMP_NS, TIMESTAMPTZ_NS): right on b1d6bac too."""
    assert case_run["twin"] == sorted(expected_statuses(CASE))


def _omop(path: Path) -> OmopInput:
    return OmopInput(path=str(path), time_zone=ZONE, data_cutoff_date=dt.date(2023, 7, 1))


def test_an_integer_date_beside_a_nanosecond_timestamp_is_the_error_of_its_type(spark, tmp_path):
    """condition_start_date written as the integer 20190110 in a file with a nanosecond condition_start_datetime.
    On b1d6bac the chain read it as 20,190,110 ns after 1970 (1970-01-01), silently; the twin refused it."""
    pq.write_table(pa.table({
        "person_id": pa.array([1], pa.int64()), "condition_concept_id": pa.array([4152280], pa.int64()),
        "condition_start_date": pa.array([20190110], pa.int64()),
        "condition_start_datetime": pa.array([dt.datetime(2019, 1, 10, 9)], NAIVE)}),
        tmp_path / "condition_occurrence.parquet")
    with pytest.raises(InputDataError, match="column condition_start_date is bigint, not a date"):
        read_omop_table(spark, _omop(tmp_path), "condition_occurrence")
    with pytest.raises(ValueError, match="condition_start_date has type BIGINT, not a date"):
        duckdb_twin()._dated(duckdb.connect(), f"read_parquet('{tmp_path / 'condition_occurrence.parquet'}')",
                       "condition_occurrence", ZONE)


def test_a_naive_nanosecond_column_after_an_instant_one_is_read_by_its_written_date(spark, tmp_path):
    """A death table whose first nanosecond column is an instant (death_datetime, UTC) and whose death_date is
    naive, in a footer without an Arrow schema (``store_schema=False``, as writers other than pyarrow's default):
    on b1d6bac the naive midnights were read as UTC instants, dated in New York the day before (2019-03-04,
    2019-03-05 for 2019-03-05, 2019-03-06)."""
    pq.write_table(pa.table({
        "person_id": pa.array([1, 2], pa.int64()),
        "death_datetime": pa.array([dt.datetime(2019, 3, 5, 15, tzinfo=dt.UTC), None], UTC),
        "death_date": pa.array([dt.datetime(2019, 3, 5), dt.datetime(2019, 3, 6)], NAIVE)}),
        tmp_path / "death.parquet", store_schema=False)
    rows = read_omop_table(spark, _omop(tmp_path), "death").collect()
    assert sorted((r.person_id, r.death_date) for r in rows) == [(1, dt.date(2019, 3, 5)), (2, dt.date(2019, 3, 6))]


def _parts(folder: Path, kinds: list[pa.DataType]) -> None:
    """death/part-<i>.parquet, one row each: person i + 1, death_date 2019-03-05 (a naive midnight, or the
    instant 2019-03-05T03:00Z: 2019-03-04 in New York) as ``kinds[i]``."""
    folder.mkdir()
    for i, kind in enumerate(kinds):
        value = dt.datetime(2019, 3, 5, 3, tzinfo=dt.UTC) if kind.tz else dt.datetime(2019, 3, 5)
        pq.write_table(pa.table({"person_id": pa.array([i + 1], pa.int64()), "death_date": pa.array([value], kind)}),
                       folder / f"part-{i}.parquet")


def test_a_part_file_of_another_nanosecond_kind_is_an_error_in_the_chain(spark, tmp_path):
    """part-0 naive, part-1 an instant (both nanoseconds, both read as long). On b1d6bac read by part-0's flag:
    the instant's New York date 2019-03-04 read as 2019-03-05, silently."""
    _parts(tmp_path / "death", [NAIVE, UTC])
    with pytest.raises(InputDataError, match="column death_date is a nanosecond timestamp adjusted to UTC .* in "
                                             "this part file but a naive nanosecond timestamp .* in part-0.parquet"):
        read_omop_table(spark, _omop(tmp_path), "death")


@pytest.mark.parametrize("kinds", [[NAIVE, UTC], [UTC, NAIVE], [pa.timestamp("us"), pa.timestamp("us", tz="UTC")]],
                         ids=["ns-naive-then-instant", "ns-instant-then-naive", "us-naive-then-instant"])
def test_a_part_file_of_another_timestamp_kind_is_an_error_in_the_duckdb_twin(tmp_path, kinds):
    """On b1d6bac DuckDB read every part by part-0's type: [2019-03-05, 2019-03-05] for naive then instant
    (the instant's New York date is 03-04), [03-04, 03-04] for instant then naive (the naive date is 03-05),
    silently; the chain stops on each (the first here, a zone mismatch, a type mismatch)."""
    _parts(tmp_path / "death", kinds)
    with pytest.raises(ValueError, match="death.death_date is .* in this part file but .* rewrite the table's files"):
        duckdb_twin()._dated(duckdb.connect(), f"read_parquet('{tmp_path / 'death'}/*.parquet')", "death", ZONE)
