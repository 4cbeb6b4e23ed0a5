"""Sample QC before standardisation: drop flagged samples, then one of each related pair.

AoU ships both a list of samples flagged for removal (a maximal unrelated set already chosen)
and the related pairs themselves. The flagged list is applied first; any pair whose two
members are both still present is then resolved with Hail's ``maximal_independent_set``
(greedy; removes the fewest samples it can find), computed over all datasets' samples at once
(``ancestry.related_pairs_across_datasets``, default: a pair across two datasets loses a member,
as the datasets are meta-analysed as independent samples) or per dataset, so that only that
dataset's samples count (before session 50 the only way: a discovery person's relative in a
replication set was kept in both).
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

if TYPE_CHECKING:
    import hail as hl_types


def related_pairs_to_remove(hl: hl_types, pairs: DataFrame, samples: DataFrame) -> DataFrame:
    """``person_id`` (long) of samples to drop so that no related pair remains among ``samples``.

    ``pairs``: ``person_id_1, person_id_2`` (long); ``samples``: ``person_id`` of the dataset's
    samples left after the flagged list. Pairs with a member outside ``samples`` are ignored.
    Deterministic: of members with equal degree the higher person_id is dropped, whatever the
    order or orientation of the pairs.
    """
    ids = samples.select("person_id").distinct()
    inside = (
        pairs.join(ids.withColumnRenamed("person_id", "person_id_1"), "person_id_1", "left_semi")
        .join(ids.withColumnRenamed("person_id", "person_id_2"), "person_id_2", "left_semi")
        .where(F.col("person_id_1") != F.col("person_id_2"))
        .select("person_id_1", "person_id_2")
    )
    ht = hl.Table.from_spark(inside)
    # Hail's greedy removes a node of highest degree; among equal degrees it removes the largest
    # by ``tie_breaker``, else whichever the edges' order (Spark's partitioning) puts first: the
    # same pairs then lost another member per run (checked: 1, 3 and 7 partitions of 40 pairs
    # dropped three different sets). Ordered by person_id, the higher ID of a tie is dropped.
    drop = hl.maximal_independent_set(ht.person_id_1, ht.person_id_2, keep=False,
                                      tie_breaker=lambda a, b: hl.if_else(a < b, -1, hl.if_else(a > b, 1, 0)))
    drop = drop.key_by()
    out = drop.select(person_id=drop.node).to_spark()
    return out.select(F.col("person_id").cast("long"))


def prune_related_pairs(hl: hl_types, pairs: DataFrame, samples_by_dataset: dict[str, DataFrame],
                        across_datasets: bool) -> dict[str, DataFrame]:
    """Each dataset's samples less the members ``related_pairs_to_remove`` drops.

    ``samples_by_dataset``: dataset -> its samples left after the flagged list (``person_id`` and
    any other columns, kept); ``pairs``: ``parse_related_pairs``' rows. ``across_datasets``: one
    maximal independent set over the union of every dataset's samples (one Hail job), so that no
    related pair remains within or across datasets; else one per dataset, a pair with a member in
    each of two datasets ignored. The datasets are disjoint (the cohort stage checks it after).
    Returns the same keys, in order."""
    if not across_datasets:
        return {name: s.join(related_pairs_to_remove(hl, pairs, s), "person_id", "left_anti")
                for name, s in samples_by_dataset.items()}
    union = reduce(DataFrame.unionByName, [s.select("person_id") for s in samples_by_dataset.values()])
    drop = related_pairs_to_remove(hl, pairs, union)
    return {name: s.join(drop, "person_id", "left_anti") for name, s in samples_by_dataset.items()}


def parse_related_pairs(raw: DataFrame) -> DataFrame:
    """AoU ``relatedness.tsv`` (``i.s``, ``j.s`` as text) -> ``person_id_1, person_id_2``."""
    return raw.select(
        F.col("`i.s`").cast("long").alias("person_id_1"),
        F.col("`j.s`").cast("long").alias("person_id_2"),
    )
