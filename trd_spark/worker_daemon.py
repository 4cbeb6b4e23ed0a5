"""Spark's Python daemon under a local master (``spark.python.daemon.module``, set by
``session.spark_conf``): pyspark's own daemon (``pyspark.daemon.manager``, unchanged), started
with Spark's own archives left off ``sys.path`` when pyspark and py4j import without them.

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
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


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


def main() -> None:
    """Drop Spark's archives from ``sys.path`` (``path_without_spark_archives``; their cached
    importers too) and run pyspark's daemon, whose forked workers inherit the path."""
    kept = path_without_spark_archives(sys.path, os.environ.get("SPARK_HOME"))
    if len(kept) != len(sys.path):
        dropped = set(sys.path) - set(kept)
        sys.path[:] = kept
        for key in [k for k in sys.path_importer_cache if any(k == a or k.startswith(a + os.sep) for a in dropped)]:
            del sys.path_importer_cache[key]
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
