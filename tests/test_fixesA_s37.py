"""Session 37 reader findings on the release lock and the worker daemon (helper "fixesA")."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import cast

import pytest

from trd_spark import releases
from trd_spark.config import load_config
from trd_spark.errors import LockedError
from trd_spark.releases import LocalFs, ReleaseLock, check_still_held


class FlakyFs(LocalFs):
    """A LocalFs whose reads of a ``.lock`` raise (a GCS/HDFS hiccup): ``failures`` times (-1:
    always), in the threads whose name starts with ``thread`` ("" = any)."""

    def __init__(self, failures: int = 0, thread: str = ""):
        self.failures, self.thread = failures, thread

    def read_text(self, path):
        if (path.endswith(".lock") and self.failures and threading.current_thread().name.startswith(self.thread)):
            self.failures -= 1 if self.failures > 0 else 0
            raise OSError("transient storage hiccup")
        return super().read_text(path)


def _cfg(tmp_path, stale_hours):
    (tmp_path / "inputs" / "r1").mkdir(parents=True)
    return load_config(None, overrides={"output_root": str(tmp_path / "results"), "release": "r1",
                                        "releases": {"input_root": str(tmp_path / "inputs"),
                                                     "lock_stale_hours": stale_hours}, "toy_data": None})


def _refreshed(path):
    try:
        return json.loads(Path(path).read_text())["refreshed"]
    except (ValueError, KeyError):  # read while being replaced
        return 0.0


def test_the_refresher_goes_on_after_a_failed_read_with_a_counted_warning(tmp_path, caplog):
    """``refresh`` took a read that raised (a storage hiccup) for "another run's record" and the
    refresher thread ended for good: after lock_stale_hours another host's run took the live run's
    lock over and both wrote the release (the reader's lock1.py: "refreshed advanced after one read
    failure: False  thread alive: False"). Now the failed read is tried again at the next interval,
    with a WARNING counting the failures in a row."""
    cfg = _cfg(tmp_path, 0.0004)  # refreshed every 0.36 s
    fs = FlakyFs(failures=1, thread="release-lock")
    with caplog.at_level(logging.WARNING, logger="trd_spark.releases"):
        with ReleaseLock(cfg, fs) as held:
            first = _refreshed(held.path)
            deadline = time.time() + 30
            while fs.failures or _refreshed(held.path) <= first:
                assert time.time() < deadline, "the lock was never refreshed after the failed read"
                time.sleep(0.1)
            assert held._refresher is not None and held._refresher.is_alive()
    assert not Path(held.path).exists()
    said = [r.getMessage() for r in caplog.records]
    assert any("could not be refreshed (1 failure(s) in a row" in m and "transient storage hiccup" in m for m in said)
    assert not any("no longer holds this run's record" in m for m in said)


def test_a_read_hiccup_neither_stops_a_live_run_nor_leaves_its_lock(tmp_path, monkeypatch):
    """``check_still_held`` (before a stage publishes) and the release of the lock read the lock
    once: one failed read was exit 6 for a live run, and left its own lock behind (the next runs
    stopped for lock_stale_hours). The read is now tried again; a lock unreadable every time is
    still this run's while it refreshed it less than lock_stale_hours ago."""
    monkeypatch.setattr(releases, "LOCK_READ_PAUSE_SECONDS", 0.01, raising=False)
    cfg = _cfg(tmp_path, 1.0)
    fs = FlakyFs(thread="MainThread")
    with ReleaseLock(cfg, fs) as held:
        fs.failures = 1
        check_still_held(str(Path(held.path).parent))  # one hiccup: read again, this run's
        assert fs.failures == 0
        fs.failures = -1
        check_still_held(str(Path(held.path).parent))  # unreadable, but refreshed within the hour
        fs.failures = 1
    assert not Path(held.path).exists()
    with ReleaseLock(cfg, fs) as held:
        fs.failures = -1
    assert not Path(held.path).exists()


def test_an_unreadable_lock_unrefreshed_for_the_stale_age_is_not_published_over_nor_removed(tmp_path, monkeypatch):
    """The other side of the rule above: a run whose lock could not be read nor refreshed for
    lock_stale_hours may have lost it to another run, so it publishes nothing (exit 6) and leaves
    the file."""
    monkeypatch.setattr(releases, "LOCK_READ_PAUSE_SECONDS", 0.01, raising=False)
    cfg = _cfg(tmp_path, 0.0002)  # 0.72 s
    fs = FlakyFs()
    with ReleaseLock(cfg, fs) as held:
        fs.failures = -1
        time.sleep(1.0)
        with pytest.raises(LockedError, match="could not be read after 3 tries") as err:
            check_still_held(str(Path(held.path).parent))
        assert err.value.exit_code == 6
    assert Path(held.path).exists()


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")
def test_acked_reads_return_first_what_infile_had_buffered():
    """``AckedReads`` read the socket's raw file, skipping what pyspark's buffered ``infile`` had
    already buffered (the daemon reads a new worker's auth secret through ``infile``; the bytes
    after it in the same read were lost, or the task read from the middle of its stream). It
    reads through ``infile`` now: its buffer first, then the socket."""
    from test_flatbed_s37 import _pair as loopback_pair  # the same loopback TCP pair

    from trd_spark.worker_daemon import acked_reader

    sender, receiver = loopback_pair()
    try:
        sender.sendall(b"SECRET" + b"the task's first bytes")
        infile = cast(io.BufferedReader, os.fdopen(os.dup(receiver.fileno()), "rb", 65536))
        assert infile.read(6) == b"SECRET"  # one read of the socket: the rest is in infile's buffer
        acked = acked_reader(infile, 65536)
        assert acked is not None
        reader, sock = acked
        sender.sendall(b" and the rest")
        sender.shutdown(socket.SHUT_WR)
        assert reader.read() == b"the task's first bytes and the rest"
        sock.detach()
        reader.detach()
        infile.close()
    finally:
        sender.close()
        receiver.close()


def test_the_refresh_interval_is_the_config_key_lock_refresh_minutes(tmp_path):
    """How often a run refreshes its lock was a module constant (``LOCK_REFRESH_SECONDS``, which
    README named as if it were a config key): it is ``releases.lock_refresh_minutes`` now (default
    10; at most a quarter of ``lock_stale_hours``)."""
    (tmp_path / "inputs" / "r1").mkdir(parents=True)
    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results"), "release": "r1",
                                       "releases": {"input_root": str(tmp_path / "inputs"),
                                                    "lock_refresh_minutes": 0.005}, "toy_data": None})
    assert load_config(None, overrides={"toy_data": None}).releases.lock_refresh_minutes == 10
    with ReleaseLock(cfg, LocalFs()) as held:
        assert held.refresh_seconds == pytest.approx(0.3)
        first = _refreshed(held.path)
        deadline = time.time() + 30
        while _refreshed(held.path) <= first:
            assert time.time() < deadline, "the lock was never refreshed"
            time.sleep(0.1)
