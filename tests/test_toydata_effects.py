"""The planted log-ORs in truth.json are what a logistic regression on the true PGS recovers.

Reference call: statsmodels.formula.api.logit("y ~ true_pgs_* + female + age", data) on the
persons of two categories (TRD vs non_MDD, trMDD vs non_MDD); the multinomial-logit design makes
the planted value the exact conditional log-OR, so each estimate must lie within 3 SE of it.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
import statsmodels.formula.api as smf

from trd_spark.toydata import generate_toy_data


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_effects")
    truth = generate_toy_data(str(out), persons=3000, variants=300, seed=8)
    persons = pq.read_table(out / "truth_persons.parquet").to_pandas()
    persons["age"] = (pd.Timestamp("2023-07-01") - pd.to_datetime(persons["birth_date"])).dt.days / 365.25
    return truth, persons


@pytest.mark.parametrize("case, key", [("TRD", "log_or_trd_vs_nonmdd"), ("trMDD", "log_or_trmdd_vs_nonmdd")])
def test_logistic_regression_recovers_planted_log_ors(toy, case, key):
    truth, persons = toy
    data = persons[persons["status"].isin([case, "non_MDD"])].assign(y=lambda d: (d["status"] == case).astype(int))
    pgs = [c for c in persons.columns if c.startswith("true_pgs_")]
    fit = smf.logit("y ~ " + " + ".join(pgs) + " + female + age", data).fit(disp=0)
    for pgs_id, eff in truth["effects"].items():
        term = f"true_pgs_{pgs_id}"
        assert abs(fit.params[term] - eff[key]) < 3 * fit.bse[term], (pgs_id, fit.params[term], eff[key])
    assert truth["effects"]["PGS900004"]["log_or_trd_vs_nonmdd"] == 0.40
    assert truth["effects"]["PGS900001"]["log_or_trd_vs_trmdd"] == pytest.approx(-0.20)
