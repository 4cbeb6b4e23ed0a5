"""Scored genotype rows no sample has a call on (session 44, reader finding of session 43).

A matched, scored record whose calls are all missing (all './.' here; a GP-only record read with
``dosage_field: DS`` alike), or a chrY row with no called male (plink2 --score counts males only
there), is scored as plink2 2.00a3.5 scores it: frequency 0.5 of no observation, alt dosage 1 for
everyone under mean imputation, without a word (checked by hand, session 44: no warning, exit 0;
with --read-freq its own --freq's NaN there is "skipped due to ... zero observations"). Before,
the pipeline did the same and said nothing: such a row counted only in each person's n_missing.
Now every route counts them (``scoring.UncalledVariants``: per score and the rows, the first
rows' IDs), the stage warns once per dataset naming them and its notes record them
(``uncalled_variants``). Oracle: plink2 --score (the sums unchanged by the count).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from plink2_score_oracle import plink2, score_runs, write_scoring_files

from trd_spark.pgs import stage

# Males 1001-1003, females 1004-1006. u1 (chr1:6000) has no call at all; y1 (chrY) none of a male
# (the women's calls there are skipped, as plink2 skips them).
_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrY,length=57227415>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006
chr1\t1000\ta1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1\t./.\t0/0
chr1\t6000\tu1\tC\tT\t.\tPASS\t.\tGT\t./.\t./.\t./.\t./.\t./.\t./.
chr1\t7000\ta2\tG\tT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\t0/1\t0/0\t./.
chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t.\t.\t.\t1/1\t./.\t0/0
"""
_SEX = "#IID\tSEX\n1001\t1\n1002\t1\n1003\t1\n1004\t2\n1005\t2\n1006\t2\n"
_SCORES = {
    "PGS994401": [("1", 1000, "G", "A", 0.5), ("1", 6000, "T", "C", 1.0), ("1", 7000, "T", "G", -0.25)],
    "PGS994402": [("1", 1000, "G", "A", 0.3), ("Y", 2800000, "A", "G", 2.0)],
}
_IDS = {("1", 1000): "a1", ("1", 6000): "u1", ("1", 7000): "a2", ("Y", 2800000): "y1"}
# Routes: Hail's pass; a .bed (plink2's, with the sex in its .fam) scored natively, summed in Spark
# (the counts through the accumulator); the same .bed without the sex (every .fam SEX 0: no male,
# so chrY adds nothing and the no-male WARNING names y1), summed on the driver. (The VCF exported
# for the native engine and the .bed with the sex summed on the driver, routes here before, go
# through the same native pass and driver sum: their sums equal these routes' in
# test_field_cases_round21_sex's allele-count test and test_pgs_native_engine's.)
_ROUTES = {"vcf-hail": ("vcf", "  native: {engine: hail}"), "bed-spark-summed": ("plink", "  native: {driver_sum_mb: 0}"),
           "bed-no-sex": ("plink", "")}


def _inputs(tmp: Path) -> dict[str, dict[tuple[str, int], float]]:
    """The VCF, sex file, .bed (``b``; ``n`` without the sex) and scoring files in ``tmp``; returns
    per .bed plink2 --score's sum per (pgs_id, IID) (``plink2_score_oracle.score_runs``)."""
    (tmp / "d.vcf").write_text(_VCF)
    (tmp / "sex.txt").write_text(_SEX)
    plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-bed", "--out", str(tmp / "b"))
    plink2("--vcf", str(tmp / "d.vcf"), "--make-bed", "--out", str(tmp / "n"))
    write_scoring_files(tmp, _SCORES)
    return {bed: score_runs(tmp, ["--bfile", str(tmp / bed)], _SCORES, _IDS, tag=bed)[1] for bed in ("b", "n")}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory) -> tuple[Path, dict[str, dict[tuple[str, int], float]]]:
    tmp = tmp_path_factory.mktemp("uncalled")
    return tmp, _inputs(tmp)


@pytest.mark.parametrize("route", list(_ROUTES))
def test_uncalled_rows_are_counted_warned_and_scored_as_plink2(hl, spark, oracle, route, caplog):
    """u1 (no call) and y1 (no male's call) are counted on every route: 2 rows, one variant of
    each score, named in one WARNING (their IDs, no sample ID) and in the notes; the sums equal
    plink2's (u1 adds 1.0 x alt dosage 1 for everyone; y1 the males' frequency 0.5 of no
    observation). On de435dc every route scored the same sums and said nothing (no count).
    Without the sex (bed-no-sex) y1 is named by the no-male WARNING alone: the uncalled WARNING
    names u1 and says one chrY row was left out (before: y1 in both WARNINGs), the notes count
    both rows and that one."""
    from test_field_cases_pgs import case_config, published_frame

    tmp, want = oracle
    fmt, extra_pgs = _ROUTES[route]
    bed = "n" if route == "bed-no-sex" else "b"
    path, sex = (str(tmp / "d.vcf"), f', sex_source: {{path: "{tmp}/sex.txt"}}') if fmt == "vcf" else \
        (str(tmp / f"{bed}.bed"), "")
    (tmp / route).mkdir()
    cfg = case_config(tmp / route, path, str(tmp / "scores" / "*.txt"), fmt=fmt, extra_genotypes=sex,
                      extra_pgs=extra_pgs)
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.stage"):
        got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    sums = dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))
    assert sums == pytest.approx(want[bed], rel=1e-5, abs=1e-6)  # plink2's 6 digits
    no_male = int(bed == "n")
    assert stage.uncalled_variant_counts([r]) == {"d": {"rows": 2, "by_score": {"PGS994401": 1, "PGS994402": 1},
                                                        "no_male_chry_rows": no_male}}
    warned = [rec.getMessage() for rec in caplog.records if "no called sample" in rec.getMessage()]
    no_male_warned = [rec.getMessage() for rec in caplog.records if "no sample known to be male" in rec.getMessage()]
    assert len(no_male_warned) == no_male and all("1 weighted genotype rows on chrY" in m for m in no_male_warned)
    assert len(warned) == 1, warned
    if no_male:
        assert "dataset d: 1 scored genotype row(s) (besides the 1 chrY row(s) of the no-male WARNING" in warned[0]
        assert ":6000:C:T" in warned[0] and ":2800000:G:A" not in warned[0]
    else:
        assert "dataset d: 2 scored genotype row(s) have" in warned[0], warned
        assert ":6000:C:T" in warned[0] and ":2800000:G:A" in warned[0]
    assert not any(str(s) in warned[0] for s in range(1001, 1007))
