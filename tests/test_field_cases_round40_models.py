"""Cohort, models and report field cases, round 40 (session 48, helper models40).

pgs-far-outlier: a PGS per SD far beyond any normal tail for a few persons (a sample with broken
genotypes; a score driven by one rare variant of large weight, whose few carriers sit far out).
z-scoring keeps them: the SD is inflated by them and every per-SD estimate leans on them (one
person of 100,000 at 200 SD took a simulated OR per SD from 1.12 to 1.08; at 40 SD 1.117 to 1.110),
and nothing said so. Now the cohort stage logs one WARNING per dataset naming the scores with an
analysed person beyond +-10 SD (``cohort.standardise.persons_beyond_sd``, ``BEYOND_SD``), the
persons as a count label.

few-valued-score-moments: a score of few matched variants (round 39's sparse score: one rare
variant on a microarray) takes one value per genotype, the same in every ancestry group of the
dataset. report.html / pgs_distribution.tsv showed each group's n, mean and sd (and the median:
the non-carriers' value), which give the group's carriers exactly: 3 of 500 EAS persons (a count
of 1-19 the export must not give). Now such a score's groups show no mean, sd or quantile
(``report.tables.few_valued_scores``, from the groups' distinct values counted in Spark; the
median alone, the non-carriers' value, gave the dataset's carriers).
"""

from __future__ import annotations

import numpy as np


def _suppressed_distribution(dist, total: int):  # noqa: ANN001 - pandas is imported inside (runs on old commits)
    """``dist`` (pgs_distribution rows of one dataset "d") as the export shows it at T = 20, beside a
    release of ``total`` persons (500 TRD, 1,000 trMDD, 1,000 other MDD), keyed by (pgs_id, ancestry)."""
    import pandas as pd

    from trd_spark.report.tables import ReleaseCounts, suppress_release

    flow = pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [total]})
    counts = pd.DataFrame({"dataset": "d", "definition": "x", "status": ["TRD", "trMDD", "MDD_other", "non_MDD"],
                           "n": [500, 1000, 1000, total - 2500]})
    logistic = pd.DataFrame({"dataset": ["d"], "definition": ["x"], "contrast": ["trd_vs_nonmdd"],
                             "n": [total - 2000], "n_cases": [500]})
    rc = ReleaseCounts(cohort_flow=flow, cohort_counts=counts, logistic=logistic, cox=None,
                       pgs_distribution=dist, primary_definition="x")
    return suppress_release(rc, 20)["pgs_distribution"].set_index(["pgs_id", "ancestry"])


def test_a_pgs_far_beyond_any_normal_tail_is_one_warning_of_the_cohort_stage(spark, tmp_path, caplog):
    """200 persons, two scores: PGS900001 normal but for one person at raw 200 (mean 3, SD 2 for
    the others: z 13.9 after the overall z-score, whose SD the person inflated sevenfold),
    PGS900002 normal. The person is excluded (bipolar): not in the analysis frame, but in the
    standardisation. On 75fd51b the stage wrote the frame without a word; on ad4c147 too (it
    scanned the frame, where no analysed person is beyond, the analysed persons' SD 0.15); now one
    WARNING names PGS900001 with "<20 standardised person(s)", and not PGS900002, the cohort
    manifest's notes keep it and report.html shows it (``report.stage.beyond_sd_note``). The
    frame's z is the plain z-score (the oracle: numpy over the 200 raw values), the warning
    changes nothing in it."""
    import datetime as dt
    import logging

    import yaml
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.config import REPO_CONF_DIR
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage

    rng = np.random.default_rng(40)
    ids = list(range(1, 201))
    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n" + "".join(
        f"{i}\teur\t[{rng.normal():.4f}, {rng.normal():.4f}]\n" for i in ids))
    pgs = {**yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())["pgs"], "standardisation": "overall",
           "trait_panel": str(REPO_CONF_DIR / "trait_panel_toy.yaml")}
    datasets = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": "d.vcf.bgz"}}]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets, pgs=pgs)
    raw = rng.normal(3, 2, len(ids))
    raw[41] = 200.0  # person 42
    other = rng.normal(3, 2, len(ids))
    d = dt.date(2020, 1, 1)
    publish_cohort_inputs(
        spark, cfg,
        [("discovery", i, "PGS900001", float(v)) for i, v in zip(ids, raw)]
        + [("discovery", i, "PGS900002", float(v)) for i, v in zip(ids, other)], ids,
        [(i, "ad3", "excluded" if i == 42 else "non_MDD", "bipolar" if i == 42 else None, None, None, d, None, None,
          0, "female", None, 60.0) for i in ids])
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "cohort")

    frame = spark.read.parquet(Layout.of(cfg).table("cohort", "analysis_frame")).toPandas().sort_values("person_id")
    z = (raw - raw.mean()) / raw.std(ddof=1)
    # Person 42 is excluded (not in the frame) but was standardised: the analysed persons' z is
    # the z over all 200, their SD about 0.15.
    np.testing.assert_allclose(frame["PGS900001"].to_numpy(), np.delete(z, 41), rtol=1e-9)
    assert 13 < z[41] < 14 and np.abs(np.delete(z, 41)).max() < 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "beyond" in r.getMessage()]
    assert warned == [
        "dataset discovery: a PGS per SD beyond +-10 in PGS900001 (<20 standardised person(s) beyond it); "
        "no polygenic score reaches that far (a sample with broken genotypes, or a score driven by a rare variant "
        "of large weight): the SD and every per-SD estimate (OR, HR) of the score lean on those persons; check "
        "those samples' genotypes and the score's weights"]
    # The cohort manifest keeps the finding (labels only), and report.html shows it as a warning.
    from trd_spark.io import LocalFs
    from trd_spark.report.stage import beyond_sd_note

    notes = Layout.of(cfg).manifest(LocalFs(), "cohort")["notes"]
    assert notes["pgs_beyond_sd"] == {"discovery": {"PGS900001": "<20"}}
    note = beyond_sd_note(notes["pgs_beyond_sd"])
    assert "dataset discovery: PGS900001 (&lt;20 standardised person(s))" in note and "PGS900002" not in note


def _export_moments(values_by_group: dict[str, np.ndarray], pgs_id: str) -> list[tuple]:
    """pgs_distribution rows as ``report.stage.pgs_distribution`` computes them (n, mean, sample
    sd, the quantiles as Spark's percentile_approx: the value at rank ceil(n q), the distinct
    values) for one score."""
    from trd_spark.report.tables import QUANTILE_LEVELS

    rows = []
    for ancestry, v in values_by_group.items():
        ordered = np.sort(v)
        q = [float(ordered[int(np.ceil(len(v) * lv)) - 1]) for lv in QUANTILE_LEVELS.values()]
        rows.append(("d", ancestry, pgs_id, len(v), float(v.mean()), float(v.std(ddof=1)), *q, len(np.unique(v))))
    return rows


def test_a_few_valued_score_shows_no_group_moments_that_count_its_carriers():
    """P1: one rare variant, 40 carriers among the dataset's 100,000 persons (z 0.02 below 0 for the
    rest, 50 above for a carrier); the analysed groups EUR 5,000 (25 carriers), AFR 1,000 (12), EAS
    500 (3). P2: a polygenic (normal) score. On 75fd51b the export showed P1's every group's n,
    mean, sd and median, and (sd^2 (n-1)/n) / (mean - median)^2 = (n - c) / c gave AFR's 12 and
    EAS's 3 carriers (the assertion below: EAS's mean was shown; also the internal distinct-values
    column, had it existed, would have been exported). Now P1's groups show no mean or sd; P2's
    stay. The median of P1 is the non-carriers' value z0, which alone gives the dataset's 40
    carriers (z0^2 = k (N - 1) / (N (N - k))): on 177adb9 every group of 42 or more showed it; now
    P1's groups show no quantile either, P2's follow their own rule (``quantile_shown``)."""
    import pandas as pd

    from trd_spark.report.tables import QUANTILE_LEVELS

    distinct_values = "n_values"  # report.tables.DISTINCT_VALUES, by name: the test runs on 75fd51b too

    n_all, k = 100_000, 40
    z0, z1 = (np.array([0.0, 1.0]) - k / n_all) / np.sqrt(k * (n_all - k) / (n_all * (n_all - 1)))
    sizes, carriers = {"EUR": 5000, "AFR": 1000, "EAS": 500}, {"EUR": 25, "AFR": 12, "EAS": 3}
    sparse = {a: np.r_[np.full(carriers[a], z1), np.full(n - carriers[a], z0)] for a, n in sizes.items()}
    rng = np.random.default_rng(40)
    normal = {a: rng.normal(size=n) for a, n in sizes.items()}
    columns = ["dataset", "ancestry", "pgs_id", "n", "mean", "sd", *QUANTILE_LEVELS, distinct_values]
    dist = pd.DataFrame(_export_moments(sparse, "P1") + _export_moments(normal, "P2"), columns=columns)
    # The oracle of the attack on the internal table: each group's carriers from its moments.
    got = {r.ancestry: r.n / (1 + (r.sd ** 2 * (r.n - 1) / r.n) / (r.mean - r.p50) ** 2)
           for r in dist[dist["pgs_id"] == "P1"].itertuples()}
    assert {a: round(c, 6) for a, c in got.items()} == carriers

    out = _suppressed_distribution(dist, sum(sizes.values()))
    assert out["n"].tolist() == [5000, 1000, 500] * 2  # group sizes of 20 or more: shown
    assert out.loc["P1", ["mean", "sd"]].isna().all().all(), out.loc["P1"]
    assert distinct_values not in out.columns
    assert out.loc["P2", ["mean", "sd"]].notna().all().all(), out.loc["P2"]
    # The median alone: the non-carriers' z0 gives the dataset's carriers, z0^2 = k (N-1) / (N (N-k)),
    # so every quantile of P1's groups is hidden too (on 177adb9 p50 was shown, z0 at full precision).
    p50 = dist.loc[(dist["pgs_id"] == "P1") & (dist["ancestry"] == "EAS"), "p50"].item()
    assert round(n_all * n_all * p50 ** 2 / (n_all - 1 + n_all * p50 ** 2), 6) == k
    quantiles = list(QUANTILE_LEVELS)
    assert out.loc["P1", quantiles].isna().all().all(), out.loc["P1", quantiles]
    assert out.loc[("P2", "EUR"), quantiles].notna().all(), out.loc["P2"]  # 5,000 persons: their own rule


def test_persons_beyond_sd_counts_persons_on_both_sides_once_each(spark):
    """``cohort.standardise.persons_beyond_sd`` on an inline frame of two definitions (a person
    one row per definition, the same PGS in each): person 1 at -12, person 2 at +12, person 3
    without the score (null), person 4 at 3. PGS A: 2 persons beyond (a negative outlier counts,
    each person once, a null is not beyond); PGS B, within the bound everywhere: absent, as is
    dataset e. Mutants killed: ``F.abs`` removed (1), ``dropDuplicates`` removed (4 rows)."""
    from trd_spark.cohort.standardise import persons_beyond_sd

    values = {1: (-12.0, 0.5), 2: (12.0, -9.9), 3: (None, 1.0), 4: (3.0, 9.9)}
    rows = [("d", definition, pid, a, b) for definition in ("ad3", "ad4") for pid, (a, b) in values.items()]
    rows.append(("e", "ad3", 5, 1.0, 2.0))
    frame = spark.createDataFrame(rows, "dataset string, definition string, person_id long, A double, B double")
    assert persons_beyond_sd(frame, ["A", "B"]) == {"d": {"A": 2}}
    assert persons_beyond_sd(frame, []) == {}


def test_distinct_values_are_counted_exactly_above_float_noise(spark):
    """The suite's cluster run (tests/test_cluster.py, session 48) published a p50 the local run of
    the same data hid: report.stage.pgs_distribution counted a group's distinct values with
    approx_count_distinct (HyperLogLog) on raw doubles, so a continuous score's group of 21 persons
    could read below 20 (few-valued, every statistic hidden) in one run and not in another, and a
    two-valued score whose equal values differ in their last bits (another summation order) read as
    many values (published: its median gives the carriers). Exact count of values rounded to 9
    places: 2 and 21. On the approximate count of raw values the noisy score reads ~60."""
    from trd_spark.report.stage import pgs_distribution

    rows = [("d1", "eur", "ad3", 0.5 + i * 1e-15 if i % 3 else -1.0 + i * 1e-15, float(i) * 0.37) for i in range(60)]
    rows += [("d1", "afr", "ad3", None, float(i) * 0.11) for i in range(21)]
    frame = spark.createDataFrame(rows, "dataset string, ancestry string, definition string, P1 double, P2 double")
    got = pgs_distribution(frame, ["P1", "P2"], "ad3").set_index(["ancestry", "pgs_id"])
    assert got["n_values"].to_dict() == {("afr", "P2"): 21, ("eur", "P1"): 2, ("eur", "P2"): 60}
    # The persons at a group's most frequent (rounded) value: P1's 0.5 (40 of 60), none shared in P2.
    assert got["n_largest_tie"].to_dict() == {("afr", "P2"): 1, ("eur", "P1"): 40, ("eur", "P2"): 1}


def rare_variant_score(seed: int, eas_carriers: int) -> tuple:
    """(rng, weights, group sizes, each group's score standardised over everyone) of a score of 22
    rare variants of weights uniform in 0.5..2, non-carriers at one value: EUR 5,000 persons with
    300 carriers, AFR 1,000 with 60 (each carrying one variant, in random order), EAS 500 whose
    ``eas_carriers`` carriers carry variants 0.. one each. ``rng`` continues the draws."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 2.0, 22)
    sizes, carriers = {"EUR": 5000, "AFR": 1000, "EAS": 500}, {"EUR": 300, "AFR": 60, "EAS": eas_carriers}
    raw = {a: np.r_[weights[rng.permutation(np.arange(carriers[a]) % 22)] if a != "EAS" else weights[:eas_carriers],
                    np.zeros(n - carriers[a])] for a, n in sizes.items()}
    everyone = np.concatenate(list(raw.values()))
    return rng, weights, sizes, {a: (v - everyone.mean()) / everyone.std(ddof=1) for a, v in raw.items()}


def test_a_tie_heavy_score_of_twenty_values_shows_no_group_statistic_that_counts_its_carriers():
    """P3: 22 rare variants of published weights (0.5..2), non-carriers at one value z0 (a score of a
    few matched variants where nearly everyone carries none); EUR 5,000 persons with 300 carriers,
    AFR 1,000 with 60, EAS 500 with 19, each of a different variant: EAS has 20 distinct values, so
    ``few_valued_scores`` (fewer than 20) flags no group, and on 241c7d9 the export showed EAS's
    mean, sd and every quantile (z0). From them S1^2 / S2 (the deviations from z0 of EAS's persons
    off the tie: their sum and sum of squares, the unknown SD cancels) matches one set of the
    weights exactly, of 19 variants: the 19 carriers (a count of 1-19). Now every statistic of P3's
    groups is hidden (``tie_heavy_scores``: fewer than 20 persons off a group's largest tie), their
    n shown; P2 (normal) keeps its own; the internal columns are not exported."""
    from itertools import combinations

    import pandas as pd

    from trd_spark.report.tables import QUANTILE_LEVELS

    distinct_values, largest_tie = "n_values", "n_largest_tie"  # by name: the test runs on 241c7d9 too
    rng, weights, sizes, z = rare_variant_score(49, 19)
    normal = {a: rng.normal(size=n) for a, n in sizes.items()}
    columns = ["dataset", "ancestry", "pgs_id", "n", "mean", "sd", *QUANTILE_LEVELS, distinct_values, largest_tie]
    rows = [(*r, int(np.unique(v, return_counts=True)[1].max()))
            for values, pgs in ((z, "P3"), (normal, "P2")) for r, v in zip(_export_moments(values, pgs), values.values())]
    dist = pd.DataFrame(rows, columns=columns)
    assert dist.loc[dist["pgs_id"] == "P3", distinct_values].min() == 20  # not few-valued
    # The attack on what 241c7d9 exported (EAS's n, mean, sd, p50 = z0) with the published weights.
    eas = dist[(dist["pgs_id"] == "P3") & (dist["ancestry"] == "EAS")].iloc[0]
    s1 = eas["n"] * (eas["mean"] - eas["p50"])
    ratio = s1 ** 2 / ((eas["n"] - 1) * eas["sd"] ** 2 + eas["n"] * (eas["mean"] - eas["p50"]) ** 2)
    assert all(eas[q] == eas["p50"] for q in QUANTILE_LEVELS)
    found = [c for k in (18, 19, 20) for c in combinations(range(22), k)
             if abs(weights[list(c)].sum() ** 2 / (weights[list(c)] ** 2).sum() - ratio) < 1e-9 * ratio]
    assert found == [tuple(range(19))]

    out = _suppressed_distribution(dist, sum(sizes.values()))
    assert out["n"].tolist() == [5000, 1000, 500] * 2
    stats = ["mean", "sd", *QUANTILE_LEVELS]
    assert out.loc["P3", stats].isna().all().all(), out.loc["P3"]
    assert out.loc[("P2", "EUR"), stats].notna().all(), out.loc["P2"]
    assert distinct_values not in out.columns and largest_tie not in out.columns
