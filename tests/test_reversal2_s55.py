"""Claim reversals: a reversal cancels the claim whose quantity it names before a later one of unknown quantity
(session 55 helper "reversal2"; found by xreview, benchmarks/RESULTS.md "Session 55 xreview").

The rule (docs/phenotypes.md "A claim reversal cancels one claim"): a reversal (a record with a negative
days_supply or quantity) may reverse a claim of its person and drug_concept_id of its days_supply without the sign
and of its quantity without the sign, either quantity empty meaning any, dated on its day or earlier while the
claim's days_supply ran. Of the claims it may reverse it cancels the one whose quantity is its own (both known and
equal) first, then the latest, then the existing ties (greatest quantity, days_supply, end date, ...).

Before this fix (84bee5b) the LATEST candidate won before the exact quantity match (the chain's ranking struct was
(start, quantity equal, ...), the twin's key the same): an EHR order of the same drug and days_supply with an empty
quantity, dated between a pharmacy claim and its reversal, was cancelled instead of the claim the reversal's
quantity names, and the reversed claim (a fill never dispensed) stood as an exposure. Payers net a reversal against
the claim of its own transaction (NCPDP B2 reverses one B1, same quantity); a record of unknown quantity is at best
a possible match.

The frame (as tests/test_reversal_s55.py): everyone born 1970, female, observed 2010-2023 (follow-up to the cutoff
2023-07-01); MDD on 2019-01-10 and 2019-02-10; two background adequate trials (citalopram 2019-02-01 and bupropion
2019-05-01, 60 days each); then the sertraline rows below from S = 2019-09-01. A sertraline trial of >= 42 days
makes ad3 TRD on its start with 3 adequate trials, else trMDD with 2. The chain and the DuckDB twin run once each.

Rows (sertraline, pharmacy claim 32869 or EHR prescription 32838; end = start unless given; an end after the start
is the exposure's end, days_supply otherwise):
- 5601 (the xreview shape): claim S, 30 days, quantity 30; EHR order 09-06, 30 days, quantity empty; reversal
  09-11, -30 days, quantity -30. The claim is cancelled; the order's 30 days stand (09-06..10-05, no adequate
  trial: trMDD). Before: the order was cancelled, the claim's 09-01..09-30 stood.
- 5602 (the status depends on it): claim S, 60 days, quantity 60; EHR order 09-06, 60 days, quantity empty,
  stopped 10-05 (its end date: 30 days); reversal 09-11, -60 / -60. The claim is cancelled, the order's 30 days
  make no adequate trial: trMDD with 2. Before: ad3 TRD on S with 3 (the reversed claim's 60 days).
- 5603 (two claims of its quantity: the latest of them): claim S, 60 days / 60 units; claim 09-06, 60 days / 60
  units, end 10-05; EHR order 09-09, 60 days, quantity empty, end 09-28; reversal 09-11, -60 / -60. The 09-06
  claim is cancelled; S's 60 days stand: TRD on S with 3 (a rank of the EARLIEST exact claim would leave
  09-06..10-05, trMDD). Before: the order (09-09, the latest) was cancelled; the status the same.
- 5604 (a reversal of unknown quantity: no exact match, the latest as before): 5602 with the reversal's quantity
  empty. The order (latest) is cancelled, the claim's 60 days stand: TRD on S with 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_phenotypes_support import (
    ANCESTRY,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    d,
    duckdb_twin_run,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop
from trd_spark.phenotypes.trials import reversed_claim_counts, reversed_claim_keys

INDEX, S, CUTOFF = "2019-01-10", "2019-09-01", "2023-07-01"
COLUMNS = ["person_id", "definition", "status", "exclusion_reason", "mdd_index_date", "trd_onset_date",
           "followup_end_date", "n_adequate_trials"]
DEFINITIONS = ("ad3", "ad2_augmentation", "somatic")
PHARMACY_CLAIM, EHR_ORDER = 32869, 32838  # drug_type_concept_id: "Pharmacy claim", "EHR prescription"


def rx(pid: int, start: str, ds: int | None, q: float | None, *, end: str | None = None, concept: int = SERTRALINE_TAB,
       drug_type: int = PHARMACY_CLAIM) -> tuple:
    """A drug_exposure row (OMOP_COLUMNS order): end = ``end`` or the start (the ETL's)."""
    return (pid, concept, d(start), d(end or start), ds, None, q, None, None, drug_type)


# person_id -> (sertraline rows, ad3 onset or None (trMDD), the sertraline trial left, the cancelled claim's start)
SHAPES: dict[int, tuple[list[tuple], str | None, tuple, str]] = {
    5601: ([rx(5601, S, 30, 30.0), rx(5601, "2019-09-06", 30, None, drug_type=EHR_ORDER),
            rx(5601, "2019-09-11", -30, -30.0)], None, ("2019-09-06", "2019-10-05", 30), S),
    5602: ([rx(5602, S, 60, 60.0), rx(5602, "2019-09-06", 60, None, end="2019-10-05", drug_type=EHR_ORDER),
            rx(5602, "2019-09-11", -60, -60.0)], None, ("2019-09-06", "2019-10-05", 30), S),
    5603: ([rx(5603, S, 60, 60.0), rx(5603, "2019-09-06", 60, 60.0, end="2019-10-05"),
            rx(5603, "2019-09-09", 60, None, end="2019-09-28", drug_type=EHR_ORDER),
            rx(5603, "2019-09-11", -60, -60.0)], S, (S, "2019-10-30", 60), "2019-09-06"),
    5604: ([rx(5604, S, 60, 60.0), rx(5604, "2019-09-06", 60, None, end="2019-10-05", drug_type=EHR_ORDER),
            rx(5604, "2019-09-11", -60, None)], S, (S, "2019-10-30", 60), "2019-09-06"),
}
PERSONS = sorted(SHAPES)


def expected() -> list[tuple]:
    """Every person's three rows, by hand (SHAPES)."""
    out = []
    for p, (_, onset, _, _) in SHAPES.items():
        n = 3 if onset else 2
        for definition in DEFINITIONS:
            trd = onset if definition == "ad3" else None
            out.append((p, definition, "TRD" if trd else "trMDD", None, d(INDEX), d(trd) if trd else None, d(CUTOFF), n))
    return sorted(out)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reversal2_55") / "omop"
    root.mkdir()
    drugs = []
    for p, (variant, _, _, _) in SHAPES.items():
        drugs += [rx(p, "2019-02-01", 60, None, concept=CITALOPRAM), rx(p, "2019-05-01", 60, None, concept=BUPROPION),
                  *variant]
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in PERSONS],
        "observation_period": [(p, d("2010-01-01"), d("2023-12-31")) for p in PERSONS],
        "condition_occurrence": [(p, MDD_CONCEPT, d(x)) for p in PERSONS for x in (INDEX, "2019-02-10")],
        "drug_exposure": drugs,
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir):
    """The case through the chain once: phenotype rows, sertraline trials, the cancelled claims' starts and the
    reversal counts (the stage's notes.quirks.reversed_claims)."""
    tables = derive_phenotype_tables(read_omop(spark, toy_config(path=str(case_dir))), toy_config(path=str(case_dir)))
    trials: dict[int, list] = {}
    for r in tables.trials.where(f"ingredient_concept_id = {SERTRALINE}").collect():
        trials.setdefault(r.person_id, []).append((str(r.trial_start_date), str(r.trial_end_date), r.trial_days))
    drugs = tables.study_events["drug"]
    cancelled: dict[int, list] = {}
    for r in reversed_claim_keys(drugs).collect():
        cancelled.setdefault(r.person_id, []).extend([str(r.drug_exposure_start_date)] * r.n_cancelled)
    [counts] = reversed_claim_counts(drugs).collect()
    return {"rows": sorted(tuple(r) for r in tables.phenotypes.select(*COLUMNS).collect()), "trials": trials,
            "cancelled": cancelled, "counts": counts.asDict()}


@pytest.fixture(scope="module")
def twin_run(case_dir):
    return duckdb_twin_run(case_dir, COLUMNS)


def _diff(got: list[tuple], want: list[tuple]) -> str:
    return "\n".join(f"{'+' if r in got else '-'} {r}" for r in sorted(set(got) ^ set(want)))


def test_the_reversal_cancels_the_claim_of_its_quantity_in_the_chain(chain_run):
    """The claim each reversal cancels (its start) and the sertraline trial left (module docstring). Before this
    fix (84bee5b): 5601's and 5602's EHR orders (09-06) were cancelled, their claims' trials (09-01..09-30, 30
    days; 09-01..10-30, 60 days) stood, and 5603's order (09-09) instead of its 09-06 claim."""
    assert chain_run["cancelled"] == {p: [s[3]] for p, s in SHAPES.items()}
    assert chain_run["trials"] == {p: [s[2]] for p, s in SHAPES.items()}
    assert chain_run["counts"] == {"n_reversed_claims": 4, "n_unmatched_reversals": 0}


def test_the_chain_gives_every_hand_answer(chain_run):
    """Before this fix (84bee5b): 5602 ad3 TRD on S with 3 adequate trials (the reversed claim's 60 days)."""
    diff = _diff(chain_run["rows"], expected())
    assert not diff, "\n" + diff


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """The twin (its own matching loop, benchmarks/duckdb_phenotypes._reversed_claims): the same rows and counts.
    Before this fix (84bee5b): 5602 ad3 TRD on S with 3, as the chain."""
    diff = _diff(twin_run["rows"], expected())
    assert not diff, "\n" + diff
    assert twin_run["counts"]["reversed_claims"] == {"n_reversed_claims": 4, "n_unmatched_reversals": 0}
