"""PGS field case, round 18 (session 28, vdsmale): a VDS male hom-ref at every scored X row.

An All of Us srWGS VDS keeps a hom-ref call as a reference block, which Hail's ``to_dense_mt``
densifies as a diploid 0/0 (the blocks carry no call). The sex on X was read from the ploidy of
the densified calls at the scored X rows (``genotypes.male_x_samples``), so a male inside a
reference block at every scored X row was read as not male, and the allele frequency that
imputes a missing X call counted his 0 as two allele observations (plink2 --freq/--score with
the sex: one). Now a VDS's sex on X comes from its own calls anywhere on X outside the PARs
(``genotypes.vds_x_evidence``: a haploid call in the variant data, or in reference blocks that
carry one); a sample with no call there is unknown (not male, as before).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

# chrX:3000000 A>G (scored, non-PAR): 1001 (male) 0, 1002 0/1, 1003 ./., 1004 1/1 -> G frequency
# 3/5 with the male's call one observation (plink2 --freq with the sex), 1003 imputed 2 x 3/5 =
# 1.2 G copies (2 x 3/6 = 1.0 with 1001 read as a diploid 0/0). chrX:4000000 C>T (not scored):
# 1001's haploid 1, the others 0/0: the only evidence of 1001's sex is off the scored rows.
_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chrX,length=156040895>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
chrX\t3000000\trs3\tA\tG\t.\tPASS\t.\tGT\t0\t0/1\t./.\t1/1
chrX\t4000000\trs4\tC\tT\t.\tPASS\t.\tGT\t1\t0/0\t0/0\t0/0
"""
_SCORE = ("#pgs_id=PGS991801\n#genome_build=GRCh38\n"
          "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
          "X\t3000000\tG\tA\t1.0\n")


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def vds_case(hl, tmp_path_factory):
    """The VCF as a VDS (hom-ref calls as one-base reference blocks without a call, as AoU's),
    the scoring file, and plink2 --score's sums on the VCF with the sex in a .psam (1001 male)."""
    from test_pgs_genotypes import write_vds

    from trd_spark.pgs.genotypes import contig_recoding

    tmp = tmp_path_factory.mktemp("vdsmale")
    (tmp / "d.vcf").write_text(_VCF)
    mt = hl.import_vcf(str(tmp / "d.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    write_vds(hl, mt, str(tmp / "d.vds"))
    (tmp / "sex.txt").write_text("#IID\tSEX\n1001\t1\n1002\t2\n1003\t2\n1004\t2\n")
    _plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-pgen", "--out", str(tmp / "g"))
    _plink2("--pfile", str(tmp / "g"), "--freq", "--out", str(tmp / "f"))
    (tmp / "w.tsv").write_text("ID\tA1\tW\nrs3\tG\t1.0\n")
    _plink2("--pfile", str(tmp / "g"), "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "w.tsv"), "1", "2",
            "3", "header-read", "cols=+scoresums", "--out", str(tmp / "s"))
    with open(tmp / "s.sscore") as f:
        plink2 = {int(r[0]): float(r[-1]) for r in (line.split() for line in f) if not r[0].startswith("#")}
    (tmp / "score.txt").write_text(_SCORE)
    return tmp, plink2


def test_vds_sex_on_x_is_read_from_all_of_x(hl, vds_case):
    """``vds_x_evidence``: 1001 male (haploid off the scored row), 1002 and 1004 not (diploid
    calls), 1003 unknown (no call on X in the variant data: only reference blocks)."""
    from trd_spark.pgs.genotypes import MALE_X, vds_x_evidence

    tmp, _ = vds_case
    got = {r.s: r[MALE_X] for r in vds_x_evidence(hl, hl.vds.read_vds(str(tmp / "d.vds"))).collect()}
    assert got == {"1001": True, "1002": False, "1003": None, "1004": False}


@pytest.mark.parametrize("engine", ["native", "hail"], ids=["vds-export", "vds-hail-pass"])
def test_vds_male_in_reference_blocks_at_the_scored_x_row_counts_haploid(hl, spark, tmp_path, vds_case, engine,
                                                                          caplog):
    """plink2 --score with the .psam's sex: 1003's missing call is 2 x 3/5 = 1.2 G copies, on
    both routes a VDS takes (exported for the native engine; Hail's pass). The samples whose sex
    on X is unknown (1003) are logged as a label (``<20``), never the count.
    Before (7aecd57): 1.0 (1001's reference block read as a diploid 0/0, not male)."""
    from test_field_cases_pgs import case_config, run_scores

    tmp, plink2 = vds_case
    cfg = case_config(tmp_path, str(tmp / "d.vds"), str(tmp / "score.txt"), fmt="vds",
                      extra_pgs=f"  native: {{engine: {engine}}}")
    with caplog.at_level("INFO", logger="trd_spark.pgs.engine"):
        got = run_scores(hl, spark, cfg)
    unknown = [r.getMessage() for r in caplog.records if "sex on X unknown" in r.getMessage()]
    assert len(unknown) == 1 and " for <20 samples:" in unknown[0]
    sums = dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True))
    assert sums == pytest.approx(plink2, abs=1e-5)  # plink2 prints 6 significant digits
    assert sums[1003] == pytest.approx(2 * 3 / 5, abs=1e-12)


def test_vds_reference_blocks_that_carry_a_call_tell_the_sex(hl):
    """A VDS whose reference blocks carry ``LGT`` (Hail's ``to_dense_mt`` densifies a block with
    it): 1001's haploid block on X outside the PARs makes him male, 1002's diploid one not; a
    haploid block in PAR1 (chrX:1000000) tells nothing (1003 unknown), nor a variant row there."""
    from trd_spark.pgs.genotypes import MALE_X, vds_x_evidence

    rows = [(1000000, "1003", hl.call(0)), (3000000, "1001", hl.call(0)), (3000000, "1002", hl.call(0, 0))]
    ref = hl.Table.parallelize(
        [{"locus": hl.Locus("chrX", p, "GRCh38"), "s": s, "ref_allele": "A", "END": p, "LGT": gt} for p, s, gt in rows],
        hl.tstruct(locus=hl.tlocus("GRCh38"), s=hl.tstr, ref_allele=hl.tstr, END=hl.tint32, LGT=hl.tcall))
    ref = ref.to_matrix_table(row_key=["locus"], col_key=["s"], row_fields=["ref_allele"])
    var = hl.Table.parallelize(
        [{"locus": hl.Locus("chrX", 1000000, "GRCh38"), "alleles": ["A", "G"], "s": s, "LGT": hl.call(1), "LA": [0, 1]}
         for s in ("1001", "1002", "1003")],
        hl.tstruct(locus=hl.tlocus("GRCh38"), alleles=hl.tarray(hl.tstr), s=hl.tstr, LGT=hl.tcall,
                   LA=hl.tarray(hl.tint32)))
    var = var.to_matrix_table(row_key=["locus", "alleles"], col_key=["s"])
    got = {r.s: r[MALE_X] for r in vds_x_evidence(hl, hl.vds.VariantDataset(ref, var)).collect()}
    assert got == {"1001": True, "1002": False, "1003": None}
