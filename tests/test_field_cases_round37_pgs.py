"""PGS field cases, round 37 (session 45, helper pgs37).

gt-not-first-half-call-no-index: round 36's VCF (a record whose FORMAT is ``GQ:GT:DP``, VCF 4.3
section 1.6.2 puts GT first, holding the half-call ``./1`` of sample 1002) without its tabix
index, as a VCF on local disk often comes, or on gs://. ``pgs.vcf_half_call`` haploid / reference
rewrite a half-call in ``import_vcf``'s ``find_replace``; that rewrite reached a sample's first
subfield only. With an index, round 36's look (``genotypes.vcf_half_call_rows``) made such a
half-call one error; without one (or on a URI) nothing looked, and Hail read it as missing: under
haploid, 1002's call mean-imputed (sum 1.0, n_missing 1) where the config said 1/1 (sum 2.0),
while the log said half-calls were read "as homozygous for the called allele", silently wrong.
Now the rewrite reaches GT wherever it stands (``genotypes.HALF_CALL_REWRITE``), index or not,
and the indexed file is scored too (no error). Oracle: plink2 2.00a3.5 ``--vcf-half-call`` on the
same records with GT written first (plink2 reads no call of a record whose GT is not first).

One stage run per mode (each one Hail match and scoring pass), shared by the module.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from plink2_score_oracle import score_runs
from test_field_cases_pgs import case_config, run_scores

from trd_spark.errors import InputDataError

HERE = Path(__file__).parent / "data"
NO_INDEX = HERE / "field_cases_round37_pgs" / "gt-not-first-half-call-no-index" / "genotypes" / "data.vcf.bgz"
ROUND36 = HERE / "field_cases_round36_pgs" / "gt-not-first-half-call"
INDEXED = ROUND36 / "genotypes" / "data.vcf.bgz"
SCORES = str(ROUND36 / "scores" / "*")
# The scoring file's two rows: (chrom, position, effect, other, weight); the VCF's IDs name them.
ROWS = [("chr1", 1_000_000, "G", "A", 1.0), ("chr1", 2_000_000, "T", "C", 0.5)]
IDS = {("chr1", 1_000_000): "rs91360101", ("chr1", 2_000_000): "rs91360102"}
# mode -> the VCF the stage reads (haploid: no index, so nothing looked before; reference: round
# 36's indexed copy, which was one error).
RUNS = {"haploid": NO_INDEX, "reference": INDEXED}


@pytest.fixture(scope="module")
def scored(hl, spark, tmp_path_factory):
    """mode -> the stage's published rows for ``RUNS[mode]`` under ``pgs.vcf_half_call: mode``,
    or the error the stage raised (each test then fails on its own mode's)."""
    out: dict[str, pd.DataFrame | Exception] = {}
    for mode, vcf in RUNS.items():
        cfg = case_config(tmp_path_factory.mktemp(mode), str(vcf), SCORES, extra_pgs=f"  vcf_half_call: {mode}")
        try:
            out[mode] = run_scores(hl, spark, cfg).set_index("person_id")
        except InputDataError as e:
            out[mode] = e
    return out


def plink2_gt_first(tmp: Path, mode: str) -> dict[int, float]:
    """plink2 ``--score`` sums per person under ``--vcf-half-call mode`` of the case's records
    with FORMAT reordered to GT first (the same calls; plink2 reads none where GT is not first)."""
    with gzip.open(NO_INDEX, "rt") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        fields = line.split("\t")
        if not line.startswith("#") and fields[8] == "GQ:GT:DP":
            fields[8] = "GT:GQ:DP"
            fields[9:] = [":".join([s.split(":")[1], s.split(":")[0], *s.split(":")[2:]]) for s in fields[9:]]
        out.append("\t".join(fields))
    vcf = tmp / f"gt_first_{mode}.vcf"
    vcf.write_text("\n".join(out) + "\n")
    _, sums = score_runs(tmp, ["--vcf", str(vcf), "--vcf-half-call", mode], {"P": ROWS}, IDS, tag=mode)
    return {person: s for (_, person), s in sums.items()}


@pytest.mark.parametrize("mode", list(RUNS))
def test_a_half_call_after_other_subfields_is_read_as_the_mode_says(scored, tmp_path, mode):
    """1002's ``./1`` (GT after GQ) is 1/1 under haploid (sum 2.0), 0/1 under reference (1.0), called
    (n_missing 0), as plink2 reads the GT-first record; the other persons as written. On 163d5e1
    haploid (no index) gave 1002 the mean imputation (1.0, n_missing 1) and reference (indexed)
    was one error at data.vcf.bgz:7."""
    got = scored[mode]
    assert isinstance(got, pd.DataFrame), got
    oracle = plink2_gt_first(tmp_path, mode)
    assert oracle[1002] == {"haploid": 2.0, "reference": 1.0}[mode]
    assert sorted(got.index) == sorted(oracle) == [1001, 1002, 1003, 1004]
    for person, expected in oracle.items():
        assert got.loc[person, "score_sum"] == pytest.approx(expected, abs=1e-6), person
        assert got.loc[person, "n_missing"] == 0, person
        assert got.loc[person, "n_matched"] == 2, person
