"""A class-data-sharing (AppCDS) archive for the JVMs the tests start (conftest.py; tests only).

Every Spark JVM the suite starts (the shared session's, and the subprocess runs': the installed
toy run, test_fault_resume's signalled runs, the CLI's and the session's subprocess checks, the
cluster run's executors) loads and verifies ~16,000 classes of Spark and Hail before its first
job. A dynamic CDS archive (JDK 13+: ``-XX:ArchiveClassesAtExit`` once, ``-XX:SharedArchiveFile``
after) holds them loaded and verified: a Spark + Hail start took 9.9-10.1 CPU-s with it against
12.9-14.0 without (session 40, one JVM each, alternated, under load). JDK 17 has no
``-XX:+AutoCreateSharedArchive`` (JDK 19), so the archive is made here, once per Java, Hail jar
and Spark jars (the file name keys them), by one Spark + Hail start that exits normally, and
kept in the system temp directory for the next runs (``TRD_TEST_CDS_DIR`` moves it,
``TRD_TEST_CDS=off`` turns it off).

Safe by the JVM's own checks: a JVM whose class path does not start with the archive's (the
standalone cluster's master and worker daemons, ``java -version``), or whose jars changed since,
or another Java, runs without it (``-Xlog:cds*=off``: without a line on its stdout). Production
JVMs are untouched.

``python tests/cds_archive.py OUT``: the start that writes the archive (run by ``ensure``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# The JVM's CDS messages (an archive it cannot use: another class path, Java or jar) are
# warnings on stdout by default: off, so no test's output changes.
QUIET = "-Xlog:cds*=off"
DUMP_TIMEOUT_S = 900  # one Spark + Hail start: ~20 s idle; CI machines are shared


def _key() -> str:
    """What the archive depends on: the Java in use, Hail's jar and Spark's jars (paths, sizes,
    modification times). Another key is another file; a stale one is refused by the JVM. The
    jars' real paths: the JVM compares class paths by them, so the trees of one venv (a source
    checkout and its copies with a linked .venv) share one archive."""
    import importlib.util

    from trd_spark.session import find_java

    java = find_java()
    parts = [str(Path(java.home).resolve()), str(java.major)]
    for name in ("hail", "pyspark"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        root = Path(spec.origin).parent
        for jar in sorted([*root.glob("backend/*.jar"), *root.glob("jars/*.jar")]):
            st = jar.stat()
            parts.append(f"{jar.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def ensure(jvm_options: str) -> str | None:
    """The JVM options that use the archive (made first when missing), or None when off or
    when it could not be made (the tests then run without it: slower, not different).
    ``jvm_options``: the short-lived JVMs' options, which the writing JVM runs with."""
    if os.environ.get("TRD_TEST_CDS", "").lower() in ("0", "off", "false", "no"):
        return None
    directory = Path(os.environ.get("TRD_TEST_CDS_DIR") or Path(tempfile.gettempdir()) / f"trd-spark-test-cds-{os.getuid()}")
    archive = directory / f"spark-hail-{_key()}.jsa"
    if not archive.exists():
        directory.mkdir(parents=True, exist_ok=True)
        # Written under a name of this process's own, renamed into place when complete: two
        # suites starting at once each write theirs, and neither JVM maps a half-written file.
        partial = directory / f".{archive.name}.{os.getpid()}"
        env = {**os.environ, "JAVA_TOOL_OPTIONS": f"{jvm_options} -XX:ArchiveClassesAtExit={partial} {QUIET}"}
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run([sys.executable, __file__, tmp], env=env, timeout=DUMP_TIMEOUT_S, check=True,
                               capture_output=True)
            except (OSError, subprocess.SubprocessError):
                partial.unlink(missing_ok=True)
                return None
        if not partial.exists():
            return None
        os.replace(partial, archive)
    return f"-XX:SharedArchiveFile={archive} {QUIET}"


def _warm(tmp: str) -> None:
    """One Spark + Hail start as the tests' (local[2]), a Spark SQL query through Parquet and a
    Hail query: their classes are what the archive holds. The JVM writes it as it exits."""
    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    spark = start_session(SparkSettings(master="local[2]", shuffle_partitions=4, tmp_dir=tmp))
    path = str(Path(tmp) / "warm.parquet")
    spark.range(100).selectExpr("id", "id % 3 AS g").write.parquet(path)
    spark.read.parquet(path).groupBy("g").count().collect()
    import hail as hl

    hl.utils.range_table(10).annotate(x=hl.int64(1)).aggregate(hl.agg.sum(hl.int64(1)))
    # PySpark's JVM exits (System.exit, which writes the archive) when its stdin closes: closed
    # here and waited for, so the archive is complete when this process ends.
    from pyspark import SparkContext

    proc = SparkContext._gateway.proc  # noqa: SLF001 - PySpark's handle of the JVM it launched
    spark.sparkContext.stop()
    proc.stdin.close()
    proc.wait(timeout=DUMP_TIMEOUT_S)


if __name__ == "__main__":
    _warm(sys.argv[1])
