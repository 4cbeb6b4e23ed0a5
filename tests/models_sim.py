"""Simulated analysis frames for the models/report tests (numpy, fixed seed; no Spark).

Not a test module: imported by tests/test_models_*.py and tests/test_report_*.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PGS_IDS = [f"PGS9000{i:02d}" for i in range(1, 11)]  # the toy trait panel's ids
# Person ids far from any number the report prints, so a leak is detectable as a substring.
PERSON_ID_BASE = 7_310_000_000


def simulate_frame(
    seed: int = 7,
    n: int = 400,
    datasets: tuple[str, ...] = ("discovery",),
    definitions: tuple[str, ...] = ("ad3",),
    n_pcs: int = 2,
    pgs_ids: list[str] = PGS_IDS,
) -> pd.DataFrame:
    """An analysis frame (ANALYSIS_FRAME_FIXED + pc1..pcK + one column per pgs_id).

    MDD risk rises with the 3rd PGS, TRD risk (within MDD) with the 4th; MDD persons get a
    time to TRD (event) or to censoring; non-MDD persons have null time/event.
    """
    rng = np.random.default_rng(seed)
    parts = []
    pid = PERSON_ID_BASE
    for dataset in datasets:
        for definition in definitions:
            pgs = rng.normal(size=(n, len(pgs_ids)))
            age = rng.uniform(20, 80, n).round(1)
            sex = rng.integers(0, 2, n)
            mdd = rng.uniform(size=n) < 1 / (1 + np.exp(-(-0.2 + 0.6 * pgs[:, 2])))
            trd = mdd & (rng.uniform(size=n) < 1 / (1 + np.exp(-(-0.8 + 0.7 * pgs[:, 3]))))
            other = mdd & ~trd & (rng.uniform(size=n) < 0.25)
            status = np.where(~mdd, "non_MDD", np.where(trd, "TRD", np.where(other, "MDD_other", "trMDD")))
            onset = rng.exponential(700 * np.exp(-0.3 * pgs[:, 3]), n)
            censor = rng.uniform(200, 2000, n)
            time = np.where(trd, np.minimum(onset, censor - 1), censor).round()
            frame = pd.DataFrame({
                "dataset": dataset,
                "definition": definition,
                "person_id": np.arange(pid, pid + n, dtype=np.int64),
                "status": status,
                "ancestry": rng.choice(["eur", "afr", "amr"], n),
                "age": age,
                "age_at_index": np.where(mdd, (age - censor / 365.25).round(2), np.nan),
                "sex_female": sex.astype(np.int32),
                "time_to_trd_days": np.where(mdd, time, np.nan),
                "trd_event": np.where(mdd, trd.astype(float), np.nan),
            })
            for k in range(1, n_pcs + 1):
                frame[f"pc{k}"] = rng.normal(size=n)
            for j, pgs_id in enumerate(pgs_ids):
                frame[pgs_id] = pgs[:, j]
            parts.append(frame)
            pid += n
    return pd.concat(parts, ignore_index=True)


def to_spark(spark, frame: pd.DataFrame):
    """The frame as a Spark DataFrame with the analysis-frame types (ANALYSIS_FRAME_FIXED + doubles)."""
    from pyspark.sql import types as T

    from trd_spark.schemas import ANALYSIS_FRAME_FIXED

    fixed = ANALYSIS_FRAME_FIXED.struct
    extra = [T.StructField(c, T.DoubleType(), True) for c in frame.columns if c not in fixed.names]
    schema = T.StructType([*fixed.fields, *extra])
    frame = frame[schema.names]
    integral = [isinstance(f.dataType, (T.IntegerType, T.LongType)) for f in schema.fields]

    def cell(v, is_int):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return int(v) if is_int else (float(v) if isinstance(v, (int, float)) else v)

    rows = [tuple(cell(v, k) for v, k in zip(rec, integral)) for rec in frame.itertuples(index=False, name=None)]
    return spark.createDataFrame(rows, schema)


def make_config(tmp_dir, n_pcs: int = 2, **overrides):
    """A config like conf/toy.yaml writing under ``tmp_dir`` (concept sets/trait panel from conf/)."""
    from pathlib import Path

    import yaml

    from trd_spark.config import REPO_CONF_DIR, load_config

    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    raw.pop("toy_data", None)
    raw["output_root"] = str(Path(tmp_dir) / "results")
    raw["pgs"]["trait_panel"] = str(REPO_CONF_DIR / "trait_panel_toy.yaml")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    raw["covariates"] = {"n_pcs": n_pcs}
    raw["pgs"]["standardisation_n_pcs"] = max(1, min(n_pcs, raw["pgs"].get("standardisation_n_pcs", 4)))
    raw.update(overrides)
    path = Path(tmp_dir) / "test.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def publish_cohort_inputs(spark, cfg, scores: list[tuple], person_ids, phenotypes: list[tuple]) -> None:
    """Publish the cohort stage's upstream tables for ``cfg``: the pgs stage's ``scores`` from rows
    (dataset, person_id, pgs_id, score_sum), each with allele_count 2, score_avg score_sum / 2,
    n_missing 0, n_matched 1; the phenotypes stage's ``persons`` (female, born 1960, observed from
    2020-01-01, age 60) for ``person_ids`` and its ``phenotypes`` rows as given (schemas.PHENOTYPES; a row
    without at_risk_end_date, the shape before session 53, gets its followup_end_date there when MDD)."""
    import datetime as dt

    from trd_spark.layout import publish_stage
    from trd_spark.schemas import PERSONS, PHENOTYPES

    frame = spark.createDataFrame(
        [(ds, int(i), pgs, float(v), 2, float(v) / 2.0, 0, 1) for ds, i, pgs, v in scores],
        "dataset string, person_id long, pgs_id string, score_sum double, allele_count long, score_avg double, "
        "n_missing long, n_matched long")
    d = dt.date(2020, 1, 1)
    with publish_stage(spark, cfg, "pgs") as w:
        w.write_table("scores", frame)
    with publish_stage(spark, cfg, "phenotypes") as w:
        w.write_table("persons", spark.createDataFrame([(int(i), "female", 1960, d, d, True, 60.0) for i in person_ids],
                                                       PERSONS.struct))
        # Rows written before session 53 lack at_risk_end_date (after followup_end_date): the end of
        # follow-up for an MDD row (one with a time), as phenotypes.cox_time_at_risk: followup makes it.
        at = PHENOTYPES.names.index("at_risk_end_date")
        rows = [r if len(r) == len(PHENOTYPES.names) else (*r[:at], r[at - 1] if r[at] is not None else None, *r[at:])
                for r in phenotypes]
        w.write_table("phenotypes", spark.createDataFrame(rows, PHENOTYPES.struct))


def grid_config(n_pcs: int = 2, **models):
    """The embedded toy config with ``n_pcs`` PCs (and matching PGS standardisation PCs) and
    ``models`` settings overridden; no files written (for pandas-only grid tests)."""
    import yaml

    from trd_spark.config import REPO_CONF_DIR, load_config

    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    pgs = {**raw["pgs"], "standardisation_n_pcs": max(1, min(n_pcs, raw["pgs"].get("standardisation_n_pcs", 4)))}
    return load_config(overrides={"covariates": {"n_pcs": n_pcs}, "pgs": pgs, "models": models})


def toy_status_frame(seed: int, n: int = 3000, dataset: str | None = None, permute: bool = False) -> pd.DataFrame:
    """An analysis frame whose statuses come from the toy generator's own status model.

    ``omop.draw_persons`` + ``omop.draw_statuses`` (the multinomial logit of the standardised
    true PGS, sex and age that the toy OMOP data is drawn from, with the planted log-ORs of
    ``planted_log_ors()``, i.e. truth.json's effects); the true PGS are independent N(0, 1)
    here instead of genotype sums (the point is the model code, not the genotype pipeline).
    Only the four analysed statuses are kept. ``permute``: each PGS column shuffled across
    persons afterwards (no effect left). One dataset (default ``seed<seed>``), definition ad3.
    """
    from trd_spark.toydata import omop
    from trd_spark.toydata.generate import planted_log_ors
    from trd_spark.toydata.scores import SCORES

    rng = np.random.default_rng([seed, 99])
    persons = omop.draw_persons(rng, n)
    z = rng.normal(size=(len(SCORES), n))
    log_or_trd, log_or_trmdd = planted_log_ors()
    status, birth, _ = omop.draw_statuses(rng, persons, z, log_or_trd, log_or_trmdd)
    keep = status <= omop.MDD_OTHER
    names = np.asarray(omop.STATUSES)
    frame = pd.DataFrame({
        "dataset": dataset or f"seed{seed}", "definition": "ad3",
        "person_id": persons.person_id[keep], "status": names[status[keep]],
        "ancestry": "eur", "age": omop.age_at_cutoff(birth[keep]),
        "sex_female": persons.female[keep].astype(np.int32),
        "time_to_trd_days": np.nan, "trd_event": np.nan,
    })
    for i in (1, 2):  # unrelated to status: the models adjust for them as for PCs
        frame[f"pc{i}"] = rng.normal(size=len(frame))
    for k, (pgs_id, *_rest) in enumerate(SCORES):
        values = z[k, keep]
        frame[pgs_id] = rng.permutation(values) if permute else values
    return frame


def planted_effects() -> dict[tuple[str, str], float]:
    """(contrast, pgs_id) -> planted log-OR (truth.json's ``effects``), from the toy generator."""
    from trd_spark.toydata.generate import planted_log_ors
    from trd_spark.toydata.scores import SCORES

    trd, trmdd = planted_log_ors()
    out = {}
    for k, (pgs_id, *_rest) in enumerate(SCORES):
        out[("trd_vs_nonmdd", pgs_id)] = float(trd[k])
        out[("trmdd_vs_nonmdd", pgs_id)] = float(trmdd[k])
        out[("trd_vs_trmdd", pgs_id)] = float(trd[k] - trmdd[k])
    return out
