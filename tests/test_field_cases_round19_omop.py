"""Field cases, round 19 (session 29, helper "hunt_omop19"): new variants of the OMOP kinds that
gave a silent wrong answer on 8a12b1b.

- records-outside-observation: an ``observation_period`` row with neither date was read as a
  period open up to the data cutoff (``greatest`` and ``coalesce`` skip the nulls), so a person
  whose only declared period ended in 2015 was followed to 2023 (records after 2015 read as in
  follow-up: a trial, a longer time to TRD). The CDM requires both dates (OHDSI DQD isRequired);
  such a row is now no period, counted (``n_persons_period_undated``) and warned about.
- Concepts: a record whose standard concept column holds a concept that is not a standard,
  valid one (an ICD10CM F33.1 or an NDC concept written unmapped, a classification or a
  deprecated concept; OHDSI DQD isStandardValidConcept) matches no concept set (they are
  expanded through concept_ancestor, which links standard concepts only): the person of such an
  MDD code or antidepressant became a control without a word. Now counted per table
  (``quirks.unmapped_records.n_<table>_nonstandard``) and warned about, naming the column.
- age-18th-birthday: a year_of_birth outside the DQD's plausible range (1850 .. the year after
  the data cutoff's: 1800 or 2099 placeholders) gave ages of 219 or -76 years to the models
  without a word; counted (``n_persons_birth_year_implausible``) and warned about.

Tiny inputs built inline on the session's Spark (toy config: cutoff 2023-07-01); expected values
by hand from docs/phenotypes.md.
"""

from __future__ import annotations

import datetime as dt

from test_phenotypes_support import (
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    drug,
    frame,
    obs,
    omop_tables,
    person,
    proc,
    toy_config,
)

from trd_spark.phenotypes.persons import birth_death_quirk_counts, observation_period_overlaps
from trd_spark.phenotypes.stage import RECORDS_SUFFIX, derive_phenotype_tables, event_table_counts

CUTOFF = dt.date(2023, 7, 1)


def _ad3(tables) -> dict[int, tuple]:
    """person_id -> (status, exclusion_reason, followup_end_date, time_to_trd_days, n_adequate_trials) under ad3."""
    rows = tables.phenotypes.where("definition = 'ad3'").collect()
    return {r.person_id: (r.status, r.exclusion_reason, r.followup_end_date, r.time_to_trd_days, r.n_adequate_trials)
            for r in rows}


def test_an_observation_period_row_without_dates_is_no_period(spark):
    """1: a period 2000-01-01..2015-12-31 and a row with neither date; MDD codes 2010-03-01 and
    2010-04-01; sertraline 2017-01-01 for 60 days (after the declared period). By hand: follow-up
    ends 2015-12-31, the sertraline order is outside it -> MDD_other no_adequate_trial, time
    2010-03-01..2015-12-31 = 2131 days. On 8a12b1b the undated row ran to the cutoff: follow-up to
    2023-07-01, the sertraline trial adequate -> trMDD, 4870 days.
    2: only an undated row, MDD codes 2019-01-10 and 2019-02-10: no observation period (followed
    to the cutoff, counted as such: has_observation_period false; on 8a12b1b true).
    3: a row with an end (2015-12-31) and no start: a period ending then, as before.
    Counts: 2 persons with an undated row; the overlap count's periods are the 2 dated rows, none open
    (on 8a12b1b 4 periods, 2 'open')."""
    mdd = [cond(p, MDD_CONCEPT, day) for p, day in ((1, "2010-03-01"), (1, "2010-04-01"), (2, "2019-01-10"),
                                                  (2, "2019-02-10"), (3, "2010-03-01"), (3, "2010-04-01"))]
    periods = [obs(1, "2000-01-01", "2015-12-31"), (1, None, None), (2, None, None), (3, None, d("2015-12-31"))]
    omop = omop_tables(spark, persons=[person(1), person(2), person(3)], observation_periods=periods, conditions=mdd,
                       drugs=[drug(1, SERTRALINE_TAB, "2017-01-01", days_supply=60)])
    tables = derive_phenotype_tables(omop, toy_config())
    got = _ad3(tables)
    assert got[1] == ("MDD_other", "no_adequate_trial", d("2015-12-31"), days("2010-03-01", "2015-12-31"), 0)
    assert days("2010-03-01", "2015-12-31") == 2131
    assert got[2] == ("MDD_other", "no_adequate_trial", CUTOFF, days("2019-01-10", "2023-07-01"), 0)
    assert got[3] == ("MDD_other", "no_adequate_trial", d("2015-12-31"), 2131, 0)
    observed = {r.person_id: r.has_observation_period for r in tables.persons.collect()}
    assert observed == {1: True, 2: False, 3: True}
    quirks = birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"]).first()
    assert quirks.n_persons_period_undated == 2
    overlaps = observation_period_overlaps(omop["observation_period"]).first()
    assert (overlaps.n_periods, overlaps.n_open_periods) == (2, 0)
    from trd_spark.phenotypes.stage import birth_and_death_warnings  # new on this round

    lines = birth_and_death_warnings(quirks.asDict())
    assert [line.split(":")[0] for line in lines] == ["observation_period"], lines
    assert "neither observation_period_start_date nor observation_period_end_date" in lines[0]


# Concepts an ETL can leave in a standard concept column (synthetic IDs, as the support vocabulary's):
F33_1 = 2_000_000_901  # ICD10CM F33.1: a source concept (standard_concept NULL)
NDC_SERTRALINE = 2_000_000_902  # NDC package of sertraline: a source concept
ATC_SERTRALINE = 2_000_000_903  # ATC N06AB06: a classification concept ('C')
ECT_DEPRECATED = 2_000_000_904  # a SNOMED procedure a vocabulary release upgraded ('S' kept, invalid 'U')
SOURCE_CONCEPTS = [
    (F33_1, "Major depressive disorder, recurrent, moderate", "Condition", "ICD10CM", "5-char billing code", None,
     "F33.1", None),
    (NDC_SERTRALINE, "sertraline 50 MG Oral Tablet", "Drug", "NDC", "11-digit NDC", None, "00000000000", None),
    (ATC_SERTRALINE, "sertraline", "Drug", "ATC", "ATC 5th", "C", "N06AB06", None),
    (ECT_DEPRECATED, "Electroconvulsive therapy", "Procedure", "SNOMED", "Procedure", "S", "0000000", "U"),
    # The vocabulary's own concept 0 (standard_concept NULL, as a source concept's): a record of
    # concept 0 is counted as unmapped, not also as non-standard (mutation check of 68846ed).
    (0, "No matching concept", "Metadata", "None", "Undefined", None, "No matching concept", None),
]


def test_records_of_a_non_standard_concept_are_counted_per_table_and_column(spark):
    """4: two condition records of F33.1 in condition_concept_id (2019-01-10, 2019-02-10); 5: a
    sertraline order as an NDC concept and one as its ATC class, in drug_concept_id; 6: an ECT
    record of an upgraded concept. No concept set matches them (expanded through concept_ancestor,
    standard concepts only), so 4 and 5 stay controls (non_MDD), as before: by hand n_condition_occurrence_nonstandard
    2, n_drug_exposure_nonstandard 2, n_procedure_occurrence_nonstandard 1, and one WARNING per table
    naming its column. A standard record (7's MDD code) and a concept-0 record (counted as unmapped;
    concept 0 is in the concept table, as in the OMOP vocabulary) are not counted here. On 8a12b1b
    none was counted: the controls were silent."""
    conditions = [cond(4, F33_1, "2019-01-10"), cond(4, F33_1, "2019-02-10"), cond(7, MDD_CONCEPT, "2019-01-10"),
                  (7, 0, d("2019-02-10"), None, F33_1)]
    drugs = [drug(5, NDC_SERTRALINE, "2019-03-01", days_supply=60), drug(5, ATC_SERTRALINE, "2019-06-01", days_supply=60)]
    omop = omop_tables(spark, persons=[person(p) for p in (4, 5, 6, 7)], observation_periods=[obs(p) for p in (4, 5, 6, 7)],
                       conditions=conditions, drugs=drugs, procedures=[proc(6, ECT_DEPRECATED, "2019-05-01")])
    # F33.1's concept row twice (a vocabulary table appended to, not replaced): its records count once.
    omop["concept"] = frame(spark, "concept", [*CONCEPTS, *SOURCE_CONCEPTS, SOURCE_CONCEPTS[0]])
    # The aggregate stage_counts collects (quirks.unmapped_records and, by hand too, each table's
    # records: quirks.event_table_records, 4 condition, 2 drug, 1 procedure, no device record).
    tables = event_table_counts(omop).first().asDict()
    assert {k: v for k, v in tables.items() if k.endswith(RECORDS_SUFFIX)} == {
        "n_condition_occurrence_records": 4, "n_drug_exposure_records": 2, "n_procedure_occurrence_records": 1,
        "n_device_exposure_records": 0, "n_observation_records": 0}
    got = {k: v for k, v in tables.items() if not k.endswith(RECORDS_SUFFIX)}
    assert got == {"n_condition_occurrence": 1, "n_drug_exposure": 0, "n_procedure_occurrence": 0, "n_device_exposure": 0,
                   "n_observation": 0, "n_condition_occurrence_nonstandard": 2, "n_drug_exposure_nonstandard": 2,
                   "n_procedure_occurrence_nonstandard": 1, "n_device_exposure_nonstandard": 0,
                   "n_observation_nonstandard": 0}
    from trd_spark.phenotypes.stage import concept_record_warnings  # new on this round

    lines = concept_record_warnings(got, None)
    assert [line.split(":")[0] for line in lines] == ["condition_occurrence", "condition_occurrence", "drug_exposure",
                                                      "procedure_occurrence"], lines
    assert lines[1].startswith("condition_occurrence: 2 record(s) whose condition_concept_id is not a standard, valid")
    assert lines[2].startswith("drug_exposure: 2 record(s) whose drug_concept_id is not a standard, valid")


def test_birth_years_outside_the_dqd_plausible_range_are_counted(spark):
    """Birth years 1800, 1849 (before DQD's plausibleValueLow 1850), 1850, 1900, 2024 (the year after the
    cutoff's: DQD's high bound, YEAR(GETDATE())+1, with the cutoff for the date the data end), 2025 and
    1970, observed to the cutoff 2023-07-01. Counted as session 31 counts them, by the exclusion's own
    rule (persons.birth_implausible_expr, over PERSONS): 1800 and 1849 (before 1850), 1850 and 1900
    (aged 173 and 123 at the end of observation: over 120), 2024 and 2025 (born after it: below 0),
    by hand 6; 1970 is not. The count is the flow's box. One WARNING naming person.year_of_birth.
    On 8a12b1b no count existed; on 68846ed-48016ac it was DQD's year range alone (3: 1850, 1900 and 2024
    were excluded uncounted)."""
    years = {11: 1800, 12: 1849, 13: 1850, 14: 1900, 15: 2024, 16: 2025, 17: 1970}
    omop = omop_tables(spark, persons=[person(p, year) for p, year in years.items()],
                       observation_periods=[obs(p) for p in years])
    from trd_spark.phenotypes.stage import implausible_birth_warnings, stage_counts

    cfg = toy_config()
    assert cfg.omop.data_cutoff_date == CUTOFF
    t = derive_phenotype_tables(omop, cfg)
    # As the stage counts them (stage_counts: the one collect the manifest's notes.quirks come from)
    _, staged = stage_counts(omop, t.persons, t.study_events, t.ingredients, cfg.omop.data_cutoff_date,
                             cfg.phenotypes.trials.max_days_supply)
    assert staged["persons"]["n_persons_birth_year_implausible"] == 6
    excluded = {r.person_id for r in t.mdd.collect() if r.exclusion_reason == "implausible_year_of_birth"}
    assert excluded == set(years) - {17}
    lines = implausible_birth_warnings(staged["persons"])
    assert len(lines) == 1 and lines[0].startswith("person: year_of_birth gives no usable age"), lines
