"""Data releases and scheduled reruns: which releases exist, which are done, and the lock.

A release is a sub-directory of ``releases.input_root`` (input paths name it with the
``{release}`` placeholder); toy configs also know the releases listed under
``toy_data.releases`` (generated on first run). Its outputs live under
``{output_root}/{release}/``; a release is *complete* when every stage and the export have a
success marker and none is *stale* (computed from an upstream output that has since been
republished: an interrupted rerun, ``stale_outputs``).

Lock: ``{output_root}/{release}/.lock`` is created atomically (``O_EXCL`` locally,
create-without-overwrite on HDFS/GCS) and holds host, pid and start time. A second run on the
same release raises ``LockedError`` (exit 6). A lock is *stale* (left by a killed run) when it
names this host and a process that no longer exists (or whose pid now names another process:
``process_identity``), or names another host (or cannot be read: a run killed while writing it)
and the file was last written more than ``releases.lock_stale_hours`` ago by the storage's
modification time: a run rewrites its lock every ``releases.lock_refresh_minutes`` while it holds
it, so a live run of any host keeps its lock whatever its age (a pgs stage at All of Us scale can
run longer than a day). The ``refreshed`` time in the record is the holder's clock and judges
nothing (session 39: a holder whose clock ran hours slow had its live lock taken over; one whose
clock ran fast left a dead lock that looked live). A run's own lock that cannot be
read (a storage hiccup) is read again and is still its run's while that run refreshed it less than
``lock_stale_hours`` ago (``ReleaseLock.holds``). A stale lock is taken over with a warning. Remove it
by hand only when sure no run is alive. SIGTERM / SIGINT release the lock (trd_spark.cli).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from trd_spark.config import Config, ReleaseSettings, is_uri, local_path
from trd_spark.errors import ConfigError, InputDataError, LockedError, NothingToDo, TrdSparkError
from trd_spark.io import Fs
from trd_spark.io import LocalFs as LocalFs  # re-exported: the CLI and tests take it from here
from trd_spark.layout import EXPORT, MANIFEST, STAGES, SUCCESS, changed_outputs, made_by_same_run

log = logging.getLogger(__name__)

LOCK = ".lock"
# A run rewrites its lock's ``refreshed`` time every ``releases.lock_refresh_minutes`` while it
# holds it (at most: a quarter of ``releases.lock_stale_hours`` when that is shorter). Another
# host's lock is judged by that time, not by when its run started: a run on another host (a YARN
# cluster-mode driver, another Airflow worker) whose pgs stage ran longer than lock_stale_hours
# lost its lock to the next scheduled run, and both wrote the release. One small write per
# interval, which sets the file's modification time: that time, kept by the storage (GCS, the
# HDFS namenode, an NFS server), is what another host judges (``lock_is_stale``), as
# proper-lockfile judges its lock by the mtime it keeps updating; the holder's own clock (the
# record's ``refreshed``) made a live lock look stale on a host whose clock ran slow.
# This is the key's default in seconds, for the owner records written where no config reaches
# (``pgs.scratch``).
LOCK_REFRESH_SECONDS = ReleaseSettings.model_fields["lock_refresh_minutes"].default * 60
# Before a stage publishes and before a run removes its lock, a lock that cannot be read is read
# again this many times, this far apart: one storage hiccup made a live run exit 6, or leave its
# own lock behind (session 37 reader).
LOCK_READ_TRIES = 3
LOCK_READ_PAUSE_SECONDS = 1.0
_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# ``--release latest`` names no release but picks one (``latest_incomplete``): no release may be called so
# (``config.Config.release`` refuses it).
LATEST = "latest"


class FsLike(Protocol):
    """The file operations release handling needs (local files or Hadoop FS)."""
    def exists(self, path: str) -> bool: ...
    def listdirs(self, path: str) -> list[str]: ...
    def read_text(self, path: str) -> str: ...
    def delete(self, path: str) -> None: ...
    def create_new(self, path: str, text: str) -> bool: ...
    def mtime(self, path: str) -> float: ...
    def read_bytes(self, path: str) -> bytes: ...
    def list_files(self, path: str) -> dict[str, int]: ...
    def write_text(self, path: str, text: str) -> None: ...


# The fields that tell one run's owner record from another's (the release lock's, a pgs scratch
# folder's: ``pgs.scratch``); ``refreshed`` changes with every refresh.
OWNER_KEYS = ("host", "pid", "process", "started")


def same_owner(held: object, owner: dict) -> bool:
    """Whether ``held`` (a parsed owner record) is ``owner``'s run's: a dict equal to it in every
    ``OWNER_KEYS`` field. The one rule of ``ReleaseLock.holds``, the lock's refresh and the pgs
    scratch records' refresh."""
    return isinstance(held, dict) and all(held.get(k) == owner.get(k) for k in OWNER_KEYS)


def record_is(held_bytes: bytes, owner: dict) -> bool:
    """Whether ``held_bytes`` (a record file's) parse to ``owner``'s run's record (``same_owner``);
    False for bytes that are no JSON."""
    try:
        return same_owner(json.loads(held_bytes), owner)
    except ValueError:
        return False


def owner_text(owner: dict, refreshed: float) -> str:
    """The JSON text of owner record ``owner`` with ``refreshed`` (seconds since the epoch) written
    last, to the millisecond, always with three decimals (``1765000200.100``): every record of one
    run then has the same length, so rewritten in place (``rewrite_if_held``) a read beside the
    write finds at worst the digits of two times mixed, still a record. Written by ``json.dumps``,
    ``1765000200.1`` and ``1765000200.123`` differ in length: the closing brace moved, and a read
    seeing the new start and the old end found no JSON (session 40 reader: 8 of 448 tear points)."""
    head = json.dumps({k: v for k, v in owner.items() if k != "refreshed"})
    return f'{head[:-1]}{", " if len(head) > 2 else ""}"refreshed": {refreshed:.3f}}}'


def needs_spark_fs(cfg: Config) -> bool:
    """True when the output or input root is a URI (gs://, hdfs://): use Hadoop's FileSystem."""
    return is_uri(cfg.output_root) or bool(cfg.releases.input_root and is_uri(cfg.releases.input_root))


def needs_spark_to_plan(cfg: Config, stages: list[str] | None = None) -> bool:
    """True when deciding whether ``stages`` (default: all) are up to date needs Hadoop's file
    system: a ``gs://`` / ``hdfs://`` output or input root (``releases.needs_spark_fs``), or an
    external input of one of them on an object store (fingerprinted by its size and mtime
    through ``io.Fs``). Local outputs and inputs are fingerprinted with ``os``. Here, not in
    ``pipeline``: compare-releases (the report package, below the runners) asks it too."""
    from trd_spark.stages import STAGE_SPECS  # stages' module-level import of releases' users: keep it local

    todo = [s for s in STAGES if stages is None or s in stages]
    return needs_spark_fs(cfg) or any(local_path(path) is None
                                      for s in todo for _, path in STAGE_SPECS[s].external(cfg))


def lock_is_local(cfg: Config) -> bool:
    """True when the release lock (under ``output_root``) is a local file: the run takes it
    through ``LocalFs`` before its Spark session starts, whatever the input root (an input root
    on gs:// needs Spark for the inputs, not for the lock: ``ReleaseLock`` reads and writes a
    local lock as local files anyway). Before session 41 such a run took it after Spark started:
    a run on a locked release paid for a JVM start before its exit 6."""
    return not is_uri(cfg.output_root)


def natural_key(name: str) -> list:
    """Sort key treating digit runs as numbers: r2 < r10, C2022Q4R9 < C2024Q3R5."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def found_releases(cfg: Config, fs: FsLike) -> list[str]:
    """Release names under ``releases.input_root`` plus the toy releases, oldest first.

    A toy config that lists its releases (``toy_data.releases``) has those only: another
    directory under ``input_root`` (e.g. one generated by a mistyped ``--release`` before that
    was a ConfigError, session 13) is logged and left out, so ``--release latest`` never picks it.
    With ``releases.ready_marker`` set, a folder without that file (a release still being copied
    in) is left out with one WARNING naming it (``not_ready``). ConfigError (exit 2) when nothing is
    found and ``input_root`` does not exist (a typo, a bucket not mounted), rather than "nothing to do".
    """
    names: set[str] = set()
    root = cfg.releases.input_root
    if root:
        names |= {n for n in fs.listdirs(root) if _RELEASE_NAME.match(n) and not n.startswith(".")}
        if cfg.toy_data is None or not cfg.toy_data.releases:  # toy releases are generated whole
            names -= not_ready(cfg, fs, names)
    if cfg.toy_data is not None and cfg.toy_data.releases:
        if stray := sorted(names - set(cfg.toy_data.releases), key=natural_key):
            log.warning("%s: %s not under toy_data.releases, so no release of this config (left out)",
                        root, ", ".join(stray))
        names = set(cfg.toy_data.releases)
    if LATEST in names:  # `--release latest` picks a release: one of that name could never be run
        log.warning("%s: a release named %r cannot be run (`--release %s` picks the newest incomplete or out-of-date "
                    "release): left out; rename it", root, LATEST, LATEST)
        names.discard(LATEST)
    if not names:
        check_release_root(cfg)
        if root and not fs.exists(root):
            # A typo'd or unmounted root listed nothing: exit 7 ("nothing to do", a success to the
            # README's cron and Airflow recipes) every night, and `releases` an empty table with exit 0.
            raise ConfigError(f"releases.input_root: {root} does not exist, so no release can be listed or run "
                              "(a typo, or a bucket or mount not there?); an existing folder without a release in "
                              "it is nothing to do (exit 7)", where=cfg.source_path)
    return sorted(names, key=natural_key)


def not_ready(cfg: Config, fs: FsLike, names: set[str]) -> set[str]:
    """The release folders of ``names`` under ``releases.input_root`` without the file
    ``releases.ready_marker`` (none when it is not set), with one WARNING naming them: a folder
    still being copied in (a part file of an OMOP table not there yet) read by a scheduled
    ``--release latest`` published wrong statuses (session 47's release trial, finding 7: the
    shrink WARNING comes after the run). An explicitly named ``--release`` is not checked."""
    marker = cfg.releases.ready_marker
    if not marker or not names:
        return set()
    root = str(cfg.releases.input_root).rstrip("/")
    missing = {n for n in names if not fs.exists(f"{root}/{n}/{marker}")}
    if missing:
        log.warning("%s: %s without releases.ready_marker %s (still being copied in?): not a release for "
                    "`trd-spark releases` and `--release latest` until it is written",
                    root, ", ".join(sorted(missing, key=natural_key)), marker)
    return missing


def check_release_root(cfg: Config) -> None:
    """Raise ConfigError (exit 2) when ``cfg`` has no ``releases.input_root`` and no
    ``toy_data.releases``: there is nothing to list or to pick ``--release latest`` from.
    Needs no file system: the CLI calls it before it starts Spark for a gs:// output root."""
    if not cfg.releases.input_root and not (cfg.toy_data is not None and cfg.toy_data.releases):
        raise ConfigError("releases.input_root is not set (and no toy_data.releases): cannot list releases "
                          "or pick --release latest; set it to the directory whose sub-directories are the "
                          "releases (README 'Data releases and scheduled reruns')" + _toy_releases_hint(cfg),
                          where=cfg.source_path)


def _toy_releases_hint(cfg: Config) -> str:
    """For a toy config without releases (the embedded default ``conf/toy.yaml``, what
    ``trd-spark releases`` reads without ``--config``): the ``--config`` of the toy releases
    demo, ``toy_releases.yaml`` beside it, as a path from the working directory when under it.
    The error named only README's section: a new user right after the quick start was not told
    that a shipped toy config lists releases (new-user trials, sessions 50 and 51). '' for other
    configs and when there is no such file."""
    if cfg.toy_data is None or not cfg.source_path:
        return ""
    demo = os.path.join(os.path.dirname(str(cfg.source_path)), "toy_releases.yaml")
    if not os.path.isfile(demo) or os.path.realpath(demo) == os.path.realpath(str(cfg.source_path)):
        return ""
    relative = os.path.relpath(demo)
    return f"; the toy data as two releases: --config {demo if relative.startswith('..') else relative}"


@dataclass(frozen=True)
class ReleaseStatus:
    """One release's state: its complete stages, those of them that are stale (see
    ``stale_outputs``) and whether a run holds its lock. ``outdated`` ({stage: reasons}) and
    ``unjudged`` (why that could not be decided) are filled for a complete release judged with
    its own config (``judged``): the stages ``run`` would rerun, as ``--release latest`` decides."""
    release: str
    complete_stages: tuple[str, ...]
    locked: bool
    stale_stages: tuple[str, ...] = ()
    outdated: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unjudged: str | None = None

    @property
    def complete(self) -> bool:
        return set(self.complete_stages) >= {*STAGES, EXPORT} and not self.stale_stages

    @property
    def state(self) -> str:
        if self.locked:
            return "running"
        if self.complete:
            return "outdated" if self.outdated else "complete"
        if self.stale_stages:
            return "stale"
        return "partial" if self.complete_stages else "not run"


def stale_outputs(fs: FsLike, base: str, done: tuple[str, ...]) -> tuple[str, ...]:
    """The published outputs of release directory ``base`` (among ``done``, in run order)
    that were computed from an upstream output other than the one published now: a stage's
    manifest records the run id of each upstream output it read (``stages.fingerprint_parts``),
    and a rerun that republished an upstream stage but stopped before its downstream ones
    (killed, failed, ``trd-spark cohort`` alone) leaves them stale, each with its own
    ``_SUCCESS``; ``export/`` is stale when another report run wrote it. An output deleted or
    edited since it was published (``layout.changed_outputs``) is stale too, so a scheduled
    ``--release latest`` reruns it. Downstream of a stale output is stale too. An output
    without a readable manifest is taken as it is (nothing to compare)."""
    manifests: dict[str, dict] = {}
    for out in done:
        try:
            manifests[out] = json.loads(fs.read_text(f"{base}/{out}/{MANIFEST}"))
        except Exception:  # noqa: BLE001 - no manifest (older layout) or unreadable: nothing to compare
            continue
    stale: list[str] = []
    for out in done:
        m = manifests.get(out) or {}
        if out == EXPORT:  # written by one report run, whose run id its manifest records
            outdated = "report" in stale or ("report" in manifests and not made_by_same_run(m, manifests["report"]))
        else:
            upstream = (m.get("fingerprint_parts") or {}).get("upstream") or {}
            outdated = any(u in stale or (u in manifests and manifests[u].get("run_id") != run_id)
                           for u, run_id in upstream.items())
        if outdated or (out in manifests and changed_outputs(fs, f"{base}/{out}")):
            stale.append(out)
    return tuple(stale)


def release_status(cfg: Config, fs: FsLike, release: str) -> ReleaseStatus:
    """The state of ``release`` under ``cfg.output_root``: complete stages from their success
    markers, stale ones from their manifests (``stale_outputs``)."""
    base = f"{cfg.output_root.rstrip('/')}/{release}"
    done = tuple(s for s in (*STAGES, EXPORT) if fs.exists(f"{base}/{s}/{SUCCESS}"))
    # A lock left by a killed run (SIGKILL, a lost node) is no running run: the next run takes it over.
    locked = fs.exists(f"{base}/{LOCK}") and not lock_is_stale(fs, f"{base}/{LOCK}", cfg.releases.lock_stale_hours)
    return ReleaseStatus(release, done, locked, stale_outputs(fs, base, done))


def statuses(cfg: Config, fs: FsLike, config_for: Callable[[str], Config] | None = None) -> list[ReleaseStatus]:
    """The state of every release found under ``releases.input_root``, oldest first; with
    ``config_for`` (release name -> its config), each complete one ``judged`` as
    ``latest_incomplete`` judges it, so ``trd-spark releases`` lists as ``outdated`` exactly the
    complete releases ``run --release latest`` would rerun (it listed them ``complete``)."""
    found = [release_status(cfg, fs, r) for r in found_releases(cfg, fs)]
    return found if config_for is None else [judged(s, fs, config_for) for s in found]


def judged(status: ReleaseStatus, fs: FsLike, config_for: Callable[[str], Config]) -> ReleaseStatus:
    """``status`` with ``outdated`` (the stages ``run`` would rerun: ``outdated_stages`` under
    ``config_for(release)``) when it is complete; a release whose config cannot be loaded or
    whose local inputs are gone cannot be rerun as it is: ``unjudged`` says why, with one
    WARNING naming it. The one judgement of ``trd-spark releases`` and ``--release latest``."""
    if not status.complete:
        return status
    try:
        outdated = outdated_stages(config_for(status.release), fs)
    except TrdSparkError as e:
        log.warning("release %s: complete; whether it is up to date could not be decided, so it is not "
                    "rerun (`trd-spark explain --release %s` says why): %s", status.release, status.release, e)
        return replace(status, unjudged=str(e))
    return replace(status, outdated=tuple((s, tuple(r)) for s, r in outdated.items()))


def latest_incomplete(cfg: Config, fs: FsLike, *, force: bool = False,
                      config_for: Callable[[str], Config] | None = None) -> str:
    """The newest release whose outputs are not complete or stale (``ReleaseStatus.complete``),
    or, with ``config_for`` (release name -> its config: what ``trd-spark run --release X``
    loads), complete but out of date: a stage ``run`` would rerun (``outdated_stages``, the
    same ``stages.plan`` as ``run`` and ``explain``: code, config, upstream outputs, external
    inputs), so a scheduled ``--release latest`` applies a code fix or a config change instead
    of leaving the outputs made before it. With ``force``: the newest.

    Releases are taken newest first; older ones are run by later calls (back-fill). Raises
    ``NothingToDo`` (exit 7) when every release is complete and up to date, so a scheduler
    polling for new releases knows there is nothing to run. A complete release whose config
    cannot be loaded or whose inputs are gone cannot be rerun as it is: a counted WARNING, and
    the next older release is looked at.
    """
    found = statuses(cfg, fs)
    if not found:
        raise NothingToDo(f"no release found under {cfg.releases.input_root}")
    if force:
        return found[-1].release
    for s in reversed(found):
        if not s.complete:
            return s.release
        if config_for is None:
            continue
        s = judged(s, fs, config_for)
        if s.outdated:
            log.info("release %s: complete but out of date (%s)", s.release,
                     "; ".join(f"{st}: {', '.join(r)}" for st, r in s.outdated))
            return s.release
    raise NothingToDo(f"every release is complete and up to date (newest: {found[-1].release})")


def outdated_stages(cfg: Config, fs: FsLike) -> dict[str, list[str]]:
    """{stage: reasons} of the stages ``trd-spark run`` would rerun in ``cfg``'s release
    (``stages.plan``: empty when it is up to date). Reads the published manifests, the code
    digests, and the external inputs' fingerprints as ``run`` and ``explain`` take them (a
    local file is hashed only when its size, mtime, ctime or inode changed; an object store's
    files by their listing). Raises InputDataError when a local input of the release is
    missing (``stages.missing_inputs``): a release whose data are gone cannot be rerun."""
    from trd_spark.stages import missing_inputs, plan

    if gone := missing_inputs(cfg, list(STAGES)):
        raise InputDataError(f"{len(gone)} input(s) not found, first {gone[0][0]}: {gone[0][1]}")
    return {stage: reasons for stage, reasons in plan(cfg, fs).items() if reasons}


def format_statuses(found: list[ReleaseStatus]) -> str:
    """A fixed-width table of release states for ``trd-spark releases``; below an ``outdated``
    release, the stages ``run`` would rerun and the first one's reasons (``explain`` gives all);
    below a complete one that could not be judged, why."""
    lines = [f"{'release':<20} {'state':<10} complete stages"]
    for s in found:
        done = [f"{d} (stale)" if d in s.stale_stages else d for d in s.complete_stages]
        lines.append(f"{s.release:<20} {s.state:<10} {', '.join(done) or '-'}")
        if s.outdated:
            first, reasons = s.outdated[0]
            lines.append(f"{'':<20} {'':<10} reruns {', '.join(st for st, _ in s.outdated)} ({first}: "
                         f"{'; '.join(reasons)})")
        elif s.unjudged:
            lines.append(f"{'':<20} {'':<10} whether it is up to date could not be decided: {s.unjudged}")
    return "\n".join(lines)


def process_alive(pid: int) -> bool:
    """A process ``pid`` exists on this machine (signal 0; another user's counts): the release
    lock's and the pgs scratch folders' owner check (``pgs.scratch``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_identity(pid: int) -> str | None:
    """``"<boot id>:<start time>"`` of process ``pid`` on this machine (``/proc``: the kernel's
    boot id and field 22 of ``/proc/<pid>/stat``, clock ticks after boot), which no later
    process with the same pid shares; None when it does not exist or ``/proc`` is not there.
    The release lock's and the pgs scratch folders' owner records hold it (``pgs.scratch``)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold blanks: count after the last ')'.
    return f"{boot}:{stat.rpartition(')')[2].split()[19]}"


def rewrite_if_held(path: str, is_ours: Callable[[bytes], bool], text: str) -> bool:
    """Rewrite the record file at ``path`` (a local or mounted file system) with ``text`` only
    while it holds this run's record (``is_ours`` of its bytes); True when this run's record was
    rewritten and is still the file at ``path``. The one refresh of the release lock
    (``ReleaseLock.refresh``) and of the pgs scratch folders' owner records (``pgs.scratch``).

    The file is opened once, read, checked and rewritten through that one open file, never
    renamed nor removed, so ``path`` exists throughout: another run's record (a takeover deletes
    the lock and creates its own, a new file) is never written over (this open file is the old
    one, gone from ``path``; the write lands there and False is said), and a run starting in that
    moment finds the lock. Before session 40 the refresh renamed the record away, checked it and
    created it again exclusively: a run starting while it was away found no lock, took it, and
    the live run stopped at its next publish check (exit 6); a reader of a scratch record found
    none. ``text`` is padded with blanks to the old record's length (JSON allows them), so the
    file never shrinks, and its callers write every record of a run at one length (``owner_text``:
    ``refreshed`` always with three decimals), so the file keeps its size and a read beside the
    write finds at worst the digits of two times mixed: still a record.
    On gcsfuse (2.8 on) the write is uploaded at close under the generation read (an object another
    mount replaced or deleted fails it: ESTALE, an OSError); elsewhere the inode compare below
    tells a file replaced meanwhile.
    Raises FileNotFoundError when ``path`` is gone, OSError when it cannot be read or written."""
    with open(path, "r+b") as f:
        held = f.read()
        if not is_ours(held):
            return False
        f.seek(0)
        f.write(text.encode().ljust(len(held)))
        opened = os.fstat(f.fileno())
    try:
        now = os.stat(path)
    except FileNotFoundError:  # removed right after the write (a takeover): no longer ours
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


# The suffix of a run's heartbeat file beside a GCS / HDFS release lock (``heartbeat_path``).
HEARTBEAT = ".heartbeat-"


def heartbeat_path(lock_path: str, held: object) -> str | None:
    """The heartbeat file of the run whose owner record is ``held`` (parsed), beside the lock at
    ``lock_path``: ``{lock_path}.heartbeat-<16 hex of its OWNER_KEYS>``, one name per run; None
    when ``held`` is no owner record. On GCS / HDFS a run never rewrites its lock: it refreshes
    by rewriting this file, which no other run writes (``ReleaseLock.refresh``)."""
    if not isinstance(held, dict) or "started" not in held:
        return None
    key = json.dumps({k: held.get(k) for k in OWNER_KEYS}, sort_keys=True)
    return f"{lock_path}{HEARTBEAT}{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def last_written(fs: FsLike, path: str, held: object) -> float:
    """When the run holding the lock at ``path`` (owner record ``held``) last wrote it: the
    lock's modification time, or its heartbeat's (``heartbeat_path``) when that is later (a
    heartbeat that is not there, or cannot be read, is none). Raises as ``fs.mtime(path)``."""
    written = fs.mtime(path)
    beat = heartbeat_path(path, held)
    if beat is not None:
        try:
            written = max(written, fs.mtime(beat))
        except Exception:  # noqa: BLE001 - no heartbeat (a local lock, an older run's): the lock's time
            pass
    return written


def holder_alive_here(held: dict) -> bool | None:
    """Whether the run of owner record ``held`` (``ReleaseLock.owner``) is alive: True / False
    when it names this host (its pid exists and, when the record holds it, is still the same
    process: ``process_identity``, a pid reused after the run was killed or the host rebooted
    is not the run); None for another host (or a record without host and pid), whose processes
    cannot be asked."""
    if held.get("host") != socket.gethostname() or "pid" not in held:
        return None
    try:
        pid = int(held["pid"])
    except (TypeError, ValueError):
        return None
    identity = held.get("process")
    return process_alive(pid) and (identity is None or process_identity(pid) == identity)


def lock_is_stale(fs: FsLike, path: str, stale_hours: float) -> bool:
    """True when the lock at ``path`` was left by a killed run: held by a process of this host
    that no longer exists (``holder_alive_here``), or by another host's run (or unreadable: a run
    killed while writing it) whose file was last written more than ``stale_hours`` ago by its
    modification time (``fs.mtime``: the storage's record of the last write; the holder rewrites
    the file every ``releases.lock_refresh_minutes``, on GCS / HDFS its heartbeat file instead:
    ``last_written``), compared with this host's clock. The
    record's own ``refreshed`` / ``started`` are the holder's clock: judged by them, a live lock
    of a host whose clock ran hours slow was taken over, and a dead one of a host whose clock ran
    fast looked live for those hours (session 39). A live process of this host is never stale,
    whatever its age: the age was checked first, so a run longer than ``stale_hours`` (a pgs
    stage of 250k samples x 61 scores through Hail can take more than a day) lost its lock to the
    next scheduled run and both wrote the same release. False when the file is gone
    (``create_new`` decides)."""
    try:
        held = json.loads(fs.read_text(path))
    except Exception:  # noqa: BLE001 - empty, half-written or unreadable: the file's age alone
        held = {}
    alive = holder_alive_here(held if isinstance(held, dict) else {})
    if alive is not None:
        return not alive
    try:
        written = last_written(fs, path, held)
    except Exception:  # noqa: BLE001 - removed meanwhile: not stale, create_new decides
        return False
    return time.time() - written > stale_hours * 3600


def lock_holder_text(fs: FsLike, path: str, stale_hours: float) -> str:
    """Who holds the lock at ``path``, for the LockedError line: ``held by pid 123 on host h
    since 2026-12-05 10:16:24 UTC (3m00s ago); wait for it to end: its run last refreshed the lock
    0m40s ago (by the file's time; ...)`` (the start as the holder's record says it, by its clock;
    the last refresh by the file's modification time, the storage's clock). A run refused with exit 6 otherwise told
    nothing to tell a live run from a hung one, so the user could not decide whether to wait or
    end it. Host and pid are the machine's, never a participant's. An unreadable lock (a run
    killed while writing it) is named so, with the file's age."""
    held: Any = {}
    clock = True  # the record's start is the holder's clock, not this host's (said with the last refresh)
    try:
        held = json.loads(fs.read_text(path))
        started, where = float(held["started"]), f"pid {held.get('pid', '?')} on host {held.get('host', '?')}"
    except Exception:  # noqa: BLE001 - empty or half-written: its age is all there is
        try:
            started, where, clock = fs.mtime(path), "a run whose lock file cannot be read", False
        except Exception:  # noqa: BLE001 - removed meanwhile
            return "held by a run that has just ended (run again)"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    age = max(0, int(time.time() - started))
    alive = ": its process is alive on this host, so its lock is kept whatever its age" if holder_alive_here(
        held if isinstance(held, dict) else {}) else ""
    # When the run last wrote the lock: the file's mtime alone (the storage's clock, as
    # ``lock_is_stale`` judges it). Compared with the record's start (the holder's clock), a holder
    # whose clock ran fast got no "refreshed" phrase and one whose clock ran slow an inflated age.
    try:
        quiet = max(0, int(time.time() - last_written(fs, path, held)))
        alive = alive or (f": its run last refreshed the lock {_duration(quiet)} ago (by the file's time; its start "
                          "above is by its host's clock)" if clock else "")
    except Exception:  # noqa: BLE001 - removed meanwhile: the start above is all there is
        pass
    ago = _duration(age)
    return (f"held by {where} since {since} ({ago} ago); wait for it to end{alive} (a killed run's lock is taken "
            f"over: this host's once its pid is gone, another host's once not refreshed for releases.lock_stale_hours "
            f"{stale_hours:g})")


# The release locks this process holds ({lock path: lock}, from ``ReleaseLock.__enter__`` to its
# release): ``check_still_held`` asks the one of a release before a stage publishes there.
_HELD: dict[str, ReleaseLock] = {}


def check_still_held(release_dir: str) -> None:
    """LockedError (exit 6) when this process entered the lock of release folder ``release_dir``
    (``ReleaseLock``) and the lock file no longer holds its record: another run took it over (this
    run went unrefreshed for ``releases.lock_stale_hours``: suspended, or its storage unreachable)
    and is writing the release too. Called by ``layout.publish_stage`` before a stage's folder is
    swapped in, so the two runs' stage folders are never mixed by this one. Nothing to check when
    no lock of this process covers ``release_dir`` (a stage published outside ``run``)."""
    lock = _HELD.get(f"{release_dir.rstrip('/')}/{LOCK}")
    if lock is None:
        return
    found = lock.holds_after_retries()
    if found is None:
        # Unreadable however often read (a storage hiccup): still this run's while nobody can have
        # judged it stale; a live run was stopped with exit 6 by one failed read.
        if lock.surely_not_taken_over():
            log.warning("release %s: the lock %s could not be read after %d tries (%s); this run refreshed it less "
                        "than releases.lock_stale_hours ago, so no other run can have taken it over: publishing",
                        lock.release, lock.path, LOCK_READ_TRIES, lock.read_error)
            return
        raise LockedError(f"the lock of release {lock.release} could not be read after {LOCK_READ_TRIES} tries "
                          f"({lock.read_error}) and this run last refreshed it more than releases.lock_stale_hours "
                          "ago: another run may have taken it over; nothing of this stage published", where=lock.path)
    if not found:
        raise LockedError(f"{lock.held_text()}; it took the lock over from this run while this run held it (not "
                          "refreshed for releases.lock_stale_hours): nothing of this stage published",
                          where=lock.path)


def lock_refresh_seconds(settings: ReleaseSettings) -> float:
    """How often a run rewrites the ``refreshed`` time of what it holds (its release lock; a pgs
    scratch folder's owner record, ``pgs.scratch.claim``): ``releases.lock_refresh_minutes``, at
    most a quarter of ``releases.lock_stale_hours`` (another host's record is stale once not
    refreshed for that long: a refresh interval near it lost a live run's folder)."""
    return min(settings.lock_refresh_minutes * 60, settings.lock_stale_hours * 3600 / 4)


def _duration(seconds: int) -> str:
    """``1h05m`` from an hour on, else ``3m07s``."""
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class ReleaseLock:
    """Context manager holding ``{output_root}/{release}/.lock`` for one run."""

    def __init__(self, cfg: Config, fs: FsLike):
        self.path = f"{cfg.output_root.rstrip('/')}/{cfg.release}/{LOCK}"
        self.release = cfg.release
        self.stale_seconds = cfg.releases.lock_stale_hours * 3600
        # A local lock is read and written as local files whatever the run's fs: through Hadoop
        # (``Fs``, chosen when only the input root is a URI) its checksummed local file system
        # wrote a hidden ``..lock.crc`` beside it that the in-place refresh (``rewrite_if_held``)
        # leaves stale, and every later checked read failed: from its second refresh on the lock
        # could not be refreshed, went stale under a live run and stopped its next publish
        # (session 40 reader). Another fs object (a test's wrapper of ``LocalFs``) is kept.
        self.fs: FsLike = LocalFs() if isinstance(fs, Fs) and not is_uri(self.path) else fs
        started = time.time()
        self.owner: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(),
                                      "process": process_identity(os.getpid()),
                                      "started": started, "refreshed": round(started, 3)}
        # The refresher (``_keep_fresh``) runs while the lock is held (``__enter__`` .. ``__exit__``);
        # ``_writing`` keeps a refresh from rewriting the lock after its release deleted it.
        self.refresh_seconds = lock_refresh_seconds(cfg.releases)
        self._stop = threading.Event()
        self._writing = threading.Lock()
        self._refresher: threading.Thread | None = None
        self.read_error = ""  # why ``holds`` last could not tell (for the WARNINGs)
        self._written = started  # when this run last wrote its record to the lock (``surely_not_taken_over``)
        # GCS / HDFS: refreshed through this run's own heartbeat file, never by rewriting the lock.
        self.heartbeat = heartbeat_path(self.path, self.owner) if is_uri(self.path) else None

    def held_by_live_run(self) -> bool:
        """True when the lock file exists and is not stale (read-only: ``run`` asks this before
        its input checks, so a release another run works on is exit 6 whatever its inputs)."""
        return self.fs.exists(self.path) and not self._stale()

    def _stale(self) -> bool:
        return lock_is_stale(self.fs, self.path, self.stale_seconds / 3600)

    def _content(self) -> bytes | None:
        """The lock file's bytes (an empty or half-written one too); None when it is gone."""
        try:
            return self.fs.read_bytes(self.path) if self.fs.exists(self.path) else None
        except Exception:  # noqa: BLE001 - removed between the two calls: gone
            return None if not self.fs.exists(self.path) else b"<unreadable>"

    def _take_marker(self, marker: str, text: str) -> bool:
        """``create_new(marker, text)``. A taker killed while it held the marker left it: the
        marker is judged as a lock is (``lock_is_stale``: its text is that run's owner record)
        and removed when stale, else it would stop every later run on this stale lock."""
        if self.fs.create_new(marker, text):
            return True
        if lock_is_stale(self.fs, marker, self.stale_seconds / 3600):
            self.fs.delete(marker)
            return self.fs.create_new(marker, text)
        return False

    def acquire(self) -> None:
        """Create the lock, or take over a stale one (``lock_is_stale``); LockedError naming
        its holder otherwise (``_acquire``). Then, on GCS / HDFS, the heartbeat files of ended runs
        are swept (``_sweep_heartbeats``)."""
        self._acquire()
        self._sweep_heartbeats()

    def _sweep_heartbeats(self) -> int:
        """Delete the heartbeat files (``heartbeat_path``) beside this run's lock on GCS / HDFS that
        were last written more than ``releases.lock_stale_hours`` ago (the storage's mtime against
        this host's clock, as ``lock_is_stale``): a killed run's, never removed, one per run. Only
        once this run holds the lock, so each is another run's that holds no lock here; older than
        the stale limit, it made no lock live (``last_written``), and a live run's heartbeat is
        never that old (it rewrites it every ``lock_refresh_minutes``). One INFO line with the count
        (no path: a heartbeat's name hashes a host and pid). The Hadoop ``Fs.listdir`` lists hidden
        names (Hadoop's own ``.crc`` files left out by its checksummed local file system);
        ``list_files`` leaves hidden files out. Another fs (a test's wrapper) is not swept. A
        storage hiccup leaves them (a DEBUG line): never a reason to stop the run. Returns the
        count."""
        if self.heartbeat is None or not isinstance(self.fs, Fs):
            return 0
        folder, _, name = self.path.rpartition("/")
        swept = 0
        try:
            for entry in self.fs.listdir(folder):
                beat = f"{folder}/{entry}"
                if entry.startswith(f"{name}{HEARTBEAT}") and beat != self.heartbeat \
                        and time.time() - self.fs.mtime(beat) > self.stale_seconds:
                    self.fs.delete(beat)
                    swept += 1
        except Exception as e:  # noqa: BLE001 - left for the next run's sweep
            log.debug("release %s: sweeping old heartbeat files stopped (%s)", self.release, type(e).__name__)
        if swept:
            log.info("release %s: removed %d heartbeat file(s) beside the lock of runs that ended without removing "
                     "them (not written for releases.lock_stale_hours %g)", self.release, swept,
                     self.stale_seconds / 3600)
        return swept

    def _acquire(self) -> None:
        """Create the lock, or take over a stale one (``lock_is_stale``); LockedError naming
        its holder otherwise. Two runs that judge the same lock stale at once (a scheduler's
        retry beside a hand-started run) each deleted it and created their own, the second
        deleting the first's fresh lock: both ran the release. A takeover now goes through an
        exclusive marker named by the stale lock's bytes (``create_new``, as the lock itself),
        and deletes the lock only while it still holds those bytes; the marker is removed once
        the new lock is written, so a run that gets the marker later finds the new lock and
        stops. A marker a killed run left is stale as a lock is (``lock_is_stale``) and removed.
        A lock its run removed just after our failed create (read as gone, or gone by the stale
        check, which judges a missing file not stale) gets one more create: it ended LockedError
        although nothing held the lock."""
        text = owner_text(self.owner, self.owner["refreshed"])
        self._written = time.time()
        if self.fs.create_new(self.path, text):
            return
        seen = self._content()
        if seen is not None and self._stale():
            digest = hashlib.sha256(seen).hexdigest()[:16]
            marker = f"{self.path}.takeover-{digest}"
            if self._take_marker(marker, text):
                try:
                    if self._content() == seen:
                        log.warning("release %s: taking over a stale lock %s (left by a killed run)",
                                    self.release, self.path)
                        self.fs.delete(self.path)
                        self._delete_heartbeat_of(seen)
                        if self.fs.create_new(self.path, text):
                            return
                finally:
                    self.fs.delete(marker)
        elif seen is None or not self.fs.exists(self.path):  # gone since (its run ended): one more try
            if self.fs.create_new(self.path, text):
                return
        raise LockedError(self.held_text(), where=self.path)

    def _delete_heartbeat_of(self, record: bytes) -> None:
        """Remove the heartbeat file of the run whose lock bytes are ``record`` (a stale lock taken
        over, or this run's own at its end), where it has one; one that cannot be removed is left
        (a hidden file no listing of the release counts, and judged by no other lock's run)."""
        try:
            beat = heartbeat_path(self.path, json.loads(record))
            if beat is not None and is_uri(self.path):
                self.fs.delete(beat)
        except Exception as e:  # noqa: BLE001 - no record, or a storage hiccup: left behind, harmless
            # A trace of what is left (reader s43): the error's type only, no path or record (a
            # record names a host and pid; a heartbeat's name hashes them).
            log.debug("release %s: a heartbeat file beside the lock was not removed (%s)", self.release,
                      type(e).__name__)

    def held_text(self) -> str:
        """The LockedError words: the release and who holds its lock (``lock_holder_text``)."""
        holder = lock_holder_text(self.fs, self.path, self.stale_seconds / 3600)
        return f"another run holds the lock on release {self.release}: {holder}"

    def holds(self) -> bool | None:
        """Whether the lock file holds this run's owner record (same host, pid, process and start;
        its ``refreshed`` may be older): True; False when it holds another run's record or is gone;
        None when that cannot be told (the read raised, or the bytes are no owner record: a storage
        hiccup, or the file read while being overwritten). Unknown is no answer: a refresher that
        took it for "another run's" stopped for good after one failed read, and the run's lock went
        stale under it (session 37 reader)."""
        try:
            held = json.loads(self.fs.read_text(self.path))
        except Exception as e:  # noqa: BLE001 - gone (False) or a read that failed (unknown)
            self.read_error = f"{type(e).__name__}: {e}"
            try:
                return None if self.fs.exists(self.path) else False
            except Exception:  # noqa: BLE001 - the storage does not answer at all
                return None
        if not isinstance(held, dict) or "started" not in held:
            self.read_error = "no owner record in it"
            return None  # half-written: not yet anybody's record
        return same_owner(held, self.owner)

    def holds_after_retries(self) -> bool | None:
        """``holds``, read again up to ``LOCK_READ_TRIES`` times ``LOCK_READ_PAUSE_SECONDS`` apart
        while it is unknown (None): before a stage publishes and before the lock is removed, one
        read hiccup must not decide. None when every read failed."""
        for attempt in range(LOCK_READ_TRIES):
            found = self.holds()
            if found is not None:
                return found
            if attempt + 1 < LOCK_READ_TRIES:
                time.sleep(LOCK_READ_PAUSE_SECONDS)
        return None

    def surely_not_taken_over(self) -> bool:
        """True while no other run can have judged this lock stale: this run last wrote its record
        (at ``acquire`` or a refresh) less than ``lock_stale_hours`` ago by this host's clock. A
        takeover needs the record unrefreshed for that long, so a lock that cannot be read then
        (``holds`` None) is still this run's."""
        return time.time() - self._written < self.stale_seconds

    def refresh(self) -> bool:
        """Rewrite the lock with this run's owner record and ``refreshed`` now, while the file
        still holds this run's record (same host, pid, process and start); False, with a WARNING,
        when it holds another run's (taken over after this run went unrefreshed for
        ``lock_stale_hours``: it is never overwritten) or is gone. A local lock is checked and
        rewritten through one open file (``rewrite_if_held``), never renamed away: a takeover (a
        new file) written between the check and the write is kept (two runs on one release;
        session 39 reader), and the lock is there throughout (session 39 renamed it away for the
        check: a run starting in that moment found none and took it, and this run stopped at its
        next publish, session 40). This run then stops refreshing (``check_still_held`` stops its
        publish). On HDFS / GCS the lock is never rewritten (the Hadoop FileSystem API has no
        overwrite conditional on what was read: a check, then an overwrite, wrote over a takeover
        landing between the two, before session 43): the refresh writes this run's own heartbeat
        file (``heartbeat_path``), which no other run writes, and a lock's age is that of its
        run's last heartbeat (``last_written``), so a takeover meanwhile is never overwritten."""
        with self._writing:
            if self._stop.is_set():
                return False
            found = self.holds()
            if found is None:
                raise OSError(f"reading it failed: {self.read_error}")  # tried again next interval (_keep_fresh)
            if not found:
                log.warning("release %s: the lock %s no longer holds this run's record (taken over by another run "
                            "after releases.lock_stale_hours without a refresh?); not refreshed", self.release, self.path)
                return False
            now = time.time()
            # As long as the record acquire wrote (``owner_text``: ``rewrite_if_held``).
            self.owner = {**self.owner, "refreshed": round(now, 3)}
            text = owner_text(self.owner, now)
            if self.heartbeat is not None:  # GCS / HDFS: this run's own file, never the lock
                self.fs.write_text(self.heartbeat, text)
            elif not rewrite_if_held(self.path, lambda held: record_is(held, self.owner), text):
                log.warning("release %s: the lock %s was written by another run while this run refreshed it (taken "
                            "over after releases.lock_stale_hours without a refresh?); left to it, not refreshed",
                            self.release, self.path)
                return False
            self._written = now
            return True

    def _keep_fresh(self) -> None:
        """The refresher thread: ``refresh`` every ``refresh_seconds`` until the lock is released
        or no longer this run's. A failed read or write (a storage hiccup) is tried again at the next
        interval, counted: a WARNING at the 1st and 3rd failure in a row and every 10th after (it was
        DEBUG, so a day of failing writes was invisible until another run took the lock over; a
        failed read stopped the refresher for good). The lock goes stale only after
        ``lock_stale_hours`` without a refresh."""
        failures = 0
        while not self._stop.wait(self.refresh_seconds):
            try:
                if not self.refresh():
                    return
                if failures:
                    log.warning("release %s: the lock %s refreshed again after %d failed refresh(es)", self.release,
                                self.path, failures)
                failures = 0
            except Exception as e:  # noqa: BLE001 - tried again next time
                failures += 1
                if failures in (1, 3) or failures % 10 == 0:
                    quiet = _duration(int(time.time() - self._written))
                    log.warning("release %s: the lock %s could not be refreshed (%d failure(s) in a row; last written "
                                "%s ago; another run takes it over after releases.lock_stale_hours %g): %s; tried "
                                "again in %s", self.release, self.path, failures, quiet, self.stale_seconds / 3600,
                                e, _duration(int(self.refresh_seconds)))

    def release_lock(self) -> None:
        self._stop.set()
        # A refresh under way finishes first (it checks the stop flag under the same mutex), so the
        # lock is not written again after its deletion; one hung in storage is not waited for.
        got = self._writing.acquire(timeout=max(1.0, min(self.refresh_seconds, 30.0)))
        try:
            if _HELD.get(self.path) is self:
                del _HELD[self.path]
            # Another run's lock (it took this one over) is that run's to remove: deleting it let a
            # third run start beside it. A lock that cannot be read (a storage hiccup) is this run's
            # while nobody can have taken it over (``surely_not_taken_over``): left behind, it stopped
            # the next runs for lock_stale_hours.
            found = True if self._refresher is None else self.holds_after_retries()
            if found is None and self.surely_not_taken_over():
                found = True
            if found:
                self.fs.delete(self.path)
            elif found is None:
                log.warning("release %s: the lock %s could not be read after %d tries (%s) and was last refreshed by "
                            "this run more than releases.lock_stale_hours ago (another run may hold it now): left; "
                            "remove it by hand if no run is alive", self.release, self.path, LOCK_READ_TRIES,
                            self.read_error)
            elif self.fs.exists(self.path):
                log.warning("release %s: the lock %s holds another run's record: left to that run", self.release,
                            self.path)
            if self.heartbeat is not None:  # this run's own, whoever holds the lock now
                self._delete_heartbeat_of(owner_text(self.owner, self.owner["refreshed"]).encode())
        finally:
            if got:
                self._writing.release()

    def __enter__(self) -> ReleaseLock:
        self.acquire()
        _HELD[self.path] = self
        self._stop.clear()
        self._refresher = threading.Thread(target=self._keep_fresh, name=f"release-lock-{self.release}", daemon=True)
        self._refresher.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release_lock()


EXPORT_LOCK = ".export.lock"
# How often a report stage waiting for the export lock tries it again (s): another release's report
# stage holds it for minutes, and each try is one small create (or a read of the holder's record).
EXPORT_LOCK_POLL_SECONDS = 5.0


class ExportLock(ReleaseLock):
    """Context manager holding ``{output_root}/.export.lock`` while a report stage runs: from before
    it reads the exports published under the output root (``report.stage.released_exports``, which
    its disclosure audit links its counts to) until its own export is published. Each release's run
    holds only its release's lock, so two releases' report stages could run at once (two notebooks,
    a scheduler running releases in parallel): each audited its export against the other's earlier
    export, or none, never the other's new one, and the two new exports together gave their small
    differences (r1 showing 60 TRD persons and r2 67: the 7 who joined). A report stage waits while
    another live run holds this lock (``EXPORT_LOCK_POLL_SECONDS``; one INFO line naming the holder),
    so the second report audits against the first one's new export. Held, refreshed, judged stale and
    taken over as a release lock is (``ReleaseLock``). Exports under ``report.audit_output_roots``
    (other output roots, perhaps not writable here) are not covered: their runs take their own
    root's lock. ``compare-releases`` holds it too (``who`` names it in the wait's INFO line), from
    its check of the two exports until its comparison is published: a release's report publishing
    meanwhile changed an export it read."""

    def __init__(self, cfg: Config, fs: FsLike, *, who: str | None = None):
        super().__init__(cfg, fs)
        self.who = who if who is not None else f"release {cfg.release}: the report"
        self.path = f"{cfg.output_root.rstrip('/')}/{EXPORT_LOCK}"
        self.fs = LocalFs() if isinstance(fs, Fs) and not is_uri(self.path) else fs
        self.heartbeat = heartbeat_path(self.path, self.owner) if is_uri(self.path) else None

    def held_text(self) -> str:
        """Who holds the export lock (``lock_holder_text``)."""
        holder = lock_holder_text(self.fs, self.path, self.stale_seconds / 3600)
        return f"another run (a report stage or compare-releases) holds the export lock {self.path}: {holder}"

    def acquire(self) -> None:
        """``ReleaseLock.acquire``, tried again every ``EXPORT_LOCK_POLL_SECONDS`` while another live
        run holds the lock (an interrupt ends the wait as it ends a stage)."""
        since: float | None = None  # when the wait began
        while True:
            try:
                super().acquire()
                break
            except LockedError:
                if since is None:
                    since = time.time()
                    log.info("%s waits for another run's report to publish its export under this output root, "
                             "which it reads: %s", self.who, self.held_text())
                time.sleep(EXPORT_LOCK_POLL_SECONDS)
        if since is not None:
            log.info("%s: the export lock taken after %.0f s", self.who, time.time() - since)
