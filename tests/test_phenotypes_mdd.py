"""MDD, exclusions and controls from hand-drawn diagnosis histories (toy concept sets), and the
shared cohort-flow steps (definition 'all') on the same timelines.

The chain on ``mdd_omop`` runs once for the module (``tables``: mdd and phenotypes cached), and
every test of those timelines reads it: the MDD groups, the plan of the MDD groups' query (taken
before the cache), and the flow's aggregations. (Session 44: the flow tests were
test_phenotypes_flow, which derived the same chain on the same timelines again, and the
exchange test derived it a third time.)"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from test_phenotypes_support import (
    BIPOLAR,
    BIPOLAR_DEPRESSION,
    DEPRESSIVE_DISORDER,
    DYSTHYMIA_CHILD,
    MDD_CHILD,
    MDD_CONCEPT,
    SCHIZOPHRENIA,
    SERTRALINE_TAB,
    cond,
    d,
    drug,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.phenotypes.flow import (
    cohort_flow_rows,
    definition_counts,
    definition_flow_columns,
    derive_cohort_flow,
    flow_rows,
    shared_flow_columns,
    terminal_boxes,
)
from trd_spark.phenotypes.stage import PhenotypeTables, derive_phenotype_tables
from trd_spark.schemas import COHORT_FLOW, check_spark

PEOPLE = list(range(1, 12))


def mdd_omop(spark):
    """Persons 1..11 (born 1970 unless noted, observed 2000..2023, cutoff 2023-07-01)."""
    persons = [person(i) for i in PEOPLE if i != 4] + [person(4, 2000, 1, 1)]
    conditions = [
        cond(1, MDD_CONCEPT, "2015-01-01"), cond(1, MDD_CONCEPT, "2015-01-01"),  # 2 codes, 1 date
        cond(2, MDD_CHILD, "2016-03-01"), cond(2, DEPRESSIVE_DISORDER, "2015-06-01"), cond(2, MDD_CONCEPT, "2017-01-01"),
        cond(3, MDD_CONCEPT, "2015-01-01"), cond(3, MDD_CONCEPT, "2015-02-01"), cond(3, BIPOLAR, "2020-01-01"),
        cond(4, MDD_CONCEPT, "2017-06-01"), cond(4, MDD_CONCEPT, "2019-01-01"),  # index at 17.4 years
        cond(6, DYSTHYMIA_CHILD, "2015-01-01"), cond(6, DYSTHYMIA_CHILD, "2016-01-01"),
        cond(8, SCHIZOPHRENIA, "2012-01-01"),
        cond(9, MDD_CONCEPT, "2015-01-01"), cond(9, MDD_CONCEPT, "2015-03-01"),
        cond(9, SCHIZOPHRENIA, "2016-01-01"), cond(9, BIPOLAR, "2016-01-01"),
        cond(10, BIPOLAR_DEPRESSION, "2015-01-01"), cond(10, BIPOLAR_DEPRESSION, "2015-05-01"),
        cond(11, MDD_CONCEPT, "2015-01-01"), cond(11, MDD_CONCEPT, "2024-01-01"),  # 2nd after cutoff
    ]
    drugs = [drug(7, SERTRALINE_TAB, "2018-01-01", days_supply=30)]
    return omop_tables(spark, persons=persons, observation_periods=[obs(i) for i in PEOPLE],
                       conditions=conditions, drugs=drugs)


@dataclass(frozen=True)
class MddRun:
    """The chain on ``mdd_omop`` with the toy config, once per module."""

    tables: PhenotypeTables  # mdd and phenotypes cached: the flow's several aggregations reuse them
    mdd_plan: str  # the executed plan of tables.mdd before the cache (the query as the stage runs it)


@pytest.fixture(scope="module")
def run(spark):
    tables = derive_phenotype_tables(mdd_omop(spark), toy_config())
    # The plan first: once cached, the frame's plan is a scan of the cache.
    plan = tables.mdd._jdf.queryExecution().executedPlan().toString()
    tables.mdd.cache()
    tables.phenotypes.cache()
    yield MddRun(tables, plan)
    tables.phenotypes.unpersist()
    tables.mdd.unpersist()


@pytest.fixture(scope="module")
def tables(run) -> PhenotypeTables:
    return run.tables


@pytest.fixture(scope="module")
def mdd(tables):
    return {r.person_id: r for r in tables.mdd.collect()}


def _group(row):
    return row.mdd_status, row.exclusion_reason


def test_two_codes_on_one_date_are_not_mdd(mdd):
    assert _group(mdd[1]) == ("excluded", "depression_not_mdd")
    assert mdd[1].n_mdd_dates == 1 and mdd[1].mdd_index_date is None


def test_index_is_first_mdd_date_across_descendants(mdd):
    assert _group(mdd[2]) == ("MDD", None)
    assert mdd[2].mdd_index_date == d("2015-06-01") and mdd[2].n_mdd_dates == 3


def test_bipolar_diagnosis_excludes_mdd_but_keeps_index(mdd):
    assert _group(mdd[3]) == ("excluded", "bipolar")
    assert mdd[3].mdd_index_date == d("2015-01-01")


def test_bipolar_takes_precedence_over_schizophrenia(mdd):
    assert _group(mdd[9]) == ("excluded", "bipolar")


def test_under_18_at_index(mdd):
    assert _group(mdd[4]) == ("excluded", "under_18_at_index")


def test_controls_and_non_mdd_exclusions(mdd):
    assert _group(mdd[5]) == ("non_MDD", None)
    assert _group(mdd[6]) == ("excluded", "depression_not_mdd")  # dysthymia branch is not MDD
    assert _group(mdd[7]) == ("excluded", "antidepressant_no_mdd")
    assert _group(mdd[8]) == ("excluded", "schizophrenia_spectrum")
    # bipolar depression: depression spectrum but outside the MDD set
    assert _group(mdd[10]) == ("excluded", "depression_not_mdd") and mdd[10].n_mdd_dates == 0


def test_diagnosis_after_cutoff_does_not_count(mdd):
    assert mdd[11].n_mdd_dates == 1
    assert _group(mdd[11]) == ("excluded", "depression_not_mdd")


def test_controls_are_clean_over_the_whole_record(spark):
    """Evidence outside follow-up (after the last observation period, after death, before the
    birth year) keeps a person out of the controls, on every table and exclusion set, and is
    flagged; it never makes anyone MDD. Observed 2000..2015; 24 dies 2014-01-01."""
    ids = range(21, 29)
    conditions = [
        cond(22, SCHIZOPHRENIA, "2020-01-01"),
        cond(23, MDD_CONCEPT, "2010-01-01"), cond(23, MDD_CONCEPT, "2011-01-01"), cond(23, BIPOLAR, "2019-01-01"),
        cond(24, DYSTHYMIA_CHILD, "2014-06-01"),
        cond(26, MDD_CONCEPT, "2016-01-01"), cond(26, MDD_CONCEPT, "2017-01-01"),  # both after the period
        cond(27, MDD_CONCEPT, "2010-01-01"), cond(27, MDD_CONCEPT, "2011-01-01"),
    ]
    drugs = [drug(21, SERTRALINE_TAB, "2018-01-01", days_supply=30), drug(25, SERTRALINE_TAB, "1965-01-01", days_supply=30),
             drug(27, SERTRALINE_TAB, "2016-01-01", days_supply=90)]
    omop = omop_tables(spark, persons=[person(i) for i in ids],
                       observation_periods=[obs(i, "2000-01-01", "2015-12-31") for i in ids],
                       conditions=conditions, drugs=drugs, deaths=[(24, d("2014-01-01"))])
    tables = derive_phenotype_tables(omop, toy_config())
    got = {r.person_id: (r.mdd_status, r.exclusion_reason, r.excluded_outside_followup_only) for r in tables.mdd.collect()}
    assert got == {
        21: ("excluded", "antidepressant_no_mdd", True),
        22: ("excluded", "schizophrenia_spectrum", True),
        23: ("excluded", "bipolar", True),  # an exclusion diagnosis ever, also for MDD cases
        24: ("excluded", "depression_not_mdd", True),  # after death
        25: ("excluded", "antidepressant_no_mdd", True),  # before the birth year
        26: ("excluded", "depression_not_mdd", True),  # MDD codes outside follow-up make no case
        27: ("MDD", None, False),  # an antidepressant after follow-up forms no trial
        28: ("non_MDD", None, False),
    }
    assert tables.trials.where("person_id = 27").count() == 0


def test_distinct_mdd_dates_are_counted_after_one_exchange_by_person(run, mdd):
    """The MDD groups' query shuffles only by person_id: the distinct-date count
    (``countDistinct`` per person) reads conditions repartitioned by person, instead of
    Spark's two exchanges for it, the first keyed by person AND date (benchmarks/RESULTS.md,
    session 11). Groups as in the tests above (the same query's rows). The plan also holds the claim
    reversals' exchanges (session 54, a38b1e0; since session 55 the records of the persons and products
    with a reversal, keyed by person and drug_concept_id: ``trials.drop_reversed_claims``; since session 57
    the reversals outside the study sets, keyed by person and their source code: ``trials.reversal_matches``),
    which feed the antidepressant-without-MDD check;
    every other exchange, the conditions' among them, is by person_id alone."""
    keys = re.findall(r"Exchange hashpartitioning\(([^)]*)\)", run.mdd_plan)
    reversal = [k for k in keys if "drug_concept_id#" in k or "quantity#" in k or "_code#" in k]
    others = [k for k in keys if k not in reversal]
    assert others and all(k.split(",")[0].startswith("person_id#") and k.count(",") == 1 for k in others), others
    assert _group(mdd[3]) == ("excluded", "bipolar")


# The shared cohort-flow steps (formerly test_phenotypes_flow) on the same chain.


def test_shared_steps_count_each_exclusion_in_order(tables):
    flow = check_spark(
        derive_cohort_flow(tables.mdd, tables.phenotypes, exclusion_sets=["bipolar", "schizophrenia_spectrum"], min_diagnoses=2),
        COHORT_FLOW,
    )
    shared = [(r.step_order, r.step, r.n) for r in flow.where("definition = 'all'").orderBy("step_order").collect()]
    assert shared == [
        (1, "all_persons", 11),
        # every birth year plausible (nonzero: test_phenotypes_implausible_birth)
        (2, "excluded_implausible_year_of_birth", 0),
        (3, "with_mdd_diagnosis", 6),  # 1, 2, 3, 4, 9, 11
        (4, "mdd_min_distinct_dates", 4),  # 2, 3, 4, 9
        (5, "after_exclusion_bipolar", 2),  # minus 3, 9
        (6, "after_exclusion_schizophrenia_spectrum", 2),  # 9 already gone
        (7, "after_exclusion_under_18_at_index", 1),  # minus 4
        (8, "mdd_included", 1),
        (9, "non_MDD", 1),  # 5
        (10, "excluded_depression_not_mdd", 2),  # 6, 10 (1 and 11 left the chain at step 4)
        (11, "excluded_bipolar_without_mdd", 0),
        (12, "excluded_schizophrenia_spectrum_without_mdd", 1),  # 8
        (13, "excluded_antidepressant_no_mdd", 1),  # 7
        # toy config: ehr_evidence observation_period, every person has one (nonzero: test_ehr_s37)
        (14, "excluded_no_ehr_data", 0),
        (15, "no_observation_period", 0),  # every person has a period (nonzero: test_field_cases_omop)
        (16, "excluded_outside_followup_only", 0),  # 11's depression lies within follow-up too
    ]


def test_flow_from_one_row_aggregates_equals_the_group_by(tables):
    """The one-row aggregates run() observes while writing (no group-by: shared_flow_columns,
    definition_flow_columns) give the same flow rows as cohort_flow_rows; a configured
    definition without any PHENOTYPES row is left out, as the group-by leaves it out; the
    terminal boxes (``terminal_boxes``) partition the persons under every definition."""
    args = {"exclusion_sets": ["bipolar", "schizophrenia_spectrum"], "min_diagnoses": 2}
    definitions = [r.definition for r in tables.phenotypes.select("definition").distinct().collect()]
    shared = tables.mdd.agg(*shared_flow_columns(**args)).collect()[0].asDict()
    per_def = tables.phenotypes.agg(*definition_flow_columns([*definitions, "absent"])).collect()[0].asDict()
    counts = definition_counts(per_def, [*definitions, "absent"])
    assert set(counts) == set(definitions) and len(definitions) == 3
    rows = flow_rows(shared, counts, exclusion_sets=args["exclusion_sets"])
    assert rows == cohort_flow_rows(tables.mdd, tables.phenotypes, **args)
    # Every person is in exactly one terminal box per definition (CONSORT / OHDSI attrition):
    # the boxes add up to all_persons for 'all' and for each TRD definition. Persons 1 and 11
    # (MDD-set records on one date) are the drop at mdd_min_distinct_dates and not also an
    # excluded_depression_not_mdd control exclusion (before session 13 both: 13 of 11).
    boxes = terminal_boxes(rows)
    assert set(boxes) == {"all", *definitions}
    for definition, n in boxes.items():
        assert sum(n.values()) == 11 and min(n.values()) >= 0, (definition, n)
    assert boxes["all"]["fewer_than_min_dates"] == 2 and boxes["all"]["excluded_depression_not_mdd"] == 2

