"""Field cases, round 23 (session 33, helper "omop23"): new variants of the OMOP kinds that gave a
silent wrong answer on 45356c7.

- MDD definition, condition status (the kind of rounds 21 and the "history of" case): the OMOP
  Condition Status vocabulary's rule-out, 32892 "Condition to be diagnosed by procedure" (the
  condition a test or procedure is done to confirm or exclude: the code an order for a depression
  screen carries), was read as a diagnosis. One such record beside one formal MDD code made a
  person MDD, and one dated before the first formal code became the index (an earlier index, a
  longer time to TRD); two of them alone made an MDD case of a person never diagnosed. Now it is a
  preliminary status (``vocabulary.PRELIMINARY_DIAGNOSIS_STATUS_IDS``): no MDD diagnosis date,
  never the index, still no control, a rule-out bipolar code still excludes; counted in
  notes.quirks.condition_status.n_preliminary_records.

Tiny inputs written as Parquet files and read by the stage's own reader (toy config: cutoff
2023-07-01, observation 2000-01-01..2023-12-31); expected values by hand from docs/phenotypes.md /
"Concepts", checked against an independent DuckDB query of the MDD rule and the DuckDB twin
(benchmarks/duckdb_phenotypes.py, which now writes its own status list instead of importing the
chain's) on the same files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from test_phenotypes_support import (
    BIPOLAR,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    d,
    days,
    duckdb_mdd_index,
    duckdb_twin_rows,
    toy_config,
    write_omop_parquet,
)

from trd_spark.phenotypes.stage import condition_status_counts, derive_phenotype_tables, read_omop

# Condition Status concepts, written out here (the DuckDB check does not read trd_spark's lists):
# 32892 "Condition to be diagnosed by procedure" (rule-out), 32893 "Confirmed diagnosis"; the
# statuses already read as no diagnosis: 32899 / 4033240 preliminary, 4188893 "history of".
RULE_OUT, CONFIRMED = 32892, 32893
NOT_A_DIAGNOSIS = (RULE_OUT, 32899, 4033240, 4188893)

# person_id, concept, date, condition_status_concept_id
STATUS_ROWS = [
    (1, MDD_CONCEPT, "2019-01-10", RULE_OUT), (1, MDD_CONCEPT, "2019-02-10", None),
    (2, MDD_CONCEPT, "2018-06-01", RULE_OUT), (2, MDD_CONCEPT, "2019-01-10", CONFIRMED),
    (2, MDD_CONCEPT, "2019-02-10", None),
    (3, BIPOLAR, "2018-01-01", RULE_OUT), (3, MDD_CONCEPT, "2019-01-10", None), (3, MDD_CONCEPT, "2019-02-10", None),
    (4, MDD_CONCEPT, "2019-01-10", RULE_OUT), (4, MDD_CONCEPT, "2019-02-10", RULE_OUT),
]


PERSONS = (1, 2, 3, 4)


def _write_omop(root: Path) -> None:
    """The case as an OMOP export (test_phenotypes_support.write_omop_parquet: every person born
    1970-01-01, observed 2000-01-01..2023-12-31); person 2 takes sertraline 2019-03-01, 60 days."""
    i64, i32, date = pa.int64(), pa.int32(), pa.date32()
    rows = list(zip(*STATUS_ROWS, strict=True))
    write_omop_parquet(root, PERSONS, condition_occurrence={
        "condition_occurrence_id": (list(range(1, len(STATUS_ROWS) + 1)), i64),
        "person_id": (list(rows[0]), i64), "condition_concept_id": (list(rows[1]), i64),
        "condition_start_date": ([d(x) for x in rows[2]], date), "condition_status_concept_id": (list(rows[3]), i64)},
        drug_exposure={"drug_exposure_id": ([1], i64), "person_id": ([2], i64), "drug_concept_id": ([SERTRALINE_TAB], i64),
                       "drug_exposure_start_date": ([d("2019-03-01")], date),
                       "drug_exposure_end_date": ([d("2019-03-01")], date), "days_supply": ([60], i32),
                       "drug_type_concept_id": ([32838], i64)})


def test_a_rule_out_status_is_no_mdd_diagnosis(spark, tmp_path):
    """By hand (follow-up to the cutoff 2023-07-01):
    1: MDD 2019-01-10 (rule-out) and 2019-02-10: one diagnosis date -> not MDD, excluded
       depression_not_mdd (45356c7: MDD, index 2019-01-10, MDD_other).
    2: MDD 2018-06-01 (rule-out), 2019-01-10 (confirmed), 2019-02-10; sertraline 2019-03-01 x 60
       days -> index 2019-01-10, trMDD, 1633 days (45356c7: index 2018-06-01, 1856 days).
    3: a rule-out bipolar code still excludes: bipolar (as on 45356c7).
    4: two rule-out MDD codes and nothing else: no diagnosis, still no control -> excluded
       depression_not_mdd (45356c7: MDD, index 2019-01-10, MDD_other).
    The rule-out records are counted as preliminary: 5 (45356c7: 0). DuckDB's MDD index and the
    DuckDB twin's statuses agree."""
    root = tmp_path / "omop"
    root.mkdir()
    _write_omop(root)
    cfg = toy_config(path=str(root))
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    got = {r.person_id: (r.status, r.exclusion_reason, r.mdd_index_date, r.time_to_trd_days)
           for r in tables.phenotypes.where("definition = 'ad3'").collect()}
    censored = days("2019-01-10", "2023-07-01")
    assert censored == 1633
    assert got == {
        1: ("excluded", "depression_not_mdd", None, None),
        2: ("trMDD", None, d("2019-01-10"), censored),
        3: ("excluded", "bipolar", None, None),
        4: ("excluded", "depression_not_mdd", None, None),
    }
    oracle = duckdb_mdd_index(STATUS_ROWS, NOT_A_DIAGNOSIS)
    assert oracle == {1: None, 2: d("2019-01-10"), 3: d("2019-01-10"), 4: None}
    spark_index = {r.person_id: r.mdd_index_date for r in tables.mdd.collect()}
    assert spark_index == oracle  # 3 meets the count (index set), then excluded for bipolar
    counts = condition_status_counts(tables.study_events["condition"]).collect()[0]
    assert (counts.n_preliminary_records, counts.n_history_records) == (5, 0)

    # The DuckDB twin on the same files, with its own status list.
    twin = {int(p): (s, r, i, t) for p, s, r, i, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet", "person_id, status, exclusion_reason, mdd_index_date, time_to_trd_days",
        "definition = 'ad3'")}
    assert twin == got
