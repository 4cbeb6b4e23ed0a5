"""Kaplan-Meier curves by PGS tertile: product-limit values by hand, on a day grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_sim import PGS_IDS, grid_config, simulate_frame

from trd_spark.models.km import coarsen_km, km_curves, km_on_grid, pgs_tertile
from trd_spark.schemas import KM_CURVES


def test_product_limit_by_hand_on_a_grid():
    # t=1: 5 at risk, 1 event -> 0.8; t=2: 4 at risk, 1 event (1 censored) -> 0.6; t=3: 2 at risk -> 0.3.
    # Grid values are taken at the start of the day: S(2-) = 0.8, S(4-) = 0.3.
    out = km_on_grid(np.array([1, 2, 2, 3, 5.0]), np.array([1, 1, 0, 1, 0.0]), np.array([0, 2, 4]))
    assert out["survival"].tolist() == pytest.approx([1.0, 0.8, 0.3])
    assert out["n_at_risk"].tolist() == [5, 4, 1]
    assert out["n_events_after"].tolist() == [3, 2, 0]
    assert (out["ci_low"] <= out["survival"]).all() and (out["survival"] <= out["ci_high"]).all()
    assert out.loc[0, "ci_low"] == 1.0


def test_tertiles_split_in_equal_thirds_by_rank():
    assert pgs_tertile(pd.Series([0.5, -1.0, 2.0, 0.1, -0.3, 1.5])).tolist() == [2, 1, 3, 2, 1, 3]


def test_curves_per_pgs_and_tertile_follow_the_planted_effect():
    """simulate_frame: the 4th PGS shortens time to TRD, so its top tertile stays TRD-free less."""
    cfg = grid_config(km_step_days=100)
    frame = simulate_frame(seed=8, n=1500)
    out = km_curves(frame, cfg)
    assert list(out.columns) == KM_CURVES.names
    assert set(out.pgs_id) == set(PGS_IDS) and set(out.tertile) == {1, 2, 3}
    one = out[out.pgs_id == "PGS900004"]
    for _, curve in one.groupby("tertile"):
        assert (np.diff(curve["survival"].to_numpy()) <= 1e-15).all()  # non-increasing
        assert (np.diff(curve["n_at_risk"].to_numpy()) <= 0).all()
    at = one[one.time_days == 1000].set_index("tertile")["survival"]
    assert at[3] < at[2] < at[1]
    first = one[one.time_days == 0]
    mdd = frame[frame.status != "non_MDD"]
    assert first["n_at_risk"].sum() == len(mdd) and (first["survival"] == 1.0).all()


def _grid(tertiles: dict, pgs: str = "P") -> pd.DataFrame:
    rows = [("d", "x", pgs, "t", k, t, r, a, 1.0, 1.0, 1.0)
            for k, pts in tertiles.items() for t, r, a in pts]
    return pd.DataFrame(rows, columns=KM_CURVES.names)


def test_coarsened_curve_keeps_only_steps_of_20_events_and_censored_0_or_20():
    # (time, at risk, events from then on) per tertile, worked out by hand:
    one = [(0, 100, 50), (30, 85, 40), (60, 70, 28), (90, 40, 10), (120, 15, 5)]
    # 30: 10 events (too few); 60: 22 events but 8 censored; 90: 40 events, 20 censored -> kept;
    # 120: 15 at risk -> the curve ends.
    two = [(0, 100, 50), (30, 80, 30), (60, 60, 25), (90, 30, 0), (120, 20, 0)]
    # 30: 20 events, 0 censored -> kept; 60: 5 events; 90: 30 events, 20 censored since 30 -> kept;
    # 120: no event.
    small = [(0, 19, 5), (30, 10, 0)]
    km = pd.concat([_grid({1: one, 2: two, 3: two}), _grid({1: two, 2: two, 3: small}, pgs="Q")])
    out = coarsen_km(km, 20)
    assert set(out.pgs_id) == {"P"}  # Q: a third of 19 persons, the whole curve set is left out
    kept = out.groupby("tertile")["time_days"].apply(list).to_dict()
    assert kept == {1: [0, 90], 2: [0, 30, 90], 3: [0, 30, 90]}
