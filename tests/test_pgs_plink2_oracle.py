"""Our scores equal plink2 --score on the tiny VCF (needs ``plink2`` on PATH; CI installs it).

Reference calls (plink2 refuses to impute from < 50 samples, so frequencies from the same
data are written with --freq and read back, which is what it would do itself):

    plink2 --vcf tiny.vcf --set-all-var-ids @:# --freq --out f
    plink2 --vcf tiny.vcf --set-all-var-ids @:# --read-freq f.afreq \
           --score score.tsv 1 2 3 header cols=+scoresums,+denom [no-mean-imputation] --out o

score.tsv holds PGS000901's matched variants with the effect allele written on the VCF's
strand (flips resolved by hand), so plink2 only checks the dosage and sum arithmetic.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest
from pgs_hail_oracle import match_variants, score_weights_table, summarise_matches

from trd_spark.config import GenotypeSource
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import ScoreLabel, score_variants_table
from trd_spark.pgs.scoring import compute_scores, scores_frame
from trd_spark.pgs.scoring_files import read_scoring_file

DATA = Path(__file__).parent / "data" / "pgs"

# PGS000901's used variants, effect allele on the VCF strand (rs500 G->C, rs600 C->G flipped).
PLINK_SCORE = "ID\tA1\tW\n1:100\tG\t0.5\n1:200\tC\t-1.0\n1:300\tA\t2.0\n1:500\tC\t0.25\n1:600\tG\t3.0\n1:900\tG\t1.5\n"


def plink2_scores(tmp: Path, *, mean_impute: bool) -> pd.DataFrame:
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 must be on PATH for the oracle test (apt-get install plink2)"
    vcf = str(DATA / "tiny.vcf")
    (tmp / "score.tsv").write_text(PLINK_SCORE)
    common = [plink2, "--vcf", vcf, "--set-all-var-ids", "@:#", "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp / "f")], check=True, capture_output=True)
    modifiers = ["header", "cols=+scoresums,+denom"] + ([] if mean_impute else ["no-mean-imputation"])
    subprocess.run(
        [*common, "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "score.tsv"), "1", "2", "3",
         *modifiers, "--out", str(tmp / "o")],
        check=True, capture_output=True,
    )
    out = pd.read_csv(tmp / "o.sscore", sep="\t")
    return out.rename(columns={"#IID": "IID"}).set_index("IID")


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_scores_equal_plink2(hl, spark, tmp_path, missing_genotypes):
    bgz = tmp_path / "tiny.vcf.bgz"
    pysam.tabix_compress(str(DATA / "tiny.vcf"), str(bgz), force=True)
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(bgz)))
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    m = match_variants(hl, mt, score_variants_table(hl, spark, [sf], "GRCh38"), keep_ambiguous=False)
    summary = summarise_matches(hl, m, "d", ["PGS000901"], {"PGS000901": ScoreLabel("t", "d")})
    scores = compute_scores(hl, mt, score_weights_table(hl, m, 1), ["PGS000901"], summary["n_matched"].tolist(),
                            missing_genotypes=missing_genotypes)
    ours = scores_frame(hl, scores, "d").toPandas().set_index("person_id")  # 4 rows

    ref = plink2_scores(tmp_path, mean_impute=missing_genotypes == "mean_impute")
    assert sorted(ours.index) == sorted(ref.index)
    for person in ref.index:
        assert ours.loc[person, "score_sum"] == pytest.approx(ref.loc[person, "SCORE1_SUM"], abs=1e-9)
        assert ours.loc[person, "allele_count"] == ref.loc[person, "ALLELE_CT"]
        if missing_genotypes == "mean_impute":
            # plink2 SCORE_AVG = SUM / DENOM with DENOM = 2 x scored variants (AVG is printed to
            # 6 significant digits, so compare with the full-precision SUM / DENOM).
            assert ref.loc[person, "DENOM"] == 2 * summary["n_matched"].iloc[0]
            assert ours.loc[person, "score_avg"] == pytest.approx(
                ref.loc[person, "SCORE1_SUM"] / ref.loc[person, "DENOM"], abs=1e-9)


# PGS910201 and PGS910202 (tests/data/field_cases/pgs/multiallelic-effect-is-ref) as one plink2
# score file: one row per (variant, scored allele), REF effect alleles included.
MULTI_SCORE = ("ID\tA1\tPGS910201\tPGS910202\n4:1000000\tA\t1.0\t0\n4:1000000\tC\t0\t1.0\n"
               "4:2000000\tT\t0.5\t0\n4:2000000\tC\t0\t0.1\n4:3000000\tG\t-0.5\t0\n4:3000000\tA\t0\t0.25\n")


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_multiallelic_split_copy_equals_plink2_on_the_original(hl, spark, tmp_path, missing_genotypes):
    """Ours on a split-and-normalised copy (``bcftools norm -m-`` shape: other alts written as
    REF) equals plink2 on the original multi-allelic VCF, where a REF effect allele's dosage is
    2 minus every alt's copies:

        plink2 --vcf multi.vcf --set-all-var-ids @:# [--read-freq f.afreq] \\
               --score score.tsv 1 2 header-read cols=+scoresums,+denom --score-col-nums 3-4
    """
    from test_field_cases_pgs import CASES, split_like_bcftools, vcf_text

    case = CASES / "multiallelic-effect-is-ref"
    # One missing genotype at the REF-effect site chr4:3000000 (person 1006).
    text = vcf_text("multiallelic-effect-is-ref").replace("0/1\t0/2\t1/1\t1/2\t0/0\t2/2", "0/1\t0/2\t1/1\t1/2\t0/0\t./.")
    assert "./." in text
    (tmp_path / "multi.vcf").write_text(text)
    (tmp_path / "split.vcf").write_text(split_like_bcftools(text))
    (tmp_path / "score.tsv").write_text(MULTI_SCORE)
    common = [shutil.which("plink2"), "--vcf", str(tmp_path / "multi.vcf"), "--set-all-var-ids", "@:#",
              "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp_path / "f")], check=True, capture_output=True)
    modifiers = ["header-read", "cols=+scoresums,+denom"] + ([] if missing_genotypes == "mean_impute"
                                                           else ["no-mean-imputation"])
    subprocess.run([*common, "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "score.tsv"),
                    "1", "2", *modifiers, "--score-col-nums", "3-4", "--out", str(tmp_path / "o")],
                   check=True, capture_output=True)
    ref = pd.read_csv(tmp_path / "o.sscore", sep="\t").rename(columns={"#IID": "IID"}).set_index("IID")

    files = [read_scoring_file(str(p)) for p in sorted((case / "scores").iterdir())]
    ids = [sf.pgs_id for sf in files]
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp_path / "split.vcf")))
    m = match_variants(hl, mt, score_variants_table(hl, spark, files, "GRCh38"), keep_ambiguous=False)
    summary = summarise_matches(hl, m, "d", ids, {i: ScoreLabel("t", "d") for i in ids})
    scores = compute_scores(hl, mt, score_weights_table(hl, m, 2), ids, summary["n_matched"].tolist(),
                            missing_genotypes=missing_genotypes)
    ours = scores_frame(hl, scores, "d").toPandas().set_index(["person_id", "pgs_id"])
    assert len(ours) == 12
    for person in ref.index:
        for pgs_id in ids:
            got = ours.loc[(person, pgs_id)]
            assert got.score_sum == pytest.approx(ref.loc[person, f"{pgs_id}_SUM"], abs=1e-6), (person, pgs_id)
            assert got.allele_count == ref.loc[person, "ALLELE_CT"]
