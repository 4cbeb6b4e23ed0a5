"""Cohort, models and report field cases, round 40 (session 48, helper models40).

pgs-far-outlier: a PGS per SD far beyond any normal tail for a few persons (a sample with broken
genotypes; a score driven by one rare variant of large weight, whose few carriers sit far out).
z-scoring keeps them: the SD is inflated by them and every per-SD estimate leans on them (one
person of 100,000 at 200 SD took a simulated OR per SD from 1.12 to 1.08; at 40 SD 1.117 to 1.110),
and nothing said so. Now the cohort stage logs one WARNING per dataset naming the scores with an
analysed person beyond +-10 SD (``cohort.standardise.persons_beyond_sd``, ``BEYOND_SD``), the
persons as a count label.
"""

from __future__ import annotations

import numpy as np


def test_a_pgs_far_beyond_any_normal_tail_is_one_warning_of_the_cohort_stage(spark, tmp_path, caplog):
    """200 persons, two scores: PGS900001 normal but for one person at raw 200 (mean 3, SD 2 for
    the others: z 13.9 after the overall z-score, whose SD the person inflated sevenfold),
    PGS900002 normal. On 75fd51b the stage wrote the frame without a word; now one WARNING names
    PGS900001 with "<20 person(s)", and not PGS900002. The frame's z is the plain z-score (the
    oracle: numpy over the 200 raw values), the warning changes nothing in it."""
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
        [(i, "ad3", "non_MDD", None, None, None, d, None, None, 0, "female", None, 60.0) for i in ids])
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "cohort")

    frame = spark.read.parquet(Layout.of(cfg).table("cohort", "analysis_frame")).toPandas().sort_values("person_id")
    z = (raw - raw.mean()) / raw.std(ddof=1)
    np.testing.assert_allclose(frame["PGS900001"].to_numpy(), z, rtol=1e-9)
    assert 13 < z[41] < 14 and np.abs(np.delete(z, 41)).max() < 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "beyond" in r.getMessage()]
    assert warned == [
        "dataset discovery: a PGS per SD beyond +-10 in PGS900001 (<20 analysed person(s) beyond it); "
        "no polygenic score reaches that far (a sample with broken genotypes, or a score driven by a rare variant "
        "of large weight): the SD and every per-SD estimate (OR, HR) of the score lean on those persons; check "
        "those samples' genotypes and the score's weights"]
