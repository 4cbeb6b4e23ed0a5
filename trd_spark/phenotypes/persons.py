"""OMOP person + observation_period + death -> the PERSONS table (one row per person_id)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MALE_CONCEPT_ID = 8507
FEMALE_CONCEPT_ID = 8532
DAYS_PER_YEAR = 365.25


def sex_at_birth_expr(gender_concept_id: "Column") -> "Column":
    """'male' (8507) | 'female' (8532) | 'other' (anything else, including missing)."""
    return (
        F.when(gender_concept_id == MALE_CONCEPT_ID, "male")
        .when(gender_concept_id == FEMALE_CONCEPT_ID, "female")
        .otherwise("other")
    )


def birth_date_expr(year: "Column", month: "Column", day: "Column") -> "Column":
    """Birth date; a missing month gives 1 July (mid-year), a missing/invalid day the 1st.

    AoU shifts and partly masks birth dates, so month/day are often absent; 1 July keeps the
    expected error in age at +/- 6 months.
    """
    mid_year = F.make_date(year, F.lit(7), F.lit(1))
    with_month = F.coalesce(
        F.make_date(year, month, F.coalesce(day, F.lit(1))), F.make_date(year, month, F.lit(1))
    )
    return F.when(month.isNull(), mid_year).otherwise(F.coalesce(with_month, mid_year))


def derive_persons(
    person: "DataFrame",
    observation_period: "DataFrame",
    death: "DataFrame",
    data_cutoff_date: dt.date,
) -> "DataFrame":
    """PERSONS: sex, birth date, end of follow-up and age at it, keyed by person_id.

    observation_end_date = min(last observation_period_end_date, earliest death_date,
    data_cutoff_date); a person without any observation period is followed to death or the
    cutoff (AoU derives periods from EHR records, so such persons have no EHR events anyway).
    Duplicate person rows keep one row per person_id.
    """
    last_obs = observation_period.groupBy("person_id").agg(
        F.max("observation_period_end_date").alias("last_observation_date")
    )
    first_death = death.groupBy("person_id").agg(F.min("death_date").alias("death_date"))
    cutoff = F.lit(data_cutoff_date).cast("date")
    persons = (
        person.dropDuplicates(["person_id"])
        .join(last_obs, "person_id", "left")
        .join(first_death, "person_id", "left")
        .select(
            "person_id",
            sex_at_birth_expr(F.col("gender_concept_id")).alias("sex_at_birth"),
            F.col("year_of_birth").cast("int").alias("year_of_birth"),
            birth_date_expr(F.col("year_of_birth"), F.col("month_of_birth"), F.col("day_of_birth")).alias(
                "birth_date"
            ),
            # least() skips nulls: no death -> min(observation end, cutoff).
            F.least(F.col("last_observation_date"), F.col("death_date"), cutoff).alias("observation_end_date"),
        )
    )
    return persons.withColumn(
        "age_at_cutoff",
        (F.datediff("observation_end_date", "birth_date") / F.lit(DAYS_PER_YEAR)).cast("double"),
    )


def restrict_to_followup(events: "DataFrame", persons: "DataFrame", date_col: str) -> "DataFrame":
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
    events: "DataFrame",
    persons: "DataFrame",
    date_col: str,
    death: "DataFrame",
    data_cutoff_date: dt.date,
    *,
    group_by: tuple[str, ...] = (),
) -> "DataFrame":
    """Counts of what ``restrict_to_followup`` keeps and drops, and why (one row per group).

    Columns (long): n_records, n_unknown_person, n_missing_date, n_before_birth_year,
    n_after_followup_end and its three reasons, counted separately: n_after_death (after
    the person's earliest death_date: a data error), n_after_cutoff (not after death, after
    ``data_cutoff_date``: outside the analysed release), n_after_observation_end (neither:
    after the last observation period); then n_kept. Aggregates only, for the manifest and
    the log; ``group_by`` columns of ``events`` (e.g. a domain tag) lead the output.
    """
    first_death = death.groupBy("person_id").agg(F.min("death_date").alias("_death"))
    window = persons.select(
        "person_id",
        F.make_date(F.col("year_of_birth"), F.lit(1), F.lit(1)).alias("_birth"),
        F.col("observation_end_date").alias("_end"),
        F.lit(True).alias("_known"),
    ).join(first_death, "person_id", "left")
    date = F.col(date_col)
    joined = events.select("person_id", date_col, *group_by).join(window, "person_id", "left")

    def n(cond) -> "Column":
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
    ]
    return joined.groupBy(*group_by).agg(*counts) if group_by else joined.agg(*counts)


def observation_period_overlaps(observation_period: "DataFrame") -> "DataFrame":
    """One row: n_periods, n_overlapping_periods (starting on/before the end of an earlier
    period of the same person), n_persons_with_overlap (long). Aggregates only.

    Follow-up uses the last period end whatever the overlaps, so they change nothing
    downstream; they are counted because they flag ETL problems in a release.
    """
    order = Window.partitionBy("person_id").orderBy("observation_period_start_date", "observation_period_end_date")
    prev_end = F.max("observation_period_end_date").over(order.rowsBetween(Window.unboundedPreceding, -1))
    flagged = observation_period.select(
        "person_id", (F.col("observation_period_start_date") <= prev_end).alias("_overlap")
    ).fillna(False, subset=["_overlap"])
    per_person = flagged.groupBy("person_id").agg(
        F.count(F.lit(1)).alias("n"), F.sum(F.col("_overlap").cast("int")).alias("k")
    )
    return per_person.agg(
        F.coalesce(F.sum("n"), F.lit(0)).cast("long").alias("n_periods"),
        F.coalesce(F.sum("k"), F.lit(0)).cast("long").alias("n_overlapping_periods"),
        F.sum(F.when(F.col("k") > 0, 1).otherwise(0)).cast("long").alias("n_persons_with_overlap"),
    )
