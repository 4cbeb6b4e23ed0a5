"""Cohort, models and report field cases, round 43 (session 50, helper models43).

covariate-without-values: a PC column with no value for any person of a replication set (an
ancestry file whose elements for those persons are empty or ``nan``; ``check_ancestry`` counts the
elements, not their values) left every fit of that dataset with no complete case: n 0, "too few
cases", for a dataset of thousands, and the dataset lost to the replication and the meta-analysis.
A constant covariate is dropped (``covariates.is_constant`` counts no value as constant), so now is
a covariate without a value, noted (``covariates.EMPTY_COVARIATE_NOTE``). Oracles: statsmodels
``Logit`` and lifelines ``CoxPHFitter`` on the persons without that covariate.

km-tied-thirds: the Kaplan-Meier thirds were ranks with ties broken by person_id, so a score at its
minimum for most MDD persons (few matched variants, a rare variant's carriers) had a "lowest" and a
"middle" third of the same PGS, apart by the persons' IDs alone. Now tied values share a third
(``km.pgs_tertile``: a tied block across a cut point in the lower third, as Stata's ``xtile``); a
third left empty gives no curves. Oracle: lifelines ``KaplanMeierFitter`` on the persons at the
score's minimum.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter
from models_sim import simulate_frame

from trd_spark.models.cox import fit_cox, mdd_frame
from trd_spark.models.km import km_curves_for_pgs, pgs_tertile
from trd_spark.models.logistic import contrast_frame, fit_logistic
from trd_spark.models.stage import warn_covariates_without_values

PGS = "PGS900004"


def test_a_covariate_without_any_value_is_dropped_not_every_fit_n_zero(caplog):
    """600 persons; pc2 NaN for all of them (one replication set's rows). On b1d6bac fit_logistic
    gave n 0, too_few_cases and fit_cox n 0, too_few_events; now both fit every person without pc2,
    equal to statsmodels / lifelines called directly, the note naming pc2, and the models stage
    logs one WARNING for the dataset. A pc2 missing for some persons only still leaves those
    persons out (complete cases, unchanged)."""
    frame = simulate_frame(seed=43, n=600)
    frame["pc2"] = np.nan
    covs = ["age", "sex_female", "pc1", "pc2"]
    sub = contrast_frame(frame, "trd_vs_nonmdd")
    got = fit_logistic(sub, PGS, covs)
    ref = sm.Logit(sub["case"].astype(float), sm.add_constant(sub[[PGS, "age", "sex_female", "pc1"]].astype(float))
                   ).fit(disp=0)
    assert got["converged"], got
    assert (got["n"], got["n_cases"]) == (len(sub), int(sub["case"].sum()))
    assert got["beta"] == pytest.approx(ref.params[PGS], rel=1e-7)
    assert got["se"] == pytest.approx(ref.bse[PGS], rel=1e-6)
    assert got["note"] == "dropped covariate(s) without a value for any person: pc2"

    mdd = mdd_frame(frame)
    got = fit_cox(mdd, PGS, ["age_at_index", "sex_female", "pc1", "pc2"])
    data = mdd[["time_to_trd_days", "trd_event", PGS, "age_at_index", "sex_female", "pc1"]].astype(float)
    ref = CoxPHFitter().fit(data, "time_to_trd_days", "trd_event").summary.loc[PGS]
    assert got["converged"], got
    assert (got["n"], got["n_events"]) == (len(mdd), int(mdd["trd_event"].sum()))
    assert got["beta"] == pytest.approx(ref["coef"], rel=1e-6)
    assert got["note"] == "dropped covariate(s) without a value for any person: pc2"

    rows = pd.DataFrame([{"dataset": "replication_wgs", **got}, {"dataset": "discovery", "note": "small cell: x"}])
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        assert warn_covariates_without_values("cox", rows) == {"replication_wgs": ["pc2"]}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith("cox: dataset replication_wgs: covariate(s) pc2 without a value")

    some = simulate_frame(seed=43, n=600)
    some.loc[some.index[:50], "pc2"] = np.nan
    part = fit_logistic(contrast_frame(some, "trd_vs_nonmdd"), PGS, covs)
    assert part["converged"] and part["n"] == len(contrast_frame(some.iloc[50:], "trd_vs_nonmdd"))
    assert part["note"] == "persons with missing values left out"


def _tied(n: int, share_at_min: float, seed: int) -> pd.DataFrame:
    """MDD persons of ``simulate_frame`` with a score ``S`` at 0 for the first ``share_at_min`` of
    them (person order), the others uniform on 1..4."""
    mdd = mdd_frame(simulate_frame(seed=seed, n=n)).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    at_min = np.arange(len(mdd)) < int(share_at_min * len(mdd))
    mdd["S"] = np.where(at_min, 0.0, rng.uniform(1.0, 4.0, size=len(mdd)))
    return mdd


def test_kaplan_meier_thirds_keep_persons_of_one_pgs_value_together():
    """45% of the MDD persons at the score's minimum: on b1d6bac the first third held some of them
    and the second the rest (one value in two thirds). Now they are the first third, its curve
    lifelines' product-limit curve of exactly those persons; no value is in two thirds. 70% at the
    minimum: the middle third is empty and no curves are made (on b1d6bac, thirds 1 and 2 were
    curves of the same PGS); a score without ties keeps its equal thirds."""
    mdd = _tied(1500, 0.45, seed=431)
    thirds = pgs_tertile(mdd["S"])
    assert (pd.Series(thirds).groupby(mdd["S"].to_numpy()).nunique() == 1).all()
    assert set(mdd.loc[thirds == 1, "S"]) == {0.0}
    assert (thirds == 1).sum() == (mdd["S"] == 0).sum()
    curves = km_curves_for_pgs(mdd, "S", duration="time_to_trd_days", event="trd_event", step_days=100)
    low = curves[curves["tertile"] == 1].set_index("time_days")
    at_min = mdd[mdd["S"] == 0]
    kmf = KaplanMeierFitter().fit(at_min["time_to_trd_days"], at_min["trd_event"])
    for day in (100, 500, 1000):
        assert low.loc[day, "survival"] == pytest.approx(float(kmf.predict(day - 1e-9)), rel=1e-12)
    assert low.loc[0, "n_at_risk"] == len(at_min)

    mostly = _tied(1500, 0.70, seed=432)
    assert set(pgs_tertile(mostly["S"])) == {1, 3}
    assert km_curves_for_pgs(mostly, "S", duration="time_to_trd_days", event="trd_event", step_days=100).empty

    smooth = pd.Series(np.random.default_rng(433).normal(size=301))
    assert np.bincount(pgs_tertile(smooth))[1:].tolist() == [100, 100, 101]
