"""Session 56 xreview: a second reviewer's checks of the session's commits (benchmarks/RESULTS.md
"Session 56 xreview")."""

import subprocess
import sys


def test_a_cycle_alive_at_one_tasks_end_and_let_go_later_is_freed():
    """``worker_daemon.FrozenAfterCollect`` (cc73b2a) froze what survived each task's collection.
    A reference cycle still held when a task ended (a cache's last value, a registry entry, a
    loop variable of a module) and let go in a later task was then frozen garbage: never freed
    until the worker exited. Before this fix: 200 simulated tasks, each leaving a 2,000-node cycle
    (1.3 MB) held until the next one, kept all 200 alive (RSS 13 -> 355 MB; pyspark's own
    ``gc.collect`` kept 1, 16 MB). Now the freeze is undone every ``FULL_COLLECTION_EVERY``
    collections, so at most that many such cycles are alive."""
    code = (
        "import gc, weakref\n"
        "from trd_spark import worker_daemon\n"
        "from trd_spark.worker_daemon import FrozenAfterCollect\n"
        "FULL_COLLECTION_EVERY = getattr(worker_daemon, 'FULL_COLLECTION_EVERY', 50)  # before the fix: none\n"
        "g = FrozenAfterCollect()\n"
        "class Node: pass\n"
        "def build():\n"
        "    nodes = [Node() for _ in range(50)]\n"
        "    for i, n in enumerate(nodes): n.next = nodes[(i + 1) % 50]\n"
        "    return nodes\n"
        "refs, hold = [], [None]\n"
        "for task in range(3 * FULL_COLLECTION_EVERY):\n"
        "    hold[0] = build()  # held past this task's end, let go in the next\n"
        "    refs.append(weakref.ref(hold[0][0]))\n"
        "    g.collect()\n"
        "hold[0] = None\n"
        "g.collect()\n"
        "print(FULL_COLLECTION_EVERY, sum(r() is not None for r in refs), gc.get_freeze_count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    every, alive, frozen = (int(v) for v in out)
    assert 1 <= every <= 100
    assert alive <= every, f"{alive} of {3 * every} dropped cycles never freed"
    assert frozen > 0  # still freezing between the full collections
