"""Sample QC before standardisation: drop flagged samples, then one of each related pair.

AoU ships both a list of samples flagged for removal (a maximal unrelated set already chosen)
and the related pairs themselves. The flagged list is applied first; any pair whose two
members are both still present is then resolved with Hail's ``maximal_independent_set``
(greedy; removes the fewest samples it can find), computed per dataset so that only that
dataset's samples count.
"""

from __future__ import annotations

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


def parse_related_pairs(raw: DataFrame) -> DataFrame:
    """AoU ``relatedness.tsv`` (``i.s``, ``j.s`` as text) -> ``person_id_1, person_id_2``."""
    return raw.select(
        F.col("`i.s`").cast("long").alias("person_id_1"),
        F.col("`j.s`").cast("long").alias("person_id_2"),
    )
