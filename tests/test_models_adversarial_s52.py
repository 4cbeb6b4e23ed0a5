"""Session 52, helper "models": the models stage on adversarial analysis frames.

Each frame below is one the cohort and phenotype stages never write, but an analysis frame built
otherwise (an older release's phenotypes, a hand-made frame) can hold; before session 52 the models
fitted it without a word (benchmarks/RESULTS.md, "Session 52 models"):

1. an MDD person with a null, NaN or negative ``time_to_trd_days`` was left out of every Cox fit,
   the row noting "persons with ... left out" without a count;
2. a TRD person with ``trd_event`` 0 (or a trMDD / MDD_other person with 1) was a case in the
   logistic models and a censored person in the Cox model (an event), the tables disagreeing;
3. ``sex_female`` null or not 0/1 (a 2) was left out as a missing value, or fitted as a number;
4. a person in two datasets, or on two rows of one (dataset, definition), was fitted twice (in one
   fit, or in two datasets the meta-analysis pools as independent).

Now each is one ModelError naming the analysis frame's column (1-3: the grids' pre-check,
``logistic.check_analysis_frame`` and its Spark twin ``distributed._model_columns``; 4: the models
stage's ``load_analysis_frame``, as the serial grids also fit pooled simulations whose datasets
reuse person ids). The pure fitters (``fit_logistic`` / ``fit_cox``) keep their
documented behaviour on such rows. Pure pandas, plus two Spark checks on the shared session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_sim import grid_config, simulate_frame, to_spark

from trd_spark.errors import ModelError
from trd_spark.models.covariates import COX_AGE, covariate_columns
from trd_spark.models.cox import DURATION, EVENT, cox_grid
from trd_spark.models.logistic import check_analysis_frame, logistic_grid

PGS = "PGS900004"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two datasets x one definition of 300 persons each (models_sim: consistent statuses and Cox outcome)."""
    return simulate_frame(seed=52, n=300, datasets=("discovery", "replication_wgs"))


def _cox_check(f: pd.DataFrame) -> None:
    check_analysis_frame(f, covariate_columns(grid_config(), age=COX_AGE), extra=(DURATION, EVENT))


def _first(f: pd.DataFrame, status: str, event: float | None = None) -> int:
    rows = f[(f["status"] == status) & ((f[EVENT] == event) if event is not None else True)]
    return int(rows.index[0])


@pytest.mark.parametrize(("status", "value"), [("trMDD", -30.0), ("TRD", np.nan), ("MDD_other", None)],
                         ids=["negative", "nan", "null"])
def test_an_mdd_person_without_a_time_is_refused_not_left_out(frame, status, value):
    """Before session 52 ``cox_grid`` fitted the frame: the person was left out of every Cox fit, the
    row's n one smaller and its note "persons with a negative time_to_trd_days left out" (or "with
    missing values"), no count anywhere. The phenotype stage gives every MDD person a time of at
    least 1 day; a non-MDD person's empty time is the design (not in the Cox population)."""
    _cox_check(frame)  # the consistent frame passes, non-MDD persons without a time included
    f = frame.copy()
    f[DURATION] = f[DURATION].astype(object)
    f.loc[_first(f, status), DURATION] = value
    with pytest.raises(ModelError, match=r"analysis_frame\.time_to_trd_days.*without a time_to_trd_days of 0 or more"):
        cox_grid(f, grid_config())
    # The logistic models need no time: the same frame passes their check.
    check_analysis_frame(f, covariate_columns(grid_config()))


@pytest.mark.parametrize(("status", "event", "new"), [("TRD", 1.0, 0.0), ("trMDD", 0.0, 1.0), ("MDD_other", 0.0, np.nan)],
                         ids=["trd_censored", "trmdd_event", "event_nan"])
def test_an_event_that_disagrees_with_the_status_is_refused(frame, status, event, new):
    """Before session 52 a TRD person with trd_event 0 was censored in the Cox fit and a case of
    the TRD contrasts (a trMDD person with 1: an event and a control), the tables disagreeing
    without a word. The phenotype stage makes status TRD and the event 1 from one rule."""
    f = frame.copy()
    f.loc[_first(f, status, event), EVENT] = new
    with pytest.raises(ModelError, match=r"analysis_frame\.trd_event.*1 for every TRD person"):
        _cox_check(f)


@pytest.mark.parametrize("value", [2, np.nan], ids=["two", "nan"])
def test_a_sex_that_is_not_0_or_1_is_refused(frame, value):
    """Before session 52 a sex_female of 2 was fitted as a number (the sex coefficient a slope) and a
    NaN left the person out of every fit as a missing value, noted without a count. The cohort stage
    codes female 1, male 0 and leaves other sexes out."""
    f = frame.copy()
    f["sex_female"] = f["sex_female"].astype(float)
    f.loc[_first(f, "non_MDD"), "sex_female"] = value
    with pytest.raises(ModelError, match=r"analysis_frame\.sex_female.*must be 0 or 1"):
        logistic_grid(f, grid_config())
    # Without the sex covariate the column is not read.
    check_analysis_frame(f, ["age", "pc1", "pc2"])


def test_the_models_stage_refuses_a_person_twice(spark, tmp_path, frame):
    """Before session 52 the models stage fitted both: a person in two datasets entered both datasets'
    fits (the meta-analysis pools them as independent), and a row repeated within a (dataset,
    definition) doubled the person's weight (n one larger than the persons). Now ``load_analysis_frame``
    refuses the frame before any fit (one Spark job, ``distributed.persons_on_more_rows``), the stage
    leaving nothing complete. A person of two definitions is the design (one row per definition)."""
    from models_sim import make_config

    from trd_spark.layout import publish_stage
    from trd_spark.models.distributed import persons_on_more_rows
    from trd_spark.pipeline import run_stage

    twice = pd.concat([frame, frame.iloc[[3, 4]], frame.assign(definition="ad2")], ignore_index=True)
    # a discovery row given a replication_wgs person's id: that person in two datasets (and on two ad3 rows)
    twice.loc[5, "person_id"] = frame.loc[frame["dataset"] == "replication_wgs", "person_id"].iloc[0]
    assert persons_on_more_rows(to_spark(spark, twice)) == (twice["person_id"].nunique(), 1, 3)
    assert persons_on_more_rows(to_spark(spark, twice.drop(index=5))) == (frame["person_id"].nunique(), 0, 2)
    two_definitions = pd.concat([frame, frame.assign(definition="ad2")], ignore_index=True)
    assert persons_on_more_rows(to_spark(spark, two_definitions)) == (frame["person_id"].nunique(), 0, 0)

    cfg = make_config(tmp_path, models={"cox": False})
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, twice.drop(index=5)))
    with pytest.raises(ModelError, match=r"analysis_frame\.person_id.*more than one row of one"):
        run_stage(spark, cfg, "models")
    assert not (Path(cfg.output_root) / cfg.release / "models" / "_SUCCESS").exists()


def test_the_spark_path_refuses_the_same_frames(spark, frame):
    """The Spark grids' check (``distributed._model_columns``, one aggregation per status) refuses the
    same values as the pandas one. Before session 52 it read the ages only."""
    from trd_spark.models.distributed import cox_grid_spark, logistic_grid_spark

    cfg = grid_config()
    bad = frame.copy()
    bad.loc[_first(bad, "TRD", 1.0), EVENT] = 0.0
    bad.loc[_first(bad, "trMDD"), DURATION] = np.nan  # null in Spark (models_sim.to_spark)
    with pytest.raises(ModelError, match=r"analysis_frame\.time_to_trd_days"):
        cox_grid_spark(to_spark(spark, bad), cfg)
    bad.loc[_first(bad, "trMDD"), DURATION] = 10.0
    with pytest.raises(ModelError, match=r"analysis_frame\.trd_event"):
        cox_grid_spark(to_spark(spark, bad), cfg)
    sex = frame.copy()
    sex.loc[_first(sex, "non_MDD"), "sex_female"] = 2
    with pytest.raises(ModelError, match=r"analysis_frame\.sex_female"):
        logistic_grid_spark(to_spark(spark, sex), cfg)

