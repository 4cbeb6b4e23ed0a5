"""Cohort, models and report field cases, round 41 (session 49, helper models41).

one-sex-without-cases: a dataset where one sex has no case of a contrast (a replication set's few
TRD persons all men; Cox: no woman reaches TRD) has an empty sex x outcome cell. The MLE of
sex_female is then infinite (quasi-complete separation; Cox: a monotone partial likelihood) and
every PGS fit of that dataset x contrast was a failed row (``quasi_separation`` /
``perfect_separation``), the dataset lost to the replication and the meta-analysis, while the PGS
coefficient has an MLE: as sex_female's coefficient runs off, the persons of the sex without cases
are fitted exactly (Cox: leave every risk set) and add nothing, so the other coefficients' MLE is
the fit within the other sex without sex (Stata's ``logit`` drops such a covariate and its
persons). Now ``models.covariates.empty_cell`` finds the cell and ``prefit_check`` fits at that
limit: the estimate among the persons at the other value, the covariate dropped, a note naming
the value; N and cases stay the model's (no new count published); the report's Methods say so,
and a TRD - trMDD difference or a replication row built on such a fit says so in its note.
Oracles: statsmodels ``Logit`` / lifelines ``CoxPHFitter`` called directly on the persons at the
other value, and the full model with sex_female's coefficient held at -40 (an offset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from models_sim import grid_config, simulate_frame

from trd_spark.models.cox import cox_grid, mdd_frame
from trd_spark.models.logistic import contrast_frame, fit_logistic, logistic_grid
from trd_spark.models.synthesis import difference_table, meta_table, replication_table
from trd_spark.report.tables import ReleaseCounts, hide_estimates_of_hidden_counts
from trd_spark.vocabulary import HiddenEstimatesNote, ModelFailure

PGS = "PGS900004"
OTHER = ["age", "pc1", "pc2"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two datasets of 600 persons (the toy config's names); in replication_wgs no woman is TRD
    (her status becomes trMDD) and (Cox) no woman has the TRD event."""
    f = simulate_frame(seed=41, n=600, datasets=("discovery", "replication_wgs"))
    women = (f["dataset"] == "replication_wgs") & (f["sex_female"] == 1)
    f.loc[women & (f["status"] == "TRD"), "status"] = "trMDD"
    f.loc[women & (f["trd_event"] == 1), "trd_event"] = 0.0
    return f


def logit(data: pd.DataFrame, covs: list[str], offset=None):
    """statsmodels ``Logit(case, add_constant([PGS, *covs]), offset).fit(disp=0)``."""
    return sm.Logit(data["case"].astype(float), sm.add_constant(data[[PGS, *covs]].astype(float)),
                    offset=offset).fit(disp=0)


def test_one_sex_without_a_case_is_fitted_at_its_limit(frame):
    """replication_wgs' TRD vs non-MDD and TRD vs trMDD: on 241c7d9 failed rows (quasi_separation,
    beta NaN), the meta-analysis pooling discovery alone (k 1). Now the estimate equals statsmodels
    on the men without sex, which is the full model's at sex_female's coefficient -40 (to 1e-6);
    N and cases are the contrast's persons; discovery is the plain full fit. The TRD - trMDD
    difference and the replication row built on such a fit say so (on d3a7f55, the limit fit
    without those notes: the difference's note "")."""
    cfg = grid_config(contrasts=["trd_vs_nonmdd", "trd_vs_trmdd", "trmdd_vs_nonmdd"])
    grid = logistic_grid(frame, cfg).set_index(["dataset", "contrast", "pgs_id"])
    for contrast in ("trd_vs_nonmdd", "trd_vs_trmdd"):
        sub = contrast_frame(frame[frame["dataset"] == "replication_wgs"], contrast)
        row = grid.loc[("replication_wgs", contrast, PGS)]
        men = logit(sub[sub["sex_female"] == 0], OTHER)
        limit = logit(sub, OTHER, offset=-40.0 * sub["sex_female"].to_numpy(float))
        assert row["converged"] and row["failure_reason"] is None, row.to_dict()
        assert row["beta"] == pytest.approx(men.params[PGS], rel=1e-7)
        assert row["se"] == pytest.approx(men.bse[PGS], rel=1e-6)
        assert row["p"] == pytest.approx(men.pvalues[PGS], rel=1e-5)
        assert limit.params[PGS] == pytest.approx(men.params[PGS], rel=1e-6)
        assert (row["n"], row["n_cases"]) == (len(sub), int(sub["case"].sum()))
        assert row["note"] == ("no case at sex_female = 1: the PGS estimated among sex_female = 0 (the fit's "
                               "limit: sex_female's coefficient is infinite and its persons at 1 add nothing)")
    # Women are trMDD persons there: trMDD vs non-MDD has both sexes among cases, the full model.
    sub = contrast_frame(frame[frame["dataset"] == "replication_wgs"], "trmdd_vs_nonmdd")
    row = grid.loc[("replication_wgs", "trmdd_vs_nonmdd", PGS)]
    assert row["note"] == "" and row["beta"] == pytest.approx(logit(sub, ["age", "sex_female", "pc1", "pc2"])
                                                              .params[PGS], rel=1e-7)
    meta = meta_table(grid.reset_index(), cfg)
    pooled = meta[(meta["contrast"] == "trd_vs_nonmdd") & (meta["pgs_id"] == PGS)].iloc[0]
    assert (pooled["k"], pooled["datasets"]) == (2, "discovery,replication_wgs")
    # The pooled estimate says it pools the men's fit (on 9a61af7 meta had no note: KeyError).
    assert pooled["note"] == ("includes a fit estimated among the persons at one value of a 0/1 covariate: "
                              "replication_wgs (its note)")
    both = meta[(meta["contrast"] == "trmdd_vs_nonmdd") & (meta["pgs_id"] == PGS)].iloc[0]
    assert both["k"] == 2 and both["note"] == ""  # both sexes' fits in both datasets
    # export/meta.tsv shows it where the row is shown; a row blanked for a hidden count says only that.
    logistic = grid.reset_index()
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(), cohort_counts=None, logistic=logistic, cox=None,
                       pgs_distribution=None, primary_definition="ad3", meta=meta)
    shown = hide_estimates_of_hidden_counts({"logistic": logistic}, rc)["meta"]
    assert list(shown.loc[pooled.name, ["k", "note"]]) == [2, pooled["note"]]
    hide = (logistic["dataset"] == "discovery") & (logistic["contrast"] == "trd_vs_nonmdd")
    safe = logistic.astype({"n_cases": object}).assign(n_cases=np.where(hide, "<20", logistic["n_cases"]))
    blank = hide_estimates_of_hidden_counts({"logistic": safe}, rc)["meta"]
    assert blank.loc[pooled.name, "note"] == HiddenEstimatesNote.HIDDEN_COUNT
    # What is built on such a fit says so: the TRD - trMDD difference compares men's TRD
    # estimate with both sexes' trMDD one, and a replication row's estimate is the men's.
    diff = difference_table(grid.reset_index()).set_index(["dataset", "pgs_id"])["note"]
    assert diff[("replication_wgs", PGS)] == ("a TRD or trMDD vs non-MDD fit is estimated among the persons at one value "
                                          "of a 0/1 covariate (its note)")
    assert set(diff.loc["discovery"]) == {""}
    rep = replication_table(grid.reset_index(), cfg).set_index(["contrast", "pgs_id"])
    assert rep.loc[("trd_vs_trmdd", PGS), "note"] == "replication fit: " + grid.loc[("replication_wgs", "trd_vs_trmdd",
                                                                                      PGS), "note"]
    assert rep.loc[("trd_vs_trmdd", PGS), "beta"] == grid.loc[("replication_wgs", "trd_vs_trmdd", PGS), "beta"]


def test_one_sex_without_a_control_and_cox_without_an_event(frame):
    """The other empty cells: every woman a case (logistic: the fit among men), and Cox with no
    woman's TRD event in replication (lifelines on its men). On 241c7d9 both failed rows. A limit
    fit with too few cases among the persons it fits (3 men) fails as too few cases, the count
    check made again on them (with N and cases the model's)."""
    sub = contrast_frame(frame[frame["dataset"] == "discovery"], "trd_vs_nonmdd")
    sub.loc[sub["sex_female"] == 1, "case"] = 1
    got = fit_logistic(sub, PGS, ["age", "sex_female", "pc1", "pc2"])
    assert got["converged"] and got["beta"] == pytest.approx(logit(sub[sub["sex_female"] == 0], OTHER).params[PGS],
                                                             rel=1e-7)
    assert got["note"].startswith("no control at sex_female = 1: the PGS estimated among sex_female = 0 ")

    male_cases = sub.index[(sub["sex_female"] == 0) & (sub["case"] == 1)]
    few = sub.drop(male_cases[3:])
    got = fit_logistic(few, PGS, ["age", "sex_female", "pc1", "pc2"], min_cases=5)
    assert (got["converged"], got["failure_reason"]) == (False, ModelFailure.TOO_FEW_CASES), got
    assert (got["n"], got["n_cases"]) == (len(few), int(few["case"].sum())) and got["n_cases"] > 5
    assert got["note"].endswith("too few cases among them (fewer than min_cases=5)")

    cfg = grid_config()
    cox = cox_grid(frame, cfg).set_index(["dataset", "pgs_id"])
    row = cox.loc[("replication_wgs", PGS)]
    mdd = mdd_frame(frame[frame["dataset"] == "replication_wgs"])
    men = mdd[mdd["sex_female"] == 0][["time_to_trd_days", "trd_event", PGS, "age_at_index", "pc1", "pc2"]]
    ref = CoxPHFitter().fit(men.astype(float), "time_to_trd_days", "trd_event").summary.loc[PGS]
    assert row["converged"] and row["failure_reason"] is None, row.to_dict()
    assert row["beta"] == pytest.approx(ref["coef"], rel=1e-6)
    assert row["se"] == pytest.approx(ref["se(coef)"], rel=1e-6)
    assert (row["n"], row["n_events"]) == (len(mdd), int(mdd["trd_event"].sum()))
    assert row["note"].startswith("no event at sex_female = 1: the PGS estimated among sex_female = 0 ")
    assert np.isfinite(cox.loc[("discovery", PGS), "beta"]) and cox.loc[("discovery", PGS), "note"] == ""


def test_a_random_effects_meta_analysis_of_one_dataset_has_no_tau2():
    """meta-one-dataset: a score fitted in one dataset only (the others failed: no case, too few
    events) is "pooled" over k 1. Q and I^2 were NaN (empty in report.html) and DerSimonian-Laird's
    tau^2 0.0 (shown "0.000", read as no heterogeneity), where DL's (Q - (k-1)) / (sum w - sum w^2 /
    sum w) is 0/0. Now tau^2 is NaN under random with k 1 (empty, as I^2); fixed keeps its 0 (its
    model's). On 28b8e17: 0.0."""
    from trd_spark.models.synthesis import meta_analyse
    from trd_spark.report.html import html_table

    random, fixed = (meta_analyse(np.array([0.3]), np.array([0.1]), m) for m in ("random", "fixed"))
    assert (random["k"], random["beta"], random["se"]) == (1, 0.3, 0.1)
    assert np.isnan(random["tau2"]) and np.isnan(random["i2"]) and np.isnan(random["cochran_q"])
    assert fixed["tau2"] == 0.0
    page = html_table(pd.DataFrame([{k: random[k] for k in ("k", "cochran_q", "i2", "tau2")}]), "meta")
    assert page.count("<td></td>") == 3 and "<td>1</td>" in page, page
