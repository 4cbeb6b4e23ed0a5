"""PGS inputs beyond the GRCh38 happy path, on tiny hand-written files (tests/data/pgs).

- GRCh37 end to end: a ``chr``-prefixed GRCh37 VCF (recoded to ``1``) scored with a GRCh37
  scoring file; SUMs equal plink2 ``--score`` on the same VCF.
- Liftover: a GRCh37 scoring file lifted to the GRCh38 VCF through a hand-written UCSC chain
  file (one + strand block, one - strand block); failures are their own match type; scores
  equal those of the same weights written directly on GRCh38.
- rsID-only scoring files matched on the VCF ID column; an error when rsIDs were not read.
- Scoring files through Hadoop FS: ``file://`` URIs, a glob and a directory, plain and gzip.

Chain file (https://genome.ucsc.edu/goldenPath/help/chain.html; 0-based half-open, the
second block's query on the - strand, so 1-based GRCh37 p maps to GRCh38 21001 - p + 500):

    GRCh37 1:10001-11000  ->  GRCh38 chr1:1-1000        (+)   p -> p - 10000
    GRCh37 1:20001-21000  ->  GRCh38 chr1:1-1000        (-)   p -> 21001 - p
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest
from pgs_hail_oracle import (
    check_genotype_duplicates,
    explode_members,
    match_sites,
    match_variants,
    score_weights_table,
    summarise_matches,
)

from trd_spark.config import GenotypeSource, LiftoverSettings, PgsSettings
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import ScoreLabel, score_variants_table
from trd_spark.pgs.scoring import compute_scores
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file, read_scoring_files, scoring_file_paths

DATA = Path(__file__).parent / "data" / "pgs"
GRCH37_CHR1, GRCH38_CHR1 = 249250621, 248956422
CHAIN = (
    f"chain 1000 1 {GRCH37_CHR1} + 10000 11000 chr1 {GRCH38_CHR1} + 0 1000 1\n1000\n\n"
    f"chain 1000 1 {GRCH37_CHR1} + 20000 21000 chr1 {GRCH38_CHR1} - {GRCH38_CHR1 - 1000} {GRCH38_CHR1} 2\n1000\n\n"
)
SCORE_HEADER = "#pgs_id={pgs_id}\n#trait_reported=Tiny trait\n#weight_type=beta\n#genome_build={build}\n"
COLUMNS = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


def bgzip(text: str, path: Path) -> str:
    plain = path.with_suffix("")
    plain.write_text(text)
    pysam.tabix_compress(str(plain), str(path), force=True)
    return str(path)


def chr_prefixed_vcf() -> str:
    text = (DATA / "tiny.vcf").read_text().replace("##contig=<ID=1,length=248956422>",
                                                   f"##contig=<ID=chr1,length={GRCH37_CHR1}>")
    return "\n".join(("chr" + ln) if ln and not ln.startswith("#") else ln for ln in text.split("\n"))


def score(hl, spark, mt, files, reference_genome, tmp: Path, *, liftover=None, missing="mean_impute"):
    """The stage's input-to-score path for one dataset: (match table, summary, scores by person/pgs_id).

    ``match_variants`` with its matched sites written once to ``tmp`` (Hail's checkpoint): the
    duplicate check, the summary, the weights and each test's look at the matches then read
    them, instead of compiling and running the whole match again from the VCF and the scoring
    files for each (on these 4-person files the compile is nearly all of a test's time)."""
    sv = score_variants_table(hl, spark, files, reference_genome, liftover=liftover)
    sites = match_sites(hl, mt, sv, keep_ambiguous=False).checkpoint(str(tmp / "match_sites.ht"))
    check_genotype_duplicates(hl, sites, where="genotypes")
    m = explode_members(hl, sites)
    ids = [sf.pgs_id for sf in files]
    summary = summarise_matches(hl, m, "d", ids, {i: ScoreLabel("t", "d") for i in ids})
    scores = compute_scores(hl, mt, score_weights_table(hl, m, len(files)), ids, summary["n_matched"].tolist(),
                            missing_genotypes=missing, chr_y=False, chr_m=False)  # tiny.vcf: chr1 only
    # Hail's own to_pandas: the Spark conversion (scores_frame) is tested elsewhere.
    frame = scores.to_pandas()
    frame["person_id"] = frame["s"].astype("int64")
    return m, summary, frame.set_index(["person_id", "pgs_id"]).sort_index()


def match_types(m) -> list[str]:
    return m.key_by().select("line", "match_type").to_pandas().sort_values("line")["match_type"].tolist()


# ------------------------------------------------------------------------------ GRCh37


def test_grch37_chr_prefixed_vcf_scores_equal_plink2(hl, spark, tmp_path):
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 must be on PATH for the oracle test (apt-get install plink2)"
    vcf = bgzip(chr_prefixed_vcf(), tmp_path / "tiny37.vcf.bgz")
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=vcf, reference_genome="GRCh37"))
    assert mt.aggregate_rows(hl.agg.collect_as_set(mt.locus.contig)) == {"1"}  # chr1 recoded
    sf = parse_scoring_file((DATA / "PGS000901.txt").read_text().replace("GRCh38", "GRCh37"),
                            source="PGS000901_37.txt", target_build="GRCh37")
    m, summary, ours = score(hl, spark, mt, [sf], "GRCh37", tmp_path)
    # Same cases as on GRCh38 (test_pgs_matching.EXPECTED), by line.
    assert match_types(m) == ["ref_alt", "alt_ref", "ref_alt", "ambiguous_dropped", "ref_alt_flipped",
                              "alt_ref_flipped", "ref_alt", "not_found", "not_found"]
    assert set(m.aggregate(hl.agg.collect_as_set(m.chrom))) == {"1"}

    # plink2 on the same chr-prefixed VCF; weights on the VCF strand (flips resolved by hand).
    ids = {100: ("G", 0.5), 200: ("C", -1.0), 300: ("A", 2.0), 500: ("C", 0.25), 600: ("G", 3.0), 900: ("G", 1.5)}
    (tmp_path / "w.tsv").write_text("ID\tA1\tW\n" + "".join(f"v{p}\t{a}\t{w}\n" for p, (a, w) in ids.items()))
    common = [plink2, "--vcf", str(tmp_path / "tiny37.vcf"), "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp_path / "f")], check=True, capture_output=True)
    subprocess.run([*common, "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "w.tsv"),
                    "1", "2", "3", "header", "cols=+scoresums,+denom", "--out", str(tmp_path / "o")],
                   check=True, capture_output=True)
    ref = pd.read_csv(tmp_path / "o.sscore", sep="\t").set_index("#IID")
    assert len(ref) == 4
    for person, row in ref.iterrows():
        got = ours.loc[(person, "PGS000901")]
        assert got["score_sum"] == pytest.approx(row["SCORE1_SUM"], rel=1e-6, abs=1e-12)
        assert got["allele_count"] == row["ALLELE_CT"]
        assert 2 * got["n_matched"] == row["DENOM"]


# ------------------------------------------------------------------------------ liftover

# GRCh37 rows and their GRCh38 equivalents (tiny.vcf sites on chr1):
#   10100 G/A  -> 100 A>G  ref_alt                       (+ block)
#   10200 C/T  -> 200 C>T  alt_ref                       (+ block)
#   20501 G/A  -> 500 T>C  - block: reverse-complemented C/T -> ref_alt (no strand flip)
#   20401 C/A  -> 600 G>T  - block: G/T -> alt_ref
#   50000 A/G  -> not in the chain: liftover_failed
LIFT_ROWS = [("rs100", 10100, "G", "A", 0.5), ("rs200", 10200, "C", "T", -1.0), ("rs500", 20501, "G", "A", 0.25),
             ("rs600", 20401, "C", "A", 3.0), ("rs9", 50000, "A", "G", 7.0)]
DIRECT_ROWS = [("rs100", 100, "G", "A", 0.5), ("rs200", 200, "C", "T", -1.0), ("rs500", 500, "C", "T", 0.25),
               ("rs600", 600, "G", "T", 3.0)]


def score_text(pgs_id: str, build: str, rows) -> str:
    body = "".join(f"{r}\t1\t{p}\t{ea}\t{oa}\t{w}\n" for r, p, ea, oa, w in rows)
    return SCORE_HEADER.format(pgs_id=pgs_id, build=build) + COLUMNS + body


@pytest.fixture(scope="module")
def tiny38(hl, tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs38") / "tiny.vcf.bgz"
    return bgzip((DATA / "tiny.vcf").read_text(), path)


def test_liftover_grch37_file_scores_like_its_grch38_equivalent(hl, spark, tmp_path, tiny38):
    chain = tmp_path / "37to38.over.chain.gz"
    chain.write_bytes(gzip.compress(CHAIN.encode()))  # Hail reads gzip or plain chains
    lifted = parse_scoring_file(score_text("PGS000037", "GRCh37", LIFT_ROWS), source="s37.txt", liftover=True)
    direct = parse_scoring_file(score_text("PGS000038", "GRCh38", DIRECT_ROWS), source="s38.txt")
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=tiny38))
    settings = LiftoverSettings(chain_file=str(chain), min_match=0.95)
    m, summary, scores = score(hl, spark, mt, [lifted, direct], "GRCh38", tmp_path, liftover=settings)

    got = m.key_by().select("pgs_id", "line", "match_type", "chrom", "pos").to_pandas()
    got = got[got["pgs_id"] == "PGS000037"].sort_values("line")
    assert got["match_type"].tolist() == ["ref_alt", "alt_ref", "ref_alt", "alt_ref", "liftover_failed"]
    assert got["pos"].tolist()[:4] == [100, 200, 500, 600] and pd.isna(got["pos"].iloc[4])
    assert set(got["chrom"].dropna()) == {"chr1"}
    s = summary.set_index("pgs_id")
    assert s.loc["PGS000037", "n_matched"] == 4 and s.loc["PGS000037", "n_not_found"] == 1  # failed lift counted
    assert s.loc["PGS000038", "n_matched"] == 4
    # the log keeps the file's alleles (not the reverse-complemented ones)
    lifted_rows = m.filter(m.pgs_id == "PGS000037")
    assert lifted_rows.aggregate(hl.agg.collect_as_set(lifted_rows.effect_allele)) == {"G", "C", "A"}
    a = scores.xs("PGS000037", level="pgs_id")["score_sum"]
    b = scores.xs("PGS000038", level="pgs_id")["score_sum"]
    assert len(a) == 4 and a.to_numpy() == pytest.approx(b.to_numpy(), rel=1e-12)
    assert a.abs().sum() > 0


def test_liftover_needs_a_chain_file_and_a_readable_one(hl, spark, tmp_path):
    lifted = parse_scoring_file(score_text("PGS000037", "GRCh37", LIFT_ROWS), source="s37.txt", liftover=True)
    with pytest.raises(InputDataError, match=r"^pgs\.liftover\.chain_file: scoring files on \['GRCh37'\] need a "
                       r"chain file to reach GRCh38: \['s37\.txt'\]"):
        score_variants_table(hl, spark, [lifted], "GRCh38")
    bad = tmp_path / "bad.chain"
    bad.write_text("chain 1000 1 10 + 0 1000 chr1\n")
    with pytest.raises(InputDataError, match=r"^pgs\.liftover\.chain_file .*bad\.chain: cannot load the chain file"):
        score_variants_table(hl, spark, [lifted], "GRCh38", liftover=LiftoverSettings(chain_file=str(bad)))


# ------------------------------------------------------------------------------ rsID-only


def test_rsid_only_file_matches_on_vcf_ids(hl, spark, tmp_path):
    # tiny.vcf with rsIDs in the ID column (v100 -> rs100); rs1000 and rs301 are not in it.
    vcf = bgzip((DATA / "tiny.vcf").read_text().replace("\tv", "\trs"), tmp_path / "ids.vcf.bgz")
    positional = read_scoring_file(str(DATA / "PGS000901.txt"))
    lines = (DATA / "PGS000901.txt").read_text().replace("#pgs_id=PGS000901", "#pgs_id=PGS000911").split("\n")
    # drop chr_name/chr_position: an rsID-only file
    rsid_only = "\n".join(ln if ln.startswith("#") or not ln else "\t".join(
        f for i, f in enumerate(ln.split("\t")) if i not in (1, 2)) for ln in lines)
    sf = parse_scoring_file(rsid_only, source="rsid_only.txt", match_rsid=True)
    assert sf.positions_from == "rsid"

    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=vcf), keep_rsid=True)
    m, summary, scores = score(hl, spark, mt, [positional, sf], "GRCh38", tmp_path)
    got = m.key_by().select("pgs_id", "line", "match_type", "pos").to_pandas().sort_values(["pgs_id", "line"])
    by_pos = got[got["pgs_id"] == "PGS000901"]
    by_rsid = got[got["pgs_id"] == "PGS000911"]
    # Same cases as the positional file, except rs301 (not an rsID in the VCF: the site is rs300).
    assert by_rsid["match_type"].tolist() == by_pos["match_type"].tolist()
    assert by_rsid["pos"].tolist()[:7] == [100, 200, 300, 400, 500, 600, 900]
    s = summary.set_index("pgs_id")
    assert s.loc["PGS000911", "n_matched"] == s.loc["PGS000901", "n_matched"] == 6
    a = scores.xs("PGS000901", level="pgs_id")["score_sum"]
    b = scores.xs("PGS000911", level="pgs_id")["score_sum"]
    assert a.to_numpy() == pytest.approx(b.to_numpy(), rel=1e-12)

    # Genotypes read without their rsIDs: one error naming the file and the option.
    plain = read_genotypes(hl, GenotypeSource(format="vcf", path=vcf))
    sv = score_variants_table(hl, spark, [sf], "GRCh38")
    with pytest.raises(InputDataError, match=r"^pgs\.match_rsid: rsID-only scoring files \['rsid_only\.txt'\] need "
                       r"genotypes read with their rsIDs \(pgs\.match_rsid: true"):
        match_variants(hl, plain, sv, keep_ambiguous=False)


# ------------------------------------------------------------------------------ remote files


def test_scoring_files_from_file_uris_glob_and_directory(spark, tmp_path):
    d = tmp_path / "scores"
    d.mkdir()
    shutil.copy(DATA / "PGS000901.txt", d / "PGS000901.txt")
    second = (DATA / "PGS000901.txt").read_text().replace("#pgs_id=PGS000901", "#pgs_id=PGS000902")
    (d / "PGS000902.txt.gz").write_bytes(gzip.compress(second.encode()))
    (d / "_SUCCESS").write_text("")
    uri = f"file://{d}"

    paths = scoring_file_paths(spark, [f"{uri}/PGS*.txt*"])
    assert [p.rsplit("/", 1)[1] for p in paths] == ["PGS000901.txt", "PGS000902.txt.gz"]
    assert all(p.startswith("file:") for p in paths)
    assert [p.rsplit("/", 1)[1] for p in scoring_file_paths(spark, [uri])] == ["PGS000901.txt", "PGS000902.txt.gz"]

    pgs = PgsSettings(scoring_files=[f"{uri}/*.txt*"], trait_panel="unused.yaml")
    remote = read_scoring_files(spark, pgs, "GRCh38")
    assert [sf.pgs_id for sf in remote] == ["PGS000901", "PGS000902"]
    local = read_scoring_file(str(DATA / "PGS000901.txt"))
    for sf in remote:
        pd.testing.assert_frame_equal(sf.variants, local.variants)
    # local paths: the same glob and directory rules
    assert [sf.pgs_id for sf in read_scoring_files(spark, pgs.model_copy(update={"scoring_files": [str(d)]}),
                                                   "GRCh38")] == ["PGS000901", "PGS000902"]

    with pytest.raises(InputDataError, match=r"^pgs\.scoring_files: no file matches file://.*/nothing\*"):
        scoring_file_paths(spark, [f"{uri}/nothing*"])
    with pytest.raises(InputDataError, match=r"^file://.*/PGS999\.txt: scoring file not found"):
        read_scoring_file(f"{uri}/PGS999.txt")
