"""Reading OMOP tables: parquet file/dir, CSV typed by the declared schema, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest
from test_phenotypes_support import drug, frame, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import bigquery_read_options, read_omop_table


def test_parquet_round_trip_with_int_ids_and_upper_case_columns(spark, tmp_path):
    # person_id as int and DRUG_CONCEPT_ID upper-cased, as some exports write them
    df = frame(spark, "drug_exposure", [drug(1, 2_000_000_101, "2020-01-01", days_supply=30)])
    df = df.withColumn("person_id", df.person_id.cast("int")).withColumnRenamed("drug_concept_id", "DRUG_CONCEPT_ID")
    # verbatim_end_date, quantity and refills are optional: an export without them reads as null
    df.drop("verbatim_end_date", "quantity", "refills").withColumn("extra", df.days_supply).write.parquet(
        str(tmp_path / "drug_exposure.parquet"))
    out = read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "drug_exposure")
    assert out.columns == ["person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                           "days_supply", "verbatim_end_date", "quantity", "refills"]
    row = out.collect()[0]
    assert (row.verbatim_end_date, row.quantity, row.refills) == (None, None, None)
    assert dict(out.dtypes)["person_id"] == "bigint"
    assert out.collect()[0].drug_exposure_start_date == dt.date(2020, 1, 1)


def test_csv_is_typed_by_declared_schema(spark, tmp_path):
    (tmp_path / "death.csv").write_text("person_id,death_date,cause_concept_id\n7,2021-05-05,0\n8,,0\n")
    out = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death")
    assert dict(out.dtypes) == {"person_id": "bigint", "death_date": "date"}
    assert sorted(out.collect()) == [(7, dt.date(2021, 5, 5)), (8, None)]


def test_missing_column_names_table_and_column(spark, tmp_path):
    (tmp_path / "death.csv").write_text("person_id,cause_concept_id\n7,0\n")
    with pytest.raises(InputDataError, match="death.*death_date"):
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death")


def test_missing_table_is_a_clear_error(spark, tmp_path):
    with pytest.raises(InputDataError, match="person not found"):
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "person")


def test_bigquery_reader_options():
    omop = toy_config(path="my-project.cdr_v7", format="bigquery").omop
    assert bigquery_read_options(omop, "drug_exposure") == {
        "table": "my-project.cdr_v7.drug_exposure", "parentProject": "my-project", "viewsEnabled": "true"}
    with pytest.raises(InputDataError, match="project.dataset"):
        bigquery_read_options(toy_config(path="/data/omop", format="bigquery").omop, "person")


def test_bigquery_without_connector_is_a_clear_error(spark):
    """This session has no BigQuery connector jar: the error says how to add it (no network used)."""
    with pytest.raises(InputDataError, match=r"connector is not on the classpath.*submit.sh --bigquery") as e:
        read_omop_table(spark, toy_config(path="proj.dataset", format="bigquery").omop, "person")
    assert "proj.dataset.person" in str(e.value)
