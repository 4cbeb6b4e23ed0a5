"""Pure transforms that build the analysis frame (Spark DataFrames in, DataFrames out).

Keys: ``person_id`` (long) everywhere; genotype sample IDs and AoU ``research_id`` are the
person_id as text and are cast here. The frame is wide: one row per dataset x definition x
person, with ``pc1..pcK`` and one column per ``pgs_id`` holding the PGS per SD.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from trd_spark.vocabulary import ANALYSED_STATUSES


def parse_ancestry_expr(n_pcs: int) -> list:
    """Columns ``person_id, ancestry, pc1..pcK`` from AoU's ``ancestry_preds.tsv`` columns.

    ``pca_features`` is a string like ``"[0.1, -0.2, ...]"`` (16 PCs in AoU).
    """
    pcs = F.split(F.regexp_replace(F.col("pca_features"), r"[\[\]\s]", ""), ",")
    return [
        F.col("research_id").cast("long").alias("person_id"),
        F.col("ancestry_pred").alias("ancestry"),
        *[pcs.getItem(i).cast("double").alias(f"pc{i + 1}") for i in range(n_pcs)],
    ]


def derive_ancestry(ancestry_preds: DataFrame, n_pcs: int) -> DataFrame:
    """``person_id, ancestry, pc1..pcK`` (one row per genotyped person)."""
    return ancestry_preds.select(*parse_ancestry_expr(n_pcs))


def derive_unrelated(samples: DataFrame, flagged: DataFrame | None) -> DataFrame:
    """Drop persons flagged for removal (``sample_id``) to keep a maximal unrelated set."""
    if flagged is None:
        return samples
    drop = flagged.select(F.col("sample_id").cast("long").alias("person_id")).distinct()
    return samples.join(drop, "person_id", "left_anti")


def derive_pgs_wide(scores: DataFrame, dataset: str, pgs_ids: list[str]) -> DataFrame:
    """One row per person of ``dataset``: ``person_id`` + one raw ``score_sum`` column per pgs_id."""
    return (
        scores.where(F.col("dataset") == dataset)
        .groupBy("person_id")
        .pivot("pgs_id", [*pgs_ids])  # a new list: pyspark types values as a list of any literal
        .agg(F.first("score_sum"))
    )


def standardise_pgs(frame: DataFrame, pgs_ids: list[str], within: list[str] | None = None) -> DataFrame:
    """PGS per SD: subtract the mean and divide by the sample SD, within groups ``within``.

    A score with zero variance in a group becomes null (it cannot be modelled). A null in a
    ``within`` column is a group of its own (a null-safe join): an equi-join would match it to
    no group and drop the person from the frame without a count. ``standardise_datasets``
    leaves persons with a null ``ancestry`` out before (counted by the cohort stage).
    """
    within = within or []
    stats = frame.groupBy(*within).agg(
        *[F.mean(c).alias(f"__mean_{c}") for c in pgs_ids],
        *[F.stddev_samp(c).alias(f"__sd_{c}") for c in pgs_ids],
    )
    if within:
        stats = stats.select(*[F.col(c).alias(f"__by_{c}") for c in within],
                             *[c for c in stats.columns if c not in within])
        on = [frame[c].eqNullSafe(stats[f"__by_{c}"]) for c in within]
        joined = frame.join(F.broadcast(stats), on).drop(*[f"__by_{c}" for c in within])
    else:
        joined = frame.crossJoin(F.broadcast(stats))
    out = joined
    for c in pgs_ids:
        sd = F.col(f"__sd_{c}")
        out = out.withColumn(c, F.when(sd > 0, (F.col(c) - F.col(f"__mean_{c}")) / sd))
    return out.drop(*[f"__mean_{c}" for c in pgs_ids], *[f"__sd_{c}" for c in pgs_ids])


def derive_analysis_frame(
    pgs_per_sd: DataFrame,
    ancestry: DataFrame,
    persons: DataFrame,
    phenotypes: DataFrame,
    dataset: str,
    n_pcs: int,
    pgs_ids: list[str],
) -> DataFrame:
    """Join PGS per SD, ancestry/PCs, age/sex and outcomes per definition.

    Inputs: ``pgs_per_sd`` (person_id + pgs columns), ``ancestry`` (person_id, ancestry,
    pc1..), ``persons`` (PERSONS schema), ``phenotypes`` (PHENOTYPES schema). Persons whose
    status is ``excluded`` or whose sex is neither male nor female are left out (counted in the
    cohort counts by the caller).
    """
    covars = persons.where(F.col("sex_at_birth").isin("male", "female")).select(
        "person_id",
        F.col("age_at_observation_end").alias("age"),
        F.when(F.col("sex_at_birth") == "female", 1).otherwise(0).cast("int").alias("sex_female"),
    )
    outcomes = phenotypes.where(F.col("status").isin(*ANALYSED_STATUSES)).select(
        "person_id", "definition", "status", "age_at_index", "time_to_trd_days", "trd_event"
    )
    return (
        pgs_per_sd.join(ancestry, "person_id")
        .join(covars, "person_id")
        .join(outcomes, "person_id")
        .select(
            F.lit(dataset).alias("dataset"),
            "definition",
            "person_id",
            "status",
            "ancestry",
            "age",
            "age_at_index",
            "sex_female",
            "time_to_trd_days",
            "trd_event",
            *[f"pc{i + 1}" for i in range(n_pcs)],
            *pgs_ids,
        )
    )


def count_by_status(frame: DataFrame) -> DataFrame:
    """``dataset, definition, status, n``: the cohort sizes that go into the flow table."""
    return frame.groupBy("dataset", "definition", "status").agg(F.count("*").alias("n"))
