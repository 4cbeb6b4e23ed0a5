"""Shared fixtures: one Spark + Hail session for the whole test run (local[2], loopback, UI off)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from trd_spark.config import SparkSettings

REPO = Path(__file__).resolve().parent.parent
# The JVMs the tests start (subprocess runs, the standalone cluster's daemons and executors) are
# short-lived and work on toy data, so HotSpot's optimising C2 compiler costs more CPU than it
# saves: C1 only and the serial collector cut a toy pipeline run's CPU by about a third (276 ->
# 189 CPU-seconds measured), and the suite is CPU-bound on 2 cores. Plain C2 did not pay on the
# shared in-process session's JVM either (``spark`` fixture; test_pgs_genotypes: 221.5 -> 193.1
# CPU-s with C1, session 23), but C2 with Hail's generated classes excluded does (below). Tests
# only; production JVMs are untouched. ("Picked up JAVA_TOOL_OPTIONS" on a JVM's stderr goes to
# the run log.)
# With C1 only, HotSpot reserves a 48 MB code cache (240 MB with C2), which Hail's generated
# code can fill: "Out of space in CodeCache for method handle intrinsic" killed a toy run's JVM
# mid-phenotypes in one suite run (session 10). So the cache gets the C2 default's room.
SHORT_LIVED_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m"
# The shared session's JVM, though, runs C2 for everything but Hail's generated classes
# (``__C<n>...``, compiled once per query and run a few times on toy data): it lives for the whole
# worker, and C2 roughly halves the CPU of Hail's own query compiler on the driver, which is most of
# the in-process suite's CPU; its compile cost is paid once per JVM. Measured idle on the whole suite,
# back to back on one tree (session 29): C1 only 3,216 CPU-s / 28:32, this 2,617 CPU-s / 23:28.
SHARED_JIT_DIRECTIVES = '[{match: "__C*.*", c2: {Exclude: true}}]'
SHARED_JVM_OPTIONS = ("-XX:+UseSerialGC -XX:ReservedCodeCacheSize=512m -XX:+UnlockDiagnosticVMOptions "
                      "-XX:CompilerDirectivesFile={directives}")
os.environ.setdefault("JAVA_TOOL_OPTIONS", SHORT_LIVED_JVM_OPTIONS)
# The class-data-sharing archive's options (tests/cds_archive.py: the Spark and Hail classes
# loaded and verified once, not in every JVM the tests start), set by the first pytest process
# (pytest_configure) beside the options above for the JVMs it and its xdist workers start.
CDS_OPTIONS_ENV = "TRD_TEST_JVM_CDS_OPTIONS"
CDS_REASON_ENV = "TRD_TEST_JVM_CDS_REASON"  # the archive in use, or why there is none
# The shared session evaluates Spark SQL expressions interpreted, without generated code (no
# whole-stage codegen, no generated projections or predicates): its queries are toy-sized and
# mostly run once, so compiling generated Java for each new plan costs more CPU than running it
# saves. Measured side by side, -n 0, CPU-s of the pytest process tree (session 24, load 20-30):
# test_phenotypes_mdd 87.5 -> 79.7, test_cohort + test_cohort_standardise 132.2 -> 124.1;
# whole-stage codegen off alone gave 133.4 (no saving). The subprocess runs (the installed toy
# run, the cluster run, test_fault_resume's signalled runs) keep Spark's defaults, so a whole run
# on generated code is still tested. Tests only; production sessions are untouched.
# (factoryMode is an internal Spark SQL setting, made for tests; plans keep their operators.)
SHARED_SQL_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
# One BLAS thread in the test processes and every process they start (the session already gives
# its Python workers one: session.start_session). Two xdist workers on 2 cores each with
# OpenBLAS's default of one thread per core oversubscribe the machine, and OpenBLAS threads
# spin while they wait: the privacy attacker's SVD (2948 x 2188) took 38.1 CPU-s with 2
# threads against 10.7 with 1 at load 13 (session 16). The variable covers libraries loaded
# later (scipy's own OpenBLAS); threadpoolctl the numpy already imported by a plugin.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")
# Modules that share a session fixture run in one xdist group (one worker), so the fixture
# runs once: the installed toy run is test_cli's check and test_cluster's reference.
# The two toy releases are test_privacy_export's subject, test_pipeline_e2e's end-to-end run and
# test_fault_resume's uninterrupted reference (toy-r1); test_privacy_s40_export and _s41 hunt in their exports;
# test_moved_s55 applies moved_groups to each export against the other.
SHARED_GROUPS = {"test_cli.py": "installed_toy_run", "test_cluster.py": "installed_toy_run",
                 "test_privacy_export.py": "toy_releases", "test_pipeline_e2e.py": "toy_releases",
                 "test_fault_resume.py": "toy_releases", "test_privacy_s40_export.py": "toy_releases",
                 "test_privacy_s41.py": "toy_releases", "test_moved_s55.py": "toy_releases"}


def pytest_itemcollected(item):
    """Each module is one xdist group (``--dist loadgroup``: a module's tests, and so its
    module-scoped fixture, stay on one worker). Marked as each item is collected, before any
    ``pytest_collection_modifyitems`` (xdist's worker reads the marker in its own)."""
    item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(item.path.name, item.path.name)))


class _GroupCheck:
    """On an xdist worker with ``--dist loadgroup``, every test id must carry its group
    (``<id>@<group>``): when it does not (pytest 9 with xdist 3.8 ignores the renaming), the
    module fixtures would silently run once per worker, so the run stops here instead."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if getattr(config.option, "loadgroup", False) and any("@" not in item.nodeid for item in items):
            raise pytest.UsageError("pytest-xdist --dist loadgroup is not grouping tests on this pytest "
                                    "version (see the pin in pyproject.toml)")


def pytest_configure(config):
    """Registers the group check, and keeps this file's module order on xdist workers: xdist
    (3.x, ``--loadscope-reorder`` on by default) hands out groups by their number of tests,
    largest first, which put the end-to-end groups mid-run and test_fault_resume's one 149 s
    test (few tests) at the end of one worker while the other sat idle. The suite's measured
    durations (session 15, 868 tests) replayed through xdist's scheduling rule: 1566 s on the
    busier worker with the reorder (the real run: 1583 s), 1516 s in this file's order."""
    config.pluginmanager.register(_GroupCheck(), "trd_group_check")
    if not hasattr(config, "workerinput") and os.environ.get("JAVA_TOOL_OPTIONS") == SHORT_LIVED_JVM_OPTIONS:
        # Before xdist starts its workers, which inherit the environment.
        from cds_archive import ensure

        cds, os.environ[CDS_REASON_ENV] = ensure(SHORT_LIVED_JVM_OPTIONS)
        if cds:
            os.environ[CDS_OPTIONS_ENV] = cds
            os.environ["JAVA_TOOL_OPTIONS"] = f"{SHORT_LIVED_JVM_OPTIONS} {cds}"
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Slow (end-to-end) modules first, module order and test order otherwise unchanged: long
    modules started first keep workers busy to the end."""
    modules = list(dict.fromkeys(item.path.name for item in items))
    slow = {item.path.name for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path.name not in slow, modules.index(item.path.name)))


# For one run only: another partitioning of the shared session, to find tests whose expected
# rows hold only while Spark's partitioning keeps an order nobody fixed (session 56 flaky2).
# ``TRD_TEST_SPARK_LAYOUT="master=local[1];spark.sql.shuffle.partitions=7;spark.sql.adaptive.enabled=false"``:
# ``master=`` sets the master, any other ``key=value`` is added to the session's conf.
SPARK_LAYOUT_ENV = "TRD_TEST_SPARK_LAYOUT"


def spark_layout_for_run(text: str) -> tuple[str, dict[str, str]]:
    """The master and extra conf named by ``TRD_TEST_SPARK_LAYOUT`` (``local[2]`` and none unset)."""
    master, conf = "local[2]", {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"{SPARK_LAYOUT_ENV}: {item!r} is not key=value")
        if key.strip() == "master":
            master = value.strip()
        else:
            conf[key.strip()] = value.strip()
    return master, conf


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one SparkSession (with Hail initialised) shared by every test."""
    from trd_spark.session import start_session

    tmp = tmp_path_factory.mktemp("spark")
    master, conf = spark_layout_for_run(os.environ.get(SPARK_LAYOUT_ENV, ""))
    settings = SparkSettings(master=master, driver_memory="3g", shuffle_partitions=4, tmp_dir=str(tmp),
                             extra_conf={**SHARED_SQL_CONF, **conf})
    # The serial collector as the other JVMs, C2 but for Hail's generated classes (the directives
    # file, written here: no path in the repo); twice their code cache, since this one
    # runs every in-process test's generated code for the whole run (34 MB used after four
    # minutes of test_cohort; a full cache stops the compiler or, at worst, fails the JVM).
    options = os.environ.get("JAVA_TOOL_OPTIONS")
    cds = os.environ.get(CDS_OPTIONS_ENV)
    ours = options == (f"{SHORT_LIVED_JVM_OPTIONS} {cds}" if cds else SHORT_LIVED_JVM_OPTIONS)
    if ours:
        directives = tmp / "jit_directives.json"
        directives.write_text(SHARED_JIT_DIRECTIVES)
        os.environ["JAVA_TOOL_OPTIONS"] = " ".join(filter(None, [SHARED_JVM_OPTIONS.format(directives=directives), cds]))
    try:
        session = start_session(settings)
    finally:
        if ours:
            os.environ["JAVA_TOOL_OPTIONS"] = options
    yield session


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory):
    """The package installed from its wheel into a fresh venv (tests/installed.py)."""
    from installed import build_and_install

    return build_and_install(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def installed_toy_run(wheel_install):
    """One `trd-spark run` of the installed console script on small toy data: test_cli checks
    it as a user's first run, test_cluster uses it as the local-mode reference (each pipeline
    run costs minutes; the suite has a time budget)."""
    from installed import run_installed_toy

    return run_installed_toy(wheel_install)


@pytest.fixture(scope="session")
def toy_releases(spark, tmp_path_factory):
    """Two toy releases run from the CLI as a scheduler would (tests/toy_releases.py):
    test_pipeline_e2e's and test_privacy_export's subject, test_fault_resume's reference."""
    from toy_releases import run_toy_releases

    return run_toy_releases(tmp_path_factory.mktemp("releases"))


@pytest.fixture
def interrupt_kept_in_test(monkeypatch):
    """What an interrupt changes for the rest of a dying process, kept to the test (the CLI's
    interrupt tests: test_run_before_stages, test_runsafe_s32): the shared session is not
    stopped, the thread and unraisable hooks and the warning filters are put back."""
    import sys
    import threading
    import warnings

    from trd_spark import cli

    monkeypatch.setattr(cli, "_stop_spark_quietly", lambda: None)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    with warnings.catch_warnings():
        yield


@pytest.fixture(scope="session")
def hl(spark):
    """Hail, initialised on the shared session."""
    import hail

    return hail
