"""PGS field cases, round 32 (session 40, helper pgs32): a site's alt dosages split across rows.

- Hail's pass (``dosage_field``) rescaled a multi-allelic record's alt dosages summing above 2
  within rounding (``genotypes.DOSAGE_SUM_SLACK`` per alt) to sum 2 (01757ce), while the native
  engine sums the same site's split rows (.pgen, BGEN) as given, and cannot do otherwise: it reads
  only the rows a score uses (an ALT effect allele's own row). The two routes gave different
  scores for the same dosages (~0.005 x w). Now one rule, both routes: within the rounding the
  dosages are summed as given.
- Hail's pass summed a site given split as separate VCF records (bcftools norm -m-: ``A>G``,
  ``A>C``, ``A>T``) whose DS add up to 2.5 without a check: a REF effect allele's dosage -0.5
  (field case split-records-sum-above-two; plink2 --score reads each record alone and checks no
  sum: 1003 scores 2 - 1.0 there, the C and T copies counted as A). Now one error naming the
  dataset, the file, the site and the sum, on Hail's pass as on the native engine (.pgen, 8-bit
  BGEN made by plink2 from the same VCF), whose error named the file but not the dataset.
  The T record is no score's allele: a REF effect allele reads (and checks) every alt's row.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from chance import without_paths
from test_field_cases_pgs import case_config, plink2_fileset, run_scores
from test_nativesum_s39 import split_vcf

from trd_spark.errors import InputDataError

CASES31 = Path(__file__).parent / "data" / "field_cases_round31_pgs"
VALID = CASES31 / "multiallelic-dosage-ref-effect"
CASE = Path(__file__).parent / "data" / "field_cases_round32_pgs" / "split-records-sum-above-two"


def _scores(hl, spark, tmp: Path, path, fmt: str, scores: Path, extra: str = "") -> pd.DataFrame:
    tmp.mkdir()
    got = run_scores(hl, spark, case_config(tmp, str(path), str(scores / "*"), fmt=fmt, extra_genotypes=extra))
    return got.set_index(got["person_id"].astype(int))


def _bgen(vcf: Path, out: Path) -> Path:
    """plink2's 8-bit BGEN 1.2 of ``vcf``'s DS, REF first (the layout the native reader takes)."""
    subprocess.run(["plink2", "--vcf", str(vcf), "dosage=DS", "--export", "bgen-1.2", "bits=8", "ref-first", "--threads", "1",
                    "--out", str(out)], check=True, capture_output=True)
    return out.with_suffix(".bgen")


def test_dosages_summing_above_two_by_rounding_score_alike_on_every_route(hl, spark, tmp_path):
    """multiallelic-dosage-ref-effect with 1003's chr4:1000000 DS 1.2,0.8 -> 1.005,1.0 (sum 2.005,
    within the slack): Hail's pass on the multi-allelic record, Hail's pass on the record split
    in two (bcftools norm -m-) and the native engine on the split .pgen all score the dosages as
    given: 1003's dominant REF term min(2 - 2.005, 1) = -0.005 and 1004's missing call's fill
    (2 - (1.5 + .3 + 2.005) / 3) / 2 = .36583 (hand-worked: expected.tsv's sums less .005 and
    .000833). Before (958d6e4) Hail's record pass rescaled the alts to sum 2 (1003 .61667, 1004
    .81667) where the .pgen gave .61167 and .81583."""
    want = pd.read_csv(VALID / "expected.tsv", sep="\t", comment="#").set_index("person_id")["score_sum"]
    want = want - pd.Series({1001: 0.0, 1002: 0.0, 1003: 0.005, 1004: 0.005 / 6})
    rounded = tmp_path / "rounded.vcf"
    rounded.write_text((VALID / "genotypes" / "data.vcf").read_text().replace("1/2:1.2,0.8", "1/2:1.005,1.0"))
    split = split_vcf(VALID / "genotypes" / "data.vcf", tmp_path / "split.vcf", ("1/2:1.2,0.8", "1/2:1.005,1.0"))
    record = _scores(hl, spark, tmp_path / "record", rounded, "vcf", VALID / "scores", ", dosage_field: DS")
    records = _scores(hl, spark, tmp_path / "records", split, "vcf", VALID / "scores", ", dosage_field: DS")
    pgen = _scores(hl, spark, tmp_path / "pgen", plink2_fileset(split, tmp_path / "g", "pgen", "dosage=DS"), "pgen",
                   VALID / "scores")
    assert record["score_sum"].to_dict() == pytest.approx(want.to_dict(), abs=1e-9)
    assert records["score_sum"].to_dict() == pytest.approx(want.to_dict(), abs=1e-9)
    # (.pgen dosages are stored in 1/16384 steps)
    assert pgen["score_sum"].to_dict() == pytest.approx(want.to_dict(), abs=1e-4)
    assert record["n_missing"].to_dict() == records["n_missing"].to_dict() == pgen["n_missing"].to_dict() \
        == want.index.to_series().map({1001: 0, 1002: 0, 1003: 1, 1004: 1}).to_dict()


def test_split_records_summing_above_two_are_one_error_naming_dataset_and_file_on_every_route(hl, spark, tmp_path):
    """split-records-sum-above-two: 1003's three records of chr4:1000000 give 1.0 + 0.6 + 0.9 =
    2.5 alt copies. Hail's pass (dosage_field DS), the native engine on plink2's .pgen and on its
    8-bit BGEN: each one InputDataError line naming the dataset (``datasets.d.genotypes``), the
    file, the site with every alt (T is no score's allele), the sum and the rows' dosages, no
    sample ID. Before (958d6e4): Hail's pass scored 1003 0.25 - 0.5 silently (DID NOT RAISE);
    the native engine's errors named the file only."""
    vcf = CASE / "genotypes" / "data.vcf"
    shapes = {"vcf": (vcf, ", dosage_field: DS", r"data\.vcf: reading the genotypes failed: .*the dosage field DS "
                                                  r"\(GT where none\) of a site given split \(one record per alt\)"),
              "pgen": (plink2_fileset(vcf, tmp_path / "g", "pgen", "dosage=DS"), "",
                       r"g\.pgen: the \.pgen dosages \(hard calls where none\) of a site given split \(one row per "
                       r"alt\)"),
              "bgen": (_bgen(vcf, tmp_path / "b"), "",
                       r"b\.bgen: the BGEN probabilities \(expected alt dosages\) of a site given split")}
    for fmt, (path, extra, what) in shapes.items():
        with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes .*" + what + r".* give 2\.\d+ alt "
                                                 r"copies in all at chr4:1000000 A>[CGT],[CGT],[CGT] \((\d\.\d+,?){3}\), "
                                                 r"more than 2: the REF's dosage would be negative") as e:
            _scores(hl, spark, tmp_path / f"cfg_{fmt}", path, fmt, CASE / "scores", extra)
        assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path), fmt
