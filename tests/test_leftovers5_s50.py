"""Session 50 (helper "leftovers5"): three small gaps found this session.

- tests/export_hunter.py rebuilt the Kaplan-Meier PGS thirds by the old rank rule (ties split in
  person order) after 8d4e57b made ``models.km.pgs_tertile`` cut by value; on tied scores the
  hunter's thirds were not the published ones. ``export_hunter.km_thirds`` is the new rule written
  again apart from the code.
- persons of the standardisation set without a value of a covariate PC (an empty or ``nan``
  element of ``pca_features``) that others of the dataset have were counted "with genetic
  ancestry and PCs" and then left out of every fit (complete cases) without a count; now the
  cohort stage leaves them out at that step, counted, with one WARNING per dataset. A PC nobody of
  the dataset has is not a reason (the models drop it as a covariate, noted: 8d4e57b).
- related pairs (``ancestry.related_pairs``) were pruned per dataset: a pair across discovery and a
  replication set kept both members, the datasets meta-analysed as independent samples. Now one
  independent set over all datasets by default (``ancestry.related_pairs_across_datasets``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _old_hunter_thirds(pgs: pd.Series) -> np.ndarray:
    """The hunter's rule before session 50 (rank with ties in order, thirds of equal size)."""
    return np.ceil(pgs.rank(method="first").to_numpy() * 3 / len(pgs)).astype(int)


def test_the_hunter_rebuilds_the_kaplan_meier_thirds_the_pipeline_publishes():
    """On tied scores (a score at its minimum for 45% of the persons, a few values elsewhere) and
    untied ones, the hunter's thirds are ``models.km.pgs_tertile``'s. On 739f6cc (the rank rule
    inline in ``published_person_sets``; here ``_old_hunter_thirds``) the tied case put some
    persons at the minimum in the middle third, which the pipeline does not."""
    from export_hunter import km_thirds

    from trd_spark.models.km import pgs_tertile

    rng = np.random.default_rng(50)
    tied = pd.Series(np.where(rng.random(300) < 0.45, 0.0, rng.integers(1, 5, size=300).astype(float)))
    smooth = pd.Series(rng.normal(size=301))
    few = pd.Series([2.0, 2.0])  # n // 3 = 0: no first third
    for pgs in (tied, smooth, few):
        np.testing.assert_array_equal(km_thirds(pgs), pgs_tertile(pgs))
    assert not np.array_equal(_old_hunter_thirds(tied), pgs_tertile(tied))  # what the hunter did on 739f6cc


def test_persons_without_a_covariate_pc_others_have_are_left_out_and_counted(spark, tmp_path, caplog):
    """Two datasets under ``pgs.standardisation: overall``, covariates.n_pcs 2. discovery: 60
    persons, 5 of them with an empty or ``nan`` pc2 (the others have one). replication: 40
    persons, pc2 ``nan`` for all (8d4e57b's case: the models drop pc2 there, noted). On 739f6cc
    the flow's "with genetic ancestry and PCs" step read 60 and 40, and the 5 were in the analysis
    frame with a null pc2, in no fit (the models fit complete cases), uncounted. Now discovery's
    step reads 55, the 5 are not in the frame nor standardised (the z-score is numpy's over the
    55), one WARNING names the dataset with "<20" persons; replication keeps its 40 persons."""
    import logging

    import yaml
    from models_sim import make_config, publish_cohort_inputs

    from trd_spark.config import REPO_CONF_DIR
    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage
    from trd_spark.vocabulary import DatasetFlowStep

    rng = np.random.default_rng(5)
    disc, rep = list(range(1, 61)), list(range(101, 141))
    no_pc2 = {3: "", 17: "nan", 30: "", 44: "NaN", 59: ""}
    lines = [f"{i}\teur\t[{rng.normal():.4f}, {no_pc2.get(i, f'{rng.normal():.4f}')}]\n" for i in disc]
    lines += [f"{i}\teur\t[{rng.normal():.4f}, nan]\n" for i in rep]
    anc = tmp_path / "ancestry_preds.tsv"
    anc.write_text("research_id\tancestry_pred\tpca_features\n" + "".join(lines))
    pgs = {**yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())["pgs"], "standardisation": "overall",
           "trait_panel": str(REPO_CONF_DIR / "trait_panel_toy.yaml")}
    datasets = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": "d.vcf.bgz"}},
                {"name": "replication", "role": "replication", "genotypes": {"format": "vcf", "path": "r.vcf.bgz"}}]
    cfg = make_config(tmp_path, ancestry={"path": str(anc)}, datasets=datasets, pgs=pgs)
    raw = {i: float(rng.normal(3, 2)) for i in disc + rep}
    import datetime as dt

    d = dt.date(2020, 1, 1)
    publish_cohort_inputs(
        spark, cfg, [("discovery" if i < 100 else "replication", i, "PGS900001", v) for i, v in raw.items()],
        list(raw), [(i, "ad3", "non_MDD", None, None, None, d, None, None, 0, "female", None, 60.0) for i in raw])
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "cohort")

    layout = Layout.of(cfg)
    flow = spark.read.parquet(layout.table("cohort", "dataset_flow")).toPandas()
    step = flow[flow.step == str(DatasetFlowStep.WITH_ANCESTRY)].set_index("dataset")["n"].to_dict()
    assert step == {"discovery": 55, "replication": 40}  # 739f6cc: 60 and 40
    frame = spark.read.parquet(layout.table("cohort", "analysis_frame")).toPandas()
    kept = [i for i in disc if i not in no_pc2]
    assert sorted(frame[frame.dataset == "discovery"].person_id) == kept
    assert frame[frame.dataset == "discovery"].pc2.notna().all()
    assert sorted(frame[frame.dataset == "replication"].person_id) == rep and frame.pc2[frame.dataset == "replication"].isna().all()
    # Standardised over the 55 kept, not the 60 (the left-out persons' scores move no one's z).
    x = np.array([raw[i] for i in kept])
    got = frame[frame.dataset == "discovery"].sort_values("person_id")["PGS900001"].to_numpy()
    np.testing.assert_allclose(got, (x - x.mean()) / x.std(ddof=1), rtol=1e-9)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "covariate PC" in r.getMessage()]
    assert warned == [
        "dataset discovery: <20 unrelated person(s) without a value of every covariate PC (pc1, pc2) that others of "
        "the dataset have, left out (the models fit complete cases); counted in the cohort flow's step "
        f"'{DatasetFlowStep.WITH_ANCESTRY}'; check the ancestry file's pca_features of the dataset's persons"]


def test_related_pairs_across_datasets_lose_a_member(spark, hl):
    """Datasets A (persons 1..30) and B (31..60), pairs 5-35 and 20-50 across them, 50-55 and
    40-41 within B, 10-12 within A. Across datasets (the default): one independent set over both,
    Hail's greedy drops 50 (two relatives), then the higher ID of each other pair: 35, 41, 12. Per
    dataset (``related_pairs_across_datasets: false``; on 739f6cc the stage's only way): A drops
    12, B drops 41 and one of 50/55 (55), and 35 and 50 stay beside their relatives 5 and 20 in A.
    The samples' other columns are kept."""
    from pyspark.sql import functions as F

    from trd_spark.cohort.sample_qc import parse_related_pairs, prune_related_pairs
    from trd_spark.config import AncestryInput

    assert AncestryInput(path="a.tsv").related_pairs_across_datasets is True
    raw = spark.createDataFrame([("5", "35"), ("50", "20"), ("50", "55"), ("40", "41"), ("10", "12")],
                                "`i.s` string, `j.s` string")
    samples = {name: spark.createDataFrame([(i,) for i in ids], "person_id long").withColumn("PGS1", F.lit(1.0))
               for name, ids in (("A", range(1, 31)), ("B", range(31, 61)))}

    def dropped(across: bool) -> dict[str, set[int]]:
        kept = prune_related_pairs(hl, parse_related_pairs(raw), samples, across)
        assert all(df.columns == ["person_id", "PGS1"] for df in kept.values())
        every = {"A": set(range(1, 31)), "B": set(range(31, 61))}
        return {name: every[name] - {r.person_id for r in df.collect()} for name, df in kept.items()}

    assert dropped(True) == {"A": {12}, "B": {35, 41, 50}}
    assert dropped(False) == {"A": {12}, "B": {41, 55}}
