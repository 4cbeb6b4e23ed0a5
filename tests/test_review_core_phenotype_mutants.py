"""Mutation review of the core phenotype rules as a whole (session 46, helper "coremut").

Earlier reviews (test_review_s*_mutants.py) mutated each session's NEW code; this one mutated the
rules of trd_spark/phenotypes/{mdd,trials,trd,persons}.py (one-line semantic mutants, each applied
alone to a copy of the tree) and ran the rule's own phenotype test module against each
(test_phenotypes_{mdd,persons,trials,trd}.py; for m04 also _toydata_phenotype_rules and _duckdb,
for m05 also _toydata_phenotype_rules). The mutants those tests let pass are pinned here by ONE hand-made OMOP export (28 persons) run once through the chain (read_omop,
derive_phenotype_tables) and once through the DuckDB twin (benchmarks/duckdb_phenotypes.py), both
held to hand-worked rows. Config: the toy one, plus refills used, a 14-day pre-index window,
citalopram's minimum trial 56 days, and a 4th definition ``ad3_any`` (antidepressant_sequence,
n_trials 3, last_trial_adequate false). Everyone born 1970-01-01 and observed 2000-01-01..2023-12-31
unless said; data cutoff 2023-07-01, so follow-up ends then; MDD codes on 2020-01-01 and 2020-02-01.

Mutants: what the old tests did (the rule's own module run against the mutant with -x; m09-m11, m13,
m22, m32, m38-m40 run in session 47 on 1dcddaa's tree, the others in session 46) and which tests
here fail on it (mdd_groups = test_mdd_groups_and_their_reasons,
end_of_followup, exposures = test_exposure_ends_and_episodes, adequacy = test_adequacy_and_trmdd,
sequence = test_sequence_and_augmentation_onsets, somatic = test_somatic_onsets_and_day_zero; the
whole-export test fails on each as well):

  m01 mdd: MDD count >= -> >. Old tests: killed by test_bipolar_diagnosis_excludes_mdd_but_keeps_index.
      Killed here by: mdd_groups, end_of_followup, exposures, adequacy, sequence, somatic.
  m02 mdd: index = last MDD date. Old tests: killed by test_index_is_first_mdd_date_across_descendants.
      Killed here by: mdd_groups, end_of_followup, exposures, adequacy, sequence, somatic.
  m03 mdd: records not distinct dates. Old tests: killed by test_two_codes_on_one_date_are_not_mdd.
      Killed here by: mdd_groups.
  m04 mdd: under-age < -> <=. Old tests: SURVIVED test_phenotypes_mdd, _toydata_phenotype_rules, _duckdb (most of _trd).
      Killed here by: mdd_groups.
  m05 mdd: preliminary/history counts as diagnosis. Old tests: SURVIVED test_phenotypes_mdd, test_toydata_phenotype_rules.
      Killed here by: mdd_groups.
  m06 mdd: exclusions/depression only within follow-up. Old tests: killed by test_controls_are_clean_over_the_whole_record.
      Killed here by: mdd_groups.
  m07 mdd: antidepressant (control rule) only within follow-up. Old tests: killed by test_controls_are_clean_over_the_whole_record.
      Killed here by: mdd_groups.
  m08 mdd: under-age before exclusion sets. Old tests: SURVIVED test_phenotypes_mdd.
      Killed here by: mdd_groups.
  m09 mdd: antidepressant rule dropped. Old tests: killed by test_controls_and_non_mdd_exclusions.
      Killed here by: mdd_groups.
  m10 persons: death not ending follow-up. Old tests: killed by test_end_of_followup_is_min_of_observation_death_cutoff.
      Killed here by: end_of_followup, somatic.
  m11 persons: first period end, not last. Old tests: killed by test_end_of_followup_is_min_of_observation_death_cutoff.
      Killed here by: end_of_followup.
  m12 persons: follow-up end exclusive. Old tests: killed by test_events_outside_followup_are_dropped.
      Killed here by: end_of_followup, somatic.
  m13 persons: no birth-year lower bound. Old tests: killed by test_events_outside_followup_are_dropped.
      Killed here by: mdd_groups.
  m14 persons: latest death. Old tests: SURVIVED test_phenotypes_persons.
      Killed here by: end_of_followup, somatic.
  m15 persons: birthday itself before birthday. Old tests: EQUIVALENT: on the birthday completed-1 + 1 whole year = the same age (29 Feb too).
  m16 persons: year-only birth 1 Jan. Old tests: killed by test_birth_date_defaults.
      Killed here by: mdd_groups.
  m17 persons: swapped period start ignored. Old tests: SURVIVED test_phenotypes_persons.
      Killed here by: end_of_followup.
  m18 persons: open period not to cutoff. Old tests: SURVIVED test_phenotypes_persons.
      Killed here by: end_of_followup.
  m19 trials: gap > -> >=. Old tests: killed by test_gap_of_30_days_merges_and_31_splits.
      Killed here by: exposures.
  m20 trials: gap without -1. Old tests: killed by test_gap_of_30_days_merges_and_31_splits.
      Killed here by: exposures.
  m21 trials: trial days exclusive. Old tests: killed by test_gap_of_30_days_merges_and_31_splits.
      Killed here by: exposures, adequacy.
  m22 trials: adequacy >= -> >. Old tests: killed by test_41_day_trial_is_not_adequate_42_is.
      Killed here by: exposures, adequacy.
  m23 trials: pre-index bound exclusive. Old tests: killed by test_adequacy_needs_start_on_or_after_index_minus_window.
      Killed here by: adequacy.
  m24 trials: pre-index window sign. Old tests: killed by test_adequacy_needs_start_on_or_after_index_minus_window.
      Killed here by: exposures, adequacy, sequence.
  m25 trials: no clipping at follow-up end. Old tests: killed by test_trial_end_is_clipped_at_end_of_followup.
      Killed here by: adequacy.
  m26 trials: days_supply end +1. Old tests: killed by test_exposure_end[end_eq_start_ds30].
      Killed here by: exposures.
  m27 trials: default supply +1. Old tests: killed by test_exposure_end[ds_null].
      Killed here by: exposures.
  m28 trials: end == start used as end. Old tests: killed by test_exposure_end[end_eq_start_ds30].
      Killed here by: exposures, adequacy, sequence.
  m29 trials: refills course without the first fill. Old tests: SURVIVED test_phenotypes_trials.
      Killed here by: exposures.
  m30 trials: max_days_supply end bound < -> <=. Old tests: SURVIVED test_phenotypes_trials.
      Killed here by: exposures.
  m31 trials: same-start duplicates keep shortest. Old tests: killed by test_duplicate_exposures_are_one_with_the_longest_end.
      Killed here by: exposures.
  m32 trials: per-ingredient min trial days ignored. Old tests: killed by test_per_ingredient_minimum_trial_days.
      Killed here by: adequacy.
  m33 trd: ingredient's last adequate trial. Old tests: killed by test_person_treatment_one_exchange_for_the_trials_and_one_row_per_treated_person.
      Killed here by: sequence.
  m34 trd: augmentation/somatic same-day not counted. Old tests: killed by test_prevalent_trd_on_index_date_gets_one_day.
      Killed here by: sequence, somatic.
  m35 trd: somatic before index counts. Old tests: killed by test_somatic_via_procedure_on_or_after_index.
      Killed here by: somatic.
  m36 trd: onset on follow-up end not counted. Old tests: SURVIVED test_phenotypes_trd.
      Killed here by: end_of_followup, somatic.
  m37 trd: trMDD follow-up >= -> >. Old tests: killed by test_trmdd_needs_minimum_followup.
      Killed here by: adequacy.
  m38 trd: trMDD without adequate trial. Old tests: killed by test_somatic_via_procedure_on_or_after_index.
      Killed here by: mdd_groups, end_of_followup, exposures, adequacy, somatic.
  m39 trd: day-0 kept. Old tests: killed by test_prevalent_trd_on_index_date_gets_one_day.
      Killed here by: somatic.
  m40 trd: time to TRD = follow-up. Old tests: killed by test_ad3_onset_is_third_distinct_ingredient.
      Killed here by: sequence, somatic.
  m41 trd: augmentation anchored at (n-1)th trial. Old tests: killed by test_augmentation_after_second_trial.
      Killed here by: sequence.
  m42 trd: sequence(any last trial) same-day not counted. Old tests: SURVIVED test_phenotypes_trd.
      Killed here by: sequence.
  m43 trd: same-day tie order. Old tests: EQUIVALENT: tied first starts share one date: start_n, the anchor and the onset the same.
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import (
    ANCESTRY,
    ARIPIPRAZOLE_TAB,
    BIPOLAR,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    ECT_SNOMED,
    FLUOXETINE,
    MDD_CHILD,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    STATUS_COLUMNS,
    cond,
    d,
    days,
    death,
    drug,
    duckdb_twin_rows,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.config import TrdDefinition
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CUTOFF = "2023-07-01"
DEFINITIONS = ("ad3", "ad2_augmentation", "somatic", "ad3_any")
PRELIMINARY = 32899  # condition_status_concept_id "Preliminary diagnosis" (docs/phenotypes.md "Concepts")


def _mdd(pid: int, first: str = "2020-01-01", second: str = "2020-02-01") -> list[tuple]:
    return [cond(pid, MDD_CONCEPT, first), cond(pid, MDD_CONCEPT, second)]


# person_id -> (person row kwargs, observation periods or None for the default, conditions, drugs,
# procedures, deaths)
CASES: dict[int, dict] = {
    # a 42-day order (end == start, days_supply 42) started on the index: exactly adequate
    1: dict(conditions=_mdd(1), drugs=[drug(1, SERTRALINE, "2020-01-01", days_supply=42)]),
    # two 30-day orders 30 uncovered days apart (01-30 .. 03-01): one 90-day episode
    2: dict(conditions=_mdd(2), drugs=[drug(2, SERTRALINE, "2020-01-01", days_supply=30),
                                       drug(2, SERTRALINE, "2020-03-01", days_supply=30)]),
    # two default-length (30-day) orders 31 uncovered days apart: two 30-day episodes
    3: dict(conditions=_mdd(3), drugs=[drug(3, SERTRALINE, "2020-01-01"), drug(3, SERTRALINE, "2020-03-02")]),
    # the same with days_supply 30 written
    4: dict(conditions=_mdd(4), drugs=[drug(4, SERTRALINE, "2020-01-01", days_supply=30),
                                       drug(4, SERTRALINE, "2020-03-02", days_supply=30)]),
    # index 2020-01-15; a 60-day trial started 14 days before it (the pre-index window's first day)
    5: dict(conditions=_mdd(5, "2020-01-15"), drugs=[drug(5, SERTRALINE, "2020-01-01", days_supply=60)]),
    # citalopram 42 days: below its own 56-day minimum
    6: dict(conditions=_mdd(6), drugs=[drug(6, CITALOPRAM, "2020-01-01", days_supply=42)]),
    # an end date exactly max_days_supply (365) days after the start: implausible, default length used
    7: dict(conditions=_mdd(7), drugs=[drug(7, SERTRALINE, "2020-01-01", end="2020-12-31")]),
    # two records of one ingredient on one day (10 and 60 days): one exposure, the longer
    8: dict(conditions=_mdd(8), drugs=[drug(8, SERTRALINE, "2020-01-01", days_supply=10),
                                       drug(8, SERTRALINE_TAB, "2020-01-01", days_supply=60)]),
    # 30 days with 1 refill (refills used): a 60-day course
    9: dict(conditions=_mdd(9), drugs=[drug(9, SERTRALINE, "2020-01-01", days_supply=30, refills=1)]),
    # sertraline, fluoxetine, bupropion adequate (01-01, 04-01, 07-01), sertraline again (2021);
    # aripiprazole on 02-01 (before the 2nd trial) and on 04-01 (the 2nd trial's start day)
    10: dict(conditions=_mdd(10), drugs=[
        drug(10, SERTRALINE, "2020-01-01", days_supply=60), drug(10, ARIPIPRAZOLE_TAB, "2020-02-01", days_supply=10),
        drug(10, FLUOXETINE, "2020-04-01", days_supply=60), drug(10, ARIPIPRAZOLE_TAB, "2020-04-01", days_supply=10),
        drug(10, BUPROPION, "2020-07-01", days_supply=60), drug(10, SERTRALINE, "2021-01-01", days_supply=60)]),
    # two adequate trials, then a 10-day bupropion started on the 2nd trial's start day
    11: dict(conditions=_mdd(11), drugs=[
        drug(11, SERTRALINE, "2020-01-01", days_supply=60), drug(11, FLUOXETINE, "2020-04-01", days_supply=60),
        drug(11, BUPROPION, "2020-04-01", days_supply=10)]),
    # ECT on the index date (day 0 -> 1)
    12: dict(conditions=_mdd(12), procedures=[proc(12, ECT_SNOMED, "2020-01-01")]),
    # ECT before the index
    13: dict(conditions=_mdd(13), procedures=[proc(13, ECT_SNOMED, "2019-06-01")]),
    # died 2021-06-30 (and a later death row); ECT on the day of death
    14: dict(conditions=_mdd(14), procedures=[proc(14, ECT_SNOMED, "2021-06-30")],
             deaths=[death(14, "2022-01-01"), death(14, "2021-06-30")]),
    # index 2023-01-02: exactly 180 days of follow-up, one adequate trial
    15: dict(conditions=_mdd(15, "2023-01-02", "2023-01-03"), drugs=[drug(15, SERTRALINE, "2023-01-02", days_supply=60)]),
    # index 2023-05-01; a 60-day order from 2023-06-01 clipped at the cutoff: 31 days
    16: dict(conditions=_mdd(16, "2023-05-01", "2023-05-02"), drugs=[drug(16, SERTRALINE, "2023-06-01", days_supply=60)]),
    # 18th birthday on the index
    17: dict(person=dict(year=2002), conditions=_mdd(17)),
    # year-only birth 2002 (1 July): 17.7 years at the index 2020-03-01
    18: dict(person=dict(year=2002, month=None, day=None), conditions=_mdd(18, "2020-03-01", "2020-04-01")),
    # under 18 at the index AND bipolar
    19: dict(person=dict(year=2005), conditions=[*_mdd(19), cond(19, BIPOLAR, "2020-03-01")]),
    # bipolar after the data cutoff
    20: dict(conditions=[*_mdd(20), cond(20, BIPOLAR, "2023-09-01")]),
    # no depression code; an antidepressant after the data cutoff
    21: dict(drugs=[drug(21, SERTRALINE, "2023-09-01", days_supply=30)]),
    # an MDD record dated before the birth year
    22: dict(conditions=[cond(22, MDD_CONCEPT, "1969-06-01"), *_mdd(22)]),
    # two periods: the last one's end counts
    23: dict(periods=[obs(23, "2000-01-01", "2005-12-31"), obs(23, "2006-01-01", "2023-12-31")], conditions=_mdd(23)),
    # start and end swapped: observed until 2023-12-31
    24: dict(periods=[obs(24, "2023-12-31", "2000-01-01")], conditions=_mdd(24)),
    # an open period (no end): runs to the cutoff
    25: dict(periods=[(25, d("2000-01-01"), None)], conditions=_mdd(25)),
    # a preliminary MDD code first: the index is the next one
    26: dict(conditions=[cond(26, MDD_CONCEPT, "2020-01-01") + (PRELIMINARY,), *_mdd(26, "2020-02-01", "2020-03-01")]),
    # two MDD codes on one date: one diagnosis
    27: dict(conditions=[cond(27, MDD_CONCEPT, "2020-01-01"), cond(27, MDD_CHILD, "2020-01-01")]),
    # nothing: a control
    28: dict(),
}


def _row(pid, definition, status, reason=None, index=None, onset=None, end=CUTOFF, time=None, n=None):
    """One expected PHENOTYPES row (STATUS_COLUMNS); time None for an MDD person: censored at ``end``."""
    mdd = index is not None
    if mdd and time is None:
        time = days(index, onset or end)
    return (pid, definition, status, reason, d(index) if mdd else None, d(onset) if onset else None, d(end),
            time if mdd else None, (1 if onset else 0) if mdd else None, n if mdd else None)


def _all(pid, status, reason=None, index=None, **kw) -> list[tuple]:
    return [_row(pid, x, status, reason, index, **kw) for x in DEFINITIONS]


TRMDD1 = dict(status="trMDD", index="2020-01-01", n=1)
NO_TRIAL = dict(status="MDD_other", reason="no_adequate_trial", index="2020-01-01", n=0)

EXPECTED: dict[int, list[tuple]] = {
    1: _all(1, **TRMDD1), 2: _all(2, **TRMDD1), 3: _all(3, **NO_TRIAL), 4: _all(4, **NO_TRIAL),
    5: _all(5, "trMDD", index="2020-01-15", n=1), 6: _all(6, **NO_TRIAL), 7: _all(7, **NO_TRIAL),
    8: _all(8, **TRMDD1), 9: _all(9, **TRMDD1),
    10: [_row(10, "ad3", "TRD", None, "2020-01-01", onset="2020-07-01", n=3),
         _row(10, "ad2_augmentation", "TRD", None, "2020-01-01", onset="2020-04-01", n=3),
         _row(10, "somatic", "trMDD", None, "2020-01-01", n=3),
         _row(10, "ad3_any", "TRD", None, "2020-01-01", onset="2020-07-01", n=3)],
    11: [*[_row(11, x, "trMDD", None, "2020-01-01", n=2) for x in DEFINITIONS[:3]],
         _row(11, "ad3_any", "TRD", None, "2020-01-01", onset="2020-04-01", n=2)],
    12: [*[_row(12, x, **NO_TRIAL) for x in ("ad3", "ad2_augmentation", "ad3_any")],
         _row(12, "somatic", "TRD", None, "2020-01-01", onset="2020-01-01", time=1, n=0)],
    13: _all(13, **NO_TRIAL),
    14: [*[_row(14, x, **NO_TRIAL, end="2021-06-30") for x in ("ad3", "ad2_augmentation", "ad3_any")],
         _row(14, "somatic", "TRD", None, "2020-01-01", onset="2021-06-30", end="2021-06-30", n=0)],
    15: _all(15, "trMDD", index="2023-01-02", n=1),
    16: _all(16, "MDD_other", "no_adequate_trial", "2023-05-01", n=0),
    17: _all(17, **NO_TRIAL),
    18: _all(18, "excluded", "under_18_at_index"),
    19: _all(19, "excluded", "bipolar"),
    20: _all(20, "excluded", "bipolar"),
    21: _all(21, "excluded", "antidepressant_no_mdd"),
    22: _all(22, **NO_TRIAL), 23: _all(23, **NO_TRIAL), 24: _all(24, **NO_TRIAL), 25: _all(25, **NO_TRIAL),
    26: _all(26, "MDD_other", "no_adequate_trial", "2020-02-01", n=0),
    27: _all(27, "excluded", "depression_not_mdd"),
    28: _all(28, "non_MDD"),
}


@pytest.fixture(scope="module")
def rows(spark, tmp_path_factory) -> dict[str, dict[int, list[tuple]]]:
    """The export through the chain and the twin: {"chain"|"twin": person_id -> sorted rows}."""
    root = tmp_path_factory.mktemp("core_mutants")
    tables: dict[str, list] = {"person": [], "observation_period": [], "condition_occurrence": [],
                               "drug_exposure": [], "procedure_occurrence": [], "death": [],
                               "concept": CONCEPTS, "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY]}
    for pid, case in CASES.items():
        tables["person"].append(person(pid, **case.get("person", {})))
        tables["observation_period"] += case.get("periods", [obs(pid)])
        tables["condition_occurrence"] += case.get("conditions", [])
        tables["drug_exposure"] += case.get("drugs", [])
        tables["procedure_occurrence"] += case.get("procedures", [])
        tables["death"] += case.get("deaths", [])
    write_omop_tables(root, tables)
    cfg = toy_config(path=str(root))
    ph = cfg.phenotypes
    trials = ph.trials.model_copy(update={"use_refills": True, "pre_index_window_days": 14,
                                          "ingredient_min_trial_days": {CITALOPRAM: 56}})
    any_last = TrdDefinition(name="ad3_any", rule="antidepressant_sequence", n_trials=3, last_trial_adequate=False)
    cfg = cfg.model_copy(update={"phenotypes": ph.model_copy(update={
        "trials": trials, "trd_definitions": [*ph.trd_definitions, any_last]})})
    assert [x.name for x in cfg.phenotypes.trd_definitions] == list(DEFINITIONS)
    chain = derive_phenotype_tables(read_omop(spark, cfg), cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    twin = duckdb_twin_rows(root, cfg, root / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    out: dict[str, dict[int, list[tuple]]] = {"chain": {}, "twin": {}}
    for name, got in (("chain", chain), ("twin", twin)):
        for r in sorted(tuple(r) for r in got):
            out[name].setdefault(r[0], []).append(r)
    return out


def _check(rows, *pids: int) -> None:
    for pid in pids:
        want = sorted(EXPECTED[pid])
        assert rows["chain"].get(pid) == want, ("chain", pid)
        assert rows["twin"].get(pid) == want, ("twin", pid)


def test_mdd_groups_and_their_reasons(rows):
    """Persons 17-22, 26-28: the 18th birthday on the index is 18 (m04), a year-only birth is 1 July
    (m16), an exclusion set before under-age (m08), exclusions and antidepressants read over the
    whole record (m06, m07, m09), no record before the birth year (m13), a preliminary code no
    diagnosis (m05), distinct dates (m03), two dates suffice (m01), the first is the index (m02)."""
    _check(rows, 17, 18, 19, 20, 21, 22, 26, 27, 28)


def test_end_of_followup(rows):
    """Persons 14, 23-25: the earliest death ends follow-up (m10, m14) and an event on that day is
    in it (m12, m36); the last period's end (m11), a swapped period's start (m17), an open period
    to the cutoff (m18)."""
    _check(rows, 14, 23, 24, 25)


def test_exposure_ends_and_episodes(rows):
    """Persons 1-4, 7-9: an end == start is no end (m28), days_supply and default lengths end on
    start + n - 1 (m26, m27), a gap of 30 uncovered days merges and 31 does not (m19, m20), an end
    date 365 days on is implausible (m30), same-day records keep the longest (m31), a refill course
    counts its first fill (m29)."""
    _check(rows, 1, 2, 3, 4, 7, 8, 9)


def test_adequacy_and_trmdd(rows):
    """Persons 1, 5, 6, 15, 16: 42 inclusive days are adequate (m21, m22), the pre-index window's
    first day counts (m23, m24), citalopram's own minimum (m32), a trial clipped at the end of
    follow-up (m25), 180 days of follow-up are enough for trMDD (m37), no trial no trMDD (m38)."""
    _check(rows, 1, 5, 6, 15, 16)


def test_sequence_and_augmentation_onsets(rows):
    """Persons 10, 11: an ingredient ranks by its first adequate trial (m33), the augmentation agent
    on the n-th trial's start day counts (m34) and one before it does not (m41), ad3_any's trial
    started on the anchor day counts (m42), the time runs to the onset (m40)."""
    _check(rows, 10, 11)


def test_somatic_onsets_and_day_zero(rows):
    """Persons 12-14: ECT on the index is TRD at day 1 (m34, m39), ECT before the index is none
    (m35), ECT on the day of death is TRD (m36)."""
    _check(rows, 12, 13, 14)


def test_every_person_once_per_definition_and_chain_equals_twin(rows):
    """The whole export: 4 rows per person, the chain's rows are the twin's and the hand-worked ones."""
    assert rows["chain"] == rows["twin"]
    assert sorted(rows["chain"]) == sorted(EXPECTED)
    _check(rows, *EXPECTED)
