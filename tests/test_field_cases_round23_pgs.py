"""PGS field cases, round 23 (session 33, helper pgs23): new shapes of the known kinds.

- One header key given twice with two values, read header-only: the full parse refuses it
  (3d8901c, b66c5d3), the run-start look at the header (``read_scoring_file_header``, the
  trait-panel check) took the later line: ``#pgs_id=PGS000001`` then ``#pgs_id=PGS000002`` was
  PGS000002 to the panel check and an error to the stage. One rule for both reads now
  (``scoring_files._check_header``): the same error at the same line, before any Spark work.

Parse-level cases (no Spark) unless said otherwise; each file is hand-written; the expected
values are the file's own.
"""

from __future__ import annotations

import gzip

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file_header

COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
ROWS = "1\t100\tA\tG\t0.1\n1\t200\tC\tT\t-0.25\n"


@pytest.mark.parametrize("head, key, line", [
    ("#pgs_id=PGS000001\n#pgs_id=PGS000002\n#genome_build=GRCh38\n", "pgs_id", 2),
    ("#pgs_id=PGS000001\n#genome_build=GRCh38\n#weight_type=beta\n#Weight Type=OR\n", "weight_type", 4),
    ("# PGS ID = PGS000001\n#genome_build=GRCh38\n#pgs_id=PGS000002\n", "pgs_id", 3),
])
@pytest.mark.parametrize("gz", [False, True])
def test_the_header_only_read_refuses_a_key_given_twice_as_the_parse_does(tmp_path, head, key, line, gz):
    """Before: the header-only read returned the later (or the format's) spelling's value, while
    ``parse_scoring_file`` raised at that line. Both now raise the same error at the same line;
    the run-start panel check (``preflight.scoring_file_pgs_id``) with it."""
    from trd_spark.preflight import scoring_file_pgs_id

    text = head + COLUMNS + ROWS
    path = tmp_path / ("s.txt.gz" if gz else "s.txt")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    with pytest.raises(InputDataError) as parsed:
        parse_scoring_file(text, source=str(path))
    with pytest.raises(InputDataError) as header:
        read_scoring_file_header(str(path))
    assert f"header gives {key} twice with different values" in str(header.value)
    assert (str(header.value), header.value.where) == (str(parsed.value), parsed.value.where)
    assert header.value.where == f"{path}:{line}"
    with pytest.raises(InputDataError, match=f"header gives {key} twice"):
        scoring_file_pgs_id(str(path))


def test_the_header_only_read_refuses_a_key_without_an_equals_sign_as_the_parse_does(tmp_path):
    """'#weight_type: OR' is the parse's error at its line; the header-only read now says so too."""
    text = "#pgs_id=PGS000001\n#weight_type: OR\n" + COLUMNS + ROWS
    (tmp_path / "s.txt").write_text(text)
    with pytest.raises(InputDataError, match="names weight_type without '='") as e:
        read_scoring_file_header(str(tmp_path / "s.txt"))
    assert e.value.where == f"{tmp_path / 's.txt'}:2"


def test_the_header_only_read_still_reads_one_meaning_given_twice(tmp_path):
    """One meaning in two lines (GRCh38 / hg38; OR / ' or '; one pgs_id in two spellings) is one
    value, as the parse reads it: no error, and the format's spelling's line."""
    text = ("# PGS ID = PGS000001\n#pgs_id=PGS000001\n#genome_build=GRCh38\n#genome_build=hg38\n"
            "#weight_type=OR\n#Weight_Type= or \n" + COLUMNS + ROWS.replace("-0.25", "0.25"))
    (tmp_path / "s.txt").write_text(text)
    meta = read_scoring_file_header(str(tmp_path / "s.txt"))
    header = parse_scoring_file(text, source="s.txt").header
    assert meta["pgs_id"] == ("PGS000001", 2) and header.pgs_id == "PGS000001"
    assert meta["weight_type"][0] == header.weight_type == "OR"
