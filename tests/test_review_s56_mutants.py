"""Mutation review of session 56's code (session 57, helper "review56").

Each test kills mutants of 3968d6b..566f86e that session 56's tests let pass (named in each docstring; each
shown failing on its mutant and passing on HEAD). Mutants were one-line changes applied one at a time in a
worktree of 72c84a6 (/tmp/s57/review56/) and run (``-x``, ``-n 0``, nice'd) against the modules named; the table
of every mutant is benchmarks/RESULTS.md "Session 57 review56".

Survivors killed here:
- claim reversals' return-to-stock window (65b4079, ``trials.reversal_matches``; the twin's ``_reversed_claims``):
  test_reversal_s55 reads reversals 16 and 24 days after a 14-day claim and 3 days after a claim without a
  days_supply, so the window's bound (21 days in, 22 out) moved by one day either way passed (r1 ``<``, r2 22; the
  twin's w1 ``<``);
- ``concepts.unlinked_refs`` (6b16db4): test_ancestor_s55 cuts every row of the toy's MDD root, a standard, valid
  Condition concept with descendants; a reference without descendants, invalid, non-standard, of another domain, or
  an exclude was never read, so each of its filters dropped (c1-c4) and the excludes left out (c6) passed;
- ``concepts.ingredient_reach`` (e533f26): the stage's toy shapes include no ingredient without descendants and
  no exclude the drug_strength rule must spare by the reach (i1, i3);
- ``tables.pooled_complements`` / ``reader_scale`` (4bc0580): test_privacy12_s56 and test_moved3_s56 simulate
  three groups whose pooled hidden ones either moved by far or not at all, so the small-count bound (t12), an
  earlier export lacking a hidden group (t14), the quantiles hidden with every group (t15), the shown fit's error
  (t17), the complements' own map where no group is shown (t18), the largest same-size group (t9) and the exact
  map of a same-size group (t10), the largest shown group first (t16) were each free to change: hand-made moments, each case one call.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from trd_spark.config import ConceptRef, ConceptSet
from trd_spark.phenotypes.concepts import Vocabulary, ingredient_reach, unlinked_refs
from trd_spark.report import tables

T = 20  # report.small_count_threshold

# ---------------------------------------------------------------- phenotypes: the return-to-stock window (65b4079)

PRODUCT = 2_000_000_101  # sertraline 50 MG Oral Tablet in the tests' vocabulary
S = "2019-09-01"
# person_id -> rows (start, days_supply, quantity), the claims cancelled, the reversals that cancel none; hand-worked
# from trials' module docstring: a reversal reaches a claim of its day or earlier while the claim's days_supply runs
# (reversal - claim < days_supply) or within RETURN_TO_STOCK_DAYS = 21 calendar days (<= 21)
WINDOW_SHAPES: dict[int, tuple[list[tuple], set[tuple], int]] = {
    # a 14-day claim reversed 21 days later (09-22): within the window
    1: ([(S, 14, 14.0), ("2019-09-22", -14, -14.0)], {(S, 14, 14.0)}, 0),
    # the same reversed 22 days later (09-23): its supply and the window passed
    2: ([(S, 14, 14.0), ("2019-09-23", -14, -14.0)], set(), 1),
    # a claim without a days_supply, reversed by quantity 21 days later: within the window
    3: ([(S, None, 30.0), ("2019-09-22", None, -30.0)], {(S, None, 30.0)}, 0),
    # and 22 days later: not
    4: ([(S, None, 30.0), ("2019-09-23", None, -30.0)], set(), 1),
    # a 40-day claim reversed 35 days later: past the window, within its supply
    5: ([(S, 40, 40.0), ("2019-10-06", -40, -40.0)], {(S, 40, 40.0)}, 0),
}


def _window_rows() -> list[tuple]:
    """WINDOW_SHAPES as drug_exposure rows (OMOP_COLUMNS order up to drug_type_concept_id), end = start."""
    d = dt.date.fromisoformat
    return [(p, PRODUCT, d(s), d(s), ds, None, q, None, None, 32869)
            for p, (rows, _, _) in WINDOW_SHAPES.items() for s, ds, q in rows]


def _want() -> tuple[set, tuple[int, int]]:
    cancelled = {(p, *c, 1) for p, (_, got, _) in WINDOW_SHAPES.items() for c in got}
    return cancelled, (sum(len(s[1]) for s in WINDOW_SHAPES.values()), sum(s[2] for s in WINDOW_SHAPES.values()))


def test_the_return_to_stock_windows_bound_in_the_chain(spark):
    """``trials.reversed_claim_keys`` / ``reversed_claim_counts`` on WINDOW_SHAPES: day 21 in, day 22 out, with and
    without a days_supply. Mutants r1 (``days < RETURN_TO_STOCK_DAYS``: persons 1 and 3 stand) and r2
    (``RETURN_TO_STOCK_DAYS = 22``: persons 2 and 4 cancelled) pass test_reversal_s55."""
    from pyspark.sql import types as T_

    from trd_spark.phenotypes.omop import OMOP_COLUMNS
    from trd_spark.phenotypes.trials import reversed_claim_counts, reversed_claim_keys

    schema = T_.StructType([T_.StructField(n, t, True) for n, t in OMOP_COLUMNS["drug_exposure"]
                            if n != "drug_exposure_id"])
    drugs = spark.createDataFrame(_window_rows(), schema).coalesce(1)
    got = {(r.person_id, str(r.drug_exposure_start_date), r.days_supply, r.quantity, r.n_cancelled)
           for r in reversed_claim_keys(drugs).collect()}
    cancelled, totals = _want()
    assert got == cancelled, got
    [counts] = reversed_claim_counts(drugs).collect()
    assert (counts.n_reversed_claims, counts.n_unmatched_reversals) == totals


def test_the_return_to_stock_windows_bound_in_the_twin():
    """The DuckDB twin's ``_reversed_claims`` on WINDOW_SHAPES: the chain's answer. Mutant w1 (``days < 21``:
    persons 1 and 3 stand) passes test_reversal_s55's twin runs."""
    from test_phenotypes_support import twin_reversed_claims

    got, totals = twin_reversed_claims([(r[0], r[1], r[2], r[3], r[4], r[6]) for r in _window_rows()], PRODUCT)
    cancelled, want = _want()
    assert got == cancelled, got
    assert totals == want


# ---------------------------------------------------------------- phenotypes: unlinked condition roots (6b16db4)

def _ref(i: int, **kw) -> ConceptRef:
    return ConceptRef(concept_id=i, name=f"ref {i}", **kw)


def test_unlinked_refs_reads_only_standard_valid_condition_roots_with_descendants():
    """``unlinked_refs`` on a hand-built vocabulary whose concept_ancestor holds rows for root 1 only: listed are
    the standard, valid Condition roots read with descendants that have no row, includes and excludes (2, 3);
    not a reference without descendants (4: it reads the concept itself, nothing lost), an invalid concept (5),
    a non-standard one (6: its records are mapped away), a concept of another domain (7), one absent from concept
    (8: absent_refs' error). A drug set, or a vocabulary not looked up: nothing. Mutants c1-c4 (each of those
    filters dropped) and c6 (the excludes not read) pass test_ancestor_s55."""
    ids = range(1, 8)
    vocab = Vocabulary(codes={}, descendants={1: frozenset({1, 11})},
                       names={i: f"concept {i}" for i in ids}, found=frozenset(ids),
                       domains={**{i: "Condition" for i in ids}, 7: "Observation"},
                       standard={**{i: "S" for i in ids}, 6: None}, invalid={5: "D"})
    cs = ConceptSet(domain="condition",
                    include=[_ref(1), _ref(2), _ref(4, descendants=False), _ref(5), _ref(6), _ref(7), _ref(8)],
                    exclude=[_ref(3)])
    assert unlinked_refs(cs, vocab) == ["concept_id 2 (concept 2)", "concept_id 3 (concept 3)"]
    assert unlinked_refs(ConceptSet(domain="drug", include=[_ref(2)]), vocab) == []
    assert unlinked_refs(cs, Vocabulary(codes={}, descendants={}, names={})) == []


def test_ingredient_reach_takes_includes_with_descendants_and_every_exclude():
    """``ingredient_reach``: an include read with descendants maps its ingredient to itself and its descendants
    (10 -> {10, 101, 102}); an include without descendants (20) is no ingredient of the check (its products are
    not the set's: a drug_strength row naming it is no unreached product); the excludes, with descendants, are the
    spared products (30's 301, 102 itself). Mutants i1 (an include without descendants taken: 20 -> {20}) and i3
    (no excludes) pass test_ancestor_s55 and test_omop_kinds_s56."""
    vocab = Vocabulary(codes={}, descendants={10: frozenset({101, 102}), 20: frozenset({201}), 30: frozenset({301})},
                       names={10: "a", 20: "b", 30: "c", 102: "d"})
    sets = [ConceptSet(domain="drug", include=[_ref(10), _ref(20, descendants=False)],
                       exclude=[_ref(30), _ref(102, descendants=False)])]
    reach, excluded = ingredient_reach(sets, vocab)
    assert reach == {10: frozenset({10, 101, 102})}
    assert excluded == frozenset({30, 301, 102})


# ---------------------------------------------------------------- report: pooled complements (4bc0580)

def _dist(rows: list[tuple]) -> pd.DataFrame:
    """pgs_distribution rows (dataset d, score P) of (ancestry, n, mean, sd)."""
    return pd.DataFrame([{"dataset": "d", "ancestry": a, "pgs_id": "P", "n": n, "mean": m, "sd": s}
                         for a, n, m, s in rows])


def _prior(rows: list[tuple]) -> dict:
    return tables.prior_moments({"r1": {"pgs_distribution": _dist(rows).astype(str)}})


NOW = [("A", 1000, 0.0, 1.0), ("B", 500, 0.0, 1.0), ("C", 100, 0.0, 1.0)]


def test_pooled_hidden_groups_that_changed_by_fewer_than_t_persons_hide_everything():
    """C hidden (its moments), A its complement, B the same persons in both exports (its n and sd: the map a^2 = 1
    exactly). C had 100 - k persons earlier, all of mean 0 and sd 1, so the pooled A + C differ by k persons
    whose sums are as the others': the scale test passes (A_h = 1.00003, 3 sqrt(v_h) = 0.017 at k = 19). k = 19
    (1..T - 1 persons): the pooled change is itself a small count, so B goes too and then, every group hidden,
    the quantiles as well; k = 20: only A. Mutants (session 56's tests pass each): t12 (``k <= threshold``: k = 20
    hides everything) and t15 (every group hidden, the quantiles kept)."""
    for k, comp, every in ((19, [True, True, False], [True, True, True]), (20, [True, False, False], [False] * 3)):
        prior = _prior([("A", 1000, 0.0, 1.0), ("B", 500, 0.0, 1.0), ("C", 100 - k, 0.0, 1.0)])
        got = tables.pooled_complements(_dist(NOW), [False, False, True], prior, T)
        assert (list(got[0]), list(got[1])) == (comp, every), k


def test_an_earlier_export_that_did_not_show_a_hidden_group_maps_no_pooled_sums():
    """The earlier export shows A and B but not C (hidden now, its mean 3 SD out): it gives no pooled sums of A + C
    to map (C's earlier sums unknown), so the complement stays A. Mutant t14 (``all`` for ``any``: the earlier A
    alone read as the pool's, C's 100 persons as its movers) hides B and every quantile."""
    prior = _prior([("A", 1000, 0.0, 1.0), ("B", 500, 0.0, 1.0)])
    now = [*NOW[:2], ("C", 100, 3.0, 1.0)]
    comp, every = tables.pooled_complements(_dist(now), [False, False, True], prior, T)
    assert (list(comp), list(every)) == ([True, False, False], [False] * 3)


def test_a_dataset_of_two_groups_reads_the_pool_against_its_complements_own_map():
    """A (1,000 persons) and C (100, hidden), the same persons in both exports re-standardised by a = 1.1 (sds 1.0
    then 1.1, means 0): no group is shown to fit the map from, so the pooled A + C (A_h = 1.21, k = 0) is read
    against ``unfitted_scale`` of the complement A's own ratio (1.21, v = 2 / 999^2: the map moved beyond 3 of its
    errors, so no reader knows the identity): not moved, A alone hidden. Mutant t18 (the identity instead:
    |1.21 - 1| against 3 sqrt(2 / 1,099^2)) hides every quantile too."""
    prior = _prior([("A", 1000, 0.0, 1.0), ("C", 100, 0.0, 1.0)])
    now = [("A", 1000, 0.0, 1.1), ("C", 100, 0.0, 1.1)]
    comp, every = tables.pooled_complements(_dist(now), [False, True], prior, T)
    assert (list(comp), list(every)) == ([True, False], [False, False])


def test_the_pool_is_read_against_the_shown_groups_fit_with_its_error():
    """A (complement) and C (hidden) the same persons and the same moments in both exports (pooled A_h = 1, v_h =
    2 / 1,099^2); B shown, 400 persons earlier and 500 now (100 newcomers), its sd now giving A_B = 1.05 with
    v_B = 2 (99 + 0.8^2 + 99^2 / 399) / 498.8^2 (sd 0.0316): |1 / 1.05 - 1| = 0.048 is within 3 sqrt(v_h + w) =
    0.095, so the pool has not moved: A alone hidden. Mutant t17 (the fit's own error w left out: 3 sqrt(v_h) =
    0.004) hides B and every quantile."""
    d = 500 - 2 + 400 / 500
    sd_b = (1.05 * d / 499) ** 0.5
    a_b, v_b, _ = tables.scale_ratio(400, 1.0, 500, sd_b)
    assert abs(a_b - 1.05) < 1e-12 and abs(v_b - 2 * (99 + 0.8 ** 2 + 99 ** 2 / 399) / d ** 2) < 1e-12
    prior = _prior([("A", 1000, 0.0, 1.0), ("B", 400, 0.0, 1.0), ("C", 100, 0.0, 1.0)])
    now = [("A", 1000, 0.0, 1.0), ("B", 500, 0.0, sd_b), ("C", 100, 0.0, 1.0)]
    comp, every = tables.pooled_complements(_dist(now), [False, False, True], prior, T)
    assert (list(comp), list(every)) == ([True, False, False], [False] * 3)


def test_the_map_is_read_from_the_largest_group_of_the_same_size_in_both():
    """A (complement) and C (hidden) the same persons and moments in both exports; B (500) the same persons too
    (sd 1 in both: a^2 = 1 exactly); D shows 50 persons in both exports but not the same ones (its sd 1.0 then
    1.14: ratio 1.2996). ``reader_scale`` takes the largest group of the same n (B: 1), so the pool has not moved:
    A alone hidden. Mutant t9 (the smallest: D's 1.30, |1 / 1.30 - 1| = 0.23 against 3 sqrt(2 / 1,099^2)) hides
    B, D and every quantile."""
    prior = _prior([("A", 1000, 0.0, 1.0), ("B", 500, 0.0, 1.0), ("C", 100, 0.0, 1.0), ("D", 50, 0.0, 1.0)])
    now = [("A", 1000, 0.0, 1.0), ("B", 500, 0.0, 1.0), ("C", 100, 0.0, 1.0), ("D", 50, 0.0, 1.14)]
    comp, every = tables.pooled_complements(_dist(now), [False, False, True, False], prior, T)
    assert (list(comp), list(every)) == ([True, False, False, False], [False] * 4)


def test_a_small_group_of_the_same_persons_gives_the_map_exactly():
    """A (complement, 1,000) the same persons in both exports; B shows the same 50 persons in both (sd 1: a^2 = 1
    exactly, w = 0: the exports print the moments at full precision); C (hidden) 100 -> 125 persons, sd 1.0 ->
    1.2, so the pooled A + C read A_h = 1.0486 beyond 3 sqrt(v_h) = 0.019: the pool moved, B is hidden, and then,
    every group hidden, the quantiles. Mutant t10 (no exact branch: B's ``scale_ratio`` error 2 / 49^2 taken as
    the fit's w, the bar 3 sqrt(v_h + w) = 0.089) leaves B and the quantiles shown."""
    prior = _prior([("A", 1000, 0.0, 1.0), ("B", 50, 0.0, 1.0), ("C", 100, 0.0, 1.0)])
    now = [("A", 1000, 0.0, 1.0), ("B", 50, 0.0, 1.0), ("C", 125, 0.0, 1.2)]
    comp, every = tables.pooled_complements(_dist(now), [False, False, True], prior, T)
    assert (list(comp), list(every)) == ([True, True, False], [True] * 3)


def test_the_complement_grows_by_the_largest_shown_group():
    """test_a_small_group_of_the_same_persons_gives_the_map_exactly's groups and E, 300 -> 600 persons (300
    newcomers, sd 1): the pool A + C moved (read against B's exact map), so the largest shown group, E, joins it;
    A + C + E then differ by 325 persons, A_h = 1.032 within 3 sqrt(v_h) = 0.049: the complement stops at A and E,
    B and the quantiles shown. Mutant t16 (the smallest shown group: B) leaves E shown and hides B."""
    prior = _prior([("A", 1000, 0.0, 1.0), ("B", 50, 0.0, 1.0), ("C", 100, 0.0, 1.0), ("E", 300, 0.0, 1.0)])
    now = [("A", 1000, 0.0, 1.0), ("B", 50, 0.0, 1.0), ("C", 125, 0.0, 1.2), ("E", 600, 0.0, 1.0)]
    comp, every = tables.pooled_complements(_dist(now), [False, False, True, False], prior, T)
    assert (list(comp), list(every)) == ([True, False, False, True], [False] * 4)


def test_the_fastas_last_base_is_read(tmp_path):
    """``ReferenceFasta.bases`` reads a contig's last base (a record whose REF ends there). Mutant f9 (the bound
    ``end > length``: one base short) raised its "has N bases" error there; test_pgs_reference_fasta_s56 checks
    the error 3 bases past the end only."""
    from test_pgs_reference_fasta_s56 import fasta_text

    from trd_spark.pgs.reference_fasta import ReferenceFasta

    text = fasta_text()
    path = tmp_path / "ref.fa"
    path.write_text(text)
    chr1 = "".join(text.split(">chr1")[1].split(">")[0].splitlines()[1:]).upper()
    ref = ReferenceFasta.open(str(path), "genotypes (vcf) d.vcf")
    n = len(chr1)
    assert ref.bases("chr1", n - 1, n + 1, "chr1 end") == chr1[-2:]
