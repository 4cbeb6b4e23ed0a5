"""Cohort, models and report field cases, round 39 (session 47, helper models39).

cox-monotone-likelihood: a score that is its minimum for most MDD persons (a PGS of few matched
or rare variants, as a microarray dataset can leave one: every non-carrier has the same lowest
value) with no TRD event among the others. At every event time the person with the event then
has the lowest PGS of those at risk, so the Cox partial likelihood rises without end as the
coefficient goes to -inf (monotone likelihood, Heinze & Schemper 2001; R's coxph warns
"coefficient may be infinite"): the MLE does not exist. lifelines stops on its Newton decrement
and returns a finite coefficient that depends on its stopping rule, an SE in the hundreds, no
warning, and the Cox table and the KM panel reported it as a converged HR (0.2-0.6 here). The
logistic fitter calls the same shape quasi-separation (a failed row); the Cox fitter now calls
it ``perfect_separation`` with the note "monotone likelihood (separation) ..." (``covariates.
cox_monotone_direction`` in ``prefit_check``). With one event among the carriers the fit is
made and equals lifelines called directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter

from trd_spark.models.cox import fit_cox
from trd_spark.vocabulary import ModelFailure

COVARIATES = ["age_at_index", "sex_female"]


def _sparse_score_frame(carrier_events: int) -> pd.DataFrame:
    """1,000 MDD persons; the PGS per SD of a score 1 for 6 carriers, 0 for everyone else; about
    one in six persons with a TRD event, ``carrier_events`` of them among the carriers. (With
    fewer persons lifelines' steps are longer and it may end with its "complete separation"
    warning, which the fitter already takes as a failure; here it warns of nothing.)"""
    rng = np.random.default_rng(39)
    n, carriers = 1000, 6
    raw = np.zeros(n)
    raw[:carriers] = 1.0
    event = (rng.uniform(size=n) < 0.17).astype(int)
    event[:carriers] = 0
    event[:carrier_events] = 1
    return pd.DataFrame({"pgs": (raw - raw.mean()) / raw.std(ddof=1), "age_at_index": rng.uniform(20, 80, n),
                         "sex_female": rng.integers(0, 2, n).astype(float),
                         "time_to_trd_days": rng.integers(1, 3000, n), "trd_event": event})


def _lifelines(frame: pd.DataFrame, precision: float | None = None) -> tuple[pd.Series, float]:
    """lifelines called directly: the PGS row of its summary and the partial log-likelihood;
    ``precision``: its two stopping tolerances (default: lifelines' own)."""
    options = {} if precision is None else {"precision": precision, "r_precision": precision}
    cph = CoxPHFitter().fit(frame, duration_col="time_to_trd_days", event_col="trd_event", fit_options=options)
    return cph.summary.loc["pgs"], float(cph.log_likelihood_)


def test_cox_pgs_with_monotone_likelihood_is_a_failed_row_not_a_finite_hazard_ratio():
    frame = _sparse_score_frame(carrier_events=0)
    # The oracle: lifelines "converges" where its stopping rule stops (a standard error in the
    # hundreds); with tighter tolerances the coefficient runs on towards -inf and the partial
    # likelihood keeps rising: there is no maximum.
    (loose, loose_ll), (tight, tight_ll) = _lifelines(frame), _lifelines(frame, 1e-15)
    assert loose["se(coef)"] > 50 and loose["coef"] < 0
    assert tight["coef"] < loose["coef"] - 0.5 and tight_ll > loose_ll
    got = fit_cox(frame, "pgs", COVARIATES)
    assert not got["converged"] and got["failure_reason"] == ModelFailure.PERFECT_SEPARATION
    assert np.isnan(got["hazard_ratio"]) and np.isnan(got["p"])
    assert got["note"].startswith("monotone likelihood (separation): every event at the lowest PGS")
    assert (got["n"], got["n_events"]) == (len(frame), int(frame["trd_event"].sum()))
    # The mirror image: every event at the highest PGS of its risk set (HR infinite).
    mirrored = fit_cox(frame.assign(pgs=-frame["pgs"]), "pgs", COVARIATES)
    assert mirrored["failure_reason"] == ModelFailure.PERFECT_SEPARATION
    assert "every event at the highest PGS" in mirrored["note"]
    # One event among the carriers: the likelihood has its maximum, the fit is made and equals
    # lifelines called directly.
    frame = _sparse_score_frame(carrier_events=1)
    got = fit_cox(frame, "pgs", COVARIATES)
    want, _ = _lifelines(frame)
    assert got["converged"] and got["failure_reason"] is None and got["note"] == ""
    assert got["beta"] == want["coef"] and got["se"] == want["se(coef)"] and got["se"] < 5

