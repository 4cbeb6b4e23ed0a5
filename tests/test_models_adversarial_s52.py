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


@pytest.mark.parametrize(("status", "event", "new"), [("TRD", 1.0, np.nan), ("trMDD", 0.0, 1.0), ("MDD_other", 0.0, np.nan)],
                         ids=["trd_nan", "trmdd_event", "event_nan"])
def test_an_event_that_disagrees_with_the_status_is_refused(frame, status, event, new):
    """Before session 52 a trMDD person with trd_event 1 was an event in the Cox fit and a control of
    the TRD contrasts, the tables disagreeing without a word. The phenotype stage makes the status and
    the event from one rule. A TRD person's event 0 is allowed since session 53 (an onset after the
    end of the Cox time at risk, ``phenotypes.cox_time_at_risk``; tests/test_cox_s53.py)."""
    f = frame.copy()
    f.loc[_first(f, status, event), EVENT] = new
    with pytest.raises(ModelError, match=r"analysis_frame\.trd_event.*0 or 1 for every TRD person"):
        _cox_check(f)
    censored = frame.copy()
    censored.loc[_first(censored, "TRD", 1.0), EVENT] = 0.0
    _cox_check(censored)


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
    bad.loc[_first(bad, "trMDD", 0.0), EVENT] = 1.0
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



# ---------------------------------------------------------------- 5. a covariate collinear with others

COVS = ["age", "sex_female", "pc1", "pc2"]


@pytest.mark.parametrize("make", [lambda d, age: 2.0 * d["pc1"] + 1.0,
                                  lambda d, age: d["pc1"] + 1e-9 * np.random.default_rng(5).normal(size=len(d)),
                                  lambda d, age: d[age] / 10.0 - 3.0],
                         ids=["rescaled_pc1", "pc1_plus_rounding", "age_rescaled"])
def test_a_collinear_covariate_is_dropped_and_the_pgs_estimated(frame, make):
    """Before session 52 a PC equal to another (or to age) up to scale and shift failed every fit of its
    dataset: ``singular_design`` for an exact copy, ``not_converged`` after 100 Newton iterations for a
    copy plus rounding noise (logistic), lifelines' "collinearity" error (Cox). The PGS coefficient is
    the same for any basis of the covariates' span: statsmodels ``Logit`` and lifelines ``CoxPHFitter``
    called directly without the aliased column (R's ``lm``/``glm`` report it NA, Stata omits it). Now
    the column is dropped (``covariates.aliased_columns``, R's tolerance), noted, and the estimate is
    that fit's."""
    import statsmodels.api as sm
    from lifelines import CoxPHFitter

    from trd_spark.models.covariates import COLLINEAR_NOTE
    from trd_spark.models.cox import fit_cox, mdd_frame
    from trd_spark.models.logistic import contrast_frame, fit_logistic

    sub = contrast_frame(frame[frame["dataset"] == "discovery"], "trd_vs_nonmdd")
    sub["pc2"] = make(sub, "age")
    got = fit_logistic(sub, PGS, COVS)
    x = sm.add_constant(sub[[PGS, "age", "sex_female", "pc1"]].astype(float))
    ref = sm.Logit(sub["case"].astype(float), x).fit(disp=0)
    assert got["converged"] and got["failure_reason"] is None, got
    assert f"{COLLINEAR_NOTE}: pc2" in got["note"]
    assert got["beta"] == pytest.approx(ref.params[PGS], rel=1e-7)
    assert got["se"] == pytest.approx(ref.bse[PGS], rel=1e-6)

    mdd = mdd_frame(frame[frame["dataset"] == "discovery"]).copy()
    mdd["pc2"] = make(mdd, "age_at_index")
    cox = fit_cox(mdd, PGS, ["age_at_index", "sex_female", "pc1", "pc2"])
    cols = [DURATION, EVENT, PGS, "age_at_index", "sex_female", "pc1"]
    row = CoxPHFitter().fit(mdd[cols].astype(float), duration_col=DURATION, event_col=EVENT).summary.loc[PGS]
    assert cox["converged"] and f"{COLLINEAR_NOTE}: pc2" in cox["note"], cox
    assert cox["beta"] == pytest.approx(row["coef"], rel=1e-6)


def test_a_pgs_collinear_with_the_covariates_is_a_failed_row_and_the_stage_warns(frame, caplog):
    """A PGS that is a covariate up to scale and shift (or rounding) has no estimate of its own:
    ``singular_design`` naming the PGS (before session 52 a PGS equal to pc1 plus rounding noise was
    ``not_converged``, "did not converge in 100 Newton iterations"). The stage names a dataset whose
    fits dropped a collinear covariate in one WARNING (names only, no count)."""
    import logging

    from trd_spark.models.logistic import contrast_frame, fit_logistic
    from trd_spark.models.stage import warn_collinear_covariates

    sub = contrast_frame(frame[frame["dataset"] == "discovery"], "trd_vs_nonmdd")
    sub[PGS] = sub["pc1"] + 1e-9 * np.random.default_rng(6).normal(size=len(sub))
    got = fit_logistic(sub, PGS, COVS)
    assert not got["converged"] and got["failure_reason"] == "singular_design"
    assert "the PGS is a linear function of the covariates" in got["note"]

    sub = contrast_frame(frame, "trd_vs_nonmdd")
    sub["pc2"] = np.where(sub["dataset"] == "replication_wgs", -sub["pc1"], sub["pc2"])
    rows = pd.DataFrame([{"dataset": ds, **fit_logistic(g, PGS, COVS)} for ds, g in sub.groupby("dataset")])
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        assert warn_collinear_covariates("logistic", rows) == {"replication_wgs": ["pc2"]}
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "dataset replication_wgs: covariate(s) pc2 a linear function" in line
