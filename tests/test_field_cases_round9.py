"""Field cases, round 9 (session 19): known kinds of fault in shapes the earlier rounds did not try.

- Multi-allelic effect = REF in a VariantDataset as All of Us writes it: variant data with LOCAL
  alleles (``LA`` = 0 plus the alts the sample carries, ``LGT`` indexing into ``LA``, no global
  ``GT``) and reference blocks spanning several positions (one block covers several score loci).
  The earlier VDS tests wrote ``LA`` = every allele (``LGT`` = ``GT``) and one-base blocks.
- Partial DS field, on haploid calls (tests/data/field_cases/pgs/partial-dosage-field-haploid,
  plink2 + hand): a DS beside a haploid GT (a male's chrX, chrM) is on the 0..1 scale, which
  plink2 doubles; the reader used it as given, so every haploid dosage counted half (a male's
  chrX DS 1 one copy where his GT 1 counts two). A DS without a called GT on such a contig has no
  known scale (Hail reads '.' and './.' alike): one error naming field and site.
- An antidepressant anywhere in the record makes no control, for the antidepressant that forms no
  trial (tests/data/field_cases/omop/records-outside-observation-esketamine, by hand): the control
  rule read the trial ingredients only, so an esketamine record (the somatic definition's drug,
  licensed for treatment-resistant depression) without a depression code left a control. Its test
  runs in test_field_cases_omop's shared phenotype run (session 54: one chain run fewer).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, plink2_fileset, run_case, run_scores

from trd_spark.errors import InputDataError

MULTIALLELIC = "multiallelic-effect-is-ref"
HAPLOID_DS = "partial-dosage-field-haploid"

# multiallelic-effect-is-ref's VCF (chr4; samples 1001..1006) as calls per site.
_SITES = [
    (1_000_000, ["A", "G", "C"], ["0/0", "0/1", "0/2", "1/2", "2/2", "1/1"]),
    (2_000_000, ["C", "T"], ["0/1", "0/0", "1/1", "0/1", "0/0", "0/1"]),
    (3_000_000, ["G", "A", "T"], ["0/1", "0/2", "1/1", "1/2", "0/0", "2/2"]),
]
_SAMPLES = ["1001", "1002", "1003", "1004", "1005", "1006"]
# Each sample's hom-ref stretches as reference blocks (start, END): 1001 is hom-ref at 1000000
# only, 1002 at 2000000, 1005 at both 2000000 and 3000000 (ONE block); blocks start before and
# end after the sites, as gVCF blocks do. No block overlaps the sample's own variant calls.
_REF_BLOCKS = {
    "1001": [(900_000, 1_999_999)],
    "1002": [(1_500_000, 2_999_999)],
    "1005": [(1_000_001, 3_500_000)],
}


def write_local_allele_vds(hl, path: str) -> None:
    """multiallelic-effect-is-ref as an All of Us style VDS: LA = [0, alts carried], LGT into LA."""
    var_rows, ref_rows = [], []
    for pos, alleles, calls in _SITES:
        for s, gt in zip(_SAMPLES, calls, strict=True):
            a, b = (int(x) for x in gt.split("/"))
            if (a, b) == (0, 0):
                continue
            la = [0, *sorted({a, b} - {0})]
            var_rows.append({"locus": hl.Locus("chr4", pos, "GRCh38"), "alleles": alleles, "s": s,
                             "LGT": hl.Call([la.index(a), la.index(b)]), "LA": la})
    for s in _SAMPLES:  # a one-base block far off for every sample: each is a column of both parts
        for start, end in [(100, 100), *_REF_BLOCKS.get(s, [])]:
            ref_rows.append({"locus": hl.Locus("chr4", start, "GRCh38"), "s": s, "END": end})
    locus = hl.tlocus("GRCh38")
    var = hl.Table.parallelize(var_rows, hl.tstruct(locus=locus, alleles=hl.tarray(hl.tstr), s=hl.tstr,
                                                    LGT=hl.tcall, LA=hl.tarray(hl.tint32)))
    ref = hl.Table.parallelize(ref_rows, hl.tstruct(locus=locus, s=hl.tstr, END=hl.tint32))
    var_mt = var.to_matrix_table(row_key=["locus", "alleles"], col_key=["s"])
    ref_mt = ref.to_matrix_table(row_key=["locus"], col_key=["s"])
    ref_mt = ref_mt.annotate_rows(ref_allele=hl.literal({p: al[0] for p, al, _ in _SITES}).get(
        ref_mt.locus.position, "N"))
    hl.vds.VariantDataset(ref_mt, var_mt).write(path)


def test_vds_with_local_alleles_and_long_reference_blocks_scores_the_ref_effect_allele(hl, spark, tmp_path):
    """multiallelic-effect-is-ref from an All of Us style VDS (local alleles, multi-position
    reference blocks): the same expected.tsv as the VCF (REF dosage = 2 - every alt's copies;
    hand + plink2)."""
    write_local_allele_vds(hl, str(tmp_path / "g.vds"))
    cfg = case_config(tmp_path, str(tmp_path / "g.vds"), f"{CASES / MULTIALLELIC}/scores/*", fmt="vds")
    assert_expected(run_scores(hl, spark, cfg), MULTIALLELIC)


@pytest.mark.parametrize("shape", ["vcf", "pgen"])
def test_haploid_dosages_are_on_the_haploid_scale_as_plink2_reads_them(hl, spark, tmp_path, shape):
    """partial-dosage-field-haploid with dosage_field DS: a haploid call's DS doubled (chrX males,
    chrM), a diploid call's as given (expected.tsv, hand + plink2). Before: PGS991901 1001 1.525,
    not 2.15 (chrX DS 1 counted 1 copy, chrM DS 1 half of plink2's one copy). The pgen (plink2's
    import, dosages stored on the diploid scale in steps of 1/16384) through the native engine
    gives the same sums."""
    if shape == "vcf":
        got = run_case(hl, spark, tmp_path, HAPLOID_DS, extra_genotypes=", dosage_field: DS")
        assert_expected(got, HAPLOID_DS, haploid=True)
        return
    path = plink2_fileset(CASES / HAPLOID_DS / "genotypes" / "data.vcf", tmp_path / "g", "pgen", "dosage=DS")
    got = run_scores(hl, spark, case_config(tmp_path, path, f"{CASES / HAPLOID_DS}/scores/*", fmt="pgen"))
    assert_expected(got, HAPLOID_DS, tolerance=1e-3, haploid=True)


@pytest.mark.parametrize("entry, match", [
    (".:0", r"dosage field DS at chrX:3000000 A,G is given beside a missing GT, and the sample's called GTs on "
            r"this contig are not of one ploidy \(0\.\.1 or 0\.\.2 scale unknown\); plink2 reads the GT's text: "
            r"convert with plink2 --vcf FILE dosage=DS --make-pgen, format: pgen$"),
    ("1:1.5", r"dosage field DS outside \[0, 1 \(haploid call\)\] at chrX:3000000 A,G"),
], ids=["no-called-gt", "haploid-above-1"])
def test_a_haploid_contig_dosage_of_unknown_scale_or_above_one_is_one_error(hl, spark, tmp_path, entry, match):
    """1002's chrX entry '0:0' becomes a DS beside a missing GT (its scale, 0..1 or 0..2, unknown;
    plink2 refuses a DS without GT on chrX) or a haploid DS of 1.5 (3 copies once doubled)."""
    text = (CASES / HAPLOID_DS / "genotypes" / "data.vcf").read_text()
    row = next(line for line in text.splitlines() if line.startswith("chrX"))
    fields = row.split("\t")
    fields[10] = entry
    vcf = Path(tmp_path / "data.vcf")
    vcf.write_text(text.replace(row, "\t".join(fields)))
    cfg = case_config(tmp_path, str(vcf), f"{CASES / HAPLOID_DS}/scores/*", extra_genotypes=", dosage_field: DS")
    with pytest.raises(InputDataError, match=match) as e:
        run_scores(hl, spark, cfg)
    assert "\n" not in str(e.value)


_VCF_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chrX,length=156040895>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Estimated alternate allele dosage">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003
"""


def test_a_dosage_beside_a_missing_gt_in_chrx_par_is_diploid_and_elsewhere_names_plink2s_import(hl, tmp_path):
    """chrX's pseudo-autosomal regions are diploid for everyone: a DS beside a missing GT there
    is read as given (plink2 reads './.:1.4' as 1.4 too), where session 19 stopped the read
    (review of session 19: a woman's, or a PAR, missing call with a DS is valid data). Outside
    them the scale is unknown to Hail ('.' and './.' read alike) but not to plink2, whose import
    the error names; a file with no GT field at all is refused as plink2 refuses it."""
    from trd_spark.pgs.genotypes import contig_recoding, to_biallelic_dosage

    def dosages(rows: str, fmt: str = "GT:DS"):
        vcf = tmp_path / "par.vcf"
        header = _VCF_HEADER if "GT" in fmt else _VCF_HEADER.replace(_VCF_HEADER.splitlines(True)[2], "")
        vcf.write_text(header + "".join(f"chrX\t{pos}\t.\tA\tG\t.\tPASS\t.\t{fmt}\t{entries}\n"
                                             for pos, entries in rows))
        mt = hl.import_vcf(str(vcf), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
        ds = to_biallelic_dosage(hl, mt, where="t", dosage_field="DS")
        return {(r.locus.position, r.s): r.DOSAGE for r in ds.entries().collect()}

    par = [(2_000_000, "./.:1.4\t0/1:1\t1:0.5")]  # PAR1 (chrX:10,001-2,781,479 on GRCh38)
    assert dosages(par) == {(2_000_000, "1001"): 1.4, (2_000_000, "1002"): 1.0, (2_000_000, "1003"): 1.0}
    with pytest.raises(Exception, match=r"at chrX:3000000 A,G is given beside a missing GT, .*--make-pgen"):
        dosages([*par, (3_000_000, "./.:1.4\t0/1:1\t1:0.5")])
    with pytest.raises(Exception, match=r"at chrX:3000000 A,G is given without a GT field .*\(plink2 refuses"):
        dosages([(3_000_000, "1.4\t1\t0.5")], fmt="DS")
