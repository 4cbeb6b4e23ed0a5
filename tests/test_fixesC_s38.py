"""Session 38 fixesC: the pgs scratch folder's owner-record refresher (``pgs.scratch._keep_fresh``)
rewrites the record only while it is this run's by host, pid, process identity and start, as
``releases.ReleaseLock.holds`` judges its lock (reader finding 7: it compared the pid alone, so
another host's run, or a later process with the same pid, lost its record to this run's).

The refresher runs in a thread of its own here, on a record already another run's before its first
read: no race with a refresh under way (the read-check-write itself is not atomic)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest
from test_latest_s37 import _owner_record

from trd_spark.pgs import scratch
from trd_spark.releases import process_identity


@pytest.mark.parametrize("change", [{"host": "another-host"}, {"started": 1.0}, {"process": "another-process"}])
def test_refresher_leaves_a_record_with_its_pid_but_another_run(tmp_path, change):
    now = time.time()
    ours = {"host": socket.gethostname(), "pid": os.getpid(), "process": process_identity(os.getpid()),
            "started": now, "refreshed": now}
    other = {**ours, **change, "refreshed": now - 60}
    (tmp_path / scratch.OWNER).write_text(json.dumps(other))
    refresher = threading.Thread(target=scratch._keep_fresh, args=(str(tmp_path), ours, 0.01), daemon=True)
    refresher.start()
    refresher.join(10)
    assert not refresher.is_alive(), "the refresher went on over another run's record"
    assert json.loads((tmp_path / scratch.OWNER).read_text()) == other


def test_refresher_keeps_its_own_record_fresh(tmp_path):
    """The same record (only ``refreshed`` older) is this run's: refreshed, and the refresher ends
    when the folder goes."""
    now = time.time()
    ours = {"host": socket.gethostname(), "pid": os.getpid(), "process": process_identity(os.getpid()),
            "started": now, "refreshed": now}
    folder = tmp_path / "pgs_export_1"
    folder.mkdir()
    (folder / scratch.OWNER).write_text(json.dumps({**ours, "refreshed": now - 60}))
    refresher = threading.Thread(target=scratch._keep_fresh, args=(str(folder), ours, 0.01), daemon=True)
    refresher.start()
    deadline = time.time() + 10
    while _owner_record(folder)["refreshed"] < now:
        assert time.time() < deadline, "not refreshed"
        time.sleep(0.01)
    while folder.exists():  # a refresh may write its temporary file while the folder goes
        shutil.rmtree(folder, ignore_errors=True)
    refresher.join(10)
    assert not refresher.is_alive()
