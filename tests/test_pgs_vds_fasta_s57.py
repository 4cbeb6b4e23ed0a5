"""PGS session 57 (helper pgsvds2): ``pgs.reference_fasta`` on a VDS's own records.

Until now a VDS, densified at the score loci alone, read its variant data's records near the
score's indels apart (``matching.shifted_rows_near``) and only counted them
(``not_found_unnormalised``): with the FASTA only the score's side moved. Now, with the FASTA, the
written loci of those records are densified too (``matching.loci_table``'s ``also``), so they are
collected, left-aligned (``matching.left_aligned_rows``) and matched as on the VCF route.

The calls are test_pgs_reference_fasta_s56's (a multi-allelic record shifted right, records shifted
100 and 101 bases) and test_pgs_reference_fasta_s57's (records anchored on their right, the score's
own indels written not left-aligned), each written as a VCF and as a VDS whose variant data carry
local alleles (``LA``: REF and the alleles the sample carries, ``LGT`` indexing them, as GVS writes
All of Us's srWGS VDS). Oracles: the VCF route on the same calls and plink2 ``--score`` on them
left-aligned by hand (the modules' ``plink2_sums``).
"""

from __future__ import annotations

import shutil

import pytest
import test_pgs_reference_fasta_s56 as s56
import test_pgs_reference_fasta_s57 as s57

# (module, score file name, (position, effect allele) as the score file writes them -> match type with
# the FASTA, the note's counts)
CASES = {
    "s56": (s56, "PGS995602.txt", {(r[0], r[1]): r[4] for r in s56.ROWS},
            {"genotype_records": 4, "score_indels": 0, "matched_by_score": {"PGS995602": 4}}),
    "s57": (s57, "PGS995703.txt", {(r[0], r[1]): r[4] for r in s57.ROWS},
            {"genotype_records": 4, "score_indels": 2, "matched_by_score": {"PGS995703": 5}}),
}


def write_local_vds(hl, vcf: str, path: str) -> None:
    """The VCF as a VDS: hom-ref calls one-base reference blocks; other calls in the variant data
    with local alleles (``LA``: 0 and the alleles of the call, ascending; ``LGT`` their indices)."""
    mt = hl.import_vcf(vcf, reference_genome="GRCh38").select_rows().select_entries("GT")
    ref = mt.filter_entries(hl.is_defined(mt.GT) & mt.GT.is_hom_ref())
    ref = ref.annotate_rows(ref_allele=ref.alleles[0]).key_rows_by("locus").select_rows("ref_allele")
    ref = ref.select_entries(END=ref.locus.position)
    var = mt.filter_entries(hl.is_defined(mt.GT) & ~mt.GT.is_hom_ref())
    la = hl.sorted(hl.array(hl.set([0, var.GT[0], var.GT[1]])))
    var = var.select_entries(LA=la, LGT=hl.call(la.index(var.GT[0]), la.index(var.GT[1])))
    hl.vds.VariantDataset(ref, var).write(path)


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is the oracle")
@pytest.mark.parametrize("case", sorted(CASES))
def test_vds_records_left_aligned_and_scored_as_the_vcf(hl, spark, tmp_path, case):
    """With ``pgs.reference_fasta`` the VDS route matches what the VCF route matches on the same
    calls (every moved record's score variant; the multi-allelic record's REF dosage from its
    local alleles), its manifest note counts the same records, score indels and variants, and
    its sums equal the VCF route's and plink2's on the hand-left-aligned calls. Before this commit
    the VDS's records near the score's indels were never densified: s56 3 not_found_unnormalised
    and one not_found, s57 3 not_found, note 0 records; sums off."""
    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage

    module, score_name, types, note = CASES[case]
    (tmp_path / "ref.fa").write_text(s56.fasta_text())
    want = module.plink2_sums(tmp_path)
    (tmp_path / "d.vcf").write_text(module.vcf(False))
    write_local_vds(hl, str(tmp_path / "d.vcf"), str(tmp_path / "d.vds"))
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / score_name).write_text(module.SCORE)
    sums = {}
    for fmt in ("vcf", "vds"):
        run = tmp_path / f"run_{fmt}"
        run.mkdir()
        cfg = case_config(run, str(tmp_path / f"d.{fmt}"), f"{tmp_path}/scores/*.txt", fmt=fmt,
                          extra_pgs=f"  reference_fasta: {tmp_path / 'ref.fa'}\n  missing_genotypes: zero\n")
        r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
        sites = r.frame.sites
        got = dict(zip(zip(sites["pos"].astype(int), sites["effect_allele"]), sites["match_type"]))
        assert got == types, fmt
        assert r.left_aligned == note, fmt
        scores = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
        sums[fmt] = {int(p): float(s) for p, s in zip(scores["person_id"], scores["score_sum"], strict=True)}
    assert sums["vds"] == pytest.approx(sums["vcf"], abs=1e-9)
    assert sums["vds"] == pytest.approx(want, abs=1e-6)
    assert sorted(want) == [1001, 1002, 1003]
