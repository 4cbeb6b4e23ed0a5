"""OMOP person + observation_period + death -> the PERSONS table (one row per person_id)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from trd_spark.config import SexAtBirthMapping
from trd_spark.vocabulary import MAX_PLAUSIBLE_AGE_YEARS, PLAUSIBLE_BIRTH_YEAR_LOW

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# OMOP's standard Gender concepts (administrative sex), the only gender_concept_id values
# read as sex at birth (the All of Us CDR puts gender-identity answers in that column).
MALE_CONCEPT_ID = 8507
FEMALE_CONCEPT_ID = 8532


def sex_at_birth_expr(
    sex_at_birth_concept_id: Column, gender_concept_id: Column, mapping: SexAtBirthMapping
) -> Column:
    """'female' | 'male' | 'other' (config ``omop.sex_at_birth``; see ``SexAtBirthMapping``).

    A non-null sex-at-birth value decides (unlisted values, e.g. "prefer not to answer", are
    'other'); when it is null, gender_concept_id 8532 / 8507 gives female / male and any
    other value (a gender identity) 'other'.
    """
    sab = sex_at_birth_concept_id
    return (
        F.when(sab.isin(mapping.female), "female")
        .when(sab.isin(mapping.male), "male")
        .when(sab.isNotNull(), "other")
        .when(gender_concept_id == FEMALE_CONCEPT_ID, "female")
        .when(gender_concept_id == MALE_CONCEPT_ID, "male")
        .otherwise("other")
    )


def birth_datetime_agrees_expr(year: Column, month: Column, birth_datetime: Column) -> Column:
    """True where ``birth_datetime`` (a date) falls in ``year_of_birth`` and, when the month is
    known (1-12), in ``month_of_birth``; false where it disagrees; null where it is empty.

    ``year_of_birth`` is the field the CDM requires and the one OHDSI tools read (the OHDSI
    FeatureExtraction age covariate is YEAR(index) - year_of_birth; Themis #93: "birth_datetime
    is little used in OHDSI tooling"); a ``birth_datetime`` in another year or month (e.g. a
    birth date shifted by a de-identification that left year_of_birth alone) is not a birth
    date this person's year of birth allows.
    """
    same_month = F.when(month.between(1, 12), F.month(birth_datetime) == month).otherwise(F.lit(True))
    return F.when(birth_datetime.isNotNull(), (F.year(birth_datetime) == year) & same_month)


def birth_date_expr(year: Column, month: Column, day: Column, birth_datetime: Column | None = None) -> Column:
    """Birth date (study rule, docs/phenotypes.md).

    Month known (1-12): ``birth_datetime``'s date when present AND in the year and month of
    ``year_of_birth`` / ``month_of_birth`` (``birth_datetime_agrees_expr``: it then only adds
    the day), else year-month-day with a missing/invalid day read as the 1st: the CDM's required
    fields win over a disagreeing birth_datetime (counted by the stage,
    ``birth_death_quirk_counts``). Month absent or invalid (year-only births): 1 July, even
    when birth_datetime is filled, because exports that mask month and day (All of Us) fill
    birth_datetime with a placeholder (e.g. 15 June), not a birth date; 1 July keeps the
    error in age within +/- 6 months.
    """
    mid_year = F.make_date(year, F.lit(7), F.lit(1))
    with_month = F.coalesce(
        F.make_date(year, month, F.coalesce(day, F.lit(1))), F.make_date(year, month, F.lit(1))
    )
    if birth_datetime is not None:
        agrees = F.coalesce(birth_datetime_agrees_expr(year, month, birth_datetime), F.lit(False))
        with_month = F.when(agrees, birth_datetime).otherwise(with_month)
    return F.when(month.between(1, 12), with_month).otherwise(mid_year)


def birthday_expr(birth_date: Column, year: Column) -> Column:
    """The birthday in ``year``; a 29 February birthday is 1 March in common years."""
    return F.date_add(F.make_date(year, F.month(birth_date), F.lit(1)), F.dayofmonth(birth_date) - 1)


def age_years_expr(birth_date: Column, on: Column) -> Column:
    """Exact age in years (double) at date ``on``: completed years by calendar arithmetic
    (the 18th birthday is 18.0, the day before is 17.99...) plus the elapsed share of the
    current year of age (days since the last birthday / days to the next). So
    ``age < 18`` is true exactly before the 18th birthday. Null when either date is null.
    """
    before_birthday = (F.month(on) * 100 + F.dayofmonth(on)) < (F.month(birth_date) * 100 + F.dayofmonth(birth_date))
    completed = F.year(on) - F.year(birth_date) - F.when(before_birthday, 1).otherwise(0)
    last = birthday_expr(birth_date, F.year(birth_date) + completed)
    following = birthday_expr(birth_date, F.year(birth_date) + completed + 1)
    return (completed + F.datediff(on, last) / F.datediff(following, last)).cast("double")


def derive_persons(
    person: DataFrame,
    observation_period: DataFrame,
    death: DataFrame,
    data_cutoff_date: dt.date,
    sex_at_birth: SexAtBirthMapping | None = None,
) -> DataFrame:
    """PERSONS (keyed by person_id; see trd_spark.schemas).

    Sex at birth by ``sex_at_birth_expr`` (default mapping when None), birth date by
    ``birth_date_expr``, age by ``age_years_expr``.
    observation_end_date = min(last observation_period_end_date, earliest death_date,
    data_cutoff_date); a person without any observation period is followed to death or the
    cutoff (AoU derives periods from EHR records, so such persons have few EHR events; they
    are counted in the cohort flow as ``no_observation_period``). A period with a null
    ``observation_period_end_date`` (required by the CDM; ETLs leave it empty for a period
    still open at extraction) runs to the cutoff, so an earlier closed period never ends the
    follow-up of a person whose current period is open; such periods are counted
    (``observation_period_overlaps``: n_open_periods). A row with neither date is no period
    (``period_last_date_expr``; counted, ``birth_death_quirk_counts``).
    An observation period ending before the birth year (placeholder dates such as 1900) is not
    used either: without another period the person has none (``has_observation_period``).
    A period whose first day lies after the data cutoff (``period_after_cutoff_expr``) is not used
    either: it observed nothing the release covers.
    Death: the earliest ``death_date`` on or after 1 January of the birth year
    (``first_death_dates``): a death row dated before the person's birth year (a 1900-01-01
    placeholder for an unknown date, a swapped person_id) is no death of this person and is not
    used; several plausible death rows: the earliest.
    A period's last day is the later of its start and end (``period_last_date_expr``): a period
    whose start lies after its end (columns swapped by an ETL) still observed the person on its start.
    Duplicate person rows keep one row per person_id.
    """
    cutoff = F.lit(data_cutoff_date).cast("date")
    # An open period (null end) runs to the cutoff; max() would skip it and end follow-up at an
    # earlier closed period. A period ending before the birth year is not used (like a death then),
    # nor one starting after the cutoff (like a death then: outside the release).
    last_obs = (
        observation_period.where(~period_after_cutoff_expr(cutoff))
        .withColumn("_end", period_last_date_expr(cutoff))
        .transform(lambda df: after_birth_year(df, person, "_end"))
        .groupBy("person_id").agg(F.max("_end").alias("last_observation_date"))
    )
    first_death = first_death_dates(death, person, "death_date")
    persons = (
        person.dropDuplicates(["person_id"])
        .join(last_obs, "person_id", "left")
        .join(first_death, "person_id", "left")
        .select(
            "person_id",
            sex_at_birth_expr(
                F.col("sex_at_birth_concept_id"), F.col("gender_concept_id"), sex_at_birth or SexAtBirthMapping()
            ).alias("sex_at_birth"),
            F.col("year_of_birth").cast("int").alias("year_of_birth"),
            birth_date_expr(
                F.col("year_of_birth"), F.col("month_of_birth"), F.col("day_of_birth"), F.col("birth_datetime")
            ).alias("birth_date"),
            # least() skips nulls: no death -> min(observation end, cutoff).
            F.least(F.col("last_observation_date"), F.col("death_date"), cutoff).alias("observation_end_date"),
            F.col("last_observation_date").isNotNull().alias("has_observation_period"),
        )
    )
    return persons.withColumn("age_at_observation_end", age_years_expr(F.col("birth_date"), F.col("observation_end_date")))


def period_last_date_expr(cutoff: Column) -> Column:
    """The last day an ``observation_period`` row observed its person (date): its
    ``observation_period_end_date``, the ``cutoff`` when that is null (a period open at
    extraction), and its ``observation_period_start_date`` when that is later. A start after the
    end is an ETL fault (the columns swapped; OHDSI Data Quality Dashboard check
    plausibleStartBeforeEnd): the person was still observed on both dates, so the end alone
    would end follow-up years early and turn every later record into one outside follow-up
    (an MDD person 'excluded'). OHDSI cohort SQL, which requires start <= event <= end, would drop
    the person altogether. Counted as ``n_persons_period_start_after_end``.

    Null when the row has neither date (``period_undated_expr``): it declares no period, so it
    is not used. Read as open (the cutoff), it gave a person follow-up the data never declared:
    beside a closed period it moved the end of follow-up from that period's end to the cutoff
    (records after it read as in follow-up, a longer time to TRD). The CDM requires both dates
    (OHDSI Data Quality Dashboard isRequired); a death row without a date is not used either
    (``first_death_dates``). Counted as ``n_persons_period_undated``."""
    start = F.col("observation_period_start_date")
    last = F.greatest(start, F.coalesce(F.col("observation_period_end_date"), cutoff))
    return F.when(~period_undated_expr(), last)


def period_after_cutoff_expr(cutoff: Column) -> Column:
    """True for an ``observation_period`` row whose first day, the earlier of its two dates (a swapped
    period observed its person from its end, ``period_last_date_expr``; a missing end date is skipped),
    lies after ``cutoff`` (date: ``omop.data_cutoff_date``, the last date the release's EHR covers);
    false otherwise (null-safe: an undated row is ``period_undated_expr``'s). A row without a start date
    is false: its first day is unknown, not after the cutoff, and it is a period ending at its end
    (round 19's rule, ``period_last_date_expr``; capped at the cutoff as any end). Taking the least of
    its dates read its end as its first day (f443ed1: such a row with an end after the cutoff was no
    period, and a person followed to the cutoff lost years of follow-up, field case round 40's 4000).

    Such a period observed nothing the release covers (an ETL building periods from visits, future
    scheduled ones included; a later extract read with an earlier release's cutoff), so it is no
    period, as a death after the cutoff ends nothing: read as the person's last period, it gave
    follow-up to the cutoff across the years since the person's last observed day (field case round
    40: an MDD person observed to mid-2019 and again from after the cutoff was trMDD with 1633 days
    instead of MDD_other short_followup with 171). Counted as ``n_persons_period_after_cutoff``."""
    start = F.col("observation_period_start_date")
    # least() skips a null; a null start must not make the end the first day (null, then False)
    first = F.when(start.isNotNull(), F.least(start, F.col("observation_period_end_date")))
    return F.coalesce(first > cutoff, F.lit(False))


def period_undated_expr() -> Column:
    """True for an ``observation_period`` row with neither observation_period_start_date nor
    observation_period_end_date: no period (``period_last_date_expr``)."""
    return F.col("observation_period_start_date").isNull() & F.col("observation_period_end_date").isNull()


def after_birth_year(rows: DataFrame, person: DataFrame, date_col: str) -> DataFrame:
    """The rows of ``rows`` (with person_id) whose ``date_col`` is on or after 1 January of the
    person's ``year_of_birth`` (``person``: person_id, year_of_birth); same columns. Rows of
    persons absent from ``person`` are dropped."""
    years = person.select("person_id", F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"))
    return rows.join(years, "person_id").where(F.col(date_col) >= F.col("_birth")).drop("_birth")


def first_death_dates(death: DataFrame, person: DataFrame, alias: str) -> DataFrame:
    """person_id, ``alias``: each person's earliest ``death_date`` on or after 1 January of
    their ``year_of_birth`` (``person``: person_id, year_of_birth).

    Death rows dated before the birth year cannot be this person's death (placeholders such as
    1900-01-01, sentinels, rows of another person): they are not used, as a study record
    dated before the birth year is never used (``restrict_to_followup``), and counted
    (``birth_death_quirk_counts``), as are undated rows (no death_date and no death_datetime:
    ``n_persons_death_undated``). Persons without a usable death row have no row.
    """
    return after_birth_year(death, person, "death_date").groupBy("person_id").agg(F.min("death_date").alias(alias))


def birth_death_quirk_counts(person: DataFrame, death: DataFrame, observation_period: DataFrame,
                             data_cutoff_date: dt.date | None = None) -> DataFrame:
    """One row over the OMOP ``person``, ``death`` and ``observation_period`` tables (long, persons):
    n_persons_birth_datetime_disagrees (``birth_datetime`` outside year_of_birth, or outside
    month_of_birth when that is known: the birth date comes from the year/month/day fields,
    ``birth_date_expr``), n_persons_death_before_birth_year (a death row dated before the
    birth year: not used, ``first_death_dates``), n_persons_several_death_dates (more than
    one distinct usable death date: the earliest is used), n_persons_period_before_birth_year
    (an observation period ending before the birth year: not used, ``derive_persons``) and
    n_persons_death_before_birth_date (a usable death row dated in the birth year but before the
    birth date, ``birth_date_expr``: USED, counted only; the person, aged below 0 at the end of
    observation, is then excluded, ``birth_implausible_expr``. Its year is the CDM's required field;
    the day and month are often imputed (1 July for year-only births) or masked, and a
    de-identification that shifts every event date of a person (All of Us: up to 365 days back)
    while year_of_birth stays can move a true death in the first months of life before the
    birthday; records are bounded by the same 1 January, ``restrict_to_followup``) and
    n_persons_period_start_after_end (an observation period whose start lies after its end: used
    up to the later date, ``period_last_date_expr``), n_persons_death_not_in_person_table
    (person_ids of death rows that no ``person`` row has: not used, as every record of an unknown
    person; the CDM's foreign key), n_persons_period_not_in_person_table (the same for
    observation_period rows: not used, ``derive_persons`` reads the periods of known persons only)
    and n_persons_death_undated (a death row with
    neither death_date nor death_datetime, after ``omop.datetime_fallback``: no date to end
    follow-up with, so not used; a person with no other death row is followed as alive to the
    cutoff. The CDM requires death_date) and n_persons_period_undated (an observation_period
    row with neither date: no period, not used, ``period_last_date_expr``; a person with no other
    period has none, ``has_observation_period``); with ``data_cutoff_date`` (the stage passes
    ``omop.data_cutoff_date``) also n_persons_death_after_cutoff: the person's earliest usable
    death (dated in or after the birth year, ``first_death_dates``) lies after the cutoff, so
    follow-up ends at the cutoff and the death is not read (``derive_persons``: the earlier of
    the two); it changes no answer, but a release whose deaths run past its cutoff is seen; and
    n_persons_period_after_cutoff: an observation period whose first day lies after the cutoff (not
    used, ``period_after_cutoff_expr``).
    Aggregates only.
    """
    years = person.select("person_id", F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"),
                          birth_date_expr(F.col("year_of_birth"), F.col("month_of_birth"), F.col("day_of_birth"),
                                          F.col("birth_datetime")).alias("_birth_date"))
    usable = F.col("death_date") >= F.col("_birth")
    per_person = death.join(years, "person_id").groupBy("person_id").agg(
        F.max((F.col("death_date") < F.col("_birth")).cast("int")).alias("_before"),
        F.countDistinct(F.when(usable, F.col("death_date"))).alias("_dates"),
        F.max((usable & (F.col("death_date") < F.col("_birth_date"))).cast("int")).alias("_before_birthday"),
        F.max(F.col("death_date").isNull().cast("int")).alias("_undated"),
        F.min(F.when(usable, F.col("death_date"))).alias("_first_death"),
    )
    start, end = F.col("observation_period_start_date"), F.col("observation_period_end_date")
    periods = observation_period.join(years, "person_id").groupBy("person_id").agg(
        F.max((end.isNotNull() & (F.greatest(start, end) < F.col("_birth"))).cast("int")).alias("_period_before"),
        F.max((start > end).cast("int")).alias("_start_after_end"),
        F.max(period_undated_expr().cast("int")).alias("_period_undated"),
        *([F.max(period_after_cutoff_expr(F.lit(data_cutoff_date).cast("date")).cast("int")).alias("_period_after")]
          if data_cutoff_date is not None else []))
    disagrees = ~F.coalesce(birth_datetime_agrees_expr(
        F.col("year_of_birth"), F.col("month_of_birth"), F.col("birth_datetime")), F.lit(True))

    def n(cond: Column) -> Column:
        return F.coalesce(F.sum(F.when(cond, 1).otherwise(0)), F.lit(0)).cast("long")

    # person_ids of death / observation_period rows without a person row: one more row each per
    # table (person columns null)
    def unknown(table: DataFrame, flag: str) -> DataFrame:
        return table.join(person, "person_id", "left_anti").select("person_id").distinct().select(
            "person_id", F.lit(1).alias(flag))

    rows = person.join(per_person, "person_id", "left").join(periods, "person_id", "left")
    rows = rows.unionByName(unknown(death, "_unknown"), allowMissingColumns=True)
    return rows.unionByName(unknown(observation_period, "_unknown_period"), allowMissingColumns=True).agg(
        n(disagrees).alias("n_persons_birth_datetime_disagrees"),
        n(F.col("_before") == 1).alias("n_persons_death_before_birth_year"),
        n(F.col("_dates") > 1).alias("n_persons_several_death_dates"),
        n(F.col("_period_before") == 1).alias("n_persons_period_before_birth_year"),
        n(F.col("_before_birthday") == 1).alias("n_persons_death_before_birth_date"),
        n(F.col("_start_after_end") == 1).alias("n_persons_period_start_after_end"),
        n(F.col("_undated") == 1).alias("n_persons_death_undated"),
        n(F.col("_unknown") == 1).alias("n_persons_death_not_in_person_table"),
        n(F.col("_unknown_period") == 1).alias("n_persons_period_not_in_person_table"),
        n(F.col("_period_undated") == 1).alias("n_persons_period_undated"),
        *([n(F.col("_first_death") > F.lit(data_cutoff_date).cast("date")).alias("n_persons_death_after_cutoff"),
           n(F.col("_period_after") == 1).alias("n_persons_period_after_cutoff")]
          if data_cutoff_date is not None else []),
    )


def birth_implausible_expr(year_of_birth: Column, age_at_observation_end: Column) -> Column:
    """True for a person the study cannot age (PERSONS columns ``year_of_birth``, int, and
    ``age_at_observation_end``, years from ``age_years_expr``): a year_of_birth before
    ``PLAUSIBLE_BIRTH_YEAR_LOW`` (OHDSI DQD's plausibleValueLow), or an age at the end of
    observation below 0 (born, as ``birth_date_expr`` dates the birth, after the end of the
    record: a 2099 placeholder, any year after the cutoff's, so DQD's plausibleValueHigh too; a
    death or a year-only birth's 1 July after the record's end in the birth year) or
    above ``MAX_PLAUSIBLE_AGE_YEARS``; false otherwise; null-safe (a null year or age is
    implausible, though the OMOP reader already rejects a missing year_of_birth).

    Such persons are excluded (``ExclusionReason.IMPLAUSIBLE_YEAR_OF_BIRTH``, before any other
    reason; ``mdd.derive_mdd``) and counted, by this one rule, in the cohort flow
    (``flow.shared_flow_columns``) and in the stage's notes.quirks.persons.
    n_persons_birth_year_implausible (``stage.person_count_columns``, over the same PERSONS rows;
    session 30's count took DQD's year range alone, so persons excluded for their age were in the
    flow's box only): used as written (as OHDSI tools
    use it; FeatureExtraction's age is YEAR(index) - year_of_birth) a 1800 placeholder gave the
    models an age of 219 years and a 2099 one a negative age, without a word. Since the end of
    observation bounds every MDD index and follow-up end, no analysed person has an age at the
    index or at the end of follow-up below 0 or above the maximum (an index before the birth
    date is under ``min_age_at_index``, >= 0)."""
    age = age_at_observation_end
    out = (year_of_birth < PLAUSIBLE_BIRTH_YEAR_LOW) | (age < 0) | (age > MAX_PLAUSIBLE_AGE_YEARS)
    return F.coalesce(out, F.lit(True))


def restrict_to_followup(events: DataFrame, persons: DataFrame, date_col: str) -> DataFrame:
    """Keep events of known persons dated within [1 Jan of year_of_birth, observation_end_date].

    Records before birth or after death/cutoff are data errors or outside the analysed
    release; they never count towards diagnoses, trials or onsets. The lower bound is the
    start of the birth year (not the imputed 1 July birth date) so that masked birth dates
    never drop real records. Adds no columns.
    """
    window = persons.select(
        "person_id",
        F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"),
        F.col("observation_end_date").alias("_end"),
    )
    return (
        events.join(window, "person_id")
        .where((F.col(date_col) >= F.col("_birth")) & (F.col(date_col) <= F.col("_end")))
        .drop("_birth", "_end")
    )


def followup_date_counts(
    events: DataFrame,
    persons: DataFrame,
    date_col: str,
    death: DataFrame,
    data_cutoff_date: dt.date,
    *,
    group_by: tuple[str, ...] = (),
) -> DataFrame:
    """Counts of what ``restrict_to_followup`` keeps and drops, and why (one row per group).

    Columns (long): n_records, n_unknown_person, n_missing_date, n_before_birth_year,
    n_after_followup_end and its three reasons, counted separately: n_after_death (after
    the person's earliest usable death_date, ``first_death_dates``: a data error), n_after_cutoff (not after death, after
    ``data_cutoff_date``: outside the analysed release), n_after_observation_end (neither:
    after the last observation period); n_kept; then n_dated_after_cutoff (known person,
    dated after ``data_cutoff_date`` whatever the reason above). Aggregates only, for the manifest and
    the log; ``group_by`` columns of ``events`` (e.g. a domain tag) lead the output.
    """
    first_death = first_death_dates(death, persons, "_death")
    window = persons.select(
        "person_id",
        F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"),
        F.col("observation_end_date").alias("_end"),
        F.lit(True).alias("_known"),
    ).join(first_death, "person_id", "left")
    date = F.col(date_col)
    joined = events.select("person_id", date_col, *group_by).join(window, "person_id", "left")

    def n(cond) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    known = F.col("_known").isNotNull()
    after_end = known & (date > F.col("_end"))
    after_death = after_end & F.coalesce(date > F.col("_death"), F.lit(False))
    after_cutoff = after_end & ~after_death & (date > F.lit(data_cutoff_date).cast("date"))
    counts = [
        F.count(F.lit(1)).cast("long").alias("n_records"),
        n(~known).alias("n_unknown_person"),
        n(known & date.isNull()).alias("n_missing_date"),
        n(known & (date < F.col("_birth"))).alias("n_before_birth_year"),
        n(after_end).alias("n_after_followup_end"),
        n(after_death).alias("n_after_death"),
        n(after_cutoff).alias("n_after_cutoff"),
        n(after_end & ~after_death & ~after_cutoff).alias("n_after_observation_end"),
        n(known & (date >= F.col("_birth")) & (date <= F.col("_end"))).alias("n_kept"),
        n(known & (date > F.lit(data_cutoff_date).cast("date"))).alias("n_dated_after_cutoff"),
    ]
    return joined.groupBy(*group_by).agg(*counts) if group_by else joined.agg(*counts)


def observation_period_overlaps(observation_period: DataFrame) -> DataFrame:
    """One row: n_periods, n_overlapping_periods (starting on/before the end of an earlier
    period of the same person), n_persons_with_overlap, n_open_periods (null
    observation_period_end_date: open at extraction, run to the cutoff by ``derive_persons``)
    (long), over the rows with a date (a row with neither date is no period,
    ``period_last_date_expr``, counted by ``birth_death_quirk_counts``). Aggregates only.

    Follow-up uses the last period end whatever the overlaps, so they change nothing
    downstream; they are counted because they flag ETL problems in a release.
    """
    order = Window.partitionBy("person_id").orderBy("observation_period_start_date", "observation_period_end_date")
    prev_end = F.max("observation_period_end_date").over(order.rowsBetween(Window.unboundedPreceding, -1))
    flagged = observation_period.where(~period_undated_expr()).select(
        "person_id", (F.col("observation_period_start_date") <= prev_end).alias("_overlap"),
        F.col("observation_period_end_date").isNull().alias("_open"),
    ).fillna(False, subset=["_overlap"])
    per_person = flagged.groupBy("person_id").agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.col("_overlap").cast("int")).alias("k"),
        F.sum(F.col("_open").cast("int")).alias("o"),
    )
    return per_person.agg(
        F.coalesce(F.sum("n"), F.lit(0)).cast("long").alias("n_periods"),
        F.coalesce(F.sum("k"), F.lit(0)).cast("long").alias("n_overlapping_periods"),
        F.sum(F.when(F.col("k") > 0, 1).otherwise(0)).cast("long").alias("n_persons_with_overlap"),
        F.coalesce(F.sum("o"), F.lit(0)).cast("long").alias("n_open_periods"),
    )


def observation_spans(observation_period: DataFrame, person: DataFrame, data_cutoff_date: dt.date) -> DataFrame:
    """Each person's spans of continuous observation: person_id, span_start, span_end (dates).

    The periods ``derive_persons`` uses (not undated, first day not after the cutoff, last day in
    or after the birth year; ``person``: person_id, year_of_birth), each from its first day (the
    earlier of its dates; no start date: 1 January of the birth year, when follow-up starts) to its
    last (``period_last_date_expr``: an open period runs to the cutoff), merged where they overlap
    or touch (a period starting on or before the day after the latest earlier end continues the
    span). The latest ``span_end`` is PERSONS' last observation date. Persons without a usable
    period have no row. Source of the rule: OMOP CDM ``observation_period`` ("spans of time for
    which a person is expected to have clinical events recorded"; OHDSI's "continuous observation").
    """
    cutoff = F.lit(data_cutoff_date).cast("date")
    start = F.col("observation_period_start_date")
    births = person.dropDuplicates(["person_id"]).select(
        "person_id", F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"))
    periods = (
        observation_period.where(~period_after_cutoff_expr(cutoff) & ~period_undated_expr())
        .withColumn("_end", period_last_date_expr(cutoff))
        .join(births, "person_id")
        .where(F.col("_end") >= F.col("_birth"))
        # least() skips a null: without this when() a start-less period would begin on its end day
        .select("person_id", F.when(start.isNull(), F.col("_birth"))
                .otherwise(F.least(start, F.col("observation_period_end_date"))).alias("_start"), "_end")
    )
    order = Window.partitionBy("person_id").orderBy("_start", "_end")
    prev_end = F.max("_end").over(order.rowsBetween(Window.unboundedPreceding, -1))
    new_span = F.coalesce(F.col("_start") > F.date_add(prev_end, 1), F.lit(True)).cast("int")
    spans = periods.withColumn("_span", F.sum(new_span).over(order.rowsBetween(Window.unboundedPreceding, 0)))
    return spans.groupBy("person_id", "_span").agg(F.min("_start").alias("span_start"),
                                                    F.max("_end").alias("span_end")).drop("_span")


def bridge_observation_gaps(spans: DataFrame, gap_days: int) -> DataFrame:
    """``observation_spans`` merged across short gaps (the persistence window): person_id, span_start,
    span_end (dates), n_gaps_bridged (int: the gaps inside the span, 0 for a span alone).

    A span starting at most ``gap_days`` unobserved days after the latest earlier end (``datediff(start,
    end) - 1 <= gap_days``; ``phenotypes.observation_period_gap_days``) continues it, as
    ``trials.derive_episodes`` merges exposures: OHDSI era logic (the CDM's condition / drug eras merge
    records within a persistence window; the OHDSI CDM EHR Working Group, "Observation Period
    Considerations for EHR Data", ends an EHR observation period at a gap of 548 days or more). Merging the
    periods with the window directly gives the same spans: ``observation_spans`` merges only periods with no
    unobserved day between them, so every gap is between two of its spans. ``gap_days`` 0: the spans as
    given, each with n_gaps_bridged 0."""
    order = Window.partitionBy("person_id").orderBy("span_start", "span_end")
    prev_end = F.max("span_end").over(order.rowsBetween(Window.unboundedPreceding, -1))
    gap = F.datediff(F.col("span_start"), prev_end) - 1
    new_span = F.coalesce(gap > gap_days, F.lit(True)).cast("int")
    merged = spans.withColumn("_span", F.sum(new_span).over(order.rowsBetween(Window.unboundedPreceding, 0)))
    return merged.groupBy("person_id", "_span").agg(
        F.min("span_start").alias("span_start"), F.max("span_end").alias("span_end"),
        (F.count(F.lit(1)) - 1).cast("int").alias("n_gaps_bridged"),
    ).drop("_span")


def _index_span(spans: DataFrame, index: DataFrame) -> DataFrame:
    """Per person of ``index``: _span (struct span_end, span_start: the first span ending on or after
    the index, null without one), _first (the first span's start), _n_bridged (the spans'
    n_gaps_bridged summed, 0 without the column)."""
    joined = index.select("person_id", "mdd_index_date").join(spans, "person_id", "left")
    after = F.col("span_end") >= F.col("mdd_index_date")
    bridged = F.sum("n_gaps_bridged") if "n_gaps_bridged" in spans.columns else F.lit(0)
    return joined.groupBy("person_id", "mdd_index_date").agg(
        F.min(F.when(after, F.struct("span_end", "span_start"))).alias("_span"),
        F.min("span_start").alias("_first"),
        F.coalesce(bridged, F.lit(0)).cast("long").alias("_n_bridged"),
    )


def index_periods(spans: DataFrame, index: DataFrame, spans_without_window: DataFrame | None = None) -> DataFrame:
    """The observation span of each MDD index: person_id, index_period_end_date (date), index_in_period
    (boolean), index_before_first_period (boolean); one row per person of ``index`` (person_id,
    mdd_index_date not null).

    The span of the index is the first span (``observation_spans``, or ``bridge_observation_gaps``'
    spans) ending on or after the index: the one containing it, or, when the index lies before the
    first span or between two (records outside observation periods count, docs/phenotypes.md), the
    next one (``index_in_period`` false). A person without such a span (no usable period) has a
    null end: followed to the end of follow-up, as PERSONS follows such a person.

    ``spans_without_window`` (the spans before ``bridge_observation_gaps``; ``spans`` are then its
    output): adds index_period_end_without_window (date: the same rule over those spans, for the
    counts of what the persistence window changes) and n_gaps_bridged (long: the person's gaps the
    window bridged, ``observation_gap_count_columns``).
    """
    span = _index_span(spans, index)
    out = span.select(
        "person_id",
        F.col("_span.span_end").alias("index_period_end_date"),
        F.coalesce(F.col("_span.span_start") <= F.col("mdd_index_date"), F.lit(False)).alias("index_in_period"),
        F.coalesce(F.col("_first") > F.col("mdd_index_date"), F.lit(False)).alias("index_before_first_period"),
        F.col("_n_bridged").alias("n_gaps_bridged"),
    )
    if spans_without_window is None:
        return out.drop("n_gaps_bridged")
    before = _index_span(spans_without_window, index).select(
        "person_id", F.col("_span.span_end").alias("index_period_end_without_window"))
    return out.join(before, "person_id", "left")


def observation_gap_count_columns() -> list[Column]:
    """One-row aggregates over ``index_periods`` with ``spans_without_window`` (long): n_observation_gaps_bridged
    (gaps between the MDD persons' observation periods that the persistence window bridged),
    n_mdd_persons_gaps_bridged (MDD persons with one or more), n_mdd_index_span_extended (MDD persons whose
    index span ends later because of it: their Cox time at risk may run longer)."""
    extended = F.col("index_period_end_date") > F.col("index_period_end_without_window")
    return [
        F.coalesce(F.sum("n_gaps_bridged"), F.lit(0)).cast("long").alias("n_observation_gaps_bridged"),
        F.sum(F.when(F.col("n_gaps_bridged") > 0, 1).otherwise(0)).cast("long").alias("n_mdd_persons_gaps_bridged"),
        F.sum(F.when(extended, 1).otherwise(0)).cast("long").alias("n_mdd_index_span_extended"),
    ]


def index_period_count_columns() -> list[Column]:
    """One-row aggregates over ``index_periods``: n_mdd_index_before_first_period (the index before
    the first observation span's start), n_mdd_index_between_periods (in a gap between two spans),
    n_mdd_index_no_period (no usable period: followed to the end of follow-up). Persons, long."""
    outside = F.col("index_period_end_date").isNotNull() & ~F.col("index_in_period")
    return [
        F.sum(F.when(outside & F.col("index_before_first_period"), 1).otherwise(0)).cast("long")
        .alias("n_mdd_index_before_first_period"),
        F.sum(F.when(outside & ~F.col("index_before_first_period"), 1).otherwise(0)).cast("long")
        .alias("n_mdd_index_between_periods"),
        F.sum(F.when(F.col("index_period_end_date").isNull(), 1).otherwise(0)).cast("long")
        .alias("n_mdd_index_no_period"),
    ]
