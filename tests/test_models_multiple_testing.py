"""Bonferroni and Benjamini-Hochberg within families, against hand values and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from trd_spark.models.multiple_testing import adjust_within_families, benjamini_hochberg, bonferroni


def test_bh_hand_computed():
    # p sorted: 0.01, 0.02, 0.03, 0.5 (m=4): p*m/rank = 0.04, 0.04, 0.04, 0.5 (already monotone).
    p = np.array([0.03, 0.5, 0.01, 0.02])
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.5, 0.04, 0.04])


def test_bh_step_up_takes_the_running_minimum_from_the_top():
    # ranks 1..3 of 0.01, 0.04, 0.045 (m=3): 0.03, 0.06, 0.045 -> min from the top: 0.03, 0.045, 0.045.
    assert benjamini_hochberg(np.array([0.045, 0.01, 0.04])) == pytest.approx([0.045, 0.03, 0.045])


def test_bonferroni_hand_computed_and_capped():
    assert bonferroni(np.array([0.01, 0.2, 0.5])) == pytest.approx([0.03, 0.6, 1.0])


def test_nan_p_values_are_not_tests():
    """m counts finite p only: [0.01, nan, 0.04] behaves like m = 2."""
    p = np.array([0.01, np.nan, 0.04])
    assert bonferroni(p)[[0, 2]] == pytest.approx([0.02, 0.08]) and np.isnan(bonferroni(p)[1])
    q = benjamini_hochberg(p)
    assert q[[0, 2]] == pytest.approx([0.02, 0.04]) and np.isnan(q[1])


def test_bh_equals_statsmodels_multipletests():
    """multipletests(p, method="fdr_bh")[1] and method="bonferroni" on 61 random p-values."""
    p = np.random.default_rng(5).uniform(0, 0.2, 61) ** 2
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1], rel=1e-12)
    assert bonferroni(p) == pytest.approx(multipletests(p, method="bonferroni")[1], rel=1e-12)


def test_families_are_corrected_separately():
    df = pd.DataFrame({
        "contrast": ["a", "a", "b", "b", "b"],
        "p": [0.01, 0.04, 0.01, 0.02, 0.03],
    })
    out = adjust_within_families(df, ["contrast"])
    assert out["p_bonferroni"].tolist() == pytest.approx([0.02, 0.08, 0.03, 0.06, 0.09])
    assert out["q_fdr"].tolist() == pytest.approx([0.02, 0.04, 0.03, 0.03, 0.03])
