"""Cox fits among MDD persons: estimates pinned to direct lifelines calls; failures are rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from models_sim import PGS_IDS, grid_config, simulate_frame

from trd_spark.models.cox import cox_grid, fit_cox, mdd_frame
from trd_spark.schemas import COX_RESULTS_COLUMNS
from trd_spark.vocabulary import ModelFailure

COVS = ["age", "sex_female", "pc1", "pc2"]
T, E = "time_to_trd_days", "trd_event"


@pytest.fixture(scope="module")
def mdd() -> pd.DataFrame:
    return mdd_frame(simulate_frame(seed=21, n=500)).copy()


def reference_cox(data: pd.DataFrame, pgs: str, covs: list[str]) -> pd.Series:
    """CoxPHFitter().fit(data[[T, E, pgs, *covs]].dropna(), duration_col=T, event_col=E).summary.loc[pgs]."""
    d = data[[T, E, pgs, *covs]].astype(float).dropna()
    return CoxPHFitter().fit(d, duration_col=T, event_col=E).summary.loc[pgs]


def test_mdd_frame_keeps_the_three_mdd_statuses():
    f = pd.DataFrame({"status": ["TRD", "trMDD", "MDD_other", "non_MDD"]})
    assert mdd_frame(f)["status"].tolist() == ["TRD", "trMDD", "MDD_other"]


def test_estimates_equal_direct_lifelines_fit(mdd):
    got = fit_cox(mdd, "PGS900004", COVS)
    ref = reference_cox(mdd, "PGS900004", COVS)
    assert got["converged"] is True and got["note"] == "" and got["failure_reason"] is None
    assert got["beta"] == pytest.approx(ref["coef"], rel=1e-6)
    assert got["se"] == pytest.approx(ref["se(coef)"], rel=1e-6)
    assert got["hazard_ratio"] == pytest.approx(ref["exp(coef)"], rel=1e-6)
    assert got["ci_low"] == pytest.approx(ref["exp(coef) lower 95%"], rel=1e-6)
    assert got["ci_high"] == pytest.approx(ref["exp(coef) upper 95%"], rel=1e-6)
    assert got["p"] == pytest.approx(ref["p"], rel=1e-5)
    assert got["n"] == len(mdd) and got["n_events"] == int((mdd["status"] == "TRD").sum())


def test_too_few_events_is_a_failed_row(mdd):
    sub = mdd.copy()
    sub[E] = 0.0
    sub.iloc[:3, sub.columns.get_loc(E)] = 1.0
    got = fit_cox(sub, "PGS900004", COVS, min_events=5)
    assert got["converged"] is False and got["n_events"] == 3
    assert got["note"].startswith("too few events") and "3" not in got["note"]
    assert got["failure_reason"] == ModelFailure.TOO_FEW_EVENTS


def test_complete_separation_is_a_failed_row(mdd):
    """Every person has the event, in exact order of the PGS: the partial likelihood has no maximum."""
    sub = mdd.copy()
    sub[E] = 1.0
    sub[T] = sub["PGS900001"].rank(ascending=False).astype(float)
    got = fit_cox(sub, "PGS900001", COVS)
    assert got["converged"] is False and "separation" in got["note"]
    assert got["failure_reason"] == ModelFailure.PERFECT_SEPARATION
    assert np.isnan(got["hazard_ratio"])


@pytest.mark.parametrize(("change", "reason"), [
    pytest.param(lambda d: d.assign(PGS900004=1.0), ModelFailure.PGS_ZERO_VARIANCE, id="pgs-constant"),
    pytest.param(lambda d: d.assign(PGS900004=d["pc1"] * 2.0), ModelFailure.SINGULAR_DESIGN, id="collinear"),
    pytest.param(lambda d: d.drop(columns="PGS900004"), ModelFailure.PGS_ABSENT, id="pgs-absent"),
])
def test_prefit_failures_are_rows_with_their_reason(mdd, change, reason):
    """The checks shared with the logistic fitter (covariates.prefit_check) give Cox the same reasons."""
    got = fit_cox(change(mdd), "PGS900004", COVS)
    assert got["converged"] is False and got["failure_reason"] == reason and np.isnan(got["beta"])


def test_constant_covariate_dropped_and_negative_time_left_out(mdd):
    """Equals the direct fit without sex_female, on persons with time >= 0."""
    sub = mdd.copy()
    sub["sex_female"] = 0
    sub.iloc[0, sub.columns.get_loc(T)] = -5.0
    got = fit_cox(sub, "PGS900004", COVS)
    ref = reference_cox(sub[sub[T] >= 0], "PGS900004", ["age", "pc1", "pc2"])
    assert got["converged"] is True and got["n"] == len(sub) - 1
    assert "dropped constant covariate(s): sex_female" in got["note"]
    assert "negative time_to_trd_days" in got["note"]
    assert got["beta"] == pytest.approx(ref["coef"], rel=1e-6)


def test_grid_columns_and_rows():
    cfg = grid_config()
    frame = simulate_frame(seed=4, n=300, definitions=("ad3", "somatic"))
    grid = cox_grid(frame, cfg)
    assert list(grid.columns) == COX_RESULTS_COLUMNS
    assert len(grid) == 2 * len(PGS_IDS)
    row = grid[(grid.definition == "ad3") & (grid.pgs_id == "PGS900003")]
    assert row["trait"].item() == "Neuroticism"
    # The grid adjusts for age at the MDD index (the time origin), not the frame's ``age`` (at
    # observation end = index age + follow-up: a function of the outcome time).
    ad3 = mdd_frame(frame[frame.definition == "ad3"])
    ref = reference_cox(ad3, "PGS900003", ["age_at_index", *COVS[1:]])
    assert row["beta"].item() == pytest.approx(ref["coef"], rel=1e-6)
    end_age = reference_cox(ad3, "PGS900003", COVS)
    assert row["beta"].item() != pytest.approx(end_age["coef"], rel=1e-3)


def test_no_event_at_one_sex_is_fitted_at_its_limit(mdd):
    """Only women reach TRD: lifelines cannot bound the sex_female log-HR (-> +inf: men leave
    every risk set), so the PGS's HR is the fit among women without sex (``covariates.
    empty_cell``; session 49: was a failed row, perfect_separation). N and events stay the model's."""
    sub = mdd.copy()
    sub.loc[sub["sex_female"] == 0, E] = 0.0
    got = fit_cox(sub, "PGS900004", COVS)
    ref = reference_cox(sub[sub["sex_female"] == 1], "PGS900004", ["age", "pc1", "pc2"])
    assert got["note"].startswith("no event at sex_female = 0: the PGS estimated among sex_female = 1")
    assert got["converged"] is True and got["failure_reason"] is None
    assert got["beta"] == pytest.approx(ref["coef"], rel=1e-6)
    assert got["se"] == pytest.approx(ref["se(coef)"], rel=1e-6)
    assert (got["n"], got["n_events"]) == (len(sub), int(sub[E].sum()))


def mean_rank_of_event_times(durations, events, weights):
    """R's rank(event times) (ties averaged), in the order lifelines passes the durations."""
    from scipy.stats import rankdata

    out = np.zeros(len(durations))
    ev = events.to_numpy(dtype=bool)
    out[ev] = rankdata(durations.to_numpy()[ev])
    return pd.Series(out, index=durations.index)


def test_ph_test_equals_direct_lifelines_call(mdd):
    """proportional_hazard_test(CoxPHFitter().fit(d, T, E), d, time_transform=<rank, ties averaged>)
    .summary.loc[pgs]; "km" is lifelines' own."""
    from lifelines.statistics import proportional_hazard_test

    got = fit_cox(mdd, "PGS900004", COVS)
    d = mdd[[T, E, "PGS900004", *COVS]].astype(float)
    cph = CoxPHFitter().fit(d, duration_col=T, event_col=E)
    ref = proportional_hazard_test(cph, d, time_transform=mean_rank_of_event_times).summary.loc["PGS900004"]
    assert got["ph_statistic"] == pytest.approx(ref["test_statistic"], rel=1e-9)
    assert got["ph_p"] == pytest.approx(ref["p"], rel=1e-9)
    km = fit_cox(mdd, "PGS900004", COVS, ph_time_transform="km")
    ref_km = proportional_hazard_test(cph, d, time_transform="km").summary.loc["PGS900004"]
    assert km["ph_p"] == pytest.approx(ref_km["p"], rel=1e-9)


def test_ph_test_detects_a_hazard_ratio_that_changes_over_time():
    """Weibull times whose shape rises with the PGS: hazards cross, so PH is violated."""
    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    t = 300 * rng.exponential(size=n) ** (1 / np.exp(0.8 * x))
    frame = pd.DataFrame({T: np.minimum(t, 900).round() + 1, E: (t < 900).astype(float), "pgs": x,
                          "age": rng.uniform(20, 80, n)})
    got = fit_cox(frame, "pgs", ["age"])
    assert got["converged"] is True and got["ph_p"] < 1e-4
    frame[T] = (300 * rng.exponential(size=n) * np.exp(-0.5 * x)).round() + 1  # proportional: exponential
    frame[E] = 1.0
    assert fit_cox(frame, "pgs", ["age"])["ph_p"] > 0.001


def test_ph_test_does_not_depend_on_the_order_of_persons_with_tied_event_days(mdd):
    # lifelines' "rank" numbers tied event times by row order (np.cumsum(events)): the toy
    # discovery ad3 Cox fit of PGS900001 gave ph_statistic 0.1291 in person order and
    # 0.1252-0.1328 with its rows in other orders (audit of issue 5, session 19).
    d = mdd[[T, E, "PGS900004", *COVS]].astype(float)
    d[T] = d[T] // 30 + 1  # follow-up in months: many persons share an event time
    event_days = d.loc[d[E] == 1, T]
    assert event_days.duplicated().sum() >= 10, "the frame must have tied event days"
    stats = {fit_cox(d.sample(frac=1, random_state=s), "PGS900004", COVS)["ph_statistic"] for s in range(4)}
    first = next(iter(stats))
    assert all(v == pytest.approx(first, rel=1e-12) for v in stats), stats
