"""Field cases, round 10 (session 20): known kinds of fault in shapes the earlier rounds did not try.

- PLINK chromosome codes, as plink2 writes them (tests/data/field_cases/pgs/plink-chromosome-codes,
  hand + plink2): ``--output-chr chr26`` names X, Y, XY, MT chr23, chr24, chr25, chr26,
  ``--output-chr chrMT`` chrX, chrY, chrXY, chrMT, and ``--split-par`` moves X's pseudo-autosomal
  sites to PAR1 / PAR2. The readers knew 23..26, XY, M/MT and chrX/chrY/chrM only, so such a
  .bim/.pvar (and a VCF or BGEN with those names) was refused as "not a GRCh38 locus", and a
  scoring file's PAR1 row was never matched.
- One allele as effect and other allele (``A/A``, a scoring-file typo): matched as the alt of a
  site written with a missing allele code (``A .``), every sample scored 0 copies although each
  carries two A. Now one error at the line.
- VCF GT half-calls and spanning deletions (tests/data/field_cases/pgs/vcf-half-calls-spanning-deletion,
  hand + plink2): pinned, not changed. Hail reads ``0/.`` / ``./1`` as a missing call, so they are
  counted in n_missing and mean-imputed: plink2 ``--vcf-half-call missing``, the usual choice (plink2's
  default, and so pgsc_calc's VCF import, refuses the file; Hail keeps no trace of the half-call to
  refuse it by, and a second text pass over the VCF would double the read). A REF effect allele at
  ``C>T,*`` scores 2 - T copies - ``*`` copies; phased and unphased calls mix freely.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, plink2_fileset, run_scores

CHROM_CODES = "plink-chromosome-codes"
# plink2 --output-chr modes that prefix the codes; --split-par hg38 on the case's GRCh38 sites.
OUTPUT_CHR = {"chr26": ["chr23", "chr24", "chr26"], "chrMT": ["chrX", "chrY", "chrMT"]}


def _fileset(tmp_path, fmt: str, output_chr: str) -> str:
    return plink2_fileset(CASES / CHROM_CODES / "genotypes" / "data.vcf", tmp_path / f"{output_chr}_{fmt}", fmt,
                          "--split-par", "hg38", "--output-chr", output_chr)


@pytest.mark.parametrize("output_chr", list(OUTPUT_CHR))
@pytest.mark.parametrize("fmt", ["plink", "pgen"])
def test_every_plink2_chromosome_code_is_the_references_contig(hl, tmp_path, fmt, output_chr):
    """The .bim/.pvar as plink2 wrote it holds PAR1, the prefixed X code, PAR2, the prefixed Y and MT
    codes; ``variant_index`` recodes them to chrX x3, chrY, chrM (GRCh38: the locus check passes)
    and X x3, Y, MT (GRCh37 names; the sites are GRCh38's). Before: chr23 / PAR1 / chrMT ... kept,
    'not a GRCh38 locus'."""
    from trd_spark.pgs.pgen_engine import PlinkFiles, check_variant_loci, variant_index

    files = PlinkFiles(fmt, _fileset(tmp_path, fmt, output_chr))
    with open(files.variants) as f:
        written = [line.split()[0] for line in f if not line.startswith("#")]
    x, y, mt = OUTPUT_CHR[output_chr]
    assert written == ["PAR1", x, "PAR2", y, mt]
    assert variant_index(files, "GRCh37").frame["contig"].tolist() == ["X"] * 3 + ["Y", "MT"]
    index = variant_index(files, "GRCh38")
    assert index.frame["contig"].tolist() == ["chrX"] * 3 + ["chrY", "chrM"]
    check_variant_loci(index, hl.get_reference("GRCh38").lengths, "GRCh38", files.variants)


@pytest.mark.parametrize("fmt, output_chr", [("plink", "chr26"), ("pgen", "chrMT")])
def test_a_fileset_with_plink2_chromosome_codes_scores_as_plink2(hl, spark, tmp_path, fmt, output_chr):
    """The scoring file's X rows (harmonised hm_chr X) match the PAR1 / chr23 (chrX) / PAR2 rows
    and score expected.tsv (hand + plink2 --score on the VCF). Before: one InputDataError, 'chr23
    ... is not a GRCh38 locus' (PAR1 first for the pgen)."""
    path = _fileset(tmp_path, fmt, output_chr)
    cfg = case_config(tmp_path, path, f"{CASES / CHROM_CODES}/scores/*", fmt=fmt)
    assert_expected(run_scores(hl, spark, cfg), CHROM_CODES, haploid=True)


def test_scoring_file_chromosome_codes_as_plink2_writes_them():
    """chr_name in any plink2 spelling names the contig the genotype readers give that code:
    PAR1 / PAR2 were kept as written (never matched, not_found) and are X now."""
    from trd_spark.pgs.scoring_files import normalise_chrom

    codes = ["PAR1", "PAR2", "chr23", "chr24", "chr25", "chrXY", "chr26", "chrMT", "chrM", "XY"]
    assert normalise_chrom(pd.Series(codes)).tolist() == ["X", "X", "X", "Y", "X", "X", "MT", "MT", "MT", "X"]


HALF_CALLS = "vcf-half-calls-spanning-deletion"


@pytest.mark.parametrize("shape", ["vcf", "pgen"])
def test_half_calls_are_missing_and_a_spanning_deletion_is_not_the_ref(hl, spark, tmp_path, shape):
    """expected.tsv (hand + plink2 --vcf-half-call missing --read-freq): the VCF through Hail, and
    plink2's pgen import of it (--vcf-half-call missing; its C>T,* row kept whole) through the native
    engine, give the same sums and missing counts."""
    vcf = CASES / HALF_CALLS / "genotypes" / "data.vcf"
    path = str(vcf) if shape == "vcf" else plink2_fileset(vcf, tmp_path / "g", "pgen", "--vcf-half-call", "missing")
    cfg = case_config(tmp_path, path, f"{CASES / HALF_CALLS}/scores/*", fmt=shape)
    assert_expected(run_scores(hl, spark, cfg), HALF_CALLS)


# Chromosome codes plink2 reads (its own normalisation as the oracle): prefix and letters in any
# case, one leading zero (one chromosome's spellings together: plink2 refuses a split chromosome).
SPELLINGS = ["01", "chr02", "Chr3", "CHR4", "chrx", "x", "Chr23", "xy", "par1", "Y", "mt", "chrmt"]


def test_chromosome_codes_in_any_case_or_zero_padded_are_read_as_plink2_reads_them(hl, tmp_path):
    """A .bim with each spelling: ``variant_index`` gives the contig of the code plink2 reads it as
    (plink2 --make-just-pvar on the same .bim), and Hail's VCF import (the same recoding) reads
    them onto the same contigs. Before: '01:1000 is not a GRCh38 locus' (and Hail refused the VCF)."""
    import shutil
    import subprocess

    from trd_spark.pgs.genotypes import plink_contig_recoding
    from trd_spark.pgs.pgen_engine import PlinkFiles, variant_index

    prefix = tmp_path / "codes"
    positions = [1000 * (i + 1) for i in range(len(SPELLINGS))]
    (tmp_path / "codes.bim").write_text("".join(f"{c}\tv{i}\t0\t{p}\tG\tA\n"
                                                for i, (c, p) in enumerate(zip(SPELLINGS, positions, strict=True))))
    (tmp_path / "codes.fam").write_text("1001 1001 0 0 1 -9\n")
    (tmp_path / "codes.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]) + bytes([0b11]) * len(SPELLINGS))
    subprocess.run([shutil.which("plink2"), "--bfile", str(prefix), "--make-just-pvar", "--threads", "1", "--out",
                    str(tmp_path / "plink2")], check=True, capture_output=True)
    with open(tmp_path / "plink2.pvar") as f:
        plink2_codes = [line.split("\t")[0] for line in f if not line.startswith("#")]
    recode = plink_contig_recoding("GRCh38")
    want = [recode.get(c, c) for c in plink2_codes]
    assert set(want) <= set(hl.get_reference("GRCh38").contigs)
    assert variant_index(PlinkFiles("plink", str(prefix)), "GRCh38").frame["contig"].tolist() == want

    vcf = tmp_path / "codes.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\n"
                   + "".join(f"{c}\t{p}\t.\tA\tG\t.\t.\t.\tGT\t0/1\n"
                             for c, p in zip(SPELLINGS, positions, strict=True)))
    mt = hl.import_vcf(str(vcf), reference_genome="GRCh38", contig_recoding=recode)
    got = {(locus.contig, locus.position) for locus in mt.locus.collect()}
    assert got == set(zip(want, positions, strict=True))


@pytest.mark.parametrize("reference_genome", ["GRCh38", "GRCh37"])
def test_scoring_files_read_every_chromosome_code_the_genotype_readers_read(reference_genome):
    """The two readers of chromosome codes are twins: every code the genotype readers recode
    (``plink_contig_recoding``: .bim, .pvar, VCF, BGEN) names the same chromosome in a scoring
    file's chr_name (``normalise_chrom``), in the case written and lower-cased. Else a score row
    written as its genotypes are (PAR1, chr26, xy) would not match them, silently (not_found)."""
    from trd_spark.pgs.genotypes import plink_contig_recoding
    from trd_spark.pgs.scoring_files import normalise_chrom

    recode = plink_contig_recoding(reference_genome)
    codes = sorted({*recode, *(c.lower() for c in recode)})
    got = normalise_chrom(pd.Series(codes)).tolist()
    plain = {"chrM": "MT", "M": "MT"}  # the reference's mitochondrion; scoring files say MT
    want = [plain.get(c, c.removeprefix("chr")) for c in (recode.get(code, code) for code in codes)]
    assert [(c, g) for c, g, w in zip(codes, got, want, strict=True) if g != w] == []
    assert {"PAR1", "chr26", "chrXY", "01", "mt"} <= set(codes)  # the spellings of this round


@pytest.mark.parametrize("rows, line", [
    ("1\t1000\tA\tA\t1.5\n", 4),
    ("1\t1000\tA\tG\t1.5\n1\t2000\tct\tCT \t1.0\n", 5),
], ids=["snv", "indel-in-another-case"])
def test_an_effect_allele_that_is_also_the_other_allele_is_one_error_at_its_line(rows, line):
    """``A/A`` (or ``ct``/``CT ``: the same allele once normalised) names no variant. Before, the
    row was accepted and, at a site written ``A .`` (missing allele code), matched ref_alt with
    the weight on the '.' copies: slope 1.5, offset 0, so a 0/0 sample (two A) scored 0."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    header = "#pgs_id=PGS991001\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    with pytest.raises(InputDataError, match=r"column other_allele: the other allele is the effect allele") as e:
        parse_scoring_file(header + rows, source="s.txt")
    assert e.value.where == f"s.txt:{line}"
