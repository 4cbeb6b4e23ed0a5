"""PGS field cases, round 38 (session 45, helper pgs38).

gvcf-reference-blocks: a gVCF (GATK HaplotypeCaller ``-ERC GVCF`` / CombineGVCFs shape, three
samples) given as a VCF dataset. Its reference blocks (``C <NON_REF>`` with ``END=2000100``) say
every sample is 0/0 from 1,000,001 to 2,000,100; the score's second row (chr1:1,500,000, effect C,
the REF, weight 0.5) lies inside that block. Read as a VCF, the site has no record: it was counted
not_found and its two C copies left out of every sum (1001: 1.0 where the genotypes give
1.0 + 2 x 0.5 = 2.0; hand-worked), silently under a lowered ``pgs.min_overlap`` and with only the
match rate to show under the default (pgsc_calc discussion 123: a BP_RESOLUTION gVCF matched
33%). plink2 ``--vcf`` reads a block as one record at its start, so it skips the site too. A
gVCF is now one error naming the file and the block's line (``genotypes.is_reference_block``,
looked for in a file's first ``GVCF_LOOK_RECORDS`` records), pointing to a VDS, which Hail
densifies with a block as 0/0.

One stage call (it stops at the VCF pre-check, before Hail reads the file), and direct checks
of ``check_vcf_files`` on the other gVCF dialects.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_field_cases_pgs import case_config, run_scores

from trd_spark.config import GenotypeSource
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import check_vcf_files

CASE = Path(__file__).parent / "data" / "field_cases_round38_pgs" / "gvcf-reference-blocks"
GVCF = CASE / "genotypes" / "data.g.vcf"
HEADER = ("##fileformat=VCFv4.2\n##INFO=<ID=END,Number=1,Type=Integer,Description=\"End\">\n"
          "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\n")


def test_a_gvcf_is_one_error_at_its_first_reference_block(hl, spark, tmp_path):
    """The stage refuses the gVCF at data.g.vcf:9 (its first record, the block chr1:1-999,999),
    naming the block and the VDS route. On 163d5e1 it scored: 1001 1.0 (n_matched 1), the
    in-block C/C at chr1:1,500,000 not_found."""
    cfg = case_config(tmp_path, str(GVCF), str(CASE / "scores" / "*"))
    with pytest.raises(InputDataError) as e:
        run_scores(hl, spark, cfg)
    assert e.value.where == f"{GVCF}:9"
    assert "gVCF" in str(e.value) and "<NON_REF>" in str(e.value) and "VDS" in str(e.value)


@pytest.mark.parametrize("records, line", [
    # bcftools / DeepVariant ``<*>``, cut to regions: the first record a variant, a block next.
    ("chr1\t100\t.\tA\tG,<*>\t50\t.\t.\tGT\t0/1\nchr1\t101\t.\tC\t<*>\t.\t.\tEND=500\tGT\t0/0\n", 6),
    # Illumina Strelka: a block's ALT is '.', its INFO END among other keys.
    ("chr1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\nchr1\t101\t.\tC\t.\t0\tPASS\tBLOCKAVG_min30p3a;END=500\tGT\t0/0\n", 6),
    # GATK ``-ERC BP_RESOLUTION``: one ``<NON_REF>`` record per non-variant site, no END.
    ("chr1\t100\t.\tA\tG,<NON_REF>\t50\t.\t.\tGT\t0/1\nchr1\t101\t.\tC\t<NON_REF>\t.\t.\t.\tGT\t0/0\n", 6),
], ids=["star-after-a-variant", "strelka-dot", "bp-resolution-no-end"])
def test_other_gvcf_dialects_are_refused_at_their_block(tmp_path, records, line):
    """A reference block after the first record, in bcftools' and Strelka's spelling, is the same
    error at its line. On 163d5e1 only the first record was read: both passed. A BP_RESOLUTION
    gVCF's per-site ``C <NON_REF>`` record (no END) is refused the same: on 8f34e94 it passed, and
    a scored REF C there matched no record (its copies lost; reader s45 finding 9)."""
    vcf = tmp_path / "x.vcf"
    vcf.write_text(HEADER + records)
    with pytest.raises(InputDataError, match="gVCF") as e:
        check_vcf_files(GenotypeSource(format="vcf", path=str(vcf)))
    assert e.value.where == f"{vcf}:{line}"


def test_records_that_are_no_reference_block_pass(tmp_path):
    """Not gVCF blocks: ``<NON_REF>`` beside a called allele (round 37 scores it), a structural
    variant's ``<DEL>`` with END, a ``.`` ALT without END (an all-sites VCF), and a later record
    on a contig the reference does not name (only the first record's contig is checked)."""
    vcf = tmp_path / "x.vcf"
    vcf.write_text(HEADER + "chr1\t100\t.\tA\tG,<NON_REF>\t50\t.\t.\tGT\t0/1\n"
                   "chr1\t200\t.\tC\t<DEL>\t50\t.\tSVTYPE=DEL;END=900\tGT\t0/1\n"
                   "chr1\t1000\t.\tT\t.\t.\t.\tDP=30\tGT\t0/0\n"
                   "chrUn_KI270302v1\t5\t.\tA\tC\t50\t.\t.\tGT\t0/1\n")
    assert check_vcf_files(GenotypeSource(format="vcf", path=str(vcf))) is False
