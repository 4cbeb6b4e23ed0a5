"""Kaplan-Meier curves of staying TRD-free after the MDD index, by PGS tertile, as data.

Per (dataset, definition, pgs_id): MDD persons split into tertiles of the PGS (1 = lowest
third; ties broken by row order after sorting by person_id), one lifelines
``KaplanMeierFitter`` per tertile, evaluated on a fixed grid of days (0, step, 2*step, ...
up to the longest follow-up) so the table is small and holds no individual event times.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from trd_spark.config import Config, TraitPanelEntry
from trd_spark.models.covariates import complete_cases, one_blas_thread
from trd_spark.models.logistic import in_person_order
from trd_spark.schemas import KM_CURVES

N_GROUPS = 3  # tertiles
KM_COLUMNS = KM_CURVES.names


def pgs_tertile(pgs: pd.Series) -> np.ndarray:
    """1, 2, 3 for the lowest, middle and highest third of ``pgs`` (equal sizes up to one)."""
    ranks = pgs.rank(method="first").to_numpy()
    return np.ceil(ranks * N_GROUPS / len(ranks)).astype(int)


def km_on_grid(duration: np.ndarray, event: np.ndarray, grid: np.ndarray) -> pd.DataFrame:
    """Product-limit survival S(t) at each grid time (right-continuous), with lifelines'
    log(-log) 95% CI and the number at risk (duration >= t). Columns: time_days, n_at_risk,
    survival, ci_low, ci_high."""
    kmf = KaplanMeierFitter().fit(duration, event_observed=event)
    surv = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    # Step functions: value at t = value at the last timeline point <= t.
    idx = np.searchsorted(surv.index.to_numpy(), grid, side="right") - 1
    s = np.where(idx >= 0, surv.to_numpy()[np.clip(idx, 0, None)], 1.0)
    lo = np.where(idx >= 0, ci.iloc[:, 0].to_numpy()[np.clip(idx, 0, None)], 1.0)
    hi = np.where(idx >= 0, ci.iloc[:, 1].to_numpy()[np.clip(idx, 0, None)], 1.0)
    at_risk = (duration[None, :] >= grid[:, None]).sum(axis=1)
    return pd.DataFrame({"time_days": grid.astype(int), "n_at_risk": at_risk.astype(np.int64),
                         "survival": s, "ci_low": lo, "ci_high": hi})


def km_curves_for_pgs(
    mdd: pd.DataFrame, pgs_col: str, *, duration: str, event: str, step_days: int
) -> pd.DataFrame:
    """Curves for one PGS among MDD persons: tertile + km_on_grid columns (empty if no data)."""
    if pgs_col not in mdd.columns:
        return pd.DataFrame(columns=["tertile", "time_days", "n_at_risk", "survival", "ci_low", "ci_high"])
    data = complete_cases(mdd, [duration, event, pgs_col])
    data = data[data[duration] >= 0]
    if len(data) < N_GROUPS:
        return pd.DataFrame(columns=["tertile", "time_days", "n_at_risk", "survival", "ci_low", "ci_high"])
    tertile = pgs_tertile(data[pgs_col])
    grid = np.arange(0, data[duration].max() + 1, step_days)
    parts = []
    for k in range(1, N_GROUPS + 1):
        g = data[tertile == k]
        parts.append(km_on_grid(g[duration].to_numpy(), g[event].to_numpy(), grid).assign(tertile=k))
    return pd.concat(parts, ignore_index=True)


def km_group(
    frame: pd.DataFrame, *, panel: Iterable[TraitPanelEntry], duration: str, event: str, step_days: int
) -> pd.DataFrame:
    """KM curves for every panel PGS of one (dataset, definition) slice. Columns: KM_CURVES."""
    from trd_spark.models.cox import mdd_frame

    dataset, definition = frame["dataset"].iloc[0], frame["definition"].iloc[0]
    mdd = mdd_frame(in_person_order(frame))
    with one_blas_thread():
        parts = [
            km_curves_for_pgs(mdd, e.pgs_id, duration=duration, event=event, step_days=step_days).assign(
                dataset=dataset, definition=definition, pgs_id=e.pgs_id, trait=e.trait)
            for e in panel
        ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=KM_COLUMNS)
    return pd.concat(parts, ignore_index=True)[KM_COLUMNS]


def km_curves(frame: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Serial ``km_group`` over the (dataset, definition) slices of a pandas analysis frame."""
    from trd_spark.models.cox import DURATION, EVENT
    from trd_spark.models.logistic import finish_order, model_panel

    panel = model_panel(cfg)
    parts = [
        km_group(g, panel=panel, duration=DURATION, event=EVENT, step_days=cfg.models.km_step_days)
        for _, g in frame.groupby(["dataset", "definition"], sort=True)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=KM_COLUMNS)
    return finish_order(pd.concat(parts, ignore_index=True), cfg,
                        ["dataset", "definition", "pgs_id", "tertile", "time_days"])
