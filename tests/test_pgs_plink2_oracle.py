"""Our scores on a split copy of a multi-allelic VCF equal plink2 --score on the original (needs
``plink2`` on PATH; CI installs it). Plink2 on the tiny VCF is test_pgs_scoring's
``test_scores_equal_plink2`` (it reads that module's Hail passes).

Reference calls (plink2 refuses to impute from < 50 samples, so frequencies from the same
data are written with --freq and read back, which is what it would do itself).
"""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest
from pgs_hail_oracle import match_variants, score_weights_table, summarise_matches

from trd_spark.config import GenotypeSource
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import ScoreLabel, score_variants_table
from trd_spark.pgs.scoring import compute_scores, scores_frame
from trd_spark.pgs.scoring_files import read_scoring_file

# PGS910201 and PGS910202 (tests/data/field_cases/pgs/multiallelic-effect-is-ref) as one plink2
# score file: one row per (variant, scored allele), REF effect alleles included.
MULTI_SCORE = ("ID\tA1\tPGS910201\tPGS910202\n4:1000000\tA\t1.0\t0\n4:1000000\tC\t0\t1.0\n"
               "4:2000000\tT\t0.5\t0\n4:2000000\tC\t0\t0.1\n4:3000000\tG\t-0.5\t0\n4:3000000\tA\t0\t0.25\n")


@pytest.fixture(scope="module")
def split_copy(hl, spark, tmp_path_factory):
    """The case's VCF with one missing genotype at the REF-effect site chr4:3000000 (person
    1006), as written and as a split-and-normalised copy, matched once by Hail's matcher (both
    imputation modes score the same matched weights)."""
    from test_field_cases_pgs import CASES, split_like_bcftools, vcf_text

    tmp = tmp_path_factory.mktemp("multi")
    case = CASES / "multiallelic-effect-is-ref"
    text = vcf_text("multiallelic-effect-is-ref").replace("0/1\t0/2\t1/1\t1/2\t0/0\t2/2", "0/1\t0/2\t1/1\t1/2\t0/0\t./.")
    assert "./." in text
    (tmp / "multi.vcf").write_text(text)
    (tmp / "split.vcf").write_text(split_like_bcftools(text))
    files = [read_scoring_file(str(p)) for p in sorted((case / "scores").iterdir())]
    ids = [sf.pgs_id for sf in files]
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp / "split.vcf")))
    m = match_variants(hl, mt, score_variants_table(hl, spark, files, "GRCh38"), keep_ambiguous=False)
    summary = summarise_matches(hl, m, "d", ids, {i: ScoreLabel("t", "d") for i in ids})
    weights = score_weights_table(hl, m, 2).checkpoint(hl.utils.new_temp_file("multi_w", "ht"))
    return tmp / "multi.vcf", mt, weights, ids, summary["n_matched"].tolist()


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_multiallelic_split_copy_equals_plink2_on_the_original(hl, split_copy, tmp_path, missing_genotypes):
    """Ours on a split-and-normalised copy (``bcftools norm -m-`` shape: other alts written as
    REF) equals plink2 on the original multi-allelic VCF, where a REF effect allele's dosage is
    2 minus every alt's copies:

        plink2 --vcf multi.vcf --set-all-var-ids @:# [--read-freq f.afreq] \\
               --score score.tsv 1 2 header-read cols=+scoresums,+denom --score-col-nums 3-4
    """
    multi, mt, weights, ids, n_matched = split_copy
    (tmp_path / "score.tsv").write_text(MULTI_SCORE)
    common = [shutil.which("plink2"), "--vcf", str(multi), "--set-all-var-ids", "@:#",
              "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp_path / "f")], check=True, capture_output=True)
    modifiers = ["header-read", "cols=+scoresums,+denom"] + ([] if missing_genotypes == "mean_impute"
                                                           else ["no-mean-imputation"])
    subprocess.run([*common, "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "score.tsv"),
                    "1", "2", *modifiers, "--score-col-nums", "3-4", "--out", str(tmp_path / "o")],
                   check=True, capture_output=True)
    ref = pd.read_csv(tmp_path / "o.sscore", sep="\t").rename(columns={"#IID": "IID"}).set_index("IID")

    scores = compute_scores(hl, mt, weights, ids, n_matched, missing_genotypes=missing_genotypes, chr_y=False, chr_m=False)
    ours = scores_frame(hl, scores, "d").toPandas().set_index(["person_id", "pgs_id"])
    assert len(ours) == 12
    for person in ref.index:
        for pgs_id in ids:
            got = ours.loc[(person, pgs_id)]
            assert got.score_sum == pytest.approx(ref.loc[person, f"{pgs_id}_SUM"], abs=1e-6), (person, pgs_id)
            assert got.allele_count == ref.loc[person, "ALLELE_CT"]
