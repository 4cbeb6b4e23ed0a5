"""Field cases, round 11 (session 21): known kinds of fault in shapes the earlier rounds did not try.

- Partial DS field, beside a missing GT outside chrX's pseudo-autosomal regions
  (tests/data/field_cases/pgs/partial-dosage-field-missing-gt-chrx, hand + plink2): Hail reads
  '.' and './.' alike (a missing call), so a woman's './.:1.4' on chrX stopped a VCF/MT run
  ('scale 0..1 or 0..2 unknown') although plink2 reads it (as 1.4: the GT's text is diploid) and
  the pgen route reads plink2's import. Valid data refused: the missing GT now takes the ploidy
  of the sample's called GTs on that contig (a woman's chrX calls are diploid, a man's haploid:
  his '.:0.7' is 1.4, as plink2 doubles it); none called, or both ploidies, stays the error.
- A concept set reaching an invalid concept (OMOP vocabulary, ATLAS's rule): a concept_ancestor
  row can still lead from the MDD ancestor to a concept the vocabulary deprecated ('D') or
  upgraded ('U'); ATLAS/circe expand a set with ``c.invalid_reason IS NULL``, the expansion here
  took every descendant, so such a record made a person MDD where the OHDSI definition does not.
- A .fam with sex 0 (unknown) scoring chrX (pinned, no code change): plink2 --score reads a
  .bed's chrX calls as stored whatever the .fam's sex (a male's haploid call is written
  homozygous, 2 copies; a het counts 1 for anyone), and so does the native engine.
"""

from __future__ import annotations

import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, plink2_fileset, run_case, run_scores

MISSING_GT_CHRX = "partial-dosage-field-missing-gt-chrx"
DS = ", dosage_field: DS"


@pytest.mark.parametrize("shape", ["vcf", "mt", "pgen"])
def test_a_dosage_beside_a_missing_chrx_gt_takes_the_samples_ploidy(hl, spark, tmp_path, shape):
    """expected.tsv (hand + plink2 --vcf dosage=DS with the samples' sex): the VCF and a
    MatrixTable through Hail, plink2's pgen import through the native engine, give the same sums.
    Before (VCF, MT): one InputDataError, 'dosage field DS at chrX:3000000 A,G is given beside a
    missing GT ... scale 0..1 or 0..2 unknown'."""
    vcf = CASES / MISSING_GT_CHRX / "genotypes" / "data.vcf"
    if shape == "vcf":
        assert_expected(run_case(hl, spark, tmp_path, MISSING_GT_CHRX, extra_genotypes=DS), MISSING_GT_CHRX)
        return
    if shape == "mt":
        hl.import_vcf(str(vcf), reference_genome="GRCh38").write(str(tmp_path / "g.mt"))
        cfg = case_config(tmp_path, str(tmp_path / "g.mt"), f"{CASES / MISSING_GT_CHRX}/scores/*", fmt="mt",
                          extra_genotypes=DS)
        assert_expected(run_scores(hl, spark, cfg), MISSING_GT_CHRX)
        return
    path = plink2_fileset(vcf, tmp_path / "g", "pgen", "dosage=DS")
    cfg = case_config(tmp_path, path, f"{CASES / MISSING_GT_CHRX}/scores/*", fmt="pgen")
    # A pgen stores dosages in steps of 1/16384 (plink2's format).
    assert_expected(run_scores(hl, spark, cfg), MISSING_GT_CHRX, tolerance=1e-3)


_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chrX,length=156040895>
##contig=<ID=chrY,length=57227415>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Estimated alternate allele dosage">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002
"""


def _dosages(hl, tmp_path, rows: list[tuple[str, int, str]]) -> dict[tuple[str, int, str], float]:
    from trd_spark.pgs.genotypes import contig_recoding, to_biallelic_dosage

    vcf = tmp_path / "x.vcf"
    vcf.write_text(_HEADER + "".join(f"{c}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT:DS\t{e}\n" for c, p, e in rows))
    mt = hl.import_vcf(str(vcf), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    ds = to_biallelic_dosage(hl, mt, where="t", dosage_field="DS")
    return {(r.locus.contig, r.locus.position, r.s): r.DOSAGE for r in ds.entries().collect()}


def test_the_ploidy_of_a_missing_gt_is_per_sample_and_contig_and_needs_one(hl, tmp_path):
    """Per sample and contig: 1001's chrX calls are diploid (its missing GT's DS 0.6 as given),
    1002's haploid (0.6 doubled); a PAR call (diploid for everyone) says nothing of the sample's
    chrX ploidy, and chrY's calls nothing of chrX's. A sample whose calls on the contig are of both
    ploidies, or none (PAR and chrY only), keeps the error naming field and site."""
    base = [("chrX", 3_000_000, "0/1:1\t1:1"), ("chrX", 5_000_000, "./.:0.6\t.:0.6")]
    got = _dosages(hl, tmp_path, base)
    assert got[("chrX", 5_000_000, "1001")] == pytest.approx(0.6)
    assert got[("chrX", 5_000_000, "1002")] == pytest.approx(1.2)
    mixed = [("chrX", 4_000_000, "1:1\t1:1"), *base]  # 1001: haploid and diploid chrX calls
    with pytest.raises(Exception, match=r"at chrX:5000000 A,G is given beside a missing GT, .*not of one ploidy"):
        _dosages(hl, tmp_path, mixed)
    # 1001 is called only in PAR1 (chrX:10,001-2,781,479) and on chrY: no ploidy on chrX proper.
    par_only = [("chrX", 2_000_000, "0/1:1\t1:1"), ("chrY", 3_000_000, "1:1\t1:1"),
                ("chrX", 5_000_000, "./.:0.6\t0:0")]
    with pytest.raises(Exception, match=r"at chrX:5000000 A,G is given beside a missing GT, .*not of one ploidy"):
        _dosages(hl, tmp_path, par_only)


def test_a_fam_with_unknown_sex_scores_chrx_as_plink2(hl, spark, tmp_path):
    """A bed written by plink2 from a VCF with a male's haploid chrX calls, its .fam sexes 1, 2, 0, 0:
    plink2 --score (no-mean-imputation, cols=+scoresums) gives 2.2, 2.4, 1, 2.7 (by hand: chr1 G 0.2,
    chrX G 1.0 and T 0.5; 1001's haploid '1' is 2 copies) with any sex column (checked with 0 0 0 0
    and 1 1 1 1 too), and the native engine gives the same."""
    import shutil
    import subprocess

    vcf = tmp_path / "x.vcf"
    vcf.write_text(_HEADER.replace("##contig=<ID=chrY", "##contig=<ID=chr1,length=248956422>\n##contig=<ID=chrY")
                   .replace("\t1001\t1002\n", "\t1001\t1002\t1003\t1004\n").replace("GT:DS", "GT")
                   + "chr1\t1000\tv0\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1\n"
                   "chrX\t3000000\tv1\tA\tG\t.\tPASS\t.\tGT\t1\t0/1\t0/1\t1/1\n"
                   "chrX\t4000000\tv2\tC\tT\t.\tPASS\t.\tGT\t0\t1/1\t0/0\t0/1\n")
    prefix = plink2_fileset(vcf, tmp_path / "g", "plink")
    fam = (tmp_path / "g.fam").read_text().splitlines()
    (tmp_path / "g.fam").write_text("".join(f"{' '.join(line.split()[:4])} {sex} -9\n"
                                            for line, sex in zip(fam, [1, 2, 0, 0], strict=True)))
    (tmp_path / "score.txt").write_text("#pgs_id=PGS991102\n#genome_build=GRCh38\n"
                                        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
                                        "1\t1000\tG\tA\t0.2\nX\t3000000\tG\tA\t1.0\nX\t4000000\tT\tC\t0.5\n")
    (tmp_path / "plink2.txt").write_text("v0\tG\t0.2\nv1\tG\t1.0\nv2\tT\t0.5\n")
    subprocess.run([shutil.which("plink2"), "--bfile", prefix, "--score", str(tmp_path / "plink2.txt"), "1", "2", "3",
                    "cols=+scoresums", "no-mean-imputation", "--threads", "1", "--out", str(tmp_path / "s")],
                   check=True, capture_output=True)
    with open(tmp_path / "s.sscore") as f:
        plink2 = {int(r[1]): float(r[-1]) for r in (line.split() for line in f) if not r[0].startswith("#")}
    assert plink2 == pytest.approx({1001: 2.2, 1002: 2.4, 1003: 1.0, 1004: 2.7})
    got = run_scores(hl, spark, case_config(tmp_path, prefix, str(tmp_path / "score.txt"), fmt="plink"))
    assert dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True)) == pytest.approx(plink2)


def test_a_set_leaves_out_descendants_the_vocabulary_made_invalid(spark):
    """MDD (with descendants) reaches a valid child, a deprecated ('D') and an upgraded ('U') one,
    and one whose invalid_reason is blank (a CSV export's empty field: valid): the set holds the
    ancestor, the valid and the blank one, as ATLAS expands it. A concept table without the column
    (older exports) leaves every descendant in. Before: all five."""
    from test_phenotypes_support import MDD_CONCEPT, frame

    from trd_spark.config import ConceptRef, ConceptSet
    from trd_spark.phenotypes.concepts import expand_concept_set, load_vocabulary

    kids = {"valid": 2_000_001_101, "deprecated": 2_000_001_102, "upgraded": 2_000_001_103, "blank": 2_000_001_104}
    reasons = {"valid": None, "deprecated": "D", "upgraded": "U", "blank": " "}
    concept = frame(spark, "concept", [
        (MDD_CONCEPT, "Major depressive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "370143000", None),
        *[(cid, k, "Condition", "SNOMED", "Clinical Finding", "S" if reasons[k] in (None, " ") else None, str(cid),
           reasons[k]) for k, cid in kids.items()]])
    ancestor = frame(spark, "concept_ancestor", [(MDD_CONCEPT, MDD_CONCEPT, 0, 0),
                                                 *[(MDD_CONCEPT, cid, 1, 1) for cid in kids.values()]])
    mdd = ConceptSet(domain="condition", include=[ConceptRef(concept_id=MDD_CONCEPT, name="MDD")])
    assert expand_concept_set(mdd, load_vocabulary([mdd], concept, ancestor)) == {
        MDD_CONCEPT, kids["valid"], kids["blank"]}
    older = concept.drop("invalid_reason")
    assert expand_concept_set(mdd, load_vocabulary([mdd], older, ancestor)) == {MDD_CONCEPT, *kids.values()}
    # A concept the set names is kept whatever its invalid_reason (ATLAS filters descendants only).
    named = ConceptSet(domain="condition", include=[ConceptRef(concept_id=kids["deprecated"], name="old")])
    assert expand_concept_set(named, load_vocabulary([named], concept, ancestor)) == {kids["deprecated"]}
