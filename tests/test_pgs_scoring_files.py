"""Scoring-file parsing and validation (pure pandas, no Spark)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import normalise_chrom, parse_scoring_file, read_scoring_file

DATA = Path(__file__).parent / "data" / "pgs"

HEADER = "#pgs_id=PGS000777\n#pgs_name=t\n#trait_reported=Height\n#weight_type=beta\n#genome_build=GRCh38\n"
COLS = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
ROWS = "rs1\t1\t100\tA\tG\t0.5\nrs2\tchr2\t200\tc\t\t-1e-3\nrs3\t23\t300\tC\tT\t2\n"


def parse(text: str, **kw):
    return parse_scoring_file(text, source="s.txt", **kw)


def test_fixture_file_header_and_variants():
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    h = sf.header
    assert (h.pgs_id, h.pgs_name, h.trait_reported, h.genome_build, h.weight_type, h.variants_number, h.HmPOS_build) == (
        "PGS000901", "tiny_test_score", "Tiny trait", "GRCh38", "beta", 9, None)
    assert sf.positions_from == "author"
    v = sf.variants
    assert len(v) == 9
    assert v.loc[0].to_dict() == {"chrom": "1", "pos": 100, "effect_allele": "G", "other_allele": "A",
                                  "effect_weight": 0.5, "line": 16, "rsid": "rs100"}
    # rs900 has an empty other_allele
    assert v.loc[6, "other_allele"] is None and v.loc[6, "line"] == 22


def test_gzip_file_reads_like_plain(tmp_path):
    gz = tmp_path / "PGS000901.txt.gz"
    gz.write_bytes(gzip.compress((DATA / "PGS000901.txt").read_bytes()))
    plain = read_scoring_file(str(DATA / "PGS000901.txt"))
    zipped = read_scoring_file(str(gz))
    pd.testing.assert_frame_equal(plain.variants, zipped.variants)
    assert zipped.header == plain.header


@pytest.mark.parametrize("shape", ["two-members", "trailing-zeros", "trailing-garbage", "truncated", "scrambled"])
def test_gzip_data_reads_as_the_standard_library_reads_it(shape, tmp_path):
    """zlib-ng inflates, but every gzip shape gives the standard library's ``gzip.decompress``
    result: its text (all members; trailing zeros ignored), or its error as one line naming
    the file (zlib-ng alone fails on trailing garbage with another message)."""
    import zlib

    import trd_spark.pgs.scoring_files as sf

    text = (DATA / "PGS000901.txt").read_bytes()
    data = {"two-members": gzip.compress(text[:500]) + gzip.compress(text[500:]),
            "trailing-zeros": gzip.compress(text) + b"\0" * 8,
            "trailing-garbage": gzip.compress(text) + b"junk",
            "truncated": gzip.compress(text)[:-40],
            "scrambled": _corrupt_gzip(text.decode())}[shape]
    path = tmp_path / "s.txt.gz"
    path.write_bytes(data)
    try:
        expected = gzip.decompress(data).decode()
    except (OSError, EOFError, zlib.error) as e:
        with pytest.raises(InputDataError, match="corrupt gzip data") as err:
            sf._open_text(str(path))
        assert str(err.value) == f"{path}: corrupt gzip data: {e}"
    else:
        assert sf._open_text(str(path)) == expected


def test_chromosomes_and_alleles_normalised():
    v = parse(HEADER + COLS + ROWS).variants
    assert v["chrom"].tolist() == ["1", "2", "X"]
    assert v["effect_allele"].tolist() == ["A", "C", "C"]
    assert v["other_allele"].tolist() == ["G", None, "T"]
    assert v["effect_weight"].tolist() == [0.5, -0.001, 2.0]
    assert normalise_chrom(pd.Series(["chrM", "MT", "24", "chrX"])).tolist() == ["MT", "MT", "Y", "X"]


def test_harmonised_positions_used_when_on_target_build():
    text = (
        "#pgs_id=PGS000778\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
        "1\t1000\tA\tG\t0.5\t1\t2000\n"
        "1\t1100\tC\tT\t0.1\t\t\n"  # harmonisation failed: kept, unplaced
    )
    sf = parse(text)
    assert sf.positions_from == "harmonised"
    assert sf.variants["pos"].tolist()[0] == 2000
    assert sf.variants["chrom"].isna().tolist() == [False, True]
    assert sf.n_unplaced == 1


def test_build_mismatch_names_header_line():
    text = HEADER.replace("GRCh38", "GRCh37") + COLS + ROWS
    with pytest.raises(InputDataError, match=r"^s\.txt:5: scoring file is on build GRCh37"):
        parse(text)


@pytest.mark.parametrize(
    "bad_rows, where, message",
    [
        pytest.param("rs1\t1\t100\tA\tG\tabc\n", "s.txt:7", "column effect_weight: weight is not a finite number", id="weight-text"),
        pytest.param("rs1\t1\t100\tA\tG\tinf\n", "s.txt:7", "column effect_weight", id="weight-inf"),
        pytest.param("rs1\t1\t100\tN\tG\t1\n", "s.txt:7", "column effect_allele: allele must contain only A/C/G/T", id="effect-N"),
        pytest.param("rs1\t1\t100\tA\t<DEL>\t1\n", "s.txt:7", "column other_allele", id="other-symbolic"),
        pytest.param("rs1\t1\t-5\tA\tG\t1\n", "s.txt:7", "column chr_position: position must be a positive integer", id="negative-pos"),
        pytest.param("rs1\t1\t100\tA\tG\t1\textra\n", "s.txt:7", "expected 6 tab-separated fields, saw 7", id="extra-field"),
    ],
)
def test_row_errors_name_file_and_line(bad_rows, where, message):
    # 5 header lines + the column line, so the bad row (first) is line 7 and a good row follows.
    text = HEADER + COLS + bad_rows + "rs9\t1\t900\tA\tG\t1\n"
    with pytest.raises(InputDataError) as e:
        parse(text)
    assert str(e.value).startswith(f"{where}: ")
    assert message in str(e.value)


def test_missing_required_column_names_column_line():
    text = HEADER + "chr_name\tchr_position\teffect_allele\tother_allele\n1\t100\tA\tG\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:6: required column effect_weight is missing"):
        parse(text)


def test_variants_number_mismatch_is_a_note_not_an_error():
    # A per-chromosome subset keeps the whole score's #variants_number (issue 13, item 6).
    text = HEADER + "#variants_number=4\n" + COLS + ROWS
    sf = parse(text)
    assert len(sf.variants) == 3
    assert any("#variants_number says 4 but the file has 3" in n for n in sf.notes)


def test_duplicates_error_or_keep_first():
    text = HEADER + COLS + ROWS + "rs1b\t1\t100\tA\tG\t9.0\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:10: duplicate variant 1:100 A/G"):
        parse(text)
    sf = parse(text, duplicate_variants="first")
    assert sf.n_duplicates_dropped == 1
    assert sf.variants["effect_weight"].tolist() == [0.5, -0.001, 2.0]


def test_non_additive_rows_rejected():
    text = HEADER + COLS.replace("\n", "\tis_interaction\n") + "rs1\t1\t100\tA\tG\t0.5\tTrue\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:7: column is_interaction: non-additive"):
        parse(text)


def test_rsid_only_file_rejected_with_fix_unless_match_rsid():
    text = HEADER + "rsID\teffect_allele\teffect_weight\nrs1\tA\t0.5\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:6: rsID-only scoring file .*harmonised to GRCh38.*"
                       r"pgs\.match_rsid: true"):
        parse(text)
    no_ids = HEADER + "effect_allele\teffect_weight\nA\t0.5\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:6: no positions and no rsID column"):
        parse(no_ids, match_rsid=True)


def test_rsid_only_file_parsed_with_match_rsid():
    text = HEADER + "rsID\teffect_allele\tother_allele\teffect_weight\nrs1\tA\tG\t0.5\nrs2\tC\t\t1\n"
    sf = parse(text, match_rsid=True)
    assert sf.positions_from == "rsid" and sf.positions_build is None
    assert sf.variants["rsid"].tolist() == ["rs1", "rs2"]
    assert sf.variants["chrom"].isna().all() and sf.variants["pos"].isna().all()
    assert sf.n_unplaced == 0 and any("rsID-only" in n for n in sf.notes)
    # a missing rsID names its line; duplicates are judged on rsID + alleles
    with pytest.raises(InputDataError, match=r"^s\.txt:9: column rsID: rsID missing"):
        parse(text + "\tA\tG\t1\n", match_rsid=True)
    with pytest.raises(InputDataError, match=r"^s\.txt:9: duplicate variant rs1 A/G"):
        parse(text + "rs1\tA\tG\t2\n", match_rsid=True)


GRCH37 = HEADER.replace("GRCh38", "GRCh37")


def test_build_mismatch_error_names_both_fixes():
    with pytest.raises(InputDataError, match=r"^s\.txt:5: scoring file is on build GRCh37 but the dataset is "
                       r"GRCh38 \(datasets\[\]\.genotypes\.reference_genome; if the genotypes are on GRCh37, "
                       r"correct that key instead\); use the PGS Catalog file harmonised to GRCh38 .*hmPOS_GRCh38.*, "
                       r"or set pgs\.liftover\.chain_file to a GRCh37->GRCh38 chain file"):
        parse(GRCH37 + COLS + ROWS)
    # A GRCh38 callset declared GRCh37 (new-user trial, session 19: an AoU VDS with a typo'd
    # reference_genome): the error told only to download GRCh37 files or lift the scores over,
    # never naming the config key that was wrong.
    with pytest.raises(InputDataError, match=r"but the dataset is GRCh37 \(datasets\[\]\.genotypes\."
                       r"reference_genome; if the genotypes are on GRCh38, correct that key instead\)"):
        parse(HEADER + COLS + ROWS, target_build="GRCh37")
    # NCBI36 cannot be lifted by Hail: only the harmonised file is offered
    with pytest.raises(InputDataError, match=r"harmonised to GRCh38 \(\*_hmPOS_GRCh38\.txt\.gz, with hm_chr/hm_pos\)$"):
        parse(HEADER.replace("GRCh38", "NCBI36") + COLS + ROWS, liftover=True)


def test_liftover_keeps_author_positions_on_their_build():
    sf = parse(GRCH37 + COLS + ROWS, liftover=True)
    assert (sf.positions_from, sf.positions_build) == ("author", "GRCh37")
    assert sf.variants["pos"].tolist() == [100, 200, 300]
    assert any("lifted over to GRCh38" in n for n in sf.notes)
    # a file on the dataset's build is not lifted, option or not
    assert parse(HEADER + COLS + ROWS, liftover=True).positions_build == "GRCh38"
    # GRCh37 dataset, GRCh37 file: author positions as they are
    assert parse(GRCH37 + COLS + ROWS, target_build="GRCh37").positions_build == "GRCh37"


def test_missing_file_names_path(tmp_path):
    with pytest.raises(InputDataError, match="scoring file not found"):
        read_scoring_file(str(tmp_path / "nope.txt"))


def _corrupt_gzip(text: str) -> bytes:
    """gzip of ``text`` with its deflate data scrambled: zlib raises zlib.error, not OSError."""
    data = bytearray(gzip.compress(text.encode()))
    for i in range(12, len(data) - 8):
        data[i] ^= 0x55
    return bytes(data)


def test_header_reader_reads_the_header_as_the_parser_does(tmp_path):
    """``read_scoring_file_header`` (the trait-panel check's look at ``#pgs_id``) reads the
    header lines as ``read_scoring_file`` does: plain or gzip whatever the name, byte-order
    mark, format 1.0 keys, CRLF; a header with no rows after it still gives its keys."""
    from trd_spark.pgs.scoring_files import read_scoring_file_header
    from trd_spark.preflight import scoring_file_pgs_id

    text = (DATA / "PGS000901.txt").read_text()
    named_plain = tmp_path / "PGS000901.txt"  # gzip bytes under a plain name
    named_plain.write_bytes(gzip.compress(("\ufeff" + text.replace("\n", "\r\n")).encode()))
    meta = read_scoring_file_header(str(named_plain))
    header = read_scoring_file(str(named_plain)).header
    assert {k: v for k, (v, _) in meta.items() if k in ("pgs_id", "pgs_name", "weight_type")} == {
        "pgs_id": header.pgs_id, "pgs_name": header.pgs_name, "weight_type": header.weight_type}
    assert meta["pgs_id"][1] == next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("#pgs_id"))
    legacy = tmp_path / "legacy.txt"
    legacy.write_text("###PGS CATALOG SCORING FILE\n# PGS ID = PGS999999\n")  # no column line
    assert read_scoring_file_header(str(legacy)) == {"pgs_id": ("PGS999999", 2)}
    assert scoring_file_pgs_id(str(legacy)) == "PGS999999"


def test_corrupt_gzip_is_one_input_error_not_a_traceback(tmp_path):
    """Scrambled (not truncated) gzip data raised zlib.error, which neither the reader
    (``corrupt gzip data``) nor the trait-panel check caught: a traceback at check-config
    and from the pgs stage."""
    from trd_spark.preflight import scoring_file_pgs_id

    bad = tmp_path / "PGS000901.txt.gz"
    bad.write_bytes(_corrupt_gzip((DATA / "PGS000901.txt").read_text()))
    with pytest.raises(InputDataError, match="corrupt gzip data") as e:
        read_scoring_file(str(bad))
    assert e.value.where == str(bad)
    assert scoring_file_pgs_id(str(bad)) is None  # the pgs stage names the file


def _both_paths(text: str, monkeypatch, **kw):
    """(fast pyarrow path, line-by-line path) results of parsing ``text``: value or error text."""
    import trd_spark.pgs.scoring_files as sf

    def run():
        try:
            return parse(text, **kw)
        except InputDataError as e:
            return str(e)

    fast = run()
    with monkeypatch.context() as m:
        m.setattr(sf, "read_body_arrow", lambda *a, **k: None)
        slow = run()
    return fast, slow


def _assert_same(fast, slow):
    if isinstance(slow, str):
        assert fast == slow
        return
    pd.testing.assert_frame_equal(fast.variants, slow.variants)
    assert (fast.header, fast.notes, fast.positions_from, fast.n_duplicates_dropped, fast.n_unplaced) == (
        slow.header, slow.notes, slow.positions_from, slow.n_duplicates_dropped, slow.n_unplaced)


@pytest.mark.parametrize("rows", [
    pytest.param(ROWS, id="plain"),
    pytest.param(ROWS + "\n\n", id="trailing-blank-lines"),
    pytest.param(ROWS + "rs4\t\t\tA\tG\t1\n", id="unplaced-row"),
    pytest.param(ROWS + "rs1\t1\t100\tG\tA\t0.5\n", id="swapped-duplicate"),
    pytest.param(ROWS + "rs5\t1\t500\tN\tG\t1\n", id="bad-allele"),
    pytest.param(ROWS + "rs5\t1\t500\tA\tG\tNaN\n", id="nan-weight"),
    pytest.param(ROWS + "rs5\t1\t500\t\tG\t1\n", id="missing-effect-allele"),
    pytest.param(ROWS + " \t1\t500\tA\tG\t1\n", id="space-rsid"),
])
def test_pyarrow_reader_gives_the_same_records_and_errors_as_the_line_parser(rows, monkeypatch):
    import trd_spark.pgs.scoring_files as sf

    text = HEADER + COLS + rows
    assert sf.read_body_arrow(text.split(COLS, 1)[1].rstrip("\n"), COLS.strip().split("\t")) is not None
    _assert_same(*_both_paths(text, monkeypatch))


def test_pyarrow_reader_on_the_real_files(monkeypatch):
    import trd_spark.pgs.scoring_files as sf

    cases = Path(__file__).parent / "data" / "field_cases" / "pgs"
    for path in [DATA / "PGS000901.txt", *sorted(cases.glob("*/scores/*"))]:
        text = sf._open_text(str(path))
        fast, slow = _both_paths(text, monkeypatch, duplicate_variants="first", max_abs_weight=10.0)
        _assert_same(fast, slow)


@pytest.mark.parametrize("rows, where, used_fast", [
    pytest.param(ROWS + "rs5\t1\t500\tA\tG\t1\textra\n", "s.txt:10", False, id="extra-field"),
    pytest.param(ROWS + "rs5\t1\t500\tA\n", "s.txt:10", False, id="missing-fields"),
    pytest.param(ROWS + "\nrs5\t1\t500\tA\tG\t1\n", "s.txt:10", True, id="interior-blank-line"),
    pytest.param(ROWS.replace("rs2", '"rs2"'), None, False, id="quote"),
    pytest.param(ROWS.replace("\n", "\r\n"), None, True, id="crlf-read-fast-after-splitlines"),
])
def test_malformed_bodies_fall_back_to_the_line_parser(rows, where, used_fast, monkeypatch):
    """Shapes the pyarrow reader would read differently or could not place by line go through
    the line-by-line parser: the same result, and errors still name file:line (CRLF line ends
    are gone after splitlines, so that file takes the fast path; a blank line is a row of
    nulls in both readers, so the fast path names its line too)."""
    import trd_spark.pgs.scoring_files as sf

    text = HEADER + COLS + rows
    body = "\n".join(text.splitlines()[6:])
    assert (sf.read_body_arrow(body, COLS.strip().split("\t")) is not None) is used_fast
    fast, slow = _both_paths(text, monkeypatch)
    _assert_same(fast, slow)
    if where:
        assert isinstance(fast, str) and fast.startswith(f"{where}: "), fast


HM_HEADER = "#pgs_id=PGS000779\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n#weight_type=beta\n"
HM_COLS = ("rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_source\thm_rsID\thm_chr"
           "\thm_pos\thm_inferOtherAllele\n")
EDGE_CASES = {
    "harmonised": (HM_HEADER + HM_COLS + "rs1\t1\t1000\tA\tG\t0.5\tENSEMBL\trs1\t1\t2000\t\n"
                   "rs2\t1\t1100\tC\tT\t0.1\tliftover\t\t\t\t\n"
                   "rs3\t2\t500\tt\t\t-0.2\tENSEMBL\trs3\tchr2\t900\tC\n", {}),
    "odds-ratios": (HEADER.replace("beta", "OR") + COLS + "rs1\t1\t100\tA\tG\t1.5\nrs2\t2\t200\tC\tT\t0.8\n", {}),
    "rsid-only": (HEADER + "rsID\teffect_allele\tother_allele\teffect_weight\nrs1\tA\tG\t0.5\nrs2\tC\t\t1\n",
                  {"match_rsid": True}),
    "crlf": ((HEADER + COLS + ROWS).replace("\n", "\r\n"), {}),
    "no-final-newline": (HEADER + COLS + ROWS.rstrip("\n"), {}),
    "bom": ("\ufeff" + HEADER + COLS + ROWS, {}),
    "no-other-allele-column": (HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t100\tA\t0.5\n"
                               "X\t300\tG\t-1\n", {}),
    "spaces-and-case": (HEADER + COLS + "rs1 \tchr1\t 100\t a\tG \t 0.5\nrs2\tMT\t200\tC\tt\t1e-2\n", {}),
    "additive-flags-false": (HEADER + COLS.replace("\n", "\tis_haplotype\tis_interaction\n")
                             + "rs1\t1\t100\tA\tG\t0.5\tFalse\tFALSE\n", {}),
    "interaction-refused": (HEADER + COLS.replace("\n", "\tis_interaction\n") + "rs1\t1\t100\tA\tG\t0.5\tFalse\n"
                            "rs2\t1\t200\tA\tG\t0.5\tTrue\n", {}),
    "dosage-weights-refused": (HEADER + COLS.replace("\n", "\tdosage_0_weight\n") + "rs1\t1\t100\tA\tG\t0.5\t\n"
                               "rs2\t1\t200\tA\tG\t0.5\t0.1\n", {}),
    "header-only": (HEADER + COLS, {}),
    "liftover": (GRCH37 + COLS + ROWS, {"liftover": True}),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_fast_path_and_line_parser_agree_on_hand_made_files(name, monkeypatch, tmp_path):
    """Each shape read through the file reader (plain and gzip) by the vectorised path and by
    the line-by-line parser gives the same ScoringFile, or the same one-line error."""
    text, kw = EDGE_CASES[name]
    plain, zipped = tmp_path / "s.txt", tmp_path / "s.txt.gz"
    plain.write_bytes(text.encode())
    zipped.write_bytes(gzip.compress(text.encode()))
    for path in (plain, zipped):
        fast, slow, used_fast = _both_files(str(path), monkeypatch, **kw)
        _assert_same(fast, slow)
        # Only an empty body is left to the line parser here: the comparison is not vacuous.
        assert used_fast == (name != "header-only")
        if isinstance(fast, str):  # an error names the file (and a line)
            assert fast.startswith(f"{path}:"), fast


def _both_files(path: str, monkeypatch, **kw):
    """``_both_paths`` through ``read_scoring_file`` (bytes, gzip, BOM handled as in the stage),
    and whether the vectorised reader returned the rows."""
    import trd_spark.pgs.scoring_files as sf

    def run():
        try:
            return read_scoring_file(path, **kw)
        except InputDataError as e:
            return str(e)

    used = []
    real = sf.read_body_arrow
    with monkeypatch.context() as m:
        m.setattr(sf, "read_body_arrow", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
        fast = run()
        m.setattr(sf, "read_body_arrow", lambda *a, **k: None)
        slow = run()
    return fast, slow, any(u is not None for u in used)


def test_fast_path_and_line_parser_agree_on_toy_scoring_files(monkeypatch, tmp_path):
    """The toy generator's harmonised files (rsID, hm_* columns, ambiguous, flipped, absent and
    multi-allelic variants) read the same both ways."""
    import numpy as np

    from trd_spark.toydata.genotypes import draw_sites
    from trd_spark.toydata.scores import draw_score_variants, write_scoring_files

    rng = np.random.default_rng(3)
    paths = write_scoring_files(tmp_path, draw_score_variants(rng, draw_sites(rng, 2000, 3)))
    assert len(paths) >= 2
    for path in paths:
        fast, slow, used_fast = _both_files(str(path), monkeypatch)
        _assert_same(fast, slow)
        assert used_fast and not isinstance(fast, str)


def test_numbers_are_read_correctly_rounded_and_odd_text_is_not_a_number():
    """Weights are read as Python's float() reads them (correctly rounded: pandas' to_numeric,
    used before, was one unit in the last place off for many 17-digit weights such as
    0.017279209603239302); text that is not a decimal number is NaN (its line is then named)."""
    import numpy as np

    from trd_spark.pgs.scoring_files import parse_numbers

    rng = np.random.default_rng(5)
    text = [repr(float(w)) for w in rng.normal(0, 0.05, 2000)] + ["0.017279209603239302", " 1.5 ", "+.5", "1e-3",
                                                                   "-0", "1.", "inf", "-Infinity"]
    got = parse_numbers(pd.Series(text, dtype=object)).to_numpy()
    assert got.tobytes() == np.array([float(t) for t in text]).tobytes()
    odd = ["", "1_0", "0x10", "1e", "1,5", "\u0661", "1d0", "abc", "nan"]
    assert parse_numbers(pd.Series(odd, dtype=object)).isna().all()


def test_numbers_cast_directly_read_as_the_pattern_reads_them(monkeypatch):
    """``parse_numbers`` casts the text straight to float64 when every value casts (issue 16,
    session 18: the trim and the regular expression were ~40% of a file's parse): each string
    alone (cast directly when it can be) reads bit for bit as beside a value the cast refuses
    (the pattern path for both), whatever the string, and the clean column skips the pattern."""
    import random

    import numpy as np
    import pyarrow.compute as pc

    import trd_spark.pgs.scoring_files as sf

    rng = random.Random(7)
    alphabet = [*"0123456789.eE+-", "inf", "nan", "NaN", "Infinity", " ", "x", "(", ")", "_", "0x", "d", ","]
    odd = ["1", "+1", "-0", "1.", ".5", "1e5", "1E+05", "1e", "e5", "+inf", "nan", "nan(1)", "NaN()", "0x10",
           "1_0", "01", "1e400", "-1e-400", ".", "+.5", "5.e3", "\u0661", "0.017279209603239302", " 1", "1 "]
    cands = odd + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(3000)]
    for text in cands:
        alone = sf.parse_numbers(pd.Series([text], dtype=object)).to_numpy()[:1]
        beside = sf.parse_numbers(pd.Series([text, " x"], dtype=object)).to_numpy()[:1]
        assert alone.tobytes() == beside.tobytes() or (np.isnan(alone).all() and np.isnan(beside).all()), text

    def refuse(*a, **k):
        raise AssertionError("the pattern path ran on a column that casts")

    monkeypatch.setattr(pc, "utf8_trim_whitespace", refuse)
    clean = ["0.5", "-1e-3", "2", "1e5"]
    assert sf.parse_numbers(pd.Series(clean, dtype=object)).tolist() == [0.5, -1e-3, 2.0, 1e5]


@pytest.mark.parametrize("extra, where, n", [
    pytest.param("\t\t\t\t\t\nrs5\t1\t500\tA\tG\t1\n", "s.txt:10", None, id="empty-fields-inside"),
    pytest.param("\t\t\t\t\t\n", None, 3, id="empty-fields-last"),
    pytest.param("\t1\t500\tA\tG\t1\n", None, 4, id="first-field-empty-only"),
])
def test_a_row_of_empty_fields_is_a_blank_line(extra, where, n):
    """A row whose fields are all empty is a blank line (an error inside the rows, dropped at
    the end); a row with only its first field empty is a variant (the blank check looks at the
    other fields only when the first is empty)."""
    if where:
        with pytest.raises(InputDataError, match=rf"^{where}: blank line inside the variant rows"):
            parse(HEADER + COLS + ROWS + extra)
    else:
        assert len(parse(HEADER + COLS + ROWS + extra).variants) == n


def test_position_beyond_int32_names_the_line():
    with pytest.raises(InputDataError, match=r"^s\.txt:8: column chr_position: position beyond 2147483647"):
        parse(HEADER + COLS + ROWS.replace("\t200\t", "\t99999999999999999999\t"))


CODED_ROWS = ("rs1\tchr1\t100\ta\tG\t0.5\nrs2\t1\t200\t C \t\t-1e-3\n.\t23\t300\tC\tT\t2\nNR\tchrM\t400\tAC\tt\t1\n"
              "rs1\t1\t100\tG\tA\t0.25\n")


@pytest.mark.parametrize("text, kw", [
    pytest.param(HEADER + COLS + CODED_ROWS, {"duplicate_variants": "first"}, id="positions"),
    pytest.param(HEADER + "rsID\teffect_allele\tother_allele\teffect_weight\nrs1\tA\tG\t1\nrs2\tc\t\t2\nrs1\tG\tA\t3\n",
                 {"match_rsid": True, "duplicate_variants": "first"}, id="rsid-only"),
    pytest.param(HEADER + "chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\t1\n", {}, id="no-other-allele"),
    pytest.param("#pgs_id=PGS1\n#HmPOS_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"
                 "\thm_chr\thm_pos\n1\t9\tA\tG\t1\t1\t10\n1\t8\tA\tG\t1\t\t\n", {}, id="unplaced"),
])
def test_text_codes_are_the_variants_text(text, kw, monkeypatch):
    """``ScoringFile.text_codes`` (what matching.score_sites groups on) decode to the variants'
    text columns row by row, distinct values once each, on both parse paths."""
    for sf in _both_paths(text, monkeypatch, **kw):
        assert sf.n_duplicates_dropped == (1 if "duplicate_variants" in kw else 0)
        for col in ("chrom", "effect_allele", "other_allele", "rsid"):
            codes = sf.text_codes[col]
            assert codes.decoded().tolist() == sf.variants[col].tolist(), col
            assert len(set(codes.values)) == len(codes.values) and codes.codes.dtype == "int32", col


@pytest.mark.parametrize("text", ["#a=1\nc1\tc2\nx\ty\n", "#a=1\nc1\tc2\nx\ty", "#a=1\nc1\tc2\n", "#a=1\nc1",
                                  "#a\nc\n1\n\n\n", "#a\nc\n\n1\n", "c\n1\n2\n"])
def test_header_split_equals_splitlines(text):
    from trd_spark.pgs.scoring_files import _split_head

    lines = text.splitlines()
    head, rows_at = _split_head(text)
    n = len(head)
    assert head == lines[:n] and not head[-1].startswith("#") and all(h.startswith("#") for h in head[:-1])
    assert text[rows_at:].removesuffix("\n") == "\n".join(lines[n:])


@pytest.mark.parametrize("text", ["#a\r\nc\r\n1\r\n", "#a\nc\n1\x0c2\n", "#a\nc\n1\u20282\n", "#a\n#b\n"])
def test_header_split_leaves_other_line_breaks_to_splitlines(text):
    from trd_spark.pgs.scoring_files import _split_head

    assert _split_head(text) is None


@pytest.mark.parametrize("shape", ["sorted-unique", "sorted-repeated-position", "grouped-chromosome-repeats",
                                   "unsorted", "unplaced-row"])
def test_duplicate_sites_of_sorted_files_skip_the_hash_and_agree_with_it(shape, monkeypatch):
    """A file whose (chromosome, position) increase strictly row by row has no duplicate site:
    ``duplicate_sites`` answers from that alone (``_sites_strictly_increasing``) and agrees with
    the full check of every row's site and allele pair; any other order takes the full check."""
    import numpy as np

    import trd_spark.pgs.scoring_files as sf

    rng = np.random.default_rng(7)
    n = 3000
    chrom = np.sort(rng.integers(0, 3, n)).astype(np.int32)
    pos = np.concatenate([np.sort(rng.choice(10**6, (chrom == c).sum(), replace=False)) + 1 for c in range(3)])
    alleles = rng.integers(0, 4, (2, n)).astype(np.int32)
    if shape == "sorted-repeated-position":  # one site listed twice in a row, alleles swapped
        pos[11], alleles[:, 11] = pos[10], alleles[::-1, 10]
    elif shape == "grouped-chromosome-repeats":  # chromosome 0 again at the end: codes not increasing
        chrom[-1], pos[-1] = 0, pos[0]
        alleles[:, -1] = alleles[:, 0]
    elif shape == "unsorted":
        order = rng.permutation(n)
        chrom, pos, alleles = chrom[order], pos[order], alleles[:, order]
    elif shape == "unplaced-row":
        chrom[5], pos[5] = -1, -1
    values = np.array(["A", "C", "G", "T"], dtype=object)
    codes = {"chrom": sf.TextCodes(chrom, np.array(["1", "2", "3"], dtype=object)),
             "effect_allele": sf.TextCodes(alleles[0], values), "other_allele": sf.TextCodes(alleles[1], values),
             "rsid": sf.TextCodes.missing(n)}
    shortcut = sf._sites_strictly_increasing(chrom, pos)
    assert shortcut == (shape == "sorted-unique")
    dup = sf.duplicate_sites(codes, pos, by_rsid=False)
    with monkeypatch.context() as m:
        m.setattr(sf, "_sites_strictly_increasing", lambda *a: False)
        full = sf.duplicate_sites(codes, pos, by_rsid=False)
    np.testing.assert_array_equal(dup, full)
    assert dup.sum() == (1 if shape in ("sorted-repeated-position", "grouped-chromosome-repeats") else 0)


@pytest.mark.parametrize("prefix, rows", [("#a=1\nc1\tc2\n", "x\ty\n\nz\t\n"), ("#é=1\nc1\tc2\n", "é\ty\nz\tü\n")])
def test_rows_read_in_place_as_their_slice_reads(prefix, rows):
    """``read_body_arrow(text, start=, end=)`` (the rows read where they are in the file's text,
    not copied out first) gives the records of the sliced rows, ASCII or not."""
    import trd_spark.pgs.scoring_files as sf

    text = prefix + rows + "\n"
    in_place = sf.read_body_arrow(text, ["c1", "c2"], start=len(prefix), end=len(text) - 1)
    pd.testing.assert_frame_equal(in_place, sf.read_body_arrow(rows, ["c1", "c2"]))
    assert len(in_place) == rows.count("\n")  # a blank line is a row (of nulls)
    for blank in ("", "\n \n"):  # no rows, only blanks: the line parser's case
        assert sf.read_body_arrow(blank + text, ["c1", "c2"], start=0, end=len(blank)) is None


# --------------------------------------------------------------------------------------------
# scoring files parsed ahead, while the Spark session starts (issue 16)
# --------------------------------------------------------------------------------------------
def _score_files(tmp_path: Path, n: int = 3, *, gz: bool = True) -> list[Path]:
    """``n`` copies of PGS000901.txt, each its own score (PGS00090<i>), gzipped (else plain
    text under the same name: the reader goes by the bytes)."""
    text = (DATA / "PGS000901.txt").read_text()
    paths = []
    for i in range(n):
        path = tmp_path / f"PGS00090{i + 1}.txt.gz"
        data = text.replace("PGS000901", f"PGS00090{i + 1}").encode()
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    return paths


def _pgs(tmp_path: Path, **kw):
    from trd_spark.config import PgsSettings

    return PgsSettings(scoring_files=[str(tmp_path / "*.txt.gz")], trait_panel="unused.yaml", **kw)


def _assert_same_files(got, expected) -> None:
    assert [f.path for f in got] == [f.path for f in expected]
    for a, b in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(a.variants, b.variants, check_exact=True)
        assert (a.header, a.notes, a.positions_from, a.n_duplicates_dropped) == (
            b.header, b.notes, b.positions_from, b.n_duplicates_dropped)


def _ahead_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "scoring-files-ahead"]


def test_files_parsed_ahead_are_taken_once_as_parsed(tmp_path, caplog):
    """A ``ParseAhead`` (the CLI starts one while Spark starts) parses the files in a thread;
    ``read_scoring_files`` handed it takes its result (logged, with the parse's seconds) instead
    of parsing: the same ScoringFiles as a parse of its own. Taken once: a second read parses;
    a read not handed it parses for itself (no global registry: session 23)."""
    import logging

    import trd_spark.pgs.scoring_files as sf

    _score_files(tmp_path)
    pgs = _pgs(tmp_path, duplicate_variants="first")
    expected = sf.read_scoring_files(None, pgs, "GRCh38")
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.scoring_files"), \
            sf.parsed_ahead(pgs, ["GRCh38"]) as ahead:
        ahead.wait()
        own = sf.read_scoring_files(None, pgs, "GRCh38")  # not handed the ahead: parses
        assert not any("parsed while the session started" in r.getMessage() for r in caplog.records)
        got = sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)
        again = sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)
    taken = [r.getMessage() for r in caplog.records if "parsed while the session started" in r.getMessage()]
    assert len(taken) == 1 and taken[0].startswith("3 scoring files for GRCh38 parsed while")
    assert all(a is not b for a, b in zip(own, got))
    _assert_same_files(own, expected)
    _assert_same_files(got, expected)
    _assert_same_files(again, expected)
    assert not _ahead_threads()


def test_files_parsed_ahead_for_other_options_or_edited_since_are_parsed_again(tmp_path, caplog):
    """The result is taken only for the options and files the reader asks for as they are now:
    another build's or another option's read parses itself, and a file written after the
    thread read it (same size, its mtime put back: only its ctime tells) is parsed again."""
    import logging
    import os

    import trd_spark.pgs.scoring_files as sf

    paths = _score_files(tmp_path, gz=False)
    pgs = _pgs(tmp_path)
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.scoring_files"):
        with sf.parsed_ahead(pgs, ["GRCh38"]) as ahead:
            ahead.wait()
            with pytest.raises(InputDataError, match="on build GRCh38"):  # another build: its own parse
                sf.read_scoring_files(None, pgs, "GRCh37", ahead=ahead)
            sf.read_scoring_files(None, _pgs(tmp_path, max_abs_weight=100.0), "GRCh38", ahead=ahead)  # another option
            st = os.stat(paths[1])
            paths[1].write_bytes(paths[1].read_bytes().replace(b"\t0.5\n", b"\t0.7\n"))
            os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns))
            assert (os.stat(paths[1]).st_size, os.stat(paths[1]).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
            got = sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)
    assert not any("parsed while the session started" in r.getMessage() for r in caplog.records)
    assert any("changed since they were parsed ahead: parsed again" in r.getMessage() for r in caplog.records)
    assert got[1].variants["effect_weight"].iloc[0] == 0.7 and got[0].variants["effect_weight"].iloc[0] == 0.5


@pytest.mark.parametrize("bad", ["weight", "truncated"])
def test_an_error_parsed_ahead_is_raised_by_the_read_as_its_own_parse_raises_it(tmp_path, bad):
    """Files that do not parse: starting and waiting for the ahead raise nothing; the read
    raises the error its own parse raises (one line naming the file, and the line where it has
    one), the first failing file in file order; nothing is left running."""
    import trd_spark.pgs.scoring_files as sf

    paths = _score_files(tmp_path)
    for p in paths[1:]:
        data = p.read_bytes()
        p.write_bytes(gzip.compress(gzip.decompress(data).replace(b"\t-1.0\n", b"\tabc\n")) if bad == "weight"
                      else data[: len(data) // 2])
    pgs = _pgs(tmp_path)
    with pytest.raises(InputDataError) as own:
        sf.read_scoring_files(None, pgs, "GRCh38")
    with sf.parsed_ahead(pgs, ["GRCh38"]) as ahead:
        ahead.wait()
        with pytest.raises(InputDataError) as taken:
            sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)
    assert (str(taken.value), taken.value.where) == (str(own.value), own.value.where)
    assert own.value.where == (f"{paths[1]}:17" if bad == "weight" else str(paths[1]))
    assert not _ahead_threads()


def test_an_ahead_closed_untaken_stops_and_is_forgotten(tmp_path):
    """Closed before anything took its result (a JVM that failed to start, an interrupt): the
    thread is joined, no result is kept, and a later read parses for itself."""
    import trd_spark.pgs.scoring_files as sf

    _score_files(tmp_path, 8)
    pgs = _pgs(tmp_path)
    with sf.parsed_ahead(pgs, ["GRCh38", "GRCh37"]) as ahead:
        pass
    assert not _ahead_threads() and not ahead._parsed
    assert len(sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)) == 8
    uri = sf.ParseAhead(_pgs(tmp_path).model_copy(update={"scoring_files": ["gs://b/s/*.txt.gz"]}), ["GRCh38"]).start()
    assert not _ahead_threads()  # read through Spark once it runs: not ahead
    assert uri.take(["gs://b/s/a.txt.gz"], sf._ParseOptions.of(_pgs(tmp_path), "GRCh38")) is None
    uri.close()


def test_the_cli_parses_ahead_only_when_the_pgs_stage_will_run(tmp_path):
    """``pipeline.scoring_files_parsed_ahead`` (around the CLI's session start) starts a parse
    of the pgs stage's scoring files, through the stage's config view, only when that stage is
    requested and will run (no complete output here, or --force); not for other stages. It
    yields the ParseAhead to hand the stages (``run_stages(..., handed=)``), nothing otherwise;
    the pgs stage's reader takes it from its run context (``StageContext.handed``)."""
    from trd_spark.config import load_config
    from trd_spark.pgs import scoring_files as sf
    from trd_spark.pgs.stage import load_scoring_files
    from trd_spark.pipeline import scoring_files_parsed_ahead

    _score_files(tmp_path)
    cfg = load_config(overrides={"output_root": str(tmp_path / "out"),
                                 "pgs": {"scoring_files": [str(tmp_path / "*.txt.gz")],
                                         "trait_panel": "trait_panel_toy.yaml"}})
    for stages, force, started in ((None, False, True), (["pgs"], False, True), (["phenotypes", "cohort"], True, False)):
        with scoring_files_parsed_ahead(cfg, stages, force=force) as handed:
            assert list(handed) == ([sf.SCORING_FILES_AHEAD] if started else []), stages
            if started:
                ahead = handed[sf.SCORING_FILES_AHEAD]
                assert isinstance(ahead, sf.ParseAhead)
                assert [o.target_build for o in ahead.options] == ["GRCh38"]
                assert len(load_scoring_files(None, cfg, "GRCh38", ahead=ahead)) == 3  # type: ignore[arg-type]
                assert not ahead._parsed  # taken
        assert not _ahead_threads()


_IMPORTS_OFF_THE_MAIN_THREAD = r'''
import sys, threading
off_main = []

class Recorder:
    """Sees every import not yet in sys.modules, and which thread asked."""
    def find_spec(self, fullname, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            off_main.append((threading.current_thread().name, fullname))
        return None

import trd_spark.cli  # what the CLI has imported when it starts the parse
from trd_spark.config import PgsSettings
from trd_spark.pgs.scoring_files import ParseAhead
sys.meta_path.insert(0, Recorder())
pgs = PgsSettings(scoring_files=[sys.argv[1] + "/*.txt.gz"], trait_panel="unused.yaml")
ahead = ParseAhead(pgs, ["GRCh38"]).start()
ahead.wait()
options = next(iter(ahead._parsed))
assert len(ahead.take(ahead._parsed[options].paths, options)) == 2, "not parsed"
print(sorted(set(off_main)))
'''


def test_a_parse_ahead_imports_nothing_in_its_threads(tmp_path):
    """The parse that runs while the main thread imports Hail and starts Spark imports no module
    in its own threads (all imported before it starts: ``_import_parse_modules``): two threads
    importing at once handed ``import hail`` a half-initialised aiohttp ("module aiohttp has no
    attribute typedefs", session 31, under load). A fresh interpreter, so nothing is cached."""
    import subprocess
    import sys

    _score_files(tmp_path, n=2)
    out = subprocess.run([sys.executable, "-c", _IMPORTS_OFF_THE_MAIN_THREAD, str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
