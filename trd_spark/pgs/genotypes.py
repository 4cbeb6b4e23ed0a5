"""Read one dataset's genotypes into a biallelic Hail MatrixTable ready for scoring.

The result is keyed by ``locus``/``alleles`` (``alleles = [ref, alt]`` after splitting
multi-allelic rows; spanning deletions ``*`` are kept as rows of their own so that the REF
dosage at a multi-allelic site can be ``2 - all alt copies``, see ``matching``), has the
column key ``s`` (str; the sample ID exactly as in the file) and one entry field ``DOSAGE``
(float64: expected count of the row's alt allele, 0..2; missing when the genotype is
missing; beside it ``FT_FAILED`` where the genotype filter FT was applied), and the row
field ``normalised`` (``NORMALISED``: True for a row the split made or changed; not for BGEN).
Contigs are named as the reference genome names them (GRCh38 ``chr1``, GRCh37 ``1``) whatever
the file uses; PLINK's numeric codes ``23`` X, ``24`` Y, ``25`` XY (PAR, as X), ``26`` MT are
recoded in every format.

Dosage rules (``genotype_dosage``): from ``GT``, the copies of the alt allele; a haploid call
(male chrX/chrY, chrM) counts as homozygous (``1`` -> 2 copies, ``0`` -> 0), so that the REF
dosage ``2 - alt`` stays in 0..2 and haploid samples sit on the diploid scale of the weights.
With ``dosage_field`` (e.g. ``DS``), an entry whose field is absent or ``.`` falls back to its
GT (plink2 does the same), and only when both are missing is the genotype missing; a dosage
beside a haploid GT is on the 0..1 scale and is doubled (plink2 too), one beside a missing GT on
a contig whose calls may be haploid (``haploid_capable_contigs``, outside chrX's pseudo-autosomal
regions) takes the ploidy of the sample's called GTs on that contig (``sample_ploidies``: a
woman's chrX './.:1.4' is 1.4, a man's '.:0.7' 1.4, as plink2 reads them by the GT's text) and is
an error when those are none or of both ploidies (Hail reads '.' and './.' alike: the scale is
unknown).

Formats (``datasets[].genotypes.format``):
    vcf    BGZF/plain-gzip/uncompressed VCF (``path`` may glob per-chromosome files; a plain
           gzip file is read serially, with a warning); dosage from ``GT``, or from the
           FORMAT field ``dosage_field`` (e.g. ``DS``, Number=A or 1) when set
    mt     Hail MatrixTable with ``GT`` (or ``dosage_field``)
    plink  PLINK 1 bed/bim/fam (``path`` = the common prefix or the .bed); A2 is taken as REF,
           A1 as ALT (what ``plink2 --make-bed`` writes from a VCF); sample ID = the fam IID
    pgen   PLINK 2 pgen/pvar/psam: not read here (Hail has no pgen reader); matched on its
           .pvar/.psam and scored by the native engine (``pgen_engine``), which reads the
           calls or dosages itself
    bgen   BGEN 1.2 with 8-bit probabilities (Hail reads no other; one file; the sample IDs
           embedded in the file); dosage = Hail's expected alt dosage. Indexed into the Hail temp dir.
           Multi-allelic variants (K > 2 alleles in one row), which Hail and plink2 do not read,
           are skipped with a WARNING (a local file is copied without them into the Hail temp
           dir) and their loci listed in the global ``UNREADABLE_LOCI``: matching marks every
           score variant there ``multiallelic_unreadable`` (match summary ``n_unreadable``).
           Split rows (one biallelic row per alt, ``bcftools norm -m-`` before conversion) are
           read and scored by the multi-allelic rule.
    vds    Hail VariantDataset (AoU srWGS); only the loci scoring needs are densified:
           variant data is filtered to ``loci`` before ``to_dense_mt``; GT from LGT/LA, so a
           sample inside a reference block gets 0/0 and one with no coverage is missing. Who is
           male on X comes from the VDS's calls anywhere on X (``vds_x_evidence``), not from
           the densified rows (a male's reference block there reads as a diploid 0/0).
"""

from __future__ import annotations

import glob
import gzip
import io
import logging
import os
import re
import uuid
import zlib
from collections.abc import Callable, Collection
from typing import IO, TYPE_CHECKING

from trd_spark.config import GenotypeSource, is_uri
from trd_spark.errors import InputDataError, header_fields_text
from trd_spark.schemas import PERSON_ID_TEXT

if TYPE_CHECKING:
    import hail as hl_types
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

_AUTOSOMES = [str(i) for i in range(1, 23)]


def contig_recoding(reference_genome: str) -> dict[str, str]:
    """Map both naming styles onto the reference's own.

    ``import_vcf`` only renames contigs present as keys, so one map covering the *other* style
    works for files in either style: GRCh38 maps ``1``->``chr1``, ``MT``->``chrM``;
    GRCh37 maps ``chr1``->``1``, ``chrM``->``MT``.
    """
    plain = [*_AUTOSOMES, "X", "Y"]
    if reference_genome == "GRCh38":
        out = {c: f"chr{c}" for c in plain}
        out.update({"MT": "chrM", "M": "chrM"})
        return out
    if reference_genome == "GRCh37":
        out = {f"chr{c}": c for c in plain}
        out.update({"chrM": "MT", "chrMT": "MT"})
        return out
    raise InputDataError(f"no contig recoding for reference genome {reference_genome!r}",
                         where="datasets.genotypes.reference_genome")


# Row field of ``read_genotypes``' rows (bool): True when the row is not the file's own row as
# it is, because ``split_multi`` split it from a multi-allelic row or trimmed its alleles / moved
# its locus to the minimal representation (``hl.min_rep``). Not set by the BGEN reader.
NORMALISED = "normalised"


# Row fields of ``biallelic_rows`` (int32, str, str): the position, REF and this row's alt as
# the file's own row wrote them before the split (``split_multi``'s ``old_locus``,
# ``old_alleles[0]``, ``old_alleles[a_index]``). The rows of one multi-allelic record share
# position and REF whatever minimal form each alt took (``AT>ATT,A`` is ``A>AT`` and ``AT>A``),
# so the matcher groups a REF effect allele's alts by them, and compares score alleles with
# the alleles as written first (as plink2 does).
SITE_POSITION = "site_position"
SITE_REF = "site_ref"
SITE_ALT = "site_alt"
# Column (int64) of ``matching.split_file_rows``' frame: the number of the file row (record) each
# row was split from among the rows collected. The alts of one multi-allelic record share it,
# records given apart (one per alt) do not, whatever ``hl.min_rep`` made of each: ``NORMALISED``
# flags both a split row and a record it trimmed or moved (``ACT>ACGT`` is ``C>CG`` one base on),
# so it cannot tell them apart (Hail's ``was_split``, which ``check_split_site_sums`` needs).
SITE_RECORD = "site_record"

# Column (int64) of ``matching.genotype_rows_at``'s frame with ``row_numbers``: the 0-based number
# of the file row (in the MatrixTable's row order) a row was read or split from, which
# ``mt_entries`` reads the calls of without Hail (``scoring.export_hard_calls``).
FILE_ROW = "file_row"


# Entry field (bool) of ``read_calls``' calls and ``read_genotypes``' rows when the genotype
# filter ``FT`` was applied (``without_failed_genotypes``): True for a call the filter made
# missing (FT failed, the call was there), False or missing otherwise. The scoring pass counts
# them per row (``scoring.compute_scores``; the export, ``scoring.export_hard_calls``) so the
# manifest tells FT's share of the missing calls apart from calls missing in the data.
FT_FAILED = "ft_failed"


# Global (array<str> of loci, ``chr4:1000000``) naming the sites a reader had to skip; only
# the BGEN reader sets it (its multi-allelic variants). ``stage.match_hail`` reads it.
UNREADABLE_LOCI = "unreadable_loci"


# The 28-byte empty block every complete BGZF file ends with (SAM/BAM spec 4.1.2): its
# absence means the file was cut short (an interrupted copy), which Hail would only notice
# deep inside a job with a stack trace.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


# PLINK's numeric codes for the sex and mitochondrial contigs (25 = XY, the pseudo-autosomal
# region, which is on X in both references).
_PLINK_CODES = ("23", "24", "25", "26", "XY")


def reference_contigs(reference_genome: str) -> set[str]:
    """Contig names a genotype file may use for ``reference_genome`` (either style, and PLINK's
    numeric codes, before recoding)."""
    plain = [*_AUTOSOMES, "X", "Y", "MT", "M"]
    return {*plain, *(f"chr{c}" for c in plain), *_PLINK_CODES}


def compression_of(head: bytes) -> str:
    """``bgzf``, ``gzip`` (plain, e.g. ``gzip file.vcf``) or ``none``, from a file's first 16 bytes
    (fewer when the file is shorter).

    BGZF is gzip whose members carry the ``BC`` extra subfield (SAM/BAM spec 4.1): FLG.FEXTRA
    set, XLEN 6, SI1 SI2 = ``B`` ``C``. The one rule of ``compression`` (a local file) and of
    ``check_vcf_files`` on a URI (the bytes read through Hadoop's file system).
    """
    if head[:2] != b"\x1f\x8b":
        return "none"
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def compression(path: str) -> str:
    """``compression_of`` the first bytes of the local file ``path``."""
    with open(path, "rb") as f:
        return compression_of(f.read(16))


def hadoop_vcf_files(hl: hl_types) -> tuple[Callable[[str], list[str]], Callable[[str], IO[bytes]]]:
    """(list a URI glob's files, open a URI's file for reading bytes) through Hadoop's file system,
    the one ``import_vcf`` reads the files with (``gs://``, ``hdfs://``, ``file://``): listed as
    ``io.Fs.glob_files`` lists them, opened by Hail's Hadoop file system without a codec (the bytes
    as stored: ``hl.hadoop_open`` would decompress a .gz/.bgz by its name). For
    ``check_vcf_files``' URI files; ``hl``: the initialised hail module."""
    from pyspark.sql import SparkSession

    from trd_spark.io import Fs

    fs = hl.current_backend().fs
    return Fs(SparkSession.builder.getOrCreate()).glob_files, lambda path: fs.open(path, "rb")


# A gVCF's reference block: a record whose ALT is only the "any other allele" symbol (GATK and
# DRAGEN ``<NON_REF>``, bcftools and DeepVariant ``<*>``, Illumina Strelka ``.``) with an INFO
# ``END``. A joint-called VCF has none (a structural variant's END goes with ``<DEL>`` etc.).
GVCF_BLOCK_ALTS = frozenset({"<NON_REF>", "<*>", "."})
# The gVCF-only symbols: a record whose ALT is only these is a reference record with or without
# END (GATK ``-ERC BP_RESOLUTION`` writes one per non-variant site, no END; its ``C <NON_REF>``
# record matched no scored {C, T} site, so a REF effect allele's copies were lost as for a block).
# ``.`` alone is an all-sites VCF's record (scored as REF by the missing-allele rule) unless END.
GVCF_ONLY_ALTS = frozenset({"<NON_REF>", "<*>"})
# Records read per file for a reference block: a gVCF's first record is a block (chr1:1 is N)
# unless it was cut to regions, and blocks lie between almost every two variants; 256 records
# are one BGZF block or two, read already for the first-record checks.
GVCF_LOOK_RECORDS = 256


def is_reference_block(fields: list[str]) -> bool:
    """Whether a VCF data line's tab-split ``fields`` are a gVCF reference record: ALT only
    ``GVCF_ONLY_ALTS`` (a block with ``END`` or a BP_RESOLUTION site without), or ALT only
    ``GVCF_BLOCK_ALTS`` with INFO ``END`` (Strelka's ``.`` block); False for a line of fewer than 8
    fields."""
    if len(fields) < 8:
        return False
    alts = set(fields[4].split(","))
    if alts <= GVCF_ONLY_ALTS:
        return True
    return alts <= GVCF_BLOCK_ALTS and _has_end(fields)


def _has_end(fields: list[str]) -> bool:
    """Whether a VCF data line's tab-split ``fields`` (at least 8) have an INFO ``END`` key."""
    return any(kv.split("=", 1)[0] == "END" for kv in fields[7].split(";"))


def check_vcf_files(source: GenotypeSource, *, uri_files: Callable[[str], list[str]] | None = None,
                    open_uri: Callable[[str], IO[bytes]] | None = None) -> bool:
    """Cheap checks of VCF files before Hail reads them lazily (header + first record).

    Returns True when some file is plain gzip (not BGZF): Hail then has to read the files
    serially (``force=True``) instead of splitting them. Raises ``InputDataError`` naming the
    file (and ``:line``) for: a BGZF file without the end-of-file block (cut short), a plain
    gzip file named ``.bgz`` or an uncompressed one named ``.gz``/``.bgz``, a first
    record whose FORMAT lacks ``GT`` (or ``dosage_field``), a first record whose contig
    matches no name of the reference (e.g. ``chromosome1``), and a gVCF: a reference block
    or BP_RESOLUTION site record (``is_reference_block``) among a file's first
    ``GVCF_LOOK_RECORDS`` records. Read as a VCF, a scored site inside a block has no row (at a
    BP_RESOLUTION ``C <NON_REF>`` record, no row with its alleles) and was counted not_found (a REF
    effect allele's two copies lost from the sum; plink2 ``--vcf`` reads it so too), where the block says 0/0:
    Hail's VDS densifies a block as 0/0, so a gVCF goes through a VDS. A URI's files (``gs://``,
    ``hdfs://``, ``file://``) are listed by ``uri_files`` and read by ``open_uri``
    (``hadoop_vcf_files``) with the same checks; without them a URI is left to Hail (False):
    there a plain-gzip ``.gz`` was forced to BGZF and failed inside Hail ("truncated bgzip"),
    not read (session 35). On a URI the compression, name and end-of-file checks read each
    file's first 16 and last 28 bytes, but the header and first-record checks read the FIRST file
    only (sorted listing): a sharded callset (All of Us: thousands of gs:// shards, each header
    several MB with its sample line) read serially on the driver cost minutes before any job;
    Hail refuses shards whose headers differ, and a later shard's bad first record fails in Hail.
    """
    if is_uri(source.path):
        if uri_files is None or open_uri is None:
            return False
        paths, opener = uri_files(source.path), open_uri
    else:
        paths, opener = sorted(glob.glob(source.path)), lambda path: open(path, "rb")
    contigs = reference_contigs(source.reference_genome)
    wanted = source.dosage_field or "GT"
    plain_gzip = False
    uri = is_uri(source.path)
    for i, path in enumerate(paths):
        with opener(path) as f:
            kind = compression_of(f.read(16))
            if kind == "bgzf":
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - len(BGZF_EOF)))
                if f.read() != BGZF_EOF:
                    raise InputDataError("truncated BGZF file (no BGZF end-of-file block); copy it again",
                                         where=path)
        plain_gzip = plain_gzip or kind == "gzip"
        # Hail picks its codec by the name (.bgz: BGZF, .gz: BGZF when forced): a name that
        # says otherwise fails deep in Hail ("does not conform to block gzip format").
        named = "BGZF (.bgz)" if path.endswith(".bgz") else "gzip (.gz)" if path.endswith(".gz") else None
        if named and kind != "bgzf" and (kind == "none" or path.endswith(".bgz")):
            what = "plain gzip (not BGZF)" if kind == "gzip" else "not compressed"
            raise InputDataError(
                f"the file is {what} but named as {named}, which Hail reads as BGZF; recompress it with "
                "`zcat -f FILE | bgzip > FILE.fixed.vcf.bgz`" + (" or name it .vcf.gz (read serially)" if kind == "gzip"
                                                                else " or drop the extension"), where=path)
        if uri and i > 0:  # the first-record checks: every local file, a URI's first (docstring: cost)
            continue
        records = 0  # data records read (the first is checked; GVCF_LOOK_RECORDS for blocks)
        try:
            with opener(path) as raw, (gzip.open(raw, "rt") if kind != "none" else io.TextIOWrapper(raw)) as f:
                declared: set[str] = set()  # the header's ##FORMAT IDs
                for line_no, line in enumerate(f, 1):
                    if line.startswith("#"):
                        if line.startswith("##FORMAT=<ID="):
                            declared.add(line[len("##FORMAT=<ID="):].split(",", 1)[0].split(">", 1)[0])
                        continue
                    fields = line.rstrip("\n").split("\t")
                    if records == 0 and fields[0] not in contigs:
                        raise InputDataError(
                            f"contig {fields[0]!r} is not a {source.reference_genome} contig name "
                            "(expected chr1..chr22, chrX, chrY, chrM, 1..22, X, Y, MT or PLINK's 23..26)",
                            where=f"{path}:{line_no}")
                    formats = fields[8].split(":") if len(fields) > 9 else []
                    # With a dosage_field, a record of GT alone in a file whose header declares the
                    # field is read: an entry without the dosage takes its GT's copies
                    # (to_biallelic_dosage, plink2's fallback), as in any later record. Requiring
                    # the field in the first record refused a file whose first records are GT only
                    # and later ones carry DS (or DS alone), and told to set the dosage_field already
                    # set (session 35; plink2 --vcf dosage=DS scores it).
                    if records == 0:
                        fallback = source.dosage_field is not None and "GT" in formats and wanted in declared
                        if wanted not in formats and not fallback:
                            raise InputDataError(
                                f"FORMAT column has no {wanted} (has {':'.join(formats) or 'no FORMAT/sample columns'}); "
                                "genotypes need GT, or set dosage_field to the dosage FORMAT field (e.g. DS)",
                                where=f"{path}:{line_no}")
                    if is_reference_block(fields):
                        raise InputDataError(
                            f"a gVCF: reference-block record (ALT {fields[4]}"
                            f"{', INFO END=' if _has_end(fields) else ', no END: BP_RESOLUTION'}); a scored site "
                            "inside a block or at such a record would be not_found, not the 0/0 the record "
                            "says; combine the gVCFs into a VDS (hl.vds.new_combiner) and read it as format "
                            "vds, or joint-genotype them (GATK GenotypeGVCFs)", where=f"{path}:{line_no}")
                    records += 1
                    if records >= GVCF_LOOK_RECORDS:
                        break
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
            if records:  # past the first record (the block look): a file cut short is the end checks' to name
                continue
            what = {"gzip": "plain gzip (not BGZF)", "bgzf": "BGZF"}.get(kind, "uncompressed")
            raise InputDataError(f"cannot read VCF ({what}): {e}", where=path) from None
    return plain_gzip


def vcf_sample_ids(source: GenotypeSource) -> list[str] | None:
    """The sample IDs of a local VCF ``source`` in column order, read from the ``#CHROM`` header
    line of its first file (sorted glob), or None for a URI, no file, or a header this cannot
    read as Hail does (an empty ID, an ID with a carriage return or space, a file that does not
    open): the caller then collects Hail's columns. Equal to ``import_vcf``'s column keys,
    which are the same tab-separated fields after FORMAT (Hail refuses files of one glob whose
    IDs differ); tests/test_pgs_genotypes.py compares the two on every VCF of the test data.
    Saves ``samples_to_persons`` its Hail job (2-5 s warm under load 20, session 17)."""
    if is_uri(source.path):
        return None
    files = sorted(glob.glob(source.path))
    if not files:
        return None
    path = files[0]
    try:
        # newline="": a carriage return stays in the text (Hail's reading of it is not ours to guess).
        with (gzip.open(path, "rt", newline="") if compression(path) != "none" else open(path, newline="")) as f:
            for line in f:
                if line.startswith("#CHROM"):
                    ids = line.rstrip("\n").split("\t")[9:]
                    if any(not s or s != s.strip() or " " in s for s in ids):
                        return None
                    return ids
                if not line.startswith("#"):
                    return None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None
    return None


# Hail splits a VCF into blocks of 128 MB (compressed) by default; smaller tasks than this are
# not worth their start-up.
_VCF_BLOCK_BYTES = 128 << 20
_VCF_MIN_TASK_BYTES = 16 << 20


def vcf_min_partitions(source: GenotypeSource, cores: int) -> int | None:
    """``import_vcf``'s ``min_partitions`` (per file) for the local VCF files of ``source``:
    up to 4 tasks per core (``cores``: Spark's default parallelism) for the largest file, none
    under 16 MB; None when Hail's 128 MB blocks already give as many, or for URIs. Why: a
    321 MB VCF is 3 blocks, so on 2 cores its last task runs alone and every pass over it
    (the rows at match time, the export) takes 1.5 tasks' time instead of one and a quarter
    (10k x 100k benchmark, session 15 in benchmarks/RESULTS.md)."""
    if is_uri(source.path):
        return None
    sizes = [os.path.getsize(p) for p in glob.glob(source.path)]
    if not sizes:
        return None
    largest = max(sizes)
    n = min(4 * max(1, cores), largest // _VCF_MIN_TASK_BYTES)
    return int(n) if n > -(-largest // _VCF_BLOCK_BYTES) else None


def locate_rows(source: GenotypeSource, loci: list[str]) -> dict[str, list[str]]:
    """Where the genotype rows at ``loci`` (``chr6:3000000``, reference contig names) are:
    locus -> ``file:line`` of each row, for local text-indexed formats (VCF files of the
    ``path`` glob, the PLINK .bim, the pgen .pvar); empty for others (MT, VDS, BGEN and URIs:
    their error names the path). Reads each file once to its end (an error path only).
    Raises nothing: an unreadable file is left out (the error being reported is the point).
    """
    if is_uri(source.path) or source.format not in ("vcf", "plink", "pgen"):
        return {}
    if source.format == "vcf":
        files = sorted(glob.glob(source.path))
    else:
        from trd_spark.pgs.native_task import PlinkFiles  # its .pvar, or its .pvar.zst

        files = [PlinkFiles.of(source).variants]
    from trd_spark.pgs.variant_list import open_variant_text

    recoding = plink_contig_recoding(source.reference_genome)
    wanted = set(loci)
    found: dict[str, list[str]] = {}
    for path in files:
        try:
            # .bim and a headerless .pvar: chrom, id, cM, pos or (5 fields, no cM) chrom, id, pos;
            # VCF: chrom, pos; a .pvar with its #CHROM header: its POS column wherever the header
            # names it, split as pgen_engine._read_pvar splits it (tabs, or runs of spaces when the
            # header line has no tab): before, its second tab field, so a space-separated .pvar's
            # rows were never named and one with another column order named the wrong ones.
            bim_order = source.format in ("plink", "pgen")
            sep: str | None = "\t"
            pos_at = 1
            with open_variant_text(path) as f:  # plain, gzip/BGZF or zstd (a .pvar.zst)
                for line_no, line in enumerate(f, 1):
                    if line.startswith("#"):
                        if bim_order and line.startswith("#CHROM"):
                            bim_order = False
                            sep = "\t" if "\t" in line else None
                            names = line.rstrip("\r\n").split(sep)
                            pos_at = names.index("POS") if "POS" in names else 1
                        continue
                    if bim_order:
                        fields = line.split()
                        contig, pos = fields[0], fields[3 if len(fields) >= 6 else 2]
                    else:
                        fields = line.rstrip("\r\n").split(sep, pos_at + 1)  # (a VCF's samples not split)
                        contig, pos = fields[0], fields[pos_at]
                    locus = f"{recoding.get(contig, contig)}:{pos}"
                    if locus in wanted:
                        found.setdefault(locus, []).append(f"{path}:{line_no}")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, IndexError):
            continue
    return found


def plink_contig_recoding(reference_genome: str) -> dict[str, str]:
    """``contig_recoding`` plus every chromosome code plink2 reads: 23 X, 24 Y, 25 / XY (X's
    pseudo-autosomal part, on X coordinates) -> X, 26 / MT / M -> the mitochondrion, PAR1 / PAR2
    (``--split-par``: X's two pseudo-autosomal regions) -> X, each also ``chr``-prefixed
    (``--output-chr chr26`` writes chr23..chr26, ``chrMT`` writes chrXY and chrMT); the prefix
    and the letters in any case (chrx, Chr3, CHR4, mt) and one leading zero (01, chr02), as plink2
    reads them all. Before, these were left as they are and a file holding them was refused as
    'not a GRCh38 locus' (the scoring files' ``normalise_chrom`` already read them so)."""
    out = contig_recoding(reference_genome)
    x, y, mt = ("chrX", "chrY", "chrM") if reference_genome == "GRCh38" else ("X", "Y", "MT")
    codes = {c: f"chr{c}" if reference_genome == "GRCh38" else c for c in _AUTOSOMES}
    codes.update({f"0{c}": codes[c] for c in _AUTOSOMES if len(c) == 1})
    codes.update({"X": x, "Y": y, "23": x, "24": y, "25": x, "26": mt, "XY": x, "MT": mt, "M": mt, "PAR1": x,
                  "PAR2": x})
    for code, contig in codes.items():
        for name in {code, code.lower()}:
            for prefix in ("", "chr", "Chr", "CHR"):
                if prefix + name != contig:
                    out[prefix + name] = contig
    return out


def _check_keys(hl: hl_types, mt: hl_types.MatrixTable, where: str) -> None:
    if list(mt.row_key) != ["locus", "alleles"]:
        raise InputDataError(f"rows must be keyed by locus, alleles (got {list(mt.row_key)})", where=where)
    if list(mt.col_key) != ["s"] or mt.s.dtype != hl.tstr:
        raise InputDataError(f"columns must be keyed by s: str (got {dict(mt.col_key.dtype)})", where=where)


def hard_calls(source: GenotypeSource) -> bool:
    """True when ``read_genotypes`` gives hard-call dosages (``DOSAGE`` in {0, 1, 2} or
    missing, from ``GT`` alone): VCF, MatrixTable, VDS without ``dosage_field`` and PLINK 1
    bed. False for ``dosage_field`` and BGEN (expected dosages) and for pgen (not read by Hail)."""
    return source.format in ("vcf", "mt", "vds", "plink") and source.dosage_field is None


def gt_alt_copies(hl: hl_types, gt, i):
    """Copies of allele ``i`` (int32) in the call ``gt``; a haploid call counts as homozygous
    (``1`` -> 2 copies): the weights are on the diploid scale and the REF dosage ``2 - alt
    copies`` must stay in 0..2 (module doc). Missing when ``gt`` is missing."""
    n = hl.range(gt.ploidy).filter(lambda k: gt[k] == i).length()
    return hl.if_else(gt.ploidy == 1, 2 * n, n)


def checked_call(hl: hl_types, gt, locus, alleles):
    """``gt`` (a call of the row ``locus``/``alleles``), or an error naming the site when the
    call names an allele the row does not have (``0/2`` at a biallelic site, ``0/3`` beside two
    ALTs: an ALT such as ``*`` removed from the record without its calls). Hail reads such a VCF
    GT as written, and every reader here took it as something: the Hail pass as no copy of any
    alt (a REF effect allele's 2 copies), Hail's PLINK writer as 2 alt copies; plink2 refuses
    the file ("invalid GT field"). Missing stays missing. Evaluated where the entry is read
    (Hail reads lazily), so the error comes from that pass."""
    n = hl.len(alleles)
    # A diploid call's two indices compared at once (no array per entry: the export of the calls as
    # stored runs this on every entry).
    ok = hl.if_else(gt.ploidy == 2, (gt[0] < n) & (gt[1] < n), hl.range(gt.ploidy).all(lambda k: gt[k] < n))
    return hl.case().when(ok, gt).or_error(hl.format(
        "GT %s at %s %s names an allele the row does not have (%d alleles: REF and %d ALT); plink2 refuses "
        "such a call ('invalid GT field'): was an ALT allele removed from the record without its calls?",
        hl.str(gt), hl.str(locus), hl.delimit(alleles, ","), n, n - 1))


def gt_alt_dosages(hl: hl_types, gt, n_alleles):
    """Copies of each alt allele (array of float64, one per alt) in the call ``gt``
    (``gt_alt_copies``: a haploid ``1`` counts 2). Missing when ``gt`` is missing."""
    return hl.range(1, n_alleles).map(lambda i: hl.float64(gt_alt_copies(hl, gt, i)))


def to_biallelic_dosage(
    hl: hl_types, mt: hl_types.MatrixTable, *, where: str, dosage_field: str | None = None,
    keep_rsid: bool = False, scored_contigs: Collection[str] | None = None,
) -> hl_types.MatrixTable:
    """Split multi-allelic rows and keep one entry field ``DOSAGE`` (see module doc), and
    ``FT_FAILED`` when ``mt`` has it (``without_failed_genotypes``; each split row keeps it).

    From ``GT``: copies of the row's alt allele (a ``1/2`` call counts 1 on each split row).
    From ``dosage_field``: an array (Number=A, one dosage per alt) indexed by the split row's
    alt, or a number (used as the dosage of the one alt on biallelic rows); entries without
    it, or with ``.``, and multi-allelic rows with a single number take the GT's copies; a
    dosage outside [0, 2], and an array of another length than the alts (GP, HDS), fail the
    read (plink2: "invalid DS field"), naming field and site; so does a record's alt dosages
    summing above 2 (``DOSAGE_SUM_SLACK``), except on chrY (``check_split_site_sums``, males only).
    Spanning-deletion (``*``) alts are kept as rows (they never match a scoring allele, but
    count as "not REF" for a REF effect allele).

    ``scored_contigs``: the contigs of every row that will be scored (the stage: those of the
    rows at the score loci), or None (any row). With a ``dosage_field`` and a GT, the ploidy
    pass (``sample_ploidies``) reads only the sex and mitochondrial contigs among them, and is
    not run when there is none (autosomal scores: no pass over X/Y/MT, which for a VCF is a
    scan of the whole file); the rows of the sex and mitochondrial contigs not among them are
    left out of the result (their dosages, never scored, would need that pass; so their
    dosage errors, e.g. a DS outside [0, 2], are no longer raised).
    """
    _check_keys(hl, mt, where)
    field_name = dosage_field or "GT"
    if field_name not in mt.entry:
        raise InputDataError(f"genotypes have no {field_name} entry field (has {list(mt.entry)})", where=where)
    row_fields = _rsid_fields(mt, keep_rsid, where)
    has_gt = "GT" in mt.entry
    if has_gt and mt.GT.dtype != hl.tcall:
        raise InputDataError(f"GT must be a call, got {mt.GT.dtype}", where=where)
    # FT_FAILED (the calls the genotype filter removed) rides along to each split row's entry.
    ft = [FT_FAILED] if FT_FAILED in mt.entry else []
    mt = mt.select_entries(*dict.fromkeys([field_name, *(["GT"] if has_gt else []), *ft]))
    mt = with_missing_alt(hl, mt.select_rows(*row_fields).select_cols().select_globals())
    # A filtered entry (sparse VDS densify, filtered MTs) is a missing genotype: it must be
    # imputed like one, not silently skipped by the aggregations.
    mt = mt.unfilter_entries()
    rg = mt.locus.dtype.reference_genome
    ploidy_contigs = [c for c in haploid_capable_contigs(rg) if scored_contigs is None or c in scored_contigs]
    unscored = [c for c in haploid_capable_contigs(rg) if c not in ploidy_contigs]
    if dosage_field is not None and has_gt and unscored:
        # Left out: their dosages would need the ploidy pass, and Hail's pass computes every
        # row's entries before it keeps the weighted rows (a row it never scores could fail).
        mt = hl.filter_intervals(mt, contig_intervals(hl, rg, unscored), keep=False)
    with_ploidies = dosage_field is not None and has_gt and len(ploidy_contigs) > 0
    if with_ploidies:
        mt = mt.annotate_cols(**{_PLOIDY: sample_ploidies(hl, mt, ploidy_contigs)[mt.col_key][_PLOIDY]})
    n_alleles = hl.len(mt.alleles)
    n_alts = n_alleles - 1
    # A call naming an allele the row lacks is one error naming the site (checked_call). Each
    # value used more than once is bound once (hl.rbind: a Let): Hail's Python expressions are
    # trees, and a sub-expression used inside a lambda (map, all) is copied into it whole, so the
    # unbound dosage rule below made the whole query of a DS read render ~9.5x the IR nodes of a
    # GT read's (10,536 vs 1,110 on 22c6515; 1,378 vs 770 bound) and its compile cost ~3x a GT read's.
    # Only what every entry evaluates anyway is bound; the GT's copies stay inside the
    # coalesce that falls back to them (a bad GT beside a given dosage is not read, as before).
    from_gt = (hl.rbind(checked_call(hl, mt.GT, mt.locus, mt.alleles), lambda gt: gt_alt_dosages(hl, gt, n_alleles))
               if has_gt else hl.missing(hl.tarray(hl.tfloat64)))
    if dosage_field is None:
        mt = mt.annotate_entries(_d=from_gt)
    else:
        d = mt[dosage_field]
        if isinstance(d.dtype, hl.tarray) and d.dtype.element_type in (hl.tfloat64, hl.tfloat32):
            # One dosage per alt (Number=A). Any other length is another kind of field (GP: one
            # probability per genotype; HDS: one dosage per haplotype), which was read as missing:
            # every entry fell back to its GT's hard call, silently. An error naming field and site.
            per_alt = hl.is_missing(d) | (hl.len(d) == n_alts)
            given = hl.case().when(per_alt, d.map(hl.float64)).or_error(hl.format(
                f"dosage field {dosage_field} has %d values at %s %s, not one per alt allele: dosage_field "
                "must name alt-allele dosages (e.g. DS, Number=A), not genotype probabilities (GP) or "
                "haplotype dosages (HDS)", hl.len(d), hl.str(mt.locus), hl.delimit(mt.alleles, ",")))
        elif d.dtype in (hl.tfloat64, hl.tfloat32):
            # One number for the whole row: meaningful only when there is a single alt allele.
            given = hl.or_missing(n_alts == 1, [hl.float64(d)])
        else:
            raise InputDataError(f"dosage field {dosage_field} must be a float or array of floats, got {d.dtype}",
                                 where=where)
        # A dosage's scale is its call's ploidy (VCF: the expected alt count, at most 1 in a
        # haploid call): plink2 reads a DS beside a haploid GT (a male's chrX, chrY, chrM; also
        # a haploid '.') on 0..1 and doubles it, as a haploid GT counts 2 copies here
        # (gt_alt_copies). Used as given, a male's chrX DS 1 counted 1 copy where his GT 1 counts
        # 2 (and a chrY DS half of plink2's). Hail reads '.' and './.' alike (missing), where
        # plink2 reads a DS beside a missing GT by the GT's text ('./.' 0..2, '.' 0..1): here it
        # takes the ploidy of the sample's called GTs on the contig (sample_ploidies); when
        # those are none or mixed the scale is unknown: an error naming field and site, and
        # plink2's import as the way on (plink2 refuses a DS with no GT field at all). chrX's
        # pseudo-autosomal regions are diploid for everyone (Hail's in_x_par).
        may_be_haploid = (hl.literal(set(haploid_capable_contigs(mt.locus.dtype.reference_genome)))
                          .contains(mt.locus.contig) & ~mt.locus.in_x_par())
        unknown_scale = (
            "beside a missing GT, and the sample's called GTs on this contig are not of one ploidy (0..1 or "
            "0..2 scale unknown); plink2 reads the GT's text: convert with plink2 --vcf FILE "
            f"dosage={dosage_field} --make-pgen, format: pgen"
            if has_gt else
            "without a GT field on a contig whose calls may be haploid: its scale (0..1 haploid, 0..2 diploid) is "
            "unknown (plink2 refuses such a field too); give the GT beside it")
        on_y = hl.literal(set(rg.y_contigs)).contains(mt.locus.contig) if rg.y_contigs else hl.bool(False)

        def scale_of(given, may_be_haploid):
            """The factor of ``given``'s dosages (2.0 beside a haploid call, else 1.0), or the error
            of an unknown scale (evaluated for every entry: no error where a dosage is given on a
            known scale or none is given)."""
            has_dosage = hl.is_defined(given) & given.any(hl.is_defined)
            if has_gt:
                # A missing GT takes the ploidy of the sample's called GTs on that contig when they
                # are all of one (a woman's chrX calls are diploid, a man's haploid): plink2 reads
                # './.:1.4' as 1.4 and '.:0.7' as 1.4, and so does this now (sample_ploidies).
                ploidy = hl.coalesce(mt.GT.ploidy, hl.or_missing(
                    may_be_haploid & has_dosage,
                    mt[_PLOIDY].get(mt.locus.contig) if with_ploidies else hl.missing(hl.tint32)))
            else:
                ploidy = hl.missing(hl.tint32)
            # (hl.case yields missing on a missing condition: every condition is a defined boolean.)
            known = hl.is_defined(ploidy) | ~may_be_haploid | ~has_dosage
            return (hl.case().when(hl.coalesce(ploidy == 1, False), 2.0).when(known, 1.0)
                    .or_error(hl.format(f"dosage field {dosage_field} at %s %s is given {unknown_scale}",
                                        hl.str(mt.locus), hl.delimit(mt.alleles, ","))))

        def scaled_of(given, scale):
            """``given`` times ``scale``, or the error of a dosage out of range."""
            # An alt dosage is in [0, 2] (a haploid one in [0, 1]): plink2 stops at such a field
            # ("invalid DS field"); used as given it would put more (or fewer) than two copies in the
            # sum. An error naming the field and the site when the entry is read (Hail reads lazily).
            in_range = hl.is_missing(given) | given.all(lambda x: hl.is_missing(x) | ((x >= 0) & (x * scale <= 2)))
            return hl.case().when(in_range, given.map(lambda x: x * scale)).or_error(
                hl.format(f"dosage field {dosage_field} outside [0, %s] at %s %s: %s",
                          hl.if_else(scale == 2.0, "1 (haploid call)", "2"), hl.str(mt.locus),
                          hl.delimit(mt.alleles, ","), hl.str(given)))

        def summed(per_alt, alt_sum):
            """``per_alt``, or the error of a record's alt dosages summing above 2."""
            # A record's alt dosages together are at most 2 copies too: each one in [0, 2] above let
            # DS 1.5,1.5 at a three-allele site through, 3 alt copies, and a REF effect allele's
            # dosage 2 - 3 = -1 was summed as given (plink2 imports no multi-allelic DS at all:
            # "multiallelic dosage import is under development"). An error naming field and site;
            # DOSAGE_SUM_SLACK per alt lets rounded dosages through (Beagle 5 writes DS with 2 decimals),
            # summed as given: the REF's dosage 2 - sum may be below 0 by that rounding (at most 0.01 per
            # alt). Not rescaled to sum 2 (as 01757ce did): the native engine reads a site given split
            # (.pgen, BGEN, split VCF records) one row per alt and only the rows a score uses (an ALT
            # effect allele's own row), so it cannot know the sum that would scale that row, and the two
            # routes gave different scores for the same dosages (~0.005 x w); as given, both sum the
            # same dosages (tests/test_field_cases_round32_pgs.py).
            # On chrY the sum is checked by check_split_site_sums, for males only: a non-male's chrY
            # calls are not scored on any route (the native engine reads them as 0 copies), and this
            # pass does not know the males. Before session 41 a female's record summing above 2 was
            # an error here and on no other route.
            return hl.case().when((n_alts < 2) | on_y | (alt_sum <= 2.0 + DOSAGE_SUM_SLACK * n_alts),
                                  per_alt).or_error(hl.format(
                f"dosage field {dosage_field} gives %.4f alt copies in all at %s %s (%s), more than 2: the REF's "
                "dosage would be negative; fix the file's dosages", alt_sum, hl.str(mt.locus),
                hl.delimit(mt.alleles, ","), hl.delimit(per_alt.map(lambda x: hl.format("%.3f", x)), ",")))

        # Per alt: the dosage when given, else the GT's copies (plink2's fallback).
        dosages = hl.rbind(given, may_be_haploid, lambda given, may_be_haploid: hl.rbind(
            scale_of(given, may_be_haploid), lambda scale: hl.rbind(
                scaled_of(given, scale), lambda scaled: hl.rbind(
                    hl.range(n_alts).map(lambda i: hl.coalesce(scaled[i], from_gt[i])), lambda per_alt: hl.rbind(
                        hl.sum(per_alt.map(lambda x: hl.coalesce(x, 0.0))), lambda alt_sum: summed(per_alt, alt_sum))))))
        mt = mt.annotate_entries(_d=dosages)
        mt = mt.drop(_PLOIDY) if with_ploidies else mt
    split = _split_rows(hl, mt.select_entries("_d", *ft))
    split = split.select_entries(*ft, DOSAGE=split._d[split.a_index - 1])
    return split.select_rows(*row_fields, NORMALISED).select_globals()


def check_split_site_sums(hl: hl_types, mt: hl_types.MatrixTable, rows: pd.DataFrame,
                          dosage_field: str | None) -> None:
    """Hail's pass: the weighted ``rows`` (``matching.WeightMatrices.rows``: contig, position,
    ref, alt of ``mt``'s split rows, as matched) that are alts of one site given split, one
    record per alt (bcftools norm -m- output, TOPMed-imputed VCFs: ``chr4:1000000 A>G`` and
    ``A>C`` as two records; grouped as the native engine groups them,
    ``pgen_engine.split_site_sums``), give each sample at most 2 alt copies together, plus
    ``DOSAGE_SUM_SLACK`` per row: else one Hail error naming the field, the site, a sum above
    that and the sample's rows' dosages (no sample ID), which ``stage.hail_errors`` makes one
    line naming the dataset and its files. ``mt``: entry ``DOSAGE`` (``to_biallelic_dosage``'s
    rows, keyed by locus/alleles); a missing call adds nothing. Why: ``to_biallelic_dosage``
    checks one record's alts, never records apart, so DS 1.5 on A>G and 1.5 on A>C made a REF
    effect allele's dosage 2 - 3 = -1, summed as given before session 40 (its dominant term
    min(-1, 1) too); the native engine refuses the same rows of a .pgen/.bed/BGEN
    (``native_task._SplitSiteCheck``). plink2 --score reads each split record alone (a REF effect
    allele's dosage 2 - that record's DS, the other alt counted as REF) and checks no sum. Rows a
    score does not read are not checked (an ALT effect allele's score reads its own record; a
    REF effect allele's reads every alt's), as on the native engine. One more job, over the
    partitions of those sites only, and only when there is such a site: one whose rows come from
    more than one record (``SITE_RECORD``; a multi-allelic record's alts alone were checked as
    one record), or on chrY. A site written REF-last (a BGEN's ``C,A`` and ``G,A`` for
    A>C,G, ``split_site_sums``' ``sum_flip``) sums ``2 - DOSAGE`` of each row holding its REF as
    the alt. On chrY a non-male's dosages are not checked (not scored: ``MALE_X``, as the native
    pass reads them), and a multi-allelic record's alts are checked here, not by
    ``to_biallelic_dosage``, which does not know the males (an error naming "a multi-allelic
    record's alts")."""
    import numpy as np

    from trd_spark.pgs.pgen_engine import split_site_sums

    arrays, _ = split_site_sums(rows, None, [0, len(rows)])
    if not arrays:
        return
    group = arrays["sum_group"]
    rg = mt.locus.dtype.reference_genome
    # A site whose rows are all alts of one multi-allelic record (one ``SITE_RECORD``, Hail's
    # ``was_split``) was checked whole by ``to_biallelic_dosage`` and needs no job, except on chrY,
    # whose records are checked here (a non-male's calls are not: below). Before session 41 the
    # rule was "every row ``NORMALISED``", which also flags a record ``hl.min_rep`` trimmed or
    # moved: a site given as the records ``ACT>ACGT``, ``ACT>AGT`` was never checked on this route.
    # Rows without ``SITE_RECORD`` (taken as split already: BGEN) are each a record of their own.
    one_record = np.zeros(len(arrays["sum_limit"]), dtype=bool)
    if SITE_RECORD in rows:
        on = group >= 0
        record = rows[SITE_RECORD].to_numpy(np.int64)[on]
        low = np.full(len(one_record), np.iinfo(np.int64).max, dtype=np.int64)
        high = np.full(len(one_record), -1, dtype=np.int64)
        np.minimum.at(low, group[on], record)
        np.maximum.at(high, group[on], record)
        one_record = low == high
        on_y = np.zeros(len(one_record), dtype=bool)
        on_y[group[on]] = np.isin(rows["contig"].to_numpy(str)[on], list(rg.y_contigs))
        group = np.where(on & ~(one_record & ~on_y)[np.maximum(group, 0)], group, -1)
    at = np.flatnonzero(group >= 0)
    if not at.size:
        return
    contig, position = rows["contig"].to_numpy(object)[at], rows["position"].to_numpy(np.int64)[at]
    ref, alt = rows["ref"].to_numpy(object)[at], rows["alt"].to_numpy(object)[at]
    # A row holding its site's REF as its alt (a BGEN written REF-last, ``sum_flip``) gives
    # 2 - DOSAGE alt copies: its site number x 2 + 1 (else x 2) in one dict.
    flip = arrays["sum_flip"][at] if "sum_flip" in arrays else np.zeros(len(at), dtype=bool)
    # Keyed by 'contig:position:ref:alt' text (a few rows): a dict literal keyed by struct wants
    # hashable alleles.
    site_of = hl.literal({f"{c}:{p}:{r}:{a}": 2 * int(g) + int(f)
                          for c, p, r, a, g, f in zip(contig, position, ref, alt, group[at], flip)},
                         hl.tdict(hl.tstr, hl.tint32))
    loci = sorted({(str(c), int(p)) for c, p in zip(contig, position)})
    part = hl.filter_intervals(mt, [hl.Interval(hl.Locus(c, p, rg), hl.Locus(c, p, rg), includes_end=True)
                                    for c, p in loci])
    part = part.annotate_rows(_code=site_of.get(hl.delimit([part.locus.contig, hl.str(part.locus.position),
                                                             part.alleles[0], part.alleles[1]], ":")))
    part = part.filter_rows(hl.is_defined(part._code))
    part = part.annotate_rows(_site=part._code // 2, _flip=part._code % 2 == 1)
    # the site's alt copies of the row (a missing call: none)
    copies = hl.coalesce(hl.if_else(part._flip, 2.0 - part.DOSAGE, part.DOSAGE), 0.0)
    if rg.y_contigs and any(str(c) in rg.y_contigs for c in contig):
        # On chrY only males' calls are scored (``MALE_X``; none without it), as plink2 --score
        # counts them: a non-male's chrY dosages add nothing and are not checked, on both routes
        # (the native pass reads them as 0 copies, ``native_task._drop_non_males_on_y``).
        male = hl.coalesce(part[MALE_X], False) if MALE_X in part.col else hl.bool(False)
        copies = hl.if_else(hl.literal(set(rg.y_contigs)).contains(part.locus.contig) & ~male, 0.0, copies)
    sums = part.group_rows_by(part._site).aggregate(
        _sum=hl.agg.sum(copies), _rows=hl.agg.collect(hl.format("%.3f", copies)))
    limit = hl.literal(arrays["sum_limit"].tolist(), hl.tarray(hl.tfloat64))
    name = hl.literal([str(x) for x in arrays["sum_site"]], hl.tarray(hl.tstr))
    kind = hl.literal(["a multi-allelic record's alts" if x else "a site given split (one record per alt)"
                       for x in one_record], hl.tarray(hl.tstr))
    what = f"dosage field {dosage_field} (GT where none)" if dosage_field else "GT hard calls"
    # The check inside the job (or_error): Hail's error, made one line naming the dataset and
    # its files by stage.hail_errors, as to_biallelic_dosage's record check is.
    sums.aggregate_entries(hl.agg.count_where(hl.case().when(sums._sum <= limit[sums._site], False).or_error(
        hl.format(f"the {what} of %s give %.4f alt copies in all at %s (%s), "
                  "more than 2: the REF's dosage would be negative; fix the file's dosages", kind[sums._site],
                  sums._sum, name[sums._site],
                  hl.delimit(sums._rows, ",")))))


_PLOIDY = "_ploidy"
# How far a multi-allelic record's alt dosages (on the 0..2 scale) may sum above 2 per alt before
# they are an error: half a unit in the 2nd decimal of a rounded dosage (Beagle 5's DS), doubled
# for a haploid call's doubled dosage.
DOSAGE_SUM_SLACK = 0.01


def sample_ploidies(hl: hl_types, mt: hl_types.MatrixTable, contigs: Collection[str] | None = None) -> hl_types.Table:
    """Per column (keyed as ``mt``'s), ``_ploidy``: dict contig -> the ploidy of the sample's
    called ``GT``s on that sex or mitochondrial contig (of ``contigs``, default all of them,
    ``haploid_capable_contigs``) outside chrX's pseudo-autosomal regions, for the contigs where
    they are all of one ploidy (none called, or haploid and diploid mixed: no entry). A pass
    over those contigs' rows only (``hl.filter_intervals``: an indexed MatrixTable reads no
    other partition; a VCF is read whole); run only for a ``dosage_field`` with a GT
    (``to_biallelic_dosage``: the scale of a dosage beside a missing GT)."""
    rg = mt.locus.dtype.reference_genome
    contigs = haploid_capable_contigs(rg) if contigs is None else list(contigs)
    sex = hl.filter_intervals(mt, contig_intervals(hl, rg, contigs))
    sex = sex.filter_rows(~sex.locus.in_x_par())
    seen = hl.agg.filter(hl.is_defined(sex.GT), hl.agg.group_by(sex.locus.contig, hl.agg.collect_as_set(sex.GT.ploidy)))
    cols = sex.annotate_cols(_seen=seen).cols()
    one = cols._seen.items().filter(lambda kv: hl.len(kv[1]) == 1).map(lambda kv: (kv[0], hl.array(kv[1])[0]))
    return cols.select(**{_PLOIDY: hl.dict(one)})


def contig_intervals(hl: hl_types, rg: hl_types.ReferenceGenome, contigs: Collection[str]) -> list:
    """The whole of each of ``contigs`` (names of the reference genome ``rg``, a Hail
    ``ReferenceGenome``) as Python ``hl.Interval``s of ``hl.Locus`` [1, its length], both ends
    included: the intervals ``hl.parse_locus_interval(contig)`` gives, for
    ``hl.filter_intervals``. Why not that parse: ``filter_intervals`` evaluates its intervals
    (``hl.eval``), and parse expressions are a query Hail compiles each time (0.02-0.04 JVM
    CPU-s a call warm, more cold; Python intervals are a literal: ~0.01, session 44 lean in
    benchmarks/RESULTS.md). ``ValueError`` (Hail's) for a contig ``rg`` lacks."""
    return [hl.Interval(hl.Locus(c, 1, rg), hl.Locus(c, rg.lengths[c], rg), includes_start=True, includes_end=True)
            for c in contigs]


def haploid_capable_contigs(rg: hl_types.ReferenceGenome) -> list[str]:
    """The contigs of the reference genome ``rg`` (a Hail ``ReferenceGenome``, e.g. a locus
    type's ``reference_genome``) where a call may be haploid: its X, Y and mitochondrial contigs
    (a male's X and Y, the mitochondrion; GRCh38 chrX, chrY, chrM, GRCh37 X, Y, MT), as the
    reference names them. The one list of them: the dosage scale (``genotype_dosage``),
    ``sample_ploidies`` and ``scoring.export_hard_calls`` ask it."""
    return [*rg.x_contigs, *haploid_contigs(rg)]


def haploid_contigs(rg: hl_types.ReferenceGenome) -> list[str]:
    """The contigs of ``rg`` whose calls plink2 --score counts once (one copy) for every sample:
    its Y and mitochondrial contigs (GRCh38 chrY, chrM; GRCh37 Y, MT), as the reference names
    them. X is not one: plink2 counts a male's haploid chrX call as 2 copies, as the dosage rule
    does. ``matching.weight_matrices`` halves the weights there (the stage asks this list of the
    dataset's reference)."""
    return [*rg.y_contigs, *rg.mt_contigs]


def x_haploid_rows(rg: hl_types.ReferenceGenome, contig: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per genotype row (``contig``, ``position``: arrays of one length), True on ``rg``'s X
    outside its pseudo-autosomal regions (``rg.par``; Hail's ``in_x_par``): the rows where a
    male has one X, so his call is one allele observation in the frequency that imputes a
    missing call (``scoring.compute_scores``, ``pgen_engine``), as plink2 --freq/--score count
    it with the samples' sex. The PARs are diploid for everyone (plink2 reads them so after
    ``--split-par``; without it, a .bim's X rows there would be haploid for its males)."""
    import numpy as np

    contig = np.asarray(contig, dtype=object)
    position = np.asarray(position, dtype=np.int64)
    out = np.isin(contig, list(rg.x_contigs))
    for par in rg.par:
        if par.start.contig in rg.x_contigs:  # [start, end) as Hail's intervals
            out &= ~((contig == par.start.contig) & (position >= par.start.position) & (position < par.end.position))
    return out


def male_x_samples(hl: hl_types, calls: hl_types.MatrixTable, rows: pd.DataFrame, *,
                   all_x: bool = False) -> hl_types.Table | None:
    """The samples of ``calls`` (entry ``GT``, any rows) as a Table keyed by its column key with
    one field ``MALE_X`` (bool): the sample is male, as plink2 needs it on X outside its
    pseudo-autosomal regions (a male's call is one allele observation of the imputing
    frequency) and on chrY (only males' calls count there). None when no row of ``rows``
    (``contig``, ``position``: the scored genotype rows) is on X outside its PARs or on chrY, or
    ``calls`` has no ``GT`` (no pass is run then). VCF and MatrixTable carry no sex: the ploidy
    of the calls tells it, a called haploid ``GT`` at one of ``rows`` there (X outside its PARs,
    ``x_haploid_rows``, or chrY), or with ``all_x`` at any row of ``calls`` on X outside its
    PARs (a MatrixTable or a VCF, ``engine.score``, whose scored rows may not tell: one
    densified from a VDS reads a male inside a reference block as a diploid 0/0, a VCF may code
    a hom-ref male 0/0 or miss his scored calls; one aggregation over X's rows and the scored
    chrY rows, ``hl.filter_intervals``: other contigs' partitions are not read).
    A BGEN's calls are diploid (Hail reads no other). Lazy: one Hail pass over those rows of
    ``calls`` where it is used (for a VCF, a scan of the file). A PLINK fileset Hail read
    (``is_female`` column field of ``import_plink``): its .fam's sex. A VDS (``read_calls``
    gives its column field ``MALE_X``, ``vds_x_evidence``): the ploidy of its own calls anywhere
    on X, not the densified scored rows, where a male inside a reference block reads as a
    diploid 0/0 (Hail's ``to_dense_mt``); missing for a sample with no call there (sex on X
    unknown; read as not male, ``engine.score`` logs how many)."""
    told = sex_calls(hl, calls, rows, all_x=all_x)
    if told is None or "GT" not in calls.entry:
        return None
    if "is_female" in calls.col and calls.is_female.dtype == hl.tbool:
        # A PLINK fileset Hail read (import_plink): its .bed holds a male's X call as homozygous,
        # its .fam tells the sex (missing: unknown), as plink2 and the native engine read it.
        return calls.select_cols(**{MALE_X: hl.coalesce(~calls.is_female, False)}).cols()
    if MALE_X in calls.col:
        # A VDS (read_calls): its own evidence over all of X, whatever the scored rows' calls.
        return calls.select_cols(MALE_X).cols()
    return told.select_cols(**{MALE_X: hl.agg.any(hl.is_defined(told.GT) & (told.GT.ploidy == 1))}).cols()


def sex_calls(hl: hl_types, calls: hl_types.MatrixTable, rows: pd.DataFrame, *,
              all_x: bool = False, chr_y: bool = True) -> hl_types.MatrixTable | None:
    """``calls``' rows whose ploidy tells the sex (``male_x_samples``), lazily: the rows of
    ``rows`` (``contig``, ``position``: the scored genotype rows) on X outside its
    pseudo-autosomal regions (``x_haploid_rows``), with ``all_x`` every row of ``calls`` there
    instead, and with ``chr_y`` the rows of ``rows`` on chrY. None when no row of ``rows`` is on X
    outside its PARs nor (with ``chr_y``) on chrY. Only the partitions of the contigs read are
    read (``hl.filter_intervals``): X's only when a row of ``rows`` is on X outside its PARs or
    ``all_x``. The one filter of X's haploid rows (``declared_sex_samples`` takes it with
    ``chr_y=False``: ``scored_x_calls``)."""
    import numpy as np

    rg = calls.locus.dtype.reference_genome
    contig, position = rows["contig"].to_numpy(object), rows["position"].to_numpy(np.int64)
    on_x = x_haploid_rows(rg, contig, position)
    on_y = np.isin(contig, list(rg.y_contigs)) if chr_y else np.zeros(len(contig), dtype=bool)
    if not on_x.any() and not on_y.any():
        return None
    read_x = all_x or bool(on_x.any())
    listed_loci = on_y | (on_x & (not all_x))
    loci = hl.literal({(str(c), int(p)) for c, p in zip(contig[listed_loci], position[listed_loci])},
                      hl.tset(hl.ttuple(hl.tstr, hl.tint32)))
    contigs = [*(rg.x_contigs if read_x else []), *sorted(set(contig[on_y]))]
    told = hl.filter_intervals(calls, contig_intervals(hl, rg, contigs))
    listed = loci.contains(hl.tuple([told.locus.contig, told.locus.position]))
    if all_x:
        listed = listed | (hl.literal(set(rg.x_contigs)).contains(told.locus.contig) & ~told.locus.in_x_par())
    return told.filter_rows(listed)


def scored_x_calls(hl: hl_types, calls: hl_types.MatrixTable, rows: pd.DataFrame) -> hl_types.MatrixTable | None:
    """``calls``' rows at ``rows`` (``contig``, ``position``: the scored genotype rows) on X
    outside its pseudo-autosomal regions, lazily; None when no row of ``rows`` is there
    (``sex_calls`` without chrY)."""
    return sex_calls(hl, calls, rows, chr_y=False)


# The column field ``male_x_samples`` gives (``scoring.compute_scores`` and ``export_plink`` read it).
MALE_X = "MALE_X"
# ``declared_sex_samples``' other fields: the declared sex code (``sample_sex``: 1 male, 2 female,
# 0 unknown; missing: the sample is not in the sex file) and whether the X calls disagree with it.
DECLARED_SEX = "_declared_sex"
SEX_DISAGREES = "_sex_disagrees"


def declared_sex_samples(hl: hl_types, calls: hl_types.MatrixTable, rows: pd.DataFrame,
                         declared: dict[str, int]) -> hl_types.Table:
    """The samples of ``calls`` (column key ``s``: person IDs as text) as a Table keyed by it
    with ``MALE_X`` (bool: the sex file says male; missing for unknown or not listed, read as
    not male), ``DECLARED_SEX`` (int32 code of ``declared``, person ID -> ``sample_sex`` code;
    missing when not listed) and ``SEX_DISAGREES`` (bool: a declared male with a heterozygous
    diploid ``GT``, or a declared female with a haploid one, at one of ``rows`` (the scored
    genotype rows, ``contig``/``position``) on X outside its pseudo-autosomal regions; False
    when no such row or no ``GT``). The sex is the file's, never the calls' (plink2
    ``--update-sex``): a VDS's pass over all of X (``vds_x_evidence``) is not needed. Lazy: a
    pass over those rows of ``calls`` where it is used (none when no row is there)."""
    lookup = hl.literal(declared, hl.tdict(hl.tstr, hl.tint32))
    x = scored_x_calls(hl, calls, rows)
    if x is not None and "GT" in calls.entry:
        sex, gt = lookup.get(x.s), x.GT
        disagrees = hl.agg.any(hl.is_defined(gt) & hl.coalesce(
            ((sex == 1) & (gt.ploidy == 2) & gt.is_het()) | ((sex == 2) & (gt.ploidy == 1)), False))
        cols = x.select_cols(**{SEX_DISAGREES: disagrees}).cols()
    else:
        cols = calls.select_cols(**{SEX_DISAGREES: False}).cols()
    sex = lookup.get(cols.s)
    return cols.select(**{MALE_X: hl.or_missing(hl.coalesce(sex, 0) != 0, sex == 1), DECLARED_SEX: sex,
                          SEX_DISAGREES: cols[SEX_DISAGREES]})


def vds_x_evidence(hl: hl_types, vds) -> hl_types.Table:
    """Per sample of the VariantDataset ``vds`` (Table keyed by its column key), ``MALE_X``
    (bool): True when the sample has a called haploid ``GT``/``LGT`` on X outside its
    pseudo-autosomal regions, in the variant data (every X row, not only scored ones) or in
    the reference data when its blocks carry a call (Hail's ``to_dense_mt`` uses it there, else
    densifies a block as a diploid 0/0, whatever the sample's sex); False when its calls there
    are all diploid; missing when it has no call there at all (sex on X unknown). Why: a male
    who is hom-ref at every scored X row is inside reference blocks there, read as diploid, so
    the scored rows alone do not tell his sex (plink2 reads it from the .psam). Lazy: a pass
    over X's rows of the variant data (and of the reference data when it has a call field)
    where it is used (``hl.filter_intervals``: partitions of other contigs are not read)."""
    rg = vds.variant_data.locus.dtype.reference_genome

    def ploidies(mt):
        field = "GT" if "GT" in mt.entry else "LGT" if "LGT" in mt.entry else None
        if field is None:
            return None
        x = hl.filter_intervals(mt, contig_intervals(hl, rg, rg.x_contigs))
        x = x.filter_rows(~x.locus.in_x_par())
        gt = x[field]
        return x.select_cols(_haploid=hl.agg.any(hl.is_defined(gt) & (gt.ploidy == 1)),
                             _called=hl.agg.any(hl.is_defined(gt))).cols()

    parts = [t for t in (ploidies(vds.variant_data), ploidies(vds.reference_data)) if t is not None]
    out = parts[0]
    if len(parts) == 2:
        ref = parts[1][out.key]
        out = out.select(_haploid=out._haploid | hl.coalesce(ref._haploid, False),
                         _called=out._called | hl.coalesce(ref._called, False))
    return out.select(**{MALE_X: hl.or_missing(out._called, out._haploid)})


MISSING_ALT = "."


def with_missing_alt(hl: hl_types, rows):
    """A MatrixTable or rows Table with each one-allele row (a VCF record whose ALT is ``.``:
    a monomorphic site, e.g. after ``bcftools view -a`` on a sample subset) given the alt
    ``MISSING_ALT``, ``[ref, "."]``, the allele plink2 reads there: ``hl.split_multi`` drops a
    row without alts, so a score whose effect allele is its REF was not_found, where plink2
    --score counts 2 copies per called sample (``matching.missing_allele``). The row order is
    kept, so the new key is asserted sorted (Hail's ``_key_by_assert_sorted``, no sort or
    shuffle): ``[r, "."]`` sorts where ``[r]`` did against every row with a real alt (``.``
    sorts before A, C, G, T, ``<`` and any other allele text but ``*``, which never begins
    an ALT)."""
    if isinstance(rows, hl.MatrixTable):
        fixed = rows.key_rows_by("locus")
        fixed = fixed.annotate_rows(alleles=hl.if_else(hl.len(fixed.alleles) == 1,
                                                       fixed.alleles.append(MISSING_ALT), fixed.alleles))
        return fixed._key_rows_by_assert_sorted("locus", "alleles")
    fixed = rows.key_by("locus")
    fixed = fixed.annotate(alleles=hl.if_else(hl.len(fixed.alleles) == 1, fixed.alleles.append(MISSING_ALT),
                                              fixed.alleles))
    return fixed._key_by_assert_sorted("locus", "alleles")


def _split_rows(hl: hl_types, rows):
    """``hl.split_multi(rows, keep_star=True)`` of a MatrixTable or a rows Table, with the row
    field ``NORMALISED`` set first. The one place both ``to_biallelic_dosage`` and
    ``biallelic_rows`` split, so the rows the match collects are the rows scoring reads."""
    # Whether split_multi changes the row (it splits multi-allelic rows and puts every alt in
    # its minimal representation, hl.min_rep, which may trim alleles or move the locus): a
    # row it leaves alone is the file's own row, which scoring.export_hard_calls can write as is.
    # A row given the alt MISSING_ALT (``with_missing_alt``) is not the file's own row either.
    alleles = rows.alleles
    flag = ((hl.len(alleles) > 2) | (hl.min_rep(rows.locus, alleles) != hl.struct(locus=rows.locus, alleles=alleles))
            | (alleles[1] == MISSING_ALT))
    if isinstance(rows, hl.MatrixTable):
        return hl.split_multi(rows.annotate_rows(**{NORMALISED: flag}), keep_star=True)
    return hl.split_multi(rows.annotate(**{NORMALISED: flag}), keep_star=True)


def _rsid_fields(mt: hl_types.MatrixTable, keep_rsid: bool, where: str) -> list[str]:
    """``["rsid"]`` when rsIDs are kept (a str row field the reader must provide), else ``[]``."""
    if not keep_rsid:
        return []
    if "rsid" not in mt.row or str(mt.rsid.dtype) != "str":
        raise InputDataError("rsID matching (pgs.match_rsid) needs an rsid: str row field; these genotypes "
                             f"have {list(mt.row)}", where=where)
    return ["rsid"]


def scratch_file(hl: hl_types, scratch: str | None, prefix: str, extension: str) -> str:
    """A new file name for a reader's copy or index: in ``scratch`` (the pgs stage's scratch
    directory, removed when the stage ends, published or failed: ``stage.run``), or without one
    in Hail's temp dir (``hl.utils.new_temp_file``; nothing removes it before the process ends:
    a caller outside the stage, a test)."""
    if scratch is None:
        return hl.utils.new_temp_file(prefix=prefix, extension=extension)
    return f"{scratch.rstrip('/')}/{prefix}-{uuid.uuid4().hex}.{extension}"


def bim_with_cm(hl: hl_types, bim: str, scratch: str | None = None) -> str:
    """``bim`` when its first line has six fields, as Hail's ``import_plink`` requires ("Invalid
    .bim line. Expected 6 fields"); a .bim of five (CHROM ID POS A1 A2, no centimorgan column,
    which plink2 and the native engine read: ``pgen_engine.read_bim_columns``) is copied with CM
    0 inserted (one Spark pass, lines in file order) to ``scratch_file(scratch)``, for a .bed on
    a URI or with ``pgs.native.engine: hail``."""
    import hailtop.fs as hfs

    with hfs.open(bim) as f:
        first = next((line for line in f if line.strip()), "")
    if len(first.split()) != 5:
        return bim
    t = hl.import_table(bim, no_header=True, delimiter=r"\s+", impute=False, missing="", quote=None)
    t = t.select(c=t.f0, id=t.f1, cm="0", pos=t.f2, a1=t.f3, a2=t.f4)
    out = scratch_file(hl, scratch, "pgs_bim", "bim")
    t.export(out, header=False, delimiter="\t")
    return out


def _fail(e: Exception, what: str, where: str) -> InputDataError:
    return InputDataError(f"cannot {what}: {str(e).splitlines()[0]}", where=where)


def read_genotypes(
    hl: hl_types, source: GenotypeSource, *, loci: hl_types.Table | None = None, keep_rsid: bool = False,
    vcf_half_call: str = "missing", apply_genotype_filter: bool = True,
) -> hl_types.MatrixTable:
    """Read genotypes per ``source.format``; see the module doc for the shape returned
    (``read_calls`` then ``biallelic_dosages``).

    ``loci``: a Table keyed by ``locus`` of the sites scoring may use. Required for ``vds``
    (only those are densified); ignored by the other formats (rows are filtered later).
    ``keep_rsid``: keep the row field ``rsid`` (str; VCF ID, PLINK bim ID, BGEN/MT rsid) for
    rsID-only scoring files (``pgs.match_rsid``); not available for ``vds``.
    ``vcf_half_call``, ``apply_genotype_filter``: as ``read_calls``'.
    """
    calls = read_calls(hl, source, loci=loci, keep_rsid=keep_rsid, vcf_half_call=vcf_half_call,
                       apply_genotype_filter=apply_genotype_filter)
    return biallelic_dosages(hl, source, calls, keep_rsid=keep_rsid)


def biallelic_dosages(hl: hl_types, source: GenotypeSource, calls: hl_types.MatrixTable, *,
                      keep_rsid: bool = False, scored_contigs: Collection[str] | None = None) -> hl_types.MatrixTable:
    """``read_calls``' MatrixTable (columns possibly re-keyed, ``samples_to_persons``) as the
    module doc's biallelic ``DOSAGE`` rows (``to_biallelic_dosage``; BGEN's already are).
    ``scored_contigs`` and errors as ``to_biallelic_dosage``."""
    if source.format == "bgen":
        return calls
    return to_biallelic_dosage(hl, calls, where=_where(source), dosage_field=source.dosage_field,
                               keep_rsid=keep_rsid, scored_contigs=scored_contigs)


def biallelic_rows(hl: hl_types, source: GenotypeSource, calls: hl_types.MatrixTable, *,
                   keep_rsid: bool = False) -> hl_types.Table:
    """The rows of ``biallelic_dosages(hl, source, calls, keep_rsid=keep_rsid)`` (keyed by
    ``locus``/``alleles``; ``rsid`` when kept; ``NORMALISED``, ``SITE_POSITION``, ``SITE_REF`` and
    ``SITE_ALT``, except for BGEN) without its
    entries: the multi-allelic split is done on ``calls.rows()``, a Table, so a job on them
    reads no genotype. (Hail does not prune the split MatrixTable's ``rows()`` to the row data
    as cheaply: at 10k samples x 100k rows of a MatrixTable, counting those rows took 59-64 s,
    collecting these at the score loci 22-24 s, both under load 12-15, session 11.) The stage
    no longer collects these (``file_rows``, split by ``matching.split_file_rows`` on the
    driver: one Hail job, no union or re-key); they are the tests' Hail reference for that
    split. Errors as ``to_biallelic_dosage``'s row checks."""
    if source.format == "bgen":
        return calls.rows()
    where = _where(source)
    _check_keys(hl, calls, where)
    row_fields = _rsid_fields(calls, keep_rsid, where)
    rows = with_missing_alt(hl, calls.rows().select(*row_fields).select_globals())
    split = _split_rows(hl, rows)
    return split.select(*row_fields, NORMALISED, **{SITE_POSITION: split.old_locus.position,
                                                    SITE_REF: split.old_alleles[0],
                                                    SITE_ALT: split.old_alleles[split.a_index]})


def file_rows(hl: hl_types, source: GenotypeSource, calls: hl_types.MatrixTable, *,
              keep_rsid: bool = False) -> tuple[hl_types.Table, bool]:
    """The rows of ``read_calls``' ``calls`` as the file has them (keyed by ``locus``,
    ``alleles``: REF first, any number of alts; ``rsid`` when kept), no entry, and whether
    they need ``hl.split_multi``'s split to be ``biallelic_dosages``' rows (False for BGEN, read
    biallelic and kept as read). ``matching.genotype_rows_at`` collects them at the score loci
    and splits them on the driver as ``biallelic_rows`` does in Hail (same frame, tested).
    Errors as ``to_biallelic_dosage``'s row checks."""
    where = _where(source)
    _check_keys(hl, calls, where)
    row_fields = _rsid_fields(calls, keep_rsid, where)
    return calls.rows().select(*row_fields).select_globals(), source.format != "bgen"


def vds_variant_rows(hl: hl_types, source: GenotypeSource) -> hl_types.Table:
    """The rows of the VDS ``source``'s variant data (keyed by ``locus``, ``alleles``: REF first,
    any number of alts, as stored), no field, no entry: where ``matching.shifted_rows_near`` looks for a
    score indel's genotype row written shifted right (``read_calls`` densifies the score loci
    alone; with ``pgs.reference_fasta`` it is read first, to densify those rows' loci too). Lazy.
    Errors as ``read_calls``': unreadable, or its loci on another build than the config's."""
    where = _where(source)
    try:
        vds = hl.vds.read_vds(source.path)
    except Exception as e:
        raise _fail(e, "read VariantDataset", where) from None
    _check_build(hl, vds.variant_data.row, source.reference_genome, where)
    return vds.variant_data.rows().select().select_globals()


def _where(source: GenotypeSource) -> str:
    return f"genotypes ({source.format}) {source.path}"


def plink_unplaced_variants(hl: hl_types, source: GenotypeSource) -> int | None:
    """The rows of a local PLINK 1 fileset's .bim on chromosome 0 (PLINK's unplaced code), as
    the native route counts them (``pgen_engine.check_variant_loci`` on its ``variant_index``:
    one WARNING naming the .bim; any other row off the reference is an InputDataError naming
    its line). None for another format or a URI (not read here: Hail's ``import_plink`` then
    refuses a chromosome-0 row, naming the dataset). Why: Hail's route refused such a fileset
    while the native route scored it, so one dataset scored or failed by the engine chosen."""
    if source.format != "plink" or is_uri(source.path):
        return None
    from trd_spark.pgs import pgen_engine

    files = pgen_engine.PlinkFiles.of(source)
    rg = source.reference_genome
    return pgen_engine.check_variant_loci(pgen_engine.variant_index(files, rg), hl.get_reference(rg).lengths, rg,
                                          files.variants)


# A sample's GT that is a half-call (``0/.``, ``./1``, ``.|1``: one allele called, the other
# missing), found in a record's text from the tab before its first sample on: a tab, the
# subfields before GT (as many as its index in FORMAT: 0 where the VCF spec puts it), the GT, then the
# sample's next subfield, its next sample or the record's end.
_HALF_CALL = r"\t(?:[^:\t]*:){%d}(?:\d+[/|]\.|\.[/|]\d+)(?=[:\t]|$)"


# ``import_vcf``'s ``find_replace`` per ``pgs.vcf_half_call`` mode that rewrites a half-call
# (Java regex, applied to every line): haploid: the called allele twice (0/. -> 0/0, ./1 -> 1/1);
# reference: the called allele and REF (./1 -> 1/0, the same genotype; a phased half-call's phase
# is not kept: scores use allele counts). Hail reads the other modes' half-calls as missing calls.
# A group that did not take part in the match is replaced by nothing (Java's replaceAll), so
# "$1$4" is the called allele. Any subfield of a sample, after a tab or a colon: a record whose
# FORMAT puts GT after other subfields (``GQ:GT:DP``) is rewritten where GT stands, as Hail reads
# it. Before session 45 only a sample's first subfield was (so such a half-call was one error
# where an index let ``vcf_half_call_rows`` look, and read as missing, silently, in a VCF without
# one or on a URI). Only a call reads as ``\d+[/|]\.``: GATK's PGT beside GT is rewritten alike
# (not read); AD, PL, GP, DS, FT, PS, PID never take that form.
_HALF_CALL_JAVA = r"(?<=[\t:])(?:(\d+)([/|])\.|\.([/|])(\d+))(?=[:\t]|$)"
HALF_CALL_REWRITE = {"haploid": (_HALF_CALL_JAVA, "$1$4$2$3$1$4"), "reference": (_HALF_CALL_JAVA, "$1$4$2$30")}


def vcf_half_call_rows(source: GenotypeSource, rows: list[tuple[str, int]]) -> int | None:
    """How many of the VCF records at ``rows`` ((contig as the reference names it, position as
    the file writes it), e.g. the matched rows' ``SITE_POSITION``) hold a GT half-call in some
    sample, read through the files' tabix/CSI index (``pysam``: only those records are read).
    0 for no rows (no matched record holds one, whatever the files). None when not counted: a
    URI, or a file without ``.tbi``/``.csi`` (a second pass over the whole VCF would double its
    read). Why: Hail reads a half-call as a missing call (``LoadVCF``:
    'treat partially missing like missing'), i.e. plink2 ``--vcf-half-call missing``, and keeps
    no trace of it; plink2's default refuses such a file, so the stage counts and warns. Rows,
    not entries: a variant count, publishable (no person count). A record whose FORMAT lists GT
    after other subfields (``GQ:GT:DP``; VCF 4.3 section 1.6.2 puts it first) is read by Hail
    where GT stands and counted so (``HALF_CALL_REWRITE`` rewrites it there too; before session
    44 such records were not looked at, their half-calls passed ``error``)."""
    import pysam

    if not rows:  # nothing matched: nothing to look at (not "not counted": pgs.vcf_half_call error passes)
        return 0
    if is_uri(source.path):
        return None
    files = sorted(glob.glob(source.path))
    if not files or not all(os.path.exists(f + ".tbi") or os.path.exists(f + ".csi") for f in files):
        return None
    wanted = set(rows)
    recode = plink_contig_recoding(source.reference_genome)
    found: set[tuple[str, int]] = set()
    for path in files:
        with pysam.TabixFile(path) as tbx:
            names = {recode.get(c, c): c for c in tbx.contigs}
            for contig, pos in wanted - found:
                if contig not in names:
                    continue
                for line in tbx.fetch(names[contig], pos - 1, pos):
                    f = line.split("\t", 9)
                    keys = f[8].split(":") if len(f) == 10 else []
                    if int(f[1]) != pos or "GT" not in keys:
                        continue
                    # One search in C over the samples' text (a record of a biobank VCF holds
                    # 10^5 samples: split and matched one by one it took ~11 ms per 20,000).
                    gt = keys.index("GT")
                    if re.compile(_HALF_CALL % gt).search(line, len(line) - len(f[9]) - 1):
                        found.add((contig, pos))
    return len(found)


def read_calls(
    hl: hl_types, source: GenotypeSource, *, loci: hl_types.Table | None = None, keep_rsid: bool = False,
    unplaced: int | None = None, vcf_half_call: str = "missing", scratch: str | None = None,
    apply_genotype_filter: bool = True,
) -> hl_types.MatrixTable:
    """The genotypes as the file has them: rows keyed by ``locus``/``alleles`` (multi-allelic
    rows as they are, contigs recoded), columns keyed by ``s`` (str), the file's entry fields
    (``GT``, a ``dosage_field``); for a VDS the dense rows at ``loci`` with ``GT``. BGEN gives
    ``read_genotypes``' rows already (biallelic ``DOSAGE``, global ``UNREADABLE_LOCI``).
    A local .bed's rows on chromosome 0 are left out (``plink_unplaced_variants``, or its count
    given as ``unplaced``), as the native route leaves them unmatched. ``vcf_half_call``
    (``pgs.vcf_half_call``): how a VCF GT half-call is read (``HALF_CALL_REWRITE``; "missing"
    and "error": a missing call, the stage checks "error" with ``vcf_half_call_rows``).
    ``scratch``: where a copy or index the reader needs goes (``scratch_file``: a 5-field .bim
    with CM added, a BGEN's index or its copy without multi-allelic variants); the MatrixTable
    reads them until it is last used. Arguments and errors as ``read_genotypes``; also
    InputDataError for other row/column keys.
    """
    where = _where(source)
    rg = source.reference_genome
    dosage_field = source.dosage_field
    if dosage_field is not None and source.format not in ("vcf", "mt"):
        raise InputDataError("dosage_field applies to vcf and mt only (bgen always uses its dosages)", where=where)
    if source.format == "vcf":
        uri_files, open_uri = hadoop_vcf_files(hl) if is_uri(source.path) else (None, None)
        plain_gzip = check_vcf_files(source, uri_files=uri_files, open_uri=open_uri)
        if plain_gzip:
            log.warning("%s: plain gzip (not BGZF) VCF, read serially by one core; convert it with "
                        "`zcat f.vcf.gz | bgzip > f.vcf.bgz` to read it in parallel", where)
        try:
            mt = hl.import_vcf(
                source.path,
                reference_genome=rg,
                contig_recoding=plink_contig_recoding(rg),
                force=plain_gzip,
                force_bgz=not plain_gzip and source.path.endswith(".gz"),
                array_elements_required=False,
                find_replace=HALF_CALL_REWRITE.get(vcf_half_call),
                min_partitions=None if plain_gzip else vcf_min_partitions(
                    source, hl.spark_context().defaultParallelism),
            )
        except Exception as e:  # Hail raises FatalError/HailException on bad paths or headers
            raise _fail(e, "import VCF", where) from None
    elif source.format == "mt":
        try:
            mt = hl.read_matrix_table(source.path)
        except Exception as e:
            raise _fail(e, "read MatrixTable", where) from None
        rg_found = mt.locus.dtype.reference_genome.name if "locus" in mt.row else None
        if rg_found != rg:
            raise InputDataError(f"MatrixTable loci are on {rg_found}, config says {rg}", where=where)
    elif source.format == "plink":
        prefix = source.path[:-4] if source.path.endswith(".bed") else source.path
        if unplaced is None:
            unplaced = plink_unplaced_variants(hl, source)
        try:
            # Chromosome-0 rows (counted above; every other row checked to be on the reference)
            # are the only loci Hail finds invalid: skipped, as the native route leaves them.
            mt = hl.import_plink(
                bed=f"{prefix}.bed", bim=bim_with_cm(hl, f"{prefix}.bim", scratch), fam=f"{prefix}.fam", reference_genome=rg,
                contig_recoding=plink_contig_recoding(rg), a2_reference=True, quant_pheno=False, missing="-9",
                skip_invalid_loci=bool(unplaced),
            )
        except Exception as e:
            raise _fail(e, "import PLINK bed/bim/fam", where) from None
        mt = mt.key_cols_by(s=mt.s)
    elif source.format == "pgen":
        # Hail has no pgen reader; the stage matches and scores a pgen natively (engine.engine_for).
        raise InputDataError("pgen genotypes are read by the native engine only (Hail has no pgen reader)",
                             where=where)
    elif source.format == "bgen":
        mt, unreadable = _read_bgen(hl, source.path, rg, where, scratch)
        mt = mt.select_entries(DOSAGE=mt.dosage).unfilter_entries()
        _check_keys(hl, mt, where)
        row_fields = _rsid_fields(mt, keep_rsid, where)
        # Every row Hail returns is biallelic (multi-allelic ones were skipped and are named
        # in the UNREADABLE_LOCI global, which matching reads).
        mt = mt.select_rows(*row_fields).select_cols().select_globals()
        return mt.annotate_globals(**{UNREADABLE_LOCI: hl.literal(unreadable, hl.tarray(hl.tstr))})
    elif source.format == "vds":
        if loci is None:
            raise InputDataError("reading a VDS needs the score loci (only those are densified)", where=where)
        if keep_rsid:
            raise InputDataError("rsID matching (pgs.match_rsid) is not available for a VDS (it is densified "
                                 "at score loci only); use PGS Catalog harmonised scoring files", where=where)
        try:
            vds = hl.vds.read_vds(source.path)
        except Exception as e:
            raise _fail(e, "read VariantDataset", where) from None
        _check_build(hl, vds.variant_data.row, rg, where)
        vd = vds.variant_data
        moving = rows_moving_onto(hl, vd.rows(), loci)
        vd = vd.filter_rows(hl.is_defined(loci[vd.locus]) | hl.is_defined(moving[vd.locus]))
        dense = hl.vds.to_dense_mt(hl.vds.VariantDataset(vds.reference_data, vd))
        if "GT" not in dense.entry:
            dense = dense.annotate_entries(GT=hl.vds.lgt_to_gt(dense.LGT, dense.LA))
        if source.sex_source == "genotypes":
            # Who is male on X, from the VDS's own calls (male_x_samples reads this column field).
            evidence = vds_x_evidence(hl, vds)
            mt = dense.annotate_cols(**{MALE_X: evidence[dense.col_key][MALE_X]})
        else:  # a declared sex (sample_sex): no pass over all of X's variant data
            mt = dense
    else:  # pragma: no cover - the config Literal forbids anything else
        raise InputDataError(f"genotype format {source.format!r} is not supported", where=where)
    _check_keys(hl, mt, where)
    # pgs.apply_genotype_filter false: FT is not read (plink2's reading of the same file)
    return without_failed_genotypes(hl, mt, dosage_field, where) if apply_genotype_filter else mt


# The FT values of a call that passed the genotype filters (VCF 4.3 section 1.6.2: PASS, or '.'
# when no filter was applied).
_FT_PASSING = ("PASS", ".")


def without_failed_genotypes(hl: hl_types, mt: hl_types.MatrixTable, dosage_field: str | None,
                             where: str) -> hl_types.MatrixTable:
    """``mt`` with each entry whose genotype filter ``FT`` failed made a missing genotype (its
    ``GT`` and ``dosage_field`` missing, then imputed and counted in ``n_missing`` as any missing
    call), with the entry field ``FT_FAILED`` (bool: the filter made a call missing; an entry
    already missing is not counted); ``mt`` itself when it has no ``FT`` entry field. ``FT``: a VCF FORMAT string (PASS or
    '.' passes, anything else, e.g. ``high_CALIBRATION_SENSITIVITY_SNP``, failed; an array of
    them passes when every one does) or the bool of a GVS VariantDataset (All of Us srWGS: True
    = PASS); a missing FT (a reference block densified, a VCF entry without it) passes.
    Source: GVS's documentation of its outputs recommends exactly this
    (``bcftools filter -i "FORMAT/FT='PASS,.'" --set-GTs .``; its AC/AN follow it), and its VDS
    to MatrixTable export sets GT missing where FT is False; read as given, such calls counted
    as real. plink2 reads no FT (a VCF with FT failures scores differently there). Raises
    InputDataError naming ``where`` for an FT of another type."""
    if "FT" not in mt.entry:
        return mt
    ft = mt.FT
    if ft.dtype == hl.tbool:
        failed = ft == False  # noqa: E712 - a Hail expression, missing stays missing
    elif ft.dtype == hl.tstr:
        # (A set's contains of a missing value is False, not missing: the missing FT passes here.)
        failed = hl.is_defined(ft) & ~hl.literal(set(_FT_PASSING)).contains(ft)
    elif ft.dtype == hl.tarray(hl.tstr):
        failed = hl.any(lambda f: hl.is_defined(f) & ~hl.literal(set(_FT_PASSING)).contains(f), ft)
    else:
        raise InputDataError(f"the genotype filter FT is a {ft.dtype}, not a string or bool", where=where)
    keep = ~hl.coalesce(failed, False)
    fields = [f for f in ("GT", dosage_field) if f is not None and f in mt.entry]
    # Counted apart (FT_FAILED): only a call the filter removed, not an entry missing already.
    called = hl.bool(False)
    for f in fields:
        called = called | hl.is_defined(mt[f])
    return mt.annotate_entries(**{f: hl.or_missing(keep, mt[f]) for f in fields}, **{FT_FAILED: ~keep & called})


def rows_moving_onto(hl: hl_types, rows: hl_types.Table, loci: hl_types.Table) -> hl_types.Table:
    """The loci (a Table keyed by ``locus``, distinct) of the unsplit file ``rows`` (keyed by
    ``locus``, ``alleles``: REF first, any number of alts) that are not themselves score loci
    but have an alt whose minimal representation (``hl.min_rep``, as ``hl.split_multi`` puts
    each alt) lies at one of ``loci`` (a Table keyed by ``locus``, ``matching.loci_table``).
    ``ACT>A,ACGT`` at 100 has ``C>CG`` at 101, which a score written ``C/CG`` at 101 matches;
    filtered on its written locus alone the row is dropped before the split (a VDS: never
    densified, the score variant ``not_found``). Lazy: one pass over the rows, no entry read."""
    ref = rows.alleles[0]
    to = hl.set(rows.alleles[1:].filter(lambda a: a != "*").map(lambda a: hl.min_rep(rows.locus, [ref, a]).locus))
    moved = rows.select(_to=to.remove(rows.locus))
    moved = moved.filter(~hl.is_defined(loci[moved.locus]) & (hl.len(moved._to) > 0)).explode("_to")
    moved = moved.filter(hl.is_defined(loci[moved._to]))
    return moved.key_by("locus").select().distinct()


def _check_build(hl: hl_types, row, reference_genome: str, where: str) -> None:
    rg = row.locus.dtype.reference_genome.name if "locus" in row else None
    if rg != reference_genome:
        raise InputDataError(f"loci are on {rg}, config says {reference_genome}", where=where)


def _read_bgen(hl: hl_types, path: str, reference_genome: str, where: str,
               scratch: str | None = None) -> tuple[hl_types.MatrixTable, list[str]]:
    """Index a BGEN into ``scratch_file(scratch)`` (the source may be read-only) and import dosages.

    Returns the MatrixTable and the loci (``chr4:1000000``, reference contig names) of the
    multi-allelic variants it could not read (``UNREADABLE_LOCI``). Hail (and plink2) read
    biallelic BGEN variants only and Hail refuses the whole file otherwise; such a local file is
    copied without its multi-allelic variants (``drop_multiallelic_bgen_variants``) with a
    WARNING, and matching counts the score variants at those loci as ``multiallelic_unreadable``.
    A file on a URI with multi-allelic variants is an InputDataError.
    """
    # Sample IDs embedded in the BGEN are used: plink2's .sample puts FID (often 0) in ID_1,
    # the column Hail would take.
    import hailtop.fs as hfs

    from trd_spark.pgs.bgen_reader import BgenFiles, sample_ids

    recoding = plink_contig_recoding(reference_genome)
    skipped: list[str] = []
    original = path
    try:
        index = _index_bgen(hl, path, reference_genome, recoding, scratch)
    except Exception as e:
        if _BGEN_MULTIALLELIC_ERROR not in str(e):
            raise _fail(e, "import BGEN", where) from None
        copy = local_temp_file(scratch_file(hl, scratch, "pgs_bgen", "bgen"))
        if is_uri(path) or copy is None:
            raise InputDataError(
                "the BGEN has multi-allelic variants, which Hail cannot read; they can be skipped (counted) for "
                "local files only: copy it locally, or split them before writing the BGEN (bcftools norm -m-)",
                where=where) from None
        sites = drop_multiallelic_bgen_variants(path, copy)
        # Some BGEN writers pad chromosome codes (01..09): the zero is not part of the name.
        names = {c: (c.lstrip("0") or c) if c.isdigit() else c for c, _, _ in sites}
        skipped = sorted({f"{recoding.get(names[c], names[c])}:{pos}" for c, pos, _ in sites})
        log.warning("%s: %d multi-allelic BGEN variant(s) at %d locus/loci skipped (e.g. %s): Hail and plink2 read "
                    "biallelic BGEN variants only; score variants there are counted in the match summary as "
                    "n_unreadable (split them before writing the BGEN, e.g. bcftools norm -m-, to score them)",
                    where, len(sites), len(skipped), ", ".join(skipped[:3]))
        path = copy
        try:
            index = _index_bgen(hl, path, reference_genome, recoding, scratch)
        except Exception as e2:
            raise _fail(e2, "import BGEN", where) from None
    try:
        mt = hl.import_bgen(path, entry_fields=["dosage"], sample_file=None, index_file_map={path: index})
    except Exception as e:
        raise _fail(e, "import BGEN", where) from None
    # Without embedded IDs Hail names the samples "_0", "_1", ...; its sample_file= would take
    # ID_1 (plink2 writes the FID there, often 0): ID_2 of the .sample beside the file instead,
    # as the native route reads it (bgen_reader.sample_ids; errors naming the .sample, also when
    # embedded IDs and a .sample beside the file disagree).
    files = BgenFiles.open(original, hfs.open) if is_uri(original) else BgenFiles.open(original)
    bgen_ids = sample_ids(files, hfs if is_uri(original) else None)
    if files.embedded_ids is None:
        ids = hl.literal(bgen_ids, hl.tarray(hl.tstr))
        mt = mt.add_col_index("bgen_col")
        mt = mt.key_cols_by(s=ids[hl.int32(mt.bgen_col)]).drop("bgen_col")
    return mt, skipped


# How Hail's index_bgen refuses a file with a multi-allelic variant (is.hail.io.bgen); the test
# of the skip path fails if Hail rewords it (the file would then be one InputDataError).
_BGEN_MULTIALLELIC_ERROR = "Only biallelic variants supported"


def _index_bgen(hl: hl_types, path: str, reference_genome: str, recoding: dict[str, str],
                scratch: str | None = None) -> str:
    index = scratch_file(hl, scratch, "pgs_bgen", "idx2")
    hl.index_bgen(path, index_file_map={path: index}, reference_genome=reference_genome, contig_recoding=recoding)
    return index


def local_temp_file(path: str) -> str | None:
    """A Hail temp path as a local file path (``file:`` scheme stripped), or None on another FS."""
    if path.startswith("file:"):
        return "/" + path[len("file:"):].lstrip("/")
    return None if is_uri(path) else path


def drop_multiallelic_bgen_variants(path: str, out: str) -> list[tuple[str, int, list[str]]]:
    """Copy a BGEN 1.2 (layout 2) file to ``out`` without its multi-allelic variants (K > 2
    alleles); every other byte is copied as is (the header's variant count M is updated).

    Returns the skipped variants as ``(chromosome as in the file, position, alleles)``.
    Raises InputDataError naming the file for a file that is not BGEN layout 2 or is cut short.
    Source: the BGEN format spec (https://www.chg.ox.ac.uk/~gav/bgen_format/spec/latest.html):
    a 4-byte offset to the first variant block, the header block (LH, M, N, magic, free data,
    flags: compression in bits 0-1, layout in bits 2-5), and per variant an identifying block
    (Lid/id, Lrsid/rsid, Lchr/chr as 2-byte lengths + text, 4-byte position, 2-byte K, K
    alleles as 4-byte length + text) followed by the genotype block whose first 4 bytes C give
    the length of the rest.
    """
    def need(f, n: int) -> bytes:
        b = f.read(n)
        if len(b) != n:
            raise InputDataError("BGEN file ends inside a variant block (cut short?)", where=path)
        return b

    def u(b: bytes | bytearray) -> int:
        return int.from_bytes(b, "little")

    skipped: list[tuple[str, int, list[str]]] = []
    with open(path, "rb") as f, open(out, "wb") as o:
        offset = u(need(f, 4))
        head = bytearray(need(f, offset))
        n_variants, flags = u(head[4:8]), u(head[u(head[0:4]) - 4:u(head[0:4])])
        if (flags >> 2) & 0xF != 2:
            raise InputDataError("not a BGEN 1.2 layout 2 file (the only layout Hail reads)", where=path)
        o.write(b"\0" * (4 + offset))  # header rewritten with the kept count at the end
        kept = 0
        for _ in range(n_variants):
            block = bytearray()
            fields = []
            for _field in range(3):  # id, rsid, chromosome
                n = need(f, 2)
                text = need(f, u(n))
                block += n + text
                fields.append(text)
            pos_k = need(f, 6)
            block += pos_k
            alleles = []
            for _a in range(u(pos_k[4:6])):
                n = need(f, 4)
                text = need(f, u(n))
                block += n + text
                alleles.append(text.decode())
            c = need(f, 4)
            if len(alleles) > 2:
                f.seek(u(c), 1)
                skipped.append((fields[2].decode(), u(pos_k[0:4]), alleles))
                continue
            o.write(block + c + need(f, u(c)))
            kept += 1
        head[4:8] = kept.to_bytes(4, "little")
        o.seek(0)
        o.write(offset.to_bytes(4, "little") + head)
    return skipped


_PERSON_ID_TEXT = re.compile(PERSON_ID_TEXT)


def _columns(positions: list[int]) -> str:
    """The first of the sample positions (0-based) as the 1-based sample number a user can
    look up (``bcftools query -l | sed -n 2p``): never the IDs themselves (no participant
    identifier in any log), nor how many there are (samples are persons: a count of 1..19, or
    a list of positions giving one, is not shown; ``logs.person_count_text``)."""
    return f"the first: sample #{positions[0] + 1}"


def read_sample_map(text: str, where: str) -> dict[str, int]:
    """Parse a sample -> person mapping: tab-separated, header ``sample_id<TAB>person_id``,
    one row per genotype sample. Raises InputDataError naming ``where:line`` for a missing
    column, a person_id that is not a plain integer, or a sample_id listed twice."""
    lines = text.lstrip("\ufeff").splitlines()
    header = lines[0].rstrip("\r").split("\t") if lines else []
    if header[:2] != ["sample_id", "person_id"]:
        raise InputDataError("header must be sample_id<TAB>person_id: "
                             + header_fields_text(header, ["sample_id", "person_id"]), where=f"{where}:1")
    out: dict[str, int] = {}
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 2 or not _PERSON_ID_TEXT.fullmatch(fields[1].strip()):
            raise InputDataError("person_id must be a plain integer (column 2)", where=f"{where}:{n}")
        if fields[0] in out:
            raise InputDataError("sample_id listed twice", where=f"{where}:{n}")
        out[fields[0]] = int(fields[1])
    return out


def samples_to_persons(
    hl: hl_types, mt: hl_types.MatrixTable, *, where: str, sample_map: dict[str, int] | None = None,
    ids: list[str] | None = None,
) -> hl_types.MatrixTable:
    """Re-key the columns ``s`` to the OMOP person_id as text (``sample_persons``). ``ids``: the
    column keys of ``mt`` in column order when the caller has them without Hail
    (``vcf_sample_ids``); else they are collected to the driver by a Hail job (one string per
    sample). Errors as ``sample_persons``."""
    if ids is None:
        # In file order: the unkeyed cols table keeps the column order. (``mt.cols()`` keyed by
        # ``s`` is sorted by it, a Hail sort of every sample ID; this collect was 3-4x the JVM
        # CPU of that one at 10k samples, session 19.)
        ids = mt.key_cols_by().cols().s.collect()
    persons = sample_persons(ids, where=where, sample_map=sample_map)
    if sample_map is None:
        return mt
    lookup = hl.literal(dict(zip(ids, persons)), hl.tdict(hl.tstr, hl.tstr))
    return mt.key_cols_by(s=lookup[mt.s])


def sample_persons(ids: list[str], *, where: str, sample_map: dict[str, int] | None = None) -> list[str]:
    """The OMOP person_id as text of each genotype sample ID (``ids`` in file order).

    Without ``sample_map`` every sample ID must already be a person_id written as a plain
    integer (``1001``; not ``01001``, ``1001.0`` or ``HG00096``): IDs are never re-formatted,
    because ``01001`` and ``1001`` would silently become one person. With ``sample_map``
    (``read_sample_map``), each sample ID is looked up exactly as written.

    Raises InputDataError (``where`` = dataset and file) for: a sample ID twice in the file,
    an ID that is not a plain integer (no map), a sample missing from the map, and two samples
    mapped to one person. Messages give the first sample's number in the file, never the IDs
    nor how many samples are affected (persons: ``_columns``).
    """
    seen: dict[str, int] = {}
    repeated = []
    for i, s in enumerate(ids):
        if s in seen:
            repeated.append(i)
        seen.setdefault(s, i)
    if repeated:
        raise InputDataError(f"sample ID(s) occur more than once ({_columns(repeated)}); "
                             "each genome must have its own ID", where=where)
    if sample_map is None:
        bad = [i for i, s in enumerate(ids) if not _PERSON_ID_TEXT.fullmatch(s)]
        if bad:
            # isdecimal, not isdigit: int() refuses digits such as '²' (a ValueError naming the ID).
            as_int: dict[int, int] = {}
            for s in ids:
                if s.strip().isdecimal():
                    as_int[int(s)] = as_int.get(int(s), 0) + 1
            n_collide = sum(1 for i in bad if ids[i].strip().isdecimal() and as_int[int(ids[i])] > 1)
            collide = "; some of them collide with another sample once read as integers" if n_collide else ""
            raise InputDataError(
                f"sample ID(s) are not a person_id written as a plain integer ({_columns(bad)}"
                f"{collide}; "
                "e.g. leading zeros, decimals or names like HG00096); IDs are never re-formatted (0042 and 42 "
                "would become one person): fix the IDs or give datasets[].genotypes.sample_map", where=where)
        return list(ids)
    absent = [i for i, s in enumerate(ids) if s not in sample_map]
    if absent:
        raise InputDataError(f"sample(s) are not in the sample map ({_columns(absent)})",
                             where=where)
    persons = [sample_map[s] for s in ids]
    first: dict[int, int] = {}
    clash = [i for i, p in enumerate(persons) if first.setdefault(p, i) != i]
    if clash:
        raise InputDataError(f"sample(s) map to a person_id another sample has ({_columns(clash)}): "
                             "two genomes cannot be one person", where=where)
    return [str(p) for p in persons]


# Past this many compressed bytes before the bad line, the error keeps Hail's offset rather
# than decompressing the whole file to count lines (an error path must stay quick).
_MAX_LINE_SCAN_BYTES = 1 << 30


def line_at_offset(path: str, offset: int) -> int | None:
    """The 1-based line number of the line starting at Hail's ``offset`` in the text file
    ``path`` (a local ``file:`` path), or None when it cannot be told cheaply (a URI, a file
    gone, an offset past ``_MAX_LINE_SCAN_BYTES``, a gzip that is not BGZF).

    Hail's text readers locate a line by its byte offset in a plain file and by its BGZF
    *virtual* offset in a block-gzipped one (``.bgz`` / ``.gz``: compressed offset of the
    block << 16 | offset in the block's uncompressed data, as htslib's ``bgzf_tell``); the
    lines before it are counted (for BGZF by decompressing the blocks before it)."""
    local = path.removeprefix("file:")
    if is_uri(local) or not os.path.isfile(local):
        return None
    with open(local, "rb") as f:
        if f.read(2) != b"\x1f\x8b":  # plain text: offset is the byte offset
            if offset > _MAX_LINE_SCAN_BYTES:
                return None
            f.seek(0)
            lines, left = 0, offset
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    return None
                lines, left = lines + chunk.count(b"\n"), left - len(chunk)
            return lines + 1
        block, within = offset >> 16, offset & 0xFFFF
        if block > _MAX_LINE_SCAN_BYTES:
            return None
        f.seek(0)
        lines, pos, buf = 0, 0, b""
        while pos <= block:  # one gzip member (BGZF block) per turn
            start, member, data = pos, zlib.decompressobj(31), []
            while not member.eof:
                if not buf:
                    buf = f.read(1 << 20)
                    if not buf:
                        return None
                data.append(member.decompress(buf))
                pos += len(buf) - len(member.unused_data)
                buf = member.unused_data
            text = b"".join(data)
            if start == block:
                return lines + text[:within].count(b"\n") + 1
            lines += text.count(b"\n")
    return None
