"""Kaplan-Meier curves of staying TRD-free after the MDD index, by PGS tertile, as data.

Per (dataset, definition, pgs_id): MDD persons split into tertiles of the PGS (1 = lowest
third; tied values in one third: ``pgs_tertile``), one lifelines
``KaplanMeierFitter`` per tertile, evaluated on a fixed grid of days (0, step, 2*step, ...
up to the longest follow-up) so the table is small and holds no individual event times. The
grid table is internal; ``coarsen_km`` keeps the points that may be exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from trd_spark.config import Config, ScoredTrait
from trd_spark.models.covariates import complete_cases, one_blas_thread
from trd_spark.models.logistic import Z95, in_person_order
from trd_spark.schemas import KM_CURVES

N_GROUPS = 3  # tertiles
KM_COLUMNS = KM_CURVES.names
KM_GRID_COLUMNS = ["time_days", "n_at_risk", "n_events_after", "survival", "ci_low", "ci_high"]


def pgs_tertile(pgs: pd.Series) -> np.ndarray:
    """1, 2, 3 for the lowest, middle and highest third of ``pgs`` (no missing value), by value:
    the cut points are the values of ranks floor(n/3) and floor(2n/3) of the n sorted, and a
    person is in the first third whose cut point is at least their PGS (the last: above both),
    so persons with the same PGS are in one third. Without ties the thirds are of equal size up
    to one (ranks 1..floor(n/3), .. floor(2n/3), the rest); a tied block across a cut point
    (a score of few values: most persons at its minimum, few carriers of a rare variant) is in
    the lower third, as Stata's ``xtile`` puts a value equal to a cut point, and a third may be
    larger, smaller or empty. Before (session 50) ties were split by row order (person_id): the
    lowest and middle "thirds" of a score at its minimum for 70% of the MDD persons were the same
    PGS, the curves apart by the persons' IDs alone (field case round 43)."""
    x = pgs.to_numpy(dtype=float)
    n = len(x)
    ordered = np.sort(x)
    cuts = [ordered[k - 1] if k >= 1 else -np.inf for k in (n // N_GROUPS, 2 * n // N_GROUPS)]
    return 1 + (x > cuts[0]).astype(int) + (x > cuts[1]).astype(int)


def km_on_grid(duration: np.ndarray, event: np.ndarray, grid: np.ndarray) -> pd.DataFrame:
    """Product-limit survival just before each grid day, S(t-), with lifelines' log(-log) 95% CI,
    the number at risk (duration >= t) and the events from t on (event and duration >= t).

    Everything is taken at the start of day t, so between two grid days a and b the persons
    leaving the risk set (at risk(a) - at risk(b)) are exactly the events (after(a) - after(b))
    plus the censored, and S(b-)/S(a-) reflects the same events: the export can coarsen the
    grid and audit the counts a curve reveals. Columns: time_days, n_at_risk, n_events_after,
    survival, ci_low, ci_high."""
    kmf = KaplanMeierFitter().fit(duration, event_observed=event)
    surv = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    # Step functions: value just before t = value at the last timeline point < t.
    idx = np.searchsorted(surv.index.to_numpy(), grid, side="left") - 1
    s = np.where(idx >= 0, surv.to_numpy()[np.clip(idx, 0, None)], 1.0)
    lo = np.where(idx >= 0, ci.iloc[:, 0].to_numpy()[np.clip(idx, 0, None)], 1.0)
    hi = np.where(idx >= 0, ci.iloc[:, 1].to_numpy()[np.clip(idx, 0, None)], 1.0)
    later = duration[None, :] >= grid[:, None]
    at_risk = later.sum(axis=1)
    after = (later & (event[None, :] > 0)).sum(axis=1)
    return pd.DataFrame({"time_days": grid.astype(int), "n_at_risk": at_risk.astype(np.int64),
                         "n_events_after": after.astype(np.int64), "survival": s, "ci_low": lo, "ci_high": hi})


def coarsen_km(km: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """The points of ``km`` (KM_CURVES rows on the day grid) that may be published.

    Per (dataset, definition, pgs_id) and tertile, the curve starts at its first grid day and
    keeps a later grid day only when, since the previously kept day, at least ``min_count``
    events happened, the censored persons are 0 or at least ``min_count``, and at least
    ``min_count`` persons are still at risk; it ends at the first day with fewer at risk. So
    every count a reader can take from two consecutive points (events from the survival drop,
    censored from the at-risk drop) is 0 or >= min_count (the All of Us rule: no step from
    fewer than 20). A PGS whose smallest tertile has fewer than ``min_count`` persons is left
    out entirely. Counts left after the last point (and sums across tables) are checked by the
    export audit (``trd_spark.report.tables``).

    The kept points' ``survival``, ``ci_low`` and ``ci_high`` are replaced by the life table of
    the kept points (``life_table_on_points``): a function of the published counts only. The
    product-limit value at full precision also depends on where, between two kept points, the
    censored persons left relative to each event day: S(b-)/S(a-) = (n - k - d) / (n - k) for
    d events on one day after k of the censored, so 100 at risk, 20 events and 20 censored
    give 77/97 for k = 3 and 73/93 for k = 7: the export would pin k, a count of 1..19 that
    no count rule sees (``tests/export_attacker.py``, ``km_censored_before_events``).
    Same columns as ``km``.
    """
    km = km.reset_index(drop=True)  # row labels are used to pick the kept points
    keep = []
    for _, curves in km.groupby(["dataset", "definition", "pgs_id"], sort=True):
        firsts = curves.sort_values("time_days").groupby("tertile").head(1)
        if len(firsts) < N_GROUPS or (firsts["n_at_risk"] < min_count).any():
            continue
        for _, g in curves.groupby("tertile", sort=True):
            g = g.sort_values("time_days")
            rows: list[Any] = list(g.itertuples())  # pandas-stubs type the fields as any scalar
            kept = [rows[0]]
            for r in rows[1:]:
                if r.n_at_risk < min_count:
                    break
                prev = kept[-1]
                events = prev.n_events_after - r.n_events_after
                censored = prev.n_at_risk - r.n_at_risk - events
                if events >= min_count and (censored == 0 or censored >= min_count):
                    kept.append(r)
            keep += [r.Index for r in kept]
    out = km.loc[sorted(keep)].reset_index(drop=True)
    for _, g in out.groupby(["dataset", "definition", "pgs_id", "tertile"], sort=False):
        g = g.sort_values("time_days")
        out.loc[g.index, ["survival", "ci_low", "ci_high"]] = life_table_on_points(
            g["n_at_risk"].to_numpy(), g["n_events_after"].to_numpy()).to_numpy()
    return out


def life_table_on_points(at_risk: np.ndarray, events_after: np.ndarray, z: float = Z95) -> pd.DataFrame:
    """Actuarial (Cutler-Ederer) life table on published points, from their counts alone.

    ``at_risk`` / ``events_after``: per point in time order (the first point: S = 1), the
    persons at risk at its start and the events from it on. Between points j-1 and j, d events
    and c censored (at-risk drop minus d); with c spread evenly over the interval the effective
    number at risk is n' = n - c/2 and S_j = S_{j-1} (1 - d/n'); the 95% CI uses Greenwood's
    variance, sum d/(n'(n' - d)), on the log(-log) scale as lifelines does for the
    product-limit curve. Returns a frame with survival, ci_low, ci_high (one row per point).
    Raises ValueError when a later point has more persons at risk or events than an earlier
    one (the counts must come from one curve)."""
    n = np.asarray(at_risk, dtype=float)
    after = np.asarray(events_after, dtype=float)
    d = after[:-1] - after[1:]
    c = n[:-1] - n[1:] - d
    if (d < 0).any() or (c < 0).any():
        raise ValueError("life_table_on_points: at-risk and event counts must not grow over time")
    eff = n[:-1] - c / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.concatenate([[1.0], np.cumprod(np.where(eff > 0, 1 - d / eff, 1.0))])
        var = np.concatenate([[0.0], np.cumsum(np.where(eff > d, d / (eff * (eff - d)), 0.0))])
        log_s = np.log(s)
        spread = z * np.sqrt(var) / np.abs(log_s)
        lo = np.where(s < 1, np.exp(-np.exp(np.log(-log_s) + spread)), 1.0)
        hi = np.where(s < 1, np.exp(-np.exp(np.log(-log_s) - spread)), 1.0)
    lo = np.where(s > 0, lo, 0.0)
    hi = np.where(s > 0, hi, 0.0)
    return pd.DataFrame({"survival": s, "ci_low": lo, "ci_high": hi})


def km_curves_for_pgs(
    mdd: pd.DataFrame, pgs_col: str, *, duration: str, event: str, step_days: int
) -> pd.DataFrame:
    """Curves for one PGS among MDD persons: tertile + km_on_grid columns (empty if no data)."""
    if pgs_col not in mdd.columns:
        return pd.DataFrame(columns=["tertile", *KM_GRID_COLUMNS])
    data = complete_cases(mdd, [duration, event, pgs_col])
    data = data[data[duration] >= 0]
    if len(data) < N_GROUPS:
        return pd.DataFrame(columns=["tertile", *KM_GRID_COLUMNS])
    tertile = pgs_tertile(data[pgs_col])
    if len(np.unique(tertile)) < N_GROUPS:
        # A PGS third without persons (a tied block across a cut point): no curves, as for too
        # few persons (the report's reason: a third starts with fewer than T persons).
        return pd.DataFrame(columns=["tertile", *KM_GRID_COLUMNS])
    grid = np.arange(0, data[duration].max() + 1, step_days)
    parts = []
    for k in range(1, N_GROUPS + 1):
        g = data[tertile == k]
        parts.append(km_on_grid(g[duration].to_numpy(), g[event].to_numpy(), grid).assign(tertile=k))
    return pd.concat(parts, ignore_index=True)


def km_group(
    frame: pd.DataFrame, *, panel: Iterable[ScoredTrait], duration: str, event: str, step_days: int
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
