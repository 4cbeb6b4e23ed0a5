"""PGS field cases, round 29 (session 37, helper pgs29): the seven PGS kinds
(/work/shared/field_cases/README.md).

- multiallelic-effect-is-ref (owed by round 28): a dominant / recessive row whose effect allele is
  the REF of a multi-allelic site was one error on every route, where plink2 2.00a3.5 scores it on
  the unsplit site: the REF dosage D = 2 - all alt copies, then min(D, 1) / max(D - 1, 0), a
  missing call w x the REF's frequency (0 with no-mean-imputation). Field case
  multiallelic-effect-is-ref-dominant (two-, three- and four-allele sites, missing calls): the
  native engine now sums a site's rows before the model (``matching.SiteModels``,
  ``native_task._SiteSums``) on Hail's split of a VCF (exported), a .pgen's multi-allelic rows and
  a .bim given split, equal to the hand-worked answers and to plink2; Hail's pass (which scores
  each split row on its own) kept one error, now saying which routes score it (session 38: Hail's
  pass scores it too, tests/test_field_cases_round30_pgs.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_field_cases_pgs import CASES, case_config, plink2_fileset, run_scores, split_like_bcftools
from test_field_cases_round28_pgs import plink2_sums

DOMINANT = "multiallelic-effect-is-ref-dominant"
VCF = CASES / DOMINANT / "genotypes" / "data.vcf"
SCORES = CASES / DOMINANT / "scores"
# The scoring file's rows as plink2_sums takes them: (chrom, position, effect, other, weight, type).
ROWS = [("4", 1000000, "A", "G", 1.0, "dominant"), ("4", 2000000, "T", "C", 0.25, "additive"),
        ("4", 3000000, "G", "A", 0.5, "recessive"), ("4", 4000000, "C", "A", 0.2, "dominant")]


def expected(missing: str) -> pd.DataFrame:
    e = pd.read_csv(CASES / DOMINANT / "expected.tsv", sep="\t", comment="#")
    return e[e["missing_genotypes"] == missing].set_index("person_id")


@pytest.mark.parametrize("route, missing", [
    ("vcf", "mean_impute"), ("vcf", "zero"), ("vcf-one-row-tasks", "mean_impute"), ("pgen", "mean_impute"),
    ("split_bed", "zero"), ("split_bgen", "mean_impute"), ("split_mt", "mean_impute")])
def test_ref_effect_dominant_and_recessive_rows_at_multiallelic_sites_equal_plink2(hl, spark, tmp_path, route,
                                                                                   missing):
    """expected.tsv (hand-worked) = plink2 on the unsplit VCF = ours on Hail's split of the VCF
    (its calls exported for the native engine; also with one row per task and per block, so a
    site's rows are summed across blocks and the task bounds move off a site), on the .pgen (one
    multi-allelic row read per alt) and on the site given split (bcftools norm -m- style) as a
    .bim, a BGEN and a MatrixTable. Before (45f9cc3): one error at the scoring file's line 5 on
    each route."""
    want = expected(missing)
    (tmp_path / "o").mkdir()
    extra = [] if missing == "mean_impute" else ["no-mean-imputation"]
    assert plink2_sums(["--vcf", str(VCF)], tmp_path / "o", ROWS, *extra) == pytest.approx(
        want["score_sum"].to_dict(), abs=1e-6)
    native = ""
    if route == "pgen":
        path, fmt = plink2_fileset(VCF, tmp_path / "g", "pgen"), "pgen"
    elif route.startswith("split_"):
        (tmp_path / "split.vcf").write_text(split_like_bcftools(VCF.read_text()))
        if route == "split_bed":
            path, fmt = plink2_fileset(tmp_path / "split.vcf", tmp_path / "g", "plink"), "plink"
        else:
            mt = hl.import_vcf(str(tmp_path / "split.vcf"), reference_genome="GRCh38")
            if route == "split_bgen":  # the calls as 8-bit probabilities, a missing call missing
                gp = hl.range(3).map(lambda i: hl.float64(hl.unphased_diploid_gt_index_call(i) == mt.GT))
                hl.export_bgen(mt.annotate_entries(GP=hl.or_missing(hl.is_defined(mt.GT), gp)), str(tmp_path / "g"))
                path, fmt = str(tmp_path / "g.bgen"), "bgen"
            else:  # biallelic rows of the file's own, in two parts: exported, not read from its entry parts
                path, fmt = str(tmp_path / "g.mt"), "mt"
                mt.repartition(2).write(path)
    else:
        path, fmt = str(VCF), "vcf"
        if route == "vcf-one-row-tasks":  # 6 samples x 8 B: one row per block
            native = "  native: {variants_per_task: 1, block_memory_mb: 0.00005}\n"
    cfg = case_config(tmp_path, path, str(SCORES / "*"), fmt=fmt,
                      extra_pgs=f"  missing_genotypes: {missing}\n{native}")
    got = run_scores(hl, spark, cfg)
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-9)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    assert set(got["n_matched"]) == {4}


def test_site_rows_stay_in_one_task():
    """``SiteModels.placed``: a task bound inside a site's rows (in file order, after ``order``)
    moves past its last row, no task left empty; the rows' groups and coefficients follow
    ``order``. Before (45f9cc3): no such class (the rows were refused)."""
    from trd_spark.pgs.matching import SiteModels  # (here: the module's other tests run on the base)

    # Weight rows 0..6; group 0 = rows 1, 5 (placed 2, 3), group 1 = rows 2, 3, 4 (placed 4, 5, 6).
    sm = SiteModels(rows=np.array([1, 5, 2, 3, 4]), coef=np.array([-1.0, -1.0, -1.0, -1.0, 1.0]),
                    bounds=np.array([0, 2, 5]), constant=np.array([2.0, 0.0]), dominant=np.ones((2, 1)),
                    recessive=np.zeros((2, 1)))
    order = np.array([0, 6, 1, 5, 2, 3, 4])  # placed row i is weight row order[i]
    arrays, bounds = sm.placed(order, [0, 1, 3, 5, 6, 7])
    assert bounds == [0, 1, 4, 7]
    assert arrays["site_group"].tolist() == [-1, -1, 0, 0, 1, 1, 1]
    assert arrays["site_coef"].tolist() == [0.0, 0.0, -1.0, -1.0, -1.0, -1.0, 1.0]
    assert sm.placed(None, [0, 2, 4, 7])[1] == [0, 6, 7]
