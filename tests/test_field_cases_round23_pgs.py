"""PGS field cases, round 23 (session 33, helper pgs23): new shapes of the known kinds.

- One header key given twice with two values, read header-only: the full parse refuses it
  (3d8901c, b66c5d3), the run-start look at the header (``read_scoring_file_header``, the
  trait-panel check) took the later line: ``#pgs_id=PGS000001`` then ``#pgs_id=PGS000002`` was
  PGS000002 to the panel check and an error to the stage. One rule for both reads now
  (``scoring_files._check_header``): the same error at the same line, before any Spark work.
- scoring-file-infer-other-allele, a harmonised row whose ``hm_inferOtherAllele`` is its effect
  allele (a hand-edited or tool-assembled file; tests/data/field_cases/pgs/
  scoring-file-infer-other-allele-is-effect, hand + plink2): taken as the other allele, the row
  was A/A, the pair round 10 refuses as ``other_allele``: at a monomorphic ``A .`` site matched as
  the alt of the missing code (every 0/0 carrier scored 0 copies, not 2), at a C>T site with C/C
  not_found, silently. Such an inference is now left out (a counted note) and the row matched on
  its effect allele, as any row without other_allele.

Parse-level cases (no Spark) unless said otherwise; each file is hand-written; the expected
values are the file's own.
"""

from __future__ import annotations

import gzip

import pytest
from test_field_cases_pgs import CASES, assert_expected, run_case

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file, read_scoring_file_header

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


INFER_IS_EFFECT = "scoring-file-infer-other-allele-is-effect"


def test_an_inferred_other_allele_equal_to_the_effect_allele_is_left_out():
    """Parse level: the rows C (inferred C) and A (inferred A) keep no other allele and are
    counted; the usable inference (A, inferred G) is taken as before."""
    sf = read_scoring_file(str(next((CASES / INFER_IS_EFFECT / "scores").iterdir())))
    assert sf.variants["other_allele"].tolist() == [None, None, "G"]
    assert any(n.startswith("2 variants whose hm_inferOtherAllele is their effect allele") for n in sf.notes)
    assert any(n.startswith("1 variant without other_allele takes hm_inferOtherAllele") for n in sf.notes)


def test_an_inferred_other_allele_equal_to_the_effect_allele_scores_as_plink2(hl, spark, tmp_path):
    """The stage's read -> match -> score on the case's VCF (Hail's rows, the native engine's
    export): expected.tsv, plink2 --score's sums (2.25 3.5 1 2.25; 3 matched). Before: the C/C
    row not_found and the A/A row 0 copies (0.25 0.5 0 0.25; 2 matched)."""
    assert_expected(run_case(hl, spark, tmp_path, INFER_IS_EFFECT), INFER_IS_EFFECT)
