"""Which run owns a scratch folder: the native engine's PLINK exports under ``pgs.native.export_dir``.

A run killed with SIGKILL (an OOM kill, a preempted VM, ``kill -9``) cannot remove the export it
was writing: every sample's hard calls at the matched rows, gigabytes at All of Us scale, on a
disk other runs share (a gcsfuse mount every executor reads). Each export folder holds an owner
record (``OWNER``: host, pid, the process's identity and the time it started, as the release
lock holds: ``releases.ReleaseLock``), and the next run removes the folders no live run owns
(``remove_abandoned``) before it makes its own; a concurrent run's folder (another release
scored at the same time, on this host or another) is left alone. Another host's run is judged as
its release lock is: by when its record was last written (the file's modification time: the
storage's clock, not the owner's), which the owning run rewrites while the folder exists
(``claim``), not by when it started: a pgs stage longer than
``releases.lock_stale_hours`` (250k samples x 61 scores through Hail can take more than a day)
lost its export to the next run on a shared mount, and failed.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable

from trd_spark.releases import LOCK_REFRESH_SECONDS, owner_text, process_alive, record_is, rewrite_if_held
from trd_spark.releases import process_identity as _process_identity

log = logging.getLogger(__name__)

# The owner record inside a scratch folder ("_": no reader takes it for data).
OWNER = "_owner.json"


def claim(folder: str, refresh_seconds: float = LOCK_REFRESH_SECONDS) -> None:
    """Write ``folder``'s owner record (this host, pid, process identity, time now) and keep
    its ``refreshed`` time current every ``refresh_seconds`` (a daemon thread, as the release
    lock's refresher: ``releases.LOCK_REFRESH_SECONDS``) until ``release(folder)`` stops it (its
    run's removal), the folder is removed (another run judged it abandoned: ``remove_abandoned``)
    or the record is no longer this process's."""
    now = time.time()
    record = {"host": socket.gethostname(), "pid": os.getpid(), "process": _process_identity(os.getpid()),
              "started": now, "refreshed": round(now, 3)}
    _write_record(folder, record)
    stop = threading.Event()
    refresher = threading.Thread(target=_keep_fresh, args=(folder, record, refresh_seconds, stop), daemon=True,
                                 name=f"scratch-refresh-{os.path.basename(folder)}")
    with _CLAIMED_LOCK:
        _CLAIMED[folder] = (stop, refresher)
    refresher.start()


# The folders this process claimed ({folder: (stop flag, refresher)}), until ``release``.
_CLAIMED: dict[str, tuple[threading.Event, threading.Thread]] = {}
_CLAIMED_LOCK = threading.Lock()
# How long ``release`` waits for a refresh under way (one small write) before removing the folder.
_RELEASE_WAIT_SECONDS = 30.0


def release(folder: str) -> None:
    """Remove ``folder`` (made by this run; ``shutil.rmtree``, errors ignored as before) after
    stopping its refresher (``claim``). Removed while the refresher ran, a refresh that wrote its
    record during the removal made the removal fail (a folder not empty) and left the folder
    holding a fresh owner record of a live process: kept by every later run (session 39). First
    waits for this process's background removals (``release_soon``): the pgs stage's scratch
    directory is released last in the stage, so the stage never reports done with one under way."""
    wait_removals()
    _stop_refresher(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _stop_refresher(folder: str) -> None:
    """Stop ``folder``'s refresher (``claim``), waiting for a refresh under way."""
    with _CLAIMED_LOCK:
        claimed = _CLAIMED.pop(folder, None)
    if claimed is not None:
        stop, refresher = claimed
        stop.set()
        if refresher is not threading.current_thread():
            refresher.join(_RELEASE_WAIT_SECONDS)


def release_soon(folder: str) -> None:
    """``release`` with the files removed by a background thread: the refresher stopped, then
    ``folder`` renamed away (one atomic step: its name is free when this returns; a removal a
    killed process left half done is swept by the next run's ``remove_abandoned``, as the name
    holds ``_REMOVING``) and its files removed while the caller goes on. ``wait_removals`` waits
    for every such removal of this process: ``release`` calls it first (the pgs stage's scratch
    directory is released last in the stage: ``stage.stage_scratch``), and so does Python's
    exit. A folder that cannot be renamed is removed here, as ``release`` removes it. Why: the
    native pass's directory (110 MB of tmpfs at 200k rows x 61 scores) took 17-20 ms of kernel
    CPU to remove on the score phase's serial path, after the tasks, while the driver's score
    rows, check and write hold one core and the other is idle (issue 16, benchmarks/RESULTS.md
    session 41 flat)."""
    _stop_refresher(folder)
    gone = f"{folder}{_REMOVING}{os.getpid()}"
    try:
        os.rename(folder, gone)
    except FileNotFoundError:  # removed already
        return
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return
    remover = threading.Thread(target=shutil.rmtree, args=(gone,), kwargs={"ignore_errors": True}, daemon=True,
                               name=f"scratch-remove-{os.path.basename(folder)}")
    with _CLAIMED_LOCK:
        _REMOVALS.append(remover)
        # Python's exit waits too. Registered here, not at import: a top-level call would make the
        # module more than definitions, and provenance would then digest this run-control module
        # whole into pgs (tests/test_rerun_s39.py). Unregister first: one registration at most.
        atexit.unregister(wait_removals)
        atexit.register(wait_removals)
    remover.start()


def wait_removals() -> None:
    """Wait for this process's removals under way (``release_soon``)."""
    with _CLAIMED_LOCK:
        pending = list(_REMOVALS)
        _REMOVALS.clear()
    for remover in pending:
        remover.join()


# The removals ``release_soon`` started and nobody waited for yet.
_REMOVALS: list[threading.Thread] = []


def _write_record(folder: str, record: dict) -> None:
    """Write the owner record whole (a temporary file renamed over it: a reader never sees half), at
    the length every refresh writes (``releases.owner_text``)."""
    tmp = os.path.join(folder, f"{OWNER}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(owner_text(record, record["refreshed"]))
    os.replace(tmp, os.path.join(folder, OWNER))


def _keep_fresh(folder: str, record: dict, refresh_seconds: float, stop: threading.Event | None = None) -> None:
    """``claim``'s refresher: rewrite ``record`` with ``refreshed`` now every ``refresh_seconds``
    while ``folder`` holds this process's record (same host, pid, process identity and start, as
    ``releases.ReleaseLock.holds`` judges its lock: a pid alone is another host's run, or a later
    process that reused the pid: ``_refresh``), until ``stop`` is set (``release``); a record or
    folder gone (removed by another run that judged it abandoned) ends it with a WARNING."""
    stop = stop or threading.Event()
    while not stop.wait(refresh_seconds):
        try:
            if not _refresh(folder, record):
                return
        except FileNotFoundError:
            if not stop.is_set():
                log.warning("pgs: scratch folder %s or its owner record was removed while this run used it (another "
                            "run judged it abandoned: not refreshed for releases.lock_stale_hours?)", folder)
            return
        except (OSError, ValueError):  # unreadable or unwritable: no longer ours to keep
            return


def _refresh(folder: str, record: dict) -> bool:
    """Rewrite ``folder``'s owner record with ``refreshed`` now only while it is ``record``'s run's
    (``releases.record_is``); False when it is another's (left as it is). A read, a check and a
    replace wrote this run's record over one that another run wrote between the read and the
    write. The release lock's refresh does it (``releases.rewrite_if_held``: checked and rewritten
    through one open file, so a record written meanwhile, a new file, is kept, and the record is
    never away: session 39 renamed it away for the check, and a reader found none meanwhile).
    Raises FileNotFoundError when the record or the folder is gone."""
    return rewrite_if_held(os.path.join(folder, OWNER), lambda held: record_is(held, record),
                           owner_text(record, time.time()))


def abandoned(folder: str, stale_hours: float | None, unclaimed: Callable[[str], bool] | None = None) -> bool:
    """Whether no live run owns ``folder`` (made by ``claim``): on this host, its process is
    gone (or its pid now names another process: ``_process_identity``); on another host (a
    shared mount), its record was last written (its run rewrites it: ``claim``) more than
    ``stale_hours`` ago by the file's modification time, as the release lock is judged
    (``releases.lock_is_stale``: the storage's time of the write, not the ``refreshed`` the
    record holds, which is the owner's clock; ``releases.lock_stale_hours``; no process of
    another host can be asked; None: never). A folder without a record (an older version's, or
    one whose run was killed before writing it) is ``unclaimed(folder)`` when given, else judged
    by its own age, so a run that has just made its folder and not yet claimed it keeps it. A
    record that is there but is no owner record when read twice (damaged) is judged by its age
    (``stale_hours``): before session 40 it went to ``unclaimed``, whose rule (a pid in the
    folder's name) is this host's, and another host's live folder on a shared mount was judged by
    an unrelated local pid."""
    record = os.path.join(folder, OWNER)
    held: dict = {}
    host, pid, damaged = "", -1, False
    for _ in range(2):  # read again once: a read beside a refresh is no reason to judge
        try:
            with open(record) as f:
                held = json.load(f)
            host, pid, damaged = str(held["host"]), int(held["pid"]), False
            break
        except FileNotFoundError:  # none (or its folder removed meanwhile)
            damaged = False
            break
        except (OSError, ValueError, KeyError, TypeError):  # there but unreadable, or no owner record
            damaged = True
    if host and host == socket.gethostname():
        identity = held.get("process")
        return not process_alive(pid) or (identity is not None and _process_identity(pid) != identity)
    if not host and not damaged and unclaimed is not None:
        return unclaimed(folder)
    if stale_hours is None:
        return False
    try:
        written = os.stat(record if os.path.exists(record) else folder).st_mtime
    except FileNotFoundError:  # removed meanwhile (its run ended)
        return False
    return time.time() - written > stale_hours * 3600


def remove_abandoned(base: str, prefix: str, stale_hours: float | None,
                     unclaimed: Callable[[str], bool] | None = None) -> list[str]:
    """Remove the folders named ``prefix*`` directly under ``base`` that no live run owns
    (``abandoned``); their names, each logged. Nothing else under ``base`` is touched."""
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        folder = os.path.join(base, name)
        if not (name.startswith(prefix) and os.path.isdir(folder)):
            continue
        if _REMOVING in name:  # judged abandoned by a run whose removal did not finish: removed again
            shutil.rmtree(folder, ignore_errors=True)
        elif abandoned(folder, stale_hours, unclaimed):
            log.info("pgs: removing scratch folder %s, left by a run that is no longer running", folder)
            # Renamed away first (one atomic step), then removed: a write of its owner's refresher
            # (a run judged abandoned that is alive after all) lands in the renamed folder or fails
            # (the owner sees it gone); removed in place, the write could land in the half-removed
            # folder and leave it under its name, holding a fresh owner record and no export.
            gone = os.path.join(base, f"{name}{_REMOVING}{os.getpid()}")
            try:
                os.rename(folder, gone)
            except FileNotFoundError:  # removed meanwhile by its own run or another sweep
                continue
            shutil.rmtree(gone, ignore_errors=True)
            removed.append(name)
    return removed


# A swept folder's name while it is removed (``remove_abandoned``): one a removal left half done is
# swept again whatever it holds.
_REMOVING = ".removing-"
