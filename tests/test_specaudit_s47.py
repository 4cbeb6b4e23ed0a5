"""Session 47 specaudit: the report's Methods state the rules the chain applies (study.md's rules vs
the code, line by line; benchmarks/RESULTS.md "Session 47 specaudit").

The Methods (``report.stage.methods_html``, in report/ and export/) are generated from the config
and are a study's published statement of its rules. They said an adequate trial was one of
``min_trial_days`` after merging gaps, and a control had no depression code and no antidepressant;
the chain also asks the trial to start on/after the MDD index (``pre_index_window_days``), counts its
days up to the end of follow-up, applies the per-ingredient switches, and keeps persons with an
exclusion diagnosis or without evidence of EHR data (``omop.ehr_evidence``, ``no_ehr_data``) out of
the controls. Pure functions on the embedded toy config: no Spark; the report stage's run passes the
phenotypes manifest's rule (test_report_stage's full run reads it).
"""

from __future__ import annotations

import pytest

from trd_spark.config import load_config
from trd_spark.report.stage import methods_html


def _methods(trials: dict | None = None, ehr_evidence: str | None = None) -> str:
    cfg = load_config()
    ph = cfg.phenotypes
    cfg = cfg.model_copy(update={"phenotypes": ph.model_copy(update={"trials": ph.trials.model_copy(update=trials or {})})})
    return methods_html(cfg, {}, 20, ehr_evidence=ehr_evidence)


def test_methods_state_the_trial_window_follow_up_clip_and_per_ingredient_switches():
    """Base 1dcddaa: "exposures of one ingredient merged across gaps &le; 30 days, lasting &ge; 42 days
    (missing days' supply: 30)" whatever the window and switches; a course begun before the index
    (never adequate: trials.derive_antidepressant_trials) read as a trial."""
    html = _methods()
    assert ("<dt>Adequate antidepressant trial</dt><dd>exposures of one ingredient merged across gaps &le; 30 days, "
            "lasting &ge; 42 days up to the end of follow-up (missing days' supply: 30), starting on or after the MDD "
            "index</dd>") in html, html
    html = _methods(trials={"pre_index_window_days": 90, "ingredient_min_trial_days": {715259: 56, 703547: 28},
                            "ignored_ingredient_ids": [750982, 703547], "ingredient_min_daily_dose": {703547: 150.0}})
    assert ("starting on or after the MDD index or up to 90 days before it; minimum days per ingredient concept ID: "
            "703547: 28, 715259: 56; never a trial (still no control): ingredient concept IDs 703547, 750982; an "
            "exposure whose known daily dose is below the ingredient's minimum is none: 703547: 150 (mg/day); the "
            "quantity of a liquid with a stated volume") in html, html
    # with the reading of a liquid's quantity that minimum goes by (session 52: tests/test_leftovers_s52.py)
    assert "(trials.quantified_liquid_quantity: items_or_ml)</dd>" in html, html


@pytest.mark.parametrize(("evidence", "words"), [
    # session 48: a row dated after the cutoff is no evidence (phenotypes.stage.ehr_row_in_release_expr, e76b067)
    ("any_record", ", and a record in condition_occurrence, drug_exposure, procedure_occurrence or device_exposure "
                   "dated on or before the EHR data cutoff, or undated (evidence of EHR data); no minimum age"),
    ("observation_period", ", and an observation period (evidence of EHR data); no minimum age"),
    ("none", ", EHR data or not; no minimum age"),
    (None, "; no minimum age"),  # an older phenotypes manifest: the rule is not known, not stated
])
def test_methods_state_every_control_exclusion_and_the_ehr_evidence_rule(evidence, words):
    """Base 1dcddaa: "controls: no depression_spectrum diagnosis and no antidepressant (...) ever", the
    exclusion diagnoses (mdd.derive_mdd: a non-MDD person with one is excluded) and the EHR evidence
    rule (a third of All of Us' genomes without EHR: no_ehr_data) in no word. The rule is the one the
    phenotype stage applied (its manifest's notes.ehr_evidence.rule, passed by the report stage's run)."""
    html = _methods(ehr_evidence=evidence)
    assert "controls: no depression_spectrum, bipolar, schizophrenia_spectrum diagnosis and no antidepressant" in html
    assert "procedure or observation record: esketamine_clinic) ever" + words + (
        " or length of observation for controls</dd>") in html, html


def test_methods_state_when_each_trd_onset_counts():
    """Base 1dcddaa: "2 adequate trials, then an augmentation agent (augmentation)" (the chain takes an
    exposure from the 2nd trial's START, concurrent with it: trd.augmentation_onset_expr) and "a somatic
    treatment (ect, tms, ...)" (the chain: on/after the MDD index only), no word of the onset's bound
    (on or before the end of follow-up: trd.derive_phenotypes)."""
    html = _methods()
    assert ("2 adequate trials, then an augmentation agent (augmentation): its first exposure on or after the start of "
            "the 2nd adequate trial of a distinct antidepressant</li>") in html, html
    assert ") on or after the MDD index</li></ul>each onset on or before the end of follow-up</dd>" in html, html


def test_methods_state_which_records_make_an_mdd_diagnosis():
    """Base 1dcddaa: "at least 2 diagnoses (mdd) on distinct dates, age &ge; 18 at the first; excluded:
    bipolar, schizophrenia_spectrum": the chain counts records within follow-up only, none whose
    condition status is preliminary or history-of (mdd.derive_mdd, vocabulary.NOT_A_DIAGNOSIS_STATUS_IDS),
    and excludes for a bipolar or schizophrenia-spectrum record of any date and status."""
    html = _methods()
    assert ("<dt>MDD</dt><dd>at least 2 diagnoses (mdd) on distinct dates within follow-up (a record whose condition "
            "status is a preliminary or history-of diagnosis is none), age &ge; 18 at the first; excluded: bipolar, "
            "schizophrenia_spectrum (any date, any status); controls:") in html, html
