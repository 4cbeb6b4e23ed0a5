"""PGS field cases, round 19 (session 29, sexsource): the sex on X from a declared source.

A male's chrX call outside the PARs is one allele observation of the frequency that imputes a
missing X call (plink2 with the samples' sex). The project told the males from the ploidy of
the calls (VCF/MT/VDS/BGEN), so:

- a BGEN whose males are coded DIPLOID on X (bgenix / qctool exports) had no males, though its
  Oxford .sample names their sex (plink2 ``--sample`` reads the ``sex`` column): every male's 0
  or 2 counted as two allele observations, silently; now the .sample's sex is read as plink2
  reads it;
- no sex could be given at all (plink2 ``--update-sex``; All of Us' genomic metrics'
  ``dragen_sex_ploidy``): now ``datasets[].genotypes.sex_source`` declares it from a file, for
  every format and route, and a VDS's pass over all of chrX's variant data is skipped;
- the samples of unknown sex, not in the sex file, and whose declared sex disagrees with their
  X calls (a male with a heterozygous call: plink2 reads it as it is, 1 copy, half an ALT of
  one observation) are counted in the manifest's notes.sample_sex as labels.

Each oracle is plink2 --score on the same data with the same sex (--read-freq of its own
--freq), its sums exact in the 6 digits it prints: 1e-9.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Diploid-coded males 1001-1003 and 1007 (1006 and 1007 missing at both rows):
# chrX:5000000 A>G: males 1001 1/1, 1002 0/0, 1003 1/1 (one observation each: 1, 0, 1), 1004
#   0/1 -> G frequency 3/5 with the sex (5/8 without), a missing call 1.2 G copies (1.25).
# chrX:6000000 C>T: 1001 0/1 (a male's het: 1 copy, half an ALT of one observation), 1002 0/0,
#   1003 1/1, 1005 1 (a woman's haploid call: homozygous, 2 copies of 2 observations, as plink2
#   reads it) -> 3.5/5 = 0.7 with the sex, a missing call 1.4 copies (5/8 -> 1.25 without).
_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chrX,length=156040895>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006\t1007
chrX\t5000000\trs1\tA\tG\t.\tPASS\t.\tGT\t1/1\t0/0\t1/1\t0/1\t./.\t./.\t./.
chrX\t6000000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t./.\t1\t./.\t./.
"""
_SCORE = ("#pgs_id=PGS991901\n#genome_build=GRCh38\n"
          "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
          "X\t5000000\tG\tA\t1.0\nX\t6000000\tT\tC\t0.5\n")
# Hand: 1001 2 + 0.5 x 1, 1003 2 + 0.5 x 2, 1004 1 + 0.5 x 1.4, 1005 1.2 + 0.5 x 2, 1006-1007
# 1.2 + 0.5 x 1.4.
_HAND = {1001: 2.5, 1002: 0.0, 1003: 3.0, 1004: 1.7, 1005: 2.2, 1006: 1.9, 1007: 1.9}
# All of Us' genomic metrics shape: research_id, dragen_sex_ploidy (XX / XY / other). 1006 is not
# listed, 1007's ploidy is neither (unknown): both read as not male (no call of theirs is counted).
_METRICS = ("research_id\tdragen_sex_ploidy\tmean_coverage\n1001\tXY\t30.1\n1002\tXY\t31.0\n1003\tXY\t29.5\n"
            "1004\tXX\t33.3\n1005\tXX\t30.0\n1007\tXXY\t32.0\n")
_AOU_SEX = ', sex_source: {{path: "{}", id_column: research_id, sex_column: dragen_sex_ploidy, male: [XY], female: [XX]}}'


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _sums(path: Path) -> dict[int, float]:
    """IID -> SCORE1_SUM of a plink2 .sscore."""
    with open(path) as f:
        return {int(r[0]): float(r[-1]) for r in (line.split() for line in f) if not r[0].startswith("#")}


def _plink2_scores(tmp: Path, *source: str) -> dict[int, float]:
    """plink2 --score of rs1 (G, 1.0) and rs2 (T, 0.5) on ``source`` with --read-freq of its own --freq."""
    _plink2(*source, "--make-pgen", "--out", str(tmp / "p"))
    _plink2("--pfile", str(tmp / "p"), "--freq", "--out", str(tmp / "f"))
    (tmp / "w.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\nrs2\tT\t0.5\n")
    _plink2("--pfile", str(tmp / "p"), "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "w.tsv"), "1", "2",
            "3", "header-read", "cols=+scoresums", "--out", str(tmp / "s"))
    return _sums(tmp / "s.sscore")


@pytest.fixture(scope="module")
def sex_case(tmp_path_factory):
    """The VCF (males diploid-coded), the AoU-shaped sex file, the scoring file and plink2
    --score's sums on the VCF with the same sex (--update-sex; 1006, 1007 unknown)."""
    tmp = tmp_path_factory.mktemp("sexsource")
    (tmp / "d.vcf").write_text(_VCF)
    (tmp / "metrics.tsv").write_text(_METRICS)
    (tmp / "sex.txt").write_text("#IID\tSEX\n1001\t1\n1002\t1\n1003\t1\n1004\t2\n1005\t2\n1007\tNA\n")
    (tmp / "score.txt").write_text(_SCORE)
    oracle = _plink2_scores(tmp, "--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"))
    return tmp, oracle


def _run(hl, spark, cfg):
    """``run_scores``' frame (person_id -> score_sum) and the dataset's matches (their ``sex``)."""
    from test_field_cases_pgs import published_frame

    from trd_spark.pgs import stage

    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
    return dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True)), r


def test_bgen_with_diploid_males_reads_the_sex_of_its_sample_file(hl, spark, tmp_path, sex_case):
    """A BGEN whose males are diploid on X (plink2 --export bgen-1.2 of data without sex, as
    bgenix / qctool write them), its .sample's ``sex`` column 1/2/NA: equal to plink2 --bgen
    --sample (which reads that column) --score, to 1e-9, and to the hand values; the .sample's
    sex is counted (1006, 1007 unknown; 1001's het X call disagrees with his sex).
    plink2's export without sex writes 1005's haploid call as a diploid 1/1: only 1001 disagrees.
    Before (8a12b1b): no male (no haploid call), 1006-1007 1.25 + 0.5 x 1.25 = 1.875."""
    from test_field_cases_pgs import case_config

    tmp, _ = sex_case
    bgen = tmp_path / "b"
    _plink2("--vcf", str(tmp / "d.vcf"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(bgen))
    sex = {1001: "1", 1002: "1", 1003: "1", 1004: "2", 1005: "2", 1006: "NA", 1007: "0"}
    lines = (tmp_path / "b.sample").read_text().splitlines()
    (tmp_path / "b.sample").write_text("\n".join(
        lines[:2] + [" ".join([*f[:-1], sex[int(f[1])]]) for f in (line.split() for line in lines[2:])]) + "\n")
    oracle = _plink2_scores(tmp_path, "--bgen", str(tmp_path / "b.bgen"), "ref-first", "--sample",
                            str(tmp_path / "b.sample"))
    sums, r = _run(hl, spark, case_config(tmp_path, str(tmp_path / "b.bgen"), str(tmp / "score.txt"), fmt="bgen"))
    assert sums == pytest.approx(oracle, abs=1e-9)
    assert sums == pytest.approx(_HAND, abs=1e-9)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("bgen_sample", 3, 2, 2, 0, 1)


def test_vcf_with_a_sex_file_scores_as_plink2_update_sex(hl, spark, tmp_path, sex_case, caplog):
    """A VCF (diploid-coded males) with All of Us' genomic-metrics shape as the sex source
    (XY male, XX female, XXY unknown; 1006 not listed), on Hail's pass: plink2 --update-sex
    --score's sums to 1e-9 (1005's haploid call read as homozygous, as plink2 reads a woman's).
    1001 (a male's het call) and 1005 (a woman's haploid call) disagree with their declared sex.
    The counts reach the log and the manifest's note as labels only.
    Before (8a12b1b): the config key did not exist (one ConfigError)."""
    from person_count_guard import raw_person_counts_in_json
    from test_field_cases_pgs import case_config

    tmp, oracle = sex_case
    cfg = case_config(tmp_path, str(tmp / "d.vcf"), str(tmp / "score.txt"),
                      extra_genotypes=_AOU_SEX.format(tmp / "metrics.tsv"), extra_pgs="  native: {engine: hail}")
    with caplog.at_level("INFO", logger="trd_spark.pgs.sample_sex"):
        sums, r = _run(hl, spark, cfg)
    assert sums == pytest.approx(oracle, abs=1e-9)
    assert sums == pytest.approx(_HAND, abs=1e-9)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("file", 3, 2, 2, 1, 2)
    note = r.sex.counts.note(20)
    assert note == {"source": "file", "male": "<20", "female": "<20", "unknown": "<20", "not_in_file": "<20",
                    "disagreeing": "<20"}
    assert raw_person_counts_in_json({"notes": {"sample_sex": {"d": note}}}) == []
    # 2 of 7 unknown is above pgs.sex_warn_share (0.05): a WARNING, no count in it.
    warned = [x.getMessage() for x in caplog.records if x.levelname == "WARNING" and x.name.endswith("sample_sex")]
    assert len(warned) == 1 and "samples of unknown sex above pgs.sex_warn_share (5%; some of them not in the sex file)" in warned[0]
    assert "disagreeing with their X calls" in warned[0]


def test_vds_with_a_sex_file_skips_the_pass_over_x(hl, spark, tmp_path, sex_case, monkeypatch):
    """The VCF as a VDS (hom-ref calls as reference blocks) with the sex file, exported for the
    native engine: plink2's sums to 1e-9, and the pass over all of chrX's variant data
    (``genotypes.vds_x_evidence``) is never run (it raises here).
    Before (8a12b1b): the config key did not exist (one ConfigError)."""
    from test_field_cases_pgs import case_config
    from test_pgs_genotypes import write_vds

    from trd_spark.pgs import genotypes

    tmp, oracle = sex_case
    mt = hl.import_vcf(str(tmp / "d.vcf"), reference_genome="GRCh38",
                       contig_recoding=genotypes.contig_recoding("GRCh38"))
    write_vds(hl, mt, str(tmp_path / "d.vds"))

    def no_pass(*args, **kwargs):
        raise AssertionError("vds_x_evidence ran: a pass over all of X with a declared sex")

    monkeypatch.setattr(genotypes, "vds_x_evidence", no_pass)
    cfg = case_config(tmp_path, str(tmp_path / "d.vds"), str(tmp / "score.txt"), fmt="vds",
                      extra_genotypes=_AOU_SEX.format(tmp / "metrics.tsv"))
    sums, r = _run(hl, spark, cfg)
    assert sums == pytest.approx(oracle, abs=1e-9)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("file", 3, 2, 2, 1, 2)


def test_bed_with_a_sex_file_overrides_its_fam(hl, spark, tmp_path, sex_case):
    """The VCF as a .bed whose .fam has no sex (plink2 --make-bed without it: 0 for all), with
    plink2's own --update-sex file as the sex source (defaults: IID, SEX, 1/2): the native
    engine's sums equal plink2's to 1e-9; a .bed's calls carry no ploidy, so the disagreement is
    not checked. Before (8a12b1b): the config key did not exist (one ConfigError)."""
    from test_field_cases_pgs import case_config

    tmp, oracle = sex_case
    _plink2("--vcf", str(tmp / "d.vcf"), "--make-bed", "--out", str(tmp_path / "g"))
    cfg = case_config(tmp_path, str(tmp_path / "g"), str(tmp / "score.txt"), fmt="plink",
                      extra_genotypes=f', sex_source: {{path: "{tmp / "sex.txt"}"}}')
    sums, r = _run(hl, spark, cfg)
    assert sums == pytest.approx(oracle, abs=1e-9)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("file", 3, 2, 2, 1, None)
    assert c.note(20)["disagreeing"] == "not checked"


def test_a_vds_sex_told_by_its_calls_is_counted_for_the_manifest(hl):
    """Without a sex file a VDS's sex on X comes from its calls (``vds_x_evidence``: True male,
    False female, missing unknown); ``engine.calls_sex_counts`` gives the counts the manifest's
    notes.sample_sex shows as labels (source ``calls``), where the unknown count was only in an
    INFO line. Before (8a12b1b): no such count (ImportError)."""
    from trd_spark.pgs.engine import calls_sex_counts
    from trd_spark.pgs.genotypes import MALE_X

    told = hl.Table.parallelize([{"s": s, MALE_X: m} for s, m in
                                 [("1001", True), ("1002", None), ("1003", False), ("1004", False), ("1005", None)]],
                                hl.tstruct(s=hl.tstr, **{MALE_X: hl.tbool}), key="s")
    c = calls_sex_counts(hl, told)
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("calls", 1, 2, 2, 0, None)
    assert c.note(20) == {"source": "calls", "male": "<20", "female": "<20", "unknown": "<20", "not_in_file": "0",
                          "disagreeing": "not checked"}


def test_sex_file_errors_name_the_file_and_line(tmp_path):
    """A sex file without the configured columns, with a short line or an ID twice: one
    InputDataError naming file:line, never an ID; codes listed as male and female: a config
    error. Before (8a12b1b): no such reader (ImportError)."""
    from pydantic import ValidationError

    from trd_spark.config import SexFile
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.sample_sex import FEMALE, MALE, UNKNOWN, read_sex_file

    spec = SexFile(path="m.tsv", id_column="research_id", sex_column="dragen_sex_ploidy", male=["XY"], female=["XX"])
    assert read_sex_file(_METRICS, spec) == {"1001": MALE, "1002": MALE, "1003": MALE, "1004": FEMALE,
                                             "1005": FEMALE, "1007": UNKNOWN}
    assert read_sex_file("#IID SEX\n1001 1\n1002 2\n1003 0\n", SexFile(path="s.txt")) == {
        "1001": MALE, "1002": FEMALE, "1003": UNKNOWN}
    cases = {"1001\tXY\n1002\tXX\n": "m.tsv:1", "research_id\tsex\n1001\tXY\n": "m.tsv:1",
             "research_id\tdragen_sex_ploidy\n1001\tXY\n1001\n": "m.tsv:3",
             "research_id\tdragen_sex_ploidy\n1001\tXY\n1002\tXX\n1001\tXY\n": "m.tsv:4"}
    for text, where in cases.items():
        with pytest.raises(InputDataError) as e:
            read_sex_file(text, spec)
        assert e.value.where == where and "1001" not in str(e.value), str(e.value)
    with pytest.raises(ValidationError, match="listed as male and as female"):
        SexFile(path="s.txt", male=["1", "U"], female=["2", "U"])


@pytest.mark.parametrize(("counts", "why"), [
    ((0, 30, 0), "no male sample"),
    ((30, 0, 0), "no female sample"),
    ((40, 40, 0, 0, 5), "samples disagreeing with their X calls above pgs.sex_warn_share (5%"),
    ((40, 40, 5, 5), "samples of unknown sex above pgs.sex_warn_share (5%; some of them not in the sex file)"),
    ((240, 240, 20, 0, 20), None),
    ((240, 235, 25, 0, 25), None),  # exactly 5% unknown and disagreeing: not above the share
], ids=["no-male", "no-female", "disagreeing", "unknown", "plausible", "at-the-share"])
def test_implausible_sex_is_one_warning_without_a_count(caplog, counts, why):
    """``SexCounts.check``: one WARNING naming why (no male or no female; unknown or
    disagreeing samples above ``pgs.sex_warn_share``: a count under T by the largest its label
    leaves, 1a904f2), with no count in it; none when 20 of 500 are unknown and 20 disagree (4%),
    nor at exactly the share (25 of 500: "above", mutation check of 5ef4936).
    Before (8a12b1b): no such check (ImportError)."""
    from trd_spark.pgs.sample_sex import SexCounts

    with caplog.at_level("INFO", logger="trd_spark.pgs.sample_sex"):
        SexCounts("file", *counts).check("d", 0.05, 20)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == (why is not None)
    if why is not None:
        assert why in warned[0] and not any(str(n) in warned[0].replace("5%", "") for n in counts if n >= 5), warned


def test_a_bgen_of_mixed_ploidy_counts_both_kinds_of_disagreement(hl, spark, tmp_path):
    """Mutation check of 5ef4936 (``BlockReader.x_call_kinds`` on a block of mixed ploidy, and
    ``engine._native_sex``): round 17's chrX case as plink2 writes it to BGEN with the sex (males
    1001-1003, 1007 haploid at rs3; 1003's haploid call and 1005's diploid one missing), its
    .sample's sex then edited: 1004 (0/1 at rs3) declared male, 1007 (a haploid call) female.
    By hand: male 1001-1004, female 1005-1007; disagreeing 2 (1004: a male's heterozygous call,
    read after 1003's missing haploid one; 1007: a female's haploid call). The sums equal
    plink2 --bgen --sample (the same sex) --score, to 1e-5 (the 6 digits it prints)."""
    from test_field_cases_pgs import case_config
    from test_field_cases_round17_pgs import _X_SCORE, _X_VCF

    (tmp_path / "d.vcf").write_text(_X_VCF)
    (tmp_path / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{i}\t{1 if i in (1001, 1002, 1003, 1007) else 2}\n"
                                                             for i in range(1001, 1008)))
    _plink2("--vcf", str(tmp_path / "d.vcf"), "--update-sex", str(tmp_path / "sex.txt"), "--split-par", "hg38",
            "--make-pgen", "--out", str(tmp_path / "g"))
    _plink2("--pfile", str(tmp_path / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp_path / "b"))
    sex = {1001: "1", 1002: "1", 1003: "1", 1004: "1", 1005: "2", 1006: "2", 1007: "2"}
    lines = (tmp_path / "b.sample").read_text().splitlines()
    assert lines[0].split()[-1] == "sex", lines[0]
    (tmp_path / "b.sample").write_text("\n".join(
        lines[:2] + [" ".join([*f[:-1], sex[int(f[1])]]) for f in (line.split() for line in lines[2:])]) + "\n")
    _plink2("--bgen", str(tmp_path / "b.bgen"), "ref-first", "--sample", str(tmp_path / "b.sample"), "--make-pgen",
            "--out", str(tmp_path / "p"))
    _plink2("--pfile", str(tmp_path / "p"), "--freq", "--out", str(tmp_path / "f"))
    (tmp_path / "w.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\nrs2\tT\t0.5\nrs3\tG\t1.0\n")
    _plink2("--pfile", str(tmp_path / "p"), "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "w.tsv"),
            "1", "2", "3", "header-read", "cols=+scoresums", "--out", str(tmp_path / "s"))
    (tmp_path / "score.txt").write_text(_X_SCORE)
    sums, r = _run(hl, spark, case_config(tmp_path, str(tmp_path / "b.bgen"), str(tmp_path / "score.txt"), fmt="bgen"))
    assert sums == pytest.approx(_sums(tmp_path / "s.sscore"), abs=1e-5)
    c = r.sex.counts
    assert (c.source, c.male, c.female, c.unknown, c.not_in_file, c.disagreeing) == ("bgen_sample", 4, 3, 0, 0, 2)
    # The call kinds of hand-made 8-bit blocks of dosages (an imputed BGEN): a diploid call is
    # heterozygous when P(AB) is the most probable of the three (as plink2's hard call), not
    # merely above P(AA); a haploid call is one probability, a missing one (0x80) neither kind.
    import struct

    import numpy as np

    from trd_spark.pgs.bgen_reader import BgenFiles, BlockReader

    def block(ploidy: list[int], probabilities: list[int]) -> bytes:
        least, most = min(p & 0x3F for p in ploidy), max(p & 0x3F for p in ploidy)
        return struct.pack("<IHBB", 7, 2, least, most) + bytes(ploidy) + bytes([0, 8]) + bytes(probabilities)

    # P(AA), P(AB) per diploid sample (P(BB) the rest of 255): BB most probable, AB, AA, a missing
    # call (its probabilities those of an AB), BB, AB, AA.
    diploid = block([2, 2, 2, 0x82, 2, 2, 2], [26, 51, 77, 102, 255, 0, 0, 255, 0, 0, 0, 255, 255, 0])
    # Haploid REF, diploid (BB most probable), AB, a missing haploid call, haploid ALT, AB, AA.
    mixed = block([1, 2, 2, 0x81, 1, 2, 2], [255, 26, 51, 77, 102, 0, 0, 0, 255, 255, 0])
    with BlockReader(BgenFiles.open(str(tmp_path / "b.bgen"))) as reader:
        kinds = []
        for data in (diploid, mixed):
            reader._genotype_block = lambda offset, size, data=data: data  # noqa: SLF001 - the blocks above
            kinds.append([a.tolist() for a in reader.x_call_kinds(np.array([[0, len(data)]], dtype=np.int64))])
    assert kinds[0] == [[False] * 7, [False, True, False, False, False, True, False]]
    assert kinds[1] == [[True, False, False, False, True, False, False], [False, False, True, False, False, True, False]]


def test_sex_codes_read_as_plink2_reads_them(tmp_path):
    """Mutation check of 5ef4936: the codes plink2 reads as male / female / missing (1/M/m,
    2/F/f, 0/N/U: ``--update-sex``, the .psam SEX column), by ``plink_sex_codes`` (a .psam, a
    BGEN .sample) and a sex file's default codes, equal to the SEX plink2 writes after reading
    them (1, 2, NA); and a sex file's sample IDs are the genotype file's, taken to persons
    through the sample map (a sample the map lacks left out)."""
    from trd_spark.config import SexFile
    from trd_spark.pgs.sample_sex import FEMALE, MALE, UNKNOWN, declared_sex_of_persons, plink_sex_codes, read_sex_file

    codes = ["1", "M", "m", "2", "F", "f", "0", "N", "U"]
    ids = [f"s{i}" for i in range(len(codes))]
    (tmp_path / "d.vcf").write_text(
        "##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
        "##contig=<ID=chr1,length=248956422>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(ids) + "\nchr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT" + "\t0/1" * len(ids) + "\n")
    text = "#IID\tSEX\n" + "".join(f"{s}\t{c}\n" for s, c in zip(ids, codes, strict=True))
    (tmp_path / "sex.txt").write_text(text)
    _plink2("--vcf", str(tmp_path / "d.vcf"), "--update-sex", str(tmp_path / "sex.txt"), "--make-just-psam",
            "--out", str(tmp_path / "o"))
    written = dict(line.split() for line in (tmp_path / "o.psam").read_text().splitlines()[1:])
    plink2 = [{"1": MALE, "2": FEMALE, "NA": UNKNOWN}[written[s]] for s in ids]
    assert plink2 == [MALE] * 3 + [FEMALE] * 3 + [UNKNOWN] * 3
    assert plink_sex_codes(codes).tolist() == plink2
    by_sample = read_sex_file(text, SexFile(path="sex.txt"))
    assert [by_sample[s] for s in ids] == plink2
    assert declared_sex_of_persons(by_sample, {"s0": 1001, "s3": 1002, "s6": 1003}) == {
        "1001": MALE, "1002": FEMALE, "1003": UNKNOWN}
