"""PGS field cases, round 43 (session 49, helper pgs43): scoring files as the PGS Catalog ships them.

commented-row: a variant row commented out by hand, '#' first ('#rs1500<TAB>1<TAB>1400 ...'), in a
harmonised file (PGS990431_hmPOS_GRCh38.txt, lines 22 and 24). pgscatalog-core's reader (what
pgsc_calc reads a scoring file with) skips every line starting with '#'. Our parser read it as a row:
the '#' went into the rsID, the row was placed by its hm_chr/hm_pos (or by chr_name/chr_position,
which follow rsID in the format's column order) and its weight summed, silently (0.7 and 0.9 here).
Now such rows are left out, counted in a note naming the first line; every other row keeps its own
line in errors. The oracle is pgscatalog-core 1.1.1 itself (``ScoringFile.normalise``), called here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

CASE = Path(__file__).parent / "data" / "field_cases_round43_pgs" / "commented-row"
HARMONISED = CASE / "PGS990431_hmPOS_GRCh38.txt"


def _catalog_rows(path: Path) -> list[tuple]:
    """(chr, pos, effect allele, other allele, weight) per variant as pgscatalog-core normalises the
    file for GRCh38 (its harmonised positions), pgsc_calc's reading."""
    from pgscatalog.core import GenomeBuild, ScoringFile

    logging.getLogger("pgscatalog").setLevel(logging.ERROR)
    return [(v.chr_name, v.chr_position, str(v.effect_allele), str(v.other_allele), float(v.effect_weight))
            for v in ScoringFile(str(path)).normalise(target_build=GenomeBuild.GRCh38)]


def test_a_commented_out_row_is_left_out_as_pgsc_calc_reads_the_file():
    """The two '#' rows (lines 22 and 24, at hm 1:1500 and 1:2500) are not variants: the rows
    equal pgscatalog-core's, at their own lines, and a note counts the two. Before: five rows,
    1:1500 (weight 0.7) and 1:2500 (0.9) among them, and no note."""
    sf = read_scoring_file(str(HARMONISED))
    v = sf.variants
    ours = [(c, int(p), e, o, w) for c, p, e, o, w in
            v[["chrom", "pos", "effect_allele", "other_allele", "effect_weight"]].itertuples(index=False)]
    assert ours == _catalog_rows(HARMONISED) == [("1", 1000, "A", "G", 0.1), ("1", 2000, "C", "T", -0.2),
                                                 ("2", 3000, "T", "C", 0.4)]
    assert v["line"].tolist() == [21, 23, 25]
    assert any("2 variant rows commented out ('#' first, line 22 onwards) left out" in n for n in sf.notes)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_rows_after_a_commented_row_keep_their_own_lines(newline):
    """A '#' row first among the rows (an author file, rsID first) and a bad allele after it: the
    error names the bad row's own line, 6 (the line-by-line parser for CRLF text, Arrow's for LF).
    Before: the '#' row was read (its rsID '#rs1', placed at 1:100)."""
    head = ["#pgs_id=PGS990432", "#genome_build=GRCh38",
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"]
    rows = ["#rs1\t1\t100\tA\tG\t0.5", "rs2\t1\t200\tC\tT\t1.0"]
    sf = parse_scoring_file(newline.join([*head, *rows]) + newline, source="a.txt")
    assert sf.variants["pos"].tolist() == [200] and sf.variants["line"].tolist() == [5]
    assert sf.variants["rsid"].tolist() == ["rs2"]
    with pytest.raises(InputDataError, match=r"^b\.txt:6: column effect_allele: allele must contain only"):
        parse_scoring_file(newline.join([*head, *rows, "rs3\t1\t300\tN\tT\t1.0"]) + newline, source="b.txt")
    with pytest.raises(InputDataError, match=r"^c\.txt:3: empty scoring file .*1 row commented out"):
        parse_scoring_file(newline.join([*head, rows[0]]) + newline, source="c.txt")
    # A comment last with no line break after it ('#end'): the rows are whole, not a cut-short file,
    # though fewer than #variants_number says (a note, not the cut-short error).
    sf = parse_scoring_file(newline.join(["#variants_number=3", *head, *rows, "#end"]), source="d.txt")
    assert sf.variants["line"].tolist() == [6] and any("#variants_number says 3" in n for n in sf.notes)
