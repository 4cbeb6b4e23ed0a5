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
- BGEN sample identity (round 17's kind), the two .sample names: a BGEN without embedded IDs with
  both ``x.sample`` and ``x.bgen.sample`` beside it took ``x.sample`` without a look at the other
  (plink2 ``--sample`` and Hail's ``sample_file=`` read the one they are given): another
  release's .sample, or one in another order, under either name put every score on another
  person, silently. Both present must now hold the same ID_1, ID_2 and sex, else one error
  naming both and the first sample number that differs (``bgen_reader._sample_table``).

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


def test_two_sample_files_beside_a_bgen_that_differ_are_one_error(tmp_path):
    """A BGEN without embedded IDs (plink2's export with its sample block stripped) and both
    Oxford .sample names beside it: b.sample (plink2's) and b.bgen.sample, the same samples with
    two swapped (another release's, or a re-sorted copy). Before: b.sample was read without a
    look at the other, while plink2 --sample / Hail's sample_file= read the one they are given.
    Now one InputDataError naming both and sample #2, no ID; one content under both names, or
    one name alone, reads as before, IDs and sex (a sex column differing alone is the error too)."""
    from test_field_cases_round17_pgs import _bgen
    from test_pgs_bgen import _strip_sample_ids

    from trd_spark.pgs.bgen_reader import BgenFiles, sample_file_sex, sample_ids

    made = _bgen(tmp_path, fid=False)
    _strip_sample_ids(made, tmp_path / "n.bgen")
    lines = made.with_suffix(".sample").read_text().splitlines()
    (tmp_path / "n.sample").write_text("\n".join(lines) + "\n")
    files = BgenFiles.open(str(tmp_path / "n.bgen"))
    assert files.embedded_ids is None
    assert sample_ids(files) == ["1001", "1002", "1003"]
    (tmp_path / "n.bgen.sample").write_text("\n".join(lines) + "\n")  # one content under both names
    assert sample_ids(files) == ["1001", "1002", "1003"]
    swapped = [*lines[:3], lines[4], lines[3], *lines[5:]]
    (tmp_path / "n.bgen.sample").write_text("\n".join(swapped) + "\n")
    for read in (sample_ids, sample_file_sex):
        with pytest.raises(InputDataError) as e:
            read(files)
        message = str(e.value)
        assert "from sample #2 on" in message and str(tmp_path / "n.sample") in message
        assert str(tmp_path / "n.bgen.sample") in message and e.value.where == str(tmp_path / "n.bgen")
        assert not any(i in message for i in ("1001", "1002", "1003"))
    header = lines[0].split()
    if "sex" in header:  # plink2 writes a sex column: the same IDs with another sex differ too
        at = header.index("sex")
        resexed = [*lines[:2], " ".join(f if i != at else ("1" if f != "1" else "2")
                                        for i, f in enumerate(lines[2].split())), *lines[3:]]
        (tmp_path / "n.bgen.sample").write_text("\n".join(resexed) + "\n")
        with pytest.raises(InputDataError, match="from sample #1 on"):
            sample_file_sex(files)
