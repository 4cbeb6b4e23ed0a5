"""Mutation review of session 31's code (session 32 helper "review"): each test here fails on a
hand mutant of session 31's code (or of earlier code session 31's review left untested) that
every existing test let pass, and passes on HEAD.

The mutants (one each, in a copy of the tree) and the tests that now catch them:
- scoring.compute_scores imputing a male's missing chrY call with 0 alt copies when no male is
  called on the row (``y_mean``'s default 1.0 -> 0.0; session 31's review mutant S7, whose native
  twin is test_review_s30_mutants' ``_drop_non_males_on_y`` test):
  ``test_hail_s_pass_imputes_a_male_s_missing_chry_call_with_no_male_called_as_plink2``.
- preflight._gzip_has_no_record taking the first byte of every decompressed chunk as a line's
  start (``at_line_start = False`` -> ``True`` where a chunk ends inside a line): a header-only
  plain-gzip VCF whose ``#CHROM`` line is longer than a chunk (64 KiB: ~9k samples) passed as
  holding records, the fault 6d7049b fixed for short headers:
  ``test_a_header_only_plain_gzip_vcf_with_a_long_chrom_line_is_refused``.
- mt_entries._calls_of_widened checking the first row of each step only (``rows[first:first +
  per_step]`` -> ``rows[first:first + 1]``; per_step is ~200k rows at a few samples, so no test
  part had a second step): a row of the same width whose header or calls are not one-byte calls
  (a filtered entry beside a two-byte call) was read as calls, silently wrong:
  ``test_every_row_of_every_step_is_checked_before_a_part_is_read_at_once``.
- scoring.compute_scores counting chrM calls once only when some weighted row is on chrY
  (``haploid = chr_y or (chr_m and ...)`` -> ``haploid = chr_y``), and engine.score's
  allele-count pass run for chrY rows only (``if on_y.any() or on_m.any()`` -> ``if on_y.any()``):
  round 21's chrM score has a chrY row beside, so both passed; a score set with chrM rows and no
  chrY row got 2 alleles per called chrM variant:
  ``test_a_score_on_chrm_without_chry_counts_one_allele_per_called_chrm_variant``.
- scoring_files.ParseAhead.when_failed dropping a callback registered after the parse failed
  (``callback(failure)`` dropped): a scoring-file error found before the CLI entered its start
  no longer stopped Spark's start (d8050bd, 39680cd), the error came after the session started;
  only subprocess runs used it, whose timing let it pass:
  ``test_a_parse_error_is_told_to_a_callback_registered_before_or_after_it``.
- engine.score deciding the no-male-on-chrY WARNING on a sex file's counts with ``counts.male >
  1`` (for ``> 0``): round 20/21 have 3 males or none, so it passed; one declared male got a
  WARNING that no sample is known to be male:
  ``test_one_declared_male_is_a_male_on_chry_with_no_warning``.
- variant_list.is_compressed telling zstd only (``or head[:2] == b"\\x1f\\x8b"`` dropped): a whole
  gzipped .bim went to pandas by path (no .gz name: read as text) and was refused with a decode
  error; test_pgs_variant_list_damaged has a gzipped .bim cut short only, an error either way:
  ``test_a_whole_gzipped_bim_reads_as_the_plain_one``.
"""

from __future__ import annotations

import pytest
from test_field_cases_round20_sex import sex_case  # noqa: F401 - the round's VCF, sex and scores (fixture)

# Round 20's VCF with every male's y1 call missing (1001-1003: '1 0 .' -> '. . .'): no male is
# called on y1, a woman is (1008's 1/1, skipped). plink2 --freq gives y1 OBS_CT 0 (ALT_FREQS nan)
# and --score imputes a male's missing y1 call with frequency 0.5 there: 0.5 x y1's weight.
_Y1_CALLED = "chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t1\t0\t."
_Y1_NO_MALE = "chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t.\t.\t."


def test_hail_s_pass_imputes_a_male_s_missing_chry_call_with_no_male_called_as_plink2(
        hl, spark, tmp_path, sex_case):  # noqa: F811
    """Hail's pass (``scoring.compute_scores``): on a chrY row where no male is called, a male's
    missing call is imputed with 1 alt copy of 2 (the frequency 0.5 plink2 takes for zero
    observations), as on any row without a called sample; non-males still add nothing there.
    plink2 --score on the same VCF with the sex file is the oracle, and by hand: 1001's
    PGS992001 = a1 0.25 + x1 1.0 + x2 1.0 + y1 0.5 = 2.75 (2.25 on the mutant). The round-20
    VCF has a called male on each chrY row, so a default of 0 (mutant ``1.0`` -> ``0.0`` in
    ``y_mean``) passed every test."""
    from test_field_cases_pgs import run_scores
    from test_field_cases_round20_sex import _VCF as VCF
    from test_field_cases_round20_sex import _config, _oracle, _plink2

    tmp = sex_case[0]
    assert VCF.count(_Y1_CALLED) == 1
    (tmp_path / "y.vcf").write_text(VCF.replace(_Y1_CALLED, _Y1_NO_MALE))
    _plink2("--vcf", str(tmp_path / "y.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-pgen",
            "--out", str(tmp_path / "yp"))
    oracle = _oracle(tmp_path, str(tmp_path / "yp"))
    assert (oracle["PGS992001", 1001], oracle["PGS992002", 1003]) == pytest.approx((2.75, -0.2), abs=1e-6)
    cfg = _config(tmp_path, sex_case, str(tmp_path / "y.vcf"), "vcf", extra_pgs="  native: {engine: hail}")
    got = run_scores(hl, spark, cfg)
    sums = dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))
    assert sums == pytest.approx(oracle, abs=1e-6)


def test_a_header_only_plain_gzip_vcf_with_a_long_chrom_line_is_refused(tmp_path):
    """``preflight.header_only`` of a plain gzip VCF (6d7049b) reads it chunk by chunk from its
    start: a ``#CHROM`` line of 20,000 samples (~140 KB, three 64 KiB chunks) goes on across the
    chunks, whose first bytes are inside it, not a line's start. Header alone: True, and the
    one-file dataset is one InputDataError naming the file; the same header with records: False.
    test_preflight's header-only .vcf.gz has a 2-sample header (one chunk), so a mutant reading
    each chunk's first byte as a line's start passed it, while an All of Us #CHROM line
    (~400k samples, megabytes) always spans chunks: such a file passed preflight as holding
    records, and the pgs stage failed minutes later on a scratch file never written."""
    from test_preflight import _gzip, _vcf_config

    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError
    from trd_spark.preflight import _GZIP_CHUNK, check_vcf_inputs, header_only

    header = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
              + "\t".join(f"S{i:05d}" for i in range(20_000)) + "\n")
    # The chunks' first bytes lie inside the #CHROM line, none a '#'.
    assert len(header) > 2 * _GZIP_CHUNK and "#" not in header[_GZIP_CHUNK - 1:]
    path = tmp_path / "long.vcf.gz"
    _gzip(path, header)
    assert header_only(str(path), "gzip") is True
    with pytest.raises(InputDataError, match=r"long\.vcf\.gz: the VCF has its header but no variant record"):
        check_vcf_inputs(load_config(_vcf_config(tmp_path, path)))
    _gzip(path, header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT" + "\t0/1" * 20_000 + "\n")
    assert header_only(str(path), "gzip") is False


@pytest.mark.parametrize("bad", range(5))
def test_every_row_of_every_step_is_checked_before_a_part_is_read_at_once(tmp_path, monkeypatch, bad):
    """``mt_entries._calls_of_widened`` (4a8fad8) checks a part's rows a step at a time
    (``_ENTRIES_PER_STEP`` entries: 2 rows of 5 samples here, patched, so that 5 rows make 3
    steps). Row ``bad`` has a filtered entry (its element-missing bit set, its call left out)
    and a two-byte call (129): the same width as a row of one-byte calls, so the part's length
    check passes, and only that row's header and call bytes tell it. Whichever step and place
    in the step it has, the part is not read at once (None) and the row-by-row parse names it.
    Mutant ``rows[first:first + 1]`` (each step's first row checked alone): rows 1 and 3 were
    read as calls, misaligned; the module's tests have parts of one step."""
    import numpy as np
    from test_pgs_mt_entries import HET, HOM_ALT, HOM_REF, _part

    from trd_spark.pgs import mt_entries
    from trd_spark.pgs.mt_entries import NotDecodable, _bed_rows_widened, _decompress, bed_rows

    monkeypatch.setattr(mt_entries, "_ENTRIES_PER_STEP", 10)
    rows = [[HOM_REF, HET, None, HOM_ALT, HET] for _ in range(5)]
    rows[bad][2] = 129  # 0x81 0x01: 4 widened bytes, where the filtered entry below has none
    part = _part(tmp_path, rows, filtered=((bad, 3),))
    keep = np.arange(5)
    assert _bed_rows_widened(_decompress(open(part, "rb").read()), keep, 5, True) is None
    with pytest.raises(NotDecodable, match=f"^{part}: "):
        bed_rows(part, keep, 5, True)


# Round 21's chrM case (tests/test_field_cases_round21_sex.py's _VCF_M) scored by one score with
# an autosomal and a chrM row and no chrY row: ALLELE_CT by hand, 2 per called a1 (1005's is
# missing) + 1 per called m1 (1003's is missing), as plink2 --score counts them (the oracle).
_SCORE_NO_Y = {"PGS992105": [("1", 1000, "G", "A", 0.5), ("MT", 100, "G", "A", 2.0)]}
_NO_Y_ALLELE_CT = [3, 3, 2, 3, 1, 3, 3, 3]


@pytest.mark.parametrize("route", ["vcf-hail", "pgen"])
def test_a_score_on_chrm_without_chry_counts_one_allele_per_called_chrm_variant(hl, spark, tmp_path, route):
    """allele_count is plink2's ALLELE_CT on chrM when no weighted row is on chrY (d36b349):
    Hail's pass (``compute_scores``' haploid columns) and the native pass on a .pgen (its
    allele-count pass, ``engine._haploid_allele_counts``). By hand and by plink2 --score on the
    same .pgen: [3, 3, 2, 3, 1, 3, 3, 3] for 1001..1008 (4 where a called m1 counted 2)."""
    from plink2_score_oracle import plink2 as _plink2
    from test_field_cases_pgs import case_config, published_frame
    from test_field_cases_round21_sex import _SEX, _VCF_M

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(_VCF_M)
    (tmp_path / "sex.txt").write_text(_SEX)
    (tmp_path / "scores").mkdir()
    for pgs_id, rows in _SCORE_NO_Y.items():
        (tmp_path / "scores" / f"{pgs_id}.txt").write_text(
            f"#pgs_id={pgs_id}\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            + "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows))
    _plink2("--vcf", str(tmp_path / "d.vcf"), "--update-sex", str(tmp_path / "sex.txt"), "--make-pgen",
            "--out", str(tmp_path / "p"))
    (tmp_path / "w.txt").write_text("ID\tA1\tW\na1\tG\t0.5\nm1\tG\t2.0\n")
    _plink2("--pfile", str(tmp_path / "p"), "--freq", "--out", str(tmp_path / "f"))  # (8 samples: its own --freq)
    _plink2("--pfile", str(tmp_path / "p"), "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "w.txt"),
            "1", "2", "3", "header-read", "--out", str(tmp_path / "o"))
    with open(tmp_path / "o.sscore") as f:
        header = f.readline().split()
        oracle = [int(r[header.index("ALLELE_CT")]) for r in (line.split() for line in f)]
    assert oracle == _NO_Y_ALLELE_CT
    path, fmt, extra = (("d.vcf", "vcf", "  native: {engine: hail}") if route == "vcf-hail" else ("p", "pgen", ""))
    cfg = case_config(tmp_path, str(tmp_path / path), str(tmp_path / "scores" / "*.txt"), fmt=fmt, extra_pgs=extra)
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, stage.match_dataset(hl, spark, cfg, "d", files)))
    assert [int(n) for _, n in sorted(zip(got["person_id"].astype(int), got["allele_count"]))] == _NO_Y_ALLELE_CT


def test_a_parse_error_is_told_to_a_callback_registered_before_or_after_it(tmp_path):
    """``ParseAhead.when_failed`` (d8050bd): a callback registered before the parse fails is
    called once, from the parse's thread, with the error; one registered after it failed is
    called at once with the same error (the CLI registers when it enters Spark's start, which a
    small bad file's parse may have beaten). The error is still raised where the stage takes
    the result. No Spark."""
    from trd_spark.config import PgsSettings
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import ParseAhead

    (tmp_path / "PGS900001.txt").write_text(
        "#pgs_id=PGS900001\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
        "1\t100\tA\tG\tnot_a_number\n")
    pgs = PgsSettings(scoring_files=[str(tmp_path / "*.txt")], trait_panel="unused.yaml")
    before: list[Exception] = []
    ahead = ParseAhead(pgs, ["GRCh38"])
    ahead.when_failed(before.append)
    ahead.start().wait()
    after: list[Exception] = []
    ahead.when_failed(after.append)
    ahead.close()
    assert len(before) == 1 and isinstance(before[0], InputDataError) and "PGS900001.txt" in str(before[0])
    assert after == before



def test_one_declared_male_is_a_male_on_chry_with_no_warning(hl, spark, tmp_path, caplog):
    """A sex file declaring exactly one male (1001), Hail's pass (d36b349: whether any sample is
    male is read from the sex file's counts, no job): no WARNING that no sample is known to be
    male, and the sums are plink2's with that sex file (1001's chrY calls counted, everyone
    else's skipped). The tests had 3 declared males or none."""
    import logging

    from test_field_cases_pgs import case_config, published_frame
    from test_field_cases_round21_sex import _VCF, _oracle, _write_scores

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(_VCF)
    (tmp_path / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{i}\t{1 if i == 1001 else 2}\n"
                                                              for i in range(1001, 1009)))
    _write_scores(tmp_path)
    oracle = _oracle(tmp_path, tmp_path / "d.vcf")
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "scores" / "*.txt"),
                      extra_genotypes=f', sex_source: {{path: "{tmp_path}/sex.txt"}}',
                      extra_pgs="  native: {engine: hail}")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.pgen_engine"):
        got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    assert [rec.getMessage() for rec in caplog.records if "chrY" in rec.getMessage()] == []
    sums = dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))
    assert sums == pytest.approx(oracle, rel=1e-5, abs=1e-6)  # plink2's 6 digits


def test_a_whole_gzipped_bim_reads_as_the_plain_one(tmp_path):
    """A .bim whose bytes are gzip (``variant_list.open_variant_text`` decompresses a variant
    list by its first bytes, 1bd9f69 names a damaged one) reads as the same .bim written plain:
    the same rows (``pgen_engine._csv_source`` hands pandas the decompressed text, not the path).
    No Spark."""
    import gzip

    from trd_spark.pgs.native_task import PlinkFiles
    from trd_spark.pgs.pgen_engine import variant_index

    bim = "".join(f"1\trs{i}\t0\t{1000 + 7 * i}\tG\tA\n" for i in range(2_000))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "g.bim").write_text(bim)
    (tmp_path / "g.bim").write_bytes(gzip.compress(bim.encode()))
    plain = variant_index(PlinkFiles("plink", str(tmp_path / "plain" / "g")), "GRCh38").frame
    got = variant_index(PlinkFiles("plink", str(tmp_path / "g")), "GRCh38").frame
    assert len(plain) == 2_000 and got.equals(plain)
