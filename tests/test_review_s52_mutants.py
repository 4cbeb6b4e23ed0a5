"""Mutation review of session 52's code (session 53, helper "review52").

Each test kills mutants of 173ccde..89c7a7e (``trd_spark/``: the models' impossible frames 93462a1 and
collinear covariates 52e8c4a / 89c7a7e, privacy round 9 e1d1b0f / 6075843 / 9d3c0c8, the harmonised
strand-duplicate drop db4093b, the offset sums 35183ad, the new user's fixes ca9eee9 / e413307, the
leftovers 965ef95, the reruns f11ad28 / aa81e51; the DuckDB twin 2182261) that session 52's tests let
pass (named in each docstring; each shown failing on its mutant and passing on HEAD). Mutants were
one-line changes applied in scratch worktrees of 89c7a7e (/tmp/s53/review52/) and run (``-x``,
``-n 0``, nice'd; load 24-30 on the 2 cores: 0.5-5 min a run) against the modules named.

Modules: MADVP / MADVS (test_models_adversarial_s52, its pandas tests / its two Spark tests), PRIV9P /
PRIV9S (test_privacy9_s52, pure / its two Spark tests), PGSK (test_pgs_kinds_s52), FIX16
(test_fixed16_s52), FLAT39 (test_flatbed_s39 -k row_chunks), NEWP / NEWD (test_newuser_s52, but / only
its date test), RERUN (test_rerun_s52), RER43 (test_rerun_s43 -k runtime), LEFT* (test_leftovers_s52:
-k digest, summary_row, methods, sigterm), OMOPKQ (test_omop_kinds_s52's twin-only tests); "read":
judged by reading the module's case and assertions (runs cut for time); "new": a test below.
  id   change                                      result
  m1   sex_ok: 2 counted as 0/1                    killed: MADVP
  m2   duration_ok: > 0 (a day-0 time refused)     survived MADVP; new
  m3   duration_ok: null / NaN pass                killed: MADVP
  m4   bad(): one person let through               killed: MADVP
  m5   sex judged over the MDD statuses only       killed: MADVP
  m6   duration judged over TRD only               killed: MADVP
  m7   TRD's event 1 not checked                   killed: MADVP
  m8   trMDD / MDD_other's event 0 not checked     read: killed by MADVP (its trmdd_event case)
  m9   check_analysis_columns: sex never checked   read: killed by MADVP (its sex cases)
  m10  check_analysis_columns: cox never checked   read: killed by MADVP (its time and event cases)
  m11  pandas: status counts not passed            read: killed by MADVP (every case)
  m12  Spark: status counts not passed             killed: MADVS
  m13  Spark: duration > 0                         survived MADVS; new
  m14  Spark: a null meets every rule              read: killed by MADVS (its NaN time, null in Spark)
  m15  Spark: sex 2 counted as 0/1                 read: killed by MADVS (its sex 2)
  m16  persons in two: datasets > 2                read: killed by MADVS (persons_on_more_rows == (n, 1, 3))
  m17  repeated: rows >= definitions               read: killed by MADVS (as m16: (n, 0, 0))
  m18  load_analysis_frame: no row check           read: killed by MADVS (its stage run's ModelError)
  m19  check_one_row_per_person: in-two branch     read: survives MADVS (its stage frame has no person in
       removed                                     two datasets); new
  m20  load_analysis_frame: empty never refused    read: survives every module (no test publishes an
       (persons < 0)                               empty frame); new
  m21  datasets counted as definitions             read: killed by MADVS (the ad2 rows: every person in two)
  k1   alias tolerance 1e-12                       killed: MADVP
  k2   alias tolerance 1e-2                        read: survives MADVP (exact and 1e-9 copies only); new
  k3   no re-orthogonalisation                     survived MADVP; equivalent in effect (one pass leaves an
                                                   exact copy's residual ~1e-15 of its norm, far below 1e-7)
  k4   basis: the columns, not their residuals     killed: MADVP
  k5   collinear note not written                  read: killed by MADVP (the note asserted)
  k6   check.covariates not cut                    read: killed by MADVP (the fit singular)
  k7   the PGS's aliasing not checked              read: killed by MADVP (its note "the PGS is a linear
                                                   function" asserted)
  k8   last covariate never judged                 read: killed by MADVP (pc2, the copy, is last)
  k9   stage: logistic collinear WARNING not       read: survives (no test runs the models stage with a
       called                                      collinear covariate); low: each fit's note says it, the
                                                   WARNING's function is tested; left
  k10  stage: cox collinear WARNING not called     read: as k9; left
  k11  WARNING reads the empty-covariate note      read: killed by MADVP ({} returned)
  k12  basis without the intercept                 killed: MADVP
  p1   kurtosis_bar: min(limit, 6 errors)          killed: PRIV9P
  p2   6 standard errors -> 9                      survived PRIV9P; new
  p3   bar infinite below 30 persons               survived PRIV9P; new
  p4   group arm removed                           read: killed by PRIV9P (the founder variant)
  p5   pooled arm removed                          survived PRIV9P; new
  p6   pooled bar at the largest group's n         survived PRIV9P; new
  p7   residual columns not read                   read: killed by PRIV9P (the nested pair)
  p8   pooled m2 without (n - 1) / n               read: killed by PRIV9P (pooled_moments vs scipy)
  p9   pooled e3: m m2 for 3 m m2                  read: killed by PRIV9P (as p8)
  p10  carrier_count_scores: no kurtosis rule      read: killed by PRIV9P (P6 shown)
  p11  heavy_tailed_scores without the limit       survived PRIV9P; new
  p12  suppress_release: limit not passed          survived PRIV9P; new
  p13  hide_estimates: limit not passed            survived PRIV9P; new
  p14  build_report: limit not passed              survived PRIV9P; new
  p15  residual columns exported                   read: killed by PRIV9P (no residual_ column asserted)
  p16  skewness / kurtosis exported                read: killed by PRIV9P (as p15)
  p17  limit may be raised (no le=)                read: killed by PRIV9P (2.0 refused)
  p18  compare: release A's kurtosis only          survived PRIV9S; new
  p19  compare_releases: the setting not passed    read: survives (no compare_releases run with another
                                                   limit; one needs two complete releases); medium; left
  p20  compare: the bar 3 higher                   survived PRIV9S; new
  p21  residual: pairs of 1-3 persons taken        not run; low (a dataset of fewer than 4 persons)
  p22  residual: no variance floor                 killed: PRIV9S
  p23  residual: a zero-variance score fitted      not run; low (lstsq's rcond drops it)
  p24  residual: a score's sums over all its       survived PRIV9S; new
       persons, not those with the pair
  p25  residual: null values kept                  read: killed by PRIV9S (rows for P2, D, Z)
  p26  pgs_distribution: inner merge               survived PRIV9S; new
  p27  kurtosis - 3                                read: killed by PRIV9S (scipy's moments)
  p28  residual: null ancestry another label       survived PRIV9S; new
  p29  residual: + for -                           read: killed by PRIV9S (numpy's residuals)
  p30  residuals from 3 scores up                  survived PRIV9S; new
  g1   members: len >= 0                           read: killed by PGSK (its IndexError case)
  g2   placed not cut                              read: killed by PGSK (as g1)
  g3   offset sums: flagged rows one off           killed: FIX16
  g4   offset sums: the running sum not carried    survived FIX16 (its 9,000 x 5 rows are one chunk of
                                                   26,214, not "several"); killed: FLAT39
  g5   header check removed                        read: killed by NEWP
  g6   header names: this file's columns only      survived NEWP; new
  g7   header names: not stripped                  survived NEWP; new
  g8   header names: not lowered                   read: killed by NEWP ('EFFECT_ALLELE')
  g9   a missing effect allele read as a header    survived NEWP; new
  o1   date hint: match, not fullmatch             not run; low (a shape such as '####-##-##aa' told
                                                   "out of range": the hint wrong, no value shown)
  o2   date hint: no time part                     read: killed by NEWD ('2019-02-30 10:00:00')
  o3   reader's default threshold 19               survived RERUN; new
  o4   date hint for any column type               not run; low (a number column holds no date shape)
  c1   shipped hint: shipped.exists()              survived NEWP; equivalent (the path missing, the shipped
                                                   file is never it)
  c2   shipped hint: the path's own folder         read: killed by NEWP
  x1   did-you-mean cutoff 0.95                    killed: NEWP
  x2   did-you-mean over positionals too           survived NEWP; equivalent in effect (no positional is
                                                   within 0.7 of a --option)
  x3   unknown arguments ignored                   read: killed by NEWP
  x4   exit handlers not run                       read: killed by LEFTSIG ("EXIT HANDLERS RAN")
  x5   interrupted process not ended at once       read: killed by LEFTSIG ("INTERPRETER TEARDOWN")
  y1   report row: no export/                      read: killed by LEFTSUM (its endswith)
  y2   report row: blank                           read: killed by LEFTSUM
  y3   toy generation stop not logged              read: killed by LEFTSIG (the line asserted)
  t1   Methods: always the items reading           read: killed by LEFTM (its three readings)
  r1   unread: every section                       read: killed by RERUN (the exact sets)
  r2   unread: runtime keys too                    read: killed by RERUN (its last assertion)
  r3   unread: dotted keys unmatched               read: killed by RERUN (cohort's phenotypes.gates)
  r4   stage_code without unread                   read: killed by RERUN (pgs changed for report)
  r5   unwanted = cut (names taken too)            survived RERUN; new
  r6   left out: A = B = ... unconditioned         survived RERUN; equivalent on this code (no statement
                                                   binds an unread model and another name)
  r7   left-out statements followed                killed: RERUN
  r8   left-out statements still in the digest     survived RERUN; new
  r9   cut without unread                          read: killed by RERUN
  r10  unreadable-by-name module followed nowhere  survived LEFTDIG; low (only a star import reaches it)
  r11  every module followed whole                 killed: LEFTDIG
  r12  statement imports without top imports       survived LEFTDIG; low (a function's import through a
                                                   top-level alias: none in the package)
  r13  runtime names kept                          survived LEFTDIG; killed: RER43
  r14  own definitions undefined                   killed: RERUN
  d1   twin: CR not trimmed                        read: killed by OMOPKQ ('2019-01-10\\r')
  d2   twin: a fraction read whole                 read: killed by OMOPKQ (month_of_birth 2.5)
  d3   twin: spaces only trimmed                   read: killed by OMOPKQ (the tab cases)

104 written: 47 run against session 52's modules, 17 killed, 30 survived (g4 and r13 then killed by
the older FLAT39 and RER43); 57 judged by reading (a run took 0.5-17 min at load 24-75). The 10 tests
below kill the 25 meaningful survivors (m2 m13 m19 m20 k2, p2 p3 p5 p6 p11-p14 p18 p20 p24 p26 p28 p30,
g6 g7 g9, o3, r5 r8), each shown failing on its mutant in a worktree of 89c7a7e (at the assertion its
docstring names) and passing on HEAD. Equivalent: k3 c1 x2 r6. Low, left: k9 k10 p21 p23 o1 o4 r10
r12; medium, left: p19 (a compare_releases run needs two complete releases). No survivor showed a bug
in the code: each was a gap in the tests.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis

T = 20


# ---------------------------------------------------------------- models: frame values (93462a1)


def test_a_day_0_time_passes_and_a_person_in_two_datasets_is_refused(spark):
    """``covariates.check_status_values``' duration rule is "0 or more days" (docs: a day-0 event is
    fitted, cox.py's day-0 handling): an MDD person with time_to_trd_days 0 passes the pandas check
    (m2: ``> 0`` refused it) and the Spark one (m13). ``stage.check_one_row_per_person`` refuses a
    person in two datasets (m19: the branch removed; session 52's stage test ran a frame with a
    repeated row only, and its person-in-two-datasets count was asserted but never raised)."""
    from models_sim import grid_config, simulate_frame, to_spark

    from trd_spark.errors import ModelError
    from trd_spark.models.covariates import COX_AGE, covariate_columns
    from trd_spark.models.cox import DURATION, EVENT
    from trd_spark.models.distributed import _model_columns
    from trd_spark.models.logistic import check_analysis_frame
    from trd_spark.models.stage import check_one_row_per_person

    frame = simulate_frame(seed=53, n=120)
    for status in ("TRD", "trMDD"):
        frame.loc[frame.index[frame["status"] == status][0], DURATION] = 0.0
    check_analysis_frame(frame, covariate_columns(grid_config(), age=COX_AGE), extra=(DURATION, EVENT))
    assert DURATION in _model_columns(to_spark(spark, frame), grid_config(), (DURATION, EVENT), age=COX_AGE)
    check_one_row_per_person(0, 0)
    with pytest.raises(ModelError, match=r"more than one dataset") as e:
        check_one_row_per_person(1, 0)
    assert e.value.where == "cohort/analysis_frame.person_id"


def test_the_models_stage_refuses_an_empty_analysis_frame(spark, tmp_path):
    """``stage.load_analysis_frame`` on a published analysis frame of no rows: InputDataError "has
    no rows" naming the frame, no complete models output. m20 (``persons < 0``: the check never
    true) survived every test: no test published an empty frame (the message was in none)."""
    from pathlib import Path

    from models_sim import make_config, simulate_frame, to_spark

    from trd_spark.errors import InputDataError
    from trd_spark.layout import publish_stage
    from trd_spark.pipeline import run_stage

    cfg = make_config(tmp_path, models={"cox": False})
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, simulate_frame(seed=53, n=40)).limit(0))
    with pytest.raises(InputDataError, match=r"analysis frame has no rows") as e:
        run_stage(spark, cfg, "models")
    assert "analysis_frame" in str(e.value.where)
    assert not (Path(cfg.output_root) / cfg.release / "models" / "_SUCCESS").exists()


# ---------------------------------------------------------------- models: collinear covariates (52e8c4a)


def test_a_nearly_collinear_covariate_is_kept_at_r_tolerance():
    """``covariates.aliased_columns``: pc2 = pc1 + noise of 1e-4 of pc1's norm (a residual 1e-4 of its
    norm, far above R's 1e-7) is kept; an exact rescaled copy is aliased. k2 (tolerance 1e-2)
    dropped the near copy: a covariate the fit can use taken out without need (its note said it
    was collinear). Session 52's cases were exact or 1e-9 copies only."""
    from trd_spark.models.covariates import aliased_columns

    rng = np.random.default_rng(53)
    data = pd.DataFrame({"age": rng.normal(50, 10, 400), "pc1": rng.normal(size=400)})
    data["pc2"] = data["pc1"] + 1e-4 * rng.normal(size=400)
    assert aliased_columns(data, ["age", "pc1", "pc2"]) == []
    data["pc3"] = 3.0 * data["pc1"] - 2.0
    assert aliased_columns(data, ["age", "pc1", "pc2", "pc3"]) == ["pc3"]


# ---------------------------------------------------------------- privacy round 9 (e1d1b0f, 6075843, 9d3c0c8)


def _row(pgs: str, ancestry: str, n: int, sd: float = 1.0, kurt: float = 0.0, mean: float = 0.0,
         dataset: str = "discovery") -> dict:
    """A pgs_distribution row with its internal columns (no tie, a value per person)."""
    from trd_spark.report.tables import DISTINCT_VALUES, EXCESS_KURTOSIS, LARGEST_TIE, QUANTILE_LEVELS, SKEWNESS

    return {"dataset": dataset, "ancestry": ancestry, "pgs_id": pgs, "n": n, "mean": mean, "sd": sd,
            SKEWNESS: 0.0, EXCESS_KURTOSIS: kurt,
            **{q: mean + sd * z for q, z in zip(QUANTILE_LEVELS, np.linspace(-2, 2, len(QUANTILE_LEVELS)))},
            DISTINCT_VALUES: n, LARGEST_TIE: 1}


def test_the_kurtosis_bar_at_small_groups_and_the_pooled_arm():
    """``tables.kurtosis_bar``: a group of 30 persons' bar is 6 x sqrt(24 / 30) = 5.37 (p1 ``min``
    gave 1.0: a polygenic score's 2.0, 1 in 20 normal samples of 30, hid every estimate; p2: 9 errors,
    8.05), 864 persons' is the limit, 4 persons' finite and 3 persons' infinite (p3: ``n >= 30``).
    ``heavy_tailed_scores``' pooled arm: ten groups of 100 persons, each normal (excess kurtosis 0,
    bar 2.94), five of SD 1 and five of SD 2.5: the dataset's pooled excess kurtosis is 1.56, above
    its bar of 1.0 at 1,000 persons: flagged. p5 (the pooled arm removed) and p6 (its bar at the
    largest group's 100 persons: 2.94) left it. Session 52's cases were each flagged through a
    group too."""
    from trd_spark.report.tables import heavy_tailed_scores, kurtosis_bar, pooled_moments

    assert kurtosis_bar(30, 1.0) == pytest.approx(6 * (24 / 30) ** 0.5)
    assert kurtosis_bar(864, 1.0) == pytest.approx(1.0)
    assert kurtosis_bar(4, 1.0) == pytest.approx(6 * 6 ** 0.5)
    assert kurtosis_bar(3, 1.0) == float("inf")
    small = pd.DataFrame([_row("P", "g", 30, kurt=2.0)])
    assert not heavy_tailed_scores(small, 1.0).any()

    dist = pd.DataFrame([_row("V", f"g{i}", 100, sd=1.0 if i % 2 else 2.5) for i in range(10)]
                        + [_row("N", f"g{i}", 100) for i in range(10)])
    v = dist[dist["pgs_id"] == "V"]
    pooled = pooled_moments(v["n"], v["mean"], v["sd"], v["skewness"], v["excess_kurtosis"])[1]
    assert 1.3 < pooled < 2.0, pooled
    flags = heavy_tailed_scores(dist, 1.0)
    assert flags[dist["pgs_id"] == "V"].all() and not flags[dist["pgs_id"] == "N"].any()


def test_a_lower_kurtosis_limit_reaches_the_export():
    """``report.max_pgs_excess_kurtosis`` 0.5 (a stricter setting): P1, excess kurtosis 0.75 in each of
    two groups of 5,000 (bar 0.5 at 0.5, 1.0 by default), shows no estimate in results.tsv and its
    note is the carrier-count one, and pgs_distribution.tsv no mean or SD of it; by default it shows them. p11 (``carrier_count_scores`` calling
    ``heavy_tailed_scores`` without the limit), p12 / p13 (``suppress_release`` /
    ``hide_estimates_of_hidden_counts`` without ``rc.max_pgs_excess_kurtosis``) and p14
    (``build_report`` not passing the setting to ReleaseCounts): the setting silently unread.
    Session 52's test checked the setting's validation only."""
    from test_field_cases_round38_models import _release

    from trd_spark.config import load_config
    from trd_spark.report.stage import build_report
    from trd_spark.vocabulary import HiddenEstimatesNote

    base = load_config()
    strict = base.model_copy(update={"report": base.report.model_copy(update={"max_pgs_excess_kurtosis": 0.5})})
    shown = {}
    for name, cfg in (("default", base), ("strict", strict)):
        t = _release(cfg, [{"pgs_id": "P1", "n": 8000, "n_cases": 3000, "beta": 0.1, "se": 0.05, "p": 0.03}])
        t["pgs_distribution"] = pd.DataFrame([_row("P1", a, 5000, kurt=0.75) for a in ("eur", "afr")])
        files = build_report(cfg, t, {})
        results, dist = (pd.read_csv(io.StringIO(files[f]), sep="\t", dtype=str, keep_default_na=False)
                         for f in ("results.tsv", "pgs_distribution.tsv"))
        shown[name] = results[(results.pgs_id == "P1") & (results.dataset == "discovery")], dist
    (fits, dist), (fits_default, dist_default) = shown["strict"], shown["default"]
    assert len(fits) and (fits["odds_ratio"] == "").all(), fits
    assert (fits["note"] == str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)).all()
    assert len(dist) == 2 and (dist[["mean", "sd"]] == "").all().all(), dist
    assert (fits_default["odds_ratio"] != "").all() and (dist_default[["mean", "sd"]] != "").all().all()


def test_compare_hides_a_correlation_heavy_tailed_in_release_b_only(spark):
    """``compare.score_correlation``: P7 polygenic in release A and, in B, the same plus a rare
    variant (20 carriers of 2,000) of moderate weight: excess kurtosis about 0 in A and 1.5-3.5 in B
    (bar 1.0 at 2,000 persons): hidden. p18 (A's kurtosis only) and p20 (the bar 3 higher) showed
    its r, which is mostly the carriers' table. P2 polygenic in both: shown. Session 52's case was
    heavy in both releases (and far above any bar: 49)."""
    from trd_spark.report.compare import score_correlation

    rng = np.random.default_rng(53)
    n = 2000
    a7 = rng.normal(size=n)
    carrier = np.zeros(n)
    carrier[rng.choice(n, 20, replace=False)] = 1
    b7 = a7 + 4.2 * carrier
    assert kurtosis(a7) < 0.5 and 1.5 < kurtosis(b7) < 3.5, (kurtosis(a7), kurtosis(b7))
    p2 = rng.normal(size=n)

    def frame(scores: dict[str, np.ndarray]) -> pd.DataFrame:
        return pd.DataFrame([("d", i, p, float(v)) for p, vs in scores.items() for i, v in enumerate(vs)],
                            columns=["dataset", "person_id", "pgs_id", "score_sum"])

    out = score_correlation(spark.createDataFrame(frame({"P7": a7, "P2": p2})),
                            spark.createDataFrame(frame({"P7": b7, "P2": p2 + 0.1 * rng.normal(size=n)})), T)
    r = out.set_index("pgs_id")["correlation"]
    assert np.isnan(r["P7"]) and r["P2"] > 0.99, out


def _pairwise_residual_rows(frame: pd.DataFrame, pgs: list[str]) -> pd.DataFrame:
    """``report.stage.residual_moments`` in numpy: each pair's covariance over the persons with both
    (population), least squares of each score on the others present, the residual over the persons
    with every score of its fit, its moments per ancestry group (null ancestry: "unknown")."""
    x = frame[pgs].to_numpy(float)
    k = len(pgs)
    cov = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            m = both.sum()
            if m >= 4:
                cov[i, j] = cov[j, i] = ((x[both, i] * x[both, j]).sum() - x[both, i].sum() * x[both, j].sum() / m) / m
    present = [i for i in range(k) if cov[i, i] > 0]
    group = frame["ancestry"].fillna("unknown").to_numpy()
    rows = []
    for j in present:
        others = [i for i in present if i != j]
        b = np.linalg.lstsq(cov[np.ix_(others, others)], cov[others, j], rcond=None)[0]
        r = x[:, j] - x[:, others] @ b
        for g in sorted(set(group)):
            v = r[(group == g) & ~np.isnan(r)]
            if len(v) < 2:
                continue
            rows.append({"pgs_id": pgs[j], "ancestry": g, "residual_n": len(v), "residual_sd": v.std(ddof=1),
                         "residual_excess_kurtosis": kurtosis(v)})
    return pd.DataFrame(rows).set_index(["pgs_id", "ancestry"])


def test_residuals_of_two_scores_of_persons_without_ancestry_and_of_a_score_on_part_of_them(spark):
    """``report.stage.pgs_distribution`` / ``residual_moments``:
    - a dataset of two scores, A and B = A + a rare variant (the nested pair of
      tests/test_privacy9_s52.py): each has a residual on the other, so both are flagged (p30: a
      residual only from three scores up: a panel of two such scores left unflagged, their group
      means counting the variant's carriers);
    - persons without an ancestry are the "unknown" group in both aggregates, so that group's row
      carries its residual's moments (p28: another label, the row's residual columns empty);
    - a score of one dataset alone keeps its distribution rows (p26: an inner merge with its empty
      residual table dropped every row);
    - C, a score with a value for part of the persons only (mean 5): each pair's covariance is read
      over the persons with both, as numpy's pairwise oracle (p24: the sums of A over every person
      with A, beside the products over those with both, gave A's and B's residuals the wrong SD).
    Session 52's residual test had three or more scores, every person with an ancestry and every
    score present for every person or none."""
    from test_privacy9_s52 import SIZES, nested_scores

    from trd_spark.report.stage import pgs_distribution, residual_moments
    from trd_spark.report.tables import heavy_tailed_scores

    a, b, _ = nested_scores(3, 0.002)
    groups = list(SIZES)
    frame = pd.DataFrame({"dataset": "d", "definition": "x",
                          "ancestry": np.concatenate([[g if g != "EAS" else None] * SIZES[g] for g in groups]),
                          "A": np.concatenate([a[g] for g in groups]), "B": np.concatenate([b[g] for g in groups])})
    frame["person_id"] = np.arange(len(frame))
    rng = np.random.default_rng(53)
    frame["C"] = np.where(frame["ancestry"] == "AFR", np.nan, 5.0 + rng.normal(size=len(frame)))
    sdf = spark.createDataFrame(frame)

    dist = pgs_distribution(sdf, ["A", "B"], "x").set_index(["pgs_id", "ancestry"])
    assert dist.loc[("B", "unknown"), "residual_n"] == SIZES["EAS"], dist
    assert set(dist.index[heavy_tailed_scores(dist.reset_index()).to_numpy()].get_level_values("pgs_id")) == {"A", "B"}
    one = pgs_distribution(sdf, ["A"], "x")
    assert sorted(one["ancestry"]) == ["AFR", "EUR", "unknown"] and one["n"].sum() == len(frame), one

    got = residual_moments(sdf, ["A", "B", "C"], "x").set_index(["pgs_id", "ancestry"])
    want = _pairwise_residual_rows(frame, ["A", "B", "C"])
    assert set(got.index) == set(want.index) and "AFR" not in set(want.index.get_level_values("ancestry"))
    for key in want.index:
        for col in ("residual_n", "residual_sd"):
            assert got.loc[key, col] == pytest.approx(want.loc[key, col], rel=1e-6), (key, col)


# ---------------------------------------------------------------- scoring files (ca9eee9)


HEADER = "#pgs_id=PGS1\n#genome_build=GRCh38\n#variants_number=3\n"
COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
ROWS = "1\t100\tA\tG\t0.1\n1\t200\tC\tT\t-0.25\n"


def test_a_pasted_header_of_another_layout_or_padded_and_an_empty_allele():
    """``scoring_files.parse_scoring_file``: a harmonised file's column line joined after a plain file
    (its effect_allele position holds 'hm_pos', a column of no column of the first file: g6 read this
    file's column names only and summed the second score into the first); a column line with blanks
    around a name (' effect_allele ': g7, no strip); an empty effect allele stays its own error, not
    a header line (g9: a NaN allele read as a column name)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    for line, shown in (("hm_rsID\thm_chr\thm_pos\teffect_allele\teffect_weight\n", "'hm_pos'"),
                        ("1\t300\t effect_allele \tT\t0.2\n", "'effect_allele'")):
        with pytest.raises(InputDataError, match=r"column-header line among the variant rows") as e:
            parse_scoring_file(HEADER + COLUMNS + ROWS + line, source="s.txt")
        assert shown in str(e.value) and e.value.where == "s.txt:7"
    with pytest.raises(InputDataError, match=r"effect allele is missing") as e:
        parse_scoring_file(HEADER + COLUMNS + ROWS + "1\t300\t\tT\t0.2\n", source="s.txt")
    assert "column-header" not in str(e.value)


# ---------------------------------------------------------------- phenotypes (aa81e51)


def test_the_readers_default_threshold_hides_19_records(spark, caplog):
    """``omop.log_records_without_drug_type`` called without ``records_below`` (a tool, a test): 19
    records without an end or days_supply read "<20" (the policy's T); o3 (the default one lower,
    19) wrote "19+", the count of 1..19 recoverable. aa81e51 moved the default to a constant."""
    import datetime as dt

    from trd_spark.phenotypes.omop import log_records_without_drug_type

    d = dt.date(2020, 1, 1)
    drugs = spark.createDataFrame([(i, d, None, None, None) for i in range(19)],
                                  "person_id long, drug_exposure_start_date date, drug_exposure_end_date date, "
                                  "verbatim_end_date date, days_supply int")
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        log_records_without_drug_type(drugs, "mem")
    [line] = [r.getMessage() for r in caplog.records if "drug_type_concept_id" in r.getMessage()]
    assert "<20" in line and "19" not in line.replace("<20", ""), line


# ---------------------------------------------------------------- reruns (f11ad28)


def test_a_stage_that_imports_an_unread_model_by_name_still_reruns_for_its_keys():
    """``provenance._wanted_statements``: a settings model a stage cannot read through its slice but
    imports by name (``phenotypes/omop.py`` as it was before aa81e51: ``ReportSettings``' default
    threshold) stays in that stage's code: a key added to ``report`` changes the phenotypes stage's
    code, the pgs stage's not. r5 (``unwanted = cut``: the cut names taken by name left out too)
    dropped the model's definition from the digest, so an edit of a default the stage reads would
    rerun nothing (a stale phenotypes output). Session 52's test covers the cut, not a cut name
    taken by name (since aa81e51 no stage takes one). A key added to ``PhenotypeSettings`` itself
    (not to a model under it) changes the code of the stages that read the section only: r8 (the
    statements left out still counted in the digest) kept ``class PhenotypeSettings`` in the pgs
    stage's code (it takes ``GateThreshold``, which the class's body calls), so such a key reran
    the pgs stage, hours of scoring; session 52's test edits ``TrialSettings``, a model under it."""
    from source_edits import source_edits

    from trd_spark.layout import STAGES
    from trd_spark.stages import STAGE_SPECS, stage_code

    omop = "trd_spark.phenotypes.omop"
    with source_edits(lambda: {s: stage_code(STAGE_SPECS[s]) for s in STAGES}) as edit:
        edit(omop, "import MIN_SMALL_COUNT_THRESHOLD, Config,", "import MIN_SMALL_COUNT_THRESHOLD, Config, ReportSettings,")
        before = edit(omop, "DEFAULT_RECORDS_BELOW: int = MIN_SMALL_COUNT_THRESHOLD",
                      'DEFAULT_RECORDS_BELOW: int = ReportSettings.model_fields["small_count_threshold"].default')
        after = edit("trd_spark.config", "    audit_output_roots: list[str] = Field(default_factory=list)\n",
                     "    audit_output_roots: list[str] = Field(default_factory=list)\n    new_key: float = 1.0\n")
    assert [s for s in STAGES if before[s] != after[s]] == ["phenotypes", "cohort", "report"]
    with source_edits(lambda: {s: stage_code(STAGE_SPECS[s]) for s in STAGES}) as edit:
        before = edit("trd_spark.config", "", "")
        after = edit("trd_spark.config", "    trmdd_min_followup_days: int = Field(180, ge=0)\n",
                     "    trmdd_min_followup_days: int = Field(180, ge=0)\n    new_key: float = 1.0\n")
    assert [s for s in STAGES if before[s] != after[s]] == ["phenotypes", "cohort", "report"]
