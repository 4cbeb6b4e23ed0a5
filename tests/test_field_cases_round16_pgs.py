"""Field cases, round 16 (session 26, helper "hunt_pgs"): new variants of the PGS kinds that were
still answered wrong, silently.

- weight-type-odds-ratio, header variant: the ``#key=value`` header was read with the keys as
  written, so a hand-edited file's ``#Weight_Type=OR`` (or ``#WEIGHT_TYPE``, ``#weight_type:
  OR``) was not read: its odds ratios were summed as betas (ln(OR) is what the score means).
  Keys are now read case-insensitively, as the column names already were (a note says so), and
  a header line naming a key the parser reads without ``=`` is one error at its line.
"""

from __future__ import annotations

import math

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file_header

ROWS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t100\tA\tG\t2.0\n1\t200\tC\tT\t0.5\n"


# ---- weight-type-odds-ratio: header keys in another spelling ------------------------------------

@pytest.mark.parametrize("key", ["Weight_Type", "WEIGHT_TYPE", "weight_Type"])
def test_a_weight_type_header_key_in_another_case_is_read(key):
    """By hand: ln(2.0) = 0.693147, ln(0.5) = -0.693147 (PGS Catalog convention for OR). Before:
    2.0 and 0.5 summed as betas, no note."""
    sf = parse_scoring_file(f"#pgs_id=PGS1\n#Genome_Build=GRCh38\n#{key}=OR\n" + ROWS, source="s.txt")
    assert sf.header.weight_type == "OR" and sf.header.genome_build == "GRCh38"
    assert sf.variants["effect_weight"].tolist() == pytest.approx([math.log(2.0), math.log(0.5)])
    assert any(f"header keys read case-insensitively: Genome_Build as genome_build, {key} as weight_type" in n
               for n in sf.notes), sf.notes
    assert any("converted to ln(OR)" in n for n in sf.notes)
    # Beside it, the key as the format spells it wins (either order), as for column names, and the
    # other spelling is not noted as read.
    for head in (f"#weight_type=beta\n#{key}=OR\n", f"#{key}=OR\n#weight_type=beta\n"):
        sf = parse_scoring_file("#pgs_id=PGS1\n#genome_build=GRCh38\n" + head + ROWS, source="s.txt")
        assert sf.header.weight_type == "beta" and sf.variants["effect_weight"].tolist() == [2.0, 0.5]
        assert not any("header keys" in n for n in sf.notes)


def test_format_1_header_keys_in_another_case_are_read(tmp_path):
    """'# pgs id = ...' / '# ORIGINAL GENOME BUILD = ...' are format 1.0's keys (read under their
    2.0 names, no note: the format's own keys); the preflight's header-only read agrees."""
    text = "# pgs id = PGS000001\n# ORIGINAL GENOME BUILD = GRCh38\n" + ROWS.replace("other_allele", "reference_allele")
    sf = parse_scoring_file(text, source="s.txt")
    assert (sf.pgs_id, sf.header.genome_build) == ("PGS000001", "GRCh38")
    (tmp_path / "s.txt").write_text(text)
    assert read_scoring_file_header(str(tmp_path / "s.txt"))["pgs_id"] == ("PGS000001", 1)


@pytest.mark.parametrize("line", ["#weight_type: OR", "#weight_type OR", "#Weight_Type\tOR"])
def test_a_header_key_without_an_equals_sign_is_one_error_at_its_line(line):
    """Unread, the file was scored as betas. Comment lines (the Catalog's '##POLYGENIC SCORE (PGS)
    INFORMATION' titles, free text) stay comments."""
    head = "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/\n##POLYGENIC SCORE (PGS) INFORMATION\n"
    with pytest.raises(InputDataError, match=r"header line names weight_type without '='") as e:
        parse_scoring_file(head + f"#pgs_id=PGS1\n#genome_build=GRCh38\n{line}\n" + ROWS, source="s.txt")
    assert e.value.where == "s.txt:5"
    sf = parse_scoring_file(head + "#pgs_id=PGS1\n#genome_build=GRCh38\n# weights from the authors' table 2\n" + ROWS,
                            source="s.txt")
    assert sf.variants["effect_weight"].tolist() == [2.0, 0.5]
