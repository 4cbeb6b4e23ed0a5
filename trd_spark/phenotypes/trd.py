"""TRD onset per definition, and the PHENOTYPES rows (status, follow-up, time to TRD).

Onset rules (``TrdDefinition.rule``):

- ``antidepressant_sequence``: each person's adequate trials, the first adequate trial of
  each ingredient, ordered by start; onset = the start of the n-th distinct ingredient's first
  adequate trial (a re-started ingredient does not count twice). With ``last_trial_adequate:
  false``: the first start of a trial (adequate or not) of another ingredient on/after the start
  of the (n-1)-th distinct ingredient's first adequate trial.
- ``augmentation``: onset = first exposure to an augmentation agent on/after the start of the
  n-th distinct adequate trial (n = ``n_trials``, 2 by convention).
- ``somatic``: onset = first somatic treatment event (ECT/TMS procedure, esketamine
  exposure) on/after the MDD index.

An onset counts only on/before ``followup_end_date``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from trd_spark.phenotypes.persons import age_years_expr
from trd_spark.vocabulary import ExclusionReason, Status

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


# The one tag of the per-ingredient trial rows among the event rows of ``person_treatment`` (a
# definition name is a lower-case identifier: config.TrdDefinition).
_TRIAL = "_trial"
# ``person_treatment``'s column of each ingredient's trial starts, adequate or not: array of
# (ingredient, starts).
_ALL_TRIALS = "_all_trials"


def start_column(n_trials: int) -> str:
    """``person_treatment``'s column of the n-th distinct ingredient's first adequate start."""
    return f"_start_{n_trials}"


def prior_column(n_trials: int) -> str:
    """``person_treatment``'s column of the first n-1 distinct ingredients with an adequate trial
    (array of ingredient_concept_id, in no order)."""
    return f"_prior_{n_trials}"


def dates_column(definition: str) -> str:
    """``person_treatment``'s column of a definition's event dates (array)."""
    return f"_dates_{definition}"


def person_treatment(
    trials: DataFrame,
    ranks: Iterable[int],
    augmentation_events: dict[str, DataFrame],
    somatic_events: dict[str, DataFrame],
) -> DataFrame:
    """Per person, everything the TRD onsets read, from ONE aggregate (the onsets are then
    column expressions: ``*_onset_expr``).

    ``trials``: ANTIDEPRESSANT_TRIALS; ``ranks``: the n_trials of the rules that read an n-th
    trial; ``augmentation_events`` / ``somatic_events``: definition name -> (person_id,
    event_date), the events of that definition's augmentation agents / somatic treatments.
    Output, one row per person with an adequate trial or a somatic event (a person with
    augmentation events only has no onset: no n-th trial): person_id, n_adequate_trials (int:
    distinct ingredients with an adequate trial; 0 for a person with somatic events only),
    ``start_column(n)`` per rank and its predecessor (date: start of the n-th distinct
    ingredient's first adequate trial, ingredients ordered by that start, then by concept ID:
    same-day starts both count; null below n ingredients), ``prior_column(n)`` per rank (the
    first n-1 of those ingredients), each ingredient's trial starts, adequate or not (for
    ``sequence_onset_expr``), ``dates_column(name)`` per definition of the events (array of
    its distinct event dates; empty when none).

    Each ingredient's trials (first adequate start, every start) are one exchange by person
    (their aggregate and the rank share it); its rows and the events are tagged, unioned and
    aggregated per person.
    Before, each definition's onset was a frame of its own joined to the MDD groups, each
    rebuilding the trials' plan (benchmarks/RESULTS.md, session 26).
    """
    # Per person and ingredient: its first adequate trial's start (null: none adequate) and every
    # trial's start (a sequence's last trial need only start: sequence_onset_expr).
    firsts = (
        trials.repartition("person_id")
        .groupBy("person_id", "ingredient_concept_id")
        .agg(F.min(F.when(F.col("adequate"), F.col("trial_start_date"))).alias("event_date"),
             F.collect_list("trial_start_date").alias("_starts"))
    )
    adequate = F.col("event_date").isNotNull()
    order = Window.partitionBy("person_id").orderBy(F.col("event_date").asc_nulls_last(), "ingredient_concept_id")
    rank = F.when(adequate, F.row_number().over(order))
    firsts_rows = firsts.select("person_id", F.lit(_TRIAL).alias("_tag"), "event_date", rank.alias("_rank"),
                                "ingredient_concept_id", "_starts")
    events = {**augmentation_events, **somatic_events}
    tagged = [df.select("person_id", F.lit(name).alias("_tag"), "event_date", F.lit(None).cast("int").alias("_rank"),
                        F.lit(None).cast("long").alias("ingredient_concept_id"),
                        F.lit(None).cast("array<date>").alias("_starts"))
              for name, df in events.items()]
    # The events' (smaller) plans are unioned first: each union analyses the plan built so far.
    rows = firsts_rows.unionByName(reduce(lambda a, b: a.unionByName(b), tagged)) if tagged else firsts_rows
    is_trial = (F.col("_tag") == _TRIAL) & F.col("_rank").isNotNull()
    somatic = [F.size(dates_column(name)) > 0 for name in somatic_events]
    ranks = sorted(set(ranks))
    return rows.groupBy("person_id").agg(
        F.count(F.when(is_trial, 1)).cast("int").alias("n_adequate_trials"),
        *[F.min(F.when(is_trial & (F.col("_rank") == n), F.col("event_date"))).alias(start_column(n))
          for n in sorted({*ranks, *[r - 1 for r in ranks if r > 1]})],
        *[F.collect_list(F.when(is_trial & (F.col("_rank") < n), F.col("ingredient_concept_id"))).alias(prior_column(n))
          for n in ranks],
        F.collect_list(F.when(F.col("_tag") == _TRIAL, F.struct(
            F.col("ingredient_concept_id").alias("ingredient"), F.col("_starts").alias("starts")))).alias(_ALL_TRIALS),
        *[F.collect_set(F.when(F.col("_tag") == name, F.col("event_date"))).alias(dates_column(name)) for name in events],
    ).where(reduce(lambda a, b: a | b, somatic, F.col("n_adequate_trials") > 0))


def sequence_onset_expr(n_trials: int, *, last_trial_adequate: bool = True) -> Column:
    """Onset of ``antidepressant_sequence`` (over ``person_treatment``'s columns).

    ``last_trial_adequate`` (default, docs/phenotypes.md's documented rule, which the hand-worked field cases
    follow): the start of the n-th distinct ingredient's first adequate trial. False: the first
    start of a trial, adequate or not, of an ingredient other than the first n-1 distinct
    ingredients with an adequate trial, on/after the start of the (n-1)-th one's first adequate
    trial (same-day starts count, as for ``augmentation_onset_expr``). n = 1: the first adequate
    trial's start either way. A re-started ingredient does not count twice.

    Why the option exists: the study's TRD is "no response to >= 2 adequate antidepressant
    trials, i.e. a third distinct treatment started" (/work/shared/study.md), which read literally
    dates TRD at the third treatment's start whatever its length, as some EHR/claims TRD
    algorithms do (and as the augmentation rule reads any agent's exposure). The default asks the
    n-th trial to last ``min_trial_days`` too: the onset is its start, but a third treatment
    stopped within weeks, or started within ``min_trial_days`` of the end of follow-up, is no TRD
    (those persons stay trMDD). Sleep-dose or one-off orders are for
    ``trials.ingredient_min_daily_dose`` and ``trials.ignored_ingredient_ids`` under both rules."""
    if last_trial_adequate or n_trials == 1:
        return F.col(start_column(n_trials))
    anchor, prior = F.col(start_column(n_trials - 1)), F.col(prior_column(n_trials))
    others = F.filter(F.col(_ALL_TRIALS), lambda t: ~F.array_contains(prior, t["ingredient"]))
    # array_min skips nulls: an ingredient without a start on/after the anchor gives none
    return F.array_min(F.transform(others, lambda t: F.array_min(F.filter(t["starts"], lambda d: d >= anchor))))


def first_on_or_after_expr(dates: Column, anchor: Column) -> Column:
    """The first date of the array ``dates`` on/after ``anchor``; null when none is, or when
    ``anchor`` or ``dates`` is null."""
    return F.array_min(F.filter(dates, lambda d: d >= anchor))


def augmentation_onset_expr(definition: str, n_trials: int) -> Column:
    """Onset of ``augmentation``: the first event of ``definition`` (an augmentation agent) on/after
    the start of the n-th distinct adequate trial. Over ``person_treatment``'s columns."""
    return first_on_or_after_expr(F.col(dates_column(definition)), F.col(start_column(n_trials)))


def somatic_onset_expr(definition: str) -> Column:
    """Onset of ``somatic``: the first event of ``definition`` (ECT/TMS procedure or device,
    esketamine exposure) on/after the MDD index. Over ``person_treatment``'s columns joined to
    the MDD groups (``mdd_index_date``)."""
    return first_on_or_after_expr(F.col(dates_column(definition)), F.col("mdd_index_date"))


def derive_phenotypes(
    mdd: DataFrame,
    treatment: DataFrame,
    onsets: dict[str, Column],
    *,
    trmdd_min_followup_days: int,
    periods: DataFrame | None = None,
) -> DataFrame:
    """PHENOTYPES rows: every person of ``mdd`` exactly once per definition of ``onsets``.

    ``mdd``: mdd.derive_mdd output (one row per person); ``treatment``: ``person_treatment``
    output; ``onsets``: definition name -> its onset (``*_onset_expr``, a date column over
    ``mdd`` joined with ``treatment``). ``treatment`` is joined once and the definitions are
    exploded, so the person-level inputs appear once in the plan whatever the number of
    definitions.

    - non-MDD and excluded persons keep their MDD-stage status and reason; their index,
      onset, time, event and n_adequate_trials are null.
    - MDD persons: ``TRD`` when the onset is on/before followup_end_date; else ``trMDD``
      when they have >= 1 adequate trial and followup_end - index >= trmdd_min_followup_days;
      else ``MDD_other`` with reason ``no_adequate_trial`` or ``short_followup``.
    - at_risk_end_date (the Cox model's censoring date; config ``phenotypes.cox_time_at_risk``):
      ``periods`` (``persons.index_periods``: person_id, index_period_end_date) given
      (``index_period``): the end of the index's observation span, capped at followup_end_date
      (no span: followup_end_date); None (``followup``): followup_end_date.
    - time_to_trd_days = onset - index when the onset is on/before at_risk_end_date (trd_event 1),
      else at_risk_end - index (censored, trd_event 0: a TRD person whose onset falls after the
      index's observation span is censored at its end; the status stays TRD).
      Prevalent-TRD rule: a time of 0 days (onset or censoring on the index date, or an
      onset before the index allowed by ``pre_index_window_days``) is set to 1 day, so every
      duration is positive for the Cox model and such persons count as events at day 1.
    - age_at_index / age_at_followup_end: exact age in years (``persons.age_years_expr``),
      sex_at_birth from PERSONS.
    """
    # The per-person side is broadcast (hint): at most one row per person. Left to the static
    # size estimate, a frame built from event joins looks large, Spark plans a sort-merge join
    # and shuffles every ``mdd`` row before adaptive execution turns it into a broadcast join
    # anyway (benchmarks/RESULTS.md, session 11); hinted, ``mdd`` is read straight into the
    # join, the explode and the write.
    # One row per person and definition (inline: the struct's fields become the columns).
    per_definition = F.inline(F.array(*[
        F.struct(F.lit(name).alias("definition"), onset.alias("trd_onset_date")) for name, onset in onsets.items()]))
    if periods is not None:
        mdd = mdd.join(periods.select("person_id", "index_period_end_date"), "person_id", "left")
    else:
        mdd = mdd.withColumn("index_period_end_date", F.lit(None).cast("date"))
    df = mdd.join(F.broadcast(treatment), "person_id", "left").select(
        "person_id", "mdd_status", "exclusion_reason", "mdd_index_date", "followup_end_date", "sex_at_birth", "birth_date",
        "n_adequate_trials", "index_period_end_date", per_definition,
    )
    is_mdd = F.col("mdd_status") == Status.MDD
    n_trials = F.coalesce(F.col("n_adequate_trials"), F.lit(0))
    followup = F.datediff("followup_end_date", "mdd_index_date")
    is_trd = is_mdd & F.col("trd_onset_date").isNotNull() & (F.col("trd_onset_date") <= F.col("followup_end_date"))
    has_trial = n_trials >= 1
    long_enough = followup >= trmdd_min_followup_days
    status = (
        F.when(~is_mdd, F.col("mdd_status"))
        .when(is_trd, F.lit(Status.TRD))
        .when(has_trial & long_enough, F.lit(Status.TRMDD))
        .otherwise(F.lit(Status.MDD_OTHER))
    )
    reason = (
        F.when(~is_mdd, F.col("exclusion_reason"))
        .when(is_trd | (has_trial & long_enough), F.lit(None).cast("string"))
        .when(~has_trial, F.lit(ExclusionReason.NO_ADEQUATE_TRIAL))
        .otherwise(F.lit(ExclusionReason.SHORT_FOLLOWUP))
    )
    onset_date = F.when(is_trd, F.col("trd_onset_date"))
    # least() skips a null: no span of the index (or ``followup``) -> the end of follow-up
    at_risk_end = F.when(is_mdd, F.least(F.col("followup_end_date"), F.col("index_period_end_date")))
    is_event = is_trd & (F.col("trd_onset_date") <= at_risk_end)
    end = F.coalesce(F.when(is_event, F.col("trd_onset_date")), at_risk_end)
    time = F.when(is_mdd, F.greatest(F.datediff(end, F.col("mdd_index_date")), F.lit(1)))

    def years(date_col: str) -> Column:
        return age_years_expr(F.col("birth_date"), F.col(date_col))

    return df.select(
        "person_id",
        "definition",
        status.alias("status"),
        reason.alias("exclusion_reason"),
        F.when(is_mdd, F.col("mdd_index_date")).alias("mdd_index_date"),
        onset_date.alias("trd_onset_date"),
        "followup_end_date",
        at_risk_end.alias("at_risk_end_date"),
        time.cast("int").alias("time_to_trd_days"),
        F.when(is_mdd, is_event.cast("int")).alias("trd_event"),
        F.when(is_mdd, n_trials).cast("int").alias("n_adequate_trials"),
        "sex_at_birth",
        F.when(is_mdd, years("mdd_index_date")).alias("age_at_index"),
        years("followup_end_date").alias("age_at_followup_end"),
    )


def time_at_risk_columns(definitions: list[str]) -> list[Column]:
    """One-row aggregates over PHENOTYPES (observable while it is written, ``io.observed``), per
    definition ``<definition>:<count>``: n_at_risk_shortened (MDD persons whose at_risk_end_date
    is before their followup_end_date: observation gap after the index's span), n_events_censored
    (TRD persons whose onset falls after at_risk_end_date: censored in the Cox model, trd_event 0),
    days_not_at_risk (the days ``time_to_trd_days`` no longer counts: the time to the onset or to
    followup_end_date minus time_to_trd_days, summed over MDD persons). Long."""
    is_mdd = F.col("time_to_trd_days").isNotNull()
    to_followup_end = F.greatest(F.datediff(F.coalesce(F.col("trd_onset_date"), F.col("followup_end_date")),
                                            F.col("mdd_index_date")), F.lit(1))
    counts = {
        "n_at_risk_shortened": F.when(is_mdd & (F.col("at_risk_end_date") < F.col("followup_end_date")), 1),
        "n_events_censored": F.when((F.col("status") == Status.TRD) & (F.col("trd_event") == 0), 1),
        "days_not_at_risk": F.when(is_mdd, to_followup_end - F.col("time_to_trd_days")),
    }
    return [F.coalesce(F.sum(F.when(F.col("definition") == d, v)), F.lit(0)).cast("long").alias(f"{d}:{name}")
            for d in definitions for name, v in counts.items()]


TIME_AT_RISK_COUNTS = ("n_at_risk_shortened", "n_events_censored", "days_not_at_risk")


def gap_window_columns(definitions: list[str]) -> list[Column]:
    """One-row aggregates, per definition ``<definition>:<count>`` (long), of what the persistence window
    (``phenotypes.observation_period_gap_days``) changed in the Cox time at risk, over PHENOTYPES rows joined
    (left, on person_id) with ``persons.index_periods``' index_period_end_without_window:
    n_events_kept_by_gap_window (TRD onsets that are events, trd_event 1, but fall after the time at risk
    the index's span would give without the window: censored there before), n_at_risk_extended_by_gap_window
    (MDD persons whose at_risk_end_date is later than without it), days_added_by_gap_window (the days
    ``time_to_trd_days`` gained, summed over MDD persons). The time without the window is
    ``derive_phenotypes``' rule with that end (no span: the end of follow-up)."""
    is_mdd = F.col("time_to_trd_days").isNotNull()
    # least() skips a null: no span of the index -> the end of follow-up, as derive_phenotypes
    end_before = F.least(F.col("followup_end_date"), F.col("index_period_end_without_window"))
    event_before = (F.col("status") == Status.TRD) & (F.col("trd_onset_date") <= end_before)
    time_before = F.greatest(F.datediff(F.when(event_before, F.col("trd_onset_date")).otherwise(end_before),
                                        F.col("mdd_index_date")), F.lit(1))
    counts = {
        "n_events_kept_by_gap_window": F.when(is_mdd & (F.col("trd_event") == 1) & ~event_before, 1),
        "n_at_risk_extended_by_gap_window": F.when(is_mdd & (F.col("at_risk_end_date") > end_before), 1),
        "days_added_by_gap_window": F.when(is_mdd, F.col("time_to_trd_days") - time_before),
    }
    return [F.coalesce(F.sum(F.when(F.col("definition") == d, v)), F.lit(0)).cast("long").alias(f"{d}:{name}")
            for d in definitions for name, v in counts.items()]


GAP_WINDOW_COUNTS = ("n_events_kept_by_gap_window", "n_at_risk_extended_by_gap_window", "days_added_by_gap_window")
