"""Reading OMOP tables: parquet file/dir, CSV typed by the declared schema, clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from chance import without_paths
from test_phenotypes_support import drug, frame, spark_jobs, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import bigquery_read_options, read_omop_table


def test_parquet_round_trip_with_int_ids_and_upper_case_columns(spark, tmp_path):
    # person_id as int and DRUG_CONCEPT_ID upper-cased, as some exports write them
    df = frame(spark, "drug_exposure", [drug(1, 2_000_000_101, "2020-01-01", days_supply=30)])
    df = df.withColumn("person_id", df.person_id.cast("int")).withColumnRenamed("drug_concept_id", "DRUG_CONCEPT_ID")
    # verbatim_end_date, quantity, refills, drug_source_concept_id and drug_type_concept_id are optional: an export
    # without them reads as null
    df.drop("verbatim_end_date", "quantity", "refills", "drug_type_concept_id").withColumn("extra", df.days_supply).write.parquet(
        str(tmp_path / "drug_exposure.parquet"))
    out = read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "drug_exposure")
    assert out.columns == ["person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                           "days_supply", "verbatim_end_date", "quantity", "refills", "drug_source_concept_id",
                           "drug_type_concept_id", "drug_exposure_id"]
    row = out.collect()[0]
    assert (row.verbatim_end_date, row.quantity, row.refills, row.drug_source_concept_id,
            row.drug_type_concept_id, row.drug_exposure_id) == (None, None, None, None, None, None)
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
    # A billing project (AoU: the workspace's) is billed instead of the dataset's project
    billed = toy_config(path="my-project.cdr_v7", format="bigquery", billing_project="ws-project").omop
    assert bigquery_read_options(billed, "person") == {
        "table": "my-project.cdr_v7.person", "parentProject": "ws-project", "viewsEnabled": "true"}
    with pytest.raises(InputDataError, match="project.dataset"):
        bigquery_read_options(toy_config(path="/data/omop", format="bigquery").omop, "person")


def test_bigquery_without_connector_is_a_clear_error(spark):
    """This session has no BigQuery connector jar: the error says how to add it (no network used)."""
    with pytest.raises(InputDataError, match=r"connector is not on the classpath.*submit.sh --bigquery") as e:
        read_omop_table(spark, toy_config(path="proj.dataset", format="bigquery").omop, "person")
    assert "proj.dataset.person" in str(e.value)


@pytest.mark.parametrize(("fmt", "stages", "stops"), [
    ("bigquery", ["pgs", "phenotypes"], True), ("bigquery", ["pgs"], False), ("parquet", ["pgs", "phenotypes"], False),
], ids=["bigquery-run", "bigquery-pgs-only", "parquet"])
def test_bigquery_connector_is_checked_when_the_run_starts(spark, tmp_path, fmt, stages, stops):
    """New-user trial, session 16: without the connector (this session has none) a run with the
    phenotype stage stopped there, after the pgs stage (hours at All of Us scale; the README's
    AoU submit line had no --bigquery). ``pipeline.check_omop_connector``, called by run_stages
    before its first stage, stops it with one ConfigError saying how to add the jar."""
    from trd_spark.errors import ConfigError
    from trd_spark.pipeline import check_omop_connector, run_stages

    cfg = toy_config(format=fmt, path="proj.dataset" if fmt == "bigquery" else str(tmp_path / "omop"))
    cfg = cfg.model_copy(update={"output_root": str(tmp_path / "out")})
    if not stops:
        check_omop_connector(spark, cfg, stages)
        return
    with pytest.raises(ConfigError, match=r"omop.format bigquery: .*connector is not on the classpath.*--bigquery"):
        check_omop_connector(spark, cfg, stages)
    with pytest.raises(ConfigError, match="connector is not on the classpath"):
        run_stages(spark, cfg, stages)
    assert not (tmp_path / "out").exists()  # no stage ran


@pytest.mark.parametrize(("arrow_type", "zone", "expected"), [
    ("timestamp[us]", None, "2019-01-10"),  # naive: the written date
    ("timestamp[ns]", None, "2019-01-10"),  # pandas' default nanoseconds, naive
    ("timestamp[ns, tz=Europe/Amsterdam]", "Europe/Amsterdam", "2019-01-10"),  # local midnight = 23:00 UTC the day before
    ("timestamp[us, tz=America/New_York]", "America/New_York", "2019-01-10"),
    ("string", None, "2019-01-10"),  # '2019-01-10T00:00:00' text
])
def test_death_dates_as_the_export_meant_them(spark, tmp_path, arrow_type, zone, expected):
    """Another table and column than the field case (death.death_date): every date shape."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = pd.Timestamp("2019-01-10 00:00:00")
    if arrow_type == "string":
        values = pa.array(["2019-01-10T00:00:00"])
    elif "tz=" in arrow_type:
        tz = arrow_type.split("tz=")[1].rstrip("]")
        unit = arrow_type[10:12]
        values = pa.array([local.tz_localize(tz)], pa.timestamp(unit, tz=tz))
    else:
        values = pa.array([local], pa.timestamp(arrow_type[10:12]))
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": values}),
                   str(tmp_path / "death.parquet"))
    out = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone=zone).omop, "death")
    assert out.collect()[0].death_date == dt.date.fromisoformat(expected)


def test_dates_of_a_non_spark_writer_read_as_written_with_lazy_dictionary_decoding(spark, tmp_path):
    """A pyarrow DATE column (dictionary-encoded, no Spark writer metadata) reads as written,
    a date before the 1582 Gregorian switch too: the session reads such files as proleptic
    Gregorian (``spark.sql.parquet.datetimeRebaseModeInRead`` CORRECTED, session.spark_conf),
    which also lets Spark decode DATE dictionaries lazily (only the rows a filter keeps). Under
    Spark's default (EXCEPTION) the old date fails the read with SparkUpgradeException."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dates = [dt.date(1500, 3, 1), dt.date(2019, 1, 10), dt.date(2019, 1, 10), None]
    pq.write_table(pa.table({"person_id": pa.array([1, 2, 3, 4], pa.int64()), "death_date": pa.array(dates, pa.date32())}),
                   str(tmp_path / "death.parquet"), use_dictionary=True)
    assert pq.ParquetFile(str(tmp_path / "death.parquet")).metadata.row_group(0).column(1).encodings.count("RLE_DICTIONARY")
    out = read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death")
    assert sorted((r.person_id, r.death_date) for r in out.collect()) == list(zip([1, 2, 3, 4], dates, strict=True))
    key = "spark.sql.parquet.datetimeRebaseModeInRead"
    assert spark.conf.get(key) == "CORRECTED"
    spark.conf.set(key, "EXCEPTION")  # Spark's default: the same read fails on the 1500 date
    try:
        with pytest.raises(Exception, match="INCONSISTENT_BEHAVIOR_CROSS_VERSION|SparkUpgradeException"):
            read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death").collect()
    finally:
        spark.conf.set(key, "CORRECTED")


def test_tz_aware_death_date_without_zone_and_non_date_types_are_errors(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([0], pa.timestamp("ns", tz="UTC"))}), str(tmp_path / "death.parquet"))
    with pytest.raises(InputDataError, match="death column death_date is a time-zone-aware timestamp; set omop.time_zone"):
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death")
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": pa.array([20190110], pa.int64())}),
                   str(tmp_path / "death.parquet"))
    with pytest.raises(InputDataError, match="death column death_date is bigint, not a date"):
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death")


@pytest.mark.parametrize(("text", "shape"), [("20190110", "########"), ("2019/01/10", "####/##/##")])
def test_compact_or_slashed_date_text_is_an_error_naming_file_and_column(spark, tmp_path, text, shape):
    """A date column stored as text 'YYYYMMDD' (or with slashes) is rejected in one line naming the
    file, table and column, with the value's shape (errors.value_shape: a date is individual data)
    and no person_id, never read as a null date (which would drop the death, i.e. follow the
    person past it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"person_id": pa.array([123456789], pa.int64()), "death_date": pa.array([text])}),
                   str(tmp_path / "death.parquet"))
    with pytest.raises(InputDataError, match=rf"death\.parquet: OMOP table death column death_date: value\(s\) are "
                                             rf"not dates \(yyyy-mm-dd\), e\.g\. '{shape}' \(digits shown as #, "
                                             # the row's position in its file (session 53): no ID
                                             r"letters as a\) \(row 1 of file:\S+/death\.parquet\)$") as e:
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death")
    message = without_paths(str(e.value), tmp_path)  # the folders may hold the digits
    assert "123456789" not in message and text not in message and "\n" not in str(e.value)


def test_numeric_text_is_an_error_naming_table_and_column(spark, tmp_path):
    """days_supply "90 days" (a CSV or text column) is never a silent null; ids are named, not shown."""
    (tmp_path / "drug_exposure.csv").write_text(
        "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,days_supply\n"
        "1,2000000101,2020-01-01,2020-01-01,90 days\n1,2000000101,2020-02-01,2020-02-01,30\n")
    with pytest.raises(InputDataError, match=r"drug_exposure column days_supply: <20 value\(s\) are not int numbers, "
                                             r"e.g. '## aaaa' \(digits shown as #"):
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "drug_exposure")
    (tmp_path / "person.csv").write_text("person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth\n"
                                         "P-17,8507,1970,1,1\n")
    with pytest.raises(InputDataError, match=r"person column person_id: value\(s\) are not bigint numbers$"):
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "person")


def test_a_fraction_in_an_integer_text_column_is_an_error_not_a_truncation(spark, tmp_path):
    """days_supply '30.5' (CSV) was read as 30 and person_id '1.5' as 1: Spark's cast to an
    integer drops the fraction where the "90 days" check above sees a number. The CDM declares
    both integers: one error naming table and column (the value's shape only). A whole number
    written with a point ('30.0', pandas' int column with missing values) is that integer. The
    error names the file's line of the first such row (blank lines counted), as other input
    errors do."""
    header = "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,days_supply,quantity,refills\n"
    (tmp_path / "drug_exposure.csv").write_text(header + "1,2000000101,2020-01-01,2020-01-01,30.0,2.5,2.\n")
    config = toy_config(path=str(tmp_path), format="csv").omop
    row = read_omop_table(spark, config, "drug_exposure").collect()[0]
    assert (row.days_supply, row.quantity, row.refills) == (30, 2.5, 2)  # quantity is a float in the CDM
    (tmp_path / "drug_exposure.csv").write_text(header + "1,2000000101,2020-01-01,2020-01-01,30,1,0\n\n"
                                                "1,2000000101,2020-01-01,2020-01-01,30.5,1,0\n"
                                                "1,2000000101,2020-02-01,2020-02-01,\"7.5\",1,0\n")
    with pytest.raises(InputDataError, match=rf"^{tmp_path}/drug_exposure.csv:4: OMOP table drug_exposure column "
                                             r"days_supply: <20 value\(s\) are not int numbers, e.g. '#?#\.#' "
                                             r"\(digits shown as #"):
        read_omop_table(spark, config, "drug_exposure")
    (tmp_path / "drug_exposure.csv").write_text(header + "1,2000000101.5,2020-01-01,2020-01-01,30,1,.5\n")
    with pytest.raises(InputDataError, match=r"drug_exposure column drug_concept_id: <20 value\(s\) are not bigint "
                                             r"numbers$"):
        read_omop_table(spark, config, "drug_exposure")
    (tmp_path / "drug_exposure.csv").write_text(header + "1,2000000101,2020-01-01,2020-01-01,30,1,.5\n")
    with pytest.raises(InputDataError, match=r"drug_exposure.csv:2: OMOP table drug_exposure column refills: <20 value\(s\) are not int numbers, "
                                             r"e.g. '.#'"):
        read_omop_table(spark, config, "drug_exposure")


@pytest.mark.parametrize(("column", "arrow_type", "value"), [
    ("days_supply", "float64", 30.5), ("days_supply", "float64", float("nan")), ("days_supply", "int64", 3_000_000_000),
    ("refills", "decimal", 1.5), ("person_id", "float64", 1.5), ("drug_concept_id", "float64", 2e30),
], ids=["fraction", "nan", "wraps-round", "decimal-fraction", "id-fraction", "id-out-of-range"])
def test_a_number_no_integer_column_holds_fails_the_query_naming_table_and_column(spark, tmp_path, column, arrow_type,
                                                                                  value):
    """A Parquet float/double/decimal (or a wider integer) column where the CDM declares an
    integer: Spark's cast made days_supply 30.5 -> 30, NaN -> 0, 3e9 -> -1294967296 (int
    wraps round), silently. Reading such a row fails the query (no scan of its own) with
    the one-line InputDataError naming table and column; whole numbers in a double column
    (30.0, null) read as the integer."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from trd_spark.errors import input_error_of

    typ = pa.decimal128(10, 2) if arrow_type == "decimal" else pa.from_numpy_dtype(arrow_type)

    def write(values):
        cells = [decimal.Decimal(str(v)) if arrow_type == "decimal" and v is not None else v for v in values]
        columns = {"person_id": pa.array([1] * len(values), pa.int64()),
                   "drug_concept_id": pa.array([2000000101] * len(values), pa.int64()),
                   "drug_exposure_start_date": pa.array([dt.date(2020, 1, 1)] * len(values)),
                   "drug_exposure_end_date": pa.array([dt.date(2020, 1, 1)] * len(values)),
                   "days_supply": pa.array([30] * len(values), pa.int32())}
        columns[column] = pa.array(cells, typ)
        pq.write_table(pa.table(columns), tmp_path / "drug_exposure.parquet")

    config = toy_config(path=str(tmp_path)).omop
    whole = 2000000101 if column == "drug_concept_id" else 30
    write([whole, None])
    assert [r[column] for r in read_omop_table(spark, config, "drug_exposure").collect()] == [whole, None]
    write([whole, value])
    with pytest.raises((PySparkException, Py4JJavaError)) as e:
        read_omop_table(spark, config, "drug_exposure").collect()
    err = input_error_of(e.value)
    assert isinstance(err, InputDataError) and err.exit_code == 3
    assert str(err).startswith(f"OMOP table drug_exposure ({tmp_path}/drug_exposure.parquet): column {column} holds "
                               "a value that is no ")
    # the value searched without the folder ("nan" is in /tmp/pytest-of-nancy/...)
    assert "the CDM declares it an integer" in str(err) and str(value) not in without_paths(str(err), tmp_path)


def test_footer_schema_is_what_spark_infers_without_a_job(spark, tmp_path):
    """footer_schema (read_omop's schema, no Spark job): the schema spark.read.parquet infers,
    for pyarrow files with timestamps (naive, zoned, nanoseconds read as long), ISO text and
    upper-case names, a Spark-written directory of part files and a single file; None (Spark
    infers) for a partitioned layout and a non-Parquet file; NANOS is Spark's own error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trd_spark.phenotypes.omop import footer_schema

    cases = Path(__file__).parent / "data" / "field_cases" / "omop" / "timezone-timestamps" / "omop"
    paths = [str(cases / f"{t}.parquet") for t in ("drug_exposure", "condition_occurrence", "observation_period")]
    frame(spark, "drug_exposure", [drug(1, 7, "2020-01-01", days_supply=30)]).repartition(2).write.parquet(
        str(tmp_path / "dir"))
    paths.append(str(tmp_path / "dir"))
    pq.write_table(pa.table({"PERSON_ID": pa.array([1], pa.int32()), "d": pa.array([dt.date(2020, 1, 1)])}),
                   str(tmp_path / "one.parquet"))
    paths.append(str(tmp_path / "one.parquet"))
    got: dict[str, object] = {}
    for path in paths:
        assert spark_jobs(spark, lambda p=path: got.update({p: footer_schema(spark, p)})) == 0, path
        assert got[path] == spark.read.parquet(path).schema, path
    frame(spark, "drug_exposure", [drug(1, 7, "2020-01-01", days_supply=30)]).write.partitionBy("days_supply").parquet(
        str(tmp_path / "partitioned"))
    assert footer_schema(spark, str(tmp_path / "partitioned")) is None
    (tmp_path / "text.parquet").write_text("not parquet")
    assert footer_schema(spark, str(tmp_path / "text.parquet")) is None
    pq.write_table(pa.table({"t": pa.array([0], pa.timestamp("ns"))}), str(tmp_path / "nanos.parquet"))
    option = "spark.sql.legacy.parquet.nanosAsLong"
    was = spark.conf.get(option, "false")  # read_omop leaves it on after a NANOS table
    try:
        spark.conf.set(option, "false")
        with pytest.raises(Exception, match=r"TIMESTAMP\(NANOS,false\)"):
            footer_schema(spark, str(tmp_path / "nanos.parquet"))
        spark.conf.set(option, "true")
        assert footer_schema(spark, str(tmp_path / "nanos.parquet")) == spark.read.parquet(
            str(tmp_path / "nanos.parquet")).schema
    finally:
        spark.conf.set(option, was)


def test_a_bad_value_in_a_renamed_sex_column_names_the_file_s_column_and_line(spark, tmp_path):
    """omop.sex_at_birth.column names the person table's sex column (read as
    sex_at_birth_concept_id): text that is no integer there is one error naming the file's column
    and the line of its row. Before (d39b41a's line lookup read the error's column by its read
    name): an AnalysisException traceback (exit 1) when the file has no sex_at_birth_concept_id
    column, and line 2, another column's value, when it has one (which is not read)."""
    header = "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth"
    config = toy_config(path=str(tmp_path), format="csv").omop
    config = config.model_copy(update={"sex_at_birth": config.sex_at_birth.model_copy(update={"column": "Sex"})})
    for extra, row2 in (("", ""), (",sex_at_birth_concept_id", ",X")):
        (tmp_path / "person.csv").write_text(f"{header}{extra},Sex\n1,8507,1950,,{row2},8507\n"
                                             f"2,8532,1960,,{',8532' if extra else ''},F\n")
        with pytest.raises(InputDataError, match=rf"^{tmp_path}/person.csv:3: OMOP table person column sex "
                                                 r"\(read as sex_at_birth_concept_id\): value\(s\) are not bigint"):
            read_omop_table(spark, config, "person")


def test_a_configured_sex_column_the_person_table_lacks_is_an_error(spark, tmp_path):
    """omop.sex_at_birth.column set to a column person does not have (a typo, another export):
    one error naming it. Before, the column read as absent and every person's sex silently came
    from gender_concept_id (a gender identity on All of Us), the file's sex_at_birth_concept_id
    dropped unread."""
    config = toy_config(path=str(tmp_path), format="csv").omop
    config = config.model_copy(update={"sex_at_birth": config.sex_at_birth.model_copy(update={"column": "Sex"})})
    (tmp_path / "person.csv").write_text("person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,"
                                         "sex_at_birth_concept_id,gender\n1,8507,1950,,,45878463,F\n")
    with pytest.raises(InputDataError, match=rf"^{tmp_path}/person.csv: OMOP table person has no column sex, which "
                                             r"omop.sex_at_birth.column names"):
        read_omop_table(spark, config, "person")
