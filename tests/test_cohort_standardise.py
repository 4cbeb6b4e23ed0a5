"""PGS standardisation (overall, ancestry, PC-adjusted) and sample QC before it (cohort stage).

The PC-adjusted fit is checked against statsmodels called directly on the same data (OLS for
the mean, Gamma GLM with log link on squared residuals for the variance, as pgsc_calc does).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from pyspark.sql import functions as F
from test_phenotypes_support import spark_jobs

from trd_spark.cohort.sample_qc import parse_related_pairs, related_pairs_to_remove
from trd_spark.cohort.standardise import apply_pc_adjustment, fit_pc_adjustments, standardise_datasets
from trd_spark.config import TraitPanel
from trd_spark.errors import InputDataError
from trd_spark.vocabulary import FitFailure

T = 20  # report.small_count_threshold's default: the fewest persons a PC fit is made on


def standardise(frame, pgs_ids, method, *, pcs=(), dataset=""):
    """``standardise_datasets`` of a frame holding one dataset: (frame, its description)."""
    out, info = standardise_datasets(frame.withColumn("__ds", F.lit(dataset)), pgs_ids, method, "__ds", [dataset],
                                     pcs=pcs, min_samples=T)
    return out.drop("__ds"), info[dataset]


def fit_pc_adjustment(frame, pgs_ids, pcs, **options):
    """``fit_pc_adjustments`` of a frame holding one dataset."""
    return fit_pc_adjustments(frame.withColumn("__ds", F.lit("")), pgs_ids, pcs, "__ds", [""], min_samples=T,
                              **options)[""]


def _frame(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pcs = rng.normal(size=(n, 3)) * [0.05, 0.03, 0.02]  # AoU-like small PC scales
    # Score mean and SD both depend on the PCs (ancestry-structured score).
    mean = 1.0 + 20 * pcs[:, 0] - 10 * pcs[:, 1]
    sd = np.exp(0.3 + 8 * pcs[:, 0] + 5 * pcs[:, 2])
    df = pd.DataFrame(pcs, columns=["pc1", "pc2", "pc3"])
    df.insert(0, "person_id", np.arange(1, n + 1, dtype="int64"))
    df["ancestry"] = np.where(pcs[:, 0] > 0, "eur", "afr")
    df["PGS_A"] = mean + sd * rng.normal(size=n)
    df["PGS_B"] = 3.0 - 5 * pcs[:, 2] + rng.standard_t(5, size=n)
    return df


def _statsmodels_z(df: pd.DataFrame, score: str, pcs: list[str]) -> np.ndarray:
    X = sm.add_constant(df[pcs].to_numpy())
    ols = sm.OLS(df[score].to_numpy(), X).fit()
    resid = df[score].to_numpy() - ols.predict(X)
    gamma = sm.GLM(resid ** 2, X, family=sm.families.Gamma(link=sm.families.links.Log())).fit(tol=1e-12)
    return resid / np.sqrt(gamma.predict(X))


def test_pc_adjusted_equals_statsmodels(spark):
    df = _frame()
    pcs = ["pc1", "pc2", "pc3"]
    out, info = standardise(spark.createDataFrame(df), ["PGS_A", "PGS_B"], "pc_adjusted", pcs=pcs)
    got = out.toPandas().set_index("person_id").loc[df["person_id"]]
    for score in ("PGS_A", "PGS_B"):
        want = _statsmodels_z(df, score, pcs)
        np.testing.assert_allclose(got[score].to_numpy(), want, rtol=1e-6, atol=1e-8)
    assert info["method"] == "pc_adjusted" and info["pcs"] == pcs
    assert all(info["irls_iterations"][s] >= 2 for s in ("PGS_A", "PGS_B"))
    # The adjusted score no longer depends on the PCs, in mean or in spread.
    z = got["PGS_A"].to_numpy()
    assert abs(np.corrcoef(df["PGS_A"], df["pc1"])[0, 1]) > 0.3 and abs(np.corrcoef(z, df["pc1"])[0, 1]) < 0.1
    raw_ratio = df["PGS_A"][df.pc1 > 0].std() / df["PGS_A"][df.pc1 <= 0].std()
    adj_ratio = z[df.pc1 > 0].std() / z[df.pc1 <= 0].std()
    assert raw_ratio > 1.5 and abs(adj_ratio - 1) < 0.25


def test_pc_adjusted_drops_persons_without_pcs_and_nulls_constant_scores(spark):
    df = _frame(n=60)
    df["PGS_C"] = 2.5
    sdf = spark.createDataFrame(df).withColumn("pc2", F.expr("CASE WHEN person_id = 7 THEN NULL ELSE pc2 END"))
    out, info = standardise(sdf, ["PGS_A", "PGS_C"], "pc_adjusted", pcs=["pc1", "pc2"])
    rows = out.toPandas()
    assert 7 not in set(rows.person_id) and len(rows) == 59
    assert rows["PGS_C"].isna().all() and info["null_scores"] == ["PGS_C"]
    assert rows["PGS_A"].notna().all()


def test_overall_and_ancestry_methods(spark):
    df = _frame(n=60)  # eur 31, afr 29: both groups of T or more, z-scored within (below: the fallback)
    sdf = spark.createDataFrame(df)
    overall, info = standardise(sdf, ["PGS_A"], "overall")
    z = overall.toPandas().set_index("person_id").loc[df.person_id, "PGS_A"]
    np.testing.assert_allclose(z, (df.PGS_A - df.PGS_A.mean()) / df.PGS_A.std(), rtol=1e-9)
    assert info == {"method": "overall"}
    within, info = standardise(sdf, ["PGS_A"], "ancestry")
    got = within.toPandas().set_index("person_id").loc[df.person_id, "PGS_A"].to_numpy()
    g = df.groupby("ancestry")["PGS_A"]
    np.testing.assert_allclose(got, ((df.PGS_A - g.transform("mean")) / g.transform("std")).to_numpy(), rtol=1e-9)
    assert info["method"] == "ancestry"


def _overall_z(df: pd.DataFrame, score: str) -> np.ndarray:
    return ((df[score] - df[score].mean()) / df[score].std()).to_numpy()


def test_ancestry_group_under_threshold_takes_the_datasets_overall_z(spark, caplog):
    """pgs.standardisation ancestry: a group of fewer than T persons is not z-scored within itself
    (2 persons read +-0.71 whatever their scores, 1 person has no SD: a null PGS, dropped from every
    fit as missing) but takes its dataset's overall z, as a PC fit under T does; the groups are named
    in the manifest's description and one WARNING per dataset, their persons as a label. A group of
    exactly T is z-scored within. On 241c7d9 "afr" read +-0.71, "amr" null, and no word."""
    rng = np.random.default_rng(49)
    rows = ([("d", "eur")] * 22 + [("d", "afr")] * 2 + [("d", "amr")] + [("e", "eur")] * (T - 1)
            + [("e", "sas")] * T)
    df = pd.DataFrame(rows, columns=["ds", "ancestry"])
    df.insert(0, "person_id", np.arange(1, len(df) + 1, dtype=np.int64))
    df["PGS_A"] = rng.normal(3, 2, len(df))
    caplog.set_level(logging.WARNING, logger="trd_spark")
    out, info = standardise_datasets(spark.createDataFrame(df), ["PGS_A"], "ancestry", "ds", ["d", "e"],
                                     min_samples=T)
    got = out.toPandas().set_index("person_id")["PGS_A"].loc[df.person_id].to_numpy()
    by_group = df.groupby(["ds", "ancestry"])["PGS_A"]
    by_ds = df.groupby("ds")["PGS_A"]
    within = ((df.PGS_A - by_group.transform("mean")) / by_group.transform("std")).to_numpy()
    overall = ((df.PGS_A - by_ds.transform("mean")) / by_ds.transform("std")).to_numpy()
    small = (df.ds == "d").to_numpy() & df.ancestry.isin(["afr", "amr"]).to_numpy() | (
        (df.ds == "e") & (df.ancestry == "eur")).to_numpy()
    np.testing.assert_allclose(got, np.where(small, overall, within), rtol=1e-9)
    assert np.isfinite(got).all()
    assert info["d"] == {"method": "ancestry", "groups": "ancestry", "small_groups": ["afr", "amr"],
                         "small_group_persons": f"<{T}"}
    assert info["e"] == {"method": "ancestry", "groups": "ancestry", "small_groups": ["eur"],
                         "small_group_persons": f"<{T}"}
    warned = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert [m.split(" take ")[0] for m in warned] == [
        f"dataset d: ancestry group(s) afr, amr of fewer than {T} persons each (<{T} person(s))",
        f"dataset e: ancestry group(s) eur of fewer than {T} persons each (<{T} person(s))"]
    assert all("overall z-score" in m and "pgs.standardisation: pc_adjusted" in m for m in warned)


def test_pc_fit_failures_fall_back_to_overall_z_never_abort(spark, caplog):
    """Collinear PCs or too few samples for the PCs: every score gets the overall z, the
    reason is in the description (manifest) and one WARNING names the dataset and the fix."""
    df = _frame(n=30)
    df["pc3"] = 2 * df["pc1"]  # collinear
    out, info = standardise(spark.createDataFrame(df), ["PGS_A", "PGS_B"], "pc_adjusted", pcs=["pc1", "pc3"],
                            dataset="replication_array")
    got = out.toPandas().set_index("person_id").loc[df.person_id]
    for score in ("PGS_A", "PGS_B"):
        np.testing.assert_allclose(got[score].to_numpy(), _overall_z(df, score), rtol=1e-9)
    assert info["fallback"] == {"PGS_A": "collinear_pcs", "PGS_B": "collinear_pcs"}
    assert "dataset replication_array" in caplog.text and "pgs.standardisation_n_pcs" in caplog.text

    small = df.head(3)
    out, info = standardise(spark.createDataFrame(small), ["PGS_A"], "pc_adjusted", pcs=["pc1", "pc2"])
    assert info["fallback"] == {"PGS_A": "too_few_samples"} and info["n_fitted"] == 3
    got = out.toPandas().set_index("person_id").loc[small.person_id, "PGS_A"].to_numpy()
    np.testing.assert_allclose(got, _overall_z(small, "PGS_A"), rtol=1e-9)
    # A missing PC column is a config / input fault, not a fit: still an error.
    with pytest.raises(InputDataError, match="missing"):
        standardise(spark.createDataFrame(df), ["PGS_A"], "pc_adjusted", pcs=["pc9"])


def test_unconverged_variance_model_falls_back_for_that_score_only(spark):
    df = _frame(n=120)
    df["PGS_C"] = 2.5  # no residual variance: null, not a failure
    sdf = spark.createDataFrame(df)
    fit = fit_pc_adjustment(sdf, ["PGS_A", "PGS_B", "PGS_C"], ["pc1", "pc2"], max_iter=1)
    assert fit.failed == {"PGS_A": FitFailure.VARIANCE_NOT_CONVERGED, "PGS_B": FitFailure.VARIANCE_NOT_CONVERGED}
    assert fit.log_var == {"PGS_C": None}
    got = apply_pc_adjustment(sdf, fit).toPandas().set_index("person_id").loc[df.person_id]
    np.testing.assert_allclose(got["PGS_A"].to_numpy(), _overall_z(df, "PGS_A"), rtol=1e-9)
    assert got["PGS_C"].isna().all()
    # With the default iterations the same data fits, and matches statsmodels (no fallback).
    out, info = standardise(sdf, ["PGS_A"], "pc_adjusted", pcs=["pc1", "pc2"])
    assert info["fallback"] == {} and info["n_without_pcs"] == 0
    z = out.toPandas().set_index("person_id").loc[df.person_id, "PGS_A"].to_numpy()
    np.testing.assert_allclose(z, _statsmodels_z(df, "PGS_A", ["pc1", "pc2"]), rtol=1e-6, atol=1e-8)


def test_datasets_fitted_in_one_job_each_on_its_own(spark, caplog):
    """The cohort stage standardises every dataset in one call: one Spark action fits all of them
    (the shuffle by dataset and the fits: two jobs with adaptive query execution, not one per
    IRLS iteration and dataset),
    each dataset gets what standardising it alone gives (its own fit, its own fallback), and a
    dataset without rows is reported as too few samples, as one with fewer persons with PCs than
    the small-count threshold (12: the 3 PCs alone could be fitted on 5, test_privacy_pc_fallback)."""
    a, b, small = _frame(n=200, seed=2), _frame(n=90, seed=3), _frame(n=12, seed=4)
    b["pc3"] = 2 * b["pc1"]  # collinear in dataset b only
    b["person_id"] += 1000
    small["person_id"] += 2000
    both = pd.concat([a.assign(dataset="a"), b.assign(dataset="b"), small.assign(dataset="small")],
                     ignore_index=True)
    sdf = spark.createDataFrame(both)
    pcs = ["pc1", "pc2", "pc3"]
    fits = {}
    assert spark_jobs(spark, lambda: fits.update(fit_pc_adjustments(sdf, ["PGS_A", "PGS_B"], pcs, "dataset",
                                                                     ["a", "b", "empty"], min_samples=T))) <= 2
    assert fits["a"].failed == {} and fits["a"].n_samples == 200
    assert fits["b"].failed == {"PGS_A": FitFailure.COLLINEAR_PCS, "PGS_B": FitFailure.COLLINEAR_PCS}
    assert fits["empty"].failed == {"PGS_A": FitFailure.TOO_FEW_SAMPLES, "PGS_B": FitFailure.TOO_FEW_SAMPLES}
    assert fits["empty"].n_samples == 0
    assert fits["small"].failed == fits["empty"].failed and fits["small"].n_samples == 12

    out, info = standardise_datasets(sdf, ["PGS_A", "PGS_B"], "pc_adjusted", "dataset", ["a", "b", "small"],
                                     pcs=pcs, min_samples=T)
    got = out.toPandas().set_index("person_id")
    for name, df in (("a", a), ("b", b)):
        alone, alone_info = standardise(spark.createDataFrame(df), ["PGS_A", "PGS_B"], "pc_adjusted", pcs=pcs,
                                        dataset=name)
        want = alone.toPandas().set_index("person_id").loc[df.person_id]
        for score in ("PGS_A", "PGS_B"):
            np.testing.assert_allclose(got.loc[df.person_id, score].to_numpy(), want[score].to_numpy(), rtol=1e-12)
        assert info[name] == alone_info
    np.testing.assert_allclose(got.loc[a.person_id, "PGS_A"].to_numpy(), _statsmodels_z(a, "PGS_A", pcs),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got.loc[b.person_id, "PGS_A"].to_numpy(), _overall_z(b, "PGS_A"), rtol=1e-9)
    assert "dataset b" in caplog.text and "dataset a:" not in caplog.text
    assert info["small"]["fallback"] == {"PGS_A": "too_few_samples", "PGS_B": "too_few_samples"}
    assert "dataset small: PC-adjusted standardisation failed" in caplog.text
    assert f"fewer than {T} persons with genetic PCs" in caplog.text
    # Its fix: overall only (fewer PCs mend b's collinear PCs, never a dataset under T).
    warned = {r.getMessage().split(":")[0]: r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert "standardisation_n_pcs" not in warned["dataset small"] and "standardisation_n_pcs" in warned["dataset b"]
    np.testing.assert_allclose(got.loc[small.person_id, "PGS_A"].to_numpy(), _overall_z(small, "PGS_A"), rtol=1e-9)
    # overall / ancestry: within each dataset too.
    overall, _ = standardise_datasets(sdf, ["PGS_B"], "overall", "dataset", ["a", "b"], min_samples=T)
    z = overall.toPandas().set_index("person_id")
    np.testing.assert_allclose(z.loc[b.person_id, "PGS_B"].to_numpy(), _overall_z(b, "PGS_B"), rtol=1e-9)


def test_score_missing_for_a_person_falls_back_not_silently_null(spark, caplog):
    df = _frame(n=80, seed=5)
    sdf = spark.createDataFrame(df).withColumn("PGS_B", F.expr("CASE WHEN person_id = 3 THEN NULL ELSE PGS_B END"))
    out, info = standardise(sdf, ["PGS_A", "PGS_B"], "pc_adjusted", pcs=["pc1", "pc2"], dataset="d1")
    assert info["fallback"] == {"PGS_B": "missing_scores"} and "dataset d1" in caplog.text
    got = out.toPandas().set_index("person_id").loc[df.person_id]
    rest = df[df.person_id != 3]
    np.testing.assert_allclose(got.loc[rest.person_id, "PGS_B"].to_numpy(), _overall_z(rest, "PGS_B"), rtol=1e-9)
    assert np.isnan(got.loc[3, "PGS_B"]) and got["PGS_A"].notna().all()


def test_related_pairs_maximal_independent_set(spark, hl):
    raw = spark.createDataFrame(
        [("1", "2"), ("2", "3"), ("4", "5"), ("6", "99"), ("8", "8")], "`i.s` string, `j.s` string")
    samples = spark.createDataFrame([(i,) for i in range(1, 9)], "person_id long")
    drop = {r.person_id for r in related_pairs_to_remove(hl, parse_related_pairs(raw), samples).collect()}
    # The chain 1-2-3 is resolved by dropping 2 alone; one of 4/5 goes; 99 is not a sample so
    # 6 stays; a self pair is ignored.
    assert 2 in drop and len(drop & {4, 5}) == 1 and len(drop) == 2
    none = spark.createDataFrame([], "person_id_1 long, person_id_2 long")
    assert related_pairs_to_remove(hl, none, samples).count() == 0


def test_trait_panel_entries_without_id_are_to_curate():
    panel = TraitPanel.model_validate(yaml.safe_load("""
domains: [sleep, cognition]
scores:
  - {pgs_id: PGS000001, trait: insomnia, domain: sleep}
  - {pgs_id: null, trait: chronotype, domain: sleep}
  - {trait: intelligence, domain: cognition}
"""))
    assert [e.pgs_id for e in panel.scores] == ["PGS000001"]
    assert [e.trait for e in panel.to_curate] == ["chronotype", "intelligence"]
    with pytest.raises(ValueError, match="domain"):
        TraitPanel.model_validate({"domains": ["sleep"], "scores": [
            {"pgs_id": "PGS1", "trait": "x", "domain": "sleep"}, {"trait": "y", "domain": "nope"}]})
