"""Session 36 mends (helper mends1, found by helper rerun26): a live run's release lock taken
over by age, and ``dosage_field`` on a genotype format that holds no such field.

No Spark: the lock is a file, the config a pydantic model; ``check-config`` runs in process
(it starts no Spark session).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import LockedError
from trd_spark.releases import LocalFs, ReleaseLock, lock_is_stale, process_identity, release_status


@pytest.fixture
def cfg(tmp_path):
    return load_config(None, overrides={"output_root": str(tmp_path / "results")})


def _write_lock(cfg, held: dict) -> str:
    path = ReleaseLock(cfg, LocalFs()).path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Path(path).write_text(json.dumps(held))
    return path


def test_a_live_run_of_this_host_keeps_its_lock_whatever_its_age(cfg, caplog):
    """The lock's age was checked before its pid: a run of this host older than
    ``releases.lock_stale_hours`` (24 h; a pgs stage of 250k samples x 61 scores through Hail can
    take longer) lost its lock to the next scheduled run, and both wrote the same release:
    outputs that look complete but mix two runs. Now a live process of this host (the same
    process: its identity in the lock) is never stale; its lock is refused with exit 6's
    LockedError naming it. A dead pid, or a pid now naming another process, is taken over as
    before; another host's lock still goes stale by age."""
    fs = LocalFs()
    here, day = socket.gethostname(), cfg.releases.lock_stale_hours * 3600
    old = time.time() - 2 * day
    # A run of this process, started two days ago: alive, with and without its identity recorded.
    for held in ({"host": here, "pid": os.getpid(), "process": process_identity(os.getpid()), "started": old},
                 {"host": here, "pid": os.getpid(), "started": old}):
        path = _write_lock(cfg, held)
        assert not lock_is_stale(fs, path, cfg.releases.lock_stale_hours)
        assert release_status(cfg, fs, cfg.release).state == "running"
        with pytest.raises(LockedError) as err:
            ReleaseLock(cfg, fs).acquire()
        text = str(err.value)
        assert f"held by pid {os.getpid()} on host {here}" in text and "48h00m ago" in text, text
        assert "wait for it to end: its process is alive on this host, so its lock is kept whatever its age" in text, text
        assert json.loads(Path(path).read_text()) == held  # not taken over
    assert "stale lock" not in caplog.text

    # Killed runs' locks are taken over: a dead pid of this host (recent or old), this pid
    # recorded with another process's identity (the pid reused), another host's old lock.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for held in ({"host": here, "pid": dead.pid, "started": time.time()},
                 {"host": here, "pid": dead.pid, "started": old},
                 {"host": here, "pid": os.getpid(), "process": "another-boot:1", "started": time.time()},
                 {"host": "elsewhere", "pid": os.getpid(), "started": old}):
        path = _write_lock(cfg, held)
        with ReleaseLock(cfg, fs) as lock:
            assert json.loads(Path(path).read_text()) == lock.owner, held
            assert lock.owner["process"] == process_identity(os.getpid())
    assert caplog.text.count("taking over a stale lock") == 4
    # Another host's recent lock is respected (its process cannot be asked).
    _write_lock(cfg, {"host": "elsewhere", "pid": 1, "started": time.time() - 60})
    with pytest.raises(LockedError):
        ReleaseLock(cfg, fs).acquire()
