"""PGS field cases, round 25 (session 35, helper pgs25): the three scoring-file rows left alone.

Each decided on pgsc_calc's own code (pgscatalog-core 1.1.1, installed: models.py and
_normalise.py) and plink2 2.00a3.5 as the oracle.

- An ``other_allele`` listing alternatives (``G/T``): the PGS Catalog format's "other allele(s)"
  (pgscatalog-core's ``CatalogScoreVariant.other_allele``). pgsc_calc reads it as no other allele
  (``_normalise.assign_other_allele``: set missing, a WARNING) and matches on the effect allele.
  It was an error at its line, so the whole score went unread. Now read as pgsc_calc reads it, as
  any row without other_allele, in a counted note (tests/data/field_cases/pgs/
  scoring-file-other-allele-list, hand + plink2).
- A DNA effect allele on a row flagged ``is_haplotype`` / ``is_diplotype``: the weight belongs to
  a haplotype, not to a single SNP (the Catalog's column definition), and pgscatalog-core's
  ``ScoreVariant.is_complex`` is true for it. pgsc_calc sums it as its SNP, with only a
  file-level "Complex scoring file detected" warning. It was an error at its line. Now it is left
  out like the complex alleles of round 24: counted in n_variants / n_not_found, with a note that
  names the difference from pgsc_calc (its sums would add the SNP's dosage x weight).
- ``is_dominant`` / ``is_recessive`` rows: plink2 ``--score`` does have these modes (its
  ``dominant`` / ``recessive`` modifiers), and pgsc_calc scores such rows with them
  (pgscatalog-core's ``check_effect_type`` refuses only dosage-specific weights). Refused here
  in session 35; scored with plink2's models since session 36 (round 27).

- A row of an author-positions file (no harmonised columns, or read on its ``#genome_build``) with
  an rsID and no chr_name/chr_position: pgscatalog-core's ``check_position`` takes it (an rsID
  without coordinates; it then matches nothing and counts in pgsc_calc's match rate), but it made
  the whole file an error here, while a harmonised file's unplaced rows were already counted as
  not found. Now it is counted the same way. A row with neither is still an error (it is one in
  pgscatalog-core too). A file none of whose rows has a position is an rsID-only file, and gets
  that error.

Parse-level cases (no Spark) unless said otherwise; each file is hand-written.
"""

from __future__ import annotations

import logging

import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, published_frame

from trd_spark.errors import InputDataError
from trd_spark.pgs import stage
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

LIST_CASE = "scoring-file-other-allele-list"
HEAD = ("#pgs_id=PGS992502\n#genome_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_haplotype\tis_diplotype\n")
SNP = "rs1\t1\t100\tA\tG\t0.5\t\t\n"


def test_other_allele_lists_are_read_as_no_other_allele():
    """The case's file: lines 11 and 12 (other_allele 'G/T', 'T/G') keep their effect allele and
    weight, with no other allele, in one note naming the lists; line 13 as before. Before: one
    InputDataError at line 11 (allele must contain only A/C/G/T)."""
    sf = read_scoring_file(str(CASES / LIST_CASE / "scores" / "PGS992501.txt"))
    v = sf.variants
    assert v["line"].tolist() == [11, 12, 13]
    assert v[["pos", "effect_allele", "other_allele", "effect_weight"]].astype(object).values.tolist() == [
        [1000, "A", None, 0.5], [2000, "C", None, -0.4], [3000, "G", "A", 1.0]]
    notes = [n for n in sf.notes if "other_allele lists" in n]
    assert notes == ["2 variant rows whose other_allele lists alternatives ('G/T', 'T/G') read without other_allele "
                     "(matched on the effect allele), as pgsc_calc reads them"]


@pytest.mark.parametrize("other, kept", [
    ("G/T", None), ("g/t/c", None), ("AT/A", None), ("G", "G"),
], ids=["two", "three-lower-case", "indels", "one"])
def test_each_other_allele_list_shape(other, kept):
    """pgscatalog-core's rule is '/' in the text (``Allele.has_multiple_alleles``): any list of
    sequences, in any case, is no other allele; a single allele is kept."""
    sf = parse_scoring_file(HEAD + f"rs2\t1\t200\tA\t{other}\t0.1\t\t\n", source="s.txt")
    assert sf.variants["other_allele"].tolist() == [kept]


def test_a_listed_other_allele_is_not_filled_from_hm_infer_other_allele():
    """A harmonised file's row with other_allele 'G/T' and hm_inferOtherAllele 'C' (session 35
    reader's finding 2): pgsc_calc's remap_harmonised fills only an absent other allele (the list
    is there then) and assign_other_allele blanks the list afterwards, so the row has none. It
    was read as A/C, beside the note saying it had no other allele. A row without one is still
    filled (rs2: T inferred)."""
    text = ("#pgs_id=PGS992505\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n#weight_type=beta\n"
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_rsID\thm_chr\thm_pos\t"
            "hm_inferOtherAllele\n"
            "rs1\t1\t100\tA\tG/T\t0.5\trs1\t1\t1100\tC\n"
            "rs2\t1\t200\tC\t\t0.2\trs2\t1\t1200\tT\n")
    sf = parse_scoring_file(text, source="s.txt")
    assert sf.variants[["pos", "effect_allele", "other_allele"]].astype(object).values.tolist() == [
        [1100, "A", None], [1200, "C", "T"]]
    assert any("1 variant row whose other_allele lists alternatives ('G/T')" in n for n in sf.notes), sf.notes


@pytest.mark.parametrize("other", ["G/-", "G/", "/G", "G/N"])
def test_a_list_holding_no_sequence_stays_one_error_at_its_line(other):
    """A list with a part that is no A/C/G/T sequence is no list of alleles: the line error it
    was (round 5's decision for such codes kept)."""
    with pytest.raises(InputDataError, match="column other_allele: allele must contain only A/C/G/T") as e:
        parse_scoring_file(HEAD + SNP + f"rs2\t1\t200\tA\t{other}\t0.1\t\t\n", source="s.txt")
    assert e.value.where == "s.txt:5"


def test_the_case_scores_as_plink2_and_counts_the_haplotype_row_as_not_found(hl, spark, tmp_path, caplog):
    """The stage's read -> match -> score on the case's VCF: expected.tsv (plink2 --score's sums
    of rs1-rs3, -0.3 1.6 1.6 1.5), the two list rows matched (ref_alt, on their effect allele),
    the is_haplotype row (line 14) counted: n_variants 4, n_matched 3, n_not_found 1, its note a
    WARNING. Before: one InputDataError, nothing scored."""
    folder = CASES / LIST_CASE
    cfg = case_config(tmp_path, str(folder / "genotypes" / "data.vcf"), f"{folder}/scores/*")
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.stage"):
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
    messages = [r.getMessage() for r in caplog.records]
    assert any("PGS992501: 1 variant row of a DNA effect allele flagged is_haplotype" in m for m in messages)
    assert any("PGS992501: 2 variant rows whose other_allele lists alternatives" in m for m in messages)
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    row = r.summary.iloc[0]
    assert (row["n_variants"], row["n_matched"], row["n_not_found"]) == (4, 3, 1)
    assert_expected(published_frame(stage.scores_of_dataset(hl, spark, cfg, r)), LIST_CASE)


@pytest.mark.parametrize("row", [
    "rs2\t1\t200\tC\tT\t0.1\tTRUE\t\n",     # a SNP allele flagged is_haplotype
    "rs2\t1\t200\tC\tT\t0.1\tT\t\n",        # R's spelling
    "rs2\t1\t200\tCT\t\t0.1\tyes\t\n",      # two SNPs' alleles of 'rs2;rs3' written as one
    "rs2\t1\t200\tC\tT\t0.1\t\t1\n",        # is_diplotype
], ids=["snp", "R-T", "two-snp-alleles", "diplotype"])
def test_a_dna_row_flagged_haplotype_is_left_out_and_counted(row):
    """Beside one SNP (line 4, the score), the flagged row (line 5) is counted as a complex row
    in its own note, which names no allele. Before: one error at line 5 (non-additive)."""
    sf = parse_scoring_file(HEAD + SNP + row, source="s.txt")
    assert sf.n_complex_skipped == 1 and sf.variants["line"].tolist() == [4]
    assert [n for n in sf.notes if "flagged" in n] == [
        "1 variant row of a DNA effect allele flagged is_haplotype/is_diplotype (a haplotype's weight, not its one "
        "SNP's) left out: counted as not found in the match summary (pgsc_calc sums such a row as its SNP, with a "
        "'complex scoring file' warning)"]
    assert not any("complex effect allele" in n for n in sf.notes)


def test_a_file_of_flagged_rows_only_is_one_error():
    """Nothing left to score: one error at the first row, saying why (not 'no DNA allele')."""
    with pytest.raises(InputDataError, match="no variant row to score .* flagged is_haplotype/is_diplotype") as e:
        parse_scoring_file(HEAD + "rs2\t1\t200\tC\tT\t0.1\tTRUE\t\n", source="s.txt")
    assert e.value.where == "s.txt:4"


# (Round 25's test that dominant / recessive rows are one error naming the model is gone: since
# session 36 they are scored with plink2's models, tests/test_field_cases_round27_pgs.py.)


AUTHOR_HEAD = ("#pgs_id=PGS992504\n#genome_build=GRCh38\n"
               "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")
AUTHOR_ROWS = "rs1\t1\t1000\tA\tG\t0.5\nrs2\t\t\tC\tT\t-0.4\nrs3\t1\t3000\tG\tA\t1.0\n"


def test_an_author_row_with_an_rsid_and_no_position_is_counted_as_not_found():
    """Line 5 (rs2, no position) is kept unplaced and counted in the note every unplaced row
    gets. Before: one InputDataError at line 5 (chromosome/position missing)."""
    sf = parse_scoring_file(AUTHOR_HEAD + AUTHOR_ROWS, source="s.txt")
    assert sf.variants["line"].tolist() == [4, 5, 6] and sf.n_unplaced == 1
    assert sf.variants["chrom"].tolist() == ["1", None, "1"]
    assert "1 variant has no position on GRCh38 (counted as not found)" in sf.notes


@pytest.mark.parametrize("rows, message", [
    ("rs1\t1\t1000\tA\tG\t0.5\n\t\t\tC\tT\t-0.4\n", "chromosome/position missing, and no rsID"),
    ("rs1\t1\t1000\tA\tG\t0.5\nNR\t\t\tC\tT\t-0.4\n", "chromosome/position missing, and no rsID"),
    ("rs1\t\t\tA\tG\t0.5\nrs2\t\t\tC\tT\t-0.4\n", "no row has a chr_name/chr_position"),
], ids=["no-rsid", "rsid-NR", "no-row-placed"])
def test_rows_nothing_places_stay_one_error(rows, message):
    """No rsID either (pgscatalog-core's 'Bad position'): the line error, now saying so. A file
    none of whose rows is placed would have scored nothing: the rsID-only file's error at its
    first row (the harmonised file, or pgs.match_rsid)."""
    with pytest.raises(InputDataError, match=message) as e:
        parse_scoring_file(AUTHOR_HEAD + rows, source="s.txt")
    assert e.value.where == ("s.txt:4" if "no row" in message else "s.txt:5")


@pytest.mark.parametrize("match_rsid", [False, True])
def test_the_no_row_placed_error_asks_for_match_rsid_only_when_it_is_off(match_rsid):
    """With pgs.match_rsid already true the error said 'set pgs.match_rsid: true' all the same
    (session 35 reader's finding 11): it now says only to drop the empty columns then."""
    with pytest.raises(InputDataError) as e:
        parse_scoring_file(AUTHOR_HEAD + "rs1\t\t\tA\tG\t0.5\n", source="s.txt", match_rsid=match_rsid)
    assert ("set pgs.match_rsid: true" in str(e.value)) == (not match_rsid), str(e.value)
    assert "drop the empty columns" in str(e.value) and e.value.where == "s.txt:4"


@pytest.mark.parametrize("extra_pgs", ["", "  match_rsid: true"])
def test_an_unplaced_author_row_scores_as_plink2_without_it(hl, spark, tmp_path, extra_pgs):
    """The stage on the case's VCF: rs1 and rs3 scored (plink2 --score of those two: 0.5 2 2
    1.5), rs2 counted: n_variants 3, n_matched 2, n_not_found 1. Also with pgs.match_rsid: true
    (round 26), though the VCF's rs2 row (chr1:2000, ID rs2) could place it: rs2 stays not
    found, as pgsc_calc's matcher (pygscatalog match, lib/_match/match.py) joins on chr_name,
    chr_position and the alleles with no rsID key. Before (f7d6547): one error at the file's
    line 5 either way."""
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS992504.txt").write_text(AUTHOR_HEAD + AUTHOR_ROWS)
    cfg = case_config(tmp_path, str(CASES / LIST_CASE / "genotypes" / "data.vcf"), f"{tmp_path}/scores/*",
                      extra_pgs=extra_pgs)
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    row = r.summary.iloc[0]
    assert (row["n_variants"], row["n_matched"], row["n_not_found"]) == (3, 2, 1)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r)).set_index("person_id")
    assert got["score_sum"].to_dict() == pytest.approx({1001: 0.5, 1002: 2.0, 1003: 2.0, 1004: 1.5}, abs=1e-9)
    assert got["n_matched"].tolist() == [2, 2, 2, 2]
