"""Cohort and models field cases, round 37 (session 45, helper models37).

ancestry-null-group: an ``ancestry_preds.tsv`` row whose ``ancestry_pred`` field is empty (Spark
reads it as null; report.html's PGS distributions already show such persons as the group
``unknown``). With ``pgs.standardisation: ancestry`` the z-score is taken within (dataset,
ancestry) groups by an equi-join of each person to the group's mean and SD; a null key matches no
group, so the person left the standardised frame, hence the analysis frame, with no count, no
WARNING and no note (the flow's "with ancestry/PCs" step still counted them). d42f9c9 made a
null ancestry a group of its own, which z-scored a heterogeneous, possibly tiny group among
itself, silently; now (reader s45 finding 4) such persons are left out and counted out of the
flow's "with genetic ancestry and PCs" step, one WARNING per dataset. Oracle: pandas' groupby
of the persons with a group (mean, SD with ddof 1).

pgs-null-for-everyone: a score with zero variance in a dataset (a score none of whose variants
matched the microarray, so every sum is 0) is null per SD for every person of that dataset
(``standardise_pgs``; pc_adjusted's ``null_scores`` alike). The models' complete cases then left
out every person, and each logistic / Cox row read n = 0, n_cases = 0, ``too_few_cases`` /
``too_few_events`` (a count failure, which the run log does not count): a published table said
the contrast had no persons, and the cause (no variance) was named nowhere. Now such a row is
``pgs_zero_variance`` with the n / n_cases of the persons the fit had. Oracle: pandas' complete
cases of the outcome and covariates.

ph-log-day-zero: a TRD event on the day of the MDD index (``time_to_trd_days`` 0) under
``models.ph_time_transform: log``: log(0) is -inf, lifelines' ``proportional_hazard_test``
returns a NaN statistic and p without raising, and the Cox row carried ph_statistic / ph_p NaN
with an empty note, where a failed test is noted ("proportional-hazards test failed"). The
other transforms (lifelines called directly: identity) give a finite test on the same fit.
Defensive: a non-finite PH result from lifelines is noted; unreachable through trd.py's day-0 -> 1
rule (``F.greatest(datediff, 1)``), reachable only for frames given to ``fit_cox`` directly, as
here (reader s45 finding 8).

related-pair-member-by-partitioning: which member of a related pair the cohort stage drops
(``related_pairs_to_remove``, Hail's greedy ``maximal_independent_set``) was left to the order in
which Spark handed Hail the pairs: among members of equal degree Hail removes the largest by its
``tie_breaker``, and without one, the first it met. The same 40 pairs on 1, 3 or 7 partitions
dropped three different sets of persons, so a rerun on a cluster of another size (or another
``spark.shuffle_partitions``) analysed other persons and published other estimates from the same
data. Now ties are broken by person_id (the higher one is dropped): the same set whatever the
partitioning or the orientation of the pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from models_sim import grid_config, simulate_frame
from pyspark.sql import functions as F

from trd_spark.cohort.sample_qc import related_pairs_to_remove
from trd_spark.cohort.stage import dataset_counts
from trd_spark.cohort.standardise import standardise_datasets
from trd_spark.models.covariates import COX_AGE, covariate_columns
from trd_spark.models.cox import cox_grid, fit_cox, mdd_frame
from trd_spark.models.logistic import contrast_frame, logistic_grid
from trd_spark.vocabulary import ModelFailure

T = 20  # report.small_count_threshold's default


def test_null_ancestry_is_left_out_and_counted(spark):
    """Persons with an empty ancestry_pred have no group: left out of the ancestry-standardised
    frame (the others z-scored within their groups) and counted out of the flow's "with genetic
    ancestry and PCs" step (``dataset_counts``' n_without_group). On d42f9c9 they were z-scored
    as a group of their own (5 persons here), silently (reader s45 finding 4)."""
    rng = np.random.default_rng(37)
    ancestry = ["eur"] * 24 + ["afr"] * 21 + [None] * 5  # groups of T or more: z-scored within
    df = pd.DataFrame({"person_id": np.arange(1, len(ancestry) + 1, dtype=np.int64),
                       "ancestry": ancestry, "PGS_A": rng.normal(size=len(ancestry))})
    sdf = spark.createDataFrame(df, "person_id long, ancestry string, PGS_A double").withColumn("ds", F.lit("d"))
    out, _ = standardise_datasets(sdf, ["PGS_A"], "ancestry", "ds", ["d"], min_samples=T)
    got = out.toPandas().set_index("person_id")["PGS_A"]
    grouped = df[df.ancestry.notna()]
    assert sorted(got.index) == grouped.person_id.tolist()  # d42f9c9: persons 46..50 kept as a group
    g = grouped.groupby("ancestry")["PGS_A"]
    want = ((grouped.PGS_A - g.transform("mean")) / g.transform("std")).to_numpy()
    np.testing.assert_allclose(got.loc[grouped.person_id].to_numpy(), want, rtol=1e-9)
    # The count: 50 unrelated persons in the file, 5 of them without a group.
    ids = sdf.select("person_id")
    steps = dataset_counts(ids, ids, ids, ids, sdf.where(F.col("ancestry").isNull()).select("person_id"))
    assert (steps["n_with_ancestry"], steps["n_without_group"]) == (45, 5)


def test_pgs_null_for_everyone_is_zero_variance_with_the_true_counts():
    cfg = grid_config()
    frame = simulate_frame(seed=5, n=120, definitions=("ad3",)).assign(PGS900002=np.nan)
    logistic = logistic_grid(frame, cfg)
    rows = logistic[logistic.pgs_id == "PGS900002"]
    assert len(rows) == len(cfg.models.contrasts)
    covs = covariate_columns(cfg)
    for r in rows.itertuples():
        sub = contrast_frame(frame, r.contrast)
        want = sub.dropna(subset=["case", *covs])
        # base: n 0, n_cases 0, too_few_cases
        assert (r.failure_reason, r.n, r.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, len(want), want.case.sum())
        assert not r.converged and "zero variance" in r.note
    cox = cox_grid(frame, cfg)
    row = cox[cox.pgs_id == "PGS900002"].iloc[0]
    want = mdd_frame(frame).dropna(subset=["time_to_trd_days", "trd_event", *covariate_columns(cfg, age=COX_AGE)])
    want = want[want.time_to_trd_days >= 0]
    assert (row.failure_reason, row.n, row.n_events) == (ModelFailure.PGS_ZERO_VARIANCE, len(want),
                                                         want.trd_event.sum())
    assert row.n > 0 and not row.converged


def test_ph_test_undefined_at_day_zero_is_noted_not_a_silent_nan():
    """Defensive: a frame given to fit_cox directly with time 0 (the pipeline's trd.py sets a
    day-0 TRD to 1, so its frames never have it); a NaN PH result is noted, not left silent."""
    cfg = grid_config()
    covs = covariate_columns(cfg, age=COX_AGE)
    mdd = mdd_frame(simulate_frame(seed=5, n=600, definitions=("ad3",))).copy()
    event_rows = np.flatnonzero(mdd.trd_event.to_numpy() == 1)[:2]
    mdd.iloc[event_rows, mdd.columns.get_loc("time_to_trd_days")] = 0.0
    got = fit_cox(mdd, "PGS900001", covs, ph_time_transform="log")
    assert got["converged"] and np.isfinite(got["beta"])
    assert np.isnan(got["ph_statistic"]) and np.isnan(got["ph_p"])
    assert got["note"] == "proportional-hazards test failed"  # base: ""
    other = fit_cox(mdd, "PGS900001", covs, ph_time_transform="identity")
    assert np.isfinite(other["ph_p"]) and other["note"] == ""


def test_related_pair_member_dropped_does_not_depend_on_partitioning(spark, hl):
    pairs = [(i, i + 1000) for i in range(1, 41)] + [(500, 501), (501, 502)]
    ids = [*range(1, 41), *range(1001, 1041), 500, 501, 502]
    samples = spark.createDataFrame([(i,) for i in ids], "person_id long")
    want = {501, *range(1001, 1041)}  # the chain's middle; of each tied pair the higher ID
    # One Hail call (the costly part): the pairs reversed, on 7 partitions. The rule's set is the
    # partitioning-free answer; base gave another set on each of 1, 3 and 7 partitions.
    df = spark.createDataFrame([(b, a) for a, b in pairs], "person_id_1 long, person_id_2 long").repartition(7)
    got = {r.person_id for r in related_pairs_to_remove(hl, df, samples.repartition(7)).collect()}
    assert got == want  # base: dropped 3, 4, 6, 7, 9, 10, ... and kept 1001, ...
