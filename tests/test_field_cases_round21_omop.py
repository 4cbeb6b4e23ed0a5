"""Field cases, round 21 (session 31, helper "omop21"): new variants of the OMOP kinds that gave a
silent wrong answer on 48016ac.

- Condition status: before OMOP had a Condition Status vocabulary, the CDM's own documentation
  (OHDSI/CommonDataModel, CONDITION_OCCURRENCE convention 10; quoted in OHDSI/Atlas#404)
  recommended SNOMED concepts for ``condition_status_concept_id``: admitting diagnosis 4203942,
  final diagnosis 4230359, preliminary diagnosis 4033240. ETLs written to that convention still
  load 4033240, which only 32899 (the Condition Status "Preliminary diagnosis") was read as: such a
  record counted as an MDD diagnosis, so one formal MDD code beside a preliminary one made a person
  MDD, and a preliminary code before the first formal one became the index (an earlier index, a
  longer time to TRD). Now both are preliminary statuses (``vocabulary.PRELIMINARY_DIAGNOSIS_STATUS_IDS``).
- Parquet INT96 timestamps (Impala, Hive, pyarrow's ``use_deprecated_int96_timestamps``) before
  1900-01-01T00:00:00Z, e.g. the ``birth_datetime`` of a person born before 1900, failed the whole
  run with a Java trace (Spark's int96RebaseModeInRead EXCEPTION, for files not written by Spark 3);
  the session now reads them as written (CORRECTED), as it already read DATE columns.

Tiny inputs built inline on the session's Spark (toy config: cutoff 2023-07-01); expected values
by hand from docs/phenotypes.md / "Concepts", and checked against an independent DuckDB query
of the MDD rule with its own status list.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from test_phenotypes_support import (
    BIPOLAR,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    drug,
    duckdb_mdd_index,
    frame,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import condition_status_counts, derive_phenotype_tables

CUTOFF = dt.date(2023, 7, 1)
# The CDM documentation's SNOMED condition statuses (convention 10) and the Condition Status
# vocabulary's preliminary diagnosis, written out here: the DuckDB check does not read trd_spark's list.
SNOMED_PRELIMINARY, SNOMED_ADMITTING, SNOMED_FINAL, PRELIMINARY = 4033240, 4203942, 4230359, 32899
NOT_A_DIAGNOSIS = (PRELIMINARY, SNOMED_PRELIMINARY, 4188893)  # 4188893: "history of"

# person_id, concept, date, condition_status_concept_id
STATUS_ROWS = [
    (1, MDD_CONCEPT, "2019-01-10", SNOMED_PRELIMINARY), (1, MDD_CONCEPT, "2019-02-10", None),
    (2, MDD_CONCEPT, "2018-06-01", SNOMED_PRELIMINARY), (2, MDD_CONCEPT, "2019-01-10", SNOMED_FINAL),
    (2, MDD_CONCEPT, "2019-02-10", None),
    (3, MDD_CONCEPT, "2019-01-10", SNOMED_ADMITTING), (3, MDD_CONCEPT, "2019-02-10", SNOMED_FINAL),
    (4, BIPOLAR, "2018-01-01", SNOMED_PRELIMINARY), (4, MDD_CONCEPT, "2019-01-10", None),
    (4, MDD_CONCEPT, "2019-02-10", None),
]


def test_the_cdm_documented_snomed_preliminary_status_is_no_mdd_diagnosis(spark):
    """By hand (follow-up to the cutoff 2023-07-01):
    1: MDD 2019-01-10 (4033240, preliminary) and 2019-02-10: one diagnosis date -> not MDD, excluded
       depression_not_mdd (48016ac: MDD, index 2019-01-10, MDD_other).
    2: MDD 2018-06-01 (4033240), 2019-01-10 (4230359 final), 2019-02-10; sertraline 2019-03-01 x 60
       days -> index 2019-01-10, trMDD, 1633 days (48016ac: index 2018-06-01, 1856 days).
    3: admitting (4203942) and final (4230359) MDD codes are diagnoses: MDD, index 2019-01-10.
    4: a preliminary (4033240) bipolar code still excludes: bipolar.
    The preliminary records are counted: 3 (48016ac: 0). DuckDB's MDD index agrees."""
    conditions = [(*cond(p, c, day), status) for p, c, day, status in STATUS_ROWS]
    omop = omop_tables(spark, persons=[person(p) for p in (1, 2, 3, 4)],
                       observation_periods=[obs(p) for p in (1, 2, 3, 4)], conditions=conditions,
                       drugs=[drug(2, SERTRALINE_TAB, "2019-03-01", days_supply=60)])
    tables = derive_phenotype_tables(omop, toy_config())
    got = {r.person_id: (r.status, r.exclusion_reason, r.mdd_index_date, r.time_to_trd_days)
           for r in tables.phenotypes.where("definition = 'ad3'").collect()}
    assert got == {
        1: ("excluded", "depression_not_mdd", None, None),
        2: ("trMDD", None, d("2019-01-10"), days("2019-01-10", "2023-07-01")),
        3: ("MDD_other", "no_adequate_trial", d("2019-01-10"), days("2019-01-10", "2023-07-01")),
        4: ("excluded", "bipolar", None, None),
    }
    assert days("2019-01-10", "2023-07-01") == 1633
    oracle = duckdb_mdd_index(STATUS_ROWS, NOT_A_DIAGNOSIS)
    assert oracle == {1: None, 2: d("2019-01-10"), 3: d("2019-01-10"), 4: d("2019-01-10")}
    spark_index = {r.person_id: r.mdd_index_date for r in tables.mdd.collect()}
    assert spark_index == oracle  # 4 meets the count (index set), then excluded for bipolar
    counts = condition_status_counts(tables.study_events["condition"]).collect()[0]
    assert (counts.n_preliminary_records, counts.n_history_records) == (3, 0)


def test_int96_birth_datetimes_before_1900_are_read_as_written(spark, tmp_path):
    """person.parquet as Impala / pyarrow write INT96 (UTC instants; omop.time_zone UTC, as the AoU
    configs): 1 born 1899-06-20 (birth_datetime 1899-06-20T00:00Z), died 1985-03-01, MDD codes
    1980-01-10 and 1980-02-10, observed 1975-01-01..1985-12-31; 2 born 1950-05-02 (its
    birth_datetime after 1900: read before too). By hand: 1 is MDD_other (no trial), index
    1980-01-10, follow-up to the death, 1877 days, aged 80 + 204/366 at the index (last birthday
    1979-06-20, next 1980-06-20). DuckDB reads the same INT96 values as the same dates. On 48016ac
    reading the table failed: SparkUpgradeException READ_ANCIENT_DATETIME (a Java trace, exit 1)."""
    stamps = [dt.datetime(1899, 6, 20), dt.datetime(1950, 5, 2)]
    person_file = tmp_path / "person.parquet"
    pq.write_table(pa.table({
        "person_id": pa.array([1, 2], pa.int64()), "gender_concept_id": pa.array([8507, 8532], pa.int64()),
        "year_of_birth": pa.array([1899, 1950], pa.int32()), "month_of_birth": pa.array([6, 5], pa.int32()),
        "day_of_birth": pa.array([None, 2], pa.int32()),
        "birth_datetime": pa.array(stamps, pa.timestamp("us", tz="UTC"))}), person_file,
        use_deprecated_int96_timestamps=True)
    assert str(pq.read_metadata(person_file).schema.column(5).physical_type) == "INT96"
    cfg = toy_config(path=str(tmp_path), time_zone="UTC")
    person = read_omop_table(spark, cfg.omop, "person")
    assert {r.person_id: r.birth_datetime for r in person.collect()} == {1: d("1899-06-20"), 2: d("1950-05-02")}
    con = duckdb.connect()
    try:  # the DuckDB twin's reading of INT96: a UTC instant, its date in the zone
        oracle = dict(con.execute(f"SELECT person_id, CAST(timezone('UTC', timezone('UTC', birth_datetime)) AS DATE) "
                                  f"FROM read_parquet('{person_file}')").fetchall())
    finally:
        con.close()
    assert oracle == {1: d("1899-06-20"), 2: d("1950-05-02")}
    omop = omop_tables(spark, observation_periods=[obs(1, "1975-01-01", "1985-12-31"), obs(2)],
                       conditions=[cond(1, MDD_CONCEPT, "1980-01-10"), cond(1, MDD_CONCEPT, "1980-02-10")])
    omop["person"] = person
    omop["death"] = frame(spark, "death", [(1, d("1985-03-01"))])
    row = derive_phenotype_tables(omop, cfg).phenotypes.where("definition = 'ad3' AND person_id = 1").first()
    assert (row.status, row.exclusion_reason, row.mdd_index_date, row.followup_end_date, row.time_to_trd_days) == (
        "MDD_other", "no_adequate_trial", d("1980-01-10"), d("1985-03-01"), days("1980-01-10", "1985-03-01"))
    assert days("1980-01-10", "1985-03-01") == 1877
    assert abs(row.age_at_index - (80 + 204 / 366)) < 1e-9
