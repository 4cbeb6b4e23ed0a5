"""Stale reruns and run control, session 45 (helper "privrerun").

Two releases' report stages under one output root could run at once (each run holds its own
release's lock only): each read the exports published there (``report.stage.released_exports``)
before the other published its new one, so neither new export was audited against the other, and
the two together gave their small differences (README "Privacy", two releases' exports). The stage
that publishes the export now holds the output root's export lock (``releases.ExportLock``, taken
in ``pipeline.run_stage``) and waits while another live run holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest


def test_a_report_stage_waits_for_another_runs_export_under_the_same_output_root(spark, tmp_path, monkeypatch,
                                                                                 caplog):
    """Another live process of this host holds ``{output_root}/.export.lock`` (its record as a run
    writes it): ``run_stage(..., "report")`` of release r2 waits (one INFO line), runs once the holder
    is gone (its stale lock taken over), holding the lock with its own record while the stage's code
    runs, and removes it after, also when the stage fails. The stage's code is a stand-in recording
    who holds the lock and whether the holder still lives (the report's own work is not the subject;
    nor is its fingerprint, a stand-in too: minutes of CPU under load). On 163d5e1 the stand-in ran
    at once, beside the live holder's lock: it recorded (the holder's pid, alive)."""
    import types

    from trd_spark import pipeline, releases
    from trd_spark.config import load_config
    from trd_spark.report import stage as report_stage

    cfg = load_config(None, overrides={"output_root": str(tmp_path), "release": "r2"})
    lock = tmp_path / ".export.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    seen: list[tuple[object, bool]] = []

    def stand_in(ctx):
        seen.append((json.loads(lock.read_text())["pid"] if lock.exists() else None, holder.poll() is None))
        return {}

    monkeypatch.setattr(report_stage, "run", stand_in)
    monkeypatch.setattr(pipeline, "StageContext", lambda *a, **k: types.SimpleNamespace(parts_at_start=None))
    monkeypatch.setattr(releases, "EXPORT_LOCK_POLL_SECONDS", 0.05, raising=False)
    caplog.set_level("INFO", logger="trd_spark.releases")
    run_beside_a_live_holder(lock, holder, lambda: pipeline.run_stage(spark, cfg, "report"), seen, caplog,
                             "waits for another run's report")
    assert seen == [(os.getpid(), False)], seen  # after the holder ended, under its own lock
    assert not lock.exists()

    def failing(ctx):
        seen.append((json.loads(lock.read_text())["pid"], False))
        raise RuntimeError("stage failed")

    monkeypatch.setattr(report_stage, "run", failing)
    with pytest.raises(RuntimeError, match="stage failed"):
        pipeline.run_stage(spark, cfg, "report")
    assert seen[-1] == (os.getpid(), False) and not lock.exists()


def run_beside_a_live_holder(lock, holder, target, seen, caplog, waits_text):
    """Write ``lock`` as the live process ``holder``'s run record, run ``target`` in a thread until it
    recorded something in ``seen`` (it ran at once) or logged ``waits_text``, then end the holder and
    wait for ``target`` to finish (it takes the holder's stale lock over). The loop bounds a hang; it
    is not a timing."""
    import socket

    from trd_spark import releases

    try:
        started = time.time()
        owner = {"host": socket.gethostname(), "pid": holder.pid, "process": releases.process_identity(holder.pid),
                 "started": started, "refreshed": started}
        lock.write_text(releases.owner_text(owner, started))
        runner = threading.Thread(target=target, daemon=True)
        runner.start()
        for _ in range(6000):
            if seen or any(waits_text in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait()
    runner.join(600)
    assert not runner.is_alive()
