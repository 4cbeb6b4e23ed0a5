"""MDD cases, exclusions and non-MDD controls from condition_occurrence and drug_exposure.

One row per person with the person's MDD group before any TRD definition is applied:

- ``MDD``: >= ``min_diagnoses`` records of the MDD concept set on DISTINCT dates (two codes
  on one visit are one diagnosis); ``mdd_index_date`` = the first such date.
- ``excluded`` (flagged, never dropped), reasons in this precedence:
  1. MDD persons with any diagnosis (ever) in an ``exclude_concept_sets`` set -> the set's
     name (``bipolar``, ``schizophrenia_spectrum``; the first in config order wins);
  2. MDD persons younger than ``min_age_at_index`` at index -> ``under_18_at_index`` (named
     for the default of 18);
  3. not MDD but any depression-spectrum or MDD-set diagnosis -> ``depression_not_mdd``;
  4. not MDD, no depression code, but an exclusion diagnosis -> that set's name (controls
     are kept free of bipolar/psychotic disorders, like cases);
  5. not MDD, no diagnosis above, but any antidepressant exposure -> ``antidepressant_no_mdd``.
- ``non_MDD``: none of the above (no depression code ever, no antidepressant ever, no
  exclusion diagnosis).

Events are expected already restricted to each person's follow-up (``restrict_to_followup``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from trd_spark.config import MddSettings
from trd_spark.phenotypes.persons import DAYS_PER_YEAR

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MDD = "MDD"
NON_MDD = "non_MDD"
EXCLUDED = "excluded"
UNDER_AGE = "under_18_at_index"
DEPRESSION_NOT_MDD = "depression_not_mdd"
ANTIDEPRESSANT_NO_MDD = "antidepressant_no_mdd"

_MDD_TAG = "mdd"
_DEPRESSION_TAG = "depression"


def _excl_col(name: str) -> str:
    return f"has_{name}"


def _tagged_concepts(
    mdd_concepts: "DataFrame", depression_concepts: "DataFrame", exclusion_concepts: dict[str, "DataFrame"]
) -> "DataFrame":
    """(condition_concept_id, tag): one small table so condition_occurrence is scanned once."""
    parts = [mdd_concepts.select("concept_id", F.lit(_MDD_TAG).alias("tag"))]
    # The MDD set counts as depression too, even if a vocabulary puts it outside the spectrum set.
    parts.append(mdd_concepts.select("concept_id", F.lit(_DEPRESSION_TAG).alias("tag")))
    parts.append(depression_concepts.select("concept_id", F.lit(_DEPRESSION_TAG).alias("tag")))
    for name, df in exclusion_concepts.items():
        parts.append(df.select("concept_id", F.lit(f"excl:{name}").alias("tag")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.distinct().withColumnRenamed("concept_id", "condition_concept_id")


def derive_mdd(
    persons: "DataFrame",
    condition_occurrence: "DataFrame",
    drug_exposure: "DataFrame",
    *,
    mdd_concepts: "DataFrame",
    depression_concepts: "DataFrame",
    exclusion_concepts: dict[str, "DataFrame"],
    antidepressant_concepts: "DataFrame",
    settings: MddSettings,
) -> "DataFrame":
    """Per person (every row of ``persons``): MDD group, reason and index date.

    Inputs: ``persons`` (PERSONS), conditions (person_id, condition_concept_id,
    condition_start_date), drug exposures (person_id, drug_concept_id), concept frames with
    one ``concept_id`` column; ``exclusion_concepts`` ordered by precedence.
    Output columns: person_id, mdd_status (MDD | non_MDD | excluded), exclusion_reason,
    mdd_index_date (first MDD-set date, set for every person meeting the diagnosis-count
    rule even if later excluded), n_mdd_dates (distinct MDD-set dates), has_mdd_diagnosis,
    has_<exclusion set> flags.
    """
    tags = _tagged_concepts(mdd_concepts, depression_concepts, exclusion_concepts)
    tagged = condition_occurrence.join(F.broadcast(tags), "condition_concept_id")
    is_mdd = F.col("tag") == _MDD_TAG
    aggs = [
        F.countDistinct(F.when(is_mdd, F.col("condition_start_date"))).alias("n_mdd_dates"),
        F.min(F.when(is_mdd, F.col("condition_start_date"))).alias("first_mdd_date"),
        F.max((F.col("tag") == _DEPRESSION_TAG).cast("int")).alias("_dep"),
    ] + [F.max((F.col("tag") == f"excl:{n}").cast("int")).alias(_excl_col(n)) for n in exclusion_concepts]
    per_person_dx = tagged.groupBy("person_id").agg(*aggs)

    ad_ids = antidepressant_concepts.select(F.col("concept_id").alias("drug_concept_id")).distinct()
    antidepressant_users = (
        drug_exposure.join(F.broadcast(ad_ids), "drug_concept_id")
        .select("person_id")
        .distinct()
        .withColumn("_ad", F.lit(1))
    )

    df = (
        persons.select("person_id", "birth_date")
        .join(per_person_dx, "person_id", "left")
        .join(antidepressant_users, "person_id", "left")
        .fillna(0, subset=["n_mdd_dates", "_dep", "_ad", *[_excl_col(n) for n in exclusion_concepts]])
    )
    meets_count = F.col("n_mdd_dates") >= settings.min_diagnoses
    index_date = F.when(meets_count, F.col("first_mdd_date"))
    under_age = (F.datediff(index_date, F.col("birth_date")) / F.lit(DAYS_PER_YEAR)) < settings.min_age_at_index

    # Reasons in precedence order (see module docstring); the first matching case wins.
    has = {n: F.col(_excl_col(n)) == 1 for n in exclusion_concepts}
    no_reason = F.lit(None).cast("string")
    cases = [(meets_count & has[n], F.lit(n)) for n in exclusion_concepts]
    cases += [(meets_count & under_age, F.lit(UNDER_AGE)), (meets_count, no_reason)]
    cases += [((F.col("_dep") == 1) | (F.col("n_mdd_dates") > 0), F.lit(DEPRESSION_NOT_MDD))]
    cases += [(has[n], F.lit(n)) for n in exclusion_concepts]
    cases += [(F.col("_ad") == 1, F.lit(ANTIDEPRESSANT_NO_MDD))]
    reason = F.when(*cases[0])
    for cond, value in cases[1:]:
        reason = reason.when(cond, value)

    status = (
        F.when(F.col("exclusion_reason").isNotNull(), F.lit(EXCLUDED))
        .when(meets_count, F.lit(MDD))
        .otherwise(F.lit(NON_MDD))
    )
    return (
        df.withColumn("exclusion_reason", reason)
        .withColumn("mdd_status", status)
        .select(
            "person_id",
            "mdd_status",
            "exclusion_reason",
            index_date.alias("mdd_index_date"),
            F.col("n_mdd_dates").cast("int").alias("n_mdd_dates"),
            (F.col("n_mdd_dates") > 0).alias("has_mdd_diagnosis"),
            *[(F.col(_excl_col(n)) == 1).alias(_excl_col(n)) for n in exclusion_concepts],
        )
    )
