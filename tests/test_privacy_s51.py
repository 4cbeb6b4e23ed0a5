"""Privacy round 8 of session 51 (an attacker with the published weights): per-variant carrier
counts of a score of one or a few rare variants, read from the export's fits, from the group
statistics of a score whose most frequent value holds most persons, and from compare-releases'
correlation of such a score (pure pandas / numpy / statsmodels, but the last: one small
aggregation on the shared Spark session)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from trd_spark.report.tables import QUANTILE_LEVELS, ReleaseCounts, suppress_release
from trd_spark.vocabulary import HiddenEstimatesNote

DISTINCT_VALUES, LARGEST_TIE = "n_values", "n_largest_tie"  # tables' internal columns, by name
STATUS_SIZES = {"TRD": 300, "trMDD": 600, "MDD_other": 400, "non_MDD": 3000}
# contrast -> (case statuses, control statuses), as models.logistic fits them
CONTRASTS = {"trd_vs_nonmdd": (["TRD"], ["non_MDD"]), "trmdd_vs_nonmdd": (["trMDD"], ["non_MDD"]),
             "mdd_vs_nonmdd": (["TRD", "trMDD", "MDD_other"], ["non_MDD"]), "trd_vs_trmdd": (["TRD"], ["trMDD"])}


def _dist_row(ancestry: str, pgs_id: str, v: np.ndarray) -> dict:
    """A pgs_distribution row as report.stage.pgs_distribution computes it (quantiles: the value at
    rank ceil(n q), as Spark's percentile_approx), with the internal distinct values and largest tie."""
    ordered = np.sort(v)
    counts = np.unique(np.round(v, 9), return_counts=True)[1]
    return {"dataset": "d", "ancestry": ancestry, "pgs_id": pgs_id, "n": len(v), "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)),
            **{q: float(ordered[int(np.ceil(len(v) * lv)) - 1]) for q, lv in QUANTILE_LEVELS.items()},
            DISTINCT_VALUES: len(counts), LARGEST_TIE: int(counts.max())}


def _release(dist: pd.DataFrame, logistic: pd.DataFrame, **derived) -> ReleaseCounts:
    total = sum(STATUS_SIZES.values())
    flow = pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [total]})
    counts = pd.DataFrame({"dataset": "d", "definition": "x", "status": list(STATUS_SIZES),
                           "n": list(STATUS_SIZES.values())})
    return ReleaseCounts(cohort_flow=flow, cohort_counts=counts, logistic=logistic, cox=None, pgs_distribution=dist,
                         primary_definition="x", **derived)


def _crude_fits(cases: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The attacker's model of each contrast: the crude log OR and its se (Woolf) of carrying the
    variant, for every candidate number of carriers per status (``cases``: status -> candidates)."""
    out = {}
    for contrast, (case, ctrl) in CONTRASTS.items():
        k1, n1 = sum(cases[s] for s in case), sum(STATUS_SIZES[s] for s in case)
        k0, n0 = sum(cases[s] for s in ctrl), sum(STATUS_SIZES[s] for s in ctrl)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[contrast] = (np.log(k1 * (n0 - k0) / ((n1 - k1) * k0)),
                             np.sqrt(1 / k1 + 1 / (n1 - k1) + 1 / k0 + 1 / (n0 - k0)))
    return out


def test_a_one_variant_scores_fits_show_no_estimate_that_counts_its_carriers_by_status():
    """P1: one rare variant, 40 carriers among a dataset's 4,300 persons (6 TRD, 8 trMDD, 6 other
    MDD, 20 non-MDD), per SD; P5 the same variant with 99.9% of a score's variance, a polygenic
    rest beside it (its carriers at 10.3 SD: the cohort manifest's pgs_beyond_sd); P2 polygenic. The logistic fits (age, sex, four PCs as covariates,
    statsmodels) of P1's four contrasts are each a 2x2 table of carriers by status in disguise:
    the z-statistics beta / se and the ratios of the se's (the unknown SD of the score cancels in
    both) fit the crude 2x2 tables of (6, 8, 6, 20) best of the 328,000 candidates with at most
    19 carriers per case status and 40 controls: counts of 1-19 persons; so do P5's. Before
    session 51 the export hid P1's group statistics (``few_valued_scores``) and showed every one
    of its fits (beta, se, OR, CI, p), its difference and meta-analysis rows, and all of P5's;
    now none of either (note: the score counts its carriers; P5's group moments hidden too),
    and P2 keeps its estimates. On acba4e2: P1's beta shown (checked without ``beyond_sd``, which
    ReleaseCounts did not take)."""
    rng = np.random.default_rng(51)
    carriers = {"TRD": 6, "trMDD": 8, "MDD_other": 6, "non_MDD": 20}
    status = np.concatenate([[s] * n for s, n in STATUS_SIZES.items()])
    x = np.concatenate([np.r_[np.ones(carriers[s]), np.zeros(n - carriers[s])] for s, n in STATUS_SIZES.items()])
    # P5: the same variant carrying 99.9% of a score's variance, a polygenic rest beside it.
    dominated = x + rng.normal(size=len(x)) * np.sqrt(x.var() / 999)
    scores = {"P1": (x - x.mean()) / x.std(ddof=1), "P2": rng.normal(size=len(x)),
              "P5": (dominated - dominated.mean()) / dominated.std(ddof=1)}
    assert scores["P5"][x == 1].min() > 10  # the cohort stage's pgs_beyond_sd (BEYOND_SD)
    covariates = np.column_stack([rng.normal(55, 12, len(x)), rng.integers(0, 2, len(x)), rng.normal(size=(len(x), 4))])
    rows = []
    for pgs_id, z in scores.items():
        for contrast, (case, ctrl) in CONTRASTS.items():
            keep = np.isin(status, case + ctrl)
            y = np.isin(status[keep], case).astype(float)
            fit = sm.Logit(y, sm.add_constant(np.column_stack([z[keep], covariates[keep]]))).fit(disp=0)
            rows.append({"dataset": "d", "definition": "x", "contrast": contrast, "pgs_id": pgs_id,
                         "n": int(keep.sum()), "n_cases": int(y.sum()), "beta": fit.params[1], "se": fit.bse[1],
                         "odds_ratio": np.exp(fit.params[1]), "p": fit.pvalues[1], "converged": True,
                         "failure_reason": "", "note": ""})
    logistic = pd.DataFrame(rows)

    # The attack on P1's and P5's fits as an export of acba4e2 showed them.
    grid = np.meshgrid(np.arange(20), np.arange(20), np.arange(20), np.arange(41), indexing="ij")
    crude = _crude_fits(dict(zip(carriers, grid)))
    for pgs_id in ("P1", "P5"):
        fits = logistic[logistic["pgs_id"] == pgs_id].set_index("contrast")
        with np.errstate(divide="ignore", invalid="ignore"):  # candidates of 0 carriers: no crude fit
            misfit = sum((lor / se - fits.loc[c, "beta"] / fits.loc[c, "se"]) ** 2 for c, (lor, se) in crude.items())
            base = crude["trd_vs_nonmdd"][1] / fits.loc["trd_vs_nonmdd", "se"]
            misfit = misfit + sum(100 * np.log(se / fits.loc[c, "se"] / base) ** 2 for c, (_, se) in crude.items())
        best = np.unravel_index(np.nanargmin(np.where(np.isfinite(misfit), misfit, np.nan)), misfit.shape)
        assert [int(i) for i in best] == list(carriers.values()), pgs_id

    dist = pd.DataFrame([_dist_row("eur", p, z[np.isin(status, list(STATUS_SIZES))]) for p, z in scores.items()])
    difference = pd.DataFrame({"dataset": "d", "definition": "x", "pgs_id": list(scores), "beta_diff": 0.1,
                               "se_diff": 0.3, "p": 0.7, "note": ""})
    meta = pd.DataFrame({"method": "fixed", "definition": "x", "contrast": "trd_vs_nonmdd", "pgs_id": list(scores),
                         "k": 1, "beta": 0.1, "se": 0.05, "p": 0.04, "datasets": "d"})
    # P5's persons beyond 10 SD, as the cohort manifest's notes.pgs_beyond_sd records them.
    out = suppress_release(_release(dist, logistic, difference=difference, meta=meta,
                                    beyond_sd={"d": {"P5": "40"}}), 20)
    shown = out["logistic"].set_index(["pgs_id", "contrast"])
    for pgs_id in ("P1", "P5"):
        assert shown.loc[pgs_id, ["beta", "se", "odds_ratio", "p"]].isna().all().all(), shown.loc[pgs_id]
    note = str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)
    for pgs_id in ("P1", "P5"):
        assert (shown.loc[pgs_id, "note"] == note).all()
        assert shown.loc[pgs_id, "n_cases"].tolist() == [300, 600, 1300, 300]  # the counts stay (all >= 20)
        for name in ("difference", "meta"):
            table = out[name].set_index("pgs_id")
            assert np.isnan(table.loc[pgs_id, "se" if name == "meta" else "se_diff"])
            assert table.loc[pgs_id, "note"] == note
    assert shown.loc["P2", ["beta", "se"]].notna().all().all() and (shown.loc["P2", "note"] == "").all()
    assert out["difference"].set_index("pgs_id").loc["P2", "note"] == ""
    assert out["meta"].set_index("pgs_id").loc["P2", "note"] == ""
    # P5's group statistics go with its estimates (its mean and sd count the carriers alike).
    assert out["pgs_distribution"].set_index("pgs_id").loc["P5", ["mean", "sd"]].isna().all()


def test_a_score_whose_tie_holds_most_of_a_group_shows_no_statistic_that_counts_carriers_per_variant():
    """P3: 22 rare variants of published weights (0.5..2), non-carriers at one value z0; EUR 5,000
    persons with 300 carriers, AFR 1,000 with 60, EAS 500 with 21, each carrying one of 21 of the
    variants (variant 21 has none in EAS). EAS has 22 distinct values and 21 persons off its tie:
    neither ``few_valued_scores`` (fewer than 20 values) nor b935afc's ``tie_heavy_scores`` (fewer
    than 20 off the tie) flagged it, and the export showed P3's mean, sd and quantiles. With the
    weights, S1^2 / S2 of EAS's deviations from z0 (its median) matches one of the 1,794 sets of
    19 to 22 variants, the true one: each variant's EAS carriers, 1 (21 variants) or 0, counts of
    persons under 20. Now a group whose tie holds half its persons or more flags the score: every
    statistic of P3 hidden (n stays). Controls: P2 (normal) and P4, a score of six common
    variants (many values, ties far below half a group), keep theirs."""
    from test_field_cases_round40_models import rare_variant_score

    rng, weights, sizes, sparse = rare_variant_score(51, 21)
    common_w = rng.uniform(0.05, 0.2, 6)
    common_raw = {a: rng.binomial(2, 0.3, size=(n, 6)) @ common_w for a, n in sizes.items()}
    every_common = np.concatenate(list(common_raw.values()))
    common = {a: (v - every_common.mean()) / every_common.std(ddof=1) for a, v in common_raw.items()}
    normal = {a: rng.normal(size=n) for a, n in sizes.items()}
    dist = pd.DataFrame([_dist_row(a, p, v) for p, score in (("P3", sparse), ("P2", normal), ("P4", common))
                         for a, v in score.items()])
    p3 = dist[dist["pgs_id"] == "P3"].set_index("ancestry")
    assert p3[DISTINCT_VALUES].min() >= 20 and (p3["n"] - p3[LARGEST_TIE]).min() >= 20  # escaped b935afc's rules
    p4 = dist[dist["pgs_id"] == "P4"].set_index("ancestry")
    assert p4[DISTINCT_VALUES].min() >= 20 and (2 * p4[LARGEST_TIE] < p4["n"]).all() and p4[LARGEST_TIE].min() > 1

    # The attack on EAS's n, mean, sd and median (z0) as acba4e2 exported them, with the weights.
    eas = p3.loc["EAS"]
    s1 = eas["n"] * (eas["mean"] - eas["p50"])
    ratio = s1 ** 2 / ((eas["n"] - 1) * eas["sd"] ** 2 + eas["n"] * (eas["mean"] - eas["p50"]) ** 2)
    candidates = [c for k in (19, 20, 21, 22) for c in combinations(range(22), k)]
    assert len(candidates) == 1794
    found = [c for c in candidates if abs(weights[list(c)].sum() ** 2 / (weights[list(c)] ** 2).sum() - ratio)
             < 1e-9 * ratio]
    assert found == [tuple(range(21))]

    total = sum(STATUS_SIZES.values())
    logistic = pd.DataFrame({"dataset": ["d"], "definition": ["x"], "contrast": ["trd_vs_nonmdd"],
                             "pgs_id": ["P2"], "n": [total - 1000], "n_cases": [300]})
    out = suppress_release(_release(dist, logistic), 20)["pgs_distribution"].set_index(["pgs_id", "ancestry"])
    stats = ["mean", "sd", *QUANTILE_LEVELS]
    assert out.loc["P3", stats].isna().all().all(), out.loc["P3"]
    assert out.loc["P3", "n"].tolist() == [5000, 1000, 500]
    for pgs_id in ("P2", "P4"):
        assert out.loc[(pgs_id, "EUR"), stats].notna().all(), out.loc[pgs_id]
    assert DISTINCT_VALUES not in out.columns and LARGEST_TIE not in out.columns


def test_a_one_variant_scores_correlation_between_releases_is_not_shown(spark):
    """compare-releases' pgs_correlation.tsv: P1 one rare variant (weight 0.7), 2,000 persons
    scored in both releases, 40 carriers in A, 42 in B, 39 in both (one call lost, three gained
    by the re-called release); P2 polygenic. P1's correlation is a 2x2 table's phi: of the
    candidate tables (carriers in A and in B 1..200, in both up to either) only (40, 42, 39) and
    its mirror give the published r to 1e-9: the 1 and 3 persons whose genotype changed. On
    acba4e2 it was shown (n_both 2,000 shown as well); now it is not, P2's is."""
    from trd_spark.report.compare import score_correlation

    n = 2000
    carrier_a, carrier_b = np.zeros(n), np.zeros(n)
    carrier_a[:40], carrier_b[:39], carrier_b[40:43] = 1, 1, 1
    rng = np.random.default_rng(51)
    poly = rng.normal(size=n)

    def release(p1: np.ndarray, p2: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame([("d", i, pgs, float(v)) for pgs, values in (("P1", p1), ("P2", p2))
                             for i, v in enumerate(values)], columns=["dataset", "person_id", "pgs_id", "score_sum"])

    a, b = release(0.7 * carrier_a, poly), release(0.7 * carrier_b, poly + 0.1 * rng.normal(size=n))
    r = np.corrcoef(0.7 * carrier_a, 0.7 * carrier_b)[0, 1]
    grid = [v.astype(float) for v in np.meshgrid(np.arange(1, 201), np.arange(1, 201), np.arange(201), indexing="ij")]
    k_a, k_b, k_ab = grid
    phi = (n * k_ab - k_a * k_b) / np.sqrt(k_a * (n - k_a) * k_b * (n - k_b))
    hit = (k_ab <= np.minimum(k_a, k_b)) & (np.abs(phi - r) < 1e-9)
    assert sorted(zip(k_a[hit].astype(int).tolist(), k_b[hit].astype(int).tolist(), k_ab[hit].astype(int).tolist())) \
        == [(40, 42, 39), (42, 40, 39)]

    out = score_correlation(spark.createDataFrame(a), spark.createDataFrame(b), 20).set_index("pgs_id")
    assert np.isnan(out.loc["P1", "correlation"]), out
    assert out.loc["P2", "correlation"] > 0.99
