"""Mutation review of session 49's code (session 50, helper "review").

Each test kills mutants of 241c7d9..b1d6bac (``trd_spark/``) that the tests of session 49 let pass
(named in each docstring; each shown failing on its mutant and passing on b1d6bac). Cheap: pure
functions, a few files in ``tmp_path``, one tiny frame and one folder write on the shared Spark
session; no stage run. Mutants were one-line changes applied in scratch copies of b1d6bac and run
(``-x``, ``-n 0``, load 15-70 on the 2 cores) against the modules named.

Modules: MOD (test_field_cases_round41_models, test_models_logistic::..._fitted_at_its_limit,
test_models_cox::..._fitted_at_its_limit), PGS (test_field_cases_round43_pgs, test_pgs_scoring_files -k
"comment or line or malformed or blank or agree"), STD (test_cohort_standardise,
test_field_cases_round37_models, -k "ancestry or overall"), R40M (test_field_cases_round40_models -k
tie_heavy, or distinct too), CMP (test_rerun_s49's first test, test_privacy_s49, test_rerun_s48; CMP+:
all of test_rerun_s49), R43O / R42O (test_field_cases_round43_omop / ..._round42_omop, judged by reading
their case data: a run of the chain per mutant did not fit the session); "new": a test below.
  id   change                                                     result
  m1   empty_cell: any 2-valued covariate read as 0/1             survived MOD; new
  m2   empty_cell: the other value's controls not required        survived MOD; new
       (logistic)
  m3   empty_cell: Cox also requires a non-event at the other     survived MOD; new
       value
  m4   empty_cell: only the value 1 looked at                     killed: MOD
  m5   empty_cell: Cox with every person at one value an event    survived MOD; new
       taken as empty
  m6   empty_cell: Cox's empty cell named a case                  killed: MOD
  m7   prefit: the persons at the empty value kept                killed: MOD
  m8   prefit: the covariate not dropped                          killed: MOD
  m9   prefit note: the value left out named as the one fitted    killed: MOD
  m10  prefit: a covariate constant among the persons kept not    survived MOD; new
       dropped
  m11  prefit: no case at a value: the cases counted, not the     survived MOD; new
       controls
  m12  prefit: min_cases among them off by one                    survived MOD; new
  m13  prefit: too few controls among them reported as too few    survived MOD; new
       cases
  m14  prefit: the PGS's variance among them not checked          survived MOD; new
  m15  prefit: the rank check's design of the model's n rows      killed: MOD
  m16  fit_logistic: the design of n rows                         killed: MOD
  m17  prefit: Cox's cells judged as logistic's                   killed: MOD
  s1   difference: a failed fit's limit note read                 survived MOD; equivalent (a failed fit's z is not
                                                                  finite: its "fit failed" note comes first)
  s2   difference: a trMDD fit at its limit not said              survived MOD; new
  s3   replication: the limit note not said                       killed: MOD
  s4   meta: the limit datasets of every row of the table         killed: MOD
  s5   meta: the note only for two limit fits                     killed: MOD
  s6   meta_analyse: fixed k=1 tau2 NaN                           killed: MOD
  s7   meta_analyse: random k=1 tau2 0                            killed: MOD
  p1   a '#' first row (fast path) not looked for                 killed: PGS
  p2   a '#' row after the first (fast path) not looked for       killed: PGS
  p3   the note's first commented line off by one                 killed: PGS
  p4   rows after a comment numbered as if it were not there      killed: PGS
  p5   a comment last reads as a file cut short                   killed: PGS
  p6   the note says onwards for one row                          survived PGS; new
  p7   a field-count error after a comment names the wrong line   survived PGS; new
  p8   pandas' field-count error line off by one                  survived PGS; equivalent (field counts are checked line
                                                                  by line before pandas reads: unreachable)
  p9   the empty-file error does not say rows were commented      killed: PGS
  p10  one commented row not noted                                survived PGS; new
  a1   a group of exactly T falls back                            killed: STD
  a2   the small groups z-scored over themselves pooled           killed: STD
  a3   a small group matched in every dataset                     killed: STD
  a4   no fallback at all                                         killed: STD
  a5   no WARNING                                                 killed: STD
  t1   tie_heavy: a small group without ties flagged              survived R40M; new
  t2   tie_heavy: exactly T persons off the tie flagged           survived R40M; new
  t3   tie_heavy: the group alone flagged, not its score          killed: R40M
  t4   tie_heavy: flagged across datasets                         survived R40M; new
  t5   suppress: tie-heavy not read                               killed: R40M
  t6   pgs_distribution: the smallest tie                         killed: R40M
  t7   pgs_distribution: ties on unrounded values                 killed: R40M
  c1   a phenotypes rerun marks nothing                           survived CMP; new
  c2   a phenotypes rerun not judged                              survived CMP; new
  c3   the exported estimates not part of the identity            survived CMP; new
  c4   the report's shown scored persons not judged               survived CMP; new
  c5   a marked comparison current again                          killed: CMP
  c6   marked again (was_for_export then false)                   killed: CMP
  c7   a comparison never for export marked as published          survived CMP; new
  c8   was_published: a marked one not                            killed: CMP
  c9   archive_comparison: a marked one not kept                  survived CMP; new
  c10  inputs read after the tables                               killed: CMP+
  c11  prior_pair_counts: an audit root not checked               killed: CMP
  c12  prior_pair_counts: the audit roots not read                killed: CMP
  c13  an incomplete pgs output not said                          survived CMP; equivalent in effect (an output without
                                                                  its markers has no manifest: its run id None, out of
                                                                  date all the same)
  c14  mark_comparisons after every stage                         killed: CMP
  c15  the closing WARNING after any stage                        survived CMP; low (a WARNING repeated after a run of
                                                                  other stages for a comparison still out of date)
  c16  run_stage does not mark                                    survived CMP; killed by test_pipeline_e2e by reading
                                                                  (its threshold rerun's marked _disclosure.json); not run
  o1   a box read as units                                        read: killed by R43O (4306, the box: 1.7 mg/day, trMDD)
  o2   an amount without its unit unknown                         read: killed by R42O (its drug_strength has no unit
                                                                  column: quetiapine 25 mg unknown)
  o3   a concentration per any denominator unit (mg/g, mg/h)      read: R43O has no mg/g strength; new
  o4   a concentration in any numerator unit (ug/mL)              read: killed by R43O (4305's ug read as mg:
                                                                  n_dose_unknown 3)
  o5   two strength rows: the smallest kept                       read: R43O has one strength row a pair; new
  o6   daily_dose: days_supply of exactly max_days_supply unknown read: R43O's supplies are 30, 60, 3000; new
  o7   augmentation dose with an implausible days_supply          read: killed by R43O (4312: 3 mg/day, no augmentation)
  o8   exposure_record_counts without the days_supply limit       read: killed by R43O (4311 below: n_below_min_dose 3)
  o9   min_dose_record_counts without the days_supply limit       read: killed by R43O (4312 below)
  o10  trials without the days_supply limit                       read: killed by R43O (4311: trMDD)
  o11  dose_form_ids: members excluded by code not counted        read: survives R43O (its cream is not the set's excluded
                                                                  code 1000091); low: a count only
  o12  dose_form_records: persons as records                      read: killed by R43O (persons 3, not 2)
  o13  run(): the dose-form counts not asked                      read: survives (no test runs the stage with the case;
                                                                  stage_counts is called directly); no cheap test
  o14  drug_strength's new columns required                       read: killed by R42O (its drug_strength has the amount
                                                                  only)
76 written: 62 run against the modules, 35 killed, 27 survived; 14 judged by reading (o1-o14). The 8 tests
(12 cases) below kill the 22 meaningful survivors (m1 m2 m3 m5 m10-m14 s2 p6 p7 p10 t1 t2 t4 c1-c4 c7 c9)
and o3 o5 o6. Equivalent: s1 p8 c13. Left without a test: c15 (low), o11 (low), c16 (the e2e test's),
o13 (needs the phenotypes stage run on a case with a dose-form set, as t8 of the session 49 review).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from trd_spark.vocabulary import ModelFailure

# ---------------------------------------------------------------- models: a fit at its limit


def _cells(x: list[float], y: list[float], col: str = "sex_female") -> pd.DataFrame:
    return pd.DataFrame({col: np.asarray(x, dtype=float), "case": np.asarray(y, dtype=float)})


@pytest.mark.parametrize(("data", "cox", "want"), [
    # a 1/2-coded covariate is no 0/1 one: nothing to fit at a limit (m1: any 2-valued one read as
    # 0/1, its "value 0" (nobody) an empty cell: the covariate dropped, silently)
    (_cells([1, 1, 1, 2, 2, 2], [0, 1, 0, 0, 0, 0], "batch"), False, None),
    # sex separating cases from controls whole (every woman a case, every man a control): no limit
    # fit, prefit_check's perfect separation says why (m2: the other value's controls not required)
    (_cells([1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]), False, None),
    # Cox: every woman an event is no empty cell (events at several times; m5: taken as "no control")
    (_cells([1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 1, 0]), True, None),
    # Cox: every man an event, no woman's: fitted among the men (m3: a non-event required among them)
    (_cells([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]), True, ("sex_female", 1.0, "event")),
])
def test_empty_cell_is_a_0_1_covariate_without_an_outcome_at_one_value_only(data, cox, want):
    """``models.covariates.empty_cell`` on hand-read cells: the round-41 tests have sex coded 0/1,
    with cases and controls at the other value, and Cox with no event among one sex; these are
    the cells around them."""
    from trd_spark.models.covariates import empty_cell

    assert empty_cell(data, [data.columns[0]], "case", cox=cox) == want


def _limit_frame(n_male_controls: int, *, pgs_constant_among_men: bool = False) -> pd.DataFrame:
    """30 women without a case (the empty cell) and 40 men, ``n_male_controls`` of them controls;
    ``batch`` 1 for every man and 0/1 among women; a PGS that overlaps between cases and controls."""
    rng = np.random.default_rng(50)
    n_men = 40
    men = pd.DataFrame({"sex_female": 0.0, "batch": 1.0, "age": rng.normal(50, 10, n_men),
                        "PGS": 0.0 if pgs_constant_among_men else rng.normal(size=n_men),
                        "case": np.r_[np.zeros(n_male_controls), np.ones(n_men - n_male_controls)]})
    women = pd.DataFrame({"sex_female": 1.0, "batch": np.arange(30) % 2 * 1.0, "age": rng.normal(50, 10, 30),
                          "PGS": rng.normal(size=30), "case": 0.0})
    return pd.concat([men, women], ignore_index=True)


def test_a_limit_fit_counts_and_checks_again_what_it_keeps():
    """``models.covariates.prefit_check`` at the limit (no case among women: the men are fitted):
    - 4 male controls under min_cases 5: too few controls among them, TOO_FEW_CONTROLS (m11: the
      men's cases counted instead, all kept: fitted on 4 controls; m13: reported as too few cases);
    - exactly 5: fitted (m12: ``within <= min_cases``);
    - ``batch`` 1 for every man: dropped among them, noted (m10: kept, the design singular and
      every PGS a failed row);
    - a PGS constant among the men: PGS_ZERO_VARIANCE (m14: unchecked, SINGULAR_DESIGN)."""
    from trd_spark.models.covariates import prefit_check

    covs = ["age", "sex_female", "batch"]
    few = prefit_check(_limit_frame(4), "PGS", covs, outcome="case", min_cases=5)
    assert few.failure == ModelFailure.TOO_FEW_CONTROLS and few.failure_note.startswith("too few controls among them")
    assert (few.n, few.n_cases) == (70, 36)  # the model's persons, as fitted at the limit
    five = prefit_check(_limit_frame(5), "PGS", covs, outcome="case", min_cases=5)
    assert five.failure is None and len(five.data) == 40 and five.covariates == ["age"], five
    assert "dropped constant covariate(s) among them: batch" in five.notes
    flat = prefit_check(_limit_frame(10, pgs_constant_among_men=True), "PGS", covs, outcome="case", min_cases=5)
    assert flat.failure == ModelFailure.PGS_ZERO_VARIANCE and flat.failure_note == "PGS has zero variance among them"


def test_a_difference_built_on_a_trmdd_fit_at_its_limit_says_so():
    """``models.synthesis.difference_table``: the trMDD vs non-MDD fit at its limit (no trMDD woman),
    the TRD one of both sexes. Mutant s2 (only the TRD fit's limit read) survived
    tests/test_field_cases_round41_models.py, whose limit fit is the TRD one."""
    from trd_spark.models.synthesis import difference_table

    limit = ("no case at sex_female = 1: the PGS estimated among sex_female = 0 (the fit's limit: sex_female's "
             "coefficient is infinite and its persons at 1 add nothing)")
    logistic = pd.DataFrame({
        "dataset": "d", "definition": "ad3", "pgs_id": "P1", "trait": "t", "domain": "psychiatric",
        "contrast": ["trd_vs_nonmdd", "trmdd_vs_nonmdd"], "converged": True, "beta": [0.3, 0.1],
        "se": [0.1, 0.05], "p": [0.003, 0.05], "note": ["", limit]})
    note = difference_table(logistic)["note"].tolist()
    assert note == ["a TRD or trMDD vs non-MDD fit is estimated among the persons at one value of a 0/1 covariate "
                    "(its note)"]


# ---------------------------------------------------------------- report: tie-heavy scores


def test_tie_heavy_scores_reads_each_group_of_its_dataset_with_ties_below_the_threshold():
    """``report.tables.tie_heavy_scores`` with T = 20 on hand-read rows (n persons, the largest tie):
    - P1: EAS 15 persons of 15 values (no tie) beside EUR's 500: a small group of a continuous
      score, no carriers to count: shown (t1: the ``tie > 1`` condition dropped hid every
      statistic of a continuous score with one small group);
    - P2: exactly 20 persons off a tie of 18: shown (t2: ``n - tie <= threshold``);
    - P3 in d: 19 off a tie of 18, hidden; P3 in e (500 persons, no tie) is another dataset's and
      stays (t4: flagged across datasets).
    The ties are under half their groups: a tie of half or more is flagged whatever is off it
    (session 51, tests/test_privacy_s51.py; this test had 500 of 520 for P2 before).
    tests/test_field_cases_round40_models.py has one dataset and no small group."""
    from trd_spark.report.tables import tie_heavy_scores

    dist = pd.DataFrame(
        [("d", "eas", "P1", 15, 1), ("d", "eur", "P1", 500, 1), ("d", "eur", "P2", 38, 18),
         ("d", "eur", "P3", 37, 18), ("e", "eur", "P3", 500, 1)],
        columns=["dataset", "ancestry", "pgs_id", "n", "n_largest_tie"])
    assert tie_heavy_scores(dist, 20).tolist() == [False, False, False, True, False]


# ---------------------------------------------------------------- pgs: commented-out rows

HEAD = ["#pgs_id=PGS990433", "#genome_build=GRCh38", "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_one_commented_row_is_noted_and_a_later_short_row_named_by_its_own_line(newline):
    """``pgs.scoring_files.parse_scoring_file``: one '#' row (line 5) is noted on its own ("line 5",
    not "onwards": p6; p10: one row not noted at all), and a row short of a field after it is named
    by its own line, 7 (p7: the line counted without the comment, 6). tests/test_field_cases_round43_
    pgs.py has two commented rows and a bad allele (read after the rows), not a field-count error."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    rows = ["1\t100\tA\tG\t0.5", "#1\t150\tA\tG\t0.7", "1\t200\tC\tT\t1.0"]
    sf = parse_scoring_file(newline.join([*HEAD, *rows]) + newline, source="a.txt")
    assert sf.variants["line"].tolist() == [4, 6]
    assert "1 variant row commented out ('#' first, line 5) left out, as pgsc_calc's reader skips them" in sf.notes
    with pytest.raises(InputDataError, match=r"^b\.txt:7: expected 5 tab-separated fields, saw 4"):
        parse_scoring_file(newline.join([*HEAD, *rows, "1\t300\tG\t0.2", "1\t400\tT\tC\t0.1"]) + newline,
                           source="b.txt")


# ---------------------------------------------------------------- compare-releases: out of date


def _compared(root: str, *, for_export: bool = True) -> dict:
    """A comparison of A and B under ``root`` as compare-releases records it (n_both 480), its
    ``_disclosure.json`` returned (``test_rerun_s49.write_comparison``)."""
    from test_rerun_s49 import write_comparison

    return write_comparison(root, for_export=for_export)


def _report_shows(root: str, release: str, datasets: list[str]) -> None:
    """The release's report manifest records that its report.html shows the scored persons of
    ``datasets`` (``tables.hidden_counts``' REPORT_SHOWS entries, as ``compare.scored_persons_shown`` reads them)."""
    from trd_spark.layout import MANIFEST
    from trd_spark.report.tables import REPORT_SHOWS
    from trd_spark.vocabulary import ALL_DEFINITIONS, DatasetFlowStep

    path = os.path.join(root, release, "report", MANIFEST)
    with open(path) as f:
        manifest = json.load(f)
    manifest["notes"] = {"hidden_counts_format": 1, "hidden_counts": [
        [REPORT_SHOWS, "dflow", d, ALL_DEFINITIONS, str(DatasetFlowStep.WITH_PGS), "480"] for d in datasets]}
    with open(path, "w") as f:
        json.dump(manifest, f)


def test_a_comparison_is_out_of_date_after_a_phenotypes_rerun_other_estimates_or_other_shown_persons(tmp_path):
    """``report.compare``: what a comparison's numbers come from besides the pgs run
    (tests/test_rerun_s49.py reruns pgs and changes the threshold only):
    - B's phenotypes stage rerun (the cohort flow it audits): out of date (c2: not judged), and
      that stage's run marks it not for export (c1: ``COMPARED_STAGES`` without phenotypes: its
      ``_disclosure.json`` kept saying ``for_export: true``);
    - B re-exported with other estimates (results.tsv), the same threshold: out of date (c3: the
      exported models' files not in the identity: estimates.tsv of the earlier ORs read as current);
    - B's report showing the scored persons of another dataset (n_both's audit): out of date
      (c4: not judged)."""
    from test_rerun_s49 import TABLES, A, B, _publish

    from trd_spark import pipeline
    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs
    from trd_spark.report import compare

    fs = LocalFs()
    cases = {"phenotypes": (lambda root: _publish(root, B, {"phenotypes": "phenotypes-2"}),
                            f"{B}'s phenotypes stage was rerun since (the comparison read its output of run "
                            "phenotypes-1, now phenotypes-2)"),
             "estimates": (lambda root: _publish(root, B, {"report": "report-2"}, tables={
                               **TABLES, "results.tsv": TABLES["results.tsv"].replace("1.2\t1.1\t1.3", "1.5\t1.3\t1.7")}),
                           f"{B} was exported again since with other tables"),
             "shown": (lambda root: _report_shows(root, B, ["d", "e"]),
                       f"{B}'s report shows the scored persons of other datasets since")}
    for case, (change, why) in cases.items():
        root = str(tmp_path / case)
        for r in (A, B):
            _publish(root, r, {})
        _report_shows(root, B, ["d"])
        _compared(root)
        assert compare.out_of_date_comparisons(fs, root) == [], case
        change(root)
        if case != "shown":  # _publish rewrote the report manifest: the same shown persons again
            _report_shows(root, B, ["d"])
        lines = compare.out_of_date_comparisons(fs, root)
        assert len(lines) == 1 and why in lines[0] and lines[0].count(" since") == 1, (case, lines)
    cfg = load_config(None, overrides={"output_root": str(tmp_path / "phenotypes"), "release": B, "toy_data": None,
                                       "releases": {"input_root": str(tmp_path / "inputs")}})
    pipeline.mark_comparisons(None, cfg, "phenotypes")
    with open(tmp_path / "phenotypes" / compare.COMPARE / f"{A}_vs_{B}" / compare.DISCLOSURE) as f:
        marked = json.load(f)
    assert marked["for_export"] is False and marked[compare.WAS_FOR_EXPORT] is True, marked


def test_a_marked_comparison_is_kept_for_the_audits_only_if_it_was_published(spark, tmp_path):
    """``compare.mark_out_of_date_comparisons`` / ``archive_comparison`` after B's pgs rerun:
    - one published when made, marked since (``for_export`` false): compare-releases replacing it
      keeps it in compare_history/ for later audits (c9: ``for_export`` read, not ``was_published``:
      dropped, its n_both 480 gone from the audits, and the pair rerun without 7 persons showed 473);
    - one never for export (its n_both never left the workbench): marked with ``was_for_export``
      false, not read by the audits (c7: ``was_for_export`` true whatever it was).
    ``archive_comparison`` writes through Spark's file system, as compare-releases calls it."""
    from test_rerun_s49 import A, B, _publish

    from trd_spark.io import Fs
    from trd_spark.releases import LocalFs
    from trd_spark.report import compare

    fs = LocalFs()
    for case, published in (("published", True), ("workbench", False)):
        root = str(tmp_path / case)
        for r in (A, B):
            _publish(root, r, {})
        made = _compared(root, for_export=published)
        _publish(root, B, {"pgs": "pgs-2"})
        assert len(compare.mark_out_of_date_comparisons(fs, root, B)) == 1
        with open(os.path.join(root, compare.COMPARE, f"{A}_vs_{B}", compare.DISCLOSURE)) as f:
            marked = json.load(f)
        assert marked["for_export"] is False and marked[compare.WAS_FOR_EXPORT] is published, marked
        other = {t: {**v, "run_id": "other"} for t, v in made[compare.COMPARED_EXPORTS].items()}
        assert list(compare.published_pair_counts(fs, root, other)["n_both"]) == ([480] if published else [])
        kept = compare.archive_comparison(Fs(spark), root, f"{A}_vs_{B}", other)
        assert (kept is not None) is published, kept
        if published:
            assert os.path.exists(os.path.join(kept, "pgs_correlation.tsv"))


# ---------------------------------------------------------------- phenotypes: mg per unit


def test_mg_per_unit_is_a_mg_amount_or_a_mg_per_ml_concentration_and_the_largest_of_two_rows(spark):
    """``phenotypes.stage.drug_strength_amounts`` (``strength_per_unit_expr``) on one tiny frame and
    ``trials.daily_dose_expr`` at the days_supply bound:
    - a cream's 50 mg per g (denominator gram 8504): no mg per unit (o3: any denominator unit read,
      a gram of cream as a mL);
    - two amount rows of one pair (25 and 50 mg; not allowed by the CDM): the largest kept, as
      documented (o5: the smallest);
    - a liquid's 20 mg per mL: 20; an amount without its unit (an older drug_strength): 100;
    - a days_supply of exactly ``max_days_supply`` (365) is plausible: a dose (o6: ``<``, unknown).
    tests/test_field_cases_round43_omop.py's liquids are per mL, one row per pair, and 60 or 3000 days."""
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.stage import drug_strength_amounts
    from trd_spark.phenotypes.trials import daily_dose_expr

    mg, ml, gram = 8576, 8587, 8504
    rows = [(1, 9, None, None, 50.0, mg, gram, None), (2, 9, 25.0, mg, None, None, None, None),
            (2, 9, 50.0, mg, None, None, None, None), (3, 9, None, None, 20.0, mg, ml, None),
            (4, 9, 100.0, None, None, None, None, None)]
    ds = spark.createDataFrame(rows, "drug_concept_id long, ingredient_concept_id long, amount_value double, "
                                     "amount_unit_concept_id long, numerator_value double, numerator_unit_concept_id "
                                     "long, denominator_unit_concept_id long, box_size int")
    got = drug_strength_amounts(ds, [(d, 9, "x") for d in (1, 2, 3, 4)], {9: 50.0})
    assert got == {(2, 9): 50.0, (3, 9): 20.0, (4, 9): 100.0}
    dose = ds.limit(1).select(daily_dose_expr(F.lit(365.0), F.lit(50.0), F.lit(365), 365).alias("d")).first()["d"]
    assert dose == 50.0
