"""Cost of counting condition concepts in ``observation`` (``stage.event_table_counts``' ``condition_ids``).

The count (field case round 33) rides on the event-table aggregate's one scan of observation's two
concept columns, a table of hundreds of millions of survey answers at All of Us. This benchmark times
``event_table_counts`` on a synthetic observation table (``--rows``, 60% concept 0 with a PPI-like
source concept, 30% / 9.9% two survey-like concepts, 0.1% MDD 4152280; one Parquet file, row groups of
1M) with the round 33 case's vocabulary, its condition IDs plus ``--extra-ids`` synthetic ones (study
sets expand to hundreds or thousands of IDs) and two observation-set IDs (a HCPCS-like pair), local[2].
Three sides: ``none`` (the aggregate without the count), ``with`` (with it) and ``persons`` (with it,
then ``stage.condition_in_observation_persons``, the second job ``stage_counts`` runs when the count
is above 0, as it is here: what a release holding such records pays in all, session 43).
``--only SIDE`` runs one side only (for a CPU-s comparison of whole processes, e.g.
``/tmp/s13/cgrun.sh``, against a tree without the count), default the sides alternated in one
process, printing each side's median seconds and the ratios with / without and persons / without.

    PYTHONPATH=. .venv/bin/python benchmarks/condition_in_observation.py --rows 4000000 --extra-ids 400
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "data" / "field_cases_round33" / "condition-in-observation" / "omop"
# synthetic IDs for the extra condition IDs and the observation sets (outside any real vocabulary range)
EXTRA_ID_BASE, OBSERVATION_SET_IDS = 2_100_000_000, frozenset({2_000_000_001, 2_000_000_002})


def write_data(root: Path, rows: int) -> None:
    """The case's tables under ``root`` with a ``rows``-row observation table instead of its own."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(CASE, root)
    rng = np.random.default_rng(1)
    pq.write_table(pa.table({
        "person_id": pa.array(rng.integers(1, 100_000, rows), pa.int64()),
        "observation_concept_id": pa.array(rng.choice([0, 3_000_000, 40_766_240, 4_152_280], rows,
                                                      p=[.6, .3, .099, .001]), pa.int64()),
        "observation_date": pa.array(np.full(rows, np.datetime64("2019-01-01", "D")), pa.date32()),
        "observation_source_concept_id": pa.array(rng.integers(1_500_000, 1_600_000, rows), pa.int64())}),
        root / "observation.parquet", row_group_size=1_000_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--extra-ids", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--only", choices=("none", "with", "persons"))
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    from pyspark.sql import SparkSession
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes import stage
    from trd_spark.phenotypes.stage import event_table_counts, read_omop, study_concept_ids, study_vocabulary

    persons_job = getattr(stage, "condition_in_observation_persons", None)  # absent before 17086fe

    work = Path(tempfile.mkdtemp(prefix="cond_in_obs_"))
    try:
        write_data(work / "omop", a.rows)
        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", "4").getOrCreate())
        cfg = toy_config(path=str(work / "omop"))
        omop = read_omop(spark, cfg)
        conditions = study_concept_ids(cfg, study_vocabulary(omop, cfg))["condition"]
        conditions |= frozenset(range(EXTRA_ID_BASE, EXTRA_ID_BASE + a.extra_ids))
        counts = "condition_ids" in inspect.signature(event_table_counts).parameters
        sides: dict[str, frozenset[int] | None] = {"none": None, "with": conditions, "persons": conditions}
        if a.only:
            sides = {a.only: sides[a.only]}
        if not counts:  # a tree before the count (f0075d6): the scan without it only
            sides = {"none": None}
        if persons_job is None:
            sides.pop("persons", None)
        times: dict[str, list[float]] = {k: [] for k in sides}
        counted, persons = None, None
        for _ in range(a.repeats):
            for side, ids in sides.items():
                start = time.perf_counter()
                df = (event_table_counts(omop, observation_ids=OBSERVATION_SET_IDS) if ids is None else
                      event_table_counts(omop, observation_ids=OBSERVATION_SET_IDS, condition_ids=ids))
                row = df.first()
                assert row is not None
                if side == "persons" and row["n_condition_concept_in_observation"]:  # as stage_counts does
                    persons = persons_job(omop, ids)
                times[side].append(time.perf_counter() - start)
                if ids is not None:
                    counted = row["n_condition_concept_in_observation"]
        med = {k: statistics.median(v[1:] or v) for k, v in times.items()}  # the first (JIT warm-up) dropped
        print(f"rows {a.rows}, condition IDs {len(conditions)}, repeats {a.repeats}: "
              + ", ".join(f"{k} {[round(t, 2) for t in v]} median {med[k]:.2f} s" for k, v in times.items()))
        if counted is not None:
            print(f"n_condition_concept_in_observation {counted}"
                  + (f", n_persons_condition_concept_in_observation {persons}" if persons is not None else ""))
        for side in ("with", "persons"):
            if side in med and "none" in med:
                print(f"ratio {side} / without: {med[side] / med['none']:.3f}")
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
