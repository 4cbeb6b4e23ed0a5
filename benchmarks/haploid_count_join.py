"""CPU of engine._haploid_allele_counts' join of its counting pass's sums (the chrY / chrM rows,
added on the driver) into a main pass summed in Spark (a Hail Table of n x k rows): d0e0953's
Table.from_pandas + keyed join ("old", inlined here) vs the per-sample literal
(engine._fewer_lookup, "new"); "none": the same Table without a join.

Usage: haploid_count_join.py N K REPS [ROUTES]: ROUTES ``old,new`` by default; ``new`` alone for
large N, where the old route costs ~11 CPU-s per 1,000 samples at K = 61 (55.5 at 5,000 x 61; session
33 flatmt). Each variant's Table is evaluated by one aggregate, checked
against the expected sum; CPU = this process (process_time) + the JVM (/proc utime + stime), per
rep, the two variants alternating. Under load, read the CPU figures only (session 32,
benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.config import SparkSettings
from trd_spark.session import _jvm_children, start_session

TICK = os.sysconf("SC_CLK_TCK")


def jvm_cpu() -> float:
    """CPU seconds of PySpark's JVM (and its waited-for children) so far."""
    total = 0.0
    for pid in _jvm_children():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / TICK  # utime, stime, cutime, cstime
    return total


def main(n: int, k: int, reps: int, routes: tuple[str, ...] = ("old", "new")) -> None:
    start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=4,
                                tmp_dir=tempfile.mkdtemp(prefix="haploid_join_")))
    import hail as hl

    from trd_spark.pgs.engine import _fewer_lookup

    pgs_ids = [f"PGS{i:06d}" for i in range(k)]
    fewer = np.random.default_rng(0).integers(0, 4, n * k).astype(np.int64)  # sample-major, as columns()
    s_col = np.repeat(np.array([str(1_000_000 + i) for i in range(n)], dtype=object), k)
    pgs_col = np.tile(np.array(pgs_ids, dtype=object), n)
    expected = n * k * 100 - int(fewer.sum())

    def scored_table():
        t = hl.utils.range_table(n * k, n_partitions=4)
        t = t.annotate(s=hl.str(1_000_000 + t.idx // k), pgs_id=hl.literal(pgs_ids)[t.idx % k],
                       allele_count=hl.int64(100))
        return t.key_by().drop("idx")

    def old(scored):
        fewer_table = hl.Table.from_pandas(pd.DataFrame({"s": s_col.astype(str), "pgs_id": pgs_col.astype(str),
                                                         "fewer": fewer}), key=["s", "pgs_id"])
        return scored.annotate(allele_count=scored.allele_count - fewer_table[scored.s, scored.pgs_id].fewer)

    def new(scored):
        return scored.annotate(allele_count=scored.allele_count - _fewer_lookup(hl, s_col, pgs_ids, fewer)(
            scored.s, scored.pgs_id))

    for f in [f for f in (old, new) if f.__name__ in routes]:  # warm-up (and a check of each)
        t = f(scored_table())
        assert t.aggregate(hl.agg.sum(t.allele_count)) == expected
    for rep in range(reps):
        order = (("old", old), ("new", new)) if rep % 2 == 0 else (("new", new), ("old", old))
        for name, f in [(name, f) for name, f in order if name in routes]:
            p0, j0, w0 = time.process_time(), jvm_cpu(), time.perf_counter()
            t = f(scored_table())
            got = t.aggregate(hl.agg.sum(t.allele_count))
            p1, j1, w1 = time.process_time(), jvm_cpu(), time.perf_counter()
            assert got == expected, (got, expected)
            print(f"{name} n={n} k={k} python_cpu={p1 - p0:.2f} jvm_cpu={j1 - j0:.2f} total={p1 - p0 + j1 - j0:.2f} "
                  f"wall={w1 - w0:.2f}", flush=True)
    for _ in range(reps):
        p0, j0 = time.process_time(), jvm_cpu()
        t = scored_table()
        t.aggregate(hl.agg.sum(t.allele_count))
        print(f"none n={n} k={k} total={time.process_time() - p0 + jvm_cpu() - j0:.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
         tuple(sys.argv[4].split(",")) if len(sys.argv) > 4 else ("old", "new"))
