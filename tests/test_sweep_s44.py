"""Session 44 helper "review": the heartbeat files of ended runs beside a GCS / HDFS release lock are swept.

Session 43 (655acd8) refreshes such a lock through the run's own ``.lock.heartbeat-<digest>``
file; a run killed before its release left it there for good, one per killed run.
"""

from __future__ import annotations

import logging
import os
import time


def test_acquire_sweeps_heartbeats_older_than_the_stale_limit_through_hadoop(spark, tmp_path, caplog):
    """``ReleaseLock.acquire`` on a ``file://`` output root (Hadoop's FileSystem through the JVM,
    as on gs:// / hdfs://) deletes a heartbeat last written more than ``lock_stale_hours`` ago,
    its Hadoop ``.crc`` with it, keeps one written now (a live run's, never deleted) and every
    other file, and says how many it removed. On de435dc nothing was swept (the stale heartbeat
    stayed)."""
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.releases import ReleaseLock

    root = tmp_path / "results"
    cfg = load_config(None, overrides={"output_root": f"file://{root}", "toy_data": None, "release": "r1"})
    fs, folder = Fs(spark), root / "r1"
    old, fresh = ".lock.heartbeat-00000000000000aa", ".lock.heartbeat-00000000000000bb"
    for name in (old, fresh, ".lock.takeover-00000000000000cc", "kept.tsv"):
        fs.write_text(f"file://{folder}/{name}", "{}")
    assert (folder / f".{old}.crc").exists()
    two_days_ago = time.time() - 48 * 3600
    for name in (old, ".lock.takeover-00000000000000cc", "kept.tsv"):
        os.utime(folder / name, (two_days_ago, two_days_ago))
    lock = ReleaseLock(cfg, fs)
    with caplog.at_level(logging.INFO, logger="trd_spark.releases"):
        lock.acquire()
    try:
        assert lock.refresh()  # this run's own heartbeat, written after the sweep
        names = {p.name for p in folder.iterdir() if not p.name.endswith(".crc")}
        assert names == {".lock", fresh, ".lock.takeover-00000000000000cc", "kept.tsv",
                         lock.heartbeat.rpartition("/")[2]}
        assert not (folder / f".{old}.crc").exists()
        said = [r.getMessage() for r in caplog.records if r.name == "trd_spark.releases"]
        assert len(said) == 1 and "removed 1 heartbeat file(s)" in said[0] and str(root) not in said[0], said
    finally:
        lock.release_lock()
    # A second acquire has nothing old to sweep: no line.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trd_spark.releases"):
        lock = ReleaseLock(cfg, fs)
        lock.acquire()
        lock.release_lock()
    assert [r for r in caplog.records if r.name == "trd_spark.releases"] == []
    assert (folder / fresh).exists()
