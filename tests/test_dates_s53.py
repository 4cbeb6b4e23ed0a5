"""Session 53 "dates": OMOP inputs read silently wrong or caught too late, and toy-data's options.

1. A date or date-time text whose time, zone offset or day is out of range ('2019-11-20 25:00:00',
   '2019-11-20T24:30', '2019-02-30', '2019-11-20+25:00') is one InputDataError naming table, column
   and a count or row, in the chain and in the DuckDB twin alike, never its written date.
2. A missing OMOP column, or a column of a type the chain would cast silently, is found before
   Spark starts (``phenotypes.omop_preflight``, called by ``preflight.check_inputs``).
3. ``trd-spark toy-data`` checks its size options while it parses them (one argparse error).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_phenotypes_support import duckdb_twin

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- 3. toy-data's options


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--persons", "0", "argument --persons: need at least 50, got 0"),
    ("--persons", "-5", "argument --persons: need at least 50, got -5"),
    ("--persons", "100000000000", "argument --persons: at most 10,000,000, got 100,000,000,000"),
    ("--variants", "-1", "argument --variants: need at least 200, got -1"),
    ("--variants", "20000000", "argument --variants: at most 10,000,000, got 20,000,000"),
    ("--seed", "-1", "argument --seed: need at least 0, got -1"),
    ("--seed", str(2**64), "argument --seed: at most 18,446,744,073,709,551,615"),
])
def test_toy_data_refuses_a_size_out_of_range_as_it_parses_it(tmp_path, capsys, option, value, said):
    """Before this session: ``--persons 0`` / ``--variants 10`` were refused after the generator's
    imports (~50 s on the loaded machine), as ``ConfigError: toy-data --persons: ...`` (main
    returned 2, no SystemExit); a negative seed or an absurd size was not refused at all (numpy
    failed on the seed deep in the generator; 10^11 persons ran until memory ran out). Now one
    argparse error naming the option under toy-data's usage, exit 2, nothing written."""
    from trd_spark.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["toy-data", "--out", str(tmp_path / "toy"), option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: trd-spark toy-data" in err and f"trd-spark toy-data: error: {said}" in err, err
    assert not (tmp_path / "toy").exists()


def test_toy_data_option_error_imports_no_generator():
    """The check runs before the generator is imported (the ~50 s of the old check was the
    generator's numpy / pandas / pyarrow imports on a loaded machine): in a fresh interpreter,
    ``trd-spark toy-data --persons 0`` exits 2 with ``trd_spark.toydata.generate`` never
    imported. Before: the generator was imported first (in sys.modules)."""
    code = ("import sys\nfrom trd_spark.cli import main\ntry:\n    main(['toy-data', '--out', '/nonexistent/x', "
            "'--persons', '0'])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
            "print('generator' if 'trd_spark.toydata.generate' in sys.modules else 'no generator')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.stdout.split("\n")[:2] == ["exit 2", "no generator"], (done.stdout, done.stderr)


def test_toy_data_help_states_the_ranges():
    """``toy-data --help`` did not say the minimums (session 52's new-user trial); it states each
    size option's range beside its default."""
    from trd_spark.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    text = " ".join(commands["toy-data"].format_help().split())
    assert "persons to simulate, 50 to 10,000,000 (default: 3000)" in text, text
    assert "variant sites, 200 to 10,000,000 (default: 2000)" in text, text


def test_the_generator_holds_its_callers_to_the_same_bounds(tmp_path):
    """``generate_toy_data`` (the API, the pipeline's toy_data) refuses what the CLI refuses,
    before it writes anything: a negative seed failed inside numpy after the folders were
    cleared; an absurd size ran."""
    from trd_spark.errors import ConfigError
    from trd_spark.toydata import generate_toy_data

    for kwargs, said in (({"seed": -1}, "generate_toy_data(seed): need 0 to"),
                         ({"persons": 10**8}, "generate_toy_data(persons): need 50 to 10,000,000, got 100,000,000"),
                         ({"variants": 10}, "generate_toy_data(variants): need 200 to 10,000,000, got 10")):
        with pytest.raises(ConfigError) as e:
            generate_toy_data(str(tmp_path / "toy"), **kwargs)
        assert said in str(e.value), str(e.value)
    assert not (tmp_path / "toy").exists()


# ---------------------------------------------------------------- 1. date text out of range




# Text read before this session as its written date, silently (2019-11-20), by the chain's date
# cast (it ignores what follows the day) and the twin alike; '+25:00' after a time too by the twin
# (DuckDB's cast reads any offset), after a date alone by both.
OUT_OF_RANGE = ("2019-11-20 25:00:00", "2019-11-20T24:30", "2019-11-20T10:61:00", "2019-11-20T10:00:60",
                "2019-11-20 soon", "2019-11-20+25:00")
# Read as before: their written date (a zoned one in omop.time_zone).
IN_RANGE = {"2019-11-20T24:00": "2019-11-20", "2019-11-20T23:59:59.999": "2019-11-20", "2019-11-20T07": "2019-11-20",
            "2019-11-20 00:00:00,5": "2019-11-20", "2019-11-20+18:00": "2019-11-20", "2019-11-20Z": "2019-11-20",
            "2019-11-20T10:00:00+14:00": "2019-11-19", "2019-11-20T10:00:00-18:00": "2019-11-21"}


def test_the_rule_of_date_text_in_the_chain_and_the_twin(spark):
    """``omop.valid_date_text`` and the twin's ``_as_date`` (with omop.time_zone UTC) agree on each
    value: the out-of-range ones are no date in both (the twin's error names table and column, no
    value); the in-range ones give the same date. Before: the chain's rule did not exist and the
    twin read every OUT_OF_RANGE value as 2019-11-20 (the offset +25:00 after a time, and every
    '2019-02-30' in a date column, was its error already; a time out of range was not)."""
    import datetime as dt

    import duckdb
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.omop import to_omop_date, valid_date_text

    values = [*OUT_OF_RANGE, "2019-02-30", "2019-11-20T10:00:00+25:00", *IN_RANGE]
    frame = spark.createDataFrame([(v,) for v in values], "d string")
    dated = to_omop_date(F.col("d"), frame.schema["d"].dataType, "death", "d", time_zone="UTC", session_zone="UTC",
                         where="test")
    got = {r.d: (r.ok, r.date) for r in frame.select("d", valid_date_text(F.col("d")).alias("ok"),
                                                     dated.alias("date")).collect()}
    assert {v for v, (ok, _) in got.items() if not ok} == {*OUT_OF_RANGE, "2019-02-30", "2019-11-20T10:00:00+25:00"}
    assert {v: str(got[v][1]) for v in IN_RANGE} == IN_RANGE
    con = duckdb.connect()
    try:
        for v in values:
            con.execute("CREATE OR REPLACE TABLE t AS SELECT CAST(? AS VARCHAR) AS death_date", [v])
            sql = f"SELECT {duckdb_twin()._as_date('death_date', 'VARCHAR', None, 'death', 'UTC')} FROM t"
            if v in IN_RANGE:
                assert con.execute(sql).fetchone()[0] == dt.date.fromisoformat(IN_RANGE[v]), v
                continue
            with pytest.raises(duckdb.Error, match=r"death\.death_date: value\(s\) are not dates") as e:
                con.execute(sql).fetchone()
            assert v not in str(e.value), v
    finally:
        con.close()


@pytest.mark.parametrize(("table", "column", "kind"), [
    ("condition_occurrence", "condition_start_date", "csv"),
    ("drug_exposure", "drug_exposure_end_date", "parquet"),
    ("person", "birth_datetime", "parquet"),
])
def test_a_time_out_of_range_in_a_date_column_is_one_error(spark, tmp_path, table, column, kind):
    """One row of OUT_OF_RANGE text per value in a date column of three tables (CSV and Parquet):
    one InputDataError naming table and column ("value(s) are not dates", a count, the
    '####-##-##' shape and what is out of range, the CSV line or the row in the Parquet file),
    never the value. Before: read as 2019-11-20 with no word (the date cast reads the day before a
    time and ignores the rest); a Parquet person table's error gave neither a count nor a row."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_phenotypes_support import toy_config

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop import OMOP_COLUMNS, read_omop_table

    n = len(OUT_OF_RANGE)
    columns = {"person_id": [str(i + 1) for i in range(n)]}
    for name, _ in OMOP_COLUMNS[table]:
        if name in (column, "person_id") or name not in {
                "condition_concept_id", "condition_start_date", "drug_concept_id", "drug_exposure_start_date",
                "drug_exposure_end_date", "days_supply", "gender_concept_id", "year_of_birth", "month_of_birth",
                "day_of_birth"}:
            continue
        columns[name] = ["2019-11-01" if name.endswith("_date") else "1" for _ in range(n)]
    columns[column] = list(OUT_OF_RANGE)
    if kind == "csv":
        lines = [",".join(columns)] + [",".join(columns[c][i] for c in columns) for i in range(n)]
        (tmp_path / f"{table}.csv").write_text("\n".join(lines) + "\n")
    else:
        pq.write_table(pa.table({c: pa.array([int(x) for x in v], pa.int64()) if not c.endswith(("_date", "_datetime"))
                                 else pa.array(v, pa.string()) for c, v in columns.items()}), tmp_path / f"{table}.parquet")
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, toy_config(path=str(tmp_path), format=kind).omop, table).collect()
    text = str(e.value)
    assert f"OMOP table {table} column {column}: " in text and "are not dates (yyyy-mm-dd), e.g. '####-##-##" in text, text
    assert "out of range (such as 2021-02-30, 2021-13-01" in text, text
    assert ("<20 value(s)" in text) == (table != "person"), text  # the person table's rows are persons: no count
    # its line (CSV), or its row in its Parquet file (a person table's error has no count to go by)
    assert f"{table}.csv:2: " in text if kind == "csv" else re.search(rf" \(row [1-6] of \S+/{table}\.parquet\)$", text), text
    assert not any(v in text for v in OUT_OF_RANGE), text


@pytest.mark.parametrize("time_zone", [None, "UTC"])
def test_a_time_out_of_range_in_a_datetime_partner_is_one_error(spark, tmp_path, time_zone):
    """death_date empty, death_datetime '2019-11-20 25:00:00': the reader's error (the query's,
    read as the CLI reads it) naming table and columns, with and without omop.time_zone; the
    twin's too. Before: the death was dated 2019-11-20, silently, in both."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_phenotypes_support import toy_config

    from trd_spark.errors import input_error_of
    from trd_spark.phenotypes.omop import read_omop_table

    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": pa.array([None], pa.string()),
                             "death_datetime": pa.array(["2019-11-20 25:00:00"], pa.string())}),
                   tmp_path / "death.parquet")
    with pytest.raises(Exception) as e:  # noqa: B017 - the Spark query's error, read as the CLI reads it
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone=time_zone).omop, "death").collect()
    err = input_error_of(e.value)
    assert err is not None and err.exit_code == 3, e.value
    assert "death_date is empty where death_datetime is text that is no date" in str(err), str(err)
    assert "25:00" not in str(err)
    con = duckdb.connect()
    try:
        source = f"read_parquet('{tmp_path / 'death.parquet'}')"
        with pytest.raises(duckdb.Error, match=r"death\.death_datetime: value\(s\) are not dates"):
            con.execute(f"SELECT death_date FROM ({duckdb_twin()._dated(con, source, 'death', time_zone)})").fetchall()
    finally:
        con.close()


def test_an_offset_out_of_range_is_named_in_the_error(spark, tmp_path):
    """'2019-11-20+25:00' (xs:date with an offset beyond +18:00) in a date column: the error
    says an offset may be what is out of range. Before: read as 2019-11-20, silently."""
    from test_phenotypes_support import toy_config

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop import read_omop_table

    (tmp_path / "death.csv").write_text("person_id,death_date\n1,2019-11-20+25:00\n")
    with pytest.raises(InputDataError, match=r"death\.csv:2: OMOP table death column death_date: value\(s\) are not "
                       r"dates \(yyyy-mm-dd\), e\.g\. '####-##-##\+##:##' \(digits shown as #, letters as a\): a date, "
                       r"time or UTC offset out of range \(such as 2021-02-30, 2021-13-01, 25:00 or \+25:00\)$"):
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death").collect()


# ---------------------------------------------------------------- 2. columns checked before Spark


def _cfg(omop_dir: Path, **omop):
    """The toy config reading ``omop_dir`` as its release, without toy data (so that
    ``preflight.check_inputs`` checks it now, not after a generation)."""
    from test_phenotypes_support import toy_config

    cfg = toy_config(path=str(omop_dir), **omop)
    return cfg.model_copy(update={"toy_data": None})


def _write(folder: Path, table: str, columns: dict, kind: str = "parquet") -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    data = pa.table(columns)
    path = folder / f"{table}.{kind}"
    pq.write_table(data, path) if kind == "parquet" else pacsv.write_csv(data, path)
    return path


@pytest.mark.parametrize(("table", "dropped", "kind"), [
    ("condition_occurrence", "condition_start_date", "parquet"),
    ("person", "year_of_birth", "csv"),
])
def test_a_missing_omop_column_is_found_before_spark_starts(tmp_path, table, dropped, kind):
    """``preflight.check_inputs`` (what ``trd-spark run`` calls before it starts Spark or writes
    anything) raises the reader's error, naming the file and the column, from the footer or the
    header alone: no SparkSession is involved (it takes none; here in a process without one).
    Before: no check; the error came from ``conform_omop_table`` once Spark had started and the
    stage read the table (~1.5 min in on the loaded machine, session 52)."""
    from trd_spark.phenotypes.omop import OMOP_COLUMNS, OPTIONAL_COLUMNS

    required = [n for n, _ in OMOP_COLUMNS[table] if n not in OPTIONAL_COLUMNS.get(table, ()) and n != dropped]
    path = _write(tmp_path / "omop", table, {n: [1] for n in required}, kind)
    code = ("import sys\nsys.path.insert(0, 'tests')\nfrom test_dates_s53 import _cfg\nfrom pathlib import Path\n"
            "from trd_spark.errors import InputDataError\nfrom trd_spark.preflight import check_inputs\n"
            f"try:\n    check_inputs(_cfg(Path({str(tmp_path / 'omop')!r}), format={kind!r}), ['phenotypes'])\n"
            "except InputDataError as e:\n    print('ERROR', e)\n"
            "from pyspark import SparkContext\nprint('spark' if SparkContext._active_spark_context else 'no spark')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    where = f"{path}:1" if kind == "csv" else str(path)
    assert done.stdout.splitlines() == [
        f"ERROR {where}: OMOP table {table} is missing required column(s) {dropped}", "no spark"], done


def test_a_column_spark_would_cast_silently_is_found_before_spark_starts(tmp_path):
    """A Parquet ID column stored as booleans (true read as concept 1), a days_supply stored as
    timestamps (read as seconds since 1970), a configured sex-at-birth column stored as dates
    (read as empty): each one error naming file, column and type. Before: no check, and Spark's
    cast read them so, silently."""
    import datetime as dt

    import pyarrow as pa

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop_preflight import check_omop_schemas

    cases = [
        ("condition_occurrence", {"person_id": [1], "condition_concept_id": pa.array([True]),
                                  "condition_start_date": ["2019-01-01"]},
         {}, "column condition_concept_id is bool in this file, where the CDM has a number (bigint): Spark's cast "
             "would read true and false as 1 and 0, silently"),
        ("drug_exposure", {"person_id": [1], "drug_concept_id": [2], "drug_exposure_start_date": ["2019-01-01"],
                           "drug_exposure_end_date": ["2019-01-02"],
                           "days_supply": pa.array([dt.datetime(2019, 1, 1)], pa.timestamp("us"))},
         {}, "column days_supply is timestamp[us] in this file, where the CDM has a number (int): Spark's cast "
             "would read a date-time as a count of (nano)seconds since 1970, silently"),
        ("person", {"person_id": [1], "gender_concept_id": [8507], "year_of_birth": [1970], "month_of_birth": [1],
                    "day_of_birth": [1], "sex_at_birth": pa.array([dt.date(2019, 1, 1)])},
         {"sex_at_birth": {"column": "sex_at_birth"}},
         "column sex_at_birth (read as sex_at_birth_concept_id) is date32[day] in this file, where the CDM has a "
         "number (bigint): Spark's cast would read a date as empty, silently"),
    ]
    for i, (table, columns, omop, said) in enumerate(cases):
        path = _write(tmp_path / f"r{i}", table, columns)
        cfg = _cfg(tmp_path / f"r{i}")
        if omop:
            cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(
                update={"sex_at_birth": cfg.omop.sex_at_birth.model_copy(update=omop["sex_at_birth"])})})
        with pytest.raises(InputDataError) as e:
            check_omop_schemas(cfg)
        assert str(e.value) == f"{path}: OMOP table {table} {said}; export the column as numbers", str(e.value)


def test_the_preflight_passes_what_the_chain_reads(tmp_path):
    """No false alarm: the toy release (Parquet), a CSV header with a byte-order mark and quoted
    names, a table in partition folders whose first part lacks nothing, a column of Parquet's null
    type, optional columns absent, text IDs (checked later, value by value), an absent optional
    table and a missing configured sex column only where it is configured."""
    import pyarrow as pa

    from trd_spark.phenotypes.omop_preflight import check_omop_schemas, table_column_problem
    from trd_spark.toydata import generate_toy_data

    generate_toy_data(str(tmp_path / "toy"), persons=50, variants=200, seed=1)
    check_omop_schemas(_cfg(tmp_path / "toy" / "omop"))
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "condition_occurrence.csv").write_bytes(
        b'\xef\xbb\xbf"PERSON_ID","condition_concept_id",condition_start_date,"a, b"\n1,2,2019-01-01,x\n')
    check_omop_schemas(_cfg(tmp_path / "csv", format="csv"))
    release = tmp_path / "pq"
    _write(release / "drug_exposure" / "year=2019", "part-0",
           {"person_id": ["1"], "drug_concept_id": [2], "drug_exposure_start_date": ["2019-01-01"],
            "drug_exposure_end_date": pa.array([None], pa.null()), "days_supply": [1.0]})
    (release / "drug_exposure" / "_SUCCESS").write_text("")
    check_omop_schemas(_cfg(release))
    assert table_column_problem("person", {"person_id": None, "gender_concept_id": None, "year_of_birth": None,
                                           "month_of_birth": None, "day_of_birth": None}) is None
