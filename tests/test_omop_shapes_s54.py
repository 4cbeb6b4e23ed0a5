"""OMOP shapes of real exports outside drug_exposure's day-to-day rows, hand-worked (session 54, helper "omop").

Session 53 (tests/test_trials_s53.py) hand-worked 35 drug_exposure rows (days_supply 0 / negative / huge, end
before start, identical rows, an unmapped drug, ...) and session 52 (tests/test_omop_kinds_s52.py) the four
field-case kinds; neither is repeated. This module writes the shapes real exports take in drug_exposure's claim
life cycle (a claim and its reversal, a rebill, a reversal written as a negative quantity), in
condition_occurrence (the same diagnosis coded from ICD9CM and ICD10CM on one day, condition_status /
condition_type / condition_end_date / visit columns the rules do not read) and in person / death /
observation_period (a death before the first MDD code or before the only period, nested and one-day periods,
records before the birth year, gender 0 / 8551, records without any observation period), and checks the chain
(read_omop, derive_phenotype_tables) and the DuckDB twin (benchmarks/duckdb_phenotypes.py) against answers
worked out by hand from docs/phenotypes.md, each run once on one tiny Parquet export with the toy config
(cutoff 2023-07-01; default_days_supply 30, persistence_gap_days 30, min_trial_days 42, pre_index_window_days 0,
trMDD needs 180 days of follow-up; omop.ehr_evidence observation_period).

The frame (as session 53's): everyone born 1970-01-01, female, observed 2010-01-01..2023-12-31 (follow-up to the
cutoff) unless said; MDD diagnoses on 2019-01-10 and 2019-02-10 (index 2019-01-10); two background adequate
trials, citalopram from 2019-02-01 and bupropion from 2019-05-01 (60 days each: end = start, days_supply 60);
then the VARIANT. A sertraline trial of >= 42 days from S = 2019-09-01 makes ad3 TRD on its start with 3 trials;
else trMDD with 2. ad2_augmentation and somatic are trMDD unless said. The Cox columns (time_to_trd_days,
trd_event) are not compared here: helper "cox" owns the time at risk.

What they found: a claim and the reversal that cancels it (the same person, product and supply, the reversal's
days_supply negative, on the claim's day or while its supply ran) were read as one exposure: OHDSI Themis #124
says such a record "needs to be combined with" the claim it reverses, and the chain and the twin dropped the
reversal alone, keeping the reversed claim, so a 60-day fill never dispensed made a third adequate trial (ad3 TRD,
5401, 5402, 5408) and a reversed aripiprazole fill an ad2_augmentation onset (5409), uncounted. A row whose
quantity is negative (a reversal written as units returned, OHDSI DQD plausibleValueLow 0.0000001) was read as a
60-day exposure (5403, 5404). Both are fixed in the chain (trials.reversed_claim_keys, stage.followup_drugs)
and the twin, counted as notes.quirks.reversed_claims.n_reversed_claims and
notes.quirks.drug_records.n_negative_quantity. Every other shape gave the hand answer in both.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    ARIPIPRAZOLE_TAB,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    d,
    duckdb_twin_run,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts

CUTOFF = "2023-07-01"
INDEX, SECOND = "2019-01-10", "2019-02-10"
S = "2019-09-01"
# compared columns (STATUS_COLUMNS without the Cox time at risk's two)
COLUMNS = ["person_id", "definition", "status", "exclusion_reason", "mdd_index_date", "trd_onset_date",
           "followup_end_date", "n_adequate_trials"]
DEFINITIONS = ("ad3", "ad2_augmentation", "somatic")
# drug_type_concept_id 32869 "Pharmacy claim" (the JMDC ETL's pharmacy claims, OHDSI ETL-LambdaBuilder); the
# rules read only the administration and mail-order types, so any other value is read alike
PHARMACY_CLAIM = 32869
# condition_source_concept_id of the same diagnosis coded in ICD9CM and in ICD10CM (synthetic source concepts:
# the rules read condition_concept_id, the standard concept both map to)
MDD_ICD9, MDD_ICD10 = 2_000_054_001, 2_000_054_002
# condition_status_concept_id 32893 "Confirmed diagnosis" (vocabulary.py: the Condition Status run from 32890;
# the Oxford OMOP mapper's confirmed diagnosis): a diagnosis like any status outside NOT_A_DIAGNOSIS_STATUS_IDS
CONFIRMED = 32893
# condition_type_concept_id: 32810 "Claim", 32817 "EHR" (not read by any rule)
CLAIM_TYPE, EHR_TYPE = 32810, 32817


def drug(pid: int, concept: int, start: str, ds: int | None, *, quantity: float | None = None) -> tuple:
    """A pharmacy-claim drug_exposure row (OMOP_COLUMNS order): end = start (the ETL's), ``ds`` days_supply."""
    return (pid, concept, d(start), d(start), ds, None, quantity, None, None, PHARMACY_CLAIM)


def background(pid: int) -> list[tuple]:
    """Two adequate trials: citalopram and bupropion, 60 days each."""
    return [drug(pid, CITALOPRAM, "2019-02-01", 60), drug(pid, BUPROPION, "2019-05-01", 60)]


# person_id -> the variant's drug rows (after the background), the ad3 onset (None: trMDD with 2 trials), and the
# ad2_augmentation onset
CLAIMS: dict[int, tuple[list[tuple], str | None, str | None]] = {
    # a 60-day claim and its reversal on the same day (days_supply -60): the pair nets to nothing (Themis #124:
    # the reversal "needs to be combined with" the claim it reverses): no sertraline exposure
    5401: ([drug(5401, SERTRALINE_TAB, S, 60), drug(5401, SERTRALINE_TAB, S, -60)], None, None),
    # the reversal 4 days later (a return to stock while the supply would run): the same
    5402: ([drug(5402, SERTRALINE_TAB, S, 60), drug(5402, SERTRALINE_TAB, "2019-09-05", -60)], None, None),
    # a reversal written as units returned: quantity -60, days_supply as the claim's
    5403: ([drug(5403, SERTRALINE_TAB, S, 60, quantity=60), drug(5403, SERTRALINE_TAB, S, 60, quantity=-60)],
           None, None),
    # a negative quantity alone (no claim to cancel): no exposure, as a negative days_supply alone (s53 5304)
    5404: ([drug(5404, SERTRALINE_TAB, S, 60, quantity=-60)], None, None),
    # claim, reversal, rebill 3 days later (the claim life cycle): the rebill is the exposure
    5405: ([drug(5405, SERTRALINE_TAB, S, 60), drug(5405, SERTRALINE_TAB, S, -60),
            drug(5405, SERTRALINE_TAB, "2019-09-04", 60)], "2019-09-04", None),
    # a "reversal" the day after the claim's 60 days ran out (S..2019-10-30): not that claim's reversal; the
    # claim stays an exposure, the negative row is none
    5406: ([drug(5406, SERTRALINE_TAB, S, 60), drug(5406, SERTRALINE_TAB, "2019-10-31", -60)], S, None),
    # a negative row of another supply (-30 against 60): not the claim's reversal; the claim stays
    5407: ([drug(5407, SERTRALINE_TAB, S, 60), drug(5407, SERTRALINE_TAB, S, -30)], S, None),
    # the claim and its reversal, both exported twice (identical rows): two reversals cancel the two claim rows, no
    # exposure (session 55: a reversal cancels one claim row; a claim twice and its reversal once is a claim, its
    # reversal and a rebill, tests/test_reversal_s55.py 5501)
    5408: ([drug(5408, SERTRALINE_TAB, S, 60), drug(5408, SERTRALINE_TAB, S, 60), drug(5408, SERTRALINE_TAB, S, -60),
            drug(5408, SERTRALINE_TAB, S, -60)], None, None),
    # two 45-day claims (S and 2019-09-20) and a reversal on 2019-09-25 within both supplies: it cancels the
    # latest, the claim of 2019-09-20; S's 45 days stay (cancelling both: trMDD; the earliest: TRD on 09-20)
    5410: ([drug(5410, SERTRALINE_TAB, S, 45), drug(5410, SERTRALINE_TAB, "2019-09-20", 45),
            drug(5410, SERTRALINE_TAB, "2019-09-25", -45)], S, None),
    # an aripiprazole claim after the second adequate trial and its reversal: no augmentation (ad2_augmentation
    # trMDD); before the fix its onset was S
    5409: ([drug(5409, ARIPIPRAZOLE_TAB, S, 30), drug(5409, ARIPIPRAZOLE_TAB, S, -30)], None, None),
}


def cond(pid: int, date: str, *, source: int | None = None, status: int | None = None, kind: int | None = None,
         end: str | None = None, visit: int | None = None) -> dict:
    """A condition_occurrence row of the MDD concept, with the columns real exports carry beside the read ones."""
    return {"person_id": pid, "condition_concept_id": MDD_CONCEPT, "condition_start_date": d(date),
            "condition_status_concept_id": status, "condition_source_concept_id": source,
            "condition_type_concept_id": kind, "condition_end_date": d(end) if end else None,
            "visit_occurrence_id": visit}


def standard_dx(pid: int) -> list[dict]:
    return [cond(pid, INDEX), cond(pid, SECOND)]


# person_id -> its condition rows (default: standard_dx)
CONDITIONS: dict[int, list[dict]] = {
    # the same diagnosis coded from ICD9CM and ICD10CM on one day, nothing else: one distinct date, no MDD
    5451: [cond(5451, INDEX, source=MDD_ICD9), cond(5451, INDEX, source=MDD_ICD10)],
    # the same twice on the index day and once a month on: MDD, index the first day
    5452: [cond(5452, INDEX, source=MDD_ICD9), cond(5452, INDEX, source=MDD_ICD10), cond(5452, SECOND)],
    # a status that is a diagnosis ("Confirmed diagnosis") on both: MDD
    5453: [cond(5453, INDEX, status=CONFIRMED), cond(5453, SECOND, status=CONFIRMED)],
    # a claim-type and an EHR-type record: condition_type is not read
    5454: [cond(5454, INDEX, kind=CLAIM_TYPE), cond(5454, SECOND, kind=EHR_TYPE)],
    # condition_end_date before the start (plausibleStartBeforeEnd): the start dates the diagnosis
    5455: [cond(5455, INDEX, end="2019-01-01"), cond(5455, SECOND, end="2018-12-01")],
    # visit-linked rows whose visits lie between the two observation periods: records between periods count
    5456: [cond(5456, INDEX, visit=545601), cond(5456, SECOND, visit=545602)],
    # born 2000: an MDD code in 1999 (before the birth year, not used) and the two standard ones (aged 19)
    5466: [cond(5466, "1999-06-01"), *standard_dx(5466)],
    # born 2000: MDD codes only in 1999: outside follow-up, still no control
    5467: [cond(5467, "1999-06-01"), cond(5467, "1999-07-01")],
}
PERIODS: dict[int, list[tuple[str, str]]] = {
    5456: [("2010-01-01", "2018-12-31"), ("2020-01-01", "2023-12-31")],
    5462: [("2010-01-01", "2023-12-31")],
    5463: [("2010-01-01", "2023-12-31"), ("2015-01-01", "2016-12-31")],  # one nested in the other
    5464: [("2019-01-10", "2019-01-10")],  # a one-day period, the only one
    5465: [("2010-01-01", "2019-12-31"), ("2023-03-01", "2023-03-01")],  # a one-day period last
    5470: [], 5471: [],  # records and no observation period
    5472: [("2010-01-01", "2023-12-31")],
}
DEATHS = {5461: "2021-06-30", 5462: "2018-12-31", 5471: "2021-06-30", 5472: "2009-06-30"}
GENDER = {5468: 0, 5469: 8551}  # no sex_at_birth_concept_id: sex 'other' (docs "Sex at birth")
BORN_2000 = {5466, 5467}
WITH_SERTRALINE = {5461, 5470, 5471}  # background + a 60-day sertraline claim on S
PERSONS = sorted({*CLAIMS, *CONDITIONS, *PERIODS, *DEATHS, *GENDER})


def _mdd(pid: int, *, end: str = CUTOFF, ad3: str | None = None, aug: str | None = None, n: int = 2,
         index: str = INDEX) -> list[tuple]:
    """An MDD person's three rows (COLUMNS): TRD on an onset, else trMDD (>= 1 adequate trial, >= 180 days)."""
    out = []
    for definition, onset in zip(DEFINITIONS, (ad3, aug, None), strict=True):
        status = "TRD" if onset else "trMDD"
        out.append((pid, definition, status, None, d(index), d(onset) if onset else None, d(end), n))
    return out


def _excluded(pid: int, reason: str, end: str = CUTOFF) -> list[tuple]:
    return [(pid, definition, "excluded", reason, None, None, d(end), None) for definition in DEFINITIONS]


def expected() -> list[tuple]:
    """Every person's three rows, by hand (module docstring; docs/phenotypes.md)."""
    out = []
    for p, (_, ad3, aug) in CLAIMS.items():
        out += _mdd(p, ad3=ad3, aug=aug, n=3 if ad3 else 2)
    out += _excluded(5451, "depression_not_mdd")  # one distinct MDD date
    out += [r for p in (5452, 5453, 5454, 5455, 5456, 5463, 5466, 5468, 5469) for r in _mdd(p)]
    # death 2021-06-30 before the period's end: follow-up ends at death; the sertraline trial (S + 59) inside
    out += _mdd(5461, end="2021-06-30", ad3=S, n=3)
    # death 2018-12-31 before the first MDD code: every diagnosis after death, none within follow-up
    out += _excluded(5462, "depression_not_mdd", "2018-12-31")
    # a one-day period as the only one: follow-up ends on 2019-01-10, the second diagnosis is after it
    out += _excluded(5464, "depression_not_mdd", INDEX)
    # a one-day period after a long one: the last period's end, 2023-03-01, ends follow-up (1511 days: trMDD)
    out += _mdd(5465, end="2023-03-01")
    out += _excluded(5467, "depression_not_mdd")
    # no observation period: followed to the cutoff, or to death
    out += _mdd(5470, ad3=S, n=3)
    out += _mdd(5471, end="2021-06-30", ad3=S, n=3)
    # a death (2009-06-30) before the only period starts: follow-up ends at death, every record after it
    out += _excluded(5472, "depression_not_mdd", "2009-06-30")
    return sorted(out)


def _drugs() -> list[tuple]:
    rows = [r for p, (variant, _, _) in CLAIMS.items() for r in [*background(p), *variant]]
    for p in PERSONS:
        if p in CLAIMS or p in (5451, 5464, 5467):
            continue
        rows += background(p)
        if p in WITH_SERTRALINE:
            rows.append(drug(p, SERTRALINE_TAB, S, 60))
    return rows


def _write_case(root: Path) -> None:
    periods = [(p, d(s), d(e)) for p in PERSONS for s, e in PERIODS.get(p, [("2010-01-01", "2023-12-31")])]
    persons = [(p, GENDER.get(p, 8532), 2000 if p in BORN_2000 else 1970, 1, 1) for p in PERSONS]
    write_omop_tables(root, {
        "person": persons,
        "observation_period": periods,
        "drug_exposure": _drugs(),
        "death": [(p, d(x)) for p, x in DEATHS.items()],
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    # condition_occurrence with the columns real exports carry beside the ones the rules read
    rows = [r for p in PERSONS for r in CONDITIONS.get(p, standard_dx(p))]
    types = {"person_id": pa.int64(), "condition_concept_id": pa.int64(), "condition_start_date": pa.date32(),
             "condition_status_concept_id": pa.int64(), "condition_source_concept_id": pa.int64(),
             "condition_type_concept_id": pa.int64(), "condition_end_date": pa.date32(),
             "visit_occurrence_id": pa.int64()}
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], t) for c, t in types.items()}),
                   root / "condition_occurrence.parquet")
    # the visits of 5456's diagnoses, between its two periods (no rule reads visit_occurrence)
    pq.write_table(pa.table({"visit_occurrence_id": pa.array([545601, 545602], pa.int64()),
                             "person_id": pa.array([5456, 5456], pa.int64()),
                             "visit_concept_id": pa.array([9202, 9202], pa.int64()),
                             "visit_start_date": pa.array([d(INDEX), d(SECOND)], pa.date32()),
                             "visit_end_date": pa.array([d(INDEX), d(SECOND)], pa.date32())}),
                   root / "visit_occurrence.parquet")


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes54") / "omop"
    root.mkdir()
    _write_case(root)
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir):
    """The case through the chain, once: rows (sorted COLUMNS tuples), persons' sex and observation flag, trials
    (person_id -> sorted (ingredient, start, end, days, adequate)) and stage_counts' (study_event_dates, quirks)."""
    cfg = toy_config(path=str(case_dir))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    trials: dict[int, list] = {}
    for r in tables.trials.collect():
        trials.setdefault(r.person_id, []).append(
            (r.ingredient_concept_id, str(r.trial_start_date), str(r.trial_end_date), r.trial_days, r.adequate))
    return {"rows": sorted(tuple(r) for r in tables.phenotypes.select(*COLUMNS).collect()),
            "persons": {r.person_id: (r.sex_at_birth, r.has_observation_period)
                        for r in tables.persons.select("person_id", "sex_at_birth", "has_observation_period").collect()},
            "trials": {p: sorted(t) for p, t in trials.items()},
            "counts": stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                   cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply)}


@pytest.fixture(scope="module")
def twin_run(case_dir):
    """The case through the DuckDB twin, once: rows (sorted COLUMNS tuples) and its drop counts."""
    return duckdb_twin_run(case_dir, COLUMNS)


def _diff(got: list[tuple], want: list[tuple]) -> str:
    """The rows in one list only, one a line ('' when the lists hold the same rows): got '+', wanted '-'."""
    return "\n".join(f"{'+' if r in got else '-'} {r}" for r in sorted(set(got) ^ set(want)))


def test_the_chain_gives_every_hand_answer(chain_run):
    """Every shape above through the chain. Before the reversal rule (10a863e) 5401, 5402, 5403, 5404 and 5408
    were ad3 TRD on S with 3 trials (the reversed claim, or the negative-quantity row, read as a 60-day
    exposure) and 5409 ad2_augmentation TRD on S (a reversed aripiprazole fill)."""
    diff = _diff(chain_run["rows"], expected())
    assert not diff, "\n" + diff


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """The same shapes through the DuckDB twin; on 10a863e it read the claim life cycle as the chain did."""
    diff = _diff(twin_run["rows"], expected())
    assert not diff, "\n" + diff


def test_sertraline_exposures_by_hand(chain_run):
    """The sertraline trials the claim life cycle leaves: none where a reversal cancels its claim; the rebill's
    60 days; the claim a non-matching negative row leaves alone. On 10a863e 5401's was (S, 2019-10-30, 60)."""
    def sertraline(p: int) -> list[tuple]:
        return [t[1:] for t in chain_run["trials"].get(p, []) if t[0] == 739138]

    for p in (5401, 5402, 5403, 5404, 5408):
        assert sertraline(p) == [], p
    assert sertraline(5405) == [("2019-09-04", "2019-11-02", 60, True)]
    assert sertraline(5406) == sertraline(5407) == [(S, "2019-10-30", 60, True)]
    assert sertraline(5410) == [(S, "2019-10-15", 45, True)]


def test_persons_sex_and_observation(chain_run):
    """gender_concept_id 0 and 8551 (unknown) without a sex at birth: sex 'other' (left out of the analysis
    frame, counted by the sex_other gate); the persons without a period have has_observation_period false."""
    persons = chain_run["persons"]
    assert persons[5468][0] == persons[5469][0] == "other"
    assert persons[5401][0] == "female"
    assert not persons[5470][1] and not persons[5471][1] and persons[5464][1]


def test_drop_counts_of_the_chain_and_the_twin_agree(chain_run, twin_run):
    """Every record a rule drops or reads otherwise is counted, the same in the chain and the twin; by hand:
    conditions before the birth year: 5466's and 5467's 1999 codes (3); after death: 5462's two and 5472's two
    diagnoses; drugs after death: 5462's and 5472's two background rows each; negative days_supply: 5401, 5402,
    5405, 5406, 5407, 5408 x2, 5409, 5410 (9); negative quantity: 5403, 5404 (2); reversed claims (claims a
    reversal cancels, one each): 5401, 5402, 5403, 5405, 5408 x2 (identical rows, two reversals), 5409, 5410 (8
    rows; notes.quirks.reversed_claims); reversals that cancel none: 5404, 5406, 5407 (3; session 55). On
    10a863e neither count existed."""
    (event_dates, quirks), oracle = chain_run["counts"], twin_run["counts"]
    for domain, counts in event_dates.items():
        assert counts == (oracle[domain] or dict.fromkeys(counts, 0)), domain
    assert quirks["drug_records"] == oracle["drug_records"]
    assert quirks["reversed_claims"] == oracle["reversed_claims"]
    cond_counts, drug_counts = event_dates["condition"], event_dates["drug"]
    assert cond_counts["n_before_birth_year"] == 3
    assert cond_counts["n_after_death"] == 4
    assert drug_counts["n_after_death"] == 4
    q = quirks["drug_records"]
    assert q["n_negative_days_supply"] == 9
    assert q["n_negative_quantity"] == 2
    assert quirks["reversed_claims"] == {"n_reversed_claims": 8, "n_unmatched_reversals": 3}
    # the antidepressant records within follow-up the trials read: no reversed claim among them (5401's
    # cancelled claim and its reversal leave one row, the reversal, no exposure)
    exposures = quirks["antidepressant_exposures"]
    assert exposures["n_records"] == (exposures["n_below_min_dose"] + exposures["n_exposures"]
                                      + exposures["n_duplicates_removed"] + 10)  # the 10 sertraline reversals
