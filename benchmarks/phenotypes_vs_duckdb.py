"""Benchmark: the whole Spark phenotype stage (local[2]) vs the DuckDB SQL version, same Parquet.

    python benchmarks/phenotypes_vs_duckdb.py [--persons 300000] [--drug-rows-per-person 300]
        [--data-dir DIR] [--threads 2] [--warm-up] [--profile] [--skip-duckdb]

Generates toy OMOP tables for N persons (benchmarks/omop_data.py; reused when present) plus
~``--drug-rows-per-person`` non-study drug_exposure rows per person (AoU-like volume: 300k x
300 = ~90M rows, mostly not antidepressants, so the concept filter at the scan matters),
starts Spark + Hail, then times (after session start) ``pipeline.run_stage(spark, cfg,
"phenotypes")``: the stage's ``run(ctx)`` (``trd_spark.phenotypes.stage.run``) with its
``StageContext``, i.e. read OMOP, derive persons / trials / phenotypes / cohort flow, publish
all four tables with the manifest (no fingerprint or upstream check: ``run_stages`` does
those). DuckDB then runs benchmarks/duckdb_phenotypes.py (same rules, Parquet in, Parquet
out) with the same number of threads. The two phenotype outputs are compared row
by row in DuckDB (no person-level data reaches the Spark driver or this log); the script
prints both times, the ratio and exits 1 when they disagree. ``--profile`` writes a Spark
event log and prints the timed run's jobs, stages and tasks (``event_log_profile``);
``--warm-up`` runs the stage once untimed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from duckdb_phenotypes import compare_phenotypes, duckdb_phenotypes  # noqa: E402
from omop_data import write_omop  # noqa: E402

from trd_spark.config import SparkSettings, load_config  # noqa: E402


def _query_label(plan: str) -> str:
    """A short name for a SQL execution from its physical plan text (``explain`` formatted
    mode): the table a write goes to, and the Parquet tables it scans (file names)."""
    import re

    def name(path: str) -> str:
        return path.rstrip("/,]").split("/")[-1]

    scans = list(dict.fromkeys(name(p) for p in re.findall(r"Location: \w+ \[([^\],]+)", plan)))
    reads = f"reads {', '.join(scans[:5])}{' ...' if len(scans) > 5 else ''}" if scans else "no scan"
    write = re.search(r"InsertIntoHadoopFsRelationCommand.*?Arguments: ([^,\s]+)", plan, re.S)
    return f"write {name(write.group(1))} ({reads})" if write else reads


def event_log_profile(log_dir: Path, t0_ms: float, t1_ms: float) -> list[str]:
    """Lines describing the Spark jobs run between ``t0_ms`` and ``t1_ms`` (epoch ms) from the
    newest event log in ``log_dir`` (uncompressed; this process's application: stage IDs of
    earlier runs in the same directory would collide): per job its wall time and call site, and
    per stage the tasks, summed task run time, input rows and shuffle rows; then the totals and
    the driver time outside any job (gaps). A stage is counted in the first job that lists it:
    a later job lists a stage it reuses (skipped, its shuffle output already there) under the
    same ID, and counting it again would add its task time twice."""
    jobs: dict[int, dict] = {}
    stages: dict[int, dict] = {}
    task_ms: dict[int, list[int]] = {}
    queries: dict[int, str] = {}  # SQL execution id -> what it computes (_query_label)
    for path in sorted(log_dir.iterdir(), key=lambda p: p.stat().st_mtime)[-1:]:
        for line in path.read_text().splitlines():
            e = json.loads(line)
            kind = e["Event"]
            if kind.endswith("SparkListenerSQLExecutionStart"):
                queries[e["executionId"]] = _query_label(e.get("physicalPlanDescription") or "")
            elif kind == "SparkListenerJobStart":
                props = e.get("Properties") or {}
                site = props.get("callSite.short") or e["Stage Infos"][-1]["Stage Name"]
                query = props.get("spark.sql.execution.id")
                jobs[e["Job ID"]] = {"start": e["Submission Time"], "stages": [s["Stage ID"] for s in e["Stage Infos"]],
                                     "site": f"{site} | {queries.get(int(query), '?')}" if query is not None else site}
            elif kind == "SparkListenerJobEnd":
                jobs[e["Job ID"]]["end"] = e["Completion Time"]
            elif kind == "SparkListenerStageCompleted":
                i = e["Stage Info"]
                stages[i["Stage ID"]] = {"tasks": i["Number of Tasks"], "ms": i["Completion Time"] - i["Submission Time"],
                                         "name": i["Stage Name"]}
            elif kind == "SparkListenerTaskEnd":
                m = e.get("Task Metrics") or {}
                acc = task_ms.setdefault(e["Stage ID"], [0, 0, 0, 0])
                acc[0] += m.get("Executor Run Time", 0)
                acc[1] += (m.get("Input Metrics") or {}).get("Records Read", 0)
                acc[2] += (m.get("Shuffle Read Metrics") or {}).get("Total Records Read", 0)
                acc[3] += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Records Written", 0)
    lines = [f"{'job':>4} {'wall_s':>7} {'task_s':>7}  call site / stages (tasks, wall s, task s, input rows, "
             "shuffle read/write rows)"]
    busy, prev_end, gaps, task_total = 0.0, t0_ms, 0.0, 0.0
    by_site: dict[str, list[float]] = {}
    counted: set[int] = set()  # stages already listed under an earlier job
    for jid in sorted(j for j in jobs if t0_ms <= jobs[j]["start"] <= t1_ms):
        j = jobs[jid]
        j["stages"] = [sid for sid in j["stages"] if sid not in counted]
        counted.update(j["stages"])
        wall = (j.get("end", j["start"]) - j["start"]) / 1000
        gaps += max(0.0, j["start"] - prev_end) / 1000
        prev_end = max(prev_end, j.get("end", j["start"]))
        busy += wall
        job_task = sum(task_ms.get(sid, [0])[0] for sid in j["stages"] if sid in stages) / 1000
        task_total += job_task
        site = by_site.setdefault(j["site"], [0, 0.0, 0.0])
        site[0] += 1
        site[1] += wall
        site[2] += job_task
        lines.append(f"{jid:>4} {wall:7.2f} {job_task:7.2f}  {j['site']}")
        for sid in j["stages"]:
            if sid in stages:  # skipped stages (shuffle output reused) never complete
                st, acc = stages[sid], task_ms.get(sid, [0, 0, 0, 0])
                lines.append(f"{'':>14}stage {sid}: {st['tasks']} tasks, {st['ms'] / 1000:.2f} s, task {acc[0] / 1000:.2f} s, "
                             f"in {acc[1]:,}, shuffle {acc[2]:,}/{acc[3]:,}  [{st['name'][:60]}]")
    gaps += max(0.0, t1_ms - prev_end) / 1000
    timed = [j for j in jobs.values() if t0_ms <= j["start"] <= t1_ms]
    ran = [stages[sid] for sid in sorted({sid for j in timed for sid in j["stages"]}) if sid in stages]
    lines.append("top stages by task time (stage id, tasks, task s, wall s, name):")
    ran_ids = sorted({sid for j in timed for sid in j["stages"]} & set(stages), key=lambda sid: -task_ms.get(sid, [0])[0])
    for sid in ran_ids[:10]:
        lines.append(f"  stage {sid}: {stages[sid]['tasks']} tasks, task {task_ms.get(sid, [0])[0] / 1000:.2f} s, "
                     f"wall {stages[sid]['ms'] / 1000:.2f} s  [{stages[sid]['name'][:70]}]")
    lines.append("jobs by call site (jobs, summed wall s, task s), most task time first:")
    for name, (n, wall, task) in sorted(by_site.items(), key=lambda kv: -kv[1][2]):
        lines.append(f"  {n:3d} {wall:7.2f} {task:7.2f}  {name}")
    lines.append(f"{len(timed)} jobs, {len(ran)} stages of which {sum(st['tasks'] == 1 for st in ran)} run one task "
                 f"(summed job wall {busy:.1f} s: jobs overlap), {task_total:.1f} s of task time, "
                 f"{(t1_ms - t0_ms) / 1000:.1f} s wall of which {gaps:.1f} s with no job running (driver only)")
    return lines


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
    ap.add_argument("--profile", action="store_true",
                    help="write a Spark event log and print the stage's jobs / stages / tasks with times")
    ap.add_argument("--warm-up", action="store_true",
                    help="run the stage once untimed first (JVM class loading / JIT / code generation)")
    ap.add_argument("--skip-duckdb", action="store_true", help="time the Spark stage only (profiling runs)")
    args = ap.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="trd-spark-bench-"))
    data = Path(args.data_dir or work / f"omop_{args.persons}_{args.drug_rows_per_person}_{args.seed}")
    # _GENERATED.json: a directory generated by benchmarks/scaling.py --omop-persons (reused as is)
    if not (data / "_GENERATED").exists() and not (data / "_GENERATED.json").exists():
        t = time.perf_counter()
        summary = write_omop(data, args.persons, seed=args.seed, drug_rows_per_person=args.drug_rows_per_person)
        (data / "_GENERATED").write_text("ok\n")
        print(f"generated OMOP for {args.persons} persons in {time.perf_counter() - t:.1f} s: "
              f"{summary['record_counts']}")

    from trd_spark.pipeline import run_stage
    from trd_spark.session import start_session

    base = load_config()
    cfg = base.model_copy(update={
        "output_root": str(work / "results"),
        "release": "bench",
        "omop": base.omop.model_copy(update={"path": str(data)}),
    })
    event_dir = work / "eventlog"
    extra = {}
    if args.profile:
        event_dir.mkdir(parents=True, exist_ok=True)
        extra = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_dir.as_uri(),
                 "spark.eventLog.compress": "false"}
    spark = start_session(SparkSettings(
        master=f"local[{args.threads}]", driver_memory=args.driver_memory,
        shuffle_partitions=args.shuffle_partitions, tmp_dir=str(work / "spark"), extra_conf=extra,
    ))
    if args.warm_up:
        t = time.perf_counter()
        run_stage(spark, cfg, "phenotypes")
        print(f"warm-up run (not counted): {time.perf_counter() - t:.1f} s")
    t0_ms = time.time() * 1000
    t = time.perf_counter()
    run_stage(spark, cfg, "phenotypes")
    spark_s = time.perf_counter() - t
    t1_ms = time.time() * 1000
    ours = f"{cfg.output_root}/bench/phenotypes/phenotypes.parquet"
    if args.profile:
        print("\n".join(event_log_profile(event_dir, t0_ms, t1_ms)))
    if args.skip_duckdb:
        print(f"spark phenotype stage (after session start): {spark_s:.1f} s")
        return 0

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
