"""PGS field cases, round 22 (session 32, helper pgs22): scoring files whose text says two things.

- A scoring file cut short: an interrupted ``zcat f.txt.gz > f.txt`` (a full disk), a partial
  copy. A gzipped file cut short is one error (its stream has no end), a plain one was read as
  the rows it still holds: its last line, cut inside its last field, gave a weight (``0.1234``
  cut to ``0.12``), or a position (``hm_pos`` ``1234567`` cut to ``123``), the file never wrote,
  and the missing rows were a WARNING calling the file "a subset such as one chromosome?".
  A file whose rows fall short of its ``#variants_number`` and whose last line has no line break
  (the PGS Catalog's files and every subset written by a tool end with one) is now one error at
  that line; so is a last line with too few fields and no line break (named as cut short).
- One header key read twice with different values in the same spelling (``#weight_type=beta``
  then ``#weight_type=OR`` in a hand-edited or hand-assembled header): the later line won, so the
  file's odds ratios were summed as ln(OR) or its log-odds as ratios depending on the line order,
  silently. Now one error at the later line naming both; the same value twice is read as one.

Parse-level cases (no Spark): each file is hand-written; the expected values are the file's own.
"""

from __future__ import annotations

import gzip
import math

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

HEAD = "#pgs_id=PGS1\n#genome_build=GRCh38\n#variants_number=3\n"
COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
ROWS = "1\t100\tA\tG\t0.1234\n1\t200\tC\tT\t-0.25\n1\t300\tG\tA\t0.3456\n"


def test_a_plain_file_cut_inside_its_last_weight_is_one_error():
    """The file of three variants cut inside the second row's weight (-0.25 -> -0.2), or right
    after it (its line break lost): before, two rows read, the second with a weight of -0.2, and a
    WARNING blaming a subset. Line 6 is that row."""
    for cut in ("1\t200\tC\tT\t-0.2", "1\t200\tC\tT\t-0.25"):
        text = HEAD + COLUMNS + ROWS.splitlines(keepends=True)[0] + cut
        with pytest.raises(InputDataError, match=r"cut short") as e:
            parse_scoring_file(text, source="s.txt")
        assert e.value.where == "s.txt:6"
        assert "#variants_number" in str(e.value) and "\n" not in str(e.value)


def test_a_cut_harmonised_position_is_one_error_read_from_a_file(tmp_path):
    """A harmonised file cut inside hm_pos of its second row (1000300 -> 100), as written to disk
    and read by the stage's reader: before, the row was placed at 1:100, another site."""
    text = ("#pgs_id=PGS1\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n#variants_number=3\n"
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
            "rs1\t1\t100\tA\tG\t0.1\t1\t1000100\nrs2\t1\t300\tG\tA\t0.3\t1\t100")
    (tmp_path / "h.txt").write_text(text)
    with pytest.raises(InputDataError, match=r"cut short") as e:
        read_scoring_file(str(tmp_path / "h.txt"))
    assert e.value.where == f"{tmp_path / 'h.txt'}:7"


def test_a_last_line_with_too_few_fields_and_no_line_break_is_named_as_cut_short():
    """A cut inside an earlier field leaves too few fields: that was already an error, now it says
    why. Without #variants_number too (any file)."""
    text = "#pgs_id=PGS1\n#genome_build=GRCh38\n" + COLUMNS + "1\t100\tA\tG\t0.1\n1\t200\tC"
    with pytest.raises(InputDataError, match=r"expected 5 tab-separated fields, saw 3.*cut short") as e:
        parse_scoring_file(text, source="s.txt")
    assert e.value.where == "s.txt:5"


@pytest.mark.parametrize("text, n_rows", [
    (HEAD + COLUMNS + ROWS, 3),                                  # whole, line break at the end
    (HEAD + COLUMNS + ROWS.rstrip("\n"), 3),                     # whole, no line break: every row there
    (HEAD + COLUMNS + ROWS.rstrip("\n").replace("\n", "\r\n") + "\r\n", 3),  # CRLF, whole
    (HEAD + COLUMNS + "".join(ROWS.splitlines(keepends=True)[:2]), 2),  # a subset ending in a line break
    ("#pgs_id=PGS1\n#genome_build=GRCh38\n" + COLUMNS + ROWS.rstrip("\n"), 3),  # no #variants_number
], ids=["whole", "whole-no-final-break", "crlf", "subset", "no-variants-number"])
def test_whole_files_and_subsets_are_still_read(text, n_rows):
    sf = parse_scoring_file(text, source="s.txt")
    assert len(sf.variants) == n_rows
    assert sf.variants["effect_weight"].tolist()[0] == pytest.approx(0.1234)
    assert any("#variants_number says 3" in n for n in sf.notes) == (n_rows == 2)


def test_a_gzipped_file_cut_short_is_one_error(tmp_path):
    """(Pinned, no change: the gzip stream has no end.)"""
    data = gzip.compress((HEAD + COLUMNS + ROWS).encode())
    (tmp_path / "s.txt.gz").write_bytes(data[:-12])
    with pytest.raises(InputDataError, match="corrupt gzip data"):
        read_scoring_file(str(tmp_path / "s.txt.gz"))


@pytest.mark.parametrize("first, second", [
    ("#weight_type=beta", "#weight_type=OR"),
    ("#weight_type=OR", "#weight_type=NR"),
    ("#Weight_Type=OR", "#WEIGHT_TYPE=beta"),
    ("#genome_build=GRCh37", "#genome_build=GRCh38"),
], ids=["beta-then-or", "or-then-nr", "two-other-spellings", "two-builds"])
def test_one_header_key_with_two_values_is_one_error_at_the_later_line(first, second):
    """By hand: read in either order, the weights were ln(2) or 2 per the later line, silently
    (a build: the positions read as one build or the other)."""
    build = "genome_build" in first
    head = "#pgs_id=PGS1\n" + ("" if build else "#genome_build=GRCh38\n") + f"{first}\n{second}\n"
    with pytest.raises(InputDataError, match=r"header gives \w+ twice with different values") as e:
        parse_scoring_file(head + COLUMNS + "1\t100\tA\tG\t2.0\n", source="s.txt")
    later = 3 if build else 4
    assert e.value.where == f"s.txt:{later}"
    assert f"line {later - 1}" in str(e.value)
    assert ("genome_build" if build else "weight_type") in str(e.value)


@pytest.mark.parametrize("head", [
    "#weight_type=OR\n#weight_type=OR\n",            # the same value twice
    "#weight_type=OR\n#weight_type= or \n",          # the same in another case and spacing
    "#genome_build=GRCh38\n#genome_build=hg38\n",    # one build in two names
    "#weight_type=OR\n#Weight Type= or\n",          # one meaning in two spellings (round 16's rule)
], ids=["same", "same-case-space", "same-build-alias", "format-spelling-wins"])
def test_one_header_key_read_twice_with_one_meaning_is_read(head):
    text = "#pgs_id=PGS1\n#genome_build=GRCh38\n" + head + COLUMNS + "1\t100\tA\tG\t2.0\n"
    sf = parse_scoring_file(text, source="s.txt")
    expected = 2.0 if "beta" in head or "build" in head else math.log(2.0)
    assert sf.variants["effect_weight"].tolist() == [pytest.approx(expected)]


# ---- genotypes: a call naming an allele its row does not have --------------------------------------

# 1003's calls name an allele the row lacks: 0/3 beside two ALTs (an ALT such as '*' removed from
# the record without its calls), 0/2 at a biallelic site. plink2 --vcf: "Line 5 of --vcf file has
# an invalid GT field". Before: the Hail pass read 0/2 as no T (0), Hail's PLINK writer (the
# native engine's export) as two T (20), and 0/3 as REF (the REF effect allele's 2 copies).
BAD_GT_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	1001	1002	1003	1004
chr1	100	.	A	G,C	.	PASS	.	GT	0/1	1/1	0/0	0/0
chr1	200	.	C	T	.	PASS	.	GT	0/1	1/1	0/2	1/1
chr1	300	.	G	A,T	.	PASS	.	GT	0/1	1/1	0/3	1/1
"""
BAD_GT_SCORE = ("#pgs_id=PGS000000\n#genome_build=GRCh38\n" + COLUMNS
                + "1\t100\tA\tG\t1\n1\t{pos}\t{effect}\t{other}\t10\n")


@pytest.mark.parametrize("site, effect, other, route", [
    ("chr1:200 C,T", "T", "C", "export"),       # biallelic: Hail's PLINK writer, as stored
    ("chr1:200 C,T", "T", "C", "hail"),         # Hail's pass
    ("chr1:300 G,A,T", "G", "A", "export"),     # multi-allelic, REF effect allele: the split export
    ("chr1:200 C,T", "T", "C", "mt"),           # a local MatrixTable: its entries reader refuses the
                                                # call, Hail's writer takes over (it wrote 2 T copies)
], ids=["biallelic-export", "biallelic-hail-pass", "multiallelic-ref-effect", "matrix-table"])
def test_a_call_naming_an_allele_its_row_lacks_is_one_error_naming_the_site(hl, spark, tmp_path, site, effect, other,
                                                                              route):
    from test_field_cases_pgs import case_config, run_scores

    # One bad call in the file (Hail computes the entries of rows it does not score too).
    pos = site.split(":")[1].split(" ")[0]
    vcf = BAD_GT_VCF.replace("0/3\t1/1", "0/1\t1/1") if pos == "200" else BAD_GT_VCF.replace("0/2\t1/1", "0/1\t1/1")
    (tmp_path / "g.vcf").write_text(vcf)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "s.txt").write_text(BAD_GT_SCORE.format(pos=pos, effect=effect, other=other))
    extra = "  native: {engine: hail}" if route == "hail" else ""
    path, fmt = str(tmp_path / "g.vcf"), "vcf"
    if route == "mt":
        from trd_spark.pgs.genotypes import contig_recoding

        path, fmt = str(tmp_path / "g.mt"), "mt"
        hl.import_vcf(str(tmp_path / "g.vcf"), reference_genome="GRCh38",
                      contig_recoding=contig_recoding("GRCh38")).select_rows().select_entries("GT").write(path)
    cfg = case_config(tmp_path, path, str(tmp_path / "scores" / "s.txt"), fmt=fmt, extra_pgs=extra)
    with pytest.raises(InputDataError, match=rf"GT 0/[23] at {site} names an allele the row does not have") as e:
        run_scores(hl, spark, cfg)
    assert "\n" not in str(e.value)


def test_calls_of_the_rows_alleles_still_score(hl, spark, tmp_path):
    """The same VCF without 1003's bad calls (0/2 -> 0/1): scored as by hand, 1003 = 0 (site 100,
    no A copy lost: 0/0 is 2 A, weight 1 -> 2) + 10 x 1 T = 12."""
    from test_field_cases_pgs import case_config, run_scores

    (tmp_path / "g.vcf").write_text(BAD_GT_VCF.replace("0/2\t1/1", "0/1\t1/1").replace("0/3\t1/1", "0/1\t1/1"))
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "s.txt").write_text(BAD_GT_SCORE.format(pos=200, effect="T", other="C"))
    got = run_scores(hl, spark, case_config(tmp_path, str(tmp_path / "g.vcf"), str(tmp_path / "scores" / "s.txt")))
    sums = dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True))
    assert sums == pytest.approx({1001: 11.0, 1002: 20.0, 1003: 12.0, 1004: 22.0})
