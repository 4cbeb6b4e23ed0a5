"""Claim reversals: the shapes session 54 left (helper "reversal", session 55), hand-worked from docs/phenotypes.md
"When an exposure ends" (A claim reversal cancels one claim).

The rule: a record with a negative days_supply or quantity (a reversal) is no exposure and cancels ONE claim row
(a record that is none) of its person and drug_concept_id that it may reverse: days_supply equal to the reversal's
without its sign and quantity equal to its quantity without the sign (or either empty); a reversal whose
days_supply is empty or 0 by its quantity alone (the claim's quantity equal to its own without the sign), whatever
the claim's days_supply; the claim starting on the reversal's day, or earlier while its days_supply ran (reversal
start - claim start < the claim's days_supply; a claim without one only on the same day). Reversals are taken in
date order (on a day those with days_supply and quantity first, then those with days_supply, then those without),
each cancelling the latest claim not yet cancelled (of equals: the one of its quantity, then the greatest
quantity). n claim rows and m reversals of one claim leave n - m rows. A reversal that finds no claim cancels
nothing and is counted (notes.quirks.reversed_claims.n_unmatched_reversals).

Sources: OHDSI Themis #124 (a negative record may need to be "combined with other record (e.g. reversal of
prescription)"); a reversal cancels one claim as payers net them (NCPDP B2 reverses one B1 claim; PCORnet CDM
DISPENSING.DISPENSE_AMT is the "net amount per NDC per dispensing"; payer ETLs pair the k-th reversal of a
prescription, fill date, NDC and units with its k-th claim); a same-day claim, reversal and rebill is the pharmacy
rebill (three transactions on one fill date). The latest claim first: a fill is reversed when it is not picked up,
and the latest fill is the one still on the shelf (BC PharmaCare: returned to stock within 30 days).

The frame (as tests/test_omop_shapes_s54.py): everyone born 1970, female, observed 2010-2023 (follow-up to the
cutoff 2023-07-01); MDD on 2019-01-10 and 2019-02-10; two background adequate trials (citalopram 2019-02-01 and
bupropion 2019-05-01, 60 days each); then the sertraline VARIANT from S = 2019-09-01. A sertraline trial of >= 42
days makes ad3 TRD on its start with 3 adequate trials; else trMDD with 2 (ad2_augmentation and somatic trMDD
always, with the same trial count). The chain (read_omop, derive_phenotype_tables, stage_counts) and the DuckDB
twin each run once on the one export.

Before this session (046a78f): identical claim rows were one claim cancelled together (5501, 5502: trMDD), a
reversal with an empty days_supply cancelled nothing (5504, 5505: TRD), one reversal with an empty quantity
cancelled two claims (5507: trMDD), two reversals of one supply cancelled one claim (5513: TRD), and no count said
how many reversals cancelled nothing.

A reversal cancels the claim whose quantity it names before a later one of unknown quantity (helper "reversal2",
found by xreview: RESULTS.md "Session 55 xreview"; SHAPES_BY_QUANTITY). Of the claims a reversal may reverse it
cancels the one of its quantity (both known and equal) first, then the latest, then the ties above. Before 77dbb76
the latest candidate won first: an EHR order of the same drug and days_supply with an empty quantity, dated between
a pharmacy claim and its reversal, was cancelled instead of the claim the reversal's quantity names (a fill never
dispensed stood as an exposure); payers net a reversal against the claim of its own transaction (NCPDP B2 reverses
one B1, same quantity).
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

A reversal within the return-to-stock window of a claim whose supply is shorter (helper "reversal3", session 56;
SHAPES_LATE). A reversal may reverse a claim of its day or earlier while the claim's days_supply runs OR within
RETURN_TO_STOCK_DAYS = 21 calendar days (trials.RETURN_TO_STOCK_DAYS): an ETL that dates a reversal by its transaction
dates a fill not picked up up to the payers' return-to-stock window after the fill (10-14 calendar days at most PBMs,
15 business days at the longest: PAAS National), whatever its supply; a claim without a days_supply is reversed
within the 21 days too. Before (6fb2847) a reversal after a 14-day claim's supply, or after the day of a claim
without a days_supply, cancelled nothing (counted) and the fill never picked up stood as an exposure:
- 5701: claims S (14 days, 14 units) and 09-15 (30 days, 30 units): one 44-day trial (09-01..10-14, ad3 TRD on S);
  a reversal -14 days / -14 units on 09-17 (16 days after S, after its 14 days, within 21) cancels S's claim; the
  30 days left (09-15..10-14) make no adequate trial: trMDD with 2. Before: TRD on S with 3, the reversal unmatched.
- 5702: the same reversal on 09-25 (24 days after S: its supply and the 21 days passed, an audit's recoupment, not a
  fill returned to stock): cancels nothing, counted; TRD on S with 3 (as before).
- 5511 (above): its reversal 3 days after a claim without a days_supply is now within the 21 days: the claim is
  cancelled, trMDD (before: TRD on S, the reversal unmatched).

The stage matches once (session 56, trials.reversal_matches): ``run`` writes the matches and the records, the trials,
the onsets and the counts read them (``drop_reversed_claims(drugs, matches)``, ``reversed_claim_counts(drugs,
matches)``); before, each of those queries ran the matching (collect_list over the pairs' records) again. The pairs
are broadcast only under Spark's size bound (spark.sql.autoBroadcastJoinThreshold); before, always (F.broadcast).
"""

from __future__ import annotations

from collections import Counter
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

from trd_spark.phenotypes.stage import _materialize, derive_phenotype_tables, read_omop
from trd_spark.phenotypes.trials import (
    drop_reversed_claims,
    reversal_matches,
    reversed_claim_counts,
    reversed_claim_keys,
)

INDEX, S = "2019-01-10", "2019-09-01"
CUTOFF = "2023-07-01"
COLUMNS = ["person_id", "definition", "status", "exclusion_reason", "mdd_index_date", "trd_onset_date",
           "followup_end_date", "n_adequate_trials"]
DEFINITIONS = ("ad3", "ad2_augmentation", "somatic")
PHARMACY_CLAIM = 32869  # drug_type_concept_id "Pharmacy claim" (any type but administration / mail order reads alike)
EHR_ORDER = 32838  # drug_type_concept_id "EHR prescription"
NOT_STUDIED = 19_000_055  # a drug concept in no study set (not in the toy vocabulary)


def rx(pid: int, start: str, ds: int | None, q: float | None = None, *, concept: int = SERTRALINE_TAB,
       end: str | None = None, drug_type: int = PHARMACY_CLAIM) -> tuple:
    """A drug_exposure row (OMOP_COLUMNS order): end = ``end`` or the start (the ETL's), days_supply ``ds``."""
    return (pid, concept, d(start), d(end or start), ds, None, q, None, None, drug_type)


# person_id -> (variant rows, ad3 onset or None (trMDD), the rows' claims cancelled, reversals that cancel none)
SHAPES: dict[int, tuple[list[tuple], str | None, int, int]] = {
    # claim, reversal and rebill on one day (identical claim rows: 2 claims, 1 reversal): 2 - 1 = 1 claim stands,
    # the 60-day rebill: TRD on S
    5501: ([rx(5501, S, 60), rx(5501, S, -60), rx(5501, S, 60)], S, 1, 0),
    # three identical claim rows, two reversals: one stands, TRD on S
    5502: ([rx(5502, S, 60)] * 3 + [rx(5502, S, -60)] * 2, S, 2, 0),
    # one claim, two reversals: the claim is cancelled, the second reversal finds none (counted)
    5503: ([rx(5503, S, 60), rx(5503, S, -60), rx(5503, S, -60)], None, 1, 1),
    # a reversal with an empty days_supply and quantity -60 (units returned): by its quantity, the claim of 60 units
    # on its day is cancelled (whatever the claim's days_supply)
    5504: ([rx(5504, S, 60, 60.0), rx(5504, S, None, -60.0)], None, 1, 0),
    # the same 4 days later: within the claim's 60 days, cancelled
    5505: ([rx(5505, S, 60, 60.0), rx(5505, "2019-09-05", None, -60.0)], None, 1, 0),
    # an empty-days_supply reversal of another quantity (-30 against 60): no claim of it; the claim stands
    5506: ([rx(5506, S, 60, 60.0), rx(5506, S, None, -30.0)], S, 0, 1),
    # two claims on one day (quantity 30 and 60, 60 days each) and ONE reversal without a quantity: it cancels one
    # (of equals, the greater quantity: the 60); the other's 60 days stand, TRD on S
    5507: ([rx(5507, S, 60, 30.0), rx(5507, S, 60, 60.0), rx(5507, S, -60)], S, 1, 0),
    # a lone reversal (no claim): no exposure, counted as cancelling none
    5508: ([rx(5508, S, -60)], None, 0, 1),
    # the reversal of a claim of a drug in no study set: neither row is a study record (not read, not counted)
    5509: ([rx(5509, S, 60, concept=NOT_STUDIED), rx(5509, S, -60, concept=NOT_STUDIED)], None, 0, 0),
    # a claim whose length is its end date alone (no days_supply, quantity 60, end S + 59) and its reversal (no
    # days_supply, quantity -60) the same day: cancelled by quantity
    5510: ([rx(5510, S, None, 60.0, end="2019-10-30"), rx(5510, S, None, -60.0)], None, 1, 0),
    # the same reversal 3 days later: a claim without a days_supply is reversed within the return-to-stock window
    # (21 days; session 56, before: on its day only, the claim stood, TRD on S, the reversal cancelled none)
    5511: ([rx(5511, S, None, 60.0, end="2019-10-30"), rx(5511, "2019-09-04", None, -60.0)], None, 1, 0),
    # a reversal dated the day BEFORE its claim (an ETL dating the reversal by another clock): a reversal cancels
    # a claim of its day or earlier only; the claim stands, TRD on S, the reversal cancels none
    5512: ([rx(5512, S, 60), rx(5512, "2019-08-31", -60)], S, 0, 1),
    # two 45-day claims (S and 09-20) and two reversals on 09-25 within both supplies: the first takes the latest
    # claim (09-20), the second the other (S): no sertraline, trMDD
    5513: ([rx(5513, S, 45), rx(5513, "2019-09-20", 45), rx(5513, "2019-09-25", -45), rx(5513, "2019-09-25", -45)],
           None, 2, 0),
}
# person_id -> (sertraline rows, ad3 onset or None (trMDD), the sertraline trial left, the cancelled claim's start)
SHAPES_BY_QUANTITY: dict[int, tuple[list[tuple], str | None, tuple, str]] = {
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
# person_id -> (sertraline rows, ad3 onset or None (trMDD), the reversal's cancelled claim's start or None)
SHAPES_LATE: dict[int, tuple[list[tuple], str | None, str | None]] = {
    5701: ([rx(5701, S, 14, 14.0), rx(5701, "2019-09-15", 30, 30.0), rx(5701, "2019-09-17", -14, -14.0)], None, S),
    5702: ([rx(5702, S, 14, 14.0), rx(5702, "2019-09-15", 30, 30.0), rx(5702, "2019-09-25", -14, -14.0)], S, None),
}
PERSONS = sorted([*SHAPES, *SHAPES_BY_QUANTITY, *SHAPES_LATE])


def _write_case(root: Path) -> None:
    drugs = []
    variants = [(p, v[0]) for p, v in [*SHAPES.items(), *SHAPES_BY_QUANTITY.items(), *SHAPES_LATE.items()]]
    for p, variant in variants:
        drugs += [rx(p, "2019-02-01", 60, concept=CITALOPRAM), rx(p, "2019-05-01", 60, concept=BUPROPION), *variant]
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in PERSONS],
        "observation_period": [(p, d("2010-01-01"), d("2023-12-31")) for p in PERSONS],
        "condition_occurrence": [(p, MDD_CONCEPT, d(x)) for p in PERSONS for x in (INDEX, "2019-02-10")],
        "drug_exposure": drugs,
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })


def expected() -> list[tuple]:
    """Every person's three rows, by hand (SHAPES, SHAPES_BY_QUANTITY, SHAPES_LATE)."""
    out = []
    onsets = [(p, v[1]) for p, v in [*SHAPES.items(), *SHAPES_BY_QUANTITY.items(), *SHAPES_LATE.items()]]
    for p, onset in onsets:
        n = 3 if onset else 2
        for definition in DEFINITIONS:
            trd = onset if definition == "ad3" else None
            out.append((p, definition, "TRD" if trd else "trMDD", None, d(INDEX), d(trd) if trd else None, d(CUTOFF), n))
    return sorted(out)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("reversal55") / "omop"
    root.mkdir()
    _write_case(root)
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir, tmp_path_factory):
    """The case through the chain, once: rows (sorted COLUMNS tuples), the sertraline trials per person and
    the reversal counts (``trials.reversed_claim_counts``, the stage's notes.quirks.reversed_claims), the
    cancelled claims and the counts read from the matches written as ``stage.run`` writes them
    (``reversal_matches`` -> ``_materialize``), and the records without the cancelled claims, matched in the
    query (``drop_reversed_claims(drugs)``) and read from the written matches."""
    cfg = toy_config(path=str(case_dir))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    trials: dict[int, list] = {}
    for r in tables.trials.where(f"ingredient_concept_id = {SERTRALINE}").collect():
        trials.setdefault(r.person_id, []).append((str(r.trial_start_date), str(r.trial_end_date), r.trial_days))
    drugs = tables.study_events["drug"]
    # the matches as stage.run writes them once (its work folder), read by the records and the counts
    matches = _materialize(reversal_matches(drugs), str(tmp_path_factory.mktemp("rev56") / "reversal_matches.parquet"),
                           partition_by_person=False)
    cancelled: dict[int, list] = {}
    for r in reversed_claim_keys(drugs, matches).collect():
        cancelled.setdefault(r.person_id, []).extend([str(r.drug_exposure_start_date)] * r.n_cancelled)
    # the stage's notes.quirks.reversed_claims part alone (stage_counts' plumbing of it: test_omop_shapes_s54)
    [counts] = reversed_claim_counts(drugs, matches).collect()
    return {"rows": sorted(tuple(r) for r in tables.phenotypes.select(*COLUMNS).collect()),
            "trials": {p: sorted(t) for p, t in trials.items()}, "reversed_claims": counts.asDict(),
            "cancelled": cancelled, "drugs": drugs, "matches": matches,
            "kept": {"matched here": Counter(map(tuple, drop_reversed_claims(drugs).collect())),
                     "written": Counter(map(tuple, drop_reversed_claims(drugs, matches).collect()))}}


@pytest.fixture(scope="module")
def twin_run(case_dir):
    return duckdb_twin_run(case_dir, COLUMNS)


def _diff(got: list[tuple], want: list[tuple]) -> str:
    return "\n".join(f"{'+' if r in got else '-'} {r}" for r in sorted(set(got) ^ set(want)))


def test_the_chain_gives_every_hand_answer(chain_run):
    """Every shape through the chain (module docstring). On 046a78f: 5501, 5502 and 5507 trMDD (the rebill, the
    third row and the 30-unit claim cancelled with the rest), 5504 and 5505 TRD on S (the empty-days_supply
    reversal cancelled nothing), 5513 TRD on S (two identical reversals cancelled one claim)."""
    diff = _diff(chain_run["rows"], expected())
    assert not diff, "\n" + diff


def test_the_reversal_cancels_the_claim_of_its_quantity_in_the_chain(chain_run):
    """SHAPES_BY_QUANTITY: the claim each reversal cancels (its start) and the sertraline trial left (module
    docstring). Before 77dbb76: 5601's and 5602's EHR orders (09-06) were cancelled, their claims' trials
    (09-01..09-30, 30 days; 09-01..10-30, 60 days) stood, and 5603's order (09-09) instead of its 09-06 claim;
    5602 was ad3 TRD on S with 3 adequate trials in the chain and the twin (test_the_*_gives_every_hand_answer)."""
    assert {p: chain_run["cancelled"].get(p) for p in SHAPES_BY_QUANTITY} == {
        p: [s[3]] for p, s in SHAPES_BY_QUANTITY.items()}
    assert {p: chain_run["trials"].get(p) for p in SHAPES_BY_QUANTITY} == {
        p: [s[2]] for p, s in SHAPES_BY_QUANTITY.items()}


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """The same shapes through the DuckDB twin (its own matching loop); on 046a78f it failed as the chain did."""
    diff = _diff(twin_run["rows"], expected())
    assert not diff, "\n" + diff


def test_sertraline_trials_by_hand(chain_run):
    """The sertraline trial each shape leaves: the stood claim's 60 days (S..2019-10-30), none where every claim
    is cancelled. On 046a78f 5501's, 5502's and 5507's were missing and 5504's and 5513's present."""
    stood = [(S, "2019-10-30", 60)]
    for p, (_, onset, _, _) in SHAPES.items():
        assert chain_run["trials"].get(p, []) == (stood if onset else []), p


def test_counts_of_the_chain_and_the_twin_agree(chain_run, twin_run):
    """notes.quirks.reversed_claims: the claim rows cancelled, one per reversal (1+2+1+1+1+1+1+1+2 = 11: 5501, 5502,
    5503, 5504, 5505, 5507, 5510, 5511, 5513) and the reversals that cancel none (5503's second, 5506, 5508, 5512:
    4); 5509's rows are no study records; SHAPES_BY_QUANTITY 4 cancelled; SHAPES_LATE 5701 cancelled, 5702 none.
    The chain's counts are read from the written matches (as stage.run). The twin counts the same. On 046a78f
    n_unmatched_reversals did not exist and n_reversed_claims was 9 (5501's two rows, 5502's three, 5507's two, one
    of 5513's; none of 5504, 5505); on 6fb2847 5511's and 5701's reversals cancelled none (13 + 4 cancelled, 7
    unmatched)."""
    want = {"n_reversed_claims": sum(s[2] for s in SHAPES.values()) + len(SHAPES_BY_QUANTITY)
            + sum(s[2] is not None for s in SHAPES_LATE.values()),
            "n_unmatched_reversals": sum(s[3] for s in SHAPES.values()) + sum(s[2] is None for s in SHAPES_LATE.values())}
    # SHAPES_BY_QUANTITY: one claim cancelled each, no unmatched reversal
    assert want == {"n_reversed_claims": 11 + 4 + 1, "n_unmatched_reversals": 4 + 1}
    assert chain_run["reversed_claims"] == want
    assert twin_run["counts"]["reversed_claims"] == want
    # the negative rows themselves, as before (the twin's drop counts, each column on its own): days_supply (5501-5503,
    # 5507, 5508, 5512, 5513; 5601-5604) and quantity (5504-5506, 5510, 5511; 5601-5603)
    q = twin_run["counts"]["drug_records"]
    # SHAPES_LATE: 5701, 5702 in both columns
    assert (q["n_negative_days_supply"], q["n_negative_quantity"]) == (1 + 2 + 2 + 1 + 1 + 1 + 2 + 4 + 2, 5 + 3 + 2)


def test_a_reversal_within_the_return_to_stock_window_cancels_its_claim(chain_run):
    """SHAPES_LATE and 5511 (module docstring): the claim each reversal cancels and the sertraline trial left, in the
    chain (the statuses, chain and twin: test_the_*_gives_every_hand_answer). On 6fb2847 5701's and 5511's reversals
    cancelled nothing: 5701 kept its 44-day trial 09-01..10-14 (ad3 TRD on S), 5511 its 60 days."""
    assert {p: chain_run["cancelled"].get(p) for p in (*SHAPES_LATE, 5511)} == {5701: [S], 5702: None, 5511: [S]}
    assert {p: chain_run["trials"].get(p) for p in (*SHAPES_LATE, 5511)} == {
        5701: [("2019-09-15", "2019-10-14", 30)], 5702: [(S, "2019-10-14", 44)], 5511: None}


def test_the_records_read_from_the_written_matches_are_those_matched_in_the_query(chain_run):
    """``drop_reversed_claims(drugs, matches)`` (as stage.run reads its written matches: no matching in the query)
    keeps the same rows as ``drop_reversed_claims(drugs)``, and its plan reads the written rows (no collect_list:
    the matching is not planned again). Before session 56 there was no ``matches``: every query reading the records
    (the MDD groups, the trials, the onsets, the counts) ran the matching again."""
    kept = chain_run["kept"]
    assert kept["written"] == kept["matched here"]
    assert sum(kept["written"].values()) > 0
    plan = drop_reversed_claims(chain_run["drugs"], chain_run["matches"])._jdf.queryExecution().sparkPlan().toString()
    assert "collect_list" not in plan


def test_the_pairs_are_broadcast_only_under_sparks_size_bound(spark, chain_run):
    """The pairs with a reversal (``reversal_matches``) and the written matches (``drop_reversed_claims``) join the
    drug records by a broadcast only when Spark's size bound allows it (spark.sql.autoBroadcastJoinThreshold; the
    tiny case: yes), else by a shuffle join. Before session 56 the pairs were broadcast at any size (F.broadcast):
    with the bound off (-1) one more BroadcastHashJoin was planned. The study-set filter's own broadcast
    (derive_study_events, one per scan of the records) is counted apart."""
    drugs, matches = chain_run["drugs"], chain_run["matches"]

    def joins(df) -> tuple[int, int]:
        plan = df._jdf.queryExecution().sparkPlan().toString()
        return plan.count("BroadcastHashJoin"), plan.count("SortMergeJoin")

    per_scan = joins(drugs)[0]  # the study-set filter's
    key = "spark.sql.autoBroadcastJoinThreshold"
    bound = spark.conf.get(key)
    assert joins(reversal_matches(drugs)) == (2 * per_scan + 1, 0)
    assert joins(drop_reversed_claims(drugs, matches)) == (per_scan + 1, 0)
    spark.conf.set(key, "-1")
    try:
        off = joins(reversal_matches(drugs)), joins(drop_reversed_claims(drugs, matches))
    finally:
        spark.conf.set(key, bound)
    assert off == ((2 * per_scan, 1), (per_scan, 1))
