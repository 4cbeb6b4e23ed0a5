"""Cohort, models and report field cases, round 38 (session 46, helper models38).

p-underflow: a Wald p-value below a double's range is exactly 0 (scipy's normal tail returns 0
from |z| of about 37.7 on; statsmodels' Logit, lifelines, the meta-analysis and the difference
test all take it from there). At All of Us scale a strong score reaches it: log OR 0.2 per SD
with an SE of 0.005 in the fixed-effect meta-analysis of 292,663 persons is z = 40. report.html
printed such a p (and its Bonferroni p and q) as "0" in every table, the forest plot and the KM
panel's Cox p: a p-value no test gives. It is now "<1e-300", the bound it means (the
significance figure already drew it at -log10 p = 300); the TSVs keep the 0.0.

bonferroni-line-m: the significance figure's dashed Bonferroni line was alpha / (every score of
the panel in the contrast), while the tables' ``p_bonferroni`` divides by the fits with a p-value
(a failed fit is no test: ``models.multiple_testing``, over the shown p in the export). With
fits that failed (a panel score the analysis frame lacks, zero variance, separation) or that the
export hides, the line sat at alpha/61 where the table's correction used, say, 58: a score
between the two was Bonferroni-significant in the table and under the line, with the caption
saying alpha/61. The line and its caption now use the table's m.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from trd_spark.config import load_config
from trd_spark.models.logistic import fit_logistic
from trd_spark.models.multiple_testing import adjust_within_families
from trd_spark.report.html import format_p
from trd_spark.report.stage import build_report
from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY


def _release(cfg, fits: list[dict]) -> dict[str, pd.DataFrame]:
    """One discovery dataset, the primary definition, TRD vs non-MDD fits ``fits`` (pgs_id, n,
    n_cases, beta, se, p; p None: a failed fit), corrected within the family as the models
    stage corrects them; status counts all of 20 or more (nothing hidden)."""
    definition = cfg.phenotypes.primary_definition
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    counts = pd.DataFrame({"dataset": discovery, "definition": definition,
                           "status": ["TRD", "trMDD", "MDD_other", "non_MDD"], "n": [3000, 2000, 1000, 5000]})
    rows = []
    for f in fits:
        ok = f["p"] is not None
        b, s = f["beta"], f["se"]
        rows.append({"dataset": discovery, "definition": definition, "contrast": "trd_vs_nonmdd",
                     "pgs_id": f["pgs_id"], "trait": f["pgs_id"], "domain": "d", "n": f["n"], "n_cases": f["n_cases"],
                     "beta": b if ok else np.nan, "se": s if ok else np.nan,
                     "odds_ratio": np.exp(b) if ok else np.nan,
                     "ci_low": np.exp(b - 1.96 * s) if ok else np.nan, "ci_high": np.exp(b + 1.96 * s) if ok else np.nan,
                     "p": f["p"] if ok else np.nan, "p_bonferroni": np.nan, "q_fdr": np.nan, "converged": ok,
                     "failure_reason": None if ok else "pgs_absent",
                     "note": "" if ok else "PGS column absent from the analysis frame"})
    logistic = adjust_within_families(pd.DataFrame(rows, columns=LOGISTIC_RESULTS.names),
                                      ["dataset", "definition", "contrast"])
    return {"logistic": logistic, "cohort_counts": counts, "cohort_flow": pd.DataFrame(columns=COHORT_FLOW.names),
            "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names)}


def test_a_p_value_that_underflowed_is_shown_as_its_bound():
    """A real statsmodels fit (through ``fit_logistic``) with z ~ 44 has p exactly 0.0. The
    report's logistic table showed p, Bonferroni p and q as "0" on d099127; now "<1e-300",
    while results.tsv keeps the number 0."""
    rng = np.random.default_rng(38)
    n = 8000
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-0.5 + 2.0 * x)))).astype(int)
    fit = fit_logistic(pd.DataFrame({"case": y, "PGS900001": x}), "PGS900001", [])
    assert fit["converged"] and fit["beta"] / fit["se"] > 38 and fit["p"] == 0.0, fit  # the underflow

    cfg = load_config()
    files = build_report(cfg, _release(cfg, [
        {"pgs_id": "PGS900001", "n": fit["n"], "n_cases": fit["n_cases"], "beta": fit["beta"], "se": fit["se"],
         "p": fit["p"]},
        {"pgs_id": "PGS900002", "n": fit["n"], "n_cases": fit["n_cases"], "beta": 0.1, "se": 0.04, "p": 0.0124}]), {})
    shown = pd.read_csv(io.StringIO(files["results.tsv"]), sep="\t")
    assert shown.set_index("pgs_id").loc["PGS900001", ["p", "p_bonferroni", "q_fdr"]].tolist() == [0.0, 0.0, 0.0]
    html = files["report.html"]
    # The logistic table's row of PGS900001: its p, Bonferroni p and q cells read the bound.
    row = html[html.index("<td class=t>PGS900001</td>"):]
    row = row[:row.index("</tr>")]
    assert row.count("<td>&lt;1e-300</td>") == 3, row
    assert "<td>0</td>" not in row, row
    # Also the forest plot's and the KM panel's p (one formatter); a subnormal p is a number.
    assert format_p(fit["p"]) == "<1e-300" and format_p(2.5e-310) == "2.5e-310"


def test_the_bonferroni_line_divides_by_the_fits_with_a_p_value():
    """Four scores, one absent from the dataset (a failed fit, no p): the table's Bonferroni p is
    p x 3 (the oracle: results.tsv's p_bonferroni / p); the figure's line and caption said
    alpha/4 on d099127 (0.0125: a score with p 0.014 was Bonferroni-significant in the table,
    0.042 < 0.05, and under the line); now alpha/3."""
    cfg = load_config()
    fits = [{"pgs_id": f"PGS90000{i}", "n": 8000, "n_cases": 3000, "beta": 0.05 * i, "se": 0.05,
             "p": p} for i, p in ((1, 0.014), (2, 0.3), (3, 0.6), (4, None))]
    files = build_report(cfg, _release(cfg, fits), {})
    shown = pd.read_csv(io.StringIO(files["results.tsv"]), sep="\t").set_index("pgs_id")
    m = shown.loc["PGS900001", "p_bonferroni"] / shown.loc["PGS900001", "p"]
    assert round(m) == 3 and shown.loc["PGS900001", "p_bonferroni"] < cfg.models.alpha
    html = files["report.html"]
    line = cfg.models.alpha / 3
    assert f"Bonferroni p = {line:.2g}" in html  # d099127: the line at alpha/4
    assert "Bonferroni threshold alpha/3 (m = 3 fits with a p-value)" in html
    assert f"Bonferroni p = {cfg.models.alpha / 4:.2g}" not in html
