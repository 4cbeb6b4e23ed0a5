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
    "#weight_type=beta\n#Weight_Type=OR\n",          # the format's spelling wins (round 16's rule)
], ids=["same", "same-case-space", "same-build-alias", "format-spelling-wins"])
def test_one_header_key_read_twice_with_one_meaning_is_read(head):
    text = "#pgs_id=PGS1\n#genome_build=GRCh38\n" + head + COLUMNS + "1\t100\tA\tG\t2.0\n"
    sf = parse_scoring_file(text, source="s.txt")
    expected = 2.0 if "beta" in head or "build" in head else math.log(2.0)
    assert sf.variants["effect_weight"].tolist() == [pytest.approx(expected)]
