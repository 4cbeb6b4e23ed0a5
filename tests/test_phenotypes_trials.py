"""Exposure ends, duplicate removal, episode merging and adequacy of antidepressant trials."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyspark.sql import types as T
from test_phenotypes_support import (
    FLUOXETINE,
    FLUOXETINE_CAP,
    OLANZAPINE_FLUOXETINE,
    SERTRALINE,
    SERTRALINE_TAB,
    concept_set,
    d,
    drug,
    frame,
    literal_frame,
    omop_tables,
)

from trd_spark.config import TrialSettings
from trd_spark.phenotypes.concepts import ingredient_frame, ingredient_map, load_vocabulary
from trd_spark.phenotypes.trials import derive_antidepressant_trials, derive_episodes, derive_ingredient_exposures
from trd_spark.schemas import ANTIDEPRESSANT_TRIALS, check_spark

E = d("2020-01-30")  # end of a 30-day exposure started 2020-01-01


@pytest.fixture(scope="module")
def ingredients(spark):
    t = omop_tables(spark)
    cs = concept_set("antidepressants")
    return ingredient_map(cs, load_vocabulary([cs], t["concept"], t["concept_ancestor"]))


MDD_SCHEMA = T.StructType([T.StructField("person_id", T.LongType()), T.StructField("mdd_index_date", T.DateType()),
                           T.StructField("followup_end_date", T.DateType())])


def _trials(spark, ingredients, drugs, index="2019-01-01", settings=TrialSettings(), followup_end="2023-07-01"):  # noqa: B008 (read only)
    exposures = derive_ingredient_exposures(frame(spark, "drug_exposure", drugs), ingredient_frame(spark, ingredients),
                                            settings.default_days_supply,
                                            use_verbatim_end_date=settings.use_verbatim_end_date,
                                            use_refills=settings.use_refills,
                                            max_days_supply=settings.max_days_supply)
    pids = sorted({r[0] for r in drugs})
    mdd = literal_frame(spark, [(p, d(index) if index else None, d(followup_end)) for p in pids], MDD_SCHEMA)
    return check_spark(derive_antidepressant_trials(exposures, mdd, settings), ANTIDEPRESSANT_TRIALS)


def _rows(df):
    return sorted((r.person_id, r.ingredient_concept_id, r.trial_start_date, r.trial_end_date, r.trial_days, r.adequate)
                  for r in df.collect())


@pytest.mark.parametrize(
    ("end", "days_supply", "expected_end"),
    [
        ("2020-01-01", 30, "2020-01-30"),  # end == start: length is days_supply
        ("2020-03-01", 10, "2020-03-01"),  # end after start: trusted
        ("2020-01-01", None, "2020-01-30"),  # no days_supply: default 30
        ("2020-01-01", 0, "2020-01-30"),  # days_supply 0: default 30
        ("2019-12-01", 14, "2020-01-14"),  # end before start: days_supply
    ],
    ids=["end_eq_start_ds30", "end_after_start", "ds_null", "ds_zero", "end_before_start"],
)
def test_exposure_end(spark, ingredients, end, days_supply, expected_end):
    rows = _rows(_trials(spark, ingredients, [drug(1, SERTRALINE_TAB, "2020-01-01", end=end, days_supply=days_supply)]))
    assert [(r[2], r[3]) for r in rows] == [(d("2020-01-01"), d(expected_end))]


@pytest.mark.parametrize(
    ("end", "days_supply", "expected_end"),
    [
        (None, -5, None),  # no end, negative days_supply: no exposure (session 23, OHDSI Themis)
        (None, None, "2020-01-30"),  # neither: default 30
        (None, 45, "2020-02-14"),  # no end: days_supply
        ("2019-12-01", -14, None),  # end before start and negative days_supply: no exposure
    ],
    ids=["end_null_ds_negative", "end_null_ds_null", "end_null_ds45", "end_before_start_ds_negative"],
)
def test_exposure_end_without_an_end_date(spark, ingredients, end, days_supply, expected_end):
    """Session-13 field variants (right before; kept): an exposure whose drug_exposure_end_date is
    NULL (the CDM requires it; some ETLs leave it empty) ends by days_supply, else the default.
    A negative days_supply is no exposure (session 23; was the default length until then)."""
    row = (1, SERTRALINE_TAB, d("2020-01-01"), d(end) if end else None, days_supply, None, None, None)
    rows = _rows(_trials(spark, ingredients, [row]))
    expected = [(d("2020-01-01"), d(expected_end))] if expected_end else []
    assert [(r[2], r[3]) for r in rows] == expected


def test_gap_of_30_days_merges_and_31_splits(spark, ingredients):
    merge_start = E + dt.timedelta(days=31)  # 30 uncovered days between E and this start
    split_start = E + dt.timedelta(days=32)  # 31 uncovered days
    drugs = [
        drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30), drug(1, SERTRALINE_TAB, str(merge_start), days_supply=30),
        drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=30), drug(2, SERTRALINE_TAB, str(split_start), days_supply=30),
    ]
    rows = _rows(_trials(spark, ingredients, drugs))
    merged_end = merge_start + dt.timedelta(days=29)
    split_end = split_start + dt.timedelta(days=29)
    assert rows == [
        (1, SERTRALINE, d("2020-01-01"), merged_end, (merged_end - d("2020-01-01")).days + 1, True),
        (2, SERTRALINE, d("2020-01-01"), E, 30, False),
        (2, SERTRALINE, split_start, split_end, 30, False),
    ]


def test_running_max_end_bridges_a_nested_exposure(spark, ingredients):
    drugs = [
        drug(1, SERTRALINE_TAB, "2020-01-01", end="2020-06-30"),
        drug(1, SERTRALINE_TAB, "2020-02-01", end="2020-02-28"),  # nested inside the first
        drug(1, SERTRALINE_TAB, "2020-07-15", days_supply=30),  # 14 days after 06-30, not after 02-28
    ]
    rows = _rows(_trials(spark, ingredients, drugs))
    assert [(r[2], r[3]) for r in rows] == [(d("2020-01-01"), d("2020-08-13"))]


def test_41_day_trial_is_not_adequate_42_is(spark, ingredients):
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=41), drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=42)]
    rows = _rows(_trials(spark, ingredients, drugs))
    assert [(r[0], r[4], r[5]) for r in rows] == [(1, 41, False), (2, 42, True)]


def test_duplicate_exposures_are_one_with_the_longest_end(spark, ingredients):
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30)] * 2 + [drug(1, SERTRALINE, "2020-01-01", days_supply=60)]
    rows = _rows(_trials(spark, ingredients, drugs))
    assert [(r[2], r[3], r[4]) for r in rows] == [(d("2020-01-01"), d("2020-02-29"), 60)]


def test_products_reach_their_ingredient(spark, ingredients):
    drugs = [drug(1, FLUOXETINE_CAP, "2020-01-01", days_supply=60),
             drug(2, OLANZAPINE_FLUOXETINE, "2020-01-01", days_supply=60)]
    # (pyspark.testing.assertDataFrameEqual cannot be imported with numpy 2: pyspark.pandas uses np.NaN)
    got = sorted(tuple(r) for r in _trials(spark, ingredients, drugs).select("person_id", "ingredient_concept_id", "ingredient_name").collect())
    assert got == [(1, FLUOXETINE, "fluoxetine"), (2, FLUOXETINE, "fluoxetine")]


def test_adequacy_needs_start_on_or_after_index_minus_window(spark, ingredients):
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=60)]
    assert _rows(_trials(spark, ingredients, drugs, index="2020-01-01"))[0][5] is True
    assert _rows(_trials(spark, ingredients, drugs, index="2020-01-11"))[0][5] is False
    assert _rows(_trials(spark, ingredients, drugs, index="2020-01-11", settings=TrialSettings(pre_index_window_days=10)))[0][5] is True
    assert _rows(_trials(spark, ingredients, drugs, index=None))[0][5] is False


def test_verbatim_end_date_wins_when_after_start(spark, ingredients):
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=90, verbatim_end="2020-01-20"),  # stopped early
             drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=30, verbatim_end="2020-01-01")]  # placeholder: ignored
    rows = _rows(_trials(spark, ingredients, drugs))
    assert [(r[0], r[3]) for r in rows] == [(1, d("2020-01-20")), (2, E)]
    off = _rows(_trials(spark, ingredients, drugs[:1], settings=TrialSettings(use_verbatim_end_date=False)))
    assert off[0][3] == d("2020-03-30")


def test_per_ingredient_minimum_trial_days(spark, ingredients):
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=60), drug(1, FLUOXETINE_CAP, "2020-01-01", days_supply=60)]
    settings = TrialSettings(ingredient_min_trial_days={SERTRALINE: 84})
    rows = _rows(_trials(spark, ingredients, drugs, settings=settings))
    assert [(r[1], r[5]) for r in rows] == [(SERTRALINE, False), (FLUOXETINE, True)]


def test_trial_end_is_clipped_at_end_of_followup(spark, ingredients):
    """A 60-day supply started 35 days before death is a 36-day (inadequate) trial."""
    drugs = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=60)]
    rows = _rows(_trials(spark, ingredients, drugs, followup_end="2020-02-05"))
    assert [(r[3], r[4], r[5]) for r in rows] == [(d("2020-02-05"), 36, False)]


def test_no_person_level_python_in_the_plan(spark, ingredients):
    """Trials are built from window functions and joins only (no Python UDF in the plan)."""
    plan = _trials(spark, ingredients, [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=60)])._jdf.queryExecution().toString()
    assert "BatchEvalPython" not in plan and "ArrowEvalPython" not in plan
    assert "Window" in plan


def test_exposure_timeline_one_shuffle_one_sort(spark, ingredients):
    """drug rows -> exposures -> episodes: ONE exchange (by person_id; the ingredient map is
    broadcast), ONE sort (the episode window's) and hash aggregates only (no sort aggregate)."""
    drugs = frame(spark, "drug_exposure", [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30),
                                           drug(1, SERTRALINE_TAB, "2020-02-15", days_supply=30)])
    exposures = derive_ingredient_exposures(drugs, ingredient_frame(spark, ingredients), 30)
    episodes = derive_episodes(exposures, 30)
    plan = episodes._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange hashpartitioning") == 1 and "hashpartitioning(person_id" in plan
    assert len(re.findall(r"\bSort \[", plan)) == 1 and "SortAggregate" not in plan
    assert [(r.trial_start_date, r.trial_end_date, r.ingredient_name) for r in episodes.collect()] == [
        (d("2020-01-01"), d("2020-03-15"), "sertraline")]
