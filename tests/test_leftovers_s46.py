"""Session 46 (helper leftovers): gaps left by session 45.

pgs-finite-only-outside-the-fit (reader s45 finding 5): ``prefit_check`` judged "the PGS has no
finite value" on the whole frame, before complete cases. A PGS finite only for persons lacking
the outcome or a covariate (or, Cox, with a negative duration) passed that check, then the
complete cases (as statsmodels and lifelines drop a row with a missing value) left out every
person: the row read n = 0, ``too_few_cases`` / ``too_few_events``, a count failure, for a score
that had no value in the fit. Now the PGS is judged on the fit's rows: ``pgs_zero_variance`` with
the n / cases of the persons the fit had. Oracle: pandas' dropna of the other columns.

ancestry-standardisation-stage: the cohort stage under ``pgs.standardisation: ancestry`` (session
45, d42f9c9 / b9fc55b) had its parts unit-tested (``standardise_datasets``, ``dataset_counts``) but
no stage run: its wiring (the ungrouped persons handed to the flow's count, the one WARNING, the
standardised frame reaching the analysis frame) was untested. One small stage run (50 persons).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.models.covariates import prefit_check
from trd_spark.vocabulary import ModelFailure

COVS = ["age", "sex_female", "pc1"]


def _frame(n: int = 60, seed: int = 46) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"case": (np.arange(n) % 2).astype(float), "age": rng.uniform(20, 80, n),
                         "sex_female": rng.integers(0, 2, n).astype(float), "pc1": rng.normal(size=n),
                         "time": rng.uniform(1, 900, n), "PGS_A": rng.normal(size=n)})


def test_pgs_finite_only_outside_the_fit_is_a_pgs_failure_with_the_fit_counts():
    frame = _frame()
    lacking = frame.index % 3 == 0  # a third lack the outcome or a covariate
    frame.loc[lacking & (frame.index % 2 == 0), "case"] = np.nan
    frame.loc[lacking & (frame.index % 2 == 1), "pc1"] = np.nan
    frame.loc[~lacking, "PGS_A"] = np.nan  # the PGS is finite only for them
    want = frame.dropna(subset=["case", *COVS])
    got = prefit_check(frame, "PGS_A", COVS, outcome="case", min_cases=5)
    # d099127: (too_few_cases, 0, 0)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, len(want), want.case.sum())
    assert len(want) == 40 and "zero variance" in got.failure_note

    # Cox: the PGS is finite only for persons with a negative duration (left out of the fit).
    cox = _frame()
    negative = cox.index < 10
    cox.loc[negative, "time"] = -3.0
    cox.loc[~negative, "PGS_A"] = np.nan
    want = cox[cox.time >= 0]
    got = prefit_check(cox, "PGS_A", COVS, outcome="case", duration="time", min_cases=5)
    # d099127: (too_few_events, 0, 0)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, len(want), want.case.sum())

    # A PGS finite for some of the fit's persons is fitted on them (the others are missing values).
    some = _frame()
    some.loc[some.index % 4 == 0, "PGS_A"] = np.nan
    got = prefit_check(some, "PGS_A", COVS, outcome="case", min_cases=5)
    assert got.failure is None and got.n == len(some.dropna()) == 45



def test_cohort_stage_under_ancestry_standardisation_leaves_out_and_counts_the_ungrouped(spark, tmp_path, caplog):
    """The stage's wiring of d42f9c9 / b9fc55b (the parts are unit-tested in
    test_field_cases_round37_models): under ``pgs.standardisation: ancestry`` persons with an
    empty ancestry_pred are not in the analysis frame, are counted out of the flow's "with genetic
    ancestry and PCs" step with one WARNING, and the others' PGS are z-scored within their group.
    Oracle: pandas' groupby (mean, SD with ddof 1) of the persons with a group."""
    import datetime as dt
    import logging

    import yaml
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.config import REPO_CONF_DIR
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage
    from trd_spark.vocabulary import DatasetFlowStep

    rng = np.random.default_rng(46)
    groups = ["eur"] * 24 + ["afr"] * 21 + [""] * 5  # 5 with an empty ancestry_pred
    ids = list(range(1, len(groups) + 1))
    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n"
                   + "".join(f"{i}\t{g}\t[{rng.normal():.4f}, {rng.normal():.4f}]\n" for i, g in zip(ids, groups)))
    pgs = {**yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())["pgs"], "standardisation": "ancestry",
           "trait_panel": str(REPO_CONF_DIR / "trait_panel_toy.yaml"), "standardisation_n_pcs": 2}
    datasets = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": "d.vcf.bgz"}}]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets, pgs=pgs)
    raw = pd.DataFrame({"person_id": ids, "ancestry": groups, "PGS900001": rng.normal(3, 2, len(ids))})
    d = dt.date(2020, 1, 1)
    publish_cohort_inputs(
        spark, cfg, [("discovery", i, "PGS900001", v) for i, v in zip(raw.person_id, raw.PGS900001)], ids,
        [(i, "ad3", "non_MDD", None, None, None, d, None, None, 0, "female", None, 60.0) for i in ids])
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "cohort")

    layout = Layout.of(cfg)
    flow = spark.read.parquet(layout.table("cohort", "dataset_flow")).toPandas().set_index("step")["n"]
    assert flow[str(DatasetFlowStep.UNRELATED)] == 50 and flow[str(DatasetFlowStep.WITH_ANCESTRY)] == 45
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warned if "empty ancestry_pred" in m] == [
        "dataset discovery: <20 unrelated person(s) with an empty ancestry_pred left out under "
        f"pgs.standardisation ancestry (no group to be z-scored in; counted in the cohort flow's step "
        f"{str(DatasetFlowStep.WITH_ANCESTRY)!r})"]
    got = spark.read.parquet(layout.table("cohort", "analysis_frame")).toPandas().set_index("person_id")
    grouped = raw[raw.ancestry != ""]
    assert sorted(got.index) == grouped.person_id.tolist()
    g = grouped.groupby("ancestry")["PGS900001"]
    want = (grouped.PGS900001 - g.transform("mean")) / g.transform("std")
    np.testing.assert_allclose(got.loc[grouped.person_id, "PGS900001"].to_numpy(), want.to_numpy(), rtol=1e-9)
    assert (got.loc[grouped.person_id, "ancestry"].to_numpy() == grouped.ancestry.to_numpy()).all()
