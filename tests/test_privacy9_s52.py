"""Privacy round 9 of session 52: a score whose one rare variant carries most, not nearly all, of its
variance (its carriers within 10 SD, no tie, 20 or more values: none of session 51's rules flags
it). An attacker with the export and the score's published weights reads a group's carriers from
its SD and quartiles (pure numpy / scipy against ``suppress_release``; the last test: the report
stage's Spark aggregate and compare-releases' correlation on the shared session)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis, norm, skew

from trd_spark.report.tables import (
    QUANTILE_LEVELS,
    ReleaseCounts,
    carrier_count_scores,
    few_valued_scores,
    heavy_tailed_scores,
    pooled_moments,
    suppress_release,
    tie_heavy_scores,
)
from trd_spark.vocabulary import HiddenEstimatesNote

# tables' internal columns, by name (the test's attack reads the table as 173ccde exported it)
DISTINCT_VALUES, LARGEST_TIE, SKEWNESS, EXCESS_KURTOSIS = "n_values", "n_largest_tie", "skewness", "excess_kurtosis"
SIZES = {"EUR": 3000, "AFR": 800, "EAS": 500}
CARRIERS = {"EUR": 28, "AFR": 7, "EAS": 5}  # 40 carriers among 4,300 persons (p = 0.93%)
STATUS_SIZES = {"TRD": 300, "trMDD": 600, "MDD_other": 400, "non_MDD": 3000}


def dominated_score(seed: int, share: float) -> tuple[dict[str, np.ndarray], float]:
    """({ancestry: standardised scores}, the rest's raw variance): one rare variant of weight 1
    (``CARRIERS`` per group) carrying ``share`` of the score's variance beside a polygenic rest
    (normal, the same in every group), z-scored over the 4,300 persons. The rest's raw variance is
    what an attacker gets from the published weights and public allele frequencies (sum of
    w^2 2q(1-q)): the expected one, not this sample's."""
    rng = np.random.default_rng(seed)
    p = sum(CARRIERS.values()) / sum(SIZES.values())
    rest_var = p * (1 - p) * (1 - share) / share
    raw = {}
    for a, n in SIZES.items():
        x = np.zeros(n)
        x[rng.choice(n, CARRIERS[a], replace=False)] = 1
        raw[a] = x + rng.normal(0, np.sqrt(rest_var), n)
    every = np.concatenate(list(raw.values()))
    return {a: (v - every.mean()) / every.std(ddof=1) for a, v in raw.items()}, rest_var


def dist_row(ancestry: str, pgs_id: str, v: np.ndarray, dataset: str = "d") -> dict:
    """A pgs_distribution row as report.stage.pgs_distribution computes it (quantiles: the value at
    rank ceil(n q), as Spark's percentile_approx; skewness and excess kurtosis of population
    moments, as Spark's), with its internal columns."""
    ordered = np.sort(v)
    counts = np.unique(np.round(v, 9), return_counts=True)[1]
    return {"dataset": dataset, "ancestry": ancestry, "pgs_id": pgs_id, "n": len(v), "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)), SKEWNESS: float(skew(v)), EXCESS_KURTOSIS: float(kurtosis(v)),
            **{q: float(ordered[int(np.ceil(len(v) * lv)) - 1]) for q, lv in QUANTILE_LEVELS.items()},
            DISTINCT_VALUES: len(counts), LARGEST_TIE: int(counts.max())}


def carriers_from_group_sd(rows: pd.DataFrame, target: str, rest_var: float) -> int:
    """The attack: the carriers of group ``target`` read from the export's n, sd, p25 and p75 of
    each group and the weights (the variant's weight 1 and the rest's raw variance ``rest_var``).
    A group's quartiles are the rest's (the carriers sit above p75), so its spread gives the rest's
    variance in SD units, r^2 (corrected for c carriers above the quartiles); the largest group's
    r^2 and ``rest_var`` give the score's raw SD, hence the carriers' shift d (weight / raw SD);
    a group's (n - 1) (sd^2 - r^2) is then d^2 c (1 - c / n): the c of 0..19 that fits best."""
    st = rows.set_index("ancestry")

    def rest(g: str, c: float) -> float:
        n = st.loc[g, "n"]
        iqr = norm.ppf(0.75 * n / (n - c)) - norm.ppf(0.25 * n / (n - c))
        return ((st.loc[g, "p75"] - st.loc[g, "p25"]) / iqr) ** 2

    big = st["n"].idxmax()
    c_big = 0.0
    for _ in range(5):  # the largest group's carriers shift its quartiles a little: iterate
        d2 = rest(big, c_big) / rest_var
        c_big = (st.loc[big, "n"] - 1) * (st.loc[big, "sd"] ** 2 - rest(big, c_big)) / d2
    n = st.loc[target, "n"]
    return min(range(20), key=lambda c: abs((n - 1) * (st.loc[target, "sd"] ** 2 - rest(target, c))
                                            - d2 * c * (1 - c / n)))


def test_a_group_sd_counts_the_carriers_of_a_rare_variant_with_most_of_the_variance():
    """P6: one rare variant (40 carriers among 4,300 persons, 5 of EAS's 500, 7 of AFR's 800)
    carrying 70% of a score's variance, its carriers at 9-10 SD (below the cohort stage's
    BEYOND_SD), no tie, a value per person: few_valued_scores, tie_heavy_scores and
    pgs_beyond_sd leave it alone, and 173ccde exported its groups' mean, sd and quantiles and its
    fits. From EAS's and EUR's n, sd and quartiles and the weights (the variant's weight, the
    rest's variance from the weights and public allele frequencies), a group's sum of squares
    less its rest's (its quartiles' spread) is its carriers times their shift squared: EAS's 5
    and AFR's 7 read exactly. Over 20 simulations EAS's 5 read exactly in at least 14, within one
    in all; at 10% of the variance (excess kurtosis 1.0) in at most 6: chance. Now the score's
    excess kurtosis (51, about s^2 / p = 53) flags it (``heavy_tailed_scores``): every statistic of P6 and
    every fit's estimate hidden (note: a few persons carry much of its variance), n kept; the
    polygenic P2 keeps its statistics and estimates; the internal skewness / kurtosis columns never
    leave. Fails on 173ccde: P6's statistics and estimates shown (and the new columns exported)."""
    scores, rest_var = dominated_score(6, 0.7)
    z = np.concatenate(list(scores.values()))
    assert 9 < z.max() < 10  # 9.97: within the cohort stage's BEYOND_SD, no pgs_beyond_sd
    rng = np.random.default_rng(52)
    poly = {a: rng.normal(size=n) for a, n in SIZES.items()}
    dist = pd.DataFrame([dist_row(a, p, v) for p, score in (("P6", scores), ("P2", poly)) for a, v in score.items()])
    p6 = dist[dist["pgs_id"] == "P6"]
    assert not (few_valued_scores(dist, 20) | tie_heavy_scores(dist, 20)).any()  # session 51's rules: silent
    assert (p6[DISTINCT_VALUES] == p6["n"]).all() and (p6[LARGEST_TIE] == 1).all()

    # The attack on the export as 173ccde showed it (every statistic of P6).
    assert carriers_from_group_sd(p6, "EAS", rest_var) == 5
    assert carriers_from_group_sd(p6, "AFR", rest_var) == 7
    for share, at_least, at_most in ((0.7, 14, 20), (0.1, 0, 6)):
        errors = []
        for seed in range(20):
            s, v = dominated_score(100 + seed, share)
            errors.append(carriers_from_group_sd(pd.DataFrame([dist_row(a, "P", x) for a, x in s.items()]), "EAS", v) - 5)
        exact = sum(e == 0 for e in errors)
        assert at_least <= exact <= at_most, (share, errors)
        if share == 0.7:
            assert max(abs(e) for e in errors) <= 1, errors

    pooled = pooled_moments(p6["n"], p6["mean"], p6["sd"], p6[SKEWNESS], p6[EXCESS_KURTOSIS])[1]
    assert 40 < pooled < 60  # about s^2 / p = 0.49 / 0.0093
    logistic = pd.DataFrame([{"dataset": "d", "definition": "x", "contrast": c, "pgs_id": p, "n": n, "n_cases": k,
                              "beta": 0.2, "se": 0.05, "odds_ratio": 1.22, "p": 1e-4, "converged": True,
                              "failure_reason": "", "note": ""}
                             for p in ("P6", "P2") for c, n, k in (("trd_vs_nonmdd", 3300, 300),
                                                                    ("trmdd_vs_nonmdd", 3600, 600))])
    total = sum(STATUS_SIZES.values())
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [total]}),
        cohort_counts=pd.DataFrame({"dataset": "d", "definition": "x", "status": list(STATUS_SIZES),
                                    "n": list(STATUS_SIZES.values())}),
        logistic=logistic, cox=None, pgs_distribution=dist, primary_definition="x")
    out = suppress_release(rc, 20)
    shown = out["pgs_distribution"].set_index(["pgs_id", "ancestry"])
    stats = ["mean", "sd", *QUANTILE_LEVELS]
    assert shown.loc["P6", stats].isna().all().all(), shown.loc["P6"]
    assert shown.loc["P6", "n"].tolist() == [3000, 800, 500]
    assert shown.loc["P2", stats].notna().all().all()
    assert not {DISTINCT_VALUES, LARGEST_TIE, SKEWNESS, EXCESS_KURTOSIS} & set(out["pgs_distribution"].columns)
    fits = out["logistic"].set_index("pgs_id")
    assert fits.loc["P6", ["beta", "se", "odds_ratio", "p"]].isna().all().all()
    assert (fits.loc["P6", "note"] == str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)).all()
    assert "a few persons carry much of its variance" in str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)
    assert fits.loc["P2", ["beta", "se"]].notna().all().all() and (fits.loc["P2", "note"] == "").all()


def test_pooled_moments_are_those_of_the_union_of_the_groups():
    """The dataset's skewness and excess kurtosis from its groups' n, mean, sd, skewness and
    kurtosis equal scipy's on the concatenated values (population moments), with a group of one
    person (sd null) and groups of other means and spreads. A wrong power in the raw-moment
    conversion (m3 for m2) misses by far more than 1e-9."""
    rng = np.random.default_rng(9)
    groups = [rng.normal(0.3, 1.2, 500), rng.exponential(1.0, 80) - 1, rng.normal(-1, 0.5, 40), np.array([2.5])]
    rows = pd.DataFrame([{"n": len(g), "mean": g.mean(), "sd": g.std(ddof=1) if len(g) > 1 else np.nan,
                          "sk": skew(g) if len(g) > 1 else np.nan, "ku": kurtosis(g) if len(g) > 1 else np.nan}
                         for g in groups])
    every = np.concatenate(groups)
    got = pooled_moments(rows["n"], rows["mean"], rows["sd"], rows["sk"], rows["ku"])
    assert got == pytest.approx((skew(every), kurtosis(every)), abs=1e-9)


def test_a_founder_variant_of_one_group_flags_the_score_and_a_mixture_of_ancestries_does_not():
    """F: a variant carried by 4 of EAS's 500 persons only (shift 7 SD of the rest), beside a
    polygenic score, in a dataset of 10,000: the dataset's excess kurtosis stays under 1 (0.88:
    the 4 carriers are 0.04% of the dataset), EAS's is far above its bar (9.0 against 1.31 at 500
    persons), and EAS's sum of squares less 500 x its rest's variance (218) is 4 carriers x 49
    +- 32: its count, within one. Flagged through the group. Control M: a polygenic score whose
    groups differ in mean (0, 0.8, -0.5) and spread (SD 1, 1.5, 0.8), as an EUR-trained score's
    do across ancestries standardised together (``overall``): pooled excess kurtosis 0.70, no
    group above its bar: not flagged.
    Fails on 173ccde (no such rule: ``heavy_tailed_scores`` absent)."""
    rng = np.random.default_rng(52)
    sizes = {"EUR": 7000, "AFR": 2500, "EAS": 500}
    founder = {a: rng.normal(size=n) for a, n in sizes.items()}
    founder["EAS"][:4] += 7
    mixture = {a: rng.normal(m, s, n) for (a, n), m, s in zip(sizes.items(), (0, 0.8, -0.5), (1, 1.5, 0.8))}
    dist = pd.DataFrame([dist_row(a, p, v) for p, score in (("F", founder), ("M", mixture)) for a, v in score.items()])
    for p, score in (("F", founder), ("M", mixture)):
        rows = dist[dist["pgs_id"] == p]
        pooled = pooled_moments(rows["n"], rows["mean"], rows["sd"], rows[SKEWNESS], rows[EXCESS_KURTOSIS])[1]
        assert pooled == pytest.approx(kurtosis(np.concatenate(list(score.values()))), abs=1e-9)
        assert pooled < 1, (p, pooled)
    flags = heavy_tailed_scores(dist, 1.0)
    assert flags[dist["pgs_id"] == "F"].all() and not flags[dist["pgs_id"] == "M"].any()
    assert carrier_count_scores(dist, 20) == {("d", "F")}


def test_the_report_stage_computes_the_moments_and_compare_hides_a_heavy_tailed_scores_correlation(spark):
    """The report stage's pgs_distribution (Spark) gives each group's skewness and excess kurtosis
    as scipy does (population moments), so the rule reads what the export's statistics were
    computed on; compare-releases' pgs_correlation hides the correlation of P6 (the 70% variant,
    2,000 persons in both releases, one carrier's call lost since: its r is nearly that carrier
    table's) and shows the polygenic P2's. Fails on 173ccde: no such columns, P6's r shown."""
    from trd_spark.report.compare import score_correlation
    from trd_spark.report.stage import pgs_distribution

    rng = np.random.default_rng(52)
    n = 2000
    x_a = np.zeros(n)
    x_a[:20] = 1
    x_b = x_a.copy()
    x_b[0] = 0
    rest = rng.normal(0, np.sqrt(0.01 * 0.99 * 0.3 / 0.7), n)
    poly = rng.normal(size=n)
    ancestry = np.where(np.arange(n) % 4 == 0, "afr", "eur")
    frame = spark.createDataFrame(pd.DataFrame({
        "dataset": "d", "definition": "x", "person_id": np.arange(n), "ancestry": ancestry,
        "P6": x_a + rest, "P2": poly}))
    got = pgs_distribution(frame, ["P6", "P2"], "x").set_index(["pgs_id", "ancestry"])
    for p, v in (("P6", x_a + rest), ("P2", poly)):
        for a in ("afr", "eur"):
            values = v[ancestry == a]
            assert got.loc[(p, a), SKEWNESS] == pytest.approx(skew(values), rel=1e-6)
            assert got.loc[(p, a), EXCESS_KURTOSIS] == pytest.approx(kurtosis(values), rel=1e-6)
    assert heavy_tailed_scores(got.reset_index()).groupby(got.index.get_level_values("pgs_id")).all().to_dict() \
        == {"P2": False, "P6": True}

    def release(p6: np.ndarray, p2: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame([("d", i, pgs, float(v)) for pgs, values in (("P6", p6), ("P2", p2))
                             for i, v in enumerate(values)], columns=["dataset", "person_id", "pgs_id", "score_sum"])

    a = release(x_a + rest, poly)
    b = release(x_b + rest + 0.01 * rng.normal(size=n), poly + 0.1 * rng.normal(size=n))
    out = score_correlation(spark.createDataFrame(a), spark.createDataFrame(b), 20).set_index("pgs_id")
    assert np.isnan(out.loc["P6", "correlation"]), out
    assert out.loc["P2", "correlation"] > 0.99


def test_the_kurtosis_limit_may_be_lowered_not_raised():
    """report.max_pgs_excess_kurtosis: 1.0 by default; a stricter (lower) limit is taken, a larger one
    (which would publish the statistics measured above to count carriers) or 0 is a config error
    naming the key. Fails on 173ccde (no such key: an unknown key is refused whatever its value)."""
    from pydantic import ValidationError

    from trd_spark.config import ReportSettings

    assert ReportSettings().max_pgs_excess_kurtosis == 1.0
    assert ReportSettings(max_pgs_excess_kurtosis=0.5).max_pgs_excess_kurtosis == 0.5
    for bad in (2.0, 0):
        with pytest.raises(ValidationError, match="max_pgs_excess_kurtosis"):
            ReportSettings(max_pgs_excess_kurtosis=bad)


NESTED_CARRIERS = {"EUR": 15, "AFR": 4, "EAS": 3}  # 22 carriers among 4,300 (p = 0.51%)


def nested_scores(seed: int, share: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """(A, B, A's raw variance): A polygenic (normal), B = A + one rare variant of weight 1
    (``NESTED_CARRIERS`` per group) carrying ``share`` of B's variance, each z-scored over the
    4,300 persons: a panel's score and its version with a variant more."""
    rng = np.random.default_rng(seed)
    p = sum(NESTED_CARRIERS.values()) / sum(SIZES.values())
    var_a = p * (1 - p) * (1 - share) / share
    a, b = {}, {}
    for g, n in SIZES.items():
        x = np.zeros(n)
        x[rng.choice(n, NESTED_CARRIERS[g], replace=False)] = 1
        a[g] = rng.normal(0, np.sqrt(var_a), n)
        b[g] = a[g] + x

    def z(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        every = np.concatenate(list(s.values()))
        return {g: (v - every.mean()) / every.std(ddof=1) for g, v in s.items()}

    return z(a), z(b), var_a


def carriers_from_two_scores_means(dist: pd.DataFrame, var_a: float, carriers: range) -> tuple[int, dict[str, float]]:
    """The attack: B - A is the variant (weight 1), so B's raw group mean less A's is each group's
    carrier share: mean_B,g - rho mean_A,g = k (c_g / n_g - p), rho = sd_A / sd_B and k = 1 / sd_B
    from the weights (A's raw variance from the weights and public allele frequencies) for each
    candidate total C (p = C / N); the C whose c_g are all nearest whole numbers, adding up to C.
    Returns (C, {group: c_g})."""
    a = dist[dist["pgs_id"] == "A"].set_index("ancestry")
    b = dist[dist["pgs_id"] == "B"].set_index("ancestry")
    total = int(a["n"].sum())
    best: tuple[float, int, dict[str, float]] | None = None
    for c in carriers:
        p = c / total
        sd_b = np.sqrt(var_a + p * (1 - p))
        est = {g: a.loc[g, "n"] * (p + (b.loc[g, "mean"] - np.sqrt(var_a) / sd_b * a.loc[g, "mean"]) * sd_b)
               for g in a.index}
        if sum(round(v) for v in est.values()) != c:
            continue
        miss = sum((v - round(v)) ** 2 for v in est.values())
        if best is None or miss < best[0]:
            best = (miss, c, est)
    assert best is not None
    return best[1], best[2]


def residual_rows(scores: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """``report.stage.residual_moments`` in numpy: each score's residual on the others (least
    squares over every person), its moments per group (population skewness / kurtosis)."""
    names = list(scores)
    groups = list(next(iter(scores.values())))
    x = np.column_stack([np.concatenate([scores[p][g] for g in groups]) for p in names])
    label = np.concatenate([[g] * len(next(iter(scores.values()))[g]) for g in groups])
    rows = []
    for j, p in enumerate(names):
        others = np.column_stack([np.ones(len(x)), np.delete(x, j, axis=1)])
        r = x[:, j] - others @ np.linalg.lstsq(others, x[:, j], rcond=None)[0]
        for g in groups:
            v = r[label == g]
            rows.append({"dataset": "d", "ancestry": g, "pgs_id": p, "residual_n": len(v),
                         "residual_mean": v.mean(), "residual_sd": v.std(ddof=1),
                         "residual_skewness": skew(v), "residual_excess_kurtosis": kurtosis(v)})
    return pd.DataFrame(rows)


def test_two_scores_that_differ_by_a_rare_variant_count_its_carriers_from_their_group_means():
    """A (polygenic) and B = A + one rare variant carrying 0.2% of B's variance (22 carriers among
    4,300: 15 EUR, 4 AFR, 3 EAS; a panel's score and its version with a variant more). Each is
    polygenic: excess kurtosis about 0, no tie, nothing beyond 10 SD; e1d1b0f's rule (and every
    earlier one) left both alone and the export showed their groups' means. The rest cancels in
    B's mean less A's: with the weights (A's raw variance), for every total 11..44 (p within a
    factor 2 of a public allele frequency), mean_B - rho mean_A is k (c_g / n_g - p): only the true
    22 gives whole c_g adding up, EAS's 3 and AFR's 4 to +-0.05 (every group exact in 18 of 20
    simulations). Now each score's residual on the
    dataset's other scores (report.stage.residual_moments) is read as the score is: B's residual
    is the variant (excess kurtosis about 200), A's nearly (-B's variant beside a sliver of A):
    both flagged, every statistic and estimate hidden; P2, a polygenic score of its own, keeps
    its. Fails on e1d1b0f (the residual columns unread: A's and B's statistics shown)."""
    a, b, var_a = nested_scores(3, 0.002)
    rng = np.random.default_rng(52)
    poly = {g: rng.normal(size=n) for g, n in SIZES.items()}
    dist = pd.DataFrame([dist_row(g, p, v) for p, score in (("A", a), ("B", b), ("P2", poly))
                         for g, v in score.items()])
    total, carriers = carriers_from_two_scores_means(dist, var_a, range(11, 45))
    assert total == 22
    assert {g: round(v) for g, v in carriers.items()} == NESTED_CARRIERS
    assert max(abs(v - NESTED_CARRIERS[g]) for g, v in carriers.items()) < 0.1
    assert not heavy_tailed_scores(dist).any()  # each score alone: polygenic (e1d1b0f's rule)
    assert not (few_valued_scores(dist, 20) | tie_heavy_scores(dist, 20)).any()

    dist = dist.merge(residual_rows({"A": a, "B": b, "P2": poly}), on=["dataset", "ancestry", "pgs_id"])
    flagged = heavy_tailed_scores(dist)
    assert set(dist.loc[flagged, "pgs_id"]) == {"A", "B"}
    total_n = sum(STATUS_SIZES.values())
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [total_n]}),
        cohort_counts=None, logistic=pd.DataFrame(
            [{"dataset": "d", "definition": "x", "contrast": "trd_vs_nonmdd", "pgs_id": p, "n": 3300, "n_cases": 300,
              "beta": 0.2, "se": 0.05, "odds_ratio": 1.22, "p": 1e-4, "converged": True, "failure_reason": "",
              "note": ""} for p in ("A", "B", "P2")]),
        cox=None, pgs_distribution=dist, primary_definition="x")
    out = suppress_release(rc, 20)
    shown = out["pgs_distribution"].set_index("pgs_id")
    assert shown.loc[["A", "B"], ["mean", "sd"]].isna().all().all()
    assert shown.loc["P2", ["mean", "sd"]].notna().all().all()
    assert not {c for c in out["pgs_distribution"].columns if c.startswith("residual_")}
    fits = out["logistic"].set_index("pgs_id")
    assert fits.loc[["A", "B"], "beta"].isna().all() and fits.loc["P2", "beta"] == 0.2


def test_the_report_stage_computes_each_scores_residual_on_the_others(spark):
    """report.stage.residual_moments (Spark: the sums of the scores and their products per
    dataset, least squares on the driver, the residuals' moments per group) gives scipy's moments
    of the residuals numpy's least squares gives, for A and B of the nested pair; a score that
    duplicates another (D = P2) leaves both without a residual row (the floor: float noise's
    moments are no one's); a score with no value in the dataset (Z, not matched there) is left out
    of the fits, not taken as leaving no person with every score (a complete-case fit over all
    scores gave no residual at all); and pgs_distribution carries the columns, so A and B are
    flagged and P2 / D / Z are not. Fails on e1d1b0f (no residual_moments)."""
    from pyspark.sql import functions as F

    from trd_spark.report.stage import pgs_distribution, residual_moments

    a, b, _ = nested_scores(3, 0.002)
    rng = np.random.default_rng(52)
    poly = {g: rng.normal(size=n) for g, n in SIZES.items()}
    groups = list(SIZES)
    frame = pd.DataFrame({"dataset": "d", "definition": "x", "ancestry": np.concatenate([[g] * SIZES[g] for g in groups]),
                          **{p: np.concatenate([s[g] for g in groups]) for p, s in (("A", a), ("B", b), ("P2", poly),
                                                                                     ("D", poly))}})
    frame["person_id"] = np.arange(len(frame))
    sdf = spark.createDataFrame(frame).withColumn("Z", F.lit(None).cast("double"))
    got = residual_moments(sdf, ["A", "B", "P2", "D", "Z"], "x").set_index(["pgs_id", "ancestry"])
    assert set(got.index.get_level_values("pgs_id")) == {"A", "B"}
    want = residual_rows({"A": a, "B": b, "P2": poly}).set_index(["pgs_id", "ancestry"])
    for key in got.index:
        for col in ("residual_n", "residual_sd", "residual_skewness", "residual_excess_kurtosis"):
            assert got.loc[key, col] == pytest.approx(want.loc[key, col], rel=1e-6), (key, col)
    dist = pgs_distribution(sdf, ["A", "B", "P2", "D", "Z"], "x")
    assert set(dist.loc[heavy_tailed_scores(dist), "pgs_id"]) == {"A", "B"}
