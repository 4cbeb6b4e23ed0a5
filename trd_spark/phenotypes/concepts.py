"""Concept sets -> concept IDs, expanded through the data's own vocabulary tables.

A ``ConceptSet`` (trd_spark.config) lists ancestors by ``concept_id`` or by
``vocabulary_id`` + ``concept_code`` (resolved in ``concept``). With ``descendants: true``
each is expanded through ``concept_ancestor``; the concept itself is always kept even when
the (possibly trimmed) ancestor table lacks its level-0 self row. Excludes are expanded the
same way and removed.

``load_vocabulary`` runs (at most) three small Spark queries for ALL study concept sets and
collects only the vocabulary rows they reach: its size is that of the concept sets (thousands
of IDs on RxNorm/SNOMED), never of the person-level data. Downstream the IDs become ``isin``
filters, which Spark pushes into the Parquet scan of the event tables instead of joining
them with vocabulary tables again and again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from trd_spark.config import ConceptRef, ConceptSet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Vocabulary:
    """The slice of ``concept``/``concept_ancestor`` the study's concept sets reach.

    ``codes``: (vocabulary_id, concept_code) -> concept_id of the sets' code references;
    ``descendants``: root concept_id -> its descendants (self row not required);
    ``names``: concept_id -> concept_name for every root;
    ``found``: the roots present in ``concept`` (None: not looked up).
    """

    codes: dict[tuple[str, str], int]
    descendants: dict[int, frozenset[int]]
    names: dict[int, str]
    found: frozenset[int] | None = None


def load_vocabulary(
    concept_sets: Iterable[ConceptSet], concept: DataFrame, concept_ancestor: DataFrame
) -> Vocabulary:
    """Collect the vocabulary rows reached by ``concept_sets`` (includes and excludes)."""
    refs = [r for cs in concept_sets for r in (*cs.include, *cs.exclude)]
    code_refs = sorted({(r.vocabulary_id, r.concept_code) for r in refs if r.concept_id is None})
    codes: dict[tuple[str, str], int] = {}
    if code_refs:
        wanted = F.lit(False)
        for vocab, code in code_refs:
            wanted = wanted | ((F.col("vocabulary_id") == vocab) & (F.col("concept_code") == code))
        # A code absent from this data's vocabulary simply resolves to nothing (e.g. no CPT4 licence).
        for row in concept.where(wanted).select("vocabulary_id", "concept_code", "concept_id").collect():
            codes[(row.vocabulary_id, row.concept_code)] = int(row.concept_id)
    roots = sorted({i for r in refs if (i := _root(r, codes)) is not None})
    descendants: dict[int, set[int]] = {}
    expand = sorted({i for r in refs if r.descendants and (i := _root(r, codes)) is not None})
    if expand:
        rows = (
            concept_ancestor.where(F.col("ancestor_concept_id").isin(expand))
            .select("ancestor_concept_id", "descendant_concept_id")
            .distinct()
            .collect()
        )
        for row in rows:
            descendants.setdefault(int(row.ancestor_concept_id), set()).add(int(row.descendant_concept_id))
    names = {}
    found: set[int] = set()
    if roots:
        rows = concept.where(F.col("concept_id").isin(roots)).select("concept_id", "concept_name").collect()
        names = {int(r.concept_id): r.concept_name for r in rows if r.concept_name is not None}
        found = {int(r.concept_id) for r in rows}
    return Vocabulary(codes, {k: frozenset(v) for k, v in descendants.items()}, names, frozenset(found))


def absent_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's references (includes and excludes) absent from this release's ``concept``
    table, as ``concept_id N`` or ``VOCAB code``: they match nothing (a typo, or a vocabulary
    the release lacks). Empty when ``vocab.found`` was not looked up."""
    if vocab.found is None:
        return []
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        root = _root(ref, vocab.codes)
        if root is None:
            out.append(f"{ref.vocabulary_id} {ref.concept_code} ({ref.name})")
        elif root not in vocab.found:
            out.append(f"concept_id {root} ({ref.name})")
    return out


def _root(ref: ConceptRef, codes: dict[tuple[str, str], int]) -> int | None:
    if ref.concept_id is not None:
        return ref.concept_id
    assert ref.vocabulary_id is not None and ref.concept_code is not None  # ConceptRef._one_way
    return codes.get((ref.vocabulary_id, ref.concept_code))


def _expand_ref(ref: ConceptRef, vocab: Vocabulary) -> frozenset[int]:
    root = _root(ref, vocab.codes)
    if root is None:
        return frozenset()
    below = vocab.descendants.get(root, frozenset()) if ref.descendants else frozenset()
    return frozenset({root}) | below


def _expand_refs(refs: list[ConceptRef], vocab: Vocabulary) -> frozenset[int]:
    out: frozenset[int] = frozenset()
    for r in refs:
        out |= _expand_ref(r, vocab)
    return out


def expand_concept_set(concept_set: ConceptSet, vocab: Vocabulary) -> frozenset[int]:
    """Concept IDs in the set: includes (with descendants) minus excludes (with descendants)."""
    return _expand_refs(concept_set.include, vocab) - _expand_refs(concept_set.exclude, vocab)


def ingredient_map(concept_set: ConceptSet, vocab: Vocabulary) -> list[tuple[int, int, str]]:
    """Drug concept -> ingredient of the set: ``(drug_concept_id, ingredient_concept_id, ingredient_name)``.

    The set's includes are the ingredients (RxNorm Ingredient concepts); every descendant
    product (clinical/branded drug, pack ...) maps to each included ingredient it descends
    from, so a combination product maps to several rows. The ingredient maps to itself.
    ``ingredient_name`` is the ``concept`` name, else the name written in the concept set.
    Drug concepts in the set's excludes are removed. Sorted, distinct.
    """
    excluded = _expand_refs(concept_set.exclude, vocab)
    rows: dict[tuple[int, int], str] = {}
    for ref in concept_set.include:
        root = _root(ref, vocab.codes)
        if root is None:
            continue
        name = vocab.names.get(root, ref.name)
        for drug in _expand_ref(ref, vocab) - excluded:
            rows.setdefault((drug, root), name)
    return sorted((d, i, n) for (d, i), n in rows.items())


def ingredient_frame(
    spark: SparkSession,
    rows: list[tuple[int, int, str]],
    *,
    amounts: dict[tuple[int, int], float] | None = None,
    min_daily_dose: dict[int, float] | None = None,
) -> DataFrame:
    """``ingredient_map`` rows as a small DataFrame built from array literals.

    Built inside the JVM (no Python worker, no RDD) so a plan that scans it many times stays
    cheap; columns drug_concept_id (long), ingredient_concept_id (long), ingredient_name,
    amount_value (double: ingredient amount per unit of the product, ``amounts`` keyed by
    (drug, ingredient), from drug_strength) and min_daily_dose (double, per ingredient);
    both null where not given.
    """
    amounts, min_daily_dose = amounts or {}, min_daily_dose or {}
    if not rows:
        return spark.range(0).select(
            F.lit(None).cast("long").alias("drug_concept_id"),
            F.lit(None).cast("long").alias("ingredient_concept_id"),
            F.lit(None).cast("string").alias("ingredient_name"),
            F.lit(None).cast("double").alias("amount_value"),
            F.lit(None).cast("double").alias("min_daily_dose"),
        )
    drugs = F.lit([r[0] for r in rows]).cast("array<long>")
    ingredients = F.lit([r[1] for r in rows]).cast("array<long>")
    names = F.lit([r[2] for r in rows]).cast("array<string>")
    cols = [drugs.alias("d"), ingredients.alias("i"), names.alias("n")]
    # Dose columns as arrays only when given (a null column otherwise keeps the literal small).
    if amounts:
        cols.append(F.lit([amounts.get((r[0], r[1])) for r in rows]).cast("array<double>").alias("a"))
    if min_daily_dose:
        cols.append(F.lit([min_daily_dose.get(r[1]) for r in rows]).cast("array<double>").alias("m"))
    out = spark.range(1).select(F.inline(F.arrays_zip(*cols)))
    return out.select(
        F.col("d").alias("drug_concept_id"),
        F.col("i").alias("ingredient_concept_id"),
        F.col("n").alias("ingredient_name"),
        (F.col("a") if amounts else F.lit(None).cast("double")).alias("amount_value"),
        (F.col("m") if min_daily_dose else F.lit(None).cast("double")).alias("min_daily_dose"),
    )
