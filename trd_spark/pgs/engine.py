"""One scoring interface; the route (which engine, and whether Hail first exports) is chosen here.

    score(...) -> a native pass's sums added on the driver as numpy
                  (``pgen_engine.SummedScores``: the stage's Parquet rows without Hail), or
                  the long score table of ``scoring.compute_scores`` (s, pgs_id, score_sum,
                  allele_count, score_avg, n_missing, n_matched; unkeyed Hail Table): Hail's
                  pass, or a native pass whose partials are added in Spark

The rule (``route_for``: genotype source x ``pgs.native`` settings x scratch directory x
matched rows), decided once, here:

- ``native``: PLINK 1 bed (``plink``), PLINK 2 ``pgen`` and ``bgen`` on a local (or mounted)
  path are read by the native engine (``pgen_engine``: pgenlib, or ``bgen_reader`` for BGEN,
  + numpy in Spark tasks), unless ``pgs.native.engine: hail`` (bed and BGEN; pgen has no Hail
  reader).
- ``export``: hard calls Hail reads (``genotypes.hard_calls``: VCF, MatrixTable, VDS without
  ``dosage_field``, a bed on a gs:// / hdfs:// URI) when the stage has a scratch directory
  every task can read (``stage.scoring_scratch``) and some row is matched: Hail writes the
  matched rows once as a PLINK 1 fileset there (``scoring.export_hard_calls``) and the native
  engine scores that bed.
- ``hail``: everything else (dosages: ``dosage_field``, a BGEN on a URI; no scratch directory, e.g. a
  cluster without ``pgs.native.export_dir``; ``pgs.native.engine: hail``; nothing matched):
  Hail's one-pass ``compute_scores``.

Which reader the matcher uses (the .bim/.pvar/BGEN index, or the rows Hail collects) is ``engine_for``:
``native`` for the first route, ``hail`` for the other two.

All routes take the same matched weights (``matching.weight_matrices``; as a Hail Table for
Hail's pass) and give the same numbers (tests/test_pgs_native_engine.py and
tests/test_pgs_genotypes.py check them against each other and plink2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from trd_spark.config import GenotypeSource, NativeEngineSettings, is_uri
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.bgen_reader import BgenFiles
from trd_spark.pgs.genotypes import hard_calls
from trd_spark.pgs.matching import WeightMatrices
from trd_spark.pgs.scoring import compute_scores, export_hard_calls, weights_table
from trd_spark.pgs.variant_list import VariantIndex

if TYPE_CHECKING:
    import hail as hl_types

log = logging.getLogger(__name__)

NATIVE_FORMATS = ("plink", "pgen", "bgen")

Route = Literal["native", "export", "hail"]

# The fileset ``score`` exports into the scratch directory (``{scratch}/{EXPORT_NAME}.bed``...).
EXPORT_NAME = "hard_calls"


def engine_for(source: GenotypeSource, settings: NativeEngineSettings) -> Literal["native", "hail"]:
    """Who reads the genotype files: ``native`` for bed/pgen/BGEN on a local path (unless forced
    to Hail), else ``hail``. The stage matches on the .bim/.pvar/BGEN variant index for
    ``native`` and on the rows Hail collects for ``hail``.

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


def route_for(source: GenotypeSource, settings: NativeEngineSettings, scratch: str | None,
              n_rows: int) -> Route:
    """The scoring route of the module doc for genotypes ``source`` with ``n_rows`` matched
    genotype rows and the stage's ``scratch`` directory (None: none every task can read).
    Errors as ``engine_for``."""
    if engine_for(source, settings) == "native":
        return "native"
    if settings.engine == "native" and scratch is not None and hard_calls(source) and n_rows > 0:
        return "export"
    return "hail"


def score(
    hl: hl_types,
    source: GenotypeSource,
    weights: WeightMatrices,
    pgs_ids: Sequence[str],
    n_matched: Sequence[int],
    *,
    missing_genotypes: Literal["mean_impute", "zero"],
    settings: NativeEngineSettings,
    scratch: str | None = None,
    mt: hl_types.MatrixTable | None = None,
    calls: hl_types.MatrixTable | None = None,
    samples: Sequence[str] | None = None,
    index: VariantIndex | None = None,
) -> hl_types.Table | pgen_engine.SummedScores:
    """Score every score on one dataset by the route ``route_for`` picks (module doc).

    ``weights`` (``matching.weight_matrices``); ``pgs_ids``/``n_matched`` in score_index order.
    Routes ``hail`` and ``export`` take ``mt``, the genotypes as matched
    (``genotypes.read_genotypes`` then ``samples_to_persons``); ``hail`` makes ``weights``
    ``scoring.weights_table``'s Hail Table, ``export`` writes the rows of ``weights.rows`` to
    ``{scratch}/hard_calls.bed/.bim/.fam`` (a Hail job, run here; from ``calls``, the file's
    own rows of ``genotypes.read_calls``, when none of them needs the split, see
    ``scoring.export_hard_calls``; for a local MatrixTable with ``samples``, its column keys, the
    .bed may be read from its files, ``mt_entries``) and scores that. ``native``
    takes ``samples`` (the person IDs in file order) and ``index`` (the fileset's
    ``pgen_engine.variant_index`` the weights were matched on); nothing is read through Hail.
    Returns a native pass's (routes ``native`` and ``export``) sums added on the driver as
    ``pgen_engine.SummedScores`` (numpy, no Hail job; nothing lazy is left), else a Hail Table
    (``compute_scores``' rows; lazy: the caller writes it before ``scratch`` is removed); errors as
    ``compute_scores`` / ``pgen_engine.score`` / ``export_hard_calls`` (Hail's, unwrapped: the
    stage wraps them, ``stage.hail_errors``).
    """
    route = route_for(source, settings, scratch, len(weights.rows))
    if route == "hail":
        log.info("pgs: hail engine for %s genotypes", source.format)
        assert mt is not None  # the Hail path's input
        table = weights_table(hl, weights.frame(), source.reference_genome)
        return compute_scores(hl, mt, table, pgs_ids, n_matched, missing_genotypes=missing_genotypes)
    if route == "export":
        assert mt is not None and scratch is not None  # the export's input and place
        prefix = f"{scratch}/{EXPORT_NAME}"
        # A local MatrixTable read as it is: its .bed may be read from its own files (mt_entries).
        calls_path = source.path if source.format == "mt" and not is_uri(source.path) else None
        read = export_hard_calls(hl, mt, weights.rows, f"file://{prefix}", calls=calls, calls_path=calls_path,
                                 samples=samples)
        log.info("pgs: native engine for %s genotypes: %d matched rows %s as a PLINK 1 fileset "
                 "(%s)", source.format, len(weights.rows),
                 "written without Hail" if read == "calls_decoded" else "exported by Hail",
                 {"calls": "the file's calls as they are: no row needed splitting",
                  "calls_decoded": "the file's calls as they are: no row needed splitting; the .bed read from the "
                                   "MatrixTable's own files (mt_entries)",
                  "calls_rebuilt": "the file's calls as they are: no row needed splitting; each call rebuilt as its "
                                   "alt copies: a row on a sex or mitochondrial contig, or a call not diploid"}.get(
                     read, "rows split and normalised: some matched row needed it"))
        source = GenotypeSource(format="plink", path=prefix, reference_genome=source.reference_genome)
        samples, index = pgen_engine.psam_samples(pgen_engine.PlinkFiles.of(source)), None
    else:
        log.info("pgs: native engine for %s genotypes", source.format)
    from pyspark.sql import SparkSession

    assert samples is not None  # the native engine's input
    # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
    spark = SparkSession.builder.getOrCreate()
    files = BgenFiles.open(source.path) if source.format == "bgen" else pgen_engine.PlinkFiles.of(source)
    return pgen_engine.score(
        spark, hl, files, source.reference_genome, weights, samples,
        pgs_ids, n_matched, missing_genotypes=missing_genotypes, settings=settings, index=index)
