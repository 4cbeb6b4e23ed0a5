"""Mutation review of session 50's code (session 51, helper "review50").

Each test kills mutants of b1d6bac..acba4e2 (``trd_spark/``; 225b1e7..b1d6bac's b1d6bac, 87bc5cc and
2807c30 were the session 50 review's, tests/test_review_s49_mutants.py) that session 50's tests let
pass (named in each docstring; each shown failing on its mutant and passing on acba4e2). Cheap: pure
functions, a few files in ``tmp_path``; on the shared Spark session two tiny frames and one
``run_stages`` of no stage. Mutants were one-line changes applied in scratch copies of acba4e2 and run
(``-x``, ``-n 0``, nice'd, load 18-57 on the 2 cores: 1-24 min a run) against the modules named.

Modules: REL (test_leftovers5_s50's related-pairs test), PCS (test_leftovers5_s50's covariate-PC
stage run; c1-c3 with test_cohort -k "counted or pc or without"), ANC (test_privguard_s50,
test_cohort_standardise), TAB (test_privguard_s50, with test_cohort_standardise for u1-u5, with
test_report_suppression::test_pgs_distribution_counts_of_every_score_are_audited for u6-u7), MOD
(test_field_cases_round43_models, test_models_km, test_leftovers5_s50's hunter test), P44
(test_field_cases_round44_pgs: d1 whole, d2-d6 its missing-code test), UNC (test_uncalled_s50: n1-n3
whole or its no_call_dosages test; n4 n5 n12 that and the native routes; n9 n13 that and the Hail route), P45
(test_field_cases_round45_pgs -k pvar, -k bgzf), PRIV (test_privacy_s50, test_privguard_s50), NANO
(test_field_cases_round44_omop: o2 its three read tests), RERUN (test_rerun_s50 -k leftover); "read":
judged by reading the module's case and assertions (a run of each, 10-24 min under this load, did
not fit the session); "new": a test below.
  id   change                                         result
  r1   prune: per dataset when across                 killed: REL
  r2   prune: the union of the first dataset only     killed: REL
  r3   config: related_pairs_across_datasets default  killed: REL
       false
  c1   dataset_counts: a PC nobody has also a reason  killed: PCS
  c2   dataset_counts: NaN PC taken as a value        killed: PCS
  c3   dataset_counts: n_with_ancestry of grouped     killed: PCS
       (lacking kept)
  c4   dataset_counts: n_without_person over grouped  read: survives PCS (every person in OMOP person); new
  c5   dataset_counts: with_pc over in_file           read: survives PCS (overall standardisation: no ungrouped
       (ungrouped too)                                person); new
  c6   run: every covariate PC required (one nobody   killed: PCS
       has too)
  c7   run: the lacking persons not left out of the   read: killed by PCS (the analysis frame's discovery persons:
       standardisation                                55, not 60)
  c8   run: no WARNING                                read: killed by PCS (its WARNING asserted)
  c9   lacking_pcs: NaN taken as a value              killed: PCS
  c10  run: dataset_counts without the covariate PCs  read: killed by PCS (the step reads 55)
  a1   named_ancestry_groups: case-sensitive          killed: ANC
  a2   named_ancestry_groups: 'other' said always     killed: ANC
  a3   standardise: manifest names every label        survived ANC; new
  a4   standardise: WARNING names every label         survived ANC; new
  u1   unnamed_small: known labels unnamed too        killed: TAB
  u2   unnamed_small: large groups unnamed too        killed: TAB
  u3   unnamed_small: 'unknown' unnamed               killed: TAB
  u4   unnamed_small: rows not merged                 killed: TAB
  u5   unnamed_small: case-sensitive                  survived TAB; new
  u6   suppress_release: not applied                  survived TAB; new
  u7   drop_duplicates over dataset and ancestry only survived TAB; new
  e1   prefit: judged with no outcome anywhere        survived MOD; new
  e2   prefit: judged over every row, not those with  survived MOD; new
       an outcome
  e3   prefit: a negative duration's rows judged too  survived MOD; new
  e4   prefit: no note                                killed: MOD
  e5   prefit: an infinite value a value              survived MOD; new
  e6   prefit: judged with the PGS too                survived MOD; new
  e7   prefit: dropped covariates still required      killed: MOD
  w1   warn: the note's names run past ';'            survived MOD; new
  w2   warn: no WARNING                               killed: MOD
  w3   warn: cox not warned                           survived MOD; left (the models stage's run(): no test runs
                                                      it on a Cox fit with an empty covariate)
  w4   warn: datasets merged                          killed: MOD
  k1   tertile: a value at the first cut in the       killed: MOD
       middle third
  k2   tertile: cut point of rank k+1                 killed: MOD
  k3   tertile: k = 1 no cut                          killed: MOD
  k4   km: an empty third not refused                 killed: MOD
  k5   tertile: second cut at rank 2n/3 + 1           killed: MOD
  d1   _distinct_rows: a row with both alleles        survived P44; equivalent (a row with both alleles missing:
       missing coded                                  its key, coded or not, is no SNV allele; the same rows are
                                                      distinct or repeated)
  d2   _distinct_rows: a coded row counted an SNV     killed: P44
  d3   _distinct_rows: coded rows not normalised      killed: P44
  d4   _distinct_rows: the SNV's hi allele not looked killed: P44
       at
  d5   _distinct_rows: the missing code taken as the  killed: P44
       present allele
  d6   _distinct_rows: coded rows beside their SNV    killed: P44
       kept
  n1   no_call_dosages: REF not compared              killed: UNC
  n2   no_call_dosages: k off by one                  killed: UNC
  n3   no_call_dosages: contig not compared           killed: UNC
  n4   _used_rows_imputed: the first rows' dosages    killed: UNC
  n5   _used_rows_imputed: the used rows only counted killed: UNC
       in k
  n6   native: X rows without no_call                 read: UNC's rows are autosomal; new
  n7   native: Y rows without no_call                 read: UNC has no chrY row; new
  n8   native: no_call of the task's first rows       read: UNC's rows are one chunk; new
  n9   hail: no_call 1 always                         killed: UNC
  n10  hail: X mean falls back to 1                   read: survives UNC (no X row); left (a Hail scoring run on
                                                      an uncalled k-allele X row)
  n11  hail: Y mean falls back to 1                   read: survives UNC (no chrY row); left (as n10)
  n12  pgen score: no_call not in task order          survived UNC; left (a native run of uncalled k-allele rows
                                                      weighted out of file order, e.g. chr10 before chr2)
  n13  weights_table: the column not carried          killed: UNC
  g1   check_pgen_counts: variant count not raised    killed: P45
  g2   check_pgen_counts: sample count not raised     survived P45; new
  g3   match_plink: no check for a .pgen              killed: P45
  g4   check_pgen_counts: allele_idx_offsets not      survived P45; equivalent in effect (pgenlib checks the
       passed                                         header's counts with or without the offsets; any other
                                                      failure is left to the tasks either way)
  b1   bgzf: a plain gzip held to the EOF block too   killed: P45
  b2   bgzf: not checked                              killed: P45
  p1   prior: only counts shown/derived compared      survived PRIV; new
  p2   prior: only relations compared                 killed: PRIV
  p3   prior: the same count again labelled           killed: PRIV
  p4   prior: any name's counts compared              survived PRIV; new
  p5   record_counts_read: not derived                survived PRIV; low, not judged further (a count the lines
                                                      label that the reader still derives: record_counts_text's
                                                      cut avoids it)
  p6   record_counts_read: relations' counts left out survived PRIV; new
  p7   records_within: the known-dose rest not        killed: PRIV
       declared
  p8   _counts_logged: an older manifest gives        killed: PRIV
       nothing
  p9   logged_record_counts: own = every release's    killed: PRIV
  p10  run: earlier runs' counts not carried on       survived PRIV; left (the phenotypes stage's run() twice in
                                                      one release: no cheap test)
  p11  data_gates: prior not read                     killed: PRIV
  p12  check_stage_counts: prior not passed           survived PRIV; new
  p13  logged_record_counts: this release not read    killed: PRIV
  p14  _counts_logged: the derived counts of an older survived PRIV; new
       manifest left out
  p15  prior: a change of the surplus read from the   survived PRIV; low (which count is labelled; the surplus is
       wrong name                                     hidden either way)
  o1   conform: the table's first flag for every      read: killed by NANO (a naive column after an instant one,
       column                                         its written date)
  o2   conform: datetime fallback by the date         killed: NANO
       column's flag
  o3   nanosecond_timestamps: flag inverted           read: killed by NANO (every nanosecond column dated by the
                                                      other kind)
  o4   check_part_file_schemas: nanos not compared    read: killed by NANO (a part file of another kind: its error
                                                      asserted)
  o5   check_part_file_schemas: nanos not passed      read: killed by NANO (as o4)
  o6   declared_time_zones: a naive nanos column an   read: equivalent (a naive column declares no zone: left out
       instant                                        all the same)
  o7   void_date_columns: flag by the file's case     equivalent (the names looked up are OMOP's, lower case: c ==
                                                      c.lower())
  o8   nanosecond_timestamps: any unit                read: equivalent in effect (a micro/millisecond timestamp is
                                                      read as a timestamp, never a long: its flag is never used)
  l1   leftover_work: .replaced- not looked for       killed: RERUN
  l2   leftover_work: export's not looked for         killed: RERUN
  l3   _run_stages: not removed                       survived RERUN; new
  l4   skip_all_without_spark: not removed            killed: RERUN
  l5   explain: not named                             killed: RERUN
  l6   remove_leftover_work: the local branch removes killed: RERUN
       nothing

94 written: 77 run against the modules, 52 killed, 25 survived; 17 judged by reading. The 13 tests
below kill the 23 meaningful survivors (a3 a4 u5-u7 e1-e3 e5 e6 w1 g2 p1 p4 p6 p12 p14 l3, and the
read c4 c5 n6-n8). Equivalent: d1 g4 o6 o7 o8. Low: p5 p15. Left without a test: w3 and p10 (a
stage's run() on the case), n10 n11 (a Hail scoring run on X / Y rows), n12 (a native run out of
file order). No survivor showed a bug in the code: each was a gap in the tests.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

T = 20


# ---------------------------------------------------------------- ancestry labels of small groups


def test_a_small_groups_id_label_is_not_named_in_the_manifest_nor_the_warning(spark, caplog):
    """``standardise_ancestry_groups`` on 25 ``eur`` persons, one ``afr`` and one labelled by an ID
    (a file of per-person labels): the manifest's small_groups and the WARNING name ``afr`` and
    ``UNNAMED_ANCESTRY``, never the ID (a3: the manifest, a4: the WARNING named every label as given;
    the privguard test calls ``named_ancestry_groups`` alone)."""
    from trd_spark.cohort.standardise import standardise_ancestry_groups
    from trd_spark.vocabulary import UNNAMED_ANCESTRY

    rows = [(i, "d", "eur", float(i)) for i in range(25)] + [(100, "d", "afr", 3.0), (101, "d", "1004217", 9.0)]
    frame = spark.createDataFrame(rows, "person_id long, dataset string, ancestry string, S double")
    with caplog.at_level(logging.WARNING, logger="trd_spark.cohort.standardise"):
        out, info = standardise_ancestry_groups(frame, ["S"], "dataset", ["d"], min_samples=T)
    assert info["d"]["small_groups"] == ["afr", UNNAMED_ANCESTRY], info
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"afr, {UNNAMED_ANCESTRY}" in warned[0], warned
    assert "1004217" not in caplog.text
    assert out.count() == 27


def test_unnamed_small_groups_are_one_row_per_dataset_and_score():
    """``report.tables.unnamed_small_ancestry_groups`` with two scores: each score keeps its rows
    (u7: merged over (dataset, ancestry) only, the second score's eur row, n 2,500 with its
    statistics, was dropped from pgs_distribution.tsv, silently) and its own UNNAMED_ANCESTRY
    row; a small group labelled ``AFR`` (1000 Genomes' case) is named (u5: the case-sensitive
    match said it unnamed)."""
    from trd_spark.report.tables import unnamed_small_ancestry_groups
    from trd_spark.vocabulary import UNNAMED_ANCESTRY

    rows = [("d", a, pgs, n, m) for pgs in ("PGS1", "PGS2")
            for a, n, m in [("1004217", f"<{T}", np.nan), ("1009932", f"<{T}", np.nan), ("AFR", f"<{T}", np.nan),
                            ("eur", 2500, 0.1)]]
    got = unnamed_small_ancestry_groups(pd.DataFrame(rows, columns=["dataset", "ancestry", "pgs_id", "n", "mean"]), T)
    assert list(zip(got["pgs_id"], got["ancestry"])) == [
        (p, a) for p in ("PGS1", "PGS2") for a in (UNNAMED_ANCESTRY, "AFR", "eur")], got
    assert got.loc[got["ancestry"] == "eur", "n"].tolist() == [2500, 2500]


# ---------------------------------------------------------------- models: a covariate without values


def _frame(n: int = 200, seed: int = 50) -> pd.DataFrame:
    """Persons with a 0/1 ``case``, a Cox ``time`` / ``event``, a PGS and covariates age, pc1, pc2."""
    rng = np.random.default_rng(seed)
    pgs = rng.normal(size=n)
    return pd.DataFrame({"case": (rng.uniform(size=n) < 1 / (1 + np.exp(-0.5 * pgs))).astype(float),
                         "time": rng.uniform(10, 1000, size=n), "event": (rng.uniform(size=n) < 0.4).astype(float),
                         "PGS": pgs, "age": rng.normal(50, 10, size=n), "pc1": rng.normal(size=n),
                         "pc2": rng.normal(size=n)})


def _empty_note(check) -> list[str]:
    from trd_spark.models.covariates import EMPTY_COVARIATE_NOTE

    return [x for x in check.notes if x.startswith(EMPTY_COVARIATE_NOTE)]


def test_a_covariate_is_judged_empty_on_the_persons_with_an_outcome_a_duration_and_a_finite_value():
    """``prefit_check``'s covariate without a value, around round 43's case (pc2 NaN for all):
    pc2 valued only for persons without an outcome is dropped (e2: judged over every row, kept,
    and the fit had n 0, "too few cases"); Cox: valued only for persons with a negative duration
    (left out), dropped (e3); pc2 infinite for all is no value, dropped (e5: kept, n 0); valued
    only where the PGS is missing: kept, the PGS's failure (e6: judged with the PGS too, pc2 was
    dropped and the PGS fitted on persons lacking it); nobody with an outcome: no covariate is
    called empty (e1: every covariate named in the note, and the models' WARNING, for a fit
    with no outcome at all)."""
    from trd_spark.models.covariates import prefit_check
    from trd_spark.vocabulary import ModelFailure

    covs = ["age", "pc1", "pc2"]
    f = _frame()
    half = f.index < 100
    f.loc[half, "case"], f.loc[~half, "pc2"] = np.nan, np.nan
    check = prefit_check(f, "PGS", covs, outcome="case", min_cases=5)
    assert check.failure is None and check.covariates == ["age", "pc1"] and check.n == 100, (check.failure, check.n)
    assert _empty_note(check) == ["dropped covariate(s) without a value for any person: pc2"]

    f = _frame()
    f.loc[half, "time"], f.loc[~half, "pc2"] = -5.0, np.nan
    check = prefit_check(f, "PGS", covs, outcome="event", min_cases=5, duration="time")
    assert check.failure is None and check.covariates == ["age", "pc1"] and check.n == 100, (check.failure, check.n)

    f = _frame()
    f["pc2"] = np.inf
    check = prefit_check(f, "PGS", covs, outcome="case", min_cases=5)
    assert check.failure is None and check.covariates == ["age", "pc1"] and check.n == 200, (check.failure, check.n)

    f = _frame()
    f.loc[half, "PGS"], f.loc[~half, "pc2"] = np.nan, np.nan
    check = prefit_check(f, "PGS", covs, outcome="case", min_cases=5)
    assert check.failure == ModelFailure.PGS_ZERO_VARIANCE and not _empty_note(check), (check.failure, check.notes)

    f = _frame()
    f["case"] = np.nan
    check = prefit_check(f, "PGS", covs, outcome="case", min_cases=5)
    assert check.failure is not None and not _empty_note(check), (check.failure, check.notes)


def test_the_models_warning_names_each_datasets_empty_covariates_from_notes_with_others():
    """``warn_covariates_without_values``: a note with the empty-covariate part before another
    part (``join_notes``' "; ") gives the covariate alone (w1: the rest of the note read as a
    covariate's name), and two datasets are two WARNINGs (w4: merged as one)."""
    from trd_spark.models.covariates import EMPTY_COVARIATE_NOTE, MISSING_VALUES_NOTE, join_notes
    from trd_spark.models.stage import warn_covariates_without_values

    rows = pd.DataFrame({"dataset": ["disc", "rep", "rep"],
                         "note": [join_notes(f"{EMPTY_COVARIATE_NOTE}: pc3", MISSING_VALUES_NOTE),
                                  f"{EMPTY_COVARIATE_NOTE}: pc2, pc4", None]})
    assert warn_covariates_without_values("logistic", rows) == {"disc": ["pc3"], "rep": ["pc2", "pc4"]}


# ---------------------------------------------------------------- pgs: a k-allele site no sample is called at


def test_uncalled_rows_on_x_and_y_and_in_a_later_chunk_take_their_own_no_call_dosage():
    """``native_task._fill_missing_calls`` over 4 rows no sample is called at, read 2 rows at a time:
    an autosomal row, an X row outside its PARs, a chrY row and an autosomal row of a later
    chunk, each with its own 2/k (``Task.no_call_dosage``: k 4, 5, 8, 3). Each missing call takes
    its row's 2/k, a chrY non-male's call 0 (n6: the X row took 1, its 2/k not passed to
    ``_x_frequency_means``; n7: the chrY males took 1; n8: the second chunk took the first
    chunk's values, 0.5 for the 2/3 of row 3). test_uncalled_s50 has autosomal rows of one chunk."""
    from trd_spark.pgs.native_task import PGENLIB_MISSING, Task, _fill_missing_calls

    no_call = np.array([2 / 4, 2 / 5, 2 / 8, 2 / 3])
    male = np.array([True, False, True])
    task = Task(np.arange(4), np.ones(4, np.int32), np.zeros((4, 1)), None, np.ones((4, 1), np.uint8),
                x_haploid=np.array([False, True, False, False]), male=male,
                y_rows=np.array([False, False, True, False]), no_call_dosage=no_call)
    calls = np.full((4, 3), float(PGENLIB_MISSING))

    def read(_task, a, b, out):
        out[:b - a] = calls[a:b]
        return out[:b - a]

    dose = np.empty((4, 3))
    _fill_missing_calls(read, task, 0, 4, 2, dose, True)
    want = np.repeat(no_call[:, None], 3, axis=1)
    want[2, ~male] = 0.0
    np.testing.assert_allclose(dose, want, rtol=1e-12)


def test_the_export_names_no_small_groups_id_label():
    """``suppress_release``'s pgs_distribution with groups of 2 and 3 persons labelled by IDs beside
    EUR 5,000 and AFR 1,000: the export shows one UNNAMED_ANCESTRY row for the two, no ID (u6: the
    export's table not passed through ``unnamed_small_ancestry_groups``; the privguard test calls it
    alone)."""
    from test_field_cases_round40_models import _export_moments, _suppressed_distribution

    from trd_spark.report.tables import QUANTILE_LEVELS
    from trd_spark.vocabulary import UNNAMED_ANCESTRY

    rng = np.random.default_rng(51)
    groups = {"EUR": rng.normal(size=5000), "AFR": rng.normal(size=1000), "1004217": rng.normal(size=2),
              "1009932": rng.normal(size=3)}
    columns = ["dataset", "ancestry", "pgs_id", "n", "mean", "sd", *QUANTILE_LEVELS, "n_values"]
    dist = pd.DataFrame(_export_moments(groups, "P2"), columns=columns)
    out = _suppressed_distribution(dist, 6005)
    assert sorted(out.index.get_level_values("ancestry")) == sorted(["EUR", "AFR", UNNAMED_ANCESTRY]), out.index


# ---------------------------------------------------------------- privacy: other runs' counts


def test_an_older_manifests_derived_count_is_compared_too(tmp_path):
    """A phenotypes manifest of an older version (no ``RECORD_COUNTS_LOGGED``) with the exposures'
    1,000 records, 300 below the minimum, 675 of unknown dose: its lines gave the known-dose rest
    25. This run's 1,060 / 320 / 710 (each 20 or more from the older's) give 30, 5 from it: a
    count is labelled. Read alone, this run's line is exact (the label is the older run's). p14:
    ``_counts_logged`` kept the older manifest's flat counts only, not those its reader derived
    (the rest), and the line showed every count exactly."""
    import json

    from trd_spark.io import LocalFs
    from trd_spark.layout import MANIFEST, SUCCESS, Layout
    from trd_spark.phenotypes.stage import logged_record_counts, stage_count_texts

    def exposures(records: int, below: int, unknown: int) -> dict:
        return {"antidepressant_exposures": {"n_records": records, "n_below_min_dose": below,
                                             "n_dose_unknown": unknown, "n_exposures": records - below - 50,
                                             "n_duplicates_removed": 50}}

    folder = tmp_path / "q1" / "phenotypes"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"release": "q1", "notes": {"study_event_dates": {},
                                                                          "quirks": exposures(1000, 300, 675)}}))
    (folder / SUCCESS).write_text("")
    prior, _ = logged_record_counts(Layout(str(tmp_path), "q2"), LocalFs(), T)
    now = exposures(1060, 320, 710)
    alone = stage_count_texts({}, now, T)[1]["antidepressant_exposures"]
    assert "20+" not in alone and "n_records 1,060" in alone, alone
    read = stage_count_texts({}, now, T, prior)[1]["antidepressant_exposures"]
    assert "20+" in read, read


# ---------------------------------------------------------------- cohort: covariate PCs without values


def test_dataset_counts_judge_pcs_on_the_grouped_persons_and_person_on_those_kept(spark):
    """``cohort.stage.dataset_counts`` with covariate PCs on 30 unrelated genotyped persons of the
    ancestry file: 4 and 5 without a group (4 lacking pc2 too), 2 (NaN pc2, absent from OMOP person)
    and 3 (null pc2) lacking a PC the others have, pc3 nobody's, 6 absent from person. Kept 26 (2
    and 3 left out, not for pc3), n_without_person 1: person 6 alone (c4: counted over the grouped
    persons, 2 too, though it is left out a step before), n_with_pc2 26 over the grouped persons
    (c5: over every person of the file, 4 and 5 too: 27)."""
    from trd_spark.cohort.stage import dataset_counts

    nan = float("nan")
    pc2 = {2: nan, 3: None, 4: nan}
    rows = [(i, 0.1 * i, pc2.get(i, 0.2 * i), nan) for i in range(1, 31)]
    anc = spark.createDataFrame(rows, "person_id long, pc1 double, pc2 double, pc3 double")
    ids = anc.select("person_id")
    persons = ids.where("person_id not in (2, 6)")
    ungrouped = ids.where("person_id in (4, 5)")
    got = dataset_counts(ids, ids, anc, persons, ungrouped, ["pc1", "pc2", "pc3"])
    assert got == {"n_genotyped": 30, "n_missing_ancestry": 0, "n_unrelated": 30, "n_with_ancestry": 26,
                   "n_without_group": 2, "n_without_pcs": 2, "n_without_person": 1, "n_with_pc1": 28,
                   "n_with_pc2": 26, "n_with_pc3": 0}, got


# ---------------------------------------------------------------- runs: an interrupted run's work folders


def test_the_spark_path_of_a_run_removes_an_interrupted_runs_work_folders(spark, tmp_path):
    """``pipeline.run_stages`` (the path of a run that starts Spark: a stage to rerun, an input that
    needs Spark to judge) removes the work folders an interrupted run left, as the no-Spark path
    does (l3: only ``skip_all_without_spark`` removed them, which test_rerun_s50 runs). No stage is
    run here (``stages=[]``)."""
    from pathlib import Path

    from test_rerun_s50 import LIQUID, _config

    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stages

    cfg = _config(tmp_path, LIQUID)
    release = Path(Layout.of(cfg).release_dir)
    (release / ".pgs.inprogress-0a1b2c3d" / "scores.parquet").mkdir(parents=True)
    (release / "pgs").mkdir()
    assert run_stages(spark, cfg, []) == []
    assert sorted(p.name for p in release.iterdir()) == ["pgs"]


def test_the_stages_gates_are_read_with_the_other_runs_counts():
    """``check_stage_counts`` (what the phenotypes stage calls) passes ``prior`` to ``data_gates``:
    privacy7's case (r1's 30 records before the birth year, this run's 25 shown "20+") warns
    (p12: the stage's call decided on the exact 25 and stayed silent, its silence putting the
    count at 20..29; test_privacy_s50 calls ``data_gates`` alone). No Spark: no study set reads an
    empty table."""
    from test_privacy_s37 import _cfg, _quirks
    from test_privacy_s38 import _followup

    from trd_spark.config import GateThreshold
    from trd_spark.phenotypes.stage import check_stage_counts, study_concept_set_names

    cfg = _cfg(records_before_birth=GateThreshold(warn=0.02, error=None))
    dates = {"condition": _followup(1500, n_before_birth_year=25)}
    sets = dict.fromkeys(study_concept_set_names(cfg), frozenset())
    quirks = {**_quirks(0), "event_table_records": {}}
    prior = {"study_event_dates.condition.n_before_birth_year": {30}}
    assert check_stage_counts(None, cfg, sets, dates, quirks, (), prior)["gates"]["records_before_birth"]["level"] \
        == "warning"
    assert check_stage_counts(None, cfg, sets, dates, quirks)["gates"]["records_before_birth"]["level"] == "ok"


def test_another_names_count_in_the_other_runs_is_no_change():
    """``prior`` is read by name: r1's 503 study drug records (``drug_values.n_records``) say
    nothing of this run's 500 dose-form-excluded records, which stay exact (p4: every name's prior
    counts compared with every count, a label for a "change" of no count)."""
    from test_privacy_s38 import _followup

    from trd_spark.phenotypes.stage import stage_count_texts

    quirks = {"dose_form_excluded": {"n_records_antidepressants": 500, "n_persons_antidepressants": 40},
              "drug_values": {"n_records": 5000, "n_end_over_max_days": 0, "n_days_supply_over_max": 0}}
    prior = {"quirks.drug_values.n_records": {503}}
    _, lines = stage_count_texts({"drug": _followup(5000)}, quirks, T, prior)
    assert "n_records_antidepressants 500," in lines["dose_form_excluded"], lines


def test_a_pgen_of_another_sample_count_than_its_psam_is_one_error_naming_it():
    """``pgen_engine.check_pgen_counts`` on round 45's whole fileset (4 samples, 4 variants) told
    its .psam holds 3 or 5 samples: one InputDataError naming the .pgen (g2: the sample-count
    branch not raised, the check returned and the scoring tasks failed inside Spark with pgenlib's
    words; round 45's test has a short .pvar only)."""
    from test_field_cases_round45_pgs import SHORT_PVAR

    from trd_spark.errors import InputDataError
    from trd_spark.pgs.native_task import PlinkFiles
    from trd_spark.pgs.pgen_engine import check_pgen_counts

    files = PlinkFiles("pgen", str(SHORT_PVAR / "whole" / "data"))
    check_pgen_counts(files, 4, 4, None)
    for n in (3, 5):
        with pytest.raises(InputDataError, match=r"data\.pgen: the \.pgen holds another number of samples than its "):
            check_pgen_counts(files, 4, n, None)


def test_the_manifest_records_the_counts_its_lines_give_by_their_relations():
    """``stage_record_counts_read`` (what ``RECORD_COUNTS_LOGGED`` keeps for later runs) holds the
    exposures' known-dose rest 25 (1,000 records, 300 below the minimum, 675 of unknown dose, all
    shown), read by a relation no equation names (p6: ``record_counts_read`` kept the counts shown
    or derived only, so a later run's rest of 30 was compared with nothing)."""
    from trd_spark.phenotypes.stage import stage_record_counts_read, stage_record_texts

    quirks = {"antidepressant_exposures": {"n_records": 1000, "n_below_min_dose": 300, "n_dose_unknown": 675,
                                           "n_exposures": 650, "n_duplicates_removed": 50}}
    read = stage_record_counts_read({}, quirks, stage_record_texts({}, quirks, T))
    rest = [k for k in read if " less " in k and k.endswith("n_below_min_dose+quirks.antidepressant_exposures."
                                                             "n_dose_unknown")]
    assert len(rest) == 1 and read[rest[0]] == 25, read
