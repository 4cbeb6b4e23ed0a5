"""Field cases, round 22 (session 32, helper "omop22"): new variants of the OMOP kinds that gave a
silent wrong answer on d0e0953.

- Drug eras and trials: an EHR's medication administration records (a dose given on a ward, one
  drug_exposure row per dose, ``drug_type_concept_id`` 38000180 "Inpatient administration" or the
  CDM v5.4 type 32818 "EHR administration record") carry the day of the dose, end = start and no
  days_supply. The exposure-end rule read each as an order of ``trials.default_days_supply`` (30)
  days: 13 daily doses of sertraline during an admission made a 42-day adequate trial (the dose
  given on day 13 "supplied" to day 42), a third one made a person TRD. OHDSI's drug era reads such
  a record as its own day (no end, no days_supply: start + 1, exclusive), and so does the rule now
  (``trials.exposure_end_expr`` rule 3, ``vocabulary.ADMINISTRATION_DRUG_TYPE_IDS``); counted as
  ``notes.quirks.drug_records.n_administration_one_day``. An administration with a days_supply,
  and a prescription with end = start, are read as before.

Tiny inputs written as Parquet files and read by the stage's own reader (toy config: cutoff
2023-07-01, observation 2000-01-01..2023-12-31, MDD codes on 2019-01-10 and 2019-02-10, so every
person is MDD with index 2019-01-10); expected values by hand from docs/phenotypes.md, and the
DuckDB twin (benchmarks/duckdb_phenotypes.py) on the same files gives the same statuses and count.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
from test_phenotypes_support import (
    CITALOPRAM,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    duckdb_twin_rows,
    obs,
    omop_tables,
    person,
    toy_config,
    write_omop_parquet,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from duckdb_phenotypes import duckdb_drop_counts  # noqa: E402

from trd_spark.phenotypes.omop import read_omop_table  # noqa: E402
from trd_spark.phenotypes.stage import derive_phenotype_tables, drug_record_quirks  # noqa: E402

# drug_type_concept_id values, written out here (the test does not read trd_spark's list):
INPATIENT_ADMINISTRATION, EHR_ADMINISTRATION = 38000180, 32818  # administrations
EHR_PRESCRIPTION, PRESCRIPTION_WRITTEN = 32838, 38000177  # orders

PERSONS = (1, 2, 3, 4)


def _ward_doses(pid: int, concept: int, first: str, n: int, kind: int) -> list[tuple]:
    """n daily administrations from ``first``: end = start, no days_supply."""
    return [(pid, concept, d(first) + dt.timedelta(days=i), d(first) + dt.timedelta(days=i), None, kind)
            for i in range(n)]


# person_id, drug_concept_id, start, end, days_supply, drug_type_concept_id
DRUGS = [
    # 1: 13 daily ward doses of sertraline, nothing else
    *_ward_doses(1, SERTRALINE_TAB, "2019-03-01", 13, INPATIENT_ADMINISTRATION),
    # 2: two adequate 60-day courses, then 13 ward doses of a third ingredient (CDM v5.4 type)
    (2, FLUOXETINE_CAP, d("2019-03-01"), d("2019-03-01"), 60, EHR_PRESCRIPTION),
    (2, CITALOPRAM, d("2019-05-01"), d("2019-05-01"), 60, EHR_PRESCRIPTION),
    *_ward_doses(2, SERTRALINE_TAB, "2019-07-01", 13, EHR_ADMINISTRATION),
    # 3: an administration with a days_supply (the source's own length), and a reversed one (no exposure)
    (3, SERTRALINE_TAB, d("2019-03-01"), d("2019-03-01"), 45, INPATIENT_ADMINISTRATION),
    (3, SERTRALINE_TAB, d("2019-09-01"), d("2019-09-01"), -1, INPATIENT_ADMINISTRATION),
    # 4: two orders with end = start and no days_supply: the default 30 days each, as before
    (4, SERTRALINE_TAB, d("2019-03-01"), d("2019-03-01"), None, PRESCRIPTION_WRITTEN),
    (4, SERTRALINE_TAB, d("2019-04-01"), d("2019-04-01"), None, PRESCRIPTION_WRITTEN),
]


def _write_omop(root: Path) -> None:
    """The case as an OMOP export (test_phenotypes_support.write_omop_parquet)."""
    i64, i32, date = pa.int64(), pa.int32(), pa.date32()
    ids = list(PERSONS)
    cols = list(zip(*DRUGS, strict=True))
    write_omop_parquet(root, PERSONS, condition_occurrence={
        "person_id": ([p for p in ids for _ in (0, 1)], i64), "condition_concept_id": ([MDD_CONCEPT] * 8, i64),
        "condition_start_date": ([d("2019-01-10"), d("2019-02-10")] * 4, date)},
        drug_exposure={"drug_exposure_id": (list(range(1, len(DRUGS) + 1)), i64), "person_id": (list(cols[0]), i64),
                       "drug_concept_id": (list(cols[1]), i64), "drug_exposure_start_date": (list(cols[2]), date),
                       "drug_exposure_end_date": (list(cols[3]), date), "days_supply": (list(cols[4]), i32),
                       "drug_type_concept_id": (list(cols[5]), i64)})


def test_ward_administrations_are_their_own_days_not_default_orders(spark, tmp_path):
    """By hand (index 2019-01-10, follow-up to the cutoff 2023-07-01: 1633 days; ad3):
    1: sertraline 2019-03-01..03-13, 13 days: not adequate -> MDD_other, no_adequate_trial
       (d0e0953: each dose a 30-day order, 03-01..04-11, 42 days: adequate, trMDD).
    2: fluoxetine 03-01..04-29 and citalopram 05-01..06-29 (60 days each, adequate), sertraline
       07-01..07-13 (13 days) -> trMDD, 2 adequate trials (d0e0953: sertraline 07-01..08-11, 42
       days, a third adequate trial: TRD on 2019-07-01, 172 days).
    3: an administration with days_supply 45: 03-01..04-14, 45 days, adequate -> trMDD; its
       reversed record (days_supply -1) is no exposure.
    4: two orders with end = start, no days_supply: 03-01..03-30 and 04-01..04-30, one uncovered
       day between them (<= 30): one trial 03-01..04-30, 61 days -> trMDD.
    notes.quirks.drug_records: 26 administration records read as their own day (13 + 13; 3's are
    not: one has a days_supply, one is no exposure), 1 negative days_supply. The DuckDB twin agrees."""
    root = tmp_path / "omop"
    root.mkdir()
    _write_omop(root)
    cfg = toy_config(path=str(root))
    # the same persons, periods and diagnoses as the files; drug_exposure through the stage's reader
    omop = omop_tables(spark, persons=[person(p) for p in PERSONS], observation_periods=[obs(p) for p in PERSONS],
                       conditions=[cond(p, MDD_CONCEPT, day) for p in PERSONS for day in ("2019-01-10", "2019-02-10")])
    omop["drug_exposure"] = read_omop_table(spark, cfg.omop, "drug_exposure")
    tables = derive_phenotype_tables(omop, cfg)
    got = {r.person_id: (r.status, r.exclusion_reason, r.n_adequate_trials, r.trd_onset_date, r.time_to_trd_days)
           for r in tables.phenotypes.where("definition = 'ad3'").collect()}
    censored = days("2019-01-10", "2023-07-01")
    assert censored == 1633
    assert got == {
        1: ("MDD_other", "no_adequate_trial", 0, None, censored),
        2: ("trMDD", None, 2, None, censored),
        3: ("trMDD", None, 1, None, censored),
        4: ("trMDD", None, 1, None, censored),
    }
    trials = sorted((r.person_id, r.ingredient_name, r.trial_start_date, r.trial_end_date, r.trial_days, r.adequate)
                    for r in tables.trials.collect())
    assert trials == [
        (1, "sertraline", d("2019-03-01"), d("2019-03-13"), 13, False),
        (2, "citalopram", d("2019-05-01"), d("2019-06-29"), 60, True),
        (2, "fluoxetine", d("2019-03-01"), d("2019-04-29"), 60, True),
        (2, "sertraline", d("2019-07-01"), d("2019-07-13"), 13, False),
        (3, "sertraline", d("2019-03-01"), d("2019-04-14"), 45, True),
        (4, "sertraline", d("2019-03-01"), d("2019-04-30"), 61, True),
    ]
    drug_records = drug_record_quirks(tables.study_events["drug"], cfg.phenotypes.trials.max_days_supply).first().asDict()
    assert (drug_records["n_administration_one_day"], drug_records["n_negative_days_supply"]) == (26, 1)

    # The DuckDB twin on the same files.
    twin = {int(p): (s, r, n, o, t) for p, s, r, n, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet",
        "person_id, status, exclusion_reason, n_adequate_trials, trd_onset_date, time_to_trd_days", "definition = 'ad3'")}
    assert twin == got
    assert duckdb_drop_counts(str(root), cfg, threads=1)["drug_records"] == drug_records
