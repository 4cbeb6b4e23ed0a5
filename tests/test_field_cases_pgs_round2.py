"""PGS field cases, round 2 (session 12): more inputs of the shared field-case kinds
(tests/data/field_cases/pgs/<kind>-<variant>), each with a hand-worked (and, where plink2 reads
the same file, plink2-checked) expected.tsv, run through the stage's own read -> match -> score
functions (``test_field_cases_pgs.run_scores``) on the session's Spark/Hail.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_field_cases_pgs import (
    CASES,
    assert_expected,
    case_config,
    plink2_fileset,
    run_case,
    run_scores,
    split_like_bcftools,
)
from test_pgs_genotypes import write_vds

from trd_spark.pgs.matching import minimal_alleles

NONMINIMAL = "multiallelic-nonminimal-indel"


@pytest.mark.parametrize("shape", ["vcf", "mt", "vds", "pgen", "split_vcf", "split_bed"])
def test_non_minimal_indels_score_as_plink2_in_every_format(hl, spark, tmp_path, shape):
    """multiallelic-nonminimal-indel: AT>ATT,A, ATT>AT and ACT>A,ACGT scored from alleles as the
    VCF writes them (plink2's sums), in minimal form, and with a REF effect allele losing every
    alt of its record whatever minimal REF Hail's split gave each (expected.tsv). Before: the
    non-minimal forms were not_found on Hail inputs (all of PGS990101 0) and AT/A as REF effect
    allele scored 2 - deletion copies only. The pgen keeps the multi-allelic rows whole (no
    min_rep: the matcher min-reps both sides); the split shapes have one line per alt
    (``bcftools norm -m-`` without -f: each keeps the record's REF). The VDS keeps the VCF's
    rows in its variant data: before session 13 its score-loci filter (on the written locus)
    dropped ACT>A,ACGT at 2200000, so PGS990103's C/CG at 2200001 was not_found there (scored
    alone: the other scores put 2200000 among the score loci)."""
    src = CASES / NONMINIMAL / "genotypes" / "data.vcf"
    scores = f"{CASES / NONMINIMAL}/scores/*"
    if shape == "vcf":
        assert_expected(run_case(hl, spark, tmp_path, NONMINIMAL), NONMINIMAL)
        return
    if shape == "mt":
        hl.import_vcf(str(src), reference_genome="GRCh38").write(str(tmp_path / "g.mt"))
        path, fmt = str(tmp_path / "g.mt"), "mt"
    elif shape == "vds":
        # PGS990103 alone: the other scores put 2200000 among the score loci.
        write_vds(hl, hl.import_vcf(str(src), reference_genome="GRCh38"), str(tmp_path / "g.vds"))
        cfg = case_config(tmp_path, str(tmp_path / "g.vds"), f"{CASES / NONMINIMAL}/scores/PGS990103*", fmt="vds")
        assert_expected(run_scores(hl, spark, cfg), NONMINIMAL, pgs_ids=["PGS990103"])
        return
    elif shape == "split_vcf":
        (tmp_path / "split.vcf").write_text(split_like_bcftools(src.read_text()))
        path, fmt = str(tmp_path / "split.vcf"), "vcf"
    elif shape == "split_bed":
        (tmp_path / "split.vcf").write_text(split_like_bcftools(src.read_text()))
        path, fmt = plink2_fileset(tmp_path / "split.vcf", tmp_path / "g", "plink"), "plink"
    else:
        path, fmt = plink2_fileset(src, tmp_path / "g", "pgen"), "pgen"
    assert_expected(run_scores(hl, spark, case_config(tmp_path, path, scores, fmt=fmt)), NONMINIMAL)


def test_minimal_alleles_is_hails_min_rep(hl):
    """``matching.minimal_alleles`` (pandas) gives what ``hl.min_rep`` gives: suffix trimmed
    first, then prefix (moving the position); SNVs, minimal indels, ``*`` and missing alleles
    unchanged."""
    pairs = [("AT", "ATT"), ("AT", "A"), ("ATT", "AT"), ("ACT", "ACGT"), ("TAA", "TA"), ("AATAA", "AACAA"),
             ("A", "G"), ("A", "*"), ("CA", "TA"), ("GCA", "GTA"), ("ACTTT", "ACTTTT")]
    want = hl.eval([hl.min_rep(hl.locus("chr1", 100, "GRCh38"), [r, a]) for r, a in pairs])
    pos, ref, alt = minimal_alleles(np.full(len(pairs), 100), np.array([r for r, _ in pairs], dtype=object),
                                    np.array([a for _, a in pairs], dtype=object))
    assert [(int(p), r, a) for p, r, a in zip(pos, ref, alt)] == [
        (w.locus.position, w.alleles[0], w.alleles[1]) for w in want]
    pos, ref, alt = minimal_alleles(np.array([5]), np.array([None], dtype=object), np.array(["AT"], dtype=object))
    assert (int(pos[0]), ref[0], alt[0]) == (5, None, "AT")



def test_two_rsids_placed_on_one_variant_are_a_duplicate(hl, spark, tmp_path):
    """scoring-file-swapped-duplicate-rsid-synonyms: rs100 and rs999 (A/G both) of one rsID-only
    score land on the same genotype row (the VCF's split chr7:1000000 carries both IDs): a
    variant listed twice, an error at the later line, or with duplicate_variants: first the
    first row only (before: both weights summed, 3 matched)."""
    from trd_spark.errors import InputDataError

    case = "scoring-file-swapped-duplicate-rsid-synonyms"
    with pytest.raises(InputDataError, match=r"rsIDs rs100 \(line 5\) and rs999 are one variant.*chr7:1000000 A/G") as e:
        run_case(hl, spark, tmp_path, case, extra_pgs="  match_rsid: true")
    assert e.value.where.endswith("PGS990201.txt.gz:7")
    got = run_case(hl, spark, tmp_path, case, extra_pgs="  match_rsid: true\n  duplicate_variants: first")
    assert_expected(got, case)

def test_rsid_in_a_vcf_id_list_places_the_score_row(hl, spark, tmp_path):
    """The same case with the rs200 row's VCF ID written as a list, "rs7777;rs200" (VCF 4.3
    1.6.1: semicolon-separated IDs; merged rsIDs): rs200 is still that row's (before: the ID
    compared as one string, rs200 not found, its weight left out of every sum)."""
    case = "scoring-file-swapped-duplicate-rsid-synonyms"
    text = (CASES / case / "genotypes" / "data.vcf").read_text()
    assert text.count("\trs200\t") == 1
    vcf = tmp_path / "ids.vcf"
    vcf.write_text(text.replace("\trs200\t", "\trs7777;rs200\t"))
    got = run_case(hl, spark, tmp_path, case, genotypes=str(vcf),
                   extra_pgs="  match_rsid: true\n  duplicate_variants: first")
    assert_expected(got, case)


def test_harmonised_missing_other_allele_is_hm_infer_other_allele(hl, spark, tmp_path):
    """scoring-file-infer-other-allele: a harmonised file's empty other_allele is its
    hm_inferOtherAllele when that is one allele, as pgsc_calc (pgscatalog-core) reads it;
    "A/T" alternatives stay missing. Before session 13 the column was ignored: A (inferred
    other C) at a C>T locus was matched on the effect allele alone as the strand flip of T and
    the T copies got its weight (expected.tsv: 2.0 2.75 0.5 1.5, 3 matched; plink2 and hand:
    1 0.75 0.5 0.5, 2 matched)."""
    from trd_spark.pgs.scoring_files import read_scoring_file

    case = "scoring-file-infer-other-allele"
    sf = read_scoring_file(str(next((CASES / case / "scores").iterdir())))
    assert sf.variants["other_allele"].tolist() == ["C", "G", None]
    assert any("2 variants without other_allele take hm_inferOtherAllele" in n for n in sf.notes)
    assert_expected(run_case(hl, spark, tmp_path, case), case)


# ---- variants already right (kept as regression tests; parsing only) ---------------------------

HEADER = "#pgs_id=PGS1\n#genome_build=GRCh38\n{h}chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


@pytest.mark.parametrize("header, weight, want", [
    ("#weight_type=BETA\n", "0.2", 0.2),  # case-insensitive
    ("#weight_type=Beta\n", "0.2", 0.2),
    ("#weight_type=\n", "0.2", 0.2),  # empty: not reported, summed as given
    ("#weight_type=Odds Ratio\n", "2", 0.6931471805599453),  # ln(OR)
], ids=["BETA", "Beta", "empty", "odds-ratio-spelled"])
def test_weight_type_spellings(header, weight, want):
    from trd_spark.pgs.scoring_files import parse_scoring_file

    sf = parse_scoring_file(HEADER.format(h=header) + f"1\t100\tA\tG\t{weight}\n", source="s.txt")
    assert sf.variants["effect_weight"].tolist() == [pytest.approx(want)]


@pytest.mark.parametrize("weight, line", [("NA", 5), ("", 5), ("0,5", 5)], ids=["NA", "empty", "decimal-comma"])
def test_a_weight_that_is_no_number_is_one_error_at_its_line(weight, line):
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    with pytest.raises(InputDataError, match="weight is not a finite number") as e:
        parse_scoring_file(HEADER.format(h="#weight_type=NR\n") + f"1\t100\tA\tG\t{weight}\n", source="s.txt")
    assert e.value.where == f"s.txt:{line}"


def test_harmonised_rows_without_a_position_are_counted_unplaced():
    """PGS Catalog hmPOS files leave hm_chr/hm_pos empty for variants the harmonisation could
    not map (hm_source, hm_inferOtherAllele present): kept unplaced (never matched, counted as
    not found, as pgsc_calc drops them), with a note; the mapped rows use hm_chr/hm_pos."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = ("#pgs_id=PGS1\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\nrsID\tchr_name\tchr_position\teffect_allele\t"
            "other_allele\teffect_weight\thm_source\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele\n"
            "rs1\t1\t100\tA\tG\t0.1\tENSEMBL\trs1\t1\t1100\t\n"
            "rs2\t1\t200\tC\tT\t0.2\tUnmapped\t\t\t\t\n"
            "rs3\t1\t300\tG\t\t0.3\tENSEMBL\trs3\t1\t1300\tA\n")
    sf = parse_scoring_file(text, source="h.txt")
    assert sf.positions_from == "harmonised" and sf.n_unplaced == 1
    assert sf.variants["pos"].tolist()[0::2] == [1100, 1300] and sf.variants["chrom"].tolist()[1] is None
    assert any("1 variant has no position on GRCh38" in n for n in sf.notes)
