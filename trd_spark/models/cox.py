"""Cox proportional hazards: time from MDD index to TRD, per PGS (per SD), adjusted.

Population: MDD persons (TRD, trMDD, MDD_other) of one (dataset, definition). Duration is
``time_to_trd_days`` (to TRD onset, or to censoring at end of follow-up), event
``trd_event``. ``fit_cox`` is pure (pandas in, dict out); ``cox_group`` (all PGS of one
dataset x definition) is called by the serial ``cox_grid`` and from ``applyInPandas``
(models/distributed.py). A fit that cannot be made is a row with ``converged=False``. Each
fit carries the Schoenfeld-residual proportional-hazards test of its PGS term.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

from trd_spark.config import Config, ScoredTrait
from trd_spark.errors import ModelError
from trd_spark.models.covariates import COX_AGE, covariate_columns, join_notes, one_blas_thread, prefit_check
from trd_spark.models.logistic import (
    RATIO_OUT_OF_RANGE_NOTE,
    check_analysis_frame,
    finish_order,
    in_person_order,
    model_panel,
    ratio_in_range,
)
from trd_spark.schemas import COX_RESULTS_COLUMNS
from trd_spark.vocabulary import MDD_STATUSES, ModelFailure

log = logging.getLogger(__name__)

DURATION = "time_to_trd_days"
EVENT = "trd_event"
# lifelines ConvergenceWarning texts that mean the estimate is not usable (the others, e.g.
# low variance conditioned on the event, are advice and go into the note only when fatal).
_FATAL_WARNINGS = ("failed to converge", "complete separation")


def rank_ties_averaged(durations: pd.Series, events: pd.Series, weights: pd.Series) -> pd.Series:
    """lifelines' ``rank`` time transform of the PH test with tied event times given their mean rank.

    lifelines numbers the event times ``np.cumsum(events)`` over the durations as its fitter
    sorted them, so persons with the same event day took different ranks by their row order
    and the PH statistic changed with the order of the rows (0.125-0.133 for one toy fit, its
    persons shuffled). Here each tied event time takes the mean of its ranks, as R's
    ``rank(times)``: the statistic no longer depends on the order. ``weights`` is unused (the
    signature lifelines calls a transform with).
    """
    ranks = np.cumsum(events.to_numpy(dtype=float))
    is_event = events.to_numpy(dtype=bool)
    tied_mean = pd.Series(ranks[is_event]).groupby(durations.to_numpy()[is_event]).transform("mean")
    ranks[is_event] = tied_mean.to_numpy()
    return pd.Series(ranks, index=durations.index)


# ``models.ph_time_transform`` names lifelines' transforms; ``rank`` is replaced by the
# order-free one above, the others are lifelines' own.
_PH_TRANSFORMS = {"rank": rank_ties_averaged}


def _failed(n: int, n_events: int, reason: ModelFailure, note: str) -> dict:
    # failure_reason as plain str: the rows go to Spark (an enum object cannot travel).
    return {
        "n": int(n), "n_events": int(n_events), "beta": np.nan, "se": np.nan, "hazard_ratio": np.nan,
        "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "ph_statistic": np.nan, "ph_p": np.nan,
        "converged": False, "failure_reason": str(reason), "note": note,
    }


def mdd_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The Cox population: rows whose ``status`` is TRD, trMDD or MDD_other."""
    return frame[frame["status"].isin(MDD_STATUSES)]


def fit_cox(
    frame: pd.DataFrame,
    pgs_col: str,
    covariates: list[str],
    *,
    duration: str = DURATION,
    event: str = EVENT,
    min_events: int = 5,
    ph_time_transform: str = "rank",
) -> dict:
    """Fit ``CoxPHFitter().fit(data, duration, event)`` on pgs + covariates (Efron ties).

    ``frame``: MDD persons of one (dataset, definition). Complete cases only; persons with a
    negative duration are left out (noted). A covariate constant in the remaining rows is
    dropped (noted). Returns ``n``, ``n_events``, ``beta`` (log-hazard per SD), ``se``,
    ``hazard_ratio``, 95% ``ci_low``/``ci_high`` (exp scale), Wald ``p``, the PGS term's
    Schoenfeld-residual proportional-hazards test (``ph_statistic``, chi-square 1 df, and
    ``ph_p``; lifelines ``proportional_hazard_test`` with ``ph_time_transform``, ``rank`` with
    tied event times at their mean rank: ``rank_ties_averaged``),
    ``converged``, ``failure_reason`` (a ``vocabulary.ModelFailure`` value, None when the fit
    converged), ``note``; estimates are NaN when ``converged`` is False. The checks before the
    fit are ``covariates.prefit_check`` (shared with the logistic fitter); a fit that cannot be
    made is a failed row, never an error. Raises ModelError for columns missing from ``frame``
    or an event that is not 0/1.
    """
    missing = [c for c in (duration, event, *covariates) if c not in frame.columns]
    if missing:
        raise ModelError(f"columns {missing} are not in the model frame", where="fit_cox")
    check = prefit_check(frame, pgs_col, covariates, outcome=event, duration=duration, min_cases=min_events,
                         where="fit_cox")
    notes, n, n_events, kept = check.notes, check.n, check.n_cases, check.covariates
    if check.failure is not None:
        return _failed(n, n_events, check.failure, join_notes(*notes, check.failure_note))

    model_data = check.data[[duration, event, pgs_col, *kept]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(model_data, duration_col=duration, event_col=event)
        except ConvergenceError as e:
            collinear = "collinearity" in str(e)
            return _failed(n, n_events, ModelFailure.SINGULAR_DESIGN if collinear else ModelFailure.NOT_CONVERGED,
                           join_notes(*notes, f"Cox fit failed: {'collinear covariates' if collinear else 'did not converge'}"))
    conv_msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if any(k in m for m in conv_msgs for k in _FATAL_WARNINGS):
        if any("separation" in m for m in conv_msgs):
            return _failed(n, n_events, ModelFailure.PERFECT_SEPARATION,
                           join_notes(*notes, "Cox fit failed: possible complete separation"))
        return _failed(n, n_events, ModelFailure.NOT_CONVERGED, join_notes(*notes, "Cox fit failed: did not converge"))

    row = cph.summary.loc[pgs_col]
    beta, se, p = float(row["coef"]), float(row["se(coef)"]), float(row["p"])
    if not (np.isfinite(beta) and np.isfinite(se) and se > 0 and np.isfinite(p)):
        return _failed(n, n_events, ModelFailure.NON_FINITE_ESTIMATE,
                       join_notes(*notes, "non-finite estimate, standard error or p"))
    with np.errstate(over="ignore", under="ignore"):
        hazard_ratio = float(np.exp(beta))
    ci_low, ci_high = float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"])
    if not ratio_in_range(hazard_ratio, ci_low, ci_high):
        # lifelines' exp(coef +/- 1.96 se) overflows to inf (or its lower bound to 0 or NaN)
        return _failed(n, n_events, ModelFailure.RATIO_OUT_OF_RANGE, join_notes(*notes, RATIO_OUT_OF_RANGE_NOTE))
    ph_statistic, ph_p = np.nan, np.nan
    try:
        transform = _PH_TRANSFORMS.get(ph_time_transform, ph_time_transform)
        ph = proportional_hazard_test(cph, model_data, time_transform=transform).summary
        ph_statistic, ph_p = float(ph.loc[pgs_col, "test_statistic"]), float(ph.loc[pgs_col, "p"])
    except (ValueError, np.linalg.LinAlgError, KeyError):
        pass
    if not (np.isfinite(ph_statistic) and np.isfinite(ph_p)):
        # Not only an exception: the ``log`` transform of an event on day 0 (TRD on the MDD index
        # day) is -inf, and lifelines returns a NaN statistic without a word.
        ph_statistic, ph_p = np.nan, np.nan
        notes.append("proportional-hazards test failed")
    return {
        "n": n, "n_events": n_events, "beta": beta, "se": se, "hazard_ratio": hazard_ratio,
        "ci_low": ci_low, "ci_high": ci_high,
        "p": p, "ph_statistic": ph_statistic, "ph_p": ph_p, "converged": True, "failure_reason": None,
        "note": join_notes(*notes),
    }


def cox_group(
    frame: pd.DataFrame,
    *,
    panel: Iterable[ScoredTrait],
    covariates: list[str],
    min_events: int,
    ph_time_transform: str = "rank",
) -> pd.DataFrame:
    """All Cox fits for one (dataset, definition) slice: the unit of distributed work."""
    dataset, definition = frame["dataset"].iloc[0], frame["definition"].iloc[0]
    mdd = mdd_frame(in_person_order(frame))
    with one_blas_thread():
        rows = [
            {
                "dataset": dataset, "definition": definition, "pgs_id": e.pgs_id, "trait": e.trait,
                "domain": e.domain,
                **fit_cox(mdd, e.pgs_id, covariates, min_events=min_events, ph_time_transform=ph_time_transform),
            }
            for e in panel
        ]
    return pd.DataFrame(rows, columns=COX_RESULTS_COLUMNS)


def cox_grid(frame: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Every (dataset, definition, pgs_id) Cox fit among MDD persons. Columns: COX_RESULTS_COLUMNS."""
    covariates = covariate_columns(cfg, age=COX_AGE)
    check_analysis_frame(frame, covariates, extra=(DURATION, EVENT))
    panel = model_panel(cfg)
    parts = [
        cox_group(g, panel=panel, covariates=covariates, min_events=cfg.models.min_cases,
                  ph_time_transform=cfg.models.ph_time_transform)
        for _, g in frame.groupby(["dataset", "definition"], sort=True)
    ]
    if not parts:
        return pd.DataFrame(columns=COX_RESULTS_COLUMNS)
    return finish_order(pd.concat(parts, ignore_index=True)[COX_RESULTS_COLUMNS], cfg,
                        ["dataset", "definition", "pgs_id"])
