"""Issue 16, session 56 n16: a reused Python worker's collection after each task walks only what
that task left (``worker_daemon.FrozenAfterCollect``). pyspark's daemon runs a full
``gc.collect()`` after every task of a reused worker; with numpy, scipy and pgenlib imported
(~50k tracked objects) that cost 12-25 ms of worker CPU per task whatever the task did (trivial
2-task jobs: 0.04-0.05 worker CPU-s per job before, ~0.002 after; benchmarks/RESULTS.md
"Session 56 n16")."""

import subprocess
import sys

from trd_spark import worker_daemon


def test_reused_workers_freeze_what_survives_each_tasks_collection(spark):
    """In the shared session (local[2], ``trd_spark.worker_daemon``), a worker's daemon module
    collects through ``FrozenAfterCollect``, and a worker that has run a task before holds frozen
    objects (the survivors of that task's collection). Before this change: ``gc`` was the module
    itself and nothing was ever frozen (freeze count 0), so each task's collection walked them all."""

    def _worker_gc(_):
        # Defined here, so cloudpickle ships it by value: a module-level function is pickled by
        # reference and a worker cannot import this test module (tests/ is on no worker's path;
        # CI's red of session 56: ModuleNotFoundError 'test_n16_s56').
        import gc
        import os

        import pyspark.daemon

        return os.getpid(), type(pyspark.daemon.gc).__name__, gc.get_freeze_count()

    sc = spark.sparkContext
    seen: dict[int, int] = {}
    again = None
    for _ in range(6):  # one-task jobs: Spark hands an idle worker back; stop once one ran twice here
        pid, shim, frozen = sc.parallelize([0], 1).map(_worker_gc).collect()[0]
        assert shim == "FrozenAfterCollect"
        if pid in seen:
            again = (pid, frozen)
            break
        seen[pid] = frozen
    assert again is not None, f"no worker ran two of six one-task jobs: {seen}"
    assert again[1] > 0, "a reused worker froze nothing after its previous task's collection"


def test_the_collection_still_frees_what_was_made_after_the_freeze():
    """``FrozenAfterCollect.collect`` collects as ``gc.collect`` does (a cycle dropped after a
    freeze is freed by the next collection: what pyspark's per-task collection is for) and then
    freezes what survived; other names are ``gc``'s. In a fresh interpreter: the freeze is for the
    whole process. Before this change: no ``FrozenAfterCollect`` (ImportError)."""
    code = (
        "import gc, weakref\n"
        "from trd_spark.worker_daemon import FrozenAfterCollect\n"
        "g = FrozenAfterCollect()\n"
        "g.collect()\n"
        "first = gc.get_freeze_count()\n"
        "class Node: pass\n"
        "a = Node(); a.me = a; alive = weakref.ref(a); del a\n"
        "found = g.collect()\n"
        "print(first, found, alive() is None, gc.get_freeze_count() >= first, g.isenabled())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 0  # the first collection's survivors frozen
    assert int(out[1]) >= 1 and out[2] == "True"  # the new cycle collected
    assert out[3:] == ["True", "True"]


def test_the_daemon_is_given_the_freezing_collection():
    """``worker_daemon.main`` puts ``FrozenAfterCollect`` where pyspark's daemon looks up ``gc``:
    the name its manager calls after each task (pyspark 3.5's ``daemon.manager``: ``gc.collect()``);
    a later pyspark that stops doing so, or calls it by another name, fails this test."""
    import inspect

    import pyspark.daemon

    assert "gc.collect()" in inspect.getsource(pyspark.daemon.manager)
    assert "pyspark.daemon.gc = FrozenAfterCollect()" in inspect.getsource(worker_daemon.main)
