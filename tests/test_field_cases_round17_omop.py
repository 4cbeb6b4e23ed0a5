"""Field cases, round 17 (session 27, helper "hunt_omop"): new variants of the OMOP kinds that
gave a silent wrong answer (or no answer) on 12a1719.

- All of Us shapes: the CDR's ``*_datetime`` columns are BigQuery TIMESTAMPs (instants in UTC),
  person.birth_datetime among them. conf/aou.yaml and conf/aou_releases.yaml set no
  ``omop.time_zone``, so the person table of the study's own target could not be read at all
  (one error at the run's start). They now read them as their UTC date (BigQuery's DATE(ts)): a
  birth at 02:00 UTC is that day's birth, not the previous day's as a US zone would make it
  (which moved the 18th birthday, the age exclusion, a day).
- Records dropped uncounted: observation_period rows of a person_id no person row has were
  left out of follow-up without a count (death rows of such person_ids were counted). Now
  ``notes.quirks.birth_and_death.n_persons_period_not_in_person_table`` with a WARNING.
- Counts inconsistent with what the rules used: ``notes.quirks.antidepressant_exposures``
  counted the antidepressant records of every date while the trials read those within
  follow-up only (an exposure after death or the cutoff was an "exposure" no trial held).
- /work/shared/study.md's TRD ("no response to >= 2 adequate antidepressant trials, i.e. a third
  distinct treatment started") read literally needs no adequate third trial; docs/phenotypes.md's rule (the
  default, which the hand-worked field cases follow) does. ``last_trial_adequate: false`` on a
  definition gives the literal reading (``trd.sequence_onset_expr``).

Tiny inputs built inline on the session's Spark (toy config: cutoff 2023-07-01, observation
2000-01-01..2023-12-31, MDD codes on 2019-01-10 and 2019-02-10); expected values by hand from
docs/phenotypes.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_phenotypes_support import (
    CITALOPRAM,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    death,
    drug,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.config import TrdDefinition, load_config
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.persons import birth_death_quirk_counts
from trd_spark.phenotypes.stage import derive_phenotype_tables, stage_counts
from trd_spark.report.tables import nested_definitions

INDEX = "2019-01-10"
CONF = Path(__file__).resolve().parent.parent / "conf"


def _mdd(p: int) -> list:
    return [cond(p, MDD_CONCEPT, day) for day in (INDEX, "2019-02-10")]


def test_the_aou_configs_read_the_cdr_s_timestamps_as_their_utc_date(spark, tmp_path, monkeypatch):
    """person as a BigQuery export writes it (Parquet TIMESTAMP(MICROS, UTC)), read with the AoU
    configs' omop settings: 1 and 2 born 2000-07-15 02:00 UTC (month and day known), MDD from
    2018-07-14 (1: 17.997 years, excluded under_18_at_index) and 2018-07-15 (2: the 18th birthday,
    MDD). Read in America/New_York the birth would be 2000-07-14 and 1 an adult. On 12a1719 the
    read stops: 'birth_datetime is a time-zone-aware timestamp; set omop.time_zone'."""
    for var, value in (("WORKSPACE_BUCKET", "gs://fc-secure-x"), ("WORKSPACE_CDR", "fc-aou-cdr-prod-ct.C2022Q4R9"),
                       ("GOOGLE_PROJECT", "aou-rw-1234abcd")):
        monkeypatch.setenv(var, value)
    born = dt.datetime(2000, 7, 15, 2, 0, tzinfo=dt.UTC)
    pq.write_table(pa.table({
        "person_id": pa.array([1, 2], pa.int64()), "gender_concept_id": pa.array([45878463] * 2, pa.int64()),
        "year_of_birth": pa.array([2000] * 2, pa.int64()), "month_of_birth": pa.array([7] * 2, pa.int64()),
        "day_of_birth": pa.array([None] * 2, pa.int64()), "birth_datetime": pa.array([born] * 2, pa.timestamp("us", tz="UTC")),
        "sex_at_birth_concept_id": pa.array([45878463, 45880669], pa.int64())}), tmp_path / "person.parquet")
    for name in ("aou_releases.yaml", "aou.yaml"):  # aou.yaml's read is used below
        cfg = load_config(CONF / name, overrides={"release": "C2022Q4R9"} if name == "aou_releases.yaml" else None)
        person_df = read_omop_table(spark, cfg.omop.model_copy(update={"format": "parquet", "path": str(tmp_path)}),
                                    "person")
        assert {r.person_id: r.birth_datetime for r in person_df.collect()} == {1: dt.date(2000, 7, 15),
                                                                               2: dt.date(2000, 7, 15)}, name
    omop = omop_tables(spark, observation_periods=[obs(1), obs(2)], conditions=[
        cond(1, MDD_CONCEPT, "2018-07-14"), cond(1, MDD_CONCEPT, "2018-09-01"),
        cond(2, MDD_CONCEPT, "2018-07-15"), cond(2, MDD_CONCEPT, "2018-09-01")])
    omop["person"] = person_df
    rows = derive_phenotype_tables(omop, toy_config(sex_at_birth=cfg.omop.sex_at_birth)).phenotypes.where(
        "definition = 'ad3'").collect()
    got = {r.person_id: (r.status, r.exclusion_reason, r.age_at_index, r.sex_at_birth) for r in rows}
    assert got == {1: ("excluded", "under_18_at_index", None, "female"),
                   2: ("MDD_other", "no_adequate_trial", 18.0, "male")}


def test_observation_periods_of_person_ids_without_a_person_row_are_counted(spark):
    """observation_period rows for 1 (known) and 98, 99 (no person row; 99 twice): 98's and 99's
    are not used (derive_persons reads known persons' periods) and were not counted on 12a1719.
    By hand: 2 person_ids; a death row of 99 is counted on its own line as before."""
    omop = omop_tables(spark, persons=[person(1)], observation_periods=[obs(1), obs(98), obs(99), obs(99, "2001-01-01")],
                       deaths=[death(99, "2020-01-01")])
    got = birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"]).first()
    assert (got.n_persons_period_not_in_person_table, got.n_persons_death_not_in_person_table) == (2, 1)
    assert got.n_persons_period_before_birth_year == 0


def test_antidepressant_exposure_counts_are_over_the_records_the_trials_read(spark):
    """1: sertraline 2019-02-01 (60 days) and 2023-09-01 (after the cutoff); 2 (dead 2020-01-01):
    sertraline 2019-03-01 and 2020-06-01 (after death). The trials read the two records within
    follow-up: by hand n_records 2, n_exposures 2 (on 12a1719: 4 and 4), and the two others are
    the drug domain's n_after_followup_end."""
    drugs = [drug(1, SERTRALINE_TAB, "2019-02-01", days_supply=60), drug(1, SERTRALINE_TAB, "2023-09-01", days_supply=60),
             drug(2, SERTRALINE, "2019-03-01", days_supply=60), drug(2, SERTRALINE_TAB, "2020-06-01", days_supply=60)]
    omop = omop_tables(spark, persons=[person(1), person(2)], observation_periods=[obs(1), obs(2)],
                       conditions=_mdd(1) + _mdd(2), drugs=drugs, deaths=[death(2, "2020-01-01")])
    cfg = toy_config()
    t = derive_phenotype_tables(omop, cfg)
    dates, quirks = stage_counts(omop, t.persons, t.study_events, t.ingredients, cfg.omop.data_cutoff_date,
                                 cfg.phenotypes.trials.max_days_supply)
    assert quirks["antidepressant_exposures"] == {"n_records": 2, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                                  "n_exposures": 2, "n_duplicates_removed": 0}
    assert t.trials.count() == 2
    assert (dates["drug"]["n_after_death"], dates["drug"]["n_after_cutoff"]) == (1, 1)


def _started() -> TrdDefinition:
    """ad3 with a third treatment that need only start, beside ad3 as configured (docs/phenotypes.md's rule:
    the third trial adequate too)."""
    return TrdDefinition(name="ad3_started", rule="antidepressant_sequence", n_trials=3, last_trial_adequate=False)


def _two_adequate(p: int) -> list:
    """Sertraline 2019-02-01 and fluoxetine 2019-05-01, 60 days each: adequate, the second
    distinct ingredient's trial starts 2019-05-01."""
    return [drug(p, SERTRALINE_TAB, "2019-02-01", days_supply=60), drug(p, FLUOXETINE_CAP, "2019-05-01", days_supply=60)]


def test_ad3_started_needs_no_adequate_third_trial_and_ad3_does(spark):
    """By hand (index 2019-01-10; follow-up to the cutoff 2023-07-01 unless dead):
    1: citalopram 2019-08-01 for 20 days after the two adequate trials: ad3 TRD on 2019-08-01
       (203 days) under ad3_started; ad3 (README: third trial adequate): trMDD, 2 adequate trials.
    2: citalopram 2019-03-01 for 10 days, BEFORE fluoxetine's adequate trial: no third treatment
       after the second adequate one: trMDD under both.
    3: citalopram 2019-08-01 (60 days), death 2019-08-20: the trial is clipped to 20 days, so the
       default rule never saw the third treatment (ad3 trMDD, 222 days of follow-up); ad3_started
       TRD 2019-08-01.
    4: sertraline restarted 2019-09-01 (a re-started ingredient is no third treatment): trMDD.
    5: citalopram started with fluoxetine (same day, 10 days): on/after the second adequate start,
       as an augmentation agent would be: ad3_started TRD 2019-05-01; ad3 trMDD.
    On 12a1719 there was no last_trial_adequate option (ad3_started cannot be configured)."""
    drugs = [*_two_adequate(1), drug(1, CITALOPRAM, "2019-08-01", days_supply=20),
             *_two_adequate(2), drug(2, CITALOPRAM, "2019-03-01", days_supply=10),
             *_two_adequate(3), drug(3, CITALOPRAM, "2019-08-01", days_supply=60),
             *_two_adequate(4), drug(4, SERTRALINE_TAB, "2019-09-01", days_supply=20),
             *_two_adequate(5), drug(5, CITALOPRAM, "2019-05-01", days_supply=10)]
    people = range(1, 6)
    omop = omop_tables(spark, persons=[person(p) for p in people], observation_periods=[obs(p) for p in people],
                       conditions=[c for p in people for c in _mdd(p)], drugs=drugs, deaths=[death(3, "2019-08-20")])
    cfg = toy_config()
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={
        "trd_definitions": [*cfg.phenotypes.trd_definitions, _started()]})})
    rows = derive_phenotype_tables(omop, cfg).phenotypes.where("definition in ('ad3', 'ad3_started')").collect()
    got = {(r.person_id, r.definition): (r.status, r.trd_onset_date, r.time_to_trd_days, r.n_adequate_trials)
           for r in rows}
    cutoff = days(INDEX, "2023-07-01")
    assert got == {
        (1, "ad3_started"): ("TRD", d("2019-08-01"), days(INDEX, "2019-08-01"), 2), (1, "ad3"): ("trMDD", None, cutoff, 2),
        (2, "ad3_started"): ("trMDD", None, cutoff, 2), (2, "ad3"): ("trMDD", None, cutoff, 2),
        (3, "ad3_started"): ("TRD", d("2019-08-01"), days(INDEX, "2019-08-01"), 2),
        (3, "ad3"): ("trMDD", None, days(INDEX, "2019-08-20"), 2),
        (4, "ad3_started"): ("trMDD", None, cutoff, 2), (4, "ad3"): ("trMDD", None, cutoff, 2),
        (5, "ad3_started"): ("TRD", d("2019-05-01"), days(INDEX, "2019-05-01"), 2), (5, "ad3"): ("trMDD", None, cutoff, 2),
    }
    assert days(INDEX, "2019-08-01") == 203 and days(INDEX, "2019-08-20") == 222


def test_nesting_of_sequence_definitions_follows_the_last_trial_rule():
    """The export's disclosure audit relies on the nesting (report.tables.nested_definitions):
    ad3_started (third started) holds every TRD person of ad3 (third adequate), not the reverse."""
    ad3 = TrdDefinition(name="ad3", rule="antidepressant_sequence", n_trials=3)
    ad4 = TrdDefinition(name="ad4", rule="antidepressant_sequence", n_trials=4)
    assert nested_definitions([_started(), ad3, ad4]) == [("ad3_started", "ad3"), ("ad3_started", "ad4"), ("ad3", "ad4")]

