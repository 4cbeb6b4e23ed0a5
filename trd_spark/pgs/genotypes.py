"""Read one dataset's genotypes into a biallelic Hail MatrixTable ready for scoring.

The result is keyed by ``locus``/``alleles`` (``alleles = [ref, alt]`` after splitting
multi-allelic rows), has the column key ``s`` (str; the AoU person_id as text) and one entry
field ``DOSAGE`` (float64: expected count of the row's alt allele, 0..2; missing when the
genotype is missing). Contigs are named as the reference genome names them (GRCh38 ``chr1``,
GRCh37 ``1``) whatever the file uses.

Formats (``datasets[].genotypes.format``):
    vcf    bgzipped/plain VCF (``path`` may glob per-chromosome files); dosage from ``GT``, or
           from the FORMAT field ``dosage_field`` (e.g. ``DS``, Number=A or 1) when set
    mt     Hail MatrixTable with ``GT`` (or ``dosage_field``)
    plink  PLINK 1 bed/bim/fam (``path`` = the common prefix or the .bed); A2 is taken as REF,
           A1 as ALT (what ``plink2 --make-bed`` writes from a VCF)
    bgen   BGEN 1.2 with 8-bit probabilities (Hail reads no other; one file; the sample IDs
           embedded in the file); dosage = Hail's expected alt dosage. Indexed into the Hail temp dir.
    vds    Hail VariantDataset (AoU srWGS); only the loci scoring needs are densified:
           variant data is filtered to ``loci`` before ``to_dense_mt``; GT from LGT/LA, so a
           sample inside a reference block gets 0/0 and one with no coverage is missing.
"""

from __future__ import annotations

import glob
import gzip
import zlib
from typing import TYPE_CHECKING

from trd_spark.config import GenotypeSource, is_uri
from trd_spark.errors import InputDataError

if TYPE_CHECKING:
    import hail as hl_types

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


# The 28-byte empty block every complete BGZF file ends with (SAM/BAM spec 4.1.2): its
# absence means the file was cut short (an interrupted copy), which Hail would only notice
# deep inside a job with a stack trace.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def reference_contigs(reference_genome: str) -> set[str]:
    """Contig names a VCF may use for ``reference_genome`` (either style, before recoding)."""
    plain = [*_AUTOSOMES, "X", "Y", "MT", "M"]
    return {*plain, *(f"chr{c}" for c in plain)}


def check_vcf_files(source: GenotypeSource) -> None:
    """Cheap checks of local VCF files before Hail reads them lazily (header + first record).

    Raises ``InputDataError`` naming the file (and ``:line``) for: a truncated bgzip file (no
    BGZF end-of-file block), a first record whose FORMAT lacks ``GT`` (or ``dosage_field``),
    and a first record whose contig matches no name of the reference (e.g. ``chromosome1``).
    URIs are left to Hail.
    """
    if is_uri(source.path):
        return
    contigs = reference_contigs(source.reference_genome)
    wanted = source.dosage_field or "GT"
    for path in sorted(glob.glob(source.path)):
        compressed = path.endswith((".gz", ".bgz"))
        if compressed:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - len(BGZF_EOF)))
                if f.read() != BGZF_EOF:
                    raise InputDataError("truncated bgzip file (no BGZF end-of-file block); copy it again",
                                         where=path)
        try:
            with (gzip.open(path, "rt") if compressed else open(path)) as f:
                for line_no, line in enumerate(f, 1):
                    if line.startswith("#"):
                        continue
                    fields = line.rstrip("\n").split("\t")
                    if fields[0] not in contigs:
                        raise InputDataError(
                            f"contig {fields[0]!r} is not a {source.reference_genome} contig name "
                            "(expected chr1..chr22, chrX, chrY, chrM or 1..22, X, Y, MT)",
                            where=f"{path}:{line_no}")
                    formats = fields[8].split(":") if len(fields) > 9 else []
                    if wanted not in formats:
                        raise InputDataError(
                            f"FORMAT column has no {wanted} (has {':'.join(formats) or 'no FORMAT/sample columns'}); "
                            "genotypes need GT, or set dosage_field to the dosage FORMAT field (e.g. DS)",
                            where=f"{path}:{line_no}")
                    break
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
            raise InputDataError(f"cannot read VCF: {e}", where=path) from None


def plink_contig_recoding(reference_genome: str) -> dict[str, str]:
    """``contig_recoding`` plus PLINK's numeric codes (23 X, 24 Y, 25 XY/PAR -> X, 26 MT)."""
    out = contig_recoding(reference_genome)
    x, y, mt = ("chrX", "chrY", "chrM") if reference_genome == "GRCh38" else ("X", "Y", "MT")
    out.update({"23": x, "24": y, "25": x, "26": mt, "XY": x})
    return out


def _check_keys(hl: "hl_types", mt: "hl_types.MatrixTable", where: str) -> None:
    if list(mt.row_key) != ["locus", "alleles"]:
        raise InputDataError(f"rows must be keyed by locus, alleles (got {list(mt.row_key)})", where=where)
    if list(mt.col_key) != ["s"] or mt.s.dtype != hl.tstr:
        raise InputDataError(f"columns must be keyed by s: str (got {dict(mt.col_key.dtype)})", where=where)


def to_biallelic_dosage(
    hl: "hl_types", mt: "hl_types.MatrixTable", *, where: str, dosage_field: str | None = None,
    keep_rsid: bool = False,
) -> "hl_types.MatrixTable":
    """Split multi-allelic rows and keep one entry field ``DOSAGE`` (see module doc).

    From ``GT``: copies of the row's alt allele (a ``1/2`` call counts 1 on each split row).
    From ``dosage_field``: an array (Number=A, one dosage per alt) indexed by the split row's
    alt, or a number, used only on rows that were biallelic to begin with.
    """
    _check_keys(hl, mt, where)
    field_name = dosage_field or "GT"
    if field_name not in mt.entry:
        raise InputDataError(f"genotypes have no {field_name} entry field (has {list(mt.entry)})", where=where)
    row_fields = _rsid_fields(mt, keep_rsid, where)
    mt = mt.select_entries(field_name).select_rows(*row_fields).select_cols().select_globals()
    # A filtered entry (sparse VDS densify, filtered MTs) is a missing genotype: it must be
    # imputed like one, not silently skipped by the aggregations.
    mt = mt.unfilter_entries()
    if dosage_field is None:
        if mt.GT.dtype != hl.tcall:
            raise InputDataError(f"GT must be a call, got {mt.GT.dtype}", where=where)
        n_alleles = hl.len(mt.alleles)
        general = hl.range(1, n_alleles).map(
            lambda i: hl.float64(hl.range(mt.GT.ploidy).filter(lambda k: mt.GT[k] == i).length()))
        # Biallelic rows (nearly all) take the cheap path.
        mt = mt.annotate_entries(_d=hl.if_else(n_alleles == 2, [hl.float64(mt.GT.n_alt_alleles())], general))
    else:
        d = mt[dosage_field]
        if isinstance(d.dtype, hl.tarray) and d.dtype.element_type in (hl.tfloat64, hl.tfloat32):
            mt = mt.annotate_entries(_d=d.map(hl.float64))
        elif d.dtype in (hl.tfloat64, hl.tfloat32):
            # One number for the whole row: meaningful only when there is a single alt allele.
            mt = mt.annotate_entries(_d=hl.or_missing(hl.len(mt.alleles) == 2, [hl.float64(d)]))
        else:
            raise InputDataError(f"dosage field {dosage_field} must be a float or array of floats, got {d.dtype}",
                                 where=where)
    split = hl.split_multi(mt.select_entries("_d"))
    split = split.select_entries(DOSAGE=split._d[split.a_index - 1])
    return split.select_rows(*row_fields).select_globals()


def _rsid_fields(mt: "hl_types.MatrixTable", keep_rsid: bool, where: str) -> list[str]:
    """``["rsid"]`` when rsIDs are kept (a str row field the reader must provide), else ``[]``."""
    if not keep_rsid:
        return []
    if "rsid" not in mt.row or str(mt.rsid.dtype) != "str":
        raise InputDataError("rsID matching (pgs.match_rsid) needs an rsid: str row field; these genotypes "
                             f"have {list(mt.row)}", where=where)
    return ["rsid"]


def _fail(e: Exception, what: str, where: str) -> InputDataError:
    return InputDataError(f"cannot {what}: {str(e).splitlines()[0]}", where=where)


def read_genotypes(
    hl: "hl_types", source: GenotypeSource, *, loci: "hl_types.Table | None" = None, keep_rsid: bool = False
) -> "hl_types.MatrixTable":
    """Read genotypes per ``source.format``; see the module doc for the shape returned.

    ``loci``: a Table keyed by ``locus`` of the sites scoring may use. Required for ``vds``
    (only those are densified); ignored by the other formats (rows are filtered later).
    ``keep_rsid``: keep the row field ``rsid`` (str; VCF ID, PLINK bim ID, BGEN/MT rsid) for
    rsID-only scoring files (``pgs.match_rsid``); not available for ``vds``.
    """
    where = f"genotypes ({source.format}) {source.path}"
    rg = source.reference_genome
    dosage_field = source.dosage_field
    if dosage_field is not None and source.format not in ("vcf", "mt"):
        raise InputDataError("dosage_field applies to vcf and mt only (bgen always uses its dosages)", where=where)
    if source.format == "vcf":
        check_vcf_files(source)
        try:
            mt = hl.import_vcf(
                source.path,
                reference_genome=rg,
                contig_recoding=contig_recoding(rg),
                force_bgz=source.path.endswith(".gz"),
                array_elements_required=False,
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
        try:
            mt = hl.import_plink(
                bed=f"{prefix}.bed", bim=f"{prefix}.bim", fam=f"{prefix}.fam", reference_genome=rg,
                contig_recoding=plink_contig_recoding(rg), a2_reference=True, quant_pheno=False, missing="-9",
            )
        except Exception as e:
            raise _fail(e, "import PLINK bed/bim/fam", where) from None
        mt = mt.key_cols_by(s=mt.s)
    elif source.format == "bgen":
        mt = _read_bgen(hl, source.path, rg, where)
        mt = mt.select_entries(DOSAGE=mt.dosage).unfilter_entries()
        _check_keys(hl, mt, where)
        row_fields = _rsid_fields(mt, keep_rsid, where)
        mt = mt.select_rows(*row_fields)
        split = hl.split_multi(mt.annotate_entries(_d=hl.or_missing(hl.len(mt.alleles) == 2, [mt.DOSAGE])))
        split = split.select_entries(DOSAGE=split._d[split.a_index - 1])
        return split.select_rows(*row_fields).select_cols().select_globals()
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
        vd = vd.filter_rows(hl.is_defined(loci[vd.locus]))
        dense = hl.vds.to_dense_mt(hl.vds.VariantDataset(vds.reference_data, vd))
        if "GT" not in dense.entry:
            dense = dense.annotate_entries(GT=hl.vds.lgt_to_gt(dense.LGT, dense.LA))
        mt = dense
    else:  # pragma: no cover - the config Literal forbids anything else
        raise InputDataError(f"genotype format {source.format!r} is not supported", where=where)
    return to_biallelic_dosage(hl, mt, where=where, dosage_field=dosage_field, keep_rsid=keep_rsid)


def _check_build(hl: "hl_types", row, reference_genome: str, where: str) -> None:
    rg = row.locus.dtype.reference_genome.name if "locus" in row else None
    if rg != reference_genome:
        raise InputDataError(f"loci are on {rg}, config says {reference_genome}", where=where)


def _read_bgen(hl: "hl_types", path: str, reference_genome: str, where: str) -> "hl_types.MatrixTable":
    """Index a BGEN into the Hail temp dir (the source may be read-only) and import dosages."""
    # Sample IDs embedded in the BGEN are used: plink2's .sample puts FID (often 0) in ID_1,
    # the column Hail would take.
    index = hl.utils.new_temp_file(prefix="pgs_bgen", extension="idx2")
    try:
        hl.index_bgen(path, index_file_map={path: index}, reference_genome=reference_genome,
                      contig_recoding=plink_contig_recoding(reference_genome))
        return hl.import_bgen(path, entry_fields=["dosage"], sample_file=None,
                              index_file_map={path: index})
    except Exception as e:
        raise _fail(e, "import BGEN", where) from None
