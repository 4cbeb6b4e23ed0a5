"""The four OMOP field cases (tests/data/field_cases/omop/, copied from the shared field cases):
every expected value per person and TRD definition (status, reason, dates, time to TRD, event,
adequate trials, age, sex) and every expected trial, through the stage's own reader and chain
with the project's concept sets and default rules (data cutoff 2023-07-01).

`*` in expected.tsv means "any exclusion reason" (non-null).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from test_phenotypes_support import toy_config

from trd_spark.errors import InputDataError, input_error_of
from trd_spark.phenotypes.flow import cohort_flow_rows
from trd_spark.phenotypes.persons import birth_death_quirk_counts
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CASES = Path(__file__).parent / "data" / "field_cases" / "omop"
DATE_COLUMNS = ("mdd_index_date", "trd_onset_date", "followup_end_date")
INT_COLUMNS = ("time_to_trd_days", "trd_event", "n_adequate_trials")


def _expected(case: str, name: str = "expected.tsv") -> pd.DataFrame:
    return pd.read_csv(CASES / case / name, sep="\t", comment="#", dtype=str, keep_default_na=False)


def _run(spark, case: str, **omop):
    cfg = toy_config(path=str(CASES / case / "omop"), **omop)
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    return cfg, tables


def _check_phenotypes(tables, expected: pd.DataFrame) -> None:
    got = {(r.person_id, r.definition): r for r in tables.phenotypes.collect()}
    assert len(got) == len(expected), "one row per person and definition"
    for e in expected.to_dict("records"):
        key = (int(e["person_id"]), e["definition"])
        r = got[key]
        assert r.status == e["status"], key
        if e["exclusion_reason"] == "*":
            assert r.exclusion_reason is not None, key
        else:
            assert r.exclusion_reason == (e["exclusion_reason"] or None), key
        for c in DATE_COLUMNS:
            assert r[c] == (dt.date.fromisoformat(e[c]) if e[c] else None), (key, c)
        for c in INT_COLUMNS:
            assert r[c] == (int(e[c]) if e[c] else None), (key, c)
        if "age_at_index" in e:
            assert (None if r.age_at_index is None else round(r.age_at_index, 2)) == (
                float(e["age_at_index"]) if e["age_at_index"] else None), key
        if "sex_at_birth" in e:
            assert r.sex_at_birth == e["sex_at_birth"], key


def _check_trials(tables, expected: pd.DataFrame) -> None:
    got = {(r.person_id, r.ingredient_concept_id, r.trial_start_date, r.trial_end_date, r.trial_days, r.adequate)
           for r in tables.trials.collect()}
    want = {(int(e["person_id"]), int(e["ingredient_concept_id"]), dt.date.fromisoformat(e["trial_start_date"]),
             dt.date.fromisoformat(e["trial_end_date"]), int(e["trial_days"]), e["adequate"] == "true")
            for e in expected.to_dict("records")}
    assert got == want


def _flow(cfg, tables) -> dict[str, int]:
    rows = cohort_flow_rows(tables.mdd, tables.phenotypes, exclusion_sets=list(cfg.phenotypes.mdd.exclude_concept_sets),
                            min_diagnoses=cfg.phenotypes.mdd.min_diagnoses)
    return {step: n for definition, _, step, n in rows if definition == "all"}


def test_records_outside_observation(spark):
    """Depression codes / antidepressants after the last observation period make no control
    (702, 703); records between / before periods count (701, 706); an exposure starting after
    follow-up is no trial (704); no observation period -> followed to the cutoff (705)."""
    cfg, tables = _run(spark, "records-outside-observation")
    _check_phenotypes(tables, _expected("records-outside-observation"))
    _check_trials(tables, _expected("records-outside-observation", "expected_trials.tsv"))
    flow = _flow(cfg, tables)
    assert flow["no_observation_period"] == 1  # 705
    assert flow["excluded_outside_followup_only"] == 2  # 702, 703
    assert flow["non_MDD"] == 0


def test_age_18th_birthday(spark):
    _, tables = _run(spark, "age-18th-birthday")
    _check_phenotypes(tables, _expected("age-18th-birthday"))
    assert tables.trials.count() == 0


def test_aou_sex_at_birth(spark):
    _, tables = _run(spark, "aou-sex-at-birth")
    _check_phenotypes(tables, _expected("aou-sex-at-birth"))
    _check_trials(tables, _expected("aou-sex-at-birth", "expected_trials.tsv"))
    sexes = {r.person_id: r.sex_at_birth for r in tables.persons.collect()}
    assert sexes == {1801: "female", 1802: "male", 1803: "male", 1804: "female", 1805: "female"}


def test_timezone_timestamps_with_the_declared_zone(spark):
    """Drug dates are local midnights in Europe/Amsterdam (tz-aware Parquet timestamps),
    condition dates naive timestamps, observation dates ISO text: all read as written."""
    _, tables = _run(spark, "timezone-timestamps", time_zone="Europe/Amsterdam")
    _check_phenotypes(tables, _expected("timezone-timestamps"))
    _check_trials(tables, _expected("timezone-timestamps", "expected_trials.tsv"))


def test_timezone_timestamps_without_a_zone_is_one_clear_error(spark):
    cfg = toy_config(path=str(CASES / "timezone-timestamps" / "omop"))
    with pytest.raises(InputDataError, match=r"drug_exposure column drug_exposure_start_date is a time-zone-aware "
                                             r"timestamp; set omop.time_zone"):
        read_omop(spark, cfg)


# ---- session-11 variants of the same kinds (hand-worked expected files; see their comments) ----

def test_open_observation_period_runs_to_the_cutoff(spark):
    """A NULL observation_period_end_date (a period open at extraction) runs to the cutoff
    (2101 ended at his earlier closed period before: excluded instead of trMDD); the last day of
    a period counts, the day after does not (2103, 2104); death before the period's end ends
    follow-up (2105)."""
    from trd_spark.phenotypes.persons import observation_period_overlaps

    cfg, tables = _run(spark, "records-outside-observation-open-period")
    _check_phenotypes(tables, _expected("records-outside-observation-open-period"))
    _check_trials(tables, _expected("records-outside-observation-open-period", "expected_trials.tsv"))
    assert _flow(cfg, tables)["no_observation_period"] == 0  # 2102's only period is open, not absent
    omop = read_omop(spark, cfg)
    assert observation_period_overlaps(omop["observation_period"]).collect()[0].n_open_periods == 2



# ---- session-12 variants (hand-worked expected files; see their comments) ----------------------

def test_empty_dates_take_their_datetime_partner(spark):
    """A date column left empty where its datetime partner is filled (omop.DATETIME_OF): death
    (2201: no death before, trMDD instead of short follow-up), an exposure end (2202: the default
    30 days before, no adequate trial) and a diagnosis (2204: one MDD code before, excluded);
    a filled date wins over its datetime (2203)."""
    cfg, tables = _run(spark, "records-outside-observation-datetime-only")
    _check_phenotypes(tables, _expected("records-outside-observation-datetime-only"))
    _check_trials(tables, _expected("records-outside-observation-datetime-only", "expected_trials.tsv"))


def test_an_instant_datetime_partner_needs_the_zone_only_where_it_is_used(spark):
    """An empty death_date beside a time-zone-aware death_datetime is the instant's local date in
    omop.time_zone (23:30 UTC is the next day in Tokyo); without omop.time_zone such a row fails
    the query naming table and columns, while a table whose dates are all filled reads as before."""
    import pyspark.sql.types as T
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from trd_spark.phenotypes.omop import conform_omop_table

    schema = T.StructType([T.StructField("person_id", T.LongType()), T.StructField("death_date", T.DateType()),
                           T.StructField("death_datetime", T.TimestampType())])
    instant = dt.datetime(2020, 6, 29, 23, 30, tzinfo=dt.UTC)
    empty = spark.createDataFrame([(1, None, instant), (2, dt.date(2020, 1, 2), instant)], schema)
    got = conform_omop_table(empty, "death", where="d", time_zone="Asia/Tokyo").orderBy("person_id").collect()
    assert [r.death_date for r in got] == [dt.date(2020, 6, 30), dt.date(2020, 1, 2)]
    with pytest.raises((PySparkException, Py4JJavaError), match=r"death \(d\): death_date is empty where death_datetime is a date-time") as e:
        conform_omop_table(empty, "death", where="d").collect()
    # The CLI reports it as the one-line InputDataError (exit 3), not a Spark traceback.
    err = input_error_of(e.value)
    assert isinstance(err, InputDataError) and err.exit_code == 3
    assert str(err) == ("OMOP table death (d): death_date is empty where death_datetime is a date-time with a time "
                        "zone; set omop.time_zone to the zone whose calendar dates the export means (e.g. UTC for "
                        "BigQuery TIMESTAMP)")
    assert input_error_of(RuntimeError("another failure")) is None
    filled = empty.where("death_date IS NOT NULL")
    assert conform_omop_table(filled, "death", where="d").collect()[0].death_date == dt.date(2020, 1, 2)

def test_zoned_iso_text_int96_and_ntz_dates_with_the_declared_zone(spark):
    """ISO text with 'Z' / '+01:00' / ' UTC' is an instant: its local date in omop.time_zone
    (read as written, 2201's trials and TRD came one day early); INT96 death, naive
    period starts and tz-aware period ends by the same rules."""
    case = "timezone-timestamps-zoned-text"
    _, tables = _run(spark, case, time_zone="Europe/Amsterdam")
    _check_phenotypes(tables, _expected(case))
    _check_trials(tables, _expected(case, "expected_trials.tsv"))


@pytest.mark.parametrize(("table", "column"), [("condition_occurrence", "condition_start_date"),
                                               ("drug_exposure", "drug_exposure_start_date")])
def test_zoned_iso_text_without_a_zone_is_one_clear_error(spark, table, column):
    from trd_spark.phenotypes.omop import read_omop_table

    cfg = toy_config(path=str(CASES / "timezone-timestamps-zoned-text" / "omop"))
    with pytest.raises(InputDataError, match=rf"{table}\.parquet: OMOP table {table} column {column}: \d value\(s\) "
                                             r"are date-times with a time zone .*set omop\.time_zone") as e:
        read_omop_table(spark, cfg.omop, table)
    assert "\n" not in str(e.value)


def test_age_on_a_29_february_birthday_and_a_zoned_birth_datetime(spark):
    _, tables = _run(spark, "age-18th-birthday-leap-day", time_zone="Europe/Amsterdam")
    _check_phenotypes(tables, _expected("age-18th-birthday-leap-day"))
    assert tables.trials.count() == 0


def test_every_sex_at_birth_answer(spark):
    """aou-sex-at-birth, every shape of the answer (right before; kept): the two AoU answers
    and OMOP's 8532 / 8507 in the sex-at-birth column; any other answer (AoU's intersex,
    prefer-not-to-answer, skip and none-of-these concepts, 0 = no matching concept) is 'other'
    whatever gender_concept_id says; a null answer falls back to gender_concept_id 8532 / 8507
    only (an AoU gender-identity answer there is 'other'); a CDR without the column uses
    gender_concept_id (the reader adds it as null)."""
    from trd_spark.config import SexAtBirthMapping
    from trd_spark.phenotypes.persons import sex_at_birth_expr

    rows = [(45878463, 8507, "female"), (45880669, 8532, "male"), (8532, 0, "female"), (8507, 0, "male"),
            (46273637, 8532, "other"), (903079, 8507, "other"), (903096, 8532, "other"), (1177221, 8507, "other"),
            (0, 8532, "other"), (None, 8532, "female"), (None, 8507, "male"), (None, 45878463, "other"),
            (None, None, "other")]
    df = spark.createDataFrame([(i, a, g) for i, (a, g, _) in enumerate(rows)], "i int, sab long, gender long")
    got = dict(df.select("i", sex_at_birth_expr(df.sab, df.gender, SexAtBirthMapping()).alias("s")).collect())
    assert [got[i] for i in range(len(rows))] == [want for _, _, want in rows]


# ---- session-13 variants (hand-worked expected files; see their comments) ----------------------

def test_birth_datetime_disagreeing_with_year_of_birth(spark):
    """birth_datetime in another year (2401) or month (2404) than year_of_birth / month_of_birth
    is not used (the CDM's required fields, what OHDSI reads, win: 2401 and 2404 were excluded
    under 18 before); in the same year and month it gives the day (2402); year-only births stay
    1 July (2403). The disagreeing persons are counted for the manifest."""
    case = "age-18th-birthday-birth-datetime-disagrees"
    cfg = toy_config(path=str(CASES / case / "omop"))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    _check_phenotypes(tables, _expected(case))
    assert birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"]).collect()[0].asDict() == {
        "n_persons_birth_datetime_disagrees": 3, "n_persons_death_before_birth_year": 0,
        "n_persons_several_death_dates": 0, "n_persons_period_before_birth_year": 0}


def test_death_rows_and_periods_before_the_birth_year_are_not_used(spark):
    """A death row dated before the birth year (2501's 1900-01-01 placeholder, 2503's 1976 row) is
    no death, an observation period ending before it (2505's 1900 period) no period: all three
    were excluded before (follow-up ended before any record); of two plausible death rows the
    earliest ends follow-up (2502); a record after death is no trial (2504)."""
    case = "records-outside-observation-death-dates"
    cfg = toy_config(path=str(CASES / case / "omop"))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    _check_phenotypes(tables, _expected(case))
    _check_trials(tables, _expected(case, "expected_trials.tsv"))
    flow = _flow(cfg, tables)
    assert (flow["excluded_outside_followup_only"], flow["no_observation_period"]) == (0, 1)  # 2505
    assert birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"]).collect()[0].asDict() == {
        "n_persons_birth_datetime_disagrees": 0, "n_persons_death_before_birth_year": 2,
        "n_persons_several_death_dates": 1, "n_persons_period_before_birth_year": 1}


@pytest.mark.parametrize(("case", "zone"), [("records-outside-observation", None), ("age-18th-birthday", None),
                                            ("aou-sex-at-birth", None), ("timezone-timestamps", "Europe/Amsterdam"),
                                            # the datetime-partner and zoned-text / INT96 rules (session 13)
                                            ("records-outside-observation-datetime-only", None),
                                            ("timezone-timestamps-zoned-text", "Europe/Amsterdam"),
                                            ("records-outside-observation-open-period", None),
                                            ("age-18th-birthday-leap-day", "Europe/Amsterdam"),
                                            ("age-18th-birthday-birth-datetime-disagrees", None),
                                            ("records-outside-observation-death-dates", None)])
def test_duckdb_twin_gives_the_expected_values(case, zone, tmp_path):
    """The independent DuckDB implementation follows the same rules on the field cases (no Spark)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_phenotypes

    cfg = toy_config(path=str(CASES / case / "omop"), time_zone=zone)
    out = tmp_path / "duck.parquet"
    duckdb_phenotypes(str(CASES / case / "omop"), cfg, str(out), threads=1)
    got = {(r.person_id, r.definition): r for r in pd.read_parquet(out).itertuples()}
    expected = _expected(case)
    assert len(got) == len(expected)
    for e in expected.to_dict("records"):
        key = (int(e["person_id"]), e["definition"])
        r = got[key]
        assert r.status == e["status"], key
        assert (r.exclusion_reason is not None) if e["exclusion_reason"] == "*" else (
            r.exclusion_reason == (e["exclusion_reason"] or None)), key
        for c in DATE_COLUMNS:
            v = getattr(r, c)
            assert (None if pd.isna(v) else pd.Timestamp(v).date()) == (
                dt.date.fromisoformat(e[c]) if e[c] else None), (key, c)
        for c in INT_COLUMNS:
            v = getattr(r, c)
            assert (None if pd.isna(v) else int(v)) == (int(e[c]) if e[c] else None), (key, c)
