"""Spark's Python daemon under a local master (``spark.python.daemon.module``, set by
``session.spark_conf``): pyspark's own daemon (``pyspark.daemon.manager``), started with Spark's
own archives left off ``sys.path`` when pyspark and py4j import without them, its workers reading
each task's socket through ``AckedReads`` (below).

Why: Spark puts ``$SPARK_HOME/python/lib/pyspark.zip``, py4j's source zip and the spark-core
jar first on every Python worker's PYTHONPATH (``PythonUtils.sparkPythonPath``), and pyspark's
worker calls ``importlib.invalidate_caches()`` before every task (``pyspark/worker.py``, after
adding the task's includes). Python 3.11's ``zipimporter.invalidate_caches`` re-reads its whole
archive directory at once, and a worker holds one zipimporter per package directory it
imported from an archive: pyspark.zip's 793 entries read ~10 times and the jar's 5,221 twice per
task, ~0.1 CPU-s of a warm worker per task, whatever the task does (py-spy over a warm worker
running trivial tasks: ~96% of its busy samples; benchmarks/RESULTS.md, session 30 flat helper).
A pip-installed pyspark (this project's install) has the same pyspark and py4j in site-packages,
so the workers import those instead and the per-task invalidation finds no archive to re-read.

Nothing is removed unless both pyspark and py4j are found on the remaining path (a cluster whose
executors have pyspark only in ``pyspark.zip`` keeps it), and only archives under
``SPARK_HOME`` (Spark's own): a user's ``--py-files`` archives stay. This module imports the
standard library only before pyspark (it runs first in every daemon).

Each worker also acknowledges what it reads from its task socket at once (``AckedReads``).
Why: Spark 3.5's JVM writes a task to a reused worker in two flushes (the task's context, then
after the broadcast variables its function and input: ``PythonRunner``'s writer thread). The
worker, having read the first and waiting for the second, delays its TCP acknowledgement (Linux:
40 ms on a socket that goes back and forth, as a reused worker's does), and the JVM's socket
(Nagle's algorithm, no TCP_NODELAY there) holds the small second write until that
acknowledgement comes: every task of a reused worker started ~40 ms late, before any of its own
code (the native pass's "hand-off lag" of sessions 35-36; probe timelines: the worker read the
task's context 40-47 ms before its function, 0-1 ms with this; benchmarks/RESULTS.md, session 37
flatbed). Linux has no lasting per-socket switch for it: ``TCP_QUICKACK`` sends a pending
acknowledgement at once and lapses, so it is set after each read. Where the socket is not TCP
or the option is missing (not Linux), the worker reads as pyspark's does.

A reused worker's collection after each task keeps to what the task left (``FrozenAfterCollect``).
Why: pyspark's daemon calls ``gc.collect()`` after every task of a reused worker, a full collection
that walks every object the worker tracks, ~50k once it has imported numpy, scipy, pgenlib and the
task modules (``native_task.worker_ready``): 12-25 ms of CPU per task whatever the task did (in a
process alone, 0.024 CPU-s per call under load; issue 16: 2 tasks in a 2.5k-sample score phase, 4
at 20k). What survives that collection is moved to the permanent generation (``gc.freeze``, Python's
own remedy for long-lived objects), so each later collection walks only what was made since.
"""

from __future__ import annotations

import gc
import io
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any


def spark_archives(path: Sequence[str], spark_home: str | None) -> list[str]:
    """The entries of ``path`` (a ``sys.path``) that are Spark's own archives: existing files
    (zip or jar, which Python imports through zipimport) under ``spark_home``."""
    if not spark_home:
        return []
    home = os.path.realpath(spark_home) + os.sep
    return [p for p in path if p.endswith((".zip", ".jar")) and os.path.isfile(p)
            and os.path.realpath(p).startswith(home)]


def path_without_spark_archives(path: Sequence[str], spark_home: str | None) -> list[str]:
    """``path`` without ``spark_archives`` when pyspark and py4j are importable from what is
    left (``importlib.machinery.PathFinder``), else ``path`` unchanged (as a new list)."""
    from importlib.machinery import PathFinder

    archives = set(spark_archives(path, spark_home))
    if not archives:
        return list(path)
    rest = [p for p in path if p not in archives]
    if all(PathFinder.find_spec(name, rest) is not None for name in ("pyspark", "py4j")):
        return rest
    return list(path)


class AckedReads(io.RawIOBase):
    """A raw reader of the connected TCP socket ``sock`` through ``infile`` (pyspark's buffered
    reader of its descriptor) that acknowledges each read at once (``TCP_QUICKACK``: any pending
    acknowledgement is sent now instead of after the delayed-ACK timer; module doc). Each read is
    ``infile.readinto1``: the bytes ``infile`` has buffered first, then at most one read of the
    socket (never waiting for more than the socket has). It read ``infile.raw`` before, skipping
    what ``infile`` had buffered: pyspark's daemon reads a new worker's auth secret through
    ``infile`` before its first task, and only the JVM's waiting for the reply kept the task's
    bytes out of that buffer (session 37 reader)."""

    def __init__(self, infile: io.BufferedReader, sock: socket.socket) -> None:
        super().__init__()
        self.infile = infile
        self.sock = sock

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.infile.fileno()

    def readinto(self, buffer: Any) -> int | None:
        n = self.infile.readinto1(buffer)
        if n:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return n


def acked_reader(infile: io.BufferedReader, buffer_size: int) -> tuple[io.BufferedReader, socket.socket] | None:
    """A buffered reader of ``infile`` (a task's socket; what ``infile`` has buffered comes first)
    through ``AckedReads``, and the socket object it sets the option on (``detach`` it after: the
    descriptor stays ``infile``'s); None when the descriptor is not a TCP socket that takes
    ``TCP_QUICKACK`` (the caller reads ``infile`` as it is)."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is None:
        return None
    try:
        sock = socket.socket(fileno=infile.fileno())
    except OSError:
        return None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
    except OSError:
        sock.detach()
        return None
    return io.BufferedReader(AckedReads(infile, sock), buffer_size), sock


def acking_worker_main(worker_main: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``worker_main`` (``pyspark.worker.main``: one task on (infile, outfile)) with the task's
    socket read through ``acked_reader``. pyspark's daemon makes a new ``infile`` per task (a new
    worker's has had the auth secret read through it); what it buffered is read first."""
    buffer_size = int(os.environ.get("SPARK_BUFFER_SIZE", 65536))  # as pyspark.daemon opens it

    def main(infile: Any, outfile: Any) -> Any:
        acked = acked_reader(infile, buffer_size) if isinstance(infile, io.BufferedReader) else None
        if acked is None:
            return worker_main(infile, outfile)
        reader, sock = acked
        try:
            return worker_main(reader, outfile)
        finally:
            sock.detach()  # the descriptor is infile's, closed with it by pyspark

    return main


# Every this many collections ``FrozenAfterCollect`` first unfreezes, so the collection is a full one: a
# cycle frozen while still held (alive at a task's end) and let go later is freed then (session 56 xreview).
FULL_COLLECTION_EVERY = 50


class FrozenAfterCollect:
    """What pyspark's daemon calls ``gc`` (``pyspark.daemon.gc``; it calls ``collect()`` after each
    task of a reused worker): ``collect`` is ``gc.collect`` and then ``gc.freeze``, so the objects
    that survived it (the worker's modules, caches and kept buffers) are left out of later
    collections (module doc). Acyclic objects among them are still freed by reference counting when
    let go; a reference cycle among them (one still held when a task ended: a cache's last value, a
    registry entry) is not, so every ``FULL_COLLECTION_EVERY``-th call unfreezes first and collects
    everything, as pyspark's own call does: such cycles are freed within that many tasks (before,
    never: 200 tasks each leaving a 1.3 MB cycle held until the next kept all 200, 13 -> 355 MB).
    One instance per daemon; each forked worker counts its own calls. Other names are ``gc``'s."""

    def __init__(self) -> None:
        self.calls = 0

    def collect(self, generation: int = 2) -> int:
        self.calls += 1
        if self.calls % FULL_COLLECTION_EVERY == 0:
            gc.unfreeze()
        found = gc.collect(generation)
        gc.freeze()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(gc, name)


def main() -> None:
    """Drop Spark's archives from ``sys.path`` (``path_without_spark_archives``; their cached
    importers too) and run pyspark's daemon, whose forked workers inherit the path, with each
    task's reads acknowledged at once (``acking_worker_main``: pyspark's daemon calls its
    module's ``worker_main`` per task) and the collection after each task walking only what was
    made since the last one (``FrozenAfterCollect``)."""
    kept = path_without_spark_archives(sys.path, os.environ.get("SPARK_HOME"))
    if len(kept) != len(sys.path):
        dropped = set(sys.path) - set(kept)
        sys.path[:] = kept
        for key in [k for k in sys.path_importer_cache if any(k == a or k.startswith(a + os.sep) for a in dropped)]:
            del sys.path_importer_cache[key]
    import pyspark.daemon

    pyspark.daemon.worker_main = acking_worker_main(pyspark.daemon.worker_main)
    pyspark.daemon.gc = FrozenAfterCollect()  # type: ignore[assignment]
    pyspark.daemon.manager()


if __name__ == "__main__":
    main()
