"""The calls the genotype filter FT made missing, counted apart from the calls missing in the data.

A call whose FT failed is a missing call (``genotypes.without_failed_genotypes``), imputed like
any other; the manifest gave one missing-call share, so "FT failed a fifth of the calls at the
score sites" (a QC decision that moves the scores) read like "the data has missing calls". Now
the scoring pass counts them per row (Hail's pass: a row field beside its sums; the export for
the native engine: the .bim's cM column of the same write), per score and per dataset
(``scoring.FtFailedCalls``), the manifest's ``notes.ft_failed_call_share`` gives the dataset's
share (a count of 1..19 as its label) or why there is none, ``notes.ft_failed_calls_by_score``
the exact counts per score (internal: per-score shares gave a small count by difference,
tests/test_privacy_s32.py), and a WARNING names it at ``pgs.ft_failed_warn``. The scores themselves are unchanged (hand-computed below, the same on
the base commit).

The VCF (samples 1001-1004): chr1:1000 A>G with FT (1002's 1/1 failed), chr1:2000 C>T without FT,
chr1:3000 G>A,C with FT: 1002's 1/2 failed, 1003's ./. failed too but was missing already (not a
call FT removed). PGS991801: 1000 G 1.0, 2000 T 0.5, 3000 A 1.0 (12 scored calls, 2 FT-failed:
1002 at 1000 and at the split row G>A); PGS991802: 1000 G 1.0 (4 scored calls, 1 FT-failed).
"""

from __future__ import annotations

import logging

import pytest

from trd_spark.pgs import stage

_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=FT,Number=1,Type=String,Description="Genotype filter">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT:FT\t0/1:PASS\t1/1:high_CALIBRATION_SENSITIVITY_SNP\t0/0:.\t0/1:PASS
chr1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/0
chr1\t3000\trs3\tG\tA,C\t.\tPASS\t.\tGT:FT\t0/1:PASS\t1/2:LowGQ\t./.:LowGQ\t0/2:PASS
"""
_HEAD = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
_SCORES = {"PGS991801": "1\t1000\tG\tA\t1.0\n1\t2000\tT\tC\t0.5\n1\t3000\tA\tG\t1.0\n",
           "PGS991802": "1\t1000\tG\tA\t1.0\n"}
# By hand, mean imputation: chr1:1000 mean G 2/3 (1001, 1003, 1004 called), chr1:3000 A 1/2 (1001, 1004).
_SUMS = {"PGS991801": {1001: 2.5, 1002: 2 / 3 + 0.5, 1003: 2 * 0.5 + 0.5, 1004: 1.0},
         "PGS991802": {1001: 1.0, 1002: 2 / 3, 1003: 0.0, 1004: 1.0}}
_MISSING = {"PGS991801": {1001: 0, 1002: 2, 1003: 1, 1004: 0}, "PGS991802": {1001: 0, 1002: 1, 1003: 0, 1004: 0}}

_SHAPES = {
    "vcf-export": "",  # the native engine scores Hail's export (the split rows: a multi-allelic site)
    "vcf-export-summed-in-spark": "  native: {driver_sum_mb: 0}",  # the native pass's Hail Table
    "vcf-hail-pass": "  native: {engine: hail}",  # scoring.compute_scores
}


@pytest.fixture(scope="module")
def ft_runs(hl, spark, tmp_path_factory):
    """Each shape scored once through the stage's functions: (cfg, DatasetMatches, scores frame)."""
    from test_field_cases_pgs import case_config, published_frame

    out = {}
    for shape, extra in _SHAPES.items():
        tmp = tmp_path_factory.mktemp(shape)
        (tmp / "d.vcf").write_text(_VCF)
        for pgs_id, rows in _SCORES.items():
            (tmp / f"{pgs_id}.txt").write_text(f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n{_HEAD}{rows}")
        cfg = case_config(tmp, str(tmp / "d.vcf"), str(tmp / "PGS9918*.txt"), extra_pgs=extra)
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        r = stage.match_dataset(hl, spark, cfg, "d", files)
        got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
        out[shape] = (cfg, r, got)
    return out


@pytest.mark.parametrize("shape", list(_SHAPES))
def test_ft_failed_calls_are_counted_by_the_scoring_pass_and_the_scores_are_unchanged(ft_runs, shape):
    """Per score: PGS991801 2 of 12 scored calls (1002 at chr1:1000 and at the split row
    chr1:3000 G>A; 1003's ./. there was missing already: in n_missing, not FT's), PGS991802 1 of
    4. Scores and n_missing as by hand (the same on the base commit, which had no count: there
    ``r.ft_failed`` does not exist)."""
    _, r, got = ft_runs[shape]
    for pgs_id, sums in _SUMS.items():
        one = got[got["pgs_id"] == pgs_id].set_index(got.loc[got["pgs_id"] == pgs_id, "person_id"].astype(int))
        assert one["score_sum"].to_dict() == pytest.approx(sums, abs=1e-12)
        assert one["n_missing"].to_dict() == _MISSING[pgs_id]
    ft = r.ft_failed
    assert ft is not None
    assert dict(zip(ft.pgs_ids, ft.failed.tolist(), strict=True)) == {"PGS991801": 2, "PGS991802": 1}
    assert dict(zip(ft.pgs_ids, ft.scored.tolist(), strict=True)) == {"PGS991801": 12, "PGS991802": 4}
    assert r.missing_call_share == pytest.approx(4 / 16)  # FT's 3 calls and 1003's missing call


def test_the_manifest_gives_a_small_ft_count_as_its_label_and_the_warning_names_it(ft_runs, caplog):
    """3 FT-failed calls of 16: a count of 1..19, so the notes give the label, not 0.1875 (which
    times the scored calls gives 3 back); the WARNING (3/16 at or above pgs.ft_failed_warn 0.05)
    shows the label, not the share. The exact counts per score are in the internal record."""
    cfg, r, _ = ft_runs["vcf-export"]
    assert stage.ft_failed_call_shares(cfg, [r]) == {"d": {"share": "<20 calls"}}
    assert stage.ft_failed_calls_by_score([r]) == {
        "d": {"PGS991801": {"failed": 2, "scored": 12}, "PGS991802": {"failed": 1, "scored": 4}}}
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, r)
    warned = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warned) == 1 and "the genotype filter FT failed <20 of the scored calls" in warned[0]
    assert "pgs.ft_failed_warn 0.05" in warned[0] and "18.8" not in warned[0]


def test_a_large_ft_count_is_published_as_its_share_and_warns_only_at_the_level(ft_runs, caplog):
    """The same dataset with FT counts of 20 or more (FtFailedCalls as a bigger scoring pass gives
    it): the dataset's share (300 / 8,000), rounded to 4 digits; no share per score.
    At 3.75% (below 0.05) an INFO line with the share, no WARNING; at 0.03 it warns."""
    from trd_spark.pgs.scoring import FtFailedCalls

    cfg, r, _ = ft_runs["vcf-export"]
    big = stage.DatasetMatches(**{**r.__dict__, "ft_failed": FtFailedCalls.of(
        ["PGS991801", "PGS991802", "PGS991803"], [300, 0, 0], [3, 1, 0], 2000)})
    assert stage.ft_failed_call_shares(cfg, [big]) == {"d": {"share": 0.0375}}
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, big)
        assert not [rec for rec in caplog.records if rec.levelno == logging.WARNING]
        assert any("FT failed 3.8% of the scored calls" in rec.getMessage() for rec in caplog.records)
        stage.check_ft_failed(cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"ft_failed_warn": 0.03})}),
                              big)
    assert [rec.levelno for rec in caplog.records].count(logging.WARNING) == 1


def test_the_total_is_shown_and_no_score_s_count(ft_runs, caplog):
    """The dataset's FT count is the sum of its scores' (300 + 3). 48016ac hid the total beside a
    score's hidden 3 (0.0379 x 8,000 - 0.05 x 6,000 gave it back); with no share per score shown
    (session 32: two scores' shares gave a small count by difference), the total alone is shown,
    in the notes and the log line, and the scores' exact counts stay in the internal record."""
    from trd_spark.pgs.scoring import FtFailedCalls

    cfg, r, _ = ft_runs["vcf-export"]
    mixed = stage.DatasetMatches(**{**r.__dict__, "ft_failed": FtFailedCalls.of(
        ["PGS991801", "PGS991802"], [300, 3], [3, 1], 2000)})
    assert stage.ft_failed_call_shares(cfg, [mixed]) == {"d": {"share": 0.0379}}
    assert stage.ft_failed_calls_by_score([mixed]) == {
        "d": {"PGS991801": {"failed": 300, "scored": 6000}, "PGS991802": {"failed": 3, "scored": 2000}}}
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, mixed)
    text = " ".join(rec.getMessage() for rec in caplog.records)
    assert "FT failed 3.8% of the scored calls" in text and "PGS99180" not in text


def test_no_count_says_why(ft_runs):
    """Native formats carry no FT (not applicable), pgs.apply_genotype_filter false reads none
    (not applied), a VCF without FT has none; calls that went through the filter but reached the
    notes uncounted are an error, never a silent "no FT field"."""
    from trd_spark.errors import TrdSparkError

    cfg, r, _ = ft_runs["vcf-export"]
    pgs = cfg.pgs
    ds = cfg.datasets[0]
    bed = cfg.model_copy(update={"datasets": [ds.model_copy(update={"genotypes": ds.genotypes.model_copy(
        update={"format": "plink"})})]})
    off = cfg.model_copy(update={"pgs": pgs.model_copy(update={"apply_genotype_filter": False})})
    uncounted = stage.DatasetMatches(**{**r.__dict__, "ft_failed": None})
    assert stage.ft_failed_call_shares(bed, [r]) == {
        "d": "not applicable: bed, pgen and BGEN carry no genotype filter FT"}
    assert stage.ft_failed_call_shares(off, [uncounted]) == {"d": "not applied (pgs.apply_genotype_filter: false)"}
    no_ft = stage.DatasetMatches(**{**uncounted.__dict__, "calls": uncounted.calls.drop("ft_failed")})
    assert stage.ft_failed_call_shares(cfg, [no_ft]) == {"d": "no FT field"}
    with pytest.raises(TrdSparkError, match="not counted by the scoring route"):
        stage.ft_failed_call_shares(cfg, [uncounted])


def test_a_gvs_vds_counts_its_false_ft_calls(hl, spark, tmp_path):
    """An All of Us (GVS) VDS, FT a bool (False = failed), exported for the native engine as the
    file's own biallelic rows (the export's ``calls`` case): 1002's 1/1 at chr1:1000 failed, 1 of
    8 scored calls (round 17's VDS, its scores as there: 1002 2/3 + 0)."""
    from test_field_cases_pgs import case_config, published_frame
    from test_field_cases_round17_pgs import _FT_SCORE, _write_ft_vds

    (tmp_path / "score.txt").write_text(_FT_SCORE)
    _write_ft_vds(hl, str(tmp_path / "g.vds"))
    cfg = case_config(tmp_path, str(tmp_path / "g.vds"), str(tmp_path / "score.txt"), fmt="vds")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx({1001: 1.5, 1002: 2 / 3, 1003: 1.0, 1004: 1.0}, abs=1e-12)
    assert r.ft_failed is not None
    assert (r.ft_failed.n_failed, r.ft_failed.n_scored) == (1, 8)
