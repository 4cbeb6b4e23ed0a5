"""Persons whose year of birth gives no usable age are excluded, counted, never aged negatively.

Session 30 (helper "yob"): on 93c1e64 a year_of_birth outside OHDSI DQD's plausible range (1800,
2099 placeholders) was counted with a WARNING but used as written: a 2099 person without any
study code was a control aged -76 at the end of observation (the logistic models' age) and an
1890 MDD person was a case aged 125 at the index (the Cox models' age), without a word. Now the
first exclusion reason of every person is ``implausible_year_of_birth``
(``persons.birth_implausible_expr``): a year before 1850 (DQD's plausibleValueLow), or an age at
the end of observation below 0 (a birth after the end of the record: any year after the cutoff's,
DQD's plausibleValueHigh) or above 120. The cohort flow counts them in their own box, the DuckDB
twin applies the same rule, and the models refuse an analysis frame holding such an age.

Tiny OMOP tables built inline (toy config: cutoff 2023-07-01; periods 2000-01-01..2023-12-31
unless noted); expected values by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    MDD_CONCEPT,
    cond,
    death,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.errors import ModelError
from trd_spark.phenotypes.flow import cohort_flow_rows, terminal_boxes
from trd_spark.phenotypes.omop import OMOP_COLUMNS, omop_schema
from trd_spark.phenotypes.stage import derive_phenotype_tables
from trd_spark.vocabulary import ALL_DEFINITIONS, ANALYSED_STATUSES

IMPLAUSIBLE = "implausible_year_of_birth"
# person -> (why, expected MDD-stage status, reason)
CASES = {
    1: ("born 1970, MDD on two dates", "MDD", None),
    2: ("born 2099, no study code: a control aged -76 on 93c1e64", "excluded", IMPLAUSIBLE),
    3: ("born 1800, no study code: a control aged 223", "excluded", IMPLAUSIBLE),
    4: ("born 1970, no study code", "non_MDD", None),
    5: ("born 1890 (DQD-plausible), MDD on two dates: a case aged 125 at the index", "excluded", IMPLAUSIBLE),
    6: ("born 1850 (DQD's low bound), died 1920: aged 69 at the end of observation", "non_MDD", None),
    7: ("born 2023 (year only: 1 July), observed to 2023-03-01: aged -0.33", "excluded", IMPLAUSIBLE),
    8: ("born 1903-07-01: aged exactly 120.0 at the cutoff", "non_MDD", None),
    9: ("born 1903-06-30: aged 120.003 at the cutoff", "excluded", IMPLAUSIBLE),
}


def omop_rows() -> dict[str, list]:
    persons = [person(1), person(2, 2099), person(3, 1800), person(4), person(5, 1890), person(6, 1850),
               person(7, 2023, None, None), person(8, 1903, 7, 1), person(9, 1903, 6, 30)]
    periods = [obs(p) for p in CASES if p != 7] + [obs(7, "2023-01-01", "2023-03-01")]
    conditions = [cond(p, MDD_CONCEPT, day) for p in (1, 5) for day in ("2015-01-01", "2015-03-01")]
    return {"person": persons, "observation_period": periods, "condition_occurrence": conditions,
            "death": [death(6, "1920-05-01")]}


@pytest.fixture(scope="module")
def tables(spark):
    rows = omop_rows()
    omop = omop_tables(spark, persons=rows["person"], observation_periods=rows["observation_period"],
                       conditions=rows["condition_occurrence"], deaths=rows["death"])
    out = derive_phenotype_tables(omop, toy_config())
    # cached: every test reads the same MDD groups and phenotypes (one plan run, not one per query)
    out.mdd.cache()
    out.phenotypes.cache()
    yield out
    out.phenotypes.unpersist()
    out.mdd.unpersist()


def test_implausible_years_of_birth_are_excluded_first(tables):
    """Through the real Spark chain: persons 2, 3, 5, 7 and 9 are excluded as
    implausible_year_of_birth (on 93c1e64: 2, 3, 7 controls, 5 MDD, 9 a control); the bounds are
    inclusive (6: born 1850; 8: 120.0 years) and the age is taken at the end of observation
    (6 died at 69), not at the cutoff."""
    got = {r.person_id: (r.mdd_status, r.exclusion_reason) for r in tables.mdd.collect()}
    assert got == {p: (status, reason) for p, (_, status, reason) in CASES.items()}
    rows = tables.phenotypes.collect()
    for r in rows:
        assert (r.status, r.exclusion_reason) == CASES[r.person_id][1:] or CASES[r.person_id][1] == "MDD", r
    # every analysed person's ages lie within 0..120 (the models' covariates)
    analysed = [r for r in rows if r.status in ANALYSED_STATUSES]
    assert {r.person_id for r in analysed} == {1, 4, 6, 8}
    assert all(0 <= r.age_at_followup_end <= 120 for r in analysed)
    assert all(0 <= r.age_at_index <= 120 for r in analysed if r.age_at_index is not None)


def test_the_cohort_flow_counts_them_in_their_own_box(tables):
    """excluded_implausible_year_of_birth = 5, right after all_persons; the other steps count the
    other persons only (with_mdd_diagnosis 1: person 5's MDD is not counted), and the terminal
    boxes still add up to all_persons. The report labels the step."""
    cfg = toy_config()
    mdd = cfg.phenotypes.mdd
    rows = cohort_flow_rows(tables.mdd, tables.phenotypes, exclusion_sets=list(mdd.exclude_concept_sets),
                            min_diagnoses=mdd.min_diagnoses)
    shared = [(step, n) for d, _, step, n in sorted(rows) if d == ALL_DEFINITIONS]
    assert shared[:4] == [("all_persons", 9), ("excluded_implausible_year_of_birth", 5), ("with_mdd_diagnosis", 1),
                          ("mdd_min_distinct_dates", 1)]
    steps = dict(shared)
    assert (steps["mdd_included"], steps["non_MDD"]) == (1, 3)
    for definition, boxes in terminal_boxes(rows).items():
        assert boxes["excluded_implausible_year_of_birth"] == 5, definition
        assert sum(boxes.values()) == 9, (definition, boxes)
    from trd_spark.report.stage import flow_labels

    chain, labels = flow_labels(cfg, [s for s, _ in shared])
    assert "excluded_implausible_year_of_birth" not in chain
    assert labels["excluded_implausible_year_of_birth"].startswith("excluded: implausible year of birth")


def _write_parquet(rows: dict[str, list], directory: Path) -> None:
    """The OMOP tables (``rows``: table -> row tuples, trailing optional columns left out) as
    Parquet files of their declared schemas, for the DuckDB twin (no Spark job)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    full = {t: rows.get(t, []) for t in OMOP_COLUMNS}
    full["concept"] = CONCEPTS
    full["concept_ancestor"] = [(a, b, 1, 1) for a, b in ANCESTRY]
    for table, table_rows in full.items():
        schema = to_arrow_schema(omop_schema(table))
        padded = [tuple(r) + (None,) * (len(schema) - len(r)) for r in table_rows]
        columns = {f.name: pa.array([r[i] for r in padded], f.type) for i, f in enumerate(schema)}
        pq.write_table(pa.table(columns, schema=schema), directory / f"{table}.parquet")


def test_the_duckdb_twin_applies_the_same_rule(tables, tmp_path):
    """The independent DuckDB implementation gives every person and definition the Spark chain's
    status and reason on the same tables (on 93c1e64 it had no such reason: 2, 3, 7 and 9 were
    non_MDD and 5 MDD there too)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_phenotypes

    _write_parquet(omop_rows(), tmp_path)
    cfg = toy_config(path=str(tmp_path))
    out = tmp_path / "duck.parquet"
    duckdb_phenotypes(str(tmp_path), cfg, str(out), threads=1)
    duck = {(int(r.person_id), r.definition): (r.status, r.exclusion_reason or None)
            for r in pd.read_parquet(out).itertuples()}
    ours = {(r.person_id, r.definition): (r.status, r.exclusion_reason)
            for r in tables.phenotypes.select("person_id", "definition", "status", "exclusion_reason").collect()}
    assert duck == ours
    assert {p for (p, _), (_, reason) in duck.items() if reason == IMPLAUSIBLE} == {2, 3, 5, 7, 9}


def test_the_count_is_the_exclusion_s_flow_box_and_twin_agree(spark, tables, tmp_path):
    """The stage's count (notes.quirks.persons.n_persons_birth_year_implausible, from the one
    collect of stage_counts, and observed while ``run`` writes the persons: the same aggregate)
    is the exclusion's: persons 2, 3, 5, 7, 9 = 5, the flow box, and the DuckDB twin's count by its
    own SQL. On 48016ac the count was DQD's year range over the person table: 2 (2099, 1800),
    beside a flow box of 5 (5 aged 125, 7 and 9 by their age). Logged as a label (<20), with one
    WARNING line naming person.year_of_birth and no count."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_drop_counts

    from trd_spark.phenotypes.stage import implausible_birth_warnings, quirk_log_text, stage_counts

    rows = omop_rows()
    omop = omop_tables(spark, persons=rows["person"], observation_periods=rows["observation_period"],
                       conditions=rows["condition_occurrence"], deaths=rows["death"])
    cfg = toy_config()
    _, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients, cfg.omop.data_cutoff_date,
                             cfg.phenotypes.trials.max_days_supply)
    n = quirks["persons"]["n_persons_birth_year_implausible"]
    mdd = cfg.phenotypes.mdd
    flow = cohort_flow_rows(tables.mdd, tables.phenotypes, exclusion_sets=list(mdd.exclude_concept_sets),
                            min_diagnoses=mdd.min_diagnoses)
    [box] = [x for d, _, step, x in flow if d == ALL_DEFINITIONS and step == "excluded_implausible_year_of_birth"]
    _write_parquet(rows, tmp_path)
    twin = duckdb_drop_counts(str(tmp_path), toy_config(path=str(tmp_path)), threads=1)
    assert (n, box, twin["persons"]["n_persons_birth_year_implausible"]) == (5, 5, 5)
    assert "n_persons_birth_year_implausible" not in quirks["birth_and_death"]  # one count, one place
    assert "n_persons_birth_year_implausible <20" in quirk_log_text("persons", quirks["persons"], 20)
    [line] = implausible_birth_warnings(quirks["persons"])
    assert line.startswith("person: year_of_birth gives no usable age") and not re.search(r"\b5\b", line)
    assert implausible_birth_warnings({**quirks["persons"], "n_persons_birth_year_implausible": 0}) == []


def _frame(age: float, age_at_index: float) -> pd.DataFrame:
    cfg = toy_config()
    row = {"dataset": "d", "definition": "ad3", "person_id": 1, "status": "TRD", "ancestry": "eur", "age": age,
           "age_at_index": age_at_index, "sex_female": 1, "time_to_trd_days": 10, "trd_event": 1,
           **{f"pc{i + 1}": 0.0 for i in range(cfg.covariates.n_pcs)}}
    return pd.DataFrame([row, {**row, "person_id": 2, "status": "non_MDD", "age": 50.0, "age_at_index": None}])


@pytest.mark.parametrize(("age", "age_at_index", "column"), [(-76.0, 30.0, "age"), (60.0, 219.0, "age_at_index")],
                         ids=["negative_age", "age_219_at_index"])
def test_the_models_refuse_an_implausible_age(spark, age, age_at_index, column):
    """An analysis frame holding an age below 0 or above 120 (built from phenotypes made
    otherwise, e.g. an older release) is one ModelError naming the column, from the serial
    checks and from the Spark grids' check on the driver, before any fit (on 93c1e64 both fitted
    it). A frame with ages in range passes."""
    from trd_spark.models.covariates import COX_AGE, covariate_columns
    from trd_spark.models.distributed import _model_columns
    from trd_spark.models.logistic import check_analysis_frame

    cfg = toy_config()
    age_col = "age" if column == "age" else COX_AGE
    frame = _frame(age, age_at_index)
    with pytest.raises(ModelError, match=rf"analysis_frame\.{column}: age outside 0\.\.120 years"):
        check_analysis_frame(frame, covariate_columns(cfg, age=age_col))
    with pytest.raises(ModelError, match=f"analysis_frame.{column}"):
        _model_columns(spark.createDataFrame(frame), cfg, age=age_col)
    check_analysis_frame(_frame(18.0, 18.0), covariate_columns(cfg, age=age_col))  # in range: no error
