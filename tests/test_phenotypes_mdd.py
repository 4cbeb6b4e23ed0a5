"""MDD, exclusions and controls from hand-drawn diagnosis histories (toy concept sets)."""

from __future__ import annotations

import re

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

from trd_spark.phenotypes.stage import derive_phenotype_tables

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


@pytest.fixture(scope="module")
def mdd(spark):
    tables = derive_phenotype_tables(mdd_omop(spark), toy_config())
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


def test_distinct_mdd_dates_are_counted_after_one_exchange_by_person(spark):
    """The MDD groups' query shuffles only by person_id: the distinct-date count
    (``countDistinct`` per person) reads conditions repartitioned by person, instead of
    Spark's two exchanges for it, the first keyed by person AND date (benchmarks/RESULTS.md,
    session 11). Groups as in the tests above."""
    mdd = derive_phenotype_tables(mdd_omop(spark), toy_config()).mdd
    plan = mdd._jdf.queryExecution().executedPlan().toString()
    keys = re.findall(r"Exchange hashpartitioning\(([^)]*)\)", plan)
    assert keys and all(k.split(",")[0].startswith("person_id#") and k.count(",") == 1 for k in keys), keys
    assert {r.person_id: _group(r) for r in mdd.collect()}[3] == ("excluded", "bipolar")
