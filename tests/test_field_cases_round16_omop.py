"""Field cases, round 16 (session 26, helper "hunt_omop"): new variants of the OMOP kinds that
gave a silent wrong answer on a61194e.

- OMOP export shapes (round 15's kind: Parquet part files of one table with another schema).
  Round 15 refused a later part file that LACKS a column the first part has. The other way
  round was silent: Spark reads every part by the first part's columns, so a column that only
  later parts have (verbatim_end_date, condition_status_concept_id, a death_datetime whose
  death_date is empty, the configured sex-at-birth column) was read as empty in every file:
  exposure ends from days_supply instead of the recorded stop date, preliminary diagnoses
  counted as MDD diagnoses, deaths never ending follow-up. Now one error naming the part file
  and the column; the datetime partners and a sex column configured under another name are
  compared too; so are the parts of a table in Hive-style partition folders, and a Delta Lake
  table folder (its _delta_log says which files the current version holds; read as Parquet, the
  files of earlier versions counted as rows) is one error saying how to export it.
- Date columns as an export wrote them (the timestamp kind), valid data refused: pandas writes a
  column of nothing but missing values as Parquet's null type (an object column of None), which
  Spark reads as int, or as a float column of NaN (a CSV read with pd.read_csv). A CDM whose
  verbatim_end_date or *_datetime columns are all empty -- the usual shape -- was refused as
  'is int, not a date'. Such a column holds no value to misread: read as empty, one WARNING; a
  column of another type that holds a value stays the error.

Tiny inputs built inline (pyarrow files, the session's Spark); expected values by hand from
docs/phenotypes.md.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chance import without_paths

from trd_spark.config import OmopInput, SexAtBirthMapping
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

DAY = dt.date(2019, 1, 10)
CUTOFF = dt.date(2023, 7, 1)


def _ids(*values: int) -> pa.Array:
    return pa.array(list(values), pa.int64())


# table -> (columns of both parts, the column only the second part has, its value there, the
# column it is read as and 1002's value there by hand)
PARTS = {
    "drug_exposure": ({"drug_concept_id": _ids(739138), "drug_exposure_start_date": pa.array([DAY]),
                       "drug_exposure_end_date": pa.array([DAY]), "days_supply": pa.array([30], pa.int32())},
                      "verbatim_end_date", pa.array([dt.date(2019, 4, 10)]), "verbatim_end_date", dt.date(2019, 4, 10)),
    "condition_occurrence": ({"condition_concept_id": _ids(4152280), "condition_start_date": pa.array([DAY])},
                             "condition_status_concept_id", _ids(32899), "condition_status_concept_id", 32899),
    # the empty death_date takes its datetime partner's date (docs/phenotypes.md "Dates as the export meant them")
    "death": ({"death_date": pa.array([None], pa.date32())}, "death_datetime", pa.array([dt.datetime(2020, 5, 1)]),
              "death_date", dt.date(2020, 5, 1)),
    "person": ({"gender_concept_id": _ids(45878463), "year_of_birth": pa.array([1970], pa.int32()),
                "month_of_birth": pa.array([3], pa.int32()), "day_of_birth": pa.array([None], pa.int32())},
               "sex", _ids(45878463), "sex_at_birth_concept_id", 45878463),
}


def _omop(path) -> OmopInput:
    # person: sex at birth in a column named 'sex' (omop.sex_at_birth.column)
    return OmopInput(format="parquet", path=str(path), data_cutoff_date=CUTOFF,
                     sex_at_birth=SexAtBirthMapping(column="sex"))


@pytest.mark.parametrize("table", list(PARTS))
def test_a_column_only_a_later_part_file_has_is_one_error_naming_file_and_column(spark, tmp_path, table):
    """Person 1001's part lacks the column, 1002's has it. On a61194e the first three tables
    read without a word with the column empty for both (1002's recorded stop 2019-04-10, its
    preliminary status, its death on 2020-05-01: gone); person was refused as 'no column sex',
    which 1002's part has. The error names the second part and the column, no person_id. With
    the column in both parts (1001's empty) the table reads as written."""
    common, column, value, read_as, expected = PARTS[table]
    folder = tmp_path / "omop" / table
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"person_id": _ids(1001), **common}), folder / "part-00000.parquet")
    pq.write_table(pa.table({"person_id": _ids(1002), **common, column: value}), folder / "part-00001.parquet")
    omop = _omop(tmp_path / "omop")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, table).collect()
    line = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in line, line
    assert (f"{folder}/part-00001.parquet: OMOP table {table}: this part file has column {column}, which "
            "part-00000.parquet lacks") in line, line
    assert "1001" not in without_paths(line, tmp_path) and "1002" not in without_paths(line, tmp_path)

    pq.write_table(pa.table({"person_id": _ids(1001), **common, column: pa.nulls(1, value.type)}),
                   folder / "part-00000.parquet")
    got = dict(read_omop_table(spark, omop, table).select("person_id", read_as).collect())
    assert got == {1001: None, 1002: expected}



@pytest.mark.parametrize("extra_in", ["year=2020", "year=2019"])
def test_partition_folders_are_held_to_one_schema_too(spark, tmp_path, extra_in):
    """drug_exposure in Hive-style partition folders (year=2019/, year=2020/), verbatim_end_date
    in one folder's part only. Spark infers such a table's columns from one part's footer, and
    a61194e compared no part of a table in folders: the column was read as empty in every part
    or in the other's. Now one error naming the part that differs from year=2019's and the column."""
    common, column, value, _, _ = PARTS["drug_exposure"]
    folder = tmp_path / "omop" / "drug_exposure"
    for year in ("year=2019", "year=2020"):
        (folder / year).mkdir(parents=True)
        cols = {"person_id": _ids(1001), **common, **({column: value} if year == extra_in else {})}
        pq.write_table(pa.table(cols), folder / year / "part-00000.parquet")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, _omop(tmp_path / "omop"), "drug_exposure").collect()
    line = str(e.value)
    said = ("this part file has column verbatim_end_date, which year=2019/part-00000.parquet lacks"
            if extra_in == "year=2020" else "this part file has no column verbatim_end_date, which "
            "year=2019/part-00000.parquet has")
    assert f"{folder}/year=2020/part-00000.parquet: OMOP table drug_exposure: {said}" in line, line


def test_a_date_column_pandas_wrote_without_any_value_reads_as_empty(spark, tmp_path):
    """drug_exposure with verbatim_end_date of Parquet's null type (read by Spark as int) and
    drug_exposure_start_datetime a float column holding NaN (a value, not null: a writer that
    keeps pandas' NaN); death with death_datetime of the null type beside a filled death_date.
    On a61194e: 'OMOP table drug_exposure column verbatim_end_date is int, not a date,
    timestamp or ISO date text' (and the same for the datetime partners). Now read as written:
    no verbatim end, the start and death dates by hand; the same column holding a value
    (20190410, an int) is still the error."""
    base = tmp_path / "omop"
    base.mkdir()
    common = PARTS["drug_exposure"][0]
    drugs = {"person_id": _ids(1001), **common, "verbatim_end_date": pa.nulls(1),
             "drug_exposure_start_datetime": pa.array([float("nan")], pa.float64())}
    pq.write_table(pa.table(drugs), base / "drug_exposure.parquet")
    pq.write_table(pa.table({"person_id": _ids(1001), "death_date": pa.array([dt.date(2020, 5, 1)]),
                             "death_datetime": pa.nulls(1)}), base / "death.parquet")
    omop = _omop(base)
    got = read_omop_table(spark, omop, "drug_exposure").select(
        "drug_exposure_start_date", "verbatim_end_date", "days_supply").collect()
    assert [tuple(r) for r in got] == [(DAY, None, 30)]
    assert [tuple(r) for r in read_omop_table(spark, omop, "death").collect()] == [(1001, dt.date(2020, 5, 1))]

    pq.write_table(pa.table({**drugs, "verbatim_end_date": pa.array([20190410], pa.int32())}),
                   base / "drug_exposure.parquet")
    with pytest.raises(InputDataError, match="column verbatim_end_date is int, not a date"):
        read_omop_table(spark, omop, "drug_exposure")


def test_a_delta_lake_table_folder_is_one_error_not_every_version_s_rows(spark, tmp_path):
    """death as a Delta Lake table: version 0 wrote part-00000 (1001 dead on 2020-05-01), version 1
    corrected it (remove part-00000, add part-00001 with 2021-05-01). Read as Parquet on a61194e
    both rows counted and the earliest death, the corrected one, ended 1001's follow-up a year
    early. Now one error naming the table folder; without _delta_log the folder reads as Parquet."""
    folder = tmp_path / "omop" / "death"
    (folder / "_delta_log").mkdir(parents=True)
    for i, day in enumerate((dt.date(2020, 5, 1), dt.date(2021, 5, 1))):
        pq.write_table(pa.table({"person_id": _ids(1001), "death_date": pa.array([day])}), folder / f"part-0000{i}.parquet")
    (folder / "_delta_log" / "00000000000000000000.json").write_text('{"add":{"path":"part-00000.parquet"}}\n')
    (folder / "_delta_log" / "00000000000000000001.json").write_text(
        '{"remove":{"path":"part-00000.parquet"}}\n{"add":{"path":"part-00001.parquet"}}\n')
    omop = _omop(tmp_path / "omop")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, "death").collect()
    line = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in line, line
    assert line.startswith(f"{folder}: OMOP table death is a Delta Lake table (it has a _delta_log folder)"), line
    (folder / "part-00000.parquet").unlink()
    for f in (folder / "_delta_log").iterdir():
        f.unlink()
    (folder / "_delta_log").rmdir()
    assert [tuple(r) for r in read_omop_table(spark, omop, "death").collect()] == [(1001, dt.date(2021, 5, 1))]


@pytest.mark.parametrize(("marker", "kind"), [(".hoodie", "an Apache Hudi"), ("metadata", "an Apache Iceberg")])
def test_a_hudi_or_iceberg_table_folder_is_one_error_as_a_delta_one(spark, tmp_path, marker, kind):
    """85d27c4's siblings, the other table formats whose folder keeps earlier versions' files:
    death as an Apache Hudi table (copy-on-write: version 1 rewrote 1001's file group, the old
    file slice kept until the cleaner runs; its .hoodie folder is hidden, so Spark reads both
    slices) and as an Apache Iceberg one (data/ beside metadata/v2.metadata.json). On 12a1719
    the Hudi folder read both rows silently, the earliest, corrected-away death ending 1001's
    follow-up a year early; the Iceberg one stopped with Spark's 'Unable to infer schema for
    Parquet' trace. Now one error naming the table folder, as for Delta Lake."""
    folder = tmp_path / "omop" / "death"
    data = folder if marker == ".hoodie" else folder / "data"
    data.mkdir(parents=True)
    (folder / marker).mkdir()
    (folder / marker / ("hoodie.properties" if marker == ".hoodie" else "v2.metadata.json")).write_text("{}\n")
    for i, day in enumerate((dt.date(2020, 5, 1), dt.date(2021, 5, 1))):
        pq.write_table(pa.table({"person_id": _ids(1001), "death_date": pa.array([day])}),
                       data / f"f1-0_0-1-{i}_2024010100000{i}.parquet")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, _omop(tmp_path / "omop"), "death").collect()
    line = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in line, line
    assert line.startswith(f"{folder}: OMOP table death is {kind} table (it has a {marker} folder)"), line
