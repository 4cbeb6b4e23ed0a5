"""Field cases, round 7 (session 17): the scoring-file duplicate kind in the forms the file's own
check (one position, one allele pair in either order) cannot see, because only the genotypes tell
that two rows are one variant: the pair written on the other strand (A/G and T/C), the pair beside
its effect allele without the other allele (T/C and T), one indel in two representations (AT/A and
ATT/AT). Both rows matched the same genotype row and their weights were summed (or cancelled);
``matching.matched_duplicates`` now applies pgs.duplicate_variants to them. The same kind one level
up: two scoring files of one ``#pgs_id`` (``scoring_files.check_one_file_per_score``).

Cheap by design: one stage run on a 6-sample VCF (tests/data/field_cases/pgs/
scoring-file-swapped-duplicate-strand-forms; expected.tsv by hand and plink2 --score), the other
tests on pandas frames with no Hail pass.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, assert_expected, run_case

from trd_spark.errors import InputDataError

STRAND_FORMS = "scoring-file-swapped-duplicate-strand-forms"


def test_one_variant_in_two_forms_is_one_error_naming_both_lines(hl, spark):
    """PGS910701 line 9 (T/C at 7:1000000) is line 5 (A/G) on the other strand: the default
    policy (error) names the file, the later line and the first. The stage's matcher on the
    case's files, the VCF's rows read as text (the stage's Hail read of them is the slow part;
    the first-wins test below runs the whole stage)."""
    import gzip

    from trd_spark.pgs.matching import match_sites_frame, score_sites
    from trd_spark.pgs.scoring_files import read_scoring_file

    folder = CASES / STRAND_FORMS
    with gzip.open(folder / "genotypes" / "data.vcf.bgz", "rt") as f:
        records = [line.split("\t")[:5] for line in f if not line.startswith("#")]
    rows = pd.DataFrame({"contig": [r[0] for r in records], "position": [int(r[1]) for r in records],
                         "ref": [r[3] for r in records], "alt": [r[4] for r in records]})
    files = [read_scoring_file(str(p)) for p in sorted((folder / "scores").iterdir())]
    with pytest.raises(InputDataError, match=r"lines 5 \(A/G\) and 9 \(T/C\) are one variant in the genotypes "
                                             r"\(chr7:1000000 A>G\), listed twice") as e:
        match_sites_frame(score_sites(hl, spark, files, "GRCh38"), rows, keep_ambiguous=False)
    assert e.value.where.endswith(f"{STRAND_FORMS}/scores/PGS910701.txt:9")
    assert "\n" not in str(e.value)


def test_one_variant_in_two_forms_first_wins_scores_as_plink2(hl, spark, tmp_path):
    """pgs.duplicate_variants: first keeps the first line of each pair (PGS910701 line 5, PGS910702
    line 4); before, PGS910701 counted 0.3 twice on the A copies at 7:1000000 and PGS910702 0.5
    twice on the T copies at 7:2000000."""
    assert_expected(run_case(hl, spark, tmp_path, STRAND_FORMS, extra_pgs="  duplicate_variants: first"),
                    STRAND_FORMS)


HEADER = "#pgs_id=PGS990701\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
SNV = pd.DataFrame({"contig": ["chr1"], "position": [1000], "ref": ["A"], "alt": ["G"]})
INSERTION = pd.DataFrame({"contig": ["chr1"], "position": [1000], "ref": ["A"], "alt": ["AT"]})


def _weights(hl, spark, rows_text: str, rows: pd.DataFrame, policy: str, dropped: dict | None = None):
    """Slope sum, offset sum and n_vars sum of the matched weights; ``dropped`` (a dict) gets the
    pgs manifest's notes.duplicate_rows_dropped of the match, as dataset 'd'."""
    from trd_spark.pgs.matching import frame_matches, match_sites_frame, score_sites, weight_matrices
    from trd_spark.pgs.scoring_files import parse_scoring_file
    from trd_spark.pgs.stage import DatasetMatches, duplicate_rows_dropped

    sf = parse_scoring_file(HEADER + rows_text, source="s.txt")
    m = match_sites_frame(score_sites(hl, spark, [sf], "GRCh38"), rows, keep_ambiguous=False,
                          duplicate_variants=policy)
    frame = frame_matches(m, rows)
    if dropped is not None:
        dropped.update(duplicate_rows_dropped([DatasetMatches("d", pd.DataFrame(), [sf], frame)]))
    w = weight_matrices(frame, ["chrY", "chrM"])
    return float(w.slope.sum()), float(w.offset.sum()), int(w.n_vars.sum())


# (second row, genotype rows, the first row's slope and offset): the first row is line 4.
FORMS = {
    "other-strand": ("1\t1000\tG\tA\t1.5\n1\t1000\tC\tT\t1.5\n", SNV, (1.5, 0.0)),
    "other-strand-swapped": ("1\t1000\tG\tA\t1.5\n1\t1000\tT\tC\t1.5\n", SNV, (1.5, 0.0)),
    "other-allele-missing": ("1\t1000\tG\tA\t1.5\n1\t1000\tG\t\t1.5\n", SNV, (1.5, 0.0)),
    "other-allele-missing-ref": ("1\t1000\tA\tG\t1.5\n1\t1000\tA\t\t1.5\n", SNV, (-1.5, 3.0)),
    "indel-representations": ("1\t1000\tAT\tA\t1.5\n1\t1000\tATT\tAT\t1.5\n", INSERTION, (1.5, 0.0)),
}


def _drop_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
            and "dropped, " in r.getMessage() and "pgs.duplicate_variants first keeps" in r.getMessage()]


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_of_one_variant_twice_follows_the_duplicate_policy(hl, spark, form, caplog):
    """Each form, matched: one error at line 5 naming line 4 (default), or line 4's weight alone
    (first). Before, both rows were used: slope 3.0 (or 0 with offset 3.0 for A/G + T/C).
    The drop is counted (session 18 review: it was silent, the match summary's n_variants one
    lower with no word why, where the file's own duplicate check notes its drops)."""
    text, rows, want = FORMS[form]
    with pytest.raises(InputDataError, match=r"lines 4 \(.*\) and 5 \(.*\) are one variant in the genotypes") as e:
        _weights(hl, spark, text, rows, "error")
    assert e.value.where == "s.txt:5"
    dropped: dict = {}
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        assert _weights(hl, spark, text, rows, "first", dropped) == (*want, 1)
    # counted in the pgs manifest (notes.duplicate_rows_dropped) too, not only in the log
    assert dropped == {"d": {"PGS990701": 1}}
    assert _drop_warnings(caplog) == [
        "PGS990701: 1 score row dropped, one variant listed twice (the pair on the other strand, without its "
        "other allele or in another indel form): pgs.duplicate_variants first keeps the first line"]


def test_two_rsids_of_one_variant_dropped_under_first_are_counted(hl, spark, caplog):
    """``matching.rsid_duplicates``' policy first (rs100 and rs999 placed on one A/G row, as in
    scoring-file-swapped-duplicate-rsid-synonyms): the later row is dropped with a WARNING
    counting it (session 18 review: silent before), and only the first weight is used."""
    from trd_spark.pgs.matching import frame_matches, match_sites_frame, score_sites, weight_matrices
    from trd_spark.pgs.scoring_files import parse_scoring_file

    sf = parse_scoring_file("#pgs_id=PGS990702\n#genome_build=GRCh38\nrsID\teffect_allele\tother_allele\teffect_weight\n"
                            "rs100\tG\tA\t1.5\nrs999\tA\tG\t0.5\n", source="r.txt", match_rsid=True)
    rows = SNV.assign(rsid=["rs100;rs999"])
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        m = match_sites_frame(score_sites(hl, spark, [sf], "GRCh38"), rows, keep_ambiguous=False,
                              duplicate_variants="first")
    frame = frame_matches(m, rows)
    w = weight_matrices(frame, ["chrY", "chrM"])
    assert (float(w.slope.sum()), int(w.n_vars.sum())) == (1.5, 1)
    assert frame.duplicates_dropped == {"PGS990702": 1}  # the pgs manifest's notes.duplicate_rows_dropped
    assert _drop_warnings(caplog) == [
        "PGS990702: 1 score row dropped, two rsIDs placed on one variant (merged rsIDs?): "
        "pgs.duplicate_variants first keeps the first line"]


def test_two_variants_at_a_monomorphic_site_written_with_a_missing_allele_are_both_scored(hl, spark):
    """A site written ``G .`` (monomorphic): G/A and G/T are two score variants sharing the present
    allele G, each scored as 2 copies of G (plink2 --score reads the missing code as the score's
    other allele); they are not one variant listed twice."""
    rows = pd.DataFrame({"contig": ["chr1"], "position": [1000], "ref": ["G"], "alt": ["."]})
    text = "1\t1000\tG\tA\t1.5\n1\t1000\tG\tT\t0.5\n"
    assert _weights(hl, spark, text, rows, "error") == _weights(hl, spark, text, rows, "first")
    assert _weights(hl, spark, text, rows, "error")[2] == 2


def test_two_scoring_files_of_one_score_are_one_error_naming_both(tmp_path):
    """The author file and its harmonised copy of one score in one directory (what a download of
    both gives; also a score split per chromosome): scored as two scores named PGS990702, the
    match summary kept one file's counts for both rows and the score table failed its invariants
    ('repeated (sample, pgs_id) rows') after the whole scoring pass, naming neither file. Now one
    error naming both files before any genotype is read (no Spark)."""
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import read_scoring_files

    body = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n7\t2000000\tT\tC\t0.5\n"
    (tmp_path / "PGS990702.txt").write_text("#pgs_id=PGS990702\n#genome_build=GRCh38\n" + body)
    (tmp_path / "PGS990702_hmPOS_GRCh38.txt").write_text(
        "#pgs_id=PGS990702\n#genome_build=GRCh38\n#HmPOS_build=GRCh38\n" + body)
    (tmp_path / "PGS990703.txt").write_text("#pgs_id=PGS990703\n#genome_build=GRCh38\n" + body)
    pgs = PgsSettings(scoring_files=[str(tmp_path / "*.txt")], trait_panel="unused.yaml")
    with pytest.raises(InputDataError, match=r"#pgs_id=PGS990702 is also the score of .*/PGS990702\.txt: one file "
                                             r"per score") as e:
        read_scoring_files(None, pgs, "GRCh38")
    assert e.value.where == str(tmp_path / "PGS990702_hmPOS_GRCh38.txt")
    (tmp_path / "PGS990702_hmPOS_GRCh38.txt").unlink()
    assert [sf.pgs_id for sf in read_scoring_files(None, pgs, "GRCh38")] == ["PGS990702", "PGS990703"]
