"""Stale or needless reruns and run control, round 30 (session 40, helper "rerun30").

The release lock's and the pgs scratch records' refresh renamed the record away, checked it and
created it again exclusively (session 39): while it was away a run starting on the release found
no lock and took it, and the live run stopped at its next publish (exit 6); a reader of a scratch
record found none. Both refreshes are one helper now (``releases.rewrite_if_held``): checked and
rewritten through one open file, never away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# How long each two-process race below runs once the other process is ready (s): on 958d6e4 the
# starter took the lock within a few ms, the reader missed the record within a few ms.
_RACE_SECONDS = 2.0


def _other_process(code: str, *args: str) -> subprocess.Popen:
    """``code`` run by this interpreter in another process (the package importable), stdout piped."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=root)


def _ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.strip() == "READY", f"the other process did not start: {line!r} (exit {proc.poll()})"


def test_a_run_starting_while_the_lock_is_refreshed_never_takes_it(tmp_path):
    """Two real processes: this one holds release r1's lock and refreshes it without pause; the
    other starts runs on r1 (``ReleaseLock.acquire``) without pause. Every start is refused (the
    lock is there throughout) and every refresh keeps this run's record. On 958d6e4 a start landing
    while the refresh had the lock renamed away created its own: "TOOK", and the refresh said
    False (this run would stop at its next publish, exit 6)."""
    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs, ReleaseLock

    overrides = {"output_root": str(tmp_path / "results"), "toy_data": None, "release": "r1"}
    lock = ReleaseLock(load_config(None, overrides=overrides), LocalFs())
    lock.acquire()
    starter = _other_process("""
        import json, sys, time
        from trd_spark.config import load_config
        from trd_spark.errors import LockedError
        from trd_spark.releases import LocalFs, ReleaseLock
        cfg = load_config(None, overrides=json.loads(sys.argv[1]))
        print("READY", flush=True)
        refused, end = 0, time.time() + float(sys.argv[2])
        while time.time() < end:
            try:
                ReleaseLock(cfg, LocalFs()).acquire()
            except LockedError:
                refused += 1
                continue
            print("TOOK", refused, flush=True)
            break
        else:
            print("REFUSED", refused, flush=True)
    """, json.dumps(overrides), str(_RACE_SECONDS))
    try:
        _ready(starter)
        refreshed = []
        while starter.poll() is None:
            refreshed.append(lock.refresh())
        said = starter.stdout.read().split() if starter.stdout else []
    finally:
        starter.kill()
        starter.wait()
    assert said[:1] == ["REFUSED"] and int(said[1]) > 0, said
    assert refreshed and all(refreshed), f"{refreshed.count(False)} of {len(refreshed)} refreshes lost the lock"
    assert json.loads(Path(lock.path).read_text())["started"] == lock.owner["started"]
    assert sorted(p.name for p in Path(lock.path).parent.iterdir()) == [".lock"]


def test_a_scratch_owner_record_is_always_there_whole_while_it_is_refreshed(tmp_path):
    """Two real processes: this one refreshes a pgs scratch folder's owner record without pause
    (``scratch._refresh``, the refresher's step), the other reads it without pause: every read
    finds the record whole (on 958d6e4 it was renamed away for each refresh: FileNotFoundError),
    and the record stays this run's."""
    from trd_spark.pgs import scratch
    from trd_spark.releases import process_identity

    now = time.time()
    record = {"host": "this-host", "pid": os.getpid(), "process": process_identity(os.getpid()), "started": now,
              "refreshed": now}
    (tmp_path / scratch.OWNER).write_text(json.dumps(record))
    reader = _other_process("""
        import json, sys, time
        path, end = sys.argv[1], None
        print("READY", flush=True)
        reads, missing, cut = 0, 0, 0
        end = time.time() + float(sys.argv[2])
        while time.time() < end:
            reads += 1
            try:
                with open(path) as f:
                    json.load(f)
            except FileNotFoundError:
                missing += 1
            except ValueError:
                cut += 1
        print(reads, missing, cut, flush=True)
    """, str(tmp_path / scratch.OWNER), str(_RACE_SECONDS))
    try:
        _ready(reader)
        refreshed = []
        while reader.poll() is None:
            refreshed.append(scratch._refresh(str(tmp_path), record))  # noqa: SLF001
        reads, missing, cut = map(int, reader.stdout.read().split()) if reader.stdout else (0, -1, -1)
    finally:
        reader.kill()
        reader.wait()
    assert reads > 0 and (missing, cut) == (0, 0), f"{missing} reads found no record, {cut} a cut one, of {reads}"
    assert refreshed and all(refreshed)
    held = json.loads((tmp_path / scratch.OWNER).read_text())
    assert {k: held[k] for k in ("host", "pid", "started")} == {k: record[k] for k in ("host", "pid", "started")}
    assert held["refreshed"] > now
    assert sorted(p.name for p in tmp_path.iterdir()) == [scratch.OWNER]
