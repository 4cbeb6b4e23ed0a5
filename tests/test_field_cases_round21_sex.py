"""PGS field cases, round 21 (session 31, sex): what session 30's chrY work left open.

1. A VCF's males were told by its scored X and chrY rows only: a male whose scored X calls are
   diploid-coded or missing (as a VCF cut from a VDS, or a call set coding hom-ref males 0/0)
   was read as not male, his chrY rows skipped and his X calls two allele observations. A VCF
   now tells its males from all of its X rows outside the PARs, as a MatrixTable and a VDS do
   (``genotypes.male_x_samples(all_x=True)``). Oracle: plink2 --score with the sex declared.
2. The calls the genotype filter FT made missing on chrY counted a woman's and an unknown-sex
   sample's failed calls, which plink2 --score skips (no missing call either): the count was
   more than the missing calls it is a share of. Now only the calls scored there count.
3. ``genotypes.sex_calls`` read X's partitions when no scored row was on X (chrY alone).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from plink2_score_oracle import plink2, score_runs, write_scoring_files

from trd_spark.pgs import stage

# Males 1001-1003, females 1004-1006, 1007-1008 of unknown sex (the sex file: NA and 0). The
# males' calls on X are haploid, except 1002's scored ones: a diploid-coded 1/1 at x1, missing at
# x2; only his call at x3, an X row no score uses, is haploid (0). His chrY calls are missing:
# as a male they are imputed with the called males' frequency, as a non-male skipped.
_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
##contig=<ID=chrY,length=57227415>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006\t1007\t1008
chr1\t1000\ta1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1\t./.\t0/0\t1/1\t0/1
chrX\t5000000\tx1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0\t./.\t0/1\t1/1\t0/0\t0/1
chrX\t6000000\tx2\tC\tT\t.\tPASS\t.\tGT\t1\t.\t1\t0/1\t0/0\t./.\t1/1\t0/1
chrX\t7000000\tx3\tG\tC\t.\tPASS\t.\tGT\t0\t0\t1\t0/0\t0/0\t0/1\t0/0\t0/0
chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t1\t.\t.\t./.\t./.\t./.\t./.\t1/1
chrY\t2900000\ty2\tC\tT\t.\tPASS\t.\tGT\t1\t.\t0\t1/1\t0/1\t./.\t./.\t./.
"""
_SEX = "#IID\tSEX\n1001\t1\n1002\t1\n1003\t1\n1004\t2\n1005\t2\n1006\t2\n1007\tNA\n1008\t0\n"
_SCORES = {
    "PGS992101": [("1", 1000, "G", "A", 0.25), ("X", 5000000, "G", "A", 1.0), ("X", 6000000, "T", "C", 0.5),
                  ("Y", 2800000, "A", "G", 1.0)],
    "PGS992102": [("Y", 2800000, "G", "A", -0.4), ("Y", 2900000, "T", "C", 2.0)],
}
_IDS = {("1", 1000): "a1", ("X", 5000000): "x1", ("X", 6000000): "x2", ("Y", 2800000): "y1", ("Y", 2900000): "y2"}


def _write_scores(tmp: Path) -> str:
    return write_scoring_files(tmp, _SCORES)


def _oracle(tmp: Path, vcf: Path) -> dict[tuple[str, int], float]:
    """(pgs_id, IID) -> plink2 --score's SCORE1_SUM on ``vcf`` with the sex file (--update-sex),
    --read-freq of its own --freq, one run per score (6 printed digits)."""
    plink2("--vcf", str(vcf), "--update-sex", str(tmp / "sex.txt"), "--make-pgen", "--out", str(tmp / "p"))
    return score_runs(tmp, ["--pfile", str(tmp / "p")], _SCORES, _IDS)[1]


def _run(hl, spark, tmp: Path, vcf: Path, extra_pgs: str = ""):
    """The stage's match and scoring of ``vcf`` with the scoring files: (DatasetMatches, scores)."""
    from test_field_cases_pgs import case_config, published_frame

    cfg = case_config(tmp, str(vcf), str(tmp / "scores" / "*.txt"), extra_pgs=extra_pgs)
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    return r, published_frame(stage.scores_of_dataset(hl, spark, cfg, r))


_ROUTES = {"vcf-hail": "  native: {engine: hail}", "vcf-export": ""}


# The same samples with the genotype filter FT: at chr1:1000 1002's call failed; on chrY the
# male 1001's y1 call failed, and so did the woman 1004's and the unknown-sex 1008's calls
# (plink2 skips those: no missing call, and no FT-failed call of the score either).
_VCF_FT = _VCF.replace("##contig=<ID=chr1", '##FORMAT=<ID=FT,Number=1,Type=String,Description="Genotype filter">\n'
                       "##contig=<ID=chr1").replace(
    "GT\t0/1\t1/1\t0/0\t0/1\t./.\t0/0\t1/1\t0/1", "GT:FT\t0/1:PASS\t1/1:LowGQ\t0/0:PASS\t0/1:.\t./.:.\t0/0:PASS\t1/1:PASS\t0/1:PASS").replace(
    "GT\t1\t.\t.\t./.\t./.\t./.\t./.\t1/1", "GT:FT\t1:LowGQ\t.:.\t.:.\t./.:.\t./.:.\t./.:.\t./.:.\t1/1:LowGQ").replace(
    "GT\t1\t.\t0\t1/1\t0/1\t./.\t./.\t./.", "GT:FT\t1:PASS\t.:.\t0:PASS\t1/1:LowGQ\t0/1:PASS\t./.:.\t./.:.\t./.:.")
# The same VCF with the failed calls missing and no FT (what the filter makes of it): plink2's input.
_VCF_FILTERED = _VCF.replace("GT\t0/1\t1/1\t0/0\t0/1", "GT\t0/1\t./.\t0/0\t0/1").replace(
    "GT\t1\t.\t.\t./.\t./.\t./.\t./.\t1/1", "GT\t.\t.\t.\t./.\t./.\t./.\t./.\t./.").replace(
    "GT\t1\t.\t0\t1/1\t0/1", "GT\t1\t.\t0\t./.\t0/1")


@pytest.mark.parametrize("route", list(_ROUTES))
def test_ft_failed_calls_on_chry_count_the_scored_calls_only(hl, spark, tmp_path, route):
    """FT failed 4 calls at weighted rows: 1002's at chr1:1000, and on chrY 1001's y1 (a male:
    a missing call, imputed), 1004's y2 and 1008's y1 (a woman and an unknown-sex sample:
    skipped by plink2 --score, no missing call). Counted per score variant on the row as
    n_missing counts: PGS992101 (chr1, X, y1) 2, PGS992102 (y1, y2) 1, each at most its missing
    calls; the sums are plink2's on the VCF with the failed calls missing. Before (48016ac):
    PGS992101 3 and PGS992102 3, the skipped calls counted as failed calls of the scores (the
    manifest's share of FT among the scored calls too high)."""
    (tmp_path / "d.vcf").write_text(_VCF_FT)
    (tmp_path / "filtered.vcf").write_text(_VCF_FILTERED)
    (tmp_path / "sex.txt").write_text(_SEX)
    _write_scores(tmp_path)
    oracle = _oracle(tmp_path, tmp_path / "filtered.vcf")
    r, got = _run(hl, spark, tmp_path, tmp_path / "d.vcf", _ROUTES[route])
    sums = dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))
    assert sums == pytest.approx(oracle, rel=1e-5, abs=1e-6)  # plink2's 6 digits
    ft = r.ft_failed
    assert ft is not None
    failed = dict(zip(ft.pgs_ids, ft.failed.tolist(), strict=True))
    assert failed == {"PGS992101": 2, "PGS992102": 1}
    missing = got.groupby("pgs_id")["n_missing"].sum().to_dict()
    assert all(failed[p] <= missing[p] for p in failed), (failed, missing)


def test_sex_calls_read_x_only_when_a_scored_row_is_there(hl, tmp_path):
    """A MatrixTable written with one partition per contig (chr1, chrX, chrY): the calls that
    tell the sex of chrY-only scored rows are read from chrY's partition alone, X's too when a
    scored row is on X outside its PARs or with ``all_x``. Before (48016ac): X's partition was
    read for chrY rows alone (2 partitions, every X row's entries passed over and dropped)."""
    import pandas as pd

    from trd_spark.pgs.genotypes import contig_recoding, sex_calls

    (tmp_path / "d.vcf").write_text(_VCF)
    mt = hl.import_vcf(str(tmp_path / "d.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    parts = [mt.filter_rows(mt.locus.contig == c).repartition(1) for c in ("chr1", "chrX", "chrY")]
    parts[0].union_rows(parts[1], parts[2]).write(str(tmp_path / "d.mt"))
    calls = hl.read_matrix_table(str(tmp_path / "d.mt"))
    assert calls.n_partitions() == 3
    y_only = pd.DataFrame({"contig": ["chr1", "chrY"], "position": [1000, 2800000]})
    told = sex_calls(hl, calls, y_only)
    assert told is not None and told.n_partitions() == 1
    assert told.locus.contig.collect() == ["chrY"]
    told = sex_calls(hl, calls, y_only, all_x=True)
    assert told is not None and told.n_partitions() == 2
    assert told.aggregate_rows(hl.agg.counter(told.locus.contig)) == {"chrX": 3, "chrY": 1}
    x_and_y = pd.DataFrame({"contig": ["chrX", "chrY"], "position": [6000000, 2900000]})
    told = sex_calls(hl, calls, x_and_y)
    assert told is not None and told.n_partitions() == 2
    assert told.locus.position.collect() == [6000000, 2900000]
    assert sex_calls(hl, calls, y_only, chr_y=False) is None


def test_no_male_on_chry_with_a_sex_file_warns_once_on_hails_pass(hl, spark, tmp_path, caplog, monkeypatch):
    """A sex file declaring no male, Hail's pass: chrY adds nothing (PGS992102 0 for everyone,
    plink2 without a male) and one WARNING counts the weighted chrY rows (2), told by the sex
    file's counts: one aggregation over the declared males' Table (the counts), none more. The
    real ``Table.aggregate`` runs, only its calls over a Table with the male flag are counted.
    Before (48016ac): a second aggregation over the persisted male set asked whether any is male."""
    from trd_spark.pgs.genotypes import MALE_X

    real = hl.Table.aggregate
    over_males = []

    def counted(self, *args, **kwargs):
        if MALE_X in self.row:
            over_males.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(hl.Table, "aggregate", counted)
    (tmp_path / "d.vcf").write_text(_VCF)
    (tmp_path / "nosex.txt").write_text("#IID\tSEX\n" + "".join(f"{i}\t2\n" for i in range(1001, 1009)))
    _write_scores(tmp_path)
    from test_field_cases_pgs import case_config, published_frame

    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "scores" / "*.txt"),
                      extra_genotypes=f', sex_source: {{path: "{tmp_path}/nosex.txt"}}',
                      extra_pgs=_ROUTES["vcf-hail"])
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    with caplog.at_level(logging.WARNING):
        got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    assert got.loc[got["pgs_id"] == "PGS992102", "score_sum"].tolist() == [0.0] * 8
    # One cause, one WARNING: y1, y2 are uncalled rows too (no male), counted in the notes apart
    # and left out of the stage's uncalled WARNING, which has no other row to name here.
    warned = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING and "chrY" in rec.getMessage()]
    assert len(warned) == 1 and "2 weighted genotype rows on chrY and no sample known to be male" in warned[0], warned
    assert not any("no called sample" in rec.getMessage() for rec in caplog.records)
    assert stage.uncalled_variant_counts([r]) == {"d": {"rows": 2, "by_score": {"PGS992101": 1, "PGS992102": 2},
                                                        "no_male_chry_rows": 2}}
    assert len(over_males) == 1


# The VCF with a chrM row (haploid for everyone in plink2; 1003's call missing, 1006's 1/1
# diploid-coded) and a third score on chr1, chrY and chrM.
_VCF_M = _VCF.replace("##contig=<ID=chrY", "##contig=<ID=chrM,length=16569>\n##contig=<ID=chrY") + (
    "chrM\t100\tm1\tA\tG\t.\tPASS\t.\tGT\t1\t0\t.\t1\t0\t1/1\t0/0\t0\n")
_SCORE_M = {"PGS992103": [("1", 1000, "G", "A", 0.5), ("Y", 2900000, "T", "C", 1.0), ("MT", 100, "G", "A", 2.0)]}
_IDS_M = {**_IDS, ("MT", 100): "m1"}


def _allele_ct_and_sums(tmp: Path, pfile: str) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], float]]:
    """(pgs_id, IID) -> plink2 --score's ALLELE_CT, and -> its sum (W_SUM: the weight column is
    named W), on ``pfile`` (mean imputation with --read-freq of its own --freq, one run per
    score; 6 printed digits)."""
    return score_runs(tmp, ["--pfile", pfile], {**_SCORES, **_SCORE_M}, _IDS_M, tag="ct")


def allele_ct_case(tmp: Path) -> dict[tuple[str, int], int]:
    """The ALLELE_CT case's files under ``tmp`` (d.vcf: ``_VCF_M``; sex.txt; scores/*.txt:
    ``_SCORES`` and ``_SCORE_M``; p.pgen/.pvar/.psam: the VCF with the sex file, by plink2)
    and plink2 --score's ALLELE_CT of them, by (pgs_id, person_id): the oracle."""
    return allele_ct_and_sums_case(tmp)[0]


def allele_ct_and_sums_case(tmp: Path) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], float]]:
    """``allele_ct_case`` with plink2's score sums of the same runs beside it (by (pgs_id, person_id))."""
    (tmp / "d.vcf").write_text(_VCF_M)
    (tmp / "sex.txt").write_text(_SEX)
    _write_scores(tmp)
    for pgs_id, rows in _SCORE_M.items():
        (tmp / "scores" / f"{pgs_id}.txt").write_text(
            f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            + "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows))
    plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-pgen", "--out", str(tmp / "p"))
    return _allele_ct_and_sums(tmp, str(tmp / "p"))


def published_allele_counts(hl, spark, cfg) -> dict[tuple[str, int], int]:
    """The pgs stage's allele_count of dataset ``d`` of ``cfg`` (match, score, the published
    frame), by (pgs_id, person_id)."""
    return published_counts_and_sums(hl, spark, cfg)[0]


def published_counts_and_sums(hl, spark, cfg) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], float]]:
    """``published_allele_counts`` and the same frame's score_sum, by (pgs_id, person_id)."""
    from test_field_cases_pgs import published_frame

    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    keys = list(zip(got["pgs_id"], got["person_id"].astype(int)))
    return (dict(zip(keys, got["allele_count"].astype(int), strict=True)),
            dict(zip(keys, got["score_sum"], strict=True)))


# pgen-counting-on-driver: the main pass summed in Spark, its chrY/chrM counting pass on the driver
# (``engine._haploid_allele_counts``' ``_fewer_lookup``): one task per row, the main pass's 6 rows
# need (6 x 16 + 64) x 3 scores x 8 samples = 3,840 bytes to sum on the driver (``pgen_engine.
# driver_sum_bytes``), the counting pass's 3 rows (y1, y2, m1) 2,688; 0.003 MB is 3,146 bytes.
_CT_ROUTES = {"vcf-hail": ("vcf", "  native: {engine: hail}"), "vcf-export": ("vcf", ""),
              "pgen": ("pgen", ""), "pgen-summed-in-spark": ("pgen", "  native: {driver_sum_mb: 0}"),
              "pgen-counting-on-driver": ("pgen", "  native: {driver_sum_mb: 0.003, variants_per_task: 1}")}


@pytest.mark.parametrize("route", list(_CT_ROUTES))
def test_allele_count_is_plink2s_allele_ct(hl, spark, tmp_path, route, monkeypatch):
    """allele_count is plink2 --score's ALLELE_CT (the oracle, with the sex file): 2 per called
    variant (a male's on X too), 1 per called chrY variant of a male and per called chrM variant,
    0 per chrY variant of a non-male; on Hail's pass, the VCF exported for the native engine, a
    .pgen with its .psam's sex (the native pass's sums on the driver, and summed in Spark). By
    hand, PGS992102 (y1, y2): 1001 2, 1002 0 (both missing), 1003 1, non-males 0; PGS992103
    (a1, y2, m1): 1001 2 + 1 + 1, 1003 2 + 1 (m1 missing), a woman 2 + 0 + 1 (1005: a1 missing).
    Before (48016ac): 2 per called variant everywhere, a non-male's chrY variants counted as called.

    The sums of the same runs are plink2's sums to 1e-6 (item 1 of the module docstring,
    on the VCF routes the subject): 1002 has no haploid call at a scored row (x1 1/1, x2
    missing) but one at x3, which no score uses: he is male, as plink2 --update-sex reads him,
    so his missing chrY calls are imputed with the males' frequency and his x1 call is one
    allele observation of x1's imputing frequency. Before (48016ac: a VCF's males from the
    scored X and chrY rows only) he was not male: his chrY rows were skipped (PGS992102 0.0,
    plink2 1.0) and x1's frequency counted his call twice. (Session 44: this was a test of its
    own on the VCF without the chrM row, one more Hail pass and export per route.)

    pgen-counting-on-driver (session 46): the Spark-summed pass's counts fixed from a driver-summed
    counting pass, the route ``_fewer_lookup`` serves (spied: it runs on that route alone); no test
    reached it (mutant p1 of tests/test_review_s45_mutants.py: the fix not applied, 2 per called
    variant on chrY and chrM)."""
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import engine

    looked_up: list[int] = []
    real_lookup = engine._fewer_lookup

    def spied(*args, **kwargs):
        looked_up.append(1)
        return real_lookup(*args, **kwargs)

    monkeypatch.setattr(engine, "_fewer_lookup", spied)

    oracle, oracle_sums = allele_ct_and_sums_case(tmp_path)
    assert [oracle["PGS992102", i] for i in range(1001, 1009)] == [2, 0, 1, 0, 0, 0, 0, 0]
    assert [oracle["PGS992103", i] for i in range(1001, 1009)] == [4, 3, 3, 3, 1, 3, 3, 3]
    # By hand, 1002 as a male: y1 G (REF) 0 copies (the males' A frequency 1: 1001 alone called),
    # y2 T the males' frequency 1/2 (1001 T, 1003 C) x 2.0; as a non-male, 0.
    assert oracle_sums["PGS992102", 1002] == pytest.approx(1.0, abs=1e-6)
    fmt, extra = _CT_ROUTES[route]
    path = str(tmp_path / ("d.vcf" if fmt == "vcf" else "p"))
    cfg = case_config(tmp_path, path, str(tmp_path / "scores" / "*.txt"), fmt=fmt, extra_pgs=extra)
    counts, sums = published_counts_and_sums(hl, spark, cfg)
    assert counts == oracle
    assert sums == pytest.approx(oracle_sums, rel=1e-5, abs=1e-6)  # plink2's 6 digits
    assert looked_up == ([1] if route == "pgen-counting-on-driver" else [])
