"""Session 54, helper "cox": no infinite or zero ratio published as if a number.

Before session 54 a converged fit with a huge standard error published its odds / hazard ratio
or a 95% CI bound as exp(beta +/- 1.96 se) overflowed: ``ci_high = inf`` (TSV "inf"), an OR of
``0.0``, a lifelines lower bound of NaN beside ``converged = true`` (benchmarks/RESULTS.md,
"Session 53 cox", Left). Now such a fit is a failed row (``ModelFailure.RATIO_OUT_OF_RANGE``,
estimates withheld, as ``non_finite_estimate``), a meta-analysis row whose pooled CI overflows is
withheld with a note, the models stage names them in a WARNING and counts them
(``notes.ratio_out_of_range``), and the models and report stages refuse a table that would still
publish +/-inf (``synthesis.non_finite_cells``). Oracles: statsmodels ``Logit`` and lifelines
``CoxPHFitter`` / statsmodels ``combine_effects`` called directly on the same tiny frames.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from models_sim import grid_config, simulate_frame, to_spark
from statsmodels.stats.meta_analysis import combine_effects
from test_cox_s53 import _logistic

from trd_spark.errors import ModelError
from trd_spark.models.cox import fit_cox
from trd_spark.models.logistic import Z95, fit_logistic, ratio_and_ci
from trd_spark.models.synthesis import META_OUT_OF_RANGE_NOTE, meta_table, non_finite_cells
from trd_spark.vocabulary import ModelFailure

ESTIMATES = ["beta", "se", "ci_low", "ci_high", "p"]


def _near_constant(seed: int = 1, n: int = 200) -> pd.DataFrame:
    """A PGS of SD 1e-4 (unstandardised, or nearly constant among a fit's persons), random 0/1
    outcome and event: the MLE exists and converges, its SE is ~1e3 per unit."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "pgs": rng.normal(0, 1e-4, n), "age": rng.normal(50, 10, n), "case": rng.integers(0, 2, n),
        "time_to_trd_days": rng.integers(1, 1000, n).astype(float), "trd_event": rng.integers(0, 2, n),
    })


def test_logistic_fit_whose_ci_overflows_is_a_failed_row():
    """Before session 54: converged True, odds_ratio 0.0, ci_low 0.0, ci_high inf (statsmodels'
    own exp of its finite conf_int, the oracle below, is the same inf / 0)."""
    df = _near_constant()
    res = sm.Logit(df["case"].to_numpy(), sm.add_constant(df[["pgs", "age"]].to_numpy())).fit(disp=0)
    assert res.mle_retvals["converged"]
    beta, se = float(res.params[1]), float(res.bse[1])
    assert np.isfinite(beta) and np.isfinite(se)
    with np.errstate(over="ignore"):
        ci = np.exp(res.conf_int()[1])
    assert not np.isfinite(ci).all() or (ci == 0).any()  # the oracle's own CI is not a number
    out = fit_logistic(df, "pgs", ["age"])
    assert out["converged"] is False and out["failure_reason"] == ModelFailure.RATIO_OUT_OF_RANGE
    assert np.isnan([out[c] for c in [*ESTIMATES, "odds_ratio"]]).all()
    assert "estimates withheld" in out["note"] and out["n"] == 200 and out["n_cases"] == df["case"].sum()
    # The same frame with the PGS per SD: estimates equal statsmodels' (the new check passes it).
    df["pgs"] = df["pgs"] / df["pgs"].std()
    res = sm.Logit(df["case"].to_numpy(), sm.add_constant(df[["pgs", "age"]].to_numpy())).fit(disp=0)
    out = fit_logistic(df, "pgs", ["age"])
    assert out["converged"] is True
    assert out["beta"] == pytest.approx(res.params[1], rel=1e-9)
    assert out["ci_high"] == pytest.approx(np.exp(res.params[1] + Z95 * res.bse[1]), rel=1e-9)


def test_cox_fit_whose_ci_overflows_is_a_failed_row():
    """Before session 54: converged True with hazard_ratio inf, ci_high inf and ci_low NaN (lifelines'
    own summary, the oracle below, holds the same)."""
    df = _near_constant()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph = CoxPHFitter().fit(df[["time_to_trd_days", "trd_event", "pgs", "age"]], "time_to_trd_days", "trd_event")
        row = cph.summary.loc["pgs"]
    assert np.isfinite(row["coef"]) and np.isfinite(row["se(coef)"])
    assert not np.isfinite(row["exp(coef) upper 95%"])  # lifelines prints inf
    out = fit_cox(df, "pgs", ["age"])
    assert out["converged"] is False and out["failure_reason"] == ModelFailure.RATIO_OUT_OF_RANGE
    assert np.isnan([out[c] for c in [*ESTIMATES, "hazard_ratio", "ph_statistic", "ph_p"]]).all()


@pytest.mark.parametrize("beta, se, ok", [(0.1, 0.05, True), (700.0, 10.0, False), (-740.0, 10.0, False),
                                          (0.0, 400.0, False), (600.0, 50.0, True)])
def test_ratio_and_ci_range(beta, se, ok):
    """exp(beta +/- 1.96 se) must be a positive finite double: inf above ~709.78, 0 below ~-745."""
    out = ratio_and_ci(beta, se)
    assert (out is not None) == ok
    if ok:
        assert out == pytest.approx((np.exp(beta), np.exp(beta - Z95 * se), np.exp(beta + Z95 * se)), rel=1e-12)




def test_random_effects_meta_whose_ci_overflows_is_withheld(caplog):
    """Two converged fits far apart (log-OR +/-400, se 10: each CI finite): DerSimonian-Laird's tau^2
    makes the pooled se ~400 and exp(0 + 1.96 x 400) overflows. Before session 54 the random row
    published ci_high inf, ci_low 0; now its estimates are withheld with a note and a WARNING, its
    k and heterogeneity kept; the fixed row is a number (statsmodels' combine_effects the oracle)."""
    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", 400.0, 10.0, 1e-300, True),
                    ("replication_wgs", "trd_vs_nonmdd", "P1", -400.0, 10.0, 1e-300, True)])
    res = combine_effects(np.array([400.0, -400.0]), np.array([100.0, 100.0]), method_re="chi2")
    assert res.sd_eff_w_re * Z95 > 710  # the oracle's random-effects CI overflows
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.synthesis"):
        meta = meta_table(lg, grid_config(meta_random_effects=True))
    rnd = meta[meta.method == "random"].iloc[0]
    fixed = meta[meta.method == "fixed"].iloc[0]
    assert rnd["k"] == 2 and rnd["tau2"] == pytest.approx(res.tau2, rel=1e-9)
    assert np.isnan([rnd[c] for c in ["beta", "se", "odds_ratio", "ci_low", "ci_high", "p"]]).all()
    assert META_OUT_OF_RANGE_NOTE in rnd["note"] and np.isnan(rnd["p_bonferroni"])
    assert fixed["beta"] == pytest.approx(res.mean_effect_fe, abs=1e-9) and np.isfinite(fixed["ci_high"])
    assert "random" in caplog.text and "ad3/trd_vs_nonmdd/P1" in caplog.text
    assert non_finite_cells(meta) == []


def test_non_finite_cells_names_the_row_and_column():
    """A table from elsewhere (the fitters before session 54): +/-inf in a float column or a float
    of a mixed column, and NaN in a converged row's estimate, are named; a failed row's NaN is not."""
    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", 0.1, 0.05, 0.04, True),
                    ("discovery", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, False),
                    ("discovery", "trd_vs_nonmdd", "P3", 0.1, 0.05, np.nan, True)])
    lg["ci_high"] = [1.2, np.nan, np.inf]
    lg["n"] = pd.Series(["<20", 100, -np.inf], dtype=object)
    assert non_finite_cells(lg) == ["discovery/ad3/trd_vs_nonmdd/P3: p", "discovery/ad3/trd_vs_nonmdd/P3: ci_high",
                                    "discovery/ad3/trd_vs_nonmdd/P3: n"]
    assert non_finite_cells(lg.iloc[:2]) == []


def test_models_stage_withholds_names_and_counts_overflowing_fits(spark, tmp_path, caplog):
    """The models stage on a frame whose PGS900001 is nearly constant in discovery (its SD 1e-4):
    before session 54 its three logistic rows and its Cox row were published converged with an inf
    CI bound (logistic.tsv / cox.tsv "inf"). Now: failed rows, one WARNING per table naming them,
    ``notes.ratio_out_of_range`` counting them, no inf in any published table or TSV."""
    from models_sim import make_config

    from trd_spark.layout import publish_stage
    from trd_spark.pipeline import run_stage

    frame = simulate_frame(seed=54, n=300, datasets=("discovery", "replication_wgs"))
    disc = frame["dataset"] == "discovery"
    frame.loc[disc, "PGS900001"] = frame.loc[disc, "PGS900001"] * 1e-4
    cfg = make_config(tmp_path)
    assert cfg.models.cox
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, frame))
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        run_stage(spark, cfg, "models")
    out = Path(cfg.output_root) / cfg.release / "models"
    logistic = pd.read_csv(out / "logistic.tsv", sep="\t")
    cox = pd.read_csv(out / "cox.tsv", sep="\t")
    bad = logistic[logistic.failure_reason == ModelFailure.RATIO_OUT_OF_RANGE]
    assert sorted(zip(bad.dataset, bad.pgs_id)) == [("discovery", "PGS900001")] * len(cfg.models.contrasts)
    assert list(cox.loc[cox.failure_reason == ModelFailure.RATIO_OUT_OF_RANGE, "pgs_id"]) == ["PGS900001"]
    for t in (logistic, cox):
        assert not np.isinf(t.select_dtypes("number").to_numpy(dtype=float)).any()
        assert t[t.converged.astype(bool)][["beta", "ci_low", "ci_high"]].notna().all().all()
    notes = json.loads((out / "_manifest.json").read_text())["notes"]
    assert notes["ratio_out_of_range"] == {"logistic": len(cfg.models.contrasts), "cox": 1, "meta": 0}
    lines = [r.getMessage() for r in caplog.records if "beyond double precision" in r.getMessage()]
    assert len(lines) == 2
    assert "discovery/ad3/trd_vs_nonmdd/PGS900001" in lines[0] and "discovery/ad3/PGS900001" in lines[1]


def test_models_stage_refuses_a_table_with_an_infinite_estimate():
    """``check_published_estimates``: a converged row with an inf CI bound (what fit_logistic gave
    before session 54) stops the stage with one error naming table, row and column."""
    from trd_spark.models.stage import check_published_estimates
    from trd_spark.schemas import LOGISTIC_RESULTS

    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", 0.0, 400.0, 1.0, True)])
    lg["odds_ratio"], lg["ci_low"], lg["ci_high"] = 1.0, 0.0, np.inf
    with pytest.raises(ModelError, match=r"models/logistic.*discovery/ad3/trd_vs_nonmdd/P1: ci_high"):
        check_published_estimates({"logistic": (lg, LOGISTIC_RESULTS)})


def test_compare_releases_does_not_republish_an_infinite_ratio(caplog):
    """An export written before session 54 could show a converged fit's ci_high "inf" (or an OR of 0).
    Before: compare-releases read it as a number, republished it in estimates.tsv and called the CIs
    overlapping (inf above the other CI). Now that side's estimates are empty, ci_overlap null, and a
    WARNING names the row."""
    from trd_spark.report.compare import exported_estimates

    row = {"dataset": "d", "definition": "ad3", "contrast": "trd_vs_nonmdd", "pgs_id": "PGS1", "trait": "sleep",
           "odds_ratio": "1.2", "ci_low": "1.0", "ci_high": "1.4", "p": "0.04"}
    a = pd.DataFrame([row, {**row, "pgs_id": "PGS2", "odds_ratio": "0.0", "ci_low": "0.0", "ci_high": "inf",
                            "p": "0.4"}])
    b = pd.DataFrame([row, {**row, "pgs_id": "PGS2"}])
    with caplog.at_level(logging.WARNING, logger="trd_spark.report.compare"):
        out = exported_estimates({"results.tsv": a}, {"results.tsv": b}).set_index("pgs_id")
    assert out.loc["PGS1", "ci_overlap"] is True and out.loc["PGS1", "effect_a"] == 1.2
    assert out.loc[["PGS2"], ["effect_a", "ci_low_a", "ci_high_a", "p_a"]].isna().all().all()
    assert out.loc["PGS2", "ci_overlap"] is None and out.loc["PGS2", "effect_b"] == 1.2
    assert "A's results.tsv" in caplog.text and "d/ad3/trd_vs_nonmdd/PGS2" in caplog.text
    assert non_finite_cells(out.reset_index()) == []


def test_censored_onsets_are_a_warning():
    """``phenotypes.stage.time_at_risk_log_lines``: TRD onsets censored by the index's observation
    period are events the Cox model and the KM curves lose (on All of Us, whose observation periods are
    often short and many). Before session 54 the line was INFO whatever it counted; now
    a WARNING when an onset is censored, naming the rule that keeps them; INFO when none is."""
    from trd_spark.phenotypes.stage import time_at_risk_log_lines

    def notes(censored: int) -> dict:
        return {"rule": "index_period", "n_mdd_index_before_first_period": 0, "n_mdd_index_between_periods": 0,
                "definitions": {"ad3": {"n_at_risk_shortened": 40, "n_events_censored": censored,
                                        "days_not_at_risk": 9000}}}

    [(level, text)] = time_at_risk_log_lines(notes(25), 20)
    assert level == logging.WARNING and "20+ TRD onset(s)" in text and "followup keeps them" in text
    [(level, text)] = time_at_risk_log_lines(notes(3), 20)
    assert level == logging.WARNING and "<20 TRD onset(s)" in text and " 3 " not in text
    [(level, text)] = time_at_risk_log_lines(notes(0), 20)
    assert level == logging.INFO and "followup keeps" not in text


def test_the_warning_neither_names_nor_counts_fits_with_a_small_group(caplog):
    """``models.stage.warn_ratio_out_of_range``: a fit with 1..T-1 cases or controls is not named and not
    counted in the log line (the export hides whether it failed; failing other than for too few cases
    puts its hidden count at models.min_cases or more: ``_log_fits``' rule). Before (30f3a72) the line
    counted it as "and 1 of fits with a group of 1 to 19 persons"; the return value (the manifest's
    count) still counts every such fit."""
    from trd_spark.models.stage import warn_ratio_out_of_range

    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", np.nan, np.nan, np.nan, False),
                    ("discovery", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, False),
                    ("discovery", "trd_vs_nonmdd", "P3", np.nan, np.nan, np.nan, False)])
    lg["n"], lg["n_cases"] = [300, 300, 300], [100, 7, 100]
    lg["failure_reason"] = [ModelFailure.RATIO_OUT_OF_RANGE, ModelFailure.RATIO_OUT_OF_RANGE,
                            ModelFailure.NOT_CONVERGED]
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        assert warn_ratio_out_of_range("logistic", lg, "n_cases", 20) == 2
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("logistic: 1 fit(s)") and "discovery/ad3/trd_vs_nonmdd/P1" in line
    assert "P2" not in line and "P3" not in line and " and " not in line.split("):")[-1]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        assert warn_ratio_out_of_range("logistic", lg.iloc[1:], "n_cases", 20) == 1
    assert caplog.records == []
