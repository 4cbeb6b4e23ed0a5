"""Mutation review of session 35's code (session 36 helper "review"): tests that kill hand mutants
which survived the existing tests. Each test names the mutant it kills; all are seconds and reuse
the existing fixtures and hand-written data.
"""

from __future__ import annotations

from trd_spark.pgs.scoring_files import parse_scoring_file

HAPLOTYPE_HEAD = ("#pgs_id=PGS993601\n#genome_build=GRCh38\n"
                  "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_haplotype\n")


def test_a_file_with_a_complex_allele_and_a_flagged_dna_row_leaves_both_out():
    """A Catalog score with an APOE allele row (complex allele, round 24) and a DNA row flagged
    is_haplotype (a haplotype's weight on one SNP, round 25), beside a plain SNP: both left out
    and counted (n_complex_skipped 2), each in its own note, the complex note naming only the
    complex allele (not the flagged row's 'C'). Kills two mutants of cd8d3c9 that every round 24/25
    test let through, because none mixes the two kinds: ``complex_allele_rows`` returning
    ``not_dna & marked`` without ``| flagged`` once a non-DNA allele is present (the flagged row then
    fell to the non-additive check: one error, the whole score unread) and the note's shown alleles
    taken from every complex row (it named 'C' as a complex allele)."""
    sf = parse_scoring_file(HAPLOTYPE_HEAD + "rs1\t1\t100\tA\tG\t0.5\t\n"
                            "APOE\t19\t\tAPOE_e2\t\t-0.5\tTRUE\n"
                            "rs429358\t19\t44908684\tC\tT\t0.3\tTRUE\n", source="s.txt")
    assert sf.variants["line"].tolist() == [4] and sf.n_complex_skipped == 2
    assert [n for n in sf.notes if "complex effect allele" in n] == [
        "1 variant row with a complex effect allele ('APOE_e2': HLA/APOE alleles or haplotypes, in no genotype "
        "file) left out: counted as not found in the match summary, as pgsc_calc leaves them unmatched"]
    assert [n for n in sf.notes if "flagged" in n] == [
        "1 variant row of a DNA effect allele flagged is_haplotype/is_diplotype (a haplotype's weight, not its one "
        "SNP's) left out: counted as not found in the match summary (pgsc_calc sums such a row as its SNP, with a "
        "'complex scoring file' warning)"]


def test_every_chromosome_code_is_read_in_any_case():
    """``normalise_chrom`` reads the chromosome codes (numbers, X, Y, XY, M, MT, PAR1, PAR2) in any
    case and keeps any other contig's letters (dbf7fb5). Round 26's test spells only x, mt, xy
    and par2 in lower case: a mutant dropping Y (or PAR1, or MT...) from ``_PRIMARY_CHROM`` read
    'chry' as 'y', which matches no genotype contig (the row silently unplaced), and passed."""
    import pandas as pd

    from trd_spark.pgs.scoring_files import normalise_chrom

    codes = ["chr1", "chr22", "x", "chry", "Xy", "m", "chrMt", "par1", "Par2", "chr023"]
    got = normalise_chrom(pd.Series(codes, dtype="string"))
    assert got.tolist() == ["1", "22", "X", "Y", "X", "MT", "MT", "X", "X", "X"]  # 023: PLINK's X code
