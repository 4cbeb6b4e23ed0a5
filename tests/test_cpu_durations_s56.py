"""The JVM's CPU by thread kind counts the threads that ended before pytest did (``exited``)."""

from __future__ import annotations

import os

import cpu_durations
from cpu_durations import CpuDurations, summarise
from test_cpu_durations import _fake_task


def test_threads_that_ended_are_counted_as_exited(tmp_path, monkeypatch):
    """Before session 56 (suitecut): ``jvm_threads`` summed only the threads alive at the end, so a
    JVM whose process total (/proc/PID/stat: ended threads included) was 100 CPU-s showed 78 in
    ``FILE.jvm`` and ``summarise`` (Spark's task threads leave their pool after 60 s idle: the
    kind most undercounted). Now the 22 CPU-s of the ended threads are one ``exited`` row."""
    proc = tmp_path / "proc"
    me = os.getpid()
    for tid, name, user, system in ((700, "java", 1, 0), (701, "C2 CompilerThre", 30, 2), (703, "C1 CompilerThre", 9, 0),
                                    (704, "HTTP-Dispatcher", 20, 1), (706, "Thread-4", 12, 3)):
        _fake_task(proc, 700, tid, name, me, user, system)
    hz = os.sysconf("SC_CLK_TCK")
    # The process's own line: every thread's times, the ended ones' (22 s) included.
    (proc / "700" / "stat").write_text(f"700 (java) S {me} 1 1 0 -1 4194560 10 0 0 0 {94 * hz} {6 * hz} 0 0 20 0 1 0 5 1 1\n")
    (proc / "self").mkdir()
    monkeypatch.setattr(cpu_durations, "PROC", proc)
    monkeypatch.setattr(cpu_durations, "CPUACCT", tmp_path / "no-cgroup")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    kinds = cpu_durations.jvm_threads(700)
    assert kinds == {"other": 1.0, "jit_c2": 32.0, "jit_c1": 9.0, "hail_driver": 21.0, "py4j": 15.0, "exited": 22.0}
    assert sum(kinds.values()) == 100.0
    out = tmp_path / "cpu.tsv"
    plugin = CpuDurations(str(out))
    plugin.pytest_collection_finish(None)
    plugin.pytest_unconfigure(None)
    rows = [line.split("\t")[2:] for line in (tmp_path / "cpu.tsv.jvm").read_text().splitlines()]
    assert ["700", "exited", "22.00"] in rows and len(rows) == 6
    assert summarise(str(out)).splitlines()[-1] == ("JVM threads 100.0 CPU-s: jit_c2 32.0, exited 22.0, hail_driver 21.0, "
                                                    "py4j 15.0, jit_c1 9.0, other 1.0")

    # A process line read with less than its threads' sum, or gone: no exited row, no negative.
    (proc / "700" / "stat").write_text((proc / "700" / "task" / "700" / "stat").read_text())
    assert "exited" not in cpu_durations.jvm_threads(700)
    (proc / "700" / "stat").unlink()
    assert cpu_durations.jvm_threads(700) == {k: v for k, v in kinds.items() if k != "exited"}
