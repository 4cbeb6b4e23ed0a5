"""Session 37, helper "fixesB": the reader's findings 3 and 4 and an invalid_reason spelling.

- 3: a drug_exposure table without drug_type_concept_id: the WARNING counting its records without
  an end or a days_supply showed the count exactly when >= T, beside the table's exact row count
  (the stage's ``event_table_records`` line): their difference, 1..T-1 records, by subtraction.
- 4: time-zone-aware Parquet columns on a filesystem pyarrow cannot open (hdfs://, s3a://): the
  declared zones were skipped silently; now read through Hadoop, else one counted WARNING.
"""

from __future__ import annotations

import logging
import re
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import test_field_cases_round29_omop as R29
from test_phenotypes_support import STATUS_COLUMNS, expected_statuses, toy_config

from trd_spark.phenotypes.omop import conform_omop_table, read_omop_table
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop


def test_drug_type_warning_count_is_a_label_not_a_rest_of_the_table(spark, caplog):
    """25 drug records, 22 without an end or a days_supply: on 45f9cc3 the WARNING said "22 records"
    beside the table's 25 (3 with an end, by subtraction); now "20+ record(s)", and no number in it
    differs from 25 by 1..19 (tests/person_count_guard.small_record_rests does not read this line,
    so the numbers are checked here)."""
    rows = [(i, 10, "2019-01-01", None, None, None) for i in range(22)] + \
           [(100 + i, 10, "2019-01-01", "2019-02-01", None, 30) for i in range(3)]
    df = spark.createDataFrame(rows, "person_id long, drug_concept_id long, drug_exposure_start_date string, "
                                     "drug_exposure_end_date string, verbatim_end_date string, days_supply int")
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        conform_omop_table(df, "drug_exposure", where="omop/drug_exposure.parquet", records_below=20)
    found = [m for m in caplog.messages if "drug_type_concept_id" in m]
    assert len(found) == 1 and "; 20+ record(s) without an end or a days_supply" in found[0], found
    numbers = [int(x) for x in re.findall(r"(?<![\w.<])(\d+)(?![\d+])", found[0])]
    assert not [x for x in numbers if 0 < 25 - x < 20], found[0]


class _NoPyarrowFs:
    """pyarrow.fs as on a cluster whose pyarrow has no driver for the table's scheme (hdfs://
    without libhdfs, s3a://): ``FileSystem.from_uri`` raises."""

    class FileSystem:
        @staticmethod
        def from_uri(uri: str):
            raise pa.ArrowInvalid(f"Unrecognized filesystem type in URI: {uri}")


def test_declared_zones_read_through_hadoop_where_pyarrow_cannot_open_the_file(spark, tmp_path, caplog, monkeypatch):
    """Finding 4: the round-29 case (tests/test_field_cases_round29_omop.py) with pyarrow unable to
    open any file. On 45f9cc3 / 09a25f2 every declared zone was skipped silently (the persons'
    answers differ, no WARNING); now the footer's ARROW:schema is read through Hadoop's
    ParquetFileReader: the expected rows and the same seven WARNINGs."""
    import trd_spark.phenotypes.omop as omop_module

    omop_dir = tmp_path / "omop"
    shutil.copytree(R29.CASE / "omop", omop_dir)
    cfg = toy_config(path=str(omop_dir), time_zone="UTC")
    monkeypatch.setattr(omop_module, "pafs", _NoPyarrowFs)
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        omop = read_omop(spark, cfg)
    rows = derive_phenotype_tables(omop, cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    assert sorted(tuple(r) for r in rows) == expected_statuses(R29.CASE)
    assert len([m for m in caplog.messages if "declare time zone" in m]) == 7, caplog.messages
    assert not [m for m in caplog.messages if "were not checked" in m]


def test_a_footer_neither_reader_can_read_is_one_counted_warning(spark, tmp_path, caplog, monkeypatch):
    """Neither pyarrow nor Hadoop reads the footer (hadoop_arrow_schema None): one WARNING naming
    the table, the number of part files unchecked and the instant columns (09a25f2: nothing)."""
    import trd_spark.phenotypes.omop as omop_module

    folder = tmp_path / "death"
    folder.mkdir()
    for i in range(2):
        values = pa.array([pd.Timestamp("2019-01-10").tz_localize("Asia/Tokyo")], pa.timestamp("us", tz="Asia/Tokyo"))
        pq.write_table(pa.table({"person_id": pa.array([i + 1], pa.int64()), "death_date": values}),
                       folder / f"part-{i}.parquet")
    monkeypatch.setattr(omop_module, "pafs", _NoPyarrowFs)
    monkeypatch.setattr(omop_module, "hadoop_arrow_schema", lambda spark, file: None)
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death")
    found = [m for m in caplog.messages if "were not checked" in m]
    assert len(found) == 1, caplog.messages
    assert "OMOP table death: the footer of 2 part files of 2 part files could not be read" in found[0], found
    assert "death_date" in found[0] and "\n" not in found[0]


def test_invalid_reason_spelled_null_or_na_is_null(spark, caplog):
    """Extra (omop29's note): concept.invalid_reason exported as text "NULL" (SSMS), "NA" (R
    write.csv), "na " or "" read as null, a valid concept, with one WARNING naming the file, the
    column and the spellings; 'D' stays. On 09a25f2 the text stayed: every such concept was
    "invalid" (concepts._invalid_concepts found 1-4), the sets empty, the run stopped at the
    concept_ancestor gate naming another cause."""
    from trd_spark.phenotypes.concepts import _invalid_concepts

    rows = [(1, "NULL"), (2, "NA"), (3, "na "), (4, ""), (5, "D"), (6, None), (7, "U")]
    df = spark.createDataFrame([(i, f"c{i}", "Drug", "RxNorm", "Ingredient", "S", str(i), r) for i, r in rows],
                               "concept_id long, concept_name string, domain_id string, vocabulary_id string, "
                               "concept_class_id string, standard_concept string, concept_code string, "
                               "invalid_reason string")
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        out = conform_omop_table(df, "concept", where="vocab/concept.csv")
    assert sorted((r.concept_id, r.invalid_reason) for r in out.collect()) == [
        (1, None), (2, None), (3, None), (4, None), (5, "D"), (6, None), (7, "U")]
    assert _invalid_concepts(out, {1, 2, 3, 4, 5, 6, 7}) == {5, 7}
    found = [m for m in caplog.messages if "invalid_reason" in m]
    assert len(found) == 1 and found[0].startswith("vocab/concept.csv: OMOP table concept column invalid_reason"), found
    assert all(s in found[0] for s in ("'NULL' (1 row)", "'NA' (1 row)", "'na ' (1 row)", "'' (1 row)")), found
