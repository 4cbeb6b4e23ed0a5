"""Shared cohort-flow steps (definition 'all') on the MDD/exclusion timelines of test_phenotypes_mdd."""

from __future__ import annotations

import pytest
from test_phenotypes_mdd import mdd_omop
from test_phenotypes_support import toy_config

from trd_spark.phenotypes.flow import (
    cohort_flow_rows,
    definition_counts,
    definition_flow_columns,
    derive_cohort_flow,
    flow_rows,
    shared_flow_columns,
    terminal_boxes,
)
from trd_spark.phenotypes.stage import derive_phenotype_tables
from trd_spark.schemas import COHORT_FLOW, check_spark


@pytest.fixture(scope="module")
def tables(spark):
    """The phenotype chain on the MDD timelines, derived once for the module (each test only
    aggregates it); mdd and phenotypes cached, so the flow's several aggregations do not run the
    whole chain again each (it is what costs here, not the aggregates)."""
    tables = derive_phenotype_tables(mdd_omop(spark), toy_config())
    tables.mdd.cache()
    tables.phenotypes.cache()
    yield tables
    tables.phenotypes.unpersist()
    tables.mdd.unpersist()


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

