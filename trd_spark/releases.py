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
is older than ``releases.lock_stale_hours`` or when it names this host and a process that no
longer exists; an empty or unreadable lock (a run killed while writing it) is judged by the
file's modification time. A stale lock is taken over with a warning. Remove it by hand only
when sure no run is alive. SIGTERM / SIGINT release the lock (trd_spark.cli).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Protocol

from trd_spark.config import Config, is_uri
from trd_spark.errors import ConfigError, LockedError, NothingToDo
from trd_spark.io import LocalFs as LocalFs  # re-exported: the CLI and tests take it from here
from trd_spark.layout import EXPORT, MANIFEST, STAGES, SUCCESS, changed_outputs

log = logging.getLogger(__name__)

LOCK = ".lock"
_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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


def needs_spark_fs(cfg: Config) -> bool:
    """True when the output or input root is a URI (gs://, hdfs://): use Hadoop's FileSystem."""
    return is_uri(cfg.output_root) or bool(cfg.releases.input_root and is_uri(cfg.releases.input_root))


def natural_key(name: str) -> list:
    """Sort key treating digit runs as numbers: r2 < r10, C2022Q4R9 < C2024Q3R5."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def found_releases(cfg: Config, fs: FsLike) -> list[str]:
    """Release names under ``releases.input_root`` plus the toy releases, oldest first."""
    names: set[str] = set()
    root = cfg.releases.input_root
    if root:
        names |= {n for n in fs.listdirs(root) if _RELEASE_NAME.match(n) and not n.startswith(".")}
    if cfg.toy_data is not None:
        names |= set(cfg.toy_data.releases)
    if not names and not root:
        raise ConfigError("releases.input_root is not set (and no toy_data.releases): cannot list releases",
                          where=cfg.source_path)
    return sorted(names, key=natural_key)


@dataclass(frozen=True)
class ReleaseStatus:
    """One release's state: its complete stages, those of them that are stale (see
    ``stale_outputs``) and whether a run holds its lock."""
    release: str
    complete_stages: tuple[str, ...]
    locked: bool
    stale_stages: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return set(self.complete_stages) >= {*STAGES, EXPORT} and not self.stale_stages

    @property
    def state(self) -> str:
        if self.locked:
            return "running"
        if self.complete:
            return "complete"
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
        # export/ is written by the report run whose run id its manifest records.
        upstream = {"report": m.get("run_id")} if out == EXPORT else (m.get("fingerprint_parts") or {}).get("upstream") or {}
        if any(u in stale or (u in manifests and manifests[u].get("run_id") != run_id)
               for u, run_id in upstream.items()) or (out in manifests and changed_outputs(fs, f"{base}/{out}")):
            stale.append(out)
    return tuple(stale)


def release_status(cfg: Config, fs: FsLike, release: str) -> ReleaseStatus:
    """The state of ``release`` under ``cfg.output_root``: complete stages from their success
    markers, stale ones from their manifests (``stale_outputs``)."""
    base = f"{cfg.output_root.rstrip('/')}/{release}"
    done = tuple(s for s in (*STAGES, EXPORT) if fs.exists(f"{base}/{s}/{SUCCESS}"))
    return ReleaseStatus(release, done, fs.exists(f"{base}/{LOCK}"), stale_outputs(fs, base, done))


def statuses(cfg: Config, fs: FsLike) -> list[ReleaseStatus]:
    """The state of every release found under ``releases.input_root``, oldest first."""
    return [release_status(cfg, fs, r) for r in found_releases(cfg, fs)]


def latest_incomplete(cfg: Config, fs: FsLike, *, force: bool = False) -> str:
    """The newest release whose outputs are not complete or stale (``ReleaseStatus.complete``;
    with ``force``: the newest).

    Raises ``NothingToDo`` (exit 7) when every release is complete, so a scheduler polling
    for new releases knows there is nothing to run. A newer release is always taken first;
    older incomplete ones are run by later calls (back-fill).
    """
    found = statuses(cfg, fs)
    if not found:
        raise NothingToDo(f"no release found under {cfg.releases.input_root}")
    if force:
        return found[-1].release
    todo = [s for s in found if not s.complete]
    if not todo:
        raise NothingToDo(f"every release is complete (newest: {found[-1].release})")
    return todo[-1].release


def format_statuses(found: list[ReleaseStatus]) -> str:
    """A fixed-width table of release states for ``trd-spark releases``."""
    lines = [f"{'release':<20} {'state':<10} complete stages"]
    for s in found:
        done = [f"{d} (stale)" if d in s.stale_stages else d for d in s.complete_stages]
        lines.append(f"{s.release:<20} {s.state:<10} {', '.join(done) or '-'}")
    return "\n".join(lines)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ReleaseLock:
    """Context manager holding ``{output_root}/{release}/.lock`` for one run."""

    def __init__(self, cfg: Config, fs: FsLike):
        self.path = f"{cfg.output_root.rstrip('/')}/{cfg.release}/{LOCK}"
        self.release = cfg.release
        self.stale_seconds = cfg.releases.lock_stale_hours * 3600
        self.fs = fs
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}

    def _stale(self) -> bool:
        try:
            held = json.loads(self.fs.read_text(self.path))
            started = float(held["started"])
        except Exception:  # noqa: BLE001 - empty, half-written or unreadable: the file's age is the clock
            held = {}
            try:
                started = self.fs.mtime(self.path)
            except Exception:  # noqa: BLE001 - removed meanwhile: not stale, create_new decides
                return False
        if time.time() - started > self.stale_seconds:
            return True
        return held.get("host") == self.owner["host"] and not _pid_alive(int(held.get("pid", -1)))

    def acquire(self) -> None:
        text = json.dumps(self.owner)
        if self.fs.create_new(self.path, text):
            return
        if self._stale():
            log.warning("release %s: taking over a stale lock %s (left by a killed run)", self.release, self.path)
            self.fs.delete(self.path)
            if self.fs.create_new(self.path, text):
                return
        raise LockedError(f"another run holds the lock on release {self.release}", where=self.path)

    def release_lock(self) -> None:
        self.fs.delete(self.path)

    def __enter__(self) -> ReleaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release_lock()
