"""One scoring interface, two engines chosen by the genotype format.

    score(...) -> the long score table of ``scoring.compute_scores`` (s, pgs_id, score_sum,
                  allele_count, score_avg, n_missing, n_matched; unkeyed Hail Table)

- PLINK 1 bed (``plink``) and PLINK 2 ``pgen`` on a local (or mounted) path: the native engine
  (``pgen_engine``: pgenlib + numpy in Spark tasks), unless ``pgs.native.engine: hail``.
- Everything else (VCF, MatrixTable, VDS, BGEN), and a bed on a gs:// / hdfs:// URI (pgenlib
  reads local files only): Hail's one-pass ``compute_scores``. The pgs stage sends the hard
  calls among these (``genotypes.hard_calls``) to the native engine instead when it has a
  scratch directory every task can read (``stage.scoring_scratch``): Hail exports the matched
  rows as a PLINK 1 fileset (``scoring.export_hard_calls``) and this module scores that bed.

Both take the same matched weights (``matching.weight_matrices``; as a Hail Table for
Hail's pass) and give the same numbers (tests/test_pgs_native_engine.py checks them against
each other and plink2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import pandas as pd

from trd_spark.config import GenotypeSource, NativeEngineSettings, is_uri
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.matching import WeightMatrices
from trd_spark.pgs.scoring import compute_scores, weights_table

if TYPE_CHECKING:
    import hail as hl_types

log = logging.getLogger(__name__)

NATIVE_FORMATS = ("plink", "pgen")


def engine_for(source: GenotypeSource, settings: NativeEngineSettings) -> Literal["native", "hail"]:
    """``native`` for bed/pgen on a local path (unless forced to Hail), else ``hail``.

    Raises ConfigError for ``pgen`` with ``pgs.native.engine: hail`` (Hail has no pgen reader)
    and InputDataError for a pgen on a URI (pgenlib reads local or mounted paths only)."""
    if source.format not in NATIVE_FORMATS:
        return "hail"
    if source.format == "pgen":
        if settings.engine == "hail":
            raise ConfigError("pgen genotypes are scored by the native engine only (Hail has no pgen reader)",
                              where="pgs.native.engine")
        if is_uri(source.path):
            raise InputDataError("pgen genotypes must be a local or mounted path (e.g. gcsfuse): pgenlib "
                                 "reads no URIs", where=source.path)
        return "native"
    if settings.engine == "hail" or is_uri(source.path):
        return "hail"
    return "native"


def score(
    hl: hl_types,
    source: GenotypeSource,
    weights: WeightMatrices,
    pgs_ids: Sequence[str],
    n_matched: Sequence[int],
    *,
    missing_genotypes: Literal["mean_impute", "zero"],
    settings: NativeEngineSettings,
    mt: hl_types.MatrixTable | None = None,
    samples: Sequence[str] | None = None,
    index: pd.DataFrame | None = None,
) -> hl_types.Table:
    """Score every score on one dataset with the engine ``engine_for`` picks.

    Hail: ``mt`` the genotypes as matched (``genotypes.read_genotypes`` then
    ``samples_to_persons``), ``weights`` (``matching.weight_matrices``) made
    ``scoring.weights_table``'s Hail Table here. Native: ``weights`` matched on ``index`` (the
    fileset's ``pgen_engine.variant_index``) and ``samples`` the person IDs in file order;
    nothing is read through Hail. ``pgs_ids``/``n_matched`` in score_index order.
    Returns ``compute_scores``' table; errors as ``compute_scores`` / ``pgen_engine.score``.
    """
    engine = engine_for(source, settings)
    log.info("pgs: %s engine for %s genotypes", engine, source.format)
    if engine == "hail":
        assert mt is not None  # the Hail path's input
        table = weights_table(hl, weights.frame(), source.reference_genome)
        return compute_scores(hl, mt, table, pgs_ids, n_matched, missing_genotypes=missing_genotypes)
    from pyspark.sql import SparkSession

    assert samples is not None  # the native path's input
    # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
    spark = SparkSession.builder.getOrCreate()
    return pgen_engine.score(
        spark, hl, pgen_engine.PlinkFiles.of(source), source.reference_genome, weights, samples,
        pgs_ids, n_matched, missing_genotypes=missing_genotypes, settings=settings, index=index)
