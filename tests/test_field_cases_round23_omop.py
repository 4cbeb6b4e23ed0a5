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

Tiny inputs built inline on the session's Spark (toy config: cutoff 2023-07-01, observation
2000-01-01..2023-12-31); expected values by hand from README "Study rules" / "Concepts", and checked
against an independent DuckDB query of the MDD rule with its own status list.
"""

from __future__ import annotations

import datetime as dt

import duckdb
from test_phenotypes_support import (
    BIPOLAR,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    drug,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.phenotypes.stage import condition_status_counts, derive_phenotype_tables

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


def _duckdb_mdd_index(rows: list[tuple]) -> dict[int, dt.date | None]:
    """person_id -> MDD index by the README rule in DuckDB SQL: >= 2 MDD records on distinct dates
    whose status is a diagnosis (none of NOT_A_DIAGNOSIS), index = the first such date; None: no MDD."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE c (person_id BIGINT, concept BIGINT, d DATE, status BIGINT)")
        con.executemany("INSERT INTO c VALUES (?, ?, ?, ?)", [(p, c, d(s), st) for p, c, s, st in rows])
        out = con.execute(f"""
            SELECT person_id, CASE WHEN COUNT(DISTINCT d) FILTER (WHERE dx) >= 2 THEN MIN(d) FILTER (WHERE dx) END
            FROM (SELECT person_id, d, concept = {MDD_CONCEPT}
                         AND COALESCE(status NOT IN ({', '.join(map(str, NOT_A_DIAGNOSIS))}), TRUE) AS dx FROM c)
            GROUP BY person_id""").fetchall()
    finally:
        con.close()
    return {int(p): i for p, i in out}


def test_a_rule_out_status_is_no_mdd_diagnosis(spark):
    """By hand (follow-up to the cutoff 2023-07-01):
    1: MDD 2019-01-10 (rule-out) and 2019-02-10: one diagnosis date -> not MDD, excluded
       depression_not_mdd (45356c7: MDD, index 2019-01-10, MDD_other).
    2: MDD 2018-06-01 (rule-out), 2019-01-10 (confirmed), 2019-02-10; sertraline 2019-03-01 x 60
       days -> index 2019-01-10, trMDD, 1633 days (45356c7: index 2018-06-01, 1856 days).
    3: a rule-out bipolar code still excludes: bipolar (as on 45356c7).
    4: two rule-out MDD codes and nothing else: no diagnosis, still no control -> excluded
       depression_not_mdd (45356c7: MDD, index 2019-01-10, MDD_other).
    The rule-out records are counted as preliminary: 5 (45356c7: 0). DuckDB's MDD index agrees."""
    conditions = [(*cond(p, c, day), status) for p, c, day, status in STATUS_ROWS]
    omop = omop_tables(spark, persons=[person(p) for p in (1, 2, 3, 4)],
                       observation_periods=[obs(p) for p in (1, 2, 3, 4)], conditions=conditions,
                       drugs=[drug(2, SERTRALINE_TAB, "2019-03-01", days_supply=60)])
    tables = derive_phenotype_tables(omop, toy_config())
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
    oracle = _duckdb_mdd_index(STATUS_ROWS)
    assert oracle == {1: None, 2: d("2019-01-10"), 3: d("2019-01-10"), 4: None}
    spark_index = {r.person_id: r.mdd_index_date for r in tables.mdd.collect()}
    assert spark_index == oracle  # 3 meets the count (index set), then excluded for bipolar
    counts = condition_status_counts(tables.study_events["condition"]).collect()[0]
    assert (counts.n_preliminary_records, counts.n_history_records) == (5, 0)
