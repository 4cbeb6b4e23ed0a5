"""Mutation review of session 51's code (session 52, helper "review51").

Each test kills mutants of acba4e2..173ccde (``trd_spark/``: the quantified liquid's dose reading
3f225b4, the age checks 5b22a59, the uncalled k-allele site in any row order 4891149, privacy round 8
813d96e / 2fcafe8, releases.input_root d6e26e2, the CLI's headline 729c8c5 / 67db002 / 74f4b03) that
session 51's tests let pass (named in each docstring; each shown failing on its mutant and passing on
HEAD). Mutants were one-line changes applied in scratch worktrees of 173ccde
(/tmp/s52/review51/) and run (``-x``, ``-n 0``, nice'd; load 20-56 on the 2 cores: 0.5-12 min a
run) against the modules named; each run stopped at its first failing module.

Modules: LIQU (test_cohortgaps_s51 -k mg_per_unit), LIQ (test_cohortgaps_s51 -k liquid: the chain and
the DuckDB twin on round 43's case plus 4313, 12 min a run), R43 (test_field_cases_round43_omop), AGES
(test_cohortgaps_s51 -k distributed), AGEP (its pandas models test), UNCU (the no_call_dosages unit
tests of test_uncalled_s50 / s51), UNCR (those modules whole: the native and Hail routes), PRIV
(test_privacy_s51 but its Spark test), PRIVC (that test), S49 (test_review_s49_mutants), REL
(test_releases_root_s51, test_releases), NEW (test_newuser_s51); "read": judged by reading the
module's case and assertions (a LIQ run took 12 min under this load); "new": a test below.
  id   change                                   result
  q1   items: the mg per mL                     killed: LIQU
  q2   ml: the mg per item                      killed: LIQU
  q3   items_or_ml: low and high swapped        killed: LIQU
  q4   items_or_ml: low the mg per item         killed: LIQU
  q5   items_or_ml: (per mL, per item) without  survived LIQU+LIQ; new
       least/greatest
  q6   non-quantified liquid: no mg per unit    killed: LIQU
  q7   denominator 0 taken (den >= 0)           killed: LIQU
  q8   a negative denominator taken             read: survives LIQU and LIQ (no negative denominator in
                                                their data); new
  q9   concentration's units not checked        read: killed by LIQ (round 43's 2000004303, 20,000 ug per
                                                mL, read as mg: a known dose, n_dose_unknown not 6)
  q10  mg OR mL unit                            read: killed by LIQ (as q9: ug over mL passes an OR)
  q11  box not null                             read: killed by LIQ (round 43's boxed 2000004304 read as 50
                                                mg per unit: a known dose, n_dose_unknown not 6)
  q12  bounds: smallest high kept               read: survives LIQU and LIQ (one drug_strength row per
                                                pair); new
  q13  bounds: largest low kept                 read: survives LIQU and LIQ (as q12); new
  q14  bounds: a low equal to its high kept     killed: LIQU
  q15  bounds: low never kept                   read: killed by LIQU (its items_or_ml case expects the
                                                bottle's low)
  q16  dosed frame: lows not carried            read: killed by LIQ (4303 and 4313 of known dose:
                                                n_dose_unknown 4, not 6)
  q17  dosed frame: the reading not passed      read: killed by LIQ (the ml run reads items_or_ml: 4313 TRD
                                                with 3 trials, not trMDD)
  q18  flags: low's unknown not flagged         read: killed by LIQ (as q16)
  q19  flags: a below record flagged unknown    read: killed by LIQ (4304, below both ways, also unknown:
       too                                      n_dose_unknown 7)
  q20  flags: low at the minimum unknown        read: survives LIQ (no record whose mL reading is exactly
                                                the minimum); new
  q21  flags: low without fallback to           equivalent (a null low leaves the record's dose its only
       amount_value                             reading: ~below & dose < min is false)
  q22  flags: low from amount_value only        read: killed by LIQ (as q16)
  q23  ingredient_frame: low = the high amount  read: killed by LIQ (as q16)
  q24  config default items                     read: killed by LIQ (the default run reads items: 4313 of
                                                known dose 2,400 mg, n_dose_unknown 4)
  q25  omop: denominator_value not read         read: killed by LIQ (no quantified liquid: the bottle's
                                                1,200 mg per mL-unit read in both runs; the ml run's 4313
                                                TRD)
  a1   frame ages: NaN not made null            survived AGES; equivalent in effect (Spark orders NaN above
                                                every double: NaN > 120 is true, so a NaN age is refused all
                                                the same)
  a2   frame ages: below 0 not checked          survived AGES; new
  a3   frame ages: 120 refused                  survived AGES; new
  a4   frame ages: index age of any status      killed: AGES
  a5   frame ages: rows counted, not persons    survived AGES; new
  a6   frame ages: one person let through       killed: AGES
  a7   cohort run: no check                     read: survives AGES (the test calls check_frame_ages itself;
                                                no test ran the cohort stage on such a frame); new
  a8   cohort run: count not as label           read: survives AGES (as a7); new
  a9   check_age_ranges: missing not raised     killed: AGEP
  a10  age_columns_missing: cox age over every  killed: AGEP
       status
  a11  age_columns_missing: all, not any        killed: AGEP
  a12  age_columns_missing: age over MDD        killed: AGEP
       statuses only
  a13  check_analysis_frame: missing not passed killed: AGEP
  a14  spark: missing not passed                read: killed by AGES (its ModelError for age_at_index comes
                                                from age_missing only)
  a15  spark: NaN not a missing value           read: killed by AGES (its index age is NaN)
  a16  spark: age judged over MDD statuses only read: survives AGES (its null is an index age of an MDD
                                                person); new
  a17  spark: cox age judged over every status  read: killed by AGES (the plausible frame's non-MDD null
                                                index age refused)
  n1   used: not restricting                    killed: UNCU
  n2   swapped: inverted                        killed: UNCU
  n3   site_ref not set                         killed: UNCU
  n4   swapped row reads 2/k                    killed: UNCU
  n5   k off by one                             killed: UNCU
  n6   None when every k <= 3                   killed: UNCU
  n7   contig not grouped                       killed: UNCU
  n8   REF not grouped                          killed: UNCU
  n9   site_alt the written alt                 killed: UNCU
  n10  imputed: only dosages < 1 carried        killed: UNCR
  n11  imputed: used not passed                 survived UNCU; equivalent in effect (the used rows' sites
                                                are grouped whole either way: their 2/k is the same; only
                                                the other rows' grouping is saved)
  n12  used: unused rows' positions too         killed: UNCU
  c1   tie_heavy: half not flagged (> n/2)      survived PRIV+S49; new
  c2   tie_heavy: half rule removed             killed: PRIV
  c3   tie_heavy: a tie of 1 counts             killed: S49
  c4   carrier scores: beyond_sd ignored        killed: PRIV
  c5   carrier scores: few_valued only          killed: PRIV
  c6   hide: count-hidden rows get the carrier  survived PRIV; new
       note
  c7   hide: key by contrast                    killed: PRIV
  c8   derived: carriers not blanked            killed: PRIV
  c9   replication: a carrier-hidden discovery  survived PRIV; new
       fit's row kept
  c10  consistency: carrier-hidden meta not     survived PRIV; new
       read
  c11  suppress: no threshold (no carrier rule) killed: PRIV
  c12  suppress: group stats by few_valued only killed: PRIV
  c13  build_report: beyond_sd not passed       survived PRIV; new
  c14  compare: rule not applied                killed: PRIVC
  c15  compare: release A only                  survived PRIVC; new
  c16  compare: not rounded                     survived PRIVC; new
  c17  compare: few_valued only                 survived PRIVC; new
  c18  compare: persons in one release too      survived PRIVC; new
  r1   root check negated                       read: killed by REL (its missing-root ConfigError and the
                                                empty root's exit 7)
  r2   root check removed                       read: killed by REL (as r1)
  r3   hint: the config itself named            read: equivalent in effect (toy_releases.yaml has
                                                toy_data.releases: check_release_root never raises for it)
  r4   hint: relative path always               read: survives NEW (run from the repository: the path is
                                                relative either way); low (which spelling of the path is
                                                printed)
  r5   hint: non-toy configs too                read: survives NEW and REL; low (a hint of a shipped toy
                                                config beside a user's config in conf/)
  h1   controls: 0 shown as <T                  survived NEW; new; low (0 controls, a fit that cannot be
                                                fitted, shown as <20)
  h2   controls: T shown as <T                  survived NEW; new
  h3   controls: 1..T-1 shown                   read: survives NEW (no shown fit with 1..19 controls); new
  h4   headline: out of date read as not run    read: killed by NEW (its out-of-date test: the lines read
                                                "the report not run")
  h5   headline: after report not printed       read: killed by NEW (its report-alone test)
  h6   headline: missing table not caught       read: killed by test_rerun_s48 (the stand-in releases
                                                without a models table: 67db002's finding), not by NEW
  h7   headline: N and cases swapped            read: killed by NEW (its shown line reads 925, 166, 759)
  h8   toy-data: minimum refused                read: survives NEW (its cases are 0 persons and 10
                                                variants); new
  h9   toy-data: --variants not checked         read: killed by NEW (its --variants 10 case)
  h10  headline: failed fit shown with counts   low: not run (a failed fit the export shows as failed beside
                                                an estimate the models table has: the two tables of one run
                                                do not disagree so)
  h11  config: relocate any installed config    read: equivalent in effect (_resolve_paths relocates only
                                                paths under EMBEDDED_OUT, which a user's config does not
                                                name)

88 written: 51 run against the modules, 34 killed, 17 survived; 37 judged by reading (a LIQ run took
12 min). The 9 tests below kill the 24 meaningful survivors (q5 q8 q12 q13 q20, a2 a3 a5 a7 a8 a16, c1
c6 c9 c10 c13 c15-c18, h1-h3 h8; c3, killed by S49, is pinned too), each shown failing on its mutant
in a worktree of 173ccde. Equivalent: a1 q21 n11 r3 h11. Low, left: h10 r4 r5. No survivor showed a
bug in the code: each was a gap in the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

T = 20
MG, ML = 8576, 8587


# ---------------------------------------------------------------- quantified liquids (3f225b4)


def test_mg_per_unit_bounds_of_a_small_denominator_a_negative_one_and_two_rows_of_a_pair(spark):
    """``drug_strength_amount_bounds`` under items_or_ml: a quantified syringe of 10 mg per 0.5 mL
    (per item 10, per mL 20: low 10, high 20; q5: (per mL, per item) as (low, high) gave high 10
    and no low, so 3 syringes a day read 30 mg, below a 40 mg minimum, dropped, where as mL it is
    60); a denominator of -60 mL (a broken row: no mg per unit; q8: ``otherwise`` read it, high
    1,200); two rows of one pair, tablets of 50 and 100 mg (the largest high: 100; q12 kept 50, a
    record of the 100 mg product read as half its dose) and bottles of 1,200 and 600 mg per 60 mL
    (the smallest low: 10 mg per mL; q13 kept 20; the tablets' low is 50, their dose a range)."""
    from trd_spark.phenotypes.stage import drug_strength_amount_bounds

    rows = [(1, 9, None, None, 10.0, MG, 0.5, ML, None), (2, 9, None, None, 1200.0, MG, -60.0, ML, None),
            (3, 9, 50.0, MG, None, None, None, None, None), (3, 9, 100.0, MG, None, None, None, None, None),
            (4, 9, None, None, 1200.0, MG, 60.0, ML, None), (4, 9, None, None, 600.0, MG, 60.0, ML, None)]
    ds = spark.createDataFrame(rows, "drug_concept_id long, ingredient_concept_id long, amount_value double, "
                                     "amount_unit_concept_id long, numerator_value double, numerator_unit_concept_id "
                                     "long, denominator_value double, denominator_unit_concept_id long, box_size int")
    highs, lows = drug_strength_amount_bounds(ds, [(d, 9, "x") for d in (1, 2, 3, 4)], {9: 40.0}, "items_or_ml")
    assert highs == {(1, 9): 20.0, (3, 9): 100.0, (4, 9): 1200.0}
    assert lows == {(1, 9): 10.0, (3, 9): 50.0, (4, 9): 10.0}


def test_a_quantified_liquid_whose_low_reading_reaches_the_minimum_is_of_known_dose(spark):
    """``trials._with_dose_flags``: 150 of a 60 mL bottle of 1,200 mg over 60 days is 3,000 mg a day
    as bottles and 50 as mL: both reach a 50 mg minimum, so the dose is known (not below, not
    unknown); 149 mL (49.7 mg a day as mL) is of unknown dose, 30 of a tablet of 50 mg over 30 days
    (50 mg) known. q20 (``low <= min``) counted the first as of unknown dose."""
    from trd_spark.phenotypes.concepts import ingredient_frame
    from trd_spark.phenotypes.trials import _with_dose_flags

    ingredients = ingredient_frame(spark, [(1, 9, "x"), (2, 9, "x")], amounts={(1, 9): 1200.0, (2, 9): 50.0},
                                   amounts_low={(1, 9): 20.0}, min_daily_dose={9: 50.0})
    drugs = spark.createDataFrame([(10, 1, 150.0, 60), (11, 1, 149.0, 60), (12, 2, 30.0, 30)],
                                  "drug_exposure_id long, drug_concept_id long, quantity double, days_supply int")
    got = {r.drug_exposure_id: (r._below_min_dose, r._dose_unknown)
           for r in _with_dose_flags(drugs, ingredients).collect()}
    assert got == {10: (False, False), 11: (False, True), 12: (False, False)}


# ---------------------------------------------------------------- ages (5b22a59)


def test_frame_ages_at_their_bounds_persons_counted_once_and_a_non_mdd_persons_missing_age(spark):
    """``cohort.stage.check_frame_ages``: ages 0 and 120 (vocabulary.MAX_PLAUSIBLE_AGE_YEARS) are
    usable (a3: ``>=`` refused 120); an age of -1 is not (a2: below 0 not checked); 7 persons without
    an index age, each under 3 definitions (21 rows), are "<20" persons (a5: rows counted, "20+").
    ``distributed._model_columns``: a non-MDD person without an age is refused (a16: the Spark path
    read the null ages of the MDD statuses only; session 51's test had an index age only)."""
    from test_cohortgaps_s51 import PLAUSIBLE, _frame_rows

    from trd_spark.cohort.stage import check_frame_ages
    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError, ModelError
    from trd_spark.models.distributed import _model_columns

    cfg = load_config()
    check_frame_ages(spark.createDataFrame(_frame_rows(cfg, [*PLAUSIBLE, ("TRD", 120.0, 0.0), ("non_MDD", 0.0, None)])),
                     persons_below=T)
    with pytest.raises(InputDataError, match="age_at_observation_end"):
        check_frame_ages(spark.createDataFrame(_frame_rows(cfg, [*PLAUSIBLE, ("trMDD", -1.0, 30.0)])), persons_below=T)
    rows = _frame_rows(cfg, [*PLAUSIBLE, *[("TRD", 50.0, None)] * 7])
    three = pd.concat([rows.assign(definition=d) for d in ("ad2", "ad3", "ad4")], ignore_index=True)
    with pytest.raises(InputDataError, match=r": <20 analysed person\(s\) without a usable age"):
        check_frame_ages(spark.createDataFrame(three), persons_below=T)
    no_age = spark.createDataFrame(_frame_rows(cfg, [*PLAUSIBLE, ("non_MDD", None, None)]))
    with pytest.raises(ModelError, match=r"analysis_frame\.age\b"):
        _model_columns(no_age, cfg)


def test_the_cohort_stage_refuses_a_frame_with_an_mdd_person_without_an_index_age(spark, tmp_path):
    """``cohort.stage.run`` on published upstream tables (models_sim.publish_cohort_inputs) of 40
    persons, one trMDD person without an age_at_index: InputDataError naming
    phenotypes/phenotypes.age_at_index with "<20" persons, no complete cohort output. a7 (the call
    left out of ``run``: the frame written, the person in no fit, uncounted) and a8 (its count as a
    number, "1 analysed person(s)", a count of 1..19 in the run log) survived session 51's test,
    which calls ``check_frame_ages`` itself."""
    import datetime as dt

    import yaml
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.config import REPO_CONF_DIR
    from trd_spark.errors import InputDataError
    from trd_spark.io import LocalFs
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage

    rng = np.random.default_rng(52)
    ids = list(range(1, 41))
    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n"
                   + "".join(f"{i}\teur\t[{rng.normal():.4f}, {rng.normal():.4f}]\n" for i in ids))
    pgs = {**yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())["pgs"], "standardisation": "overall",
           "trait_panel": str(REPO_CONF_DIR / "trait_panel_toy.yaml")}
    datasets = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": "d.vcf.bgz"}}]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets, pgs=pgs)
    d = dt.date(2020, 1, 1)
    phenotypes = [(i, "ad3", "non_MDD", None, None, None, d, None, None, 0, "female", None, 60.0) for i in ids[1:]]
    phenotypes.append((1, "ad3", "trMDD", None, d, None, d, 300, 0, 2, "female", None, 60.0))
    publish_cohort_inputs(spark, cfg, [("discovery", i, "PGS900001", float(rng.normal())) for i in ids], ids,
                          phenotypes)
    with pytest.raises(InputDataError, match=r"<20 analysed person\(s\) without a usable age") as e:
        run_stage(spark, cfg, "cohort")
    assert "phenotypes/phenotypes.age_at_index" in str(e.value)
    assert not Layout.of(cfg).is_complete(LocalFs(), "cohort")


# ---------------------------------------------------------------- carrier-count scores (813d96e, 2fcafe8)


def _dist(rows: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """pgs_distribution rows (dataset, ancestry, pgs_id, n, distinct values, largest tie) with the
    tables' internal columns."""
    from trd_spark.report.tables import DISTINCT_VALUES, LARGEST_TIE

    return pd.DataFrame([{"dataset": ds, "ancestry": a, "pgs_id": p, "n": n, DISTINCT_VALUES: v, LARGEST_TIE: t}
                         for ds, a, p, n, v, t in rows])


def test_a_tie_of_exactly_half_a_group_flags_its_score_and_a_small_group_without_ties_does_not():
    """``tables.tie_heavy_scores`` (T 20): P1's EUR tie of 500 among 1,000 (half, 500 off it, 400
    values) flags P1 (c1: ``2 * tie > n`` let exactly half through); P2, polygenic with ancestry
    groups of 5 and of 2 persons of distinct values (largest tie 1), is not flagged (c3, also killed
    by tests/test_review_s49_mutants.py: a "tie" of one person flagged every score with a group under
    21 persons, so a dataset with a small ancestry group published no estimate of any score). A real
    tie of 2 in a group of 10 still flags (P3: 8 off the tie, fewer than T)."""
    from trd_spark.report.tables import carrier_count_scores, tie_heavy_scores

    dist = _dist([("d", "EUR", "P1", 1000, 400, 500), ("d", "AFR", "P1", 300, 300, 1),
                  ("d", "EUR", "P2", 1000, 1000, 1), ("d", "EAS", "P2", 5, 5, 1), ("d", "MID", "P2", 2, 2, 1),
                  ("d", "EUR", "P3", 1000, 1000, 1), ("d", "EAS", "P3", 10, 9, 2)])
    assert tie_heavy_scores(dist, T).tolist() == [True, True, False, False, False, True, True]
    assert carrier_count_scores(dist, T) == {("d", "P1"), ("d", "P3")}


def test_derived_rows_of_a_carrier_count_score_replication_consistency_and_a_count_hidden_fit():
    """``hide_estimates_of_hidden_counts`` with P2 a carrier-count score in both datasets (the cohort
    manifest's beyond_sd) and one of its fits' counts hidden too (rep, trd_vs_nonmdd): the replication
    row of P2 is left out, as is one of a count-hidden discovery fit (c9: kept, blank; its presence
    says the discovery fit was significant); every consistency row is blank, P2's meta rows being
    hidden (c10: consistency read the count-hidden meta rows only, and showed R^2 of estimates the
    export hides); the count-hidden fit keeps the count note (c6: the carrier note replaced it).
    Session 51's test has no replication nor consistency table, and no fit hidden by both rules."""
    from trd_spark.models.synthesis import consistency_table
    from trd_spark.report.tables import (
        CARRIER_COUNT_NOTE,
        HIDDEN_ESTIMATES_NOTE,
        ReleaseCounts,
        hide_estimates_of_hidden_counts,
    )

    rng = np.random.default_rng(52)
    keys = [(ds, d, c, p) for ds in ("disc", "rep") for d in ("A", "B") for c in ("trd_vs_nonmdd", "trmdd_vs_nonmdd")
            for p in ("P1", "P2", "P3")]
    logistic = pd.DataFrame(keys, columns=["dataset", "definition", "contrast", "pgs_id"]).assign(
        n=500, n_cases=60, beta=rng.normal(0, 0.2, len(keys)), se=0.1, note="")
    both = (logistic.dataset == "rep") & (logistic.pgs_id == "P2") & (logistic.contrast == "trd_vs_nonmdd") \
        & (logistic.definition == "A")
    safe = {"logistic": logistic.astype({"n_cases": object}).assign(
        n_cases=lambda df: np.where(both, "<20", df.n_cases).astype(object))}
    replication = pd.DataFrame({"dataset": "rep", "definition": "B", "contrast": "trmdd_vs_nonmdd",
                                "pgs_id": ["P1", "P2"], "beta_discovery": 0.3, "p_adjusted_discovery": 1e-4,
                                "beta": 0.2, "se": 0.1, "p": 0.04, "replicated": True, "note": ""})
    meta = logistic.groupby(["definition", "contrast", "pgs_id"], as_index=False)["beta"].mean().assign(
        method="fixed", k=2, se=0.07, datasets="disc,rep")
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(), cohort_counts=None, logistic=logistic, cox=None,
                       pgs_distribution=None, primary_definition="A", replication=replication,
                       discovery_dataset="disc", meta=meta, consistency=consistency_table(meta),
                       beyond_sd={"disc": {"P2": "<20"}, "rep": {"P2": "<20"}})
    out = hide_estimates_of_hidden_counts(safe, rc, T)
    assert out["replication"]["pgs_id"].tolist() == ["P1"]
    assert out["consistency"]["r2"].isna().all() and len(out["consistency"]) == 4
    shown = out["logistic"].set_index(["dataset", "definition", "contrast", "pgs_id"])["note"]
    assert shown[("rep", "A", "trd_vs_nonmdd", "P2")] == HIDDEN_ESTIMATES_NOTE
    assert shown[("rep", "B", "trd_vs_nonmdd", "P2")] == CARRIER_COUNT_NOTE
    assert (shown.xs("P1", level="pgs_id") == "").all()


def test_the_export_of_build_report_hides_the_estimates_of_a_beyond_sd_score():
    """``report.stage.build_report`` with the cohort manifest's ``beyond_sd`` for P1 (a score whose
    persons sit beyond BEYOND_SD: a rare variant of large weight): export/results.tsv shows none of
    P1's estimates, its note the carrier-count one. c13 (``beyond_sd`` not passed to ReleaseCounts,
    caa38af's state for a commit: the rule read no manifest note and silently did not apply)
    survived tests/test_privacy_s51.py, which builds ReleaseCounts itself."""
    import io

    from test_field_cases_round38_models import _release

    from trd_spark.config import load_config
    from trd_spark.report.stage import build_report
    from trd_spark.vocabulary import HiddenEstimatesNote

    cfg = load_config()
    t = _release(cfg, [{"pgs_id": "P1", "n": 8000, "n_cases": 3000, "beta": 0.1, "se": 0.05, "p": 0.03}])
    results = pd.read_csv(io.StringIO(build_report(cfg, t, {}, beyond_sd={"discovery": {"P1": "<20"}})["results.tsv"]),
                          sep="\t", dtype=str, keep_default_na=False)
    p1 = results[(results.pgs_id == "P1") & (results.dataset == "discovery")]
    assert len(p1) and (p1["odds_ratio"] == "").all(), p1
    assert (p1["note"] == str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)).all()
    plain = pd.read_csv(io.StringIO(build_report(cfg, t, {})["results.tsv"]), sep="\t", dtype=str,
                        keep_default_na=False)
    assert (plain[(plain.pgs_id == "P1") & (plain.dataset == "discovery")]["odds_ratio"] != "").any()


def test_correlations_between_releases_of_scores_few_valued_in_one_release_or_tie_heavy(spark):
    """``compare.score_correlation``: 200 persons in both releases, 100 more in B only (a growing
    cohort). P1 polygenic in A, one variant (0/0.7, 12 carriers) in B: hidden (c15: release A's
    values only judged, P1 shown, its r a point-biserial of the 12 carriers). P4 one variant whose
    sums carry float noise of 1e-13 (summation order): hidden (c16: without DISTINCT_DECIMALS'
    rounding, 200 distinct values). P5 150 of 200 at 0, 50 distinct values (tie-heavy, not few
    valued): hidden (c17: few_valued only). P2 polygenic: shown (c18: the B-only persons, their A
    score null, read as one tie of 100 of n_both 200: P2 hidden, and every score of a release that
    grew by half)."""
    from trd_spark.report.compare import score_correlation

    rng = np.random.default_rng(52)
    n, extra = 200, 100
    carrier = np.zeros(n)
    carrier[:12] = 1
    noisy = 0.7 * carrier + rng.uniform(-1e-13, 1e-13, n)
    tie = np.r_[np.zeros(150), rng.normal(size=50)]
    a = {"P1": rng.normal(size=n), "P2": rng.normal(size=n), "P4": noisy, "P5": tie}
    b = {"P1": 0.7 * carrier, "P2": a["P2"] + 0.1 * rng.normal(size=n), "P4": noisy + rng.uniform(-1e-13, 1e-13, n),
         "P5": tie + np.r_[np.zeros(150), 0.1 * rng.normal(size=50)]}

    def frame(scores: dict[str, np.ndarray], more: int) -> pd.DataFrame:
        rows = [("d", i, p, float(v)) for p, vs in scores.items() for i, v in enumerate(vs)]
        rows += [("d", n + i, p, float(rng.normal())) for p in scores for i in range(more)]
        return pd.DataFrame(rows, columns=["dataset", "person_id", "pgs_id", "score_sum"])

    out = score_correlation(spark.createDataFrame(frame(a, 0)), spark.createDataFrame(frame(b, extra)), T)
    r = out.set_index("pgs_id")["correlation"]
    assert r[["P1", "P4", "P5"]].isna().all(), out
    assert r["P2"] > 0.9, out


# ---------------------------------------------------------------- CLI (729c8c5, 74f4b03)


def test_the_headlines_controls_at_zero_and_at_the_threshold_and_toy_data_at_its_minimum(tmp_path, capsys):
    """``cli._controls_text``: N 40 with 20 cases has 20 controls, N 20 with 20 cases none (h2:
    ``<= t`` printed "<20" beside 20; h1: ``0 <=`` printed "<20" for none); 7 controls are "<20".
    ``trd-spark toy-data --persons 50 --variants 10``: 50 persons is the minimum, so the option
    named is --variants (h8: ``value <= least`` refused 50 persons)."""
    from trd_spark.cli import _controls_text, main

    assert [_controls_text(n, c, T) for n, c in (("40", "20"), ("20", "20"), ("27", "20"), ("suppressed", "30"))] \
        == ["20", "0", "<20", ""]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:  # an argparse error since session 53 (cli._toy_size)
        main(["toy-data", "--out", str(tmp_path / "toy"), "--persons", "50", "--variants", "10"])
    assert e.value.code == 2
    assert "argument --variants: need at least 200, got 10" in capsys.readouterr().err
    assert not (tmp_path / "toy").exists()
