"""applyInPandas grids give the serial loop's rows (same fits, same order, equal to 1e-12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_sim import PGS_IDS, grid_config, simulate_frame, to_spark

from trd_spark.errors import ModelError
from trd_spark.models.cox import cox_grid
from trd_spark.models.distributed import cox_grid_spark, km_curves_spark, logistic_grid_spark
from trd_spark.models.km import km_curves
from trd_spark.models.logistic import logistic_grid
from trd_spark.schemas import COX_RESULTS_COLUMNS, KM_CURVES, LOGISTIC_RESULTS_COLUMNS


@pytest.fixture(scope="module")
def frames(spark):
    frame = simulate_frame(seed=31, n=220, datasets=("discovery", "replication_wgs"), definitions=("ad3", "somatic"))
    # Failures must travel as rows too: no variance for one PGS in one slice, no trMDD at all in another.
    frame.loc[(frame.dataset == "replication_wgs") & (frame.definition == "ad3"), "PGS900010"] = 0.0
    frame.loc[(frame.dataset == "discovery") & (frame.definition == "somatic") & (frame.status == "trMDD"),
              "status"] = "MDD_other"
    # Spark hands groups over in its own row order: shuffle so the order really differs.
    sdf = to_spark(spark, frame.sample(frac=1.0, random_state=3)).repartition(3)
    return frame, sdf


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    assert list(got.columns) == columns and len(got) == len(want)
    for c in columns:
        g, w = got[c].to_numpy(), want[c].to_numpy()
        if w.dtype.kind == "f":
            g, w = g.astype(float), w.astype(float)
            assert np.array_equal(np.isnan(g), np.isnan(w)), c
            ok = ~np.isnan(w)
            np.testing.assert_allclose(g[ok], w[ok], rtol=1e-12, atol=1e-12, err_msg=c)
        else:
            assert g.tolist() == w.tolist(), c


def test_logistic_distributed_equals_serial(frames):
    frame, sdf = frames
    cfg = grid_config()
    got, want = logistic_grid_spark(sdf, cfg), logistic_grid(frame, cfg)
    assert_same_rows(got, want, LOGISTIC_RESULTS_COLUMNS)
    assert len(got) == 2 * 2 * 4 * len(PGS_IDS)
    failed = got[~got.converged.astype(bool)]
    assert set(failed.note) == {"PGS has zero variance", "too few cases (fewer than min_cases=5)",
                                "too few controls (fewer than min_cases=5)"}
    # 4 contrasts in the zero-variance slice; trMDD-vs-non-MDD and TRD-vs-trMDD for every PGS where no trMDD.
    assert len(failed) == 4 + 2 * len(PGS_IDS)


def test_cox_distributed_equals_serial(frames):
    frame, sdf = frames
    cfg = grid_config()
    got, want = cox_grid_spark(sdf, cfg), cox_grid(frame, cfg)
    assert_same_rows(got, want, COX_RESULTS_COLUMNS)
    assert len(got) == 2 * 2 * len(PGS_IDS) and got.ph_p.notna().sum() == got.converged.sum()


def test_km_distributed_equals_serial(frames):
    frame, sdf = frames
    cfg = grid_config(km_step_days=90)
    got, want = km_curves_spark(sdf, cfg), km_curves(frame, cfg)
    assert_same_rows(got, want, KM_CURVES.names)
    assert set(got.tertile) == {1, 2, 3} and (got.time_days % 90 == 0).all()


def test_unknown_status_is_one_clear_error(spark):
    frame = simulate_frame(seed=2, n=60)
    frame.loc[0, "status"] = "bipolar"
    with pytest.raises(ModelError, match=r"unknown status values \['bipolar'\]"):
        logistic_grid_spark(to_spark(spark, frame), grid_config())
