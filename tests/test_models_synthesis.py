"""Difference test, replication, meta-analysis and consistency against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from models_sim import grid_config
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from trd_spark.models.synthesis import (
    consistency_table,
    difference_table,
    meta_analyse,
    meta_table,
    replication_table,
)
from trd_spark.schemas import CONSISTENCY, DIFFERENCE, META, REPLICATION

# Three studies: w = 1/se^2 = 100, 25, 100. beta_fixed = 42.5/225 = 17/90, se = 1/15;
# Q = (100*1 + 25*28^2 + 100*8^2)/90^2 = 29/9 on 2 df, I^2 = (29/9 - 2)/(29/9) = 11/29;
# DL: C = 225 - 20625/225 = 400/3, tau^2 = (11/9)/(400/3) = 11/1200,
# w* = 1200/23, 1200/59, 1200/23 -> beta_re = (0.3/23 + 0.5/59)/(2/23 + 1/59) = 29.2/141.
BETA, SE = np.array([0.2, 0.5, 0.1]), np.array([0.1, 0.2, 0.1])


def test_fixed_effect_hand_computed():
    r = meta_analyse(BETA, SE, "fixed")
    assert r["k"] == 3 and r["tau2"] == 0.0
    assert r["beta"] == pytest.approx(17 / 90, rel=1e-12)
    assert r["se"] == pytest.approx(1 / 15, rel=1e-12)
    assert r["cochran_q"] == pytest.approx(29 / 9, rel=1e-12)
    assert r["q_p"] == pytest.approx(np.exp(-29 / 18), rel=1e-12)  # chi2(2) survival = exp(-x/2)
    assert r["i2"] == pytest.approx(11 / 29, rel=1e-12)
    assert r["p"] == pytest.approx(2 * stats.norm.sf((17 / 90) * 15), rel=1e-12)


def test_dersimonian_laird_hand_computed_and_statsmodels():
    r = meta_analyse(BETA, SE, "random")
    assert r["tau2"] == pytest.approx(11 / 1200, rel=1e-12)
    assert r["beta"] == pytest.approx(29.2 / 141, rel=1e-12)
    assert r["se"] == pytest.approx(1 / np.sqrt(1200 * (2 / 23 + 1 / 59)), rel=1e-12)
    assert r["cochran_q"] == pytest.approx(29 / 9, rel=1e-12) and r["i2"] == pytest.approx(11 / 29)
    sm = combine_effects(BETA, SE**2, method_re="chi2")  # chi2 = DerSimonian-Laird moment estimator
    assert r["beta"] == pytest.approx(sm.mean_effect_re, rel=1e-10)
    assert r["se"] == pytest.approx(sm.sd_eff_w_re, rel=1e-10)
    assert r["tau2"] == pytest.approx(sm.tau2, rel=1e-10)
    assert meta_analyse(BETA, SE, "fixed")["se"] == pytest.approx(sm.sd_eff_w_fe, rel=1e-10)


def test_homogeneous_estimates_have_zero_i2_and_tau2():
    r = meta_analyse(np.array([0.3, 0.3]), np.array([0.1, 0.2]), "random")
    assert r["cochran_q"] == 0.0 and r["i2"] == 0.0 and r["tau2"] == 0.0
    single = meta_analyse(np.array([0.3]), np.array([0.1]), "fixed")
    assert single["beta"] == 0.3 and np.isnan(single["cochran_q"]) and np.isnan(single["i2"])


def _logistic(rows: list[tuple]) -> pd.DataFrame:
    """Logistic-table rows from (dataset, definition, contrast, pgs_id, beta, se, p, q_fdr, converged)."""
    df = pd.DataFrame(rows, columns=["dataset", "definition", "contrast", "pgs_id", "beta", "se", "p", "q_fdr",
                                     "converged"])
    df["trait"], df["domain"] = df["pgs_id"] + " trait", "sleep"
    df["p_bonferroni"], df["note"] = df["q_fdr"], np.where(df["converged"], "", "perfect separation")
    for c in ("beta", "se", "p"):
        df[c] = df[c].where(df["converged"])
    return df


def test_meta_table_pools_converged_datasets_only():
    cfg = grid_config(meta_random_effects=True)
    lg = _logistic([
        ("discovery", "ad3", "trd_vs_nonmdd", "P1", 0.2, 0.1, 0.04, 0.04, True),
        ("replication_wgs", "ad3", "trd_vs_nonmdd", "P1", 0.5, 0.2, 0.01, 0.01, True),
        ("replication_array", "ad3", "trd_vs_nonmdd", "P1", 0.1, 0.1, 0.3, 0.3, True),
        ("discovery", "ad3", "trd_vs_nonmdd", "P2", 0.2, 0.1, 0.04, 0.04, True),
        ("replication_wgs", "ad3", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, np.nan, False),
    ])
    meta = meta_table(lg, cfg)
    assert list(meta.columns) == META.names and len(meta) == 4
    p1 = meta[(meta.method == "fixed") & (meta.pgs_id == "P1")].iloc[0]
    assert p1["beta"] == pytest.approx(17 / 90) and p1["k"] == 3 and p1["i2"] == pytest.approx(11 / 29)
    assert p1["datasets"] == "discovery,replication_array,replication_wgs"
    assert p1["ci_low"] == pytest.approx(np.exp(17 / 90 - stats.norm.ppf(0.975) / 15))
    p2 = meta[(meta.method == "random") & (meta.pgs_id == "P2")].iloc[0]
    assert p2["k"] == 1 and p2["beta"] == pytest.approx(0.2, rel=1e-12) and p2["datasets"] == "discovery"
    # Bonferroni within (method, definition, contrast): two tests per family.
    assert p1["p_bonferroni"] == pytest.approx(min(1, 2 * p1["p"]))


def test_difference_z_test_hand_computed():
    lg = _logistic([
        ("discovery", "ad3", "trd_vs_nonmdd", "P1", 0.4, 0.1, 1e-4, 1e-4, True),
        ("discovery", "ad3", "trmdd_vs_nonmdd", "P1", 0.1, 0.1, 0.3, 0.3, True),
        ("discovery", "ad3", "trd_vs_trmdd", "P1", 0.28, 0.12, 0.02, 0.02, True),
        ("discovery", "ad3", "trd_vs_nonmdd", "P2", 0.1, 0.1, 0.3, 0.3, True),
        ("discovery", "ad3", "trmdd_vs_nonmdd", "P2", 0.0, 0.0, 0.0, 0.0, False),
    ])
    d = difference_table(lg)
    assert list(d.columns) == DIFFERENCE.names and len(d) == 2
    p1 = d[d.pgs_id == "P1"].iloc[0]
    assert p1["beta_diff"] == pytest.approx(0.3) and p1["se_diff"] == pytest.approx(np.sqrt(0.02))
    assert p1["z"] == pytest.approx(0.3 / np.sqrt(0.02))
    assert p1["p"] == pytest.approx(0.033894853524689, rel=1e-9)  # 2 * (1 - Phi(2.1213203))
    assert p1["beta_trd_vs_trmdd"] == 0.28 and p1["p_trd_vs_trmdd"] == 0.02
    assert p1["p_bonferroni"] == pytest.approx(p1["p"])  # the failed P2 is not a test
    p2 = d[d.pgs_id == "P2"].iloc[0]
    assert np.isnan(p2["p"]) and "fit failed" in p2["note"]


def test_replication_same_direction_and_p():
    cfg = grid_config()  # discovery_significance q_fdr < 0.05, replication_alpha 0.05
    lg = _logistic([
        ("discovery", "ad3", "trd_vs_nonmdd", "P1", 0.3, 0.1, 1e-4, 0.001, True),   # significant
        ("discovery", "ad3", "trd_vs_nonmdd", "P2", -0.3, 0.1, 1e-4, 0.001, True),  # significant
        ("discovery", "ad3", "trd_vs_nonmdd", "P3", 0.1, 0.1, 0.3, 0.3, True),      # not significant
        ("replication_wgs", "ad3", "trd_vs_nonmdd", "P1", 0.2, 0.1, 0.04, 0.2, True),   # replicated
        ("replication_wgs", "ad3", "trd_vs_nonmdd", "P2", 0.2, 0.1, 0.04, 0.2, True),   # wrong direction
        ("replication_wgs", "ad3", "trd_vs_nonmdd", "P3", 0.2, 0.1, 0.04, 0.2, True),
        ("replication_array", "ad3", "trd_vs_nonmdd", "P1", 0.1, 0.1, 0.3, 0.3, True),  # p too large
        ("replication_array", "ad3", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, np.nan, False),
    ])
    rep = replication_table(lg, cfg)
    assert list(rep.columns) == REPLICATION.names
    got = {(r.dataset, r.pgs_id): (r.same_direction, r.replicated) for r in rep.itertuples()}
    assert got == {
        ("replication_array", "P1"): (True, False), ("replication_array", "P2"): (None, False),
        ("replication_wgs", "P1"): (True, True), ("replication_wgs", "P2"): (False, False),
    }
    failed = rep[(rep.dataset == "replication_array") & (rep.pgs_id == "P2")].iloc[0]
    assert failed["note"] == "replication fit failed: perfect separation" and np.isnan(failed["beta"])
    assert rep.loc[rep.pgs_id == "P1", "p_adjusted_discovery"].tolist() == [0.001, 0.001]


def test_consistency_pairs_and_overall_against_scipy_and_ols():
    beta = {"ad3": [0.1, 0.2, 0.3, 0.4, -0.2], "somatic": [0.12, 0.15, 0.33, 0.38, -0.1],
            "ad2": [0.0, 0.25, 0.2, 0.5, -0.3]}
    meta = pd.DataFrame([
        {"method": "fixed", "definition": d, "contrast": "trd_vs_nonmdd", "pgs_id": f"P{i}", "beta": b}
        for d, bs in beta.items() for i, b in enumerate(bs)
    ])
    meta = pd.concat([meta, meta.assign(method="random", beta=0.0)])  # random rows are ignored
    out = consistency_table(meta)
    assert list(out.columns) == CONSISTENCY.names and len(out) == 4
    pair = out[(out.definition_a == "ad3") & (out.definition_b == "somatic")].iloc[0]
    assert pair["r2"] == pytest.approx(stats.pearsonr(beta["ad3"], beta["somatic"])[0] ** 2, rel=1e-12)
    overall = out[out.definition_a == "all"].iloc[0]
    fixed = meta[meta.method == "fixed"]
    assert overall["r2"] == pytest.approx(smf.ols("beta ~ C(pgs_id)", fixed).fit().rsquared, rel=1e-10)
    assert overall["n_pgs"] == 5


def test_dersimonian_laird_tau2_truncated_at_zero():
    """Q < k - 1: the DL moment estimate is negative (statsmodels returns it untruncated);
    tau^2 = 0 and the random-effects estimate equals the fixed-effect one."""
    beta, se = np.array([0.30, 0.31, 0.29]), np.array([0.1, 0.1, 0.1])
    r, f = meta_analyse(beta, se, "random"), meta_analyse(beta, se, "fixed")
    assert combine_effects(beta, se**2, method_re="chi2").tau2 < 0
    assert r["tau2"] == 0.0 and r["i2"] == 0.0
    assert r["beta"] == pytest.approx(0.30, rel=1e-12) and r["se"] == pytest.approx(0.1 / np.sqrt(3), rel=1e-12)
    assert (r["beta"], r["se"]) == (f["beta"], f["se"])
