"""Read one dataset's genotypes into a biallelic Hail MatrixTable ready for scoring.

The result is keyed by ``locus``/``alleles`` (``alleles = [ref, alt]`` after
``split_multi_hts``), has the column key ``s`` (str; the AoU person_id as text) and one entry
field ``GT``. Contigs are named as the reference genome names them (GRCh38 ``chr1``,
GRCh37 ``1``) whatever the file uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trd_spark.config import GenotypeSource
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


def to_biallelic_gt(hl: "hl_types", mt: "hl_types.MatrixTable", *, where: str) -> "hl_types.MatrixTable":
    """Keep only ``GT``, split multi-allelic rows, check the keys we rely on."""
    if "GT" not in mt.entry:
        raise InputDataError("genotypes have no GT entry field", where=where)
    if list(mt.row_key) != ["locus", "alleles"]:
        raise InputDataError(f"rows must be keyed by locus, alleles (got {list(mt.row_key)})", where=where)
    if list(mt.col_key) != ["s"] or mt.s.dtype != hl.tstr:
        raise InputDataError(f"columns must be keyed by s: str (got {dict(mt.col_key.dtype)})", where=where)
    mt = mt.select_entries("GT").select_rows().select_cols()
    # An already-split MT has only 2 alleles per row; split_multi_hts is then a no-op filter.
    return hl.split_multi_hts(mt.select_globals())


def read_genotypes(hl: "hl_types", source: GenotypeSource) -> "hl_types.MatrixTable":
    """Read genotypes per ``source.format``; see the module doc for the shape returned.

    Implemented: ``vcf`` (plain, .gz or .bgz; ``path`` may be a glob of per-chromosome files)
    and ``mt``. ``plink``, ``bgen`` and ``vds`` raise InputDataError for now.
    """
    where = f"genotypes ({source.format}) {source.path}"
    if source.dosage_field is not None:
        raise InputDataError(
            f"dosage_field={source.dosage_field!r}: imputed dosages are not supported yet (GT is used); "
            "remove dosage_field",
            where=where,
        )
    if source.format == "vcf":
        try:
            mt = hl.import_vcf(
                source.path,
                reference_genome=source.reference_genome,
                contig_recoding=contig_recoding(source.reference_genome),
                force_bgz=source.path.endswith(".gz"),
                array_elements_required=False,
            )
        except Exception as e:  # Hail raises FatalError/HailException on bad paths or headers
            raise InputDataError(f"cannot import VCF: {str(e).splitlines()[0]}", where=where) from None
    elif source.format == "mt":
        try:
            mt = hl.read_matrix_table(source.path)
        except Exception as e:
            raise InputDataError(f"cannot read MatrixTable: {str(e).splitlines()[0]}", where=where) from None
        rg = mt.locus.dtype.reference_genome.name if "locus" in mt.row else None
        if rg != source.reference_genome:
            raise InputDataError(
                f"MatrixTable loci are on {rg}, config says {source.reference_genome}", where=where
            )
    else:
        raise InputDataError(
            f"genotype format {source.format!r} is not implemented yet (vcf and mt are); "
            "export to VCF or a Hail MatrixTable",
            where=where,
        )
    return to_biallelic_gt(hl, mt, where=where)
