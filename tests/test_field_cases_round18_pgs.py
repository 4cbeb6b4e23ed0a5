"""PGS field cases, round 18 (session 28, hunt_pgs18): new shapes of the known kinds.

- A BGEN with haploid calls: plink2 ``--export bgen-1.2`` (and the All of Us BGEN exports made
  with it) writes a male's X outside the pseudo-autosomal regions with ploidy 1, one stored
  probability. The native reader refused every such file ("only diploid"), so no BGEN with
  males on X could be scored. Now a haploid call reads as homozygous (ALT dosage 2 x P(ALT)),
  as plink2 ``--bgen`` reads it, and the samples with a haploid X call are the males of the
  chrX imputation rule (1d8180b), as on the VCF route: equal to plink2 --score on the BGEN.
  plink2 writes a woman's chrY with ploidy 0 (no call): a missing call (chrY, chrM as plink2).
- A folder of scoring files holding a README.md, a checksum list or the Catalog's metadata beside
  the scores: each was parsed as a score and failed the stage. Now only files named as scoring
  files are read (*.txt / *.tsv, gzipped or not, not a README or checksum list); the others are
  listed (WARNING, manifest notes.scoring_files_not_read) and left out of the rerun fingerprint.
- A dataset where most scored calls are missing (a VDS/VCF whose FT fails on most calls under
  pgs.apply_genotype_filter, since 48213d5; a bad export) scored every person near the mean with
  no word. Now the share of missing calls is in the manifest (notes.missing_call_share, from the
  score checks' own pass) and above pgs.missing_call_warn a WARNING says so (and names FT).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_field_cases_round17_pgs import _X_SCORE, _X_VCF


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _sums(path: Path) -> dict[int, float]:
    """IID -> SCORE1_SUM of a plink2 .sscore."""
    with open(path) as f:
        return {int(r[0]): float(r[-1]) for r in (line.split() for line in f) if not r[0].startswith("#")}


@pytest.fixture(scope="module")
def haploid_bgen(tmp_path_factory):
    """Round 17's chrX case (males 1001-1003, 1007 haploid on X; 1003's call missing) as plink2
    writes it to BGEN (ploidy 1 for the males' non-PAR X calls, its .sample with the sex), the
    scoring file, and plink2 --score's sums on that BGEN (its own --freq, the .sample's sex)."""
    tmp = tmp_path_factory.mktemp("hbgen")
    (tmp / "d.vcf").write_text(_X_VCF)
    (tmp / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{i}\t{1 if i in (1001, 1002, 1003, 1007) else 2}\n"
                                                        for i in range(1001, 1008)))
    _plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--split-par", "hg38",
            "--make-pgen", "--out", str(tmp / "g"))
    _plink2("--pfile", str(tmp / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp / "b"))
    _plink2("--bgen", str(tmp / "b.bgen"), "ref-first", "--sample", str(tmp / "b.sample"), "--make-pgen",
            "--out", str(tmp / "p"))
    _plink2("--pfile", str(tmp / "p"), "--freq", "--out", str(tmp / "f"))
    (tmp / "w.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\nrs2\tT\t0.5\nrs3\tG\t1.0\n")
    _plink2("--pfile", str(tmp / "p"), "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "w.tsv"), "1", "2",
            "3", "header-read", "cols=+scoresums", "--out", str(tmp / "s"))
    (tmp / "score.txt").write_text(_X_SCORE)
    return tmp, _sums(tmp / "s.sscore")


def test_bgen_haploid_calls_read_as_plink2_reads_them(hl, spark, tmp_path, haploid_bgen):
    """The BGEN holds blocks of mixed ploidy (the males' rs3 calls ploidy 1, 1003's missing).
    Hand (round 17): 1001 1 + 0.5 x 1 + 2 (haploid G read as 2 copies), 1003 0 + 0.5 x 2 x 0.5 +
    2 x 5/7 (imputed with the males' calls one allele each), 1005 1 x 2 x 0.5 + 0.5 x 2 x 0.5 +
    2 x 5/7; all equal to plink2 --score on the same BGEN. Before: one InputDataError ("only
    unphased diploid") for the whole file."""
    from test_field_cases_pgs import case_config, run_scores

    tmp, plink2 = haploid_bgen
    got = run_scores(hl, spark, case_config(tmp_path, str(tmp / "b.bgen"), str(tmp / "score.txt"), fmt="bgen"))
    got = got.set_index(got["person_id"].astype(int))
    sums = got["score_sum"].to_dict()
    assert sums == pytest.approx(plink2, abs=1e-5)  # plink2 prints 6 significant digits
    assert sums[1001] == pytest.approx(1.0 + 0.5 + 2.0, abs=1e-12)
    assert sums[1003] == pytest.approx(0.0 + 0.5 * 2 * 0.5 + 2 * 5 / 7, abs=1e-12)
    assert sums[1005] == pytest.approx(1.0 * 2 * 0.5 + 0.5 * 2 * 0.5 + 2 * 5 / 7, abs=1e-12)
    assert got["n_missing"].to_dict() == {1001: 0, 1002: 0, 1003: 2, 1004: 0, 1005: 3, 1006: 0, 1007: 0}



# Men 1001, 1002 (haploid chrY calls), women 1003, 1004 (no chrY call: plink2's BGEN writes them
# with ploidy 0); chrM haploid for everyone.
_Y_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrY,length=57227415>
##contig=<ID=chrM,length=16569>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1
chrY\t3000000\trs3\tA\tG\t.\tPASS\t.\tGT\t1\t0\t.\t.
chrM\t100\trs4\tC\tT\t.\tPASS\t.\tGT\t1\t0\t1\t0
"""


def test_bgen_chry_and_chrm_blocks_read_as_plink2_reads_them(hl, spark, tmp_path):
    """plink2 --export bgen-1.2 writes chrY with ploidy 1 for men and ploidy 0 (no call) for
    women, chrM with ploidy 1 for everyone. With missing_genotypes zero (plink2's
    no-mean-imputation; plink2 skips a woman's chrY), the sums equal plink2 --score on the pgen:
    1001 1 + 1 + 1 (a haploid call is one copy on Y and M), 1002 2 + 0 + 0, 1003 0 + 0 + 1,
    1004 1 + 0 + 0. Before: one InputDataError for the file (ploidy 1; ploidy 0 after the
    haploid fix alone)."""
    from test_field_cases_pgs import case_config, run_scores

    (tmp_path / "y.vcf").write_text(_Y_VCF)
    (tmp_path / "sex.txt").write_text("#IID\tSEX\n1001\t1\n1002\t1\n1003\t2\n1004\t2\n")
    _plink2("--vcf", str(tmp_path / "y.vcf"), "--update-sex", str(tmp_path / "sex.txt"), "--make-pgen",
            "--out", str(tmp_path / "y"))
    _plink2("--pfile", str(tmp_path / "y"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp_path / "b"))
    (tmp_path / "w.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\nrs3\tG\t1.0\nrs4\tT\t1.0\n")
    _plink2("--pfile", str(tmp_path / "y"), "--score", str(tmp_path / "w.tsv"), "1", "2", "3", "header-read",
            "cols=+scoresums", "no-mean-imputation", "--out", str(tmp_path / "s"))
    (tmp_path / "score.txt").write_text(
        "#pgs_id=PGS991804\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
        "1\t1000\tG\tA\t1.0\nY\t3000000\tG\tA\t1.0\nMT\t100\tT\tC\t1.0\n")
    cfg = case_config(tmp_path, str(tmp_path / "b.bgen"), str(tmp_path / "score.txt"), fmt="bgen",
                      extra_pgs="  missing_genotypes: zero")
    got = run_scores(hl, spark, cfg)
    got = got.set_index(got["person_id"].astype(int))
    hand = {1001: 3.0, 1002: 2.0, 1003: 1.0, 1004: 1.0}
    assert _sums(tmp_path / "s.sscore") == pytest.approx(hand, abs=1e-6)
    assert got["score_sum"].to_dict() == pytest.approx(hand, abs=1e-12)
    assert got["n_matched"].to_dict() == {1001: 3, 1002: 3, 1003: 3, 1004: 3}
    # A woman's chrY call is no missing call: plink2 leaves it out (ALLELE_CT, DENOM), as the
    # engines do since session 30 (tests/test_field_cases_round20_sex.py); before, 1 for 1003, 1004.
    assert got["n_missing"].to_dict() == {1001: 0, 1002: 0, 1003: 0, 1004: 0}
    # The chrY block's least ploidy is 0 (the women's), its greatest 1: its haploid samples are
    # the men all the same (BlockReader.haploid_samples: the males of the chrX imputation rule,
    # read from any block mixing ploidies 0, 1 and 2; before, only from a least ploidy of 1).
    import numpy as np

    from trd_spark.pgs import bgen_reader
    from trd_spark.pgs.genotypes import contig_recoding

    files = bgen_reader.BgenFiles.open(str(tmp_path / "b.bgen"))
    index = bgen_reader.variant_index(files, lambda c: contig_recoding("GRCh38").get(c, c)).frame
    with bgen_reader.BlockReader(files) as reader:
        men = reader.haploid_samples(index.loc[index["contig"] == "chrY", ["offset", "size"]].to_numpy(np.int64))
        # Ploidy 0 is a missing call by itself, without the missing bit plink2 also sets (another
        # writer may not): a block of haploid ALT (d0 0), ploidy 0, diploid REF/REF, ploidy 0.
        import struct

        block = struct.pack("<IHBB", 4, 2, 0, 2) + bytes([1, 0, 2, 0, 0, 8]) + bytes([0, 255, 0])
        dose = np.zeros(4)
        reader._mixed_ploidy(0, block, dose)
    assert men.tolist() == [True, True, False, False]
    assert dose.tolist() == [2.0, -9.0, 0.0, -9.0]

_SCORE = ("#pgs_id=PGS991801\n#genome_build=GRCh38\n"
          "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t1000\tG\tA\t1.0\n")


def test_a_scoring_file_folder_reads_its_scoring_files_and_lists_the_rest(tmp_path):
    """A folder downloaded from the PGS Catalog or shared by a lab holds, beside the scores
    (``PGS991801.txt.gz``-like names: *.txt / *.tsv, gzipped or not), a README.md, a checksum
    list (sha256sums.txt, MD5SUMS), the Catalog's metadata (.csv, .json) and download-scores' .md5
    sidecars. Only the scores are read; the others are listed (``files_not_read``: the manifest's
    ``notes.scoring_files_not_read`` and a WARNING), and the rerun fingerprint's files are the
    scores alone, so adding a README reruns nothing and explain names no file it did not read.
    A file named on its own is read whatever its name. Before: README.md parsed as a score
    ("header has no #pgs_id"), the whole stage failed."""
    from trd_spark.config import PgsSettings
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import files_read, read_scoring_files

    folder = tmp_path / "scores"
    folder.mkdir()
    (folder / "PGS991801.txt").write_text(_SCORE)
    (folder / "lab_score.tsv").write_text(_SCORE.replace("PGS991801", "PGS991802"))
    others = {"README.md": "# scores\n", "sha256sums.txt": "abc  PGS991801.txt\n", "MD5SUMS": "abc  x\n",
              "readme.txt": "downloaded 2024\n", "pgs_all_metadata_scores.csv": "Polygenic Score (PGS) ID\n",
              "PGS991801_metadata.json": "{}\n"}
    for name, text in others.items():
        (folder / name).write_text(text)
    (folder / "PGS991801.txt.md5").write_text("abc  PGS991801.txt\n")
    pgs = PgsSettings(scoring_files=[str(folder)], trait_panel=str(tmp_path / "panel.yaml"))
    files = read_scoring_files(None, pgs, "GRCh38")
    assert [f.pgs_id for f in files] == ["PGS991801", "PGS991802"]
    from trd_spark.pgs.scoring_files import files_not_read  # (base 7aecd57 failed before: README.md parsed)

    assert files_not_read(None, [str(folder)]) == sorted(str(folder / n) for n in others)
    assert files_read([str(folder)], ["GRCh38"], None) == [[str(folder / "PGS991801.txt"), str(folder / "lab_score.tsv")]]
    glob = str(folder / "*")
    assert [f.pgs_id for f in read_scoring_files(None, pgs.model_copy(update={"scoring_files": [glob]}), "GRCh38")] \
        == ["PGS991801", "PGS991802"]
    # A README named on its own is read (and fails as a score); a folder of no score says why.
    with pytest.raises(InputDataError, match=r"README\.md:1: "):
        read_scoring_files(None, pgs.model_copy(update={"scoring_files": [str(folder / "README.md")]}), "GRCh38")
    (folder / "PGS991801.txt").unlink()
    (folder / "lab_score.tsv").unlink()
    with pytest.raises(InputDataError, match=r"no file matches .*\(6 file\(s\) there not named as scoring files"):
        read_scoring_files(None, pgs, "GRCh38")


# chr1:1000 and chr1:2000, 4 samples: 6 of the 8 calls missing (as a genotype filter FT failing
# on most calls makes them: a VCF or VDS whose FT says nothing about the call); 1001's are called.
_MOSTLY_MISSING = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t./.\t./.\t./.
chr1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t1/1\t./.\t./.\t./.
"""


def test_a_dataset_with_most_calls_missing_is_a_warning_and_its_share_is_noted(hl, spark, tmp_path, caplog):
    """6 of 8 scored calls missing, imputed with 1001's calls (G 1 copy, T 2 copies): everyone
    scores 1 + 0.5 x 2 = 2.0, n_missing 2 for 1002-1004. The stage gives the share of missing
    calls, 0.75 (the manifest's notes.missing_call_share), and a WARNING above
    pgs.missing_call_warn (0.5); the native pass on the pgen plink2 writes (Hail's pass: the
    next test). Before: no count and no word: every person scored the same from one sample's
    calls."""
    import logging

    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(_MOSTLY_MISSING)
    _plink2("--vcf", str(tmp_path / "d.vcf"), "--make-pgen", "--out", str(tmp_path / "g"))
    (tmp_path / "score.txt").write_text(_SCORE.replace("PGS991801", "PGS991803") + "1\t2000\tT\tC\t0.5\n")
    cfg = case_config(tmp_path, str(tmp_path / "g"), str(tmp_path / "score.txt"), fmt="pgen")
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    with caplog.at_level(logging.INFO, logger="trd_spark"):
        got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx({1001: 2.0, 1002: 2.0, 1003: 2.0, 1004: 2.0}, abs=1e-12)
    assert got["n_missing"].to_dict() == {1001: 0, 1002: 2, 1003: 2, 1004: 2}
    assert r.missing_call_share == pytest.approx(0.75)  # (base 7aecd57: no such field)
    assert stage.missing_call_shares([r]) == {"d": 0.75}
    warned = [m.getMessage() for m in caplog.records if m.levelno == logging.WARNING and "scored calls" in m.getMessage()]
    assert len(warned) == 1 and "75.0%" in warned[0] and "apply_genotype_filter" not in warned[0]  # a pgen has no FT
    # A VCF/MatrixTable/VDS dataset under pgs.apply_genotype_filter: the WARNING says FT may be why.
    vcf = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "score.txt"))
    caplog.clear()
    stage.check_missing_calls(vcf, stage.DatasetMatches("d", r.summary, r.scoring_files, r.frame,
                                                        missing_call_share=0.75))
    assert "pgs.apply_genotype_filter: true" in caplog.records[-1].getMessage()


def test_hail_score_check_gives_the_missing_call_share(hl):
    """Hail's pass publishes through ``scoring.check_score_table``: its one aggregation also
    gives the share of missing calls, 6 of 8 here (2 persons x 2 scores of 2 matched
    variants); a table with nothing matched gives None."""
    from trd_spark.pgs.scoring import check_score_table

    def table(rows):
        return hl.Table.parallelize(
            [dict(zip(["s", "pgs_id", "score_sum", "allele_count", "n_missing", "n_matched"], r)) for r in rows],
            hl.tstruct(s=hl.tstr, pgs_id=hl.tstr, score_sum=hl.tfloat64, allele_count=hl.tint64,
                       n_missing=hl.tint64, n_matched=hl.tint64))

    rows = [("1", "P", 1.0, 4, 1, 2), ("1", "Q", 1.0, 4, 2, 2), ("2", "P", 1.0, 4, 1, 2), ("2", "Q", 1.0, 4, 2, 2)]
    assert check_score_table(hl, table(rows), "d") == pytest.approx(0.75)
    assert check_score_table(hl, table([("1", "P", 0.0, 0, 0, 0)]), "d") is None
