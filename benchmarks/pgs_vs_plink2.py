"""PGS scoring: our engines (Hail, and the native PLINK engine) vs plink2 --score on the same data, in one run (issues #3, #16).

Generates (or reuses, in --work-dir) random genotypes (samples x variants, GRCh38 chr1, ~1%
missing calls) written directly as PLINK 1 bed/bim/fam, converted once (not timed) to a Hail
MatrixTable, and one PGS Catalog scoring file per score (every score weights every variant;
half the effect alleles are REF). With --vcf also a bgzipped VCF (exported by plink2); with
--bgen also a BGEN 1.2, 8-bit, zlib (``plink2 --export bgen-1.2 bits=8 id-paste=iid``: the hard
calls as probabilities, sample IDs embedded, as All of Us ships its BGEN). Times:

  plink2 --score     whole process, 2 threads, from the same bed / pgen / VCF / BGEN
                     (``--bgen geno.bgen ref-first --sample geno.sample``: plink2 imports the
                     BGEN into a temporary pgen first, inside the timed run)
  ours               the PGS stage's own functions in-process, one dataset per engine
                     (``run_ours``): parse the scoring files; score sites + match
                     (``stage.match_dataset``: the .bim/.pvar variant list for bed/pgen, the
                     genotype rows Hail collects at the score loci for VCF/MatrixTable); score
                     every score in one pass, check the rows and write the scores Parquet
                     table as the stage does (``stage.scores_of_dataset`` + ``stage.write_scores``):
                     hail-vcf / hail-mt   Hail reads; hard calls exported as a PLINK 1
                                          fileset of the matched rows and scored by the
                                          native engine (``stage.scoring_scratch``)
                     native-bed / -pgen   the native engine (``pgen_engine``: pgenlib + numpy
                                          in Spark tasks; the .pgen converted once, not timed)
                     native-bgen          the native engine reading the BGEN (``bgen_reader``:
                                          variant list by a header pass, no .bgi)
                     hail-bgen            ``pgs.native.engine: hail``: Hail's index_bgen,
                                          import_bgen and one-pass scoring
                     JVM/Hail start is printed separately and added for the whole-process ratio.
                     Between the match and the score phase the one-off costs of the
                     pipeline's match log going to Spark SQL there are paid (Spark SQL's
                     session state, PySpark's Arrow imports; ``run_ours``: in the total,
                     not the score phase; the log itself is not converted).

With more than one engine, each engine runs in its own fresh interpreter (this script again with
``--engines <one>``): an engine run second in a process would skip the process's one-off costs
(Python workers, cold Spark SQL/Hail code paths) and look 20-30 s faster. ``--one-process`` runs
them in one process instead (warm, for comparing the per-entry work only).

checks the SUMs agree (relative error <= 1e-6; plink2 prints 6 significant digits, so the
comparison uses its SUM column at that precision) and prints both times and the ratios, one
``ratio=`` line per engine and input (whole process, and the scoring phase alone vs plink2's
whole run).

    python benchmarks/pgs_vs_plink2.py --samples 2000 --variants 10000 --scores 61
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BED_CODE = np.array([0b11, 0b10, 0b00, 0b01], dtype=np.uint8)  # alt count 0, 1, 2, missing (A1 = alt)


def write_bed(path: Path, genotypes: np.ndarray) -> None:
    """Append variant-major PLINK 1 .bed records (2 bits per sample, low bits first)."""
    n_var, n = genotypes.shape
    codes = BED_CODE[genotypes]
    pad = (-n) % 4
    if pad:
        codes = np.concatenate([codes, np.zeros((n_var, pad), dtype=np.uint8)], axis=1)
    q = codes.reshape(n_var, -1, 4)
    packed = q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)
    with open(path, "ab") as f:
        f.write(packed.astype(np.uint8).tobytes())


def generate(work: Path, n_samples: int, n_variants: int, n_scores: int, seed: int, with_vcf: bool) -> None:
    """PLINK 1 bed/bim/fam (written directly), scoring files (PGS Catalog format, one per score),
    plink2's score table and, with ``with_vcf``, a bgzipped VCF exported by plink2."""
    rng = np.random.default_rng(seed)
    # Strand-unambiguous pairs only (A/T and C/G would be dropped by default), ref != alt.
    pairs = np.array([("A", "C"), ("A", "G"), ("C", "A"), ("C", "T"), ("G", "A"), ("G", "T"), ("T", "C"), ("T", "G")])
    pick = pairs[rng.integers(0, len(pairs), n_variants)]
    ref_b, alt_b = pick[:, 0], pick[:, 1]
    pos = np.arange(1, n_variants + 1) * 100 + 10_000
    af = rng.uniform(0.05, 0.5, n_variants)
    ids = [f"chr1:{p}" for p in pos]
    pd.DataFrame({"c": "1", "id": ids, "cm": 0, "p": pos, "a1": alt_b, "a2": ref_b}).to_csv(
        work / "geno.bim", sep="\t", header=False, index=False)
    samples = [str(1_000_000 + i) for i in range(n_samples)]
    pd.DataFrame({"f": samples, "i": samples, "p": 0, "m": 0, "s": 0, "ph": -9}).to_csv(
        work / "geno.fam", sep="\t", header=False, index=False)
    (work / "geno.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]))
    chunk = max(1, 20_000_000 // n_samples)
    for start in range(0, n_variants, chunk):
        p = af[start:start + chunk, None]
        g = rng.binomial(2, p, (len(p), n_samples)).astype(np.uint8)
        g[rng.random(g.shape) < 0.01] = 3  # ~1% missing calls
        write_bed(work / "geno.bed", g)
    # Effect allele: alt for even variants, ref for odd ones (both dosage directions tested).
    effect = np.where(np.arange(n_variants) % 2 == 0, alt_b, ref_b)
    other = np.where(np.arange(n_variants) % 2 == 0, ref_b, alt_b)
    weights = np.round(rng.normal(0, 0.05, (n_variants, n_scores)), 8)
    (work / "scores").mkdir(exist_ok=True)
    for k in range(n_scores):
        pgs_id = f"PGS9{k:05d}"
        with gzip.open(work / "scores" / f"{pgs_id}.txt.gz", "wt", compresslevel=1) as f:
            f.write(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#pgs_name=bench{k}\n"
                    f"#trait_reported=benchmark\n#genome_build=GRCh38\n#variants_number={n_variants}\n"
                    "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")
            pd.DataFrame({"c": "1", "p": pos, "e": effect, "o": other, "w": weights[:, k]}).to_csv(
                f, sep="\t", header=False, index=False, float_format="%.8f")
    table = pd.DataFrame(weights, columns=[f"PGS9{k:05d}" for k in range(n_scores)])
    table.insert(0, "A1", effect)
    table.insert(0, "ID", ids)
    table.to_csv(work / "plink2_score.tsv", sep="\t", index=False, float_format="%.8f")
    if with_vcf:
        subprocess.run(["plink2", "--bfile", str(work / "geno"), "--export", "vcf", "bgz", "id-paste=iid",
                        "--output-chr", "chr26", "--threads", "2", "--out", str(work / "geno")],
                       check=True, capture_output=True)
        (work / "geno.vcf.gz").rename(work / "geno.vcf.bgz")
    subprocess.run(["plink2", "--bfile", str(work / "geno"), "--make-pgen", "--threads", "2", "--out",
                    str(work / "geno")], check=True, capture_output=True)
    (work / "done").write_text(f"{n_samples} {n_variants} {n_scores} {seed} vcf={with_vcf}\n")


def run_plink2(work: Path, source: str, n_scores: int, threads: int = 2) -> tuple[float, pd.DataFrame]:
    inp = {"vcf": ["--vcf", str(work / "geno.vcf.bgz")], "bed": ["--bfile", str(work / "geno")],
           "pgen": ["--pfile", str(work / "geno")],
           "bgen": ["--bgen", str(work / "geno.bgen"), "ref-first", "--sample", str(work / "geno.sample")]}[source]
    cmd = ["plink2", *inp, "--threads", str(threads), "--score", str(work / "plink2_score.tsv"), "1", "2", "header",
           "cols=+scoresums", "--score-col-nums", f"3-{2 + n_scores}", "--out", str(work / f"plink2_{source}")]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    took = time.perf_counter() - t0
    out = pd.read_csv(work / f"plink2_{source}.sscore", sep="\t").rename(columns={"#IID": "IID"})
    return took, out.set_index("IID")


GENOTYPES = {  # engine label -> (genotypes format, path below the work dir)
    "hail-vcf": ("vcf", "geno.vcf.bgz"), "hail-mt": ("mt", "geno.mt"),
    "native-bed": ("plink", "geno"), "native-pgen": ("pgen", "geno"),
    "native-bgen": ("bgen", "geno.bgen"), "hail-bgen": ("bgen", "geno.bgen"),
}


def bench_config(work: Path, label: str) -> Path:
    """A pipeline config with one dataset (the engine's genotypes) and the generated scoring
    files, so the benchmark runs the stage's own functions (``stage.match_dataset``: the frame
    matcher, through ``match_plink`` or ``match_hail``; ``stage.score_dataset``)."""
    fmt, path = GENOTYPES[label]
    repo = Path(__file__).resolve().parent.parent
    ids = sorted(f.name.split(".")[0] for f in (work / "scores").glob("*.txt.gz"))
    panel = work / "panel.yaml"
    panel.write_text("domains: [benchmark]\nscores:\n" + "".join(
        f"  - {{pgs_id: {i}, trait: benchmark, domain: benchmark}}\n" for i in ids))
    cfg = work / f"bench_{label}.yaml"
    cfg.write_text(f"""release: bench
output_root: {work}/out
datasets:
  - {{name: bench, role: discovery, genotypes: {{format: {fmt}, path: {work / path}}}}}
ancestry: {{path: {work}/ancestry.tsv}}
pgs:
  scoring_files: ["{work}/scores/*.txt.gz"]
  trait_panel: {panel}
  native: {{engine: {"hail" if label == "hail-bgen" else "native"}}}
omop: {{path: {work}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {repo / "conf" / "concept_sets.yaml"}
  primary_definition: ad3
  trd_definitions:
    - {{name: ad3, rule: antidepressant_sequence, n_trials: 3}}
""")
    return cfg


def run_ours(hl, spark, work: Path, label: str, ahead=None) -> tuple[dict[str, float], pd.DataFrame]:
    """The PGS stage's own steps for one dataset, timed per phase: parse the scoring files
    (``stage.load_scoring_files``); score sites + read the variant list or genotype rows +
    match (``matching.score_sites``, ``stage.match_dataset``); score every score in one pass,
    check the rows and write the scores Parquet table (``stage.scores_of_dataset`` +
    ``stage.write_scores``, as ``stage.run``: the native engine for bed/pgen, its sums to Parquet
    by pyarrow, no Hail or Spark job; Hail's pass or export for VCF/MatrixTable). ``ahead``: the ParseAhead started with the session (its parse is
    taken once, by the first engine run, as the stage takes the one the CLI hands it)."""
    from trd_spark.config import load_config, local_path
    from trd_spark.io import Fs
    from trd_spark.layout import StageWriter
    from trd_spark.pgs import stage
    from trd_spark.pgs.matching import score_sites

    cfg = load_config(bench_config(work, label))
    times = {}
    t0 = time.perf_counter()
    # As stage.run: the native pass's one-off costs paid in the background meanwhile (the wait
    # for it, if any, is in the match phase).
    waits = _WarmUpWaits()
    cpu_start = process_cpu()
    with waits, stage.native_warm_up(hl, spark, cfg):
        files = stage.load_scoring_files(spark, cfg, "GRCh38", ahead=ahead)
        times["parse"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        sites = score_sites(hl, spark, files, "GRCh38", liftover=cfg.pgs.liftover)
        matched = stage.match_dataset(hl, spark, cfg, "bench", files, sites)
    times["match"] = time.perf_counter() - t1
    # CPU seconds of the parse and match by process, with the background warm-up beside them
    # (stage.native_warm_up): what a warm-up moves out of the score phase is paid here.
    cpu_matched = process_cpu()
    times["cpu_match"] = {p: round(cpu_matched[p] - cpu_start[p], 2) for p in cpu_start}
    # How long the match phase's end waited for the background warm-up (in the match time).
    times["warm_up_wait"] = waits.found[-1] if waits.found else None
    # As stage.run between the match and the score phase: the match log goes to Spark SQL there
    # (``stage.variant_matches_of``: ``matching.pandas_to_spark`` reads ``spark.conf``, whose first
    # use in a process builds the session's SQL state, and converts the frame through Arrow, whose
    # first PySpark ``to_arrow_type`` imports ``distutils.version``: setuptools, packaging), so the
    # pipeline's score phase starts with both done. Both one-off costs are paid here too, in the
    # total and not in the score phase, by the same first calls on the match log's schema; the log
    # itself (one row per score and variant: 3M rows at 50k x 61, ~2.7 driver CPU-s) is neither
    # converted nor written: its rows are not the engine's work. Without them the hail-mt route,
    # whose warm-up runs no Spark SQL, paid in its score phase the SQL state's build at the pass's
    # first ``spark.conf`` read (``pgen_engine._spill_dir``: 0.5-0.8 JVM CPU-s and 1-2.7 s wall under
    # load at 2.5k samples, session 32) and, until session 33, that import in the scores' schema
    # check (``schemas.check_arrow`` -> ``to_arrow_schema``: 0.15 of the phase's 0.30 driver CPU-s
    # at 2.5k under load, flatmt): costs its pipeline never pays there. (The native routes' full
    # warm-up makes the same import first: ``pgen_engine.import_warm_up_modules``.)
    t_sql, cpu_sql = time.perf_counter(), process_cpu()
    from pyspark.sql.pandas.types import to_arrow_schema

    from trd_spark.schemas import PGS_VARIANT_MATCHES
    from trd_spark.session import ARROW_CONF

    spark.conf.get(ARROW_CONF, None)  # pandas_to_spark's first read: the SQL state
    to_arrow_schema(PGS_VARIANT_MATCHES.struct)  # its createDataFrame's first to_arrow_type: the import
    # And, as stage.run next, the match summary written by pyarrow (``StageWriter.write_pandas`` ->
    # ``io.write_arrow``, a few rows): the pipeline's score phase starts with ``pyarrow.parquet``
    # imported and that write's Hadoop FS calls made once; without it this phase paid both in its
    # scores' write (9 pyarrow modules, ~0.015 driver CPU-s and 0.02-0.05 s of wall in the first
    # phase only, both engines; session 40 flat helper).
    from trd_spark.schemas import PGS_MATCH_SUMMARY

    StageWriter(spark, Fs(spark), "pgs", hl.utils.new_temp_file("bm_pgs_summary")).write_pandas(
        "match_summary", matched.summary[PGS_MATCH_SUMMARY.names], PGS_MATCH_SUMMARY)
    times["sql_state"] = time.perf_counter() - t_sql
    cpu_sql_end = process_cpu()
    times["cpu_sql_state"] = {p: round(cpu_sql_end[p] - cpu_sql[p], 2) for p in cpu_sql}
    t2 = time.perf_counter()
    writer = StageWriter(spark, Fs(spark), "pgs", hl.utils.new_temp_file("bm_pgs"))
    passes = _NativePassRecords()
    cpu0, faults0 = process_cpu(), process_faults()
    jobs0 = spark_jobs(spark)
    jvm0 = jvm_threads_cpu()
    with passes:
        # As stage.run: scored and checked (the native pass's numpy sums to a pyarrow Table; a
        # Hail route's table written to Hail's temp dir, checked and read into Spark), then the
        # scores table written as the stage's writer writes it (schema checked; pyarrow, or
        # Spark for a Hail route's frame; rows counted).
        rows = stage.scores_of_dataset(hl, spark, cfg, matched)
        t3, cpu1 = time.perf_counter(), process_cpu()
        stage.write_scores(writer, [rows])
    times["score"] = time.perf_counter() - t2
    times["total"] = time.perf_counter() - t0
    # Spark jobs (Hail's included: it runs them) started in the score phase, and in the whole run
    # so far (the warm-up's, and the other engines' with --one-process).
    times["score_spark_jobs"], times["spark_jobs"] = spark_jobs(spark) - jobs0, spark_jobs(spark)
    cpu2, jvm2, faults2 = process_cpu(), jvm_threads_cpu(), process_faults()
    # Minor page faults of the phase by process (``process_faults``).
    times["faults_score"] = {p: faults2[p] - faults0[p] for p in faults0}
    # The score phase split (issue 16's fixed part): the rows built and checked
    # (stage.scores_of_dataset: the weights, the native engine's whole pass,
    # ``pgen_engine._PassTimes``, and its rows checked and handed to Spark; for the Hail routes
    # their whole pass, Hail write and check) and the Parquet table written, with the CPU seconds
    # of this process, the JVM and the Python workers in each.
    times["score_build"] = t3 - t2
    times["score_write"] = times["score"] - times["score_build"]
    times["cpu_build"] = {p: round(cpu1[p] - cpu0[p], 2) for p in cpu0}
    times["cpu_write"] = {p: round(cpu2[p] - cpu1[p], 2) for p in cpu0}
    # The JVM's CPU in the phase by thread (JIT compiles, Spark's job and task threads, timers);
    # threads that ended in the phase (a task's writer thread, a py4j connection's) are gone from
    # /proc: their CPU is the JVM's total less the live threads'.
    times["cpu_jvm_threads"] = thread_cpu_split(jvm0, jvm2)
    ended = (cpu2["jvm"] - cpu0["jvm"]) - sum(jvm2[k] - jvm0.get(k, 0.0) for k in jvm2)
    if jvm2 and ended >= 0.01:
        times["cpu_jvm_threads"]["ended threads"] = round(ended, 2)
    if passes.found:
        times["native_pass"] = passes.found[-1]
    df = pd.read_parquet(local_path(writer.table_path("scores")))
    return times, df.assign(s=df["person_id"].astype(str)).pivot(index="s", columns="pgs_id", values="score_sum")


class _LogRecords(logging.Handler):
    """While active (``with``), keeps what ``found_in`` takes from the INFO records of one
    logger (``found``), that logger's level lowered to INFO meanwhile when needed."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.INFO)
        self.found: list = []
        self._logger = logging.getLogger(logger)

    def found_in(self, record: logging.LogRecord) -> object | None:
        raise NotImplementedError

    def emit(self, record: logging.LogRecord) -> None:
        value = self.found_in(record)
        if value is not None:
            self.found.append(value)

    def __enter__(self) -> _LogRecords:
        self._level = self._logger.level
        self._logger.addHandler(self)
        if not self._logger.isEnabledFor(logging.INFO):
            self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


class _NativePassRecords(_LogRecords):
    """The ``native_pass`` split ``pgen_engine.score`` logs (``pgen_engine._PassTimes``:
    prepare, job, rows to Spark, seconds; how the partials came back)."""

    def __init__(self) -> None:
        super().__init__("trd_spark.pgs.pgen_engine")

    def found_in(self, record: logging.LogRecord) -> object | None:
        return getattr(record, "native_pass", None)


class _WarmUpWaits(_LogRecords):
    """The seconds ``stage._warm_up_meanwhile`` logs it waited for the native pass's warm-up
    at the end of the parse and match."""

    def __init__(self) -> None:
        super().__init__("trd_spark.pgs.stage")

    def found_in(self, record: logging.LogRecord) -> object | None:
        waited = getattr(record, "warm_up_wait_s", None)
        return None if waited is None else round(float(waited), 2)


def spark_jobs(spark) -> int:
    """Spark jobs this application has started so far, in any job group, from Spark's status
    store (the UI's; it keeps ``spark.ui.retainedJobs``, 1,000 by default). Not the public status
    tracker's ``getJobIdsForGroup()``: that counts only jobs without a group, and the native pass
    runs its job in a group of its own since f274311 (cancelled on an interrupt), so a score phase
    counted 0 jobs. The listener bus is drained first: a job enters the store by its start event.
    Counted as the highest job id + 1 (ids are given in order from 0), not as the store's size:
    the store keeps only the newest ``spark.ui.retainedJobs``, so in a long session (a test
    worker's) its size stops growing and a phase's difference read 0 (session 52's suite)."""
    jsc = spark.sparkContext._jsc.sc()
    jsc.listenerBus().waitUntilEmpty(10_000)
    jobs = jsc.statusStore().jobsList(None)  # a Scala Seq of JobData
    return 0 if int(jobs.size()) == 0 else 1 + max(int(jobs.head().jobId()), int(jobs.last().jobId()))


def jvm_threads_cpu(pid: int | None = None, proc: str = "/proc") -> dict[str, float]:
    """CPU seconds (user + system) so far of each thread of the JVM (``pid``; default: this
    process's child that runs ``java``, Spark's driver JVM), summed by thread name with its digits
    made ``#`` (``C2 CompilerThre#`` -> the JIT's C2 threads, ``Executor task launch worker`` ->
    tasks, ``dag-scheduler-event-loop`` ...; Linux keeps 15 characters of a name); {} where
    there is no /proc or no such JVM (``proc``: where /proc is, for tests). Why: the score phase's JVM share (0.1-0.8 CPU-s at 2.5k
    samples) is JIT compiles of generic code, Spark's job and task machinery and timers
    (issue 16, benchmarks/RESULTS.md session 52 fixed16); this tells them apart."""
    import re

    if pid is None:
        pid = _java_child()
    out: dict[str, float] = {}
    if pid is None:
        return out
    tick = os.sysconf("SC_CLK_TCK")
    try:
        threads = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return out
    for tid in threads:
        try:
            with open(f"{proc}/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        name = re.sub(r"\d+", "#", stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime stime
    return out


def _java_child() -> int | None:
    """The pid of this process's child running ``java`` (Spark's driver JVM), None if none."""
    if not os.path.isdir("/proc"):
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid():
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "java":
                        return int(pid)
        except (OSError, ValueError):
            continue
    return None


def thread_cpu_split(before: dict[str, float], after: dict[str, float], top: int = 6) -> dict[str, float]:
    """The ``top`` thread names (``jvm_threads_cpu``) by CPU seconds spent between ``before`` and
    ``after`` (at least 0.01 s each, rounded to 0.01), the rest summed as ``other``."""
    spent = sorted(((after[k] - before.get(k, 0.0), k) for k in after), reverse=True)
    out = {k: round(v, 2) for v, k in spent[:top] if v >= 0.01}
    rest = sum(v for v, _ in spent[top:])
    if rest >= 0.01:
        out["other"] = round(rest, 2)
    return out


def _process_split(value: Callable[[list[str]], float]) -> dict[str, float]:
    """``value`` of /proc/<pid>/stat's fields after the command name (``fields[0]`` = state)
    summed over this process (``driver``), its child processes (``jvm``: Spark's JVM) and their
    descendants (``workers``: Spark's Python workers); zeros where there is no /proc."""
    out = {"driver": 0.0, "jvm": 0.0, "workers": 0.0}
    if not os.path.isdir("/proc"):
        return out
    children: dict[int, list[int]] = {}
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(pid))
        found[int(pid)] = value(fields)
    out["driver"] = found.get(os.getpid(), 0.0)
    below = [(c, "jvm") for c in children.get(os.getpid(), [])]
    while below:
        pid, kind = below.pop()
        out[kind] += found.get(pid, 0.0)
        below += [(c, "workers") for c in children.get(pid, [])]
    return out


def process_cpu() -> dict[str, float]:
    """CPU seconds (user + system, children reaped included) so far of this process (``driver``),
    its child processes (``jvm``: Spark's JVM) and their descendants (``workers``: Spark's Python
    workers), from /proc (zeros where there is no /proc). A worker that exited before its parent
    reaped it is not counted."""
    tick = os.sysconf("SC_CLK_TCK") if os.path.isdir("/proc") else 100
    return _process_split(lambda fields: sum(int(x) for x in fields[11:15]) / tick)  # utime stime cutime cstime


def process_faults() -> dict[str, int]:
    """Minor page faults so far (minflt + cminflt: children reaped included) by process, as
    ``process_cpu`` splits CPU: the pages a phase touched for the first time (a worker's block
    buffer, temporaries its heap had given back, a mapped file's pages), kernel CPU that wall
    times under load hide (issue 16, benchmarks/RESULTS.md session 54 native16)."""
    return {k: int(v) for k, v in _process_split(lambda fields: int(fields[7]) + int(fields[8])).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--variants", type=int, default=10000)
    ap.add_argument("--scores", type=int, default=61)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vcf", action="store_true", help="also compare from a bgzipped VCF (both tools)")
    ap.add_argument("--work-dir", default="/tmp/trd_spark_bench_pgs")
    ap.add_argument("--cores", type=int, default=2, help="Spark local[N] and plink2 --threads")
    ap.add_argument("--bgen", action="store_true", help="also compare from a BGEN 1.2 8-bit file (both tools)")
    ap.add_argument("--engines", nargs="*", choices=list(GENOTYPES),
                    help="run only these (default: all; hail-vcf needs --vcf, *-bgen --bgen)")
    ap.add_argument("--prepare-only", action="store_true", help="generate and convert the data, time nothing")
    ap.add_argument("--one-process", action="store_true",
                    help="run several engines in this process (the later ones warm) instead of one process each")
    args = ap.parse_args()
    if not shutil.which("plink2"):
        sys.exit("plink2 is not on PATH (apt-get install plink2)")
    work = Path(args.work_dir) / f"s{args.samples}_v{args.variants}_k{args.scores}_seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    done = work / "done"
    if not done.exists() or (args.vcf and "vcf=True" not in done.read_text()):
        t0 = time.perf_counter()
        for f in work.glob("geno.*"):
            if f.is_file():
                f.unlink()
        generate(work, args.samples, args.variants, args.scores, args.seed, args.vcf)
        print(f"generated data in {time.perf_counter() - t0:.1f} s: {work}", flush=True)

    if args.bgen and not (work / "geno.bgen").exists():  # made once from the pgen, not timed
        t0 = time.perf_counter()
        write_bgen(work)
        print(f"wrote geno.bgen in {time.perf_counter() - t0:.1f} s", flush=True)
    labels = [label for label, _ in engine_runs(args.vcf, args.bgen) if not args.engines or label in args.engines]
    if len(labels) > 1 and not args.one_process and not args.prepare_only:
        sys.exit(run_each_in_own_process(args, labels))

    from trd_spark.config import SparkSettings, load_config
    from trd_spark.pgs.scoring_files import ParseAhead
    from trd_spark.session import start_session

    t0 = time.perf_counter()
    # As `trd-spark run` (pipeline.scoring_files_parsed_ahead): the scoring files parsed in a
    # thread while Spark and Hail start, taken by run_ours' parse (its time: the take); joined
    # before plink2 runs. "jvm" is the start with that parse; "jvm_only" the session's start.
    ahead = None if args.prepare_only else ParseAhead(load_config(bench_config(work, labels[0])).pgs, ["GRCh38"]).start()
    spark = start_session(SparkSettings(master=f"local[{args.cores}]", driver_memory="8g", shuffle_partitions=8,
                                        tmp_dir=str(work / "tmp")))
    import hail as hl
    jvm_only = time.perf_counter() - t0
    if ahead is not None:
        ahead.wait()
    jvm = time.perf_counter() - t0
    # Only Hail's pass reads the MatrixTable (a long conversion at 20k x 200k): made when needed.
    need_mt = args.prepare_only or not args.engines or "hail-mt" in args.engines
    if need_mt and not (work / "geno.mt" / "_SUCCESS").exists():
        from trd_spark.pgs.genotypes import plink_contig_recoding
        raw = hl.import_plink(bed=str(work / "geno.bed"), bim=str(work / "geno.bim"), fam=str(work / "geno.fam"),
                              reference_genome="GRCh38", contig_recoding=plink_contig_recoding("GRCh38"),
                              quant_pheno=True, missing="-9")
        raw.select_entries("GT").select_rows().select_cols().write(str(work / "geno.mt"), overwrite=True)

    if args.prepare_only:
        print(f"data ready in {work}")
        return
    if not (work / "geno.pgen").exists():  # data generated before the native engine existed
        subprocess.run(["plink2", "--bfile", str(work / "geno"), "--make-pgen", "--threads", "2", "--out",
                        str(work / "geno")], check=True, capture_output=True)
    results = []
    for label, p_source in engine_runs(args.vcf, args.bgen):
        if label not in labels:
            continue
        p_time, p_out = run_plink2(work, p_source, args.scores, args.cores)
        o_times, o_out = run_ours(hl, spark, work, label, ahead)
        # plink2 names the sums SCORE1_SUM.. in score-column order (= PGS9xxxxx order).
        ids = sorted(o_out.columns)
        p_sum = p_out[[f"SCORE{k + 1}_SUM" for k in range(len(ids))]].to_numpy()
        o_sum = o_out.loc[[str(s) for s in p_out.index], ids].to_numpy()
        rel = float(np.max(np.abs(o_sum - p_sum) / np.maximum(np.abs(p_sum), 1e-3)))
        # machine-readable (benchmarks/scaling.py --native-samples, and the one-process-per-engine run)
        results.append({"engine": label, "samples": args.samples, "variants": args.variants, "scores": args.scores,
                        "cores": args.cores, "plink2": p_time, **o_times, "jvm": jvm, "jvm_only": jvm_only,
                        "max_rel_diff": rel})
    sys.exit(report(args, results))


def engine_runs(vcf: bool, bgen: bool = False) -> list[tuple[str, str]]:
    """(engine label, plink2's input) in run order: Hail from the VCF / the MatrixTable made from
    the .bed, the native engine from the .bed and the .pgen; with ``bgen`` both engines from the
    BGEN."""
    return ([("hail-vcf", "vcf")] if vcf else []) + [("hail-mt", "bed"), ("native-bed", "bed"), ("native-pgen", "pgen")] \
        + ([("native-bgen", "bgen"), ("hail-bgen", "bgen")] if bgen else [])


def write_bgen(work: Path) -> None:
    """geno.bgen + geno.sample from the .bed: BGEN 1.2, 8-bit probabilities, zlib, REF first,
    the IIDs embedded (``id-paste=iid``: the person IDs, as the stage requires)."""
    subprocess.run(["plink2", "--bfile", str(work / "geno"), "--export", "bgen-1.2", "bits=8", "id-paste=iid",
                    "--threads", "2", "--out", str(work / "geno")], check=True, capture_output=True)


def run_each_in_own_process(args: argparse.Namespace, labels: list[str]) -> int | str:
    """This script once per engine (``--engines <label>``, a fresh interpreter each, one after
    the other), its output passed through; then every engine's figures together."""
    argv, skip = [], False
    for a in sys.argv[1:]:  # the same options without --engines and its values
        if skip and not a.startswith("--"):
            continue
        skip = a == "--engines"
        if not skip:
            argv.append(a)
    results = []
    for label in labels:
        cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--engines", label]
        print(f"--- {label}: {' '.join(cmd[1:])}", flush=True)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        print(out.stdout, end="", flush=True)
        found = [line for line in out.stdout.splitlines() if line.startswith("phases=")]
        if not found:
            return f"{label}: the run failed (exit code {out.returncode}), no figures"
        results.append(json.loads(found[0][len("phases="):]))
    print(f"\n--- all engines, each in its own process (load average now {os.getloadavg()[0]:.1f})")
    return report(args, results)


def report(args: argparse.Namespace, results: list[dict]) -> int | str:
    """Print the table, one ``ratio=`` line per engine and phase and one ``phases=`` line per
    engine; a message (non-zero exit) when an engine's sums disagree with plink2's."""
    jvm = ", ".join(f"{r['engine']} {r['jvm']:.1f} s" for r in results)
    print(f"\n{args.samples} samples x {args.variants} variants x {args.scores} scores; local[{args.cores}] of "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; JVM+Hail start (scoring files parsed "
          f"meanwhile) {jvm}")
    # The total holds Spark SQL's session state, built between the match and the score phase
    # (``sql_state``, as the pipeline's match log builds it there): shown, so the parts add up.
    print("engine       plink2_s  ours_s (parse+match+sql_state+score)  ratio_in_process  ratio_whole_process"
          "  max_rel_diff")
    for t in results:
        print(f"{t['engine']:<12} {t['plink2']:8.1f} {t['total']:7.1f} ({t['parse']:.1f}+{t['match']:.1f}+"
              f"{t.get('sql_state') or 0.0:.1f}+{t['score']:.1f})  {t['total'] / t['plink2']:8.1f}x"
              f"  {(t['total'] + t['jvm']) / t['plink2']:8.1f}x  {t['max_rel_diff']:.2e}")
    for t in results:
        print(f"ratio={(t['total'] + t['jvm']) / t['plink2']:.2f} engine={t['engine']} phase=whole_process_vs_plink2")
        print(f"ratio={t['score'] / t['plink2']:.2f} engine={t['engine']} phase=score_vs_plink2_whole_run")
    for t in results:
        if "score_build" in t:
            split = f"{t['engine']:<12} score {t['score']:.1f} s = built+checked {t['score_build']:.1f} s (CPU {t['cpu_build']})"
            if t.get("native_pass"):
                p = t["native_pass"]
                split += (f" [before the engine {t['score_build'] - sum(p[k] or 0 for k in ('prepare_s', 'job_s')):.1f},"
                          f" engine: prepare {p['prepare_s']:.1f}, job {p['job_s'] or 0:.1f}; "
                          f"{p['tasks']} tasks; weights as {p.get('weights')}; partials as {p.get('partials')}"
                          + (f"; the tasks' own CPU {p['task_cpu_s']:.1f} s" if p.get("task_cpu_s") is not None else "")
                          + "]")
            print(split + f" + Parquet written {t['score_write']:.1f} s (CPU {t['cpu_write']}); Spark jobs: "
                  f"{t.get('score_spark_jobs')} in the score phase, {t.get('spark_jobs')} in the run"
                  + (f"; the JVM's CPU-s by thread: {t['cpu_jvm_threads']}" if t.get("cpu_jvm_threads") else ""))
        if "cpu_match" in t:
            print(f"{t['engine']:<12} parse + match {t['parse'] + t['match']:.1f} s (CPU with the warm-up beside it: "
                  f"{t['cpu_match']})")
        if t.get("warm_up_wait") is not None:
            print(f"{t['engine']:<12} match phase waited {t['warm_up_wait']:.1f} s for the native pass's warm-up")
        if t.get("sql_state") is not None:
            print(f"{t['engine']:<12} Spark SQL's session state and Arrow imports, and the match summary's "
                  f"pyarrow write, before the score phase (as the pipeline's match log and summary pay them there) {t['sql_state']:.1f} s (CPU {t['cpu_sql_state']})")
    for t in results:
        print("phases=" + json.dumps(t))
    bad = [t for t in results if t["max_rel_diff"] > 1e-5]
    if bad:
        return f"results disagree with plink2 ({bad[0]['engine']}): max relative difference {bad[0]['max_rel_diff']:.2e}"
    return 0


if __name__ == "__main__":
    main()
