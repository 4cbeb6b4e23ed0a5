"""Concept sets -> concept IDs, expanded through the data's own vocabulary tables.

A ``ConceptSet`` (trd_spark.config) lists ancestors by ``concept_id`` or by
``vocabulary_id`` + ``concept_code`` (resolved in ``concept``). With ``descendants: true``
each is expanded through ``concept_ancestor``; the concept itself is always kept even when
the (possibly trimmed) ancestor table lacks its level-0 self row. Excludes are expanded the
same way and removed. Nothing here collects data: results are small lazy DataFrames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.config import ConceptRef, ConceptSet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_REF_SCHEMA = T.StructType(
    [
        T.StructField("ref_concept_id", T.LongType(), True),
        T.StructField("vocabulary_id", T.StringType(), True),
        T.StructField("concept_code", T.StringType(), True),
        T.StructField("ref_name", T.StringType(), True),
        T.StructField("descendants", T.BooleanType(), False),
    ]
)


def _refs_df(refs: list[ConceptRef], concept: "DataFrame") -> "DataFrame":
    """Resolve refs to (root_concept_id, ref_name, descendants); codes are looked up in ``concept``."""
    spark = concept.sparkSession
    rows = [(r.concept_id, r.vocabulary_id, r.concept_code, r.name, r.descendants) for r in refs]
    refs_df = spark.createDataFrame(rows, _REF_SCHEMA)
    by_id = refs_df.where(F.col("ref_concept_id").isNotNull()).select(
        F.col("ref_concept_id").alias("root_concept_id"), "ref_name", "descendants"
    )
    # A code absent from this data's vocabulary simply resolves to nothing (e.g. no CPT4 licence).
    by_code = (
        refs_df.where(F.col("ref_concept_id").isNull())
        .join(concept.select("concept_id", "vocabulary_id", "concept_code"), ["vocabulary_id", "concept_code"])
        .select(F.col("concept_id").alias("root_concept_id"), "ref_name", "descendants")
    )
    return by_id.unionByName(by_code)


def _expand_refs(refs: list[ConceptRef], concept: "DataFrame", concept_ancestor: "DataFrame") -> "DataFrame":
    """(root_concept_id, ref_name, concept_id): every root with itself and, if asked, its descendants."""
    roots = _refs_df(refs, concept)
    itself = roots.select("root_concept_id", "ref_name", F.col("root_concept_id").alias("concept_id"))
    below = roots.where("descendants").join(
        concept_ancestor.select(
            F.col("ancestor_concept_id").alias("root_concept_id"),
            F.col("descendant_concept_id").alias("concept_id"),
        ),
        "root_concept_id",
    ).select("root_concept_id", "ref_name", "concept_id")
    return itself.unionByName(below).distinct()


def expand_concept_set(
    concept_set: ConceptSet, concept: "DataFrame", concept_ancestor: "DataFrame"
) -> "DataFrame":
    """Concept IDs (one column ``concept_id``, distinct) in the set: includes minus excludes."""
    included = _expand_refs(concept_set.include, concept, concept_ancestor).select("concept_id").distinct()
    if not concept_set.exclude:
        return included
    excluded = _expand_refs(concept_set.exclude, concept, concept_ancestor).select("concept_id")
    return included.join(excluded, "concept_id", "left_anti")


def ingredient_map(
    concept_set: ConceptSet, concept: "DataFrame", concept_ancestor: "DataFrame"
) -> "DataFrame":
    """Drug concept -> ingredient of the set: ``drug_concept_id, ingredient_concept_id, ingredient_name``.

    The set's includes are the ingredients (RxNorm Ingredient concepts); every descendant
    product (clinical/branded drug, pack ...) maps to each included ingredient it descends
    from, so a combination product maps to several rows. The ingredient maps to itself.
    ``ingredient_name`` is the ``concept`` name, else the name written in the concept set.
    Drug concepts in the set's excludes are removed.
    """
    expanded = _expand_refs(concept_set.include, concept, concept_ancestor)
    names = concept.select(F.col("concept_id").alias("root_concept_id"), F.col("concept_name"))
    mapping = (
        expanded.join(names, "root_concept_id", "left")
        .groupBy(F.col("concept_id").alias("drug_concept_id"), F.col("root_concept_id").alias("ingredient_concept_id"))
        .agg(F.first(F.coalesce("concept_name", "ref_name"), ignorenulls=True).alias("ingredient_name"))
    )
    if concept_set.exclude:
        excluded = _expand_refs(concept_set.exclude, concept, concept_ancestor).select(
            F.col("concept_id").alias("drug_concept_id")
        )
        mapping = mapping.join(excluded, "drug_concept_id", "left_anti")
    return mapping
