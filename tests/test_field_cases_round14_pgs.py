"""Field cases, round 14 (session 24): silent faults of real PGS inputs, each counted now.

- Multi-allelic matches: pgsc_calc's match summary says how many matches are at multi-allelic
  target variants (it leaves them out by default, ``--keep_multiallelic``); ours scored them
  (plink2's rule) and counted them nowhere. Now ``match_summary.n_matched_multiallelic`` and
  ``variant_matches.multiallelic`` (added columns; the old ones unchanged).
"""

from __future__ import annotations

import pytest
from test_field_cases_pgs import CASES, case_config, plink2_fileset, split_like_bcftools, vcf_text

from trd_spark.pgs import stage

MULTI = "multiallelic-effect-is-ref"


@pytest.mark.parametrize("shape", ["vcf", "split_vcf", "pgen"])
def test_matches_at_multiallelic_sites_are_counted(hl, spark, tmp_path, shape):
    """The case's G>A,C... sites (two of each score's three variants are at a record with two
    alts; the third at a biallelic one): n_matched_multiallelic 2 per score, and the log flags
    exactly those variants, whether the VCF is read by Hail (whole or split as ``bcftools norm
    -m-`` writes it) or plink2's pgen by the native matcher. Before: no such column (KeyError)."""
    vcf = next((CASES / MULTI / "genotypes").iterdir())
    if shape == "split_vcf":
        vcf = tmp_path / "split.vcf"
        vcf.write_text(split_like_bcftools(vcf_text(MULTI)))
    path = plink2_fileset(vcf, tmp_path / "g", "pgen") if shape == "pgen" else str(vcf)
    cfg = case_config(tmp_path, path, f"{CASES / MULTI}/scores/*", fmt="pgen" if shape == "pgen" else "vcf")
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    summary = r.summary.set_index("pgs_id")
    assert summary["n_matched"].tolist() == [3, 3]
    assert summary["n_matched_multiallelic"].tolist() == [2, 2]
    log = stage.variant_matches_pandas(r.frame, "d")
    flagged = sorted((p, int(pos)) for p, pos, m in zip(log["pgs_id"], log["pos"], log["multiallelic"]) if m)
    assert flagged == [("PGS910201", 1000000), ("PGS910201", 3000000),
                       ("PGS910202", 1000000), ("PGS910202", 3000000)]
