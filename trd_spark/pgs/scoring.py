"""Compute every score in one pass over the genotypes (plink2 ``--score`` semantics).

For a person and score with matched variants v (weight w_v, effect-allele dosage d_v):

    score_sum    = sum_v w_v * d_v
    allele_count = alleles of the matched variants with a non-missing GT  (plink2 ALLELE_CT)
    score_avg    = score_sum / (2 x matched variants)                    (plink2 SCORE_AVG)
    n_missing    = matched variants with a missing GT

allele_count is plink2 --score's ALLELE_CT (plink2 2.00a3.5 checked, session 31,
tests/test_field_cases_round21_sex.py): 2 per called variant, a male's on chrX too, 1 per called
chrY variant of a male and per called chrM variant, 0 per chrY variant of a non-male. score_avg
still counts 2 alleles per variant there (plink2's DENOM counts 1, or 0 for a non-male's chrY);
score_sum, the column the study uses, counts one copy there as plink2 does
(``genotypes.haploid_contigs``). On chrY only males count, as plink2 --score counts them: a
female's or unknown-sex sample's chrY call adds nothing, called or missing (not a missing call
either: plink2's ALLELE_CT and DENOM leave it out), and a male's missing call there is imputed
with the called males' mean (plink2's --freq counts males only on chrY); the sex as for X
(``genotypes.male_x_samples``, ``pgen_engine._sex_rows_of``; plink2 2.0 checked, session 30,
tests/test_field_cases_round20_sex.py).

d_v is the alt-allele dosage (``DOSAGE``: from GT, a VCF/MT dosage field or BGEN dosages)
when the effect allele is alt, and 2 minus it when the
effect allele is ref. A missing GT is imputed with the dataset's mean effect-allele dosage at
that variant (``mean_impute``, plink2's default; alt dosage 2/k when no sample is called at a
site of k alleles, plink2's frequency 1/k for zero observations; on X outside its PARs 2 x the
frequency counting a male's call as one allele, ``genotypes.male_x_samples``) or contributes 0 (``zero``, plink2
``no-mean-imputation``). ``n_matched`` is the score's matched variants (plink2 DENOM / 2).

Each score variant contributes ``offset + slope * n_alt`` with ``slope = w, offset = 0``
(effect = alt) or ``slope = -w, offset = 2w`` (effect = ref); at a multi-allelic site a REF
effect allele also puts ``slope = -w`` (no offset, not counted as a variant) on the rows of the
site's other alts, so its dosage is ``2 - all alt copies`` (the ``other_alt_rows`` of
``matching.match_sites_frame``); an effect allele that is only part of its record's REF (an SNV
met in minimal form at ``AT>GT,A``) loses only the alts that change its bases
(``matching._alters_bases``). Rows carry one slope/offset per
score (0 where the score has no variant at the row; two score variants of one score on the
same row add), so all scores are summed together in one block-wise pass (``compute_scores``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from trd_spark.errors import InputDataError, TrdSparkError
from trd_spark.pgs.genotypes import (
    FILE_ROW,
    FT_FAILED,
    MALE_X,
    NORMALISED,
    checked_call,
    gt_alt_copies,
    haploid_capable_contigs,
    haploid_contigs,
)
from trd_spark.pgs.memory import small_pages
from trd_spark.schemas import PGS_SCORES

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame

    from trd_spark.pgs import pgen_engine
    from trd_spark.pgs.matching import SiteModels

log = logging.getLogger(__name__)


def weights_table(hl: hl_types, weights: pd.DataFrame, reference_genome: str) -> hl_types.Table:
    """``matching.WeightMatrices.frame()`` (pandas) as the Hail Table ``compute_scores`` takes: keyed
    by locus/alleles, ``slope``/``offset`` (array<float64>) and ``n_vars`` (array<int32>), and
    ``site_group`` (int32) / ``site_coef`` (float64) when the frame has them (``SiteModels``)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T

    from trd_spark.pgs.matching import NO_CALL_DOSAGE, pandas_to_spark

    # dominant / recessive (plink2's models, ``matching.WeightMatrices``) only when a score has them.
    models = [c for c in ("dominant", "recessive") if c in weights.columns]
    sites = "site_group" in weights.columns
    # A row's imputed alt dosage where no sample is called, 2/k (``matching.no_call_dosages``): only
    # when some row's site has more than 2 alleles (else 1, in ``compute_scores``).
    no_call = [NO_CALL_DOSAGE] if NO_CALL_DOSAGE in weights.columns else []
    schema = T.StructType([
        T.StructField("contig", T.StringType(), False), T.StructField("position", T.IntegerType(), False),
        T.StructField("ref", T.StringType(), False), T.StructField("alt", T.StringType(), False),
        T.StructField("slope", T.ArrayType(T.DoubleType(), False), False),
        T.StructField("offset", T.ArrayType(T.DoubleType(), False), False),
        T.StructField("n_vars", T.ArrayType(T.IntegerType(), False), False),
        *(T.StructField(c, T.ArrayType(T.DoubleType(), False), False) for c in models),
        *((T.StructField("site_group", T.IntegerType(), False), T.StructField("site_coef", T.DoubleType(), False))
          if sites else ()),
        *(T.StructField(c, T.DoubleType(), False) for c in no_call),
    ])
    pdf = pd.DataFrame({
        "contig": weights["contig"].astype(object), "position": weights["position"].astype("int32"),
        "ref": weights["ref"].astype(object), "alt": weights["alt"].astype(object),
        **{c: pd.Series([np.asarray(a).tolist() for a in weights[c]], index=weights.index, dtype=object)
           for c in ("slope", "offset", "n_vars", *models)},
        **({"site_group": weights["site_group"].astype("int32"), "site_coef": weights["site_coef"].astype("float64")}
           if sites else {}),
        **{c: weights[c].astype("float64") for c in no_call},
    })
    # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
    ht = hl.Table.from_spark(pandas_to_spark(SparkSession.builder.getOrCreate(), pdf, schema))
    return ht.key_by(locus=hl.locus(ht.contig, ht.position, reference_genome),
                     alleles=[ht.ref, ht.alt]).select("slope", "offset", "n_vars", *models,
                                                      *(("site_group", "site_coef") if sites else ()), *no_call)


def export_hard_calls(hl: hl_types, mt: hl_types.MatrixTable, rows: pd.DataFrame, output: str, *,
                      calls: hl_types.MatrixTable | None = None, calls_path: str | None = None,
                      samples: Sequence[str] | None = None, male: hl_types.Table | None = None,
                      ) -> Literal["calls", "calls_decoded", "calls_rebuilt", "split"]:
    """Write the genotype rows of ``mt`` listed in ``rows`` as a PLINK 1 fileset
    ``{output}.bed/.bim/.fam`` (one Hail pass, ``hl.export_plink``), for the native engine
    (``pgen_engine``) to score with Hail's rules.

    ``mt``: ``genotypes.read_genotypes``' biallelic rows with hard-call dosages
    (``genotypes.hard_calls``: ``DOSAGE`` 0, 1, 2 alt copies or missing), columns keyed by the
    person ID ``s`` (``genotypes.samples_to_persons``: plain integers, which PLINK's
    whitespace-separated .fam can hold). ``calls``: the same genotypes as the file has them
    (``genotypes.read_calls``, entry ``GT``, columns keyed as ``mt``'s), or None.
    ``rows``: ``matching.WeightMatrices.rows`` (``contig``, ``position``, ``ref``, ``alt`` [,
    ``normalised``, ``genotypes.NORMALISED``]): only these rows are written, in row order.

    Returns what was read: ``calls`` when ``calls`` is given and no listed row is ``normalised``
    (each is then the file's own biallelic row, so ``mt``'s ``split_multi`` and float ``DOSAGE``
    are skipped: the rows are picked from ``calls``) and no listed row is on a sex or
    mitochondrial contig of the reference: each ``GT`` is written as stored, its only entry
    expression the check that it names the row's alleles (``genotypes.checked_call``, session 32:
    two comparisons, not the rebuilt call below, which cost 10-15 s more per 1e9 entries, session
    10 in benchmarks/RESULTS.md; the check's own cost was not measured apart from the JVM's
    compile under load), which is right because Hail's PLINK writer writes a diploid call's
    alt copies, phased or not, a missing or filtered entry as missing, and refuses any other
    ploidy (``_NOT_DIPLOID``); ``calls_rebuilt`` when some listed row is on such a contig, or
    that write refused a call (a haploid call on an autosome: the export is then written
    again): each ``GT`` written as the unphased diploid call of its alt copies,
    ``genotypes.gt_alt_copies``: a haploid ``1`` counts 2, a missing or filtered call is
    missing; else ``split``: the rows of ``mt``, so multi-allelic
    sites are split exactly as Hail's pass sees them, each entry the call with ``DOSAGE`` alt
    copies (the haploid rule already applied). Either way the .bim has A1 = alt, A2 = ref (what
    ``pgen_engine.variant_index`` reads) and, when the entries carry ``genotypes.FT_FAILED``
    (the genotype filter FT applied), each row's count of the calls it made missing in the cM
    column (``with_ft_row``, read back by ``exported_ft_failed``; else 0). ``output``: a Hadoop path prefix (``file://`` for a
    local or mounted directory).

    ``calls_path``: the local MatrixTable directory ``calls`` was read from as it is
    (``format: mt``), with ``samples`` its column keys in column order, or None. With them, a
    ``file://`` output and the ``calls`` case, when every listed row carries its file row
    number (``genotypes.FILE_ROW``, ``matching.genotype_rows_at(row_numbers=True)``), the .bed
    is written by ``mt_entries.write_bed`` from the MatrixTable's files (no Hail job: ~21
    worker CPU-s instead of Hail's 37-45 JVM CPU-s at 10k x 100k, session 22) and the .bim/.fam
    here, the same bytes as Hail's writer (returns ``calls_decoded``). An entry layout
    ``mt_entries`` does not know is one WARNING naming the metadata file, and a call it does not
    write (``NotDecodable``: phased, haploid, a filtered entry) one INFO line; either way Hail's
    writer runs as above.

    ``male``: ``genotypes.male_x_samples`` of the rows (None: none on X outside its PARs), whose
    males get sex ``1`` in the .fam (``export_plink``): a .bed holds a male's haploid X call as
    homozygous, so the native engine reads who is male there (``pgen_engine.male_samples``).
    """
    as_read = calls is not None and NORMALISED in rows and not rows[NORMALISED].astype(bool).any()
    # FT's count on chrY counts the calls scored there only: the males' (``with_ft_row``).
    chr_y = bool(rows["contig"].isin(list(mt.locus.dtype.reference_genome.y_contigs)).any())
    if not as_read:
        out = with_ft_row(hl, mt.filter_rows(listed_rows(hl, rows, mt.locus, mt.alleles)), chr_y=chr_y, male=male)
        export_plink(hl, out.select_entries(GT=hl.unphased_diploid_gt_index_call(hl.int32(out.DOSAGE))), output,
                     male, cm_field=_ft_field(out))
        return "split"
    assert calls is not None  # as_read implies it
    # A set lookup per row (no entries touched): unlike a join with a weights Table, no
    # Spark-to-Hail conversion and no sort of the weighted rows.
    out = calls.filter_rows((hl.len(calls.alleles) == 2) & listed_rows(hl, rows, calls.locus, calls.alleles))
    out = out.select_rows().select_cols().select_globals()
    if not rows["contig"].isin(haploid_capable_contigs(calls.locus.dtype.reference_genome)).any():
        # (A MatrixTable with FT is in no layout mt_entries reads; said here, not left to that.)
        if (calls_path is not None and samples is not None and output.startswith("file://")
                and FT_FAILED not in calls.entry
                and _decoded_export(rows, calls_path, samples, output[len("file://"):])):
            return "calls_decoded"
        try:
            counted = with_ft_row(hl, out)
            # As stored, but a call naming an allele the row lacks (0/2 here) is one error:
            # Hail's writer wrote it as 2 alt copies (genotypes.checked_call).
            export_plink(hl, counted.select_entries(GT=checked_call(hl, counted.GT, counted.locus, counted.alleles)),
                         output, cm_field=_ft_field(counted))
            return "calls"
        except Exception as e:  # FatalError / HailException: no common base
            if _NOT_DIPLOID not in str(e):
                raise
    out = with_ft_row(hl, out.unfilter_entries(), chr_y=chr_y, male=male)
    gt = checked_call(hl, out.GT, out.locus, out.alleles)
    export_plink(hl, out.select_entries(GT=hl.unphased_diploid_gt_index_call(gt_alt_copies(hl, gt, 1))), output,
                 male, cm_field=_ft_field(out))
    return "calls_rebuilt"


# Row field ``with_ft_row`` adds: the row's calls the genotype filter made missing (int64).
FT_ROW = "_ft_failed_row"


def with_ft_row(hl: hl_types, mt: hl_types.MatrixTable, *, chr_y: bool = False,
                male: hl_types.Table | None = None) -> hl_types.MatrixTable:
    """``mt`` with the row field ``FT_ROW`` (its entries' ``FT_FAILED`` counted: a row
    aggregation the export's write runs in its own pass, no second pass over the entries), or
    ``mt`` itself without ``FT_FAILED`` (no FT, or ``pgs.apply_genotype_filter`` false). Why in
    the export's .bim: the native engine, which scores the export, sees only missing calls,
    not why they are missing. ``chr_y``: some row of ``mt`` is on chrY, where only the calls the
    native engine scores count, those of the samples ``male`` flags (``MALE_X``; None: no male):
    a non-male's chrY call is skipped there (plink2 --score), FT or not, so its failure is no
    missing call either (``FtFailedCalls``: failed <= n_missing)."""
    if FT_FAILED not in mt.entry:
        return mt
    failed = hl.coalesce(mt[FT_FAILED], False)
    y_contigs = mt.locus.dtype.reference_genome.y_contigs
    if chr_y and y_contigs:
        is_male = hl.bool(False) if male is None else hl.coalesce(male[mt.col_key][MALE_X], False)
        failed = failed & (is_male | ~hl.literal(set(y_contigs)).contains(mt.locus.contig))
    return mt.annotate_rows(**{FT_ROW: hl.agg.count_where(failed)})


def _ft_field(mt: hl_types.MatrixTable) -> str | None:
    return FT_ROW if FT_ROW in mt.row else None


def _decoded_export(rows: pd.DataFrame, calls_path: str, samples: Sequence[str], prefix: str) -> bool:
    """``export_hard_calls``' ``calls_decoded`` case: ``rows`` (the file's own biallelic rows,
    with ``FILE_ROW``) written to ``{prefix}.bed/.bim/.fam`` as ``export_plink`` writes them, the
    .bed by ``mt_entries.write_bed`` (one Spark task per entries part file with a listed row).
    False (nothing left behind) when a row has no file row number, the layout is not
    ``mt_entries``' (logged as a WARNING naming the file) or a call is refused (``NotDecodable``,
    raised in a Spark task); the caller then exports with Hail."""
    from pyspark.sql import SparkSession

    from trd_spark.pgs import mt_entries

    if FILE_ROW not in rows or rows[FILE_ROW].isna().any():
        return False
    try:
        layout = mt_entries.entries_layout(calls_path)
    except mt_entries.UnknownLayout as e:
        log.warning("%s; Hail exports the calls instead", e)
        return False
    file_row = rows[FILE_ROW].to_numpy(np.int64)
    order = np.argsort(file_row, kind="stable")
    file_row = file_row[order]
    if len(file_row) > 1 and not (np.diff(file_row) > 0).all():  # a file row listed twice: not the file's own rows
        return False
    try:
        # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
        mt_entries.write_bed(SparkSession.builder.getOrCreate(), layout, file_row, f"{prefix}.bed")
    except Exception as e:  # NotDecodable, raised in a task: Spark wraps it (Py4JJavaError / PythonException)
        if "NotDecodable" not in str(e):
            raise
        if os.path.exists(f"{prefix}.bed"):
            os.remove(f"{prefix}.bed")
        log.info("pgs: %s: a call the direct reader does not write (%s); Hail exports the calls instead",
                 calls_path, str(e).split("NotDecodable: ", 1)[-1].splitlines()[0])
        return False
    bim = rows.take(order)
    with open(f"{prefix}.bim", "w") as f:
        f.writelines(f"{c}\t{c}:{p}:{r}:{a}\t0.0\t{p}\t{a}\t{r}\n"
                     for c, p, r, a in zip(bim["contig"], bim["position"].astype(str), bim["ref"], bim["alt"]))
    with open(f"{prefix}.fam", "w") as f:
        f.writelines(f"0\t{s}\t0\t0\t0\tNA\n" for s in samples)
    return True


# The single-base alleles as 2-bit codes (``listed_rows``): text as written, so 'a' or 'N' is no code.
_BASE_CODES = {"A": 0, "C": 1, "G": 2, "T": 3}


def listed_rows(hl: hl_types, rows: pd.DataFrame, locus, alleles) -> Any:
    """Boolean expression: the biallelic row (``locus``, ``alleles``: [ref, alt]) is one of
    ``rows`` (``contig``, ``position``, ``ref``, ``alt``), compared exactly. A listed SNV of
    the bases A, C, G, T (as written) is one int64 in a literal set (the locus's global position
    x 16 + ref x 4 + alt, ``_BASE_CODES``); any other listed row (an indel, a lower-case or
    other allele, a contig off the reference) is a (contig, position, ref, alt) tuple in a
    second set. Why: with one tuple set of every listed row the export's row filter cost ~3 JVM
    CPU-s more than with an int64 set of the same 100k rows (2.5k x 100k bench MatrixTable, Hail
    0.2.139, session 21 in benchmarks/RESULTS.md: the tuples' strings in each task), the same
    .bed/.bim either way."""
    rg = locus.dtype.reference_genome
    offsets = rg.global_positions_dict
    start = rows["contig"].astype(str).map(offsets)
    ref, alt = rows["ref"].astype(str).map(_BASE_CODES), rows["alt"].astype(str).map(_BASE_CODES)
    snv = (start.notna() & ref.notna() & alt.notna()).to_numpy(bool)
    keys = (start[snv].to_numpy(np.int64) + rows["position"][snv].to_numpy(np.int64) - 1) * 16 \
        + ref[snv].to_numpy(np.int64) * 4 + alt[snv].to_numpy(np.int64)
    snvs = hl.literal({int(k) for k in keys}, hl.tset(hl.tint64))
    other = rows.loc[~snv]
    others = hl.literal(
        set(zip(other["contig"].astype(str), other["position"].astype(int), other["ref"].astype(str),
                other["alt"].astype(str))),
        hl.tset(hl.ttuple(hl.tstr, hl.tint32, hl.tstr, hl.tstr)))
    codes = hl.literal(_BASE_CODES, hl.tdict(hl.tstr, hl.tint64))
    r, a = codes.get(alleles[0]), codes.get(alleles[1])
    return hl.if_else(hl.is_defined(r) & hl.is_defined(a),
                      snvs.contains(locus.global_position() * 16 + r * 4 + a),
                      others.contains(hl.tuple([locus.contig, locus.position, alleles[0], alleles[1]])))


# How Hail's PLINK writer refuses a call that is not diploid (``Call.unphasedDiploidGtIndex``,
# Hail 0.2.139). tests/test_pgs_genotypes.py exports a haploid call on an autosome: if Hail
# rewords this, the error passes through there and the test fails.
_NOT_DIPLOID = "unphased_diploid_gt_index only supports ploidy == 2"


def export_plink(hl: hl_types, mt: hl_types.MatrixTable, output: str, male: hl_types.Table | None = None,
                 cm_field: str | None = None) -> None:
    """``hl.export_plink(mt, output)`` with its defaults (GT, .fam IDs from the column key,
    fam/pat/mat ID ``0``, sex ``0``, phenotype ``NA``, varid ``contig:pos:ref:alt``, cM 0.0;
    sex ``1`` for the samples ``male`` (``genotypes.male_x_samples``) flags, when given, which
    ``pgen_engine.male_samples`` reads back; cM the row field ``cm_field`` when given: the
    per-row count of ``export_hard_calls``' ``FT_ROW``, which nothing reads as a position),
    one Hail job, the same files byte for byte, without its check that no .fam ID holds
    whitespace: that check collects the columns four times (four more Hail jobs, ~1 s each on
    a small dataset; 4 of the 5 jobs of an export, session 14 profile in
    benchmarks/RESULTS.md) and cannot fail here, where the column key ``s`` is a person ID
    ``genotypes.samples_to_persons`` checked to be a plain integer.

    ``mt``: biallelic rows keyed by locus/alleles (a multi-allelic row fails the write, as in
    ``hl.export_plink``), entry ``GT``, one string column key. Hail's private API
    (``MatrixTable._select_all``, ``ir.MatrixPLINKWriter``, the backend's ``execute``), as
    ``hl.export_plink`` of Hail 0.2.139 calls it; tests/test_pgs_scoring.py checks the fileset
    equals ``hl.export_plink``'s, so a Hail upgrade that changes either fails there.
    """
    from hail import ir
    from hail.methods.misc import require_biallelic

    dataset = require_biallelic(mt, "export_plink", tolerate_generic_locus=True)
    hl.current_backend().validate_file(output)
    locus, alleles = dataset.locus, dataset.alleles
    dataset = dataset._select_all(
        col_exprs={"fam_id": hl.str("0"), "ind_id": hl.or_else(dataset.col_key[0], "0"), "pat_id": hl.str("0"),
                   "mat_id": hl.str("0"),
                   # The writer takes these fields by position: sex before phenotype.
                   "is_female": hl.str("0") if male is None else
                   hl.if_else(hl.coalesce(male[dataset.col_key][MALE_X], False), "1", "0"),
                   "pheno": hl.str("NA")},
        col_key=[],
        row_exprs={"varid": hl.delimit([locus.contig, hl.str(locus.position), alleles[0], alleles[1]], ":"),
                   "cm_position": hl.float64(0.0) if cm_field is None else hl.float64(dataset[cm_field])},
        entry_exprs={"GT": dataset.GT})
    hl.current_backend().execute(ir.MatrixWrite(dataset._mir, ir.MatrixPLINKWriter(output)))


def group_within_partitions(table: hl_types.Table, name: str, block_size: int) -> hl_types.Table:
    """Rows grouped into blocks of at most ``block_size`` consecutive rows of one partition:
    one row per block with the key fields of its first row and ``name`` (array of the block's
    row structs, in partition order); no shuffle, no block spans two partitions.

    The one use of Hail's private ``Table._group_within_partitions`` (Hail has no public
    equivalent); tests/test_pgs_scoring.py checks its signature and this behaviour, so a Hail
    upgrade that changes it fails there. Raises TrdSparkError when the Hail installed lacks it.
    """
    import hail as hl

    group = getattr(table, "_group_within_partitions", None)
    if group is None:
        raise TrdSparkError(f"Hail {hl.version()} has no Table._group_within_partitions (private API used by "
                            "the block-wise scoring pass); install the Hail version pinned in pyproject.toml")
    return group(name, block_size)


def compute_scores(
    hl: hl_types,
    mt: hl_types.MatrixTable,
    weights: hl_types.Table,
    pgs_ids: Sequence[str],
    n_matched: Sequence[int],
    *,
    chr_y: bool,
    chr_m: bool,
    missing_genotypes: Literal["mean_impute", "zero"] = "mean_impute",
    block_size: int = 256,
    site_models: SiteModels | None = None,
    no_male_on_y: bool = False,
) -> hl_types.Table:
    """Long table (unkeyed): s, pgs_id, score_sum, allele_count, score_avg, n_missing, n_matched.

    ``mt``: rows keyed by locus/alleles (biallelic), entry ``DOSAGE`` (float64 alt dosage,
    missing = missing genotype), column key ``s`` (``genotypes.read_genotypes``), and
    optionally the column field ``MALE_X`` (``genotypes.male_x_samples``): on X outside its
    PARs a missing call is then imputed with the frequency counting a male's call as one allele.
    On chrY only the samples ``MALE_X`` flags count, as plink2 --score counts them: a non-male's
    call there (every sample's without the field: plink2 on a fileset without sex) is read as 0
    alt copies, called, and her row drops the chrY rows' offsets, so it adds nothing; a male's
    missing call there is imputed with the mean of the called males (plink2's --freq counts
    males only on chrY). ``chr_y``: some weighted row is on chrY (the caller knows it from its
    weights, ``engine.score``; False skips that work, and must not be given with such a row);
    ``chr_m`` likewise for the mitochondrion. ``allele_count`` is plink2's ALLELE_CT: 2 per called
    variant, 1 per called chrY (a male's) or chrM variant, 0 per non-male's chrY variant.
    ``weights``: from ``weights_table``; ``pgs_ids``/``n_matched`` in score_index order.
    The table's global ``UNCALLED_VARIANTS`` counts the weighted rows no sample has a call on (on
    chrY no male), summed in the same pass (``UncalledVariants``); ``no_male_on_y``: no sample is
    known to be male (the caller warned, ``pgen_engine.warn_no_male_on_y``), so every chrY row is
    such a row: counted apart (``no_male_rows``) and none of their IDs kept.
    ``site_models``: the ``WeightMatrices.site_models`` whose rows ``weights`` flags by
    ``site_group``/``site_coef``: a dominant / recessive REF effect allele at a multi-allelic site,
    its dosage D = constant + sum of coef x alt dosage over the site's split rows, scored as plink2
    scores the unsplit site (w x min(D, 1) or w x max(D - 1, 0); a sample missing at any of the
    rows a missing call, w x the effect allele's frequency, 0 with ``zero``), as the native engine
    does (``native_task._SiteSums``; before session 38 Hail's pass refused such a row). Raises
    ValueError when one is given without the other (``weights`` with ``site_group`` and no
    ``site_models`` would leave the site members' terms out: a silent wrong score).

    Block-wise: each partition's rows are localised (one dosage vector per row), grouped into
    blocks of ``block_size`` rows and scored with two matrix products per block,

        SLOPE.T (k x m) @ DOSE (m x n)                 imputed (or zeroed) dosages
        COUNTED.T (k or 2k x m) @ CALLED (m x n)       called indicator

    COUNTED is N_VARS (called variants per score); with ``zero`` it is [OFFSET | N_VARS], since
    a missing genotype then drops its offset too. With ``mean_impute`` every row adds its
    offset, so the offsets are summed once per row instead.

    summed over blocks with ``hl.agg.ndarray_sum``: one pass over the genotypes for all k
    scores, no per-entry array arithmetic. The k x n result lives on the driver (as Hail's
    column aggregations do), 8 bytes x k x n: 140 MB for 61 scores x 290k genomes.
    """
    k = len(pgs_ids)
    # Both or neither: a table with site rows and no models would score their members 0 (slope 0 in
    # the additive matrices), silently; models without the rows flagged cannot be summed.
    sites = site_models is not None
    if sites != ("site_group" in weights.row):
        raise ValueError("compute_scores: site_models given without a weights table flagging their rows "
                         "(site_group/site_coef)" if sites else
                         "compute_scores: a weights table with site_group/site_coef rows (matching.SiteModels) "
                         "and no site_models: their dominant / recessive terms would be left out")
    # Joined on the locus alone, the alleles looked up per locus: ``hl.split_multi`` keys the rows
    # it leaves at their locus as sorted without sorting them, so separate rows at one locus whose
    # min_rep reorders them (a site given split, 'CG>CGG' and 'CG>C': 'C>CG' sorts first) are out
    # of order by alleles, and a join on (locus, alleles) silently missed rows: their variants
    # counted as missing for every sample. By locus the rows are in order (a key prefix: no sort).
    per_locus = weights.group_by(weights.locus).aggregate(
        _w=hl.dict(hl.agg.collect((weights.alleles, weights.row.drop("locus", "alleles")))))
    mt = mt.key_rows_by("locus")
    mt = mt.annotate_rows(_w=per_locus[mt.locus]._w.get(mt.alleles))
    mt = mt.filter_rows(hl.is_defined(mt._w))
    rows = mt.localize_entries("_entries", "_cols")
    dosage = rows._entries.map(lambda e: e.DOSAGE)
    n_called = hl.len(dosage.filter(hl.is_defined))
    # Mean alt dosage over called genotypes: plink2's imputation; 2/k when none is called (plink2
    # takes frequency 1/k for each allele of a k-allele variant with zero observations:
    # ``matching.no_call_dosages``' column of the weights, absent when every site is biallelic: 1).
    from trd_spark.pgs.matching import NO_CALL_DOSAGE

    no_call = rows._w[NO_CALL_DOSAGE] if NO_CALL_DOSAGE in weights.row else hl.float64(1.0)
    mean_alt = hl.if_else(n_called > 0, hl.sum(dosage.map(lambda d: hl.coalesce(d, 0.0))) / n_called, no_call)
    impute = missing_genotypes == "mean_impute"
    if impute and MALE_X in mt.col:
        # On X outside its PARs a male's call is one allele observation of the frequency, as
        # plink2 --freq/--score count it with the samples' sex: 2 x sum(w d) / sum(w) over the
        # called samples, w = 1/2 for a male (his dosage 0 or 2 is 0 or 1 alt allele of 1).
        rg = mt.locus.dtype.reference_genome
        w = rows._cols.map(lambda c: hl.if_else(hl.coalesce(c[MALE_X], False), 0.5, 1.0))
        called_w = hl.sum(hl.zip(dosage, w).map(lambda t: hl.if_else(hl.is_defined(t[0]), t[1], 0.0)))
        x_mean = hl.if_else(called_w > 0, hl.sum(hl.zip(dosage, w).map(lambda t: hl.coalesce(t[0], 0.0) * t[1]))
                            / called_w, no_call)
        on_x = hl.literal(set(rg.x_contigs)).contains(rows.locus.contig) & ~rows.locus.in_x_par()
        mean_alt = hl.if_else(on_x, x_mean, mean_alt)
    rg = mt.locus.dtype.reference_genome
    chr_y = chr_y and bool(rg.y_contigs)
    # Rows whose calls plink2's ALLELE_CT counts once (chrY, chrM): their called variants are
    # summed apart (one more k columns of COUNTED), so allele_count counts them once.
    haploid = chr_y or (chr_m and bool(rg.mt_contigs))
    if chr_y:
        # plink2 --score counts males only on chrY (a female's and an unknown-sex sample's
        # calls there add nothing, called or missing; its --freq counts males only there).
        male = rows._cols.map(lambda c: hl.coalesce(c[MALE_X], False)) if MALE_X in mt.col else \
            rows._cols.map(lambda c: False)
        on_y = hl.literal(set(rg.y_contigs)).contains(rows.locus.contig)
        male_called = hl.sum(hl.zip(dosage, male).map(lambda t: hl.int32(hl.is_defined(t[0]) & t[1])))
        y_mean = hl.if_else(male_called > 0, hl.sum(hl.zip(dosage, male).map(
            lambda t: hl.if_else(t[1], hl.coalesce(t[0], 0.0), 0.0))) / male_called, no_call)
        mean_alt = hl.if_else(on_y, y_mean, mean_alt)
        skipped = male.map(lambda m: on_y & ~m)
    fill = mean_alt if impute else hl.float64(0.0)
    n_vars = rows._w.n_vars.map(hl.float64)
    # A scored row no sample has a call on (``UncalledVariants``): on chrY no male's. Its calls
    # are all imputed (frequency 1/k of no observation, plink2's) or zeroed; counted per score
    # (its n_vars) and its ID kept, in this same pass (three more aggregations, no second job).
    uncalled = n_called == 0
    if chr_y:
        uncalled = hl.if_else(on_y, male_called == 0, uncalled)
    uncalled = uncalled & hl.any(rows._w.n_vars.map(lambda v: v > 0))
    no_male_y = chr_y and no_male_on_y
    # The calls the genotype filter made missing, counted per row in this same pass (one more
    # row field, no second pass over the entries) and per score as n_vars x that count, the way
    # n_missing counts a missing call once per score variant on the row. On chrY only the calls
    # scored: a non-male's is skipped there, FT or not (``FtFailedCalls``: failed <= n_missing).
    ft = FT_FAILED in mt.entry
    if ft:
        failed = rows._entries.map(lambda e: hl.coalesce(e[FT_FAILED], False))
        if chr_y:
            failed = hl.zip(failed, skipped).map(lambda t: t[0] & ~t[1])
        n_ft = hl.float64(hl.len(failed.filter(lambda f: f)))
    dose = dosage.map(lambda d: hl.coalesce(d, fill))
    called = dosage.map(lambda d: hl.float64(hl.is_defined(d)))
    if chr_y:
        # A non-male's chrY call: 0 alt copies and called (not a missing call; plink2 skips it).
        dose = hl.zip(dose, skipped).map(lambda t: hl.if_else(t[1], 0.0, t[0]))
        called = hl.zip(called, skipped).map(lambda t: hl.if_else(t[1], 1.0, t[0]))
    counted = n_vars if impute else rows._w.offset.extend(n_vars)
    # A dominant / recessive REF effect allele whose dosage spans a site's split rows: per group the
    # rows' coef x alt dosage summed across rows (wherever they lie: one aggregation by group; a
    # missing call NaN, so a sample missing at any of the rows is missing at the site) and coef x
    # each row's imputed mean (the effect allele's frequency), as ``native_task._SiteSums`` sums them.
    if sites:
        site_fields = {"site_group": rows._w.site_group, "site_coef": rows._w.site_coef,
                       "site_dose": hl.or_missing(rows._w.site_group >= 0,
                                                  dosage.map(lambda d: hl.coalesce(d, hl.float64(float("nan"))))),
                       "site_mean": mean_alt}
    if haploid:
        on_h = hl.literal(set(haploid_contigs(rg))).contains(rows.locus.contig)
        counted = counted.extend(hl.if_else(on_h, n_vars, n_vars.map(lambda v: 0.0)))
    # plink2 --score's dominant / recessive models (``weights_table``'s optional fields): the alt
    # dosage as min(a, 1) / max(a - 1, 0), a missing call's value half its fill (the effect
    # allele's frequency; 0 with ``zero``), one more product each.
    # (filter_missing=False: hl.min / hl.max skip a missing value by default, which made it 1 / 0.)
    models = {name: dosage.map(lambda d, f=model: hl.coalesce(f(d), fill / 2.0))
              for name, model in (("dominant", lambda d: hl.min(d, 1.0, filter_missing=False)),
                                  ("recessive", lambda d: hl.max(d - 1.0, 0.0, filter_missing=False)))
              if name in weights.row}
    rows = rows.select(
        **{f"{name}_slope": rows._w[name] for name in models},
        **{f"{name}_dose": dose for name, dose in models.items()},
        slope=rows._w.slope,
        offset=rows._w.offset,
        counted=counted,
        dose=dose,
        called=called,
        **({"y_offset": hl.if_else(on_y, rows._w.offset, rows._w.offset.map(lambda o: 0.0)),
            "y_n_vars": hl.if_else(on_y, n_vars, n_vars.map(lambda v: 0.0))} if chr_y else {}),
        **({"ft_counted": n_vars.map(lambda v: v * n_ft)} if ft else {}),
        **(site_fields if sites else {}),
        uncalled_vars=hl.if_else(uncalled, n_vars, n_vars.map(lambda v: 0.0)),
        uncalled_id=hl.or_missing(uncalled, hl.delimit([rows.locus.contig, hl.str(rows.locus.position),
                                                        rows.alleles[0], rows.alleles[1]], ":")),
        # (a chrY row with no male at all is named by the no-male WARNING: counted, its ID not kept)
        uncalled_at=hl.or_missing(uncalled & ~on_y if no_male_y else uncalled, rows.locus.global_position()),
    )
    blocks = group_within_partitions(rows, "_block", block_size)
    block = blocks._block

    def matrix(field):
        return hl.nd.array(block.map(lambda r: r[field]))

    totals = blocks.aggregate(
        hl.struct(
            dose_sum=hl.agg.ndarray_sum(matrix("slope").T @ matrix("dose")),
            **{f"{name}_sum": hl.agg.ndarray_sum(matrix(f"{name}_slope").T @ matrix(f"{name}_dose")) for name in models},
            called_sum=hl.agg.ndarray_sum(matrix("counted").T @ matrix("called")),
            offset_total=hl.agg.explode(lambda r: hl.agg.array_sum(r.offset), block),
            **({"y_offset_total": hl.agg.explode(lambda r: hl.agg.array_sum(r.y_offset), block),
                "y_n_vars_total": hl.agg.explode(lambda r: hl.agg.array_sum(r.y_n_vars), block)} if chr_y else {}),
            **({"ft_failed": hl.agg.explode(lambda r: hl.agg.array_sum(r.ft_counted), block)} if ft else {}),
            uncalled_vars=hl.agg.explode(lambda r: hl.agg.array_sum(r.uncalled_vars), block),
            uncalled_rows=hl.agg.explode(lambda r: hl.agg.count_where(hl.is_defined(r.uncalled_id)), block),
            uncalled_first=hl.agg.explode(lambda r: hl.agg.filter(hl.is_defined(r.uncalled_at), hl.agg.take(
                r.uncalled_id, UNCALLED_SHOWN, ordering=r.uncalled_at)), block),
            **({"uncalled_no_male": hl.agg.explode(lambda r: hl.agg.count_where(
                hl.is_defined(r.uncalled_id) & hl.is_missing(r.uncalled_at)), block)} if no_male_y else {}),
            **({"site_sums": hl.agg.explode(lambda r: hl.agg.filter(r.site_group >= 0, hl.agg.group_by(
                r.site_group, hl.struct(total=hl.agg.array_sum(r.site_dose.map(lambda d: r.site_coef * d)),
                                        mean=hl.agg.sum(r.site_coef * r.site_mean)))), block)} if sites else {}),
        ),
        _localize=False,
    )
    samples = rows.index_globals()._cols.map(lambda c: c.s)
    # Counted, not collected: a count prunes the column fields, where evaluating the collected
    # columns ran their annotations as a query of its own (MALE_X's pass over X, which the
    # scoring pass runs again; session 44: 1.6-3.2 -> 0.1-0.9 JVM CPU-s a run with X scored).
    n_samples = mt.count_cols()
    out = hl.utils.range_table(n_samples, n_partitions=max(1, min(64, n_samples // 5000 + 1)))
    out = out.annotate_globals(_t=totals, _s=samples)
    if chr_y:
        out = out.annotate_globals(_male=rows.index_globals()._cols.map(
            lambda c: hl.coalesce(c[MALE_X], False) if MALE_X in mt.col else False))
    t, j = out._t, out.idx
    empty = hl.is_missing(t.dose_sum)  # no matched rows: every sum is 0

    def at(arr, i):
        return hl.if_else(empty, 0.0, arr[i, j])

    def total(i):
        return hl.if_else(empty, 0.0, t.offset_total[i])

    if sites:
        assert site_models is not None
        n_groups = len(site_models.constant)
        constant = hl.literal(site_models.constant.tolist(), hl.tarray(hl.tfloat64))
        site_dominant = hl.literal(site_models.dominant.tolist(), hl.tarray(hl.tarray(hl.tfloat64)))
        site_recessive = hl.literal(site_models.recessive.tolist(), hl.tarray(hl.tarray(hl.tfloat64)))

    def site_term(g, i):
        """Group ``g``'s dominant and recessive terms of score ``i`` for sample ``j`` (every group's
        rows are matched rows of ``mt``: a group absent from the sums is a Hail error, not a 0)."""
        summed_g = t.site_sums[g]
        d = summed_g.total[j] + constant[g]
        fill = (summed_g.mean + constant[g]) / 2.0 if impute else hl.float64(0.0)
        missing = hl.is_nan(d)
        return (site_dominant[g][i] * hl.if_else(missing, fill, hl.min(d, 1.0))
                + site_recessive[g][i] * hl.if_else(missing, fill, hl.max(d - 1.0, 0.0)))

    # Every row adds its offset when imputed (mean_impute) or only when called (zero).
    def score_sum(i):
        summed = at(t.dose_sum, i) + (total(i) if impute else at(t.called_sum, i))
        for name in models:
            summed = summed + at(t[f"{name}_sum"], i)
        if sites:
            summed = summed + hl.if_else(empty, 0.0, hl.sum(hl.range(n_groups).map(lambda g: site_term(g, i))))
        if not chr_y:
            return summed
        # A non-male's chrY rows were read as called 0 copies: their offsets come off here.
        return hl.if_else(out._male[j] | empty, summed, summed - t.y_offset_total[i])

    n_vars_row = 0 if impute else k  # where N_VARS starts in COUNTED

    def once_counted(i):
        """Score ``i``'s alleles counted 2 here where plink2's ALLELE_CT counts 1 or none: a
        called chrY (a male's) or chrM variant once, a non-male's chrY variant (read as called) twice."""
        if not haploid:
            return hl.float64(0.0)
        h_called = at(t.called_sum, n_vars_row + k + i)
        if not chr_y:
            return h_called
        return hl.if_else(out._male[j] | empty, h_called, h_called + t.y_n_vars_total[i])

    ids = hl.literal(list(pgs_ids))
    denom = hl.literal([2 * int(n) for n in n_matched])
    out = out.annotate(_scores=hl.range(k).map(lambda i: hl.struct(
        pgs_id=ids[i],
        score_sum=score_sum(i),
        called_vars=hl.int64(hl.floor(at(t.called_sum, n_vars_row + i) + 0.5)),
        fewer_alleles=hl.int64(hl.floor(once_counted(i) + 0.5)),
        denom=denom[i],
    )))
    out = out.explode("_scores")
    sc = out._scores
    out = out.select(
        s=out._s[out.idx],
        pgs_id=sc.pgs_id,
        score_sum=sc.score_sum,
        allele_count=2 * sc.called_vars - sc.fewer_alleles,
        score_avg=hl.or_missing(sc.denom > 0, sc.score_sum / sc.denom),
        n_missing=hl.int64(sc.denom // 2) - sc.called_vars,
        n_matched=hl.int64(sc.denom // 2),
    )
    out = out.key_by().select("s", "pgs_id", "score_sum", "allele_count", "score_avg", "n_missing", "n_matched")
    # The sums (k x n) stay out of the written table's globals; FT's counts go in (FT_FAILED_CALLS),
    # and the scored rows no sample has a call on (UNCALLED_VARIANTS).
    zeros = hl.range(k).map(lambda _: 0.0)
    counted_uncalled = {UNCALLED_VARIANTS: hl.struct(
        variants=hl.coalesce(out._t.uncalled_vars, zeros).map(lambda x: hl.int64(hl.floor(x + 0.5))),
        rows=hl.int64(hl.coalesce(out._t.uncalled_rows, 0)),
        no_male_rows=hl.int64(hl.coalesce(out._t.uncalled_no_male, 0)) if no_male_y else hl.int64(0),
        first=hl.coalesce(out._t.uncalled_first, hl.empty_array(hl.tstr)))}
    if not ft:
        return out.select_globals(**counted_uncalled)
    return out.select_globals(**counted_uncalled, **{FT_FAILED_CALLS: hl.struct(
        failed=hl.coalesce(out._t.ft_failed, zeros).map(lambda x: hl.int64(hl.floor(x + 0.5))),
        n_samples=hl.int64(n_samples))})


# Global of ``compute_scores``' table (and of a native pass's Spark-summed table, ``engine.score``)
# when the genotype filter FT was applied: struct ``failed`` (array<int64>, per score in
# ``pgs_ids`` order: the calls FT made missing, counted once per score variant on their row, as
# ``n_missing`` counts them) and ``n_samples`` (int64). ``FtFailedCalls.of_table`` reads it.
FT_FAILED_CALLS = "ft_failed_calls"


@dataclass(frozen=True)
class FtFailedCalls:
    """A dataset's calls the genotype filter ``FT`` made missing, per score (``failed``, int64,
    scores in ``pgs_ids`` order; a call counted once per score variant on its row, so
    ``failed <= n_missing`` summed over the score's rows) and the scored calls they are a share of
    (``scored``: ``n_matched`` x samples per score, the denominator of
    ``missing_call_share``). Counted in the scoring pass itself: Hail's (``compute_scores``) or
    the export to the native engine (``export_hard_calls``' .bim, ``exported_ft_failed``)."""

    pgs_ids: tuple[str, ...]
    failed: np.ndarray
    scored: np.ndarray

    @classmethod
    def of(cls, pgs_ids: Sequence[str], failed: Sequence[int] | np.ndarray, n_matched: Sequence[int],
           n_samples: int) -> FtFailedCalls:
        return cls(tuple(pgs_ids), np.asarray(failed, dtype=np.int64),
                   np.asarray(n_matched, dtype=np.int64) * np.int64(n_samples))

    @classmethod
    def of_table(cls, hl: hl_types, scores: hl_types.Table, pgs_ids: Sequence[str],
                 n_matched: Sequence[int]) -> FtFailedCalls | None:
        """From the ``FT_FAILED_CALLS`` global of a score table (one small read of its
        globals); None when the table has none (FT not applied, or no FT field)."""
        if FT_FAILED_CALLS not in scores.globals:
            return None
        got = hl.eval(scores.index_globals()[FT_FAILED_CALLS])
        return cls.of(pgs_ids, got.failed, n_matched, got.n_samples)

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())

    @property
    def n_scored(self) -> int:
        return int(self.scored.sum())


# Global of ``compute_scores``' table: the scored rows no sample has a call on (on chrY no male),
# struct ``variants`` (array<int64>, per score in ``pgs_ids`` order: its matched variants on such
# rows), ``rows`` (int64: such rows), ``no_male_rows`` (int64: those of them on chrY when no sample is
# known to be male) and ``first`` (array<str>: up to ``UNCALLED_SHOWN`` of the others'
# IDs, contig:position:ref:alt, first by position). ``UncalledVariants.of_table`` reads it.
UNCALLED_VARIANTS = "uncalled_variants"
# How many uncalled rows' IDs are kept and named in the stage's WARNING.
UNCALLED_SHOWN = 5


@dataclass(frozen=True)
class UncalledVariants:
    """A dataset's scored rows on which no sample has a call (on chrY no male: plink2 --score
    counts males only there): a VCF record whose GTs are all missing, a GP-only record read with
    ``dosage_field: DS``, a .bed/.pgen/BGEN variant missing in every sample. plink2 --score
    (2.00a3.5, checked session 44) scores such a variant silently with frequency 0.5 (alt dosage
    1 for everyone under mean imputation; 0 with no-mean-imputation), and so do we; the stage
    counts them (``variants``: per score, int64, scores in ``pgs_ids`` order, the score's
    matched variants on such rows, as ``n_matched`` counts them; ``rows``: the rows) and warns
    with the first few IDs (``first``: contig:position:ref:alt, no sample ID). ``no_male_rows``:
    those of ``rows`` on chrY in a dataset with no sample known to be male, which
    ``pgen_engine.warn_no_male_on_y`` already names (one cause: the stage leaves them out of its
    WARNING, and ``first`` holds none of them). Counted in the
    scoring pass itself: Hail's (``compute_scores``' ``UNCALLED_VARIANTS`` global) or the
    native one (``native_task``'s per-task counts, ``pgen_engine.SummedScores.uncalled``)."""

    pgs_ids: tuple[str, ...]
    variants: np.ndarray
    rows: int
    first: tuple[str, ...]
    no_male_rows: int = 0

    @classmethod
    def of_table(cls, hl: hl_types, scores: hl_types.Table, pgs_ids: Sequence[str]) -> UncalledVariants | None:
        """From the ``UNCALLED_VARIANTS`` global of a score table (one small read of its
        globals); None when the table has none (a route that does not count them)."""
        if UNCALLED_VARIANTS not in scores.globals:
            return None
        got = hl.eval(scores.index_globals()[UNCALLED_VARIANTS])
        return cls(tuple(pgs_ids), np.asarray(got.variants, dtype=np.int64), int(got.rows), tuple(got.first),
                   int(got.no_male_rows))

    @property
    def n_variants(self) -> int:
        return int(self.variants.sum())


def exported_ft_failed(bim: str, rows: pd.DataFrame, n_vars: np.ndarray) -> np.ndarray:
    """Per score (``n_vars``' k columns) the calls the genotype filter made missing in an export
    of ``export_hard_calls`` (``ft_counted``), from its .bim's centimorgan column, where the export
    wrote each row's count (``export_plink``'s ``cm_field``: the same Hail job as the calls, no
    second pass). ``rows``: the weighted rows (``contig``, ``position``, ``ref``, ``alt``; rows x
    k ``n_vars``). A weighted row missing from the .bim (none is: the export writes every listed
    row) counts 0."""
    # Hail's PLINK writer's .bim: tab-separated CHROM ID CM POS A1(alt) A2(ref).
    per_row = pd.read_csv(bim, sep="\t", header=None, names=["contig", "id", "n", "position", "alt", "ref"],
                          dtype={"contig": str, "id": str, "n": float, "position": np.int64, "alt": str, "ref": str},
                          keep_default_na=False)
    key = ["contig", "position", "ref", "alt"]
    keyed = rows[key].astype({"contig": str, "position": np.int64, "ref": str, "alt": str})
    n = keyed.merge(per_row[[*key, "n"]].drop_duplicates(key), how="left", on=key)["n"].fillna(0.0).to_numpy()
    return np.rint(n @ np.asarray(n_vars, dtype=np.float64)).astype(np.int64)


def scores_frame(hl: hl_types, scores: hl_types.Table, dataset: str) -> DataFrame:
    """The long score table as a Spark DataFrame with the PGS_SCORES schema (person_id from s)."""
    scores = scores.key_by()  # the Hail Table output is keyed by s, pgs_id
    out = scores.select(
        dataset=hl.literal(dataset),
        person_id=hl.parse_int64(scores.s),
        pgs_id=scores.pgs_id,
        score_sum=scores.score_sum,
        allele_count=scores.allele_count,
        score_avg=scores.score_avg,
        n_missing=scores.n_missing,
        n_matched=scores.n_matched,
    )
    return out.to_spark().select(*PGS_SCORES.names)


def check_score_table(hl: hl_types, scores: hl_types.Table, where: str) -> float | None:
    """Invariants of the long score table, checked before it is published (one pass); returns
    the share of the scored calls that were missing (``missing_call_share``, in the same job).

    ``scores``: ``compute_scores``' columns. Raises InputDataError naming ``where`` and the
    number of offending rows when a (s, pgs_id) key occurs more than once, ``n_missing < 0``
    or ``allele_count > 2 n_matched`` (a genotype or score variant counted twice), or a
    score_sum is not finite. No sample ID is printed.
    """
    # Keyed by (s, pgs_id) (the written table already is: no shuffle), repeats are adjacent:
    # the rows of each key are counted by a grouping on the table's own key (one streaming
    # pass), then summed, so the whole check is one Hail job (it was two: distinct().count()
    # and an aggregate).
    scores = scores.key_by("s", "pgs_id")
    per_key = scores.group_by(*scores.key).aggregate(
        n_rows=hl.agg.count(),
        negative_missing=hl.agg.count_where(scores.n_missing < 0),
        too_many_alleles=hl.agg.count_where(scores.allele_count > 2 * scores.n_matched),
        not_finite=hl.agg.count_where(~hl.is_finite(scores.score_sum)),
        n_missing=hl.agg.sum(scores.n_missing),
        n_matched=hl.agg.sum(scores.n_matched),
    )
    found = per_key.aggregate(hl.struct(
        n_keys=hl.agg.count(),
        n_rows=hl.agg.sum(per_key.n_rows),
        negative_missing=hl.agg.sum(per_key.negative_missing),
        too_many_alleles=hl.agg.sum(per_key.too_many_alleles),
        not_finite=hl.agg.sum(per_key.not_finite),
        n_missing=hl.agg.sum(per_key.n_missing),
        n_matched=hl.agg.sum(per_key.n_matched),
    ))
    _raise_score_problems(found.n_keys != found.n_rows, found.negative_missing, found.too_many_alleles,
                          found.not_finite, where)
    return missing_call_share(int(found.n_missing), int(found.n_matched))


def missing_call_share(n_missing: int, n_matched: int) -> float | None:
    """The share of a dataset's scored calls (person x matched variant, summed over its score
    rows: ``n_matched`` per row) that were missing (``n_missing``: imputed or zeroed), None when
    nothing was matched. Why: a dataset where most calls are missing (a VDS whose FT is False
    on most calls under ``pgs.apply_genotype_filter``, a failed export) scores every person
    near the mean, with no error; the stage warns above ``pgs.missing_call_warn``."""
    return n_missing / n_matched if n_matched > 0 else None


def score_rows_arrow(summed: pgen_engine.SummedScores, dataset: str) -> Any:
    """A native pass's sums (``pgen_engine.SummedScores``: k x n numpy, summed on the driver) as
    the published score rows, a pyarrow Table of ``schemas.PGS_SCORES``' columns and types:
    sample-major (each person's k rows together, scores in ``rows.pgs_ids`` order), ``person_id``
    the sample ID as int64 (``genotypes.sample_persons``: digits only), ``dataset`` and
    ``pgs_id`` dictionary-encoded (one copy of each string, not one per row), score_avg null
    where the score matched no variant (its NaN). Built without pandas' per-row string
    objects: at 20k samples x 61 scores 0.17 CPU-s instead of 1.1 (a pandas frame of the rows
    and its conversion to Arrow, the way it was built until session 25). The numeric columns
    are ``SummedScores.value_columns``' arrays as they are (no copy; no object columns built
    and dropped)."""
    import pyarrow as pa

    k, n = len(summed.rows.pgs_ids), summed.part.shape[1]
    # The columns' arrays (~70 MB at 20k x 61) without huge pages: the driver faults each in
    # once, and a huge page's fault may compact memory first (``memory.small_pages``).
    with small_pages():
        columns = summed.value_columns()
        # k rows per sample: the IDs converted once per sample, then repeated
        person_id = np.repeat(summed.rows.sample_ids[:n].astype(np.int64), k)
        dataset_codes, pgs_codes = np.zeros(k * n, dtype=np.int32), np.tile(np.arange(k, dtype=np.int32), n)

    def repeated(values: list[str], codes: np.ndarray) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values, pa.string()))

    arrays = {
        "dataset": repeated([dataset], dataset_codes),
        "person_id": pa.array(person_id),
        "pgs_id": repeated(list(summed.rows.pgs_ids), pgs_codes),
        **{c: pa.array(columns[c], from_pandas=c == "score_avg") for c in PGS_SCORES.names[3:]},
    }
    return pa.table([arrays[c] for c in PGS_SCORES.names], names=PGS_SCORES.names)


def check_score_arrow(table: Any, where: str) -> float | None:
    """``check_score_table``'s invariants on one dataset's score rows as a pyarrow Table
    (``score_rows_arrow``; a plain or dictionary-encoded pgs_id), in numpy: the same
    InputDataError naming ``where``, no count and no person ID printed; returns
    ``missing_call_share``."""
    import pyarrow as pa

    got = table.column("pgs_id")
    pgs = got.chunk(0) if got.num_chunks == 1 else got.combine_chunks()  # one chunk: its own codes, no copy
    if pa.types.is_dictionary(pgs.type) and len(pgs.dictionary.unique()) < len(pgs.dictionary):
        pgs = pgs.cast(pgs.type.value_type)  # one code per pgs_id (a dictionary naming one twice)
    codes = (pgs if pa.types.is_dictionary(pgs.type) else pgs.dictionary_encode()).indices.to_numpy()
    person = table.column("person_id").to_numpy()
    repeated = repeated_keys(person, codes)
    column = {c: table.column(c).to_numpy() for c in ("n_missing", "allele_count", "n_matched", "score_sum")}
    negative_missing = too_many_alleles = not_finite = False
    for lo in range(0, table.num_rows, _CHECK_ROWS):  # a block at a time: no row-long temporary
        got_rows = {c: v[lo:lo + _CHECK_ROWS] for c, v in column.items()}
        negative_missing |= bool((got_rows["n_missing"] < 0).any())
        too_many_alleles |= bool((got_rows["allele_count"] > 2 * got_rows["n_matched"]).any())
        not_finite |= not bool(np.isfinite(got_rows["score_sum"]).all())
    _raise_score_problems(repeated, negative_missing, too_many_alleles, not_finite, where)
    return missing_call_share(int(column["n_missing"].sum(dtype=np.int64)), int(column["n_matched"].sum(dtype=np.int64)))


# Rows per block of ``check_score_arrow``'s range checks: each block's temporaries (2 x
# n_matched, the comparisons) stay small (512 KiB of int64), where one row-long 2 x n_matched
# was a fresh 10 MB array at 20k persons x 61 scores.
_CHECK_ROWS = 65536


def repeated_keys(person: np.ndarray, codes: np.ndarray) -> bool:
    """Whether a (person, code) pair occurs in more than one row (``person``, ``codes``: 1-d
    integer arrays of one length). The rows ``score_rows_arrow`` builds (each person's rows
    together, codes rising within them) are shown free of repeats in a few O(rows) comparisons
    and one sort of the persons (not of the rows): each run of one person's rows has strictly
    rising codes, and no person has two runs; any other table is sorted on (person, code) and
    its neighbours compared. pandas' ``duplicated`` of the pairs (hash tables over all rows)
    took 0.13 CPU-s at 20k persons x 61 scores on the driver, mostly fresh memory (issue 16,
    benchmarks/RESULTS.md session 36 scorerows)."""
    if len(person) < 2:
        return False
    starts = np.flatnonzero(person[1:] != person[:-1]) + 1  # each later run's first row
    rising = codes[1:] > codes[:-1]
    rising[starts - 1] = True  # a run's first code follows another person's
    runs = person[np.r_[0, starts]]
    if rising.all() and len(np.unique(runs)) == len(runs):
        return False
    order = np.lexsort((codes, person))
    person, codes = person[order], codes[order]
    return bool(((person[1:] == person[:-1]) & (codes[1:] == codes[:-1])).any())


def _raise_score_problems(repeated: bool, negative_missing: bool, too_many_alleles: bool, not_finite: bool,
                          where: str) -> None:
    """The one InputDataError of the score checks, naming every problem found (no counts: a
    score's rows are persons)."""
    problems = []
    if repeated:
        problems.append("repeated (sample, pgs_id) rows")
    if negative_missing:
        problems.append("rows with n_missing < 0")
    if too_many_alleles:
        problems.append("rows with allele_count > 2 x n_matched")
    if not_finite:
        problems.append("rows with a non-finite score_sum")
    if problems:
        raise InputDataError("score table invariants violated (a genotype or variant counted twice?): "
                             + "; ".join(problems), where=where)
