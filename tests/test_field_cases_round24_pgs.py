"""PGS field cases, round 24 (session 34, helper pgs24): new shapes of the known kinds.

- Scoring files holding complex alleles (tests/data/field_cases/pgs/scoring-file-complex-alleles,
  hand + plink2): the PGS Catalog curates APOE and HLA alleles (its guidelines' Appendix A,
  pgscatalog-core's VariantType) as rows whose effect allele is no DNA sequence ('e4',
  'APOE_e2', 'HLA-DRB1*15:01', the HLA presence code 'P', 'del'), often flagged is_haplotype, with
  no position. Such a row made the whole file an error, so a Catalog score with one APOE row
  could not be scored at all. pgsc_calc (pgscatalog-core's normalise: ``check_effect_allele``
  warns, ``detect_complex`` warns, neither drops without ``--drop_missing``, which pgsc_calc does
  not pass) keeps them; they match no target variant and count as unmatched in its match rate.
  Now they are left out of the variants, counted per score: a parse note (logged as a WARNING,
  manifest notes.scoring_file_notes) and, in the match summary, in n_variants and n_not_found
  (so matched_fraction and pgs.min_overlap read them as pgsc_calc's match rate does). One-letter
  codes that may be a typo or a fixable spelling of a sequence variant ('N', 'X', '-', PLINK 1's
  I/D) and 'A/G' lists stay one error at their line, unless the row is marked as a complex allele
  (variant_type, is_haplotype / is_diplotype, an HLA allele in rsID / hm_rsID).

Parse-level cases (no Spark) unless said otherwise; each file is hand-written.
"""

from __future__ import annotations

import logging

import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, published_frame

from trd_spark.errors import InputDataError
from trd_spark.pgs import stage
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

COMPLEX = "scoring-file-complex-alleles"
HEAD = ("#pgs_id=PGS990241\n#genome_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_haplotype\tis_diplotype\n")
SNP = "rs1\t1\t100\tA\tG\t0.5\t\t\n"


def test_complex_allele_rows_are_left_out_and_counted():
    """The case's file: 7 rows, the 4 complex ones (lines 15, 16, 17, 19: e4, P, N beside an HLA
    rsID, 'HLA-DRB1*15:01') left out and counted in one note naming their alleles; the 3 SNPs read
    as before (lines 14, 18, 20); #variants_number 7 counts all rows (no 'subset' note). Before:
    one InputDataError at line 15 (is_haplotype TRUE)."""
    sf = read_scoring_file(str(CASES / COMPLEX / "scores" / "PGS991341_hmPOS_GRCh38.txt"))
    v = sf.variants
    assert v["line"].tolist() == [14, 18, 20]
    assert v[["chrom", "pos", "effect_allele", "other_allele"]].astype(object).values.tolist() == [
        ["19", 44908684, "C", "T"], ["19", 44908822, "T", "C"], ["6", 32636595, "A", "G"]]
    assert sf.n_complex_skipped == 4
    notes = [n for n in sf.notes if "complex effect allele" in n]
    assert len(notes) == 1 and notes[0].startswith("4 variant rows with a complex effect allele ('e4', 'P', 'N', "
                                                   "'HLA-DRB1*15:01'")
    assert not any("variants_number" in n for n in sf.notes)


def test_complex_alleles_score_the_other_rows_as_plink2_and_count_as_not_found(hl, spark, tmp_path, caplog):
    """The stage's read -> match -> score on the case's VCF: expected.tsv (plink2 --score's sums of
    the 3 SNPs, 1.1 1.7 -1 0.6), the match summary n_variants 7 (the file's rows), n_matched 3,
    n_not_found 4 (the complex rows, as pgsc_calc counts them unmatched), matched_fraction 3/7,
    and the note as a WARNING. Before: one InputDataError, nothing scored."""
    folder = CASES / COMPLEX
    cfg = case_config(tmp_path, str(folder / "genotypes" / "data.vcf"), f"{folder}/scores/*")
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.stage"):
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
    assert any("PGS991341: 4 variant rows with a complex effect allele" in r.getMessage() for r in caplog.records)
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    row = r.summary.iloc[0]
    assert (row["n_variants"], row["n_matched"], row["n_not_found"]) == (7, 3, 4)
    assert row["matched_fraction"] == pytest.approx(3 / 7)
    assert stage.scoring_file_notes({"GRCh38": files})["PGS991341"]["GRCh38"][0].startswith("4 variant rows with")
    assert_expected(published_frame(stage.scores_of_dataset(hl, spark, cfg, r)), COMPLEX)


@pytest.mark.parametrize("row", [
    "\t19\t\tAPOE_e2\t\t-0.5\tTRUE\t\n",          # pgscatalog-core's own example of a complex allele
    "\t19\t\te4\te3\t1.2\t\t\n",                    # named alleles, other allele named too
    "HLA-DQA1*01:02\t6\t\tP\t\t0.3\t\t\n",          # the HLA presence code
    "HLA-DQB1*06:02\t6\t\tN\t\t-0.3\t\t\n",         # 'N' beside an HLA allele in rsID
    "rs2\t6\t\tN\t\t-0.3\t\tTRUE\n",                # 'N' in a row flagged is_diplotype
    "rs3\t1\t300\tdel\t\t0.1\t\t\n",                # 'del' / 'ins' (no sequence)
    "rs4\t19\t\te2/e3\t\t0.1\t\tTRUE\n",            # a diplotype written as a list, flagged
    "\t6\t\tHLA-DR4; HLA-DQ8/X\t\t1.95\t\tTRUE\n",  # an HLA serotype diplotype (PGS000021's shape)
    "\t6\t\tHLA-DRB1_86_V\t\t0.83\tFALSE\t\n",      # an HLA amino acid, not flagged (PGS004239's shape)
], ids=["apoe-e2", "e4-e3", "hla-P", "hla-N", "N-diplotype", "del", "diplotype-list", "hla-serotype", "hla-aa"])
def test_each_complex_allele_shape_is_left_out(row):
    """Each shape beside one SNP: the SNP (line 4) is the score, the complex row counted. The last
    two are the shapes of the Catalog's PGS000021 (HLA serotype diplotypes, is_diplotype TRUE) and
    PGS004239 (HLA amino acids, is_haplotype FALSE), pgscatalog-core's complex-variant test files,
    whose whole files parse now (8 and 9 such rows beside their SNPs; before: one error)."""
    sf = parse_scoring_file(HEAD + SNP + row, source="s.txt")
    assert sf.n_complex_skipped == 1 and sf.variants["line"].tolist() == [4]


@pytest.mark.parametrize("row, value", [
    ("rs2\t1\t200\tN\tG\t0.1\t\t\n", "N"),          # IUPAC 'any base' (no HLA context)
    ("rs2\t1\t200\tX\tG\t0.1\t\t\n", "X"),          # a typo
    ("rs2\t1\t200\tI\tD\t0.1\t\t\n", "I"),          # PLINK 1's insertion code
    ("rs2\t1\t200\t-\tA\t0.1\t\t\n", "-"),          # a dash deletion
    ("rs2\t1\t200\tA/G\t\t0.1\t\t\n", "A/G"),       # alternatives
], ids=["N", "X", "I", "dash", "list"])
def test_allele_codes_that_may_be_a_sequence_stay_one_error_at_their_line(row, value):
    """Unchanged (round 5's decision kept): a code of one character or a list, without a complex
    allele's mark, is one error at the line. (A DNA row flagged is_haplotype, an error here until
    session 35, is left out and counted: tests/test_field_cases_round25_pgs.py.)"""
    with pytest.raises(InputDataError) as e:
        parse_scoring_file(HEAD + SNP + row, source="s.txt")
    assert e.value.where == "s.txt:5"
    assert f"allele must contain only A/C/G/T (value {value!r}" in str(e.value)


def test_a_file_of_complex_alleles_only_is_one_error():
    """Nothing left to score (a file of APOE/HLA alleles, or a column read as the effect allele
    that holds no sequences): one error at its first row, not an empty score."""
    with pytest.raises(InputDataError, match="no variant row has a DNA effect allele") as e:
        parse_scoring_file(HEAD + "\t19\t\tAPOE_e2\t\t-0.5\tTRUE\t\nHLA-A*02:01\t6\t\tP\t\t0.3\t\t\n", source="s.txt")
    assert e.value.where == "s.txt:4"
