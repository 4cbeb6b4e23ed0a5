"""Mutation review of session 47's code (session 48, helper "review").

Each test kills mutants of 1dcddaa..75fd51b (``trd_spark/``) that the tests of session 47 let pass
(named in each docstring). Cheap: pure functions and a few files in ``tmp_path``; no Spark, no stage
run. Mutants were one-line changes applied in scratch copies of main (the session 47 code) and run
(``-x``, ``-n 0``, load 15-30 on the 2 cores) against the modules named, a ``-k`` selection where noted.

Modules: R41 (test_field_cases_round41_pgs), R40 (..._round40_omop), R39P (..._round39_pgs -k
either_strand), R39M (..._round39_models -k cox), R39C (..._round39_models -k standardisation_pc), SHR
(test_release_shrink_s47), RS (test_report_suppression -k selected_over_every_fit), REL (test_release_s47),
RR47 (test_rerun_s47), LO2 (test_leftovers2_s47), PLAN (test_pipeline_rerun + test_preflight +
test_review_s45_mutants); "new": a test below. 64 mutants: 55 run, 42 killed, 13 survived; 9 not run.
The 8 tests below kill the 10 meaningful survivors (q3 q5 s3 x2 x5 r1 r3 k3 k6 v6; also q4 x1 x3 x4).
Left: r4 (equivalent), v5, e5.
  id   change                                                          result
  q1   parse_scoring_file: QUOTE_NONE dropped                          killed: R41
  q2   parse_scoring_file: _unquoted_fields not applied                killed: R41
  q3   _unquoted_fields: a doubled quote inside kept doubled           survived R41; new (low value: only free
                                                                         text such as locus_name holds one)
  q4   _unquoted_fields: "" an empty string, not missing               killed: R41; + new
  q5   _unquoted_fields: a field holding "" inside not unquoted        survived R41; new (as q3)
  q6   _read_pvar: QUOTE_NONE dropped                                  killed: R41
  q7   read_bim_columns: QUOTE_NONE dropped                            killed: R41
  q8   psam_samples (.psam with header): QUOTE_NONE dropped            killed: R41
  q9   psam_samples (.fam): QUOTE_NONE dropped                         killed: R41
  q10  bgen sample_file_table: QUOTE_NONE dropped                      killed: R41
  c1   complement_bases: reverse complement (TAC -> GTA)               killed: R39P (whole module)
  c2   complement_bases: single bases only (the old ``complement``)     killed: R39P
  c3   complement_bases: only A<->T complemented                       killed: R39P
  c4   match_sites_frame: a flipped effect allele not complemented     killed: R39P
  o1   period_after_cutoff_expr: a period starting ON the cutoff out   killed: R40
  o5   period_after_cutoff_expr: null-safe default True                killed: R40
  o6   quirk count: every person with a period counted                 killed: R40
  e5   n_persons_ehr_rows_after_cutoff_only: the person-table join     survived R40; no test: the function is
       dropped (a withdrawn person's rows counted)                       being replaced (session 48 omop41's
                                                                         count over derive_mdd's per-person rows)
  s1   shrunk_tables: a loss of exactly the threshold warned           killed: SHR
  s2   shrunk_tables: ``skip`` ignored                                 killed: SHR
  s3   shrink_warnings: T-1 rows lost given as a percent               survived SHR; new
  s4   earlier_release: the oldest earlier release                     killed: SHR
  s5   earlier_release: this release itself compared                   killed: SHR
  s6   earlier_release: an unpublished release compared                killed: SHR
  s7   release_order: digits as text (r10 < r2)                        killed: SHR
  s9   table_rows: the person table left out                           killed: SHR
  x1   cox_monotone_direction: ties at the lowest not monotone (<)     killed: R39M; + new
  x2   cox_monotone_direction: risk set read as duration <= t          survived R39M; new
  x3   cox_monotone_direction: the "highest" side not checked          killed: R39M; + new
  x4   cox_monotone_direction: extremes of the event time only         killed: R39M; + new
  x5   cox_monotone_direction: the no-event guard dropped              survived R39M; new
  r1   corrections_over_shown: a shown q equal to alpha not noted      survived RS; new
  r2   corrections_over_shown: the note replaces the row's own note    killed: RS
  r3   build_report: ``discovery_alpha`` not passed (never noted)      survived RS + round38_models +
                                                                         report_stage; new
  r4   corrections_over_shown: a row without a shown q noted           survived RS: equivalent (a row whose
                                                                         discovery fit is hidden is left out)
  k1   --output-root: a URI resolved as a local path                   killed: RR47
  k2   pgs.download.directory not resolved against the config          killed: RR47
  k3   _warn_files_not_read: only when no file written is read (all)   survived RR47 (one file); new
  k4   _other_releases_note: this release's own exports listed         killed: REL
  k5   _other_releases_note: an export/ without _SUCCESS read          killed: REL
  k6   _other_releases_note: report.audit_output_roots not read        survived REL; new
  k7   _other_releases_note: export_history/ not read                  killed: REL
  v1   export_verdict: pinned pairs ignored                            killed: LO2 -k pinned
  v2   release_input_changes: a gone input said changed                killed: LO2
  v3   release_input_changes: a moved input said changed (now None)    killed: LO2
  v4   warn_changed_inputs: the lines not kept for _disclosure.json    killed: LO2
  v5   a moved input's old path checked by fs.exists, not glob         survived LO2: not pinned (a glob old path
                                                                         read "no longer exists": a WARNING's word)
  v6   release_input_changes: unpublished stages compared              survived LO2; new
  n1   needs_spark_to_plan: local inputs need Spark                    killed: PLAN
  n2   needs_spark_to_plan: the stages asked about ignored             killed: PLAN
  l1   _check_upstream_inputs: the closure of the run, not the stage   killed: test_rerun_s46
  l2   _check_left_out_current: only incomplete stages judged          killed: test_rerun_s45b
  e1   ehr_row_in_release_expr: a row ON the cutoff day outside        killed: R40
  o3   period_after_cutoff_expr: the start (not the earlier date)      killed: R40
  a3   left_out_of_standardisation: the pc_adjusted branch never taken killed: R39C
  Not run (time; the load): o2 o4 e3 (each the fix's own regression, named failing on its base in
  R40's docstrings), e2 e6 (R40's 4009 and its count of 1), e4 (its function is being replaced
  this session), a1 a2 (R39C's NaN and single empty PC), s8 (unread tables compared: the stage test).
"""

from __future__ import annotations

import numpy as np


def test_cox_monotone_direction_reads_each_event_against_its_risk_set():
    """``models.covariates.cox_monotone_direction`` on five hand-read shapes (no fit):

    - durations 1..5, events at 1, 2, 4, x 0 0 1 0 2: every event at the lowest x of those still
      at risk (duration >= its own), tied with others there: "lowest" (mutant x1, ``<=`` -> ``<``:
      a tie at the extreme not monotone, None); x negated: "highest" (x3: that side never checked);
    - durations 1, 2, 3, one event at 2 with x 0 between -5 (left the risk set at 1) and 1: the
      lowest of its risk set {0, 1}, "lowest" (x2: the risk set read as duration <= t, {-5, 0},
      where 0 is the highest: "highest");
    - one event at 1 with x 1 among 0 and 2 at risk: None (x4: the extremes of the persons with
      that very duration only, {1}: "lowest", a fit refused as separation);
    - no event: None (x5: the guard dropped, ``all()`` of nothing: "lowest", a fit without
      events called separation)."""
    from trd_spark.models.covariates import cox_monotone_direction

    def direction(duration, event, x):
        return cox_monotone_direction(np.array(duration, float), np.array(event), np.array(x, float))

    d, e, x = [1, 2, 3, 4, 5], [1, 1, 0, 1, 0], [0, 0, 1, 0, 2]
    assert direction(d, e, x) == "lowest"
    assert direction(d, e, [-v for v in x]) == "highest"
    assert direction([1, 2, 3], [0, 1, 0], [-5, 0, 1]) == "lowest"
    assert direction([1, 2, 3], [1, 0, 0], [1, 0, 2]) is None
    assert direction(d, [0] * 5, x) is None


def test_a_shrink_warning_gives_a_percent_only_from_t_rows_lost():
    """``phenotypes.shrink.shrink_warnings`` with T = 20: a table that lost 19 rows (of 100: 19.0%
    beside the earlier release's published 100 gives back 19) says "more than 10%"; one that lost
    20 gives its percent. Mutant s3 (``lost < persons_below - 1``): the 19 given as 19.0%."""
    from trd_spark.phenotypes.shrink import shrink_warnings

    lines = shrink_warnings({"person": -0.19, "drug_exposure": -0.2}, {"person": 81, "drug_exposure": 80},
                            {"person": 100, "drug_exposure": 100}, "r1", 0.1, 20)
    assert [line.split(" fewer rows")[0] for line in lines] == [
        "OMOP table person has more than 10%", "OMOP table drug_exposure has 20.0%"]


def test_a_field_wholly_in_quotes_is_read_as_its_content_a_doubled_quote_as_one():
    """``pgs.scoring_files._unquoted_fields`` (R's ``write.table`` and RFC 4180 quoting, read one row
    per line): ``"x""y"`` is ``x"y`` (a doubled quote inside, one), ``""`` is missing, a quote that
    only opens (``"MHC``) or only closes stays as written. Mutants q3 (the doubled quote kept
    doubled) and q5 (a field holding a doubled quote not unquoted at all) survived
    tests/test_field_cases_round41_pgs.py, whose quoted fields hold none; q4 (``""`` an empty string)."""
    import pandas as pd

    from trd_spark.pgs.scoring_files import _unquoted_fields

    got = _unquoted_fields(pd.DataFrame({"locus_name": ['"x""y"', '""', '"MHC', 'z"', '"A"', "w"]}))
    assert got["locus_name"].iloc[0] == 'x"y' and pd.isna(got["locus_name"].iloc[1])
    assert got["locus_name"].tolist()[2:] == ['"MHC', 'z"', "A", "w"]


def test_the_headline_names_a_release_whose_export_under_an_audit_output_root_showed_a_hidden_fit(tmp_path):
    """``cli._other_releases_note`` reads the exports of ``report.audit_output_roots`` too (the
    roots the report's audit is linked to, e.g. the output root of an earlier workspace): there an
    r1 whose published export showed both fits this release's export hides is named; the same r1
    under no root of the config is not. Mutant k6 (only ``output_root`` read) survived
    tests/test_release_s47.py, whose r1 is under the output root."""
    import pandas as pd
    from test_cli import publish_headline_export, write_headline_fits

    from trd_spark.cli import headline_table
    from trd_spark.config import load_config
    from trd_spark.layout import Layout

    other = tmp_path / "earlier_workspace"
    cfg = load_config(None, overrides={"output_root": str(tmp_path / "out"), "release": "r2"})
    audited = cfg.model_copy(update={"report": cfg.report.model_copy(update={"audit_output_roots": [str(other)]})})
    layout = Layout.of(cfg)
    rows = write_headline_fits(cfg, layout)
    publish_headline_export(layout, [{**r, "n": "suppressed", "n_cases": "suppressed", "odds_ratio": ""} for r in rows])
    r1 = other / "r1" / "export"
    r1.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(r1 / "results.tsv", sep="\t", index=False)
    (r1 / "_SUCCESS").write_text("")
    assert "another release" not in headline_table(None, cfg, None)
    assert headline_table(None, audited, None).splitlines()[-1].startswith(
        "(another release's export showed a fit hidden here: r1;")


def test_download_scores_warns_when_one_file_it_wrote_is_not_read_though_others_are(tmp_path, caplog):
    """``cli._warn_files_not_read`` with ``pgs.scoring_files`` a glob (``scores/PGS00000[12]*``)
    and two files written to ``scores``: PGS000001's is read, PGS000003's is not (the next run
    would be "up to date" without it): one WARNING; both read: none. Mutant k3 (``any`` ->
    ``all``: only when no file written is read) survived tests/test_rerun_s47.py, whose case
    writes one file."""
    import logging

    from trd_spark.cli import _warn_files_not_read
    from trd_spark.config import load_config

    scores = tmp_path / "scores"
    scores.mkdir()
    written = [scores / "PGS000001_hmPOS_GRCh38.txt.gz", scores / "PGS000003_hmPOS_GRCh38.txt.gz"]
    for f in written:
        f.write_bytes(b"")
    cfg = load_config(None)
    cfg = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"scoring_files": [f"{scores}/PGS00000[12]*"]})})
    caplog.set_level(logging.WARNING, logger="trd_spark")
    _warn_files_not_read(cfg, str(scores), ["GRCh38"], written[:1])
    assert not caplog.records
    _warn_files_not_read(cfg, str(scores), ["GRCh38"], written)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        f"download-scores wrote to {scores}"]


def test_a_replication_row_whose_shown_q_equals_alpha_says_it_was_selected_over_every_fit():
    """``report.tables.corrections_over_shown`` with alpha 0.05: P3's count is hidden (p 0.001);
    P1 (p 0.025) has q 0.0375 over the three fits (selected) and exactly 0.05 = 0.025 x 2/1 over
    the two shown: not below alpha, so its row carries ``ReplicationNote.SELECTED_OVER_EVERY_FIT``
    (significance is q < alpha). Mutant r1 (``>=`` -> ``>``: a shown q equal to alpha read as
    significant, no note) survived tests/test_report_suppression.py, whose shown q is 0.0525."""
    import pandas as pd

    from trd_spark.models.multiple_testing import adjust_within_families
    from trd_spark.report.tables import ReleaseCounts, suppress_release
    from trd_spark.vocabulary import ReplicationNote

    flow = pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [525]})
    counts = pd.DataFrame({"dataset": "disc", "definition": "x", "status": ["TRD", "trMDD", "MDD_other", "non_MDD"],
                           "n": [100, 150, 75, 200]})
    logistic = adjust_within_families(pd.DataFrame({
        "dataset": "disc", "definition": "x", "contrast": "trd_vs_nonmdd", "pgs_id": ["P1", "P2", "P3"],
        "n": [300, 300, 210], "n_cases": [100, 100, 10], "beta": [0.3, 0.2, 0.9], "se": 0.1,
        "p": [0.025, 0.9, 0.001]}), ["dataset", "definition", "contrast"])
    full = logistic.set_index("pgs_id")["q_fdr"]
    replication = pd.DataFrame({"dataset": "rep", "definition": "x", "contrast": "trd_vs_nonmdd", "pgs_id": ["P1"],
                                "beta_discovery": [0.3], "p_adjusted_discovery": [full["P1"]], "beta": 0.2, "se": 0.1,
                                "p": 0.04, "replicated": True, "note": [""]})
    rc = ReleaseCounts(cohort_flow=flow, cohort_counts=counts, logistic=logistic, cox=None, pgs_distribution=None,
                       primary_definition="x", replication=replication, discovery_dataset="disc", discovery_alpha=0.05)
    rep = suppress_release(rc, 20)["replication"].set_index("pgs_id")
    assert full["P1"] < 0.05 and rep.loc["P1", "p_adjusted_discovery"] == 0.05
    assert rep.loc["P1", "note"] == str(ReplicationNote.SELECTED_OVER_EVERY_FIT)


def test_the_export_notes_a_replication_row_selected_over_every_fit_with_the_config_alpha():
    """``report.stage.build_report`` (the export, no Spark) passes ``models.alpha`` on to the
    replication rows' check (``corrections_over_shown``): P3's count hidden (10 cases, p 0.001),
    P1 (p 0.03) selected on q 0.045 = 0.03 x 3/2 over the three fits and shown at 0.06 = 0.03 x 2
    over the two shown: its replication.tsv row says why it is listed. Mutant r3 (``discovery_alpha``
    not passed: never checked, the row read as significant) survived every test (tests/
    test_report_suppression.py builds ``ReleaseCounts`` itself)."""
    import io

    import pandas as pd
    from test_field_cases_round38_models import _release

    from trd_spark.config import load_config
    from trd_spark.report.stage import build_report
    from trd_spark.schemas import REPLICATION
    from trd_spark.vocabulary import ReplicationNote

    cfg = load_config()
    t = _release(cfg, [{"pgs_id": "P1", "n": 8000, "n_cases": 3000, "beta": 0.1, "se": 0.05, "p": 0.03},
                       {"pgs_id": "P2", "n": 8000, "n_cases": 3000, "beta": 0.01, "se": 0.05, "p": 0.9},
                       {"pgs_id": "P3", "n": 5010, "n_cases": 10, "beta": 1.0, "se": 0.3, "p": 0.001}])
    full = t["logistic"].set_index("pgs_id")["q_fdr"]
    assert full["P1"] < cfg.models.alpha
    t["replication"] = pd.DataFrame([{
        "dataset": "rep", "definition": cfg.phenotypes.primary_definition, "contrast": "trd_vs_nonmdd",
        "pgs_id": "P1", "trait": "P1", "domain": "d", "beta_discovery": 0.1, "p_adjusted_discovery": full["P1"],
        "beta": 0.08, "se": 0.04, "p": 0.04, "same_direction": True, "replicated": True, "note": ""}],
        columns=REPLICATION.names)
    shown = pd.read_csv(io.StringIO(build_report(cfg, t, {})["replication.tsv"]), sep="\t")
    assert shown["p_adjusted_discovery"].round(6).tolist() == [0.06]
    assert shown["note"].tolist() == [str(ReplicationNote.SELECTED_OVER_EVERY_FIT)]


def test_only_a_published_stage_has_inputs_that_changed_since_the_release_was_published(tmp_path):
    """``report.compare.release_input_changes`` on a hand-written phenotypes manifest whose recorded
    ``omop.path`` fingerprint is not today's: while the stage folder has no ``_SUCCESS`` (a run that
    stopped before publishing it) there is nothing published to compare; once published, one change
    of ``omop.path`` in the phenotypes stage. Mutant v6 (the ``is_complete`` check dropped: an
    unpublished stage's inputs reported in compare-releases' WARNING and ``_disclosure.json``)
    survived tests/test_leftovers2_s47.py, whose stages are all published."""
    import json

    from trd_spark.config import load_config
    from trd_spark.layout import Layout
    from trd_spark.releases import LocalFs
    from trd_spark.report.compare import release_input_changes

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    folder = tmp_path / Layout.of(cfg).release / "phenotypes"
    folder.mkdir(parents=True)
    recorded = {"omop.path": {"path": cfg.omop.path, "exists": True, "files": 3, "bytes": 7, "digest": "0" * 64}}
    (folder / "_manifest.json").write_text(json.dumps({"fingerprint_parts": {"inputs": recorded}}))
    assert release_input_changes(cfg, LocalFs()) == []
    (folder / "_SUCCESS").write_text("")
    assert [(c.stage, c.key) for c in release_input_changes(cfg, LocalFs())] == [("phenotypes", "omop.path")]
