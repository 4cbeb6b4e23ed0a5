"""Logistic fits: estimates pinned to direct statsmodels calls; failures are rows, not errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from models_sim import PGS_IDS, grid_config, simulate_frame

from trd_spark.models.logistic import contrast_frame, fit_logistic, logistic_grid
from trd_spark.vocabulary import ModelFailure

COVS = ["age", "sex_female", "pc1", "pc2"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_frame(seed=11, n=400)


def reference_logit(sub: pd.DataFrame, pgs: str, covs: list[str]):
    """sm.Logit(case, add_constant([pgs, *covs])).fit(disp=0) on complete cases."""
    data = sub[["case", pgs, *covs]].astype(float).dropna()
    return sm.Logit(data["case"], sm.add_constant(data[[pgs, *covs]])).fit(disp=0)


@pytest.mark.parametrize("contrast", ["trd_vs_nonmdd", "trmdd_vs_nonmdd", "trd_vs_trmdd", "mdd_vs_nonmdd"])
def test_estimates_equal_direct_statsmodels_logit(frame, contrast):
    """ref = sm.Logit(y, sm.add_constant(X[[pgs, age, sex_female, pc1, pc2]])).fit(disp=0)."""
    sub = contrast_frame(frame, contrast)
    got = fit_logistic(sub, "PGS900004", COVS)
    ref = reference_logit(sub, "PGS900004", COVS)
    lo, hi = ref.conf_int().loc["PGS900004"]
    assert got["converged"] is True and got["note"] == "" and got["failure_reason"] is None
    assert got["beta"] == pytest.approx(ref.params["PGS900004"], rel=1e-7)
    assert got["se"] == pytest.approx(ref.bse["PGS900004"], rel=1e-6)
    assert got["p"] == pytest.approx(ref.pvalues["PGS900004"], rel=1e-5)
    assert got["odds_ratio"] == pytest.approx(np.exp(ref.params["PGS900004"]), rel=1e-7)
    assert got["ci_low"] == pytest.approx(np.exp(lo), rel=1e-6)
    assert got["ci_high"] == pytest.approx(np.exp(hi), rel=1e-6)
    assert got["n"] == len(sub) and got["n_cases"] == int(sub["case"].sum())


def test_contrast_coding_by_hand():
    f = pd.DataFrame({"status": ["TRD", "trMDD", "MDD_other", "non_MDD", "TRD", "non_MDD"]})
    assert contrast_frame(f, "trd_vs_nonmdd")["case"].tolist() == [1, 0, 1, 0]
    assert contrast_frame(f, "trmdd_vs_nonmdd")["case"].tolist() == [1, 0, 0]
    assert contrast_frame(f, "trd_vs_trmdd")["case"].tolist() == [1, 0, 1]
    assert contrast_frame(f, "mdd_vs_nonmdd")["case"].tolist() == [1, 1, 1, 0, 1, 0]


def test_perfect_separation_is_a_failed_row(frame):
    sub = contrast_frame(frame, "mdd_vs_nonmdd")
    sub["case"] = (sub["PGS900001"] > 0).astype(int)
    got = fit_logistic(sub, "PGS900001", COVS)
    assert got["converged"] is False and got["failure_reason"] == ModelFailure.PERFECT_SEPARATION
    assert "separation" in got["note"] and "PGS900001 alone" in got["note"]  # found before the fit
    assert np.isnan(got["beta"]) and np.isnan(got["p"]) and np.isnan(got["odds_ratio"])
    assert got["n"] == len(sub)


def test_too_few_cases_is_a_failed_row_without_the_count_in_the_note(frame):
    sub = contrast_frame(frame, "mdd_vs_nonmdd")
    sub["case"] = 0
    sub.iloc[:4, sub.columns.get_loc("case")] = 1
    got = fit_logistic(sub, "PGS900001", COVS, min_cases=5)
    assert got["converged"] is False and got["n_cases"] == 4 and got["failure_reason"] == "too_few_cases"
    assert got["note"].startswith("too few cases")
    assert "4" not in got["note"]  # a small count must not leak through the note


def test_too_few_controls_is_a_failed_row(frame):
    sub = contrast_frame(frame, "mdd_vs_nonmdd")
    sub["case"] = 1
    sub.iloc[:3, sub.columns.get_loc("case")] = 0
    got = fit_logistic(sub, "PGS900001", COVS, min_cases=5)
    assert got["converged"] is False and "too few controls" in got["note"]
    assert got["failure_reason"] == ModelFailure.TOO_FEW_CONTROLS


def test_constant_covariate_is_dropped_and_noted(frame):
    """Equals sm.Logit(case, add_constant([pgs, age, pc1, pc2])) when sex_female is constant."""
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub["sex_female"] = 1
    got = fit_logistic(sub, "PGS900004", COVS)
    ref = reference_logit(sub, "PGS900004", ["age", "pc1", "pc2"])
    assert got["converged"] is True
    assert got["note"] == "dropped constant covariate(s): sex_female"
    assert got["beta"] == pytest.approx(ref.params["PGS900004"], rel=1e-7)


def test_collinear_covariates_give_singular_note(frame):
    """A PGS that is a linear function of the covariates has no estimate. (A covariate collinear with
    the ones before it is dropped since session 52: tests/test_models_adversarial_s52.py.)"""
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub["PGS900004"] = 2.0 * sub["pc1"]
    got = fit_logistic(sub, "PGS900004", COVS)
    assert got["converged"] is False and "singular" in got["note"]
    assert got["failure_reason"] == ModelFailure.SINGULAR_DESIGN


def test_zero_variance_pgs_is_a_failed_row(frame):
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub["PGS900004"] = 0.5
    got = fit_logistic(sub, "PGS900004", COVS)
    assert got["converged"] is False and got["note"] == "PGS has zero variance"
    assert got["failure_reason"] == ModelFailure.PGS_ZERO_VARIANCE


def test_missing_values_are_left_out(frame):
    """Equals the direct fit on rows with complete data (3 ages set missing)."""
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub.iloc[:3, sub.columns.get_loc("age")] = np.nan
    got = fit_logistic(sub, "PGS900004", COVS)
    ref = reference_logit(sub, "PGS900004", COVS)
    assert got["n"] == len(sub) - 3
    assert got["note"] == "persons with missing values left out"
    assert got["beta"] == pytest.approx(ref.params["PGS900004"], rel=1e-7)


def test_absent_pgs_column_is_a_failed_row(frame):
    got = fit_logistic(contrast_frame(frame, "trd_vs_nonmdd"), "PGS999999", COVS)
    assert got["converged"] is False and "absent" in got["note"] and got["failure_reason"] == "pgs_absent"


def test_quasi_separation_by_a_covariate_is_fitted_at_its_limit(frame):
    """Every female is a case (an empty sex x outcome cell): the MLE of sex_female is infinite
    (statsmodels: no convergence), the others' is the fit among males without sex
    (``covariates.empty_cell``; session 49: was a failed row, quasi_separation). N and cases stay
    the model's; the note names the empty cell."""
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub.loc[sub["sex_female"] == 1, "case"] = 1
    got = fit_logistic(sub, "PGS900004", COVS)
    males = sub[sub["sex_female"] == 0]
    ref = reference_logit(males, "PGS900004", ["age", "pc1", "pc2"])
    assert got["converged"] is True and got["failure_reason"] is None
    assert got["beta"] == pytest.approx(ref.params["PGS900004"], rel=1e-7)
    assert got["se"] == pytest.approx(ref.bse["PGS900004"], rel=1e-6)
    assert (got["n"], got["n_cases"]) == (len(sub), int(sub["case"].sum()))
    assert got["note"].startswith("no control at sex_female = 1: the PGS estimated among sex_female = 0")


def test_failure_reason_is_set_exactly_when_a_fit_failed():
    frame = simulate_frame(seed=5, n=120, definitions=("ad3",)).assign(PGS900002=0.5)  # no variance
    grid = logistic_grid(frame, grid_config())
    failed = ~grid["converged"].astype(bool)
    assert (grid.loc[failed, "pgs_id"] == "PGS900002").all() and failed.sum() == grid["contrast"].nunique()
    assert grid.loc[~failed, "failure_reason"].isna().all()
    assert set(grid.loc[failed, "failure_reason"]) == {ModelFailure.PGS_ZERO_VARIANCE}


def test_grid_columns_rows_and_panel_labels():
    cfg = grid_config()
    frame = simulate_frame(seed=3, n=300, definitions=("ad3", "somatic"))
    grid = logistic_grid(frame, cfg)
    from trd_spark.schemas import LOGISTIC_RESULTS_COLUMNS

    assert list(grid.columns) == LOGISTIC_RESULTS_COLUMNS
    assert len(grid) == 2 * 4 * len(PGS_IDS)
    row = grid[(grid.definition == "somatic") & (grid.contrast == "trd_vs_trmdd") & (grid.pgs_id == "PGS900001")]
    assert row["trait"].item() == "Educational attainment" and row["domain"].item() == "education"
    sub = contrast_frame(frame[frame.definition == "somatic"], "trd_vs_trmdd")
    ref = reference_logit(sub, "PGS900001", COVS)
    assert row["beta"].item() == pytest.approx(ref.params["PGS900001"], rel=1e-7)
