"""Somatic TRD through a drug-domain set (esketamine product) and through ECT before index."""

from __future__ import annotations

from test_phenotypes_support import (
    ECT_SNOMED,
    ESKETAMINE_SPRAY,
    MDD_CONCEPT,
    cond,
    d,
    days,
    drug,
    obs,
    omop_tables,
    person,
    proc,
    toy_config,
)

from trd_spark.phenotypes.stage import derive_phenotype_tables


def test_esketamine_product_is_somatic_onset_and_pre_index_events_are_ignored(spark):
    omop = omop_tables(
        spark,
        persons=[person(1), person(2)],
        observation_periods=[obs(1), obs(2)],
        conditions=[cond(p, MDD_CONCEPT, day) for p in (1, 2) for day in ("2016-01-01", "2016-03-01")],
        drugs=[drug(1, ESKETAMINE_SPRAY, "2015-06-01"), drug(1, ESKETAMINE_SPRAY, "2017-04-04")],
        procedures=[proc(2, ECT_SNOMED, "2015-12-31")],  # the day before index
    )
    df = derive_phenotype_tables(omop, toy_config()).phenotypes.where("definition = 'somatic'")
    got = {r.person_id: (r.status, r.trd_onset_date, r.time_to_trd_days, r.trd_event) for r in df.collect()}
    assert got[1] == ("TRD", d("2017-04-04"), days("2016-01-01", "2017-04-04"), 1)
    assert got[2] == ("MDD_other", None, days("2016-01-01", "2023-07-01"), 0)


def test_controls_do_not_depend_on_which_trd_definitions_are_configured(spark):
    """The control rule's drugs besides the trials' antidepressants come from phenotypes.mdd.
    control_exclusion_drug_concept_sets (default: esketamine), not from the somatic TRD
    definitions: with and without the somatic definition, person 1 (an esketamine record, no
    depression code) is antidepressant_no_mdd and person 2 (no record) the control. Before,
    the somatic definition's drug sets decided, so without it person 1 was a control (non_MDD):
    a config choice about TRD silently changed the control group. An empty list makes him one."""
    omop = omop_tables(spark, persons=[person(1), person(2)], observation_periods=[obs(1), obs(2)],
                       drugs=[drug(1, ESKETAMINE_SPRAY, "2017-04-04")])
    cfg = toy_config()
    ph = cfg.phenotypes

    def groups(**updates) -> dict[int, tuple[str, str | None]]:
        run = cfg.model_copy(update={"phenotypes": ph.model_copy(update=updates)})
        return {r.person_id: (r.mdd_status, r.exclusion_reason) for r in derive_phenotype_tables(omop, run).mdd.collect()}

    without_somatic = [t for t in ph.trd_definitions if t.rule != "somatic"]
    assert len(without_somatic) < len(ph.trd_definitions)
    want = {1: ("excluded", "antidepressant_no_mdd"), 2: ("non_MDD", None)}
    assert groups() == groups(trd_definitions=without_somatic) == want
    no_drugs = ph.mdd.model_copy(update={"control_exclusion_drug_concept_sets": []})
    assert groups(mdd=no_drugs)[1] == ("non_MDD", None)
