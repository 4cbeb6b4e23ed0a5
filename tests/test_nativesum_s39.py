"""Native engine (session 39, helper nativesum): the rows of one site given split (one row per
alt at one position and REF) give each sample at most 2 alt copies together.

Round 31 (tests/test_field_cases_round31_pgs.py) made Hail's pass refuse a multi-allelic record
whose alt dosages sum above 2 (DS ``1.5,1.5``: a REF effect allele's dosage 2 - 3 = -1, summed as
given). The native engine read the same site given split (a .pgen / .bed / BGEN with one row per
alt) row by row, each row's dosage in [0, 2], and summed -1 silently. Here the round-31 cases are
split into biallelic records and made a dosage .pgen by plink2 (``--vcf dosage=DS``; plink2
imports no multi-allelic DS, split rows it does) and a hard-call .bed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from chance import without_paths
from test_field_cases_pgs import case_config, plink2_fileset, run_scores

from trd_spark.errors import InputDataError

CASES31 = Path(__file__).parent / "data" / "field_cases_round31_pgs"
VALID = CASES31 / "multiallelic-dosage-ref-effect"
ABOVE_TWO = CASES31 / "multiallelic-dosage-sum-above-two"


def split_vcf(src: Path, out: Path, replace: tuple[str, str] | None = None) -> Path:
    """``src`` with each multi-allelic record written as one biallelic record per alt (same
    position and REF; bcftools norm -m- without a left-shift), each sample's GT as copies of
    that alt (0/1/2 alleles of it, missing kept) and its DS the alt's own number (Number=A)."""
    lines = []
    for line in src.read_text().replace(*replace).splitlines() if replace else src.read_text().splitlines():
        if line.startswith("#"):
            lines.append(line)
            continue
        f = line.split("\t")
        alts = f[4].split(",")
        for i, alt in enumerate(alts, start=1):
            entries = []
            for e in f[9:]:
                gt, ds = e.split(":")
                a = gt.replace("|", "/").split("/")
                gt_i = "./." if "." in a else "/".join("1" if x == str(i) else "0" for x in a)
                entries.append(f"{gt_i}:{ds.split(',')[i - 1]}")
            lines.append("\t".join([*f[:3], f[3], alt, *f[5:9], *entries]))
    out.write_text("\n".join(lines) + "\n")
    return out


def _scores(hl, spark, tmp: Path, prefix: str, fmt: str, scores: Path) -> pd.DataFrame:
    tmp.mkdir()
    cfg = case_config(tmp, prefix, str(scores / "*"), fmt=fmt)
    got = run_scores(hl, spark, cfg)
    return got.set_index(got["person_id"].astype(int))


def test_split_site_rows_summing_above_two_are_one_error_and_valid_ones_score_by_hand(hl, spark, tmp_path):
    """Dosage .pgen of the split round-31 cases: multiallelic-dosage-ref-effect scores its
    hand-worked expected.tsv (a REF effect allele's dominant / recessive row over the split rows,
    fractional DS, missing calls; .pgen dosages are stored in 1/16384 steps, hence abs 1e-4); a
    site whose rows sum to 2 + 0.005 per row (rounding) still scores (D -0.005); DS 1.5 + 1.5
    (multiallelic-dosage-sum-above-two) is one InputDataError naming the .pgen, what it holds, the
    site, the sum and the rows' dosages, no sample ID. A hard-call .bed whose split rows give 1/1
    and 0/1 at one site (3 copies) is the same error. Before (30297c6): the first two parts pass
    and the third fails (DID NOT RAISE: 1003's dominant term min(2 - 3, 1) = -1 was summed)."""
    want = pd.read_csv(VALID / "expected.tsv", sep="\t", comment="#").set_index("person_id")
    vcf = split_vcf(VALID / "genotypes" / "data.vcf", tmp_path / "valid.vcf")
    got = _scores(hl, spark, tmp_path / "cfg_valid", plink2_fileset(vcf, tmp_path / "valid", "pgen", "dosage=DS"),
                  "pgen", VALID / "scores")
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-4)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    vcf = split_vcf(VALID / "genotypes" / "data.vcf", tmp_path / "rounded.vcf", ("1/2:1.2,0.8", "1/2:1.005,1.0"))
    got = _scores(hl, spark, tmp_path / "cfg_rounded", plink2_fileset(vcf, tmp_path / "rounded", "pgen", "dosage=DS"),
                  "pgen", VALID / "scores")
    assert got.loc[1003, "score_sum"] == pytest.approx(want.loc[1003, "score_sum"] - 0.005, abs=1e-4)

    vcf = split_vcf(ABOVE_TWO / "genotypes" / "data.vcf", tmp_path / "above.vcf")
    prefix = plink2_fileset(vcf, tmp_path / "above", "pgen", "dosage=DS")
    with pytest.raises(InputDataError, match=r"above\.pgen: the \.pgen dosages \(hard calls where none\) of a site "
                                             r"given split \(one row per alt\) give 3\.0000 alt copies in all at "
                                             r"chr4:1000000 A>G,C \(1\.500,1\.500\), more than 2") as e:
        _scores(hl, spark, tmp_path / "cfg_above", prefix, "pgen", ABOVE_TWO / "scores")
    assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path)

    # Hard calls: 1002's A>G row 1/1 and A>C row 0/1 (GT alone, the .bed's): 3 copies at the site.
    vcf = split_vcf(VALID / "genotypes" / "data.vcf", tmp_path / "bed.vcf", ("0/0:0.1,0.2", "1/1:0.1,0.2"))
    text = vcf.read_text().splitlines()
    text[next(i for i, ln in enumerate(text) if "\tC\t.\tPASS" in ln and "1000000" in ln)] = \
        "chr4\t1000000\tm1\tA\tC\t.\tPASS\t.\tGT:DS\t0/0:0.7\t0/1:0.2\t0/1:0.8\t./.:."
    vcf.write_text("\n".join(text) + "\n")
    prefix = plink2_fileset(vcf, tmp_path / "bed", "plink")
    with pytest.raises(InputDataError, match=r"bed\.bed: the \.bed hard calls of a site given split .* give "
                                             r"3\.0000 alt copies in all at chr4:1000000 A>G,C \(2\.000,1\.000\)"):
        _scores(hl, spark, tmp_path / "cfg_bed", prefix, "plink", VALID / "scores")
