"""Stale reruns and run safety, round 27 (session 37)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import LockedError
from trd_spark.releases import LocalFs, ReleaseLock, lock_is_stale, statuses


@pytest.fixture
def cfg(tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "r1").mkdir(parents=True)
    return load_config(None, overrides={"output_root": str(tmp_path / "results"), "release": "r1",
                                        "releases": {"input_root": str(inputs)}, "toy_data": None})


def test_a_live_run_of_another_host_keeps_its_lock_past_the_stale_age(cfg):
    """A run on another host (a YARN cluster-mode driver, another Airflow worker) whose pgs stage
    ran longer than ``releases.lock_stale_hours`` lost its lock to the next scheduled run: another
    host's lock was judged by when its run started, so both runs wrote the release. A run now
    rewrites its lock's ``refreshed`` time while it holds it, and another host's lock is stale
    only when not refreshed for lock_stale_hours."""
    fs = LocalFs()
    lock = ReleaseLock(cfg, fs)
    Path(lock.path).parent.mkdir(parents=True)
    day = cfg.releases.lock_stale_hours * 3600
    running = {"host": "worker-7", "pid": 1, "started": time.time() - 2 * day, "refreshed": time.time() - 60}
    Path(lock.path).write_text(json.dumps(running))
    os.utime(lock.path, (running["refreshed"],) * 2)  # the file's last write judges (session 39), as the refresh sets it
    assert not lock_is_stale(fs, lock.path, cfg.releases.lock_stale_hours)
    with pytest.raises(LockedError, match="refreshed the lock 1m0"):
        ReleaseLock(cfg, fs).acquire()
    assert json.loads(Path(lock.path).read_text()) == running  # not taken over
    assert {s.release: s.state for s in statuses(cfg, fs)} == {"r1": "running"}
    # Killed on that host: its last refresh ages past the limit, and the lock is taken over.
    killed = {**running, "refreshed": time.time() - day - 60}
    Path(lock.path).write_text(json.dumps(killed))
    os.utime(lock.path, (killed["refreshed"],) * 2)
    assert lock_is_stale(fs, lock.path, cfg.releases.lock_stale_hours)
    with ReleaseLock(cfg, fs) as taken:
        assert json.loads(Path(lock.path).read_text()) == taken.owner
    assert not os.path.exists(lock.path)


def test_a_held_lock_is_refreshed_and_never_written_again_once_released_or_taken(tmp_path):
    """The holder refreshes its lock while it runs (every quarter of lock_stale_hours at most;
    here 0.0004 h: 0.36 s), never after releasing it (a refresh under way does not bring the
    deleted lock back), and never over another run's record."""
    inputs = tmp_path / "inputs"
    (inputs / "r1").mkdir(parents=True)
    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results"), "release": "r1",
                                       "releases": {"input_root": str(inputs), "lock_stale_hours": 0.0004},
                                       "toy_data": None})
    fs = LocalFs()
    with ReleaseLock(cfg, fs) as held:
        first = json.loads(Path(held.path).read_text())
        deadline = time.time() + 30
        while json.loads(Path(held.path).read_text() or "{}").get("refreshed", 0) <= first["refreshed"]:
            assert time.time() < deadline, "the lock was never refreshed"
            time.sleep(0.1)
        while (now := json.loads(Path(held.path).read_text() or "{}")).get("refreshed", 0) - first["started"] < 0.5:
            assert time.time() < deadline, "the lock was not refreshed for half a second"
            time.sleep(0.1)
        assert {k: now[k] for k in ("host", "pid", "process", "started")} == {
            k: first[k] for k in ("host", "pid", "process", "started")}
        # The record the refresher wrote, as another host's run would have written it: fresh by its
        # ``refreshed`` at a stale age its start exceeds (this host's lock is judged by its live pid,
        # whatever the times: that check could not fail with the refresher gone), stale without it.
        # Another host's lock is judged by when its file was last written (session 39: the storage's
        # time, not the holder's clock in the record): the refresh rewrote the file.
        assert os.stat(held.path).st_mtime >= now["refreshed"] - 1
        elsewhere = tmp_path / "elsewhere.lock"
        elsewhere.write_text(json.dumps({**now, "host": "worker-7"}))
        between = (2 * time.time() - now["started"] - now["refreshed"]) / 2 / 3600
        os.utime(elsewhere, (now["refreshed"],) * 2)
        assert not lock_is_stale(fs, str(elsewhere), between)
        os.utime(elsewhere, (now["started"],) * 2)
        assert lock_is_stale(fs, str(elsewhere), between)
    time.sleep(1.0)  # three refresh intervals after the release
    assert not os.path.exists(held.path)
    assert [p.name for p in Path(held.path).parent.iterdir() if p.name.startswith(".lock")] == []

    # Another run's record in the file (taken over): the refresh leaves it as it is.
    other = ReleaseLock(cfg, fs)
    other.acquire()
    theirs = {"host": "worker-7", "pid": 1, "started": time.time(), "refreshed": time.time()}
    Path(other.path).write_text(json.dumps(theirs))
    assert other.refresh() is False
    assert json.loads(Path(other.path).read_text()) == theirs


def test_a_run_whose_lock_was_taken_over_publishes_nothing_and_leaves_the_takers_lock(spark, tmp_path):
    """A run that went unrefreshed for lock_stale_hours (suspended, its storage unreachable) has
    its lock taken over by the next run, which then writes the release too. The first run went on
    publishing its stages over the taker's, and its end deleted the taker's lock (a third run could
    start). Now a stage checks, before its folder is swapped in, that the release's lock still
    holds this run's record (LockedError, exit 6: nothing published), and a run leaves a lock
    holding another run's record in place."""
    from models_sim import make_config

    from trd_spark.layout import Layout, publish_stage
    from trd_spark.schemas import COHORT_FLOW

    cfg = make_config(tmp_path)
    fs, layout = LocalFs(), Layout.of(cfg)
    flow = [("all", 1, "persons with EHR and genomes", 1000)]
    with ReleaseLock(cfg, fs) as held:
        with publish_stage(spark, cfg, "phenotypes") as w:  # still this run's lock: published
            w.write_table("cohort_flow", spark.createDataFrame(flow, COHORT_FLOW.struct), COHORT_FLOW)
        assert layout.is_complete(fs, "phenotypes")
        theirs = {"host": "worker-7", "pid": 1, "started": time.time(), "refreshed": time.time()}
        Path(held.path).write_text(json.dumps(theirs))  # the taker's lock
        before = (Path(layout.stage_dir("phenotypes")) / "_manifest.json").read_text()
        with pytest.raises(LockedError, match="took the lock over from this run") as err:
            with publish_stage(spark, cfg, "phenotypes") as w:
                w.write_table("cohort_flow", spark.createDataFrame(flow, COHORT_FLOW.struct), COHORT_FLOW)
        assert err.value.exit_code == 6
        assert (Path(layout.stage_dir("phenotypes")) / "_manifest.json").read_text() == before  # nothing published
        assert not [p for p in Path(layout.release_dir).iterdir() if ".inprogress-" in p.name]
    assert json.loads(Path(held.path).read_text()) == theirs  # the taker's lock stays
