"""Mutation review of session 48's code (session 49, helper "review").

Each test kills mutants of 75fd51b..241c7d9 (``trd_spark/``) that the tests of session 48 let pass
(named in each docstring). Cheap: pure functions, a few files in ``tmp_path``, two tiny frames on
the shared Spark session; no stage run. Mutants were one-line changes applied in scratch copies of
241c7d9 and run (``-x``, ``-n 0``, load 15-30 on the 2 cores) against the modules named.

Modules: CFG (test_config -k small_count_threshold_below_20), R41 (test_field_cases_round41_omop),
R42 (..._round42_omop), R42C (its -k config_error), R40O (..._round40_omop), R40M (..._round40_models,
the test named), R42P (..._round42_pgs -k "column_names or duplicate_locus"), REL (test_releases -k
ready_marker), S48 (test_rerun_s48); "new": a test below. 54 written: 41 run against the modules, 23
killed, 18 survived; 5 judged by reading (t1 t5 t8 b5 b6: no module pins them); 8 not run. The 7
tests (9 cases) below kill the 14 meaningful survivors (c3 d1 d3 d4 d6 t1 t5 b6 f1 f2 f3 f4 f9 o5; also d2).
  id   change                                                           result
  c1   small_count_threshold: ``v < 20`` -> ``v <= 18`` (19 loads)       killed: CFG
  c2   ready_marker: a ``..`` part accepted                              killed: REL
  c3   exclude_dose_forms: refused on a condition set only               survived R41; new
  c4   min-dose keys: the first TRD definition's augmentation set only   killed: R42C
  c5   min-dose keys: an error only for two unknown keys                 killed: R42C
  c6   min-dose keys: the sets' excludes' IDs accepted too               survived R42C: low (the shipped
                                                                           sets exclude by code only)
  d1   dose_form_pattern: no ``\\b`` ("Subcutaneous" is "Cutaneous")     survived R41; new
  d2   dose_form_excluded: the descendants' form_names not read          killed: R41; + new
  d3   dose_form_excluded: the roots' names not read                     survived R41; new
  d4   expand_concept_set: the dose-form members not subtracted          survived R41 (the chain reads
                                                                           the antidepressants by
                                                                           ingredient_map; a drug set read
                                                                           by concept_set_ids loses its
                                                                           words); new
  d5   ingredient_map: the dose-form members not excluded                killed: R41
  d6   _descendant_facts: nothing looked up without invalid_reason       survived R41; new
  t1   at_min_dose_records: ``dose <= min`` (a dose AT the minimum out)   new (R42's doses are 25 and 300)
  t5   min_dose_record_counts: a reversed claim (days_supply < 0) read   new (R42's supplies are positive)
  t6   stage_counts: the agents' dose counts over every drug record,     survived R42: a manifest count
       not those within follow-up                                          only; no cheap test
  t8   phenotypes run(): the phenotypes written without the agents'      survived (read: no test runs the
       doses (derive_phenotype_tables, which R42 runs, keeps them)         stage with an agent's minimum);
                                                                           no cheap test: see below
  m1   derive_mdd: ``F.min`` of in_release (a person with rows before    killed: R40O
       and after the cutoff no evidence)
  m3   ehr_evidence_persons: every row in the release                    killed: R40O
  b1   persons_beyond_sd: ``>= bound``                                   survived R40M: not meaningful (a
                                                                           z of exactly 10.000)
  b2   persons_beyond_sd: scores of 0 persons kept                       killed: R40M
  b3   warn_beyond_sd: the labels the counts themselves                  killed: R40M
  b4   cohort run: notes.pgs_beyond_sd left empty                        killed: R40M
  b5   report run: the cohort note not passed to build_report            survived (read: no test runs the
                                                                           report stage with the note); no
                                                                           cheap test
  b6   build_report: ``beyond_sd`` not read                              survived (read: no test passes
                                                                           it); new
  f1   few_valued_scores: ``k <= threshold``                              survived R40M; new
  f2   few_valued_scores: the tie condition ``k < n`` dropped             survived R40M; new
  f3   few_valued_scores: a group flagged alone, not its whole score     survived R40M; new
  f4   few_valued_scores: flagged across datasets                        survived R40M; new
  f5   suppress_release: a few-valued score's moments only hidden         killed: R40M
  f6   suppress_release: n_values exported                               killed: R40M
  f7   pgs_distribution: distinct raw values (no rounding)               killed: R40M
  f8   pgs_distribution: rounded to 16 places                            killed: R40M
  f9   few_valued_scores: ``k <= n``                                     survived R40M; new
  o1   out_of_date_comparisons: a release filter on the first of a pair  killed: S48
  o2   out_of_date_comparisons: an incomplete export not judged          killed: S48
  o3   out_of_date_comparisons: the run ids compared, not the identity   survived S48: equivalent in
                                                                           practice (a run id names one
                                                                           export)
  o4   cli: the closing WARNING also when the report stage did not run   killed: S48
  o5   cli releases: the listing limited to ``cfg.release``               survived S48; new
  r1   found_releases: the ready marker asked of toy releases            killed: REL
  r2   not_ready: the marker looked for in the root, not each release    killed: REL
  p1   locate_rows: POS read as the second field whatever the header     killed: R42P
  p2   locate_rows: a space-separated .pvar split on tabs                killed: R42P
  p3   locate_rows: the line end not stripped                            survived R42P: equivalent (POS is
                                                                           never a .pvar's last column)
  p4   _read_pvar: every header split on runs of blanks                  survived R42P: equivalent for
                                                                           the tab files plink2 writes (an
                                                                           empty field would shift)
  p5   locate_rows: the #CHROM header read for a VCF too                 survived (test_field_cases_pgs*
                                                                           -k "locate or duplicate"):
                                                                           equivalent (a VCF's POS is its
                                                                           second tab field)
  y1   toydata: truth.json not removed before a generation               killed: S48
  Not run (time; the load 15-30): d7 d8 (d8 equivalent: the pattern is ``(?i)``), t2 t3 t4 t7 (each
  the fix's own regression, named failing on its base in R42's docstrings), m2 m4.
  Left without a test: c6, t6, b1, o3, p3, p4 (above); t8 and b5 need a stage run: the phenotypes
  stage's ``published`` fixture (tests/test_phenotypes_stage.py) with an augmentation agent's
  minimum, and the report stage with a cohort note, would kill them.
"""

from __future__ import annotations

import pandas as pd
import pytest


def test_few_valued_scores_reads_each_group_below_the_threshold_and_flags_its_whole_score_in_its_dataset():
    """``report.tables.few_valued_scores`` with T = 20 on hand-read rows (n persons, distinct values):

    - P1 in d: EUR 500 persons of 19 values (few: 19 < 20 and ties), so AFR's 300 of 300 values, the
      same score in the same dataset, is hidden too (mutant f3: only the group itself flagged, AFR's
      moments published beside EUR's hidden ones); P1 in dataset e (400 of 400) is another dataset's
      score and stays (f4: flagged across datasets, every dataset's P1 hidden);
    - P2: 500 persons of exactly 20 values, not fewer than T: shown (f1: ``k <= threshold``);
    - P3: an EAS group of 15 persons of 15 values (a small group of a continuous score, no ties) is
      not a few-valued score, and EUR's 500 of 500 stays (f2: the ``k < n`` tie condition dropped;
      f9: ``k <= n``: every statistic of a continuous score hidden because one group is small)."""
    from trd_spark.report.tables import few_valued_scores

    dist = pd.DataFrame(
        [("d", "eur", "P1", 500, 19), ("d", "afr", "P1", 300, 300), ("e", "eur", "P1", 400, 400),
         ("d", "eur", "P2", 500, 20), ("d", "eas", "P3", 15, 15), ("d", "eur", "P3", 500, 500)],
        columns=["dataset", "ancestry", "pgs_id", "n", "n_values"])
    assert few_valued_scores(dist, 20).tolist() == [True, True, False, False, False, False]


def test_a_dose_form_word_leaves_out_roots_and_descendants_by_whole_word_any_case():
    """``phenotypes.concepts.dose_form_excluded`` / ``expand_concept_set`` on a hand-made
    ``Vocabulary`` (no Spark): the doxepin set includes the ingredient 738156 (with descendants)
    and, by ID, a root product named as a topical cream (5, ``names``); descendant 1 is a topical
    cream (``form_names``), 2 an oral capsule. Words ["topical", "Cutaneous"]: 1 and 5 are left out,
    whatever the case; a subcutaneous product (3, a root by ID) is no cutaneous one and stays.
    Mutants: d1 (the ``\\b`` word bounds dropped: "Subcutaneous" matched "Cutaneous"), d2 (the
    descendants' ``form_names`` not read: 1 kept), d3 (the roots' ``names`` not read: 5 kept,
    survived tests/test_field_cases_round41_omop.py, whose creams are descendants)."""
    from trd_spark.config import ConceptSet
    from trd_spark.phenotypes.concepts import Vocabulary, dose_form_excluded, expand_concept_set

    cs = ConceptSet(domain="drug", include=[{"concept_id": 738156, "name": "doxepin", "descendants": True},
                                            {"concept_id": 5, "name": "cream"}, {"concept_id": 3, "name": "sc"}],
                    exclude_dose_forms=["topical", "Cutaneous"])
    vocab = Vocabulary(codes={}, descendants={738156: frozenset({1, 2})},
                       names={738156: "doxepin", 5: "doxepin 5 % TOPICAL Cream [Zonalon]",
                              3: "doxepin 10 MG/ML Subcutaneous Solution"},
                       form_names={1: "doxepin hydrochloride 50 MG/ML Topical Cream"})
    assert dose_form_excluded(cs, vocab) == {1, 5}
    assert expand_concept_set(cs, vocab) == {738156, 2, 3}


@pytest.mark.parametrize("domain", ["procedure", "device", "observation"])
def test_exclude_dose_forms_is_refused_on_every_set_but_a_drug_set(domain):
    """A dose-form word names RxNorm drug products; on a procedure set "Topical" matches "Topical
    application of fluoride" and leaves the procedure out, silently. Mutant c3 (only a condition set
    refused) survived tests/test_field_cases_round41_omop.py, which tries a condition set."""
    from trd_spark.config import ConceptSet

    with pytest.raises(ValueError, match="exclude_dose_forms names RxNorm dose forms: a drug set's only"):
        ConceptSet(domain=domain, include=[{"concept_id": 1, "name": "x"}], exclude_dose_forms=["Topical"])


def test_an_augmentation_record_at_exactly_its_minimum_is_kept_and_a_negative_supply_is_not_counted(spark):
    """``phenotypes.trials.at_min_dose_records`` and ``min_dose_record_counts`` over one small frame,
    quetiapine (766814) with a minimum of 150 mg/day, its 25 mg tablet (10) and a product without a
    drug_strength amount (11); aripiprazole (757688, no minimum) 5 mg (20). Daily dose quantity x
    amount / days_supply: person 1 180 x 25 / 30 = 150, exactly the minimum (kept: "below it" is no
    exposure); 2 125 (dropped, counted below); 3 no quantity and 4 no amount (kept, counted of
    unknown dose); 5 no minimum (kept); 6 a reversed claim (days_supply -30: no exposure by
    ``is_exposure_expr``, which its caller applies first, so neither count reads it). Mutants: t1
    (``dose <= min``: person 1 dropped), t5 (``min_dose_record_counts`` reading the reversed claim:
    3 of unknown dose), both surviving tests/test_field_cases_round42_omop.py, whose doses are 25
    and 300 mg/day and whose supplies are positive."""
    from trd_spark.phenotypes.concepts import ingredient_frame
    from trd_spark.phenotypes.trials import at_min_dose_records, min_dose_record_counts

    ingredients = ingredient_frame(spark, [(10, 766814, "quetiapine"), (11, 766814, "quetiapine"),
                                           (20, 757688, "aripiprazole")],
                                   amounts={(10, 766814): 25.0, (20, 757688): 5.0}, min_daily_dose={766814: 150.0})
    drugs = spark.createDataFrame(
        [(1, 10, 180.0, 30), (2, 10, 150.0, 30), (3, 10, None, 30), (4, 11, 30.0, 30), (5, 20, 1.0, 30),
         (6, 10, 30.0, -30)], "person_id long, drug_concept_id long, quantity double, days_supply int")
    assert sorted(r.person_id for r in at_min_dose_records(drugs, ingredients).collect()) == [1, 3, 4, 5, 6]
    assert min_dose_record_counts(drugs, ingredients).first().asDict() == {"n_below_min_dose": 1, "n_dose_unknown": 2}


def test_a_concept_table_without_invalid_reason_still_gives_the_dose_form_descendants(spark):
    """``phenotypes.concepts._descendant_facts`` (``load_vocabulary``'s one job over the descendants)
    on a ``concept`` table without the ``invalid_reason`` column, which the chain reads as "no
    concept invalid": the descendants whose name holds a dose-form word still come back (1, the
    cream; not 2, an oral capsule, nor 3 without a name), so the set still leaves them out. Mutant
    d6 (``if not ids or not has_reason``: nothing looked up without the column, every topical
    product an antidepressant exposure again, silently) survived
    tests/test_field_cases_round41_omop.py, whose concept table has the column."""
    from trd_spark.phenotypes.concepts import _descendant_facts, dose_form_pattern

    concept = spark.createDataFrame([(1, "doxepin hydrochloride 50 MG/ML Topical Cream"),
                                     (2, "doxepin 10 MG Oral Capsule"), (3, None)], "concept_id long, concept_name string")
    assert _descendant_facts(concept, {1, 2, 3}, dose_form_pattern(["Topical"])) == (
        set(), {1: "doxepin hydrochloride 50 MG/ML Topical Cream"})


def test_the_report_shows_the_cohort_manifests_beyond_sd_finding_as_a_warning():
    """``report.stage.build_report`` (the export, no Spark) with ``beyond_sd``, the cohort manifest's
    ``notes.pgs_beyond_sd``: report.html carries the warning section naming the dataset, the score
    and the persons as their label only; without it, no such section. Mutant b6 (``beyond_sd``
    not read: the finding in a run log only, the per-SD ORs published without a word) survived
    tests/test_field_cases_round40_models.py, which calls ``beyond_sd_note`` itself."""
    from test_field_cases_round38_models import _release

    from trd_spark.config import load_config
    from trd_spark.report.stage import build_report

    cfg = load_config()
    t = _release(cfg, [{"pgs_id": "P1", "n": 8000, "n_cases": 3000, "beta": 0.1, "se": 0.05, "p": 0.03}])
    html = build_report(cfg, t, {}, beyond_sd={"discovery": {"P1": "<20"}})["report.html"]
    assert "PGS far beyond a normal tail" in html and "dataset discovery: P1 (&lt;20 standardised person(s))" in html
    assert "PGS far beyond a normal tail" not in build_report(cfg, t, {})["report.html"]


def test_the_releases_listing_names_an_out_of_date_comparison_of_releases_other_than_the_configs(tmp_path, capsys):
    """``cli._print_out_of_date_comparisons`` (below ``trd-spark releases``' table) lists every
    comparison under ``output_root`` that reads an earlier export, whatever release the config names
    (``release`` is the run's default, not a filter of the listing): here a config of C2099Q1R1 and
    C2022Q4R9_vs_C2024Q3R5 out of date. Mutant o5 (the listing limited to ``cfg.release``'s
    comparisons) survived tests/test_rerun_s48.py, whose config names a release of the pair."""
    from test_rerun_s48 import RELEASES, _compare, _publish

    from trd_spark.cli import _print_out_of_date_comparisons
    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs

    root = str(tmp_path / "results")
    for r in RELEASES:
        _publish(root, r, f"report-{r}-1")
    _compare(root)
    _publish(root, RELEASES[1], f"report-{RELEASES[1]}-2")
    cfg = load_config(None, overrides={"output_root": root, "toy_data": None, "release": "C2099Q1R1",
                                       "releases": {"input_root": str(tmp_path / "inputs")}})
    _print_out_of_date_comparisons(cfg, LocalFs())
    out = capsys.readouterr().out
    assert out.startswith(f"\ncomparisons:\n  compare/{RELEASES[0]}_vs_{RELEASES[1]}/ is out of date: "), out
