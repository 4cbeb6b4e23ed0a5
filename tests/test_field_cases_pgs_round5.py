"""PGS field cases, round 5 (session 15): real-shaped genotype and scoring inputs, each with a
plink2-checked or hand-worked expected.tsv (tests/data/field_cases/pgs/<kind>-<variant>).

Cheap by design: the case that needs a stage call is scored once per genotype format in the
module fixture ``scored`` (the stage's own match -> score functions on the session's Spark/Hail,
``test_field_cases_pgs.run_scores``: the VCF through Hail's rows and the PLINK export, the .pgen
by the native engine), and the tests read its results; the other shapes are matcher frames and
scoring-file text, with no Hail pass.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, assert_expected, score_shapes

from trd_spark.errors import InputDataError

LOWER = "genotype-alleles-lower-case"
# shape -> (format, genotype path) of the case, scored with all its scoring files (incl. the
# rsID-only one: pgs.match_rsid on).
SHAPES = {
    "vcf": ("vcf", CASES / LOWER / "genotypes" / "data.vcf"),
    "pgen": ("pgen", CASES / LOWER / "pgen" / "data"),
}


@pytest.fixture(scope="module")
def scored(hl, spark, tmp_path_factory) -> dict[str, pd.DataFrame | Exception]:
    """Each shape's scores (``run_scores`` frame), or the exception the stage raised."""
    return score_shapes(hl, spark, tmp_path_factory, SHAPES, f"{CASES / LOWER}/scores/*",
                        extra_pgs="  match_rsid: true")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_lower_case_genotype_alleles_are_the_same_bases(scored, shape):
    """genotype-alleles-lower-case: REF/ALT written in lower case (VCF 4.3 1.6.1: bases are
    case-insensitive; soft-masked reference repeats; plink2 keeps the case in its .pvar) match
    the score's alleles, by position or by rsID (PGS990503), for ALT and REF effect alleles and
    a deletion: the sums plink2 --score gives on an upper-cased copy. Phased, haploid (2 copies)
    and missing ('./.', '.') calls score as plink2 reads them. Before: the lower-case sites were
    not_found (PGS990501 0.5 0 0.33 0.5 from its one upper-case site; plink2 on the files as
    written skips them too, 'mismatching allele codes')."""
    got = scored[shape]
    if isinstance(got, Exception):
        raise got
    assert_expected(got, LOWER)


# ---- matcher frames (no Hail pass) ---------------------------------------------------------------

def _sites(hl, spark, text: str, tmp_path: Path) -> pd.DataFrame:
    from trd_spark.pgs.matching import score_sites
    from trd_spark.pgs.scoring_files import parse_scoring_file

    return score_sites(hl, spark, [parse_scoring_file(text, source=str(tmp_path / "s.txt"))], "GRCh38")


SCORE = ("#pgs_id=PGS990509\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n1\t1000\tA\tG\t1.0\n")


def test_one_site_written_in_both_cases_is_a_duplicate_genotype_row(hl, spark, tmp_path):
    """duplicate-genotype-rows, case variant: ``g>a`` and ``G>A`` at one locus (two merged sources,
    one with a soft-masked REF) are the same variant twice, the existing one-line error naming
    the locus (before: the lower-case row was silently another variant, not_found)."""
    from trd_spark.pgs.matching import check_duplicate_rows_frame, match_sites_frame

    rows = pd.DataFrame({"contig": ["chr1", "chr1"], "position": [1000, 1000], "ref": ["g", "G"], "alt": ["a", "A"]})
    m = match_sites_frame(_sites(hl, spark, SCORE, tmp_path), rows, keep_ambiguous=False)
    assert m[["match_type", "duplicate_genotype_rows"]].values.tolist() == [["ref_alt", 1]]
    with pytest.raises(InputDataError, match=r"chr1:1000"):
        check_duplicate_rows_frame(m, "dataset d (g.vcf)")


def test_upper_case_alleles_keeps_rows_without_lower_case_as_they_are():
    """``upper_case_alleles``: the same frame object when every allele is upper case (nothing
    copied on the common path); otherwise only the letters change, missing codes and symbolic
    alleles stay, and the row order and attrs are kept."""
    from trd_spark.pgs.matching import upper_case_alleles

    rows = pd.DataFrame({"ref": ["G", "AT", "C"], "alt": ["A", ".", "<DEL>"]})
    assert upper_case_alleles(rows) is rows
    mixed = pd.DataFrame({"ref": ["g", "aT", "C", None], "alt": ["a", ".", "<del>", "0"], "site_ref": ["g", None, "C", "T"]})
    mixed.attrs["first_line"] = 3
    out = upper_case_alleles(mixed)
    assert out.values.tolist() == [["G", "A", "G"], ["AT", ".", None], ["C", "<DEL>", "C"], [None, "0", "T"]]
    assert out.attrs == {"first_line": 3} and mixed["ref"].tolist()[0] == "g"


# ---- variant lists and sample files (no Hail) ------------------------------------------------------

def test_headerless_pvar_after_meta_lines_is_read_in_bim_order(tmp_path):
    """A .pvar with '##' meta lines and no '#CHROM' line is .bim-ordered (CHROM ID CM POS ALT REF:
    plink2's rule for a headerless .pvar); its lines are numbered after the meta lines. Right
    before; kept. (A headerless 5-column .pvar / .bim without CM, which plink2 also reads, is
    refused with one error naming the file: noted, not changed here.)"""
    from trd_spark.pgs.pgen_engine import PlinkFiles, variant_index

    (tmp_path / "g.pvar").write_text("##fileformat=PVARv1.0\n##contig=<ID=1>\n"
                                     "1\trs1\t0\t1000\ta\tg\n1\trs2\t0.5\t2000\tT\tC\n")
    index = variant_index(PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38")
    assert index.frame[["contig", "position", "ref", "alt", "rsid"]].values.tolist() == [
        ["chr1", 1000, "g", "a", "rs1"], ["chr1", 2000, "C", "T", "rs2"]]
    assert index.first_line == 3


# ---- scoring-file spellings (parsing only) -------------------------------------------------------

HEAD = "#pgs_id=PGS990510\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


@pytest.mark.parametrize("row, match", [
    ("1\t100\tA\tG/-\t0.1", r"s\.txt:4: column other_allele: .*allele must contain only A/C/G/T"),
    ("1\t100\t-\tA\t0.1", r"s\.txt:4: column effect_allele: .*allele must contain only A/C/G/T"),
    ("1\t100\tI\tD\t0.1", r"s\.txt:4: column effect_allele: .*allele must contain only A/C/G/T"),
], ids=["other-allele-list", "dash-deletion", "plink1-I-D"])
def test_allele_spellings_without_one_sequence_are_one_error_at_the_line(row, match):
    """An other_allele list holding a '-' deletion, a '-' deletion and PLINK 1's I/D codes say
    nothing about which sequence the genotypes hold: one error at file:line (right before; kept).
    A list of sequences ('A/G', the format's "other allele(s)") is read as no other allele since
    session 35, as pgsc_calc reads it (tests/test_field_cases_round25_pgs.py)."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    with pytest.raises(InputDataError, match=match):
        parse_scoring_file(HEAD + row + "\n", source="s.txt")


def test_weights_with_a_bare_decimal_point_and_lower_case_alleles():
    """'-.5' and '.25' are numbers and lower-case alleles are upper-cased when the file is read
    (right before; kept)."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    v = parse_scoring_file(HEAD + "1\t100\ta\tg\t-.5\n1\t200\tc\tT\t.25\n", source="s.txt").variants
    assert v["effect_weight"].tolist() == [-0.5, 0.25]
    assert [str(a) for a in v["effect_allele"]] == ["A", "C"] and [str(a) for a in v["other_allele"]] == ["G", "T"]
