"""More cases of the four OMOP field-case kinds (session 52, helper "omopkinds"), each answer worked out by hand.

/work/shared/field_cases/README.md's OMOP kinds are records outside observation, the age at the 18th birthday
(year-only births, birth_datetime), date columns as timestamps shifted by a time zone, and All of Us sex at birth.
This module writes new variants of each, as a person would build them to check the project from outside, into
one tiny OMOP export written the way pandas writes one (the person table's integer columns as float64 with
missing values, a nanosecond birth_datetime and observation period, days_supply float64, dates as text with
offsets, blanks and fractions, datetimes standing in for empty dates), runs the chain (read_omop,
derive_phenotype_tables) and the DuckDB twin (benchmarks/duckdb_phenotypes.py) once with
``omop.time_zone: America/New_York`` and the toy config (cutoff 2023-07-01), and checks both against the hand
answers below and the twin's drop counts against the chain's.

What they found (both in the twin; the chain gave every hand answer on 173ccde):
- a person table whose year/month/day_of_birth are float64 (pandas' int column with a missing value) stopped
  the twin with a DuckDB binder error (make_date(DOUBLE, ...)); it now reads whole numbers and fails naming the
  column on a fraction or NaN, as the chain's ``omop.whole_number`` does;
- a text date with a tab, line feed, vertical tab or carriage return around it ('2019-01-10\\r' from a CRLF
  export) was "not dates" in the twin, its written date in the chain (Spark's cast trims ASCII blanks); the twin
  now trims the same blanks (a value of such blanks alone stays no date in both).

Hand rules (docs/phenotypes.md): "Ages" (completed calendar years; a 29 February birthday is 1 March in common
years), "Birth date" (birth_datetime gives the day when it lies in year_of_birth's year and month_of_birth's
month; a missing or impossible day is the 1st; month absent, 0 or 13: 1 July, whatever birth_datetime says; an
empty year_of_birth and then month / day from birth_datetime), "Follow-up" (min(last period end, death,
cutoff); an open period runs to the cutoff; a period without a start ends at its end; records between periods
count; a record on the last day counts, the day after does not), "When an exposure ends" / "Trials" (an end
date before the start is not used: days_supply; a trial is clipped at the end of follow-up, adequate at 42 days
counting both ends; trMDD needs 180 days of follow-up), "Sex at birth" (sex_at_birth_concept_id when not null:
45878463 / 8532 female, 45880669 / 8507 male, any other value, 0 included, 'other'; null: gender_concept_id
8532 / 8507 only) and "Dates as the export meant them" (text by its written date; text naming a zone, an
instant, by its local date in omop.time_zone; fractions truncated, never rounded up to the next second).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    STATUS_COLUMNS,
    ad3_of_twin,
    case_chain_run,
    d,
    days,
    duckdb_twin,
    duckdb_twin_run,
    write_omop_tables,
)

from trd_spark.config import OmopInput
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

ZONE = "America/New_York"
CUTOFF = "2023-07-01"
UTC = dt.UTC




# --- the persons: (person_id, gender, year, month, day, sex_at_birth, birth_datetime) ---------------------------
AGE_PERSONS = [
    (101, 8532, 2000, 2, 29, None, None), (102, 8532, 2000, 2, 29, None, None),
    (103, 8532, 2000, 2, None, None, "2000-02-29"),  # birth_datetime gives the day in its month: the 29th
    (104, 8532, 2000, None, 15, None, None), (105, 8532, 2000, None, 15, None, None),  # no month: 1 July
    (106, 8532, 2000, 6, 20, None, "2000-06-10"),  # same year and month: birth_datetime's day (06-10)
    (107, 8532, 2000, 6, 10, None, "2000-07-10"),  # another month: the fields (06-10), counted
    (108, 8532, 2000, 2, 30, None, None),  # no 30 February: the 1st
    (109, 8532, 2000, 0, 0, None, "2000-01-05"),  # month 0: 1 July, birth_datetime not read
    (110, 8532, None, None, None, None, "2000-02-29"),  # all from birth_datetime
    (111, 8532, 2000, 2, 29, None, None),  # 20 on 2020-02-29 (a leap year)
    (112, 8532, 2000, 12, 31, None, None), (113, 8532, 2000, 12, 31, None, None),
    (114, 8532, 2000, 13, 5, None, None),  # month 13: 1 July
    (115, 8532, 2000, 4, 31, None, None),  # no 31 April: the 1st
    (117, 8532, None, 2, 29, None, "2000-02-29"),
    (118, 8532, None, None, 10, None, "2000-02-29"),  # year and month from birth_datetime, which then gives the day
]
# first and second MDD diagnosis (text dates) per person
AGE_DX = {101: ("2018-02-28", "2018-04-01"), 102: ("2018-03-01", "2018-04-01"), 103: ("2018-02-28", "2018-04-01"),
          104: ("2018-06-30", "2018-08-01"), 105: ("2018-07-01", "2018-08-01"), 106: ("2018-06-10", "2018-08-01"),
          107: ("2018-06-10", "2018-08-01"), 108: ("2018-02-01", "2018-04-01"), 109: ("2018-06-30", "2018-08-01"),
          110: ("2018-02-28", "2018-04-01"), 111: ("2020-02-29", "2020-04-01"), 112: ("2018-12-31", "2019-02-01"),
          113: ("2018-12-30", "2019-02-01"), 114: ("2018-06-30", "2018-08-01"), 115: ("2018-04-01", "2018-08-01"),
          117: ("2018-02-28", "2018-04-01"), 118: ("2018-02-28", "2018-04-01")}
UNDER_18 = {101, 103, 104, 109, 110, 113, 114, 117, 118}
BIRTH_DATES = {101: "2000-02-29", 103: "2000-02-29", 104: "2000-07-01", 106: "2000-06-10", 107: "2000-06-10",
               108: "2000-02-01", 109: "2000-07-01", 110: "2000-02-29", 114: "2000-07-01", 115: "2000-04-01",
               117: "2000-02-29", 118: "2000-02-29"}

# Records outside observation: periods (start, end; None = empty), MDD dates, drugs (start, end, days_supply),
# deaths. Everyone born 1970-01-01.
PERIODS = {201: [("2010-01-01", "2015-12-31"), ("2017-01-01", "2023-06-30")],  # the diagnoses in the gap count
           202: [("2010-01-01", "2020-12-31")], 203: [("2010-01-01", "2020-12-31")],
           204: [("2010-01-01", "2020-06-30"), ("2015-01-01", "2018-12-31")],  # overlapping: the later end
           205: [("2010-01-01", None)],  # open: to the cutoff
           209: [("2010-01-01", "2020-12-31")], 210: [("2010-01-01", "2020-12-31")],
           211: [(None, "2020-12-31")],  # no start: a period ending at its end
           212: [("2010-01-01", "2020-12-31")], 214: [("2010-01-01", "2019-07-09")],
           215: [("2010-01-01", "2019-07-08")],
           216: [("2010-01-01", "2019-06-30"), ("2019-08-01", None)],  # a closed, then an open period
           217: [("2010-01-01", "2020-12-31")], 218: [("2010-01-01", "2020-12-31")],
           219: [("2010-01-01", "2020-12-31")]}
RECORD_DX = {201: ("2016-03-01", "2016-04-01"), 202: ("2019-01-10", "2020-12-31"),  # on the last day: kept
             203: ("2019-01-10", "2021-01-01"),  # the day after: outside, one diagnosis left
             204: ("2019-01-10", "2019-02-10"), 205: ("2019-01-10", "2019-02-10"),
             206: ("2019-01-10", "2020-05-02"),  # after death (2020-05-01)
             207: ("2019-01-10", "2020-05-01"),  # on the day of death
             208: ("2019-01-10", "2019-02-10"), 209: ("2019-01-10", "2019-02-10"), 210: ("2019-01-10", "2019-02-10"),
             211: ("2019-01-10", "2019-02-10"), 213: ("2019-01-10", "2019-02-10"), 214: ("2019-01-10", "2019-02-10"),
             215: ("2019-01-10", "2019-02-10"), 216: ("2019-01-10", "2019-02-10"), 217: ("2019-01-10", "2019-02-10"),
             218: ("2019-01-10", "2019-02-10"), 219: ("2019-01-10", "2019-02-10")}
RECORD_DRUGS = {208: ("2019-03-01", "2019-02-01", 60.0),  # end before start: days_supply, 60 days
                209: ("2020-11-15", None, 90.0),  # clipped at 2020-12-31: 47 days, adequate
                210: ("2020-11-25", None, 90.0),  # clipped: 37 days
                212: ("2021-03-01", None, 30.0),  # no MDD, after follow-up: still no control
                214: ("2019-02-01", None, 60.0), 215: ("2019-02-01", None, 60.0),
                218: ("2020-11-20", None, 90.0),  # clipped: exactly 42 days, adequate
                219: ("2020-11-21", None, 90.0)}  # clipped: 41 days
RECORD_DEATHS = {206: "2020-05-01", 207: "2020-05-01", 213: CUTOFF, 217: "2020-06-30"}

# Sex at birth: (person_id, gender_concept_id, sex_at_birth_concept_id) -> expected
SEX = [(301, 8532, 46273637, "other"),  # AoU intersex
       (302, 8507, 0, "other"),  # no matching concept: an answer, not missing
       (303, 8532, None, "female"), (304, 8551, None, "other"),  # gender unknown
       (305, 45878463, None, "other"),  # an AoU gender-identity answer is never sex
       (306, 8507, 1177221, "other"), (307, 8507, 903096, "other"),  # prefer not to answer; skip
       (308, 0, 8532, "female"), (309, 8532, 1585848, "other"), (310, 8507, 45880669, "male"),
       (311, 8532, 45880669, "male")]  # sex at birth decides over gender

# Zoned, fractional and blank-padded text dates of the first MDD diagnosis (the second is 2019-12-15), read in
# America/New_York (EST -05:00 until 2019-03-10 07:00Z, EDT -04:00 until 2019-11-03 06:00Z): the local date.
TEXT_DX = {
    401: ("2019-01-10T00:30:00+14:00", "2019-01-09"),  # 2019-01-09T10:30Z
    402: ("2019-01-10T23:30:00-12:00", "2019-01-11"),  # 2019-01-11T11:30Z
    403: ("2019-03-10T04:59:59Z", "2019-03-09"),  # 23:59:59 EST
    404: ("2019-03-10T05:00:00Z", "2019-03-10"),  # 00:00 EST, the DST change day
    405: ("2019-03-10T07:30:00Z", "2019-03-10"),  # 03:30 EDT
    406: ("2019-11-03T03:59:59Z", "2019-11-02"),  # 23:59:59 EDT
    407: ("2019-11-03T04:00:00Z", "2019-11-03"),  # 00:00 EDT, the day summer time ends
    408: ("2019-01-10T04:59:59.999999999Z", "2019-01-09"),  # nanoseconds: truncated, not rounded to 05:00
    409: ("2019-01-10T04:59:59.9999995Z", "2019-01-09"),
    410: ("2019-01-10 23:59:59.9999999", "2019-01-10"),  # naive: its written date
    411: (" 2019-01-10 ", "2019-01-10"),
    412: ("2019-01-10T00:00:00.000+05:45", "2019-01-09"),
    413: ("2019-01-10T00:00:00 America/New_York", "2019-01-10"),
    414: ("2019-01-10T00:00:00+00:00", "2019-01-09"),
    415: ("2019-01-10T12:00:00-0500", "2019-01-10"),
    416: ("2019-1-10", "2019-01-10"),
    417: ("2019-01-10T00:00:00.5+14:00", "2019-01-09"),
    418: ("2019-01-10T10:00:00 Pacific/Kiritimati", "2019-01-09"),  # +14:00
    419: ("2019-01-10T05:00:00+00", "2019-01-10"),
    420: ("2019-01-10\t", "2019-01-10"),  # blanks Spark's cast trims (the twin refused them before)
    421: ("2019-01-10T00:00:00-00:00", "2019-01-09"),
    422: ("2019-01-10T00:00:00.000000000", "2019-01-10"),
    423: ("2019-03-10T02:30:00 America/New_York", "2019-03-10"),  # a wall clock the DST change skips: 03:30 EDT
    424: ("2019-01-10\n", "2019-01-10"), 425: ("\t2019-01-10", "2019-01-10"),
    426: ("2019-01-10\r", "2019-01-10"), 427: ("2019-01-10T00:00:00\t", "2019-01-10"),
    429: ("2019-01-10T05:00:00Z\t", "2019-01-10"), 430: ("2019-01-10\x0b", "2019-01-10"),
}
TEXT_DX2 = "2019-12-15"

# pandas-typed persons with instants: 601 born 2000-02-29 (float fields), 18 on 2018-03-01 (its diagnoses local
# midnights written with their offset); its sertraline order has an empty start date and a UTC start datetime
# 2018-03-10T04:00Z (2018-03-09 in New York), 60 days: one trial, trMDD. 602 born in 2000, month and day
# missing (NaN), birth_datetime 2000-06-15 (a masking placeholder): 1 July; index 2018-06-30: under 18. 603
# sex_at_birth 0 ('other'); MDD on 2019-03-10 (DST day); sertraline 2019-03-10T05:00Z (03-10), citalopram
# 2019-05-20T03:30Z (05-19 EDT), bupropion 2019-07-20T04:00Z (07-20), 60 days each: ad3 TRD on 2019-07-20;
# death '2020-01-01 04:30:00 UTC' (2019-12-31 in New York) ends follow-up.
PANDAS_PERSONS = [(601, 8507, 2000, 2, 29, 45880669, "2000-02-29"), (602, 8532, 2000, None, None, None, "2000-06-15"),
                  (603, 8507, 1980, 6, 15, 0, None)]
PANDAS_DX = {601: ("2018-03-01T00:00:00-05:00", "2018-04-01T00:00:00-04:00"),
             602: ("2018-06-30T00:00:00-04:00", "2018-11-03T00:00:00-04:00"),
             603: ("2019-03-10T00:00:00-05:00", "2019-11-03T00:00:00-04:00")}
PANDAS_DRUGS = [(601, SERTRALINE_TAB, "2018-03-10T04:00:00"), (603, SERTRALINE_TAB, "2019-03-10T05:00:00"),
                (603, CITALOPRAM, "2019-05-20T03:30:00"), (603, BUPROPION, "2019-07-20T04:00:00")]


def _write_case(root: Path) -> None:
    """The OMOP export: the vocabulary and empty optional tables from the support module, then person,
    observation_period, condition_occurrence, drug_exposure and death as pandas would write them."""
    write_omop_tables(root, {"concept": CONCEPTS, "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY]})
    f8, i8 = pa.float64(), pa.int64()
    persons = [*AGE_PERSONS, *[(p, 8532, 1970, 1, 1, None, None) for p in sorted(set(PERIODS) | set(RECORD_DX) | {212})],
               *[(p, g, 1970, 1, 1, s, None) for p, g, s, _ in SEX], *[(p, 8532, 1970, 1, 1, None, None) for p in TEXT_DX],
               *PANDAS_PERSONS]
    cols = list(zip(*persons, strict=True))

    def stamp(s: str | None):
        return dt.datetime.fromisoformat(s) if s else None
    pq.write_table(pa.table({
        "person_id": pa.array(cols[0], i8), "gender_concept_id": pa.array(cols[1], i8),
        "year_of_birth": pa.array(cols[2], f8), "month_of_birth": pa.array(cols[3], f8),
        "day_of_birth": pa.array(cols[4], f8), "sex_at_birth_concept_id": pa.array(cols[5], f8),
        "birth_datetime": pa.array([stamp(s) for s in cols[6]], pa.timestamp("ns"))}), root / "person.parquet")
    periods = [(p, s, e) for p, rows in PERIODS.items() for s, e in rows]
    periods += [(p, "2000-01-01", "2023-12-31") for p, *_ in persons if p not in PERIODS and p < 600]
    periods += [(p, "2010-01-01", "2023-06-30") for p, *_ in PANDAS_PERSONS]
    pq.write_table(pa.table({
        "person_id": pa.array([r[0] for r in periods], i8),
        "observation_period_start_date": pa.array([stamp(r[1]) for r in periods], pa.timestamp("ns")),
        "observation_period_end_date": pa.array([stamp(r[2]) for r in periods], pa.timestamp("ns"))}),
        root / "observation_period.parquet")
    dx = [(p, x) for table in (AGE_DX, RECORD_DX, PANDAS_DX) for p, pair in table.items() for x in pair]
    dx += [(p, text) for p, (text, _) in TEXT_DX.items()] + [(p, TEXT_DX2) for p in TEXT_DX]
    pq.write_table(pa.table({
        "person_id": pa.array([r[0] for r in dx], i8), "condition_concept_id": pa.array([MDD_CONCEPT] * len(dx), i8),
        "condition_start_date": pa.array([r[1] for r in dx], pa.string())}), root / "condition_occurrence.parquet")
    drugs = [(p, SERTRALINE_TAB, d(s), d(e) if e else None, n, None) for p, (s, e, n) in RECORD_DRUGS.items()]
    drugs += [(p, c, None, None, 60.0, dt.datetime.fromisoformat(s).replace(tzinfo=UTC)) for p, c, s in PANDAS_DRUGS]
    pq.write_table(pa.table({
        "person_id": pa.array([r[0] for r in drugs], i8), "drug_concept_id": pa.array([r[1] for r in drugs], i8),
        "drug_exposure_start_date": pa.array([r[2] for r in drugs], pa.date32()),
        "drug_exposure_end_date": pa.array([r[3] for r in drugs], pa.date32()),
        "days_supply": pa.array([r[4] for r in drugs], f8), "refills": pa.array([None] * len(drugs), f8),
        "quantity": pa.array([None] * len(drugs), f8),
        "drug_exposure_start_datetime": pa.array([r[5] for r in drugs], pa.timestamp("us", tz="UTC"))}),
        root / "drug_exposure.parquet")
    deaths = [*RECORD_DEATHS.items(), (603, "2020-01-01 04:30:00 UTC")]
    pq.write_table(pa.table({"person_id": pa.array([p for p, _ in deaths], i8),
                             "death_date": pa.array([s for _, s in deaths], pa.string())}), root / "death.parquet")


def _mdd(index: str, end: str, n_trials: int = 0, onset: str | None = None) -> tuple:
    """An MDD person's ad3 row (STATUS_COLUMNS from status on) by the rules: TRD at ``onset``, else trMDD with
    >= 1 adequate trial and >= 180 days of follow-up, else MDD_other (no_adequate_trial / short_followup)."""
    time = days(index, onset or end)
    if onset:
        return ("TRD", None, d(index), d(onset), d(end), time, 1, n_trials)
    if n_trials and days(index, end) >= 180:
        return ("trMDD", None, d(index), None, d(end), time, 0, n_trials)
    return ("MDD_other", "short_followup" if n_trials else "no_adequate_trial", d(index), None, d(end), time, 0, n_trials)


def _excluded(reason: str, end: str) -> tuple:
    return ("excluded", reason, None, None, d(end), None, None, None)


def _non_mdd(end: str = CUTOFF) -> tuple:
    return ("non_MDD", None, None, None, d(end), None, None, None)


def expected_ad3() -> dict[int, tuple]:
    """person_id -> the hand-worked ad3 row (STATUS_COLUMNS but person_id and definition)."""
    out: dict[int, tuple] = {}
    for p, (first, _) in AGE_DX.items():  # observed to 2023-12-31: follow-up to the cutoff
        out[p] = _excluded("under_18_at_index", CUTOFF) if p in UNDER_18 else _mdd(first, CUTOFF)
    out.update({
        201: _mdd("2016-03-01", "2023-06-30"), 202: _mdd("2019-01-10", "2020-12-31"),
        203: _excluded("depression_not_mdd", "2020-12-31"), 204: _mdd("2019-01-10", "2020-06-30"),
        205: _mdd("2019-01-10", CUTOFF), 206: _excluded("depression_not_mdd", "2020-05-01"),
        207: _mdd("2019-01-10", "2020-05-01"), 208: _mdd("2019-01-10", CUTOFF, 1),
        209: _mdd("2019-01-10", "2020-12-31", 1), 210: _mdd("2019-01-10", "2020-12-31"),
        211: _mdd("2019-01-10", "2020-12-31"), 212: _excluded("antidepressant_no_mdd", "2020-12-31"),
        213: _mdd("2019-01-10", CUTOFF), 214: _mdd("2019-01-10", "2019-07-09", 1),
        215: _mdd("2019-01-10", "2019-07-08", 1),
        # followed to the cutoff; at risk across the July 2019 gap: its 31 unobserved days are within the
        # persistence window (phenotypes.observation_period_gap_days 547, session 57), so the two periods are one
        # span: 1,633 days (session 53's rule without the window ended it with the index's period: 171)
        216: _mdd("2019-01-10", CUTOFF),
        217: _mdd("2019-01-10", "2020-06-30"), 218: _mdd("2019-01-10", "2020-12-31", 1),
        219: _mdd("2019-01-10", "2020-12-31")})
    out.update({p: _non_mdd() for p, *_ in SEX})
    out.update({p: _mdd(local, CUTOFF) for p, (_, local) in TEXT_DX.items()})
    out.update({601: _mdd("2018-03-01", "2023-06-30", 1), 602: _excluded("under_18_at_index", "2023-06-30"),
                603: _mdd("2019-03-10", "2019-12-31", 3, onset="2019-07-20")})
    return out


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("omopkinds") / "omop"
    root.mkdir()
    _write_case(root)
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir):
    """The case through the chain, once: {"ad3": {person_id: ad3 row}, "persons": {person_id: (sex_at_birth,
    birth_date)}, "ages": {person_id: age_at_index}, "counts": stage_counts' (study_event_dates, quirks)}."""
    return case_chain_run(spark, case_dir, ("sex_at_birth", "birth_date"), time_zone=ZONE)


@pytest.fixture(scope="module")
def twin_run(case_dir):
    """The case through the DuckDB twin, once: {"ad3": {person_id: ad3 row}, "counts": duckdb_drop_counts}."""
    run = duckdb_twin_run(case_dir, STATUS_COLUMNS, time_zone=ZONE)
    return {"ad3": ad3_of_twin(run), "counts": run["counts"]}


def test_the_chain_gives_every_hand_answer(chain_run):
    """Age, records-outside-observation, sex and text-date variants: the chain held on 173ccde (its own rules
    worked by hand; coverage, not a regression)."""
    assert chain_run["ad3"] == expected_ad3()


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """On 173ccde the twin stopped on the float64 person table (DuckDB: no make_date(DOUBLE, ...)) and, with
    integer birth fields, read '2019-01-10\\t' (420, 424-427, 429, 430) as no date: one error for the export."""
    assert twin_run["ad3"] == expected_ad3()


def test_birth_dates_ages_and_sex_at_birth(chain_run):
    """The persons table: birth dates by the Birth date rule, ages at the index (the 18th birthday is 18.0, a
    29 February birth is 18 on 1 March and 20 on 29 February 2020), sex at birth by the AoU rule."""
    persons, ages = chain_run["persons"], chain_run["ages"]
    assert {p: str(persons[p][1]) for p in BIRTH_DATES} == BIRTH_DATES
    assert {p: ages[p] for p in (102, 105, 111, 112, 601)} == {102: 18.0, 105: 18.0, 111: 20.0, 112: 18.0, 601: 18.0}
    assert ages[115] == 18.0 and ages[106] == 18.0 and ages[108] == 18.0
    assert {p: persons[p][0] for p, *_ in SEX} == {p: s for p, _, _, s in SEX}
    assert [persons[p][0] for p in (601, 602, 603)] == ["male", "female", "other"]


def test_drop_counts_of_the_chain_and_the_twin_agree(chain_run, twin_run):
    """Every record a rule drops is counted: the chain's notes (study_event_dates per table, the birth/death,
    persons and drug-record quirks) equal the twin's. By hand, conditions: 206's 2020-05-02 after death,
    203's 2021-01-01 after the last period end: n_after_followup_end 2 (n_after_death 1,
    n_after_observation_end 1); drugs: 212's order after follow-up. The twin stopped on 173ccde (float
    person fields)."""
    (event_dates, quirks), oracle = chain_run["counts"], twin_run["counts"]
    for domain, counts in event_dates.items():
        assert counts == (oracle[domain] or dict.fromkeys(counts, 0)), domain
    assert {k: quirks["birth_and_death"][k] for k in oracle["deaths"]} == oracle["deaths"]
    assert {k: quirks["persons"][k] for k in oracle["persons"]} == oracle["persons"]
    assert quirks["drug_records"] == oracle["drug_records"]
    c = event_dates["condition"]
    assert (c["n_after_followup_end"], c["n_after_death"], c["n_after_observation_end"], c["n_after_cutoff"]) == (2, 1, 1, 0)
    assert event_dates["drug"]["n_after_followup_end"] == 1
    assert quirks["birth_and_death"]["n_persons_birth_datetime_disagrees"] == 1  # 107 (another month)


# --- values that are no date, no whole number: one error in both -------------------------------------------------

def _one_table(folder: Path, table: str, columns: dict) -> str:
    folder.mkdir()
    pq.write_table(pa.table(columns), folder / f"{table}.parquet")
    return f"read_parquet('{folder / (table + '.parquet')}')"


def _condition_dates(values: pa.Array) -> dict:
    n = len(values)
    return {"person_id": pa.array(range(1, n + 1), pa.int64()), "condition_concept_id": pa.array([MDD_CONCEPT] * n,
                                                                                                    pa.int64()),
            "condition_start_date": values}


@pytest.mark.parametrize(("values", "chain", "twin"), [
    (pa.array([17906], pa.int32()), "column condition_start_date is int, not a date", "has type INTEGER, not a date"),
    (pa.array(["20190110"]), "value\\(s\\) are not dates .* '########'", "not dates .* ########"),
    (pa.array(["\t", "2019-01-10"]), "value\\(s\\) are not dates", "not dates"),
    (pa.array(["2019-01-10\u00a0"]), "value\\(s\\) are not dates", "not dates"),
], ids=["int-days", "yyyymmdd", "a-tab-alone", "no-break-space"])
def test_a_date_written_as_days_or_digits_is_one_error_in_both(spark, tmp_path, values, chain, twin):
    """Days since 1970 in an int column, 'YYYYMMDD' text, a tab alone, a no-break space after the date: no date
    ("Values that are no date"), one error naming table and column in the chain and the twin (held before;
    the blank-trimming fix keeps a tab alone an error in the twin, as in the chain). On 173ccde the twin read
    the date with a no-break space (DuckDB's trim() strips Unicode blanks) where the chain stops."""
    source = _one_table(tmp_path / "t", "condition_occurrence", _condition_dates(values))
    with pytest.raises(InputDataError, match=chain):
        read_omop_table(spark, OmopInput(path=str(tmp_path / "t"), time_zone="UTC", data_cutoff_date=d(CUTOFF)),
                        "condition_occurrence").collect()
    with pytest.raises((ValueError, duckdb.Error), match=twin):
        duckdb.connect().execute(f"SELECT * FROM {duckdb_twin()._dated(duckdb.connect(), source, 'condition_occurrence', 'UTC')}"
                                 ).fetchall()


def test_blank_padded_text_dates_read_as_written_in_the_twin(tmp_path):
    """Twin only (no Spark): each ASCII blank Spark's cast trims, around a date and a zoned date-time. On 173ccde
    each was 'not dates (yyyy-mm-dd)'."""
    values = ["2019-01-10\t", "\t2019-01-10", "2019-01-10\r", "2019-01-10\n", "2019-01-10\x0b", "2019-01-10\x0c",
              "2019-01-10\x1f", "2019-01-10T05:00:00Z\r"]
    source = _one_table(tmp_path / "t", "condition_occurrence", _condition_dates(pa.array(values)))
    con = duckdb.connect()
    rows = con.execute(f"SELECT condition_start_date FROM {duckdb_twin()._dated(con, source, 'condition_occurrence', ZONE)} ORDER BY person_id"
                       ).fetchall()
    assert [r[0] for r in rows] == [dt.date(2019, 1, 10)] * len(values)


@pytest.mark.parametrize(("month", "message"), [(2.5, "no whole number"), (float("nan"), "no whole number")],
                         ids=["fraction", "nan"])
def test_a_birth_month_that_is_no_whole_number_is_an_error_in_the_twin(tmp_path, month, message):
    """Twin only: month_of_birth 2.5 or NaN in a float64 column fails naming person.month_of_birth, as the
    chain's whole_number check does (DuckDB's cast would round 2.5 to 3). On 173ccde: a binder error."""
    source = _one_table(tmp_path / "p", "person", {
        "person_id": pa.array([1], pa.int64()), "year_of_birth": pa.array([2000.0]), "month_of_birth": pa.array([month])})
    twin = duckdb_twin()
    con = duckdb.connect()
    types = {r[0].lower(): r[1].upper() for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    assert con.execute(f"SELECT {twin._whole('year_of_birth', types)} FROM {source}").fetchall() == [(2000,)]
    with pytest.raises(duckdb.Error, match=f"person.month_of_birth: value\\(s\\) are {message}"):
        con.execute(f"SELECT {twin._whole('month_of_birth', types)} FROM {source}").fetchall()
