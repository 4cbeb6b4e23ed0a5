"""One scoring interface; the route (which engine, and whether Hail first exports) is chosen here.

    score(...) -> a native pass's sums added on the driver as numpy
                  (``pgen_engine.SummedScores``: the stage's Parquet rows without Hail), or
                  the long score table of ``scoring.compute_scores`` (s, pgs_id, score_sum,
                  allele_count, score_avg, n_missing, n_matched; unkeyed Hail Table): Hail's
                  pass, or a native pass whose partials are added in Spark (that Table in
                  ``pgen_engine.SummedInSpark``)

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
  engine scores that bed. A local MatrixTable read as it is whose matched rows are its own
  (``_entries_files``) is not exported: the native engine's tasks read their calls straight
  from its entry files (``mt_entries.EntriesReader``; one Spark job, no file written or read
  again), and only a call that reader refuses sends it back to the export.
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

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trd_spark.config import GenotypeSource, NativeEngineSettings, is_uri
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.logs import person_count_text
from trd_spark.pgs import mt_entries, pgen_engine
from trd_spark.pgs.bgen_reader import BgenFiles
from trd_spark.pgs.genotypes import (
    DECLARED_SEX,
    FILE_ROW,
    FT_FAILED,
    MALE_X,
    NORMALISED,
    SEX_DISAGREES,
    check_split_site_sums,
    declared_sex_samples,
    haploid_capable_contigs,
    hard_calls,
    male_x_samples,
    x_haploid_rows,
)
from trd_spark.pgs.matching import DeferredWeights, WeightMatrices
from trd_spark.pgs.sample_sex import FEMALE, MALE, SexCounts, SexOnX, sex_codes
from trd_spark.pgs.scoring import (
    FT_FAILED_CALLS,
    FtFailedCalls,
    compute_scores,
    export_hard_calls,
    exported_ft_failed,
    weights_table,
)
from trd_spark.pgs.variant_list import VariantIndex

if TYPE_CHECKING:
    import hail as hl_types
    import pandas as pd

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


def haploid_contig_rows(rg: hl_types.ReferenceGenome, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``rows`` (``contig``, ``position``), bool arrays: on X outside its PARs
    (``genotypes.x_haploid_rows``), on chrY (``rg.y_contigs``), on chrM (``rg.mt_contigs``).
    One hash pass over the contigs (pandas' ``isin`` of the three contig sets together); only the
    rows found there (none in most scores) are told apart, by the same rules. Why: three passes
    over the rows' object contigs (numpy's ``isin`` sorts them) cost ~10-20 ms of the score
    phase's serial driver work at 200k rows (issue 16, benchmarks/RESULTS.md session 41 flat)."""
    contig = rows["contig"]
    n = len(contig)
    on_x, on_y, on_m = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    there = np.flatnonzero(contig.isin([*rg.x_contigs, *rg.y_contigs, *rg.mt_contigs]).to_numpy(bool))
    if there.size:
        named = contig.to_numpy(object)[there]
        on_x[there] = x_haploid_rows(rg, named, rows["position"].to_numpy(np.int64)[there])
        on_y[there] = np.isin(named, list(rg.y_contigs))
        on_m[there] = np.isin(named, list(rg.mt_contigs))
    return on_x, on_y, on_m


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
    persons_below: int,
    sex: SexOnX | None = None,
) -> hl_types.Table | pgen_engine.SummedScores | pgen_engine.SummedInSpark:
    """Score every score on one dataset by the route ``route_for`` picks (module doc).

    ``weights`` (``matching.weight_matrices``); ``pgs_ids``/``n_matched`` in score_index order.
    Routes ``hail`` and ``export`` take ``mt``, the genotypes as matched
    (``genotypes.read_genotypes`` then ``samples_to_persons``); ``hail`` makes ``weights``
    ``scoring.weights_table``'s Hail Table, ``export`` writes the rows of ``weights.rows`` to
    ``{scratch}/hard_calls.bed/.bim/.fam`` (a Hail job, run here; from ``calls``, the file's
    own rows of ``genotypes.read_calls``, when none of them needs the split, see
    ``scoring.export_hard_calls``) and scores that; for a local MatrixTable with ``samples``,
    its column keys, whose matched rows are its own (``_entries_files``), nothing is written:
    the native pass reads the calls from its entry files (``_score_entries``). ``native``
    takes ``samples`` (the person IDs in file order) and ``index`` (the fileset's
    ``pgen_engine.variant_index`` the weights were matched on); nothing is read through Hail.
    Returns a native pass's (routes ``native`` and ``export``) sums added on the driver as
    ``pgen_engine.SummedScores`` (numpy, no Hail job; nothing lazy is left) or added in Spark as
    ``pgen_engine.SummedInSpark`` (its Table lazy, its uncalled rows read after the write), else a
    Hail Table (``compute_scores``' rows; lazy: the caller writes it before ``scratch`` is removed;
    its uncalled rows in its globals, ``scoring.UNCALLED_VARIANTS``); errors as
    ``compute_scores`` / ``pgen_engine.score`` / ``export_hard_calls`` (Hail's, unwrapped: the
    stage wraps them, ``stage.hail_errors``). ``persons_below``: the small-count threshold
    (``report.small_count_threshold``) of the INFO line counting a VDS's samples whose sex on X
    is unknown (``logs.person_count_text``). ``sex``: the declared sex when
    ``datasets[].genotypes.sex_source`` is a sex file (``sample_sex.SexOnX.declared``; else the
    genotypes' own), whose ``counts`` are set here (``sample_sex.SexCounts``) when the sex is
    used (a missing call is mean-imputed and a weighted row is on X outside its PARs, or a
    weighted row is on chrY, where plink2 --score counts males only) and the source gives counts.
    """
    route = route_for(source, settings, scratch, len(weights.rows))
    rg = hl.get_reference(source.reference_genome)
    on_x, on_y, on_m = haploid_contig_rows(rg, weights.rows)
    # The sex is used only there (X: the imputing frequency; chrY: plink2 --score counts males
    # only, whatever the imputation): nothing read, passed over or counted otherwise.
    uses_sex = (missing_genotypes == "mean_impute" and bool(on_x.any())) or bool(on_y.any())
    declared = None if sex is None or not uses_sex else sex.declared
    # Who is male on X (a sex file, else haploid calls there), for mean imputation on X outside
    # its PARs; None (no pass) when no weighted row is there or nothing is imputed. Both routes
    # below use it.
    male = None
    # The sex counts made here (a sex file, a VDS's calls on X), which also tell whether any
    # sample is male (the no-male-on-chrY WARNING) without another job.
    counts = None
    if route != "native" and calls is not None and declared is not None:
        assert sex is not None  # (declared comes from it)
        male, counts = _declared_male_x(hl, declared_sex_samples(hl, calls, weights.rows, declared), sex.source,
                                        checked="GT" in calls.entry)
        sex.counts = counts
    elif route != "native" and calls is not None and uses_sex:
        # A MatrixTable's and a VCF's males from all of their X rows outside the PARs, as a VDS's
        # (one densified from a VDS reads a male inside a reference block as a diploid 0/0 at the
        # scored rows; a VCF's male may have no called haploid GT at the scored X rows): one
        # aggregation over X's rows, where the scored rows alone would be a filter over the same
        # partitions (measured in the session 31 sex helper's commit).
        male = male_x_samples(hl, calls, weights.rows, all_x=source.format in ("mt", "vcf"))
    if male is not None and calls is not None and declared is None and MALE_X in calls.col:
        # A VDS: its sex on X is read from its own calls (genotypes.vds_x_evidence), a pass over
        # X's variant data kept for the scoring pass; a sample with no call there is unknown.
        male = male.persist()
        counts = told = calls_sex_counts(hl, male)
        unknown = told.unknown
        if sex is not None:
            sex.counts = told
        log.info("pgs: sex on X unknown (no call on X outside its PARs in the VDS) for %s samples: not counted "
                 "as male in the frequency that imputes a missing X call",
                 person_count_text(unknown, persons_below))
    if route == "hail":
        log.info("pgs: hail engine for %s genotypes", source.format)
        assert mt is not None  # the Hail path's input
        table = weights_table(hl, weights.frame(), source.reference_genome)
        any_male = True
        if on_y.any():
            if male is None:
                any_male = False
            elif counts is not None:  # counted above: no job
                any_male = counts.male > 0
            else:  # told by the calls: asked here, then read by the pass
                male = male.persist()
                any_male = bool(male.aggregate(hl.agg.any(hl.coalesce(male[MALE_X], False))))
            if not any_male:
                pgen_engine.warn_no_male_on_y(int(on_y.sum()))
        if male is not None:
            mt = mt.annotate_cols(**{MALE_X: male[mt.col_key][MALE_X]})
        # Records of one site given split (one per alt): their alt copies together at most 2 (one job
        # over their partitions, only when there is such a site), as the native pass checks them.
        check_split_site_sums(hl, mt, weights.rows, source.dosage_field)
        return compute_scores(hl, mt, table, pgs_ids, n_matched, missing_genotypes=missing_genotypes,
                              chr_y=bool(on_y.any()), chr_m=bool(on_m.any()), site_models=weights.site_models,
                              no_male_on_y=not any_male)
    if route == "export":
        assert mt is not None and scratch is not None  # the export's input and place
        entries = _entries_files(source, weights, calls, samples, len(pgs_ids), settings)
        if entries is not None and samples is not None:  # (samples: checked by _entries_files)
            scored = _score_entries(hl, source, entries, weights, samples, pgs_ids, n_matched,
                                    missing_genotypes=missing_genotypes, settings=settings)
            if scored is not None:
                return scored
        prefix = f"{scratch}/{EXPORT_NAME}"
        # A local MatrixTable read as it is: its .bed may be read from its own files (mt_entries),
        # unless the direct pass above just met a call that reader refuses.
        calls_path = source.path if source.format == "mt" and not is_uri(source.path) and entries is None else None
        read = export_hard_calls(hl, mt, weights.rows, f"file://{prefix}", calls=calls, calls_path=calls_path,
                                 samples=samples, male=male)
        log.info("pgs: native engine for %s genotypes: %d matched rows %s as a PLINK 1 fileset "
                 "(%s)", source.format, len(weights.rows),
                 "written without Hail" if read == "calls_decoded" else "exported by Hail",
                 {"calls": "the file's calls as they are: no row needed splitting",
                  "calls_decoded": "the file's calls as they are: no row needed splitting; the .bed read from the "
                                   "MatrixTable's own files (mt_entries)",
                  "calls_rebuilt": "the file's calls as they are: no row needed splitting; each call rebuilt as its "
                                   "alt copies: a row on a sex or mitochondrial contig, or a call not diploid"}.get(
                     read, "rows split and normalised: some matched row needed it"))
        # The calls the genotype filter made missing, as the export's write counted them (its .bim's cM).
        ft_failed = exported_ft_failed(f"{prefix}.bim", weights.rows, weights.n_vars) if FT_FAILED in mt.entry \
            else None
        source = GenotypeSource(format="plink", path=prefix, reference_genome=source.reference_genome)
        samples, index = pgen_engine.psam_samples(pgen_engine.PlinkFiles.of(source)), None
    else:
        log.info("pgs: native engine for %s genotypes", source.format)
        ft_failed = None
    from pyspark.sql import SparkSession

    assert samples is not None  # the native engine's input
    # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
    spark = SparkSession.builder.getOrCreate()
    files = BgenFiles.open(source.path) if source.format == "bgen" else pgen_engine.PlinkFiles.of(source)
    male_of_file = None
    if route == "native" and uses_sex:  # (the export's .fam carries the males found above)
        male_of_file, counts = _native_sex(files, samples, sex, weights.rows[on_x], index)
        if sex is not None:
            sex.counts = counts
    if male_of_file is None and isinstance(files, BgenFiles) and on_y.any():
        # A BGEN's males told by its haploid calls, once, for the pass and the haploid count below
        # alike (each would tell them from the rows it reads).
        male_of_file = _bgen_males(files, weights.rows, index, y_rows=on_y, x_rows=on_x,
                                   impute=missing_genotypes == "mean_impute")
    scored = pgen_engine.score(
        spark, hl, files, source.reference_genome, weights, samples,
        pgs_ids, n_matched, missing_genotypes=missing_genotypes, settings=settings, index=index, male=male_of_file)
    if on_y.any() or on_m.any():
        scored = _haploid_allele_counts(spark, hl, files, source.reference_genome, weights, on_y | on_m, samples,
                                        pgs_ids, n_matched, settings, index, male_of_file, scored)
    if route != "export" or ft_failed is None:
        return scored
    if isinstance(scored, pgen_engine.SummedScores):
        return dataclasses.replace(scored, ft_failed_calls=FtFailedCalls.of(pgs_ids, ft_failed, n_matched,
                                                                             len(samples)))
    # Summed in Spark: the count rides in the Table's globals, as compute_scores' does.
    return scored.with_table(scored.table.select_globals(**{FT_FAILED_CALLS: hl.struct(
        failed=hl.literal([int(x) for x in ft_failed], hl.tarray(hl.tint64)), n_samples=hl.int64(len(samples)))}))


def _bgen_males(files: BgenFiles, rows: pd.DataFrame, index: VariantIndex | None, *, y_rows: np.ndarray,
                x_rows: np.ndarray, impute: bool) -> np.ndarray:
    """``pgen_engine.bgen_males`` of the BGEN ``files`` for the weighted ``rows`` (``y_rows``,
    ``x_rows``: bool per row, on chrY and on X outside its PARs; ``impute``: missing calls
    mean-imputed), their blocks' extents from ``index`` when the rows were not matched on this
    very index."""
    if not {"offset", "size"} <= set(rows.columns):  # rows not matched on this very index
        assert index is not None  # a BGEN is scored on its index
        rows = rows[["variant_idx"]].merge(index.frame[["variant_idx", "offset", "size"]].drop_duplicates("variant_idx"),
                                           on="variant_idx", how="left")
    return pgen_engine.bgen_males(files, rows[["offset", "size"]].to_numpy(np.int64), y_rows=y_rows, x_rows=x_rows,
                                  impute=impute)


class _Quiet(logging.Filter):
    """Drops the records that the thread which made it logs to the logger it is added to:
    ``_haploid_allele_counts``' pass repeats the main pass's progress lines and WARNINGs (a
    WARNING counted twice: test_field_cases_round20_sex). Other threads' records pass (a
    filter that dropped every record hid theirs too; read-through, session 31)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


def _haploid_allele_counts(spark, hl: hl_types, files: pgen_engine.PlinkFiles | BgenFiles, reference_genome: str,
                           weights: WeightMatrices, haploid: np.ndarray, samples: Sequence[str],
                           pgs_ids: Sequence[str], n_matched: Sequence[int], settings: NativeEngineSettings,
                           index: VariantIndex | None, male: np.ndarray | None,
                           scored: pgen_engine.SummedScores | pgen_engine.SummedInSpark
                           ) -> pgen_engine.SummedScores | pgen_engine.SummedInSpark:
    """``scored`` (a native pass's sums of ``weights``) with ``allele_count`` as plink2's
    ALLELE_CT on the weighted rows ``haploid`` (bool per row of ``weights.rows``: chrY, chrM): 1
    per called chrY variant of a male and per called chrM variant, 0 per chrY variant of a
    non-male, where the pass counts 2 per variant called (a non-male's chrY call is read as called,
    0 copies). How: a second native pass over those rows alone (few: a score's chrY/chrM
    variants), with ``zero`` imputation, slope 0 and each row's offset its score variant count
    (``n_vars``): its ``score_sum`` is then the variants counted as plink2 counts them (a missing
    call drops its offset, a non-male's chrY offsets come off) and its ``allele_count`` twice the
    variants the pass counted there; their difference is what the main pass counted too many
    (``SummedScores.fewer_alleles``; a Spark-summed pass's Table gets it per row from a literal,
    ``_fewer_lookup``, or by a join on ``s``, ``pgs_id`` when the counting pass is a Table too).
    The same ``male`` as the main pass (None: the file's own sex, read again the same way). Its
    log lines (the pass's timing, the no-male WARNING) are the main pass's again: not logged."""
    at = np.flatnonzero(haploid)
    n_vars = weights.n_vars[at]
    counting = WeightMatrices(rows=weights.rows.iloc[at].reset_index(drop=True), slope=np.zeros(n_vars.shape),
                              offsets=n_vars.astype(np.float64), n_vars=n_vars)
    quiet = _Quiet()
    pgen_engine.log.addFilter(quiet)
    try:
        counted = pgen_engine.score(spark, hl, files, reference_genome, counting, samples, pgs_ids, n_matched,
                                    missing_genotypes="zero", settings=settings, index=index, male=male)
    finally:
        pgen_engine.log.removeFilter(quiet)
    if isinstance(counted, pgen_engine.SummedScores):
        columns = counted.columns()
        fewer = (columns["allele_count"] - np.rint(columns["score_sum"]).astype(np.int64))
        if isinstance(scored, pgen_engine.SummedScores):  # both sample-major: k x n
            return dataclasses.replace(scored, fewer_alleles=fewer.reshape(-1, len(pgs_ids)).T.copy())
        table = scored.table
        return scored.with_table(table.annotate(
            allele_count=table.allele_count - _fewer_lookup(hl, columns["s"], pgs_ids, fewer)(table.s, table.pgs_id)))
    # (the counting pass's uncalled rows are not read: the main pass reports them)
    fewer_table = counted.table.key_by("s", "pgs_id")
    fewer_table = fewer_table.select(fewer=fewer_table.allele_count - hl.int64(hl.floor(fewer_table.score_sum + 0.5)))
    if isinstance(scored, pgen_engine.SummedScores):  # (the counting pass has fewer tasks: not expected)
        got = fewer_table.to_pandas()
        lookup = dict(zip(zip(got["s"], got["pgs_id"]), got["fewer"]))
        fewer_kn = np.array([[lookup[s, p] for s in scored.rows.sample_ids] for p in pgs_ids], dtype=np.int64)
        return dataclasses.replace(scored, fewer_alleles=fewer_kn)
    table = scored.table
    return scored.with_table(table.annotate(allele_count=table.allele_count - fewer_table[table.s, table.pgs_id].fewer))


def _fewer_lookup(hl: hl_types, s: np.ndarray, pgs_ids: Sequence[str],
                  fewer: np.ndarray) -> Callable[[Any, Any], Any]:
    """``(s, pgs_id) -> fewer`` as a Hail expression function, from a driver-summed pass's
    sample-major columns (``s``, each sample's k rows in ``pgs_ids`` order; ``fewer``, int64, the
    same n x k rows): one literal of each sample's k numbers, looked up per row of a Spark-summed
    Table. The n x k rows were a Table of their own (``Table.from_pandas``) joined on (s, pgs_id):
    its parallelised rows and the join's shuffle cost seconds of CPU at 2,500 x 61 (measured in
    this change's commit); the literal is the same n x k numbers in the plan, which the rows
    carried too."""
    k = len(pgs_ids)
    by_sample = hl.literal(dict(zip(s[::k].astype(str).tolist(), fewer.reshape(-1, k).tolist())),
                           hl.tdict(hl.tstr, hl.tarray(hl.tint64)))
    index = hl.literal({p: i for i, p in enumerate(pgs_ids)}, hl.tdict(hl.tstr, hl.tint32))
    return lambda sample, pgs_id: by_sample[sample][index[pgs_id]]


def calls_sex_counts(hl: hl_types, male: hl_types.Table) -> SexCounts:
    """The counts (source ``calls``) of a sex on X told by the calls: ``male``, a Table with the
    bool ``MALE_X`` per sample (``genotypes.male_x_samples`` of a VDS, ``vds_x_evidence``):
    True male, False female (diploid calls only), missing unknown (no call on X). One small
    job over ``male``; for the manifest's ``notes.sample_sex``, where the unknown count of a VDS
    was only in an INFO line."""
    told = male.aggregate(hl.agg.counter(hl.case().when(hl.is_missing(male[MALE_X]), 0)
                                         .when(male[MALE_X], MALE).default(FEMALE)))
    return SexCounts("calls", told.get(MALE, 0), told.get(FEMALE, 0), told.get(0, 0))


def _declared_male_x(hl: hl_types, table: hl_types.Table, source: str, *,
                     checked: bool) -> tuple[hl_types.Table, SexCounts]:
    """``genotypes.declared_sex_samples``' table, persisted (one pass over the scored X rows,
    read again by the scoring pass), and its counts (one small job over it) from the sex
    ``source`` (``SexOnX.source``); ``checked``: the calls have a GT to check the sex against."""
    table = table.persist()
    code = table[DECLARED_SEX]
    n = table.aggregate(hl.struct(
        male=hl.agg.count_where(code == MALE), female=hl.agg.count_where(code == FEMALE),
        unknown=hl.agg.count_where(hl.coalesce(code, 0) == 0), not_in_file=hl.agg.count_where(hl.is_missing(code)),
        disagreeing=hl.agg.count_where(table[SEX_DISAGREES])))
    return table, SexCounts(source, n.male, n.female, n.unknown, n.not_in_file, n.disagreeing if checked else None)


def _native_sex(files: pgen_engine.PlinkFiles | BgenFiles, samples: Sequence[str], sex: SexOnX | None,
                x_rows: pd.DataFrame, index: VariantIndex | None) -> tuple[np.ndarray | None, SexCounts | None]:
    """The males on X of a natively scored fileset (per sample in file order; None: the file's
    own rule, ``pgen_engine._sex_rows_of``) and its counts (None when the file has no sex and
    none is declared: a BGEN read by its haploid calls). ``sex.declared`` (person ID -> code: a
    sex file, a BGEN .sample's ``sex`` column) first, else a .fam/.psam's sex. ``x_rows``: the
    weighted rows on X outside its PARs; a BGEN's calls there are checked against the sex
    (``BlockReader.x_call_kinds``), a .bed/.pgen's are not (None: no ploidy in the file)."""
    from trd_spark.pgs.bgen_reader import BlockReader

    if sex is None or sex.declared is None:
        file_codes = None if isinstance(files, BgenFiles) else pgen_engine.sample_sex_codes(files)
        if file_codes is None or isinstance(files, BgenFiles):
            return None, None
        return None, SexCounts.of_codes("fam" if files.format == "plink" else "psam", file_codes)
    codes = sex_codes(samples, sex.declared)
    disagreeing = None
    if isinstance(files, BgenFiles):
        disagreeing = 0
        if len(x_rows):
            if not {"offset", "size"} <= set(x_rows.columns):  # rows not matched on this very index
                assert index is not None  # a BGEN is scored on its index
                x_rows = x_rows[["variant_idx"]].merge(
                    index.frame[["variant_idx", "offset", "size"]].drop_duplicates("variant_idx"), on="variant_idx")
            with BlockReader(files) as reader:
                haploid, het = reader.x_call_kinds(x_rows[["offset", "size"]].drop_duplicates().to_numpy(np.int64))
            disagreeing = int((((codes == MALE) & het) | ((codes == FEMALE) & haploid)).sum())
    return codes == MALE, SexCounts.of_codes(sex.source, codes, disagreeing)


def _entries_files(source: GenotypeSource, weights: WeightMatrices, calls: hl_types.MatrixTable | None,
                   samples: Sequence[str] | None, k: int,
                   settings: NativeEngineSettings) -> mt_entries.EntriesFiles | None:
    """The local MatrixTable read as it is (``format: mt``) whose weighted rows the native engine
    reads from its own entry files (``mt_entries.EntriesFiles``), else None (the route then
    exports them, ``scoring.export_hard_calls``, which reads the same files when it can). Yes
    when ``samples`` (its column keys, the person IDs) and ``calls`` are given, every weighted
    row (``weights.rows``) is the file's own biallelic row (``genotypes.NORMALISED`` false)
    with its number in the file (``genotypes.FILE_ROW``), listed once, on no contig a call may
    be haploid on (those need the calls rebuilt, ``export_hard_calls``' ``calls_rebuilt``), the
    entries are in the layout ``mt_entries`` reads (else the export's WARNING names the
    metadata file), and the pass's partials of ``k`` scores are added on the driver
    (``pgen_engine.driver_sum_bytes`` within ``settings.driver_sum_mb``): there the job runs
    inside ``pgen_engine.score``, so a call the reader refuses is caught and exported instead;
    summed in Spark, the job would run at the stage's write, past that fallback."""
    rows = weights.rows
    if (source.format != "mt" or is_uri(source.path) or calls is None or samples is None
            or FT_FAILED in calls.entry  # (FT: in no layout mt_entries reads, and its failed calls are counted)
            or NORMALISED not in rows or rows[NORMALISED].astype(bool).any()
            or FILE_ROW not in rows or rows[FILE_ROW].isna().any()
            or rows[FILE_ROW].duplicated().any()
            or rows["contig"].isin(haploid_capable_contigs(calls.locus.dtype.reference_genome)).any()
            or weights.site_models is not None):  # (its tasks cut at part starts: a site's rows may part)
        return None
    try:
        entries = mt_entries.EntriesFiles.open(source.path)
    except mt_entries.UnknownLayout:  # the export meets it again and says so (one WARNING)
        return None
    from pyspark.sql import SparkSession

    sc = SparkSession.builder.getOrCreate().sparkContext
    n_tasks = len(pgen_engine.pass_bounds(sc, entries, np.sort(rows[FILE_ROW].to_numpy(np.int64)), entries.n_samples,
                                          settings)) - 1
    if pgen_engine.driver_sum_bytes(n_tasks, k, entries.n_samples) > settings.driver_sum_mb * 2**20:
        return None
    return entries


def _score_entries(hl: hl_types, source: GenotypeSource, entries: mt_entries.EntriesFiles, weights: WeightMatrices,
                   samples: Sequence[str], pgs_ids: Sequence[str], n_matched: Sequence[int], *,
                   missing_genotypes: Literal["mean_impute", "zero"], settings: NativeEngineSettings,
                   ) -> pgen_engine.SummedScores | pgen_engine.SummedInSpark | None:
    """The native pass over a MatrixTable's own entry files (``_entries_files``): one Spark job
    whose tasks read the weighted rows' calls (``mt_entries.EntriesReader``) and score them, no
    PLINK file written or read (``pgen_engine.score``'s result). None, after one INFO line, when
    a task met a call ``mt_entries`` does not read (``NotDecodable``: phased, haploid, a filtered
    entry): the caller then exports the calls with Hail."""
    from pyspark.sql import SparkSession

    # Each row placed at its row of the file (one allele: the rows are biallelic).
    rows = weights.rows.assign(variant_idx=weights.rows[FILE_ROW].to_numpy(np.int64), allele_idx=np.int32(1))
    placed: WeightMatrices
    if isinstance(weights, DeferredWeights) and not weights.is_built:
        # The stage's matrices not built yet (``stage.score_dataset``): the pass builds them once its
        # job is out, while its tasks open the part files and read their first block, as a bed/pgen
        # pass does (``pgen_engine.score``; issue 16, benchmarks/RESULTS.md session 37 flatmt).
        assert weights.directory is not None  # (a DeferredWeights is built in its directory)
        placed = DeferredWeights(rows, weights.directory, weights.built)
    else:
        placed = dataclasses.replace(weights.built() if isinstance(weights, DeferredWeights) else weights, rows=rows)
    try:
        # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
        scored = pgen_engine.score(SparkSession.builder.getOrCreate(), hl, entries, source.reference_genome,
                                   placed, samples, pgs_ids, n_matched, missing_genotypes=missing_genotypes,
                                   settings=settings)
    except Exception as e:  # NotDecodable, raised in a task: Spark wraps it (Py4JJavaError / PythonException)
        if "NotDecodable" not in str(e):
            raise
        log.info("pgs: %s: a call the direct reader does not read (%s); Hail exports the calls instead",
                 source.path, str(e).split("NotDecodable: ", 1)[-1].splitlines()[0])
        return None
    log.info("pgs: native engine for mt genotypes: %d matched rows read from the MatrixTable's own entry files "
             "(mt_entries: the file's calls as they are, no row needed splitting; no export)", len(weights.rows))
    return scored
