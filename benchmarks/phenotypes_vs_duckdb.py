"""Benchmark: the whole Spark phenotype stage (local[2]) vs the DuckDB SQL version, same Parquet.

    python benchmarks/phenotypes_vs_duckdb.py [--persons 300000] [--drug-rows-per-person 300]
        [--data-dir DIR] [--threads 2]

Generates toy OMOP tables for N persons (benchmarks/omop_data.py; reused when present) plus
~``--drug-rows-per-person`` non-study drug_exposure rows per person (AoU-like volume: 300k x
300 = ~90M rows, mostly not antidepressants, so the concept filter at the scan matters),
starts Spark + Hail, then times (after session start) ``trd_spark.phenotypes.stage.run``:
read OMOP, derive persons / trials / phenotypes / cohort flow, publish all four tables with
the manifest. DuckDB then runs benchmarks/duckdb_phenotypes.py (same rules, Parquet in,
Parquet out) with the same number of threads. The two phenotype outputs are compared row
by row in DuckDB (no person-level data reaches the Spark driver or this log); the script
prints both times, the ratio and exits 1 when they disagree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from duckdb_phenotypes import compare_phenotypes, duckdb_phenotypes  # noqa: E402
from omop_data import write_omop  # noqa: E402

from trd_spark.config import SparkSettings, load_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--drug-rows-per-person", type=int, default=300,
                    help="non-study drug_exposure rows per person (0: toy rows only)")
    ap.add_argument("--data-dir", default=None, help="OMOP directory (generated when absent)")
    ap.add_argument("--work-dir", default=None, help="outputs and Spark scratch (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=2, help="Spark local[N] and DuckDB threads")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="trd-spark-bench-"))
    data = Path(args.data_dir or work / f"omop_{args.persons}_{args.drug_rows_per_person}_{args.seed}")
    if not (data / "_GENERATED").exists():
        t = time.perf_counter()
        summary = write_omop(data, args.persons, seed=args.seed, drug_rows_per_person=args.drug_rows_per_person)
        (data / "_GENERATED").write_text("ok\n")
        print(f"generated OMOP for {args.persons} persons in {time.perf_counter() - t:.1f} s: "
              f"{summary['record_counts']}")

    from trd_spark.phenotypes import stage
    from trd_spark.session import start_session

    base = load_config()
    cfg = base.model_copy(update={
        "output_root": str(work / "results"),
        "release": "bench",
        "omop": base.omop.model_copy(update={"path": str(data)}),
    })
    spark = start_session(SparkSettings(
        master=f"local[{args.threads}]", driver_memory=args.driver_memory,
        shuffle_partitions=args.shuffle_partitions, tmp_dir=str(work / "spark"),
    ))
    t = time.perf_counter()
    stage.run(spark, cfg)
    spark_s = time.perf_counter() - t
    ours = f"{cfg.output_root}/bench/phenotypes/phenotypes.parquet"

    t = time.perf_counter()
    n = duckdb_phenotypes(str(data), cfg, str(work / "duckdb_phenotypes.parquet"), threads=args.threads)
    duck_s = time.perf_counter() - t

    cmp = compare_phenotypes(f"{ours}/*.parquet", str(work / "duckdb_phenotypes.parquet"), examples=0)
    agree = cmp["n_only_ours"] == 0 and cmp["n_only_oracle"] == 0 and cmp["n_ours"] == n
    print(f"persons {args.persons}, threads {args.threads}, phenotype rows {n}")
    print(f"spark phenotype stage (after session start): {spark_s:.1f} s")
    print(f"duckdb phenotypes:                           {duck_s:.1f} s")
    print(f"ratio spark/duckdb: {spark_s / duck_s:.1f}x")
    print(f"agreement: {'identical' if agree else 'DIFFERENT'} "
          f"(rows only in spark {cmp['n_only_ours']}, only in duckdb {cmp['n_only_oracle']})")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
