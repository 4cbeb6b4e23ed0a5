"""Session 45, helper "fixes" (the coordinator's findings C1-C3, the reader's s45 findings).

- C1: ``session.use_java`` ran ``java -version`` with a 30 s timeout and, when it timed out (a
  load of ~45 on 2 cores did, twice), said the Java "does not run". The limit is
  ``session.JAVA_VERSION_TIMEOUT_S`` (120 s) and a timeout is named as one.
- C2: ``compare-releases`` read both releases' exports without the output root's export lock
  (``releases.ExportLock``, 4912e36): a release's report re-exporting meanwhile was not excluded.
  It holds the lock from its check of the exports until its comparison is published.
"""

from __future__ import annotations

import re

import pytest
from test_rerun_s42 import _java_home
from test_rerun_s45 import run_beside_a_live_holder

from trd_spark.errors import ConfigError


def test_c1_a_java_version_that_times_out_is_named_as_a_timeout(tmp_path, monkeypatch):
    """A JAVA_HOME whose ``bin/java`` hangs past the limit (here 0.5 s; it sleeps 40 s): one
    ConfigError naming the home and saying it did not finish within the limit (on 163d5e1, after
    the fixed 30 s: "... -version does not run", as for a Java that cannot run at all)."""
    from trd_spark import session

    home = _java_home(tmp_path, 'IMPLEMENTOR="Test"\nJAVA_VERSION="17.0.1"\n')
    (home / "bin" / "java").write_text("#!/bin/sh\nexec /bin/sleep 40\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.setattr(session, "JAVA_VERSION_TIMEOUT_S", 0.5, raising=False)  # (absent on 163d5e1)
    with pytest.raises(ConfigError, match=rf"the Java at {re.escape(str(home))} .*-version did not finish within "
                                          r"0\.5 s"):
        session.use_java()


def test_c2_compare_releases_holds_the_export_lock_from_its_check_to_its_publish(tmp_path, monkeypatch, caplog):
    """Another live process holds ``{output_root}/.export.lock`` (a release's report stage about to
    publish its export): ``compare_releases_job`` waits (one INFO line naming it) before it checks the
    two exports, then checks and compares under its own record in the lock, and removes it after, also
    when the comparison fails. The check and the comparison are stand-ins recording who holds the
    lock and whether the holder still lives (no Spark: the local check runs before the session). On
    163d5e1 the check ran at once beside the live holder (and no lock of its own): (holder's pid, alive)."""
    import json
    import os
    import subprocess
    import sys

    from trd_spark import releases
    from trd_spark.config import load_config
    from trd_spark.report import compare

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    lock = tmp_path / ".export.lock"
    seen: list[tuple[str, object, bool]] = []
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    def record(step):
        def stand_in(*args, **kwargs):
            seen.append((step, json.loads(lock.read_text())["pid"] if lock.exists() else None, holder.poll() is None))
            if step == "compare":
                raise RuntimeError("comparison failed")
        return stand_in

    monkeypatch.setattr(compare, "check_comparable", record("check"))
    monkeypatch.setattr(compare, "compare_releases", record("compare"))
    # what the numbers come from is read before the comparison (2807c30), on the session's file system
    monkeypatch.setattr(compare, "compared_inputs", lambda *args: {})
    monkeypatch.setattr(compare, "Fs", lambda spark: releases.LocalFs())  # no Spark session here
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: None)
    monkeypatch.setattr("trd_spark.stages.check_spark_reads", lambda spark, cfg: None)
    monkeypatch.setattr(releases, "EXPORT_LOCK_POLL_SECONDS", 0.05, raising=False)
    caplog.set_level("INFO", logger="trd_spark.releases")
    failed: list[BaseException] = []

    def job():
        try:
            compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
        except BaseException as e:  # noqa: BLE001 - asserted below
            failed.append(e)

    run_beside_a_live_holder(lock, holder, job, seen, caplog,
                             "compare-releases toy-r1 toy-r2 waits for another run's report")
    assert seen == [("check", os.getpid(), False), ("compare", os.getpid(), False)], (seen, failed)
    assert [str(e) for e in failed] == ["comparison failed"] and not lock.exists()
