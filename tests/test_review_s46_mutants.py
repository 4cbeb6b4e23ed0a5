"""Mutation review of session 46's code (session 47, helper "review").

Each test kills mutants of d099127..1dcddaa (``trd_spark/``) that the tests of session 46 let pass
(named in each docstring). Cheap: pure functions and a few files in ``tmp_path``; no Spark, no stage
run. Mutants were one-line changes applied in scratch copies of 1dcddaa and run (``-x``, ``-n 0``)
against the modules named.

Mutant table (R39P/R39O/R38M: tests/test_field_cases_round39_{pgs,omop}, round38_models; matching_rows:
tests/test_pgs_matching_rows; "+ new": a test below kills it too). 48 mutants: 45 run (load 20-35 on the 2
cores), 29 killed, 16 survived; 3 not run. The 4 tests below kill the 11 meaningful survivors (p2 p4 p8 m1 m3
m5 b2 b3 b4 c6 c10; also p1 p7 p10 c8). Left: the equivalents p3 p5 p6 p9 l4 and k2 (cosmetic).
  id   change                                                          result
  p1   _alters_bases: a deletion's anchor base counted as changed      killed: R39P r1; + new
  p2   _alters_bases: an SNV at the very base not counted (o_end>start) survived R39P + matching_rows; new test
  p3   _alters_bases: '*' / symbolic alts not forced (~sequence)       survived R39P: equivalent (such an alt
                                                                         keeps its record's whole REF: overlaps)
  p4   _alters_bases: the whole-REF rule dropped (whole_ref[site] |)   survived R39P + matching_rows; new test
  p5   match_sites_frame: whole_ref ignores the position               survived R39P + matching_rows: equivalent
                                                                         where reachable (a match at the minimal
                                                                         locus with the REF's string is at its
                                                                         position)
  p6   match_sites_frame: a flipped effect allele not complemented     survived R39P + matching_rows: taken as
                                                                         equivalent (``complement`` is single-base: a
                                                                         longer flipped allele is never whole), which
                                                                         was the bug 88d0c1d fixed; killed since by
                                                                         test_field_cases_round39_pgs (either_strand)
  p7   _other_alt_rows: the rule not applied (every alt, as d099127)   killed: R39P r1 (d099127's rule); + new
  p8   _alters_bases: a one-base alt of another first base a deletion  survived R39P + matching_rows; new test
  p9   _alters_bases: an insertion's end q + len(ref) - 1              survived R39P: equivalent (an insertion's
                                                                         REF is one base)
  p10  _alters_bases: o_start < end                                    killed: R39P r3; + new
  m1   prefit_check: ``in_fit.any() and`` dropped                      survived leftovers_s46 + s45 + models_cox;
                                                                         new test
  m2   prefit_check: the negative-duration clause of in_fit dropped    killed: leftovers_s46
  m3   prefit_check: duration >= 0 -> > 0 in in_fit                    survived; new test
  m4   prefit_check: the covariates out of in_fit                      killed: leftovers_s46
  m5   prefit_check: the "no value in the frame" clause dropped        survived; new test
  o1   person_death_rows keeps the null dates                          killed: fixes_s46
  o2   read_omop: person.death_datetime rows not added                 killed: fixes_s46
  o3   read_omop: the "deaths are read from person" branch never taken killed: fixes_s46
  o4   read_omop: that branch on any person row (not a dated one)      killed: fixes_s46
  o5   first_death_dates: the latest date, not the earliest           killed: R39O (3902)
  o6   read_omop: person deaths added only when the death table is     killed: fixes_s46
       absent
  l1   run_stages: the per-stage upstream inputs check not called      killed: rerun_s46
  l2   that check over the closure of the whole run, not the stage     killed: rerun_s46
  l3   "earlier in this run" / "before this run" swapped               killed: rerun_s46
  l4   _check_inputs_as_published: fingerprint_parts without recorded  not run: equivalent (the default reads the
                                                                         same manifest's stat records)
  l5   that check only for upstream stages run in this run             killed: rerun_s46
  c1   pair_counts_audit: the prior relation dropped                   killed: privacy_s46
  c2   pair_counts_audit: the prior not known                          killed: privacy_s46
  c3   pair_counts_audit: the change not signed                        killed: privacy_s46 (LP infeasible)
  c13  pair_counts_audit: the change's sign flipped                    killed: privacy_s46
  c6   published_pair_counts: a comparison not for export read too     survived privacy_s46; new test
  c8   _published_comparisons: compare_history not read                killed: privacy_s46; + new
  c9   compare_releases_job: archive_comparison not called             killed: privacy_s46
  c10  published_pair_counts: the first numeric row of a table only    survived privacy_s46 + compare_suppression
                                                                         + privacy_s34; new test
  c12  compared_exports: manifest_sha256 None                          killed: privacy_s46
  c4   compare_releases: for_export ignores ``pinned``                 not run: the pinned path is this session's
  c5   pair_counts_audit: pinned always False                            leftovers2 work (test_leftovers2_s47)
  h1   format_p: 0 shown as "0"                                        killed: R38M
  h2   I² not multiplied by 100                                        killed: fixes2_s46
  h3   tau2 also in percent                                            killed: fixes2_s46
  b1   bonferroni_tests: every row a test                              killed: R38M
  b2   bonferroni_tests: the smallest m of the contrasts               survived R38M + fixes2 + report_html; new
  b3   bonferroni_tests: no p -> m 61                                  survived; new test
  b4   bonferroni_tests: "the most of any contrast" dropped            survived; new test
  f1   flow_labels: the age 18 whatever min_age_at_index               killed: fixes2_s46
  f2   flow_labels: after-exclusion labels from the ids                killed: fixes2_s46
  k1   cli headline: p as {:.2g} (0 as "0")                            killed: test_cli
  k2   cli headline: the p column one narrower                         survived: cosmetic (not pinned)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from test_leftovers_s46 import _frame

from trd_spark.vocabulary import ModelFailure


def test_a_ref_effect_allele_in_minimal_form_loses_the_alts_that_change_its_base_a_whole_ref_every_alt():
    """``matching._other_alt_rows`` (ca06e6a's ``_alters_bases``) on two records as Hail splits
    them (minimal alleles, the file's position and REF in ``site_position`` / ``site_ref``):

    - ``AT>GT,CT,A,AC,G,*`` at 1000, a score's SNV A/G matched on ``A>G`` with effect A, a part
      of the record's REF (``whole_ref`` False): it loses the alts that change the A, i.e. the
      SNV ``A>C`` at the same base, the complex ``AT>G`` (not anchored on the A: it replaces it)
      and ``*``; not the deletion ``AT>A`` (anchored on the A: kept) nor ``T>C`` at 1001.
    - ``ATG>ACG,ATC`` at 2000, effect ATG (the record's REF as written, ``whole_ref`` True),
      matched on ``T>C`` at 2001: plink2's rule, every other alt, also ``G>C`` at 2002 which
      does not touch the T.

    The rule is the docstring's (its SNV-beside-deletion part checked against plink2 on the
    normalised split by tests/test_field_cases_round39_pgs.py, which holds no SNV at the same
    base, no complex allele and no whole-REF site with an alt beside the matched one). Mutants:
    an SNV at the very base not counted (p2, ``o_end > start``: C carriers kept both A's; p10,
    ``o_start < end``), a one-base alt of another first base taken as a deletion (p8: the complex
    ``AT>G`` kept the A), the whole-REF rule dropped inside ``_alters_bases`` (p4: ``ATG`` lost
    only the alts over its minimal T), the anchor of a deletion counted (p1) and the rule not
    applied (p7)."""
    from trd_spark.pgs.matching import _other_alt_rows

    rows = pd.DataFrame({
        "contig": ["chr1"] * 8,
        "position": [1000, 1000, 1000, 1001, 1000, 1000, 2001, 2002],
        "ref": ["A", "A", "AT", "T", "AT", "AT", "T", "G"],
        "alt": ["G", "C", "A", "C", "G", "*", "C", "C"],
        "site_position": pd.array([1000] * 6 + [2000, 2000], dtype="Int64"),
        "site_ref": ["AT"] * 6 + ["ATG", "ATG"],
        "site_alt": ["GT", "CT", "A", "AC", "G", "*", "ACG", "ATC"],
    })
    other = _other_alt_rows(rows, np.array([0, 6]), np.array([True, True]), np.array([False, True]))
    assert list(other) == [(1, 4, 5), (7,)]
    # Without ``whole_ref`` (every site its record's REF as written): every other alt, as before.
    assert list(_other_alt_rows(rows, np.array([0, 6]), np.array([True, True]))) == [(1, 2, 3, 4, 5), (7,)]


def test_prefit_blames_the_pgs_only_for_the_fits_persons_a_duration_of_0_is_in_the_fit():
    """``models.covariates.prefit_check`` (f877c4f judges "no PGS value" on the fit's rows):

    - no person with an outcome leaves no fit at all: too few cases, n = 0, not
      ``PGS_ZERO_VARIANCE`` for a PGS that has values (mutant: ``in_fit.any() and`` dropped,
      every score of such a model blamed on its PGS, m1); a PGS with no value for anyone there
      is still ``PGS_ZERO_VARIANCE`` (mutant m5: the "no value in the frame" clause dropped).
      (Session 46 made that model a covariate missing for every person, pc1; since 8d4e57b such
      a covariate is dropped, noted, and the PGS fitted: asserted here too.)
    - Cox: a person with duration 0 (followed up to the day of the index, as after a death on
      that day) is in the fit (lifelines takes durations >= 0; only a negative one is left out,
      NEGATIVE_DURATION_NOTE); a PGS finite only for such persons is fitted on them, not a zero
      variance (mutant m3: ``>= 0`` -> ``> 0``: ``PGS_ZERO_VARIANCE`` with n 60)."""
    from trd_spark.models.covariates import EMPTY_COVARIATE_NOTE, prefit_check

    covariates = ["age", "sex_female", "pc1"]
    empty_pc = _frame(seed=47).assign(pc1=np.nan)
    got = prefit_check(empty_pc, "PGS_A", covariates, outcome="case", min_cases=5)
    assert got.failure is None and got.n == len(empty_pc) and got.covariates == ["age", "sex_female"]
    assert any(n.startswith(EMPTY_COVARIATE_NOTE) for n in got.notes), got.notes
    frame = _frame(seed=47).assign(case=np.nan)
    got = prefit_check(frame, "PGS_A", covariates, outcome="case", min_cases=5)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.TOO_FEW_CASES, 0, 0)
    # The same with a PGS that has no value for anyone: the PGS is named (step 1's first clause).
    got = prefit_check(frame.assign(PGS_A=np.nan), "PGS_A", covariates, outcome="case", min_cases=5)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, 0, 0)

    cox = _frame(seed=47)
    zero = cox.index < 20
    cox.loc[zero, "time"] = 0.0
    cox.loc[~zero, "PGS_A"] = np.nan
    got = prefit_check(cox, "PGS_A", covariates, outcome="case", duration="time", min_cases=5)
    assert got.failure != ModelFailure.PGS_ZERO_VARIANCE and (got.n, got.n_cases) == (20, 10)


def test_the_bonferroni_line_takes_the_largest_m_of_the_contrasts():
    """``report.stage.bonferroni_tests`` (ea13cbc): four scores, contrasts with 3 and 2 fits with
    a p-value (a failed fit, None, and a p the export hides, ``""``, are no test): m = 3, the
    strictest line, and the caption says it is the most of any contrast; one contrast alone: its
    m, no such words; no p at all: 1. Session 46's test had one contrast. Mutants: the smallest m
    (b2, alpha/2: a score significant in the first contrast's table lay above the line); the
    caption's clause dropped (b4); 61 tests without a p (b3)."""
    from trd_spark.report.stage import bonferroni_tests

    results = pd.DataFrame({"contrast": ["trd_vs_nonmdd"] * 4 + ["trd_vs_trmdd"] * 4,
                            "pgs_id": ["P1", "P2", "P3", "P4"] * 2,
                            "p": [0.01, 0.2, 0.4, None, 0.01, 0.3, "", None]})
    assert bonferroni_tests(results) == (3, "m = 3 fits with a p-value, the most of any contrast")
    assert bonferroni_tests(results[results["contrast"] == "trd_vs_trmdd"]) == (2, "m = 2 fits with a p-value")
    assert bonferroni_tests(results.assign(p=None)) == (1, "no fit with a p-value")


def _comparison(folder: Path, for_export: bool, compared: dict | None, rows: list[tuple[str, str, str]]) -> None:
    folder.mkdir(parents=True)
    (folder / "pgs_correlation.tsv").write_text(
        "dataset\tpgs_id\tn_both\tcorrelation\n" + "".join(f"{d}\t{p}\t{n}\t0.99\n" for d, p, n in rows))
    record = {"for_export": for_export, "small_count_threshold": 20, "note": "x"}
    if compared is not None:
        record["compared_exports"] = compared
    (folder / "_disclosure.json").write_text(json.dumps(record))


def test_every_shown_n_both_of_every_published_comparison_is_a_prior(tmp_path):
    """``report.compare.published_pair_counts`` (d184bd4) over an output root with
    ``compare/r1_vs_r2`` (for export, of the exports X: two datasets' numbers and a label),
    ``compare/r1_vs_r3`` (not for export: stays on the workbench) and a kept
    ``compare_history/r1_vs_r2/<digest>/`` (an older export of r2): every number of every
    comparison for export is a prior (not the label), none of one not for export, and none of
    the one that compared the very exports now compared. Session 46's test had one row per
    table. Mutants: the first row of a table only (c10: the 311 of dataset e, and so its change
    across comparisons, went unaudited); the not-for-export rule dropped (c6: a workbench-only
    comparison's counts hid shown ones); the history not read (c8)."""
    from trd_spark.io import LocalFs
    from trd_spark.report.compare import published_pair_counts

    x = {"a": {"release": "r1", "run_id": "1", "manifest_sha256": "x"}, "b": {"release": "r2", "run_id": "2",
                                                                              "manifest_sha256": "x"}}
    y = {**x, "b": {"release": "r2", "run_id": "3", "manifest_sha256": "y"}}
    _comparison(tmp_path / "compare" / "r1_vs_r2", True, x, [("d", "P1", "480"), ("d", "P2", "<20"),
                                                             ("e", "P1", "311")])
    _comparison(tmp_path / "compare" / "r1_vs_r3", False, None, [("d", "P1", "999")])
    _comparison(tmp_path / "compare_history" / "r1_vs_r2" / "0123abcd", True, None, [("d", "P1", "470")])
    fs = LocalFs()
    got = published_pair_counts(fs, str(tmp_path), y)
    assert sorted(map(tuple, got[["dataset", "pgs_id", "n_both", "source"]].to_numpy().tolist())) == [
        ("d", "P1", 470, "r1_vs_r2@0123abcd"), ("d", "P1", 480, "r1_vs_r2"), ("e", "P1", 311, "r1_vs_r2")]
    # The exports X compared again: the current folder is their own counts, recomputed.
    assert list(published_pair_counts(fs, str(tmp_path), x)["n_both"]) == [470]
