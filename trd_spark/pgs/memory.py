"""Process memory for the PGS engines' large numpy arrays (issue 16, session 22), and the
room a memory file system has for the native pass's files (session 34).

Kept apart from matching and the native engine, which both use it: numpy's switch for its
transparent-huge-page advice is private (``numpy._core.multiarray._set_madvise_hugepage``) and
reached here only; tests/test_pgs_native_engine.py's smaps tests fail if it stops working.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

# numpy's switch is one per process, while small_pages may be entered by several threads at
# once (the stage's background warm-up runs beside the match): the first entry saves the
# setting and turns the advice off, the last exit restores it. Without the count, a thread
# leaving first restored the advice under the other's feet, and the other then "restored" off
# for good (tests/test_pgs_memory.py).
_lock = threading.Lock()
_depth = 0
_before = True


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy arrays allocated meanwhile in this process get no transparent-huge-page advice
    (numpy gives ``madvise(MADV_HUGEPAGE)`` to every array of 4 MiB or more, unless
    ``NUMPY_MADVISE_HUGEPAGE=0``); the setting before the first of any overlapping entries
    (nested, or from several threads) is restored when the last of them exits. Where the kernel's
    THP ``defrag`` is ``madvise`` (Debian's and Ubuntu's default; the benchmark host), a fault
    in such an array may compact memory synchronously, and a driver that fills fresh 100 MB
    arrays once pays that in kernel time, far more than the arithmetic: ``weight_matrices`` at
    200k rows x 61 scores, 0.1-0.3 user + 1.0-4.7 sys CPU-s with the advice, 0.2-0.4 + 0.3-0.5
    without (one cold process each, load 14-19; issue 16, session 22); the native engine's block
    buffer alike (``native_task._block_buffer``). No effect where numpy has no such switch."""
    global _depth, _before
    setter = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(setter, "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _before = setter(False)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(_before)


# Linux's madvise(2) advice that faults a mapping's pages in, writable, in one call (uapi value
# 23, Linux >= 5.14; Python 3.11's mmap module has no name for it). Defined here only: the
# weights' files (``matching._populate``) and the block buffer (``native_task.populated_buffer``).
MADV_POPULATE_WRITE = 23


def populate_write(mapped: mmap.mmap) -> bool:
    """Fault in every page of ``mapped`` (an mmap), writable, in one ``madvise(MADV_POPULATE_WRITE)``
    call, where writing them faults each 4 KiB page on its own. True when the kernel did; False
    where it refused (a kernel before 5.14: EINVAL; no memory for it: ENOMEM; an mmap without
    ``madvise``): the pages then fault in on first write, as without the call. A hint: nothing
    else changes either way."""
    try:
        mapped.madvise(MADV_POPULATE_WRITE)
        return True
    except (AttributeError, OSError, ValueError):
        return False


def room_for_files(directory: str, cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> int:
    """Bytes new files may take in ``directory`` of a memory file system (tmpfs, e.g.
    ``/dev/shm``; ``pgs.native.memory_dir``): its file system's free space (``os.statvfs``:
    a tmpfs's ``size=`` limit less what it holds) and, where ``/proc/meminfo`` is readable, at
    most the host's ``MemAvailable``, since a tmpfs's pages are RAM (or swap) that the kernel
    cannot reclaim while the files exist, however large the mount's limit (by default half the
    RAM); and at most this process's memory cgroup's room (``cgroup_room``: in a container
    ``MemAvailable`` is the host's, while the tmpfs's pages count against the container's limit,
    so a pass that fits the host could get the container OOM-killed, its files left behind).
    0 when ``directory`` is not a directory this process may write into."""
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        return 0
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0
    room = fs.f_bavail * fs.f_frsize
    try:
        with open("/proc/meminfo") as f:
            available = next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError):  # no /proc (macOS): the file system's own limit only
        available = None
    if available is not None:
        room = min(room, available)
    limited = cgroup_room(cgroup_root, proc_cgroup)
    return room if limited is None else max(0, min(room, limited))


# cgroup v1 writes "no limit" as a page-rounded 2**63 - 1; anything this large is no limit.
_V1_UNLIMITED = 2**62


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2's no limit) or unreadable: None


def _stat_value(path: str, key: str) -> int:
    try:
        with open(path) as f:
            return next((int(line.split()[1]) for line in f if line.split()[:1] == [key]), 0)
    except (OSError, ValueError, IndexError):
        return 0


def cgroup_room(root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> int | None:
    """Bytes this process's memory cgroups may still charge: over its cgroup (``proc_cgroup``'s
    line for the v2 hierarchy ``0::<path>`` or the v1 ``memory`` controller) and each ancestor
    under ``root`` (the cgroup file system's mount), the least of limit less usage, where usage
    leaves out the reclaimable file cache (``inactive_file``, as kubelet's working set does; a
    tmpfs's pages are shmem, not file cache). v2: ``memory.max`` - (``memory.current`` -
    ``memory.stat`` inactive_file); v1: ``memory/memory.limit_in_bytes`` -
    (``memory.usage_in_bytes`` - total_inactive_file). A cgroup namespace (a container) shows its
    own cgroup as the mount's root: that is read when the path is not under it. None when no
    limit is set or nothing is readable (no cgroup file system: macOS, lxcfs-free hosts alike).
    Source: the kernel's Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst."""
    try:
        with open(proc_cgroup) as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    rooms = []
    for fields in lines:
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":  # the v2 hierarchy (a hybrid host's has no memory.max: nothing read)
            base, limit_file, usage_file, stat_key = root, "memory.max", "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):
            base = os.path.join(root, "memory")
            limit_file, usage_file, stat_key = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
        else:
            continue
        parts = [p for p in path.split("/") if p]
        folders = [os.path.join(base, *parts[:i]) for i in range(len(parts), -1, -1)]
        for folder in folders:
            limit = _read_int(os.path.join(folder, limit_file))
            usage = _read_int(os.path.join(folder, usage_file))
            if limit is None or usage is None or limit >= _V1_UNLIMITED:
                continue
            used = max(0, usage - _stat_value(os.path.join(folder, "memory.stat"), stat_key))
            rooms.append(max(0, limit - used))
    return min(rooms) if rooms else None
