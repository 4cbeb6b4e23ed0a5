"""TRD onset per definition, and the PHENOTYPES rows (status, follow-up, time to TRD).

Onset rules (``TrdDefinition.rule``):

- ``antidepressant_sequence``: each person's adequate trials, the first adequate trial of
  each ingredient, ordered by start; onset = start of the n-th distinct ingredient (a
  re-started ingredient does not count twice).
- ``augmentation``: onset = first exposure to an augmentation agent on/after the start of the
  n-th distinct adequate trial (n = ``n_trials``, 2 by convention).
- ``somatic``: onset = first somatic treatment event (ECT/TMS procedure, esketamine
  exposure) on/after the MDD index.

An onset counts only on/before ``followup_end_date``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from trd_spark.phenotypes.persons import age_years_expr
from trd_spark.vocabulary import ExclusionReason, Status

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def first_adequate_trial_starts(trials: DataFrame) -> DataFrame:
    """person_id, ingredient_concept_id, first_start (first adequate trial of each ingredient).

    Partitioned by person_id, so the per-person rank of ``sequence_onset`` needs no second
    shuffle (one exchange for the aggregate and the window).
    """
    return (
        trials.where(F.col("adequate"))
        .repartition("person_id")
        .groupBy("person_id", "ingredient_concept_id")
        .agg(F.min("trial_start_date").alias("first_start"))
    )


def sequence_onset(trials: DataFrame, n_trials: int) -> DataFrame:
    """person_id, trd_onset_date: start of the n-th distinct ingredient's first adequate trial.

    Ingredients starting on the same day are ordered by concept ID (both count; the date is
    the same either way).
    """
    firsts = first_adequate_trial_starts(trials)
    rank = F.row_number().over(Window.partitionBy("person_id").orderBy("first_start", "ingredient_concept_id"))
    return (
        firsts.withColumn("_rank", rank)
        .where(F.col("_rank") == n_trials)
        .select("person_id", F.col("first_start").alias("trd_onset_date"))
    )


def augmentation_onset(trials: DataFrame, augmentation_events: DataFrame, n_trials: int) -> DataFrame:
    """person_id, trd_onset_date: first augmentation event on/after the n-th distinct adequate trial.

    ``augmentation_events``: person_id, event_date (any exposure to an augmentation agent).
    """
    anchor = sequence_onset(trials, n_trials).withColumnRenamed("trd_onset_date", "_anchor")
    return (
        augmentation_events.join(anchor, "person_id")
        .where(F.col("event_date") >= F.col("_anchor"))
        .groupBy("person_id")
        .agg(F.min("event_date").alias("trd_onset_date"))
    )


def somatic_onset(mdd: DataFrame, somatic_events: DataFrame) -> DataFrame:
    """person_id, trd_onset_date: first somatic event (person_id, event_date) on/after the MDD index."""
    return (
        somatic_events.join(mdd.select("person_id", "mdd_index_date"), "person_id")
        .where(F.col("event_date") >= F.col("mdd_index_date"))
        .groupBy("person_id")
        .agg(F.min("event_date").alias("trd_onset_date"))
    )


def count_adequate_trials(trials: DataFrame) -> DataFrame:
    """person_id, n_adequate_trials (distinct ingredients with an adequate trial).

    Counted over ``first_adequate_trial_starts`` (one row per person and ingredient): the
    same number as a ``countDistinct`` of the ingredient, with ONE exchange (by person_id)
    where a ``countDistinct`` per person plans two (by person and ingredient, then by
    person). The onsets' exchange of the same frame is not reused for it: Spark prunes this
    one to the two columns counted, so the two exchanges differ (plans of the 300k run,
    benchmarks/RESULTS.md, session 11).
    """
    return (
        first_adequate_trial_starts(trials)
        .groupBy("person_id")
        .agg(F.count("ingredient_concept_id").cast("int").alias("n_adequate_trials"))
    )


def derive_phenotypes(
    mdd: DataFrame,
    n_adequate: DataFrame,
    onsets: dict[str, DataFrame],
    *,
    trmdd_min_followup_days: int,
) -> DataFrame:
    """PHENOTYPES rows: every person of ``mdd`` exactly once per definition of ``onsets``.

    ``mdd``: mdd.derive_mdd output (one row per person); ``onsets``: definition name ->
    (person_id, trd_onset_date). The definitions are joined side by side and exploded, so
    the person-level inputs appear once in the plan whatever the number of definitions.

    - non-MDD and excluded persons keep their MDD-stage status and reason; their index,
      onset, time, event and n_adequate_trials are null.
    - MDD persons: ``TRD`` when the onset is on/before followup_end_date; else ``trMDD``
      when they have >= 1 adequate trial and followup_end - index >= trmdd_min_followup_days;
      else ``MDD_other`` with reason ``no_adequate_trial`` or ``short_followup``.
    - time_to_trd_days = onset - index (TRD) or followup_end - index (censored).
      Prevalent-TRD rule: a time of 0 days (onset or censoring on the index date, or an
      onset before the index allowed by ``pre_index_window_days``) is set to 1 day, so every
      duration is positive for the Cox model and such persons count as events at day 1.
    - age_at_index / age_at_followup_end: exact age in years (``persons.age_years_expr``),
      sex_at_birth from PERSONS.
    """
    # The per-person sides are broadcast (hints): at most one row per MDD person each. Left to
    # the static size estimate, the onsets built from event joins look large, Spark plans
    # sort-merge joins and shuffles every ``mdd`` row before adaptive execution turns them
    # into broadcast joins anyway (benchmarks/RESULTS.md, session 11); hinted, ``mdd`` is
    # read straight into the joins, the explode and the write.
    df = mdd.select(
        "person_id", "mdd_status", "exclusion_reason", "mdd_index_date", "followup_end_date", "sex_at_birth", "birth_date"
    ).join(F.broadcast(n_adequate), "person_id", "left")
    names = list(onsets)
    for i, name in enumerate(names):
        onset = onsets[name].select("person_id", F.col("trd_onset_date").alias(f"_onset_{i}"))
        df = df.join(F.broadcast(onset), "person_id", "left")
    per_definition = F.explode(
        F.array(*[F.struct(F.lit(n).alias("definition"), F.col(f"_onset_{i}").alias("onset")) for i, n in enumerate(names)])
    )
    df = df.select("*", per_definition.alias("_d")).select(
        "*", F.col("_d.definition").alias("definition"), F.col("_d.onset").alias("trd_onset_date")
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
    end = F.coalesce(onset_date, F.col("followup_end_date"))
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
        time.cast("int").alias("time_to_trd_days"),
        F.when(is_mdd, is_trd.cast("int")).alias("trd_event"),
        F.when(is_mdd, n_trials).cast("int").alias("n_adequate_trials"),
        "sex_at_birth",
        F.when(is_mdd, years("mdd_index_date")).alias("age_at_index"),
        years("followup_end_date").alias("age_at_followup_end"),
    )
