"""Model grid: applyInPandas on Spark vs the serial pandas loop, and one vs many BLAS threads.

    python benchmarks/models_grid.py                 # ~3 minutes on 2 idle cores
    python benchmarks/models_grid.py --persons 20000 --datasets 3 --definitions 3

Data: an analysis frame drawn from the toy generator's status model (trd_spark.toydata.omop,
planted log-ORs), ``--datasets`` x ``--definitions`` slices of ``--persons`` persons each, 10 PGS,
age, sex and 10 PCs. Timed, in one run on the same frame:
  serial   ``logistic_grid`` (pandas, driver)            vs  spark  ``logistic_grid_spark``
           (local[2], one applyInPandas task per dataset x definition x contrast); a warm-up
           Spark call first (Python workers start, imports) is not counted;
  1 thread one logistic task with one BLAS thread (what the grid does)  vs  the default
           thread pool (numpy/OpenBLAS default).
Prints seconds and ratios (serial / spark: > 1 means Spark is faster; threads default / 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def frame(persons: int, datasets: int, definitions: int, n_pcs: int, seed: int = 5) -> pd.DataFrame:
    from trd_spark.toydata import omop
    from trd_spark.toydata.generate import planted_log_ors
    from trd_spark.toydata.scores import SCORES

    trd, trmdd = planted_log_ors()
    parts = []
    for d in range(datasets):
        for k in range(definitions):
            rng = np.random.default_rng([seed, d, k])
            p = omop.draw_persons(rng, persons)
            z = rng.normal(size=(len(SCORES), persons))
            status, birth, _ = omop.draw_statuses(rng, p, z, trd, trmdd)
            keep = status <= omop.MDD_OTHER
            f = pd.DataFrame({
                "dataset": f"ds{d}", "definition": f"def{k}", "person_id": p.person_id[keep] + d * 10**7,
                "status": np.asarray(omop.STATUSES)[status[keep]], "ancestry": "eur",
                "age": omop.age_at_cutoff(birth[keep]), "sex_female": p.female[keep].astype(np.int32),
                "time_to_trd_days": np.nan, "trd_event": np.nan,
            })
            for i in range(1, n_pcs + 1):
                f[f"pc{i}"] = rng.normal(size=len(f))
            for j, (pgs_id, *_r) in enumerate(SCORES):
                f[pgs_id] = z[j, keep]
            parts.append(f)
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=8000)
    ap.add_argument("--datasets", type=int, default=3)
    ap.add_argument("--definitions", type=int, default=2)
    ap.add_argument("--n-pcs", type=int, default=10)
    args = ap.parse_args()

    import yaml
    from threadpoolctl import threadpool_limits

    from trd_spark.config import REPO_CONF_DIR, SparkSettings, load_config
    from trd_spark.models.distributed import logistic_grid_spark
    from trd_spark.models.logistic import contrast_frame, fit_logistic, logistic_grid
    from trd_spark.session import start_session

    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    cfg = load_config(overrides={"covariates": {"n_pcs": args.n_pcs},
                                 "pgs": {**raw["pgs"], "standardisation_n_pcs": min(4, args.n_pcs)}})
    pdf = frame(args.persons, args.datasets, args.definitions, args.n_pcs)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load {os.getloadavg()}")
    print(f"frame: {len(pdf)} rows, {args.datasets} datasets x {args.definitions} definitions, "
          f"{len(cfg.models.contrasts)} contrasts, 10 PGS -> "
          f"{args.datasets * args.definitions * len(cfg.models.contrasts) * 10} fits")

    tmp = tempfile.mkdtemp(prefix="bench_models_")
    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=8, tmp_dir=tmp))
    sdf = spark.createDataFrame(pdf).cache()
    sdf.count()
    logistic_grid_spark(sdf.limit(2000), cfg)  # warm-up: Python workers, imports

    t = time.perf_counter()
    serial = logistic_grid(pdf, cfg)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    dist = logistic_grid_spark(sdf, cfg)
    t_spark = time.perf_counter() - t
    same = np.allclose(serial["beta"].astype(float), dist["beta"].astype(float), rtol=1e-12, atol=0, equal_nan=True)
    print(f"serial loop      {t_serial:8.2f} s")
    print(f"applyInPandas    {t_spark:8.2f} s   serial/spark = {t_serial / t_spark:.2f}   same betas: {same}")

    sub = contrast_frame(pdf[(pdf.dataset == "ds0") & (pdf.definition == "def0")], "trd_vs_nonmdd")
    covs = ["age", "sex_female", *[f"pc{i}" for i in range(1, args.n_pcs + 1)]]

    def ten_fits() -> float:
        t0 = time.perf_counter()
        for j in range(1, 11):
            fit_logistic(sub, f"PGS9000{j:02d}", covs)
        return time.perf_counter() - t0

    t_default = ten_fits()
    with threadpool_limits(limits=1, user_api="blas"):
        t_one = ten_fits()
    print(f"10 fits, default BLAS threads {t_default:6.2f} s; one thread {t_one:6.2f} s; "
          f"default/one = {t_default / t_one:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
