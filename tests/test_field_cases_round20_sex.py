"""PGS field cases, round 20 (session 30, sex): chrY for non-males, a male's heterozygous X call.

plink2 --score (v2.00a3.5, the oracle of every test here) on chrY counts males only: a female's
or unknown-sex sample's chrY call adds nothing to her score, called or missing (ALLELE_CT and
DENOM 0 there), and the frequency that imputes a male's missing chrY call counts males only
(--freq's OBS_CT on chrY: the males). The project mean-imputed a woman's missing chrY call with
everyone's mean and counted her called ones: every engine now skips them as plink2 does, with the
sex it reads elsewhere (.fam/.psam, a BGEN's .sample, a sex file; VCF / MatrixTable: the ploidy of
the calls).

A male's heterozygous chrX call outside the PARs (1001 at x1): plink2 reads it as it is (1 copy,
half an ALT of one allele observation), in a .pgen and in a .bed alike, with no warning; every
engine here gives the same sums (no change was needed, and this pins it).

Each oracle: plink2 --score on the same genotypes and sex with --read-freq of its own --freq
(``cols=+scoresums``: its sums printed in 6 significant digits: 1e-6 here).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from plink2_score_oracle import write_scoring_files

# Males 1001-1003, females 1004-1006, 1007-1008 of unknown sex (.psam / sex file NA and 0).
# For the ploidy rule (VCF / MatrixTable) the males' X calls are haploid (1001 at x1: a
# heterozygous diploid call, his haploid x2 call tells his sex), everyone else's diploid, and
# non-males' chrY calls diploid-coded (a woman's 1/1 there: plink2 skips it as it skips her
# missing ones).
_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
##contig=<ID=chrY,length=57227415>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006\t1007\t1008
chr1\t1000\ta1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1\t./.\t0/0\t1/1\t0/1
chrX\t5000000\tx1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1\t0\t./.\t0/1\t1/1\t0/0\t0/1
chrX\t6000000\tx2\tC\tT\t.\tPASS\t.\tGT\t1\t.\t1\t0/1\t0/0\t./.\t1/1\t0/1
chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t1\t0\t.\t./.\t./.\t./.\t./.\t1/1
chrY\t2900000\ty2\tC\tT\t.\tPASS\t.\tGT\t1\t1\t0\t1/1\t0/1\t./.\t./.\t./.
"""
_SEX = "#IID\tSEX\n1001\t1\n1002\t1\n1003\t1\n1004\t2\n1005\t2\n1006\t2\n1007\tNA\n1008\t0\n"
# Three scores: ALT effects on chr1, X and Y; a REF effect allele on chrY (its offset, 2 copies
# x w, must go too for a non-male) with an ALT one; a chrY-only REF effect.
_SCORES = {
    "PGS992001": [("1", 1000, "G", "A", 0.25), ("X", 5000000, "G", "A", 1.0), ("X", 6000000, "T", "C", 0.5),
                  ("Y", 2800000, "A", "G", 1.0)],
    "PGS992002": [("Y", 2800000, "G", "A", -0.4), ("Y", 2900000, "T", "C", 2.0), ("X", 6000000, "C", "T", 0.3)],
    "PGS992003": [("Y", 2900000, "C", "T", 1.5)],
}
_IDS = {"1": "a1", "X": {5000000: "x1", 6000000: "x2"}, "Y": {2800000: "y1", 2900000: "y2"}}


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _variant_id(chrom: str, pos: int) -> str:
    ids = _IDS[chrom]
    return ids if isinstance(ids, str) else ids[pos]


def _write_scores(tmp: Path) -> str:
    """One PGS Catalog scoring file per score (``tmp/scores/``); the glob the config takes."""
    return write_scoring_files(tmp, _SCORES)


def _oracle(tmp: Path, pfile: str, *flags: str, pgs_ids: tuple[str, ...] = tuple(_SCORES)
            ) -> dict[tuple[str, int], float]:
    """(pgs_id, IID) -> plink2 --score's SCORE1_SUM on the fileset ``pfile`` (--read-freq of
    its own --freq), one run per score of ``pgs_ids``."""
    _plink2("--pfile", pfile, "--freq", "--out", str(tmp / "f"))
    out = {}
    for pgs_id in pgs_ids:
        rows = _SCORES[pgs_id]
        w = tmp / f"{pgs_id}.w"
        w.write_text("ID\tA1\tW\n" + "".join(f"{_variant_id(c, p)}\t{e}\t{wt}\n" for c, p, e, _, wt in rows))
        _plink2("--pfile", pfile, "--read-freq", str(tmp / "f.afreq"), "--score", str(w), "1", "2", "3",
                "header-read", "cols=+scoresums", *flags, "--out", str(tmp / pgs_id))
        with open(tmp / f"{pgs_id}.sscore") as f:
            out.update({(pgs_id, int(r[0])): float(r[-1]) for r in (line.split() for line in f)
                        if not r[0].startswith("#")})
    return out


@pytest.fixture(scope="module")
def sex_case(tmp_path_factory):
    """The VCF, sex file, scoring files, the .pgen / .bed / BGEN plink2 writes with the sex,
    and plink2 --score's sums on the .pgen (mean imputation; ``zero``: no-mean-imputation)."""
    tmp = tmp_path_factory.mktemp("round20sex")
    (tmp / "d.vcf").write_text(_VCF)
    (tmp / "sex.txt").write_text(_SEX)
    scores = _write_scores(tmp)
    _plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-pgen", "--out", str(tmp / "p"))
    _plink2("--pfile", str(tmp / "p"), "--make-bed", "--out", str(tmp / "b"))
    oracle = {"mean_impute": _oracle(tmp, str(tmp / "p")),
              "zero": _oracle(tmp, str(tmp / "p"), "no-mean-imputation")}
    return tmp, scores, oracle


def _sums(hl, spark, cfg) -> dict[tuple[str, int], float]:
    from test_field_cases_pgs import run_scores

    got = run_scores(hl, spark, cfg)
    return dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))


def _config(tmp_path, sex_case, path: str, fmt: str, *, extra_genotypes: str = "", extra_pgs: str = ""):
    from test_field_cases_pgs import case_config

    return case_config(tmp_path, path, sex_case[1], fmt=fmt, extra_genotypes=extra_genotypes, extra_pgs=extra_pgs)


def test_the_oracle_skips_non_males_on_chry(sex_case):
    """What plink2 does, by hand: a female's and an unknown-sex sample's chrY calls add nothing
    (PGS992003, chrY only: 0 for 1004-1008, whose called 1/1 and 0/1 too), a male's missing chrY
    call gets the males' frequency (y2 T: 1001, 1002 1 of 3 males called... 2/3 -> 1003 has it
    called; y1 A: males 1001 1, 1002 0 -> 1/2: 1003's missing y1 call 0.5 copies x 1.0)."""
    oracle = sex_case[2]["mean_impute"]
    assert [oracle["PGS992003", i] for i in range(1001, 1009)] == pytest.approx(
        [0.0, 0.0, 1.5, 0, 0, 0, 0, 0], abs=1e-6)
    # 1003: a1 0 + x1 0 (his haploid 0) + x2 2 copies x 0.5 + y1 missing: 0.5 x 1.0.
    assert oracle["PGS992001", 1003] == pytest.approx(1.5, abs=1e-6)
    # 1001's heterozygous x1 counts 1 copy, as it is: 0.25 + 1.0 + 2 x 0.5 (haploid 1) + 1.0.
    assert oracle["PGS992001", 1001] == pytest.approx(3.25, abs=1e-6)


_NATIVE = {
    "pgen": ("pgen", "p", ""),
    "bed": ("plink", "b", ""),
    "bed-sex-file": ("plink", "b0", ', sex_source: {{path: "{tmp}/sex.txt"}}'),
}


# Each sex source once, each imputation twice (a stage run each: seconds, kept few).
@pytest.mark.parametrize(("shape", "missing"), [("pgen", "mean_impute"), ("pgen", "zero"), ("bed", "mean_impute"),
                                                ("bed-sex-file", "zero")])
def test_native_engine_skips_non_males_on_chry_as_plink2(hl, spark, tmp_path, sex_case, shape, missing):
    """The native engine on the .pgen (.psam sex), the .bed (.fam sex) and a .bed without sex
    with the sex file: plink2's sums to 1e-6, with mean imputation and with ``zero``
    (no-mean-imputation). Before (93c1e64): a woman's missing chrY call got everyone's mean
    (PGS992003 1006: 1.5 x 2/3... not 0) and her called one counted (1004: 1.5 x ... REF)."""
    tmp, _, oracle = sex_case
    fmt, name, extra = _NATIVE[shape]
    if name == "b0":  # the .bed with no sex in its .fam (0 for everyone)
        for ext in ("bed", "bim"):
            shutil.copy(tmp / f"b.{ext}", tmp_path / f"b0.{ext}")
        (tmp_path / "b0.fam").write_text("".join(f"{i}\t{i}\t0\t0\t0\t-9\n" for i in range(1001, 1009)))
        path = str(tmp_path / "b0")
    else:
        path = str(tmp / name)
    cfg = _config(tmp_path, sex_case, path, fmt, extra_genotypes=extra.format(tmp=tmp),
                  extra_pgs=f"  missing_genotypes: {missing}")
    assert _sums(hl, spark, cfg) == pytest.approx(oracle[missing], abs=1e-6)


@pytest.mark.parametrize("shape", ["vcf-hail", "vcf-export", "mt-export"])
def test_hail_routes_skip_non_males_on_chry_as_plink2(hl, spark, tmp_path, sex_case, shape):
    """The VCF on Hail's pass (``pgs.native.engine: hail``) and exported for the native engine,
    and the VCF as a MatrixTable (exported): the sex told by the ploidy of the calls (1001-1003
    haploid on X; 1007, 1008 diploid: not male, as plink2's unknown sex on X and chrY), plink2's
    sums to 1e-6. Before (93c1e64): non-males' chrY calls counted (1008's 1/1) and their missing
    ones were imputed with everyone's mean."""
    tmp, _, oracle = sex_case
    path, fmt = str(tmp / "d.vcf"), "vcf"
    if shape.startswith("mt"):
        from trd_spark.pgs.genotypes import contig_recoding

        mt = hl.import_vcf(path, reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
        mt.write(str(tmp_path / "d.mt"))
        path, fmt = str(tmp_path / "d.mt"), "mt"
    cfg = _config(tmp_path, sex_case, path, fmt, extra_pgs="  native: {engine: hail}" if shape.endswith("hail") else "")
    assert _sums(hl, spark, cfg) == pytest.approx(oracle["mean_impute"], abs=1e-6)


def test_bgen_with_its_sample_sex_skips_non_males_on_chry_as_plink2(hl, spark, tmp_path, sex_case):
    """The .pgen exported by plink2 as a BGEN 1.2 (8 bits) with its .sample's sex column, read by
    the native engine with the .sample's sex: plink2 --bgen --sample --score's sums to 1e-6.
    Before (93c1e64): non-males' chrY calls counted."""
    tmp = sex_case[0]
    _plink2("--pfile", str(tmp / "p"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp_path / "g"))
    # plink2's own reading of the BGEN (--bgen --sample: the .sample's sex) is the oracle.
    _plink2("--bgen", str(tmp_path / "g.bgen"), "ref-first", "--sample", str(tmp_path / "g.sample"), "--make-pgen",
            "--out", str(tmp_path / "gp"))
    oracle = _oracle(tmp_path, str(tmp_path / "gp"))
    cfg = _config(tmp_path, sex_case, str(tmp_path / "g.bgen"), "bgen")
    assert _sums(hl, spark, cfg) == pytest.approx(oracle, rel=1e-5, abs=1e-6)  # its 6 digits


def test_no_male_on_chry_is_a_warning_counting_rows(hl, spark, tmp_path, sex_case, caplog):
    """A .pgen whose .psam says no sample is male (every SEX 2 or unknown): every chrY call is
    skipped, as plink2 skips them (PGS992003, chrY only: 0 for everyone), and one WARNING counts
    the weighted chrY rows (2), no person. Before (93c1e64): chrY counted for everyone, silently."""
    tmp, _, _ = sex_case
    for ext in ("pgen", "pvar"):
        shutil.copy(tmp / f"p.{ext}", tmp_path / f"n.{ext}")
    (tmp_path / "n.psam").write_text("#IID\tSEX\n" + "".join(f"{i}\t{2 if i < 1005 else 'NA'}\n"
                                                              for i in range(1001, 1009)))
    cfg = _config(tmp_path, sex_case, str(tmp_path / "n"), "pgen")
    with caplog.at_level("WARNING", logger="trd_spark.pgs.pgen_engine"):
        sums = _sums(hl, spark, cfg)
    assert [sums["PGS992003", i] for i in range(1001, 1009)] == [0.0] * 8
    warned = [r.getMessage() for r in caplog.records if "chrY" in r.getMessage()]
    assert len(warned) == 1 and "2 weighted genotype rows on chrY and no sample known to be male" in warned[0]


# The VCF with 1002's scored X calls diploid-coded (a 1/1 at x1, missing at x2: as a MatrixTable
# densified from a VDS reads a male inside a reference block, a diploid 0/0), his chrY calls
# missing, and his sex told by a haploid call at an X row no score uses (chrX:7000000) alone.
_VCF_MT = _VCF.replace("GT\t0/1\t1\t0\t./.", "GT\t0/1\t1/1\t0\t./.").replace(
    "GT\t1\t0\t.\t./.", "GT\t1\t.\t.\t./.").replace("GT\t1\t1\t0\t1/1", "GT\t1\t.\t0\t1/1").replace(
    "chrY\t2800000", "chrX\t7000000\tx3\tG\tC\t.\tPASS\t.\tGT\t0\t0\t1\t0/0\t0/0\t0/1\t0/0\t0/0\nchrY\t2800000")


def test_a_matrix_table_tells_males_from_all_its_x_rows(hl, spark, tmp_path, sex_case):
    """A MatrixTable whose male 1002 has no haploid call at a scored row (x1 1/1, x2 missing) but
    one at an unscored X row: he is male (all of the MatrixTable's X rows outside the PARs tell
    the sex, ``genotypes.male_x_samples(all_x=True)``): his missing chrY calls are imputed with
    the males' frequency (a non-male's add nothing) and his x1 call is one allele observation of
    x1's imputing frequency, as plink2 --update-sex reads him (the oracle, on the same VCF with
    the sex file). Exported for the native engine (Hail's pass takes the same males,
    ``engine.score``). Before (93c1e64), and on a mutant taking the
    scored rows only (``all_x=False``): he was not male, his chrY rows skipped and his x1 1/1
    counted as two allele observations."""
    from trd_spark.pgs.genotypes import contig_recoding

    tmp, _, _ = sex_case
    (tmp_path / "m.vcf").write_text(_VCF_MT)
    _plink2("--vcf", str(tmp_path / "m.vcf"), "--update-sex", str(tmp / "sex.txt"), "--make-pgen",
            "--out", str(tmp_path / "mp"))
    oracle = _oracle(tmp_path, str(tmp_path / "mp"))
    mt = hl.import_vcf(str(tmp_path / "m.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    mt.write(str(tmp_path / "m.mt"))
    cfg = _config(tmp_path, sex_case, str(tmp_path / "m.mt"), "mt")
    assert _sums(hl, spark, cfg) == pytest.approx(oracle, abs=1e-6)


def test_a_bgen_on_a_uri_reads_the_sex_of_its_sample_file(hl, spark, tmp_path, sex_case):
    """A BGEN whose calls are all diploid (plink2's export without sex; Hail reads no other) and
    whose .sample holds the sex, on a ``file://`` URI (Hail's pass: the native engine reads
    local paths only): its .sample's sex is read through Hail's file system (``hailtop.fs``, as
    its sample IDs are), counted (source ``bgen_sample``) and scored with: plink2 --bgen
    --sample's sums to 1e-6 (x2's missing calls imputed counting the .sample's males once).
    Before (93c1e64): a BGEN on a URI had no sex (``dataset_sex`` read local files only): no
    male, every X call two allele observations (1002's missing x2 call 2 x 0.6 T copies, not 2 x 2/3).
    The chrY rows are left out (Hail cannot read them), the scores' other rows are scored."""
    from test_field_cases_pgs import published_frame

    from trd_spark.pgs import stage

    # Every call diploid-coded (Hail reads no other BGEN; a bgenix / qctool export's males),
    # exported without sex: the sex only in the .sample. No chrY row: plink2 writes chrY haploid
    # (ploidy 1, 0 for a woman) whatever the sex, which Hail's BGEN reader refuses.
    (tmp_path / "dip.vcf").write_text("".join(
        line if line.startswith("#") else "\t".join(
            [*f[:9], *(g if "/" in g else f"{g}/{g}" for g in f[9:])]) + "\n"
        for line, f in ((line, line.rstrip("\n").split("\t")) for line in _VCF.splitlines(keepends=True))
        if not line.startswith("chrY")))
    _plink2("--vcf", str(tmp_path / "dip.vcf"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp_path / "g"))
    sex = dict(line.split("\t") for line in _SEX.splitlines()[1:])
    lines = (tmp_path / "g.sample").read_text().splitlines()
    (tmp_path / "g.sample").write_text("\n".join(
        lines[:2] + [" ".join([*f[:-1], sex[f[1]]]) for f in (line.split() for line in lines[2:])]) + "\n")
    _plink2("--bgen", str(tmp_path / "g.bgen"), "ref-first", "--sample", str(tmp_path / "g.sample"), "--make-pgen",
            "--out", str(tmp_path / "gp"))
    oracle = _oracle(tmp_path, str(tmp_path / "gp"), pgs_ids=("PGS992001", "PGS992002"))  # PGS992003: chrY only
    cfg = _config(tmp_path, sex_case, f"file://{tmp_path}/g.bgen", "bgen")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    sums = dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))
    assert {k: v for k, v in sums.items() if k[0] != "PGS992003"} == pytest.approx(oracle, rel=1e-5, abs=1e-6)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown) == ("bgen_sample", 3, 3, 2)
