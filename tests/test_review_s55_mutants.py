"""Mutation review of session 55's code (session 56, helper "review55").

Each test kills mutants of 046a78f..3968d6b (``trd_spark/``, ``scripts/``, ``conf/``, the DuckDB twin: claim
reversals 90cffef / fb5b273 / f8031c3 / 77dbb76, unreached products 8f8287e, unknown concepts 4c99b59,
moved_groups 3e8a7f9 / c4c99b5, the imported library version ba63691, the OMOP files fingerprint dbf683f,
compare-releases' code differences 95c6d22, genotype rows written shifted right baa424f, liftover rows on
inverted regions c32c244, MatrixTable part files read forward a255ea7) that session 55's tests let pass
(named in each docstring; each shown failing on its mutant and passing on HEAD). Mutants were one-line
changes applied in scratch worktrees of 6fb2847 (/tmp/s56/review55/, removed) and run (``-x``, ``-n 0``,
nice'd; load 20-28 on the 2 cores: 0.3-1 min a pure run, 3-5 min one with a Spark chain or the toy export)
against the modules named.

Modules: REV (test_reversal_s55), XREV / R54 (test_xreview_s55's and test_review_s54_mutants' direct
chain and twin reversal tests), SHAPES (test_omop_shapes_s54), ANC (test_ancestor_s55; ANCc its trimmed-
vocabulary, name-pattern and no-line tests), VOC (test_vocab_s55), MOV (test_moved_s55 but its toy-release
test, test_moved2_s55, test_privacy11_s54, test_review_s54_mutants' moved tests), RER (test_reruns_s55),
FUZZ (test_pgs_fuzz_s55's pure tests, test_review_s54_mutants' inverted-block test; FUZZH its Hail tests),
MT (test_mt16_s55, test_mt16_s54); "read": judged by reading the module's case and assertions (runs cut
for time); "new": a test below.
  id   change                                             result
  r1   reversals of a day not ranked by kind              survived XREV+R54; read: REV (no day with two kinds); new
  r2   days_supply 0 read as a supply, not by quantity    survived XREV+R54; read: REV (no such reversal); new
  r3   a same-day claim not reached                       read: killed by REV (5501)
  r4   within days_supply through its last day (<=)       read: killed by SHAPES (5406); new (cheaper)
  r5   a claim of unknown quantity for a reversal of      read: survives XREV+R54+REV (an exact claim there
       unknown quantity only                              first, 5601); new
  r6   a reversal by quantity takes a claim of unknown    read: survives XREV+R54+REV; new
       quantity
  r7   the claim of its quantity not first                read: killed by REV (5601-5603)
  r8   ties: quantity not ranked                          read: survives REV (5507's 60-unit claim listed
                                                          last: the last listed wins the tie); new
  r9   a claim taken twice                                read: killed by REV (5502, 5513)
  r10  reversals in the listed order                      read: survives XREV+R54+REV (listed by date); new
  r11  reversals ranked by kind before date               read: survives XREV+R54+REV; new
  r13  drop_reversed_claims drops a pair's reversals      killed: R54
  r14  no claim dropped                                   read: killed by every module
  r15  ties: drug_type_concept_id not ranked              killed: XREV
  r16  the greatest quantity before the latest            read: killed by REV (5604)
  r17  a claim after its reversal reached                 read: killed by REV (5512)
  r18  claims matched over follow-up records only         killed: R54
  r19  n_reversed_claims counts the reversals             read: killed by REV (14 asserted, 19 then)
  w1   twin: days_supply 0 read as a supply               survived XREV+R54+REV twin; new
  w2   twin: a same-day claim not reached                 killed: XREV
  w3   twin: within days_supply through its last day      survived; read: killed by SHAPES (5406); new
  w4   twin: unknown-quantity claims for unknown only     survived; new
  w5   twin: the claim of its quantity not first          killed: REV
  w6   twin: the latest not first                         killed: REV
  w7   twin: a claim taken twice                          killed: REV
  w8   twin: unmatched reversals not counted              survived (REV's counts test not run); read: killed
                                                          by REV's counts test (5 asserted); new
  w9   twin: reversals of a day in the listed order       survived; new
  w10  twin: reversals not sorted                         survived; new
  w11  twin: one row of a claim deleted (rn <= 1)         survived; read: killed by SHAPES (5408: two rows
                                                          cancelled, the twin's TRD then)
  w12  twin: reversals by quantity not loaded             killed: REV
  w13  twin: the cancelled row's mail-order flag False    killed: XREV
  w14  twin: drug_type_concept_id not ranked              killed: XREV
  w15  twin: quantity not ranked                          survived; new
  u1   name_pattern: punctuation not escaped              survived ANCc; new
  u2   name_pattern: blank names kept                     killed: ANCc
  u3   name_pattern: a digit before a name a boundary     survived ANCc; low ("12sertraline": no RxNorm name)
  u4   drug_reach: names of refs without descendants     read: survives ANC; equivalent on the shipped
                                                          config (every drug include has descendants); low
  u5   drug_reach: an exclude's products not reached      read: survives ANC (the toy has no excluded
                                                          product's record); new
  u6   unreached: any domain                              survived ANCc; new
  u7   unreached: non-standard concepts too               survived ANCc; new
  u8   unreached: reached products too                    killed: ANCc
  u9   gate: share of the study records alone             read: survives ANC (3.4% level against 2.5%); low
                                                          (the share's denominator: n / (N - n) for n / N)
  u10  the WARNING at 0                                   survived ANCc; new
  u11  records_within: no UNREACHED relations             survived ANCc; equivalent in outcome (the apart rule
                                                          labels the totals too, as test_vocab_s55 notes)
  u12  twin: names of refs without descendants            read: as u4; low
  u13  twin: non-standard concepts too                    read: survives ANC (every toy concept standard);
                                                          new
  u14  twin: any domain                                   read: survives ANC; new
  u15  unreached: a concept without a Drug name counted   killed: ANCc
  k1   unknown: concept 0 counted                         survived VOC; new
  k2   unknown: observation keyed when narrowed           killed: VOC
  k3   gate: the table of the largest count, not share    survived VOC; new
  k4   WARNING: a share beside a labelled total           killed: VOC
  k5   WARNING for a table of 0                           killed: VOC
  k6   twin: concept 0 counted                            survived VOC (no concept-0 record); new
  k7   gate: the table's total not found (share 0)        killed: VOC
  k8   records_within: no UNKNOWN relations               survived VOC; equivalent in outcome (as u11)
  t1   scale_ratio: D of joiners + 1                      killed: MOV
  t2   scale_ratio: D of leavers n2 - 1                   survived MOV; low (D moves by k / n1)
  t3   scale_ratio: k' = k                                survived MOV; low (one degree of freedom more)
  t4   scale_ratio: the earlier sd's error dropped        survived MOV; new
  t5   scale_ratio: the between term dropped              killed: MOV
  t6   the group itself in its fit                        killed: MOV
  t7   no abs: a group that shrank unread                 killed: MOV
  t8   the fit's error not added                          killed: MOV
  t9   groups of k = 0 tested                             killed: MOV
  t10  an earlier group of no spread not flagged          survived MOV; new
  t11  one flag per (dataset, score)                      killed: MOV
  t12  the complement kept in the fit                     killed: MOV
  t13  the nearest export, not the farthest               survived MOV; new
  t14  hidden groups tested and fitted                    survived MOV; equivalent (the loop's ``gone`` holds
                                                          them: neither fitted nor tested)
  t15  prior_moments: positions lost                      killed: MOV
  t16  suppress_release: outlying groups in the fit       survived MOV; new
  t17  suppress_release: few-valued groups in the fit     survived MOV; equivalent (a few-valued score hides
                                                          every group of it)
  t18  a fit of 0 reads no distance                       survived MOV; low (A = 0 only when every other
                                                          group is shown with sd 0)
  t19  scale_ratio of an earlier sd 0                     survived MOV; equivalent (the ratio is inf, not finite:
                                                          flagged as before)
  t20  common_scale: NaN ratios kept                      survived MOV; equivalent (``v > 0`` drops NaN)
  p1   a metadata-only copy read by its declared version  killed: RER
  p2   its own copy read by its declared version          killed: RER
  p3   no declared version: the installed one dropped     survived RER; new
  p4   the key named by the module, not the distribution  survived RER; low (a zip of a library whose
                                                          distribution and module names differ)
  p5   code_digests reads the metadata only               killed: RER
  p6   pyspark's version.py not read                      killed: RER
  p7   a single-module copy not read                      survived RER; low (no zipped single-module library)
  f1   fingerprint: the first of file and folder only     killed: RER
  f2   fingerprint: a Delta log not listed                killed: RER
  f3   fingerprint: near names not listed                 killed: RER
  f4   fingerprint: near names of a present table         killed: RER
  c1   compare: run-control modules counted               killed: RER
  c2   compare: the modules past 5 unnamed                survived RER; low (a message's tail)
  c3   compare: the summary line dropped                  survived RER; low (the WARNING stays; the job is
                                                          run by test_compare's toy releases only)
  c4   compare: an incomplete stage's manifest read       survived RER; low (a rerun's manifest is written
                                                          with its _SUCCESS)
  g1   shifted: score rows not left-aligned too           survived FUZZ; equivalent (the matcher passes
                                                          the others only)
  g2   shifted: no rotation                               killed: FUZZ
  g3   shifted: a left-aligned genotype row too           survived FUZZ; low (a label of a row not found)
  g4   shifted: a window of 10 bases                      survived FUZZ; new
  g5   shifted: rows left of the score's too              survived FUZZ; new
  g6   anchored: any one-base short allele                survived FUZZ; new
  g7   neighbours unread                                  read: killed by FUZZH (the VCF route)
  g8   the WARNING's genotypes' side unnamed              read: killed by FUZZH (asserted)
  g9   windows: the next 128-base bucket not covered      read: survives FUZZH (its rows in one bucket);
                                                          low (Hail routes only: a label of a row not found)
  g10  expression: left-aligned rows collected            read: killed by FUZZH (1050 A>AC)
  g11  file_rows_at: left-aligned rows collected          read: killed by FUZZH (frames compared)
  g12  stage: no windows                                  read: killed by FUZZH (the VCF route)
  g13  windows of shifted score rows too                  equivalent (more rows collected, none matched)
  h1   liftover rows kept as flippable pairs              killed: FUZZ
  h2   every liftover row unplaced                        killed: FUZZ
  h3   hm_source read as written (case, spaces)           survived FUZZ; low (the Catalog writes it lower
                                                          case)
  z1   the cut header's offset within the buffer          killed: MT
  z2   a cut header not refused                           killed: MT
  z3   finish: blocks after the last row not asked for    survived MT; equivalent (``_fill(2)`` reads every
                                                          block first: trailing bytes make it False)
  z4   a frame's offset within the buffer                 survived MT; low (the offset an undecodable
                                                          block's error names, past the first read)
  z5   the previous part's file not closed at open        survived MT; equivalent (closed after its last
                                                          row or its row-by-row parse)
  z6   the file not closed after its last row             killed: MT
  z7   the buffer not bounded by the file                 survived MT; low (memory: 256 KiB for a small
                                                          part)

The tests below kill the meaningful survivors, each shown failing on its mutant in a scratch
worktree of 6fb2847 and passing on HEAD (the chain and DuckDB tests: runs of this module's Spark, twin and
pure groups; module docstring table).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

T = 20  # report.small_count_threshold


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---------------------------------------------------------------- phenotypes: claim reversals (90cffef, 77dbb76)

PRODUCT = 2_000_000_101  # sertraline 50 MG Oral Tablet in the tests' vocabulary (any study drug concept reads alike)
S = "2019-09-01"
# person_id -> rows (start, days_supply, quantity), the claims the reversals cancel (start, days_supply, quantity)
# and the reversals that cancel none; hand-worked from docs/phenotypes.md "A claim reversal cancels one claim".
REVERSAL_SHAPES: dict[int, tuple[list[tuple], set[tuple], int]] = {
    # two claims of one day (60 and 30 units) and two reversals of that day, the one without a quantity listed
    # first: the one with days_supply and quantity goes first and takes the 60-unit claim, the other the 30
    1: ([(S, 60, 60.0), (S, 60, 30.0), (S, -60, None), (S, -60, -60.0)], {(S, 60, 60.0), (S, 60, 30.0)}, 0),
    # a reversal of days_supply 0 and quantity -60: by its quantity, as one without a days_supply
    2: ([(S, 60, 60.0), (S, 0, -60.0)], {(S, 60, 60.0)}, 0),
    # a claim of unknown quantity and a reversal of -60 days and -60 units 3 days later: the claim's empty
    # quantity matches any
    3: ([(S, 60, None), ("2019-09-04", -60, -60.0)], {(S, 60, None)}, 0),
    # two 45-day claims (S of 60 units, 09-20 of unknown quantity) and two reversals listed latest first: 09-11's
    # (no quantity) reaches S's claim alone and takes it; 09-26's (-60 units) then takes 09-20's. Taken in the
    # listed order, or ranked by kind before date, 09-26's takes S's claim (its quantity) and 09-11's none.
    4: ([(S, 45, 60.0), ("2019-09-20", 45, None), ("2019-09-26", -45, -60.0), ("2019-09-11", -45, None)],
        {(S, 45, 60.0), ("2019-09-20", 45, None)}, 0),
    # a reversal by quantity alone (no days_supply, -60) against a claim of unknown quantity: not its claim
    5: ([(S, 60, None), (S, None, -60.0)], set(), 1),
    # a reversal on the day a 30-day claim's supply ran out (S + 30): no longer within it
    6: ([(S, 30, None), ("2019-10-01", -30, None)], set(), 1),
    # two claims of one day and supply (60 and 30 units) and a reversal without a quantity: of equals, the greater
    # quantity, whichever is listed first
    7: ([(S, 60, 60.0), (S, 60, 30.0), (S, -60, None)], {(S, 60, 60.0)}, 0),
    8: ([(S, 60, 30.0), (S, 60, 60.0), (S, -60, None)], {(S, 60, 60.0)}, 0),
}


def _reversal_rows() -> list[tuple]:
    """REVERSAL_SHAPES as drug_exposure rows (OMOP_COLUMNS order), end = start, pharmacy claims."""
    return [(p, PRODUCT, _d(s), _d(s), ds, None, q, None, None, 32869)
            for p, (rows, _, _) in REVERSAL_SHAPES.items() for s, ds, q in rows]


def test_reversal_order_kinds_and_edges_in_the_chain(spark):
    """``trials.reversed_claim_keys`` and ``reversed_claim_counts`` on REVERSAL_SHAPES
    (one partition: collect_list keeps the listed order). test_reversal_s55 / test_xreview_s55 have no reversal of
    days_supply 0, no claim of unknown quantity against a reversal of known quantity, no two reversals of a day of
    two kinds, no reversals listed out of date order. Mutants (they pass each): r1 (a day's reversals not ranked by
    kind: person 1's second claim stands), r2 (days_supply 0 read as a supply: person 2's claim stands), r5 (a claim
    of unknown quantity only for a reversal of unknown quantity: person 3's stands), r6 (a reversal by quantity
    takes a claim of unknown quantity: person 5's cancelled), r10 / r11 (reversals in the listed order / by kind
    before date: person 4's 09-20 claim stands), r8 (quantity not ranked: the claim listed last of person 7's
    equal ones cancelled), r4 (within days_supply through its last day: person 6's claim cancelled; also
    test_omop_shapes_s54's 5406)."""
    from pyspark.sql import types as T_

    from trd_spark.phenotypes.omop import OMOP_COLUMNS
    from trd_spark.phenotypes.trials import reversed_claim_counts, reversed_claim_keys

    # the rows end at drug_type_concept_id (drug_exposure_id, session 57, absent: not checked)
    schema = T_.StructType([T_.StructField(n, t, True) for n, t in OMOP_COLUMNS["drug_exposure"]
                            if n != "drug_exposure_id"])
    drugs = spark.createDataFrame(_reversal_rows(), schema).coalesce(1)
    got = {(r.person_id, str(r.drug_exposure_start_date), r.days_supply, r.quantity, r.n_cancelled)
           for r in reversed_claim_keys(drugs).collect()}
    assert got == {(p, *c, 1) for p, (_, cancelled, _) in REVERSAL_SHAPES.items() for c in cancelled}, got
    [counts] = reversed_claim_counts(drugs).collect()
    assert counts.asDict() == {"n_reversed_claims": sum(len(s[1]) for s in REVERSAL_SHAPES.values()),
                               "n_unmatched_reversals": sum(s[2] for s in REVERSAL_SHAPES.values())}


def test_reversal_order_kinds_and_edges_in_the_twin():
    """The DuckDB twin's ``_reversed_claims`` on REVERSAL_SHAPES: the same claims cancelled, one row each, and
    the same count of reversals that cancel none. Mutants (test_reversal_s55's twin tests pass each): w1 (days_supply
    0 read as a supply: person 2), w4 (a claim of unknown quantity only for a reversal of unknown quantity: person
    3), w3 (within days_supply through its last day: person 6), w9 / w10 (a day's reversals not ranked by kind, or
    none sorted: persons 1 and 4), w15 (quantity not ranked: the claim listed first of person 8's equal ones
    cancelled)."""
    from test_phenotypes_support import twin_reversed_claims

    got, totals = twin_reversed_claims([(r[0], r[1], r[2], r[3], r[4], r[6]) for r in _reversal_rows()], PRODUCT)
    assert got == {(p, *c, 1) for p, (_, cancelled, _) in REVERSAL_SHAPES.items() for c in cancelled}, got
    assert totals == (sum(len(s[1]) for s in REVERSAL_SHAPES.values()), sum(s[2] for s in REVERSAL_SHAPES.values()))


# ------------------------------------------------ report: moved_groups' fitted re-standardisation (3e8a7f9, c4c99b5)

def _dist(groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """pgs_distribution rows (dataset d, score P) of the groups' n, mean and sd."""
    return pd.DataFrame([{"dataset": "d", "ancestry": g, "pgs_id": "P", "n": len(v), "mean": float(v.mean()),
                          "sd": float(v.std(ddof=1))} for g, v in groups.items()])


def _text(dist: pd.DataFrame) -> dict:
    """An export's pgs_distribution as ``released_exports`` reads it (text; a hidden moment blank)."""
    return {"pgs_distribution": dist[["dataset", "ancestry", "pgs_id", "n", "mean", "sd"]].astype(str).replace("nan", "")}


def test_groups_that_tripled_with_normal_newcomers_are_not_flagged():
    """Four groups of 100 persons joined by 300 each (normal newcomers, the same map): ``scale_ratio``'s
    variance counts the earlier sd's own error (k'^2 / (n1 - 1): the earlier group is small beside the
    newcomers), so the rule flags at about its 2-error rate: 1 of 24 here. test_moved_s55's newcomers are a
    tenth of each group. Mutant t4 (that term dropped) flagged 6 of 24: means and sds of normal groups blanked."""
    from trd_spark.report import tables

    hits = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        g1 = {f"g{i}": rng.normal(size=100) for i in range(4)}
        g2 = {g: np.concatenate([v, rng.normal(size=300)]) for g, v in g1.items()}
        hits += int(tables.moved_groups(_dist(g2), tables.prior_moments({"r1": _text(_dist(g1))}), T).sum())
    assert hits <= 2, hits


def test_a_group_shown_earlier_with_no_spread_is_flagged_when_persons_join():
    """An earlier export showed a group of 30 with sd 0 (every score equal): the 25 who joined since have
    exactly the sum and sum of squares the two exports' moments give, so the group's mean and sd are hidden
    (``moved_groups``: its ratio is not finite). test_moved_s55's earlier groups all have a spread. Mutant
    t10 (such a group not flagged: its ratio NaN, read as no distance) showed EAS's mean and sd."""
    from trd_spark.report import tables

    rng = np.random.default_rng(56)
    before = {"EUR": rng.normal(size=2000), "AFR": rng.normal(size=800), "EAS": np.full(30, 0.5)}
    after = {**before, "EAS": np.concatenate([before["EAS"], rng.normal(size=25)])}
    prior = tables.prior_moments({"r1": _text(_dist(before))})
    assert list(tables.moved_groups(_dist(after), prior, T)) == [False, False, True]


def test_a_group_is_flagged_by_the_earlier_export_that_reads_it():
    """Two earlier exports of the same groups: EAS of 300 in one, of 500 in the other; now 525, the 25 newcomers
    holding one person 6 SD out (EUR and AFR the same persons throughout: the map the identity). Against the
    500, the 25 read the carrier (flagged); against the 300, 225 newcomers hide it in their spread (not). The
    group is flagged by the export that reads it (the largest distance over the exports). test_moved_s55 tests
    per export one group at a time. Mutant t13 (the smallest distance over the exports) showed EAS's moments."""
    from trd_spark.report import tables

    rng = np.random.default_rng(0)
    eur, afr = rng.normal(size=20_000), rng.normal(size=4000)
    eas, new = rng.normal(size=500), rng.normal(size=25)
    new[0] += 6.0
    now = _dist({"EUR": eur, "AFR": afr, "EAS": np.concatenate([eas, new])})
    r1, r2 = ({"pgs_distribution": _dist({"EUR": eur, "AFR": afr, "EAS": e}).astype(str)} for e in (eas[:300], eas))
    assert not tables.moved_groups(now, tables.prior_moments({"r1": r1}), T).any()
    assert list(tables.moved_groups(now, tables.prior_moments({"r2": r2}), T)) == [False, False, True]
    assert list(tables.moved_groups(now, tables.prior_moments({"r1": r1, "r2": r2}), T)) == [False, False, True]


def test_an_outlying_groups_odd_scale_does_not_mask_a_carrier():
    """test_moved2_s55's case with EUR hidden by ``outlying_groups`` (one of its 20,000 persons swapped for one
    40 SD out, its scale chosen so that its a^2 equals EAS's) instead of as a complement: the export hides EUR's
    moments and, as their complement, AFR's, so the reader fits the map from no group (the identity) and reads
    EAS's newcomers' carrier (5 SD); ``suppress_release`` hides EAS's. test_moved2_s55 hides EUR through a size
    shown as a label only. Mutant t16 (``suppress_release`` leaving the outlying groups in the fit: EUR's a^2,
    with 10 times AFR's weight, masked the carrier) showed EAS's mean and sd."""
    from test_privacy10_s53 import release, row

    from trd_spark.report import tables
    from trd_spark.report.tables import EXCESS_KURTOSIS, SKEWNESS, suppress_release

    rng = np.random.default_rng(0)
    g1 = {"EUR": rng.normal(size=20_000), "AFR": rng.normal(size=2000), "EAS": rng.normal(size=500)}
    new = rng.normal(size=25)
    new[0] += 5.0
    eas2 = np.concatenate([g1["EAS"], new])
    a_eas = tables.scale_ratio(500, g1["EAS"].std(ddof=1), 525, eas2.std(ddof=1))[0]
    eur2 = g1["EUR"].copy()
    eur2[0] = 40.0
    g2 = {"EUR": np.sqrt(a_eas) * g1["EUR"].std(ddof=1) / eur2.std(ddof=1) * eur2, "AFR": g1["AFR"], "EAS": eas2}
    # without the skewness and kurtosis columns (their rule then reads nothing): EUR's person 40 SD out would
    # flag the whole score there, and every group's moments would be hidden whatever the fit
    d1, d2 = (pd.DataFrame([row(a, "P", v) for a, v in g.items()]).drop(columns=[SKEWNESS, EXCESS_KURTOSIS])
              for g in (g1, g2))
    assert a_eas > 1.03 and list(tables.outlying_groups(d2)) == [True, False, False]
    export1 = suppress_release(release(d1), T)["pgs_distribution"]
    assert export1[["mean", "sd"]].notna().all().all()
    rc = release(d2)
    rc.prior_moments = tables.prior_moments({"r1": _text(export1)})
    export2 = suppress_release(rc, T)["pgs_distribution"].set_index("ancestry")
    assert export2.loc[["EUR", "AFR", "EAS"], ["mean", "sd"]].isna().all().all() and export2.loc["EAS", "n"] == 525


# ---------------------------------------------------------------- provenance: the imported copy's version (ba63691)

def test_a_copy_first_on_the_path_without_a_declared_version_keeps_the_installed_one(tmp_path, monkeypatch):
    """A zip first on the path whose package states no literal ``__version__`` (``VERSION = (2, 0)``), the
    distribution 1.0 installed beside it: the key stays the installed version (nothing better to read).
    test_reruns_s55's zips all declare one. Mutant p3 (None then: ``lib:`` left out of the digest, every stage
    rerun once for no change) dropped the key."""
    import zipfile

    from test_reruns_s55 import _lib_key, _site

    site = _site(tmp_path / "site", "1.0")
    spark_zip = tmp_path / "spark" / "a.zip"
    spark_zip.parent.mkdir(parents=True)
    with zipfile.ZipFile(spark_zip, "w") as z:
        z.writestr("s55fakelib/__init__.py", "VERSION = (2, 0)\n")
    assert _lib_key(tmp_path, monkeypatch, spark_zip, site) == "s55fakelib==1.0"


# ---------------------------------------------------------------- pgs: genotype rows written shifted right (baa424f)

def test_shifted_genotype_rows_far_in_a_repeat_and_only_to_the_right():
    """``shifted_genotype_indels`` on a poly-A run: the score's left-aligned C/CA at 100 and the row A>AA at 130
    (the same A, 30 bases on: within SHIFT_WINDOW); a row A>AA 10 bases LEFT of a score's C/CA at 400 (a
    left-aligned indel is the leftmost form: no row to its left is it shifted); a complex score pair A/GT (not
    anchored: no indel of a repeat) beside T>TT. test_pgs_fuzz_s55's rows are 1-3 bases from their score
    rows. Mutants: g4 (a window of 10 bases: the 30-base shift plain not_found), g5 (rows left of the score's
    read too), g6 (a pair whose long allele does not start with the short one read as anchored)."""
    from trd_spark.pgs.matching import shifted_genotype_indels

    rows = pd.DataFrame({"contig": ["chr1"] * 3, "position": [130, 390, 601], "ref": ["A", "A", "T"],
                         "alt": ["AA", "AA", "TT"]})
    cases = [("chr1", 100, "CA", "C", True), ("chr1", 400, "C", "CA", False), ("chr1", 600, "A", "GT", False)]
    got = shifted_genotype_indels(np.array([c[0] for c in cases], dtype=object), np.array([c[1] for c in cases]),
                                  np.array([c[2] for c in cases], dtype=object),
                                  np.array([c[3] for c in cases], dtype=object), rows)
    assert got.tolist() == [c[4] for c in cases]


# ------------------------------------------------ phenotypes: unreached products (8f8287e), unknown concepts (4c99b59)

NDC_SERTRALINE = 2_000_000_901  # a non-standard drug concept named after sertraline (an NDC code)
LAB_SERTRALINE = 2_000_000_902  # a standard concept of another domain named after it (a lab test)
NEW_SERTRALINE = 2_000_000_903  # a standard RxNorm product named after it that concept_ancestor does not reach
DOXEPIN, DOXEPIN_CREAM = 738156, 2_000_000_904  # an ingredient of the antidepressants set and a product it excludes
EXTRA_CONCEPTS = [
    (NDC_SERTRALINE, "sertraline 100 MG Oral Tablet", "Drug", "NDC", "11-digit NDC", None, "n1"),
    (LAB_SERTRALINE, "sertraline [Mass/volume] in Serum or Plasma", "Measurement", "LOINC", "Lab Test", "S", "l1"),
    (NEW_SERTRALINE, "sertraline 25 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x9"),
    # the antidepressants set's doxepin (by concept_id) and the cream it excludes (by RxNorm code 1000091)
    (DOXEPIN, "doxepin", "Drug", "RxNorm", "Ingredient", "S", "3638"),
    (DOXEPIN_CREAM, "doxepin hydrochloride 50 MG/ML Topical Cream", "Drug", "RxNorm", "Clinical Drug", "S", "1000091"),
]


def test_only_standard_drug_products_are_unreached(spark, tmp_path):
    """drug_exposure records of a non-standard Drug concept (an NDC code) and of a standard Measurement concept,
    both named after sertraline, are not unreached products (the first is counted as non-standard, the second is
    no product), nor is a product a set excludes (doxepin cream, which this partial concept_ancestor does not
    link to doxepin: its records are left out on purpose); a standard RxNorm product named after sertraline that
    concept_ancestor does not reach is (1): chain (``event_table_counts``' UNREACHED) and DuckDB twin alike.
    test_ancestor_s55's unreached records are all of standard Drug concepts (its one other-domain record is
    named after no ingredient), and the toy has no excluded product's record. Mutants: u6 / u14 (any
    domain: the lab concept's record counted; chain / twin), u7 / u13 (non-standard concepts too: the NDC
    record counted; chain / twin), u5 (an exclude's products not reached: the cream's record counted)."""
    from test_phenotypes_support import (
        ANCESTRY,
        CONCEPTS,
        MDD_CONCEPT,
        cond,
        drug,
        duckdb_twin,
        frame,
        obs,
        omop_tables,
        person,
        toy_config,
        write_omop_tables,
    )

    from trd_spark.phenotypes import stage as st

    rows = [drug(1, NDC_SERTRALINE, "2020-01-01"), drug(2, LAB_SERTRALINE, "2020-01-01"),
            drug(3, NEW_SERTRALINE, "2020-01-01"), drug(3, DOXEPIN_CREAM, "2020-01-01")]
    cfg = toy_config()
    omop = omop_tables(spark, drugs=rows)
    omop["concept"] = frame(spark, "concept", [*CONCEPTS, *EXTRA_CONCEPTS])
    check = st.unreached_drug_check(cfg, st.study_vocabulary(omop, cfg))
    assert st.event_table_counts(omop, unreached=check).collect()[0][st.UNREACHED] == 1
    root = tmp_path / "omop"
    root.mkdir()
    write_omop_tables(root, {"person": [person(p) for p in (1, 2, 3)], "observation_period": [obs(p) for p in (1, 2, 3)],
                             "condition_occurrence": [cond(1, MDD_CONCEPT, "2019-01-01")], "drug_exposure": rows,
                             "concept": [*CONCEPTS, *EXTRA_CONCEPTS], "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY]})
    twin = duckdb_twin().duckdb_drop_counts(str(root), toy_config(path=str(root)), threads=1)
    assert twin["unreached_drug_records"] == {st.UNREACHED: 1}


def test_concept_0_records_are_not_records_of_an_unknown_concept(spark, tmp_path):
    """drug_exposure records of concept 0 (unmapped, their source concept set) in an export whose concept table
    has no row 0 (the tests' vocabulary; Athena's has one): counted as unmapped (n_drug_exposure), not as records
    of a concept the vocabulary lacks (0 is no concept_id; OHDSI DQD's isForeignKey skips it). test_vocab_s55 has
    no concept-0 record. Mutants k1 / k6 (concept 0 counted, chain / twin: the records counted twice and the
    gate unknown_concept_records stopping a run on an export's unmapped records) gave 2."""
    from test_phenotypes_support import (
        ANCESTRY,
        CONCEPTS,
        drug,
        duckdb_twin,
        obs,
        omop_tables,
        person,
        toy_config,
        write_omop_tables,
    )

    from trd_spark.phenotypes import stage as st

    rows = [(*drug(p, 0, "2020-01-01")[:8], 44_000_001) for p in (1, 2)]
    omop = omop_tables(spark, drugs=rows)
    row = st.event_table_counts(omop, unknown_concepts=True).collect()[0].asDict()
    assert (row["n_drug_exposure"], row[f"n_drug_exposure{st.UNKNOWN_SUFFIX}"]) == (2, 0)
    root = tmp_path / "omop"
    root.mkdir()
    write_omop_tables(root, {"person": [person(p) for p in (1, 2)], "observation_period": [obs(p) for p in (1, 2)],
                             "drug_exposure": rows, "concept": CONCEPTS,
                             "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY]})
    twin = duckdb_twin().duckdb_drop_counts(str(root), toy_config(path=str(root)), threads=1)
    assert twin[st.UNKNOWN_PART][f"n_drug_exposure{st.UNKNOWN_SUFFIX}"] == 0


def test_the_unknown_concept_gate_reads_the_table_of_the_largest_share():
    """``data_gates``' unknown_concept_records reads the event table whose share of records of a concept
    ``concept`` lacks is largest: condition_occurrence's 50 of 1,000 (5%) stop the run though drug_exposure
    has more such records (100 of 100,000: 0.1%). test_vocab_s55's drug table has both the largest count and
    share. Mutant k3 (the table of the largest count) let the run go on."""
    from test_phenotypes_support import toy_config
    from test_vocab_s55 import _quirks

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes import stage as st

    chain = {f"n_{t}{st.RECORDS_SUFFIX}": 0 for t in st.SOURCE_CONCEPT_OF}
    chain.update({f"n_drug_exposure{st.RECORDS_SUFFIX}": 100_000, f"n_condition_occurrence{st.RECORDS_SUFFIX}": 1000,
                  f"n_drug_exposure{st.UNKNOWN_SUFFIX}": 100, f"n_condition_occurrence{st.UNKNOWN_SUFFIX}": 50})
    dates, quirks = _quirks(chain, 90_000)
    with pytest.raises(InputDataError, match=r"gate unknown_concept_records: .* condition_occurrence records"):
        st.data_gates(toy_config(), dates, quirks)


def test_no_unreached_warning_without_unreached_records():
    """``unreached_drug_warnings`` says nothing when the count is 0 (the whole vocabulary, every run on
    Athena's table): test_ancestor_s55 calls it on a cut table only. Mutant u10 (the line at 0) warned every
    run of a partial concept_ancestor."""
    from trd_spark.phenotypes import stage as st

    assert st.unreached_drug_warnings({st.UNREACHED: 0}, T) == []
    assert len(st.unreached_drug_warnings({st.UNREACHED: 25}, T)) == 1


def test_the_name_pattern_takes_punctuation_literally():
    """``name_pattern`` escapes a name's punctuation: "vitamin B12 (cyanocobalamin)" is found as written, not
    as "vitamin B12 cyanocobalamin", and "St. John's wort" not in "StX John's wort". test_ancestor_s55's names
    read alike with the dot and parentheses unescaped (its "(sertraline)" is a concept name, not an ingredient's).
    Mutant u1 (no escaping: an ingredient name with a parenthesis is a group, one with an unbalanced one an
    invalid pattern)."""
    import re

    from trd_spark.phenotypes.concepts import name_pattern

    pattern = name_pattern(["vitamin B12 (cyanocobalamin)", "St. John's wort"])
    held = {"vitamin B12 (cyanocobalamin) 1 MG Oral Tablet": True, "vitamin B12 cyanocobalamin 1 MG": False,
            "St. John's wort 300 MG": True, "StX John's wort 300 MG": False}
    assert {n: bool(re.search(pattern, n)) for n in held} == held
