"""Field cases, round 18 (session 28, helper "hunt_omop18"): new variants of the OMOP kinds that
gave a wrong answer (or no answer) on 7aecd57.

- A Parquet table in Hive-style partition folders (``drug_exposure/year=2018/part-0.parquet``)
  whose part in one folder holds a column of nothing but None (pandas/pyarrow write Parquet's
  null type, which Spark reads as int): 2d47597 read such a part as empty only in a flat table
  folder. Partitioned, a null-typed first part made the others' dates a type conflict (the
  valid export refused), and a null-typed later part beside a typed first one failed inside a
  Spark task with a Java trace (a double column read from its INT32).
- A ``person`` row without a ``person_id`` was reported as "a person_id occurs on more than
  one row" (``countDistinct`` skips nulls), sending the user after duplicates that are not there.

Tiny inputs written inline; expected values by hand from docs/phenotypes.md.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_omop_null_typed_parts import _part

from trd_spark.config import OmopInput
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

D = dt.date


def _omop(tmp_path) -> OmopInput:
    return OmopInput(format="parquet", path=str(tmp_path / "omop"), data_cutoff_date=D(2023, 7, 1))


def _drug_part(folder, person: int, verbatim: pa.Array, quantity: pa.Array) -> None:
    """One drug_exposure part file in ``folder`` (test_omop_null_typed_parts' shape)."""
    _part(folder, "part-00000.parquet", person, verbatim, quantity)


@pytest.mark.parametrize("null_first", [True, False], ids=["null_partition_first", "null_partition_later"])
def test_a_null_typed_column_in_one_partition_folder_reads_as_empty_there(spark, tmp_path, null_first):
    """drug_exposure/year=2018 and year=2019, one part each: person 1's part (2018) holds
    verbatim_end_date and quantity as Parquet's null type when ``null_first``, else person 2's
    (2019); the other part has 2019-02-03 and 2.5. By hand: the typed part's values, None in
    the null-typed one. On 7aecd57: null_partition_first an InputDataError 'column
    verbatim_end_date is date in this part file but int', null_partition_later a Py4JJavaError
    (Parquet column cannot be converted: quantity, double, INT32)."""
    table = tmp_path / "omop" / "drug_exposure"
    nulls = pa.array([None], pa.null())
    typed = (pa.array([D(2019, 2, 3)], pa.date32()), pa.array([2.5], pa.float64()))
    empty = (nulls, nulls)
    _drug_part(table / "year=2018", 1, *(empty if null_first else typed))
    _drug_part(table / "year=2019", 2, *(typed if null_first else empty))
    rows = read_omop_table(spark, _omop(tmp_path), "drug_exposure").select(
        "person_id", "verbatim_end_date", "quantity").collect()
    dated = 2 if null_first else 1
    assert sorted(tuple(r) for r in rows) == sorted([(dated, D(2019, 2, 3), 2.5), (3 - dated, None, None)])


def test_a_person_row_without_person_id_is_named_as_such(spark, tmp_path):
    """person 1 and a row with an empty person_id: one error naming the missing person_id. On
    7aecd57: 'a person_id occurs on more than one row' (no person_id is repeated)."""
    (tmp_path / "omop").mkdir()
    two = pa.array([1, 1], pa.int64())
    pq.write_table(pa.table({
        "person_id": pa.array([1, None], pa.int64()), "gender_concept_id": pa.array([8532, 8507], pa.int64()),
        "year_of_birth": pa.array([1970, 1980], pa.int64()), "month_of_birth": two, "day_of_birth": two,
    }), tmp_path / "omop" / "person.parquet")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, _omop(tmp_path), "person")
    text = str(e.value)
    assert "person.parquet" in text and "column person_id: a row has no person_id" in text, text
    assert "more than one row" not in text, text


def test_a_csv_table_in_partition_folders_is_read(spark, tmp_path):
    """condition_occurrence/year=2018/part-0.csv and year=2019/part-0.csv, one header and one row
    each (person 1 on 2018-01-10, person 2 on 2019-01-10). By hand: both rows. On 7aecd57 the
    valid table was refused: 'this file's header names other columns, or the same in another
    order, than the table's first file' (the partition column year counted as a header field)."""
    table = tmp_path / "omop" / "condition_occurrence"
    for year, person in ((2018, 1), (2019, 2)):
        (table / f"year={year}").mkdir(parents=True)
        (table / f"year={year}" / "part-0.csv").write_text(
            f"person_id,condition_concept_id,condition_start_date\n{person},4152280,{year}-01-10\n")
    omop = _omop(tmp_path).model_copy(update={"format": "csv"})
    rows = read_omop_table(spark, omop, "condition_occurrence").collect()
    assert sorted((r.person_id, r.condition_concept_id, r.condition_start_date) for r in rows) == [
        (1, 4152280, D(2018, 1, 10)), (2, 4152280, D(2019, 1, 10))]


def test_study_records_without_a_person_or_a_date_are_warned_about_by_table_and_column(spark):
    """condition_occurrence: person 1's MDD codes on 2019-01-10 and 2019-02-10, one with no
    condition_start_date, and one of person_id 99 (no person row); drug_exposure: a sertraline
    order of person 1 with no start date. By hand: condition n_unknown_person 1, n_missing_date
    1; drug n_missing_date 1; one WARNING each naming its table and column. On 7aecd57 they were
    counted in an INFO line only (no unread_record_warnings)."""
    from pyspark.sql import functions as F
    from test_phenotypes_support import MDD_CONCEPT, SERTRALINE_TAB, cond, obs, omop_tables, person, toy_config

    from trd_spark.phenotypes.persons import derive_persons, followup_date_counts
    from trd_spark.phenotypes.stage import EVENT_TABLES, derive_study_events, unread_record_warnings

    conditions = [cond(1, MDD_CONCEPT, "2019-01-10"), cond(1, MDD_CONCEPT, "2019-02-10"), (1, MDD_CONCEPT, None),
                  cond(99, MDD_CONCEPT, "2019-01-10")]
    drugs = [(1, SERTRALINE_TAB, None, None, 60)]
    omop = omop_tables(spark, persons=[person(1)], observation_periods=[obs(1)], conditions=conditions, drugs=drugs)
    cfg = toy_config()
    persons = derive_persons(omop["person"], omop["observation_period"], omop["death"], cfg.omop.data_cutoff_date)
    events = derive_study_events(omop, cfg)
    # stage_counts' study_event_dates, for the two domains (its quirk parts are not needed here)
    tagged = events["condition"].select("person_id", F.col("condition_start_date").alias("d"), F.lit("condition").alias(
        "domain")).unionByName(events["drug"].select("person_id", F.col("drug_exposure_start_date").alias("d"),
                                                     F.lit("drug").alias("domain")))
    rows = followup_date_counts(tagged, persons, "d", omop["death"], cfg.omop.data_cutoff_date,
                                group_by=("domain",)).collect()
    dates = {r["domain"]: {k: v for k, v in r.asDict().items() if k != "domain"} for r in rows}
    assert (dates["condition"]["n_unknown_person"], dates["condition"]["n_missing_date"],
            dates["drug"]["n_missing_date"]) == (1, 1, 1)
    lines = unread_record_warnings({d: dates[d] for d in EVENT_TABLES if d in dates}, None)
    assert len(lines) == 3, lines
    assert lines[0].startswith("condition_occurrence: 1 study record(s) with an empty person_id"), lines
    assert lines[1].startswith("condition_occurrence: 1 study record(s) with an empty condition_start_date"), lines
    assert lines[2].startswith("drug_exposure: 1 study record(s) with an empty drug_exposure_start_date"), lines


@pytest.mark.parametrize("null_part", [False, True], ids=["typed_parts", "null_typed_part"])
def test_a_table_partitioned_by_an_omop_column_keeps_it(spark, tmp_path, null_part):
    """drug_exposure written with partitionBy('drug_concept_id'): drug_concept_id=700/ (person 1)
    and =701/ (person 2), the column in the folder names only; person 1's verbatim_end_date of
    Parquet's null type when ``null_part``. By hand: (1, 700), (2, 701). null_typed_part FAILS on
    7aecd57 (a type conflict); typed_parts passes there and FAILED on 85e66e7 (whose part-file
    check asked every part for the partition column), fixed since."""
    table = tmp_path / "omop" / "drug_exposure"
    for concept, person in ((700, 1), (701, 2)):
        folder = table / f"drug_concept_id={concept}"
        folder.mkdir(parents=True)
        verbatim = pa.array([None], pa.null()) if null_part and person == 1 else pa.array([D(2019, 2, 3)], pa.date32())
        pq.write_table(pa.table({
            "person_id": pa.array([person], pa.int64()),
            "drug_exposure_start_date": pa.array([D(2019, 1, 10)], pa.date32()),
            "drug_exposure_end_date": pa.array([D(2019, 2, 10)], pa.date32()),
            "days_supply": pa.array([30], pa.int32()), "verbatim_end_date": verbatim}), folder / "part-0.parquet")
    rows = read_omop_table(spark, _omop(tmp_path), "drug_exposure").select("person_id", "drug_concept_id").collect()
    assert sorted(tuple(r) for r in rows) == [(1, 700), (2, 701)]
