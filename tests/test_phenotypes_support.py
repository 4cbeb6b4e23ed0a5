"""Tiny hand-made OMOP tables for the phenotype tests (no tests here; imported by them).

Real concept IDs come from conf/concept_sets.yaml; descendants are synthetic IDs
>= 2_000_000_000 placed in a tiny concept / concept_ancestor vocabulary below.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.config import load_config
from trd_spark.phenotypes.omop import OMOP_COLUMNS, omop_schema

# Real standard concepts (conf/concept_sets.yaml)
DEPRESSIVE_DISORDER = 440383
MDD_CONCEPT = 4152280
DYSTHYMIA = 433440
BIPOLAR = 436665
SCHIZOPHRENIA = 435783
SERTRALINE = 739138
FLUOXETINE = 755695
CITALOPRAM = 797617
BUPROPION = 750982
OLANZAPINE = 785788
ARIPIPRAZOLE = 757688
ECT_SNOMED = 4030840

# Synthetic descendants
DYSTHYMIA_CHILD = 2_000_000_001  # under dysthymia (excluded branch of the MDD set)
MDD_CHILD = 2_000_000_002  # e.g. recurrent MDD, under MDD
BIPOLAR_DEPRESSION = 2_000_000_302  # under depressive disorder AND bipolar disorder
SERTRALINE_TAB = 2_000_000_101
FLUOXETINE_CAP = 2_000_000_102
OLANZAPINE_FLUOXETINE = 2_000_000_103  # combination product: two ingredients
ARIPIPRAZOLE_TAB = 2_000_000_201
ECT_CPT4 = 2_000_000_401  # CPT4 90870: resolved by vocabulary + code, not by ID
ESKETAMINE = 1366610
ESKETAMINE_SPRAY = 2_000_000_501

CONCEPTS = [
    # concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, standard_concept, concept_code
    (DEPRESSIVE_DISORDER, "Depressive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "35489007"),
    (MDD_CONCEPT, "Major depressive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "370143000"),
    (DYSTHYMIA, "Dysthymia", "Condition", "SNOMED", "Clinical Finding", "S", "78667006"),
    (BIPOLAR, "Bipolar disorder", "Condition", "SNOMED", "Clinical Finding", "S", "13746004"),
    (SCHIZOPHRENIA, "Schizophrenia", "Condition", "SNOMED", "Clinical Finding", "S", "58214004"),
    (SERTRALINE, "sertraline", "Drug", "RxNorm", "Ingredient", "S", "36437"),
    (FLUOXETINE, "fluoxetine", "Drug", "RxNorm", "Ingredient", "S", "4493"),
    (CITALOPRAM, "citalopram", "Drug", "RxNorm", "Ingredient", "S", "2556"),
    (BUPROPION, "bupropion", "Drug", "RxNorm", "Ingredient", "S", "42347"),
    (OLANZAPINE, "olanzapine", "Drug", "RxNorm", "Ingredient", "S", "61381"),
    (ARIPIPRAZOLE, "aripiprazole", "Drug", "RxNorm", "Ingredient", "S", "89013"),
    (SERTRALINE_TAB, "sertraline 50 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x1"),
    (FLUOXETINE_CAP, "fluoxetine 20 MG Oral Capsule", "Drug", "RxNorm", "Clinical Drug", "S", "x2"),
    (OLANZAPINE_FLUOXETINE, "olanzapine / fluoxetine Oral Capsule", "Drug", "RxNorm", "Clinical Drug", "S", "x3"),
    (ARIPIPRAZOLE_TAB, "aripiprazole 5 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x4"),
    (ECT_SNOMED, "Electroconvulsive therapy", "Procedure", "SNOMED", "Procedure", "S", "23835007"),
    (ECT_CPT4, "Electroconvulsive therapy", "Procedure", "CPT4", "CPT4", "S", "90870"),
]

# ancestor, descendant (a transitive closure, as concept_ancestor is); self rows deliberately
# absent for most concepts (expansion must keep the concept itself anyway).
ANCESTRY = [
    (DEPRESSIVE_DISORDER, MDD_CONCEPT),
    (DEPRESSIVE_DISORDER, DYSTHYMIA),
    (DEPRESSIVE_DISORDER, DYSTHYMIA_CHILD),
    (DEPRESSIVE_DISORDER, MDD_CHILD),
    (DEPRESSIVE_DISORDER, BIPOLAR_DEPRESSION),
    (DYSTHYMIA, DYSTHYMIA_CHILD),
    (MDD_CONCEPT, MDD_CHILD),
    (BIPOLAR, BIPOLAR_DEPRESSION),
    # the level-0 row of a condition root that links nothing else: with no row at all, its block reads as
    # lost from a partial table (stage.warn_unlinked_concepts, session 56)
    (SCHIZOPHRENIA, SCHIZOPHRENIA),
    (SERTRALINE, SERTRALINE),
    (SERTRALINE, SERTRALINE_TAB),
    (FLUOXETINE, FLUOXETINE_CAP),
    (FLUOXETINE, OLANZAPINE_FLUOXETINE),
    (OLANZAPINE, OLANZAPINE_FLUOXETINE),
    (ARIPIPRAZOLE, ARIPIPRAZOLE_TAB),
    (ESKETAMINE, ESKETAMINE_SPRAY),
]


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def days(a: str, b: str) -> int:
    """b - a in days (hand-computed expectations without Spark)."""
    return (d(b) - d(a)).days


def person(pid: int, year: int = 1970, month: int | None = 1, day: int | None = 1, gender: int = 8532,
           sex_at_birth: int | None = None, birth_datetime: str | None = None):
    return (pid, gender, year, month, day, sex_at_birth, d(birth_datetime) if birth_datetime else None)


def obs(pid: int, start: str = "2000-01-01", end: str = "2023-12-31"):
    return (pid, d(start), d(end))


def cond(pid: int, concept: int, date: str):
    return (pid, concept, d(date))


def drug(pid: int, concept: int, start: str, *, end: str | None = None, days_supply: int | None = None,
         verbatim_end: str | None = None, quantity: float | None = None, refills: int | None = None):
    return (pid, concept, d(start), d(end or start), days_supply, d(verbatim_end) if verbatim_end else None,
            quantity, refills)


def device(pid: int, concept: int, date: str):
    return (pid, concept, d(date))


def strength(drug_concept: int, ingredient: int, amount: float | None):
    return (drug_concept, ingredient, amount)


def proc(pid: int, concept: int, date: str):
    return (pid, concept, d(date))


def death(pid: int, date: str):
    return (pid, d(date))


def literal_frame(spark, rows: list, schema: T.StructType):
    """A tiny DataFrame built from literals inside the JVM.

    ``spark.createDataFrame(list)`` goes through a Python RDD: every scan of it starts Python
    workers, and the phenotype plans scan each input several times. Literal rows keep the
    tests' plans JVM-only (a LocalRelation after optimisation).

    Casts name their type by its ``simpleString()`` (not DDL: struct field names unquoted; the OMOP
    schemas' types are atomic): PySpark 3.5's ``Column.cast(DataType)`` builds a Python
    SparkSession per call (``getActiveSession`` plus a py4j lookup of ``SparkSession$``), thousands
    per fixture; one such lookup failing under CI's load errored a whole module (session 38).
    """
    types = [f.dataType.simpleString() for f in schema.fields]
    if not rows:
        return spark.range(0).select(*[F.lit(None).cast(t).alias(f.name) for f, t in zip(schema.fields, types)])
    structs = [
        F.struct(*[F.lit(v).cast(t).alias(f.name) for v, f, t in zip(row, schema.fields, types, strict=True)])
        for row in rows
    ]
    return spark.range(1).select(F.inline(F.array(*structs))).select(
        *[F.col(f.name).cast(t) for f, t in zip(schema.fields, types)]
    )


def frame(spark, table: str, rows: list):
    """``rows`` as the table's declared schema; trailing optional columns a row leaves out
    (e.g. condition_status_concept_id after ``cond``'s three values) are null."""
    schema = omop_schema(table)
    return literal_frame(spark, [tuple(r) + (None,) * (len(schema.fields) - len(r)) for r in rows], schema)


def omop_tables(spark, *, persons=(), observation_periods=(), conditions=(), drugs=(), procedures=(), deaths=(),
                devices=(), drug_strengths=(), observations=()):
    """Every table of OMOP_COLUMNS as a DataFrame (vocabulary from CONCEPTS/ANCESTRY)."""
    rows = {
        "person": list(persons),
        "observation_period": list(observation_periods),
        "condition_occurrence": list(conditions),
        "drug_exposure": list(drugs),
        "procedure_occurrence": list(procedures),
        "death": list(deaths),
        "device_exposure": list(devices),
        "observation": list(observations),
        "drug_strength": list(drug_strengths),
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    }
    assert set(rows) == set(OMOP_COLUMNS)
    return {t: frame(spark, t, r) for t, r in rows.items()}


def toy_config(**omop_updates):
    """The embedded toy config (cutoff 2023-07-01; ad3, ad2_augmentation, somatic)."""
    cfg = load_config()
    if omop_updates:
        cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update=omop_updates)})
    return cfg


def concept_set(name: str):
    return load_config().concept_sets.concept_sets[name]


def spark_jobs(spark, action) -> int:
    """Spark jobs started by ``action()``: it runs in a job group of its own, whose jobs the
    status tracker lists (counts jobs, not time)."""
    sc = spark.sparkContext
    group = f"test-jobs-{uuid.uuid4().hex}"
    sc.setJobGroup(group, "jobs of one action")
    try:
        action()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None removes it
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    return len(sc.statusTracker().getJobIdsForGroup(group))


def duckdb_mdd_index(rows: list[tuple], not_a_diagnosis: tuple[int, ...]) -> dict[int, dt.date | None]:
    """person_id -> MDD index by the README rule in DuckDB SQL, the field cases' independent check
    of the condition-status kind (rounds 21, 23): >= 2 MDD records on distinct dates whose status
    is a diagnosis (none of ``not_a_diagnosis``, the round's own list: not read from trd_spark),
    index = the first such date; None: no MDD. ``rows``: (person_id, concept, ISO date, status)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE c (person_id BIGINT, concept BIGINT, d DATE, status BIGINT)")
        con.executemany("INSERT INTO c VALUES (?, ?, ?, ?)", [(p, c, d(s), st) for p, c, s, st in rows])
        out = con.execute(f"""
            SELECT person_id, CASE WHEN COUNT(DISTINCT d) FILTER (WHERE dx) >= 2 THEN MIN(d) FILTER (WHERE dx) END
            FROM (SELECT person_id, d, concept = {MDD_CONCEPT}
                         AND COALESCE(status NOT IN ({', '.join(map(str, not_a_diagnosis))}), TRUE) AS dx FROM c)
            GROUP BY person_id""").fetchall()
    finally:
        con.close()
    return {int(p): i for p, i in out}



def write_omop_tables(root, rows: dict, *, absent: tuple[str, ...] = ("device_exposure", "drug_strength")) -> None:
    """Every table of ``OMOP_COLUMNS`` but ``absent`` as one Parquet file under ``root`` (Path), the
    declared columns in order: ``rows`` maps a table to row tuples (a row's trailing optional
    columns null; a table not given is written empty), as the stage's reader and the DuckDB twin
    read an export."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = {T.LongType(): pa.int64(), T.IntegerType(): pa.int32(), T.DateType(): pa.date32(),
             T.DoubleType(): pa.float64(), T.StringType(): pa.string()}
    for table in OMOP_COLUMNS:
        if table in absent:
            continue
        fields = omop_schema(table).fields
        values = [tuple(r) + (None,) * (len(fields) - len(r)) for r in rows.get(table, [])]
        columns = list(zip(*values, strict=True)) if values else [()] * len(fields)
        pq.write_table(pa.table({f.name: pa.array(list(c), arrow[f.dataType]) for f, c in zip(fields, columns,
                                                                                                 strict=True)}),
                       root / f"{table}.parquet")

def write_omop_parquet(root, persons, *, condition_occurrence: dict, drug_exposure: dict) -> None:
    """A field case as an OMOP export under ``root`` (one Parquet file per table, CDM column names,
    as the stage's reader and the DuckDB twin read them): ``persons`` (person_ids) all born
    1970-01-01, female, observed 2000-01-01..2023-12-31; the round's own condition_occurrence and
    drug_exposure columns (column -> (values, pyarrow type)); no procedures; the vocabulary from
    CONCEPTS / ANCESTRY."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    i64, i32, date, text = pa.int64(), pa.int32(), pa.date32(), pa.string()

    def write(table: str, columns: dict) -> None:
        pq.write_table(pa.table({c: pa.array(v, t) for c, (v, t) in columns.items()}), f"{root}/{table}.parquet")

    ids, n = list(persons), len(persons)
    write("person", {"person_id": (ids, i64), "gender_concept_id": ([8532] * n, i64),
                     "year_of_birth": ([1970] * n, i32), "month_of_birth": ([1] * n, i32), "day_of_birth": ([1] * n, i32)})
    write("observation_period", {"person_id": (ids, i64), "observation_period_start_date": ([d("2000-01-01")] * n, date),
                                 "observation_period_end_date": ([d("2023-12-31")] * n, date)})
    write("condition_occurrence", condition_occurrence)
    write("drug_exposure", drug_exposure)
    write("procedure_occurrence", {"person_id": ([], i64), "procedure_concept_id": ([], i64), "procedure_date": ([], date)})
    concept = list(zip(*CONCEPTS, strict=True))
    write("concept", {name: (list(values), i64 if name == "concept_id" else text) for name, values in zip(
        ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
         "concept_code"), concept, strict=True)})
    write("concept_ancestor", {"ancestor_concept_id": ([a for a, _ in ANCESTRY], i64),
                               "descendant_concept_id": ([b for _, b in ANCESTRY], i64),
                               "min_levels_of_separation": ([1] * len(ANCESTRY), i32),
                               "max_levels_of_separation": ([1] * len(ANCESTRY), i32)})


def duckdb_twin():
    """The DuckDB twin's module (benchmarks/duckdb_phenotypes.py, the phenotype rules written again
    in SQL), imported from the benchmarks folder (not a package: put on sys.path once)."""
    import sys
    from pathlib import Path

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import duckdb_phenotypes

    return duckdb_phenotypes


def twin_reversed_claims(rows, product: int) -> tuple[set, tuple]:
    """The DuckDB twin's ``_reversed_claims`` alone on ``rows`` (person_id, drug_concept_id,
    drug_exposure_start_date, drug_exposure_end_date, days_supply, quantity), ``product`` the one study
    drug concept: ({(person_id, start date as text, days_supply, quantity, n cancelled)}, (n_cancelled,
    n_unmatched))."""
    import duckdb

    twin = duckdb_twin()
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE members AS SELECT {int(product)}::BIGINT AS concept_id, 'drug' AS domain, "
                    "'include' AS kind")
        con.execute("CREATE TABLE drug_exposure (person_id BIGINT, drug_concept_id BIGINT, drug_exposure_start_date "
                    "DATE, drug_exposure_end_date DATE, days_supply INTEGER, quantity DOUBLE)")
        con.executemany("INSERT INTO drug_exposure VALUES (?, ?, ?, ?, ?, ?)", rows)
        cols = ["person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date", "days_supply",
                "quantity"]
        twin._reversed_claims(con, "drug_exposure", cols, True, False)
        got = {(p, str(s), ds, q, n) for p, s, ds, q, n in con.execute(
            "SELECT person_id, start_date, ds, q, n FROM reversed_claims").fetchall()}
        totals = con.execute("SELECT n_cancelled, n_unmatched FROM reversal_totals").fetchone()
    finally:
        con.close()
    return got, totals


def duckdb_twin_rows(root, cfg, out, columns: str, where: str) -> list[tuple]:
    """The DuckDB twin (benchmarks/duckdb_phenotypes.py, the phenotype rules written again in SQL)
    run on the OMOP export under ``root`` with ``cfg`` on one thread, its phenotypes written to
    ``out`` (Parquet); returns the rows of ``columns`` (an SQL select list) of the phenotypes where
    ``where`` (an SQL condition): the field cases' twin check (rounds 22-25), once here."""
    import duckdb

    duckdb_twin().duckdb_phenotypes(str(root), cfg, str(out), threads=1)
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT {columns} FROM read_parquet('{out}') WHERE {where}").fetchall()
    finally:
        con.close()



def duckdb_twin_run(case_dir, columns, **omop_updates) -> dict:
    """The DuckDB twin run once on the OMOP export in ``case_dir`` (toy config pointed there, with
    ``omop_updates`` such as ``time_zone``; one thread; its phenotypes written beside the folder,
    ``twin.parquet``): ``{"rows": sorted tuples of ``columns`` (names), "counts": the twin's drop
    counts}`` (the hand-worked shape modules' twin fixture: test_trials_s53, test_omop_shapes_s54,
    test_omop_kinds_s52 / _s56)."""
    import duckdb

    cfg = toy_config(path=str(case_dir), **omop_updates)
    out = case_dir.parent / "twin.parquet"
    _, counts = duckdb_twin().duckdb_phenotypes_and_drop_counts(str(case_dir), cfg, str(out), threads=1)
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT {', '.join(columns)} FROM read_parquet('{out}')").fetchall()
    finally:
        con.close()
    return {"rows": sorted(rows), "counts": counts}

def case_chain_run(spark, case_dir, person_columns: tuple[str, ...], **omop_updates) -> dict:
    """The phenotype chain run once on the OMOP export in ``case_dir`` (toy config pointed there, with
    ``omop_updates``): ``{"ad3": {person_id: ad3 row after person_id and definition}, "ages":
    {person_id: age_at_index}, "persons": {person_id: tuple of ``person_columns`` of the persons
    table}, "counts": stage_counts' (study_event_dates, quirks)}`` (the hand-worked kinds modules'
    chain fixture: test_omop_kinds_s52 / _s56)."""
    from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts

    cfg = toy_config(path=str(case_dir), **omop_updates)
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    rows = tables.phenotypes.where("definition = 'ad3'").select(*STATUS_COLUMNS, "age_at_index").collect()
    return {"ad3": {r.person_id: tuple(r)[2:10] for r in rows}, "ages": {r.person_id: r.age_at_index for r in rows},
            "persons": {r.person_id: tuple(r[c] for c in person_columns) for r in tables.persons.collect()},
            "counts": stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                   cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply)}


def ad3_of_twin(run: dict) -> dict:
    """``{person_id: ad3 row after person_id and definition}`` of a ``duckdb_twin_run`` of STATUS_COLUMNS."""
    return {r[0]: tuple(r[2:]) for r in run["rows"] if r[1] == "ad3"}


# A field case's expected.tsv: its columns, and its rows as the phenotypes table's values.
STATUS_COLUMNS = ["person_id", "definition", "status", "exclusion_reason", "mdd_index_date", "trd_onset_date",
                  "followup_end_date", "time_to_trd_days", "trd_event", "n_adequate_trials"]


def expected_statuses(case) -> list[tuple]:
    """``case``/expected.tsv (hand-worked; '#' lines are its notes) as sorted tuples of
    ``STATUS_COLUMNS``: dates as ``date``, empty cells as None (field-case rounds 29 and 30)."""
    import pandas as pd

    table = pd.read_csv(case / "expected.tsv", sep="\t", comment="#", dtype=str, keep_default_na=False)
    assert list(table.columns) == STATUS_COLUMNS

    def value(c: str, v: str):
        if v == "":
            return None
        if c.endswith("_date"):
            return dt.date.fromisoformat(v)
        return v if c in ("definition", "status", "exclusion_reason") else int(v)

    return sorted(tuple(value(c, r[c]) for c in STATUS_COLUMNS) for _, r in table.iterrows())


def case_rows_chain_and_twin(spark, case, tmp_path, caplog, **omop_updates) -> tuple[list[tuple], list[tuple]]:
    """A field case's ``case``/omop tables (copied under ``tmp_path``) through the chain (read_omop,
    then derive_phenotype_tables, WARNINGs of the OMOP reader captured in ``caplog``) and through the
    DuckDB twin: both as sorted tuples of ``STATUS_COLUMNS`` (field-case rounds 29 and 30)."""
    import logging
    import shutil

    from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

    omop_dir = tmp_path / "omop"
    shutil.copytree(case / "omop", omop_dir)
    cfg = toy_config(path=str(omop_dir), **omop_updates)
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        omop = read_omop(spark, cfg)
    rows = derive_phenotype_tables(omop, cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    twin = duckdb_twin_rows(omop_dir, cfg, tmp_path / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    return sorted(tuple(r) for r in rows), sorted(twin)


def case_statuses_and_counts(spark, case, tmp_path, caplog) -> dict:
    """A field case whose counts matter beside its statuses (rounds 33, 34), run once each way:
    ``case``/omop (copied under ``tmp_path``) through the chain (read_omop, derive_phenotype_tables)
    and through the DuckDB twin (``duckdb_phenotypes_and_drop_counts``: ONE build of its tables for
    the phenotypes and the drop counts); asserts that both give ``expected_statuses(case)``. Returns
    ``{"omop": the chain's tables, "conditions": the study condition IDs (study_concept_ids),
    "counts": event_table_counts' row as run passes it (observation_count_ids, the condition IDs),
    "twin_counts": duckdb_drop_counts' dict}``."""
    import logging
    import shutil
    import sys
    from pathlib import Path

    import duckdb

    from trd_spark.phenotypes.stage import (
        derive_phenotype_tables,
        event_table_counts,
        observation_count_ids,
        read_omop,
        study_concept_ids,
        study_vocabulary,
    )

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import duckdb_phenotypes_and_drop_counts

    omop_dir, out = tmp_path / "omop", tmp_path / "twin.parquet"
    shutil.copytree(case / "omop", omop_dir)
    cfg = toy_config(path=str(omop_dir))
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        omop = read_omop(spark, cfg)
    chain = sorted(tuple(r) for r in derive_phenotype_tables(omop, cfg).phenotypes.select(*STATUS_COLUMNS).collect())
    _, twin_counts = duckdb_phenotypes_and_drop_counts(str(omop_dir), cfg, str(out), threads=1)
    con = duckdb.connect()
    try:
        twin = sorted(con.execute(f"SELECT {', '.join(STATUS_COLUMNS)} FROM read_parquet('{out}')").fetchall())
    finally:
        con.close()
    expected = expected_statuses(case)
    assert chain == expected, ("chain", chain, expected)
    assert twin == expected, ("twin", twin, expected)
    vocab = study_vocabulary(omop, cfg)
    conditions = study_concept_ids(cfg, vocab)["condition"]
    counts = event_table_counts(omop, observation_ids=observation_count_ids(cfg, vocab),
                                condition_ids=conditions).first().asDict()
    return {"omop": omop, "conditions": conditions, "counts": counts, "twin_counts": twin_counts}
