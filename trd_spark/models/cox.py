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
from trd_spark.models.covariates import (
    MDD_STATUSES,
    complete_cases,
    covariate_columns,
    is_constant,
    join_notes,
    one_blas_thread,
    split_constant,
)
from trd_spark.models.logistic import check_analysis_frame, finish_order, in_person_order, model_panel
from trd_spark.schemas import COX_RESULTS_COLUMNS

log = logging.getLogger(__name__)

DURATION = "time_to_trd_days"
EVENT = "trd_event"
# lifelines ConvergenceWarning texts that mean the estimate is not usable (the others, e.g.
# low variance conditioned on the event, are advice and go into the note only when fatal).
_FATAL_WARNINGS = ("failed to converge", "complete separation")


def _failed(n: int, n_events: int, note: str) -> dict:
    return {
        "n": int(n), "n_events": int(n_events), "beta": np.nan, "se": np.nan, "hazard_ratio": np.nan,
        "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "ph_statistic": np.nan, "ph_p": np.nan,
        "converged": False, "note": note,
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
    ``ph_p``; lifelines ``proportional_hazard_test`` with ``ph_time_transform``),
    ``converged``, ``note``; estimates are NaN when ``converged`` is False.
    """
    missing = [c for c in (duration, event, *covariates) if c not in frame.columns]
    if missing:
        raise ModelError(f"columns {missing} are not in the model frame", where="fit_cox")
    if pgs_col not in frame.columns:
        return _failed(0, 0, "PGS column absent from the analysis frame")

    data = complete_cases(frame, [duration, event, pgs_col, *covariates])
    notes: list[str] = []
    if len(data) < len(frame):
        notes.append("persons with missing values left out")
    negative = data[duration] < 0
    if negative.any():
        data = data[~negative]
        notes.append("persons with a negative time_to_trd_days left out")
    if not data[event].isin((0.0, 1.0)).all():
        raise ModelError(f"event {event!r} must be 0/1", where="fit_cox")
    n, n_events = len(data), int(data[event].sum())
    if n_events < min_events:
        return _failed(n, n_events, join_notes(*notes, f"too few events (fewer than min_cases={min_events})"))
    if is_constant(data[pgs_col]):
        return _failed(n, n_events, join_notes(*notes, "PGS has zero variance"))
    kept, dropped = split_constant(data, covariates)
    if dropped:
        notes.append(f"dropped constant covariate(s): {', '.join(dropped)}")
    x = data[[pgs_col, *kept]].to_numpy()
    if np.linalg.matrix_rank(np.column_stack([np.ones(n), x])) < x.shape[1] + 1:
        return _failed(n, n_events, join_notes(*notes, "singular design matrix (collinear covariates)"))

    model_data = data[[duration, event, pgs_col, *kept]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(model_data, duration_col=duration, event_col=event)
        except ConvergenceError as e:
            reason = "collinear covariates" if "collinearity" in str(e) else "did not converge"
            return _failed(n, n_events, join_notes(*notes, f"Cox fit failed: {reason}"))
    conv_msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if any(k in m for m in conv_msgs for k in _FATAL_WARNINGS):
        separation = any("separation" in m for m in conv_msgs)
        reason = "possible complete separation" if separation else "did not converge"
        return _failed(n, n_events, join_notes(*notes, f"Cox fit failed: {reason}"))

    row = cph.summary.loc[pgs_col]
    beta, se, p = float(row["coef"]), float(row["se(coef)"]), float(row["p"])
    if not (np.isfinite(beta) and np.isfinite(se) and se > 0):
        return _failed(n, n_events, join_notes(*notes, "non-finite estimate or standard error"))
    ph_statistic, ph_p = np.nan, np.nan
    try:
        ph = proportional_hazard_test(cph, model_data, time_transform=ph_time_transform).summary
        ph_statistic, ph_p = float(ph.loc[pgs_col, "test_statistic"]), float(ph.loc[pgs_col, "p"])
    except (ValueError, np.linalg.LinAlgError, KeyError):
        notes.append("proportional-hazards test failed")
    return {
        "n": n, "n_events": n_events, "beta": beta, "se": se, "hazard_ratio": float(np.exp(beta)),
        "ci_low": float(row["exp(coef) lower 95%"]), "ci_high": float(row["exp(coef) upper 95%"]),
        "p": p, "ph_statistic": ph_statistic, "ph_p": ph_p, "converged": True, "note": join_notes(*notes),
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
    covariates = covariate_columns(cfg)
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
