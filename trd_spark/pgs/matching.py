"""Match every score's variants to a dataset's genotypes, logging each case (Hail).

Score variants come from ``scoring_files`` (one row per score variant); genotypes from
``genotypes.read_genotypes`` (rows keyed by ``locus``/``alleles = [ref, alt]``, biallelic).
For each score variant, at its locus, the first rule that holds wins:

    ref_alt            effect == alt and other == ref          dosage = n alt alleles
    alt_ref            effect == ref and other == alt          dosage = 2 - n alt
    ref_alt_flipped    as ref_alt after complementing both (SNVs only; not when either
                       allele as written is one of the locus's alleles: A/C at a G>A,C,T
                       site is on the genotypes' strand, not the T/G row's complement)
    alt_ref_flipped    as alt_ref after complementing both (same conditions)
    ambiguous_dropped  a direct match, but the pair is A/T or C/G (strand cannot be told)
                       and ``keep_ambiguous`` is off; ambiguous pairs are never flipped
    not_found          none of the above (also: no position on the build, or no other
                       allele and the locus is multi-allelic, or an rsID not in the genotypes)
    not_found_unnormalised  not found, and the score's indel is written in a form a
                       left-aligned (normalised) genotype file cannot hold: shifted right in a
                       repeat, or anchored on its right (``unnormalised_indels``); or it is
                       left-aligned and the genotypes hold a row written shifted right that
                       its alleles show to be the same indel (``shifted_genotype_indels``);
                       counted with not_found in the summary
    liftover_failed    the variant's position did not lift over to the dataset's build
                       (counted with not_found in the summary)
    multiallelic_unreadable  the genotype reader skipped a multi-allelic row at the locus
                       (BGEN: Hail and plink2 read biallelic variants only; the global
                       ``genotypes.UNREADABLE_LOCI``); every score variant at the locus, since
                       a REF effect allele's dosage needs all alts (``n_unreadable``)

Positions: a scoring file on another build (``positions_build``) is lifted over with Hail's
``hl.liftover`` and the chain file in ``pgs.liftover`` (registered once per session); on a
negative-strand chain block its alleles are reverse-complemented before matching, an
equal-length pair placed at its last base's lift, an indel there ``liftover_failed``
(``negative_strand_span``). rsID-only
files (``positions_from == "rsid"``) get their locus from the genotype row with the same rsID
(``rsid`` row field, ``genotypes.read_genotypes(keep_rsid=True)``); an rsID on several loci is
not_found.

Indel representations: the score's alleles are compared with each genotype row's alleles as
its file writes them (``genotypes.SITE_POSITION``/``SITE_REF``/``SITE_ALT`` for Hail's split
rows: plink2 and pgsc_calc compare these), else in minimal representation (``minimal_alleles``,
Hail's ``min_rep``, of both) when only one orientation fits there (``AT/ATT`` at ``AT>ATT,A``
would fit the insertion ``A>AT`` as REF effect and the deletion ``AT>A`` as alt effect: such a
site needs the written match).

Multi-allelic sites (split into one ``[ref, alt]`` row per alt, or given split): an effect
allele equal to an alt scores that alt's copies; an effect allele equal to REF scores
``2 - copies of every alt of its file row`` (the rows with the same written position and REF,
whatever minimal form Hail's split gave each; ``other_alt_rows`` of ``match_sites_frame``),
the same for split and unsplit inputs in every format. Source: the dosage definition of
plink2 ``--score`` on multi-allelic variants (REF dosage = ploidy minus all alt dosages). An
effect allele that is only part of its file row's REF (an SNV A/G met in minimal form at
``AT>GT,A``) loses only the alts that change its bases (``_alters_bases``). A
genotype row repeated at a scored locus (in minimal form; a row of one allele and a missing code
beside an SNV row holding it too, ``_distinct_rows``) is an error
(``check_duplicate_rows_frame``: its weight would be applied twice).

A site written with a missing second allele (.bim ``0``, .bim/.pvar/VCF ALT ``.``:
``missing_allele``) is matched when the effect allele is its present allele (the missing
code read as the score's other allele; no strand flip), as plink2 --score; a multi-allelic
SNV site as .bim rows that do not all hold its REF as REF (plink 1.9's A1/A2 by frequency)
takes the allele shared by every row as REF (``_swapped_row_sites``).

Allele case: genotype alleles are compared in upper case (``upper_case_alleles``; the scoring
files' are upper-cased when parsed): VCF bases are case-insensitive (VCF 4.3 section 1.6.1), and
a REF taken from a soft-masked reference is lower case in repeats, kept so by plink2's
.pvar/.bim. plink2 --score compares allele codes as written and skips such rows.

A score variant without ``other_allele`` is matched on the effect allele alone when the
locus has exactly one alt allele in the genotypes (its ambiguity is then judged on the
genotyped ref/alt pair).

The match table is computed before scoring so that a stage can write the log, then raise
``MatchRateError`` for the scores ``match_rate_failures`` names (``pgs.stage``).

The stage matches every format with the frame matcher (``score_sites`` ->
``match_sites_frame`` -> ``frame_matches``: pandas on the driver, against the .bim/.pvar
variant list or the genotype rows Hail collects at the score loci, ``genotype_rows_at``). The
same rules in Hail expressions (``match_sites``) are the tests' independent oracle, in
tests/pgs_hail_oracle.py. A liftover is done by Hail (``hl.liftover`` in
``score_variants_table``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import operator
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from trd_spark.errors import InputDataError
from trd_spark.logs import counted
from trd_spark.pgs.genotypes import FILE_ROW, NORMALISED, SITE_ALT, SITE_POSITION, SITE_RECORD, SITE_REF, locate_rows
from trd_spark.pgs.memory import populate_write, small_pages
from trd_spark.pgs.scoring_files import ScoringFile, TextCodes, packed_key
from trd_spark.schemas import PGS_MATCH_SUMMARY, PGS_VARIANT_MATCHES

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame, SparkSession

    from trd_spark.config import GenotypeSource, LiftoverSettings
    from trd_spark.pgs.reference_fasta import ReferenceFasta

log = logging.getLogger(__name__)

MATCH_TYPES = ("ref_alt", "alt_ref", "ref_alt_flipped", "alt_ref_flipped", "ambiguous_dropped", "not_found",
               "liftover_failed", "multiallelic_unreadable", "not_found_unnormalised")
# Counted in the summary's n_not_found.
NOT_FOUND_TYPES = ("not_found", "liftover_failed", "not_found_unnormalised")
USED_MATCH_TYPES = ("ref_alt", "alt_ref", "ref_alt_flipped", "alt_ref_flipped")
EFFECT_IS_REF_TYPES = ("alt_ref", "alt_ref_flipped")
UNASSIGNED_DOMAIN = "unassigned"

_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}
_COMPLEMENT_TABLE = str.maketrans(_COMPLEMENT)

# Columns of the per-variant pandas frame that score_sites_frame groups into sites.
_SCORE_VARIANT_COLUMNS = ("pgs_id", "score_index", "chrom", "pos", "effect_allele", "other_allele",
                          "effect_weight", "line", "rsid", "positions_build", "by_rsid")


def reference_contig(chrom: pd.Series, reference_genome: str) -> pd.Series:
    """Scoring-file chromosome (``1``, ``X``, ``MT``) -> the reference's contig name (missing
    stays None)."""
    if reference_genome == "GRCh38":
        # Per distinct value (a few dozen), not per row: scores have millions of rows.
        codes, uniques = pd.factorize(chrom.to_numpy(object))
        names = np.array([*("chrM" if c == "MT" else f"chr{c}" for c in uniques), None], dtype=object)
        return pd.Series(names[codes], index=chrom.index)  # code -1 (missing) -> the last: None
    return chrom


def register_liftover(hl: hl_types, source_build: str, target_build: str, chain_file: str) -> None:
    """Register ``chain_file`` for ``source_build`` -> ``target_build`` (once per session;
    a different chain file replaces the registered one)."""
    src = hl.get_reference(source_build)
    if src.has_liftover(target_build):
        if src._liftovers.get(target_build) == chain_file:  # noqa: SLF001 - no public getter
            return
        src.remove_liftover(target_build)
    try:
        src.add_liftover(chain_file, hl.get_reference(target_build))
    except Exception as e:  # Hail raises HailException/FatalError for unreadable or bad chains
        raise InputDataError(f"cannot load the chain file: {str(e).splitlines()[0]}",
                             where=f"pgs.liftover.chain_file {chain_file}") from None


def score_variants_frame(
    scoring_files: Sequence[ScoringFile], reference_genome: str, *, liftover: LiftoverSettings | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Every score variant as one pandas row (``_SCORE_VARIANT_COLUMNS``; chrom as the
    reference's contig name on its ``positions_build``) and the builds other than
    ``reference_genome`` that need lifting over. Raises InputDataError for a pgs_id in two
    files and for other builds without ``liftover``."""
    columns, other_builds = score_variant_columns(scoring_files, reference_genome, liftover=liftover)
    return pd.DataFrame({c: v.decoded() if isinstance(v, TextCodes) else v for c, v in columns.items()}), other_builds


def score_variant_columns(
    scoring_files: Sequence[ScoringFile], reference_genome: str, *, liftover: LiftoverSettings | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``score_variants_frame``'s columns as arrays (no frame: a 12M-row frame with text
    columns costs seconds to assemble; ``score_sites`` groups the arrays directly). The text
    columns (chrom, effect_allele, other_allele, rsid) are ``TextCodes`` over all files when
    every file kept its parse codes (``ScoringFile.text_codes``), else object arrays."""
    ids = [sf.pgs_id for sf in scoring_files]
    other_builds = _builds_to_lift(scoring_files, reference_genome, liftover)
    # Column by column (numpy concatenation), not a frame per file: 61 files of 200k variants
    # are 12M rows, and concatenating frames with text columns costs seconds (issue 16).
    sizes = [len(sf.variants) for sf in scoring_files]
    builds = [sf.positions_build or reference_genome for sf in scoring_files]

    def column(values, dtype) -> np.ndarray:
        parts = [v.to_numpy() if isinstance(v, pd.Series) else np.asarray(v, dtype=dtype) for v in values]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

    def text(name: str) -> TextCodes | np.ndarray:
        coded = [sf.text_codes[name] for sf in scoring_files if sf.text_codes is not None]
        if len(coded) < len(scoring_files):
            per_file = (reference_contig(sf.variants[name], b) if name == "chrom"
                        else sf.variants[name] if name in sf.variants.columns else [None] * n
                        for sf, b, n in zip(scoring_files, builds, sizes))
            return column(per_file, object)
        # Each file's few distinct values (their contig names for chrom) numbered once across
        # files; the rows keep their parse codes, so no score row's text is hashed again.
        distinct = [reference_contig(pd.Series(c.values, dtype=object), b).to_numpy(object) if name == "chrom"
                    else c.values for c, b in zip(coded, builds)]
        joint, values = pd.factorize(np.concatenate(distinct) if distinct else np.empty(0, object))
        starts = np.cumsum([0, *(len(d) for d in distinct)])
        # Each file's rows re-coded straight into one int32 array (no int64 pieces to join and
        # narrow: two passes over 12.2M rows fewer per column at 61 x 200k).
        out = np.empty(sum(len(c.codes) for c in coded), dtype=np.int32)
        at = 0
        for c, a, b in zip(coded, starts[:-1], starts[1:]):
            out[at:at + len(c.codes)] = np.append(joint[a:b], -1).astype(np.int32)[c.codes]
            at += len(c.codes)
        return TextCodes(out, np.asarray(values, dtype=object))

    pos = (pd.concat([sf.variants["pos"].astype("Int32") for sf in scoring_files], ignore_index=True)
           if scoring_files else pd.Series(dtype="Int32"))
    score_index = np.repeat(np.arange(len(ids), dtype=np.int32), sizes)
    # Per-file values as categoricals (codes + a few strings), not 12M repeated objects.
    distinct_builds = sorted(set(builds))
    build_code = np.repeat(np.array([distinct_builds.index(b) for b in builds], dtype=np.int32), sizes)

    def categorical(codes: np.ndarray, names: list[str]) -> Any:
        return pd.Categorical.from_codes(codes, categories=pd.Index(names)) if names else np.empty(0, object)  # type: ignore[arg-type]

    columns = {
        "pgs_id": categorical(score_index, ids),
        "score_index": score_index,
        "chrom": text("chrom"),
        "pos": pos.array,
        "effect_allele": text("effect_allele"),
        "other_allele": text("other_allele"),
        "effect_weight": column((sf.variants["effect_weight"] for sf in scoring_files), np.float64),
        "line": column((sf.variants["line"] for sf in scoring_files), np.int64),
        "rsid": text("rsid"),
        "positions_build": categorical(build_code, distinct_builds),
        "by_rsid": np.repeat(np.array([sf.positions_from == "rsid" for sf in scoring_files], dtype=bool), sizes),
    }
    return columns, other_builds


def _builds_to_lift(scoring_files: Sequence[ScoringFile], reference_genome: str,
                    liftover: LiftoverSettings | None) -> list[str]:
    """The builds other than ``reference_genome`` the files are positioned on. Raises
    InputDataError for a pgs_id in two files and for other builds without ``liftover``."""
    ids = [sf.pgs_id for sf in scoring_files]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputDataError(f"pgs_id {dup} appears in more than one scoring file",
                             where="pgs.scoring_files")
    # rsID-only files have no positions_build
    other_builds = sorted({b for sf in scoring_files if (b := sf.positions_build) is not None and b != reference_genome})
    if other_builds and liftover is None:
        files = [sf.path for sf in scoring_files if sf.positions_build in other_builds]
        raise InputDataError(f"scoring files on {other_builds} need a chain file to reach {reference_genome}: "
                             f"{files}", where="pgs.liftover.chain_file")
    return other_builds


def score_variants_table(
    hl: hl_types,
    spark: SparkSession,
    scoring_files: Sequence[ScoringFile],
    reference_genome: str,
    *,
    liftover: LiftoverSettings | None = None,
) -> hl_types.Table:
    """One row per distinct score SITE (unkeyed): chrom (reference contig name), pos, locus
    (missing when the position is not valid on the reference), effect_allele, other_allele,
    rsid (rsID-only files only), positions_build, by_rsid (placed by rsID at matching),
    lift_negative_strand (alleles to be reverse-complemented), liftover_failed, and the score
    variants at the site as parallel arrays ``member_score_index`` (position in
    ``scoring_files``), ``member_weight`` and ``member_line``. ``frame_matches`` flattens them
    back to one row per score variant.

    Why sites: scores share most of their variants (61 scores over one HapMap3-like panel are
    61 rows per site), and every row Hail sorts or joins costs; matching once per site and
    exploding afterwards is the same result for a fraction of the work. Positions on another
    build are lifted over with ``liftover`` (an error without it). Globals: ``pgs_ids`` (in
    ``scoring_files`` order) and ``rsid_only_files`` (paths of rsID-only files)."""
    ids = [sf.pgs_id for sf in scoring_files]
    pdf, other_builds = score_variants_frame(scoring_files, reference_genome, liftover=liftover)
    sites = score_sites_frame(pdf)
    ht = hl.Table.from_spark(pandas_to_spark(spark, sites, _SCORE_SITE_SPARK))
    ht = ht.annotate_globals(
        pgs_ids=hl.literal(ids, hl.tarray(hl.tstr)),
        rsid_only_files=hl.literal([sf.path for sf in scoring_files if sf.positions_from == "rsid"],
                                   hl.tarray(hl.tstr)),
    )

    def locus_on(rg: str):
        valid = hl.is_defined(ht.chrom) & hl.is_defined(ht.pos) & hl.is_valid_contig(hl.or_else(ht.chrom, ""), rg)
        valid = valid & hl.is_valid_locus(hl.or_else(ht.chrom, "chr1"), hl.or_else(ht.pos, 1), rg)
        return hl.or_missing(valid, hl.locus(ht.chrom, ht.pos, rg))

    on_target = ht.positions_build == reference_genome
    ht = ht.annotate(locus=hl.or_missing(on_target, locus_on(reference_genome)),
                     lift_negative_strand=False, liftover_failed=False)
    for build in other_builds:  # at most one: Hail places loci on GRCh37 and GRCh38 only
        assert liftover is not None  # other builds without pgs.liftover raised above
        register_liftover(hl, build, reference_genome, liftover.chain_file)
        ht = ht.annotate(_src=hl.or_missing(ht.positions_build == build, locus_on(build)))
        ht = ht.annotate(_lift=hl.liftover(ht._src, reference_genome, min_match=liftover.min_match,
                                           include_strand=True))
        # On a negative-strand block a row's alleles run the other way: see negative_strand_span.
        span, placeable = negative_strand_span(hl, ht.effect_allele, ht.other_allele)
        ht = ht.annotate(_neg=hl.or_else(ht._lift.is_negative_strand, False), _span=span, _placeable=placeable)
        end = hl.or_missing(ht._neg & (ht._span > 1)
                            & hl.is_valid_locus(ht._src.contig, ht._src.position + ht._span - 1, build),
                            hl.locus(ht._src.contig, ht._src.position + ht._span - 1, build))
        ht = ht.annotate(_end=hl.liftover(end, reference_genome, min_match=liftover.min_match, include_strand=True))
        neg, span, placeable = ht._neg, ht._span, ht._placeable
        # The last base lifts to the first's place minus span - 1, on the same block's strand.
        whole = (span == 1) | (hl.is_defined(ht._end) & hl.or_else(ht._end.is_negative_strand, False)
                               & (ht._end.result.contig == ht._lift.result.contig)
                               & (ht._end.result.position == ht._lift.result.position - (span - 1)))
        lifted = hl.is_defined(ht._lift) & (~neg | (placeable & whole))
        result = hl.if_else(neg & (span > 1), ht._end.result, ht._lift.result)
        ht = ht.annotate(
            locus=hl.if_else(lifted, result, ht.locus),
            chrom=hl.if_else(ht.positions_build == build, hl.or_missing(lifted, result.contig), ht.chrom),
            pos=hl.if_else(ht.positions_build == build, hl.or_missing(lifted, result.position), ht.pos),
            lift_negative_strand=lifted & neg,
            liftover_failed=ht.liftover_failed | (hl.is_defined(ht._src) & ~lifted),
        ).drop("_src", "_lift", "_end", "_neg", "_span", "_placeable")
    return ht


def negative_strand_span(hl: hl_types, effect_allele, other_allele) -> tuple:
    """(span, placeable) Hail expressions for a score row lifted onto a negative-strand chain
    block, where its alleles are reverse-complemented and the bases it covers run backwards:
    ``span`` is the number of reference bases its alleles cover (the effect allele's length
    when both alleles have it; 1 otherwise), ``placeable`` whether its place on the target is
    known from the file alone.

    - Single-base alleles (SNVs, or an effect allele alone): the lifted base, complemented.
    - An equal-length pair (``AG/CG``: an SNV written with one more base, or an MNV) covers
      ``span`` bases, whose last one lifts to the pair's first place on the target: placed
      there (without this an ``AG/CG`` row landed one base right of its variant, session 53
      helper pgsfuzz's diff_pgs_kinds.py ``--liftover-minus``).
    - Alleles of different lengths (an indel) or a multi-base effect allele without other
      allele: not placeable. Their shared anchor base (VCF's first base) ends up last after
      the reverse complement, and the target file anchors the same indel on the base before
      it, which the scoring file does not give; repeats left-align it further still. Such a
      row is ``liftover_failed``. pgsc_calc lifts positions only (pgscatalog's liftover, via
      pyliftover) and compares the file's alleles as written."""
    le = hl.len(effect_allele)
    lo = hl.len(hl.or_else(other_allele, ""))
    equal = (lo == le) | ((lo == 0) & (le == 1))
    return hl.if_else(equal, le, 1), equal


SITE_COLUMNS = ("chrom", "pos", "effect_allele", "other_allele", "rsid", "positions_build", "by_rsid")

_SCORE_SITE_SPARK = T.StructType([
    T.StructField("chrom", T.StringType(), True),
    T.StructField("pos", T.IntegerType(), True),
    T.StructField("effect_allele", T.StringType(), False),
    T.StructField("other_allele", T.StringType(), True),
    T.StructField("rsid", T.StringType(), True),
    T.StructField("positions_build", T.StringType(), True),
    T.StructField("by_rsid", T.BooleanType(), False),
    T.StructField("member_score_index", T.ArrayType(T.IntegerType(), False), False),
    T.StructField("member_weight", T.ArrayType(T.DoubleType(), False), False),
    T.StructField("member_line", T.ArrayType(T.LongType(), False), False),
])


def score_sites_frame(variants: pd.DataFrame) -> pd.DataFrame:
    """Score variants (one row per file row) -> one row per distinct ``SITE_COLUMNS`` with the
    member arrays (score_index, weight, line in file order). The rsID is part of a site only
    for rsID-only rows (elsewhere it is not used for matching)."""
    return _sites_of({c: variants[c].array for c in variants.columns})


def _sites_of(columns: dict[str, Any]) -> pd.DataFrame:
    """``score_sites_frame`` on ``score_variant_columns``' arrays."""
    by_rsid = np.asarray(columns["by_rsid"], dtype=bool)
    if not len(by_rsid):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _SCORE_SITE_SPARK.names})
    columns = dict(columns)
    rsid = columns["rsid"]  # the rsID places only rsID-only rows
    if isinstance(rsid, TextCodes):
        columns["rsid"] = TextCodes(np.where(by_rsid, rsid.codes, -1), rsid.values)
    else:
        rsid = np.asarray(rsid, dtype=object).copy()
        rsid[~by_rsid] = None
        columns["rsid"] = rsid
    site_id = _group_ids([c if isinstance(c := columns[name], TextCodes) else _series(c) for name in SITE_COLUMNS])
    order = np.argsort(site_id, kind="stable")
    # Ids are 0..sites-1: each site's rows start at the count of the rows before it.
    lengths = np.bincount(site_id)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first = order[starts]

    def first_rows(values) -> pd.Series:
        if isinstance(values, TextCodes):
            return pd.Series(values.take(first).decoded(), dtype=object)
        return _series(values).take(first).reset_index(drop=True)

    sites = pd.DataFrame({c: first_rows(columns[c]) for c in SITE_COLUMNS})
    sites["positions_build"] = sites["positions_build"].astype(object)
    flat = {}
    for col, source, dtype in (("member_score_index", "score_index", np.int32),
                               ("member_weight", "effect_weight", np.float64), ("member_line", "line", np.int64)):
        values = np.asarray(columns[source], dtype=dtype)[order]
        # One array per site (an object column; Arrow writes it as an array column); slices,
        # not np.split (which costs a swapaxes per piece).
        pieces = [values[a:b] for a, b in zip(starts, ends)]
        sites[col] = pd.Series(pieces, index=sites.index, dtype=object)
        flat[col] = (values, pieces)
    sites.attrs[SORTED_MEMBERS] = SortedMembers(flat, ends - starts)
    return sites


def _site_ids_by_file(keys_of: Callable[[int], np.ndarray], sizes: Sequence[int]
                      ) -> tuple[list[np.ndarray], np.ndarray]:
    """Site ids of each file's int64 site keys (``keys_of(i)``: file i's keys, read before the next
    file's are asked for), numbered in order of first appearance over the files in order, as
    ``pd.factorize`` of all keys concatenated numbers them, and the distinct keys in id order.
    Each file's keys are looked up in a hash index of the distinct keys seen so far
    (``Index.get_indexer``); only keys not yet seen are numbered and added (the index is rebuilt
    then). Why: ``pd.factorize`` of the 12.2M concatenated keys at 61 x 200k sizes its hash table
    by the rows (2**24 buckets for 200k sites) and writes a fresh 12.2M-row key and id array, whose
    first-touch page faults were most of score_sites (issue 16, session 22); here every file's
    lookups go to a table of the distinct keys. Ids are int32 (int64 from 2**31 rows on). Files
    adding many new sites each would rebuild the index often: once the rebuilds have cost as many
    keys as the files hold, all keys are numbered at once (the concatenated factorisation)."""
    total = int(sum(sizes))
    dtype = np.int32 if total < 2**31 else np.int64
    known = pd.Index(np.empty(0, dtype=np.int64))
    ids_of_file: list[np.ndarray] = []
    rebuilt = 0
    for i in range(len(sizes)):
        keys = keys_of(i)
        ids = known.get_indexer(pd.Index(keys, copy=False))
        new = ids < 0
        if new.any():
            rebuilt += len(known) + int(new.sum())
            if rebuilt > total:
                break
            codes, distinct = pd.factorize(keys[new])
            ids[new] = codes + len(known)
            known = known.append(pd.Index(distinct))
        ids_of_file.append(ids.astype(dtype))
    else:
        return ids_of_file, known.to_numpy(np.int64)
    everything = np.concatenate([keys_of(i).copy() for i in range(len(sizes))]) if sizes else np.empty(0, np.int64)
    ids, distinct = pd.factorize(everything)
    bounds = np.cumsum([0, *sizes])
    return [ids[a:b].astype(dtype) for a, b in zip(bounds[:-1], bounds[1:])], np.asarray(distinct, dtype=np.int64)


def _sites_by_file(scoring_files: Sequence[ScoringFile], reference_genome: str) -> pd.DataFrame | None:
    """``_sites_of`` for the usual case, without the 12M-row columns of ``score_variant_columns``
    (at 61 x 200k, building, packing, sorting and gathering them was most of the match phase:
    fresh arrays of that size cost page faults here, issue 16, session 21): every file positioned
    on one build (none placed by rsID) and holding its parse codes, and no file listing a site twice.
    The site key (contig, position, effect and other allele codes, numbered across files as
    ``score_variant_columns`` does) is packed into one int64 per score row, file by file, and
    numbered file by file (``_site_ids_by_file``: in order of first appearance, as ``_group_ids``); each file's
    members are then placed straight into the flat member arrays (a file holds a site at most once,
    so its rows go after the earlier files' members of each site: the stable order of ``_sites_of``).
    The same frame as ``_sites_of``; None when the case does not hold (the caller then takes
    ``_sites_of``)."""
    sizes = [len(sf.variants) for sf in scoring_files]
    builds = {sf.positions_build or reference_genome for sf in scoring_files}
    if (not sum(sizes) or len(builds) != 1
            or any(sf.text_codes is None or sf.positions_from == "rsid" for sf in scoring_files)):
        return None
    build = builds.pop()
    coded = [sf.text_codes for sf in scoring_files if sf.text_codes is not None]  # every file's (checked above)

    def joint(name: str) -> tuple[list[np.ndarray], np.ndarray]:
        # Each file's few distinct values numbered once across files (as score_variant_columns'
        # text()): per file a map from its parse codes (and -1, missing, the last) to joint codes.
        distinct = [reference_contig(pd.Series(c[name].values, dtype=object), build).to_numpy(object)
                    if name == "chrom" else c[name].values for c in coded]
        codes, values = pd.factorize(np.concatenate(distinct))
        starts = np.cumsum([0, *(len(d) for d in distinct)])
        return ([np.append(codes[a:b], -1).astype(np.int64) for a, b in zip(starts[:-1], starts[1:])],
                np.asarray(values, dtype=object))

    text = {name: joint(name) for name in ("chrom", "effect_allele", "other_allele")}
    positions = [sf.variants["pos"].astype("Int32") for sf in scoring_files]
    present = [p.dropna().to_numpy(np.int64) for p in positions]
    lo = min((int(p.min()) for p in present if p.size), default=0)
    hi = max((int(p.max()) for p in present if p.size), default=0)
    # Mixed radix of (code + 1) per column (missing -1 -> 0); beyond 2**62 the general path.
    widths = [len(text["chrom"][1]) + 1, hi - lo + 2, len(text["effect_allele"][1]) + 1,
              len(text["other_allele"][1]) + 1]
    if float(np.prod(np.array(widths, dtype=np.float64))) >= 2.0**62:
        return None
    # One key buffer for every file (each file's keys are numbered before the next is packed).
    buffer = np.empty(max(sizes), dtype=np.int64)

    def keys_of(i: int) -> np.ndarray:
        part, c = buffer[:sizes[i]], coded[i]
        part[:] = text["chrom"][0][i][c["chrom"].codes]
        part += 1
        part *= widths[1]
        part += positions[i].to_numpy(np.int64, na_value=lo - 1) - (lo - 1)
        for j, name in ((2, "effect_allele"), (3, "other_allele")):
            part *= widths[j]
            part += text[name][0][i][c[name].codes]
            part += 1
        return part

    ids_of_file, site_key = _site_ids_by_file(keys_of, sizes)
    n_sites = len(site_key)
    lengths = np.zeros(n_sites, dtype=np.int64)
    for ids in ids_of_file:
        lengths += np.bincount(ids, minlength=n_sites)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    flat: dict[str, np.ndarray] = {"member_score_index": np.empty(sum(sizes), np.int32),
            "member_weight": np.empty(sum(sizes), np.float64), "member_line": np.empty(sum(sizes), np.int64)}
    filled = np.zeros(n_sites, dtype=np.int64)
    for i, (sf, ids) in enumerate(zip(scoring_files, ids_of_file)):
        place = starts[ids]
        place += filled[ids]
        filled[ids] += 1  # a site twice in one file counts once here: told below
        flat["member_score_index"][place] = i
        flat["member_weight"][place] = sf.variants["effect_weight"].to_numpy(np.float64)
        flat["member_line"][place] = sf.variants["line"].to_numpy(np.int64)
    if not np.array_equal(filled, lengths):
        return None  # a file listing one site twice (kept by its parse): the general path's sort
    # The sites' columns decoded from their keys (the key holds every site column).
    site_key = np.asarray(site_key, dtype=np.int64)
    codes = []
    for w in reversed(widths):
        site_key, code = np.divmod(site_key, w)
        codes.append(code - 1)
    o_code, e_code, p_code, c_code = codes

    def decoded(name: str, code: np.ndarray) -> pd.Series:
        return pd.Series(np.append(text[name][1], np.array([None], dtype=object))[code], dtype=object)

    sites = pd.DataFrame({
        "chrom": decoded("chrom", c_code),
        "pos": pd.Series(pd.arrays.IntegerArray((p_code + lo).astype(np.int32), p_code < 0)),
        "effect_allele": decoded("effect_allele", e_code),
        "other_allele": decoded("other_allele", o_code),
        "rsid": pd.Series(np.full(n_sites, None, dtype=object), dtype=object),
        "positions_build": pd.Series(np.full(n_sites, build, dtype=object), dtype=object),
        "by_rsid": np.zeros(n_sites, dtype=bool),
    })
    members: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
    for col, values in flat.items():
        pieces = [values[a:b] for a, b in zip(starts, ends)]
        sites[col] = pd.Series(pieces, index=sites.index, dtype=object)
        members[col] = (values, pieces)
    sites.attrs[SORTED_MEMBERS] = SortedMembers(members, lengths)
    return sites


# ``attrs`` key of ``score_sites``' frame: its member arrays as the flat arrays they slice.
SORTED_MEMBERS = "sorted_members"


class SortedMembers:
    """The member arrays of ``_sites_of``'s sites as slices of three flat arrays (in site order),
    so that ``frame_matches`` takes the flat arrays instead of concatenating 12M members again
    (~1 s at 61 x 200k: issue 16, session 18) when every site still holds the very slices made
    here (``flat_members``); a step that changes a site's members (a duplicate policy, a
    placement by rsID) makes new arrays, and then the members are concatenated as before.
    Kept in ``DataFrame.attrs``, which pandas deep-copies on every derived frame: it copies as
    itself (the arrays are never written)."""

    def __init__(self, flat: dict[str, tuple[np.ndarray, list[np.ndarray]]], lengths: np.ndarray) -> None:
        self.flat, self.lengths = flat, lengths

    def __copy__(self) -> SortedMembers:
        return self

    def __deepcopy__(self, memo: dict) -> SortedMembers:
        return self

    def flat_members(self, sites: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """The flat member arrays of ``sites`` when each of its sites, in order, holds the same
        array objects as when they were made (so the same values); else None."""
        if len(sites) != len(self.lengths) or any(c not in sites for c in self.flat):
            return None
        for col, (_, pieces) in self.flat.items():
            if not all(map(operator.is_, sites[col].to_numpy(object), pieces)):
                return None
        return {col: values for col, (values, _) in self.flat.items()}


def _series(values) -> pd.Series:
    """A Series over ``values`` without pandas' type inference on object arrays (it scans
    millions of strings for dates)."""
    is_object = isinstance(values, np.ndarray) and values.dtype == object
    return pd.Series(values, dtype=object if is_object else None, copy=False)


# How many packed keys ``_group_ids`` numbers at a time.
_KEYS_AT_A_TIME = 1 << 20


def _group_ids(columns: list[pd.Series | TextCodes]) -> np.ndarray:
    """One id per distinct combination of the columns' values (missing values one value per
    column), numbered in order of first appearance: ``groupby(columns, dropna=False,
    sort=False).ngroup()``, from integer codes packed into one int64 key
    (``scoring_files.packed_key``), which is many times faster than grouping text columns of
    millions of rows. ``TextCodes`` columns are taken as coded (their values are distinct: the
    same grouping); integer, boolean and categorical columns by their values or codes (no hash
    table per column, ``_value_codes``); others are factorised."""
    codes = [_value_codes(c) for c in columns]
    # A column of one value (the build, by_rsid and the rsID of most runs) tells no rows apart:
    # left out of the key (each packed column is a 12M-row int64 pass at 61 x 200k).
    varying = [c for c in codes if len(c) and c.min() != c.max()]
    if not varying:
        return np.zeros(len(codes[0]) if codes else 0, dtype=np.intp)
    key = packed_key(varying)
    # A million keys at a time against the distinct keys seen so far (``_site_ids_by_file``), not
    # one ``pd.factorize``, whose hash table is sized by the rows (12.2M at 61 x 200k).
    chunk = _KEYS_AT_A_TIME
    sizes = [min(chunk, len(key) - at) for at in range(0, len(key), chunk)]
    return np.concatenate(_site_ids_by_file(lambda i: key[i * chunk:(i + 1) * chunk], sizes)[0])


def _value_codes(col: pd.Series | TextCodes) -> np.ndarray:
    """A column as integer codes >= -1 (equal values, equal codes; missing -1), as
    ``packed_key`` takes them: TextCodes' and a categorical's codes, a boolean's 0/1, an
    integer column's value - min (when the range is below 2**31); otherwise factorised."""
    if isinstance(col, TextCodes):
        return col.codes
    if isinstance(col.dtype, pd.CategoricalDtype):
        return np.asarray(col.cat.codes)
    if col.dtype == bool:
        return col.to_numpy(np.int8)
    if pd.api.types.is_integer_dtype(col.dtype):
        missing = col.isna().to_numpy(bool)
        values = col.to_numpy(np.int64, na_value=0)
        present = values[~missing]
        lo = int(present.min()) if present.size else 0
        if present.size == 0 or int(present.max()) - lo < 2**31:
            values -= lo
            values[missing] = -1
            return values
    return pd.factorize(col.to_numpy(object) if col.dtype == object else col)[0]


def pandas_to_spark(spark: SparkSession, pdf: pd.DataFrame, schema: T.StructType) -> DataFrame:
    """pandas -> Spark through Arrow (score files can have millions of rows; the row-by-row
    path is ~100x slower), which ``session.spark_conf`` turns on for the whole session
    (``session.ARROW_CONF``). The flag is never switched off here: the stage's warm-up thread
    converts while the driver matches, and a switch per call raced (a call could run without
    Arrow and the flag stay as the other thread left it). A session started elsewhere with it
    off gets it turned on (logged), never off again."""
    from trd_spark.session import ARROW_CONF

    if spark.conf.get(ARROW_CONF, "false") != "true":
        log.info("Spark's Arrow conversion (%s) turned on for this session", ARROW_CONF)
        spark.conf.set(ARROW_CONF, "true")
    return spark.createDataFrame(pdf, schema=schema)


def _no_rsids(files: list[str]) -> InputDataError:
    return InputDataError(
        f"rsID-only scoring files {files} need genotypes read with their rsIDs (pgs.match_rsid: true, "
        "a VCF ID column or an MT/PLINK/BGEN rsid field), or use the PGS Catalog harmonised files",
        where="pgs.match_rsid")


def raise_duplicate_rows(loci: list[str], where: str, source: GenotypeSource | None) -> None:
    """Raise InputDataError for the scored ``loci`` (sorted ``chr6:3000000`` strings; nothing
    when empty) whose genotype row (locus, ref, alt) occurs more than once, e.g. one chromosome
    in two overlapping chunks, or a site both unsplit and split. Names up to 3 such loci and
    their count. ``where`` names the dataset's files; with ``source``, the rows at those loci
    are located (``genotypes.locate_rows``: ``file:line`` for VCF, .bim and .pvar files) and
    the error names the first file:line as its place."""
    if loci:
        rows = locate_rows(source, loci[:3]) if source is not None else {}
        shown = [f"{locus} (rows at {', '.join(rows[locus])})" if rows.get(locus) else locus for locus in loci[:3]]
        first = next((rows[locus][0] for locus in loci[:3] if rows.get(locus)), None)
        raise InputDataError(
            f"{len(loci)} scored locus/loci have a genotype row more than once in the genotypes (same locus, REF and ALT, "
            "one SNV with REF and ALT swapped, or one of its alleles with a missing second allele, '0' or '.'), "
            f"e.g. {'; '.join(shown)}: overlapping files/chunks or duplicated rows; remove the duplicates "
            "(e.g. bcftools norm -d exact) so that no weight is applied twice",
            where=f"{where}: {first}" if first else where)


@dataclass(frozen=True)
class ScoreLabel:
    """What the summary says about a score: its trait and domain."""

    trait: str
    domain: str


def summary_frame(by_score: dict[str, dict[str, int]], dataset: str, pgs_ids: Sequence[str],
                  labels: dict[str, ScoreLabel], multiallelic: Sequence[int] | np.ndarray | None = None,
                  ) -> pd.DataFrame:
    """PGS_MATCH_SUMMARY rows (one per score, in ``pgs_ids`` order) from the count of each
    match type per pgs_id (scores absent from ``by_score`` get zeros) and ``multiallelic``, the
    matched variants at a multi-allelic site per score in ``pgs_ids`` order (None: zeros)."""
    counts = pd.DataFrame(
        [{"pgs_id": pgs_id, "n_variants": sum(c.values()), **{f"n_{t}": c.get(t, 0) for t in MATCH_TYPES}}
         for pgs_id, c in by_score.items()],
        columns=["pgs_id", "n_variants", *[f"n_{t}" for t in MATCH_TYPES]],
    )
    counts = counts.set_index("pgs_id").reindex(list(pgs_ids)).fillna(0).astype("int64")
    out = pd.DataFrame({
        "dataset": dataset,
        "pgs_id": list(pgs_ids),
        "trait": [labels[p].trait for p in pgs_ids],
        "domain": [labels[p].domain for p in pgs_ids],
        "n_variants": counts["n_variants"].to_numpy(),
        "n_matched": counts[[f"n_{t}" for t in USED_MATCH_TYPES]].sum(axis=1).to_numpy(),
        "n_matched_ref_alt": counts["n_ref_alt"].to_numpy(),
        "n_matched_alt_ref": counts["n_alt_ref"].to_numpy(),
        "n_matched_flipped": (counts["n_ref_alt_flipped"] + counts["n_alt_ref_flipped"]).to_numpy(),
        "n_ambiguous_dropped": counts["n_ambiguous_dropped"].to_numpy(),
        "n_not_found": counts[[f"n_{t}" for t in NOT_FOUND_TYPES]].sum(axis=1).to_numpy(),
        "n_unreadable": counts["n_multiallelic_unreadable"].to_numpy(),
    })
    out["matched_fraction"] = (out["n_matched"] / out["n_variants"].where(out["n_variants"] > 0)).fillna(0.0)
    out["n_matched_multiallelic"] = np.zeros(len(out), np.int64) if multiallelic is None else \
        np.asarray(multiallelic, dtype=np.int64)
    return out[PGS_MATCH_SUMMARY.names]


def count_complex_skipped(summary: pd.DataFrame, scoring_files: Sequence[ScoringFile]) -> pd.DataFrame:
    """``summary`` (PGS_MATCH_SUMMARY rows of one dataset) with each score's complex-allele rows
    (``ScoringFile.n_complex_skipped``: HLA/APOE alleles the parse left out) added to its
    ``n_variants`` and ``n_not_found``, and ``matched_fraction`` again: pgsc_calc keeps such rows,
    which match no target variant and lower its match rate (pgs.min_overlap reads the same).
    The same frame when no score has any."""
    skipped = {sf.pgs_id: sf.n_complex_skipped for sf in scoring_files if sf.n_complex_skipped}
    if not skipped:
        return summary
    out = summary.copy()
    extra = out["pgs_id"].map(skipped).fillna(0).astype("int64").to_numpy()
    out["n_variants"] = out["n_variants"].to_numpy() + extra
    out["n_not_found"] = out["n_not_found"].to_numpy() + extra
    out["matched_fraction"] = (out["n_matched"] / out["n_variants"].where(out["n_variants"] > 0)).fillna(0.0)
    return out


def match_rate_failures(summary: pd.DataFrame, min_overlap: float) -> list[str]:
    """One message per (dataset, score) whose matched fraction is below ``min_overlap``."""
    low = summary[summary["matched_fraction"] < min_overlap]
    return [
        f"score {r.pgs_id} in dataset {r.dataset}: matched {r.n_matched}/{r.n_variants} variants "
        f"({r.matched_fraction:.1%}) < pgs.min_overlap {min_overlap:.0%} "
        f"(not found {r.n_not_found}, ambiguous dropped {r.n_ambiguous_dropped})"
        for r in low.itertuples(index=False)
    ]


# ---- the same rules on pandas frames (no Hail job) ----------------------------------------------
#
# Matching is per distinct score site against the target's variant list, both small enough for
# the driver (a site is a few dozen bytes; 200k sites x 61 scores are 200k rows, not 12M): the
# bed/pgen variant list (``pgen_engine.variant_index``) or the genotype rows collected at the
# score loci. Issue 16: 1.8 s instead of 20-28 s of Hail jobs at 2k x 20k x 61.

# Match-type codes of ``MATCH_TYPES`` (int8 per site; counted per score with one bincount).
_TYPE_CODE = {t: i for i, t in enumerate(MATCH_TYPES)}

# The match steps below fill fresh arrays of one value per site (200k), per score row (12.2M at
# 61 x 200k) or per genotype row; with numpy's transparent-huge-page advice on a THP
# defrag=madvise host their first-touch faults were most of the steps' kernel time (match phase
# driver CPU at 20k x 200k x 61: 4.4-5.6 user + 4.2-7.6 sys -> 4.6-5.5 user + 0.6-0.8 sys s with
# the advice off; issue 16, session 23), so each runs inside ``memory.small_pages`` (a
# contextlib context manager, so ``@small_pages()`` decorates: entered anew on every call).


@small_pages()
def score_sites(
    hl: hl_types,
    spark: SparkSession,
    scoring_files: Sequence[ScoringFile],
    reference_genome: str,
    *,
    liftover: LiftoverSettings | None = None,
) -> pd.DataFrame:
    """``score_variants_table`` as a pandas frame: one row per distinct score site with
    ``SITE_COLUMNS``, the member arrays, ``contig``/``position`` (the locus on
    ``reference_genome``; None/NA when the position is not valid on it or not given),
    ``lift_negative_strand`` and ``liftover_failed``. ``attrs``: ``SITES_ATTRS`` (pgs_ids,
    rsid_only_files, score_files, duplicates_dropped: none yet), read with ``sites_attr``.
    Without other builds no Hail job runs (contig lengths from the reference); with them the
    Hail table is built (``hl.liftover``) and collected.
    Errors as ``score_variants_frame`` / ``register_liftover``."""
    other_builds = _builds_to_lift(scoring_files, reference_genome, liftover)
    if other_builds:
        ht = score_variants_table(hl, spark, scoring_files, reference_genome, liftover=liftover)
        ht = ht.select(*SITE_COLUMNS, "member_score_index", "member_weight", "member_line",
                       contig=ht.locus.contig, position=ht.locus.position,
                       lift_negative_strand=ht.lift_negative_strand, liftover_failed=ht.liftover_failed)
        sites = ht.to_pandas()
        for col in ("member_score_index", "member_weight", "member_line"):
            dtype = {"member_score_index": np.int32, "member_weight": np.float64, "member_line": np.int64}[col]
            sites[col] = pd.Series([np.asarray(a, dtype=dtype) for a in sites[col]], index=sites.index, dtype=object)
        for col in ("chrom", "effect_allele", "other_allele", "rsid", "positions_build", "contig"):
            sites[col] = sites[col].astype(object).where(sites[col].notna(), None)
        sites["pos"] = sites["pos"].astype("Int32")
        sites["position"] = sites["position"].astype("Int64")
        sites = sites.astype({"by_rsid": bool, "lift_negative_strand": bool, "liftover_failed": bool})
    else:
        sites = _sites_by_file(scoring_files, reference_genome)
        if sites is None:
            sites = _sites_of(score_variant_columns(scoring_files, reference_genome, liftover=liftover)[0])
        lengths = hl.get_reference(reference_genome).lengths
        chrom = sites["chrom"]
        # Per distinct contig (a few dozen), not per site (a lambda per site: 0.5-0.8 s at 200k).
        codes, contigs = pd.factorize(chrom.to_numpy(object))
        length = np.array([*(lengths.get(c, 0) if isinstance(c, str) else 0 for c in contigs), 0],
                          dtype=np.int64)[codes]  # code -1 (missing) -> the last: 0
        pos = sites["pos"].astype("Int64") if len(sites) else pd.Series(dtype="Int64")
        # hl.is_valid_locus: a contig of the reference and 1 <= pos <= its length.
        valid = (pos.notna() & (pos >= 1) & (pos <= length)).fillna(False).to_numpy(bool)
        sites["contig"] = chrom.where(valid, None)  # type: ignore[call-overload]
        sites["position"] = pos.where(valid)
        sites["lift_negative_strand"] = False
        sites["liftover_failed"] = False
    sites.attrs["pgs_ids"] = [sf.pgs_id for sf in scoring_files]
    sites.attrs["rsid_only_files"] = [sf.path for sf in scoring_files if sf.positions_from == "rsid"]
    sites.attrs["score_files"] = [sf.path for sf in scoring_files]
    sites.attrs[DUPLICATES_DROPPED] = {}
    return sites


# What ``score_sites`` puts in its frame's ``attrs``, read back with ``sites_attr``.
SITES_ATTRS = ("pgs_ids", "rsid_only_files", "score_files", "duplicates_dropped")


def sites_attr(sites: pd.DataFrame, key: str) -> Any:
    """``sites.attrs[key]``, one of ``SITES_ATTRS`` as ``score_sites`` set it. Raises ValueError
    when it is not there: pandas drops ``attrs`` in some operations (``merge``, ``concat`` of
    frames with other attrs, a frame built anew from columns), and the default read before
    (no scores, no rsID-only files, nothing dropped) gave a wrong count or unplaced sites silently."""
    if key not in sites.attrs:
        raise ValueError(f"the score sites frame has lost its attrs[{key!r}] (a pandas operation that drops attrs, "
                         "e.g. merge, between score_sites and here): a bug")
    return sites.attrs[key]


def _reverse_complement_text(allele: str) -> str:
    return "".join(_COMPLEMENT[b] for b in reversed(allele))


def complement_bases(alleles: np.ndarray) -> np.ndarray:
    """Each allele (object array of str/None) complemented base by base, not reversed: the
    allele on the other strand read in the same direction, as the matcher flips (``TAC`` ->
    ``ATG``); None where the allele is missing or not wholly ``A``/``C``/``G``/``T``.
    Source: pgsc_calc's ``complement_valid_alleles`` (pgscatalog match preprocess). Its
    minimal form is the minimal form's complement (the trimming compares bases, which
    complementing keeps equal or unequal), so a flip matched on the minimal SNV ``A/G`` is
    the written ``TAC/TGC`` read as ``ATG/ACG``."""
    text = pd.Series(alleles, dtype=object)
    valid = text.str.fullmatch(r"[ACGT]+", na=False).to_numpy(bool)
    out = np.full(len(text), None, dtype=object)
    out[valid] = text[valid].str.translate(_COMPLEMENT_TABLE).to_numpy(object)
    return out


MISSING_ALLELE_CODES = ("0", ".")


def missing_allele(alleles: pd.Series) -> np.ndarray:
    """Whether each allele is a missing-allele code: PLINK 1's ``0``, plink2's and VCF's ``.``,
    or absent (Hail's row of a VCF record with ALT ``.`` has one allele)."""
    return (alleles.isna() | alleles.isin(MISSING_ALLELE_CODES)).to_numpy(bool)


def _distinct_rows(pairs: pd.DataFrame, lo: pd.Series, hi: pd.Series, snv: pd.Series, n: int) -> np.ndarray:
    """Per score site (0..n-1): the distinct genotype rows among ``match_sites_frame``'s
    ``pairs`` at its locus (``lo``/``hi``: each row's minimal [ref, alt], an SNV's in sorted
    order), the rest being repeats of them.

    A row written with a missing second allele (PLINK 1's ``0``, ``.``, Hail's one-allele row:
    ``missing_allele``; a site monomorphic in one chunk or batch, ``G .``) is the same site as an
    SNV row at the locus holding its present allele (``G>A`` or ``A>G``), and as another such row
    of that allele (``0 G`` beside ``. G``): a repeat. Counted as distinct [ref, alt] pairs before
    session 50, such rows were no repeat, and the matcher scored whichever sorted first (the
    monomorphic row: a sample called on the other row only was read as missing there, or its
    genotype taken from neither; field case monomorphic-row-beside-snv,
    tests/test_field_cases_round44_pgs.py)."""
    keys = pd.DataFrame({"site": pairs["site"], "a": lo, "b": hi})
    miss_ref, miss_alt = missing_allele(pairs["w_ref"]), missing_allele(pairs["w_alt"])
    coded = miss_ref ^ miss_alt
    if coded.any():
        present = np.where(miss_alt, pairs["w_ref"].to_numpy(object), pairs["w_alt"].to_numpy(object))
        keys.loc[coded, "a"], keys.loc[coded, "b"] = present[coded], "."
        site = pairs["site"].to_numpy(np.int64)
        called = ~coded & snv.to_numpy(bool)
        snv_alleles = pd.MultiIndex.from_arrays([np.concatenate([site[called], site[called]]),
                                                 np.concatenate([lo.to_numpy(object)[called],
                                                                 hi.to_numpy(object)[called]])])
        keys = keys[~(coded & pd.MultiIndex.from_arrays([site, present]).isin(snv_alleles))]
    return np.bincount(keys.drop_duplicates()["site"].to_numpy(np.int64), minlength=n)


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise text equality; a missing value (None/NaN) equals nothing."""
    return np.asarray(pd.Series(a, dtype=object).eq(pd.Series(b, dtype=object)).to_numpy(), dtype=bool) & \
        pd.notna(a) & pd.notna(b)


# The separator of several IDs in one genotype row's ID (VCF 4.3 section 1.6.1, column ID).
RSID_SEPARATOR = ";"


def place_sites_by_rsid(sites: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of rsID-only files (``by_rsid``) get the
    ``contig``/``position`` (and chrom/pos) of the genotype rows with the same ``rsid`` (one of
    the row's IDs when it lists several, ``rs1;rs2``); missing when the rsID is absent or on
    several loci. ``rows``: the genotype rows (``contig``,
    ``position``, ``rsid``). Raises InputDataError when rsID-only files meet rows without rsIDs."""
    files = sites_attr(sites, "rsid_only_files")
    by = sites["by_rsid"].to_numpy(bool)
    if not files or not by.any():
        return sites
    if "rsid" not in rows.columns:
        raise _no_rsids(files)
    wanted = sites["rsid"][by & sites["rsid"].notna().to_numpy()]
    # A row's ID may list several (VCF: "rs1;rs2"): the row carries each of them.
    ids = rows[["rsid", "contig", "position"]].dropna(subset=["rsid"])
    ids = ids.assign(rsid=ids["rsid"].str.split(RSID_SEPARATOR, regex=False)).explode("rsid")
    hits = ids.loc[ids["rsid"].isin(set(wanted))].drop_duplicates()
    n_loci = hits.groupby("rsid")["contig"].transform("size")
    one = hits[n_loci == 1].set_index("rsid")
    out = sites.copy()
    contig = out["rsid"].map(one["contig"]).where(by, out["contig"])
    position = out["rsid"].map(one["position"]).astype("Int64").where(by, out["position"])
    out["contig"] = contig.astype(object).where(contig.notna(), None)  # type: ignore[call-overload]
    out["position"] = position
    out["chrom"] = out["chrom"].where(~by, out["contig"])
    out["pos"] = out["pos"].astype("Int64").where(~by, position).astype("Int32")
    return out


def minimal_alleles(position: np.ndarray, ref: np.ndarray, alt: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hail's ``min_rep`` of each ``[ref, alt]`` pair at ``position`` (int64), vectorised:
    the common suffix is trimmed while both alleles keep one base, then the common prefix,
    moving the position right (``TAA/TA`` -> ``TA/T``; ``AATAA/AACAA`` at 100 -> ``T/C`` at
    102). Returns new arrays (position int64, ref, alt object); a pair with a missing allele or
    a one-base allele (every SNV, every minimal indel, ``*``) is returned as it is, so only
    the rare non-minimal pairs are looped over."""
    position = np.asarray(position, dtype=np.int64).copy()
    ref, alt = np.asarray(ref, dtype=object).copy(), np.asarray(alt, dtype=object).copy()
    if not len(ref):
        return position, ref, alt
    lengths = [pd.Series(a, dtype=object).str.len().to_numpy(np.float64, na_value=0).astype(np.int64)
               for a in (ref, alt)]
    for i in np.flatnonzero((lengths[0] > 1) & (lengths[1] > 1)):
        r, a = ref[i], alt[i]
        while len(r) > 1 and len(a) > 1 and r[-1] == a[-1]:
            r, a = r[:-1], a[:-1]
        k = 0
        while len(r) - k > 1 and len(a) - k > 1 and r[k] == a[k]:
            k += 1
        position[i], ref[i], alt[i] = position[i] + k, r[k:], a[k:]
    return position, ref, alt


def unnormalised_indels(effect: np.ndarray, other: np.ndarray) -> np.ndarray:
    """bool per allele pair (object arrays, None when missing) in minimal representation
    (``minimal_alleles``): an indel written in a form no left-aligned VCF row holds, told from its
    alleles alone (no reference sequence needed):

    - anchored on its left (the shorter allele one base, the longer's first) with the anchor equal
      to the inserted or deleted sequence's last base: it shifts left (``C/CAC`` is ``CA`` deleted
      one base before; ``T/TT`` one base on is ``T/TT`` a base before; vt normalize's and
      bcftools norm's left-alignment would move it);
    - anchored on its right (the shorter allele one base, the longer's last and not its first:
      ``AGC/C``, REF and ALT sharing a suffix; VCF anchors an indel on the base before it).

    A pair with a missing allele, equal lengths, or no one-base allele (``AT/GCC``) is False."""
    e = pd.Series(np.asarray(effect, dtype=object), dtype=object)
    o = pd.Series(np.asarray(other, dtype=object), dtype=object)
    le = e.str.len().to_numpy("float64", na_value=np.nan)
    lo = o.str.len().to_numpy("float64", na_value=np.nan)
    out = np.zeros(len(e), dtype=bool)
    ev, ov = e.to_numpy(object), o.to_numpy(object)
    for i in np.flatnonzero(((le == 1) & (lo > 1)) | ((lo == 1) & (le > 1))).tolist():
        short, long_ = (str(ev[i]), str(ov[i])) if le[i] == 1 else (str(ov[i]), str(ev[i]))
        out[i] = long_[0] == long_[-1] if long_[0] == short else long_[-1] == short
    return out


# How far right of a left-aligned score indel (bases) a genotype row holding the same indel
# shifted right is looked for (``shifted_genotype_indels``); a repeat longer than this is not
# searched to its end.
SHIFT_WINDOW = 100


def _left_anchored_indels(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per allele pair (object arrays, None when missing): whether it is an indel anchored on its
    left (one allele one base, the other longer and starting with it), the inserted or deleted
    sequence (the longer allele without its anchor; '' elsewhere) and whether that sequence ends
    with the anchor base (``unnormalised_indels``' first case: the indel shifts left)."""
    a = pd.Series(np.asarray(first, dtype=object), dtype=object)
    b = pd.Series(np.asarray(second, dtype=object), dtype=object)
    la = a.str.len().to_numpy("float64", na_value=np.nan)
    lb = b.str.len().to_numpy("float64", na_value=np.nan)
    at = np.flatnonzero(((la == 1) & (lb > 1)) | ((lb == 1) & (la > 1)))
    indel = np.zeros(len(a), dtype=bool)
    seq = np.full(len(a), "", dtype=object)
    shifts = np.zeros(len(a), dtype=bool)
    av, bv = a.to_numpy(object), b.to_numpy(object)
    for i in at.tolist():
        short, long_ = (str(av[i]), str(bv[i])) if la[i] == 1 else (str(bv[i]), str(av[i]))
        if long_[0] == short:
            indel[i], seq[i], shifts[i] = True, long_[1:], long_[-1] == short
    return indel, seq, shifts


def movable_indels(ref: np.ndarray, alt: np.ndarray, right_anchored: bool) -> np.ndarray:
    """bool per allele pair in minimal form (object arrays): an indel a left-alignment moves, i.e.
    written shifted right (``_left_anchored_indels``: its anchor its sequence's last base) or,
    with ``right_anchored``, anchored on its right too (``unnormalised_indels``: both cases)."""
    if right_anchored:
        return unnormalised_indels(ref, alt)
    indel, _, shifts = _left_anchored_indels(ref, alt)
    return indel & shifts


# ``left_aligned_rows``' column (bool): the row's file record was moved by the FASTA; and
# ``left_aligned_sites``' (bool): the score site was.
LEFT_ALIGNED = "left_aligned"
SCORE_LEFT_ALIGNED = "score_left_aligned"
# ``left_aligned_rows``' column (bool): the row was looked at and is still an indel written shifted
# (another alt of its record kept the record from moving, or a spanning deletion's record).
STILL_SHIFTED = "still_shifted"
# ``left_aligned_sites``' column (float): 1.0 when the FASTA reads a score indel's effect allele as
# its REF, 0.0 when it reads the other allele so, NaN when both or neither (or no indel): the
# matcher then takes only that orientation (an indel pair alone does not say which allele is REF).
SCORE_EFFECT_IS_REF = "score_effect_is_ref"
# ``left_aligned_sites``' columns: the score's alleles as its file writes them (put back by ``written_alleles``).
_WRITTEN_EFFECT, _WRITTEN_OTHER = "written_effect_allele", "written_other_allele"


def left_aligned_rows(rows: pd.DataFrame, reference: ReferenceFasta, near: ShiftWindows | None,
                      offsets: dict[str, int]) -> tuple[pd.DataFrame, int]:
    """``rows`` (genotype rows as ``match_sites_frame`` takes them) as the match sees them with
    ``pgs.reference_fasta``: each file record (contig, its position and REF as written,
    ``file_rows``) holding an alt whose minimal form is an indel written shifted right
    (``_left_anchored_indels``: its anchor its sequence's last base) or anchored on its right
    (``AG>G``, ``unnormalised_indels``) inside ``near``'s windows,
    unless one of its alts is, as written, a score site (``ShiftWindows.written``: matched as
    written, as without the FASTA),
    (``ShiftWindows.of`` with the FASTA; ``offsets``: the reference's ``global_positions_dict``)
    left-aligned with all its alts (``ReferenceFasta.left_align``, as ``bcftools norm -f``), its
    rows' ``position``/``ref``/``alt`` the minimal form of each alt of the new record and their
    ``site_position``/``site_ref``/``site_alt`` the new record. The same rows in the same order
    (``matched_row`` indexes the caller's rows), with ``LEFT_ALIGNED`` (bool: the row's record
    moved) and ``STILL_SHIFTED`` (bool: looked at, its alt still an indel written not left-aligned:
    another alt of its record stopped the move, ``1004 GAG>G,TAG`` kept at ``1002 GAG>G,GAT``, or a
    spanning deletion's record; ``match_sites_frame`` counts a score indel it holds shifted as
    ``not_found_unnormalised``) when any is so; the caller keeps its own rows for scoring (the file's
    record, as written). Returns the frame (``rows`` itself when nothing moved) and the number of file
    records moved. A multi-allelic record moves whole, as ``bcftools norm -f`` without ``-m``
    moves it (docs/pgs.md "Indel representations": why not each alt alone). Errors:
    ``ReferenceFasta``'s (a REF not the FASTA's, a contig or position it lacks: one InputDataError
    naming the FASTA, the genotypes and the record)."""
    if near is None or not len(rows):
        return rows, 0
    m_pos, m_ref, m_alt = minimal_alleles(rows["position"].to_numpy(np.int64), rows["ref"].to_numpy(object),
                                          rows["alt"].to_numpy(object))
    contig = rows["contig"].to_numpy(object)
    start = pd.Series(contig, dtype=object).map(offsets).to_numpy("float64", na_value=np.nan)
    inside = ~np.isnan(start)
    inside[inside] = near.contains(start[inside].astype(np.int64) + m_pos[inside] - 1)
    at = np.flatnonzero(inside)
    if not len(at):
        return rows, 0
    at = at[unnormalised_indels(m_ref[at], m_alt[at])]
    if not len(at):
        return rows, 0
    g_pos, g_ref, g_alt = file_rows(rows)
    keys = pd.MultiIndex.from_arrays([contig, g_pos, g_ref])
    wanted = keys[at].unique()
    members = np.flatnonzero(keys.isin(wanted))
    position = rows["position"].to_numpy(np.int64).copy()
    ref, alt = rows["ref"].to_numpy(object).copy(), rows["alt"].to_numpy(object).copy()
    s_pos, s_ref, s_alt = g_pos.copy(), g_ref.copy(), g_alt.copy()
    moved = 0
    flag, still = np.zeros(len(rows), dtype=bool), np.zeros(len(rows), dtype=bool)
    by_record = pd.Series(members).groupby(keys[members].to_flat_index(), sort=False)
    for (c, p, r), idx in by_record:
        rows_of = idx.to_numpy(np.int64)
        if near.written and any((str(c), int(m_pos[i]), str(m_ref[i]), str(m_alt[i])) in near.written
                                for i in rows_of.tolist()):
            continue  # a score site written as this record writes it: the match as written wins
        alts = list(dict.fromkeys(str(a) for a in g_alt[rows_of]))
        if any(a in ("*", ".", "") or not a.isalpha() for a in [r, *alts]):
            # A spanning deletion or a missing code: not moved (bcftools leaves them too).
            still[rows_of] = unnormalised_indels(m_ref[rows_of], m_alt[rows_of])
            continue
        new_pos, new = reference.left_align(str(c), int(p), [str(r), *alts])
        if new_pos == p and new[0] == r:
            still[rows_of] = unnormalised_indels(m_ref[rows_of], m_alt[rows_of])
            continue
        moved += 1
        flag[rows_of] = True
        for i in rows_of.tolist():
            a = new[1 + alts.index(str(g_alt[i]))]
            s_pos[i], s_ref[i], s_alt[i] = new_pos, new[0], a
            mp, mr, ma = minimal_alleles(np.array([new_pos], np.int64), np.array([new[0]], dtype=object),
                                         np.array([a], dtype=object))
            position[i], ref[i], alt[i] = mp[0], mr[0], ma[0]
        still[rows_of] = unnormalised_indels(ref[rows_of], alt[rows_of])
    if not moved and not still.any():
        return rows, 0
    out = rows.copy()
    out["position"], out["ref"], out["alt"] = position, ref, alt
    out[SITE_POSITION], out[SITE_REF], out[SITE_ALT] = s_pos, s_ref, s_alt
    out[LEFT_ALIGNED], out[STILL_SHIFTED] = flag, still
    return out, moved


def left_aligned_sites(sites: pd.DataFrame, reference: ReferenceFasta) -> tuple[pd.DataFrame, int]:
    """``score_sites``' frame as the match sees it with ``pgs.reference_fasta``: each placed site
    whose pair, in minimal form, is an indel written not left-aligned (shifted right in a repeat,
    or anchored on its right: ``unnormalised_indels``; a PGS Catalog file not normalised) moved to
    its left-aligned form (``ReferenceFasta.left_align_pair``: ``position`` and both alleles, e.g.
    ``1002 G/GAG`` -> ``1000 C/CAG``), so it meets its genotype record however that is written
    (a record written shifted is left-aligned too, ``left_aligned_rows``), and Hail's routes collect
    the rows at its left-aligned locus and in its repeat. A pair neither of whose alleles is the
    FASTA's bases there stays as written (matched as without the FASTA). The same sites in the same
    order, with ``SCORE_LEFT_ALIGNED`` (bool) and the file's alleles kept for the outputs
    (``written_alleles`` puts them back after the match: variant_matches shows the score file's
    alleles, ``pos`` its position). Returns the frame (``sites`` itself when none moved) and the
    number of sites moved. Errors: ``ReferenceFasta.bases``' (a contig or position the FASTA lacks)."""
    if not len(sites):
        return sites, 0
    position, ea, oa, _, _ = minimal_site_alleles(sites)
    contig = sites["contig"].to_numpy(object)
    ok = position.notna().to_numpy() & pd.notna(contig) & pd.notna(oa) & pd.notna(ea) \
        & ~sites["liftover_failed"].to_numpy(bool)
    at = np.flatnonzero(ok)
    at = at[unnormalised_indels(ea[at], oa[at])]
    new_pos = position.to_numpy("int64", na_value=0).copy()
    new_e, new_o = sites["effect_allele"].to_numpy(object).copy(), sites["other_allele"].to_numpy(object).copy()
    moved = np.zeros(len(sites), dtype=bool)
    for i in at.tolist():
        got = reference.left_align_pair(str(contig[i]), int(new_pos[i]), str(ea[i]), str(oa[i]))
        if got is None:
            continue
        new_pos[i], new_e[i], new_o[i] = got
        moved[i] = True
    # Every placed indel's reading from the FASTA (moved or not): its pair alone names both the
    # insertion and the deletion, and both records may be near (benchmarks/diff_pgs_fasta.py,
    # session 57). Read on the alleles as the file writes them: 764 GCTTA/TTA before CG is the
    # insertion of GC (only TTA is the FASTA's), while moved to 761 AGC/A before GC both fit;
    # 45 TAACAAA/TACAAA before A: only TACAAA, while its minimal form TA/T fits both ways.
    _, _, _, w_ea, w_oa = minimal_site_alleles(sites)
    w_pos = sites["position"].to_numpy("int64", na_value=0)
    reading = np.full(len(sites), np.nan)
    for i in np.flatnonzero(ok).tolist():
        if len(str(ea[i])) != len(str(oa[i])):
            is_ref = reference.effect_is_ref(str(contig[i]), int(w_pos[i]), str(w_ea[i]), str(w_oa[i]))
            reading[i] = np.nan if is_ref is None else float(is_ref)
    if not moved.any():
        if np.isnan(reading).all():
            return sites, 0
        out = sites.assign(**{SCORE_EFFECT_IS_REF: reading})
        out.attrs = dict(sites.attrs)
        return out, 0
    out = sites.assign(**{_WRITTEN_EFFECT: sites["effect_allele"], _WRITTEN_OTHER: sites["other_allele"]})
    out[SCORE_EFFECT_IS_REF] = reading
    out["position"] = pd.Series(np.where(moved, new_pos, sites["position"].to_numpy("int64", na_value=0)),
                                index=sites.index, dtype="Int64").where(sites["position"].notna() | moved)
    out["effect_allele"], out["other_allele"] = new_e, new_o
    if "lift_negative_strand" in out:  # the moved alleles are on the reference's strand
        out["lift_negative_strand"] = out["lift_negative_strand"].to_numpy(bool) & ~moved
    out[SCORE_LEFT_ALIGNED] = moved
    out.attrs = dict(sites.attrs)
    return out, int(moved.sum())


def written_alleles(matched: pd.DataFrame) -> pd.DataFrame:
    """``match_sites_frame``'s sites with the score file's alleles back where
    ``left_aligned_sites`` moved them (its columns dropped; ``position`` stays the one matched)."""
    if _WRITTEN_EFFECT not in matched:
        return matched
    out = matched.assign(effect_allele=matched[_WRITTEN_EFFECT], other_allele=matched[_WRITTEN_OTHER]).drop(
        columns=[_WRITTEN_EFFECT, _WRITTEN_OTHER])
    out.attrs = dict(matched.attrs)
    return out


def _minimal_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows``' ``contig``, ``position``, ``ref``, ``alt`` in minimal representation (``minimal_alleles``)."""
    position, ref, alt = minimal_alleles(rows["position"].to_numpy(np.int64), rows["ref"].to_numpy(object),
                                         rows["alt"].to_numpy(object))
    return pd.DataFrame({"contig": rows["contig"].to_numpy(object), "position": position, "ref": ref, "alt": alt})


def shifted_genotype_indels(contig: np.ndarray, position: np.ndarray, effect: np.ndarray, other: np.ndarray,
                            rows: pd.DataFrame, window: int = SHIFT_WINDOW) -> np.ndarray:
    """bool per score site (``contig`` object, ``position`` int64, ``effect``/``other`` object, in
    minimal representation, ``minimal_alleles``): a left-aligned indel (anchored on its left,
    its sequence not ending with the anchor base) for which ``rows`` (genotype rows: ``contig``,
    ``position``, ``ref``, ``alt``, in minimal representation) hold a row written not
    left-aligned that is, as far as the two rows' alleles tell, the same indel shifted right
    in a repeat: at q in (p, p + ``window``], an indel of the same length whose sequence is the
    score's rotated by q - p (the sequence a deletion or insertion of a repeat unit reads
    after a shift of d bases) and ends with its own anchor base (``unnormalised_indels``: no
    left-aligned file writes it). E.g. in ``CAGAGT`` from 100, the score's ``C/CAG`` at 100 and
    the row ``GAG>G`` at 102 (the same AG deleted, written 2 bases on); in ``CAAT``, ``C/CA`` at
    100 and ``A>AA`` at 101 (one more A).

    Exact where the two rows cover every base between them (a deletion shifted at most its
    length plus one); further, the bases between are unknown and the rows may name two
    variants of one unit in two repeats: either way the score variant is only counted as not
    found for this reason (``not_found_unnormalised``), never scored: the shift is only sure
    with the reference sequence (``bcftools norm -f``). Either reading of the score's pair
    (insertion or deletion: the alleles do not say which is REF) is taken.
    Cost: a factorize and sort of the rows' keys, then a loop over the rows within
    ``window`` of each candidate (few: not-found indels)."""
    n = len(position)
    out = np.zeros(n, dtype=bool)
    indel, seq, shifts = _left_anchored_indels(effect, other)
    cand = np.flatnonzero(indel & ~shifts)
    if not len(cand) or not len(rows):
        return out
    r_contig = rows["contig"].to_numpy(object)
    codes, uniques = pd.factorize(pd.Series(np.concatenate([r_contig, np.asarray(contig, dtype=object)[cand]]),
                                            dtype=object))
    r_codes, s_codes = codes[: len(r_contig)].astype(np.int64), codes[len(r_contig):].astype(np.int64)
    key = (r_codes << 32) + rows["position"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    s_key = (s_codes << 32) + np.asarray(position, np.int64)[cand]
    lo = np.searchsorted(sorted_key, s_key, side="right")
    hi = np.searchsorted(sorted_key, s_key + window, side="right")
    near = np.flatnonzero(hi > lo)
    if not len(near):
        return out
    counts = (hi - lo)[near]
    pick = order[np.concatenate([np.arange(a, b) for a, b in zip(lo[near], hi[near], strict=True)])]
    r_indel, r_seq, r_shifts = _left_anchored_indels(rows["ref"].to_numpy(object)[pick],
                                                      rows["alt"].to_numpy(object)[pick])
    r_pos = rows["position"].to_numpy(np.int64)[pick]
    site = np.repeat(cand[near], counts)
    p = np.asarray(position, np.int64)
    for j in np.flatnonzero(r_indel & r_shifts).tolist():
        i = int(site[j])
        s, t = str(seq[i]), str(r_seq[j])
        if len(s) != len(t) or out[i]:
            continue
        d = int(r_pos[j] - p[i]) % len(s)
        out[i] = s[d:] + s[:d] == t
    return out


def minimal_site_alleles(sites: pd.DataFrame) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The score sites' alleles as the matcher compares them: ``position`` (Int64, NA when
    unplaced), ``effect_allele`` and ``other_allele`` in minimal representation
    (``minimal_alleles`` of ``[other, effect]``; the trimming is symmetric, so either allele
    may be the REF; a site without ``other_allele`` keeps its position and effect allele), then
    the effect and other alleles as written; all reverse-complemented first on a
    negative-strand liftover block."""
    neg = sites["lift_negative_strand"].to_numpy(bool) if "lift_negative_strand" in sites else \
        np.zeros(len(sites), dtype=bool)
    ea = sites["effect_allele"].to_numpy(object).copy()
    oa = sites["other_allele"].to_numpy(object).copy()
    for i in np.flatnonzero(neg):  # a lifted site on a negative-strand chain block (rare)
        ea[i] = _reverse_complement_text(ea[i])
        oa[i] = None if oa[i] is None or pd.isna(oa[i]) else _reverse_complement_text(oa[i])
    written_ea, written_oa = ea.copy(), oa.copy()
    position = sites["position"].astype("Int64")
    both = np.flatnonzero(position.notna().to_numpy() & pd.notna(oa) & pd.notna(ea))
    if len(both):
        p, o, e = minimal_alleles(position.to_numpy("int64", na_value=0)[both], oa[both], ea[both])
        oa[both], ea[both] = o, e
        values = position.to_numpy("int64", na_value=0)
        values[both] = p
        position = pd.Series(values, index=position.index, dtype="Int64").where(position.notna())
    return position, ea, oa, written_ea, written_oa


def file_rows(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each genotype row's position (int64), REF and alt as its file writes them:
    ``genotypes.SITE_POSITION``/``SITE_REF``/``SITE_ALT`` where given (Hail's split rows), else
    (and where missing) the row's own ``position``/``ref``/``alt``."""
    out = []
    for own, site in (("position", SITE_POSITION), ("ref", SITE_REF), ("alt", SITE_ALT)):
        values = rows[own] if site not in rows else rows[site].where(rows[site].notna(), rows[own])
        out.append(values.to_numpy(np.int64 if own == "position" else object))
    return out[0], out[1], out[2]


def _other_alt_rows(rows: pd.DataFrame, matched_row: np.ndarray, effect_is_ref: np.ndarray,
                    whole_ref: np.ndarray | None = None) -> pd.Series:
    """Per site (one entry per ``matched_row``), the indices of the ``rows`` whose alt copies a
    REF effect allele also loses: the rows split from the same file row as the matched one
    (same contig, ``site_position`` and ``site_ref``, the file's own position and REF; rows
    without those columns are their own file row), i.e. the other alts of a multi-allelic
    record, whatever minimal REF each took (``AT>ATT,A`` is ``A>AT`` and ``AT>A``), and the
    rows of a site given already split (one line per alt, same position and REF). Empty tuples
    for the other sites. Source: plink2 ``--score``'s REF dosage = ploidy - all alt dosages.

    ``whole_ref`` (bool per site; None: all True): the score's effect allele is the file row's
    REF as written, at its position (plink2's rule above). Where False the effect allele is a
    part of a longer REF, met in minimal form (an SNV A/G at a record ``AT>GT,A``), and only the
    other alts that change its bases count (``_alters_bases``): a deletion anchored on its last
    base (``AT>A``) keeps it, as plink2 scores the record's normalised split (``A>G`` and
    ``AT>A``: 2 - G copies); before, such carriers lost a copy each."""
    other: list[tuple[int, ...]] = [()] * len(matched_row)
    at = np.flatnonzero(effect_is_ref & (matched_row >= 0))
    if not len(at):
        return pd.Series(other, dtype=object)
    g_position, g_ref, g_alt = file_rows(rows)
    g_contig = rows["contig"].to_numpy(object)
    # Only a position with two or more rows can hold another alt of the matched row (one
    # ``duplicated`` over the rows' int64 positions; the object merge below then runs on those
    # few rows instead of every REF-effect site: ~0.4 s at 61 x 200k, issue 16, session 19).
    at = at[_shared_positions(g_position)[matched_row[at]]]
    if not len(at):
        return pd.Series(other, dtype=object)
    m = matched_row[at]
    want = pd.DataFrame({"site": at, "contig": g_contig[m], "gp": g_position[m], "gr": g_ref[m], "ga": g_alt[m]})
    near = np.flatnonzero(np.isin(g_position, want["gp"].unique()))
    cand = pd.DataFrame({"row": near, "contig": g_contig[near], "gp": g_position[near], "gr": g_ref[near],
                         "alt": g_alt[near]})
    hits = want.merge(cand, on=["contig", "gp", "gr"])
    # Other alleles than the matched row's (a repeated row is an error of its own).
    hits = hits[hits["alt"] != hits["ga"]].sort_values(["site", "row"])
    if whole_ref is not None and not whole_ref[hits["site"].to_numpy(np.int64)].all():
        hits = hits[_alters_bases(rows, hits["site"].to_numpy(np.int64), matched_row, hits["row"].to_numpy(np.int64),
                                  whole_ref)]
    site, row = hits["site"].to_numpy(np.int64), hits["row"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(site) != 0]) if len(site) else np.empty(0, np.int64)
    for a, b in zip(starts, np.r_[starts[1:], len(site)]):
        other[int(site[a])] = tuple(int(r) for r in row[a:b])
    return pd.Series(other, dtype=object)


def _alters_bases(rows: pd.DataFrame, site: np.ndarray, matched_row: np.ndarray, other_row: np.ndarray,
                  whole_ref: np.ndarray) -> np.ndarray:
    """For pairs (a REF-effect site, another alt row of its file row): True when that alt's copies
    are not the effect allele's. Always where ``whole_ref[site]`` (plink2's rule) or the alt is
    no sequence (``*``, a symbolic allele: the base is gone). Else the effect allele is the
    matched row's minimal REF, the bases ``[p, p + len - 1]`` (``minimal_alleles``), and the alt
    (in minimal form at q) changes bases ``[q + 1, q + len(ref) - 1]`` as a deletion (its anchor
    base q kept), ``[q, q]`` as an insertion (after q: counted as a change of q, plink2's rule
    for ``A>G,AT``'s REF A), else ``[q, q + len(ref) - 1]`` (SNV, MNP, complex): True when these
    overlap. Why: a record joining an SNV and a deletion at one base (``AT>GT,A``, as a VDS or a
    joint-called VCF writes them) made every deletion carrier lose a copy of the SNV's REF A,
    which the deletion keeps (plink2 on the normalised split ``A>G``, ``AT>A``: 2 - G copies)."""
    m = matched_row[site]
    both = np.concatenate([m, other_row])
    p, ref, alt = minimal_alleles(rows["position"].to_numpy(np.int64)[both], rows["ref"].to_numpy(object)[both],
                                  rows["alt"].to_numpy(object)[both])
    k = len(site)
    start = p[:k]
    end = start + pd.Series(ref[:k], dtype=object).str.len().to_numpy(np.int64) - 1
    q, o_ref, o_alt = p[k:], pd.Series(ref[k:], dtype=object).fillna(""), pd.Series(alt[k:], dtype=object).fillna("")
    r_len, a_len = o_ref.str.len().to_numpy(np.int64), o_alt.str.len().to_numpy(np.int64)
    first = o_ref.str[:1].to_numpy(object)
    deletion = (a_len == 1) & (r_len > 1) & (o_alt.to_numpy(object) == first)
    insertion = (r_len == 1) & (a_len > 1) & (o_alt.str[:1].to_numpy(object) == first)
    o_start = np.where(deletion, q + 1, q)
    o_end = np.where(insertion, q, q + r_len - 1)
    sequence = o_alt.str.fullmatch(r"[ACGT]+").to_numpy(bool)
    return whole_ref[site] | ~sequence | ((o_start <= end) & (o_end >= start))


def multiallelic_rows(rows: pd.DataFrame) -> np.ndarray:
    """True on each genotype row that is one alt of a multi-allelic site: another row has the
    same contig, position and REF as their file writes them (``file_rows``: the alts of one
    VCF/MT record split by Hail, or a site given split, one line per alt) and another alt
    (``*`` counts). pgsc_calc flags such target variants ``is_multiallelic`` and by default
    leaves them out; here they are scored (plink2's rule) and counted
    (``n_matched_multiallelic``). An empty ``rows`` gives an empty array."""
    out = np.zeros(len(rows), dtype=bool)
    g_position, g_ref, g_alt = file_rows(rows)
    at = np.flatnonzero(_shared_positions(g_position))  # only shared positions can hold one
    if len(at):
        f = pd.DataFrame({"contig": rows["contig"].to_numpy(object)[at], "gp": g_position[at], "gr": g_ref[at],
                          "ga": g_alt[at]})
        out[at] = f.groupby(["contig", "gp", "gr"], sort=False)["ga"].transform("nunique").to_numpy() > 1
    return out


def _shared_positions(position: np.ndarray) -> np.ndarray:
    """True on each genotype row whose position (as the file writes it, any contig) is also
    another row's: a superset of the rows sharing their (contig, position)."""
    return pd.Series(position, copy=False).duplicated(keep=False).to_numpy(bool)


_BASES = ("A", "C", "G", "T")


def swapped_site_refs(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, int], str]]:
    """The SNV sites written as biallelic rows that do not all hold the site's REF as REF
    (``_swapped_row_sites``' rule): ``rows`` (columns ``contig``, ``gp``, ``gr``, ``ga``: the
    position, REF and alt as the file writes them, any others kept) cut to the rows at positions
    with more than one REF as written, and per (contig, position) whose rows are all SNVs (two
    alleles of A/C/G/T each), at least two, sharing exactly one allele: that allele, the site's
    REF. Such rows come from plink 1.9's A1/A2 by frequency (``--bmerge`` keeps each source's
    rows) and from a BGEN written REF-last (plink2 ``--export bgen-1.2`` without ``ref-first``:
    the REF is each record's second allele, which a reader taking the first as REF, as Hail and
    ``bgen_reader`` do, sees as the alt of every row: ``C,A`` and ``G,A`` for A>C,G). Used by
    matching (the REF effect allele's dosage) and by ``pgen_engine.split_site_sums`` (the
    site's alt copies checked), one rule. Loops over those positions only (rare: a split site
    written REF-first shares one REF)."""
    rows = rows[rows.groupby(["contig", "gp"])["gr"].transform("nunique") > 1]
    groups: dict[tuple[str, int], str] = {}
    key: Any
    for key, g in rows.groupby(["contig", "gp"]):
        alleles = [set(x) for x in zip(g["gr"], g["ga"])]
        if not all(a <= set(_BASES) and len(a) == 2 for a in alleles):
            continue
        shared = set.intersection(*alleles)
        if len(shared) == 1:
            groups[(str(key[0]), int(key[1]))] = shared.pop()
    return rows, groups


def _swapped_row_sites(rows: pd.DataFrame, matched_row: np.ndarray, match_type: np.ndarray,
                       other: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A multi-allelic SNV site written as several biallelic rows that do not all put its REF
    in the REF column (PLINK 1 .bim rows: plink 1.9 writes the major allele as A2, and
    ``--bmerge`` keeps each source's rows; ``1 rs5a 0 5000 A G`` + ``1 rs5t 0 5000 G T`` for
    G>A,T): the site's REF is the one allele every row at the position has (all rows SNVs, at
    least two, not all with one REF, exactly one shared allele). A score whose effect allele is
    that REF (matched on either row) scores ``2 - copies of every other allele``: each row with
    the REF as REF gives its alt copies (``other_alt_rows``), each row with the REF as alt
    gives ``2 - alt copies`` (``other_ref_rows``: ``weight_matrices`` puts +w and -2w on
    them). Returns ``(other_alt_rows, other_ref_rows)`` per site (``other`` updated; empty
    tuples elsewhere). Before: the rows did not share a REF as written, so G scored ``2 - A``
    at rs5a or rs5t's own G count, where A copies are counted as G."""
    swapped: list[tuple[int, ...]] = [()] * len(matched_row)
    used = matched_row >= 0
    if not used.any():
        return other, pd.Series(swapped, dtype=object)
    g_position, g_ref, g_alt = file_rows(rows)
    g_contig = rows["contig"].to_numpy(object)
    # A position of one row has one REF as written: only rows at shared positions can be
    # candidates (the grouping below then runs on those few rows, not on every matched one).
    at_shared = _shared_positions(g_position)
    near = np.flatnonzero(at_shared & np.isin(g_position, np.unique(g_position[matched_row[used]])))
    cand = pd.DataFrame({"row": near, "contig": g_contig[near], "gp": g_position[near], "gr": g_ref[near],
                         "ga": g_alt[near]})
    cand, groups = swapped_site_refs(cand)
    if not groups:
        return other, pd.Series(swapped, dtype=object)
    other_rows: list[tuple[int, ...]] = list(other)
    effect_as_alt = np.isin(match_type, ("ref_alt", "ref_alt_flipped"))
    for i in np.flatnonzero(used & np.isin(matched_row, cand["row"].to_numpy())):
        m = int(matched_row[i])
        ref = groups.get((g_contig[m], int(g_position[m])))
        if ref is None or (g_alt[m] if effect_as_alt[i] else g_ref[m]) != ref:
            continue
        g = cand[(cand["contig"] == g_contig[m]) & (cand["gp"] == g_position[m]) & (cand["row"] != m)]
        other_rows[i] = tuple(int(r) for r in g.loc[g["gr"] == ref, "row"])
        swapped[i] = tuple(int(r) for r in g.loc[g["ga"] == ref, "row"])
    return pd.Series(other_rows, dtype=object), pd.Series(swapped, dtype=object)


def rsid_duplicates(sites: pd.DataFrame, duplicate_variants: str = "error") -> pd.DataFrame:
    """The duplicate policy for the sites of rsID-only files once placed (``place_sites_by_rsid``):
    two rsIDs of one score (merged rsIDs, synonyms) placed on one locus with the same allele pair,
    in either order, are one variant listed twice, which the file's own check (by rsID) cannot
    see; its weight would be summed twice. ``duplicate_variants`` ``error`` (pgs.duplicate_variants):
    InputDataError at the later line, naming both rsIDs; ``first``: the later row is dropped from
    its site (its member arrays; counted, ``drop_members``). Other sites are returned unchanged."""
    by = sites["by_rsid"].to_numpy(bool) & sites["contig"].notna().to_numpy() & sites["position"].notna().to_numpy()
    if by.sum() < 2:
        return sites
    placed = sites[by]
    pair = [tuple(sorted((e, "" if o is None or o != o else o)))
            for e, o in zip(placed["effect_allele"], placed["other_allele"])]
    members = pd.DataFrame({
        "site": np.repeat(placed.index.to_numpy(), placed["member_score_index"].map(len).to_numpy()),
        "score": np.concatenate([np.asarray(a) for a in placed["member_score_index"]]),
        "line": np.concatenate([np.asarray(a) for a in placed["member_line"]]),
    })
    key = pd.DataFrame({"site": placed.index, "contig": placed["contig"].to_numpy(object),
                        "position": placed["position"].to_numpy(), "pair": pair})
    members = members.merge(key, on="site").sort_values(["score", "line"], kind="stable")
    later = members.duplicated(["score", "contig", "position", "pair"])
    if not later.any():
        return sites
    if duplicate_variants == "error":
        d = members[later].iloc[0]
        first = members[~later & (members["score"] == d["score"]) & (members["contig"] == d["contig"])
                        & (members["position"] == d["position"]) & (members["pair"] == d["pair"])].iloc[0]
        files = sites_attr(sites, "score_files")
        path = files[int(d["score"])] if int(d["score"]) < len(files) else "pgs.scoring_files"
        raise InputDataError(
            f"rsIDs {sites.at[first['site'], 'rsid']} (line {int(first['line'])}) and {sites.at[d['site'], 'rsid']} "
            f"are one variant in the genotypes ({d['contig']}:{int(d['position'])} {'/'.join(d['pair'])}), listed twice "
            f"({counted(int(later.sum()), 'such row')}; merged rsIDs?); set pgs.duplicate_variants: first to keep the first",
            where=f"{path}:{int(d['line'])}")
    dropped = members[later].assign(site=sites.index.get_indexer(members.loc[later, "site"]))
    return drop_members(sites, dropped, "two rsIDs placed on one variant (merged rsIDs?)")


def drop_members(sites: pd.DataFrame, dropped: pd.DataFrame, why: str) -> pd.DataFrame:
    """``sites`` (attrs kept) without the score rows of ``dropped`` (columns ``site``: a
    position in ``sites``, ``score``: the score index, ``line``: the row's file line) in their
    member arrays (``member_score_index``, ``member_weight``, ``member_line``): the duplicate
    policy ``first`` of ``rsid_duplicates`` and ``matched_duplicates``. Every drop is counted:
    one WARNING per score (``attrs['pgs_ids']``) with its number of rows dropped and ``why``,
    as the file's own check notes its drops (``scoring_files``: 'duplicate variant rows
    dropped'); the match summary's n_variants no longer counts them."""
    out = sites.copy()
    columns = {c: out[c].to_list() for c in ("member_score_index", "member_weight", "member_line")}
    site = dropped["site"].to_numpy(np.int64)
    for i in np.unique(site).tolist():
        drop = dropped[site == i]
        gone = set(zip(drop["score"].astype(int), drop["line"].astype(int)))
        keep = np.array([(int(sc), int(ln)) not in gone for sc, ln in
                         zip(columns["member_score_index"][i], columns["member_line"][i])], dtype=np.bool_)
        for values in columns.values():
            values[i] = np.asarray(values[i])[keep]
    for c, values in columns.items():
        out[c] = pd.Series(values, index=out.index, dtype=object)
    out.attrs = dict(sites.attrs)
    pgs_ids = sites_attr(sites, "pgs_ids")
    scores, counts = np.unique(dropped["score"].to_numpy(np.int64), return_counts=True)
    total = dict(sites_attr(sites, DUPLICATES_DROPPED))  # a new dict: attrs are shared by copies
    for score, n in zip(scores.tolist(), counts.tolist()):
        name = pgs_ids[score] if score < len(pgs_ids) else f"score {score}"
        log.warning("%s: %s dropped, %s: pgs.duplicate_variants first keeps the first line", name,
                    counted(n, "score row"), why)
        total[name] = total.get(name, 0) + n
    out.attrs[DUPLICATES_DROPPED] = total
    return out


# ``attrs`` key of a sites frame: pgs_id -> score rows ``drop_members`` dropped from it so far
# (``FrameMatches.duplicates_dropped``; the pgs manifest's notes.duplicate_rows_dropped).
DUPLICATES_DROPPED = "duplicates_dropped"


def upper_case_alleles(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with its allele columns (``ref``, ``alt`` and, where present, ``genotypes.SITE_REF``
    / ``SITE_ALT``) in upper case, same index and order; ``rows`` itself when no allele has a
    lower-case letter (judged on each column's distinct values: a 2M-row .pvar costs ~0.1 s).
    A base is the same base in either case (VCF 4.3 section 1.6.1: REF/ALT bases are
    case-insensitive); soft-masked references write repeats in lower case. Missing codes (``.``,
    ``0``), ``*`` and symbolic alleles are unchanged."""
    changed = {}
    for col in ("ref", "alt", SITE_REF, SITE_ALT):
        if col not in rows.columns:
            continue
        codes, uniques = pd.factorize(rows[col])
        upper = [str(u).upper() for u in uniques]
        if upper != [str(u) for u in uniques]:
            values = np.asarray([*upper, None], dtype=object)  # code -1 (missing) -> None
            changed[col] = pd.Series(values[codes], index=rows.index, dtype=object)
    if not changed:
        return rows
    out = rows.assign(**changed)
    out.attrs = dict(rows.attrs)
    return out


@small_pages()
def match_sites_frame(
    sites: pd.DataFrame, rows: pd.DataFrame, *, keep_ambiguous: bool, unreadable: Sequence[str] = (),
    duplicate_variants: str = "error", neighbours: pd.DataFrame | None = None, left_aligned: bool = False,
) -> pd.DataFrame:
    """Match score sites to genotype rows by the rules of the module doc: ``sites`` from
    ``score_sites``; ``rows`` the target's genotype rows, one per ``[ref, alt]`` (``contig``,
    ``position``, ``ref``, ``alt`` [, ``rsid``] [, ``site_position``, ``site_ref``, ``site_alt``:
    the file's own row they were split from, ``genotypes.SITE_POSITION``; default the row
    itself]; e.g.
    ``pgen_engine.variant_index``); ``unreadable``: loci (``chr4:1000000``) whose rows the
    reader skipped; ``neighbours``: more genotype rows (``contig``, ``position``, ``ref``,
    ``alt``), never matched, where a not-found indel's shifted form is also looked for
    (``shifted_genotype_indels``: Hail's routes collect rows at the score loci only,
    ``genotype_rows_at``'s ``near``); ``left_aligned``: ``rows`` near the score's indels were
    left-aligned against the reference FASTA (``left_aligned_rows``), so that rule is not
    applied but to the rows it could not move (``STILL_SHIFTED``: a row shaped so elsewhere is another
    variant, as the sequence says). Score and
    genotype alleles are compared in their minimal representation
    (``minimal_alleles``, Hail's ``min_rep``), so ``ATT``/``AT`` at a site written ``AT>ATT,A``
    is the row ``A>AT``.

    Returns ``sites`` (placed by rsID, ``place_sites_by_rsid``; rsIDs of one score placed on one
    variant under ``duplicate_variants``, ``rsid_duplicates``) plus ``match_type`` (str),
    ``matched_row`` (int64: the index into ``rows`` of the genotype row scored against, -1 when
    not used), ``effect_is_ref`` (bool), ``other_alt_rows`` (tuple of ``rows`` indices: the
    other alts of the matched row's file row, ``_other_alt_rows``, whose copies a REF effect
    allele loses), ``other_ref_rows`` (tuple of ``rows`` indices holding the site's REF as
    their alt, whose REF copies it loses: ``_swapped_row_sites``) and
    ``duplicate_genotype_rows`` (int: repeated ``[ref, alt]`` rows at the
    locus in minimal form, an SNV's ``[alt, ref]`` counting as a repeat of its ``[ref, alt]``, a
    row of one allele and a missing code as a repeat of an SNV row holding it: ``_distinct_rows``) and
    ``multiallelic`` (bool: a used match on one alt of a multi-allelic site, ``multiallelic_rows``)."""
    rows = upper_case_alleles(rows)
    s = rsid_duplicates(place_sites_by_rsid(sites, rows), duplicate_variants).reset_index(drop=True)
    n = len(s)
    contig = s["contig"].to_numpy(object)
    position = s["position"].astype("Int64")
    ea0 = s["effect_allele"].to_numpy(object)
    oa0 = s["other_allele"].to_numpy(object)
    m_position, ea, oa, w_ea, w_oa = minimal_site_alleles(s)
    placed = np.flatnonzero(pd.notna(contig) & m_position.notna().to_numpy())
    left = pd.DataFrame({"site": placed, "contig": contig[placed],
                         "position": m_position.to_numpy("int64", na_value=0)[placed]})
    r_position, r_ref, r_alt = minimal_alleles(rows["position"].to_numpy(np.int64), rows["ref"].to_numpy(object),
                                               rows["alt"].to_numpy(object))
    # Each row also as its file wrote it (the split's file row: position, REF and this alt).
    written = dict(zip(("position", "ref", "alt"), file_rows(rows)))
    right = pd.DataFrame({"row": np.arange(len(rows)), "contig": rows["contig"].to_numpy(object),
                          "position": r_position, "ref": r_ref, "alt": r_alt, "w_position": written["position"],
                          "w_ref": written["ref"], "w_alt": written["alt"]})
    # Pairs in Hail's key order within a site (alleles sorted): the first that fits a rule wins.
    pairs = left.merge(right, on=["contig", "position"], how="inner").sort_values(
        ["site", "ref", "alt"], kind="stable").reset_index(drop=True)
    site = pairs["site"].to_numpy(np.int64)
    ref, alt = pairs["ref"].to_numpy(object), pairs["alt"].to_numpy(object)
    n_pairs = np.bincount(site, minlength=n)
    # A repeated row: the same [ref, alt], one SNV written both ways (G>A and A>G at one
    # position: two sources with REF/ALT swapped; both would match and the weight count twice),
    # or one allele with a missing second allele beside an SNV holding it (_distinct_rows).
    snv = (pairs["ref"].str.len() == 1) & (pairs["alt"].str.len() == 1)
    lo = pairs["ref"].where(~snv | (pairs["ref"] <= pairs["alt"]), pairs["alt"])
    hi = pairs["alt"].where(~snv | (pairs["ref"] <= pairs["alt"]), pairs["ref"])
    n_distinct = _distinct_rows(pairs, lo, hi, snv, n)

    # A monomorphic site written with a missing second allele (PLINK 1 .bim '0', plink2 .bim/
    # .pvar and VCF ALT '.', Hail's one-allele row): its present allele is the site. A score whose
    # effect allele (as written) is that allele is matched with the missing code read as the
    # score's other allele (every called sample then carries 2 or 0 effect copies from the
    # file's own calls); an effect allele that is not the present one stays not_found, and no
    # strand flip is tried (the second allele is unknown). plink2 --score does the same (its
    # 'mismatching allele code' skip).
    missing_ref, missing_alt = missing_allele(pairs["w_ref"]), missing_allele(pairs["w_alt"])
    p_effect, p_other = w_ea[site], w_oa[site]
    to_other = pd.notna(p_other) & ((missing_alt & _eq(p_effect, pairs["w_ref"].to_numpy(object)))
                                    | (missing_ref & _eq(p_effect, pairs["w_alt"].to_numpy(object))))
    if (missing_ref | missing_alt).any():
        pairs = pairs.copy()
        for col in ("ref", "w_ref"):
            pairs[col] = pairs[col].where(~(missing_ref & to_other), p_other)
        for col in ("alt", "w_alt"):
            pairs[col] = pairs[col].where(~(missing_alt & to_other), p_other)
        ref, alt = pairs["ref"].to_numpy(object), pairs["alt"].to_numpy(object)
    missing_code_site = np.bincount(site[missing_ref | missing_alt], minlength=n) > 0

    comp = pd.Series(_COMPLEMENT)

    def complement(a: np.ndarray) -> np.ndarray:
        # Single bases only (Hail's _complement); anything else has no complement.
        return pd.Series(a, dtype=object).map(comp).to_numpy(object)

    has_oa = pd.notna(oa)
    c_ea, c_oa = complement(ea), complement(oa)
    p_has, p_single = has_oa[site], (n_pairs == 1)[site]

    w_ref, w_alt = pairs["w_ref"].to_numpy(object), pairs["w_alt"].to_numpy(object)
    as_written = pairs["w_position"].to_numpy(np.int64) == position.to_numpy("int64", na_value=0)[site]

    def rule(e: np.ndarray, o: np.ndarray, effect_is_alt: bool, alleles: tuple[np.ndarray, np.ndarray] = (ref, alt),
             among: np.ndarray | bool = True) -> np.ndarray:
        pe, po = e[site], o[site]
        other, effect = alleles if effect_is_alt else alleles[::-1]
        fits = np.where(p_has, _eq(pe, effect) & _eq(po, other), p_single & _eq(pe, effect)) & among
        first = np.full(n, -1, dtype=np.int64)  # index into pairs of the site's first fit
        hit = np.flatnonzero(fits)
        u, at = np.unique(site[hit], return_index=True)
        first[u] = hit[at]
        return first

    # The alleles as the score and the file write them (plink2 and pgsc_calc compare these),
    # else in minimal form when only one orientation fits: AT/ATT at AT>ATT,A is the REF AT as
    # written, but in minimal form both A>AT (the insertion, effect = REF) and AT>A (the
    # deletion, if the reference went on with a T) would fit; such a site is not_found.
    w_ra, w_ar = rule(w_ea, w_oa, True, (w_ref, w_alt), as_written), rule(w_ea, w_oa, False, (w_ref, w_alt), as_written)
    m_ra, m_ar = rule(ea, oa, True), rule(ea, oa, False)
    by_written = (w_ra >= 0) | (w_ar >= 0)
    one_way = (m_ra < 0) | (m_ar < 0)
    dra = np.where(by_written, w_ra, np.where(one_way, m_ra, -1))
    dar = np.where(by_written, w_ar, np.where(one_way, m_ar, -1))
    if SCORE_EFFECT_IS_REF in s:
        # With pgs.reference_fasta an indel whose REF the FASTA tells is matched in that
        # orientation alone (as written, else in minimal form): GCTTA/TTA is the insertion of
        # GC (761 A>AGC), never the deletion 761 AGC>A beside it.
        reading = s[SCORE_EFFECT_IS_REF].to_numpy(np.float64)
        is_alt, is_ref = reading == 0.0, reading == 1.0
        dra = np.where(is_ref, -1, np.where(is_alt, np.where(w_ra >= 0, w_ra, m_ra), dra))
        dar = np.where(is_alt, -1, np.where(is_ref, np.where(w_ar >= 0, w_ar, m_ar), dar))
    fra, far = rule(c_ea, c_oa, True), rule(c_ea, c_oa, False)
    # A score allele written as one of the locus's alleles (REF or any alt) is on the
    # genotypes' strand: its complement is another allele, never the same one.
    site_alleles = pd.MultiIndex.from_arrays([np.concatenate([site, site]), np.concatenate([ref, alt])])

    def at_site(a: np.ndarray) -> np.ndarray:
        text = pd.Series(a, dtype=object).fillna("").to_numpy(object)
        return pd.MultiIndex.from_arrays([np.arange(n), text]).isin(site_alleles)

    no_flip = at_site(ea) | at_site(oa) if len(pairs) else np.zeros(n, dtype=bool)
    no_flip |= missing_code_site
    # Ambiguity from the file's own alleles, or (no other allele) from the genotyped pair.
    pal_file = has_oa & _eq(complement(ea0), oa0) & (pd.Series(ea0, dtype=object).str.len().to_numpy() == 1)
    pal_pair = _eq(complement(ref), alt)

    def ambiguous(first: np.ndarray) -> np.ndarray:
        return np.where(has_oa, pal_file, (first >= 0) & pal_pair[np.maximum(first, 0)] if len(pairs) else False)

    drop = not keep_ambiguous
    unread = np.zeros(n, dtype=bool)
    if len(unreadable):
        skipped = set(unreadable)
        unread[placed] = [f"{c}:{p}" in skipped for c, p in zip(contig[placed], position.to_numpy()[placed])]
    conditions = [
        s["liftover_failed"].to_numpy(bool), unread,
        (dra >= 0) & ambiguous(dra) & drop, (dar >= 0) & ambiguous(dar) & drop,
        dra >= 0, dar >= 0, (fra >= 0) & ~ambiguous(fra) & ~no_flip, (far >= 0) & ~ambiguous(far) & ~no_flip,
    ]
    kinds = ["liftover_failed", "multiallelic_unreadable", "ambiguous_dropped", "ambiguous_dropped",
             "ref_alt", "alt_ref", "ref_alt_flipped", "alt_ref_flipped"]
    match_type = np.select(conditions, kinds, default="not_found")
    # A placed indel not found that no left-aligned genotype file can hold as written (shifted
    # right in a repeat, or anchored on its right): the same variant may be there left-aligned,
    # which needs the reference sequence to tell; counted apart (``unnormalised_indels``).
    nf = np.flatnonzero((match_type == "not_found") & m_position.notna().to_numpy() & pd.notna(contig))
    if len(nf):
        shifted = np.zeros(n, dtype=bool)
        shifted[nf[unnormalised_indels(ea[nf], oa[nf])]] = True
        # The reverse: a left-aligned score indel whose genotype row is written shifted right
        # (a genotype file not left-aligned), told from the two rows' alleles.
        rest = nf[~shifted[nf]]
        if not left_aligned:
            near = right if neighbours is None or not len(neighbours) else pd.concat(
                [right, _minimal_rows(upper_case_alleles(neighbours))], ignore_index=True)
        else:  # the sequence moved what it could: only the rows it could not move are still shifted
            near = right[rows[STILL_SHIFTED].to_numpy(bool)] if STILL_SHIFTED in rows else right.iloc[:0]
        if len(rest) and len(near):
            shifted[rest[shifted_genotype_indels(contig[rest], m_position.to_numpy("int64", na_value=0)[rest],
                                                 ea[rest], oa[rest], near)]] = True
        match_type = np.where(shifted, "not_found_unnormalised", match_type)
    chosen = np.select([match_type == t for t in USED_MATCH_TYPES], [dra, dar, fra, far], default=-1)
    pair_row = pairs["row"].to_numpy(np.int64)
    matched_row = np.where(chosen >= 0, pair_row[np.maximum(chosen, 0)] if len(pairs) else -1, -1)
    effect_is_ref = np.isin(match_type, EFFECT_IS_REF_TYPES)

    # The effect allele (complemented when flipped) is its file row's REF as written, at its
    # position: plink2's rule, every other alt; else only the alts that change its bases. The
    # flip complements the whole written allele (``complement_bases``: the one the minimal
    # match flipped), so TAC/TGC at ATG>ACG,ATC is the whole REF ATG as ATG/ACG is; the
    # single-base ``complement`` made it never whole (it lost no ATC copy: a score's strand
    # changed its carriers' scores, session 47).
    flipped = np.isin(match_type, ("ref_alt_flipped", "alt_ref_flipped"))
    used_ref = effect_is_ref & (matched_row >= 0)
    whole_ref = np.ones(n, dtype=bool)
    if used_ref.any():
        g_position, g_ref, _ = file_rows(rows)
        at = np.flatnonzero(used_ref)
        effect_written = np.where(flipped[at], complement_bases(w_ea[at]), w_ea[at])
        whole_ref[at] = (_eq(effect_written, g_ref[matched_row[at]])
                         & (position.to_numpy("int64", na_value=0)[at] == g_position[matched_row[at]]))
    other = _other_alt_rows(rows, matched_row, effect_is_ref, whole_ref)
    other, other_ref = _swapped_row_sites(rows, matched_row, match_type, other)
    out = s.assign(match_type=match_type, matched_row=matched_row, effect_is_ref=effect_is_ref,
                   other_alt_rows=other.set_axis(s.index), other_ref_rows=other_ref.set_axis(s.index),
                   duplicate_genotype_rows=n_pairs - n_distinct,
                   multiallelic=(matched_row >= 0) & (multiallelic_rows(rows)[np.maximum(matched_row, 0)]
                                                       if len(rows) else False))
    if LEFT_ALIGNED in rows or SCORE_LEFT_ALIGNED in s:
        # A used match that needed pgs.reference_fasta: its score site or its genotype record moved.
        moved = s[SCORE_LEFT_ALIGNED].to_numpy(bool) if SCORE_LEFT_ALIGNED in s else np.zeros(n, dtype=bool)
        if LEFT_ALIGNED in rows and len(rows):
            moved = moved | rows[LEFT_ALIGNED].to_numpy(bool)[np.maximum(matched_row, 0)]
        out[LEFT_ALIGNED] = moved & (matched_row >= 0)
    out.attrs = dict(s.attrs)
    return matched_duplicates(out, rows, duplicate_variants, checked=~missing_code_site)


def matched_duplicates(sites: pd.DataFrame, rows: pd.DataFrame, duplicate_variants: str = "error", *,
                       checked: np.ndarray | None = None) -> pd.DataFrame:
    """The duplicate policy once matched (``match_sites_frame``'s last step): two rows of one
    score used on the same genotype row (one ``[ref, alt]`` of ``rows``) are one variant listed
    twice in forms the file's own check (``scoring_files.duplicate_sites``: one position and allele
    pair in either order) cannot see: the pair on the other strand (A/G and C/T, or T/C), the pair
    beside the effect allele without its other allele (A/G and A), one indel in two
    representations (AT/A and ATT/AT). Both weights were summed (or cancelled each other).
    ``duplicate_variants`` ``error`` (pgs.duplicate_variants): InputDataError at the later line
    naming the first; ``first``: the later rows (file order) are dropped from their sites' member
    arrays, as the file's own check drops them (counted, ``drop_members``). Sites where
    ``checked`` is False (a monomorphic row written with a missing allele code, whose present
    allele several score variants may share) are left alone. Other sites are returned unchanged."""
    row_of = sites["matched_row"].to_numpy(np.int64)
    used = np.isin(sites["match_type"].to_numpy(object), USED_MATCH_TYPES) & (row_of >= 0)
    if checked is not None:
        used &= np.asarray(checked, dtype=bool)
    at = np.flatnonzero(used)
    # Only sites sharing their matched row with another site can hold such a pair (a site has one
    # row per score: the file's own check drops a repeated site): a bincount over the sites, so
    # the members (12M at 61 x 200k) are flattened only for the few shared rows.
    shared = np.bincount(row_of[at], minlength=len(rows))[row_of[at]] > 1
    at = at[shared]
    if len(at) < 2:
        return sites
    scores = sites["member_score_index"].to_numpy(object)[at]
    sizes = np.fromiter((len(a) for a in scores), dtype=np.int64, count=len(at))
    score = np.concatenate(list(scores)).astype(np.int64, copy=False)
    row = np.repeat(row_of[at], sizes)
    # Usually no (score, row) pair repeats: told by one hash of a packed int64 per member, before
    # the sort of every member by score and line (6-7 s of CPU at 61 x 200k, session 17).
    if not pd.Series(packed_key([score, row]), copy=False).duplicated().any():
        return sites
    members = pd.DataFrame({
        "site": np.repeat(at, sizes), "row": row, "score": score,
        "line": np.concatenate([np.asarray(a, dtype=np.int64) for a in sites["member_line"].to_numpy(object)[at]]),
    }).sort_values(["score", "line"], kind="stable")
    later = members.duplicated(["score", "row"]).to_numpy(bool)
    if not later.any():
        return sites
    if duplicate_variants == "error":
        d = members[later].iloc[0]
        first = members[~later & (members["score"] == d["score"]) & (members["row"] == d["row"])].iloc[0]
        files = sites_attr(sites, "score_files")
        path = files[int(d["score"])] if int(d["score"]) < len(files) else "pgs.scoring_files"
        g = rows.iloc[int(d["row"])]
        variant = f"{str(g['contig'])}:{int(g['position'])} {str(g['ref'])}>{str(g['alt'])}"

        def written(i: int) -> str:  # as the file writes it (``left_aligned_sites`` may have moved it)
            effect, other = (_WRITTEN_EFFECT, _WRITTEN_OTHER) if _WRITTEN_EFFECT in sites else \
                ("effect_allele", "other_allele")
            o = sites[other].iat[i]
            return str(sites[effect].iat[i]) + "/" + ("" if o is None or o != o else str(o))

        raise InputDataError(
            f"score variants at lines {int(first['line'])} ({written(int(first['site']))}) and {int(d['line'])} "
            f"({written(int(d['site']))}) are one variant in the genotypes ({variant}), listed twice "
            f"({counted(int(later.sum()), 'such row')}: the pair on the other strand, without its other allele or in another "
            "indel form); set pgs.duplicate_variants: first to keep the first",
            where=f"{path}:{int(d['line'])}")
    return drop_members(sites, members[later], "one variant listed twice (the pair on the other strand, without "
                        "its other allele or in another indel form)")


def check_duplicate_rows_frame(sites: pd.DataFrame, where: str, source: GenotypeSource | None = None) -> None:
    """``raise_duplicate_rows`` for the loci of ``match_sites_frame``'s sites that have a
    repeated genotype row (``duplicate_genotype_rows`` > 0)."""
    dup = sites[sites["duplicate_genotype_rows"] > 0]
    loci = sorted({f"{c}:{p}" for c, p in zip(dup["contig"], dup["position"])})
    raise_duplicate_rows(loci, where, source)


@dataclass(frozen=True)
class FrameMatches:
    """A dataset's matches on frames: ``sites`` (``match_sites_frame``), ``rows`` (the genotype
    rows it indexes) and per score variant ``members`` (site, score_index, effect_weight, line;
    in site order). ``pgs_ids`` in score_index order; ``duplicates_dropped``: pgs_id -> score
    rows the duplicate policy ``first`` dropped while matching (``drop_members``; the members
    no longer hold them, so the summary's n_variants does not count them)."""

    sites: pd.DataFrame
    rows: pd.DataFrame
    members: pd.DataFrame
    pgs_ids: list[str]
    duplicates_dropped: dict[str, int] = field(default_factory=dict)
    # Site i's members are rows member_bounds[i]..member_bounds[i + 1] of ``members`` (int64,
    # len(sites) + 1): ``frame_matches`` has them for free; None: found by binary search
    # (``site_bounds``).
    member_bounds: np.ndarray | None = None

    def site_bounds(self) -> np.ndarray:
        """Each site's run of ``members`` (``member_bounds``), or by binary search over the
        members' sites when not given (~0.03 CPU-s at 12.2M members: issue 16, session 32)."""
        if self.member_bounds is not None:
            return self.member_bounds
        return np.searchsorted(self.members["site"].to_numpy(), np.arange(len(self.sites) + 1))


@small_pages()
def frame_matches(sites: pd.DataFrame, rows: pd.DataFrame) -> FrameMatches:
    """The score variants (members) of each matched site, one row each (numeric columns only;
    the text is taken from the site when a log is written)."""
    held = sites.attrs.get(SORTED_MEMBERS)
    if not isinstance(held, SortedMembers):
        held = None
    same = held.flat_members(sites) if held is not None else None
    lengths = held.lengths if held is not None and same is not None else \
        sites["member_score_index"].map(len).to_numpy(np.int64)

    def flat(col: str, dtype) -> np.ndarray:
        if same is not None:  # the sites' own member slices, unchanged: their flat arrays
            return same[col]
        # The member arrays as they are (no np.asarray per site: 200k calls per column at 61 x
        # 200k), then one conversion (a list member, e.g. from a test, converts here too).
        return np.concatenate(sites[col].to_list()).astype(dtype, copy=False) if len(sites) else np.empty(0, dtype)

    # copy=False: pandas would otherwise consolidate the int64 columns into one block, a copy
    # that cost more than the rest of the match at 12.2M score rows (issue 16, session 15).
    members = pd.DataFrame({
        "site": np.repeat(np.arange(len(sites)), lengths),
        "score_index": flat("member_score_index", np.int32),
        "effect_weight": flat("member_weight", np.float64),
        "line": flat("member_line", np.int64),
    }, copy=False)
    return FrameMatches(sites, rows, members, list(sites_attr(sites, "pgs_ids")),
                        dict(sites_attr(sites, DUPLICATES_DROPPED)), np.r_[0, np.cumsum(lengths)].astype(np.int64))


@small_pages()
def summarise_frame_matches(m: FrameMatches, dataset: str, labels: dict[str, ScoreLabel]) -> pd.DataFrame:
    """Per-score match counts (one row per score; PGS_MATCH_SUMMARY columns, ``summary_frame``)."""
    k, t = len(m.pgs_ids), len(MATCH_TYPES)
    score = m.members["score_index"].to_numpy()
    # The members are in site order (frame_matches): each site's are one run, found by binary
    # search. Every member is counted per score once (one bincount), under the commonest type;
    # the members of the other types' sites are gathered by their runs, counted and moved over.
    # No per-member key or type array (two fresh 12M-row arrays at 61 x 200k: issue 16, session 21).
    bounds = m.site_bounds()
    code = m.sites["match_type"].map(_TYPE_CODE).to_numpy(np.int64)
    per_type = np.bincount(code, weights=np.diff(bounds), minlength=t)
    common = int(np.argmax(per_type))
    counts = np.zeros((k, t), dtype=np.int64)
    counts[:, common] = _bincount_in_chunks(score, k)
    for j in np.flatnonzero(per_type).tolist():
        if j == common:
            continue
        counts[:, j] = np.bincount(score[_site_members(bounds, np.flatnonzero(code == j))], minlength=k)
        counts[:, common] -= counts[:, j]
    by_score = {p: {MATCH_TYPES[j]: int(c) for j, c in enumerate(counts[i]) if c}
                for i, p in enumerate(m.pgs_ids) if counts[i].any()}
    multi = np.zeros(k, dtype=np.int64)
    if "multiallelic" in m.sites:  # sites matched by match_sites_frame (a hand-made frame may lack it)
        multi = np.bincount(score[_site_members(bounds, np.flatnonzero(m.sites["multiallelic"].to_numpy(bool)))],
                            minlength=k)
    return summary_frame(by_score, dataset, m.pgs_ids, labels, multi)


def left_aligned_counts(m: FrameMatches) -> dict[str, int]:
    """pgs_id -> its score variants matched only after ``pgs.reference_fasta``'s left-alignment
    (``match_sites_frame``'s ``LEFT_ALIGNED``: the score's indel or its genotype record was
    written not left-aligned); scores without any left out, {} without the FASTA. Variants, not
    persons."""
    if LEFT_ALIGNED not in m.sites:
        return {}
    at = np.flatnonzero(m.sites[LEFT_ALIGNED].to_numpy(bool))
    if not len(at):
        return {}
    counts = np.bincount(m.members["score_index"].to_numpy()[_site_members(m.site_bounds(), at)],
                         minlength=len(m.pgs_ids))
    return {p: int(c) for p, c in zip(m.pgs_ids, counts, strict=True) if c}


def unnormalised_examples(m: FrameMatches) -> dict[str, tuple[int, str]]:
    """Per score with ``not_found_unnormalised`` variants: their count and the first one (by
    line) as ``line <n>: <chrom>:<pos> <effect>/<other>`` for its WARNING (``pgs.stage``)."""
    at = np.flatnonzero(m.sites["match_type"].to_numpy(object) == "not_found_unnormalised")
    if not len(at):
        return {}
    bounds = m.site_bounds()
    members = m.members.iloc[_site_members(bounds, at)]
    site = np.repeat(at, bounds[at + 1] - bounds[at])
    out: dict[str, tuple[int, str]] = {}
    frame = pd.DataFrame({"score": members["score_index"].to_numpy(np.int64), "line": members["line"].to_numpy(np.int64),
                          "site": site}).sort_values(["score", "line"], kind="stable")
    counts = frame["score"].value_counts()
    for score, line, at_site in frame.drop_duplicates("score").itertuples(index=False):
        s = m.sites.iloc[at_site]
        out[m.pgs_ids[score]] = (int(counts[score]), f"line {line}: {s['chrom']}:{s['pos']} "
                                                     f"{s['effect_allele']}/{s['other_allele']}"
                                 + ("" if _written_unnormalised(s) else ", the genotypes' row shifted right"))
    return out


def _written_unnormalised(site: pd.Series) -> bool:
    """Whether a score site's own alleles (``chrom``, ``pos``, ``effect_allele``, ``other_allele``) are
    written not left-aligned (``unnormalised_indels`` of their minimal form); False: its
    ``not_found_unnormalised`` is the genotypes' (``shifted_genotype_indels``)."""
    e, o = site["effect_allele"], site["other_allele"]
    if e is None or o is None or pd.isna(e) or pd.isna(o) or pd.isna(site["pos"]):
        return False
    _, mo, me = minimal_alleles(np.array([int(site["pos"])]), np.array([o], dtype=object), np.array([e], dtype=object))
    return bool(unnormalised_indels(me, mo)[0])


def _site_members(bounds: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The member positions of the sites ``at`` (increasing site numbers), each site's run
    ``bounds[s]:bounds[s + 1]`` (``summarise_frame_matches``: members in site order), concatenated."""
    lengths = bounds[at + 1] - bounds[at]
    return np.repeat(bounds[at] - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())


def _bincount_in_chunks(values: np.ndarray, k: int, chunk: int = 1 << 20) -> np.ndarray:
    """``np.bincount(values, minlength=k)`` of integers in 0..k-1, a million at a time: bincount
    converts an int32 array to a fresh intp copy first (100 MB at 12.2M members, its first-touch
    page faults ~0.3-1 s of kernel time here, issue 16, session 22); a chunk's copy reuses the
    last one's memory."""
    out = np.zeros(k, dtype=np.int64)
    for a in range(0, len(values), chunk):
        out += np.bincount(values[a:a + chunk], minlength=k)
    return out


@small_pages()
def variant_matches_pandas(m: FrameMatches, dataset: str) -> pd.DataFrame:
    """The per-variant match log (PGS_VARIANT_MATCHES columns) of ``FrameMatches``: one row per
    score variant, in site order."""
    at = m.members["site"].to_numpy()
    s = m.sites

    def take(col: str) -> np.ndarray:
        return s[col].to_numpy(object)[at]

    # copy=False: no consolidation of the object columns into one 2-D block (a copy of 12.2M
    # rows x 5 columns at 61 x 200k score rows).
    return pd.DataFrame({
        "dataset": np.full(len(at), dataset, dtype=object),
        "pgs_id": np.asarray(m.pgs_ids, dtype=object)[m.members["score_index"].to_numpy()],
        "chrom": take("chrom"),
        "pos": s["pos"].astype("Int32").array.take(at),
        "effect_allele": take("effect_allele"),
        "other_allele": take("other_allele"),
        "effect_weight": m.members["effect_weight"].to_numpy(np.float64),
        "match_type": take("match_type"),
        "multiallelic": (s["multiallelic"].to_numpy(bool)[at] if "multiallelic" in s
                         else np.zeros(len(at), dtype=bool)),
    }, copy=False)[PGS_VARIANT_MATCHES.names]


@dataclass(frozen=True)
class SiteModels:
    """Dominant / recessive score variants whose effect allele's dosage spans several genotype
    rows (``_with_effect_types``): a REF effect allele at a multi-allelic site read one row per
    alt (Hail's split of a VCF/MatrixTable record, a .pgen row read per alt, a site given split),
    whose dosage is 2 - every alt's copies. Per group g (a distinct set of rows and dosage): the
    effect allele's dosage D = sum over its rows r of ``coef[r] x alt dosage[r]`` + ``constant[g]``,
    the additive rows' own REF dosage (``weight_matrices``' slope and offset of such a site, over
    w); plink2 --score on the unsplit site takes this D (its REF dosage = ploidy - all alt dosages)
    and scores w x min(D, 1) (``dominant``) or w x max(D - 1, 0) (``recessive``). A sample missing
    at any of the group's rows is a missing call of the site: mean-imputed it adds w x the effect
    allele's frequency (the group's D over the rows' mean alt dosages, halved: plink2's value for
    these models), 0 with ``zero``. ``rows``/``coef``: the members, int64 rows of
    ``WeightMatrices.rows`` and float64 (+1 / -1), grouped by ``bounds`` (int64, groups + 1; each
    group's rows in row order, a row in one group at most); ``constant`` float64 (groups,);
    ``dominant``/``recessive`` float64 (groups x k), w per score. Every route scores them since
    session 38: the native engine (``placed``) and Hail's pass (``WeightMatrices.frame``'s
    ``site_group``/``site_coef``); before, Hail's pass refused them at the first one's file:line."""

    rows: np.ndarray
    coef: np.ndarray
    bounds: np.ndarray
    constant: np.ndarray
    dominant: np.ndarray
    recessive: np.ndarray

    def group_of_rows(self, n_rows: int) -> np.ndarray:
        """Per row of ``WeightMatrices.rows`` (``n_rows``) its group, -1 for none (int32)."""
        out = np.full(n_rows, -1, dtype=np.int32)
        out[self.rows] = np.repeat(np.arange(len(self.constant), dtype=np.int32), np.diff(self.bounds))
        return out

    def coef_of_rows(self, n_rows: int) -> np.ndarray:
        """Per row of ``WeightMatrices.rows`` its coefficient in its group, 0.0 for none (float64)."""
        out = np.zeros(n_rows)
        out[self.rows] = self.coef
        return out

    def placed(self, order: np.ndarray | None, bounds: list[int]) -> tuple[dict[str, np.ndarray], list[int]]:
        """For a native pass (``pgen_engine.score``) whose rows are ``WeightMatrices.rows`` taken in
        ``order`` (None: as they are) and cut into tasks at ``bounds``: the ``native_task.Task``
        arrays (``site_group``, ``site_coef`` per row; ``site_constant``, ``site_dominant``,
        ``site_recessive`` per group, given whole to every task) and the bounds moved so that each
        group's rows fall in one task (a bound inside a group goes to the row after its last; no
        task left empty): a task sums a group's rows over its blocks (``native_task._SiteSums``)."""
        n_rows = bounds[-1]
        group, coef = self.group_of_rows(n_rows), self.coef_of_rows(n_rows)
        if order is not None:
            group, coef = group[order], coef[order]
        at = np.flatnonzero(group >= 0)
        first, last = np.full(len(self.constant), n_rows), np.full(len(self.constant), -1)
        np.minimum.at(first, group[at], at)
        np.maximum.at(last, group[at], at)
        moved: list[int] = []
        for b in bounds:
            inside = (first < b) & (b <= last)
            while inside.any():
                b = int(last[inside].max()) + 1
                inside = (first < b) & (b <= last)
            if not moved or b > moved[-1]:
                moved.append(b)
        if moved[-1] != n_rows:  # (a moved bound went past the last: it is the last)
            moved.append(n_rows)
        return ({"site_group": group, "site_coef": coef, "site_constant": self.constant,
                 "site_dominant": self.dominant, "site_recessive": self.recessive}, moved)


@dataclass(frozen=True)
class WeightMatrices:
    """The matched weights as dense matrices: ``rows`` the genotype rows used by any score
    (the ``FrameMatches.rows`` columns, in row order), and per row and score (rows x k)
    ``slope``, ``offset`` (float64) and ``n_vars`` (an integer type: int32, or the smallest
    unsigned type that holds the counts, ``weight_matrices``); ``frame()`` is the same as one frame
    with a k-array per row (Hail's pass takes it as a Table); the native engine takes the matrices.

    ``offset`` is ``offsets`` when given, else (``ref_effect_row``, bool per row: each used row
    holds one site's members, ``weight_matrices``) -2 x ``slope`` on the rows of a REF effect
    allele and +0.0 elsewhere, built on first use: the native engine's mean imputation needs only
    its column sums (``offset_total``), which come without the rows x k matrix (~0.1 CPU-s and
    98 MB of fresh pages at 200k rows x 61 scores, benchmarks/RESULTS.md session 28)."""

    rows: pd.DataFrame
    slope: np.ndarray
    offsets: np.ndarray | None
    n_vars: np.ndarray
    ref_effect_row: np.ndarray | None = None
    # plink2 --score's 'dominant' / 'recessive' models (``weight_matrices``' ``effect_types``):
    # per row and score (rows x k float64) the slope on min(alt dosage, 1) and on
    # max(alt dosage - 1, 0), a missing call's value there being half the row's imputed alt
    # dosage (the alt frequency); None when no score variant has such a model. ``slope`` is 0 in
    # their cells (a cell holds one score variant, so one model), ``offsets`` holds their offsets.
    dominant: np.ndarray | None = None
    recessive: np.ndarray | None = None
    # The dominant / recessive score variants whose dosage spans several rows (``SiteModels``: a
    # REF effect allele at a multi-allelic site); None when there are none. The native engine
    # scores them (``native_task``), and Hail's pass (``frame``' site_group / site_coef columns).
    site_models: SiteModels | None = None
    # The native pass's directory (``pgen_engine.pass_directory``) whose files ``slope`` and
    # ``n_vars`` were built in (``native_task.mapped_rows``, or written row chunk by row chunk,
    # ``_written_cells``: the pass's tasks map them as they are, nothing is written again); None:
    # in memory (``weight_matrices``' ``directory``).
    directory: str | None = None
    # ``offset_total()`` (no order) when the build summed it in passing (``_written_cells``: the
    # same additions in the same order, from each row chunk while it was in the cache; two scores
    # or more); None: summed from ``slope`` when asked.
    offset_sums: np.ndarray | None = None

    @cached_property
    def offset(self) -> np.ndarray:
        """The offsets (rows x k float64): ``offsets``, or derived from ``slope`` (class doc)."""
        if self.offsets is not None:
            return self.offsets
        if self.ref_effect_row is None:
            raise ValueError("WeightMatrices needs offsets or ref_effect_row")
        with small_pages():
            derived = np.zeros(self.slope.shape)
            np.multiply(self.slope, -2.0, out=derived, where=self.ref_effect_row[:, None])
        derived += 0.0  # -0.0 (a zero weight's REF effect) made +0.0, as a sum of zeros gives it
        return derived

    def offset_total(self, order: np.ndarray | None = None) -> np.ndarray:
        """Per score (k float64) the sum of ``offset`` over the rows, added in row order or in
        ``order`` (row indices: a caller that reorders the rows sums them in its order). The same
        bits as ``offset[order].sum(axis=0)``; a derived ``offset`` is not built: -2 x the REF-effect
        rows' slope summed in the same order (scaling by -2 is exact, and a row of +0.0 adds
        nothing), +0.0 for a zero sum as the matrix's column sum gives."""
        if self.offsets is not None or self.ref_effect_row is None or "offset" in self.__dict__:
            return (self.offset if order is None else self.offset[order]).sum(axis=0)
        if order is None and self.offset_sums is not None:
            return self.offset_sums.copy()
        slope, ref = (self.slope, self.ref_effect_row) if order is None else \
            (self.slope[order], self.ref_effect_row[order])
        return -2.0 * slope.sum(axis=0, where=ref[:, None]) + 0.0

    def frame(self) -> pd.DataFrame:
        """``rows`` plus the per-row k-arrays ``slope``, ``offset``, ``n_vars`` (and ``dominant``,
        ``recessive`` when there are such models): the rows of Hail's pass (``scoring.weights_table``).
        With ``site_models``, also ``site_group`` (int32, -1 for none) and ``site_coef`` (float64)
        per row (``SiteModels.group_of_rows`` / ``coef_of_rows``): Hail's pass sums a site's rows
        per group as the native engine does (before session 38 it refused them, one error)."""
        out = self.rows.copy()
        for name in ("slope", "offset", "n_vars", "dominant", "recessive"):
            if getattr(self, name) is not None:
                out[name] = pd.Series(list(getattr(self, name)), index=out.index, dtype=object)
        if self.site_models is not None:
            out["site_group"] = self.site_models.group_of_rows(len(out))
            out["site_coef"] = self.site_models.coef_of_rows(len(out))
        return out


@dataclass(frozen=True)
class EffectTypes:
    """Each score variant's dosage model (``members``: int8 per row of ``FrameMatches.members``,
    codes of ``scoring_files.EFFECT_TYPES``: 0 additive, 1 dominant, 2 recessive) and each
    score's file (``paths``, in score_index order) for errors at file:line."""

    members: np.ndarray
    paths: list[str]
    # Per row of ``FrameMatches.rows``, True on X outside its PARs (``genotypes.x_haploid_rows``):
    # plink2 2.00a3.5 refuses the modifiers there too ('haploid chromosomes'); None: not known.
    x_haploid_rows: np.ndarray | None = None


def member_effect_types(m: FrameMatches, scoring_files: Sequence[ScoringFile],
                        x_haploid_rows: np.ndarray | None = None) -> EffectTypes | None:
    """The members' effect types (``EffectTypes``), looked up by their score and file line in
    ``ScoringFile.effect_types``; None when every file is additive (nothing is looked up).
    ``x_haploid_rows``: ``EffectTypes.x_haploid_rows``."""
    if all(sf.effect_types is None for sf in scoring_files):
        return None
    mem = m.members
    score_index = mem["score_index"].to_numpy()
    line = mem["line"].to_numpy(np.int64)
    types = np.zeros(len(mem), dtype=np.int8)
    for i, sf in enumerate(scoring_files):
        if sf.effect_types is None:
            continue
        at = np.flatnonzero(score_index == i)
        lines = sf.variants["line"].to_numpy(np.int64)  # file order: increasing
        place = np.searchsorted(lines, line[at])
        assert (lines[np.minimum(place, len(lines) - 1)] == line[at]).all(), "a member's line is not in its file"
        types[at] = sf.effect_types[place]
    return EffectTypes(types, [sf.path for sf in scoring_files], x_haploid_rows)


def _with_effect_types(m: FrameMatches, haploid: Collection[str], types: EffectTypes) -> WeightMatrices:
    """``weight_matrices`` with dominant / recessive score variants (``types``), as plink2 --score
    scores them with its 'dominant' / 'recessive' modifiers (pgsc_calc splits a scoring file by
    effect type for that): the effect allele's dosage d becomes min(d, 1) or max(d - 1, 0), and a
    missing call, mean-imputed, adds w x the effect allele's frequency (plink2's missing_effect
    without the additive model's factor 2; checked against plink2 2.00a3.5 in
    tests/test_field_cases_round27_pgs.py). On the alt dosage a: an ALT effect allele's dominant
    row is w x min(a, 1), its recessive w x max(a - 1, 0); a REF effect allele's dominant row is
    w - w x max(a - 1, 0) and its recessive w - w x min(a, 1) (slope -w on the other model, offset
    w). A missing call's value of either is half the imputed alt dosage (the alt frequency;
    1 - it for a REF effect allele), so the engines impute as for the additive rows and halve.
    The additive matrices are built as always with these members' weights 0 (their n_vars kept).
    A score variant whose effect allele's dosage sums other alts' rows (a REF effect allele at a
    multi-allelic site, split by Hail, read per alt from a .pgen, or given split: 2 - every alt's
    copies) has no per-row form: it goes into ``site_models`` (``SiteModels``), scored on that
    sum as plink2 scores the unsplit site (before session 37 it was an error at its line).
    Raises InputDataError at the file:line of a dominant / recessive variant matched on chrY /
    chrM, or on X outside its PARs (``types.x_haploid_rows``; plink2 2.00a3.5 refuses the
    modifiers on haploid chromosomes, these three, so there is no plink2 answer), or of one whose
    site's rows are also another such site's with another dosage (two groups sharing a row: PLINK
    1 rows of one position that disagree on its REF, read both ways)."""
    mem, s = m.members, m.sites
    site = mem["site"].to_numpy()
    w = mem["effect_weight"].to_numpy(np.float64)
    score_index = mem["score_index"].to_numpy()
    kind = types.members
    used = np.isin(s["match_type"].to_numpy(object), USED_MATCH_TYPES)[site] & (kind != 0)
    site_row = s["matched_row"].to_numpy(np.int64)

    def refuse(bad: np.ndarray, problem: str) -> None:
        if bad.any():
            first = np.flatnonzero(bad)[0]
            model = "dominant" if kind[first] == 1 else "recessive"
            raise InputDataError(f"a {model} row {problem}", where=f"{types.paths[int(score_index[first])]}:"
                                                                   f"{int(mem['line'].to_numpy()[first])}")

    haploid_row = m.rows["contig"].isin(list(haploid)).to_numpy(bool)
    if types.x_haploid_rows is not None:
        haploid_row |= types.x_haploid_rows
    refuse(used & haploid_row[np.where(used, site_row[site], 0)],
           "matched on chrY, chrM or chrX outside its PARs: plink2 --score refuses the dominant/recessive modifiers "
           "on haploid chromosomes (leave the score out of the trait panel, or drop the row)")
    other_alts = s["other_alt_rows"].to_numpy(object)
    other_refs = s["other_ref_rows"].to_numpy(object) if "other_ref_rows" in s else None
    n_other = np.fromiter(map(len, other_alts), np.int64, len(s))
    if other_refs is not None:
        n_other += np.fromiter(map(len, other_refs), np.int64, len(s))
    spans = used & (n_other[site] > 0)  # a dosage over several rows: ``SiteModels``
    used &= ~spans
    rows = m.rows.assign(_row=np.arange(len(m.rows)))
    additive = dataclasses.replace(m, rows=rows, members=mem.assign(effect_weight=np.where(kind != 0, 0.0, w)))
    base = weight_matrices(additive, haploid)
    place = np.full(len(rows), -1, dtype=np.int64)
    place[base.rows["_row"].to_numpy(np.int64)] = np.arange(len(base.rows))
    at = np.flatnonzero(used)
    cell_row = place[site_row[site[at]]]
    eir = s["effect_is_ref"].to_numpy(bool)[site[at]]
    # On the alt dosage: dominant of an ALT effect allele and recessive of a REF one take min(a, 1).
    on_min = (kind[at] == 1) != eir
    shape = (len(base.rows), len(m.pgs_ids))
    sign = np.where(eir, -1.0, 1.0)
    dominant, recessive = np.zeros(shape), np.zeros(shape)
    np.add.at(dominant, (cell_row[on_min], score_index[at][on_min]), (sign * w[at])[on_min])
    np.add.at(recessive, (cell_row[~on_min], score_index[at][~on_min]), (sign * w[at])[~on_min])
    offsets = base.offset.copy()
    np.add.at(offsets, (cell_row, score_index[at]), np.where(eir, w[at], 0.0))
    site_models = None
    if spans.any():
        site_models = _site_models(place, spans, site, site_row, s["effect_is_ref"].to_numpy(bool), other_alts,
                                   other_refs, kind, w, score_index, len(m.pgs_ids), types, mem["line"].to_numpy())
    return WeightMatrices(base.rows.drop(columns="_row"), base.slope, offsets, base.n_vars,
                          dominant=dominant, recessive=recessive, site_models=site_models)


def _site_models(place: np.ndarray, spans: np.ndarray, site: np.ndarray, site_row: np.ndarray, eir: np.ndarray,
                 other_alts: np.ndarray, other_refs: np.ndarray | None, kind: np.ndarray, w: np.ndarray,
                 score_index: np.ndarray, k: int, types: EffectTypes, line: np.ndarray) -> SiteModels:
    """``SiteModels`` of the members flagged ``spans`` (``_with_effect_types``' arrays, per member
    or per site; ``place``: each matched row's place among the weight rows). Each member's
    effect allele dosage over w as the additive rows take it (``weight_matrices``): its matched
    row's alt copies, negated plus 2 for a REF effect allele; minus each other alt row's copies
    (``other_alt_rows``); plus each row holding the site's REF as its alt, minus 2
    (``other_ref_rows``). Members of one set of rows and dosage share a group. Raises
    InputDataError (the member's file:line) when a row would be in two groups of different dosage."""
    groups: dict[tuple[tuple[tuple[int, float], ...], float], int] = {}
    group = np.empty(int(spans.sum()), dtype=np.int64)
    where = np.flatnonzero(spans)
    for i, j in enumerate(where):
        t = site[j]
        terms = {int(place[site_row[t]]): -1.0 if eir[t] else 1.0}
        constant = 2.0 if eir[t] else 0.0
        for r in other_alts[t]:
            terms[int(place[r])] = -1.0
        for r in (() if other_refs is None else other_refs[t]):
            terms[int(place[r])] = 1.0
            constant -= 2.0
        group[i] = groups.setdefault((tuple(sorted(terms.items())), constant), len(groups))
    keys = list(groups)
    owner: dict[int, int] = {}
    for g, (members, _) in enumerate(keys):
        for r, _c in members:
            if owner.setdefault(r, g) != g:
                first = where[np.flatnonzero((group == g) | (group == owner[r]))[0]]
                raise InputDataError(
                    f"a {EFFECT_MODEL_NAMES[int(kind[first])]} row's effect allele takes its dosage from genotype rows "
                    "that another multi-allelic site's REF also spans with another dosage (rows of one position "
                    "that disagree on its REF): no single REF dosage to model; drop the row",
                    where=f"{types.paths[int(score_index[first])]}:{int(line[first])}")
    sizes = np.array([len(t) for t, _ in keys], dtype=np.int64)
    dominant, recessive = np.zeros((len(keys), k)), np.zeros((len(keys), k))
    on_dominant = kind[where] == 1
    np.add.at(dominant, (group[on_dominant], score_index[where][on_dominant]), w[where][on_dominant])
    np.add.at(recessive, (group[~on_dominant], score_index[where][~on_dominant]), w[where][~on_dominant])
    return SiteModels(np.array([r for t, _ in keys for r, _c in t], dtype=np.int64),
                      np.array([c for t, _ in keys for _r, c in t], dtype=np.float64),
                      np.r_[0, np.cumsum(sizes)].astype(np.int64), np.array([c for _, c in keys], dtype=np.float64),
                      dominant, recessive)


EFFECT_MODEL_NAMES = {1: "dominant", 2: "recessive"}


class DeferredWeights(WeightMatrices):
    """``weight_matrices``' common case with a pass directory, the matrices not built yet
    (``weight_matrices`` with ``defer``): ``rows`` and ``directory`` now, ``slope``, ``offsets``,
    ``n_vars`` and ``ref_effect_row`` built into the directory's files on first use (``built``).
    Why: a native pass (``pgen_engine.score``) starts its tasks on the rows alone, and they open
    the genotypes and read their first block while the driver builds the matrices (~0.15 CPU-s at
    200k rows x 61 scores, issue 16: the score phase's fixed part). Every other reader sees a
    ``WeightMatrices``: its first look at a matrix builds them, as ``weight_matrices`` would have.
    Frozen as a ``WeightMatrices``."""

    _build: Callable[[], WeightMatrices] | None
    _matrices: WeightMatrices | None

    def __init__(self, rows: pd.DataFrame, directory: str, build: Callable[[], WeightMatrices]) -> None:
        # (Not the frozen dataclass's __init__: the matrices are properties here.)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "directory", directory)
        object.__setattr__(self, "_build", build)
        object.__setattr__(self, "_matrices", None)

    def built(self) -> WeightMatrices:
        """The matrices (``_one_site_per_row``'s, in ``directory``'s files), built on the first call."""
        matrices: WeightMatrices | None = self._matrices
        if matrices is None:
            assert self._build is not None
            with small_pages():  # as weight_matrices' own arrays
                matrices = self._build()
            object.__setattr__(self, "_matrices", matrices)
            object.__setattr__(self, "_build", None)  # (the member arrays it holds)
        return matrices

    @property
    def is_built(self) -> bool:
        return self._matrices is not None

    slope = property(lambda self: self.built().slope)
    offsets = property(lambda self: self.built().offsets)
    n_vars = property(lambda self: self.built().n_vars)
    ref_effect_row = property(lambda self: self.built().ref_effect_row)
    offset_sums = property(lambda self: self.built().offset_sums)


@small_pages()
def weight_matrices(m: FrameMatches, haploid: Collection[str], directory: str | None = None,
                    effect_types: EffectTypes | None = None, *, defer: bool = False) -> WeightMatrices:
    """The scoring weights of the matched score variants (``scoring`` module doc) per genotype
    row used by any score: slope, offset and n_vars per score (a REF effect allele puts -w on
    its other alt rows too). On the ``haploid`` contigs (chrY/chrM: ``genotypes.haploid_contigs``
    of the dataset's reference) w is halved: a haploid call (dosage 0 or 2) then adds 0 or w,
    plink2 --score's one copy. tests/pgs_hail_oracle.py's
    ``score_weights_table`` computes the same in Hail. ``m.members`` in site order (as
    ``frame_matches`` makes them; members out of order are checked for and summed per member).
    Its fresh arrays of one value per score variant are made without huge pages
    (``memory.small_pages``).

    When each used row holds one used site's members alone (no extra rows of other alts: the
    common case) the matrices are summed straight from the members by ``_one_site_per_row``
    (n_vars then in the smallest unsigned type holding a site's member count); otherwise per
    (row, score) cell with bincounts (n_vars int32). Same values either way.

    ``directory``: a native pass's directory (``pgen_engine.pass_directory``, a local master's):
    in the common case slope and n_vars are then built straight into the files the pass's tasks
    map (``native_task.mapped_rows``; ``WeightMatrices.directory`` says so), not in memory and
    then written there (``native_task.shared_task_rows``): no 98 MB copy and allocation at
    200k rows x 61 scores, and no ``write`` of it, which cost 0.5-1.1 kernel CPU-s in the score
    phase on the benchmark host where the same pages written through a mapping cost ~0.1
    (benchmarks/RESULTS.md, session 33 flatbed); with the used sites in row order (CSR form) they are
    written a cache-sized row chunk at a time from memory that is reused (``_written_cells``: no page
    of the files mapped into the driver, session 39). Otherwise ignored. With ``defer`` (and rows to
    build, in the common case, with ``directory``) the matrices are built on first use
    (``DeferredWeights``): the checks and the used rows here, the rest when a reader first looks
    at a matrix (a native pass: once its tasks have started, ``pgen_engine.score``).

    ``effect_types``: the members' dosage models (``member_effect_types``); with a dominant or
    recessive one, ``_with_effect_types`` builds the matrices (in memory) and its errors apply."""
    if effect_types is not None and (effect_types.members != 0).any():
        return _with_effect_types(m, haploid, effect_types)
    k = len(m.pgs_ids)
    s, mem = m.sites, m.members
    # What a member takes from its site (matched row, effect allele REF or alt, haploid row) is
    # worked out per site (200k at 61 x 200k) and gathered once per member array (12.2M): one
    # pass each for the weight, its slope, offset and cell, where taking each site value per
    # member and selecting the used members were most of this function (session 17).
    # Each 12.2M-member array made here is ~100 MB of fresh pages, whose faults (and transparent
    # huge pages compacted on demand) cost more than the arithmetic on the benchmark host: the
    # member arrays are the frame's own (no int64 copy of score_index) and results are written
    # in place where the operation allows it (session 21: 12 such arrays -> 7, same values).
    site = mem["site"].to_numpy()
    w = mem["effect_weight"].to_numpy(np.float64)
    score_index = mem["score_index"].to_numpy()
    site_row = s["matched_row"].to_numpy(np.int64)
    # Each site's members: one run of the site-ordered members (``FrameMatches.site_bounds``).
    # Checked (one comparison pass over the members): members out of site order (a frame not
    # made by ``frame_matches``) would make the runs' bounds and ``_one_site_per_row``'s rows
    # (each site's place repeated over its run) wrong, silently; then each site's members are
    # counted and the per-member path below, which takes each member's own site, is used.
    in_site_order = bool((site[1:] >= site[:-1]).all())
    lengths = np.diff(m.site_bounds()) if in_site_order else np.bincount(site, minlength=len(s))
    # Used sites with members (a site can lose every member to a duplicate policy).
    # (pandas' hash-table isin: numpy's sorts the 200k object match types, ~2x the CPU, before the
    # native pass's job is submitted)
    used_site = s["match_type"].isin(USED_MATCH_TYPES).to_numpy(bool) & (lengths > 0)
    # The used genotype rows in row order and each used site's place among them (np.unique's
    # result, without sorting); unused sites' members go to a spare last row, cut off below.
    used = np.zeros(len(m.rows), dtype=bool)
    used[site_row[used_site]] = True
    # chrY and chrM are haploid: plink2 --score counts a call there once (1 copy), while the
    # dosage read is on the diploid scale (a haploid call counts as homozygous, genotypes.py), so
    # the weight is halved on those rows (a missing call's mean-imputed dosage scales alike).
    haploid_rows = m.rows["contig"].isin(list(haploid)).to_numpy(bool)  # per genotype row
    half = np.ones(len(s))
    half[used_site] = np.where(haploid_rows[site_row[used_site]], 0.5, 1.0)
    eir = s["effect_is_ref"].to_numpy(bool)
    # Only score variants with a REF effect allele at a site with other alts (rare) are looped:
    # -w x alt copies on each other alt row, and +w x alt copies - 2w (= -w x its REF copies)
    # on a row that holds the site's REF as its alt (``other_ref_rows``, ``_swapped_row_sites``).
    other_alts = s["other_alt_rows"].to_numpy(object)
    n_other = np.fromiter(map(len, other_alts), np.int64, len(s))
    if "other_ref_rows" in s:
        n_other += np.fromiter(map(len, s["other_ref_rows"].to_numpy(object)), np.int64, len(s))
    # Each used row holds one used site's members alone (no two sites on one row, no extra rows):
    # then a cell's offset follows from its slope (below).
    if in_site_order and not (used_site & (n_other > 0)).any() and int(used.sum()) == int(used_site.sum()):
        rows = _used_rows_imputed(m.rows, used)
        place = (np.cumsum(used) - 1)[site_row[used_site]]
        if defer and directory is not None and len(rows):
            return DeferredWeights(rows, directory, lambda: _one_site_per_row(
                rows, k, w, score_index, lengths, used_site, place, half, eir, directory))
        return _one_site_per_row(rows, k, w, score_index, lengths, used_site, place, half, eir, directory)
    slope = np.where(eir, -half, half)[site]
    slope *= w
    x_row, x_score, x_slope, x_offset = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))
    if (used_site & (n_other > 0)).any():
        pick = np.flatnonzero((used_site & (n_other > 0))[site])
        weight = half[site[pick]] * w[pick]  # w, or 0.5 * w on a haploid row
        others = other_alts[site[pick]]
        refs = s["other_ref_rows"].to_numpy(object)[site[pick]] if "other_ref_rows" in s else [()] * len(pick)
        extra = [(r, i, -wt, 0.0) for rs, i, wt in zip(others, score_index[pick], weight) for r in rs]
        extra += [(r, i, wt, -2.0 * wt) for rs, i, wt in zip(refs, score_index[pick], weight) for r in rs]
        if extra:
            x_row, x_score, x_slope, x_offset = (np.array(v) for v in zip(*extra))
    used[x_row] = True
    used_rows = np.flatnonzero(used)
    place = np.cumsum(used) - 1
    # Per site the first cell of its row (unused sites: the spare row), per member its cell.
    n_used = len(used_rows)
    first_cell = np.full(len(s), n_used * k, dtype=np.int64)
    first_cell[used_site] = place[site_row[used_site]] * k
    cell = first_cell[site]
    cell += score_index
    x_cell = place[x_row.astype(np.int64)] * k + x_score.astype(np.int64)

    # Two score variants of one score on the same row simply add (bincount: a sum per cell, in
    # member order, then the extra rows' terms: the same order of additions as before).
    def matrix(values: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
        cells, weights = (cell, values) if extra is None or not len(extra) else \
            (np.r_[cell, x_cell], np.r_[values, extra.astype(np.float64)])
        return np.bincount(cells, weights=weights, minlength=(n_used + 1) * k)[: n_used * k].reshape(n_used, k)

    n_vars = np.bincount(cell, minlength=(n_used + 1) * k)[: n_used * k].reshape(n_used, k).astype(np.int32)
    slope_matrix = matrix(slope, x_slope)
    weight = half[site]
    weight *= w  # w, or 0.5 * w on a haploid row
    offset = np.where(eir, 2.0, 0.0)[site]
    offset *= weight  # 2w, or 0 (a sum of zeros is +0.0, as before)
    return WeightMatrices(_used_rows_imputed(m.rows, used), slope_matrix, matrix(offset, x_offset), n_vars)


# Column (float64) of ``WeightMatrices.rows`` when some used row's site has more than 2 alleles
# (``no_call_dosages``): the alt dosage that imputes the missing calls of a row no sample is called at.
NO_CALL_DOSAGE = "no_call_dosage"


def no_call_dosages(rows: pd.DataFrame, used: np.ndarray | None = None) -> np.ndarray | None:
    """Per genotype row of ``rows`` (a file's rows: a ``VariantIndex.frame`` or the rows Hail
    collected, split), the alt dosage that imputes a missing call where no sample is called,
    under mean_impute: 2/k for the k alleles of the row's site, float64 (len(rows),); None when
    every site is biallelic (1 everywhere, as before session 50). A site is the rows with one
    contig, position and REF as the file writes them (``file_rows``), in any order: a
    multi-allelic record's alts, or a site given split one row per alt (a .bed, split VCF
    records, also a .bim not in position order); and, at a position whose SNV rows share exactly
    one allele but not their REF (``swapped_site_refs``: a BGEN written REF-last, ``C,A`` and
    ``G,A`` for A>C,G, or a .bim's A1/A2 rows), those rows with that allele as the site's REF: a
    row holding it as its alt reads the copies of every allele but its first, 2 - 2/k. k counts
    the REF and the site's distinct alts. Source: plink2 --score's mean imputation gives each
    allele of a variant with no observation the frequency 1/k (2.00a3.5, checked session 50:
    A>C,G,T uncalled scores 0.5 copies for the REF A and for the ALT C, A>C,G 0.667 for A), where
    every route imputed alt dosage 1 per row: an ALT effect allele 1 copy, a REF effect allele
    2 - (k - 1) (-1 copies at A>C,G,T). Before session 51 a site was a run of adjacent rows with
    one REF as written, so a .bim's rows apart and a REF-last BGEN kept 1 per row (-1 copies of
    the REF at A>C,G,T: differential fuzz, benchmarks/diff_pgs_routes.py --orders). ``used`` (bool
    per row; None: all): only the sites at those rows' positions are grouped, the other rows read 1
    (not wanted). Cost: one ``duplicated`` over the rows' positions; the grouping runs on the rows
    at repeated positions among the used rows' (``swapped_site_refs`` loops over those with two
    REFs as written, as matching's ``_swapped_row_sites`` does)."""
    if len(rows) < 2:
        return None
    position, ref, alt = file_rows(rows)
    shared = _shared_positions(position)
    if used is not None and shared.any():
        shared &= np.isin(position, position[used & shared])
    at = np.flatnonzero(shared)
    if not at.size:
        return None
    contig = rows["contig"].to_numpy(object)
    f = pd.DataFrame({"contig": contig[at], "gp": position[at], "gr": ref[at], "ga": alt[at]})
    site_ref = f["gr"].to_numpy(object).copy()
    swapped = np.zeros(len(f), dtype=bool)
    cand, groups = swapped_site_refs(f)
    if groups:
        shared = np.array([groups.get((str(c), int(p))) for c, p in zip(cand["contig"], cand["gp"], strict=True)],
                          dtype=object)
        i = cand.index.to_numpy()[pd.notna(shared)]
        shared = shared[pd.notna(shared)]
        swapped[i] = f["ga"].to_numpy(object)[i] == shared
        site_ref[i] = shared
    # The site's alt on each row: its alt, or its written REF where the row holds the site's REF as alt.
    site_alt = np.where(swapped, f["gr"].to_numpy(object), f["ga"].to_numpy(object))
    k = pd.DataFrame({"c": f["contig"], "p": f["gp"], "r": site_ref, "a": site_alt}).groupby(
        ["c", "p", "r"], sort=False)["a"].transform("nunique").to_numpy(np.int64) + 1
    if (k <= 2).all():
        return None
    out = np.ones(len(rows))
    out[at] = np.where(swapped, 2.0 - 2.0 / k, 2.0 / k)
    return out


def _used_rows_imputed(rows: pd.DataFrame, used: np.ndarray) -> pd.DataFrame:
    """``_used_rows``, with the ``NO_CALL_DOSAGE`` column when some used row's site has more than
    2 alleles (``no_call_dosages`` over all of ``rows``: an ALT effect allele's row alone is used
    at its site, whose other rows still count in k)."""
    out = _used_rows(rows, used)
    dosage = no_call_dosages(rows, used) if len(out) else None
    if dosage is not None and ((picked := dosage[used]) != 1.0).any():
        out[NO_CALL_DOSAGE] = picked
    return out


def _used_rows(rows: pd.DataFrame, used: np.ndarray) -> pd.DataFrame:
    """The rows of ``rows`` flagged ``used`` (bool per row), in row order, indexed 0..n-1. When
    every row is used and already so indexed, a shallow copy (the same column arrays; a column
    set on it stays its own) instead of ``iloc``'s copy of every column, in which pandas also
    consolidates the object columns (0.013-0.035 CPU-s at 200k rows; issue 16, session 32)."""
    index = rows.index
    if used.all() and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return rows.copy(deep=False)
    return rows.iloc[np.flatnonzero(used)].reset_index(drop=True)


def _one_site_per_row(rows: pd.DataFrame, k: int, w: np.ndarray, score_index: np.ndarray, lengths: np.ndarray,
                      used_site: np.ndarray, used_place: np.ndarray, half: np.ndarray, eir: np.ndarray,
                      directory: str | None = None) -> WeightMatrices:
    """``weight_matrices`` when each used row (``rows``, in row order) holds one used site's
    members alone: ``w``/``score_index`` per member in site order (``weight_matrices`` checks
    it: a member's row is its site's place repeated over the site's run), ``lengths`` each site's
    member count, ``used_place`` each used site's row among ``rows``, ``half`` (1 or 0.5 on a
    haploid row) and ``eir`` (effect allele REF) per site.

    One pass over the members per matrix (``_summed_cells``: scipy's sparse-to-dense loop, which
    adds a cell's members in member order from +0.0, as ``np.bincount`` did; session 31: the
    bincounts, gathers and int32 copy were 0.36 of the native score phase's ~0.7 driver CPU-s at
    61 x 200k). The sign of a REF effect allele is applied per row after the sum: ``0.0 - sum``
    is exactly the sum of the negated terms (rounding is symmetric; +0.0, never -0.0, for an
    empty or zero cell, as a bincount gives). The half on haploid rows stays per member
    (``0.5 x w`` each, then summed: the same bits as before also for subnormal weights).
    n_vars: a cell counts at most its site's members (``lengths``' maximum), so it is made in the
    smallest unsigned type that holds that (uint8 for up to 255 scores), which the native pass's
    tasks take as they are (``pgen_engine.score``).
    ``directory``: ``weight_matrices``' (both matrices built in its files when there are rows)."""
    n_used = len(rows)
    # Unused sites' members go to a spare last row, cut off below (a view: no copy); none when
    # every site with members is used (the files built in then hold the used rows alone).
    spare = int(bool(lengths[~used_site].any()))
    shape = (n_used + spare, k)
    # The common case: no spare row and the used sites in row order (each used site's place is
    # then its rank among them). The members are then the rows' runs in row order, a CSR form
    # (row bounds = the runs' bounds) that needs no row per member (``np.repeat``, 12.2M int32
    # at 61 x 200k: 0.035 CPU-s, session 37 flatw). Otherwise each member's row (COO form).
    in_row_order = not spare and bool((used_place[1:] > used_place[:-1]).all())
    if in_row_order:
        bounds = np.zeros(n_used + 1, dtype=np.int32 if len(w) < 2**31 else np.int64)
        np.cumsum(lengths[used_site], out=bounds[1:])
        cells: dict[str, np.ndarray] = {"bounds": bounds}
    else:
        site_place = np.full(len(lengths), n_used, dtype=np.int32 if n_used < 2**31 - 1 else np.int64)
        site_place[used_site] = used_place
        cells = {"rows": np.repeat(site_place, lengths)}
    index_type = next(iter(cells.values())).dtype
    cols = score_index.astype(index_type, copy=False)  # (the loops take one index type)
    haploid = used_site & (half != 1.0)
    data = w if not haploid.any() else w * np.repeat(half, lengths)
    in_files = directory if n_used else None  # (no file of no rows: an empty file cannot be mapped)

    ref_effect_row = np.zeros(n_used, dtype=bool)
    ref_effect_row[used_place] = eir[used_site]
    if in_files is not None and in_row_order:
        # The common case into a pass directory: each file written from row chunks summed in the
        # cache (``_written_cells``), the offsets' column sums taken from the chunks on the way.
        slope, offset_sums = _written_cells(in_files, "slope", shape, data, cols, bounds, ref_effect_row)
        n_vars, _ = _written_cells(in_files, "n_vars", shape, np.ones(len(w), dtype=count_type(lengths)), cols,
                                   bounds)
        return WeightMatrices(rows, slope, None, n_vars, ref_effect_row=ref_effect_row, directory=in_files,
                              offset_sums=offset_sums)

    def dense(name: str, values: np.ndarray) -> np.ndarray:
        if in_files is None:
            out = np.zeros(shape, dtype=values.dtype)  # fresh zero pages
        else:
            from trd_spark.pgs.native_task import mapped_rows

            mapped = mapped_rows(in_files, name, shape, values.dtype)
            _populate(mapped)
            out = np.asarray(mapped)  # a plain ndarray view (the mapping lives as long as the view)
        _summed_cells(out, values, cols, **cells)
        return out[:n_used]

    slope = dense("slope", data)
    np.subtract(0.0, slope, out=slope, where=ref_effect_row[:, None])
    n_vars = dense("n_vars", np.ones(len(w), dtype=count_type(lengths)))
    # A member's offset is 2w for a REF effect allele (its slope -w), else 0; a cell's members
    # share their site's allele, so the cell's offset is -2 x its slope on a REF-effect row
    # (the same sum scaled by -2: exact) and 0 elsewhere. The matrix itself is built only if
    # used (``WeightMatrices.offset``; the native engine's mean imputation takes its column sums
    # alone, ``offset_total``; session 27).
    return WeightMatrices(rows, slope, None, n_vars, ref_effect_row=ref_effect_row, directory=in_files)


def count_type(lengths: np.ndarray) -> np.dtype:
    """The n_vars matrix's type (``_one_site_per_row``): the smallest unsigned type holding the
    largest site's member count (``lengths``), which a cell counts at most."""
    return np.min_scalar_type(max(1, int(lengths.max(initial=0))))


# Bytes of a row chunk ``_written_cells`` sums before writing it: within a core's L2 cache.
_CHUNK_BYTES = 2**20


def _written_cells(directory: str, name: str, shape: tuple[int, int], values: np.ndarray, cols: np.ndarray,
                   bounds: np.ndarray, negated: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``_summed_cells``' CSR form (row ``i``'s members ``bounds[i]:bounds[i + 1]``, columns
    ``cols``, ``values`` one per member) as the ``shape`` matrix of ``values``' dtype in
    ``<directory>/weights/<name>.npy`` (the file ``native_task.shared_task_rows`` would write for
    the ``Task`` field ``name``), summed into a cache-sized buffer a row chunk at a time
    (``_CHUNK_BYTES``) and written from it; the rows flagged ``negated`` (bool per row: a REF
    effect allele's) are then ``0.0 - sum``, as ``_one_site_per_row`` negates them. Returns the
    file's matrix mapped read-only (``np.load(mmap_mode="r")``: the driver reads it only if
    asked) and, with ``negated`` and two scores or more, the offsets' column sums
    ``WeightMatrices.offset_total`` gives (-2 x the negated rows' sums in row order, +0.0 for a
    zero sum), taken from each chunk while it is in the cache; None otherwise (one score: numpy
    sums a single column pairwise, which chunks would regroup).

    Why: built through a writable mapping (``native_task.mapped_rows``), the file's ~110 MB at
    200k rows x 61 scores were reserved (``posix_fallocate``: the kernel zeroes every new tmpfs
    page), then each page mapped into the driver (``MADV_POPULATE_WRITE``) and written: 0.063 of
    the build's ~0.11 CPU-s on the 2.5k score phase's start (issue 16, session 38 flatbed). A
    write (``os.pwrite``) into a new tmpfs page needs neither the zeroing nor the driver's
    mapping; and a full directory is an OSError of the write naming the file, where a write
    through a mapping would be SIGBUS (why ``mapped_rows`` reserves). The same additions in
    the same order as ``_summed_cells`` (each cell its members in member order from +0.0; numpy's
    column sum over the rows of two columns or more is sequential in row order, continued chunk to
    chunk from the running sum): the same bits (tests/test_flatbed_s39.py). Raises ValueError
    for an index outside the matrix (nothing written), OSError naming the file when it cannot be
    written."""
    from scipy.sparse import _sparsetools

    n_rows, k = shape
    _check_cells(n_rows, k, values, cols, bounds=bounds)
    shared = os.path.join(directory, "weights")
    os.makedirs(shared, exist_ok=True)
    path = os.path.join(shared, f"{name}.npy")
    chunk = max(1, _CHUNK_BYTES // max(1, k * values.dtype.itemsize))
    # Row 0 of the buffer holds the running column sums of the negated rows (the next chunk's
    # sum starts from it: one sequential sum over every row, as ``offset_total``'s).
    buffer = np.empty((min(chunk, n_rows) + 1, k), dtype=values.dtype)
    # (One score: numpy sums an (n, 1) column pairwise, not row after row, so a sum restarted at
    # each chunk regroups its additions and its last bits differ from ``offset_total``'s; none is
    # taken, and ``offset_total`` sums the column itself, as before.)
    running = np.zeros(k) if negated is not None and k > 1 else None
    try:
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(values.dtype),
                                                     "fortran_order": False, "shape": shape})
            at = f.tell()
            for lo in range(0, n_rows, chunk):
                hi = min(lo + chunk, n_rows)
                part = buffer[1:hi - lo + 1]
                part.fill(0)
                _sparsetools.csr_todense(hi - lo, k, bounds[lo:hi + 1], cols, values, part)
                if negated is not None:
                    flags = negated[lo:hi]
                    np.subtract(0.0, part, out=part, where=flags[:, None])
                    if running is not None:
                        # The running sums and the chunk's negated rows taken (a copy of about
                        # half the chunk) and summed unmasked: the same additions in the same
                        # order as a ``where=`` mask over the chunk, at half its CPU (numpy's
                        # masked reduction loop: ~0.011 of the 0.1 CPU-s build at 200k rows x 61
                        # scores, issue 16, benchmarks/RESULTS.md session 52 fixed16).
                        buffer[0] = running
                        running = np.add.reduce(buffer.take(np.r_[0, np.flatnonzero(flags) + 1], axis=0), axis=0)
                _written_at(f.fileno(), part, at)
                at += part.nbytes
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write the pass's file ({exc.strerror or exc})", path) from exc
    matrix = np.asarray(np.load(path, mmap_mode="r"))  # a plain read-only view; the map lives with it
    return matrix, None if running is None else -2.0 * running + 0.0


def _written_at(fd: int, part: np.ndarray, at: int) -> None:
    """``part``'s bytes written to ``fd`` at file offset ``at`` (``os.pwrite`` again after a short write)."""
    view = memoryview(part.data).cast("B")  # (C-contiguous rows: their bytes in order)
    while len(view):
        done = os.pwrite(fd, view, at)
        view, at = view[done:], at + done


def _populate(mapped: np.ndarray) -> None:
    """Fault in the pages of ``mapped`` (an ``np.memmap`` of a new file) for writing in one
    madvise call (``memory.populate_write``), where writing them faults each 4 KiB page on its
    own: at 61 x 200k the slope file's 24k faults cost 0.03 of the fill's 0.11 CPU-s (session 37
    flatw). A hint only: nothing is done where the kernel or the array has no such call (the
    writes fault as before)."""
    mm = getattr(mapped, "_mmap", None)
    if mm is not None:
        populate_write(mm)


def _summed_cells(out: np.ndarray, values: np.ndarray, cols: np.ndarray, *, bounds: np.ndarray | None = None,
                  rows: np.ndarray | None = None) -> None:
    """Add ``values`` (one per member, in member order) into ``out`` (C-contiguous, 2-D, zeros,
    of ``values``' dtype) at their cells: row ``i``'s members are ``bounds[i]:bounds[i + 1]``
    (CSR form: rows' runs in member order, bounds non-decreasing from 0 to the members'
    number), or member ``j`` is at row ``rows[j]`` (COO form); column ``cols[j]``; index arrays of
    one integer type. Each cell is its members' sum in member order from +0.0 (an empty cell
    +0.0). Raises ValueError when an index is outside ``out`` (before anything is written).

    scipy's compiled loops ``csr_todense`` / ``coo_todense`` do the sum; they are called
    directly rather than through ``toarray(out=...)``, which first writes zeros over ``out``
    (a second pass over a new file that is all zeros already: 0.036 CPU-s a 98 MB matrix at
    61 x 200k, session 37 flatw), and the COO's constructor scans every index for its checks
    (0.019 CPU-s). The loops write unchecked, so the indices are checked here (the columns in
    one pass, as unsigned: a negative one is then past ``k``). ``scipy.sparse._sparsetools`` is
    scipy's internal module (the loops its ``toarray`` calls, same arguments in every scipy this
    project allows, >= 1.11); a release that changed them would raise TypeError here, not sum
    otherwise (tests/test_flatw_s37.py compares with ``toarray``'s result)."""
    from scipy.sparse import _sparsetools

    n_rows, k = out.shape
    _check_cells(n_rows, k, values, cols, bounds=bounds, rows=rows)
    if bounds is not None:
        _sparsetools.csr_todense(n_rows, k, bounds, cols, values, out)
        return
    assert rows is not None
    _sparsetools.coo_todense(n_rows, k, len(values), rows, cols, values, out.reshape(-1), 0)


def _check_cells(n_rows: int, k: int, values: np.ndarray, cols: np.ndarray, *, bounds: np.ndarray | None = None,
                 rows: np.ndarray | None = None) -> None:
    """Raise ValueError when a member's cell (``_summed_cells``' CSR ``bounds`` or COO ``rows``,
    and ``cols``) is outside an ``n_rows`` x ``k`` matrix: scipy's loops write unchecked."""
    nnz = len(values)
    ok = len(cols) == nnz and (not nnz or int(cols.view(np.dtype(f"u{cols.dtype.itemsize}")).max()) < k)
    if bounds is not None:
        ok = ok and len(bounds) == n_rows + 1 and int(bounds[0]) == 0 and int(bounds[-1]) == nnz and \
            bool((bounds[1:] >= bounds[:-1]).all())
    else:
        assert rows is not None
        ok = ok and len(rows) == nnz and (not nnz or (int(rows.min()) >= 0 and int(rows.max()) < n_rows))
    if not ok:
        raise ValueError("a member's cell is outside the weight matrix")


def _placed_loci(sites: pd.DataFrame) -> pd.DataFrame:
    """The placed score loci of ``score_sites`` (``contig`` object, ``position`` int32, distinct):
    each site's position as written and, for a site with both alleles, the position of its
    minimal representation (``minimal_site_alleles``: ``ACT``/``ACTT`` at 100 is ``C``/``CT``
    at 101), where the matcher compares it with the genotype rows."""
    if "effect_allele" in sites:
        sites = pd.concat([sites[["contig", "position"]],
                           pd.DataFrame({"contig": sites["contig"], "position": minimal_site_alleles(sites)[0]})])
    placed = sites.loc[sites["contig"].notna() & sites["position"].notna(), ["contig", "position"]]
    return placed.drop_duplicates().astype({"contig": object, "position": "int32"})


def loci_table(hl: hl_types, spark: SparkSession, sites: pd.DataFrame, reference_genome: str,
               also: pd.DataFrame | None = None) -> hl_types.Table:
    """The placed score loci of ``score_sites`` (``_placed_loci``) as a Hail Table keyed by
    ``locus``: what ``genotypes.read_genotypes`` densifies a VDS at. (The rows the match
    collects are picked by ``ScoreLoci``, which needs no Spark-to-Hail conversion.) ``also``:
    more loci (``contig``, ``position``), the written loci of a VDS's records near the score's
    indels that ``pgs.reference_fasta`` left-aligns (``shifted_rows_near``), densified too."""
    placed = _placed_loci(sites)
    if also is not None and len(also):
        placed = pd.concat([placed, also[["contig", "position"]].astype({"contig": object, "position": "int32"})])
        placed = placed.drop_duplicates()
    schema = T.StructType([T.StructField("contig", T.StringType(), False),
                           T.StructField("position", T.IntegerType(), False)])
    ht = hl.Table.from_spark(pandas_to_spark(spark, placed, schema))
    return ht.key_by(locus=hl.locus(ht.contig, ht.position, reference_genome)).select()


@dataclass(frozen=True)
class ScoreLoci:
    """The placed score loci of ``score_sites`` (``_placed_loci``) as global positions on
    ``reference_genome``: int64, sorted, distinct; Hail's ``LocusExpression.global_position``
    (position - 1 plus the lengths of the contigs before it, ``ReferenceGenome.global_positions_dict``).
    ``literal`` gives them as one Hail literal set, so that a job
    filtering genotype rows by them needs no Spark-to-Hail conversion, join or sort (a Table
    keyed by locus, ``loci_table``, cost 5 s to build at 100k loci and the rows job 8 Spark
    jobs on a 6-sample VCF, session 14 profile in benchmarks/RESULTS.md)."""

    reference_genome: str
    global_positions: np.ndarray

    @classmethod
    def of(cls, hl: hl_types, sites: pd.DataFrame, reference_genome: str) -> ScoreLoci:
        """The loci of ``score_sites`` on ``reference_genome`` (every placed contig is one of
        its contigs: ``score_sites`` leaves others unplaced)."""
        placed = _placed_loci(sites)
        offsets = hl.get_reference(reference_genome).global_positions_dict
        start = placed["contig"].map(offsets).to_numpy(np.int64)
        return cls(reference_genome, np.unique(start + placed["position"].to_numpy(np.int64) - 1))

    @classmethod
    def at(cls, hl: hl_types, contig: np.ndarray, position: np.ndarray, reference_genome: str) -> ScoreLoci:
        """The loci (``contig``: object, ``reference_genome``'s names; ``position``: int64) that are
        places on ``reference_genome``: a contig of it and 1..its length (another build's place, a
        build check's, may lie past the declared contig or on a contig it names otherwise: left
        out, as no genotype row can be there)."""
        ref = hl.get_reference(reference_genome)
        names = pd.Series(np.asarray(contig, dtype=object), dtype=object)
        start = names.map(ref.global_positions_dict).to_numpy("float64", na_value=np.nan)
        length = names.map(ref.lengths).to_numpy("float64", na_value=0)
        pos = np.asarray(position, np.int64)
        ok = ~np.isnan(start) & (pos >= 1) & (pos <= length)
        return cls(reference_genome, np.unique(start[ok].astype(np.int64) + pos[ok] - 1))

    def literal(self, hl: hl_types) -> Any:
        """The global positions as one Hail literal ``set<int64>`` (test a locus with
        ``.contains(locus.global_position())``; build it once per expression: each literal is
        sent to the tasks)."""
        return hl.literal({int(g) for g in self.global_positions}, hl.tset(hl.tint64))

    def with_global_positions(self, extra: np.ndarray) -> ScoreLoci:
        """These loci and ``extra`` (int64 global positions on the same reference)."""
        return ScoreLoci(self.reference_genome, np.union1d(self.global_positions, np.asarray(extra, np.int64)))


# Width (bases) of ``ShiftWindows``' buckets of global positions.
SHIFT_BUCKET = 128


@dataclass(frozen=True)
class ShiftWindows:
    """Where a genotype file not left-aligned may hold a score's left-aligned indel shifted right
    (``shifted_genotype_indels``): buckets (global position // ``SHIFT_BUCKET``, int64, sorted,
    distinct) covering ``[p, p + SHIFT_WINDOW]`` of each placed score site whose minimal alleles
    are a left-aligned indel. Hail's routes collect the file rows there that are indels written
    not left-aligned (``genotype_rows_at``'s ``near``) beside the rows at the score loci, so that
    they, as the native routes' whole variant lists, can tell such a not-found indel.
    ``written``: the placed score sites that are indels written not left-aligned (shifted right
    or anchored on their right: ``unnormalised_indels``), (contig, position, allele, allele) in
    minimal form, both allele orders: a genotype record holding one as written matches it as
    written and ``left_aligned_rows`` leaves it where it is. ``right_anchored`` (windows made
    with the FASTA): each window reaches one base further and the rows collected in it include
    indels anchored on their right (``AG>G``: the base after the event shared, as some callers and
    liftovers write them), which the FASTA left-aligns too."""

    buckets: np.ndarray
    written: frozenset[tuple[str, int, str, str]] = frozenset()
    right_anchored: bool = False

    @classmethod
    def of(cls, hl: hl_types, sites: pd.DataFrame, reference_genome: str,
           reference: ReferenceFasta | None = None) -> ShiftWindows | None:
        """The windows of ``score_sites``' placed indels on ``reference_genome``; None without any.
        With ``reference`` (``pgs.reference_fasta``) each window is the indel's repeat as the FASTA
        has it (``ReferenceFasta.shift_extent``: none outside a repeat, past 100 bases in a long
        one) instead of ``SHIFT_WINDOW`` bases, plus one base: an indel anchored on its right sits
        one base past its left-anchored form (a deletion of p + 1.. written from p + 1, an
        insertion after p written at p + 1), so an insertion outside any repeat has the window
        [p, p + 1] (``right_anchored``)."""
        position, ea, oa, _, _ = minimal_site_alleles(sites)
        indel, seq, shifts = _left_anchored_indels(ea, oa)
        at = np.flatnonzero(indel & ~shifts & position.notna().to_numpy() & sites["contig"].notna().to_numpy())
        if not len(at):
            return None
        offsets = hl.get_reference(reference_genome).global_positions_dict
        contig = sites["contig"].to_numpy(object)[at]
        start = pd.Series(contig, dtype=object).map(offsets)
        ok = start.notna().to_numpy()
        if not ok.any():
            return None
        p = position.to_numpy("int64", na_value=0)[at][ok]
        gp = start.to_numpy("float64")[ok].astype(np.int64) + p - 1
        if reference is None:
            width = np.full(len(gp), SHIFT_WINDOW, np.int64)
        else:
            width = np.array([reference.shift_extent(str(c), int(q), str(x))
                              for c, q, x in zip(contig[ok], p, seq[at][ok], strict=True)], np.int64)
            from trd_spark.pgs.reference_fasta import MAX_FASTA_SHIFT

            if (width >= MAX_FASTA_SHIFT).any():
                log.warning("pgs: %d score indel(s) lie in a repeat of %d bases or more in pgs.reference_fasta %s: "
                            "genotype records written shifted further right than that are not looked for (plain "
                            "not_found)", int((width >= MAX_FASTA_SHIFT).sum()), MAX_FASTA_SHIFT, reference.path)
            width = width + 1
        lo, hi = gp // SHIFT_BUCKET, (gp + width) // SHIFT_BUCKET
        placed = np.flatnonzero(unnormalised_indels(ea, oa) & position.notna().to_numpy()
                                & sites["contig"].notna().to_numpy())
        pos_all, con_all = position.to_numpy("int64", na_value=0), sites["contig"].to_numpy(object)
        written = frozenset(k for i in placed.tolist()
                            for k in ((str(con_all[i]), int(pos_all[i]), str(ea[i]), str(oa[i])),
                                      (str(con_all[i]), int(pos_all[i]), str(oa[i]), str(ea[i]))))
        return cls(np.unique(np.concatenate([np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)])), written,
                   reference is not None)

    def contains(self, global_positions: np.ndarray) -> np.ndarray:
        """bool per global position (int64): in one of the buckets."""
        return np.isin(np.asarray(global_positions, np.int64) // SHIFT_BUCKET, self.buckets)

    def intervals(self, hl: hl_types, reference_genome: str) -> list:
        """The buckets as ``hl.Interval`` of loci on ``reference_genome`` (both ends included),
        consecutive buckets merged and a bucket over a contig's end cut there: for
        ``hl.filter_intervals``, so that a job reading the rows near the score's indels reads
        only the partitions (and, with an index, the parts of them) holding them (a VDS's
        variant data: ``shifted_rows_near``)."""
        ref = hl.get_reference(reference_genome)
        offsets = ref.global_positions_dict
        contigs = sorted(offsets, key=offsets.__getitem__)
        starts = np.array([offsets[c] for c in contigs], np.int64)
        ends = starts + np.array([ref.lengths[c] for c in contigs], np.int64) - 1
        b = np.asarray(self.buckets, np.int64)
        cut = np.flatnonzero(np.diff(b) != 1) + 1
        out = []
        for run in np.split(b, cut):
            lo, hi = int(run[0]) * SHIFT_BUCKET, (int(run[-1]) + 1) * SHIFT_BUCKET - 1
            for k in range(max(int(np.searchsorted(ends, lo)), 0), len(contigs)):
                if starts[k] > hi:
                    break
                s, e = max(lo, int(starts[k])), min(hi, int(ends[k]))
                out.append(hl.Interval(hl.Locus(contigs[k], s - int(starts[k]) + 1, reference_genome),
                                       hl.Locus(contigs[k], e - int(starts[k]) + 1, reference_genome),
                                       includes_start=True, includes_end=True))
        return out

    def expression(self, hl: hl_types, locus, alleles) -> Any:
        """Boolean expression: a file row (``locus``, ``alleles``: REF first, any alts) in a bucket
        with an alt whose ``hl.min_rep`` is an indel anchored on its left whose sequence ends with
        the anchor base (written not left-aligned: ``unnormalised_indels``' first case), or, with
        ``right_anchored``, any indel whose longer allele ends with the shorter one (either case)."""
        wanted = hl.literal({int(b) for b in self.buckets}, hl.tset(hl.tint64))
        ref = alleles[0]

        def shifted(a):
            m = hl.min_rep(locus, [ref, a]).alleles
            short = hl.if_else(hl.len(m[0]) == 1, m[0], m[1])
            long_ = hl.if_else(hl.len(m[0]) == 1, m[1], m[0])
            ends = long_[hl.len(long_) - 1] == short
            return ((hl.len(m[0]) != hl.len(m[1])) & (hl.len(short) == 1)
                    & (ends if self.right_anchored else (long_[0] == short) & ends))

        return hl.if_else(wanted.contains(locus.global_position() // SHIFT_BUCKET),
                          hl.any(lambda a: (hl.len(a) != hl.len(ref)) & (a != "*") & shifted(a), alleles[1:]),
                          False)


def ref_matches_off_score_loci(sites: pd.DataFrame, rows: pd.DataFrame, loci: ScoreLoci,
                               offsets: dict[str, int]) -> np.ndarray:
    """Global positions (int64, sorted, distinct; ``offsets``: the reference's
    ``global_positions_dict``) of the file-row loci (as written, ``file_rows``) of the REF effect
    alleles ``match_sites_frame`` matched (``sites``) on a row of ``rows`` that is at no score
    locus of ``loci`` as written: an alt that moved onto one in minimal form ('ACT>ACGT' at 100
    for a score's C/CG at 101). Empty almost always. Why: the other alts of such a site given
    split (bcftools norm -m- lines, 'ACT>A' beside 'ACT>ACGT') are at no score locus either, so
    ``genotype_rows_at`` did not collect them and the REF dosage kept their carriers' copies as
    REF (``_other_alt_rows`` found none): the caller collects the rows at these loci too and
    matches again. An unsplit record carries its alts in one row, collected whole."""
    row = sites["matched_row"].to_numpy(np.int64)
    at = row[sites["effect_is_ref"].to_numpy(bool) & (row >= 0)]
    if not len(at):
        return np.empty(0, np.int64)
    written = file_rows(rows)[0][at]
    start = pd.Series(rows["contig"].to_numpy(object)[at], dtype=object).map(offsets).to_numpy(np.int64)
    at_locus = start + written - 1
    return np.unique(at_locus[~np.isin(at_locus, loci.global_positions)])


def at_score_loci(hl: hl_types, wanted, locus, alleles) -> Any:
    """Boolean expression: a file row (``locus``, ``alleles``: REF first, any number of alts,
    unsplit) is at one of the loci ``wanted`` (``ScoreLoci.literal``) or has an alt whose
    minimal representation (``hl.min_rep`` of ``[REF, alt]``, where ``hl.split_multi`` puts
    that alt's row) lies at one of them (``ACT>A,ACGT`` at 100 has ``C>CG`` at 101, which a
    score written ``C/CG`` at 101 matches). Only an alt and a REF of two bases or more can move."""
    ref = alleles[0]
    moves_onto = hl.if_else(
        hl.len(ref) > 1,
        hl.any(lambda a: (hl.len(a) > 1) & wanted.contains(hl.min_rep(locus, [ref, a]).locus.global_position()),
               alleles[1:]),
        False)
    return wanted.contains(locus.global_position()) | moves_onto


def file_rows_at(file_rows: pd.DataFrame, loci: ScoreLoci, offsets: dict[str, int],
                 contigs: Sequence[str], near: ShiftWindows | None = None) -> pd.DataFrame | None:
    """``genotype_rows_at(split=True, row_numbers=True)``'s frame from a MatrixTable's rows read
    without Hail (``mt_entries.file_rows``: contig, position, alleles, file_row), with
    ``at_score_loci``'s rule in numpy: a row at a score locus (``loci``; ``offsets``: the
    reference's ``global_positions_dict``), or whose REF of two bases or more has an alt of two
    bases or more whose ``min_rep`` (``minimal_alleles``) lies at one; then split as the rows job's
    are (``split_file_rows``, in ``contigs`` order). None when some row has an alt equal to its
    REF of two bases or more (Hail's ``min_rep`` raises: the caller runs the rows job, which
    reports it). ``near``: as ``genotype_rows_at``'s (the frame then has ``AT_SCORE_LOCI``)."""
    import json

    wanted = np.asarray(loci.global_positions, np.int64)
    start = file_rows["contig"].map(offsets).to_numpy(np.int64)
    position = file_rows["position"].to_numpy(np.int64)
    keep = np.isin(start + position - 1, wanted)
    ref = np.array([a[0] for a in file_rows["alleles"]], dtype=object)
    long_ref = np.flatnonzero(pd.Series(ref, dtype=object).str.len().to_numpy(np.int64) > 1)
    alleles = file_rows["alleles"].tolist()
    pairs = [(int(i), a) for i in long_ref for a in alleles[i][1:] if len(a) > 1]
    if any(a == ref[i] for i, a in pairs):
        return None
    if pairs:
        at = np.array([i for i, _ in pairs], np.int64)
        moved, _, _ = minimal_alleles(position[at], ref[at], np.array([a for _, a in pairs], dtype=object))
        keep[at[np.isin(start[at] + moved - 1, wanted)]] = True
    at_loci = keep.copy()
    if near is not None:  # (a loop over the rows in the windows that are at no score locus: few)
        for i in np.flatnonzero(~keep & near.contains(start + position - 1)).tolist():
            a = alleles[i]
            e = np.array(a[1:], dtype=object)
            _, r, x = minimal_alleles(np.full(len(e), position[i]), np.full(len(e), a[0], dtype=object), e)
            keep[i] = bool(movable_indels(r, x, near.right_anchored).any())
    kept = file_rows[keep]
    frame = pd.DataFrame({"contig": kept["contig"].to_numpy(object), "position": kept["position"].to_numpy(np.int64),
                          "alleles_json": [json.dumps(a) for a in kept["alleles"]],
                          FILE_ROW: kept["file_row"].to_numpy(np.int64)})
    if near is not None:
        frame[SHIFT_ONLY] = ~at_loci[keep]
    return split_file_rows(frame, contigs)


# ``genotype_rows_at``'s column (bool) with ``also``: the row is one it collects without ``also``.
AT_SCORE_LOCI = "at_score_loci"
# ``genotype_rows_at``'s / ``file_rows_at``'s column (bool) with ``near``: the row is collected for it alone.
SHIFT_ONLY = "shift_only"


def genotype_rows_at(hl: hl_types, rows: hl_types.Table, loci: ScoreLoci, rsids: Sequence[str] = (), *,
                     split: bool = True, row_numbers: bool = False, also: ScoreLoci | None = None,
                     near: ShiftWindows | None = None) -> pd.DataFrame:
    """The genotype rows at ``loci``, and those whose ``rsid`` is in ``rsids`` (rsID-only
    scores), collected to the driver as the frame matcher takes them, in key order (contig
    in the reference's order, position, ref, alt).

    ``rows``: keyed by ``locus``, ``alleles`` [, ``rsid`` (str)] [, ``NORMALISED``], e.g.
    ``genotypes.file_rows``. With ``split`` (the file's own rows: REF first, any number of
    alts), each file row at a score locus or with an alt moving onto one (``at_score_loci``)
    is collected whole and split here as ``genotypes.biallelic_rows`` splits it in Hail
    (``split_file_rows``: ``with_missing_alt``, then ``hl.split_multi(keep_star=True)``), so
    the frame has ``contig`` (object), ``position`` (int64), ``ref``, ``alt`` (object) [,
    ``rsid`` (object, None when missing)], ``normalised`` (bool, ``genotypes.NORMALISED``:
    whether ``scoring.export_hard_calls`` can write the file's own row), ``site_position``
    (int64), ``site_ref``, ``site_alt`` (object; ``genotypes.SITE_POSITION``), ``site_record``
    (int64, ``genotypes.SITE_RECORD``: shared by the alts of one record). Without
    ``split`` (biallelic rows taken as they are: BGEN, or rows split already) the rows at a
    score locus or moving onto one (``at_score_loci``) as written, with ``contig``, ``position``,
    ``ref``, ``alt`` [, ``rsid``] [,
    ``normalised`` when the rows have it]. ``row_numbers``: also ``file_row`` (int64,
    ``genotypes.FILE_ROW``), each row's 0-based number among ``rows`` (a split row: its file
    row's), numbered in the same job (``Table.add_index`` before the filter). ``also``: more
    loci whose rows (by the same rule) are collected in the same job, for a check that reads rows
    elsewhere than the score loci (``build_positions``: the score sites' places on the other
    build); the frame then has ``AT_SCORE_LOCI`` (bool), True for the rows collected without
    ``also`` (the match takes those only: its rows are the same with or without the check).
    ``near``: also the rows there that hold an indel written not left-aligned
    (``ShiftWindows.expression``); the frame then has ``SHIFT_ONLY`` (bool), True for the rows
    collected for ``near`` alone (the match's ``neighbours``, never matched).

    One Hail job: the file rows picked by a literal set (no join, no sort, no split in Hail:
    ``hl.split_multi`` is a union of two reads of its input, one of them re-keyed) written as
    TSV shards into Hail's temp dir and read here with pandas, then removed: the cheapest of
    ``Table.to_spark().toPandas()`` (three Spark jobs), ``Table.collect`` (a Python object per
    row) and this export at 10k x 100k (session 11, benchmarks/RESULTS.md). Raises what Hail
    raises for a row ``hl.min_rep`` refuses (an alt equal to a REF of two bases or more), as
    Hail's split does."""
    has_rsid = "rsid" in rows.row
    if row_numbers:
        rows = rows.add_index(FILE_ROW)
    at = loci.literal(hl)
    # Split or not, a row whose alt moves onto a score locus in minimal form is wanted: a BGEN's
    # 'ACT>ACGT' at 100 is the 'C/CG' at 101 of a score (its native route matched it; Hail's did not).
    keep = at_score_loci(hl, at, rows.locus, rows.alleles)
    if has_rsid and len(rsids):
        # A VCF ID column is a semicolon-separated list (VCF 4.x 1.6.1): each ID is the row's.
        wanted = hl.literal(set(rsids), hl.tset(hl.tstr))
        keep = keep | hl.or_else(hl.any(lambda r: wanted.contains(r), rows.rsid.split(RSID_SEPARATOR)), False)
    if also is not None:
        rows = rows.annotate(**{AT_SCORE_LOCI: keep})
        keep = rows[AT_SCORE_LOCI] | at_score_loci(hl, also.literal(hl), rows.locus, rows.alleles)
    if near is not None:
        rows = rows.annotate(**{SHIFT_ONLY: ~keep})
        keep = ~rows[SHIFT_ONLY] | near.expression(hl, rows.locus, rows.alleles)
    kept = rows.filter(keep)
    f: dict[str, Any] = {"contig": kept.locus.contig, "position": kept.locus.position}
    if split:
        # JSON: one text field per row whatever the number of alleles or their characters.
        f["alleles_json"] = hl.json(kept.alleles)
    else:
        f.update(ref=kept.alleles[0], alt=kept.alleles[1])
    if has_rsid:
        # TSV has no missing value of its own: a missing rsID is written empty and flagged.
        f.update(rsid=hl.or_else(kept.rsid, ""), _rsid_missing=hl.is_missing(kept.rsid))
    if NORMALISED in kept.row and not split:
        f[NORMALISED] = kept[NORMALISED]
    if row_numbers:
        f[FILE_ROW] = kept[FILE_ROW]
    if also is not None:
        f[AT_SCORE_LOCI] = kept[AT_SCORE_LOCI]
    if near is not None:
        f[SHIFT_ONLY] = kept[SHIFT_ONLY]
    out = _export_rows(hl, kept.select(**f), list(f))
    if has_rsid:
        rsid = out["rsid"].to_numpy(object)
        rsid[out.pop("_rsid_missing").to_numpy(bool)] = None
        out["rsid"] = rsid
    if split:
        out = split_file_rows(out, rows.locus.dtype.reference_genome.contigs)
    return out


def shifted_rows_near(hl: hl_types, rows: hl_types.Table, near: ShiftWindows) -> pd.DataFrame:
    """The file ``rows`` (keyed by ``locus``, ``alleles``: REF first, any number of alts) in
    ``near``'s windows holding an indel written not left-aligned (``ShiftWindows.expression``),
    split on the driver as ``genotype_rows_at(split=True)``'s frame (``SHIFT_ONLY`` True): the
    match's ``neighbours``, never matched. For a VDS, whose rows the route densifies at the score
    loci alone: its variant data's rows, read through ``hl.filter_intervals`` of the windows
    (``ShiftWindows.intervals``), so only the partitions there are read. One Hail job."""
    rg = rows.locus.dtype.reference_genome.name
    inside = hl.filter_intervals(rows.select(), near.intervals(hl, rg))
    return genotype_rows_at(hl, inside, ScoreLoci(rg, np.empty(0, np.int64)), near=near)


def split_file_rows(file_rows: pd.DataFrame, contigs: Sequence[str]) -> pd.DataFrame:
    """File rows (``contig``, ``position`` int64, ``alleles_json``: the alleles as JSON text, REF then any number
    of alts [, ``rsid``] [, ``file_row``]) -> one row per alt as ``genotypes.biallelic_rows`` gives them in Hail:
    a row with no alt gets the alt ``genotypes.MISSING_ALT`` (``with_missing_alt``); each alt's
    row is ``hl.min_rep`` of ``[REF, alt]`` (``minimal_alleles``; a ``*`` alt after a REF of two
    bases or more keeps the REF's first base, as Hail's ``VariantMethods.minRep``), with
    ``normalised`` (the file row has several alts, the alt ``.``, or its one alt's row is not
    the file row as written), ``site_position``/``site_ref``/``site_alt`` (the file row's
    position, REF and this alt); sorted by (``contigs`` order, position, ref, alt), stably, as
    the split rows' key orders them. Columns: contig, position, ref, alt [, rsid], normalised,
    site_position, site_ref, site_alt, site_record (``genotypes.SITE_RECORD``: the file row's number
    in ``file_rows``) [, file_row: each alt's file row's] [, ``AT_SCORE_LOCI``: its file row's]
    (``genotype_rows_at``)."""
    import json

    from trd_spark.pgs.genotypes import MISSING_ALT

    alleles = [json.loads(a) for a in file_rows["alleles_json"]]
    alleles = [a if len(a) > 1 else [*a, MISSING_ALT] for a in alleles]
    n_alts = np.fromiter((len(a) - 1 for a in alleles), dtype=np.int64, count=len(alleles))
    at = np.repeat(np.arange(len(alleles)), n_alts)
    site_ref = np.array([a[0] for a in alleles], dtype=object)[at]
    site_alt = np.array([x for a in alleles for x in a[1:]], dtype=object)
    site_position = file_rows["position"].to_numpy(np.int64)[at]
    position, ref, alt = minimal_alleles(site_position, site_ref, site_alt)
    ref_length = pd.Series(site_ref, dtype=object).str.len().to_numpy(np.int64)
    star = (site_alt == "*") & (ref_length > 1)
    ref[star] = np.array([r[0] for r in site_ref[star]], dtype=object)
    changed = (position != site_position) | (ref != site_ref) | (alt != site_alt)
    normalised = (n_alts[at] > 1) | (site_alt == MISSING_ALT) | changed
    out = pd.DataFrame({"contig": file_rows["contig"].to_numpy(object)[at], "position": position,
                        "ref": ref, "alt": alt})
    if "rsid" in file_rows:
        out["rsid"] = file_rows["rsid"].to_numpy(object)[at]
    if FILE_ROW in file_rows:
        out[FILE_ROW] = file_rows[FILE_ROW].to_numpy(np.int64)[at]
    for flag in (AT_SCORE_LOCI, SHIFT_ONLY):
        if flag in file_rows:
            out[flag] = file_rows[flag].to_numpy(bool)[at]
    out[NORMALISED] = normalised.astype(bool)
    out[SITE_POSITION], out[SITE_REF], out[SITE_ALT] = site_position, site_ref, site_alt
    out[SITE_RECORD] = at  # (int64) the alts of one record share it: genotypes.check_split_site_sums
    rank = out["contig"].map({c: i for i, c in enumerate(contigs)}).to_numpy(np.int64)
    order = np.lexsort((out["alt"].to_numpy(str), out["ref"].to_numpy(str), position, rank))
    return out.take(order).reset_index(drop=True)


def _export_rows(hl: hl_types, rows: hl_types.Table, columns: list[str]) -> pd.DataFrame:
    """``rows`` (its fields ``columns``) written as TSV shards into Hail's temp dir by one Hail
    job and read back (``_read_tsv_shards``); the shards are removed."""
    # Still keyed (the key columns written and dropped on reading): un-keyed (``key_by()``), the
    # rows of a densified VDS failed in ``to_spark`` (Hail 0.2.139: "requirement failed" in
    # RVD.union of split_multi's two parts).
    path = hl.utils.new_temp_file(prefix="pgs_rows", extension="tsv")
    rows.export(path, parallel="header_per_shard")
    try:
        return _read_tsv_shards(path, columns)
    finally:
        import hailtop.fs as hfs

        hfs.rmtree(path)


def _read_tsv_shards(path: str, columns: list[str]) -> pd.DataFrame:
    """The shards of ``Table.export(path, parallel="header_per_shard")`` as one frame, in shard
    order, every column text (no NA parsing: ``NA`` is an allele; no quoting: Hail writes text
    as it is), ``position`` int64 and the bool columns (``_rsid_missing``, ``normalised``) from
    Hail's ``true``/``false``. Local shards are read directly, others through Hail's file system."""
    import csv

    import hailtop.fs as hfs

    from trd_spark.pgs.genotypes import local_temp_file

    shards = sorted(f.path for f in hfs.ls(path) if f.path.rsplit("/", 1)[-1].startswith("part-"))
    frames = []
    for shard in shards:
        local = local_temp_file(shard)
        if local is None:
            with hfs.open(shard, "rb") as f:
                text: str | io.BytesIO = io.BytesIO(f.read())
        else:
            text = local
        frames.append(pd.read_csv(text, sep="\t", dtype=str, na_filter=False, usecols=columns,
                                  quoting=csv.QUOTE_NONE))
    out = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: pd.Series(dtype=object) for c in columns}))
    out = out[columns].astype(object)
    for c in ("position", FILE_ROW):
        if c in out:
            out[c] = out[c].astype("int64")
    for c in ("_rsid_missing", NORMALISED, AT_SCORE_LOCI, SHIFT_ONLY):
        if c in out:
            out[c] = (out[c] == "true").astype(bool)
    return out
