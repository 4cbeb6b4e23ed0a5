"""Genotype reading: formats, contig recoding map, clear errors for what is not built yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import GenotypeSource
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import contig_recoding, read_genotypes

DATA = Path(__file__).parent / "data" / "pgs"


def test_contig_recoding_maps_other_style_onto_reference():
    grch38 = contig_recoding("GRCh38")
    assert (grch38["1"], grch38["X"], grch38["MT"]) == ("chr1", "chrX", "chrM")
    assert "chr1" not in grch38  # already right: left alone by import_vcf
    grch37 = contig_recoding("GRCh37")
    assert (grch37["chr22"], grch37["chrM"]) == ("22", "MT")


@pytest.mark.parametrize("fmt", ["plink", "bgen", "vds"])
def test_unimplemented_formats_fail_clearly(hl, fmt):
    with pytest.raises(InputDataError, match=f"genotype format '{fmt}' is not implemented yet"):
        read_genotypes(hl, GenotypeSource(format=fmt, path="/nowhere/x"))


def test_dosage_field_is_refused_not_ignored(hl):
    with pytest.raises(InputDataError, match="dosage_field='DS'"):
        read_genotypes(hl, GenotypeSource(format="vcf", path=str(DATA / "tiny.vcf"), dosage_field="DS"))


def test_missing_vcf_is_input_error(hl, tmp_path):
    with pytest.raises(InputDataError, match="cannot import VCF"):
        read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp_path / "absent.vcf")))


def test_matrix_table_round_trip_keeps_split_rows(hl, tmp_path):
    """A multi-allelic MT on disk is split on read like a VCF (10 biallelic rows)."""
    raw = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    raw.write(str(tmp_path / "tiny.mt"))
    mt = read_genotypes(hl, GenotypeSource(format="mt", path=str(tmp_path / "tiny.mt")))
    assert mt.count() == (10, 4)
    assert list(mt.entry) == ["GT"]
    # 1/2 at 300 becomes one A allele on the G>A row
    row = mt.filter_rows((mt.locus.position == 300) & (mt.alleles[1] == "A"))
    assert row.aggregate_entries(hl.agg.collect((row.s, row.GT.n_alt_alleles()))) == [
        ("101", 1), ("102", 0), ("103", 1), ("104", 0)]


def test_matrix_table_on_other_build_is_refused(hl, tmp_path):
    raw = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh37")
    raw.write(str(tmp_path / "b37.mt"))
    with pytest.raises(InputDataError, match="loci are on GRCh37, config says GRCh38"):
        read_genotypes(hl, GenotypeSource(format="mt", path=str(tmp_path / "b37.mt")))
