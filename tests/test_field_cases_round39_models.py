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

pc-adjusted-missing-pc: under ``pgs.standardisation: pc_adjusted`` a person without a value of a
standardisation PC is left out of the analysis frame; the cohort flow now counts them out of its
"with genetic ancestry and PCs" step (the last test's docstring).
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


def test_persons_without_a_standardisation_pc_are_counted_out_of_the_flow_step_with_pcs(spark, tmp_path, caplog):
    """pc-adjusted-missing-pc: under ``pgs.standardisation: pc_adjusted`` a person of the ancestry
    file whose ``pca_features`` has an empty element among the standardisation PCs (null PC) cannot
    be PC-adjusted and ``standardise_datasets`` drops them. The cohort flow counted them "with
    genetic ancestry and PCs" and lost them at the analysis frame's step, whose words say "sex
    male/female, analysed status" (report.html: "no EHR person, sex not male/female or no
    analysed status"): 50 where 47 have PCs. Now they are counted out of that step, with one
    WARNING naming the PCs, as the empty ancestry_pred is under ``ancestry``."""
    import datetime as dt
    import logging

    import yaml
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.config import REPO_CONF_DIR
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage
    from trd_spark.vocabulary import DatasetFlowStep

    rng = np.random.default_rng(47)
    ids = list(range(1, 51))
    # A second element empty ("[0.1234, ]") or NaN ("[0.1234, nan]": Spark reads it as NaN, not null).
    lacking = {7: "", 19: "nan", 33: ""}
    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n" + "".join(
        f"{i}\teur\t[{rng.normal():.4f}, {lacking[i] if i in lacking else f'{rng.normal():.4f}'}]\n" for i in ids))
    pgs = {**yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())["pgs"], "standardisation": "pc_adjusted",
           "trait_panel": str(REPO_CONF_DIR / "trait_panel_toy.yaml"), "standardisation_n_pcs": 2}
    datasets = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": "d.vcf.bgz"}}]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets, pgs=pgs)
    d = dt.date(2020, 1, 1)
    publish_cohort_inputs(
        spark, cfg, [("discovery", i, "PGS900001", float(v)) for i, v in zip(ids, rng.normal(3, 2, len(ids)))], ids,
        [(i, "ad3", "non_MDD", None, None, None, d, None, None, 0, "female", None, 60.0) for i in ids])
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "cohort")

    layout = Layout.of(cfg)
    flow = spark.read.parquet(layout.table("cohort", "dataset_flow")).toPandas().set_index("step")["n"]
    frame = spark.read.parquet(layout.table("cohort", "analysis_frame")).toPandas()
    assert sorted(frame["person_id"]) == [i for i in ids if i not in lacking]
    assert flow[str(DatasetFlowStep.UNRELATED)] == 50
    assert flow[str(DatasetFlowStep.WITH_ANCESTRY)] == flow[str(DatasetFlowStep.IN_FRAME)] == 47
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warned if "standardisation PC" in m] == [
        "dataset discovery: <20 unrelated person(s) without a value of every standardisation PC (pc1, pc2) left out "
        "under pgs.standardisation pc_adjusted (no PC adjustment possible; counted in the cohort flow's step "
        f"{str(DatasetFlowStep.WITH_ANCESTRY)!r})"]
