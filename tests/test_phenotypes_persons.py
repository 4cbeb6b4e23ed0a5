"""PERSONS: sex, birth-date defaults, end of follow-up (observation, death, cutoff), age."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from test_phenotypes_support import cond, d, days, death, frame, obs, person

from trd_spark.config import SexAtBirthMapping
from trd_spark.phenotypes.persons import age_years_expr, derive_persons, followup_date_counts, restrict_to_followup
from trd_spark.schemas import PERSONS, check_spark

CUTOFF = d("2023-07-01")


@pytest.fixture(scope="module")
def persons(spark):
    people = [
        person(1, 1980, 3, 15, gender=8507),
        person(2, 1990, None, None, gender=8532),
        person(3, 1990, 2, None, gender=0),
        person(4, 1990, 2, 30, gender=8532),  # invalid day -> 1st of the month
    ]
    periods = [obs(1, "2010-01-01", "2015-12-31"), obs(1, "2016-01-01", "2022-12-31"),
               obs(2, "2000-01-01", "2024-01-01"), obs(3, "2000-01-01", "2025-01-01")]
    deaths = [death(2, "2021-05-05")]
    df = derive_persons(frame(spark, "person", people), frame(spark, "observation_period", periods),
                        frame(spark, "death", deaths), CUTOFF)
    check_spark(df, PERSONS)
    return {r.person_id: r for r in df.collect()}


def test_sex_from_gender_concept(persons):
    assert [persons[i].sex_at_birth for i in (1, 2, 3, 4)] == ["male", "female", "other", "female"]


def test_birth_date_defaults(persons):
    assert persons[1].birth_date == d("1980-03-15")
    assert persons[2].birth_date == d("1990-07-01")  # no month/day -> 1 July
    assert persons[3].birth_date == d("1990-02-01")  # no day -> 1st
    assert persons[4].birth_date == d("1990-02-01")  # 30 Feb -> 1st


def test_end_of_followup_is_min_of_observation_death_cutoff(persons):
    assert persons[1].observation_end_date == d("2022-12-31")  # last of two periods
    assert persons[2].observation_end_date == d("2021-05-05")  # death
    assert persons[3].observation_end_date == CUTOFF  # period runs past the cutoff
    assert persons[4].observation_end_date == CUTOFF  # no period at all


def test_age_at_end_of_followup_is_exact(persons):
    """Completed years + days since the last birthday / days in that year of age (hand-computed)."""
    assert persons[1].age_at_observation_end == pytest.approx(42 + days("2022-03-15", "2022-12-31") / 365)
    assert persons[2].age_at_observation_end == pytest.approx(30 + days("2020-07-01", "2021-05-05") / 365)
    assert persons[2].has_observation_period and not persons[4].has_observation_period


@pytest.mark.parametrize(("birth", "on", "age"), [
    ("2000-07-01", "2018-07-01", 18.0),  # 18th birthday (days/365.25 gives 17.9986)
    ("2000-07-01", "2018-06-30", 18 - 1 / 365),  # the day before
    ("2000-01-01", "2018-01-01", 18.0),
    ("2000-02-29", "2018-02-28", 17 + 364 / 365),  # 29 Feb birthday is 1 March in common years
    ("2000-02-29", "2018-03-01", 18.0),
    ("2000-02-29", "2020-02-29", 20.0),
    ("1999-12-31", "2000-12-30", 365 / 366),  # a year of age spanning a leap day has 366 days
])
def test_exact_age_calendar_arithmetic(spark, birth, on, age):
    got = spark.range(1).select(age_years_expr(F.lit(d(birth)), F.lit(d(on))).alias("a")).first().a
    assert got == pytest.approx(age, abs=1e-12)


def test_sex_at_birth_column_decides_gender_identity_never(spark):
    """All of Us: sex_at_birth_concept_id holds sex at birth (45878463 / 45880669), gender_concept_id
    gender identity; a null sex at birth falls back to OMOP's 8532 / 8507 only."""
    people = [
        person(1, gender=45878463, sex_at_birth=45880669),  # identifies as woman, male at birth
        person(2, gender=8507, sex_at_birth=903096),  # "prefer not to answer": other, not gender
        person(3, gender=8507),  # no sex-at-birth answer: OMOP standard gender concept
        person(4, gender=45878463),  # gender identity only: never read as sex
        person(5, gender=0, sex_at_birth=45878463),
    ]
    p = derive_persons(frame(spark, "person", people), frame(spark, "observation_period", []),
                       frame(spark, "death", []), CUTOFF)
    assert {r.person_id: r.sex_at_birth for r in p.collect()} == {
        1: "male", 2: "other", 3: "male", 4: "other", 5: "female"}
    # a site's own coding (configurable): 1 = female, 2 = male in the sex-at-birth column
    site = SexAtBirthMapping(female=[1], male=[2])
    p = derive_persons(frame(spark, "person", [person(6, gender=8507, sex_at_birth=1), person(7, sex_at_birth=45878463)]),
                       frame(spark, "observation_period", []), frame(spark, "death", []), CUTOFF, site)
    assert {r.person_id: r.sex_at_birth for r in p.collect()} == {6: "female", 7: "other"}


def test_birth_datetime_used_when_the_month_is_known(spark):
    people = [
        person(1, 2000, 3, None, birth_datetime="2000-03-17"),  # day only in birth_datetime
        person(2, 2000, None, None, birth_datetime="2000-06-15"),  # AoU placeholder: year-only -> 1 July
        person(3, 2000, 0, 0, birth_datetime="2000-06-15"),  # month 0 = unknown -> 1 July
        person(4, 2000, 3, 9),  # no birth_datetime
        # year_of_birth / month_of_birth win over a birth_datetime outside them (README "Birth date")
        person(5, 2000, 3, 9, birth_datetime="2001-03-09"),  # another year -> the fields
        person(6, 2000, 3, None, birth_datetime="2000-04-17"),  # another month -> the fields, day 1
    ]
    p = derive_persons(frame(spark, "person", people), frame(spark, "observation_period", []),
                       frame(spark, "death", []), CUTOFF)
    assert {r.person_id: r.birth_date for r in p.collect()} == {
        1: d("2000-03-17"), 2: d("2000-07-01"), 3: d("2000-07-01"), 4: d("2000-03-09"), 5: d("2000-03-09"),
        6: d("2000-03-01")}


def test_events_outside_followup_are_dropped(spark, persons):
    p = derive_persons(frame(spark, "person", [person(2, 1990, None, None)]), frame(spark, "observation_period", []),
                       frame(spark, "death", [death(2, "2021-05-05")]), CUTOFF)
    events = frame(spark, "condition_occurrence", [
        cond(2, 1, "1989-12-31"),  # before birth year
        cond(2, 2, "1990-03-01"),  # before the imputed 1 July birth date, kept
        cond(2, 3, "2021-05-05"),  # day of death, kept
        cond(2, 4, "2021-05-06"),  # after death
        cond(9, 5, "2010-01-01"),  # unknown person
    ])
    kept = restrict_to_followup(events, p, "condition_start_date")
    assert sorted(r.condition_concept_id for r in kept.collect()) == [2, 3]
    assert kept.columns == events.columns
    counts = followup_date_counts(events, p, "condition_start_date", frame(spark, "death", [death(2, "2021-05-05")]),
                                  CUTOFF).first().asDict()
    assert counts == {"n_records": 5, "n_unknown_person": 1, "n_missing_date": 0, "n_before_birth_year": 1,
                      "n_after_followup_end": 1, "n_after_death": 1, "n_after_cutoff": 0,
                      "n_after_observation_end": 0, "n_kept": 2, "n_dated_after_cutoff": 0}


def test_records_after_death_cutoff_and_observation_counted_separately(spark):
    """1 dies 2021-05-05 (observation to 2024); 2 alive, observed to 2024 (cutoff 2023-07-01);
    3 observed to 2015 only. A record after both death and cutoff counts as after death."""
    p = derive_persons(frame(spark, "person", [person(i) for i in (1, 2, 3)]),
                       frame(spark, "observation_period", [obs(1, "2000-01-01", "2024-06-01"),
                                                           obs(2, "2000-01-01", "2024-06-01"),
                                                           obs(3, "2000-01-01", "2015-01-01")]),
                       frame(spark, "death", [death(1, "2021-05-05")]), CUTOFF)
    events = frame(spark, "condition_occurrence", [
        cond(1, 1, "2021-06-01"),  # after death, before cutoff
        cond(1, 2, "2023-08-01"),  # after death and after cutoff: after death
        cond(2, 3, "2023-07-01"),  # cutoff day: kept
        cond(2, 4, "2023-07-02"),  # after cutoff
        cond(3, 5, "2016-01-01"),  # after the last observation period
        cond(3, 6, "2024-01-01"),  # after observation and after cutoff: after cutoff
    ])
    counts = followup_date_counts(events, p, "condition_start_date", frame(spark, "death", [death(1, "2021-05-05")]),
                                  CUTOFF).first().asDict()
    assert (counts["n_after_followup_end"], counts["n_after_death"], counts["n_after_cutoff"],
            counts["n_after_observation_end"], counts["n_kept"]) == (5, 2, 2, 1, 1)
    assert counts["n_dated_after_cutoff"] == 3  # whatever the reason they are dropped (gate records_after_cutoff)


def test_an_undated_death_row_is_not_used_and_counted(spark, tmp_path):
    """A death row whose death_date and death_datetime are both empty (read from a CSV through the
    OMOP reader: no date to take from the partner) gives no date to end follow-up with: it is not
    used (person 5 is followed to the end of observation; person 6's dated row still ends his) and
    the persons holding one are counted (quirks.birth_and_death.n_persons_death_undated: 5 and 6),
    beside the rows dated before the birth year. Before, such rows were dropped with no count.
    Death rows of person_ids no person row has (8 twice, 9 undated) are not used either and
    counted by person_id (n_persons_death_not_in_person_table 2; they were dropped uncounted) and
    in no other count."""
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.omop import read_omop_table
    from trd_spark.phenotypes.persons import birth_death_quirk_counts

    (tmp_path / "death.csv").write_text(
        "person_id,death_date,death_datetime\n3,,2019-03-05\n4,2020-01-02,\n5,,\n6,,\n6,2021-06-30,\n7,1900-01-01,\n"
        "8,2020-01-01,\n8,1901-01-01,\n9,,\n")
    deaths = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death")
    people = frame(spark, "person", [person(i, 1970) for i in range(3, 8)])
    periods = frame(spark, "observation_period", [obs(i, "2000-01-01", "2022-12-31") for i in range(3, 8)])
    got = birth_death_quirk_counts(people, deaths, periods).collect()[0]
    assert (got.n_persons_death_undated, got.n_persons_death_before_birth_year) == (2, 1)
    assert got.n_persons_death_not_in_person_table == 2 and got.n_persons_several_death_dates == 0
    ends = {r.person_id: r.observation_end_date for r in derive_persons(people, periods, deaths, CUTOFF).collect()}
    assert ends == {3: d("2019-03-05"), 4: d("2020-01-02"), 5: d("2022-12-31"), 6: d("2021-06-30"), 7: d("2022-12-31")}
