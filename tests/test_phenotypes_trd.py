"""TRD per definition, trMDD follow-up rule, censoring and time to TRD, on drawn timelines.

All persons: born 1970, observed 2000-01-01..2023-12-31, cutoff 2023-07-01, MDD codes on
2015-01-01 and 2015-02-01 (index 2015-01-01) unless noted. Toy definitions: ad3
(3 distinct adequate trials), ad2_augmentation (augmentation after the 2nd), somatic.
"""

from __future__ import annotations

import re

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from test_phenotypes_support import (
    ARIPIPRAZOLE_TAB,
    CITALOPRAM,
    ECT_CPT4,
    ECT_SNOMED,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    death,
    drug,
    frame,
    literal_frame,
    obs,
    omop_tables,
    person,
    proc,
    toy_config,
)

from trd_spark.phenotypes.flow import cohort_flow_rows, definition_partitions
from trd_spark.phenotypes.stage import (
    EVENT_TABLES,
    concept_set_ids,
    derive_definition_phenotypes,
    derive_phenotype_tables,
    study_vocabulary,
)
from trd_spark.phenotypes.trd import derive_phenotypes, person_treatment, sequence_onset_expr, somatic_onset_expr
from trd_spark.schemas import PHENOTYPES, check_spark

INDEX = "2015-01-01"
CUTOFF = "2023-07-01"
MDD_PEOPLE = [1, 2, 3, 4, 5, 6, 7]


def trd_omop(spark):
    persons = [person(i) for i in range(1, 9)]
    conditions = [c for i in MDD_PEOPLE for c in (cond(i, MDD_CONCEPT, INDEX), cond(i, MDD_CONCEPT, "2015-02-01"))]
    drugs = [
        # 1: sertraline, fluoxetine, sertraline re-started, citalopram -> ad3 onset at citalopram
        drug(1, SERTRALINE_TAB, "2015-03-01", days_supply=60), drug(1, FLUOXETINE_CAP, "2015-06-01", days_supply=60),
        drug(1, SERTRALINE_TAB, "2016-01-01", days_supply=60), drug(1, CITALOPRAM, "2016-06-01", days_supply=60),
        # 2: two trials; aripiprazole before the 2nd trial (ignored) and after it (onset)
        drug(2, SERTRALINE_TAB, "2015-03-01", days_supply=60), drug(2, FLUOXETINE_CAP, "2015-06-01", days_supply=60),
        drug(2, ARIPIPRAZOLE_TAB, "2015-05-01", days_supply=30), drug(2, ARIPIPRAZOLE_TAB, "2015-07-15", days_supply=30),
        # 4, 5: one adequate trial, death at 151 / 180 days of follow-up
        drug(4, SERTRALINE_TAB, "2015-01-10", days_supply=60), drug(5, SERTRALINE_TAB, "2015-01-10", days_supply=60),
        # 6: two trials, the third starts after the cutoff
        drug(6, SERTRALINE_TAB, "2015-03-01", days_supply=60), drug(6, FLUOXETINE_CAP, "2015-06-01", days_supply=60),
        drug(6, CITALOPRAM, "2023-08-01", days_supply=60),
    ]
    procedures = [
        proc(3, ECT_SNOMED, "2014-06-01"),  # before index: ignored
        proc(3, ECT_CPT4, "2018-02-02"),  # CPT4 90870 resolved by code
        proc(7, ECT_SNOMED, INDEX),  # ECT on the index date: prevalent TRD
    ]
    deaths = [death(4, "2015-06-01"), death(5, "2015-06-30")]
    return omop_tables(spark, persons=persons, observation_periods=[obs(i) for i in range(1, 9)],
                       conditions=conditions, drugs=drugs, procedures=procedures, deaths=deaths)


@pytest.fixture(scope="module")
def tables(spark):
    """The chain on the timelines above, derived once; mdd, trials and phenotypes cached: the
    tests collect or aggregate them several times, and each action ran the whole chain again."""
    tables = derive_phenotype_tables(trd_omop(spark), toy_config())
    for df in (tables.mdd, tables.trials, tables.phenotypes):
        df.cache()
    yield tables
    for df in (tables.mdd, tables.trials, tables.phenotypes):
        df.unpersist()


@pytest.fixture(scope="module")
def ph(tables):
    df = check_spark(tables.phenotypes, PHENOTYPES)
    return {(r.person_id, r.definition): r for r in df.collect()}


def test_every_person_once_per_definition(ph):
    assert sorted(ph) == sorted((p, dn) for p in range(1, 9) for dn in ("ad3", "ad2_augmentation", "somatic"))


def test_ad3_onset_is_third_distinct_ingredient(ph):
    r = ph[(1, "ad3")]
    assert (r.status, r.trd_onset_date, r.trd_event) == ("TRD", d("2016-06-01"), 1)
    assert r.time_to_trd_days == days(INDEX, "2016-06-01")
    assert r.n_adequate_trials == 3 and r.mdd_index_date == d(INDEX)
    # two trials only: treated, followed long enough, not TRD
    assert ph[(2, "ad3")].status == "trMDD"


def test_augmentation_after_second_trial(ph):
    r = ph[(2, "ad2_augmentation")]
    assert (r.status, r.trd_onset_date, r.time_to_trd_days) == ("TRD", d("2015-07-15"), days(INDEX, "2015-07-15"))
    # person 1 has no augmentation agent
    assert ph[(1, "ad2_augmentation")].status == "trMDD"


def test_somatic_via_procedure_on_or_after_index(ph):
    r = ph[(3, "somatic")]
    assert (r.status, r.trd_onset_date) == ("TRD", d("2018-02-02"))
    assert (ph[(3, "ad3")].status, ph[(3, "ad3")].exclusion_reason) == ("MDD_other", "no_adequate_trial")


def test_prevalent_trd_on_index_date_gets_one_day(ph):
    r = ph[(7, "somatic")]
    assert (r.status, r.trd_onset_date, r.time_to_trd_days, r.trd_event) == ("TRD", d(INDEX), 1, 1)


def test_trmdd_needs_minimum_followup(ph):
    short, enough = ph[(4, "ad3")], ph[(5, "ad3")]
    assert (short.status, short.exclusion_reason) == ("MDD_other", "short_followup")
    assert (enough.status, enough.exclusion_reason) == ("trMDD", None)
    assert days(INDEX, "2015-06-30") == 180


def test_censoring_at_death_and_cutoff(ph):
    r = ph[(4, "ad3")]
    assert (r.followup_end_date, r.time_to_trd_days, r.trd_event) == (d("2015-06-01"), days(INDEX, "2015-06-01"), 0)
    r = ph[(6, "ad3")]  # third trial after the cutoff is not seen
    assert (r.status, r.followup_end_date, r.trd_onset_date) == ("trMDD", d(CUTOFF), None)
    assert (r.time_to_trd_days, r.trd_event, r.n_adequate_trials) == (days(INDEX, CUTOFF), 0, 2)


def test_non_mdd_has_no_time_or_index(ph):
    r = ph[(8, "ad3")]
    assert (r.status, r.mdd_index_date, r.time_to_trd_days, r.trd_event, r.n_adequate_trials) == ("non_MDD", None, None, None, None)
    assert (r.sex_at_birth, r.age_at_index) == ("female", None)
    # exact age: 53 completed years + the share of the 54th year of age (365 days) elapsed
    assert r.age_at_followup_end == pytest.approx(53 + days("2023-01-01", CUTOFF) / 365)


def test_age_at_index_for_mdd(ph):
    r = ph[(1, "ad3")]
    assert r.age_at_index == 45.0  # the 45th birthday (days / 365.25 would give 44.9999)
    assert r.sex_at_birth == "female"


def test_cohort_flow_per_definition(tables):
    rows = cohort_flow_rows(tables.mdd, tables.phenotypes, exclusion_sets=["bipolar", "schizophrenia_spectrum"], min_diagnoses=2)
    flow = {(dn, step): n for dn, _, step, n in rows}
    expected = {  # definition: (TRD, trMDD, no adequate trial, short follow-up)
        "ad3": (1, 3, 2, 1),  # TRD 1; trMDD 2,5,6; no trial 3,7; short 4
        "ad2_augmentation": (1, 3, 2, 1),  # TRD 2; trMDD 1,5,6
        "somatic": (2, 4, 0, 1),  # TRD 3,7; trMDD 1,2,5,6
    }
    for dn, (trd, trmdd, no_trial, short) in expected.items():
        assert flow[(dn, "mdd_included")] == 7
        assert flow[(dn, "with_adequate_trial")] == 5
        assert (flow[(dn, "TRD")], flow[(dn, "trMDD")]) == (trd, trmdd)
        assert (flow[(dn, "MDD_other_no_adequate_trial")], flow[(dn, "MDD_other_short_followup")]) == (no_trial, short)
        assert flow[(dn, "non_MDD")] == 1
        # Somatic TRD needs no trial: 3 and 7 are TRD without one, so TRD + trMDD (6) exceeded
        # with_adequate_trial (5) in a flow without this step (new-user trial, session 14).
        assert flow[(dn, "TRD_without_adequate_trial")] == (2 if dn == "somatic" else 0)
        for signs, why in definition_partitions():  # every step the sum of the boxes under it
            assert sum(flow[(dn, step)] * sign for step, sign in signs.items()) == 0, (dn, why)
    orders = [o for dn, o, _, _ in rows if dn == "ad3"]
    assert orders == list(range(1, 9))


def test_ignored_ingredient_forms_no_trial_but_its_users_are_not_controls(spark):
    cfg = toy_config()
    trials = cfg.phenotypes.trials.model_copy(update={"ignored_ingredient_ids": [CITALOPRAM]})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    omop = trd_omop(spark)
    omop["drug_exposure"] = omop["drug_exposure"].unionByName(
        frame(spark, "drug_exposure", [drug(8, CITALOPRAM, "2016-01-01", days_supply=60)]))
    rows = derive_phenotype_tables(omop, cfg).phenotypes.where("definition = 'ad3' and person_id in (1, 8)").collect()
    got = {r.person_id: (r.status, r.exclusion_reason, r.n_adequate_trials) for r in rows}
    # person 1: sertraline, fluoxetine only -> 2 trials; person 8: citalopram user, not a control
    assert got == {1: ("trMDD", None, 2), 8: ("excluded", "antidepressant_no_mdd", None)}


def _exchanges(df) -> list[str]:
    """The hash-partitioning keys of every exchange in ``df``'s physical plan (adaptive: the initial plan)."""
    return re.findall(r"Exchange hashpartitioning\(([^)]*)\)", df._jdf.queryExecution().executedPlan().toString())


def test_person_treatment_one_exchange_for_the_trials_and_one_row_per_treated_person(spark, tables):
    """n_adequate_trials and the n-th starts come from the first adequate trial of each
    ingredient after ONE exchange by person (its aggregate and rank share it; the union with
    the events is aggregated after one more); the counts are the distinct ingredients, and a
    person with augmentation events but no adequate trial has no row."""
    trials = literal_frame(spark, tables.trials.collect(), tables.trials.schema)  # no upstream exchange
    aripiprazole = literal_frame(spark, [(2, d("2015-07-15")), (2, d("2015-07-15")), (3, d("2016-01-01"))],
                                 T.StructType([T.StructField("person_id", T.LongType()),
                                               T.StructField("event_date", T.DateType())]))
    treatment = person_treatment(trials, [2, 3], {"ad2_augmentation": aripiprazole}, {})
    assert _exchanges(treatment) and all(k.startswith("person_id#") for k in _exchanges(treatment))
    assert len(_exchanges(treatment)) == 2
    got = {r.person_id: (r.n_adequate_trials, r["_start_2"], r["_start_3"], r["_dates_ad2_augmentation"])
           for r in treatment.collect()}
    assert got == {1: (3, d("2015-06-01"), d("2016-06-01"), []), 2: (2, d("2015-06-01"), None, [d("2015-07-15")]),
                   4: (1, None, None, []), 5: (1, None, None, []), 6: (2, d("2015-06-01"), None, [])}


def _scans(df, column: str) -> int:
    """How many leaves of ``df``'s optimised logical plan (a cached frame is one) output ``column``."""
    leaves = df._jdf.queryExecution().optimizedPlan().collectLeaves()
    return sum(f"{column}#" in leaves.apply(i).output().toString() for i in range(leaves.size()))


def test_phenotypes_plan_reads_the_mdd_groups_and_the_trials_once(spark, tables):
    """Every TRD definition's onset is a column over one per-person frame joined once
    (trd.person_treatment): the phenotypes plan scans the MDD groups and the trials once each,
    whatever the number of definitions (three in the toy config). Before, each onset was a frame
    of its own with its own copy of the trials' (and the somatic onset's of the MDD groups')
    plan: Spark analysed, optimised and planned each copy (benchmarks/RESULTS.md, session 26)."""
    cfg = toy_config()
    followup = {domain: tables.study_events[domain] for domain in EVENT_TABLES}
    sets = concept_set_ids(cfg, study_vocabulary(trd_omop(spark), cfg))
    df = derive_definition_phenotypes(cfg, followup, tables.mdd, tables.trials, sets)  # both cached (fixture)
    assert (_scans(df, "n_mdd_dates"), _scans(df, "trial_days")) == (1, 1)
    assert len(cfg.phenotypes.trd_definitions) == 3


def test_per_person_side_of_the_phenotypes_is_broadcast(spark, tables):
    """derive_phenotypes broadcasts the per-person treatment frame (hint), so the MDD groups
    are never shuffled for the join, even where Spark's size estimate would choose a
    sort-merge join (here forced by turning automatic broadcasts off; the inputs are the
    chain's rows as literal frames, so the plan holds only derive_phenotypes' join)."""
    mdd, trials = (literal_frame(spark, t.collect(), t.schema) for t in (tables.mdd, tables.trials))  # no upstream joins
    ect = frame(spark, "procedure_occurrence", [proc(3, ECT_SNOMED, "2018-02-02")]).select(
        "person_id", F.col("procedure_date").alias("event_date"))
    onsets = {"ad3": sequence_onset_expr(3), "somatic": somatic_onset_expr("somatic")}
    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        treatment = person_treatment(trials, [3], {}, {"somatic": ect})
        df = derive_phenotypes(mdd, treatment, onsets, trmdd_min_followup_days=180)
        plan = df._jdf.queryExecution().executedPlan().toString()
        rows = {(r.person_id, r.definition): r.status for r in df.collect()}
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)
    assert not re.search(r"SortMergeJoin \[.*?\], LeftOuter", plan)
    assert len(re.findall(r"BroadcastHashJoin \[.*?\], LeftOuter, BuildRight", plan)) == 1
    assert (rows[(1, "ad3")], rows[(3, "somatic")], rows[(2, "ad3")], rows[(8, "somatic")]) == (
        "TRD", "TRD", "trMDD", "non_MDD")
